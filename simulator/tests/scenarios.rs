//! The failure stories of the simulator, each across 20 seeds: every invariant holds and
//! every expectation of the scenario file is met.

use std::path::PathBuf;
use switchboard_sim::Scenario;

const SEEDS: u64 = 20;

fn scenario(file: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    Scenario::from_file(&path).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn passes_across_seeds(file: &str) {
    passes_across_seeds_of(&scenario(file), file);
}

fn passes_across_seeds_of(s: &Scenario, file: &str) {
    let mut failures = Vec::new();
    for seed in 1..=SEEDS {
        let report = switchboard_sim::run(s, seed).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(report.placed, s.call_count() as u64, "{file} seed {seed}");
        if !report.passed() {
            failures.push(report.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{file}: {} of {SEEDS} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn s01_steady_state() {
    passes_across_seeds("01-steady-state.toml");
}

#[test]
fn s02_node_crash_mid_call() {
    passes_across_seeds("02-node-crash.toml");
}

#[test]
fn s03_graceful_shutdown() {
    passes_across_seeds("03-graceful-shutdown.toml");
}

#[test]
fn s04_lost_heartbeats_then_recovery() {
    passes_across_seeds("04-lost-heartbeats.toml");
}

#[test]
fn s05_restart_with_new_session_within_node_timeout() {
    passes_across_seeds("05-restart-new-session.toml");
}

#[test]
fn s06_rolling_upgrade() {
    passes_across_seeds("06-rolling-upgrade.toml");
}

#[test]
fn s07_two_balancers_sprayed_with_consistent_hash() {
    passes_across_seeds("07-two-balancers-spray.toml");
}

#[test]
fn s08_lossy_reordering_network() {
    passes_across_seeds("08-lossy-network.toml");
}

#[test]
fn s09_node_answering_503_is_marked_bad() {
    passes_across_seeds("09-node-answers-503.toml");
}

#[test]
fn s10_node_crash_while_the_balancer_owns_its_invites() {
    passes_across_seeds("10-node-crash-with-trying.toml");
}

#[test]
fn s11_node_crash_with_tcp_callers_and_nodes() {
    passes_across_seeds("11-tcp-node-crash.toml");
}

#[test]
fn s12_smpp_provider_crash_and_partition() {
    passes_across_seeds("12-smpp-provider-crash.toml");
}

#[test]
fn s13_smpp_customer_crashes() {
    passes_across_seeds("13-smpp-customer-crash.toml");
}

#[test]
fn a_trace_of_smpp_traffic_replays_bit_for_bit() {
    // Customers accepted, provider connections opened, reset by the crash and refused while
    // the provider is down, PDUs in chunks: the replay reproduces every output.
    let s = scenario("12-smpp-provider-crash.toml");
    let (report, trace) = switchboard_sim::run_traced(&s, 4).unwrap();
    assert!(report.passed(), "{report}");
    for input in [
        "\"Accepted\"",
        "\"Connected\"",
        "\"ConnectFailed\"",
        "\"IoError\"",
    ] {
        assert!(trace.text.contains(input), "no {input} input recorded");
    }
    let replayed = switchboard_sim::trace::replay(&trace.text).unwrap();
    assert_eq!(replayed.seed, 4);
    assert!(replayed.inputs > 1000);
}

#[test]
fn a_trace_of_tcp_connections_replays_bit_for_bit() {
    // Connections accepted and opened, bytes in chunks, resets on the crash: the replay
    // reproduces them from the recorded inputs alone.
    let s = scenario("11-tcp-node-crash.toml");
    let (report, trace) = switchboard_sim::run_traced(&s, 5).unwrap();
    assert!(report.passed(), "{report}");
    for input in [
        "\"Accepted\"",
        "\"Connected\"",
        "\"ConnectFailed\"",
        "\"IoError\"",
    ] {
        assert!(trace.text.contains(input), "no {input} input recorded");
    }
    let replayed = switchboard_sim::trace::replay(&trace.text).unwrap();
    assert_eq!(replayed.seed, 5);
    assert!(replayed.inputs > 1000);
}

/// In-dialog requests over TCP toward a node that crashed and is still registered: the
/// balancer's connection to it is refused, so the request is routed again, to another node of
/// the version (the dialog fails over, behaviour reference §1.22), instead of being sent to
/// the dead node once more and dropped. A TCP caller does not retransmit (RFC 3261
/// §17.1.2.2): without this its BYE would time out.
#[test]
fn tcp_in_dialog_requests_to_a_crashed_node_fail_over() {
    let mut s = scenario("11-tcp-node-crash.toml");
    for t in &mut s.traffic {
        t.hangup = switchboard_sim::scenario::Hangup::Caller;
    }
    passes_across_seeds_of(&s, "11-tcp-node-crash.toml, callers hang up");
}

#[test]
fn call_id_affinity_is_not_distributable_and_the_affinity_invariant_says_so() {
    // The same spraying topology with Call-ID affinity: each balancer has its own map, so a
    // retransmission sprayed to the other balancer may land on another node. A caller stops
    // retransmitting at the balancer's 100 Trying (RFC 3261 §17.1.1.2), so the nodes ring for
    // 800 ms (past T1, within inviteFailoverTimeout): a caller whose 100 Trying was lost
    // retransmits its INVITE before the answer.
    let mut s = scenario("07-two-balancers-spray.toml");
    s.balancers.algorithm = "call-id-affinity".into();
    for group in &mut s.nodes {
        group.answer_delay_ms = 800;
    }
    let broke = (1..=SEEDS).any(|seed| {
        let r = switchboard_sim::run(&s, seed).unwrap();
        r.violations
            .iter()
            .any(|v| v.what.contains("while the call's node"))
    });
    assert!(broke, "spraying never split a call across nodes");
}

#[test]
fn a_run_is_a_function_of_its_seed_and_its_trace_replays_bit_for_bit() {
    let s = scenario("02-node-crash.toml");
    let (a, trace_a) = switchboard_sim::run_traced(&s, 7).unwrap();
    let (b, trace_b) = switchboard_sim::run_traced(&s, 7).unwrap();
    assert_eq!(
        a.to_string().lines().skip(2).collect::<Vec<_>>(),
        b.to_string().lines().skip(2).collect::<Vec<_>>()
    );
    assert_eq!(trace_a.text, trace_b.text);
    let replayed = switchboard_sim::trace::replay(&trace_a.text).unwrap();
    assert_eq!(replayed.seed, 7);
    assert!(replayed.inputs > 1000);
    // A trace with one datagram input left out no longer reproduces the outputs.
    let mut lines: Vec<&str> = trace_a.text.lines().collect();
    let cut = lines
        .iter()
        .position(|l| l.contains("\"Datagram\""))
        .expect("datagram inputs recorded");
    lines.remove(cut);
    let footer = lines.pop().unwrap().to_owned();
    let footer = footer.replacen(
        &format!("\"inputs\":{}", replayed.inputs),
        &format!("\"inputs\":{}", replayed.inputs - 1),
        1,
    );
    let tampered = format!("{}\n{footer}\n", lines.join("\n"));
    assert!(matches!(
        switchboard_sim::trace::replay(&tampered),
        Err(switchboard_sim::trace::ReplayError::Diverged { .. })
    ));
    let (c, _) = switchboard_sim::run_traced(&s, 8).unwrap();
    assert_ne!(a.steps, c.steps, "another seed, another run");
}

#[test]
fn a_trace_of_a_node_crash_with_failed_over_invites_replays_bit_for_bit() {
    // The INVITEs move to another node inside the balancer's timer handling: the replay
    // must reproduce them from the recorded timeouts alone.
    let s = scenario("10-node-crash-with-trying.toml");
    let (report, trace) = switchboard_sim::run_traced(&s, 3).unwrap();
    assert!(report.passed(), "{report}");
    assert!(report.failovers > 0);
    let replayed = switchboard_sim::trace::replay(&trace.text).unwrap();
    assert_eq!(replayed.seed, 3);
    assert!(replayed.inputs > 1000);
}
