//! The tracing subscriber of a binary: `-DlogLevel=` / `--log-level` if given, else
//! `RUST_LOG`, else `info`, written to stderr. The filter can be replaced at run time
//! (`/lbloglevel`) through [`LogControl`].

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Changes the log filter of the running process.
#[derive(Debug, Clone)]
pub struct LogControl(reload::Handle<EnvFilter, Registry>);

impl LogControl {
    /// Sets the filter to a log4j level name (`DEBUG`, `WARN`, …) or a tracing directive.
    pub fn set_level(&self, level: &str) {
        let directive = crate::cli::log_filter(level).unwrap_or_else(|_| level.to_owned());
        match EnvFilter::try_new(&directive) {
            Ok(filter) => match self.0.reload(filter) {
                Ok(()) => tracing::info!(%directive, "log level changed"),
                Err(error) => tracing::warn!(%error, "cannot change the log level"),
            },
            Err(error) => tracing::warn!(%level, %error, "ignoring an invalid log level"),
        }
    }
}

impl LogControl {
    /// A control over a filter no subscriber uses, for tests of what holds one.
    #[cfg(test)]
    pub(crate) fn detached() -> LogControl {
        LogControl(reload::Layer::new(EnvFilter::new("info")).1)
    }
}

/// Installs the global subscriber writing to stderr. Call once per process.
pub fn init(level: Option<&str>) -> LogControl {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colours only on a terminal: log files and journald get plain text.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    LogControl(handle)
}
