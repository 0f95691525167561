//! Configuration errors (the file is refused) and warnings (the file is accepted, but something
//! in it has no effect). Every message starts with the element path, e.g. `sip/external/tcpPort`.

use std::fmt;

/// One reason why a configuration file is refused. Collected in [`ConfigErrors`]; each
/// `Display` names the element path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The document is not well-formed XML.
    #[error("malformed XML at line {line}, column {column}: {message}")]
    Xml {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// What the XML reader complained about.
        message: String,
    },
    /// The root element is not `<load-balancer-properties>`.
    #[error("{found}: the root element must be <load-balancer-properties>")]
    WrongRoot {
        /// The root element found instead.
        found: String,
    },
    /// A port that is not a number in 0..=65535.
    #[error("{path}: invalid port {value:?} (expected a number from 0 to 65535, 0 = off)")]
    InvalidPort {
        /// Element path.
        path: String,
        /// The text found.
        value: String,
    },
    /// A value that is not of the expected type or not one of the allowed values.
    #[error("{path}: invalid value {value:?} ({expected})")]
    InvalidValue {
        /// Element path.
        path: String,
        /// The text found.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// `algorithmClass` names no known algorithm.
    #[error("{path}: unknown algorithm {value:?} (expected one of: {known})")]
    UnknownAlgorithm {
        /// Element path.
        path: String,
        /// The text found.
        value: String,
        /// Accepted names.
        known: String,
    },
    /// Two listeners would bind the same port on the same address.
    #[error("{path}: port {port}/{protocol} on {host} is already used by {other}")]
    PortClash {
        /// Element path of the second listener.
        path: String,
        /// Element path of the first listener.
        other: String,
        /// The port.
        port: u16,
        /// `udp` or `tcp`.
        protocol: &'static str,
        /// The bind address both listeners use (`*` = all interfaces).
        host: String,
    },
    /// An IP load balancer address without any IP load balancer port.
    #[error("{path}: an IP load balancer address is set but no ipLoadBalancer*Port is configured for it")]
    IpLoadBalancerWithoutPort {
        /// Element path of the address.
        path: String,
    },
    /// In two-entry mode an external IP-LB port needs the internal one of the same transport.
    #[error("{path}: is set but {missing} is not (both legs have an IP load balancer address)")]
    IpLoadBalancerPortUnpaired {
        /// Element path of the external port.
        path: String,
        /// Element path of the missing internal port.
        missing: String,
    },
    /// A duration below the reference's minimum.
    #[error("{path}: {value} ms is too small (minimum {min} ms)")]
    TooSmall {
        /// Element path.
        path: String,
        /// The value in milliseconds.
        value: u64,
        /// The minimum in milliseconds.
        min: u64,
    },
    /// A number outside the range the balancer accepts for it.
    #[error("{path}: {value} is too {too} (allowed {min} to {max}: {reason})")]
    OutOfRange {
        /// Element path.
        path: String,
        /// The value found.
        value: u64,
        /// `small` or `large`.
        too: &'static str,
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
        /// Why the range is what it is.
        reason: &'static str,
    },
    /// A TLS listener without a certificate and key.
    #[error("{path}: a TLS listener needs key material: set ssl/keyStore (PEM with chain and key) or ssl/certificate and ssl/privateKey")]
    TlsWithoutKeyMaterial {
        /// Element path of the TLS port.
        path: String,
    },
    /// Only one half of the `certificate`/`privateKey` pair is set.
    #[error("{path}: is set but {missing} is not")]
    IncompleteKeyPair {
        /// The element that is set.
        path: String,
        /// The element that is missing.
        missing: String,
    },
    /// A regular expression that does not compile.
    #[error("{path}: invalid regular expression {value:?}: {message}")]
    BadRegex {
        /// Element path.
        path: String,
        /// The pattern.
        value: String,
        /// The regex compiler's message.
        message: String,
    },
    /// Two `<sip><staticNodes><node>` with the same ip and the same ports.
    #[error("{path}: static node {node} has the same ip and ports as an earlier node")]
    DuplicateStaticNode {
        /// Element path of the repeated node.
        path: String,
        /// The repeated node as rendered (host name, ip, ports, version).
        node: String,
    },
    /// A required value is disabled or missing.
    #[error("{path}: {reason}")]
    Required {
        /// Element path.
        path: String,
        /// Why it is needed.
        reason: String,
    },
}

/// All the errors found in one configuration file (never empty). `Display` prints one error
/// per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The individual errors, in document order as far as possible.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Something in an accepted configuration that has no effect. Log each one at startup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigWarning {
    /// An element this program does not know.
    #[error("{path}: unknown element, ignored")]
    UnknownElement {
        /// Element path.
        path: String,
    },
    /// A key the reference reads that Switchboard does not support (yet).
    #[error("{path}: not supported, ignored ({reason})")]
    Unsupported {
        /// Element path.
        path: String,
        /// Why, or what replaces it.
        reason: String,
    },
    /// A `<sipStack>` property with no Switchboard equivalent.
    #[error("ignored sipStack property {key}")]
    IgnoredSipStackProperty {
        /// The property key.
        key: String,
    },
    /// Two spellings of one key were given; `used` wins.
    #[error("{ignored}: ignored because {used} is also set")]
    Superseded {
        /// The path that is ignored.
        ignored: String,
        /// The path that is used.
        used: String,
    },
    /// A combination of settings that is accepted but cannot work as written.
    #[error("{path}: {reason}")]
    Ineffective {
        /// Element path.
        path: String,
        /// What will not work, and why.
        reason: String,
    },
    /// The same element appears more than once; the first one is used.
    #[error("{path}: appears more than once, only the first is used")]
    Duplicate {
        /// Element path.
        path: String,
    },
}
