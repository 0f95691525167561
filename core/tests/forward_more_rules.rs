//! Forwarding rules of the behaviour reference §1 without a test elsewhere, configured
//! through the configuration XML: `matchingHostnameForRoute`/`isFilterSubdomain` (§1.6.1),
//! the Contact `transport` parameter with `terminateTLSTraffic`/`internalTransport` (§1.15),
//! `isUseWithNexmo` (§1.15), the active health check (§1.20) and explicit addressing of a
//! live node through a Route (§1.10-B.1).

mod forward_support;

use forward_support::*;
use switchboard_core::config::Config;
use switchboard_core::forward::Leg;
use switchboard_core::node::Transport;
use switchboard_core::sip::{HeaderName, SipMessage};
use switchboard_core::time::Timestamp;

const NODE_A: &str = "192.168.0.10:5080";
const NODE_B: &str = "192.168.0.11:5080";

/// A two-leg balancer (external 10.0.0.1, internal 192.168.0.1, UDP/TCP 5060 and 5065),
/// Call-ID affinity, with `sip_extra` inside `<sip>`, `ext_extra` inside `<sip><external>`
/// and `ssl` as the `<ssl>` section.
fn xml_config(sip_extra: &str, ext_extra: &str, ssl: &str) -> Config {
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<load-balancer-properties>
  <common>
    <host>127.0.0.1</host>
    <nodeTimeout>8400</nodeTimeout>
  </common>
  <sip>
    <algorithm>
      <algorithmClass>org.mobicents.tools.sip.balancer.CallIDAffinityBalancerAlgorithm</algorithmClass>
    </algorithm>
    <external>
      <host>10.0.0.1</host>
      <udpPort>5060</udpPort>
      <tcpPort>5060</tcpPort>
      {ext_extra}
    </external>
    <internal>
      <host>192.168.0.1</host>
      <udpPort>5065</udpPort>
      <tcpPort>5065</tcpPort>
    </internal>
    {sip_extra}
  </sip>
  {ssl}
</load-balancer-properties>
"#
    );
    match Config::from_xml(&xml) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("configuration refused:\n{e}\n{xml}"),
    }
}

fn lb_with(sip_extra: &str) -> Lb {
    Lb::new(&xml_config(sip_extra, "", ""))
}

fn orig(text: &str) -> SipMessage {
    SipMessage::parse(bytes::Bytes::from(crlf(text))).unwrap()
}

fn ruri(m: &SipMessage) -> String {
    text(m.request_uri_bytes().unwrap())
}

/// A client request with the given Request-URI, Route headers and Contact.
fn client_req(method: &str, call_id: &str, ruri: &str, routes: &[&str], contact: &str) -> String {
    let mut s =
        format!("{method} {ruri} SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bK{call_id}\n");
    for r in routes {
        s.push_str(&format!("Route: {r}\n"));
    }
    s.push_str(&format!(
        "Max-Forwards: 70\nFrom: <sip:alice@1.2.3.4>;tag=a1\nTo: <sip:bob@restcomm.com>\n\
         Call-ID: {call_id}\nCSeq: 1 {method}\n"
    ));
    if !contact.is_empty() {
        s.push_str(&format!("Contact: {contact}\n"));
    }
    s.push_str("Content-Length: 0\n\n");
    s
}

// §1.6 step 1 ------------------------------------------------------------------------------

#[test]
fn matching_hostname_for_route_pops_the_service_name_route() {
    // (matchingHostnameForRoute, isFilterSubdomain, top Route host, popped?)
    let rows: [(Option<&str>, bool, &str, bool); 8] = [
        (Some("restcomm.com"), false, "restcomm.com", true),
        (Some("restcomm.com"), false, "RestComm.COM", true),
        (Some("restcomm.com"), false, "x.restcomm.com", false),
        (Some("restcomm.com"), true, "x.restcomm.com", true),
        (Some("restcomm.com"), true, "a.b.restcomm.com", true),
        (Some("restcomm.com"), true, "restcomm.com", false),
        (Some("restcomm.com"), true, "xrestcomm.com", false),
        (None, false, "restcomm.com", false),
    ];
    for (name, subdomain, host, popped) in rows {
        let mut sip = format!("<isFilterSubdomain>{subdomain}</isFilterSubdomain>");
        if let Some(n) = name {
            sip.push_str(&format!(
                "<matchingHostnameForRoute>{n}</matchingHostnameForRoute>"
            ));
        }
        let mut lb = lb_with(&sip);
        lb.add_node("192.168.0.10", 5080, "0");
        let route = format!("<sip:{host};lr>");
        let req = client_req(
            "MESSAGE",
            "mh-1",
            "sip:bob@10.0.0.1:5060",
            &[&route],
            "<sip:alice@1.2.3.4:5070>",
        );
        let out = lb.client_sends(&req);
        let t = forwarded(&out);
        let row = format!("{name:?} subdomain={subdomain} host={host}");
        assert_eq!(t.to, addr(NODE_A), "{row}");
        let m = parse(t);
        if popped {
            // The service-name Route is gone; the R-URI targeted the LB → rewritten, no Route.
            assert_eq!(values(&m, HeaderName::Route), Vec::<String>::new(), "{row}");
            assert_eq!(ruri(&m), "sip:bob@192.168.0.10:5080", "{row}");
        } else {
            // The Route stays (it is neither the LB nor a node): a Route to the node is
            // pushed on top of it and the R-URI is unchanged.
            assert_eq!(
                values(&m, HeaderName::Route),
                vec!["<sip:192.168.0.10:5080;transport=udp;lr>".to_owned(), route],
                "{row}"
            );
            assert_eq!(ruri(&m), "sip:bob@10.0.0.1:5060", "{row}");
        }
    }
}

#[test]
fn matching_hostname_route_is_popped_before_the_balancer_routes() {
    // A service-name Route followed by the balancer's own Routes of a dialog: all three are
    // popped and the node hint of the balancer's Route is honoured.
    let mut lb = lb_with("<matchingHostnameForRoute>restcomm.com</matchingHostnameForRoute>");
    lb.add_node("192.168.0.10", 5080, "0");
    lb.add_node("192.168.0.11", 5080, "0");
    let routes = [
        "<sip:restcomm.com;lr>",
        "<sip:10.0.0.1:5060;transport=udp;lr;node_host=192.168.0.11;node_port=5080;version=0>",
        "<sip:192.168.0.1:5065;transport=udp;lr;node_host=192.168.0.11;node_port=5080;version=0>",
    ];
    let req = client_req("BYE", "mh-2", "sip:bob@192.168.0.11:5080", &routes, "").replace(
        "To: <sip:bob@restcomm.com>",
        "To: <sip:bob@restcomm.com>;tag=n1",
    );
    let out = lb.client_sends(&req);
    let t = forwarded(&out);
    assert_eq!(t.to, addr(NODE_B));
    let m = parse(t);
    assert_eq!(values(&m, HeaderName::Route), Vec::<String>::new());
    assert_eq!(ruri(&m), "sip:bob@192.168.0.11:5080");
}

// §1.15 first bullet -----------------------------------------------------------------------

#[test]
fn contact_gets_the_client_transport_only_with_tls_termination_or_internal_transport() {
    let tls_ssl = "<ssl><terminateTLSTraffic>true</terminateTLSTraffic>\
                   <keyStore>/nonexistent/lb.pem</keyStore></ssl>";
    let tls_port = "<tlsPort>5061</tlsPort>";
    // (sip extra, external extra, ssl, client transport, Contact in, Contact out,
    //  transport toward the node)
    let rows: [(&str, &str, &str, Transport, &str, &str, Transport); 7] = [
        (
            "",
            "",
            "",
            Transport::Udp,
            "\"Alice\" <sip:alice@1.2.3.4:5070;ob>;expires=60",
            "\"Alice\" <sip:alice@1.2.3.4:5070;ob>;expires=60",
            Transport::Udp,
        ),
        (
            "",
            "",
            "",
            Transport::Tcp,
            "<sip:alice@1.2.3.4:5070>",
            "<sip:alice@1.2.3.4:5070>",
            Transport::Tcp,
        ),
        (
            "<internalTransport>TCP</internalTransport>",
            "",
            "",
            Transport::Udp,
            "<sip:alice@1.2.3.4:5070>",
            "<sip:alice@1.2.3.4:5070;transport=udp>",
            Transport::Tcp,
        ),
        (
            "<internalTransport>TCP</internalTransport>",
            "",
            "",
            Transport::Udp,
            "\"Alice\" <sip:alice@1.2.3.4:5070;ob>;expires=60",
            "\"Alice\" <sip:alice@1.2.3.4:5070;ob;transport=udp>;expires=60",
            Transport::Tcp,
        ),
        (
            "<internalTransport>UDP</internalTransport>",
            "",
            "",
            Transport::Tcp,
            "<sip:alice@1.2.3.4:5070;transport=udp>",
            "<sip:alice@1.2.3.4:5070;transport=tcp>",
            Transport::Udp,
        ),
        (
            "",
            tls_port,
            tls_ssl,
            Transport::Tls,
            "<sip:alice@1.2.3.4:5070>",
            "<sip:alice@1.2.3.4:5070;transport=tls>",
            Transport::Tcp,
        ),
        (
            "",
            tls_port,
            tls_ssl,
            Transport::Udp,
            "<sip:alice@1.2.3.4:5070>",
            "<sip:alice@1.2.3.4:5070;transport=udp>",
            Transport::Udp,
        ),
    ];
    for (sip, ext, ssl, client_t, contact_in, contact_out, inner) in rows {
        let mut lb = Lb::new(&xml_config(sip, ext, ssl));
        lb.add_node("192.168.0.10", 5080, "0");
        let req = client_req("INVITE", "ct-1", "sip:bob@10.0.0.1:5060", &[], contact_in)
            .replace("SIP/2.0/UDP", &format!("SIP/2.0/{}", client_t.as_str()));
        let out = lb.send(Leg::External, client_t, "1.2.3.4:40001", &req);
        let t = forwarded(&out);
        let row = format!("{sip}{ssl} client={client_t:?} contact={contact_in}");
        assert_eq!(t.transport, inner, "{row}");
        assert_eq!(t.to, addr(NODE_A), "{row}");
        let m = parse(t);
        assert_eq!(values(&m, HeaderName::Contact), vec![contact_out], "{row}");
        if contact_in == contact_out {
            // Untouched: the whole header line is byte-identical.
            assert_eq!(
                m.get(HeaderName::Contact),
                orig(&req).get(HeaderName::Contact),
                "{row}"
            );
        }
        // Nothing else of the client's headers changes.
        for h in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            assert_eq!(m.get(h), orig(&req).get(h), "{row} {h:?}");
        }
    }
}

// §1.15 last bullet ------------------------------------------------------------------------

/// A BYE from node A to the client, as forwarded by the balancer.
fn node_bye_at_client(lb: &mut Lb) -> SipMessage {
    let bye = "BYE sip:alice@1.2.3.4:5070 SIP/2.0\n\
               Via: SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnb;rport\n\
               Max-Forwards: 70\nFrom: <sip:bob@10.0.0.1>;tag=n1\nTo: <sip:alice@1.2.3.4>;tag=a1\n\
               Call-ID: nx-1\nCSeq: 1 BYE\nContent-Length: 0\n\n";
    let out = lb.node_sends(NODE_A, bye);
    parse(forwarded(&out))
}

#[test]
fn use_with_nexmo_strips_received_and_rport_on_responses_toward_nodes() {
    // (isUseWithNexmo, node Via as echoed by the far end, node Via forwarded, destination)
    let rows: [(bool, &str, &str, &str); 4] = [
        (
            true,
            "SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnb;rport=5080;received=192.168.0.10",
            "SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnb",
            NODE_A,
        ),
        (
            true,
            "SIP/2.0/UDP 192.168.0.10:5080;received=192.168.0.10;branch=z9hG4bKnb;rport=5080",
            "SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnb",
            NODE_A,
        ),
        (
            false,
            "SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnb;rport=5080;received=192.168.0.10",
            "SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnb;rport=5080;received=192.168.0.10",
            NODE_A,
        ),
        (
            false,
            "SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnb;rport=5080",
            "SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnb;rport=5080",
            NODE_A,
        ),
    ];
    for (nexmo, via_in, via_out, dest) in rows {
        let mut lb = lb_with(&format!("<isUseWithNexmo>{nexmo}</isUseWithNexmo>"));
        lb.add_node("192.168.0.10", 5080, "0");
        let at_client = node_bye_at_client(&mut lb);
        let vias = values(&at_client, HeaderName::Via);
        assert_eq!(vias.len(), 3);
        assert_eq!(
            vias[2], "SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnb;rport=5080",
            "the balancer fills the node's empty rport"
        );
        let ok = format!(
            "SIP/2.0 200 OK\nVia: {}\nVia: {}\nVia: {via_in}\n\
             From: <sip:bob@10.0.0.1>;tag=n1\nTo: <sip:alice@1.2.3.4>;tag=a1\n\
             Call-ID: nx-1\nCSeq: 1 BYE\nContent-Length: 0\n\n",
            vias[0], vias[1]
        );
        let out = lb.client_sends(&ok);
        let t = forwarded(&out);
        let row = format!("nexmo={nexmo} via={via_in}");
        assert_eq!(t.leg, Leg::Internal, "{row}");
        assert_eq!(t.to, addr(dest), "{row}");
        let m = parse(t);
        assert_eq!(values(&m, HeaderName::Via), vec![via_out], "{row}");
    }
    // Responses from nodes toward the client keep their Via parameters whatever the flag.
    let mut lb = lb_with("<isUseWithNexmo>true</isUseWithNexmo>");
    lb.add_node("192.168.0.10", 5080, "0");
    let req = client_req(
        "MESSAGE",
        "nx-2",
        "sip:bob@10.0.0.1:5060",
        &[],
        "<sip:alice@1.2.3.4:5070>",
    )
    .replace("z9hG4bKnx-2", "z9hG4bKnx-2;rport");
    let out = lb.send(Leg::External, Transport::Udp, "5.6.7.8:1024", &req);
    let inv = parse(forwarded(&out));
    let ok = response_to(&inv, 200, "OK", "n1", "");
    let out = lb.node_sends(NODE_A, &ok);
    let t = forwarded(&out);
    assert_eq!(t.to, addr("5.6.7.8:1024"));
    assert_eq!(
        values(&parse(t), HeaderName::Via),
        vec!["SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKnx-2;rport=1024;received=5.6.7.8"]
    );
}

// §1.20 ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Step {
    /// A MESSAGE addressed to node A (Request-URI = A), at this time (ms).
    Req(u64),
    /// An ACK addressed to node A.
    Ack(u64),
    /// Node A answers the last request sent to it, at this time.
    Answer(u64),
}

fn is_bad(lb: &Lb, ip: &str) -> bool {
    lb.cluster
        .registry()
        .all_nodes()
        .find(|n| n.key.ip.to_string() == ip)
        .unwrap()
        .bad
}

#[test]
fn active_health_check_marks_a_silent_node_bad() {
    use Step::*;
    // Registration at t=1000; maxRequestNumberWithoutResponse=2, maxResponseTime=1000 ms.
    let rows: Vec<(&str, Vec<Step>, bool)> = vec![
        (
            "3 requests, silent 1500 ms",
            vec![Req(1000), Req(1000), Req(2500)],
            true,
        ),
        ("2 requests only", vec![Req(1000), Req(2500)], false),
        (
            "3 requests within 1000 ms",
            vec![Req(1000), Req(1500), Req(2000)],
            false,
        ),
        (
            "silent exactly 1000 ms",
            vec![Req(1000), Req(1000), Req(2000)],
            false,
        ),
        (
            "ACKs are not counted",
            vec![
                Req(1000),
                Req(1000),
                Ack(2500),
                Ack(2500),
                Ack(2500),
                Ack(2500),
            ],
            false,
        ),
        (
            "an answer resets the counter and the clock",
            vec![
                Req(1000),
                Req(1000),
                Answer(2400),
                Req(2500),
                Req(2500),
                Req(3000),
            ],
            false,
        ),
        (
            "silent again after the answer",
            vec![Req(1000), Answer(1200), Req(1300), Req(1300), Req(2300)],
            true,
        ),
    ];
    for (name, steps, bad) in rows {
        let mut lb = lb_with(
            "<maxRequestNumberWithoutResponse>2</maxRequestNumberWithoutResponse>\
             <maxResponseTime>1000</maxResponseTime>",
        );
        lb.add_node("192.168.0.10", 5080, "0");
        lb.add_node("192.168.0.11", 5080, "0");
        let mut last: Option<SipMessage> = None;
        for (i, step) in steps.iter().enumerate() {
            let (at, method) = match *step {
                Req(at) => (at, "MESSAGE"),
                Ack(at) => (at, "ACK"),
                Answer(at) => {
                    lb.now = Timestamp::from_millis(at);
                    let req = last.as_ref().expect("a request to answer");
                    let ok = response_to(req, 200, "OK", "n1", "");
                    let out = lb.node_sends(NODE_A, &ok);
                    assert_eq!(forwarded(&out).to, addr(UA), "{name}");
                    continue;
                }
            };
            lb.now = Timestamp::from_millis(at);
            let req = client_req(
                method,
                &format!("hc-{i}"),
                "sip:bob@192.168.0.10:5080",
                &[],
                "",
            );
            let out = lb.client_sends(&req);
            let t = forwarded(&out);
            assert_eq!(t.to, addr(NODE_A), "{name}: step {i} reaches A");
            last = Some(parse(t));
        }
        assert_eq!(is_bad(&lb, "192.168.0.10"), bad, "{name}");
        assert!(!is_bad(&lb, "192.168.0.11"), "{name}");
        // New calls (Request-URI = the balancer) avoid a bad node.
        let mut to_a = 0;
        for c in 0..8 {
            let out = lb.client_sends(&invite(
                &format!("hc-new-{c}"),
                "z9hG4bKn",
                "sip:bob@10.0.0.1:5060",
            ));
            if forwarded(&out).to == addr(NODE_A) {
                to_a += 1;
            }
        }
        if bad {
            assert_eq!(to_a, 0, "{name}: a bad node gets no new call");
        } else {
            assert!(to_a > 0, "{name}: a healthy node still gets new calls");
        }
    }
}

#[test]
fn health_check_is_off_unless_both_keys_are_set() {
    for sip in [
        "",
        "<maxRequestNumberWithoutResponse>2</maxRequestNumberWithoutResponse>",
        "<maxResponseTime>1000</maxResponseTime>",
    ] {
        let mut lb = lb_with(sip);
        lb.add_node("192.168.0.10", 5080, "0");
        for i in 0..6 {
            lb.now = Timestamp::from_millis(1000 + 1000 * i);
            let out = lb.client_sends(&client_req(
                "MESSAGE",
                &format!("off-{i}"),
                "sip:bob@10.0.0.1:5060",
                &[],
                "",
            ));
            assert_eq!(forwarded(&out).to, addr(NODE_A), "{sip}");
        }
        assert!(!is_bad(&lb, "192.168.0.10"), "{sip}");
    }
}

// §1.10-B.1 --------------------------------------------------------------------------------

#[test]
fn a_route_naming_a_live_node_sends_the_request_to_that_node() {
    let mut lb = lb_with("");
    lb.add_node_props("192.168.0.10", 5080, "0", &[("tcpPort", "5090")]);
    lb.add_node_props(
        "192.168.0.11",
        5080,
        "0",
        &[("tcpPort", "5091"), ("wsPort", "5092")],
    );
    // (top Route, expected destination)
    let rows: [(&str, &str); 6] = [
        ("<sip:192.168.0.10:5080;lr>", NODE_A),
        ("<sip:192.168.0.11:5080;lr>", NODE_B),
        ("<sip:192.168.0.10:5090;transport=tcp;lr>", NODE_A),
        ("<sip:192.168.0.11:5091;lr>", NODE_B),
        ("<sip:192.168.0.11:5092;transport=ws;lr>", NODE_B),
        ("<sip:app@192.168.0.10:5090;lr>", NODE_A),
    ];
    // Several calls per target, so the algorithm's own choice would sometimes differ.
    for round in 0..4 {
        for (i, (route, dest)) in rows.iter().enumerate() {
            let call_id = format!("ex-{round}-{i}");
            let req = invite(&call_id, "z9hG4bKex", "sip:bob@10.0.0.1:5060").replacen(
                "Max-Forwards: 70\n",
                &format!("Route: {route}\nMax-Forwards: 70\n"),
                1,
            );
            let out = lb.client_sends(&req);
            let t = forwarded(&out);
            assert_eq!(t.to, addr(dest), "{route}");
            assert_eq!(t.transport, Transport::Udp, "{route}");
            let m = parse(t);
            // Initial request: the Route and the Request-URI are left as they are.
            assert_eq!(
                values(&m, HeaderName::Route),
                vec![route.to_string()],
                "{route}"
            );
            assert_eq!(ruri(&m), "sip:bob@10.0.0.1:5060", "{route}");
            let ip = &dest[..dest.len() - 5];
            assert_eq!(
                values(&m, HeaderName::RecordRoute),
                vec![
                    format!("<sip:192.168.0.1:5065;transport=udp;lr;node_host={ip};node_port=5080;version=0>"),
                    format!("<sip:10.0.0.1:5060;transport=udp;lr;node_host={ip};node_port=5080;version=0>"),
                ],
                "{route}"
            );
        }
    }
    // A Route naming no node is not explicit addressing: the algorithm chooses and a Route
    // to its choice is pushed on top.
    let mut seen = std::collections::BTreeSet::new();
    for c in 0..8 {
        let req = invite(
            &format!("ex-none-{c}"),
            "z9hG4bKex",
            "sip:bob@10.0.0.1:5060",
        )
        .replacen(
            "Max-Forwards: 70\n",
            "Route: <sip:192.168.0.99:5080;lr>\nMax-Forwards: 70\n",
            1,
        );
        let out = lb.client_sends(&req);
        let t = forwarded(&out);
        let m = parse(t);
        let routes = values(&m, HeaderName::Route);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[1], "<sip:192.168.0.99:5080;lr>");
        seen.insert(format!("{:?}", t.to));
    }
    assert_eq!(
        seen.len(),
        2,
        "the algorithm spreads the unaddressed calls: {seen:?}"
    );
}
