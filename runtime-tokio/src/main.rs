//! `switchboard`: the SIP/HTTP/SMPP load balancer binary on the tokio runtime.
//!
//! Everything that needs no executor (command line, configuration, logging, TLS
//! configurations, socket creation, the core loop) is `switchboard-adapter`'s; this crate
//! holds only what is tokio's: tasks, sockets, the timer, signals and the TLS stream wrappers.

#![forbid(unsafe_code)]

mod conn;
mod driver;
#[cfg(test)]
mod flow_tests;
mod udp;

use std::process::ExitCode;
use switchboard_adapter::startup;

fn main() -> ExitCode {
    let start = match startup::start("switchboard") {
        Ok(start) => start,
        Err(code) => return code,
    };
    let threads = startup::worker_threads(&start.config);
    // The core is one task, so extra worker threads only add cross-thread wake-ups for every
    // datagram: one thread runs one event loop (see the README's benchmark); more threads run
    // that many I/O workers, for TLS-heavy traffic.
    let mut builder = if threads == 1 {
        tracing::info!("runtime: one event-loop thread");
        tokio::runtime::Builder::new_current_thread()
    } else {
        tracing::info!(threads, "runtime: multi-threaded I/O");
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(driver::run(start));
    // Tasks still blocked (a name lookup, a peer that does not read) must not delay the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
