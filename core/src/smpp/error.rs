//! Why a PDU cannot be decoded or encoded, and which SMPP answer each decoding error gets.
//!
//! The answer of each case, with the specification's grounds (SMPP 3.4 §3.2, §4.3, §5.1.3):
//!
//! | error | answer | connection |
//! |---|---|---|
//! | [`DecodeError::HeaderTooShort`], [`DecodeError::LengthMismatch`] (framing lost) | `generic_nack` `ESME_RINVCMDLEN` | closed |
//! | [`DecodeError::UnknownCommand`] | `generic_nack` `ESME_RINVCMDID` | kept |
//! | [`DecodeError::Truncated`]: a field, or a C-Octet String's NUL, missing before the end of the body (`command_length` too short for the body, §4.3) | `generic_nack` `ESME_RINVCMDLEN` | kept: the framing by `command_length` still holds |
//! | [`DecodeError::TrailingOctets`]: octets after the last field of a PDU without optional part (`command_length` too long, §4.3) | `generic_nack` `ESME_RINVCMDLEN` | kept |
//! | [`DecodeError::TooLong`]: a C-Octet String longer than its maximum (§4, §5.2) | the request's response with the field's own status (`ESME_RINVSYSID`, `ESME_RINVSRCADR`, …, else `ESME_RINVPARLEN`) | kept |
//! | [`DecodeError::BadSmLength`]: `sm_length` above 254 or past the end of the body | the request's response with `ESME_RINVMSGLEN` | kept |
//! | [`DecodeError::BadNumberOfDests`], [`DecodeError::BadDestFlag`] (`submit_multi`) | the response with `ESME_RINVNUMDESTS` / `ESME_RINVDESTFLAG` | kept |
//! | [`DecodeError::BadTlvs`]: the optional part is not whole TLVs | the response with `ESME_RINVOPTPARSTREAM` | kept |
//!
//! A PDU without a response of its own (`outbind`, `alert_notification`, and every
//! response) is answered with `generic_nack` and the same status; see
//! [`super::answer_to_invalid`]. The framer's own error, a `command_length` outside its
//! bounds, is [`super::FramingError`].

use super::command::CommandId;
use super::status::CommandStatus;
use super::tlv::TlvError;
use std::fmt;

/// A field of a PDU body (SMPP 3.4 §4, §5.2), named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Field {
    SystemId,
    Password,
    SystemType,
    InterfaceVersion,
    AddrTon,
    AddrNpi,
    AddressRange,
    ServiceType,
    SourceAddrTon,
    SourceAddrNpi,
    SourceAddr,
    DestAddrTon,
    DestAddrNpi,
    DestinationAddr,
    EsmClass,
    ProtocolId,
    PriorityFlag,
    ScheduleDeliveryTime,
    ValidityPeriod,
    RegisteredDelivery,
    ReplaceIfPresentFlag,
    DataCoding,
    SmDefaultMsgId,
    SmLength,
    ShortMessage,
    MessageId,
    NumberOfDests,
    DestFlag,
    DlName,
    NoUnsuccess,
    ErrorStatusCode,
    FinalDate,
    MessageState,
    ErrorCode,
    EsmeAddrTon,
    EsmeAddrNpi,
    EsmeAddr,
}

impl Field {
    /// The specification's name of the field.
    pub fn name(self) -> &'static str {
        match self {
            Field::SystemId => "system_id",
            Field::Password => "password",
            Field::SystemType => "system_type",
            Field::InterfaceVersion => "interface_version",
            Field::AddrTon => "addr_ton",
            Field::AddrNpi => "addr_npi",
            Field::AddressRange => "address_range",
            Field::ServiceType => "service_type",
            Field::SourceAddrTon => "source_addr_ton",
            Field::SourceAddrNpi => "source_addr_npi",
            Field::SourceAddr => "source_addr",
            Field::DestAddrTon => "dest_addr_ton",
            Field::DestAddrNpi => "dest_addr_npi",
            Field::DestinationAddr => "destination_addr",
            Field::EsmClass => "esm_class",
            Field::ProtocolId => "protocol_id",
            Field::PriorityFlag => "priority_flag",
            Field::ScheduleDeliveryTime => "schedule_delivery_time",
            Field::ValidityPeriod => "validity_period",
            Field::RegisteredDelivery => "registered_delivery",
            Field::ReplaceIfPresentFlag => "replace_if_present_flag",
            Field::DataCoding => "data_coding",
            Field::SmDefaultMsgId => "sm_default_msg_id",
            Field::SmLength => "sm_length",
            Field::ShortMessage => "short_message",
            Field::MessageId => "message_id",
            Field::NumberOfDests => "number_of_dests",
            Field::DestFlag => "dest_flag",
            Field::DlName => "dl_name",
            Field::NoUnsuccess => "no_unsuccess",
            Field::ErrorStatusCode => "error_status_code",
            Field::FinalDate => "final_date",
            Field::MessageState => "message_state",
            Field::ErrorCode => "error_code",
            Field::EsmeAddrTon => "esme_addr_ton",
            Field::EsmeAddrNpi => "esme_addr_npi",
            Field::EsmeAddr => "esme_addr",
        }
    }

    /// The status SMPP 3.4 §5.1.3 has for an invalid value of this field;
    /// `ESME_RINVPARLEN` ("invalid parameter length") for a field without its own.
    pub fn status(self) -> CommandStatus {
        match self {
            Field::SystemId => CommandStatus::RINVSYSID,
            Field::Password => CommandStatus::RINVPASWD,
            Field::SystemType => CommandStatus::RINVSYSTYP,
            Field::ServiceType => CommandStatus::RINVSERTYP,
            Field::SourceAddr => CommandStatus::RINVSRCADR,
            Field::DestinationAddr | Field::EsmeAddr => CommandStatus::RINVDSTADR,
            Field::ScheduleDeliveryTime => CommandStatus::RINVSCHED,
            Field::ValidityPeriod => CommandStatus::RINVEXPIRY,
            Field::MessageId => CommandStatus::RINVMSGID,
            Field::DlName => CommandStatus::RINVDLNAME,
            Field::SmLength | Field::ShortMessage => CommandStatus::RINVMSGLEN,
            _ => CommandStatus::RINVPARLEN,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a PDU that cannot be decoded is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// A `generic_nack` (SMPP 3.4 §4.3): the header is unreadable, the `command_id` unknown,
    /// or the `command_length` disagrees with the body.
    GenericNack,
    /// The request's own response (`command_id | 0x80000000`) with the error status; a
    /// `generic_nack` for a PDU that has no response.
    Response,
}

/// Why the octets of a PDU are not a valid SMPP 3.4 PDU. Each error names its answer
/// ([`DecodeError::status`], [`DecodeError::answer_kind`]); see the module documentation
/// for the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer than 16 octets: not even a header (SMPP 3.4 §3.2).
    #[error("{len} octets cannot hold a PDU header")]
    HeaderTooShort {
        /// Octets given.
        len: usize,
    },
    /// `command_length` is not the number of octets of the PDU (decoding octets that did not
    /// come from [`super::Framer`]).
    #[error("command_length {command_length} disagrees with the {len} octets of the PDU")]
    LengthMismatch {
        /// The header's `command_length`.
        command_length: u32,
        /// Octets given.
        len: usize,
    },
    /// A `command_id` SMPP 3.4 does not define (§5.1.2).
    #[error("unknown command_id 0x{:08X}", .0 .0)]
    UnknownCommand(CommandId),
    /// The body ends inside this field: `command_length` is too short for the body.
    #[error("the body ends inside {0}")]
    Truncated(Field),
    /// Octets follow the last field of a PDU that has no optional part.
    #[error("{0} octets after the last field")]
    TrailingOctets(usize),
    /// A C-Octet String without its NUL within its maximum size (SMPP 3.4 §3.1, §4).
    #[error("{field} longer than its maximum of {max} octets")]
    TooLong {
        /// The field.
        field: Field,
        /// Its maximum size, NUL included.
        max: usize,
    },
    /// `sm_length` above 254 (SMPP 3.4 §4.4.1) or past the end of the body.
    #[error("sm_length {0} does not fit the body")]
    BadSmLength(u8),
    /// `number_of_dests` of `submit_multi` is 0 or above 254 (§4.5.1).
    #[error("number_of_dests {0} out of 1..=254")]
    BadNumberOfDests(u8),
    /// `dest_flag` of `submit_multi` is neither 1 (SME address) nor 2 (distribution list)
    /// (§5.2.25).
    #[error("dest_flag {0} is neither 1 nor 2")]
    BadDestFlag(u8),
    /// The optional part is not a sequence of whole TLVs (§3.2.2).
    #[error(transparent)]
    BadTlvs(#[from] TlvError),
}

impl DecodeError {
    /// The `command_status` of the answer (SMPP 3.4 §5.1.3).
    pub fn status(&self) -> CommandStatus {
        match self {
            DecodeError::HeaderTooShort { .. }
            | DecodeError::LengthMismatch { .. }
            | DecodeError::Truncated(_)
            | DecodeError::TrailingOctets(_) => CommandStatus::RINVCMDLEN,
            DecodeError::UnknownCommand(_) => CommandStatus::RINVCMDID,
            DecodeError::TooLong { field, .. } => field.status(),
            DecodeError::BadSmLength(_) => CommandStatus::RINVMSGLEN,
            DecodeError::BadNumberOfDests(_) => CommandStatus::RINVNUMDESTS,
            DecodeError::BadDestFlag(_) => CommandStatus::RINVDESTFLAG,
            DecodeError::BadTlvs(_) => CommandStatus::RINVOPTPARSTREAM,
        }
    }

    /// Whether the answer is a `generic_nack` or the request's response.
    pub fn answer_kind(&self) -> AnswerKind {
        match self {
            DecodeError::HeaderTooShort { .. }
            | DecodeError::LengthMismatch { .. }
            | DecodeError::UnknownCommand(_)
            | DecodeError::Truncated(_)
            | DecodeError::TrailingOctets(_) => AnswerKind::GenericNack,
            DecodeError::TooLong { .. }
            | DecodeError::BadSmLength(_)
            | DecodeError::BadNumberOfDests(_)
            | DecodeError::BadDestFlag(_)
            | DecodeError::BadTlvs(_) => AnswerKind::Response,
        }
    }

    /// True when the PDU boundaries are lost and the connection must be closed after the
    /// answer (SMPP 3.4 §4.3: the data is corrupt).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            DecodeError::HeaderTooShort { .. } | DecodeError::LengthMismatch { .. }
        )
    }
}

/// Why a PDU cannot be encoded: a value that its field cannot carry. Encoding refuses what
/// decoding would refuse, so whatever encodes decodes back to the same value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The value, with its NUL, exceeds the field's maximum (or a short message exceeds 254
    /// octets).
    #[error("{field} longer than its maximum of {max} octets")]
    TooLong {
        /// The field.
        field: Field,
        /// Its maximum size (NUL included for a C-Octet String).
        max: usize,
    },
    /// A C-Octet String value contains a NUL.
    #[error("{0} contains a NUL")]
    ContainsNul(Field),
    /// A list with a count outside what its count field allows (`number_of_dests` 1..=254,
    /// `no_unsuccess` up to 255).
    #[error("{0} out of range")]
    BadCount(Field),
    /// The body is not the body of this `command_id`.
    #[error("this body does not belong to {0}")]
    BodyMismatch(CommandId),
    /// The PDU would exceed the 4-octet `command_length`.
    #[error("PDU too large")]
    TooLarge,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let e = DecodeError::UnknownCommand(CommandId(0x111));
        assert_eq!(e.to_string(), "unknown command_id 0x00000111");
        assert_eq!(e.status(), CommandStatus::RINVCMDID);
        assert_eq!(e.answer_kind(), AnswerKind::GenericNack);
        assert!(!e.closes_connection());
        let e = DecodeError::TooLong {
            field: Field::SystemId,
            max: 16,
        };
        assert_eq!(e.status(), CommandStatus::RINVSYSID);
        assert_eq!(e.answer_kind(), AnswerKind::Response);
        assert_eq!(
            e.to_string(),
            "system_id longer than its maximum of 16 octets"
        );
        assert!(DecodeError::HeaderTooShort { len: 3 }.closes_connection());
        assert_eq!(
            DecodeError::Truncated(Field::Password).status(),
            CommandStatus::RINVCMDLEN
        );
        assert_eq!(
            DecodeError::BadTlvs(TlvError { offset: 0 }).status(),
            CommandStatus::RINVOPTPARSTREAM
        );
    }
}
