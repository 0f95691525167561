//! ClusterSubdomain (§4.5): `subclusterMap` groups of node IPs that back each other up.

use super::AlgorithmError;
use crate::node::{Node, NodeId};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Parsed `subclusterMap`: groups of IPs, in configuration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubclusterMap {
    groups: Vec<Vec<IpAddr>>,
}

impl SubclusterMap {
    /// Parses `( ip1, ip2 ) ( ip3,ip4, ip5 )`: whitespace is ignored, an empty text is an empty
    /// map. Errors: unbalanced parentheses, an empty group or entry, a bad IP, an IP listed
    /// twice (in one group or in two groups).
    pub fn parse(text: &str) -> Result<SubclusterMap, AlgorithmError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let err = |reason: String| AlgorithmError::Subcluster {
            map: text.to_owned(),
            reason,
        };
        if compact.is_empty() {
            return Ok(SubclusterMap::default());
        }
        let inner = compact
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| err("expected groups like (ip1,ip2)(ip3,ip4)".into()))?;
        let mut groups = Vec::new();
        let mut seen: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for (gi, group) in inner.split(")(").enumerate() {
            if group.contains('(') || group.contains(')') {
                return Err(err("unbalanced parentheses".into()));
            }
            let mut ips = Vec::new();
            for entry in group.split(',') {
                if entry.is_empty() {
                    return Err(err(format!("empty entry in group {}", gi + 1)));
                }
                let ip: IpAddr = entry
                    .parse()
                    .map_err(|_| err(format!("{entry:?} is not an IP address")))?;
                if let Some(prev) = seen.insert(ip, gi) {
                    return Err(err(if prev == gi {
                        format!("duplicate IP {ip} in group {}", gi + 1)
                    } else {
                        format!("IP {ip} is in groups {} and {}", prev + 1, gi + 1)
                    }));
                }
                ips.push(ip);
            }
            groups.push(ips);
        }
        Ok(SubclusterMap { groups })
    }

    /// The other IPs of `ip`'s group, in configuration order; empty if `ip` is in no group.
    pub fn partners(&self, ip: IpAddr) -> impl Iterator<Item = IpAddr> + '_ {
        self.groups
            .iter()
            .filter(move |g| g.contains(&ip))
            .flat_map(move |g| g.iter().copied().filter(move |p| *p != ip))
    }

    /// The groups, in configuration order.
    pub fn groups(&self) -> &[Vec<IpAddr>] {
        &self.groups
    }
}

/// The partner lookup: remembers node IPs (a dead node is no longer in the candidate slice).
#[derive(Debug, Clone)]
pub(crate) struct Partners {
    map: SubclusterMap,
    ips: BTreeMap<NodeId, IpAddr>,
}

impl Partners {
    pub(crate) fn new(map: SubclusterMap) -> Partners {
        Partners {
            map,
            ips: BTreeMap::new(),
        }
    }

    pub(crate) fn node_added(&mut self, node: &Node) {
        self.ips.insert(node.id, node.key.ip);
    }

    /// The first live partner of `dead` accepting new work: group order first, then NodeId
    /// order among nodes sharing an IP. `None` for a node outside any group (→ normal failover).
    pub(crate) fn live_partner(&self, dead: NodeId, candidates: &[Node]) -> Option<NodeId> {
        let ip = *self.ips.get(&dead)?;
        self.map.partners(ip).find_map(|p| {
            candidates
                .iter()
                .find(|n| n.key.ip == p && n.id != dead && n.accepts_new_work())
                .map(|n| n.id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::tests::node_at;
    use super::super::{Algorithm, AlgorithmSettings, ClusterSubdomain, KeyFields};
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn parses_groups_and_rejects_duplicates() {
        let m = SubclusterMap::parse(" ( 10.0.0.1, 10.0.0.2 ) ( 10.0.0.3,10.0.0.4, 10.0.0.5 ) ")
            .unwrap();
        assert_eq!(m.groups().len(), 2);
        let p: Vec<_> = m.partners("10.0.0.4".parse().unwrap()).collect();
        assert_eq!(
            p,
            [
                "10.0.0.3".parse::<IpAddr>().unwrap(),
                "10.0.0.5".parse().unwrap()
            ]
        );
        assert_eq!(m.partners("10.9.9.9".parse().unwrap()).count(), 0);
        assert_eq!(SubclusterMap::parse("").unwrap().groups().len(), 0);
        let dup = SubclusterMap::parse("(10.0.0.1,10.0.0.1)").unwrap_err();
        assert!(dup.to_string().contains("duplicate IP 10.0.0.1"), "{dup}");
        let two = SubclusterMap::parse("(10.0.0.1)(10.0.0.1,10.0.0.2)").unwrap_err();
        assert!(two.to_string().contains("groups 1 and 2"), "{two}");
        assert!(SubclusterMap::parse("(10.0.0.1,,10.0.0.2)").is_err());
        assert!(SubclusterMap::parse("(10.0.0.1")
            .unwrap_err()
            .to_string()
            .contains("expected groups"));
        assert!(SubclusterMap::parse("(10.0.0.1))(10.0.0.2)").is_err());
        assert!(SubclusterMap::parse("(host)").is_err());
    }

    fn algo() -> ClusterSubdomain {
        ClusterSubdomain::cluster_subdomain(&AlgorithmSettings {
            subcluster_map: Some("(10.0.0.1, 10.0.0.2)(10.0.0.3, 10.0.0.4)".into()),
            ..AlgorithmSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn dead_node_calls_go_to_the_first_live_partner() {
        let mut a = algo();
        let nodes: Vec<Node> = (1..=5)
            .map(|i| node_at(i, &format!("10.0.0.{i}"), 5060))
            .collect();
        for n in &nodes {
            a.node_added(n, Timestamp::ZERO);
        }
        let now = Timestamp::ZERO;
        let calls: Vec<String> = (0..10).map(|i| format!("call-{i}")).collect();
        for c in &calls {
            a.select_for_new_request(&KeyFields::request("INVITE", c), &nodes, now);
        }
        // node 3 (10.0.0.3) dies: its partner 10.0.0.4 takes all its calls.
        let on3 = a.calls_on(NodeId(3));
        let on4 = a.calls_on(NodeId(4));
        let alive: Vec<Node> = nodes
            .iter()
            .filter(|n| n.id != NodeId(3))
            .cloned()
            .collect();
        assert_eq!(
            a.select_for_new_request(&KeyFields::request("INVITE", "call-2"), &alive, now),
            Some(NodeId(4))
        );
        assert_eq!(a.calls_on(NodeId(4)), on3 + on4);
        // node 5 is in no group: normal failover, no crash.
        let alive2: Vec<Node> = alive
            .iter()
            .filter(|n| n.id != NodeId(5))
            .cloned()
            .collect();
        let moved = a.select_for_new_request(&KeyFields::request("INVITE", "call-4"), &alive2, now);
        assert!(moved.is_some() && moved != Some(NodeId(5)));
        // both members of a group dead: normal failover.
        let only12: Vec<Node> = nodes[..2].to_vec();
        let r = a.select_for_new_request(&KeyFields::request("INVITE", "call-2"), &only12, now);
        assert!(matches!(r, Some(NodeId(1)) | Some(NodeId(2))));
    }
}
