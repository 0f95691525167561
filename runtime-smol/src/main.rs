//! `switchboard-smol`: the SIP/HTTP/SMPP load balancer binary on the smol runtime.
//!
//! Everything that needs no executor (command line, configuration, logging, TLS
//! configurations, socket creation, the core loop) is `switchboard-adapter`'s; this crate
//! holds only what is smol's: tasks, sockets, the timer, signals and the TLS stream wrappers.

#![forbid(unsafe_code)]

mod conn;
mod driver;
#[cfg(test)]
mod flow_tests;
mod udp;

use smol::{Executor, Task};
use std::future::Future;
use std::process::ExitCode;
use switchboard_adapter::startup;

/// The executor of every I/O task. The main thread runs it around the core task; extra
/// threads (`THREAD_POOL_SIZE` > 1) run it too.
static EXECUTOR: Executor<'static> = Executor::new();

/// Spawns an I/O task; dropping the returned [`Task`] cancels it (or `detach` it).
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    EXECUTOR.spawn(future)
}

fn main() -> ExitCode {
    let start = match startup::start("switchboard-smol") {
        Ok(start) => start,
        Err(code) => return code,
    };
    let threads = startup::worker_threads(&start.config);
    // The core is one task, so extra threads only add cross-thread wake-ups for every
    // datagram: one thread runs one event loop; more threads run that many I/O workers, for
    // TLS-heavy traffic. The core task stays on the main thread.
    if threads == 1 {
        tracing::info!("runtime: one event-loop thread");
    } else {
        tracing::info!(threads, "runtime: multi-threaded I/O");
    }
    for n in 1..threads {
        let worker = std::thread::Builder::new().name(format!("switchboard-io-{n}"));
        let spawned = worker.spawn(|| smol::block_on(EXECUTOR.run(smol::future::pending::<()>())));
        if let Err(e) = spawned {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    }
    // Tasks still blocked (a name lookup, a peer that does not read) end with the process.
    match smol::block_on(EXECUTOR.run(driver::run(start))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
