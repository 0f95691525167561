//! `smpp-load`: SMPP 3.4 load for the balancer's benchmark (`bench/smpp-vs-direct.sh`).
//!
//! ```text
//! smpp-load smsc --port P [--bind-addr 127.0.0.1] [--threads 1] [--delay-ms 0]
//! smpp-load esme --target HOST:PORT --system-id X --password Y [--system-type T]
//!                --connections C --window W (--count N | --duration S)
//!                [--timeout S] [--message-len L] [--threads 1]
//! ```
//! `smsc` answers every bind, `enquire_link`, `unbind` and `submit_sm`/`data_sm` with ESME_ROK
//! (a unique message_id for each message) and prints its port on start; with `--delay-ms D`
//! each `submit_sm_resp`/`data_sm_resp` leaves D ms after its request arrived (a provider's
//! latency), the other answers at once. `esme` binds C transceiver sessions, keeps W
//! `submit_sm` outstanding on each, and prints one JSON line: `pdus` (ESME_ROK responses),
//! `errors` (other statuses, `generic_nack`s, stray and missing responses), `elapsed_s`, `rate`
//! (PDU/s), `p50_ms`, `p99_ms`. Exit status 1 when the sessions could not be bound (nothing was
//! sent), 2 on a usage error.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod esme;
mod pdu;
mod smsc;
mod stats;

use clap::{ArgGroup, Parser, Subcommand};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

/// SMPP 3.4 load for the balancer's benchmark.
#[derive(Debug, Parser)]
#[command(name = "smpp-load")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// An SMSC answering everything with ESME_ROK, as fast as it can or after a set delay.
    Smsc {
        /// Port to listen on (0: any free port; the port is printed).
        #[arg(long)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind_addr: IpAddr,
        /// Executor threads (1: one event loop on the main thread).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Milliseconds between a submit_sm (or data_sm) arriving and its response leaving
        /// (0: at once). Other PDUs are answered at once.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// An ESME offering pipelined submit_sm load and measuring it.
    #[command(group(ArgGroup::new("amount").required(true).args(["count", "duration"])))]
    Esme {
        /// The SMSC or balancer, HOST:PORT.
        #[arg(long)]
        target: String,
        /// Bind system_id.
        #[arg(long)]
        system_id: String,
        /// Bind password.
        #[arg(long)]
        password: String,
        /// Bind system_type.
        #[arg(long, default_value = "")]
        system_type: String,
        /// Transceiver sessions.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// Outstanding submit_sm per session.
        #[arg(long, default_value_t = 1)]
        window: usize,
        /// Stop after this many submit_sm over all sessions.
        #[arg(long)]
        count: Option<u64>,
        /// Stop sending after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// Hard limit for the whole run in seconds (default: 60 with --count, the duration
        /// plus 20 otherwise).
        #[arg(long)]
        timeout: Option<f64>,
        /// Octets of each short message.
        #[arg(long, default_value_t = 20)]
        message_len: usize,
        /// Executor threads (1: one event loop on the main thread).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

fn seconds(name: &str, s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|e| format!("--{name} {s}: {e}"))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Smsc {
            port,
            bind_addr,
            threads,
            delay_ms,
        } => {
            let delay = Duration::from_millis(delay_ms);
            let result =
                runtime(threads).and_then(|rt| rt.block_on(smsc::run(bind_addr, port, delay)));
            if let Err(e) = result {
                eprintln!("smsc: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Command::Esme {
            target,
            system_id,
            password,
            system_type,
            connections,
            window,
            count,
            duration,
            timeout,
            message_len,
            threads,
        } => {
            let parsed = (|| {
                let amount = match (count, duration) {
                    (Some(n), _) => esme::Amount::Count(n),
                    (None, Some(s)) => esme::Amount::Duration(seconds("duration", s)?),
                    (None, None) => return Err("--count or --duration".to_owned()),
                };
                let timeout = match (timeout, amount) {
                    (Some(s), _) => seconds("timeout", s)?,
                    (None, esme::Amount::Count(_)) => Duration::from_secs(60),
                    (None, esme::Amount::Duration(d)) => d + Duration::from_secs(20),
                };
                Ok(esme::Options {
                    target,
                    system_id,
                    password,
                    system_type,
                    connections: connections.max(1),
                    window: window.max(1),
                    amount,
                    timeout,
                    message_len,
                })
            })();
            let options = match parsed {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("esme: {e}");
                    return ExitCode::from(2);
                }
            };
            let report = match runtime(threads) {
                Ok(rt) => rt.block_on(esme::run(options.clone())),
                Err(e) => Err(e.to_string()),
            };
            match report {
                Ok(report) => {
                    println!("{}", report.json(&options));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("esme: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
