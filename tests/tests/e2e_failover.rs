//! End-to-end failover: SIPp calls through the real `switchboard` binary while nodes lose
//! their heartbeats, shut down gracefully, restart with a new session, hang up calls
//! themselves, or register through the SIP OPTIONS heartbeat (behaviour reference §3.2–§3.5,
//! §1.12, §1.24; docs/decisions.md §8.5, §8.6).

mod common;

use common::{
    free_port, scenario, sip_heartbeat_body, sipp_count, sipp_report, sipp_stat, start_uac,
    start_uas, test_dir, wait_until, Lb, LbExtra, LbPorts, Node, SipHeartbeat,
};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

const NODE_TIMEOUT: Duration = Duration::from_millis(2000);
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(150);

fn short_timeouts() -> LbExtra {
    LbExtra {
        node_timeout_ms: Some(NODE_TIMEOUT.as_millis() as u64),
        heartbeat_interval_ms: Some(HEARTBEAT_INTERVAL.as_millis() as u64),
        ..LbExtra::default()
    }
}

fn stat(dir: &Path, name: &str, column: &str) -> u64 {
    sipp_stat(dir, name, column).unwrap_or(0)
}

/// Waits (at most 10 s) until the UAS named `names` have ended `calls` calls between them
/// (the built-in UAS ends a call 4 s after its BYE; statistics are written every second).
fn wait_uas_done(dir: &Path, names: &[&str], calls: u64) {
    wait_until(Duration::from_secs(10), || {
        names
            .iter()
            .map(|n| stat(dir, n, "SuccessfulCall(C)") + stat(dir, n, "FailedCall(C)"))
            .sum::<u64>()
            >= calls
    });
}

/// Asserts that the UAC `name` ended with exit 0 and `calls` successful calls, none failed.
fn assert_uac_ok(
    dir: &Path,
    lb: &Lb,
    name: &str,
    status: Option<std::process::ExitStatus>,
    calls: u64,
    report_names: &[&str],
) {
    let report = sipp_report(dir, lb, report_names);
    assert!(
        matches!(status, Some(s) if s.success()),
        "{name} did not complete every call (exit {status:?})\n{report}"
    );
    assert_eq!(
        stat(dir, name, "SuccessfulCall(C)"),
        calls,
        "{name}\n{report}"
    );
    assert_eq!(stat(dir, name, "FailedCall(C)"), 0, "{name}\n{report}");
}

/// Two SIPp UAS nodes registered through the JSON heartbeat.
struct TwoNodes {
    ports: [u16; 2],
    uas: Vec<common::Proc>,
    nodes: Vec<Option<Node>>,
}

fn two_nodes(dir: &Path, lb: &Lb, uas_args: &[&str]) -> TwoNodes {
    two_nodes_on(dir, lb, "u1", uas_args)
}

/// [`two_nodes`] with SIPp's transport mode (`u1` UDP, `t1` TCP).
fn two_nodes_on(dir: &Path, lb: &Lb, transport: &str, uas_args: &[&str]) -> TwoNodes {
    let ports = [free_port(), free_port()];
    let uas = vec![
        start_uas(dir, "uasA", ports[0], transport, uas_args),
        start_uas(dir, "uasB", ports[1], transport, uas_args),
    ];
    sleep(Duration::from_millis(300));
    let nodes = vec![
        Some(Node::register(lb.heartbeat(), "nA", ports[0])),
        Some(Node::register(lb.heartbeat(), "nB", ports[1])),
    ];
    TwoNodes { ports, uas, nodes }
}

/// Node A stops heartbeating in the middle of a run while its SIPp keeps answering. The
/// balancer refreshes a node on every SIP message it receives from it (§3.3, issue #88), so
/// while A answers calls it stays alive and keeps getting new ones. Once the run ends A is
/// silent on every channel: it must be removed nodeTimeout (+ one heartbeatInterval) after
/// its last answer, and a second run then goes entirely to B, with no failed call.
#[test]
fn heartbeats_of_a_node_stop_mid_run() {
    let dir = test_dir("heartbeat-loss");
    let lb = Lb::start_extra(&dir, LbPorts::free(), &short_timeouts());
    let mut two = two_nodes(&dir, &lb, &[]);
    let names = ["uac1", "uasA", "uasB"];

    let mut uac1 = start_uac(&dir, "uac1", lb.external(), "u1", 70, 10, &[]);
    sleep(Duration::from_millis(1500));
    let cutoff = Instant::now();
    if let Some(a) = two.nodes[0].as_mut() {
        a.halt();
    }
    // Statistics lag by at most one second: this is A's count at cutoff + nodeTimeout or later.
    sleep(NODE_TIMEOUT + HEARTBEAT_INTERVAL + Duration::from_millis(1000));
    let a_after_timeout = stat(&dir, "uasA", "IncomingCall(C)");
    let status = uac1.wait_for(Duration::from_secs(40));
    let run_end = Instant::now();
    let cutoff_to_end = cutoff.elapsed();
    // Now A is silent: it goes nodeTimeout after its last answer (the run's end, at most).
    let a_port = two.ports[0].to_string();
    let gone = wait_until(
        NODE_TIMEOUT + HEARTBEAT_INTERVAL + Duration::from_secs(2),
        || !lb.node_list().iter().any(|(_, port, _)| *port == a_port),
    );
    let removed_after = run_end.elapsed();
    assert_uac_ok(&dir, &lb, "uac1", status, 70, &names);
    wait_uas_done(&dir, &["uasA", "uasB"], 70);
    let a_end = stat(&dir, "uasA", "IncomingCall(C)");
    assert!(
        a_end > a_after_timeout && a_after_timeout > 0,
        "A answers SIP, so it stays alive without heartbeats and keeps taking new calls: \
         {a_after_timeout} calls {:?} after the cutoff, {a_end} at the end {cutoff_to_end:?} \
         after it\n{}",
        NODE_TIMEOUT + HEARTBEAT_INTERVAL + Duration::from_millis(1000),
        sipp_report(&dir, &lb, &names)
    );
    assert!(gone, "A never expired: {:?}\n{}", lb.node_list(), lb.log());
    assert!(
        removed_after <= NODE_TIMEOUT + HEARTBEAT_INTERVAL + Duration::from_millis(1000),
        "A expired {removed_after:?} after its last SIP answer"
    );
    assert!(
        removed_after + Duration::from_millis(500) >= NODE_TIMEOUT,
        "A expired too early: {removed_after:?} after its last SIP answer"
    );
    assert_eq!(lb.node_list().len(), 1, "B stays: {:?}", lb.node_list());

    // A's SIPp still runs and would answer: any new call that reached it would be counted.
    let (a_before, b_before) = (a_end, stat(&dir, "uasB", "IncomingCall(C)"));
    let mut uac2 = start_uac(&dir, "uac2", lb.external(), "u1", 40, 20, &[]);
    let status = uac2.wait_for(Duration::from_secs(40));
    assert_uac_ok(&dir, &lb, "uac2", status, 40, &["uac2", "uasA", "uasB"]);
    wait_uas_done(&dir, &["uasA", "uasB"], 110);
    let report = sipp_report(&dir, &lb, &["uac2", "uasA", "uasB"]);
    assert_eq!(
        stat(&dir, "uasA", "IncomingCall(C)"),
        a_before,
        "no new call reaches the expired node\n{report}"
    );
    assert_eq!(
        stat(&dir, "uasB", "IncomingCall(C)"),
        b_before + 40,
        "every new call goes to B\n{report}"
    );
    drop(two);
}

/// A call is established on one node, that node announces `shutdown`: the call's BYE still
/// reaches it and gets 200, and every new call goes to the other node (§3.4).
#[test]
fn graceful_shutdown_keeps_the_active_call_and_moves_new_calls() {
    let dir = test_dir("graceful");
    let lb = Lb::start(&dir, LbPorts::free());
    let two = two_nodes(&dir, &lb, &[]);
    let names = ["long", "uac", "uasA", "uasB"];

    // One call held 6 s before its BYE.
    let mut long = start_uac(&dir, "long", lb.external(), "u1", 1, 1, &["-d", "6000"]);
    let incoming = |n: &str| stat(&dir, n, "IncomingCall(C)");
    assert!(
        wait_until(Duration::from_secs(4), || incoming("uasA")
            + incoming("uasB")
            == 1),
        "the held call reached no node\n{}",
        sipp_report(&dir, &lb, &names)
    );
    let (owner, other) = if incoming("uasA") == 1 {
        (0, 1)
    } else {
        (1, 0)
    };
    let (owner_name, other_name) = (["uasA", "uasB"][owner], ["uasA", "uasB"][other]);
    let node = two.nodes[owner].as_ref().expect("node");
    let answer = node.shutdown().expect("POST shutdown");
    assert!(answer.contains(r#"{"shutdown":"OK"}"#), "{answer}");
    let owner_port = two.ports[owner].to_string();
    let info = lb.lbinfo().expect("/lbinfo");
    let graceful: Vec<bool> = info["Nodes info"]["nodesIPv4"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["properties"]["udpPort"].as_str() == Some(owner_port.as_str()))
        .map(|n| n["gracefulShutdown"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(graceful, vec![true], "{info}");

    let mut uac = start_uac(&dir, "uac", lb.external(), "u1", 20, 20, &[]);
    let status = uac.wait_for(Duration::from_secs(30));
    assert_uac_ok(&dir, &lb, "uac", status, 20, &names);
    let status = long.wait_for(Duration::from_secs(30));
    assert_uac_ok(&dir, &lb, "long", status, 1, &names);
    wait_uas_done(&dir, &["uasA", "uasB"], 21);
    let report = sipp_report(&dir, &lb, &names);
    assert_eq!(
        incoming(owner_name),
        1,
        "no new call on the node shutting down\n{report}"
    );
    assert_eq!(
        incoming(other_name),
        20,
        "every new call on the other node\n{report}"
    );
    let byes = sipp_count(&dir, "uas", two.uas[owner].pid(), "4_BYE_Recv");
    assert_eq!(
        byes,
        Some(1),
        "the held call's BYE reached its node\n{report}"
    );
    assert_eq!(stat(&dir, owner_name, "SuccessfulCall(C)"), 1, "{report}");
    drop(two);
}

/// Node A restarts (new `sessionId`, same address and ports) within nodeTimeout, without a
/// `stop`. The new entry replaces the old one and keeps taking calls after the old one would
/// have expired (the reference's stale twin deleted it then; docs/decisions.md §8.5).
#[test]
fn restart_with_a_new_session_keeps_taking_calls() {
    let dir = test_dir("restart");
    let lb = Lb::start_extra(&dir, LbPorts::free(), &short_timeouts());
    let mut two = two_nodes(&dir, &lb, &[]);
    let a_port = two.ports[0].to_string();

    let old = two.nodes[0].take().expect("node A");
    let old_session = old.session.clone();
    drop(old);
    sleep(Duration::from_millis(5));
    let new = Node::register(lb.heartbeat(), "nA", two.ports[0]);
    assert_ne!(new.session, old_session);
    let new_session = new.session.clone();
    two.nodes[0] = Some(new);
    let entries = |lb: &Lb| -> Vec<String> {
        lb.node_list()
            .into_iter()
            .filter(|(_, port, _)| *port == a_port)
            .map(|(_, _, session)| session)
            .collect()
    };
    assert_eq!(
        entries(&lb),
        vec![new_session.clone()],
        "one entry, the new session"
    );

    // Past the moment the old entry would have expired.
    sleep(NODE_TIMEOUT + HEARTBEAT_INTERVAL + Duration::from_millis(1000));
    assert_eq!(
        entries(&lb),
        vec![new_session.clone()],
        "the restarted node is still registered\n{}",
        lb.log()
    );
    let mut uac = start_uac(&dir, "uac", lb.external(), "u1", 40, 20, &[]);
    let status = uac.wait_for(Duration::from_secs(30));
    assert_uac_ok(&dir, &lb, "uac", status, 40, &["uac", "uasA", "uasB"]);
    wait_uas_done(&dir, &["uasA", "uasB"], 40);
    let report = sipp_report(&dir, &lb, &["uac", "uasA", "uasB"]);
    let (a, b) = (
        stat(&dir, "uasA", "IncomingCall(C)"),
        stat(&dir, "uasB", "IncomingCall(C)"),
    );
    assert!(
        a > 0 && b > 0,
        "both nodes take calls: A {a}, B {b}\n{report}"
    );
    assert_eq!(a + b, 40, "{report}");
    assert_eq!(
        entries(&lb),
        vec![new_session],
        "still one entry after the run"
    );
    drop(two);
}

/// The nodes hang up: 200 calls over UDP whose BYE is sent by the UAS through the
/// Record-Route set (§1.12, §1.24) and answered by the caller; no call fails and both nodes
/// are used.
#[test]
fn nodes_send_the_bye() {
    nodes_send_the_bye_over("u1");
}

/// The same over TCP: the node's BYE reaches the caller on the connection the caller opened.
#[test]
fn nodes_send_the_bye_over_tcp() {
    nodes_send_the_bye_over("t1");
}

fn nodes_send_the_bye_over(transport: &str) {
    const CALLS: u64 = 200;
    let dir = test_dir(&format!("node-bye-{transport}"));
    let lb = Lb::start(&dir, LbPorts::free());
    let uas_sf = scenario("uas_sends_bye.xml");
    let uac_sf = scenario("uac_waits_for_bye.xml");
    let uas_sf = uas_sf.to_str().expect("path");
    let uac_sf = uac_sf.to_str().expect("path");
    let two = two_nodes_on(&dir, &lb, transport, &["-sf", uas_sf]);
    let names = ["uac", "uasA", "uasB"];
    let mut uac = start_uac(
        &dir,
        "uac",
        lb.external(),
        transport,
        CALLS,
        40,
        &["-sf", uac_sf],
    );
    let status = uac.wait_for(Duration::from_secs(40));
    assert_uac_ok(&dir, &lb, "uac", status, CALLS, &names);
    wait_uas_done(&dir, &["uasA", "uasB"], CALLS);
    let report = sipp_report(&dir, &lb, &names);
    let (a, b) = (
        stat(&dir, "uasA", "IncomingCall(C)"),
        stat(&dir, "uasB", "IncomingCall(C)"),
    );
    assert!(
        a > 0 && b > 0,
        "both nodes take calls: A {a}, B {b}\n{report}"
    );
    assert_eq!(a + b, CALLS, "{report}");
    assert_eq!(
        stat(&dir, "uasA", "SuccessfulCall(C)") + stat(&dir, "uasB", "SuccessfulCall(C)"),
        CALLS,
        "every node BYE got its 200\n{report}"
    );
    assert_eq!(
        stat(&dir, "uasA", "FailedCall(C)") + stat(&dir, "uasB", "FailedCall(C)"),
        0,
        "{report}"
    );
    drop(two);
}

/// Third-party nodes register through the SIP heartbeat (§3.5): OPTIONS with
/// `Mobicents-Heartbeat: 1` and a `key=value` body, every second, to the INTERNAL port. Sent to
/// the EXTERNAL port they register nothing; sent to the internal port, calls reach the nodes.
#[test]
fn sip_heartbeat_registers_nodes_on_the_internal_port_only() {
    let dir = test_dir("sip-heartbeat");
    let lb = Lb::start(&dir, LbPorts::free());
    let ports = [free_port(), free_port()];
    let _uas = [
        start_uas(&dir, "uasA", ports[0], "u1", &[]),
        start_uas(&dir, "uasB", ports[1], "u1", &[]),
    ];
    let body = |name: &str, port: u16, session: &str| sip_heartbeat_body(name, port, session);

    let wrong = SipHeartbeat::start(lb.external(), body("sipA", ports[0], "1001"));
    sleep(Duration::from_millis(2500));
    assert_eq!(
        lb.node_list(),
        Vec::new(),
        "a SIP heartbeat on the external port registers nothing\n{}",
        lb.log()
    );
    assert_eq!(
        wrong.answered.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "and is not answered 200 by the balancer"
    );
    drop(wrong);

    let hb_a = SipHeartbeat::start(lb.internal(), body("sipA", ports[0], "2001"));
    let hb_b = SipHeartbeat::start(lb.internal(), body("sipB", ports[1], "2002"));
    assert!(
        wait_until(Duration::from_secs(5), || lb.node_list().len() == 2),
        "SIP heartbeats on the internal port register both nodes: {:?}\n{}",
        lb.node_list(),
        lb.log()
    );
    let mut names: Vec<String> = lb.node_list().into_iter().map(|(n, _, _)| n).collect();
    names.sort();
    assert_eq!(names, vec!["sipA".to_owned(), "sipB".to_owned()]);
    assert!(
        hb_a.answered.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "answered 200 OK"
    );

    let mut uac = start_uac(&dir, "uac", lb.external(), "u1", 20, 20, &[]);
    let status = uac.wait_for(Duration::from_secs(30));
    assert_uac_ok(&dir, &lb, "uac", status, 20, &["uac", "uasA", "uasB"]);
    wait_uas_done(&dir, &["uasA", "uasB"], 20);
    let report = sipp_report(&dir, &lb, &["uac", "uasA", "uasB"]);
    let (a, b) = (
        stat(&dir, "uasA", "IncomingCall(C)"),
        stat(&dir, "uasB", "IncomingCall(C)"),
    );
    assert!(
        a > 0 && b > 0,
        "both SIP-heartbeat nodes take calls: A {a}, B {b}\n{report}"
    );
    assert_eq!(a + b, 20, "{report}");
    drop((hb_a, hb_b));
}
