//! A node's self-description, as carried by a `start` (§3.2) or a SIP heartbeat body (§3.5).

use crate::node::{Node, NodeId, NodeKey, NodePorts, Version};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::net::IpAddr;
use thiserror::Error;

/// The property key under which the instance id is stored (the JSON key `restcommInstanceId`
/// is renamed on receipt, §3.1).
pub const INSTANCE_ID_KEY: &str = "Restcomm-Instance-Id";

/// Host name used when a node sends none (§3.1).
pub const UNDEFINED_HOST_NAME: &str = "undefined_node";

/// Everything a node says about itself when it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAnnouncement {
    /// `hostName` / `hostname`.
    pub host_name: String,
    /// `ip`, a valid IPv4 or IPv6 literal.
    pub ip: IpAddr,
    /// The advertised ports.
    pub ports: NodePorts,
    /// `version` (default `"0"`).
    pub version: Version,
    /// `sessionId` (empty when a SIP heartbeat carries none).
    pub session_id: String,
    /// `heartbeatPort`.
    pub heartbeat_port: Option<u16>,
    /// `Restcomm-Instance-Id` / `restcommInstanceId`.
    pub instance_id: Option<String>,
    /// `jvmRoute`.
    pub jvm_route: Option<String>,
    /// `smppPort`.
    pub smpp_port: Option<u16>,
    /// `GRACEFUL_SHUTDOWN=true` (SIP heartbeat) or `graceful-shutdown=true`.
    pub graceful: bool,
    /// Every property as received (with `restcommInstanceId` renamed).
    pub properties: BTreeMap<String, String>,
}

/// A node description that cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AnnouncementError {
    /// No `ip` property and no fallback address.
    #[error("missing ip")]
    MissingIp,
    /// `ip` is not an IPv4 or IPv6 literal (Telestax LB-9).
    #[error("invalid ip `{0}`")]
    InvalidIp(String),
    /// A port property is not a number in 0..=65535.
    #[error("invalid {key} `{value}`")]
    InvalidPort {
        /// The property name.
        key: String,
        /// The offending value.
        value: String,
    },
}

fn get<'a>(props: &'a BTreeMap<String, String>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| props.get(*k))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

fn port(props: &BTreeMap<String, String>, key: &str) -> Result<Option<u16>, AnnouncementError> {
    match get(props, &[key]) {
        None => Ok(None),
        Some(v) => match v.parse::<u16>() {
            Ok(0) => Ok(None),
            Ok(p) => Ok(Some(p)),
            Err(_) => Err(AnnouncementError::InvalidPort {
                key: key.to_owned(),
                value: v.to_owned(),
            }),
        },
    }
}

/// Parses an IP literal, accepting a bracketed IPv6 form (`[::1]`).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    t.parse().ok()
}

impl NodeAnnouncement {
    /// A node the configuration declares (`extraServerNodes`, `<staticNodes>`) rather than
    /// one that announced itself: no session, no heartbeat port, no HTTP routing identities.
    pub fn configured(
        host_name: String,
        ip: IpAddr,
        ports: NodePorts,
        version: Version,
        properties: BTreeMap<String, String>,
    ) -> NodeAnnouncement {
        NodeAnnouncement {
            host_name,
            ip,
            ports,
            version,
            session_id: String::new(),
            heartbeat_port: None,
            instance_id: None,
            jvm_route: None,
            smpp_port: None,
            graceful: false,
            properties,
        }
    }

    /// Builds an announcement from a node's properties (JSON `start` payload or SIP
    /// heartbeat body). `fallback_ip` is used when there is no `ip` property (the SIP
    /// heartbeat passes the packet's source address). §3.1, §3.2, §3.5.
    pub fn from_properties(
        mut properties: BTreeMap<String, String>,
        fallback_ip: Option<IpAddr>,
    ) -> Result<NodeAnnouncement, AnnouncementError> {
        if let Some(v) = properties.remove("restcommInstanceId") {
            properties.insert(INSTANCE_ID_KEY.to_owned(), v);
        }
        let ip = match get(&properties, &["ip"]) {
            Some(text) => {
                parse_ip(text).ok_or_else(|| AnnouncementError::InvalidIp(text.into()))?
            }
            None => fallback_ip.ok_or(AnnouncementError::MissingIp)?,
        };
        let ports = NodePorts {
            udp: port(&properties, "udpPort")?,
            tcp: port(&properties, "tcpPort")?,
            tls: port(&properties, "tlsPort")?,
            ws: port(&properties, "wsPort")?,
            wss: port(&properties, "wssPort")?,
            http: port(&properties, "httpPort")?,
            ssl: port(&properties, "sslPort")?,
        };
        let flag =
            |keys: &[&str]| get(&properties, keys).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let graceful = flag(&["GRACEFUL_SHUTDOWN", "graceful-shutdown"]);
        let text = |keys: &[&str]| get(&properties, keys).map(str::to_owned);
        Ok(NodeAnnouncement {
            host_name: text(&["hostName", "hostname"])
                .unwrap_or_else(|| UNDEFINED_HOST_NAME.into()),
            ip,
            ports,
            version: text(&["version"]).map(Version).unwrap_or_default(),
            session_id: text(&["sessionId"]).unwrap_or_default(),
            heartbeat_port: port(&properties, "heartbeatPort")?,
            instance_id: text(&[INSTANCE_ID_KEY]),
            jvm_route: text(&["jvmRoute"]),
            smpp_port: port(&properties, "smppPort")?,
            graceful,
            properties,
        })
    }

    /// The node's identity (§3.1; docs/decisions.md §2).
    pub fn key(&self) -> NodeKey {
        NodeKey {
            ip: self.ip,
            ports: self.ports,
        }
    }

    /// The registry entry for this announcement.
    pub(crate) fn into_node(self, id: NodeId, now: Timestamp, permanent: bool) -> Node {
        Node {
            id,
            host_name: self.host_name,
            key: NodeKey {
                ip: self.ip,
                ports: self.ports,
            },
            version: self.version,
            session_id: self.session_id,
            heartbeat_port: self.heartbeat_port,
            instance_id: self.instance_id,
            jvm_route: self.jvm_route,
            smpp_port: self.smpp_port,
            properties: self.properties,
            graceful: self.graceful,
            bad: false,
            suspect: false,
            permanent,
            last_seen: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn properties_map_onto_fields() {
        let a = NodeAnnouncement::from_properties(
            props(&[
                ("hostName", "node1"),
                ("ip", "127.0.0.1"),
                ("udpPort", "5080"),
                ("httpPort", "8080"),
                ("restcommInstanceId", "ID1"),
                ("customKey", "x"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(a.host_name, "node1");
        assert_eq!(a.ports.udp, Some(5080));
        assert_eq!(a.ports.http, Some(8080));
        assert_eq!(a.instance_id.as_deref(), Some("ID1"));
        assert_eq!(
            a.properties.get(INSTANCE_ID_KEY).map(String::as_str),
            Some("ID1")
        );
        assert!(!a.properties.contains_key("restcommInstanceId"));
        assert_eq!(a.properties["customKey"], "x");
        assert_eq!(a.version, Version::default());
    }

    #[test]
    fn bad_ip_and_ports_are_rejected() {
        let e = |p: &[(&str, &str)]| NodeAnnouncement::from_properties(props(p), None).unwrap_err();
        assert_eq!(e(&[]), AnnouncementError::MissingIp);
        assert!(matches!(
            e(&[("ip", "node.example")]),
            AnnouncementError::InvalidIp(_)
        ));
        assert!(matches!(
            e(&[("ip", "::1"), ("udpPort", "70000")]),
            AnnouncementError::InvalidPort { .. }
        ));
        let v6 = NodeAnnouncement::from_properties(props(&[("ip", "[::1]")]), None).unwrap();
        assert!(v6.ip.is_ipv6());
        let fb = NodeAnnouncement::from_properties(props(&[]), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(fb.unwrap().ip.to_string(), "10.0.0.1");
    }
}
