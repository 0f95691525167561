//! Property tests of the WebSocket codec: what one end encodes the other decodes, whatever the
//! chunking and fragmentation; handshakes built by the client are accepted by the server; no
//! input panics.

use bytes::Bytes;
use proptest::prelude::*;
use switchboard_core::ws::{
    accept, ClientHandshake, ClientResult, HandshakeResult, Role, WsCodec, WsError, WsEvent,
    MAX_MESSAGE,
};

/// Something one end sends.
#[derive(Debug, Clone)]
enum Item {
    Message { text: bool, payload: Vec<u8> },
    Ping(Vec<u8>),
}

impl Item {
    fn expected(&self) -> WsEvent {
        match self {
            Item::Message { text, payload } => WsEvent::Message {
                text: *text,
                payload: Bytes::from(payload.clone()),
            },
            Item::Ping(payload) => WsEvent::Ping(Bytes::from(payload.clone())),
        }
    }
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..300),
        // Around the 16-bit and 64-bit length encodings.
        1 => (any::<u8>(), prop_oneof![Just(125usize), Just(126), Just(65535), Just(65536)])
            .prop_map(|(byte, len)| vec![byte; len]),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        3 => any::<String>().prop_map(|s| Item::Message { text: true, payload: s.into_bytes() }),
        3 => payload().prop_map(|payload| Item::Message { text: false, payload }),
        1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Item::Ping),
    ]
}

/// Feeds `wire` in chunks of the given sizes (cycled) and collects every event.
fn receive(codec: &mut WsCodec, wire: &[u8], chunks: &[usize]) -> Result<Vec<WsEvent>, WsError> {
    let mut events = Vec::new();
    let mut at = 0;
    for size in chunks.iter().cycle() {
        if at >= wire.len() {
            break;
        }
        let end = (at + size).min(wire.len());
        codec.feed(&wire[at..end]);
        at = end;
        while let Some(event) = codec.next_event()? {
            events.push(event);
        }
    }
    Ok(events)
}

/// One frame built by hand (RFC 6455 §5.2), masked with `mask` when given.
fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.push(bit | len as u8),
        len @ 126..=0xFFFF => {
            out.push(bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

fn roles(client_sends: bool) -> (Role, Role) {
    if client_sends {
        (Role::Client, Role::Server)
    } else {
        (Role::Server, Role::Client)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn what_one_end_encodes_the_other_decodes_in_any_chunks(
        items in prop::collection::vec(item(), 0..12),
        chunks in prop::collection::vec(1usize..200, 1..16),
        client_sends in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (from, to) = roles(client_sends);
        let mut sender = WsCodec::new(from, MAX_MESSAGE, seed);
        let mut wire = Vec::new();
        for item in &items {
            let bytes = match item {
                Item::Message { text, payload } => sender.encode_message(payload, *text),
                Item::Ping(payload) => sender.encode_ping(payload),
            };
            wire.extend_from_slice(&bytes);
        }
        let mut receiver = WsCodec::new(to, MAX_MESSAGE, seed ^ 1);
        let events = receive(&mut receiver, &wire, &chunks).unwrap();
        let expected: Vec<WsEvent> = items.iter().map(Item::expected).collect();
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn fragmented_messages_with_interleaved_pings_reassemble(
        items in prop::collection::vec(
            (item(), prop::collection::vec(0usize..400, 0..4), any::<bool>()),
            0..8,
        ),
        chunks in prop::collection::vec(1usize..64, 1..8),
        client_sends in any::<bool>(),
        key in any::<[u8; 4]>(),
    ) {
        let (_, to) = roles(client_sends);
        let mask = client_sends.then_some(key);
        let mut wire = Vec::new();
        for (item, cuts, ping_between) in &items {
            match item {
                Item::Ping(payload) => wire.extend(frame(true, 0x9, payload, mask)),
                Item::Message { text, payload } => {
                    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
                    cuts.sort_unstable();
                    let mut bounds = vec![0];
                    bounds.extend(cuts);
                    bounds.push(payload.len());
                    let pieces = bounds.len() - 1;
                    for i in 0..pieces {
                        let opcode = match (i, text) {
                            (0, true) => 0x1,
                            (0, false) => 0x2,
                            _ => 0x0,
                        };
                        let fin = i + 1 == pieces;
                        wire.extend(frame(fin, opcode, &payload[bounds[i]..bounds[i + 1]], mask));
                        if !fin && *ping_between {
                            wire.extend(frame(true, 0x9, b"between", mask));
                        }
                    }
                }
            }
        }
        let mut receiver = WsCodec::new(to, MAX_MESSAGE, 0);
        let events = receive(&mut receiver, &wire, &chunks).unwrap();
        let mut expected = Vec::new();
        for (item, cuts, ping_between) in &items {
            if matches!(item, Item::Message { .. }) && *ping_between {
                // One ping between each pair of fragments, all before the message ends.
                expected.extend(cuts.iter().map(|_| WsEvent::Ping(Bytes::from_static(b"between"))));
            }
            expected.push(item.expected());
        }
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn garbage_never_panics(
        garbage in prop::collection::vec(any::<u8>(), 0..2000),
        chunks in prop::collection::vec(1usize..100, 1..8),
        server in any::<bool>(),
        max in prop_oneof![Just(16usize), Just(MAX_MESSAGE)],
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let mut codec = WsCodec::new(role, max, 3);
        if let Err(error) = receive(&mut codec, &garbage, &chunks) {
            prop_assert!([1002, 1007, 1009].contains(&error.close_code()));
            prop_assert_eq!(codec.next_event(), Err(error));
        }
        let _ = accept(&garbage, Some("sip"));
        let client = ClientHandshake::new("lb", "/", Some("sip"), 1);
        let _ = client.check_response(&garbage);
    }

    #[test]
    fn corrupted_streams_never_panic(
        items in prop::collection::vec(item(), 1..6),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        chunks in prop::collection::vec(1usize..100, 1..8),
        client_sends in any::<bool>(),
    ) {
        let (from, to) = roles(client_sends);
        let mut sender = WsCodec::new(from, MAX_MESSAGE, 11);
        let mut wire = Vec::new();
        for item in &items {
            let bytes = match item {
                Item::Message { text, payload } => sender.encode_message(payload, *text),
                Item::Ping(payload) => sender.encode_ping(payload),
            };
            wire.extend_from_slice(&bytes);
        }
        for (at, xor) in flips {
            let at = at % wire.len();
            wire[at] ^= xor;
        }
        let mut receiver = WsCodec::new(to, 1024, 0);
        if let Err(error) = receive(&mut receiver, &wire, &chunks) {
            prop_assert!([1002, 1007, 1009].contains(&error.close_code()));
        }
    }

    #[test]
    fn client_handshakes_are_accepted_and_their_answers_established(
        host in "[a-z0-9.]{1,20}(:[0-9]{1,5})?",
        path in "/[A-Za-z0-9/._~-]{0,30}",
        seed in any::<u64>(),
        trailing in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let client = ClientHandshake::new(&host, &path, Some("sip"), seed);
        let mut buf = client.request().to_vec();
        buf.extend_from_slice(&trailing);
        let HandshakeResult::Accept { response, consumed, path: accepted } = accept(&buf, Some("sip")) else {
            panic!("not accepted");
        };
        prop_assert_eq!(consumed, client.request().len());
        prop_assert_eq!(accepted, path);
        let mut answer = response.to_vec();
        answer.extend_from_slice(&trailing);
        prop_assert_eq!(
            client.check_response(&answer),
            ClientResult::Established { consumed: response.len() }
        );
    }
}
