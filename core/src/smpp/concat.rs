//! Concatenated messages: which long message a part belongs to.
//!
//! A long message travels as parts, each marked either by a concatenation element in the
//! user data header at the start of the user data (when `esm_class` has UDHI, 0x40,
//! SMPP 3.4 §5.2.12; elements 0x00 with an 8-bit and 0x08 with a 16-bit reference,
//! 3GPP TS 23.040 §9.2.3.24.1 and §9.2.3.24.8) or by the `sar_msg_ref_num`,
//! `sar_total_segments` and `sar_segment_seqnum` TLVs (SMPP 3.4 §5.3.2.22–24). The mux mode
//! keeps the parts of one message on one provider.

use super::body::{DataSm, SmBody};
use super::tlv::{tag, Tlvs};

/// UDHI: the user data begins with a user data header (SMPP 3.4 §5.2.12).
pub const UDHI: u8 = 0x40;

/// Where a part's concatenation information came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConcatSource {
    /// Information element 0x00 of the user data header: an 8-bit reference.
    Udh8,
    /// Information element 0x08 of the user data header: a 16-bit reference.
    Udh16,
    /// The `sar_*` TLVs.
    Sar,
}

/// One part of a concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concatenation {
    /// The reference shared by all parts of the message.
    pub reference: u16,
    /// Parts in the message, at least 1.
    pub total: u8,
    /// This part's number, 1 to `total`.
    pub seqnum: u8,
    /// Where the information came from.
    pub source: ConcatSource,
}

/// The concatenation information of a message part: from the user data header of
/// `user_data` when `esm_class` has UDHI, else from the `sar_*` TLVs; `None` for a message
/// that is not a part. Parts numbered 0 or above their total are not parts (TS 23.040
/// §9.2.3.24.1: such an element is ignored).
pub fn concatenation(esm_class: u8, user_data: &[u8], tlvs: &Tlvs) -> Option<Concatenation> {
    if esm_class & UDHI != 0 {
        if let Some(c) = udh_concatenation(user_data) {
            return Some(c);
        }
    }
    sar_concatenation(tlvs)
}

/// The concatenation element of the user data header at the start of `user_data` (its
/// first octet is the header length, UDHL). The last valid element counts when there are
/// several (TS 23.040 §9.2.3.24: a repeated element's last occurrence is used).
pub fn udh_concatenation(user_data: &[u8]) -> Option<Concatenation> {
    let (&udhl, rest) = user_data.split_first()?;
    let mut header = rest.get(..usize::from(udhl))?;
    let mut found = None;
    while let [iei, len, tail @ ..] = header {
        let Some(data) = tail.get(..usize::from(*len)) else {
            break;
        };
        let part = match (*iei, data) {
            (0x00, &[r, total, seq]) => Some((u16::from(r), total, seq, ConcatSource::Udh8)),
            (0x08, &[r0, r1, total, seq]) => Some((
                u16::from_be_bytes([r0, r1]),
                total,
                seq,
                ConcatSource::Udh16,
            )),
            _ => None,
        };
        if let Some((reference, total, seqnum, source)) = part {
            if let Some(c) = valid(reference, total, seqnum, source) {
                found = Some(c);
            }
        }
        header = &tail[usize::from(*len)..];
    }
    found
}

/// The concatenation information of the `sar_*` TLVs, when all three are present with
/// their sizes (2, 1 and 1 octets).
pub fn sar_concatenation(tlvs: &Tlvs) -> Option<Concatenation> {
    valid(
        tlvs.find_u16(tag::SAR_MSG_REF_NUM)?,
        tlvs.find_u8(tag::SAR_TOTAL_SEGMENTS)?,
        tlvs.find_u8(tag::SAR_SEGMENT_SEQNUM)?,
        ConcatSource::Sar,
    )
}

fn valid(reference: u16, total: u8, seqnum: u8, source: ConcatSource) -> Option<Concatenation> {
    (total >= 1 && (1..=total).contains(&seqnum)).then_some(Concatenation {
        reference,
        total,
        seqnum,
        source,
    })
}

impl SmBody {
    /// The concatenation information of this `submit_sm` or `deliver_sm`: the user data is
    /// the short message, or `message_payload` when the short message is empty.
    pub fn concatenation(&self) -> Option<Concatenation> {
        if self.short_message.is_empty() {
            let payload = self.tlvs.find(tag::MESSAGE_PAYLOAD).unwrap_or_default();
            concatenation(self.esm_class, &payload, &self.tlvs)
        } else {
            concatenation(self.esm_class, &self.short_message, &self.tlvs)
        }
    }
}

impl DataSm {
    /// The concatenation information of this `data_sm` (its user data is `message_payload`).
    pub fn concatenation(&self) -> Option<Concatenation> {
        let payload = self.tlvs.find(tag::MESSAGE_PAYLOAD).unwrap_or_default();
        concatenation(self.esm_class, &payload, &self.tlvs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn udh_with_an_8_bit_reference() {
        // UDHL 5, IEI 0x00, IEDL 3, ref 0xA7, 3 parts, part 2; then text.
        let ud = [0x05, 0x00, 0x03, 0xA7, 0x03, 0x02, b'h', b'i'];
        assert_eq!(
            concatenation(UDHI, &ud, &Tlvs::empty()),
            Some(Concatenation {
                reference: 0xA7,
                total: 3,
                seqnum: 2,
                source: ConcatSource::Udh8
            })
        );
        // Without UDHI the octets are text.
        assert_eq!(concatenation(0, &ud, &Tlvs::empty()), None);
    }

    #[test]
    fn udh_with_a_16_bit_reference_after_another_element() {
        // UDHL 12: port addressing (IEI 0x05, 4 octets), then IEI 0x08 ref 0x1234, 2 of 2.
        let ud = [
            0x0C, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x08, 0x04, 0x12, 0x34, 0x02, 0x02,
        ];
        assert_eq!(
            udh_concatenation(&ud),
            Some(Concatenation {
                reference: 0x1234,
                total: 2,
                seqnum: 2,
                source: ConcatSource::Udh16
            })
        );
    }

    #[test]
    fn malformed_headers_are_not_parts() {
        assert_eq!(udh_concatenation(&[]), None);
        assert_eq!(udh_concatenation(&[0x05, 0x00, 0x03, 0x01]), None); // UDHL past the end
        assert_eq!(udh_concatenation(&[0x03, 0x00, 0x03, 0x01]), None); // element past UDHL
        assert_eq!(
            udh_concatenation(&[0x05, 0x00, 0x03, 0x01, 0x02, 0x00]),
            None
        ); // part 0
        assert_eq!(
            udh_concatenation(&[0x05, 0x00, 0x03, 0x01, 0x02, 0x03]),
            None
        ); // 3 of 2
        assert_eq!(
            udh_concatenation(&[0x05, 0x00, 0x03, 0x01, 0x00, 0x00]),
            None
        ); // 0 parts
        assert_eq!(udh_concatenation(&[0x04, 0x00, 0x02, 0x01, 0x02]), None); // wrong IEDL
    }

    #[test]
    fn sar_tlvs() {
        let tlvs = Tlvs::from_params([
            (tag::SAR_MSG_REF_NUM, &[0x01, 0x02][..]),
            (tag::SAR_TOTAL_SEGMENTS, &[4][..]),
            (tag::SAR_SEGMENT_SEQNUM, &[4][..]),
        ])
        .unwrap();
        let c = concatenation(0, b"text", &tlvs).unwrap();
        assert_eq!((c.reference, c.total, c.seqnum), (0x0102, 4, 4));
        assert_eq!(c.source, ConcatSource::Sar);
        let partial = Tlvs::from_params([(tag::SAR_MSG_REF_NUM, &[0x01, 0x02][..])]).unwrap();
        assert_eq!(sar_concatenation(&partial), None);
        let wrong_size = Tlvs::from_params([
            (tag::SAR_MSG_REF_NUM, &[0x01][..]),
            (tag::SAR_TOTAL_SEGMENTS, &[4][..]),
            (tag::SAR_SEGMENT_SEQNUM, &[1][..]),
        ])
        .unwrap();
        assert_eq!(sar_concatenation(&wrong_size), None);
    }

    #[test]
    fn bodies() {
        let sm = SmBody {
            esm_class: UDHI,
            short_message: Bytes::from_static(&[0x05, 0x00, 0x03, 0x09, 0x02, 0x01, b'a']),
            ..SmBody::default()
        };
        assert_eq!(sm.concatenation().map(|c| c.reference), Some(9));
        let data = DataSm {
            esm_class: UDHI,
            tlvs: Tlvs::from_params([(
                tag::MESSAGE_PAYLOAD,
                &[0x05, 0x00, 0x03, 0x0A, 0x02, 0x02][..],
            )])
            .unwrap(),
            ..DataSm::default()
        };
        assert_eq!(
            data.concatenation().map(|c| (c.reference, c.seqnum)),
            Some((10, 2))
        );
    }
}
