//! End-to-end: malformed or oversized HTTP requests get their error status (400, 408, 413,
//! 414, 431) or have their connection cut, never reach a node when refused on their head, and
//! leave another client's keep-alive connection served throughout.

mod common;

use common::http::{Client, HttpLb, HttpNode, Response};
use common::test_dir;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant};

/// The `maxContentLength` of these tests.
const MAX_CONTENT: usize = 4096;

/// A balancer (`maxContentLength` 4096, `requestHeadTimeout` 1000 ms), one node, and a
/// well-behaved client sending a GET every 20 ms on one keep-alive connection.
struct Setup {
    lb: HttpLb,
    node: HttpNode,
    good: GoodClient,
}

fn setup(name: &str) -> Setup {
    let dir = test_dir(name);
    let lb = HttpLb::start(
        &dir,
        &format!(
            "<maxContentLength>{MAX_CONTENT}</maxContentLength>\
             <requestHeadTimeout>1000</requestHeadTimeout>"
        ),
    );
    let node = HttpNode::start(&dir, lb.ports.heartbeat, "node-a", "ra");
    let good = GoodClient::start(&lb);
    assert!(
        common::wait_until(Duration::from_secs(3), || good.ok() >= 3),
        "the good client is served: {:?}\n{}",
        good.failures(),
        lb.report(&[&node])
    );
    Setup { lb, node, good }
}

impl Setup {
    /// Sends `bytes` on a new connection and reads the answer.
    fn answer_to(&self, bytes: &[u8]) -> Response {
        let mut c = Client::connect(self.lb.http());
        c.send(bytes).expect("send");
        c.read_response()
            .unwrap_or_else(|e| panic!("no answer: {e}\n{}", self.lb.report(&[&self.node])))
    }

    /// The good client keeps being served after the bad input, and never failed.
    fn assert_good_client_unaffected(self) {
        let before = self.good.ok();
        assert!(
            common::wait_until(Duration::from_secs(3), || self.good.ok() >= before + 5),
            "the good client is still served\n{}",
            self.lb.report(&[&self.node])
        );
        let failures = self.good.stop();
        assert!(
            failures.is_empty(),
            "the good client failed: {failures:?}\n{}",
            self.lb.report(&[&self.node])
        );
    }

    /// Whether the node served a request whose target contains `path`.
    fn node_saw(&self, path: &str) -> bool {
        self.node.log().contains(path)
    }
}

/// A client sending `GET /good` every 20 ms on one keep-alive connection (a new one only if
/// the balancer closes it cleanly), until stopped; records every failure.
struct GoodClient {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU32>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl GoodClient {
    fn start(lb: &HttpLb) -> GoodClient {
        let addr = lb.http();
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU32::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (flag, count, failed) = (stop.clone(), ok.clone(), failures.clone());
        let thread = thread::spawn(move || {
            let mut client = Client::connect(addr);
            let deadline = Instant::now() + Duration::from_secs(30);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                match client.get("/good", &[]) {
                    Ok(r) if r.status == 200 => {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failed.lock().expect("lock").push(r.head),
                    Err(e) => {
                        failed.lock().expect("lock").push(e.to_string());
                        client = Client::connect(addr);
                    }
                }
                sleep(Duration::from_millis(20));
            }
        });
        GoodClient {
            stop,
            ok,
            failures,
            thread: Some(thread),
        }
    }

    fn ok(&self) -> u32 {
        self.ok.load(Ordering::Relaxed)
    }

    fn failures(&self) -> Vec<String> {
        self.failures.lock().expect("lock").clone()
    }

    fn stop(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.failures()
    }
}

impl Drop for GoodClient {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Both `Content-Length` and `Transfer-Encoding` (a request smuggling vector): `400`, and
/// the node never sees it.
#[test]
fn content_length_with_transfer_encoding_is_400() {
    let s = setup("http-bad-cl-te");
    let r = s.answer_to(
        b"POST /smuggle HTTP/1.1\r\nHost: lb\r\nContent-Length: 5\r\n\
          Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400, "{}", r.head);
    assert!(
        !s.node_saw("/smuggle"),
        "refused on its head, not forwarded"
    );
    s.assert_good_client_unaffected();
}

/// Two different `Content-Length` values: `400`, and the node never sees it.
#[test]
fn differing_content_lengths_are_400() {
    let s = setup("http-bad-two-cl");
    let r = s.answer_to(
        b"POST /two-lengths HTTP/1.1\r\nHost: lb\r\nContent-Length: 5\r\n\
          Content-Length: 6\r\n\r\nhello!",
    );
    assert_eq!(r.status, 400, "{}", r.head);
    assert!(
        !s.node_saw("/two-lengths"),
        "refused on its head, not forwarded"
    );
    s.assert_good_client_unaffected();
}

/// A chunk size that is not hexadecimal: `400`.
#[test]
fn bad_chunk_size_is_400() {
    let s = setup("http-bad-chunk");
    let r = s.answer_to(
        b"POST /echo HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n\
          zz\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400, "{}", r.head);
    s.assert_good_client_unaffected();
}

/// A request head above 16 KiB: `431`, and the node never sees it.
#[test]
fn oversized_head_is_431() {
    let s = setup("http-bad-431");
    let mut request = b"GET /big-head HTTP/1.1\r\nHost: lb\r\n".to_vec();
    for i in 0..20 {
        request.extend(format!("X-Filler-{i}: {}\r\n", "f".repeat(1000)).bytes());
    }
    request.extend(b"\r\n");
    let r = s.answer_to(&request);
    assert_eq!(r.status, 431, "{}", r.head);
    assert!(!s.node_saw("/big-head"));
    s.assert_good_client_unaffected();
}

/// A request line above 8 KiB: `414`, and the node never sees it.
#[test]
fn oversized_request_line_is_414() {
    let s = setup("http-bad-414");
    let request = format!(
        "GET /long-line/{} HTTP/1.1\r\nHost: lb\r\n\r\n",
        "a".repeat(9000)
    );
    let r = s.answer_to(request.as_bytes());
    assert_eq!(r.status, 414, "{}", r.head);
    assert!(!s.node_saw("/long-line"));
    s.assert_good_client_unaffected();
}

/// A declared `Content-Length` above `maxContentLength`: `413` before anything reaches a
/// node.
#[test]
fn declared_body_above_max_content_length_is_413() {
    let s = setup("http-bad-413");
    let head = format!(
        "POST /too-big HTTP/1.1\r\nHost: lb\r\nContent-Length: {}\r\n\r\n",
        MAX_CONTENT + 1
    );
    let r = s.answer_to(head.as_bytes());
    assert_eq!(r.status, 413, "{}", r.head);
    assert!(!s.node_saw("/too-big"), "nothing reached the node");
    s.assert_good_client_unaffected();
}

/// A chunked body that grows past `maxContentLength`: the connection is cut, no success
/// answer comes back.
#[test]
fn chunked_body_crossing_max_content_length_is_cut() {
    let s = setup("http-bad-chunked-413");
    let mut c = Client::connect(s.lb.http());
    c.send(b"POST /echo HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n")
        .expect("head");
    let chunk = format!("400\r\n{}\r\n", "c".repeat(0x400));
    // 4 × 1 KiB reaches the limit, the 5th chunk crosses it; writes may fail once cut.
    for _ in 0..8 {
        if c.stream.write_all(chunk.as_bytes()).is_err() {
            break;
        }
        sleep(Duration::from_millis(50));
    }
    let _ = c.stream.write_all(b"0\r\n\r\n");
    let received = c.read_until_closed(Duration::from_secs(4));
    let Some(received) = received else {
        panic!("the connection is still open\n{}", s.lb.report(&[&s.node]));
    };
    let text = String::from_utf8_lossy(&received);
    assert!(!text.starts_with("HTTP/1.1 2"), "no success answer: {text}");
    s.assert_good_client_unaffected();
}

/// A client that does not finish its head within `requestHeadTimeout`: `408` and the
/// connection is closed, about when the timeout expires.
#[test]
fn slow_head_gets_408_and_is_closed() {
    let s = setup("http-bad-408");
    let mut c = Client::connect(s.lb.http());
    let started = Instant::now();
    c.send(b"GET /slow-head HTTP/1.1\r\nHost: lb\r\n")
        .expect("partial head");
    let received = c.read_until_closed(Duration::from_secs(5));
    let took = started.elapsed();
    let Some(received) = received else {
        panic!("the connection is still open after 5 s");
    };
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "408 expected: {text:?}");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(3000),
        "closed {took:?} after the first bytes, requestHeadTimeout is 1000 ms"
    );
    assert!(!s.node_saw("/slow-head"));
    s.assert_good_client_unaffected();
}
