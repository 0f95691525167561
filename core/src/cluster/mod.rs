//! The cluster as the SIP forwarder sees it (behaviour reference §0 "versions", §3.3, §4.1):
//! the node [`Registry`], one balancing [`Algorithm`] per node version, and the SIP counters.
//!
//! Every registry mutation goes through [`Cluster::update_registry`] (or one of the helpers
//! built on it), which drains [`Registry::poll_event`] and propagates each event to the
//! algorithm of the node's version: `NodeAdded` → [`Algorithm::node_added`], `NodeRemoved` →
//! [`Algorithm::node_removed`], `Switchover` → [`Algorithm::switchover`]. The events are also
//! kept in an outward queue ([`Cluster::poll_event`]) so the balancer can log one line per
//! node joining, leaving, going graceful or bad.
//!
//! Algorithms are created lazily from the [`AlgorithmSettings`] when a version first appears
//! and are kept in a `BTreeMap` by [`Version`], so iteration (timers, switchover) is
//! deterministic.

mod settings;

use crate::algorithm::{self, Algorithm, AlgorithmError, AlgorithmSettings};
use crate::node::{Node, NodeId, Version};
use crate::registry::{Registry, RegistryEvent, RegistrySettings};
use crate::stats::SipStats;
use crate::time::Timestamp;
use std::collections::{BTreeMap, VecDeque};

/// The registry, the per-version algorithms and the SIP statistics.
#[derive(Debug)]
pub struct Cluster {
    registry: Registry,
    algorithm_settings: AlgorithmSettings,
    algorithms: BTreeMap<Version, Box<dyn Algorithm>>,
    stats: SipStats,
    events: VecDeque<RegistryEvent>,
}

impl Cluster {
    /// Creates the cluster at balancer start. Fails if the algorithm settings cannot build an
    /// algorithm (bad regular expression, malformed `subclusterMap`), so a bad configuration
    /// is refused at startup rather than when the first node registers.
    pub fn new(
        registry_settings: RegistrySettings,
        algorithm_settings: AlgorithmSettings,
        now: Timestamp,
    ) -> Result<Cluster, AlgorithmError> {
        algorithm::build(&algorithm_settings)?;
        let mut cluster = Cluster {
            registry: Registry::new(registry_settings, now),
            algorithm_settings,
            algorithms: BTreeMap::new(),
            stats: SipStats::default(),
            events: VecDeque::new(),
        };
        // Permanent extra server nodes (performance testing mode) are added by Registry::new.
        cluster.drain_registry_events(now);
        Ok(cluster)
    }

    /// Applies reloaded settings (docs/decisions.md §8.11: reload applies to algorithm
    /// parameters and node lists). Registry settings (timeouts, error detection) take effect at
    /// once. When the algorithm settings changed, every version's algorithm is rebuilt and told
    /// about the live nodes; affinity tables start empty, so dialogs in progress keep their
    /// node through the Route hints they carry (§1.6). Returns whether the algorithms were
    /// rebuilt; fails, changing nothing, if the new algorithm settings cannot build.
    pub fn reconfigure(
        &mut self,
        registry_settings: RegistrySettings,
        algorithm_settings: AlgorithmSettings,
        now: Timestamp,
    ) -> Result<bool, AlgorithmError> {
        let rebuild = algorithm_settings != self.algorithm_settings;
        if rebuild {
            algorithm::build(&algorithm_settings)?;
        }
        self.registry.set_settings(registry_settings, now);
        self.drain_registry_events(now);
        if rebuild {
            self.algorithm_settings = algorithm_settings;
            let versions: Vec<Version> = self.algorithms.keys().cloned().collect();
            for version in versions {
                let mut alg = build_or_default(&self.algorithm_settings, &version);
                for ipv6 in [false, true] {
                    for node in self.registry.live_nodes(&version, ipv6) {
                        alg.node_added(node, now);
                    }
                }
                self.algorithms.insert(version, alg);
            }
        }
        Ok(rebuild)
    }

    /// The registry (read only; mutate through [`Cluster::update_registry`]).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs `f` on the registry, then propagates the events it queued to the algorithms and
    /// to the outward event queue. Use it for heartbeats (`start`, `heartbeat`, `shutdown`,
    /// `stop`, `switchover`) and every other registry mutation.
    pub fn update_registry<R>(&mut self, now: Timestamp, f: impl FnOnce(&mut Registry) -> R) -> R {
        let r = f(&mut self.registry);
        self.drain_registry_events(now);
        r
    }

    /// The SIP counters.
    pub fn stats(&self) -> &SipStats {
        &self.stats
    }

    /// The SIP counters, for the forwarder.
    pub fn stats_mut(&mut self) -> &mut SipStats {
        &mut self.stats
    }

    /// The algorithm settings in force.
    pub fn algorithm_settings(&self) -> &AlgorithmSettings {
        &self.algorithm_settings
    }

    /// The next registry event, oldest first, for logging (one info line per node joining,
    /// leaving, going graceful or bad). The algorithms have already seen it.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<RegistryEvent> {
        self.events.pop_front()
    }

    /// The algorithm of `version`, created on first use.
    pub fn algorithm_mut(&mut self, version: &Version) -> &mut dyn Algorithm {
        let settings = &self.algorithm_settings;
        self.algorithms
            .entry(version.clone())
            .or_insert_with(|| build_or_default(settings, version))
            .as_mut()
    }

    /// The live nodes of `version` and the address family, with that version's algorithm
    /// (created on first use): what every routing decision reads.
    fn routing_view(&mut self, version: &Version, ipv6: bool) -> (&[Node], &mut dyn Algorithm) {
        let settings = &self.algorithm_settings;
        let alg = self
            .algorithms
            .entry(version.clone())
            .or_insert_with(|| build_or_default(settings, version));
        (self.registry.live_nodes(version, ipv6), alg.as_mut())
    }

    /// The algorithm of `version`, if that version was seen.
    pub fn algorithm(&self, version: &Version) -> Option<&dyn Algorithm> {
        self.algorithms.get(version).map(|a| a.as_ref())
    }

    /// Calls tracked by all algorithms (`/lbstat` `NumberOfActiveCalls`); `None` when the
    /// algorithm is stateless or no version exists yet.
    pub fn active_calls(&self) -> Option<usize> {
        self.algorithms
            .values()
            .filter_map(|a| a.active_calls())
            .reduce(|a, b| a + b)
    }

    /// The live node `id`.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.registry.node(id)
    }

    /// Selects a node for a client request with no live owner (§1.10-B.4), among the live
    /// nodes of `version` and the address family. Also fails over a dead owner (§1.22): the
    /// algorithm's sticky entry of a dead node is replaced within the same version.
    pub fn select_new(
        &mut self,
        version: &Version,
        ipv6: bool,
        req: &dyn algorithm::KeySource,
        now: Timestamp,
    ) -> Option<NodeId> {
        let (candidates, alg) = self.routing_view(version, ipv6);
        if let Some(id) = alg.select_for_new_request(req, candidates, now) {
            // Never hand out a node the algorithm should not have picked.
            return candidates.iter().any(|n| n.id == id).then_some(id);
        }
        // Every node that could take the request is suspect: a suspicion is not a death
        // certificate, so the call goes to one of them rather than being refused.
        if !candidates
            .iter()
            .any(|n| n.suspect && !n.graceful && !n.bad)
        {
            return None;
        }
        let trusted: Vec<Node> = candidates
            .iter()
            .cloned()
            .map(|mut n| {
                n.suspect = false;
                n
            })
            .collect();
        let id = alg.select_for_new_request(req, &trusted, now)?;
        trusted.iter().any(|n| n.id == id).then_some(id)
    }

    /// The algorithm's choice for an HTTP request (§4.2) with `httpAffinityKey` value
    /// `affinity`, among the live IPv4 nodes of `version` that `usable` accepts and that take
    /// new work. The node list is borrowed, not copied, when every live node qualifies.
    pub fn select_for_http(
        &mut self,
        version: &Version,
        usable: &dyn Fn(&Node) -> bool,
        affinity: Option<&str>,
        now: Timestamp,
    ) -> Option<NodeId> {
        let (live, alg) = self.routing_view(version, false);
        let open = |n: &Node| usable(n) && n.accepts_new_work();
        if live.iter().all(open) {
            return alg.select_for_http(affinity, live, now);
        }
        let open: Vec<Node> = live.iter().filter(|n| open(n)).cloned().collect();
        alg.select_for_http(affinity, &open, now)
    }

    /// Client request whose owner `hint` is known and alive (§1.10-A.2).
    pub fn select_assigned(
        &mut self,
        version: &Version,
        ipv6: bool,
        req: &dyn algorithm::KeySource,
        hint: NodeId,
        now: Timestamp,
    ) -> NodeId {
        let (candidates, alg) = self.routing_view(version, ipv6);
        let id = alg.select_for_assigned_request(req, hint, candidates, now);
        if candidates.iter().any(|n| n.id == id) {
            id
        } else {
            hint
        }
    }

    /// Affinity refresh for a non-ACK client request with a live Route hint (§1.8).
    pub fn assign(
        &mut self,
        version: &Version,
        req: &dyn algorithm::KeySource,
        node: NodeId,
        now: Timestamp,
    ) {
        self.algorithm_mut(version).assign(req, node, now);
    }

    /// Moves the affinity of `req`'s key away from `dead` (a node the balancer could not
    /// reach), among the live nodes of `version` and the address family (§1.22); the next
    /// selection for that key follows the new choice.
    pub fn fail_over(
        &mut self,
        version: &Version,
        ipv6: bool,
        req: &dyn algorithm::KeySource,
        dead: NodeId,
        now: Timestamp,
    ) -> Option<NodeId> {
        let (candidates, alg) = self.routing_view(version, ipv6);
        let id = alg.failover(req, dead, candidates, now)?;
        candidates.iter().any(|n| n.id == id).then_some(id)
    }

    /// Response failover (§1.17.6): asks the version's algorithm whether the response's
    /// top Via must be redirected to another live node.
    pub fn response_target(
        &mut self,
        version: &Version,
        ipv6: bool,
        resp: &dyn algorithm::KeySource,
        direction: algorithm::ResponseDirection,
        via_node: Option<NodeId>,
        now: Timestamp,
    ) -> Option<NodeId> {
        let (candidates, alg) = self.routing_view(version, ipv6);
        let id = alg.response_target(resp, direction, via_node, candidates, now)?;
        candidates.iter().any(|n| n.id == id).then_some(id)
    }

    /// Removes expired nodes (registry expiry, §3.3) and runs the algorithms' cache eviction
    /// (§4.3) whose deadline has passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.registry.next_deadline().is_some_and(|d| d <= now) {
            self.registry.handle_timeout(now);
            self.drain_registry_events(now);
        }
        for alg in self.algorithms.values_mut() {
            if alg.next_deadline().is_some_and(|d| d <= now) {
                alg.handle_timeout(now);
            }
        }
    }

    /// The earliest time [`Cluster::handle_timeout`] has work.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.algorithms
            .values()
            .filter_map(|a| a.next_deadline())
            .chain(self.registry.next_deadline())
            .min()
    }

    fn drain_registry_events(&mut self, now: Timestamp) {
        while let Some(event) = self.registry.poll_event() {
            if let RegistryEvent::NodeSuspect { node, .. } = &event {
                self.stats.count_suspect(node.id);
            }
            self.propagate(&event, now);
            self.events.push_back(event);
        }
    }

    fn propagate(&mut self, event: &RegistryEvent, now: Timestamp) {
        match event {
            RegistryEvent::NodeAdded(node) => {
                self.algorithm_mut(&node.version).node_added(node, now);
            }
            RegistryEvent::NodeRemoved { node, .. } => {
                self.algorithm_mut(&node.version).node_removed(node, now);
            }
            RegistryEvent::Switchover {
                from_jvm_route,
                to_jvm_route,
            } => {
                for (version, alg) in &mut self.algorithms {
                    let candidates = self.registry.live_nodes(version, false);
                    alg.switchover(from_jvm_route, to_jvm_route, candidates);
                }
            }
            // Graceful, bad and recovered nodes stay in the candidate slices with their flags;
            // the algorithms read the flags on every selection.
            _ => {}
        }
    }
}

fn build_or_default(settings: &AlgorithmSettings, version: &Version) -> Box<dyn Algorithm> {
    tracing::debug!(
        version = version.as_str(),
        "creating the algorithm of a new version"
    );
    match algorithm::build(settings) {
        Ok(a) => a,
        Err(e) => {
            // Cluster::new validated the settings, so this only happens if they were
            // replaced by an invalid set; keep balancing with the default algorithm.
            tracing::warn!(error = %e, "algorithm settings invalid; using call-id-affinity");
            Box::new(algorithm::AffinityAlgorithm::call_id(
                &AlgorithmSettings::default(),
            ))
        }
    }
}
