//! `MessageFramer` on a connection's bytes split at fuzzer-chosen points: the events must be
//! the same as when the bytes are fed at once (consecutive `Body` slices concatenated), and
//! a failure must come at the same point of the event sequence with the same status. The
//! same pieces also go through a `RequestCollector`, which must not panic.
//!
//! Input layout: byte 0 picks the side and the pause handling (bit 0: responses instead of
//! requests; bit 1: after a protocol switch, relay the rest as opaque bytes instead of
//! resuming; bits 2–7: for responses, which of the first six answer a `HEAD`), byte 1 the
//! limits (below 0x80 the defaults, else small ones derived from it), byte 2 seeds the
//! chunk sizes; the rest is the connection's bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_core::http::framer::{
    FrameEvent, FramingError, Head, Kind, Limits, MessageFramer, RequestCollector,
};
#[path = "chunks.rs"]
mod chunks;
use chunks::Chunks;

/// One step of the normalised event sequence.
#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Head(Box<Head>),
    /// Body bytes, consecutive `Body` events joined.
    Body(Vec<u8>),
    End,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Every byte framed after `feed_eof`, or the framer is paused.
    Clean,
    /// The status of the error that ended the connection.
    Failed(u16),
}

#[derive(Clone, Copy)]
struct Setup {
    response: bool,
    tunnel: bool,
    head_mask: u8,
    limits: Limits,
}

fuzz_target!(|data: &[u8]| {
    let [flags, limits_sel, seed, stream @ ..] = data else {
        return;
    };
    let limits = if limits_sel & 0x80 == 0 {
        Limits::default()
    } else {
        let b = usize::from(*limits_sel & 0x7f);
        Limits {
            max_head: 16 + (b & 0x1f) * 16,
            max_request_line: 4 + (b >> 2) * 3,
            max_headers: 1 + (b & 7),
            max_body: (b & 0x40 == 0).then_some((b as u64 & 0x3f) * 5),
        }
    };
    let setup = Setup {
        response: flags & 1 != 0,
        tunnel: flags & 2 != 0,
        head_mask: flags >> 2,
        limits,
    };

    let whole = run(setup, std::iter::once(stream));
    let chunks = || Chunks {
        rest: stream,
        state: u32::from(*seed) | 0x100,
    };
    let split = run(setup, chunks());

    assert_eq!(whole.events, split.events, "chunking changed the events");
    assert_eq!(
        whole.outcome, split.outcome,
        "chunking changed how the stream ends"
    );
    assert_eq!(
        whole.tunnel, split.tunnel,
        "chunking changed the bytes after a switch"
    );

    // The collector: any bytes, any split, no panic; requests it returns hold their head.
    let mut collector = RequestCollector::new(limits);
    'feed: for piece in chunks().map(Bytes::copy_from_slice) {
        collector.feed(piece);
        loop {
            match collector.poll() {
                Ok(Some(request)) => assert!(request.raw.starts_with(&request.head.raw)),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    collector.feed_eof();
    while let Ok(Some(_)) = collector.poll() {}
});

struct Run {
    events: Vec<Ev>,
    outcome: Outcome,
    /// The bytes after a protocol switch, when relayed instead of framed.
    tunnel: Option<Vec<u8>>,
}

/// Feeds the pieces one by one, polling after each, then `feed_eof`.
fn run<'a>(setup: Setup, pieces: impl Iterator<Item = &'a [u8]>) -> Run {
    let kind = if setup.response {
        Kind::Response {
            request_method_was_head: setup.head_mask & 1 != 0,
        }
    } else {
        Kind::Request
    };
    let mut f = MessageFramer::new(kind, setup.limits);
    let mut r = Run {
        events: Vec::new(),
        outcome: Outcome::Clean,
        tunnel: None,
    };
    let mut ends = 0u32;
    for piece in pieces {
        if let Some(tunnel) = &mut r.tunnel {
            tunnel.extend_from_slice(piece);
            continue;
        }
        f.feed(Bytes::copy_from_slice(piece));
        if drain(&mut f, setup, &mut r, &mut ends).is_err() {
            return r;
        }
    }
    if r.tunnel.is_none() {
        f.feed_eof();
        let _ = drain(&mut f, setup, &mut r, &mut ends);
    }
    r
}

fn drain(f: &mut MessageFramer, setup: Setup, r: &mut Run, ends: &mut u32) -> Result<(), ()> {
    loop {
        match f.poll() {
            Ok(None) => {
                if f.is_paused() {
                    if setup.tunnel {
                        r.tunnel = Some(f.take_buffered().to_vec());
                    } else {
                        f.resume();
                        continue;
                    }
                }
                return Ok(());
            }
            Ok(Some(FrameEvent::Head(head))) => r.events.push(Ev::Head(Box::new(head))),
            Ok(Some(FrameEvent::Body(data))) => {
                assert!(!data.is_empty(), "empty body event");
                match r.events.last_mut() {
                    Some(Ev::Body(body)) => body.extend_from_slice(&data),
                    _ => r.events.push(Ev::Body(data.to_vec())),
                }
            }
            Ok(Some(FrameEvent::End)) => {
                r.events.push(Ev::End);
                *ends += 1;
                let was_head = *ends < 6 && setup.head_mask >> *ends & 1 != 0;
                f.expect_response(was_head);
            }
            Err(e) => {
                let again: Result<_, FramingError> = f.poll();
                assert_eq!(again, Err(e.clone()), "framer recovered after {e:?}");
                r.outcome = Outcome::Failed(e.status());
                return Err(());
            }
        }
    }
}
