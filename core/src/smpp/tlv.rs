//! Optional parameters (TLVs, SMPP 3.4 §3.2.2, §5.3), kept byte-exact.
//!
//! The balancer forwards bodies it does not change, so the optional part of a PDU is kept
//! as the octets received: [`Tlvs`] is a checked slice of the PDU, and its tags and values
//! are read on demand without copying.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// The TLV tags of SMPP 3.4 §5.3.2.
pub mod tag {
    /// `dest_addr_subunit` (§5.3.2.1).
    pub const DEST_ADDR_SUBUNIT: u16 = 0x0005;
    /// `dest_network_type` (§5.3.2.3).
    pub const DEST_NETWORK_TYPE: u16 = 0x0006;
    /// `dest_bearer_type` (§5.3.2.5).
    pub const DEST_BEARER_TYPE: u16 = 0x0007;
    /// `dest_telematics_id` (§5.3.2.7).
    pub const DEST_TELEMATICS_ID: u16 = 0x0008;
    /// `source_addr_subunit` (§5.3.2.2).
    pub const SOURCE_ADDR_SUBUNIT: u16 = 0x000D;
    /// `source_network_type` (§5.3.2.4).
    pub const SOURCE_NETWORK_TYPE: u16 = 0x000E;
    /// `source_bearer_type` (§5.3.2.6).
    pub const SOURCE_BEARER_TYPE: u16 = 0x000F;
    /// `source_telematics_id` (§5.3.2.8).
    pub const SOURCE_TELEMATICS_ID: u16 = 0x0010;
    /// `qos_time_to_live` (§5.3.2.9).
    pub const QOS_TIME_TO_LIVE: u16 = 0x0017;
    /// `payload_type` (§5.3.2.10).
    pub const PAYLOAD_TYPE: u16 = 0x0019;
    /// `additional_status_info_text` (§5.3.2.11).
    pub const ADDITIONAL_STATUS_INFO_TEXT: u16 = 0x001D;
    /// `receipted_message_id` (§5.3.2.12): the message a delivery receipt is about.
    pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
    /// `ms_msg_wait_facilities` (§5.3.2.13).
    pub const MS_MSG_WAIT_FACILITIES: u16 = 0x0030;
    /// `privacy_indicator` (§5.3.2.14).
    pub const PRIVACY_INDICATOR: u16 = 0x0201;
    /// `source_subaddress` (§5.3.2.15).
    pub const SOURCE_SUBADDRESS: u16 = 0x0202;
    /// `dest_subaddress` (§5.3.2.16).
    pub const DEST_SUBADDRESS: u16 = 0x0203;
    /// `user_message_reference` (§5.3.2.17).
    pub const USER_MESSAGE_REFERENCE: u16 = 0x0204;
    /// `user_response_code` (§5.3.2.18).
    pub const USER_RESPONSE_CODE: u16 = 0x0205;
    /// `source_port` (§5.3.2.20).
    pub const SOURCE_PORT: u16 = 0x020A;
    /// `destination_port` (§5.3.2.21).
    pub const DESTINATION_PORT: u16 = 0x020B;
    /// `sar_msg_ref_num` (§5.3.2.22): reference of a concatenated message, 2 octets.
    pub const SAR_MSG_REF_NUM: u16 = 0x020C;
    /// `language_indicator` (§5.3.2.19).
    pub const LANGUAGE_INDICATOR: u16 = 0x020D;
    /// `sar_total_segments` (§5.3.2.23): parts in the concatenated message, 1 octet.
    pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
    /// `sar_segment_seqnum` (§5.3.2.24): this part's number, from 1, 1 octet.
    pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
    /// `sc_interface_version` (§5.3.2.25): the SMPP version of the responder of a bind.
    pub const SC_INTERFACE_VERSION: u16 = 0x0210;
    /// `callback_num_pres_ind` (§5.3.2.37).
    pub const CALLBACK_NUM_PRES_IND: u16 = 0x0302;
    /// `callback_num_atag` (§5.3.2.38).
    pub const CALLBACK_NUM_ATAG: u16 = 0x0303;
    /// `number_of_messages` (§5.3.2.39).
    pub const NUMBER_OF_MESSAGES: u16 = 0x0304;
    /// `callback_num` (§5.3.2.36).
    pub const CALLBACK_NUM: u16 = 0x0381;
    /// `dpf_result` (§5.3.2.28).
    pub const DPF_RESULT: u16 = 0x0420;
    /// `set_dpf` (§5.3.2.29).
    pub const SET_DPF: u16 = 0x0421;
    /// `ms_availability_status` (§5.3.2.30).
    pub const MS_AVAILABILITY_STATUS: u16 = 0x0422;
    /// `network_error_code` (§5.3.2.31).
    pub const NETWORK_ERROR_CODE: u16 = 0x0423;
    /// `message_payload` (§5.3.2.32): user data longer than `short_message` allows.
    pub const MESSAGE_PAYLOAD: u16 = 0x0424;
    /// `delivery_failure_reason` (§5.3.2.33).
    pub const DELIVERY_FAILURE_REASON: u16 = 0x0425;
    /// `more_messages_to_send` (§5.3.2.34).
    pub const MORE_MESSAGES_TO_SEND: u16 = 0x0426;
    /// `message_state` (§5.3.2.35).
    pub const MESSAGE_STATE: u16 = 0x0427;
    /// `ussd_service_op` (§5.3.2.44).
    pub const USSD_SERVICE_OP: u16 = 0x0501;
    /// `display_time` (§5.3.2.26).
    pub const DISPLAY_TIME: u16 = 0x1201;
    /// `sms_signal` (§5.3.2.40).
    pub const SMS_SIGNAL: u16 = 0x1203;
    /// `ms_validity` (§5.3.2.27).
    pub const MS_VALIDITY: u16 = 0x1204;
    /// `alert_on_message_delivery` (§5.3.2.41).
    pub const ALERT_ON_MESSAGE_DELIVERY: u16 = 0x130C;
    /// `its_reply_type` (§5.3.2.42).
    pub const ITS_REPLY_TYPE: u16 = 0x1380;
    /// `its_session_info` (§5.3.2.43).
    pub const ITS_SESSION_INFO: u16 = 0x1383;
}

/// The optional part of a body is not a sequence of whole TLVs (SMPP 3.4 §3.2.2:
/// `ESME_RINVOPTPARSTREAM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed optional parameter at octet {offset} of the optional part")]
pub struct TlvError {
    /// Where the TLV that does not fit begins, from the start of the optional part.
    pub offset: usize,
}

/// One optional parameter: a tag and its value (the length is the value's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The parameter tag (see [`tag`]).
    pub tag: u16,
    /// The value octets, a slice of the PDU.
    pub value: Bytes,
}

/// The optional parameters of a PDU, as received: a sequence of whole TLVs (tag, length,
/// value; SMPP 3.4 §3.2.2, §5.3.1), checked once and then read without copying. Encoding a
/// body writes these octets unchanged, so forwarding keeps unknown and vendor parameters.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Tlvs(Bytes);

impl Tlvs {
    /// No optional parameters.
    pub fn empty() -> Tlvs {
        Tlvs(Bytes::new())
    }

    /// Checks that `raw` is a sequence of whole TLVs and keeps it as is. Linear in its
    /// length.
    pub fn new(raw: Bytes) -> Result<Tlvs, TlvError> {
        let mut at = 0;
        while at < raw.len() {
            let Some(&[_, _, hi, lo]) = raw.get(at..at + 4) else {
                return Err(TlvError { offset: at });
            };
            let end = at + 4 + usize::from(u16::from_be_bytes([hi, lo]));
            if end > raw.len() {
                return Err(TlvError { offset: at });
            }
            at = end;
        }
        Ok(Tlvs(raw))
    }

    /// Builds the octets of `params`, in order. Values longer than 65 535 octets do not fit
    /// a TLV and are refused.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (u16, &'a [u8])>,
    ) -> Result<Tlvs, TlvError> {
        let mut out = BytesMut::new();
        for (tag, value) in params {
            let len = u16::try_from(value.len()).map_err(|_| TlvError { offset: out.len() })?;
            out.put_u16(tag);
            out.put_u16(len);
            out.put_slice(value);
        }
        Ok(Tlvs(out.freeze()))
    }

    /// The octets of the optional part, exactly as received.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// True when there are no optional parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The parameters in order.
    pub fn iter(&self) -> TlvIter<'_> {
        TlvIter {
            raw: &self.0,
            at: 0,
        }
    }

    /// The value of the first parameter with `tag` (SMPP 3.4 §3.2.2 allows each at most
    /// once; a repeated one is kept but not looked at).
    pub fn find(&self, tag: u16) -> Option<Bytes> {
        self.iter().find(|t| t.tag == tag).map(|t| t.value)
    }

    /// The value of `tag` read as a 1-octet integer, when it has exactly one octet.
    pub fn find_u8(&self, tag: u16) -> Option<u8> {
        match *self.find(tag)? {
            [v] => Some(v),
            _ => None,
        }
    }

    /// The value of `tag` read as a 2-octet big-endian integer, when it has exactly two
    /// octets.
    pub fn find_u16(&self, tag: u16) -> Option<u16> {
        match *self.find(tag)? {
            [hi, lo] => Some(u16::from_be_bytes([hi, lo])),
            _ => None,
        }
    }

    /// The value of `tag` read as a C-Octet String: the octets before its first NUL (all of
    /// them when it has none).
    pub fn find_c_octet(&self, tag: u16) -> Option<Bytes> {
        let v = self.find(tag)?;
        let end = memchr::memchr(0, &v).unwrap_or(v.len());
        Some(v.slice(..end))
    }
}

impl fmt::Debug for Tlvs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|t| (format!("0x{:04X}", t.tag), t.value)))
            .finish()
    }
}

/// The parameters of a [`Tlvs`], in order.
#[derive(Debug)]
pub struct TlvIter<'a> {
    raw: &'a Bytes,
    at: usize,
}

impl Iterator for TlvIter<'_> {
    type Item = Tlv;

    fn next(&mut self) -> Option<Tlv> {
        // `Tlvs::new` checked that the octets are whole TLVs.
        let &[t0, t1, l0, l1] = self.raw.get(self.at..self.at + 4)? else {
            return None;
        };
        let start = self.at + 4;
        let end = start + usize::from(u16::from_be_bytes([l0, l1]));
        if end > self.raw.len() {
            return None;
        }
        self.at = end;
        Some(Tlv {
            tag: u16::from_be_bytes([t0, t1]),
            value: self.raw.slice(start..end),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_and_reads_the_optional_part() {
        let raw = Bytes::from_static(&[
            0x02, 0x0C, 0x00, 0x02, 0x12, 0x34, // sar_msg_ref_num 0x1234
            0x02, 0x0E, 0x00, 0x01, 0x03, // sar_total_segments 3
            0x00, 0x1E, 0x00, 0x04, b'a', b'b', b'c', 0x00, // receipted_message_id "abc"
            0x14, 0x00, 0x00, 0x00, // a vendor tag, empty value
        ]);
        let tlvs = Tlvs::new(raw.clone()).unwrap();
        assert_eq!(tlvs.as_bytes(), &raw);
        assert_eq!(tlvs.iter().count(), 4);
        assert_eq!(tlvs.find_u16(tag::SAR_MSG_REF_NUM), Some(0x1234));
        assert_eq!(tlvs.find_u8(tag::SAR_TOTAL_SEGMENTS), Some(3));
        assert_eq!(tlvs.find_u8(tag::SAR_MSG_REF_NUM), None);
        assert_eq!(
            tlvs.find_c_octet(tag::RECEIPTED_MESSAGE_ID).as_deref(),
            Some(&b"abc"[..])
        );
        assert_eq!(tlvs.find(0x1400).as_deref(), Some(&b""[..]));
        assert_eq!(tlvs.find(tag::MESSAGE_PAYLOAD), None);
        let rebuilt = Tlvs::from_params(
            tlvs.iter()
                .map(|t| (t.tag, t.value.to_vec()))
                .collect::<Vec<_>>()
                .iter()
                .map(|(t, v)| (*t, &v[..])),
        )
        .unwrap();
        assert_eq!(rebuilt, tlvs);
    }

    #[test]
    fn refuses_partial_parameters() {
        assert_eq!(
            Tlvs::new(Bytes::from_static(&[0x02, 0x0C, 0x00])),
            Err(TlvError { offset: 0 })
        );
        assert_eq!(
            Tlvs::new(Bytes::from_static(&[
                0x02, 0x0E, 0x00, 0x01, 0x03, 0x02, 0x0C, 0x00, 0x02, 0x12
            ])),
            Err(TlvError { offset: 5 })
        );
        assert!(Tlvs::from_params([(1u16, &vec![0u8; 65_536][..])]).is_err());
        assert!(Tlvs::new(Bytes::new()).unwrap().is_empty());
    }
}
