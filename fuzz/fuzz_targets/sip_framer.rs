//! `Framer` on a stream split at fuzzer-chosen points: the frames must be the same as when
//! the whole stream is fed at once, and so must the kind of error that ends the stream.
//!
//! Input layout: byte 0 picks the message size limit, byte 1 the header-line limit, byte 2
//! seeds the chunk sizes; the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_core::sip::{Frame, FrameError, Framer, SipMessage};
#[path = "chunks.rs"]
mod chunks;
use chunks::Chunks;

#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Every byte fed, no error.
    Open,
    Error(std::mem::Discriminant<FrameError>),
}

fuzz_target!(|data: &[u8]| {
    let [size_sel, headers_sel, seed, stream @ ..] = data else {
        return;
    };
    let max_size = match size_sel {
        0..=63 => usize::from(*size_sel) * 8 + 4,
        64..=191 => usize::from(*size_sel) * 64,
        _ => 64 * 1024,
    };
    let max_headers = usize::from(*headers_sel % 64) + 1;

    let (whole, whole_end, whole_left) = run(max_size, max_headers, std::iter::once(stream));
    let chunks = Chunks {
        rest: stream,
        state: u32::from(*seed) | 0x100,
    };
    let (split, split_end, split_left) = run(max_size, max_headers, chunks);

    assert_eq!(whole_end, split_end, "chunking changed how the stream ends");
    assert_eq!(whole, split, "chunking changed the frames");
    if whole_end == End::Open {
        assert_eq!(whole_left, split_left, "chunking changed the buffered tail");
    }
    for f in &whole {
        if let Frame::Message(m) = f {
            assert!(m.len() <= max_size);
            let _ = SipMessage::parse(m.clone()).map(|msg| msg.check_mandatory());
        }
    }
});

/// Feeds the pieces one by one, draining after each, until the first error.
fn run<'a>(
    max_size: usize,
    max_headers: usize,
    pieces: impl Iterator<Item = &'a [u8]>,
) -> (Vec<Frame>, End, usize) {
    let mut f = Framer::new(max_size, max_headers);
    let mut frames = Vec::new();
    for piece in pieces {
        f.feed(piece);
        loop {
            match f.next_message() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => {
                    // The framer is documented to keep failing after an error.
                    assert!(f.next_message().is_err(), "framer recovered after {e:?}");
                    return (frames, End::Error(std::mem::discriminant(&e)), f.buffered());
                }
            }
        }
    }
    let left = f.buffered();
    (frames, End::Open, left)
}
