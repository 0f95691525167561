//! An incremental framer for the octets of an SMPP connection (SMPP 3.4 §3.2: every PDU
//! begins with its 4-octet big-endian `command_length`, header included).
//!
//! Feed it what the connection delivers ([`Framer::feed`]) and poll it ([`Framer::poll`])
//! until it returns `Ok(None)`. Each PDU comes out whole, as a zero-copy slice of the fed
//! buffer when it lies in one, else copied once into a buffer of its exact size. Work is
//! linear in the octets fed.
//!
//! A `command_length` below 16 or above the configured maximum loses the framing: the
//! framer reports [`FramingError`] once the 16-octet header has arrived (so the answer
//! carries the PDU's sequence number), keeps reporting it, and the connection must be
//! closed after answering `generic_nack` with `ESME_RINVCMDLEN` (SMPP 3.4 §4.3, §5.1.3).

use super::command::CommandId;
use super::header::{Header, HEADER_LEN};
use super::pdu::generic_nack;
use super::status::CommandStatus;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Default largest PDU: 64 KiB. SMPP 3.4 sets no maximum; a `submit_sm` with a full
/// `short_message` and common optional parameters is well under 1 KiB, and the largest
/// value one TLV can carry (`message_payload`, 65 535 octets) needs a larger setting.
pub const DEFAULT_MAX_PDU: usize = 64 * 1024;

/// The framing of the connection is lost: a `command_length` outside `16..=max_pdu`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("command_length {} outside 16..={max_pdu} (sequence_number {})", header.command_length, header.sequence_number)]
pub struct FramingError {
    /// The header of the PDU that cannot be framed.
    pub header: Header,
    /// The framer's maximum PDU size.
    pub max_pdu: usize,
}

impl FramingError {
    /// The answer to send before closing the connection: `generic_nack` with
    /// `ESME_RINVCMDLEN` and the offending PDU's sequence number (SMPP 3.4 §4.3).
    pub fn answer(&self) -> Bytes {
        generic_nack(CommandStatus::RINVCMDLEN, self.header.sequence_number)
    }

    /// The `command_id` of the offending PDU, as written.
    pub fn command_id(&self) -> CommandId {
        self.header.command_id
    }
}

/// Frames the PDUs of one direction of an SMPP connection (see the module documentation).
#[derive(Debug)]
pub struct Framer {
    /// Fed buffers, oldest first, none empty.
    queue: VecDeque<Bytes>,
    /// Octets in `queue`.
    buffered: usize,
    /// Largest `command_length` accepted.
    max_pdu: usize,
    /// The length of the PDU at the front, once its header has been read.
    pending: Option<usize>,
    /// The framing error, repeated from then on.
    failed: Option<FramingError>,
    /// Octets taken out as PDUs since the framer was created.
    consumed: u64,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(DEFAULT_MAX_PDU)
    }
}

impl Framer {
    /// A framer accepting PDUs of at most `max_pdu` octets (at least 16: a smaller value is
    /// raised to 16).
    pub fn new(max_pdu: usize) -> Self {
        Framer {
            queue: VecDeque::new(),
            buffered: 0,
            max_pdu: max_pdu.max(HEADER_LEN),
            pending: None,
            failed: None,
            consumed: 0,
        }
    }

    /// Hands over octets read from the connection, in order. Nothing is parsed until
    /// [`poll`](Self::poll). Octets after a framing error are dropped.
    pub fn feed(&mut self, bytes: Bytes) {
        if self.failed.is_none() && !bytes.is_empty() {
            self.buffered += bytes.len();
            self.queue.push_back(bytes);
        }
    }

    /// The next whole PDU, `Ok(None)` when more octets are needed. Call after every
    /// [`feed`](Self::feed) until it returns `Ok(None)`. An error is final: it is returned
    /// again on every later call.
    pub fn poll(&mut self) -> Result<Option<Bytes>, FramingError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let len = match self.pending {
            Some(len) => len,
            None => {
                if self.buffered < HEADER_LEN {
                    return Ok(None);
                }
                let header = self.peek_header();
                let len = usize::try_from(header.command_length).unwrap_or(usize::MAX);
                if !(HEADER_LEN..=self.max_pdu).contains(&len) {
                    let e = FramingError {
                        header,
                        max_pdu: self.max_pdu,
                    };
                    self.failed = Some(e.clone());
                    self.queue.clear();
                    self.buffered = 0;
                    tracing::debug!(error = %e, "SMPP framing lost");
                    return Err(e);
                }
                self.pending = Some(len);
                len
            }
        };
        if self.buffered < len {
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(self.take(len)))
    }

    /// Octets fed and not yet returned as PDUs.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Octets returned as PDUs so far: the connection offset after the last PDU.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// True after a framing error.
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// The first 16 buffered octets, as a header (at least 16 are buffered).
    fn peek_header(&self) -> Header {
        let mut raw = [0u8; HEADER_LEN];
        let mut filled = 0;
        for piece in &self.queue {
            let n = piece.len().min(HEADER_LEN - filled);
            raw[filled..filled + n].copy_from_slice(&piece[..n]);
            filled += n;
            if filled == HEADER_LEN {
                break;
            }
        }
        Header::parse(&raw).unwrap_or(Header {
            command_length: 0,
            command_id: CommandId(0),
            command_status: CommandStatus(0),
            sequence_number: 0,
        })
    }

    /// Takes `len` octets (at least that many are buffered): a slice of the front buffer
    /// when it holds them all, else one copy into an exactly sized buffer.
    fn take(&mut self, len: usize) -> Bytes {
        self.buffered -= len;
        self.consumed += len as u64;
        if let Some(front) = self.queue.front_mut() {
            if front.len() >= len {
                let pdu = front.split_to(len);
                if front.is_empty() {
                    self.queue.pop_front();
                }
                return pdu;
            }
        }
        let mut pdu = BytesMut::with_capacity(len);
        while pdu.len() < len {
            let Some(mut front) = self.queue.pop_front() else {
                break;
            };
            let n = front.len().min(len - pdu.len());
            pdu.extend_from_slice(&front.split_to(n));
            if !front.is_empty() {
                self.queue.push_front(front);
            }
        }
        pdu.freeze()
    }
}
