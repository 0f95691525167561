//! The timeline's faults and operations on nodes: crash, hang, restart, graceful shutdown,
//! upgrade, lost heartbeats, partition and heal (those of SMPP providers are in `smpp`).

use super::{secs, Event, NodeState, SimNode, World};
use crate::clock::EventQueue;
use crate::scenario::{Action, Scenario};
use switchboard_core::time::Timestamp;

/// Schedules the timeline of `scenario` and marks the nodes it touches; returns the time of
/// its last entry.
pub(super) fn schedule(
    scenario: &Scenario,
    nodes: &mut [SimNode],
    q: &mut EventQueue<Event>,
) -> Timestamp {
    let mut last_fault_at = Timestamp::ZERO;
    for (index, e) in scenario.timeline.iter().enumerate() {
        let at = Timestamp::from_millis(e.at_ms);
        last_fault_at = last_fault_at.max(at);
        q.schedule_at(at, Event::Fault { index });
        if let Some(n) = crate::scenario::node_index(&e.target) {
            if let Some(node) = nodes.get_mut(n) {
                node.faulted = true;
            }
        }
    }
    last_fault_at
}

impl World {
    pub(super) fn fault(&mut self, index: usize) {
        self.apply_fault(index);
        self.refresh_serving();
    }

    fn apply_fault(&mut self, index: usize) {
        let e = self.scenario.timeline[index].clone();
        let smpp_peer = crate::scenario::provider_index(&e.target).is_some()
            || crate::scenario::customer_index(&e.target).is_some();
        if smpp_peer {
            self.smpp_fault(&e.target, e.action);
            return;
        }
        let Some(j) = crate::scenario::node_index(&e.target) else {
            return;
        };
        let now = self.now();
        tracing::debug!(at = %secs(now), action = ?e.action, node = %e.target, "fault");
        match e.action {
            Action::Crash => {
                let n = &mut self.nodes[j];
                if n.state == NodeState::Up {
                    n.state = NodeState::Down;
                    n.incarnation += 1;
                    n.dialogs.clear();
                    n.down_since.get_or_insert(now);
                    self.end_node_streams(j, true);
                }
            }
            Action::Hang => {
                let n = &mut self.nodes[j];
                n.hung = true;
                n.down_since.get_or_insert(now);
            }
            Action::Restart => {
                if self.nodes[j].state != NodeState::Up || self.nodes[j].hung {
                    self.node_boot(j, None);
                }
            }
            Action::Graceful => {
                self.nodes[j].graceful = true;
                self.node_announce(j);
            }
            Action::Upgrade => {
                let n = &mut self.nodes[j];
                n.graceful = true;
                n.pending_upgrade = e.version.clone();
                self.node_announce(j);
            }
            Action::LoseHeartbeats => self.nodes[j].heartbeats_lost = true,
            Action::Recover => {
                let n = &mut self.nodes[j];
                n.heartbeats_lost = false;
                if n.hung {
                    n.hung = false;
                    if !self.partitioned.contains(&j) {
                        n.down_since = None;
                    }
                }
            }
            Action::Partition => {
                self.partitioned.insert(j);
                self.nodes[j].down_since.get_or_insert(now);
            }
            Action::Heal => {
                self.partitioned.remove(&j);
                self.release_held(j);
                let n = &mut self.nodes[j];
                if n.state == NodeState::Up && !n.hung {
                    n.down_since = None;
                }
            }
        }
    }
}
