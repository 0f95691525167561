use super::*;
use crate::forward::{Leg, ListeningPoint};
use crate::io::{ClientTls, CloseReason};
use crate::node::Transport;
use bytes::Bytes;
use sip::{IDLE_SWEEP_INTERVAL, PARTIAL_MESSAGE_TIMEOUT};
use std::net::SocketAddr;
use std::time::Duration;

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

/// The id of the listener that serves `role`, as declared to the driver.
fn listener(b: &Balancer, role: Role) -> ListenerId {
    b.listeners()
        .into_iter()
        .map(|spec| spec.id)
        .find(|id| b.roles.get(id) == Some(&role))
        .unwrap_or_else(|| panic!("no listener for {role:?}"))
}

fn sip_listener(b: &Balancer, leg: Leg, transport: Transport) -> ListenerId {
    listener(
        b,
        Role::Sip(ListeningPoint {
            leg,
            transport,
            ipv6: false,
        }),
    )
}

fn external(b: &Balancer, transport: Transport) -> ListenerId {
    sip_listener(b, Leg::External, transport)
}

fn internal(b: &Balancer, transport: Transport) -> ListenerId {
    sip_listener(b, Leg::Internal, transport)
}

/// The leg a SIP listener faces.
fn leg(b: &Balancer, id: ListenerId) -> Option<Leg> {
    b.sip.point(id).map(|p| p.leg)
}

/// A connection accepted on the service port of `role` that sends `bytes`: what followed.
fn service(
    b: &mut Balancer,
    now: Timestamp,
    role: Role,
    conn: ConnId,
    bytes: Bytes,
) -> Vec<Output> {
    let on = listener(b, role);
    b.handle(
        now,
        Input::Accepted {
            conn,
            listener: on,
            peer: peer(),
        },
    );
    b.handle(now, Input::Data { conn, bytes });
    drain(b)
}

fn register_node(b: &mut Balancer, now: Timestamp) {
    let out = service(b, now, Role::Heartbeat, ConnId(1), http_post(NODE_START));
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

#[test]
fn heartbeat_registers_a_node_the_management_api_then_lists() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::from_millis(10));
    let req = Bytes::from_static(b"GET /lbinfo HTTP/1.1\r\n\r\n");
    let out = service(
        &mut b,
        Timestamp::from_millis(20),
        Role::Management,
        ConnId(2),
        req,
    );
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
            listener: external(&b, Transport::Udp),
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
        } if leg(&b, *listener) == Some(Leg::Internal) => Some((*to, payload.clone())),
        _ => None,
    });
    let (to, payload) =
        to_node.unwrap_or_else(|| panic!("INVITE not forwarded to the node: {out:?}"));
    assert_eq!(to, "127.0.0.1:5080".parse().unwrap());
    let msg = crate::sip::SipMessage::parse(payload).unwrap();
    assert_eq!(msg.via_count(), 3);
    assert_eq!(msg.record_routes().count(), 2);
    assert_eq!(msg.max_forwards().unwrap(), Some(69));
    let trying = out.iter().any(|o| matches!(o, Output::SendDatagram { listener, to, payload } if leg(&b, *listener) == Some(Leg::External) && *to == client && payload.starts_with(b"SIP/2.0 100")));
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
            listener: external(&b, Transport::Udp),
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
            listener: external(&b, Transport::Tcp),
            peer: client,
        },
    );
    b.handle(
        Timestamp::from_millis(12),
        Input::Data {
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
        Input::Data {
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
        Input::Data {
            conn,
            bytes: Bytes::copy_from_slice(second),
        },
    );
    let out = drain(&mut b);
    let connect = out.iter().find_map(|o| match o {
        Output::Connect { conn, to, from, .. }
            if from.is_some_and(|l| leg(&b, l) == Some(Leg::Internal)) =>
        {
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
            listener: external(&b, Transport::Tcp),
            peer: peer(),
        },
    );
    let no_length =
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK1\r\n\r\n";
    b.handle(
        Timestamp::ZERO,
        Input::Data {
            conn,
            bytes: Bytes::from_static(no_length.as_bytes()),
        },
    );
    assert_eq!(drain(&mut b), vec![Output::Close { conn }]);
    assert_eq!(b.cluster().stats().rejected, 1);
    // Later bytes on the closed connection are ignored, not a panic.
    b.handle(
        Timestamp::ZERO,
        Input::Data {
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
        matches!(&out[..], [Output::Connect { conn, to, from: None, tls: None, .. }, Output::Write { conn: written, payload }] if to.port() == 2222 && written == conn && payload.ends_with(br#"{"stop":{"ipAddress":"127.0.0.1","port":2610}}"#)),
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
    service(
        &mut b,
        Timestamp::from_millis(11),
        Role::Heartbeat,
        ConnId(2),
        http_post(&second),
    );
    let client: SocketAddr = "127.0.0.1:41000".parse().unwrap();
    let conn = ConnId(7);
    b.handle(
        Timestamp::from_millis(12),
        Input::Accepted {
            conn,
            listener: external(&b, Transport::Tcp),
            peer: client,
        },
    );
    let invite = INVITE.replace("SIP/2.0/UDP 127.0.0.1:5070", "SIP/2.0/TCP 127.0.0.1:5070");
    b.handle(
        Timestamp::from_millis(13),
        Input::Data {
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
fn reload_applies_algorithm_timeouts_and_listener_changes() {
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
    let udp_5060 = |b: &Balancer| {
        b.listeners()
            .into_iter()
            .filter(|l| l.port == 5060 && l.kind == crate::io::SocketKind::Udp)
            .map(|l| l.id)
            .next()
    };
    let old = udp_5060(&b).expect("external UDP on 5060");
    let before = b.listeners();
    drain(&mut b);
    let report = b.reconfigure(config, Timestamp::from_millis(20)).unwrap();
    assert!(report.algorithms_rebuilt);
    assert!(report.needs_restart.is_empty(), "{report:?}");
    assert_eq!((report.listeners_opened, report.listeners_closed), (1, 1));
    // The external UDP listener moves: the old socket is closed, the new one opened with a
    // fresh id; every other listener keeps its id.
    let out = drain(&mut b);
    let opened: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Listen { spec } => Some(spec.clone()),
            _ => None,
        })
        .collect();
    assert!(out.contains(&Output::CloseListener { id: old }), "{out:?}");
    let [spec] = &opened[..] else {
        panic!("one listener opened: {out:?}")
    };
    assert_eq!(spec.port, 5070);
    assert!(before.iter().all(|l| l.id != spec.id));
    assert_eq!(udp_5060(&b), None);
    assert_eq!(b.listeners().len(), before.len());
    // A datagram on the new listener is SIP of the external leg.
    assert_eq!(leg(&b, spec.id), Some(Leg::External));
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
            listener: external(&b, Transport::Tcp),
            peer: peer(),
        },
    );
    let start = Timestamp::from_millis(1_000);
    b.handle(
        start,
        Input::Data {
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
        Input::Data {
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
            listener: external(&b, Transport::Tcp),
            peer: peer(),
        },
    );
    let invite = INVITE.replace("SIP/2.0/UDP 127.0.0.1:5070", "SIP/2.0/TCP 127.0.0.1:5070");
    let (first, second) = invite.as_bytes().split_at(50);
    b.handle(
        Timestamp::from_millis(1),
        Input::Data {
            conn,
            bytes: Bytes::copy_from_slice(first),
        },
    );
    assert!(b.poll_timeout().is_some());
    b.handle(
        Timestamp::from_millis(2),
        Input::Data {
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
            listener: external(&b, Transport::Tcp),
            peer: "127.0.0.1:41000".parse().unwrap(),
        },
    );
    let invite = INVITE.replace("SIP/2.0/UDP 127.0.0.1:5070", "SIP/2.0/TCP 127.0.0.1:5070");
    b.handle(
        Timestamp::from_millis(1),
        Input::Data {
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

/// A node's request toward a client known only by a host name, over TCP.
const BYE_TO_A_NAME: &str = "BYE sip:alice@client.example.com:5099;transport=tcp SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5080;branch=z9hG4bKnode1\r\n\
Max-Forwards: 70\r\n\
From: <sip:bob@127.0.0.1:5080>;tag=2\r\n\
To: <sip:alice@client.example.com>;tag=1\r\n\
Call-ID: resolve-1@127.0.0.1\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n";

/// A registered node's TCP connection (conn 20) sends [`BYE_TO_A_NAME`]: the balancer and
/// the token of the name resolution it asked for.
fn node_request_to_a_name(config: Config) -> (Balancer, u64) {
    let mut b = Balancer::new(config, Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::ZERO);
    let node = ConnId(20);
    b.handle(
        Timestamp::from_millis(1),
        Input::Accepted {
            conn: node,
            listener: internal(&b, Transport::Tcp),
            peer: "127.0.0.1:5080".parse().unwrap(),
        },
    );
    b.handle(
        Timestamp::from_millis(2),
        Input::Data {
            conn: node,
            bytes: Bytes::from_static(BYE_TO_A_NAME.as_bytes()),
        },
    );
    let out = drain(&mut b);
    let resolve = out.iter().find_map(|o| match o {
        Output::Resolve {
            token,
            host,
            port,
            ipv6,
        } => Some((*token, host.clone(), *port, *ipv6)),
        _ => None,
    });
    let (token, host, port, ipv6) =
        resolve.unwrap_or_else(|| panic!("no name resolution asked for: {out:?}"));
    assert_eq!(
        (host.as_str(), port, ipv6),
        ("client.example.com", 5099, false)
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::Connect { .. })),
        "nothing is sent before the name resolves: {out:?}"
    );
    (b, token)
}

#[test]
fn a_resolved_host_name_is_sent_on_a_stream_like_any_address() {
    let (mut b, token) = node_request_to_a_name(Config::embedded_default());
    let to: SocketAddr = "127.0.0.1:5099".parse().unwrap();
    b.handle(
        Timestamp::from_millis(3),
        Input::Resolved {
            token,
            addr: Some(to),
        },
    );
    let out = drain(&mut b);
    let Some(Output::Connect {
        conn,
        to: dest,
        from,
        tls,
        ..
    }) = out.first().cloned()
    else {
        panic!("no connection opened: {out:?}")
    };
    assert_eq!(
        (from, dest, tls),
        (Some(external(&b, Transport::Tcp)), to, None)
    );
    assert!(
        matches!(out.get(1), Some(Output::Write { conn: c, payload }) if *c == conn && payload.starts_with(b"BYE sip:alice@client.example.com")),
        "{out:?}"
    );
    // An answer nobody waits for (a second answer, an unknown token) does nothing.
    b.handle(
        Timestamp::from_millis(4),
        Input::Resolved {
            token,
            addr: Some(to),
        },
    );
    assert!(drain(&mut b).is_empty());
}

#[test]
fn a_host_name_that_does_not_resolve_sends_nothing_or_the_configured_5xx() {
    // isSend5xxResponse is off by default: nothing is sent.
    let (mut b, token) = node_request_to_a_name(Config::embedded_default());
    b.handle(
        Timestamp::from_millis(3),
        Input::Resolved { token, addr: None },
    );
    assert!(drain(&mut b).is_empty());
    // With it on, the node gets the 5xx on its connection (§1.16).
    let mut config = Config::embedded_default();
    config.sip.send_5xx_response = true;
    let (mut b, token) = node_request_to_a_name(config);
    b.handle(
        Timestamp::from_millis(3),
        Input::Resolved { token, addr: None },
    );
    let out = drain(&mut b);
    assert!(
        matches!(&out[..], [Output::Write { conn: ConnId(20), payload }] if payload.starts_with(b"SIP/2.0 503")),
        "{out:?}"
    );
}

const NODE2_START: &str = r#"{"start":{"hostName":"node2","ip":"127.0.0.1","udpPort":"5090","tcpPort":"5090","version":"0","sessionId":"1510844617582"}}"#;

fn register(b: &mut Balancer, now: Timestamp, body: &str) {
    service(b, now, Role::Heartbeat, ConnId(1), http_post(body));
}

/// The cluster events among `out` (kind and node), and the other outputs.
fn split_cluster_events(out: Vec<Output>) -> (Vec<(ClusterEventKind, String)>, Vec<Output>) {
    let mut events = Vec::new();
    let mut rest = Vec::new();
    for o in out {
        match o {
            Output::Cluster { kind, node } => events.push((kind, node)),
            other => rest.push(other),
        }
    }
    (events, rest)
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
            listener: external(b, Transport::Udp),
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
            listener: internal(&b, Transport::Udp),
            from: "127.0.0.1:5080".parse().unwrap(),
            payload: node_response(&forwarded, "180 Ringing"),
        },
    );
    let out = drain(&mut b);
    assert!(out.iter().any(
        |o| matches!(o, Output::SendDatagram { payload, .. } if payload.starts_with(b"SIP/2.0 180"))
    ));
    assert_eq!(b.sip.forwarder().transactions().len(), 0);
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
            listener: internal(&b, Transport::Udp),
            from: SocketAddr::new(addr, silent),
            payload: node_response(&forwarded, "180 Ringing"),
        },
    );
    let (events, out) = split_cluster_events(drain(&mut b));
    assert!(
        out.is_empty(),
        "a late answer of the abandoned node reaches nobody: {out:?}"
    );
    let name = if silent == 5080 { "node1" } else { "node2" };
    assert_eq!(
        events,
        vec![(ClusterEventKind::NodeTrusted, format!("{name}/127.0.0.1"))]
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
            listener: internal(&b, Transport::Udp),
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
            listener: internal(b, Transport::Udp),
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
            listener: internal(&b, Transport::Udp),
            from: SocketAddr::new(addr, dead),
            payload: node_response(&probe, "200 OK"),
        },
    );
    let (events, out) = split_cluster_events(drain(&mut b));
    assert!(out.is_empty(), "the probe's answer reaches nobody: {out:?}");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, ClusterEventKind::NodeTrusted);
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

fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// The connections opened among `out`, with their destinations.
fn connects(out: &[Output]) -> Vec<(ConnId, SocketAddr)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Connect { conn, to, .. } => Some((*conn, *to)),
            _ => None,
        })
        .collect()
}

/// What was written on `conn` among `out`.
fn writes_on(out: &[Output], conn: ConnId) -> Vec<Bytes> {
    out.iter()
        .filter_map(|o| match o {
            Output::Write { conn: c, payload } if *c == conn => Some(payload.clone()),
            _ => None,
        })
        .collect()
}

fn tcp_invite() -> String {
    INVITE.replace("SIP/2.0/UDP 127.0.0.1:5070", "SIP/2.0/TCP 127.0.0.1:5070")
}

/// A caller's INVITE over TCP (conn 7) with `nodes` registered: the balancer, the connection
/// it opened toward a node and that node's address.
fn tcp_invite_with(config: Config, nodes: &[&str]) -> (Balancer, ConnId, SocketAddr) {
    let mut b = Balancer::new(config, Timestamp::ZERO).unwrap();
    for node in nodes {
        register(&mut b, at(1), node);
    }
    b.handle(
        at(2),
        Input::Accepted {
            conn: ConnId(7),
            listener: external(&b, Transport::Tcp),
            peer: "127.0.0.1:41000".parse().unwrap(),
        },
    );
    b.handle(
        at(3),
        Input::Data {
            conn: ConnId(7),
            bytes: Bytes::from(tcp_invite()),
        },
    );
    let out = drain(&mut b);
    let [(conn, to)] = connects(&out)[..] else {
        panic!("one connection toward a node: {out:?}")
    };
    assert!(
        writes_on(&out, conn)
            .iter()
            .any(|p| p.starts_with(b"INVITE ")),
        "{out:?}"
    );
    (b, conn, to)
}

/// Nodes that outlive the test without heartbeats, and INVITEs that only move when their
/// connection fails.
fn patient_config() -> Config {
    let mut config = Config::embedded_default();
    config.common.node_timeout = Duration::from_secs(600);
    config.sip.invite_failover_timeout = Duration::from_secs(300);
    config
}

#[test]
fn an_outbound_connection_never_established_is_closed_after_ten_seconds_and_the_invite_moves() {
    let (mut b, first, first_node) = tcp_invite_with(patient_config(), &[NODE_START, NODE2_START]);
    let deadline = 3 + net::CONNECT_TIMEOUT.as_millis() as u64;
    let out = run_until(&mut b, at(deadline - 1));
    assert!(
        !out.contains(&Output::Close { conn: first }),
        "closed too early: {out:?}"
    );
    let out = run_until(&mut b, at(deadline));
    assert_eq!(out.first(), Some(&Output::Close { conn: first }), "{out:?}");
    let [(second, second_node)] = connects(&out)[..] else {
        panic!("the INVITE moves to the other node: {out:?}")
    };
    assert_ne!(second_node, first_node);
    assert!(writes_on(&out, second)
        .iter()
        .any(|p| p.starts_with(b"INVITE ")));
    let silent = b
        .cluster()
        .registry()
        .find_by_addr(first_node.ip(), first_node.port())
        .unwrap();
    assert!(silent.suspect, "the unreachable node is suspect");
    // The driver's late report on the forgotten connection changes nothing.
    b.handle(at(deadline + 1), Input::Connected { conn: first });
    assert!(drain(&mut b).is_empty());
}

#[test]
fn a_lone_node_that_cannot_be_reached_gets_the_caller_the_configured_5xx() {
    let mut config = patient_config();
    config.sip.send_5xx_response = true;
    let (mut b, _, _) = tcp_invite_with(config, &[NODE_START]);
    let timeout = net::CONNECT_TIMEOUT.as_millis() as u64;
    let refused = |out: &[Output]| {
        writes_on(out, ConnId(7))
            .iter()
            .any(|p| p.starts_with(b"SIP/2.0 503"))
    };
    // The suspect node is the only one: the INVITE is tried once more on a new connection.
    let out = run_until(&mut b, at(3 + timeout));
    let [(second, _)] = connects(&out)[..] else {
        panic!("one more attempt: {out:?}")
    };
    assert!(writes_on(&out, second)
        .iter()
        .any(|p| p.starts_with(b"INVITE ")));
    assert!(!refused(&out), "{out:?}");
    let out = run_until(&mut b, at(3 + 2 * timeout - 1));
    assert!(!refused(&out), "{out:?}");
    // That one times out too: the caller gets the 503, and the INVITE goes nowhere else.
    let out = run_until(&mut b, at(3 + 2 * timeout));
    assert!(out.contains(&Output::Close { conn: second }), "{out:?}");
    assert!(refused(&out), "the caller gets a 503: {out:?}");
    assert!(
        connects(&out).iter().all(|(c, _)| !writes_on(&out, *c)
            .iter()
            .any(|p| p.starts_with(b"INVITE "))),
        "{out:?}"
    );
}

#[test]
fn an_accepted_tls_connection_that_sends_nothing_is_closed_after_ten_seconds() {
    let mut config = Config::embedded_default();
    config.sip.external.ports.tls = Some(5061);
    let mut b = Balancer::new(config, Timestamp::ZERO).unwrap();
    let tls = external(&b, Transport::Tls);
    assert!(b
        .listeners()
        .iter()
        .any(|l| l.id == tls && l.port == 5061 && l.tls.is_some()));
    let (silent, talking) = (ConnId(30), ConnId(31));
    for conn in [silent, talking] {
        b.handle(
            Timestamp::ZERO,
            Input::Accepted {
                conn,
                listener: tls,
                peer: peer(),
            },
        );
    }
    b.handle(
        at(1_000),
        Input::Data {
            conn: talking,
            bytes: Bytes::from_static(b"\r\n\r\n"),
        },
    );
    assert_eq!(writes_on(&drain(&mut b), talking).len(), 1);
    let out = run_until(&mut b, at(9_999));
    assert!(out.is_empty(), "{out:?}");
    let out = run_until(&mut b, at(10_000));
    assert_eq!(out, vec![Output::Close { conn: silent }]);
}

const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// External and internal WebSocket listeners (5062, 5067).
fn ws_config() -> Config {
    let mut config = Config::embedded_default();
    config.sip.external.ports.ws = Some(5062);
    config.sip.internal.ports.ws = Some(5067);
    config
}

fn upgrade_request(protocol: Option<&str>) -> Bytes {
    let protocol = protocol
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    Bytes::from(format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:5062\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n{protocol}\r\n"
    ))
}

/// A WebSocket client accepted on the external WS listener as `conn`, sending `request`.
fn ws_accept(b: &mut Balancer, now: Timestamp, conn: ConnId, request: Bytes) -> Vec<Output> {
    let on = external(b, Transport::Ws);
    b.handle(
        now,
        Input::Accepted {
            conn,
            listener: on,
            peer: "127.0.0.1:42000".parse().unwrap(),
        },
    );
    b.handle(
        now,
        Input::Data {
            conn,
            bytes: request,
        },
    );
    drain(b)
}

/// The browser's end of a WebSocket connection: masks what it sends.
fn ws_client_codec() -> crate::ws::WsCodec {
    crate::ws::WsCodec::new(crate::ws::Role::Client, crate::ws::MAX_MESSAGE, 7)
}

/// Decodes `frame`, written by the balancer toward a WebSocket client or by a node, as one
/// complete unmasked text frame.
fn unmasked_text(frame: &Bytes) -> Bytes {
    assert_eq!(frame[0], 0x81, "one final text frame: {frame:?}");
    assert_eq!(frame[1] & 0x80, 0, "unmasked: {frame:?}");
    let mut codec = ws_client_codec();
    codec.feed(frame);
    match codec.next_event() {
        Ok(Some(crate::ws::WsEvent::Message {
            text: true,
            payload,
        })) => {
            assert_eq!(codec.next_event(), Ok(None), "one frame only");
            payload
        }
        other => panic!("not a text message: {other:?}"),
    }
}

const WS_INVITE: &str = "INVITE sip:bob@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@127.0.0.1>;tag=1\r\n\
To: <sip:bob@127.0.0.1:5060>\r\n\
Call-ID: ws-call-1@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn a_websocket_upgrade_offering_sip_is_accepted_with_the_accept_hash() {
    let mut b = Balancer::new(ws_config(), Timestamp::ZERO).unwrap();
    let conn = ConnId(40);
    let out = ws_accept(&mut b, Timestamp::ZERO, conn, upgrade_request(Some("sip")));
    let [Output::Write { conn: c, payload }] = &out[..] else {
        panic!("one answer: {out:?}")
    };
    assert_eq!(*c, conn);
    let text = String::from_utf8_lossy(payload);
    assert!(text.starts_with("HTTP/1.1 101 "), "{text}");
    let accept = crate::ws::handshake::accept_key(WS_KEY);
    assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert!(
        text.contains(&format!("Sec-WebSocket-Accept: {accept}\r\n")),
        "{text}"
    );
    assert!(text.contains("Sec-WebSocket-Protocol: sip\r\n"), "{text}");
    // The upgrade finished: no handshake deadline is left for the connection.
    assert!(!b
        .deadlines()
        .iter()
        .any(|(_, t)| *t == Timer::Handshake(conn)));
}

#[test]
fn a_websocket_upgrade_without_sip_is_refused_400_and_closed() {
    let mut b = Balancer::new(ws_config(), Timestamp::ZERO).unwrap();
    let conn = ConnId(41);
    let out = ws_accept(&mut b, Timestamp::ZERO, conn, upgrade_request(None));
    assert!(
        matches!(&out[..], [Output::Write { conn: c, payload }, Output::Close { conn: closed }]
            if *c == conn && *closed == conn && payload.starts_with(b"HTTP/1.1 400 ")),
        "{out:?}"
    );
    assert_eq!(b.sip.connections(), 0);
}

#[test]
fn sip_over_websocket_reaches_the_node_as_plain_sip_and_answers_return_as_text_frames() {
    let mut config = ws_config();
    // The nodes speak UDP.
    config.sip.internal_transport = Some(Transport::Udp);
    let mut b = Balancer::new(config, Timestamp::ZERO).unwrap();
    register(&mut b, at(1), NODE_START);
    let conn = ConnId(42);
    ws_accept(&mut b, at(2), conn, upgrade_request(Some("sip")));
    let mut client = ws_client_codec();
    let frame = client.encode_message(WS_INVITE.as_bytes(), true);
    assert_ne!(frame[1] & 0x80, 0, "a client's frame is masked");
    b.handle(at(3), Input::Data { conn, bytes: frame });
    let out = drain(&mut b);
    let forwarded = datagrams_to(&out, 5080, "INVITE ");
    assert_eq!(forwarded.len(), 1, "{out:?}");
    assert!(
        String::from_utf8_lossy(&forwarded[0]).contains("Call-ID: ws-call-1@127.0.0.1\r\n"),
        "{out:?}"
    );
    // The 100 Trying goes back on the client's connection as one unmasked text frame.
    let back = writes_on(&out, conn);
    assert_eq!(back.len(), 1, "{out:?}");
    assert!(unmasked_text(&back[0]).starts_with(b"SIP/2.0 100 "));
    // So does the node's answer.
    b.handle(
        at(4),
        Input::Datagram {
            listener: internal(&b, Transport::Udp),
            from: "127.0.0.1:5080".parse().unwrap(),
            payload: node_response(&forwarded[0], "180 Ringing"),
        },
    );
    let out = drain(&mut b);
    let back = writes_on(&out, conn);
    assert_eq!(back.len(), 1, "{out:?}");
    let ringing = unmasked_text(&back[0]);
    assert!(ringing.starts_with(b"SIP/2.0 180 "), "{ringing:?}");
    assert!(String::from_utf8_lossy(&ringing).contains("branch=z9hG4bKws1"));
}

#[test]
fn a_websocket_ping_gets_a_pong() {
    let mut b = Balancer::new(ws_config(), Timestamp::ZERO).unwrap();
    let conn = ConnId(43);
    ws_accept(&mut b, Timestamp::ZERO, conn, upgrade_request(Some("sip")));
    let mut client = ws_client_codec();
    b.handle(
        at(1),
        Input::Data {
            conn,
            bytes: client.encode_ping(b"are you there"),
        },
    );
    let out = drain(&mut b);
    let [Output::Write { conn: c, payload }] = &out[..] else {
        panic!("one pong: {out:?}")
    };
    assert_eq!(*c, conn);
    client.feed(payload);
    assert_eq!(
        client.next_event(),
        Ok(Some(crate::ws::WsEvent::Pong(Bytes::from_static(
            b"are you there"
        ))))
    );
}

/// A node that takes SIP over WebSocket only (plus UDP for nothing here).
const NODE_WS_START: &str = r#"{"start":{"hostName":"node1","ip":"127.0.0.1","wsPort":"5082","version":"0","sessionId":"1510844617581","heartbeatPort":"2222"}}"#;

#[test]
fn an_outbound_websocket_connection_upgrades_before_it_carries_sip() {
    let mut b = Balancer::new(ws_config(), Timestamp::ZERO).unwrap();
    register(&mut b, at(1), NODE_WS_START);
    let client = ConnId(44);
    ws_accept(&mut b, at(2), client, upgrade_request(Some("sip")));
    let mut client_codec = ws_client_codec();
    b.handle(
        at(3),
        Input::Data {
            conn: client,
            bytes: client_codec.encode_message(WS_INVITE.as_bytes(), true),
        },
    );
    let out = drain(&mut b);
    let Some(Output::Connect {
        conn: node,
        to,
        from,
        tls,
        ..
    }) = out
        .iter()
        .find(|o| matches!(o, Output::Connect { .. }))
        .cloned()
    else {
        panic!("no connection toward the node: {out:?}")
    };
    assert_eq!(to, "127.0.0.1:5082".parse().unwrap());
    assert_eq!(from, Some(internal(&b, Transport::Ws)));
    assert_eq!(tls, None::<ClientTls>);
    // The upgrade request first, and nothing else until the node switches protocols.
    let written = writes_on(&out, node);
    let [request] = &written[..] else {
        panic!("only the upgrade request: {out:?}")
    };
    let request = String::from_utf8_lossy(request).into_owned();
    assert!(request.starts_with("GET / HTTP/1.1\r\n"), "{request}");
    assert!(
        request.contains("Sec-WebSocket-Protocol: sip\r\n"),
        "{request}"
    );
    b.handle(at(4), Input::Connected { conn: node });
    assert!(writes_on(&drain(&mut b), node).is_empty());
    // The node's 101.
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key");
    let switching = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: sip\r\n\r\n",
        crate::ws::handshake::accept_key(key)
    );
    b.handle(
        at(5),
        Input::Data {
            conn: node,
            bytes: Bytes::from(switching),
        },
    );
    let out = drain(&mut b);
    let written = writes_on(&out, node);
    let [frame] = &written[..] else {
        panic!("the held INVITE: {out:?}")
    };
    assert_ne!(
        frame[1] & 0x80,
        0,
        "the balancer's frames toward a node are masked"
    );
    let mut node_codec =
        crate::ws::WsCodec::new(crate::ws::Role::Server, crate::ws::MAX_MESSAGE, 0);
    node_codec.feed(frame);
    let Ok(Some(crate::ws::WsEvent::Message {
        text: true,
        payload: invite,
    })) = node_codec.next_event()
    else {
        panic!("not a text message")
    };
    let text = String::from_utf8_lossy(&invite);
    assert!(text.starts_with("INVITE sip:bob@127.0.0.1:"), "{text}");
    assert!(text.contains("Call-ID: ws-call-1@127.0.0.1\r\n"), "{text}");
    // The node's answer (an unmasked frame) reaches the client as one unmasked text frame.
    let ringing = node_response(&invite, "180 Ringing");
    b.handle(
        at(6),
        Input::Data {
            conn: node,
            bytes: node_codec.encode_message(&ringing, true),
        },
    );
    let out = drain(&mut b);
    let back = writes_on(&out, client);
    assert_eq!(back.len(), 1, "{out:?}");
    assert!(unmasked_text(&back[0]).starts_with(b"SIP/2.0 180 "));
}

/// A WebSocket client (conn 44) sends an INVITE that must reach a node over WebSocket: the
/// balancer and the connection it opened toward the node, with the upgrade request.
fn ws_invite_toward_a_ws_node(config: Config) -> (Balancer, ConnId, String) {
    let mut b = Balancer::new(config, Timestamp::ZERO).unwrap();
    register(&mut b, at(1), NODE_WS_START);
    ws_accept(&mut b, at(2), ConnId(44), upgrade_request(Some("sip")));
    b.handle(
        at(3),
        Input::Data {
            conn: ConnId(44),
            bytes: ws_client_codec().encode_message(WS_INVITE.as_bytes(), true),
        },
    );
    let out = drain(&mut b);
    let [(node, _)] = connects(&out)[..] else {
        panic!("one connection toward the node: {out:?}")
    };
    let written = writes_on(&out, node);
    let [request] = &written[..] else {
        panic!("only the upgrade request: {out:?}")
    };
    (b, node, String::from_utf8_lossy(request).into_owned())
}

#[test]
fn an_outbound_websocket_upgrade_left_half_answered_is_closed_after_ten_seconds() {
    let mut config = ws_config();
    config.common.node_timeout = Duration::from_secs(600);
    let (mut b, node, _) = ws_invite_toward_a_ws_node(config);
    b.handle(at(4), Input::Connected { conn: node });
    b.handle(
        at(5),
        Input::Data {
            conn: node,
            bytes: Bytes::from_static(b"HTTP/1.1 101 Switching Protocols\r\n"),
        },
    );
    assert!(drain(&mut b).is_empty());
    let deadline = 4 + net::HANDSHAKE_TIMEOUT.as_millis() as u64;
    let out = run_until(&mut b, at(deadline - 1));
    assert!(!out.contains(&Output::Close { conn: node }), "{out:?}");
    let out = run_until(&mut b, at(deadline));
    assert!(out.contains(&Output::Close { conn: node }), "{out:?}");
}

#[test]
fn a_heartbeat_fed_one_byte_at_a_time_is_answered_once() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let conn = ConnId(3);
    b.handle(
        Timestamp::ZERO,
        Input::Accepted {
            conn,
            listener: listener(&b, Role::Heartbeat),
            peer: peer(),
        },
    );
    let request = http_post(NODE_START);
    let mut out = Vec::new();
    for (i, byte) in request.iter().enumerate() {
        b.handle(
            at(i as u64),
            Input::Data {
                conn,
                bytes: Bytes::copy_from_slice(&[*byte]),
            },
        );
        let step = drain(&mut b);
        if i + 1 < request.len() {
            assert!(step.is_empty(), "answered after {} bytes: {step:?}", i + 1);
        }
        out.extend(step);
    }
    let (_, out) = split_cluster_events(out);
    assert!(
        matches!(&out[..], [Output::Write { conn: c, payload }, Output::Close { conn: closed }]
            if *c == conn && *closed == conn && payload.ends_with(br#"{"start":"OK"}"#)),
        "{out:?}"
    );
    assert_eq!(b.cluster().registry().all_nodes().count(), 1);
}

#[test]
fn a_service_request_over_64_kib_is_refused_and_closed() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    // A head that never ends.
    let conn = ConnId(4);
    let mut head = b"GET /lbinfo HTTP/1.1\r\nX-Padding: ".to_vec();
    head.resize(services::SERVICE_MAX_BYTES + 1024, b'a');
    let out = service(
        &mut b,
        Timestamp::ZERO,
        Role::Management,
        conn,
        Bytes::from(head),
    );
    assert!(
        matches!(&out[..], [Output::Write { conn: c, payload }, Output::Close { conn: closed }]
            if *c == conn && *closed == conn && payload.starts_with(b"HTTP/1.1 431 ")),
        "{out:?}"
    );
    // A body announced larger than the limit.
    let conn = ConnId(5);
    let post = format!(
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
        services::SERVICE_MAX_BYTES + 1
    );
    let out = service(
        &mut b,
        Timestamp::ZERO,
        Role::Heartbeat,
        conn,
        Bytes::from(post),
    );
    assert!(
        matches!(&out[..], [Output::Write { conn: c, payload }, Output::Close { conn: closed }]
            if *c == conn && *closed == conn && payload.starts_with(b"HTTP/1.1 413 ")),
        "{out:?}"
    );
    // Later bytes on the closed connection are ignored.
    b.handle(
        at(1),
        Input::Data {
            conn,
            bytes: Bytes::from_static(b"}"),
        },
    );
    assert!(drain(&mut b).is_empty());
}

#[test]
fn a_silent_service_connection_is_closed_after_thirty_seconds() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let (silent, slow) = (ConnId(10), ConnId(11));
    for (conn, role) in [(silent, Role::Heartbeat), (slow, Role::Management)] {
        b.handle(
            Timestamp::ZERO,
            Input::Accepted {
                conn,
                listener: listener(&b, role),
                peer: peer(),
            },
        );
    }
    // Bytes give a connection another 30 s.
    b.handle(
        at(10_000),
        Input::Data {
            conn: slow,
            bytes: Bytes::from_static(b"GET /lb"),
        },
    );
    assert!(run_until(&mut b, at(29_999)).is_empty());
    assert_eq!(
        run_until(&mut b, at(30_000)),
        vec![Output::Close { conn: silent }]
    );
    assert!(run_until(&mut b, at(39_999)).is_empty());
    assert_eq!(
        run_until(&mut b, at(40_000)),
        vec![Output::Close { conn: slow }]
    );
}

/// The stop notification among `out`: its connection, destination and request.
fn stop_notification(out: &[Output]) -> (ConnId, SocketAddr, Bytes) {
    let (_, out) = split_cluster_events(out.to_vec());
    let [Output::Connect {
        conn,
        to,
        from: None,
        tls: None,
        ..
    }, Output::Write {
        conn: written,
        payload,
    }] = &out[..]
    else {
        panic!("one stop notification: {out:?}")
    };
    assert_eq!(written, conn);
    assert!(payload.ends_with(br#"{"stop":{"ipAddress":"127.0.0.1","port":2610}}"#));
    (*conn, *to, payload.clone())
}

#[test]
fn lbstop_closes_the_management_port_then_notifies_the_nodes_and_exits_once_they_answered() {
    let mut b = Balancer::new(patient_config(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::ZERO);
    let out = service(
        &mut b,
        at(10),
        Role::Management,
        ConnId(2),
        Bytes::from_static(b"GET /lbstop HTTP/1.1\r\n\r\n"),
    );
    assert!(
        matches!(&out[..], [Output::Write { payload, .. }, Output::Close { conn: ConnId(2) }, Output::CloseListener { id }]
            if payload.starts_with(b"HTTP/1.1 200 ") && *id == listener(&b, Role::Management)),
        "{out:?}"
    );
    let stop_at = 10 + b.config().common.shutdown_timeout.as_millis() as u64;
    let out = run_until(&mut b, at(stop_at - 1));
    assert!(out.is_empty(), "nothing before shutdownTimeout: {out:?}");
    let out = run_until(&mut b, at(stop_at));
    let (conn, to, _) = stop_notification(&out);
    assert_eq!(to, "127.0.0.1:2222".parse().unwrap());
    b.handle(at(stop_at + 5), Input::Connected { conn });
    b.handle(
        at(stop_at + 6),
        Input::Data {
            conn,
            bytes: Bytes::from_static(
                b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"stop\":\"OK\"}",
            ),
        },
    );
    assert!(drain(&mut b).is_empty());
    b.handle(
        at(stop_at + 7),
        Input::Closed {
            conn,
            reason: CloseReason::PeerClosed,
        },
    );
    assert_eq!(drain(&mut b), vec![Output::Exit]);
    // Exit comes once.
    assert!(run_until(&mut b, at(stop_at + 10_000))
        .iter()
        .all(|o| *o != Output::Exit));
}

#[test]
fn a_node_that_never_answers_the_stop_notification_delays_the_exit_by_two_seconds() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::ZERO);
    b.shutdown(at(100));
    let (conn, _, _) = stop_notification(&drain(&mut b));
    let limit = 100 + notify::NOTIFY_LIMIT.as_millis() as u64;
    let out = run_until(&mut b, at(limit - 1));
    assert!(!out.contains(&Output::Exit), "{out:?}");
    let out = run_until(&mut b, at(limit));
    assert_eq!(out, vec![Output::Close { conn }, Output::Exit]);
}

#[test]
fn shutdown_with_no_node_to_notify_exits_at_once() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    b.shutdown(at(1));
    assert_eq!(drain(&mut b), vec![Output::Exit]);
    // A node without a heartbeatPort is not notified either.
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register(&mut b, at(1), NODE2_START);
    b.shutdown(at(2));
    assert_eq!(drain(&mut b), vec![Output::Exit]);
}

#[test]
fn a_udp_request_to_a_host_name_is_sent_once_it_resolves() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    register_node(&mut b, Timestamp::ZERO);
    let bye = BYE_TO_A_NAME
        .replace("SIP/2.0/TCP", "SIP/2.0/UDP")
        .replace(";transport=tcp", "");
    b.handle(
        at(1),
        Input::Datagram {
            listener: internal(&b, Transport::Udp),
            from: "127.0.0.1:5080".parse().unwrap(),
            payload: Bytes::from(bye),
        },
    );
    let out = drain(&mut b);
    let [Output::Resolve {
        token,
        host,
        port: 5099,
        ipv6: false,
    }] = &out[..]
    else {
        panic!("one name resolution: {out:?}")
    };
    assert_eq!(host, "client.example.com");
    let to: SocketAddr = "192.0.2.7:5099".parse().unwrap();
    b.handle(
        at(2),
        Input::Resolved {
            token: *token,
            addr: Some(to),
        },
    );
    let out = drain(&mut b);
    assert!(
        matches!(&out[..], [Output::SendDatagram { listener, to: dest, payload }]
            if *listener == external(&b, Transport::Udp) && *dest == to && payload.starts_with(b"BYE ")),
        "{out:?}"
    );
}

#[test]
fn poll_timeout_is_the_earliest_deadline() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let earliest = |b: &Balancer| b.deadlines().first().map(|(at, _)| *at);
    assert_eq!(b.poll_timeout(), earliest(&b));
    register_node(&mut b, at(1));
    assert!(b.deadlines().iter().any(|(_, t)| *t == Timer::Cluster));
    assert_eq!(b.poll_timeout(), earliest(&b));
    // A silent service connection and a stream holding half a message.
    b.handle(
        at(2),
        Input::Accepted {
            conn: ConnId(3),
            listener: listener(&b, Role::Management),
            peer: peer(),
        },
    );
    b.handle(
        at(3),
        Input::Accepted {
            conn: ConnId(4),
            listener: external(&b, Transport::Tcp),
            peer: peer(),
        },
    );
    b.handle(
        at(4),
        Input::Data {
            conn: ConnId(4),
            bytes: Bytes::from_static(b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"),
        },
    );
    let deadlines = b.deadlines();
    assert!(deadlines.contains(&(at(30_002), Timer::ServiceIdle(ConnId(3)))));
    assert!(deadlines.iter().any(|(_, t)| *t == Timer::SipStreams));
    assert!(deadlines.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(b.poll_timeout(), earliest(&b));
    // While outputs wait, the driver must not sleep.
    invite_from_client(&mut b, at(5), INVITE);
    b.handle(
        at(6),
        Input::Datagram {
            listener: external(&b, Transport::Udp),
            from: "127.0.0.1:5070".parse().unwrap(),
            payload: Bytes::from_static(INVITE.as_bytes()),
        },
    );
    assert_eq!(b.poll_timeout(), Some(at(6)));
    drain(&mut b);
    assert_eq!(b.poll_timeout(), earliest(&b));
    // Every step of a run keeps the rule.
    for _ in 0..20 {
        let Some(next) = b.poll_timeout() else { break };
        b.handle(next, Input::Timeout);
        drain(&mut b);
        assert_eq!(b.poll_timeout(), earliest(&b));
    }
}

#[test]
fn a_node_joining_and_leaving_is_reported_as_cluster_outputs() {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let out = service(
        &mut b,
        at(1),
        Role::Heartbeat,
        ConnId(1),
        http_post(NODE_START),
    );
    let (events, _) = split_cluster_events(out);
    assert_eq!(
        events,
        vec![(ClusterEventKind::NodeAdded, "node1/127.0.0.1".to_owned())]
    );
    // No more heartbeats: the node expires.
    let (events, _) = split_cluster_events(run_until(&mut b, at(60_000)));
    assert_eq!(
        events,
        vec![(ClusterEventKind::NodeRemoved, "node1/127.0.0.1".to_owned())]
    );
}

#[test]
fn an_invite_moved_by_the_failover_timer_is_not_sent_again_when_its_first_connection_times_out() {
    let mut config = Config::embedded_default();
    config.common.node_timeout = Duration::from_secs(600);
    let (mut b, first, first_node) = tcp_invite_with(config, &[NODE_START, NODE2_START]);
    // inviteFailoverTimeout (1 s): the INVITE moves to the other node on a new connection.
    let out = run_until(&mut b, at(1_003));
    let [(second, second_node)] = connects(&out)[..] else {
        panic!("the INVITE moves: {out:?}")
    };
    assert_ne!(second_node, first_node);
    let invites = |out: &[Output]| {
        writes_on(out, second)
            .iter()
            .filter(|p| p.starts_with(b"INVITE "))
            .count()
    };
    assert_eq!(invites(&out), 1, "{out:?}");
    // The first connection is given up at 10 s; the INVITE it carried has already moved.
    let deadline = 3 + net::CONNECT_TIMEOUT.as_millis() as u64;
    let out = run_until(&mut b, at(deadline));
    assert!(out.contains(&Output::Close { conn: first }), "{out:?}");
    assert_eq!(invites(&out), 0, "{out:?}");
    assert!(connects(&out).is_empty(), "{out:?}");
}

#[test]
fn an_in_dialog_request_whose_node_refuses_the_connection_fails_over_to_another_node() {
    let mut b = Balancer::new(patient_config(), Timestamp::ZERO).unwrap();
    register(&mut b, at(1), NODE_START);
    register(&mut b, at(1), NODE2_START);
    let client = ConnId(7);
    let peer = "127.0.0.1:41000".parse().unwrap();
    let listener = external(&b, Transport::Tcp);
    b.handle(
        at(2),
        Input::Accepted {
            conn: client,
            listener,
            peer,
        },
    );
    let bytes = Bytes::from(tcp_invite());
    b.handle(
        at(3),
        Input::Data {
            conn: client,
            bytes,
        },
    );
    let out = drain(&mut b);
    let [(first, first_node)] = connects(&out)[..] else {
        panic!("one connection toward a node: {out:?}")
    };
    b.handle(at(4), Input::Connected { conn: first });
    drain(&mut b);
    let invite = writes_on(&out, first);
    let invite = invite
        .first()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    // The dialog's route set: the Record-Routes the balancer stamped, with the node hint.
    let routes: Vec<String> = invite
        .as_deref()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("Record-Route: "))
        .map(str::to_owned)
        .collect();
    assert!(routes.iter().any(|r| r.contains("node_host")), "{routes:?}");
    // The node dies: its connection is reset.
    b.handle(
        at(5),
        Input::Closed {
            conn: first,
            reason: CloseReason::IoError,
        },
    );
    // Its unanswered INVITE moved to the other node at once, on a new connection.
    let out = drain(&mut b);
    let [(moved, other_node)] = connects(&out)[..] else {
        panic!("the INVITE moves: {out:?}")
    };
    assert_ne!(other_node, first_node);
    let bye = format!(
        "BYE sip:bob@{first_node};transport=tcp SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKbye1\r\n\
Max-Forwards: 70\r\n\
Route: {}\r\n\
From: <sip:alice@127.0.0.1:5070>;tag=1\r\n\
To: <sip:bob@127.0.0.1:5060>;tag=2\r\n\
Call-ID: 7f3a9c01@127.0.0.1\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n",
        routes.iter().rev().cloned().collect::<Vec<_>>().join(", ")
    );
    b.handle(
        at(6),
        Input::Data {
            conn: ConnId(7),
            bytes: Bytes::from(bye),
        },
    );
    let out = drain(&mut b);
    let [(retry, to)] = connects(&out)[..] else {
        panic!("the BYE goes to its dialog's node first: {out:?}")
    };
    assert_eq!(to, first_node);
    // That connection is refused as well: the dialog fails over instead of the BYE being lost.
    b.handle(at(7), Input::ConnectFailed { conn: retry });
    let out = drain(&mut b);
    assert!(
        writes_on(&out, moved)
            .iter()
            .any(|p| p.starts_with(b"BYE ")),
        "{out:?}"
    );
}
