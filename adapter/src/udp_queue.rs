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

/// A [`SendQueue`] shared between the core task, which sends, and the task that drains it when
/// the socket is writable again. The runtime passes its non-blocking `send_to`.
#[derive(Debug, Default)]
pub struct SharedQueue {
    /// The datagrams waiting, and whether a task is draining them.
    inner: std::sync::Mutex<(SendQueue, bool)>,
}

impl SharedQueue {
    /// Sends at once with `try_send` if nothing waits and the socket takes it; else holds the
    /// datagram behind the others. Returns true when the caller must start a draining task
    /// (one that waits for the socket to be writable, then calls [`SharedQueue::drain`]).
    pub fn send(
        &self,
        to: SocketAddr,
        payload: Bytes,
        try_send: impl Fn(&[u8], SocketAddr) -> std::io::Result<usize>,
    ) -> bool {
        let Ok(mut guard) = self.inner.lock() else {
            return false;
        };
        let (queue, draining) = &mut *guard;
        if queue.is_empty() {
            match try_send(&payload, to) {
                Ok(_) => return false,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => {
                    tracing::debug!(%to, %error, "send failed");
                    return false;
                }
            }
        }
        if queue.hold(to, payload) && !*draining {
            *draining = true;
            return true;
        }
        false
    }

    /// Sends what waits, oldest first, until the socket is full again. Returns true when
    /// everything left (the draining task ends), false when the task must wait for the socket
    /// to be writable and call again.
    pub fn drain(&self, try_send: impl Fn(&[u8], SocketAddr) -> std::io::Result<usize>) -> bool {
        let Ok(mut guard) = self.inner.lock() else {
            return true;
        };
        let (queue, draining) = &mut *guard;
        while let Some((to, payload)) = queue.front() {
            match try_send(payload, *to) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(error) => tracing::debug!(%to, %error, "send failed"),
                Ok(_) => {}
            }
            queue.pop();
        }
        *draining = false;
        true
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
        assert_eq!(
            q.front().map(|(_, p)| p.clone()),
            Some(Bytes::from_static(b"x"))
        );
    }

    #[test]
    fn a_full_socket_holds_datagrams_until_drained_in_order() {
        use std::cell::RefCell;
        let q = SharedQueue::default();
        let to: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let full = |_: &[u8], _: SocketAddr| -> std::io::Result<usize> {
            Err(std::io::ErrorKind::WouldBlock.into())
        };
        assert!(
            q.send(to, Bytes::from_static(b"1"), full),
            "first hold starts a drain"
        );
        assert!(
            !q.send(to, Bytes::from_static(b"2"), full),
            "one drain at a time"
        );
        let sent = RefCell::new(Vec::new());
        let open = |p: &[u8], _: SocketAddr| -> std::io::Result<usize> {
            sent.borrow_mut().push(p.to_vec());
            Ok(p.len())
        };
        // While datagrams wait, a new one queues behind them instead of overtaking.
        assert!(!q.send(to, Bytes::from_static(b"3"), open));
        assert!(!q.drain(full));
        assert!(q.drain(open));
        assert_eq!(
            *sent.borrow(),
            vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
        );
        assert!(!q.send(to, Bytes::from_static(b"4"), open));
        assert_eq!(sent.borrow().len(), 4);
    }
}
