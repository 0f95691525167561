//! Properties of the consistent-hash algorithms (docs/decisions.md §8.7, §10.2): removing a
//! node moves only that node's keys (about 1/N of them), adding one moves keys only to it, and
//! two balancer instances with the same node list agree on every key whatever the NodeIds and
//! the registration order.

use proptest::prelude::*;
use std::collections::BTreeMap;
use switchboard_core::algorithm::{
    build, hrw_choose, Algorithm, AlgorithmKind, AlgorithmSettings, KeyFields,
};
use switchboard_core::node::{Node, NodeId, NodeKey, NodePorts, Version};
use switchboard_core::time::Timestamp;

const KEYS: usize = 10_000;

fn node(id: u64, ip: [u8; 4], port: u16) -> Node {
    Node {
        id: NodeId(id),
        host_name: format!("n{id}"),
        key: NodeKey {
            ip: std::net::IpAddr::from(ip),
            ports: NodePorts {
                udp: Some(port),
                tcp: Some(port),
                ..NodePorts::default()
            },
        },
        version: Version::default(),
        session_id: id.to_string(),
        heartbeat_port: None,
        instance_id: None,
        jvm_route: None,
        smpp_port: None,
        properties: BTreeMap::new(),
        graceful: false,
        bad: false,
        suspect: false,
        permanent: false,
        last_seen: Timestamp::ZERO,
    }
}

/// `n` distinct node addresses derived from `seed`.
fn addresses(n: usize, seed: u8) -> Vec<([u8; 4], u16)> {
    (0..n)
        .map(|i| {
            let i = u8::try_from(i).expect("few nodes");
            ([10, seed, i, 1 + i], 5060 + u16::from(i) * 10)
        })
        .collect()
}

fn keys() -> Vec<String> {
    (0..KEYS)
        .map(|i| format!("{i:08x}-call@host.example"))
        .collect()
}

fn ip_port(nodes: &[Node], id: NodeId) -> (std::net::IpAddr, NodePorts) {
    let n = nodes
        .iter()
        .find(|n| n.id == id)
        .expect("chosen among candidates");
    (n.key.ip, n.key.ports)
}

/// Fraction of keys moved when node `victim` of `n` is removed; asserts only its keys moved.
fn removal_fraction(n: usize, victim: usize, seed: u8) -> (f64, f64) {
    let nodes: Vec<Node> = addresses(n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, (ip, port))| node(i as u64 + 1, ip, port))
        .collect();
    let victim_id = nodes[victim].id;
    let rest: Vec<Node> = nodes
        .iter()
        .filter(|n| n.id != victim_id)
        .cloned()
        .collect();
    let (mut moved, mut owned) = (0usize, 0usize);
    for k in keys() {
        let before = hrw_choose(&k, &nodes).expect("node");
        let after = hrw_choose(&k, &rest).expect("node");
        if before == victim_id {
            owned += 1;
        }
        if before != after {
            assert_eq!(before, victim_id, "key {k} moved off a surviving node");
            moved += 1;
        }
    }
    (moved as f64 / KEYS as f64, owned as f64 / KEYS as f64)
}

#[test]
fn removing_a_node_moves_only_its_share() {
    for n in 3..=8 {
        for victim in [0, n / 2, n - 1] {
            let (moved, owned) = removal_fraction(n, victim, 7);
            let ideal = 1.0 / n as f64;
            assert!(
                (moved - owned).abs() < f64::EPSILON,
                "moved == victim's share"
            );
            assert!(
                (moved - ideal).abs() < 0.35 / n as f64,
                "n={n} victim={victim}: moved {moved:.4}, ideal {ideal:.4}"
            );
        }
    }
}

#[test]
fn adding_a_node_moves_keys_only_to_it() {
    for n in 3..=8 {
        let addrs = addresses(n + 1, 9);
        let nodes: Vec<Node> = addrs[..n]
            .iter()
            .enumerate()
            .map(|(i, (ip, port))| node(i as u64 + 1, *ip, *port))
            .collect();
        let mut grown = nodes.clone();
        grown.push(node(100, addrs[n].0, addrs[n].1));
        let mut moved = 0usize;
        for k in keys() {
            let before = hrw_choose(&k, &nodes);
            let after = hrw_choose(&k, &grown);
            if before != after {
                assert_eq!(after, Some(NodeId(100)), "key {k} moved between old nodes");
                moved += 1;
            }
        }
        let frac = moved as f64 / KEYS as f64;
        let ideal = 1.0 / (n + 1) as f64;
        assert!(
            (frac - ideal).abs() < 0.35 / (n + 1) as f64,
            "n={n}: {frac:.4}"
        );
    }
}

fn instance(kind: AlgorithmKind, nodes: &[Node]) -> Box<dyn Algorithm> {
    let mut a = build(&AlgorithmSettings {
        kind,
        ..AlgorithmSettings::default()
    })
    .expect("algorithm");
    for n in nodes {
        a.node_added(n, Timestamp::ZERO);
    }
    a
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Two balancers, nodes registered in different orders with different NodeIds, agree.
    #[test]
    fn two_instances_agree_on_every_key(
        n in 1usize..9,
        seed in 0u8..=255,
        rotate in 0usize..8,
        id_base in 1u64..1_000,
        kind_idx in 0usize..3,
        keys in prop::collection::vec("[a-zA-Z0-9@.-]{1,40}", 1..200),
    ) {
        let kind = [
            AlgorithmKind::HeaderConsistentHash,
            AlgorithmKind::PureConsistentHash,
            AlgorithmKind::PersistentConsistentHash,
        ][kind_idx];
        let addrs = addresses(n, seed);
        let a_nodes: Vec<Node> = addrs
            .iter()
            .enumerate()
            .map(|(i, (ip, port))| node(i as u64 + 1, *ip, *port))
            .collect();
        // Instance B registered the nodes in another order, so NodeIds differ.
        let mut b_addrs = addrs.clone();
        b_addrs.rotate_left(rotate % n);
        b_addrs.reverse();
        let b_nodes: Vec<Node> = b_addrs
            .iter()
            .enumerate()
            .map(|(i, (ip, port))| node(id_base + i as u64, *ip, *port))
            .collect();
        let mut a = instance(kind, &a_nodes);
        let mut b = instance(kind, &b_nodes);
        for k in &keys {
            let req = KeyFields::request("INVITE", k);
            let ca = a.select_for_new_request(&req, &a_nodes, Timestamp::ZERO).expect("a");
            let cb = b.select_for_new_request(&req, &b_nodes, Timestamp::ZERO).expect("b");
            prop_assert_eq!(ip_port(&a_nodes, ca), ip_port(&b_nodes, cb));
        }
    }

    /// Removing any node moves only the keys it owned, for any node set.
    #[test]
    fn removal_moves_only_the_removed_nodes_keys(
        n in 2usize..9,
        seed in 0u8..=255,
        victim in 0usize..8,
        keys in prop::collection::vec("[a-z0-9]{1,24}", 1..300),
    ) {
        let nodes: Vec<Node> = addresses(n, seed)
            .into_iter()
            .enumerate()
            .map(|(i, (ip, port))| node(i as u64 + 1, ip, port))
            .collect();
        let victim = nodes[victim % n].id;
        let rest: Vec<Node> = nodes.iter().filter(|n| n.id != victim).cloned().collect();
        for k in &keys {
            let before = hrw_choose(k, &nodes).expect("node");
            let after = hrw_choose(k, &rest).expect("node");
            prop_assert!(before == after || before == victim);
        }
    }
}
