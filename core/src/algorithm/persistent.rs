//! PersistentConsistentHash (§4.10, docs/decisions.md §8.8): rendezvous hashing with a sticky
//! table in front, so an existing key keeps its node across membership changes while that node
//! lives (graceful included), and only new or orphaned keys follow the ranking.
//!
//! Entries are evicted after `callIdAffinityMaxTimeInCache` of idleness like the affinity
//! tables. The table is local to this balancer; sharing it across instances (docs/decisions.md
//! §10.2) is a separate, optional store.

use super::hash::{hash_rule, hrw_choose};
use super::key::{KeyRule, KeySource};
use super::select::RoundRobin;
use super::sticky::StickyTable;
use super::{
    by_jvm_route, is_live, Algorithm, AlgorithmError, AlgorithmKind, AlgorithmSettings,
    ResponseDirection,
};
use crate::node::{Node, NodeId};
use crate::time::Timestamp;

/// Consistent hash with persistent assignments.
#[derive(Debug, Clone)]
pub struct PersistentConsistentHash {
    rule: KeyRule,
    table: StickyTable,
    rr: RoundRobin,
}

impl PersistentConsistentHash {
    /// Builds it from the hash key settings and `callIdAffinityMaxTimeInCache`.
    pub fn new(settings: &AlgorithmSettings) -> Result<Self, AlgorithmError> {
        Ok(PersistentConsistentHash {
            rule: hash_rule(settings)?,
            table: StickyTable::new(settings.max_time_in_cache),
            rr: RoundRobin::default(),
        })
    }

    fn select_key(&mut self, key: &str, candidates: &[Node], now: Timestamp) -> Option<NodeId> {
        if let Some(owner) = self.table.get(key).filter(|o| is_live(candidates, *o)) {
            self.table.touch(key, now);
            return Some(owner);
        }
        let chosen = hrw_choose(key, candidates)?;
        self.table.set(key, chosen, now);
        Some(chosen)
    }
}

impl Algorithm for PersistentConsistentHash {
    fn kind(&self) -> AlgorithmKind {
        AlgorithmKind::PersistentConsistentHash
    }

    fn node_added(&mut self, _node: &Node, _now: Timestamp) {}

    fn node_removed(&mut self, _node: &Node, _now: Timestamp) {}

    fn select_for_new_request(
        &mut self,
        req: &dyn KeySource,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        match self.rule.extract(req) {
            Some(key) => self.select_key(key, candidates, now),
            None => self.rr.pick(candidates),
        }
    }

    fn assign(&mut self, req: &dyn KeySource, node: NodeId, now: Timestamp) {
        if let Some(key) = self.rule.extract(req) {
            self.table.set(key, node, now);
        }
    }

    fn failover(
        &mut self,
        req: &dyn KeySource,
        dead: NodeId,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        let alive = super::without(candidates, dead);
        self.select_for_new_request(req, &alive, now)
    }

    fn response_target(
        &mut self,
        resp: &dyn KeySource,
        direction: ResponseDirection,
        via_node: Option<NodeId>,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        if direction != ResponseDirection::TowardNode || via_node.is_some() {
            return None;
        }
        let key = self.rule.extract(resp)?;
        self.select_key(key, candidates, now)
    }

    fn select_for_http(
        &mut self,
        affinity: Option<&str>,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        match affinity {
            Some(v) => self.select_key(v, candidates, now),
            None => self.rr.pick(candidates),
        }
    }

    fn switchover(&mut self, from_jvm_route: &str, to_jvm_route: &str, candidates: &[Node]) {
        if let (Some(f), Some(t)) = (
            by_jvm_route(candidates, from_jvm_route),
            by_jvm_route(candidates, to_jvm_route),
        ) {
            let moved = self.table.move_all(f.id, t.id);
            tracing::debug!(from_jvm_route, to_jvm_route, moved, "switchover");
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.table.handle_timeout(now);
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        self.table.next_deadline()
    }

    fn active_calls(&self) -> Option<usize> {
        Some(self.table.len())
    }
}

#[cfg(test)]
mod tests {
    use super::super::hash::hrw_choose;
    use super::super::select::tests::node_at;
    use super::super::KeyFields;
    use super::*;

    #[test]
    fn existing_keys_keep_their_node_when_membership_changes() {
        let mut p = PersistentConsistentHash::new(&AlgorithmSettings {
            kind: AlgorithmKind::PersistentConsistentHash,
            ..AlgorithmSettings::default()
        })
        .unwrap();
        let three: Vec<Node> = (1..=3)
            .map(|i| node_at(i, &format!("10.0.0.{i}"), 5060))
            .collect();
        let now = Timestamp::ZERO;
        let keys: Vec<String> = (0..200).map(|i| format!("call-{i}")).collect();
        let before: Vec<NodeId> = keys
            .iter()
            .map(|k| {
                p.select_for_new_request(&KeyFields::request("INVITE", k), &three, now)
                    .unwrap()
            })
            .collect();
        let mut four = three.clone();
        four.push(node_at(4, "10.0.0.4", 5060));
        let mut would_move = 0;
        for (k, b) in keys.iter().zip(&before) {
            if hrw_choose(k, &four) != Some(*b) {
                would_move += 1;
            }
            let now_on = p.select_for_new_request(&KeyFields::request("BYE", k), &four, now);
            assert_eq!(now_on, Some(*b), "sticky across a node addition");
        }
        assert!(would_move > 0, "the plain ring would have moved some keys");
        // Graceful owners keep their keys; a new key avoids the graceful node.
        let mut g = four.clone();
        g[0].graceful = true;
        let k0 = keys
            .iter()
            .zip(&before)
            .find(|(_, b)| **b == NodeId(1))
            .unwrap();
        let r = p.select_for_new_request(&KeyFields::request("BYE", k0.0), &g, now);
        assert_eq!(r, Some(NodeId(1)));
        // The owner dies: its keys are re-hashed among the living and stay there.
        let without1: Vec<Node> = four[1..].to_vec();
        let moved = p
            .select_for_new_request(&KeyFields::request("BYE", k0.0), &without1, now)
            .unwrap();
        assert_eq!(Some(moved), hrw_choose(k0.0, &without1));
        assert_eq!(
            p.select_for_new_request(&KeyFields::request("BYE", k0.0), &four, now),
            Some(moved)
        );
        assert_eq!(p.active_calls(), Some(200));
    }
}
