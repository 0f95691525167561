//! Sans-IO framing of SIP over byte streams (TCP, TLS): RFC 3261 §18.3 (Content-Length
//! mandatory, CRLFs before a start line ignored per §7.5) and the RFC 5626 §3.5.1 CRLF
//! keep-alive. SIP over WebSocket carries one message per WebSocket message (RFC 7118), so it
//! uses [`super::SipMessage::parse`] directly and needs no framer.

use super::header::{parse_decimal, trim, HeaderName};
use super::parse::{line_at, DEFAULT_MAX_HEADERS, DEFAULT_MAX_MESSAGE_SIZE};
use bytes::{Bytes, BytesMut};

/// What the framer found next in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One complete message (header section and Content-Length body); parse it with
    /// [`super::SipMessage::parse`].
    Message(Bytes),
    /// A double-CRLF keep-alive ping (RFC 5626 §3.5.1): answer with a single CRLF pong.
    KeepAlivePing,
}

/// A stream framing error. The stream cannot be resynchronized: close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The message (or its header section so far) exceeds the size limit.
    #[error("message of at least {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// Bytes the message needs (or has buffered so far).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More header lines than the limit.
    #[error("more than {limit} header lines")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// No Content-Length: mandatory on streams (RFC 3261 §18.3).
    #[error("Content-Length missing on a stream transport")]
    MissingContentLength,
    /// Content-Length is not a non-negative number.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Several Content-Length headers disagree (RFC 4475 `mcl01`).
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
    /// The stream does not start with a SIP start line (RFC 3261 §7.1, §7.2): a method token
    /// followed by a space, or `SIP/` for a response. Binary junk or a TLS handshake sent to
    /// a plain TCP port is refused as soon as its first bytes arrive.
    #[error("the stream does not start with a SIP request or status line")]
    NotSip,
}

/// Longest first line accepted before its CRLF arrives.
const MAX_START_LINE: usize = 8 * 1024;

/// True for the characters of an RFC 3261 §25.1 `token` (a request method).
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Checks that `b` (the stream after any keep-alive CRLFs) can begin a SIP message: a status
/// line starting `SIP/`, or a request line `METHOD SP Request-URI SP SIP-Version`. Only the
/// first line is looked at, as far as it has arrived.
///
/// Only the first `max_message_size` bytes are looked at, so a first line longer than the
/// size limit is reported as too large whether the stream arrives whole or in pieces.
fn check_start_line(b: &[u8], max_message_size: usize) -> Result<(), FrameError> {
    let b = b.get(..max_message_size).unwrap_or(b);
    let line_end = memchr::memmem::find(b, b"\r\n");
    let line = b.get(..line_end.unwrap_or(b.len())).unwrap_or_default();
    if line.len() > MAX_START_LINE {
        return Err(FrameError::NotSip);
    }
    // A status line, or the beginning of one that has not fully arrived.
    if line.starts_with(b"SIP/") || (line_end.is_none() && b"SIP/".starts_with(line)) {
        return Ok(());
    }
    let method_len = line.iter().take_while(|c| is_token_char(**c)).count();
    match line.get(method_len) {
        // The method so far is a token and the rest has not arrived; a complete line that is
        // only a token is no request line.
        None if line_end.is_none() => Ok(()),
        None => Err(FrameError::NotSip),
        Some(b' ') if method_len > 0 => match line_end {
            Some(_) if !line.windows(5).any(|w| w == b" SIP/") => Err(FrameError::NotSip),
            _ => Ok(()),
        },
        Some(_) => Err(FrameError::NotSip),
    }
}

/// Reassembles SIP messages from a byte stream. One per connection; feed it what the
/// socket delivers and drain [`Framer::next_message`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max_message_size: usize,
    max_headers: usize,
    /// Bytes already searched for the end of the header section.
    scanned: usize,
    /// Total size of the message at the front, once its header section is complete.
    pending: Option<usize>,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_HEADERS)
    }
}

impl Framer {
    /// A framer accepting messages of at most `max_message_size` bytes (the configuration
    /// key `gov.nist.javax.sip.MAX_MESSAGE_SIZE`, default 64 KiB) and `max_headers` header
    /// lines.
    pub fn new(max_message_size: usize, max_headers: usize) -> Self {
        Framer {
            buf: BytesMut::new(),
            max_message_size,
            max_headers,
            scanned: 0,
            pending: None,
        }
    }

    /// Appends bytes received from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed. After an error the
    /// caller closes the connection (the framer keeps returning errors).
    pub fn next_message(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.pending.is_none() {
            loop {
                let b: &[u8] = &self.buf;
                if b.starts_with(b"\r\n\r\n") {
                    let _ = self.buf.split_to(4);
                    tracing::trace!("sip keep-alive ping");
                    return Ok(Some(Frame::KeepAlivePing));
                }
                if b.is_empty() || (b.len() < 4 && b"\r\n\r\n".starts_with(b)) {
                    return Ok(None);
                }
                if b.starts_with(b"\r\n") {
                    let _ = self.buf.split_to(2);
                    continue;
                }
                break;
            }
            let b: &[u8] = &self.buf;
            check_start_line(b, self.max_message_size)?;
            let from = self.scanned.saturating_sub(3);
            let Some(i) = b
                .get(from..)
                .and_then(|s| memchr::memmem::find(s, b"\r\n\r\n"))
            else {
                self.scanned = b.len();
                if b.len() > self.max_message_size {
                    return Err(FrameError::MessageTooLarge {
                        size: b.len(),
                        limit: self.max_message_size,
                    });
                }
                return Ok(None);
            };
            let head_end = from + i + 4;
            if head_end > self.max_message_size {
                return Err(FrameError::MessageTooLarge {
                    size: head_end,
                    limit: self.max_message_size,
                });
            }
            let cl = self.scan_head(b.get(..head_end - 2).unwrap_or_default())?;
            let total = head_end.saturating_add(cl);
            if total > self.max_message_size {
                return Err(FrameError::MessageTooLarge {
                    size: total,
                    limit: self.max_message_size,
                });
            }
            self.pending = Some(total);
        }
        match self.pending {
            Some(total) if self.buf.len() >= total => {
                self.pending = None;
                self.scanned = 0;
                Ok(Some(Frame::Message(self.buf.split_to(total).freeze())))
            }
            _ => Ok(None),
        }
    }

    /// Counts header lines and finds Content-Length in a complete header section.
    fn scan_head(&self, head: &[u8]) -> Result<usize, FrameError> {
        let (_, mut pos) = line_at(head, 0);
        let mut lines = 0usize;
        let mut cl: Option<usize> = None;
        while pos < head.len() {
            let start = pos;
            let (end, next) = line_at(head, pos);
            pos = next;
            let mut vend = end;
            while matches!(head.get(pos), Some(b' ' | b'\t')) {
                let (e2, n2) = line_at(head, pos);
                vend = e2;
                pos = n2;
            }
            lines += 1;
            if lines > self.max_headers {
                return Err(FrameError::TooManyHeaders {
                    limit: self.max_headers,
                });
            }
            let line = head.get(start..vend).unwrap_or_default();
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let name = trim(line.get(..colon).unwrap_or_default());
            if HeaderName::from_bytes(name) != HeaderName::ContentLength {
                continue;
            }
            let n = parse_decimal(trim(line.get(colon + 1..).unwrap_or_default()), 15)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(FrameError::InvalidContentLength)?;
            match cl {
                Some(old) if old != n => return Err(FrameError::ConflictingContentLength),
                _ => cl = Some(n),
            }
        }
        cl.ok_or(FrameError::MissingContentLength)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_and_tls_handshakes_are_refused_from_their_first_bytes() {
        for junk in [
            &b"\x00\xff\x10binary"[..],
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            &b"GET\t/ HTTP/1.1"[..],
            &b" INVITE sip:a@b SIP/2.0"[..],
            &b"INVITE sip:a@b HTTP/1.1\r\n"[..],
            &b"PC\r\n"[..],
            &b"PC\r"[..],
            &b"SIP\r\n"[..],
            &b"SIP\r"[..],
        ] {
            let mut f = Framer::default();
            f.feed(junk);
            assert_eq!(f.next_message(), Err(FrameError::NotSip), "{junk:?}");
        }
        let mut f = Framer::default();
        f.feed(&[b'A'; MAX_START_LINE + 1]);
        assert_eq!(f.next_message(), Err(FrameError::NotSip));
    }

    #[test]
    fn a_first_line_longer_than_the_size_limit_is_too_large_however_it_arrives() {
        let mut stream = b"OPTIONS sip:".to_vec();
        stream.extend_from_slice(&[b'a'; 100]);
        stream.extend_from_slice(b"\r\n");
        let mut whole = Framer::new(84, 64);
        whole.feed(&stream);
        let mut split = Framer::new(84, 64);
        let mut last = Ok(None);
        for piece in stream.chunks(7) {
            split.feed(piece);
            last = split.next_message();
            if last.is_err() {
                break;
            }
        }
        assert!(matches!(
            whole.next_message(),
            Err(FrameError::MessageTooLarge { .. })
        ));
        assert!(
            matches!(last, Err(FrameError::MessageTooLarge { .. })),
            "{last:?}"
        );
    }

    #[test]
    fn partial_start_lines_wait_for_more() {
        for partial in [
            &b"INV"[..],
            b"INVITE sip:bob@exam",
            b"SI",
            b"SIP/2.0 20",
            b"\r\nOPTIONS ",
        ] {
            let mut f = Framer::default();
            f.feed(partial);
            assert_eq!(f.next_message(), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn pings_and_messages() {
        let mut f = Framer::default();
        f.feed(b"\r\n\r\nOPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabc\r\nBYE sip:b SIP/2.0\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(f.next_message().unwrap(), Some(Frame::KeepAlivePing));
        let Some(Frame::Message(m)) = f.next_message().unwrap() else {
            panic!()
        };
        assert!(m.ends_with(b"\r\n\r\nabc"));
        let Some(Frame::Message(m)) = f.next_message().unwrap() else {
            panic!()
        };
        assert!(m.starts_with(b"BYE"));
        assert_eq!(f.next_message().unwrap(), None);
    }

    #[test]
    fn errors() {
        let mut f = Framer::default();
        f.feed(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_message(), Err(FrameError::MissingContentLength));
        let mut f = Framer::new(100, 10);
        f.feed(&[b'a'; 200]);
        assert!(matches!(
            f.next_message(),
            Err(FrameError::MessageTooLarge { .. })
        ));
    }
}
