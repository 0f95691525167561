//! From the raw element tree to the typed configuration: `<sip><staticNodes>` (nodes that send
//! no heartbeats) and `<sip><probing>` (active SIP OPTIONS probing).

use super::build::port_element;
use super::error::ConfigError;
use super::section::{Ctx, Section};
use super::types::{LegPorts, ProbingConfig, ReplyCode, ReplyCodes, StaticNode};
use crate::node::Transport;
use std::net::{IpAddr, Ipv6Addr};

/// Reads every `<node>` of `<staticNodes>`. A node with an error is left out (the file is
/// refused anyway); a node with the same ip and ports as an earlier one is an error.
pub(crate) fn read_static_nodes(list: &mut Section<'_>, ctx: &mut Ctx) -> Vec<StaticNode> {
    let path = list.path_of("node");
    let mut nodes: Vec<StaticNode> = Vec::new();
    for element in list.all("node") {
        let mut n = Section::new(Some(element), path.clone());
        let node = read_node(&mut n, ctx, &path);
        n.finish(ctx);
        let Some(node) = node else {
            continue;
        };
        if nodes
            .iter()
            .any(|earlier| earlier.ip == node.ip && earlier.ports == node.ports)
        {
            ctx.error(ConfigError::DuplicateStaticNode {
                path: path.clone(),
                node: node.to_string(),
            });
            continue;
        }
        nodes.push(node);
    }
    nodes
}

fn read_node(n: &mut Section<'_>, ctx: &mut Ctx, path: &str) -> Option<StaticNode> {
    let host_name = n.string(ctx, "hostName");
    let ip = match n.text(ctx, "ip") {
        Some(text) => {
            let ip = parse_ip(text);
            if ip.is_none() {
                ctx.invalid(
                    n.path_of("ip"),
                    text,
                    "expected an IPv4 or IPv6 address, e.g. 10.0.0.5 or [2001:db8::5]",
                );
            }
            ip
        }
        None => {
            ctx.error(ConfigError::Required {
                path: n.path_of("ip"),
                reason: "a static node needs an ip (an IPv4 or IPv6 address)".to_owned(),
            });
            None
        }
    };
    let mut ports = LegPorts::default();
    let mut bad_port = false;
    for t in Transport::ALL {
        let name = port_element("", t);
        let Some(text) = n.text(ctx, &name) else {
            continue;
        };
        let port = match text.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => {
                ctx.invalid(n.path_of(&name), text, "expected a port from 1 to 65535");
                bad_port = true;
                continue;
            }
        };
        match t {
            Transport::Udp => ports.udp = Some(port),
            Transport::Tcp => ports.tcp = Some(port),
            Transport::Tls => ports.tls = Some(port),
            Transport::Ws => ports.ws = Some(port),
            Transport::Wss => ports.wss = Some(port),
        }
    }
    if !ports.any() && !bad_port {
        let which = ip.map(|ip| format!(" (node {ip})")).unwrap_or_default();
        ctx.error(ConfigError::Required {
            path: path.to_owned(),
            reason: format!(
                "a static node needs at least one SIP port: udpPort, tcpPort, tlsPort, wsPort \
                 or wssPort{which}"
            ),
        });
    }
    let version = n.string(ctx, "version").unwrap_or_else(|| "0".to_owned());
    let ip = ip?;
    if bad_port || !ports.any() {
        return None;
    }
    Some(StaticNode {
        host_name: host_name.unwrap_or_else(|| format!("static-{ip}")),
        ip,
        ports,
        version,
    })
}

/// An IPv4 or IPv6 literal; an IPv6 one may be written in brackets.
fn parse_ip(text: &str) -> Option<IpAddr> {
    match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(inner) => inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => text.parse::<IpAddr>().ok(),
    }
}

/// Reads `<probing>`; absent values take the [`ProbingConfig::default`] values.
pub(crate) fn read_probing(mut s: Section<'_>, ctx: &mut Ctx) -> ProbingConfig {
    let defaults = ProbingConfig::default();
    let probe_heartbeat_nodes = s.flag(ctx, "probeHeartbeatNodes", defaults.probe_heartbeat_nodes);
    let interval = s.opt_millis(ctx, "interval").unwrap_or(defaults.interval);
    if interval.is_zero() {
        ctx.error(ConfigError::TooSmall {
            path: s.path_of("interval"),
            value: 0,
            min: 1,
        });
    }
    let reply_codes = match s.list(ctx, "replyCodes") {
        Some(entries) if !entries.is_empty() => {
            let path = s.path_of("replyCodes");
            let codes = entries
                .iter()
                .filter_map(|entry| {
                    let code = parse_reply_code(entry);
                    if code.is_none() {
                        ctx.invalid(
                            path.clone(),
                            entry,
                            "expected status codes 100-699 or classes 1xx-6xx, e.g. 2xx,404",
                        );
                    }
                    code
                })
                .collect();
            ReplyCodes::Listed(codes)
        }
        _ => ReplyCodes::Any,
    };
    let mut threshold = |ctx: &mut Ctx, name: &str, default: u32| {
        let value = s.number(ctx, name, default);
        if value == 0 {
            ctx.invalid(
                s.path_of(name),
                "0",
                "expected a number of consecutive probes, at least 1",
            );
        }
        value
    };
    let failure_threshold = threshold(ctx, "failureThreshold", defaults.failure_threshold);
    let success_threshold = threshold(ctx, "successThreshold", defaults.success_threshold);
    s.finish(ctx);
    ProbingConfig {
        probe_heartbeat_nodes,
        interval,
        reply_codes,
        failure_threshold,
        success_threshold,
    }
}

/// `404` → `Code(404)`; `2xx` (or `2XX`) → `Class(2)`.
fn parse_reply_code(entry: &str) -> Option<ReplyCode> {
    if let Some(class) = entry
        .strip_suffix("xx")
        .or_else(|| entry.strip_suffix("XX"))
    {
        return match class.parse::<u16>() {
            Ok(c) if (1..=6).contains(&c) && class.len() == 1 => Some(ReplyCode::Class(c)),
            _ => None,
        };
    }
    match entry.parse::<u16>() {
        Ok(code) if (100..=699).contains(&code) && entry.len() == 3 => Some(ReplyCode::Code(code)),
        _ => None,
    }
}
