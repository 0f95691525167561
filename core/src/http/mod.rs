//! HTTP/1.1 plumbing shared by the core's small HTTP services (heartbeat §3.2, management API
//! §7.1): complete responses with a status line and headers (docs/decisions.md §8.3: the
//! reference wrote some without either), and request-head parsing with bounded sizes.
//!
//! [`framer`] frames HTTP/1.x messages incrementally (RFC 9112), for those services and for
//! the HTTP load balancer.

use bytes::Bytes;

pub mod framer;

/// The reason phrase for the status codes the core's services answer with (RFC 9110 §15).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        423 => "Locked",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A complete `HTTP/1.1` response with `Content-Type`, `Content-Length` and
/// `Connection: close` (every service answers one request per connection).
pub fn response(status: u16, content_type: &str, body: &str) -> Bytes {
    Bytes::from(format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason_phrase(status),
        body.len()
    ))
}

/// A complete response with a JSON body.
pub fn json_response(status: u16, body: &serde_json::Value) -> Bytes {
    response(status, "application/json", &body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_have_status_line_headers_and_exact_length() {
        let r = response(401, "text/plain", "nope");
        assert_eq!(
            &r[..],
            b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
        );
    }

    #[test]
    fn every_status_the_framer_and_proxy_answer_has_its_phrase() {
        for status in [
            100, 101, 204, 301, 302, 408, 411, 413, 414, 417, 426, 431, 501, 502, 504, 505,
        ] {
            assert_ne!(reason_phrase(status), "Error", "{status}");
        }
        assert_eq!(reason_phrase(414), "URI Too Long");
        assert_eq!(reason_phrase(505), "HTTP Version Not Supported");
    }
}
