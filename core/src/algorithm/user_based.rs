//! UserBased regex pins (`/lbnoderegex`, §4.4, §7.1) and the UserBased decision tests.
//!
//! Fixes of the reference (docs/decisions.md §8.10): the pins are consulted first, then the
//! normal sticky map (the reference skipped it whenever a pin existed); a pin whose target is
//! dead, graceful or bad falls back to normal selection instead of failing the request.

use super::AlgorithmError;
use crate::node::Node;
use regex::Regex;
use std::net::IpAddr;

/// One `/lbnoderegex` entry: keys in which `pattern` is *found* go to the node at
/// `ip`:`port` (any of the node's advertised ports).
#[derive(Debug, Clone)]
pub struct RegexPin {
    regex: Regex,
    ip: IpAddr,
    port: u16,
}

impl RegexPin {
    /// Compiles a pin. Call from the management API handler; the error names the pattern.
    pub fn new(pattern: &str, ip: IpAddr, port: u16) -> Result<RegexPin, AlgorithmError> {
        let regex = Regex::new(pattern).map_err(|e| AlgorithmError::BadRegex {
            what: "/lbnoderegex regex",
            pattern: pattern.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(RegexPin { regex, ip, port })
    }

    /// The pattern text.
    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    /// The pinned address.
    pub fn target(&self) -> (IpAddr, u16) {
        (self.ip, self.port)
    }

    /// True if the pattern is found in `key`.
    pub fn matches(&self, key: &str) -> bool {
        self.regex.is_match(key)
    }

    /// True if `node` is the pinned node (same IP, `port` among its ports).
    pub fn targets(&self, node: &Node) -> bool {
        node.key.ip == self.ip && node.key.ports.contains(self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::tests::{node, node_at};
    use super::super::{Algorithm, AlgorithmSettings, KeyFields, UserBased};
    use super::*;
    use crate::node::NodeId;
    use crate::time::Timestamp;

    fn to(user: &str, call_id: &str) -> KeyFields {
        KeyFields {
            to_user: Some(user.into()),
            from_uri: Some(format!("sip:{user}@caller.example")),
            ..KeyFields::request("INVITE", call_id)
        }
    }

    fn algo(header: &str) -> UserBased {
        UserBased::user_based(&AlgorithmSettings {
            header_affinity_key: header.into(),
            exclusion_pattern: Some("anonymous".into()),
            fallback_key: Some("X-Fallback".into()),
            ..AlgorithmSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn same_user_same_node_across_calls() {
        let mut a = algo("To");
        let nodes = vec![node(1), node(2)];
        let now = Timestamp::ZERO;
        let alice = a.select_for_new_request(&to("alice", "c1"), &nodes, now);
        let bob = a.select_for_new_request(&to("bob", "c2"), &nodes, now);
        assert_ne!(alice, bob, "two users land on two nodes");
        assert_eq!(
            a.select_for_new_request(&to("alice", "c3"), &nodes, now),
            alice
        );
        assert_eq!(a.active_calls(), Some(2));
    }

    #[test]
    fn graceful_owner_gets_the_user_remapped() {
        let mut a = algo("To");
        let mut nodes = vec![node(1), node(2)];
        let now = Timestamp::ZERO;
        assert_eq!(
            a.select_for_new_request(&to("alice", "c1"), &nodes, now),
            Some(NodeId(1))
        );
        nodes[0].graceful = true;
        assert_eq!(
            a.select_for_new_request(&to("alice", "c2"), &nodes, now),
            Some(NodeId(2))
        );
    }

    #[test]
    fn excluded_users_use_the_fallback_header() {
        let mut a = algo("From");
        let nodes = vec![node(1), node(2)];
        let now = Timestamp::ZERO;
        let mut anon1 = to("x", "c1");
        anon1.from_uri = Some("anonymous".into());
        anon1.headers.push(("X-Fallback".into(), "acct-1".into()));
        let mut anon2 = anon1.clone();
        anon2.headers = vec![("X-Fallback".into(), "acct-2".into())];
        let n1 = a.select_for_new_request(&anon1, &nodes, now);
        let n2 = a.select_for_new_request(&anon2, &nodes, now);
        assert_ne!(n1, n2, "anonymous callers are not glued together");
    }

    #[test]
    fn pins_come_first_then_stickiness_and_dead_pins_fall_back() {
        let mut a = algo("To");
        let nodes = vec![node_at(1, "10.0.0.1", 5060), node_at(2, "10.0.0.2", 5080)];
        let now = Timestamp::ZERO;
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        a.set_regex_pins(vec![RegexPin::new("(-)", ip, 5080).unwrap()]);
        for c in ["c1", "c2", "c3"] {
            assert_eq!(
                a.select_for_new_request(&to("bob-test", c), &nodes, now),
                Some(NodeId(2))
            );
        }
        // Non-matching users are still sticky while pins exist.
        let carol = a.select_for_new_request(&to("carol", "c4"), &nodes, now);
        let dave = a.select_for_new_request(&to("dave", "c5"), &nodes, now);
        assert_eq!(
            a.select_for_new_request(&to("carol", "c6"), &nodes, now),
            carol
        );
        assert_eq!(
            a.select_for_new_request(&to("dave", "c7"), &nodes, now),
            dave
        );
        // The pinned node dies: normal selection, no failure.
        let alive = vec![node_at(1, "10.0.0.1", 5060)];
        assert_eq!(
            a.select_for_new_request(&to("bob-test", "c8"), &alive, now),
            Some(NodeId(1))
        );
        assert!(RegexPin::new("(", ip, 1).is_err());
    }

    #[test]
    fn only_user_based_consults_pins() {
        let mut a = UserBased::call_id(&AlgorithmSettings::default());
        let nodes = vec![node_at(1, "10.0.0.1", 5060), node_at(2, "10.0.0.2", 5080)];
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        a.set_regex_pins(vec![RegexPin::new(".*", ip, 5080).unwrap()]);
        assert_eq!(
            a.select_for_new_request(&to("bob", "c1"), &nodes, Timestamp::ZERO),
            Some(NodeId(1))
        );
    }
}
