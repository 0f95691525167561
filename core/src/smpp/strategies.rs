//! Proptest strategies generating valid PDUs of every kind of SMPP 3.4 §4, for the
//! property tests and the differential test.

use super::tlv::tag;
use super::*;
use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};

/// What the generated PDUs may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chars {
    /// Everything the codec accepts: C-Octet Strings of any octet but NUL.
    AnyButNul,
    /// What the differential test's oracle (an SMPP 5.0 decoder) accepts too: printable
    /// ASCII strings, as SMPP 3.4 §3.1 describes C-Octet Strings; `data_sm` addresses of
    /// up to 20 characters (SMPP 3.4 §4.7.1 allows 64, the oracle 20); on
    /// `alert_notification` only the `ms_availability_status` parameter.
    Printable,
}

fn chars(c: Chars) -> BoxedStrategy<u8> {
    match c {
        Chars::AnyButNul => (1u8..=255).boxed(),
        Chars::Printable => (0x20u8..0x7F).boxed(),
    }
}

/// A C-Octet String value (without its NUL) fitting a field of `max` octets.
fn text(c: Chars, max: usize) -> BoxedStrategy<Bytes> {
    prop_oneof![
        1 => Just(Bytes::new()),
        1 => vec(chars(c), max - 1).prop_map(Bytes::from),
        4 => vec(chars(c), 0..max).prop_map(Bytes::from),
    ]
    .boxed()
}

/// An absolute or relative time (§7.1.1) or NULL: 16 characters, or none.
fn time() -> BoxedStrategy<Bytes> {
    prop_oneof![
        Just(Bytes::new()),
        (
            vec(b'0'..=b'9', 15),
            prop::sample::select(vec![b'+', b'-', b'R'])
        )
            .prop_map(|(mut digits, p)| {
                digits.push(p);
                Bytes::from(digits)
            }),
    ]
    .boxed()
}

fn octets(max: usize) -> BoxedStrategy<Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from).boxed()
}

fn address(c: Chars, max: usize) -> BoxedStrategy<Address> {
    (any::<u8>(), any::<u8>(), text(c, max))
        .prop_map(|(ton, npi, addr)| Address { ton, npi, addr })
        .boxed()
}

/// One optional parameter with a value of the size its tag has (§5.3.2), or a vendor tag
/// (0x1400–0x3FFF) with any value.
fn tlv_param() -> BoxedStrategy<(u16, Vec<u8>)> {
    prop_oneof![
        any::<[u8; 2]>().prop_map(|v| (tag::SAR_MSG_REF_NUM, v.to_vec())),
        (1u8..=255).prop_map(|v| (tag::SAR_TOTAL_SEGMENTS, vec![v])),
        (1u8..=255).prop_map(|v| (tag::SAR_SEGMENT_SEQNUM, vec![v])),
        any::<[u8; 2]>().prop_map(|v| (tag::USER_MESSAGE_REFERENCE, v.to_vec())),
        vec(any::<u8>(), 0..300).prop_map(|v| (tag::MESSAGE_PAYLOAD, v)),
        vec(0x20u8..0x7F, 0..65).prop_map(|mut v| {
            v.push(0);
            (tag::RECEIPTED_MESSAGE_ID, v)
        }),
        (0x1400u16..=0x3FFF, vec(any::<u8>(), 0..40)),
    ]
    .boxed()
}

fn tlvs() -> BoxedStrategy<Tlvs> {
    vec(tlv_param(), 0..4)
        .prop_map(|params| {
            Tlvs::from_params(params.iter().map(|(t, v)| (*t, &v[..]))).unwrap_or_default()
        })
        .boxed()
}

/// `sc_interface_version` or nothing, as bind responses carry.
fn bind_resp_tlvs() -> BoxedStrategy<Tlvs> {
    prop_oneof![
        Just(Tlvs::empty()),
        any::<u8>().prop_map(
            |v| Tlvs::from_params([(tag::SC_INTERFACE_VERSION, &[v][..])]).unwrap_or_default()
        ),
    ]
    .boxed()
}

fn bind(c: Chars) -> BoxedStrategy<Body> {
    (
        text(c, max::SYSTEM_ID),
        text(c, max::PASSWORD),
        text(c, max::SYSTEM_TYPE),
        any::<u8>(),
        address(c, max::ADDRESS_RANGE),
    )
        .prop_map(
            |(system_id, password, system_type, interface_version, address_range)| {
                Body::Bind(Bind {
                    system_id,
                    password,
                    system_type,
                    interface_version,
                    address_range,
                })
            },
        )
        .boxed()
}

fn sm_body(c: Chars) -> BoxedStrategy<SmBody> {
    (
        (
            text(c, max::SERVICE_TYPE),
            address(c, max::ADDR),
            address(c, max::ADDR),
            any::<[u8; 3]>(),
        ),
        (time(), time(), any::<[u8; 4]>()),
        (octets(max::SHORT_MESSAGE), tlvs()),
    )
        .prop_map(
            |((service_type, source, destination, a), (sched, validity, b), (sm, tlvs))| SmBody {
                service_type,
                source,
                destination,
                esm_class: a[0],
                protocol_id: a[1],
                priority_flag: a[2],
                schedule_delivery_time: sched,
                validity_period: validity,
                registered_delivery: b[0],
                replace_if_present_flag: b[1],
                data_coding: b[2],
                sm_default_msg_id: b[3],
                short_message: sm,
                tlvs,
            },
        )
        .boxed()
}

fn submit_multi(c: Chars) -> BoxedStrategy<Body> {
    let dest = prop_oneof![
        address(c, max::ADDR).prop_map(DestAddress::Sme),
        text(c, max::DL_NAME).prop_map(DestAddress::DistributionList),
    ];
    (sm_body(c), vec(dest, 1..6))
        .prop_map(|(b, destinations)| {
            Body::SubmitMulti(SubmitMulti {
                service_type: b.service_type,
                source: b.source,
                destinations,
                esm_class: b.esm_class,
                protocol_id: b.protocol_id,
                priority_flag: b.priority_flag,
                schedule_delivery_time: b.schedule_delivery_time,
                validity_period: b.validity_period,
                registered_delivery: b.registered_delivery,
                replace_if_present_flag: b.replace_if_present_flag,
                data_coding: b.data_coding,
                sm_default_msg_id: b.sm_default_msg_id,
                short_message: b.short_message,
                tlvs: b.tlvs,
            })
        })
        .boxed()
}

/// A body fitting `id` (a known `command_id`).
fn body_for(c: Chars, id: CommandId) -> BoxedStrategy<Body> {
    let message_id = move || text(c, max::MESSAGE_ID);
    let data_sm_addr = match c {
        Chars::AnyButNul => max::LONG_ADDR,
        Chars::Printable => max::ADDR,
    };
    let alert_tlvs = match c {
        Chars::AnyButNul => tlvs(),
        Chars::Printable => prop_oneof![
            Just(Tlvs::empty()),
            (0u8..3).prop_map(
                |v| Tlvs::from_params([(tag::MS_AVAILABILITY_STATUS, &[v][..])])
                    .unwrap_or_default()
            ),
        ]
        .boxed(),
    };
    match id {
        id if id.is_bind() => bind(c),
        id if id.is_bind_resp() => (text(c, max::SYSTEM_ID), bind_resp_tlvs())
            .prop_map(|(system_id, tlvs)| Body::BindResp(BindResp { system_id, tlvs }))
            .boxed(),
        CommandId::OUTBIND => (text(c, max::SYSTEM_ID), text(c, max::PASSWORD))
            .prop_map(|(system_id, password)| {
                Body::Outbind(Outbind {
                    system_id,
                    password,
                })
            })
            .boxed(),
        CommandId::SUBMIT_SM => sm_body(c).prop_map(Body::SubmitSm).boxed(),
        CommandId::DELIVER_SM => sm_body(c).prop_map(Body::DeliverSm).boxed(),
        CommandId::SUBMIT_SM_RESP | CommandId::DELIVER_SM_RESP => message_id()
            .prop_map(|m| Body::SmResp(SmResp::with_message_id(m)))
            .boxed(),
        CommandId::DATA_SM_RESP => (message_id(), tlvs())
            .prop_map(|(message_id, tlvs)| Body::SmResp(SmResp { message_id, tlvs }))
            .boxed(),
        CommandId::DATA_SM => (
            text(c, max::SERVICE_TYPE),
            address(c, data_sm_addr),
            address(c, data_sm_addr),
            any::<[u8; 3]>(),
            tlvs(),
        )
            .prop_map(|(service_type, source, destination, a, tlvs)| {
                Body::DataSm(DataSm {
                    service_type,
                    source,
                    destination,
                    esm_class: a[0],
                    registered_delivery: a[1],
                    data_coding: a[2],
                    tlvs,
                })
            })
            .boxed(),
        CommandId::SUBMIT_MULTI => submit_multi(c),
        CommandId::SUBMIT_MULTI_RESP => {
            let unsuccess = (address(c, max::ADDR), any::<u32>()).prop_map(
                |(destination, error_status_code)| UnsuccessSme {
                    destination,
                    error_status_code,
                },
            );
            (message_id(), vec(unsuccess, 0..4))
                .prop_map(|(message_id, unsuccess)| {
                    Body::SubmitMultiResp(SubmitMultiResp {
                        message_id,
                        unsuccess,
                        tlvs: Tlvs::empty(),
                    })
                })
                .boxed()
        }
        CommandId::QUERY_SM => (message_id(), address(c, max::ADDR))
            .prop_map(|(message_id, source)| Body::QuerySm(QuerySm { message_id, source }))
            .boxed(),
        CommandId::QUERY_SM_RESP => (message_id(), time(), any::<[u8; 2]>())
            .prop_map(|(message_id, final_date, a)| {
                Body::QuerySmResp(QuerySmResp {
                    message_id,
                    final_date,
                    message_state: a[0],
                    error_code: a[1],
                })
            })
            .boxed(),
        CommandId::CANCEL_SM => (
            text(c, max::SERVICE_TYPE),
            message_id(),
            address(c, max::ADDR),
            address(c, max::ADDR),
        )
            .prop_map(|(service_type, message_id, source, destination)| {
                Body::CancelSm(CancelSm {
                    service_type,
                    message_id,
                    source,
                    destination,
                })
            })
            .boxed(),
        CommandId::REPLACE_SM => (
            message_id(),
            address(c, max::ADDR),
            time(),
            time(),
            any::<[u8; 2]>(),
            octets(max::SHORT_MESSAGE),
        )
            .prop_map(|(message_id, source, sched, validity, a, sm)| {
                Body::ReplaceSm(ReplaceSm {
                    message_id,
                    source,
                    schedule_delivery_time: sched,
                    validity_period: validity,
                    registered_delivery: a[0],
                    sm_default_msg_id: a[1],
                    short_message: sm,
                })
            })
            .boxed(),
        CommandId::ALERT_NOTIFICATION => (
            address(c, max::LONG_ADDR),
            address(c, max::LONG_ADDR),
            alert_tlvs,
        )
            .prop_map(|(source, esme, tlvs)| {
                Body::AlertNotification(AlertNotification { source, esme, tlvs })
            })
            .boxed(),
        _ => Just(Body::Empty).boxed(),
    }
}

/// A valid PDU of any of the 27 commands of SMPP 3.4, with any status and sequence number.
pub(super) fn pdu(c: Chars) -> BoxedStrategy<Pdu> {
    let arms: Vec<BoxedStrategy<Pdu>> = CommandId::ALL
        .iter()
        .map(|&id| {
            (body_for(c, id), any::<u32>(), any::<u32>())
                .prop_map(move |(body, status, seq)| Pdu::new(id, CommandStatus(status), seq, body))
                .boxed()
        })
        .collect();
    Union::new(arms).boxed()
}
