//! TCP connections between the balancers and the simulated peers (nodes, callers, and the
//! nodes' heartbeat ports for the stop notifications of a shutdown).
//!
//! A connection is a pair of ordered byte pipes with the link's latency (and jitter, never
//! reordering: each direction delivers in the order written). No byte is lost: while a node
//! is partitioned its segments wait and flow again, in order, once it heals (TCP
//! retransmission). A connection the balancer asks for reaches the peer after the latency;
//! a live process accepts it (`Connected` comes back after another latency), a crashed one
//! answers with a reset (`ConnectFailed`). A node that crashes resets its connections
//! (`Closed { reason: IoError }` reaches the balancer after in-flight bytes); one that
//! restarts cleanly closes them (`PeerClosed`). Peers write every message in chunks of
//! arbitrary sizes, so the balancer's stream framing is exercised.
//!
//! The balancers' flow control on these connections (paused reading, drain notices) is
//! honoured: see `flow`.
//!
//! Callers keep one connection per balancer (from their SIP address, as SIP user agents
//! bind their listening port), answers go back on the connection a request came on, and a
//! node sends its own requests on a connection it opens toward the balancer's internal TCP
//! port (reused while open).

use super::{Event, NodeState, World};
use crate::addr;
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use switchboard_core::forward::Leg;
use switchboard_core::io::{ClientTls, CloseReason, ConnId, Input, ListenerId};
use switchboard_core::sip::{Frame, Framer};
use switchboard_core::time::Timestamp;

/// How a message reached a node or a caller, and so how its answer leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// A datagram: the answer goes to the top Via's address.
    Udp,
    /// A connection: the answer goes back on it.
    Stream { lb: usize, conn: ConnId },
}

/// The far end of a connection, seen from the balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// A node's SIP port, served by one process (`incarnation`).
    Node { node: usize, incarnation: u32 },
    /// A node's heartbeat port (LB→node `stop`).
    NodeHeartbeat { node: usize, incarnation: u32 },
    /// A caller's SIP port.
    Caller(usize),
    /// An SMPP customer (its connection to a balancer's SMPP listener).
    SmppCustomer(usize),
    /// An SMPP provider's port, served by one process (`incarnation`).
    SmppProvider { provider: usize, incarnation: u32 },
}

impl Peer {
    fn node(self) -> Option<usize> {
        match self {
            Peer::Node { node, .. } | Peer::NodeHeartbeat { node, .. } => Some(node),
            _ => None,
        }
    }

    fn is_smpp(self) -> bool {
        matches!(self, Peer::SmppCustomer(_) | Peer::SmppProvider { .. })
    }
}

/// What a partition cuts off from every balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// A node.
    Node(usize),
    /// An SMPP provider.
    Provider(usize),
}

/// What travels on a connection.
#[derive(Debug, Clone)]
pub(crate) enum Segment {
    /// The connection request reaches the listening side.
    Syn,
    /// Toward the balancer: the peer accepted its connection.
    SynAck,
    /// Toward the balancer: nobody listens (a reset answering its connection request).
    Refused,
    /// Bytes; the last chunk of a message names it (length, response or request) so the
    /// balancer's counters can be checked.
    Data {
        bytes: Bytes,
        message_end: Option<(usize, bool)>,
    },
    /// An orderly close.
    Fin,
    /// A reset (the peer's process died).
    Reset,
}

/// One connection between a balancer and a peer.
#[derive(Debug)]
pub(crate) struct Stream {
    pub peer: Peer,
    /// The peer's address, as the balancer sees it.
    pub peer_addr: SocketAddr,
    /// The address the peer dialled (a balancer leg, or the VIP), or the balancer's leg
    /// address for connections it opened.
    pub lb_addr: SocketAddr,
    /// The balancer leg (and TCP listener) of the connection.
    pub leg: Leg,
    /// Opened by the balancer.
    pub outbound: bool,
    /// The balancer has been told the connection is up (`Accepted` or `Connected`).
    pub lb_open: bool,
    /// The balancer closed it, or was told it ended: nothing more is fed.
    pub lb_closed: bool,
    /// The peer's side is up (accepted, not closed or crashed).
    pub peer_open: bool,
    /// What the balancer wrote before the connection was up.
    pub queued: Vec<Bytes>,
    /// Drain notices asked for before the connection was up, answered after `queued`.
    pub drains_queued: u32,
    /// The balancer paused reading.
    pub paused: bool,
    /// Segments toward the balancer waiting for it to read again, in order.
    pub parked: VecDeque<Segment>,
    /// When the last segment toward the balancer, and toward the peer, arrives.
    pub to_lb_at: Timestamp,
    pub to_peer_at: Timestamp,
    /// Reassembles on the peer's side what the balancer writes.
    pub framer: Framer,
}

impl Stream {
    fn new(
        peer: Peer,
        peer_addr: SocketAddr,
        lb_addr: SocketAddr,
        leg: Leg,
        outbound: bool,
        now: Timestamp,
    ) -> Stream {
        Stream {
            peer,
            peer_addr,
            lb_addr,
            leg,
            outbound,
            lb_open: false,
            lb_closed: false,
            peer_open: !outbound,
            queued: Vec::new(),
            drains_queued: 0,
            paused: false,
            parked: VecDeque::new(),
            to_lb_at: now,
            to_peer_at: now,
            framer: Framer::new(64 * 1024, 256),
        }
    }
}

/// A segment held back while its node (or provider) is partitioned.
#[derive(Debug)]
pub(crate) struct Held {
    pub cut: Cut,
    pub lb: usize,
    pub conn: ConnId,
    pub toward_lb: bool,
    pub seg: Segment,
}

impl World {
    /// One-way delay of a connection's link: latency and jitter, no loss, no reordering.
    fn stream_delay(&mut self, peer: Peer) -> Duration {
        let link = match peer {
            Peer::Caller(_) | Peer::SmppCustomer(_) => self.scenario.links.external,
            _ => self.scenario.links.internal,
        };
        let mut us = (link.latency_ms * 1000.0) as u64;
        if link.jitter_ms > 0.0 {
            us += self.stream_rng.below((link.jitter_ms * 1000.0) as u64 + 1);
        }
        Duration::from_micros(us)
    }

    /// Sends a segment; it arrives after the link's delay and after every segment sent
    /// before it in the same direction.
    fn send_segment(&mut self, lb: usize, conn: ConnId, toward_lb: bool, seg: Segment) {
        let Some(peer) = self.streams.get(&(lb, conn)).map(|s| s.peer) else {
            return;
        };
        let d = self.stream_delay(peer);
        let now = self.now();
        let Some(s) = self.streams.get_mut(&(lb, conn)) else {
            return;
        };
        let last = if toward_lb {
            &mut s.to_lb_at
        } else {
            &mut s.to_peer_at
        };
        let at = now.saturating_add(d).max(*last);
        *last = at;
        self.q.schedule_at(
            at,
            Event::Segment {
                lb,
                conn,
                toward_lb,
                seg,
            },
        );
    }

    fn tcp_listener(&self, lb: usize, leg: Leg) -> Option<ListenerId> {
        let l = &self.lbs[lb].listeners;
        match leg {
            Leg::External => l.external_tcp,
            Leg::Internal => l.internal_tcp,
        }
    }

    /// A segment arrives at one end of its connection.
    pub(super) fn segment(&mut self, lb: usize, conn: ConnId, toward_lb: bool, seg: Segment) {
        let Some(s) = self.streams.get(&(lb, conn)) else {
            return;
        };
        if let Some(cut) = self.cut_of(s.peer) {
            self.held.push(Held {
                cut,
                lb,
                conn,
                toward_lb,
                seg,
            });
            return;
        }
        if toward_lb {
            self.segment_at_lb(lb, conn, seg);
        } else {
            self.segment_at_peer(lb, conn, seg);
        }
    }

    /// The partition a connection with `peer` is in, if any.
    fn cut_of(&self, peer: Peer) -> Option<Cut> {
        match peer {
            Peer::SmppProvider { provider, .. } => self
                .smpp
                .partitioned
                .contains(&provider)
                .then_some(Cut::Provider(provider)),
            _ => peer
                .node()
                .filter(|j| self.partitioned.contains(j))
                .map(Cut::Node),
        }
    }

    /// A segment reaches the balancer's end: parked while the balancer does not read (and
    /// behind what is parked already), else delivered.
    fn segment_at_lb(&mut self, lb: usize, conn: ConnId, seg: Segment) {
        let Some(s) = self.streams.get_mut(&(lb, conn)) else {
            return;
        };
        let read_by_lb = matches!(seg, Segment::Data { .. } | Segment::Fin | Segment::Reset);
        if read_by_lb && s.lb_open && !s.lb_closed && (s.paused || !s.parked.is_empty()) {
            s.parked.push_back(seg);
            return;
        }
        self.lb_receive(lb, conn, seg);
    }

    /// A segment the balancer reads.
    pub(super) fn lb_receive(&mut self, lb: usize, conn: ConnId, seg: Segment) {
        let Some(s) = self.streams.get_mut(&(lb, conn)) else {
            return;
        };
        if s.lb_closed {
            // The balancer forgot the connection: what still comes is dropped (a real
            // stack answers with a reset); the peer's close ends it.
            if matches!(seg, Segment::Fin | Segment::Reset) {
                self.streams.remove(&(lb, conn));
            }
            return;
        }
        match seg {
            Segment::Syn => {
                let (leg, peer) = (s.leg, s.peer_addr);
                let listener = if matches!(s.peer, Peer::SmppCustomer(_)) {
                    self.lbs[lb].listeners.smpp
                } else {
                    self.tcp_listener(lb, leg)
                };
                let Some(listener) = listener else {
                    self.streams.remove(&(lb, conn));
                    return;
                };
                if let Some(s) = self.streams.get_mut(&(lb, conn)) {
                    s.lb_open = true;
                }
                self.feed(
                    lb,
                    Input::Accepted {
                        conn,
                        listener,
                        peer,
                    },
                );
            }
            Segment::SynAck => {
                s.lb_open = true;
                let queued = std::mem::take(&mut s.queued);
                let drains = std::mem::take(&mut s.drains_queued);
                self.feed(lb, Input::Connected { conn });
                for bytes in queued {
                    self.send_segment(
                        lb,
                        conn,
                        false,
                        Segment::Data {
                            bytes,
                            message_end: None,
                        },
                    );
                }
                for _ in 0..drains {
                    self.schedule_drained(lb, conn);
                }
            }
            Segment::Refused => {
                self.streams.remove(&(lb, conn));
                self.feed(lb, Input::ConnectFailed { conn });
            }
            Segment::Data { bytes, message_end } => {
                if !s.lb_open {
                    return;
                }
                if let Some((len, response)) = message_end {
                    let l = &mut self.lbs[lb];
                    l.delivered_bytes += len as u64;
                    if response {
                        l.delivered_responses += 1;
                    } else {
                        l.delivered_requests += 1;
                    }
                }
                self.feed(lb, Input::Data { conn, bytes });
            }
            Segment::Fin | Segment::Reset => {
                let reason = if matches!(seg, Segment::Fin) {
                    CloseReason::PeerClosed
                } else {
                    CloseReason::IoError
                };
                let (open, outbound, smpp) = (
                    s.lb_open,
                    s.outbound,
                    matches!(s.peer, Peer::SmppProvider { .. }),
                );
                self.streams.remove(&(lb, conn));
                if smpp {
                    self.smpp_link_ended(lb, conn);
                }
                if open {
                    self.feed(lb, Input::Closed { conn, reason });
                } else if outbound {
                    self.feed(lb, Input::ConnectFailed { conn });
                }
            }
        }
    }

    /// True while the process behind `peer` is the one that accepted the connection and
    /// reads from it.
    fn peer_reads(&self, peer: Peer) -> bool {
        match peer {
            Peer::Node { node, incarnation } | Peer::NodeHeartbeat { node, incarnation } => {
                let n = &self.nodes[node];
                n.state == NodeState::Up && n.incarnation == incarnation && !n.hung
            }
            Peer::SmppProvider {
                provider,
                incarnation,
            } => self.provider_reads(provider, incarnation),
            Peer::Caller(_) | Peer::SmppCustomer(_) => true,
        }
    }

    fn segment_at_peer(&mut self, lb: usize, conn: ConnId, seg: Segment) {
        let Some(s) = self.streams.get_mut(&(lb, conn)) else {
            return;
        };
        match seg {
            Segment::Syn => {
                if s.lb_closed {
                    self.streams.remove(&(lb, conn));
                    return;
                }
                // The host's stack accepts for a running (even hung) process; a crashed one
                // has no listener.
                if let Peer::SmppProvider { provider, .. } = s.peer {
                    let accepted = self.provider_accept(provider, lb, conn);
                    let Some(s) = self.streams.get_mut(&(lb, conn)) else {
                        return;
                    };
                    if let Some(incarnation) = accepted {
                        s.peer = Peer::SmppProvider {
                            provider,
                            incarnation,
                        };
                    }
                    s.peer_open = accepted.is_some();
                    let answer = if accepted.is_some() {
                        Segment::SynAck
                    } else {
                        Segment::Refused
                    };
                    self.send_segment(lb, conn, true, answer);
                    return;
                }
                let accept = match &mut s.peer {
                    Peer::Node { node, incarnation }
                    | Peer::NodeHeartbeat { node, incarnation } => {
                        let n = &self.nodes[*node];
                        *incarnation = n.incarnation;
                        n.state == NodeState::Up
                    }
                    Peer::Caller(_) | Peer::SmppCustomer(_) | Peer::SmppProvider { .. } => true,
                };
                s.peer_open = accept;
                let answer = if accept {
                    Segment::SynAck
                } else {
                    Segment::Refused
                };
                self.send_segment(lb, conn, true, answer);
            }
            Segment::Data { bytes, .. } => {
                let (peer, open) = (s.peer, s.peer_open);
                if !open || !self.peer_reads(peer) {
                    if peer.node().is_some() {
                        self.dropped_at_dead_nodes += 1;
                    }
                    return;
                }
                if peer.is_smpp() {
                    self.smpp_peer_data(lb, conn, peer, bytes);
                    return;
                }
                let Some(s) = self.streams.get_mut(&(lb, conn)) else {
                    return;
                };
                s.framer.feed(&bytes);
                let mut messages = Vec::new();
                while let Ok(Some(frame)) = s.framer.next_message() {
                    if let Frame::Message(m) = frame {
                        messages.push(m);
                    }
                }
                let path = Path::Stream { lb, conn };
                match peer {
                    Peer::Node { node, .. } => {
                        for m in messages {
                            self.node_receive(node, path, m);
                        }
                    }
                    Peer::Caller(k) => {
                        for m in messages {
                            self.caller_receive(k, path, m);
                        }
                    }
                    Peer::SmppCustomer(_) | Peer::SmppProvider { .. } => {}
                    Peer::NodeHeartbeat { .. } => {
                        // The node takes the `stop`, answers and closes.
                        let ok = Bytes::from_static(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        self.peer_write(lb, conn, ok);
                        if let Some(s) = self.streams.get_mut(&(lb, conn)) {
                            s.peer_open = false;
                        }
                        self.send_segment(lb, conn, true, Segment::Fin);
                    }
                }
            }
            Segment::Fin => {
                // The balancer's close reached the peer: the connection is over.
                let peer = s.peer;
                self.streams.remove(&(lb, conn));
                if peer.is_smpp() {
                    self.smpp_peer_closed(lb, conn, peer);
                }
            }
            Segment::SynAck | Segment::Refused | Segment::Reset => {}
        }
    }

    // ----- the balancer's side -----

    /// The balancer asks for a connection.
    pub(super) fn lb_connect(
        &mut self,
        lb: usize,
        conn: ConnId,
        to: SocketAddr,
        from: Option<ListenerId>,
        tls: Option<ClientTls>,
    ) {
        if tls.is_some() {
            self.violation(format!(
                "balancer lb{lb} asked for TLS toward {to}, which no listener of the scenario uses"
            ));
        }
        if !conn.is_outbound() || self.streams.contains_key(&(lb, conn)) {
            self.violation(format!(
                "balancer lb{lb} asked for connection {} toward {to}, an id it cannot mint",
                conn.0
            ));
            return;
        }
        let peer = self.nodes.iter().enumerate().find_map(|(j, n)| {
            if to == n.addr {
                Some(Peer::Node {
                    node: j,
                    incarnation: n.incarnation,
                })
            } else if to == SocketAddr::new(n.addr.ip(), addr::NODE_HEARTBEAT_PORT) {
                Some(Peer::NodeHeartbeat {
                    node: j,
                    incarnation: n.incarnation,
                })
            } else {
                None
            }
        });
        let peer = peer.or_else(|| {
            (0..self.scenario.callers as usize)
                .find(|k| addr::caller(*k) == to)
                .map(Peer::Caller)
        });
        let peer = peer.or_else(|| {
            (0..self.smpp.providers.len())
                .find(|p| addr::smpp_provider(*p) == to)
                .map(|p| Peer::SmppProvider {
                    provider: p,
                    incarnation: self.smpp.providers[p].incarnation,
                })
        });
        let leg = if matches!(peer, Some(Peer::Caller(_))) {
            Leg::External
        } else {
            Leg::Internal
        };
        let to_provider = matches!(peer, Some(Peer::SmppProvider { .. }));
        if let Some(from) = from {
            if to_provider {
                // Toward a provider: from the address of any listener of the balancer.
                if !self.lbs[lb].core.listeners().iter().any(|l| l.id == from) {
                    self.violation(format!(
                        "balancer lb{lb} connects to provider {to} from {from:?}, none of its listeners"
                    ));
                }
            } else if Some(from) != self.tcp_listener(lb, leg) {
                self.violation(format!(
                    "balancer lb{lb} connects to {to} from {from:?}, not its {leg:?} TCP listener"
                ));
            }
        }
        let lb_addr = match leg {
            Leg::External => addr::balancer_external(lb),
            Leg::Internal => addr::balancer_internal(lb),
        };
        match peer {
            Some(peer) => {
                let stream = Stream::new(peer, to, lb_addr, leg, true, self.now());
                self.streams.insert((lb, conn), stream);
                self.send_segment(lb, conn, false, Segment::Syn);
            }
            None => {
                // Nobody at that address: refused after a round trip.
                let stream = Stream::new(Peer::Caller(0), to, lb_addr, leg, true, self.now());
                self.streams.insert((lb, conn), stream);
                self.send_segment(lb, conn, true, Segment::Refused);
            }
        }
    }

    /// The balancer writes on a connection; false if it does not know it.
    pub(super) fn lb_write(&mut self, lb: usize, conn: ConnId, payload: Bytes) -> bool {
        let Some(s) = self.streams.get_mut(&(lb, conn)) else {
            return false;
        };
        if s.lb_closed || (!s.lb_open && !s.outbound) {
            return false;
        }
        #[cfg(test)]
        let payload = {
            let peer = s.peer;
            match self.smpp_tamper(peer, payload) {
                Some(p) => p,
                None => return true,
            }
        };
        let Some(s) = self.streams.get_mut(&(lb, conn)) else {
            return false;
        };
        let to = match s.peer {
            Peer::Node { node, .. } => Some(self.nodes[node].addr),
            Peer::Caller(k) => Some(addr::caller(k)),
            Peer::NodeHeartbeat { .. } | Peer::SmppCustomer(_) | Peer::SmppProvider { .. } => None,
        };
        if !s.lb_open {
            s.queued.push(payload.clone());
        } else {
            self.send_segment(
                lb,
                conn,
                false,
                Segment::Data {
                    bytes: payload.clone(),
                    message_end: None,
                },
            );
        }
        if let Some(to) = to {
            if !payload.iter().all(|b| *b == b'\r' || *b == b'\n') {
                self.check_balancer_message(lb, to, &payload, "stream message");
            }
        }
        true
    }

    /// The balancer closes a connection; false if it does not know it.
    pub(super) fn lb_close(&mut self, lb: usize, conn: ConnId) -> bool {
        let Some(s) = self.streams.get_mut(&(lb, conn)) else {
            return false;
        };
        if s.lb_closed {
            return false;
        }
        s.lb_closed = true;
        s.queued.clear();
        s.parked.clear();
        let provider = matches!(s.peer, Peer::SmppProvider { .. });
        self.send_segment(lb, conn, false, Segment::Fin);
        if provider {
            self.smpp_link_ended(lb, conn);
        }
        true
    }

    // ----- the peers' side -----

    /// A peer writes `payload` on its connection, in chunks of arbitrary sizes; false if the
    /// connection is gone on its side.
    pub(crate) fn peer_write(&mut self, lb: usize, conn: ConnId, payload: Bytes) -> bool {
        let Some(peer) = self
            .streams
            .get(&(lb, conn))
            .filter(|s| s.peer_open)
            .map(|s| s.peer)
        else {
            return false;
        };
        let len = payload.len();
        let response = payload.starts_with(b"SIP/2.0 ");
        // Only SIP messages are counted for the balancer's SIP counters.
        let is_sip = !payload.starts_with(b"HTTP/") && !peer.is_smpp();
        let mut at = 0;
        while at < len {
            let left = len - at;
            let n = if left <= 1 || self.stream_rng.chance(0.3) {
                left
            } else {
                1 + self.stream_rng.below(left as u64) as usize
            };
            let end = (at + n == len && is_sip).then_some((len, response));
            self.send_segment(
                lb,
                conn,
                true,
                Segment::Data {
                    bytes: payload.slice(at..at + n),
                    message_end: end,
                },
            );
            at += n;
        }
        true
    }

    /// A peer opens a connection to balancer `lb`'s `leg` (TCP listener), dialled at
    /// `lb_addr`, from `peer_addr`.
    pub(super) fn peer_connect(
        &mut self,
        lb: usize,
        peer: Peer,
        peer_addr: SocketAddr,
        lb_addr: SocketAddr,
        leg: Leg,
    ) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let stream = Stream::new(peer, peer_addr, lb_addr, leg, false, self.now());
        self.streams.insert((lb, conn), stream);
        self.send_segment(lb, conn, true, Segment::Syn);
        conn
    }

    /// A node sends a request (or an answer whose connection is gone) over TCP to a
    /// balancer's internal address `to`: on a connection it opened there, or a new one.
    pub(crate) fn node_stream_send(&mut self, node: usize, to: SocketAddr, payload: Bytes) {
        let Some(lb) = (0..self.lbs.len()).find(|i| addr::balancer_internal(*i) == to) else {
            self.lost_packets += 1;
            return;
        };
        let incarnation = self.nodes[node].incarnation;
        let me = Peer::Node { node, incarnation };
        let open = self
            .streams
            .iter()
            .find(|((i, _), s)| *i == lb && !s.outbound && s.peer == me && s.peer_open)
            .map(|((_, c), _)| *c);
        let conn = match open {
            Some(conn) => conn,
            None => {
                let from = self.nodes[node].addr;
                self.peer_connect(lb, me, from, to, Leg::Internal)
            }
        };
        self.peer_write(lb, conn, payload);
    }

    /// Caller `k` sends over TCP toward `to` (a balancer's external address or the VIP): on
    /// its connection there, or a new one.
    pub(crate) fn caller_stream_send(&mut self, k: usize, to: SocketAddr, payload: Bytes) {
        let me = Peer::Caller(k);
        let open = self
            .streams
            .iter()
            .find(|(_, s)| !s.outbound && s.peer == me && s.lb_addr == to && s.peer_open)
            .map(|(key, _)| *key);
        let (lb, conn) = match open {
            Some(key) => key,
            None => {
                let lb = if to == addr::VIP {
                    // The IP load balancer picks a balancer per connection.
                    self.spray_rng.below(self.lbs.len() as u64) as usize
                } else if let Some(lb) =
                    (0..self.lbs.len()).find(|i| addr::balancer_external(*i) == to)
                {
                    lb
                } else {
                    self.lost_packets += 1;
                    return;
                };
                let conn = self.peer_connect(lb, me, addr::caller(k), to, Leg::External);
                (lb, conn)
            }
        };
        self.peer_write(lb, conn, payload);
    }

    /// Node `node`'s process ends: its connections are reset (a crash) or closed.
    pub(crate) fn end_node_streams(&mut self, node: usize, reset: bool) {
        let keys: Vec<(usize, ConnId)> = self
            .streams
            .iter()
            .filter(|(_, s)| s.peer.node() == Some(node) && s.peer_open)
            .map(|(k, _)| *k)
            .collect();
        for (lb, conn) in keys {
            if let Some(s) = self.streams.get_mut(&(lb, conn)) {
                s.peer_open = false;
            }
            let seg = if reset { Segment::Reset } else { Segment::Fin };
            self.send_segment(lb, conn, true, seg);
        }
    }

    /// A peer closes its side of a connection in order (an SMPP provider after `unbind`).
    pub(super) fn peer_close(&mut self, lb: usize, conn: ConnId) {
        let Some(s) = self.streams.get_mut(&(lb, conn)).filter(|s| s.peer_open) else {
            return;
        };
        s.peer_open = false;
        self.send_segment(lb, conn, true, Segment::Fin);
    }

    /// A peer's process dies: its side of the connection is reset.
    pub(super) fn peer_reset(&mut self, lb: usize, conn: ConnId) {
        let Some(s) = self.streams.get_mut(&(lb, conn)).filter(|s| s.peer_open) else {
            return;
        };
        s.peer_open = false;
        self.send_segment(lb, conn, true, Segment::Reset);
    }

    /// SMPP provider `p`'s process dies: its connections are reset.
    pub(super) fn end_provider_streams(&mut self, p: usize) {
        let keys: Vec<(usize, ConnId)> = self
            .streams
            .iter()
            .filter(|(_, s)| {
                matches!(s.peer, Peer::SmppProvider { provider, .. } if provider == p)
                    && s.peer_open
            })
            .map(|(k, _)| *k)
            .collect();
        for (lb, conn) in keys {
            if let Some(s) = self.streams.get_mut(&(lb, conn)) {
                s.peer_open = false;
            }
            self.send_segment(lb, conn, true, Segment::Reset);
        }
    }

    /// Node `node` is reachable again: the segments held back flow, in order.
    pub(crate) fn release_held(&mut self, node: usize) {
        self.release_held_of(Cut::Node(node));
    }

    /// What `cut` cut off is reachable again: the segments held back arrive now, in order.
    /// They arrive at once rather than one latency later: a segment sent just before the
    /// heal and still in flight arrives after them, as TCP orders it, instead of overtaking
    /// them (which cut an SMPP stream in the middle of a PDU).
    pub(super) fn release_held_of(&mut self, cut: Cut) {
        let held = std::mem::take(&mut self.held);
        let (now_free, still): (Vec<Held>, Vec<Held>) =
            held.into_iter().partition(|h| h.cut == cut);
        self.held = still;
        for h in now_free {
            self.segment(h.lb, h.conn, h.toward_lb, h.seg);
        }
    }

    /// Caller-side bookkeeping shared with `ua.rs`: a call over TCP never retransmits.
    pub(crate) fn call_is_tcp(&self, c: usize) -> bool {
        self.calls[c].transport == crate::scenario::CallTransport::Tcp
    }
}
