//! The 16-octet PDU header (SMPP 3.4 §3.2, §5.1).

use super::command::CommandId;
use super::status::CommandStatus;

/// Octets in a PDU header; also the smallest valid `command_length` (SMPP 3.4 §3.2).
pub const HEADER_LEN: usize = 16;

/// Largest valid sequence number (SMPP 3.4 §5.1.4: 0x00000001 to 0x7FFFFFFF).
pub const MAX_SEQUENCE_NUMBER: u32 = 0x7FFF_FFFF;

/// True when `n` lies in the range SMPP 3.4 §5.1.4 allows, 1 to 0x7FFFFFFF.
pub fn is_valid_sequence_number(n: u32) -> bool {
    (1..=MAX_SEQUENCE_NUMBER).contains(&n)
}

/// The four header fields of a PDU (SMPP 3.4 §3.2), all big-endian 4-octet integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Octets in the whole PDU, header included.
    pub command_length: u32,
    /// What the PDU is.
    pub command_id: CommandId,
    /// `ESME_ROK` in requests; the outcome in responses.
    pub command_status: CommandStatus,
    /// Pairs a response with its request (§5.1.4).
    pub sequence_number: u32,
}

impl Header {
    /// Reads the header from the first 16 octets of `bytes`; `None` when fewer have arrived.
    /// Nothing is checked: the values are as written.
    pub fn parse(bytes: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        let word = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        Some(Header {
            command_length: word(0),
            command_id: CommandId(word(4)),
            command_status: CommandStatus(word(8)),
            sequence_number: word(12),
        })
    }

    /// The 16 octets of this header.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.command_length.to_be_bytes());
        out[4..8].copy_from_slice(&self.command_id.0.to_be_bytes());
        out[8..12].copy_from_slice(&self.command_status.0.to_be_bytes());
        out[12..16].copy_from_slice(&self.sequence_number.to_be_bytes());
        out
    }

    /// The sequence number in `bytes[12..16]`, when the PDU is that long; `0` otherwise (the
    /// value an answer to an unreadable header carries).
    pub fn sequence_number_of(bytes: &[u8]) -> u32 {
        match bytes.get(12..16) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_write() {
        let raw = [
            0, 0, 0, 0x10, 0, 0, 0, 0x15, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF, 0xAA,
        ];
        let h = Header::parse(&raw).unwrap();
        assert_eq!(h.command_length, 16);
        assert_eq!(h.command_id, CommandId::ENQUIRE_LINK);
        assert_eq!(h.command_status, CommandStatus::ROK);
        assert_eq!(h.sequence_number, MAX_SEQUENCE_NUMBER);
        assert_eq!(h.to_bytes(), raw[..16]);
        assert_eq!(Header::parse(&raw[..15]), None);
        assert_eq!(Header::sequence_number_of(&raw), MAX_SEQUENCE_NUMBER);
        assert_eq!(Header::sequence_number_of(&raw[..15]), 0);
    }

    #[test]
    fn sequence_number_range() {
        assert!(!is_valid_sequence_number(0));
        assert!(is_valid_sequence_number(1));
        assert!(is_valid_sequence_number(0x7FFF_FFFF));
        assert!(!is_valid_sequence_number(0x8000_0000));
    }
}
