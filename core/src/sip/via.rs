//! The Via header value (RFC 3261 §20.42, §18.2.1; rport per RFC 3581).

use super::error::ParseError;
use super::header::{
    is_token, is_ws, params_well_formed, parse_decimal, HeaderName, Param, Params,
};
use super::uri::{parse_ip, split_host};
use crate::node::Transport;
use std::net::IpAddr;

/// The transport of a Via, reusing [`Transport`] for the ones the balancer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViaTransport<'a> {
    /// UDP, TCP, TLS, WS or WSS.
    Known(Transport),
    /// SCTP (RFC 4168).
    Sctp,
    /// Anything else, as written (RFC 4475 `transports`).
    Other(&'a [u8]),
}

impl<'a> ViaTransport<'a> {
    fn from_bytes(t: &'a [u8]) -> Self {
        let known = [
            (&b"UDP"[..], Transport::Udp),
            (b"TCP", Transport::Tcp),
            (b"TLS", Transport::Tls),
            (b"WS", Transport::Ws),
            (b"WSS", Transport::Wss),
        ];
        for (name, tr) in known {
            if t.eq_ignore_ascii_case(name) {
                return ViaTransport::Known(tr);
            }
        }
        if t.eq_ignore_ascii_case(b"SCTP") {
            ViaTransport::Sctp
        } else {
            ViaTransport::Other(t)
        }
    }
}

/// The `rport` parameter (RFC 3581 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rport {
    /// No `rport` parameter.
    Absent,
    /// `;rport` without a value: the client asks for it to be filled in.
    Requested,
    /// `;rport=N`.
    Value(u16),
}

/// One Via value. Obtain it with [`super::SipMessage::top_via`] or [`Via::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// The whole via-parm.
    pub raw: &'a [u8],
    /// Protocol name (`SIP`).
    pub protocol: &'a [u8],
    /// Protocol version (`2.0`; RFC 4475 `badvers` has `7.0`).
    pub version: &'a [u8],
    /// Transport.
    pub transport: ViaTransport<'a>,
    /// sent-by host as written (IPv6 references keep brackets).
    pub host: &'a [u8],
    /// sent-by port, if written.
    pub port: Option<u16>,
    /// Parameters from the first `;` (empty slice at the end of the value if none).
    pub params: &'a [u8],
    /// `branch` value.
    pub branch: Option<&'a [u8]>,
    /// `received` value as written (with or without brackets, RFC 5118 §4.5).
    pub received: Option<&'a [u8]>,
    /// `rport`.
    pub rport: Rport,
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(|b| is_ws(*b)) {
        i += 1;
    }
    i
}

fn token_at(s: &[u8], i: usize) -> (usize, usize) {
    let mut j = i;
    while s.get(j).is_some_and(|b| is_token(*b)) {
        j += 1;
    }
    (i, j)
}

impl<'a> Via<'a> {
    /// Parses one via-parm (not a comma list), tolerating LWS around `/`, `:`, `;` and `=`
    /// as in RFC 4475 `wsinv`, and rejecting empty parameters (`badinv01`).
    pub fn parse(raw: &'a [u8]) -> Result<Via<'a>, ParseError> {
        let bad = ParseError::BadHeaderValue(HeaderName::Via);
        let s = raw;
        let mut parts = [(0usize, 0usize); 3];
        let mut i = skip_ws(s, 0);
        for (k, part) in parts.iter_mut().enumerate() {
            if k > 0 {
                if s.get(i) != Some(&b'/') {
                    return Err(bad);
                }
                i = skip_ws(s, i + 1);
            }
            let (a, b) = token_at(s, i);
            if a == b {
                return Err(bad);
            }
            *part = (a, b);
            i = skip_ws(s, b);
        }
        let [p, v, t] = parts;
        if i == parts[2].1 {
            return Err(bad); // LWS required before sent-by
        }
        let rest = s.get(i..).ok_or(bad.clone())?;
        let (host, mut tail) = split_host(rest).map_err(|_| bad.clone())?;
        let mut port = None;
        let after_host = tail;
        let j = skip_ws(tail, 0);
        if tail.get(j) == Some(&b':') {
            let k = skip_ws(tail, j + 1);
            let (a, b) = (
                k,
                k + tail
                    .get(k..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count(),
            );
            let n = parse_decimal(tail.get(a..b).unwrap_or_default(), 5)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or(bad.clone())?;
            port = Some(n);
            tail = tail.get(b..).unwrap_or_default();
        } else if tail.get(j).is_some_and(|b| *b != b';') {
            return Err(bad);
        } else {
            tail = after_host;
        }
        let params = match tail.iter().position(|b| !is_ws(*b)) {
            Some(k) => tail.get(k..).unwrap_or_default(),
            None => tail.get(tail.len()..).unwrap_or_default(),
        };
        if !params_well_formed(params) {
            return Err(bad);
        }
        let mut via = Via {
            raw,
            protocol: s.get(p.0..p.1).unwrap_or_default(),
            version: s.get(v.0..v.1).unwrap_or_default(),
            transport: ViaTransport::from_bytes(s.get(t.0..t.1).unwrap_or_default()),
            host,
            port,
            params,
            branch: None,
            received: None,
            rport: Rport::Absent,
        };
        for prm in Params::new(params) {
            if prm.name.eq_ignore_ascii_case(b"branch") && via.branch.is_none() {
                via.branch = prm.value;
            } else if prm.name.eq_ignore_ascii_case(b"received") && via.received.is_none() {
                via.received = prm.value;
            } else if prm.name.eq_ignore_ascii_case(b"rport") && via.rport == Rport::Absent {
                via.rport = match prm.value {
                    None => Rport::Requested,
                    Some(v) => Rport::Value(
                        parse_decimal(v, 5)
                            .and_then(|n| u16::try_from(n).ok())
                            .ok_or(bad.clone())?,
                    ),
                };
            }
        }
        Ok(via)
    }

    /// Iterates all parameters (including branch, received, rport).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// The first parameter named `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().named(name)
    }

    /// `received` as an IP address (brackets optional, RFC 5118 §4.5).
    pub fn received_ip(&self) -> Option<IpAddr> {
        self.received.and_then(parse_ip)
    }

    /// Whether the branch carries the RFC 3261 magic cookie and something after it
    /// (§8.1.1.7); RFC 4475 `badbranch` has the bare cookie, which is not a unique id.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .is_some_and(|b| b.len() > 7 && b.get(..7).is_some_and(|c| c == b"z9hG4bK"))
    }

    /// Whether the protocol is `SIP/2.0`.
    pub fn is_sip_2_0(&self) -> bool {
        self.protocol.eq_ignore_ascii_case(b"SIP") && self.version == b"2.0"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_via() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.host, b"192.0.2.2");
        assert_eq!(v.branch, Some(&b"390skdjuw"[..]));
        assert_eq!(v.transport, ViaTransport::Known(Transport::Udp));
    }

    #[test]
    fn ipv6_rport() {
        let v = Via::parse(
            b"SIP/2.0/TCP [2001:db8::9:1]:6050 ;received=[2001:db8::9:255];rport;branch=z9hG4bKx",
        )
        .unwrap();
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.rport, Rport::Requested);
        assert!(v.received_ip().is_some());
        let v = Via::parse(b"SIP/2.0/UDP h : 5060;rport=7").unwrap();
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.rport, Rport::Value(7));
        assert!(Via::parse(b"SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse(b"SIP/2.0/UDP").is_err());
    }
}
