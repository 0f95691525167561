//! Reading `lb-configuration.xml` from disk: at start-up, for `--check-config`, and again on
//! SIGHUP. Parsing and validation are the core's; this only reads the file and formats errors.

use std::path::Path;
use switchboard_core::config::{Config, ConfigErrors, Loaded};

/// Reads and validates the configuration file at `path`. The error text has one line per
/// problem, each prefixed with the file name (element path or line and column included).
pub fn load(path: &Path) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Config::from_xml(&text).map_err(|errors: ConfigErrors| {
        errors
            .errors()
            .iter()
            .map(|e| format!("{}: {e}", path.display()))
            .collect::<Vec<_>>()
            .join("\n")
    })
}
