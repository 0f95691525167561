//! The nodes and callers of a scenario: their state, and how they are set up from the
//! scenario's node groups and traffic phases. What they do is in `node.rs` and `ua.rs`.

use super::{ms, Event, Path};
use crate::addr;
use crate::clock::EventQueue;
use crate::report::Outcome;
use crate::rng::SplitMix64;
use crate::scenario::{CallTransport, NodeGroup, Scenario};
use crate::sip as s;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use switchboard_core::time::Timestamp;

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
    /// How the INVITE came, and so how the answers leave (and the node's BYE: over TCP
    /// for a call on a connection).
    pub path: Path,
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
    pub transport: CallTransport,
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

/// The nodes of `scenario`, named `n0`, `n1`, … in group order, not started yet.
pub(super) fn nodes(
    scenario: &Scenario,
    balancers: usize,
    session_rng: &mut SplitMix64,
) -> Vec<SimNode> {
    let mut nodes = Vec::new();
    for group in &scenario.nodes {
        for _ in 0..group.count {
            let i = nodes.len();
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
                started: vec![false; balancers],
                shutdown_sent: vec![false; balancers],
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
    nodes
}

/// The calls of `scenario`: evenly spaced per phase with a seeded jitter, hold times and
/// hang-up sides; each call's start is scheduled.
pub(super) fn calls(
    scenario: &Scenario,
    balancers: usize,
    traffic_rng: &mut SplitMix64,
    q: &mut EventQueue<Event>,
) -> (Vec<Call>, BTreeMap<String, usize>) {
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
                addr::balancer_external(caller % balancers)
            };
            let call_id = format!("{:08x}-{idx}@sim", traffic_rng.next_u64() as u32);
            call_index.insert(call_id.clone(), idx);
            q.schedule_at(start_at, Event::CallStart { call: idx });
            calls.push(Call {
                transport: phase.transport,
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
    (calls, call_index)
}
