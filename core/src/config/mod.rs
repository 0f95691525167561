//! `lb-configuration.xml` parsed into typed, validated structs (behaviour reference §8,
//! docs/decisions.md §1, §9.1 and §9.2).
//!
//! Use [`Config::from_xml`] on the text of an operator's file (the caller reads the file) and
//! [`Config::embedded_default`] when no file is given. Both return the same [`Config`]; other
//! modules read its fields directly, e.g. `config.sip.algorithm.kind`,
//! `config.common.node_timeout`, `config.sip.external.ports.udp`,
//! `config.sip_stack.max_message_size`.
//!
//! Compared with the reference's loader: missing sections and empty elements take the code
//! defaults instead of failing; both spellings of the keys the reference and its documentation
//! disagree on are accepted; every problem in the file is reported at once, each naming its
//! element path; keys that are read but have no effect are warnings, never silence.

mod build;
mod build_nodes;
mod build_services;
mod error;
mod raw;
mod render;
mod section;
mod types;
mod validate;

pub use error::{ConfigError, ConfigErrors, ConfigWarning};
pub use types::{
    AlgorithmConfig, AlgorithmKind, CommonConfig, Config, HeartbeatConfig, HostPort, HttpConfig,
    LegConfig, LegPorts, ProbingConfig, ReplyCode, ReplyCodes, RoutingRule, SipConfig,
    SipStackConfig, SmppConfig, SmppToNodeAlgorithm, SmppToProviderAlgorithm, SslConfig,
    StaticNode, TlsClientAuth, UrlRewriteRule, JAVA_ALGORITHM_PACKAGE,
};

use section::Ctx;

/// The root element of `lb-configuration.xml`.
pub const ROOT: &str = "load-balancer-properties";

/// The embedded default configuration file (loopback; see [`Config::embedded_default`]).
pub const DEFAULT_XML: &str = include_str!("default.xml");

/// A configuration that loaded, with the warnings to log at startup.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective configuration.
    pub config: Config,
    /// Keys without effect, unknown elements, superseded spellings, in document order.
    pub warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Parses and validates the text of an `lb-configuration.xml`. On failure every error found
    /// is returned (malformed XML stops at the first one, with its line and column).
    pub fn from_xml(text: &str) -> Result<Loaded, ConfigErrors> {
        let root = raw::parse(text).map_err(|e| ConfigErrors(vec![e]))?;
        let mut ctx = Ctx::default();
        let config = build::build(&root, &mut ctx);
        validate::validate(&config, &mut ctx);
        if ctx.errors.is_empty() {
            Ok(Loaded {
                config,
                warnings: ctx.warnings,
            })
        } else {
            Err(ConfigErrors(ctx.errors))
        }
    }

    /// The configuration used when no file is given: loopback, external SIP UDP/TCP 5060,
    /// internal SIP UDP/TCP 5065, heartbeat 2610, management API 2006, HTTP 2080, Call-ID
    /// affinity.
    pub fn embedded_default() -> Config {
        match Config::from_xml(DEFAULT_XML) {
            Ok(loaded) => loaded.config,
            // The embedded file is covered by tests; this cannot happen in a released build.
            Err(errors) => panic!("embedded default configuration is invalid: {errors}"),
        }
    }

    /// The effective configuration as `section.key = value` lines (same as `Display`).
    pub fn render(&self) -> String {
        self.to_string()
    }
}
