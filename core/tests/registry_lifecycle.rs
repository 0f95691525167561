//! Registry semantics (behaviour reference §3.3; docs/decisions.md §2): restarts, expiry,
//! graceful shutdown, versions, address families, extra server nodes.

use std::time::Duration;
use switchboard_core::node::{NodeId, Version};
use switchboard_core::registry::{
    ExtraServerNode, NodeAnnouncement, Registry, RegistryEvent, RegistrySettings, RemovalReason,
    StartOutcome,
};
use switchboard_core::time::Timestamp;

fn ann(ip: &str, port: u16, session: &str, version: &str) -> NodeAnnouncement {
    let props = [
        ("ip", ip.to_owned()),
        ("udpPort", port.to_string()),
        ("httpPort", (port + 3000).to_string()),
        ("sessionId", session.to_owned()),
        ("version", version.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    NodeAnnouncement::from_properties(props, None).unwrap()
}

fn ms(v: u64) -> Timestamp {
    Timestamp::from_millis(v)
}

fn events(r: &mut Registry) -> Vec<RegistryEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn v(s: &str) -> Version {
    Version(s.to_owned())
}

fn timeout_registry(timeout_ms: u64) -> Registry {
    let settings = RegistrySettings {
        node_timeout: Duration::from_millis(timeout_ms),
        ..RegistrySettings::default()
    };
    Registry::new(settings, Timestamp::ZERO)
}

#[test]
fn restart_within_timeout_replaces_and_old_expiry_never_removes_the_new_node() {
    let mut r = timeout_registry(8400);
    assert_eq!(
        r.start(ann("10.0.0.1", 5080, "100", "0"), ms(0)),
        StartOutcome::Added(NodeId(1))
    );
    events(&mut r);
    // Killed without stop, restarted at 3 s with a new session id.
    assert_eq!(
        r.start(ann("10.0.0.1", 5080, "200", "0"), ms(3000)),
        StartOutcome::Replaced {
            old: NodeId(1),
            new: NodeId(2)
        }
    );
    let ev = events(&mut r);
    assert!(
        matches!(&ev[0], RegistryEvent::NodeRemoved { node, reason: RemovalReason::Replaced { by: NodeId(2) } } if node.id == NodeId(1))
    );
    assert!(matches!(&ev[1], RegistryEvent::NodeAdded(n) if n.id == NodeId(2)));
    // When the old entry would have expired, the new one is untouched.
    r.heartbeat("200", ms(8000)).unwrap();
    assert!(r.handle_timeout(ms(8401)).is_empty());
    assert_eq!(
        r.live_nodes(&v("0"), false)
            .iter()
            .map(|n| n.id)
            .collect::<Vec<_>>(),
        vec![NodeId(2)]
    );
    assert_eq!(
        r.find_by_addr("10.0.0.1".parse().unwrap(), 5080)
            .map(|n| n.id),
        Some(NodeId(2))
    );
    assert!(r.heartbeat("100", ms(8500)).is_err());
}

#[test]
fn repeated_start_with_same_session_is_a_refresh() {
    let mut r = timeout_registry(8400);
    r.start(ann("10.0.0.1", 5080, "1", "0"), ms(0));
    events(&mut r);
    assert_eq!(
        r.start(ann("10.0.0.1", 5080, "1", "0"), ms(100)),
        StartOutcome::Refreshed(NodeId(1))
    );
    assert!(events(&mut r).is_empty());
    assert_eq!(r.node(NodeId(1)).unwrap().last_seen, ms(100));
}

#[test]
fn expiry_is_exact_at_the_boundary() {
    let mut r = timeout_registry(8400);
    r.start(ann("10.0.0.1", 5080, "1", "0"), ms(1000));
    assert_eq!(r.next_deadline(), Some(Timestamp::from_micros(9_400_001)));
    assert!(
        r.handle_timeout(ms(9400)).is_empty(),
        "alive exactly at last_seen + nodeTimeout"
    );
    events(&mut r);
    let gone = r.handle_timeout(Timestamp::from_micros(9_400_001));
    assert_eq!(
        gone.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![NodeId(1)]
    );
    assert!(matches!(
        &events(&mut r)[..],
        [RegistryEvent::NodeRemoved {
            reason: RemovalReason::Expired,
            ..
        }]
    ));
    assert_eq!(r.next_deadline(), None);
    assert!(r.is_empty());
}

#[test]
fn sip_traffic_keeps_a_node_alive() {
    let mut r = timeout_registry(1000);
    r.start(ann("10.0.0.1", 5080, "1", "0"), ms(0));
    // Any advertised port matches (here the http port).
    assert_eq!(
        r.touch_by_addr("10.0.0.1".parse().unwrap(), 8080, ms(900)),
        Some(NodeId(1))
    );
    assert_eq!(
        r.touch_by_addr("10.0.0.1".parse().unwrap(), 9999, ms(900)),
        None
    );
    assert_eq!(
        r.touch_by_addr("10.0.0.2".parse().unwrap(), 5080, ms(900)),
        None
    );
    assert!(r.handle_timeout(ms(1500)).is_empty());
    assert_eq!(r.handle_timeout(ms(1901)).len(), 1);
}

#[test]
fn graceful_and_stop() {
    let mut r = timeout_registry(8400);
    r.start(ann("10.0.0.1", 5080, "1", "0"), ms(0));
    r.start(ann("10.0.0.2", 5080, "2", "0"), ms(0));
    events(&mut r);
    assert_eq!(r.shutdown("1", ms(1)), Ok(1));
    let n = r.node(NodeId(1)).unwrap();
    assert!(n.graceful && !n.accepts_new_work());
    assert!(matches!(&events(&mut r)[..], [RegistryEvent::NodeGraceful(n)] if n.id == NodeId(1)));
    assert_eq!(r.shutdown("1", ms(2)), Ok(1));
    assert!(events(&mut r).is_empty(), "graceful is reported once");
    assert_eq!(
        r.live_nodes(&v("0"), false).len(),
        2,
        "graceful nodes stay for in-dialog traffic"
    );
    assert_eq!(r.stop("1", ms(3)), Ok(1));
    assert!(matches!(
        &events(&mut r)[..],
        [RegistryEvent::NodeRemoved {
            reason: RemovalReason::Stopped,
            ..
        }]
    ));
    assert_eq!(r.live_nodes(&v("0"), false).len(), 1);
    assert!(r.stop("1", ms(4)).is_err());
}

#[test]
fn latest_version_is_the_highest_ever_seen() {
    let mut r = timeout_registry(1000);
    assert_eq!(r.latest_version(), None);
    r.start(ann("10.0.0.1", 5080, "1", "9"), ms(0));
    r.start(ann("10.0.0.2", 5080, "2", "10"), ms(0));
    r.start(ann("10.0.0.3", 5080, "3", "2"), ms(0));
    assert_eq!(r.latest_version(), Some(&v("10")));
    assert_eq!(r.live_nodes(&v("9"), false).len(), 1);
    assert_eq!(r.live_nodes(&v("10"), false).len(), 1);
    assert!(r.live_nodes(&v("11"), false).is_empty());
    r.stop("2", ms(1)).unwrap();
    assert_eq!(r.latest_version(), Some(&v("10")), "never goes down");
    assert_eq!(
        r.versions().cloned().collect::<Vec<_>>(),
        vec![v("2"), v("9"), v("10")]
    );
}

#[test]
fn ipv4_and_ipv6_sets_are_separate() {
    let mut r = timeout_registry(1000);
    r.start(ann("10.0.0.1", 5080, "1", "0"), ms(0));
    r.start(ann("::1", 5080, "2", "0"), ms(0));
    r.start(ann("2001:db8::1", 5080, "3", "0"), ms(0));
    let v4: Vec<_> = r.live_nodes(&v("0"), false).iter().map(|n| n.id).collect();
    let v6: Vec<_> = r.live_nodes(&v("0"), true).iter().map(|n| n.id).collect();
    assert_eq!(v4, vec![NodeId(1)]);
    assert_eq!(v6, vec![NodeId(2), NodeId(3)]);
    assert_eq!(r.all_nodes().count(), 3);
    assert_eq!(
        r.find_by_addr("::1".parse().unwrap(), 5080).map(|n| n.id),
        Some(NodeId(2))
    );
}

#[test]
fn extra_server_nodes_are_permanent_in_performance_mode() {
    let settings = RegistrySettings {
        node_timeout: Duration::from_millis(100),
        extra_server_nodes: ExtraServerNode::parse_list("127.0.0.1:5070,10.0.0.9").unwrap(),
        performance_testing_mode: true,
        ..RegistrySettings::default()
    };
    let mut r = Registry::new(settings, Timestamp::ZERO);
    let nodes = r.live_nodes(&v("0"), false).to_vec();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].host_name, "ExtraServerNode0-127.0.0.1:5070");
    assert_eq!(
        (
            nodes[0].key.ports.udp,
            nodes[0].key.ports.tcp,
            nodes[0].key.ports.http
        ),
        (Some(5070), Some(5070), Some(8080))
    );
    assert_eq!(nodes[1].host_name, "ExtraServerNode1-10.0.0.9:5060");
    assert_eq!(nodes[1].key.ports.http, Some(8081));
    assert!(nodes.iter().all(|n| n.permanent));
    assert_eq!(events(&mut r).len(), 2);
    assert_eq!(r.next_deadline(), None);
    assert!(r.handle_timeout(ms(1_000_000_000)).is_empty());
    assert!(r.is_extra_server("10.0.0.9".parse().unwrap(), 5060));
    assert_eq!(r.latest_version(), Some(&v("0")));

    let off = RegistrySettings {
        performance_testing_mode: false,
        ..r.settings().clone()
    };
    assert!(Registry::new(off, Timestamp::ZERO).is_empty());
}
