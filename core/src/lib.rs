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
//! - [`balancer`]: the balancer value and its run-loop contract: inputs in, outputs out.
//! - [`config`]: `lb-configuration.xml` parsed into typed, validated structs.
//! - [`sip`]: the zero-copy SIP message codec, editor and stream framer.
//! - [`registry`]: the node registry (§3.3): registration, expiry, graceful and bad nodes.
//! - [`heartbeat`]: the HTTP/JSON and SIP heartbeat protocols as pure request handlers (§3.2, §3.5).
//! - [`algorithm`]: the balancing algorithms (§4).
//! - [`cluster`]: the registry, one algorithm per node version, and the SIP counters.
//! - [`forward`]: the SIP forwarder (§1): one message in, transmissions out; retransmission,
//!   INVITE failover and OPTIONS probing of nodes on its timers.
//! - [`io`]: the inputs and outputs exchanged with drivers.
//! - [`http_proxy`]: the HTTP balancer's building blocks (sticky keys of a request).
//! - [`http`]: complete HTTP/1.1 responses for the core's small HTTP services.
//! - [`management`]: the management API (`/lbstat`, `/lbinfo`, `/lbstop`, `/metrics`, …).
//! - [`node`]: the cluster node model shared by registry, algorithms and forwarder.
//! - [`stats`]: SIP traffic counters behind `/lbstat` and `/metrics`.
//! - [`time`]: timestamps handed in by the driver.
//! - [`ws`]: sans-IO WebSocket (RFC 6455) handshake and frame codec for SIP over WebSocket (RFC 7118).
#![forbid(unsafe_code)]

pub mod algorithm;
pub mod balancer;
pub mod cluster;
pub mod config;
pub mod forward;
pub mod heartbeat;
pub mod http;
pub mod http_proxy;
pub mod io;
pub mod management;
pub mod node;
pub mod registry;
pub mod sip;
pub mod smpp;
pub mod smpp_proxy;
pub mod stats;
pub mod time;
pub mod ws;
