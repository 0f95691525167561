//! One test per forwarding rule of the behaviour reference §1 (with docs/decisions.md §8): local
//! answers (400, 403, 483, 503, 505), SIP heartbeat, transports and received/rport, NAT
//! patch, loop detection, routing rules, single-entry mode.

mod forward_support;

use forward_support::*;
use switchboard_core::config::{LegPorts, RoutingRule};
use switchboard_core::forward::Leg;
use switchboard_core::node::Transport;
use switchboard_core::sip::HeaderName;

fn simple(method: &str, extra: &str) -> String {
    format!(
        "{method} sip:bob@10.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKx1\n\
         From: <sip:alice@1.2.3.4>;tag=a1\nTo: <sip:bob@10.0.0.1>\nCall-ID: call-{method}\n\
         CSeq: 1 {method}\n{extra}Content-Length: 0\n\n"
    )
}

#[test]
fn max_forwards_zero_gets_483_and_nothing_is_forwarded() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    let out = lb.client_sends(&simple("INVITE", "Max-Forwards: 0\n"));
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(status(&out[0]), Some(483));
    assert_eq!(out[0].to, addr(UA));
    // Missing → 70 added; CANCEL untouched.
    let out = lb.client_sends(&simple("MESSAGE", ""));
    assert_eq!(parse(forwarded(&out)).max_forwards().unwrap(), Some(70));
    let out = lb.client_sends(&simple("CANCEL", "Max-Forwards: 0\n"));
    assert_eq!(parse(forwarded(&out)).max_forwards().unwrap(), Some(0));
}

#[test]
fn no_node_gets_503_with_retry_after_and_ack_is_never_answered() {
    let mut lb = Lb::default();
    let out = lb.client_sends(&simple("INVITE", "Max-Forwards: 70\n"));
    assert_eq!(out.len(), 1);
    let m = parse(&out[0]);
    assert_eq!(m.status_code(), Some(503));
    assert_eq!(text(m.reason()), "Service Unavailable");
    assert_eq!(header(&m, "Retry-After").as_deref(), Some("5"));
    assert!(m.to().unwrap().tag().is_some());
    assert_eq!(
        values(&m, HeaderName::Via),
        vec!["SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKx1"]
    );
    assert!(lb
        .client_sends(&simple("ACK", "Max-Forwards: 70\n"))
        .is_empty());
}

#[test]
fn malformed_requests_get_400_or_505_and_garbage_is_counted() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    let no_call_id =
        "OPTIONS sip:bob@10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKq\n\
                      From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n";
    let out = lb.client_sends(no_call_id);
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), Some(400));
    let bad_version = simple("OPTIONS", "").replacen("SIP/2.0\n", "SIP/3.0\n", 1);
    let out = lb.client_sends(&bad_version);
    assert_eq!(status(&out[0]), Some(505));
    assert!(lb.client_sends("\u{1}garbage\n\n").is_empty());
    assert_eq!(lb.cluster.stats().rejected, 3);
    // Unsupported Request-URI scheme on an initial request.
    let out =
        lb.client_sends(&simple("INVITE", "").replacen("sip:bob@10.0.0.1:5060", "http://x", 1));
    assert_eq!(status(&out[0]), Some(416));
}

#[test]
fn scanners_are_not_balanced_but_answered_403() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    let out = lb.client_sends(&simple("INVITE", "User-Agent: friendly-scanner\n"));
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), Some(403));
    let out = lb.client_sends(
        &simple("REGISTER", "").replace("<sip:alice@1.2.3.4>", "\"SIPVicious\" <sip:100@1.2.3.4>"),
    );
    assert_eq!(status(&out[0]), Some(403));
}

fn heartbeat(method: &str) -> String {
    let body = crlf("udpPort=5090\ntcpPort=5090\nhostname=hb\nip=192.168.0.20\nsessionId=77\n");
    format!(
        "{method} sip:192.168.0.1:5065 SIP/2.0\nVia: SIP/2.0/UDP 192.168.0.20:5090;branch=z9hG4bKhb\n\
         Max-Forwards: 70\nFrom: <sip:hb@192.168.0.20>;tag=h\nTo: <sip:lb@192.168.0.1>\nCall-ID: hb-1\n\
         CSeq: 1 {method}\nMobicents-Heartbeat: 1\nContent-Length: {}\n\n{body}",
        body.len()
    )
}

#[test]
fn sip_heartbeat_registers_on_the_internal_leg_and_is_routed_on_the_external() {
    let mut lb = Lb::default();
    let out = lb.node_sends("192.168.0.20:5090", &heartbeat("OPTIONS"));
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), Some(200));
    assert_eq!(out[0].to, addr("192.168.0.20:5090"));
    assert_eq!(lb.cluster.registry().len(), 1);
    let restcomm = heartbeat("INFO").replace("Mobicents-Heartbeat", "Restcomm-Heartbeat");
    assert_eq!(
        status(&lb.node_sends("192.168.0.20:5090", &restcomm)[0]),
        Some(200)
    );
    assert_eq!(lb.cluster.registry().len(), 1);
    // On the external leg the same request is balanced like any other, not registered.
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    let out = lb.send(
        Leg::External,
        Transport::Udp,
        "192.168.0.20:5090",
        &heartbeat("OPTIONS"),
    );
    let t = forwarded(&out);
    assert_eq!(t.to, addr("192.168.0.10:5080"));
    assert_eq!(lb.cluster.registry().len(), 1);
}

#[test]
fn tcp_client_gets_received_and_rport_and_its_answer_uses_the_connection() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    let req = invite("tcp-call", "z9hG4bKt1", "sip:bob@10.0.0.1:5060")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let out = lb.send(Leg::External, Transport::Tcp, "1.2.3.4:40001", &req);
    let t = forwarded(&out);
    assert_eq!(t.transport, Transport::Tcp);
    let m = parse(t);
    assert_eq!(
        values(&m, HeaderName::Via)[2],
        "SIP/2.0/TCP 1.2.3.4:5070;branch=z9hG4bKt1;received=1.2.3.4;rport=40001"
    );
    assert!(values(&m, HeaderName::Via)[0].starts_with("SIP/2.0/TCP 192.168.0.1:5065;"));
    let ok = response_to(&m, 180, "Ringing", "n1", "");
    let out = lb.send(Leg::Internal, Transport::Tcp, "192.168.0.10:36000", &ok);
    let t = forwarded(&out);
    assert_eq!(t.to, addr("1.2.3.4:40001"));
    assert_eq!(t.transport, Transport::Tcp);
}

#[test]
fn udp_client_behind_nat_gets_received_and_filled_rport() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    let req = invite("nat-call", "z9hG4bKn1;rport", "sip:bob@10.0.0.1:5060");
    let out = lb.send(Leg::External, Transport::Udp, "5.6.7.8:1024", &req);
    let m = parse(forwarded(&out));
    assert_eq!(
        values(&m, HeaderName::Via)[2],
        "SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKn1;rport=1024;received=5.6.7.8"
    );
}

#[test]
fn public_ip_patch_changes_only_host_and_port_of_the_contact() {
    let mut c = config();
    c.sip.public_ip = Some("203.0.113.5".into());
    let mut lb = Lb::new(&c);
    lb.add_node("192.168.0.10", 5080, "0");
    let out = lb.client_sends(&invite("pub-1", "z9hG4bKp", "sip:bob@10.0.0.1:5060"));
    let inv = parse(forwarded(&out));
    let ok = response_to(
        &inv,
        200,
        "OK",
        "n1",
        "Contact: \"Bob\" <sip:bob@192.168.0.10:5080;transport=udp;ob>;expires=60\n",
    );
    let out = lb.node_sends("192.168.0.10:5080", &ok);
    let m = parse(forwarded(&out));
    assert_eq!(
        values(&m, HeaderName::Contact),
        vec!["\"Bob\" <sip:bob@203.0.113.5:5060;transport=udp;ob>;expires=60"]
    );
    assert_eq!(
        values(&m, HeaderName::RecordRoute)[1],
        "<sip:203.0.113.5:5060;transport=udp;lr;node_host=192.168.0.10;node_port=5080;version=0>"
    );
}

#[test]
fn a_node_request_addressed_to_the_balancer_itself_is_dropped() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    let req = "OPTIONS sip:10.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKl\n\
               Max-Forwards: 70\nFrom: <sip:n@192.168.0.10>;tag=1\nTo: <sip:lb@10.0.0.1>\nCall-ID: loop-1\n\
               CSeq: 1 OPTIONS\nContent-Length: 0\n\n";
    assert!(lb.node_sends("192.168.0.10:5080", req).is_empty());
    assert_eq!(lb.cluster.stats().rejected, 1);
}

#[test]
fn routing_rules_choose_private_addresses_for_matching_clients() {
    let mut c = config();
    c.sip.external.ip_load_balancer_addresses = vec!["198.51.100.1".into()];
    c.sip.external.ip_load_balancer_ports = LegPorts {
        udp: Some(5070),
        ..LegPorts::default()
    };
    c.sip.use_ip_load_balancer_address_in_via = true;
    c.sip.routing_rules_ipv4 = vec![RoutingRule {
        ip_pattern: regex::Regex::new(r"10\.0\.0\.\d+").unwrap(),
        patch: false,
    }];
    let mut lb = Lb::new(&c);
    lb.add_node("192.168.0.10", 5080, "0");
    let req = invite("rr-1", "z9hG4bKr", "sip:bob@10.0.0.1:5060");
    let public = parse(forwarded(&lb.client_sends(&req))).clone();
    assert!(values(&public, HeaderName::Via)[1].starts_with("SIP/2.0/UDP 198.51.100.1:5070;"));
    assert!(values(&public, HeaderName::RecordRoute)[1].starts_with("<sip:198.51.100.1:5070;"));
    let lan = lb.send(Leg::External, Transport::Udp, "10.0.0.99:5070", &req);
    let lan = parse(forwarded(&lan));
    assert!(values(&lan, HeaderName::Via)[1].starts_with("SIP/2.0/UDP 10.0.0.1:5060;"));
    assert!(values(&lan, HeaderName::RecordRoute)[1].starts_with("<sip:10.0.0.1:5060;"));
}

#[test]
fn single_entry_point_detects_node_requests_by_their_via() {
    let mut c = config();
    c.sip.internal.ports = LegPorts::default();
    let mut lb = Lb::new(&c);
    lb.add_node("10.0.0.50", 5080, "0");
    let out = lb.client_sends(&invite("se-1", "z9hG4bKs", "sip:bob@10.0.0.1:5060"));
    let t = forwarded(&out);
    assert_eq!(
        t.leg,
        Leg::External,
        "single entry point: everything leaves on the external leg"
    );
    assert_eq!(t.to, addr("10.0.0.50:5080"));
    let m = parse(t);
    assert_eq!(
        values(&m, HeaderName::Via)[..2],
        [
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsse-1zsd_0",
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsse-1_0"
        ]
    );
    // A BYE from the node on the same port is recognised by its Via and goes to the client.
    let later = lb.now.saturating_add(std::time::Duration::from_secs(5));
    lb.now = later;
    let bye = "BYE sip:alice@1.2.3.4:5070 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.50:5080;branch=z9hG4bKb\n\
               Max-Forwards: 70\nFrom: <sip:bob@x>;tag=n1\nTo: <sip:alice@1.2.3.4>;tag=a1\nCall-ID: se-1\n\
               CSeq: 1 BYE\nContent-Length: 0\n\n";
    let out = lb.send(Leg::External, Transport::Udp, "10.0.0.50:5080", bye);
    assert_eq!(forwarded(&out).to, addr(UA));
    let node = lb.cluster.registry().all_nodes().next().unwrap();
    assert_eq!(
        node.last_seen, later,
        "SIP traffic from a node refreshes its liveness"
    );
}
