//! The WebSocket frame codec (RFC 6455 §5): decoding with reassembly of fragmented messages
//! and unmasking, encoding with masking on the client side, and the errors that end a
//! connection, each with the close code to send (§7.4.1).
//!
//! Input is consumed incrementally: each frame header is parsed once, each payload byte is
//! unmasked once and each text message is validated once, so the work is linear in the bytes
//! fed however they are chunked.

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};

/// Which end of the connection a codec is (RFC 6455 §5.1): a client masks every frame it
/// sends and receives only unmasked frames; a server the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// What arrived on the connection ([`WsCodec::next_event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// A complete data message (§5.6), reassembled from its fragments and unmasked; for
    /// `text`, `payload` is valid UTF-8.
    Message { text: bool, payload: Bytes },
    /// A ping (§5.5.2): answer it with [`WsCodec::encode_pong`] of the same payload.
    Ping(Bytes),
    /// A pong (§5.5.3): nothing to do.
    Pong(Bytes),
    /// The peer's close (§5.5.1): answer it with [`WsCodec::encode_close`] (echoing `code`,
    /// or 1000) unless a close was already sent, then close the connection. The codec ignores
    /// anything received after it.
    Close { code: Option<u16>, reason: Bytes },
}

/// A violation that fails the connection (RFC 6455 §7.1.7): send
/// [`WsCodec::encode_close`] with [`WsError::close_code`], then close. Once returned, the
/// codec returns the same error on every later call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A client frame without a mask, received by a server (§5.1).
    #[error("unmasked frame from a client")]
    UnmaskedClientFrame,
    /// A server frame with a mask, received by a client (§5.1).
    #[error("masked frame from a server")]
    MaskedServerFrame,
    /// RSV1–3 set without a negotiated extension (§5.2).
    #[error("reserved bits {0:#x} set")]
    ReservedBits(u8),
    /// An opcode RFC 6455 reserves (§5.2: 0x3–0x7, 0xB–0xF).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame with a payload over 125 bytes (§5.5); the value is its 7-bit length
    /// field (126 and 127 announce an extended length, not waited for).
    #[error("control frame with length field {0} (at most 125)")]
    ControlFrameTooLong(u64),
    /// A control frame without FIN (§5.5).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A continuation frame with no fragmented message in progress (§5.4).
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress (§5.4).
    #[error("new data frame before the fragmented message ended")]
    ExpectedContinuation,
    /// A 64-bit payload length with its most significant bit set (§5.2).
    #[error("payload length with the most significant bit set")]
    InvalidLength,
    /// A close frame whose payload is a single byte (§5.5.1).
    #[error("close frame with a one-byte payload")]
    InvalidClosePayload,
    /// A close code that may not be sent on the wire (§7.4).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A message larger than the codec's maximum (§7.4.1, 1009).
    #[error("message of {size} bytes exceeds the maximum of {max}")]
    MessageTooBig { size: u64, max: usize },
    /// A text message that is not UTF-8 (§8.1, 1007).
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
    /// A close reason that is not UTF-8 (§5.5.1, 1007).
    #[error("close reason is not valid UTF-8")]
    InvalidCloseReason,
}

impl WsError {
    /// The close code to send before closing the connection (§7.4.1): 1009 for a message too
    /// big, 1007 for invalid UTF-8, 1002 (protocol error) otherwise.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::MessageTooBig { .. } => 1009,
            WsError::InvalidUtf8 | WsError::InvalidCloseReason => 1007,
            _ => 1002,
        }
    }
}

/// True if `payload` should leave as a text message (valid UTF-8), false for binary. RFC 7118
/// §5 lets SIP messages travel in either.
pub fn text_or_binary(payload: &[u8]) -> bool {
    std::str::from_utf8(payload).is_ok()
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// The largest control frame payload (§5.5).
const MAX_CONTROL: usize = 125;

/// A parsed frame header whose payload has not fully arrived yet.
#[derive(Debug, Clone, Copy)]
struct Header {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: usize,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Partial {
    text: bool,
    data: BytesMut,
}

/// One end of a WebSocket connection after the handshake: bytes in, events out; messages in,
/// frames out.
#[derive(Debug)]
pub struct WsCodec {
    role: Role,
    max_message: usize,
    mask_state: u64,
    buf: BytesMut,
    header: Option<Header>,
    partial: Option<Partial>,
    failed: Option<WsError>,
    close_received: bool,
}

impl WsCodec {
    /// A codec for one connection, created once the handshake succeeded. `max_message` bounds
    /// a reassembled data message ([`crate::ws::MAX_MESSAGE`] for SIP); `mask_seed` seeds the
    /// masking keys of a [`Role::Client`] (deterministic: see
    /// [`crate::ws::ClientHandshake::new`] for why that is fine server to server) and is
    /// unused by a server.
    pub fn new(role: Role, max_message: usize, mask_seed: u64) -> Self {
        WsCodec {
            role,
            max_message,
            mask_state: mask_seed,
            buf: BytesMut::new(),
            header: None,
            partial: None,
            failed: None,
            close_received: false,
        }
    }

    /// Appends bytes received on the connection (starting with any bytes that followed the
    /// handshake head); then drain [`Self::next_event`].
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_none() && !self.close_received {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// True once a close frame was received: the connection is closing.
    pub fn close_received(&self) -> bool {
        self.close_received
    }

    /// The next complete event, `Ok(None)` when more bytes are needed (or after a close was
    /// received). Call it after each [`Self::feed`] until it returns `Ok(None)` or an error.
    pub fn next_event(&mut self) -> Result<Option<WsEvent>, WsError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.decode();
        if let Err(error) = &result {
            self.failed = Some(error.clone());
            self.buf = BytesMut::new();
            self.partial = None;
        }
        result
    }

    fn decode(&mut self) -> Result<Option<WsEvent>, WsError> {
        while !self.close_received {
            let header = match self.header.take() {
                Some(header) => header,
                None => match self.parse_header()? {
                    Some(header) => header,
                    None => return Ok(None),
                },
            };
            if self.buf.len() < header.len {
                self.header = Some(header);
                return Ok(None);
            }
            let mut payload = self.buf.split_to(header.len);
            if let Some(mask) = header.mask {
                apply_mask(&mut payload, mask);
            }
            if let Some(event) = self.complete(header, payload)? {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    /// Parses and checks the header at the front of the buffer and removes it; `None` if it
    /// has not fully arrived.
    fn parse_header(&mut self) -> Result<Option<Header>, WsError> {
        let [b0, b1, ..] = self.buf[..] else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        if b0 & 0x70 != 0 {
            return Err(WsError::ReservedBits((b0 & 0x70) >> 4));
        }
        let control = opcode & 0x08 != 0;
        match opcode {
            OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG => {}
            other => return Err(WsError::ReservedOpcode(other)),
        }
        let len7 = b1 & 0x7F;
        if control && !fin {
            return Err(WsError::FragmentedControlFrame);
        }
        if control && usize::from(len7) > MAX_CONTROL {
            return Err(WsError::ControlFrameTooLong(u64::from(len7)));
        }
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => return Err(WsError::UnmaskedClientFrame),
            (Role::Client, true) => return Err(WsError::MaskedServerFrame),
            _ => {}
        }
        match (opcode, &self.partial) {
            (OP_CONTINUATION, None) => return Err(WsError::UnexpectedContinuation),
            (OP_TEXT | OP_BINARY, Some(_)) => return Err(WsError::ExpectedContinuation),
            _ => {}
        }
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask_len = if masked { 4 } else { 0 };
        if self.buf.len() < 2 + ext + mask_len {
            return Ok(None);
        }
        let len = self.peek_len(len7).unwrap_or(u64::from(len7));
        if len >> 63 != 0 {
            return Err(WsError::InvalidLength);
        }
        if !control {
            let so_far = self.partial.as_ref().map_or(0, |p| p.data.len()) as u64;
            let size = so_far.saturating_add(len);
            if size > self.max_message as u64 {
                return Err(WsError::MessageTooBig {
                    size,
                    max: self.max_message,
                });
            }
        }
        self.buf.advance(2 + ext);
        let mask = masked.then(|| {
            let mut key = [0u8; 4];
            self.buf.copy_to_slice(&mut key);
            key
        });
        // Bounded by max_message (data) or 125 (control), so it fits in usize.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        Ok(Some(Header {
            fin,
            opcode,
            mask,
            len,
        }))
    }

    /// The extended payload length, if its bytes have arrived.
    fn peek_len(&self, len7: u8) -> Option<u64> {
        match len7 {
            126 => {
                let bytes: [u8; 2] = self.buf.get(2..4)?.try_into().ok()?;
                Some(u64::from(u16::from_be_bytes(bytes)))
            }
            127 => {
                let bytes: [u8; 8] = self.buf.get(2..10)?.try_into().ok()?;
                Some(u64::from_be_bytes(bytes))
            }
            _ => Some(u64::from(len7)),
        }
    }

    /// Handles one complete, unmasked frame: an event, or `None` for a non-final fragment.
    fn complete(&mut self, header: Header, payload: BytesMut) -> Result<Option<WsEvent>, WsError> {
        let event = match header.opcode {
            OP_PING => WsEvent::Ping(payload.freeze()),
            OP_PONG => WsEvent::Pong(payload.freeze()),
            OP_CLOSE => {
                self.close_received = true;
                close_event(payload.freeze())?
            }
            opcode => {
                let (text, data) = match self.partial.take() {
                    Some(mut partial) => {
                        partial.data.extend_from_slice(&payload);
                        (partial.text, partial.data)
                    }
                    None => (opcode == OP_TEXT, payload),
                };
                if !header.fin {
                    self.partial = Some(Partial { text, data });
                    return Ok(None);
                }
                if text && std::str::from_utf8(&data).is_err() {
                    return Err(WsError::InvalidUtf8);
                }
                WsEvent::Message {
                    text,
                    payload: data.freeze(),
                }
            }
        };
        Ok(Some(event))
    }

    /// One unfragmented data message (§5.6): a text frame when `text` (the payload must then
    /// be UTF-8: see [`text_or_binary`]), binary otherwise. Call it for each message to send.
    pub fn encode_message(&mut self, payload: &[u8], text: bool) -> Bytes {
        self.encode(if text { OP_TEXT } else { OP_BINARY }, payload)
    }

    /// A ping (§5.5.2), payload truncated to 125 bytes: to probe a quiet connection.
    pub fn encode_ping(&mut self, payload: &[u8]) -> Bytes {
        self.encode(OP_PING, &payload[..payload.len().min(MAX_CONTROL)])
    }

    /// A pong (§5.5.3), payload truncated to 125 bytes: call it for each
    /// [`WsEvent::Ping`] with the ping's payload.
    pub fn encode_pong(&mut self, payload: &[u8]) -> Bytes {
        self.encode(OP_PONG, &payload[..payload.len().min(MAX_CONTROL)])
    }

    /// A close frame (§5.5.1) with `code` (1000 normal, or [`WsError::close_code`]) and
    /// `reason` cut to 123 bytes at a character boundary. Send it when closing, or in answer
    /// to [`WsEvent::Close`], then send nothing more.
    pub fn encode_close(&mut self, code: u16, reason: &str) -> Bytes {
        let mut end = reason.len().min(MAX_CONTROL - 2);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let mut payload = Vec::with_capacity(2 + end);
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        self.encode(OP_CLOSE, &payload)
    }

    /// One final frame (§5.2), masked by a client with the next key of its generator.
    fn encode(&mut self, opcode: u8, payload: &[u8]) -> Bytes {
        let mask_bit = if self.role == Role::Client { 0x80 } else { 0 };
        let mut out = BytesMut::with_capacity(payload.len() + 14);
        out.put_u8(0x80 | opcode);
        match payload.len() {
            len @ 0..=125 => out.put_u8(mask_bit | len as u8),
            len @ 126..=0xFFFF => {
                out.put_u8(mask_bit | 126);
                out.put_u16(len as u16);
            }
            len => {
                out.put_u8(mask_bit | 127);
                out.put_u64(len as u64);
            }
        }
        if self.role == Role::Client {
            let key = (super::splitmix64(&mut self.mask_state) as u32).to_be_bytes();
            out.put_slice(&key);
            let start = out.len();
            out.put_slice(payload);
            apply_mask(&mut out[start..], key);
        } else {
            out.put_slice(payload);
        }
        out.freeze()
    }
}

/// The close frame's status code and reason (§5.5.1), checked (§7.4).
fn close_event(payload: Bytes) -> Result<WsEvent, WsError> {
    match payload.len() {
        0 => Ok(WsEvent::Close {
            code: None,
            reason: Bytes::new(),
        }),
        1 => Err(WsError::InvalidClosePayload),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let allowed = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !allowed {
                return Err(WsError::InvalidCloseCode(code));
            }
            let reason = payload.slice(2..);
            if std::str::from_utf8(&reason).is_err() {
                return Err(WsError::InvalidCloseReason);
            }
            Ok(WsEvent::Close {
                code: Some(code),
                reason,
            })
        }
    }
}

/// XORs `data` with the masking key (§5.3); masking and unmasking are the same operation.
fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}
