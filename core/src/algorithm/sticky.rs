//! The sticky key → node table shared by the affinity algorithms (§4.3 `callIdMap` +
//! `callIdTimestamps`) and the persistent consistent hash, with idle eviction.

use crate::node::NodeId;
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// How often idle entries are swept, as in the reference's 6-second eviction timer (§4.3). With
/// `callIdAffinityMaxTimeInCache = 0` an entry therefore lives up to one sweep period.
pub const SWEEP_PERIOD: Duration = Duration::from_secs(6);

#[derive(Debug, Clone, Copy)]
struct Entry {
    node: NodeId,
    last_used: Timestamp,
}

/// Key → node with last-use timestamps and per-node counts.
#[derive(Debug, Clone)]
pub struct StickyTable {
    entries: BTreeMap<String, Entry>,
    per_node: BTreeMap<NodeId, usize>,
    max_idle: Duration,
    next_sweep: Option<Timestamp>,
}

impl StickyTable {
    /// An empty table evicting entries idle longer than `max_idle`.
    pub fn new(max_idle: Duration) -> StickyTable {
        StickyTable {
            entries: BTreeMap::new(),
            per_node: BTreeMap::new(),
            max_idle,
            next_sweep: None,
        }
    }

    /// The node stored for `key`.
    pub fn get(&self, key: &str) -> Option<NodeId> {
        self.entries.get(key).map(|e| e.node)
    }

    /// Refreshes the last-use time of `key` if present.
    pub fn touch(&mut self, key: &str, now: Timestamp) {
        if let Some(e) = self.entries.get_mut(key) {
            e.last_used = now;
        }
    }

    /// Stores `key → node` and refreshes its timestamp.
    pub fn set(&mut self, key: &str, node: NodeId, now: Timestamp) {
        let entry = Entry {
            node,
            last_used: now,
        };
        match self.entries.get_mut(key) {
            Some(e) => {
                let old = e.node;
                *e = entry;
                self.dec(old);
            }
            None => {
                self.entries.insert(key.to_owned(), entry);
            }
        }
        *self.per_node.entry(node).or_default() += 1;
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now.saturating_add(SWEEP_PERIOD));
        }
    }

    fn dec(&mut self, node: NodeId) {
        if let Some(c) = self.per_node.get_mut(&node) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                self.per_node.remove(&node);
            }
        }
    }

    /// Moves every key of `from` to `to` (grouped failover, switchover); returns how many.
    pub fn move_all(&mut self, from: NodeId, to: NodeId) -> usize {
        if from == to {
            return 0;
        }
        let mut moved = 0;
        for e in self.entries.values_mut().filter(|e| e.node == from) {
            e.node = to;
            moved += 1;
        }
        self.per_node.remove(&from);
        if moved > 0 {
            *self.per_node.entry(to).or_default() += moved;
        }
        moved
    }

    /// Number of keys stored for `node`.
    pub fn count(&self, node: NodeId) -> usize {
        self.per_node.get(&node).copied().unwrap_or(0)
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no key is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When [`StickyTable::handle_timeout`] next has work to do.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.next_sweep
    }

    /// Removes entries idle longer than the maximum, if the sweep is due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        match self.next_sweep {
            Some(at) if now >= at => {}
            _ => return,
        }
        let max_idle = self.max_idle;
        let before = self.entries.len();
        let mut freed: Vec<NodeId> = Vec::new();
        self.entries.retain(|_, e| {
            let keep = now.saturating_since(e.last_used) <= max_idle;
            if !keep {
                freed.push(e.node);
            }
            keep
        });
        for n in freed {
            self.dec(n);
        }
        let evicted = before - self.entries.len();
        if evicted > 0 {
            tracing::debug!(
                evicted,
                left = self.entries.len(),
                "idle affinity entries evicted"
            );
        }
        self.next_sweep = if self.entries.is_empty() {
            None
        } else {
            Some(now.saturating_add(SWEEP_PERIOD))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_sets_moves_and_evictions() {
        let mut t = StickyTable::new(Duration::from_secs(10));
        let t0 = Timestamp::ZERO;
        t.set("a", NodeId(1), t0);
        t.set("b", NodeId(1), t0);
        t.set("c", NodeId(2), t0);
        t.set("c", NodeId(1), t0);
        assert_eq!((t.count(NodeId(1)), t.count(NodeId(2))), (3, 0));
        assert_eq!(t.move_all(NodeId(1), NodeId(3)), 3);
        assert_eq!((t.count(NodeId(1)), t.count(NodeId(3))), (0, 3));
        assert_eq!(t.next_deadline(), Some(Timestamp::from_millis(6_000)));
        t.touch("a", Timestamp::from_millis(5_000));
        t.handle_timeout(Timestamp::from_millis(6_000));
        assert_eq!(t.len(), 3, "nothing idle for more than 10 s yet");
        t.handle_timeout(Timestamp::from_millis(11_000));
        assert_eq!(t.len(), 3, "sweep not due before 12 s");
        t.handle_timeout(Timestamp::from_millis(12_000));
        assert_eq!(t.get("a"), Some(NodeId(3)));
        assert_eq!((t.len(), t.count(NodeId(3))), (1, 1));
        t.handle_timeout(Timestamp::from_millis(18_000));
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
    }
}
