//! The requests the balancer is waiting on: its own retransmission, failover and response-time
//! measurement (docs/decisions.md, "Node failure"; RFC 3261 §17.1.1.2 and §17.1.2.2).
//!
//! A request answered with the balancer's own `100 Trying` is the balancer's to deliver: the
//! sender stopped retransmitting (RFC 3261 §17.1.1.2: Timer A stops on a provisional
//! response), so the balancer retransmits it over UDP toward the next hop on Timer A
//! (INVITE) or Timer E (other methods) until that hop's first response, answers the sender
//! `408` when Timer B/F fires with no response, and moves an initial INVITE its node has not
//! answered at all within `inviteFailoverTimeout` to another node. Every other request
//! forwarded to a node is tracked too, without retransmission, to measure the node's
//! response time and to notice an INVITE a node leaves unanswered.
//!
//! One bounded table keyed by the forwarded branch (the Via branch the next hop echoes in its
//! responses) and whether the request is a CANCEL (which shares its INVITE's branch). An
//! entry is removed on the first response from its hop, when Timer B/F fires, or when the
//! table is full and it is the oldest ([`MAX_ENTRIES`]; counted as an eviction). After an
//! INVITE moved to another node, a small record of the move stays until Timer B so that the
//! CANCEL and the ACK of a final error response follow the INVITE, and late responses of the
//! abandoned node are dropped instead of reaching the caller.

use super::{Inbound, Transmit};
use crate::node::NodeId;
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// RFC 3261 T1: the round-trip estimate, first retransmission interval.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: the cap of the non-INVITE retransmission interval (Timer E).
pub const T2: Duration = Duration::from_secs(4);
/// RFC 3261 Timer B and Timer F: 64×T1, how long a request is retransmitted before the
/// sender gets a final error response.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(32);
/// The table's size cap. An entry costs about 300 bytes of bookkeeping plus the two message
/// buffers it shares with the network path (the received and the forwarded request, about
/// 1 KB each for a typical INVITE): at most about 160 MB when full. When full, the oldest
/// entry is evicted (counted in `/metrics` as `switchboard_sip_pending_evictions_total`).
pub const MAX_ENTRIES: usize = 65_536;

/// What identifies a forwarded request in its hop's responses: the branch of the Via the
/// balancer put on top, and whether it is a CANCEL (RFC 3261 §9.1: same branch as its
/// INVITE; responses tell them apart by the CSeq method).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TxKey {
    /// The top Via branch of the forwarded request.
    pub branch: String,
    /// True for CANCEL.
    pub cancel: bool,
}

/// What [`Transactions::track`] is told about one forwarded request.
#[derive(Debug, Clone)]
pub struct Track {
    /// The node it went to; `None` for a request from a node toward a client.
    pub node: Option<NodeId>,
    /// True for INVITE (Timer A/B), false for other methods (Timer E/F).
    pub invite: bool,
    /// The forwarded message and where it went.
    pub sent: Transmit,
    /// The balancer answered the sender with its own `100 Trying`: it owns delivery (retransmit
    /// over UDP, answer `408` at Timer B/F).
    pub owned: bool,
    /// For an initial INVITE the balancer owns: the message as received, routed again when
    /// the node stays silent. `None` means no failover (the node is only marked suspect).
    pub replay: Option<Inbound>,
}

/// A timer of the table that has fired; see [`Transactions::poll_due`].
#[derive(Debug, Clone)]
pub enum Due {
    /// Send this retransmission (toward `node`, if it goes to a node).
    Retransmit {
        /// The message.
        sent: Transmit,
        /// The node it goes to.
        node: Option<NodeId>,
    },
    /// `node` has not answered this INVITE within `inviteFailoverTimeout`: mark it suspect and,
    /// when `replay` is set, route the INVITE again (it keeps its table entry, so the new
    /// routing's [`Transactions::track`] carries the timers over).
    Silent {
        /// The silent node.
        node: NodeId,
        /// The forwarded INVITE (for the algorithm's key when there is nothing to replay).
        sent: Transmit,
        /// The INVITE as received, to route again.
        replay: Option<Inbound>,
    },
    /// Timer B/F fired: nothing answered. When `owned`, the sender must get a final error
    /// response built from `sent`.
    GaveUp {
        /// The forwarded request.
        sent: Transmit,
        /// The node it last went to.
        node: Option<NodeId>,
        /// The balancer had answered `100 Trying`.
        owned: bool,
    },
}

/// What a response meant to the table; see [`Transactions::answered`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// No entry: relay it as usual.
    Untracked,
    /// The first response of the request's current hop, `elapsed` after it was sent there.
    First {
        /// The node that answered (`None` toward a client).
        node: Option<NodeId>,
        /// Forwarding to first response.
        elapsed: Duration,
    },
    /// A response from a node the INVITE was moved away from: drop it.
    FromAbandoned,
}

#[derive(Debug, Clone)]
struct Entry {
    key: TxKey,
    node: Option<NodeId>,
    invite: bool,
    sent: Transmit,
    owned: bool,
    replay: Option<Inbound>,
    sent_at: Timestamp,
    retransmit_at: Option<Timestamp>,
    interval: Duration,
    failover_at: Option<Timestamp>,
    give_up_at: Timestamp,
    /// Nodes this INVITE was moved away from.
    abandoned: Vec<NodeId>,
    /// The entry's earliest timer, as indexed in `timers`.
    deadline: Timestamp,
}

impl Entry {
    fn earliest(&self) -> Timestamp {
        [self.retransmit_at, self.failover_at, Some(self.give_up_at)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.give_up_at)
    }
}

/// The record an INVITE leaves behind after it moved to another node.
#[derive(Debug, Clone)]
struct Moved {
    to: Option<NodeId>,
    abandoned: Vec<NodeId>,
    until: Timestamp,
}

/// The table of forwarded requests awaiting their first response. Pure: every method that
/// depends on time takes `now`.
#[derive(Debug, Clone, Default)]
pub struct Transactions {
    entries: BTreeMap<u64, Entry>,
    by_key: BTreeMap<TxKey, u64>,
    timers: BTreeSet<(Timestamp, u64)>,
    moved: BTreeMap<TxKey, Moved>,
    moved_expiry: BTreeSet<(Timestamp, TxKey)>,
    next_id: u64,
    evictions: u64,
    /// When each node last sent the balancer any SIP message.
    heard: BTreeMap<NodeId, Timestamp>,
}

impl Transactions {
    /// Requests awaiting their first response.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is awaited.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when nothing is awaited and no moved INVITE is remembered: responses need no
    /// lookup.
    pub fn is_idle(&self) -> bool {
        self.entries.is_empty() && self.moved.is_empty()
    }

    /// Entries evicted because the table was full.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Call for every request forwarded toward a node (except ACK), and for every request
    /// from a node toward a client that the balancer answered `100 Trying`. A request already
    /// tracked under `key` (a retransmission from the sender, or the INVITE routed again after
    /// a failover) keeps its Timer B/F; if it now goes to another node, the previous node is
    /// remembered as abandoned. `failover_timeout` is `inviteFailoverTimeout`.
    pub fn track(&mut self, key: TxKey, t: Track, failover_timeout: Duration, now: Timestamp) {
        let retransmits = t.owned && t.sent.transport == crate::node::Transport::Udp;
        let failover_at =
            (t.invite && t.node.is_some()).then(|| now.saturating_add(failover_timeout));
        if let Some(&id) = self.by_key.get(&key) {
            let Some(e) = self.entries.get_mut(&id) else {
                return;
            };
            if e.node == t.node {
                // The sender's own retransmission: the timers already run.
                return;
            }
            if let Some(old) = e.node {
                if !e.abandoned.contains(&old) {
                    e.abandoned.push(old);
                }
            }
            e.node = t.node;
            e.sent = t.sent;
            e.sent_at = now;
            e.owned |= t.owned;
            if t.replay.is_some() {
                e.replay = t.replay;
            }
            e.interval = T1;
            e.retransmit_at = retransmits.then(|| now.saturating_add(T1));
            e.failover_at = failover_at;
            self.reindex(id);
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            if let Some((&oldest, _)) = self.entries.first_key_value() {
                self.remove(oldest);
                self.evictions += 1;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut e = Entry {
            key: key.clone(),
            node: t.node,
            invite: t.invite,
            sent: t.sent,
            owned: t.owned,
            replay: t.replay,
            sent_at: now,
            retransmit_at: retransmits.then(|| now.saturating_add(T1)),
            interval: T1,
            failover_at,
            give_up_at: now.saturating_add(TRANSACTION_TIMEOUT),
            abandoned: Vec::new(),
            deadline: now,
        };
        e.deadline = e.earliest();
        self.timers.insert((e.deadline, id));
        self.by_key.insert(key, id);
        self.entries.insert(id, e);
    }

    /// Call for every response whose top Via is the balancer's, with the branch of that Via,
    /// whether its CSeq method is CANCEL, and the node that sent it (`None` when it came from
    /// a client). Removes the entry on the first response of its current hop.
    pub fn answered(&mut self, key: &TxKey, from: Option<NodeId>, now: Timestamp) -> Answer {
        if let Some(&id) = self.by_key.get(key) {
            let Some(e) = self.entries.get(&id) else {
                return Answer::Untracked;
            };
            if let (Some(from), Some(current)) = (from, e.node) {
                if from != current {
                    // A node the request is no longer with (moved away from it, or a node
                    // restarted at an address a retransmission still reached): its answer
                    // would give the caller a second dialog.
                    if let Some(e) = self.entries.get_mut(&id) {
                        if !e.abandoned.contains(&from) {
                            e.abandoned.push(from);
                        }
                    }
                    return Answer::FromAbandoned;
                }
            }
            let (node, elapsed) = (e.node, now.saturating_since(e.sent_at));
            if let Some(e) = self.remove(id) {
                if !e.abandoned.is_empty() {
                    self.remember_move(e.key, e.node, e.abandoned, e.give_up_at);
                }
            }
            return Answer::First { node, elapsed };
        }
        if self.moved.is_empty() || from.is_none() {
            return Answer::Untracked;
        }
        self.expire_moves(now);
        match self.moved.get(key) {
            Some(m) if m.abandoned.iter().any(|a| Some(*a) == from) => Answer::FromAbandoned,
            _ => Answer::Untracked,
        }
    }

    /// Call for every SIP message received from node `id` (request or response). A node heard
    /// from after an INVITE was sent to it is not silent: its SIP stack runs, so the INVITE is
    /// retransmitted to it rather than moved (with several balancers behind one address, the
    /// node may answer an INVITE it had already received through another balancer to that
    /// balancer).
    pub fn heard_from(&mut self, id: NodeId, now: Timestamp) {
        self.heard.insert(id, now);
    }

    /// Forgets a node that left the registry.
    pub fn forget_node(&mut self, id: NodeId) {
        self.heard.remove(&id);
    }

    /// Where an INVITE under `key` went last, if it was moved to another node: its CANCEL and
    /// the ACK of its final error response go there (RFC 3261 §9.1, §17.1.1.3).
    pub fn moved_to(&self, key: &TxKey) -> Option<NodeId> {
        if let Some(e) = self.by_key.get(key).and_then(|id| self.entries.get(id)) {
            return (!e.abandoned.is_empty()).then_some(e.node).flatten();
        }
        self.moved.get(key).and_then(|m| m.to)
    }

    /// A send toward `node` was refused (connection refused or reset, ICMP unreachable): its
    /// INVITEs awaiting a first response fail over at once instead of after
    /// `inviteFailoverTimeout`.
    pub fn node_refused(&mut self, node: NodeId, now: Timestamp) {
        let ids: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.node == Some(node) && e.failover_at.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(e) = self.entries.get_mut(&id) {
                e.failover_at = Some(now);
            }
            self.reindex(id);
        }
    }

    /// The earliest timer of the table.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let entry = self.timers.first().map(|(at, _)| *at);
        let moved = self.moved_expiry.first().map(|(at, _)| *at);
        entry.into_iter().chain(moved).min()
    }

    /// The next timer that has fired at `now`, if any; call until `None`.
    pub fn poll_due(&mut self, now: Timestamp) -> Option<Due> {
        self.expire_moves(now);
        loop {
            let &(at, id) = self.timers.first()?;
            if at > now {
                return None;
            }
            let Some(e) = self.entries.get_mut(&id) else {
                self.timers.remove(&(at, id));
                continue;
            };
            if e.give_up_at <= now {
                let e = self.remove(id)?;
                if !e.abandoned.is_empty() {
                    self.remember_move(e.key, e.node, e.abandoned, e.give_up_at);
                }
                return Some(Due::GaveUp {
                    sent: e.sent,
                    node: e.node,
                    owned: e.owned,
                });
            }
            #[cfg(feature = "fault-injection")]
            if e.failover_at.is_some_and(|t| t <= now) && fault_injection::never_fail_over() {
                e.failover_at = None;
                self.reindex(id);
                continue;
            }
            if let (Some(fail_at), Some(node)) = (e.failover_at, e.node) {
                if fail_at <= now && self.heard.get(&node).is_some_and(|h| *h >= e.sent_at) {
                    // The node speaks SIP: not silent. Look again one failover time later.
                    let wait = fail_at.saturating_since(e.sent_at).max(T1);
                    e.failover_at = Some(now.saturating_add(wait));
                    self.reindex(id);
                    continue;
                }
                if fail_at <= now {
                    e.failover_at = None;
                    let due = Due::Silent {
                        node,
                        sent: e.sent.clone(),
                        replay: e.replay.clone(),
                    };
                    if e.replay.is_none() && !e.owned {
                        // Only tracked: the sender retransmits by itself.
                        self.remove(id);
                    } else {
                        self.reindex(id);
                    }
                    return Some(due);
                }
            }
            if let Some(re_at) = e.retransmit_at.filter(|t| *t <= now) {
                e.interval = if e.invite {
                    e.interval.saturating_mul(2)
                } else {
                    e.interval.saturating_mul(2).min(T2)
                };
                e.retransmit_at = Some(re_at.max(now).saturating_add(e.interval));
                let due = Due::Retransmit {
                    sent: e.sent.clone(),
                    node: e.node,
                };
                self.reindex(id);
                return Some(due);
            }
            // Stale index entry.
            self.reindex(id);
        }
    }

    fn reindex(&mut self, id: u64) {
        if let Some(e) = self.entries.get_mut(&id) {
            self.timers.remove(&(e.deadline, id));
            e.deadline = e.earliest();
            self.timers.insert((e.deadline, id));
        }
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        self.timers.remove(&(e.deadline, id));
        if self.by_key.get(&e.key) == Some(&id) {
            self.by_key.remove(&e.key);
        }
        Some(e)
    }

    fn remember_move(
        &mut self,
        key: TxKey,
        to: Option<NodeId>,
        abandoned: Vec<NodeId>,
        until: Timestamp,
    ) {
        if self.moved.len() >= MAX_ENTRIES {
            if let Some((_, k)) = self.moved_expiry.pop_first() {
                self.moved.remove(&k);
            }
        }
        if let Some(old) = self.moved.insert(
            key.clone(),
            Moved {
                to,
                abandoned,
                until,
            },
        ) {
            self.moved_expiry.remove(&(old.until, key.clone()));
        }
        self.moved_expiry.insert((until, key));
    }

    fn expire_moves(&mut self, now: Timestamp) {
        while let Some((at, _)) = self.moved_expiry.first() {
            if *at > now {
                break;
            }
            if let Some((_, key)) = self.moved_expiry.pop_first() {
                self.moved.remove(&key);
            }
        }
    }
}

/// A deliberately broken core for the simulator's tests (it must show that the simulator
/// catches a balancer that never moves an unanswered INVITE). Compiled only with the
/// `fault-injection` feature; the switch is per thread.
#[cfg(feature = "fault-injection")]
pub mod fault_injection {
    use std::cell::Cell;

    thread_local! {
        static NEVER_FAIL_OVER: Cell<bool> = const { Cell::new(false) };
    }

    /// When `on`, transaction tables on this thread never report an INVITE as unanswered
    /// (`Due::Silent`): it stays with its silent node until Timer B.
    pub fn set_never_fail_over(on: bool) {
        NEVER_FAIL_OVER.with(|f| f.set(on));
    }

    pub(crate) fn never_fail_over() -> bool {
        NEVER_FAIL_OVER.with(|f| f.get())
    }
}

#[cfg(test)]
mod tests;
