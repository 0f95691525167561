//! Consistent hashing for HeaderConsistentHash (§4.6) and PureConsistentHash (§4.7): rendezvous
//! (highest-random-weight) hashing over a stable node identity (docs/decisions.md §3, §8.7).
//!
//! The hash function is fixed so that every balancer instance with the same node list makes the
//! same choice for every key (docs/decisions.md §10.2), whatever the registration order or
//! NodeIds:
//!
//! - `fnv1a64`: 64-bit FNV-1a (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`);
//! - `fmix64`: the MurmurHash3 64-bit finalizer, to spread FNV's weak low bits;
//! - node hash = `fmix64(fnv1a64(identity))` where identity is the node's IP (`4` + 4 octets
//!   or `6` + 16 octets) followed by its udp, tcp, tls, ws, wss, http and ssl ports, each
//!   encoded as `0` (absent) or `1` + the port big-endian. NodeId, hostname, version and
//!   session id are not part of it;
//! - key hash = `fmix64(fnv1a64(key bytes))`;
//! - score(node, key) = `fmix64(node hash ^ key hash)`.
//!
//! The key goes to the candidate with the highest score among those accepting new work (ties,
//! which need identical node hashes, broken by the larger [`NodeKey`]). A graceful or bad node
//! is thus skipped in favour of the next in that key's ranking, and removing a node only moves
//! the keys that node had; adding one only moves keys to it.

use super::key::{FromKey, KeyRule, KeySource};
use super::select::RoundRobin;
use super::{Algorithm, AlgorithmError, AlgorithmKind, AlgorithmSettings, ResponseDirection};
use crate::node::{Node, NodeId, NodeKey};
use crate::time::Timestamp;
use std::net::IpAddr;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The stable hash of a node's identity (ip + ports), see the module documentation.
pub fn node_identity_hash(key: &NodeKey) -> u64 {
    let mut bytes = Vec::with_capacity(40);
    match key.ip {
        IpAddr::V4(v4) => {
            bytes.push(4);
            bytes.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            bytes.push(6);
            bytes.extend_from_slice(&v6.octets());
        }
    }
    let p = &key.ports;
    for port in [p.udp, p.tcp, p.tls, p.ws, p.wss, p.http, p.ssl] {
        match port {
            None => bytes.push(0),
            Some(v) => {
                bytes.push(1);
                bytes.extend_from_slice(&v.to_be_bytes());
            }
        }
    }
    fmix64(fnv1a64(&bytes))
}

/// The hash of an affinity key.
pub fn key_hash(key: &str) -> u64 {
    fmix64(fnv1a64(key.as_bytes()))
}

/// The rendezvous score of a node for a key.
pub fn hrw_score(node_hash: u64, key_hash: u64) -> u64 {
    fmix64(node_hash ^ key_hash)
}

/// All candidates ranked for `key`, best first (graceful and bad included).
pub fn hrw_rank(key: &str, candidates: &[Node]) -> Vec<NodeId> {
    let kh = key_hash(key);
    let mut scored: Vec<(u64, NodeKey, NodeId)> = candidates
        .iter()
        .map(|n| (hrw_score(node_identity_hash(&n.key), kh), n.key, n.id))
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse((s.0, s.1)));
    scored.into_iter().map(|(_, _, id)| id).collect()
}

/// The best-ranked candidate for `key` that accepts new work.
pub fn hrw_choose(key: &str, candidates: &[Node]) -> Option<NodeId> {
    let kh = key_hash(key);
    candidates
        .iter()
        .filter(|n| n.accepts_new_work())
        .max_by_key(|n| (hrw_score(node_identity_hash(&n.key), kh), n.key))
        .map(|n| n.id)
}

/// HeaderConsistentHash / PureConsistentHash: stateless rendezvous hashing of the
/// `sipHeaderAffinityKey` key (From → From user, To → To user, else the header value; §4.6).
#[derive(Debug, Clone)]
pub struct ConsistentHash {
    kind: AlgorithmKind,
    rule: KeyRule,
    rr: RoundRobin,
}

impl ConsistentHash {
    /// Builds the hash algorithm; `settings.kind` says which of the two names it reports.
    pub fn new(settings: &AlgorithmSettings) -> Result<ConsistentHash, AlgorithmError> {
        let kind = match settings.kind {
            AlgorithmKind::PureConsistentHash => AlgorithmKind::PureConsistentHash,
            _ => AlgorithmKind::HeaderConsistentHash,
        };
        Ok(ConsistentHash {
            kind,
            rule: hash_rule(settings)?,
            rr: RoundRobin::default(),
        })
    }
}

/// The §4.6 key rule (From user, not URI) shared with the persistent variant.
pub(crate) fn hash_rule(settings: &AlgorithmSettings) -> Result<KeyRule, AlgorithmError> {
    KeyRule::new(
        &settings.header_affinity_key,
        settings.exclusion_pattern.as_deref(),
        settings.fallback_key.as_deref(),
        FromKey::User,
    )
}

impl Algorithm for ConsistentHash {
    fn kind(&self) -> AlgorithmKind {
        self.kind
    }

    fn node_added(&mut self, _node: &Node, _now: Timestamp) {}

    fn node_removed(&mut self, _node: &Node, _now: Timestamp) {}

    fn select_for_new_request(
        &mut self,
        req: &dyn KeySource,
        candidates: &[Node],
        _now: Timestamp,
    ) -> Option<NodeId> {
        match self.rule.extract(req) {
            Some(key) => hrw_choose(key, candidates),
            None => self.rr.pick(candidates),
        }
    }

    fn assign(&mut self, _req: &dyn KeySource, _node: NodeId, _now: Timestamp) {}

    fn failover(
        &mut self,
        req: &dyn KeySource,
        dead: NodeId,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        let alive = super::without(candidates, dead);
        self.select_for_new_request(req, &alive, now)
    }

    fn response_target(
        &mut self,
        resp: &dyn KeySource,
        direction: ResponseDirection,
        via_node: Option<NodeId>,
        candidates: &[Node],
        _now: Timestamp,
    ) -> Option<NodeId> {
        if direction != ResponseDirection::TowardNode || via_node.is_some() {
            return None;
        }
        hrw_choose(self.rule.extract(resp)?, candidates)
    }

    fn select_for_http(
        &mut self,
        affinity: Option<&str>,
        candidates: &[Node],
        _now: Timestamp,
    ) -> Option<NodeId> {
        match affinity {
            Some(v) => hrw_choose(v, candidates),
            None => self.rr.pick(candidates),
        }
    }

    fn switchover(&mut self, _from: &str, _to: &str, _candidates: &[Node]) {}

    fn handle_timeout(&mut self, _now: Timestamp) {}

    fn next_deadline(&self) -> Option<Timestamp> {
        None
    }

    fn active_calls(&self) -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::tests::node_at;
    use super::super::KeyFields;
    use super::*;

    #[test]
    fn fnv_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn identity_is_ip_and_ports_only() {
        let a = node_at(1, "10.0.0.1", 5060);
        let mut b = node_at(99, "10.0.0.1", 5060);
        b.host_name = "other".into();
        b.session_id = "42".into();
        assert_eq!(node_identity_hash(&a.key), node_identity_hash(&b.key));
        let c = node_at(1, "10.0.0.1", 5061);
        assert_ne!(node_identity_hash(&a.key), node_identity_hash(&c.key));
    }

    fn nodes() -> Vec<Node> {
        (1..=4)
            .map(|i| node_at(i, &format!("10.0.0.{i}"), 5060))
            .collect()
    }

    #[test]
    fn graceful_and_bad_nodes_pass_the_key_to_the_next_in_rank() {
        let mut all = nodes();
        let rank = hrw_rank("user-1", &all);
        assert_eq!(hrw_choose("user-1", &all), Some(rank[0]));
        all.iter_mut().find(|n| n.id == rank[0]).unwrap().graceful = true;
        assert_eq!(hrw_choose("user-1", &all), Some(rank[1]));
        all.iter_mut().find(|n| n.id == rank[1]).unwrap().bad = true;
        assert_eq!(hrw_choose("user-1", &all), Some(rank[2]));
        for n in &mut all {
            n.bad = true;
        }
        assert_eq!(hrw_choose("user-1", &all), None);
        assert_eq!(hrw_choose("user-1", &[]), None);
    }

    #[test]
    fn algorithm_hashes_the_configured_header_and_http_key() {
        let settings = AlgorithmSettings {
            kind: AlgorithmKind::HeaderConsistentHash,
            header_affinity_key: "From".into(),
            ..AlgorithmSettings::default()
        };
        let mut h = ConsistentHash::new(&settings).unwrap();
        let all = nodes();
        let mut m = KeyFields::request("INVITE", "c1");
        m.from_user = Some("alice".into());
        m.from_uri = Some("sip:alice@a.example".into());
        let now = Timestamp::ZERO;
        let expected = hrw_choose("alice", &all);
        assert_eq!(h.select_for_new_request(&m, &all, now), expected);
        m.call_id = Some("c2".into());
        assert_eq!(
            h.select_for_new_request(&m, &all, now),
            expected,
            "same user"
        );
        let dead = expected.unwrap();
        let next = h.failover(&m, dead, &all, now);
        assert_eq!(next, Some(hrw_rank("alice", &all)[1]));
        assert_eq!(
            h.select_for_http(Some("s1"), &all, now),
            hrw_choose("s1", &all)
        );
        assert!(h.select_for_http(None, &all, now).is_some());
        assert_eq!(h.active_calls(), None);
        let toward = ResponseDirection::TowardNode;
        assert_eq!(h.response_target(&m, toward, None, &all, now), expected);
        assert_eq!(
            h.response_target(&m, toward, Some(NodeId(1)), &all, now),
            None
        );
    }
}
