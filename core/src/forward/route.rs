//! Route handling of every request (behaviour reference §1.6, §1.7, §1.14):
//! `matchingHostnameForRoute`, popping the balancer's own Routes, node hints from Route and
//! Request-URI parameters (`node_host`/`node_port`/`version`), and "points to the LB".

use super::settings::{strip_brackets, ForwardSettings};
use super::via::default_port;
use crate::cluster::Cluster;
use crate::node::{NodeId, Transport, Version};
use crate::sip::{HeaderName, NameAddr, Scheme, SipMessage, Uri, ValueRef};
use std::net::IpAddr;

/// True if `host:port` is one of the balancer's own addresses (§1.6 "points to the LB",
/// §1.14): the host equals (case-insensitively, brackets ignored) a leg host, an IP-LB
/// address or `publicIp` of the family, and the port (default 5060, 5061 for TLS/WSS) is
/// one of that leg's listening or IP-LB ports. Any transport's port counts: a host and port
/// of ours is us, whatever the `transport` parameter says.
pub fn points_to_lb(
    s: &ForwardSettings,
    host: &[u8],
    port: Option<u16>,
    transport: Transport,
    ipv6: bool,
) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let host = strip_brackets(host);
    let port = port.unwrap_or_else(|| default_port(transport));
    let same = |a: &str| {
        let a = strip_brackets(a);
        a.eq_ignore_ascii_case(host)
            || matches!((a.parse::<IpAddr>(), host.parse::<IpAddr>()), (Ok(x), Ok(y)) if x == y)
    };
    let legs = [&s.external, &s.internal];
    let leg_ports = |fam: &super::settings::LegFamily| {
        Transport::ALL
            .into_iter()
            .any(|t| fam.ports.get(t) == Some(port) || fam.ip_lb_ports.get(t) == Some(port))
    };
    let leg_match = legs.iter().any(|leg| {
        let fam = leg.family(ipv6);
        (same(&fam.host) || fam.ip_lb_addresses.iter().any(|a| same(a))) && leg_ports(fam)
    });
    leg_match
        || s.public_ip(ipv6)
            .is_some_and(|p| same(p) && legs.iter().any(|l| leg_ports(l.family(ipv6))))
}

/// True if the URI points to the balancer (SIP/SIPS URIs only).
pub fn uri_points_to_lb(s: &ForwardSettings, uri: &Uri<'_>, via_t: Transport, ipv6: bool) -> bool {
    if !matches!(uri.scheme, Scheme::Sip | Scheme::Sips) {
        return false;
    }
    let t = uri
        .transport()
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(Transport::parse)
        .unwrap_or(if uri.scheme == Scheme::Sips {
            Transport::Tls
        } else {
            via_t
        });
    points_to_lb(s, uri.host, uri.port, t, ipv6)
}

/// A node hint read from a URI's `node_host`/`node_port`/`version` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriHint {
    /// The live node designated, if it is alive (and of the hinted version).
    pub node: Option<NodeId>,
    /// The URI carried `node_host` and `node_port` (a dialog owner was named).
    pub stamped: bool,
}

/// The node a URI's hint parameters designate (§1.6 `checkRouteHeaderForSipNode`): a live
/// node whose IP is `node_host`, one of whose ports is `node_port` (the KeySip rule, so a
/// hint written for another transport still finds its node) and whose version equals the
/// `version` parameter when present. `node_host` must be an IP literal (no DNS in the core).
pub fn uri_hint(cluster: &Cluster, uri: &Uri<'_>) -> UriHint {
    let (Some(host), Some(port)) = (uri.node_host(), uri.node_port()) else {
        return UriHint {
            node: None,
            stamped: false,
        };
    };
    let node = crate::sip::parse_ip(host)
        .and_then(|ip| cluster.registry().find_by_addr(ip, port))
        .filter(|n| match uri.version() {
            Some(v) => n.version.as_str().as_bytes() == v,
            None => true,
        })
        .map(|n| n.id);
    UriHint {
        node,
        stamped: true,
    }
}

/// One Route value of the request.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    /// Where it is (for removal).
    pub at: ValueRef,
}

/// The result of the Route processing of §1.6.
#[derive(Debug, Clone, Default)]
pub struct RouteAnalysis {
    /// Every Route value in order.
    pub entries: Vec<RouteEntry>,
    /// How many leading entries are popped (matching hostname + the LB's own).
    pub popped: usize,
    /// How many of the popped ones were the LB's own.
    pub popped_lb: usize,
    /// The live node hinted by a popped Route or by the Request-URI.
    pub hint: Option<NodeId>,
    /// A dialog owner was named (`node_host`/`node_port`) but is not alive.
    pub owner_dead: bool,
    /// The `version` parameter of the top Route after `matchingHostnameForRoute` (§1.6.2).
    pub version_hint: Option<Version>,
}

impl RouteAnalysis {
    /// The first Route that stays in the message.
    pub fn remaining<'m>(&self, msg: &'m SipMessage) -> Option<NameAddr<'m>> {
        let e = self.entries.get(self.popped)?;
        NameAddr::parse(msg.slice(e.at.range.clone()), HeaderName::Route).ok()
    }

    /// Number of Routes that stay.
    pub fn remaining_count(&self) -> usize {
        self.entries.len().saturating_sub(self.popped)
    }
}

/// Error: a Route value is malformed (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRoute;

/// Runs §1.6 on a request: the first Routes to pop and the node hint.
pub fn analyse(
    s: &ForwardSettings,
    cluster: &Cluster,
    msg: &SipMessage,
    via_t: Transport,
    ipv6: bool,
) -> Result<RouteAnalysis, BadRoute> {
    let mut a = RouteAnalysis {
        entries: msg
            .values(HeaderName::Route)
            .map(|at| RouteEntry { at })
            .collect(),
        ..RouteAnalysis::default()
    };
    let parsed: Vec<NameAddr<'_>> = a
        .entries
        .iter()
        .map(|e| NameAddr::parse(msg.slice(e.at.range.clone()), HeaderName::Route))
        .collect::<Result<_, _>>()
        .map_err(|_| BadRoute)?;
    // 1. matchingHostnameForRoute.
    if let (Some(name), Some(top)) = (&s.matching_hostname_for_route, parsed.first()) {
        let host = String::from_utf8_lossy(top.uri.host).to_ascii_lowercase();
        let name = name.trim().to_ascii_lowercase();
        let hit = if s.filter_subdomain {
            host.ends_with(&format!(".{name}"))
        } else {
            host == name
        };
        if hit {
            a.popped = 1;
        }
    }
    // 2. version hint of the (new) top Route, whatever it points to.
    a.version_hint = parsed
        .get(a.popped)
        .and_then(|r| r.uri.version())
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(|v| Version(v.to_owned()));
    // 3. pop the LB's own Routes, taking the first node hint.
    while let Some(r) = parsed.get(a.popped) {
        if !uri_points_to_lb(s, &r.uri, via_t, ipv6) {
            break;
        }
        a.popped += 1;
        a.popped_lb += 1;
        if a.hint.is_none() {
            let h = uri_hint(cluster, &r.uri);
            a.hint = h.node;
            a.owner_dead |= h.stamped && h.node.is_none();
        }
    }
    // 4. strict-routing case: hint from the Request-URI.
    if a.hint.is_none() {
        if let Ok(ruri) = msg.request_uri() {
            if matches!(ruri.scheme, Scheme::Sip | Scheme::Sips) {
                let h = uri_hint(cluster, &ruri);
                a.hint = h.node;
                a.owner_dead |= h.stamped && h.node.is_none();
                if a.version_hint.is_none() {
                    a.version_hint = ruri
                        .version()
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .map(|v| Version(v.to_owned()));
                }
            }
        }
    }
    if a.hint.is_some() {
        a.owner_dead = false;
    }
    Ok(a)
}

/// The live node at a URI's host:port (KeySip rule: IP literal and any of its ports).
pub fn node_at(cluster: &Cluster, uri: &Uri<'_>) -> Option<NodeId> {
    if !matches!(uri.scheme, Scheme::Sip | Scheme::Sips) {
        return None;
    }
    let ip = uri.host_ip()?;
    let port = uri.port.unwrap_or(5060);
    cluster.registry().find_by_addr(ip, port).map(|n| n.id)
}
