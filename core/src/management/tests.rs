use super::*;
use crate::http_proxy::stats::HttpStats;
use crate::node::{NodeId, NodeKey, NodePorts, Version};
use crate::smpp::{CommandId, CommandStatus};
use crate::smpp_proxy::stats::{RemoteServer, SmppStats, SmppView};
use crate::time::Timestamp;
use std::collections::BTreeMap;

fn node() -> Node {
    Node {
        id: NodeId(1),
        host_name: "node1".into(),
        key: NodeKey {
            ip: "127.0.0.1".parse().unwrap(),
            ports: NodePorts {
                udp: Some(5080),
                ..NodePorts::default()
            },
        },
        version: Version::default(),
        session_id: "1510844617581".into(),
        heartbeat_port: None,
        instance_id: None,
        jvm_route: None,
        smpp_port: None,
        properties: BTreeMap::from([("udpPort".to_owned(), "5080".to_owned())]),
        graceful: false,
        bad: false,
        suspect: false,
        permanent: false,
        last_seen: Timestamp::from_millis(1234),
    }
}

fn ask(path: &str, view: &ManagementView<'_>) -> (String, Option<ManagementAction>) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    match handle_request(req.as_bytes(), view) {
        ManagementOutcome::Respond { response, action } => {
            (String::from_utf8(response.to_vec()).unwrap(), action)
        }
        ManagementOutcome::NeedMore => panic!("complete request reported incomplete"),
    }
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").unwrap().1
}

fn with_view<R>(credentials: Option<(&str, &str)>, f: impl FnOnce(&ManagementView<'_>) -> R) -> R {
    let mut stats = SipStats::default();
    stats.count_request("INVITE", 130);
    stats.count_response(200, 117);
    let n = node();
    stats.count_forwarded_to(n.id);
    stats.count_forwarded_to(n.id);
    stats.count_relayed_from(n.id);
    let mut http = HttpStats::default();
    http.request("GET");
    http.request("GET");
    http.response(200);
    http.bytes_to_nodes = 300;
    http.bytes_to_clients = 700;
    let smpp = SmppStats::default();
    let view = ManagementView {
        stats: &stats,
        nodes_ipv4: vec![&n],
        nodes_ipv6: vec![],
        all_nodes: vec![&n],
        active_calls: Some(1),
        sip_connections: 2,
        pending_requests: 0,
        pending_evictions: 0,
        credentials,
        shutdown_timeout: Duration::from_secs(10),
        http: &http,
        http_connections: (3, 2),
        http_tunnels: 0,
        smpp: &smpp,
        smpp_view: SmppView::default(),
    };
    f(&view)
}

#[test]
fn lbstat_reports_the_reference_fields() {
    with_view(None, |view| {
        let (resp, action) = ask("/lbstat", view);
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json"));
        assert_eq!(action, None);
        let v: Value = serde_json::from_str(body(&resp)).unwrap();
        let m = &v["Metrics"];
        assert_eq!(m["NumberOfRequestsProcessed"], 1);
        assert_eq!(m["NumberOfResponsesProcessed"], 1);
        assert_eq!(m["NumberOfBytesTransferred"], 247);
        assert_eq!(m["activeNodes"], 1);
        assert_eq!(m["NumberOfActiveCalls"], 1);
        assert_eq!(m["NumberOfActiveSipConnections"], 2);
        assert_eq!(m["NumberOfHttpRequests"], 2);
        assert_eq!(m["NumberOfHttpBytesToServer"], 300);
        assert_eq!(m["NumberOfHttpBytesToClient"], 700);
        assert_eq!(m["NumberOfActiveHttpConnections"], 5);
    });
}

#[test]
fn lbinfo_lists_nodes_with_their_properties() {
    with_view(None, |view| {
        let (resp, _) = ask("/LBINFO", view);
        let v: Value = serde_json::from_str(body(&resp)).unwrap();
        let n = &v["Nodes info"]["nodesIPv4"][0];
        assert_eq!(n["hostName"], "node1");
        assert_eq!(n["ip"], "127.0.0.1");
        assert_eq!(n["properties"]["udpPort"], "5080");
        assert_eq!(n["gracefulShutdown"], false);
        assert_eq!(v["Nodes info"]["nodesIPv6"].as_array().unwrap().len(), 0);
    });
}

#[test]
fn lbstop_checks_credentials_when_security_is_required() {
    with_view(Some(("daddy", "123456")), |view| {
        let (resp, action) = ask("/lbstop?login=daddy&password=wrong", view);
        assert!(resp.starts_with("HTTP/1.1 401 Unauthorized"));
        assert!(body(&resp).starts_with("Authorization required"));
        assert_eq!(action, None);
        let (resp, action) = ask("/lbstop?login=daddy&password=123456", view);
        assert!(resp.starts_with("HTTP/1.1 200 OK"));
        assert_eq!(
            action,
            Some(ManagementAction::Stop {
                after: Duration::from_secs(10)
            })
        );
    });
    with_view(None, |view| {
        assert!(matches!(
            ask("/lbstop", view).1,
            Some(ManagementAction::Stop { .. })
        ));
    });
}

#[test]
fn log_level_and_regex_pins_become_actions() {
    with_view(None, |view| {
        assert_eq!(
            ask("/lbloglevel?logLevel=DEBUG", view).1,
            Some(ManagementAction::SetLogLevel("DEBUG".into()))
        );
        assert!(ask("/lbloglevel", view).0.starts_with("HTTP/1.1 400"));
        let (resp, action) = ask(
            "/lbnoderegex?regex=(.*)(%5Cd%2B)&ip=127.0.0.1&port=5060",
            view,
        );
        assert!(resp.ends_with("Regex set"));
        assert_eq!(
            action,
            Some(ManagementAction::PinRegex {
                regex: "(.*)(\\d+)".into(),
                ip: "127.0.0.1".into(),
                port: 5060
            })
        );
        assert_eq!(
            ask("/lbnoderegex?regex=(-)", view).1,
            Some(ManagementAction::UnpinRegex("(-)".into()))
        );
        let (resp, action) = ask("/lbnoderegex?regex=(&ip=127.0.0.1&port=5060", view);
        assert!(resp.starts_with("HTTP/1.1 400") && resp.contains("Regex NOT set"));
        assert_eq!(action, None);
        assert!(ask("/lbnoderegex?regex=x&ip=nohost&port=5060", view)
            .0
            .starts_with("HTTP/1.1 400"));
    });
}

#[test]
fn metrics_are_prometheus_text_with_breakdowns() {
    with_view(None, |view| {
        let (resp, _) = ask("/metrics", view);
        let text = body(&resp);
        assert!(text.contains(
            "# TYPE switchboard_sip_requests_total counter\nswitchboard_sip_requests_total 1\n"
        ));
        assert!(text.contains("switchboard_sip_requests_by_method_total{method=\"INVITE\"} 1\n"));
        assert!(text.contains("switchboard_sip_responses_by_class_total{class=\"2XX\"} 1\n"));
        assert!(text.contains(
            "switchboard_node{host=\"node1\",ip=\"127.0.0.1\",version=\"0\",state=\"active\"} 1\n"
        ));
        assert!(
            text.contains(
                "switchboard_node_requests_total{id=\"1\",host=\"node1\",ip=\"127.0.0.1\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "switchboard_node_responses_total{id=\"1\",host=\"node1\",ip=\"127.0.0.1\"} 1\n"
            ),
            "{text}"
        );
    });
}

#[test]
fn partial_garbage_and_unknown_paths_are_answered_properly() {
    with_view(None, |view| {
        assert_eq!(
            handle_request(b"GET /lbstat HTTP/1.1\r\nHo", view),
            ManagementOutcome::NeedMore
        );
        let ManagementOutcome::Respond { response, .. } =
            handle_request(b"\x00\x01garbage\r\n\r\n", view)
        else {
            panic!("garbage must be answered")
        };
        assert!(response.starts_with(b"HTTP/1.1 400"));
        assert!(ask("/nothing", view).0.starts_with("HTTP/1.1 404"));
        let huge = vec![b'a'; MAX_HEAD + 10];
        assert!(matches!(
            handle_request(&huge, view),
            ManagementOutcome::Respond { .. }
        ));
    });
}

#[test]
fn node_state_response_times_and_failover_counters_are_reported() {
    let mut stats = SipStats::default();
    let mut n = node();
    n.suspect = true;
    stats.observe_response_time(n.id, Duration::from_micros(3_500));
    stats.observe_response_time(n.id, Duration::from_millis(700));
    stats.count_retransmission(Some(n.id));
    stats.count_invite_failover(n.id);
    stats.count_suspect(n.id);
    stats.timed_out = 4;
    let mut http = HttpStats::default();
    http.request("PROPFIND");
    http.answered(503);
    http.node(n.id).requests = 7;
    http.node(n.id)
        .response_times
        .observe(Duration::from_millis(2));
    let smpp = SmppStats::default();
    let view = ManagementView {
        stats: &stats,
        nodes_ipv4: vec![&n],
        nodes_ipv6: vec![],
        all_nodes: vec![&n],
        active_calls: None,
        sip_connections: 0,
        pending_requests: 3,
        pending_evictions: 1,
        credentials: None,
        shutdown_timeout: Duration::from_secs(10),
        http: &http,
        http_connections: (1, 1),
        http_tunnels: 1,
        smpp: &smpp,
        smpp_view: SmppView::default(),
    };
    let (info, _) = ask("/lbinfo", &view);
    let info: Value = serde_json::from_str(body(&info)).unwrap();
    let listed = &info["Nodes info"]["nodesIPv4"][0];
    assert_eq!(listed["state"], "suspect");
    assert_eq!(listed["lastResponseTimeMs"], 700.0);
    let (metrics, _) = ask("/metrics", &view);
    let labels = "id=\"1\",host=\"node1\",ip=\"127.0.0.1\"";
    for line in [
        format!("switchboard_node_response_seconds_bucket{{{labels},le=\"0.005\"}} 1"),
        format!("switchboard_node_response_seconds_bucket{{{labels},le=\"0.5\"}} 1"),
        format!("switchboard_node_response_seconds_bucket{{{labels},le=\"1\"}} 2"),
        format!("switchboard_node_response_seconds_bucket{{{labels},le=\"+Inf\"}} 2"),
        format!("switchboard_node_response_seconds_sum{{{labels}}} 0.7035"),
        format!("switchboard_node_response_seconds_count{{{labels}}} 2"),
        format!("switchboard_node_retransmissions_total{{{labels}}} 1"),
        format!("switchboard_node_invite_failovers_total{{{labels}}} 1"),
        format!("switchboard_node_suspect_transitions_total{{{labels}}} 1"),
        "switchboard_sip_timed_out_total 4".to_owned(),
        "switchboard_sip_pending_requests 3".to_owned(),
        "switchboard_sip_pending_evictions_total 1".to_owned(),
        "state=\"suspect\"} 1".to_owned(),
        "switchboard_http_requests_total{method=\"PROPFIND\"} 1".to_owned(),
        "switchboard_http_requests_total{method=\"GET\"} 0".to_owned(),
        "switchboard_http_responses_total{class=\"5XX\"} 1".to_owned(),
        "switchboard_http_balancer_answers_total{status=\"503\"} 1".to_owned(),
        "switchboard_http_connections{side=\"client\"} 1".to_owned(),
        "switchboard_http_tunnels 1".to_owned(),
        format!("switchboard_http_node_requests_total{{{labels}}} 7"),
        format!("switchboard_http_node_response_seconds_bucket{{{labels},le=\"0.0025\"}} 1"),
        format!("switchboard_http_node_response_seconds_count{{{labels}}} 1"),
    ] {
        assert!(metrics.contains(&line), "missing {line}\n{metrics}");
    }
}

/// SMPP counters of a mux-mode run: two customers of one system_id, two providers.
fn smpp_stats() -> SmppStats {
    let mut s = SmppStats::default();
    for _ in 0..3 {
        s.received(CommandId::SUBMIT_SM);
    }
    s.received(CommandId::DELIVER_SM_RESP);
    s.received(CommandId::SUBMIT_SM_RESP);
    s.to_server(61, true);
    s.to_server(61, true);
    s.to_server(16, false);
    s.to_client(17, false);
    s.to_client(40, true);
    s.answered(CommandStatus::RSYSERR);
    s.answered(CommandStatus::RSYSERR);
    s.answered(CommandStatus::RTHROTTLED);
    s.answered(CommandStatus(0x0000_0400));
    s.unbound_connections_closed = 1;
    s.response_timeouts = 2;
    s.provider_losses = 3;
    s.rebinds = 4;
    s.receipts_matched = 5;
    s.receipts_unmatched = 6;
    let p = s.provider("10.0.0.1:2775");
    p.request();
    p.request();
    p.response(CommandStatus::ROK, Duration::from_millis(2));
    p.response(CommandStatus::RTHROTTLED, Duration::from_millis(40));
    let c = s.customer("acme\"x");
    c.request();
    c.response(CommandStatus::ROK, Duration::from_millis(7));
    s
}

fn smpp_view() -> SmppView {
    SmppView {
        enabled: true,
        mux_mode: true,
        customer_connections: 2,
        provider_connections: 2,
        active_connections: 3,
        remote_servers: vec![
            RemoteServer {
                host: "smsc-a.example".into(),
                ip: "10.0.0.1".into(),
                port: 2775,
                bound_connections: 1,
                from_heartbeat: false,
            },
            RemoteServer {
                host: "10.0.0.2".into(),
                ip: "10.0.0.2".into(),
                port: 2776,
                bound_connections: 0,
                from_heartbeat: false,
            },
        ],
        provider_windows: BTreeMap::from([("10.0.0.1:2775".to_owned(), 7)]),
        provider_queues: BTreeMap::from([("10.0.0.1:2775".to_owned(), 2)]),
        customer_windows: BTreeMap::from([("acme\"x".to_owned(), 1)]),
        receipt_entries: 9,
    }
}

fn with_smpp<R>(view: SmppView, f: impl FnOnce(&ManagementView<'_>) -> R) -> R {
    let stats = SipStats::default();
    let http = HttpStats::default();
    let smpp = smpp_stats();
    let view = ManagementView {
        stats: &stats,
        nodes_ipv4: vec![],
        nodes_ipv6: vec![],
        all_nodes: vec![],
        active_calls: None,
        sip_connections: 0,
        pending_requests: 0,
        pending_evictions: 0,
        credentials: None,
        shutdown_timeout: Duration::from_secs(10),
        http: &http,
        http_connections: (0, 0),
        http_tunnels: 0,
        smpp: &smpp,
        smpp_view: view,
    };
    f(&view)
}

#[test]
fn lbstat_reports_the_smpp_counters() {
    with_smpp(smpp_view(), |view| {
        let (resp, _) = ask("/lbstat", view);
        let v: Value = serde_json::from_str(body(&resp)).unwrap();
        let m = &v["Metrics"];
        assert_eq!(m["NumberOfActiveSmppConnections"], 3);
        assert_eq!(m["NumberOfSmppBytesToServer"], 138);
        assert_eq!(m["NumberOfSmppBytesToClient"], 57);
        assert_eq!(m["NumberOfSmppRequestsToServer"], 2);
        assert_eq!(m["NumberOfSmppRequestsToClient"], 1);
    });
    with_view(None, |view| {
        let (resp, _) = ask("/lbstat", view);
        let v: Value = serde_json::from_str(body(&resp)).unwrap();
        assert_eq!(v["Metrics"]["NumberOfActiveSmppConnections"], 0);
        assert_eq!(v["Metrics"]["NumberOfSmppBytesToServer"], 0);
    });
}

#[test]
fn lbinfo_lists_the_smpp_remote_servers_like_nodes() {
    with_smpp(smpp_view(), |view| {
        let (resp, _) = ask("/lbinfo", view);
        let v: Value = serde_json::from_str(body(&resp)).unwrap();
        let servers = v["Nodes info"]["smppRemoteServers"].as_array().unwrap();
        assert_eq!(servers.len(), 2);
        let a = &servers[0];
        assert_eq!(a["hostName"], "smsc-a.example");
        assert_eq!(a["ip"], "10.0.0.1");
        assert_eq!(a["properties"]["smppPort"], "2775");
        assert_eq!(a["timeStamp"], 0);
        assert_eq!(a["gracefulShutdown"], false);
        assert_eq!(a["bad"], false);
        assert_eq!(a["state"], "up");
        assert_eq!(a["lastResponseTimeMs"], Value::Null);
        assert_eq!(a["boundConnections"], 1);
        assert_eq!(servers[1]["properties"]["smppPort"], "2776");
        assert_eq!(servers[1]["boundConnections"], 0);
        // Same keys as a heartbeat node's entry, plus boundConnections.
        let node_keys: Vec<_> = {
            let (resp, _) = with_view(None, |view| ask("/lbinfo", view));
            let v: Value = serde_json::from_str(body(&resp)).unwrap();
            v["Nodes info"]["nodesIPv4"][0]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        for key in node_keys {
            assert!(a.get(&key).is_some(), "missing {key}");
        }
    });
    with_view(None, |view| {
        let (resp, _) = ask("/lbinfo", view);
        let v: Value = serde_json::from_str(body(&resp)).unwrap();
        assert_eq!(v["Nodes info"]["smppRemoteServers"], serde_json::json!([]));
    });
}

#[test]
fn metrics_have_the_smpp_families_while_smpp_runs() {
    let metrics = with_smpp(smpp_view(), |view| ask("/metrics", view).0);
    let provider = "provider=\"10.0.0.1:2775\"";
    let customer = "system_id=\"acme\\\"x\"";
    for line in [
        "switchboard_smpp_requests_total{command=\"submit_sm\"} 3".to_owned(),
        "switchboard_smpp_responses_total{command=\"deliver_sm_resp\"} 1".to_owned(),
        "switchboard_smpp_responses_total{command=\"submit_sm_resp\"} 1".to_owned(),
        "switchboard_smpp_balancer_answers_total{status=\"0x00000008\",name=\"ESME_RSYSERR\"} 2"
            .to_owned(),
        "switchboard_smpp_balancer_answers_total{status=\"0x00000058\",name=\"ESME_RTHROTTLED\"} 1"
            .to_owned(),
        "switchboard_smpp_balancer_answers_total{status=\"0x00000400\"} 1".to_owned(),
        "switchboard_smpp_bytes_total{direction=\"to_server\"} 138".to_owned(),
        "switchboard_smpp_bytes_total{direction=\"to_client\"} 57".to_owned(),
        "switchboard_smpp_requests_sent_total{direction=\"to_server\"} 2".to_owned(),
        "switchboard_smpp_requests_sent_total{direction=\"to_client\"} 1".to_owned(),
        "switchboard_smpp_connections{side=\"customer\"} 2".to_owned(),
        "switchboard_smpp_connections{side=\"provider\"} 2".to_owned(),
        "switchboard_smpp_unbound_connections_closed_total 1".to_owned(),
        "switchboard_smpp_response_timeouts_total 2".to_owned(),
        "switchboard_smpp_provider_losses_total 3".to_owned(),
        "switchboard_smpp_rebinds_total 4".to_owned(),
        "switchboard_smpp_receipts_total{result=\"matched\"} 5".to_owned(),
        "switchboard_smpp_receipts_total{result=\"unmatched\"} 6".to_owned(),
        "switchboard_smpp_receipt_entries 9".to_owned(),
        format!("switchboard_smpp_provider_requests_total{{{provider}}} 2"),
        format!("switchboard_smpp_provider_responses_total{{{provider}}} 2"),
        format!("switchboard_smpp_provider_error_responses_total{{{provider}}} 1"),
        format!("switchboard_smpp_provider_throttled_total{{{provider}}} 1"),
        format!("switchboard_smpp_provider_window{{{provider}}} 7"),
        format!("switchboard_smpp_provider_queue{{{provider}}} 2"),
        format!("switchboard_smpp_provider_response_seconds_bucket{{{provider},le=\"0.0025\"}} 1"),
        format!("switchboard_smpp_provider_response_seconds_bucket{{{provider},le=\"+Inf\"}} 2"),
        format!("switchboard_smpp_provider_response_seconds_sum{{{provider}}} 0.042"),
        format!("switchboard_smpp_provider_response_seconds_count{{{provider}}} 2"),
        format!("switchboard_smpp_customer_requests_total{{{customer}}} 1"),
        format!("switchboard_smpp_customer_responses_total{{{customer}}} 1"),
        format!("switchboard_smpp_customer_window{{{customer}}} 1"),
        format!("switchboard_smpp_customer_response_seconds_count{{{customer}}} 1"),
        "# TYPE switchboard_smpp_provider_response_seconds histogram".to_owned(),
        "# TYPE switchboard_smpp_connections gauge".to_owned(),
    ] {
        assert!(metrics.contains(&line), "missing {line}\n{metrics}");
    }
}

#[test]
fn metrics_have_no_smpp_family_while_smpp_is_off() {
    let view = SmppView {
        enabled: false,
        ..smpp_view()
    };
    let metrics = with_smpp(view, |view| ask("/metrics", view).0);
    assert!(metrics.contains("switchboard_http_bytes_total"));
    assert!(!metrics.contains("switchboard_smpp"), "{metrics}");
}
