//! Deliberately broken cores (switched through the core's test-only `fault-injection`
//! feature, per thread) must make the node-crash scenarios fail with a clear invariant message
//! naming the seed: one that never expires a silent node (scenario 2), one that never moves an
//! INVITE its node leaves unanswered (scenario 10).

use std::path::PathBuf;
use switchboard_core::forward::transactions::fault_injection as failover_fault;
use switchboard_core::registry::fault_injection;
use switchboard_sim::Scenario;

#[test]
fn a_core_that_forwards_to_a_dead_node_breaks_the_node_crash_scenario() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/02-node-crash.toml");
    let s = Scenario::from_file(&path).unwrap();

    let healthy = switchboard_sim::run(&s, 5).unwrap();
    assert!(healthy.passed(), "{healthy}");

    fault_injection::set_nodes_never_expire(true);
    let broken = switchboard_sim::run(&s, 5);
    fault_injection::set_nodes_never_expire(false);
    let broken = broken.unwrap();

    assert!(!broken.passed());
    let first = broken
        .violations
        .first()
        .unwrap_or_else(|| panic!("no invariant broke:\n{broken}"))
        .to_string();
    assert!(first.contains("(seed 5)"), "{first}");
    assert!(
        first.contains("to node n1 (10.0.1.2:5080), unreachable since 8.000 s"),
        "{first}"
    );
    // Shown with `cargo test -p switchboard-sim --test broken_core -- --nocapture`.
    #[allow(clippy::print_stdout)]
    {
        println!("{first}");
    }
}

#[test]
fn a_core_that_never_fails_over_loses_the_calls_sent_to_a_crashed_node() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/10-node-crash-with-trying.toml");
    let s = Scenario::from_file(&path).unwrap();

    let healthy = switchboard_sim::run(&s, 5).unwrap();
    assert!(healthy.passed(), "{healthy}");
    assert_eq!(healthy.completed, healthy.placed);

    failover_fault::set_never_fail_over(true);
    let broken = switchboard_sim::run(&s, 5);
    failover_fault::set_never_fail_over(false);
    let broken = broken.unwrap();

    assert!(!broken.passed());
    assert!(broken.completed < broken.placed, "{broken}");
    // The calls the balancer kept sending to the dead node are answered 408 at its Timer B
    // although n0 and n2 served all along.
    let lost = broken
        .violations
        .iter()
        .find(|v| v.what.contains("was live all along"))
        .unwrap_or_else(|| panic!("the served-call invariant did not break:\n{broken}"))
        .to_string();
    assert!(lost.contains("(seed 5)"), "{lost}");
    assert!(lost.contains("ended with INVITE answered 408"), "{lost}");
    // Shown with `cargo test -p switchboard-sim --test broken_core -- --nocapture`.
    #[allow(clippy::print_stdout)]
    {
        println!("{lost}");
        println!(
            "{} of {} calls lost",
            broken.placed - broken.completed,
            broken.placed
        );
    }
}
