//! End-to-end tests for Switchboard live under `tests/tests/`: each starts the real
//! `switchboard` binary (built by Cargo for this workspace) and drives it on loopback.
//! This library holds the helpers those tests share.
#![forbid(unsafe_code)]
