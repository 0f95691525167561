//! Bad-node detection: error responses (behaviour reference §1.19) and the active health
//! check (§1.20).

use std::time::Duration;
use switchboard_core::node::NodeId;
use switchboard_core::registry::{
    BadReason, HealthCheckSettings, NodeAnnouncement, Registry, RegistryEvent, RegistrySettings,
    StartOutcome,
};
use switchboard_core::time::Timestamp;

fn ann(session: &str) -> NodeAnnouncement {
    let props = [
        ("ip", "10.0.0.1"),
        ("udpPort", "5080"),
        ("sessionId", session),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    NodeAnnouncement::from_properties(props, None).unwrap()
}

fn ms(v: u64) -> Timestamp {
    Timestamp::from_millis(v)
}

fn registry(settings: RegistrySettings) -> Registry {
    let mut r = Registry::new(settings, Timestamp::ZERO);
    r.start(ann("1"), ms(0));
    while r.poll_event().is_some() {}
    r
}

fn media(max: u32, window_ms: u64) -> RegistrySettings {
    RegistrySettings {
        max_error_responses: max,
        max_error_time: Duration::from_millis(window_ms),
        node_timeout: Duration::from_secs(3600),
        ..RegistrySettings::default()
    }
}

fn is_bad(r: &Registry) -> bool {
    r.node(NodeId(1)).unwrap().bad
}

#[test]
fn bad_when_errors_exceed_the_maximum_within_the_window() {
    // maxNumberResponsesWithError = 2: the third 503 within the window marks the node bad.
    let mut r = registry(media(2, 1000));
    assert!(!r.record_error_response(NodeId(1), 503, ms(0)));
    assert!(!r.record_error_response(NodeId(1), 503, ms(100)));
    assert!(!is_bad(&r), "not after max errors");
    assert!(r.record_error_response(NodeId(1), 503, ms(200)));
    assert!(is_bad(&r));
    assert!(matches!(
        r.poll_event(),
        Some(RegistryEvent::NodeBad {
            reason: BadReason::ErrorResponses {
                status: 503,
                count: 3
            },
            ..
        })
    ));
    assert_eq!(
        r.live_nodes(&Default::default(), false).len(),
        1,
        "bad nodes stay listed"
    );
    assert!(
        !r.record_error_response(NodeId(1), 503, ms(300)),
        "reported once"
    );
}

#[test]
fn errors_outside_the_window_restart_the_count() {
    let mut r = registry(media(2, 1000));
    r.record_error_response(NodeId(1), 503, ms(0));
    r.record_error_response(NodeId(1), 503, ms(1000));
    r.record_error_response(NodeId(1), 503, ms(2001)); // 1001 ms after the previous: reset
    assert!(!is_bad(&r));
    r.record_error_response(NodeId(1), 503, ms(2500));
    assert!(!is_bad(&r));
    r.record_error_response(NodeId(1), 503, ms(3000));
    assert!(is_bad(&r));
}

#[test]
fn other_statuses_do_not_count() {
    let mut r = registry(media(0, 1000));
    assert!(!r.record_error_response(NodeId(1), 500, ms(0)));
    assert!(!r.record_error_response(NodeId(1), 486, ms(0)));
    assert!(!is_bad(&r));
    assert!(r.record_error_response(NodeId(1), 503, ms(0)));
}

#[test]
fn restart_or_repeated_start_clears_bad() {
    let mut r = registry(media(0, 1000));
    r.record_error_response(NodeId(1), 503, ms(0));
    assert!(is_bad(&r));
    while r.poll_event().is_some() {}
    assert_eq!(
        r.start(ann("1"), ms(10)),
        StartOutcome::Recovered(NodeId(1))
    );
    assert!(!is_bad(&r));
    assert!(matches!(
        r.poll_event(),
        Some(RegistryEvent::NodeRecovered(_))
    ));
    r.record_error_response(NodeId(1), 503, ms(20));
    assert!(is_bad(&r));
    assert_eq!(
        r.start(ann("2"), ms(30)),
        StartOutcome::Replaced {
            old: NodeId(1),
            new: NodeId(2)
        }
    );
    assert!(!r.node(NodeId(2)).unwrap().bad);
}

fn health(max: u32, time_ms: u64) -> RegistrySettings {
    RegistrySettings {
        health_check: Some(HealthCheckSettings {
            max_requests_without_response: max,
            max_response_time: Duration::from_millis(time_ms),
        }),
        node_timeout: Duration::from_secs(3600),
        ..RegistrySettings::default()
    }
}

#[test]
fn health_check_needs_both_count_and_silence() {
    // HealthcheckTest: 2 requests / 1000 ms.
    let mut r = registry(health(2, 1000));
    assert!(!r.record_request_sent(NodeId(1), ms(100)));
    assert!(!r.record_request_sent(NodeId(1), ms(200)));
    assert!(
        !r.record_request_sent(NodeId(1), ms(300)),
        "count exceeded but not silent long enough"
    );
    assert!(!is_bad(&r));
    assert!(r.record_request_sent(NodeId(1), ms(1001)));
    assert!(is_bad(&r));
    assert!(matches!(
        r.poll_event(),
        Some(RegistryEvent::NodeBad {
            reason: BadReason::Unresponsive { unanswered: 4 },
            ..
        })
    ));
    // Answering again proves it responsive.
    r.record_response(NodeId(1), ms(1100));
    assert!(!is_bad(&r));
    assert!(matches!(
        r.poll_event(),
        Some(RegistryEvent::NodeRecovered(_))
    ));
}

#[test]
fn responses_reset_the_unanswered_count() {
    let mut r = registry(health(2, 1000));
    for t in [0, 2000, 4000, 6000] {
        r.record_request_sent(NodeId(1), ms(t));
        r.record_request_sent(NodeId(1), ms(t + 1));
        r.record_response(NodeId(1), ms(t + 2));
    }
    assert!(!is_bad(&r));
}

#[test]
fn health_check_is_off_by_default() {
    let mut r = registry(RegistrySettings::default());
    for t in 0..100 {
        assert!(!r.record_request_sent(NodeId(1), ms(t * 1000)));
    }
    assert!(!is_bad(&r));
}
