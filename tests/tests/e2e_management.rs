//! End-to-end: the management API after real SIPp traffic (behaviour reference §1.25, §7.1,
//! §7.2): `/lbstat` counters equal to what the balancer processed, `/lbinfo` node lists,
//! `/metrics` in the Prometheus text format, and `/lbstop` with `securityRequired`.

mod common;

use common::{
    free_port, http_get, sipp_count, sipp_report, sipp_stat, start_uac, start_uas, test_dir,
    wait_until, Lb, LbExtra, LbPorts, Node,
};
use std::path::Path;
use std::time::{Duration, Instant};

const CALLS: u64 = 50;
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(800);

fn count(dir: &Path, scenario: &str, pid: u32, column: &str) -> u64 {
    sipp_count(dir, scenario, pid, column).unwrap_or(0)
}

/// The value of an unlabelled Prometheus sample.
fn sample(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

#[test]
fn counters_node_list_metrics_and_secured_lbstop() {
    let dir = test_dir("management");
    let extra = LbExtra {
        common: format!(
            "<securityRequired>true</securityRequired><login>daddy</login>\
             <password>123456</password><shutdownTimeout>{}</shutdownTimeout>",
            SHUTDOWN_TIMEOUT.as_millis()
        ),
        ..LbExtra::default()
    };
    let mut lb = Lb::start_extra(&dir, LbPorts::free(), &extra);
    let ports = [free_port(), free_port()];
    let uas = [
        start_uas(&dir, "uasA", ports[0], "u1", &[]),
        start_uas(&dir, "uasB", ports[1], "u1", &[]),
    ];
    std::thread::sleep(Duration::from_millis(300));
    let nodes = [
        Node::register(lb.heartbeat(), "nA", ports[0]),
        Node::register(lb.heartbeat(), "nB", ports[1]),
    ];
    let names = ["uac", "uasA", "uasB"];

    let mut uac = start_uac(&dir, "uac", lb.external(), "u1", CALLS, 25, &[]);
    let status = uac.wait_for(Duration::from_secs(40));
    let report = sipp_report(&dir, &lb, &names);
    assert!(
        matches!(status, Some(s) if s.success()),
        "exit {status:?}\n{report}"
    );
    assert_eq!(
        sipp_stat(&dir, "uac", "SuccessfulCall(C)"),
        Some(CALLS),
        "{report}"
    );
    // The UAS end their calls 4 s after the BYE and write their counters every second.
    let ended = wait_until(Duration::from_secs(10), || {
        ["uasA", "uasB"]
            .iter()
            .map(|n| sipp_stat(&dir, n, "SuccessfulCall(C)").unwrap_or(0))
            .sum::<u64>()
            == CALLS
    });
    assert!(ended, "{}", sipp_report(&dir, &lb, &names));
    std::thread::sleep(Duration::from_millis(1100));

    // What the balancer received. From the client: INVITE, ACK and BYE of every call, with
    // their retransmissions. From the nodes (built-in `uas`: 180, 200, then 200 for the BYE,
    // no 100): those responses with their retransmissions, plus one resent response for each
    // retransmitted INVITE or BYE that reached a node. The balancer's own 100 Trying is sent,
    // not processed, and the UAC sends nothing else.
    let u = uac.pid();
    let requests = [
        "0_INVITE_Sent",
        "0_INVITE_Retrans",
        "5_ACK_Sent",
        "5_ACK_Retrans",
    ]
    .iter()
    .chain(&["7_BYE_Sent", "7_BYE_Retrans"])
    .map(|c| count(&dir, "uac", u, c))
    .sum::<u64>();
    let responses: u64 = uas
        .iter()
        .map(|p| {
            [
                "1_180_Sent",
                "1_180_Retrans",
                "2_200_Sent",
                "2_200_Retrans",
                "5_200_Sent",
                "5_200_Retrans",
                "0_INVITE_Retrans",
                "4_BYE_Retrans",
            ]
            .iter()
            .map(|c| count(&dir, "uas", p.pid(), c))
            .sum::<u64>()
        })
        .sum();
    assert!(requests >= 3 * CALLS, "UAC counters: {requests}\n{report}");
    assert!(
        responses >= 3 * CALLS,
        "UAS counters: {responses}\n{report}"
    );

    let stat = lb.lbstat().expect("/lbstat");
    let metrics = &stat["Metrics"];
    assert_eq!(
        metrics["NumberOfRequestsProcessed"].as_u64(),
        Some(requests),
        "requests: every INVITE, ACK and BYE (with retransmissions) of {CALLS} calls\n{stat}"
    );
    assert_eq!(
        metrics["NumberOfResponsesProcessed"].as_u64(),
        Some(responses),
        "responses: 180, 200 and the BYE's 200 from the nodes (with retransmissions)\n{stat}"
    );
    assert_eq!(metrics["activeNodes"].as_u64(), Some(2), "{stat}");

    // /lbinfo: both nodes with their ports.
    let info = lb.lbinfo().expect("/lbinfo");
    let listed = info["Nodes info"]["nodesIPv4"]
        .as_array()
        .expect("nodesIPv4");
    assert_eq!(listed.len(), 2, "{info}");
    for (name, port) in [("nA", ports[0]), ("nB", ports[1])] {
        let port = port.to_string();
        let node = listed
            .iter()
            .find(|n| n["hostName"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {info}"));
        assert_eq!(node["ip"], "127.0.0.1", "{info}");
        assert_eq!(
            node["properties"]["udpPort"].as_str(),
            Some(port.as_str()),
            "{info}"
        );
        assert_eq!(
            node["properties"]["tcpPort"].as_str(),
            Some(port.as_str()),
            "{info}"
        );
    }
    assert_eq!(
        info["Nodes info"]["nodesIPv6"].as_array().map(Vec::len),
        Some(0)
    );

    // /metrics: the same counters in the Prometheus text format.
    let answer = http_get(lb.management(), "/metrics").expect("GET /metrics");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("# TYPE switchboard_sip_requests_total counter"),
        "{answer}"
    );
    assert_eq!(
        sample(&answer, "switchboard_sip_requests_total"),
        Some(requests),
        "{answer}"
    );
    assert_eq!(
        sample(&answer, "switchboard_sip_responses_total"),
        Some(responses),
        "{answer}"
    );
    let invites = "switchboard_sip_requests_by_method_total{method=\"INVITE\"}";
    let expected_invites =
        count(&dir, "uac", u, "0_INVITE_Sent") + count(&dir, "uac", u, "0_INVITE_Retrans");
    assert_eq!(sample(&answer, invites), Some(expected_invites), "{answer}");

    // /lbstop with wrong or missing credentials: 401, and the balancer keeps running.
    for query in [
        "/lbstop",
        "/lbstop?login=daddy&password=wrong",
        "/lbstop?login=mummy&password=123456",
    ] {
        let answer = http_get(lb.management(), query).expect("GET /lbstop");
        assert!(answer.starts_with("HTTP/1.1 401"), "{query}: {answer}");
    }
    std::thread::sleep(SHUTDOWN_TIMEOUT + Duration::from_millis(300));
    assert!(
        lb.proc.child.try_wait().expect("poll").is_none(),
        "still running\n{}",
        lb.log()
    );
    assert!(lb.lbstat().is_some(), "/lbstat still answers");
    assert!(nodes
        .iter()
        .all(|n| n.received.lock().expect("lock").is_empty()));

    // The right credentials: stops within shutdownTimeout + 1 s and tells every node.
    let asked = Instant::now();
    let answer =
        http_get(lb.management(), "/lbstop?login=daddy&password=123456").expect("GET /lbstop");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let status = lb.proc.wait_for(SHUTDOWN_TIMEOUT + Duration::from_secs(1));
    let took = asked.elapsed();
    assert!(
        matches!(status, Some(s) if s.code() == Some(0)),
        "exit {status:?} after {took:?}\n{}",
        lb.log()
    );
    assert!(took >= SHUTDOWN_TIMEOUT, "stopped after {took:?}");
    for node in &nodes {
        assert!(
            wait_until(Duration::from_secs(2), || !node
                .received
                .lock()
                .expect("lock")
                .is_empty()),
            "a node got no stop\n{}",
            lb.log()
        );
        let received = node.received.lock().expect("lock").clone();
        assert_eq!(received.len(), 1, "{received:?}");
        assert!(received[0].contains(r#""stop""#), "{received:?}");
        assert!(
            received[0].contains(&lb.ports.heartbeat.to_string()),
            "{received:?}"
        );
    }
    drop(uas);
}
