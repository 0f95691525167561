//! SIP statistics behind `/lbstat` and `/metrics` (behaviour reference §1.25, §7.1).
//!
//! The core owns its counters and is the only writer, so counting is a plain integer add on
//! the hot path, with no lock and no atomic. Drivers read a [`SipStats`] snapshot by value
//! (`Clone`) when a management request asks for it.

use crate::node::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The methods the reference pre-seeds in `requestsProcessedByMethod`, reported as 0 until seen.
pub const SEEDED_METHODS: [&str; 14] = [
    "REGISTER",
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "MESSAGE",
    "INFO",
    "SUBSCRIBE",
    "NOTIFY",
    "UPDATE",
    "PUBLISH",
    "REFER",
    "PRACK",
    "OPTIONS",
];

/// Counters of SIP traffic handled by the balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipStats {
    /// Requests received and processed (`requestsProcessed`).
    pub requests_processed: u64,
    /// Responses received and processed (`responsesProcessed`).
    pub responses_processed: u64,
    /// Sum of the body bytes (Content-Length) of processed requests and responses
    /// (`bytesTransferred`, as the reference counts it: not wire size).
    pub body_bytes: u64,
    /// Bytes received on SIP listeners, on the wire.
    pub wire_bytes_in: u64,
    /// Bytes sent by SIP listeners, on the wire.
    pub wire_bytes_out: u64,
    /// Requests by method (`requestsProcessedByMethod`), pre-seeded with [`SEEDED_METHODS`].
    pub requests_by_method: BTreeMap<String, u64>,
    /// Responses by status class `1XX`..`6XX` (`responsesProcessedByStatusCode`).
    pub responses_by_class: BTreeMap<String, u64>,
    /// Messages that could not be parsed or routed and were answered or dropped.
    pub rejected: u64,
    /// Traffic per node, by registry handle (a restarted node gets a new handle).
    pub per_node: BTreeMap<NodeId, NodeTraffic>,
}

/// What one node sent and received through the balancer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTraffic {
    /// Client requests forwarded to the node.
    pub requests_forwarded: u64,
    /// Responses from the node forwarded toward clients.
    pub responses_relayed: u64,
}

impl Default for SipStats {
    fn default() -> Self {
        SipStats {
            requests_processed: 0,
            responses_processed: 0,
            body_bytes: 0,
            wire_bytes_in: 0,
            wire_bytes_out: 0,
            requests_by_method: SEEDED_METHODS
                .iter()
                .map(|m| ((*m).to_owned(), 0))
                .collect(),
            responses_by_class: (1..=6).map(|c| (format!("{c}XX"), 0)).collect(),
            rejected: 0,
            per_node: BTreeMap::new(),
        }
    }
}

impl SipStats {
    /// Counts one processed request. Call once per request the forwarder handles.
    pub fn count_request(&mut self, method: &str, body_len: usize) {
        self.requests_processed += 1;
        self.body_bytes += body_len as u64;
        match self.requests_by_method.get_mut(method) {
            Some(n) => *n += 1,
            None => {
                // Methods are tokens chosen by peers: bound the map so garbage cannot grow it.
                let key = if self.requests_by_method.len() < 64 {
                    method
                } else {
                    "OTHER"
                };
                *self.requests_by_method.entry(key.to_owned()).or_insert(0) += 1;
            }
        }
    }

    /// Counts a client request forwarded to node `id`.
    pub fn count_forwarded_to(&mut self, id: NodeId) {
        self.per_node.entry(id).or_default().requests_forwarded += 1;
    }

    /// Counts a response of node `id` forwarded toward a client.
    pub fn count_relayed_from(&mut self, id: NodeId) {
        self.per_node.entry(id).or_default().responses_relayed += 1;
    }

    /// Counts one processed response. Call once per response the forwarder handles.
    pub fn count_response(&mut self, status: u16, body_len: usize) {
        self.responses_processed += 1;
        self.body_bytes += body_len as u64;
        let class = format!("{}XX", (status / 100).clamp(1, 9));
        *self.responses_by_class.entry(class).or_insert(0) += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_class_with_reference_seeds() {
        let mut s = SipStats::default();
        assert_eq!(s.requests_by_method["PRACK"], 0);
        s.count_request("INVITE", 130);
        s.count_request("ACK", 0);
        s.count_request("BYE", 0);
        s.count_request("FOO", 117);
        s.count_response(180, 0);
        s.count_response(200, 0);
        s.count_response(486, 0);
        assert_eq!(s.requests_processed, 4);
        assert_eq!(s.responses_processed, 3);
        assert_eq!(s.body_bytes, 247);
        assert_eq!(s.requests_by_method["INVITE"], 1);
        assert_eq!(s.requests_by_method["FOO"], 1);
        assert_eq!(s.responses_by_class["1XX"], 1);
        assert_eq!(s.responses_by_class["2XX"], 1);
        assert_eq!(s.responses_by_class["4XX"], 1);
    }

    #[test]
    fn unknown_methods_cannot_grow_the_map_without_bound() {
        let mut s = SipStats::default();
        for i in 0..1000 {
            s.count_request(&format!("M{i}"), 0);
        }
        assert!(s.requests_by_method.len() <= 65);
        assert_eq!(s.requests_processed, 1000);
    }
}
