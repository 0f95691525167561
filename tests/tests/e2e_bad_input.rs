//! End-to-end robustness: the SIP torture corpus (RFC 4475, RFC 5118; committed under
//! core/tests/corpus/sip/) over UDP and TCP, garbage and oversize messages on TCP. The balancer
//! keeps running, closes only the offending connection, and still completes SIPp calls.

mod common;

use common::{
    free_port, sipp_report, sipp_stat, start_uac, start_uas, test_dir, wait_until, Lb, LbExtra,
    LbPorts, Node, SipSink, LOCALHOST,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::thread::sleep;
use std::time::{Duration, Instant};

const MAX_MESSAGE_SIZE: usize = 10_000;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/tests/corpus/sip")
}

/// Every message of the corpus listed in MANIFEST.tsv: (file, bytes).
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir();
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let messages: Vec<(String, Vec<u8>)> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let bytes = std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            (f.to_owned(), bytes)
        })
        .collect();
    assert!(messages.len() >= 60, "corpus: {} messages", messages.len());
    messages
}

fn config() -> LbExtra {
    LbExtra {
        sip_stack: format!(
            "<property><key>gov.nist.javax.sip.MAX_MESSAGE_SIZE</key>\
             <value>{MAX_MESSAGE_SIZE}</value></property>"
        ),
        ..LbExtra::default()
    }
}

fn assert_alive(lb: &mut Lb, after: &str) {
    assert!(
        lb.proc.child.try_wait().expect("poll").is_none(),
        "switchboard exited after {after}\n{}",
        lb.log()
    );
}

/// Reads until end of stream; `Ok(true)` if the peer closed (EOF or reset) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

fn options(local: SocketAddr, call_id: &str) -> String {
    format!(
        "OPTIONS sip:node@example.com SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@example.com>;tag=p1\r\n\
         To: <sip:node@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Every corpus message over UDP, then over TCP (one connection each), to the external port
/// with a node registered; the balancer survives and then completes 20 SIPp calls.
#[test]
fn torture_corpus_over_udp_and_tcp_then_calls_still_complete() {
    let dir = test_dir("corpus");
    let mut lb = Lb::start_extra(&dir, LbPorts::free(), &config());
    let sink = SipSink::start();
    let sink_node = Node::register(lb.heartbeat(), "sink", sink.port);
    let messages = corpus();

    let udp = UdpSocket::bind((LOCALHOST, 0)).expect("bind");
    for (file, bytes) in &messages {
        udp.send_to(bytes, lb.external())
            .unwrap_or_else(|e| panic!("send {file}: {e}"));
        sleep(Duration::from_millis(3));
    }
    sleep(Duration::from_millis(300));
    assert_alive(&mut lb, "the corpus over UDP");

    for (file, bytes) in &messages {
        let mut stream = TcpStream::connect_timeout(&lb.external(), Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("connect for {file}: {e}\n{}", lb.log()));
        stream
            .set_write_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let _ = stream.write_all(bytes);
        stream
            .set_read_timeout(Some(Duration::from_millis(40)))
            .expect("timeout");
        let mut buf = [0u8; 8192];
        let _ = stream.read(&mut buf);
    }
    sleep(Duration::from_millis(300));
    assert_alive(&mut lb, "the corpus over TCP");
    assert!(
        !sink.received.lock().expect("sink").is_empty(),
        "the valid corpus messages were forwarded to the node\n{}",
        lb.log()
    );
    let answer = sink_node.stop().expect("stop the sink node");
    assert!(answer.contains(r#"{"stop":"OK"}"#), "{answer}");

    let ports = [free_port(), free_port()];
    let _uas = [
        start_uas(&dir, "uasA", ports[0], "u1", &[]),
        start_uas(&dir, "uasB", ports[1], "u1", &[]),
    ];
    sleep(Duration::from_millis(300));
    let _nodes = [
        Node::register(lb.heartbeat(), "nA", ports[0]),
        Node::register(lb.heartbeat(), "nB", ports[1]),
    ];
    let mut uac = start_uac(&dir, "uac", lb.external(), "u1", 20, 20, &[]);
    let status = uac.wait_for(Duration::from_secs(30));
    let report = sipp_report(&dir, &lb, &["uac", "uasA", "uasB"]);
    assert!(
        matches!(status, Some(s) if s.success()),
        "exit {status:?}\n{report}"
    );
    assert_eq!(
        sipp_stat(&dir, "uac", "SuccessfulCall(C)"),
        Some(20),
        "{report}"
    );
    assert_eq!(sipp_stat(&dir, "uac", "FailedCall(C)"), Some(0), "{report}");
    assert_alive(&mut lb, "the calls");
    let stat = lb.lbstat().expect("/lbstat answers");
    assert!(stat["Metrics"]["NumberOfRequestsProcessed"].as_u64() > Some(0));
}

/// Garbage bytes on one TCP connection and an oversize message on another close those
/// connections only: a third connection keeps forwarding valid requests to the node.
#[test]
fn garbage_and_oversize_close_only_their_tcp_connection() {
    let dir = test_dir("garbage");
    let mut lb = Lb::start_extra(&dir, LbPorts::free(), &config());
    let sink = SipSink::start();
    let _node = Node::register(lb.heartbeat(), "sink", sink.port);

    let mut good = TcpStream::connect(lb.external()).expect("connect");
    let local = good.local_addr().expect("addr");
    good.write_all(options(local, "probe-before").as_bytes())
        .expect("write");
    assert!(
        wait_until(Duration::from_secs(3), || sink.saw("probe-before")),
        "a valid OPTIONS over TCP is forwarded to the node\n{}",
        lb.log()
    );

    // Garbage: binary junk with line ends, no start line, no Content-Length.
    let mut garbage = TcpStream::connect(lb.external()).expect("connect");
    let mut junk = b"\x00\xff\xfe GARBAGE \x01\x02\x03 not SIP\r\n\x7f\x80 :::\r\n\r\n".to_vec();
    junk.extend((0..2000u32).map(|i| (i * 7 % 251) as u8));
    garbage.write_all(&junk).expect("write garbage");
    assert!(
        closed_within(&mut garbage, Duration::from_secs(3)),
        "the garbage connection is closed\n{}",
        lb.log()
    );

    // Oversize: a well-formed INVITE whose body makes it bigger than MAX_MESSAGE_SIZE.
    let mut oversize = TcpStream::connect(lb.external()).expect("connect");
    let o_local = oversize.local_addr().expect("addr");
    let body = "a".repeat(MAX_MESSAGE_SIZE + 2000);
    let invite = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/TCP {o_local};branch=z9hG4bK-big\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: oversize-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@{o_local};transport=tcp>\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = oversize.write_all(invite.as_bytes());
    assert!(
        closed_within(&mut oversize, Duration::from_secs(3)),
        "the oversize connection is closed\n{}",
        lb.log()
    );
    assert!(
        !sink.saw("oversize-1"),
        "the oversize INVITE is not forwarded"
    );

    // The first connection still works.
    good.write_all(options(local, "probe-after").as_bytes())
        .expect("the good connection is still open");
    assert!(
        wait_until(Duration::from_secs(3), || sink.saw("probe-after")),
        "the other connection keeps forwarding\n{}",
        lb.log()
    );
    assert_alive(&mut lb, "garbage and oversize input");
}

/// Garbage that never forms a header section (no empty line) and is far below
/// MAX_MESSAGE_SIZE: binary junk, and a TLS ClientHello sent to the plain TCP port. Neither can
/// begin a SIP message (RFC 3261 §7: a start line begins with a method token or `SIP/`), so
/// the connection must be closed rather than held open waiting for more.
#[test]
fn garbage_without_an_empty_line_closes_the_tcp_connection() {
    let dir = test_dir("garbage-no-eol");
    let mut lb = Lb::start_extra(&dir, LbPorts::free(), &config());
    let sink = SipSink::start();
    let _node = Node::register(lb.heartbeat(), "sink", sink.port);
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    hello.extend(0..=255u8);
    let junk = b"\x00\xff\xfe\x01binary junk without any line end".repeat(10);
    let mut open = Vec::new();
    for (what, bytes) in [("binary junk", junk), ("a TLS ClientHello", hello)] {
        let mut stream = TcpStream::connect(lb.external()).expect("connect");
        stream.write_all(&bytes).expect("write");
        if !closed_within(&mut stream, Duration::from_secs(3)) {
            open.push(what);
        }
    }
    assert_alive(&mut lb, "garbage");
    assert!(
        open.is_empty(),
        "connections still open 3 s after garbage that cannot start a SIP message: {open:?}"
    );
}
