//! The whole balancer core driven by arbitrary sequences of timestamped inputs. The first
//! input byte picks which nodes are registered with an `httpPort` (and `wsPort`,
//! `jvmRoute`, `smppPort`) before the rest; the second the SMPP configuration (mux or
//! regular mode, two remote servers, `timeoutResponse` 500 ms, `timeoutEnquire` 1 s,
//! `reconnectPeriod` 200 ms, and sometimes `providerWindow` 1, `throttleQueueSize` 1,
//! `providerRate` 2/s, a 300 ms `throttleQueueTimeout`, active-standby, submit-to-all,
//! `maxPduSize` 512); each following op byte then picks one of:
//! - SIP datagrams (raw bytes or call-flow templates with fuzzed Call-IDs, node hints and
//!   status codes) on both legs, and a node refusing a datagram (`SendFailed`);
//! - HTTP/JSON heartbeats (node `start`s with or without `httpPort`, `wsPort` and
//!   `jvmRoute`, heartbeats, shutdowns, stops) and management requests on connections to
//!   the service ports;
//! - SIP stream connections (accepted, fed, closed);
//! - HTTP clients accepted on the HTTP listener (port 2080) and what they send: request
//!   templates (GET and HEAD with `JSESSIONID` cookies or `;jsessionid=`, POST with
//!   `Content-Length` and chunked bodies, bodies past the flow-control high-water mark,
//!   WebSocket upgrades, CONNECT, pipelined requests, `Expect: 100-continue`, HTTP/1.0),
//!   raw bytes (tunnel data or garbage), or their close;
//! - answers on the HTTP node connections the core opens: `Connected` or `ConnectFailed`,
//!   then response templates matched to the requests the core wrote there (200 with
//!   `Content-Length`, chunked with trailers, `100 Continue` then 200, `101` for upgrades,
//!   close-delimited, 204/304, errors, a lone `100`, a head with a short body, a body past
//!   the high-water mark), raw bytes (tunnel data or garbage), or `Closed`;
//! - answers on the newest outbound connection of any kind (SIP bytes), name resolutions,
//!   the drain notices the core asks for (`Drained`, on connections still open), shutdowns,
//!   and time jumps (up to 262 s) with expiry timeouts;
//! - SMPP customers on the SMPP listener and what they send (`balancer_inputs/smpp.rs`):
//!   binds with `system_id` and password from a small set (the empty `system_id`, two that
//!   are not UTF-8, one of 15 characters), `submit_sm` (plain, long-message parts marked by
//!   UDH 8- and 16-bit references or `sar_*` TLVs, in the text or in `message_payload`),
//!   `data_sm`, `query_sm`/`cancel_sm`/`replace_sm` naming message ids they were given or
//!   others, `submit_multi`, `enquire_link`, `unbind`, PDUs invalid in the state or from a
//!   customer (`deliver_sm`, `outbind`, `alert_notification`, unknown ids, responses to
//!   nothing), bodies that do not decode, `command_length`s that lose the framing, fuzzed
//!   sequence numbers; answers to what the core sent them (`deliver_sm_resp` and the like
//!   with any status, `generic_nack`, twice); raw bytes; closes;
//! - a simulated SMSC on the provider connections the core opens (to the remote servers or
//!   the heartbeat nodes' `smppPort`): `Connected` or `ConnectFailed`; the bind answered
//!   `ESME_ROK` or refused (`ESME_RINVPASWD`, `ESME_RINVSYSID`, other errors); requests
//!   answered (message ids, `ESME_RTHROTTLED`, errors), left unanswered, or answered with a
//!   sequence number that names nothing; delivery receipts (`esm_class` 0x04 or 0x20, `id:`
//!   in the text or the `receipted_message_id` TLV, for message ids it assigned or unknown
//!   ones), mobile-originated `deliver_sm` (some long-message parts), `data_sm`,
//!   `enquire_link`, `unbind`, `alert_notification`, PDUs a provider may not send, malformed
//!   ones, framing errors, raw bytes; closes;
//! - every peer catching up at once (provider connections connected, every request the core
//!   sent answered with success by the SMSC and the customers);
//! - and time steps of up to 6.4 s.
//!
//! Every byte stream a TCP peer sends is cut at fuzzed points; listener ids are the ones the
//! core declares. It must never panic, and:
//! - after an `Input::Timeout` at or past the deadline and draining the outputs,
//!   `poll_timeout` is not in the past (no busy loop);
//! - every `Write`/`NotifyDrained`/`PauseReading`/`ResumeReading`/`Close` names a connection
//!   that is open: handed in by the driver or opened by the core, and neither closed by the
//!   core nor reported closed since;
//! - core-minted connection ids carry the outbound bit and are never reused;
//! - while outputs are queued `poll_timeout` is `now`; once drained the queue stays empty;
//! - `Exit` comes at most once;
//! - what the core writes to an HTTP client frames as HTTP/1.1 responses (bodies framed as
//!   the requests they answer allow: none after the answer to a `HEAD`), up to a `101`;
//! - no HTTP request is left hanging: an HTTP client connection that is still open and was
//!   sent more request heads (as the driver's own framer reads them, up to a protocol switch
//!   the core accepted) than the core wrote it final response heads (interim `1xx` aside;
//!   `101` is final and ends the checks) fails the run once a `Timeout` is handled
//!   61 s or more after all of: the last input other than `Timeout`, the last write to that
//!   connection, and the last time the core sent a request to a node (a `Connect` or `Write`
//!   on an HTTP node connection: a retry after a connect timeout is sent then). By then the
//!   response deadline (`nodeResponseTimeout`, 60 s) of every request sent has passed, so
//!   the core must have answered (`504`, `502`) or closed the connection;
//! - SMPP (message texts carry a `sys=<system_id>;` marker: a customer's its bound
//!   `system_id`, the SMSC's the `system_id` the core bound that provider connection with):
//!   - what the core writes to a customer or a provider frames into PDUs that all decode;
//!   - every response the core writes answers a request the peer sent on that connection
//!     (as the core's own framer cuts the peer's bytes) and not yet answered: none twice,
//!     none to nothing;
//!   - a `deliver_sm`/`data_sm` reaches only a customer the core answered a bind
//!     `ESME_ROK`, in mux mode not one bound as a transmitter, and never one of another
//!     `system_id` than the provider connection it came from; a request reaches a provider
//!     connection only after its bind was answered `ESME_ROK`, and only from a customer of
//!     the `system_id` it is bound with;
//!   - at the end time advances, deadline after deadline, past twice `timeoutResponse` plus
//!     `throttleQueueTimeout` plus 2 s with no input but the answers to the core's
//!     `enquire_link`s; then every request a customer still connected sent (and that has a
//!     response, or has an unknown `command_id`) has been answered exactly once, and every
//!     request the SMSC sent on a provider connection still open too.
#![no_main]

#[path = "balancer_inputs/smpp.rs"]
mod smpp;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use switchboard_core::balancer::Balancer;
use switchboard_core::config::Config;
use switchboard_core::http::framer::{FrameEvent, Limits, MessageFramer};
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
/// Node `i` announces HTTP on `HTTP_PORT + i` and WebSocket on `WS_PORT + i`.
const HTTP_PORT: u16 = 8080;
const WS_PORT: u16 = 9080;
/// The embedded default's `nodeResponseTimeout` (60 s) and a second of slack.
const ANSWER_WITHIN: Duration = Duration::from_secs(61);

/// The listeners of the embedded default configuration the fuzzer talks to.
struct Listeners {
    external_udp: ListenerId,
    internal_udp: ListenerId,
    external_tcp: ListenerId,
    internal_tcp: ListenerId,
    heartbeat: ListenerId,
    management: ListenerId,
    http: ListenerId,
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
            http: find(SocketKind::Tcp, 2080),
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

/// Node `node`'s `start`; `h` bits 0–1 add `httpPort`, bit 1 also `wsPort`, bit 2 `jvmRoute`,
/// bit 3 `smppPort`.
fn start(node: usize, session: u32, version: u8, h: u8) -> Bytes {
    let ip = NODES[node];
    let mut extra = String::new();
    if h & 3 != 0 {
        extra += &format!(r#","httpPort":"{}""#, HTTP_PORT + node as u16);
    }
    if h & 2 != 0 {
        extra += &format!(r#","wsPort":"{}""#, WS_PORT + node as u16);
    }
    if h & 4 != 0 {
        extra += &format!(r#","jvmRoute":"n{node}""#);
    }
    if h & 8 != 0 {
        extra += &format!(r#","smppPort":"{}""#, smpp::PROVIDER_PORT);
    }
    http_post(&format!(
        r#"{{"start":{{"hostName":"n{node}","ip":"{ip}","udpPort":"5080","tcpPort":"5080","version":"{version}","sessionId":"{session}","heartbeatPort":"2222"{extra}}}}}"#
    ))
}

fn heartbeat(c: &mut Cursor<'_>) -> Bytes {
    let b = c.byte().unwrap_or(0);
    let node = usize::from(b >> 4) % NODES.len();
    let session = 100 + u32::from(b >> 6);
    let version = (b >> 3) & 1;
    match b % 5 {
        0 => start(node, session, version, c.byte().unwrap_or(0)),
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

/// `data` in the chunked coding, cut in chunks of fuzzed sizes, with a trailer when `trailer`.
fn chunked(c: &mut Cursor<'_>, data: &[u8], trailer: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = (usize::from(c.byte().unwrap_or(0)) % 96 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out.extend_from_slice(b"0\r\n");
    if trailer {
        out.extend_from_slice(b"X-Sum: 1\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What an HTTP client sends: a request template or raw bytes.
fn http_request(c: &mut Cursor<'_>) -> Bytes {
    let t = c.byte().unwrap_or(0);
    let k = c.byte().unwrap_or(0);
    // Sessions on node 0–2 (by jvmRoute) or on no known node.
    let session = format!("s{}.n{}", k >> 5, k % 4);
    let close = if k & 4 != 0 {
        "Connection: close\r\n"
    } else {
        ""
    };
    let method = if k & 8 != 0 { "HEAD" } else { "GET" };
    let cookie = format!("Cookie: JSESSIONID={session}\r\n");
    let mut out = match t % 11 {
        0 => format!("{method} /app/{k} HTTP/1.1\r\nHost: lb\r\n{cookie}{close}\r\n").into_bytes(),
        1 => format!(
            "{method} /app;jsessionid={session}?appsession={k} HTTP/1.1\r\nHost: lb\r\n{close}\r\n"
        )
        .into_bytes(),
        2 => {
            let body = c.bytes(600);
            let mut out = format!(
                "POST /form HTTP/1.1\r\nHost: lb\r\n{cookie}Content-Type: application/octet-stream\r\nContent-Length: {}\r\n{close}\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(body);
            out
        }
        3 => {
            let body = c.bytes(600);
            let mut out = format!(
                "POST /up HTTP/1.1\r\nHost: lb\r\n{cookie}Transfer-Encoding: chunked\r\n{close}\r\n"
            )
            .into_bytes();
            out.extend(chunked(c, body, k & 16 != 0));
            out
        }
        4 => {
            let protocol = if k & 16 != 0 {
                "Sec-WebSocket-Protocol: sip\r\n"
            } else {
                ""
            };
            let mut out = format!(
                "GET /ws HTTP/1.1\r\nHost: lb\r\n{cookie}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{protocol}\r\n"
            )
            .into_bytes();
            // Frames sent before the answer.
            out.extend_from_slice(c.bytes(64));
            out
        }
        5 => {
            let mut out = Vec::new();
            for i in 0..2 + k % 3 {
                let method = if k >> i & 16 != 0 { "HEAD" } else { "GET" };
                out.extend_from_slice(
                    format!(
                        "{method} /p/{i} HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=s{i}.n{}\r\n\r\n",
                        (k >> i) % 4
                    )
                    .as_bytes(),
                );
            }
            out
        }
        6 => {
            let body = c.bytes(600);
            let mut out = format!(
                "PUT /file HTTP/1.1\r\nHost: lb\r\n{cookie}Expect: 100-continue\r\nContent-Length: {}\r\n{close}\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(body);
            out
        }
        7 => {
            let keep = if k & 16 != 0 {
                "Connection: keep-alive\r\n"
            } else {
                ""
            };
            format!("{method} /old HTTP/1.0\r\n{cookie}{keep}\r\n").into_bytes()
        }
        8 => match k % 3 {
            0 => format!("OPTIONS * HTTP/1.1\r\nHost: lb\r\n{close}\r\n").into_bytes(),
            1 => format!("DELETE /r/{k} HTTP/1.1\r\nHost: lb\r\n{cookie}Content-Length: 0\r\n\r\n")
                .into_bytes(),
            _ => format!(
                "CONNECT {0}:{HTTP_PORT} HTTP/1.1\r\nHost: {0}:{HTTP_PORT}\r\n\r\n",
                NODES[0]
            )
            .into_bytes(),
        },
        9 => {
            // A body past the flow-control high-water mark (256 KiB).
            let len = (4 + usize::from(k % 4)) * 64 * 1024;
            let mut out = format!(
                "POST /big HTTP/1.1\r\nHost: lb\r\n{cookie}Content-Length: {len}\r\n{close}\r\n"
            )
            .into_bytes();
            out.resize(out.len() + len, b'x');
            out
        }
        _ => c.bytes(600).to_vec(),
    };
    if t & 0x80 != 0 {
        // Stray bytes after the request (a next request's start, or garbage).
        out.extend_from_slice(c.bytes(32));
    }
    Bytes::from(out)
}

/// A request head the core wrote on an HTTP node connection.
#[derive(Clone, Copy, Default)]
struct Asked {
    head: bool,
    upgrade: bool,
    expect: bool,
}

/// What a node sends.
struct Reply {
    bytes: Bytes,
    /// The node closes the connection after it (the body is delimited by the close).
    closes: bool,
    /// A final response to the oldest request.
    answers: bool,
    /// A `101`: the connection is a tunnel from now on.
    switches: bool,
}

/// A response template (matched to `asked`, the oldest request the core wrote) or raw bytes.
fn http_response(c: &mut Cursor<'_>, asked: Asked) -> Reply {
    let t = c.byte().unwrap_or(0);
    let k = c.byte().unwrap_or(0);
    let close = if k & 1 != 0 {
        "Connection: close\r\n"
    } else {
        ""
    };
    let cl = |body: &[u8], close: &str| {
        let mut out = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{close}\r\n",
            body.len()
        )
        .into_bytes();
        if !asked.head {
            out.extend_from_slice(body);
        }
        out
    };
    let t = match t % 11 {
        // Mostly the answer the request asks for.
        _ if asked.upgrade && k & 2 != 0 => 3,
        _ if asked.expect && k & 2 != 0 => 2,
        t => t,
    };
    let (out, closes) = match t {
        0 => (cl(c.bytes(600), close), false),
        1 => {
            let mut out = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{close}\r\n")
                .into_bytes();
            if !asked.head {
                let body = c.bytes(600);
                out.extend(chunked(c, body, k & 2 != 0));
            }
            (out, false)
        }
        2 => {
            let mut out = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
            out.extend(cl(c.bytes(200), close));
            (out, false)
        }
        3 => {
            let mut out = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n".to_vec();
            out.extend_from_slice(c.bytes(64));
            (out, false)
        }
        4 => {
            // Delimited by the close.
            let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec();
            if !asked.head {
                out.extend_from_slice(c.bytes(600));
            }
            (out, true)
        }
        5 => {
            let status = if k & 2 != 0 {
                "204 No Content"
            } else {
                "304 Not Modified"
            };
            (
                format!("HTTP/1.1 {status}\r\n{close}\r\n").into_bytes(),
                false,
            )
        }
        6 => {
            let status =
                ["500 Oops", "503 Busy", "404 Not Found", "302 Found"][usize::from(k >> 1) % 4];
            (
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n{close}\r\n").into_bytes(),
                false,
            )
        }
        7 => (b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(), false),
        8 => {
            // A head promising more body than comes.
            let body = c.bytes(64);
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                body.len() + 10
            )
            .into_bytes();
            out.extend_from_slice(body);
            (out, false)
        }
        9 => {
            // A body past the flow-control high-water mark (256 KiB).
            let len = (4 + usize::from(k % 4)) * 64 * 1024;
            let mut out =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n{close}\r\n").into_bytes();
            if !asked.head {
                out.resize(out.len() + len, b'y');
            }
            (out, false)
        }
        _ => (c.bytes(600).to_vec(), false),
    };
    Reply {
        bytes: Bytes::from(out),
        closes,
        answers: t < 7 || t == 8 || t == 9,
        switches: t == 3,
    }
}

/// The driver's view of an HTTP client connection: the requests it sent and the responses
/// the core wrote it, both framed.
struct HttpClient {
    /// Frames what the driver sent.
    requests: MessageFramer,
    /// Frames what the core wrote.
    responses: MessageFramer,
    /// The requests not answered yet, oldest first: (a `HEAD`, asks to switch protocols).
    unanswered: VecDeque<(bool, bool)>,
    /// A final response head was framed and its `End` not yet.
    in_response: bool,
    /// The core's writes stopped being HTTP responses (a `101`): no more checks.
    switched: bool,
    /// When the core last wrote to it.
    last_write: Timestamp,
}

impl HttpClient {
    fn new(now: Timestamp) -> HttpClient {
        HttpClient {
            requests: MessageFramer::request(Limits::default()),
            responses: MessageFramer::response(Limits::default(), false),
            unanswered: VecDeque::new(),
            in_response: false,
            switched: false,
            last_write: now,
        }
    }

    fn sent(&mut self, bytes: &Bytes) {
        self.requests.feed(bytes.clone());
        self.frame_requests();
    }

    fn frame_requests(&mut self) {
        while let Ok(Some(event)) = self.requests.poll() {
            if let FrameEvent::Head(head) = event {
                self.unanswered
                    .push_back((head.method() == Some("HEAD"), head.upgrade.is_some()));
            }
        }
    }

    /// The core wrote `payload`: what it says must frame as HTTP responses, in order.
    fn written(&mut self, conn: ConnId, payload: &Bytes, now: Timestamp) {
        self.last_write = now;
        if self.switched {
            return;
        }
        self.responses.feed(payload.clone());
        loop {
            if !self.in_response {
                let head = self.unanswered.front().is_some_and(|r| r.0);
                self.responses.expect_response(head);
            }
            match self.responses.poll() {
                Ok(None) => return,
                Ok(Some(FrameEvent::Head(head))) if head.is_interim() => {}
                Ok(Some(FrameEvent::Head(head))) => {
                    self.in_response = true;
                    let upgrade = self.unanswered.pop_front().is_some_and(|r| r.1);
                    if head.status() == Some(101) {
                        self.switched = true;
                        return;
                    }
                    if upgrade {
                        // The switch was refused: the client's requests are HTTP again.
                        self.requests.resume();
                        self.frame_requests();
                    }
                }
                Ok(Some(FrameEvent::Body(_))) => {}
                Ok(Some(FrameEvent::End)) => self.in_response = false,
                Err(e) => panic!("the core wrote HTTP client {conn:?} what is not a response: {e}"),
            }
        }
    }
}

/// The driver's view of an HTTP node connection the core opened.
struct HttpNode {
    /// Frames what the core wrote, to know what a response should look like.
    framer: MessageFramer,
    asked: VecDeque<Asked>,
    /// A `101` was sent: bytes only from now on.
    tunnel: bool,
}

impl HttpNode {
    fn written(&mut self, payload: &Bytes) {
        if self.tunnel {
            return;
        }
        self.framer.feed(payload.clone());
        while let Ok(Some(event)) = self.framer.poll() {
            if let FrameEvent::Head(head) = event {
                self.asked.push_back(Asked {
                    head: head.method() == Some("HEAD"),
                    upgrade: head.upgrade.is_some(),
                    expect: head.expect_continue,
                });
            }
        }
    }

    /// The node sent `reply`.
    fn replied(&mut self, reply: &Reply) {
        if reply.switches {
            self.tunnel = true;
        } else if reply.answers {
            self.asked.pop_front();
            // An upgrade refused: HTTP goes on.
            self.framer.resume();
        }
    }
}

/// Cuts `bytes` at up to three fuzzed points, as a TCP peer's segments may arrive.
fn chunks(c: &mut Cursor<'_>, conn: ConnId, bytes: Bytes) -> Vec<Input> {
    let cuts = c.byte().unwrap_or(0);
    let mut at: Vec<usize> = (0..cuts % 4)
        .map(|_| usize::from(c.u16().unwrap_or(0)) % (bytes.len() + 1))
        .collect();
    at.sort_unstable();
    at.push(bytes.len());
    let mut from = 0;
    let mut out = Vec::new();
    for to in at {
        if to > from {
            out.push(Input::Data {
                conn,
                bytes: bytes.slice(from..to),
            });
        }
        from = to;
    }
    out
}

/// The fuzzed driver: the core, the clock, and what it knows of the connections.
struct Driver {
    b: Balancer,
    now: Timestamp,
    /// Open connections: inbound ones the driver accepted, outbound ones the core asked for
    /// (true once reported connected).
    open: BTreeMap<ConnId, bool>,
    ever_outbound: BTreeSet<ConnId>,
    resolving: Vec<(u64, u16)>,
    /// Drain notices the core asked for and has not been answered, oldest first.
    notices: Vec<ConnId>,
    exited: bool,
    /// Open connections on the HTTP listener.
    clients: BTreeMap<ConnId, HttpClient>,
    /// Open connections the core opened to nodes' HTTP and WebSocket ports.
    http_nodes: BTreeMap<ConnId, HttpNode>,
    /// When the last input other than `Timeout` was handled.
    last_input: Timestamp,
    /// When the core last opened or wrote on an HTTP node connection.
    last_node_send: Timestamp,
    /// The SMPP customers and provider connections.
    smpp: smpp::World,
}

impl Driver {
    /// Hands `input` to the core unless the driver would not report it, then drains.
    fn feed(&mut self, input: Input) -> bool {
        // The driver reports nothing more about a connection the core closed.
        match &input {
            Input::Data { conn, .. }
            | Input::Closed { conn, .. }
            | Input::ConnectFailed { conn }
            | Input::Connected { conn }
                if !self.open.contains_key(conn) && conn.is_outbound() =>
            {
                return false
            }
            _ => {}
        }
        match &input {
            Input::Accepted { conn, .. } | Input::Connected { conn } => {
                self.open.insert(*conn, true);
            }
            Input::ConnectFailed { conn } | Input::Closed { conn, .. } => {
                self.open.remove(conn);
                // Nothing is reported about a connection that ended.
                self.notices.retain(|c| c != conn);
                self.clients.remove(conn);
                self.http_nodes.remove(conn);
                self.smpp.closed(*conn);
            }
            Input::Data { conn, bytes } => {
                if let Some(client) = self.clients.get_mut(conn) {
                    client.sent(bytes);
                }
                self.smpp.sent(*conn, bytes);
            }
            _ => {}
        }
        if !matches!(input, Input::Timeout) {
            self.last_input = self.now;
        }
        if smpp::trace() {
            let n = smpp::name;
            let what = match &input {
                Input::Data { conn, bytes } => {
                    format!("Data to {}, {} octets", n(*conn), bytes.len())
                }
                Input::Accepted { conn, listener, .. } => {
                    format!("Accepted {} on {listener:?}", n(*conn))
                }
                Input::Connected { conn } => format!("Connected {}", n(*conn)),
                Input::ConnectFailed { conn } => format!("ConnectFailed {}", n(*conn)),
                Input::Closed { conn, reason } => format!("Closed {} ({reason:?})", n(*conn)),
                Input::Datagram {
                    listener,
                    from,
                    payload,
                } => {
                    format!(
                        "Datagram on {listener:?} from {from}, {} octets",
                        payload.len()
                    )
                }
                other => format!("{other:?}"),
            };
            eprintln!("{:>8} ms  {what}", self.now.as_millis());
        }
        self.b.handle(self.now, input);
        self.drain();
        true
    }

    /// Drains the outputs, checking them against the connections the driver knows.
    fn drain(&mut self) {
        let deadline = self.b.poll_timeout();
        let first = self.b.poll_output();
        if first.is_some() {
            assert_eq!(deadline, Some(self.now), "queued outputs mean work now");
        }
        let mut next = first;
        while let Some(out) = next {
            self.output(out);
            next = self.b.poll_output();
        }
        assert!(self.b.poll_output().is_none());
    }

    fn output(&mut self, out: Output) {
        match out {
            Output::Connect { conn, to, .. } => {
                assert!(conn.is_outbound(), "core-minted ids carry the outbound bit");
                assert!(
                    self.ever_outbound.insert(conn),
                    "outbound id {conn:?} reused"
                );
                self.open.insert(conn, false);
                self.smpp.connect(conn, to);
                let node_port = |base: u16| (base..base + NODES.len() as u16).contains(&to.port());
                if node_port(HTTP_PORT) || node_port(WS_PORT) {
                    self.last_node_send = self.now;
                    self.http_nodes.insert(
                        conn,
                        HttpNode {
                            framer: MessageFramer::request(Limits::default()),
                            asked: VecDeque::new(),
                            tunnel: false,
                        },
                    );
                }
            }
            Output::Write { conn, payload } => {
                assert!(
                    self.open.contains_key(&conn),
                    "write on a connection that is not open: {conn:?}"
                );
                if let Some(client) = self.clients.get_mut(&conn) {
                    client.written(conn, &payload, self.now);
                }
                if let Some(node) = self.http_nodes.get_mut(&conn) {
                    self.last_node_send = self.now;
                    node.written(&payload);
                }
                self.smpp.written(conn, &payload, self.now);
            }
            Output::NotifyDrained { conn } => {
                assert!(
                    self.open.contains_key(&conn),
                    "drain notice on a connection that is not open: {conn:?}"
                );
                self.notices.push(conn);
            }
            Output::PauseReading { conn } | Output::ResumeReading { conn } => {
                assert!(
                    self.open.contains_key(&conn),
                    "pause or resume of a connection that is not open: {conn:?}"
                );
            }
            Output::Close { conn } => {
                assert!(
                    self.open.remove(&conn).is_some(),
                    "close of a connection that is not open: {conn:?}"
                );
                self.notices.retain(|c| *c != conn);
                self.clients.remove(&conn);
                self.http_nodes.remove(&conn);
                self.smpp.closed(conn);
            }
            Output::Resolve { token, port, .. } => self.resolving.push((token, port)),
            Output::Exit => {
                assert!(!self.exited, "Exit twice");
                self.exited = true;
            }
            _ => {}
        }
    }

    /// The no-hanging-request invariant (see the module docs), after a `Timeout`.
    fn check_answered(&self) {
        for (conn, client) in &self.clients {
            let quiet_since = self
                .last_input
                .max(client.last_write)
                .max(self.last_node_send);
            if !client.switched && self.now >= quiet_since.saturating_add(ANSWER_WITHIN) {
                assert_eq!(
                    client.unanswered.len(),
                    0,
                    "HTTP client {conn:?}: request(s) neither answered nor closed at {:?}, 61 s after the last input ({:?}), the last write to it ({:?}) and the last request sent to a node ({:?})",
                    self.now, self.last_input, client.last_write, self.last_node_send
                );
            }
        }
    }

    /// Accepts an HTTP client connection.
    fn http_client(&mut self, conn: ConnId, listener: ListenerId, peer: SocketAddr) -> Input {
        self.clients.insert(conn, HttpClient::new(self.now));
        Input::Accepted {
            conn,
            listener,
            peer,
        }
    }
}

/// Op bytes are taken modulo this.
const OPS: u8 = 28;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor { data };
    // Bits 0–2: nodes registered with an httpPort first; bit 3: with wsPort; bit 4: jvmRoute;
    // bit 5: smppPort.
    let prelude = c.byte().unwrap_or(0);
    // Parsed once: the XML parse would otherwise dominate short runs.
    static DEFAULT: OnceLock<Config> = OnceLock::new();
    let mut config = DEFAULT.get_or_init(Config::embedded_default).clone();
    let smpp_settings = smpp::configure(&mut config, c.byte().unwrap_or(0));
    let b = Balancer::new(config, Timestamp::ZERO).unwrap();
    let specs = b.listeners();
    let l = Listeners::of(&specs);
    let smpp_listener = specs
        .iter()
        .find(|s| s.name == "SMPP" && s.port == smpp::LISTENER_PORT)
        .expect("the SMPP listener")
        .id;
    let mut d = Driver {
        b,
        now: Timestamp::ZERO,
        open: BTreeMap::new(),
        ever_outbound: BTreeSet::new(),
        resolving: Vec::new(),
        notices: Vec::new(),
        exited: false,
        clients: BTreeMap::new(),
        http_nodes: BTreeMap::new(),
        last_input: Timestamp::ZERO,
        last_node_send: Timestamp::ZERO,
        smpp: smpp::World::new(smpp_settings, smpp_listener),
    };
    let mut next_conn = 1u64;
    let peer: SocketAddr = "10.0.2.9:40000".parse().unwrap();

    for node in 0..NODES.len() {
        if prelude >> node & 1 != 0 {
            let conn = ConnId(next_conn);
            next_conn += 1;
            d.feed(Input::Accepted {
                conn,
                listener: l.heartbeat,
                peer,
            });
            let h = 1 | (prelude >> 2 & 2) | (prelude >> 2 & 4) | (prelude >> 2 & 8);
            let bytes = start(node, 100 + node as u32, 0, h);
            d.feed(Input::Data { conn, bytes });
        }
    }

    for _ in 0..256 {
        let Some(op) = c.byte() else { break };
        let mut fed_timeout = false;
        let inputs: Vec<Input> = match op % OPS {
            0 => {
                let jump = Duration::from_millis(u64::from(c.u16().unwrap_or(0)) * 4);
                d.now = d.now.saturating_add(jump);
                fed_timeout = d.b.poll_timeout().is_some_and(|t| t <= d.now);
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
                let (listener, request) = if op % OPS == 6 {
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
                    0 if !d.open.contains_key(&conn) => vec![Input::Accepted {
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
                d.b.shutdown(d.now);
                d.last_input = d.now;
                Vec::new()
            }
            11 => {
                // Answer the oldest name resolution.
                if d.resolving.is_empty() {
                    continue;
                }
                let (token, port) = d.resolving.remove(0);
                let addr = (c.byte().unwrap_or(0) & 1 == 0)
                    .then(|| SocketAddr::new(NODES[0].parse().unwrap(), port));
                vec![Input::Resolved { token, addr }]
            }
            12 => {
                // Report the oldest drain notice of a connection that is up (a driver reports
                // it once the writes before it are out, so never before `Connected`).
                let Some(at) = d.notices.iter().position(|c| d.open.get(c) == Some(&true)) else {
                    continue;
                };
                vec![Input::Drained {
                    conn: d.notices.remove(at),
                }]
            }
            13 | 14 => {
                // A new HTTP client and what it sends.
                let conn = ConnId(next_conn);
                next_conn += 1;
                let mut inputs = vec![d.http_client(conn, l.http, peer)];
                let request = http_request(&mut c);
                inputs.extend(chunks(&mut c, conn, request));
                inputs
            }
            15 => {
                // An open HTTP client sends more (a next request, tunnel bytes) or closes.
                let pick = c.byte().unwrap_or(0);
                if d.clients.is_empty() {
                    continue;
                }
                let conn = *d
                    .clients
                    .keys()
                    .nth(usize::from(pick) % d.clients.len())
                    .unwrap();
                match pick >> 5 {
                    0..=4 => {
                        let request = http_request(&mut c);
                        chunks(&mut c, conn, request)
                    }
                    5 | 6 => {
                        let bytes = Bytes::copy_from_slice(c.bytes(600));
                        chunks(&mut c, conn, bytes)
                    }
                    _ => vec![Input::Closed {
                        conn,
                        reason: CloseReason::PeerClosed,
                    }],
                }
            }
            16 | 17 => {
                // An HTTP node connection the core opened: connected or refused, then
                // responses, raw bytes or a close.
                let pick = c.byte().unwrap_or(0);
                if d.http_nodes.is_empty() {
                    continue;
                }
                let conn = *d
                    .http_nodes
                    .keys()
                    .nth(usize::from(pick) % d.http_nodes.len())
                    .unwrap();
                let connected = d.open.get(&conn) == Some(&true);
                let mut inputs = Vec::new();
                if !connected {
                    if pick & 0x20 != 0 {
                        vec![Input::ConnectFailed { conn }]
                    } else {
                        inputs.push(Input::Connected { conn });
                        if pick & 0x40 != 0 {
                            // And the response at once.
                            inputs.extend(node_reply(&mut c, &mut d, conn));
                        }
                        inputs
                    }
                } else {
                    match pick >> 5 {
                        0..=4 => node_reply(&mut c, &mut d, conn),
                        5 => {
                            let bytes = Bytes::copy_from_slice(c.bytes(600));
                            chunks(&mut c, conn, bytes)
                        }
                        6 => vec![Input::Closed {
                            conn,
                            reason: CloseReason::PeerClosed,
                        }],
                        _ => vec![Input::Closed {
                            conn,
                            reason: CloseReason::IoError,
                        }],
                    }
                }
            }
            18..=24 => smpp::op(&mut c, &mut d, op % OPS - 18, &mut next_conn),
            26 => smpp::op(&mut c, &mut d, 7, &mut next_conn),
            25 => {
                // A short time step (SMPP timers are hundreds of milliseconds).
                let jump = Duration::from_millis(u64::from(c.byte().unwrap_or(0)) * 25);
                d.now = d.now.saturating_add(jump);
                fed_timeout = d.b.poll_timeout().is_some_and(|t| t <= d.now);
                vec![Input::Timeout]
            }
            _ => {
                // Answer the newest outbound connection the core opened.
                let Some((&conn, &connected)) = d.open.iter().rev().find(|(c, _)| c.is_outbound())
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
            fed |= d.feed(input);
        }
        if !fed {
            continue;
        }
        d.drain();
        if fed_timeout {
            if let Some(t) = d.b.poll_timeout() {
                assert!(
                    t > d.now,
                    "deadline {t:?} still due at {:?} after its timeout",
                    d.now
                );
            }
        }
        if op % OPS == 0 || op % OPS == 25 {
            d.check_answered();
        }
    }
    smpp::settle(&mut d);
});

/// A node's reply on HTTP node connection `conn`, cut in pieces, and its close when the
/// body is delimited by it.
fn node_reply(c: &mut Cursor<'_>, d: &mut Driver, conn: ConnId) -> Vec<Input> {
    let Some(node) = d.http_nodes.get_mut(&conn) else {
        return Vec::new();
    };
    let reply = if node.tunnel {
        Reply {
            bytes: Bytes::copy_from_slice(c.bytes(600)),
            closes: false,
            answers: false,
            switches: false,
        }
    } else {
        let asked = node.asked.front().copied().unwrap_or_default();
        http_response(c, asked)
    };
    node.replied(&reply);
    let mut inputs = chunks(c, conn, reply.bytes);
    if reply.closes {
        inputs.push(Input::Closed {
            conn,
            reason: CloseReason::PeerClosed,
        });
    }
    inputs
}
