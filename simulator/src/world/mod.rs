//! The simulated world: balancers, nodes, callers and the network between them, driven by
//! one [`EventQueue`] in virtual time. Invariants are checked as outputs leave the
//! balancers and again at the end of the run.
//!
//! - this module: the events, the world's state and the event loop;
//! - `balancers`: the balancer cores, their listeners, and what they ask for;
//! - `network`: links, latency, loss, and delivery of datagrams;
//! - `peers`: the nodes and callers of a scenario, and their state;
//! - `faults`: the timeline's crashes, hangs, restarts and partitions;
//! - `checks`: the invariants checked while the run goes;
//! - `streams`: TCP connections between the balancers and the nodes and callers;
//! - `flow`: the balancers' flow control on those connections (paused reading, drain
//!   notices);
//! - `smpp`: SMPP customers and providers on those connections, provider faults, and the
//!   end of SMPP traffic.

mod balancers;
mod checks;
mod faults;
mod flow;
mod network;
mod peers;
mod smpp;
mod streams;

pub(crate) use balancers::{HbConn, Lb};
pub(crate) use network::Endpoint;
pub(crate) use peers::{Call, NodeDialog, NodeState, Phase, SimNode};
pub(crate) use streams::Path;
use streams::{Held, Segment, Stream};

use crate::clock::EventQueue;
use crate::report::{ClusterEvent, Report, Violation};
use crate::rng::SplitMix64;
use crate::scenario::Scenario;
use crate::trace::{Trace, TraceRecorder};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard_core::io::{ConnId, Input};
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
    /// A segment of a TCP connection arrives at the balancer's end or the peer's.
    Segment {
        lb: usize,
        conn: ConnId,
        toward_lb: bool,
        seg: Segment,
    },
    /// A balancer's drain notice on a connection comes due (`Input::Drained`).
    Drained { lb: usize, conn: ConnId },
    /// A balancer resumed reading a connection: what waited for it is delivered.
    Unpark { lb: usize, conn: ConnId },
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
    /// An SMPP customer's or provider's timer.
    Smpp(smpp::SmppEvent),
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
    /// TCP connections, by balancer and the balancer's id for them.
    pub(crate) streams: BTreeMap<(usize, ConnId), Stream>,
    /// Segments waiting for their partitioned node to heal.
    pub(crate) held: Vec<Held>,
    /// Chunk sizes and delays of TCP connections.
    pub(crate) stream_rng: SplitMix64,
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
    /// SMPP customers and providers.
    pub(crate) smpp: smpp::SmppWorld,
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
        let stream_rng = SplitMix64::new(master.next_u64());
        let smpp_seed = master.next_u64();

        let (lbs, configs) = balancers::build(&scenario)?;
        let (endpoints, balancer_addrs) = network::address_plan(&scenario);
        let mut nodes = peers::nodes(&scenario, lbs.len(), &mut session_rng);

        let mut q = EventQueue::new();
        for (i, n) in nodes.iter().enumerate() {
            q.schedule_at(
                Timestamp::ZERO.saturating_add(ms(n.group.start_at_ms)),
                Event::NodeStart { node: i },
            );
        }
        let last_fault_at = faults::schedule(&scenario, &mut nodes, &mut q);
        let (calls, call_index) = peers::calls(&scenario, lbs.len(), &mut traffic_rng, &mut q);
        let (smpp, smpp_first) = smpp::SmppWorld::new(&scenario, smpp_seed);
        for (at, event) in smpp_first {
            q.schedule_at(at, Event::Smpp(event));
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
            streams: BTreeMap::new(),
            held: Vec::new(),
            stream_rng,
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
            smpp,
        })
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        self.q.now()
    }

    /// Runs to the end: every call has an outcome, every SMPP customer has sent its quota
    /// and the quiet period after it has passed (and the timeline is over), the queue is
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
            if self.calls_done == self.calls.len()
                && now >= self.last_fault_at
                && self.smpp_finished(now)
            {
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
            } => self.heartbeat_request(lb, node, incarnation, bytes),
            Event::HbReply {
                lb,
                node,
                incarnation,
                bytes,
            } => self.node_heartbeat_reply(node, lb, incarnation, &bytes),
            Event::Segment {
                lb,
                conn,
                toward_lb,
                seg,
            } => self.segment(lb, conn, toward_lb, seg),
            Event::Drained { lb, conn } => self.drained(lb, conn),
            Event::Unpark { lb, conn } => self.unpark(lb, conn),
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
            Event::Smpp(event) => self.smpp_event(event),
        }
    }
}
