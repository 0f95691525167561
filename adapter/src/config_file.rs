//! Reading `lb-configuration.xml` from disk: at start-up, for `--check-config`, and again on
//! reload ([`crate::watch`]). Parsing and validation are the core's; this only reads the file
//! and names it in every error.

use std::path::{Path, PathBuf};
use switchboard_core::config::{Config, ConfigErrors, Loaded};

/// A configuration file that cannot be used. `Display` prints one line per problem, each
/// prefixed with the file name (element path, or line and column, included).
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
    /// The file is malformed or invalid.
    #[error("{}", lines(path, errors).join("\n"))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every error found.
        errors: ConfigErrors,
    },
}

impl ConfigFileError {
    /// The problems, one per line, as `Display` prints them.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ConfigFileError::Invalid { path, errors } => lines(path, errors),
            read @ ConfigFileError::Read { .. } => vec![read.to_string()],
        }
    }
}

fn lines(path: &Path, errors: &ConfigErrors) -> Vec<String> {
    errors
        .errors()
        .iter()
        .map(|e| format!("{}: {e}", path.display()))
        .collect()
}

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Loaded, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    Config::from_xml(&text).map_err(|errors| ConfigFileError::Invalid {
        path: path.to_owned(),
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/tests/fixtures/config")
            .join(name)
    }

    #[test]
    fn the_reference_sample_loads_with_warnings() {
        let loaded = load(&fixture("reference-sample.xml")).expect("valid");
        assert!(!loaded.warnings.is_empty());
    }

    #[test]
    fn every_error_line_names_the_file() {
        let path = fixture("bad-algorithm.xml");
        let error = load(&path).expect_err("invalid");
        let lines = error.lines();
        assert!(!lines.is_empty());
        for line in &lines {
            assert!(line.starts_with(&path.display().to_string()), "{line}");
        }
        assert_eq!(error.to_string(), lines.join("\n"));
        assert!(error.to_string().contains("sip/algorithm/algorithmClass"));
    }

    #[test]
    fn malformed_xml_names_line_and_column() {
        let error = load(&fixture("malformed.xml")).expect_err("malformed");
        assert!(error.to_string().contains("line 5, column 3"), "{error}");
    }

    #[test]
    fn a_missing_file_cannot_be_read() {
        let error = load(Path::new("/nonexistent/lb-configuration.xml")).expect_err("missing");
        assert!(
            error
                .to_string()
                .starts_with("cannot read /nonexistent/lb-configuration.xml: "),
            "{error}"
        );
        assert_eq!(error.lines().len(), 1);
    }
}
