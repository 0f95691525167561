//! `switchboard-sim`: run a scenario file, or replay a recorded trace.
//!
//! ```text
//! switchboard-sim run FILE [--seed N] [--seeds N] [--trace OUT] [--bench]
//! switchboard-sim replay TRACE
//! ```
//! `run` prints a summary per seed and exits 1 if an invariant broke or an expectation was
//! not met; `--seeds N` runs seeds `N` consecutive seeds from the given (or scenario) seed;
//! `--bench` also prints the wall time and events per second. `replay` exits 1 if the
//! outputs differ from the recording.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use switchboard_sim::{trace, Scenario};

const USAGE: &str = "usage:\n  switchboard-sim run FILE [--seed N] [--seeds COUNT] [--trace OUT] [--bench]\n  switchboard-sim replay TRACE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("replay") => replay(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> ExitCode {
    let mut file = None;
    let mut seed = None;
    let mut seeds = 1u64;
    let mut trace_out: Option<PathBuf> = None;
    let mut bench = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let parsed: Result<(), String> = match a.as_str() {
            "--seed" => value("--seed").and_then(|v| {
                v.parse()
                    .map(|v| seed = Some(v))
                    .map_err(|e| format!("--seed: {e}"))
            }),
            "--seeds" => value("--seeds").and_then(|v| {
                v.parse()
                    .map(|v| seeds = v)
                    .map_err(|e| format!("--seeds: {e}"))
            }),
            "--trace" => value("--trace").map(|v| trace_out = Some(PathBuf::from(v))),
            "--bench" => {
                bench = true;
                Ok(())
            }
            other if file.is_none() && !other.starts_with("--") => {
                file = Some(PathBuf::from(other));
                Ok(())
            }
            other => Err(format!("unexpected argument {other:?}")),
        };
        if let Err(e) = parsed {
            eprintln!("switchboard-sim: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let Some(file) = file else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let scenario = match Scenario::from_file(&file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("switchboard-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let first = seed.unwrap_or(scenario.seed);
    let mut ok = true;
    let wall = std::time::Instant::now();
    for seed in first..first.saturating_add(seeds.max(1)) {
        let result = if trace_out.is_some() {
            switchboard_sim::run_traced(&scenario, seed).map(|(r, t)| (r, Some(t)))
        } else {
            switchboard_sim::run(&scenario, seed).map(|r| (r, None))
        };
        let (report, trace) = match result {
            Ok(x) => x,
            Err(e) => {
                eprintln!("switchboard-sim: {e}");
                return ExitCode::from(2);
            }
        };
        print!("{report}");
        if bench {
            println!(
                "  bench: {} calls, {} events in {:.3} s wall ({:.0} events/s)",
                report.placed,
                report.steps,
                report.wall.as_secs_f64(),
                report.steps as f64 / report.wall.as_secs_f64().max(1e-9)
            );
        }
        if let (Some(path), Some(t)) = (&trace_out, trace) {
            let path = if seeds > 1 {
                path.with_extension(format!("{seed}.jsonl"))
            } else {
                path.clone()
            };
            if let Err(e) = std::fs::write(&path, t.text) {
                eprintln!("switchboard-sim: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
            println!("  trace written to {}", path.display());
        }
        ok &= report.passed();
    }
    if seeds > 1 {
        println!(
            "{} seeds in {:.3} s wall: {}",
            seeds,
            wall.elapsed().as_secs_f64(),
            if ok { "all passed" } else { "FAILED" }
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn replay(args: &[String]) -> ExitCode {
    let [path] = args else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("switchboard-sim: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    match trace::replay(&text) {
        Ok(r) => {
            println!(
                "replayed {} inputs of scenario {} (seed {}): outputs identical, digests {:x?}",
                r.inputs, r.scenario, r.seed, r.digests
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("replay failed: {e}");
            ExitCode::from(1)
        }
    }
}
