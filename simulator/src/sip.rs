//! Small SIP helpers for the simulated user agents and nodes, built on the core's codec:
//! answering a request as a UAS (RFC 3261 §8.2.6), reading addresses out of Via and URIs,
//! and the route set of a dialog (§12.1).

use bytes::Bytes;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use switchboard_core::sip::{parse_ip, HeaderName, Rport, SipMessage, Uri};

/// RFC 3261 T1.
pub const T1_MS: u64 = 500;
/// RFC 3261 T2.
pub const T2_MS: u64 = 4000;
/// Timers B and F: 64·T1.
pub const TIMEOUT_MS: u64 = 64 * T1_MS;

/// The value of a single header as text ("" if absent).
pub fn header(msg: &SipMessage, name: HeaderName) -> &str {
    msg.get(name)
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("")
}

/// The Call-ID as text.
pub fn call_id(msg: &SipMessage) -> Option<&str> {
    msg.call_id().ok().and_then(|c| std::str::from_utf8(c).ok())
}

/// A response to `req` per RFC 3261 §8.2.6: Vias, From, Call-ID and CSeq copied, To copied
/// with `to_tag` added when it has none, Record-Routes copied when `record_route` (2xx and
/// 18x to a dialog-creating request), an optional Contact.
pub fn response(
    req: &SipMessage,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    contact: Option<SocketAddr>,
    record_route: bool,
) -> Bytes {
    let mut s = String::with_capacity(req.raw().len() + 64);
    let _ = write!(s, "SIP/2.0 {code} {reason}\r\n");
    for (_, v) in req.get_all(HeaderName::Via) {
        s.push_str("Via: ");
        s.push_str(std::str::from_utf8(v).unwrap_or(""));
        s.push_str("\r\n");
    }
    if record_route {
        for (_, v) in req.get_all(HeaderName::RecordRoute) {
            s.push_str("Record-Route: ");
            s.push_str(std::str::from_utf8(v).unwrap_or(""));
            s.push_str("\r\n");
        }
    }
    let _ = write!(s, "From: {}\r\n", header(req, HeaderName::From));
    let to = header(req, HeaderName::To);
    match to_tag {
        Some(tag) if req.to().ok().and_then(|t| t.tag()).is_none() => {
            let _ = write!(s, "To: {to};tag={tag}\r\n");
        }
        _ => {
            let _ = write!(s, "To: {to}\r\n");
        }
    }
    let _ = write!(s, "Call-ID: {}\r\n", header(req, HeaderName::CallId));
    let _ = write!(s, "CSeq: {}\r\n", header(req, HeaderName::CSeq));
    if let Some(c) = contact {
        let _ = write!(s, "Contact: <sip:{c}>\r\n");
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    Bytes::from(s)
}

/// Where a response to this request goes (RFC 3261 §18.2.2, RFC 3581): the top Via's
/// sent-by, or its `received`/`rport` when present.
pub fn top_via_target(msg: &SipMessage) -> Option<SocketAddr> {
    let via = msg.top_via().ok()?;
    let ip = via
        .received
        .and_then(|r| parse_ip(r.trim_ascii_start()))
        .or_else(|| parse_ip(via.host))?;
    let port = match via.rport {
        Rport::Value(p) => p,
        _ => via.port.unwrap_or(5060),
    };
    Some(SocketAddr::new(ip, port))
}

/// Every Via's sent-by address (that is an IP literal), top first.
pub fn via_addrs(msg: &SipMessage) -> Vec<SocketAddr> {
    msg.vias()
        .filter_map(|v| v.ok())
        .filter_map(|v| parse_ip(v.host).map(|ip| SocketAddr::new(ip, v.port.unwrap_or(5060))))
        .collect()
}

/// The address a URI (`sip:host:port;…`) points at.
pub fn uri_addr(uri: &str) -> Option<SocketAddr> {
    let inner = uri.trim().trim_start_matches('<');
    let inner = inner.split('>').next().unwrap_or(inner);
    let u = Uri::parse(inner.as_bytes()).ok()?;
    let ip: IpAddr = parse_ip(u.host)?;
    Some(SocketAddr::new(ip, u.port.unwrap_or(5060)))
}

/// The Record-Route values in order, as written.
pub fn record_routes(msg: &SipMessage) -> Vec<String> {
    msg.record_routes()
        .filter_map(|r| r.ok())
        .map(|r| String::from_utf8_lossy(r.raw).into_owned())
        .collect()
}

/// The first Contact URI, as written inside the brackets.
pub fn contact_uri(msg: &SipMessage) -> Option<String> {
    let c = msg.contacts().next()?.ok()?;
    Some(String::from_utf8_lossy(c.uri.raw).into_owned())
}

/// The tag of the To header.
pub fn to_tag(msg: &SipMessage) -> Option<String> {
    let to = msg.to().ok()?;
    to.tag().map(|t| String::from_utf8_lossy(t).into_owned())
}

/// The CSeq method of a message, as written.
pub fn cseq_method(msg: &SipMessage) -> &[u8] {
    msg.cseq().map(|c| c.method_raw).unwrap_or(b"")
}

/// A stable 64-bit FNV-1a hash (trace digests, tags).
pub fn fnv1a(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// FNV-1a offset basis.
pub const FNV_BASIS: u64 = 0xCBF2_9CE4_8422_2325;

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:svc@10.0.1.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5065;branch=z9hG4bKazsd_0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa_0\r\n\
Via: SIP/2.0/UDP 10.0.2.1:5070;branch=z9hG4bKa\r\n\
Record-Route: <sip:10.0.0.1:5065;transport=udp;lr;node_host=10.0.1.1;node_port=5080;version=0>\r\n\
Record-Route: <sip:10.0.0.1:5060;transport=udp;lr;node_host=10.0.1.1;node_port=5080;version=0>\r\n\
From: <sip:a@10.0.2.1>;tag=f1\r\nTo: <sip:svc@10.0.0.1:5060>\r\nCall-ID: c1@sim\r\n\
CSeq: 1 INVITE\r\nContact: <sip:a@10.0.2.1:5070>\r\nMax-Forwards: 69\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn a_uas_response_copies_the_dialog_headers_and_routes_back_along_the_vias() {
        let req = SipMessage::parse(Bytes::from_static(INVITE.as_bytes())).unwrap();
        let resp = response(
            &req,
            200,
            "OK",
            Some("t9"),
            Some(crate::addr::node(0)),
            true,
        );
        let m = SipMessage::parse(resp).unwrap();
        assert_eq!(m.status_code(), Some(200));
        assert_eq!(m.via_count(), 3);
        assert_eq!(record_routes(&m).len(), 2);
        assert_eq!(to_tag(&m).as_deref(), Some("t9"));
        assert_eq!(top_via_target(&m), Some("10.0.0.1:5065".parse().unwrap()));
        assert_eq!(contact_uri(&m).as_deref(), Some("sip:10.0.1.1:5080"));
        let rr = record_routes(&m);
        assert_eq!(uri_addr(&rr[1]), Some("10.0.0.1:5060".parse().unwrap()));
    }
}
