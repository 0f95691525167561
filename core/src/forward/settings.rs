//! What the forwarder reads from `lb-configuration.xml` (behaviour reference §1.1, §1.5,
//! §1.6, §1.11–§1.18, §8.2, §8.5, §8.6), flattened so the hot path never walks the config.

use crate::config::{Config, LegConfig, LegPorts, RoutingRule};
use crate::forward::Leg;
use crate::node::Transport;
use crate::sip::ParseLimits;

/// Default `Retry-After` (seconds) of the "no node available" answer (docs/decisions.md §8.2). The
/// reference sent a 500 without it; no configuration key exists, so it is fixed here.
pub const NO_NODE_RETRY_AFTER_SECS: u32 = 5;

/// One address family of one SIP leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegFamily {
    /// The listening host (IPv6 without brackets).
    pub host: String,
    /// Listening ports per transport.
    pub ports: LegPorts,
    /// IP load balancer addresses in front of the leg (the first is used in Via/RR).
    pub ip_lb_addresses: Vec<String>,
    /// IP load balancer ports per transport.
    pub ip_lb_ports: LegPorts,
}

impl LegFamily {
    fn from_leg(cfg: &LegConfig, ipv6: bool) -> LegFamily {
        if ipv6 {
            LegFamily {
                host: strip_brackets(&cfg.ipv6_host).to_owned(),
                ports: cfg.ipv6_ports,
                ip_lb_addresses: cfg.ipv6_load_balancer_addresses.clone(),
                ip_lb_ports: cfg.ipv6_load_balancer_ports,
            }
        } else {
            LegFamily {
                host: cfg.host.clone(),
                ports: cfg.ports,
                ip_lb_addresses: cfg.ip_load_balancer_addresses.clone(),
                ip_lb_ports: cfg.ip_load_balancer_ports,
            }
        }
    }

    /// The listening port for `t`, else the leg's first listening port (UDP, TCP, …), so a
    /// Via can always be written.
    pub fn port_or_any(&self, t: Transport) -> Option<u16> {
        self.ports
            .get(t)
            .or_else(|| Transport::ALL.into_iter().find_map(|x| self.ports.get(x)))
    }

    /// The advertised (host, port) for transport `t`: the first IP load balancer address and
    /// its port when `use_ip_lb` and one is configured, else the listening host and port.
    pub fn advertised(&self, t: Transport, use_ip_lb: bool) -> Option<(String, u16)> {
        if use_ip_lb {
            if let Some(addr) = self.ip_lb_addresses.first() {
                let port = self.ip_lb_ports.get(t).or_else(|| self.ports.get(t))?;
                return Some((strip_brackets(addr).to_owned(), port));
            }
        }
        Some((self.host.clone(), self.ports.get(t)?))
    }
}

/// Both families of one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSettings {
    /// IPv4 listening points.
    pub v4: LegFamily,
    /// IPv6 listening points.
    pub v6: LegFamily,
}

impl LegSettings {
    /// The family in use.
    pub fn family(&self, ipv6: bool) -> &LegFamily {
        if ipv6 {
            &self.v6
        } else {
            &self.v4
        }
    }
}

/// Every setting of §1 the forwarder uses.
#[derive(Debug, Clone)]
pub struct ForwardSettings {
    /// `<sip><external>`.
    pub external: LegSettings,
    /// `<sip><internal>`.
    pub internal: LegSettings,
    /// Two entry points (§1.1): the internal leg has at least one port.
    pub two_entry_points: bool,
    /// `publicIp` (NAT patch, §1.15).
    pub public_ip: Option<String>,
    /// `publicIpv6`.
    pub public_ipv6: Option<String>,
    /// `isSendTrying` (§1.11).
    pub send_trying: bool,
    /// `inviteFailoverTimeout`: how long a node may leave an INVITE without any response
    /// before it becomes suspect and the INVITE goes to another node.
    pub invite_failover_timeout: std::time::Duration,
    /// `startupGracePeriod`: how long after start initial UDP requests that find no node are
    /// left to the caller's retransmission instead of being answered 503.
    pub startup_grace_period: std::time::Duration,
    /// `<probing>`: active OPTIONS probing of static nodes (and of heartbeat nodes if asked).
    pub probing: crate::config::ProbingConfig,
    /// `<staticNodes>` has entries: they are probed every `probing.interval`.
    pub static_nodes_configured: bool,
    /// `useIpLoadBalancerAddressInViaHeaders` (§1.13).
    pub use_ip_lb_in_via: bool,
    /// `blockedValues`, lower-cased (scanner blocking, §1.10-B.4).
    pub blocked_values: Vec<String>,
    /// `isSend5xxResponse` (§1.16).
    pub send_5xx_response: bool,
    /// `isSend5xxResponseSatusCode`: the cause in the Reason header of §1.16, and the status
    /// of the "no node available" answer (docs/decisions.md §8.2, default 503).
    pub send_5xx_status_code: u16,
    /// `isSend5xxResponseReasonHeader`.
    pub send_5xx_reason: Option<String>,
    /// `Retry-After` seconds of the "no node available" answer.
    pub no_node_retry_after: u32,
    /// `responsesStatusCodeNodeRemoval`: responses with these statuses are not failed over
    /// by the algorithm (§1.19).
    pub error_status_codes: Vec<u16>,
    /// `isUseWithNexmo` (§1.15).
    pub use_with_nexmo: bool,
    /// `matchingHostnameForRoute` (§1.6).
    pub matching_hostname_for_route: Option<String>,
    /// `isFilterSubdomain` (§1.6).
    pub filter_subdomain: bool,
    /// `internalTransport` (§1.5).
    pub internal_transport: Option<Transport>,
    /// `<ssl><terminateTLSTraffic>` (§1.5).
    pub terminate_tls: bool,
    /// `routingRulesIpv4` (§1.18).
    pub routing_rules_ipv4: Vec<AnchoredRule>,
    /// `routingRulesIpv6` (§1.18).
    pub routing_rules_ipv6: Vec<AnchoredRule>,
    /// `NEVER_ADD_RECEIVED_RPORT` (`<sipStack>`).
    pub never_add_received_rport: bool,
    /// `MAX_MESSAGE_SIZE` and the header limit.
    pub parse_limits: ParseLimits,
}

impl ForwardSettings {
    /// Reads every §1 key from a configuration.
    pub fn from_config(config: &Config) -> ForwardSettings {
        let sip = &config.sip;
        let leg = |cfg: &LegConfig| LegSettings {
            v4: LegFamily::from_leg(cfg, false),
            v6: LegFamily::from_leg(cfg, true),
        };
        let mut parse_limits = ParseLimits::default();
        if let Some(max) = config.sip_stack.max_message_size {
            parse_limits.max_message_size = usize::try_from(max).unwrap_or(usize::MAX);
        }
        let non_empty = |s: &Option<String>| s.as_ref().filter(|v| !v.trim().is_empty()).cloned();
        ForwardSettings {
            external: leg(&sip.external),
            internal: leg(&sip.internal),
            two_entry_points: sip.internal.is_enabled(),
            public_ip: non_empty(&sip.public_ip),
            public_ipv6: non_empty(&sip.public_ipv6).map(|s| strip_brackets(&s).to_owned()),
            send_trying: sip.send_trying,
            invite_failover_timeout: sip.invite_failover_timeout,
            startup_grace_period: sip.startup_grace_period,
            probing: sip.probing.clone(),
            static_nodes_configured: !sip.static_nodes.is_empty(),
            use_ip_lb_in_via: sip.use_ip_load_balancer_address_in_via,
            blocked_values: sip
                .blocked_values
                .iter()
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| !v.is_empty())
                .collect(),
            send_5xx_response: sip.send_5xx_response,
            send_5xx_status_code: sip.send_5xx_status_code,
            send_5xx_reason: non_empty(&sip.send_5xx_reason),
            no_node_retry_after: NO_NODE_RETRY_AFTER_SECS,
            error_status_codes: sip.responses_status_code_node_removal.clone(),
            use_with_nexmo: sip.use_with_nexmo,
            matching_hostname_for_route: non_empty(&sip.matching_hostname_for_route),
            filter_subdomain: sip.filter_subdomain,
            internal_transport: sip.internal_transport,
            terminate_tls: config.ssl.terminate_tls_traffic,
            routing_rules_ipv4: anchor(&sip.routing_rules_ipv4),
            routing_rules_ipv6: anchor(&sip.routing_rules_ipv6),
            never_add_received_rport: config.sip_stack.never_add_received_rport,
            parse_limits,
        }
    }

    /// True if some nodes are probed every `probing.interval`: static nodes are configured,
    /// or `probeHeartbeatNodes` is on.
    pub fn probes_regularly(&self) -> bool {
        self.static_nodes_configured || self.probing.probe_heartbeat_nodes
    }

    /// The leg a message is sent out on toward `toward`: in single-entry mode every message
    /// uses the external leg (§1.1, §1.16).
    pub fn out_leg(&self, toward: Leg) -> Leg {
        if self.two_entry_points {
            toward
        } else {
            Leg::External
        }
    }

    /// The listening points of a leg (the external ones in single-entry mode, §1.13).
    pub fn leg(&self, leg: Leg) -> &LegSettings {
        match self.out_leg(leg) {
            Leg::External => &self.external,
            Leg::Internal => &self.internal,
        }
    }

    /// `publicIp` / `publicIpv6` for the family.
    pub fn public_ip(&self, ipv6: bool) -> Option<&str> {
        if ipv6 {
            self.public_ipv6.as_deref()
        } else {
            self.public_ip.as_deref()
        }
    }

    /// The transport toward the nodes for a message that arrived over `t` (§1.5):
    /// `internalTransport` if set, else TLS→TCP and WSS→WS with `terminateTLSTraffic`, else `t`.
    pub fn inner_transport(&self, t: Transport) -> Transport {
        if let Some(forced) = self.internal_transport {
            return forced;
        }
        match (self.terminate_tls, t) {
            (true, Transport::Tls) => Transport::Tcp,
            (true, Transport::Wss) => Transport::Ws,
            _ => t,
        }
    }

    /// Routing rules of the family (§1.18).
    pub fn routing_rules(&self, ipv6: bool) -> &[AnchoredRule] {
        if ipv6 {
            &self.routing_rules_ipv6
        } else {
            &self.routing_rules_ipv4
        }
    }

    /// True if the first routing rule matching `ip` has `patch=false`: Vias and Record-Routes
    /// then use the real leg addresses instead of the IP load balancer addresses (§1.18).
    pub fn use_private_addresses(&self, ip: Option<&str>, ipv6: bool) -> bool {
        let Some(ip) = ip else { return false };
        self.routing_rules(ipv6)
            .iter()
            .find(|r| r.pattern.is_match(ip))
            .is_some_and(|r| !r.patch)
    }
}

/// One routing rule with its pattern anchored (Java `String.matches`: the whole subject must
/// match).
#[derive(Debug, Clone)]
pub struct AnchoredRule {
    /// `^(?:ipPattern)$`.
    pub pattern: regex::Regex,
    /// `patch`.
    pub patch: bool,
}

fn anchor(rules: &[RoutingRule]) -> Vec<AnchoredRule> {
    rules
        .iter()
        .map(|r| AnchoredRule {
            pattern: regex::Regex::new(&format!("^(?:{})$", r.ip_pattern.as_str()))
                .unwrap_or_else(|_| r.ip_pattern.clone()),
            patch: r.patch,
        })
        .collect()
}

/// `[::1]` → `::1`.
pub fn strip_brackets(s: &str) -> &str {
    s.trim()
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s.trim())
}

/// A host as written in a SIP URI or Via: IPv6 literals get brackets (RFC 5118).
pub fn uri_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}
