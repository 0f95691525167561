//! The simulated world: balancers, nodes, callers and the network between them, driven by
//! one [`EventQueue`] in virtual time. Invariants are checked as outputs leave the
//! balancers and again at the end of the run.

use crate::addr;
use crate::clock::EventQueue;
use crate::report::{ClusterEvent, Outcome, Report, Violation};
use crate::rng::SplitMix64;
use crate::scenario::{Action, LinkSettings, NodeGroup, Scenario};
use crate::sip as s;
use crate::trace::{Trace, TraceRecorder};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard_core::balancer::Balancer;
use switchboard_core::config::Config;
use switchboard_core::forward::Leg;
use switchboard_core::io::{ConnId, Input, ListenerId, Output, SocketKind};
use switchboard_core::sip::{Method, SipMessage};
use switchboard_core::time::Timestamp;
use thiserror::Error;

/// More steps than this at one instant is a busy loop.
pub const MAX_STEPS_PER_INSTANT: u64 = 200_000;

/// A scenario that cannot start.
#[derive(Debug, Error)]
pub enum WorldError {
    /// A balancer configuration was refused.
    #[error("balancer {index} configuration refused: {reason}")]
    Config {
        /// Balancer index.
        index: usize,
        /// Why.
        reason: String,
    },
}

/// Something scheduled in virtual time.
#[derive(Debug)]
pub(crate) enum Event {
    /// A UDP datagram arrives at `to`.
    Datagram {
        from: SocketAddr,
        to: SocketAddr,
        payload: Bytes,
    },
    /// An HTTP heartbeat request arrives at a balancer's heartbeat port.
    HbRequest {
        lb: usize,
        node: usize,
        incarnation: u32,
        bytes: Bytes,
    },
    /// A balancer's heartbeat answer arrives at a node.
    HbReply {
        lb: usize,
        node: usize,
        incarnation: u32,
        bytes: Bytes,
    },
    /// A balancer's `poll_timeout` deadline.
    LbTimer { lb: usize },
    /// A node timer.
    Node {
        node: usize,
        incarnation: u32,
        timer: NodeTimer,
    },
    /// A node process starts for the first time.
    NodeStart { node: usize },
    /// A caller places call `call`.
    CallStart { call: usize },
    /// A caller timer.
    Call { call: usize, timer: CallTimer },
    /// Timeline entry `index`.
    Fault { index: usize },
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum NodeTimer {
    Heartbeat,
    Answer(usize),
    Retransmit200(usize),
    Hangup(usize),
    RetransmitBye(usize),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum CallTimer {
    InviteRetransmit,
    InviteTimeout,
    Hangup,
    ByeRetransmit,
    ByeTimeout,
    SessionExpiry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    LbExternal(usize),
    LbInternal(usize),
    Vip,
    Node(usize),
    Caller(usize),
}

/// One balancer core and what the simulator knows about it.
#[derive(Debug)]
pub(crate) struct Lb {
    pub core: Balancer,
    /// The listeners the core declared that the simulator serves.
    pub listeners: LbListeners,
    pub timer_at: Option<Timestamp>,
    pub delivered_requests: u64,
    pub delivered_responses: u64,
    pub delivered_bytes: u64,
    /// Per node: present in this balancer's registry at the last look.
    pub present: Vec<bool>,
    pub left: Vec<bool>,
    pub rejoined: Vec<bool>,
}

/// The ids of the listeners a balancer declared ([`Balancer::listeners`]) that the
/// simulated network reaches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LbListeners {
    /// External SIP over UDP.
    pub external_udp: ListenerId,
    /// Internal SIP over UDP.
    pub internal_udp: ListenerId,
    /// The HTTP/JSON heartbeat port.
    pub heartbeat: ListenerId,
}

impl LbListeners {
    /// Finds the listeners by kind and port among those `core` declared.
    fn find(core: &Balancer) -> Result<LbListeners, String> {
        let specs = core.listeners();
        let find = |kind: SocketKind, port: u16, what: &str| {
            specs
                .iter()
                .find(|l| l.kind == kind && l.port == port && !l.ipv6)
                .map(|l| l.id)
                .ok_or_else(|| format!("no {what} listener ({kind:?} port {port}) declared"))
        };
        Ok(LbListeners {
            external_udp: find(SocketKind::Udp, addr::EXTERNAL_PORT, "external SIP")?,
            internal_udp: find(SocketKind::Udp, addr::INTERNAL_PORT, "internal SIP")?,
            heartbeat: find(SocketKind::Tcp, addr::HEARTBEAT_PORT, "heartbeat")?,
        })
    }

    /// The leg a UDP listener faces, if it is one of the simulator's.
    fn udp_leg(&self, id: ListenerId) -> Option<Leg> {
        if id == self.external_udp {
            Some(Leg::External)
        } else if id == self.internal_udp {
            Some(Leg::Internal)
        } else {
            None
        }
    }

    fn udp(&self, leg: Leg) -> ListenerId {
        match leg {
            Leg::External => self.external_udp,
            Leg::Internal => self.internal_udp,
        }
    }
}

/// A heartbeat connection a node opened to a balancer: which node process, and whether the
/// balancer has answered on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HbConn {
    pub node: usize,
    pub incarnation: u32,
    pub answered: bool,
}

/// Lifecycle of a simulated node process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeState {
    NotStarted,
    Up,
    Down,
}

/// A node's side of one call.
#[derive(Debug)]
pub(crate) struct NodeDialog {
    pub invite: Bytes,
    pub last_response: Option<Bytes>,
    pub response_to: SocketAddr,
    pub answered: bool,
    pub acked: bool,
    pub retx_ms: u64,
    pub answered_at: Timestamp,
    pub bye: Option<Bytes>,
    pub bye_to: SocketAddr,
    pub bye_retx_ms: u64,
    pub bye_sent_at: Timestamp,
    pub bye_done: bool,
    pub terminated: bool,
}

/// A simulated cluster node.
#[derive(Debug)]
pub(crate) struct SimNode {
    pub name: String,
    pub addr: SocketAddr,
    pub group: NodeGroup,
    pub version: String,
    pub session: u64,
    pub incarnation: u32,
    pub state: NodeState,
    pub hung: bool,
    pub heartbeats_lost: bool,
    pub graceful: bool,
    pub pending_upgrade: Option<String>,
    pub started: Vec<bool>,
    pub shutdown_sent: Vec<bool>,
    pub dialogs: BTreeMap<usize, NodeDialog>,
    /// Since when the balancers cannot reach it (crash, hang, partition).
    pub down_since: Option<Timestamp>,
    pub faulted: bool,
    /// Since when it has been serving without a break ([`World::serving`]); `None` while not.
    pub serving_since: Option<Timestamp>,
    pub received: u64,
    pub new_calls: u64,
    pub hb_seq: u64,
}

/// Where a caller's call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Pending,
    Inviting,
    Established,
    Terminating,
    Done,
}

/// One call, as its caller and the checks see it.
#[derive(Debug)]
pub(crate) struct Call {
    pub call_id: String,
    pub caller: usize,
    pub target: SocketAddr,
    pub start_at: Timestamp,
    pub hold: Duration,
    pub node_hangs_up: bool,
    pub phase: Phase,
    pub invite: Bytes,
    pub invite_retx_ms: u64,
    pub invite_sent_at: Timestamp,
    /// A provisional response arrived: the INVITE client transaction is in Proceeding.
    pub proceeding: bool,
    pub invite_final: Option<u16>,
    /// The final error response a node itself sent to the INVITE (a busy node's `503`).
    pub node_rejected: Option<u16>,
    pub ack: Option<(Bytes, SocketAddr)>,
    pub route_set: Vec<String>,
    pub remote_target: String,
    pub to_tag: String,
    pub bye: Option<(Bytes, SocketAddr)>,
    pub bye_retx_ms: u64,
    pub bye_sent_at: Timestamp,
    pub outcome: Option<Outcome>,
    /// The node in charge of the call (first to get its INVITE; moved on failover).
    pub owner: Option<usize>,
    /// The owner's `sessionId` when it took the call.
    pub owner_session: u64,
    pub version: Option<String>,
    pub first_node: Option<usize>,
    pub first_node_at: Timestamp,
    pub answered_by: Option<usize>,
    pub failovers: u32,
}

/// The whole simulation.
#[derive(Debug)]
pub struct World {
    pub(crate) scenario: Scenario,
    pub(crate) seed: u64,
    pub(crate) q: EventQueue<Event>,
    pub(crate) net_rng: SplitMix64,
    pub(crate) spray_rng: SplitMix64,
    pub(crate) lbs: Vec<Lb>,
    pub(crate) nodes: Vec<SimNode>,
    pub(crate) calls: Vec<Call>,
    pub(crate) call_index: BTreeMap<String, usize>,
    pub(crate) endpoints: BTreeMap<SocketAddr, Endpoint>,
    pub(crate) balancer_addrs: BTreeSet<SocketAddr>,
    pub(crate) partitioned: BTreeSet<usize>,
    /// The next id for a connection the simulator opens toward a balancer (the low half of
    /// the id space: the driver's).
    pub(crate) next_conn: u64,
    pub(crate) hb_conns: BTreeMap<(usize, ConnId), HbConn>,
    pub(crate) cluster_events: Vec<ClusterEvent>,
    pub(crate) violations: Vec<Violation>,
    pub(crate) node_timeout: Duration,
    pub(crate) calls_done: usize,
    pub(crate) failovers: u64,
    pub(crate) invite_failovers: u64,
    pub(crate) bye_failovers: u64,
    pub(crate) session_expiries: u64,
    pub(crate) lost_packets: u64,
    pub(crate) dropped_at_dead_nodes: u64,
    pub(crate) steps: u64,
    pub(crate) same_instant: (Timestamp, u64),
    pub(crate) trace: Option<TraceRecorder>,
    pub(crate) aborted: Option<String>,
    pub(crate) last_fault_at: Timestamp,
}

pub(crate) fn ms(t: u64) -> Duration {
    Duration::from_millis(t)
}

pub(crate) fn secs(t: Timestamp) -> String {
    format!("{}.{:03} s", t.as_millis() / 1000, t.as_millis() % 1000)
}

impl World {
    /// Builds the world of `scenario` for `seed`; `record` keeps a replayable trace.
    pub fn new(scenario: Scenario, seed: u64, record: bool) -> Result<World, WorldError> {
        let mut master = SplitMix64::new(seed);
        let net_rng = SplitMix64::new(master.next_u64());
        let spray_rng = SplitMix64::new(master.next_u64());
        let mut traffic_rng = SplitMix64::new(master.next_u64());
        let mut session_rng = SplitMix64::new(master.next_u64());

        let node_count = scenario.node_count();
        let mut lbs = Vec::new();
        let mut configs = Vec::new();
        let mut endpoints = BTreeMap::new();
        let mut balancer_addrs = BTreeSet::new();
        for i in 0..scenario.balancers.count as usize {
            let xml = scenario.balancer_xml(i);
            let config = Config::from_xml(&xml)
                .map_err(|e| WorldError::Config {
                    index: i,
                    reason: e.to_string(),
                })?
                .config;
            let core = Balancer::new(config, Timestamp::ZERO).map_err(|e| WorldError::Config {
                index: i,
                reason: e.to_string(),
            })?;
            let listeners = LbListeners::find(&core)
                .map_err(|reason| WorldError::Config { index: i, reason })?;
            configs.push(xml);
            lbs.push(Lb {
                core,
                listeners,
                timer_at: None,
                delivered_requests: 0,
                delivered_responses: 0,
                delivered_bytes: 0,
                present: vec![false; node_count],
                left: vec![false; node_count],
                rejoined: vec![false; node_count],
            });
            endpoints.insert(addr::balancer_external(i), Endpoint::LbExternal(i));
            endpoints.insert(addr::balancer_internal(i), Endpoint::LbInternal(i));
            balancer_addrs.insert(addr::balancer_external(i));
            balancer_addrs.insert(addr::balancer_internal(i));
        }
        if scenario.balancers.ip_load_balancer {
            endpoints.insert(addr::VIP, Endpoint::Vip);
            balancer_addrs.insert(addr::VIP);
        }

        let mut nodes = Vec::new();
        for group in &scenario.nodes {
            for _ in 0..group.count {
                let i = nodes.len();
                endpoints.insert(addr::node(i), Endpoint::Node(i));
                nodes.push(SimNode {
                    name: format!("n{i}"),
                    addr: addr::node(i),
                    group: group.clone(),
                    version: group.version.clone(),
                    session: 1_500_000_000_000 + session_rng.below(1_000_000_000),
                    incarnation: 0,
                    state: NodeState::NotStarted,
                    hung: false,
                    heartbeats_lost: false,
                    graceful: false,
                    pending_upgrade: None,
                    started: vec![false; lbs.len()],
                    shutdown_sent: vec![false; lbs.len()],
                    dialogs: BTreeMap::new(),
                    down_since: None,
                    faulted: false,
                    serving_since: None,
                    received: 0,
                    new_calls: 0,
                    hb_seq: 0,
                });
            }
        }
        for k in 0..scenario.callers as usize {
            endpoints.insert(addr::caller(k), Endpoint::Caller(k));
        }

        let mut q = EventQueue::new();
        for (i, n) in nodes.iter().enumerate() {
            q.schedule_at(
                Timestamp::ZERO.saturating_add(ms(n.group.start_at_ms)),
                Event::NodeStart { node: i },
            );
        }
        let mut last_fault_at = Timestamp::ZERO;
        for (index, e) in scenario.timeline.iter().enumerate() {
            let at = Timestamp::from_millis(e.at_ms);
            last_fault_at = last_fault_at.max(at);
            q.schedule_at(at, Event::Fault { index });
            if let Some(n) = crate::scenario::node_index(&e.target) {
                if let Some(node) = nodes.get_mut(n) {
                    node.faulted = true;
                }
            }
        }

        // Calls: evenly spaced per phase with a seeded jitter, hold times and hang-up sides.
        let mut calls = Vec::new();
        let mut call_index = BTreeMap::new();
        for phase in &scenario.traffic {
            let spacing_us = (1_000_000.0 / phase.rate) as u64;
            for n in 0..phase.calls as u64 {
                let idx = calls.len();
                let jitter = traffic_rng.below(spacing_us / 2 + 1);
                let start_at = Timestamp::from_millis(phase.start_ms)
                    .saturating_add(Duration::from_micros(n * spacing_us + jitter));
                let hold = ms(phase.hold_ms + traffic_rng.below(phase.hold_jitter_ms + 1));
                let node_hangs_up = match phase.hangup {
                    crate::scenario::Hangup::Caller => false,
                    crate::scenario::Hangup::Node => true,
                    crate::scenario::Hangup::Mixed => traffic_rng.chance(0.5),
                };
                let caller = idx % scenario.callers as usize;
                let target = if scenario.balancers.ip_load_balancer {
                    addr::VIP
                } else {
                    addr::balancer_external(caller % lbs.len())
                };
                let call_id = format!("{:08x}-{idx}@sim", traffic_rng.next_u64() as u32);
                call_index.insert(call_id.clone(), idx);
                q.schedule_at(start_at, Event::CallStart { call: idx });
                calls.push(Call {
                    call_id,
                    caller,
                    target,
                    start_at,
                    hold,
                    node_hangs_up,
                    phase: Phase::Pending,
                    invite: Bytes::new(),
                    invite_retx_ms: s::T1_MS,
                    invite_sent_at: start_at,
                    proceeding: false,
                    invite_final: None,
                    node_rejected: None,
                    ack: None,
                    route_set: Vec::new(),
                    remote_target: String::new(),
                    to_tag: String::new(),
                    bye: None,
                    bye_retx_ms: s::T1_MS,
                    bye_sent_at: start_at,
                    outcome: None,
                    owner: None,
                    owner_session: 0,
                    version: None,
                    first_node: None,
                    first_node_at: start_at,
                    answered_by: None,
                    failovers: 0,
                });
            }
        }

        let trace = record.then(|| TraceRecorder::new(seed, &scenario.name, configs));
        Ok(World {
            node_timeout: ms(scenario.balancers.node_timeout_ms),
            scenario,
            seed,
            q,
            net_rng,
            spray_rng,
            lbs,
            nodes,
            calls,
            call_index,
            endpoints,
            balancer_addrs,
            partitioned: BTreeSet::new(),
            next_conn: 1,
            hb_conns: BTreeMap::new(),
            cluster_events: Vec::new(),
            violations: Vec::new(),
            calls_done: 0,
            failovers: 0,
            invite_failovers: 0,
            bye_failovers: 0,
            session_expiries: 0,
            lost_packets: 0,
            dropped_at_dead_nodes: 0,
            steps: 0,
            same_instant: (Timestamp::ZERO, 0),
            trace,
            aborted: None,
            last_fault_at,
        })
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        self.q.now()
    }

    /// Runs to the end: every call has an outcome (and the timeline is over), the queue is
    /// empty, the time limit is reached, or a busy loop is detected. Returns the report.
    pub fn run(mut self) -> (Report, Option<Trace>) {
        let wall = std::time::Instant::now();
        let limit = Timestamp::from_millis(self.scenario.max_duration_ms);
        while let Some((now, event)) = self.q.pop() {
            if now > limit {
                break;
            }
            self.steps += 1;
            if self.same_instant.0 == now {
                self.same_instant.1 += 1;
                if self.same_instant.1 > MAX_STEPS_PER_INSTANT {
                    self.aborted = Some(format!(
                        "busy loop: more than {MAX_STEPS_PER_INSTANT} steps at {}",
                        secs(now)
                    ));
                    break;
                }
            } else {
                self.same_instant = (now, 1);
            }
            self.step(event);
            if self.calls_done == self.calls.len() && now >= self.last_fault_at {
                break;
            }
        }
        let wall = wall.elapsed();
        self.finish(wall)
    }

    fn step(&mut self, event: Event) {
        match event {
            Event::Datagram { from, to, payload } => self.deliver(from, to, payload),
            Event::HbRequest {
                lb,
                node,
                incarnation,
                bytes,
            } => {
                // One request per connection: open it, send the request, and wait for the
                // answer and the balancer's close.
                let conn = ConnId(self.next_conn);
                self.next_conn += 1;
                self.hb_conns.insert(
                    (lb, conn),
                    HbConn {
                        node,
                        incarnation,
                        answered: false,
                    },
                );
                let peer = SocketAddr::new(
                    self.nodes[node].addr.ip(),
                    40_000 + (conn.0 % 20_000) as u16,
                );
                let listener = self.lbs[lb].listeners.heartbeat;
                self.feed(
                    lb,
                    Input::Accepted {
                        conn,
                        listener,
                        peer,
                    },
                );
                if self.hb_conns.contains_key(&(lb, conn)) {
                    self.feed(lb, Input::Data { conn, bytes });
                }
            }
            Event::HbReply {
                lb,
                node,
                incarnation,
                bytes,
            } => self.node_heartbeat_reply(node, lb, incarnation, &bytes),
            Event::LbTimer { lb } => {
                let now = self.now();
                if self.lbs[lb].timer_at.is_some_and(|t| t <= now) {
                    self.lbs[lb].timer_at = None;
                    self.feed(lb, Input::Timeout);
                }
            }
            Event::Node {
                node,
                incarnation,
                timer,
            } => {
                let n = &self.nodes[node];
                if n.incarnation == incarnation && n.state == NodeState::Up {
                    self.node_timer(node, timer);
                }
            }
            Event::NodeStart { node } => self.node_boot(node, None),
            Event::CallStart { call } => self.call_start(call),
            Event::Call { call, timer } => self.call_timer(call, timer),
            Event::Fault { index } => self.fault(index),
        }
    }

    // ----- balancers -----

    /// Feeds one input to balancer `lb`, carries out its outputs and re-arms its timer.
    pub(crate) fn feed(&mut self, lb: usize, input: Input) {
        let now = self.now();
        if let Some(t) = &mut self.trace {
            t.input(lb, now, &input);
        }
        self.lbs[lb].core.handle(now, input);
        while let Some(out) = self.lbs[lb].core.poll_output() {
            if let Some(t) = &mut self.trace {
                t.output(lb, &out);
            }
            self.lb_output(lb, out);
        }
        let next = self.lbs[lb].core.poll_timeout();
        if next != self.lbs[lb].timer_at {
            self.lbs[lb].timer_at = next;
            if let Some(t) = next {
                self.q.schedule_at(t, Event::LbTimer { lb });
            }
        }
        self.observe_registry(lb);
    }

    fn observe_registry(&mut self, lb: usize) {
        let l = &mut self.lbs[lb];
        let registry = l.core.cluster().registry();
        let mut changed = false;
        for (j, n) in self.nodes.iter().enumerate() {
            let here = registry.find_by_addr(n.addr.ip(), n.addr.port()).is_some();
            if l.present[j] && !here {
                l.left[j] = true;
            }
            if !l.present[j] && here && l.left[j] {
                l.rejoined[j] = true;
            }
            changed |= l.present[j] != here;
            l.present[j] = here;
        }
        if changed {
            self.refresh_serving();
        }
    }

    /// True if node `j` can take a new call now: its process runs (not crashed, hung or
    /// partitioned), it is not draining (graceful shutdown, upgrade), its heartbeats get
    /// through, it answers calls (not a node answering 503 by design) and every balancer's
    /// registry holds it.
    pub(crate) fn serving(&self, j: usize) -> bool {
        let n = &self.nodes[j];
        n.state == NodeState::Up
            && !n.hung
            && !self.partitioned.contains(&j)
            && !n.graceful
            && n.pending_upgrade.is_none()
            && !n.heartbeats_lost
            && n.group.answer == crate::scenario::Answer::Ok
            && self.lbs.iter().all(|l| l.present[j])
    }

    /// Updates every node's `serving_since` after anything that may change [`World::serving`].
    pub(crate) fn refresh_serving(&mut self) {
        let now = self.now();
        for j in 0..self.nodes.len() {
            let serving = self.serving(j);
            let n = &mut self.nodes[j];
            match (serving, n.serving_since) {
                (true, None) => n.serving_since = Some(now),
                (false, Some(_)) => n.serving_since = None,
                _ => {}
            }
        }
    }

    fn lb_output(&mut self, lb: usize, out: Output) {
        match out {
            Output::SendDatagram {
                listener,
                to,
                payload,
            } => {
                let Some(leg) = self.lbs[lb].listeners.udp_leg(listener) else {
                    self.violation(format!(
                        "balancer lb{lb} sent a datagram on {listener:?}, which is not one of its IPv4 UDP listeners"
                    ));
                    return;
                };
                let from = match leg {
                    Leg::External => addr::balancer_external(lb),
                    Leg::Internal => addr::balancer_internal(lb),
                };
                self.check_balancer_datagram(lb, to, &payload);
                self.send_udp(from, to, payload);
            }
            Output::Write { conn, payload } => match self.hb_conns.get_mut(&(lb, conn)) {
                Some(hb) => {
                    hb.answered = true;
                    let (node, incarnation) = (hb.node, hb.incarnation);
                    if !self.partitioned.contains(&node) {
                        let at = self.heartbeat_latency();
                        self.q.schedule_in(
                            at,
                            Event::HbReply {
                                lb,
                                node,
                                incarnation,
                                bytes: payload,
                            },
                        );
                    }
                }
                None => self.violation(format!(
                    "balancer lb{lb} wrote on unknown connection {}",
                    conn.0
                )),
            },
            Output::Close { conn } => match self.hb_conns.remove(&(lb, conn)) {
                Some(hb) if !hb.answered => {
                    let name = self.nodes[hb.node].name.clone();
                    self.violation(format!(
                        "balancer lb{lb} closed the heartbeat connection of node {name} without answering"
                    ));
                }
                Some(_) => {}
                None => self.violation(format!(
                    "balancer lb{lb} closed unknown connection {}",
                    conn.0
                )),
            },
            Output::Cluster { kind, node } => {
                let at = self.now();
                self.cluster_events
                    .push(ClusterEvent { at, lb, kind, node });
            }
            other => self.violation(format!(
                "balancer lb{lb} asked for {other:?}, which a UDP-only cluster never needs"
            )),
        }
    }

    /// The checks on a datagram a balancer sends: no message to a node known dead, call
    /// affinity and version, no balancer Via toward a user agent.
    fn check_balancer_datagram(&mut self, lb: usize, to: SocketAddr, payload: &Bytes) {
        let now = self.now();
        let Ok(msg) = SipMessage::parse(payload.clone()) else {
            self.violation(format!(
                "balancer lb{lb} sent an unparsable datagram to {to}"
            ));
            return;
        };
        match self.endpoints.get(&to).copied() {
            Some(Endpoint::Node(j)) => {
                let node = &self.nodes[j];
                if let Some(since) = node.down_since {
                    let slack = self.node_timeout + ms(node.group.heartbeat_interval_ms);
                    if now > since.saturating_add(slack) {
                        let what = describe(&msg);
                        self.violation(format!(
                            "balancer lb{lb} forwarded {what} to node {} ({to}), unreachable since {} (nodeTimeout {} ms)",
                            node.name,
                            secs(since),
                            self.node_timeout.as_millis()
                        ));
                    }
                }
                if msg.is_request() {
                    self.check_affinity(lb, j, &msg);
                }
            }
            Some(Endpoint::Caller(_)) => {
                if !msg.is_request() {
                    let leaked: Vec<SocketAddr> = s::via_addrs(&msg)
                        .into_iter()
                        .filter(|a| self.balancer_addrs.contains(a))
                        .collect();
                    if !leaked.is_empty() {
                        self.violation(format!(
                            "balancer lb{lb} sent {} to user agent {to} with its own Via {leaked:?}",
                            describe(&msg)
                        ));
                    }
                }
            }
            Some(_) => self.violation(format!(
                "balancer lb{lb} sent {} to another balancer address {to}",
                describe(&msg)
            )),
            None => self.violation(format!(
                "balancer lb{lb} sent {} to {to}, where nobody listens",
                describe(&msg)
            )),
        }
    }

    fn check_affinity(&mut self, lb: usize, j: usize, msg: &SipMessage) {
        let now = self.now();
        let Some(&c) = s::call_id(msg).and_then(|id| self.call_index.get(id)) else {
            return;
        };
        let method = msg.method().unwrap_or(Method::Other);
        let in_dialog = method != Method::Invite || s::to_tag(msg).is_some();
        let node_version = self.nodes[j].version.clone();
        let call = &self.calls[c];
        // The ACK of a non-2xx final response follows the algorithm, not a Route.
        if method == Method::Ack && call.invite_final.is_some_and(|f| f >= 300) {
            return;
        }
        let Some(owner) = call.owner else {
            let session = self.nodes[j].session;
            let call = &mut self.calls[c];
            call.owner = Some(j);
            call.owner_session = session;
            call.first_node = Some(j);
            call.first_node_at = now;
            call.version = Some(node_version);
            self.nodes[j].new_calls += 1;
            return;
        };
        if in_dialog {
            if let Some(v) = &call.version {
                if *v != node_version {
                    let what = describe(msg);
                    let name = self.nodes[j].name.clone();
                    self.violation(format!(
                        "balancer lb{lb} sent {what} (call of version {v}) to node {name} of version {node_version}"
                    ));
                    return;
                }
            }
        }
        if owner == j {
            return;
        }
        let o = &self.nodes[owner];
        let registry = self.lbs[lb].core.cluster().registry();
        let owner_session = call.owner_session.to_string();
        let owner_live = registry
            .find_by_addr(o.addr.ip(), o.addr.port())
            .filter(|n| Some(n.version.as_str()) == call.version.as_deref())
            .filter(|n| in_dialog || n.session_id == owner_session)
            .is_some_and(|n| in_dialog || n.accepts_new_work());
        if owner_live {
            let what = describe(msg);
            let (on, jn) = (o.name.clone(), self.nodes[j].name.clone());
            self.violation(format!(
                "balancer lb{lb} sent {what} to node {jn} while the call's node {on} is live"
            ));
            return;
        }
        let session = self.nodes[j].session;
        let call = &mut self.calls[c];
        call.owner = Some(j);
        call.owner_session = session;
        call.failovers += 1;
        if !in_dialog {
            call.version = Some(node_version);
            self.invite_failovers += 1;
        }
        self.failovers += 1;
    }

    // ----- network -----

    fn link_of(&self, a: SocketAddr, b: SocketAddr) -> (LinkSettings, Option<usize>) {
        let node = |x: &SocketAddr| match self.endpoints.get(x) {
            Some(Endpoint::Node(j)) => Some(*j),
            _ => None,
        };
        match node(&a).or_else(|| node(&b)) {
            Some(j) => (self.scenario.links.internal, Some(j)),
            None => (self.scenario.links.external, None),
        }
    }

    fn delay(&mut self, link: &LinkSettings) -> Duration {
        let mut us = (link.latency_ms * 1000.0) as u64;
        if link.jitter_ms > 0.0 {
            us += self.net_rng.below((link.jitter_ms * 1000.0) as u64 + 1);
        }
        if link.reorder > 0.0 && self.net_rng.chance(link.reorder) {
            // Held back past the packets sent in the next few milliseconds.
            us += 2 * (link.latency_ms * 1000.0) as u64 + 5_000 + self.net_rng.below(20_000);
        }
        Duration::from_micros(us)
    }

    /// Sends a UDP datagram through the simulated network.
    pub(crate) fn send_udp(&mut self, from: SocketAddr, to: SocketAddr, payload: Bytes) {
        let (link, node) = self.link_of(from, to);
        if node.is_some_and(|j| self.partitioned.contains(&j)) {
            self.lost_packets += 1;
            return;
        }
        if link.loss > 0.0 && self.net_rng.chance(link.loss) {
            self.lost_packets += 1;
            return;
        }
        let copies = if link.dup > 0.0 && self.net_rng.chance(link.dup) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let d = self.delay(&link);
            self.q.schedule_in(
                d,
                Event::Datagram {
                    from,
                    to,
                    payload: payload.clone(),
                },
            );
        }
    }

    /// Heartbeats ride TCP: latency only.
    pub(crate) fn heartbeat_latency(&self) -> Duration {
        Duration::from_micros((self.scenario.links.internal.latency_ms * 1000.0) as u64)
    }

    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, payload: Bytes) {
        match self.endpoints.get(&to).copied() {
            Some(Endpoint::LbExternal(i)) => self.deliver_to_lb(i, Leg::External, from, payload),
            Some(Endpoint::LbInternal(i)) => self.deliver_to_lb(i, Leg::Internal, from, payload),
            Some(Endpoint::Vip) => {
                // The IP load balancer sprays each datagram to any balancer, keeping the
                // source address (direct server return).
                let i = self.spray_rng.below(self.lbs.len() as u64) as usize;
                self.deliver_to_lb(i, Leg::External, from, payload);
            }
            Some(Endpoint::Node(j)) => self.node_receive(j, from, payload),
            Some(Endpoint::Caller(k)) => self.caller_receive(k, from, payload),
            None => self.lost_packets += 1,
        }
    }

    fn deliver_to_lb(&mut self, lb: usize, leg: Leg, from: SocketAddr, payload: Bytes) {
        if let Some(j) = self.endpoints.get(&from).and_then(|e| match e {
            Endpoint::Node(j) => Some(*j),
            _ => None,
        }) {
            if self.partitioned.contains(&j) {
                self.lost_packets += 1;
                return;
            }
        }
        {
            let l = &mut self.lbs[lb];
            l.delivered_bytes += payload.len() as u64;
            if payload.starts_with(b"SIP/2.0 ") {
                l.delivered_responses += 1;
            } else if !(leg == Leg::Internal && is_sip_heartbeat(&payload)) {
                l.delivered_requests += 1;
            }
        }
        let listener = self.lbs[lb].listeners.udp(leg);
        self.feed(
            lb,
            Input::Datagram {
                listener,
                from,
                payload,
            },
        );
    }

    // ----- faults -----

    fn fault(&mut self, index: usize) {
        self.apply_fault(index);
        self.refresh_serving();
    }

    fn apply_fault(&mut self, index: usize) {
        let e = self.scenario.timeline[index].clone();
        let Some(j) = crate::scenario::node_index(&e.target) else {
            return;
        };
        let now = self.now();
        tracing::debug!(at = %secs(now), action = ?e.action, node = %e.target, "fault");
        match e.action {
            Action::Crash => {
                let n = &mut self.nodes[j];
                if n.state == NodeState::Up {
                    n.state = NodeState::Down;
                    n.incarnation += 1;
                    n.dialogs.clear();
                    n.down_since.get_or_insert(now);
                }
            }
            Action::Hang => {
                let n = &mut self.nodes[j];
                n.hung = true;
                n.down_since.get_or_insert(now);
            }
            Action::Restart => {
                if self.nodes[j].state != NodeState::Up || self.nodes[j].hung {
                    self.node_boot(j, None);
                }
            }
            Action::Graceful => {
                self.nodes[j].graceful = true;
                self.node_announce(j);
            }
            Action::Upgrade => {
                let n = &mut self.nodes[j];
                n.graceful = true;
                n.pending_upgrade = e.version.clone();
                self.node_announce(j);
            }
            Action::LoseHeartbeats => self.nodes[j].heartbeats_lost = true,
            Action::Recover => {
                let n = &mut self.nodes[j];
                n.heartbeats_lost = false;
                if n.hung {
                    n.hung = false;
                    if !self.partitioned.contains(&j) {
                        n.down_since = None;
                    }
                }
            }
            Action::Partition => {
                self.partitioned.insert(j);
                self.nodes[j].down_since.get_or_insert(now);
            }
            Action::Heal => {
                self.partitioned.remove(&j);
                let n = &mut self.nodes[j];
                if n.state == NodeState::Up && !n.hung {
                    n.down_since = None;
                }
            }
        }
    }

    /// Records a broken invariant (with the seed and the virtual time).
    pub(crate) fn violation(&mut self, what: String) {
        let at = self.now();
        tracing::debug!(at = %secs(at), %what, "invariant broken");
        if self.violations.len() < 1000 {
            self.violations.push(Violation {
                seed: self.seed,
                at,
                what,
            });
        }
    }

    /// True if some reachable node of `version` exists now.
    pub(crate) fn live_node_of(&self, version: &str) -> bool {
        self.nodes.iter().enumerate().any(|(j, n)| {
            n.state == NodeState::Up
                && !n.hung
                && !self.partitioned.contains(&j)
                && n.version == version
        })
    }
}

fn is_sip_heartbeat(payload: &[u8]) -> bool {
    (payload.starts_with(b"OPTIONS ") || payload.starts_with(b"INFO "))
        && payload
            .windows(b"Mobicents-Heartbeat".len())
            .any(|w| w == b"Mobicents-Heartbeat")
}

/// "INVITE", "BYE", "200 (BYE)" … for messages in violation reports.
pub(crate) fn describe(msg: &SipMessage) -> String {
    let call = s::call_id(msg).unwrap_or("?");
    match msg.status_code() {
        Some(code) => format!(
            "{code} ({}) of {call}",
            String::from_utf8_lossy(s::cseq_method(msg))
        ),
        None => format!("{} of {call}", String::from_utf8_lossy(msg.method_bytes())),
    }
}
