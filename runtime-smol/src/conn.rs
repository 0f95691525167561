//! Stream connections on smol: accept loops, outbound connects, and the per-connection task
//! that reads into inputs (unless its read gate is closed) and writes what the core asks for,
//! in order. TLS is the one layer added here (futures-rustls); every deadline is the core's,
//! which closes what takes too long.

use crate::driver::Event;
use crate::spawn;
use bytes::Bytes;
use futures_rustls::{TlsAcceptor, TlsConnector};
use nix::errno::Errno;
use smol::channel::{self, Receiver, Sender};
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::{future, Async, Timer};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapter::engine::TlsClientSetup;
use switchboard_adapter::flow::{self, ConnHandle, ConnQueue, WriteCmd, WRITE_QUEUE};
use switchboard_adapter::ids::ConnIds;
use switchboard_core::io::{CloseReason, ConnId, Input, ListenerId};

/// The core task's handle on a connection.
pub type Handle = ConnHandle<Sender<WriteCmd>>;
/// A connection task's end.
pub type Queue = ConnQueue<Receiver<WriteCmd>>;

/// The two ends of a new connection.
pub fn writer() -> (Handle, Queue) {
    flow::ends(channel::bounded(WRITE_QUEUE))
}

/// Accepts connections on `socket` until the task is cancelled (listener closed) or the core
/// task is gone. The core hears of each connection at once (`Accepted`); a TLS handshake then
/// runs in the connection's task, which the core closes if it takes too long.
pub async fn accept(
    socket: Async<TcpListener>,
    listener: ListenerId,
    tls: Option<TlsAcceptor>,
    ids: Arc<ConnIds>,
    events: Sender<Event>,
) {
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(x) => x,
            Err(error) => {
                tracing::warn!(?listener, %error, "accept failed");
                Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.get_ref().set_nodelay(true);
        let conn = ids.next();
        let (handle, queue) = writer();
        let opened = Event::Opened {
            conn,
            writer: handle,
            input: Input::Accepted {
                conn,
                listener,
                peer,
            },
        };
        if events.send(opened).await.is_err() {
            return;
        }
        let (events, tls) = (events.clone(), tls.clone());
        spawn(async move {
            let Some(tls) = tls else {
                return run(conn, stream, queue, events).await;
            };
            // Nothing is written before the handshake: any command now is the core's close.
            let handshake = future::or(async { Some(tls.accept(stream).await) }, async {
                let _ = queue.rx.recv().await;
                None
            });
            match handshake.await {
                None => {}
                Some(Ok(stream)) => run(conn, stream, queue, events).await,
                Some(Err(error)) => {
                    tracing::debug!(?listener, %peer, %error, "TLS handshake failed");
                    closed(&events, conn, CloseReason::IoError).await;
                }
            }
        })
        .detach();
    }
}

/// Opens the outbound connection the core asked for (from `local` if it is a specific
/// address, with TLS if asked), reports `Connected` or `ConnectFailed`, then runs it.
pub async fn connect(
    conn: ConnId,
    to: SocketAddr,
    local: Option<IpAddr>,
    tls: Option<TlsClientSetup>,
    queue: Queue,
    events: Sender<Event>,
) {
    let attempt = async {
        let socket = switchboard_adapter::net::tcp_connect_socket(local, to)?;
        match socket.connect(&to.into()) {
            Err(e) if e.raw_os_error() != Some(Errno::EINPROGRESS as i32) => return Err(e),
            _ => {}
        }
        let stream = Async::new(TcpStream::from(socket))?;
        stream.writable().await?;
        match stream.get_ref().take_error()? {
            Some(error) => Err(error),
            None => stream.get_ref().peer_addr().map(|_| stream),
        }
    };
    let stream = match attempt.await {
        Ok(stream) => stream,
        Err(error) => {
            tracing::debug!(?conn, %to, %error, "connect failed");
            let _ = events
                .send(Event::Input(Input::ConnectFailed { conn }))
                .await;
            return;
        }
    };
    let Some(tls) = tls else {
        return established(conn, stream, queue, events).await;
    };
    let connector = TlsConnector::from(tls.config);
    match connector.connect(tls.server_name, stream).await {
        Ok(stream) => established(conn, stream, queue, events).await,
        Err(error) => {
            tracing::warn!(?conn, %to, %error, "outbound TLS handshake failed");
            let _ = events
                .send(Event::Input(Input::ConnectFailed { conn }))
                .await;
        }
    }
}

async fn established<S>(conn: ConnId, stream: S, queue: Queue, events: Sender<Event>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if events
        .send(Event::Input(Input::Connected { conn }))
        .await
        .is_ok()
    {
        run(conn, stream, queue, events).await;
    }
}

async fn closed(events: &Sender<Event>, conn: ConnId, reason: CloseReason) {
    let _ = events
        .send(Event::Input(Input::Closed { conn, reason }))
        .await;
}

/// Runs one connection until its writer ends (the core asked to close it, a write failed, or
/// the core task dropped it after `Closed`). Reading waits while the gate is closed (a read
/// under way is dropped), and stops at end of stream or error, which is reported as `Closed`
/// at once; writes already queued still go out, and a drain notice is reported once the
/// writes before it are flushed.
async fn run<S>(conn: ConnId, stream: S, queue: Queue, events: Sender<Event>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Queue { rx, gate } = queue;
    let (mut rd, mut wr) = smol::io::split(stream);
    let read = pin!(async {
        let mut buf = vec![0; 64 * 1024];
        loop {
            let Some(read) = gate.read(rd.read(&mut buf)).await else {
                continue;
            };
            match read {
                Ok(0) => return CloseReason::PeerClosed,
                Err(error) => {
                    tracing::debug!(?conn, %error, "read failed");
                    return CloseReason::IoError;
                }
                Ok(n) => {
                    let bytes = Bytes::copy_from_slice(&buf[..n]);
                    let input = Input::Data { conn, bytes };
                    if events.send(Event::Input(input)).await.is_err() {
                        return CloseReason::IoError;
                    }
                    // A peer that sends without pause must not keep other tasks waiting.
                    future::yield_now().await;
                }
            }
        }
    });
    let mut write = pin!(async {
        while let Ok(cmd) = rx.recv().await {
            let notify = matches!(cmd, WriteCmd::Notify);
            let written = match cmd {
                WriteCmd::Data(bytes) => wr.write_all(&bytes).await,
                WriteCmd::Notify => Ok(()),
                WriteCmd::Close => break,
            };
            // Push out what a TLS layer still buffers before a notice, and once nothing else
            // is queued.
            let flushed = match written {
                Ok(()) if notify || rx.is_empty() => wr.flush().await,
                other => other,
            };
            if let Err(error) = flushed {
                tracing::debug!(?conn, %error, "write failed");
                return CloseReason::IoError;
            }
            let drained = Event::Input(Input::Drained { conn });
            if notify && events.send(drained).await.is_err() {
                return CloseReason::IoError;
            }
        }
        let _ = wr.close().await;
        CloseReason::Requested
    });
    let first = future::or(async { (true, read.await) }, async {
        (false, write.as_mut().await)
    });
    let (was_read, reason) = first.await;
    closed(&events, conn, reason).await;
    if was_read {
        write.await;
    }
}
