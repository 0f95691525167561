//! What a UDP socket does when its send buffer is full: the core never waits on a socket, so
//! datagrams that cannot leave at once wait in a bounded queue per socket, drained when the
//! socket is writable again; past the bound they are dropped and counted, as a UDP sender
//! under congestion would lose them anyway.

use bytes::Bytes;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Datagrams a socket may hold back before it drops new ones.
pub const QUEUE_LIMIT: usize = 4096;

/// The datagrams waiting for one socket to become writable.
#[derive(Debug, Default)]
pub struct SendQueue {
    waiting: VecDeque<(SocketAddr, Bytes)>,
    dropped: u64,
}

impl SendQueue {
    /// True when nothing waits: a new datagram may be sent at once.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Holds a datagram back; drops it (and counts) when [`QUEUE_LIMIT`] are waiting.
    /// Returns false when it was dropped.
    pub fn hold(&mut self, to: SocketAddr, payload: Bytes) -> bool {
        if self.waiting.len() >= QUEUE_LIMIT {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(
                    dropped = self.dropped,
                    "UDP send buffer full: datagrams dropped"
                );
            }
            return false;
        }
        self.waiting.push_back((to, payload));
        true
    }

    /// The oldest waiting datagram, for a send attempt.
    pub fn front(&self) -> Option<&(SocketAddr, Bytes)> {
        self.waiting.front()
    }

    /// The oldest datagram left (sent, or failed for good).
    pub fn pop(&mut self) {
        self.waiting.pop_front();
    }

    /// Datagrams dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_up_to_the_limit_then_drops_and_counts() {
        let mut q = SendQueue::default();
        let to: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        for _ in 0..QUEUE_LIMIT {
            assert!(q.hold(to, Bytes::from_static(b"x")));
        }
        assert!(!q.hold(to, Bytes::from_static(b"y")));
        assert_eq!(q.dropped(), 1);
        q.pop();
        assert!(q.hold(to, Bytes::from_static(b"z")));
        assert_eq!(q.front().map(|(_, p)| p.clone()), Some(Bytes::from_static(b"x")));
    }
}
