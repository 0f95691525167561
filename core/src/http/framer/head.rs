//! A complete message head: parsed once by `httparse`, then checked and turned into the
//! body framing of RFC 9112 §6.3 and the connection semantics of RFC 9112 §9.

use super::{FramingError, Limits};
use bytes::Bytes;

/// The first line of a message (RFC 9112 §3, §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `method SP request-target SP HTTP-version` (RFC 9112 §3).
    Request {
        /// The method token, case preserved (methods are case-sensitive, RFC 9110 §9.1).
        method: String,
        /// The request-target as sent (RFC 9112 §3.2).
        target: String,
    },
    /// `HTTP-version SP status-code SP [ reason-phrase ]` (RFC 9112 §4).
    Response {
        /// The three-digit status code, 100 to 999.
        status: u16,
        /// The reason phrase; empty when absent or not plain ASCII.
        reason: String,
    },
}

/// How the body after a head is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: a request without `Content-Length` or `Transfer-Encoding`, or a response to
    /// `HEAD`, or a `1xx`, `204` or `304` response (rules 1 and 6).
    None,
    /// Exactly this many bytes (`Content-Length`, rule 5; zero included).
    Length(u64),
    /// The chunked transfer coding is the final coding (rule 4, RFC 9112 §7.1).
    Chunked,
    /// A response delimited by the server closing the connection (rules 4 and 8).
    UntilClose,
}

/// A parsed message head. Header values and `raw` share one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Request line or status line.
    pub start: StartLine,
    /// The minor version of `HTTP/1.x`: 0 or 1.
    pub version: u8,
    /// Header fields in order, names as sent (RFC 9110 §5; compare them case-insensitively).
    pub headers: Vec<(String, Bytes)>,
    /// The head exactly as received, start line through the empty line, for a proxy to
    /// forward or rewrite.
    pub raw: Bytes,
    /// How the body is delimited.
    pub body: BodyKind,
    /// The connection may carry another message after this one (RFC 9112 §9.3): HTTP/1.1
    /// without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`; never for a
    /// body delimited by close.
    pub keep_alive: bool,
    /// An HTTP/1.1 request carrying `Expect: 100-continue` (RFC 9110 §10.1.1); the sender
    /// may wait for a `100 Continue` before sending the body.
    pub expect_continue: bool,
    /// The `Upgrade` field value (RFC 9110 §7.8) when `Connection` lists `upgrade`; ignored
    /// (`None`) in an HTTP/1.0 request, as §7.8 requires.
    pub upgrade: Option<Bytes>,
}

impl Head {
    /// The request method; `None` for a response.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The request-target; `None` for a response.
    pub fn target(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { target, .. } => Some(target),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code; `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    /// An interim `1xx` response other than `101` (RFC 9110 §15.2): the final response to
    /// the same request follows it.
    pub fn is_interim(&self) -> bool {
        matches!(self.status(), Some(100..=199)) && self.status() != Some(101)
    }

    /// The first value of the named field (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every value of the named field (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether a list-valued field (RFC 9110 §5.6.1) contains `token` (case-insensitive).
    fn lists(&self, name: &str, token: &str) -> bool {
        list_items(self.header_values(name)).any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
    }
}

/// What the framer knows about the request a response answers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Parse {
    Request,
    Response { request_method_was_head: bool },
}

/// Header slots on the stack for one parse; more only when a head has more fields.
const FEW_FIELDS: usize = 32;

type StartAndFields = (StartLine, u8, Vec<(String, Bytes)>);

/// The start line and fields of a complete head, with at most `slots.len()` fields. The
/// outer error is httparse's (mapped by the caller); the inner one is a head httparse accepts
/// but HTTP does not.
fn parse_start_and_fields<'b>(
    raw: &'b Bytes,
    parse: Parse,
    slots: &mut [httparse::Header<'b>],
) -> Result<Result<StartAndFields, FramingError>, httparse::Error> {
    match parse {
        Parse::Request => {
            let mut req = httparse::Request::new(slots);
            if !req.parse(raw)?.is_complete() {
                return Ok(Err(FramingError::MalformedHead("incomplete head")));
            }
            let start = StartLine::Request {
                method: req.method.unwrap_or_default().to_owned(),
                target: req.path.unwrap_or_default().to_owned(),
            };
            Ok(Ok((
                start,
                req.version.unwrap_or(1),
                owned_fields(req.headers, raw),
            )))
        }
        Parse::Response { .. } => {
            let mut res = httparse::Response::new(slots);
            if !res.parse(raw)?.is_complete() {
                return Ok(Err(FramingError::MalformedHead("incomplete head")));
            }
            let code = res.code.unwrap_or_default();
            if code < 100 {
                return Ok(Err(FramingError::MalformedHead("status code below 100")));
            }
            let start = StartLine::Response {
                status: code,
                reason: res.reason.unwrap_or_default().to_owned(),
            };
            Ok(Ok((
                start,
                res.version.unwrap_or(1),
                owned_fields(res.headers, raw),
            )))
        }
    }
}

/// Parses a complete head (`raw` ends with the empty line) and decides its framing.
pub(super) fn parse(raw: Bytes, parse: Parse, limits: &Limits) -> Result<Head, FramingError> {
    check_line_endings(&raw)?;
    // Most heads fit a small array on the stack; only a head with more fields is parsed again
    // with room for `max_headers`.
    let mut few = [httparse::EMPTY_HEADER; FEW_FIELDS];
    let (start, version, fields) =
        match parse_start_and_fields(&raw, parse, &mut few[..limits.max_headers.min(FEW_FIELDS)]) {
            Err(httparse::Error::TooManyHeaders) if limits.max_headers > FEW_FIELDS => {
                let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
                parse_start_and_fields(&raw, parse, &mut slots)
            }
            other => other,
        }
        .map_err(|e| parse_error(e, &raw, matches!(parse, Parse::Request)))??;
    let mut head = Head {
        start,
        version,
        headers: fields,
        raw,
        body: BodyKind::None,
        keep_alive: false,
        expect_continue: false,
        upgrade: None,
    };
    if head.method().is_some() && head.header_values("host").nth(1).is_some() {
        // RFC 9112 §3.2: a request with more than one Host field is answered with 400.
        return Err(FramingError::MalformedHead("more than one Host field"));
    }
    head.body = body_kind(&head, parse)?;
    if let (Some(max), BodyKind::Length(n)) = (limits.max_body, head.body) {
        if n > max {
            return Err(FramingError::BodyTooLarge);
        }
    }
    head.keep_alive = head.body != BodyKind::UntilClose
        && !head.lists("connection", "close")
        && (head.version == 1 || head.lists("connection", "keep-alive"));
    let request_1_1 = head.method().is_some() && head.version == 1;
    head.expect_continue = request_1_1
        && head
            .header_values("expect")
            .any(|v| trim(v).eq_ignore_ascii_case(b"100-continue"));
    if (request_1_1 || head.status().is_some()) && head.lists("connection", "upgrade") {
        head.upgrade = head.header("upgrade").cloned();
    }
    Ok(head)
}

/// RFC 9112 §2.2 lets a recipient accept a bare LF as a line end; this framer does not
/// (two parsers disagreeing on line ends is a smuggling vector), nor a bare CR.
fn check_line_endings(raw: &[u8]) -> Result<(), FramingError> {
    let lf_after_cr = memchr::memchr_iter(b'\n', raw).all(|at| at > 0 && raw[at - 1] == b'\r');
    let crs = memchr::memchr_iter(b'\r', raw).count();
    let lfs = memchr::memchr_iter(b'\n', raw).count();
    if lf_after_cr && crs == lfs {
        Ok(())
    } else {
        Err(FramingError::MalformedHead("line not ended by CRLF"))
    }
}

fn owned_fields(fields: &[httparse::Header<'_>], raw: &Bytes) -> Vec<(String, Bytes)> {
    fields
        .iter()
        .map(|f| (f.name.to_owned(), raw.slice_ref(f.value)))
        .collect()
}

/// Maps an `httparse` error; a well-formed `HTTP/d.d` other than 1.0 or 1.1 is a 505
/// (RFC 9110 §15.6.6), anything else in the version's place a 400.
fn parse_error(e: httparse::Error, raw: &[u8], request: bool) -> FramingError {
    match e {
        httparse::Error::TooManyHeaders => FramingError::HeadTooLarge,
        httparse::Error::Version => {
            let line = raw.split(|&b| b == b'\r').next().unwrap_or_default();
            let mut tokens = line.split(|&b| b == b' ');
            let token = if request {
                tokens.nth(2)
            } else {
                tokens.next()
            };
            match token {
                Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor])
                    if major.is_ascii_digit() && minor.is_ascii_digit() =>
                {
                    FramingError::UnsupportedVersion
                }
                _ => FramingError::MalformedHead("bad HTTP version"),
            }
        }
        httparse::Error::HeaderName => FramingError::MalformedHead("bad header name"),
        httparse::Error::HeaderValue => FramingError::MalformedHead("bad header value"),
        httparse::Error::NewLine => FramingError::MalformedHead("bad line end"),
        httparse::Error::Status => FramingError::MalformedHead("bad status line"),
        httparse::Error::Token => FramingError::MalformedHead("bad token"),
    }
}

/// Transfer codings this framer knows (RFC 9110 §18.8 registry); only `chunked` is decoded,
/// the others are passed through inside it.
const KNOWN_CODINGS: [&[u8]; 6] = [
    b"chunked",
    b"gzip",
    b"x-gzip",
    b"deflate",
    b"compress",
    b"x-compress",
];

/// RFC 9112 §6.3, in order.
fn body_kind(head: &Head, parse: Parse) -> Result<BodyKind, FramingError> {
    if let (
        Parse::Response {
            request_method_was_head,
        },
        Some(status),
    ) = (parse, head.status())
    {
        // Rule 1: no body "regardless of the header fields present".
        if request_method_was_head || status < 200 || status == 204 || status == 304 {
            return Ok(BodyKind::None);
        }
    }
    let lengths = content_length(head)?;
    let has_te = head.header("transfer-encoding").is_some();
    if has_te {
        if lengths.is_some() {
            // Rule 3: "ought to be handled as an error" (request smuggling, response splitting).
            return Err(FramingError::ConflictingFraming);
        }
        if head.version == 0 {
            // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
            return Err(FramingError::BadTransferEncoding);
        }
        let codings: Vec<&[u8]> = list_items(head.header_values("transfer-encoding"))
            .map(|item| trim(item.split(|&b| b == b';').next().unwrap_or_default()))
            .collect();
        let chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
        if codings.iter().filter(|c| chunked(c)).count() > 1 {
            // RFC 9112 §6.1: chunked MUST NOT be applied more than once.
            return Err(FramingError::BadTransferEncoding);
        }
        let final_chunked = codings.last().is_some_and(|c| chunked(c));
        if head.method().is_some() {
            // Rule 4 for requests: anything but a final chunked is a 400.
            if !final_chunked {
                return Err(FramingError::BadTransferEncoding);
            }
            let known = |c: &&[u8]| KNOWN_CODINGS.iter().any(|k| c.eq_ignore_ascii_case(k));
            if !codings.iter().all(known) {
                // RFC 9112 §6.1: a coding the server does not understand SHOULD get 501.
                return Err(FramingError::UnknownTransferCoding);
            }
            return Ok(BodyKind::Chunked);
        }
        return Ok(if final_chunked {
            BodyKind::Chunked
        } else {
            BodyKind::UntilClose
        });
    }
    Ok(match (lengths, head.method().is_some()) {
        (Some(n), _) => BodyKind::Length(n),
        (None, true) => BodyKind::None,
        (None, false) => BodyKind::UntilClose,
    })
}

/// The `Content-Length` (RFC 9110 §8.6): every line and list element must be the same
/// `1*DIGIT`; repeats of one value are accepted as one.
fn content_length(head: &Head) -> Result<Option<u64>, FramingError> {
    let mut found = None;
    for value in head.header_values("content-length") {
        for item in value.split(|&b| b == b',') {
            let n = decimal(trim(item)).ok_or(FramingError::BadContentLength)?;
            if found.is_some_and(|f| f != n) {
                return Err(FramingError::BadContentLength);
            }
            found = Some(n);
        }
    }
    Ok(found)
}

fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then_some(())
            .and_then(|()| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
    })
}

/// The non-empty elements of a comma-separated list field, trimmed (RFC 9110 §5.6.1).
fn list_items<'a>(
    values: impl Iterator<Item = &'a Bytes> + 'a,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    values
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim)
        .filter(|item| !item.is_empty())
}

/// Strips optional whitespace (SP, HTAB) at both ends (RFC 9110 §5.6.3).
pub(super) fn trim(bytes: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !ows(b))
        .map_or(start, |at| at + 1);
    &bytes[start..end]
}
