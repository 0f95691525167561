//! The WebSocket opening handshake (RFC 6455 §4): the server's check of an HTTP/1.1 Upgrade
//! request and its `101 Switching Protocols` answer (§4.2), and the client's request and
//! check of that answer (§4.1). Both take everything received so far on the connection and
//! answer "need more" until the head (ending `\r\n\r\n`) is complete.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use sha1::{Digest as _, Sha1};

/// The GUID appended to the key before hashing (RFC 6455 §1.3, §4.2.2).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest request or response head accepted, `\r\n\r\n` included: 8 KiB.
pub const MAX_HEAD: usize = 8 * 1024;

/// The most header fields parsed in one head.
const MAX_HEADERS: usize = 64;

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2 item 5.4):
/// base64 of the SHA-1 of the key (as sent, trimmed) followed by the GUID.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// The server's verdict on the bytes received so far ([`accept`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeResult {
    /// The request head is not complete yet: call again when more bytes arrive.
    NeedMore,
    /// A valid upgrade: write `response` (the `101 Switching Protocols`); the first `consumed`
    /// bytes were the request head, and any bytes after them are already WebSocket frames.
    Accept {
        response: Bytes,
        consumed: usize,
        /// The request target, e.g. `/`.
        path: String,
    },
    /// Not an acceptable upgrade: write `response` (a complete HTTP/1.1 error response with
    /// `Connection: close`) and close the connection.
    Reject { response: Bytes, status: u16 },
}

/// Checks a WebSocket upgrade request (RFC 6455 §4.2.1) and builds the answer (§4.2.2).
///
/// Call it with everything received on the connection so far, each time bytes arrive, until it
/// stops answering [`HandshakeResult::NeedMore`]; the work per call is bounded by [`MAX_HEAD`].
/// With `required_subprotocol` set (`Some("sip")` for RFC 7118), a request that does not offer
/// it is refused `400` and the answer echoes it in `Sec-WebSocket-Protocol`; with `None` no
/// sub-protocol is selected.
///
/// Refusals: a head over 8 KiB `431`; not `GET … HTTP/1.1`, no `Upgrade: websocket`, no
/// `upgrade` token in `Connection`, a `Sec-WebSocket-Key` that is not base64 of 16 bytes, or
/// a missing required sub-protocol `400`; a `Sec-WebSocket-Version` other than 13 `426` with
/// `Sec-WebSocket-Version: 13` (§4.4).
pub fn accept(buf: &[u8], required_subprotocol: Option<&str>) -> HandshakeResult {
    let consumed = match head_len(buf) {
        Some(len) if len <= MAX_HEAD => len,
        None if buf.len() < MAX_HEAD => return HandshakeResult::NeedMore,
        _ => return reject(431, &[], "request head exceeds 8 KiB\n"),
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(&buf[..consumed]) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => {
            return reject(431, &[], "too many header fields\n")
        }
        Ok(httparse::Status::Partial) | Err(_) => {
            return reject(400, &[], "malformed HTTP request head\n")
        }
    }
    if request.method != Some("GET") || request.version != Some(1) {
        return reject(400, &[], "a WebSocket upgrade is a GET HTTP/1.1 request\n");
    }
    let fields = request.headers;
    if !has_token(fields, "upgrade", "websocket") {
        return reject(400, &[], "missing \"Upgrade: websocket\"\n");
    }
    if !has_token(fields, "connection", "upgrade") {
        return reject(400, &[], "missing \"upgrade\" in Connection\n");
    }
    let versions: Vec<&str> = values(fields, "sec-websocket-version").collect();
    if versions.as_slice() != ["13"] {
        return reject(
            426,
            &[("Sec-WebSocket-Version", "13")],
            "only WebSocket version 13 is supported\n",
        );
    }
    let keys: Vec<&str> = values(fields, "sec-websocket-key").collect();
    let key = match keys.as_slice() {
        [key] if BASE64.decode(key).is_ok_and(|k| k.len() == 16) => *key,
        _ => return reject(400, &[], "invalid Sec-WebSocket-Key\n"),
    };
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if let Some(protocol) = required_subprotocol {
        if !has_token(fields, "sec-websocket-protocol", protocol) {
            let body =
                format!("the WebSocket sub-protocol \"{protocol}\" is required (RFC 7118)\n");
            return reject(400, &[], &body);
        }
        response.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    response.push_str("\r\n");
    HandshakeResult::Accept {
        response: Bytes::from(response),
        consumed,
        path: request.path.unwrap_or("/").to_owned(),
    }
}

/// The client side of the handshake (RFC 6455 §4.1): the request to write and the check of
/// the server's answer.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    request: Bytes,
    expected_accept: String,
    subprotocol: Option<String>,
}

/// The client's verdict on the bytes received so far ([`ClientHandshake::check_response`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientResult {
    /// The response head is not complete yet: call again when more bytes arrive.
    NeedMore,
    /// The server switched protocols; the first `consumed` bytes were the response head, and
    /// any bytes after them are already WebSocket frames.
    Established { consumed: usize },
    /// The server refused or answered wrongly: close the connection (RFC 6455 §4.1 "_Fail the
    /// WebSocket Connection_").
    Refused { reason: String },
}

impl ClientHandshake {
    /// Prepares a handshake toward `host_header` (the `Host` value, e.g. `10.0.0.1:5062`) for
    /// request target `path` (empty means `/`), offering `subprotocol` (`Some("sip")` for RFC
    /// 7118). Carriage returns and line feeds in `host_header` and `path` are dropped.
    ///
    /// The `Sec-WebSocket-Key` is derived from `key_seed`, not drawn at random as RFC 6455
    /// §4.1 asks: the core is deterministic. That is fine for a server-to-server client such as
    /// the balancer: the key's unpredictability (like the masking key's, §10.3) protects
    /// intermediaries from content chosen by untrusted scripts in browsers, and it only needs
    /// to differ between connections, which distinct seeds give.
    pub fn new(host_header: &str, path: &str, subprotocol: Option<&str>, key_seed: u64) -> Self {
        let mut state = key_seed;
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&super::splitmix64(&mut state).to_be_bytes());
        raw[8..].copy_from_slice(&super::splitmix64(&mut state).to_be_bytes());
        let key = BASE64.encode(raw);
        let clean = |s: &str| s.replace(['\r', '\n'], "");
        let path = match clean(path) {
            p if p.is_empty() => "/".to_owned(),
            p => p,
        };
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
            clean(host_header)
        );
        let subprotocol = subprotocol.map(clean);
        if let Some(protocol) = &subprotocol {
            request.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
        }
        request.push_str("\r\n");
        ClientHandshake {
            request: Bytes::from(request),
            expected_accept: accept_key(&key),
            subprotocol,
        }
    }

    /// The upgrade request to write once the connection (TCP or TLS) is up.
    pub fn request(&self) -> Bytes {
        self.request.clone()
    }

    /// Checks the server's answer (RFC 6455 §4.1, client requirements 1–6). Call it with
    /// everything received after writing [`Self::request`], each time bytes arrive, until it
    /// stops answering [`ClientResult::NeedMore`].
    ///
    /// Refused: a head over 8 KiB, a status other than 101, no `Upgrade: websocket` or
    /// `upgrade` in `Connection`, a wrong `Sec-WebSocket-Accept`, any extension, or a
    /// sub-protocol other than the one offered (none when none was offered).
    pub fn check_response(&self, buf: &[u8]) -> ClientResult {
        let refused = |reason: &str| ClientResult::Refused {
            reason: reason.to_owned(),
        };
        let consumed = match head_len(buf) {
            Some(len) if len <= MAX_HEAD => len,
            None if buf.len() < MAX_HEAD => return ClientResult::NeedMore,
            _ => return refused("response head exceeds 8 KiB"),
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf[..consumed]) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) | Err(_) => return refused("malformed response head"),
        }
        if response.code != Some(101) {
            let code = response.code.unwrap_or(0);
            let phrase = response.reason.unwrap_or("");
            return refused(&format!("the server answered {code} {phrase}"));
        }
        let fields = response.headers;
        if !has_token(fields, "upgrade", "websocket") {
            return refused("missing \"Upgrade: websocket\" in the 101 response");
        }
        if !has_token(fields, "connection", "upgrade") {
            return refused("missing \"upgrade\" in the 101 response's Connection");
        }
        let accepts: Vec<&str> = values(fields, "sec-websocket-accept").collect();
        if accepts.as_slice() != [self.expected_accept.as_str()] {
            return refused("wrong Sec-WebSocket-Accept");
        }
        if values(fields, "sec-websocket-extensions").any(|v| !v.is_empty()) {
            return refused("the server selected an extension that was not offered");
        }
        let selected: Vec<&str> = tokens(fields, "sec-websocket-protocol").collect();
        match (&self.subprotocol, selected.as_slice()) {
            (None, []) => {}
            (Some(offered), [chosen]) if chosen.eq_ignore_ascii_case(offered) => {}
            (Some(offered), _) => {
                return refused(&format!(
                    "the server did not select the sub-protocol \"{offered}\""
                ))
            }
            (None, _) => return refused("the server selected a sub-protocol that was not offered"),
        }
        ClientResult::Established { consumed }
    }
}

/// The length of the head up to and including the first `\r\n\r\n`, looking no further than
/// one byte past [`MAX_HEAD`].
fn head_len(buf: &[u8]) -> Option<usize> {
    let window = &buf[..buf.len().min(MAX_HEAD + 1)];
    memchr::memmem::find(window, b"\r\n\r\n").map(|at| at + 4)
}

/// The trimmed values of every field named `name` (lower case), skipping non-UTF-8 values.
fn values<'a>(
    fields: &'a [httparse::Header<'a>],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    fields
        .iter()
        .filter(move |f| f.name.eq_ignore_ascii_case(name))
        .filter_map(|f| std::str::from_utf8(f.value).ok())
        .map(str::trim)
}

/// The comma-separated tokens of every field named `name` (RFC 9110 §5.6.1 lists).
fn tokens<'a>(
    fields: &'a [httparse::Header<'a>],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    values(fields, name)
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// True if a field named `name` lists `token`, ignoring ASCII case.
fn has_token(fields: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    tokens(fields, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// A complete error response that closes the connection.
fn reject(status: u16, extra: &[(&str, &str)], body: &str) -> HandshakeResult {
    let phrase = match status {
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let mut head = format!("HTTP/1.1 {status} {phrase}\r\n");
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    HandshakeResult::Reject {
        response: Bytes::from(head),
        status,
    }
}
