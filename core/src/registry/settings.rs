//! Registry settings, independent of the configuration module (which maps
//! `lb-configuration.xml` keys onto this struct).

use std::net::IpAddr;
use std::time::Duration;
use thiserror::Error;

/// The settings the registry runs with. The defaults are the reference's code defaults
/// (behaviour reference §8.1, §8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// `nodeTimeout` (default 8400 ms): a node silent for longer than this is removed (§3.3).
    pub node_timeout: Duration,
    /// `responsesStatusCodeNodeRemoval` (default `503`): SIP statuses from a node that count
    /// as errors for media-failure detection (§1.19).
    pub error_status_codes: Vec<u16>,
    /// `maxNumberResponsesWithError` (default 5): a node whose error count within the window
    /// exceeds this is marked bad (§1.19).
    pub max_error_responses: u32,
    /// `maxErrorTime` (default 300 000 ms): an error older than this restarts the count (§1.19).
    pub max_error_time: Duration,
    /// Active health check (§1.20): `maxRequestNumberWithoutResponse` and `maxResponseTime`.
    /// `None` (the reference default) disables the check; both keys are needed to enable it.
    pub health_check: Option<HealthCheckSettings>,
    /// `extraServerNodes`: servers treated as nodes (§1.3, §8.2).
    pub extra_server_nodes: Vec<ExtraServerNode>,
    /// `performanceTestingMode`: register the extra server nodes as permanent nodes (§8.2).
    pub performance_testing_mode: bool,
    /// `<staticNodes>`: nodes without heartbeats, registered as permanent nodes and kept in
    /// rotation by OPTIONS probing (docs/decisions.md §7).
    pub static_nodes: Vec<StaticNodeSpec>,
}

/// One static node: a SIP server registered from the configuration, not by heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticNodeSpec {
    /// `hostName`.
    pub host_name: String,
    /// The node's identity (IP and SIP ports).
    pub key: crate::node::NodeKey,
    /// `version`.
    pub version: crate::node::Version,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            node_timeout: Duration::from_millis(8400),
            error_status_codes: vec![503],
            max_error_responses: 5,
            max_error_time: Duration::from_millis(300_000),
            health_check: None,
            extra_server_nodes: Vec::new(),
            performance_testing_mode: false,
            static_nodes: Vec::new(),
        }
    }
}

/// Parameters of the active health check (behaviour reference §1.20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheckSettings {
    /// `maxRequestNumberWithoutResponse`: unanswered requests tolerated.
    pub max_requests_without_response: u32,
    /// `maxResponseTime`: how long a node may stay silent while requests pile up.
    pub max_response_time: Duration,
}

/// One `extraServerNodes` entry: `host[:port]`, port default 5060 (§8.2).
///
/// The registry needs an IP literal; a host name must be resolved by the adapter before the
/// settings reach the core (the core does no DNS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraServerNode {
    /// The host as written in the configuration (used in the node's name).
    pub host: String,
    /// The address to register; `None` when `host` is not an IP literal and was not resolved.
    pub ip: Option<IpAddr>,
    /// The SIP port (udp and tcp).
    pub port: u16,
}

/// An `extraServerNodes` entry that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExtraServerNodeError {
    /// The entry has no host.
    #[error("extra server node `{0}`: empty host")]
    EmptyHost(String),
    /// The port is not a number in 1..=65535.
    #[error("extra server node `{0}`: invalid port")]
    BadPort(String),
}

impl ExtraServerNode {
    /// Parses one `host[:port]` entry (IPv6 literals may be bracketed: `[::1]:5070`).
    pub fn parse(entry: &str) -> Result<ExtraServerNode, ExtraServerNodeError> {
        let entry = entry.trim();
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            match rest.split_once(']') {
                Some((h, tail)) => (h, tail.strip_prefix(':')),
                None => return Err(ExtraServerNodeError::EmptyHost(entry.to_owned())),
            }
        } else if entry.matches(':').count() > 1 {
            // A bare IPv6 literal: no port.
            (entry, None)
        } else {
            match entry.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (entry, None),
            }
        };
        let host = host.trim();
        if host.is_empty() {
            return Err(ExtraServerNodeError::EmptyHost(entry.to_owned()));
        }
        let port = match port {
            None => 5060,
            Some(p) => match p.trim().parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(ExtraServerNodeError::BadPort(entry.to_owned())),
            },
        };
        Ok(ExtraServerNode {
            host: host.to_owned(),
            ip: host.parse().ok(),
            port,
        })
    }

    /// Parses the comma-separated `extraServerNodes` list; empty items are skipped.
    pub fn parse_list(list: &str) -> Result<Vec<ExtraServerNode>, ExtraServerNodeError> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(ExtraServerNode::parse)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_server_entries_parse_with_default_port() {
        let l = ExtraServerNode::parse_list("127.0.0.1:5070, 10.0.0.2,[::1]:5090,::2,sip.example")
            .unwrap();
        assert_eq!(l.len(), 5);
        assert_eq!(
            (l[0].port, l[0].ip),
            (5070, Some("127.0.0.1".parse().unwrap()))
        );
        assert_eq!(l[1].port, 5060);
        assert_eq!((l[2].host.as_str(), l[2].port), ("::1", 5090));
        assert_eq!((l[3].host.as_str(), l[3].port), ("::2", 5060));
        assert_eq!(l[4].ip, None);
        assert!(ExtraServerNode::parse("h:x").is_err());
        assert!(ExtraServerNode::parse(":5060").is_err());
    }
}
