//! SIP OPTIONS/INFO heartbeat bodies (behaviour reference §3.5).

use std::net::SocketAddr;
use switchboard_core::heartbeat::{handle_sip_heartbeat, parse_properties, SipHeartbeatError};
use switchboard_core::node::{NodeId, Version};
use switchboard_core::registry::{PingOutcome, Registry, RegistryEvent, RegistrySettings};
use switchboard_core::time::Timestamp;

const BODY: &[u8] = b"tcpPort=5070\nudpPort=5070\nhostname=sipHeartbeat\nip=127.0.0.1";

fn src() -> SocketAddr {
    "127.0.0.1:5070".parse().unwrap()
}

fn ms(v: u64) -> Timestamp {
    Timestamp::from_millis(v)
}

#[test]
fn reference_body_registers_and_refreshes() {
    let mut r = Registry::new(RegistrySettings::default(), Timestamp::ZERO);
    assert_eq!(
        handle_sip_heartbeat(&mut r, BODY, src(), ms(0)),
        Ok(PingOutcome::Added(NodeId(1)))
    );
    let n = &r.live_nodes(&Version::default(), false)[0];
    assert_eq!(n.host_name, "sipHeartbeat");
    assert_eq!((n.key.ports.udp, n.key.ports.tcp), (Some(5070), Some(5070)));
    assert_eq!(n.properties["hostname"], "sipHeartbeat");
    assert_eq!(n.properties["ip"], "127.0.0.1");
    assert_eq!(
        handle_sip_heartbeat(&mut r, BODY, src(), ms(4000)),
        Ok(PingOutcome::Refreshed(NodeId(1)))
    );
    assert_eq!(r.node(NodeId(1)).unwrap().last_seen, ms(4000));
    assert_eq!(r.len(), 1);
}

#[test]
fn graceful_ping_marks_known_nodes_and_ignores_unknown_ones() {
    let mut r = Registry::new(RegistrySettings::default(), Timestamp::ZERO);
    let graceful = b"udpPort=5070\nip=127.0.0.1\nGRACEFUL_SHUTDOWN=true\n";
    assert_eq!(
        handle_sip_heartbeat(&mut r, graceful, src(), ms(0)),
        Ok(PingOutcome::IgnoredGracefulUnknown)
    );
    assert!(r.is_empty());
    handle_sip_heartbeat(&mut r, b"udpPort=5070\nip=127.0.0.1\n", src(), ms(0)).unwrap();
    while r.poll_event().is_some() {}
    assert_eq!(
        handle_sip_heartbeat(&mut r, graceful, src(), ms(1)),
        Ok(PingOutcome::Graceful(NodeId(1)))
    );
    assert!(r.node(NodeId(1)).unwrap().graceful);
    assert!(matches!(
        r.poll_event(),
        Some(RegistryEvent::NodeGraceful(_))
    ));
}

#[test]
fn bad_node_stays_bad_with_same_session_and_is_replaced_with_a_new_one() {
    let mut r = Registry::new(RegistrySettings::default(), Timestamp::ZERO);
    let ping = |s: &str| format!("udpPort=5070\nip=127.0.0.1\nsessionId={s}\n").into_bytes();
    handle_sip_heartbeat(&mut r, &ping("1"), src(), ms(0)).unwrap();
    for i in 0..6 {
        r.record_error_response(NodeId(1), 503, ms(i));
    }
    assert!(r.node(NodeId(1)).unwrap().bad);
    assert_eq!(
        handle_sip_heartbeat(&mut r, &ping("1"), src(), ms(10)),
        Ok(PingOutcome::Refreshed(NodeId(1)))
    );
    assert!(r.node(NodeId(1)).unwrap().bad);
    assert_eq!(
        handle_sip_heartbeat(&mut r, &ping("2"), src(), ms(20)),
        Ok(PingOutcome::Replaced {
            old: NodeId(1),
            new: NodeId(2)
        })
    );
    assert!(!r.node(NodeId(2)).unwrap().bad);
}

#[test]
fn missing_ip_falls_back_to_the_source_and_invalid_ip_is_refused() {
    let mut r = Registry::new(RegistrySettings::default(), Timestamp::ZERO);
    let from: SocketAddr = "[2001:db8::5]:5060".parse().unwrap();
    handle_sip_heartbeat(&mut r, b"udpPort: 5060\n", from, ms(0)).unwrap();
    assert_eq!(r.live_nodes(&Version::default(), true).len(), 1);
    assert!(matches!(
        handle_sip_heartbeat(&mut r, b"ip=host.example\n", src(), ms(0)),
        Err(SipHeartbeatError::Announcement(_))
    ));
}

#[test]
fn comments_and_separators() {
    let p = parse_properties(b"#c\n!c\n a = 1 \nb:2\nc 3\n");
    assert_eq!(
        (p["a"].as_str(), p["b"].as_str(), p["c"].as_str()),
        ("1", "2", "3")
    );
}
