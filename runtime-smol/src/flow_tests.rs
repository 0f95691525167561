//! Flow control on loopback connections: a paused connection leaves its bytes in the socket
//! (the peer's writes stall) until resumed, a drain notice comes back only once the writes
//! queued before it are written, and writes the core task makes directly on the socket keep
//! their order with queued ones.

use crate::driver::{Event, SmolIo};
use bytes::Bytes;
use smol::channel::{self, Receiver};
use smol::{future, unblock, Timer};
use std::future::Future;
use std::net::TcpStream;
use std::time::Duration;
use switchboard_adapter::engine::{Io, EVENT_QUEUE};
use switchboard_adapter::flow::Queued;
use switchboard_adapter::loopback;
use switchboard_core::io::{ConnId, Input};

const LIMIT: Duration = Duration::from_secs(20);
/// How long a peer's writes must make no progress to count as stalled.
const QUIET: Duration = Duration::from_millis(300);
/// Far more than loopback socket buffers hold while nobody reads.
const MUCH: usize = 64 << 20;
const CONN: ConnId = ConnId(ConnId::OUTBOUND_BIT | 1);

/// Runs a test on the I/O tasks' executor.
fn run(test: impl Future<Output = ()> + Send + 'static) {
    smol::block_on(crate::EXECUTOR.run(test));
}

/// `future`'s output, or `None` after `limit`.
async fn within<T>(limit: Duration, future: impl Future<Output = T>) -> Option<T> {
    future::or(async { Some(future.await) }, async {
        Timer::after(limit).await;
        None
    })
    .await
}

async fn next(inbox: &Receiver<Event>) -> Input {
    match within(LIMIT, inbox.recv()).await {
        Some(Ok(Event::Input(input))) => input,
        other => panic!("no input: {other:?}"),
    }
}

/// A runtime with an outbound connection to a loopback peer, paused before it is up if
/// asked; returns the peer's end.
async fn connected(pause: bool) -> (SmolIo, Receiver<Event>, TcpStream) {
    let (listener, addr) = loopback::listener().unwrap();
    let (events, inbox) = channel::bounded(EVENT_QUEUE);
    let mut io = SmolIo::new(events);
    io.connect(CONN, addr, None, None);
    io.pause_reading(CONN, pause);
    let (peer, _) = unblock(move || listener.accept()).await.unwrap();
    assert_eq!(next(&inbox).await, Input::Connected { conn: CONN });
    io.established(CONN);
    (io, inbox, peer)
}

#[test]
fn a_paused_connection_is_not_read_until_resumed() {
    run(async {
        let (mut io, inbox, peer) = connected(true).await;
        let writer = peer.try_clone().unwrap();
        let written = unblock(move || loopback::write_until_stalled(&writer, MUCH, QUIET));
        let written = written.await.unwrap();
        assert!(written < MUCH, "the peer's writes never stalled");
        assert!(inbox.try_recv().is_err(), "nothing is read while paused");
        io.pause_reading(CONN, false);
        let mut read = 0;
        while read < written {
            match next(&inbox).await {
                Input::Data { bytes, .. } => read += bytes.len(),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(read, written);
    });
}

#[test]
fn a_drain_notice_follows_the_writes_before_it() {
    run(async {
        let (mut io, inbox, peer) = connected(false).await;
        assert_eq!(
            io.notify_drained(CONN),
            Queued::Done,
            "nothing pending: at once"
        );
        let drained = Input::Drained { conn: CONN };
        let chunk = Bytes::from(vec![7; 1 << 20]);
        for _ in 0..MUCH >> 20 {
            let queued = io.write(CONN, chunk.clone());
            assert!(matches!(queued, Queued::Yes | Queued::Done), "{queued:?}");
        }
        assert_eq!(io.notify_drained(CONN), Queued::Yes);
        let early = within(QUIET, inbox.recv()).await;
        assert!(early.is_none(), "reported before the peer read: {early:?}");
        let reader = unblock(move || loopback::read_exactly(&peer, MUCH, LIMIT));
        assert_eq!(next(&inbox).await, drained);
        reader.await.unwrap();
    });
}

#[test]
fn pause_resume_and_notices_of_unknown_connections_are_ignored() {
    let (events, inbox) = channel::bounded(EVENT_QUEUE);
    let mut io = SmolIo::new(events);
    io.pause_reading(CONN, true);
    assert_eq!(io.notify_drained(CONN), Queued::Gone);
    assert!(inbox.try_recv().is_err());
}

/// Writes [`loopback::pattern`] from `*sent` in chunks of various sizes until one is queued
/// (the peer does not read and the socket is full), then `more` chunks, all queued; returns
/// how many bytes went straight to the socket.
fn fill(io: &mut SmolIo, sent: &mut usize, more: usize) -> usize {
    let (mut direct, mut queued) = (0, 0);
    while queued <= more {
        let len = 20_000 + *sent % 40_000;
        let chunk = Bytes::from(loopback::pattern(*sent, len));
        *sent += len;
        match io.write(CONN, chunk) {
            Queued::Done => {
                assert_eq!(queued, 0, "written directly after a queued write");
                direct += len;
            }
            Queued::Yes => queued += 1,
            Queued::Gone | Queued::Full => panic!("connection lost"),
        }
    }
    direct
}

#[test]
fn direct_and_queued_writes_arrive_in_order_when_the_peer_reads_late() {
    run(async {
        let (mut io, inbox, peer) = connected(false).await;
        let mut sent = 0;
        let direct = fill(&mut io, &mut sent, 400);
        assert!(direct > 0, "no direct write");
        // The peer reads what is in the socket: it has room, but what is queued (far more than
        // it holds) goes first.
        loopback::read_pattern(&peer, 0, direct, LIMIT).unwrap();
        std::thread::sleep(QUIET);
        let chunk = Bytes::from(loopback::pattern(sent, 1000));
        sent += 1000;
        assert_eq!(io.write(CONN, chunk), Queued::Yes, "behind the queue");
        assert_eq!(io.notify_drained(CONN), Queued::Yes, "writes are queued");
        let reader = unblock(move || {
            loopback::read_pattern(&peer, direct, sent - direct, LIMIT).map(|()| peer)
        });
        assert_eq!(next(&inbox).await, Input::Drained { conn: CONN });
        let peer = reader.await.unwrap();
        // The queue is empty again: straight to the socket, after the rest.
        let chunk = Bytes::from(loopback::pattern(sent, 1000));
        assert_eq!(io.write(CONN, chunk), Queued::Done);
        assert_eq!(io.notify_drained(CONN), Queued::Done);
        let reader = unblock(move || loopback::read_pattern(&peer, sent, 1000, LIMIT));
        reader.await.unwrap();
    });
}

#[test]
fn a_close_after_direct_writes_sends_them_all_first() {
    run(async {
        for more in [0, 20] {
            let (mut io, inbox, peer) = connected(false).await;
            let mut sent = 0;
            if more == 0 {
                // Direct writes only.
                for len in [1, 1000, 30_000] {
                    let chunk = Bytes::from(loopback::pattern(sent, len));
                    assert_eq!(io.write(CONN, chunk), Queued::Done);
                    sent += len;
                }
            } else {
                fill(&mut io, &mut sent, more);
            }
            io.close(CONN);
            let reader = unblock(move || {
                loopback::read_pattern(&peer, 0, sent, LIMIT)?;
                loopback::read_exactly(&peer, 1, LIMIT)
            });
            let end = reader.await.unwrap_err();
            assert_eq!(end.kind(), std::io::ErrorKind::UnexpectedEof, "{end}");
            let closed = next(&inbox).await;
            assert!(matches!(closed, Input::Closed { .. }), "{closed:?}");
        }
    });
}
