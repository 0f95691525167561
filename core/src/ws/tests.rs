//! Unit tests of the WebSocket handshake and frame codec, with the examples of RFC 6455 §1.3
//! and §5.7.

use super::*;
use base64::Engine as _;
use bytes::Bytes;

/// Every event available, or the first error.
fn drain(codec: &mut WsCodec) -> Result<Vec<WsEvent>, WsError> {
    let mut events = Vec::new();
    while let Some(event) = codec.next_event()? {
        events.push(event);
    }
    Ok(events)
}

fn decode(role: Role, bytes: &[u8]) -> Result<Vec<WsEvent>, WsError> {
    let mut codec = WsCodec::new(role, MAX_MESSAGE, 0);
    codec.feed(bytes);
    drain(&mut codec)
}

fn message(text: bool, payload: &[u8]) -> WsEvent {
    WsEvent::Message {
        text,
        payload: Bytes::copy_from_slice(payload),
    }
}

fn error_of(role: Role, bytes: &[u8]) -> WsError {
    match decode(role, bytes) {
        Err(error) => error,
        Ok(events) => panic!("expected an error, decoded {events:?}"),
    }
}

// ---- handshake: server side ----

/// The opening handshake of RFC 6455 §1.3.
const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn sip_request(extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: lb\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn status_of(result: &HandshakeResult) -> u16 {
    match result {
        HandshakeResult::Reject { status, .. } => *status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn text(bytes: &Bytes) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn accept_key_matches_rfc_6455_section_1_3() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn accepts_the_rfc_request_and_echoes_the_required_protocol() {
    let mut buf = RFC_REQUEST.as_bytes().to_vec();
    buf.extend_from_slice(&[0x81, 0x80]); // the start of a first frame
    let HandshakeResult::Accept {
        response,
        consumed,
        path,
    } = accept(&buf, Some("chat"))
    else {
        panic!("not accepted");
    };
    assert_eq!(consumed, RFC_REQUEST.len());
    assert_eq!(path, "/chat");
    assert_eq!(
        text(&response),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
}

#[test]
fn without_a_required_protocol_none_is_echoed() {
    let HandshakeResult::Accept { response, .. } = accept(RFC_REQUEST.as_bytes(), None) else {
        panic!("not accepted");
    };
    assert!(!text(&response).contains("Sec-WebSocket-Protocol"));
}

#[test]
fn every_prefix_of_the_head_needs_more() {
    let request = sip_request("Sec-WebSocket-Protocol: sip\r\n");
    for end in 0..request.len() {
        assert_eq!(
            accept(&request.as_bytes()[..end], Some("sip")),
            HandshakeResult::NeedMore,
            "prefix of {end} bytes"
        );
    }
    assert!(matches!(
        accept(request.as_bytes(), Some("sip")),
        HandshakeResult::Accept { .. }
    ));
}

#[test]
fn heads_over_8_kib_are_refused_431() {
    let unterminated = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(handshake::MAX_HEAD));
    let result = accept(unterminated.as_bytes(), Some("sip"));
    assert_eq!(status_of(&result), 431);
    let long = sip_request(&format!("X-Pad: {}\r\n", "a".repeat(handshake::MAX_HEAD)));
    assert_eq!(status_of(&accept(long.as_bytes(), None)), 431);
    let HandshakeResult::Reject { response, .. } = result else {
        unreachable!()
    };
    assert!(text(&response).starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

#[test]
fn non_upgrade_requests_are_refused_400() {
    let cases = [
        sip_request("Sec-WebSocket-Protocol: sip\r\n").replace("GET", "POST"),
        sip_request("Sec-WebSocket-Protocol: sip\r\n").replace("HTTP/1.1", "HTTP/1.0"),
        sip_request("Sec-WebSocket-Protocol: sip\r\n").replace("Upgrade: websocket\r\n", ""),
        sip_request("Sec-WebSocket-Protocol: sip\r\n")
            .replace("Upgrade: websocket", "Upgrade: h2c"),
        sip_request("Sec-WebSocket-Protocol: sip\r\n")
            .replace("Connection: Upgrade", "Connection: keep-alive"),
        "GET / HTTP/1.1\r\nHost lb\r\n\r\n".to_owned(),
        "\x00\x01garbage\r\n\r\n".to_owned(),
    ];
    for case in cases {
        assert_eq!(
            status_of(&accept(case.as_bytes(), Some("sip"))),
            400,
            "{case}"
        );
    }
}

#[test]
fn connection_is_a_case_insensitive_token_list() {
    let request = sip_request("Sec-WebSocket-Protocol: sip\r\n")
        .replace("Connection: Upgrade", "connection: keep-alive, UPGRADE")
        .replace("Upgrade: websocket", "upgrade: WebSocket");
    assert!(matches!(
        accept(request.as_bytes(), Some("sip")),
        HandshakeResult::Accept { .. }
    ));
}

#[test]
fn other_versions_are_refused_426_naming_13() {
    let request =
        sip_request("Sec-WebSocket-Protocol: sip\r\n").replace("Version: 13", "Version: 8");
    let result = accept(request.as_bytes(), Some("sip"));
    assert_eq!(status_of(&result), 426);
    let HandshakeResult::Reject { response, .. } = result else {
        unreachable!()
    };
    assert!(text(&response).starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(text(&response).contains("\r\nSec-WebSocket-Version: 13\r\n"));
    let missing = sip_request("").replace("Sec-WebSocket-Version: 13\r\n", "");
    assert_eq!(status_of(&accept(missing.as_bytes(), None)), 426);
}

#[test]
fn bad_keys_are_refused_400() {
    let good = "dGhlIHNhbXBsZSBub25jZQ==";
    for bad in [
        "not base64!",
        "dGhlIHNhbXBsZQ==",
        "",
        "dGhlIHNhbXBsZSBub25jZSE=",
    ] {
        let request = sip_request("").replace(good, bad);
        assert_eq!(status_of(&accept(request.as_bytes(), None)), 400, "{bad}");
    }
    let missing = sip_request("").replace(&format!("Sec-WebSocket-Key: {good}\r\n"), "");
    assert_eq!(status_of(&accept(missing.as_bytes(), None)), 400);
}

#[test]
fn a_missing_required_protocol_is_refused_400_citing_rfc_7118() {
    for extra in [
        "",
        "Sec-WebSocket-Protocol: chat\r\n",
        "Sec-WebSocket-Protocol: sips\r\n",
    ] {
        let result = accept(sip_request(extra).as_bytes(), Some("sip"));
        assert_eq!(status_of(&result), 400);
        let HandshakeResult::Reject { response, .. } = result else {
            unreachable!()
        };
        let response = text(&response);
        assert!(response.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(response.contains("Connection: close\r\n"));
        assert!(response.ends_with("the WebSocket sub-protocol \"sip\" is required (RFC 7118)\n"));
    }
    // Offered among others, or in a second field: accepted.
    for extra in [
        "Sec-WebSocket-Protocol: chat, SIP\r\n",
        "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: sip\r\n",
    ] {
        let HandshakeResult::Accept { response, .. } =
            accept(sip_request(extra).as_bytes(), Some("sip"))
        else {
            panic!("not accepted: {extra}");
        };
        assert!(text(&response).contains("\r\nSec-WebSocket-Protocol: sip\r\n"));
    }
}

// ---- handshake: client side ----

fn established(client: &ClientHandshake, response: &[u8]) -> usize {
    match client.check_response(response) {
        ClientResult::Established { consumed } => consumed,
        other => panic!("expected established, got {other:?}"),
    }
}

fn refused(client: &ClientHandshake, response: &str) -> String {
    match client.check_response(response.as_bytes()) {
        ClientResult::Refused { reason } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn client_key(request: &Bytes) -> String {
    let request = text(request);
    let line = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap();
    line.to_owned()
}

#[test]
fn client_request_is_a_version_13_upgrade_with_a_seeded_key() {
    let client = ClientHandshake::new("10.0.0.1:5062", "/", Some(SIP_SUBPROTOCOL), 7);
    let request = client.request();
    let key = client_key(&request);
    assert_eq!(
        text(&request),
        format!("GET / HTTP/1.1\r\nHost: 10.0.0.1:5062\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
    );
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&key)
        .unwrap();
    assert_eq!(raw.len(), 16);
    let same = ClientHandshake::new("10.0.0.1:5062", "/", Some("sip"), 7);
    assert_eq!(same.request(), request);
    let other = ClientHandshake::new("10.0.0.1:5062", "/", Some("sip"), 8);
    assert_ne!(client_key(&other.request()), key);
}

#[test]
fn client_request_drops_line_breaks_and_defaults_the_path() {
    let client = ClientHandshake::new("a\r\nX-Evil: 1", "", None, 1);
    let request = client.request();
    assert!(text(&request).starts_with("GET / HTTP/1.1\r\nHost: aX-Evil: 1\r\n"));
    assert!(!text(&request).contains("Sec-WebSocket-Protocol"));
}

#[test]
fn client_and_server_handshakes_agree() {
    let client = ClientHandshake::new("lb:443", "/ws", Some("sip"), 42);
    let HandshakeResult::Accept {
        response,
        consumed,
        path,
    } = accept(&client.request(), Some("sip"))
    else {
        panic!("not accepted");
    };
    assert_eq!(consumed, client.request().len());
    assert_eq!(path, "/ws");
    for end in 0..response.len() {
        assert_eq!(
            client.check_response(&response[..end]),
            ClientResult::NeedMore
        );
    }
    let mut with_frame = response.to_vec();
    with_frame.extend_from_slice(&[0x81, 0x00]);
    assert_eq!(established(&client, &with_frame), response.len());

    let plain = ClientHandshake::new("lb", "/", None, 42);
    let HandshakeResult::Accept { response, .. } = accept(&plain.request(), None) else {
        panic!("not accepted");
    };
    established(&plain, &response);
}

#[test]
fn client_refuses_wrong_answers() {
    let client = ClientHandshake::new("lb", "/", Some("sip"), 3);
    let good = accept_key(&client_key(&client.request()));
    let answer = |extra: &str| {
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {good}\r\n{extra}\r\n")
    };
    established(
        &client,
        answer("Sec-WebSocket-Protocol: sip\r\n").as_bytes(),
    );

    // The server's refusal when sip is not offered.
    let unoffered = ClientHandshake::new("lb", "/", None, 3);
    let HandshakeResult::Reject { response, .. } = accept(&unoffered.request(), Some("sip")) else {
        panic!("accepted");
    };
    assert!(refused(&unoffered, text(&response)).contains("400"));

    assert!(refused(&client, &answer("")).contains("sip"));
    assert!(refused(&client, &answer("Sec-WebSocket-Protocol: chat\r\n")).contains("sip"));
    assert!(refused(&client, &answer("Sec-WebSocket-Protocol: sip, chat\r\n")).contains("sip"));
    assert!(refused(
        &client,
        &answer("Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Extensions: permessage-deflate\r\n")
    )
    .contains("extension"));
    let wrong_hash =
        answer("Sec-WebSocket-Protocol: sip\r\n").replace(&good, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert!(refused(&client, &wrong_hash).contains("Accept"));
    let no_upgrade =
        answer("Sec-WebSocket-Protocol: sip\r\n").replace("Upgrade: websocket\r\n", "");
    assert!(refused(&client, &no_upgrade).contains("Upgrade"));
    let no_connection =
        answer("Sec-WebSocket-Protocol: sip\r\n").replace("Connection: Upgrade\r\n", "");
    assert!(refused(&client, &no_connection).contains("Connection"));
    let status =
        answer("Sec-WebSocket-Protocol: sip\r\n").replace("101 Switching Protocols", "200 OK");
    assert!(refused(&client, &status).contains("200"));
    assert!(refused(&client, "garbage\r\n\r\n").contains("malformed"));
    assert!(refused(&client, &"x".repeat(handshake::MAX_HEAD + 1)).contains("8 KiB"));

    let plain = ClientHandshake::new("lb", "/", None, 3);
    let plain_good = accept_key(&client_key(&plain.request()));
    let selected = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {plain_good}\r\nSec-WebSocket-Protocol: sip\r\n\r\n");
    assert!(refused(&plain, &selected).contains("not offered"));
}

// ---- frames: RFC 6455 §5.7 examples ----

const HELLO_UNMASKED: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const HELLO_MASKED: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

#[test]
fn rfc_single_frame_unmasked_text() {
    assert_eq!(
        decode(Role::Client, &HELLO_UNMASKED),
        Ok(vec![message(true, b"Hello")])
    );
    let mut server = WsCodec::new(Role::Server, MAX_MESSAGE, 0);
    assert_eq!(&server.encode_message(b"Hello", true)[..], &HELLO_UNMASKED);
}

#[test]
fn rfc_single_frame_masked_text() {
    assert_eq!(
        decode(Role::Server, &HELLO_MASKED),
        Ok(vec![message(true, b"Hello")])
    );
}

#[test]
fn rfc_fragmented_unmasked_text_with_a_ping_between() {
    let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
    let last = [0x80, 0x02, 0x6c, 0x6f];
    let mut bytes = first.to_vec();
    bytes.extend_from_slice(&last);
    assert_eq!(
        decode(Role::Client, &bytes),
        Ok(vec![message(true, b"Hello")])
    );
    let mut interleaved = first.to_vec();
    interleaved.extend_from_slice(&[0x89, 0x01, b'p']);
    interleaved.extend_from_slice(&last);
    assert_eq!(
        decode(Role::Client, &interleaved),
        Ok(vec![
            WsEvent::Ping(Bytes::from_static(b"p")),
            message(true, b"Hello")
        ])
    );
}

#[test]
fn rfc_ping_and_masked_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        decode(Role::Client, &ping),
        Ok(vec![WsEvent::Ping(Bytes::from_static(b"Hello"))])
    );
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode(Role::Server, &pong),
        Ok(vec![WsEvent::Pong(Bytes::from_static(b"Hello"))])
    );
    let mut server = WsCodec::new(Role::Server, MAX_MESSAGE, 0);
    assert_eq!(&server.encode_ping(b"Hello")[..], &ping);
    assert_eq!(
        &server.encode_pong(b"Hello")[..],
        &[0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
    );
}

#[test]
fn rfc_256_byte_and_64_kib_binary_lengths() {
    for (len, header) in [
        (256usize, vec![0x82, 0x7E, 0x01, 0x00]),
        (65536, vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut server = WsCodec::new(Role::Server, MAX_MESSAGE, 0);
        let frame = server.encode_message(&payload, false);
        assert_eq!(&frame[..header.len()], &header[..]);
        assert_eq!(frame.len(), header.len() + len);
        assert_eq!(
            decode(Role::Client, &frame),
            Ok(vec![message(false, &payload)])
        );
    }
}

// ---- frames: errors ----

#[test]
fn masking_must_match_the_role() {
    let error = error_of(Role::Server, &HELLO_UNMASKED);
    assert_eq!(error, WsError::UnmaskedClientFrame);
    assert_eq!(error.close_code(), 1002);
    let error = error_of(Role::Client, &HELLO_MASKED);
    assert_eq!(error, WsError::MaskedServerFrame);
    assert_eq!(error.close_code(), 1002);
}

#[test]
fn reserved_bits_and_opcodes_are_protocol_errors() {
    assert_eq!(
        error_of(Role::Client, &[0xC1, 0x00]),
        WsError::ReservedBits(4)
    );
    assert_eq!(
        error_of(Role::Client, &[0x91, 0x00]),
        WsError::ReservedBits(1)
    );
    for opcode in [0x3, 0x7, 0xB, 0xF] {
        let error = error_of(Role::Client, &[0x80 | opcode, 0x00]);
        assert_eq!(error, WsError::ReservedOpcode(opcode));
        assert_eq!(error.close_code(), 1002);
    }
}

#[test]
fn control_frames_are_short_and_unfragmented() {
    let error = error_of(Role::Client, &[0x89, 0x7E, 0x00, 0x7E]);
    assert_eq!(error, WsError::ControlFrameTooLong(126));
    assert_eq!(error.close_code(), 1002);
    assert_eq!(
        error_of(Role::Client, &[0x88, 126]),
        WsError::ControlFrameTooLong(126)
    );
    let error = error_of(Role::Client, &[0x09, 0x00]);
    assert_eq!(error, WsError::FragmentedControlFrame);
    assert_eq!(error.close_code(), 1002);
    // 125 bytes is allowed.
    let mut ping = vec![0x89, 125];
    ping.extend_from_slice(&[b'x'; 125]);
    assert_eq!(
        decode(Role::Client, &ping),
        Ok(vec![WsEvent::Ping(Bytes::from(vec![b'x'; 125]))])
    );
}

#[test]
fn an_oversized_control_frame_reports_the_same_length_whole_or_in_pieces() {
    // A ping announcing a 256-byte extended length fails at its first two bytes; the error
    // must not depend on whether the extended length has arrived too.
    let wire = [0x89, 0x7E, 0x01, 0x00];
    let whole = error_of(Role::Client, &wire);
    let mut codec = WsCodec::new(Role::Client, MAX_MESSAGE, 0);
    codec.feed(&wire[..2]);
    let split = drain(&mut codec).expect_err("refused");
    assert_eq!(whole, WsError::ControlFrameTooLong(126));
    assert_eq!(split, whole);
}

#[test]
fn continuation_frames_must_continue_a_message() {
    let error = error_of(Role::Client, &[0x80, 0x01, b'a']);
    assert_eq!(error, WsError::UnexpectedContinuation);
    assert_eq!(error.close_code(), 1002);
    let error = error_of(Role::Client, &[0x01, 0x01, b'a', 0x82, 0x01, b'b']);
    assert_eq!(error, WsError::ExpectedContinuation);
    assert_eq!(error.close_code(), 1002);
}

#[test]
fn lengths_with_the_top_bit_set_are_refused() {
    let error = error_of(Role::Client, &[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(error, WsError::InvalidLength);
    assert_eq!(error.close_code(), 1002);
}

#[test]
fn messages_over_the_maximum_are_refused_1009_before_their_payload() {
    let mut codec = WsCodec::new(Role::Client, 10, 0);
    codec.feed(&[0x82, 11]);
    let error = codec.next_event().unwrap_err();
    assert_eq!(error, WsError::MessageTooBig { size: 11, max: 10 });
    assert_eq!(error.close_code(), 1009);

    // Fragments adding up to more than the maximum.
    let mut codec = WsCodec::new(Role::Client, 10, 0);
    codec.feed(&[0x02, 6, 0, 0, 0, 0, 0, 0, 0x80, 5]);
    assert_eq!(
        codec.next_event(),
        Err(WsError::MessageTooBig { size: 11, max: 10 })
    );

    // Exactly the maximum is fine.
    let mut codec = WsCodec::new(Role::Client, 10, 0);
    codec.feed(&[0x82, 10]);
    codec.feed(&[7; 10]);
    assert_eq!(drain(&mut codec), Ok(vec![message(false, &[7; 10])]));

    // A 64-bit length far over the maximum.
    let error = error_of(
        Role::Client,
        &[0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
    );
    assert_eq!(error.close_code(), 1009);
}

#[test]
fn text_messages_must_be_utf8() {
    let error = error_of(Role::Client, &[0x81, 0x02, 0xC3, 0x28]);
    assert_eq!(error, WsError::InvalidUtf8);
    assert_eq!(error.close_code(), 1007);
    // Binary messages may hold anything.
    assert_eq!(
        decode(Role::Client, &[0x82, 0x02, 0xC3, 0x28]),
        Ok(vec![message(false, &[0xC3, 0x28])])
    );
    // A character split between fragments is fine.
    assert_eq!(
        decode(Role::Client, &[0x01, 0x01, 0xC3, 0x80, 0x01, 0xA9]),
        Ok(vec![message(true, "é".as_bytes())])
    );
}

#[test]
fn close_frames_are_checked() {
    assert_eq!(
        decode(Role::Client, &[0x88, 0x00]),
        Ok(vec![WsEvent::Close {
            code: None,
            reason: Bytes::new()
        }])
    );
    assert_eq!(
        decode(Role::Client, &[0x88, 0x04, 0x03, 0xE8, b'o', b'k']),
        Ok(vec![WsEvent::Close {
            code: Some(1000),
            reason: Bytes::from_static(b"ok")
        }])
    );
    let error = error_of(Role::Client, &[0x88, 0x01, 0x03]);
    assert_eq!(error, WsError::InvalidClosePayload);
    assert_eq!(error.close_code(), 1002);
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 2000, 5000] {
        let [hi, lo] = code.to_be_bytes();
        let error = error_of(Role::Client, &[0x88, 0x02, hi, lo]);
        assert_eq!(error, WsError::InvalidCloseCode(code));
        assert_eq!(error.close_code(), 1002);
    }
    let error = error_of(Role::Client, &[0x88, 0x03, 0x03, 0xE8, 0xFF]);
    assert_eq!(error, WsError::InvalidCloseReason);
    assert_eq!(error.close_code(), 1007);
}

#[test]
fn nothing_is_decoded_after_a_close() {
    let mut codec = WsCodec::new(Role::Client, MAX_MESSAGE, 0);
    codec.feed(&[0x88, 0x00, 0x81, 0x01, b'a']);
    assert!(matches!(
        codec.next_event(),
        Ok(Some(WsEvent::Close { .. }))
    ));
    assert!(codec.close_received());
    codec.feed(&HELLO_UNMASKED);
    assert_eq!(codec.next_event(), Ok(None));
}

#[test]
fn errors_are_sticky() {
    let mut codec = WsCodec::new(Role::Server, MAX_MESSAGE, 0);
    codec.feed(&HELLO_UNMASKED);
    assert_eq!(codec.next_event(), Err(WsError::UnmaskedClientFrame));
    codec.feed(&HELLO_MASKED);
    assert_eq!(codec.next_event(), Err(WsError::UnmaskedClientFrame));
}

// ---- frames: encoding and round trips ----

#[test]
fn a_client_masks_with_seeded_keys_and_a_server_never_masks() {
    let mut a = WsCodec::new(Role::Client, MAX_MESSAGE, 9);
    let mut b = WsCodec::new(Role::Client, MAX_MESSAGE, 9);
    let first = a.encode_message(b"Hello", true);
    assert_eq!(first, b.encode_message(b"Hello", true));
    assert_eq!(first[1], 0x80 | 5);
    let second = a.encode_message(b"Hello", true);
    assert_ne!(first[2..6], second[2..6], "a fresh key per frame");
    let mut server = WsCodec::new(Role::Server, MAX_MESSAGE, 9);
    assert_eq!(server.encode_close(1000, "")[1] & 0x80, 0);
}

#[test]
fn every_frame_type_round_trips_both_ways_byte_by_byte() {
    for (from, to) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
        let mut sender = WsCodec::new(from, MAX_MESSAGE, 5);
        let mut receiver = WsCodec::new(to, MAX_MESSAGE, 6);
        let big = vec![0xABu8; 70_000];
        let mut wire = Vec::new();
        wire.extend_from_slice(&sender.encode_message(b"INVITE sip:a@b SIP/2.0\r\n\r\n", true));
        wire.extend_from_slice(&sender.encode_message(&big, false));
        wire.extend_from_slice(&sender.encode_message(b"", true));
        wire.extend_from_slice(&sender.encode_ping(b"are you there"));
        wire.extend_from_slice(&sender.encode_pong(b""));
        wire.extend_from_slice(&sender.encode_close(1001, "going away"));
        let mut events = Vec::new();
        for byte in &wire {
            receiver.feed(std::slice::from_ref(byte));
            events.extend(drain(&mut receiver).unwrap());
        }
        assert_eq!(
            events,
            vec![
                message(true, b"INVITE sip:a@b SIP/2.0\r\n\r\n"),
                message(false, &big),
                message(true, b""),
                WsEvent::Ping(Bytes::from_static(b"are you there")),
                WsEvent::Pong(Bytes::new()),
                WsEvent::Close {
                    code: Some(1001),
                    reason: Bytes::from_static(b"going away")
                },
            ]
        );
    }
}

#[test]
fn control_payloads_are_truncated_to_fit() {
    let mut server = WsCodec::new(Role::Server, MAX_MESSAGE, 0);
    let ping = server.encode_ping(&[1; 200]);
    assert_eq!(ping.len(), 2 + 125);
    // 'é' is two bytes: 61 of them are 122 bytes, and a 62nd would end past byte 123.
    let reason = "é".repeat(80);
    let close = server.encode_close(1000, &reason);
    assert_eq!(close.len(), 2 + 2 + 122);
    assert!(matches!(
        decode(Role::Client, &close).unwrap()[..],
        [WsEvent::Close {
            code: Some(1000),
            ..
        }]
    ));
}

#[test]
fn text_or_binary_tells_utf8_apart() {
    assert!(text_or_binary(b"REGISTER sip:x SIP/2.0"));
    assert!(text_or_binary("é".as_bytes()));
    assert!(!text_or_binary(&[0xFF, 0xFE]));
}
