//! What the registry tells the algorithms and the logs (behaviour reference §3.3, §1.19, §1.20).

use crate::node::{Node, NodeId, Transport};

/// Why a node left the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemovalReason {
    /// Silent for longer than `nodeTimeout` (§3.3 expiry).
    Expired,
    /// The node sent `stop` (§3.2).
    Stopped,
    /// The same (ip, ports) registered again with a new `sessionId` (a restart);
    /// `by` is the entry that replaced it (docs/decisions.md §8.5).
    Replaced {
        /// The new entry.
        by: NodeId,
    },
}

/// Why a node was marked bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadReason {
    /// More than `maxNumberResponsesWithError` responses with a
    /// `responsesStatusCodeNodeRemoval` status within `maxErrorTime` (§1.19).
    ErrorResponses {
        /// The status of the response that tipped the count.
        status: u16,
        /// Error responses counted in the current window.
        count: u32,
    },
    /// More than `maxRequestNumberWithoutResponse` unanswered requests and no response for
    /// longer than `maxResponseTime` (§1.20).
    Unresponsive {
        /// Requests sent since the last response.
        unanswered: u32,
    },
    /// `failureThreshold` OPTIONS probes in a row went unanswered (or were answered with a
    /// code `replyCodes` does not accept). Cleared after `successThreshold` good probes.
    ProbeFailed {
        /// Failed probes in a row.
        failures: u32,
    },
    /// It answered an HTTP request matching `requestCheckPattern` with a 4xx or 5xx status
    /// (behaviour reference §5).
    HttpErrorResponse {
        /// The status.
        status: u16,
    },
}

/// Why a node became suspect (docs/decisions.md, "Node failure").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SuspectReason {
    /// An INVITE forwarded to it got no response at all within `inviteFailoverTimeout`.
    Unanswered,
    /// The operating system refused a send to it: a connection could not be opened or was
    /// reset, or a datagram drew an ICMP unreachable.
    SendRefused(Transport),
    /// A probe sent while it was suspect went unanswered.
    ProbeUnanswered,
}

/// A change in the registry. Queued by every mutation; drain with
/// [`Registry::poll_event`](super::Registry::poll_event) after each call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryEvent {
    /// A node joined (first `start`, a restart under a new `sessionId`, a SIP heartbeat from
    /// an unknown node, or a permanent extra server node).
    NodeAdded(Node),
    /// A node left; algorithms must drop it from their tables.
    NodeRemoved {
        /// The node as it was when removed.
        node: Node,
        /// Why it left.
        reason: RemovalReason,
    },
    /// The node announced a graceful shutdown: no new calls, in-dialog traffic still flows
    /// (§3.4).
    NodeGraceful(Node),
    /// The node was marked bad and must not get new calls (§1.19, §1.20).
    NodeBad {
        /// The node, with `bad` set.
        node: Node,
        /// What tripped the detection.
        reason: BadReason,
    },
    /// A bad node was cleared (a `start` repeated with its session, or it answered again
    /// after a health-check failure, or passed `successThreshold` probes).
    NodeRecovered(Node),
    /// The node became suspect: no new calls while another node can take them.
    NodeSuspect {
        /// The node, with `suspect` set.
        node: Node,
        /// What made it suspect.
        reason: SuspectReason,
    },
    /// A suspect node answered SIP again and takes new calls.
    NodeTrusted(Node),
    /// A node asked that HTTP sessions stuck to `from_jvm_route` move to `to_jvm_route`
    /// (§3.2 `switchover`).
    Switchover {
        /// The `fromJvmRoute` of the request.
        from_jvm_route: String,
        /// The `toJvmRoute` of the request.
        to_jvm_route: String,
    },
}
