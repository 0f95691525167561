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
        // After the start-up grace period.
        Timestamp::from_millis(5_001),
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
    assert!(refused.suspect, "the refusing node is suspect");
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

const NODE2_START: &str = r#"{"start":{"hostName":"node2","ip":"127.0.0.1","udpPort":"5090","tcpPort":"5090","version":"0","sessionId":"1510844617582"}}"#;

fn register(b: &mut Balancer, now: Timestamp, body: &str) {
    b.handle(
        now,
        Input::ServiceData {
            service: Service::Heartbeat,
            conn: ConnId(1),
            peer: peer(),
            bytes: http_post(body),
        },
    );
    drain(b);
}

/// The datagrams sent to a node port (5080 or 5090) that start with `start`.
fn sent_to(out: &[Output], port: u16, start: &str) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::SendDatagram { to, payload, .. } if to.port() == port && payload.starts_with(start.as_bytes())))
        .count()
}

fn invite_from_client(b: &mut Balancer, now: Timestamp, invite: &str) -> Vec<Output> {
    b.handle(
        now,
        Input::Datagram {
            listener: external(Transport::Udp),
            from: "127.0.0.1:5070".parse().unwrap(),
            payload: Bytes::from(invite.to_owned()),
        },
    );
    drain(b)
}

/// Runs the balancer's timers up to `until`, in steps of at most 10 ms.
fn run_until(b: &mut Balancer, until: Timestamp) -> Vec<Output> {
    let mut out = Vec::new();
    while let Some(at) = b.poll_timeout().filter(|at| *at <= until) {
        b.handle(at, Input::Timeout);
        out.extend(drain(b));
    }
    out
}

/// A node port that got the INVITE first, and the other.
fn first_and_other(out: &[Output]) -> (u16, u16) {
    if sent_to(out, 5080, "INVITE") > 0 {
        (5080, 5090)
    } else {
        assert_eq!(sent_to(out, 5090, "INVITE"), 1, "{out:?}");
        (5090, 5080)
    }
}

/// Two registered nodes (5080, 5090) and a caller's INVITE: the balancer and what it sent.
fn two_nodes_and_an_invite() -> (Balancer, Vec<Output>) {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register(&mut b, Timestamp::from_millis(1), NODE_START);
    register(&mut b, Timestamp::from_millis(1), NODE2_START);
    let out = invite_from_client(&mut b, Timestamp::from_millis(10), INVITE);
    (b, out)
}

#[test]
fn a_silent_node_gets_the_invite_retransmitted_then_the_call_moves_to_another_node() {
    let (mut b, out) = two_nodes_and_an_invite();
    let (silent, other) = first_and_other(&out);
    // Timer A toward the silent node at 0.5 s, then the failover at 1 s (inviteFailoverTimeout).
    let out = run_until(&mut b, Timestamp::from_millis(509));
    assert!(out.is_empty(), "{out:?}");
    let out = run_until(&mut b, Timestamp::from_millis(510));
    assert_eq!(sent_to(&out, silent, "INVITE"), 1, "{out:?}");
    let out = run_until(&mut b, Timestamp::from_millis(1010));
    assert_eq!(sent_to(&out, other, "INVITE"), 1, "{out:?}");
    assert_eq!(sent_to(&out, silent, "INVITE"), 0, "{out:?}");
    assert!(
        !out.iter().any(|o| matches!(o, Output::SendDatagram { payload, .. } if payload.starts_with(b"SIP/2.0 100"))),
        "no second 100 Trying: {out:?}"
    );
    let silent_node = b
        .cluster()
        .registry()
        .find_by_addr("127.0.0.1".parse().unwrap(), silent)
        .unwrap();
    assert!(silent_node.suspect);
    assert_eq!(
        b.cluster().stats().per_node[&silent_node.id].invite_failovers,
        1
    );
    // The INVITE was counted once.
    assert_eq!(b.cluster().stats().requests_by_method["INVITE"], 1);
    // The caller's CANCEL goes where the INVITE went.
    let cancel = INVITE
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    let out = invite_from_client(&mut b, Timestamp::from_millis(1100), &cancel);
    assert_eq!(sent_to(&out, other, "CANCEL"), 1, "{out:?}");
    // A new call avoids the suspect node.
    for i in 0..6 {
        let call = INVITE.replace("7f3a9c01", &format!("new-call-{i}"));
        let out = invite_from_client(&mut b, Timestamp::from_millis(1200 + i), &call);
        assert_eq!(sent_to(&out, silent, "INVITE"), 0, "{out:?}");
    }
}

/// The response a node at `port` sends for `request` (top Via = the balancer's internal Via).
fn node_response(request: &Bytes, status: &str) -> Bytes {
    let text = String::from_utf8_lossy(request);
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| {
            ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                .iter()
                .any(|h| l.starts_with(h))
        })
        .collect();
    Bytes::from(format!(
        "SIP/2.0 {status}\r\n{}\r\nContent-Length: 0\r\n\r\n",
        headers.join("\r\n")
    ))
}

fn internal(transport: Transport) -> ListenerId {
    ListenerId {
        leg: Leg::Internal,
        transport,
        ipv6: false,
    }
}

#[test]
fn a_node_that_answers_is_neither_retransmitted_to_nor_failed_over_and_its_time_is_measured() {
    let mut config = Config::embedded_default();
    config.sip.send_trying = true;
    let mut b = Balancer::new(config, Timestamp::ZERO).unwrap();
    register(&mut b, Timestamp::from_millis(1), NODE_START);
    let out = invite_from_client(&mut b, Timestamp::from_millis(10), INVITE);
    let forwarded = out
        .iter()
        .find_map(|o| match o {
            Output::SendDatagram { to, payload, .. } if to.port() == 5080 => Some(payload.clone()),
            _ => None,
        })
        .expect("forwarded INVITE");
    b.handle(
        Timestamp::from_millis(25),
        Input::Datagram {
            listener: internal(Transport::Udp),
            from: "127.0.0.1:5080".parse().unwrap(),
            payload: node_response(&forwarded, "180 Ringing"),
        },
    );
    let out = drain(&mut b);
    assert!(out.iter().any(
        |o| matches!(o, Output::SendDatagram { payload, .. } if payload.starts_with(b"SIP/2.0 180"))
    ));
    assert_eq!(b.forwarder.transactions().len(), 0);
    let node = b.cluster().registry().all_nodes().next().unwrap().id;
    let out = run_until(&mut b, Timestamp::from_millis(40_000));
    assert_eq!(sent_to(&out, 5080, "INVITE"), 0, "{out:?}");
    let times = b.cluster().stats().per_node[&node].response_times;
    assert_eq!(times.count, 1);
    assert_eq!(times.last_micros, Some(15_000));
}

#[test]
fn a_lone_silent_node_keeps_the_call_until_timer_b_then_the_caller_gets_408() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register(&mut b, Timestamp::from_millis(1), NODE_START);
    invite_from_client(&mut b, Timestamp::from_millis(10), INVITE);
    let out = run_until(&mut b, Timestamp::from_millis(1010));
    let addr: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    assert!(
        b.cluster()
            .registry()
            .find_by_addr(addr, 5080)
            .unwrap()
            .suspect
    );
    // A suspect node is still used when no other node can take a call.
    let call = INVITE.replace("7f3a9c01", "another-call");
    let later = invite_from_client(&mut b, Timestamp::from_millis(1100), &call);
    assert_eq!(sent_to(&later, 5080, "INVITE"), 1, "{later:?}");
    // No other node: the INVITE stays with the suspect node, retransmitted on Timer A.
    let mut out = [out, run_until(&mut b, Timestamp::from_millis(32_009))].concat();
    out.retain(|o| matches!(o, Output::SendDatagram { payload, .. } if String::from_utf8_lossy(payload).contains("7f3a9c01")));
    assert_eq!(sent_to(&out, 5080, "INVITE"), 6, "{out:?}");
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::SendDatagram { to, .. } if to.port() == 5070)),
        "{out:?}"
    );
    let out = run_until(&mut b, Timestamp::from_millis(32_010));
    let timeout = out.iter().find_map(|o| match o {
        Output::SendDatagram { to, payload, .. } if to.port() == 5070 => Some(payload.clone()),
        _ => None,
    });
    let timeout = timeout.unwrap_or_else(|| panic!("no 408: {out:?}"));
    assert!(timeout.starts_with(b"SIP/2.0 408 Request Timeout"));
    let text = String::from_utf8_lossy(&timeout);
    assert!(
        text.contains("branch=z9hG4bKabc") && !text.contains("zsd"),
        "{text}"
    );
}

#[test]
fn a_suspect_node_is_trusted_again_when_it_answers_sip() {
    let (mut b, out) = two_nodes_and_an_invite();
    let (silent, _) = first_and_other(&out);
    let forwarded = out
        .iter()
        .find_map(|o| match o {
            Output::SendDatagram { to, payload, .. } if to.port() == silent => {
                Some(payload.clone())
            }
            _ => None,
        })
        .unwrap();
    run_until(&mut b, Timestamp::from_millis(1010));
    let addr: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    assert!(
        b.cluster()
            .registry()
            .find_by_addr(addr, silent)
            .unwrap()
            .suspect
    );
    // Heartbeats do not clear it.
    register(&mut b, Timestamp::from_millis(1500), NODE_START);
    register(&mut b, Timestamp::from_millis(1500), NODE2_START);
    assert!(
        b.cluster()
            .registry()
            .find_by_addr(addr, silent)
            .unwrap()
            .suspect
    );
    // Its late answer is dropped (the call moved) but proves it alive.
    b.handle(
        Timestamp::from_millis(1600),
        Input::Datagram {
            listener: internal(Transport::Udp),
            from: SocketAddr::new(addr, silent),
            payload: node_response(&forwarded, "180 Ringing"),
        },
    );
    let out = drain(&mut b);
    assert!(
        out.is_empty(),
        "a late answer of the abandoned node reaches nobody: {out:?}"
    );
    assert!(
        !b.cluster()
            .registry()
            .find_by_addr(addr, silent)
            .unwrap()
            .suspect
    );
}

#[test]
fn without_trying_a_silent_node_becomes_suspect_and_the_callers_retransmission_moves() {
    let mut config = Config::embedded_default();
    config.sip.send_trying = false;
    let mut b = Balancer::new(config, Timestamp::ZERO).unwrap();
    register(&mut b, Timestamp::from_millis(1), NODE_START);
    register(&mut b, Timestamp::from_millis(1), NODE2_START);
    let out = invite_from_client(&mut b, Timestamp::from_millis(10), INVITE);
    let (silent, other) = first_and_other(&out);
    let out = run_until(&mut b, Timestamp::from_millis(1500));
    assert_eq!(
        sent_to(&out, silent, "INVITE") + sent_to(&out, other, "INVITE"),
        0,
        "the balancer does not retransmit: {out:?}"
    );
    // The caller's own retransmission (Timer A) reaches the other node.
    let out = invite_from_client(&mut b, Timestamp::from_millis(1510), INVITE);
    assert_eq!(sent_to(&out, other, "INVITE"), 1, "{out:?}");
}

/// Two nodes; a call's INVITE goes to one of them, whose port then refuses the datagram
/// (ICMP). Returns the balancer, the refusing node's port, the other's, and what followed.
fn invite_refused_by_one_of_two() -> (Balancer, u16, u16, Vec<Output>) {
    let (mut b, out) = two_nodes_and_an_invite();
    let (dead, other) = first_and_other(&out);
    b.handle(
        Timestamp::from_millis(11),
        Input::SendFailed {
            listener: internal(Transport::Udp),
            to: SocketAddr::new("127.0.0.1".parse().unwrap(), dead),
        },
    );
    let out = drain(&mut b);
    (b, dead, other, out)
}

#[test]
fn a_refused_datagram_moves_the_invite_at_once() {
    let (_, _, other, out) = invite_refused_by_one_of_two();
    assert_eq!(sent_to(&out, other, "INVITE"), 1, "{out:?}");
}

#[test]
fn during_the_startup_grace_an_initial_udp_request_with_no_node_is_left_to_the_retransmission() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let out = invite_from_client(&mut b, Timestamp::from_millis(100), INVITE);
    assert!(
        !out.iter().any(|o| matches!(o, Output::SendDatagram { payload, .. } if payload.starts_with(b"SIP/2.0 5"))),
        "{out:?}"
    );
    assert_eq!(b.cluster().stats().held_at_startup, 1);
    // The node registers; the caller's retransmission reaches it.
    register(&mut b, Timestamp::from_millis(600), NODE_START);
    let out = invite_from_client(&mut b, Timestamp::from_millis(600), INVITE);
    assert_eq!(sent_to(&out, 5080, "INVITE"), 1, "{out:?}");
}

fn static_node_config() -> Config {
    let mut config = Config::embedded_default();
    config.sip.static_nodes = vec![crate::config::StaticNode {
        host_name: "asterisk".to_owned(),
        ip: "127.0.0.1".parse().unwrap(),
        ports: crate::config::LegPorts {
            udp: Some(5080),
            ..crate::config::LegPorts::default()
        },
        version: "0".to_owned(),
    }];
    config.sip.probing.interval = Duration::from_millis(300);
    config.sip.probing.failure_threshold = 2;
    config.sip.probing.success_threshold = 2;
    config
}

/// The datagrams among `out` sent to `port` that start with `start`.
fn datagrams_to(out: &[Output], port: u16, start: &str) -> Vec<Bytes> {
    out.iter()
        .filter_map(|o| match o {
            Output::SendDatagram { to, payload, .. }
                if to.port() == port && payload.starts_with(start.as_bytes()) =>
            {
                Some(payload.clone())
            }
            _ => None,
        })
        .collect()
}

/// The probes among `out`, as datagrams to 5080.
fn probes(out: &[Output]) -> Vec<Bytes> {
    datagrams_to(out, 5080, "OPTIONS ")
}

fn answer_probe(b: &mut Balancer, now: Timestamp, probe: &Bytes) -> Vec<Output> {
    b.handle(
        now,
        Input::Datagram {
            listener: internal(Transport::Udp),
            from: "127.0.0.1:5080".parse().unwrap(),
            payload: node_response(probe, "200 OK"),
        },
    );
    drain(b)
}

#[test]
fn a_static_node_is_probed_taken_out_after_the_failure_threshold_and_back_after_the_success_threshold(
) {
    let mut b = Balancer::new(static_node_config(), Timestamp::ZERO).unwrap();
    let addr: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let static_node = |b: &Balancer| {
        b.cluster()
            .registry()
            .find_by_addr(addr, 5080)
            .cloned()
            .unwrap()
    };
    assert!(
        static_node(&b).accepts_new_work(),
        "a static node starts in rotation"
    );
    assert!(static_node(&b).permanent);
    // First probe at once, then every 300 ms; two unanswered probes take it out.
    let out = run_until(&mut b, Timestamp::from_millis(0));
    let first = probes(&out);
    assert_eq!(first.len(), 1, "{out:?}");
    let text = String::from_utf8_lossy(&first[0]);
    assert!(
        text.starts_with("OPTIONS sip:127.0.0.1:5080;transport=udp SIP/2.0\r\n"),
        "{text}"
    );
    assert!(text.contains("branch=z9hG4bK-sbprobe-"), "{text}");
    let out = run_until(&mut b, Timestamp::from_millis(300));
    assert_eq!(probes(&out).len(), 1);
    assert!(
        static_node(&b).accepts_new_work(),
        "one failure is below the threshold"
    );
    let out = run_until(&mut b, Timestamp::from_millis(600));
    let third = probes(&out);
    assert_eq!(third.len(), 1);
    assert!(static_node(&b).bad, "two failures take it out");
    // No new call goes to it (after the grace period, the caller gets 503).
    let out = invite_from_client(&mut b, Timestamp::from_millis(610), INVITE);
    assert_eq!(sent_to(&out, 5080, "INVITE"), 0, "{out:?}");
    // Two answered probes bring it back; the answers reach nobody.
    let out = answer_probe(&mut b, Timestamp::from_millis(650), &third[0]);
    assert!(out.is_empty(), "{out:?}");
    assert!(static_node(&b).bad, "one success is below the threshold");
    let out = run_until(&mut b, Timestamp::from_millis(900));
    let fourth = probes(&out);
    assert_eq!(fourth.len(), 1);
    answer_probe(&mut b, Timestamp::from_millis(910), &fourth[0]);
    assert!(
        static_node(&b).accepts_new_work(),
        "back after two good probes"
    );
    let call = INVITE.replace("7f3a9c01", "after-recovery");
    let out = invite_from_client(&mut b, Timestamp::from_millis(920), &call);
    assert_eq!(sent_to(&out, 5080, "INVITE"), 1, "{out:?}");
}

#[test]
fn a_suspect_node_is_probed_after_a_hold_down_and_trusted_again_when_it_answers() {
    let (mut b, dead, _, _) = invite_refused_by_one_of_two();
    let addr: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    assert!(
        b.cluster()
            .registry()
            .find_by_addr(addr, dead)
            .unwrap()
            .suspect
    );
    // Heartbeats keep both nodes registered; the hold-down is 1 s, the probe waits 2 s.
    let mut probe = None;
    for step in 1..=7 {
        let now = Timestamp::from_millis(11 + step * 250);
        register(&mut b, now, NODE_START);
        register(&mut b, now, NODE2_START);
        let out = run_until(&mut b, now);
        probe = probe.or_else(|| datagrams_to(&out, dead, "OPTIONS ").into_iter().next());
    }
    let probe = probe.expect("a probe of the suspect node");
    assert!(
        b.cluster()
            .registry()
            .find_by_addr(addr, dead)
            .unwrap()
            .suspect
    );
    b.handle(
        Timestamp::from_millis(1900),
        Input::Datagram {
            listener: internal(Transport::Udp),
            from: SocketAddr::new(addr, dead),
            payload: node_response(&probe, "200 OK"),
        },
    );
    assert!(drain(&mut b).is_empty());
    assert!(
        !b.cluster()
            .registry()
            .find_by_addr(addr, dead)
            .unwrap()
            .suspect
    );
}

#[test]
fn during_the_startup_grace_a_request_of_a_dialog_whose_node_is_not_back_yet_waits_for_it() {
    let bye = "BYE sip:bob@127.0.0.1:5090 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKbye1\r\n\
Route: <sip:127.0.0.1:5060;transport=udp;lr;node_host=127.0.0.1;node_port=5090;version=0>,<sip:127.0.0.1:5065;transport=udp;lr;node_host=127.0.0.1;node_port=5090;version=0>\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@127.0.0.1:5070>;tag=1\r\n\
To: <sip:bob@127.0.0.1:5060>;tag=2\r\n\
Call-ID: dialog-1@127.0.0.1\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n";
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    // Only the other node is back: the BYE is not failed over to it, nor answered.
    register(&mut b, Timestamp::from_millis(100), NODE_START);
    let out = invite_from_client(&mut b, Timestamp::from_millis(200), bye);
    assert!(out.is_empty(), "{out:?}");
    // Its node re-registers: the caller's retransmission reaches it.
    register(&mut b, Timestamp::from_millis(400), NODE2_START);
    let out = invite_from_client(&mut b, Timestamp::from_millis(700), bye);
    assert_eq!(sent_to(&out, 5090, "BYE"), 1, "{out:?}");
    // After the grace period, a dialog whose node is gone fails over (§1.22).
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register(&mut b, Timestamp::from_millis(5_100), NODE_START);
    let out = invite_from_client(&mut b, Timestamp::from_millis(5_200), bye);
    assert_eq!(sent_to(&out, 5080, "BYE"), 1, "{out:?}");
}
