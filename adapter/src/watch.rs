//! Reloading the configuration file while running: on SIGHUP, and when the file changes.
//!
//! Like the Java reference balancer, which looks at the file's modification time every two
//! seconds, [`ConfigWatch`] polls: a runtime calls [`ConfigWatch::poll`] every
//! [`ConfigWatch::INTERVAL`] and, when it reports a change, [`ConfigWatch::reload`]. SIGHUP
//! goes through the same reload ([`reload_on_signal`]). An invalid file is reported line by
//! line and changes nothing: the running configuration stays in force.

use crate::config_file::{self, ConfigFileError};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use switchboard_core::algorithm::AlgorithmError;
use switchboard_core::balancer::{Balancer, ReloadReport};
use switchboard_core::time::Timestamp;

/// A reload that did not happen; the running configuration stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file cannot be read, or is invalid.
    #[error(transparent)]
    File(#[from] ConfigFileError),
    /// The balancer refused the new configuration (its algorithm cannot be built).
    #[error(transparent)]
    Rejected(#[from] AlgorithmError),
}

/// A change of the watched file, reported by [`ConfigWatch::poll`]: reload it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a changed file is applied with ConfigWatch::reload"]
pub struct Reload;

impl Reload {
    /// What the reload's log lines name as its cause.
    pub fn why(self) -> &'static str {
        "configuration file changed"
    }
}

/// What a look at the file found: its modification time and length (`None` while it cannot
/// be read, e.g. between an editor's delete and rename).
type Stamp = Option<(Option<SystemTime>, u64)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

/// Watches the configuration file for changes, by modification time and length.
#[derive(Debug, Clone)]
pub struct ConfigWatch {
    path: PathBuf,
    seen: Stamp,
}

impl ConfigWatch {
    /// How often a runtime calls [`ConfigWatch::poll`] (the Java reference's period).
    pub const INTERVAL: Duration = Duration::from_secs(2);

    /// Watches `path`, as it is now: the file that was just loaded.
    pub fn new(path: impl Into<PathBuf>) -> ConfigWatch {
        let path = path.into();
        let seen = stamp(&path);
        ConfigWatch { path, seen }
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Looks at the file: `Some` if its modification time or length changed since the last
    /// look (or it appeared or disappeared), once per change.
    pub fn poll(&mut self) -> Option<Reload> {
        let now = stamp(&self.path);
        if now == self.seen {
            return None;
        }
        self.seen = now;
        Some(Reload)
    }

    /// Re-reads the file and applies it to `balancer` ([`reload`]); `why` (e.g. "SIGHUP",
    /// [`Reload::why`]) starts every log line. The file as it is now counts as seen, so a
    /// change reloaded on SIGHUP is not reloaded again at the next poll.
    pub fn reload(
        &mut self,
        balancer: &mut Balancer,
        now: Timestamp,
        why: &str,
    ) -> Result<ReloadReport, ReloadError> {
        // Looked at before reading: a write in between is seen, and reloaded, at the next poll.
        self.seen = stamp(&self.path);
        reload(&self.path, balancer, now, why)
    }
}

/// SIGHUP: reloads the watched file, or says that there is none (the embedded default
/// configuration is running).
pub fn reload_on_signal(
    watch: Option<&mut ConfigWatch>,
    balancer: &mut Balancer,
    now: Timestamp,
) -> Option<Result<ReloadReport, ReloadError>> {
    let Some(watch) = watch else {
        tracing::warn!("SIGHUP: running on the embedded default configuration, nothing to reload");
        return None;
    };
    Some(watch.reload(balancer, now, "SIGHUP"))
}

/// Reads and validates the file at `path` and applies it to `balancer`
/// ([`Balancer::reconfigure`]), logging the outcome: each error line, or the configuration's
/// warnings, the reload and every change that needs a restart. On an error nothing changes.
pub fn reload(
    path: &Path,
    balancer: &mut Balancer,
    now: Timestamp,
    why: &str,
) -> Result<ReloadReport, ReloadError> {
    let loaded = config_file::load(path).inspect_err(|errors| {
        for line in errors.lines() {
            tracing::error!("{why}: configuration not reloaded: {line}");
        }
    })?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let report = balancer
        .reconfigure(loaded.config, now)
        .inspect_err(|e| tracing::error!("{why}: configuration not reloaded: {e}"))?;
    tracing::info!(
        file = %path.display(),
        algorithms_rebuilt = report.algorithms_rebuilt,
        listeners_opened = report.listeners_opened,
        listeners_closed = report.listeners_closed,
        "{why}: configuration reloaded"
    );
    for what in &report.needs_restart {
        tracing::warn!("changed but needs a restart to apply: {what}");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::config::{Config, DEFAULT_XML};

    /// A configuration file in a directory of its own, removed at the end of the test.
    struct TempFile {
        dir: PathBuf,
        path: PathBuf,
    }

    impl TempFile {
        fn new(test: &str, text: &str) -> TempFile {
            let dir = std::env::temp_dir().join(format!(
                "switchboard-adapter-watch-{test}-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("lb-configuration.xml");
            std::fs::write(&path, text).unwrap();
            TempFile { dir, path }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn balancer() -> Balancer {
        Balancer::new(Config::embedded_default(), Timestamp::ZERO).expect("balancer")
    }

    fn with_node_timeout(ms: u32) -> String {
        DEFAULT_XML.replace(
            "<nodeTimeout>8400</nodeTimeout>",
            &format!("<nodeTimeout>{ms}</nodeTimeout>"),
        )
    }

    #[test]
    fn an_unchanged_file_reports_nothing() {
        let file = TempFile::new("unchanged", DEFAULT_XML);
        let mut watch = ConfigWatch::new(&file.path);
        assert_eq!(watch.path(), file.path);
        assert_eq!(watch.poll(), None);
        assert_eq!(watch.poll(), None);
    }

    #[test]
    fn a_rewritten_file_reports_once() {
        let file = TempFile::new("rewritten", DEFAULT_XML);
        let mut watch = ConfigWatch::new(&file.path);
        // A different length: seen even where modification times are coarse.
        std::fs::write(&file.path, with_node_timeout(12000)).unwrap();
        assert_eq!(watch.poll(), Some(Reload));
        assert_eq!(watch.poll(), None);
        // Gone, then back.
        std::fs::remove_file(&file.path).unwrap();
        assert_eq!(watch.poll(), Some(Reload));
        assert_eq!(watch.poll(), None);
        std::fs::write(&file.path, DEFAULT_XML).unwrap();
        assert_eq!(watch.poll(), Some(Reload));
        assert_eq!(watch.poll(), None);
    }

    #[test]
    fn a_valid_file_is_applied() {
        let file = TempFile::new("valid", DEFAULT_XML);
        let mut watch = ConfigWatch::new(&file.path);
        let mut balancer = balancer();
        std::fs::write(
            &file.path,
            with_node_timeout(12000).replace("<udpPort>5060</udpPort>", "<udpPort>5070</udpPort>"),
        )
        .unwrap();
        let change = watch.poll().expect("changed");
        let report = watch
            .reload(&mut balancer, Timestamp::ZERO, change.why())
            .expect("reloaded");
        assert_eq!(
            balancer.config().common.node_timeout,
            Duration::from_millis(12000)
        );
        // The moved port is closed and opened again; nothing needs a restart.
        assert!(
            report.needs_restart.is_empty(),
            "{:?}",
            report.needs_restart
        );
        assert_eq!((report.listeners_opened, report.listeners_closed), (1, 1));
    }

    #[test]
    fn an_invalid_file_keeps_the_running_configuration() {
        let file = TempFile::new("invalid", DEFAULT_XML);
        let mut watch = ConfigWatch::new(&file.path);
        let mut balancer = balancer();
        let before = balancer.config().to_string();
        std::fs::write(&file.path, with_node_timeout(12000).replace("</sip>", "")).unwrap();
        let change = watch.poll().expect("changed");
        let error = watch
            .reload(&mut balancer, Timestamp::ZERO, change.why())
            .expect_err("invalid");
        assert!(matches!(error, ReloadError::File(_)), "{error}");
        assert_eq!(balancer.config().to_string(), before);
        assert_eq!(watch.poll(), None, "the invalid file counts as seen");
    }

    #[test]
    fn a_signal_reloads_the_file_and_counts_it_as_seen() {
        let file = TempFile::new("signal", DEFAULT_XML);
        let mut watch = ConfigWatch::new(&file.path);
        let mut balancer = balancer();
        std::fs::write(&file.path, with_node_timeout(9000)).unwrap();
        let reloaded = reload_on_signal(Some(&mut watch), &mut balancer, Timestamp::ZERO);
        assert!(matches!(reloaded, Some(Ok(_))), "{reloaded:?}");
        assert_eq!(
            balancer.config().common.node_timeout,
            Duration::from_millis(9000)
        );
        assert_eq!(watch.poll(), None);
        // Without a file there is nothing to reload.
        assert!(reload_on_signal(None, &mut balancer, Timestamp::ZERO).is_none());
    }
}
