//! Sans-IO WebSocket (RFC 6455) for SIP over WebSocket (RFC 7118): the HTTP Upgrade handshake
//! in both directions ([`handshake`]) and the frame codec ([`frame`]).
//!
//! Nothing here reads a socket or a clock. A driver hands in the bytes received so far and
//! writes out the bytes handed back:
//!
//! 1. Server side, call [`handshake::accept`] with everything received on the connection until
//!    it stops answering [`handshake::HandshakeResult::NeedMore`]; write its response. On
//!    `Accept`, the bytes after `consumed` are already frames: feed them to a
//!    [`frame::WsCodec`] built with [`frame::Role::Server`].
//! 2. Client side, write [`handshake::ClientHandshake::request`], then call
//!    [`handshake::ClientHandshake::check_response`] with everything received until it answers
//!    `Established` (bytes after `consumed` are frames) or `Refused`.
//! 3. Then [`frame::WsCodec::feed`] received bytes and drain
//!    [`frame::WsCodec::next_event`]; answer each `Ping` with [`frame::WsCodec::encode_pong`],
//!    send each SIP message with [`frame::WsCodec::encode_message`] (text when
//!    [`frame::text_or_binary`] says so), and on an error send
//!    [`frame::WsCodec::encode_close`] with [`frame::WsError::close_code`] and close.
//!
//! The core is deterministic, so the client's `Sec-WebSocket-Key` and masking keys come from a
//! seed the caller supplies (see [`handshake::ClientHandshake::new`]).

pub mod frame;
pub mod handshake;

#[cfg(test)]
mod tests;

pub use frame::{text_or_binary, Role, WsCodec, WsError, WsEvent};
pub use handshake::{accept, accept_key, ClientHandshake, ClientResult, HandshakeResult};

/// The WebSocket sub-protocol of SIP (RFC 7118 §4): required on accept, offered on connect.
pub const SIP_SUBPROTOCOL: &str = "sip";

/// The largest WebSocket message a SIP connection accepts: one SIP message, 1 MiB.
pub const MAX_MESSAGE: usize = 1024 * 1024;

/// SplitMix64: a small deterministic generator for handshake keys and masking keys. Not
/// cryptographic; see [`handshake::ClientHandshake::new`] for why that is acceptable here.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
