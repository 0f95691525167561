//! Delivery receipts: which submitted message a `deliver_sm` or `data_sm` reports on.
//!
//! A message centre returns a receipt for a message submitted with `registered_delivery`
//! set as a `deliver_sm` (or `data_sm`) whose `esm_class` says "MC delivery receipt"
//! (SMPP 3.4 §5.2.12) and which names the message either in the `receipted_message_id`
//! TLV (§5.3.2.12) or, as many centres do, in the text of the short message, in the format
//! of SMPP 3.4 Appendix B: `id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done
//! date:YYMMDDhhmm stat:DDDDDDD err:E Text: …`. The mux mode routes the receipt back to the
//! customer that submitted the message with this id.

use super::body::{DataSm, SmBody};
use super::tlv::{tag, Tlvs};
use bytes::Bytes;

/// Message type bits of `esm_class` (SMPP 3.4 §5.2.12, bits 5–2).
const MESSAGE_TYPE_MASK: u8 = 0x3C;
/// Message type "MC delivery receipt".
const DELIVERY_RECEIPT: u8 = 0x04;
/// Message type "intermediate delivery notification".
const INTERMEDIATE_NOTIFICATION: u8 = 0x20;

/// Longest message id accepted from a receipt's text: the 64 characters a `message_id`
/// holds (§4.4.2).
const MAX_ID: usize = 64;

/// True when `esm_class` marks a delivery receipt or an intermediate delivery notification
/// (SMPP 3.4 §5.2.12: message type 0001 or 1000 in bits 5–2).
pub fn is_delivery_receipt(esm_class: u8) -> bool {
    matches!(
        esm_class & MESSAGE_TYPE_MASK,
        DELIVERY_RECEIPT | INTERMEDIATE_NOTIFICATION
    )
}

/// The id of the message a receipt reports on: the `receipted_message_id` TLV (up to its
/// NUL) when present and not empty, else the `id:` field of the receipt text in `text`
/// (Appendix B): the characters after the first `id:` that starts the text or follows a
/// space (any case), up to the next space or NUL; an empty id is none. The id is returned as
/// written, hexadecimal or decimal; a slice of the PDU.
pub fn receipted_message_id(tlvs: &Tlvs, text: &Bytes) -> Option<Bytes> {
    if let Some(id) = tlvs.find_c_octet(tag::RECEIPTED_MESSAGE_ID) {
        if !id.is_empty() {
            return Some(id);
        }
    }
    id_in_text(text)
}

/// The `id:` field of an Appendix B receipt text.
fn id_in_text(text: &Bytes) -> Option<Bytes> {
    let t = &text[..];
    let start = (0..t.len().saturating_sub(2))
        .find(|&i| (i == 0 || t[i - 1] == b' ') && t[i..i + 3].eq_ignore_ascii_case(b"id:"))?
        + 3;
    let len = t[start..]
        .iter()
        .take_while(|&&c| c != b' ' && c != 0)
        .count();
    (1..=MAX_ID)
        .contains(&len)
        .then(|| text.slice(start..start + len))
}

impl SmBody {
    /// For a `deliver_sm` that is a delivery receipt ([`is_delivery_receipt`]), the id of
    /// the message it reports on ([`receipted_message_id`]; the text is the short message,
    /// or `message_payload` when the short message is empty).
    pub fn receipted_message_id(&self) -> Option<Bytes> {
        if !is_delivery_receipt(self.esm_class) {
            return None;
        }
        let text = if self.short_message.is_empty() {
            self.tlvs.find(tag::MESSAGE_PAYLOAD).unwrap_or_default()
        } else {
            self.short_message.clone()
        };
        receipted_message_id(&self.tlvs, &text)
    }
}

impl DataSm {
    /// For a `data_sm` that is a delivery receipt, the id of the message it reports on
    /// (the TLV, else the text in `message_payload`).
    pub fn receipted_message_id(&self) -> Option<Bytes> {
        if !is_delivery_receipt(self.esm_class) {
            return None;
        }
        let text = self.tlvs.find(tag::MESSAGE_PAYLOAD).unwrap_or_default();
        receipted_message_id(&self.tlvs, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn esm_class_message_types() {
        assert!(is_delivery_receipt(0x04));
        assert!(is_delivery_receipt(0x44)); // with UDHI
        assert!(is_delivery_receipt(0x20));
        assert!(!is_delivery_receipt(0x00));
        assert!(!is_delivery_receipt(0x08)); // SME delivery acknowledgement
        assert!(!is_delivery_receipt(0x40));
    }

    #[test]
    fn id_from_the_appendix_b_text() {
        let t = text("id:0123456789 sub:001 dlvrd:001 submit date:0610191018 done date:0610191018 stat:DELIVRD err:000 Text:Hello");
        assert_eq!(
            receipted_message_id(&Tlvs::empty(), &t).as_deref(),
            Some(&b"0123456789"[..])
        );
        let t = text("ID:7ab3f0 sub:001 stat:DELIVRD");
        assert_eq!(
            receipted_message_id(&Tlvs::empty(), &t).as_deref(),
            Some(&b"7ab3f0"[..])
        );
        let t = text("id:42\0 sub:001");
        assert_eq!(
            receipted_message_id(&Tlvs::empty(), &t).as_deref(),
            Some(&b"42"[..])
        );
        // `id:` must start a word: `msgid:` is not it.
        assert_eq!(
            receipted_message_id(&Tlvs::empty(), &text("msgid:5 x")),
            None
        );
        assert_eq!(
            receipted_message_id(&Tlvs::empty(), &text("msgid:5 id:6")).as_deref(),
            Some(&b"6"[..])
        );
        assert_eq!(
            receipted_message_id(&Tlvs::empty(), &text("id: sub:1")),
            None
        );
        assert_eq!(receipted_message_id(&Tlvs::empty(), &text("id:")), None);
        assert_eq!(receipted_message_id(&Tlvs::empty(), &text("i")), None);
        assert_eq!(receipted_message_id(&Tlvs::empty(), &text("")), None);
    }

    #[test]
    fn the_tlv_wins_over_the_text() {
        let tlvs = Tlvs::from_params([(tag::RECEIPTED_MESSAGE_ID, &b"ABC123\0"[..])]).unwrap();
        assert_eq!(
            receipted_message_id(&tlvs, &text("id:999 stat:DELIVRD")).as_deref(),
            Some(&b"ABC123"[..])
        );
        let empty = Tlvs::from_params([(tag::RECEIPTED_MESSAGE_ID, &b"\0"[..])]).unwrap();
        assert_eq!(
            receipted_message_id(&empty, &text("id:999 stat:DELIVRD")).as_deref(),
            Some(&b"999"[..])
        );
    }

    #[test]
    fn bodies() {
        let mut sm = SmBody {
            esm_class: 0x04,
            short_message: text("id:77 stat:DELIVRD"),
            ..SmBody::default()
        };
        assert_eq!(sm.receipted_message_id().as_deref(), Some(&b"77"[..]));
        sm.esm_class = 0;
        assert_eq!(sm.receipted_message_id(), None);
        sm.esm_class = 0x04;
        sm.short_message = Bytes::new();
        sm.tlvs = Tlvs::from_params([(tag::MESSAGE_PAYLOAD, &b"id:88 stat:UNDELIV"[..])]).unwrap();
        assert_eq!(sm.receipted_message_id().as_deref(), Some(&b"88"[..]));
        let data = DataSm {
            esm_class: 0x04,
            tlvs: sm.tlvs.clone(),
            ..DataSm::default()
        };
        assert_eq!(data.receipted_message_id().as_deref(), Some(&b"88"[..]));
    }
}
