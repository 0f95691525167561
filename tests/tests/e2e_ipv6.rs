//! End-to-end over IPv6 loopback: SIPp calls from `[::1]` through the balancer's IPv6 UDP
//! listening points to a SIPp UAS node registered with ip `::1`.

mod common;

use common::{sipp_count, sipp_report, sipp_stat, start_uac, start_uas, test_dir, wait_until};
use common::{Lb, LbExtra, LbPorts, Node};
use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

const CALLS: u64 = 10;

/// A `::1` port free for UDP right now.
fn free_v6_port() -> u16 {
    let probe = UdpSocket::bind(("::1", 0)).expect("bind ::1");
    probe.local_addr().expect("addr").port()
}

#[test]
fn calls_over_ipv6_loopback() {
    let dir = test_dir("ipv6-calls");
    let (external6, internal6) = (free_v6_port(), free_v6_port());
    let extra = LbExtra {
        external: format!("<ipv6UdpPort>{external6}</ipv6UdpPort>"),
        internal: format!("<ipv6UdpPort>{internal6}</ipv6UdpPort>"),
        ..LbExtra::default()
    };
    let lb = Lb::start_extra(&dir, LbPorts::free(), &extra);
    let node_port = free_v6_port();
    let uas = start_uas(&dir, "uas", node_port, "u1", &["-i", "::1"]);
    std::thread::sleep(Duration::from_millis(300));
    let _node = Node::register_as(lb.heartbeat(), "n6", "::1", node_port);
    assert!(
        wait_until(Duration::from_secs(2), || {
            lb.lbinfo()
                .is_some_and(|i| i["Nodes info"]["nodesIPv6"].as_array().map(Vec::len) == Some(1))
        }),
        "the node is listed as IPv6: {:?}",
        lb.lbinfo()
    );

    let target = SocketAddr::from((Ipv6Addr::LOCALHOST, external6));
    let mut uac = start_uac(&dir, "uac", target, "u1", CALLS, 10, &["-i", "::1"]);
    let status = uac.wait_for(Duration::from_secs(30));
    let ended = wait_until(Duration::from_secs(10), || {
        sipp_stat(&dir, "uas", "SuccessfulCall(C)").unwrap_or(0) >= CALLS
    });
    let report = sipp_report(&dir, &lb, &["uac", "uas"]);
    assert!(
        matches!(status, Some(s) if s.success()),
        "exit {status:?}\n{report}"
    );
    assert_eq!(
        sipp_stat(&dir, "uac", "SuccessfulCall(C)"),
        Some(CALLS),
        "{report}"
    );
    assert_eq!(sipp_stat(&dir, "uac", "FailedCall(C)"), Some(0), "{report}");
    assert!(ended, "{report}");
    assert_eq!(
        sipp_stat(&dir, "uas", "IncomingCall(C)"),
        Some(CALLS),
        "{report}"
    );
    assert_eq!(
        sipp_count(&dir, "uas", uas.pid(), "4_BYE_Recv"),
        Some(CALLS),
        "every BYE reached the IPv6 node\n{report}"
    );
    // The balancer processed the INVITE, ACK and BYE of every call, each once.
    let stat = lb.lbstat().expect("/lbstat");
    assert_eq!(
        stat["Metrics"]["NumberOfRequestsProcessed"].as_u64(),
        Some(3 * CALLS),
        "{stat}"
    );
}
