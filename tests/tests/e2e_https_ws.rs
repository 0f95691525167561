//! End-to-end HTTPS and WebSocket through the HTTP balancer: TLS terminated toward the
//! node's plain port or re-encrypted toward its sslPort (curl with the test CA), the plain
//! port's redirect to HTTPS, and WebSocket tunnels (Python `websockets` client) toward the
//! node's wsPort (sub-protocol `sip`) or its httpPort.

mod common;
#[path = "common/secure.rs"]
mod secure;

use common::http::{curl, get, ws_echo, Client, HttpLb, HttpLbConfig, HttpNode, NodeSpec, Ssl};
use common::test_dir;
use secure::Pki;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A balancer with `<ssl>` (the test PKI) and an httpsPort.
fn https_lb(dir: &Path, pki: &Pki, terminate: bool) -> HttpLb {
    HttpLb::start_with(
        dir,
        &HttpLbConfig {
            ssl: Some(Ssl {
                key_store: pki.key_store.clone(),
                trust_store: pki.ca.clone(),
                terminate,
            }),
            ..HttpLbConfig::default()
        },
    )
}

/// `terminateTLSTraffic` true: an HTTPS request (curl trusting the test CA) reaches the
/// node's plain httpPort with `X-Forwarded-Proto: https` and the HTTPS port; a body makes the
/// round trip.
#[test]
fn https_is_terminated_toward_the_node_http_port() {
    let dir = test_dir("https-terminate");
    let pki = Pki::generate(&dir);
    let lb = https_lb(&dir, &pki, true);
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let ca = pki.ca.display().to_string();
    let url = format!("https://{}/secure/page?x=1", lb.https());
    let c = curl(&dir, &["--cacert", &ca, &url]);
    assert_eq!(
        (c.exit, c.status),
        (0, 200),
        "{}\n{}",
        c.stderr,
        lb.report(&[&node])
    );
    let seen = c.json();
    assert_eq!(seen["node"], "node-a");
    assert_eq!(seen["listener"], "http", "plain toward the node");
    assert_eq!(seen["path"], "/secure/page?x=1");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https", "{seen}");
    let https_port = lb.https().port().to_string();
    assert_eq!(
        seen["headers"]["x-forwarded-port"],
        https_port.as_str(),
        "{seen}"
    );
    let url = format!("https://{}/echo", lb.https());
    let c = curl(
        &dir,
        &["--cacert", &ca, "--data-binary", "sent over TLS", &url],
    );
    assert_eq!((c.exit, c.status), (0, 200), "{}", c.stderr);
    assert_eq!(c.body, b"sent over TLS");
}

/// `terminateTLSTraffic` false: an HTTPS request is re-encrypted toward the node's sslPort.
#[test]
fn https_is_reencrypted_toward_the_node_ssl_port() {
    let dir = test_dir("https-reencrypt");
    let pki = Pki::generate(&dir);
    let lb = https_lb(&dir, &pki, false);
    let spec = NodeSpec {
        tls: Some(pki.key_store.clone()),
        ..NodeSpec::new("node-a", "ra")
    };
    let node = HttpNode::spawn(&dir, lb.ports.heartbeat, &spec);
    assert_ne!(node.ssl, 0);
    let ca = pki.ca.display().to_string();
    let url = format!("https://{}/secure", lb.https());
    let c = curl(&dir, &["--cacert", &ca, &url]);
    assert_eq!(
        (c.exit, c.status),
        (0, 200),
        "{}\n{}",
        c.stderr,
        lb.report(&[&node])
    );
    let seen = c.json();
    assert_eq!(seen["node"], "node-a");
    assert_eq!(
        seen["listener"], "ssl",
        "TLS again toward the node's sslPort"
    );
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https", "{seen}");
}

/// With an httpsPort, a request on the plain port is redirected (`302`) to the same target
/// on HTTPS.
#[test]
fn plain_port_redirects_to_https() {
    let dir = test_dir("https-redirect");
    let pki = Pki::generate(&dir);
    let lb = https_lb(&dir, &pki, true);
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let r =
        get(lb.http(), "/a/b?c=d", &[]).unwrap_or_else(|e| panic!("{e}\n{}", lb.report(&[&node])));
    assert_eq!(r.status, 302, "{}", r.head);
    let location = format!("https://127.0.0.1:{}/a/b?c=d", lb.https().port());
    assert_eq!(r.header("location"), Some(location.as_str()), "{}", r.head);
    assert_eq!(r.served_by(), "", "answered by the balancer, not the node");
}

/// A WebSocket offering the sub-protocol `sip` is tunnelled to the node's wsPort: the
/// handshake selects `sip`, text and a 100 kB binary message are echoed.
#[test]
fn websocket_with_sip_subprotocol_reaches_the_ws_port() {
    let dir = test_dir("http-ws-sip");
    let lb = HttpLb::start(&dir, "");
    let spec = NodeSpec {
        ws: true,
        ..NodeSpec::new("node-a", "ra")
    };
    let node = HttpNode::spawn(&dir, lb.ports.heartbeat, &spec);
    let url = format!("ws://{}/ws", lb.http());
    let report =
        ws_echo(&url, Some("sip"), None).unwrap_or_else(|e| panic!("{e}\n{}", lb.report(&[&node])));
    assert_eq!(report["subprotocol"], "sip", "{report}");
    assert_eq!(
        report["listener"], "ws",
        "the node's wsPort answered: {report}"
    );
    assert_eq!(report["served_by"], "node-a", "{report}");
    assert_eq!(report["text"], "hello through the tunnel", "{report}");
    assert_eq!(report["binary_ok"], true, "{report}");
}

/// A WebSocket without the `sip` sub-protocol is tunnelled to the node's httpPort.
#[test]
fn websocket_without_sip_reaches_the_http_port() {
    let dir = test_dir("http-ws-plain");
    let lb = HttpLb::start(&dir, "");
    let spec = NodeSpec {
        ws: true,
        ..NodeSpec::new("node-a", "ra")
    };
    let node = HttpNode::spawn(&dir, lb.ports.heartbeat, &spec);
    let url = format!("ws://{}/app/socket", lb.http());
    let report =
        ws_echo(&url, None, None).unwrap_or_else(|e| panic!("{e}\n{}", lb.report(&[&node])));
    assert_eq!(
        report["listener"], "http",
        "the node's httpPort answered: {report}"
    );
    assert_eq!(report["text"], "hello through the tunnel", "{report}");
    assert_eq!(report["binary_ok"], true, "{report}");
}

/// A secure WebSocket (`wss://` on the httpsPort, TLS terminated) with sub-protocol `sip`
/// reaches the node's wsPort.
#[test]
fn secure_websocket_reaches_the_ws_port() {
    let dir = test_dir("https-wss");
    let pki = Pki::generate(&dir);
    let lb = https_lb(&dir, &pki, true);
    let spec = NodeSpec {
        ws: true,
        ..NodeSpec::new("node-a", "ra")
    };
    let node = HttpNode::spawn(&dir, lb.ports.heartbeat, &spec);
    let url = format!("wss://{}/ws", lb.https());
    let report = ws_echo(&url, Some("sip"), Some(&pki.ca))
        .unwrap_or_else(|e| panic!("{e}\n{}", lb.report(&[&node])));
    assert_eq!(report["subprotocol"], "sip", "{report}");
    assert_eq!(report["listener"], "ws", "{report}");
    assert_eq!(report["binary_ok"], true, "{report}");
}

/// `tunnelIdleTimeout`: a WebSocket tunnel that carries a frame stays open while used and is
/// closed once no byte crossed it for the timeout.
#[test]
fn idle_websocket_tunnel_is_closed() {
    let dir = test_dir("http-ws-idle");
    let lb = HttpLb::start(&dir, "<tunnelIdleTimeout>800</tunnelIdleTimeout>");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let mut client = Client::connect(lb.http());
    let upgrade = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    let r = client
        .get("/socket", &upgrade)
        .unwrap_or_else(|e| panic!("{e}\n{}", lb.report(&[&node])));
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    // A masked text frame "ping" every 400 ms keeps the tunnel open past the timeout.
    let frame = [
        0x81,
        0x84,
        1,
        2,
        3,
        4,
        b'p' ^ 1,
        b'i' ^ 2,
        b'n' ^ 3,
        b'g' ^ 4,
    ];
    for _ in 0..4 {
        client.send(&frame).expect("frame through the tunnel");
        let echo = client.take_bytes(6).expect("echo through the tunnel");
        assert_eq!(echo, [0x81, 4, b'p', b'i', b'n', b'g']);
        sleep(Duration::from_millis(400));
    }
    let idle = Instant::now();
    let closed = client.read_until_closed(Duration::from_secs(4));
    let after = idle.elapsed();
    assert!(
        closed.is_some(),
        "the idle tunnel is closed\n{}",
        lb.report(&[&node])
    );
    assert!(
        after >= Duration::from_millis(300) && after < Duration::from_millis(3000),
        "closed {after:?} after its last frame (400 ms before), tunnelIdleTimeout is 800 ms"
    );
}
