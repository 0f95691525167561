//! The HTTP/JSON heartbeat handler on arbitrary bytes, consumed request by request as a
//! pipelining peer would send them, against a registry that already knows one node (so
//! `heartbeat`/`shutdown`/`stop` for its session reach the registry). The same bytes also go
//! through the SIP heartbeat `.properties` body parser and its registry path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use switchboard_core::heartbeat::{
    handle_http_request, handle_sip_heartbeat, parse_command, parse_properties, HttpOutcome,
};
use switchboard_core::registry::Registry;
use switchboard_core::time::Timestamp;

const START: &str = r#"{"start":{"hostName":"node1","ip":"127.0.0.1","httpPort":"8080","udpPort":"5080","tcpPort":"5080","version":"0","sessionId":"1510844617581","heartbeatPort":"2222"}}"#;

fuzz_target!(|data: &[u8]| {
    let mut registry = Registry::new(Default::default(), Timestamp::ZERO);
    let start = format!(
        "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{START}",
        START.len()
    );
    match handle_http_request(&mut registry, start.as_bytes(), Timestamp::ZERO) {
        HttpOutcome::Respond(r) => assert_eq!(r.status, 200),
        HttpOutcome::NeedMore => panic!("seed start request incomplete"),
    }

    let mut now = Timestamp::ZERO;
    let mut rest = data;
    for _ in 0..8 {
        now = now.saturating_add(Duration::from_millis(3000));
        match handle_http_request(&mut registry, rest, now) {
            HttpOutcome::NeedMore => break,
            HttpOutcome::Respond(reply) => {
                assert!(reply.response.starts_with(b"HTTP/1.1 "));
                assert!(reply.consumed <= rest.len(), "consumed more than given");
                if reply.consumed == 0 {
                    break;
                }
                rest = &rest[reply.consumed..];
            }
        }
        let _ = registry.handle_timeout(now);
        while registry.poll_event().is_some() {}
    }

    let _ = parse_command(data);
    let _ = parse_properties(data);
    let source = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 10), 5080));
    let _ = handle_sip_heartbeat(&mut registry, data, source, now);
    while registry.poll_event().is_some() {}
});
