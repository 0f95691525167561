//! Stream connections on tokio: accept loops, outbound connects, and the per-connection task
//! that reads into inputs (unless its read gate is closed) and writes what the core asks for,
//! in order. TLS is the one layer added here (tokio-rustls); every deadline is the core's,
//! which closes what takes too long.

use crate::driver::Event;
use bytes::BytesMut;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapter::engine::TlsClientSetup;
use switchboard_adapter::flow::{self, ConnHandle, ConnQueue, WriteCmd, WRITE_QUEUE};
use switchboard_adapter::ids::ConnIds;
use switchboard_core::io::{CloseReason, ConnId, Input, ListenerId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The core task's handle on a connection.
pub type Handle = ConnHandle<mpsc::Sender<WriteCmd>>;
/// A connection task's end.
pub type Queue = ConnQueue<mpsc::Receiver<WriteCmd>>;

/// The two ends of a new connection.
pub fn writer() -> (Handle, Queue) {
    flow::ends(mpsc::channel(WRITE_QUEUE))
}

/// Accepts connections on `socket` until the task is aborted (listener closed) or the core
/// task is gone. The core hears of each connection at once (`Accepted`); a TLS handshake then
/// runs in the connection's task, which the core closes if it takes too long.
pub async fn accept(
    socket: TcpListener,
    listener: ListenerId,
    tls: Option<TlsAcceptor>,
    ids: Arc<ConnIds>,
    events: mpsc::Sender<Event>,
) {
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(x) => x,
            Err(error) => {
                tracing::warn!(?listener, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = ids.next();
        let (handle, mut queue) = writer();
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
        tokio::spawn(async move {
            let Some(tls) = tls else {
                return run(conn, stream, queue, events).await;
            };
            // Nothing is written before the handshake: any command now is the core's close.
            let handshake = tokio::select! {
                result = tls.accept(stream) => result,
                _ = queue.rx.recv() => return,
            };
            match handshake {
                Ok(stream) => run(conn, stream, queue, events).await,
                Err(error) => {
                    tracing::debug!(?listener, %peer, %error, "TLS handshake failed");
                    closed(&events, conn, CloseReason::IoError).await;
                }
            }
        });
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
    events: mpsc::Sender<Event>,
) {
    let attempt = async {
        let socket = switchboard_adapter::net::tcp_connect_socket(local, to)?;
        let socket = TcpSocket::from_std_stream(socket.into());
        socket.connect(to).await
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

async fn established<S>(conn: ConnId, stream: S, queue: Queue, events: mpsc::Sender<Event>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    if events
        .send(Event::Input(Input::Connected { conn }))
        .await
        .is_ok()
    {
        run(conn, stream, queue, events).await;
    }
}

async fn closed(events: &mpsc::Sender<Event>, conn: ConnId, reason: CloseReason) {
    let _ = events
        .send(Event::Input(Input::Closed { conn, reason }))
        .await;
}

/// Runs one connection until its writer ends (the core asked to close it, a write failed, or
/// the core task dropped it after `Closed`). Reading waits while the gate is closed (a read
/// under way is dropped), and stops at end of stream or error, which is reported as `Closed`
/// at once; writes already queued still go out, and a drain notice is reported once the
/// writes before it are flushed.
async fn run<S>(conn: ConnId, stream: S, queue: Queue, events: mpsc::Sender<Event>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Queue { mut rx, gate } = queue;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let read = async {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(64 * 1024);
            }
            let Some(read) = gate.read(rd.read_buf(&mut buf)).await else {
                continue;
            };
            match read {
                Ok(0) => return CloseReason::PeerClosed,
                Err(error) => {
                    tracing::debug!(?conn, %error, "read failed");
                    return CloseReason::IoError;
                }
                Ok(_) => {
                    let bytes = buf.split().freeze();
                    if events
                        .send(Event::Input(Input::Data { conn, bytes }))
                        .await
                        .is_err()
                    {
                        return CloseReason::IoError;
                    }
                }
            }
        }
    };
    let write = async {
        while let Some(cmd) = rx.recv().await {
            let notify = matches!(cmd, WriteCmd::Notify);
            let written = match cmd {
                WriteCmd::Data(bytes) => wr.write_all(&bytes).await,
                // What a TLS layer still buffers goes out before the notice.
                WriteCmd::Notify => wr.flush().await,
                WriteCmd::Close => break,
            };
            if let Err(error) = written {
                tracing::debug!(?conn, %error, "write failed");
                return CloseReason::IoError;
            }
            let drained = Event::Input(Input::Drained { conn });
            if notify && events.send(drained).await.is_err() {
                return CloseReason::IoError;
            }
        }
        let _ = wr.shutdown().await;
        CloseReason::Requested
    };
    tokio::pin!(read, write);
    let mut reported = false;
    loop {
        tokio::select! {
            reason = &mut read, if !reported => {
                reported = true;
                closed(&events, conn, reason).await;
            }
            reason = &mut write => {
                if !reported {
                    closed(&events, conn, reason).await;
                }
                return;
            }
        }
    }
}
