//! The management HTTP API on `apiPort` (behaviour reference §7.1, §7.2; docs/decisions.md §4,
//! §8.3, §9.1, §9.3): `/lbstat`, `/lbinfo`, `/lbstop`, `/lbloglevel`, `/lbnoderegex` with the
//! reference's JSON shapes and field names, and `/metrics` in the Prometheus text format. Every
//! answer is a complete HTTP/1.1 response (the reference wrote some without a status line).
//!
//! The handler is pure: it reads a [`ManagementView`] snapshot and returns the response plus
//! the [`ManagementAction`] the balancer must carry out (stop, change the log level, pin a
//! regex to a node).

mod http_metrics;
mod smpp_metrics;

use crate::http::{json_response, response};
use crate::http_proxy::stats::HttpStats;
use crate::node::Node;
use crate::smpp_proxy::stats::{RemoteServer, SmppStats, SmppView};
use crate::stats::{ResponseTimes, SipStats};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::time::Duration;

/// Largest request head the management port reads.
pub const MAX_HEAD: usize = 8 * 1024;

/// What the management API reports, snapshotted by the balancer for one request.
#[derive(Debug)]
pub struct ManagementView<'a> {
    /// SIP counters.
    pub stats: &'a SipStats,
    /// IPv4 nodes of the latest version.
    pub nodes_ipv4: Vec<&'a Node>,
    /// IPv6 nodes of the latest version.
    pub nodes_ipv6: Vec<&'a Node>,
    /// Every registered node of every version (labels of the per-node metrics).
    pub all_nodes: Vec<&'a Node>,
    /// Calls tracked by the algorithm of the latest version; `None` for stateless algorithms
    /// (reported as −1, as the reference does).
    pub active_calls: Option<usize>,
    /// Open SIP stream connections.
    pub sip_connections: usize,
    /// Forwarded requests awaiting their first response (the retransmission table).
    pub pending_requests: usize,
    /// Entries evicted from that table because it was full.
    pub pending_evictions: u64,
    /// `securityRequired` credentials for `/lbstop`: `Some((login, password))` when required.
    pub credentials: Option<(&'a str, &'a str)>,
    /// `shutdownTimeout`: how long `/lbstop` waits before the full stop.
    pub shutdown_timeout: Duration,
    /// HTTP balancer counters.
    pub http: &'a HttpStats,
    /// Open HTTP connections: (client side, node side).
    pub http_connections: (usize, usize),
    /// Open HTTP tunnels (WebSocket).
    pub http_tunnels: usize,
    /// SMPP balancer counters.
    pub smpp: &'a SmppStats,
    /// SMPP balancer snapshot: connections, the SMPP node map, windows and queues.
    pub smpp_view: SmppView,
}

/// A side effect the balancer must carry out after answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagementAction {
    /// `/lbstop` accepted: close the management port now, stop after `after` (§7.2).
    Stop {
        /// `shutdownTimeout`.
        after: Duration,
    },
    /// `/lbloglevel`: change the log filter to this level or directive.
    SetLogLevel(String),
    /// `/lbnoderegex?regex=R&ip=I&port=P`: pin keys matching `regex` to the node at ip:port.
    PinRegex {
        /// The pattern (already checked to compile).
        regex: String,
        /// The node's IP.
        ip: String,
        /// The node's port.
        port: u16,
    },
    /// `/lbnoderegex?regex=R` alone: remove that pin.
    UnpinRegex(String),
}

/// The result of feeding the bytes of a management connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagementOutcome {
    /// The request head is incomplete: call again with more bytes.
    NeedMore,
    /// Write `response`, close the connection, then carry out `action`.
    Respond {
        /// The complete HTTP response.
        response: Bytes,
        /// What the balancer must do.
        action: Option<ManagementAction>,
    },
}

const REGEX_USAGE: &str =
    "Regex NOT set, use : 127.0.0.1:2006/lbnoderegex?regex=(.*)(\\d+)(.*)&ip=127.0.0.1&port=5060";
const STOP_USAGE: &str = "Authorization required : Incorrect login or password request example : 127.0.0.1:2006/lbstop?login=daddy&password=123456";

/// Handles one management request given all bytes received on the connection so far. Only the
/// request head is read (no endpoint takes a body). Never panics on any input.
pub fn handle_request(buf: &[u8], view: &ManagementView<'_>) -> ManagementOutcome {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let target = match request.parse(buf) {
        Ok(httparse::Status::Complete(_)) => request.path.unwrap_or("/"),
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {
            return ManagementOutcome::NeedMore
        }
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            return respond(response(431, "text/plain", "request head too large"), None)
        }
        Err(_) => return respond(response(400, "text/plain", "malformed HTTP request"), None),
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = parse_query(query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match path.to_ascii_lowercase().as_str() {
        "/lbstat" => respond(json_response(200, &lbstat(view)), None),
        "/lbinfo" => respond(json_response(200, &lbinfo(view)), None),
        "/metrics" => respond(
            response(200, "text/plain; version=0.0.4", &metrics(view)),
            None,
        ),
        "/lbstop" => {
            let authorized = match view.credentials {
                None => true,
                Some((login, password)) => {
                    param("login") == Some(login) && param("password") == Some(password)
                }
            };
            if authorized {
                let action = ManagementAction::Stop {
                    after: view.shutdown_timeout,
                };
                respond(
                    response(200, "text/plain", "Load balancer stopping"),
                    Some(action),
                )
            } else {
                respond(response(401, "text/plain", STOP_USAGE), None)
            }
        }
        "/lbloglevel" => match param("logLevel")
            .or_else(|| param("loglevel"))
            .filter(|l| !l.is_empty())
        {
            Some(level) => respond(
                response(200, "text/plain", "Log level changed"),
                Some(ManagementAction::SetLogLevel(level.to_owned())),
            ),
            None => respond(
                response(400, "text/plain", "use : /lbloglevel?logLevel=DEBUG"),
                None,
            ),
        },
        "/lbnoderegex" => node_regex(param("regex"), param("ip"), param("port")),
        _ => respond(response(404, "text/plain", "unknown management path"), None),
    }
}

fn respond(response: Bytes, action: Option<ManagementAction>) -> ManagementOutcome {
    ManagementOutcome::Respond { response, action }
}

fn node_regex(regex: Option<&str>, ip: Option<&str>, port: Option<&str>) -> ManagementOutcome {
    let bad = || respond(response(400, "text/plain", REGEX_USAGE), None);
    let Some(regex) = regex.filter(|r| !r.is_empty()) else {
        return bad();
    };
    if regex::Regex::new(regex).is_err() {
        return bad();
    }
    match (ip, port) {
        (None, None) => respond(
            response(200, "text/plain", "Regex removed"),
            Some(ManagementAction::UnpinRegex(regex.to_owned())),
        ),
        (Some(ip), Some(port)) => {
            match (crate::sip::parse_ip(ip.as_bytes()), port.parse::<u16>()) {
                (Some(_), Ok(port)) => respond(
                    response(200, "text/plain", "Regex set"),
                    Some(ManagementAction::PinRegex {
                        regex: regex.to_owned(),
                        ip: ip.to_owned(),
                        port,
                    }),
                ),
                _ => bad(),
            }
        }
        _ => bad(),
    }
}

/// Splits `a=1&b=2`, percent-decoding names and values (`+` stays a plus: regexes use it).
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn lbstat(view: &ManagementView<'_>) -> Value {
    let s = view.stats;
    json!({ "Metrics": {
        "releaseName": "switchboard",
        "releaseVersion": env!("CARGO_PKG_VERSION"),
        "activeNodes": view.nodes_ipv4.len() + view.nodes_ipv6.len(),
        "NumberOfActiveHttpConnections": view.http_connections.0 + view.http_connections.1,
        "NumberOfActiveSipConnections": view.sip_connections,
        "NumberOfActiveSmppConnections": view.smpp_view.active_connections,
        "NumberOfBytesTransferred": s.body_bytes,
        "NumberOfHttpBytesToClient": view.http.bytes_to_clients,
        "NumberOfHttpBytesToServer": view.http.bytes_to_nodes,
        "NumberOfHttpRequests": view.http.requests,
        "NumberOfRequestsProcessed": s.requests_processed,
        "NumberOfResponsesProcessed": s.responses_processed,
        "NumberOfSmppBytesToClient": view.smpp.bytes_to_client,
        "NumberOfSmppBytesToServer": view.smpp.bytes_to_server,
        "NumberOfSmppRequestsToClient": view.smpp.requests_to_client,
        "NumberOfSmppRequestsToServer": view.smpp.requests_to_server,
        "NumberOfActiveCalls": view.active_calls.map_or(-1, |n| n as i64),
    }})
}

fn node_json(node: &Node, stats: &SipStats) -> Value {
    let properties: Map<String, Value> = node
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "hostName": node.host_name,
        "ip": node.key.ip.to_string(),
        "timeStamp": node.last_seen.as_millis(),
        "properties": properties,
        "gracefulShutdown": node.graceful,
        "bad": node.bad,
        "state": node.state_name(),
        "lastResponseTimeMs": stats
            .per_node
            .get(&node.id)
            .and_then(|t| t.response_times.last_micros)
            .map(|us| us as f64 / 1000.0),
    })
}

/// One entry of the SMPP node map, shaped like [`node_json`]'s nodes: the port is the
/// `smppPort` property; what a remote server does not have (a heartbeat time stamp, flags, a
/// response time) shows as for a node without it. `boundConnections` is an addition.
fn remote_server_json(server: &RemoteServer) -> Value {
    json!({
        "hostName": server.host,
        "ip": server.ip,
        "timeStamp": 0,
        "properties": { "smppPort": server.port.to_string() },
        "gracefulShutdown": false,
        "bad": false,
        "state": "up",
        "lastResponseTimeMs": null,
        "boundConnections": server.bound_connections,
    })
}

fn lbinfo(view: &ManagementView<'_>) -> Value {
    let list = |nodes: &[&Node]| {
        nodes
            .iter()
            .map(|n| node_json(n, view.stats))
            .collect::<Vec<_>>()
    };
    json!({ "Nodes info": {
        "nodesIPv4": list(&view.nodes_ipv4),
        "nodesIPv6": list(&view.nodes_ipv6),
        "smppRemoteServers": view
            .smpp_view
            .remote_servers
            .iter()
            .map(remote_server_json)
            .collect::<Vec<_>>(),
    }})
}

/// Prometheus text exposition (format 0.0.4) of every `/lbstat` counter plus the per-method,
/// per-status-class and per-node breakdowns.
fn metrics(view: &ManagementView<'_>) -> String {
    let s = view.stats;
    let mut out = String::with_capacity(2048);
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        write_family(&mut out, name, kind, help, samples);
    };
    family(
        "switchboard_sip_requests_total",
        "counter",
        "SIP requests processed.",
        &[(String::new(), s.requests_processed)],
    );
    family(
        "switchboard_sip_responses_total",
        "counter",
        "SIP responses processed.",
        &[(String::new(), s.responses_processed)],
    );
    family(
        "switchboard_sip_body_bytes_total",
        "counter",
        "Body bytes of SIP messages processed.",
        &[(String::new(), s.body_bytes)],
    );
    family(
        "switchboard_sip_rejected_total",
        "counter",
        "SIP messages rejected as malformed or unroutable.",
        &[(String::new(), s.rejected)],
    );
    let by_method: Vec<_> = s
        .requests_by_method
        .iter()
        .map(|(m, n)| (format!("{{method=\"{}\"}}", escape(m)), *n))
        .collect();
    family(
        "switchboard_sip_requests_by_method_total",
        "counter",
        "SIP requests by method.",
        &by_method,
    );
    let by_class: Vec<_> = s
        .responses_by_class
        .iter()
        .map(|(c, n)| (format!("{{class=\"{c}\"}}"), *n))
        .collect();
    family(
        "switchboard_sip_responses_by_class_total",
        "counter",
        "SIP responses by status class.",
        &by_class,
    );
    family(
        "switchboard_sip_connections",
        "gauge",
        "Open SIP stream connections.",
        &[(String::new(), view.sip_connections as u64)],
    );
    if let Some(calls) = view.active_calls {
        family(
            "switchboard_active_calls",
            "gauge",
            "Calls tracked by the balancing algorithm.",
            &[(String::new(), calls as u64)],
        );
    }
    let nodes: Vec<_> = view
        .nodes_ipv4
        .iter()
        .chain(view.nodes_ipv6.iter())
        .map(|n| {
            let state = match n.state_name() {
                "up" => "active",
                other => other,
            };
            (
                format!(
                    "{{host=\"{}\",ip=\"{}\",version=\"{}\",state=\"{state}\"}}",
                    escape(&n.host_name),
                    n.key.ip,
                    escape(n.version.as_str())
                ),
                1,
            )
        })
        .collect();
    family(
        "switchboard_node",
        "gauge",
        "Registered nodes of the latest version (1 per node).",
        &nodes,
    );
    let label = |id: &crate::node::NodeId| {
        let node = view.all_nodes.iter().find(|n| n.id == *id);
        let (host, ip) = node.map_or((String::new(), String::new()), |n| {
            (escape(&n.host_name), n.key.ip.to_string())
        });
        format!("{{id=\"{}\",host=\"{host}\",ip=\"{ip}\"}}", id.0)
    };
    let forwarded: Vec<_> = s
        .per_node
        .iter()
        .map(|(id, t)| (label(id), t.requests_forwarded))
        .collect();
    family(
        "switchboard_node_requests_total",
        "counter",
        "Client requests forwarded to each node.",
        &forwarded,
    );
    let relayed: Vec<_> = s
        .per_node
        .iter()
        .map(|(id, t)| (label(id), t.responses_relayed))
        .collect();
    family(
        "switchboard_node_responses_total",
        "counter",
        "Node responses forwarded toward clients.",
        &relayed,
    );
    let per_node = |f: fn(&crate::stats::NodeTraffic) -> u64| -> Vec<(String, u64)> {
        s.per_node.iter().map(|(id, t)| (label(id), f(t))).collect()
    };
    family(
        "switchboard_node_retransmissions_total",
        "counter",
        "Requests the balancer acknowledged with 100 Trying and retransmitted to each node.",
        &per_node(|t| t.retransmissions),
    );
    family(
        "switchboard_node_invite_failovers_total",
        "counter",
        "INVITEs moved away from each node because it left them unanswered.",
        &per_node(|t| t.invite_failovers),
    );
    family(
        "switchboard_node_suspect_transitions_total",
        "counter",
        "Times each node became suspect (unanswered INVITE or refused send).",
        &per_node(|t| t.suspect_transitions),
    );
    for (name, help, value) in [
        (
            "switchboard_sip_retransmissions_to_clients_total",
            "Node requests the balancer acknowledged and retransmitted toward clients.",
            s.retransmissions_to_clients,
        ),
        (
            "switchboard_sip_timed_out_total",
            "Acknowledged requests unanswered at Timer B/F, answered 408 by the balancer.",
            s.timed_out,
        ),
        (
            "switchboard_sip_held_at_startup_total",
            "Initial UDP requests left to the caller's retransmission during the start-up grace period.",
            s.held_at_startup,
        ),
        (
            "switchboard_sip_probes_sent_total",
            "SIP OPTIONS probes sent to nodes.",
            s.probes_sent,
        ),
        (
            "switchboard_sip_pending_evictions_total",
            "Entries evicted from the full table of requests awaiting a response.",
            view.pending_evictions,
        ),
    ] {
        family(name, "counter", help, &[(String::new(), value)]);
    }
    family(
        "switchboard_sip_pending_requests",
        "gauge",
        "Forwarded requests awaiting their first response.",
        &[(String::new(), view.pending_requests as u64)],
    );
    let sip_times: Vec<_> = s
        .per_node
        .iter()
        .map(|(id, t)| (label(id), &t.response_times))
        .collect();
    histogram(
        &mut out,
        "switchboard_node_response_seconds",
        "Time from forwarding a request to a node to its first response.",
        &sip_times,
    );
    http_metrics::write(&mut out, view, &label);
    if view.smpp_view.enabled {
        smpp_metrics::write(&mut out, view);
    }
    out
}

/// Writes one Prometheus family of counters or gauges, one sample per label set.
fn write_family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// Writes one Prometheus histogram family of response times, one series per label set.
fn histogram(out: &mut String, name: &str, help: &str, series: &[(String, &ResponseTimes)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (base, rt) in series {
        let inner = base.trim_start_matches('{').trim_end_matches('}');
        let mut cumulative = 0;
        for (bound, n) in crate::stats::RESPONSE_TIME_BUCKETS.iter().zip(rt.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{inner},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{inner},le=\"+Inf\"}} {}\n{name}_sum{base} {}\n{name}_count{base} {}",
            rt.count,
            rt.sum_micros as f64 / 1e6,
            rt.count
        );
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
