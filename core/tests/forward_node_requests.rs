//! Requests from nodes (behaviour reference §1.9, §1.12), send failures (§1.16) and cluster
//! timers (§3.3 expiry propagated to the algorithms).

mod forward_support;

use forward_support::*;
use std::time::Duration;
use switchboard_core::forward::Leg;
use switchboard_core::registry::RegistryEvent;
use switchboard_core::sip::HeaderName;

#[test]
fn node_invite_with_a_route_hint_gets_stamped_record_routes_external_first() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    let inv = "INVITE sip:carol@5.6.7.8:5060 SIP/2.0\nVia: SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKo1\n\
               Route: <sip:lbint@192.168.0.1:5065;node_host=192.168.0.10;node_port=5080;transport=udp;lr>\n\
               Max-Forwards: 70\nFrom: <sip:bob@x>;tag=n1\nTo: <sip:carol@5.6.7.8>\nCall-ID: out-1\n\
               CSeq: 1 INVITE\nContent-Length: 0\n\n";
    let out = lb.node_sends("192.168.0.10:5080", inv);
    assert_eq!(status(&out[0]), Some(100), "100 Trying in both directions");
    assert_eq!(out[0].to, addr("192.168.0.10:5080"));
    let t = forwarded(&out);
    assert_eq!(t.leg, Leg::External);
    assert_eq!(t.to, addr("5.6.7.8:5060"));
    let m = parse(t);
    assert_eq!(m.count(HeaderName::Route), 0);
    assert_eq!(
        values(&m, HeaderName::RecordRoute),
        vec![
            "<sip:10.0.0.1:5060;transport=udp;lr;node_host=192.168.0.10;node_port=5080;version=0>",
            "<sip:192.168.0.1:5065;transport=udp;lr;node_host=192.168.0.10;node_port=5080;version=0>",
        ]
    );
    assert_eq!(
        values(&m, HeaderName::Via)[..2],
        [
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKo1out-1_0",
            "SIP/2.0/UDP 192.168.0.1:5065;branch=z9hG4bKo1out-1zsd_0"
        ]
    );
}

#[test]
fn send_failure_is_answered_503_with_reason_when_configured() {
    let mut c = config();
    c.sip.send_5xx_response = true;
    c.sip.send_5xx_reason = Some("Node unreachable".into());
    let mut lb = Lb::new(&c);
    lb.add_node("192.168.0.10", 5080, "0");
    let out = lb.client_sends(&invite("sf-1", "z9hG4bKf", "sip:bob@10.0.0.1:5060"));
    let failed = forwarded(&out).clone();
    let mut answer = Vec::new();
    let now = lb.now;
    lb.fwd
        .handle_send_failure(&mut lb.cluster, &failed, now, &mut answer);
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].to, addr(UA));
    assert_eq!(answer[0].leg, Leg::External);
    let m = parse(&answer[0]);
    assert_eq!(m.status_code(), Some(503));
    assert_eq!(
        values(&m, HeaderName::Via),
        vec!["SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKf"]
    );
    assert_eq!(
        header(&m, "Reason").as_deref(),
        Some("UDP;cause=503;text=\"Node unreachable\"")
    );
}

#[test]
fn expired_nodes_leave_the_algorithms_through_the_cluster_timer() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    while lb.cluster.poll_event().is_some() {}
    let deadline = lb.cluster.next_deadline().unwrap();
    assert!(deadline > lb.now);
    lb.cluster
        .handle_timeout(deadline.saturating_add(Duration::from_millis(1)));
    assert!(matches!(
        lb.cluster.poll_event(),
        Some(RegistryEvent::NodeRemoved { .. })
    ));
    let out = lb.client_sends(&invite("exp-1", "z9hG4bKz", "sip:bob@10.0.0.1:5060"));
    assert_eq!(status(&out[0]), Some(503));
}
