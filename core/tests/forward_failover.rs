//! Node failures and affinity across the forwarder (behaviour reference §1.8, §1.17.6,
//! §1.19, §1.22; docs/decisions.md §8.7 consistent hashing): dead dialog owner, graceful owner,
//! response redirection, error-response detection, two balancers with one node list.

mod forward_support;

use forward_support::*;
use switchboard_core::config::AlgorithmKind;
use switchboard_core::registry::RegistryEvent;
use switchboard_core::sip::HeaderName;

fn bye_with_routes(call_id: &str, rr: &[String], ruri: &str) -> String {
    format!(
        "BYE {ruri} SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKbye\nRoute: {}\n\
         Max-Forwards: 70\nFrom: <sip:alice@1.2.3.4>;tag=a1\nTo: <sip:bob@10.0.0.1>;tag=n1\n\
         Call-ID: {call_id}\nCSeq: 2 BYE\nContent-Length: 0\n\n",
        rr.join(", ")
    )
}

/// Client INVITE; returns (node address, Record-Routes reversed as the client's Route set).
fn call(lb: &mut Lb, call_id: &str) -> (String, Vec<String>) {
    let out = lb.client_sends(&invite(call_id, "z9hG4bKi", "sip:bob@10.0.0.1:5060"));
    let t = forwarded(&out);
    let m = parse(t);
    let mut rr = values(&m, HeaderName::RecordRoute);
    rr.reverse();
    (format!("{:?}", t.to), rr)
}

#[test]
fn dead_dialog_owner_fails_over_within_its_version() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    lb.add_node("192.168.0.11", 5080, "0");
    let (owner, routes) = call(&mut lb, "fo-1");
    // A newer version joins: new calls go there, but the dialog stays in version 0.
    lb.add_node("192.168.0.30", 5080, "1");
    let owner_ip = if owner.contains("192.168.0.10") {
        "192.168.0.10"
    } else {
        "192.168.0.11"
    };
    let other = if owner_ip == "192.168.0.10" {
        "192.168.0.11:5080"
    } else {
        "192.168.0.10:5080"
    };
    let now = lb.now;
    let session = format!("s-{owner_ip}-5080");
    lb.cluster
        .update_registry(now, |r| r.stop(&session, now))
        .unwrap();
    let removed = std::iter::from_fn(|| lb.cluster.poll_event())
        .any(|e| matches!(e, RegistryEvent::NodeRemoved { .. }));
    assert!(removed, "the cluster queues registry events for logging");
    let out = lb.client_sends(&bye_with_routes(
        "fo-1",
        &routes,
        &format!("sip:bob@{owner_ip}:5080"),
    ));
    let t = forwarded(&out);
    assert_eq!(
        t.to,
        addr(other),
        "BYE goes to the live node of the same version"
    );
    let m = parse(t);
    assert_eq!(
        values(&m, HeaderName::Route),
        vec![format!(
            "<sip:{}:5080;transport=udp;lr>",
            &other[..other.len() - 5]
        )],
        "a Route to the new node is pushed; the R-URI keeps the dead node's Contact"
    );
    assert!(values(&m, HeaderName::Via)[0].ends_with("zsd_0"));
    // New calls go to the latest version.
    let (fresh, _) = call(&mut lb, "fo-2");
    assert!(fresh.contains("192.168.0.30"), "{fresh}");
}

#[test]
fn graceful_node_keeps_its_dialog_but_gets_no_new_call() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    let (_, routes) = call(&mut lb, "gr-1");
    lb.add_node("192.168.0.11", 5080, "0");
    let now = lb.now;
    lb.cluster
        .update_registry(now, |r| r.shutdown("s-192.168.0.10-5080", now))
        .unwrap();
    let out = lb.client_sends(&bye_with_routes(
        "gr-1",
        &routes,
        "sip:bob@192.168.0.10:5080",
    ));
    assert_eq!(forwarded(&out).to, addr("192.168.0.10:5080"));
    for i in 0..5 {
        let (node, _) = call(&mut lb, &format!("gr-new-{i}"));
        assert!(node.contains("192.168.0.11"), "{node}");
    }
}

#[test]
fn a_response_toward_a_dead_node_is_redirected_to_a_live_node() {
    let mut lb = Lb::default();
    lb.add_node("192.168.0.10", 5080, "0");
    let bye =
        "BYE sip:alice@1.2.3.4:5070 SIP/2.0\nVia: SIP/2.0/UDP 192.168.0.10:5080;branch=z9hG4bKnb\n\
               Max-Forwards: 70\nFrom: <sip:bob@10.0.0.1>;tag=n1\nTo: <sip:alice@1.2.3.4>;tag=a1\n\
               Call-ID: rd-1\nCSeq: 1 BYE\nContent-Length: 0\n\n";
    let out = lb.node_sends("192.168.0.10:5080", bye);
    let at_client = parse(forwarded(&out));
    lb.add_node("192.168.0.11", 5080, "0");
    let now = lb.now;
    lb.cluster
        .update_registry(now, |r| r.stop("s-192.168.0.10-5080", now))
        .unwrap();
    let ok = response_to(&at_client, 200, "OK", "", "");
    let out = lb.client_sends(&ok);
    let t = forwarded(&out);
    assert_eq!(t.to, addr("192.168.0.11:5080"));
    let m = parse(t);
    assert_eq!(
        values(&m, HeaderName::Via),
        vec!["SIP/2.0/UDP 192.168.0.11:5080;branch=z9hG4bKnb"]
    );
}

#[test]
fn error_responses_mark_a_node_bad_after_the_threshold() {
    let mut c = config();
    c.sip.max_number_responses_with_error = 2;
    let mut lb = Lb::new(&c);
    lb.add_node("192.168.0.10", 5080, "0");
    lb.add_node("192.168.0.11", 5080, "0");
    let mut bad_seen = false;
    for i in 0..3 {
        let out = lb.client_sends(&invite(
            &format!("err-{i}"),
            "z9hG4bKe",
            "sip:bob@10.0.0.1:5060",
        ));
        let t = forwarded(&out).clone();
        let inv = parse(&t);
        let src = match &t.to {
            switchboard_core::forward::Destination::Addr(a) => a.to_string(),
            other => panic!("{other:?}"),
        };
        // Both nodes answer 503; whichever crosses the threshold first goes bad.
        let out = lb.node_sends(
            &src,
            &response_to(&inv, 503, "Service Unavailable", "x", ""),
        );
        assert_eq!(status(forwarded(&out)), Some(503));
        bad_seen |= std::iter::from_fn(|| lb.cluster.poll_event())
            .any(|e| matches!(e, RegistryEvent::NodeBad { .. }));
    }
    // Force one node over the threshold.
    for _ in 0..3 {
        let out = lb.client_sends(&invite("err-x", "z9hG4bKe", "sip:bob@10.0.0.1:5060"));
        let t = forwarded(&out).clone();
        let inv = parse(&t);
        let src = match &t.to {
            switchboard_core::forward::Destination::Addr(a) => a.to_string(),
            other => panic!("{other:?}"),
        };
        let _ = lb.node_sends(
            &src,
            &response_to(&inv, 503, "Service Unavailable", "x", ""),
        );
        bad_seen |= std::iter::from_fn(|| lb.cluster.poll_event())
            .any(|e| matches!(e, RegistryEvent::NodeBad { .. }));
    }
    assert!(bad_seen);
    let bad = lb
        .cluster
        .registry()
        .all_nodes()
        .find(|n| n.bad)
        .unwrap()
        .key
        .ip
        .to_string();
    for i in 0..5 {
        let (node, _) = call(&mut lb, &format!("after-{i}"));
        assert!(!node.contains(&bad), "a bad node gets no new call: {node}");
    }
}

#[test]
fn two_balancers_route_every_message_of_a_call_to_the_same_node() {
    for kind in [
        AlgorithmKind::HeaderConsistentHash,
        AlgorithmKind::PureConsistentHash,
    ] {
        let mut c = config();
        c.sip.algorithm.kind = kind;
        let mut a = Lb::new(&c);
        let mut b = Lb::new(&c);
        for lb in [&mut a, &mut b] {
            for ip in [
                "192.168.0.10",
                "192.168.0.11",
                "192.168.0.12",
                "192.168.0.13",
            ] {
                lb.add_node(ip, 5080, "0");
            }
        }
        let mut used = std::collections::BTreeSet::new();
        for i in 0..20 {
            let id = format!("hash-call-{i}");
            let (na, _) = call(&mut a, &id);
            let (nb, _) = call(&mut b, &id);
            assert_eq!(na, nb, "{kind:?} {id}");
            // An ACK for a non-2xx carries no Route: it follows the hash on either balancer.
            let ack = format!(
                "ACK sip:bob@10.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bKi\n\
                 Max-Forwards: 70\nFrom: <sip:alice@1.2.3.4>;tag=a1\nTo: <sip:bob@10.0.0.1>;tag=x\n\
                 Call-ID: {id}\nCSeq: 1 ACK\nContent-Length: 0\n\n"
            );
            for lb in [&mut a, &mut b] {
                let out = lb.client_sends(&ack);
                assert_eq!(format!("{:?}", forwarded(&out).to), na, "{kind:?} ACK {id}");
            }
            used.insert(na);
        }
        assert!(used.len() > 1, "calls spread over the nodes");
    }
}
