//! `switchboard`: the SIP/HTTP/SMPP load balancer binary (tokio adapter).
//!
//! It loads and validates the configuration, opens the sockets the core names and drives the
//! core ([`driver`]) until SIGINT/SIGTERM or `/lbstop`.

#![forbid(unsafe_code)]

mod cli;
mod config_file;
mod conn;
mod driver;
mod errqueue;
mod logging;
mod net;
mod tls;
mod ws;

use cli::Command;
use config_file::load as read_config;
use std::path::Path;
use std::process::ExitCode;
use switchboard_core::config::Config;

#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "--check-config and usage errors are command-line output, not logs"
)]
fn main() -> ExitCode {
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("switchboard: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match args.command {
        Command::Help => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::CheckConfig { path } => match read_config(&path) {
            Ok(loaded) => {
                print!("{}", loaded.config);
                for w in &loaded.warnings {
                    println!("warning: {w}");
                }
                println!("{}: configuration OK", path.display());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                println!("{errors}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config } => {
            let log = logging::init(args.log_level.as_deref());
            for property in &args.ignored_properties {
                tracing::warn!(%property, "ignored system property");
            }
            run(config.as_deref(), log)
        }
    }
}

fn run(path: Option<&Path>, log: logging::LogControl) -> ExitCode {
    let config = match path {
        None => {
            tracing::info!("no --config given: using the embedded default configuration");
            Config::embedded_default()
        }
        Some(path) => match read_config(path) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!("{w}");
                }
                loaded.config
            }
            Err(errors) => {
                for line in errors.lines() {
                    tracing::error!("{line}");
                }
                return ExitCode::FAILURE;
            }
        },
    };
    tracing::info!("effective configuration:\n{config}");
    let mut builder = runtime_builder(config.sip_stack.worker_threads);
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(driver::run(config, path.map(Path::to_path_buf), log));
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

/// The tokio runtime for `THREAD_POOL_SIZE` (`<sipStack>`). The core is one task, so extra
/// worker threads only add cross-thread wake-ups for every datagram: unset or 1 runs one
/// event loop on one thread (measured 40 % less CPU per call than two workers, see the
/// README's benchmark); a larger value runs that many I/O workers, at most one per core, for
/// TLS-heavy traffic.
fn runtime_builder(threads: Option<u32>) -> tokio::runtime::Builder {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = threads
        .map_or(1, |t| usize::try_from(t).unwrap_or(1))
        .clamp(1, cores);
    if threads == 1 {
        tracing::info!("runtime: one event-loop thread");
        tokio::runtime::Builder::new_current_thread()
    } else {
        tracing::info!(threads, "runtime: multi-threaded I/O");
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    }
}
