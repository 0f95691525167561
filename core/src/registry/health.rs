//! Bad-node detection: media-failure detection on error responses (behaviour reference
//! §1.19) and the active health check on unanswered requests (§1.20).

use super::{BadReason, Registry, RegistryEvent, SuspectReason};
use crate::node::NodeId;
use crate::time::Timestamp;

/// Per-node detection counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Health {
    /// Error responses counted in the current window (§1.19 `failCounter`).
    errors: u32,
    /// When the last counted error response arrived.
    last_error: Timestamp,
    /// Requests sent since the last response (§1.20 `requestNumberWithoutResponse`).
    unanswered: u32,
    /// When the last response arrived; the registration time until the first one.
    last_response: Timestamp,
    /// Why the node is bad, if it is.
    bad: Option<BadReason>,
}

impl Health {
    pub(super) fn new(now: Timestamp) -> Health {
        Health {
            errors: 0,
            last_error: now,
            unanswered: 0,
            last_response: now,
            bad: None,
        }
    }
}

impl Registry {
    /// Call for every SIP response received from node `id` (§1.19). If `status` is one of
    /// `responsesStatusCodeNodeRemoval`, it is counted: a count older than `maxErrorTime`
    /// (measured from the previous error) restarts at zero, and when the count exceeds
    /// `maxNumberResponsesWithError` the node is marked bad (`NodeBad`). Returns true if
    /// this call marked it bad. A bad node stays bad until it restarts or repeats `start`.
    pub fn record_error_response(&mut self, id: NodeId, status: u16, now: Timestamp) -> bool {
        if !self.settings.error_status_codes.contains(&status) {
            return false;
        }
        let max = self.settings.max_error_responses;
        let window = self.settings.max_error_time;
        let Some(h) = self.health.get_mut(&id) else {
            return false;
        };
        if h.errors != 0 && now.saturating_since(h.last_error) > window {
            h.errors = 0;
        }
        h.errors = h.errors.saturating_add(1);
        h.last_error = now;
        let count = h.errors;
        if count > max && h.bad.is_none() {
            return self.mark_bad(id, BadReason::ErrorResponses { status, count });
        }
        false
    }

    /// Call for every request except ACK sent to node `id` (§1.20). With the health check
    /// enabled, the node is marked bad when its unanswered requests exceed
    /// `maxRequestNumberWithoutResponse` and its last response (or its registration, if it
    /// never answered) is older than `maxResponseTime`. Returns true if this call marked it
    /// bad.
    pub fn record_request_sent(&mut self, id: NodeId, now: Timestamp) -> bool {
        let Some(check) = self.settings.health_check else {
            return false;
        };
        let Some(h) = self.health.get_mut(&id) else {
            return false;
        };
        h.unanswered = h.unanswered.saturating_add(1);
        let unanswered = h.unanswered;
        if unanswered > check.max_requests_without_response
            && now.saturating_since(h.last_response) > check.max_response_time
            && h.bad.is_none()
        {
            return self.mark_bad(id, BadReason::Unresponsive { unanswered });
        }
        false
    }

    /// Call for every SIP response received from node `id`, whatever its status (§1.20):
    /// resets the unanswered-request count. A node marked bad by the health check (and only
    /// by it) recovers here, because answering proves it responsive again (`NodeRecovered`);
    /// the reference kept it out until a restart, which no reference node client triggers.
    pub fn record_response(&mut self, id: NodeId, now: Timestamp) {
        let Some(h) = self.health.get_mut(&id) else {
            return;
        };
        h.unanswered = 0;
        h.last_response = h.last_response.max(now);
        if matches!(h.bad, Some(BadReason::Unresponsive { .. })) {
            self.clear_bad(id, now);
        }
        self.clear_suspect(id);
    }

    /// Marks node `id` suspect (docs/decisions.md, "Node failure"): it gets no new calls while
    /// another node can take them, until it sends a SIP response again (a reply to a probe
    /// included; heartbeats do not clear it). Returns true if it was not suspect before.
    pub fn mark_suspect(&mut self, id: NodeId, reason: SuspectReason) -> bool {
        let Some(node) = self.node_mut(id) else {
            return false;
        };
        if node.suspect {
            return false;
        }
        node.suspect = true;
        let node = node.clone();
        tracing::info!(target: "registry", id = id.0, host = %node.host_name, ip = %node.key.ip,
            reason = ?reason, "node suspect");
        self.events
            .push_back(RegistryEvent::NodeSuspect { node, reason });
        true
    }

    /// Clears the suspect flag of node `id`; true if it was suspect.
    pub fn clear_suspect(&mut self, id: NodeId) -> bool {
        let Some(node) = self.node_mut(id) else {
            return false;
        };
        if !node.suspect {
            return false;
        }
        node.suspect = false;
        let node = node.clone();
        tracing::info!(target: "registry", id = id.0, host = %node.host_name, ip = %node.key.ip,
            "node answers again");
        self.events.push_back(RegistryEvent::NodeTrusted(node));
        true
    }

    /// Takes node `id` out of rotation after `failures` failed OPTIONS probes in a row
    /// ([`BadReason::ProbeFailed`]). Returns true if it was not bad before.
    pub fn record_probe_down(&mut self, id: NodeId, failures: u32) -> bool {
        if self.node(id).is_none_or(|n| n.bad) {
            return false;
        }
        self.mark_bad(id, BadReason::ProbeFailed { failures })
    }

    /// Brings node `id` back after `successThreshold` good probes, if failed probes made it
    /// bad. Returns true if it was.
    pub fn record_probe_up(&mut self, id: NodeId, now: Timestamp) -> bool {
        let probe_down = self
            .health
            .get(&id)
            .is_some_and(|h| matches!(h.bad, Some(BadReason::ProbeFailed { .. })));
        probe_down && self.clear_bad(id, now)
    }

    /// Call when node `id` answered an HTTP request matching `requestCheckPattern` with a
    /// 4xx or 5xx `status` (behaviour reference §5, `HttpBadResponseNodeRemovalTest`): the node
    /// is marked bad and gets no more requests until it restarts or repeats `start`. Returns
    /// true if this call marked it bad.
    pub fn record_http_error(&mut self, id: NodeId, status: u16) -> bool {
        let already = self.node(id).is_none_or(|n| n.bad);
        !already && self.mark_bad(id, BadReason::HttpErrorResponse { status })
    }

    fn mark_bad(&mut self, id: NodeId, reason: BadReason) -> bool {
        let Some(node) = self.node_mut(id) else {
            return false;
        };
        node.bad = true;
        let node = node.clone();
        if let Some(h) = self.health.get_mut(&id) {
            h.bad = Some(reason);
        }
        tracing::info!(target: "registry", id = id.0, host = %node.host_name, ip = %node.key.ip,
            reason = ?reason, "node marked bad");
        self.events
            .push_back(RegistryEvent::NodeBad { node, reason });
        true
    }

    /// Clears the bad flag and every detection counter; true if the node was bad.
    pub(super) fn clear_bad(&mut self, id: NodeId, now: Timestamp) -> bool {
        let Some(node) = self.node_mut(id) else {
            return false;
        };
        if !node.bad {
            return false;
        }
        node.bad = false;
        let node = node.clone();
        self.health.insert(id, Health::new(now));
        tracing::info!(target: "registry", id = id.0, host = %node.host_name, ip = %node.key.ip, "node recovered");
        self.events.push_back(RegistryEvent::NodeRecovered(node));
        true
    }
}
