//! Command-line parsing (hand-written: a handful of flags, plus the reference's single-dash
//! `-mobicents-balancer-config=FILE` and Java-style `-DlogLevel=DEBUG` forms that argument
//! parsers do not accept).

use std::fmt;
use std::path::PathBuf;

/// Usage text printed by `--help` and on usage errors.
pub const USAGE: &str = "\
Usage: switchboard [OPTIONS]

Options:
  --config FILE                        load lb-configuration.xml from FILE
  -mobicents-balancer-config=FILE      same, in the Restcomm load balancer's spelling
  --check-config FILE                  print the effective configuration and warnings, exit 0;
                                       or print the errors and exit 1
  -DlogLevel=LEVEL, --log-level LEVEL  TRACE, DEBUG, INFO, WARN, ERROR (RUST_LOG also works)
  -h, --help                           print this help

Without --config the embedded default configuration (loopback) is used.";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print usage and exit 0.
    Help,
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
    /// `-Dkey=value` system properties other than `logLevel`, accepted and ignored.
    pub ignored_properties: Vec<String>,
}

/// A command line that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
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

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Args, UsageError> {
    let mut args = args.into_iter();
    let mut config: Option<PathBuf> = None;
    let mut check: Option<PathBuf> = None;
    let mut help = false;
    let mut log_level = None;
    let mut ignored_properties = Vec::new();
    let value =
        |name: &str, inline: Option<&str>, rest: &mut dyn Iterator<Item = String>| match inline {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            Some(_) => Err(UsageError(format!("{name} needs a value"))),
            None => rest
                .next()
                .ok_or_else(|| UsageError(format!("{name} needs a value"))),
        };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v)),
            None => (arg.clone(), None),
        };
        match name.as_str() {
            "-h" | "--help" | "-help" if inline.is_none() => help = true,
            "--config" | "-mobicents-balancer-config" | "--mobicents-balancer-config" => {
                let v = value(&name, inline, &mut args)?;
                if config.replace(PathBuf::from(v)).is_some() {
                    return Err(UsageError("the configuration file is given twice".into()));
                }
            }
            "--check-config" => {
                let v = value(&name, inline, &mut args)?;
                if check.replace(PathBuf::from(v)).is_some() {
                    return Err(UsageError("--check-config is given twice".into()));
                }
            }
            "--log-level" | "-DlogLevel" => {
                log_level = Some(log_filter(&value(&name, inline, &mut args)?)?);
            }
            property if property.starts_with("-D") && property.len() > 2 => {
                ignored_properties.push(arg.clone());
            }
            _ => return Err(UsageError(format!("unknown argument {arg:?}"))),
        }
    }
    let command = match (help, check, config) {
        (true, _, _) => Command::Help,
        (false, Some(_), Some(_)) => {
            return Err(UsageError(
                "--check-config and --config cannot be combined".into(),
            ))
        }
        (false, Some(path), None) => Command::CheckConfig { path },
        (false, None, config) => Command::Run { config },
    };
    Ok(Args {
        command,
        log_level,
        ignored_properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, UsageError> {
        parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn forms() {
        assert_eq!(p(&[]).unwrap().command, Command::Run { config: None });
        let run = Command::Run {
            config: Some("a.xml".into()),
        };
        assert_eq!(p(&["--config", "a.xml"]).unwrap().command, run);
        assert_eq!(p(&["--config=a.xml"]).unwrap().command, run);
        assert_eq!(
            p(&["-mobicents-balancer-config=a.xml"]).unwrap().command,
            run
        );
        assert_eq!(
            p(&["--check-config", "a.xml"]).unwrap().command,
            Command::CheckConfig {
                path: "a.xml".into()
            }
        );
        assert_eq!(p(&["--help"]).unwrap().command, Command::Help);
        let a = p(&["-DlogLevel=DEBUG", "-Djava.net.preferIPv4Stack=true"]).unwrap();
        assert_eq!(a.log_level.as_deref(), Some("debug"));
        assert_eq!(a.ignored_properties, ["-Djava.net.preferIPv4Stack=true"]);
    }

    #[test]
    fn errors() {
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["--config"]).is_err());
        assert!(p(&["-DlogLevel=LOUD"]).is_err());
        assert!(p(&["--config", "a", "--check-config", "b"]).is_err());
    }
}
