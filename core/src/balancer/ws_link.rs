//! SIP over WebSocket on one stream connection (RFC 7118): the HTTP upgrade with
//! sub-protocol `sip` in both directions, then one SIP message per WebSocket message. Frames
//! are decoded and encoded by [`crate::ws`]; this module keeps the per-connection state.

use crate::ws::frame::{Role, WsCodec, WsEvent};
use crate::ws::handshake::{self, ClientHandshake, ClientResult, HandshakeResult};
use bytes::{Bytes, BytesMut};

/// The WebSocket sub-protocol of RFC 7118.
pub const SUBPROTOCOL: &str = "sip";
/// The largest WebSocket message accepted (one SIP message).
pub const MAX_MESSAGE: usize = 1024 * 1024;

/// The WebSocket state of one SIP connection.
#[derive(Debug)]
pub enum WsLink {
    /// Accepted; waiting for the client's upgrade request.
    Upgrading(BytesMut),
    /// Opened by the balancer; waiting for the server's `101`. SIP messages written
    /// meanwhile wait here.
    Connecting {
        /// The request sent and the answer it expects.
        handshake: ClientHandshake,
        /// The answer so far.
        received: BytesMut,
        /// Messages to send once the upgrade is done.
        queued: Vec<Bytes>,
    },
    /// Upgraded: frames both ways.
    Open(WsCodec),
}

/// What the SIP proxy must do after bytes arrived on a WebSocket connection.
#[derive(Debug, Default)]
pub struct WsStep {
    /// Bytes to write back (the `101`, a refusal, pongs, a close frame, queued messages).
    pub write: Vec<Bytes>,
    /// Complete SIP messages received.
    pub messages: Vec<Bytes>,
    /// The upgrade finished with this step.
    pub upgraded: bool,
    /// The connection must be closed after the writes (refused upgrade, close frame,
    /// protocol error). For a connection the balancer opened, a refused upgrade.
    pub close: bool,
}

impl WsLink {
    /// The state of a connection accepted on a WS or WSS listener.
    pub fn server() -> WsLink {
        WsLink::Upgrading(BytesMut::new())
    }

    /// The state of a connection the balancer opens toward `host` (the `Host` header), and
    /// the upgrade request to write first. `seed` makes the key and masks deterministic.
    pub fn client(host: &str, seed: u64) -> (WsLink, Bytes) {
        let handshake = ClientHandshake::new(host, "/", Some(SUBPROTOCOL), seed);
        let request = handshake.request();
        let link = WsLink::Connecting {
            handshake,
            received: BytesMut::new(),
            queued: Vec::new(),
        };
        (link, request)
    }

    /// Wraps one outgoing SIP message: a text frame (binary if it is not UTF-8), or queued
    /// until the upgrade is done. `None` when nothing is to be written now.
    pub fn encode(&mut self, message: Bytes) -> Option<Bytes> {
        match self {
            WsLink::Open(codec) => {
                let text = crate::ws::frame::text_or_binary(&message);
                Some(codec.encode_message(&message, text))
            }
            WsLink::Connecting { queued, .. } => {
                queued.push(message);
                None
            }
            WsLink::Upgrading(_) => None,
        }
    }

    /// Feeds received bytes; `seed` seeds the codec's masks once upgraded.
    pub fn receive(&mut self, bytes: &[u8], seed: u64) -> WsStep {
        let mut step = WsStep::default();
        match self {
            WsLink::Upgrading(buf) => {
                buf.extend_from_slice(bytes);
                match handshake::accept(buf, Some(SUBPROTOCOL)) {
                    HandshakeResult::NeedMore => return step,
                    HandshakeResult::Reject { response, .. } => {
                        step.write.push(response);
                        step.close = true;
                        return step;
                    }
                    HandshakeResult::Accept {
                        response, consumed, ..
                    } => {
                        step.write.push(response);
                        step.upgraded = true;
                        let rest = buf.split_off(consumed);
                        let mut codec = WsCodec::new(Role::Server, MAX_MESSAGE, seed);
                        codec.feed(&rest);
                        *self = WsLink::Open(codec);
                    }
                }
            }
            WsLink::Connecting {
                handshake,
                received,
                queued,
            } => {
                received.extend_from_slice(bytes);
                match handshake.check_response(received) {
                    ClientResult::NeedMore => return step,
                    ClientResult::Refused { reason } => {
                        tracing::debug!(%reason, "WebSocket upgrade refused by the peer");
                        step.close = true;
                        return step;
                    }
                    ClientResult::Established { consumed } => {
                        step.upgraded = true;
                        let rest = received.split_off(consumed);
                        let queued = std::mem::take(queued);
                        let mut codec = WsCodec::new(Role::Client, MAX_MESSAGE, seed);
                        codec.feed(&rest);
                        for message in queued {
                            let text = crate::ws::frame::text_or_binary(&message);
                            step.write.push(codec.encode_message(&message, text));
                        }
                        *self = WsLink::Open(codec);
                    }
                }
            }
            WsLink::Open(codec) => codec.feed(bytes),
        }
        if let WsLink::Open(codec) = self {
            drain_frames(codec, &mut step);
        }
        step
    }
}

fn drain_frames(codec: &mut WsCodec, step: &mut WsStep) {
    loop {
        match codec.next_event() {
            Ok(None) => return,
            Ok(Some(WsEvent::Message { payload, .. })) => step.messages.push(payload),
            Ok(Some(WsEvent::Ping(data))) => step.write.push(codec.encode_pong(&data)),
            Ok(Some(WsEvent::Pong(_))) => {}
            Ok(Some(WsEvent::Close { code, .. })) => {
                step.write
                    .push(codec.encode_close(code.unwrap_or(1000), ""));
                step.close = true;
                return;
            }
            Err(error) => {
                tracing::debug!(%error, "WebSocket protocol error");
                step.write.push(codec.encode_close(error.close_code(), ""));
                step.close = true;
                return;
            }
        }
    }
}
