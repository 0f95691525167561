//! The HTTP balancer's families in `/metrics` (Prometheus text format 0.0.4): requests by
//! method, responses by status class, the balancer's own answers by status, bytes each way,
//! open connections and tunnels, retries, and per node requests, responses by class and a
//! response-time histogram.

use super::{histogram, write_family, ManagementView};
use crate::node::NodeId;

/// Appends the HTTP families to `out`; `label` renders a node's label set.
pub(super) fn write(
    out: &mut String,
    view: &ManagementView<'_>,
    label: &dyn Fn(&NodeId) -> String,
) {
    let h = view.http;
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        write_family(out, name, kind, help, samples);
    };
    let by_method: Vec<_> = h
        .requests_by_method
        .iter()
        .map(|(m, n)| (format!("{{method=\"{}\"}}", super::escape(m)), *n))
        .collect();
    family(
        "switchboard_http_requests_total",
        "counter",
        "HTTP requests received, by method.",
        &by_method,
    );
    let by_class: Vec<_> = h
        .responses_by_class
        .iter()
        .map(|(c, n)| (format!("{{class=\"{c}\"}}"), *n))
        .collect();
    family(
        "switchboard_http_responses_total",
        "counter",
        "HTTP responses sent to clients, by status class.",
        &by_class,
    );
    let answered: Vec<_> = h
        .answered_by_balancer
        .iter()
        .map(|(s, n)| (format!("{{status=\"{s}\"}}"), *n))
        .collect();
    family(
        "switchboard_http_balancer_answers_total",
        "counter",
        "HTTP requests the balancer answered itself (redirect, no node, bad input, timeouts), by status.",
        &answered,
    );
    family(
        "switchboard_http_bytes_total",
        "counter",
        "HTTP bytes relayed, by direction.",
        &[
            ("{direction=\"to_nodes\"}".to_owned(), h.bytes_to_nodes),
            ("{direction=\"to_clients\"}".to_owned(), h.bytes_to_clients),
        ],
    );
    let (clients, nodes) = view.http_connections;
    family(
        "switchboard_http_connections",
        "gauge",
        "Open HTTP connections, by side.",
        &[
            ("{side=\"client\"}".to_owned(), clients as u64),
            ("{side=\"node\"}".to_owned(), nodes as u64),
        ],
    );
    family(
        "switchboard_http_tunnels",
        "gauge",
        "Open WebSocket tunnels.",
        &[(String::new(), view.http_tunnels as u64)],
    );
    family(
        "switchboard_http_tunnels_opened_total",
        "counter",
        "WebSocket tunnels opened.",
        &[(String::new(), h.tunnels_opened)],
    );
    family(
        "switchboard_http_retries_total",
        "counter",
        "Requests sent again to another node after their node connection failed before any response byte.",
        &[(String::new(), h.retries)],
    );
    let requests: Vec<_> = h
        .per_node
        .iter()
        .map(|(id, t)| (label(id), t.requests))
        .collect();
    family(
        "switchboard_http_node_requests_total",
        "counter",
        "HTTP requests sent to each node.",
        &requests,
    );
    let mut responses = Vec::new();
    for (id, t) in &h.per_node {
        let base = label(id);
        let inner = base.trim_start_matches('{').trim_end_matches('}');
        for (i, n) in t.responses_by_class.iter().enumerate() {
            responses.push((format!("{{{inner},class=\"{}XX\"}}", i + 1), *n));
        }
    }
    family(
        "switchboard_http_node_responses_total",
        "counter",
        "HTTP responses from each node, by status class.",
        &responses,
    );
    let times: Vec<_> = h
        .per_node
        .iter()
        .map(|(id, t)| (label(id), &t.response_times))
        .collect();
    histogram(
        out,
        "switchboard_http_node_response_seconds",
        "Time from sending an HTTP request's head to a node to its response head.",
        &times,
    );
}
