//! The tracing subscriber of the binary: `-DlogLevel=` / `--log-level` if given, else
//! `RUST_LOG`, else `info`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber writing to stderr.
pub fn init(level: Option<&str>) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
