//! Every validation error, checked by its message (element path and reason).

use switchboard_core::config::{Config, ConfigError};

/// Loads `body` inside the root element and returns the error messages.
fn errors(body: &str) -> Vec<String> {
    let xml = format!("<load-balancer-properties>{body}</load-balancer-properties>");
    match Config::from_xml(&xml) {
        Ok(_) => panic!("accepted: {xml}"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

fn one_error(body: &str) -> String {
    let all = errors(body);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.into_iter().next().unwrap_or_default()
}

fn accepted(body: &str) {
    let xml = format!("<load-balancer-properties>{body}</load-balancer-properties>");
    if let Err(e) = Config::from_xml(&xml) {
        panic!("refused:\n{e}");
    }
}

const KEYS: &str = "<ssl><keyStore>/etc/switchboard/lb.pem</keyStore></ssl>";

#[test]
fn unknown_algorithm() {
    let e = one_error(
        "<sip><algorithm><algorithmClass>org.example.RandomAlgorithm</algorithmClass>\
         </algorithm></sip>",
    );
    assert!(
        e.starts_with(
            "sip/algorithm/algorithmClass: unknown algorithm \"org.example.RandomAlgorithm\""
        ),
        "{e}"
    );
    assert!(e.contains("call-id-affinity"), "{e}");
}

#[test]
fn unknown_smpp_algorithm() {
    let e = one_error("<smpp><toNodeAlgorithmClass>Foo</toNodeAlgorithmClass></smpp>");
    assert!(
        e.starts_with("smpp/toNodeAlgorithmClass: unknown algorithm \"Foo\""),
        "{e}"
    );
}

#[test]
fn port_out_of_range() {
    let e = one_error("<sip><external><tcpPort>70000</tcpPort></external></sip>");
    assert_eq!(
        e,
        "sip/external/tcpPort: invalid port \"70000\" (expected a number from 0 to 65535, 0 = off)"
    );
}

#[test]
fn port_not_a_number() {
    let e = one_error("<http><httpPort>http</httpPort></http>");
    assert!(e.starts_with("http/httpPort: invalid port \"http\""), "{e}");
    let e = one_error("<sip><internal><udpPort>-1</udpPort></internal></sip>");
    assert!(
        e.starts_with("sip/internal/udpPort: invalid port \"-1\""),
        "{e}"
    );
}

#[test]
fn other_invalid_values_name_their_path() {
    let e = one_error("<common><nodeTimeout>soon</nodeTimeout></common>");
    assert!(
        e.starts_with("common/nodeTimeout: invalid value \"soon\""),
        "{e}"
    );
    let e = one_error("<sip><isSendTrying>maybe</isSendTrying></sip>");
    assert!(
        e.starts_with("sip/isSendTrying: invalid value \"maybe\""),
        "{e}"
    );
    let e = one_error("<sip><internalTransport>SCTP</internalTransport></sip>");
    assert!(
        e.starts_with("sip/internalTransport: invalid value \"SCTP\""),
        "{e}"
    );
    let e = one_error("<smpp><remoteServers>10.0.0.1</remoteServers></smpp>");
    assert!(
        e.starts_with("smpp/remoteServers: invalid value \"10.0.0.1\" (expected host:port)"),
        "{e}"
    );
    let e = one_error("<sip><subclusterMap>(1.1.1.1,1.1.1.1)</subclusterMap></sip>");
    assert!(e.starts_with("sip/subclusterMap: invalid value"), "{e}");
    let e = one_error(
        "<sipStack><property><key>gov.nist.javax.sip.TLS_CLIENT_AUTH_TYPE</key>\
         <value>Sometimes</value></property></sipStack>",
    );
    assert!(
        e.starts_with("sipStack/property[gov.nist.javax.sip.TLS_CLIENT_AUTH_TYPE]: invalid value \"Sometimes\""),
        "{e}"
    );
}

#[test]
fn external_and_internal_udp_clash_on_same_host() {
    let e = one_error("<sip><internal><udpPort>5060</udpPort></internal></sip>");
    assert_eq!(
        e,
        "sip/internal/udpPort: port 5060/udp on 127.0.0.1 is already used by sip/external/udpPort"
    );
}

#[test]
fn same_port_on_different_hosts_does_not_clash() {
    accepted("<sip><internal><host>10.0.0.1</host><udpPort>5060</udpPort></internal></sip>");
}

#[test]
fn udp_and_tcp_on_the_same_number_do_not_clash() {
    accepted("<sip><internal><udpPort>2006</udpPort></internal></sip>");
}

#[test]
fn sip_tcp_port_clashes_with_api_port() {
    let e = one_error("<sip><external><tcpPort>2006</tcpPort></external></sip>");
    assert_eq!(
        e,
        "common/apiPort: port 2006/tcp on 127.0.0.1 is already used by sip/external/tcpPort"
    );
}

#[test]
fn heartbeat_and_http_ports_clash_with_sip() {
    let e = one_error("<sip><internal><wsPort>2610</wsPort></internal></sip>");
    assert!(
        e.starts_with("heartbeat/heartbeatConfig/heartbeatPort: port 2610/tcp on 127.0.0.1 is already used by sip/internal/wsPort"),
        "{e}"
    );
    let e = one_error("<http><httpPort>5060</httpPort></http>");
    assert!(
        e.starts_with(
            "http/httpPort: port 5060/tcp on 127.0.0.1 is already used by sip/external/tcpPort"
        ),
        "{e}"
    );
    let e = one_error("<http><httpPort>2006</httpPort></http>");
    assert!(
        e.starts_with(
            "http/httpPort: port 2006/tcp on 127.0.0.1 is already used by common/apiPort"
        ),
        "{e}"
    );
}

#[test]
fn ip_load_balancer_address_without_port() {
    let e = one_error("<sip><external><ipLoadBalancerAddress>50.17.127.170</ipLoadBalancerAddress></external></sip>");
    assert_eq!(
        e,
        "sip/external/ipLoadBalancerAddress: an IP load balancer address is set but no ipLoadBalancer*Port is configured for it"
    );
    let e = one_error(
        "<sip><internal><ipv6LoadBalancerAddress>::5</ipv6LoadBalancerAddress></internal></sip>",
    );
    assert!(
        e.starts_with("sip/internal/ipv6LoadBalancerAddress: "),
        "{e}"
    );
}

#[test]
fn ip_load_balancer_port_unpaired_in_two_entry_mode() {
    let e = one_error(
        "<sip><external><ipLoadBalancerAddress>1.2.3.4</ipLoadBalancerAddress>\
         <ipLoadBalancerUdpPort>5060</ipLoadBalancerUdpPort><ipLoadBalancerTcpPort>5060</ipLoadBalancerTcpPort></external>\
         <internal><udpPort>5065</udpPort><ipLoadBalancerAddress>10.0.0.9</ipLoadBalancerAddress>\
         <ipLoadBalancerUdpPort>5065</ipLoadBalancerUdpPort></internal></sip>",
    );
    assert_eq!(
        e,
        "sip/external/ipLoadBalancerTcpPort: is set but sip/internal/ipLoadBalancerTcpPort is not (both legs have an IP load balancer address)"
    );
}

#[test]
fn node_timeout_and_heartbeat_interval_minimum() {
    let e = one_error("<common><nodeTimeout>10</nodeTimeout></common>");
    assert_eq!(e, "common/nodeTimeout: 10 ms is too small (minimum 15 ms)");
    let e = one_error("<common><heartbeatInterval>14</heartbeatInterval></common>");
    assert_eq!(
        e,
        "common/heartbeatInterval: 14 ms is too small (minimum 15 ms)"
    );
    accepted(
        "<common><nodeTimeout>15</nodeTimeout><heartbeatInterval>15</heartbeatInterval></common>",
    );
}

#[test]
fn tls_listeners_need_key_material() {
    let all = errors(
        "<sip><external><tlsPort>5061</tlsPort><wssPort>5063</wssPort></external>\
         <internal><ipv6TlsPort>5081</ipv6TlsPort></internal></sip>\
         <http><httpsPort>2081</httpsPort></http><smpp><smppSslPort>2777</smppSslPort></smpp>",
    );
    let paths: Vec<&str> = all
        .iter()
        .map(|e| e.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        paths,
        [
            "sip/external/tlsPort",
            "sip/external/wssPort",
            "sip/internal/ipv6TlsPort",
            "http/httpsPort",
            "smpp/smppSslPort"
        ]
    );
    assert!(
        all[0].contains("a TLS listener needs key material"),
        "{}",
        all[0]
    );
    accepted(&format!(
        "{KEYS}<sip><external><tlsPort>5061</tlsPort></external></sip><http><httpsPort>2081</httpsPort></http>"
    ));
}

#[test]
fn certificate_without_private_key() {
    let e = one_error("<ssl><certificate>/etc/c.pem</certificate></ssl>");
    assert_eq!(e, "ssl/certificate: is set but ssl/privateKey is not");
}

#[test]
fn bad_regexes_name_their_path() {
    let e = one_error(
        "<sip><algorithm><sipHeaderAffinityExclusionPattern>(unclosed</sipHeaderAffinityExclusionPattern></algorithm></sip>",
    );
    assert!(
        e.starts_with("sip/algorithm/sipHeaderAffinityExclusionPattern: invalid regular expression \"(unclosed\""),
        "{e}"
    );
    let e = one_error(
        "<sip><routingRulesIpv4><rule><ipPattern>[</ipPattern></rule></routingRulesIpv4></sip>",
    );
    assert!(
        e.starts_with("sip/routingRulesIpv4/rule/ipPattern: invalid regular expression"),
        "{e}"
    );
    let e =
        one_error("<http><urlrewrite><rule><from>*x</from><to>/</to></rule></urlrewrite></http>");
    assert!(
        e.starts_with("http/urlrewrite/rule/from: invalid regular expression"),
        "{e}"
    );
}

#[test]
fn malformed_xml_has_line_and_column() {
    let text = "<?xml version=\"1.0\"?>\n<load-balancer-properties>\n  <common>\n    <host>1.2.3.4</hots>\n";
    let e = Config::from_xml(text).expect_err("malformed");
    assert_eq!(e.errors().len(), 1);
    match &e.errors()[0] {
        ConfigError::Xml { line, column, .. } => assert_eq!((*line, *column), (4, 18)),
        other => panic!("{other}"),
    }
    assert!(
        e.to_string()
            .starts_with("malformed XML at line 4, column 18: "),
        "{e}"
    );

    let e = Config::from_xml("<load-balancer-properties>\n<common>\n").expect_err("unclosed");
    assert!(e.to_string().contains("is not closed"), "{e}");
    let e = Config::from_xml("").expect_err("empty");
    assert!(e.to_string().contains("no root element"), "{e}");
}

#[test]
fn wrong_root() {
    let e = Config::from_xml("<configuration/>").expect_err("wrong root");
    assert_eq!(
        e.to_string(),
        "configuration: the root element must be <load-balancer-properties>"
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let all = errors(
        "<common><nodeTimeout>1</nodeTimeout></common>\
         <sip><algorithm><algorithmClass>nope</algorithmClass></algorithm>\
         <external><udpPort>99999</udpPort></external></sip>",
    );
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(all.iter().any(|e| e.starts_with("common/nodeTimeout")));
    assert!(all
        .iter()
        .any(|e| e.starts_with("sip/algorithm/algorithmClass")));
    assert!(all.iter().any(|e| e.starts_with("sip/external/udpPort")));
}

/// `<sip><staticNodes>` holding `nodes`.
fn static_nodes(nodes: &str) -> String {
    format!("<sip><staticNodes>{nodes}</staticNodes></sip>")
}

#[test]
fn static_node_without_ip() {
    let e = one_error(&static_nodes(
        "<node><hostName>a</hostName><udpPort>5060</udpPort></node>",
    ));
    assert_eq!(
        e,
        "sip/staticNodes/node/ip: a static node needs an ip (an IPv4 or IPv6 address)"
    );
}

#[test]
fn static_node_ip_not_an_ip_literal() {
    for ip in [
        "asterisk.example.com",
        "10.0.0.256",
        "[10.0.0.5]",
        "2001:db8::5]",
    ] {
        let e = one_error(&static_nodes(&format!(
            "<node><ip>{ip}</ip><udpPort>5060</udpPort></node>"
        )));
        assert!(
            e.starts_with(&format!(
                "sip/staticNodes/node/ip: invalid value {ip:?} (expected an IPv4 or IPv6 address"
            )),
            "{e}"
        );
    }
}

#[test]
fn static_node_port_out_of_range() {
    for (element, value) in [
        ("udpPort", "0"),
        ("tcpPort", "65536"),
        ("tlsPort", "-1"),
        ("wsPort", "ws"),
    ] {
        let e = one_error(&static_nodes(&format!(
            "<node><ip>10.0.0.5</ip><{element}>{value}</{element}></node>"
        )));
        assert_eq!(
            e,
            format!(
                "sip/staticNodes/node/{element}: invalid value {value:?} (expected a port from 1 to 65535)"
            )
        );
    }
}

#[test]
fn static_node_without_sip_port() {
    let e = one_error(&static_nodes(
        "<node><hostName>a</hostName><ip>10.0.0.5</ip><version>1</version></node>",
    ));
    assert_eq!(
        e,
        "sip/staticNodes/node: a static node needs at least one SIP port: udpPort, tcpPort, \
         tlsPort, wsPort or wssPort (node 10.0.0.5)"
    );
}

#[test]
fn duplicate_static_node() {
    let e = one_error(&static_nodes(
        "<node><hostName>a</hostName><ip>2001:db8::5</ip><udpPort>5060</udpPort></node>\
         <node><hostName>b</hostName><ip>[2001:db8:0::5]</ip><udpPort>5060</udpPort></node>",
    ));
    assert_eq!(
        e,
        "sip/staticNodes/node: static node b ip=2001:db8::5 udpPort=5060 version=0 has the same \
         ip and ports as an earlier node"
    );
}

#[test]
fn bad_reply_codes() {
    for code in ["700", "099", "200ok", "7xx", "0xx", "22xx", "x"] {
        let e = one_error(&format!(
            "<sip><probing><replyCodes>200,{code}</replyCodes></probing></sip>"
        ));
        assert_eq!(
            e,
            format!(
                "sip/probing/replyCodes: invalid value {code:?} (expected status codes 100-699 or classes 1xx-6xx, e.g. 2xx,404)"
            )
        );
    }
}

#[test]
fn probing_interval_zero() {
    let e = one_error("<sip><probing><interval>0</interval></probing></sip>");
    assert_eq!(e, "sip/probing/interval: 0 ms is too small (minimum 1 ms)");
    accepted("<sip><probing><interval>1</interval></probing></sip>");
}

#[test]
fn probing_thresholds_zero() {
    for name in ["failureThreshold", "successThreshold"] {
        let e = one_error(&format!("<sip><probing><{name}>0</{name}></probing></sip>"));
        assert_eq!(
            e,
            format!(
                "sip/probing/{name}: invalid value \"0\" (expected a number of consecutive probes, at least 1)"
            )
        );
        accepted(&format!("<sip><probing><{name}>1</{name}></probing></sip>"));
    }
}

#[test]
fn static_node_and_probing_errors_are_reported_at_once() {
    let all = errors(
        "<sip><staticNodes><node><udpPort>0</udpPort></node>\
         <node><ip>10.0.0.5</ip></node></staticNodes>\
         <probing><interval>0</interval><replyCodes>9xx</replyCodes>\
         <successThreshold>0</successThreshold></probing></sip>",
    );
    let paths: Vec<&str> = all
        .iter()
        .map(|e| e.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        paths,
        [
            "sip/staticNodes/node/ip",
            "sip/staticNodes/node/udpPort",
            "sip/staticNodes/node",
            "sip/probing/interval",
            "sip/probing/replyCodes",
            "sip/probing/successThreshold",
        ],
        "{all:#?}"
    );
}

#[test]
fn smpp_max_pdu_size_range() {
    let e = one_error("<smpp><maxPduSize>15</maxPduSize></smpp>");
    assert_eq!(
        e,
        "smpp/maxPduSize: 15 is too small (allowed 16 to 16777216: the largest command_length \
         accepted in octets; every PDU has a 16-octet header)"
    );
    let e = one_error("<smpp><maxPduSize>16777217</maxPduSize></smpp>");
    assert!(
        e.starts_with("smpp/maxPduSize: 16777217 is too large (allowed 16 to 16777216"),
        "{e}"
    );
    accepted("<smpp><maxPduSize>16</maxPduSize></smpp>");
    accepted("<smpp><maxPduSize>16777216</maxPduSize></smpp>");
}

#[test]
fn smpp_provider_window_and_throttle_queue_limits() {
    let all = errors(
        "<smpp><providerWindow>1000001</providerWindow>\
         <throttleQueueSize>4000000</throttleQueueSize></smpp>",
    );
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(
        all[0].starts_with("smpp/providerWindow: 1000001 is too large (allowed 0 to 1000000"),
        "{}",
        all[0]
    );
    assert!(
        all[1].starts_with("smpp/throttleQueueSize: 4000000 is too large (allowed 0 to 1000000"),
        "{}",
        all[1]
    );
    accepted(
        "<smpp><providerWindow>0</providerWindow><throttleQueueSize>1000000</throttleQueueSize>\
         <providerRate>0</providerRate></smpp>",
    );
}

#[test]
fn smpp_tls_port_alone_needs_key_material() {
    let e = one_error(
        "<smpp><smppSslPort>2777</smppSslPort><remoteServers>127.0.0.1:2775</remoteServers></smpp>",
    );
    assert!(
        e.starts_with("smpp/smppSslPort: a TLS listener needs key material"),
        "{e}"
    );
    accepted(&format!(
        "{KEYS}<smpp><smppSslPort>2777</smppSslPort><remoteServers>127.0.0.1:2775</remoteServers></smpp>"
    ));
}
