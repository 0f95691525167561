//! Loading complete configurations: the reference's documented sample, the embedded default,
//! defaults for missing sections, and the rendered effective configuration.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use switchboard_core::config::{
    AlgorithmKind, Config, HostPort, LegPorts, ProbingConfig, ReplyCode, ReplyCodes,
    SmppToNodeAlgorithm, SmppToProviderAlgorithm, StaticNode, TlsClientAuth,
};
use switchboard_core::node::Transport;

const SAMPLE: &str = include_str!("fixtures/config/reference-sample.xml");

fn load(xml: &str) -> Config {
    match Config::from_xml(xml) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("configuration refused:\n{e}"),
    }
}

#[test]
fn reference_sample_common() {
    let c = load(SAMPLE).common;
    assert_eq!(c.host, "172.21.0.105");
    assert_eq!(c.ipv6_host, "::1", "empty element keeps the default");
    assert_eq!(c.node_timeout, Duration::from_millis(8400));
    assert_eq!(c.heartbeat_interval, Duration::from_millis(150));
    assert_eq!(c.api_port, Some(2006), "statisticPort is accepted");
    assert_eq!(c.shutdown_timeout, Duration::from_millis(10_000));
    assert!(c.security_required);
    assert_eq!(c.login.as_deref(), Some("daddy"));
    assert_eq!(c.password.as_deref(), Some("123456"));
}

#[test]
fn reference_sample_sip() {
    let s = load(SAMPLE).sip;
    assert_eq!(s.public_ip, None);
    assert!(!s.send_trying);
    assert!(!s.use_ip_load_balancer_address_in_via);
    assert!(s.extra_server_nodes.is_empty());
    assert!(s.send_5xx_response);
    assert_eq!(s.send_5xx_status_code, 503);
    assert_eq!(
        s.send_5xx_reason.as_deref(),
        Some("Destination not available")
    );
    assert_eq!(s.responses_status_code_node_removal, vec![503, 504]);
    assert_eq!(
        s.matching_hostname_for_route.as_deref(),
        Some("restcomm.com")
    );
    assert!(s.filter_subdomain);
    assert_eq!(s.internal_transport, None);
    assert_eq!(
        s.blocked_values,
        ["sipvicious", "sipcli", "friendly-scanner"]
    );
    assert_eq!(s.max_number_responses_with_error, 5);
    assert_eq!(s.max_error_time, Duration::from_millis(300_000));
    assert_eq!(s.routing_rules_ipv4.len(), 1);
    assert!(s.routing_rules_ipv4[0].ip_pattern.is_match("10.0.3.4"));
    assert!(s.routing_rules_ipv4[0].patch);
    assert!(s.routing_rules_ipv6.is_empty());

    let a = &s.algorithm;
    assert_eq!(
        a.kind,
        AlgorithmKind::CallIdAffinity,
        "empty algorithmClass = default"
    );
    assert_eq!(a.sip_header_affinity_key, "Call-ID");
    assert!(a
        .sip_header_affinity_exclusion_pattern
        .as_ref()
        .is_some_and(|r| r.is_match("tel:+15551234")));
    assert!(!a.call_id_affinity_group_failover);
    assert_eq!(a.call_id_affinity_max_time_in_cache, Duration::ZERO);
    assert_eq!(a.http_affinity_key, "appsession");
    assert!(!a.early_dialog_worst_case);
    assert_eq!(
        a.subcluster_map,
        vec![
            vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()],
            vec![
                "10.0.0.3".to_owned(),
                "10.0.0.4".to_owned(),
                "10.0.0.5".to_owned()
            ],
        ]
    );

    let e = &s.external;
    assert_eq!(e.host, "172.21.0.105", "leg host defaults to common host");
    assert_eq!(e.ipv6_host, "::1");
    assert_eq!(e.ports.udp, Some(5060));
    assert_eq!(e.ports.tcp, Some(5060));
    assert_eq!(e.ports.tls, Some(5061));
    assert_eq!(e.ports.ws, Some(5062));
    assert_eq!(e.ports.wss, Some(5063));
    assert_eq!(e.ports.get(Transport::Wss), Some(5063));
    assert_eq!(e.ipv6_ports.udp, None);
    assert_eq!(e.ip_load_balancer_addresses, ["50.17.127.170"]);
    assert_eq!(e.ip_load_balancer_ports.udp, Some(5060));
    assert_eq!(e.ip_load_balancer_ports.wss, Some(5063));
    let i = &s.internal;
    assert_eq!(i.ports.udp, Some(5080));
    assert_eq!(i.ports.wss, Some(5083));
    assert_eq!(i.ip_load_balancer_addresses, ["172.21.0.105"]);
    assert_eq!(i.ip_load_balancer_ports.tls, Some(5081));
    assert!(i.is_enabled());
}

#[test]
fn reference_sample_other_sections() {
    let config = load(SAMPLE);
    let h = &config.http;
    assert_eq!(h.http_port, Some(2080));
    assert_eq!(h.https_port, Some(2081));
    assert_eq!(h.max_content_length, Some(2_097_152));
    assert_eq!(h.unavailable_host, None);
    assert_eq!(h.url_rewrite.len(), 1);
    assert_eq!(
        h.url_rewrite[0]
            .from
            .replace("/old/a/b", h.url_rewrite[0].to.as_str()),
        "/new/a/b"
    );

    let m = &config.smpp;
    assert_eq!(m.smpp_host.as_deref(), Some("172.21.0.105"));
    assert_eq!(m.smpp_port, Some(2776));
    assert_eq!(m.smpp_ssl_port, None);
    assert_eq!(
        m.remote_servers,
        vec![HostPort {
            host: "174.37.245.38".to_owned(),
            port: 8000
        }]
    );
    assert_eq!(m.max_connection_size, 10);
    assert!(m.non_blocking_sockets_enabled);
    assert!(m.default_session_counters_enabled);
    assert_eq!(m.timeout_response, Duration::from_millis(10_000));
    assert_eq!(m.timeout_connection, Duration::from_millis(1000));
    assert_eq!(m.timeout_enquire, Duration::from_millis(50_000));
    assert_eq!(m.reconnect_period, Duration::from_millis(1000));
    assert_eq!(
        m.timeout_connection_check_client_side,
        Duration::from_millis(1000)
    );
    assert_eq!(
        m.timeout_connection_check_server_side,
        Duration::from_millis(1000)
    );
    assert!(m.mux_mode);
    assert_eq!(m.to_node_algorithm, SmppToNodeAlgorithm::RoundRobin);
    assert_eq!(m.to_provider_algorithm, SmppToProviderAlgorithm::RoundRobin);

    let t = &config.ssl;
    assert!(t.terminate_tls_traffic);
    assert_eq!(
        t.key_store.as_deref(),
        Some(std::path::Path::new("/opt/loadbalancer/config/keystore"))
    );
    assert!(t.has_key_material());
    assert_eq!(t.tls_client_protocols, ["TLSv1", "TLSv1.1", "TLSv1.2"]);
    assert_eq!(t.enabled_cipher_suites.len(), 2);

    let k = &config.sip_stack;
    assert_eq!(k.receive_udp_buffer_size, Some(65536));
    assert_eq!(k.send_udp_buffer_size, Some(65536));
    assert_eq!(k.max_message_size, Some(10_000));
    assert_eq!(k.worker_threads, Some(64));
    assert_eq!(k.tls_client_auth, TlsClientAuth::Disabled);
    assert!(k.never_add_received_rport);
    assert_eq!(k.properties.len(), 20);
    assert_eq!(
        k.properties[0],
        (
            "javax.sip.STACK_NAME".to_owned(),
            "SipBalancerForwarder".to_owned()
        )
    );

    assert_eq!(config.heartbeat.port, 2610);
}

#[test]
fn embedded_default_is_loopback() {
    let c = Config::embedded_default();
    assert_eq!(c.common.host, "127.0.0.1");
    assert_eq!(c.sip.external.host, "127.0.0.1");
    assert_eq!(c.sip.external.ports.udp, Some(5060));
    assert_eq!(c.sip.external.ports.tcp, Some(5060));
    assert_eq!(c.sip.internal.ports.udp, Some(5065));
    assert_eq!(c.sip.internal.ports.tcp, Some(5065));
    assert_eq!(c.heartbeat.port, 2610);
    assert_eq!(c.common.api_port, Some(2006));
    assert_eq!(c.http.http_port, Some(2080));
    assert_eq!(c.sip.algorithm.kind, AlgorithmKind::CallIdAffinity);
    let loaded = Config::from_xml(switchboard_core::config::DEFAULT_XML).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn missing_sections_take_code_defaults() {
    let c = load("<load-balancer-properties/>");
    assert_eq!(c.common.host, "127.0.0.1");
    assert_eq!(c.common.ipv6_host, "::1");
    assert_eq!(c.common.node_timeout, Duration::from_millis(8400));
    assert_eq!(c.common.heartbeat_interval, Duration::from_millis(150));
    assert_eq!(c.common.api_port, Some(2006));
    assert!(!c.common.security_required);
    assert_eq!(c.sip.external.ports.udp, Some(5060));
    assert_eq!(c.sip.external.ports.tcp, Some(5060));
    assert_eq!(c.sip.external.ports.tls, None);
    assert!(!c.sip.internal.is_enabled());
    assert!(c.sip.send_trying);
    assert_eq!(c.sip.responses_status_code_node_removal, vec![503]);
    assert_eq!(
        c.sip.algorithm.call_id_affinity_max_time_in_cache,
        Duration::from_secs(500)
    );
    assert_eq!(c.http.http_port, Some(2080));
    assert_eq!(c.http.https_port, None);
    assert_eq!(c.smpp.smpp_port, None);
    assert_eq!(c.smpp.timeout_response, Duration::from_millis(3000));
    assert_eq!(c.smpp.timeout_enquire, Duration::from_millis(10_000));
    assert_eq!(c.smpp.reconnect_period, Duration::from_millis(500));
    assert_eq!(c.sip_stack.tls_client_auth, TlsClientAuth::Disabled);
    assert_eq!(c.sip_stack.max_message_size, None);
    assert_eq!(c.heartbeat.port, 2610);
}

#[test]
fn empty_elements_keep_defaults_and_zero_switches_off() {
    let c = load(
        "<load-balancer-properties><http><httpPort></httpPort></http>\
         <sip><external><udpPort>0</udpPort><tcpPort/></external></sip></load-balancer-properties>",
    );
    assert_eq!(c.http.http_port, Some(2080));
    assert_eq!(c.sip.external.ports.udp, None);
    assert_eq!(c.sip.external.ports.tcp, Some(5060));
}

#[test]
fn algorithm_names_java_and_short() {
    for kind in AlgorithmKind::ALL {
        for name in [
            format!("org.mobicents.tools.sip.balancer.{}", kind.java_class()),
            kind.short_name().to_owned(),
        ] {
            let xml = format!(
                "<load-balancer-properties><sip><algorithm><algorithmClass>{name}\
                 </algorithmClass></algorithm></sip></load-balancer-properties>"
            );
            assert_eq!(load(&xml).sip.algorithm.kind, kind, "{name}");
        }
    }
}

#[test]
fn api_port_wins_over_statistic_port() {
    let c = load(
        "<load-balancer-properties><common><statisticPort>3000</statisticPort>\
         <apiPort>3001</apiPort></common></load-balancer-properties>",
    );
    assert_eq!(c.common.api_port, Some(3001));
}

#[test]
fn singular_node_removal_spelling_and_algorithm_placed_keys() {
    let c = load(
        "<load-balancer-properties><sip>\
         <responseStatusCodeNodeRemoval>500, 503</responseStatusCodeNodeRemoval>\
         <algorithm><earlyDialogWorstCase>true</earlyDialogWorstCase>\
         <subclusterMap>( 1.1.1.1, 2.2.2.2 )</subclusterMap></algorithm>\
         </sip></load-balancer-properties>",
    );
    assert_eq!(c.sip.responses_status_code_node_removal, vec![500, 503]);
    assert!(c.sip.algorithm.early_dialog_worst_case);
    assert_eq!(c.sip.algorithm.subcluster_map.len(), 1);
}

#[test]
fn pem_certificate_and_key_pair() {
    let c = load(
        "<load-balancer-properties><ssl><certificate>/etc/sb/cert.pem</certificate>\
         <privateKey>/etc/sb/key.pem</privateKey></ssl>\
         <sip><external><tlsPort>5061</tlsPort></external></sip></load-balancer-properties>",
    );
    assert!(c.ssl.has_key_material());
    assert_eq!(c.sip.external.ports.tls, Some(5061));
}

#[test]
fn render_lists_every_value() {
    let text = load(SAMPLE).render();
    for line in [
        "common.host = 172.21.0.105",
        "common.nodeTimeout = 8400 ms",
        "common.apiPort = 2006",
        "sip.external.udpPort = 5060",
        "sip.external.ipv6UdpPort = (off)",
        "sip.internal.wssPort = 5083",
        "sip.algorithm.algorithmClass = call-id-affinity (CallIDAffinityBalancerAlgorithm)",
        "sip.responsesStatusCodeNodeRemoval = 503,504",
        "http.httpsPort = 2081",
        "smpp.remoteServers = 174.37.245.38:8000",
        "sipStack.MAX_MESSAGE_SIZE = 10000",
        "heartbeat.heartbeatPort = 2610",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(!text.contains("123456"), "passwords are not rendered");
}

#[test]
fn invite_failover_timeout_and_startup_grace_period_defaults() {
    let s = load("<load-balancer-properties/>").sip;
    assert_eq!(s.invite_failover_timeout, Duration::from_millis(1000));
    assert_eq!(s.startup_grace_period, Duration::from_millis(5000));
    let s = load(SAMPLE).sip;
    assert_eq!(s.invite_failover_timeout, Duration::from_millis(1000));
    assert_eq!(s.startup_grace_period, Duration::from_millis(5000));
}

#[test]
fn invite_failover_timeout_and_startup_grace_period_set() {
    let c = load(
        "<load-balancer-properties><sip><inviteFailoverTimeout>2500</inviteFailoverTimeout>\
         <startupGracePeriod>0</startupGracePeriod></sip></load-balancer-properties>",
    );
    assert_eq!(c.sip.invite_failover_timeout, Duration::from_millis(2500));
    assert_eq!(c.sip.startup_grace_period, Duration::ZERO, "0 turns it off");
    let text = c.render();
    for line in [
        "sip.inviteFailoverTimeout = 2500 ms",
        "sip.startupGracePeriod = 0 ms",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

/// The documented `<staticNodes>` and `<probing>` example.
const STATIC_NODES: &str = "<load-balancer-properties><sip>\
    <staticNodes>\
      <node><hostName>asterisk-1</hostName><ip>10.0.0.5</ip>\
        <udpPort>5060</udpPort><tcpPort>5060</tcpPort><version>0</version></node>\
      <node><hostName>freeswitch-1</hostName><ip>10.0.0.6</ip><tlsPort>5061</tlsPort>\
        <wsPort>5066</wsPort><wssPort>7443</wssPort><version>2</version></node>\
    </staticNodes>\
    <probing>\
      <probeHeartbeatNodes>false</probeHeartbeatNodes>\
      <interval>5000</interval>\
      <replyCodes>2xx,404</replyCodes>\
      <failureThreshold>3</failureThreshold>\
      <successThreshold>2</successThreshold>\
    </probing>\
    </sip></load-balancer-properties>";

#[test]
fn static_nodes_and_probing_example() {
    let loaded = Config::from_xml(STATIC_NODES).expect("accepted");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let s = loaded.config.sip;
    assert_eq!(
        s.static_nodes,
        vec![
            StaticNode {
                host_name: "asterisk-1".to_owned(),
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
                ports: LegPorts {
                    udp: Some(5060),
                    tcp: Some(5060),
                    ..LegPorts::default()
                },
                version: "0".to_owned(),
            },
            StaticNode {
                host_name: "freeswitch-1".to_owned(),
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 6)),
                ports: LegPorts {
                    tls: Some(5061),
                    ws: Some(5066),
                    wss: Some(7443),
                    ..LegPorts::default()
                },
                version: "2".to_owned(),
            },
        ]
    );
    let p = &s.probing;
    assert!(!p.probe_heartbeat_nodes);
    assert_eq!(p.interval, Duration::from_millis(5000));
    assert_eq!(
        p.reply_codes,
        ReplyCodes::Listed(vec![ReplyCode::Class(2), ReplyCode::Code(404)])
    );
    assert_eq!(p.failure_threshold, 3);
    assert_eq!(p.success_threshold, 2);
}

#[test]
fn static_nodes_and_probing_defaults_when_absent() {
    let s = load("<load-balancer-properties/>").sip;
    assert!(s.static_nodes.is_empty());
    assert_eq!(s.probing, ProbingConfig::default());
    assert!(!s.probing.probe_heartbeat_nodes);
    assert_eq!(s.probing.interval, Duration::from_millis(5000));
    assert_eq!(s.probing.reply_codes, ReplyCodes::Any);
    assert_eq!(s.probing.failure_threshold, 3);
    assert_eq!(s.probing.success_threshold, 2);
    assert!(Config::embedded_default().sip.static_nodes.is_empty());

    // Empty elements keep the defaults too.
    let s = load(
        "<load-balancer-properties><sip><staticNodes/><probing><interval/>\
         <replyCodes></replyCodes><failureThreshold/></probing></sip></load-balancer-properties>",
    )
    .sip;
    assert!(s.static_nodes.is_empty());
    assert_eq!(s.probing, ProbingConfig::default());
}

#[test]
fn static_node_optional_values_default() {
    let s = load(
        "<load-balancer-properties><sip><staticNodes><node><ip>10.0.0.7</ip>\
         <udpPort>5080</udpPort></node></staticNodes></sip></load-balancer-properties>",
    )
    .sip;
    assert_eq!(s.static_nodes.len(), 1);
    let n = &s.static_nodes[0];
    assert_eq!(n.host_name, "static-10.0.0.7");
    assert_eq!(n.version, "0");
    assert_eq!(n.ports.udp, Some(5080));
    assert_eq!(n.ports.tcp, None);
}

#[test]
fn static_node_ipv6_with_and_without_brackets() {
    let s = load(
        "<load-balancer-properties><sip><staticNodes>\
         <node><ip>2001:db8::5</ip><udpPort>5060</udpPort></node>\
         <node><hostName>v6</hostName><ip>[2001:db8::6]</ip><tcpPort>5070</tcpPort></node>\
         </staticNodes></sip></load-balancer-properties>",
    )
    .sip;
    let v6 = |last| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last));
    assert_eq!(s.static_nodes.len(), 2);
    assert_eq!(s.static_nodes[0].ip, v6(5));
    assert_eq!(s.static_nodes[0].host_name, "static-2001:db8::5");
    assert_eq!(s.static_nodes[1].ip, v6(6));
    assert_eq!(s.static_nodes[1].host_name, "v6");
    assert_eq!(s.static_nodes[1].ports.tcp, Some(5070));
}

#[test]
fn same_ip_with_other_ports_is_another_static_node() {
    let s = load(
        "<load-balancer-properties><sip><staticNodes>\
         <node><ip>10.0.0.5</ip><udpPort>5060</udpPort></node>\
         <node><ip>10.0.0.5</ip><udpPort>5070</udpPort></node>\
         </staticNodes></sip></load-balancer-properties>",
    )
    .sip;
    assert_eq!(s.static_nodes.len(), 2);
}

#[test]
fn reply_codes_parse_codes_and_classes() {
    let probing = |codes: &str| {
        load(&format!(
            "<load-balancer-properties><sip><probing><replyCodes>{codes}</replyCodes>\
             </probing></sip></load-balancer-properties>"
        ))
        .sip
        .probing
    };
    let p = probing(" 200 , 4XX,6xx ,");
    assert_eq!(
        p.reply_codes,
        ReplyCodes::Listed(vec![
            ReplyCode::Code(200),
            ReplyCode::Class(4),
            ReplyCode::Class(6)
        ])
    );
    assert!(p.reply_codes.accepts(200));
    assert!(!p.reply_codes.accepts(202));
    assert!(p.reply_codes.accepts(404));
    assert!(p.reply_codes.accepts(486));
    assert!(p.reply_codes.accepts(603));
    assert!(!p.reply_codes.accepts(503));

    let p = probing("2xx,404");
    assert!(p.reply_codes.accepts(200));
    assert!(p.reply_codes.accepts(299));
    assert!(p.reply_codes.accepts(404));
    assert!(!p.reply_codes.accepts(403));
    assert!(!p.reply_codes.accepts(500));

    assert_eq!(
        probing(",").reply_codes,
        ReplyCodes::Any,
        "empty list = any"
    );
    assert!(ReplyCodes::Any.accepts(100));
    assert!(ReplyCodes::Any.accepts(503));
}

#[test]
fn probing_values_set() {
    let p = load(
        "<load-balancer-properties><sip><probing><probeHeartbeatNodes>true</probeHeartbeatNodes>\
         <interval>1500</interval><failureThreshold>1</failureThreshold>\
         <successThreshold>4</successThreshold></probing></sip></load-balancer-properties>",
    )
    .sip
    .probing;
    assert!(p.probe_heartbeat_nodes);
    assert_eq!(p.interval, Duration::from_millis(1500));
    assert_eq!(p.reply_codes, ReplyCodes::Any);
    assert_eq!(p.failure_threshold, 1);
    assert_eq!(p.success_threshold, 4);
}

#[test]
fn static_nodes_unknown_and_repeated_elements_warn() {
    let loaded = Config::from_xml(
        "<load-balancer-properties><sip><staticNodes><node><ip>10.0.0.5</ip>\
         <udpPort>5060</udpPort><weight>3</weight></node><peer/></staticNodes>\
         <probing><timeout>1</timeout></probing><probing><interval>1</interval></probing>\
         </sip></load-balancer-properties>",
    )
    .expect("accepted");
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "sip/staticNodes/node/weight: unknown element, ignored",
            "sip/staticNodes/peer: unknown element, ignored",
            "sip/probing: appears more than once, only the first is used",
            "sip/probing/timeout: unknown element, ignored",
        ]
    );
    assert_eq!(
        loaded.config.sip.probing.interval,
        Duration::from_millis(5000)
    );
}

#[test]
fn render_shows_static_nodes_and_probing() {
    let text = load(STATIC_NODES).render();
    for line in [
        "sip.staticNodes = asterisk-1 ip=10.0.0.5 udpPort=5060 tcpPort=5060 version=0,\
         freeswitch-1 ip=10.0.0.6 tlsPort=5061 wsPort=5066 wssPort=7443 version=2",
        "sip.probing.probeHeartbeatNodes = false",
        "sip.probing.interval = 5000 ms",
        "sip.probing.replyCodes = 2xx,404",
        "sip.probing.failureThreshold = 3",
        "sip.probing.successThreshold = 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }

    let text = Config::embedded_default().render();
    for line in [
        "sip.staticNodes = (none)",
        "sip.probing.probeHeartbeatNodes = false",
        "sip.probing.interval = 5000 ms",
        "sip.probing.replyCodes = (any)",
        "sip.probing.failureThreshold = 3",
        "sip.probing.successThreshold = 2",
        "sip.inviteFailoverTimeout = 1000 ms",
        "sip.startupGracePeriod = 5000 ms",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn render_lists_every_smpp_key() {
    let text = load(SAMPLE).render();
    for line in [
        "smpp.smppHost = 172.21.0.105",
        "smpp.smppExternalHost = (none)",
        "smpp.smppInternalHost = (none)",
        "smpp.smppPort = 2776",
        "smpp.smppSslPort = (off)",
        "smpp.remoteServers = 174.37.245.38:8000",
        "smpp.maxConnectionSize = 10",
        "smpp.nonBlockingSocketsEnabled = true",
        "smpp.defaultSessionCountersEnabled = true",
        "smpp.timeoutResponse = 10000 ms",
        "smpp.timeoutConnection = 1000 ms",
        "smpp.timeoutEnquire = 50000 ms",
        "smpp.reconnectPeriod = 1000 ms",
        "smpp.timeoutConnectionCheckClientSide = 1000 ms",
        "smpp.timeoutConnectionCheckServerSide = 1000 ms",
        "smpp.muxMode = true",
        "smpp.toNodeAlgorithmClass = round-robin (SmppToNodeRoundRobinAlgorithm)",
        "smpp.toProviderAlgorithmClass = round-robin (SmppToProviderRoundRobinAlgorithm)",
        "smpp.maxPduSize = 65536 octets",
        "smpp.providerWindow = 1000",
        "smpp.providerRate = (no limit)",
        "smpp.throttleQueueSize = 1000",
        "smpp.throttleQueueTimeout = 2000 ms",
        "smpp.receiptTableSize = 100000",
        "smpp.receiptTimeout = 86400000 ms",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    let c = load(
        "<load-balancer-properties><smpp><smppPort>2776</smppPort>\
         <remoteServers>10.0.0.1:2775,10.0.0.2:2775</remoteServers><muxMode>false</muxMode>\
         <toNodeAlgorithmClass>org.mobicents.tools.smpp.multiplexer.SmppToNodeSubmitToAllAlgorithm</toNodeAlgorithmClass>\
         <toProviderAlgorithmClass>active-standby</toProviderAlgorithmClass>\
         <maxPduSize>4096</maxPduSize><providerWindow>0</providerWindow>\
         <providerRate>50</providerRate><throttleQueueSize>10</throttleQueueSize>\
         <throttleQueueTimeout>500</throttleQueueTimeout><receiptTableSize>5</receiptTableSize>\
         <receiptTimeout>60000</receiptTimeout></smpp></load-balancer-properties>",
    );
    assert_eq!(c.smpp.max_pdu_size, 4096);
    assert_eq!(c.smpp.provider_rate, 50);
    assert_eq!(c.smpp.receipt_timeout, Duration::from_millis(60_000));
    let text = c.render();
    for line in [
        "smpp.remoteServers = 10.0.0.1:2775,10.0.0.2:2775",
        "smpp.muxMode = false",
        "smpp.toNodeAlgorithmClass = submit-to-all (SmppToNodeSubmitToAllAlgorithm)",
        "smpp.toProviderAlgorithmClass = active-standby (SmppToProviderActiveStandbyAlgorithm)",
        "smpp.maxPduSize = 4096 octets",
        "smpp.providerWindow = (no limit)",
        "smpp.providerRate = 50/s",
        "smpp.throttleQueueSize = 10",
        "smpp.throttleQueueTimeout = 500 ms",
        "smpp.receiptTableSize = 5",
        "smpp.receiptTimeout = 60000 ms",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}
