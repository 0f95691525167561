//! The balancer: one value that owns the node registry, the algorithms, the SIP forwarder, the
//! stream connections and the statistics, driven by timestamped inputs.
//!
//! # The run-loop contract
//!
//! 1. Create it with [`Balancer::new`]; open the sockets [`Balancer::listeners`] and
//!    [`Balancer::services`] name.
//! 2. For every event, call [`Balancer::handle`] with the current time and one [`Input`].
//! 3. Drain [`Balancer::poll_output`] until it returns `None`, carrying out each [`Output`]
//!    in order (this keeps the order in which messages from one peer leave).
//! 4. Sleep until [`Balancer::poll_timeout`] (or the next input), then feed [`Input::Timeout`].
//! 5. On stop, call [`Balancer::shutdown`] and drain the outputs once more.
//!
//! `now` must never go backwards. Peer garbage never returns an error: it is answered where
//! the protocol allows, counted and logged at debug. The same inputs give the same outputs,
//! byte for byte.

pub mod connections;
pub mod listeners;

use crate::algorithm::{AlgorithmError, RegexPin};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::forward::{Destination, ForwardSettings, Forwarder, Inbound, Transmit};
use crate::heartbeat::{self, HttpOutcome};
use crate::io::{CloseReason, ConnId, Input, ListenerId, Output, Service};
use crate::management::{self, ManagementAction, ManagementOutcome, ManagementView};
use crate::node::Transport;
use crate::sip::{Frame, SipMessage};
use crate::time::Timestamp;
use bytes::Bytes;
use connections::{Connections, Route};
pub use listeners::{ListenerSpec, ServiceSpec};
use std::collections::{BTreeMap, VecDeque};
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

/// The Switchboard core. See the module documentation for the run-loop contract.
#[derive(Debug)]
pub struct Balancer {
    config: Config,
    cluster: Cluster,
    forwarder: Forwarder,
    conns: Connections,
    out: VecDeque<Output>,
    transmits: Vec<Transmit>,
    regex_pins: Vec<RegexPin>,
    /// Messages written to outbound connections that are not established yet, kept so that
    /// a connection that cannot be opened fails them over instead of losing them.
    pending: BTreeMap<ConnId, Vec<PendingSend>>,
    /// When idle stream connections are next looked for; `None` while there are none.
    next_idle_sweep: Option<Timestamp>,
    last_now: Timestamp,
}

/// What a configuration reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The algorithms were rebuilt because their parameters changed.
    pub algorithms_rebuilt: bool,
    /// Changed settings that only a restart applies (the running values stay in force).
    pub needs_restart: Vec<String>,
}

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

impl Balancer {
    /// A balancer for `config`, starting at `now` (in performance-testing mode the extra
    /// server nodes are registered at once). Fails only if the algorithm cannot be built from
    /// the configuration (e.g. a malformed `subclusterMap`).
    pub fn new(config: Config, now: Timestamp) -> Result<Balancer, AlgorithmError> {
        let cluster = Cluster::from_config(&config, now)?;
        let settings = ForwardSettings::from_config(&config);
        // Streams are framed with the same limits datagrams are parsed with.
        let limits = settings.parse_limits;
        let conns = Connections::new(limits.max_message_size, limits.max_headers);
        let forwarder = Forwarder::new(settings, now);
        Ok(Balancer {
            config,
            cluster,
            forwarder,
            conns,
            out: VecDeque::new(),
            transmits: Vec::new(),
            regex_pins: Vec::new(),
            pending: BTreeMap::new(),
            next_idle_sweep: None,
            last_now: now,
        })
    }

    /// The SIP listening points the driver must open.
    pub fn listeners(&self) -> Vec<ListenerSpec> {
        listeners::sip_listeners(&self.config)
    }

    /// The service ports (heartbeat, management) the driver must open.
    pub fn services(&self) -> Vec<ServiceSpec> {
        listeners::service_listeners(&self.config)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The registry, algorithms and statistics, for inspection.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Feeds one input observed at `now`. Drain [`Balancer::poll_output`] afterwards.
    pub fn handle(&mut self, now: Timestamp, input: Input) {
        let now = now.max(self.last_now);
        self.last_now = now;
        match input {
            Input::Datagram {
                listener,
                from,
                payload,
            } => {
                self.sip(
                    now,
                    Inbound {
                        listener,
                        source: from,
                        payload,
                    },
                    false,
                );
            }
            Input::Accepted {
                conn,
                listener,
                peer,
            } => {
                self.conns.accepted(conn, listener, peer, now);
                self.arm_idle_sweep(now);
            }
            Input::Connected { conn } => {
                self.pending.remove(&conn);
                tracing::debug!(?conn, "outbound SIP connection established");
            }
            Input::ConnectFailed { conn } => self.connect_failed(now, conn),
            Input::StreamData { conn, bytes } => self.stream_data(now, conn, bytes),
            Input::Closed { conn, reason } => {
                let gone = self.conns.remove(conn);
                self.pending.remove(&conn);
                // A connection the balancer opened toward a node that breaks is a refusal:
                // the node becomes suspect and its unanswered INVITEs move at once.
                if let Some(gone) = gone.filter(|_| reason == CloseReason::IoError) {
                    if conn.is_outbound() {
                        self.peer_refused(now, gone.peer, gone.listener.transport);
                    }
                }
            }
            Input::ServiceData {
                service,
                conn,
                peer,
                bytes,
            } => self.service_data(now, service, conn, peer, &bytes),
            Input::Resolved {
                listener,
                host,
                port,
                addr,
                payload,
            } => self.resolved(now, listener, host, port, addr, payload),
            Input::SendFailed { listener, to } => self.datagram_refused(now, listener, to),
            Input::Timeout => {
                self.cluster.handle_timeout(now);
                self.forwarder_timers(now);
                self.close_stalled_streams(now);
                self.close_idle_streams(now);
            }
        }
        self.log_cluster_events();
    }

    /// The next action for the driver, in order.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When to feed [`Input::Timeout`] next. While outputs are queued this is the last `now`,
    /// so a driver never sleeps on pending work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if !self.out.is_empty() {
            return Some(self.last_now);
        }
        [
            self.cluster.next_deadline(),
            self.forwarder.next_deadline(),
            self.conns.next_partial_deadline(PARTIAL_MESSAGE_TIMEOUT),
            self.next_idle_sweep.filter(|_| !self.conns.is_empty()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Applies a reloaded configuration (SIGHUP or a file change; DECISIONS.md §2). SIP
    /// forwarding settings, registry timeouts and error detection, and algorithm parameters
    /// take effect for the next message; listener and service addresses need a restart and
    /// are reported in [`ReloadReport::needs_restart`], the running sockets staying as they
    /// are. Fails, changing nothing, if the algorithm cannot be built from the new file.
    pub fn reconfigure(
        &mut self,
        mut config: Config,
        now: Timestamp,
    ) -> Result<ReloadReport, AlgorithmError> {
        let mut needs_restart = Vec::new();
        if listeners::sip_listeners(&config) != self.listeners() {
            needs_restart.push("SIP listening points (sip/external, sip/internal)".to_owned());
        }
        if listeners::service_listeners(&config) != self.services() {
            needs_restart
                .push("heartbeat or management port (heartbeat, common/apiPort)".to_owned());
        }
        // What the driver opened is what the core keeps naming until a restart.
        config.sip.external = self.config.sip.external.clone();
        config.sip.internal = self.config.sip.internal.clone();
        config.common.host = self.config.common.host.clone();
        config.common.api_port = self.config.common.api_port;
        config.heartbeat.port = self.config.heartbeat.port;
        let settings = ForwardSettings::from_config(&config);
        let limits = settings.parse_limits;
        if (limits.max_message_size, limits.max_headers) != self.conns.limits() {
            needs_restart.push(
                "stream framing limits of open connections (sipStack MAX_MESSAGE_SIZE)".to_owned(),
            );
        }
        let (registry_settings, algorithm_settings) = Cluster::settings_from_config(&config);
        let rebuilt = self
            .cluster
            .reconfigure(registry_settings, algorithm_settings, now)?;
        self.forwarder.set_settings(settings, now);
        self.config = config;
        self.apply_regex_pins(now);
        Ok(ReloadReport {
            algorithms_rebuilt: rebuilt,
            needs_restart,
        })
    }

    /// Starts the balancer's stop: queues the LB→node `stop` message for every node that
    /// advertised a `heartbeatPort` (§3.2, §7.2), so the nodes re-`start` elsewhere.
    pub fn shutdown(&mut self, now: Timestamp) {
        self.last_now = now.max(self.last_now);
        let host = self.config.common.host.clone();
        let port = self.config.heartbeat.port;
        for stop in heartbeat::stop_requests(self.cluster.registry().all_nodes(), &host, port) {
            self.out.push_back(Output::HttpNotify {
                to: stop.to,
                request: stop.request,
            });
        }
    }

    /// Routes one complete SIP message. `retried` marks a message routed again after the
    /// connection its first send needed could not be opened.
    fn sip(&mut self, now: Timestamp, inbound: Inbound, retried: bool) {
        let mut transmits = std::mem::take(&mut self.transmits);
        if retried {
            self.forwarder
                .replay(&mut self.cluster, inbound.clone(), now, &mut transmits);
        } else {
            self.forwarder
                .handle(&mut self.cluster, inbound.clone(), now, &mut transmits);
        }
        self.send_all(&mut transmits, Some(&inbound), retried);
        self.transmits = transmits;
    }

    /// Carries out sends, remembering those that wait for a connection with their cause.
    fn send_all(&mut self, transmits: &mut Vec<Transmit>, cause: Option<&Inbound>, retried: bool) {
        for t in transmits.drain(..) {
            if let Some(conn) = self.transmit(t.clone()) {
                let pending = PendingSend {
                    cause: cause.cloned(),
                    sent: t,
                    retried,
                };
                self.pending.entry(conn).or_default().push(pending);
            }
        }
    }

    /// Runs the forwarder's timers: retransmissions, answers at Timer B/F, and INVITEs routed
    /// again after their node stayed silent (docs/decisions.md, "Node failure").
    fn forwarder_timers(&mut self, now: Timestamp) {
        if self.forwarder.next_deadline().is_none_or(|d| d > now) {
            return;
        }
        let mut transmits = std::mem::take(&mut self.transmits);
        let mut replays = Vec::new();
        self.forwarder
            .handle_timeout(&mut self.cluster, now, &mut transmits, &mut replays);
        self.send_all(&mut transmits, None, false);
        self.transmits = transmits;
        for inbound in replays {
            self.sip(now, inbound, true);
        }
    }

    /// The operating system refused a send to `peer` (connection refused or reset, ICMP
    /// unreachable): a node at that address becomes suspect and its unanswered INVITEs fail
    /// over at once.
    fn peer_refused(&mut self, now: Timestamp, peer: SocketAddr, transport: Transport) {
        let node = self
            .cluster
            .registry()
            .find_by_addr(peer.ip(), peer.port())
            .map(|n| n.id);
        if let Some(id) = node {
            self.forwarder
                .node_refused(&mut self.cluster, id, transport, now);
            self.forwarder_timers(now);
        }
    }

    /// An outbound connection could not be opened (node down, port closed). The node becomes
    /// suspect so the algorithm stops choosing it, and every message that was
    /// waiting for the connection is routed once more (another node takes a new call; a
    /// dialog whose owner is gone fails over, §1.22). A message that already failed once
    /// gets the `isSend5xxResponse` treatment of §1.16 instead of a third attempt.
    fn connect_failed(&mut self, now: Timestamp, conn: ConnId) {
        let Some(gone) = self.conns.remove(conn) else {
            return;
        };
        tracing::debug!(peer = %gone.peer, "outbound SIP connection failed");
        let waiting = self.pending.remove(&conn).unwrap_or_default();
        let node = self
            .cluster
            .registry()
            .find_by_addr(gone.peer.ip(), gone.peer.port())
            .map(|n| (n.id, n.version.clone(), n.is_ipv6()));
        if let Some((id, _, _)) = &node {
            self.forwarder
                .node_refused(&mut self.cluster, *id, gone.listener.transport, now);
        }
        for p in waiting {
            let Some(cause) = p.cause.filter(|_| !p.retried && node.is_some()) else {
                self.send_failed(now, &p.sent);
                continue;
            };
            if let (Some((dead, version, ipv6)), Ok(msg)) =
                (&node, SipMessage::parse(cause.payload.clone()))
            {
                self.cluster.fail_over(version, *ipv6, &msg, *dead, now);
            }
            self.sip(now, cause, true);
        }
        self.forwarder_timers(now);
    }

    /// The OS refused a datagram sent to `to` (ICMP unreachable): a node at that address
    /// stops getting new calls until it answers SIP again.
    fn datagram_refused(&mut self, now: Timestamp, listener: ListenerId, to: SocketAddr) {
        tracing::debug!(?listener, %to, "datagram refused by the destination");
        self.peer_refused(now, to, listener.transport);
    }

    /// Turns a forwarder's send into a driver action: a datagram from the leg's UDP socket, or
    /// a write on the connection that reaches the peer (opening one if there is none).
    fn transmit(&mut self, t: Transmit) -> Option<ConnId> {
        let listener = ListenerId {
            leg: t.leg,
            transport: t.transport,
            ipv6: t.ipv6,
        };
        let to = match t.to {
            Destination::Addr(to) => to,
            Destination::Name { host, port } => {
                self.out.push_back(Output::SendToHost {
                    listener,
                    host,
                    port,
                    payload: t.payload,
                });
                return None;
            }
        };
        if t.transport == Transport::Udp {
            self.out.push_back(Output::SendDatagram {
                listener,
                to,
                payload: t.payload,
            });
            return None;
        }
        let conn = match self.conns.route_to(listener, to, self.last_now) {
            Route::Existing(conn) => conn,
            Route::Opened(conn) => {
                self.out.push_back(Output::Connect { conn, listener, to });
                self.pending.insert(conn, Vec::new());
                self.arm_idle_sweep(self.last_now);
                conn
            }
        };
        self.out.push_back(Output::Write {
            conn,
            payload: t.payload,
        });
        self.pending.contains_key(&conn).then_some(conn)
    }

    /// A host name the forwarder had to send to has been resolved by the driver: send the
    /// message there, on a connection like any other; a name that did not resolve is a send
    /// failure (§1.16).
    fn resolved(
        &mut self,
        now: Timestamp,
        listener: ListenerId,
        host: String,
        port: u16,
        addr: Option<SocketAddr>,
        payload: Bytes,
    ) {
        let to = match addr {
            Some(addr) => Destination::Addr(addr),
            None => {
                tracing::debug!(%host, port, "host name did not resolve");
                Destination::Name { host, port }
            }
        };
        let t = Transmit {
            leg: listener.leg,
            transport: listener.transport,
            ipv6: listener.ipv6,
            to,
            payload,
        };
        if matches!(t.to, Destination::Addr(_)) {
            self.transmit(t);
        } else {
            self.send_failed(now, &t);
        }
    }

    /// A send could not be carried out: the forwarder answers it as §1.16 says
    /// (`isSend5xxResponse`), and that answer is sent.
    fn send_failed(&mut self, now: Timestamp, failed: &Transmit) {
        let mut out = std::mem::take(&mut self.transmits);
        self.forwarder
            .handle_send_failure(&mut self.cluster, failed, now, &mut out);
        for t in out.drain(..) {
            self.transmit(t);
        }
        self.transmits = out;
    }

    fn stream_data(&mut self, now: Timestamp, conn: ConnId, bytes: Bytes) {
        self.conns.touch(conn, now);
        let Some(c) = self.conns.get_mut(conn) else {
            tracing::debug!(?conn, "data on an unknown connection");
            return;
        };
        let (listener, peer) = (c.listener, c.peer);
        // RFC 7118 §5: one SIP message per WebSocket message; no stream framing.
        if matches!(listener.transport, Transport::Ws | Transport::Wss) {
            self.sip(
                now,
                Inbound {
                    listener,
                    source: peer,
                    payload: bytes,
                },
                false,
            );
            return;
        }
        c.framer.feed(&bytes);
        loop {
            let Some(c) = self.conns.get_mut(conn) else {
                return;
            };
            match c.framer.next_message() {
                Ok(Some(Frame::Message(message))) => {
                    self.sip(
                        now,
                        Inbound {
                            listener,
                            source: peer,
                            payload: message,
                        },
                        false,
                    );
                }
                Ok(Some(Frame::KeepAlivePing)) => {
                    // RFC 5626 §3.5.1: answer a double-CRLF ping with a single CRLF pong.
                    self.out.push_back(Output::Write {
                        conn,
                        payload: Bytes::from_static(b"\r\n"),
                    });
                }
                Ok(None) => {
                    self.conns.note_partial(conn, now);
                    return;
                }
                Err(error) => {
                    tracing::debug!(%peer, %error, "closing SIP stream that cannot be framed");
                    self.cluster.stats_mut().rejected += 1;
                    self.conns.remove(conn);
                    self.out.push_back(Output::Close { conn });
                    return;
                }
            }
        }
    }

    /// Closes stream connections whose incomplete message has waited longer than
    /// [`PARTIAL_MESSAGE_TIMEOUT`]: a peer that trickles a message, or stops mid-message, must
    /// not hold a connection and its buffer for ever.
    fn close_stalled_streams(&mut self, now: Timestamp) {
        for conn in self.conns.stalled(now, PARTIAL_MESSAGE_TIMEOUT) {
            if let Some(gone) = self.conns.remove(conn) {
                tracing::debug!(peer = %gone.peer, "closing SIP stream stalled in the middle of a message");
                self.cluster.stats_mut().rejected += 1;
                self.pending.remove(&conn);
                self.out.push_back(Output::Close { conn });
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
    fn close_idle_streams(&mut self, now: Timestamp) {
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
                self.out.push_back(Output::Close { conn });
            }
        }
        self.next_idle_sweep =
            (!self.conns.is_empty()).then(|| now.saturating_add(IDLE_SWEEP_INTERVAL));
    }

    fn service_data(
        &mut self,
        now: Timestamp,
        service: Service,
        conn: ConnId,
        peer: SocketAddr,
        bytes: &[u8],
    ) {
        match service {
            Service::Heartbeat => {
                match self
                    .cluster
                    .update_registry(now, |r| heartbeat::handle_http_request(r, bytes, now))
                {
                    HttpOutcome::NeedMore => {}
                    HttpOutcome::Respond(reply) => {
                        tracing::debug!(%peer, status = reply.status, "heartbeat answered");
                        self.reply_and_close(conn, reply.response);
                    }
                }
            }
            Service::Management => {
                let outcome = management::handle_request(bytes, &self.management_view());
                if let ManagementOutcome::Respond { response, action } = outcome {
                    self.reply_and_close(conn, response);
                    if let Some(action) = action {
                        self.management_action(now, action);
                    }
                }
            }
        }
    }

    fn management_view(&self) -> ManagementView<'_> {
        let registry = self.cluster.registry();
        let (nodes_ipv4, nodes_ipv6) = match registry.latest_version() {
            Some(v) => (
                registry.live_nodes(v, false).iter().collect(),
                registry.live_nodes(v, true).iter().collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let common = &self.config.common;
        let credentials = common.security_required.then(|| {
            (
                common.login.as_deref().unwrap_or(""),
                common.password.as_deref().unwrap_or(""),
            )
        });
        ManagementView {
            stats: self.cluster.stats(),
            nodes_ipv4,
            nodes_ipv6,
            all_nodes: registry.all_nodes().collect(),
            active_calls: self.cluster.active_calls(),
            sip_connections: self.conns.len(),
            pending_requests: self.forwarder.transactions().len(),
            pending_evictions: self.forwarder.transactions().evictions(),
            credentials,
            shutdown_timeout: common.shutdown_timeout,
        }
    }

    fn management_action(&mut self, now: Timestamp, action: ManagementAction) {
        match action {
            ManagementAction::Stop { after } => {
                tracing::warn!(
                    after_ms = after.as_millis() as u64,
                    "stop requested through the management API"
                );
                self.out.push_back(Output::Stop { after });
            }
            ManagementAction::SetLogLevel(level) => {
                self.out.push_back(Output::SetLogLevel { level })
            }
            ManagementAction::PinRegex { regex, ip, port } => {
                let pin =
                    crate::sip::parse_ip(ip.as_bytes()).map(|ip| RegexPin::new(&regex, ip, port));
                if let Some(Ok(pin)) = pin {
                    self.regex_pins.retain(|p| p.pattern() != regex);
                    self.regex_pins.push(pin);
                    self.apply_regex_pins(now);
                }
            }
            ManagementAction::UnpinRegex(regex) => {
                self.regex_pins.retain(|p| p.pattern() != regex);
                self.apply_regex_pins(now);
            }
        }
    }

    /// Hands the `/lbnoderegex` pins to the algorithm of the latest version, the one new
    /// calls go to (only UserBased consults them, §4.4).
    fn apply_regex_pins(&mut self, _now: Timestamp) {
        if let Some(version) = self.cluster.registry().latest_version().cloned() {
            self.cluster
                .algorithm_mut(&version)
                .set_regex_pins(self.regex_pins.clone());
        }
    }

    fn reply_and_close(&mut self, conn: ConnId, response: Bytes) {
        self.out.push_back(Output::Write {
            conn,
            payload: response,
        });
        self.out.push_back(Output::Close { conn });
    }

    fn log_cluster_events(&mut self) {
        while let Some(event) = self.cluster.poll_event() {
            // The registry already wrote one info line per node joining, leaving, going graceful
            // or bad; the full event is for debugging.
            tracing::debug!(?event, "cluster event");
            if let crate::registry::RegistryEvent::NodeRemoved { node, .. } = &event {
                self.forwarder.forget_node(node.id);
            }
        }
    }
}

#[cfg(test)]
mod tests;
