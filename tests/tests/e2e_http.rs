//! End-to-end HTTP balancing: real test nodes (`tests/peers/http_node.py`) behind the real
//! binary, driven by a raw HTTP/1.1 client and curl. Checks routing (session cookie,
//! `;jsessionid=`, instance id, the algorithm, SIP and HTTP on one affinity value), HTTP/1.1
//! on the client leg (keep-alive routed per request, pipelining, chunked bodies,
//! `100-continue`), the fields the node sees, nodes that die or shut down gracefully, the
//! `<http>` options and the HTTP counters of the management API.

mod common;

use common::http::{
    call_sid, curl, get, instance_id, request_bytes, Client, HttpLb, HttpLbConfig, HttpNode, Nginx,
    NodeSpec, Response,
};
use common::{test_dir, wait_until, SipSink, LOCALHOST};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Two plain nodes, `node-a` (jvmRoute `ra`) and `node-b` (`rb`).
fn two_nodes(dir: &std::path::Path, lb: &HttpLb) -> (HttpNode, HttpNode) {
    let a = HttpNode::start(dir, lb.ports.heartbeat, "node-a", "ra");
    let b = HttpNode::start(dir, lb.ports.heartbeat, "node-b", "rb");
    (a, b)
}

/// A GET on a new connection that must be answered; panics with the logs otherwise.
fn must_get(lb: &HttpLb, nodes: &[&HttpNode], target: &str, headers: &[(&str, &str)]) -> Response {
    get(lb.http(), target, headers)
        .unwrap_or_else(|e| panic!("GET {target}: {e}\n{}", lb.report(nodes)))
}

/// A session cookie a node set through the balancer brings every later request of that
/// session back to that node, alone or among other cookies, while new sessions are spread.
#[test]
fn session_cookie_sticks_to_its_node() {
    let dir = test_dir("http-cookie");
    let lb = HttpLb::start(&dir, "");
    let (a, b) = two_nodes(&dir, &lb);
    let nodes = [&a, &b];
    let mut cookies = BTreeMap::new();
    for _ in 0..10 {
        let r = must_get(&lb, &nodes, "/login", &[]);
        assert_eq!(r.status, 200, "{}{}", r.head, lb.report(&nodes));
        let cookie = r.session_cookie().expect("a new session gets a cookie");
        cookies.entry(r.served_by().to_owned()).or_insert(cookie);
        if cookies.len() == 2 {
            break;
        }
    }
    assert_eq!(
        cookies.len(),
        2,
        "new sessions reach both nodes: {cookies:?}"
    );
    for (node, cookie) in &cookies {
        let among_others = format!("theme=dark; {cookie}; lang=en");
        for i in 0..6 {
            for value in [cookie.as_str(), among_others.as_str()] {
                let r = must_get(&lb, &nodes, &format!("/app/page{i}"), &[("Cookie", value)]);
                assert_eq!(r.status, 200, "{}", r.head);
                assert_eq!(r.served_by(), node, "request {i} with {value}");
                assert_eq!(r.session_cookie(), None, "the node knows the session");
            }
        }
    }
}

/// A session id in a `;jsessionid=` path parameter or a `jsessionid` query parameter routes
/// by its jvmRoute; the node gets the target unchanged.
#[test]
fn jsessionid_in_the_path_or_query_routes_by_jvm_route() {
    let dir = test_dir("http-path-session");
    let lb = HttpLb::start(&dir, "");
    let (a, b) = two_nodes(&dir, &lb);
    let nodes = [&a, &b];
    for i in 0..5 {
        let target = format!("/app/cart;jsessionid=5E1F0C3A9B7D.rb?item={i}");
        let r = must_get(&lb, &nodes, &target, &[]);
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.served_by(), "node-b", "{target}");
        assert_eq!(r.json()["path"], target.as_str(), "target unchanged");
        let target = format!("/app/item?id={i}&jsessionid=5E1F0C3A9B7D.ra");
        let r = must_get(&lb, &nodes, &target, &[]);
        assert_eq!(r.served_by(), "node-a", "{target}");
    }
}

/// A session id without a jvmRoute stays on one node, request after request, and different
/// such sessions use more than one node.
#[test]
fn session_without_route_stays_on_one_node() {
    let dir = test_dir("http-routeless");
    let lb = HttpLb::start(&dir, "");
    let nodes: Vec<HttpNode> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| HttpNode::start(&dir, lb.ports.heartbeat, n, &format!("r{n}")))
        .collect();
    let refs: Vec<&HttpNode> = nodes.iter().collect();
    let mut used = std::collections::BTreeSet::new();
    for s in 0..8 {
        let cookie = format!("JSESSIONID=ROUTELESS{s:04}ABCDEF");
        let first = must_get(&lb, &refs, "/r/0", &[("Cookie", &cookie)]);
        assert_eq!(first.status, 200, "{}", first.head);
        for i in 1..4 {
            let r = must_get(&lb, &refs, &format!("/r/{i}"), &[("Cookie", &cookie)]);
            assert_eq!(r.served_by(), first.served_by(), "{cookie}, request {i}");
        }
        used.insert(first.served_by().to_owned());
    }
    assert!(
        used.len() >= 2,
        "8 sessions hashed onto one node only: {used:?}"
    );
}

/// A Restcomm CallSid (`ID<32 hex>-CA<32 hex>`) in a path segment or a query value routes to
/// the node with that instance id, before any session cookie.
#[test]
fn restcomm_instance_id_routes_to_its_node() {
    let dir = test_dir("http-instance-id");
    let lb = HttpLb::start(&dir, "");
    let (id_a, id_b) = (instance_id('a'), instance_id('7'));
    let spec = |name: &str, route: &str, id: &str| NodeSpec {
        instance_id: Some(id.to_owned()),
        ..NodeSpec::new(name, route)
    };
    let a = HttpNode::spawn(&dir, lb.ports.heartbeat, &spec("node-a", "ra", &id_a));
    let b = HttpNode::spawn(&dir, lb.ports.heartbeat, &spec("node-b", "rb", &id_b));
    let nodes = [&a, &b];
    let base = "/restcomm/2012-04-24/Accounts/AC0123/Calls.json";
    for _ in 0..4 {
        let r = must_get(&lb, &nodes, &format!("{base}/{}", call_sid(&id_b)), &[]);
        assert_eq!(r.served_by(), "node-b", "CallSid of B in the path");
        let r = must_get(
            &lb,
            &nodes,
            &format!("{base}?CallSid={}", call_sid(&id_a)),
            &[],
        );
        assert_eq!(r.served_by(), "node-a", "CallSid of A in the query");
        let target = format!("{base}/{}/Recordings.json", call_sid(&id_a));
        let r = must_get(&lb, &nodes, &target, &[("Cookie", &b.cookie())]);
        assert_eq!(
            r.served_by(),
            "node-a",
            "the instance id wins over B's session"
        );
    }
}

/// New sessions (no cookie) are spread evenly over three nodes.
#[test]
fn new_sessions_are_spread_over_the_nodes() {
    let dir = test_dir("http-spread");
    let lb = HttpLb::start(&dir, "");
    let nodes: Vec<HttpNode> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| HttpNode::start(&dir, lb.ports.heartbeat, n, &format!("r{n}")))
        .collect();
    let refs: Vec<&HttpNode> = nodes.iter().collect();
    let mut count: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..30 {
        let r = must_get(&lb, &refs, &format!("/new/{i}"), &[]);
        assert_eq!(r.status, 200, "{}", r.head);
        *count.entry(r.served_by().to_owned()).or_default() += 1;
    }
    assert_eq!(count.len(), 3, "every node gets new sessions: {count:?}");
    assert!(
        count.values().all(|&c| c >= 6),
        "30 new sessions spread evenly over 3 nodes: {count:?}"
    );
}

/// One keep-alive client connection carrying requests of different sessions: each request
/// is routed by its own cookie, and the connection stays open throughout.
#[test]
fn keep_alive_connection_is_routed_per_request() {
    let dir = test_dir("http-keep-alive");
    let lb = HttpLb::start(&dir, "");
    let (a, b) = two_nodes(&dir, &lb);
    let nodes = [&a, &b];
    let mut client = Client::connect(lb.http());
    let plan = [&a, &b, &a, &b, &b, &a];
    for (i, node) in plan.iter().enumerate() {
        let r = client
            .get(&format!("/ka/{i}"), &[("Cookie", &node.cookie())])
            .unwrap_or_else(|e| {
                panic!(
                    "request {i} on the kept connection: {e}\n{}",
                    lb.report(&nodes)
                )
            });
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.served_by(), node.name, "request {i}");
        assert_ne!(
            r.header("connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("close"),
            "the connection is kept"
        );
    }
    for i in 0..4 {
        let r = client
            .get(&format!("/ka/new/{i}"), &[])
            .expect("new session on the kept connection");
        assert_eq!(r.status, 200);
        assert!(
            r.session_cookie().is_some(),
            "a new session gets its cookie"
        );
    }
}

/// Requests written back to back before any answer (pipelining) are answered in order, each
/// by its session's node, even when the first one is slow.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let dir = test_dir("http-pipeline");
    let lb = HttpLb::start(&dir, "");
    let (a, b) = two_nodes(&dir, &lb);
    let nodes = [&a, &b];
    let (ca, cb) = (a.cookie(), b.cookie());
    let requests: Vec<(&str, String, &str, Vec<u8>)> = vec![
        ("GET", "/slow?ms=400".into(), ca.as_str(), vec![]),
        ("GET", "/p/1".into(), cb.as_str(), vec![]),
        (
            "POST",
            "/echo".into(),
            ca.as_str(),
            b"body of the third".to_vec(),
        ),
        ("GET", "/p/3".into(), cb.as_str(), vec![]),
        ("GET", "/p/4".into(), ca.as_str(), vec![]),
        ("GET", "/chunked".into(), cb.as_str(), vec![]),
    ];
    let mut client = Client::connect(lb.http());
    let mut all = Vec::new();
    for (method, target, cookie, body) in &requests {
        all.extend(request_bytes(
            lb.http(),
            method,
            target,
            &[("Cookie", cookie)],
            body,
        ));
    }
    client.send(&all).expect("write the pipeline");
    for (i, (_, target, cookie, body)) in requests.iter().enumerate() {
        let r = client
            .read_response()
            .unwrap_or_else(|e| panic!("response {i}: {e}\n{}", lb.report(&nodes)));
        assert_eq!(r.status, 200, "response {i}: {}", r.head);
        let want = if *cookie == ca { "node-a" } else { "node-b" };
        assert_eq!(r.served_by(), want, "response {i}");
        if target == "/echo" {
            assert_eq!(&r.body, body, "response {i} is the echo");
        } else {
            assert_eq!(r.json()["path"], target.as_str(), "response {i} in order");
        }
    }
}

/// A chunked request body reaches the node whole (raw client and curl), and a node's chunked
/// response reaches the client whole.
#[test]
fn chunked_bodies_pass_both_ways() {
    let dir = test_dir("http-chunked");
    let lb = HttpLb::start(&dir, "");
    let (a, b) = two_nodes(&dir, &lb);
    let nodes = [&a, &b];
    let mut client = Client::connect(lb.http());
    let chunked = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
    let r = client
        .request(
            "POST",
            "/echo",
            &[("Transfer-Encoding", "chunked")],
            chunked,
        )
        .unwrap_or_else(|e| panic!("chunked POST: {e}\n{}", lb.report(&nodes)));
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.text(), "hello, world");
    let r = client.get("/chunked", &[]).expect("chunked response");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        r.json()["path"],
        "/chunked",
        "the chunked body decodes to the node's JSON"
    );

    let upload: Vec<u8> = (0..150_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let file = dir.join("upload.bin");
    std::fs::write(&file, &upload).expect("write upload");
    let data = format!("@{}", file.display());
    let c = curl(
        &dir,
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &data,
            &lb.url("/echo"),
        ],
    );
    assert_eq!(
        (c.exit, c.status),
        (0, 200),
        "{} {}\n{}",
        c.stderr,
        c.heads,
        lb.report(&nodes)
    );
    assert!(
        c.body == upload,
        "curl's chunked upload echoed whole ({} bytes back)",
        c.body.len()
    );
    let c = curl(&dir, &[&lb.url("/chunked")]);
    assert_eq!((c.exit, c.status), (0, 200), "{} {}", c.stderr, c.heads);
    assert_eq!(c.json()["path"], "/chunked");
}

/// curl uploads a body with `Expect: 100-continue`: the node's `100 Continue` reaches it,
/// the body is sent and echoed whole.
#[test]
fn expect_100_continue_upload() {
    let dir = test_dir("http-expect");
    let lb = HttpLb::start(&dir, "");
    let (a, b) = two_nodes(&dir, &lb);
    let upload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = dir.join("upload.bin");
    std::fs::write(&file, &upload).expect("write upload");
    let data = format!("@{}", file.display());
    let c = curl(
        &dir,
        &[
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &data,
            &lb.url("/echo"),
        ],
    );
    assert_eq!(
        (c.exit, c.status),
        (0, 200),
        "{} {}\n{}",
        c.stderr,
        c.heads,
        lb.report(&[&a, &b])
    );
    assert!(
        c.body == upload,
        "upload echoed whole ({} bytes back)",
        c.body.len()
    );
    assert!(
        c.heads.contains(" 100 "),
        "the client got 100 Continue before sending the body:\n{}",
        c.heads
    );
}

/// The node sees `X-Forwarded-For` (the client's address appended), `X-Forwarded-Proto:
/// http` and `X-Forwarded-Port` (the balancer's port), and no hop-by-hop field; end-to-end
/// fields pass unchanged.
#[test]
fn node_sees_x_forwarded_fields_and_no_hop_by_hop_ones() {
    let dir = test_dir("http-forwarded");
    let lb = HttpLb::start(&dir, "");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let r = must_get(
        &lb,
        &[&node],
        "/fields",
        &[
            ("X-Forwarded-For", "203.0.113.7"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "dropped"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("X-End", "kept"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.head);
    let seen = r.json()["headers"].clone();
    assert_eq!(seen["x-forwarded-for"], "203.0.113.7, 127.0.0.1", "{seen}");
    assert_eq!(seen["x-forwarded-proto"], "http", "{seen}");
    assert_eq!(
        seen["x-forwarded-port"],
        lb.ports.http.to_string().as_str(),
        "{seen}"
    );
    assert_eq!(seen["x-end"], "kept", "{seen}");
    for hop in ["x-hop", "keep-alive", "proxy-connection"] {
        assert!(
            seen.get(hop).is_none(),
            "{hop} must not reach the node: {seen}"
        );
    }
    let r = must_get(&lb, &[&node], "/fields", &[]);
    assert_eq!(r.seen_header("x-forwarded-for").as_deref(), Some(LOCALHOST));
}

/// With `xForwardedHeaders` false the node sees no `X-Forwarded-*` field the client did not
/// send.
#[test]
fn x_forwarded_fields_can_be_turned_off() {
    let dir = test_dir("http-no-forwarded");
    let lb = HttpLb::start(&dir, "<xForwardedHeaders>false</xForwardedHeaders>");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let r = must_get(&lb, &[&node], "/fields", &[]);
    assert_eq!(r.status, 200, "{}", r.head);
    let seen = r.json()["headers"].clone();
    for name in ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-port"] {
        assert!(
            seen.get(name).is_none(),
            "{name} added although turned off: {seen}"
        );
    }
}

/// A SIP request and an HTTP request carrying the same affinity value (the SIP `Call-ID`, the
/// HTTP `appsession` query parameter) land on the same node under the consistent-hash
/// algorithm; each node is one registration with both a SIP and an HTTP port.
#[test]
fn sip_and_http_with_one_affinity_value_meet_on_one_node() {
    let dir = test_dir("http-sip-affinity");
    let config = HttpLbConfig {
        algorithm: Some(
            "<algorithmClass>org.mobicents.tools.sip.balancer.HeaderConsistentHashBalancerAlgorithm</algorithmClass>\n      \
             <sipHeaderAffinityKey>Call-ID</sipHeaderAffinityKey>\n      \
             <httpAffinityKey>appsession</httpAffinityKey>"
                .to_owned(),
        ),
        ..HttpLbConfig::default()
    };
    let lb = HttpLb::start_with(&dir, &config);
    let sinks: Vec<SipSink> = (0..3).map(|_| SipSink::start()).collect();
    let nodes: Vec<HttpNode> = sinks
        .iter()
        .enumerate()
        .map(|(i, sink)| {
            let spec = NodeSpec {
                sip_port: Some(sink.port),
                ..NodeSpec::new(&format!("node-{i}"), &format!("r{i}"))
            };
            HttpNode::spawn(&dir, lb.ports.heartbeat, &spec)
        })
        .collect();
    let refs: Vec<&HttpNode> = nodes.iter().collect();
    let udp = UdpSocket::bind((LOCALHOST, 0)).expect("bind SIP client");
    let local = udp.local_addr().expect("addr");
    let keys: Vec<String> = (0..9).map(|i| format!("affinity-key-{i}-x")).collect();
    for key in &keys {
        let message = format!(
            "MESSAGE sip:bob@example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{key}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@example.com>;tag=a1\r\n\
             To: <sip:bob@example.com>\r\n\
             Call-ID: {key}\r\n\
             CSeq: 1 MESSAGE\r\n\
             Content-Length: 0\r\n\r\n"
        );
        udp.send_to(message.as_bytes(), lb.external())
            .expect("send SIP");
    }
    let mut http_node = BTreeMap::new();
    for key in &keys {
        let r = must_get(&lb, &refs, &format!("/app?appsession={key}"), &[]);
        assert_eq!(r.status, 200, "{}", r.head);
        for _ in 0..2 {
            let again = must_get(&lb, &refs, &format!("/app/more?x=1&appsession={key}"), &[]);
            assert_eq!(
                again.served_by(),
                r.served_by(),
                "{key} is stable over HTTP"
            );
        }
        http_node.insert(key.clone(), r.served_by().to_owned());
    }
    let sip_node = |key: &str| -> Vec<String> {
        let needle = format!("Call-ID: {key}\r\n");
        sinks
            .iter()
            .zip(&nodes)
            .filter(|(s, _)| s.saw(&needle))
            .map(|(_, n)| n.name.clone())
            .collect()
    };
    let delivered = wait_until(Duration::from_secs(5), || {
        keys.iter().all(|k| !sip_node(k).is_empty())
    });
    assert!(
        delivered,
        "every SIP request reached a node\n{}",
        lb.report(&refs)
    );
    for key in &keys {
        assert_eq!(
            sip_node(key),
            vec![http_node[key].clone()],
            "{key}: SIP and HTTP"
        );
    }
    let used: std::collections::BTreeSet<&String> = http_node.values().collect();
    assert!(
        used.len() >= 2,
        "9 keys use more than one node: {http_node:?}"
    );
}

/// A node that dies (SIGKILL): once the balancer removed it, its sessions are served by the
/// other node without a single error.
#[test]
fn sessions_of_a_dead_node_move_to_the_other_node() {
    let dir = test_dir("http-node-death");
    let lb = HttpLb::start_with(
        &dir,
        &HttpLbConfig {
            node_timeout_ms: Some(2000),
            ..HttpLbConfig::default()
        },
    );
    let (mut a, b) = two_nodes(&dir, &lb);
    let cookie = a.cookie();
    let r = must_get(&lb, &[&a, &b], "/before", &[("Cookie", &cookie)]);
    assert_eq!(r.served_by(), "node-a");
    a.crash();
    assert!(
        lb.wait_nodes(&["node-b"], Duration::from_secs(6)),
        "the dead node is removed\n{}",
        lb.report(&[&b])
    );
    for i in 0..10 {
        let r = must_get(&lb, &[&b], &format!("/after/{i}"), &[("Cookie", &cookie)]);
        assert_eq!(r.status, 200, "request {i} of A's session: {}", r.head);
        assert_eq!(r.served_by(), "node-b", "request {i} of A's session");
        let r = must_get(&lb, &[&b], &format!("/new/{i}"), &[]);
        assert_eq!(
            (r.status, r.served_by()),
            (200, "node-b"),
            "new session {i}"
        );
    }
}

/// A node that dies while a POST is in flight: the client gets `502` at once, and the POST
/// (not idempotent) is not sent again to the other node.
#[test]
fn post_in_flight_on_a_dying_node_gets_502_and_is_not_replayed() {
    let dir = test_dir("http-death-in-flight");
    let lb = HttpLb::start(&dir, "");
    let (mut a, b) = two_nodes(&dir, &lb);
    let mut client = Client::connect(lb.http());
    let body = br#"{"charge":10}"#;
    client
        .send(&request_bytes(
            lb.http(),
            "POST",
            "/slow?ms=3000&payment=1",
            &[("Cookie", &a.cookie())],
            body,
        ))
        .expect("send");
    sleep(Duration::from_millis(500));
    let died = Instant::now();
    a.crash();
    let r = client
        .read_response()
        .unwrap_or_else(|e| panic!("no answer: {e}\n{}", lb.report(&[&b])));
    assert_eq!(r.status, 502, "{}", r.head);
    assert!(
        died.elapsed() < Duration::from_secs(2),
        "502 took {:?}",
        died.elapsed()
    );
    sleep(Duration::from_millis(300));
    assert!(
        !b.log().contains("payment=1"),
        "the POST was replayed on node-b:\n{}",
        b.log()
    );
}

/// A node in graceful shutdown (SIGUSR1: `shutdown` sent, still serving) keeps its sessions
/// but gets no new ones.
#[test]
fn graceful_node_keeps_its_sessions_and_gets_no_new_ones() {
    let dir = test_dir("http-graceful");
    let lb = HttpLb::start(&dir, "");
    let (a, b) = two_nodes(&dir, &lb);
    let nodes = [&a, &b];
    a.graceful();
    let graceful = wait_until(Duration::from_secs(5), || {
        lb.node_info("node-a")
            .is_some_and(|n| n["gracefulShutdown"] == true)
    });
    assert!(
        graceful,
        "node-a is listed in graceful shutdown\n{}",
        lb.report(&nodes)
    );
    for i in 0..5 {
        let r = must_get(&lb, &nodes, &format!("/s/{i}"), &[("Cookie", &a.cookie())]);
        assert_eq!(
            (r.status, r.served_by()),
            (200, "node-a"),
            "A's session, request {i}"
        );
        let r = must_get(&lb, &nodes, &format!("/s/{i}"), &[("Cookie", &b.cookie())]);
        assert_eq!(
            (r.status, r.served_by()),
            (200, "node-b"),
            "B's session, request {i}"
        );
    }
    for i in 0..10 {
        let r = must_get(&lb, &nodes, &format!("/new/{i}"), &[]);
        assert_eq!(
            (r.status, r.served_by()),
            (200, "node-b"),
            "new session {i}"
        );
    }
}

/// Without any node the balancer answers `503` itself, with `Retry-After` and a small body.
#[test]
fn no_node_answers_503_with_retry_after() {
    let dir = test_dir("http-no-node");
    let lb = HttpLb::start(&dir, "");
    for target in ["/", "/app/page?x=1"] {
        let r = get(lb.http(), target, &[]).unwrap_or_else(|e| panic!("{e}\n{}", lb.log()));
        assert_eq!(r.status, 503, "{}", r.head);
        assert!(r.header("retry-after").is_some(), "Retry-After: {}", r.head);
        assert!(
            !r.body.is_empty() && r.body.len() < 4096,
            "a small body: {} bytes",
            r.body.len()
        );
    }
}

/// `unavailableHost`: with no node at all, requests are proxied to that host (nginx here).
#[test]
fn unavailable_host_serves_when_there_is_no_node() {
    let dir = test_dir("http-unavailable-host");
    let fallback = Nginx::start(&dir, "fallback");
    let lb = HttpLb::start(
        &dir,
        &format!(
            "<unavailableHost>127.0.0.1:{}</unavailableHost>",
            fallback.port
        ),
    );
    let r = get(lb.http(), "/index.html", &[]).unwrap_or_else(|e| panic!("{e}\n{}", lb.log()));
    assert_eq!(r.status, 200, "{}{}", r.head, lb.log());
    assert_eq!(r.served_by(), "fallback");
    assert_eq!(r.text(), fallback.body);
}

/// `<urlrewrite>` rules rewrite the target, in order and with `$1` references, before the
/// request reaches the node.
#[test]
fn url_rewrite_rules_apply_in_order() {
    let dir = test_dir("http-urlrewrite");
    let lb = HttpLb::start(
        &dir,
        "<urlrewrite>\
           <rule><from>^/old/(.*)$</from><to>/new/$1</to></rule>\
           <rule><from>^/new/secret$</from><to>/public</to></rule>\
         </urlrewrite>",
    );
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    for (sent, seen) in [
        ("/old/page?x=1", "/new/page?x=1"),
        ("/old/secret", "/public"),
        ("/other/path", "/other/path"),
    ] {
        let r = must_get(&lb, &[&node], sent, &[]);
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.json()["path"], seen, "{sent}");
    }
}

/// `requestCheckPattern`: an error status from a node for a matching request marks the node
/// bad, and its sessions and new ones go to the other node; an error for a request that does
/// not match marks nothing.
#[test]
fn request_check_pattern_marks_a_failing_node_bad() {
    let dir = test_dir("http-request-check");
    let lb = HttpLb::start(
        &dir,
        "<requestCheckPattern>^/status/5</requestCheckPattern>",
    );
    let (a, b) = two_nodes(&dir, &lb);
    let nodes = [&a, &b];
    let ca = a.cookie();
    let r = must_get(&lb, &nodes, "/status/404", &[("Cookie", &ca)]);
    assert_eq!((r.status, r.served_by()), (404, "node-a"), "{}", r.head);
    sleep(Duration::from_millis(300));
    assert_eq!(
        lb.node_info("node-a").map(|n| n["bad"].clone()),
        Some(serde_json::Value::Bool(false)),
        "a 404 of a request outside the pattern marks nothing"
    );
    let r = must_get(&lb, &nodes, "/status/503", &[("Cookie", &ca)]);
    assert_eq!((r.status, r.served_by()), (503, "node-a"), "{}", r.head);
    let bad = wait_until(Duration::from_secs(3), || {
        lb.node_info("node-a").is_some_and(|n| n["bad"] == true)
    });
    assert!(bad, "node-a is marked bad\n{}", lb.report(&nodes));
    for i in 0..5 {
        let r = must_get(&lb, &nodes, &format!("/after/{i}"), &[("Cookie", &ca)]);
        assert_eq!(
            (r.status, r.served_by()),
            (200, "node-b"),
            "A's session, request {i}"
        );
        let r = must_get(&lb, &nodes, &format!("/new/{i}"), &[]);
        assert_eq!(r.served_by(), "node-b", "new session {i}");
    }
}

/// `nodeResponseTimeout`: a node that does not start answering in time gets the client a
/// `504`; the next request is served normally.
#[test]
fn slow_node_gets_the_client_a_504() {
    let dir = test_dir("http-504");
    let lb = HttpLb::start(&dir, "<nodeResponseTimeout>700</nodeResponseTimeout>");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let started = Instant::now();
    let r = must_get(&lb, &[&node], "/slow?ms=3000", &[]);
    let took = started.elapsed();
    assert_eq!(r.status, 504, "{}", r.head);
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(2500),
        "504 after the 700 ms timeout, not {took:?}"
    );
    let r = must_get(&lb, &[&node], "/fast", &[]);
    assert_eq!(r.status, 200, "{}", r.head);
}

/// `keepAliveTimeout`: an idle client connection is closed after the timeout, not before.
#[test]
fn idle_client_connection_is_closed_after_keep_alive_timeout() {
    let dir = test_dir("http-idle");
    let lb = HttpLb::start(&dir, "<keepAliveTimeout>800</keepAliveTimeout>");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let mut client = Client::connect(lb.http());
    let r = client
        .get("/first", &[])
        .unwrap_or_else(|e| panic!("{e}\n{}", lb.report(&[&node])));
    assert_eq!(r.status, 200);
    sleep(Duration::from_millis(300));
    let r = client
        .get("/second", &[])
        .expect("still open after 300 ms idle");
    assert_eq!(r.status, 200);
    let idle = Instant::now();
    let closed = client.read_until_closed(Duration::from_secs(4));
    let after = idle.elapsed();
    assert!(closed.is_some(), "the idle connection is closed");
    assert!(
        after >= Duration::from_millis(600) && after < Duration::from_millis(3000),
        "closed {after:?} after going idle, keepAliveTimeout is 800 ms"
    );
}

/// `/lbstat` counts every HTTP request, the bytes both ways and the open connections (client
/// and node legs, as the reference counts them: three more idle clients count three more);
/// `/metrics` has the `switchboard_http_*` families by method, status class and node.
#[test]
fn management_api_counts_http_traffic() {
    let dir = test_dir("http-lbstat");
    let lb = HttpLb::start(&dir, "");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let stat = |field: &str| lb.stat(field);
    assert!(lb.lbstat().is_some(), "the management port answers");
    assert_eq!(stat("NumberOfHttpRequests"), 0, "{:?}", lb.lbstat());
    let body = vec![b'x'; 1000];
    let (mut sent_bodies, mut received_bodies) = (0u64, 0u64);
    let mut client = Client::connect(lb.http());
    for i in 0..5 {
        let r = client
            .request("POST", &format!("/echo?i={i}"), &[], &body)
            .unwrap_or_else(|e| panic!("{e}\n{}", lb.report(&[&node])));
        assert_eq!(r.status, 200);
        sent_bodies += body.len() as u64;
        received_bodies += r.body.len() as u64;
    }
    for i in 0..2 {
        let r = must_get(&lb, &[&node], &format!("/get/{i}"), &[]);
        received_bodies += r.body.len() as u64;
    }
    assert_eq!(stat("NumberOfHttpRequests"), 7, "{:?}", lb.lbstat());
    let to_server = stat("NumberOfHttpBytesToServer");
    let to_client = stat("NumberOfHttpBytesToClient");
    assert!(
        to_server >= sent_bodies,
        "bytes to the node {to_server} < {sent_bodies}: {:?}",
        lb.lbstat()
    );
    assert!(
        to_client >= received_bodies,
        "bytes to the client {to_client} < {received_bodies}: {:?}",
        lb.lbstat()
    );
    let base = stat("NumberOfActiveHttpConnections");
    assert!(
        base >= 1,
        "the kept client connection is open: {:?}",
        lb.lbstat()
    );
    let idle: Vec<Client> = (0..3).map(|_| Client::connect(lb.http())).collect();
    let more = wait_until(Duration::from_secs(2), || {
        stat("NumberOfActiveHttpConnections") == base + 3
    });
    assert!(
        more,
        "3 more open connections than {base}: {:?}",
        lb.lbstat()
    );
    drop(idle);
    let fewer = wait_until(Duration::from_secs(2), || {
        stat("NumberOfActiveHttpConnections") == base
    });
    assert!(fewer, "back to {base} open connections: {:?}", lb.lbstat());
    drop(client);
    let metrics = lb.metrics();
    let http_lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("switchboard_http_"))
        .collect();
    // A sample whose labels contain every one of `labels` and whose value is `value`.
    let has = |labels: &[&str], value: u64| {
        http_lines.iter().any(|l| {
            let lower = l.to_ascii_lowercase();
            labels.iter().all(|x| lower.contains(x))
                && l.rsplit(' ').next() == Some(value.to_string().as_str())
        })
    };
    let all = http_lines.join("\n");
    assert!(has(&["method=\"post\""], 5), "5 POST requests:\n{all}");
    assert!(has(&["method=\"get\""], 2), "2 GET requests:\n{all}");
    assert!(has(&["2xx"], 7), "7 responses of class 2xx:\n{all}");
    assert!(has(&["node-a"], 7), "7 requests of node-a:\n{all}");
}
