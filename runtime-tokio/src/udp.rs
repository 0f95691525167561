//! UDP listeners on tokio: the receive loop (with the socket's error queue) and sends that
//! never wait (a full socket buffer holds datagrams in a bounded queue, drained when the
//! socket is writable again).

use crate::driver::Event;
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use switchboard_adapter::errqueue;
use switchboard_adapter::udp_queue::SendQueue;
use switchboard_core::io::{Input, ListenerId};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// The sending side of one UDP listener.
#[derive(Debug)]
pub struct UdpOut {
    socket: Arc<UdpSocket>,
    /// Datagrams waiting for the socket, and whether a task is draining them.
    queue: Mutex<(SendQueue, bool)>,
}

impl UdpOut {
    /// The sending side of `socket`.
    pub fn new(socket: Arc<UdpSocket>) -> Arc<UdpOut> {
        Arc::new(UdpOut {
            socket,
            queue: Mutex::new((SendQueue::default(), false)),
        })
    }

    /// Sends at once if the socket takes it, else queues it behind the others.
    pub fn send(self: &Arc<Self>, to: SocketAddr, payload: Bytes) {
        let Ok(mut guard) = self.queue.lock() else {
            return;
        };
        let (queue, flushing) = &mut *guard;
        if queue.is_empty() {
            match self.socket.try_send_to(&payload, to) {
                Ok(_) => return,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => {
                    tracing::debug!(%to, %error, "send failed");
                    return;
                }
            }
        }
        if queue.hold(to, payload) && !*flushing {
            *flushing = true;
            tokio::spawn(flush(self.clone()));
        }
    }
}

/// Drains a socket's queue as it becomes writable, then ends.
async fn flush(out: Arc<UdpOut>) {
    loop {
        if out.socket.writable().await.is_err() {
            return;
        }
        let Ok(mut guard) = out.queue.lock() else {
            return;
        };
        let (queue, flushing) = &mut *guard;
        while let Some((to, payload)) = queue.front() {
            match out.socket.try_send_to(payload, *to) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) => {
                    tracing::debug!(%to, %error, "send failed");
                    queue.pop();
                }
                Ok(_) => queue.pop(),
            }
        }
        if queue.is_empty() {
            *flushing = false;
            return;
        }
    }
}

/// Receives datagrams on one UDP listener, in arrival order, until the core task is gone.
///
/// The socket's error queue ([`errqueue`]) is read whenever the reactor reports an error on
/// the socket or a receive fails (with the queue enabled, an ICMP error also fails the next
/// receive without naming the destination); every destination found there is fed to the core
/// as [`Input::SendFailed`]. No such error ends the loop.
pub async fn recv(socket: Arc<UdpSocket>, listener: ListenerId, events: mpsc::Sender<Event>) {
    let mut buf = BytesMut::with_capacity(256 * 1024);
    let mut refused = Vec::new();
    loop {
        let Ok(ready) = socket.ready(Interest::READABLE | Interest::ERROR).await else {
            return;
        };
        let failed = if ready.is_readable() {
            if buf.capacity() < 65536 {
                buf.reserve(256 * 1024);
            }
            match socket.try_recv_buf_from(&mut buf) {
                Ok((_, from)) => {
                    let payload = buf.split().freeze();
                    let input = Input::Datagram {
                        listener,
                        from,
                        payload,
                    };
                    if events.send(Event::Input(input)).await.is_err() {
                        return;
                    }
                    false
                }
                Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
            }
        } else {
            false
        };
        if ready.is_error() {
            let drained =
                socket.try_io(Interest::ERROR, || errqueue::drain(&*socket, &mut refused));
            if drained.is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock) {
                // Wait for the next report instead of retrying at once.
                let _ = socket.try_io(Interest::ERROR, || {
                    Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                });
            }
        }
        if failed {
            // Read whatever the queue holds now, whether or not the reactor has seen it.
            let _ = errqueue::drain(&*socket, &mut refused);
        }
        if !refused.is_empty() {
            for to in refused.drain(..) {
                tracing::debug!(?listener, %to, "datagram refused (ICMP unreachable)");
                let input = Input::SendFailed { listener, to };
                if events.send(Event::Input(input)).await.is_err() {
                    return;
                }
            }
        }
    }
}
