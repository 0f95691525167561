//! Stream connections on smol: accept loops, outbound connects, and the per-connection task
//! that reads into inputs (unless its read gate is closed) and writes what the core queued, in
//! order. A plain TCP stream is shared with the core task, which writes on it directly while
//! nothing is queued ([`switchboard_adapter::conn`]). TLS is the one layer added here
//! (futures-rustls); every deadline is the core's, which closes what takes too long.

use crate::driver::Event;
use crate::spawn;
use bytes::Bytes;
use futures_rustls::{TlsAcceptor, TlsConnector};
use nix::errno::Errno;
use smol::channel::Sender;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::{future, ready, Async, Timer};
use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use switchboard_adapter::conn::{self, Batch, ConnHandle, ConnQueue, DirectWrite, Step};
use switchboard_adapter::engine::TlsClientSetup;
use switchboard_adapter::ids::ConnIds;
use switchboard_core::io::{CloseReason, ConnId, Input, ListenerId};

/// The core task's handle on a connection.
pub type Handle = ConnHandle<Plain>;
/// A connection task's end.
pub type Queue = ConnQueue<Plain>;

/// The two ends of a new connection.
pub fn writer() -> (Handle, Queue) {
    conn::ends()
}

/// A plain TCP stream, shared by its connection's task and the core task. Reading waits for
/// readiness before each read unless the last one filled its buffer (a short read leaves
/// nothing to read), so a message costs one read call, not a second that would block.
#[derive(Debug)]
pub struct Plain {
    socket: Arc<Async<TcpStream>>,
    more: bool,
}

impl Plain {
    /// A plain connection that is up: its socket is handed to the core task for direct
    /// writes; returns the task's reading and writing ends.
    fn up(stream: Async<TcpStream>, queue: &Queue) -> (Plain, Plain) {
        let socket = Arc::new(stream);
        let plain = || Plain {
            socket: socket.clone(),
            more: true,
        };
        queue.direct(plain());
        (plain(), plain())
    }
}

impl DirectWrite for Plain {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket.get_ref().write(buf)
    }
}

impl AsyncRead for Plain {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if !self.more {
                ready!(self.socket.poll_readable(cx))?;
            }
            match self.socket.get_ref().read(buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.more = false,
                read => {
                    self.more = read.as_ref().is_ok_and(|&n| n == buf.len());
                    return Poll::Ready(read);
                }
            }
        }
    }
}

impl AsyncWrite for Plain {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.socket).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The socket closes when the task ends and the core task let go of it.
        Poll::Ready(Ok(()))
    }
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
                let (rd, wr) = Plain::up(stream, &queue);
                return run(conn, rd, wr, queue, events).await;
            };
            // Nothing is written before the handshake: any command now is the core's close.
            let handshake = future::or(async { Some(tls.accept(stream).await) }, async {
                queue.take(&mut Batch::default()).await;
                None
            });
            match handshake.await {
                None => {}
                Some(Ok(stream)) => {
                    let (rd, wr) = smol::io::split(stream);
                    run(conn, rd, wr, queue, events).await;
                }
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
        let (rd, wr) = Plain::up(stream, &queue);
        return established(conn, rd, wr, queue, events).await;
    };
    let connector = TlsConnector::from(tls.config);
    match connector.connect(tls.server_name, stream).await {
        Ok(stream) => {
            let (rd, wr) = smol::io::split(stream);
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

async fn established<R, W>(conn: ConnId, rd: R, wr: W, queue: Queue, events: Sender<Event>)
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

async fn closed(events: &Sender<Event>, conn: ConnId, reason: CloseReason) {
    let _ = events
        .send(Event::Input(Input::Closed { conn, reason }))
        .await;
}

/// Reads after which a connection's task lets other tasks run, even if the socket always had
/// more to read (and at once after a read that filled the buffer).
const YIELD_EVERY: u32 = 8;

/// Runs one connection until its writer ends (the core asked to close it, a write failed, or
/// the core task dropped it after `Closed`). Reading waits while the gate is closed (a read
/// under way is dropped), and stops at end of stream or error, which is reported as `Closed`
/// at once; writes already queued still go out, each batch of them at once, and a drain
/// notice is reported once the writes before it are flushed.
async fn run<R, W>(conn: ConnId, mut rd: R, mut wr: W, queue: Queue, events: Sender<Event>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let read = pin!(async {
        let mut buf = vec![0; 64 * 1024];
        let mut reads = 0u32;
        loop {
            let Some(read) = queue.gate().read(rd.read(&mut buf)).await else {
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
                    reads = reads.wrapping_add(1);
                    if n == buf.len() || reads % YIELD_EVERY == 0 {
                        future::yield_now().await;
                    }
                }
            }
        }
    });
    let mut write = pin!(async {
        let mut batch = Batch::default();
        while queue.take(&mut batch).await {
            while let Some(step) = batch.step() {
                let written = match step {
                    Step::Write => write_batch(&mut wr, &mut batch).await,
                    // What a TLS layer still buffers goes out before the notice.
                    Step::Notify => wr.flush().await,
                    Step::Close => {
                        let _ = wr.close().await;
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
