//! URIs: SIP/SIPS (RFC 3261 §19.1, IPv6 references per RFC 5118), tel (RFC 3966) and any
//! other scheme kept opaque (RFC 4475 §3.3.2).

use super::error::ParseError;
use super::header::{Param, Params};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966): the number is in [`Uri::user`], there is no host.
    Tel,
    /// Any other scheme: the part after the colon is [`Uri::opaque`].
    Other,
}

/// A parsed URI borrowing from its input. Build it with [`Uri::parse`]; the typed accessors of
/// [`super::SipMessage`] return URIs borrowing from the message, which the editor can rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The whole URI.
    pub raw: &'a [u8],
    /// The scheme.
    pub scheme: Scheme,
    /// The scheme as written.
    pub scheme_raw: &'a [u8],
    /// User part (still %-escaped), or the tel number.
    pub user: Option<&'a [u8]>,
    /// Password, if `user:password@` was written.
    pub password: Option<&'a [u8]>,
    /// Host as written (IPv6 references keep their brackets); empty for tel and other schemes.
    pub host: &'a [u8],
    /// Port, if written.
    pub port: Option<u16>,
    /// Host and port as written: what [`super::Editor::set_uri_host_port`] replaces.
    pub host_port: &'a [u8],
    /// Parameters from the first `;` (empty slice positioned after host/port if none).
    pub params: &'a [u8],
    /// Escaped headers after `?` (RFC 3261 §19.1.1), without the `?`.
    pub headers: Option<&'a [u8]>,
    /// For [`Scheme::Other`], everything after the colon.
    pub opaque: &'a [u8],
}

fn uri_char_ok(b: u8) -> bool {
    b > 0x20 && b != 0x7f && !matches!(b, b'<' | b'>' | b'"')
}

fn host_char_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

impl<'a> Uri<'a> {
    /// Parses one URI with no surrounding whitespace or angle brackets. Usable on its own
    /// (fuzzed); never panics. Rejects SIP URIs whose host is an unbracketed IPv6 address
    /// (RFC 5118 §4.2) or a malformed IPv6 reference (RFC 5118 §4.10, strict reading).
    pub fn parse(raw: &'a [u8]) -> Result<Uri<'a>, ParseError> {
        if raw.is_empty() || !raw.iter().all(|b| uri_char_ok(*b)) {
            return Err(ParseError::BadUri);
        }
        let colon = memchr::memchr(b':', raw).ok_or(ParseError::BadUri)?;
        let scheme_raw = &raw[..colon];
        if !scheme_ok(scheme_raw) {
            return Err(ParseError::BadUri);
        }
        let rest = &raw[colon + 1..];
        let scheme = if scheme_raw.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if scheme_raw.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if scheme_raw.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        let mut uri = Uri {
            raw,
            scheme,
            scheme_raw,
            user: None,
            password: None,
            host: &rest[..0],
            port: None,
            host_port: &rest[..0],
            params: &rest[..0],
            headers: None,
            opaque: rest,
        };
        if rest.is_empty() {
            return Err(ParseError::BadUri);
        }
        match scheme {
            Scheme::Other => Ok(uri),
            Scheme::Tel => {
                let end = memchr::memchr2(b';', b'?', rest).unwrap_or(rest.len());
                uri.user = Some(&rest[..end]);
                let (params, headers) = split_params_headers(&rest[end..]);
                uri.params = params;
                uri.headers = headers;
                Ok(uri)
            }
            Scheme::Sip | Scheme::Sips => {
                let mut hp = rest;
                if let Some(at) = memchr::memchr(b'@', rest) {
                    let userinfo = &rest[..at];
                    match memchr::memchr(b':', userinfo) {
                        Some(c) => {
                            uri.user = Some(&userinfo[..c]);
                            uri.password = Some(&userinfo[c + 1..]);
                        }
                        None => uri.user = Some(userinfo),
                    }
                    if userinfo.is_empty() {
                        return Err(ParseError::BadUri);
                    }
                    hp = &rest[at + 1..];
                }
                let (host, after_host) = split_host(hp)?;
                uri.host = host;
                let mut tail = after_host;
                if let Some(p) = tail.strip_prefix(b":") {
                    let end = memchr::memchr2(b';', b'?', p).unwrap_or(p.len());
                    let port = super::header::parse_decimal(&p[..end], 5)
                        .and_then(|v| u16::try_from(v).ok())
                        .ok_or(ParseError::BadUri)?;
                    uri.port = Some(port);
                    tail = &p[end..];
                }
                uri.host_port = &hp[..hp.len() - tail.len()];
                if !tail.is_empty() && !matches!(tail[0], b';' | b'?') {
                    return Err(ParseError::BadUri);
                }
                let (params, headers) = split_params_headers(tail);
                if !super::header::params_well_formed(params) {
                    return Err(ParseError::BadUri);
                }
                uri.params = params;
                uri.headers = headers;
                Ok(uri)
            }
        }
    }

    /// Iterates the URI parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// The first parameter named `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().named(name)
    }

    /// The `transport` parameter (RFC 3261 §19.1.1).
    pub fn transport(&self) -> Option<&'a [u8]> {
        self.param("transport").and_then(|p| p.value)
    }

    /// Whether the loose-routing flag `lr` is present (RFC 3261 §16.12).
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }

    /// The `node_host` hint the balancer puts in its Record-Route (behaviour reference §1.6).
    pub fn node_host(&self) -> Option<&'a [u8]> {
        self.param("node_host").and_then(|p| p.value)
    }

    /// The `node_port` hint (behaviour reference §1.6); `None` if absent or not a port.
    pub fn node_port(&self) -> Option<u16> {
        let v = self.param("node_port")?.value?;
        super::header::parse_decimal(v, 5).and_then(|v| u16::try_from(v).ok())
    }

    /// The `version` hint (behaviour reference §1.6).
    pub fn version(&self) -> Option<&'a [u8]> {
        self.param("version").and_then(|p| p.value)
    }

    /// The host as an IP address, if it is an IPv4 literal or an IPv6 reference.
    pub fn host_ip(&self) -> Option<IpAddr> {
        parse_ip(self.host)
    }
}

/// Parses an IP address, accepting IPv6 with or without brackets (RFC 5118 §4.5).
pub fn parse_ip(s: &[u8]) -> Option<IpAddr> {
    let inner = s
        .strip_prefix(b"[")
        .and_then(|x| x.strip_suffix(b"]"))
        .unwrap_or(s);
    let text = std::str::from_utf8(inner).ok()?;
    if inner.len() != s.len() || text.contains(':') {
        text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    }
}

fn scheme_ok(s: &[u8]) -> bool {
    matches!(s.first(), Some(b) if b.is_ascii_alphabetic())
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Splits `host[...]` off the front of `s`, validating it; returns (host, rest).
pub(crate) fn split_host(s: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    if s.first() == Some(&b'[') {
        let close = memchr::memchr(b']', s).ok_or(ParseError::BadUri)?;
        let host = &s[..=close];
        if parse_ip(host).is_none() {
            return Err(ParseError::BadUri);
        }
        return Ok((host, &s[close + 1..]));
    }
    let end = s.iter().position(|b| !host_char_ok(*b)).unwrap_or(s.len());
    if end == 0 {
        return Err(ParseError::BadUri);
    }
    Ok((&s[..end], &s[end..]))
}

fn split_params_headers(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(b'?', s) {
        Some(q) => (&s[..q], Some(&s[q + 1..])),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri() {
        let u = Uri::parse(b"sip:alice:pw@[2001:db8::10]:5070;transport=tcp;lr;node_host=10.0.0.1;node_port=5080;version=0?h=v").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.password, Some(&b"pw"[..]));
        assert_eq!(u.host, b"[2001:db8::10]");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.host_port, b"[2001:db8::10]:5070");
        assert_eq!(u.transport(), Some(&b"tcp"[..]));
        assert!(u.lr());
        assert_eq!(u.node_host(), Some(&b"10.0.0.1"[..]));
        assert_eq!(u.node_port(), Some(5080));
        assert_eq!(u.version(), Some(&b"0"[..]));
        assert_eq!(u.headers, Some(&b"h=v"[..]));
    }

    #[test]
    fn rejects() {
        assert!(Uri::parse(b"sip:2001:db8::10").is_err());
        assert!(Uri::parse(b"sip:[2001:db8:::192.0.2.1]").is_err());
        assert!(Uri::parse(b"<sip:a@b>").is_err());
        assert!(Uri::parse(b"sip:a@b; lr").is_err());
        assert!(Uri::parse(b"sip:a@b:99999").is_err());
        assert!(Uri::parse(b"").is_err());
        assert!(Uri::parse(b"sip:").is_err());
    }

    #[test]
    fn other_schemes() {
        let u = Uri::parse(b"nobodyKnowsThisScheme:totallyopaquecontent").unwrap();
        assert_eq!(u.scheme, Scheme::Other);
        assert_eq!(u.opaque, b"totallyopaquecontent");
        let t = Uri::parse(b"tel:+1-201-555-0123;phone-context=x").unwrap();
        assert_eq!(t.user, Some(&b"+1-201-555-0123"[..]));
        assert!(t.param("phone-context").is_some());
    }
}
