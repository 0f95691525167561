//! Via handling (behaviour reference §1.13, §1.17; RFC 3261 §16.6 step 8, §18.2.1; RFC 3581).
//!
//! - The balancer adds two Vias per traversal, one per leg, with the deterministic branch
//!   `<incoming top branch><first 5 chars of Call-ID>` + `zsd` on the internal Via +
//!   `_<version>`, so retransmissions and CANCEL get the same branch (stateless proxy).
//! - The client's top Via gets `received`/`rport` so the stateless response path can address
//!   the client (always on connection-oriented transports, RFC 3261/3581 rules on UDP).
//! - Responses are sent to the new top Via's `received`/`rport`, else its sent-by.

use super::settings::{uri_host, ForwardSettings};
use super::Destination;
use crate::forward::Leg;
use crate::node::{Transport, Version};
use crate::sip::{parse_ip, Editor, Rport, SipMessage, Via, ViaTransport};
use std::net::{IpAddr, SocketAddr};

/// Marker in the branch of the internal-leg Via (§1.13).
pub const INTERNAL_MARK: &str = "zsd";

/// `<top branch><first 5 characters of the Call-ID>` (§1.13). Characters of the Call-ID that
/// are not allowed in a branch token (RFC 3261 §25.1, e.g. `@`) are written as `-` so the
/// Via stays parseable by every peer.
pub fn branch_base(msg: &SipMessage) -> String {
    let branch = msg
        .top_via()
        .ok()
        .and_then(|v| v.branch)
        .unwrap_or(b"z9hG4bK");
    let mut out = String::from_utf8_lossy(branch).into_owned();
    let call_id = msg.call_id().unwrap_or_default();
    out.extend(call_id.iter().take(5).map(|&b| {
        if b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b) {
            char::from(b)
        } else {
            '-'
        }
    }));
    out
}

/// The branch of the LB's Via on `leg` (§1.13).
pub fn branch(base: &str, leg: Leg, version: &Version) -> String {
    match leg {
        Leg::External => format!("{base}_{}", version.as_str()),
        Leg::Internal => format!("{base}{INTERNAL_MARK}_{}", version.as_str()),
    }
}

/// The version carried in a branch after its last `_` (§1.13).
pub fn version_from_branch(branch: &[u8]) -> Option<Version> {
    let pos = branch.iter().rposition(|&b| b == b'_')?;
    let v = branch.get(pos + 1..)?;
    if v.is_empty() {
        return None;
    }
    std::str::from_utf8(v).ok().map(|s| Version(s.to_owned()))
}

/// True if the branch is one of an internal-leg Via of the balancer.
pub fn is_internal_branch(branch: &[u8]) -> bool {
    branch.windows(4).any(|w| w == b"zsd_")
}

/// The value of the LB's Via on `leg` for `transport` (§1.13): the leg host, or with
/// `useIpLoadBalancerAddressInViaHeaders` the first IP-LB address and port, unless a routing
/// rule asked for the private addresses (§1.18). In single-entry mode both Vias use the
/// external listening points.
pub fn lb_via(
    s: &ForwardSettings,
    leg: Leg,
    transport: Transport,
    ipv6: bool,
    private: bool,
    branch: &str,
) -> String {
    let fam = s.leg(leg).family(ipv6);
    let (host, port) = fam
        .advertised(transport, s.use_ip_lb_in_via && !private)
        .or_else(|| fam.port_or_any(transport).map(|p| (fam.host.clone(), p)))
        .unwrap_or_else(|| (fam.host.clone(), default_port(transport)));
    format!(
        "SIP/2.0/{} {}:{port};branch={branch}",
        transport.as_str(),
        uri_host(&host)
    )
}

/// The port a URI or Via without one implies (RFC 3261 §19.1.2, §18.2.2).
pub fn default_port(t: Transport) -> u16 {
    match t {
        Transport::Tls | Transport::Wss => 5061,
        _ => 5060,
    }
}

/// The Via's transport, UDP for unknown ones.
pub fn via_transport(via: &Via<'_>) -> Transport {
    match via.transport {
        ViaTransport::Known(t) => t,
        _ => Transport::Udp,
    }
}

/// Where a response to this Via goes (RFC 3261 §18.2.2, RFC 3581 §4): `received` (else the
/// sent-by host) and `rport` (else the sent-by port, else the transport default).
pub fn response_destination(via: &Via<'_>) -> Destination {
    let t = via_transport(via);
    let port = match via.rport {
        Rport::Value(p) => p,
        _ => via.port.unwrap_or_else(|| default_port(t)),
    };
    match via.received_ip().or_else(|| parse_ip(via.host)) {
        Some(ip) => Destination::Addr(SocketAddr::new(ip, port)),
        None => Destination::Name {
            host: String::from_utf8_lossy(via.host).into_owned(),
            port,
        },
    }
}

/// The (ip, port) a Via designates for node lookups: `received`/`rport` first.
pub fn via_addr(via: &Via<'_>) -> Option<(IpAddr, u16)> {
    let t = via_transport(via);
    let ip = via.received_ip().or_else(|| parse_ip(via.host))?;
    let port = match via.rport {
        Rport::Value(p) => p,
        _ => via.port.unwrap_or_else(|| default_port(t)),
    };
    Some((ip, port))
}

/// Sets `received`/`rport` on the request's top Via for the packet's `source`:
/// - `force` (a client over a connection-oriented transport): always both, so the stateless
///   response path can find the connection;
/// - otherwise (RFC 3261 §18.2.1, RFC 3581 §4): `received` when the sent-by host differs
///   from the source IP, and an empty `rport` is filled; nothing with
///   `NEVER_ADD_RECEIVED_RPORT`.
pub fn stamp_received(
    ed: &mut Editor<'_>,
    msg: &SipMessage,
    source: SocketAddr,
    force: bool,
    never_add: bool,
) {
    let Ok(via) = msg.top_via() else { return };
    let ip = source.ip().to_string();
    let port = source.port().to_string();
    let sent_by_matches = parse_ip(via.host) == Some(source.ip());
    let (set_received, set_rport) = if force {
        (true, true)
    } else if never_add {
        (false, false)
    } else {
        (!sent_by_matches, via.rport == Rport::Requested)
    };
    // One splice over the parameter list keeps the two edits from overlapping.
    let mut params: Vec<(String, Option<String>)> = via
        .params()
        .map(|p| {
            (
                String::from_utf8_lossy(p.name).into_owned(),
                p.value.map(|v| String::from_utf8_lossy(v).into_owned()),
            )
        })
        .collect();
    let mut changed = false;
    let mut set = |name: &str, value: &str, params: &mut Vec<(String, Option<String>)>| match params
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        Some((_, v)) if v.as_deref() == Some(value) => {}
        Some((_, v)) => {
            *v = Some(value.to_owned());
            changed = true;
        }
        None => {
            params.push((name.to_owned(), Some(value.to_owned())));
            changed = true;
        }
    };
    if set_received {
        set("received", &ip, &mut params);
    }
    if set_rport {
        set("rport", &port, &mut params);
    }
    if !changed {
        return;
    }
    let text: String = params
        .iter()
        .map(|(n, v)| match v {
            Some(v) => format!(";{n}={v}"),
            None => format!(";{n}"),
        })
        .collect();
    if ed.replace_slice(via.params, &text).is_err() {
        tracing::debug!("could not stamp received/rport on the top Via");
    }
}

/// True if the Via's sent-by is one of the balancer's own listening (or IP-LB, or public)
/// addresses (§1.17 step 3).
pub fn is_lb_via(s: &ForwardSettings, via: &Via<'_>, ipv6: bool) -> bool {
    super::route::points_to_lb(s, via.host, via.port, via_transport(via), ipv6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn branch_is_top_branch_plus_call_id_prefix_and_version() {
        let m = SipMessage::parse(Bytes::from_static(
            b"BYE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKabc\r\nCall-ID: 7f3a9c@h\r\n\
              CSeq: 2 BYE\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\n\r\n",
        ))
        .unwrap();
        let base = branch_base(&m);
        assert_eq!(base, "z9hG4bKabc7f3a9");
        let v = Version("0".into());
        assert_eq!(branch(&base, Leg::Internal, &v), "z9hG4bKabc7f3a9zsd_0");
        assert_eq!(branch(&base, Leg::External, &v), "z9hG4bKabc7f3a9_0");
        assert_eq!(
            version_from_branch(b"z9hG4bKabc7f3a9zsd_12"),
            Some(Version("12".into()))
        );
        assert!(is_internal_branch(b"z9hG4bKabc7f3a9zsd_0"));
        assert!(!is_internal_branch(b"z9hG4bKabc7f3a9_0"));
    }
}
