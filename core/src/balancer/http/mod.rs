//! The HTTP balancer's connection policy (behaviour reference §5, docs/decisions.md §11):
//! client connections on the HTTP and HTTPS listeners, each request routed on its own (not per
//! client connection) to a node connection taken from a keep-alive pool per node address.
//!
//! - A client connection carries one request at a time: pipelined requests wait, framed, in
//!   the client's framer and are answered in order.
//! - Request and response bodies are streamed as they arrive (Content-Length bodies as is,
//!   chunked bodies re-chunked, trailers kept), never held whole; [`flow`] pauses the faster
//!   side.
//! - `Expect: 100-continue` goes to the node, whose `100 Continue` comes back.
//! - A node connection refused or reset before any response byte sends the request, once, to
//!   another node when it is idempotent or was not sent (docs/decisions.md §10).
//! - A protocol switch (WebSocket) gets a fresh node connection; after the node's `101` the
//!   two connections are a byte tunnel.
//! - The balancer answers itself: `302` to HTTPS, `503` with no node, the framer's `400`,
//!   `413`, `414`, `431`, `501`, `505`, `408` for a slow head, `502` for a failed node and
//!   `504` for a silent one.
//!
//! Each connection has at most one deadline (`Timer::Http`): head or keep-alive for a client,
//! tunnel idle for a tunnel, response for a busy node connection, pool idle for an idle one.

pub mod flow;
pub mod settings;

use super::net::{Net, Owner};
use super::timers::Timer;
use crate::cluster::Cluster;
use crate::http::framer::{BodyKind, FrameEvent, FramingError, Head, MessageFramer};
use crate::http_proxy::choose::choose;
use crate::http_proxy::forward_head::{forward_head, ForwardedBy};
use crate::http_proxy::replies;
use crate::http_proxy::response_head::{response_head, ClientFraming};
use crate::http_proxy::rewrite::rewrite;
use crate::http_proxy::stats::{status_class, HttpStats};
use crate::http_proxy::sticky::keys;
use crate::io::{ClientTls, ConnId, Output};
use crate::node::{Node, NodeId};
use crate::time::Timestamp;
use bytes::{BufMut, Bytes, BytesMut};
use flow::Flow;
use settings::{HttpSettings, POOL_IDLE, POOL_MAX_PER_NODE, REPLAY_LIMIT};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Where node connections go: the address and whether TLS runs over it.
type PoolKey = (SocketAddr, bool);

/// Which listener a client came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpListener {
    /// TLS (the HTTPS listener).
    pub secure: bool,
    /// Its port (`X-Forwarded-Port`).
    pub port: u16,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for a request head; `started` once a byte of it arrived.
    Waiting { started: bool },
    /// A request is being handled.
    Busy(Box<Exchange>),
    /// A byte tunnel to this node connection.
    Tunnel { node: ConnId },
}

/// Where a request is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    /// Nothing yet (a name being resolved for `unavailableHost`).
    Pending,
    /// This node connection.
    Conn(ConnId),
    /// The balancer answered itself; the rest of the request is read and dropped.
    Answered,
}

/// One request and its response.
#[derive(Debug)]
struct Exchange {
    upstream: Upstream,
    node: Option<NodeId>,
    /// Nodes that already failed this request.
    tried: Vec<NodeId>,
    /// The request-target after URL rewriting.
    target: String,
    cookies: Vec<Bytes>,
    /// The request's head as sent to nodes.
    head: Bytes,
    method_is_head: bool,
    idempotent: bool,
    /// A protocol switch was asked for; `ws_sip` when it is a WebSocket with sub-protocol sip.
    upgrade: bool,
    ws_sip: bool,
    chunked: bool,
    keep_alive: bool,
    http10: bool,
    /// Request body bytes (as sent, chunk framing included) so far, while at most
    /// [`REPLAY_LIMIT`]: with `head`, what a retry sends.
    replay: Option<BytesMut>,
    request_done: bool,
    /// The request matched `requestCheckPattern`.
    checked: bool,
    /// A pooled connection failed under it: it goes on a new connection.
    fresh_only: bool,
    sent_at: Timestamp,
    /// The final response head was relayed: how its body goes on.
    response: Option<ResponseRelay>,
}

#[derive(Debug, Clone, Copy)]
struct ResponseRelay {
    rechunk: bool,
    keep_alive: bool,
    reusable: bool,
}

#[derive(Debug)]
struct Client {
    peer: SocketAddr,
    listener: HttpListener,
    framer: MessageFramer,
    phase: Phase,
    /// The deadline the connection wants (see [`HttpProxy::deadline`]).
    wanted: Option<Timestamp>,
}

#[derive(Debug)]
struct NodeConn {
    key: PoolKey,
    node: Option<NodeId>,
    /// The client whose request it carries; `None` while pooled.
    client: Option<ConnId>,
    framer: MessageFramer,
    connected: bool,
    /// A response byte arrived for the current request.
    answered: bool,
    /// The last head framed was an interim `1xx`: its `End` is not the response's.
    interim: bool,
    /// It came from the pool: it served an earlier request and may be one the node is
    /// closing.
    reused: bool,
    tunnel: bool,
    /// The deadline the connection wants (see [`HttpProxy::deadline`]).
    wanted: Option<Timestamp>,
}

/// The HTTP balancer: client connections, node connections and their pool.
#[derive(Debug)]
pub struct HttpProxy {
    settings: HttpSettings,
    clients: BTreeMap<ConnId, Client>,
    nodes: BTreeMap<ConnId, NodeConn>,
    pool: BTreeMap<PoolKey, Vec<ConnId>>,
    resolving: BTreeMap<u64, ConnId>,
    flow: Flow,
    stats: HttpStats,
    /// Clients whose next request may already be framed, handled before an entry point
    /// returns.
    pending_pump: Vec<ConnId>,
}

impl HttpProxy {
    /// A proxy with `settings` and no connection.
    pub fn new(settings: HttpSettings) -> HttpProxy {
        HttpProxy {
            settings,
            clients: BTreeMap::new(),
            nodes: BTreeMap::new(),
            pool: BTreeMap::new(),
            resolving: BTreeMap::new(),
            flow: Flow::default(),
            stats: HttpStats::default(),
            pending_pump: Vec::new(),
        }
    }

    /// Applies reloaded settings to the next request (limits to the next connection).
    pub fn set_settings(&mut self, settings: HttpSettings) {
        self.settings = settings;
    }

    /// The statistics so far.
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// Open connections: clients and nodes (`NumberOfActiveHttpConnections`).
    pub fn connections(&self) -> (usize, usize) {
        (self.clients.len(), self.nodes.len())
    }

    /// Open tunnels.
    pub fn tunnels(&self) -> usize {
        self.clients
            .values()
            .filter(|c| matches!(c.phase, Phase::Tunnel { .. }))
            .count()
    }

    /// The node port a node connection goes to (for inspection).
    pub fn node_port(&self, conn: ConnId) -> Option<u16> {
        self.nodes.get(&conn).map(|n| n.key.0.port())
    }

    /// True if `token` names a lookup of this proxy.
    pub fn owns_token(&self, token: u64) -> bool {
        self.resolving.contains_key(&token)
    }

    /// A client connected to an HTTP listener: it has `requestHeadTimeout` for its first head.
    pub fn accepted(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        peer: SocketAddr,
        listener: HttpListener,
    ) {
        self.clients.insert(
            conn,
            Client {
                peer,
                listener,
                framer: MessageFramer::request(self.settings.limits),
                phase: Phase::Waiting { started: true },
                wanted: None,
            },
        );
        self.deadline(net, conn, now, self.settings.head_timeout);
    }

    /// An outbound node connection is established.
    pub fn connected(&mut self, conn: ConnId) {
        if let Some(n) = self.nodes.get_mut(&conn) {
            n.connected = true;
        }
    }

    /// Bytes arrived on a client or node connection.
    pub fn data(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        conn: ConnId,
        bytes: Bytes,
    ) {
        if let Some(client) = self.clients.get_mut(&conn) {
            match client.phase {
                Phase::Tunnel { node } => {
                    self.stats.bytes_to_nodes += bytes.len() as u64;
                    self.flow.relay(net, conn, node, bytes);
                    self.deadline(net, conn, now, self.settings.tunnel_idle);
                }
                Phase::Waiting { started } => {
                    client.framer.feed(bytes);
                    if !started {
                        client.phase = Phase::Waiting { started: true };
                        self.deadline(net, conn, now, self.settings.head_timeout);
                    }
                    self.pump_client(net, cluster, now, conn);
                }
                Phase::Busy(_) => {
                    client.framer.feed(bytes);
                    self.pump_client(net, cluster, now, conn);
                }
            }
        } else if let Some(node) = self.nodes.get_mut(&conn) {
            node.answered = true;
            match (node.tunnel, node.client) {
                (true, Some(client)) => {
                    self.stats.bytes_to_clients += bytes.len() as u64;
                    self.flow.relay(net, conn, client, bytes);
                    self.deadline(net, client, now, self.settings.tunnel_idle);
                }
                (_, None) => {
                    tracing::debug!(?conn, "bytes from an idle node connection: closing it");
                    self.close_node(net, conn);
                }
                (false, Some(_)) => {
                    node.framer.feed(bytes);
                    // A read timeout: the node must keep sending.
                    self.deadline(net, conn, now, self.settings.response_timeout);
                    self.pump_node(net, cluster, now, conn);
                }
            }
        }
        self.settle(net, cluster, now);
    }

    /// Frames the pipelined requests of clients that became ready for them.
    fn settle(&mut self, net: &mut Net, cluster: &mut Cluster, now: Timestamp) {
        while let Some(conn) = self.pending_pump.pop() {
            self.pump_client(net, cluster, now, conn);
        }
    }

    /// A node connection could not be opened.
    pub fn connect_failed(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        conn: ConnId,
    ) {
        self.node_lost(net, cluster, now, conn, false);
        self.settle(net, cluster, now);
    }

    /// A connection ended (the driver reported it; it is already forgotten by `net`).
    pub fn closed(&mut self, net: &mut Net, cluster: &mut Cluster, now: Timestamp, conn: ConnId) {
        self.flow.forget(conn);
        if let Some(client) = self.clients.remove(&conn) {
            tracing::debug!(peer = %client.peer, "HTTP client closed");
            match client.phase {
                Phase::Tunnel { node } => self.close_node(net, node),
                Phase::Busy(ex) => {
                    if let Upstream::Conn(node) = ex.upstream {
                        self.close_node(net, node);
                    }
                }
                Phase::Waiting { .. } => {}
            }
            return;
        }
        if let Some(node) = self.nodes.get_mut(&conn) {
            if node.tunnel {
                let client = node.client;
                self.nodes.remove(&conn);
                if let Some(client) = client {
                    self.close_client(net, client);
                }
                return;
            }
            // A body delimited by the close ends here.
            node.framer.feed_eof();
            if node.client.is_some() {
                self.pump_node(net, cluster, now, conn);
            }
            self.node_lost(net, cluster, now, conn, true);
        }
        self.settle(net, cluster, now);
    }

    /// The driver wrote everything queued on `conn`.
    pub fn drained(&mut self, net: &mut Net, conn: ConnId) {
        let (clients, nodes) = (&self.clients, &self.nodes);
        self.flow.drained(net, conn, |c| {
            clients.contains_key(&c) || nodes.contains_key(&c)
        });
    }

    /// A lookup of `unavailableHost` finished.
    pub fn resolved(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        token: u64,
        addr: Option<SocketAddr>,
    ) {
        let Some(conn) = self.resolving.remove(&token) else {
            return;
        };
        match addr {
            Some(addr) => {
                self.send_to(net, now, conn, None, (addr, false));
                self.pump_client(net, cluster, now, conn);
            }
            None => {
                tracing::warn!("unavailableHost does not resolve");
                self.answer(net, now, conn, 503, replies::no_node(true), true);
            }
        }
        self.settle(net, cluster, now);
    }

    /// `Timer::Http(conn)` expired.
    pub fn timeout(&mut self, net: &mut Net, cluster: &mut Cluster, now: Timestamp, conn: ConnId) {
        if !self.due(net, conn, now) {
            return;
        }
        if let Some(client) = self.clients.get(&conn) {
            match client.phase {
                Phase::Waiting { started: true } => {
                    tracing::debug!(peer = %client.peer, "HTTP request head too slow");
                    let reply = replies::plain(408, "request head not received in time\n", true);
                    self.answer(net, now, conn, 408, reply, true);
                }
                Phase::Waiting { started: false } => self.close_client(net, conn),
                Phase::Tunnel { node } => {
                    tracing::debug!(peer = %client.peer, "tunnel idle, closing it");
                    self.close_node(net, node);
                    self.close_client(net, conn);
                }
                Phase::Busy(_) => {}
            }
            return;
        }
        let Some(node) = self.nodes.get(&conn) else {
            return;
        };
        match node.client {
            None => {
                // Idle in the pool for too long.
                self.close_node(net, conn);
            }
            Some(client) => {
                tracing::info!(?conn, "node did not answer an HTTP request in time");
                let answered = node.answered;
                self.close_node(net, conn);
                if answered {
                    self.close_client(net, client);
                } else {
                    self.fail_exchange(net, now, client, 504, "the node did not answer in time\n");
                }
            }
        }
        self.settle(net, cluster, now);
    }

    /// Arms `conn`'s one deadline.
    /// Sets `conn`'s one deadline to `after` from `now`. The timer table is only touched
    /// when the deadline comes earlier than the armed one: a later deadline is noted on the
    /// connection and the armed timer, when it fires, moves to it ([`Self::due`]). Deadlines
    /// move on every request, and this keeps that off the timer table.
    fn deadline(
        &mut self,
        net: &mut Net,
        conn: ConnId,
        now: Timestamp,
        after: std::time::Duration,
    ) {
        let at = now.saturating_add(after);
        self.set_wanted(conn, Some(at));
        let timer = Timer::Http(conn);
        if net.timers.due(timer).is_none_or(|armed| armed > at) {
            net.timers.set(timer, Some(at));
        }
    }

    /// Notes the deadline `conn` wants (`None`: none; an armed timer then does nothing).
    fn set_wanted(&mut self, conn: ConnId, at: Option<Timestamp>) {
        if let Some(c) = self.clients.get_mut(&conn) {
            c.wanted = at;
        } else if let Some(n) = self.nodes.get_mut(&conn) {
            n.wanted = at;
        }
    }

    /// Called when `conn`'s timer fires: true if its deadline has come; otherwise the timer
    /// is moved to the deadline it now wants, if any.
    fn due(&self, net: &mut Net, conn: ConnId, now: Timestamp) -> bool {
        let wanted = match (self.clients.get(&conn), self.nodes.get(&conn)) {
            (Some(c), _) => c.wanted,
            (None, Some(n)) => n.wanted,
            (None, None) => None,
        };
        match wanted {
            Some(at) if at <= now => true,
            Some(at) => {
                net.timers.set(Timer::Http(conn), Some(at));
                false
            }
            None => false,
        }
    }

    /// Frames what the client sent, while it may be handled now.
    fn pump_client(&mut self, net: &mut Net, cluster: &mut Cluster, now: Timestamp, conn: ConnId) {
        loop {
            let Some(client) = self.clients.get_mut(&conn) else {
                return;
            };
            if let Phase::Busy(ex) = &client.phase {
                // The next request waits for this one's response; a body waits for its node.
                if ex.request_done || ex.upstream == Upstream::Pending {
                    return;
                }
            }
            if matches!(client.phase, Phase::Tunnel { .. }) {
                return;
            }
            match client.framer.poll() {
                Ok(None) => return,
                Ok(Some(FrameEvent::Head(head))) => {
                    self.request_head(net, cluster, now, conn, head)
                }
                Ok(Some(FrameEvent::Body(data))) => self.request_body(net, now, conn, data),
                Ok(Some(FrameEvent::End)) => self.request_end(net, now, conn),
                Err(error) => {
                    self.framing_error(net, now, conn, &error);
                    return;
                }
            }
        }
    }

    fn framing_error(&mut self, net: &mut Net, now: Timestamp, conn: ConnId, error: &FramingError) {
        let Some(client) = self.clients.get(&conn) else {
            return;
        };
        tracing::debug!(peer = %client.peer, %error, "HTTP request refused");
        let status = error.status();
        match &client.phase {
            Phase::Busy(ex) if ex.response.is_some() => {
                // The node is already answering: cut both connections.
                if let Upstream::Conn(node) = ex.upstream {
                    self.close_node(net, node);
                }
                self.stats
                    .answered_by_balancer
                    .entry(status)
                    .and_modify(|n| *n += 1)
                    .or_insert(1);
                self.close_client(net, conn);
            }
            Phase::Busy(ex) => {
                if let Upstream::Conn(node) = ex.upstream {
                    self.close_node(net, node);
                }
                self.answer(
                    net,
                    now,
                    conn,
                    status,
                    replies::plain(status, &format!("{error}\n"), true),
                    true,
                );
            }
            _ => self.answer(
                net,
                now,
                conn,
                status,
                replies::plain(status, &format!("{error}\n"), true),
                true,
            ),
        }
    }

    fn request_head(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        conn: ConnId,
        head: Head,
    ) {
        self.set_wanted(conn, None);
        let method = head.method().unwrap_or("").to_owned();
        self.stats.request(&method);
        let Some(client) = self.clients.get_mut(&conn) else {
            return;
        };
        let received = head.target().unwrap_or("/");
        if head.version == 1 && head.header("host").is_none() {
            // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400.
            let reply = replies::plain(400, "an HTTP/1.1 request needs a Host field\n", true);
            self.answer(net, now, conn, 400, reply, true);
            return;
        }
        if let (false, Some(https_port)) = (client.listener.secure, self.settings.https_port) {
            let host = head
                .header("host")
                .map(|h| String::from_utf8_lossy(h).into_owned());
            let reply = replies::https_redirect(
                host.as_deref(),
                &self.settings.own_host,
                https_port,
                received,
            );
            self.answer(net, now, conn, 302, reply, true);
            return;
        }
        let target = rewrite(&self.settings.rewrite, received).into_owned();
        let by = ForwardedBy {
            client: client.peer,
            https: client.listener.secure,
            port: client.listener.port,
            x_forwarded: self.settings.x_forwarded,
        };
        let forwarded = forward_head(&head, &target, &by).unwrap_or_default();
        let upgrade = head.upgrade.is_some();
        let websocket = head
            .upgrade
            .as_ref()
            .is_some_and(|u| u.eq_ignore_ascii_case(b"websocket"));
        let ws_sip = websocket
            && head.header_values("sec-websocket-protocol").any(|v| {
                v.split(|b| *b == b',')
                    .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"sip"))
            });
        let ex = Exchange {
            upstream: Upstream::Pending,
            node: None,
            tried: Vec::new(),
            checked: self
                .settings
                .check_pattern
                .as_ref()
                .is_some_and(|p| p.is_match(&target)),
            target,
            cookies: head.header_values("cookie").cloned().collect(),
            head: forwarded,
            method_is_head: method == "HEAD",
            idempotent: matches!(
                method.as_str(),
                "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
            ),
            upgrade,
            ws_sip,
            chunked: head.body == BodyKind::Chunked,
            keep_alive: head.keep_alive,
            http10: head.version == 0,
            replay: Some(BytesMut::new()),
            request_done: false,
            fresh_only: false,
            sent_at: now,
            response: None,
        };
        client.phase = Phase::Busy(Box::new(ex));
        self.route(net, cluster, now, conn, head.body != BodyKind::None);
    }

    /// Chooses a node for the client's current request and sends what it has of it; answers
    /// `503` when no node can take it.
    fn route(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        conn: ConnId,
        has_body: bool,
    ) {
        let Some(Client {
            phase: Phase::Busy(ex),
            listener,
            ..
        }) = self.clients.get(&conn)
        else {
            return;
        };
        let tls = listener.secure && !self.settings.terminate_tls;
        let ws_sip = ex.ws_sip;
        let port_of = move |n: &Node| -> Option<u16> {
            match (ws_sip, tls) {
                (true, false) => n.key.ports.ws,
                (true, true) => n.key.ports.wss,
                (false, false) => n.key.ports.http,
                (false, true) => n.key.ports.ssl,
            }
        };
        let tried = ex.tried.clone();
        let usable = |n: &Node| port_of(n).is_some() && !tried.contains(&n.id);
        let sticky = keys(&ex.target, ex.cookies.iter().map(|c| &c[..]));
        let affinity = query_value(&ex.target, &self.settings.affinity_key);
        let chosen = choose(cluster, &sticky, affinity, &usable, now);
        if let Some((node, reason)) = chosen {
            let found = cluster
                .node(node)
                .and_then(|n| Some((n.key.ip, port_of(n)?)));
            if let Some((ip, port)) = found {
                tracing::debug!(node = node.0, ?reason, "HTTP request routed");
                self.send_to(net, now, conn, Some(node), (SocketAddr::new(ip, port), tls));
                return;
            }
        }
        let no_node_at_all = cluster.registry().all_nodes().next().is_none();
        if let (true, Some((host, port))) = (no_node_at_all, self.settings.unavailable.clone()) {
            match host.parse::<IpAddr>() {
                Ok(ip) => self.send_to(net, now, conn, None, (SocketAddr::new(ip, port), false)),
                Err(_) => {
                    let token = net.token();
                    self.resolving.insert(token, conn);
                    net.push(Output::Resolve {
                        token,
                        host,
                        port,
                        ipv6: false,
                    });
                }
            }
            return;
        }
        self.answer(net, now, conn, 503, replies::no_node(has_body), has_body);
    }

    /// Sends the client's current request (what was sent to a failed node, or its head) on a
    /// pooled or new connection to `to`.
    fn send_to(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        node: Option<NodeId>,
        to: PoolKey,
    ) {
        let Some(Client {
            phase: Phase::Busy(ex),
            ..
        }) = self.clients.get_mut(&conn)
        else {
            return;
        };
        let pooled = if ex.upgrade || ex.fresh_only {
            None
        } else {
            self.pool.get_mut(&to).and_then(Vec::pop)
        };
        let upstream = match pooled {
            Some(up) => {
                if let Some(n) = self.nodes.get_mut(&up) {
                    n.reused = true;
                }
                up
            }
            None => {
                let tls = to.1.then(|| ClientTls {
                    server_name: to.0.ip().to_string(),
                    unverified_without_trust_store: true,
                });
                let up = net.connect(Owner::Http, to.0, None, tls, now);
                self.nodes.insert(
                    up,
                    NodeConn {
                        key: to,
                        node,
                        client: None,
                        framer: MessageFramer::response(
                            crate::http::framer::Limits::default(),
                            false,
                        ),
                        connected: false,
                        answered: false,
                        interim: false,
                        reused: false,
                        tunnel: false,
                        wanted: None,
                    },
                );
                up
            }
        };
        // A retry sends the head again with the body sent so far.
        let payload = match ex.replay.as_ref() {
            Some(body) if !body.is_empty() => {
                let mut again = BytesMut::with_capacity(ex.head.len() + body.len());
                again.extend_from_slice(&ex.head);
                again.extend_from_slice(body);
                again.freeze()
            }
            _ => ex.head.clone(),
        };
        ex.upstream = Upstream::Conn(upstream);
        ex.node = node;
        ex.sent_at = now;
        let method_is_head = ex.method_is_head;
        if let Some(n) = self.nodes.get_mut(&upstream) {
            n.client = Some(conn);
            n.node = node;
            n.answered = false;
            n.framer.expect_response(method_is_head);
        }
        if let Some(node) = node {
            self.stats.node(node).requests += 1;
        }
        self.stats.bytes_to_nodes += payload.len() as u64;
        net.write(upstream, payload);
        self.deadline(net, upstream, now, self.settings.response_timeout);
    }

    fn request_body(&mut self, net: &mut Net, now: Timestamp, conn: ConnId, data: Bytes) {
        let Some(Client {
            phase: Phase::Busy(ex),
            ..
        }) = self.clients.get_mut(&conn)
        else {
            return;
        };
        let Upstream::Conn(upstream) = ex.upstream else {
            return; // answered by the balancer: dropped
        };
        let payload = if ex.chunked { chunk(&data) } else { data };
        remember(&mut ex.replay, &payload);
        self.stats.bytes_to_nodes += payload.len() as u64;
        self.flow.relay(net, conn, upstream, payload);
        // The node's time to answer counts from the last request byte it was sent.
        self.deadline(net, upstream, now, self.settings.response_timeout);
    }

    fn request_end(&mut self, net: &mut Net, now: Timestamp, conn: ConnId) {
        let Some(client) = self.clients.get_mut(&conn) else {
            return;
        };
        let trailers: Vec<(String, Bytes)> = client.framer.trailers().to_vec();
        let Phase::Busy(ex) = &mut client.phase else {
            return;
        };
        ex.request_done = true;
        match ex.upstream {
            Upstream::Conn(upstream) => {
                if ex.chunked {
                    let end = last_chunk(&trailers);
                    remember(&mut ex.replay, &end);
                    self.stats.bytes_to_nodes += end.len() as u64;
                    net.write(upstream, end);
                }
                if ex.response.is_some() {
                    // The node answered before the request ended: finished now.
                    self.finish(net, now, conn);
                }
            }
            Upstream::Answered => self.next_request(net, now, conn),
            Upstream::Pending => {}
        }
    }

    /// Frames what a node sent and relays it to its client.
    fn pump_node(&mut self, net: &mut Net, cluster: &mut Cluster, now: Timestamp, up: ConnId) {
        loop {
            let Some(node) = self.nodes.get_mut(&up) else {
                return;
            };
            let Some(client) = node.client else {
                return;
            };
            match node.framer.poll() {
                Ok(None) => return,
                Ok(Some(FrameEvent::Head(head))) => {
                    if !self.response_head(net, cluster, now, up, client, head) {
                        return;
                    }
                }
                Ok(Some(FrameEvent::Body(data))) => {
                    let rechunk = self.relay_of(client).is_some_and(|r| r.rechunk);
                    let payload = if rechunk { chunk(&data) } else { data };
                    self.stats.bytes_to_clients += payload.len() as u64;
                    self.flow.relay(net, up, client, payload);
                }
                Ok(Some(FrameEvent::End)) if node.interim => node.interim = false,
                Ok(Some(FrameEvent::End)) => {
                    let trailers = node.framer.trailers().to_vec();
                    if self.relay_of(client).is_some_and(|r| r.rechunk) {
                        let end = last_chunk(&trailers);
                        self.stats.bytes_to_clients += end.len() as u64;
                        net.write(client, end);
                    }
                    self.response_end(net, now, up, client);
                    return;
                }
                Err(error) => {
                    tracing::debug!(?up, %error, "node response cannot be framed");
                    let started = self.relay_of(client).is_some();
                    self.close_node(net, up);
                    if started {
                        self.close_client(net, client);
                    } else {
                        self.fail_exchange(
                            net,
                            now,
                            client,
                            502,
                            "the node sent an invalid response\n",
                        );
                    }
                    return;
                }
            }
        }
    }

    fn relay_of(&self, client: ConnId) -> Option<ResponseRelay> {
        match &self.clients.get(&client)?.phase {
            Phase::Busy(ex) => ex.response,
            _ => None,
        }
    }

    /// A response head from node connection `up` for `client`. Returns false when the node
    /// connection stops being framed (a tunnel began, or it was closed).
    fn response_head(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        up: ConnId,
        client: ConnId,
        head: Head,
    ) -> bool {
        let status = head.status().unwrap_or(0);
        let Some(Client {
            phase: Phase::Busy(ex),
            framer: client_framer,
            ..
        }) = self.clients.get_mut(&client)
        else {
            self.close_node(net, up);
            return false;
        };
        if head.is_interim() {
            if let Some(n) = self.nodes.get_mut(&up) {
                n.interim = true;
            }
            // 100 Continue and other interim answers go on to an HTTP/1.1 client.
            if !ex.http10 {
                self.stats.bytes_to_clients += head.raw.len() as u64;
                self.stats.response(status);
                net.write(client, head.raw.clone());
            }
            return true;
        }
        if let Some(node) = ex.node {
            let traffic = self.stats.node(node);
            traffic
                .response_times
                .observe(now.saturating_since(ex.sent_at));
            if let Some(class) = status_class(status) {
                traffic.responses_by_class[class] += 1;
            }
            if ex.checked && status >= 400 {
                let marked = cluster.update_registry(now, |r| r.record_http_error(node, status));
                if marked {
                    tracing::warn!(node = node.0, status, target = %ex.target, "node marked bad: error answer to a checked HTTP request (requestCheckPattern)");
                }
            }
        }
        self.stats.response(status);
        if status == 101 && ex.upgrade {
            let reply = response_head(&head, true, ClientFraming::AsIs);
            self.stats.bytes_to_clients += reply.len() as u64;
            self.stats.tunnels_opened += 1;
            net.write(client, reply);
            let early_client = client_framer.take_buffered();
            client_framer.feed_eof();
            if let Some(c) = self.clients.get_mut(&client) {
                c.phase = Phase::Tunnel { node: up };
            }
            if let Some(node) = self.nodes.get_mut(&up) {
                node.tunnel = true;
                let early_node = node.framer.take_buffered();
                if !early_node.is_empty() {
                    self.stats.bytes_to_clients += early_node.len() as u64;
                    net.write(client, early_node);
                }
            }
            if !early_client.is_empty() {
                self.stats.bytes_to_nodes += early_client.len() as u64;
                net.write(up, early_client);
            }
            self.set_wanted(up, None);
            self.deadline(net, client, now, self.settings.tunnel_idle);
            return false;
        }
        if ex.upgrade {
            // The switch was refused: the client's connection speaks HTTP again.
            client_framer.resume();
        }
        let unchunk = ex.http10 && head.body == BodyKind::Chunked;
        let keep_alive = ex.keep_alive && head.body != BodyKind::UntilClose && !unchunk;
        let reusable = head.keep_alive && !ex.upgrade && head.body != BodyKind::UntilClose;
        ex.response = Some(ResponseRelay {
            rechunk: head.body == BodyKind::Chunked && !unchunk,
            keep_alive,
            reusable,
        });
        let framing = if unchunk {
            ClientFraming::Unchunked
        } else {
            ClientFraming::AsIs
        };
        let reply = response_head(&head, keep_alive, framing);
        self.stats.bytes_to_clients += reply.len() as u64;
        net.write(client, reply);
        true
    }

    /// The node's response is complete.
    fn response_end(&mut self, net: &mut Net, now: Timestamp, up: ConnId, client: ConnId) {
        let done = match self.clients.get(&client) {
            Some(Client {
                phase: Phase::Busy(ex),
                ..
            }) => ex.request_done,
            _ => true,
        };
        if done {
            self.finish(net, now, client);
        } else {
            // The node answered before the whole request came (e.g. an early error): the rest
            // cannot be told from a next request, so both connections end.
            self.close_node(net, up);
            self.close_client(net, client);
        }
    }

    /// Request and response are complete: the node connection goes back to the pool (or is
    /// closed), and the client's next request is read (or the client is closed).
    fn finish(&mut self, net: &mut Net, now: Timestamp, client: ConnId) {
        let Some(Client {
            phase: Phase::Busy(ex),
            ..
        }) = self.clients.get(&client)
        else {
            return;
        };
        let relay = ex.response;
        if let Upstream::Conn(up) = ex.upstream {
            match relay {
                Some(r) if r.reusable => self.release(net, now, up),
                _ => self.close_node(net, up),
            }
        }
        if relay.is_some_and(|r| r.keep_alive) {
            self.next_request(net, now, client);
        } else {
            self.close_client(net, client);
        }
    }

    /// Puts node connection `up` back in its pool.
    fn release(&mut self, net: &mut Net, now: Timestamp, up: ConnId) {
        let Some(node) = self.nodes.get_mut(&up) else {
            return;
        };
        node.client = None;
        let idle = self.pool.entry(node.key).or_default();
        if idle.len() >= POOL_MAX_PER_NODE {
            self.close_node(net, up);
            return;
        }
        idle.push(up);
        self.deadline(net, up, now, POOL_IDLE);
    }

    /// The client may send its next request (maybe already framed, pipelined).
    fn next_request(&mut self, net: &mut Net, now: Timestamp, client: ConnId) {
        if let Some(c) = self.clients.get_mut(&client) {
            c.phase = Phase::Waiting { started: false };
            self.deadline(net, client, now, self.settings.keep_alive);
        }
        // Framing goes on with the next `data` or right here for pipelined bytes.
        self.pending_pump.push(client);
    }

    /// The balancer answers the client's current request itself with `reply`, which says
    /// `Connection: close` when `close` (the connection then ends). Otherwise the rest of the
    /// request is read and dropped, then the next one is read.
    fn answer(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        status: u16,
        reply: Bytes,
        close: bool,
    ) {
        // The answer to HEAD is the head alone (RFC 9110 §9.3.2).
        let reply = match self.clients.get(&conn) {
            Some(Client {
                phase: Phase::Busy(ex),
                ..
            }) if ex.method_is_head => head_of(reply),
            _ => reply,
        };
        self.stats.answered(status);
        self.stats.bytes_to_clients += reply.len() as u64;
        net.write(conn, reply);
        if close {
            self.close_client(net, conn);
            return;
        }
        let Some(client) = self.clients.get_mut(&conn) else {
            return;
        };
        let done = match &mut client.phase {
            Phase::Busy(ex) => {
                ex.upstream = Upstream::Answered;
                ex.request_done
            }
            _ => true,
        };
        if done {
            self.next_request(net, now, conn);
        }
    }

    /// The client's request failed at its node before any response byte was relayed.
    fn fail_exchange(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        client: ConnId,
        status: u16,
        why: &str,
    ) {
        let keep = match self.clients.get(&client) {
            Some(Client {
                phase: Phase::Busy(ex),
                ..
            }) => ex.request_done && ex.keep_alive,
            _ => false,
        };
        self.answer(
            net,
            now,
            client,
            status,
            replies::plain(status, why, !keep),
            !keep,
        );
    }

    /// Node connection `up` ended or could not be opened (`connected_once`: it had been
    /// established). Its request goes to another node if it may, else its client gets `502`.
    fn node_lost(
        &mut self,
        net: &mut Net,
        cluster: &mut Cluster,
        now: Timestamp,
        up: ConnId,
        was_open: bool,
    ) {
        let Some(node) = self.forget_node(net, up) else {
            return;
        };
        let Some(client) = node.client else {
            return;
        };
        let Some(Client {
            phase: Phase::Busy(ex),
            ..
        }) = self.clients.get_mut(&client)
        else {
            return;
        };
        if ex.upstream != Upstream::Conn(up) {
            return;
        }
        if ex.response.is_some() {
            self.close_client(net, client);
            return;
        }
        let sent = node.connected || was_open;
        // A pooled connection the node closed at the moment it was reused (the keep-alive
        // race, RFC 9112 §9.3.1) says nothing about the node: the request goes again on a new
        // connection, to the same node if it is the choice, once.
        let stale = node.reused && !ex.fresh_only;
        let retry = (ex.tried.is_empty() || stale)
            && ex.replay.is_some()
            && (!sent || ex.idempotent)
            && !node.answered;
        tracing::debug!(
            ?up,
            sent,
            retry,
            "HTTP node connection lost before its answer"
        );
        if retry {
            if stale {
                ex.fresh_only = true;
            } else if let Some(failed) = node.node {
                ex.tried.push(failed);
            }
            ex.upstream = Upstream::Pending;
            self.stats.retries += 1;
            let has_body = !ex.request_done;
            self.route(net, cluster, now, client, has_body);
            self.pump_client(net, cluster, now, client);
        } else {
            self.fail_exchange(net, now, client, 502, "the node connection failed\n");
        }
    }

    fn close_node(&mut self, net: &mut Net, up: ConnId) {
        self.forget_node(net, up);
        net.close(up);
    }

    /// Drops node connection `up` from the tables, the pool, the flow control and the timer
    /// table; returns it if it was known.
    fn forget_node(&mut self, net: &mut Net, up: ConnId) -> Option<NodeConn> {
        self.flow.forget(up);
        net.timers.cancel(Timer::Http(up));
        let node = self.nodes.remove(&up)?;
        if let Some(idle) = self.pool.get_mut(&node.key) {
            idle.retain(|c| *c != up);
        }
        Some(node)
    }

    fn close_client(&mut self, net: &mut Net, conn: ConnId) {
        self.clients.remove(&conn);
        self.flow.forget(conn);
        net.timers.cancel(Timer::Http(conn));
        net.close(conn);
    }
}

/// `data` as one chunk of the chunked coding (RFC 9112 §7.1).
fn chunk(data: &[u8]) -> Bytes {
    let mut chunk = BytesMut::with_capacity(data.len() + 12);
    chunk.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
    chunk.put_slice(data);
    chunk.put_slice(b"\r\n");
    chunk.freeze()
}

/// The last chunk, the `trailers` and the empty line that end a chunked body (RFC 9112
/// §7.1.2).
fn last_chunk(trailers: &[(String, Bytes)]) -> Bytes {
    let mut end = BytesMut::from(&b"0\r\n"[..]);
    for (name, value) in trailers {
        end.put_slice(name.as_bytes());
        end.put_slice(b": ");
        end.put_slice(value);
        end.put_slice(b"\r\n");
    }
    end.put_slice(b"\r\n");
    end.freeze()
}

/// Appends `bytes` to a replay buffer, dropping it past [`REPLAY_LIMIT`].
fn remember(replay: &mut Option<BytesMut>, bytes: &[u8]) {
    if let Some(buf) = replay {
        if buf.len() + bytes.len() > REPLAY_LIMIT {
            *replay = None;
        } else {
            buf.extend_from_slice(bytes);
        }
    }
}

/// A whole reply's head, through its empty line.
fn head_of(reply: Bytes) -> Bytes {
    match memchr::memmem::find(&reply, b"\r\n\r\n") {
        Some(at) => reply.slice(..at + 4),
        None => reply,
    }
}

/// The value of query parameter `name` in `target`, if present.
fn query_value<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let query = target.split_once('?')?.1.split('#').next()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests;
