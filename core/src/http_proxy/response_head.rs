//! The head a node's response leaves for the client with (RFC 9110 §7.6.1): the status line
//! as the node sent it, end-to-end fields unchanged and in order, hop-by-hop fields dropped
//! (those `Connection` lists, and `Connection`, `Keep-Alive`, `Proxy-Connection`, `TE`,
//! `Upgrade` except in a `101`), then the balancer's own `Connection` for the client leg.

use crate::http::framer::Head;
use bytes::{BufMut, Bytes, BytesMut};

/// How the response body is relayed to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFraming {
    /// As the node framed it (`Content-Length`, chunked, or no body).
    AsIs,
    /// The node's chunked body goes to an HTTP/1.0 client as raw bytes ended by closing the
    /// connection (`Transfer-Encoding` dropped).
    Unchunked,
}

/// Builds the response head for the client from the node's `head`. `keep_alive` says whether
/// the client connection stays open after this response; `framing` whether a chunked body
/// is unchunked for an HTTP/1.0 client.
pub fn response_head(head: &Head, keep_alive: bool, framing: ClientFraming) -> Bytes {
    let switching = head.status() == Some(101);
    let listed: Vec<&[u8]> = head
        .header_values("connection")
        .flat_map(|v| v.split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
        .collect();
    let dropped = |name: &str| {
        let is = |other: &str| name.eq_ignore_ascii_case(other);
        if switching && is("upgrade") {
            return false;
        }
        is("connection")
            || is("keep-alive")
            || is("proxy-connection")
            || is("te")
            || is("upgrade")
            || (framing == ClientFraming::Unchunked && is("transfer-encoding"))
            || listed
                .iter()
                .any(|l| l.eq_ignore_ascii_case(name.as_bytes()))
    };
    let status_line_end = head
        .raw
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(head.raw.len(), |p| p + 2);
    let mut out = BytesMut::with_capacity(head.raw.len() + 32);
    out.put_slice(&head.raw[..status_line_end]);
    for (name, value) in &head.headers {
        if dropped(name) {
            continue;
        }
        out.put_slice(name.as_bytes());
        out.put_slice(b": ");
        out.put_slice(value);
        out.put_slice(b"\r\n");
    }
    let connection: &[u8] = if switching {
        b"Connection: Upgrade\r\n"
    } else if keep_alive {
        b"Connection: keep-alive\r\n"
    } else {
        b"Connection: close\r\n"
    };
    out.put_slice(connection);
    out.put_slice(b"\r\n");
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::framer::{FrameEvent, Limits, MessageFramer};

    fn head(raw: &str) -> Head {
        let mut f = MessageFramer::response(Limits::default(), false);
        f.feed(Bytes::from(raw.to_owned()));
        match f.poll() {
            Ok(Some(FrameEvent::Head(h))) => h,
            other => panic!("not a head: {other:?}"),
        }
    }

    fn text(b: Bytes) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn hop_by_hop_fields_are_dropped_and_the_client_leg_gets_its_own_connection() {
        let h = head(
            "HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n\
             Set-Cookie: JSESSIONID=a.n1\r\nContent-Length: 2\r\n\r\nok",
        );
        let out = text(response_head(&h, true, ClientFraming::AsIs));
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nSet-Cookie: JSESSIONID=a.n1\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
        );
        assert!(
            text(response_head(&h, false, ClientFraming::AsIs)).contains("Connection: close\r\n")
        );
    }

    #[test]
    fn a_switch_keeps_upgrade_and_an_http10_client_gets_the_body_unchunked() {
        let h = head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n");
        let out = text(response_head(&h, true, ClientFraming::AsIs));
        assert!(out.contains("Upgrade: websocket\r\n") && out.contains("Connection: Upgrade\r\n"));
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\n\r\n");
        let out = text(response_head(&h, false, ClientFraming::Unchunked));
        assert!(!out.contains("Transfer-Encoding") && !out.contains("Upgrade"));
        assert!(out.ends_with("Connection: close\r\n\r\n"));
    }
}
