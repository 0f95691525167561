//! Responses the balancer generates itself — 100, 200 (SIP heartbeat), 400, 403, 483, 503,
//! 505 — built statelessly from the request as RFC 3261 §8.2.6 says: every Via (in order),
//! From, To (with a To tag unless the status is 100), Call-ID, CSeq, `Content-Length: 0`.
//!
//! The To tag is derived from the request (Call-ID, From tag, top Via branch), so a
//! retransmitted request gets the same answer from every balancer instance.

use crate::algorithm::fnv1a64;
use crate::sip::{HeaderName, SipMessage};
use bytes::Bytes;
use std::fmt::Write as _;

/// Builds the response `status reason` to `req` with `extra` header lines (name, value)
/// placed before Content-Length. Missing headers of a malformed request are simply left out,
/// so a 400 can always be built when a Via is readable.
pub fn build(req: &SipMessage, status: u16, reason: &str, extra: &[(&str, String)]) -> Bytes {
    build_skipping_vias(req, 0, status, reason, extra)
}

/// [`build`] leaving out the first `skip_vias` Via values (the balancer's own, when it
/// answers a request it already forwarded, §1.16).
pub fn build_skipping_vias(
    req: &SipMessage,
    skip_vias: usize,
    status: u16,
    reason: &str,
    extra: &[(&str, String)],
) -> Bytes {
    let mut out = String::with_capacity(512);
    let _ = write!(out, "SIP/2.0 {status} {reason}\r\n");
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for v in req.values(HeaderName::Via).skip(skip_vias) {
        let _ = write!(out, "Via: {}\r\n", lossy(req.slice(v.range)));
    }
    if let Some(from) = req.get(HeaderName::From) {
        let _ = write!(out, "From: {}\r\n", lossy(from));
    }
    if let Some(to) = req.get(HeaderName::To) {
        let has_tag = req.to().ok().is_some_and(|t| t.tag().is_some());
        if status > 100 && !has_tag {
            let _ = write!(out, "To: {};tag={:016x}\r\n", lossy(to), to_tag(req));
        } else {
            let _ = write!(out, "To: {}\r\n", lossy(to));
        }
    }
    if let Some(call_id) = req.get(HeaderName::CallId) {
        let _ = write!(out, "Call-ID: {}\r\n", lossy(call_id));
    }
    if let Some(cseq) = req.get(HeaderName::CSeq) {
        let _ = write!(out, "CSeq: {}\r\n", lossy(cseq));
    }
    for (name, value) in extra {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Bytes::from(out)
}

fn to_tag(req: &SipMessage) -> u64 {
    let mut seed = Vec::with_capacity(128);
    seed.extend_from_slice(req.get(HeaderName::CallId).unwrap_or_default());
    seed.push(0);
    if let Ok(from) = req.from() {
        seed.extend_from_slice(from.tag().unwrap_or_default());
    }
    seed.push(0);
    if let Ok(via) = req.top_via() {
        seed.extend_from_slice(via.branch.unwrap_or_default());
    }
    fnv1a64(&seed)
}

/// The standard reason phrase of the statuses the balancer generates.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        416 => "Unsupported URI Scheme",
        483 => "Too Many Hops",
        500 => "Server Internal Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_transaction_headers_and_adds_a_stable_to_tag() {
        let req = SipMessage::parse(Bytes::from_static(
            b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b\r\n\
              From: <sip:a@x>;tag=f\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
              Max-Forwards: 0\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let r1 = build(&req, 483, "Too Many Hops", &[]);
        let r2 = build(&req, 483, "Too Many Hops", &[]);
        assert_eq!(r1, r2);
        let resp = SipMessage::parse(r1).unwrap();
        assert_eq!(resp.status_code(), Some(483));
        assert_eq!(resp.via_count(), 2);
        assert!(resp.to().unwrap().tag().is_some());
        assert!(resp.check_mandatory().is_ok());
        let trying = SipMessage::parse(build(&req, 100, "Trying", &[])).unwrap();
        assert!(trying.to().unwrap().tag().is_none());
    }
}
