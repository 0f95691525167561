//! Contact patching and NAT (behaviour reference §1.15, with the fix of docs/decisions.md §8.4).
//!
//! - Client requests: with `terminateTLSTraffic` or `internalTransport`, each Contact URI
//!   gets `transport=<the client's transport>` so the node addresses the client correctly.
//! - `publicIp`: responses from nodes and initial INVITE/SUBSCRIBE from nodes get every
//!   Record-Route that names the external listening address rewritten to `publicIp`, and the
//!   Contact URI's host and port set to `publicIp` and the external port. Unlike the
//!   reference, only host and port change: user part, URI parameters and display name stay.

use super::settings::{strip_brackets, uri_host, ForwardSettings};
use crate::node::Transport;
use crate::sip::{Editor, HeaderName, NameAddr, SipMessage};

/// Adds `transport=<outer>` to each Contact URI (§1.15, client requests).
pub fn contact_transport(ed: &mut Editor<'_>, msg: &SipMessage, outer: Transport) {
    let t = outer.as_str().to_ascii_lowercase();
    for c in msg.contacts().flatten() {
        if c.uri.host.is_empty() {
            continue;
        }
        let _ = ed.set_param(c.uri.params, "transport", Some(t.as_str()));
    }
}

/// The NAT patch of `publicIp` (§1.15). `transport` is the message's transport toward the
/// client side (selects the external port written into the Contact).
pub fn patch_for_nat(
    ed: &mut Editor<'_>,
    msg: &SipMessage,
    s: &ForwardSettings,
    ipv6: bool,
    transport: Transport,
) {
    let Some(public) = s.public_ip(ipv6) else {
        return;
    };
    let public_host = uri_host(public);
    let ext = s.external.family(ipv6);
    for v in msg.values(HeaderName::RecordRoute) {
        let Ok(rr) = NameAddr::parse(msg.slice(v.range.clone()), HeaderName::RecordRoute) else {
            continue;
        };
        let host = String::from_utf8_lossy(rr.uri.host);
        let ours = strip_brackets(&host).eq_ignore_ascii_case(&ext.host)
            && rr.uri.port.is_some_and(|p| {
                Transport::ALL
                    .into_iter()
                    .any(|t| ext.ports.get(t) == Some(p))
            });
        if ours {
            let _ = ed.set_uri_host_port(&rr.uri, &public_host, rr.uri.port);
        }
    }
    let port = ext
        .ports
        .get(transport)
        .or_else(|| ext.port_or_any(transport));
    if let Some(c) = msg.contacts().flatten().next() {
        if !c.uri.host.is_empty() {
            let _ = ed.set_uri_host_port(&c.uri, &public_host, port);
        }
    }
}
