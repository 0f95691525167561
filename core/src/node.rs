//! The cluster node model shared by the registry, the algorithms and the forwarder
//! (behaviour reference §3.1).
//!
//! A node is identified by its IP and its set of ports ([`NodeKey`]), not by its session id:
//! a node restarted with a new `sessionId` replaces its old entry (docs/decisions.md §2, §8.5).

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A registry-assigned handle, unique for the life of the balancer (never reused), so an
/// algorithm's sticky table cannot point at a different node after a replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u64);

/// The SIP transports, in the reference's fixed index order (§1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Transport {
    /// UDP (RFC 3261 §18).
    Udp,
    /// TCP (RFC 3261 §18).
    Tcp,
    /// TLS over TCP (RFC 3261 §26).
    Tls,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket (RFC 7118).
    Wss,
}

impl Transport {
    /// All transports in index order.
    pub const ALL: [Transport; 5] = [
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Ws,
        Transport::Wss,
    ];

    /// The token used in Via headers and `transport=` URI parameters, upper case.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    /// Parses a transport token case-insensitively (`udp`, `TCP`, `tls`, `ws`, `wss`).
    pub fn parse(token: &str) -> Option<Transport> {
        Transport::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(token.trim()))
    }

    /// True for transports that run over a connection (everything but UDP).
    pub const fn is_connection_oriented(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// The ports a node advertises. `None` means the node does not listen on that transport.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct NodePorts {
    /// `udpPort`.
    pub udp: Option<u16>,
    /// `tcpPort`.
    pub tcp: Option<u16>,
    /// `tlsPort`.
    pub tls: Option<u16>,
    /// `wsPort`.
    pub ws: Option<u16>,
    /// `wssPort`.
    pub wss: Option<u16>,
    /// `httpPort`.
    pub http: Option<u16>,
    /// `sslPort` (HTTPS).
    pub ssl: Option<u16>,
}

impl NodePorts {
    /// The SIP port for `transport`, if the node listens on it.
    pub const fn sip(&self, transport: Transport) -> Option<u16> {
        match transport {
            Transport::Udp => self.udp,
            Transport::Tcp => self.tcp,
            Transport::Tls => self.tls,
            Transport::Ws => self.ws,
            Transport::Wss => self.wss,
        }
    }

    /// True if `port` is any of the node's ports (the reference's `KeySip` lookup rule, §3.1).
    pub fn contains(&self, port: u16) -> bool {
        [
            self.udp, self.tcp, self.tls, self.ws, self.wss, self.http, self.ssl,
        ]
        .contains(&Some(port))
    }
}

/// A node's identity: its IP and its ports (§3.1; docs/decisions.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeKey {
    /// The node's IP literal.
    pub ip: IpAddr,
    /// The node's advertised ports.
    pub ports: NodePorts,
}

/// A node version (`version` property, default `"0"`). Versions order numerically when both
/// are numbers, otherwise as strings; the latest version receives new calls (§0, §1.7).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Version(pub String);

impl Default for Version {
    fn default() -> Self {
        Version("0".to_owned())
    }
}

impl Version {
    /// The version text as carried in `version=` URI parameters and Via branch suffixes.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self.0.trim().parse::<u64>(), other.0.trim().parse::<u64>()) {
            (Ok(a), Ok(b)) => a.cmp(&b).then_with(|| self.0.cmp(&other.0)),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(_), Err(_)) => self.0.cmp(&other.0),
        }
    }
}

/// A registered cluster node with its liveness state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Registry handle, unique for the life of the balancer.
    pub id: NodeId,
    /// `hostName` (`undefined_node` when the node sent none).
    pub host_name: String,
    /// Identity: IP and ports.
    pub key: NodeKey,
    /// `version` (default `"0"`).
    pub version: Version,
    /// `sessionId`: the node's start time in ms; a new one means the node restarted.
    pub session_id: String,
    /// `heartbeatPort`: where the balancer sends its `stop` on shutdown.
    pub heartbeat_port: Option<u16>,
    /// `Restcomm-Instance-Id` (JSON `restcommInstanceId`), for HTTP CallSid routing.
    pub instance_id: Option<String>,
    /// `jvmRoute`, for HTTP jsessionid stickiness and `switchover`.
    pub jvm_route: Option<String>,
    /// `smppPort`, when the node takes SMPP.
    pub smpp_port: Option<u16>,
    /// Every property the node sent, including unknown ones, in key order.
    pub properties: BTreeMap<String, String>,
    /// The node announced a graceful shutdown: no new calls, in-dialog traffic still flows.
    pub graceful: bool,
    /// The node was marked bad by error-response or health-check detection (§1.19, §1.20),
    /// or by failed OPTIONS probes.
    pub bad: bool,
    /// The node left a request unanswered or refused a send: it gets no new calls while
    /// another node can take them, until it answers SIP again (docs/decisions.md, "Node
    /// failure").
    #[serde(default)]
    pub suspect: bool,
    /// Never expires (`extraServerNodes` in `performanceTestingMode`).
    pub permanent: bool,
    /// Last sign of life (heartbeat or SIP traffic from the node).
    pub last_seen: Timestamp,
}

impl Node {
    /// True if the node may take new calls and sessions (neither graceful, bad nor suspect).
    pub fn accepts_new_work(&self) -> bool {
        !self.graceful && !self.bad && !self.suspect
    }

    /// The node's state as `/lbinfo` and `/metrics` name it: `graceful`, `bad`, `suspect` or
    /// `up`.
    pub fn state_name(&self) -> &'static str {
        if self.graceful {
            "graceful"
        } else if self.bad {
            "bad"
        } else if self.suspect {
            "suspect"
        } else {
            "up"
        }
    }

    /// True if the node is reached over IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.key.ip.is_ipv6()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically_then_textually() {
        let v = |s: &str| Version(s.to_owned());
        assert!(v("10") > v("9"));
        assert!(v("1") > v("0"));
        assert!(v("beta") > v("100"));
        assert_eq!(Version::default(), v("0"));
    }

    #[test]
    fn transport_tokens_parse_case_insensitively() {
        assert_eq!(Transport::parse("udp"), Some(Transport::Udp));
        assert_eq!(Transport::parse("WSS"), Some(Transport::Wss));
        assert_eq!(Transport::parse("sctp"), None);
        assert!(Transport::Tls.is_connection_oriented());
    }

    #[test]
    fn port_lookup_matches_any_advertised_port() {
        let p = NodePorts {
            udp: Some(5080),
            http: Some(8080),
            ..NodePorts::default()
        };
        assert!(p.contains(5080) && p.contains(8080) && !p.contains(5060));
        assert_eq!(p.sip(Transport::Udp), Some(5080));
        assert_eq!(p.sip(Transport::Tcp), None);
    }
}
