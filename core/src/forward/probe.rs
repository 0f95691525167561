//! Active SIP OPTIONS probing of nodes (docs/decisions.md §7, in the style of Kamailio's
//! dispatcher; docs/decisions.md §6).
//!
//! Two kinds of node are probed, each from the balancer's internal listening point:
//! - **static nodes** (`<staticNodes>`), and heartbeat nodes when `probeHeartbeatNodes` is
//!   set, every `interval`: a probe unanswered when the next one is due, or answered with a
//!   status `replyCodes` does not accept, is a failure; `failureThreshold` failures in a row
//!   take the node out of rotation ([`crate::registry::BadReason::ProbeFailed`]) and
//!   `successThreshold` good probes in a row bring it back;
//! - **suspect nodes**, after a hold-down that starts at [`FIRST_HOLD_DOWN`] and doubles up to
//!   [`MAX_HOLD_DOWN`] while probes go unanswered, on the transport whose send was refused
//!   (else the node's first SIP transport): any answer clears the suspicion.
//!
//! A probe's Via branch starts with [`PROBE_BRANCH_PREFIX`]; its response is consumed here and
//! never reaches a client.

use super::settings::{uri_host, ForwardSettings};
use super::{via, Destination, Transmit};
use crate::cluster::Cluster;
use crate::forward::Leg;
use crate::node::{Node, NodeId, Transport};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

/// The start of every probe's Via branch (RFC 3261 magic cookie included).
pub const PROBE_BRANCH_PREFIX: &str = "z9hG4bK-sbprobe-";
/// How long a suspect node is left alone before its first probe.
pub const FIRST_HOLD_DOWN: Duration = Duration::from_secs(1);
/// The longest hold-down between two probes of a suspect node that keeps failing.
pub const MAX_HOLD_DOWN: Duration = Duration::from_secs(32);
/// How long a probe of a suspect node may wait for its answer (4×T1).
pub const SUSPECT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the registry is looked at for nodes that start needing probes.
const SCAN_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct NodeProbe {
    next_at: Timestamp,
    /// The probe awaiting its answer: sequence number and when it times out.
    outstanding: Option<(u64, Timestamp)>,
    ok_streak: u32,
    fail_streak: u32,
    hold_down: Duration,
    /// The transport whose send was last refused.
    refused: Option<Transport>,
}

impl NodeProbe {
    /// A node whose first probe is due at `next_at`.
    fn new(next_at: Timestamp) -> NodeProbe {
        NodeProbe {
            next_at,
            outstanding: None,
            ok_streak: 0,
            fail_streak: 0,
            hold_down: FIRST_HOLD_DOWN,
            refused: None,
        }
    }

    /// Counts a failed probe (unanswered, or answered with a code that does not count) and
    /// returns the failures in a row.
    fn failed(&mut self) -> u32 {
        self.ok_streak = 0;
        self.fail_streak = self.fail_streak.saturating_add(1);
        self.fail_streak
    }
}

/// The probing state of every node that needs probes.
#[derive(Debug, Clone)]
pub struct Prober {
    nodes: BTreeMap<NodeId, NodeProbe>,
    seq: u64,
    next_scan: Option<Timestamp>,
}

impl Prober {
    /// Remembers that a send to `node` over `transport` was refused: its probes use that
    /// transport.
    pub fn note_refused(&mut self, node: NodeId, transport: Transport) {
        if let Some(p) = self.nodes.get_mut(&node) {
            p.refused = Some(transport);
        }
    }

    /// A prober. With `regular` probing configured (static nodes, or `probeHeartbeatNodes`)
    /// its first look at the registry is due at `now`; otherwise it wakes only for suspect
    /// nodes.
    pub fn new(regular: bool, now: Timestamp) -> Prober {
        Prober {
            nodes: BTreeMap::new(),
            seq: 0,
            next_scan: regular.then_some(now),
        }
    }

    /// Starts (at `now`) or stops the regular look at the registry after a reload.
    pub fn set_regular(&mut self, regular: bool, now: Timestamp) {
        self.next_scan = regular.then(|| self.next_scan.unwrap_or(now).min(now));
    }

    /// Call when a node becomes suspect: it is probed after the hold-down.
    pub fn note_suspect(&mut self, node: NodeId, now: Timestamp) {
        self.nodes
            .entry(node)
            .or_insert_with(|| NodeProbe::new(now.saturating_add(FIRST_HOLD_DOWN)));
    }

    /// When [`Prober::handle_timeout`] has work.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        // While a probe is out, the next thing to do is to count it failed when it times out.
        let nodes = self
            .nodes
            .values()
            .map(|p| p.outstanding.map_or(p.next_at, |(_, t)| t));
        nodes.chain(self.next_scan).min()
    }

    /// Sends the probes that are due, counts the unanswered ones as failures, and takes nodes
    /// out of rotation after `failureThreshold` failures.
    pub fn handle_timeout(
        &mut self,
        s: &ForwardSettings,
        cluster: &mut Cluster,
        now: Timestamp,
        out: &mut Vec<Transmit>,
    ) {
        if self.next_deadline().is_some_and(|d| d > now) {
            return;
        }
        let p = &s.probing;
        let wanted: Vec<(Node, bool)> = cluster
            .registry()
            .all_nodes()
            .filter_map(|n| {
                let regular = probed_regularly(s, cluster, n);
                (regular || n.suspect).then(|| (n.clone(), regular))
            })
            .collect();
        self.nodes
            .retain(|id, _| wanted.iter().any(|(n, _)| n.id == *id));
        for (node, regular) in wanted {
            let first_probe = if regular {
                now
            } else {
                now.saturating_add(FIRST_HOLD_DOWN)
            };
            let st = self
                .nodes
                .entry(node.id)
                .or_insert_with(|| NodeProbe::new(first_probe));
            if st.outstanding.is_some_and(|(_, t)| t <= now) {
                st.outstanding = None;
                let failures = st.failed();
                if node.suspect {
                    st.hold_down = st.hold_down.saturating_mul(2).min(MAX_HOLD_DOWN);
                }
                tracing::debug!(node = node.id.0, failures, "probe unanswered");
                if regular && failures >= p.failure_threshold {
                    cluster.update_registry(now, |r| r.record_probe_down(node.id, failures));
                }
            }
            if st.next_at > now || st.outstanding.is_some() {
                continue;
            }
            let (interval, timeout) = if regular {
                (p.interval, p.interval)
            } else {
                (st.hold_down, SUSPECT_PROBE_TIMEOUT)
            };
            st.next_at = now.saturating_add(interval);
            let Some(probe) = build_probe(s, &node, st.refused, self.seq) else {
                continue;
            };
            st.outstanding = Some((self.seq, now.saturating_add(timeout)));
            self.seq += 1;
            cluster.stats_mut().probes_sent += 1;
            cluster.stats_mut().wire_bytes_out += probe.payload.len() as u64;
            out.push(probe);
        }
        self.next_scan = s
            .probes_regularly()
            .then(|| now.saturating_add(SCAN_INTERVAL));
    }

    /// Call for a response whose top Via branch starts with [`PROBE_BRANCH_PREFIX`]; `branch`
    /// is that branch, `status` its status and `from` the node that sent it. Returns true if
    /// it answered a probe of this balancer (it must not be relayed either way).
    pub fn reply(
        &mut self,
        s: &ForwardSettings,
        cluster: &mut Cluster,
        branch: &[u8],
        status: u16,
        now: Timestamp,
    ) -> bool {
        let Some(seq) = branch
            .strip_prefix(PROBE_BRANCH_PREFIX.as_bytes())
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<u64>().ok())
        else {
            return false;
        };
        let Some((&id, st)) = self
            .nodes
            .iter_mut()
            .find(|(_, st)| st.outstanding.is_some_and(|(q, _)| q == seq))
        else {
            return false;
        };
        if status < 200 {
            // A provisional answer proves the SIP stack runs; the final one settles the probe.
            cluster.update_registry(now, |r| r.record_response(id, now));
            return true;
        }
        st.outstanding = None;
        let p = &s.probing;
        let regular = cluster
            .node(id)
            .is_some_and(|n| probed_regularly(s, cluster, n));
        if p.reply_codes.accepts(status) {
            st.fail_streak = 0;
            st.ok_streak = st.ok_streak.saturating_add(1);
            st.hold_down = FIRST_HOLD_DOWN;
            st.refused = None;
            let ok = st.ok_streak;
            cluster.update_registry(now, |r| {
                r.record_response(id, now);
                if regular && ok >= p.success_threshold {
                    r.record_probe_up(id, now);
                }
            });
        } else {
            let failures = st.failed();
            tracing::debug!(
                node = id.0,
                status,
                "probe answered with a code that does not count"
            );
            cluster.update_registry(now, |r| {
                // It answered SIP, so it is not silent; but the answer does not count as up.
                r.record_response(id, now);
                if regular && failures >= p.failure_threshold {
                    r.record_probe_down(id, failures);
                }
            });
        }
        true
    }
}

/// True if `node` is probed every `interval`: a static node, or any heartbeat node with
/// `probeHeartbeatNodes`.
fn probed_regularly(s: &ForwardSettings, cluster: &Cluster, node: &Node) -> bool {
    cluster.registry().is_static(&node.key) || (s.probing.probe_heartbeat_nodes && !node.permanent)
}

/// An OPTIONS request toward `node` (RFC 3261 §11), from the balancer's internal listening
/// point, on `preferred` if the node listens on it, else the node's first SIP transport (as
/// forced by `internalTransport`).
fn build_probe(
    s: &ForwardSettings,
    node: &Node,
    preferred: Option<Transport>,
    seq: u64,
) -> Option<Transmit> {
    let transport = preferred
        .filter(|t| node.key.ports.sip(*t).is_some())
        .or_else(|| {
            s.internal_transport
                .filter(|t| node.key.ports.sip(*t).is_some())
        })
        .or_else(|| {
            Transport::ALL
                .into_iter()
                .find(|t| node.key.ports.sip(*t).is_some())
        })?;
    let port = node.key.ports.sip(transport)?;
    let ipv6 = node.is_ipv6();
    let ip = node.key.ip.to_string();
    let host = uri_host(&ip);
    let private = s.use_private_addresses(Some(&ip), ipv6);
    let branch = format!("{PROBE_BRANCH_PREFIX}{seq}");
    let via = via::lb_via(s, Leg::Internal, transport, ipv6, private, &branch);
    let t = transport.as_str().to_ascii_lowercase();
    let mut m = String::with_capacity(400);
    let _ = write!(
        m,
        "OPTIONS sip:{host}:{port};transport={t} SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:switchboard@switchboard.invalid>;tag=sbprobe{seq}\r\n\
         To: <sip:{host}:{port}>\r\n\
         Call-ID: sbprobe-{seq}@switchboard.invalid\r\n\
         CSeq: {} OPTIONS\r\n\
         Accept: application/sdp\r\n\
         User-Agent: Switchboard\r\n\
         Content-Length: 0\r\n\r\n",
        seq % u64::from(u32::MAX) + 1
    );
    Some(Transmit {
        leg: s.out_leg(Leg::Internal),
        transport,
        ipv6,
        to: Destination::Addr(SocketAddr::new(node.key.ip, port)),
        payload: bytes::Bytes::from(m),
    })
}
