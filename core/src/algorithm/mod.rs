//! The SIP/HTTP balancing algorithms (behaviour reference §4.1–§4.10; docs/decisions.md §3,
//! §8.7–§8.10).
//!
//! One [`Algorithm`] instance serves one version context (§4.1). The algorithms never look the
//! registry up themselves: every call that selects a node gets the candidate slice, the live
//! nodes of the request's version and address family in NodeId order, graceful and bad nodes
//! included with their flags. A node is "alive" for an algorithm exactly when it is in that
//! slice; [`NodeId`]s are never reused, so a sticky entry can never point at a replacement.
//!
//! Everything is deterministic: round-robin walks NodeId order with a remembered position,
//! consistent hashing uses a fixed hash of the node's ip and ports, timers are driven by the
//! caller through [`Algorithm::handle_timeout`] and [`Algorithm::next_deadline`].

mod active_standby;
mod call_id;
mod cluster_subdomain;
mod hash;
mod key;
mod persistent;
mod rampup;
mod select;
mod sticky;
mod user_based;
mod worst_case;

pub use active_standby::ActiveStandby;
pub use call_id::{AffinityAlgorithm, CallIdAffinity, ClusterSubdomain, UserBased};
pub use cluster_subdomain::SubclusterMap;
pub use hash::{
    fnv1a64, hrw_choose, hrw_rank, hrw_score, key_hash, node_identity_hash, ConsistentHash,
};
pub use key::{http_affinity_value, FromKey, HeaderKey, KeyFields, KeyRule, KeySource};
pub use persistent::PersistentConsistentHash;
pub use rampup::RampUp;
pub use select::{RoundRobin, Selector};
pub use sticky::{StickyTable, SWEEP_PERIOD};
pub use user_based::RegexPin;
pub use worst_case::WorstCase;

use crate::node::{Node, NodeId};
use crate::time::Timestamp;
use std::fmt;
use std::time::Duration;

/// Errors building an algorithm from its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgorithmError {
    /// A configured or API-supplied regular expression does not compile.
    #[error("{what}: invalid regular expression {pattern:?}: {reason}")]
    BadRegex {
        /// The configuration key or API that supplied it.
        what: &'static str,
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
    /// `subclusterMap` is malformed.
    #[error("subclusterMap {map:?}: {reason}")]
    Subcluster {
        /// The configured text.
        map: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The algorithms Switchboard provides (§4.3–§4.10), named as in `lb-configuration.xml`.
pub use crate::config::AlgorithmKind;

/// Ramp-up parameters (§4.2): both `trafficRampupCyclePeriod` and `trafficPercentageIncrease`
/// must be set for ramp-up to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RampUpSettings {
    /// `trafficRampupCyclePeriod` (configured in ms).
    pub cycle_period: Duration,
    /// `trafficPercentageIncrease` (%).
    pub percentage_increase: u32,
}

/// Everything the algorithms read from the configuration (§4.12), with the reference defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmSettings {
    /// `algorithmClass`.
    pub kind: AlgorithmKind,
    /// `sipHeaderAffinityKey` (default `Call-ID`).
    pub header_affinity_key: String,
    /// `sipHeaderAffinityExclusionPattern`.
    pub exclusion_pattern: Option<String>,
    /// `sipHeaderAffinityFallbackKey`.
    pub fallback_key: Option<String>,
    /// `callIdAffinityGroupFailover` (default false).
    pub group_failover: bool,
    /// `callIdAffinityMaxTimeInCache` (configured in seconds, default 500).
    pub max_time_in_cache: Duration,
    /// `httpAffinityKey` (default `appsession`): the query parameter the HTTP layer extracts
    /// and passes to [`Algorithm::select_for_http`].
    pub http_affinity_key: String,
    /// `subclusterMap` text, e.g. `( 10.0.0.1, 10.0.0.2 ) ( 10.0.0.3 )`.
    pub subcluster_map: Option<String>,
    /// `earlyDialogWorstCase` (default false).
    pub early_dialog_worst_case: bool,
    /// Ramp-up, when both keys are set.
    pub rampup: Option<RampUpSettings>,
}

impl Default for AlgorithmSettings {
    fn default() -> Self {
        AlgorithmSettings {
            kind: AlgorithmKind::CallIdAffinity,
            header_affinity_key: "Call-ID".to_owned(),
            exclusion_pattern: None,
            fallback_key: None,
            group_failover: false,
            max_time_in_cache: Duration::from_secs(500),
            http_affinity_key: "appsession".to_owned(),
            subcluster_map: None,
            early_dialog_worst_case: false,
            rampup: None,
        }
    }
}

/// Which way a response travels (§4.3 hooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseDirection {
    /// From a client toward a node (`processExternalResponse`).
    TowardNode,
    /// From a node toward a client (`processInternalResponse`).
    TowardClient,
}

/// A balancing algorithm (§4.1). Call order per event is given on each method; every method
/// taking `candidates` expects the live nodes of the request's version and address family.
pub trait Algorithm: fmt::Debug + Send {
    /// Which algorithm this is.
    fn kind(&self) -> AlgorithmKind;

    /// Call when the registry adds a node of this version (§4.1 `nodeAdded`).
    fn node_added(&mut self, node: &Node, now: Timestamp);

    /// Call when the registry removes a node of this version: expiry, `stop`, bad-node removal
    /// (§4.1 `nodeRemoved`). Sticky entries of the node are failed over lazily, on their next
    /// use, as in the reference.
    fn node_removed(&mut self, node: &Node, now: Timestamp);

    /// Call for a client request with no live owner (§1.10-B.4 `processExternalRequest`);
    /// `None` means no node can take it (→ 503). Known keys keep their node while it is alive;
    /// a key whose node died is failed over as in [`Algorithm::failover`].
    fn select_for_new_request(
        &mut self,
        req: &dyn KeySource,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId>;

    /// Call for a client request whose owner `hint` is known and alive (§1.10-A.2
    /// `processAssignedExternalRequest`). Returns the node to use; all algorithms but the
    /// worst-case test algorithm return `hint`.
    fn select_for_assigned_request(
        &mut self,
        req: &dyn KeySource,
        hint: NodeId,
        candidates: &[Node],
        now: Timestamp,
    ) -> NodeId {
        let _ = (req, candidates, now);
        hint
    }

    /// Call when a non-ACK client request carried a live Route hint to `node` (§1.8
    /// `assignToNode`): keeps dialogs created by nodes sticky.
    fn assign(&mut self, req: &dyn KeySource, node: NodeId, now: Timestamp);

    /// Call when the request's dialog owner `dead` is gone (§1.22). `candidates` are the live
    /// nodes of the dead node's version. Returns the replacement, which later requests of the
    /// same key also get; with `callIdAffinityGroupFailover` every key of `dead` moves.
    fn failover(
        &mut self,
        req: &dyn KeySource,
        dead: NodeId,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId>;

    /// Call for every response the balancer forwards (§4.3 `processExternalResponse` /
    /// `processInternalResponse`). `via_node` is the live node that the top Via (or, toward a
    /// client, the sending node) designates, if any. Returns `Some(node)` when the top Via must
    /// be rewritten to that node, `None` to leave the response alone. The caller skips this for
    /// statuses in `responsesStatusCodeNodeRemoval`.
    fn response_target(
        &mut self,
        resp: &dyn KeySource,
        direction: ResponseDirection,
        via_node: Option<NodeId>,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId>;

    /// Call for an HTTP request after the instance-id and jsessionid rules of §4.2 found no
    /// node. `affinity` is the value of the `httpAffinityKey` query parameter, if present
    /// (used by the hash algorithms). `candidates` are the IPv4 nodes of the latest version.
    fn select_for_http(
        &mut self,
        affinity: Option<&str>,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId>;

    /// Call on a heartbeat `switchover` (§3.2, §4.3 `jvmRouteSwitchover`): every key of the
    /// node with jvmRoute `from` moves to the live node with jvmRoute `to`. The `from` node is
    /// looked up among `candidates` first, then among the nodes announced by `node_added`.
    fn switchover(&mut self, from_jvm_route: &str, to_jvm_route: &str, candidates: &[Node]);

    /// Call when [`Algorithm::next_deadline`] is reached (cache eviction, §4.3).
    fn handle_timeout(&mut self, now: Timestamp);

    /// The next time [`Algorithm::handle_timeout`] has work, if any.
    fn next_deadline(&self) -> Option<Timestamp>;

    /// Calls tracked (`/lbstat` `NumberOfActiveCalls`); `None` for stateless algorithms (the
    /// reference reports −1).
    fn active_calls(&self) -> Option<usize>;

    /// Replaces the `/lbnoderegex` pins (§7.1, §4.4). Only UserBased consults them; the
    /// others ignore the call.
    fn set_regex_pins(&mut self, pins: Vec<RegexPin>) {
        let _ = pins;
    }
}

/// Builds the configured algorithm. Call once per version context; errors name the offending
/// setting (bad regular expression, malformed `subclusterMap`).
pub fn build(settings: &AlgorithmSettings) -> Result<Box<dyn Algorithm>, AlgorithmError> {
    tracing::debug!(algorithm = settings.kind.short_name(), "building algorithm");
    Ok(match settings.kind {
        AlgorithmKind::CallIdAffinity => Box::new(AffinityAlgorithm::call_id(settings)),
        AlgorithmKind::UserBased => Box::new(AffinityAlgorithm::user_based(settings)?),
        AlgorithmKind::ClusterSubdomain => {
            Box::new(AffinityAlgorithm::cluster_subdomain(settings)?)
        }
        AlgorithmKind::HeaderConsistentHash | AlgorithmKind::PureConsistentHash => {
            Box::new(ConsistentHash::new(settings)?)
        }
        AlgorithmKind::PersistentConsistentHash => {
            Box::new(PersistentConsistentHash::new(settings)?)
        }
        AlgorithmKind::ActiveStandby => Box::new(ActiveStandby::new(settings)),
        AlgorithmKind::WorstCase => Box::new(WorstCase::new(settings)),
    })
}

/// Finds the node with jvmRoute `route` among `nodes`.
pub(crate) fn by_jvm_route<'a>(nodes: &'a [Node], route: &str) -> Option<&'a Node> {
    nodes.iter().find(|n| n.jvm_route.as_deref() == Some(route))
}

/// True if `id` is among the candidates (alive).
pub(crate) fn is_live(candidates: &[Node], id: NodeId) -> bool {
    candidates.iter().any(|n| n.id == id)
}

/// The candidates without `dead`: what a failover chooses among (§1.22).
pub(crate) fn without(candidates: &[Node], dead: NodeId) -> Vec<Node> {
    candidates
        .iter()
        .filter(|n| n.id != dead)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_constructs_every_kind() {
        for kind in AlgorithmKind::ALL {
            let s = AlgorithmSettings {
                kind,
                ..AlgorithmSettings::default()
            };
            assert_eq!(build(&s).unwrap().kind(), kind);
        }
        let bad = AlgorithmSettings {
            kind: AlgorithmKind::ClusterSubdomain,
            subcluster_map: Some("(10.0.0.1,10.0.0.1)".into()),
            ..AlgorithmSettings::default()
        };
        assert!(matches!(
            build(&bad),
            Err(AlgorithmError::Subcluster { .. })
        ));
        let bad_regex = AlgorithmSettings {
            kind: AlgorithmKind::UserBased,
            header_affinity_key: "To".into(),
            exclusion_pattern: Some("[".into()),
            ..AlgorithmSettings::default()
        };
        assert!(matches!(
            build(&bad_regex),
            Err(AlgorithmError::BadRegex { .. })
        ));
    }
}
