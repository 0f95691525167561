//! The SIP forwarder (behaviour reference §1, with the fixes of docs/decisions.md §8).
//!
//! One entry point, [`Forwarder::handle`]: one complete SIP message in (a UDP datagram, or a
//! message cut from a stream by the driver's framer), zero or more [`Transmit`]s out. The
//! forwarder keeps no per-dialog state: routing state lives in the headers it stamps (Via
//! branch, Record-Route `node_host`/`node_port`/`version`) and in the algorithms' affinity
//! tables inside the [`Cluster`]. Its one table, [`transactions`], holds the requests awaiting
//! their first response: those the balancer acknowledged with its own `100 Trying` are
//! retransmitted and failed over by it ([`Forwarder::handle_timeout`]); the others are only
//! measured.
//!
//! Modules, by rule of §1:
//! - [`settings`]: every §1 configuration key ([`ForwardSettings::from_config`]).
//! - `request`: requests — direction §1.3, SIP heartbeat §1.2/§3.5, X-Sip-Balancer headers
//!   §1.2, Max-Forwards §1.4, transports §1.5, node and client requests §1.8–§1.10,
//!   100 Trying §1.11, scanner blocking, loop detection §1.14, CANCEL/ACK §1.21, mid-call
//!   failover §1.22.
//! - `route`: Route popping and node hints §1.6, §1.7.
//! - `via`: the two Vias and their branches §1.13, `received`/`rport`.
//! - `record_route`: the two Record-Routes §1.12.
//! - `nat`: Contact transport and the corrected `publicIp` patch §1.15.
//! - `response`: responses §1.17, media-failure detection §1.19, health check §1.20,
//!   response failover.
//! - `local_response`: responses the balancer generates itself (RFC 3261 §8.2.6).
//! - [`transactions`]: retransmission, failover and response times of forwarded requests.
//! - `keys`: the [`crate::algorithm::KeySource`] view of a [`SipMessage`].
//!
//! Peer garbage never returns an error: it is answered when a response is possible (400,
//! 505, 416), counted in [`crate::stats::SipStats::rejected`] and logged at debug.

mod keys;
pub mod local_response;
mod nat;
mod point;
pub mod probe;
mod record_route;
mod request;
mod response;
mod route;
pub mod settings;
pub mod transactions;
mod via;

pub use point::{Leg, ListeningPoint};
pub use settings::{ForwardSettings, LegFamily, LegSettings, NO_NODE_RETRY_AFTER_SECS};

use crate::cluster::Cluster;
use crate::node::Transport;
use crate::registry::SuspectReason;
use crate::sip::{SipMessage, StartLine};
use crate::time::Timestamp;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use transactions::{Due, Transactions};

/// One complete SIP message received by a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    /// The listening point (leg, transport, family) it arrived on.
    pub listener: ListeningPoint,
    /// The packet's source (for streams: the connection's remote address).
    pub source: SocketAddr,
    /// The message.
    pub payload: Bytes,
}

/// Where a message goes. Host names are resolved by the driver; the core does no DNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Destination {
    /// An address.
    Addr(SocketAddr),
    /// A host name and port to resolve.
    Name {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
    },
}

impl Destination {
    /// The address, if it needs no resolution.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Destination::Addr(a) => Some(*a),
            Destination::Name { .. } => None,
        }
    }
}

/// One message to send. The driver sends a UDP datagram from the `leg`'s listener of that
/// transport and family, or writes on a stream connection to `to` (reusing the connection
/// the peer opened, found by remote address, else opening one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transmit {
    /// The leg whose listening point sends it.
    pub leg: Leg,
    /// The transport.
    pub transport: Transport,
    /// True for the IPv6 listening point.
    pub ipv6: bool,
    /// The destination.
    pub to: Destination,
    /// The whole message.
    pub payload: Bytes,
}

/// The SIP forwarder. Pure: all inputs are arguments, all outputs go to `out`.
#[derive(Debug, Clone)]
pub struct Forwarder {
    settings: ForwardSettings,
    transactions: Transactions,
    prober: probe::Prober,
    started: Timestamp,
}

/// What request handling reads and writes besides the cluster: the table of requests awaiting
/// a response, and how the request at hand came in.
#[derive(Debug)]
pub(crate) struct Tracking<'a> {
    /// The table of requests awaiting their first response.
    pub transactions: &'a mut Transactions,
    /// The OPTIONS probes awaiting their answers.
    pub prober: &'a mut probe::Prober,
    /// The request was received earlier and is routed again after its node stayed silent: no
    /// second `100 Trying`, no second count.
    pub replay: bool,
    /// Within `startupGracePeriod` of the start.
    pub in_grace: bool,
}

impl Forwarder {
    /// A forwarder with these settings, for a balancer started at `started`.
    pub fn new(settings: ForwardSettings, started: Timestamp) -> Forwarder {
        let regular = settings.probes_regularly();
        Forwarder {
            prober: probe::Prober::new(regular, started),
            settings,
            transactions: Transactions::default(),
            started,
        }
    }

    /// The table of requests awaiting their first response.
    pub fn transactions(&self) -> &Transactions {
        &self.transactions
    }

    /// The settings in force.
    pub fn settings(&self) -> &ForwardSettings {
        &self.settings
    }

    /// Replaces the settings (configuration reload; listener addresses need a restart).
    /// Probing starts or stops at `now` with the static node list and `probeHeartbeatNodes`.
    pub fn set_settings(&mut self, settings: ForwardSettings, now: Timestamp) {
        let regular = settings.probes_regularly();
        self.prober.set_regular(regular, now);
        self.settings = settings;
    }

    /// Handles one received SIP message: parses it (with the configured size limit),
    /// answers what the balancer answers itself, and appends what must be sent to `out`.
    /// Registry and algorithm updates go through `cluster`; drain
    /// [`Cluster::poll_event`] afterwards for logging.
    pub fn handle(
        &mut self,
        cluster: &mut Cluster,
        inbound: Inbound,
        now: Timestamp,
        out: &mut Vec<Transmit>,
    ) {
        cluster.stats_mut().wire_bytes_in += inbound.payload.len() as u64;
        self.route(cluster, inbound, now, out, false);
    }

    /// Routes again an initial INVITE received earlier whose node stayed silent
    /// ([`Forwarder::handle_timeout`] returned it): it goes to the algorithm's next choice,
    /// without a second `100 Trying`.
    pub fn replay(
        &mut self,
        cluster: &mut Cluster,
        inbound: Inbound,
        now: Timestamp,
        out: &mut Vec<Transmit>,
    ) {
        self.route(cluster, inbound, now, out, true);
    }

    fn route(
        &mut self,
        cluster: &mut Cluster,
        inbound: Inbound,
        now: Timestamp,
        out: &mut Vec<Transmit>,
        replay: bool,
    ) {
        let first = out.len();
        let msg = match SipMessage::parse_with(inbound.payload.clone(), &self.settings.parse_limits)
        {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(source = %inbound.source, error = %e, "unparsable SIP message dropped");
                cluster.stats_mut().rejected += 1;
                return;
            }
        };
        let in_grace = now.saturating_since(self.started) < self.settings.startup_grace_period;
        let mut tracking = Tracking {
            transactions: &mut self.transactions,
            prober: &mut self.prober,
            replay,
            in_grace,
        };
        let handle = match msg.start_line() {
            StartLine::Request { .. } => request::handle,
            StartLine::Response { .. } => response::handle,
        };
        handle(
            &self.settings,
            cluster,
            &msg,
            &inbound,
            now,
            out,
            &mut tracking,
        );
        let sent: usize = out.iter().skip(first).map(|t| t.payload.len()).sum();
        cluster.stats_mut().wire_bytes_out += sent as u64;
    }

    /// Call when the driver could not send a [`Transmit`] this forwarder produced (connection
    /// refused, no route, …) (§1.16). With `isSend5xxResponse`, a forwarded request (not ACK)
    /// is answered `503 Service Unavailable` toward its sender: the balancer's two Vias are
    /// left out of the answer, and with `isSend5xxResponseReasonHeader` a
    /// `Reason: <transport>;cause=<isSend5xxResponseSatusCode>;text="<reason>"` header is
    /// added (the reference's format, protocol token included).
    pub fn handle_send_failure(
        &mut self,
        cluster: &mut Cluster,
        failed: &Transmit,
        now: Timestamp,
        out: &mut Vec<Transmit>,
    ) {
        let _ = now;
        request::send_failure(&self.settings, cluster, failed, out);
    }

    /// A send toward `node` was refused by the operating system (connection refused or reset,
    /// ICMP unreachable): the node becomes suspect and its INVITEs awaiting a first response
    /// fail over at the next [`Forwarder::handle_timeout`], which is due at once.
    pub fn node_refused(
        &mut self,
        cluster: &mut Cluster,
        node: crate::node::NodeId,
        transport: Transport,
        now: Timestamp,
    ) {
        cluster.update_registry(now, |r| {
            r.mark_suspect(node, SuspectReason::SendRefused(transport))
        });
        self.prober.note_suspect(node, now);
        self.prober.note_refused(node, transport);
        self.transactions.node_refused(node, now);
    }

    /// Forgets what the forwarder knows of a node that left the registry.
    pub fn forget_node(&mut self, node: crate::node::NodeId) {
        self.transactions.forget_node(node);
    }

    /// When [`Forwarder::handle_timeout`] has work.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        [
            self.transactions.next_deadline(),
            self.prober.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the timers of the requests awaiting a response (docs/decisions.md, "Node
    /// failure"): retransmissions go to `out`; a node that left an INVITE unanswered within
    /// `inviteFailoverTimeout` becomes suspect and the affinity of the call moves to another
    /// node, and the INVITEs to route again (with [`Forwarder::replay`]) are appended to
    /// `replays`; a request still unanswered at Timer B/F that the balancer acknowledged gets
    /// its sender a `408 Request Timeout` (or the `isSend5xxResponse` status).
    pub fn handle_timeout(
        &mut self,
        cluster: &mut Cluster,
        now: Timestamp,
        out: &mut Vec<Transmit>,
        replays: &mut Vec<Inbound>,
    ) {
        self.prober
            .handle_timeout(&self.settings, cluster, now, out);
        while let Some(due) = self.transactions.poll_due(now) {
            match due {
                Due::Retransmit { sent, node } => {
                    tracing::debug!(to = ?sent.to, "retransmitting an unanswered request");
                    cluster.stats_mut().count_retransmission(node);
                    cluster.stats_mut().wire_bytes_out += sent.payload.len() as u64;
                    out.push(sent);
                }
                Due::Silent { node, sent, replay } => {
                    self.node_silent(cluster, node, &sent, replay, now, replays);
                }
                Due::GaveUp { sent, node, owned } => {
                    tracing::debug!(to = ?sent.to, ?node, "request unanswered at Timer B/F");
                    if owned {
                        cluster.stats_mut().timed_out += 1;
                        request::answer_timeout(&self.settings, cluster, &sent, out);
                    }
                }
            }
        }
    }

    fn node_silent(
        &mut self,
        cluster: &mut Cluster,
        node: crate::node::NodeId,
        sent: &Transmit,
        replay: Option<Inbound>,
        now: Timestamp,
        replays: &mut Vec<Inbound>,
    ) {
        cluster.update_registry(now, |r| r.mark_suspect(node, SuspectReason::Unanswered));
        self.prober.note_suspect(node, now);
        let version = cluster
            .node(node)
            .map(|n| n.version.clone())
            .or_else(|| cluster.registry().latest_version().cloned())
            .unwrap_or_default();
        if let Ok(msg) = SipMessage::parse_with(sent.payload.clone(), &self.settings.parse_limits) {
            // The call's affinity leaves the silent node, so whatever comes next for it (the
            // INVITE routed again, or the caller's own retransmission) goes elsewhere.
            let moved = cluster.fail_over(&version, sent.ipv6, &msg, node, now);
            tracing::debug!(node = node.0, ?moved, "INVITE unanswered: node suspect");
        }
        // Routed again only if a node that is not suspect can take it; otherwise it stays
        // with the silent node, retransmitted until Timer B.
        let alternative = cluster
            .registry()
            .live_nodes(&version, sent.ipv6)
            .iter()
            .any(|n| n.id != node && n.accepts_new_work());
        match replay {
            Some(inbound) if alternative => {
                cluster.stats_mut().count_invite_failover(node);
                replays.push(inbound);
            }
            Some(_) => {
                tracing::debug!(node = node.0, "INVITE unanswered: no other node to take it")
            }
            None => {}
        }
    }
}

/// Removes the first `n` of `values` (all values of one header name, in order): whole lines
/// when all their values go, else the leading values of the line with their commas.
pub(crate) fn remove_prefix(
    ed: &mut crate::sip::Editor<'_>,
    values: &[crate::sip::ValueRef],
    n: usize,
) -> Result<(), crate::sip::EditError> {
    let mut i = 0;
    while i < n {
        let Some(first) = values.get(i) else { break };
        let line = first.header;
        let mut j = i;
        while j < n && values.get(j).is_some_and(|v| v.header == line) {
            j += 1;
        }
        match values.get(j).filter(|v| v.header == line) {
            None => ed.remove_header(line)?,
            Some(next) => ed.replace_range(first.range.start..next.range.start, "")?,
        }
        i = j;
    }
    Ok(())
}
