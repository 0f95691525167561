//! The two ends of a stream connection, the same on every runtime: the core task's
//! [`ConnHandle`] and the connection task's [`ConnQueue`], around one shared write queue of
//! [`WriteCmd`]s and the connection's [`ReadGate`].
//!
//! On a plain TCP connection that is up, the connection task hands the core task its socket
//! ([`ConnQueue::direct`]); from then on, while nothing is queued, the core task writes on
//! the socket itself without waiting ([`DirectWrite`]), and only what the socket does not
//! take is queued. While anything is queued or being written by the connection task, every
//! later command is queued behind it, so bytes go out in the order the core wrote them. TLS
//! connections never hand their socket over: every command goes through the queue.
//!
//! The connection task takes every command waiting at once ([`ConnQueue::take`]) into a
//! [`Batch`], writes consecutive data with one vectored write ([`Batch::slices`]), and tells
//! the queue when it is done ([`ConnQueue::done`]).

use crate::flow::{Queued, ReadGate, WriteCmd, WRITE_QUEUE};
use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Poll, Waker};

/// A socket the core task may write on without waiting: a plain TCP stream of the runtime.
pub trait DirectWrite {
    /// Writes as much of `buf` as the socket takes now; `WouldBlock` if it takes nothing.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

/// What both ends share.
#[derive(Debug)]
struct Shared<S> {
    gate: ReadGate,
    queue: Mutex<State>,
    /// The connection's plain TCP socket, once it is up.
    direct: OnceLock<S>,
}

#[derive(Debug, Default)]
struct State {
    /// Commands not yet taken by the connection task.
    cmds: VecDeque<WriteCmd>,
    /// The connection task took commands it has not finished carrying out.
    busy: bool,
    /// The core task dropped its handle: once the queue is empty, the connection ends.
    handle_gone: bool,
    /// The connection task ended: nothing more will be written.
    task_gone: bool,
    /// The connection task waiting for commands.
    waiter: Option<Waker>,
}

impl State {
    /// Nothing queued or being written: a write now goes out right after every earlier one.
    fn idle(&self) -> bool {
        self.cmds.is_empty() && !self.busy
    }

    fn push(&mut self, cmd: WriteCmd) -> Queued {
        if self.task_gone || self.cmds.len() >= WRITE_QUEUE {
            return Queued::Full;
        }
        self.cmds.push_back(cmd);
        if let Some(waker) = self.waiter.take() {
            waker.wake();
        }
        Queued::Yes
    }
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The core task's end of a connection: its write queue, its read gate, and its socket once
/// handed over. Dropping it (the connection is forgotten) ends the connection task once the
/// commands already queued are carried out.
#[derive(Debug)]
pub struct ConnHandle<S> {
    shared: Arc<Shared<S>>,
}

/// The connection task's end.
#[derive(Debug)]
pub struct ConnQueue<S> {
    shared: Arc<Shared<S>>,
}

/// The two ends of a new connection: call when accepting a connection or starting an outbound
/// one, before either is up.
pub fn ends<S>() -> (ConnHandle<S>, ConnQueue<S>) {
    let shared = Arc::new(Shared {
        gate: ReadGate::default(),
        queue: Mutex::new(State::default()),
        direct: OnceLock::new(),
    });
    let handle = ConnHandle {
        shared: shared.clone(),
    };
    (handle, ConnQueue { shared })
}

impl<S: DirectWrite> ConnHandle<S> {
    /// Call on `Io::write`: writes `payload` on the socket at once when the connection is a
    /// plain TCP one that is up and nothing is queued ([`Queued::Done`] if the socket took it
    /// all), and queues what is left. A write error queues the bytes too: the connection task
    /// meets the error on its next write and reports the connection closed, as for any
    /// failed write.
    pub fn write(&self, mut payload: Bytes) -> Queued {
        let mut state = self.shared.lock();
        if state.task_gone {
            return Queued::Full;
        }
        if let Some(socket) = self.shared.direct.get().filter(|_| state.idle()) {
            match socket.try_write(&payload) {
                Ok(n) if n == payload.len() => return Queued::Done,
                Ok(n) => payload.advance(n),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => tracing::debug!(%error, "direct write failed"),
            }
        }
        state.push(WriteCmd::Data(payload))
    }

    /// Call on `Io::notify_drained`: [`Queued::Done`] when every byte written before is
    /// already in the socket (a plain TCP connection that is up, with nothing queued), else
    /// queues a [`WriteCmd::Notify`] behind the pending writes.
    pub fn notify_drained(&self) -> Queued {
        let mut state = self.shared.lock();
        if !state.task_gone && state.idle() && self.shared.direct.get().is_some() {
            return Queued::Done;
        }
        state.push(WriteCmd::Notify)
    }
}

impl<S> ConnHandle<S> {
    /// Call on `Io::close` for a connection that is up (or whose writes wait for it): queues
    /// [`WriteCmd::Close`] behind the pending writes and lets go of the connection.
    pub fn close(self) {
        // A full queue ends the task all the same once it is empty: the handle is dropped.
        let _ = self.shared.lock().push(WriteCmd::Close);
    }

    /// Call on `Io::pause_reading`: pauses (`true`) or resumes (`false`) reading.
    pub fn pause_reading(&self, paused: bool) {
        self.shared.gate.set_paused(paused);
    }
}

impl<S> Drop for ConnHandle<S> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.handle_gone = true;
        if let Some(waker) = state.waiter.take() {
            waker.wake();
        }
    }
}

impl<S> ConnQueue<S> {
    /// Call once a plain TCP connection is up, before reporting it (`Accepted`, `Connected`):
    /// from then on the core task writes on `socket` directly while nothing is queued. Never
    /// for TLS, whose bytes must go through the TLS layer.
    pub fn direct(&self, socket: S) {
        let _ = self.shared.direct.set(socket);
    }

    /// The connection's read gate: read through [`ReadGate::read`] (or check it between
    /// waiting for readiness and reading).
    pub fn gate(&self) -> &ReadGate {
        &self.shared.gate
    }

    /// Waits for commands and moves every one waiting into `batch` (empty when called):
    /// `false` once the core task let go of the connection and nothing is left, when the
    /// task writes nothing more. Carry the batch out, then call [`ConnQueue::done`].
    /// Cancel-safe: nothing is taken unless it resolves.
    pub fn take<'a>(&'a self, batch: &'a mut Batch) -> impl Future<Output = bool> + 'a {
        std::future::poll_fn(move |cx| {
            let mut state = self.shared.lock();
            if !state.cmds.is_empty() {
                std::mem::swap(&mut state.cmds, &mut batch.cmds);
                state.busy = true;
                return Poll::Ready(true);
            }
            if state.handle_gone {
                return Poll::Ready(false);
            }
            match &mut state.waiter {
                Some(waker) => waker.clone_from(cx.waker()),
                None => state.waiter = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
    }

    /// Call when every command of the last [`ConnQueue::take`] is carried out (each data
    /// handed to the socket, each notice reported): the core task may write directly again.
    pub fn done(&self) {
        self.shared.lock().busy = false;
    }
}

impl<S> Drop for ConnQueue<S> {
    fn drop(&mut self) {
        self.shared.lock().task_gone = true;
    }
}

/// Commands a connection task took from its queue, carried out in order: the leading data
/// with vectored writes ([`Batch::slices`], [`Batch::advance`]) until [`Batch::step`] gives
/// something else.
#[derive(Debug, Default)]
pub struct Batch {
    cmds: VecDeque<WriteCmd>,
}

/// What a connection task does next with its [`Batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Write the leading data: [`Batch::slices`] and [`Batch::advance`] until
    /// [`Batch::has_data`] is false.
    Write,
    /// Flush, then report `Input::Drained`.
    Notify,
    /// Flush, shut down the sending side and end the connection.
    Close,
}

/// The most slices one vectored write carries.
pub const MAX_SLICES: usize = 64;

impl Batch {
    /// The next thing to do, or `None` when the batch is carried out (call
    /// [`ConnQueue::done`]).
    pub fn step(&mut self) -> Option<Step> {
        loop {
            match self.cmds.front()? {
                WriteCmd::Data(bytes) if bytes.is_empty() => {}
                WriteCmd::Data(_) => return Some(Step::Write),
                WriteCmd::Notify => {
                    self.cmds.pop_front();
                    return Some(Step::Notify);
                }
                WriteCmd::Close => {
                    self.cmds.pop_front();
                    return Some(Step::Close);
                }
            }
            self.cmds.pop_front();
        }
    }

    /// True while the batch starts with bytes to write.
    pub fn has_data(&self) -> bool {
        matches!(self.cmds.front(), Some(WriteCmd::Data(bytes)) if !bytes.is_empty())
    }

    /// Fills `out` with the leading data, in order, and returns how many slices it filled:
    /// write `&out[..n]` with one vectored write, then [`Batch::advance`] by what it took.
    pub fn slices<'a>(&'a self, out: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let data = self.cmds.iter().map_while(|cmd| match cmd {
            WriteCmd::Data(bytes) => Some(bytes),
            _ => None,
        });
        let mut n = 0;
        for bytes in data.filter(|b| !b.is_empty()).take(MAX_SLICES) {
            out[n] = IoSlice::new(bytes);
            n += 1;
        }
        n
    }

    /// Drops the first `written` bytes of the leading data.
    pub fn advance(&mut self, mut written: usize) {
        while written > 0 {
            let Some(WriteCmd::Data(bytes)) = self.cmds.front_mut() else {
                return;
            };
            let n = written.min(bytes.len());
            bytes.advance(n);
            written -= n;
            if bytes.is_empty() {
                self.cmds.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Context;

    /// A socket that takes at most `room` more bytes, recording them; `error` fails every
    /// write.
    #[derive(Debug, Default)]
    struct Fake {
        room: AtomicUsize,
        taken: Mutex<Vec<u8>>,
        error: bool,
    }

    impl DirectWrite for Arc<Fake> {
        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            if self.error {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.room.load(Ordering::SeqCst));
            if n == 0 && !buf.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.room.fetch_sub(n, Ordering::SeqCst);
            self.taken.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
    }

    fn take(queue: &ConnQueue<Arc<Fake>>, batch: &mut Batch) -> Poll<bool> {
        let mut cx = Context::from_waker(Waker::noop());
        pin!(queue.take(batch)).poll(&mut cx)
    }

    /// The data of a batch, as the connection task would write it, with its notices and
    /// close as `|N|` and `|C|`.
    fn carry_out(batch: &mut Batch) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(step) = batch.step() {
            match step {
                Step::Write => {
                    while batch.has_data() {
                        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                        let n = batch.slices(&mut slices);
                        // A socket that takes 3 bytes at a time, across slices.
                        let mut took = 0;
                        for s in &slices[..n] {
                            let k = s.len().min(3 - took);
                            out.extend_from_slice(&s[..k]);
                            took += k;
                        }
                        batch.advance(took);
                    }
                }
                Step::Notify => out.extend_from_slice(b"|N|"),
                Step::Close => out.extend_from_slice(b"|C|"),
            }
        }
        out
    }

    fn data(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn nothing_is_written_directly_before_the_socket_is_handed_over() {
        let (handle, queue) = ends::<Arc<Fake>>();
        assert_eq!(handle.write(data("ab")), Queued::Yes);
        assert_eq!(handle.notify_drained(), Queued::Yes);
        let fake = Arc::new(Fake::default());
        fake.room.store(100, Ordering::SeqCst);
        queue.direct(fake.clone());
        // Still queued behind the first two.
        assert_eq!(handle.write(data("cd")), Queued::Yes);
        let mut batch = Batch::default();
        assert_eq!(take(&queue, &mut batch), Poll::Ready(true));
        assert_eq!(carry_out(&mut batch), b"ab|N|cd");
        assert!(fake.taken.lock().unwrap().is_empty());
        queue.done();
        assert_eq!(handle.write(data("ef")), Queued::Done);
        assert_eq!(handle.notify_drained(), Queued::Done);
        assert_eq!(*fake.taken.lock().unwrap(), b"ef");
    }

    #[test]
    fn what_the_socket_does_not_take_is_queued_and_later_writes_follow_it() {
        let (handle, queue) = ends::<Arc<Fake>>();
        let fake = Arc::new(Fake::default());
        fake.room.store(4, Ordering::SeqCst);
        queue.direct(fake.clone());
        assert_eq!(handle.write(data("abc")), Queued::Done);
        assert_eq!(handle.write(data("defg")), Queued::Yes, "took d only");
        // The socket has room again, but the queue is not empty: behind it.
        fake.room.store(100, Ordering::SeqCst);
        assert_eq!(handle.write(data("hi")), Queued::Yes);
        assert_eq!(handle.notify_drained(), Queued::Yes);
        let mut batch = Batch::default();
        assert_eq!(take(&queue, &mut batch), Poll::Ready(true));
        // Taken, not yet written: still behind.
        assert_eq!(handle.write(data("jk")), Queued::Yes);
        assert_eq!(carry_out(&mut batch), b"efghi|N|");
        queue.done();
        assert_eq!(take(&queue, &mut batch), Poll::Ready(true));
        assert_eq!(carry_out(&mut batch), b"jk");
        queue.done();
        assert_eq!(take(&queue, &mut batch), Poll::Pending);
        assert_eq!(handle.write(data("lm")), Queued::Done);
        assert_eq!(*fake.taken.lock().unwrap(), b"abcdlm");
    }

    #[test]
    fn a_failed_direct_write_is_queued_for_the_task_to_meet() {
        let (handle, queue) = ends::<Arc<Fake>>();
        queue.direct(Arc::new(Fake {
            error: true,
            ..Fake::default()
        }));
        assert_eq!(handle.write(data("ab")), Queued::Yes);
        let mut batch = Batch::default();
        assert_eq!(take(&queue, &mut batch), Poll::Ready(true));
        assert_eq!(carry_out(&mut batch), b"ab");
    }

    #[test]
    fn close_follows_the_queue_and_the_task_ends_when_the_handle_is_gone() {
        let (handle, queue) = ends::<Arc<Fake>>();
        assert_eq!(handle.write(data("ab")), Queued::Yes);
        handle.close();
        let mut batch = Batch::default();
        assert_eq!(take(&queue, &mut batch), Poll::Ready(true));
        assert_eq!(carry_out(&mut batch), b"ab|C|");
        assert_eq!(take(&queue, &mut batch), Poll::Ready(false));
        let (handle, queue) = ends::<Arc<Fake>>();
        let mut batch = Batch::default();
        assert_eq!(take(&queue, &mut batch), Poll::Pending);
        drop(handle);
        assert_eq!(take(&queue, &mut batch), Poll::Ready(false));
    }

    #[test]
    fn a_queue_whose_task_ended_or_that_is_full_closes_the_connection() {
        let (handle, queue) = ends::<Arc<Fake>>();
        let fake = Arc::new(Fake::default());
        fake.room.store(100, Ordering::SeqCst);
        queue.direct(fake);
        drop(queue);
        assert_eq!(handle.write(data("ab")), Queued::Full);
        assert_eq!(handle.notify_drained(), Queued::Full);
        let (handle, _queue) = ends::<Arc<Fake>>();
        for _ in 0..WRITE_QUEUE {
            assert_eq!(handle.write(data("x")), Queued::Yes);
        }
        assert_eq!(handle.write(data("x")), Queued::Full);
    }

    #[test]
    fn a_batch_writes_consecutive_data_in_one_go_and_skips_empty_data() {
        let mut batch = Batch::default();
        for cmd in [
            WriteCmd::Data(data("ab")),
            WriteCmd::Data(Bytes::new()),
            WriteCmd::Data(data("cde")),
            WriteCmd::Notify,
            WriteCmd::Data(data("f")),
        ] {
            batch.cmds.push_back(cmd);
        }
        assert_eq!(batch.step(), Some(Step::Write));
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let n = batch.slices(&mut slices);
        let got: Vec<&[u8]> = slices[..n].iter().map(|s| &**s).collect();
        assert_eq!(got, [&b"ab"[..], b"cde"]);
        batch.advance(3);
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let n = batch.slices(&mut slices);
        assert_eq!(&*slices[0], b"de");
        assert_eq!(n, 1);
        batch.advance(2);
        assert!(!batch.has_data());
        assert_eq!(batch.step(), Some(Step::Notify));
        assert_eq!(batch.step(), Some(Step::Write));
        batch.advance(1);
        assert_eq!(batch.step(), None);
    }
}
