//! Flow control on loopback connections: a paused connection leaves its bytes in the socket
//! (the peer's writes stall) until resumed, and a drain notice comes back only once the
//! writes queued before it are written.

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
        assert_eq!(io.notify_drained(CONN), Queued::Yes);
        let drained = Input::Drained { conn: CONN };
        assert_eq!(next(&inbox).await, drained, "nothing pending: at once");
        let chunk = Bytes::from(vec![7; 1 << 20]);
        for _ in 0..MUCH >> 20 {
            assert_eq!(io.write(CONN, chunk.clone()), Queued::Yes);
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
