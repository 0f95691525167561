//! The SMPP 3.4 codec: framing, PDUs, sequence numbers, receipts and concatenation.
//!
//! - [`Framer`] cuts a connection's octets into PDUs by their `command_length` (SMPP 3.4
//!   §3.2), zero-copy when a PDU lies in one buffer; a `command_length` outside
//!   `16..=max_pdu` loses the framing ([`FramingError`]: answer `generic_nack`
//!   `ESME_RINVCMDLEN`, then close).
//! - [`Header::parse`] reads the 16-octet header, all the hot path needs to route a PDU;
//!   [`Pdu::decode`] gives the typed [`Body`] of every PDU of §4 (strings are slices of the
//!   PDU, optional parameters are kept byte-exact as [`Tlvs`]) and [`Pdu::encode`] writes
//!   one; a decoded PDU encodes back to the same octets.
//! - A PDU that does not decode gets exactly one answer, [`answer_to_invalid`]; each
//!   [`DecodeError`] names it (the table is in [`DecodeError`]'s module documentation).
//! - The balancer's own PDUs: [`bind`], [`bind_resp`], [`unbind`], [`unbind_resp`],
//!   [`enquire_link`], [`enquire_link_resp`], [`generic_nack`], [`response_with_status`].
//! - [`with_sequence_number`] and [`with_command_status`] rewrite four octets of a PDU;
//!   [`SequenceCounter`] hands out sequence numbers 1..=0x7FFFFFFF and wraps to 1 (§5.1.4).
//! - [`receipted_message_id`] and [`concatenation`] find what the mux mode routes on: the
//!   message a delivery receipt reports on, and the long message a part belongs to.
//!
//! ```
//! use bytes::Bytes;
//! use switchboard_core::smpp::{self, Body, CommandId, Framer, Pdu};
//! let mut framer = Framer::default();
//! framer.feed(smpp::enquire_link(7));
//! let raw = framer.poll().unwrap().unwrap();
//! let pdu = Pdu::decode(&raw).unwrap();
//! assert_eq!((pdu.command_id, pdu.sequence_number, pdu.body), (CommandId::ENQUIRE_LINK, 7, Body::Empty));
//! let renumbered = smpp::with_sequence_number(raw, 42);
//! assert_eq!(smpp::Header::parse(&renumbered).unwrap().sequence_number, 42);
//! ```

mod body;
mod command;
mod concat;
mod error;
mod framer;
mod header;
mod pdu;
mod receipt;
mod sequence;
mod status;
pub mod tlv;

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod strategies;
#[cfg(test)]
mod tests;

pub use body::{
    max, Address, AlertNotification, Bind, BindResp, Body, CancelSm, DataSm, DestAddress, Outbind,
    QuerySm, QuerySmResp, ReplaceSm, SmBody, SmResp, SubmitMulti, SubmitMultiResp, UnsuccessSme,
};
pub use command::{CommandId, RESPONSE_BIT};
pub use concat::{
    concatenation, sar_concatenation, udh_concatenation, ConcatSource, Concatenation, UDHI,
};
pub use error::{AnswerKind, DecodeError, EncodeError, Field};
pub use framer::{Framer, FramingError, DEFAULT_MAX_PDU};
pub use header::{is_valid_sequence_number, Header, HEADER_LEN, MAX_SEQUENCE_NUMBER};
pub use pdu::{
    answer_to_invalid, bind, bind_resp, enquire_link, enquire_link_resp, generic_nack,
    response_with_status, unbind, unbind_resp, Pdu, SMPP_3_4,
};
pub use receipt::{is_delivery_receipt, receipted_message_id};
pub use sequence::{with_command_status, with_sequence_number, SequenceCounter};
pub use status::CommandStatus;
pub use tlv::{Tlv, TlvError, Tlvs};
