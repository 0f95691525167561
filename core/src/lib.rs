//! # switchboard-core
//!
//! The pure, deterministic heart of Switchboard, a SIP, HTTP and SMPP load balancer.
//!
//! Nothing in this crate reads a clock, opens a socket, spawns a task or awaits: bytes and
//! `now` come in as arguments, values and actions come out. The runtime adapters
//! (`switchboard-tokio`, `switchboard-smol`) and the simulator (`switchboard-sim`) move bytes
//! and time between the outside world and this crate.
//!
//! Modules:
//! - [`config`]: `lb-configuration.xml` parsed into typed, validated structs.
//! - [`sip`]: the zero-copy SIP message codec, editor and stream framer.
//! - [`node`]: the cluster node model shared by registry, algorithms and forwarder.
//! - [`time`]: timestamps handed in by the driver.
#![forbid(unsafe_code)]

pub mod config;
pub mod node;
pub mod sip;
pub mod time;
