//! The balancer: a thin router. It owns the node registry and algorithms (the cluster), the
//! one timer table, and the protocol modules that share them: the SIP proxy ([`sip`]), the
//! service ports ([`services`]: heartbeat and management), and the stop notifications
//! ([`notify`]). Each listener's traffic goes to the module that serves it; each connection
//! to the module that owns it.
//!
//! # The run-loop contract
//!
//! 1. Create it with [`Balancer::new`]; open the sockets [`Balancer::listeners`] declares.
//! 2. For every event, call [`Balancer::handle`] with the current time and one [`Input`].
//! 3. Drain [`Balancer::poll_output`] until it returns `None`, carrying out each [`Output`]
//!    in order (this keeps the order in which messages from one peer leave).
//! 4. Sleep until [`Balancer::poll_timeout`] (or the next input), then feed [`Input::Timeout`].
//! 5. On SIGTERM/SIGINT, call [`Balancer::shutdown`] and keep running until
//!    [`Output::Exit`] (at most [`notify::NOTIFY_LIMIT`] later).
//!
//! `now` must never go backwards. Peer garbage never returns an error: it is answered where
//! the protocol allows, counted and logged at debug. The same inputs give the same outputs,
//! byte for byte.

pub mod connections;
pub mod http;
pub mod listeners;
pub mod net;
pub mod notify;
pub mod services;
pub mod sip;
pub mod smpp;
pub mod timers;
pub mod ws_link;

use crate::algorithm::{AlgorithmError, RegexPin};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::forward::ForwardSettings;
use crate::heartbeat::{self, HttpOutcome};
use crate::io::{ClusterEventKind, ConnId, Input, ListenerId, ListenerSpec, Output};
use crate::management::{self, ManagementAction, ManagementOutcome, ManagementView};
use crate::registry::RegistryEvent;
use crate::time::Timestamp;
use http::settings::HttpSettings;
use http::HttpProxy;
use listeners::{Declared, Role};
use net::{Net, Owner, HANDSHAKE_TIMEOUT};
use notify::Notifier;
use services::{ServiceRequest, Services};
use sip::SipProxy;
use smpp::settings::SmppSettings;
use smpp::SmppProxy;
use std::collections::BTreeMap;
use timers::Timer;

/// The Switchboard core. See the module documentation for the run-loop contract.
#[derive(Debug)]
pub struct Balancer {
    config: Config,
    cluster: Cluster,
    declared: Vec<Declared>,
    roles: BTreeMap<ListenerId, Role>,
    net: Net,
    sip: SipProxy,
    http: HttpProxy,
    smpp: SmppProxy,
    services: Services,
    notifier: Notifier,
    regex_pins: Vec<RegexPin>,
    last_now: Timestamp,
}

/// The SIP listening points among `declared`, with their listener ids.
fn sip_points(declared: &[Declared]) -> Vec<(crate::forward::ListeningPoint, ListenerId)> {
    declared
        .iter()
        .filter_map(|d| match d.role {
            Role::Sip(point) => Some((point, d.spec.id)),
            _ => None,
        })
        .collect()
}

/// What a configuration reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The algorithms were rebuilt because their parameters changed.
    pub algorithms_rebuilt: bool,
    /// Listeners added by the new file (each an [`Output::Listen`]).
    pub listeners_opened: usize,
    /// Listeners the new file no longer has (each an [`Output::CloseListener`]).
    pub listeners_closed: usize,
    /// Changed settings that only a restart applies (the running values stay in force).
    pub needs_restart: Vec<String>,
}

impl Balancer {
    /// A balancer for `config`, starting at `now` (in performance-testing mode the extra
    /// server nodes are registered at once). Fails only if the algorithm cannot be built from
    /// the configuration (e.g. a malformed `subclusterMap`).
    pub fn new(config: Config, now: Timestamp) -> Result<Balancer, AlgorithmError> {
        let cluster = Cluster::from_config(&config, now)?;
        let declared = listeners::declare(&config);
        let roles = declared.iter().map(|d| (d.spec.id, d.role)).collect();
        let points = sip_points(&declared);
        let sip = SipProxy::new(ForwardSettings::from_config(&config), points, now);
        let http = HttpProxy::new(HttpSettings::from_config(&config));
        let smpp = SmppProxy::new(SmppSettings::from_config(&config));
        let mut balancer = Balancer {
            config,
            cluster,
            declared,
            roles,
            net: Net::default(),
            sip,
            http,
            smpp,
            services: Services::default(),
            notifier: Notifier::default(),
            regex_pins: Vec::new(),
            last_now: now,
        };
        balancer.smpp.resolve_names(&mut balancer.net);
        balancer.arm_timers();
        Ok(balancer)
    }

    /// The listening sockets the driver must open, in a fixed order.
    pub fn listeners(&self) -> Vec<ListenerSpec> {
        self.declared.iter().map(|d| d.spec.clone()).collect()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The registry, algorithms and statistics, for inspection.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Every armed deadline with its reason, earliest first.
    pub fn deadlines(&self) -> Vec<(Timestamp, Timer)> {
        self.net.timers.deadlines().collect()
    }

    /// Feeds one input observed at `now`. Drain [`Balancer::poll_output`] afterwards.
    pub fn handle(&mut self, now: Timestamp, input: Input) {
        let now = now.max(self.last_now);
        self.last_now = now;
        let (net, cluster) = (&mut self.net, &mut self.cluster);
        match input {
            Input::Datagram {
                listener,
                from,
                payload,
            } => match self.roles.get(&listener) {
                Some(Role::Sip(point)) => {
                    self.sip.datagram(net, cluster, now, *point, from, payload);
                }
                _ => tracing::debug!(?listener, "datagram on a listener that takes none"),
            },
            Input::Accepted {
                conn,
                listener,
                peer,
            } => self.accepted(now, conn, listener, peer),
            Input::Connected { conn } => {
                net.connected(conn);
                match net.owner(conn) {
                    Some(Owner::Sip) => self.sip.connected(net, now, conn),
                    Some(Owner::Http) => self.http.connected(conn),
                    Some(Owner::Smpp) => self.smpp.connected(conn),
                    _ => {}
                }
            }
            Input::ConnectFailed { conn } => match net.forget(conn) {
                Some(Owner::Sip) => self.sip.connect_failed(net, cluster, now, conn),
                Some(Owner::Http) => self.http.connect_failed(net, cluster, now, conn),
                Some(Owner::Smpp) => self.smpp.connect_failed(net, now, conn),
                Some(Owner::Notify) => self.notifier.closed(net, conn),
                Some(Owner::Service(_)) | None => {}
            },
            Input::Data { conn, bytes } => self.data(now, conn, bytes),
            Input::Closed { conn, reason } => match net.forget(conn) {
                Some(Owner::Sip) => self.sip.closed(net, cluster, now, conn, reason),
                Some(Owner::Service(_)) => self.services.closed(conn),
                Some(Owner::Notify) => self.notifier.closed(net, conn),
                Some(Owner::Http) => self.http.closed(net, cluster, now, conn),
                Some(Owner::Smpp) => self.smpp.closed(net, now, conn),
                None => {}
            },
            Input::Resolved { token, addr } => {
                if self.smpp.owns_token(token) {
                    self.smpp.resolved(net, now, token, addr);
                } else if self.http.owns_token(token) {
                    self.http.resolved(net, cluster, now, token, addr);
                } else {
                    self.sip.resolved(net, cluster, now, token, addr);
                }
            }
            Input::SendFailed { listener, to } => {
                if let Some(Role::Sip(point)) = self.roles.get(&listener) {
                    self.sip.datagram_refused(net, cluster, now, *point, to);
                }
            }
            Input::Drained { conn } => {
                if net.owner(conn) == Some(Owner::Http) {
                    self.http.drained(net, conn);
                }
            }
            Input::Timeout => self.timeout(now),
        }
        self.cluster_events();
        self.arm_timers();
    }

    /// The next action for the driver, in order.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.net.pop()
    }

    /// When to feed [`Input::Timeout`] next. While outputs are queued this is the last `now`,
    /// so a driver never sleeps on pending work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.net.has_output() {
            return Some(self.last_now);
        }
        self.net.timers.next()
    }

    /// Applies a reloaded configuration (SIGHUP or a file change; docs/decisions.md §8.11).
    /// SIP forwarding settings, registry timeouts and error detection, and algorithm
    /// parameters take effect for the next message. Listeners follow the file: those that did
    /// not change keep their ids and sockets, removed ones are closed
    /// ([`Output::CloseListener`]) and new ones opened ([`Output::Listen`]); connections
    /// already accepted stay up. Only the framing limits of open stream connections need a
    /// restart ([`ReloadReport::needs_restart`]). Fails, changing nothing, if the algorithm
    /// cannot be built from the new file.
    pub fn reconfigure(
        &mut self,
        config: Config,
        now: Timestamp,
    ) -> Result<ReloadReport, AlgorithmError> {
        let mut needs_restart = Vec::new();
        let settings = ForwardSettings::from_config(&config);
        let limits = settings.parse_limits;
        if (limits.max_message_size, limits.max_headers) != self.sip.limits() {
            needs_restart.push(
                "stream framing limits of open connections (sipStack MAX_MESSAGE_SIZE)".to_owned(),
            );
        }
        let (registry_settings, algorithm_settings) = Cluster::settings_from_config(&config);
        let rebuilt = self
            .cluster
            .reconfigure(registry_settings, algorithm_settings, now)?;
        let change = listeners::reconcile(&self.declared, listeners::declare(&config));
        for id in &change.closed {
            self.net.push(Output::CloseListener { id: *id });
        }
        for spec in &change.opened {
            self.net.push(Output::Listen { spec: spec.clone() });
        }
        let (opened, closed) = (change.opened.len(), change.closed.len());
        self.declared = change.declared;
        self.roles = self.declared.iter().map(|d| (d.spec.id, d.role)).collect();
        self.sip.set_points(sip_points(&self.declared));
        self.sip.set_settings(settings, now);
        self.http.set_settings(HttpSettings::from_config(&config));
        self.smpp
            .set_settings(&mut self.net, now, SmppSettings::from_config(&config));
        self.config = config;
        self.apply_regex_pins();
        self.arm_timers();
        Ok(ReloadReport {
            algorithms_rebuilt: rebuilt,
            listeners_opened: opened,
            listeners_closed: closed,
            needs_restart,
        })
    }

    /// Starts the balancer's stop (SIGTERM, SIGINT, or `/lbstop` after its delay): sends the
    /// LB→node `stop` message to every node that advertised a `heartbeatPort` (§3.2, §7.2),
    /// so the nodes re-`start` elsewhere, then emits [`Output::Exit`] once they are told or
    /// after [`notify::NOTIFY_LIMIT`].
    pub fn shutdown(&mut self, now: Timestamp) {
        self.last_now = now.max(self.last_now);
        let now = self.last_now;
        let host = &self.config.common.host;
        let port = self.config.heartbeat.port;
        let requests = heartbeat::stop_requests(self.cluster.registry().all_nodes(), host, port);
        self.notifier.start(&mut self.net, now, requests);
        self.arm_timers();
    }

    fn accepted(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        listener: ListenerId,
        peer: std::net::SocketAddr,
    ) {
        let Some(&role) = self.roles.get(&listener) else {
            tracing::debug!(?listener, "connection on an unknown listener");
            self.net.push(Output::Close { conn });
            return;
        };
        let secure = self
            .declared
            .iter()
            .any(|d| d.spec.id == listener && d.spec.tls.is_some());
        if secure {
            // The TLS handshake must produce the first bytes in time.
            self.net.timers.set(
                Timer::Handshake(conn),
                Some(now.saturating_add(HANDSHAKE_TIMEOUT)),
            );
        }
        match role {
            Role::Sip(point) => {
                self.net.accepted(conn, Owner::Sip);
                self.sip.accepted(&mut self.net, now, conn, point, peer);
            }
            Role::Heartbeat | Role::Management => {
                self.net.accepted(conn, Owner::Service(role));
                self.services.accepted(&mut self.net, now, conn, role, peer);
            }
            Role::Http(listener) => {
                self.net.accepted(conn, Owner::Http);
                self.http.accepted(&mut self.net, now, conn, peer, listener);
            }
            Role::Smpp { secure } => {
                tracing::debug!(?conn, %peer, secure, "SMPP customer connected");
                self.net.accepted(conn, Owner::Smpp);
                self.smpp.accepted(now, conn, secure);
            }
        }
    }

    fn data(&mut self, now: Timestamp, conn: ConnId, bytes: bytes::Bytes) {
        let (net, cluster) = (&mut self.net, &mut self.cluster);
        let owner = net.owner(conn);
        // A TLS handshake is done once bytes come; a WebSocket upgrade is the proxy's to
        // finish.
        if owner != Some(Owner::Sip) || !self.sip.upgrading(conn) {
            net.timers.cancel(Timer::Handshake(conn));
        }
        match owner {
            Some(Owner::Sip) => self.sip.data(net, cluster, now, conn, bytes),
            Some(Owner::Service(_)) => {
                if let Some(request) = self.services.data(net, now, conn, bytes) {
                    self.service_request(now, request);
                }
            }
            Some(Owner::Http) => self.http.data(net, cluster, now, conn, bytes),
            Some(Owner::Smpp) => self.smpp.data(net, cluster, now, conn, bytes),
            // The node's answer to a stop notification is not needed.
            Some(Owner::Notify) => {}
            None => tracing::debug!(?conn, "data on an unknown connection"),
        }
    }

    fn timeout(&mut self, now: Timestamp) {
        for timer in self.net.timers.expired(now) {
            let (net, cluster) = (&mut self.net, &mut self.cluster);
            match timer {
                Timer::Cluster => cluster.handle_timeout(now),
                Timer::Forwarder | Timer::SipStreams => self.sip.timeout(net, cluster, now),
                Timer::Connect(conn) => {
                    tracing::debug!(?conn, "outbound connection timed out");
                    let owner = net.owner(conn);
                    net.close(conn);
                    match owner {
                        Some(Owner::Sip) => self.sip.connect_failed(net, cluster, now, conn),
                        Some(Owner::Http) => self.http.connect_failed(net, cluster, now, conn),
                        Some(Owner::Smpp) => self.smpp.connect_failed(net, now, conn),
                        Some(Owner::Notify) => self.notifier.closed(net, conn),
                        _ => {}
                    }
                }
                Timer::Handshake(conn) => match net.owner(conn) {
                    Some(Owner::Sip) => self.sip.handshake_timeout(net, cluster, now, conn),
                    Some(Owner::Http) => {
                        net.close(conn);
                        self.http.closed(net, cluster, now, conn);
                    }
                    Some(Owner::Smpp) => {
                        net.close(conn);
                        self.smpp.closed(net, now, conn);
                    }
                    _ => net.close(conn),
                },
                Timer::ServiceIdle(conn) => self.services.idle(net, conn),
                Timer::Http(conn) => self.http.timeout(net, cluster, now, conn),
                Timer::Smpp => self.smpp.timeout(net, cluster, now),
                Timer::StopDelay => self.shutdown(now),
                Timer::ExitDeadline => self.notifier.deadline(net),
            }
        }
    }

    /// Re-arms the cluster's and the proxy's entries in the timer table.
    fn arm_timers(&mut self) {
        self.net
            .timers
            .set(Timer::Cluster, self.cluster.next_deadline());
        self.sip.arm_timers(&mut self.net);
        self.smpp.arm_timers(&mut self.net);
    }

    fn service_request(&mut self, now: Timestamp, request: ServiceRequest) {
        let ServiceRequest {
            conn,
            role,
            peer,
            raw,
        } = request;
        let incomplete = || crate::http::response(400, "text/plain", "incomplete request\n");
        match role {
            Role::Heartbeat => {
                match self
                    .cluster
                    .update_registry(now, |r| heartbeat::handle_http_request(r, &raw, now))
                {
                    // The framer hands over complete requests only.
                    HttpOutcome::NeedMore => {
                        self.services.respond(&mut self.net, conn, incomplete())
                    }
                    HttpOutcome::Respond(reply) => {
                        tracing::debug!(%peer, status = reply.status, "heartbeat answered");
                        self.services.respond(&mut self.net, conn, reply.response);
                    }
                }
            }
            Role::Management => {
                let outcome = management::handle_request(&raw, &self.management_view());
                if let ManagementOutcome::Respond { response, action } = outcome {
                    self.services.respond(&mut self.net, conn, response);
                    if let Some(action) = action {
                        self.management_action(now, action);
                    }
                } else {
                    self.services.respond(&mut self.net, conn, incomplete());
                }
            }
            Role::Sip(_) | Role::Http(_) | Role::Smpp { .. } => {}
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
            sip_connections: self.sip.connections(),
            pending_requests: self.sip.forwarder().transactions().len(),
            pending_evictions: self.sip.forwarder().transactions().evictions(),
            credentials,
            shutdown_timeout: common.shutdown_timeout,
            http: self.http.stats(),
            http_connections: self.http.connections(),
            http_tunnels: self.http.tunnels(),
            smpp: self.smpp.stats(),
            smpp_view: self.smpp.view(&self.cluster),
        }
    }

    fn management_action(&mut self, now: Timestamp, action: ManagementAction) {
        match action {
            ManagementAction::Stop { after } => {
                tracing::warn!(
                    after_ms = after.as_millis() as u64,
                    "stop requested through the management API"
                );
                // The management port closes at once; the full stop begins after `after`.
                for d in &self.declared {
                    if d.role == Role::Management {
                        self.net.push(Output::CloseListener { id: d.spec.id });
                    }
                }
                self.net
                    .timers
                    .set(Timer::StopDelay, Some(now.saturating_add(after)));
            }
            ManagementAction::SetLogLevel(level) => self.net.push(Output::SetLogLevel { level }),
            ManagementAction::PinRegex { regex, ip, port } => {
                let pin =
                    crate::sip::parse_ip(ip.as_bytes()).map(|ip| RegexPin::new(&regex, ip, port));
                if let Some(Ok(pin)) = pin {
                    self.regex_pins.retain(|p| p.pattern() != regex);
                    self.regex_pins.push(pin);
                    self.apply_regex_pins();
                }
            }
            ManagementAction::UnpinRegex(regex) => {
                self.regex_pins.retain(|p| p.pattern() != regex);
                self.apply_regex_pins();
            }
        }
    }

    /// Hands the `/lbnoderegex` pins to the algorithm of the latest version, the one new
    /// calls go to (only UserBased consults them, §4.4).
    fn apply_regex_pins(&mut self) {
        if let Some(version) = self.cluster.registry().latest_version().cloned() {
            self.cluster
                .algorithm_mut(&version)
                .set_regex_pins(self.regex_pins.clone());
        }
    }

    /// Logs and forwards every cluster event as an output; the proxy forgets removed nodes.
    fn cluster_events(&mut self) {
        while let Some(event) = self.cluster.poll_event() {
            // The registry already wrote one info line per node joining, leaving, going
            // graceful or bad; the full event is for debugging.
            tracing::debug!(?event, "cluster event");
            let (kind, node) = match &event {
                RegistryEvent::NodeAdded(n) => (ClusterEventKind::NodeAdded, n),
                RegistryEvent::NodeRemoved { node, .. } => {
                    self.sip.forget_node(node.id);
                    (ClusterEventKind::NodeRemoved, node)
                }
                RegistryEvent::NodeGraceful(n) => (ClusterEventKind::NodeGraceful, n),
                RegistryEvent::NodeBad { node, .. } => (ClusterEventKind::NodeBad, node),
                RegistryEvent::NodeRecovered(n) => (ClusterEventKind::NodeRecovered, n),
                RegistryEvent::NodeSuspect { node, .. } => (ClusterEventKind::NodeSuspect, node),
                RegistryEvent::NodeTrusted(n) => (ClusterEventKind::NodeTrusted, n),
                RegistryEvent::Switchover {
                    from_jvm_route,
                    to_jvm_route,
                } => {
                    self.net.push(Output::Cluster {
                        kind: ClusterEventKind::Switchover,
                        node: format!("{from_jvm_route}->{to_jvm_route}"),
                    });
                    continue;
                }
            };
            let node = format!("{}/{}", node.host_name, node.key.ip);
            self.net.push(Output::Cluster { kind, node });
        }
    }
}

#[cfg(test)]
mod tests;
