//! End-to-end HTTP load: two nginx nodes (Debian's nginx on free loopback ports, registered
//! through the JSON heartbeat by the test) behind the real binary, a short wrk run through
//! it without a single error, and the management API's count of it.

mod common;

use common::http::{curl, have_wrk, wrk, HttpLb, Nginx, Registration};
use common::{free_port, test_dir};
use std::collections::BTreeSet;

/// Both nginx nodes get new sessions; a 2-second wrk run (16 connections) through the
/// balancer has no socket error and no non-2xx answer, and `/lbstat` counts every request.
#[test]
#[allow(clippy::print_stderr, reason = "says why the load run is skipped")]
fn wrk_through_the_balancer_to_nginx_nodes() {
    let dir = test_dir("http-load");
    let lb = HttpLb::start(&dir, "");
    let nginx: Vec<Nginx> = ["nginx-1", "nginx-2"]
        .iter()
        .map(|name| Nginx::start(&dir, name))
        .collect();
    let _registrations: Vec<Registration> = nginx
        .iter()
        .map(|n| {
            let sip = free_port().to_string();
            Registration::start(
                lb.heartbeat(),
                serde_json::json!({
                    "hostName": n.name,
                    "httpPort": n.port.to_string(),
                    "udpPort": sip,
                    "tcpPort": sip,
                    "jvmRoute": n.name,
                }),
            )
        })
        .collect();
    let mut served = BTreeSet::new();
    for _ in 0..6 {
        let c = curl(&dir, &[&lb.url("/index.html")]);
        assert_eq!(
            (c.exit, c.status),
            (0, 200),
            "{} {}\n{}",
            c.stderr,
            c.heads,
            lb.log()
        );
        served.insert(c.header("x-served-by").unwrap_or_default());
    }
    let names: BTreeSet<String> = nginx.iter().map(|n| n.name.clone()).collect();
    assert_eq!(served, names, "new sessions reach both nginx nodes");
    if !have_wrk() {
        eprintln!("wrk is not installed (scripts/install-test-deps.sh): load run skipped");
        return;
    }
    let before = lb.stat("NumberOfHttpRequests");
    let run = wrk(&lb.url("/index.html"), 16, 2);
    assert!(
        run.requests >= 200,
        "wrk made too few requests:\n{}",
        run.output
    );
    assert_eq!(run.socket_errors, 0, "socket errors:\n{}", run.output);
    assert_eq!(run.non_2xx, 0, "non-2xx answers:\n{}", run.output);
    let counted = lb.stat("NumberOfHttpRequests") - before;
    assert!(
        counted >= run.requests && counted <= run.requests + 16,
        "/lbstat counted {counted} requests, wrk completed {} (up to 16 more may be in flight \
         at its end):\n{}",
        run.requests,
        run.output
    );
}
