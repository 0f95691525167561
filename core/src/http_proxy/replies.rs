//! The answers the HTTP balancer gives itself, each a complete HTTP/1.1 response
//! (docs/decisions.md §8.3): no node (`503` with `Retry-After`, §8.2), the HTTPS redirect of a
//! plain request (`302`, behaviour reference §5), framing errors (`400`, `413`, `414`, `431`,
//! `501`, `505`), a client too slow with its head (`408`), a node that failed (`502`) or did
//! not answer in time (`504`).

use crate::http::reason_phrase;
use bytes::Bytes;

/// Seconds a client is asked to wait before retrying when no node can take its request.
pub const RETRY_AFTER_SECS: u32 = 5;

/// A short plain-text answer; `close` adds `Connection: close` (the connection ends after it).
pub fn plain(status: u16, body: &str, close: bool) -> Bytes {
    let connection = if close { "Connection: close\r\n" } else { "" };
    Bytes::from(format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\n{connection}\r\n{body}",
        reason_phrase(status),
        body.len()
    ))
}

/// `503 Service Unavailable` with `Retry-After` (docs/decisions.md §8.2): no node can take the
/// request. The connection stays usable.
pub fn no_node(close: bool) -> Bytes {
    let body = "no node is available to serve this request\n";
    let connection = if close { "Connection: close\r\n" } else { "" };
    Bytes::from(format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: {RETRY_AFTER_SECS}\r\nCache-Control: no-store\r\n\
         {connection}\r\n{body}",
        body.len()
    ))
}

/// The reference's `302 Found` to HTTPS for a request on the plain port while `httpsPort` is
/// set (behaviour reference §5, `HttpRedirectionTest`): `Location` is the request's `Host`
/// with its port replaced by `https_port` (or added), then the request-target. The
/// connection is closed after it, as the reference does.
pub fn https_redirect(
    host: Option<&str>,
    fallback_host: &str,
    https_port: u16,
    target: &str,
) -> Bytes {
    let host = host
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .unwrap_or(fallback_host);
    let name = host_without_port(host);
    let location = if https_port == 443 {
        format!("https://{name}{target}")
    } else {
        format!("https://{name}:{https_port}{target}")
    };
    Bytes::from(format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ))
}

/// The host part of a `Host` value: without its `:port`, brackets of an IPv6 literal kept.
fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_node_is_a_complete_503_with_retry_after() {
        let r = String::from_utf8(no_node(false).to_vec()).unwrap();
        assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(r.contains("\r\nRetry-After: 5\r\n"));
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(!head.contains("Connection: close"));
    }

    #[test]
    fn the_redirect_replaces_the_port_of_the_host_header() {
        let r = https_redirect(Some("lb.example:2080"), "x", 2443, "/a?b=1");
        let r = String::from_utf8(r.to_vec()).unwrap();
        assert!(r.starts_with("HTTP/1.1 302 Found\r\n"));
        assert!(r.contains("\r\nLocation: https://lb.example:2443/a?b=1\r\n"));
        let r = https_redirect(Some("[::1]:2080"), "x", 443, "/");
        assert!(String::from_utf8(r.to_vec())
            .unwrap()
            .contains("Location: https://[::1]/\r\n"));
        let r = https_redirect(None, "127.0.0.1", 8443, "/p");
        assert!(String::from_utf8(r.to_vec())
            .unwrap()
            .contains("Location: https://127.0.0.1:8443/p\r\n"));
    }

    #[test]
    fn plain_answers_say_whether_the_connection_closes() {
        let r = String::from_utf8(plain(504, "late\n", true).to_vec()).unwrap();
        assert!(r.starts_with("HTTP/1.1 504 Gateway Timeout\r\n"));
        assert!(r.contains("Connection: close\r\n"));
        assert!(r.ends_with("\r\n\r\nlate\n"));
    }
}
