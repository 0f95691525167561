//! The SIP proxy as a protocol module: the forwarder (§1) and its connection policy. Datagrams
//! and stream bytes of the SIP listeners come in; each complete message goes through the
//! forwarder; its sends become datagrams or writes on the connection that reaches the peer
//! (opening one toward a node when there is none, RFC 3261 §18).

use super::connections::Connections;
use super::net::{Net, Owner, HANDSHAKE_TIMEOUT};
use super::timers::Timer;
use super::ws_link::WsLink;
use crate::cluster::Cluster;
use crate::forward::{Destination, ForwardSettings, Forwarder, Inbound, ListeningPoint, Transmit};
use crate::io::{ClientTls, CloseReason, ConnId, ListenerId, Output};
use crate::node::Transport;
use crate::sip::{Frame, SipMessage};
use crate::time::Timestamp;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How long an incomplete SIP message may wait on a stream for the rest of its bytes before
/// the connection is closed: 64 × T1, the RFC 3261 §17 transaction timeout (32 s).
pub const PARTIAL_MESSAGE_TIMEOUT: Duration = Duration::from_secs(32);
/// How often idle stream connections are looked for.
pub const IDLE_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// A connection the balancer opened toward a node is closed after this long without traffic;
/// the next message opens a new one.
pub const OUTBOUND_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A connection a client or node opened is closed after this long without traffic: longer
/// than a usual registration interval (3600 s), since requests toward a client behind NAT or
/// a browser can only use the connection it opened (RFC 5626, RFC 7118).
pub const INBOUND_IDLE_TIMEOUT: Duration = Duration::from_secs(7200);

/// A message written on a connection still being opened, and what caused it.
#[derive(Debug, Clone)]
struct PendingSend {
    /// The received message the forwarder answered with this send; `None` for the balancer's
    /// own sends (retransmissions, timeouts).
    cause: Option<Inbound>,
    /// The send itself.
    sent: Transmit,
    /// True if `cause` was already routed again once after a failed connection.
    retried: bool,
}

/// A send waiting for its host name to resolve.
#[derive(Debug, Clone)]
struct Resolving {
    point: ListeningPoint,
    host: String,
    port: u16,
    payload: Bytes,
}

/// The SIP proxy: forwarder, stream connections, and sends in flight.
#[derive(Debug)]
pub struct SipProxy {
    forwarder: Forwarder,
    conns: Connections,
    /// Listener id of every SIP listening point, and back.
    points: BTreeMap<ListeningPoint, ListenerId>,
    by_listener: BTreeMap<ListenerId, ListeningPoint>,
    transmits: Vec<Transmit>,
    /// Messages written to outbound connections that are not established yet, kept so that
    /// a connection that cannot be opened fails them over instead of losing them.
    pending: BTreeMap<ConnId, Vec<PendingSend>>,
    resolving: BTreeMap<u64, Resolving>,
    /// When idle stream connections are next looked for; `None` while there are none.
    next_idle_sweep: Option<Timestamp>,
}

impl SipProxy {
    /// The proxy for `settings`, serving the listening points `points` (with their ids).
    pub fn new(
        settings: ForwardSettings,
        points: impl IntoIterator<Item = (ListeningPoint, ListenerId)>,
        now: Timestamp,
    ) -> SipProxy {
        // Streams are framed with the same limits datagrams are parsed with.
        let limits = settings.parse_limits;
        let points: BTreeMap<_, _> = points.into_iter().collect();
        SipProxy {
            forwarder: Forwarder::new(settings, now),
            conns: Connections::new(limits.max_message_size, limits.max_headers),
            by_listener: points.iter().map(|(p, l)| (*l, *p)).collect(),
            points,
            transmits: Vec::new(),
            pending: BTreeMap::new(),
            resolving: BTreeMap::new(),
            next_idle_sweep: None,
        }
    }

    /// The forwarder, for inspection.
    pub fn forwarder(&self) -> &Forwarder {
        &self.forwarder
    }

    /// Number of open SIP stream connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The framing limits of new connections: (maximum message size, maximum headers).
    pub fn limits(&self) -> (usize, usize) {
        self.conns.limits()
    }

    /// The listening point behind a listener id.
    pub fn point(&self, listener: ListenerId) -> Option<ListeningPoint> {
        self.by_listener.get(&listener).copied()
    }

    /// Replaces the listening points after a reload changed the listeners.
    pub fn set_points(&mut self, points: impl IntoIterator<Item = (ListeningPoint, ListenerId)>) {
        self.points = points.into_iter().collect();
        self.by_listener = self.points.iter().map(|(p, l)| (*l, *p)).collect();
    }

    /// Applies reloaded forwarding settings.
    pub fn set_settings(&mut self, settings: ForwardSettings, now: Timestamp) {
        self.forwarder.set_settings(settings, now);
    }

    /// A node left the registry: the forwarder forgets what it knew of it.
    pub fn forget_node(&mut self, node: crate::node::NodeId) {
        self.forwarder.forget_node(node);
    }

    /// Re-arms the proxy's entries in the timer table (forwarder timers, stalled and idle
    /// streams). Call after every input.
    pub fn arm_timers(&self, net: &mut Net) {
        net.timers
            .set(Timer::Forwarder, self.forwarder.next_deadline());
        let streams = [
            self.conns.next_partial_deadline(PARTIAL_MESSAGE_TIMEOUT),
            self.next_idle_sweep.filter(|_| !self.conns.is_empty()),
        ]
        .into_iter()
        .flatten()
        .min();
        net.timers.set(Timer::SipStreams, streams);
    }

    /// A datagram arrived on a SIP UDP listener.
    pub fn datagram(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        point: ListeningPoint,
        from: SocketAddr,
        payload: Bytes,
    ) {
        let inbound = Inbound {
            listener: point,
            source: from,
            payload,
        };
        self.route(net, cluster, now, inbound, false);
    }

    /// A connection was accepted on a SIP stream listener.
    pub fn accepted(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        point: ListeningPoint,
        peer: SocketAddr,
    ) {
        self.conns.accepted(conn, point, peer, now);
        if is_ws(point.transport) {
            if let Some(c) = self.conns.get_mut(conn) {
                c.ws = Some(WsLink::server());
            }
            net.timers.set(
                Timer::Handshake(conn),
                Some(now.saturating_add(HANDSHAKE_TIMEOUT)),
            );
        }
        self.arm_idle_sweep(now);
    }

    /// True while `conn` waits for its WebSocket upgrade: the client's request (accepted
    /// side) or the server's `101` (outbound side).
    pub fn upgrading(&mut self, conn: ConnId) -> bool {
        self.conns
            .get_mut(conn)
            .is_some_and(|c| matches!(c.ws, Some(WsLink::Upgrading(_) | WsLink::Connecting { .. })))
    }

    /// An outbound connection is up (TCP and TLS). A WebSocket connection still waits for
    /// its upgrade; others carry their queued messages now.
    pub fn connected(&mut self, net: &mut Net, now: Timestamp, conn: ConnId) {
        if self.upgrading(conn) {
            net.timers.set(
                Timer::Handshake(conn),
                Some(now.saturating_add(HANDSHAKE_TIMEOUT)),
            );
        } else {
            self.pending.remove(&conn);
            tracing::debug!(?conn, "outbound SIP connection established");
        }
    }

    /// A connection of the proxy ended.
    pub fn closed(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        conn: ConnId,
        reason: CloseReason,
    ) {
        if self.pending.contains_key(&conn) {
            // Never carried its messages: those go elsewhere.
            return self.connect_failed(net, cluster, now, conn);
        }
        let gone = self.conns.remove(conn);
        // A connection the balancer opened toward a node that breaks is a refusal: the node
        // becomes suspect and its unanswered INVITEs move at once.
        if let Some(gone) = gone.filter(|_| reason == CloseReason::IoError) {
            if conn.is_outbound() {
                self.peer_refused(net, cluster, now, gone.peer, gone.listener.transport);
            }
        }
    }

    /// The OS refused a datagram sent to `to` (ICMP unreachable): a node at that address
    /// stops getting new calls until it answers SIP again.
    pub fn datagram_refused(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        point: ListeningPoint,
        to: SocketAddr,
    ) {
        tracing::debug!(?point, %to, "datagram refused by the destination");
        self.peer_refused(net, cluster, now, to, point.transport);
    }

    /// Bytes arrived on a SIP stream connection.
    pub fn data(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        conn: ConnId,
        bytes: Bytes,
    ) {
        self.conns.touch(conn, now);
        let Some(c) = self.conns.get_mut(conn) else {
            tracing::debug!(?conn, "data on an unknown connection");
            return;
        };
        let (point, peer) = (c.listener, c.peer);
        if let Some(ws) = c.ws.as_mut() {
            let step = ws.receive(&bytes, conn.0);
            for payload in step.write {
                net.write(conn, payload);
            }
            if step.upgraded {
                net.timers.cancel(Timer::Handshake(conn));
                self.pending.remove(&conn);
            }
            for payload in step.messages {
                let inbound = Inbound {
                    listener: point,
                    source: peer,
                    payload,
                };
                self.route(net, cluster, now, inbound, false);
            }
            if step.close {
                if conn.is_outbound() && self.pending.contains_key(&conn) {
                    net.close(conn);
                    self.connect_failed(net, cluster, now, conn);
                } else {
                    self.conns.remove(conn);
                    net.close(conn);
                }
            }
            return;
        }
        c.framer.feed(&bytes);
        loop {
            let Some(c) = self.conns.get_mut(conn) else {
                return;
            };
            match c.framer.next_message() {
                Ok(Some(Frame::Message(payload))) => {
                    let inbound = Inbound {
                        listener: point,
                        source: peer,
                        payload,
                    };
                    self.route(net, cluster, now, inbound, false);
                }
                Ok(Some(Frame::KeepAlivePing)) => {
                    // RFC 5626 §3.5.1: answer a double-CRLF ping with a single CRLF pong.
                    net.write(conn, Bytes::from_static(b"\r\n"));
                }
                Ok(None) => {
                    self.conns.note_partial(conn, now);
                    return;
                }
                Err(error) => {
                    tracing::debug!(%peer, %error, "closing SIP stream that cannot be framed");
                    cluster.stats_mut().rejected += 1;
                    self.conns.remove(conn);
                    self.pending.remove(&conn);
                    net.close(conn);
                    return;
                }
            }
        }
    }

    /// A host name the forwarder had to send to has been resolved: send the message there,
    /// on a connection like any other; a name that did not resolve is a send failure (§1.16).
    pub fn resolved(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        token: u64,
        addr: Option<SocketAddr>,
    ) {
        let Some(r) = self.resolving.remove(&token) else {
            return;
        };
        let to = match addr {
            Some(addr) => Destination::Addr(addr),
            None => {
                tracing::debug!(host = %r.host, port = r.port, "host name did not resolve");
                Destination::Name {
                    host: r.host,
                    port: r.port,
                }
            }
        };
        let t = Transmit {
            leg: r.point.leg,
            transport: r.point.transport,
            ipv6: r.point.ipv6,
            to,
            payload: r.payload,
        };
        if matches!(t.to, Destination::Addr(_)) {
            self.transmit(net, now, t);
        } else {
            self.send_failed(net, cluster, now, &t);
        }
    }

    /// Runs what is due on the proxy's timers: the forwarder's (retransmissions, answers at
    /// Timer B/F, INVITEs routed again after their node stayed silent), stalled streams and
    /// the idle sweep.
    pub fn timeout(&mut self, net: &mut Net, cluster: &mut Cluster, now: Timestamp) {
        self.forwarder_timers(net, cluster, now);
        self.close_stalled_streams(net, cluster, now);
        self.close_idle_streams(net, now);
    }

    /// An accepted WebSocket connection did not finish its upgrade in time, or an outbound
    /// one got no `101`.
    pub fn handshake_timeout(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        conn: ConnId,
    ) {
        tracing::debug!(?conn, "WebSocket upgrade timed out");
        net.close(conn);
        if self.pending.contains_key(&conn) {
            self.connect_failed(net, cluster, now, conn);
        } else {
            self.conns.remove(conn);
        }
    }

    /// Routes one complete SIP message. `retried` marks a message routed again after the
    /// connection its first send needed could not be opened, or an INVITE moved off a silent
    /// node.
    fn route(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        inbound: Inbound,
        retried: bool,
    ) {
        let mut transmits = std::mem::take(&mut self.transmits);
        if retried {
            self.forwarder
                .replay(cluster, inbound.clone(), now, &mut transmits);
        } else {
            self.forwarder
                .handle(cluster, inbound.clone(), now, &mut transmits);
        }
        self.send_all(net, now, &mut transmits, Some(&inbound), retried);
        self.transmits = transmits;
    }

    /// Carries out sends, remembering those that wait for a connection with their cause.
    fn send_all(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        transmits: &mut Vec<Transmit>,
        cause: Option<&Inbound>,
        retried: bool,
    ) {
        for t in transmits.drain(..) {
            if let Some(conn) = self.transmit(net, now, t.clone()) {
                let pending = PendingSend {
                    cause: cause.cloned(),
                    sent: t,
                    retried,
                };
                self.pending.entry(conn).or_default().push(pending);
            }
        }
    }

    fn forwarder_timers(&mut self, net: &mut Net, cluster: &mut Cluster, now: Timestamp) {
        if self.forwarder.next_deadline().is_none_or(|d| d > now) {
            return;
        }
        let mut transmits = std::mem::take(&mut self.transmits);
        let mut replays = Vec::new();
        self.forwarder
            .handle_timeout(cluster, now, &mut transmits, &mut replays);
        self.send_all(net, now, &mut transmits, None, false);
        self.transmits = transmits;
        for inbound in replays {
            // The INVITE moves now: a connection it waited on that fails later must not
            // route it once more.
            for waiting in self.pending.values_mut() {
                waiting.retain(|p| {
                    p.cause
                        .as_ref()
                        .is_none_or(|c| c.payload != inbound.payload)
                });
            }
            self.route(net, cluster, now, inbound, true);
        }
    }

    /// The operating system refused a send to `peer` (connection refused or reset, ICMP
    /// unreachable): a node at that address becomes suspect and its unanswered INVITEs fail
    /// over at once.
    fn peer_refused(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        peer: SocketAddr,
        transport: Transport,
    ) {
        let node = cluster
            .registry()
            .find_by_addr(peer.ip(), peer.port())
            .map(|n| n.id);
        if let Some(id) = node {
            self.forwarder.node_refused(cluster, id, transport, now);
            self.forwarder_timers(net, cluster, now);
        }
    }

    /// An outbound connection could not be opened (node down, port closed, refused upgrade,
    /// no answer in time). The node becomes suspect so the algorithm stops choosing it, and
    /// every message that was waiting for the connection is routed once more (another node
    /// takes a new call; a dialog whose owner is gone fails over, §1.22). A message that
    /// already failed once gets the `isSend5xxResponse` treatment of §1.16 instead of a third
    /// attempt.
    pub fn connect_failed(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        conn: ConnId,
    ) {
        let Some(gone) = self.conns.remove(conn) else {
            return;
        };
        tracing::debug!(peer = %gone.peer, "outbound SIP connection failed");
        let waiting = self.pending.remove(&conn).unwrap_or_default();
        let node = cluster
            .registry()
            .find_by_addr(gone.peer.ip(), gone.peer.port())
            .map(|n| (n.id, n.version.clone(), n.is_ipv6()));
        if let Some((id, _, _)) = &node {
            self.forwarder
                .node_refused(cluster, *id, gone.listener.transport, now);
        }
        for p in waiting {
            let Some(cause) = p.cause.filter(|_| !p.retried && node.is_some()) else {
                self.send_failed(net, cluster, now, &p.sent);
                continue;
            };
            if let (Some((dead, version, ipv6)), Ok(msg)) =
                (&node, SipMessage::parse(cause.payload.clone()))
            {
                cluster.fail_over(version, *ipv6, &msg, *dead, now);
            }
            self.route(net, cluster, now, cause, true);
        }
        self.forwarder_timers(net, cluster, now);
    }

    /// Turns a forwarder's send into a driver action: a datagram from the leg's UDP socket, a
    /// name resolution, or a write on the connection that reaches the peer (opening one if
    /// there is none). Returns the connection if it is still being opened.
    fn transmit(&mut self, net: &mut Net, now: Timestamp, t: Transmit) -> Option<ConnId> {
        let point = ListeningPoint {
            leg: t.leg,
            transport: t.transport,
            ipv6: t.ipv6,
        };
        let to = match t.to {
            Destination::Addr(to) => to,
            Destination::Name { host, port } => {
                let token = net.token();
                net.push(Output::Resolve {
                    token,
                    host: host.clone(),
                    port,
                    ipv6: point.ipv6,
                });
                let payload = t.payload;
                self.resolving.insert(
                    token,
                    Resolving {
                        point,
                        host,
                        port,
                        payload,
                    },
                );
                return None;
            }
        };
        let listener = self.points.get(&point).copied();
        if t.transport == Transport::Udp {
            match listener {
                Some(listener) => net.push(Output::SendDatagram {
                    listener,
                    to,
                    payload: t.payload,
                }),
                None => tracing::debug!(?point, %to, "no UDP listener for this send"),
            }
            return None;
        }
        let conn = match self.conns.route_to(point, to, now) {
            Some(conn) => conn,
            None => self.open(net, now, point, listener, to),
        };
        let payload = match self.conns.get_mut(conn).and_then(|c| c.ws.as_mut()) {
            Some(ws) => ws.encode(t.payload),
            None => Some(t.payload),
        };
        if let Some(payload) = payload {
            net.write(conn, payload);
        }
        self.pending.contains_key(&conn).then_some(conn)
    }

    /// Opens a connection toward `to` from `point` (TLS for TLS and WSS, the WebSocket
    /// upgrade for WS and WSS).
    fn open(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        point: ListeningPoint,
        listener: Option<ListenerId>,
        to: SocketAddr,
    ) -> ConnId {
        let tls = matches!(point.transport, Transport::Tls | Transport::Wss).then(|| ClientTls {
            server_name: to.ip().to_string(),
            unverified_without_trust_store: false,
        });
        let conn = net.connect(Owner::Sip, to, listener, tls, now);
        self.conns.opened(conn, point, to, now);
        if is_ws(point.transport) {
            let (link, request) = WsLink::client(&to.to_string(), conn.0);
            net.write(conn, request);
            if let Some(c) = self.conns.get_mut(conn) {
                c.ws = Some(link);
            }
        }
        self.pending.insert(conn, Vec::new());
        self.arm_idle_sweep(now);
        conn
    }

    /// A send could not be carried out: the forwarder answers it as §1.16 says
    /// (`isSend5xxResponse`), and that answer is sent.
    fn send_failed(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        failed: &Transmit,
    ) {
        let mut out = std::mem::take(&mut self.transmits);
        self.forwarder
            .handle_send_failure(cluster, failed, now, &mut out);
        for t in out.drain(..) {
            self.transmit(net, now, t);
        }
        self.transmits = out;
    }

    /// Closes stream connections whose incomplete message has waited longer than
    /// [`PARTIAL_MESSAGE_TIMEOUT`]: a peer that trickles a message, or stops mid-message, must
    /// not hold a connection and its buffer for ever.
    fn close_stalled_streams(&mut self, net: &mut Net, cluster: &mut Cluster, now: Timestamp) {
        for conn in self.conns.stalled(now, PARTIAL_MESSAGE_TIMEOUT) {
            if let Some(gone) = self.conns.remove(conn) {
                tracing::debug!(peer = %gone.peer, "closing SIP stream stalled in the middle of a message");
                cluster.stats_mut().rejected += 1;
                self.pending.remove(&conn);
                net.close(conn);
            }
        }
    }

    fn arm_idle_sweep(&mut self, now: Timestamp) {
        if self.next_idle_sweep.is_none() {
            self.next_idle_sweep = Some(now.saturating_add(IDLE_SWEEP_INTERVAL));
        }
    }

    /// Closes stream connections without traffic for longer than [`OUTBOUND_IDLE_TIMEOUT`]
    /// (connections the balancer opened toward nodes) or [`INBOUND_IDLE_TIMEOUT`] (connections
    /// clients and nodes opened), then schedules the next sweep while connections remain.
    fn close_idle_streams(&mut self, net: &mut Net, now: Timestamp) {
        if self.next_idle_sweep.is_none_or(|at| at > now) {
            return;
        }
        for conn in self
            .conns
            .idle(now, OUTBOUND_IDLE_TIMEOUT, INBOUND_IDLE_TIMEOUT)
        {
            if let Some(gone) = self.conns.remove(conn) {
                tracing::debug!(peer = %gone.peer, "closing idle SIP stream");
                self.pending.remove(&conn);
                net.close(conn);
            }
        }
        self.next_idle_sweep =
            (!self.conns.is_empty()).then(|| now.saturating_add(IDLE_SWEEP_INTERVAL));
    }
}

/// True for the WebSocket transports (RFC 7118).
fn is_ws(transport: Transport) -> bool {
    matches!(transport, Transport::Ws | Transport::Wss)
}
