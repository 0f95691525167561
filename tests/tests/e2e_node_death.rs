//! End-to-end node death: a node's process is killed (SIGKILL) or frozen (SIGSTOP) in the
//! middle of a SIPp run, over UDP and TCP, the balancer itself crashes and restarts, and nodes
//! that send no heartbeat are taken out of rotation and back in by SIP OPTIONS probing. The
//! caller sees no failed call: an unanswered INVITE goes to another node
//! (`inviteFailoverTimeout`, retransmitted on Timer A when the balancer answered `100 Trying`
//! itself), the silent node gets no new call, the BYE of a call established on the dead node
//! is answered by the survivor, and a restarted balancer stays silent toward UDP callers
//! (`startupGracePeriod`) until the nodes re-register.
//!
//! The nodes run `scenarios/uas_node.xml`: it answers OPTIONS and BYEs of calls it never saw
//! with 200 OK, so SIPp's call counters include those; calls are counted with the per-message
//! counter `3_INVITE_Recv`.

mod common;

use common::{
    free_port, scenario, sipp_count, sipp_report, sipp_stat, start_uac, start_uas, test_dir,
    wait_until, Lb, LbExtra, LbPorts, Node, NodeOptions, Probing, Proc, SipSink, StaticNode,
    LOCALHOST,
};
use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The node scenario's per-message counters (see the scenario file).
const OPTIONS_RECV: &str = "0_OPTIONS_Recv";
const STRAY_BYE_RECV: &str = "1_BYE_Recv";
const INVITE_RECV: &str = "3_INVITE_Recv";
const CALL_BYE_RECV: &str = "7_BYE_Recv";

/// A passing run's timings and counts, shown by `cargo test -- --nocapture`.
#[allow(clippy::print_stderr, reason = "the test's own report")]
fn note(text: &str) {
    eprintln!("{text}");
}

fn node_scenario() -> String {
    scenario("uas_node.xml")
        .to_str()
        .expect("scenario path")
        .to_owned()
}

fn stat(dir: &Path, name: &str, column: &str) -> u64 {
    sipp_stat(dir, name, column).unwrap_or(0)
}

/// A per-message counter of a node running `uas_node.xml` (written every second).
fn count(dir: &Path, uas: &Proc, column: &str) -> u64 {
    sipp_count(dir, "uas_node", uas.pid(), column).unwrap_or(0)
}

/// The counters of the node scenario that tell what each node received, for reports.
fn node_counts(dir: &Path, uas: &[(&str, &Proc)]) -> String {
    uas.iter()
        .map(|(name, p)| {
            format!(
                "{name} (pid {}): INVITE {}, BYE of its calls {}, stray BYE {}, OPTIONS {}",
                p.pid(),
                count(dir, p, INVITE_RECV),
                count(dir, p, CALL_BYE_RECV),
                count(dir, p, STRAY_BYE_RECV),
                count(dir, p, OPTIONS_RECV),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `(ip, properties.staticNode, state)` of the node `host` as `/lbinfo` lists it.
fn lbinfo_node(lb: &Lb, host: &str) -> Option<(String, String, String)> {
    let info = lb.lbinfo()?;
    let node = info["Nodes info"]["nodesIPv4"]
        .as_array()?
        .iter()
        .find(|n| n["hostName"].as_str() == Some(host))?
        .clone();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    Some((
        text(&node["ip"]),
        text(&node["properties"]["staticNode"]),
        text(&node["state"]),
    ))
}

/// The `/lbinfo` state of the node `host` (`up`, `suspect`, `bad`, `graceful`), or `""`.
fn state(lb: &Lb, host: &str) -> String {
    lbinfo_node(lb, host).map(|(_, _, s)| s).unwrap_or_default()
}

/// Asserts that the UAC `name` exited 0 with `calls` successful calls and none failed.
fn assert_uac_ok(
    dir: &Path,
    name: &str,
    status: Option<ExitStatus>,
    calls: u64,
    report: &dyn Fn() -> String,
) {
    assert!(
        matches!(status, Some(s) if s.success()),
        "{name} did not complete every call (exit {status:?})\n{}",
        report()
    );
    assert_eq!(
        (
            stat(dir, name, "SuccessfulCall(C)"),
            stat(dir, name, "FailedCall(C)")
        ),
        (calls, 0),
        "{name}: (successful, failed) calls\n{}",
        report()
    );
}

/// Two SIPp nodes running `uas_node.xml`, registered through the JSON heartbeat.
struct Nodes {
    ports: [u16; 2],
    uas: [Proc; 2],
    nodes: [Node; 2],
}

fn start_nodes(dir: &Path, lb: &Lb, transport: &str, options: &NodeOptions) -> Nodes {
    let ports = [free_port(), free_port()];
    let sf = node_scenario();
    let uas = [
        start_uas(dir, "uasA", ports[0], transport, &["-sf", &sf]),
        start_uas(dir, "uasB", ports[1], transport, &["-sf", &sf]),
    ];
    sleep(Duration::from_millis(300));
    let nodes = [
        Node::register_with(lb.heartbeat(), "nA", LOCALHOST, ports[0], options),
        Node::register_with(lb.heartbeat(), "nB", LOCALHOST, ports[1], options),
    ];
    Nodes { ports, uas, nodes }
}

/// 80 calls of 6 s at 20 calls/s; node A's process is killed (SIGKILL) and its heartbeats
/// stop 2.5 s into the run, while about 50 calls are established or being set up, half of
/// them on A. The balancer drops A nodeTimeout (3 s) after its last sign of life at the
/// latest. Every call succeeds at the caller: INVITEs A never answered go to B, and the
/// caller's BYEs of A's calls (sent 6 s after their 200) reach B, which answers them.
fn node_killed_mid_run(test: &str, transport: &str, send_trying: bool) {
    node_dies_mid_run(test, transport, send_trying, Death::Killed);
}

/// How node A dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Death {
    /// SIGKILL: its port is closed, so datagrams to it are refused (ICMP) and connections
    /// reset.
    Killed,
    /// SIGSTOP: its port stays open and takes everything in silence, like a hung server or a
    /// host that is gone; only timers can tell.
    Frozen,
}

fn node_dies_mid_run(test: &str, transport: &str, send_trying: bool, death: Death) {
    const CALLS: u64 = 80;
    let dir = test_dir(test);
    let extra = LbExtra {
        node_timeout_ms: Some(3000),
        send_trying: Some(send_trying),
        ..LbExtra::default()
    };
    let lb = Lb::start_extra(&dir, LbPorts::free(), &extra);
    let mut n = start_nodes(&dir, &lb, transport, &NodeOptions::default());
    let began = Instant::now();
    let mut uac = start_uac(
        &dir,
        "uac",
        lb.external(),
        transport,
        CALLS,
        20,
        &["-d", "6000"],
    );
    sleep(Duration::from_millis(2500));
    match death {
        Death::Killed => n.uas[0].kill(),
        Death::Frozen => {
            let pid = n.uas[0].pid().to_string();
            let stopped = std::process::Command::new("kill")
                .args(["-STOP", &pid])
                .status();
            assert!(
                matches!(stopped, Ok(s) if s.success()),
                "SIGSTOP {pid}: {stopped:?}"
            );
        }
    }
    n.nodes[0].halt();
    let killed_at = began.elapsed();
    let status = uac.wait_for(Duration::from_secs(45));
    let took = began.elapsed();
    let [uas_a, uas_b] = &n.uas;
    let report = || {
        format!(
            "A {death:?} {killed_at:?} into the run, the caller ended {took:?} into it\n{}\n{}",
            node_counts(&dir, &[("uasA", uas_a), ("uasB", uas_b)]),
            sipp_report(&dir, &lb, &["uac", "uasA", "uasB"])
        )
    };
    assert_uac_ok(&dir, "uac", status, CALLS, &report);
    // B's counters are written every second.
    let stray_byes = || count(&dir, uas_b, STRAY_BYE_RECV);
    wait_until(Duration::from_secs(3), || stray_byes() > 0);
    assert!(
        stray_byes() > 0,
        "A had established calls when it died: their BYEs go to B\n{}",
        report()
    );
    assert_eq!(
        lb.node_list()
            .iter()
            .map(|(name, _, _)| name.as_str())
            .collect::<Vec<_>>(),
        vec!["nB"],
        "the dead node is dropped nodeTimeout after its last sign of life\n{}",
        report()
    );
    note(&format!(
        "{test}: {CALLS} calls, none failed; A {death:?} after {killed_at:?}, caller done after \
         {took:?}, B answered {} stray BYEs, ports {:?}",
        stray_byes(),
        n.ports
    ));
}

/// UDP, the balancer answers `100 Trying`: the caller stops retransmitting, so the balancer
/// retransmits the INVITE to A on Timer A and moves it to B after inviteFailoverTimeout.
#[test]
fn udp_node_killed_with_trying_loses_no_call() {
    node_killed_mid_run("killed-udp-trying", "u1", true);
}

/// UDP, `100 Trying` from the balancer, and A hangs (SIGSTOP) instead of dying: nothing
/// refuses the datagrams sent to it, so only inviteFailoverTimeout moves its unanswered
/// INVITEs to B and makes it suspect.
#[test]
fn udp_node_frozen_with_trying_loses_no_call() {
    node_dies_mid_run("frozen-udp-trying", "u1", true, Death::Frozen);
}

/// A node that takes INVITEs in silence (a socket that answers nothing, registered by
/// heartbeat) next to a SIPp node, `100 Trying` from the balancer: each INVITE the silent node
/// gets is retransmitted to it on Timer A (T1 = 500 ms, so at least twice within the 1 s
/// inviteFailoverTimeout) while the caller, which got the balancer's `100`, retransmits
/// nothing; then it goes to the SIPp node, the silent node gets no new call, and every call
/// succeeds.
#[test]
fn udp_silent_node_gets_timer_a_retransmissions_then_loses_the_invite() {
    const CALLS: u64 = 12;
    let dir = test_dir("silent-timer-a");
    let lb = Lb::start_extra(&dir, LbPorts::free(), &LbExtra::default());
    let sink = SipSink::start();
    let b_port = free_port();
    let uas_b = start_uas(&dir, "uasB", b_port, "u1", &["-sf", &node_scenario()]);
    sleep(Duration::from_millis(300));
    let _silent = Node::register(lb.heartbeat(), "silent", sink.port);
    let _b = Node::register(lb.heartbeat(), "nB", b_port);
    let began = Instant::now();
    let mut uac = start_uac(&dir, "uac", lb.external(), "u1", CALLS, 3, &[]);
    let status = uac.wait_for(Duration::from_secs(30));
    let took = began.elapsed();
    let invites: Vec<String> = sink
        .received
        .lock()
        .expect("sink log")
        .iter()
        .filter(|m| m.starts_with("INVITE "))
        .map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("Call-ID:"))
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .collect();
    let mut copies: Vec<(String, usize)> = Vec::new();
    for id in &invites {
        match copies.iter_mut().find(|(c, _)| c == id) {
            Some((_, n)) => *n += 1,
            None => copies.push((id.clone(), 1)),
        }
    }
    let report = || {
        format!(
            "the silent node got (Call-ID, copies) {copies:?}; the caller ended after \
             {took:?}\n{}\n{}",
            node_counts(&dir, &[("uasB", &uas_b)]),
            sipp_report(&dir, &lb, &["uac", "uasB"])
        )
    };
    assert_uac_ok(&dir, "uac", status, CALLS, &report);
    assert!(
        !copies.is_empty() && copies.iter().all(|(_, n)| *n >= 2),
        "each INVITE the silent node got was retransmitted to it on Timer A\n{}",
        report()
    );
    assert!(
        copies.len() < CALLS as usize / 2,
        "the silent node stops getting new calls once one INVITE went unanswered\n{}",
        report()
    );
    wait_until(Duration::from_secs(3), || {
        count(&dir, &uas_b, INVITE_RECV) >= CALLS
    });
    assert_eq!(
        count(&dir, &uas_b, INVITE_RECV),
        CALLS,
        "every call ends on B\n{}",
        report()
    );
    let caller_retransmissions = sipp_count(&dir, "uac", uac.pid(), "0_INVITE_Retrans");
    assert_eq!(
        caller_retransmissions,
        Some(0),
        "the caller got 100 Trying from the balancer and retransmitted nothing\n{}",
        report()
    );
    note(&format!(
        "silent-timer-a: {CALLS} calls, none failed; the silent node got {copies:?}; caller \
         done after {took:?}"
    ));
}

/// UDP without `100 Trying` from the balancer: the caller's own INVITE retransmission goes to
/// B once the unanswered INVITE has made A suspect.
#[test]
fn udp_node_killed_without_trying_loses_no_call() {
    node_killed_mid_run("killed-udp-no-trying", "u1", false);
}

/// TCP: the balancer's connection to A is reset and new connections are refused; A becomes
/// suspect and what was meant for it goes to B.
#[test]
fn tcp_node_killed_loses_no_call() {
    node_killed_mid_run("killed-tcp", "t1", true);
}

/// The balancer is killed (SIGKILL) about 2.5 s into a run of 60 calls of 2 s at 10 calls/s,
/// right after the nodes' heartbeats, and started again at once on the same configuration and
/// ports. The caller follows the
/// Record-Route set, as user agents do. It knows no node until the
/// nodes' next heartbeat (every 500 ms) is answered UNKNOWN_SESSION and they send `start`
/// again; in that gap it answers no initial request that came over UDP (the default
/// startupGracePeriod), so the caller's retransmissions reach a node once they are back. The
/// BYEs of calls established before the crash carry their node in the Route, so each reaches
/// the node of its call. No call fails.
#[test]
fn restarted_balancer_rejects_nothing() {
    const CALLS: u64 = 60;
    let dir = test_dir("lb-restart");
    let mut lb = Lb::start_extra(&dir, LbPorts::free(), &LbExtra::default());
    let options = NodeOptions {
        interval: Duration::from_millis(500),
        restart_on_unknown_session: true,
    };
    let n = start_nodes(&dir, &lb, "u1", &options);
    let uac_sf = scenario("uac_routes.xml");
    let uac_sf = uac_sf.to_str().expect("scenario path");
    let began = Instant::now();
    let mut uac = start_uac(
        &dir,
        "uac",
        lb.external(),
        "u1",
        CALLS,
        10,
        &["-sf", uac_sf, "-d", "2000"],
    );
    // Crash right after both nodes' heartbeats were answered: the restarted balancer then
    // knows no node for most of a heartbeat interval, while INVITEs and BYEs keep coming.
    sleep(Duration::from_millis(2500));
    let beats = || {
        n.nodes
            .each_ref()
            .map(|node| node.heartbeats.load(Ordering::Relaxed))
    };
    let before = beats();
    let deadline = Instant::now() + Duration::from_secs(2);
    while beats().iter().zip(before).any(|(now, then)| *now == then) && Instant::now() < deadline {
        sleep(Duration::from_millis(2));
    }
    let crash = Instant::now();
    lb.crash_and_restart();
    let down_for = crash.elapsed();
    let crashed_at = crash - began;
    let back = wait_until(Duration::from_secs(5), || lb.node_list().len() == 2);
    let registered_after = crash.elapsed();
    let status = uac.wait_for(Duration::from_secs(45));
    let took = began.elapsed();
    let [uas_a, uas_b] = &n.uas;
    let report = || {
        format!(
            "crashed {crashed_at:?} into the run, listening again after {down_for:?}, both \
             nodes registered again {registered_after:?} after the crash ({back}), the caller \
             ended {took:?} into the run; nodes: {:?}\n{}\n{}",
            lb.node_list(),
            node_counts(&dir, &[("uasA", uas_a), ("uasB", uas_b)]),
            sipp_report(&dir, &lb, &["uac", "uasA", "uasB"])
        )
    };
    assert!(back, "the nodes register again\n{}", report());
    assert!(
        n.nodes
            .iter()
            .all(|node| node.restarts.load(Ordering::Relaxed) >= 1),
        "each node was told UNKNOWN_SESSION and sent start again\n{}",
        report()
    );
    assert_uac_ok(&dir, "uac", status, CALLS, &report);
    let byes = |p: &Proc| count(&dir, p, CALL_BYE_RECV);
    wait_until(Duration::from_secs(3), || {
        byes(uas_a) + byes(uas_b) >= CALLS
    });
    assert_eq!(
        (
            byes(uas_a) + byes(uas_b),
            count(&dir, uas_a, STRAY_BYE_RECV) + count(&dir, uas_b, STRAY_BYE_RECV)
        ),
        (CALLS, 0),
        "(BYEs that reached the node of their call, BYEs that reached the other node)\n{}",
        report()
    );
    note(&format!(
        "restarted_balancer_rejects_nothing: {CALLS} calls, none failed; crash {crashed_at:?} \
         into the run, listening again after {down_for:?}, nodes back after \
         {registered_after:?}, caller done after {took:?}, ports {:?}",
        n.ports
    ));
}

/// Two static nodes (no heartbeat) probed with OPTIONS every 300 ms. Node B's SIPp is killed
/// and a socket that answers nothing takes its port: after 2 unanswered probes B gets no new
/// call (the socket sees probes but no INVITE) and every call succeeds on A. A SIPp on B's
/// port again answers the probes: after 2 answered ones B takes calls again.
/// Two static nodes, `staticA` and `staticB`, on 127.0.0.1 at `ports`.
fn static_pair(ports: [u16; 2]) -> Vec<StaticNode> {
    ["staticA", "staticB"]
        .into_iter()
        .zip(ports)
        .map(|(name, port)| StaticNode {
            host_name: name.to_owned(),
            port,
        })
        .collect()
}

#[test]
fn static_node_probing() {
    let dir = test_dir("static-probing");
    let ports = [free_port(), free_port()];
    let sf = node_scenario();
    let uas_a = start_uas(&dir, "uasA", ports[0], "u1", &["-sf", &sf]);
    let mut uas_b = start_uas(&dir, "uasB", ports[1], "u1", &["-sf", &sf]);
    sleep(Duration::from_millis(300));
    let extra = LbExtra {
        static_nodes: static_pair(ports),
        probing: Some(Probing {
            interval_ms: 300,
            failure_threshold: 2,
            success_threshold: 2,
        }),
        ..LbExtra::default()
    };
    let lb = Lb::start_extra(&dir, LbPorts::free(), &extra);
    let began = Instant::now();
    let report = |uas: &[(&str, &Proc)], names: &[&str]| {
        format!(
            "nodes: {:?}\n{}\n{}",
            lb.node_list(),
            node_counts(&dir, uas),
            sipp_report(&dir, &lb, names)
        )
    };

    // /lbinfo lists both static nodes, up once they answer probes.
    let up = Some(("127.0.0.1".to_owned(), "true".to_owned(), "up".to_owned()));
    wait_until(Duration::from_secs(3), || {
        state(&lb, "staticA") == "up" && state(&lb, "staticB") == "up"
    });
    assert_eq!(
        (lbinfo_node(&lb, "staticA"), lbinfo_node(&lb, "staticB")),
        (up.clone(), up),
        "/lbinfo: (ip, staticNode, state) of each static node: {:?}\n{}",
        lb.lbinfo(),
        lb.log()
    );

    // Both are probed and both take calls.
    let probed = wait_until(Duration::from_secs(3), || {
        count(&dir, &uas_a, OPTIONS_RECV) >= 2 && count(&dir, &uas_b, OPTIONS_RECV) >= 2
    });
    assert!(
        probed,
        "both static nodes get OPTIONS probes\n{}",
        report(&[("uasA", &uas_a), ("uasB", &uas_b)], &["uasA", "uasB"])
    );
    let mut uac1 = start_uac(&dir, "uac1", lb.external(), "u1", 20, 20, &[]);
    let status = uac1.wait_for(Duration::from_secs(20));
    let names = ["uac1", "uasA", "uasB"];
    let both = [("uasA", &uas_a), ("uasB", &uas_b)];
    assert_uac_ok(&dir, "uac1", status, 20, &|| report(&both, &names));
    let invites = |p: &Proc| count(&dir, p, INVITE_RECV);
    wait_until(Duration::from_secs(3), || {
        invites(&uas_a) + invites(&uas_b) >= 20
    });
    assert!(
        invites(&uas_a) > 0 && invites(&uas_b) > 0,
        "both static nodes take calls\n{}",
        report(&both, &names)
    );

    // B dies; its port is taken by a socket that answers nothing.
    uas_b.kill();
    let sink = SipSink::start_on(ports[1]);
    let killed = Instant::now();
    let out = wait_until(Duration::from_secs(4), || state(&lb, "staticB") != "up");
    let out_after = killed.elapsed();
    assert!(
        out,
        "B leaves rotation after 2 unanswered probes (300 ms apart): still {:?} after \
         {out_after:?}; B's port got: {:?}\n{}",
        lbinfo_node(&lb, "staticB"),
        sink.received.lock().expect("sink log").len(),
        lb.log()
    );
    let a_before = invites(&uas_a);
    let sink_invites_before = sink.count("INVITE sip:");
    let mut uac2 = start_uac(&dir, "uac2", lb.external(), "u1", 20, 10, &[]);
    let status = uac2.wait_for(Duration::from_secs(20));
    let names = ["uac2", "uasA"];
    let only_a = [("uasA", &uas_a)];
    assert_uac_ok(&dir, "uac2", status, 20, &|| report(&only_a, &names));
    wait_until(Duration::from_secs(3), || invites(&uas_a) >= a_before + 20);
    let probes = sink.count("OPTIONS sip:");
    let b_lines = |sink: &SipSink| {
        sink.received
            .lock()
            .expect("sink log")
            .iter()
            .map(|m| m.lines().next().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (
            sink.count("INVITE sip:") - sink_invites_before,
            invites(&uas_a) - a_before
        ),
        (0, 20),
        "(INVITEs to the dead B, INVITEs to A) once B missed 2 probes; B's port got: {:?}\n{}",
        b_lines(&sink),
        report(&only_a, &names)
    );
    assert!(
        probes >= 2,
        "the dead node is still probed: {:?}",
        b_lines(&sink)
    );
    let internal_via = format!("SIP/2.0/UDP 127.0.0.1:{};", lb.ports.internal);
    let probe_via = sink
        .received
        .lock()
        .expect("sink log")
        .iter()
        .filter(|m| m.starts_with("OPTIONS "))
        .all(|m| m.contains(&internal_via));
    assert!(
        probe_via,
        "probes come from the internal listener ({internal_via}): {:?}",
        sink.received.lock().expect("sink log").first()
    );

    // B comes back on the same port.
    drop(sink);
    let uas_b2 = start_uas(&dir, "uasB2", ports[1], "u1", &["-sf", &sf]);
    let restarted = Instant::now();
    let back = wait_until(Duration::from_secs(4), || state(&lb, "staticB") == "up");
    let back_after = restarted.elapsed();
    assert!(
        back,
        "B is back in rotation after 2 answered probes: still {:?} after {back_after:?}\n{}",
        lbinfo_node(&lb, "staticB"),
        report(&[("uasA", &uas_a), ("uasB2", &uas_b2)], &["uasA", "uasB2"])
    );
    let (a_before, b_before) = (invites(&uas_a), invites(&uas_b2));
    let mut uac3 = start_uac(&dir, "uac3", lb.external(), "u1", 40, 20, &[]);
    let status = uac3.wait_for(Duration::from_secs(20));
    let names = ["uac3", "uasA", "uasB2"];
    let both = [("uasA", &uas_a), ("uasB2", &uas_b2)];
    assert_uac_ok(&dir, "uac3", status, 40, &|| report(&both, &names));
    wait_until(Duration::from_secs(3), || {
        invites(&uas_a) + invites(&uas_b2) >= a_before + b_before + 40
    });
    let (a, b) = (invites(&uas_a) - a_before, invites(&uas_b2) - b_before);
    assert!(
        a > 0 && b > 0 && a + b == 40,
        "both nodes take calls once B answers probes again: A {a}, B {b}\n{}",
        report(&both, &names)
    );
    assert!(
        count(&dir, &uas_b2, OPTIONS_RECV) >= 2,
        "the restarted B is probed\n{}",
        report(&both, &names)
    );
    note(&format!(
        "static_node_probing: B out of rotation {out_after:?} after it died ({probes} \
         unanswered probes, no INVITE), back {back_after:?} after it restarted; then A {a}, \
         B {b} of 40; whole test {:?}",
        began.elapsed()
    ));
}

/// `/lbinfo` shows each static node's SIP ports in its properties, as it does for nodes that
/// announce them in their heartbeat (two static nodes on one IP differ only by them).
#[test]
fn lbinfo_shows_the_ports_of_static_nodes() {
    let dir = test_dir("static-lbinfo");
    let ports = [free_port(), free_port()];
    let extra = LbExtra {
        static_nodes: static_pair(ports),
        ..LbExtra::default()
    };
    let lb = Lb::start_extra(&dir, LbPorts::free(), &extra);
    let mut listed: Vec<(String, String)> = lb
        .node_list()
        .into_iter()
        .map(|(name, port, _)| (name, port))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("staticA".to_owned(), ports[0].to_string()),
            ("staticB".to_owned(), ports[1].to_string())
        ],
        "(hostName, properties.udpPort) in /lbinfo: {:?}",
        lb.lbinfo()
    );
}
