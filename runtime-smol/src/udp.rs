//! UDP listeners on smol: the receive loop (with the socket's error queue) and sends that
//! never wait (a full socket buffer holds datagrams in a bounded queue, drained when the
//! socket is writable again).

use crate::driver::Event;
use crate::spawn;
use bytes::{Bytes, BytesMut};
use smol::channel::Sender;
use smol::Async;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use switchboard_adapter::errqueue;
use switchboard_adapter::udp_queue::SharedQueue;
use switchboard_core::io::{Input, ListenerId};

/// Datagrams received in a row before the loop lets other tasks run.
const RECV_BURST: usize = 64;

/// The sending side of one UDP listener.
#[derive(Debug)]
pub struct UdpOut {
    socket: Arc<Async<UdpSocket>>,
    queue: SharedQueue,
}

impl UdpOut {
    /// The sending side of `socket`.
    pub fn new(socket: Arc<Async<UdpSocket>>) -> Arc<UdpOut> {
        let queue = SharedQueue::default();
        Arc::new(UdpOut { socket, queue })
    }

    /// Sends at once if the socket takes it, else queues it behind the others.
    pub fn send(self: &Arc<Self>, to: SocketAddr, payload: Bytes) {
        let socket = self.socket.get_ref();
        if self.queue.send(to, payload, |p, to| socket.send_to(p, to)) {
            spawn(drain(self.clone())).detach();
        }
    }
}

/// Drains a socket's queue as it becomes writable, then ends.
async fn drain(out: Arc<UdpOut>) {
    while out.socket.writable().await.is_ok() {
        if out.queue.drain(|p, to| out.socket.get_ref().send_to(p, to)) {
            return;
        }
    }
}

/// Receives datagrams on one UDP listener, in arrival order, until the core task is gone.
///
/// The reactor reports a socket error (`EPOLLERR`) as readable, so the socket's error queue
/// ([`errqueue`]) is read whenever a wake-up finds no datagram or a receive fails (with
/// the queue enabled, an ICMP error also fails the next receive without naming the
/// destination); every destination found there is fed to the core as [`Input::SendFailed`].
/// No such error ends the loop.
pub async fn recv(socket: Arc<Async<UdpSocket>>, listener: ListenerId, events: Sender<Event>) {
    // One zeroed region that datagrams are received into and split off from, so that many
    // datagrams share one allocation (as tokio's `recv_buf_from` does).
    let mut buf = BytesMut::new();
    let mut refused = Vec::new();
    let mut burst = 0;
    // Datagrams read since the last wake-up: a wake-up that finds none may be an error report.
    let mut since_wake = 0usize;
    loop {
        if buf.len() < 65536 {
            buf.clear();
            buf.resize(256 * 1024, 0);
        }
        match socket.get_ref().recv_from(&mut buf) {
            Ok((len, from)) => {
                since_wake += 1;
                let payload = buf.split_to(len).freeze();
                let input = Input::Datagram {
                    listener,
                    from,
                    payload,
                };
                if events.send(Event::Input(input)).await.is_err() {
                    return;
                }
                burst += 1;
                if burst == RECV_BURST {
                    burst = 0;
                    smol::future::yield_now().await;
                }
                continue;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // Only a wake-up without a datagram can be the error queue's (the reactor
                // reports it as readable): read the queue then, not after every burst.
                if since_wake == 0 {
                    let _ = errqueue::drain(&*socket, &mut refused);
                }
                since_wake = 0;
                if refused.is_empty() && socket.readable().await.is_err() {
                    return;
                }
            }
            Err(_) => {
                // Read whatever the queue holds now, whether or not the reactor has seen it.
                let _ = errqueue::drain(&*socket, &mut refused);
                smol::future::yield_now().await;
            }
        }
        for to in refused.drain(..) {
            tracing::debug!(?listener, %to, "datagram refused (ICMP unreachable)");
            let input = Input::SendFailed { listener, to };
            if events.send(Event::Input(input)).await.is_err() {
                return;
            }
        }
    }
}
