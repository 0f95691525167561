//! Sequence numbers (SMPP 3.4 §5.1.4): rewriting them in place, and a counter that hands
//! them out.
//!
//! The balancer renumbers every PDU it relays (its own connection's counter toward the
//! peer) and puts the original number back on the response. Rewriting touches the four
//! octets of the field and nothing else; the PDU is copied only when its buffer is shared.

use super::header::{HEADER_LEN, MAX_SEQUENCE_NUMBER};
use super::status::CommandStatus;
use bytes::{Bytes, BytesMut};

/// `pdu` with `sequence_number` in octets 12..16. No other octet changes. The buffer is
/// reused when `pdu` is its only handle (and left alone when the number is already right);
/// a shared buffer is copied once. Octets shorter than a header are returned as they are.
pub fn with_sequence_number(pdu: Bytes, sequence_number: u32) -> Bytes {
    patch_word(pdu, 12, sequence_number)
}

/// `pdu` with `status` in octets 8..12 (`command_status`), under the same rules as
/// [`with_sequence_number`].
pub fn with_command_status(pdu: Bytes, status: CommandStatus) -> Bytes {
    patch_word(pdu, 8, status.0)
}

fn patch_word(pdu: Bytes, at: usize, value: u32) -> Bytes {
    let new = value.to_be_bytes();
    match pdu.get(at..at + 4) {
        _ if pdu.len() < HEADER_LEN => pdu,
        Some(old) if old == new => pdu,
        _ => {
            let mut m = pdu
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
            m[at..at + 4].copy_from_slice(&new);
            m.freeze()
        }
    }
}

/// Hands out sequence numbers 1, 2, …, 0x7FFFFFFF, then 1 again (SMPP 3.4 §5.1.4 allows
/// 0x00000001 to 0x7FFFFFFF). One per connection and direction the balancer writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceCounter {
    next: u32,
}

impl Default for SequenceCounter {
    fn default() -> Self {
        SequenceCounter::new()
    }
}

impl SequenceCounter {
    /// A counter whose first number is 1.
    pub fn new() -> Self {
        SequenceCounter { next: 1 }
    }

    /// A counter whose first number is `first`, or 1 when `first` is out of range.
    pub fn starting_at(first: u32) -> Self {
        SequenceCounter {
            next: if (1..=MAX_SEQUENCE_NUMBER).contains(&first) {
                first
            } else {
                1
            },
        }
    }

    /// The next number; after 0x7FFFFFFF comes 1.
    pub fn next_number(&mut self) -> u32 {
        let n = self.next;
        self.next = if n >= MAX_SEQUENCE_NUMBER { 1 } else { n + 1 };
        n
    }

    /// The number [`next_number`](Self::next_number) returns next, without taking it.
    pub fn peek(&self) -> u32 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smpp::pdu::enquire_link;

    #[test]
    fn rewrites_four_octets_in_place() {
        let pdu = Bytes::from(enquire_link(7).to_vec());
        let ptr = pdu.as_ptr();
        let out = with_sequence_number(pdu, 0x0102_0304);
        assert_eq!(out.as_ptr(), ptr, "a unique buffer is reused");
        assert_eq!(
            &out[..],
            &[0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 1, 2, 3, 4]
        );
        let out = with_command_status(out, CommandStatus::RSYSERR);
        assert_eq!(out.as_ptr(), ptr);
        assert_eq!(&out[8..12], &[0, 0, 0, 8]);
    }

    #[test]
    fn copies_a_shared_buffer_once() {
        let pdu = enquire_link(7);
        let keep = pdu.clone();
        let out = with_sequence_number(pdu, 9);
        assert_ne!(out.as_ptr(), keep.as_ptr());
        assert_eq!(
            &keep[12..16],
            &[0, 0, 0, 7],
            "the other handle is untouched"
        );
        assert_eq!(&out[12..16], &[0, 0, 0, 9]);
        assert_eq!(&out[..12], &keep[..12]);
        // Already right: nothing happens.
        let same = with_sequence_number(keep.clone(), 7);
        assert_eq!(same.as_ptr(), keep.as_ptr());
    }

    #[test]
    fn short_input_is_returned_unchanged() {
        let short = Bytes::from_static(&[1, 2, 3]);
        assert_eq!(with_sequence_number(short.clone(), 5), short);
        assert_eq!(
            with_command_status(short.clone(), CommandStatus::RSYSERR),
            short
        );
    }

    #[test]
    fn counter_wraps_to_one() {
        let mut c = SequenceCounter::new();
        assert_eq!(c.next_number(), 1);
        assert_eq!(c.next_number(), 2);
        let mut c = SequenceCounter::starting_at(0x7FFF_FFFE);
        assert_eq!(c.next_number(), 0x7FFF_FFFE);
        assert_eq!(c.next_number(), 0x7FFF_FFFF);
        assert_eq!(c.peek(), 1);
        assert_eq!(c.next_number(), 1);
        assert_eq!(SequenceCounter::starting_at(0).peek(), 1);
        assert_eq!(SequenceCounter::starting_at(0x8000_0000).peek(), 1);
    }
}
