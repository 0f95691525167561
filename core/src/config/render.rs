//! The effective configuration as text: one `section.key = value` line per setting, defaults
//! included, sections separated by a blank line. Keys use the XML element names.

use super::build::port_element;
use super::types::{
    Config, HostPort, LegConfig, LegPorts, ReplyCode, ReplyCodes, SmppToNodeAlgorithm,
    SmppToProviderAlgorithm, StaticNode,
};
use crate::node::Transport;
use std::fmt::{self, Display, Write};
use std::time::Duration;

struct Out<'f, 'a> {
    f: &'f mut fmt::Formatter<'a>,
    prefix: String,
}

const NONE: &str = "(none)";
const OFF: &str = "(off)";
const ANY: &str = "(any)";
const UNLIMITED: &str = "(no limit)";

/// A limit where `0` means none: `1000`, `50/s`, or `(no limit)`.
fn limit(value: u32, unit: &str) -> String {
    if value == 0 {
        UNLIMITED.to_owned()
    } else {
        format!("{value}{unit}")
    }
}

impl Out<'_, '_> {
    fn line(&mut self, key: &str, value: impl Display) -> fmt::Result {
        writeln!(self.f, "{}.{} = {}", self.prefix, key, value)
    }

    fn opt(&mut self, key: &str, value: Option<impl Display>) -> fmt::Result {
        match value {
            Some(v) => self.line(key, v),
            None => self.line(key, NONE),
        }
    }

    fn port(&mut self, key: &str, port: Option<u16>) -> fmt::Result {
        match port {
            Some(p) => self.line(key, p),
            None => self.line(key, OFF),
        }
    }

    fn ms(&mut self, key: &str, d: Duration) -> fmt::Result {
        self.line(key, format_args!("{} ms", d.as_millis()))
    }

    fn opt_ms(&mut self, key: &str, d: Option<Duration>) -> fmt::Result {
        self.opt(key, d.map(|d| format!("{} ms", d.as_millis())))
    }

    fn list<T: Display>(&mut self, key: &str, items: &[T]) -> fmt::Result {
        if items.is_empty() {
            return self.line(key, NONE);
        }
        let mut joined = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                joined.push(',');
            }
            let _ = write!(joined, "{item}");
        }
        self.line(key, joined)
    }

    fn section(&mut self, prefix: &str) -> fmt::Result {
        if !self.prefix.is_empty() {
            writeln!(self.f)?;
        }
        self.prefix = prefix.to_owned();
        Ok(())
    }

    fn ports(&mut self, prefix: &str, ports: &LegPorts) -> fmt::Result {
        for t in Transport::ALL {
            self.port(&port_element(prefix, t), ports.get(t))?;
        }
        Ok(())
    }

    fn leg(&mut self, leg: &LegConfig) -> fmt::Result {
        self.line("host", &leg.host)?;
        self.line("ipv6Host", &leg.ipv6_host)?;
        self.ports("", &leg.ports)?;
        self.ports("ipv6", &leg.ipv6_ports)?;
        self.list("ipLoadBalancerAddress", &leg.ip_load_balancer_addresses)?;
        self.list("ipv6LoadBalancerAddress", &leg.ipv6_load_balancer_addresses)?;
        self.ports("ipLoadBalancer", &leg.ip_load_balancer_ports)?;
        self.ports("ipv6LoadBalancer", &leg.ipv6_load_balancer_ports)
    }
}

impl Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `asterisk-1 ip=10.0.0.5 udpPort=5060 tcpPort=5060 version=0`: the ports that are set only.
impl Display for StaticNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ip={}", self.host_name, self.ip)?;
        for t in Transport::ALL {
            if let Some(port) = self.ports.get(t) {
                write!(f, " {}={port}", port_element("", t))?;
            }
        }
        write!(f, " version={}", self.version)
    }
}

/// `404` or `2xx`, as written in `replyCodes`.
impl Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyCode::Code(code) => write!(f, "{code}"),
            ReplyCode::Class(class) => write!(f, "{class}xx"),
        }
    }
}

/// Renders every effective value, defaults included (used by `--check-config` and the startup
/// log).
impl Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut o = Out {
            f,
            prefix: String::new(),
        };
        let c = &self.common;
        o.section("common")?;
        o.line("host", &c.host)?;
        o.line("ipv6Host", &c.ipv6_host)?;
        o.ms("nodeTimeout", c.node_timeout)?;
        o.ms("heartbeatInterval", c.heartbeat_interval)?;
        o.port("apiPort", c.api_port)?;
        o.ms("shutdownTimeout", c.shutdown_timeout)?;
        o.line("securityRequired", c.security_required)?;
        o.opt("login", c.login.as_ref())?;
        o.opt("password", c.password.as_ref().map(|_| "(set)"))?;

        let s = &self.sip;
        o.section("sip")?;
        o.opt("publicIp", s.public_ip.as_ref())?;
        o.opt("publicIpv6", s.public_ipv6.as_ref())?;
        o.line("isSendTrying", s.send_trying)?;
        o.line(
            "useIpLoadBalancerAddressInViaHeaders",
            s.use_ip_load_balancer_address_in_via,
        )?;
        o.line("performanceTestingMode", s.performance_testing_mode)?;
        o.list("extraServerNodes", &s.extra_server_nodes)?;
        o.list("blockedValues", &s.blocked_values)?;
        o.line("isSend5xxResponse", s.send_5xx_response)?;
        o.line("isSend5xxResponseSatusCode", s.send_5xx_status_code)?;
        o.opt("isSend5xxResponseReasonHeader", s.send_5xx_reason.as_ref())?;
        o.list(
            "responsesStatusCodeNodeRemoval",
            &s.responses_status_code_node_removal,
        )?;
        o.line(
            "maxNumberResponsesWithError",
            s.max_number_responses_with_error,
        )?;
        o.ms("maxErrorTime", s.max_error_time)?;
        o.line("isUseWithNexmo", s.use_with_nexmo)?;
        o.opt(
            "matchingHostnameForRoute",
            s.matching_hostname_for_route.as_ref(),
        )?;
        o.line("isFilterSubdomain", s.filter_subdomain)?;
        o.opt(
            "internalTransport",
            s.internal_transport.map(|t| t.as_str()),
        )?;
        o.opt_ms("trafficRampupCyclePeriod", s.traffic_rampup_cycle_period)?;
        o.opt(
            "trafficPercentageIncrease",
            s.traffic_percentage_increase.map(|p| format!("{p} %")),
        )?;
        o.opt(
            "maxRequestNumberWithoutResponse",
            s.max_request_number_without_response,
        )?;
        o.opt_ms("maxResponseTime", s.max_response_time)?;
        o.ms("inviteFailoverTimeout", s.invite_failover_timeout)?;
        o.ms("startupGracePeriod", s.startup_grace_period)?;
        for (name, rules) in [
            ("routingRulesIpv4", &s.routing_rules_ipv4),
            ("routingRulesIpv6", &s.routing_rules_ipv6),
        ] {
            let rendered: Vec<String> = rules
                .iter()
                .map(|r| format!("{} patch={}", r.ip_pattern.as_str(), r.patch))
                .collect();
            o.list(name, &rendered)?;
        }
        o.list("staticNodes", &s.static_nodes)?;

        let a = &s.algorithm;
        o.section("sip.algorithm")?;
        o.line(
            "algorithmClass",
            format_args!("{} ({})", a.kind.short_name(), a.kind.java_class()),
        )?;
        o.line("sipHeaderAffinityKey", &a.sip_header_affinity_key)?;
        o.opt(
            "sipHeaderAffinityExclusionPattern",
            a.sip_header_affinity_exclusion_pattern
                .as_ref()
                .map(|r| r.as_str()),
        )?;
        o.opt(
            "sipHeaderAffinityFallbackKey",
            a.sip_header_affinity_fallback_key.as_ref(),
        )?;
        o.line(
            "callIdAffinityGroupFailover",
            a.call_id_affinity_group_failover,
        )?;
        o.line(
            "callIdAffinityMaxTimeInCache",
            format_args!("{} s", a.call_id_affinity_max_time_in_cache.as_secs()),
        )?;
        o.line("httpAffinityKey", &a.http_affinity_key)?;
        let groups: Vec<String> = a
            .subcluster_map
            .iter()
            .map(|g| format!("({})", g.join(",")))
            .collect();
        o.opt(
            "subclusterMap",
            (!groups.is_empty()).then(|| groups.concat()),
        )?;
        o.line("earlyDialogWorstCase", a.early_dialog_worst_case)?;

        let p = &s.probing;
        o.section("sip.probing")?;
        o.line("probeHeartbeatNodes", p.probe_heartbeat_nodes)?;
        o.ms("interval", p.interval)?;
        match &p.reply_codes {
            ReplyCodes::Any => o.line("replyCodes", ANY)?,
            ReplyCodes::Listed(codes) => o.list("replyCodes", codes)?,
        }
        o.line("failureThreshold", p.failure_threshold)?;
        o.line("successThreshold", p.success_threshold)?;

        o.section("sip.external")?;
        o.leg(&s.external)?;
        o.section("sip.internal")?;
        o.leg(&s.internal)?;

        let h = &self.http;
        o.section("http")?;
        o.port("httpPort", h.http_port)?;
        o.port("httpsPort", h.https_port)?;
        o.opt("unavailableHost", h.unavailable_host.as_ref())?;
        o.opt(
            "requestCheckPattern",
            h.request_check_pattern.as_ref().map(|r| r.as_str()),
        )?;
        o.opt("maxContentLength", h.max_content_length)?;
        let rules: Vec<String> = h
            .url_rewrite
            .iter()
            .map(|r| format!("{} -> {}", r.from.as_str(), r.to))
            .collect();
        o.list("urlrewrite", &rules)?;
        o.port("ipv6HttpPort", h.ipv6_http_port)?;
        o.port("ipv6HttpsPort", h.ipv6_https_port)?;
        o.line("xForwardedHeaders", h.x_forwarded_headers)?;
        o.ms("requestHeadTimeout", h.request_head_timeout)?;
        o.ms("nodeResponseTimeout", h.node_response_timeout)?;
        o.ms("keepAliveTimeout", h.keep_alive_timeout)?;
        o.ms("tunnelIdleTimeout", h.tunnel_idle_timeout)?;

        let m = &self.smpp;
        o.section("smpp")?;
        o.opt("smppHost", m.smpp_host.as_ref())?;
        o.opt("smppExternalHost", m.smpp_external_host.as_ref())?;
        o.opt("smppInternalHost", m.smpp_internal_host.as_ref())?;
        o.port("smppPort", m.smpp_port)?;
        o.port("smppSslPort", m.smpp_ssl_port)?;
        o.list("remoteServers", &m.remote_servers)?;
        o.line("maxConnectionSize", m.max_connection_size)?;
        o.line("nonBlockingSocketsEnabled", m.non_blocking_sockets_enabled)?;
        o.line(
            "defaultSessionCountersEnabled",
            m.default_session_counters_enabled,
        )?;
        o.ms("timeoutResponse", m.timeout_response)?;
        o.ms("timeoutConnection", m.timeout_connection)?;
        o.ms("timeoutEnquire", m.timeout_enquire)?;
        o.ms("reconnectPeriod", m.reconnect_period)?;
        o.ms(
            "timeoutConnectionCheckClientSide",
            m.timeout_connection_check_client_side,
        )?;
        o.ms(
            "timeoutConnectionCheckServerSide",
            m.timeout_connection_check_server_side,
        )?;
        o.line("muxMode", m.mux_mode)?;
        let to_node = match m.to_node_algorithm {
            SmppToNodeAlgorithm::RoundRobin => "round-robin (SmppToNodeRoundRobinAlgorithm)",
            SmppToNodeAlgorithm::SubmitToAll => "submit-to-all (SmppToNodeSubmitToAllAlgorithm)",
        };
        o.line("toNodeAlgorithmClass", to_node)?;
        let to_provider = match m.to_provider_algorithm {
            SmppToProviderAlgorithm::RoundRobin => {
                "round-robin (SmppToProviderRoundRobinAlgorithm)"
            }
            SmppToProviderAlgorithm::ActiveStandby => {
                "active-standby (SmppToProviderActiveStandbyAlgorithm)"
            }
        };
        o.line("toProviderAlgorithmClass", to_provider)?;
        o.line("maxPduSize", format_args!("{} octets", m.max_pdu_size))?;
        o.line("providerWindow", limit(m.provider_window, ""))?;
        o.line("providerRate", limit(m.provider_rate, "/s"))?;
        o.line("throttleQueueSize", m.throttle_queue_size)?;
        o.ms("throttleQueueTimeout", m.throttle_queue_timeout)?;
        o.line("receiptTableSize", m.receipt_table_size)?;
        o.ms("receiptTimeout", m.receipt_timeout)?;

        let t = &self.ssl;
        o.section("ssl")?;
        o.line("terminateTLSTraffic", t.terminate_tls_traffic)?;
        o.opt("keyStore", t.key_store.as_ref().map(|p| p.display()))?;
        o.opt("certificate", t.certificate.as_ref().map(|p| p.display()))?;
        o.opt("privateKey", t.private_key.as_ref().map(|p| p.display()))?;
        o.opt("trustStore", t.trust_store.as_ref().map(|p| p.display()))?;
        o.list("tlsClientProtocols", &t.tls_client_protocols)?;
        o.list("enabledCipherSuites", &t.enabled_cipher_suites)?;

        let k = &self.sip_stack;
        o.section("sipStack")?;
        o.opt("RECEIVE_UDP_BUFFER_SIZE", k.receive_udp_buffer_size)?;
        o.opt("SEND_UDP_BUFFER_SIZE", k.send_udp_buffer_size)?;
        o.opt("MAX_MESSAGE_SIZE", k.max_message_size)?;
        o.opt("THREAD_POOL_SIZE", k.worker_threads)?;
        o.line("TLS_CLIENT_AUTH_TYPE", k.tls_client_auth.as_str())?;
        o.line("NEVER_ADD_RECEIVED_RPORT", k.never_add_received_rport)?;
        o.line("properties", k.properties.len())?;

        o.section("heartbeat")?;
        o.line("heartbeatPort", self.heartbeat.port)
    }
}
