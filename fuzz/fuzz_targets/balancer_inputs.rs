//! The whole balancer core driven by arbitrary sequences of timestamped inputs: SIP
//! datagrams (raw bytes or call-flow templates with fuzzed Call-IDs, node hints and status
//! codes) on both legs, HTTP/JSON heartbeats for a few nodes, management requests, stream
//! connections, and time jumps with expiry timeouts. It must never panic, and:
//! - after an `Input::Timeout` at or past the deadline and draining the outputs,
//!   `poll_timeout` is not in the past (no busy loop);
//! - every `Write`/`Close` names a connection the driver handed in or the core opened;
//! - while outputs are queued `poll_timeout` is `now`; once drained the queue stays empty.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use switchboard_core::balancer::Balancer;
use switchboard_core::config::Config;
use switchboard_core::io::{CloseReason, ConnId, Input, Leg, ListenerId, Output, Service};
use switchboard_core::node::Transport;
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

fn leg(b: u8) -> ListenerId {
    ListenerId {
        leg: if b & 1 == 0 { Leg::External } else { Leg::Internal },
        transport: if b & 2 == 0 { Transport::Udp } else { Transport::Tcp },
        ipv6: false,
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

fn sip_template(c: &mut Cursor<'_>) -> (ListenerId, SocketAddr, Bytes) {
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
    let ext = ListenerId {
        leg: Leg::External,
        transport: Transport::Udp,
        ipv6: false,
    };
    let int = ListenerId {
        leg: Leg::Internal,
        ..ext
    };
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

fuzz_target!(|data: &[u8]| {
    let mut b = Balancer::new(Config::embedded_default(), Timestamp::ZERO).unwrap();
    let mut c = Cursor { data };
    let mut now = Timestamp::ZERO;
    let mut known: BTreeSet<ConnId> = BTreeSet::new();
    let mut next_conn = 1u64;
    let peer: SocketAddr = "10.0.2.9:40000".parse().unwrap();
    for _ in 0..256 {
        let Some(op) = c.byte() else { break };
        let mut fed_timeout = false;
        let input = match op % 10 {
            0 => {
                let jump = Duration::from_millis(u64::from(c.u16().unwrap_or(0)) * 4);
                now = now.saturating_add(jump);
                fed_timeout = b.poll_timeout().is_some_and(|t| t <= now);
                Input::Timeout
            }
            1 | 2 => {
                let (listener, from, payload) = sip_template(&mut c);
                Input::Datagram { listener, from, payload }
            }
            3 => Input::Datagram {
                listener: leg(c.byte().unwrap_or(0) & 1),
                from: peer,
                payload: Bytes::copy_from_slice(c.bytes(1500)),
            },
            4 | 5 => {
                let conn = ConnId(next_conn);
                next_conn += 1;
                known.insert(conn);
                Input::ServiceData {
                    service: Service::Heartbeat,
                    conn,
                    peer,
                    bytes: heartbeat(&mut c),
                }
            }
            6 => {
                let conn = ConnId(next_conn);
                next_conn += 1;
                known.insert(conn);
                Input::ServiceData {
                    service: Service::Management,
                    conn,
                    peer,
                    bytes: Bytes::copy_from_slice(c.bytes(400)),
                }
            }
            7 => {
                let conn = ConnId(1000 + u64::from(c.byte().unwrap_or(0) % 4));
                known.insert(conn);
                match c.byte().unwrap_or(0) % 3 {
                    0 => Input::Accepted {
                        conn,
                        listener: leg(1 << 1),
                        peer,
                    },
                    1 => Input::StreamData {
                        conn,
                        bytes: Bytes::copy_from_slice(c.bytes(600)),
                    },
                    _ => Input::Closed {
                        conn,
                        reason: CloseReason::PeerClosed,
                    },
                }
            }
            9 => {
                // The OS refuses a datagram sent to a node (ICMP unreachable).
                let node = NODES[usize::from(c.byte().unwrap_or(0)) % NODES.len()];
                Input::SendFailed {
                    listener: leg(c.byte().unwrap_or(0) & 1),
                    to: format!("{node}:5080").parse().unwrap(),
                }
            }
            _ => {
                // Answer an outbound connection the core opened.
                let Some(conn) = known.iter().rev().find(|c| c.is_outbound()).copied() else {
                    continue;
                };
                if c.byte().unwrap_or(0) & 1 == 0 {
                    Input::Connected { conn }
                } else {
                    Input::ConnectFailed { conn }
                }
            }
        };
        b.handle(now, input);
        let deadline = b.poll_timeout();
        let first = b.poll_output();
        if first.is_some() {
            assert_eq!(deadline, Some(now), "queued outputs mean work now");
        }
        for out in first.into_iter().chain(std::iter::from_fn(|| b.poll_output())) {
            match out {
                Output::Connect { conn, .. } => {
                    assert!(conn.is_outbound(), "core-minted ids carry the outbound bit");
                    known.insert(conn);
                }
                Output::Write { conn, .. } | Output::Close { conn } => {
                    assert!(known.contains(&conn), "output on unknown connection {conn:?}");
                }
                _ => {}
            }
        }
        assert!(b.poll_output().is_none());
        if fed_timeout {
            if let Some(t) = b.poll_timeout() {
                assert!(t > now, "deadline {t:?} still due at {now:?} after its timeout");
            }
        }
    }
});
