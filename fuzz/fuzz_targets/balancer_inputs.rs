//! The whole balancer core driven by arbitrary sequences of timestamped inputs: SIP
//! datagrams (raw bytes or call-flow templates with fuzzed Call-IDs, node hints and status
//! codes) on both legs, HTTP/JSON heartbeats and management requests on connections to the
//! service ports (split into fuzzed chunks), SIP stream connections (accepted, fed, closed),
//! answers to the outbound connections and name resolutions the core asks for, the drain
//! notices it asks for (`Drained`, on connections still open), shutdowns, and time jumps with
//! expiry timeouts. Listener ids are the ones the core declares. It must never panic, and:
//! - after an `Input::Timeout` at or past the deadline and draining the outputs,
//!   `poll_timeout` is not in the past (no busy loop);
//! - every `Write`/`NotifyDrained`/`PauseReading`/`ResumeReading`/`Close` names a connection
//!   that is open: handed in by the driver or opened by the core, and neither closed by the
//!   core nor reported closed since;
//! - core-minted connection ids carry the outbound bit and are never reused;
//! - while outputs are queued `poll_timeout` is `now`; once drained the queue stays empty;
//! - `Exit` comes at most once.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard_core::balancer::Balancer;
use switchboard_core::config::Config;
use switchboard_core::io::{
    CloseReason, ConnId, Input, ListenerId, ListenerSpec, Output, SocketKind,
};
use switchboard_core::time::Timestamp;

struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.byte()?) << 8 | u16::from(self.byte()?))
    }
    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.byte().unwrap_or(0)) * 4;
        let n = n.min(max).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

const NODES: [&str; 3] = ["10.0.1.1", "10.0.1.2", "10.0.1.3"];

/// The listeners of the embedded default configuration the fuzzer talks to.
struct Listeners {
    external_udp: ListenerId,
    internal_udp: ListenerId,
    external_tcp: ListenerId,
    internal_tcp: ListenerId,
    heartbeat: ListenerId,
    management: ListenerId,
}

impl Listeners {
    fn of(specs: &[ListenerSpec]) -> Listeners {
        let find = |kind: SocketKind, port: u16| {
            specs
                .iter()
                .find(|l| l.kind == kind && l.port == port && !l.ipv6)
                .unwrap_or_else(|| panic!("no {kind:?} listener on port {port}"))
                .id
        };
        Listeners {
            external_udp: find(SocketKind::Udp, 5060),
            internal_udp: find(SocketKind::Udp, 5065),
            external_tcp: find(SocketKind::Tcp, 5060),
            internal_tcp: find(SocketKind::Tcp, 5065),
            heartbeat: find(SocketKind::Tcp, 2610),
            management: find(SocketKind::Tcp, 2006),
        }
    }

    fn udp(&self, b: u8) -> ListenerId {
        if b & 1 == 0 {
            self.external_udp
        } else {
            self.internal_udp
        }
    }

    fn tcp(&self, b: u8) -> ListenerId {
        if b & 1 == 0 {
            self.external_tcp
        } else {
            self.internal_tcp
        }
    }
}

fn http_post(body: &str) -> Bytes {
    Bytes::from(format!(
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

fn heartbeat(c: &mut Cursor<'_>) -> Bytes {
    let b = c.byte().unwrap_or(0);
    let node = NODES[usize::from(b >> 4) % NODES.len()];
    let session = 100 + u32::from(b >> 6);
    let version = (b >> 3) & 1;
    match b % 5 {
        0 => http_post(&format!(
            r#"{{"start":{{"hostName":"n","ip":"{node}","udpPort":"5080","tcpPort":"5080","version":"{version}","sessionId":"{session}","heartbeatPort":"2222"}}}}"#
        )),
        1 => http_post(&format!(r#"{{"heartbeat":{{"sessionId":{session}}}}}"#)),
        2 => http_post(&format!(r#"{{"shutdown":{{"sessionId":{session}}}}}"#)),
        3 => http_post(&format!(r#"{{"stop":{{"sessionId":{session}}}}}"#)),
        _ => Bytes::copy_from_slice(c.bytes(512)),
    }
}

fn sip_template(c: &mut Cursor<'_>, l: &Listeners) -> (ListenerId, SocketAddr, Bytes) {
    let b = c.byte().unwrap_or(0);
    let call = c.byte().unwrap_or(0) % 8;
    let node = NODES[usize::from(b >> 5) % NODES.len()];
    let client: SocketAddr = "10.0.2.1:5070".parse().unwrap();
    let node_addr: SocketAddr = format!("{node}:5080").parse().unwrap();
    let route = format!(
        "Route: <sip:127.0.0.1:5060;transport=udp;lr;node_host={node};node_port=5080;version=0>, <sip:127.0.0.1:5065;transport=udp;lr;node_host={node};node_port=5080;version=0>\r\n"
    );
    let common = format!(
        "From: <sip:a@10.0.2.1>;tag=f{call}\r\nCall-ID: fz{call}\r\nMax-Forwards: {}\r\nContent-Length: 0\r\n\r\n",
        b % 71
    );
    let (ext, int) = (l.external_udp, l.internal_udp);
    match b % 6 {
        0 => (ext, client, Bytes::from(format!(
            "INVITE sip:svc@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.2.1:5070;branch=z9hG4bKi{call}\r\nTo: <sip:svc@127.0.0.1>\r\nCSeq: 1 INVITE\r\nContact: <sip:a@10.0.2.1:5070>\r\n{common}"
        ))),
        1 => (ext, client, Bytes::from(format!(
            "BYE sip:svc@{node}:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.2.1:5070;branch=z9hG4bKb{call}\r\n{route}To: <sip:svc@127.0.0.1>;tag=t\r\nCSeq: 2 BYE\r\n{common}"
        ))),
        2 => (ext, client, Bytes::from(format!(
            "ACK sip:svc@{node}:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.2.1:5070;branch=z9hG4bKa{call}\r\n{route}To: <sip:svc@127.0.0.1>;tag=t\r\nCSeq: 1 ACK\r\n{common}"
        ))),
        3 => (int, node_addr, Bytes::from(format!(
            "SIP/2.0 {} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5065;branch=z9hG4bKi{call}fz{call}zsd_0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKi{call}fz{call}_0\r\nVia: SIP/2.0/UDP 10.0.2.1:5070;branch=z9hG4bKi{call}\r\nTo: <sip:svc@127.0.0.1>;tag=t\r\nCSeq: 1 INVITE\r\n{common}",
            100 + u16::from(c.byte().unwrap_or(0)) * 2
        ))),
        4 => (int, node_addr, Bytes::from(format!(
            "BYE sip:a@10.0.2.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP {node}:5080;branch=z9hG4bKn{call}\r\nRoute: <sip:127.0.0.1:5065;transport=udp;lr;node_host={node};node_port=5080;version=0>\r\nTo: <sip:a@10.0.2.1>;tag=f{call}\r\nCSeq: 1 BYE\r\n{common}"
        ))),
        _ => (int, node_addr, Bytes::from(format!(
            "OPTIONS sip:127.0.0.1:5065 SIP/2.0\r\nVia: SIP/2.0/UDP {node}:5080;branch=z9hG4bKh{call}\r\nTo: <sip:127.0.0.1:5065>\r\nCSeq: 1 OPTIONS\r\nMobicents-Heartbeat: 1\r\nFrom: <sip:n@{node}>;tag=h\r\nCall-ID: hb{call}\r\nContent-Length: 40\r\n\r\nip={node}\nudpPort=5080\nsessionId=9{call}\n"
        ))),
    }
}

/// Splits `bytes` in two at a fuzzed point, as a TCP peer's segments may arrive.
fn chunks(c: &mut Cursor<'_>, conn: ConnId, bytes: Bytes) -> Vec<Input> {
    let at = usize::from(c.byte().unwrap_or(0)) % (bytes.len() + 1);
    let mut out = Vec::new();
    for part in [bytes.slice(..at), bytes.slice(at..)] {
        if !part.is_empty() {
            out.push(Input::Data { conn, bytes: part });
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let l = Listeners::of(&b.listeners());
    let mut c = Cursor { data };
    let mut now = Timestamp::ZERO;
    // Open connections: inbound ones the driver accepted, outbound ones the core asked for
    // (true once reported connected).
    let mut open: BTreeMap<ConnId, bool> = BTreeMap::new();
    let mut ever_outbound: BTreeSet<ConnId> = BTreeSet::new();
    let mut resolving: Vec<(u64, u16)> = Vec::new();
    // Drain notices the core asked for and has not been answered, oldest first.
    let mut notices: Vec<ConnId> = Vec::new();
    let mut next_conn = 1u64;
    let mut exited = false;
    let peer: SocketAddr = "10.0.2.9:40000".parse().unwrap();
    for _ in 0..256 {
        let Some(op) = c.byte() else { break };
        let mut fed_timeout = false;
        let inputs: Vec<Input> = match op % 13 {
            0 => {
                let jump = Duration::from_millis(u64::from(c.u16().unwrap_or(0)) * 4);
                now = now.saturating_add(jump);
                fed_timeout = b.poll_timeout().is_some_and(|t| t <= now);
                vec![Input::Timeout]
            }
            1 | 2 => {
                let (listener, from, payload) = sip_template(&mut c, &l);
                vec![Input::Datagram {
                    listener,
                    from,
                    payload,
                }]
            }
            3 => vec![Input::Datagram {
                listener: l.udp(c.byte().unwrap_or(0)),
                from: peer,
                payload: Bytes::copy_from_slice(c.bytes(1500)),
            }],
            4..=6 => {
                let conn = ConnId(next_conn);
                next_conn += 1;
                let (listener, request) = if op % 13 == 6 {
                    (l.management, Bytes::copy_from_slice(c.bytes(400)))
                } else {
                    (l.heartbeat, heartbeat(&mut c))
                };
                let mut inputs = vec![Input::Accepted {
                    conn,
                    listener,
                    peer,
                }];
                inputs.extend(chunks(&mut c, conn, request));
                inputs
            }
            7 => {
                let conn = ConnId(1000 + u64::from(c.byte().unwrap_or(0) % 4));
                let b7 = c.byte().unwrap_or(0);
                match b7 % 3 {
                    0 if !open.contains_key(&conn) => vec![Input::Accepted {
                        conn,
                        listener: l.tcp(b7 >> 2),
                        peer,
                    }],
                    0 => continue,
                    1 => {
                        let bytes = if b7 & 4 == 0 {
                            sip_template(&mut c, &l).2
                        } else {
                            Bytes::copy_from_slice(c.bytes(600))
                        };
                        chunks(&mut c, conn, bytes)
                    }
                    _ => vec![Input::Closed {
                        conn,
                        reason: CloseReason::PeerClosed,
                    }],
                }
            }
            9 => {
                // The OS refuses a datagram sent to a node (ICMP unreachable).
                let node = NODES[usize::from(c.byte().unwrap_or(0)) % NODES.len()];
                vec![Input::SendFailed {
                    listener: l.udp(c.byte().unwrap_or(0)),
                    to: format!("{node}:5080").parse().unwrap(),
                }]
            }
            10 => {
                // SIGTERM: no input, the stop notifications follow.
                b.shutdown(now);
                Vec::new()
            }
            11 => {
                // Answer the oldest name resolution.
                if resolving.is_empty() {
                    continue;
                }
                let (token, port) = resolving.remove(0);
                let addr = (c.byte().unwrap_or(0) & 1 == 0)
                    .then(|| SocketAddr::new(NODES[0].parse().unwrap(), port));
                vec![Input::Resolved { token, addr }]
            }
            12 => {
                // Report the oldest drain notice of a connection that is up (a driver reports
                // it once the writes before it are out, so never before `Connected`).
                let Some(at) = notices.iter().position(|c| open.get(c) == Some(&true)) else {
                    continue;
                };
                vec![Input::Drained {
                    conn: notices.remove(at),
                }]
            }
            _ => {
                // Answer the newest outbound connection the core opened.
                let Some((&conn, &connected)) = open.iter().rev().find(|(c, _)| c.is_outbound())
                else {
                    continue;
                };
                let b8 = c.byte().unwrap_or(0);
                match (connected, b8 & 1 == 0) {
                    (false, true) => vec![Input::Connected { conn }],
                    (false, false) => vec![Input::ConnectFailed { conn }],
                    (true, true) => {
                        let bytes = sip_template(&mut c, &l).2;
                        chunks(&mut c, conn, bytes)
                    }
                    (true, false) => vec![Input::Closed {
                        conn,
                        reason: CloseReason::IoError,
                    }],
                }
            }
        };
        let mut fed = inputs.is_empty();
        for input in inputs {
            // The driver reports nothing more about a connection the core closed.
            match &input {
                Input::Data { conn, .. }
                | Input::Closed { conn, .. }
                | Input::ConnectFailed { conn }
                | Input::Connected { conn }
                    if !open.contains_key(conn) && conn.is_outbound() =>
                {
                    continue
                }
                _ => {}
            }
            match &input {
                Input::Accepted { conn, .. } => {
                    open.insert(*conn, true);
                }
                Input::Connected { conn } => {
                    open.insert(*conn, true);
                }
                Input::ConnectFailed { conn } | Input::Closed { conn, .. } => {
                    open.remove(conn);
                    // Nothing is reported about a connection that ended.
                    notices.retain(|c| c != conn);
                }
                _ => {}
            }
            b.handle(now, input);
            fed = true;
            drain(
                &mut b,
                now,
                &mut open,
                &mut ever_outbound,
                &mut resolving,
                &mut notices,
                &mut exited,
            );
        }
        if !fed {
            continue;
        }
        drain(
            &mut b,
            now,
            &mut open,
            &mut ever_outbound,
            &mut resolving,
            &mut notices,
            &mut exited,
        );
        if fed_timeout {
            if let Some(t) = b.poll_timeout() {
                assert!(
                    t > now,
                    "deadline {t:?} still due at {now:?} after its timeout"
                );
            }
        }
    }
});

/// Drains the outputs, checking them against the connections the driver knows.
fn drain(
    b: &mut Balancer,
    now: Timestamp,
    open: &mut BTreeMap<ConnId, bool>,
    ever_outbound: &mut BTreeSet<ConnId>,
    resolving: &mut Vec<(u64, u16)>,
    notices: &mut Vec<ConnId>,
    exited: &mut bool,
) {
    let deadline = b.poll_timeout();
    let first = b.poll_output();
    if first.is_some() {
        assert_eq!(deadline, Some(now), "queued outputs mean work now");
    }
    for out in first
        .into_iter()
        .chain(std::iter::from_fn(|| b.poll_output()))
    {
        match out {
            Output::Connect { conn, .. } => {
                assert!(conn.is_outbound(), "core-minted ids carry the outbound bit");
                assert!(ever_outbound.insert(conn), "outbound id {conn:?} reused");
                open.insert(conn, false);
            }
            Output::Write { conn, .. } => {
                assert!(
                    open.contains_key(&conn),
                    "write on a connection that is not open: {conn:?}"
                );
            }
            Output::NotifyDrained { conn } => {
                assert!(
                    open.contains_key(&conn),
                    "drain notice on a connection that is not open: {conn:?}"
                );
                notices.push(conn);
            }
            Output::PauseReading { conn } | Output::ResumeReading { conn } => {
                assert!(
                    open.contains_key(&conn),
                    "pause or resume of a connection that is not open: {conn:?}"
                );
            }
            Output::Close { conn } => {
                assert!(
                    open.remove(&conn).is_some(),
                    "close of a connection that is not open: {conn:?}"
                );
                notices.retain(|c| *c != conn);
            }
            Output::Resolve { token, port, .. } => resolving.push((token, port)),
            Output::Exit => {
                assert!(!*exited, "Exit twice");
                *exited = true;
            }
            _ => {}
        }
    }
    assert!(b.poll_output().is_none());
}
