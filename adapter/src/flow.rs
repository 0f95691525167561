//! Flow control on stream connections, the same on every runtime: the ordered commands of a
//! connection's write queue ([`WriteCmd`], with the drain notice [`WriteCmd::Notify`]), the
//! read gate that pauses reading ([`ReadGate`]), and the engine's book of drain notices a
//! connection still owes the core ([`Drains`]).
//!
//! A runtime gives each connection task the two ends of [`crate::conn::ends`]: a write queue
//! (written on directly by the core task while it is empty, on plain TCP) and a [`ReadGate`].
//! The task reads through [`ReadGate::read`], which waits while the gate is closed and drops
//! a read still pending when it closes, so a paused connection leaves its bytes in the socket
//! and TCP backpressure reaches the sender.

use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use switchboard_core::io::ConnId;

/// Commands queued for one connection before the driver gives up on a peer that does not
/// read.
pub const WRITE_QUEUE: usize = 4096;

/// What the core task asks a connection's task to do, carried out in order.
#[derive(Debug)]
pub enum WriteCmd {
    /// Write these bytes.
    Data(Bytes),
    /// Once every command before this one is written to the socket (flushed through any TLS
    /// layer), report `Input::Drained`.
    Notify,
    /// Flush, shut down the sending side and end the connection.
    Close,
}

/// What became of a command sent to a connection's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Queued behind the commands before it.
    Yes,
    /// Carried out at once, nothing queued: the bytes are in the socket (for a drain notice:
    /// every byte written before it already was, so `Input::Drained` is due now).
    Done,
    /// The runtime does not know the connection (closed, or never opened): nothing to do.
    Gone,
    /// The queue is full or its task ended (a peer that does not read): the engine closes
    /// the connection and reports it closed.
    Full,
}

/// Whether a connection's task may read, shared by the core task (which pauses and resumes
/// it) and the connection's task (which waits on it). Open when created; a pause set before
/// the task reads (a connect or a TLS handshake under way) holds once it starts.
#[derive(Debug, Default)]
pub struct ReadGate(Mutex<GateState>);

#[derive(Debug, Default)]
struct GateState {
    paused: bool,
    /// The connection task waiting for a change, woken by the next one.
    waiter: Option<Waker>,
}

impl ReadGate {
    /// Call from the core task on `PauseReading` (`true`) or `ResumeReading` (`false`).
    pub fn set_paused(&self, paused: bool) {
        let mut state = self.lock();
        if state.paused != paused {
            state.paused = paused;
            if let Some(waker) = state.waiter.take() {
                waker.wake();
            }
        }
    }

    /// True while reading is paused.
    pub fn is_paused(&self) -> bool {
        self.lock().paused
    }

    /// Resolves once the gate is `paused` (at once if it is).
    pub fn wait(&self, paused: bool) -> Wait<'_> {
        Wait { gate: self, paused }
    }

    /// A connection task's read: waits while the gate is closed, then runs `read` (a socket
    /// read, which is cancel-safe) unless the gate closes first, which drops it and gives
    /// `None` (the task then calls again).
    pub async fn read<T>(&self, read: impl Future<Output = T>) -> Option<T> {
        self.wait(false).await;
        let mut read = pin!(read);
        let mut closed = pin!(self.wait(true));
        std::future::poll_fn(|cx| {
            if closed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            read.as_mut().poll(cx).map(Some)
        })
        .await
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The future of [`ReadGate::wait`].
#[derive(Debug)]
pub struct Wait<'a> {
    gate: &'a ReadGate,
    paused: bool,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.gate.lock();
        if state.paused == self.paused {
            return Poll::Ready(());
        }
        match &mut state.waiter {
            Some(waker) => waker.clone_from(cx.waker()),
            None => state.waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The drain notices each connection owes the core: counted when a [`WriteCmd::Notify`] is
/// queued, paid when its `Input::Drained` comes back. A notice whose connection ended first
/// (reported closed, or closed by the core) is forgotten, so its late `Drained` is not fed.
#[derive(Debug, Default)]
pub struct Drains(HashMap<ConnId, u32>);

impl Drains {
    /// Call when a notice was queued on `conn`.
    pub fn owed(&mut self, conn: ConnId) {
        *self.0.entry(conn).or_default() += 1;
    }

    /// Call when a `Drained` for `conn` arrives: true if a notice was owed (feed it), false
    /// if the connection ended since (drop it).
    pub fn paid(&mut self, conn: ConnId) -> bool {
        match self.0.get_mut(&conn) {
            Some(1) => {
                self.0.remove(&conn);
                true
            }
            Some(n) => {
                *n -= 1;
                true
            }
            None => false,
        }
    }

    /// Call when `conn` ends (closed by either side, or never connected).
    pub fn ended(&mut self, conn: ConnId) {
        self.0.remove(&conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn poll(future: Pin<&mut Wait<'_>>, waker: &Waker) -> Poll<()> {
        future.poll(&mut Context::from_waker(waker))
    }

    /// Counts its wake-ups.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn the_gate_holds_a_pause_and_wakes_its_reader_on_resume() {
        let gate = ReadGate::default();
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(count.clone());
        let woken = || count.0.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            poll(pin!(gate.wait(false)), &waker).is_ready(),
            "open at first"
        );
        // Paused before the reader looks (a connect under way): it waits.
        gate.set_paused(true);
        assert!(gate.is_paused());
        let mut open = pin!(gate.wait(false));
        assert!(poll(open.as_mut(), &waker).is_pending());
        gate.set_paused(true);
        assert_eq!(woken(), 0, "no change, no wake-up");
        gate.set_paused(false);
        assert_eq!(woken(), 1);
        assert!(poll(open, &waker).is_ready());
        // A read in progress races `wait(true)`, which resolves on the pause.
        let mut closed = pin!(gate.wait(true));
        assert!(poll(closed.as_mut(), &waker).is_pending());
        gate.set_paused(true);
        assert_eq!(woken(), 2);
        assert!(poll(closed, &waker).is_ready());
    }

    #[test]
    fn a_read_waits_for_the_open_gate_and_is_dropped_when_it_closes() {
        let gate = ReadGate::default();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let ready = pin!(gate.read(std::future::ready(7)));
        assert_eq!(ready.poll(&mut cx), Poll::Ready(Some(7)));
        gate.set_paused(true);
        let mut held = pin!(gate.read(std::future::ready(7)));
        assert_eq!(
            held.as_mut().poll(&mut cx),
            Poll::Pending,
            "not read while paused"
        );
        gate.set_paused(false);
        assert_eq!(held.poll(&mut cx), Poll::Ready(Some(7)));
        let mut pending = pin!(gate.read(std::future::pending::<()>()));
        assert_eq!(pending.as_mut().poll(&mut cx), Poll::Pending);
        gate.set_paused(true);
        assert_eq!(pending.poll(&mut cx), Poll::Ready(None), "dropped on pause");
    }

    #[test]
    fn drained_is_fed_only_while_owed() {
        let (a, b) = (ConnId(1), ConnId(2));
        let mut drains = Drains::default();
        drains.owed(a);
        drains.owed(a);
        drains.owed(b);
        assert!(drains.paid(a));
        assert!(drains.paid(a));
        assert!(!drains.paid(a), "both notices were paid");
        drains.ended(b);
        assert!(!drains.paid(b), "the connection ended first");
    }
}
