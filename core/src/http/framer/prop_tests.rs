//! Property tests: generated HTTP/1.1 request and response streams (pipelined messages with
//! random start lines and fields, bodies by `Content-Length` and by chunked coding with
//! random chunk sizes, extensions and trailers, `HEAD` answers, `1xx`, `204`, `304`, a final
//! protocol switch or close-delimited body) frame the same fed whole or split at arbitrary
//! points, and decode to what was generated; arbitrary and mutated bytes frame the same
//! whole or split up to the same error.

use super::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// One step of the normalised event sequence.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Head(Box<Head>),
    /// Body bytes, consecutive `Body` events joined.
    Body(Vec<u8>),
    /// The end of a message, with the trailer fields the framer holds then.
    End(Vec<(String, Bytes)>),
}

/// Everything a run of the framer produced.
#[derive(Debug, PartialEq)]
struct Run {
    events: Vec<Ev>,
    error: Option<FramingError>,
    /// The bytes buffered after a protocol switch.
    tail: Option<Vec<u8>>,
    /// Bytes framed, when no error ended the run (after one, how much input the framer had
    /// set aside depends on the split and means nothing).
    consumed: Option<u64>,
}

/// Feeds `pieces` in order, polling after each, then `feed_eof` (or, when paused by a
/// protocol switch, takes what is buffered). For responses, `heads[i]` says whether the
/// request of the `i`-th final response was a `HEAD`.
fn run(kind: Kind, limits: Limits, heads: &[bool], pieces: &[&[u8]]) -> Run {
    let kind = match kind {
        Kind::Request => Kind::Request,
        Kind::Response { .. } => Kind::Response {
            request_method_was_head: heads.first().copied().unwrap_or(false),
        },
    };
    let mut f = MessageFramer::new(kind, limits);
    let mut r = Run {
        events: Vec::new(),
        error: None,
        tail: None,
        consumed: None,
    };
    let mut finals = 0;
    let mut interim = false;
    let mut result = Ok(());
    for piece in pieces {
        f.feed(Bytes::copy_from_slice(piece));
        result = drain(&mut f, heads, &mut r, &mut finals, &mut interim);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        if f.is_paused() {
            r.tail = Some(f.take_buffered().to_vec());
        } else {
            f.feed_eof();
            result = drain(&mut f, heads, &mut r, &mut finals, &mut interim);
        }
    }
    r.error = result.err();
    r.consumed = r.error.is_none().then(|| f.consumed());
    r
}

fn drain(
    f: &mut MessageFramer,
    heads: &[bool],
    r: &mut Run,
    finals: &mut usize,
    interim: &mut bool,
) -> Result<(), FramingError> {
    loop {
        match f.poll() {
            Ok(None) => return Ok(()),
            Ok(Some(FrameEvent::Head(head))) => {
                *interim = head.is_interim();
                r.events.push(Ev::Head(Box::new(head)));
            }
            Ok(Some(FrameEvent::Body(data))) => {
                assert!(!data.is_empty(), "empty body event");
                match r.events.last_mut() {
                    Some(Ev::Body(body)) => body.extend_from_slice(&data),
                    _ => r.events.push(Ev::Body(data.to_vec())),
                }
            }
            Ok(Some(FrameEvent::End)) => {
                r.events.push(Ev::End(f.trailers().to_vec()));
                if !*interim {
                    *finals += 1;
                    f.expect_response(heads.get(*finals).copied().unwrap_or(false));
                }
            }
            Err(e) => {
                assert_eq!(f.poll(), Err(e.clone()), "the error is repeated");
                return Err(e);
            }
        }
    }
}

/// `wire` cut at the given points (repeated points give empty pieces).
fn split<'a>(wire: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
    at.sort_unstable();
    let mut pieces = Vec::with_capacity(at.len() + 1);
    let mut from = 0;
    for to in at {
        pieces.push(&wire[from..to]);
        from = to;
    }
    pieces.push(&wire[from..]);
    pieces
}

/// One generated message as the framer must decode it.
#[derive(Debug, Clone)]
struct Expected {
    start: StartLine,
    version: u8,
    headers: Vec<(String, Vec<u8>)>,
    body_kind: BodyKind,
    body: Vec<u8>,
    trailers: Vec<(String, Vec<u8>)>,
}

/// A generated connection direction: its bytes and what they decode to.
#[derive(Debug, Clone)]
struct Stream {
    wire: Vec<u8>,
    messages: Vec<Expected>,
    /// Per final response: whether its request was a `HEAD`.
    heads: Vec<bool>,
    /// The opaque bytes after a protocol switch, when the stream ends with one.
    tail: Option<Vec<u8>>,
}

/// A body: its chunks (joined for `Content-Length`), and for the chunked coding the
/// trailers and a style (bit 0 upper-case hex, bit 1 a leading zero, bit 2 extensions,
/// bit 3 an extension on the last chunk, bit 4 `gzip, chunked` in a request).
#[derive(Debug, Clone)]
struct BodySpec {
    chunked: bool,
    chunks: Vec<Vec<u8>>,
    trailers: Vec<(String, String)>,
    style: u8,
}

impl BodySpec {
    fn data(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    /// The framing field announcing this body.
    fn field(&self, request: bool) -> (String, String) {
        if !self.chunked {
            return ("Content-Length".into(), self.data().len().to_string());
        }
        let coding = if request && self.style & 16 != 0 {
            "gzip, chunked"
        } else {
            "chunked"
        };
        ("Transfer-Encoding".into(), coding.into())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        if !self.chunked {
            out.extend_from_slice(&self.data());
            return;
        }
        for (i, chunk) in self.chunks.iter().enumerate() {
            let mut size = if self.style & 1 != 0 {
                format!("{:X}", chunk.len())
            } else {
                format!("{:x}", chunk.len())
            };
            if self.style & 2 != 0 {
                size.insert(0, '0');
            }
            out.extend_from_slice(size.as_bytes());
            if self.style & 4 != 0 && i % 2 == 0 {
                out.extend_from_slice(b" ;name=\"v a\";flag");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(if self.style & 8 != 0 {
            b"0;last\r\n"
        } else {
            b"0\r\n"
        });
        for (name, value) in &self.trailers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }

    fn expected_trailers(&self) -> Vec<(String, Vec<u8>)> {
        if !self.chunked {
            return Vec::new();
        }
        bytes_fields(&self.trailers)
    }
}

fn bytes_fields(fields: &[(String, String)]) -> Vec<(String, Vec<u8>)> {
    fields
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect()
}

/// Writes a head: start line, fields with `sep` between name and value, empty line.
fn head(out: &mut Vec<u8>, start: &str, fields: &[(String, String)], sep: &str) {
    out.extend_from_slice(start.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in fields {
        out.extend_from_slice(format!("{name}{sep}{value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn chunk_data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => vec(any::<u8>(), 1..24),
        1 => vec(any::<u8>(), 24..600),
    ]
}

fn body() -> impl Strategy<Value = BodySpec> {
    (
        any::<bool>(),
        vec(chunk_data(), 0..5),
        vec(("X-T[A-Za-z0-9]{0,6}", "[!-~]([ !-~]{0,12}[!-~])?"), 0..3),
        any::<u8>(),
    )
        .prop_map(|(chunked, chunks, trailers, style)| BodySpec {
            chunked,
            chunks,
            trailers,
            style,
        })
}

/// Fields that say nothing about framing or the connection.
fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        select(vec![
            "Accept",
            "User-Agent",
            "Cookie",
            "Cache-Control",
            "Content-Type",
            "Via",
            "Set-Cookie",
        ])
        .prop_map(str::to_owned),
        "X-[A-Za-z0-9-]{1,12}",
    ];
    vec((name, "([!-~]([ !-~]{0,30}[!-~])?)?"), 0..6)
}

fn separator() -> impl Strategy<Value = &'static str> {
    select(vec![": ", ":", ":  ", ":\t"])
}

/// Inserts `field` among `fields` at `at`.
fn with_field(
    mut fields: Vec<(String, String)>,
    field: Option<(String, String)>,
    at: Index,
) -> Vec<(String, String)> {
    if let Some(field) = field {
        let at = at.index(fields.len() + 1);
        fields.insert(at, field);
    }
    fields
}

fn request() -> impl Strategy<Value = (Vec<u8>, Expected)> {
    let method = prop_oneof![
        select(vec![
            "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD", "TRACE"
        ])
        .prop_map(str::to_owned),
        // Six letters at most: never CONNECT, which switches protocols.
        "[A-Z]{1,6}",
    ];
    let target = prop_oneof![
        "/[A-Za-z0-9._~/;=-]{0,24}(\\?[a-z]{1,5}=[A-Za-z0-9]{0,6}(&[a-z]{1,5}=[A-Za-z0-9]{0,6}){0,2})?",
        Just("*".to_owned()),
        "http://[a-z]{1,8}\\.example(:[0-9]{2,4})?/[a-z]{0,8}",
    ];
    (
        method,
        target,
        any::<bool>(),
        option::of("[a-z]{1,10}(:[0-9]{1,5})?"),
        fields(),
        option::of(body()),
        any::<Index>(),
        separator(),
        any::<bool>(),
    )
        .prop_map(
            |(method, target, http10, host, fields, body, at, sep, blank)| {
                let version = u8::from(!(http10 && body.as_ref().is_none_or(|b| !b.chunked)));
                let mut fields = fields;
                if let Some(host) = host {
                    fields.insert(0, ("Host".into(), host));
                }
                let fields = with_field(fields, body.as_ref().map(|b| b.field(true)), at);
                let mut wire = Vec::new();
                if blank {
                    // Empty lines before a request line are skipped (RFC 9112 §2.2).
                    wire.extend_from_slice(b"\r\n");
                }
                head(
                    &mut wire,
                    &format!("{method} {target} HTTP/1.{version}"),
                    &fields,
                    sep,
                );
                if let Some(body) = &body {
                    body.encode(&mut wire);
                }
                let expected = Expected {
                    start: StartLine::Request { method, target },
                    version,
                    headers: bytes_fields(&fields),
                    body_kind: match &body {
                        None => BodyKind::None,
                        Some(b) if b.chunked => BodyKind::Chunked,
                        Some(b) => BodyKind::Length(b.data().len() as u64),
                    },
                    body: body.as_ref().map(BodySpec::data).unwrap_or_default(),
                    trailers: body
                        .as_ref()
                        .map(BodySpec::expected_trailers)
                        .unwrap_or_default(),
                };
                (wire, expected)
            },
        )
}

/// Pipelined requests, the last one maybe a WebSocket upgrade followed by opaque bytes.
fn request_stream() -> impl Strategy<Value = Stream> {
    (vec(request(), 1..5), option::of(vec(any::<u8>(), 0..48))).prop_map(|(requests, tail)| {
        let mut s = Stream {
            wire: Vec::new(),
            messages: Vec::new(),
            heads: Vec::new(),
            tail: None,
        };
        for (wire, expected) in requests {
            s.wire.extend_from_slice(&wire);
            s.messages.push(expected);
        }
        if let Some(tail) = tail {
            let fields = vec![
                ("Host".to_owned(), "lb".to_owned()),
                ("Connection".to_owned(), "Upgrade".to_owned()),
                ("Upgrade".to_owned(), "websocket".to_owned()),
            ];
            head(&mut s.wire, "GET /ws HTTP/1.1", &fields, ": ");
            s.wire.extend_from_slice(&tail);
            s.messages.push(Expected {
                start: StartLine::Request {
                    method: "GET".into(),
                    target: "/ws".into(),
                },
                version: 1,
                headers: bytes_fields(&fields),
                body_kind: BodyKind::None,
                body: Vec::new(),
                trailers: Vec::new(),
            });
            s.tail = Some(tail);
        }
        s
    })
}

fn reason() -> impl Strategy<Value = String> {
    "[A-Za-z]([A-Za-z ]{0,14}[A-Za-z])?"
}

/// Interim responses then a final one: (wire, messages, whether its request was `HEAD`).
fn response() -> impl Strategy<Value = (Vec<u8>, Vec<Expected>, bool)> {
    let status = prop_oneof![
        3 => 200u16..600,
        1 => select(vec![204u16, 304]),
        1 => Just(200u16),
    ];
    (
        vec((select(vec![100u16, 102, 103]), fields()), 0..3),
        status,
        reason(),
        any::<bool>(),
        fields(),
        body(),
        proptest::bool::weighted(0.2),
        any::<bool>(),
        any::<Index>(),
        separator(),
    )
        .prop_map(
            |(interims, status, reason, http10, fields, body, to_head, announce, at, sep)| {
                let mut wire = Vec::new();
                let mut messages = Vec::new();
                for (code, fields) in interims {
                    head(&mut wire, &format!("HTTP/1.1 {code} Info"), &fields, sep);
                    messages.push(Expected {
                        start: StartLine::Response {
                            status: code,
                            reason: "Info".into(),
                        },
                        version: 1,
                        headers: bytes_fields(&fields),
                        body_kind: BodyKind::None,
                        body: Vec::new(),
                        trailers: Vec::new(),
                    });
                }
                let version = u8::from(!http10 || body.chunked);
                // No body: a HEAD's answer, 204 and 304 (which may still announce one).
                let bodiless = to_head || status == 204 || status == 304;
                let field = (!bodiless || announce).then(|| body.field(false));
                let fields = with_field(fields, field, at);
                head(
                    &mut wire,
                    &format!("HTTP/1.{version} {status} {reason}"),
                    &fields,
                    sep,
                );
                if !bodiless {
                    body.encode(&mut wire);
                }
                messages.push(Expected {
                    start: StartLine::Response { status, reason },
                    version,
                    headers: bytes_fields(&fields),
                    body_kind: match (bodiless, body.chunked) {
                        (true, _) => BodyKind::None,
                        (false, true) => BodyKind::Chunked,
                        (false, false) => BodyKind::Length(body.data().len() as u64),
                    },
                    body: if bodiless { Vec::new() } else { body.data() },
                    trailers: if bodiless {
                        Vec::new()
                    } else {
                        body.expected_trailers()
                    },
                });
                (wire, messages, to_head)
            },
        )
}

/// How a response stream ends after its length-delimited responses.
#[derive(Debug, Clone)]
enum Ending {
    Nothing,
    /// `101 Switching Protocols`, then opaque bytes.
    Switch(Vec<u8>),
    /// A response whose body runs until the connection closes; `gzip` as its only coding
    /// when the flag is set, else no framing field.
    UntilClose(u16, bool, Vec<u8>),
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![
        2 => Just(Ending::Nothing),
        1 => vec(any::<u8>(), 0..48).prop_map(Ending::Switch),
        1 => (
            (200u16..600).prop_filter("has a body", |s| *s != 204 && *s != 304),
            any::<bool>(),
            vec(any::<u8>(), 0..200),
        )
            .prop_map(|(status, gzip, body)| Ending::UntilClose(status, gzip, body)),
    ]
}

fn response_stream() -> impl Strategy<Value = Stream> {
    (vec(response(), 1..5), ending()).prop_map(|(responses, ending)| {
        let mut s = Stream {
            wire: Vec::new(),
            messages: Vec::new(),
            heads: Vec::new(),
            tail: None,
        };
        for (wire, messages, to_head) in responses {
            s.wire.extend_from_slice(&wire);
            s.messages.extend(messages);
            s.heads.push(to_head);
        }
        let last =
            |status: u16, reason: &str, fields: Vec<(String, String)>, kind, body| Expected {
                start: StartLine::Response {
                    status,
                    reason: reason.into(),
                },
                version: 1,
                headers: bytes_fields(&fields),
                body_kind: kind,
                body,
                trailers: Vec::new(),
            };
        match ending {
            Ending::Nothing => {}
            Ending::Switch(tail) => {
                let fields = vec![
                    ("Connection".to_owned(), "Upgrade".to_owned()),
                    ("Upgrade".to_owned(), "websocket".to_owned()),
                ];
                head(
                    &mut s.wire,
                    "HTTP/1.1 101 Switching Protocols",
                    &fields,
                    ": ",
                );
                s.wire.extend_from_slice(&tail);
                s.messages.push(last(
                    101,
                    "Switching Protocols",
                    fields,
                    BodyKind::None,
                    Vec::new(),
                ));
                s.heads.push(false);
                s.tail = Some(tail);
            }
            Ending::UntilClose(status, gzip, body) => {
                let mut fields = vec![("Content-Type".to_owned(), "text/plain".to_owned())];
                if gzip {
                    fields.push(("Transfer-Encoding".to_owned(), "gzip".to_owned()));
                }
                head(
                    &mut s.wire,
                    &format!("HTTP/1.1 {status} Bye"),
                    &fields,
                    ": ",
                );
                s.wire.extend_from_slice(&body);
                s.messages
                    .push(last(status, "Bye", fields, BodyKind::UntilClose, body));
                s.heads.push(false);
            }
        }
        s
    })
}

/// Checks a run of a generated stream against what was generated.
fn decoded_as_generated(r: &Run, s: &Stream) -> Result<(), TestCaseError> {
    prop_assert_eq!(&r.error, &None);
    prop_assert_eq!(&r.tail, &s.tail);
    prop_assert_eq!(r.consumed, Some(s.wire.len() as u64), "every byte framed");
    let mut events = r.events.iter().peekable();
    for (i, want) in s.messages.iter().enumerate() {
        let Some(Ev::Head(got)) = events.next() else {
            return Err(TestCaseError::fail(format!("message {i}: no head")));
        };
        prop_assert_eq!(&got.start, &want.start, "message {}", i);
        prop_assert_eq!(got.version, want.version, "message {}", i);
        let headers: Vec<(String, Vec<u8>)> = got
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.to_vec()))
            .collect();
        prop_assert_eq!(&headers, &want.headers, "message {}", i);
        prop_assert_eq!(got.body, want.body_kind, "message {}", i);
        let body = match events.peek() {
            Some(Ev::Body(body)) => {
                events.next();
                body.clone()
            }
            _ => Vec::new(),
        };
        prop_assert_eq!(&body, &want.body, "message {}", i);
        let Some(Ev::End(trailers)) = events.next() else {
            return Err(TestCaseError::fail(format!("message {i}: no end")));
        };
        let trailers: Vec<(String, Vec<u8>)> = trailers
            .iter()
            .map(|(n, v)| (n.clone(), v.to_vec()))
            .collect();
        prop_assert_eq!(&trailers, &want.trailers, "message {}", i);
    }
    prop_assert!(events.next().is_none(), "no more events");
    Ok(())
}

/// Small limits (to reach the 413, 414 and 431 paths) or the defaults.
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (8usize..200, 4usize..100, 1usize..8, option::of(0u64..400)).prop_map(
            |(max_head, max_request_line, max_headers, max_body)| Limits {
                max_head,
                max_request_line,
                max_headers,
                max_body,
            }
        ),
    ]
}

/// Byte edits: (where, byte, 0 replace / 1 insert / 2 delete).
fn edits() -> impl Strategy<Value = Vec<(Index, u8, u8)>> {
    vec(
        (
            any::<Index>(),
            prop_oneof![select(b"\r\n :;0aZ\t-".to_vec()), any::<u8>()],
            0u8..3,
        ),
        1..4,
    )
}

fn mutate(mut wire: Vec<u8>, edits: &[(Index, u8, u8)]) -> Vec<u8> {
    for (at, byte, op) in edits {
        match op {
            0 if !wire.is_empty() => {
                let at = at.index(wire.len());
                wire[at] = *byte;
            }
            2 if !wire.is_empty() => {
                wire.remove(at.index(wire.len()));
            }
            _ => wire.insert(at.index(wire.len() + 1), *byte),
        }
    }
    wire
}

fn kind(response: bool) -> Kind {
    if response {
        Kind::Response {
            request_method_was_head: false,
        }
    } else {
        Kind::Request
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_requests_frame_the_same_whole_or_in_pieces(
        s in request_stream(),
        cuts in vec(any::<Index>(), 0..32),
        bytewise in proptest::bool::weighted(0.1),
    ) {
        let whole = run(Kind::Request, Limits::default(), &[], &[&s.wire]);
        decoded_as_generated(&whole, &s)?;
        let pieces = if bytewise { s.wire.chunks(1).collect() } else { split(&s.wire, &cuts) };
        let split = run(Kind::Request, Limits::default(), &[], &pieces);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn generated_responses_frame_the_same_whole_or_in_pieces(
        s in response_stream(),
        cuts in vec(any::<Index>(), 0..32),
        bytewise in proptest::bool::weighted(0.1),
    ) {
        let kind = kind(true);
        let whole = run(kind, Limits::default(), &s.heads, &[&s.wire]);
        decoded_as_generated(&whole, &s)?;
        let pieces = if bytewise { s.wire.chunks(1).collect() } else { split(&s.wire, &cuts) };
        let split = run(kind, Limits::default(), &s.heads, &pieces);
        prop_assert_eq!(split, whole);
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_frame_the_same_whole_or_in_pieces_up_to_the_same_error(
        response in any::<bool>(),
        heads in vec(any::<bool>(), 0..6),
        limits in limits(),
        wire in any::<Vec<u8>>(),
        cuts in vec(any::<Index>(), 0..32),
    ) {
        let whole = run(kind(response), limits, &heads, &[&wire]);
        let split = run(kind(response), limits, &heads, &split(&wire, &cuts));
        prop_assert_eq!(split, whole);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_streams_frame_the_same_whole_or_in_pieces_up_to_the_same_error(
        (response, s) in prop_oneof![
            request_stream().prop_map(|s| (false, s)),
            response_stream().prop_map(|s| (true, s)),
        ],
        limits in limits(),
        edits in edits(),
        cuts in vec(any::<Index>(), 0..32),
    ) {
        let wire = mutate(s.wire, &edits);
        let whole = run(kind(response), limits, &s.heads, &[&wire]);
        let split = run(kind(response), limits, &s.heads, &split(&wire, &cuts));
        prop_assert_eq!(split, whole);
    }
}
