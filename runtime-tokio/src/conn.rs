//! Stream connections: accept loops, outbound connects, and the per-connection task that reads
//! into inputs and writes what the core asks for, in order.

use crate::driver::Event;
use bytes::{Bytes, BytesMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::io::{CloseReason, ConnId, Input, ListenerId, Service};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Writes queued for one connection before the driver gives up on a peer that does not read.
const WRITE_QUEUE: usize = 4096;
/// The most a service connection (heartbeat, management HTTP) may send.
pub const SERVICE_MAX_BYTES: usize = 64 * 1024;
/// How long a service connection may stay silent before it is dropped.
const SERVICE_IDLE: Duration = Duration::from_secs(30);
/// How long an outbound connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS or WebSocket handshake may take, inbound or outbound.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the core task asks a connection's writer to do.
#[derive(Debug)]
pub enum WriteCmd {
    /// Write these bytes.
    Data(Bytes),
    /// Flush, shut down the sending side and end the connection.
    Close,
}

/// The core task's handle on a connection.
pub type Writer = mpsc::Sender<WriteCmd>;

/// A new writer channel.
pub fn writer() -> (Writer, mpsc::Receiver<WriteCmd>) {
    mpsc::channel(WRITE_QUEUE)
}

/// Mints the driver's connection ids: from 1, never with [`ConnId::OUTBOUND_BIT`].
#[derive(Debug, Default)]
pub struct Ids(AtomicU64);

impl Ids {
    fn next(&self) -> ConnId {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        ConnId(n & !ConnId::OUTBOUND_BIT)
    }
}

/// How a connection's received bytes become inputs.
#[derive(Debug, Clone, Copy)]
enum Reading {
    /// SIP: every read is one `StreamData`.
    Sip,
    /// Service HTTP: the whole buffer so far, bounded in size and idle time.
    Service(Service, SocketAddr),
}

/// What a SIP listener layers on an accepted TCP connection before the core sees it.
#[derive(Clone, Default)]
pub struct Accepting {
    /// TLS handshake first (TLS, WSS).
    pub tls: Option<TlsAcceptor>,
    /// WebSocket upgrade (WS, WSS).
    pub ws: bool,
}

/// What an outbound SIP connection layers on its TCP connection before `Connected`.
#[derive(Clone, Default)]
pub struct Connecting {
    /// TLS handshake first (TLS, WSS).
    pub tls: Option<TlsConnector>,
    /// WebSocket upgrade (WS, WSS).
    pub ws: bool,
}

/// Accepts SIP stream connections on `listener` for as long as the driver runs. TLS and
/// WebSocket handshakes run in the connection's own task; the core hears of the connection
/// (`Accepted`) only once they have succeeded.
pub async fn accept_sip(
    socket: TcpListener,
    listener: ListenerId,
    accepting: Accepting,
    ids: Arc<Ids>,
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
        if events.is_closed() {
            return;
        }
        let (ids, events, accepting) = (ids.clone(), events.clone(), accepting.clone());
        tokio::spawn(async move {
            let Some(tls) = accepting.tls else {
                return serve_accepted(stream, accepting.ws, listener, peer, &ids, events).await;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                Ok(Ok(stream)) => {
                    serve_accepted(stream, accepting.ws, listener, peer, &ids, events).await;
                }
                Ok(Err(error)) => tracing::debug!(?listener, %peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(?listener, %peer, "TLS handshake timed out"),
            }
        });
    }
}

/// Upgrades an accepted stream to WebSocket if asked, tells the core (`Accepted`), then runs
/// the connection.
async fn serve_accepted<S>(
    stream: S,
    ws: bool,
    listener: ListenerId,
    peer: SocketAddr,
    ids: &Ids,
    events: mpsc::Sender<Event>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let register = |conn: ConnId, writer: Writer| Event::Opened {
        conn,
        writer,
        input: Some(Input::Accepted {
            conn,
            listener,
            peer,
        }),
    };
    if ws {
        let ws = match tokio::time::timeout(HANDSHAKE_TIMEOUT, crate::ws::accept(stream)).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(error)) => {
                tracing::debug!(?listener, %peer, %error, "WebSocket handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(?listener, %peer, "WebSocket handshake timed out");
                return;
            }
        };
        let conn = ids.next();
        let (tx, rx) = writer();
        if events.send(register(conn, tx)).await.is_ok() {
            crate::ws::run(conn, ws, rx, events).await;
        }
    } else {
        let conn = ids.next();
        let (tx, rx) = writer();
        if events.send(register(conn, tx)).await.is_ok() {
            run(conn, stream, rx, Reading::Sip, events).await;
        }
    }
}

/// Accepts connections on a service port and feeds their bytes as `ServiceData`.
pub async fn accept_service(
    socket: TcpListener,
    service: Service,
    ids: Arc<Ids>,
    events: mpsc::Sender<Event>,
) {
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(x) => x,
            Err(error) => {
                tracing::warn!(?service, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let conn = ids.next();
        let (tx, rx) = writer();
        let opened = Event::Opened {
            conn,
            writer: tx,
            input: None,
        };
        if events.send(opened).await.is_err() {
            return;
        }
        let reading = Reading::Service(service, peer);
        tokio::spawn(run(conn, stream, rx, reading, events.clone()));
    }
}

/// Opens the outbound connection the core asked for (from `local` if it is a specific
/// address), with the TLS and WebSocket handshakes of `connecting`, reports `Connected` or
/// `ConnectFailed`, then runs it.
pub async fn connect(
    conn: ConnId,
    local: Option<IpAddr>,
    to: SocketAddr,
    connecting: Connecting,
    rx: mpsc::Receiver<WriteCmd>,
    events: mpsc::Sender<Event>,
) {
    let attempt = async {
        let socket = if to.is_ipv6() {
            TcpSocket::new_v6()?
        } else {
            TcpSocket::new_v4()?
        };
        if let Some(ip) = local.filter(|ip| !ip.is_unspecified() && ip.is_ipv6() == to.is_ipv6()) {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        socket.connect(to).await
    };
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(?conn, %to, %error, "connect failed");
            let _ = events.send(Input::ConnectFailed { conn }.into()).await;
            return;
        }
        Err(_) => {
            tracing::debug!(?conn, %to, "connect timed out");
            let _ = events.send(Input::ConnectFailed { conn }.into()).await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    // `Some(secure)`: upgrade to WebSocket (`wss` when over TLS).
    let ws = connecting.ws.then_some(connecting.tls.is_some());
    match connecting.tls {
        None => connected(conn, stream, to, ws, rx, events).await,
        Some(tls) => {
            let handshake = tls.connect(crate::tls::server_name(to), stream);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(stream)) => connected(conn, stream, to, ws, rx, events).await,
                Ok(Err(error)) => {
                    tracing::warn!(?conn, %to, %error, "outbound TLS handshake failed");
                    let _ = events.send(Input::ConnectFailed { conn }.into()).await;
                }
                Err(_) => {
                    tracing::warn!(?conn, %to, "outbound TLS handshake timed out");
                    let _ = events.send(Input::ConnectFailed { conn }.into()).await;
                }
            }
        }
    }
}

/// Finishes an outbound connection (WebSocket upgrade if asked), reports `Connected` and runs
/// it.
async fn connected<S>(
    conn: ConnId,
    stream: S,
    to: SocketAddr,
    ws: Option<bool>,
    rx: mpsc::Receiver<WriteCmd>,
    events: mpsc::Sender<Event>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    if let Some(secure) = ws {
        let upgrade = crate::ws::connect(stream, to, secure);
        let ws = match tokio::time::timeout(HANDSHAKE_TIMEOUT, upgrade).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(error)) => {
                tracing::warn!(?conn, %to, %error, "outbound WebSocket handshake failed");
                let _ = events.send(Input::ConnectFailed { conn }.into()).await;
                return;
            }
            Err(_) => {
                tracing::warn!(?conn, %to, "outbound WebSocket handshake timed out");
                let _ = events.send(Input::ConnectFailed { conn }.into()).await;
                return;
            }
        };
        if events.send(Input::Connected { conn }.into()).await.is_ok() {
            crate::ws::run(conn, ws, rx, events).await;
        }
    } else if events.send(Input::Connected { conn }.into()).await.is_ok() {
        run(conn, stream, rx, Reading::Sip, events).await;
    }
}

/// Runs one connection until its writer ends (the core asked to close it, a write failed, or
/// the core task dropped it after `Closed`). Reading stops at end of stream or error, which is
/// reported as `Closed` at once; writes already queued still go out.
async fn run<S>(
    conn: ConnId,
    stream: S,
    mut rx: mpsc::Receiver<WriteCmd>,
    reading: Reading,
    events: mpsc::Sender<Event>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let read = read_loop(conn, &mut rd, reading, &events);
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
                let _ = events.send(Input::Closed { conn, reason }.into()).await;
            }
            reason = &mut write => {
                if !reported {
                    let _ = events.send(Input::Closed { conn, reason }.into()).await;
                }
                return;
            }
        }
    }
}

async fn read_loop(
    conn: ConnId,
    rd: &mut (impl AsyncRead + Unpin),
    reading: Reading,
    events: &mpsc::Sender<Event>,
) -> CloseReason {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        let n = match reading {
            Reading::Sip => rd.read_buf(&mut buf).await,
            Reading::Service(..) => {
                match tokio::time::timeout(SERVICE_IDLE, rd.read_buf(&mut buf)).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::debug!(?conn, "service connection idle, dropping it");
                        return CloseReason::IoError;
                    }
                }
            }
        };
        let input = match n {
            Ok(0) => return CloseReason::PeerClosed,
            Err(error) => {
                tracing::debug!(?conn, %error, "read failed");
                return CloseReason::IoError;
            }
            Ok(_) => match reading {
                Reading::Sip => Input::StreamData {
                    conn,
                    bytes: buf.split().freeze(),
                },
                Reading::Service(service, peer) => {
                    if buf.len() > SERVICE_MAX_BYTES {
                        tracing::debug!(?conn, %peer, "service request too large, dropping it");
                        return CloseReason::IoError;
                    }
                    Input::ServiceData {
                        service,
                        conn,
                        peer,
                        bytes: Bytes::copy_from_slice(&buf),
                    }
                }
            },
        };
        if events.send(input.into()).await.is_err() {
            return CloseReason::IoError;
        }
    }
}

/// Sends one complete HTTP request to `to` and reads the answer until the peer closes, all
/// within `limit`; the answer is discarded.
pub async fn http_notify(to: SocketAddr, request: Bytes, limit: Duration) {
    let exchange = async {
        let mut stream = TcpStream::connect(to).await?;
        stream.write_all(&request).await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    match tokio::time::timeout(limit, exchange).await {
        Ok(Ok(())) => tracing::debug!(%to, "notification sent"),
        Ok(Err(error)) => tracing::warn!(%to, %error, "cannot notify node"),
        Err(_) => tracing::warn!(%to, "node did not answer the notification in time"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_ids_start_at_one_and_never_look_outbound() {
        let ids = Ids::default();
        assert_eq!(ids.next(), ConnId(1));
        assert_eq!(ids.next(), ConnId(2));
        let wrapped = Ids(AtomicU64::new(ConnId::OUTBOUND_BIT - 1));
        assert!(!wrapped.next().is_outbound());
        assert!(!wrapped.next().is_outbound());
    }
}
