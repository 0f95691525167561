//! The start-up flow every binary shares: read the command line, answer `--help`,
//! `--version` and `--check-config`, or else install the log subscriber and load the
//! configuration the balancer is to run with. The binary's `main` then only builds its
//! executor ([`worker_threads`]) and runs.

use crate::cli::{self, Command};
use crate::config_file;
use crate::logging::{self, LogControl};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use switchboard_core::config::Config;

/// What a binary runs with, once the command line and the configuration are read.
#[derive(Debug)]
pub struct Start {
    /// The effective configuration.
    pub config: Config,
    /// The file it came from (watched and reloaded); `None` for the embedded default.
    pub path: Option<PathBuf>,
    /// The log filter, for `/lbloglevel`.
    pub log: LogControl,
}

/// Reads the process's command line; see [`start_with`].
pub fn start(program: &str) -> Result<Start, ExitCode> {
    start_with(program, std::env::args().skip(1))
}

/// Reads the command line `args` (after the program name) of the binary called `program`.
/// `Err` is the exit code of a run that ends here: help, version or `--check-config` answered
/// (on stdout), a usage error (on stderr, exit 2), or a configuration file that cannot be
/// used (logged, exit 1). Otherwise the log subscriber is installed and the configuration,
/// loaded and logged, is returned to run with.
#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "--help, --version, --check-config and usage errors are command-line output, not logs"
)]
pub fn start_with<I: IntoIterator<Item = String>>(
    program: &str,
    args: I,
) -> Result<Start, ExitCode> {
    let args = match cli::parse(program, args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{program}: {e}\n\n{}", cli::help(program));
            return Err(ExitCode::from(2));
        }
    };
    match args.command {
        Command::Help => {
            println!("{}", cli::help(program));
            Err(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("{}", cli::version(program));
            Err(ExitCode::SUCCESS)
        }
        Command::CheckConfig { path } => Err(check_config(&path)),
        Command::Run { config: path } => {
            let log = logging::init(args.log_level.as_deref());
            for property in &args.ignored_properties {
                tracing::warn!(%property, "ignored system property");
            }
            let config = load(path.as_deref())?;
            Ok(Start { config, path, log })
        }
    }
}

/// `--check-config`: prints the effective configuration and its warnings, or the errors.
#[allow(
    clippy::print_stdout,
    reason = "--check-config answers on stdout, not in the log"
)]
fn check_config(path: &Path) -> ExitCode {
    match config_file::load(path) {
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
    }
}

/// The configuration to run with: the file's (its warnings logged) or the embedded default,
/// logged in full; exit code 1 with the errors logged if the file cannot be used.
fn load(path: Option<&Path>) -> Result<Config, ExitCode> {
    let config = match path {
        None => {
            tracing::info!("no --config given: using the embedded default configuration");
            Config::embedded_default()
        }
        Some(path) => match config_file::load(path) {
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
                return Err(ExitCode::FAILURE);
            }
        },
    };
    tracing::info!("effective configuration:\n{config}");
    Ok(config)
}

/// How many threads the executor runs I/O on, from `THREAD_POOL_SIZE` (`<sipStack>`). The core
/// is one task, so extra worker threads only add cross-thread wake-ups for every datagram:
/// unset or 1 means one event loop on one thread (measured 40 % less CPU per call than two
/// workers, see the README's benchmark); a larger value means that many I/O workers, at most
/// one per core, for TLS-heavy traffic.
pub fn worker_threads(config: &Config) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    clamp_threads(config.sip_stack.worker_threads, cores)
}

fn clamp_threads(requested: Option<u32>, cores: usize) -> usize {
    requested
        .map_or(1, |t| usize::try_from(t).unwrap_or(1))
        .clamp(1, cores.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(args: &[&str]) -> Result<Start, ExitCode> {
        start_with("switchboard", args.iter().map(|s| (*s).to_owned()))
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/tests/fixtures/config")
            .join(name)
    }

    #[test]
    fn answers_end_the_run() {
        assert_eq!(start(&["--help"]).unwrap_err(), ExitCode::SUCCESS);
        assert_eq!(start(&["-V"]).unwrap_err(), ExitCode::SUCCESS);
        assert_eq!(start(&["--frobnicate"]).unwrap_err(), ExitCode::from(2));
        let sample = fixture("reference-sample.xml");
        let sample = sample.to_str().unwrap();
        assert_eq!(
            start(&["--check-config", sample]).unwrap_err(),
            ExitCode::SUCCESS
        );
        let bad = fixture("bad-algorithm.xml");
        assert_eq!(
            start(&["--check-config", bad.to_str().unwrap()]).unwrap_err(),
            ExitCode::FAILURE
        );
    }

    #[test]
    fn loads_the_file_or_the_embedded_default() {
        assert_eq!(
            load(None).unwrap().to_string(),
            Config::embedded_default().to_string()
        );
        let sample = load(Some(&fixture("reference-sample.xml"))).unwrap();
        assert!(sample.to_string().contains("common.host = 172.21.0.105"));
        assert_eq!(
            load(Some(&fixture("malformed.xml"))).unwrap_err(),
            ExitCode::FAILURE
        );
    }

    /// The only test that installs the global log subscriber.
    #[test]
    fn a_run_starts_with_its_configuration_file() {
        let sample = fixture("reference-sample.xml");
        let arg = format!("-mobicents-balancer-config={}", sample.display());
        // Off: the subscriber is global, and the other tests' logs are not this test's output.
        let start = start(&[&arg, "-DlogLevel=OFF", "-Dfoo=bar"]).expect("runs");
        assert_eq!(start.path, Some(sample));
        assert!(start
            .config
            .to_string()
            .contains("common.host = 172.21.0.105"));
        start.log.set_level("off");
    }

    #[test]
    fn worker_threads_are_one_per_core_at_most() {
        assert_eq!(clamp_threads(None, 8), 1);
        assert_eq!(clamp_threads(Some(0), 8), 1);
        assert_eq!(clamp_threads(Some(1), 8), 1);
        assert_eq!(clamp_threads(Some(4), 8), 4);
        assert_eq!(clamp_threads(Some(64), 8), 8);
        assert_eq!(clamp_threads(Some(4), 0), 1);
        assert_eq!(worker_threads(&Config::embedded_default()), 1);
    }
}
