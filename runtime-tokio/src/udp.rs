//! UDP listeners on tokio: the receive loop (with the socket's error queue) and sends that
//! never wait (a full socket buffer holds datagrams in a bounded queue, drained when the
//! socket is writable again).

use crate::driver::Event;
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use switchboard_adapter::errqueue;
use switchboard_adapter::udp_queue::SharedQueue;
use switchboard_core::io::{Input, ListenerId};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// The sending side of one UDP listener.
#[derive(Debug)]
pub struct UdpOut {
    socket: Arc<UdpSocket>,
    queue: SharedQueue,
}

impl UdpOut {
    /// The sending side of `socket`.
    pub fn new(socket: Arc<UdpSocket>) -> Arc<UdpOut> {
        let queue = SharedQueue::default();
        Arc::new(UdpOut { socket, queue })
    }

    /// Sends at once if the socket takes it, else queues it behind the others.
    pub fn send(self: &Arc<Self>, to: SocketAddr, payload: Bytes) {
        if self
            .queue
            .send(to, payload, |p, to| self.socket.try_send_to(p, to))
        {
            tokio::spawn(drain(self.clone()));
        }
    }
}

/// Drains a socket's queue as it becomes writable, then ends.
async fn drain(out: Arc<UdpOut>) {
    while out.socket.writable().await.is_ok() {
        if out.queue.drain(|p, to| out.socket.try_send_to(p, to)) {
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
