//! Unit tests of the registry internals; scenario tests live in `core/tests/registry_*.rs`.

use super::*;
use std::time::Duration;

fn ann(ip: &str, port: u16, session: &str, version: &str) -> NodeAnnouncement {
    let props: BTreeMap<String, String> = [
        ("hostName", "n".to_owned()),
        ("ip", ip.to_owned()),
        ("udpPort", port.to_string()),
        ("tcpPort", port.to_string()),
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

#[test]
fn storage_stays_sorted_and_consistent() {
    let mut r = Registry::new(RegistrySettings::default(), ms(0));
    for i in 0..5u16 {
        r.start(ann("10.0.0.1", 5000 + i, &format!("s{i}"), "0"), ms(0));
    }
    r.stop("s2", ms(1)).unwrap();
    let ids: Vec<u64> = r
        .live_nodes(&Version::default(), false)
        .iter()
        .map(|n| n.id.0)
        .collect();
    assert_eq!(ids, vec![1, 2, 4, 5]);
    assert_eq!(r.len(), 4);
    assert_eq!(r.by_key.len(), 4);
    assert_eq!(r.health.len(), 4);
    assert!(r.node(NodeId(3)).is_none());
    assert_eq!(
        r.find_by_addr("10.0.0.1".parse().unwrap(), 5004)
            .map(|n| n.id),
        Some(NodeId(5))
    );
}

#[test]
fn deadline_is_one_microsecond_after_the_timeout() {
    let settings = RegistrySettings {
        node_timeout: Duration::from_millis(100),
        ..RegistrySettings::default()
    };
    let mut r = Registry::new(settings, ms(0));
    assert_eq!(r.next_deadline(), None);
    r.start(ann("10.0.0.1", 5060, "a", "0"), ms(10));
    assert_eq!(r.next_deadline(), Some(Timestamp::from_micros(110_001)));
    assert!(r.handle_timeout(ms(110)).is_empty());
    assert_eq!(r.handle_timeout(Timestamp::from_micros(110_001)).len(), 1);
}
