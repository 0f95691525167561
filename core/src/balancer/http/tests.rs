//! The HTTP balancer's connection policy, driven through the whole `Balancer` with nodes
//! registered by heartbeat.

use crate::balancer::http::HttpListener;
use crate::balancer::listeners::Role;
use crate::balancer::Balancer;
use crate::config::Config;
use crate::io::{CloseReason, ConnId, Input, Output};
use crate::time::Timestamp;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;

struct Harness {
    b: Balancer,
    now: Timestamp,
    next: u64,
}

/// A node's `start` with its HTTP port, ws port and jvmRoute.
fn start(name: &str, http: u16, route: &str, session: u32) -> String {
    format!(
        r#"{{"start":{{"hostName":"{name}","ip":"127.0.0.1","udpPort":"{u}","tcpPort":"{u}","httpPort":"{http}","wsPort":"{ws}","version":"0","sessionId":"{session}","jvmRoute":"{route}"}}}}"#,
        u = http + 1000,
        ws = http + 2000,
    )
}

impl Harness {
    fn new(config: Config, nodes: &[(&str, u16, &str)]) -> Harness {
        let mut config = config;
        // Nodes stay registered without heartbeats while the tests move time on.
        config.common.node_timeout = Duration::from_secs(3600);
        let b = Balancer::new(config, Timestamp::ZERO).unwrap();
        let mut h = Harness {
            b,
            now: Timestamp::from_millis(1),
            next: 100,
        };
        for (i, (name, port, route)) in nodes.iter().enumerate() {
            h.register(&start(name, *port, route, 1000 + i as u32));
        }
        h
    }

    fn two_nodes() -> Harness {
        Harness::new(
            Config::embedded_default(),
            &[("node1", 8081, "n1"), ("node2", 8082, "n2")],
        )
    }

    fn register(&mut self, body: &str) {
        let conn = self.conn();
        let hb = self.listener(Role::Heartbeat);
        self.feed(Input::Accepted {
            conn,
            listener: hb,
            peer: peer(),
        });
        let body = format!(
            "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let out = self.feed(Input::Data {
            conn,
            bytes: Bytes::from(body),
        });
        assert!(text_to(&out, conn).contains("OK"), "{out:?}");
    }

    fn conn(&mut self) -> ConnId {
        self.next += 1;
        ConnId(self.next)
    }

    fn listener(&self, role: Role) -> crate::io::ListenerId {
        self.b
            .declared
            .iter()
            .find(|d| d.role == role)
            .map(|d| d.spec.id)
            .unwrap_or_else(|| panic!("no {role:?} listener"))
    }

    fn feed(&mut self, input: Input) -> Vec<Output> {
        self.b.handle(self.now, input);
        std::iter::from_fn(|| self.b.poll_output()).collect()
    }

    fn advance(&mut self, by: Duration) -> Vec<Output> {
        self.now = self.now.saturating_add(by);
        self.feed(Input::Timeout)
    }

    /// A client connected to the plain HTTP listener.
    fn client(&mut self) -> ConnId {
        let conn = self.conn();
        let listener = self.b.config.http.http_port.unwrap_or(2080);
        let id = self.listener(Role::Http(HttpListener {
            secure: false,
            port: listener,
        }));
        let out = self.feed(Input::Accepted {
            conn,
            listener: id,
            peer: peer(),
        });
        assert!(out.is_empty(), "{out:?}");
        conn
    }

    fn send(&mut self, conn: ConnId, bytes: &str) -> Vec<Output> {
        self.feed(Input::Data {
            conn,
            bytes: Bytes::from(bytes.to_owned()),
        })
    }

    /// The node answers on `conn` (and the driver reports it connected first).
    fn answer(&mut self, conn: ConnId, bytes: &str) -> Vec<Output> {
        let mut out = self.feed(Input::Connected { conn });
        out.extend(self.send(conn, bytes));
        out
    }
}

fn peer() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

/// The outbound connections asked for: (id, port).
fn connects(out: &[Output]) -> Vec<(ConnId, u16)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Connect { conn, to, .. } => Some((*conn, to.port())),
            _ => None,
        })
        .collect()
}

/// Everything written on `conn`, as text.
fn text_to(out: &[Output], conn: ConnId) -> String {
    out.iter()
        .filter_map(|o| match o {
            Output::Write { conn: c, payload } if *c == conn => {
                Some(String::from_utf8_lossy(payload).into_owned())
            }
            _ => None,
        })
        .collect()
}

fn closed(out: &[Output], conn: ConnId) -> bool {
    out.iter()
        .any(|o| matches!(o, Output::Close { conn: c } if *c == conn))
}

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn each_request_goes_to_the_node_of_its_session_over_a_pooled_connection() {
    let mut h = Harness::two_nodes();
    let c = h.client();
    let out = h.send(
        c,
        "GET /app HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=abc.n2\r\n\r\n",
    );
    let [(up2, 8082)] = connects(&out)[..] else {
        panic!("one connection to node2: {out:?}")
    };
    let sent = text_to(&out, up2);
    assert!(
        sent.starts_with("GET /app HTTP/1.1\r\nHost: lb\r\n"),
        "{sent}"
    );
    assert!(
        sent.contains("X-Forwarded-For: 127.0.0.1\r\n")
            && sent.contains("X-Forwarded-Proto: http\r\n")
    );
    assert!(sent.contains("X-Forwarded-Port: 2080\r\n"), "{sent}");
    let out = h.answer(up2, OK);
    let reply = text_to(&out, c);
    assert!(
        reply.starts_with("HTTP/1.1 200 OK\r\n")
            && reply.ends_with("Connection: keep-alive\r\n\r\nok"),
        "{reply}"
    );

    // The same client connection, another session: node1 (routing is per request).
    let out = h.send(
        c,
        "GET /app HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=xyz.n1\r\n\r\n",
    );
    let [(up1, 8081)] = connects(&out)[..] else {
        panic!("one connection to node1: {out:?}")
    };
    h.answer(up1, OK);
    // Back to node2: its pooled connection is reused, no new connect.
    let out = h.send(
        c,
        "GET /again HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=abc.n2\r\n\r\n",
    );
    assert!(connects(&out).is_empty(), "{out:?}");
    assert!(text_to(&out, up2).starts_with("GET /again HTTP/1.1\r\nHost: lb\r\n"));
    let stats = h.b.http.stats();
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.requests_by_method["GET"], 3);
}

#[test]
fn no_node_gets_503_with_retry_after_and_the_connection_stays_usable() {
    let mut h = Harness::new(Config::embedded_default(), &[]);
    let c = h.client();
    let out = h.send(
        c,
        "GET / HTTP/1.1\r\nHost: lb\r\n\r\nGET /two HTTP/1.1\r\nHost: lb\r\n\r\n",
    );
    let reply = text_to(&out, c);
    assert_eq!(
        reply
            .matches("HTTP/1.1 503 Service Unavailable\r\n")
            .count(),
        2,
        "{reply}"
    );
    assert!(reply.contains("Retry-After: 5\r\n"));
    assert!(!closed(&out, c));
    assert_eq!(h.b.http.stats().answered_by_balancer[&503], 2);
}

#[test]
fn with_https_configured_a_plain_request_is_redirected_and_closed() {
    let mut config = Config::embedded_default();
    config.http.https_port = Some(2443);
    config.ssl.key_store = Some("/nonexistent.pem".into());
    let mut h = Harness::new(config, &[("node1", 8081, "n1")]);
    let c = h.client();
    let out = h.send(c, "GET /x?y=1 HTTP/1.1\r\nHost: lb.example:2080\r\n\r\n");
    let reply = text_to(&out, c);
    assert!(
        reply.starts_with("HTTP/1.1 302 Found\r\nLocation: https://lb.example:2443/x?y=1\r\n"),
        "{reply}"
    );
    assert!(closed(&out, c) && connects(&out).is_empty());
}

#[test]
fn chunked_bodies_are_streamed_both_ways_and_an_http10_client_gets_them_unchunked() {
    let mut h = Harness::two_nodes();
    let c = h.client();
    let out = h.send(
        c,
        "POST /up HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    );
    let [(up, _)] = connects(&out)[..] else {
        panic!("{out:?}")
    };
    assert!(
        text_to(&out, up).ends_with("\r\n\r\n5\r\nhello\r\n"),
        "the first chunk goes at once"
    );
    let out = h.send(c, "6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n");
    assert_eq!(text_to(&out, up), "6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n");
    let out = h.answer(
        up,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    );
    assert!(text_to(&out, c)
        .ends_with("Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n3\r\nabc\r\n"));
    let out = h.send(up, "0\r\n\r\n");
    assert_eq!(text_to(&out, c), "0\r\n\r\n");

    let old = h.client();
    let out = h.send(old, "GET /old HTTP/1.0\r\nCookie: JSESSIONID=a.n1\r\n\r\n");
    assert!(connects(&out).is_empty(), "the pooled connection is reused");
    let out = h.send(
        up,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    let reply = text_to(&out, old);
    assert!(
        !reply.contains("chunked") && reply.ends_with("Connection: close\r\n\r\nabc"),
        "{reply}"
    );
    assert!(closed(&out, old));
}

#[test]
fn a_declared_body_above_max_content_length_gets_413_before_any_node_is_contacted() {
    let mut config = Config::embedded_default();
    config.http.max_content_length = Some(10);
    let mut h = Harness::new(config, &[("node1", 8081, "n1")]);
    let c = h.client();
    let out = h.send(
        c,
        "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 11\r\n\r\n",
    );
    assert!(text_to(&out, c).starts_with("HTTP/1.1 413 Content Too Large\r\n"));
    assert!(closed(&out, c) && connects(&out).is_empty());

    // A chunked body that crosses the limit is cut: both connections close.
    let c = h.client();
    let out = h.send(
        c,
        "POST / HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n",
    );
    let [(up, _)] = connects(&out)[..] else {
        panic!("{out:?}")
    };
    let out = h.send(c, "8\r\n12345678\r\n");
    assert!(closed(&out, c) && closed(&out, up), "{out:?}");
    assert_eq!(h.b.http.stats().answered_by_balancer[&413], 2);
}

#[test]
fn smuggling_shapes_and_oversized_heads_get_their_status_and_close() {
    let mut h = Harness::two_nodes();
    for (request, status) in [
        (
            "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400",
        ),
        (
            "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "400",
        ),
        (
            "POST / HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "400",
        ),
        (
            &format!("GET /{} HTTP/1.1\r\nHost: lb\r\n\r\n", "a".repeat(9000)),
            "414",
        ),
        (
            &format!("GET / HTTP/1.1\r\nHost: lb\r\nX: {}\r\n\r\n", "a".repeat(17000)),
            "431",
        ),
    ] {
        let c = h.client();
        let out = h.send(c, request);
        let reply = text_to(&out, c);
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status}: {reply}"
        );
        assert!(closed(&out, c));
    }
}

#[test]
fn a_slow_head_gets_408_and_an_idle_keep_alive_connection_is_closed_quietly() {
    let mut h = Harness::two_nodes();
    let c = h.client();
    h.send(c, "GET / HT");
    let out = h.advance(Duration::from_secs(10));
    assert!(text_to(&out, c).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    assert!(closed(&out, c));

    let c = h.client();
    let out = h.send(
        c,
        "GET / HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\n\r\n",
    );
    let [(up, _)] = connects(&out)[..] else {
        panic!()
    };
    h.answer(up, OK);
    let out = h.advance(Duration::from_secs(59));
    assert!(!closed(&out, c));
    let out = h.advance(Duration::from_secs(2));
    assert!(closed(&out, c) && text_to(&out, c).is_empty(), "{out:?}");
    // The pooled node connection is closed after its own idle limit.
    assert!(
        h.b.http.connections() == (0, 0),
        "{:?}",
        h.b.http.connections()
    );
}

#[test]
fn a_silent_node_gets_the_client_a_504() {
    let mut h = Harness::two_nodes();
    let c = h.client();
    let out = h.send(
        c,
        "GET / HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\n\r\n",
    );
    let [(up, _)] = connects(&out)[..] else {
        panic!()
    };
    h.feed(Input::Connected { conn: up });
    let out = h.advance(Duration::from_secs(60));
    assert!(
        text_to(&out, c).starts_with("HTTP/1.1 504 Gateway Timeout\r\n"),
        "{out:?}"
    );
    assert!(closed(&out, up) && !closed(&out, c));
}

#[test]
fn a_refused_node_connection_sends_the_request_once_to_another_node() {
    let mut h = Harness::two_nodes();
    let c = h.client();
    let out = h.send(
        c,
        "POST /p HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\nContent-Length: 4\r\n\r\nbody",
    );
    let [(first, 8081)] = connects(&out)[..] else {
        panic!("{out:?}")
    };
    // Nothing was sent: even a POST is retried, head and body.
    let out = h.feed(Input::ConnectFailed { conn: first });
    let [(second, 8082)] = connects(&out)[..] else {
        panic!("{out:?}")
    };
    assert!(
        text_to(&out, second).starts_with("POST /p HTTP/1.1\r\nHost: lb\r\n")
            && text_to(&out, second).ends_with("body")
    );
    // The second failure is final.
    let out = h.feed(Input::ConnectFailed { conn: second });
    assert!(text_to(&out, c).starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
    assert_eq!(h.b.http.stats().retries, 1);

    // A POST that reached its node is not sent again; a GET is.
    let c = h.client();
    let out = h.send(
        c,
        "POST / HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\nContent-Length: 0\r\n\r\n",
    );
    let [(up, _)] = connects(&out)[..] else {
        panic!()
    };
    h.feed(Input::Connected { conn: up });
    let out = h.feed(Input::Closed {
        conn: up,
        reason: CloseReason::IoError,
    });
    assert!(text_to(&out, c).starts_with("HTTP/1.1 502 "), "{out:?}");
    let c = h.client();
    let out = h.send(
        c,
        "GET / HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\n\r\n",
    );
    let [(up, _)] = connects(&out)[..] else {
        panic!()
    };
    h.feed(Input::Connected { conn: up });
    let out = h.feed(Input::Closed {
        conn: up,
        reason: CloseReason::IoError,
    });
    assert_eq!(connects(&out).len(), 1, "{out:?}");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut h = Harness::two_nodes();
    let c = h.client();
    let out = h.send(
        c,
        "GET /1 HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\n\r\nGET /2 HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n2\r\n\r\n",
    );
    let [(up1, 8081)] = connects(&out)[..] else {
        panic!("only the first request goes out: {out:?}")
    };
    let out = h.answer(up1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
    assert!(text_to(&out, c).ends_with("\r\n\r\n1"));
    let [(up2, 8082)] = connects(&out)[..] else {
        panic!("then the second: {out:?}")
    };
    assert!(text_to(&out, up2).starts_with("GET /2 "));
    let out = h.answer(up2, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2");
    assert!(text_to(&out, c).ends_with("\r\n\r\n2"));
}

#[test]
fn expect_continue_is_relayed_from_the_node() {
    let mut h = Harness::two_nodes();
    let c = h.client();
    let out = h.send(c, "PUT /f HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    let [(up, _)] = connects(&out)[..] else {
        panic!()
    };
    assert!(text_to(&out, up).contains("Expect: 100-continue\r\n"));
    let out = h.answer(up, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(text_to(&out, c), "HTTP/1.1 100 Continue\r\n\r\n");
    let out = h.send(c, "abc");
    assert_eq!(text_to(&out, up), "abc", "{out:?}");
    let out = h.send(up, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    assert!(text_to(&out, c).starts_with("HTTP/1.1 201 Created\r\n"));
}

#[test]
fn a_websocket_upgrade_becomes_a_byte_tunnel_to_the_ws_port_for_sip() {
    let mut h = Harness::two_nodes();
    let c = h.client();
    let out = h.send(
        c,
        "GET /ws HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n2\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n",
    );
    let [(up, 10082)] = connects(&out)[..] else {
        panic!("node2's wsPort: {out:?}")
    };
    let head = text_to(&out, up);
    assert!(
        head.contains("Upgrade: websocket\r\n") && head.contains("Connection: Upgrade\r\n"),
        "{head}"
    );
    let out = h.answer(
        up,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n\x01\x02hi",
    );
    let reply = text_to(&out, c);
    assert!(
        reply.starts_with("HTTP/1.1 101 Switching Protocols\r\n")
            && reply.ends_with("\r\n\r\n\u{1}\u{2}hi"),
        "{reply:?}"
    );
    let out = h.send(c, "\u{1}\u{2}raw bytes, not HTTP\r\n\r\n");
    assert_eq!(text_to(&out, up), "\u{1}\u{2}raw bytes, not HTTP\r\n\r\n");
    assert_eq!(h.b.http.tunnels(), 1);
    // Traffic either way keeps the tunnel up past the head timeout.
    h.advance(Duration::from_secs(30));
    let out = h.send(up, "\u{1}\u{0}");
    assert_eq!(text_to(&out, c), "\u{1}\u{0}");
    let out = h.feed(Input::Closed {
        conn: up,
        reason: CloseReason::PeerClosed,
    });
    assert!(closed(&out, c));
    assert_eq!(h.b.http.tunnels(), 0);
}

#[test]
fn a_checked_request_answered_with_an_error_marks_its_node_bad() {
    let mut config = Config::embedded_default();
    config.http.request_check_pattern = Some(regex::Regex::new("/Accounts/").unwrap());
    let mut h = Harness::new(config, &[("node1", 8081, "n1"), ("node2", 8082, "n2")]);
    let c = h.client();
    let out = h.send(
        c,
        "GET /other HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\n\r\n",
    );
    let [(up, _)] = connects(&out)[..] else {
        panic!()
    };
    h.answer(up, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
    assert!(
        !h.b.cluster.registry().all_nodes().any(|n| n.bad),
        "not a checked request"
    );
    let out = h.send(
        c,
        "GET /Accounts/1 HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\n\r\n",
    );
    assert!(connects(&out).is_empty());
    let out = h.send(up, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Cluster {
                kind: crate::io::ClusterEventKind::NodeBad,
                ..
            }
        )),
        "{out:?}"
    );
    // Its sessions now go to the other node.
    let out = h.send(
        c,
        "GET /x HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\n\r\n",
    );
    assert!(matches!(connects(&out)[..], [(_, 8082)]), "{out:?}");
}

#[test]
fn url_rewrite_rules_change_the_target_before_routing() {
    let mut config = Config::embedded_default();
    config.http.url_rewrite = vec![crate::config::UrlRewriteRule {
        from: regex::Regex::new("someCompany").unwrap(),
        to: "restcomm".to_owned(),
    }];
    let mut h = Harness::new(config, &[("node1", 8081, "n1")]);
    let c = h.client();
    let out = h.send(c, "GET /someCompany/x HTTP/1.1\r\nHost: lb\r\n\r\n");
    let [(up, _)] = connects(&out)[..] else {
        panic!()
    };
    assert!(text_to(&out, up).starts_with("GET /restcomm/x HTTP/1.1\r\nHost: lb\r\n"));
}

#[test]
fn with_no_node_at_all_requests_go_to_the_unavailable_host() {
    let mut config = Config::embedded_default();
    config.http.unavailable_host = Some("127.0.0.9:8099".to_owned());
    let mut h = Harness::new(config, &[]);
    let c = h.client();
    let out = h.send(c, "GET /sorry HTTP/1.1\r\nHost: lb\r\n\r\n");
    let [(up, 8099)] = connects(&out)[..] else {
        panic!("{out:?}")
    };
    let out = h.answer(up, OK);
    assert!(text_to(&out, c).starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn a_streamed_body_pauses_the_client_while_the_node_is_behind() {
    let mut h = Harness::two_nodes();
    let c = h.client();
    let out = h.send(
        c,
        "POST / HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\nContent-Length: 1000000\r\n\r\n",
    );
    let [(up, _)] = connects(&out)[..] else {
        panic!()
    };
    let chunk = "x".repeat(300 * 1024);
    let out = h.send(c, &chunk);
    assert!(out.contains(&Output::NotifyDrained { conn: up }));
    assert!(out.contains(&Output::PauseReading { conn: c }));
    let out = h.feed(Input::Drained { conn: up });
    assert_eq!(out, vec![Output::ResumeReading { conn: c }]);
}

#[test]
fn graceful_nodes_keep_their_sessions_and_get_no_new_ones() {
    let mut h = Harness::two_nodes();
    h.register(r#"{"shutdown":{"sessionId":"1000"}}"#);
    let c = h.client();
    let out = h.send(
        c,
        "GET / HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\n\r\n",
    );
    assert!(
        matches!(connects(&out)[..], [(_, 8081)]),
        "its session stays: {out:?}"
    );
    for _ in 0..4 {
        let c = h.client();
        let out = h.send(c, "GET / HTTP/1.1\r\nHost: lb\r\n\r\n");
        assert!(
            matches!(connects(&out)[..], [(_, 8082)]),
            "new sessions elsewhere: {out:?}"
        );
    }
}

#[test]
fn a_sip_call_and_an_http_request_with_the_same_affinity_value_meet_on_one_node() {
    use crate::config::AlgorithmKind;
    let mut config = Config::embedded_default();
    config.sip.algorithm.kind = AlgorithmKind::HeaderConsistentHash;
    let nodes = [
        ("node1", 8081, "n1"),
        ("node2", 8082, "n2"),
        ("node3", 8083, "n3"),
        ("node4", 8084, "n4"),
    ];
    let mut h = Harness::new(config, &nodes);
    let udp = h.listener(Role::Sip(crate::forward::ListeningPoint {
        leg: crate::forward::Leg::External,
        transport: crate::node::Transport::Udp,
        ipv6: false,
    }));
    let mut spread = std::collections::BTreeSet::new();
    for key in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"] {
        let invite = format!(
            "INVITE sip:bob@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{key}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1:5070>;tag=1\r\nTo: <sip:bob@127.0.0.1:5060>\r\n\
             Call-ID: {key}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n"
        );
        let out = h.feed(Input::Datagram {
            listener: udp,
            from: "127.0.0.1:5070".parse().unwrap(),
            payload: Bytes::from(invite),
        });
        let sip_port = out
            .iter()
            .find_map(|o| match o {
                Output::SendDatagram { to, payload, .. } if payload.starts_with(b"INVITE") => {
                    Some(to.port())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("INVITE not forwarded: {out:?}"));
        let c = h.client();
        let out = h.send(
            c,
            &format!("GET /app?appsession={key} HTTP/1.1\r\nHost: lb\r\n\r\n"),
        );
        let http_port = connects(&out)
            .first()
            .map(|(_, port)| *port)
            .or_else(|| {
                // A pooled connection was reused: find the node by the bytes written.
                out.iter().find_map(|o| match o {
                    Output::Write { conn, .. } if conn.is_outbound() => h.b.http.node_port(*conn),
                    _ => None,
                })
            })
            .unwrap_or_else(|| panic!("request not forwarded: {out:?}"));
        assert_eq!(sip_port, http_port + 1000, "key {key}");
        spread.insert(http_port);
    }
    assert!(spread.len() > 1, "the keys spread over the nodes");
}

#[test]
fn an_idle_tunnel_is_closed_on_both_sides_and_a_slow_upload_is_not_a_silent_node() {
    let mut config = Config::embedded_default();
    config.http.tunnel_idle_timeout = Duration::from_secs(120);
    let mut h = Harness::new(config, &[("node1", 8081, "n1")]);
    let c = h.client();
    let out = h.send(
        c,
        "GET /chat HTTP/1.1\r\nHost: lb\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    let [(up, 8081)] = connects(&out)[..] else {
        panic!("not sip: the HTTP port: {out:?}")
    };
    h.answer(
        up,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    let out = h.advance(Duration::from_secs(119));
    assert!(!closed(&out, c));
    let out = h.advance(Duration::from_secs(2));
    assert!(closed(&out, c) && closed(&out, up), "{out:?}");
    assert_eq!(h.b.http.connections(), (0, 0));

    let c = h.client();
    let out = h.send(
        c,
        "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 4\r\n\r\nab",
    );
    let [(up, _)] = connects(&out)[..] else {
        panic!()
    };
    h.feed(Input::Connected { conn: up });
    h.advance(Duration::from_secs(50));
    h.send(c, "c");
    let out = h.advance(Duration::from_secs(50));
    assert!(
        text_to(&out, c).is_empty(),
        "the node is still being sent the body"
    );
    h.send(c, "d");
    let out = h.advance(Duration::from_secs(61));
    assert!(text_to(&out, c).starts_with("HTTP/1.1 504 "), "{out:?}");
}

#[test]
fn an_http11_request_without_host_gets_400_and_an_http10_one_is_served() {
    let mut h = Harness::two_nodes();
    let c = h.client();
    let out = h.feed(Input::Data {
        conn: c,
        bytes: Bytes::from_static(b"GET /no-host HTTP/1.1\r\n\r\n"),
    });
    assert!(
        text_to(&out, c).starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{out:?}"
    );
    assert!(closed(&out, c) && connects(&out).is_empty());
    let c = h.client();
    let out = h.feed(Input::Data {
        conn: c,
        bytes: Bytes::from_static(b"GET /old HTTP/1.0\r\n\r\n"),
    });
    assert_eq!(connects(&out).len(), 1, "{out:?}");
}

#[test]
fn the_balancers_own_answer_to_head_has_no_body_and_the_connection_stays_in_step() {
    // No node: 503 to a pipelined HEAD, then to a GET on the same connection.
    let mut h = Harness::new(Config::embedded_default(), &[]);
    let c = h.client();
    let out = h.send(
        c,
        "HEAD / HTTP/1.1\r\nHost: lb\r\n\r\nGET / HTTP/1.1\r\nHost: lb\r\n\r\n",
    );
    let reply = text_to(&out, c);
    let (first, second) = reply.split_once("\r\n\r\n").expect("a head");
    assert!(first.starts_with("HTTP/1.1 503 "), "{reply}");
    assert!(
        second.starts_with("HTTP/1.1 503 ")
            && second.ends_with("\r\n\r\nno node is available to serve this request\n"),
        "no body after the answer to HEAD: {reply:?}"
    );

    // A silent node: 504 to a HEAD, head only, and the connection is kept.
    let mut h = Harness::two_nodes();
    let c = h.client();
    let out = h.send(
        c,
        "HEAD / HTTP/1.1\r\nHost: lb\r\nCookie: JSESSIONID=a.n1\r\n\r\n",
    );
    let [(up, _)] = connects(&out)[..] else {
        panic!("{out:?}")
    };
    h.feed(Input::Connected { conn: up });
    let out = h.advance(Duration::from_secs(60));
    let reply = text_to(&out, c);
    assert!(
        reply.starts_with("HTTP/1.1 504 Gateway Timeout\r\n") && reply.ends_with("\r\n\r\n"),
        "{reply:?}"
    );
    assert!(!closed(&out, c));
}

#[test]
fn a_pooled_connection_the_node_closed_sends_the_request_again_on_a_new_one_to_the_same_node() {
    let mut h = Harness::new(Config::embedded_default(), &[("node1", 8081, "n1")]);
    let c = h.client();
    let out = h.send(c, "GET /1 HTTP/1.1\r\nHost: lb\r\n\r\n");
    let [(up, 8081)] = connects(&out)[..] else {
        panic!("{out:?}")
    };
    h.answer(up, OK);
    // The node closes its idle connection just as the next request is written on it.
    let out = h.send(c, "GET /2 HTTP/1.1\r\nHost: lb\r\n\r\n");
    assert!(connects(&out).is_empty() && text_to(&out, up).starts_with("GET /2 "));
    let out = h.feed(Input::Closed {
        conn: up,
        reason: CloseReason::PeerClosed,
    });
    let [(fresh, 8081)] = connects(&out)[..] else {
        panic!("again on a new connection to the only node: {out:?}")
    };
    assert!(text_to(&out, fresh).starts_with("GET /2 "));
    let out = h.answer(fresh, OK);
    assert!(text_to(&out, c).starts_with("HTTP/1.1 200 OK"));
    // A POST is not sent twice: it gets 502.
    let out = h.send(
        c,
        "POST /3 HTTP/1.1\r\nHost: lb\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(connects(&out).is_empty());
    let out = h.feed(Input::Closed {
        conn: fresh,
        reason: CloseReason::PeerClosed,
    });
    assert!(text_to(&out, c).starts_with("HTTP/1.1 502 "), "{out:?}");
}
