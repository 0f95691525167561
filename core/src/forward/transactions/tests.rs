//! The table's timers: retransmission schedule, failover, Timer B/F, the bound.

use super::*;
use crate::forward::Destination;
use crate::forward::{Leg, ListeningPoint};
use crate::node::Transport;
use bytes::Bytes;

fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn sent(transport: Transport) -> Transmit {
    Transmit {
        leg: Leg::Internal,
        transport,
        ipv6: false,
        to: Destination::Addr("10.0.0.1:5080".parse().unwrap()),
        payload: Bytes::from_static(b"INVITE sip:x SIP/2.0\r\n\r\n"),
    }
}

fn inbound() -> Inbound {
    Inbound {
        listener: ListeningPoint {
            leg: Leg::External,
            transport: Transport::Udp,
            ipv6: false,
        },
        source: "10.0.0.9:5060".parse().unwrap(),
        payload: Bytes::from_static(b"INVITE sip:x SIP/2.0\r\n\r\n"),
    }
}

fn key(b: &str) -> TxKey {
    TxKey {
        branch: b.to_owned(),
        cancel: false,
    }
}

fn invite(node: u64, owned: bool, transport: Transport) -> Track {
    Track {
        node: Some(NodeId(node)),
        invite: true,
        sent: sent(transport),
        owned,
        replay: owned.then(inbound),
    }
}

const FAILOVER: Duration = Duration::from_millis(1000);

/// Drains every due timer at `now`, naming each.
fn fire(t: &mut Transactions, now: Timestamp) -> Vec<&'static str> {
    let mut names = Vec::new();
    while let Some(d) = t.poll_due(now) {
        names.push(match d {
            Due::Retransmit { .. } => "retransmit",
            Due::Silent {
                replay: Some(_), ..
            } => "failover",
            Due::Silent { replay: None, .. } => "suspect",
            Due::GaveUp { owned: true, .. } => "408",
            Due::GaveUp { owned: false, .. } => "forget",
        });
    }
    names
}

#[test]
fn owned_invite_over_udp_is_retransmitted_on_timer_a_then_failed_over() {
    let mut t = Transactions::default();
    t.track(key("b1"), invite(1, true, Transport::Udp), FAILOVER, at(0));
    assert_eq!(t.next_deadline(), Some(at(500)));
    assert!(fire(&mut t, at(499)).is_empty());
    assert_eq!(fire(&mut t, at(500)), ["retransmit"]);
    // Failover after 1 s comes before the second retransmission (1.5 s).
    assert_eq!(t.next_deadline(), Some(at(1000)));
    assert_eq!(fire(&mut t, at(1000)), ["failover"]);
    // Routed again to node 2: the entry keeps Timer B but restarts Timer A and the failover.
    t.track(
        key("b1"),
        invite(2, true, Transport::Udp),
        FAILOVER,
        at(1000),
    );
    assert_eq!(fire(&mut t, at(1500)), ["retransmit"]);
    assert_eq!(t.moved_to(&key("b1")), Some(NodeId(2)));
    // A late answer of the abandoned node is dropped; node 2's answer ends the entry.
    assert_eq!(
        t.answered(&key("b1"), Some(NodeId(1)), at(1600)),
        Answer::FromAbandoned
    );
    assert_eq!(
        t.answered(&key("b1"), Some(NodeId(2)), at(1700)),
        Answer::First {
            node: Some(NodeId(2)),
            elapsed: Duration::from_millis(700)
        }
    );
    assert!(t.is_empty());
    // The move is remembered for the CANCEL and late answers until Timer B.
    assert_eq!(t.moved_to(&key("b1")), Some(NodeId(2)));
    assert_eq!(
        t.answered(&key("b1"), Some(NodeId(1)), at(2000)),
        Answer::FromAbandoned
    );
    assert_eq!(
        t.answered(&key("b1"), Some(NodeId(1)), at(32_001)),
        Answer::Untracked
    );
    assert_eq!(t.moved_to(&key("b1")), None);
}

#[test]
fn timer_a_doubles_without_cap_and_timer_b_answers_408() {
    let mut t = Transactions::default();
    t.track(
        key("b"),
        invite(1, true, Transport::Udp),
        Duration::from_secs(3600),
        at(0),
    );
    let mut times = Vec::new();
    let mut now = 0;
    while now <= 40_000 {
        for name in fire(&mut t, at(now)) {
            times.push((now, name));
        }
        now += 50;
    }
    assert_eq!(
        times,
        [
            (500, "retransmit"),
            (1500, "retransmit"),
            (3500, "retransmit"),
            (7500, "retransmit"),
            (15500, "retransmit"),
            (31500, "retransmit"),
            (32000, "408"),
        ]
    );
    assert!(t.is_empty());
}

#[test]
fn timer_e_is_capped_at_t2_for_other_methods() {
    let mut t = Transactions::default();
    let mut track = invite(1, true, Transport::Udp);
    track.invite = false;
    track.replay = None;
    t.track(key("m"), track, FAILOVER, at(0));
    let mut times = Vec::new();
    for now in (0..=12_000).step_by(50) {
        if !fire(&mut t, at(now)).is_empty() {
            times.push(now);
        }
    }
    assert_eq!(times, [500, 1500, 3500, 7500, 11500]);
}

#[test]
fn nothing_is_retransmitted_after_any_response() {
    let mut t = Transactions::default();
    t.track(key("b"), invite(1, true, Transport::Udp), FAILOVER, at(0));
    assert!(matches!(
        t.answered(&key("b"), Some(NodeId(1)), at(100)),
        Answer::First { .. }
    ));
    assert_eq!(t.next_deadline(), None);
    assert!(fire(&mut t, at(40_000)).is_empty());
}

#[test]
fn over_tcp_nothing_is_retransmitted_but_a_silent_node_is_failed_over() {
    let mut t = Transactions::default();
    t.track(key("b"), invite(1, true, Transport::Tcp), FAILOVER, at(0));
    assert_eq!(t.next_deadline(), Some(at(1000)));
    assert_eq!(fire(&mut t, at(1000)), ["failover"]);
}

#[test]
fn without_trying_a_silent_node_is_only_marked_suspect() {
    let mut t = Transactions::default();
    t.track(key("b"), invite(1, false, Transport::Udp), FAILOVER, at(0));
    assert_eq!(fire(&mut t, at(999)), Vec::<&str>::new());
    assert_eq!(fire(&mut t, at(1000)), ["suspect"]);
    assert!(t.is_empty(), "the caller retransmits by itself");
}

#[test]
fn a_refused_send_fails_over_at_once() {
    let mut t = Transactions::default();
    t.track(key("b"), invite(1, true, Transport::Udp), FAILOVER, at(0));
    t.track(key("c"), invite(2, true, Transport::Udp), FAILOVER, at(0));
    t.node_refused(NodeId(1), at(10));
    assert_eq!(fire(&mut t, at(10)), ["failover"]);
}

#[test]
fn a_cancel_has_its_own_entry_beside_its_invite() {
    let mut t = Transactions::default();
    t.track(key("b"), invite(1, true, Transport::Udp), FAILOVER, at(0));
    let cancel = TxKey {
        branch: "b".to_owned(),
        cancel: true,
    };
    let mut track = invite(1, false, Transport::Udp);
    track.invite = false;
    t.track(cancel.clone(), track, FAILOVER, at(10));
    assert_eq!(t.len(), 2);
    assert!(matches!(
        t.answered(&cancel, Some(NodeId(1)), at(20)),
        Answer::First { .. }
    ));
    assert_eq!(t.len(), 1);
}

#[test]
fn the_table_is_bounded_and_evicts_the_oldest() {
    let mut t = Transactions::default();
    for i in 0..MAX_ENTRIES + 10 {
        let mut track = invite(1, false, Transport::Tcp);
        track.invite = false;
        t.track(key(&format!("b{i}")), track, FAILOVER, at(0));
    }
    assert_eq!(t.len(), MAX_ENTRIES);
    assert_eq!(t.evictions(), 10);
    assert_eq!(
        t.answered(&key("b0"), Some(NodeId(1)), at(1)),
        Answer::Untracked
    );
    assert!(matches!(
        t.answered(&key("b10"), Some(NodeId(1)), at(1)),
        Answer::First { .. }
    ));
}
