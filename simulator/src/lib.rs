//! # switchboard-sim
//!
//! A deterministic cluster simulator for `switchboard-core`. Because the core takes bytes and
//! `now` as arguments and never reads a clock, a whole cluster — balancers, SIP user agents,
//! application-server nodes and the network between them — can run in virtual time: time
//! jumps to the next scheduled event instead of sleeping, so minutes of traffic replay in
//! milliseconds, and the same seed replays the same run bit for bit.
//!
//! This crate holds today the foundation every scenario stands on: the [`clock::EventQueue`]
//! (virtual time and a deterministic ordering of simultaneous events) and a seeded
//! [`rng::SplitMix64`] generator for latency, jitter and loss. Simulated peers, the network
//! model, scenario files and invariant checks build on these.
#![forbid(unsafe_code)]

pub mod clock;
pub mod rng;
