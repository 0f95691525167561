//! Sticky-table affinity: CallIDAffinity (§4.3, the default), UserBased (§4.4) and
//! ClusterSubdomain (§4.5) share this implementation and differ in the key rule, graceful
//! handling, regex pins and the failover partner.

use super::cluster_subdomain::Partners;
use super::key::{FromKey, KeyRule, KeySource};
use super::select::Selector;
use super::sticky::StickyTable;
use super::user_based::RegexPin;
use super::{
    by_jvm_route, is_live, Algorithm, AlgorithmError, AlgorithmKind, AlgorithmSettings,
    ResponseDirection,
};
use crate::node::{Node, NodeId};
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// A sticky key → node algorithm: CallIDAffinity, UserBased or ClusterSubdomain.
///
/// - New key → round-robin (or ramp-up) over candidates accepting new work.
/// - Known key, owner alive → the owner (CallIDAffinity and ClusterSubdomain: even if graceful;
///   UserBased: a graceful owner gets the key remapped, since a user's next call is new work).
/// - Known key, owner dead → failover: ClusterSubdomain's first live partner of the dead node
///   takes all its keys; else with `callIdAffinityGroupFailover` the least busy live node takes
///   all of them; else a round-robin pick for this key only.
#[derive(Debug, Clone)]
pub struct AffinityAlgorithm {
    kind: AlgorithmKind,
    rule: KeyRule,
    table: StickyTable,
    selector: Selector,
    group_failover: bool,
    keep_graceful: bool,
    pins: Vec<RegexPin>,
    partners: Option<Partners>,
    jvm_routes: BTreeMap<String, NodeId>,
}

/// CallIDAffinity (§4.3).
pub type CallIdAffinity = AffinityAlgorithm;
/// UserBased (§4.4).
pub type UserBased = AffinityAlgorithm;
/// ClusterSubdomain (§4.5).
pub type ClusterSubdomain = AffinityAlgorithm;

impl AffinityAlgorithm {
    fn base(kind: AlgorithmKind, rule: KeyRule, settings: &AlgorithmSettings) -> Self {
        AffinityAlgorithm {
            kind,
            rule,
            table: StickyTable::new(settings.max_time_in_cache),
            selector: Selector::new(settings.rampup),
            group_failover: settings.group_failover,
            keep_graceful: true,
            pins: Vec::new(),
            partners: None,
            jvm_routes: BTreeMap::new(),
        }
    }

    /// CallIDAffinity: the key is the Call-ID.
    pub fn call_id(settings: &AlgorithmSettings) -> Self {
        Self::base(AlgorithmKind::CallIdAffinity, KeyRule::call_id(), settings)
    }

    /// UserBased: the key follows `sipHeaderAffinityKey` with exclusion and fallback (§1.8).
    pub fn user_based(settings: &AlgorithmSettings) -> Result<Self, AlgorithmError> {
        let rule = KeyRule::new(
            &settings.header_affinity_key,
            settings.exclusion_pattern.as_deref(),
            settings.fallback_key.as_deref(),
            FromKey::Uri,
        )?;
        let mut a = Self::base(AlgorithmKind::UserBased, rule, settings);
        a.keep_graceful = false;
        Ok(a)
    }

    /// ClusterSubdomain: Call-ID affinity with `subclusterMap` partners.
    pub fn cluster_subdomain(settings: &AlgorithmSettings) -> Result<Self, AlgorithmError> {
        let map = super::SubclusterMap::parse(settings.subcluster_map.as_deref().unwrap_or(""))?;
        let mut a = Self::base(
            AlgorithmKind::ClusterSubdomain,
            KeyRule::call_id(),
            settings,
        );
        a.partners = Some(Partners::new(map));
        Ok(a)
    }

    /// The number of keys currently stored for `node`.
    pub fn calls_on(&self, node: NodeId) -> usize {
        self.table.count(node)
    }

    fn pinned(&self, key: &str, candidates: &[Node]) -> Option<NodeId> {
        for pin in self.pins.iter().filter(|p| p.matches(key)) {
            match candidates
                .iter()
                .find(|n| pin.targets(n) && n.accepts_new_work())
            {
                Some(n) => return Some(n.id),
                None => tracing::debug!(
                    pattern = pin.pattern(),
                    "regex pin target not available, normal selection"
                ),
            }
        }
        None
    }

    /// The owner for `key`: sticky entry if usable, failover if its node died, new pick if
    /// unknown. Stores the result.
    fn select_key(&mut self, key: &str, candidates: &[Node], now: Timestamp) -> Option<NodeId> {
        match self.table.get(key) {
            Some(owner) => match candidates.iter().find(|n| n.id == owner) {
                Some(n) if self.keep_graceful || n.accepts_new_work() => {
                    self.table.touch(key, now);
                    Some(owner)
                }
                Some(_) => {
                    let new = self.selector.pick(candidates, now)?;
                    self.table.set(key, new, now);
                    Some(new)
                }
                None => self.failover_key(key, owner, candidates, now),
            },
            None => {
                let new = self.selector.pick(candidates, now)?;
                self.table.set(key, new, now);
                Some(new)
            }
        }
    }

    fn failover_key(
        &mut self,
        key: &str,
        dead: NodeId,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        if let Some(p) = self
            .partners
            .as_ref()
            .and_then(|p| p.live_partner(dead, candidates))
        {
            let moved = self.table.move_all(dead, p);
            self.table.set(key, p, now);
            tracing::debug!(?dead, to = ?p, moved, "subcluster failover");
            return Some(p);
        }
        if self.group_failover {
            let target = candidates
                .iter()
                .filter(|n| n.id != dead && n.accepts_new_work())
                .min_by_key(|n| self.table.count(n.id))?
                .id;
            let moved = self.table.move_all(dead, target);
            self.table.set(key, target, now);
            tracing::debug!(?dead, to = ?target, moved, "grouped failover to least busy node");
            return Some(target);
        }
        let target = self.selector.pick(candidates, now)?;
        self.table.set(key, target, now);
        tracing::debug!(?dead, to = ?target, "failover");
        Some(target)
    }
}

impl Algorithm for AffinityAlgorithm {
    fn kind(&self) -> AlgorithmKind {
        self.kind
    }

    fn node_added(&mut self, node: &Node, now: Timestamp) {
        self.selector.node_added(node, now);
        if let Some(r) = &node.jvm_route {
            self.jvm_routes.insert(r.clone(), node.id);
        }
        if let Some(p) = &mut self.partners {
            p.node_added(node);
        }
    }

    fn node_removed(&mut self, node: &Node, _now: Timestamp) {
        self.selector.node_removed(node);
    }

    fn select_for_new_request(
        &mut self,
        req: &dyn KeySource,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        let Some(key) = self.rule.extract(req) else {
            return self.selector.pick(candidates, now);
        };
        if let Some(pinned) = self.pinned(key, candidates) {
            return Some(pinned);
        }
        self.select_key(key, candidates, now)
    }

    fn assign(&mut self, req: &dyn KeySource, node: NodeId, now: Timestamp) {
        if let Some(key) = self.rule.extract(req) {
            self.table.set(key, node, now);
        }
    }

    fn failover(
        &mut self,
        req: &dyn KeySource,
        dead: NodeId,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        let Some(key) = self.rule.extract(req) else {
            return self.selector.pick(candidates, now);
        };
        match self.table.get(key) {
            Some(owner) if owner != dead && is_live(candidates, owner) => {
                self.table.touch(key, now);
                Some(owner)
            }
            _ => self.failover_key(key, dead, candidates, now),
        }
    }

    fn response_target(
        &mut self,
        resp: &dyn KeySource,
        direction: ResponseDirection,
        via_node: Option<NodeId>,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        if via_node.is_some() {
            return None;
        }
        let key = self.rule.extract(resp)?;
        let owner = self.table.get(key).filter(|o| is_live(candidates, *o));
        match (owner, direction) {
            (Some(o), ResponseDirection::TowardNode) => {
                self.table.touch(key, now);
                Some(o)
            }
            (Some(_), ResponseDirection::TowardClient) => None,
            (None, _) => match self.table.get(key) {
                Some(dead) => self.failover_key(key, dead, candidates, now),
                None => {
                    let new = self.selector.pick(candidates, now)?;
                    self.table.set(key, new, now);
                    Some(new)
                }
            },
        }
    }

    fn select_for_http(
        &mut self,
        _affinity: Option<&str>,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        self.selector.pick(candidates, now)
    }

    fn switchover(&mut self, from_jvm_route: &str, to_jvm_route: &str, candidates: &[Node]) {
        let from = by_jvm_route(candidates, from_jvm_route)
            .map(|n| n.id)
            .or_else(|| self.jvm_routes.get(from_jvm_route).copied());
        let to = by_jvm_route(candidates, to_jvm_route).map(|n| n.id);
        match (from, to) {
            (Some(f), Some(t)) => {
                let moved = self.table.move_all(f, t);
                tracing::debug!(from_jvm_route, to_jvm_route, moved, "switchover");
            }
            _ => tracing::debug!(from_jvm_route, to_jvm_route, "switchover: unknown jvmRoute"),
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.table.handle_timeout(now);
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        self.table.next_deadline()
    }

    fn active_calls(&self) -> Option<usize> {
        Some(self.table.len())
    }

    fn set_regex_pins(&mut self, pins: Vec<RegexPin>) {
        if self.kind == AlgorithmKind::UserBased {
            self.pins = pins;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::tests::node;
    use super::super::KeyFields;
    use super::*;
    use std::time::Duration;

    fn req(call_id: &str) -> KeyFields {
        KeyFields::request("INVITE", call_id)
    }

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn algo(group: bool) -> AffinityAlgorithm {
        AffinityAlgorithm::call_id(&AlgorithmSettings {
            group_failover: group,
            max_time_in_cache: Duration::from_secs(10),
            ..AlgorithmSettings::default()
        })
    }

    #[test]
    fn new_call_ids_round_robin_and_stay_sticky() {
        let mut a = algo(false);
        let nodes = vec![node(1), node(2), node(3)];
        let picks: Vec<u64> = ["a", "b", "c", "d"]
            .iter()
            .map(|c| a.select_for_new_request(&req(c), &nodes, t(0)).unwrap().0)
            .collect();
        assert_eq!(picks, [1, 2, 3, 1]);
        assert_eq!(
            a.select_for_new_request(&req("b"), &nodes, t(1)),
            Some(NodeId(2))
        );
        assert_eq!(a.active_calls(), Some(4));
    }

    #[test]
    fn known_call_id_follows_a_graceful_owner_but_new_ones_avoid_it() {
        let mut a = algo(false);
        let mut nodes = vec![node(1), node(2)];
        assert_eq!(
            a.select_for_new_request(&req("a"), &nodes, t(0)),
            Some(NodeId(1))
        );
        nodes[0].graceful = true;
        assert_eq!(
            a.select_for_new_request(&req("a"), &nodes, t(1)),
            Some(NodeId(1))
        );
        assert_eq!(
            a.select_for_new_request(&req("b"), &nodes, t(1)),
            Some(NodeId(2))
        );
        assert_eq!(
            a.select_for_new_request(&req("c"), &nodes, t(1)),
            Some(NodeId(2))
        );
        nodes[1].bad = true;
        assert_eq!(a.select_for_new_request(&req("d"), &nodes, t(1)), None);
    }

    #[test]
    fn dead_owner_fails_over_one_call_at_a_time() {
        let mut a = algo(false);
        let nodes = vec![node(1), node(2), node(3)];
        for c in ["a", "b", "c", "d"] {
            a.select_for_new_request(&req(c), &nodes, t(0));
        }
        // "a" and "d" are on node 1, which dies.
        let alive = vec![node(2), node(3)];
        let new_a = a.select_for_new_request(&req("a"), &alive, t(1)).unwrap();
        assert_ne!(new_a, NodeId(1));
        assert_eq!(a.calls_on(NodeId(1)), 1, "only the requested call moved");
        assert_eq!(
            a.select_for_new_request(&req("a"), &alive, t(2)),
            Some(new_a)
        );
    }

    #[test]
    fn group_failover_moves_every_call_to_the_least_busy_node() {
        let mut a = algo(true);
        let nodes = vec![node(1), node(2), node(3)];
        for c in ["a", "b", "c", "d", "e"] {
            a.select_for_new_request(&req(c), &nodes, t(0));
        }
        // node1: a, d; node2: b, e; node3: c. Node 1 dies; node 3 is the least busy.
        let alive = vec![node(2), node(3)];
        assert_eq!(
            a.failover(&req("a"), NodeId(1), &alive, t(1)),
            Some(NodeId(3))
        );
        assert_eq!(a.calls_on(NodeId(3)), 3);
        assert_eq!(
            a.select_for_new_request(&req("d"), &alive, t(1)),
            Some(NodeId(3))
        );
        // A node that never had a call counts as least busy (fixes the reference quirk).
        let mut b = algo(true);
        let two = vec![node(1), node(2)];
        b.select_for_new_request(&req("x"), &two, t(0));
        b.select_for_new_request(&req("y"), &two, t(0));
        let with_new = vec![node(2), node(4)];
        assert_eq!(
            b.select_for_new_request(&req("x"), &with_new, t(1)),
            Some(NodeId(4))
        );
    }

    #[test]
    fn assign_makes_node_created_dialogs_sticky() {
        let mut a = algo(false);
        let nodes = vec![node(1), node(2), node(3)];
        a.assign(&req("srv"), NodeId(3), t(0));
        assert_eq!(
            a.select_for_new_request(&req("srv"), &nodes, t(1)),
            Some(NodeId(3))
        );
        assert_eq!(
            a.select_for_assigned_request(&req("srv"), NodeId(3), &nodes, t(1)),
            NodeId(3)
        );
    }

    #[test]
    fn idle_entries_are_evicted_on_the_timer() {
        let mut a = algo(false);
        let nodes = vec![node(1), node(2)];
        a.select_for_new_request(&req("a"), &nodes, t(0));
        a.select_for_new_request(&req("b"), &nodes, t(0));
        assert_eq!(a.next_deadline(), Some(t(6_000)));
        a.select_for_new_request(&req("b"), &nodes, t(5_000));
        a.handle_timeout(t(6_000));
        assert_eq!(a.active_calls(), Some(2), "nothing idle for more than 10 s");
        a.handle_timeout(t(12_000));
        assert_eq!(a.active_calls(), Some(1), "a idle 12 s, b idle 7 s");
        a.handle_timeout(t(18_000));
        assert_eq!(a.active_calls(), Some(0));
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn responses_are_redirected_only_when_the_via_node_is_gone() {
        let mut a = algo(false);
        let nodes = vec![node(1), node(2)];
        a.select_for_new_request(&req("a"), &nodes, t(0));
        let resp = KeyFields {
            status: Some(200),
            ..req("a")
        };
        let toward = ResponseDirection::TowardNode;
        assert_eq!(
            a.response_target(&resp, toward, Some(NodeId(2)), &nodes, t(1)),
            None
        );
        assert_eq!(
            a.response_target(&resp, toward, None, &nodes, t(1)),
            Some(NodeId(1))
        );
        let client = ResponseDirection::TowardClient;
        assert_eq!(a.response_target(&resp, client, None, &nodes, t(1)), None);
        let alive = vec![node(2)];
        assert_eq!(
            a.response_target(&resp, client, None, &alive, t(1)),
            Some(NodeId(2))
        );
    }

    #[test]
    fn switchover_moves_calls_between_jvm_routes() {
        let mut a = algo(false);
        let mut n1 = node(1);
        n1.jvm_route = Some("r1".into());
        let mut n2 = node(2);
        n2.jvm_route = Some("r2".into());
        a.node_added(&n1, t(0));
        a.node_added(&n2, t(0));
        let nodes = vec![n1, n2.clone()];
        a.select_for_new_request(&req("a"), &nodes, t(0));
        assert_eq!(a.calls_on(NodeId(1)), 1);
        // r1 is already gone from the live list: it is found through node_added.
        a.switchover("r1", "r2", &[n2]);
        assert_eq!((a.calls_on(NodeId(1)), a.calls_on(NodeId(2))), (0, 1));
        a.switchover("nope", "r2", &nodes);
    }
}
