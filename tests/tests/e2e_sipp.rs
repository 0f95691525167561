//! End-to-end: SIPp calls through the real `switchboard` binary to two SIPp UAS nodes that
//! registered through the HTTP/JSON heartbeat, over UDP and over TCP.

mod common;

use common::{
    free_port, read_or_note, sipp, sipp_count, sipp_stat, test_dir, Lb, LbPorts, Node, Proc,
};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

const CALLS: u64 = 200;

fn diagnostics(dir: &Path, lb: &Lb) -> String {
    format!(
        "--- uac errors\n{}\n--- uac stats\n{}\n--- uas1 errors\n{}\n--- uas2 errors\n{}\n--- switchboard log (tail)\n{}",
        tail(&read_or_note(&dir.join("uac-errors.log")), 40),
        tail(&read_or_note(&dir.join("uac-stats.csv")), 2),
        tail(&read_or_note(&dir.join("uas1-errors.log")), 20),
        tail(&read_or_note(&dir.join("uas2-errors.log")), 20),
        tail(&lb.log(), 40),
    )
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `transport` is SIPp's `-t` value: `u1` (UDP, one socket) or `t1` (TCP, one connection).
fn calls_through_two_nodes(test: &str, transport: &str) {
    let dir = test_dir(test);
    let lb = Lb::start(&dir, LbPorts::free());
    let (p1, p2) = (free_port().to_string(), free_port().to_string());
    let mut uases = Vec::new();
    for (name, port) in [("uas1", &p1), ("uas2", &p2)] {
        let args = ["-sn", "uas", "-t", transport, "-p", port];
        uases.push(Proc::spawn(name, &mut sipp(&dir, name, &args)));
    }
    // Give the UAS a moment to bind before the balancer may send to them.
    sleep(Duration::from_millis(300));
    let _n1 = Node::register(lb.heartbeat(), "n1", p1.parse().expect("port"));
    let _n2 = Node::register(lb.heartbeat(), "n2", p2.parse().expect("port"));

    let uac_port = free_port().to_string();
    let target = lb.external().to_string();
    let calls = CALLS.to_string();
    let args = [
        "-sn",
        "uac",
        "-t",
        transport,
        "-r",
        "20",
        "-m",
        &calls,
        "-p",
        &uac_port,
        "-timeout",
        "60s",
        "-timeout_error",
        &target,
    ];
    let mut uac = Proc::spawn("uac", &mut sipp(&dir, "uac", &args));
    let status = uac.wait_for(Duration::from_secs(90));
    // The UAS count a call as successful after the 4 s time-wait of the built-in scenario and
    // write their statistics every second: wait for both (bounded).
    let uas_total = |column: &str| {
        sipp_stat(&dir, "uas1", column).unwrap_or(0) + sipp_stat(&dir, "uas2", column).unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while uas_total("SuccessfulCall(C)") + uas_total("FailedCall(C)") < CALLS
        && Instant::now() < deadline
    {
        sleep(Duration::from_millis(250));
    }
    let report = diagnostics(&dir, &lb);
    assert!(
        matches!(status, Some(s) if s.success()),
        "SIPp UAC did not complete every call (exit {status:?}) in {}\n{report}",
        dir.display()
    );
    assert_eq!(
        sipp_stat(&dir, "uac", "SuccessfulCall(C)"),
        Some(CALLS),
        "{report}"
    );
    assert_eq!(sipp_stat(&dir, "uac", "FailedCall(C)"), Some(0), "{report}");
    let got1 = sipp_stat(&dir, "uas1", "IncomingCall(C)").unwrap_or(0);
    let got2 = sipp_stat(&dir, "uas2", "IncomingCall(C)").unwrap_or(0);
    assert!(
        got1 > 0 && got2 > 0,
        "both nodes must take calls: n1 {got1}, n2 {got2}\n{report}"
    );
    assert_eq!(
        got1 + got2,
        CALLS,
        "every call reaches exactly one node\n{report}"
    );
    assert_eq!(
        uas_total("FailedCall(C)"),
        0,
        "no call fails on a node\n{report}"
    );
    assert_eq!(
        uas_total("SuccessfulCall(C)"),
        CALLS,
        "every call completes on its node (ACK and BYE reached it)\n{report}"
    );
    let node_count = |column: &str| -> u64 {
        uases
            .iter()
            .map(|u| sipp_count(&dir, "uas", u.pid(), column).unwrap_or(0))
            .sum()
    };
    assert_eq!(
        node_count("3_ACK_Recv"),
        CALLS,
        "every ACK reaches the node of its call\n{report}"
    );
    assert_eq!(
        node_count("4_BYE_Recv"),
        CALLS,
        "every BYE reaches the node of its call\n{report}"
    );
    assert_eq!(
        node_count("0_INVITE_Unexp") + node_count("3_ACK_Unexp") + node_count("4_BYE_Unexp"),
        0,
        "{report}"
    );
    drop(uases);
}

#[test]
fn udp_calls_are_balanced_over_two_nodes() {
    calls_through_two_nodes("udp", "u1");
}

#[test]
fn tcp_calls_are_balanced_over_two_nodes() {
    calls_through_two_nodes("tcp", "t1");
}
