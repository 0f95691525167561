//! The few SMPP 3.4 PDUs the load tool sends and answers, written and read by hand (SMPP 3.4
//! §3.2 header, §4 bodies). Deliberately separate from the balancer's codec: the tool measures
//! that code and must not share its mistakes.

use std::io::Write as _;

/// Octets of the PDU header: command_length, command_id, command_status, sequence_number.
pub const HEADER_LEN: usize = 16;
/// The largest PDU the tool accepts; a longer `command_length` loses the framing.
pub const MAX_PDU: usize = 65_536;

/// Bit 31 of `command_id`: the PDU is a response (SMPP 3.4 §5.1.2).
pub const RESPONSE: u32 = 0x8000_0000;
/// `generic_nack` (§4.3).
pub const GENERIC_NACK: u32 = 0x8000_0000;
/// `bind_receiver` (§4.1.3).
pub const BIND_RECEIVER: u32 = 0x0000_0001;
/// `bind_transmitter` (§4.1.1).
pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
/// `submit_sm` (§4.4).
pub const SUBMIT_SM: u32 = 0x0000_0004;
/// `deliver_sm` (§4.6).
pub const DELIVER_SM: u32 = 0x0000_0005;
/// `unbind` (§4.2).
pub const UNBIND: u32 = 0x0000_0006;
/// `bind_transceiver` (§4.1.5).
pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
/// `enquire_link` (§4.11).
pub const ENQUIRE_LINK: u32 = 0x0000_0015;
/// `data_sm` (§4.7).
pub const DATA_SM: u32 = 0x0000_0103;

/// `ESME_ROK`.
pub const ESME_ROK: u32 = 0x0000_0000;
/// `ESME_RINVCMDLEN`: command_length out of bounds.
pub const ESME_RINVCMDLEN: u32 = 0x0000_0002;
/// `ESME_RINVCMDID`: a command the receiver does not handle.
pub const ESME_RINVCMDID: u32 = 0x0000_0003;

/// The interface version the tool announces in its binds (SMPP 3.4).
pub const INTERFACE_VERSION: u8 = 0x34;

/// A PDU header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `command_length`: the whole PDU's octets.
    pub length: usize,
    /// `command_id`.
    pub command_id: u32,
    /// `command_status`.
    pub status: u32,
    /// `sequence_number`.
    pub sequence: u32,
}

/// What the front of a receive buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not a whole PDU yet.
    Incomplete,
    /// A whole PDU with this header (its octets are `buf[..header.length]`).
    Pdu(Header),
    /// A `command_length` below 16 or above [`MAX_PDU`]: the stream cannot be framed further.
    Invalid,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Looks at the front of `buf`.
pub fn frame(buf: &[u8]) -> Frame {
    if buf.len() < 4 {
        return Frame::Incomplete;
    }
    let length = be32(buf, 0) as usize;
    if !(HEADER_LEN..=MAX_PDU).contains(&length) {
        return Frame::Invalid;
    }
    if buf.len() < length {
        return Frame::Incomplete;
    }
    Frame::Pdu(Header {
        length,
        command_id: be32(buf, 4),
        status: be32(buf, 8),
        sequence: be32(buf, 12),
    })
}

/// Starts a PDU at the end of `out`; [`finish`] writes its length. Returns where it starts.
fn start(out: &mut Vec<u8>, command_id: u32, status: u32, sequence: u32) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    at
}

fn finish(out: &mut [u8], at: usize) {
    let length = u32::try_from(out.len() - at).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&length.to_be_bytes());
}

/// A C-Octet String: the octets, then NUL (§3.1).
fn cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

/// A PDU without a body: `enquire_link`, `unbind`, their responses, `generic_nack`.
pub fn empty(out: &mut Vec<u8>, command_id: u32, status: u32, sequence: u32) {
    let at = start(out, command_id, status, sequence);
    finish(out, at);
}

/// `bind_transceiver` (§4.1.5) with an empty address range.
pub fn bind_transceiver(
    out: &mut Vec<u8>,
    sequence: u32,
    system_id: &str,
    password: &str,
    system_type: &str,
) {
    let at = start(out, BIND_TRANSCEIVER, ESME_ROK, sequence);
    cstr(out, system_id.as_bytes());
    cstr(out, password.as_bytes());
    cstr(out, system_type.as_bytes());
    out.extend_from_slice(&[INTERFACE_VERSION, 0, 0]); // version, addr_ton, addr_npi
    cstr(out, b""); // address_range
    finish(out, at);
}

/// A `bind_*_resp` (§4.1.2) for the bind `command_id`, carrying `system_id`.
pub fn bind_resp(out: &mut Vec<u8>, command_id: u32, status: u32, sequence: u32, system_id: &str) {
    let at = start(out, command_id | RESPONSE, status, sequence);
    cstr(out, system_id.as_bytes());
    finish(out, at);
}

/// A `submit_sm` (§4.4.1) with sequence number 0 and a short message of `text`; the load
/// loop copies it and writes each send's sequence number with [`set_sequence`].
pub fn submit_sm_template(source: &str, destination: &str, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + text.len());
    let at = start(&mut out, SUBMIT_SM, ESME_ROK, 0);
    cstr(&mut out, b""); // service_type
    out.extend_from_slice(&[1, 1]); // source_addr_ton (international), source_addr_npi (E.164)
    cstr(&mut out, source.as_bytes());
    out.extend_from_slice(&[1, 1]); // dest_addr_ton, dest_addr_npi
    cstr(&mut out, destination.as_bytes());
    // esm_class, protocol_id, priority_flag
    out.extend_from_slice(&[0, 0, 0]);
    cstr(&mut out, b""); // schedule_delivery_time
    cstr(&mut out, b""); // validity_period
                         // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.push(u8::try_from(text.len()).unwrap_or(u8::MAX)); // sm_length
    out.extend_from_slice(&text[..text.len().min(254)]);
    finish(&mut out, at);
    out
}

/// Writes `sequence` into the PDU that starts at `pdu[0]`.
pub fn set_sequence(pdu: &mut [u8], sequence: u32) {
    pdu[12..16].copy_from_slice(&sequence.to_be_bytes());
}

/// The response to a `submit_sm` or `data_sm` (§4.4.2, §4.7.2): `message_id` written as
/// lowercase hexadecimal.
pub fn sm_resp(out: &mut Vec<u8>, command_id: u32, sequence: u32, message_id: u64) {
    let at = start(out, command_id | RESPONSE, ESME_ROK, sequence);
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{message_id:x}");
    out.push(0);
    finish(out, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_pdu_is_a_header() {
        let mut out = vec![];
        empty(&mut out, ENQUIRE_LINK, ESME_ROK, 7);
        assert_eq!(
            out,
            [0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7].to_vec()
        );
        assert_eq!(
            frame(&out),
            Frame::Pdu(Header {
                length: 16,
                command_id: ENQUIRE_LINK,
                status: 0,
                sequence: 7
            })
        );
        assert_eq!(frame(&out[..15]), Frame::Incomplete);
        assert_eq!(frame(&out[..3]), Frame::Incomplete);
    }

    #[test]
    fn bind_transceiver_octets() {
        let mut out = vec![];
        bind_transceiver(&mut out, 1, "ab", "pw", "");
        let body = b"ab\0pw\0\0\x34\0\0\0";
        assert_eq!(out.len(), HEADER_LEN + body.len());
        assert_eq!(&out[HEADER_LEN..], body);
        assert_eq!(be32(&out, 0) as usize, out.len());
        assert_eq!(be32(&out, 4), BIND_TRANSCEIVER);
    }

    #[test]
    fn submit_sm_octets_and_sequence() {
        let mut pdu = submit_sm_template("1", "2", b"hi");
        set_sequence(&mut pdu, 0x0102_0304);
        let body = b"\0\x01\x011\0\x01\x012\0\0\0\0\0\0\0\0\0\0\x02hi";
        assert_eq!(&pdu[HEADER_LEN..], body);
        match frame(&pdu) {
            Frame::Pdu(h) => {
                assert_eq!(
                    (h.length, h.command_id, h.sequence),
                    (pdu.len(), SUBMIT_SM, 0x0102_0304)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sm_resp_carries_hex_message_id() {
        let mut out = vec![];
        sm_resp(&mut out, SUBMIT_SM, 9, 0xabc);
        assert_eq!(&out[HEADER_LEN..], b"abc\0");
        assert_eq!(be32(&out, 4), SUBMIT_SM | RESPONSE);
        assert_eq!(be32(&out, 12), 9);
    }

    #[test]
    fn bad_lengths_lose_the_framing() {
        assert_eq!(frame(&[0, 0, 0, 15, 0]), Frame::Invalid);
        assert_eq!(frame(&[0, 1, 0, 1]), Frame::Invalid);
    }
}
