//! The SMPP `Framer` on a stream split at fuzzer-chosen points: the PDUs must be the same as
//! when the whole stream is fed at once, and so must the framing error that ends it. Every
//! framed PDU either decodes and encodes back to exactly its octets, or gets one
//! well-formed answer with its sequence number; the framing error's answer is a
//! `generic_nack` with `ESME_RINVCMDLEN`. Rewriting a sequence number changes four octets;
//! the receipt and concatenation helpers take whatever decodes.
//!
//! Input layout: byte 0 picks the maximum PDU size, byte 1 seeds the chunk sizes; the rest
//! is the stream.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_core::smpp::{
    answer_to_invalid, with_sequence_number, AnswerKind, Body, CommandId, CommandStatus,
    DecodeError, Framer, FramingError, Header, Pdu, DEFAULT_MAX_PDU,
};
#[path = "chunks.rs"]
mod chunks;
use chunks::Chunks;

fuzz_target!(|data: &[u8]| {
    let [size_sel, seed, stream @ ..] = data else {
        return;
    };
    let max_pdu = match size_sel {
        0..=127 => 16 + usize::from(*size_sel) * 4,
        128..=254 => 16 + usize::from(*size_sel - 128) * 512,
        255 => DEFAULT_MAX_PDU,
    };
    let stream = Bytes::copy_from_slice(stream);

    let (whole, whole_end) = run(max_pdu, std::iter::once(stream.clone()));
    let chunks = Chunks {
        rest: &stream,
        state: u32::from(*seed) | 0x100,
    };
    let (split, split_end) = run(max_pdu, chunks.map(Bytes::copy_from_slice));
    assert_eq!(whole, split, "chunking changed the PDUs");
    assert_eq!(whole_end, split_end, "chunking changed how the stream ends");

    let framed: usize = whole.iter().map(Bytes::len).sum();
    assert_eq!(
        &stream[..framed],
        &whole.concat()[..],
        "the PDUs are the stream's octets"
    );
    for pdu in &whole {
        assert!((16..=max_pdu).contains(&pdu.len()));
        check_pdu(pdu);
    }
    if let Some(e) = whole_end {
        assert_eq!(Header::parse(&stream[framed..]), Some(e.header));
        let answer = Pdu::decode(&e.answer()).expect("the framing error's answer decodes");
        assert_eq!(answer.command_id, CommandId::GENERIC_NACK);
        assert_eq!(answer.command_status, CommandStatus::RINVCMDLEN);
        assert_eq!(answer.sequence_number, e.header.sequence_number);
    }

    // The stream as one unframed PDU, and cut short: decoded or answered, never a panic.
    for end in [stream.len(), stream.len().min(16), stream.len().min(3)] {
        let raw = stream.slice(..end);
        if let Err(e) = Pdu::decode(&raw) {
            check_answer(&raw, &e);
        }
    }
});

/// Feeds the pieces one by one, draining after each, until the first error.
fn run(max_pdu: usize, pieces: impl Iterator<Item = Bytes>) -> (Vec<Bytes>, Option<FramingError>) {
    let mut f = Framer::new(max_pdu);
    let mut pdus = Vec::new();
    for piece in pieces {
        f.feed(piece);
        loop {
            match f.poll() {
                Ok(Some(pdu)) => pdus.push(pdu),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(f.poll(), Err(e.clone()), "the framer recovered after {e}");
                    return (pdus, Some(e));
                }
            }
        }
    }
    (pdus, None)
}

/// A framed PDU decodes to exactly its octets or gets one well-formed answer.
fn check_pdu(pdu: &Bytes) {
    match Pdu::decode(pdu) {
        Ok(decoded) => {
            assert_eq!(
                decoded.encode().as_ref(),
                Ok(pdu),
                "decode → encode changed {decoded:?}"
            );
            match &decoded.body {
                Body::SubmitSm(sm) | Body::DeliverSm(sm) => {
                    let _ = sm.receipted_message_id();
                    if let Some(c) = sm.concatenation() {
                        assert!((1..=c.total).contains(&c.seqnum));
                    }
                }
                Body::DataSm(d) => {
                    let _ = d.receipted_message_id();
                    if let Some(c) = d.concatenation() {
                        assert!((1..=c.total).contains(&c.seqnum));
                    }
                }
                _ => {}
            }
        }
        Err(e) => {
            assert!(
                !e.closes_connection(),
                "a framed PDU has a consistent header: {e}"
            );
            check_answer(pdu, &e);
        }
    }
    let renumbered = with_sequence_number(pdu.clone(), 0x1234_5678);
    assert_eq!(&renumbered[..12], &pdu[..12]);
    assert_eq!(&renumbered[12..16], &0x1234_5678u32.to_be_bytes());
    assert_eq!(&renumbered[16..], &pdu[16..]);
}

/// The answer to octets that failed to decode is one PDU that decodes, with their sequence
/// number and the error's status, to the right command.
fn check_answer(raw: &[u8], e: &DecodeError) {
    let answer = answer_to_invalid(raw, e);
    let a = Pdu::decode(&answer).unwrap_or_else(|d| panic!("answer to {e} does not decode: {d}"));
    assert_eq!(a.sequence_number, Header::sequence_number_of(raw));
    assert_eq!(a.command_status, e.status());
    match (e.answer_kind(), Header::parse(raw)) {
        (AnswerKind::Response, Some(h)) if h.command_id.expects_response() => {
            assert_eq!(a.command_id, h.command_id.response())
        }
        _ => assert_eq!(a.command_id, CommandId::GENERIC_NACK),
    }
}
