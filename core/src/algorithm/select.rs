//! Picking a node for new work: deterministic round-robin (§4.2) or ramp-up (§4.2, issue #110).

use super::rampup::RampUp;
use crate::node::{Node, NodeId};
use crate::time::Timestamp;

/// Round-robin over the candidate slice (NodeId order), skipping graceful and bad nodes.
///
/// Instead of the reference's map iterator reset on every membership change, it remembers the
/// last node it chose and takes the first eligible candidate with a larger id (wrapping), so
/// the rotation is stable when nodes come and go and identical for identical inputs.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    last: Option<NodeId>,
}

impl RoundRobin {
    /// The next eligible node after the last one chosen, or `None` if none accepts new work.
    pub fn pick(&mut self, candidates: &[Node]) -> Option<NodeId> {
        self.pick_where(candidates, |_| true)
    }

    /// Like [`RoundRobin::pick`] but only among nodes for which `allow` is true.
    pub fn pick_where(
        &mut self,
        candidates: &[Node],
        allow: impl Fn(&Node) -> bool,
    ) -> Option<NodeId> {
        let ok = |n: &&Node| n.accepts_new_work() && allow(n);
        let after = self
            .last
            .and_then(|last| candidates.iter().filter(ok).find(|n| n.id > last));
        let chosen = after.or_else(|| candidates.iter().find(ok))?;
        self.last = Some(chosen.id);
        Some(chosen.id)
    }
}

/// The node picker used for new keys: plain round-robin, or ramp-up when both
/// `trafficRampupCyclePeriod` and `trafficPercentageIncrease` are set.
#[derive(Debug, Clone)]
pub enum Selector {
    /// Round-robin.
    RoundRobin(RoundRobin),
    /// Weighted ramp-up of fresh nodes.
    RampUp(RampUp),
}

impl Selector {
    /// Builds the picker from the optional ramp-up settings.
    pub fn new(rampup: Option<super::RampUpSettings>) -> Selector {
        match rampup {
            Some(r) => Selector::RampUp(RampUp::new(r)),
            None => Selector::RoundRobin(RoundRobin::default()),
        }
    }

    /// Call on the registry's node-added event.
    pub fn node_added(&mut self, node: &Node, now: Timestamp) {
        if let Selector::RampUp(r) = self {
            r.node_added(node.id, now);
        }
    }

    /// Call on the registry's node-removed event.
    pub fn node_removed(&mut self, node: &Node) {
        if let Selector::RampUp(r) = self {
            r.node_removed(node.id);
        }
    }

    /// Picks a node for new work among `candidates` (graceful and bad nodes skipped).
    pub fn pick(&mut self, candidates: &[Node], now: Timestamp) -> Option<NodeId> {
        match self {
            Selector::RoundRobin(rr) => rr.pick(candidates),
            Selector::RampUp(r) => r.pick(candidates, now),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::node::{NodeKey, NodePorts, Version};
    use std::collections::BTreeMap;

    /// A test node `id` at 10.0.0.`id`:5060 (udp).
    pub(crate) fn node(id: u64) -> Node {
        let last = u8::try_from(id % 250).unwrap_or(0);
        node_at(id, &format!("10.0.0.{last}"), 5060)
    }

    /// A test node with an explicit address.
    pub(crate) fn node_at(id: u64, ip: &str, port: u16) -> Node {
        Node {
            id: NodeId(id),
            host_name: format!("node{id}"),
            key: NodeKey {
                ip: ip.parse().expect("test ip"),
                ports: NodePorts {
                    udp: Some(port),
                    tcp: Some(port),
                    ..NodePorts::default()
                },
            },
            version: Version::default(),
            session_id: "1".into(),
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

    #[test]
    fn round_robin_rotates_and_skips_graceful_and_bad() {
        let mut nodes = vec![node(1), node(2), node(3)];
        nodes[1].graceful = true;
        let mut rr = RoundRobin::default();
        let picks: Vec<_> = (0..4).map(|_| rr.pick(&nodes).unwrap().0).collect();
        assert_eq!(picks, [1, 3, 1, 3]);
        nodes[0].bad = true;
        nodes[2].bad = true;
        assert_eq!(rr.pick(&nodes), None);
    }

    #[test]
    fn round_robin_is_stable_across_membership_changes() {
        let mut rr = RoundRobin::default();
        let all = vec![node(1), node(2), node(3)];
        assert_eq!(rr.pick(&all), Some(NodeId(1)));
        // Node 2 disappears: the rotation continues after 1 with 3, not back at the start.
        let without = vec![node(1), node(3)];
        assert_eq!(rr.pick(&without), Some(NodeId(3)));
        assert_eq!(rr.pick(&all), Some(NodeId(1)));
    }
}
