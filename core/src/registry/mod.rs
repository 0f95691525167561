//! The node registry (behaviour reference §3.3, with the fixes of docs/decisions.md §8.5 and
//! §8.6).
//!
//! Nodes are identified by (ip, ports) ([`NodeKey`]). Each registration gets a fresh
//! [`NodeId`] that is never reused, so a node restarted with a new `sessionId` replaces its old
//! entry under a new id and the expiry of the old entry can never remove the new one (the
//! reference's "stale twin" bug).
//!
//! The registry is pure: every method that depends on time takes `now`. Every mutation queues
//! [`RegistryEvent`]s; drain them with [`Registry::poll_event`] after each call so the
//! algorithms and the logs can react. Expiry is driven by the caller: sleep until
//! [`Registry::next_deadline`], then call [`Registry::handle_timeout`].
//!
//! Nodes are kept per version and per address family, in registration order (ascending
//! [`NodeId`]), so [`Registry::live_nodes`] hands the algorithms a slice without copying.
//! Nothing here iterates a hash map: every answer is deterministic.

mod announce;
mod event;
mod health;
mod lifecycle;
mod settings;

pub use announce::{
    parse_ip, AnnouncementError, NodeAnnouncement, INSTANCE_ID_KEY, UNDEFINED_HOST_NAME,
};
pub use event::{BadReason, RegistryEvent, RemovalReason, SuspectReason};
pub use lifecycle::{PingOutcome, StartOutcome, UnknownSession};
pub use settings::{
    ExtraServerNode, ExtraServerNodeError, HealthCheckSettings, RegistrySettings, StaticNodeSpec,
};

use crate::node::{Node, NodeId, NodeKey, NodePorts, Version};
use crate::time::Timestamp;
use health::Health;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

/// The property that marks a node registered from `<staticNodes>`.
pub const STATIC_NODE_PROPERTY: &str = "staticNode";

/// The nodes of one version, split by address family, each sorted by [`NodeId`].
#[derive(Debug, Clone, Default)]
struct Families {
    v4: Vec<Node>,
    v6: Vec<Node>,
}

impl Families {
    fn list(&self, ipv6: bool) -> &Vec<Node> {
        if ipv6 {
            &self.v6
        } else {
            &self.v4
        }
    }

    fn list_mut(&mut self, ipv6: bool) -> &mut Vec<Node> {
        if ipv6 {
            &mut self.v6
        } else {
            &mut self.v4
        }
    }
}

/// The registry of cluster nodes (§3.3).
#[derive(Debug, Clone)]
pub struct Registry {
    settings: RegistrySettings,
    /// Every version ever seen (entries are never removed, so the latest version is stable).
    groups: BTreeMap<Version, Families>,
    /// Where each live node is stored.
    index: BTreeMap<NodeId, (Version, bool)>,
    by_key: BTreeMap<NodeKey, NodeId>,
    by_session: BTreeMap<String, BTreeSet<NodeId>>,
    health: BTreeMap<NodeId, Health>,
    next_id: u64,
    events: VecDeque<RegistryEvent>,
}

impl Registry {
    /// Creates the registry at balancer start. In `performance_testing_mode` the
    /// `extra_server_nodes` are registered at once as permanent nodes named
    /// `ExtraServerNode<i>-host:port` (udp = tcp = port, http `808<i>`, version `0`) that never
    /// expire (§8.2); their `NodeAdded` events are queued.
    pub fn new(settings: RegistrySettings, now: Timestamp) -> Registry {
        let mut registry = Registry {
            settings,
            groups: BTreeMap::new(),
            index: BTreeMap::new(),
            by_key: BTreeMap::new(),
            by_session: BTreeMap::new(),
            health: BTreeMap::new(),
            next_id: 1,
            events: VecDeque::new(),
        };
        if registry.settings.performance_testing_mode {
            registry.add_extra_server_nodes(now);
        }
        registry.sync_static_nodes(now);
        registry
    }

    /// True if `key` is a `<staticNodes>` entry (probed, never expired).
    pub fn is_static(&self, key: &NodeKey) -> bool {
        self.settings.static_nodes.iter().any(|s| s.key == *key)
    }

    /// Registers the `<staticNodes>` entries that are not registered yet (as permanent nodes,
    /// in rotation until probes say otherwise) and removes the permanent static nodes no
    /// longer listed (start and configuration reload).
    fn sync_static_nodes(&mut self, now: Timestamp) {
        let gone: Vec<NodeId> = self
            .all_nodes()
            .filter(|n| n.permanent && n.properties.contains_key(STATIC_NODE_PROPERTY))
            .filter(|n| !self.is_static(&n.key))
            .map(|n| n.id)
            .collect();
        for id in gone {
            self.remove(id, RemovalReason::Stopped);
        }
        for spec in self.settings.static_nodes.clone() {
            if self.by_key.contains_key(&spec.key) {
                continue;
            }
            let ports = spec.key.ports;
            let properties: BTreeMap<String, String> = [
                (STATIC_NODE_PROPERTY, Some("true".to_owned())),
                ("version", Some(spec.version.as_str().to_owned())),
                ("udpPort", ports.udp.map(|p| p.to_string())),
                ("tcpPort", ports.tcp.map(|p| p.to_string())),
                ("tlsPort", ports.tls.map(|p| p.to_string())),
                ("wsPort", ports.ws.map(|p| p.to_string())),
                ("wssPort", ports.wss.map(|p| p.to_string())),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?)))
            .collect();
            let announcement = NodeAnnouncement::configured(
                spec.host_name.clone(),
                spec.key.ip,
                spec.key.ports,
                spec.version.clone(),
                properties,
            );
            let id = self.allocate_id();
            self.insert(announcement.into_node(id, now, true), now);
        }
    }

    fn add_extra_server_nodes(&mut self, now: Timestamp) {
        let extras = self.settings.extra_server_nodes.clone();
        for (i, extra) in extras.iter().enumerate() {
            let Some(ip) = extra.ip else {
                tracing::warn!(target: "registry", host = %extra.host,
                    "extra server node is not an IP literal and was not resolved; not registered");
                continue;
            };
            let http = format!("808{i}");
            let port = extra.port.to_string();
            let properties: BTreeMap<String, String> = [
                ("udpPort", port.clone()),
                ("tcpPort", port),
                ("httpPort", http.clone()),
                ("version", "0".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let announcement = NodeAnnouncement::configured(
                format!("ExtraServerNode{i}-{}:{}", extra.host, extra.port),
                ip,
                NodePorts {
                    udp: Some(extra.port),
                    tcp: Some(extra.port),
                    http: http.parse().ok(),
                    ..NodePorts::default()
                },
                Version::default(),
                properties,
            );
            let id = self.allocate_id();
            if let Some(old) = self.by_key.get(&announcement.key()).copied() {
                self.remove(old, RemovalReason::Replaced { by: id });
            }
            self.insert(announcement.into_node(id, now, true), now);
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &RegistrySettings {
        &self.settings
    }

    /// Replaces the settings (configuration reload). Timeouts and detection thresholds apply
    /// from the next call on; existing permanent nodes stay as they are.
    pub fn set_settings(&mut self, settings: RegistrySettings, now: Timestamp) {
        self.settings = settings;
        self.sync_static_nodes(now);
    }

    /// The next queued event, oldest first. Call after every mutation until it returns `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<RegistryEvent> {
        self.events.pop_front()
    }

    // ----- queries -----

    /// The live nodes of `version` and the given address family, in registration order
    /// (ascending [`NodeId`]), including graceful and bad ones (check [`Node::accepts_new_work`]).
    /// Empty for a version never seen. Changes only through a mutation of this registry.
    pub fn live_nodes(&self, version: &Version, ipv6: bool) -> &[Node] {
        self.groups
            .get(version)
            .map(|f| f.list(ipv6).as_slice())
            .unwrap_or(&[])
    }

    /// The live node with this id, if it has not expired, stopped or been replaced.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        let (version, v6) = self.index.get(&id)?;
        let list = self.groups.get(version)?.list(*v6);
        list.binary_search_by_key(&id, |n| n.id)
            .ok()
            .map(|i| &list[i])
    }

    fn node_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        let (version, v6) = self.index.get(&id)?;
        let list = self.groups.get_mut(version)?.list_mut(*v6);
        let i = list.binary_search_by_key(&id, |n| n.id).ok()?;
        Some(&mut list[i])
    }

    /// The live node registered under exactly this (ip, ports).
    pub fn find_by_key(&self, key: &NodeKey) -> Option<&Node> {
        self.by_key.get(key).and_then(|id| self.node(*id))
    }

    /// The live node whose IP equals `ip` and one of whose ports (any transport, http, ssl)
    /// equals `port`: the reference's `KeySip` lookup (§3.1). Used for Route hints
    /// (`node_host`/`node_port`, §1.6) and to recognise traffic from a node. If several
    /// nodes match, the earliest registered wins.
    pub fn find_by_addr(&self, ip: IpAddr, port: u16) -> Option<&Node> {
        let id = self.find_id_by_addr(ip, port)?;
        self.node(id)
    }

    fn find_id_by_addr(&self, ip: IpAddr, port: u16) -> Option<NodeId> {
        let max = Some(u16::MAX);
        let low = NodeKey {
            ip,
            ports: NodePorts::default(),
        };
        let high = NodeKey {
            ip,
            ports: NodePorts {
                udp: max,
                tcp: max,
                tls: max,
                ws: max,
                wss: max,
                http: max,
                ssl: max,
            },
        };
        self.by_key
            .range(low..=high)
            .filter(|(k, _)| k.ports.contains(port))
            .map(|(_, id)| *id)
            .min()
    }

    /// The live nodes that registered with this `sessionId`, in registration order.
    pub fn find_by_session<'a>(&'a self, session_id: &str) -> impl Iterator<Item = &'a Node> + 'a {
        self.by_session
            .get(session_id)
            .into_iter()
            .flatten()
            .filter_map(move |id| self.node(*id))
    }

    /// The most recently registered live node with this `Restcomm-Instance-Id` (HTTP CallSid
    /// routing, §5).
    pub fn find_by_instance_id(&self, instance_id: &str) -> Option<&Node> {
        self.all_nodes()
            .filter(|n| n.instance_id.as_deref() == Some(instance_id))
            .last()
    }

    /// The most recently registered live node with this `jvmRoute` (HTTP stickiness, §5).
    pub fn find_by_jvm_route(&self, jvm_route: &str) -> Option<&Node> {
        self.all_nodes()
            .filter(|n| n.jvm_route.as_deref() == Some(jvm_route))
            .last()
    }

    /// The numerically highest version ever registered (never goes down when nodes leave):
    /// new calls go to this version (§0, §1.7). `None` until the first node registers.
    pub fn latest_version(&self) -> Option<&Version> {
        self.groups.keys().next_back()
    }

    /// Every version ever registered, lowest first.
    pub fn versions(&self) -> impl Iterator<Item = &Version> + '_ {
        self.groups.keys()
    }

    /// Every live node of every version and family, in registration order.
    pub fn all_nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.index.keys().filter_map(move |id| self.node(*id))
    }

    /// Number of live nodes.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no node is registered.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// True if `ip:port` is an `extraServerNodes` entry: such a peer is on the server side for
    /// direction detection in single-entry-point mode (§1.3), even outside performance mode.
    pub fn is_extra_server(&self, ip: IpAddr, port: u16) -> bool {
        self.settings
            .extra_server_nodes
            .iter()
            .any(|e| e.ip == Some(ip) && e.port == port)
    }

    // ----- liveness -----

    /// Refreshes the node's liveness timestamp. Returns false if the id is not live.
    pub fn touch(&mut self, id: NodeId, now: Timestamp) -> bool {
        match self.node_mut(id) {
            Some(node) => {
                node.last_seen = node.last_seen.max(now);
                true
            }
            None => false,
        }
    }

    /// Call for every SIP request or response received from a node (§1.3, §1.17; issue #88):
    /// the node whose IP is `ip` and one of whose ports is `port` counts as alive at `now`.
    /// Returns the refreshed node's id, or `None` if no live node matches.
    pub fn touch_by_addr(&mut self, ip: IpAddr, port: u16, now: Timestamp) -> Option<NodeId> {
        let id = self.find_id_by_addr(ip, port)?;
        self.touch(id, now);
        Some(id)
    }

    fn expiry_of(&self, node: &Node) -> Option<Timestamp> {
        if node.permanent {
            return None;
        }
        #[cfg(feature = "fault-injection")]
        if fault_injection::nodes_never_expire() {
            return None;
        }
        Some(
            node.last_seen
                .saturating_add(self.settings.node_timeout)
                .saturating_add(Duration::from_micros(1)),
        )
    }

    /// The earliest time at which a node would expire: a node last seen at `t` is alive up
    /// to and including `t + nodeTimeout` and expired from one microsecond later. `None` when
    /// only permanent nodes (or none) are registered. Changes after every mutation; the
    /// driver sleeps until it, then calls [`Registry::handle_timeout`].
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.all_nodes().filter_map(|n| self.expiry_of(n)).min()
    }

    /// Removes every non-permanent node silent for longer than `nodeTimeout` (§3.3 expiry)
    /// and returns them in registration order; a `NodeRemoved { reason: Expired }` is queued
    /// for each. Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Timestamp) -> Vec<Node> {
        let expired: Vec<NodeId> = self
            .all_nodes()
            .filter(|n| self.expiry_of(n).is_some_and(|at| at <= now))
            .map(|n| n.id)
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.remove(id, RemovalReason::Expired))
            .collect()
    }

    // ----- storage -----

    fn allocate_id(&mut self) -> NodeId {
        let id = NodeId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Stores a node whose id was just allocated (so it sorts last) and queues `NodeAdded`.
    fn insert(&mut self, node: Node, now: Timestamp) {
        let v6 = node.is_ipv6();
        tracing::info!(target: "registry", id = node.id.0, host = %node.host_name, ip = %node.key.ip,
            version = node.version.as_str(), session = %node.session_id, "node added");
        self.index.insert(node.id, (node.version.clone(), v6));
        self.by_key.insert(node.key, node.id);
        if !node.session_id.is_empty() {
            self.by_session
                .entry(node.session_id.clone())
                .or_default()
                .insert(node.id);
        }
        self.health.insert(node.id, Health::new(now));
        self.events
            .push_back(RegistryEvent::NodeAdded(node.clone()));
        self.groups
            .entry(node.version.clone())
            .or_default()
            .list_mut(v6)
            .push(node);
    }

    /// Removes a live node and queues `NodeRemoved`.
    fn remove(&mut self, id: NodeId, reason: RemovalReason) -> Option<Node> {
        let (version, v6) = self.index.remove(&id)?;
        let list = self.groups.get_mut(&version)?.list_mut(v6);
        let pos = list.binary_search_by_key(&id, |n| n.id).ok()?;
        let node = list.remove(pos);
        if self.by_key.get(&node.key) == Some(&id) {
            self.by_key.remove(&node.key);
        }
        if let Some(set) = self.by_session.get_mut(&node.session_id) {
            set.remove(&id);
            if set.is_empty() {
                self.by_session.remove(&node.session_id);
            }
        }
        self.health.remove(&id);
        tracing::info!(target: "registry", id = id.0, host = %node.host_name, ip = %node.key.ip,
            reason = ?reason, "node removed");
        self.events.push_back(RegistryEvent::NodeRemoved {
            node: node.clone(),
            reason,
        });
        Some(node)
    }
}

/// Deliberate defects for tests of the tools that must catch them (the simulator's
/// invariants). Compiled only with the `fault-injection` feature; the switch is per thread,
/// so a test that flips it does not disturb tests running beside it.
#[cfg(feature = "fault-injection")]
pub mod fault_injection {
    use std::cell::Cell;

    thread_local! {
        static NEVER_EXPIRE: Cell<bool> = const { Cell::new(false) };
    }

    /// When `on`, registries on this thread stop expiring silent nodes, so a dead node stays
    /// routable (the broken core of the simulator's fault-injection test).
    pub fn set_nodes_never_expire(on: bool) {
        NEVER_EXPIRE.with(|f| f.set(on));
    }

    pub(crate) fn nodes_never_expire() -> bool {
        NEVER_EXPIRE.with(|f| f.get())
    }

    #[cfg(test)]
    mod tests {
        use super::super::{Registry, RegistrySettings};
        use crate::registry::NodeAnnouncement;
        use crate::time::Timestamp;

        #[test]
        fn the_switch_stops_expiry_on_this_thread_only_while_on() {
            let props = [("ip", "10.0.0.1"), ("udpPort", "5080"), ("sessionId", "s")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let mut r = Registry::new(RegistrySettings::default(), Timestamp::ZERO);
            r.start(
                NodeAnnouncement::from_properties(props, None).unwrap(),
                Timestamp::ZERO,
            );
            let late = Timestamp::from_millis(3_600_000);
            super::set_nodes_never_expire(true);
            assert_eq!(r.next_deadline(), None);
            assert!(r.handle_timeout(late).is_empty());
            super::set_nodes_never_expire(false);
            assert!(r.next_deadline().is_some());
            assert_eq!(r.handle_timeout(late).len(), 1);
        }
    }
}

#[cfg(test)]
mod tests;
