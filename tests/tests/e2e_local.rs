//! End-to-end: answers the balancer gives itself (no node → 503, Max-Forwards 0 → 483), the
//! management port, and the stop notices of a graceful shutdown, against the real binary.

mod common;

use common::{free_port, http_get, test_dir, Lb, LbExtra, LbPorts, Node, LOCALHOST};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A configuration without the start-up grace period, so a balancer with no node answers
/// `503` at once.
fn no_grace() -> LbExtra {
    LbExtra {
        startup_grace_period_ms: Some(0),
        ..LbExtra::default()
    }
}

fn invite(local: SocketAddr, transport: &str, call_id: &str, max_forwards: u32) -> String {
    format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: {max_forwards}\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@{local}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn ack(local: SocketAddr, call_id: &str) -> String {
    format!(
        "ACK sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-ack-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>;tag=b1\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn udp_client() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind((LOCALHOST, 0)).expect("bind client");
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let local = socket.local_addr().expect("local addr");
    (socket, local)
}

fn recv_text(socket: &UdpSocket) -> Option<String> {
    let mut buf = [0u8; 65535];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn status_line(message: &str) -> &str {
    message.lines().next().unwrap_or("")
}

fn has_header(message: &str, name: &str) -> bool {
    message.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
    })
}

#[test]
fn no_node_answers_503_with_retry_after_over_udp_and_never_answers_ack() {
    let dir = test_dir("no-node-udp");
    // Past the start-up grace, in which a balancer with no node leaves UDP requests to the
    // caller's retransmission.
    let lb = Lb::start_extra(&dir, LbPorts::free(), &no_grace());
    let (socket, local) = udp_client();
    socket
        .send_to(
            invite(local, "UDP", "nonode-1", 70).as_bytes(),
            lb.external(),
        )
        .expect("send INVITE");
    let answer = recv_text(&socket).unwrap_or_else(|| panic!("no answer\n{}", lb.log()));
    assert!(status_line(&answer).starts_with("SIP/2.0 503 "), "{answer}");
    assert!(has_header(&answer, "Retry-After"), "{answer}");
    assert!(answer.contains("Call-ID: nonode-1"), "{answer}");

    socket
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    socket
        .send_to(ack(local, "nonode-1").as_bytes(), lb.external())
        .expect("send ACK");
    assert_eq!(recv_text(&socket), None, "an ACK is never answered");
}

#[test]
fn no_node_answers_503_over_tcp() {
    let dir = test_dir("no-node-tcp");
    let lb = Lb::start(&dir, LbPorts::free());
    let mut stream = TcpStream::connect(lb.external()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let local = stream.local_addr().expect("local addr");
    stream
        .write_all(invite(local, "TCP", "nonode-tcp", 70).as_bytes())
        .expect("send INVITE");
    let mut buf = [0u8; 8192];
    let mut answer = String::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !answer.contains("\r\n\r\n") && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(
        status_line(&answer).starts_with("SIP/2.0 503 "),
        "{answer:?}\n{}",
        lb.log()
    );
    assert!(has_header(&answer, "Retry-After"), "{answer}");
}

#[test]
fn max_forwards_zero_answers_483_and_is_not_forwarded() {
    let dir = test_dir("max-forwards");
    let lb = Lb::start(&dir, LbPorts::free());
    // A node whose SIP side is a plain socket: nothing may reach it.
    let node_sip = UdpSocket::bind((LOCALHOST, free_port())).expect("bind node");
    node_sip
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    let node_port = node_sip.local_addr().expect("addr").port();
    let _node = Node::register(lb.heartbeat(), "n1", node_port);

    let (socket, local) = udp_client();
    socket
        .send_to(invite(local, "UDP", "mf-0", 0).as_bytes(), lb.external())
        .expect("send INVITE");
    let answer = recv_text(&socket).unwrap_or_else(|| panic!("no answer\n{}", lb.log()));
    assert!(status_line(&answer).starts_with("SIP/2.0 483 "), "{answer}");
    assert_eq!(
        recv_text(&node_sip),
        None,
        "a request with Max-Forwards 0 is not forwarded"
    );

    // Control: with Max-Forwards 70 the same node does receive the INVITE, decremented.
    socket
        .send_to(invite(local, "UDP", "mf-70", 70).as_bytes(), lb.external())
        .expect("send INVITE");
    node_sip
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let forwarded = recv_text(&node_sip).unwrap_or_else(|| panic!("not forwarded\n{}", lb.log()));
    assert!(forwarded.starts_with("INVITE "), "{forwarded}");
    assert!(forwarded.contains("Max-Forwards: 69"), "{forwarded}");
}

#[test]
fn management_port_answers_lbstat() {
    let dir = test_dir("lbstat");
    let lb = Lb::start(&dir, LbPorts::free());
    let answer = http_get(
        SocketAddr::from(([127, 0, 0, 1], lb.ports.management)),
        "/lbstat",
    )
    .expect("GET /lbstat");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("NumberOfRequestsProcessed"), "{answer}");
}

#[test]
fn sigterm_sends_stop_to_nodes_and_exits_0() {
    let dir = test_dir("sigterm");
    let mut lb = Lb::start(&dir, LbPorts::free());
    let node = Node::register(lb.heartbeat(), "n1", free_port());
    let status = lb.proc.terminate(Duration::from_secs(5));
    assert!(
        matches!(status, Some(s) if s.code() == Some(0)),
        "exit {status:?}\n{}",
        lb.log()
    );
    // The node's heartbeat thread polls its port every 100 ms; the balancer waited for the answer.
    let deadline = Instant::now() + Duration::from_secs(2);
    while node.received.lock().expect("lock").is_empty() && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    let received = node.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "{received:?}\n{}", lb.log());
    assert!(received[0].contains(r#""stop""#), "{received:?}");
    assert!(
        received[0].contains(&format!("{}", lb.ports.heartbeat)),
        "{received:?}"
    );
}

#[test]
fn lbstop_closes_the_management_port_then_stops_after_shutdown_timeout() {
    let dir = test_dir("lbstop");
    let mut lb = Lb::start_with(
        &dir,
        LbPorts::free(),
        "<shutdownTimeout>800</shutdownTimeout>",
        "",
    );
    let node = Node::register(lb.heartbeat(), "n1", free_port());
    let management = SocketAddr::from(([127, 0, 0, 1], lb.ports.management));
    let stopped_at = Instant::now();
    let answer = http_get(management, "/lbstop").expect("GET /lbstop");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    sleep(Duration::from_millis(200));
    assert!(
        TcpStream::connect(management).is_err(),
        "the management port closes at once"
    );
    let status = lb.proc.wait_for(Duration::from_secs(6));
    let waited = stopped_at.elapsed();
    assert!(
        matches!(status, Some(s) if s.code() == Some(0)),
        "exit {status:?}\n{}",
        lb.log()
    );
    assert!(
        waited >= Duration::from_millis(800),
        "stopped after {waited:?}"
    );
    let received = node.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "{received:?}\n{}", lb.log());
}

#[test]
fn lbloglevel_changes_the_log_filter() {
    let dir = test_dir("lbloglevel");
    let lb = Lb::start(&dir, LbPorts::free());
    let management = SocketAddr::from(([127, 0, 0, 1], lb.ports.management));
    assert!(!lb.log().contains(" DEBUG "), "{}", lb.log());
    let answer = http_get(management, "/lbloglevel?logLevel=DEBUG").expect("GET /lbloglevel");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Any later event logged at debug now shows, e.g. the heartbeat of a node.
    let _node = Node::register(lb.heartbeat(), "n1", free_port());
    let deadline = Instant::now() + Duration::from_secs(3);
    while !lb.log().contains(" DEBUG ") && Instant::now() < deadline {
        sleep(Duration::from_millis(100));
    }
    assert!(lb.log().contains(" DEBUG "), "{}", lb.log());
}

#[test]
fn ipv6_listener_answers_503_on_loopback() {
    let dir = test_dir("ipv6");
    let ports = LbPorts::free();
    let v6_port = {
        let probe = UdpSocket::bind(("::1", 0)).expect("bind ::1");
        probe.local_addr().expect("addr").port()
    };
    let extra = LbExtra {
        external: format!("<ipv6UdpPort>{v6_port}</ipv6UdpPort>"),
        ..no_grace()
    };
    let lb = Lb::start_extra(&dir, ports, &extra);
    let socket = UdpSocket::bind(("::1", 0)).expect("bind client");
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let local = socket.local_addr().expect("local addr");
    let to = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, v6_port));
    socket
        .send_to(invite(local, "UDP", "v6-1", 70).as_bytes(), to)
        .expect("send INVITE");
    let answer = recv_text(&socket).unwrap_or_else(|| panic!("no answer\n{}", lb.log()));
    assert!(status_line(&answer).starts_with("SIP/2.0 503 "), "{answer}");
}

#[test]
fn oversized_heartbeat_request_is_refused() {
    let dir = test_dir("oversized");
    let lb = Lb::start(&dir, LbPorts::free());
    let mut stream = TcpStream::connect(lb.heartbeat()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    // A head that never ends.
    let _ = stream.write_all(b"POST / HTTP/1.1\r\nX-Filler: ");
    let filler = vec![b'a'; 16 * 1024];
    let mut sent = 0;
    while sent < 256 * 1024 {
        if stream.write_all(&filler).is_err() {
            break;
        }
        sent += filler.len();
    }
    // Refused: a 4xx answer (the core's 431) or, past the driver's 64 KiB, just the close;
    // either way the connection ends and nothing is registered.
    let mut answer = Vec::new();
    let end = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    if let Err(e) = &end {
        // A reset is a close; a timeout means the balancer kept the connection open.
        assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "connection not closed: {e}"
        );
    }
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer}"
    );
    // The port still serves others.
    let node = Node::register(lb.heartbeat(), "n1", free_port());
    drop(node);
}

fn hangup(lb: &Lb) {
    let pid = lb.proc.pid().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
}

fn wait_for_log(lb: &Lb, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lb.log().contains(needle) && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    assert!(lb.log().contains(needle), "no {needle:?} in:\n{}", lb.log());
}

#[test]
fn sighup_reloads_the_file_and_moves_a_listener() {
    let dir = test_dir("sighup");
    // Past the start-up grace, so that a request with no node is answered 503 at once.
    let mut lb = Lb::start_extra(&dir, LbPorts::free(), &no_grace());
    let path = dir.join("lb-configuration.xml");
    let original = std::fs::read_to_string(&path).expect("read configuration");
    // A new algorithm applies at once; so does a new external UDP port.
    let moved = free_port();
    let edited = original
        .replace(
            "CallIDAffinityBalancerAlgorithm",
            "HeaderConsistentHashBalancerAlgorithm",
        )
        .replace(
            &format!("<udpPort>{}</udpPort>", lb.ports.external),
            &format!("<udpPort>{moved}</udpPort>"),
        );
    assert_ne!(edited, original);
    std::fs::write(&path, edited).expect("write configuration");
    hangup(&lb);
    wait_for_log(&lb, "configuration reloaded");
    assert!(lb.log().contains("algorithms_rebuilt=true"), "{}", lb.log());
    wait_for_log(&lb, &format!("127.0.0.1:{moved}"));
    // The new port answers SIP (no node yet: 503); the old one is closed.
    let (socket, local) = udp_client();
    let to = SocketAddr::from(([127, 0, 0, 1], moved));
    socket
        .send_to(invite(local, "UDP", "moved-1", 70).as_bytes(), to)
        .expect("send");
    let answer = recv_text(&socket).expect("an answer on the new port");
    assert!(status_line(&answer).contains("503"), "{answer}");
    let old = SocketAddr::from(([127, 0, 0, 1], lb.ports.external));
    socket
        .send_to(invite(local, "UDP", "moved-2", 70).as_bytes(), old)
        .expect("send");
    assert!(recv_text(&socket).is_none(), "the old port still answers");
    // A broken file is refused and the running configuration stays.
    std::fs::write(&path, "<load-balancer-properties><common>").expect("write configuration");
    hangup(&lb);
    wait_for_log(&lb, "configuration not reloaded");
    assert!(
        lb.proc.child.try_wait().expect("poll").is_none(),
        "still running"
    );
    let _node = Node::register(lb.heartbeat(), "n1", free_port());
}

/// The file is watched as the reference watches it (modification time, every 2 s): an edit
/// applies without SIGHUP, a broken edit is refused and the running configuration stays.
#[test]
fn an_edited_file_is_reloaded_without_a_signal() {
    let dir = test_dir("watch");
    let mut lb = Lb::start(&dir, LbPorts::free());
    let path = dir.join("lb-configuration.xml");
    let original = std::fs::read_to_string(&path).expect("read configuration");
    let edited = original.replace(
        "CallIDAffinityBalancerAlgorithm",
        "HeaderConsistentHashBalancerAlgorithm",
    );
    assert_ne!(edited, original);
    // Let the modification time move past the one recorded at start.
    sleep(Duration::from_millis(1100));
    std::fs::write(&path, edited).expect("write configuration");
    wait_for_log(&lb, "configuration file changed: configuration reloaded");
    assert!(lb.log().contains("algorithms_rebuilt=true"), "{}", lb.log());
    sleep(Duration::from_millis(1100));
    std::fs::write(&path, "<load-balancer-properties><common>").expect("write configuration");
    wait_for_log(
        &lb,
        "configuration file changed: configuration not reloaded",
    );
    assert!(
        lb.proc.child.try_wait().expect("poll").is_none(),
        "still running"
    );
    let _node = Node::register(lb.heartbeat(), "n1", free_port());
}

#[test]
fn a_node_request_toward_a_host_name_over_tcp_is_resolved_and_delivered() {
    let dir = test_dir("resolve");
    let lb = Lb::start(&dir, LbPorts::free());
    let client = std::net::TcpListener::bind("127.0.0.1:0").expect("client listener");
    let client_port = client.local_addr().expect("client address").port();
    let (node, node_addr) = udp_client();
    let internal = lb.internal();
    let request = format!(
        "INVITE sip:bob@localhost:{client_port};transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/UDP {node_addr};branch=z9hG4bKresolve1\r\n\
         Route: <sip:{internal};lr;node_host=127.0.0.1;node_port={}>\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:node@127.0.0.1>;tag=n1\r\n\
         To: <sip:bob@localhost>\r\n\
         Call-ID: resolve-by-name\r\n\
         CSeq: 1 INVITE\r\n\
         Content-Length: 0\r\n\r\n",
        node_addr.port()
    );
    node.send_to(request.as_bytes(), internal).expect("send");
    client.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream = loop {
        match client.accept() {
            Ok((stream, _)) => break stream,
            Err(_) if Instant::now() < deadline => sleep(Duration::from_millis(20)),
            Err(e) => panic!(
                "the balancer never connected to the resolved host: {e}\n{}",
                lb.log()
            ),
        }
    };
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with(&format!(
            "INVITE sip:bob@localhost:{client_port};transport=tcp SIP/2.0\r\n"
        )),
        "{text}"
    );
    assert!(text.contains("Call-ID: resolve-by-name"), "{text}");
}
