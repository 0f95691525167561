//! Cross-field checks on the typed configuration: listener port clashes, IP load balancer
//! settings, TLS listeners without key material, `<smpp>` limits and a mux mode without
//! remote servers.

use super::build::port_element;
use super::error::{ConfigError, ConfigWarning};
use super::section::Ctx;
use super::types::{Config, LegConfig};
use crate::node::Transport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Udp,
    Tcp,
}

impl Protocol {
    const fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        }
    }
}

/// A socket the balancer will bind.
#[derive(Debug)]
struct Listener {
    path: String,
    /// Bind address; `None` = all interfaces.
    host: Option<String>,
    protocol: Protocol,
    port: u16,
}

fn is_wildcard(host: &str) -> bool {
    matches!(host, "0.0.0.0" | "::" | "[::]" | "*")
}

fn overlaps(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || is_wildcard(a) || is_wildcard(b),
        _ => true,
    }
}

fn leg_listeners(out: &mut Vec<Listener>, name: &str, leg: &LegConfig) {
    for (prefix, host, ports) in [
        ("", &leg.host, &leg.ports),
        ("ipv6", &leg.ipv6_host, &leg.ipv6_ports),
    ] {
        for t in Transport::ALL {
            if let Some(port) = ports.get(t) {
                out.push(Listener {
                    path: format!("sip/{name}/{}", port_element(prefix, t)),
                    host: Some(host.clone()),
                    protocol: if t == Transport::Udp {
                        Protocol::Udp
                    } else {
                        Protocol::Tcp
                    },
                    port,
                });
            }
        }
    }
}

fn listeners(config: &Config) -> Vec<Listener> {
    let mut out = Vec::new();
    leg_listeners(&mut out, "external", &config.sip.external);
    leg_listeners(&mut out, "internal", &config.sip.internal);
    let mut tcp = |path: &str, host: Option<String>, port: Option<u16>| {
        if let Some(port) = port {
            out.push(Listener {
                path: path.to_owned(),
                host,
                protocol: Protocol::Tcp,
                port,
            });
        }
    };
    tcp("common/apiPort", None, config.common.api_port);
    tcp(
        "heartbeat/heartbeatConfig/heartbeatPort",
        Some(config.common.host.clone()),
        Some(config.heartbeat.port),
    );
    let (v4, v6) = (&config.common.host, &config.common.ipv6_host);
    tcp("http/httpPort", Some(v4.clone()), config.http.http_port);
    tcp("http/httpsPort", Some(v4.clone()), config.http.https_port);
    tcp(
        "http/ipv6HttpPort",
        Some(v6.clone()),
        config.http.ipv6_http_port,
    );
    tcp(
        "http/ipv6HttpsPort",
        Some(v6.clone()),
        config.http.ipv6_https_port,
    );
    let smpp_host = config
        .smpp
        .smpp_external_host
        .clone()
        .or_else(|| config.smpp.smpp_host.clone());
    tcp("smpp/smppPort", smpp_host.clone(), config.smpp.smpp_port);
    tcp("smpp/smppSslPort", smpp_host, config.smpp.smpp_ssl_port);
    out
}

fn check_clashes(config: &Config, ctx: &mut Ctx) {
    let all = listeners(config);
    for (i, later) in all.iter().enumerate() {
        let clash = all[..i].iter().find(|earlier| {
            earlier.port == later.port
                && earlier.protocol == later.protocol
                && overlaps(&earlier.host, &later.host)
        });
        if let Some(earlier) = clash {
            let host = match (&later.host, &earlier.host) {
                (Some(h), _) if !is_wildcard(h) => h.clone(),
                (_, Some(h)) if !is_wildcard(h) => h.clone(),
                _ => "*".to_owned(),
            };
            ctx.error(ConfigError::PortClash {
                path: later.path.clone(),
                other: earlier.path.clone(),
                port: later.port,
                protocol: later.protocol.as_str(),
                host,
            });
        }
    }
}

fn check_ip_load_balancer(config: &Config, ctx: &mut Ctx) {
    let legs = [
        ("external", &config.sip.external),
        ("internal", &config.sip.internal),
    ];
    for (name, leg) in legs {
        if !leg.ip_load_balancer_addresses.is_empty() && !leg.ip_load_balancer_ports.any() {
            ctx.error(ConfigError::IpLoadBalancerWithoutPort {
                path: format!("sip/{name}/ipLoadBalancerAddress"),
            });
        }
        if !leg.ipv6_load_balancer_addresses.is_empty() && !leg.ipv6_load_balancer_ports.any() {
            ctx.error(ConfigError::IpLoadBalancerWithoutPort {
                path: format!("sip/{name}/ipv6LoadBalancerAddress"),
            });
        }
    }
    let (ext, int) = (&config.sip.external, &config.sip.internal);
    let families = [
        (
            "ipLoadBalancer",
            &ext.ip_load_balancer_addresses,
            &int.ip_load_balancer_addresses,
            &ext.ip_load_balancer_ports,
            &int.ip_load_balancer_ports,
        ),
        (
            "ipv6LoadBalancer",
            &ext.ipv6_load_balancer_addresses,
            &int.ipv6_load_balancer_addresses,
            &ext.ipv6_load_balancer_ports,
            &int.ipv6_load_balancer_ports,
        ),
    ];
    for (prefix, ext_addr, int_addr, ext_ports, int_ports) in families {
        if ext_addr.is_empty() || int_addr.is_empty() {
            continue;
        }
        for t in Transport::ALL {
            if ext_ports.get(t).is_some() && int_ports.get(t).is_none() {
                let element = port_element(prefix, t);
                ctx.error(ConfigError::IpLoadBalancerPortUnpaired {
                    path: format!("sip/external/{element}"),
                    missing: format!("sip/internal/{element}"),
                });
            }
        }
    }
}

fn check_tls(config: &Config, ctx: &mut Ctx) {
    if config.ssl.has_key_material() {
        return;
    }
    let mut paths = Vec::new();
    for (name, leg) in [
        ("external", &config.sip.external),
        ("internal", &config.sip.internal),
    ] {
        for (prefix, ports) in [("", &leg.ports), ("ipv6", &leg.ipv6_ports)] {
            for t in [Transport::Tls, Transport::Wss] {
                if ports.get(t).is_some() {
                    paths.push(format!("sip/{name}/{}", port_element(prefix, t)));
                }
            }
        }
    }
    if config.http.https_port.is_some() {
        paths.push("http/httpsPort".to_owned());
    }
    if config.http.ipv6_https_port.is_some() {
        paths.push("http/ipv6HttpsPort".to_owned());
    }
    if config.smpp.smpp_ssl_port.is_some() {
        paths.push("smpp/smppSslPort".to_owned());
    }
    for path in paths {
        ctx.error(ConfigError::TlsWithoutKeyMaterial { path });
    }
}

/// Smallest `smpp/maxPduSize`: the 16-octet PDU header.
const MIN_SMPP_PDU_SIZE: u32 = 16;
/// Largest `smpp/maxPduSize` (16 MiB).
const MAX_SMPP_PDU_SIZE: u32 = 16 * 1024 * 1024;
/// Largest `smpp/providerWindow` and `smpp/throttleQueueSize`.
const MAX_SMPP_QUEUE: u32 = 1_000_000;

fn check_range(ctx: &mut Ctx, path: &str, value: u32, min: u32, max: u32, reason: &'static str) {
    let too = if value < min {
        "small"
    } else if value > max {
        "large"
    } else {
        return;
    };
    ctx.error(ConfigError::OutOfRange {
        path: path.to_owned(),
        value: value.into(),
        too,
        min: min.into(),
        max: max.into(),
        reason,
    });
}

fn check_smpp(config: &Config, ctx: &mut Ctx) {
    let m = &config.smpp;
    check_range(
        ctx,
        "smpp/maxPduSize",
        m.max_pdu_size,
        MIN_SMPP_PDU_SIZE,
        MAX_SMPP_PDU_SIZE,
        "the largest command_length accepted in octets; every PDU has a 16-octet header",
    );
    check_range(
        ctx,
        "smpp/providerWindow",
        m.provider_window,
        0,
        MAX_SMPP_QUEUE,
        "requests awaiting a response per provider connection, 0 = no limit",
    );
    check_range(
        ctx,
        "smpp/throttleQueueSize",
        m.throttle_queue_size,
        0,
        MAX_SMPP_QUEUE,
        "requests waiting per provider connection for its window or rate",
    );
    let enabled = m.smpp_port.is_some() || m.smpp_ssl_port.is_some();
    if enabled && m.mux_mode && m.remote_servers.is_empty() {
        ctx.warn(ConfigWarning::Ineffective {
            path: "smpp/remoteServers".to_owned(),
            reason: "no remote server while smpp/muxMode is true: mux mode binds only to \
                     remote servers (heartbeat nodes with smppPort serve regular mode only), \
                     so SMPP customers cannot bind"
                .to_owned(),
        });
    }
}

/// Runs every cross-field check, adding errors and warnings to `ctx`.
pub(crate) fn validate(config: &Config, ctx: &mut Ctx) {
    check_clashes(config, ctx);
    check_ip_load_balancer(config, ctx);
    check_tls(config, ctx);
    check_smpp(config, ctx);
}
