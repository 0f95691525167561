//! The balancer's one timer table: every deadline with its reason. `poll_timeout` is its
//! earliest entry; the driver only sleeps until it and feeds `Input::Timeout`.

use crate::io::ConnId;
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Why the core wants to be woken up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Registry expiry, heartbeat checks, algorithm timers.
    Cluster,
    /// SIP retransmissions, Timer B/F, INVITE failover, OPTIONS probes.
    Forwarder,
    /// SIP stream connections: stalled partial messages and the idle sweep.
    SipStreams,
    /// An outbound connection that is not established yet.
    Connect(ConnId),
    /// An accepted connection whose TLS handshake or WebSocket upgrade has not finished.
    Handshake(ConnId),
    /// A service (heartbeat, management) connection waiting for its request.
    ServiceIdle(ConnId),
    /// An HTTP balancer connection's one deadline: a client's head or keep-alive, a
    /// tunnel's idle limit, a node's response, an idle pooled connection.
    Http(ConnId),
    /// The SMPP balancer's earliest deadline (its own table holds the reasons).
    Smpp,
    /// `/lbstop` was accepted: the full stop begins at this deadline.
    StopDelay,
    /// The stop notifications to nodes have had their time: exit.
    ExitDeadline,
}

/// Deadlines by reason, ordered by time. Setting a reason again moves its deadline. The
/// balancer's table has [`Timer`] reasons; a protocol module may keep its own table with its
/// own reasons and arm one [`Timer`] for its earliest deadline.
#[derive(Debug)]
pub struct Timers<T: Ord + Copy = Timer> {
    by_time: BTreeSet<(Timestamp, T)>,
    by_reason: BTreeMap<T, Timestamp>,
}

impl<T: Ord + Copy> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            by_time: BTreeSet::new(),
            by_reason: BTreeMap::new(),
        }
    }
}

impl<T: Ord + Copy> Timers<T> {
    /// Arms (or moves) the deadline for `timer`; `None` cancels it.
    pub fn set(&mut self, timer: T, at: Option<Timestamp>) {
        if let Some(old) = self.by_reason.remove(&timer) {
            self.by_time.remove(&(old, timer));
        }
        if let Some(at) = at {
            self.by_reason.insert(timer, at);
            self.by_time.insert((at, timer));
        }
    }

    /// Cancels the deadline for `timer`, if any.
    pub fn cancel(&mut self, timer: T) {
        self.set(timer, None);
    }

    /// When `timer` is due, if it is armed.
    pub fn due(&self, timer: T) -> Option<Timestamp> {
        self.by_reason.get(&timer).copied()
    }

    /// True if `timer` is armed.
    pub fn is_armed(&self, timer: T) -> bool {
        self.by_reason.contains_key(&timer)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Timestamp> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns every timer due at `now`, earliest first.
    pub fn expired(&mut self, now: Timestamp) -> Vec<T> {
        let mut due = Vec::new();
        while let Some(&(at, timer)) = self.by_time.first() {
            if at > now {
                break;
            }
            self.by_time.pop_first();
            self.by_reason.remove(&timer);
            due.push(timer);
        }
        due
    }

    /// Every armed deadline with its reason, earliest first (for inspection and tests).
    pub fn deadlines(&self) -> impl Iterator<Item = (Timestamp, T)> + '_ {
        self.by_time.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_move_cancel_and_expire_in_order() {
        let mut t = Timers::default();
        t.set(Timer::Cluster, Some(Timestamp::from_millis(30)));
        t.set(Timer::Connect(ConnId(1)), Some(Timestamp::from_millis(10)));
        t.set(Timer::Cluster, Some(Timestamp::from_millis(5)));
        assert_eq!(t.next(), Some(Timestamp::from_millis(5)));
        t.cancel(Timer::Cluster);
        assert_eq!(t.next(), Some(Timestamp::from_millis(10)));
        t.set(Timer::StopDelay, Some(Timestamp::from_millis(20)));
        assert_eq!(
            t.expired(Timestamp::from_millis(20)),
            vec![Timer::Connect(ConnId(1)), Timer::StopDelay]
        );
        assert_eq!(t.next(), None);
        assert!(!t.is_armed(Timer::StopDelay));
    }
}
