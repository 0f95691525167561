//! ActiveStandby (§4.8): all new work goes to one "current" node per address family.
//!
//! Fixes of the reference (docs/decisions.md §8.9): no lock (so "no node available" is just
//! `None`, never a hang); one current node for IPv4 and one for IPv6; the replacement skips
//! graceful and bad nodes; a response toward a node is only redirected when its Via node is
//! gone (the reference always rewrote it, which broke transactions at a still-alive former
//! active).

use super::key::KeySource;
use super::{Algorithm, AlgorithmKind, AlgorithmSettings, ResponseDirection};
use crate::node::{Node, NodeId};
use crate::time::Timestamp;

/// The ActiveStandby state: the current node of each family.
#[derive(Debug, Clone, Default)]
pub struct ActiveStandby {
    v4: Option<NodeId>,
    v6: Option<NodeId>,
}

impl ActiveStandby {
    /// A fresh instance; no settings apply.
    pub fn new(_settings: &AlgorithmSettings) -> ActiveStandby {
        ActiveStandby::default()
    }

    /// The current node of the family of `candidates`, switching to the next candidate (NodeId
    /// order, wrapping) accepting new work when the current one is gone, graceful or bad.
    pub fn current(&mut self, candidates: &[Node]) -> Option<NodeId> {
        let first = candidates.first()?;
        let slot = if first.is_ipv6() {
            &mut self.v6
        } else {
            &mut self.v4
        };
        if let Some(cur) = *slot {
            if candidates
                .iter()
                .any(|n| n.id == cur && n.accepts_new_work())
            {
                return Some(cur);
            }
        }
        let ok = |n: &&Node| n.accepts_new_work();
        let next = slot
            .and_then(|cur| candidates.iter().filter(ok).find(|n| n.id > cur))
            .or_else(|| candidates.iter().find(ok))?
            .id;
        tracing::debug!(previous = ?*slot, active = ?next, "active node changed");
        *slot = Some(next);
        Some(next)
    }
}

impl Algorithm for ActiveStandby {
    fn kind(&self) -> AlgorithmKind {
        AlgorithmKind::ActiveStandby
    }

    fn node_added(&mut self, _node: &Node, _now: Timestamp) {}

    fn node_removed(&mut self, _node: &Node, _now: Timestamp) {}

    fn select_for_new_request(
        &mut self,
        _req: &dyn KeySource,
        candidates: &[Node],
        _now: Timestamp,
    ) -> Option<NodeId> {
        self.current(candidates)
    }

    fn assign(&mut self, _req: &dyn KeySource, _node: NodeId, _now: Timestamp) {}

    fn failover(
        &mut self,
        _req: &dyn KeySource,
        dead: NodeId,
        candidates: &[Node],
        _now: Timestamp,
    ) -> Option<NodeId> {
        let alive: Vec<Node> = candidates
            .iter()
            .filter(|n| n.id != dead)
            .cloned()
            .collect();
        self.current(&alive)
    }

    fn response_target(
        &mut self,
        _resp: &dyn KeySource,
        direction: ResponseDirection,
        via_node: Option<NodeId>,
        candidates: &[Node],
        _now: Timestamp,
    ) -> Option<NodeId> {
        if direction != ResponseDirection::TowardNode || via_node.is_some() {
            return None;
        }
        self.current(candidates)
    }

    fn select_for_http(
        &mut self,
        _affinity: Option<&str>,
        candidates: &[Node],
        _now: Timestamp,
    ) -> Option<NodeId> {
        self.current(candidates)
    }

    fn switchover(&mut self, _from: &str, _to: &str, _candidates: &[Node]) {}

    fn handle_timeout(&mut self, _now: Timestamp) {}

    fn next_deadline(&self) -> Option<Timestamp> {
        None
    }

    fn active_calls(&self) -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::tests::{node, node_at};
    use super::super::KeyFields;
    use super::*;

    #[test]
    fn keeps_the_active_node_until_it_goes_then_moves_on_without_hanging() {
        let mut a = ActiveStandby::default();
        let now = Timestamp::ZERO;
        let r = KeyFields::request("INVITE", "c");
        let mut nodes = vec![node(1), node(2), node(3)];
        for _ in 0..3 {
            assert_eq!(a.select_for_new_request(&r, &nodes, now), Some(NodeId(1)));
        }
        nodes[0].graceful = true;
        nodes[1].bad = true;
        assert_eq!(a.select_for_new_request(&r, &nodes, now), Some(NodeId(3)));
        nodes[0].graceful = false;
        assert_eq!(
            a.select_for_new_request(&r, &nodes, now),
            Some(NodeId(3)),
            "no flapping back"
        );
        assert_eq!(a.select_for_new_request(&r, &[], now), None);
        assert_eq!(a.select_for_new_request(&r, &[], now), None, "no lock held");
        assert_eq!(
            a.select_for_new_request(&r, &nodes[..1], now),
            Some(NodeId(1))
        );
    }

    #[test]
    fn one_active_node_per_address_family() {
        let mut a = ActiveStandby::default();
        let now = Timestamp::ZERO;
        let r = KeyFields::request("INVITE", "c");
        let v4 = vec![node(1), node(2)];
        let v6 = vec![node_at(7, "fd00::7", 5060), node_at(8, "fd00::8", 5060)];
        assert_eq!(a.select_for_new_request(&r, &v4, now), Some(NodeId(1)));
        assert_eq!(a.select_for_new_request(&r, &v6, now), Some(NodeId(7)));
        assert_eq!(a.failover(&r, NodeId(7), &v6[1..], now), Some(NodeId(8)));
        assert_eq!(a.select_for_new_request(&r, &v4, now), Some(NodeId(1)));
        let toward = ResponseDirection::TowardNode;
        assert_eq!(
            a.response_target(&r, toward, None, &v4, now),
            Some(NodeId(1))
        );
        assert_eq!(
            a.response_target(&r, toward, Some(NodeId(2)), &v4, now),
            None
        );
    }
}
