//! # switchboard-smol
//!
//! The second runtime adapter for `switchboard-core`, on the smol executor.
//!
//! What this crate will hold, with the same contract as the tokio adapter (`switchboard-tokio`):
//! - one task per listening socket (UDP, TCP, TLS, WS, WSS on both legs; the heartbeat port;
//!   the management port) that reads bytes and hands them to the core with the current time;
//! - the translation of the core's actions into system calls (send a datagram, write to a
//!   connection, open a connection, close one) and one timer armed at the core's next
//!   deadline;
//! - signals (SIGTERM/SIGINT clean stop, SIGHUP reload).
//!
//! It makes no protocol decision: every `if` about SIP, SMPP, HTTP or heartbeats lives in the
//! core. The end-to-end scenarios that run against the tokio binary are meant to pass
//! against this adapter too; it gains its listeners once the tokio adapter has shown the
//! shape of the I/O loop. Today it exposes only [`CORE_CRATE`], so that its dependency set
//! (smol, no tokio) is built and checked in CI from the start.
#![forbid(unsafe_code)]

/// The name of the core crate this adapter drives; used in start-up logs.
pub const CORE_CRATE: &str = "switchboard-core";
