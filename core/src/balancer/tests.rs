use super::*;
use crate::io::{CloseReason, Leg};

const NODE_START: &str = r#"{"start":{"hostName":"node1","ip":"127.0.0.1","udpPort":"5080","tcpPort":"5080","version":"0","sessionId":"1510844617581","heartbeatPort":"2222"}}"#;

fn http_post(body: &str) -> Bytes {
    Bytes::from(format!(
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

fn drain(b: &mut Balancer) -> Vec<Output> {
    std::iter::from_fn(|| b.poll_output()).collect()
}

fn peer() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn register_node(b: &mut Balancer, now: Timestamp) {
    b.handle(
        now,
        Input::ServiceData {
            service: Service::Heartbeat,
            conn: ConnId(1),
            peer: peer(),
            bytes: http_post(NODE_START),
        },
    );
    let out = drain(b);
    let Some(Output::Write { payload, .. }) = out.first() else {
        panic!("heartbeat not answered: {out:?}")
    };
    assert!(payload.ends_with(br#"{"start":"OK"}"#));
    assert_eq!(out.get(1), Some(&Output::Close { conn: ConnId(1) }));
}

const INVITE: &str = "INVITE sip:bob@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@127.0.0.1:5070>;tag=1\r\n\
To: <sip:bob@127.0.0.1:5060>\r\n\
Call-ID: 7f3a9c01@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@127.0.0.1:5070>\r\n\
Content-Length: 0\r\n\r\n";

fn external(transport: Transport) -> ListenerId {
    ListenerId {
        leg: Leg::External,
        transport,
        ipv6: false,
    }
}

#[test]
fn heartbeat_registers_a_node_the_management_api_then_lists() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::from_millis(10));
    let req = Bytes::from_static(b"GET /lbinfo HTTP/1.1\r\n\r\n");
    b.handle(
        Timestamp::from_millis(20),
        Input::ServiceData {
            service: Service::Management,
            conn: ConnId(2),
            peer: peer(),
            bytes: req,
        },
    );
    let out = drain(&mut b);
    let Some(Output::Write { payload, .. }) = out.first() else {
        panic!("management not answered")
    };
    let text = String::from_utf8_lossy(payload);
    assert!(text.contains("\"hostName\":\"node1\""), "{text}");
}

#[test]
fn a_udp_invite_reaches_the_registered_node_with_two_vias_and_two_record_routes() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::from_millis(10));
    let client: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    b.handle(
        Timestamp::from_millis(20),
        Input::Datagram {
            listener: external(Transport::Udp),
            from: client,
            payload: Bytes::from_static(INVITE.as_bytes()),
        },
    );
    let out = drain(&mut b);
    let to_node = out.iter().find_map(|o| match o {
        Output::SendDatagram {
            listener,
            to,
            payload,
        } if listener.leg == Leg::Internal => Some((*to, payload.clone())),
        _ => None,
    });
    let (to, payload) =
        to_node.unwrap_or_else(|| panic!("INVITE not forwarded to the node: {out:?}"));
    assert_eq!(to, "127.0.0.1:5080".parse().unwrap());
    let msg = crate::sip::SipMessage::parse(payload).unwrap();
    assert_eq!(msg.via_count(), 3);
    assert_eq!(msg.record_routes().count(), 2);
    assert_eq!(msg.max_forwards().unwrap(), Some(69));
    let trying = out.iter().any(|o| matches!(o, Output::SendDatagram { listener, to, payload } if listener.leg == Leg::External && *to == client && payload.starts_with(b"SIP/2.0 100")));
    assert!(trying, "no 100 Trying to the client: {out:?}");
}

#[test]
fn no_node_gives_503_with_retry_after() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let client: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    b.handle(
        Timestamp::from_millis(1),
        Input::Datagram {
            listener: external(Transport::Udp),
            from: client,
            payload: Bytes::from_static(INVITE.as_bytes()),
        },
    );
    let out = drain(&mut b);
    let answer = out.iter().find_map(|o| match o {
        Output::SendDatagram { to, payload, .. }
            if *to == client && payload.starts_with(b"SIP/2.0 503") =>
        {
            Some(payload.clone())
        }
        _ => None,
    });
    let answer = answer.unwrap_or_else(|| panic!("no 503: {out:?}"));
    assert!(crate::sip::SipMessage::parse(answer)
        .unwrap()
        .get_by_name("Retry-After")
        .is_some());
}

#[test]
fn tcp_messages_are_framed_and_keepalives_answered() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::from_millis(10));
    let client: SocketAddr = "127.0.0.1:41000".parse().unwrap();
    let conn = ConnId(7);
    b.handle(
        Timestamp::from_millis(11),
        Input::Accepted {
            conn,
            listener: external(Transport::Tcp),
            peer: client,
        },
    );
    b.handle(
        Timestamp::from_millis(12),
        Input::StreamData {
            conn,
            bytes: Bytes::from_static(b"\r\n\r\n"),
        },
    );
    assert_eq!(
        drain(&mut b),
        vec![Output::Write {
            conn,
            payload: Bytes::from_static(b"\r\n")
        }]
    );
    let invite = INVITE.replace("SIP/2.0/UDP 127.0.0.1:5070", "SIP/2.0/TCP 127.0.0.1:5070");
    let (first, second) = invite.as_bytes().split_at(100);
    b.handle(
        Timestamp::from_millis(13),
        Input::StreamData {
            conn,
            bytes: Bytes::copy_from_slice(first),
        },
    );
    assert!(
        drain(&mut b).is_empty(),
        "half a message must wait for the rest"
    );
    b.handle(
        Timestamp::from_millis(14),
        Input::StreamData {
            conn,
            bytes: Bytes::copy_from_slice(second),
        },
    );
    let out = drain(&mut b);
    let connect = out.iter().find_map(|o| match o {
        Output::Connect { conn, listener, to } if listener.leg == Leg::Internal => {
            Some((*conn, *to))
        }
        _ => None,
    });
    let (node_conn, to) =
        connect.unwrap_or_else(|| panic!("no connection opened toward the node: {out:?}"));
    assert_eq!(to, "127.0.0.1:5080".parse().unwrap());
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Write { conn, .. } if *conn == node_conn)));
    assert!(out.iter().any(|o| matches!(o, Output::Write { conn: c, payload } if *c == conn && payload.starts_with(b"SIP/2.0 100"))));
}

#[test]
fn an_unframeable_stream_is_closed_and_counted() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let conn = ConnId(9);
    b.handle(
        Timestamp::ZERO,
        Input::Accepted {
            conn,
            listener: external(Transport::Tcp),
            peer: peer(),
        },
    );
    let no_length =
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK1\r\n\r\n";
    b.handle(
        Timestamp::ZERO,
        Input::StreamData {
            conn,
            bytes: Bytes::from_static(no_length.as_bytes()),
        },
    );
    assert_eq!(drain(&mut b), vec![Output::Close { conn }]);
    assert_eq!(b.cluster().stats().rejected, 1);
    // Later bytes on the closed connection are ignored, not a panic.
    b.handle(
        Timestamp::ZERO,
        Input::StreamData {
            conn,
            bytes: Bytes::from_static(b"x"),
        },
    );
    b.handle(
        Timestamp::ZERO,
        Input::Closed {
            conn,
            reason: CloseReason::PeerClosed,
        },
    );
    assert!(drain(&mut b).is_empty());
}

#[test]
fn nodes_expire_on_the_timer_and_shutdown_notifies_the_survivors() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::from_millis(10));
    b.shutdown(Timestamp::from_millis(20));
    let out = drain(&mut b);
    assert!(
        matches!(&out[..], [Output::HttpNotify { to, request }] if to.port() == 2222 && request.ends_with(br#"{"stop":{"ipAddress":"127.0.0.1","port":2610}}"#)),
        "{out:?}"
    );
    let deadline = b
        .poll_timeout()
        .expect("a live node means an expiry deadline");
    assert!(deadline > Timestamp::from_millis(10));
    b.handle(Timestamp::from_millis(60_000), Input::Timeout);
    assert_eq!(b.cluster().registry().all_nodes().count(), 0);
}

#[test]
fn a_node_that_refuses_the_connection_is_avoided_and_the_call_goes_to_another_node() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::from_millis(10));
    let second = NODE_START
        .replace("node1", "node2")
        .replace("5080", "5090")
        .replace("1510844617581", "1510844617999");
    b.handle(
        Timestamp::from_millis(11),
        Input::ServiceData {
            service: Service::Heartbeat,
            conn: ConnId(2),
            peer: peer(),
            bytes: http_post(&second),
        },
    );
    drain(&mut b);
    let client: SocketAddr = "127.0.0.1:41000".parse().unwrap();
    let conn = ConnId(7);
    b.handle(
        Timestamp::from_millis(12),
        Input::Accepted {
            conn,
            listener: external(Transport::Tcp),
            peer: client,
        },
    );
    let invite = INVITE.replace("SIP/2.0/UDP 127.0.0.1:5070", "SIP/2.0/TCP 127.0.0.1:5070");
    b.handle(
        Timestamp::from_millis(13),
        Input::StreamData {
            conn,
            bytes: Bytes::from(invite),
        },
    );
    let connect_to = |out: &[Output]| {
        out.iter().find_map(|o| match o {
            Output::Connect { conn, to, .. } => Some((*conn, *to)),
            _ => None,
        })
    };
    let out = drain(&mut b);
    let (first_conn, first_node) = connect_to(&out).expect("a connection toward a node");
    b.handle(
        Timestamp::from_millis(14),
        Input::ConnectFailed { conn: first_conn },
    );
    let out = drain(&mut b);
    let (second_conn, second_node) =
        connect_to(&out).unwrap_or_else(|| panic!("no failover connection: {out:?}"));
    assert_ne!(
        second_node, first_node,
        "the refusing node must not be chosen again"
    );
    assert!(out.iter().any(|o| matches!(o, Output::Write { conn, payload } if *conn == second_conn && payload.starts_with(b"INVITE "))));
    let refused = b
        .cluster()
        .registry()
        .find_by_addr(first_node.ip(), first_node.port())
        .unwrap();
    assert!(refused.bad, "the refusing node is marked bad");
    // The second connection fails too: no third attempt, no panic, nothing lost silently.
    b.handle(
        Timestamp::from_millis(15),
        Input::ConnectFailed { conn: second_conn },
    );
    let out = drain(&mut b);
    assert!(
        connect_to(&out).is_none(),
        "a message is retried once, not forever: {out:?}"
    );
}

#[test]
fn reload_applies_algorithm_and_timeouts_and_reports_listener_changes() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::from_millis(10));
    let xml = crate::config::DEFAULT_XML
        .replace(
            "<nodeTimeout>8400</nodeTimeout>",
            "<nodeTimeout>20000</nodeTimeout>",
        )
        .replace(
            "CallIDAffinityBalancerAlgorithm",
            "HeaderConsistentHashBalancerAlgorithm",
        )
        .replace("<udpPort>5060</udpPort>", "<udpPort>5070</udpPort>");
    assert_ne!(
        xml,
        crate::config::DEFAULT_XML,
        "the default file must contain the edited keys"
    );
    let config = Config::from_xml(&xml).unwrap().config;
    let report = b.reconfigure(config, Timestamp::from_millis(20)).unwrap();
    assert!(report.algorithms_rebuilt);
    assert_eq!(report.needs_restart.len(), 1, "{report:?}");
    assert!(report.needs_restart[0].contains("SIP listening points"));
    // The running listener stays what the driver opened.
    assert!(b.listeners().iter().any(|l| l.port == 5060));
    // The new node timeout is in force: the node outlives the old 8.4 s.
    b.handle(Timestamp::from_millis(15_000), Input::Timeout);
    assert_eq!(b.cluster().registry().all_nodes().count(), 1);
    b.handle(Timestamp::from_millis(25_000), Input::Timeout);
    assert_eq!(b.cluster().registry().all_nodes().count(), 0);
}

#[test]
fn a_stream_stalled_in_the_middle_of_a_message_is_closed_after_the_transaction_timeout() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let conn = ConnId(5);
    b.handle(
        Timestamp::ZERO,
        Input::Accepted {
            conn,
            listener: external(Transport::Tcp),
            peer: peer(),
        },
    );
    let start = Timestamp::from_millis(1_000);
    b.handle(
        start,
        Input::StreamData {
            conn,
            bytes: Bytes::from_static(b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP"),
        },
    );
    assert!(drain(&mut b).is_empty());
    let deadline = b.poll_timeout().expect("a stalled message arms a deadline");
    assert_eq!(deadline, start.saturating_add(PARTIAL_MESSAGE_TIMEOUT));
    // More bytes of the same message do not restart the clock.
    b.handle(
        Timestamp::from_millis(20_000),
        Input::StreamData {
            conn,
            bytes: Bytes::from_static(b" 127.0.0.1"),
        },
    );
    assert_eq!(b.poll_timeout(), Some(deadline));
    b.handle(deadline, Input::Timeout);
    assert_eq!(drain(&mut b), vec![Output::Close { conn }]);
    assert_eq!(b.cluster().stats().rejected, 1);
    assert_eq!(b.poll_timeout(), None, "nothing left to wait for");
}

#[test]
fn a_completed_message_clears_the_stall_clock() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let conn = ConnId(6);
    b.handle(
        Timestamp::ZERO,
        Input::Accepted {
            conn,
            listener: external(Transport::Tcp),
            peer: peer(),
        },
    );
    let invite = INVITE.replace("SIP/2.0/UDP 127.0.0.1:5070", "SIP/2.0/TCP 127.0.0.1:5070");
    let (first, second) = invite.as_bytes().split_at(50);
    b.handle(
        Timestamp::from_millis(1),
        Input::StreamData {
            conn,
            bytes: Bytes::copy_from_slice(first),
        },
    );
    assert!(b.poll_timeout().is_some());
    b.handle(
        Timestamp::from_millis(2),
        Input::StreamData {
            conn,
            bytes: Bytes::copy_from_slice(second),
        },
    );
    drain(&mut b);
    assert_eq!(
        b.poll_timeout(),
        Some(Timestamp::ZERO.saturating_add(IDLE_SWEEP_INTERVAL)),
        "no partial message left: only the idle sweep of the open connection"
    );
}

#[test]
fn idle_connections_are_closed_outbound_after_five_minutes_inbound_after_two_hours() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::ZERO);
    let client = ConnId(8);
    b.handle(
        Timestamp::ZERO,
        Input::Accepted {
            conn: client,
            listener: external(Transport::Tcp),
            peer: "127.0.0.1:41000".parse().unwrap(),
        },
    );
    let invite = INVITE.replace("SIP/2.0/UDP 127.0.0.1:5070", "SIP/2.0/TCP 127.0.0.1:5070");
    b.handle(
        Timestamp::from_millis(1),
        Input::StreamData {
            conn: client,
            bytes: Bytes::from(invite),
        },
    );
    let node_conn = drain(&mut b)
        .into_iter()
        .find_map(|o| match o {
            Output::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("a connection toward the node");
    b.handle(
        Timestamp::from_millis(2),
        Input::Connected { conn: node_conn },
    );
    let mut now = Timestamp::ZERO;
    let mut closed = Vec::new();
    while now < Timestamp::from_millis(7_300_000) && closed.len() < 2 {
        now = b
            .poll_timeout()
            .expect("open connections keep a deadline")
            .max(now);
        b.handle(now, Input::Timeout);
        for o in drain(&mut b) {
            if let Output::Close { conn } = o {
                closed.push((conn, now));
            }
        }
    }
    let when = |c: ConnId| {
        closed
            .iter()
            .find(|(x, _)| *x == c)
            .map(|(_, t)| t.as_millis() / 1000)
    };
    let outbound = when(node_conn).expect("the idle node connection is closed");
    assert!((300..=360).contains(&outbound), "closed at {outbound} s");
    let inbound = when(client).expect("the idle client connection is closed");
    assert!((7200..=7260).contains(&inbound), "closed at {inbound} s");
    assert_eq!(
        b.poll_timeout(),
        None,
        "no connection left, no node left: nothing to wait for"
    );
}

#[test]
fn a_resolved_host_name_is_sent_on_a_stream_like_any_address() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let listener = external(Transport::Tcp);
    let payload = Bytes::from_static(b"BYE sip:alice@client.example.com SIP/2.0\r\n\r\n");
    let to: SocketAddr = "127.0.0.1:5099".parse().unwrap();
    b.handle(
        Timestamp::ZERO,
        Input::Resolved {
            listener,
            host: "client.example.com".into(),
            port: 5099,
            addr: Some(to),
            payload: payload.clone(),
        },
    );
    let out = drain(&mut b);
    let Some(Output::Connect {
        conn,
        listener: l,
        to: dest,
    }) = out.first().cloned()
    else {
        panic!("no connection opened: {out:?}")
    };
    assert_eq!((l, dest), (listener, to));
    assert_eq!(out.get(1), Some(&Output::Write { conn, payload }));
    // A name that does not resolve sends nothing (isSend5xxResponse is off by default).
    b.handle(
        Timestamp::ZERO,
        Input::Resolved {
            listener,
            host: "nowhere.invalid".into(),
            port: 5060,
            addr: None,
            payload: Bytes::from_static(b"x"),
        },
    );
    assert!(drain(&mut b).is_empty());
}
