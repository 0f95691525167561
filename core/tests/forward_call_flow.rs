//! A whole call through the forwarder (behaviour reference §1.10, §1.12, §1.13, §1.17,
//! §1.21, §1.24): client INVITE → node with the exact Record-Routes, Vias and Max-Forwards of
//! the worked example, 200 OK back, ACK and BYE from the client along the Record-Route, BYE
//! from the node toward the client, CANCEL following its INVITE.

mod forward_support;

use forward_support::*;
use switchboard_core::forward::Leg;
use switchboard_core::node::Transport;
use switchboard_core::sip::HeaderName;

const NODE: &str = "192.168.0.10:5080";
const RR_INT: &str =
    "<sip:192.168.0.1:5065;transport=udp;lr;node_host=192.168.0.10;node_port=5080;version=0>";
const RR_EXT: &str =
    "<sip:10.0.0.1:5060;transport=udp;lr;node_host=192.168.0.10;node_port=5080;version=0>";

fn setup() -> Lb {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    lb
}

#[test]
fn client_invite_reaches_the_node_exactly_as_in_the_worked_example() {
    let mut lb = setup();
    let req = invite("7f3a9c01", "z9hG4bKabc", "sip:bob@10.0.0.1:5060");
    let out = lb.client_sends(&req);
    assert_eq!(out.len(), 2, "{out:#?}");
    // 100 Trying to the UA first (§1.11).
    let trying = &out[0];
    assert_eq!(status(trying), Some(100));
    assert_eq!(trying.to, addr(UA));
    assert_eq!(trying.leg, Leg::External);
    let t = &out[1];
    assert_eq!(t.leg, Leg::Internal);
    assert_eq!(t.transport, Transport::Udp);
    assert_eq!(t.to, addr(NODE));
    let m = parse(t);
    assert_eq!(
        text(m.request_uri_bytes().unwrap()),
        "sip:bob@192.168.0.10:5080"
    );
    assert_eq!(values(&m, HeaderName::RecordRoute), vec![RR_INT, RR_EXT]);
    assert_eq!(
        values(&m, HeaderName::Via),
        vec![
            "SIP/2.0/UDP 192.168.0.1:5065;branch=z9hG4bKabc7f3a9zsd_0",
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc7f3a9_0",
            "SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKabc",
        ]
    );
    assert_eq!(m.max_forwards().unwrap(), Some(69));
    assert_eq!(
        m.count(HeaderName::Route),
        0,
        "R-URI targeted the LB: rewritten, no Route"
    );
    // Body with content: the X-Sip-Balancer headers are added (§1.2).
    assert_eq!(
        header(&m, "X-Sip-Balancer-InitialRemoteAddr").as_deref(),
        Some("1.2.3.4")
    );
    assert_eq!(
        header(&m, "X-Sip-Balancer-InitialRemotePort").as_deref(),
        Some("5070")
    );
    // Untouched parts are byte-identical.
    assert_eq!(m.body(), crlf(SDP).as_bytes());
    for h in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::Contact,
    ] {
        let orig =
            switchboard_core::sip::SipMessage::parse(bytes::Bytes::from(crlf(&req))).unwrap();
        assert_eq!(m.get(h), orig.get(h), "{h:?}");
    }
    assert_eq!(lb.cluster.stats().requests_by_method["INVITE"], 1);
}

fn invite_at_node(lb: &mut Lb) -> switchboard_core::sip::SipMessage {
    let out = lb.client_sends(&invite("7f3a9c01", "z9hG4bKabc", "sip:bob@10.0.0.1:5060"));
    parse(forwarded(&out))
}

#[test]
fn ok_from_the_node_goes_to_the_client_without_the_lb_vias() {
    let mut lb = setup();
    let inv = invite_at_node(&mut lb);
    let ok = response_to(
        &inv,
        200,
        "OK",
        "n1",
        "Contact: <sip:bob@192.168.0.10:5080>\n",
    );
    let out = lb.node_sends(NODE, &ok);
    let t = forwarded(&out);
    assert_eq!(t.leg, Leg::External);
    assert_eq!(t.to, addr(UA));
    let m = parse(t);
    assert_eq!(m.status_code(), Some(200));
    assert_eq!(
        values(&m, HeaderName::Via),
        vec!["SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKabc"]
    );
    assert_eq!(values(&m, HeaderName::RecordRoute), vec![RR_INT, RR_EXT]);
    assert_eq!(lb.cluster.stats().responses_by_class["2XX"], 1);
}

#[test]
fn ack_and_bye_from_the_client_follow_the_record_route() {
    let mut lb = setup();
    let _ = invite_at_node(&mut lb);
    for (method, cseq) in [("ACK", "1 ACK"), ("BYE", "2 BYE")] {
        let req = format!(
            "{method} sip:bob@192.168.0.10:5080 SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bK{method}\n\
             Route: {RR_EXT}, {RR_INT}\nMax-Forwards: 70\nFrom: <sip:alice@1.2.3.4>;tag=a1\n\
             To: <sip:bob@10.0.0.1>;tag=n1\nCall-ID: 7f3a9c01\nCSeq: {cseq}\nContent-Length: 0\n\n"
        );
        let out = lb.client_sends(&req);
        assert_eq!(out.len(), 1, "no 100 Trying for {method}: {out:#?}");
        let t = &out[0];
        assert_eq!(t.to, addr(NODE), "{method}");
        let m = parse(t);
        assert_eq!(
            m.count(HeaderName::Route),
            0,
            "both LB Routes popped, R-URI is the node"
        );
        assert_eq!(
            text(m.request_uri_bytes().unwrap()),
            "sip:bob@192.168.0.10:5080"
        );
        assert_eq!(
            m.count(HeaderName::RecordRoute),
            0,
            "in-dialog requests are never record-routed"
        );
        assert_eq!(
            values(&m, HeaderName::Via)[0],
            format!("SIP/2.0/UDP 192.168.0.1:5065;branch=z9hG4bK{method}7f3a9zsd_0")
        );
    }
}

#[test]
fn bye_from_the_node_goes_to_the_client_and_its_answer_comes_back() {
    let mut lb = setup();
    let _ = invite_at_node(&mut lb);
    let bye = format!(
        "BYE sip:alice@1.2.3.4:5070 SIP/2.0\nVia: SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnode1\n\
         Route: {RR_INT}, {RR_EXT}\nMax-Forwards: 70\nFrom: <sip:bob@10.0.0.1>;tag=n1\n\
         To: <sip:alice@1.2.3.4>;tag=a1\nCall-ID: 7f3a9c01\nCSeq: 1 BYE\nContent-Length: 0\n\n"
    );
    let out = lb.node_sends(NODE, &bye);
    let t = forwarded(&out);
    assert_eq!(t.leg, Leg::External);
    assert_eq!(t.to, addr(UA));
    let m = parse(t);
    assert_eq!(
        values(&m, HeaderName::Via),
        vec![
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnode17f3a9_0",
            "SIP/2.0/UDP 192.168.0.1:5065;branch=z9hG4bKnode17f3a9zsd_0",
            "SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnode1",
        ]
    );
    assert_eq!(m.count(HeaderName::Route), 0);
    assert_eq!(header(&m, "X-Sip-Balancer-InitialRemoteAddr"), None);
    // The client's 200 OK goes back to the node, with the client's address added.
    let ok = response_to(&m, 200, "OK", "", "");
    let out = lb.client_sends(&ok);
    let t = forwarded(&out);
    assert_eq!(t.leg, Leg::Internal);
    assert_eq!(t.to, addr(NODE));
    let r = parse(t);
    assert_eq!(
        values(&r, HeaderName::Via),
        vec!["SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnode1"]
    );
    assert_eq!(
        header(&r, "X-Sip-Balancer-InitialRemoteAddr").as_deref(),
        Some("1.2.3.4")
    );
    assert_eq!(
        header(&r, "X-Sip-Balancer-InitialRemotePort").as_deref(),
        Some("5070")
    );
}

#[test]
fn cancel_follows_its_invite_with_the_same_branch_and_node() {
    let mut lb = setup();
    lb.add_node("192.168.0.11", 5080, "0");
    lb.add_node("192.168.0.12", 5080, "0");
    let inv = invite_at_node(&mut lb);
    let inv_out = lb.client_sends(&invite("7f3a9c01", "z9hG4bKabc", "sip:bob@10.0.0.1:5060"));
    let inv_t = forwarded(&inv_out).clone();
    let cancel =
        "CANCEL sip:bob@10.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKabc\n\
                  Max-Forwards: 70\nFrom: <sip:alice@1.2.3.4>;tag=a1\nTo: <sip:bob@10.0.0.1>\n\
                  Call-ID: 7f3a9c01\nCSeq: 1 CANCEL\nContent-Length: 0\n\n";
    let out = lb.client_sends(cancel);
    assert_eq!(out.len(), 1, "the LB never answers a CANCEL itself");
    let t = &out[0];
    assert_eq!(t.to, inv_t.to, "same node as the INVITE");
    let m = parse(t);
    assert_eq!(
        values(&m, HeaderName::Via)[..2],
        values(&inv, HeaderName::Via)[..2]
    );
    assert_eq!(
        m.max_forwards().unwrap(),
        Some(70),
        "CANCEL's Max-Forwards untouched"
    );
}

#[test]
fn register_gets_the_initial_remote_headers_and_no_record_route() {
    let mut lb = setup();
    let reg = "REGISTER sip:10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKreg\n\
               Max-Forwards: 70\nFrom: <sip:alice@10.0.0.1>;tag=r1\nTo: <sip:alice@10.0.0.1>\n\
               Call-ID: reg-1\nCSeq: 1 REGISTER\nContact: <sip:alice@1.2.3.4:5070>\nContent-Length: 0\n\n";
    let out = lb.client_sends(reg);
    assert_eq!(out.len(), 1, "no 100 Trying for REGISTER");
    let m = parse(&out[0]);
    assert_eq!(out[0].to, addr(NODE));
    assert_eq!(
        header(&m, "X-Sip-Balancer-InitialRemoteAddr").as_deref(),
        Some("1.2.3.4")
    );
    assert_eq!(
        header(&m, "X-Sip-Balancer-InitialRemotePort").as_deref(),
        Some("5070")
    );
    assert_eq!(m.count(HeaderName::RecordRoute), 0);
    assert_eq!(
        text(m.request_uri_bytes().unwrap()),
        "sip:192.168.0.10:5080"
    );
}
