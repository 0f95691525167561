//! # switchboard-sim
//!
//! A deterministic cluster simulator for `switchboard-core`. Because the core takes bytes and
//! `now` as arguments and never reads a clock, a whole cluster — balancers, SIP user agents,
//! application-server nodes and the network between them — runs in virtual time: time jumps
//! to the next scheduled event instead of sleeping, so minutes of traffic replay in
//! milliseconds, and the same seed replays the same run bit for bit.
//!
//! - [`clock::EventQueue`]: virtual time and a deterministic order of simultaneous events.
//! - [`rng::SplitMix64`]: the seeded generator behind latency, jitter, loss, duplication,
//!   reordering, call timing and the IP load balancer's spraying.
//! - [`scenario::Scenario`]: TOML scenario files (topology, links, traffic, fault timeline,
//!   expectations) under `simulator/scenarios/`.
//! - [`world::World`]: balancers (real [`switchboard_core::balancer::Balancer`] values),
//!   simulated nodes (UAS, heartbeat client over HTTP/JSON or SIP OPTIONS, crash, hang,
//!   restart, graceful shutdown, upgrade) and callers (UAC with RFC 3261 timers), over UDP
//!   datagrams and TCP connections (connect, ordered writes in arbitrary chunks, close,
//!   reset when a node crashes).
//! - SMPP customers (ESMEs binding to the balancers' SMPP listener, submitting at a rate,
//!   answering deliveries) and providers (message centres the balancers connect to,
//!   answering submissions with message ids, sending delivery receipts and
//!   mobile-originated messages), with provider crashes, restarts and partitions
//!   ([`scenario::Smpp`]).
//! - [`report::Report`]: invariants broken (each with the seed), expectations, summary.
//! - [`trace`]: input traces and their bit-for-bit [`trace::replay`].
//!
//! Invariants checked while the run goes: every call a caller places completes while a node
//! of its version serves (a call whose INVITE ended without a final response, or with an
//! error response no node sent, is a violation when some node of the call's version served
//! from before the INVITE until the failure: up, reachable, not draining, registered); no
//! message to a node known dead (unreachable for longer than `nodeTimeout` plus one node
//! heartbeat period); every message of a call goes to the call's node while the balancer
//! still counts it live, and in-dialog requests stay in the call's version; no balancer Via
//! in a response delivered to a user agent; a balancer never writes or closes a connection it
//! was not given or did not open, answers every heartbeat connection before closing it, and
//! asks for nothing the simulated cluster never needs (TLS, name resolution, exit); an
//! established call whose in-dialog request fails while a live node of its version exists
//! is a violation; no busy loop (too many steps at one instant). At the end: every call
//! attempt got a final response and the balancers' counters agree with the messages
//! delivered to them.
//!
//! SMPP invariants: every request a customer or a provider sends gets exactly one response
//! (the peer's, or the balancer's own `ESME_RSYSERR`, `ESME_RTHROTTLED` or `generic_nack`),
//! none twice and none for a sequence number it did not send; a response carrying a provider's
//! message id answers the very request the provider answered; no submission, receipt or
//! mobile-originated message crosses to another `system_id`; a delivery receipt reaches the
//! customer that submitted the message while it stays connected; the parts of a long
//! message reach one provider connection while it lasts; every PDU the balancer writes
//! frames and decodes; a provider connection is bound before it carries a submission and
//! never sees a sequence number reused while its request is unanswered.
#![forbid(unsafe_code)]

pub mod addr;
pub mod clock;
mod node;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sip;
mod smpp;
pub mod trace;
mod ua;
pub mod world;

pub use report::Report;
pub use scenario::Scenario;
pub use world::World;

/// Runs `scenario` with `seed` and returns its report.
pub fn run(scenario: &Scenario, seed: u64) -> Result<Report, world::WorldError> {
    Ok(World::new(scenario.clone(), seed, false)?.run().0)
}

/// Runs `scenario` with `seed`, recording a replayable trace.
pub fn run_traced(
    scenario: &Scenario,
    seed: u64,
) -> Result<(Report, trace::Trace), world::WorldError> {
    let (report, trace) = World::new(scenario.clone(), seed, true)?.run();
    Ok((
        report,
        trace.unwrap_or(trace::Trace {
            text: String::new(),
        }),
    ))
}
