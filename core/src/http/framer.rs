//! An incremental, streaming HTTP/1.1 message framer (RFC 9112).
//!
//! Feed it bytes as they arrive ([`MessageFramer::feed`]) and poll it for events
//! ([`MessageFramer::poll`]) until it returns `Ok(None)`: each message comes out as one
//! [`FrameEvent::Head`], zero or more [`FrameEvent::Body`] slices (zero-copy slices of the
//! fed buffers; chunked bodies yield the chunk data only) and one [`FrameEvent::End`]. After
//! `End` the framer reads the next message of the connection from the bytes it still holds
//! (pipelining). Work is linear in the bytes fed: the head is scanned once for its empty
//! line and parsed once, when complete.
//!
//! Shapes that let two parsers disagree on where a message ends are refused (RFC 9112 §6.3,
//! §11.2): `Content-Length` with `Transfer-Encoding`, differing lengths, a request whose
//! final coding is not `chunked`, bare CR or LF line ends, obsolete line folding, and
//! whitespace before a field's colon. After an error the connection must be closed: the
//! framer repeats the error from then on.
//!
//! [`RequestCollector`] wraps a framer for small services that want whole requests.

mod chunked;
mod collector;
mod head;
mod input;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

pub use collector::{CompleteRequest, RequestCollector, DEFAULT_COLLECT_LIMIT};
pub use head::{BodyKind, Head, StartLine};

use bytes::Bytes;
use head::Parse;
use input::{Input, Take};
use thiserror::Error;

/// Size limits, each with the status that answers its breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest head, start line through the empty line; also bounds a trailer section
    /// (431, RFC 6585 §5).
    pub max_head: usize,
    /// Longest request line without its CRLF (414, RFC 9110 §15.5.15; RFC 9112 §3
    /// recommends supporting at least 8000 octets).
    pub max_request_line: usize,
    /// Most header fields in a head, and trailer fields after a chunked body (431).
    pub max_headers: usize,
    /// Largest body; a larger `Content-Length` is refused at the head, before any body
    /// byte, and a chunked body when its running total crosses it (413, RFC 9110 §15.5.14).
    pub max_body: Option<u64>,
}

impl Default for Limits {
    /// 16 KiB heads, 8 KiB request lines, 100 fields, bodies unbounded (a proxy streams them).
    fn default() -> Self {
        Limits {
            max_head: 16 * 1024,
            max_request_line: 8 * 1024,
            max_headers: 100,
            max_body: None,
        }
    }
}

/// Which side of the connection the framer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Requests, as a server reads them.
    Request,
    /// Responses, as a client reads them. Whether the request was `HEAD` decides whether the
    /// response has a body (RFC 9112 §6.3 rule 1); see [`MessageFramer::expect_response`].
    Response {
        /// The request this response answers was a `HEAD`.
        request_method_was_head: bool,
    },
}

/// One step of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEvent {
    /// The head; its [`Head::body`] says what follows.
    Head(Head),
    /// Body bytes, in order; chunk data only for a chunked body. Never empty.
    Body(Bytes),
    /// The message is complete.
    End,
}

/// Why a message cannot be framed. The connection must be closed after answering it (RFC
/// 9112 §11.2). [`FramingError::status`] is the answer to a client whose request failed; a
/// proxy reading a response answers its own client `502` instead.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FramingError {
    /// Not an HTTP/1.x head (RFC 9112 §2, §3, §4, §5); the detail is for logs.
    #[error("malformed message head: {0}")]
    MalformedHead(&'static str),
    /// The request line exceeds [`Limits::max_request_line`].
    #[error("request line too long")]
    RequestLineTooLong,
    /// The head, or a trailer section, exceeds [`Limits::max_head`] or [`Limits::max_headers`].
    #[error("message head too large")]
    HeadTooLarge,
    /// `HTTP/d.d` other than 1.0 and 1.1.
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.3 rule 3).
    #[error("both Content-Length and Transfer-Encoding")]
    ConflictingFraming,
    /// `Content-Length` not `1*DIGIT`, or differing values (RFC 9112 §6.3 rule 5).
    #[error("invalid Content-Length")]
    BadContentLength,
    /// `Transfer-Encoding` in a request whose final coding is not `chunked`, `chunked`
    /// twice, or `Transfer-Encoding` in an HTTP/1.0 message (RFC 9112 §6.1, §6.3 rule 4).
    #[error("invalid Transfer-Encoding")]
    BadTransferEncoding,
    /// A request coding other than `chunked`, `gzip`, `deflate`, `compress` (and their
    /// `x-` aliases) before the final `chunked`: 501, as RFC 9112 §6.1 advises.
    #[error("unknown transfer coding")]
    UnknownTransferCoding,
    /// The body exceeds [`Limits::max_body`].
    #[error("message body too large")]
    BodyTooLarge,
    /// A bad chunk-size line, a chunk not followed by CRLF, or a bad trailer field (RFC 9112
    /// §7.1).
    #[error("malformed chunked body: {0}")]
    BadChunk(&'static str),
    /// The peer closed the connection in the middle of a message.
    #[error("connection closed mid-message")]
    Truncated,
}

impl FramingError {
    /// The HTTP status answering this error (RFC 9110 §15).
    pub fn status(&self) -> u16 {
        match self {
            FramingError::RequestLineTooLong => 414,
            FramingError::HeadTooLarge => 431,
            FramingError::UnsupportedVersion => 505,
            FramingError::UnknownTransferCoding => 501,
            FramingError::BodyTooLarge => 413,
            FramingError::MalformedHead(_)
            | FramingError::ConflictingFraming
            | FramingError::BadContentLength
            | FramingError::BadTransferEncoding
            | FramingError::BadChunk(_)
            | FramingError::Truncated => 400,
        }
    }
}

#[derive(Debug)]
enum State {
    /// Before a head.
    Head,
    /// `Content-Length` bytes still to come.
    Length(u64),
    /// Before a chunk-size line.
    ChunkSize,
    /// Bytes of the current chunk still to come.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer lines, until the empty line.
    Trailers,
    /// Everything until the connection closes.
    UntilClose,
    /// The message is complete; `End` is next.
    Complete,
    /// The connection switched protocols (or may): nothing is framed until
    /// [`MessageFramer::resume`].
    Paused,
    /// A framing error; repeated from now on.
    Failed(FramingError),
}

/// Frames the HTTP/1.x messages of one connection direction (see the module docs).
#[derive(Debug)]
pub struct MessageFramer {
    kind: Kind,
    limits: Limits,
    input: Input,
    state: State,
    eof: bool,
    /// Body bytes of the current chunked message so far.
    body_total: u64,
    /// Bytes of the current trailer section so far.
    trailer_bytes: usize,
    trailers: Vec<(String, Bytes)>,
    /// Pause after this message's `End` (an upgrade or tunnel may follow).
    pause_after: bool,
}

impl MessageFramer {
    /// A framer for one direction of a fresh connection.
    pub fn new(kind: Kind, limits: Limits) -> Self {
        MessageFramer {
            kind,
            limits,
            input: Input::default(),
            state: State::Head,
            eof: false,
            body_total: 0,
            trailer_bytes: 0,
            trailers: Vec::new(),
            pause_after: false,
        }
    }

    /// A framer for the requests a server reads.
    pub fn request(limits: Limits) -> Self {
        Self::new(Kind::Request, limits)
    }

    /// A framer for the responses a client reads; the first answers a `HEAD` when
    /// `request_method_was_head`.
    pub fn response(limits: Limits, request_method_was_head: bool) -> Self {
        Self::new(
            Kind::Response {
                request_method_was_head,
            },
            limits,
        )
    }

    /// For a response framer: says whether the request the *next* response head answers was
    /// a `HEAD`. Call it before polling that head (with pipelined requests, once per
    /// response, in request order; interim `1xx` responses keep the setting).
    pub fn expect_response(&mut self, request_method_was_head: bool) {
        if let Kind::Response { .. } = self.kind {
            self.kind = Kind::Response {
                request_method_was_head,
            };
        }
    }

    /// Hands over bytes read from the connection, in order. Cheap: nothing is parsed until
    /// [`poll`](Self::poll), and the bytes are not copied unless a head or chunk-size line
    /// spans two calls. Bytes after a fatal error are dropped.
    pub fn feed(&mut self, bytes: Bytes) {
        if !matches!(self.state, State::Failed(_)) {
            self.input.push(bytes);
        }
    }

    /// Says the peer closed its side (a read returned 0). A body delimited by close then
    /// ends; a message cut short is an error ([`FramingError::Truncated`]).
    pub fn feed_eof(&mut self) {
        self.eof = true;
    }

    /// The next event, `Ok(None)` when more bytes are needed (or, after
    /// [`feed_eof`](Self::feed_eof), when the connection ended cleanly between messages, or
    /// while [paused](Self::is_paused)). Call after every [`feed`](Self::feed) until it
    /// returns `Ok(None)`. An error is final: it is returned again on every later call.
    pub fn poll(&mut self) -> Result<Option<FrameEvent>, FramingError> {
        let event = self.step();
        if let Err(e) = &event {
            self.state = State::Failed(e.clone());
        }
        event
    }

    /// True after the `End` of a request that asks to switch protocols (`Upgrade`, or
    /// `CONNECT`) or of a `101 Switching Protocols` response: the bytes that follow may not
    /// be HTTP. Call [`resume`](Self::resume) if the switch was refused, or
    /// [`take_buffered`](Self::take_buffered) to relay the rest as opaque bytes.
    pub fn is_paused(&self) -> bool {
        matches!(self.state, State::Paused)
    }

    /// Frames HTTP again after a pause (the upgrade was declined).
    pub fn resume(&mut self) {
        if self.is_paused() {
            self.state = State::Head;
        }
    }

    /// Every byte fed and not yet framed, for a connection that stops speaking HTTP.
    pub fn take_buffered(&mut self) -> Bytes {
        self.input.take_all()
    }

    /// The number of input bytes framed so far (skipped empty lines included): the
    /// connection offset just after the last event.
    pub fn consumed(&self) -> u64 {
        self.input.consumed()
    }

    /// The trailer fields of the last chunked message (RFC 9112 §7.1.2), valid from its
    /// `End` until the next head.
    pub fn trailers(&self) -> &[(String, Bytes)] {
        &self.trailers
    }

    fn step(&mut self) -> Result<Option<FrameEvent>, FramingError> {
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Paused => return Ok(None),
                State::Head => return self.head(),
                State::Complete => {
                    self.state = if self.pause_after {
                        State::Paused
                    } else {
                        State::Head
                    };
                    return Ok(Some(FrameEvent::End));
                }
                State::Length(left) => {
                    let Some(data) = self.input.take_some(*left) else {
                        return self.starved();
                    };
                    *left -= data.len() as u64;
                    if *left == 0 {
                        self.state = State::Complete;
                    }
                    return Ok(Some(FrameEvent::Body(data)));
                }
                State::UntilClose => {
                    return match self.input.take_some(u64::MAX) {
                        Some(data) => Ok(Some(FrameEvent::Body(data))),
                        None if self.eof => {
                            self.state = State::Complete;
                            continue;
                        }
                        None => Ok(None),
                    };
                }
                State::ChunkData(left) => {
                    let Some(data) = self.input.take_some(*left) else {
                        return self.starved();
                    };
                    *left -= data.len() as u64;
                    if *left == 0 {
                        self.state = State::ChunkEnd;
                    }
                    return Ok(Some(FrameEvent::Body(data)));
                }
                State::ChunkSize => {
                    let line = match self.input.take_until(b"\r\n", chunked::MAX_CHUNK_LINE) {
                        Take::Found(line) => line,
                        Take::Pending => return self.starved(),
                        Take::TooLong => {
                            return Err(FramingError::BadChunk("chunk-size line too long"))
                        }
                    };
                    let size = chunked::chunk_size(&line[..line.len() - 2])?;
                    self.body_total = self.body_total.saturating_add(size);
                    if self
                        .limits
                        .max_body
                        .is_some_and(|max| self.body_total > max)
                    {
                        return Err(FramingError::BodyTooLarge);
                    }
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::ChunkData(size)
                    };
                }
                State::ChunkEnd => match self.input.take_until(b"\r\n", 2) {
                    Take::Found(_) => self.state = State::ChunkSize,
                    Take::Pending => return self.starved(),
                    Take::TooLong => {
                        return Err(FramingError::BadChunk("chunk data not followed by CRLF"))
                    }
                },
                State::Trailers => {
                    let budget = self.limits.max_head.saturating_sub(self.trailer_bytes);
                    let line = match self.input.take_until(b"\r\n", budget) {
                        Take::Found(line) => line,
                        Take::Pending => return self.starved(),
                        Take::TooLong => return Err(FramingError::HeadTooLarge),
                    };
                    self.trailer_bytes += line.len();
                    if line.len() == 2 {
                        self.state = State::Complete;
                        continue;
                    }
                    if self.trailers.len() == self.limits.max_headers {
                        return Err(FramingError::HeadTooLarge);
                    }
                    let field = chunked::trailer_field(&line.slice(..line.len() - 2))?;
                    self.trailers.push(field);
                }
            }
        }
    }

    /// Reads a head (RFC 9112 §2.1): scans for its empty line, then parses it once.
    fn head(&mut self) -> Result<Option<FrameEvent>, FramingError> {
        let request = self.kind == Kind::Request;
        if request && !self.input.skip_empty_lines() {
            return self.starved();
        }
        let taken = self.input.take_until(b"\r\n\r\n", self.limits.max_head);
        // Only the first `max_head` bytes count: past them, how much of the line was scanned
        // depends on how the input was split.
        let first_line = match &taken {
            Take::Found(raw) => memchr::memchr(b'\n', raw).unwrap_or(raw.len()),
            _ => self.input.first_line_extent().min(self.limits.max_head),
        };
        // The first LF sits one past the CR that ends a line of `max_request_line` bytes.
        if request && first_line > self.limits.max_request_line + 1 {
            return Err(FramingError::RequestLineTooLong);
        }
        let raw = match taken {
            Take::Found(raw) => raw,
            Take::Pending => return self.starved(),
            Take::TooLong => return Err(FramingError::HeadTooLarge),
        };
        let parse = match self.kind {
            Kind::Request => Parse::Request,
            Kind::Response {
                request_method_was_head,
            } => Parse::Response {
                request_method_was_head,
            },
        };
        let head = head::parse(raw, parse, &self.limits)?;
        self.trailers.clear();
        self.trailer_bytes = 0;
        self.body_total = 0;
        self.pause_after = match head.status() {
            None => head.upgrade.is_some() || head.method() == Some("CONNECT"),
            Some(status) => status == 101,
        };
        self.state = match head.body {
            BodyKind::None | BodyKind::Length(0) => State::Complete,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::ChunkSize,
            BodyKind::UntilClose => State::UntilClose,
        };
        Ok(Some(FrameEvent::Head(head)))
    }

    /// No event without more bytes: wait, or, after end of input, fail if mid-message.
    fn starved(&self) -> Result<Option<FrameEvent>, FramingError> {
        let between_messages = matches!(self.state, State::Head) && self.input.is_empty();
        if self.eof && !between_messages {
            Err(FramingError::Truncated)
        } else {
            Ok(None)
        }
    }
}
