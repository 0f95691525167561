//! End-to-end: SIP over TLS on the external leg (`terminateTLSTraffic=true`), certificates
//! generated at test time. A Rust TLS client runs a whole call through the balancer to a SIPp
//! UAS node over TCP; client certificates are enforced with `TLS_CLIENT_AUTH_TYPE=Enabled`.

mod common;
#[path = "common/secure.rs"]
mod secure;

use common::{free_port, read_or_note, sipp, sipp_count, test_dir, Node, Proc};
use secure::{call, runtime, status, tls_connect, Link, Pki, SecureLb, TlsLink};
use std::thread::sleep;
use std::time::{Duration, Instant};

#[test]
fn tls_call_reaches_a_tcp_node_and_completes() {
    let dir = test_dir("tls-call");
    let pki = Pki::generate(&dir);
    let lb = SecureLb::start(&dir, &pki, "Disabled");
    assert!(
        lb.log().contains("TLSv1.1"),
        "the unsupported protocol is reported:\n{}",
        lb.log()
    );
    let uas_port = free_port();
    let port = uas_port.to_string();
    let uas = Proc::spawn(
        "uas",
        &mut sipp(&dir, "uas", &["-sn", "uas", "-t", "t1", "-p", &port]),
    );
    sleep(Duration::from_millis(300));
    let _node = Node::register(lb.heartbeat(), "tls-node", uas_port);

    let rt = runtime();
    let tls_port = lb.ports.external_tls;
    let report = rt.block_on(async {
        let stream = tls_connect(&pki.connector(false), SecureLb::at(tls_port))
            .await
            .expect("TLS handshake with the balancer");
        let mut link = TlsLink::new(stream);
        let uri = format!("sip:service@127.0.0.1:{tls_port};transport=tls");
        tokio::time::timeout(Duration::from_secs(20), call(&mut link, &uri, "tls-call-1"))
            .await
            .expect("call finished in time")
    });
    let diagnostics = || {
        format!(
            "report {report:?}\n--- uas errors\n{}\n--- switchboard log\n{}",
            read_or_note(&dir.join("uas-errors.log")),
            lb.log()
        )
    };
    assert_eq!(
        report.invite_statuses.last(),
        Some(&200),
        "{}",
        diagnostics()
    );
    assert!(report.invite_statuses.contains(&180), "{}", diagnostics());
    assert_eq!(report.bye_status, Some(200), "{}", diagnostics());

    // The node's per-message counters are written every second.
    let count = |column: &str| sipp_count(&dir, "uas", uas.pid(), column).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while (count("3_ACK_Recv") < 1 || count("4_BYE_Recv") < 1) && Instant::now() < deadline {
        sleep(Duration::from_millis(200));
    }
    assert_eq!(count("0_INVITE_Recv"), 1, "{}", diagnostics());
    assert_eq!(count("3_ACK_Recv"), 1, "{}", diagnostics());
    assert_eq!(count("4_BYE_Recv"), 1, "{}", diagnostics());
}

#[test]
fn tls_client_certificate_is_required_when_enabled() {
    let dir = test_dir("tls-client-auth");
    let pki = Pki::generate(&dir);
    let lb = SecureLb::start(&dir, &pki, "Enabled");
    let rt = runtime();
    let tls_port = lb.ports.external_tls;
    let probe = |with_cert: bool| {
        let connector = pki.connector(with_cert);
        rt.block_on(async move {
            let Ok(stream) = tls_connect(&connector, SecureLb::at(tls_port)).await else {
                return None;
            };
            // With TLS 1.3 the server's verdict on the client certificate arrives after the
            // client finished its handshake: the request gets an answer or a refusal.
            let mut link = TlsLink::new(stream);
            let options = "OPTIONS sip:127.0.0.1 SIP/2.0\r\n\
                Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-auth-1;rport\r\n\
                Max-Forwards: 70\r\n\
                From: <sip:probe@example.invalid>;tag=p\r\n\
                To: <sip:127.0.0.1>\r\n\
                Call-ID: auth-probe\r\n\
                CSeq: 1 OPTIONS\r\n\
                Content-Length: 0\r\n\r\n";
            let answer = tokio::spawn(async move {
                link.send(options.to_owned()).await;
                loop {
                    let message = link.recv().await;
                    if status(&message).is_some_and(|s| s >= 200) {
                        return message;
                    }
                }
            });
            answer.await.ok()
        })
    };
    let refused = probe(false);
    assert!(
        refused.is_none(),
        "a client without a certificate must be refused, got {refused:?}\n{}",
        lb.log()
    );
    let accepted = probe(true);
    assert!(
        accepted.is_some(),
        "a client with a certificate of the trust store is served\n{}",
        lb.log()
    );
}
