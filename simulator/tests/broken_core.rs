//! A deliberately broken core (node expiry switched off through the core's test-only
//! `fault-injection` feature) must make the node-crash scenario fail with a clear invariant
//! message naming the dead node and the seed.

use std::path::PathBuf;
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
