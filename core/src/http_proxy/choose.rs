//! Which node an HTTP request goes to (behaviour reference §4.2, §5), in this order, each step
//! only among the live IPv4 nodes of the latest version:
//!
//! 1. the node whose `Restcomm-Instance-Id` is the request's instance id;
//! 2. the node whose `jvmRoute` is the route of the request's session id (mod_jk semantics);
//! 3. a session id without a known route: ranked over the nodes by the rendezvous hash every
//!    balancer computes alike, so a session stays on one node across requests and balancers;
//! 4. otherwise the configured algorithm's HTTP choice (`httpAffinityKey` hashed with the
//!    same ranking as its SIP side, the active node of ActiveStandby, round robin, …).
//!
//! Sticky steps (1–3) keep a node in graceful shutdown (its sessions finish there) but skip a
//! bad or suspect one, which falls through to the next step, as mod_jk fails over a dead
//! route. Step 4 only picks nodes that accept new work.

use super::sticky::StickyKeys;
use crate::algorithm::{hrw_score, key_hash, node_identity_hash};
use crate::cluster::Cluster;
use crate::node::{Node, NodeId};
use crate::time::Timestamp;

/// Why a node was chosen, for statistics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Step 1: the Restcomm instance id.
    InstanceId,
    /// Step 2: the session's jvmRoute.
    JvmRoute,
    /// Step 3: the session id, hashed.
    SessionHash,
    /// Step 4: the algorithm.
    Algorithm,
}

/// Chooses the node for a request with sticky keys `keys` and `httpAffinityKey` value
/// `affinity`, among the nodes `usable` accepts (those that have the port the request needs
/// and were not just tried); `None` when no node can take it (the caller answers `503`).
pub fn choose(
    cluster: &mut Cluster,
    keys: &StickyKeys<'_>,
    affinity: Option<&str>,
    usable: &dyn Fn(&Node) -> bool,
    now: Timestamp,
) -> Option<(NodeId, Reason)> {
    let version = cluster.registry().latest_version()?.clone();
    if let Some(found) = sticky_choice(cluster.registry().live_nodes(&version, false), keys, usable)
    {
        return Some(found);
    }
    cluster
        .select_for_http(&version, usable, affinity, now)
        .map(|id| (id, Reason::Algorithm))
}

/// Steps 1 to 3: the node the request's sticky keys name, among the usable nodes of `live`.
fn sticky_choice(
    live: &[Node],
    keys: &StickyKeys<'_>,
    usable: &dyn Fn(&Node) -> bool,
) -> Option<(NodeId, Reason)> {
    let mut sticky = live.iter().filter(|n| usable(n) && !n.bad && !n.suspect);
    if let Some(id) = keys.instance_id {
        let found = sticky
            .clone()
            .find(|n| n.instance_id.as_deref() == Some(id));
        if let Some(n) = found {
            return Some((n.id, Reason::InstanceId));
        }
    }
    let session = keys.session?;
    match session.jvm_route {
        Some(route) => sticky
            .find(|n| n.jvm_route.as_deref() == Some(route))
            .map(|n| (n.id, Reason::JvmRoute)),
        None => {
            let key = key_hash(session.value);
            sticky
                .max_by_key(|n| (hrw_score(node_identity_hash(&n.key), key), n.key))
                .map(|n| (n.id, Reason::SessionHash))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::heartbeat;
    use crate::http_proxy::sticky::keys;

    fn start(cluster: &mut Cluster, name: &str, port: u16, extra: &str) -> NodeId {
        let body = format!(
            r#"{{"start":{{"hostName":"{name}","ip":"127.0.0.1","httpPort":"{port}","udpPort":"{port}","version":"0","sessionId":"{name}"{extra}}}}}"#
        );
        let request = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let now = Timestamp::from_millis(1);
        cluster.update_registry(now, |r| {
            heartbeat::handle_http_request(r, request.as_bytes(), now)
        });
        cluster
            .registry()
            .find_by_addr("127.0.0.1".parse().unwrap(), port)
            .map(|n| n.id)
            .expect("registered")
    }

    fn cluster_of_three() -> (Cluster, [NodeId; 3]) {
        let mut c = Cluster::from_config(&Config::embedded_default(), Timestamp::ZERO).unwrap();
        let a = start(
            &mut c,
            "a",
            8081,
            r#","restcommInstanceId":"ID1f2a2222772f4195948d4e8c7eda648c","jvmRoute":"ra""#,
        );
        let b = start(&mut c, "b", 8082, r#","jvmRoute":"rb""#);
        let d = start(&mut c, "d", 8083, r#","jvmRoute":"rd""#);
        (c, [a, b, d])
    }

    const SID: &str = "ID1f2a2222772f4195948d4e8c7eda648c-CA00af667a2e5d4e1c8a1a4f1f1bc794cd";

    #[test]
    fn the_instance_id_wins_then_the_jvm_route_then_the_algorithm() {
        let (mut c, [a, b, _]) = cluster_of_three();
        let now = Timestamp::from_millis(2);
        let cookie: &[u8] = b"JSESSIONID=XYZ.rb";
        let target = format!("/restcomm/2012-04-24/Accounts/AC1/Calls.json/{SID}");
        let k = keys(&target, [cookie]);
        assert_eq!(
            choose(&mut c, &k, None, &|_| true, now),
            Some((a, Reason::InstanceId))
        );
        let k = keys("/restcomm/", [cookie]);
        assert_eq!(
            choose(&mut c, &k, None, &|_| true, now),
            Some((b, Reason::JvmRoute))
        );
        let k = keys("/restcomm/", Vec::<&[u8]>::new());
        assert!(matches!(
            choose(&mut c, &k, None, &|_| true, now),
            Some((_, Reason::Algorithm))
        ));
    }

    #[test]
    fn a_session_without_a_route_stays_on_one_node() {
        let (mut c, _) = cluster_of_three();
        let now = Timestamp::from_millis(2);
        let cookie: &[u8] = b"JSESSIONID=0123456789ABCDEF";
        let first = choose(&mut c, &keys("/app", [cookie]), None, &|_| true, now);
        assert!(matches!(first, Some((_, Reason::SessionHash))));
        for _ in 0..5 {
            assert_eq!(
                choose(&mut c, &keys("/app", [cookie]), None, &|_| true, now),
                first
            );
        }
    }

    #[test]
    fn a_graceful_node_keeps_its_sessions_but_gets_no_new_ones() {
        let (mut c, [_, b, _]) = cluster_of_three();
        let now = Timestamp::from_millis(2);
        let graceful = r#"{"shutdown":{"hostName":"b","ip":"127.0.0.1","httpPort":"8082","udpPort":"8082","version":"0","sessionId":"b"}}"#;
        let request = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{graceful}",
            graceful.len()
        );
        c.update_registry(now, |r| {
            heartbeat::handle_http_request(r, request.as_bytes(), now)
        });
        assert!(
            c.registry().node(b).is_some_and(|n| n.graceful),
            "b is graceful"
        );
        let cookie: &[u8] = b"JSESSIONID=XYZ.rb";
        assert_eq!(
            choose(&mut c, &keys("/", [cookie]), None, &|_| true, now),
            Some((b, Reason::JvmRoute))
        );
        for _ in 0..6 {
            let (n, why) = choose(
                &mut c,
                &keys("/", Vec::<&[u8]>::new()),
                None,
                &|_| true,
                now,
            )
            .unwrap();
            assert_eq!(why, Reason::Algorithm);
            assert_ne!(n, b, "no new session on the graceful node");
        }
    }

    #[test]
    fn no_node_no_choice() {
        let mut c = Cluster::from_config(&Config::embedded_default(), Timestamp::ZERO).unwrap();
        let k = keys("/", Vec::<&[u8]>::new());
        assert_eq!(choose(&mut c, &k, None, &|_| true, Timestamp::ZERO), None);
    }
}
