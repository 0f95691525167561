//! Traffic ramp-up of fresh nodes (§4.2 "Ramp-up", issue #110): `trafficRampupCyclePeriod`
//! (ms) and `trafficPercentageIncrease` (%).
//!
//! Every node has a weight from 1 to `max = ceil(100 / percentage)`. A node announced by
//! [`RampUp::node_added`] starts at weight 1; once per elapsed period every weight grows by one
//! (capped at `max`). The selection list holds each node `weight` times, interleaved by rounds
//! (`[a, b, c, a, c, a]` for weights 3, 1, 2), and is walked with a cursor. The list is
//! rebuilt at most once per period for growth, and on membership changes.
//!
//! Fixes of the reference quirks: graceful and bad nodes are skipped while walking the list,
//! and growth does not depend on the cursor position. A candidate the algorithm was never told
//! about (no `node_added`) counts as fully ramped.

use super::RampUpSettings;
use crate::node::{Node, NodeId};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// The ramp-up picker state.
#[derive(Debug, Clone)]
pub struct RampUp {
    period: Duration,
    max_weight: u32,
    weights: BTreeMap<NodeId, u32>,
    list: Vec<NodeId>,
    cursor: usize,
    last_growth: Option<Timestamp>,
    dirty: bool,
}

impl RampUp {
    /// A picker for the given settings (percentage clamped to 1..=100, period at least 1 ms).
    pub fn new(settings: RampUpSettings) -> RampUp {
        let pct = settings.percentage_increase.clamp(1, 100);
        RampUp {
            period: settings.cycle_period.max(Duration::from_millis(1)),
            max_weight: 100u32.div_ceil(pct),
            weights: BTreeMap::new(),
            list: Vec::new(),
            cursor: 0,
            last_growth: None,
            dirty: true,
        }
    }

    /// A node joined: it starts with the smallest share.
    pub fn node_added(&mut self, id: NodeId, now: Timestamp) {
        self.grow(now);
        self.weights.entry(id).or_insert(1);
        self.dirty = true;
    }

    /// A node left.
    pub fn node_removed(&mut self, id: NodeId) {
        if self.weights.remove(&id).is_some() {
            self.dirty = true;
        }
    }

    /// The current weight of `id` (for tests and `/lbinfo`).
    pub fn weight(&self, id: NodeId) -> Option<u32> {
        self.weights.get(&id).copied()
    }

    fn grow(&mut self, now: Timestamp) {
        let Some(start) = self.last_growth else {
            self.last_growth = Some(now);
            return;
        };
        let periods = now.saturating_since(start).as_micros() / self.period.as_micros().max(1);
        if periods == 0 {
            return;
        }
        let step = u32::try_from(periods).unwrap_or(u32::MAX);
        for w in self.weights.values_mut() {
            *w = w.saturating_add(step).min(self.max_weight);
        }
        let advanced = u32::try_from(periods).map_or(Duration::MAX, |p| self.period * p);
        self.last_growth = Some(start.saturating_add(advanced));
        self.dirty = true;
    }

    fn rebuild(&mut self) {
        self.list.clear();
        for round in 0..self.max_weight {
            self.list.extend(
                self.weights
                    .iter()
                    .filter(|(_, w)| **w > round)
                    .map(|(id, _)| *id),
            );
        }
        if !self.list.is_empty() {
            self.cursor %= self.list.len();
        }
        self.dirty = false;
        tracing::debug!(entries = self.list.len(), "ramp-up selection list rebuilt");
    }

    /// Picks the next node of the weighted list that is among `candidates` and accepts new
    /// work; `None` when no candidate accepts new work.
    pub fn pick(&mut self, candidates: &[Node], now: Timestamp) -> Option<NodeId> {
        self.grow(now);
        for n in candidates {
            if !self.weights.contains_key(&n.id) {
                self.weights.insert(n.id, self.max_weight);
                self.dirty = true;
            }
        }
        if self.dirty {
            self.rebuild();
        }
        let len = self.list.len();
        for _ in 0..len {
            let id = self.list[self.cursor % len];
            self.cursor = (self.cursor + 1) % len;
            if candidates
                .iter()
                .any(|n| n.id == id && n.accepts_new_work())
            {
                return Some(id);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::tests::node;
    use super::*;

    fn ramp(period_s: u64, pct: u32) -> RampUp {
        RampUp::new(RampUpSettings {
            cycle_period: Duration::from_secs(period_s),
            percentage_increase: pct,
        })
    }

    fn count(r: &mut RampUp, nodes: &[Node], now: Timestamp, n: usize) -> BTreeMap<u64, usize> {
        let mut c = BTreeMap::new();
        for _ in 0..n {
            *c.entry(r.pick(nodes, now).unwrap().0).or_default() += 1;
        }
        c
    }

    #[test]
    fn fresh_node_gets_a_growing_share() {
        let mut r = ramp(70, 25); // max weight 4
        let t0 = Timestamp::ZERO;
        r.node_added(NodeId(1), t0);
        let old = vec![node(1)];
        // Four whole periods later the first node is fully ramped.
        let t1 = Timestamp::from_millis(280_000);
        assert_eq!(r.pick(&old, t1), Some(NodeId(1)));
        assert_eq!(r.weight(NodeId(1)), Some(4));
        r.node_added(NodeId(2), t1);
        let both = vec![node(1), node(2)];
        let c = count(&mut r, &both, t1, 50);
        assert_eq!((c[&1], c[&2]), (40, 10), "weights 4:1");
        // Within the same period the list is not rebuilt: same share.
        let c = count(&mut r, &both, Timestamp::from_millis(280_000 + 69_000), 50);
        assert_eq!((c[&1], c[&2]), (40, 10));
        let c = count(&mut r, &both, Timestamp::from_millis(280_000 + 71_000), 60);
        assert_eq!((c[&1], c[&2]), (40, 20), "weights 4:2");
        let later = Timestamp::from_millis(280_000 + 3 * 70_000);
        let c = count(&mut r, &both, later, 40);
        assert_eq!((c[&1], c[&2]), (20, 20), "fully ramped");
    }

    #[test]
    fn graceful_and_bad_nodes_are_skipped() {
        let mut r = ramp(10, 50);
        r.node_added(NodeId(1), Timestamp::ZERO);
        r.node_added(NodeId(2), Timestamp::ZERO);
        let mut nodes = vec![node(1), node(2)];
        nodes[1].graceful = true;
        let c = count(&mut r, &nodes, Timestamp::ZERO, 10);
        assert_eq!(c.get(&2), None);
        nodes[0].bad = true;
        assert_eq!(r.pick(&nodes, Timestamp::ZERO), None);
    }

    #[test]
    fn unannounced_candidates_count_as_fully_ramped() {
        let mut r = ramp(10, 50);
        r.node_added(NodeId(2), Timestamp::ZERO);
        let nodes = vec![node(1), node(2)];
        let c = count(&mut r, &nodes, Timestamp::ZERO, 30);
        assert_eq!((c[&1], c[&2]), (20, 10));
    }
}
