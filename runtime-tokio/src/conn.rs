//! Stream connections on tokio: accept loops, outbound connects, and the per-connection task
//! that reads into inputs (unless its read gate is closed) and writes what the core queued, in
//! order. A plain TCP stream is shared with the core task, which writes on it directly while
//! nothing is queued ([`switchboard_adapter::conn`]). TLS is the one layer added here
//! (tokio-rustls); every deadline is the core's, which closes what takes too long.

use crate::driver::Event;
use bytes::BytesMut;
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use switchboard_adapter::conn::{self, Batch, ConnHandle, ConnQueue, DirectWrite, Step};
use switchboard_adapter::engine::TlsClientSetup;
use switchboard_adapter::ids::ConnIds;
use switchboard_core::io::{CloseReason, ConnId, Input, ListenerId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The core task's handle on a connection.
pub type Handle = ConnHandle<Plain>;
/// A connection task's end.
pub type Queue = ConnQueue<Plain>;

/// The two ends of a new connection.
pub fn writer() -> (Handle, Queue) {
    conn::ends()
}

/// The writing half of a plain TCP stream, shared by its connection's task and the core task.
#[derive(Debug, Clone)]
pub struct Plain(Arc<OwnedWriteHalf>);

impl Plain {
    /// A plain connection that is up: its writing half is handed to the core task for direct
    /// writes; returns the task's reading and writing ends.
    fn up(stream: TcpStream, queue: &Queue) -> (OwnedReadHalf, Plain) {
        let (rd, wr) = stream.into_split();
        let wr = Plain(Arc::new(wr));
        queue.direct(wr.clone());
        (rd, wr)
    }

    fn stream(&self) -> &TcpStream {
        (*self.0).as_ref()
    }
}

impl DirectWrite for Plain {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
}

impl AsyncWrite for Plain {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream().poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                written => return Poll::Ready(written),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(switchboard_adapter::net::shutdown_write(self.stream()))
    }
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
        tokio::spawn(async move {
            let Some(tls) = tls else {
                let (rd, wr) = Plain::up(stream, &queue);
                return run(conn, rd, wr, queue, events).await;
            };
            // Nothing is written before the handshake: any command now is the core's close.
            let mut ignored = Batch::default();
            let handshake = tokio::select! {
                result = tls.accept(stream) => result,
                _ = queue.take(&mut ignored) => return,
            };
            match handshake {
                Ok(stream) => {
                    let (rd, wr) = tokio::io::split(stream);
                    run(conn, rd, wr, queue, events).await;
                }
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
        let (rd, wr) = Plain::up(stream, &queue);
        return established(conn, rd, wr, queue, events).await;
    };
    let connector = TlsConnector::from(tls.config);
    match connector.connect(tls.server_name, stream).await {
        Ok(stream) => {
            let (rd, wr) = tokio::io::split(stream);
            established(conn, rd, wr, queue, events).await;
        }
        Err(error) => {
            tracing::warn!(?conn, %to, %error, "outbound TLS handshake failed");
            let _ = events
                .send(Event::Input(Input::ConnectFailed { conn }))
                .await;
        }
    }
}

async fn established<R, W>(conn: ConnId, rd: R, wr: W, queue: Queue, events: mpsc::Sender<Event>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if events
        .send(Event::Input(Input::Connected { conn }))
        .await
        .is_ok()
    {
        run(conn, rd, wr, queue, events).await;
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
/// at once; writes already queued still go out, each batch of them at once, and a drain
/// notice is reported once the writes before it are flushed.
async fn run<R, W>(conn: ConnId, mut rd: R, mut wr: W, queue: Queue, events: mpsc::Sender<Event>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let read = async {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(64 * 1024);
            }
            let Some(read) = queue.gate().read(rd.read_buf(&mut buf)).await else {
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
        let mut batch = Batch::default();
        while queue.take(&mut batch).await {
            while let Some(step) = batch.step() {
                let written = match step {
                    Step::Write => write_batch(&mut wr, &mut batch).await,
                    // What a TLS layer still buffers goes out before the notice.
                    Step::Notify => wr.flush().await,
                    Step::Close => {
                        let _ = wr.shutdown().await;
                        return CloseReason::Requested;
                    }
                };
                if let Err(error) = written {
                    tracing::debug!(?conn, %error, "write failed");
                    return CloseReason::IoError;
                }
                let drained = Event::Input(Input::Drained { conn });
                if step == Step::Notify && events.send(drained).await.is_err() {
                    return CloseReason::IoError;
                }
            }
            if let Err(error) = wr.flush().await {
                tracing::debug!(?conn, %error, "write failed");
                return CloseReason::IoError;
            }
            queue.done();
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

/// Writes the leading data of `batch`, as few vectored writes as the socket allows.
async fn write_batch(wr: &mut (impl AsyncWrite + Unpin), batch: &mut Batch) -> io::Result<()> {
    while batch.has_data() {
        let mut slices = [IoSlice::new(&[]); conn::MAX_SLICES];
        let n = batch.slices(&mut slices);
        match wr.write_vectored(&slices[..n]).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            written => batch.advance(written),
        }
    }
    Ok(())
}
