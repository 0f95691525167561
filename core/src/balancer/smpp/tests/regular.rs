//! Regular mode (behaviour reference §6.2): one provider connection per customer, bound with
//! the customer's own bind.

use super::*;

/// A customer bound through provider port `expect`; returns it and its provider connection.
fn bound_customer(h: &mut Harness, seq: u32, expect: u16) -> (ConnId, ConnId) {
    let c = h.customer();
    let out = h.send(
        c,
        bind_pdu(CommandId::BIND_TRANSMITTER, seq, "cust", "secret"),
    );
    let connects = out.connects();
    assert_eq!(connects.len(), 1, "{connects:?}");
    let (p, to) = connects[0];
    assert_eq!(to, addr(expect));
    let bind = out.pdu(p);
    assert_eq!(
        bind.command_id,
        CommandId::BIND_TRANSMITTER,
        "an identical bind"
    );
    assert_eq!(bind.sequence_number, 1);
    let Body::Bind(b) = &bind.body else { panic!() };
    assert_eq!(
        (&b.system_id[..], &b.password[..]),
        (&b"cust"[..], &b"secret"[..])
    );
    let out = h.provider_binds(p, &bind, CommandStatus::ROK);
    let resp = out.pdu(c);
    assert_eq!(
        id(&resp),
        (CommandId::BIND_TRANSMITTER_RESP, CommandStatus::ROK, seq),
        "the customer's own sequence number"
    );
    let Body::BindResp(r) = &resp.body else {
        panic!()
    };
    assert_eq!(&r.system_id[..], b"smsc", "the provider's answer, relayed");
    (c, p)
}

#[test]
fn each_customer_gets_its_own_provider_round_robin_and_traffic_is_relayed() {
    let mut h = Harness::new(false, &[7001, 7002], |_| {});
    let (c1, p1) = bound_customer(&mut h, 7, 7001);
    let (c2, p2) = bound_customer(&mut h, 3, 7002);
    assert_ne!(p1, p2);
    let out = h.send(c1, submit(40));
    let fwd = out.pdu(p1);
    assert_eq!(fwd.sequence_number, 2);
    let out = h.send(p1, submit_resp(2, CommandStatus::ROK, "x"));
    assert_eq!(
        id(&out.pdu(c1)),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::ROK, 40)
    );
    // A provider's deliver_sm goes to its customer, and the response back.
    let out = h.send(p2, sm(CommandId::DELIVER_SM, 33, b"mo", 0));
    let d = out.pdu(c2);
    let out = h.send(c2, deliver_resp(d.sequence_number));
    assert_eq!(
        id(&out.pdu(p2)),
        (CommandId::DELIVER_SM_RESP, CommandStatus::ROK, 33)
    );
    assert_eq!(h.b.smpp.view(h.b.cluster()).active_connections, 4);
}

#[test]
fn a_refused_bind_is_relayed_and_no_reachable_provider_gets_esme_rsyserr() {
    let mut h = Harness::new(false, &[7001, 7002], |_| {});
    let c = h.customer();
    let out = h.send(c, bind_pdu(CommandId::BIND_TRANSCEIVER, 9, "cust", "bad"));
    let (p, _) = out.connects()[0];
    let bind = out.pdu(p);
    let out = h.provider_binds(p, &bind, CommandStatus::RINVPASWD);
    assert_eq!(
        id(&out.pdu(c)),
        (
            CommandId::BIND_TRANSCEIVER_RESP,
            CommandStatus::RINVPASWD,
            9
        )
    );
    assert!(out.closed(p));
    // Both providers refuse the connection: tried in order, then ESME_RSYSERR.
    let out = h.send(c, bind_pdu(CommandId::BIND_TRANSCEIVER, 10, "cust", "pw"));
    let (first, _) = out.connects()[0];
    let out = h.feed(Input::ConnectFailed { conn: first });
    let (second, to) = out.connects()[0];
    assert_ne!(to, addr(0));
    let out = h.feed(Input::ConnectFailed { conn: second });
    let resp = out.pdu(c);
    assert_eq!(
        id(&resp),
        (CommandId::BIND_TRANSCEIVER_RESP, CommandStatus::RSYSERR, 10)
    );
    let Body::BindResp(r) = &resp.body else {
        panic!()
    };
    assert_eq!(&r.system_id[..], b"cust");
}

#[test]
fn a_lost_provider_is_rebound_while_requests_get_esme_rsyserr() {
    let mut h = Harness::new(false, &[7001, 7002], |cfg| {
        cfg.smpp.reconnect_period = Duration::from_millis(200);
    });
    let (c, p) = bound_customer(&mut h, 1, 7001);
    h.send(c, submit(5));
    let out = h.close(p);
    assert_eq!(
        id(&out.pdu(c)),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RSYSERR, 5)
    );
    let out = h.send(c, submit(6));
    assert_eq!(
        id(&out.pdu(c)),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RSYSERR, 6)
    );
    let out = h.advance(Duration::from_millis(200));
    let (again, to) = out.connects()[0];
    assert_eq!(to, addr(7001), "the same provider first");
    let bind = out.pdu(again);
    let out = h.provider_binds(again, &bind, CommandStatus::ROK);
    assert!(
        out.pdus(c).is_empty(),
        "a rebind's answer is not relayed: {:?}",
        out.pdus(c)
    );
    let out = h.send(c, submit(7));
    assert_eq!(out.pdu(again).command_id, CommandId::SUBMIT_SM);
    // Lost again, and no provider binds: the customer is unbound.
    let out = h.close(again);
    assert_eq!(
        id(&out.pdu(c)),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RSYSERR, 7)
    );
    let out = h.advance(Duration::from_millis(200));
    let (a, _) = out.connects()[0];
    let out = h.feed(Input::ConnectFailed { conn: a });
    let (b, to) = out.connects()[0];
    assert_eq!(to, addr(7002), "then the others");
    let out = h.feed(Input::ConnectFailed { conn: b });
    let u = out.pdu(c);
    assert_eq!(u.command_id, CommandId::UNBIND);
    let out = h.send(c, smpp::unbind_resp(u.sequence_number));
    assert!(out.closed(c));
}

#[test]
fn unbind_from_either_side_ends_both_connections_with_every_unbind_answered() {
    let mut h = Harness::new(false, &[7001], |_| {});
    let (c, p) = bound_customer(&mut h, 1, 7001);
    let out = h.send(c, smpp::unbind(12));
    let fwd = out.pdu(p);
    assert_eq!(fwd.command_id, CommandId::UNBIND);
    let out = h.send(p, smpp::unbind_resp(fwd.sequence_number));
    assert_eq!(
        id(&out.pdu(c)),
        (CommandId::UNBIND_RESP, CommandStatus::ROK, 12)
    );
    assert!(out.closed(c) && out.closed(p));
    let (c, p) = bound_customer(&mut h, 1, 7001);
    let out = h.send(p, smpp::unbind(30));
    assert_eq!(
        id(&out.pdu(p)),
        (CommandId::UNBIND_RESP, CommandStatus::ROK, 30)
    );
    let u = out.pdu(c);
    assert_eq!(u.command_id, CommandId::UNBIND);
    let out = h.send(c, smpp::unbind_resp(u.sequence_number));
    assert!(out.closed(c));
    // A customer leaving unbinds its provider.
    let (c, p) = bound_customer(&mut h, 1, 7001);
    let out = h.close(c);
    assert_eq!(out.pdu(p).command_id, CommandId::UNBIND);
}

#[test]
fn heartbeat_nodes_with_an_smpp_port_are_providers_too() {
    let mut h = Harness::new(false, &[], |_| {});
    let hb =
        h.b.declared
            .iter()
            .find(|d| d.role == Role::Heartbeat)
            .map(|d| d.spec.id)
            .unwrap();
    let conn = ConnId(9);
    h.feed(Input::Accepted {
        conn,
        listener: hb,
        peer: "127.0.0.1:40000".parse().unwrap(),
    });
    let body = r#"{"start":{"hostName":"n1","ip":"127.0.0.1","udpPort":"5080","smppPort":"7009","version":"0","sessionId":"1"}}"#;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    h.feed(Input::Data {
        conn,
        bytes: Bytes::from(req),
    });
    let view = h.b.smpp.view(h.b.cluster());
    assert_eq!(view.remote_servers.len(), 1);
    assert!(view.remote_servers[0].from_heartbeat);
    let c = h.customer();
    let out = h.send(c, bind_pdu(CommandId::BIND_TRANSCEIVER, 1, "cust", "pw"));
    assert_eq!(out.connects()[0].1, addr(7009));
}
