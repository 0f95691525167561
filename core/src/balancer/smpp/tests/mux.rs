//! Mux mode (behaviour reference §6.3): one bind per provider per `system_id`, requests
//! spread and mapped back, every request answered once, the timers of §6.5.

use super::*;
use crate::smpp::tlv::tag;
use crate::smpp::Tlvs;

/// Two providers (ports 7001, 7002); `n` customers of `sys` bound with password `pw`.
/// Returns the harness, the customers and the two provider connections (both bound).
fn bound(n: usize, tune: impl FnOnce(&mut Config)) -> (Harness, Vec<ConnId>, Vec<ConnId>) {
    let mut h = Harness::new(true, &[7001, 7002], tune);
    let customers: Vec<ConnId> = (0..n).map(|_| h.customer()).collect();
    let out = h.send(
        customers[0],
        bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "sys", "pw"),
    );
    let connects = out.connects();
    assert_eq!(
        connects.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        vec![addr(7001), addr(7002)]
    );
    let providers: Vec<ConnId> = connects.iter().map(|(c, _)| *c).collect();
    let binds: Vec<Pdu> = providers.iter().map(|p| out.pdu(*p)).collect();
    for (i, c) in customers.iter().enumerate().skip(1) {
        let out = h.send(
            *c,
            bind_pdu(CommandId::BIND_TRANSMITTER, 10 + i as u32, "sys", "pw"),
        );
        assert!(out.all.is_empty(), "waits for the providers: {:?}", out.all);
    }
    let out = h.provider_binds(providers[0], &binds[0], CommandStatus::ROK);
    for (i, c) in customers.iter().enumerate() {
        let resp = out.pdu(*c);
        let seq = if i == 0 { 1 } else { 10 + i as u32 };
        assert_eq!(resp.command_status, CommandStatus::ROK);
        assert_eq!(
            resp.sequence_number, seq,
            "the customer's own sequence number"
        );
    }
    let out = h.provider_binds(providers[1], &binds[1], CommandStatus::ROK);
    assert!(
        out.all.is_empty(),
        "one bind_resp per customer bind: {:?}",
        out.all
    );
    (h, customers, providers)
}

#[test]
fn the_first_bind_binds_every_provider_once_and_each_customer_gets_one_bind_resp() {
    let mut h = Harness::new(true, &[7001, 7002], |_| {});
    let (c1, c2, c3) = (h.customer(), h.customer(), h.customer());
    let out = h.send(c1, bind_pdu(CommandId::BIND_TRANSCEIVER, 5, "sys", "pw"));
    let providers: Vec<ConnId> = out.connects().iter().map(|(c, _)| *c).collect();
    assert_eq!(providers.len(), 2);
    for p in &providers {
        let bind = out.pdu(*p);
        assert_eq!(bind.command_id, CommandId::BIND_TRANSCEIVER);
        assert_eq!(bind.sequence_number, 1);
        let Body::Bind(b) = &bind.body else { panic!() };
        assert_eq!(
            (&b.system_id[..], &b.password[..], &b.system_type[..]),
            (&b"sys"[..], &b"pw"[..], &b"sms"[..])
        );
        assert_eq!(b.interface_version, 0x34);
    }
    assert!(h
        .send(c2, bind_pdu(CommandId::BIND_RECEIVER, 9, "sys", "pw"))
        .all
        .is_empty());
    assert!(h
        .send(c3, bind_pdu(CommandId::BIND_TRANSMITTER, 3, "sys", "wrong"))
        .all
        .is_empty());
    let bind = Pdu::decode(&bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "x", "y")).unwrap();
    let out = h.provider_binds(providers[0], &bind, CommandStatus::ROK);
    let r1 = out.pdu(c1);
    assert_eq!(
        id(&r1),
        (CommandId::BIND_TRANSCEIVER_RESP, CommandStatus::ROK, 5)
    );
    let Body::BindResp(b) = &r1.body else {
        panic!()
    };
    assert_eq!(&b.system_id[..], b"loadbalancer");
    assert_eq!(
        b.tlvs.find(tag::SC_INTERFACE_VERSION).as_deref(),
        Some(&[0x34][..])
    );
    assert_eq!(
        id(&out.pdu(c2)),
        (CommandId::BIND_RECEIVER_RESP, CommandStatus::ROK, 9)
    );
    assert_eq!(
        id(&out.pdu(c3)),
        (
            CommandId::BIND_TRANSMITTER_RESP,
            CommandStatus::RINVPASWD,
            3
        )
    );
    let out = h.provider_binds(providers[1], &bind, CommandStatus::ROK);
    assert!(out.all.is_empty(), "{:?}", out.all);
    // A later customer is checked at once, without a provider bind.
    let c4 = h.customer();
    let out = h.send(c4, bind_pdu(CommandId::BIND_TRANSCEIVER, 2, "sys", "bad"));
    assert_eq!(
        id(&out.pdu(c4)),
        (
            CommandId::BIND_TRANSCEIVER_RESP,
            CommandStatus::RINVPASWD,
            2
        )
    );
    assert!(out.connects().is_empty());
    // After a refused bind it may bind again on the same connection.
    let out = h.send(c4, bind_pdu(CommandId::BIND_TRANSCEIVER, 3, "sys", "pw"));
    assert_eq!(
        id(&out.pdu(c4)),
        (CommandId::BIND_TRANSCEIVER_RESP, CommandStatus::ROK, 3)
    );
}

#[test]
fn requests_are_spread_remapped_and_answered_with_the_customers_sequence_numbers() {
    let (mut h, c, p) = bound(2, |_| {});
    let out = h.send(c[0], submit(77));
    let first = out.written_to()[0];
    let fwd = out.pdu(first);
    assert_eq!(fwd.command_id, CommandId::SUBMIT_SM);
    assert_eq!(fwd.sequence_number, 2, "after the bind's 1");
    let out = h.send(c[1], submit(77));
    let second = out.written_to()[0];
    assert_ne!(first, second, "round robin over the providers");
    assert!(p.contains(&first) && p.contains(&second));
    let out = h.send(first, submit_resp(2, CommandStatus::ROK, "abc"));
    let resp = out.pdu(c[0]);
    assert_eq!(
        id(&resp),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::ROK, 77)
    );
    let Body::SmResp(r) = resp.body else { panic!() };
    assert_eq!(&r.message_id[..], b"abc");
    let out = h.send(first, submit_resp(2, CommandStatus::ROK, "abc"));
    assert!(out.all.is_empty(), "a duplicate response is dropped");
    let stats = h.b.smpp.stats();
    assert_eq!(stats.requests_by_command["submit_sm"], 2);
    assert_eq!(stats.responses_by_command["submit_sm_resp"], 2);
}

#[test]
fn a_silent_provider_gets_the_customer_an_esme_rsyserr_after_timeout_response() {
    let (mut h, c, _) = bound(1, |cfg| {
        cfg.smpp.timeout_response = Duration::from_millis(500)
    });
    let out = h.send(c[0], submit(4));
    let provider = out.written_to()[0];
    assert!(h.advance(Duration::from_millis(499)).pdus(c[0]).is_empty());
    let out = h.advance(Duration::from_millis(1));
    assert_eq!(
        id(&out.pdu(c[0])),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RSYSERR, 4)
    );
    let out = h.send(provider, submit_resp(2, CommandStatus::ROK, "late"));
    assert!(
        out.pdus(c[0]).is_empty(),
        "the late response is dropped, not a second answer"
    );
    assert_eq!(h.b.smpp.stats().response_timeouts, 1);
}

#[test]
fn a_lost_provider_answers_its_requests_at_once_and_is_rebound_after_the_reconnect_period() {
    let (mut h, c, p) = bound(1, |cfg| {
        cfg.smpp.reconnect_period = Duration::from_millis(500)
    });
    // Both in flight, one per provider.
    let a = h.send(c[0], submit(1)).written_to()[0];
    let b = h.send(c[0], submit(2)).written_to()[0];
    assert_ne!(a, b);
    let out = h.close(a);
    let resp = out.pdu(c[0]);
    assert_eq!(resp.command_status, CommandStatus::RSYSERR);
    // The other provider takes the traffic meanwhile.
    let out = h.send(c[0], submit(3));
    assert_eq!(out.written_to(), vec![b]);
    // The second provider goes too: no provider, requests answered at once.
    let out = h.close(b);
    let answered: Vec<_> = out.pdus(c[0]).iter().map(id).collect();
    assert_eq!(
        answered,
        vec![
            (CommandId::SUBMIT_SM_RESP, CommandStatus::RSYSERR, 2),
            (CommandId::SUBMIT_SM_RESP, CommandStatus::RSYSERR, 3)
        ]
    );
    let out = h.send(c[0], submit(9));
    assert_eq!(
        id(&out.pdu(c[0])),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RSYSERR, 9)
    );
    // Reconnection and rebind with the same credentials.
    let out = h.advance(Duration::from_millis(500));
    let again = out.connects();
    assert_eq!(again.len(), 2, "{again:?}");
    let (conn, _) = again[0];
    let bind = out.pdu(conn);
    assert_eq!(bind.command_id, CommandId::BIND_TRANSCEIVER);
    let out = h.provider_binds(conn, &bind, CommandStatus::ROK);
    assert!(
        out.pdus(c[0]).is_empty(),
        "the customer stayed bound: no new bind_resp"
    );
    let out = h.send(c[0], submit(10));
    assert_eq!(out.written_to(), vec![conn]);
    assert_eq!(h.b.smpp.stats().rebinds, 1);
    assert!(p.contains(&a));
}

#[test]
fn enquire_link_is_answered_locally_and_sent_to_idle_connections() {
    let (mut h, c, p) = bound(1, |cfg| {
        cfg.smpp.timeout_enquire = Duration::from_millis(1000);
        cfg.smpp.timeout_connection_check_client_side = Duration::from_millis(300);
        cfg.smpp.timeout_connection_check_server_side = Duration::from_millis(400);
    });
    let out = h.send(c[0], smpp::enquire_link(42));
    assert_eq!(
        id(&out.pdu(c[0])),
        (CommandId::ENQUIRE_LINK_RESP, CommandStatus::ROK, 42)
    );
    assert!(
        out.pdus(p[0]).is_empty() && out.pdus(p[1]).is_empty(),
        "never forwarded"
    );
    h.advance(Duration::from_millis(500));
    let out = h.send(p[0], smpp::enquire_link(8));
    assert_eq!(
        id(&out.pdu(p[0])),
        (CommandId::ENQUIRE_LINK_RESP, CommandStatus::ROK, 8)
    );
    let out = h.advance(Duration::from_millis(500));
    let to_customer = out.pdu(c[0]);
    assert_eq!(to_customer.command_id, CommandId::ENQUIRE_LINK);
    let e = out.pdu(p[1]);
    assert_eq!(e.command_id, CommandId::ENQUIRE_LINK);
    assert!(
        out.pdus(p[0]).is_empty(),
        "provider 1 sent a PDU 500 ms ago"
    );
    // The customer and provider 2 answer; provider 1 will stay silent.
    h.send(c[0], smpp::enquire_link_resp(to_customer.sequence_number));
    assert!(h
        .send(p[1], smpp::enquire_link_resp(e.sequence_number))
        .all
        .is_empty());
    let out = h.advance(Duration::from_millis(500));
    let e0 = out.pdu(p[0]);
    assert_eq!(e0.command_id, CommandId::ENQUIRE_LINK);
    let out = h.advance(Duration::from_millis(300));
    assert!(out.closed(p[0]), "silent past the client-side check: lost");
    assert_eq!(h.b.smpp.stats().provider_losses, 1);
    assert!(!out.closed(c[0]));
    // The customer goes silent: closed past the server-side check.
    let out = h.advance(Duration::from_millis(1000));
    assert_eq!(
        out.pdus(c[0]).last().map(|p| p.command_id),
        Some(CommandId::ENQUIRE_LINK)
    );
    let out = h.advance(Duration::from_millis(400));
    assert!(out.closed(c[0]));
}

#[test]
fn a_customer_that_does_not_bind_in_time_is_closed() {
    let mut h = Harness::new(true, &[7001], |cfg| {
        cfg.smpp.timeout_connection = Duration::from_millis(1000)
    });
    let c = h.customer();
    assert!(!h.advance(Duration::from_millis(999)).closed(c));
    assert!(h.advance(Duration::from_millis(1)).closed(c));
    assert_eq!(h.b.smpp.stats().unbound_connections_closed, 1);
}

#[test]
fn pdus_invalid_in_the_state_get_generic_nack_esme_rinvcmdid() {
    let mut h = Harness::new(true, &[7001], |_| {});
    let c = h.customer();
    let out = h.send(c, submit(6));
    assert_eq!(
        id(&out.pdu(c)),
        (CommandId::GENERIC_NACK, CommandStatus::RINVCMDID, 6)
    );
    assert!(out.closed(c), "before bind: nack, then closed");
    let (mut h, c, p) = bound(1, |_| {});
    for (pdu, seq) in [
        (sm(CommandId::DELIVER_SM, 11, b"x", 0), 11),
        (bind_pdu(CommandId::BIND_TRANSCEIVER, 12, "sys", "pw"), 12),
        (
            Pdu::new(
                CommandId::OUTBIND,
                CommandStatus::ROK,
                13,
                Body::Outbind(Default::default()),
            )
            .encode()
            .unwrap(),
            13,
        ),
    ] {
        let out = h.send(c[0], pdu);
        assert_eq!(
            id(&out.pdu(c[0])),
            (CommandId::GENERIC_NACK, CommandStatus::RINVCMDID, seq)
        );
        assert!(!out.closed(c[0]));
        assert!(out.pdus(p[0]).is_empty() && out.pdus(p[1]).is_empty());
    }
    // An unknown command id.
    let mut raw = submit(14).to_vec();
    raw[4..8].copy_from_slice(&0x0000_0999u32.to_be_bytes());
    let out = h.send(c[0], Bytes::from(raw));
    assert_eq!(
        id(&out.pdu(c[0])),
        (CommandId::GENERIC_NACK, CommandStatus::RINVCMDID, 14)
    );
    // A request while the bind is pending: not allowed in that state.
    let mut h = Harness::new(true, &[7001], |_| {});
    let c = h.customer();
    h.send(c, bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "sys", "pw"));
    let out = h.send(c, submit(2));
    assert_eq!(
        id(&out.pdu(c)),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RINVBNDSTS, 2)
    );
}

#[test]
fn an_oversized_or_garbage_command_length_is_nacked_and_the_connection_closed() {
    let (mut h, c, _) = bound(2, |_| {});
    let mut raw = submit(3).to_vec();
    raw[0..4].copy_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
    let out = h.send(c[0], Bytes::from(raw));
    assert_eq!(out.pdu(c[0]).command_id, CommandId::GENERIC_NACK);
    assert_eq!(out.pdu(c[0]).command_status, CommandStatus::RINVCMDLEN);
    assert!(out.closed(c[0]));
    let out = h.send(
        c[1],
        Bytes::from_static(b"\0\0\0\x03GET / HTTP/1.1\r\n\r\n"),
    );
    assert_eq!(out.pdu(c[1]).command_status, CommandStatus::RINVCMDLEN);
    assert!(out.closed(c[1]));
}

#[test]
fn a_provider_unbind_is_answered_and_the_provider_rebound() {
    let (mut h, c, p) = bound(1, |cfg| {
        cfg.smpp.reconnect_period = Duration::from_millis(100)
    });
    let out = h.send(p[0], smpp::unbind(21));
    assert_eq!(
        id(&out.pdu(p[0])),
        (CommandId::UNBIND_RESP, CommandStatus::ROK, 21)
    );
    assert!(out.closed(p[0]));
    assert!(out.pdus(c[0]).is_empty(), "the customer stays bound");
    let out = h.advance(Duration::from_millis(100));
    assert_eq!(out.connects().len(), 1);
}

#[test]
fn the_last_customer_leaving_unbinds_the_providers() {
    let (mut h, c, p) = bound(2, |_| {});
    let out = h.send(c[0], smpp::unbind(5));
    assert_eq!(
        id(&out.pdu(c[0])),
        (CommandId::UNBIND_RESP, CommandStatus::ROK, 5)
    );
    assert!(out.closed(c[0]));
    assert!(out.pdus(p[0]).is_empty(), "another customer remains");
    let out = h.close(c[1]);
    for provider in &p {
        assert_eq!(out.pdu(*provider).command_id, CommandId::UNBIND);
    }
    let u = out.pdu(p[0]);
    let out = h.send(p[0], smpp::unbind_resp(u.sequence_number));
    assert!(out.closed(p[0]));
    let out = h.advance(Duration::from_secs(5));
    assert!(
        out.closed(p[1]),
        "an unanswered unbind closes at its deadline"
    );
}

#[test]
fn provider_requests_go_round_robin_to_receiving_customers_and_their_responses_back() {
    let (mut h, c, p) = bound(3, |_| {});
    // c[0] transceiver, c[1] transmitter (never receives), c[2] transmitter too in `bound`;
    // bind another receiver.
    let r = h.customer();
    let out = h.send(r, bind_pdu(CommandId::BIND_RECEIVER, 1, "sys", "pw"));
    assert_eq!(out.pdu(r).command_status, CommandStatus::ROK);
    let mut got = Vec::new();
    for seq in [50, 51, 52, 53] {
        let out = h.send(p[0], sm(CommandId::DELIVER_SM, seq, b"mo", 0));
        let to = out.written_to();
        assert_eq!(to.len(), 1);
        assert!(to[0] == c[0] || to[0] == r, "only receivers: {to:?}");
        got.push(to[0]);
        let d = out.pdu(to[0]);
        let back = h.send(to[0], deliver_resp(d.sequence_number));
        assert_eq!(
            id(&back.pdu(p[0])),
            (CommandId::DELIVER_SM_RESP, CommandStatus::ROK, seq)
        );
    }
    assert_eq!(got.iter().filter(|x| **x == r).count(), 2, "{got:?}");
    // A customer that never answers: the provider gets ESME_RSYSERR at the deadline.
    let out = h.send(p[1], sm(CommandId::DELIVER_SM, 60, b"mo", 0));
    assert_eq!(out.written_to().len(), 1);
    let out = h.advance(Duration::from_millis(3000));
    assert_eq!(
        id(&out.pdu(p[1])),
        (CommandId::DELIVER_SM_RESP, CommandStatus::RSYSERR, 60)
    );
    let _ = c;
}

#[test]
fn a_customer_leaving_gets_its_unanswered_provider_requests_an_esme_rsyserr() {
    let (mut h, c, p) = bound(1, |_| {});
    let out = h.send(p[0], sm(CommandId::DELIVER_SM, 70, b"mo", 0));
    assert_eq!(out.written_to(), vec![c[0]]);
    let out = h.close(c[0]);
    assert_eq!(
        id(&out.pdus(p[0])[0]),
        (CommandId::DELIVER_SM_RESP, CommandStatus::RSYSERR, 70)
    );
}

/// A delivery receipt for `message_id`, in the text and in the TLV when `tlv`.
fn receipt(seq: u32, message_id: &str, tlv: bool) -> Bytes {
    let text = format!("id:{message_id} sub:001 dlvrd:001 submit date:2611300000 done date:2611300001 stat:DELIVRD err:000 text:");
    let tlvs = if tlv {
        let mut v = message_id.as_bytes().to_vec();
        v.push(0);
        Tlvs::from_params([(tag::RECEIPTED_MESSAGE_ID, &v[..])]).unwrap()
    } else {
        Tlvs::empty()
    };
    Pdu::new(
        CommandId::DELIVER_SM,
        CommandStatus::ROK,
        seq,
        Body::DeliverSm(SmBody {
            esm_class: 0x04,
            short_message: Bytes::from(text),
            tlvs,
            ..SmBody::default()
        }),
    )
    .encode()
    .unwrap()
}

#[test]
fn delivery_receipts_reach_the_customer_that_submitted_the_message() {
    let mut h = Harness::new(true, &[7001], |_| {});
    let c: Vec<ConnId> = (0..3).map(|_| h.customer()).collect();
    let out = h.send(c[0], bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "sys", "pw"));
    let (p, _) = out.connects()[0];
    let bind = out.pdu(p);
    h.send(c[1], bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "sys", "pw"));
    h.send(c[2], bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "sys", "pw"));
    h.provider_binds(p, &bind, CommandStatus::ROK);
    // Each customer submits; the provider assigns ids (hex).
    let ids = ["1a", "2b", "3c"];
    for (i, customer) in c.iter().enumerate() {
        let out = h.send(*customer, submit(100 + i as u32));
        let seq = out.pdu(p).sequence_number;
        h.send(p, submit_resp(seq, CommandStatus::ROK, ids[i]));
    }
    // Receipts in reverse order, by text (decimal for the first) or TLV.
    for (i, (mid, tlv)) in [("26", false), ("2B", true), ("3c", false)]
        .iter()
        .enumerate()
        .rev()
    {
        let out = h.send(p, receipt(200 + i as u32, mid, *tlv));
        assert_eq!(
            out.written_to(),
            vec![c[i]],
            "receipt {mid} to customer {i}"
        );
    }
    assert_eq!(h.b.smpp.stats().receipts_matched, 3);
    // An unknown id goes round robin.
    let out = h.send(p, receipt(300, "ffff", false));
    assert_eq!(out.written_to().len(), 1);
    assert_eq!(h.b.smpp.stats().receipts_unmatched, 1);
}

/// A part of a long message with a UDH (IEI 0x00, reference `reference`).
fn part(seq: u32, reference: u8, n: u8, total: u8) -> Bytes {
    let mut ud = vec![5, 0x00, 3, reference, total, n];
    ud.extend_from_slice(b"part");
    sm(CommandId::SUBMIT_SM, seq, &ud, 0x40)
}

#[test]
fn the_parts_of_a_long_message_go_to_one_provider() {
    let (mut h, c, _) = bound(1, |_| {});
    let mut seen = Vec::new();
    for (i, (reference, n)) in [(7, 1), (9, 1), (7, 2), (9, 2), (7, 3), (9, 3)]
        .iter()
        .enumerate()
    {
        let out = h.send(c[0], part(i as u32 + 1, *reference, *n, 3));
        seen.push((*reference, out.written_to()[0]));
    }
    let on = |r: u8| -> Vec<ConnId> {
        seen.iter()
            .filter(|(x, _)| *x == r)
            .map(|(_, c)| *c)
            .collect()
    };
    assert!(on(7).windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    assert!(on(9).windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    assert_ne!(on(7)[0], on(9)[0], "different messages still spread");
}

#[test]
fn a_full_window_queues_then_throttles() {
    let (mut h, c, p) = bound(1, |cfg| {
        cfg.smpp.provider_window = 1;
        cfg.smpp.throttle_queue_size = 1;
        cfg.smpp.throttle_queue_timeout = Duration::from_millis(200);
        cfg.smpp.to_provider_algorithm = crate::config::SmppToProviderAlgorithm::ActiveStandby;
    });
    let out = h.send(c[0], submit(1));
    assert_eq!(
        out.written_to(),
        vec![p[0]],
        "active-standby: the first provider"
    );
    let out = h.send(c[0], submit(2));
    assert!(out.all.is_empty(), "queued: {:?}", out.all);
    let out = h.send(c[0], submit(3));
    assert_eq!(
        id(&out.pdu(c[0])),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RTHROTTLED, 3)
    );
    // The response frees the window: the queued request leaves.
    let out = h.send(p[0], submit_resp(2, CommandStatus::ROK, "a"));
    assert_eq!(out.pdu(c[0]).sequence_number, 1);
    let fwd = out.pdu(p[0]);
    assert_eq!(fwd.sequence_number, 3);
    // Another one queued waits too long.
    h.send(c[0], submit(4));
    let out = h.advance(Duration::from_millis(200));
    assert_eq!(
        id(&out.pdu(c[0])),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RTHROTTLED, 4)
    );
    let out = h.send(p[0], submit_resp(3, CommandStatus::ROK, "b"));
    assert_eq!(out.pdu(c[0]).sequence_number, 2);
}

#[test]
fn refused_credentials_fail_their_customers_and_the_next_waiting_one_tries_its_own() {
    let mut h = Harness::new(true, &[7001], |_| {});
    let (c1, c2) = (h.customer(), h.customer());
    let out = h.send(c1, bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "sys", "bad"));
    let (p, _) = out.connects()[0];
    let bind = out.pdu(p);
    h.send(c2, bind_pdu(CommandId::BIND_TRANSCEIVER, 4, "sys", "good"));
    let out = h.provider_binds(p, &bind, CommandStatus::RINVPASWD);
    assert_eq!(
        id(&out.pdu(c1)),
        (
            CommandId::BIND_TRANSCEIVER_RESP,
            CommandStatus::RINVPASWD,
            1
        )
    );
    assert!(out.closed(p));
    let again = out.connects();
    assert_eq!(
        again.len(),
        1,
        "a new attempt with the second customer's credentials"
    );
    let bind = out.pdu(again[0].0);
    let Body::Bind(b) = &bind.body else { panic!() };
    assert_eq!(&b.password[..], b"good");
    let out = h.provider_binds(again[0].0, &bind, CommandStatus::ROK);
    assert_eq!(
        id(&out.pdu(c2)),
        (CommandId::BIND_TRANSCEIVER_RESP, CommandStatus::ROK, 4)
    );
}

#[test]
fn a_bind_no_provider_answers_gets_esme_rsyserr_after_timeout_response() {
    let mut h = Harness::new(true, &[7001], |_| {});
    let c = h.customer();
    h.send(c, bind_pdu(CommandId::BIND_TRANSCEIVER, 8, "sys", "pw"));
    let out = h.advance(Duration::from_millis(3000));
    assert_eq!(
        id(&out.pdu(c)),
        (CommandId::BIND_TRANSCEIVER_RESP, CommandStatus::RSYSERR, 8)
    );
}

#[test]
fn query_sm_goes_to_the_provider_that_assigned_the_message_id() {
    let (mut h, c, _) = bound(1, |_| {});
    let out = h.send(c[0], submit(1));
    let p = out.written_to()[0];
    h.send(
        p,
        submit_resp(out.pdu(p).sequence_number, CommandStatus::ROK, "m1"),
    );
    for seq in 2..6 {
        let q = Pdu::new(
            CommandId::QUERY_SM,
            CommandStatus::ROK,
            seq,
            Body::QuerySm(smpp::QuerySm {
                message_id: Bytes::from_static(b"m1"),
                source: Address::default(),
            }),
        )
        .encode()
        .unwrap();
        assert_eq!(h.send(c[0], q).written_to(), vec![p]);
    }
}

#[test]
fn remote_servers_added_at_run_time_are_bound_and_removed_ones_unbound() {
    let (mut h, _, p) = bound(1, |_| {});
    let mut config = h.b.config().clone();
    config.smpp.remote_servers = vec![server(7001), server(7003)];
    h.b.reconfigure(config, h.now).unwrap();
    let out = Out {
        all: std::iter::from_fn(|| h.b.poll_output()).collect(),
    };
    assert_eq!(out.pdu(p[1]).command_id, CommandId::UNBIND, "7002 removed");
    let added = out.connects();
    assert_eq!(
        added.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        vec![addr(7003)]
    );
    let bind = out.pdu(added[0].0);
    let Body::Bind(b) = &bind.body else { panic!() };
    assert_eq!(&b.system_id[..], b"sys");
}

#[test]
fn submit_to_all_sends_provider_requests_to_every_receiver_and_returns_one_response() {
    let (mut h, c, p) = bound(1, |cfg| {
        cfg.smpp.to_node_algorithm = crate::config::SmppToNodeAlgorithm::SubmitToAll
    });
    let c2 = h.customer();
    h.send(c2, bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "sys", "pw"));
    let out = h.send(p[0], sm(CommandId::DELIVER_SM, 90, b"mo", 0));
    let mut to = out.written_to();
    to.sort();
    assert_eq!(to, {
        let mut v = vec![c[0], c2];
        v.sort();
        v
    });
    let d1 = out.pdu(c[0]);
    let d2 = out.pdu(c2);
    let out = h.send(c2, deliver_resp(d2.sequence_number));
    assert_eq!(out.pdu(p[0]).sequence_number, 90);
    let out = h.send(c[0], deliver_resp(d1.sequence_number));
    assert!(out.all.is_empty(), "only the first response goes back");
}

#[test]
fn no_pdu_reaches_a_customer_of_another_system_id() {
    let mut h = Harness::new(true, &[7001], |_| {});
    let (a, b) = (h.customer(), h.customer());
    let out = h.send(a, bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "alpha", "pw"));
    let (pa, _) = out.connects()[0];
    let bind_a = out.pdu(pa);
    let out = h.send(b, bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "beta", "pw"));
    let (pb, _) = out.connects()[0];
    assert_ne!(pa, pb, "one session per system_id");
    let bind_b = out.pdu(pb);
    h.provider_binds(pa, &bind_a, CommandStatus::ROK);
    h.provider_binds(pb, &bind_b, CommandStatus::ROK);
    for seq in 1..5 {
        assert_eq!(
            h.send(pa, sm(CommandId::DELIVER_SM, seq, b"x", 0))
                .written_to(),
            vec![a]
        );
        assert_eq!(
            h.send(pb, sm(CommandId::DELIVER_SM, seq, b"x", 0))
                .written_to(),
            vec![b]
        );
        assert_eq!(h.send(a, submit(seq)).written_to(), vec![pa]);
    }
}

#[test]
fn a_remote_server_given_by_name_is_resolved_by_the_driver_then_bound() {
    let mut h = Harness::new(true, &[], |cfg| {
        cfg.smpp.remote_servers = vec![HostPort {
            host: "smsc.example".to_owned(),
            port: 2775,
        }];
    });
    let token = match h.b.poll_output() {
        Some(Output::Resolve {
            token,
            host,
            port,
            ipv6: false,
        }) => {
            assert_eq!((host.as_str(), port), ("smsc.example", 2775));
            token
        }
        other => panic!("{other:?}"),
    };
    let c = h.customer();
    let out = h.send(c, bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "sys", "pw"));
    assert!(
        out.connects().is_empty() && out.pdus(c).is_empty(),
        "waits for the address"
    );
    let out = h.feed(Input::Resolved {
        token,
        addr: Some(addr(2775)),
    });
    let (p, to) = out.connects()[0];
    assert_eq!(to, addr(2775));
    let bind = out.pdu(p);
    let out = h.provider_binds(p, &bind, CommandStatus::ROK);
    assert_eq!(out.pdu(c).command_status, CommandStatus::ROK);
    assert_eq!(
        h.b.smpp.view(h.b.cluster()).remote_servers[0].ip,
        "127.0.0.1"
    );
}

/// A request of `command` with a minimal valid body and sequence number `seq`.
fn request(command: CommandId, seq: u32) -> Bytes {
    let body = match command {
        CommandId::SUBMIT_SM => return submit(seq),
        CommandId::DATA_SM => Body::DataSm(smpp::DataSm::default()),
        CommandId::QUERY_SM => Body::QuerySm(smpp::QuerySm::default()),
        CommandId::CANCEL_SM => Body::CancelSm(smpp::CancelSm::default()),
        CommandId::REPLACE_SM => Body::ReplaceSm(smpp::ReplaceSm::default()),
        CommandId::SUBMIT_MULTI => Body::SubmitMulti(smpp::SubmitMulti {
            destinations: vec![smpp::DestAddress::Sme(Address::default())],
            ..smpp::SubmitMulti::default()
        }),
        other => panic!("{other:?}"),
    };
    Pdu::new(command, CommandStatus::ROK, seq, body)
        .encode()
        .unwrap()
}

#[test]
fn every_customer_request_of_the_bound_state_is_forwarded_and_its_response_mapped_back() {
    let (mut h, c, _) = bound(1, |_| {});
    for (i, command) in [
        CommandId::SUBMIT_SM,
        CommandId::SUBMIT_MULTI,
        CommandId::DATA_SM,
        CommandId::QUERY_SM,
        CommandId::CANCEL_SM,
        CommandId::REPLACE_SM,
    ]
    .into_iter()
    .enumerate()
    {
        let seq = 500 + i as u32;
        let out = h.send(c[0], request(command, seq));
        let p = out.written_to()[0];
        let fwd = out.pdu(p);
        assert_eq!(fwd.command_id, command);
        let resp = smpp::response_with_status(command, CommandStatus::ROK, fwd.sequence_number);
        let back = h.send(p, resp);
        assert_eq!(
            id(&back.pdu(c[0])),
            (command.response(), CommandStatus::ROK, seq)
        );
    }
}

#[test]
fn a_provider_generic_nack_answers_the_customer_request_it_refers_to() {
    let (mut h, c, _) = bound(1, |_| {});
    let out = h.send(c[0], submit(31));
    let p = out.written_to()[0];
    let fwd = out.pdu(p);
    let out = h.send(
        p,
        smpp::generic_nack(CommandStatus::RINVMSGLEN, fwd.sequence_number),
    );
    assert_eq!(
        id(&out.pdu(c[0])),
        (CommandId::GENERIC_NACK, CommandStatus::RINVMSGLEN, 31)
    );
}

#[test]
fn a_customer_generic_nack_answers_the_provider_request_and_stray_responses_are_dropped() {
    let (mut h, c, p) = bound(1, |_| {});
    let out = h.send(p[0], sm(CommandId::DELIVER_SM, 44, b"mo", 0));
    let d = out.pdu(c[0]);
    let out = h.send(
        c[0],
        smpp::generic_nack(CommandStatus::RINVCMDID, d.sequence_number),
    );
    assert_eq!(
        id(&out.pdu(p[0])),
        (CommandId::GENERIC_NACK, CommandStatus::RINVCMDID, 44)
    );
    assert!(
        h.send(c[0], deliver_resp(9999)).all.is_empty(),
        "a response to nothing"
    );
    let data = Pdu::new(
        CommandId::DATA_SM,
        CommandStatus::ROK,
        45,
        Body::DataSm(smpp::DataSm::default()),
    )
    .encode()
    .unwrap();
    let out = h.send(p[0], data);
    let d = out.pdu(c[0]);
    assert_eq!(
        d.command_id,
        CommandId::DATA_SM,
        "data_sm from a provider reaches a customer"
    );
    let resp =
        smpp::response_with_status(CommandId::DATA_SM, CommandStatus::ROK, d.sequence_number);
    assert_eq!(
        id(&h.send(c[0], resp).pdu(p[0])),
        (CommandId::DATA_SM_RESP, CommandStatus::ROK, 45)
    );
}

#[test]
fn a_provider_request_not_valid_from_a_provider_gets_generic_nack_and_enquire_link_is_answered_before_bind(
) {
    let (mut h, c, p) = bound(1, |_| {});
    let out = h.send(p[0], submit(61));
    assert_eq!(
        id(&out.pdu(p[0])),
        (CommandId::GENERIC_NACK, CommandStatus::RINVCMDID, 61)
    );
    assert!(out.pdus(c[0]).is_empty());
    let alert = Pdu::new(
        CommandId::ALERT_NOTIFICATION,
        CommandStatus::ROK,
        62,
        Body::AlertNotification(Default::default()),
    )
    .encode()
    .unwrap();
    assert!(
        h.send(p[0], alert).all.is_empty(),
        "mux: dropped, it has no response"
    );
    let fresh = h.customer();
    let out = h.send(fresh, smpp::enquire_link(3));
    assert_eq!(
        id(&out.pdu(fresh)),
        (CommandId::ENQUIRE_LINK_RESP, CommandStatus::ROK, 3)
    );
    assert!(!out.closed(fresh));
}

#[test]
fn a_response_that_does_not_decode_is_replaced_by_the_balancers_esme_rsyserr() {
    let (mut h, c, p) = bound(1, |_| {});
    let out = h.send(c[0], submit(70));
    let to = out.written_to()[0];
    let fwd = out.pdu(to);
    // submit_sm_resp whose message_id has no NUL.
    let mut raw = vec![0, 0, 0, 20, 0x80, 0, 0, 4, 0, 0, 0, 0];
    raw.extend_from_slice(&fwd.sequence_number.to_be_bytes());
    raw.extend_from_slice(b"A1B2");
    let out = h.send(to, Bytes::from(raw));
    assert_eq!(
        id(&out.pdu(c[0])),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RSYSERR, 70)
    );
    // The same from a customer toward a provider.
    let out = h.send(p[0], sm(CommandId::DELIVER_SM, 71, b"mo", 0));
    let d = out.pdu(c[0]);
    let mut raw = vec![0, 0, 0, 19, 0x80, 0, 0, 5, 0, 0, 0, 0];
    raw.extend_from_slice(&d.sequence_number.to_be_bytes());
    raw.extend_from_slice(b"xyz");
    let out = h.send(c[0], Bytes::from(raw));
    assert_eq!(
        id(&out.pdu(p[0])),
        (CommandId::DELIVER_SM_RESP, CommandStatus::RSYSERR, 71)
    );
}

#[test]
fn a_system_id_that_is_not_text_is_refused_so_two_cannot_share_a_group() {
    let mut h = Harness::new(true, &[7001], |_| {});
    let c = h.customer();
    let bind = smpp::bind(
        CommandId::BIND_TRANSCEIVER,
        4,
        &Bind {
            system_id: Bytes::from_static(&[0xFE]),
            password: Bytes::from_static(b"pw"),
            ..Bind::default()
        },
    )
    .unwrap();
    let out = h.send(c, bind);
    assert_eq!(
        id(&out.pdu(c)),
        (
            CommandId::BIND_TRANSCEIVER_RESP,
            CommandStatus::RINVSYSID,
            4
        )
    );
    assert!(out.connects().is_empty());
}
