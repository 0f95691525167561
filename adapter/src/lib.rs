//! The runtime-neutral half of a Switchboard binary.
//!
//! A binary (`switchboard` on tokio, `switchboard-smol` on smol) moves bytes and time between
//! the operating system and `switchboard-core`. Everything it does that needs no executor lives
//! here, once: the command line ([`cli`]), reading and validating the configuration file
//! ([`config_file`]) and reloading it on change or SIGHUP ([`watch`]), the log subscriber
//! ([`logging`]), the rustls configurations of `<ssl>` ([`tls`]), opening sockets as
//! non-blocking std types ([`net`]), the UDP error queue ([`errqueue`]) and the start-up flow
//! up to the point where the executor takes over ([`startup`]), the driver's core loop that
//! turns the core's outputs into I/O requests ([`engine`]), flow control on stream connections
//! (write queue commands, paused reading, drain notices: [`flow`]), the two ends of a stream
//! connection with its write queue and direct writes ([`conn`]), and the bounded UDP send
//! queue ([`udp_queue`]).

#![forbid(unsafe_code)]

pub mod cli;
pub mod config_file;
pub mod conn;
pub mod engine;
pub mod errqueue;
pub mod flow;
pub mod ids;
pub mod logging;
#[cfg(any(test, feature = "test-support"))]
pub mod loopback;
pub mod net;
pub mod startup;
pub mod tls;
pub mod udp_queue;
pub mod watch;
