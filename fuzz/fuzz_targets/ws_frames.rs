//! `WsCodec`, as a server and as a client, on bytes split at fuzzer-chosen points: the events
//! must be the same as when the bytes are fed at once, and so must the error that ends the
//! connection. The same bytes also go to the handshake checks of both sides, which must not
//! panic; an accepted upgrade consumes no more than it was given.
//!
//! Input layout: byte 0 picks the message size limit, byte 1 seeds the chunk sizes, byte 2
//! the handshake options (bit 0: require the `sip` sub-protocol / offer it; bits 1–2: the
//! client's key seed, 0–3); the rest is the connection's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_core::ws::{
    accept, ClientHandshake, ClientResult, HandshakeResult, Role, WsCodec, WsError, WsEvent,
    MAX_MESSAGE,
};
#[path = "chunks.rs"]
mod chunks;
use chunks::Chunks;

fuzz_target!(|data: &[u8]| {
    let [size_sel, seed, hs, stream @ ..] = data else {
        return;
    };
    let max_message = match size_sel {
        0..=127 => usize::from(*size_sel) * 4,
        128..=254 => usize::from(*size_sel - 128) * 512,
        255 => MAX_MESSAGE,
    };

    for role in [Role::Server, Role::Client] {
        let whole = run(role, max_message, std::iter::once(stream));
        let chunks = Chunks {
            rest: stream,
            state: u32::from(*seed) | 0x100,
        };
        let split = run(role, max_message, chunks);
        assert_eq!(whole, split, "chunking changed what a {role:?} decodes");
    }

    let subprotocol = (hs & 1 != 0).then_some("sip");
    match accept(stream, subprotocol) {
        HandshakeResult::Accept { consumed, .. } => {
            assert!(
                consumed <= stream.len(),
                "consumed {consumed} of {}",
                stream.len()
            )
        }
        HandshakeResult::Reject { status, .. } => {
            assert!(matches!(status, 400 | 426 | 431), "status {status}")
        }
        HandshakeResult::NeedMore => {}
    }
    let client = ClientHandshake::new("lb:5062", "/", subprotocol, u64::from(hs >> 1 & 3));
    if let ClientResult::Established { consumed } = client.check_response(stream) {
        assert!(
            consumed <= stream.len(),
            "consumed {consumed} of {}",
            stream.len()
        );
    }
});

/// Feeds the pieces one by one, draining after each; the events and the error, if any.
fn run<'a>(
    role: Role,
    max_message: usize,
    pieces: impl Iterator<Item = &'a [u8]>,
) -> (Vec<WsEvent>, Option<WsError>) {
    let mut codec = WsCodec::new(role, max_message, 7);
    let mut events = Vec::new();
    for piece in pieces {
        codec.feed(piece);
        loop {
            match codec.next_event() {
                Ok(Some(event)) => {
                    if let WsEvent::Message { text, payload } = &event {
                        assert!(payload.len() <= max_message);
                        assert!(!text || std::str::from_utf8(payload).is_ok());
                    }
                    events.push(event);
                }
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(codec.next_event(), Err(e.clone()), "codec recovered");
                    return (events, Some(e));
                }
            }
        }
    }
    (events, None)
}
