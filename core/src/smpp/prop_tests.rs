//! Property tests: generated PDUs of every kind survive encode → decode → encode; whatever
//! decodes encodes back to its own octets; every PDU that does not decode gets one
//! well-formed answer; a stream frames the same whole or split anywhere; rewriting a
//! sequence number touches four octets.

use super::strategies::{pdu, Chars};
use super::*;
use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

/// Checks the answer to octets that failed to decode with `e`.
fn check_answer(raw: &[u8], e: &DecodeError) -> Result<(), TestCaseError> {
    let answer = answer_to_invalid(raw, e);
    let decoded = Pdu::decode(&answer);
    prop_assert!(
        decoded.is_ok(),
        "answer {answer:02X?} to {e} does not decode"
    );
    let a = decoded.unwrap_or_else(|_| unreachable!());
    prop_assert_eq!(a.sequence_number, Header::sequence_number_of(raw));
    prop_assert_eq!(a.command_status, e.status());
    let request = Header::parse(raw).map(|h| h.command_id);
    match (e.answer_kind(), request) {
        (AnswerKind::Response, Some(id)) if id.expects_response() => {
            prop_assert_eq!(a.command_id, id.response())
        }
        _ => prop_assert_eq!(a.command_id, CommandId::GENERIC_NACK),
    }
    Ok(())
}

/// Octets of a PDU changed by `edits` (position, new octet, or a deletion/insertion), with
/// `command_length` set to the result's length so that the body, not the framing, is hit.
fn mutate(bytes: &[u8], edits: &[(usize, u8, u8)]) -> Bytes {
    let mut v = bytes.to_vec();
    for &(at, octet, op) in edits {
        let at = 16 + at % (v.len().saturating_sub(16) + 1);
        match op % 3 {
            0 if at < v.len() => v[at] = octet,
            1 if at < v.len() => {
                v.remove(at);
            }
            _ => v.insert(at, octet),
        }
    }
    let len = v.len() as u32;
    v[..4].copy_from_slice(&len.to_be_bytes());
    Bytes::from(v)
}

/// Frames `stream` fed in pieces cut at `cuts`: the PDUs, then the error if one ends it.
fn frame(stream: &Bytes, cuts: &[usize], max_pdu: usize) -> (Vec<Bytes>, Option<FramingError>) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    let mut f = Framer::new(max_pdu);
    let mut out = Vec::new();
    for w in points.windows(2) {
        f.feed(stream.slice(w[0]..w[1]));
        loop {
            match f.poll() {
                Ok(Some(p)) => out.push(p),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Every generated PDU encodes, decodes to itself and encodes to the same octets.
    #[test]
    fn generated_pdus_round_trip(p in pdu(Chars::AnyButNul)) {
        let bytes = p.encode().map_err(|e| TestCaseError::fail(format!("{e}: {p:?}")))?;
        prop_assert_eq!(Header::parse(&bytes).map(|h| h.command_length as usize), Some(bytes.len()));
        let back = Pdu::decode(&bytes).map_err(|e| TestCaseError::fail(format!("{e}: {p:?}")))?;
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.encode().ok(), Some(bytes));
    }

    /// Mutated PDUs: what decodes encodes back to exactly its octets; what does not gets
    /// one well-formed answer.
    #[test]
    fn mutated_pdus_decode_exactly_or_are_answered(
        p in pdu(Chars::AnyButNul),
        edits in vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let original = p.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let raw = mutate(&original, &edits);
        match Pdu::decode(&raw) {
            Ok(decoded) => prop_assert_eq!(decoded.encode().ok(), Some(raw)),
            Err(e) => {
                prop_assert!(!e.closes_connection());
                check_answer(&raw, &e)?;
            }
        }
    }

    /// Arbitrary octets never panic the decoder and are answered when refused.
    #[test]
    fn arbitrary_octets_are_decoded_or_answered(
        id in prop_oneof![
            prop::sample::select(CommandId::ALL.to_vec()).prop_map(|c| c.0),
            any::<u32>(),
        ],
        head in any::<[u8; 12]>(),
        body in vec(any::<u8>(), 0..300),
        fix_length in any::<bool>(),
    ) {
        let mut v = head.to_vec();
        v[4..8].copy_from_slice(&id.to_be_bytes());
        v.extend_from_slice(&body);
        if fix_length && v.len() >= 4 {
            let len = v.len() as u32;
            v[..4].copy_from_slice(&len.to_be_bytes());
        }
        let raw = Bytes::from(v);
        match Pdu::decode(&raw) {
            Ok(decoded) => prop_assert_eq!(decoded.encode().ok(), Some(raw.clone())),
            Err(e) => check_answer(&raw, &e)?,
        }
        // Octets cut anywhere, header included.
        for cut in [0, 1, 15, 16, 17] {
            let short = raw.slice(..cut.min(raw.len()));
            if let Err(e) = Pdu::decode(&short) {
                check_answer(&short, &e)?;
            }
        }
    }

    /// A stream of generated PDUs frames into exactly those PDUs however it is split.
    #[test]
    fn generated_streams_frame_the_same_split_anywhere(
        pdus in vec(pdu(Chars::AnyButNul), 1..8),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let encoded: Vec<Bytes> = pdus.iter().filter_map(|p| p.encode().ok()).collect();
        let stream = Bytes::from(encoded.concat());
        let (whole, end) = frame(&stream, &[], DEFAULT_MAX_PDU);
        prop_assert_eq!(end, None);
        prop_assert_eq!(&whole, &encoded);
        let (split, end) = frame(&stream, &cuts, DEFAULT_MAX_PDU);
        prop_assert_eq!(end, None);
        prop_assert_eq!(split, encoded);
    }

    /// Arbitrary octets frame identically whole and split, up to the same error.
    #[test]
    fn arbitrary_streams_frame_the_same_split_anywhere(
        prefix in vec(pdu(Chars::AnyButNul), 0..3),
        junk in vec(any::<u8>(), 0..200),
        small_lengths in any::<bool>(),
        cuts in vec(any::<usize>(), 0..16),
        max_pdu in 16usize..600,
    ) {
        let mut stream: Vec<u8> = prefix.iter().filter_map(|p| p.encode().ok()).flatten().collect();
        let mut junk = junk;
        if small_lengths && junk.len() >= 4 {
            // Keep the junk's first command_length small so that it frames for a while.
            junk[0] = 0;
            junk[1] = 0;
            junk[2] &= 1;
        }
        stream.extend_from_slice(&junk);
        let stream = Bytes::from(stream);
        let (whole, whole_end) = frame(&stream, &[], max_pdu);
        let (split, split_end) = frame(&stream, &cuts, max_pdu);
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(&whole_end, &split_end);
        let framed: usize = whole.iter().map(Bytes::len).sum();
        prop_assert!(stream[..framed].iter().eq(whole.iter().flat_map(|p| p.iter())));
        for p in &whole {
            prop_assert!((16..=max_pdu).contains(&p.len()));
            if let Err(e) = Pdu::decode(p) {
                prop_assert!(!e.closes_connection(), "a framed PDU has a consistent header");
                check_answer(p, &e)?;
            }
        }
        if let Some(e) = whole_end {
            prop_assert_eq!(Header::parse(&stream[framed..]), Some(e.header));
            let answer = Pdu::decode(&e.answer()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(answer.command_id, CommandId::GENERIC_NACK);
            prop_assert_eq!(answer.command_status, CommandStatus::RINVCMDLEN);
            prop_assert_eq!(answer.sequence_number, e.header.sequence_number);
        }
    }

    /// Rewriting the sequence number (or status) changes octets 12..16 (8..12) only, shared
    /// buffer or not.
    #[test]
    fn rewriting_touches_four_octets(
        raw in vec(any::<u8>(), 0..64),
        seq in any::<u32>(),
        status in any::<u32>(),
        shared in any::<bool>(),
    ) {
        let original = Bytes::from(raw.clone());
        let keep = shared.then(|| original.clone());
        let out = with_sequence_number(original, seq);
        if raw.len() < 16 {
            prop_assert_eq!(&out[..], &raw[..]);
        } else {
            prop_assert_eq!(&out[..12], &raw[..12]);
            prop_assert_eq!(&out[12..16], &seq.to_be_bytes()[..]);
            prop_assert_eq!(&out[16..], &raw[16..]);
            let out = with_command_status(out, CommandStatus(status));
            prop_assert_eq!(&out[..8], &raw[..8]);
            prop_assert_eq!(&out[8..12], &status.to_be_bytes()[..]);
            prop_assert_eq!(&out[12..16], &seq.to_be_bytes()[..]);
            prop_assert_eq!(&out[16..], &raw[16..]);
        }
        if let Some(keep) = keep {
            prop_assert_eq!(&keep[..], &raw[..], "the shared handle is untouched");
        }
    }

    /// The counter yields only valid sequence numbers, in order, wrapping to 1.
    #[test]
    fn counter_stays_in_range(first in any::<u32>(), steps in 1usize..100) {
        let mut c = SequenceCounter::starting_at(first);
        let mut prev = None;
        for _ in 0..steps {
            let n = c.next_number();
            prop_assert!(is_valid_sequence_number(n));
            if let Some(p) = prev {
                prop_assert_eq!(n, if p == MAX_SEQUENCE_NUMBER { 1 } else { p + 1 });
            }
            prev = Some(n);
        }
    }

    /// The receipt and concatenation helpers accept any user data.
    #[test]
    fn helpers_accept_any_user_data(
        esm_class in any::<u8>(),
        ud in vec(any::<u8>(), 0..80),
        tlv_octets in vec(any::<u8>(), 0..40),
    ) {
        let tlvs = Tlvs::new(Bytes::from(tlv_octets)).unwrap_or_default();
        let ud = Bytes::from(ud);
        if let Some(c) = concatenation(esm_class, &ud, &tlvs) {
            prop_assert!(c.total >= 1 && (1..=c.total).contains(&c.seqnum));
        }
        if let Some(id) = receipted_message_id(&tlvs, &ud) {
            prop_assert!(!id.is_empty());
        }
    }
}
