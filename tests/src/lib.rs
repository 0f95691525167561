//! # switchboard-tests
//!
//! The end-to-end tests of the `switchboard` binary live today beside it, in
//! `runtime-tokio/tests/` (Cargo hands those tests the path of the binary they start): SIPp
//! calls over UDP, TCP and IPv6, TLS and WSS clients, failover, bad input and management.
//!
//! This crate is where those scenarios move once the smol adapter serves traffic too, so that
//! one set of scenarios runs against both binaries (DECISIONS.md §6). It holds no code yet.
#![forbid(unsafe_code)]
