//! Decoding and encoding each PDU of SMPP 3.4 §4 against octets written from the
//! specification's tables; the answers to invalid PDUs; the framer.

use super::*;
use bytes::Bytes;

/// A PDU from its header fields and body octets, `command_length` computed.
fn raw(id: u32, status: u32, seq: u32, body: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(16 + body.len());
    v.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&status.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(body);
    Bytes::from(v)
}

/// Decodes, checks that encoding gives the same octets back, returns the PDU.
fn round_trip(bytes: &Bytes) -> Pdu {
    let pdu = Pdu::decode(bytes).unwrap_or_else(|e| panic!("{e}: {bytes:02X?}"));
    assert_eq!(&pdu.encode().unwrap(), bytes, "re-encoding changed {pdu:?}");
    pdu
}

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

#[test]
fn bind_transmitter_of_section_4_1_1() {
    // command_length 47, bind_transmitter, ESME_ROK, sequence 1; system_id "SMPP3TEST",
    // password "secret08", system_type "SUBMIT1", interface_version 0x34, addr_ton 1,
    // addr_npi 1, address_range NULL.
    let bytes = b(
        b"\x00\x00\x00\x2F\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01\
        SMPP3TEST\x00secret08\x00SUBMIT1\x00\x34\x01\x01\x00",
    );
    let pdu = round_trip(&bytes);
    assert_eq!(pdu.command_id, CommandId::BIND_TRANSMITTER);
    assert_eq!(pdu.command_status, CommandStatus::ROK);
    assert_eq!(pdu.sequence_number, 1);
    let Body::Bind(bind) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(bind.system_id, b(b"SMPP3TEST"));
    assert_eq!(bind.password, b(b"secret08"));
    assert_eq!(bind.system_type, b(b"SUBMIT1"));
    assert_eq!(bind.interface_version, SMPP_3_4);
    assert_eq!(
        bind.address_range,
        Address {
            ton: 1,
            npi: 1,
            addr: Bytes::new()
        }
    );
    // Zero-copy: the fields are slices of the PDU.
    let inside = bytes.as_ptr_range();
    assert!(inside.contains(&bind.system_id.as_ptr()));
    // The builder writes the same octets.
    assert_eq!(
        super::bind(CommandId::BIND_TRANSMITTER, 1, bind).unwrap(),
        bytes
    );
    // The same body as bind_receiver and bind_transceiver.
    for id in [CommandId::BIND_RECEIVER, CommandId::BIND_TRANSCEIVER] {
        let other = raw(id.0, 0, 9, &bytes[16..]);
        assert_eq!(round_trip(&other).body, pdu.body);
    }
}

#[test]
fn bind_resp_with_sc_interface_version() {
    // bind_transceiver_resp, ESME_ROK, sequence 5, system_id "loadbalancer",
    // sc_interface_version (0x0210) 0x34.
    let bytes = b(
        b"\x00\x00\x00\x22\x80\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00\x05\
        loadbalancer\x00\x02\x10\x00\x01\x34",
    );
    assert_eq!(
        bind_resp(
            CommandId::BIND_TRANSCEIVER,
            CommandStatus::ROK,
            5,
            b"loadbalancer",
            Some(SMPP_3_4)
        )
        .unwrap(),
        bytes
    );
    let pdu = round_trip(&bytes);
    let Body::BindResp(resp) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(resp.system_id, b(b"loadbalancer"));
    assert_eq!(
        resp.tlvs.find_u8(tlv::tag::SC_INTERFACE_VERSION),
        Some(0x34)
    );
    // Without the TLV, and as an error.
    let plain = bind_resp(
        CommandId::BIND_RECEIVER,
        CommandStatus::RINVPASWD,
        6,
        b"smsc",
        None,
    )
    .unwrap();
    assert_eq!(
        plain,
        b(b"\x00\x00\x00\x15\x80\x00\x00\x01\x00\x00\x00\x0E\x00\x00\x00\x06smsc\x00")
    );
    // A bind_resp sent as a header only decodes to an empty body.
    let header_only = raw(0x8000_0002, 0x0D, 3, b"");
    assert_eq!(round_trip(&header_only).body, Body::Empty);
    assert!(bind_resp(
        CommandId::BIND_RECEIVER,
        CommandStatus::ROK,
        1,
        b"sixteen-octets-x",
        None
    )
    .is_err());
}

#[test]
fn header_only_pdus() {
    let cases: [(Bytes, CommandId, u32); 5] = [
        (unbind(2), CommandId::UNBIND, 0),
        (unbind_resp(2), CommandId::UNBIND_RESP, 0),
        (enquire_link(2), CommandId::ENQUIRE_LINK, 0),
        (enquire_link_resp(2), CommandId::ENQUIRE_LINK_RESP, 0),
        (
            generic_nack(CommandStatus::RINVCMDID, 2),
            CommandId::GENERIC_NACK,
            3,
        ),
    ];
    for (bytes, id, status) in cases {
        assert_eq!(bytes, raw(id.0, status, 2, b""));
        let pdu = round_trip(&bytes);
        assert_eq!(
            (pdu.command_id, pdu.command_status.0, pdu.body),
            (id, status, Body::Empty)
        );
    }
    assert_eq!(
        &enquire_link(0x0102_0304)[..],
        b"\x00\x00\x00\x10\x00\x00\x00\x15\x00\x00\x00\x00\x01\x02\x03\x04"
    );
}

/// The body of a `submit_sm` (§4.4.1): service_type "CMT", source 1/1 "447700900001",
/// destination 1/1 "447700900002", esm_class 0x40 (UDHI), protocol_id 0, priority 1,
/// schedule NULL, validity "000001000000000R", registered_delivery 1, replace 0,
/// data_coding 0, sm_default_msg_id 0, sm_length 9: a concatenation UDH (ref 0x2A, part 1
/// of 2) and "Hi!", then sar_msg_ref_num 0x0007 and a vendor TLV 0x1401 "xy".
const SUBMIT_SM_BODY: &[u8] = b"CMT\x00\x01\x01447700900001\x00\x01\x01447700900002\x00\
    \x40\x00\x01\x00000001000000000R\x00\x01\x00\x00\x00\
    \x09\x05\x00\x03\x2A\x02\x01Hi!\
    \x02\x0C\x00\x02\x00\x07\x14\x01\x00\x02xy";

#[test]
fn submit_sm_of_section_4_4_1() {
    let bytes = raw(0x0000_0004, 0, 0x7FFF_FFFF, SUBMIT_SM_BODY);
    let pdu = round_trip(&bytes);
    let Body::SubmitSm(sm) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(sm.service_type, b(b"CMT"));
    assert_eq!(
        sm.source,
        Address {
            ton: 1,
            npi: 1,
            addr: b(b"447700900001")
        }
    );
    assert_eq!(sm.destination.addr, b(b"447700900002"));
    assert_eq!(sm.esm_class, 0x40);
    assert_eq!(sm.priority_flag, 1);
    assert_eq!(sm.schedule_delivery_time, Bytes::new());
    assert_eq!(sm.validity_period, b(b"000001000000000R"));
    assert_eq!(sm.registered_delivery, 1);
    assert_eq!(sm.short_message, b(b"\x05\x00\x03\x2A\x02\x01Hi!"));
    assert_eq!(
        sm.tlvs.iter().map(|t| t.tag).collect::<Vec<_>>(),
        [0x020C, 0x1401]
    );
    assert_eq!(sm.tlvs.find(0x1401), Some(b(b"xy")));
    // The UDH wins over the (incomplete) sar TLVs.
    let c = sm.concatenation().unwrap();
    assert_eq!(
        (c.reference, c.total, c.seqnum, c.source),
        (0x2A, 2, 1, ConcatSource::Udh8)
    );
    // deliver_sm has the same layout (§4.6.1).
    let deliver = raw(0x0000_0005, 0, 1, SUBMIT_SM_BODY);
    assert_eq!(round_trip(&deliver).body, Body::DeliverSm(sm.clone()));
}

#[test]
fn responses_with_a_message_id() {
    // submit_sm_resp (§4.4.2): message_id "0A1B2C".
    let bytes = raw(0x8000_0004, 0, 7, b"0A1B2C\x00");
    let pdu = round_trip(&bytes);
    assert_eq!(
        pdu.body,
        Body::SmResp(SmResp::with_message_id(b(b"0A1B2C")))
    );
    // deliver_sm_resp (§4.6.2): message_id NULL.
    let pdu = round_trip(&raw(0x8000_0005, 0, 7, b"\x00"));
    assert_eq!(pdu.body, Body::SmResp(SmResp::default()));
    // data_sm_resp (§4.7.2) with delivery_failure_reason 2.
    let pdu = round_trip(&raw(0x8000_0103, 0xFE, 7, b"m1\x00\x04\x25\x00\x01\x02"));
    let Body::SmResp(resp) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(
        resp.tlvs.find_u8(tlv::tag::DELIVERY_FAILURE_REASON),
        Some(2)
    );
    // An error response without its body (§4.4.2).
    assert_eq!(
        round_trip(&raw(0x8000_0004, 0x45, 7, b"")).body,
        Body::Empty
    );
    // A message_id of 65 octets (64 characters and NUL) fits; 66 does not.
    let mut long = vec![b'9'; 64];
    long.push(0);
    round_trip(&raw(0x8000_0004, 0, 1, &long));
    long.insert(0, b'9');
    assert_eq!(
        Pdu::decode(&raw(0x8000_0004, 0, 1, &long)),
        Err(DecodeError::TooLong {
            field: Field::MessageId,
            max: 65
        })
    );
}

#[test]
fn delivery_receipt_in_deliver_sm() {
    let text = b"id:1234567890 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 Text:Hello";
    let mut body =
        b"\x00\x01\x01447700900002\x00\x05\x00447700900001\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00"
            .to_vec();
    body.push(text.len() as u8);
    body.extend_from_slice(text);
    let pdu = round_trip(&raw(0x0000_0005, 0, 3, &body));
    let Body::DeliverSm(sm) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert!(is_delivery_receipt(sm.esm_class));
    assert_eq!(sm.receipted_message_id(), Some(b(b"1234567890")));
    // With receipted_message_id (§5.3.2.12) the TLV is used.
    let mut with_tlv = body.clone();
    with_tlv.extend_from_slice(b"\x00\x1E\x00\x05ab12\x00");
    let pdu = round_trip(&raw(0x0000_0005, 0, 3, &with_tlv));
    let Body::DeliverSm(sm) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(sm.receipted_message_id(), Some(b(b"ab12")));
}

#[test]
fn data_sm_of_section_4_7_1() {
    // service_type NULL, source 0/0 "12345", destination 1/1 "a"×64 (the long form), esm_class
    // 0x04, registered_delivery 0, data_coding 8; message_payload "id:9 stat:DELIVRD".
    let mut body = b"\x00\x00\x0012345\x00\x01\x01".to_vec();
    body.extend_from_slice(&[b'a'; 64]);
    body.extend_from_slice(b"\x00\x04\x00\x08\x04\x24\x00\x11id:9 stat:DELIVRD");
    let pdu = round_trip(&raw(0x0000_0103, 0, 11, &body));
    let Body::DataSm(data) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(data.source.addr, b(b"12345"));
    assert_eq!(data.destination.addr.len(), 64);
    assert_eq!(data.data_coding, 8);
    assert_eq!(data.receipted_message_id(), Some(b(b"9")));
}

#[test]
fn submit_multi_and_its_response() {
    // submit_multi (§4.5.1): 2 destinations, an SME address and a distribution list.
    let body = b"\x00\x01\x01111\x00\x02\x01\x01\x01222\x00\x02friends\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x02ok";
    let pdu = round_trip(&raw(0x0000_0021, 0, 4, body));
    let Body::SubmitMulti(m) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(
        m.destinations,
        [
            DestAddress::Sme(Address {
                ton: 1,
                npi: 1,
                addr: b(b"222")
            }),
            DestAddress::DistributionList(b(b"friends")),
        ]
    );
    assert_eq!(m.short_message, b(b"ok"));
    // submit_multi_resp (§4.5.2): message_id "m9", one unsuccessful SME 1/1 "222" with
    // ESME_RINVDSTADR.
    let pdu = round_trip(&raw(
        0x8000_0021,
        0,
        4,
        b"m9\x00\x01\x01\x01222\x00\x00\x00\x00\x0B",
    ));
    let Body::SubmitMultiResp(r) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(r.message_id, b(b"m9"));
    assert_eq!(
        r.unsuccess[0].error_status_code,
        CommandStatus::RINVDSTADR.0
    );
    // dest_flag 3 and number_of_dests 0 are refused with their own statuses.
    let bad_flag = raw(0x0000_0021, 0, 4, b"\x00\x01\x01111\x00\x01\x03");
    let e = Pdu::decode(&bad_flag).unwrap_err();
    assert_eq!(e, DecodeError::BadDestFlag(3));
    assert_eq!(
        answer_to_invalid(&bad_flag, &e),
        raw(0x8000_0021, 0x40, 4, b"\x00\x00")
    );
    let no_dests = raw(0x0000_0021, 0, 4, b"\x00\x01\x01111\x00\x00");
    assert_eq!(
        Pdu::decode(&no_dests),
        Err(DecodeError::BadNumberOfDests(0))
    );
}

#[test]
fn query_cancel_replace_outbind_alert() {
    // query_sm (§4.8.1) and query_sm_resp (§4.8.2).
    let pdu = round_trip(&raw(0x0000_0003, 0, 1, b"m1\x00\x01\x01111\x00"));
    assert!(matches!(&pdu.body, Body::QuerySm(q) if q.message_id == b(b"m1")));
    let pdu = round_trip(&raw(
        0x8000_0003,
        0,
        1,
        b"m1\x00240101120000000+\x00\x02\x00",
    ));
    assert!(
        matches!(&pdu.body, Body::QuerySmResp(q) if q.message_state == 2 && q.final_date.len() == 16)
    );
    // cancel_sm (§4.9.1) and cancel_sm_resp (§4.9.2).
    let pdu = round_trip(&raw(
        0x0000_0008,
        0,
        1,
        b"\x00m1\x00\x01\x01111\x00\x01\x01222\x00",
    ));
    assert!(matches!(&pdu.body, Body::CancelSm(c) if c.destination.addr == b(b"222")));
    assert_eq!(round_trip(&raw(0x8000_0008, 0, 1, b"")).body, Body::Empty);
    // replace_sm (§4.10.1) and replace_sm_resp (§4.10.2).
    let pdu = round_trip(&raw(
        0x0000_0007,
        0,
        1,
        b"m1\x00\x01\x01111\x00\x00\x00\x01\x00\x03new",
    ));
    assert!(matches!(&pdu.body, Body::ReplaceSm(r) if r.short_message == b(b"new")));
    assert_eq!(round_trip(&raw(0x8000_0007, 0, 1, b"")).body, Body::Empty);
    // outbind (§4.1.7).
    let pdu = round_trip(&raw(0x0000_000B, 0, 1, b"smsc\x00pw\x00"));
    assert!(matches!(&pdu.body, Body::Outbind(o) if o.password == b(b"pw")));
    // alert_notification (§4.12.1) with ms_availability_status 0.
    let pdu = round_trip(&raw(
        0x0000_0102,
        0,
        1,
        b"\x01\x01111\x00\x00\x00esme\x00\x04\x22\x00\x01\x00",
    ));
    assert!(matches!(&pdu.body, Body::AlertNotification(a) if a.esme.addr == b(b"esme")));
}

#[test]
fn invalid_pdus_and_their_answers() {
    let nack = |status: CommandStatus, seq| raw(0x8000_0000, status.0, seq, b"");
    let cases: Vec<(Bytes, DecodeError, Bytes)> = vec![
        // Unknown command_id (broadcast_sm of SMPP 5.0): generic_nack ESME_RINVCMDID.
        (raw(0x0000_0111, 0, 8, b"x"), DecodeError::UnknownCommand(CommandId(0x111)), nack(CommandStatus::RINVCMDID, 8)),
        // password without its NUL before the end: generic_nack ESME_RINVCMDLEN.
        (raw(0x0000_0002, 0, 8, b"id\x00pass"), DecodeError::Truncated(Field::Password), nack(CommandStatus::RINVCMDLEN, 8)),
        // A body cut before interface_version.
        (raw(0x0000_0009, 0, 8, b"id\x00pw\x00\x00"), DecodeError::Truncated(Field::InterfaceVersion), nack(CommandStatus::RINVCMDLEN, 8)),
        // enquire_link with a body: generic_nack ESME_RINVCMDLEN.
        (raw(0x0000_0015, 0, 8, b"\x00"), DecodeError::TrailingOctets(1), nack(CommandStatus::RINVCMDLEN, 8)),
        // system_id of 16 characters: bind_transmitter_resp ESME_RINVSYSID.
        (raw(0x0000_0002, 0, 8, b"0123456789abcdef\x00pw\x00\x00\x34\x00\x00\x00"),
         DecodeError::TooLong { field: Field::SystemId, max: 16 },
         raw(0x8000_0002, 0x0F, 8, b"\x00")),
        // password of 9 characters: bind_transceiver_resp ESME_RINVPASWD.
        (raw(0x0000_0009, 0, 8, b"id\x00123456789\x00\x00\x34\x00\x00\x00"),
         DecodeError::TooLong { field: Field::Password, max: 9 },
         raw(0x8000_0009, 0x0E, 8, b"\x00")),
        // sm_length 255: submit_sm_resp ESME_RINVMSGLEN.
        (raw(0x0000_0004, 0, 8, &[&b"\x00\x00\x00a\x00\x00\x00b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xFF"[..], &[b'x'; 255]].concat()),
         DecodeError::BadSmLength(255),
         raw(0x8000_0004, 0x01, 8, b"\x00")),
        // sm_length past the end of the body.
        (raw(0x0000_0004, 0, 8, b"\x00\x00\x00a\x00\x00\x00b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05abc"),
         DecodeError::BadSmLength(5),
         raw(0x8000_0004, 0x01, 8, b"\x00")),
        // A TLV cut short: submit_sm_resp ESME_RINVOPTPARSTREAM.
        (raw(0x0000_0004, 0, 8, b"\x00\x00\x00a\x00\x00\x00b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x24\x00\x05ab"),
         DecodeError::BadTlvs(TlvError { offset: 0 }),
         raw(0x8000_0004, 0xC0, 8, b"\x00")),
        // destination_addr of 21 characters in data_sm is fine (65 there); in submit_sm not.
        (raw(0x0000_0004, 0, 8, &[&b"\x00\x00\x00a\x00\x00\x00"[..], &[b'7'; 21], b"\x00"].concat()),
         DecodeError::TooLong { field: Field::DestinationAddr, max: 21 },
         raw(0x8000_0004, 0x0B, 8, b"\x00")),
        // query_sm with a long message_id: query_sm_resp ESME_RINVMSGID, shortest body.
        (raw(0x0000_0003, 0, 8, &[0x41; 70]), DecodeError::TooLong { field: Field::MessageId, max: 65 },
         raw(0x8000_0003, 0x0C, 8, b"\x00\x00\x00\x00")),
        // alert_notification has no response: generic_nack with the status.
        (raw(0x0000_0102, 0, 8, &[&b"\x00\x00"[..], &[b'1'; 66]].concat()),
         DecodeError::TooLong { field: Field::SourceAddr, max: 65 },
         nack(CommandStatus::RINVSRCADR, 8)),
        // A response with a bad body: generic_nack (the caller drops it rather than send).
        (raw(0x8000_0004, 0, 8, b"abc"), DecodeError::Truncated(Field::MessageId), nack(CommandStatus::RINVCMDLEN, 8)),
    ];
    for (bytes, error, answer) in cases {
        assert_eq!(Pdu::decode(&bytes), Err(error.clone()), "{bytes:02X?}");
        assert!(!error.closes_connection());
        assert_eq!(
            answer_to_invalid(&bytes, &error),
            answer,
            "answer to {error}"
        );
        // The answer is itself a valid PDU.
        round_trip(&answer);
    }
}

#[test]
fn unreadable_headers() {
    let e = Pdu::decode(&b(b"\x00\x00\x00\x10\x00\x00")).unwrap_err();
    assert_eq!(e, DecodeError::HeaderTooShort { len: 6 });
    assert!(e.closes_connection());
    assert_eq!(
        answer_to_invalid(b"\x00\x00", &e),
        generic_nack(CommandStatus::RINVCMDLEN, 0)
    );
    let mismatch = b(b"\x00\x00\x00\x20\x00\x00\x00\x15\x00\x00\x00\x00\x00\x00\x00\x09");
    let e = Pdu::decode(&mismatch).unwrap_err();
    assert_eq!(
        e,
        DecodeError::LengthMismatch {
            command_length: 32,
            len: 16
        }
    );
    assert!(e.closes_connection());
    assert_eq!(
        answer_to_invalid(&mismatch, &e),
        generic_nack(CommandStatus::RINVCMDLEN, 9)
    );
}

#[test]
fn response_with_status_for_every_request() {
    for id in CommandId::ALL {
        let answer = response_with_status(id, CommandStatus::RSYSERR, 77);
        let pdu = round_trip(&answer);
        assert_eq!(pdu.command_status, CommandStatus::RSYSERR);
        assert_eq!(pdu.sequence_number, 77);
        if id.expects_response() {
            assert_eq!(pdu.command_id, id.response());
        } else {
            assert_eq!(pdu.command_id, CommandId::GENERIC_NACK, "{id}");
        }
    }
    assert_eq!(
        response_with_status(CommandId::SUBMIT_SM, CommandStatus::RTHROTTLED, 3),
        raw(0x8000_0004, 0x58, 3, b"\x00")
    );
    assert_eq!(
        response_with_status(CommandId::UNBIND, CommandStatus::ROK, 3),
        unbind_resp(3)
    );
    assert_eq!(
        response_with_status(CommandId(0x1234), CommandStatus::RINVCMDID, 3),
        generic_nack(CommandStatus::RINVCMDID, 3)
    );
}

#[test]
fn encoding_refuses_what_decoding_refuses() {
    let bind = Bind {
        system_id: b(b"0123456789abcdef"),
        ..Bind::default()
    };
    assert_eq!(
        super::bind(CommandId::BIND_RECEIVER, 1, &bind),
        Err(EncodeError::TooLong {
            field: Field::SystemId,
            max: 16
        })
    );
    let bind = Bind {
        password: b(b"a\x00b"),
        ..Bind::default()
    };
    assert_eq!(
        super::bind(CommandId::BIND_RECEIVER, 1, &bind),
        Err(EncodeError::ContainsNul(Field::Password))
    );
    assert_eq!(
        super::bind(CommandId::SUBMIT_SM, 1, &Bind::default()),
        Err(EncodeError::BodyMismatch(CommandId::SUBMIT_SM))
    );
    let sm = SmBody {
        short_message: Bytes::from(vec![0; 255]),
        ..SmBody::default()
    };
    assert_eq!(
        Pdu::new(
            CommandId::SUBMIT_SM,
            CommandStatus::ROK,
            1,
            Body::SubmitSm(sm)
        )
        .encode(),
        Err(EncodeError::TooLong {
            field: Field::ShortMessage,
            max: 254
        })
    );
    let multi = SubmitMulti::default();
    assert_eq!(
        Pdu::new(
            CommandId::SUBMIT_MULTI,
            CommandStatus::ROK,
            1,
            Body::SubmitMulti(multi)
        )
        .encode(),
        Err(EncodeError::BadCount(Field::NumberOfDests))
    );
    // Empty fits responses and body-less requests only.
    assert!(Body::Empty.fits(CommandId::SUBMIT_SM_RESP));
    assert!(Body::Empty.fits(CommandId::ENQUIRE_LINK));
    assert!(!Body::Empty.fits(CommandId::SUBMIT_SM));
    assert!(!Body::Empty.fits(CommandId(0x8000_0111)));
}

mod framing {
    use super::*;

    #[test]
    fn whole_split_and_zero_copy() {
        let a = enquire_link(1);
        let c = raw(0x0000_0004, 0, 3, SUBMIT_SM_BODY);
        let stream = Bytes::from([&a[..], &c[..], &a[..]].concat());
        let mut f = Framer::default();
        f.feed(stream.clone());
        let first = f.poll().unwrap().unwrap();
        assert_eq!(first, a);
        assert_eq!(
            first.as_ptr(),
            stream.as_ptr(),
            "one buffer: a slice, not a copy"
        );
        assert_eq!(f.poll().unwrap().unwrap(), c);
        assert_eq!(f.poll().unwrap().unwrap(), a);
        assert_eq!(f.poll(), Ok(None));
        assert_eq!(f.consumed(), stream.len() as u64);
        assert_eq!(f.buffered(), 0);

        // Octet by octet.
        let mut f = Framer::default();
        let mut out = Vec::new();
        for i in 0..stream.len() {
            f.feed(stream.slice(i..i + 1));
            while let Some(p) = f.poll().unwrap() {
                out.push(p);
            }
        }
        assert_eq!(out, [a.clone(), c, a]);
    }

    #[test]
    fn command_length_out_of_bounds_loses_the_framing() {
        // command_length 15, bind_transmitter, sequence 0x42: reported at 16 octets.
        let bad = b(b"\x00\x00\x00\x0F\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x42");
        let mut f = Framer::default();
        f.feed(bad.slice(..15));
        assert_eq!(f.poll(), Ok(None));
        f.feed(bad.slice(15..));
        let e = f.poll().unwrap_err();
        assert_eq!(e.header.command_length, 15);
        assert_eq!(e.command_id(), CommandId::BIND_TRANSMITTER);
        assert_eq!(e.answer(), generic_nack(CommandStatus::RINVCMDLEN, 0x42));
        assert_eq!(f.poll(), Err(e.clone()), "the error is final");
        f.feed(enquire_link(1));
        assert_eq!(f.poll(), Err(e));
        assert!(f.is_failed());

        // Above the maximum: a PDU of 100 octets with a 64-octet limit.
        let big = raw(0x0000_0004, 0, 5, &[0; 84]);
        let mut f = Framer::new(64);
        f.feed(big.clone());
        let e = f.poll().unwrap_err();
        assert_eq!((e.header.command_length, e.max_pdu), (100, 64));
        assert!(e.to_string().contains("outside 16..=64"));
        let mut f = Framer::new(100);
        f.feed(big.clone());
        assert_eq!(f.poll(), Ok(Some(big)));
        // A limit below the header is raised to it.
        let mut f = Framer::new(0);
        f.feed(enquire_link(3));
        assert_eq!(f.poll(), Ok(Some(enquire_link(3))));
        // An HTTP request sent to the SMPP port: "GET " is a command_length of 1 195 725 856.
        let mut f = Framer::default();
        f.feed(b(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(f.poll().is_err());
    }

    #[test]
    fn a_pdu_spanning_buffers_is_copied_once() {
        let c = raw(0x0000_0004, 0, 3, SUBMIT_SM_BODY);
        let mut f = Framer::default();
        f.feed(c.slice(..20));
        assert_eq!(f.poll(), Ok(None));
        f.feed(Bytes::from([&c[20..], &enquire_link(4)[..]].concat()));
        let got = f.poll().unwrap().unwrap();
        assert_eq!(got, c);
        assert_eq!(f.poll().unwrap().unwrap(), enquire_link(4));
        assert_eq!(f.buffered(), 0);
    }
}
