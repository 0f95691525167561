//! HTTP balancer statistics behind `/lbstat` (behaviour reference §5 "Statistics", §7.1) and
//! `/metrics`. The core is the only writer: counting is a plain add, and management requests
//! read a snapshot.

use crate::node::NodeId;
use crate::stats::ResponseTimes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The methods reported as 0 until seen (the reference's list, §5); any other method token is
/// counted under its own name (docs/decisions.md §8: unknown methods are proxied and counted).
pub const SEEDED_METHODS: [&str; 9] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

/// Counters of the HTTP traffic the balancer handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpStats {
    /// Requests received with a complete head (`NumberOfHttpRequests`).
    pub requests: u64,
    /// Requests by method.
    pub requests_by_method: BTreeMap<String, u64>,
    /// Responses sent to clients by status class `1XX`..`5XX`, the balancer's own included.
    pub responses_by_class: BTreeMap<String, u64>,
    /// Bytes written toward nodes (`NumberOfHttpBytesToServer`): heads and bodies as sent.
    pub bytes_to_nodes: u64,
    /// Bytes written toward clients (`NumberOfHttpBytesToClient`).
    pub bytes_to_clients: u64,
    /// Requests the balancer answered itself, by status (400, 408, 413, 414, 431, 501, 502,
    /// 503, 504, 505, and 302 for the HTTPS redirect).
    pub answered_by_balancer: BTreeMap<u16, u64>,
    /// Requests sent again to another node after their node's connection failed before any
    /// response byte.
    pub retries: u64,
    /// WebSocket (or other protocol switch) tunnels opened.
    pub tunnels_opened: u64,
    /// Traffic per node, by registry handle.
    pub per_node: BTreeMap<NodeId, HttpNodeTraffic>,
}

/// One node's HTTP traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpNodeTraffic {
    /// Requests sent to the node.
    pub requests: u64,
    /// Responses from the node by class, 1XX..5XX (index 0..4).
    pub responses_by_class: [u64; 5],
    /// From the request's head being sent to the response's head arriving.
    pub response_times: ResponseTimes,
}

impl Default for HttpStats {
    fn default() -> Self {
        HttpStats {
            requests: 0,
            requests_by_method: SEEDED_METHODS
                .iter()
                .map(|m| ((*m).to_owned(), 0))
                .collect(),
            responses_by_class: (1..=5).map(|c| (format!("{c}XX"), 0)).collect(),
            bytes_to_nodes: 0,
            bytes_to_clients: 0,
            answered_by_balancer: BTreeMap::new(),
            retries: 0,
            tunnels_opened: 0,
            per_node: BTreeMap::new(),
        }
    }
}

impl HttpStats {
    /// Counts a request head received with `method`.
    pub fn request(&mut self, method: &str) {
        self.requests += 1;
        if let Some(n) = self.requests_by_method.get_mut(method) {
            *n += 1;
            return;
        }
        // Bounded: only the first 64 distinct methods get their own counter.
        let key = if self.requests_by_method.len() < 64 {
            method
        } else {
            "OTHER"
        };
        *self.requests_by_method.entry(key.to_owned()).or_default() += 1;
    }

    /// Counts a response head sent to a client.
    pub fn response(&mut self, status: u16) {
        if let Some(class) = status_class(status) {
            *self
                .responses_by_class
                .entry(format!("{}XX", class + 1))
                .or_default() += 1;
        }
    }

    /// Counts an answer the balancer gave itself (also a response to the client).
    pub fn answered(&mut self, status: u16) {
        *self.answered_by_balancer.entry(status).or_default() += 1;
        self.response(status);
    }

    /// The traffic record of `node`.
    pub fn node(&mut self, node: NodeId) -> &mut HttpNodeTraffic {
        self.per_node.entry(node).or_default()
    }
}

/// The class index (0 for 1xx … 4 for 5xx) of a status, if it has one.
pub fn status_class(status: u16) -> Option<usize> {
    (100..600)
        .contains(&status)
        .then(|| usize::from(status / 100 - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_classes_are_seeded_and_any_method_is_counted() {
        let mut s = HttpStats::default();
        assert_eq!(s.requests_by_method["PATCH"], 0);
        s.request("GET");
        s.request("PROPFIND");
        s.response(204);
        s.answered(503);
        assert_eq!(s.requests, 2);
        assert_eq!(s.requests_by_method["PROPFIND"], 1);
        assert_eq!(s.responses_by_class["2XX"], 1);
        assert_eq!(s.responses_by_class["5XX"], 1);
        assert_eq!(s.answered_by_balancer[&503], 1);
        assert_eq!(status_class(99), None);
    }
}
