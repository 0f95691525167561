//! Property tests of the HTTP/1.1 framer: the events do not depend on how the input is split
//! (bodies concatenated), they describe exactly the messages written, the request collector
//! returns each request's exact bytes, and no input panics.

use bytes::Bytes;
use proptest::prelude::*;
use switchboard_core::http::framer::{
    BodyKind, FrameEvent, FramingError, Head, Kind, Limits, MessageFramer, RequestCollector,
};

/// How a generated message delimits its body.
#[derive(Debug, Clone)]
enum Framing {
    /// `Content-Length`.
    Length,
    /// Chunked: chunk boundaries (indices into the body), an extension per chunk, trailers.
    Chunked {
        cuts: Vec<prop::sample::Index>,
        ext: Vec<Option<String>>,
        upper_hex: bool,
        trailers: Vec<(String, String)>,
    },
    /// No framing field: no body in a request, a body until close in a response.
    Unframed,
}

#[derive(Debug, Clone)]
struct Msg {
    /// `METHOD target` for a request, `status reason` for a response.
    start: (String, String),
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    framing: Framing,
}

impl Msg {
    fn write(&self, request: bool, out: &mut Vec<u8>) {
        let (a, b) = &self.start;
        let line = if request {
            format!("{a} {b} HTTP/1.1\r\n")
        } else {
            format!("HTTP/1.1 {a} {b}\r\n")
        };
        out.extend_from_slice(line.as_bytes());
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        match &self.framing {
            Framing::Length => {
                out.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes(),
                );
                out.extend_from_slice(&self.body);
            }
            Framing::Unframed => {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&self.body);
            }
            Framing::Chunked {
                cuts,
                ext,
                upper_hex,
                trailers,
            } => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut bounds: Vec<usize> =
                    cuts.iter().map(|i| i.index(self.body.len() + 1)).collect();
                bounds.extend([0, self.body.len()]);
                bounds.sort_unstable();
                bounds.dedup();
                for (k, pair) in bounds.windows(2).enumerate() {
                    let size = pair[1] - pair[0];
                    let hex = if *upper_hex {
                        format!("{size:X}")
                    } else {
                        format!("{size:x}")
                    };
                    out.extend_from_slice(hex.as_bytes());
                    if let Some(Some(e)) = ext.get(k) {
                        out.extend_from_slice(format!(";{e}").as_bytes());
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&self.body[pair[0]..pair[1]]);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n");
                for (n, v) in trailers {
                    out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

fn field() -> impl Strategy<Value = (String, String)> {
    ("X-[A-Za-z0-9-]{1,10}", "[!-~]([ -~]{0,18}[!-~])?")
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        Just(Framing::Length),
        (
            prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            prop::collection::vec(prop::option::of("[a-z]{1,5}(=[a-z0-9]{1,5})?"), 0..8),
            any::<bool>(),
            prop::collection::vec(field(), 0..3),
        )
            .prop_map(|(cuts, ext, upper_hex, trailers)| Framing::Chunked {
                cuts,
                ext,
                upper_hex,
                trailers
            }),
    ]
}

fn request() -> impl Strategy<Value = Msg> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
        "/[a-z0-9/._?=&-]{0,24}",
        prop::collection::vec(field(), 0..6),
        prop::collection::vec(any::<u8>(), 0..200),
        framing(),
        any::<bool>(),
    )
        .prop_map(|(method, target, headers, body, framing, unframed)| {
            let (body, framing) = if unframed {
                (Vec::new(), Framing::Unframed)
            } else {
                (body, framing)
            };
            Msg {
                start: (method.to_owned(), target),
                headers,
                body,
                framing,
            }
        })
}

fn response() -> impl Strategy<Value = Msg> {
    (
        (200u16..600).prop_filter("has a body", |s| *s != 204 && *s != 304),
        "[A-Za-z]{0,8}( [A-Za-z]{1,8})?",
        prop::collection::vec(field(), 0..6),
        prop::collection::vec(any::<u8>(), 0..200),
        framing(),
    )
        .prop_map(|(status, reason, headers, body, framing)| Msg {
            start: (status.to_string(), reason),
            headers,
            body,
            framing,
        })
}

/// Events with consecutive bodies merged.
#[derive(Debug, PartialEq)]
enum Merged {
    Head(Head),
    Body(Vec<u8>),
    End,
}

/// Feeds `pieces` in order, polling after each, then the end of input when `eof`.
fn run(kind: Kind, pieces: &[&[u8]], eof: bool) -> (Vec<Merged>, Option<FramingError>) {
    let mut framer = MessageFramer::new(kind, Limits::default());
    let mut events: Vec<Merged> = Vec::new();
    let mut fed = 0u64;
    let poll_all =
        |framer: &mut MessageFramer, events: &mut Vec<Merged>| -> Result<(), FramingError> {
            while let Some(event) = framer.poll()? {
                match event {
                    FrameEvent::Head(h) => events.push(Merged::Head(h)),
                    FrameEvent::Body(b) => {
                        assert!(!b.is_empty(), "empty body event");
                        match events.last_mut() {
                            Some(Merged::Body(acc)) => acc.extend_from_slice(&b),
                            _ => events.push(Merged::Body(b.to_vec())),
                        }
                    }
                    FrameEvent::End => events.push(Merged::End),
                }
            }
            Ok(())
        };
    for piece in pieces {
        framer.feed(Bytes::copy_from_slice(piece));
        fed += piece.len() as u64;
        if let Err(e) = poll_all(&mut framer, &mut events) {
            assert_eq!(framer.poll(), Err(e.clone()), "errors are final");
            return (events, Some(e));
        }
        assert!(framer.consumed() <= fed);
    }
    if eof {
        framer.feed_eof();
        if let Err(e) = poll_all(&mut framer, &mut events) {
            return (events, Some(e));
        }
    }
    (events, None)
}

/// Splits `wire` at the given points.
fn split<'a>(wire: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
    at.extend([0, wire.len()]);
    at.sort_unstable();
    at.windows(2).map(|w| &wire[w[0]..w[1]]).collect()
}

/// Checks the merged events describe `msgs` exactly.
fn check_against_model(events: &[Merged], msgs: &[Msg], request: bool) {
    let mut it = events.iter();
    for msg in msgs {
        let Some(Merged::Head(head)) = it.next() else {
            panic!("head expected: {events:?}")
        };
        if request {
            assert_eq!(head.method(), Some(msg.start.0.as_str()));
            assert_eq!(head.target(), Some(msg.start.1.as_str()));
        } else {
            assert_eq!(
                head.status().map(|s| s.to_string()),
                Some(msg.start.0.clone())
            );
        }
        for (n, v) in &msg.headers {
            assert!(
                head.header_values(n).any(|got| got == v.as_bytes()),
                "{n}: {v}"
            );
        }
        let kind = match msg.framing {
            Framing::Length => BodyKind::Length(msg.body.len() as u64),
            Framing::Chunked { .. } => BodyKind::Chunked,
            Framing::Unframed if request => BodyKind::None,
            Framing::Unframed => BodyKind::UntilClose,
        };
        assert_eq!(head.body, kind);
        if !msg.body.is_empty() {
            assert_eq!(it.next(), Some(&Merged::Body(msg.body.clone())));
        }
        assert_eq!(it.next(), Some(&Merged::End));
    }
    assert_eq!(it.next(), None);
}

fn requests_wire(msgs: &[Msg], blank_lines: &[bool]) -> Vec<u8> {
    let mut wire = Vec::new();
    for (k, msg) in msgs.iter().enumerate() {
        if blank_lines.get(k).copied().unwrap_or(false) {
            wire.extend_from_slice(b"\r\n");
        }
        msg.write(true, &mut wire);
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pipelined_requests_frame_the_same_however_split(
        msgs in prop::collection::vec(request(), 1..5),
        blank_lines in prop::collection::vec(any::<bool>(), 0..5),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let wire = requests_wire(&msgs, &blank_lines);
        let whole = run(Kind::Request, &[&wire], true);
        prop_assert_eq!(&whole.1, &None);
        check_against_model(&whole.0, &msgs, true);
        let pieces = split(&wire, &cuts);
        prop_assert_eq!(run(Kind::Request, &pieces, true), whole);
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        prop_assert_eq!(run(Kind::Request, &bytes, true), run(Kind::Request, &[&wire], true));
    }

    #[test]
    fn pipelined_responses_frame_the_same_however_split(
        mut msgs in prop::collection::vec(response(), 1..5),
        last_until_close in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        if last_until_close {
            if let Some(last) = msgs.last_mut() {
                last.framing = Framing::Unframed;
            }
        }
        let mut wire = Vec::new();
        for msg in &msgs {
            msg.write(false, &mut wire);
        }
        let kind = Kind::Response { request_method_was_head: false };
        let whole = run(kind, &[&wire], true);
        prop_assert_eq!(&whole.1, &None);
        check_against_model(&whole.0, &msgs, false);
        prop_assert_eq!(run(kind, &split(&wire, &cuts), true), whole);
    }

    #[test]
    fn the_collector_returns_each_request_with_its_exact_bytes(
        msgs in prop::collection::vec(request(), 1..5),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let mut collector = RequestCollector::new(Limits::default());
        let mut raws = Vec::new();
        let mut got = Vec::new();
        for msg in &msgs {
            let mut raw = Vec::new();
            msg.write(true, &mut raw);
            raws.push(raw);
        }
        let wire = raws.concat();
        for piece in split(&wire, &cuts) {
            collector.feed(Bytes::copy_from_slice(piece));
            while let Some(request) = collector.poll().expect("collects") {
                got.push(request);
            }
        }
        prop_assert_eq!(got.len(), msgs.len());
        for ((request, raw), msg) in got.iter().zip(&raws).zip(&msgs) {
            prop_assert_eq!(&request.raw[..], &raw[..]);
            prop_assert_eq!(&request.body[..], &msg.body[..]);
            prop_assert_eq!(request.head.target(), Some(msg.start.1.as_str()));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        head in any::<bool>(),
    ) {
        let pieces = split(&bytes, &cuts);
        run(Kind::Request, &pieces, true);
        run(Kind::Response { request_method_was_head: head }, &pieces, true);
        let mut collector = RequestCollector::new(Limits::default());
        for piece in pieces {
            collector.feed(Bytes::copy_from_slice(piece));
            while let Ok(Some(_)) = collector.poll() {}
        }
    }

    #[test]
    fn damaged_messages_never_panic_and_split_errors_match_whole(
        msgs in prop::collection::vec(request(), 1..3),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), 1..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut wire = requests_wire(&msgs, &[]);
        for (at, byte, insert) in &damage {
            let at = at.index(wire.len() + 1);
            if *insert || at == wire.len() {
                wire.insert(at, *byte);
            } else {
                wire[at] = *byte;
            }
        }
        let whole = run(Kind::Request, &[&wire], true);
        let pieces = split(&wire, &cuts);
        let parts = run(Kind::Request, &pieces, true);
        // Splitting may only change how far a failing stream got before its error (an early
        // error can stop the whole-fed run before a later message's events).
        if whole.1.is_none() {
            prop_assert_eq!(parts, whole);
        } else {
            prop_assert_eq!(parts.1, whole.1);
        }
    }
}
