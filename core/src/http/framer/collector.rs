//! Whole requests for small services (heartbeat port, management API) that answer a request
//! only once it is complete and never need to stream.

use super::{FrameEvent, FramingError, Head, Limits, MessageFramer};
use bytes::{Buf, Bytes, BytesMut};

/// The body limit of a [`RequestCollector`] whose [`Limits::max_body`] is `None`.
pub const DEFAULT_COLLECT_LIMIT: u64 = 64 * 1024;

/// A complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteRequest {
    /// Its head.
    pub head: Head,
    /// Its body, chunked coding removed.
    pub body: Bytes,
    /// The request exactly as received, head and (still chunk-coded) body, without the empty
    /// lines that may precede it: what a handler that parses whole requests expects.
    pub raw: Bytes,
}

/// Collects complete requests from a connection's bytes, each body held in memory up to a
/// limit ([`FramingError::BodyTooLarge`] beyond it). Call [`feed`](Self::feed) after every
/// read, then [`poll`](Self::poll) until it returns `Ok(None)`. Protocol switches are not
/// offered: requests asking for one are returned like any other (RFC 9110 §7.8 lets a
/// server ignore `Upgrade`), and framing goes on.
#[derive(Debug)]
pub struct RequestCollector {
    framer: MessageFramer,
    /// Bytes fed from connection offset `wire_start` on, not yet returned in a request.
    wire: BytesMut,
    wire_start: u64,
    /// The request being collected: head, body so far, connection offset of its head.
    current: Option<(Head, BytesMut, u64)>,
}

impl RequestCollector {
    /// A collector for a fresh connection; `limits.max_body` bounds each body, at
    /// [`DEFAULT_COLLECT_LIMIT`] when `None`.
    pub fn new(limits: Limits) -> Self {
        let limits = Limits {
            max_body: Some(limits.max_body.unwrap_or(DEFAULT_COLLECT_LIMIT)),
            ..limits
        };
        RequestCollector {
            framer: MessageFramer::request(limits),
            wire: BytesMut::new(),
            wire_start: 0,
            current: None,
        }
    }

    /// Hands over bytes read from the connection, in order.
    pub fn feed(&mut self, bytes: Bytes) {
        self.wire.extend_from_slice(&bytes);
        self.framer.feed(bytes);
    }

    /// Says the peer closed its side.
    pub fn feed_eof(&mut self) {
        self.framer.feed_eof();
    }

    /// The next complete request, `Ok(None)` until one has fully arrived. An error is final.
    pub fn poll(&mut self) -> Result<Option<CompleteRequest>, FramingError> {
        loop {
            match self.framer.poll()? {
                None => return Ok(None),
                Some(FrameEvent::Head(head)) => {
                    let start = self.framer.consumed() - head.raw.len() as u64;
                    self.current = Some((head, BytesMut::new(), start));
                }
                Some(FrameEvent::Body(data)) => {
                    if let Some((_, body, _)) = &mut self.current {
                        body.extend_from_slice(&data);
                    }
                }
                Some(FrameEvent::End) => {
                    self.framer.resume();
                    let Some((head, body, start)) = self.current.take() else {
                        continue;
                    };
                    let end = self.framer.consumed();
                    self.wire.advance(to_index(start - self.wire_start));
                    let raw = self.wire.split_to(to_index(end - start)).freeze();
                    self.wire_start = end;
                    return Ok(Some(CompleteRequest {
                        head,
                        body: body.freeze(),
                        raw,
                    }));
                }
            }
        }
    }
}

/// An offset into bytes held in memory, which therefore fits a `usize`.
fn to_index(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
