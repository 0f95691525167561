//! Whole PDUs: decoding a framed PDU into its header and typed body, encoding one, and
//! the PDUs the balancer writes itself (SMPP 3.4 §4).

use super::body::{Bind, BindResp, Body, SmResp};
use super::command::CommandId;
use super::error::{AnswerKind, DecodeError, EncodeError};
use super::header::{Header, HEADER_LEN};
use super::status::CommandStatus;
use super::tlv::{tag, Tlvs};
use bytes::{BufMut, Bytes, BytesMut};

/// `interface_version` / `sc_interface_version` value of SMPP 3.4 (§5.2.4).
pub const SMPP_3_4: u8 = 0x34;

/// A decoded PDU: the header fields and the typed body. `command_length` is not kept: it is
/// the length of the encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// What the PDU is.
    pub command_id: CommandId,
    /// `ESME_ROK` in requests; the outcome in responses.
    pub command_status: CommandStatus,
    /// Pairs a response with its request (§5.1.4).
    pub sequence_number: u32,
    /// The body.
    pub body: Body,
}

impl Pdu {
    /// Decodes one whole PDU, as [`super::Framer`] yields it. The body's strings and
    /// optional part are slices of `bytes` (nothing is copied); C-Octet Strings are checked
    /// against their maximum sizes (SMPP 3.4 §4, §5.2). A PDU that decodes encodes back to
    /// the same octets. The error names the answer ([`answer_to_invalid`]).
    pub fn decode(bytes: &Bytes) -> Result<Pdu, DecodeError> {
        let header =
            Header::parse(bytes).ok_or(DecodeError::HeaderTooShort { len: bytes.len() })?;
        if usize::try_from(header.command_length).ok() != Some(bytes.len()) {
            return Err(DecodeError::LengthMismatch {
                command_length: header.command_length,
                len: bytes.len(),
            });
        }
        let body = Body::decode(header.command_id, bytes.slice(HEADER_LEN..))?;
        Ok(Pdu {
            command_id: header.command_id,
            command_status: header.command_status,
            sequence_number: header.sequence_number,
            body,
        })
    }

    /// A PDU with this header and body.
    pub fn new(
        command_id: CommandId,
        command_status: CommandStatus,
        sequence_number: u32,
        body: Body,
    ) -> Pdu {
        Pdu {
            command_id,
            command_status,
            sequence_number,
            body,
        }
    }

    /// The octets of this PDU, `command_length` computed. Refuses a body that does not
    /// belong to the `command_id` and field values their decoding would refuse.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        if !self.body.fits(self.command_id) {
            return Err(EncodeError::BodyMismatch(self.command_id));
        }
        let mut out = BytesMut::with_capacity(HEADER_LEN + self.body.size_hint());
        out.put_slice(&[0; 4]);
        out.put_u32(self.command_id.0);
        out.put_u32(self.command_status.0);
        out.put_u32(self.sequence_number);
        self.body.encode(&mut out)?;
        let len = u32::try_from(out.len()).map_err(|_| EncodeError::TooLarge)?;
        out[0..4].copy_from_slice(&len.to_be_bytes());
        Ok(out.freeze())
    }
}

/// A PDU with an empty body.
fn header_only(command_id: CommandId, status: CommandStatus, sequence_number: u32) -> Bytes {
    let h = Header {
        command_length: HEADER_LEN as u32,
        command_id,
        command_status: status,
        sequence_number,
    };
    Bytes::copy_from_slice(&h.to_bytes())
}

/// A `bind_transmitter`, `bind_receiver` or `bind_transceiver` (SMPP 3.4 §4.1.1) carrying
/// `bind`; `command_id` must be one of the three.
pub fn bind(
    command_id: CommandId,
    sequence_number: u32,
    bind: &Bind,
) -> Result<Bytes, EncodeError> {
    Pdu::new(
        command_id,
        CommandStatus::ROK,
        sequence_number,
        Body::Bind(bind.clone()),
    )
    .encode()
}

/// The response to a bind of `bind_command_id` (SMPP 3.4 §4.1.2): `system_id` and, when
/// given, the `sc_interface_version` TLV (§5.3.2.25), which a responder includes when the
/// binder announced interface version 3.4 or later.
pub fn bind_resp(
    bind_command_id: CommandId,
    status: CommandStatus,
    sequence_number: u32,
    system_id: &[u8],
    sc_interface_version: Option<u8>,
) -> Result<Bytes, EncodeError> {
    let tlvs = match sc_interface_version {
        Some(v) => Tlvs::from_params([(tag::SC_INTERFACE_VERSION, &[v][..])])
            .map_err(|_| EncodeError::TooLarge)?,
        None => Tlvs::empty(),
    };
    Pdu::new(
        bind_command_id.response(),
        status,
        sequence_number,
        Body::BindResp(BindResp {
            system_id: Bytes::copy_from_slice(system_id),
            tlvs,
        }),
    )
    .encode()
}

/// An `unbind` (SMPP 3.4 §4.2.1).
pub fn unbind(sequence_number: u32) -> Bytes {
    header_only(CommandId::UNBIND, CommandStatus::ROK, sequence_number)
}

/// An `unbind_resp` (SMPP 3.4 §4.2.2).
pub fn unbind_resp(sequence_number: u32) -> Bytes {
    header_only(CommandId::UNBIND_RESP, CommandStatus::ROK, sequence_number)
}

/// An `enquire_link` (SMPP 3.4 §4.11.1).
pub fn enquire_link(sequence_number: u32) -> Bytes {
    header_only(CommandId::ENQUIRE_LINK, CommandStatus::ROK, sequence_number)
}

/// An `enquire_link_resp` (SMPP 3.4 §4.11.2).
pub fn enquire_link_resp(sequence_number: u32) -> Bytes {
    header_only(
        CommandId::ENQUIRE_LINK_RESP,
        CommandStatus::ROK,
        sequence_number,
    )
}

/// A `generic_nack` (SMPP 3.4 §4.3.1) with `status`, answering the PDU numbered
/// `sequence_number`.
pub fn generic_nack(status: CommandStatus, sequence_number: u32) -> Bytes {
    header_only(CommandId::GENERIC_NACK, status, sequence_number)
}

/// The response to the request `request_id` numbered `sequence_number`, with `status` and
/// the shortest well-formed body (SMPP 3.4 §4): an empty `message_id` for `submit_sm_resp`,
/// `deliver_sm_resp` and `data_sm_resp`; an empty `system_id` for a bind response; an empty
/// `message_id` and no unsuccessful destination for `submit_multi_resp`; empty `message_id`
/// and `final_date` for `query_sm_resp`; nothing otherwise. This is the balancer's answer
/// to a request it refuses or cannot deliver (`ESME_RSYSERR`, `ESME_RTHROTTLED`, …).
///
/// A `request_id` that has no response (unknown, a response itself, `outbind`,
/// `alert_notification`) gets a `generic_nack` with `status` instead.
pub fn response_with_status(
    request_id: CommandId,
    status: CommandStatus,
    sequence_number: u32,
) -> Bytes {
    if !request_id.expects_response() {
        return generic_nack(status, sequence_number);
    }
    let response = request_id.response();
    let tail: &[u8] = match response {
        CommandId::SUBMIT_SM_RESP
        | CommandId::DELIVER_SM_RESP
        | CommandId::DATA_SM_RESP
        | CommandId::BIND_RECEIVER_RESP
        | CommandId::BIND_TRANSMITTER_RESP
        | CommandId::BIND_TRANSCEIVER_RESP => &[0],
        CommandId::SUBMIT_MULTI_RESP => &[0, 0],
        CommandId::QUERY_SM_RESP => &[0, 0, 0, 0],
        _ => &[],
    };
    let h = Header {
        command_length: (HEADER_LEN + tail.len()) as u32,
        command_id: response,
        command_status: status,
        sequence_number,
    };
    let mut out = BytesMut::with_capacity(HEADER_LEN + tail.len());
    out.put_slice(&h.to_bytes());
    out.put_slice(tail);
    out.freeze()
}

/// The one PDU answering `pdu`, which failed to decode with `error` (see
/// [`DecodeError`]'s table): a `generic_nack` when the header is unreadable, the
/// `command_id` unknown or the lengths disagree; otherwise the request's response carrying
/// the error's status, or a `generic_nack` with that status for a PDU that has no response.
/// It carries `pdu`'s sequence number (0 when the header is cut short). Never panics.
///
/// The caller sends it for a request; a response that fails to decode is dropped instead
/// (answering a peer's `generic_nack` with one could loop), and after
/// [`DecodeError::closes_connection`] the connection is closed once it is sent.
pub fn answer_to_invalid(pdu: &[u8], error: &DecodeError) -> Bytes {
    let sequence_number = Header::sequence_number_of(pdu);
    let status = error.status();
    match (error.answer_kind(), Header::parse(pdu)) {
        (AnswerKind::Response, Some(header)) => {
            response_with_status(header.command_id, status, sequence_number)
        }
        _ => generic_nack(status, sequence_number),
    }
}

impl SmResp {
    /// A body with this `message_id` and no optional part.
    pub fn with_message_id(message_id: Bytes) -> SmResp {
        SmResp {
            message_id,
            tlvs: Tlvs::empty(),
        }
    }
}
