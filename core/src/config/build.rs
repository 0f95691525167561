//! From the raw element tree to the typed configuration: `<common>` and `<sip>`.
//! The other sections are in [`super::build_services`].

use super::error::{ConfigError, ConfigWarning};
use super::raw::Element;
use super::section::{compile, parse_bool, split_list, Ctx, Section};
use super::types::{
    AlgorithmConfig, AlgorithmKind, CommonConfig, Config, HostPort, LegConfig, LegPorts,
    RoutingRule, SipConfig,
};
use super::{build_nodes, build_services, ROOT};
use crate::node::Transport;
use std::time::Duration;

/// Builds the typed configuration from the root element, collecting errors and warnings.
pub(crate) fn build(root: &Element, ctx: &mut Ctx) -> Config {
    if root.name != ROOT {
        ctx.error(ConfigError::WrongRoot {
            found: root.name.clone(),
        });
    }
    let mut top = Section::new(Some(root), "");
    // Paths of top-level sections have no leading slash.
    let mut section = |ctx: &mut Ctx, name: &str| {
        let child = top.child(ctx, name);
        Section::new(child, name)
    };
    let common = read_common(section(ctx, "common"), ctx);
    let sip = read_sip(section(ctx, "sip"), ctx, &common);
    let http = build_services::read_http(section(ctx, "http"), ctx);
    let smpp = build_services::read_smpp(section(ctx, "smpp"), ctx);
    let ssl = build_services::read_ssl(section(ctx, "ssl"), ctx);
    let sip_stack = build_services::read_sip_stack(section(ctx, "sipStack"), ctx);
    let heartbeat = build_services::read_heartbeat(section(ctx, "heartbeat"), ctx);
    // Unknown top-level elements: paths without the leading slash.
    for child in &root.children {
        if !matches!(
            child.name.as_str(),
            "common" | "sip" | "http" | "smpp" | "ssl" | "sipStack" | "heartbeat"
        ) {
            ctx.warn(ConfigWarning::UnknownElement {
                path: child.name.clone(),
            });
        }
    }
    Config {
        common,
        sip,
        http,
        smpp,
        ssl,
        sip_stack,
        heartbeat,
    }
}

fn read_common(mut s: Section<'_>, ctx: &mut Ctx) -> CommonConfig {
    let api = s.port_setting(ctx, "apiPort");
    let statistic = s.port_setting(ctx, "statisticPort");
    let api_port = match (api, statistic) {
        (Some(api), Some(_)) => {
            ctx.warn(ConfigWarning::Superseded {
                ignored: s.path_of("statisticPort"),
                used: s.path_of("apiPort"),
            });
            api
        }
        (Some(port), None) | (None, Some(port)) => port,
        (None, None) => Some(2006),
    };
    let common = CommonConfig {
        host: s
            .string(ctx, "host")
            .unwrap_or_else(|| "127.0.0.1".to_owned()),
        ipv6_host: s
            .string(ctx, "ipv6Host")
            .unwrap_or_else(|| "::1".to_owned()),
        node_timeout: s.millis(ctx, "nodeTimeout", 8400),
        heartbeat_interval: s.millis(ctx, "heartbeatInterval", 150),
        api_port,
        shutdown_timeout: s.millis(ctx, "shutdownTimeout", 10_000),
        security_required: s.flag(ctx, "securityRequired", false),
        login: s.string(ctx, "login"),
        password: s.string(ctx, "password"),
    };
    for name in ["nodeTimeout", "heartbeatInterval"] {
        let value = if name == "nodeTimeout" {
            common.node_timeout
        } else {
            common.heartbeat_interval
        };
        if value < Duration::from_millis(15) {
            ctx.error(ConfigError::TooSmall {
                path: s.path_of(name),
                value: u64::try_from(value.as_millis()).unwrap_or(u64::MAX),
                min: 15,
            });
        }
    }
    s.unsupported(ctx, "cacheConfiguration", "unused by the reference too");
    s.unsupported(ctx, "cacheConfigFile", "unused by the reference too");
    let rmi = "RMI heartbeats are not supported; nodes use the HTTP/JSON heartbeat";
    s.unsupported(ctx, "rmiRegistryPort", rmi);
    s.unsupported(ctx, "rmiRemoteObjectPort", rmi);
    s.unsupported(
        ctx,
        "jmxHtmlAdapterPort",
        "JMX is replaced by /metrics and the JSON API on apiPort",
    );
    s.unsupported(
        ctx,
        "heartbeatPorts",
        "set heartbeat/heartbeatConfig/heartbeatPort",
    );
    s.unsupported(
        ctx,
        "nodeCommunicationProtocolClassName",
        "only the HTTP/JSON heartbeat is supported",
    );
    s.finish(ctx);
    common
}

fn read_sip(mut s: Section<'_>, ctx: &mut Ctx, common: &CommonConfig) -> SipConfig {
    let plural = s.list(ctx, "responsesStatusCodeNodeRemoval");
    let singular = s.list(ctx, "responseStatusCodeNodeRemoval");
    let (removal_path, removal) = match (plural, singular) {
        (Some(p), Some(_)) => {
            ctx.warn(ConfigWarning::Superseded {
                ignored: s.path_of("responseStatusCodeNodeRemoval"),
                used: s.path_of("responsesStatusCodeNodeRemoval"),
            });
            (s.path_of("responsesStatusCodeNodeRemoval"), Some(p))
        }
        (Some(p), None) => (s.path_of("responsesStatusCodeNodeRemoval"), Some(p)),
        (None, Some(p)) => (s.path_of("responseStatusCodeNodeRemoval"), Some(p)),
        (None, None) => (String::new(), None),
    };
    let responses_status_code_node_removal = match removal {
        None => vec![503],
        Some(list) => list
            .iter()
            .filter_map(|code| match code.parse::<u16>() {
                Ok(c) if (100..=699).contains(&c) => Some(c),
                _ => {
                    ctx.invalid(
                        removal_path.clone(),
                        code,
                        "expected SIP status codes 100-699",
                    );
                    None
                }
            })
            .collect(),
    };
    let send_5xx_status_code = s.number::<u16>(ctx, "isSend5xxResponseSatusCode", 503);
    if !(300..=699).contains(&send_5xx_status_code) {
        ctx.invalid(
            s.path_of("isSend5xxResponseSatusCode"),
            &send_5xx_status_code.to_string(),
            "expected a final SIP status code 300-699",
        );
    }
    let internal_transport = s.text(ctx, "internalTransport").and_then(|t| {
        let parsed = Transport::parse(t);
        if parsed.is_none() {
            ctx.invalid(
                s.path_of("internalTransport"),
                t,
                "expected UDP, TCP, TLS, WS or WSS",
            );
        }
        parsed
    });
    let traffic_percentage_increase = s.opt_number::<u32>(ctx, "trafficPercentageIncrease");
    if traffic_percentage_increase == Some(0) || traffic_percentage_increase > Some(100) {
        ctx.invalid(
            s.path_of("trafficPercentageIncrease"),
            &traffic_percentage_increase.unwrap_or_default().to_string(),
            "expected a percentage from 1 to 100",
        );
    }
    let extra_server_nodes = s
        .list(ctx, "extraServerNodes")
        .map(|l| host_ports(ctx, &s.path_of("extraServerNodes"), &l, Some(5060)))
        .unwrap_or_default();
    let rules = |s: &mut Section<'_>, ctx: &mut Ctx, name: &str| {
        let mut list = s.sub(ctx, name);
        let rules = read_routing_rules(&mut list, ctx);
        list.finish(ctx);
        rules
    };
    let routing_rules_ipv4 = rules(&mut s, ctx, "routingRulesIpv4");
    let routing_rules_ipv6 = rules(&mut s, ctx, "routingRulesIpv6");
    let mut static_list = s.sub(ctx, "staticNodes");
    let static_nodes = build_nodes::read_static_nodes(&mut static_list, ctx);
    static_list.finish(ctx);
    let probing = build_nodes::read_probing(s.sub(ctx, "probing"), ctx);
    let algorithm = read_algorithm(&mut s, ctx);
    let external = read_leg(s.sub(ctx, "external"), ctx, common, Some(5060));
    let internal = read_leg(s.sub(ctx, "internal"), ctx, common, None);
    let sip = SipConfig {
        public_ip: s.string(ctx, "publicIp"),
        public_ipv6: s.string(ctx, "publicIpv6"),
        send_trying: s.flag(ctx, "isSendTrying", true),
        use_ip_load_balancer_address_in_via: s.flag(
            ctx,
            "useIpLoadBalancerAddressInViaHeaders",
            false,
        ),
        performance_testing_mode: s.flag(ctx, "performanceTestingMode", false),
        extra_server_nodes,
        blocked_values: s
            .list(ctx, "blockedValues")
            .unwrap_or_else(|| split_list("sipvicious,sipcli,friendly-scanner")),
        send_5xx_response: s.flag(ctx, "isSend5xxResponse", false),
        send_5xx_status_code,
        send_5xx_reason: s.string(ctx, "isSend5xxResponseReasonHeader"),
        responses_status_code_node_removal,
        max_number_responses_with_error: s.number(ctx, "maxNumberResponsesWithError", 5),
        max_error_time: s.millis(ctx, "maxErrorTime", 300_000),
        use_with_nexmo: s.flag(ctx, "isUseWithNexmo", false),
        matching_hostname_for_route: s.string(ctx, "matchingHostnameForRoute"),
        filter_subdomain: s.flag(ctx, "isFilterSubdomain", false),
        internal_transport,
        traffic_rampup_cycle_period: s.opt_millis(ctx, "trafficRampupCyclePeriod"),
        traffic_percentage_increase,
        max_request_number_without_response: s.opt_number(ctx, "maxRequestNumberWithoutResponse"),
        max_response_time: s.opt_millis(ctx, "maxResponseTime"),
        routing_rules_ipv4,
        routing_rules_ipv6,
        invite_failover_timeout: s.millis(ctx, "inviteFailoverTimeout", 1000),
        startup_grace_period: s.millis(ctx, "startupGracePeriod", 5000),
        static_nodes,
        probing,
        algorithm,
        external,
        internal,
    };
    s.unsupported(
        ctx,
        "usePrettyEncoding",
        "headers are forwarded as received",
    );
    s.unsupported(
        ctx,
        "responseReasonNodeRemoval",
        "ignored by the reference too",
    );
    s.finish(ctx);
    sip
}

fn read_routing_rules(list: &mut Section<'_>, ctx: &mut Ctx) -> Vec<RoutingRule> {
    let mut rules = Vec::new();
    let path = list.path_of("rule");
    for rule in list.all("rule") {
        let mut r = Section::new(Some(rule), path.clone());
        let pattern = match r.text(ctx, "ipPattern") {
            Some(p) => compile(ctx, r.path_of("ipPattern"), p),
            None => {
                ctx.error(ConfigError::Required {
                    path: r.path_of("ipPattern"),
                    reason: "a routing rule needs an ipPattern".to_owned(),
                });
                None
            }
        };
        let patch = r.flag(ctx, "patch", false);
        r.finish(ctx);
        if let Some(ip_pattern) = pattern {
            rules.push(RoutingRule { ip_pattern, patch });
        }
    }
    rules
}

/// Reads `<sip><algorithm>` plus `subclusterMap` / `earlyDialogWorstCase`, which are accepted
/// both under `<sip>` (where the reference reads them) and under `<sip><algorithm>`.
fn read_algorithm(sip: &mut Section<'_>, ctx: &mut Ctx) -> AlgorithmConfig {
    let mut a = sip.sub(ctx, "algorithm");
    let kind = match a.text(ctx, "algorithmClass") {
        None => AlgorithmKind::CallIdAffinity,
        Some(name) => AlgorithmKind::parse(name).unwrap_or_else(|| {
            ctx.error(ConfigError::UnknownAlgorithm {
                path: a.path_of("algorithmClass"),
                value: name.to_owned(),
                known: AlgorithmKind::ALL
                    .iter()
                    .map(|k| k.short_name())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + " or the reference's class names",
            });
            AlgorithmKind::CallIdAffinity
        }),
    };
    let mut both = |ctx: &mut Ctx, name: &str| -> Option<(String, &str)> {
        let in_sip = sip.text(ctx, name).map(|t| (sip.path_of(name), t));
        let in_algorithm = a.text(ctx, name).map(|t| (a.path_of(name), t));
        match (in_sip, in_algorithm) {
            (Some(used), Some(ignored)) => {
                ctx.warn(ConfigWarning::Superseded {
                    ignored: ignored.0,
                    used: used.0.clone(),
                });
                Some(used)
            }
            (one, other) => one.or(other),
        }
    };
    let subcluster_map = both(ctx, "subclusterMap")
        .map(|(path, text)| parse_subcluster_map(ctx, path, text))
        .unwrap_or_default();
    let early_dialog_worst_case = match both(ctx, "earlyDialogWorstCase") {
        None => false,
        Some((path, text)) => parse_bool(text).unwrap_or_else(|| {
            ctx.invalid(path, text, "expected true or false");
            false
        }),
    };
    let config = AlgorithmConfig {
        kind,
        sip_header_affinity_key: a
            .string(ctx, "sipHeaderAffinityKey")
            .unwrap_or_else(|| "Call-ID".to_owned()),
        sip_header_affinity_exclusion_pattern: a.regex(ctx, "sipHeaderAffinityExclusionPattern"),
        sip_header_affinity_fallback_key: a.string(ctx, "sipHeaderAffinityFallbackKey"),
        call_id_affinity_group_failover: a.flag(ctx, "callIdAffinityGroupFailover", false),
        call_id_affinity_max_time_in_cache: Duration::from_secs(a.number(
            ctx,
            "callIdAffinityMaxTimeInCache",
            500,
        )),
        http_affinity_key: a
            .string(ctx, "httpAffinityKey")
            .unwrap_or_else(|| "appsession".to_owned()),
        subcluster_map,
        early_dialog_worst_case,
    };
    a.unsupported(
        ctx,
        "persistentConsistentHashCacheConfiguration",
        "the persistent consistent hash keeps its table in memory",
    );
    a.finish(ctx);
    config
}

/// `( ip1, ip2 ) ( ip3,ip4, ip5 )` → groups; a duplicate inside a group is an error.
fn parse_subcluster_map(ctx: &mut Ctx, path: String, text: &str) -> Vec<Vec<String>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let inner = compact.strip_prefix('(').and_then(|s| s.strip_suffix(')'));
    let Some(inner) = inner else {
        ctx.invalid(path, text, "expected groups like (ip1,ip2)(ip3,ip4)");
        return Vec::new();
    };
    let mut groups = Vec::new();
    for group in inner.split(")(") {
        let members = split_list(group);
        let mut seen: Vec<&String> = Vec::new();
        for m in &members {
            if m.contains('(') || m.contains(')') {
                ctx.invalid(
                    path.clone(),
                    text,
                    "expected groups like (ip1,ip2)(ip3,ip4)",
                );
                return Vec::new();
            }
            if seen.contains(&m) {
                ctx.invalid(path.clone(), text, "an address appears twice in one group");
                return Vec::new();
            }
            seen.push(m);
        }
        groups.push(members);
    }
    groups
}

/// Parses `host[:port]` entries; `default_port` None makes the port mandatory.
pub(crate) fn host_ports(
    ctx: &mut Ctx,
    path: &str,
    entries: &[String],
    default_port: Option<u16>,
) -> Vec<HostPort> {
    let mut out = Vec::new();
    for entry in entries {
        let (host, port) = match entry.rsplit_once(':') {
            // A bare IPv6 address has several colons and no brackets: no port.
            Some((host, _)) if host.contains(':') && !host.ends_with(']') => (entry.as_str(), None),
            Some((host, port)) => (host, Some(port)),
            None => (entry.as_str(), None),
        };
        let port = match (port, default_port) {
            (Some(p), _) => p.parse::<u16>().ok().filter(|p| *p != 0),
            (None, d) => d,
        };
        match port {
            Some(port) if !host.is_empty() => out.push(HostPort {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port,
            }),
            _ => ctx.invalid(path.to_owned(), entry, "expected host:port"),
        }
    }
    out
}

const TRANSPORT_NAMES: [(Transport, &str); 5] = [
    (Transport::Udp, "Udp"),
    (Transport::Tcp, "Tcp"),
    (Transport::Tls, "Tls"),
    (Transport::Ws, "Ws"),
    (Transport::Wss, "Wss"),
];

/// The element name of the port of `t` with `prefix` (`""`, `ipv6`, `ipLoadBalancer`,
/// `ipv6LoadBalancer`), e.g. `ipv6UdpPort`.
pub(crate) fn port_element(prefix: &str, t: Transport) -> String {
    let name = TRANSPORT_NAMES
        .iter()
        .find(|(tt, _)| *tt == t)
        .map_or("", |(_, n)| n);
    if prefix.is_empty() {
        format!("{}Port", name.to_ascii_lowercase())
    } else {
        format!("{prefix}{name}Port")
    }
}

fn read_ports(s: &mut Section<'_>, ctx: &mut Ctx, prefix: &str, defaults: LegPorts) -> LegPorts {
    let mut read =
        |t: Transport, default: Option<u16>| s.port(ctx, &port_element(prefix, t), default);
    LegPorts {
        udp: read(Transport::Udp, defaults.udp),
        tcp: read(Transport::Tcp, defaults.tcp),
        tls: read(Transport::Tls, defaults.tls),
        ws: read(Transport::Ws, defaults.ws),
        wss: read(Transport::Wss, defaults.wss),
    }
}

fn read_leg(
    mut s: Section<'_>,
    ctx: &mut Ctx,
    common: &CommonConfig,
    default_port: Option<u16>,
) -> LegConfig {
    let defaults = LegPorts {
        udp: default_port,
        tcp: default_port,
        ..LegPorts::default()
    };
    let leg = LegConfig {
        host: s.string(ctx, "host").unwrap_or_else(|| common.host.clone()),
        ipv6_host: s
            .string(ctx, "ipv6Host")
            .unwrap_or_else(|| common.ipv6_host.clone()),
        ports: read_ports(&mut s, ctx, "", defaults),
        ipv6_ports: read_ports(&mut s, ctx, "ipv6", LegPorts::default()),
        ip_load_balancer_addresses: s.list(ctx, "ipLoadBalancerAddress").unwrap_or_default(),
        ipv6_load_balancer_addresses: s.list(ctx, "ipv6LoadBalancerAddress").unwrap_or_default(),
        ip_load_balancer_ports: read_ports(&mut s, ctx, "ipLoadBalancer", LegPorts::default()),
        ipv6_load_balancer_ports: read_ports(&mut s, ctx, "ipv6LoadBalancer", LegPorts::default()),
    };
    s.finish(ctx);
    leg
}
