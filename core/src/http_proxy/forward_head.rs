//! The head a proxied request leaves with (RFC 9110 §7.6): the request line as received (in
//! HTTP/1.1), the end-to-end fields unchanged and in order, the hop-by-hop ones dropped (the
//! fields `Connection` names, and `Connection`, `Keep-Alive`, `Proxy-Connection`, `TE`,
//! `Upgrade` unless the request is a protocol switch), then the balancer's own: `Connection`
//! for the node leg, and `X-Forwarded-For`, `-Proto` and `-Port` (a de-facto standard the
//! nodes' access logs and redirects rely on) unless turned off. The body's framing fields
//! (`Content-Length`, `Transfer-Encoding`, `Trailer`) are kept: the body is relayed as it came.

use crate::http::framer::{BodyKind, Head, StartLine};
use bytes::{BufMut, Bytes, BytesMut};
use std::net::SocketAddr;

/// What the balancer adds to a forwarded request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardedBy {
    /// The client's address (`X-Forwarded-For` is extended with its IP).
    pub client: SocketAddr,
    /// True when the client connection was TLS (`X-Forwarded-Proto: https`).
    pub https: bool,
    /// The balancer port the client connected to (`X-Forwarded-Port`).
    pub port: u16,
    /// Add the `X-Forwarded-*` fields.
    pub x_forwarded: bool,
}

/// The fields a proxy never forwards (RFC 9110 §7.6.1), besides those `Connection` lists.
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
];

/// Builds the head to send to the node for a request `head` (a request head from the framer),
/// with `target` as its request-target (the received one after URL rewriting).
/// A protocol switch (`Upgrade` with `Connection: upgrade`, e.g. WebSocket) keeps `Upgrade`
/// and asks for it again; any other request asks the node to keep the connection open.
/// Returns `None` for a response head.
pub fn forward_head(head: &Head, target: &str, by: &ForwardedBy) -> Option<Bytes> {
    let StartLine::Request { method, .. } = &head.start else {
        return None;
    };
    let listed: Vec<String> = head
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| tokens(value))
        .collect();
    let switching = head.upgrade.is_some();
    let dropped = |name: &str| {
        let upgrade_kept = switching && name.eq_ignore_ascii_case("upgrade");
        let x_replaced = by.x_forwarded
            && (name.eq_ignore_ascii_case("x-forwarded-proto")
                || name.eq_ignore_ascii_case("x-forwarded-port"));
        x_replaced
            || (!upgrade_kept
                && (HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
                    || listed.iter().any(|l| name.eq_ignore_ascii_case(l))))
    };
    let mut out = BytesMut::with_capacity(head.raw.len() + 128);
    out.put_slice(format!("{method} {target} HTTP/1.1\r\n").as_bytes());
    let mut forwarded_for: Option<Bytes> = None;
    let mut sent_length = false;
    for (name, value) in &head.headers {
        if by.x_forwarded && name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = Some(value.clone());
            continue;
        }
        if dropped(name) {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            // One field with one value (RFC 9110 §8.6): `5, 5` or a repeated field, which the
            // framer accepted only when every value agreed, leaves as a single `5`.
            if !sent_length {
                if let BodyKind::Length(n) = head.body {
                    put_field(&mut out, b"Content-Length", n.to_string().as_bytes());
                }
                sent_length = true;
            }
            continue;
        }
        put_field(&mut out, name.as_bytes(), value);
    }
    let connection: &[u8] = if switching { b"Upgrade" } else { b"keep-alive" };
    put_field(&mut out, b"Connection", connection);
    if by.x_forwarded {
        let ip = by.client.ip().to_string();
        let chain = match forwarded_for {
            Some(earlier) => [&earlier[..], b", ", ip.as_bytes()].concat(),
            None => ip.into_bytes(),
        };
        put_field(&mut out, b"X-Forwarded-For", &chain);
        let proto: &[u8] = if by.https { b"https" } else { b"http" };
        put_field(&mut out, b"X-Forwarded-Proto", proto);
        put_field(
            &mut out,
            b"X-Forwarded-Port",
            by.port.to_string().as_bytes(),
        );
    }
    out.put_slice(b"\r\n");
    Some(out.freeze())
}

fn put_field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// The comma-separated tokens of a `Connection` value, trimmed (RFC 9110 §7.6.1).
fn tokens(value: &Bytes) -> Vec<String> {
    String::from_utf8_lossy(value)
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::framer::{FrameEvent, Limits, MessageFramer};

    fn head(raw: &str) -> Head {
        let mut f = MessageFramer::request(Limits::default());
        f.feed(Bytes::from(raw.to_owned()));
        match f.poll() {
            Ok(Some(FrameEvent::Head(h))) => h,
            other => panic!("not a head: {other:?}"),
        }
    }

    fn by(x_forwarded: bool) -> ForwardedBy {
        ForwardedBy {
            client: "192.0.2.7:40000".parse().unwrap(),
            https: true,
            port: 2443,
            x_forwarded,
        }
    }

    fn text(b: Bytes) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn hop_by_hop_fields_are_dropped_and_end_to_end_ones_kept_in_order() {
        let h = head(
            "GET /a?b=1 HTTP/1.1\r\nHost: lb\r\nConnection: close, X-Secret\r\nX-Secret: s\r\n\
             Keep-Alive: timeout=5\r\nTE: trailers\r\nAccept: */*\r\nCookie: c=1\r\n\r\n",
        );
        let out = text(forward_head(&h, h.target().unwrap_or("/"), &by(false)).unwrap());
        assert_eq!(
            out,
            "GET /a?b=1 HTTP/1.1\r\nHost: lb\r\nAccept: */*\r\nCookie: c=1\r\n\
             Connection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn x_forwarded_fields_extend_the_chain_and_replace_proto_and_port() {
        let h = head(
            "POST /x HTTP/1.0\r\nHost: lb\r\nX-Forwarded-For: 203.0.113.9\r\n\
             X-Forwarded-Proto: http\r\nContent-Length: 2\r\n\r\n",
        );
        let out = text(forward_head(&h, h.target().unwrap_or("/"), &by(true)).unwrap());
        assert!(out.starts_with("POST /x HTTP/1.1\r\n"), "{out}");
        assert!(out.contains("Content-Length: 2\r\n"), "{out}");
        assert!(
            out.contains("X-Forwarded-For: 203.0.113.9, 192.0.2.7\r\n"),
            "{out}"
        );
        assert!(out.contains("X-Forwarded-Proto: https\r\n"), "{out}");
        assert!(out.contains("X-Forwarded-Port: 2443\r\n"), "{out}");
        assert_eq!(out.matches("X-Forwarded-Proto").count(), 1, "{out}");
    }

    #[test]
    fn a_websocket_upgrade_keeps_upgrade_and_asks_for_it_again() {
        let h = head(
            "GET /ws HTTP/1.1\r\nHost: lb\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
        let out = text(forward_head(&h, h.target().unwrap_or("/"), &by(false)).unwrap());
        assert!(out.contains("Upgrade: websocket\r\n"), "{out}");
        assert!(out.contains("Connection: Upgrade\r\n"), "{out}");
        assert!(
            out.contains("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            "{out}"
        );
        assert!(!out.contains("keep-alive"), "{out}");
    }

    #[test]
    fn a_repeated_content_length_leaves_as_one_value() {
        let h = head(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello",
        );
        let out = text(forward_head(&h, "/", &by(false)).unwrap());
        assert_eq!(out.matches("Content-Length").count(), 1, "{out}");
        assert!(out.contains("\r\nContent-Length: 5\r\n"), "{out}");
    }
}
