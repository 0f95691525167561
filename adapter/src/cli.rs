//! Command-line parsing, with `clap`.
//!
//! Besides the usual long options, two spellings of the Java reference balancer are accepted:
//! `-mobicents-balancer-config=FILE` (single dash, rewritten to `--config` before `clap` sees
//! it) and Java system properties `-Dkey=value`, of which `-DlogLevel=LEVEL` sets the log level
//! and the others are reported as ignored. The program name is a parameter: each runtime's
//! binary has its own, shown in the usage and version texts.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use std::path::PathBuf;

/// The version `--version` prints after the program name.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print usage ([`help`]) and exit 0.
    Help,
    /// Print `<program> <version>` ([`version`]) and exit 0.
    Version,
    /// Validate a file and print the result.
    CheckConfig {
        /// The file to check.
        path: PathBuf,
    },
    /// Run the balancer.
    Run {
        /// The configuration file; `None` = embedded default.
        config: Option<PathBuf>,
    },
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// What to do.
    pub command: Command,
    /// Log level from `-DlogLevel=` / `--log-level` (a tracing filter directive).
    pub log_level: Option<String>,
    /// `-Dkey=value` system properties other than `logLevel`, accepted and ignored, as given.
    pub ignored_properties: Vec<String>,
}

/// A command line that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The options, as `clap` sees them (after [`normalise`]).
#[derive(Debug, Parser)]
#[command(
    about = "SIP, HTTP and SMPP load balancer",
    long_about = None,
    disable_help_flag = true,
    disable_version_flag = true,
    after_help = "\
The Java balancer's spellings work too: -mobicents-balancer-config=FILE, -DlogLevel=LEVEL.
Without --config the embedded default configuration (loopback) is used."
)]
struct Cli {
    /// Load lb-configuration.xml from FILE
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective configuration and warnings (exit 0) or the errors (exit 1)
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
    /// TRACE, DEBUG, INFO, WARN, ERROR or OFF (RUST_LOG also works)
    #[arg(long, value_name = "LEVEL", value_parser = log_filter, overrides_with = "log_level")]
    log_level: Option<String>,
    /// Java system property: -DlogLevel=LEVEL sets the log level, others are ignored
    #[arg(short = 'D', value_name = "KEY=VALUE", action = ArgAction::Append)]
    properties: Vec<String>,
    /// Print this help
    #[arg(short, long, action = ArgAction::SetTrue)]
    help: bool,
    /// Print the version
    #[arg(short = 'V', long, action = ArgAction::SetTrue)]
    version: bool,
}

/// Maps a log4j level name to a tracing filter directive.
pub fn log_filter(level: &str) -> Result<String, UsageError> {
    let filter = match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" | "ALL" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" | "WARNING" => "warn",
        "ERROR" | "FATAL" => "error",
        "OFF" => "off",
        _ => {
            return Err(UsageError(format!(
                "unknown log level {level:?} (expected TRACE, DEBUG, INFO, WARN, ERROR or OFF)"
            )))
        }
    };
    Ok(filter.to_owned())
}

/// The usage text of `--help` (and of usage errors) for the binary called `program`.
pub fn help(program: &str) -> String {
    command(program).render_help().to_string()
}

/// What `--version` prints: `<program> <version>`.
pub fn version(program: &str) -> String {
    format!("{program} {VERSION}")
}

fn command(program: &str) -> clap::Command {
    Cli::command()
        .name(program.to_owned())
        .bin_name(program.to_owned())
}

/// Rewrites the reference's spellings that `clap` cannot take into the long options.
fn normalise(arg: String) -> String {
    if arg == "-help" {
        return "--help".to_owned();
    }
    for (from, to) in [
        ("-mobicents-balancer-config", "--config"),
        ("--mobicents-balancer-config", "--config"),
        ("-DlogLevel", "--log-level"),
    ] {
        match arg.strip_prefix(from) {
            Some("") => return to.to_owned(),
            Some(value) if value.starts_with('=') => return format!("{to}{value}"),
            _ => {}
        }
    }
    arg
}

/// Parses the arguments after the program name; `program` names the binary in messages.
pub fn parse<I: IntoIterator<Item = String>>(program: &str, args: I) -> Result<Args, UsageError> {
    let argv = std::iter::once(program.to_owned()).chain(args.into_iter().map(normalise));
    let cli = command(program)
        .try_get_matches_from(argv)
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches))
        .map_err(usage_error)?;
    let command = if cli.help {
        Command::Help
    } else if cli.version {
        Command::Version
    } else {
        match (cli.check_config, cli.config) {
            (Some(_), Some(_)) => {
                return Err(UsageError(
                    "--check-config and --config cannot be combined".into(),
                ))
            }
            (Some(path), None) => Command::CheckConfig { path },
            (None, config) => Command::Run { config },
        }
    };
    Ok(Args {
        command,
        log_level: cli.log_level,
        ignored_properties: cli.properties.iter().map(|p| format!("-D{p}")).collect(),
    })
}

/// One line saying what is wrong, in place of `clap`'s message with usage and hints.
fn usage_error(error: clap::Error) -> UsageError {
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let message = match error.kind() {
        ErrorKind::UnknownArgument => {
            context(ContextKind::InvalidArg).map(|arg| format!("unknown argument {arg:?}"))
        }
        ErrorKind::ArgumentConflict => context(ContextKind::InvalidArg)
            .map(|arg| format!("{} is given twice", arg.split(' ').next().unwrap_or(&arg))),
        _ => None,
    };
    UsageError(message.unwrap_or_else(|| {
        let text = error.render().to_string();
        let first = text.lines().next().unwrap_or_default();
        first.strip_prefix("error: ").unwrap_or(first).to_owned()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, UsageError> {
        parse("switchboard", args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn forms() {
        assert_eq!(p(&[]).unwrap().command, Command::Run { config: None });
        let run = Command::Run {
            config: Some("a.xml".into()),
        };
        for args in [
            &["--config", "a.xml"][..],
            &["--config=a.xml"],
            &["-mobicents-balancer-config=a.xml"],
            &["-mobicents-balancer-config", "a.xml"],
            &["--mobicents-balancer-config=a.xml"],
        ] {
            assert_eq!(p(args).unwrap().command, run, "{args:?}");
        }
        let check = Command::CheckConfig {
            path: "a.xml".into(),
        };
        assert_eq!(p(&["--check-config", "a.xml"]).unwrap().command, check);
        assert_eq!(p(&["--check-config=a.xml"]).unwrap().command, check);
        for help in ["--help", "-h", "-help"] {
            assert_eq!(p(&[help]).unwrap().command, Command::Help, "{help}");
        }
        for version in ["--version", "-V"] {
            assert_eq!(
                p(&[version]).unwrap().command,
                Command::Version,
                "{version}"
            );
        }
        let a = p(&["-DlogLevel=DEBUG", "-Djava.net.preferIPv4Stack=true"]).unwrap();
        assert_eq!(a.log_level.as_deref(), Some("debug"));
        assert_eq!(a.ignored_properties, ["-Djava.net.preferIPv4Stack=true"]);
    }

    #[test]
    fn log_levels() {
        let level = |args: &[&str]| p(args).unwrap().log_level;
        assert_eq!(level(&["--log-level", "warn"]).as_deref(), Some("warn"));
        assert_eq!(level(&["--log-level=FATAL"]).as_deref(), Some("error"));
        assert_eq!(level(&["-DlogLevel", "TRACE"]).as_deref(), Some("trace"));
        // Given twice, the last one counts.
        assert_eq!(
            level(&["-DlogLevel=INFO", "--log-level", "OFF"]).as_deref(),
            Some("off")
        );
        assert_eq!(level(&[]), None);
    }

    #[test]
    fn help_wins_over_everything_else() {
        let a = p(&["--config", "a", "--check-config", "b", "--help"]).unwrap();
        assert_eq!(a.command, Command::Help);
        assert_eq!(p(&["-V", "-h"]).unwrap().command, Command::Help);
    }

    #[test]
    fn errors() {
        let error = |args: &[&str]| p(args).expect_err("a usage error").0;
        assert_eq!(error(&["--bogus"]), r#"unknown argument "--bogus""#);
        assert_eq!(error(&["stray"]), r#"unknown argument "stray""#);
        assert!(error(&["--config"]).contains("--config"));
        assert!(error(&["--config="]).contains("--config"));
        assert!(error(&["-DlogLevel=LOUD"]).contains("unknown log level"));
        assert_eq!(
            error(&["--config", "a", "--check-config", "b"]),
            "--check-config and --config cannot be combined"
        );
        assert_eq!(
            error(&["--config", "a", "-mobicents-balancer-config=b"]),
            "--config is given twice"
        );
        assert_eq!(
            error(&["--check-config", "a", "--check-config", "b"]),
            "--check-config is given twice"
        );
    }

    #[test]
    fn help_and_version_name_the_program() {
        let text = help("switchboard-smol");
        assert!(text.contains("Usage: switchboard-smol [OPTIONS]"), "{text}");
        for option in [
            "--config <FILE>",
            "--check-config <FILE>",
            "--log-level <LEVEL>",
        ] {
            assert!(text.contains(option), "{option} in {text}");
        }
        assert!(text.contains("-mobicents-balancer-config=FILE"), "{text}");
        assert!(text.contains("-DlogLevel=LEVEL"), "{text}");
        assert!(text.contains("-V, --version"), "{text}");
        assert_eq!(
            version("switchboard"),
            format!("switchboard {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
