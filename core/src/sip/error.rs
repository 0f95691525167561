//! Errors of the SIP codec: peer input errors, handled inside the core (400, drop, close).

use super::header::HeaderName;

/// Why a SIP message (or one of its header values) was rejected.
///
/// Returned by [`super::SipMessage::parse`] for framing and syntax errors of the message as a
/// whole, and by the typed accessors for a malformed value of the header they read (RFC 3261
/// §7, §20, §25). The balancer answers a request with 400 (or drops a response) on any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The buffer holds nothing but (optional) CRLFs.
    #[error("empty message")]
    Empty,
    /// The message is larger than the configured limit.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// Size of the message (or of what was seen so far).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The request line or status line is malformed (RFC 3261 §7.1, §7.2).
    #[error("malformed start line")]
    BadStartLine,
    /// A header line has no colon or an invalid field name (RFC 3261 §7.3).
    #[error("malformed header line at byte {offset}")]
    BadHeaderLine {
        /// Offset of the line in the buffer.
        offset: usize,
    },
    /// More header lines than the configured limit.
    #[error("more than {limit} header lines")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// Content-Length is not a non-negative decimal number (RFC 3261 §20.14).
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Several Content-Length headers with different values (RFC 4475 §3.3.9).
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
    /// The datagram ends before the body announced by Content-Length (RFC 3261 §18.3).
    #[error("body has {actual} bytes but Content-Length says {declared}")]
    BodyTooShort {
        /// The Content-Length value.
        declared: usize,
        /// Bytes available after the header section.
        actual: usize,
    },
    /// A header the operation needs is absent (RFC 3261 §8.1.1).
    #[error("missing mandatory header {0:?}")]
    MissingHeader(HeaderName),
    /// A single-valued header appears more than once (RFC 4475 §3.3.8).
    #[error("header {0:?} appears more than once")]
    DuplicateHeader(HeaderName),
    /// The value of this header is malformed.
    #[error("malformed {0:?} header value")]
    BadHeaderValue(HeaderName),
    /// A URI is malformed (RFC 3261 §19.1, RFC 5118).
    #[error("malformed URI")]
    BadUri,
    /// A request-only accessor was called on a response.
    #[error("not a request")]
    NotARequest,
}
