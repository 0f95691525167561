//! HTTP/JSON heartbeat protocol (behaviour reference §3.2) against the registry.

use proptest::prelude::*;
use switchboard_core::heartbeat::{
    handle_http_request, stop_requests, Handled, HttpOutcome, MAX_BODY,
};
use switchboard_core::node::{NodeId, Version};
use switchboard_core::registry::{Registry, RegistryEvent, RegistrySettings, StartOutcome};
use switchboard_core::time::Timestamp;

const START: &str = r#"{"start":{"hostName":"node1","ip":"127.0.0.1","httpPort":"8080","udpPort":"5080","tcpPort":"5080","version":"0","sessionId":"1510844617581","heartbeatPort":"2222"}}"#;

fn post(body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:2610\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn send(r: &mut Registry, body: &str, now: u64) -> (u16, Vec<u8>, Handled) {
    match handle_http_request(r, &post(body), Timestamp::from_millis(now)) {
        HttpOutcome::Respond(reply) => (reply.status, reply.response.to_vec(), reply.handled),
        HttpOutcome::NeedMore => panic!("complete request reported as partial"),
    }
}

fn registry() -> Registry {
    Registry::new(RegistrySettings::default(), Timestamp::ZERO)
}

#[test]
fn reference_start_then_numeric_heartbeat() {
    let mut r = registry();
    let (status, resp, handled) = send(&mut r, START, 0);
    assert_eq!(status, 200);
    assert_eq!(resp, ok_response(r#"{"start":"OK"}"#));
    assert_eq!(handled, Handled::Start(StartOutcome::Added(NodeId(1))));
    let nodes = r.live_nodes(&Version("0".into()), false);
    assert_eq!(nodes.len(), 1);
    let n = &nodes[0];
    assert_eq!(n.host_name, "node1");
    assert_eq!(n.key.ip.to_string(), "127.0.0.1");
    assert_eq!(
        (n.key.ports.udp, n.key.ports.tcp, n.key.ports.http),
        (Some(5080), Some(5080), Some(8080))
    );
    assert_eq!(n.session_id, "1510844617581");
    assert_eq!(n.heartbeat_port, Some(2222));
    assert!(matches!(r.poll_event(), Some(RegistryEvent::NodeAdded(_))));

    let (status, resp, _) = send(&mut r, r#"{"heartbeat":{"sessionId":1510844617581}}"#, 5000);
    assert_eq!(status, 200);
    assert_eq!(resp, ok_response(r#"{"heartbeat":"OK"}"#));
    assert_eq!(
        r.node(NodeId(1)).unwrap().last_seen,
        Timestamp::from_millis(5000)
    );
    // A string session id works too.
    let (_, resp, _) = send(
        &mut r,
        r#"{"heartbeat":{"sessionId":"1510844617581"}}"#,
        6000,
    );
    assert_eq!(resp, ok_response(r#"{"heartbeat":"OK"}"#));
    assert_eq!(
        r.node(NodeId(1)).unwrap().last_seen,
        Timestamp::from_millis(6000)
    );
}

#[test]
fn numeric_ports_and_extra_properties_are_accepted() {
    let mut r = registry();
    let body = r#"{"start":{"ip":"10.0.0.7","udpPort":5080,"sessionId":42,"restcommInstanceId":"ID9","jvmRoute":"r1","smppPort":"2776","custom":"v"}}"#;
    let (status, _, _) = send(&mut r, body, 0);
    assert_eq!(status, 200);
    let n = r.find_by_session("42").next().unwrap();
    assert_eq!(n.key.ports.udp, Some(5080));
    assert_eq!(n.instance_id.as_deref(), Some("ID9"));
    assert_eq!(n.jvm_route.as_deref(), Some("r1"));
    assert_eq!(n.smpp_port, Some(2776));
    assert_eq!(n.properties["custom"], "v");
    assert_eq!(n.host_name, "undefined_node");
    assert_eq!(r.find_by_instance_id("ID9").map(|n| n.id), Some(n.id));
    assert_eq!(r.find_by_jvm_route("r1").map(|n| n.id), Some(n.id));
}

#[test]
fn shutdown_and_stop_answers() {
    let mut r = registry();
    send(&mut r, START, 0);
    let (_, resp, _) = send(&mut r, r#"{"shutdown":{"sessionId":1510844617581}}"#, 1);
    assert_eq!(resp, ok_response(r#"{"shutdown":"OK"}"#));
    assert!(r.node(NodeId(1)).unwrap().graceful);
    let (_, resp, _) = send(&mut r, r#"{"stop":{"sessionId":1510844617581}}"#, 2);
    assert_eq!(resp, ok_response(r#"{"stop":"OK"}"#));
    assert!(r.is_empty());
}

#[test]
fn unknown_session_is_answered_so_the_node_restarts() {
    let mut r = registry();
    for cmd in ["heartbeat", "shutdown", "stop"] {
        let (status, resp, handled) = send(&mut r, &format!(r#"{{"{cmd}":{{"sessionId":7}}}}"#), 0);
        assert_eq!(status, 200);
        assert_eq!(
            resp,
            ok_response(&format!(r#"{{"{cmd}":"UNKNOWN_SESSION"}}"#))
        );
        assert_eq!(handled, Handled::UnknownSession(cmd));
    }
}

#[test]
fn switchover_is_answered_and_queued() {
    let mut r = registry();
    let (_, resp, _) = send(
        &mut r,
        r#"{"switchover":{"fromJvmRoute":"a","toJvmRoute":"b"}}"#,
        0,
    );
    assert_eq!(resp, ok_response(r#"{"switchover":"OK"}"#));
    assert_eq!(
        r.poll_event(),
        Some(RegistryEvent::Switchover {
            from_jvm_route: "a".into(),
            to_jvm_route: "b".into()
        })
    );
}

#[test]
fn bad_requests_get_400_with_a_reason() {
    let mut r = registry();
    for body in [
        "not json",
        r#"{"dance":{}}"#,
        r#"{"start":{"ip":"999.1.1.1","sessionId":"1"}}"#,
        r#"{"start":{"sessionId":"1"}}"#,
        r#"{"start":{"ip":"127.0.0.1"}}"#,
    ] {
        let (status, resp, handled) = send(&mut r, body, 0);
        assert_eq!(status, 400, "{body}");
        assert!(matches!(handled, Handled::Rejected(_)));
        let text = String::from_utf8(resp).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(
            text.contains("Content-Type: application/json\r\n")
                && text.contains("Connection: close\r\n")
        );
        assert!(text.contains(r#"{"error":"#));
    }
    assert!(r.is_empty());
}

#[test]
fn partial_requests_need_more() {
    let mut r = registry();
    let full = post(START);
    for cut in 0..full.len() {
        assert_eq!(
            handle_http_request(&mut r, &full[..cut], Timestamp::ZERO),
            HttpOutcome::NeedMore,
            "cut at {cut}"
        );
    }
    assert!(r.is_empty());
    let HttpOutcome::Respond(reply) = handle_http_request(&mut r, &full, Timestamp::ZERO) else {
        panic!("complete request");
    };
    assert_eq!(reply.consumed, full.len());
    assert_eq!(r.len(), 1);
}

#[test]
fn oversized_bodies_and_heads_are_refused() {
    let mut r = registry();
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    );
    let HttpOutcome::Respond(reply) = handle_http_request(&mut r, head.as_bytes(), Timestamp::ZERO)
    else {
        panic!("must refuse before the body arrives");
    };
    assert_eq!(reply.status, 413);
    let huge = format!("POST / HTTP/1.1\r\nX: {}", "a".repeat(10_000));
    let HttpOutcome::Respond(reply) = handle_http_request(&mut r, huge.as_bytes(), Timestamp::ZERO)
    else {
        panic!("must refuse an endless head");
    };
    assert_eq!(reply.status, 431);
    let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let HttpOutcome::Respond(reply) = handle_http_request(&mut r, chunked, Timestamp::ZERO) else {
        panic!("chunked is refused");
    };
    assert_eq!(reply.status, 400);
}

#[test]
fn method_and_path_are_ignored() {
    let mut r = registry();
    let req = format!(
        "PUT /whatever?x=1 HTTP/1.0\r\ncontent-length: {}\r\n\r\n{START}",
        START.len()
    );
    let HttpOutcome::Respond(reply) = handle_http_request(&mut r, req.as_bytes(), Timestamp::ZERO)
    else {
        panic!("complete");
    };
    assert_eq!(reply.status, 200);
}

#[test]
fn balancer_shutdown_stops_nodes_with_a_heartbeat_port() {
    let mut r = registry();
    send(&mut r, START, 0);
    send(
        &mut r,
        r#"{"start":{"ip":"::1","udpPort":"5090","sessionId":"2","heartbeatPort":2223}}"#,
        0,
    );
    send(
        &mut r,
        r#"{"start":{"ip":"127.0.0.2","udpPort":"5090","sessionId":"3"}}"#,
        0,
    );
    let stops = stop_requests(r.all_nodes(), "127.0.0.1", 2610);
    assert_eq!(stops.len(), 2);
    assert_eq!(stops[0].to.to_string(), "127.0.0.1:2222");
    assert_eq!(stops[1].to.to_string(), "[::1]:2223");
    let body = r#"{"stop":{"ipAddress":"127.0.0.1","port":2610}}"#;
    let expected = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:2222\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(stops[0].request, expected.as_bytes());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut r = registry();
        let _ = handle_http_request(&mut r, &bytes, Timestamp::ZERO);
    }

    #[test]
    fn random_json_bodies_never_panic(body in "\\{\"(start|heartbeat|stop|shutdown|switchover)\":[ -~]{0,200}") {
        let mut r = registry();
        let _ = handle_http_request(&mut r, &post(&body), Timestamp::ZERO);
    }
}
