use super::*;

/// A message as the tests compare it: the head, then the body concatenated.
#[derive(Debug, PartialEq)]
struct Message {
    head: Head,
    body: Vec<u8>,
}

fn framer(kind: Kind) -> MessageFramer {
    MessageFramer::new(kind, Limits::default())
}

/// Polls until `Ok(None)`, grouping events into messages; checks event order.
fn drain(
    f: &mut MessageFramer,
    out: &mut Vec<Message>,
    open: &mut Option<Message>,
) -> Result<(), FramingError> {
    while let Some(event) = f.poll()? {
        match event {
            FrameEvent::Head(head) => {
                assert!(open.is_none(), "head inside a message");
                *open = Some(Message {
                    head,
                    body: Vec::new(),
                });
            }
            FrameEvent::Body(data) => {
                assert!(!data.is_empty());
                open.as_mut()
                    .expect("body outside a message")
                    .body
                    .extend_from_slice(&data);
            }
            FrameEvent::End => out.push(open.take().expect("end outside a message")),
        }
    }
    Ok(())
}

fn frame(f: &mut MessageFramer, pieces: &[&[u8]], eof: bool) -> Result<Vec<Message>, FramingError> {
    let (mut out, mut open) = (Vec::new(), None);
    drain(f, &mut out, &mut open)?;
    for piece in pieces {
        f.feed(Bytes::copy_from_slice(piece));
        drain(f, &mut out, &mut open)?;
    }
    if eof {
        f.feed_eof();
        drain(f, &mut out, &mut open)?;
    }
    Ok(out)
}

fn requests(wire: &[u8]) -> Result<Vec<Message>, FramingError> {
    frame(&mut framer(Kind::Request), &[wire], false)
}

fn one_request(wire: &[u8]) -> Message {
    let mut all = requests(wire).expect("frames");
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn request_error(wire: &[u8]) -> FramingError {
    requests(wire).expect_err("refused")
}

fn responses(wire: &[u8], to_head: bool, eof: bool) -> Result<Vec<Message>, FramingError> {
    frame(
        &mut MessageFramer::response(Limits::default(), to_head),
        &[wire],
        eof,
    )
}

/// Feeds `wire` one byte at a time and checks the result matches feeding it whole.
fn bytewise_equals_whole(kind: Kind, wire: &[u8]) {
    let whole = frame(&mut framer(kind), &[wire], true);
    let pieces: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(frame(&mut framer(kind), &pieces, true), whole);
}

#[test]
fn a_get_has_no_body_and_exposes_its_head() {
    let m = one_request(b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y:  z \r\n\r\n");
    assert_eq!(m.head.method(), Some("GET"));
    assert_eq!(m.head.target(), Some("/a?b=c"));
    assert_eq!(m.head.status(), None);
    assert_eq!(m.head.version, 1);
    assert_eq!(m.head.body, BodyKind::None);
    assert_eq!(m.head.header("x-y").map(|v| &v[..]), Some(&b"z"[..]));
    assert_eq!(m.head.headers[0].0, "Host");
    assert_eq!(
        &m.head.raw[..],
        b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y:  z \r\n\r\n"
    );
    assert!(m.head.keep_alive);
    assert!(!m.head.expect_continue);
    assert_eq!(m.head.upgrade, None);
    assert!(m.body.is_empty());
}

#[test]
fn content_length_bodies_are_zero_copy_slices_of_the_input() {
    let wire = Bytes::from_static(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    let mut f = framer(Kind::Request);
    f.feed(wire.clone());
    assert!(matches!(f.poll(), Ok(Some(FrameEvent::Head(h))) if h.body == BodyKind::Length(5)));
    let Ok(Some(FrameEvent::Body(body))) = f.poll() else {
        panic!("body expected")
    };
    assert_eq!(&body[..], b"hello");
    assert_eq!(body.as_ptr(), wire[wire.len() - 5..].as_ptr());
    assert_eq!(f.poll(), Ok(Some(FrameEvent::End)));
    assert_eq!(f.poll(), Ok(None));
    assert_eq!(f.consumed(), wire.len() as u64);
}

#[test]
fn a_zero_length_body_ends_at_once() {
    let m = one_request(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(m.head.body, BodyKind::Length(0));
}

#[test]
fn identical_repeated_content_lengths_are_one() {
    let m = one_request(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc");
    assert_eq!(m.head.body, BodyKind::Length(3));
    assert_eq!(m.body, b"abc");
}

#[test]
fn chunked_bodies_yield_chunk_data_with_extensions_and_trailers() {
    let wire = b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;name=value\r\nhello\r\n6 ; x\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1 \r\nY: 2\r\n\r\n";
    let mut f = framer(Kind::Request);
    let m = frame(&mut f, &[wire], false).expect("frames");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].head.body, BodyKind::Chunked);
    assert_eq!(m[0].body, b"hello world0123456789");
    let trailers: Vec<(&str, &[u8])> = f
        .trailers()
        .iter()
        .map(|(n, v)| (n.as_str(), &v[..]))
        .collect();
    assert_eq!(trailers, [("X-Sum", &b"1"[..]), ("Y", &b"2"[..])]);
    bytewise_equals_whole(Kind::Request, wire);
}

#[test]
fn known_codings_before_a_final_chunked_are_accepted() {
    let m = one_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n");
    assert_eq!(m.head.body, BodyKind::Chunked);
}

#[test]
fn pipelined_requests_are_framed_in_order_with_empty_lines_between_skipped() {
    let wire = b"\r\nGET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nab\r\n\
        POST /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nc\r\n0\r\n\r\nGET /4 HTTP/1.0\r\n\r\n";
    let all = requests(wire).expect("frames");
    let targets: Vec<_> = all
        .iter()
        .map(|m| m.head.target().unwrap_or_default())
        .collect();
    assert_eq!(targets, ["/1", "/2", "/3", "/4"]);
    assert_eq!(all[1].body, b"ab");
    assert_eq!(all[2].body, b"c");
    bytewise_equals_whole(Kind::Request, wire);
}

#[test]
fn keep_alive_follows_version_and_connection() {
    let alive = |wire: &[u8]| one_request(wire).head.keep_alive;
    assert!(alive(b"GET / HTTP/1.1\r\n\r\n"));
    assert!(!alive(b"GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n"));
    assert!(!alive(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(alive(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    let r = responses(b"HTTP/1.1 200 OK\r\n\r\nbody", false, true).expect("frames");
    assert!(
        !r[0].head.keep_alive,
        "a body delimited by close ends the connection"
    );
}

#[test]
fn expect_continue_is_exposed_for_http_1_1_only() {
    assert!(
        one_request(b"PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx")
            .head
            .expect_continue
    );
    assert!(
        !one_request(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
            .head
            .expect_continue
    );
}

#[test]
fn an_upgrade_request_pauses_the_framer_until_resumed_or_taken() {
    let wire = b"GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00";
    let mut f = framer(Kind::Request);
    let m = frame(&mut f, &[wire], false).expect("frames");
    assert_eq!(m[0].head.upgrade.as_deref(), Some(&b"websocket"[..]));
    assert!(f.is_paused());
    assert_eq!(f.poll(), Ok(None));
    assert_eq!(&f.take_buffered()[..], b"\x81\x00");

    let mut f = framer(Kind::Request);
    frame(&mut f, &[b"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\nGET /next HTTP/1.1\r\n\r\n"], false)
        .expect("frames");
    f.resume();
    let next = frame(&mut f, &[], false).expect("frames");
    assert_eq!(next[0].head.target(), Some("/next"));

    let m = one_request(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(
        m.head.upgrade, None,
        "Upgrade counts only when Connection lists it"
    );
    let m = one_request(b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(m.head.upgrade, None, "ignored in HTTP/1.0 (RFC 9110 §7.8)");
}

#[test]
fn responses_without_a_body() {
    let cases: [(&[u8], bool); 5] = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true),
        (
            b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
            false,
        ),
        (
            b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n", false),
        (
            b"HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\n",
            false,
        ),
    ];
    for (wire, to_head) in cases {
        let r = responses(wire, to_head, false).expect("frames");
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].head.body,
            BodyKind::None,
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[test]
fn an_interim_response_is_followed_by_the_final_one() {
    let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let r = responses(wire, false, false).expect("frames");
    assert!(r[0].head.is_interim());
    assert_eq!(r[1].head.status(), Some(200));
    assert!(!r[1].head.is_interim());
    assert_eq!(r[1].body, b"ok");
}

#[test]
fn responses_without_length_run_until_close() {
    let wire = b"HTTP/1.0 200 OK\r\nServer: s\r\n\r\nall of this";
    let mut f = MessageFramer::response(Limits::default(), false);
    f.feed(Bytes::from_static(wire));
    assert!(matches!(f.poll(), Ok(Some(FrameEvent::Head(_)))));
    assert!(matches!(f.poll(), Ok(Some(FrameEvent::Body(_)))));
    assert_eq!(f.poll(), Ok(None), "no End before the close");
    f.feed_eof();
    assert_eq!(f.poll(), Ok(Some(FrameEvent::End)));
    assert_eq!(f.poll(), Ok(None));
    let r = responses(wire, false, true).expect("frames");
    assert_eq!(r[0].head.body, BodyKind::UntilClose);
    assert_eq!(r[0].body, b"all of this");
    let r = responses(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
        false,
        true,
    )
    .expect("frames");
    assert_eq!(
        r[0].head.body,
        BodyKind::UntilClose,
        "final coding not chunked (rule 4)"
    );
}

#[test]
fn pipelined_responses_follow_the_head_setting() {
    let mut f = MessageFramer::response(Limits::default(), true);
    let r = frame(
        &mut f,
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"],
        false,
    )
    .expect("frames");
    assert_eq!(r[0].head.body, BodyKind::None);
    f.expect_response(false);
    let r = frame(
        &mut f,
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"],
        false,
    )
    .expect("frames");
    assert_eq!(r[0].body, b"abc");
}

#[test]
fn a_101_response_pauses_and_hands_over_the_rest() {
    let mut f = MessageFramer::response(Limits::default(), false);
    let wire = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframes";
    let r = frame(&mut f, &[wire], false).expect("frames");
    assert_eq!(r[0].head.status(), Some(101));
    assert!(f.is_paused());
    assert_eq!(&f.take_buffered()[..], b"frames");
}

#[test]
fn response_status_and_reason() {
    let r = responses(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        false,
        false,
    )
    .expect("frames");
    assert_eq!(
        r[0].head.start,
        StartLine::Response {
            status: 404,
            reason: "Not Found".into()
        }
    );
}

fn assert_refused(wire: &[u8], status: u16) {
    let e = request_error(wire);
    assert_eq!(
        e.status(),
        status,
        "{e:?} for {}",
        String::from_utf8_lossy(wire)
    );
}

#[test]
fn malformed_heads_are_400() {
    for wire in [
        &b"garbage\r\n\r\n"[..],
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\n\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / FOO/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX\x01: y\r\n\r\n",
    ] {
        assert_eq!(
            std::mem::discriminant(&request_error(wire)),
            std::mem::discriminant(&FramingError::MalformedHead("")),
            "{}",
            String::from_utf8_lossy(wire)
        );
        assert_refused(wire, 400);
    }
    let e = responses(b"HTTP/1.1 099 Odd\r\n\r\n", false, false).expect_err("refused");
    assert_eq!(e.status(), 400);
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    let wire =
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(request_error(wire), FramingError::ConflictingFraming);
    assert_refused(wire, 400);
    let e = responses(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        false,
        false,
    );
    assert_eq!(e.expect_err("refused"), FramingError::ConflictingFraming);
}

#[test]
fn bad_content_lengths_are_400() {
    for value in [
        "3, 4",
        "abc",
        "+3",
        "-1",
        "",
        "3 3",
        "0x10",
        "99999999999999999999999",
    ] {
        let wire = format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n");
        assert_eq!(
            request_error(wire.as_bytes()),
            FramingError::BadContentLength,
            "{value:?}"
        );
    }
    let wire = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
    assert_eq!(request_error(wire), FramingError::BadContentLength);
    assert_refused(wire, 400);
}

#[test]
fn request_transfer_encodings_other_than_a_final_chunked_are_refused() {
    for value in [
        "gzip",
        "chunked, gzip",
        "chunked, chunked",
        "",
        "chunked;x=1, gzip",
    ] {
        let wire = format!("POST / HTTP/1.1\r\nTransfer-Encoding: {value}\r\n\r\n");
        assert_eq!(
            request_error(wire.as_bytes()),
            FramingError::BadTransferEncoding,
            "{value:?}"
        );
    }
    let wire =
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(request_error(wire), FramingError::BadTransferEncoding);
    let http10 = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(request_error(http10), FramingError::BadTransferEncoding);
    let unknown = b"POST / HTTP/1.1\r\nTransfer-Encoding: br-custom, chunked\r\n\r\n";
    assert_eq!(request_error(unknown), FramingError::UnknownTransferCoding);
    assert_refused(unknown, 501);
}

#[test]
fn bad_chunks_are_400() {
    let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    for body in [
        "zz\r\n",
        "\r\n",
        "5 \r\nhello\r\n",
        "5;a\x01\r\nhello\r\n",
        "5\nhello\r\n",
        "5\r\nhelloXY",
        "5\r\nhello\r0\r\n\r\n",
        "1ffffffffffffffff\r\n",
        "0\r\nbad trailer\r\n\r\n",
        "0\r\n: empty name\r\n\r\n",
    ] {
        let wire = format!("{head}{body}");
        let e = request_error(wire.as_bytes());
        assert!(matches!(e, FramingError::BadChunk(_)), "{body:?}: {e:?}");
        assert_eq!(e.status(), 400);
    }
    let long_line = format!("{head}1;{}\r\n", "x".repeat(5000));
    assert!(matches!(
        request_error(long_line.as_bytes()),
        FramingError::BadChunk(_)
    ));
}

#[test]
fn a_head_too_large_is_431_even_before_it_ends() {
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(request_error(big.as_bytes()), FramingError::HeadTooLarge);
    assert_refused(big.as_bytes(), 431);
    let unfinished = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(20_000));
    assert_eq!(
        request_error(unfinished.as_bytes()),
        FramingError::HeadTooLarge
    );
    let pieces: Vec<&[u8]> = unfinished.as_bytes().chunks(7).collect();
    assert_eq!(
        frame(&mut framer(Kind::Request), &pieces, false),
        Err(FramingError::HeadTooLarge)
    );
}

#[test]
fn too_many_headers_is_431() {
    let limits = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    let wire = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    let e = frame(&mut MessageFramer::request(limits), &[wire], false).expect_err("refused");
    assert_eq!(e.status(), 431);
    let ok = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert!(frame(&mut MessageFramer::request(limits), &[ok], false).is_ok());
}

#[test]
fn a_request_line_too_long_is_414_even_before_it_ends() {
    let limits = Limits {
        max_request_line: 20,
        ..Limits::default()
    };
    let refused = |pieces: &[&[u8]]| frame(&mut MessageFramer::request(limits), pieces, false);
    // "GET /123456 HTTP/1.1" is exactly 20 bytes.
    assert!(refused(&[b"GET /123456 HTTP/1.1\r\n\r\n"]).is_ok());
    assert_eq!(
        refused(&[b"GET /1234567 HTTP/1.1\r\n\r\n"]),
        Err(FramingError::RequestLineTooLong)
    );
    assert_eq!(
        refused(&[b"GET /123456789012345678"]),
        Err(FramingError::RequestLineTooLong)
    );
    assert_eq!(
        refused(&[b"GET /12345", b"6789012345678"]),
        Err(FramingError::RequestLineTooLong)
    );
    assert_eq!(
        refused(&[b"GET /123456 HTTP/1.1\r"]),
        Ok(vec![]),
        "may still end in time"
    );
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(20_000));
    assert_eq!(
        request_error(long.as_bytes()),
        FramingError::RequestLineTooLong,
        "414 wins over 431"
    );
    assert_eq!(FramingError::RequestLineTooLong.status(), 414);
}

#[test]
fn a_request_line_past_the_head_limit_is_judged_the_same_whole_or_in_pieces() {
    // The head limit is reached before the request line ends: only the bytes within the
    // head limit count towards the request line, however the bytes arrive.
    let limits = Limits {
        max_head: 16,
        max_request_line: 20,
        ..Limits::default()
    };
    let wire = b"GET /aaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n";
    let whole = frame(&mut MessageFramer::request(limits), &[wire], false);
    let pieces: Vec<&[u8]> = wire.chunks(4).collect();
    let split = frame(&mut MessageFramer::request(limits), &pieces, false);
    assert_eq!(whole, Err(FramingError::HeadTooLarge));
    assert_eq!(split, whole);
}

#[test]
fn a_declared_body_over_the_limit_is_413_at_the_head() {
    let limits = Limits {
        max_body: Some(10),
        ..Limits::default()
    };
    let mut f = MessageFramer::request(limits);
    f.feed(Bytes::from_static(
        b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n",
    ));
    assert_eq!(f.poll(), Err(FramingError::BodyTooLarge));
    assert_eq!(
        f.poll(),
        Err(FramingError::BodyTooLarge),
        "errors are final"
    );
    assert_eq!(FramingError::BodyTooLarge.status(), 413);
    let mut f = MessageFramer::request(limits);
    let ok = frame(
        &mut f,
        &[b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"],
        false,
    );
    assert_eq!(ok.expect("frames")[0].body, b"0123456789");
}

#[test]
fn a_chunked_body_crossing_the_limit_is_413_when_it_crosses() {
    let limits = Limits {
        max_body: Some(10),
        ..Limits::default()
    };
    let mut f = MessageFramer::request(limits);
    f.feed(Bytes::from_static(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\nghijk\r\n",
    ));
    assert!(matches!(f.poll(), Ok(Some(FrameEvent::Head(_)))));
    assert_eq!(
        f.poll(),
        Ok(Some(FrameEvent::Body(Bytes::from_static(b"abcdef"))))
    );
    assert_eq!(f.poll(), Err(FramingError::BodyTooLarge));
}

#[test]
fn versions_other_than_1_x_are_505() {
    for wire in [
        &b"GET / HTTP/2.0\r\n\r\n"[..],
        b"GET / HTTP/1.2\r\n\r\n",
        b"GET / HTTP/0.9\r\n\r\n",
    ] {
        assert_eq!(request_error(wire), FramingError::UnsupportedVersion);
        assert_refused(wire, 505);
    }
    let e = responses(b"HTTP/3.0 200 OK\r\n\r\n", false, false).expect_err("refused");
    assert_eq!(e, FramingError::UnsupportedVersion);
}

#[test]
fn a_connection_closed_mid_message_is_truncated() {
    for wire in [
        &b"GET / HTTP/1.1\r\nHost"[..],
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"\r",
    ] {
        let e = frame(&mut framer(Kind::Request), &[wire], true).expect_err("truncated");
        assert_eq!(
            e,
            FramingError::Truncated,
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
    assert_eq!(
        frame(
            &mut framer(Kind::Request),
            &[b"GET / HTTP/1.1\r\n\r\n\r\n"],
            true
        )
        .map(|m| m.len()),
        Ok(1)
    );
    assert_eq!(
        frame(&mut framer(Kind::Request), &[], true).map(|m| m.len()),
        Ok(0)
    );
}

#[test]
fn a_head_split_anywhere_is_parsed_once_complete() {
    let wire =
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbodyGET /y HTTP/1.1\r\n\r\n";
    for cut in 1..wire.len() {
        let (a, b) = wire.split_at(cut);
        let all = frame(&mut framer(Kind::Request), &[a, b], true).expect("frames");
        assert_eq!(all.len(), 2, "cut at {cut}");
        assert_eq!(all[0].body, b"body");
        assert_eq!(
            &all[0].head.raw[..],
            &wire[..wire.len() - "bodyGET /y HTTP/1.1\r\n\r\n".len()]
        );
    }
}

#[test]
fn the_collector_returns_whole_requests_with_their_exact_bytes() {
    let first = b"POST /hb HTTP/1.1\r\nContent-Length: 5\r\n\r\n{\"a\"}";
    let second = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    let mut wire = Vec::new();
    wire.extend_from_slice(first);
    wire.extend_from_slice(b"\r\n");
    wire.extend_from_slice(second);
    let mut c = RequestCollector::new(Limits::default());
    let mut got = Vec::new();
    for byte in &wire {
        c.feed(Bytes::copy_from_slice(&[*byte]));
        while let Some(request) = c.poll().expect("collects") {
            got.push(request);
        }
    }
    assert_eq!(got.len(), 2);
    assert_eq!(&got[0].raw[..], first);
    assert_eq!(&got[0].body[..], b"{\"a\"}");
    assert_eq!(&got[1].raw[..], &second[..]);
    assert_eq!(&got[1].body[..], b"{}");
    assert_eq!(got[1].head.target(), Some("/c"));
}

#[test]
fn the_collector_bounds_bodies() {
    let mut c = RequestCollector::new(Limits::default());
    c.feed(Bytes::from(format!(
        "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        DEFAULT_COLLECT_LIMIT + 1
    )));
    assert_eq!(c.poll(), Err(FramingError::BodyTooLarge));
    let mut c = RequestCollector::new(Limits {
        max_body: Some(3),
        ..Limits::default()
    });
    c.feed(Bytes::from_static(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n",
    ));
    assert_eq!(c.poll(), Err(FramingError::BodyTooLarge));
}

#[test]
fn the_collector_ignores_upgrades() {
    let mut c = RequestCollector::new(Limits::default());
    c.feed(Bytes::from_static(
        b"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
    ));
    assert!(c.poll().expect("collects").is_some());
    assert_eq!(
        c.poll()
            .expect("collects")
            .map(|r| r.head.target().map(str::to_owned)),
        Some(Some("/2".into()))
    );
}

#[test]
fn many_tiny_feeds_of_a_large_body_take_linear_work() {
    // 1 MiB in 1-byte feeds: quadratic re-scanning would take minutes.
    let n = 1 << 20;
    let mut f = framer(Kind::Request);
    f.feed(Bytes::from(format!(
        "POST / HTTP/1.1\r\nContent-Length: {n}\r\n\r\n"
    )));
    assert!(matches!(f.poll(), Ok(Some(FrameEvent::Head(_)))));
    let mut seen = 0;
    for _ in 0..n {
        f.feed(Bytes::from_static(b"x"));
        while let Some(event) = f.poll().expect("frames") {
            if let FrameEvent::Body(b) = event {
                seen += b.len();
            }
        }
    }
    assert_eq!(seen, n);
    let mut f = framer(Kind::Request);
    f.feed(Bytes::from_static(b"GET / HTTP/1.1\r\nX: "));
    for _ in 0..16_000 {
        f.feed(Bytes::from_static(b"a"));
        assert_eq!(f.poll(), Ok(None));
    }
}

#[test]
fn a_head_with_more_fields_than_the_stack_holds_is_parsed_up_to_the_field_limit() {
    let fields = |n: usize| (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    let mut f = framer(Kind::Request);
    f.feed(Bytes::from(format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
        fields(60)
    )));
    match f.poll() {
        Ok(Some(FrameEvent::Head(h))) => assert_eq!(h.headers.len(), 61),
        other => panic!("{other:?}"),
    }
    let too_many = format!("GET / HTTP/1.1\r\n{}\r\n", fields(101));
    assert_eq!(
        request_error(too_many.as_bytes()),
        FramingError::HeadTooLarge
    );
}
