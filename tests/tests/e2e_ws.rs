//! End-to-end: SIP over WebSocket (RFC 7118). A Rust WSS client runs a whole call through the
//! balancer (`terminateTLSTraffic=true`, so WSS → WS toward nodes) to a small WS UAS node
//! written here; clients that do not offer the `sip` sub-protocol are refused; the IPv6 WSS
//! listener completes the handshake.

mod common;
#[path = "common/secure.rs"]
mod secure;

use common::test_dir;
use futures_util::{SinkExt, StreamExt};
use secure::{
    call, header_values, runtime, tls_connect, ws_request, Heartbeats, Pki, SecureLb, WsLink,
};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Requests a WS UAS node received, in order (whole messages).
type Received = Arc<Mutex<Vec<String>>>;

/// Copies the dialog-forming headers of `request` into a response.
fn response(request: &str, code: u16, reason: &str, port: u16) -> String {
    let head = &request[..request.find("\r\n\r\n").unwrap_or(request.len())];
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for (name, compact) in [("Via", Some("v")), ("From", Some("f"))] {
        for value in header_values(head, name, compact) {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    for value in header_values(head, "To", Some("t")) {
        if value.contains(";tag=") {
            out.push_str(&format!("To: {value}\r\n"));
        } else {
            out.push_str(&format!("To: {value};tag=uas-1\r\n"));
        }
    }
    for (name, compact) in [
        ("Call-ID", Some("i")),
        ("CSeq", None),
        ("Record-Route", None),
    ] {
        for value in header_values(head, name, compact) {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str(&format!(
        "Contact: <sip:uas@127.0.0.1:{port};transport=ws>\r\nContent-Length: 0\r\n\r\n"
    ));
    out
}

/// A WS UAS (WSS with `tls`): accepts WebSocket connections with sub-protocol `sip`, answers
/// INVITE with 180 and 200, BYE with 200, and records every request.
async fn ws_uas(listener: TcpListener, received: Received, tls: Option<TlsAcceptor>) {
    let port = listener.local_addr().expect("addr").port();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let (received, tls) = (received.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_ws(tcp, received, port).await,
                Some(tls) => {
                    if let Ok(stream) = tls.accept(tcp).await {
                        serve_ws(stream, received, port).await;
                    }
                }
            }
        });
    }
}

/// One WebSocket connection of the UAS.
async fn serve_ws<S>(stream: S, received: Received, port: u16)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    #[allow(clippy::result_large_err, reason = "tungstenite's callback type")]
    let check = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        let offered = request
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|p| p.trim() == "sip"));
        if offered {
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
        }
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        let text = match message {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => continue,
        };
        if text.starts_with("SIP/2.0") {
            continue;
        }
        received.lock().expect("lock").push(text.clone());
        let method = text.split_whitespace().next().unwrap_or_default();
        let answers = match method {
            "INVITE" => vec![
                response(&text, 180, "Ringing", port),
                response(&text, 200, "OK", port),
            ],
            "BYE" => vec![response(&text, 200, "OK", port)],
            _ => vec![],
        };
        for answer in answers {
            if ws.send(Message::text(answer)).await.is_err() {
                return;
            }
        }
    }
}

/// A WSS client's call through the balancer to a WS node (`terminateTLSTraffic=true`) or to a
/// WSS node the balancer reaches over its own outbound TLS connection (`false`).
fn wss_call(test: &str, terminate: bool) {
    let dir = test_dir(test);
    let pki = Pki::generate(&dir);
    let lb = SecureLb::start_with(&dir, &pki, "Disabled", terminate);
    let rt = runtime();
    let received: Received = Arc::default();
    let node = rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind node");
    let node_port = node.local_addr().expect("addr").port();
    let (node_tls, port_key, node_via) = if terminate {
        (None, "wsPort", "SIP/2.0/WS ")
    } else {
        (Some(pki.acceptor()), "wssPort", "SIP/2.0/WSS ")
    };
    rt.spawn(ws_uas(node, received.clone(), node_tls));
    let _heartbeats = Heartbeats::start(lb.heartbeat(), "ws-node", &[(port_key, node_port)]);

    let wss_port = lb.ports.external_wss;
    let report = rt.block_on(async {
        let tls = tls_connect(&pki.connector(false), SecureLb::at(wss_port))
            .await
            .expect("TLS handshake with the balancer");
        let url = format!("wss://127.0.0.1:{wss_port}/");
        let (ws, answer) = tokio_tungstenite::client_async(ws_request(&url, Some("sip")), tls)
            .await
            .expect("WebSocket upgrade with sub-protocol sip");
        assert_eq!(
            answer
                .headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.as_bytes()),
            Some(&b"sip"[..])
        );
        let mut link = WsLink {
            ws,
            transport: "WSS",
            host: "df7jal23ls0d.invalid".to_owned(),
        };
        let uri = format!("sip:service@127.0.0.1:{wss_port};transport=ws");
        tokio::time::timeout(Duration::from_secs(20), call(&mut link, &uri, test))
            .await
            .expect("call finished in time")
    });
    // ACK needs no answer: give it a moment to reach the node.
    std::thread::sleep(Duration::from_millis(300));
    let seen: Vec<String> = received.lock().expect("lock").clone();
    let methods: Vec<&str> = seen
        .iter()
        .map(|m| m.split_whitespace().next().unwrap_or_default())
        .collect();
    let diagnostics = format!(
        "report {report:?}\nnode got {seen:#?}\n--- log\n{}",
        lb.log()
    );
    assert_eq!(report.invite_statuses.last(), Some(&200), "{diagnostics}");
    assert!(report.invite_statuses.contains(&180), "{diagnostics}");
    assert_eq!(report.bye_status, Some(200), "{diagnostics}");
    assert_eq!(methods, ["INVITE", "ACK", "BYE"], "{diagnostics}");
    assert!(
        seen[0].contains(node_via),
        "the balancer's own Via toward the node is {node_via}: {diagnostics}"
    );
}

#[test]
fn wss_call_reaches_a_ws_node_and_completes() {
    wss_call("wss-call", true);
}

#[test]
fn wss_call_reaches_a_wss_node_over_outbound_tls() {
    wss_call("wss-wss-call", false);
}

async fn refused(result: Result<impl Sized, WsError>) -> Option<u16> {
    match result {
        Ok(_) => None,
        Err(WsError::Http(response)) => Some(response.status().as_u16()),
        Err(_) => Some(0),
    }
}

#[test]
fn websocket_without_the_sip_subprotocol_is_refused() {
    let dir = test_dir("ws-no-sip");
    let pki = Pki::generate(&dir);
    let lb = SecureLb::start(&dir, &pki, "Disabled");
    let rt = runtime();
    let (ws_port, wss_port) = (lb.ports.external_ws, lb.ports.external_wss);
    rt.block_on(async {
        // Plain WS, no sub-protocol offered.
        let tcp = tokio::net::TcpStream::connect(SecureLb::at(ws_port))
            .await
            .expect("connect");
        let url = format!("ws://127.0.0.1:{ws_port}/");
        let outcome = tokio::time::timeout(
            secure::STEP,
            tokio_tungstenite::client_async(ws_request(&url, None), tcp),
        )
        .await
        .expect("answered in time");
        assert_eq!(refused(outcome).await, Some(400), "{}", lb.log());

        // WSS, another sub-protocol offered.
        let tls = tls_connect(&pki.connector(false), SecureLb::at(wss_port))
            .await
            .expect("TLS handshake");
        let url = format!("wss://127.0.0.1:{wss_port}/");
        let outcome = tokio::time::timeout(
            secure::STEP,
            tokio_tungstenite::client_async(ws_request(&url, Some("chat")), tls),
        )
        .await
        .expect("answered in time");
        assert_eq!(refused(outcome).await, Some(400), "{}", lb.log());

        // The same over plain WS with `sip` is accepted.
        let tcp = tokio::net::TcpStream::connect(SecureLb::at(ws_port))
            .await
            .expect("connect");
        let url = format!("ws://127.0.0.1:{ws_port}/");
        let outcome = tokio::time::timeout(
            secure::STEP,
            tokio_tungstenite::client_async(ws_request(&url, Some("sip")), tcp),
        )
        .await
        .expect("answered in time");
        assert!(outcome.is_ok(), "{outcome:?}\n{}", lb.log());
    });
}

#[test]
fn wss_listener_serves_ipv6() {
    let dir = test_dir("wss-ipv6");
    let pki = Pki::generate(&dir);
    let lb = SecureLb::start(&dir, &pki, "Disabled");
    let rt = runtime();
    let port = lb.ports.external_ipv6_wss;
    let to: SocketAddr = format!("[::1]:{port}").parse().expect("addr");
    rt.block_on(async {
        let tls = tls_connect(&pki.connector(false), to)
            .await
            .expect("TLS handshake over IPv6");
        let url = format!("wss://[::1]:{port}/");
        let outcome = tokio::time::timeout(
            secure::STEP,
            tokio_tungstenite::client_async(ws_request(&url, Some("sip")), tls),
        )
        .await
        .expect("answered in time");
        assert!(outcome.is_ok(), "{outcome:?}\n{}", lb.log());
    });
}
