//! Stream connections on tokio: accept loops, outbound connects, and the per-connection task
//! that reads into inputs and writes what the core asks for, in order. TLS is the one layer
//! added here (tokio-rustls); every deadline is the core's, which closes what takes too long.

use crate::driver::Event;
use bytes::{Bytes, BytesMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapter::engine::TlsClientSetup;
use switchboard_adapter::ids::ConnIds;
use switchboard_core::io::{CloseReason, ConnId, Input, ListenerId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Writes queued for one connection before the driver gives up on a peer that does not read.
const WRITE_QUEUE: usize = 4096;

/// What the core task asks a connection's task to do.
#[derive(Debug)]
pub enum WriteCmd {
    /// Write these bytes.
    Data(Bytes),
    /// Flush, shut down the sending side and end the connection.
    Close,
}

/// A new writer channel.
pub fn writer() -> (mpsc::Sender<WriteCmd>, mpsc::Receiver<WriteCmd>) {
    mpsc::channel(WRITE_QUEUE)
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
        let (tx, mut rx) = writer();
        let opened = Event::Opened {
            conn,
            writer: tx,
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
                return run(conn, stream, rx, events).await;
            };
            // Nothing is written before the handshake: any command now is the core's close.
            let handshake = tokio::select! {
                result = tls.accept(stream) => result,
                _ = rx.recv() => return,
            };
            match handshake {
                Ok(stream) => run(conn, stream, rx, events).await,
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
    rx: mpsc::Receiver<WriteCmd>,
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
        return established(conn, stream, rx, events).await;
    };
    let connector = TlsConnector::from(tls.config);
    match connector.connect(tls.server_name, stream).await {
        Ok(stream) => established(conn, stream, rx, events).await,
        Err(error) => {
            tracing::warn!(?conn, %to, %error, "outbound TLS handshake failed");
            let _ = events
                .send(Event::Input(Input::ConnectFailed { conn }))
                .await;
        }
    }
}

async fn established<S>(
    conn: ConnId,
    stream: S,
    rx: mpsc::Receiver<WriteCmd>,
    events: mpsc::Sender<Event>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    if events
        .send(Event::Input(Input::Connected { conn }))
        .await
        .is_ok()
    {
        run(conn, stream, rx, events).await;
    }
}

async fn closed(events: &mpsc::Sender<Event>, conn: ConnId, reason: CloseReason) {
    let _ = events
        .send(Event::Input(Input::Closed { conn, reason }))
        .await;
}

/// Runs one connection until its writer ends (the core asked to close it, a write failed, or
/// the core task dropped it after `Closed`). Reading stops at end of stream or error, which is
/// reported as `Closed` at once; writes already queued still go out.
async fn run<S>(
    conn: ConnId,
    stream: S,
    mut rx: mpsc::Receiver<WriteCmd>,
    events: mpsc::Sender<Event>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let read = async {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(64 * 1024);
            }
            match rd.read_buf(&mut buf).await {
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
            match cmd {
                WriteCmd::Data(bytes) => {
                    if let Err(error) = wr.write_all(&bytes).await {
                        tracing::debug!(?conn, %error, "write failed");
                        return CloseReason::IoError;
                    }
                }
                WriteCmd::Close => break,
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
