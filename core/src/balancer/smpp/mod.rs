//! The SMPP balancer's connection policy (behaviour reference §6, docs/decisions.md §12):
//! customers (ESMEs) on the `smppPort` and `smppSslPort` listeners, providers (SMSCs) the
//! balancer connects to.
//!
//! - **Mux mode** ([`mux`], §6.3): customers are grouped by `system_id`; the first bind of a
//!   `system_id` binds one `bind_transceiver` session to every remote server, and every
//!   customer of that `system_id` shares those sessions.
//! - **Regular mode** ([`regular`], §6.2): each customer gets its own provider connection,
//!   bound with the customer's own bind.
//! - Requests are forwarded with the next sequence number of the connection they leave on
//!   and their responses mapped back (§6.6, [`inflight`]); every request that reaches the
//!   balancer gets exactly one response: the peer's, or the balancer's own (`ESME_RSYSERR` on
//!   a timeout, a lost connection or while no provider is bound; `ESME_RTHROTTLED` from the
//!   provider limits; `generic_nack` for PDUs invalid in the state).
//! - Timers (§6.5): the customer's bind deadline (`timeoutConnection`), each forwarded
//!   request's response deadline (`timeoutResponse`), `enquire_link` on connections idle for
//!   `timeoutEnquire` and their answer deadline (`timeoutConnectionCheck*`), provider
//!   reconnection (`reconnectPeriod`), and the throttling queue. They live in the module's
//!   own timer table; the balancer arms `Timer::Smpp` for its earliest entry.

mod customer;
pub mod inflight;
pub mod limiter;
mod mux;
pub mod pins;
mod provider;
pub mod receipts;
mod regular;
pub mod settings;

#[cfg(test)]
mod tests;

use super::net::Net;
use super::timers::{Timer, Timers};
use crate::cluster::Cluster;
use crate::io::{ClientTls, ConnId};
use crate::smpp::{self, Bind, CommandId, CommandStatus, Framer};
use crate::smpp_proxy::stats::{RemoteServer, SmppStats, SmppView};
use crate::time::Timestamp;
use bytes::Bytes;
use inflight::{InFlight, LinkId, Origin};
use limiter::Limiter;
use pins::Pins;
use receipts::ReceiptTable;
use settings::SmppSettings;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

/// Where `sequence_number` lies in a PDU's header (SMPP 3.4 §3.2).
const SEQUENCE_AT: usize = 12;

/// Why the SMPP balancer wants to be woken up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum SmppTimer {
    /// A customer's bind deadline (not bound yet, or waiting for the providers' bind).
    CustomerState(ConnId),
    /// The earliest response deadline of the requests sent to a customer.
    CustomerResponses(ConnId),
    /// A customer's `enquire_link` schedule.
    CustomerLiveness(ConnId),
    /// The earliest response deadline of the requests sent on a provider link.
    LinkResponses(LinkId),
    /// A provider link's `enquire_link` schedule.
    LinkLiveness(LinkId),
    /// A provider link's next connection attempt.
    LinkReconnect(LinkId),
    /// A provider link's throttling queue: a token or a queue deadline.
    LinkQueue(LinkId),
}

/// A customer's state (§6.4, customer side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CustomerState {
    /// Connected, not bound.
    Open,
    /// Its bind waits for a provider's answer.
    Binding,
    /// Bound; requests are forwarded.
    Bound,
    /// Regular mode: its `unbind` went to the provider; the answer closes both.
    Unbinding,
    /// The balancer sent it an `unbind`; its answer (or the deadline) closes it.
    Closing,
}

/// A customer's bind, kept to answer it and, in regular mode, to bind again after a loss.
#[derive(Debug, Clone)]
struct CustomerBind {
    command: CommandId,
    seq: u32,
    body: Bind,
}

/// A customer (ESME) connection.
#[derive(Debug)]
struct Customer {
    secure: bool,
    state: CustomerState,
    framer: Framer,
    inflight: InFlight,
    bind: Option<CustomerBind>,
    /// The bound `system_id` (for statistics and mux routing).
    system_id: Arc<str>,
    /// Regular mode: its provider link.
    link: Option<LinkId>,
    last_rx: Timestamp,
    /// An `enquire_link` was sent; nothing received since; silent past this, it is lost.
    answer_by: Option<Timestamp>,
}

impl Customer {
    /// True if it may receive `deliver_sm` (bound as receiver or transceiver).
    fn receives(&self) -> bool {
        self.state == CustomerState::Bound
            && self
                .bind
                .as_ref()
                .is_some_and(|b| b.command != CommandId::BIND_TRANSMITTER)
    }
}

/// A provider link's state (§6.4, provider side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    /// No connection; the next attempt is scheduled (or none, see `Failed`).
    Idle,
    /// Connecting, its bind written and awaiting the answer.
    Binding,
    /// Bound.
    Bound,
    /// The balancer sent `unbind`; the answer (or the deadline) closes it.
    Unbinding,
    /// The provider refused the credentials; not tried again.
    Failed,
}

/// Whom a provider link serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LinkOwner {
    /// Mux mode: every customer of this `system_id`.
    Space(Arc<str>),
    /// Regular mode: this customer.
    Customer(ConnId),
    /// Nobody any more: it is being unbound.
    Detached,
}

/// A customer request waiting for the provider's window or rate.
#[derive(Debug, Clone)]
struct Queued {
    customer: ConnId,
    seq: u32,
    command: CommandId,
    pdu: Bytes,
    deadline: Timestamp,
}

/// A provider slot: where it is, and its current connection if any.
#[derive(Debug)]
struct Link {
    /// Where it connects, as `host:port` (statistics key).
    key: Arc<str>,
    addr: SocketAddr,
    /// The server name for TLS.
    host: String,
    tls: bool,
    owner: LinkOwner,
    conn: Option<ConnId>,
    state: LinkState,
    framer: Framer,
    inflight: InFlight,
    /// The `bind` this link sends: its command and body.
    bind_command: CommandId,
    bind: Bind,
    /// Regular mode: the first bind's answer goes to the customer; a rebind's does not.
    relay_bind_resp: bool,
    /// Regular mode: the servers still to try in this round, in order.
    candidates: VecDeque<Candidate>,
    last_rx: Timestamp,
    answer_by: Option<Timestamp>,
    limiter: Limiter,
    queue: VecDeque<Queued>,
    was_bound: bool,
}

/// A server a link may connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    key: Arc<str>,
    host: String,
    addr: SocketAddr,
}

/// Mux mode: the customers of one `system_id` and the provider links they share.
#[derive(Debug)]
struct Space {
    /// The bind its provider links send (the first customer's credentials).
    bind: Bind,
    password: Bytes,
    /// TLS toward providers (the first customer came on the TLS port, §6.3).
    secure: bool,
    /// A provider accepted these credentials.
    authenticated: bool,
    links: Vec<LinkId>,
    customers: Vec<ConnId>,
    waiting: Vec<ConnId>,
    next_link: usize,
    next_customer: usize,
    receipts: ReceiptTable,
    pins: Pins,
}

/// A provider request sent to several customers (submit-to-all): the first response wins.
#[derive(Debug, Clone, Copy)]
struct Fanout {
    answered: bool,
    remaining: usize,
}

/// The SMPP balancer. See the module documentation.
#[derive(Debug)]
pub struct SmppProxy {
    settings: SmppSettings,
    customers: BTreeMap<ConnId, Customer>,
    links: BTreeMap<LinkId, Link>,
    by_conn: BTreeMap<ConnId, LinkId>,
    spaces: BTreeMap<Arc<str>, Space>,
    fanouts: BTreeMap<u64, Fanout>,
    next_link: LinkId,
    next_fanout: u64,
    next_regular: usize,
    timers: Timers<SmppTimer>,
    stats: SmppStats,
    /// Addresses of remote servers given by name, as the driver resolved them.
    resolved: BTreeMap<(String, u16), SocketAddr>,
    /// Name resolutions asked for, by token.
    resolving: BTreeMap<u64, (String, u16)>,
}

impl SmppProxy {
    /// An SMPP balancer with `settings`.
    pub fn new(settings: SmppSettings) -> SmppProxy {
        SmppProxy {
            settings,
            customers: BTreeMap::new(),
            links: BTreeMap::new(),
            by_conn: BTreeMap::new(),
            spaces: BTreeMap::new(),
            fanouts: BTreeMap::new(),
            next_link: 0,
            next_fanout: 0,
            next_regular: 0,
            timers: Timers::default(),
            stats: SmppStats::default(),
            resolved: BTreeMap::new(),
            resolving: BTreeMap::new(),
        }
    }

    /// Asks the driver to resolve the remote servers given by name (at start, after a
    /// reload, and again before a bind while one is unresolved).
    pub fn resolve_names(&mut self, net: &mut Net) {
        if !self.settings.enabled {
            return;
        }
        for hp in &self.settings.remote_servers {
            let key = (hp.host.clone(), hp.port);
            if self::provider::resolve(&hp.host, hp.port).is_some()
                || self.resolved.contains_key(&key)
                || self.resolving.values().any(|k| *k == key)
            {
                continue;
            }
            let token = net.token();
            net.push(crate::io::Output::Resolve {
                token,
                host: hp.host.clone(),
                port: hp.port,
                ipv6: false,
            });
            self.resolving.insert(token, key);
        }
    }

    /// True if `token` names one of this module's name resolutions.
    pub fn owns_token(&self, token: u64) -> bool {
        self.resolving.contains_key(&token)
    }

    /// The answer to a name resolution: a mux `system_id` bound or binding gets a link to
    /// the server now known.
    pub fn resolved(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        token: u64,
        addr: Option<SocketAddr>,
    ) {
        let Some((host, port)) = self.resolving.remove(&token) else {
            return;
        };
        match addr {
            Some(addr) => {
                tracing::info!(%host, %addr, "SMPP remote server resolved");
                self.resolved.insert((host, port), addr);
                if self.settings.mux_mode {
                    self.remote_servers_changed(net, now);
                }
            }
            None => tracing::warn!(%host, "SMPP remote server name does not resolve"),
        }
    }

    /// The address of a remote server: its IP literal, or what its name resolved to.
    fn address_of(&self, host: &str, port: u16) -> Option<SocketAddr> {
        self::provider::resolve(host, port)
            .or_else(|| self.resolved.get(&(host.to_owned(), port)).copied())
    }

    /// The counters behind `/lbstat` and `/metrics`.
    pub fn stats(&self) -> &SmppStats {
        &self.stats
    }

    /// True if `conn` is one of this module's connections.
    pub fn owns(&self, conn: ConnId) -> bool {
        self.customers.contains_key(&conn) || self.by_conn.contains_key(&conn)
    }

    /// Arms the balancer's `Timer::Smpp` for this module's earliest deadline.
    pub fn arm_timers(&self, net: &mut Net) {
        net.timers.set(Timer::Smpp, self.timers.next());
    }

    /// Takes a reloaded configuration's settings. Timers and limits apply from now on; in mux
    /// mode a remote server the file adds is connected and bound for every `system_id`
    /// that is bound or binding, and one it removes is unbound and closed (§7.4).
    pub fn set_settings(&mut self, net: &mut Net, now: Timestamp, settings: SmppSettings) {
        let old = std::mem::replace(&mut self.settings, settings);
        for link in self.links.values_mut() {
            link.limiter
                .reconfigure(self.settings.window, self.settings.rate);
        }
        if old.remote_servers != self.settings.remote_servers {
            self.resolve_names(net);
            if self.settings.mux_mode {
                self.remote_servers_changed(net, now);
            }
        }
    }

    /// A customer connected on an SMPP listener (`secure`: the TLS one). It must bind within
    /// `timeoutConnection`.
    pub fn accepted(&mut self, now: Timestamp, conn: ConnId, secure: bool) {
        self.customers.insert(
            conn,
            Customer {
                secure,
                state: CustomerState::Open,
                framer: Framer::new(self.settings.max_pdu),
                inflight: InFlight::default(),
                bind: None,
                system_id: Arc::from(""),
                link: None,
                last_rx: now,
                answer_by: None,
            },
        );
        self.timers.set(
            SmppTimer::CustomerState(conn),
            Some(now.saturating_add(self.settings.session_init)),
        );
    }

    /// Bytes from a customer or a provider.
    pub fn data(
        &mut self,
        net: &mut Net,
        cluster: &Cluster,
        now: Timestamp,
        conn: ConnId,
        bytes: Bytes,
    ) {
        if let Some(c) = self.customers.get_mut(&conn) {
            c.framer.feed(bytes);
            loop {
                let Some(c) = self.customers.get_mut(&conn) else {
                    return;
                };
                match c.framer.poll() {
                    Ok(Some(pdu)) => self.customer_pdu(net, cluster, now, conn, pdu),
                    Ok(None) => return,
                    Err(e) => {
                        tracing::debug!(?conn, %e, "SMPP customer framing lost");
                        self.stats.answered(CommandStatus::RINVCMDLEN);
                        self.write_customer(net, conn, e.answer(), false);
                        self.customer_gone(net, now, conn, true);
                        return;
                    }
                }
            }
        }
        let Some(&id) = self.by_conn.get(&conn) else {
            return;
        };
        if let Some(link) = self.links.get_mut(&id) {
            link.framer.feed(bytes);
        }
        loop {
            let Some(link) = self.links.get_mut(&id) else {
                return;
            };
            if link.conn != Some(conn) {
                return;
            }
            match link.framer.poll() {
                Ok(Some(pdu)) => self.provider_pdu(net, now, id, conn, pdu),
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(provider = %link.key, %e, "SMPP provider framing lost");
                    net.write(conn, e.answer());
                    self.link_lost(net, now, id, true);
                    return;
                }
            }
        }
    }

    /// An outbound connection is established (its bind was written with the connect).
    pub fn connected(&mut self, conn: ConnId) {
        if let Some(id) = self.by_conn.get(&conn) {
            tracing::debug!(link = id, ?conn, "SMPP provider connected");
        }
    }

    /// An outbound connection could not be established.
    pub fn connect_failed(&mut self, net: &mut Net, now: Timestamp, conn: ConnId) {
        if let Some(&id) = self.by_conn.get(&conn) {
            self.link_lost(net, now, id, false);
        }
    }

    /// A connection ended.
    pub fn closed(&mut self, net: &mut Net, now: Timestamp, conn: ConnId) {
        if self.customers.contains_key(&conn) {
            self.customer_gone(net, now, conn, false);
        } else if let Some(&id) = self.by_conn.get(&conn) {
            self.link_lost(net, now, id, false);
        }
    }

    /// `Timer::Smpp` fired: runs every expired entry of the module's table.
    pub fn timeout(&mut self, net: &mut Net, cluster: &Cluster, now: Timestamp) {
        for timer in self.timers.expired(now) {
            match timer {
                SmppTimer::CustomerState(conn) => self.customer_state_timeout(net, now, conn),
                SmppTimer::CustomerResponses(conn) => self.customer_responses_due(net, now, conn),
                SmppTimer::CustomerLiveness(conn) => self.customer_liveness(net, now, conn),
                SmppTimer::LinkResponses(id) => self.link_responses_due(net, now, id),
                SmppTimer::LinkLiveness(id) => self.link_liveness(net, now, id),
                SmppTimer::LinkReconnect(id) => self.reconnect(net, cluster, now, id),
                SmppTimer::LinkQueue(id) => self.drain_queue(net, now, id),
            }
        }
    }

    /// A snapshot for the management API; `cluster` gives the heartbeat nodes with
    /// `smppPort` (regular mode's node map).
    pub fn view(&self, cluster: &Cluster) -> SmppView {
        let customers = self.customers.len();
        let providers = self.by_conn.len();
        let mut remote_servers: Vec<RemoteServer> = self
            .settings
            .remote_servers
            .iter()
            .map(|hp| {
                let key: Arc<str> = Arc::from(format!("{}:{}", hp.host, hp.port));
                RemoteServer {
                    host: hp.host.clone(),
                    ip: self
                        .address_of(&hp.host, hp.port)
                        .map_or_else(|| hp.host.clone(), |a| a.ip().to_string()),
                    port: hp.port,
                    bound_connections: self
                        .links
                        .values()
                        .filter(|l| l.key == key && l.state == LinkState::Bound)
                        .count(),
                    from_heartbeat: false,
                }
            })
            .collect();
        if !self.settings.mux_mode {
            for (candidate, name) in regular::heartbeat_servers(cluster) {
                remote_servers.push(RemoteServer {
                    host: name,
                    ip: candidate.addr.ip().to_string(),
                    port: candidate.addr.port(),
                    bound_connections: self
                        .links
                        .values()
                        .filter(|l| l.key == candidate.key && l.state == LinkState::Bound)
                        .count(),
                    from_heartbeat: true,
                });
            }
        }
        let mut provider_windows = BTreeMap::new();
        let mut provider_queues = BTreeMap::new();
        for link in self.links.values().filter(|l| l.conn.is_some()) {
            *provider_windows.entry(link.key.to_string()).or_insert(0) += link.inflight.len();
            *provider_queues.entry(link.key.to_string()).or_insert(0) += link.queue.len();
        }
        let mut customer_windows = BTreeMap::new();
        for c in self.customers.values().filter(|c| !c.system_id.is_empty()) {
            *customer_windows.entry(c.system_id.to_string()).or_insert(0) += c.inflight.len();
        }
        SmppView {
            enabled: self.settings.enabled,
            mux_mode: self.settings.mux_mode,
            customer_connections: customers,
            provider_connections: providers,
            active_connections: if self.settings.mux_mode {
                customers + usize::from(customers > 0)
            } else {
                customers + providers
            },
            remote_servers,
            provider_windows,
            provider_queues,
            customer_windows,
            receipt_entries: self.spaces.values().map(|s| s.receipts.len()).sum(),
        }
    }

    // ---- writing ----

    /// Writes a PDU to a customer, counting it.
    fn write_customer(&mut self, net: &mut Net, conn: ConnId, pdu: Bytes, request: bool) {
        self.stats.to_client(pdu.len(), request);
        net.write(conn, pdu);
    }

    /// Writes a PDU to a provider connection, counting it.
    fn write_provider(&mut self, net: &mut Net, conn: ConnId, pdu: Bytes, request: bool) {
        self.stats.to_server(pdu.len(), request);
        net.write(conn, pdu);
    }

    /// Relays a PDU to a customer renumbered to `seq`, counting it.
    fn relay_to_customer(
        &mut self,
        net: &mut Net,
        conn: ConnId,
        pdu: &[u8],
        seq: u32,
        request: bool,
    ) {
        self.stats.to_client(pdu.len(), request);
        net.write_patched(conn, pdu, SEQUENCE_AT, seq);
    }

    /// Relays a PDU to a provider connection renumbered to `seq`, counting it.
    fn relay_to_provider(
        &mut self,
        net: &mut Net,
        conn: ConnId,
        pdu: &[u8],
        seq: u32,
        request: bool,
    ) {
        self.stats.to_server(pdu.len(), request);
        net.write_patched(conn, pdu, SEQUENCE_AT, seq);
    }

    /// Answers a customer's request itself with `status` (its response PDU, or a
    /// `generic_nack` for a request without one).
    fn answer_customer(
        &mut self,
        net: &mut Net,
        conn: ConnId,
        command: CommandId,
        seq: u32,
        status: CommandStatus,
    ) {
        if !self.customers.contains_key(&conn) {
            return;
        }
        self.stats.answered(status);
        let pdu = smpp::response_with_status(command, status, seq);
        self.write_customer(net, conn, pdu, false);
    }

    /// Answers a provider's request itself with `status`, on connection `conn` if it is
    /// still the link's.
    fn answer_provider(
        &mut self,
        net: &mut Net,
        id: LinkId,
        conn: ConnId,
        command: CommandId,
        seq: u32,
        status: CommandStatus,
    ) {
        if self.links.get(&id).and_then(|l| l.conn) != Some(conn) {
            return;
        }
        self.stats.answered(status);
        let pdu = smpp::response_with_status(command, status, seq);
        self.write_provider(net, conn, pdu, false);
    }

    /// The TLS a provider connection gets: over TLS when the customer (mux: the first of
    /// the `system_id`) came on the TLS listener and TLS is not terminated here (§6.2, §6.3).
    fn client_tls(&self, secure: bool, host: &str) -> Option<ClientTls> {
        (secure && !self.settings.terminate_tls).then(|| ClientTls {
            server_name: host.to_owned(),
            unverified_without_trust_store: true,
        })
    }

    /// Arms the response deadline timer of a link if it is not armed (deadlines only grow,
    /// so an armed one is never later than a new request's).
    fn arm_link_responses(&mut self, id: LinkId) {
        let timer = SmppTimer::LinkResponses(id);
        if self.timers.is_armed(timer) {
            return;
        }
        let next = self
            .links
            .get_mut(&id)
            .and_then(|l| l.inflight.next_deadline());
        self.timers.set(timer, next);
    }

    /// The same for a customer.
    fn arm_customer_responses(&mut self, conn: ConnId) {
        let timer = SmppTimer::CustomerResponses(conn);
        if self.timers.is_armed(timer) {
            return;
        }
        let next = self
            .customers
            .get_mut(&conn)
            .and_then(|c| c.inflight.next_deadline());
        self.timers.set(timer, next);
    }

    /// A provider's request answered by several customers or by a deadline: true if this
    /// answer is the one that goes back.
    fn fanout_answer(&mut self, fanout: Option<u64>, answered: bool) -> bool {
        let Some(f) = fanout else {
            return true;
        };
        let Some(state) = self.fanouts.get_mut(&f) else {
            return false;
        };
        state.remaining = state.remaining.saturating_sub(1);
        let goes = if answered {
            !std::mem::replace(&mut state.answered, true)
        } else {
            // A deadline or a lost customer: the provider is answered by the last of them if
            // no customer answered.
            state.remaining == 0 && !state.answered
        };
        if state.remaining == 0 {
            self.fanouts.remove(&f);
        }
        goes
    }

    /// A provider's request forwarded to a customer ended without the customer's response
    /// (deadline or customer gone): the provider gets `ESME_RSYSERR` unless another customer
    /// of a fan-out answers.
    fn provider_request_failed(&mut self, net: &mut Net, command: CommandId, origin: Origin) {
        if let Origin::Provider {
            link,
            conn,
            seq,
            fanout,
        } = origin
        {
            if self.fanout_answer(fanout, false) {
                self.answer_provider(net, link, conn, command, seq, CommandStatus::RSYSERR);
            }
        }
    }
}
