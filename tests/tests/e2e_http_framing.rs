//! End-to-end HTTP message framing through the balancer: answers without a body (HEAD, 204,
//! 304), large bodies both ways and a client that reads late, a node answer delimited by
//! the connection's end, nodes that close their connection (announced or not), an HTTP/1.0
//! client, and requests just below every limit.

mod common;

use common::http::{curl, Client, HttpLb, HttpNode};
use common::test_dir;
use std::thread::sleep;
use std::time::Duration;

/// The bytes `/big?bytes=N` of the test node answers.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 256) as u8).collect()
}

/// A HEAD answer (a `Content-Length` but no body), a `204` and a `304` leave the client
/// connection in step: the next request on it is answered normally.
#[test]
fn answers_without_a_body_keep_the_connection_in_step() {
    let dir = test_dir("http-no-body");
    let lb = HttpLb::start(&dir, "");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let mut client = Client::connect(lb.http());
    let fail = |e: std::io::Error| -> ! { panic!("{e}\n{}", lb.report(&[&node])) };
    let r = client
        .request("HEAD", "/head", &[], b"")
        .unwrap_or_else(|e| fail(e));
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(
        r.header("content-length").is_some_and(|v| v != "0"),
        "{}",
        r.head
    );
    assert!(r.body.is_empty());
    for status in [204, 304] {
        let r = client
            .get(&format!("/status/{status}"), &[])
            .unwrap_or_else(|e| fail(e));
        assert_eq!(r.status, status, "{}", r.head);
        assert!(r.body.is_empty());
    }
    let r = client.get("/after", &[]).unwrap_or_else(|e| fail(e));
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        r.json()["path"],
        "/after",
        "the connection is still in step"
    );
}

/// An 8 MB download and an 8 MB upload pass whole (curl), and so does a 16 MB download to a
/// client that only starts reading after a while.
#[test]
fn large_bodies_pass_whole_both_ways() {
    let dir = test_dir("http-large");
    let lb = HttpLb::start(&dir, "");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let size = 8_000_000;
    let c = curl(&dir, &[&lb.url(&format!("/big?bytes={size}"))]);
    assert_eq!(
        (c.exit, c.status),
        (0, 200),
        "{}\n{}",
        c.stderr,
        lb.report(&[&node])
    );
    assert!(
        c.body == pattern(size),
        "download whole ({} bytes)",
        c.body.len()
    );
    let file = dir.join("upload.bin");
    let upload: Vec<u8> = (0..size).map(|i| (i * 31 % 253) as u8).collect();
    std::fs::write(&file, &upload).expect("write upload");
    let data = format!("@{}", file.display());
    let c = curl(&dir, &["--data-binary", &data, &lb.url("/echo")]);
    assert_eq!(
        (c.exit, c.status),
        (0, 200),
        "{}\n{}",
        c.stderr,
        lb.report(&[&node])
    );
    assert!(
        c.body == upload,
        "upload echoed whole ({} bytes)",
        c.body.len()
    );

    let size = 16_000_000;
    let mut client = Client::connect(lb.http());
    client
        .send(&common::http::request_bytes(
            lb.http(),
            "GET",
            &format!("/big?bytes={size}"),
            &[],
            b"",
        ))
        .expect("send");
    sleep(Duration::from_millis(700));
    let r = client
        .read_response()
        .unwrap_or_else(|e| panic!("late reader: {e}\n{}", lb.report(&[&node])));
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(
        r.body == pattern(size),
        "late reader got {} bytes",
        r.body.len()
    );
}

/// A node answer without a length, ended by the node closing its connection, reaches the
/// client whole.
#[test]
fn close_delimited_answer_reaches_the_client_whole() {
    let dir = test_dir("http-close-delimited");
    let lb = HttpLb::start(&dir, "");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    for _ in 0..3 {
        let mut client = Client::connect(lb.http());
        let r = client
            .get("/close-delimited", &[])
            .unwrap_or_else(|e| panic!("{e}\n{}", lb.report(&[&node])));
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.json()["path"], "/close-delimited");
    }
}

/// A node that closes its connection after an answer, with `Connection: close` or without
/// notice, costs the client nothing: the next request on the same client connection, at once
/// or a little later, is served.
#[test]
fn node_closing_its_connection_does_not_fail_the_next_request() {
    let dir = test_dir("http-node-closes");
    let lb = HttpLb::start(&dir, "");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let mut client = Client::connect(lb.http());
    for i in 0..6 {
        let first = if i % 2 == 0 { "/close" } else { "/drop-after" };
        let r = client
            .get(first, &[])
            .unwrap_or_else(|e| panic!("{first} ({i}): {e}\n{}", lb.report(&[&node])));
        assert_eq!(r.status, 200, "{}", r.head);
        if i >= 3 {
            sleep(Duration::from_millis(200));
        }
        let target = format!("/after/{i}");
        let r = client
            .get(&target, &[])
            .unwrap_or_else(|e| panic!("{target} after {first}: {e}\n{}", lb.report(&[&node])));
        assert_eq!(r.status, 200, "{target} after {first}: {}", r.head);
        assert_eq!(r.json()["path"], target.as_str());
    }
}

/// An HTTP/1.0 request without `Host` is served, and its connection closed after the answer.
#[test]
fn http_1_0_client_is_served_and_closed() {
    let dir = test_dir("http-1-0");
    let lb = HttpLb::start(&dir, "");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let mut client = Client::connect(lb.http());
    client
        .send(b"GET /old-client HTTP/1.0\r\n\r\n")
        .expect("send");
    let received = client.read_until_closed(Duration::from_secs(3));
    let Some(received) = received else {
        panic!(
            "the HTTP/1.0 connection is still open\n{}",
            lb.report(&[&node])
        );
    };
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1."), "{text}");
    assert!(text.split_whitespace().nth(1) == Some("200"), "{text}");
    assert!(
        text.contains("\"/old-client\""),
        "the node's answer: {text}"
    );
}

/// Requests just below the limits are served: a 15 KiB head, a 7 KiB request line, a body
/// of exactly `maxContentLength` (with a length or chunked); a body above it with
/// `Expect: 100-continue` gets `413` without `100 Continue`.
#[test]
fn requests_just_below_the_limits_are_served() {
    let dir = test_dir("http-below-limits");
    let lb = HttpLb::start(&dir, "<maxContentLength>4096</maxContentLength>");
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let report = || lb.report(&[&node]);
    let mut client = Client::connect(lb.http());
    let filler = "f".repeat(1000);
    let names: Vec<String> = (0..15).map(|i| format!("X-Filler-{i}")).collect();
    let headers: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), filler.as_str()))
        .collect();
    let r = client
        .get("/big-but-fine", &headers)
        .unwrap_or_else(|e| panic!("{e}\n{}", report()));
    assert_eq!(r.status, 200, "a 15 KiB head: {}", r.head);
    let target = format!("/long/{}", "a".repeat(7000));
    let r = client
        .get(&target, &[])
        .unwrap_or_else(|e| panic!("{e}\n{}", report()));
    assert_eq!(r.status, 200, "a 7 KiB request line: {}", r.head);
    let body = vec![b'b'; 4096];
    let r = client
        .request("POST", "/echo", &[], &body)
        .unwrap_or_else(|e| panic!("{e}\n{}", report()));
    assert_eq!((r.status, r.body.len()), (200, 4096), "{}", r.head);
    let mut chunked = Vec::new();
    for _ in 0..4 {
        chunked.extend(format!("400\r\n{}\r\n", "c".repeat(1024)).bytes());
    }
    chunked.extend(b"0\r\n\r\n");
    let r = client
        .request(
            "POST",
            "/echo",
            &[("Transfer-Encoding", "chunked")],
            &chunked,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", report()));
    assert_eq!((r.status, r.body.len()), (200, 4096), "{}", r.head);

    let file = dir.join("too-big.bin");
    std::fs::write(&file, vec![b'x'; 5000]).expect("write");
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
    assert_eq!(c.status, 413, "{} {}", c.stderr, c.heads);
    assert!(
        !c.heads.contains(" 100 "),
        "no 100 Continue before a 413:\n{}",
        c.heads
    );
}
