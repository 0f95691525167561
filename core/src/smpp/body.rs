//! PDU bodies of SMPP 3.4 §4: typed views over the octets of a PDU, and their encoding.
//!
//! Strings are [`Bytes`] slices of the PDU without their NUL, optional parts are
//! [`Tlvs`] kept byte-exact: decoding copies nothing, and encoding a decoded body gives the
//! octets it came from.

use super::command::CommandId;
use super::error::{DecodeError, EncodeError, Field};
use super::tlv::Tlvs;
use bytes::{BufMut, Bytes, BytesMut};

/// Maximum sizes of the C-Octet String fields, NUL included (SMPP 3.4 §4).
pub mod max {
    /// `system_id` (§4.1.1).
    pub const SYSTEM_ID: usize = 16;
    /// `password` (§4.1.1).
    pub const PASSWORD: usize = 9;
    /// `system_type` (§4.1.1).
    pub const SYSTEM_TYPE: usize = 13;
    /// `address_range` (§4.1.1).
    pub const ADDRESS_RANGE: usize = 41;
    /// `service_type` (§4.4.1).
    pub const SERVICE_TYPE: usize = 6;
    /// `source_addr` / `destination_addr` of `submit_sm`, `deliver_sm`, `submit_multi`,
    /// `query_sm`, `cancel_sm`, `replace_sm` (§4.4.1).
    pub const ADDR: usize = 21;
    /// `source_addr` / `destination_addr` of `data_sm` and the addresses of
    /// `alert_notification` (§4.7.1, §4.12.1).
    pub const LONG_ADDR: usize = 65;
    /// `schedule_delivery_time`, `validity_period`, `final_date` (§7.1).
    pub const TIME: usize = 17;
    /// `message_id` (§4.4.2).
    pub const MESSAGE_ID: usize = 65;
    /// `dl_name` (§4.5.1.1).
    pub const DL_NAME: usize = 21;
    /// `short_message` (§4.4.1: `sm_length` 0 to 254).
    pub const SHORT_MESSAGE: usize = 254;
    /// `number_of_dests` of `submit_multi` (§4.5.1).
    pub const DESTS: usize = 254;
}

/// A type of number, a numbering plan indicator and an address (SMPP 3.4 §5.2.5, §5.2.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// `*_ton`.
    pub ton: u8,
    /// `*_npi`.
    pub npi: u8,
    /// The address, without its NUL.
    pub addr: Bytes,
}

/// Body of `bind_transmitter`, `bind_receiver` and `bind_transceiver` (SMPP 3.4 §4.1.1,
/// §4.1.3, §4.1.5); the header's `command_id` tells which.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bind {
    /// `system_id`: who binds.
    pub system_id: Bytes,
    /// `password`.
    pub password: Bytes,
    /// `system_type`.
    pub system_type: Bytes,
    /// `interface_version` (0x34 for SMPP 3.4, §5.2.4).
    pub interface_version: u8,
    /// `addr_ton`, `addr_npi` and `address_range`.
    pub address_range: Address,
}

/// Body of the three bind responses (SMPP 3.4 §4.1.2, §4.1.4, §4.1.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindResp {
    /// `system_id` of the responder.
    pub system_id: Bytes,
    /// Optional part (`sc_interface_version`).
    pub tlvs: Tlvs,
}

/// Body of `outbind` (SMPP 3.4 §4.1.7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outbind {
    /// `system_id` of the message centre.
    pub system_id: Bytes,
    /// `password`.
    pub password: Bytes,
}

/// Body of `submit_sm` and of `deliver_sm`, which share its layout (SMPP 3.4 §4.4.1,
/// §4.6.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmBody {
    /// `service_type`.
    pub service_type: Bytes,
    /// `source_addr_ton`, `source_addr_npi`, `source_addr`.
    pub source: Address,
    /// `dest_addr_ton`, `dest_addr_npi`, `destination_addr`.
    pub destination: Address,
    /// `esm_class` (§5.2.12): message mode, type (0x04: delivery receipt) and GSM features
    /// (0x40: UDHI, the short message starts with a user data header).
    pub esm_class: u8,
    /// `protocol_id`.
    pub protocol_id: u8,
    /// `priority_flag`.
    pub priority_flag: u8,
    /// `schedule_delivery_time`.
    pub schedule_delivery_time: Bytes,
    /// `validity_period`.
    pub validity_period: Bytes,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// `replace_if_present_flag`.
    pub replace_if_present_flag: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `sm_default_msg_id`.
    pub sm_default_msg_id: u8,
    /// `short_message` (its length is `sm_length`).
    pub short_message: Bytes,
    /// Optional part.
    pub tlvs: Tlvs,
}

/// Body of `submit_sm_resp`, `deliver_sm_resp` and `data_sm_resp` (SMPP 3.4 §4.4.2, §4.6.2,
/// §4.7.2). SMPP 3.4 gives only `data_sm_resp` an optional part; SMPP 5.0 gives one to all
/// three, and providers speaking it send one, so it is accepted (and kept) on all three.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmResp {
    /// `message_id` assigned by the message centre (empty in `deliver_sm_resp`).
    pub message_id: Bytes,
    /// Optional part.
    pub tlvs: Tlvs,
}

/// Body of `data_sm` (SMPP 3.4 §4.7.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataSm {
    /// `service_type`.
    pub service_type: Bytes,
    /// `source_addr_ton`, `source_addr_npi`, `source_addr` (up to 64 characters).
    pub source: Address,
    /// `dest_addr_ton`, `dest_addr_npi`, `destination_addr` (up to 64 characters).
    pub destination: Address,
    /// `esm_class` (§5.2.12).
    pub esm_class: u8,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// Optional part; the user data travels in `message_payload`.
    pub tlvs: Tlvs,
}

/// One destination of `submit_multi` (SMPP 3.4 §4.5.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestAddress {
    /// `dest_flag` 1: an SME address.
    Sme(Address),
    /// `dest_flag` 2: the name of a distribution list (`dl_name`).
    DistributionList(Bytes),
}

/// Body of `submit_multi` (SMPP 3.4 §4.5.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubmitMulti {
    /// `service_type`.
    pub service_type: Bytes,
    /// `source_addr_ton`, `source_addr_npi`, `source_addr`.
    pub source: Address,
    /// The destinations (`number_of_dests`, 1 to 254 of them).
    pub destinations: Vec<DestAddress>,
    /// `esm_class`.
    pub esm_class: u8,
    /// `protocol_id`.
    pub protocol_id: u8,
    /// `priority_flag`.
    pub priority_flag: u8,
    /// `schedule_delivery_time`.
    pub schedule_delivery_time: Bytes,
    /// `validity_period`.
    pub validity_period: Bytes,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// `replace_if_present_flag`.
    pub replace_if_present_flag: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `sm_default_msg_id`.
    pub sm_default_msg_id: u8,
    /// `short_message`.
    pub short_message: Bytes,
    /// Optional part.
    pub tlvs: Tlvs,
}

/// A destination `submit_multi` could not deliver to (SMPP 3.4 §4.5.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnsuccessSme {
    /// `dest_addr_ton`, `dest_addr_npi`, `destination_addr`.
    pub destination: Address,
    /// `error_status_code`: why (a `command_status` value).
    pub error_status_code: u32,
}

/// Body of `submit_multi_resp` (SMPP 3.4 §4.5.2); the optional part is SMPP 5.0's, kept as
/// for [`SmResp`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubmitMultiResp {
    /// `message_id`.
    pub message_id: Bytes,
    /// `no_unsuccess` entries.
    pub unsuccess: Vec<UnsuccessSme>,
    /// Optional part.
    pub tlvs: Tlvs,
}

/// Body of `query_sm` (SMPP 3.4 §4.8.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuerySm {
    /// `message_id`.
    pub message_id: Bytes,
    /// `source_addr_ton`, `source_addr_npi`, `source_addr`.
    pub source: Address,
}

/// Body of `query_sm_resp` (SMPP 3.4 §4.8.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuerySmResp {
    /// `message_id`.
    pub message_id: Bytes,
    /// `final_date`.
    pub final_date: Bytes,
    /// `message_state` (§5.2.28).
    pub message_state: u8,
    /// `error_code`.
    pub error_code: u8,
}

/// Body of `cancel_sm` (SMPP 3.4 §4.9.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CancelSm {
    /// `service_type`.
    pub service_type: Bytes,
    /// `message_id`.
    pub message_id: Bytes,
    /// `source_addr_ton`, `source_addr_npi`, `source_addr`.
    pub source: Address,
    /// `dest_addr_ton`, `dest_addr_npi`, `destination_addr`.
    pub destination: Address,
}

/// Body of `replace_sm` (SMPP 3.4 §4.10.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplaceSm {
    /// `message_id`.
    pub message_id: Bytes,
    /// `source_addr_ton`, `source_addr_npi`, `source_addr`.
    pub source: Address,
    /// `schedule_delivery_time`.
    pub schedule_delivery_time: Bytes,
    /// `validity_period`.
    pub validity_period: Bytes,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// `sm_default_msg_id`.
    pub sm_default_msg_id: u8,
    /// `short_message`.
    pub short_message: Bytes,
}

/// Body of `alert_notification` (SMPP 3.4 §4.12.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertNotification {
    /// `source_addr_ton`, `source_addr_npi`, `source_addr`: the mobile that became available.
    pub source: Address,
    /// `esme_addr_ton`, `esme_addr_npi`, `esme_addr`.
    pub esme: Address,
    /// Optional part (`ms_availability_status`).
    pub tlvs: Tlvs,
}

/// The body of a PDU, by `command_id` (SMPP 3.4 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body: `unbind`, `unbind_resp`, `enquire_link`, `enquire_link_resp`,
    /// `generic_nack`, `cancel_sm_resp`, `replace_sm_resp`; and any response sent with its
    /// header only (SMPP 3.4 §4.4.2: the body is not returned with an error status; some
    /// peers also send `deliver_sm_resp` so).
    Empty,
    /// `bind_transmitter`, `bind_receiver`, `bind_transceiver`.
    Bind(Bind),
    /// The three bind responses.
    BindResp(BindResp),
    /// `outbind`.
    Outbind(Outbind),
    /// `submit_sm`.
    SubmitSm(SmBody),
    /// `deliver_sm`.
    DeliverSm(SmBody),
    /// `submit_sm_resp`, `deliver_sm_resp`, `data_sm_resp`.
    SmResp(SmResp),
    /// `data_sm`.
    DataSm(DataSm),
    /// `submit_multi`.
    SubmitMulti(SubmitMulti),
    /// `submit_multi_resp`.
    SubmitMultiResp(SubmitMultiResp),
    /// `query_sm`.
    QuerySm(QuerySm),
    /// `query_sm_resp`.
    QuerySmResp(QuerySmResp),
    /// `cancel_sm`.
    CancelSm(CancelSm),
    /// `replace_sm`.
    ReplaceSm(ReplaceSm),
    /// `alert_notification`.
    AlertNotification(AlertNotification),
}

/// `command_id`s whose body is empty in SMPP 3.4.
fn has_empty_body(id: CommandId) -> bool {
    matches!(
        id,
        CommandId::UNBIND
            | CommandId::UNBIND_RESP
            | CommandId::ENQUIRE_LINK
            | CommandId::ENQUIRE_LINK_RESP
            | CommandId::GENERIC_NACK
            | CommandId::CANCEL_SM_RESP
            | CommandId::REPLACE_SM_RESP
    )
}

impl Body {
    /// Decodes the body (the octets after the header) of a PDU with this `command_id`.
    /// Linear in the body's length; the fields are slices of `body`.
    pub fn decode(command_id: CommandId, body: Bytes) -> Result<Body, DecodeError> {
        if !command_id.is_known() {
            return Err(DecodeError::UnknownCommand(command_id));
        }
        if body.is_empty() && command_id.is_response() {
            return Ok(Body::Empty);
        }
        let mut r = Reader { buf: body, at: 0 };
        let body = match command_id {
            id if has_empty_body(id) => Body::Empty,
            id if id.is_bind() => Body::Bind(Bind {
                system_id: r.c_octet(Field::SystemId, max::SYSTEM_ID)?,
                password: r.c_octet(Field::Password, max::PASSWORD)?,
                system_type: r.c_octet(Field::SystemType, max::SYSTEM_TYPE)?,
                interface_version: r.u8(Field::InterfaceVersion)?,
                address_range: r.address(
                    [Field::AddrTon, Field::AddrNpi, Field::AddressRange],
                    max::ADDRESS_RANGE,
                )?,
            }),
            id if id.is_bind_resp() => {
                return Ok(Body::BindResp(BindResp {
                    system_id: r.c_octet(Field::SystemId, max::SYSTEM_ID)?,
                    tlvs: r.tlvs()?,
                }))
            }
            CommandId::OUTBIND => Body::Outbind(Outbind {
                system_id: r.c_octet(Field::SystemId, max::SYSTEM_ID)?,
                password: r.c_octet(Field::Password, max::PASSWORD)?,
            }),
            CommandId::SUBMIT_SM => return Ok(Body::SubmitSm(r.sm_body()?)),
            CommandId::DELIVER_SM => return Ok(Body::DeliverSm(r.sm_body()?)),
            CommandId::SUBMIT_SM_RESP | CommandId::DELIVER_SM_RESP | CommandId::DATA_SM_RESP => {
                return Ok(Body::SmResp(SmResp {
                    message_id: r.c_octet(Field::MessageId, max::MESSAGE_ID)?,
                    tlvs: r.tlvs()?,
                }))
            }
            CommandId::DATA_SM => {
                return Ok(Body::DataSm(DataSm {
                    service_type: r.c_octet(Field::ServiceType, max::SERVICE_TYPE)?,
                    source: r.source(max::LONG_ADDR)?,
                    destination: r.destination(max::LONG_ADDR)?,
                    esm_class: r.u8(Field::EsmClass)?,
                    registered_delivery: r.u8(Field::RegisteredDelivery)?,
                    data_coding: r.u8(Field::DataCoding)?,
                    tlvs: r.tlvs()?,
                }))
            }
            CommandId::SUBMIT_MULTI => return Ok(Body::SubmitMulti(r.submit_multi()?)),
            CommandId::SUBMIT_MULTI_RESP => {
                let message_id = r.c_octet(Field::MessageId, max::MESSAGE_ID)?;
                let n = r.u8(Field::NoUnsuccess)?;
                let mut unsuccess = Vec::with_capacity(usize::from(n).min(r.remaining() / 8));
                for _ in 0..n {
                    unsuccess.push(UnsuccessSme {
                        destination: r.destination(max::ADDR)?,
                        error_status_code: r.u32(Field::ErrorStatusCode)?,
                    });
                }
                return Ok(Body::SubmitMultiResp(SubmitMultiResp {
                    message_id,
                    unsuccess,
                    tlvs: r.tlvs()?,
                }));
            }
            CommandId::QUERY_SM => Body::QuerySm(QuerySm {
                message_id: r.c_octet(Field::MessageId, max::MESSAGE_ID)?,
                source: r.source(max::ADDR)?,
            }),
            CommandId::QUERY_SM_RESP => Body::QuerySmResp(QuerySmResp {
                message_id: r.c_octet(Field::MessageId, max::MESSAGE_ID)?,
                final_date: r.c_octet(Field::FinalDate, max::TIME)?,
                message_state: r.u8(Field::MessageState)?,
                error_code: r.u8(Field::ErrorCode)?,
            }),
            CommandId::CANCEL_SM => Body::CancelSm(CancelSm {
                service_type: r.c_octet(Field::ServiceType, max::SERVICE_TYPE)?,
                message_id: r.c_octet(Field::MessageId, max::MESSAGE_ID)?,
                source: r.source(max::ADDR)?,
                destination: r.destination(max::ADDR)?,
            }),
            CommandId::REPLACE_SM => Body::ReplaceSm(ReplaceSm {
                message_id: r.c_octet(Field::MessageId, max::MESSAGE_ID)?,
                source: r.source(max::ADDR)?,
                schedule_delivery_time: r.c_octet(Field::ScheduleDeliveryTime, max::TIME)?,
                validity_period: r.c_octet(Field::ValidityPeriod, max::TIME)?,
                registered_delivery: r.u8(Field::RegisteredDelivery)?,
                sm_default_msg_id: r.u8(Field::SmDefaultMsgId)?,
                short_message: r.short_message()?,
            }),
            CommandId::ALERT_NOTIFICATION => {
                return Ok(Body::AlertNotification(AlertNotification {
                    source: r.source(max::LONG_ADDR)?,
                    esme: r.address(
                        [Field::EsmeAddrTon, Field::EsmeAddrNpi, Field::EsmeAddr],
                        max::LONG_ADDR,
                    )?,
                    tlvs: r.tlvs()?,
                }))
            }
            other => return Err(DecodeError::UnknownCommand(other)),
        };
        r.end()?;
        Ok(body)
    }

    /// True when this body can be sent with `command_id`: [`Body::Empty`] fits every
    /// response and the requests without a body; the others fit their commands.
    pub fn fits(&self, command_id: CommandId) -> bool {
        match self {
            Body::Empty => {
                command_id.is_known() && (command_id.is_response() || has_empty_body(command_id))
            }
            Body::Bind(_) => command_id.is_bind(),
            Body::BindResp(_) => command_id.is_bind_resp(),
            Body::Outbind(_) => command_id == CommandId::OUTBIND,
            Body::SubmitSm(_) => command_id == CommandId::SUBMIT_SM,
            Body::DeliverSm(_) => command_id == CommandId::DELIVER_SM,
            Body::SmResp(_) => matches!(
                command_id,
                CommandId::SUBMIT_SM_RESP | CommandId::DELIVER_SM_RESP | CommandId::DATA_SM_RESP
            ),
            Body::DataSm(_) => command_id == CommandId::DATA_SM,
            Body::SubmitMulti(_) => command_id == CommandId::SUBMIT_MULTI,
            Body::SubmitMultiResp(_) => command_id == CommandId::SUBMIT_MULTI_RESP,
            Body::QuerySm(_) => command_id == CommandId::QUERY_SM,
            Body::QuerySmResp(_) => command_id == CommandId::QUERY_SM_RESP,
            Body::CancelSm(_) => command_id == CommandId::CANCEL_SM,
            Body::ReplaceSm(_) => command_id == CommandId::REPLACE_SM,
            Body::AlertNotification(_) => command_id == CommandId::ALERT_NOTIFICATION,
        }
    }

    /// Appends the body's octets to `out`, checking each field against what its decoding
    /// accepts.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let mut w = Writer { out };
        match self {
            Body::Empty => {}
            Body::Bind(b) => {
                w.c_octet(Field::SystemId, max::SYSTEM_ID, &b.system_id)?;
                w.c_octet(Field::Password, max::PASSWORD, &b.password)?;
                w.c_octet(Field::SystemType, max::SYSTEM_TYPE, &b.system_type)?;
                w.u8(b.interface_version);
                w.address(Field::AddressRange, max::ADDRESS_RANGE, &b.address_range)?;
            }
            Body::BindResp(b) => {
                w.c_octet(Field::SystemId, max::SYSTEM_ID, &b.system_id)?;
                w.tlvs(&b.tlvs);
            }
            Body::Outbind(b) => {
                w.c_octet(Field::SystemId, max::SYSTEM_ID, &b.system_id)?;
                w.c_octet(Field::Password, max::PASSWORD, &b.password)?;
            }
            Body::SubmitSm(b) | Body::DeliverSm(b) => w.sm_body(b)?,
            Body::SmResp(b) => {
                w.c_octet(Field::MessageId, max::MESSAGE_ID, &b.message_id)?;
                w.tlvs(&b.tlvs);
            }
            Body::DataSm(b) => {
                w.c_octet(Field::ServiceType, max::SERVICE_TYPE, &b.service_type)?;
                w.address(Field::SourceAddr, max::LONG_ADDR, &b.source)?;
                w.address(Field::DestinationAddr, max::LONG_ADDR, &b.destination)?;
                w.u8(b.esm_class);
                w.u8(b.registered_delivery);
                w.u8(b.data_coding);
                w.tlvs(&b.tlvs);
            }
            Body::SubmitMulti(b) => w.submit_multi(b)?,
            Body::SubmitMultiResp(b) => {
                w.c_octet(Field::MessageId, max::MESSAGE_ID, &b.message_id)?;
                let n = u8::try_from(b.unsuccess.len())
                    .map_err(|_| EncodeError::BadCount(Field::NoUnsuccess))?;
                w.u8(n);
                for u in &b.unsuccess {
                    w.address(Field::DestinationAddr, max::ADDR, &u.destination)?;
                    w.out.put_u32(u.error_status_code);
                }
                w.tlvs(&b.tlvs);
            }
            Body::QuerySm(b) => {
                w.c_octet(Field::MessageId, max::MESSAGE_ID, &b.message_id)?;
                w.address(Field::SourceAddr, max::ADDR, &b.source)?;
            }
            Body::QuerySmResp(b) => {
                w.c_octet(Field::MessageId, max::MESSAGE_ID, &b.message_id)?;
                w.c_octet(Field::FinalDate, max::TIME, &b.final_date)?;
                w.u8(b.message_state);
                w.u8(b.error_code);
            }
            Body::CancelSm(b) => {
                w.c_octet(Field::ServiceType, max::SERVICE_TYPE, &b.service_type)?;
                w.c_octet(Field::MessageId, max::MESSAGE_ID, &b.message_id)?;
                w.address(Field::SourceAddr, max::ADDR, &b.source)?;
                w.address(Field::DestinationAddr, max::ADDR, &b.destination)?;
            }
            Body::ReplaceSm(b) => {
                w.c_octet(Field::MessageId, max::MESSAGE_ID, &b.message_id)?;
                w.address(Field::SourceAddr, max::ADDR, &b.source)?;
                w.c_octet(
                    Field::ScheduleDeliveryTime,
                    max::TIME,
                    &b.schedule_delivery_time,
                )?;
                w.c_octet(Field::ValidityPeriod, max::TIME, &b.validity_period)?;
                w.u8(b.registered_delivery);
                w.u8(b.sm_default_msg_id);
                w.short_message(&b.short_message)?;
            }
            Body::AlertNotification(b) => {
                w.address(Field::SourceAddr, max::LONG_ADDR, &b.source)?;
                w.address(Field::EsmeAddr, max::LONG_ADDR, &b.esme)?;
                w.tlvs(&b.tlvs);
            }
        }
        Ok(())
    }

    /// Octets [`Body::encode`] writes, close enough to size a buffer.
    pub(super) fn size_hint(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::SubmitSm(b) | Body::DeliverSm(b) => {
                64 + b.short_message.len() + b.tlvs.as_bytes().len()
            }
            Body::DataSm(b) => 64 + b.tlvs.as_bytes().len(),
            Body::SmResp(b) => 1 + b.message_id.len() + b.tlvs.as_bytes().len(),
            Body::BindResp(b) => 1 + b.system_id.len() + b.tlvs.as_bytes().len(),
            _ => 96,
        }
    }
}

/// Reads the fields of a body in order.
struct Reader {
    buf: Bytes,
    at: usize,
}

impl Reader {
    fn remaining(&self) -> usize {
        self.buf.len() - self.at
    }

    fn u8(&mut self, field: Field) -> Result<u8, DecodeError> {
        let v = *self.buf.get(self.at).ok_or(DecodeError::Truncated(field))?;
        self.at += 1;
        Ok(v)
    }

    fn u32(&mut self, field: Field) -> Result<u32, DecodeError> {
        let Some(&[a, b, c, d]) = self.buf.get(self.at..self.at + 4) else {
            return Err(DecodeError::Truncated(field));
        };
        self.at += 4;
        Ok(u32::from_be_bytes([a, b, c, d]))
    }

    /// A C-Octet String of at most `max` octets, NUL included (SMPP 3.4 §3.1). Only its
    /// first `max` octets are looked at: without a NUL among them the string is too long,
    /// unless the body ends first.
    fn c_octet(&mut self, field: Field, max: usize) -> Result<Bytes, DecodeError> {
        let window = &self.buf[self.at..];
        let window = &window[..window.len().min(max)];
        match memchr::memchr(0, window) {
            Some(len) => {
                let s = self.buf.slice(self.at..self.at + len);
                self.at += len + 1;
                Ok(s)
            }
            None if window.len() == max => Err(DecodeError::TooLong { field, max }),
            None => Err(DecodeError::Truncated(field)),
        }
    }

    fn address(&mut self, fields: [Field; 3], max: usize) -> Result<Address, DecodeError> {
        Ok(Address {
            ton: self.u8(fields[0])?,
            npi: self.u8(fields[1])?,
            addr: self.c_octet(fields[2], max)?,
        })
    }

    fn source(&mut self, max: usize) -> Result<Address, DecodeError> {
        self.address(
            [
                Field::SourceAddrTon,
                Field::SourceAddrNpi,
                Field::SourceAddr,
            ],
            max,
        )
    }

    fn destination(&mut self, max: usize) -> Result<Address, DecodeError> {
        self.address(
            [
                Field::DestAddrTon,
                Field::DestAddrNpi,
                Field::DestinationAddr,
            ],
            max,
        )
    }

    /// `sm_length` and `short_message` (SMPP 3.4 §4.4.1: 0 to 254 octets).
    fn short_message(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u8(Field::SmLength)?;
        if usize::from(len) > max::SHORT_MESSAGE || usize::from(len) > self.remaining() {
            return Err(DecodeError::BadSmLength(len));
        }
        let sm = self.buf.slice(self.at..self.at + usize::from(len));
        self.at += usize::from(len);
        Ok(sm)
    }

    /// The rest of the body as the optional part.
    fn tlvs(self) -> Result<Tlvs, DecodeError> {
        Ok(Tlvs::new(self.buf.slice(self.at..))?)
    }

    /// The body must end here.
    fn end(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingOctets(n)),
        }
    }

    fn sm_body(mut self) -> Result<SmBody, DecodeError> {
        Ok(SmBody {
            service_type: self.c_octet(Field::ServiceType, max::SERVICE_TYPE)?,
            source: self.source(max::ADDR)?,
            destination: self.destination(max::ADDR)?,
            esm_class: self.u8(Field::EsmClass)?,
            protocol_id: self.u8(Field::ProtocolId)?,
            priority_flag: self.u8(Field::PriorityFlag)?,
            schedule_delivery_time: self.c_octet(Field::ScheduleDeliveryTime, max::TIME)?,
            validity_period: self.c_octet(Field::ValidityPeriod, max::TIME)?,
            registered_delivery: self.u8(Field::RegisteredDelivery)?,
            replace_if_present_flag: self.u8(Field::ReplaceIfPresentFlag)?,
            data_coding: self.u8(Field::DataCoding)?,
            sm_default_msg_id: self.u8(Field::SmDefaultMsgId)?,
            short_message: self.short_message()?,
            tlvs: self.tlvs()?,
        })
    }

    fn submit_multi(mut self) -> Result<SubmitMulti, DecodeError> {
        let service_type = self.c_octet(Field::ServiceType, max::SERVICE_TYPE)?;
        let source = self.source(max::ADDR)?;
        let n = self.u8(Field::NumberOfDests)?;
        if n == 0 || usize::from(n) > max::DESTS {
            return Err(DecodeError::BadNumberOfDests(n));
        }
        let mut destinations = Vec::with_capacity(usize::from(n).min(self.remaining() / 2));
        for _ in 0..n {
            destinations.push(match self.u8(Field::DestFlag)? {
                1 => DestAddress::Sme(self.destination(max::ADDR)?),
                2 => DestAddress::DistributionList(self.c_octet(Field::DlName, max::DL_NAME)?),
                flag => return Err(DecodeError::BadDestFlag(flag)),
            });
        }
        Ok(SubmitMulti {
            service_type,
            source,
            destinations,
            esm_class: self.u8(Field::EsmClass)?,
            protocol_id: self.u8(Field::ProtocolId)?,
            priority_flag: self.u8(Field::PriorityFlag)?,
            schedule_delivery_time: self.c_octet(Field::ScheduleDeliveryTime, max::TIME)?,
            validity_period: self.c_octet(Field::ValidityPeriod, max::TIME)?,
            registered_delivery: self.u8(Field::RegisteredDelivery)?,
            replace_if_present_flag: self.u8(Field::ReplaceIfPresentFlag)?,
            data_coding: self.u8(Field::DataCoding)?,
            sm_default_msg_id: self.u8(Field::SmDefaultMsgId)?,
            short_message: self.short_message()?,
            tlvs: self.tlvs()?,
        })
    }
}

/// Writes the fields of a body in order, refusing values their decoding would refuse.
struct Writer<'a> {
    out: &'a mut BytesMut,
}

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.out.put_u8(v);
    }

    fn c_octet(&mut self, field: Field, max: usize, v: &[u8]) -> Result<(), EncodeError> {
        if v.len() >= max {
            return Err(EncodeError::TooLong { field, max });
        }
        if memchr::memchr(0, v).is_some() {
            return Err(EncodeError::ContainsNul(field));
        }
        self.out.put_slice(v);
        self.out.put_u8(0);
        Ok(())
    }

    fn address(&mut self, field: Field, max: usize, a: &Address) -> Result<(), EncodeError> {
        self.u8(a.ton);
        self.u8(a.npi);
        self.c_octet(field, max, &a.addr)
    }

    fn short_message(&mut self, sm: &[u8]) -> Result<(), EncodeError> {
        let len = u8::try_from(sm.len())
            .ok()
            .filter(|&l| usize::from(l) <= max::SHORT_MESSAGE)
            .ok_or(EncodeError::TooLong {
                field: Field::ShortMessage,
                max: max::SHORT_MESSAGE,
            })?;
        self.u8(len);
        self.out.put_slice(sm);
        Ok(())
    }

    fn tlvs(&mut self, tlvs: &Tlvs) {
        self.out.put_slice(tlvs.as_bytes());
    }

    fn sm_body(&mut self, b: &SmBody) -> Result<(), EncodeError> {
        self.c_octet(Field::ServiceType, max::SERVICE_TYPE, &b.service_type)?;
        self.address(Field::SourceAddr, max::ADDR, &b.source)?;
        self.address(Field::DestinationAddr, max::ADDR, &b.destination)?;
        self.u8(b.esm_class);
        self.u8(b.protocol_id);
        self.u8(b.priority_flag);
        self.c_octet(
            Field::ScheduleDeliveryTime,
            max::TIME,
            &b.schedule_delivery_time,
        )?;
        self.c_octet(Field::ValidityPeriod, max::TIME, &b.validity_period)?;
        self.u8(b.registered_delivery);
        self.u8(b.replace_if_present_flag);
        self.u8(b.data_coding);
        self.u8(b.sm_default_msg_id);
        self.short_message(&b.short_message)?;
        self.tlvs(&b.tlvs);
        Ok(())
    }

    fn submit_multi(&mut self, b: &SubmitMulti) -> Result<(), EncodeError> {
        self.c_octet(Field::ServiceType, max::SERVICE_TYPE, &b.service_type)?;
        self.address(Field::SourceAddr, max::ADDR, &b.source)?;
        let n = u8::try_from(b.destinations.len())
            .ok()
            .filter(|&n| n > 0 && usize::from(n) <= max::DESTS)
            .ok_or(EncodeError::BadCount(Field::NumberOfDests))?;
        self.u8(n);
        for d in &b.destinations {
            match d {
                DestAddress::Sme(a) => {
                    self.u8(1);
                    self.address(Field::DestinationAddr, max::ADDR, a)?;
                }
                DestAddress::DistributionList(name) => {
                    self.u8(2);
                    self.c_octet(Field::DlName, max::DL_NAME, name)?;
                }
            }
        }
        self.u8(b.esm_class);
        self.u8(b.protocol_id);
        self.u8(b.priority_flag);
        self.c_octet(
            Field::ScheduleDeliveryTime,
            max::TIME,
            &b.schedule_delivery_time,
        )?;
        self.c_octet(Field::ValidityPeriod, max::TIME, &b.validity_period)?;
        self.u8(b.registered_delivery);
        self.u8(b.replace_if_present_flag);
        self.u8(b.data_coding);
        self.u8(b.sm_default_msg_id);
        self.short_message(&b.short_message)?;
        self.tlvs(&b.tlvs);
        Ok(())
    }
}
