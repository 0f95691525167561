//! The zero-copy message: start line, header index and body over one `Bytes`
//! (RFC 3261 §7, datagram semantics of §18.3).

use super::error::ParseError;
use super::header::{is_token, is_ws, parse_decimal, HeaderName, HeaderSlot, HEADER_NAME_COUNT};
use bytes::Bytes;
use std::ops::Range;

/// Default maximum message size (the reference's `gov.nist.javax.sip.MAX_MESSAGE_SIZE`
/// default used by Switchboard): 64 KiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;
/// Default maximum number of header lines.
pub const DEFAULT_MAX_HEADERS: usize = 256;

/// Limits applied while parsing. [`Default`] gives 64 KiB and 256 header lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest accepted buffer, in bytes.
    pub max_message_size: usize,
    /// Largest accepted number of header lines (continuations not counted).
    pub max_headers: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

/// A SIP method (RFC 3261 §7.1, case-sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// REGISTER
    Register,
    /// SUBSCRIBE
    Subscribe,
    /// NOTIFY
    Notify,
    /// PUBLISH
    Publish,
    /// INFO
    Info,
    /// PRACK
    Prack,
    /// UPDATE
    Update,
    /// MESSAGE
    Message,
    /// REFER
    Refer,
    /// Any other token (the bytes are in the message).
    Other,
}

impl Method {
    /// Classifies a method token (case-sensitive, RFC 3261 §7.1).
    pub fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"OPTIONS" => Method::Options,
            b"REGISTER" => Method::Register,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            b"INFO" => Method::Info,
            b"PRACK" => Method::Prack,
            b"UPDATE" => Method::Update,
            b"MESSAGE" => Method::Message,
            b"REFER" => Method::Refer,
            _ => Method::Other,
        }
    }
}

/// The first line of a message, as ranges into the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP-Version` (RFC 3261 §7.1).
    Request {
        /// Classified method.
        method: Method,
        /// Method token.
        method_range: Range<usize>,
        /// Request-URI.
        uri_range: Range<usize>,
        /// SIP-Version.
        version_range: Range<usize>,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase` (RFC 3261 §7.2).
    Response {
        /// SIP-Version.
        version_range: Range<usize>,
        /// Three-digit status code.
        code: u16,
        /// Reason phrase (may be empty).
        reason_range: Range<usize>,
    },
}

/// A parsed SIP message: the original bytes plus an index of ranges. Cheap to build (one
/// `Vec` of header slots), nothing is copied; typed values are parsed lazily by the accessors.
#[derive(Debug, Clone)]
pub struct SipMessage {
    pub(crate) raw: Bytes,
    pub(crate) msg_start: usize,
    pub(crate) start_line: StartLine,
    pub(crate) headers_start: usize,
    /// Where the empty line (or the end of the datagram if it is missing) starts.
    pub(crate) headers_end: usize,
    pub(crate) has_blank_line: bool,
    pub(crate) headers: Vec<HeaderSlot>,
    pub(crate) body: Range<usize>,
    pub(crate) content_length: Option<usize>,
    first: [u16; HEADER_NAME_COUNT],
    count: [u16; HEADER_NAME_COUNT],
}

const NONE: u16 = u16::MAX;

/// Finds the end of the line starting at `pos`: (end of content, start of next line).
/// Accepts CRLF and bare LF; a line without terminator ends at the buffer end.
#[inline]
pub(crate) fn line_at(buf: &[u8], pos: usize) -> (usize, usize) {
    match buf.get(pos..).and_then(|s| memchr::memchr(b'\n', s)) {
        Some(i) => {
            let nl = pos + i;
            let end = if nl > pos && buf.get(nl - 1) == Some(&b'\r') {
                nl - 1
            } else {
                nl
            };
            (end, nl + 1)
        }
        None => (buf.len(), buf.len()),
    }
}

fn version_ok(v: &[u8]) -> bool {
    let Some(rest) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case(b"SIP/"))
        .and(v.get(4..))
    else {
        return false;
    };
    let Some(dot) = memchr::memchr(b'.', rest) else {
        return false;
    };
    let (maj, min) = (&rest[..dot], &rest[dot + 1..]);
    !maj.is_empty() && !min.is_empty() && maj.iter().chain(min).all(u8::is_ascii_digit)
}

fn scheme_prefix_ok(uri: &[u8]) -> bool {
    let Some(colon) = memchr::memchr(b':', uri) else {
        return false;
    };
    let scheme = &uri[..colon];
    matches!(scheme.first(), Some(b) if b.is_ascii_alphabetic())
        && scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && colon + 1 < uri.len()
}

fn parse_start_line(buf: &[u8], s: usize, e: usize) -> Result<StartLine, ParseError> {
    let bad = ParseError::BadStartLine;
    let line = buf.get(s..e).ok_or(bad.clone())?;
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        let sp = memchr::memchr(b' ', line).ok_or(bad.clone())?;
        if !version_ok(&line[..sp]) {
            return Err(bad);
        }
        let rest = &line[sp + 1..];
        let code = rest.get(..3).ok_or(bad.clone())?;
        if !code.iter().all(u8::is_ascii_digit) || code.first() == Some(&b'0') {
            return Err(bad);
        }
        let code = u16::from(code[0] - b'0') * 100
            + u16::from(code[1] - b'0') * 10
            + u16::from(code[2] - b'0');
        let reason_start = match rest.get(3) {
            None => s + sp + 4,
            Some(b' ') => s + sp + 5,
            Some(_) => return Err(bad),
        };
        return Ok(StartLine::Response {
            version_range: s..s + sp,
            code,
            reason_range: reason_start.min(e)..e,
        });
    }
    let sp1 = memchr::memchr(b' ', line).ok_or(bad.clone())?;
    let sp2 = memchr::memrchr(b' ', line).ok_or(bad.clone())?;
    if sp1 >= sp2 {
        return Err(bad);
    }
    let method = &line[..sp1];
    let uri = &line[sp1 + 1..sp2];
    let version = &line[sp2 + 1..];
    if method.is_empty()
        || !method.iter().all(|b| is_token(*b))
        || uri.iter().any(|b| is_ws(*b) || *b < 0x20)
        || !scheme_prefix_ok(uri)
        || !version_ok(version)
    {
        return Err(bad);
    }
    Ok(StartLine::Request {
        method: Method::from_bytes(method),
        method_range: s..s + sp1,
        uri_range: s + sp1 + 1..s + sp2,
        version_range: s + sp2 + 1..e,
    })
}

impl SipMessage {
    /// Parses one message with datagram semantics (UDP, or one WebSocket message per
    /// RFC 7118) and the default [`ParseLimits`]: the end of the buffer ends the message,
    /// bytes after the Content-Length body are ignored (RFC 4475 `dblreq`), a missing
    /// Content-Length means the body is the rest (RFC 3261 §18.3). Call it on every received
    /// datagram and on every message the stream [`super::Framer`] yields.
    pub fn parse(raw: Bytes) -> Result<SipMessage, ParseError> {
        Self::parse_with(raw, &ParseLimits::default())
    }

    /// [`SipMessage::parse`] with explicit limits.
    pub fn parse_with(raw: Bytes, limits: &ParseLimits) -> Result<SipMessage, ParseError> {
        let buf: &[u8] = &raw;
        if buf.len() > limits.max_message_size {
            return Err(ParseError::MessageTooLarge {
                size: buf.len(),
                limit: limits.max_message_size,
            });
        }
        // RFC 3261 §7.5: CRLFs before the start line are ignored.
        let msg_start = buf
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .ok_or(ParseError::Empty)?;
        let (sl_end, mut pos) = line_at(buf, msg_start);
        let start_line = parse_start_line(buf, msg_start, sl_end)?;
        let headers_start = pos;
        let mut headers = Vec::with_capacity(24);
        let mut first = [NONE; HEADER_NAME_COUNT];
        let mut count = [0u16; HEADER_NAME_COUNT];
        let mut content_length: Option<usize> = None;
        let max_headers = limits.max_headers.min(usize::from(NONE) - 1);
        let (headers_end, body_start, has_blank_line) = loop {
            if pos >= buf.len() {
                break (buf.len(), buf.len(), false);
            }
            let line_start = pos;
            let (end, next) = line_at(buf, pos);
            if end == pos {
                break (pos, next, true);
            }
            let line = &buf[pos..end];
            let bad_line = ParseError::BadHeaderLine { offset: line_start };
            let colon = memchr::memchr(b':', line).ok_or(bad_line.clone())?;
            let name_end = line[..colon]
                .iter()
                .rposition(|b| !matches!(b, b' ' | b'\t'))
                .map_or(0, |i| i + 1);
            let name = &line[..name_end];
            if name.is_empty() || !name.iter().all(|b| is_token(*b)) {
                return Err(bad_line);
            }
            let mut vend = end;
            pos = next;
            while matches!(buf.get(pos), Some(b' ' | b'\t')) {
                let (e2, n2) = line_at(buf, pos);
                vend = e2;
                pos = n2;
            }
            let vstart = line_start + colon + 1;
            let value = buf.get(vstart..vend).unwrap_or_default();
            let lead = value.iter().position(|b| !is_ws(*b)).unwrap_or(value.len());
            let trail = value
                .iter()
                .rposition(|b| !is_ws(*b))
                .map_or(lead, |i| i + 1);
            let value_range = vstart + lead..vstart + trail;
            let hname = HeaderName::from_bytes(name);
            if headers.len() >= max_headers {
                return Err(ParseError::TooManyHeaders {
                    limit: limits.max_headers,
                });
            }
            if hname == HeaderName::ContentLength {
                let v = buf.get(value_range.clone()).unwrap_or_default();
                let n = parse_decimal(v, 15)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or(ParseError::InvalidContentLength)?;
                match content_length {
                    Some(old) if old != n => return Err(ParseError::ConflictingContentLength),
                    _ => content_length = Some(n),
                }
            }
            let idx = hname as usize;
            if let (Some(f), Some(c)) = (first.get_mut(idx), count.get_mut(idx)) {
                if *f == NONE {
                    *f = u16::try_from(headers.len()).unwrap_or(NONE);
                }
                *c = c.saturating_add(1);
            }
            headers.push(HeaderSlot {
                name: hname,
                name_range: line_start..line_start + name_end,
                value_range,
                line_range: line_start..pos,
            });
        };
        let available = buf.len() - body_start;
        let body = match content_length {
            Some(cl) if cl > available => {
                return Err(ParseError::BodyTooShort {
                    declared: cl,
                    actual: available,
                })
            }
            Some(cl) => body_start..body_start + cl,
            None => body_start..buf.len(),
        };
        tracing::trace!(
            headers = headers.len(),
            body = body.len(),
            "sip message parsed"
        );
        Ok(SipMessage {
            raw,
            msg_start,
            start_line,
            headers_start,
            headers_end,
            has_blank_line,
            headers,
            body,
            content_length,
            first,
            count,
        })
    }

    /// The whole buffer as received (including any ignored trailing bytes).
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The message proper: from the start line to the end of the body, as a cheap slice of
    /// the buffer (leading CRLFs and trailing datagram junk excluded).
    pub fn message_bytes(&self) -> Bytes {
        self.raw.slice(self.msg_start..self.body.end)
    }

    /// Bytes of a range obtained from this message (empty if out of bounds).
    pub fn slice(&self, r: Range<usize>) -> &[u8] {
        self.raw.get(r).unwrap_or_default()
    }

    /// The offsets of `sub` if it is a sub-slice of this message's buffer (as the borrowed
    /// typed views are); the editor uses it to turn views into splice ranges.
    pub fn range_of(&self, sub: &[u8]) -> Option<Range<usize>> {
        let base = self.raw.as_ptr() as usize;
        let p = sub.as_ptr() as usize;
        let start = p.checked_sub(base)?;
        let end = start.checked_add(sub.len())?;
        (end <= self.raw.len()).then_some(start..end)
    }

    /// The start line.
    pub fn start_line(&self) -> &StartLine {
        &self.start_line
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start_line, StartLine::Request { .. })
    }

    /// The request method, `None` for a response.
    pub fn method(&self) -> Option<Method> {
        match self.start_line {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The method token as written (empty for a response).
    pub fn method_bytes(&self) -> &[u8] {
        match &self.start_line {
            StartLine::Request { method_range, .. } => self.slice(method_range.clone()),
            StartLine::Response { .. } => &[],
        }
    }

    /// The Request-URI as written (`None` for a response).
    pub fn request_uri_bytes(&self) -> Option<&[u8]> {
        match &self.start_line {
            StartLine::Request { uri_range, .. } => Some(self.slice(uri_range.clone())),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, `None` for a request.
    pub fn status_code(&self) -> Option<u16> {
        match self.start_line {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase (empty for a request).
    pub fn reason(&self) -> &[u8] {
        match &self.start_line {
            StartLine::Response { reason_range, .. } => self.slice(reason_range.clone()),
            StartLine::Request { .. } => &[],
        }
    }

    /// The SIP-Version as written.
    pub fn version(&self) -> &[u8] {
        match &self.start_line {
            StartLine::Request { version_range, .. }
            | StartLine::Response { version_range, .. } => self.slice(version_range.clone()),
        }
    }

    /// Whether the version is `SIP/2.0`; if not, a request gets 505 (RFC 3261 §8.2.2.1 is
    /// silent, RFC 4475 §3.1.2.16 `badvers`).
    pub fn is_sip_2_0(&self) -> bool {
        self.version().eq_ignore_ascii_case(b"SIP/2.0")
    }

    /// All header lines in order.
    pub fn headers(&self) -> &[HeaderSlot] {
        &self.headers
    }

    /// The value bytes of a slot.
    pub fn value(&self, slot: &HeaderSlot) -> &[u8] {
        self.slice(slot.value_range.clone())
    }

    /// The name bytes of a slot, as written.
    pub fn name_bytes(&self, slot: &HeaderSlot) -> &[u8] {
        self.slice(slot.name_range.clone())
    }

    /// Index of the first header line named `name`. O(1) for the well-known names.
    pub fn first_index(&self, name: HeaderName) -> Option<usize> {
        if name == HeaderName::Other {
            return None;
        }
        self.first
            .get(name as usize)
            .filter(|f| **f != NONE)
            .map(|f| usize::from(*f))
    }

    /// Number of header lines named `name` (not of comma-separated values).
    pub fn count(&self, name: HeaderName) -> usize {
        if name == HeaderName::Other {
            return 0;
        }
        self.count.get(name as usize).map_or(0, |c| usize::from(*c))
    }

    /// The value of the first header line named `name`.
    pub fn get(&self, name: HeaderName) -> Option<&[u8]> {
        let i = self.first_index(name)?;
        self.headers.get(i).map(|h| self.value(h))
    }

    /// The value of the first header whose name equals `name` case-insensitively (for
    /// extension headers such as `X-Sip-Balancer-InitialRemoteAddr`).
    pub fn get_by_name(&self, name: &str) -> Option<&[u8]> {
        let known = HeaderName::from_bytes(name.as_bytes());
        if known != HeaderName::Other {
            return self.get(known);
        }
        self.headers
            .iter()
            .find(|h| {
                h.name == HeaderName::Other
                    && self.name_bytes(h).eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|h| self.value(h))
    }

    /// Iterates (index, value) of every header line named `name`, in order.
    pub fn get_all(&self, name: HeaderName) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let start = self.first_index(name).unwrap_or(self.headers.len());
        self.headers
            .iter()
            .enumerate()
            .skip(start)
            .filter(move |(_, h)| h.name == name)
            .map(|(i, h)| (i, self.value(h)))
    }

    /// The body as delimited by Content-Length (or the rest of the datagram).
    pub fn body(&self) -> &[u8] {
        self.slice(self.body.clone())
    }

    /// The body's range in [`SipMessage::raw`].
    pub fn body_range(&self) -> Range<usize> {
        self.body.clone()
    }

    /// The Content-Length value, if the header is present (validated during parse).
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }
}
