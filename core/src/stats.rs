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
    /// Retransmissions the balancer sent toward clients (node-originated requests it
    /// acknowledged with `100 Trying`).
    #[serde(default)]
    pub retransmissions_to_clients: u64,
    /// Requests the balancer acknowledged that nothing answered before Timer B/F: their
    /// senders got `408` (or the `isSend5xxResponse` status).
    #[serde(default)]
    pub timed_out: u64,
    /// Initial requests that found no node during `startupGracePeriod` and were left to the
    /// caller's retransmission.
    #[serde(default)]
    pub held_at_startup: u64,
    /// OPTIONS probes sent to nodes.
    #[serde(default)]
    pub probes_sent: u64,
}

/// Upper bounds, in seconds, of the response-time histogram buckets (`/metrics`).
pub const RESPONSE_TIME_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A Prometheus-style histogram of one node's response times: from forwarding a request to
/// the node's first response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseTimes {
    /// Observations at most [`RESPONSE_TIME_BUCKETS`]`[i]` (not cumulative).
    pub buckets: [u64; 12],
    /// Observations above the last bucket.
    pub above: u64,
    /// Number of observations.
    pub count: u64,
    /// Sum of the observations, in microseconds.
    pub sum_micros: u64,
    /// The last observation, in microseconds.
    pub last_micros: Option<u64>,
}

impl ResponseTimes {
    /// Records one response time.
    pub fn observe(&mut self, elapsed: std::time::Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let secs = elapsed.as_secs_f64();
        match RESPONSE_TIME_BUCKETS.iter().position(|b| secs <= *b) {
            Some(i) => self.buckets[i] += 1,
            None => self.above += 1,
        }
        self.count += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
        self.last_micros = Some(micros);
    }
}

/// What one node sent and received through the balancer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTraffic {
    /// Client requests forwarded to the node.
    pub requests_forwarded: u64,
    /// Responses from the node forwarded toward clients.
    pub responses_relayed: u64,
    /// Retransmissions the balancer sent to the node (requests it acknowledged).
    #[serde(default)]
    pub retransmissions: u64,
    /// INVITEs moved from this node to another because it left them unanswered.
    #[serde(default)]
    pub invite_failovers: u64,
    /// Times the node became suspect.
    #[serde(default)]
    pub suspect_transitions: u64,
    /// Forwarding to first response.
    #[serde(default)]
    pub response_times: ResponseTimes,
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
            retransmissions_to_clients: 0,
            timed_out: 0,
            held_at_startup: 0,
            probes_sent: 0,
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

    /// Counts a retransmission the balancer sent toward node `id` (or toward a client).
    pub fn count_retransmission(&mut self, id: Option<NodeId>) {
        match id {
            Some(id) => self.per_node.entry(id).or_default().retransmissions += 1,
            None => self.retransmissions_to_clients += 1,
        }
    }

    /// Counts an INVITE moved away from node `id`.
    pub fn count_invite_failover(&mut self, id: NodeId) {
        self.per_node.entry(id).or_default().invite_failovers += 1;
    }

    /// Counts node `id` becoming suspect.
    pub fn count_suspect(&mut self, id: NodeId) {
        self.per_node.entry(id).or_default().suspect_transitions += 1;
    }

    /// Records node `id`'s response time.
    pub fn observe_response_time(&mut self, id: NodeId, elapsed: std::time::Duration) {
        self.per_node
            .entry(id)
            .or_default()
            .response_times
            .observe(elapsed);
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
