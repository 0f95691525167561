//! Registration, refresh, graceful shutdown and removal of nodes (behaviour reference §3.2,
//! §3.3, §3.5; docs/decisions.md §2).

use super::{NodeAnnouncement, Registry, RegistryEvent, RemovalReason};
use crate::node::NodeId;
use crate::time::Timestamp;
use thiserror::Error;

/// What a `start` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartOutcome {
    /// A new node was registered.
    Added(NodeId),
    /// The same (ip, ports) was registered under another `sessionId` (the node restarted):
    /// the old entry was removed and a new one added.
    Replaced {
        /// The removed entry.
        old: NodeId,
        /// The new entry.
        new: NodeId,
    },
    /// A repeated `start` with the same `sessionId`: the node was refreshed, nothing else.
    Refreshed(NodeId),
    /// A repeated `start` from a bad node: the bad flag and its counters were cleared.
    Recovered(NodeId),
}

/// What a SIP heartbeat ping did (§3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PingOutcome {
    /// First ping from this (ip, ports): a node was registered.
    Added(NodeId),
    /// A ping with a new `sessionId`: the old entry was replaced (and is therefore no longer
    /// bad).
    Replaced {
        /// The removed entry.
        old: NodeId,
        /// The new entry.
        new: NodeId,
    },
    /// A ping from a known node with the same `sessionId`: refreshed (a bad node stays bad).
    Refreshed(NodeId),
    /// A ping with `GRACEFUL_SHUTDOWN=true` from a known node: marked graceful.
    Graceful(NodeId),
    /// A ping with `GRACEFUL_SHUTDOWN=true` from an unknown node: ignored.
    IgnoredGracefulUnknown,
}

/// A `heartbeat`, `shutdown` or `stop` named a `sessionId` that no live node has: the node
/// expired, was replaced, or the balancer restarted. The heartbeat handler answers with a
/// non-OK body so the node's client goes back to sending `start` (docs/decisions.md §8.6).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown session `{0}`")]
pub struct UnknownSession(pub String);

impl Registry {
    /// Handles a `start` (§3.2, §3.3): registers the node under its (ip, ports). A `start`
    /// with a new `sessionId` for a registered (ip, ports) replaces the old entry (new
    /// [`NodeId`]; `NodeRemoved { reason: Replaced }` then `NodeAdded`). A repeated `start`
    /// with the same `sessionId` only refreshes the node and clears its `bad` flag.
    pub fn start(&mut self, announcement: NodeAnnouncement, now: Timestamp) -> StartOutcome {
        let mut announcement = announcement;
        announcement.graceful = false;
        let key = announcement.key();
        if let Some(old) = self.by_key.get(&key).copied() {
            let same_session = self
                .node(old)
                .is_some_and(|n| n.session_id == announcement.session_id);
            if same_session {
                self.touch(old, now);
                if self.clear_bad(old, now) {
                    return StartOutcome::Recovered(old);
                }
                tracing::debug!(target: "registry", id = old.0, "repeated start from a registered session");
                return StartOutcome::Refreshed(old);
            }
            let new = self.allocate_id();
            tracing::info!(target: "registry", old = old.0, new = new.0, ip = %key.ip, "node restarted with a new session");
            self.remove(old, RemovalReason::Replaced { by: new });
            self.insert(announcement.into_node(new, now, false), now);
            return StartOutcome::Replaced { old, new };
        }
        let id = self.allocate_id();
        self.insert(announcement.into_node(id, now, false), now);
        StartOutcome::Added(id)
    }

    /// Handles a SIP OPTIONS/INFO heartbeat (§3.5, the reference's `handlePingInRegister`),
    /// keyed by (ip, ports): the first ping registers the node; later pings refresh it;
    /// `GRACEFUL_SHUTDOWN=true` marks a known node graceful (ignored for unknown nodes); a bad
    /// node pinging with the same `sessionId` stays bad, and a new `sessionId` replaces the
    /// entry (so the node is no longer bad).
    pub fn handle_ping(&mut self, announcement: NodeAnnouncement, now: Timestamp) -> PingOutcome {
        let key = announcement.key();
        let Some(old) = self.by_key.get(&key).copied() else {
            if announcement.graceful {
                tracing::debug!(target: "registry", ip = %key.ip, "graceful ping from an unknown node ignored");
                return PingOutcome::IgnoredGracefulUnknown;
            }
            let id = self.allocate_id();
            self.insert(announcement.into_node(id, now, false), now);
            return PingOutcome::Added(id);
        };
        if announcement.graceful {
            self.touch(old, now);
            self.mark_graceful(old);
            return PingOutcome::Graceful(old);
        }
        let same_session = self
            .node(old)
            .is_some_and(|n| n.session_id == announcement.session_id);
        if same_session {
            self.touch(old, now);
            return PingOutcome::Refreshed(old);
        }
        let permanent = self.node(old).is_some_and(|n| n.permanent);
        let new = self.allocate_id();
        self.remove(old, RemovalReason::Replaced { by: new });
        self.insert(announcement.into_node(new, now, permanent), now);
        PingOutcome::Replaced { old, new }
    }

    fn session_ids(&self, session_id: &str) -> Result<Vec<NodeId>, UnknownSession> {
        match self.by_session.get(session_id) {
            Some(ids) if !ids.is_empty() => Ok(ids.iter().copied().collect()),
            _ => {
                tracing::debug!(target: "registry", session = session_id, "command for an unknown session");
                Err(UnknownSession(session_id.to_owned()))
            }
        }
    }

    /// Handles a `heartbeat` (§3.2): refreshes every live node with this `sessionId` and
    /// returns how many. An unknown session is an error so the answer makes the node
    /// re-send `start` (docs/decisions.md §8.6).
    pub fn heartbeat(&mut self, session_id: &str, now: Timestamp) -> Result<usize, UnknownSession> {
        let ids = self.session_ids(session_id)?;
        for id in &ids {
            self.touch(*id, now);
        }
        Ok(ids.len())
    }

    /// Handles a `shutdown` (§3.2, §3.4): marks the session's nodes graceful (no new calls;
    /// in-dialog traffic still reaches them) and refreshes them.
    pub fn shutdown(&mut self, session_id: &str, now: Timestamp) -> Result<usize, UnknownSession> {
        let ids = self.session_ids(session_id)?;
        for id in &ids {
            self.touch(*id, now);
            self.mark_graceful(*id);
        }
        Ok(ids.len())
    }

    /// Handles a `stop` (§3.2, §3.3): removes the session's nodes at once
    /// (`NodeRemoved { reason: Stopped }`), including every HTTP/SMPP lookup entry.
    pub fn stop(&mut self, session_id: &str, _now: Timestamp) -> Result<usize, UnknownSession> {
        let ids = self.session_ids(session_id)?;
        for id in &ids {
            self.remove(*id, RemovalReason::Stopped);
        }
        Ok(ids.len())
    }

    /// Handles a `switchover` (§3.2): queues [`RegistryEvent::Switchover`] for the HTTP
    /// algorithm (jvmRoute stickiness); the registry itself does not change.
    pub fn switchover(&mut self, from_jvm_route: &str, to_jvm_route: &str) {
        tracing::info!(target: "registry", from = from_jvm_route, to = to_jvm_route, "jvmRoute switchover");
        self.events.push_back(RegistryEvent::Switchover {
            from_jvm_route: from_jvm_route.to_owned(),
            to_jvm_route: to_jvm_route.to_owned(),
        });
    }

    fn mark_graceful(&mut self, id: NodeId) {
        let Some(node) = self.node_mut(id) else {
            return;
        };
        if node.graceful {
            return;
        }
        node.graceful = true;
        let node = node.clone();
        tracing::info!(target: "registry", id = id.0, host = %node.host_name, ip = %node.key.ip, "node in graceful shutdown");
        self.events.push_back(RegistryEvent::NodeGraceful(node));
    }
}
