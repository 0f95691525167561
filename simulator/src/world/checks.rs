//! The invariants checked while the run goes: what a balancer sends (no message to a node
//! known dead, call affinity and version, no balancer Via toward a user agent), which nodes
//! serve, and the record of what broke.

use super::{ms, secs, Endpoint, NodeState, World};
use crate::report::Violation;
use crate::sip as s;
use bytes::Bytes;
use std::net::SocketAddr;
use switchboard_core::sip::{Method, SipMessage};

impl World {
    /// True if node `j` can take a new call now: its process runs (not crashed, hung or
    /// partitioned), it is not draining (graceful shutdown, upgrade), its heartbeats get
    /// through, it answers calls (not a node answering 503 by design) and every balancer's
    /// registry holds it.
    pub(crate) fn serving(&self, j: usize) -> bool {
        let n = &self.nodes[j];
        n.state == NodeState::Up
            && !n.hung
            && !self.partitioned.contains(&j)
            && !n.graceful
            && n.pending_upgrade.is_none()
            && !n.heartbeats_lost
            && n.group.answer == crate::scenario::Answer::Ok
            && self.lbs.iter().all(|l| l.present[j])
    }

    /// Updates every node's `serving_since` after anything that may change [`World::serving`].
    pub(crate) fn refresh_serving(&mut self) {
        let now = self.now();
        for j in 0..self.nodes.len() {
            let serving = self.serving(j);
            let n = &mut self.nodes[j];
            match (serving, n.serving_since) {
                (true, None) => n.serving_since = Some(now),
                (false, Some(_)) => n.serving_since = None,
                _ => {}
            }
        }
    }

    /// The checks on a datagram a balancer sends: no message to a node known dead, call
    /// affinity and version, no balancer Via toward a user agent.
    pub(super) fn check_balancer_message(
        &mut self,
        lb: usize,
        to: SocketAddr,
        payload: &Bytes,
        what: &str,
    ) {
        let now = self.now();
        let Ok(msg) = SipMessage::parse(payload.clone()) else {
            self.violation(format!("balancer lb{lb} sent an unparsable {what} to {to}"));
            return;
        };
        match self.endpoints.get(&to).copied() {
            Some(Endpoint::Node(j)) => {
                let node = &self.nodes[j];
                if let Some(since) = node.down_since {
                    let slack = self.node_timeout + ms(node.group.heartbeat_interval_ms);
                    if now > since.saturating_add(slack) {
                        let what = describe(&msg);
                        self.violation(format!(
                            "balancer lb{lb} forwarded {what} to node {} ({to}), unreachable since {} (nodeTimeout {} ms)",
                            node.name,
                            secs(since),
                            self.node_timeout.as_millis()
                        ));
                    }
                }
                if msg.is_request() {
                    self.check_affinity(lb, j, &msg);
                }
            }
            Some(Endpoint::Caller(_)) => {
                if !msg.is_request() {
                    let leaked: Vec<SocketAddr> = s::via_addrs(&msg)
                        .into_iter()
                        .filter(|a| self.balancer_addrs.contains(a))
                        .collect();
                    if !leaked.is_empty() {
                        self.violation(format!(
                            "balancer lb{lb} sent {} to user agent {to} with its own Via {leaked:?}",
                            describe(&msg)
                        ));
                    }
                }
            }
            Some(_) => self.violation(format!(
                "balancer lb{lb} sent {} to another balancer address {to}",
                describe(&msg)
            )),
            None => self.violation(format!(
                "balancer lb{lb} sent {} to {to}, where nobody listens",
                describe(&msg)
            )),
        }
    }

    fn check_affinity(&mut self, lb: usize, j: usize, msg: &SipMessage) {
        let now = self.now();
        let Some(&c) = s::call_id(msg).and_then(|id| self.call_index.get(id)) else {
            return;
        };
        let method = msg.method().unwrap_or(Method::Other);
        let in_dialog = method != Method::Invite || s::to_tag(msg).is_some();
        let node_version = self.nodes[j].version.clone();
        let call = &self.calls[c];
        // The ACK of a non-2xx final response follows the algorithm, not a Route.
        if method == Method::Ack && call.invite_final.is_some_and(|f| f >= 300) {
            return;
        }
        let Some(owner) = call.owner else {
            let session = self.nodes[j].session;
            let call = &mut self.calls[c];
            call.owner = Some(j);
            call.owner_session = session;
            call.first_node = Some(j);
            call.first_node_at = now;
            call.version = Some(node_version);
            self.nodes[j].new_calls += 1;
            return;
        };
        if in_dialog {
            if let Some(v) = &call.version {
                if *v != node_version {
                    let what = describe(msg);
                    let name = self.nodes[j].name.clone();
                    self.violation(format!(
                        "balancer lb{lb} sent {what} (call of version {v}) to node {name} of version {node_version}"
                    ));
                    return;
                }
            }
        }
        if owner == j {
            return;
        }
        let o = &self.nodes[owner];
        let registry = self.lbs[lb].core.cluster().registry();
        let owner_session = call.owner_session.to_string();
        let owner_live = registry
            .find_by_addr(o.addr.ip(), o.addr.port())
            .filter(|n| Some(n.version.as_str()) == call.version.as_deref())
            .filter(|n| in_dialog || n.session_id == owner_session)
            // An in-dialog request may leave an owner the balancer found refusing its
            // connections (suspect): the dialog fails over (behaviour reference §1.22).
            .is_some_and(|n| {
                if in_dialog {
                    !n.suspect
                } else {
                    n.accepts_new_work()
                }
            });
        if owner_live {
            let what = describe(msg);
            let (on, jn) = (o.name.clone(), self.nodes[j].name.clone());
            self.violation(format!(
                "balancer lb{lb} sent {what} to node {jn} while the call's node {on} is live"
            ));
            return;
        }
        let session = self.nodes[j].session;
        let call = &mut self.calls[c];
        call.owner = Some(j);
        call.owner_session = session;
        call.failovers += 1;
        if !in_dialog {
            call.version = Some(node_version);
            self.invite_failovers += 1;
        }
        self.failovers += 1;
    }

    /// Records a broken invariant (with the seed and the virtual time).
    pub(crate) fn violation(&mut self, what: String) {
        let at = self.now();
        tracing::debug!(at = %secs(at), %what, "invariant broken");
        if self.violations.len() < 1000 {
            self.violations.push(Violation {
                seed: self.seed,
                at,
                what,
            });
        }
    }

    /// True if some reachable node of `version` exists now.
    pub(crate) fn live_node_of(&self, version: &str) -> bool {
        self.nodes.iter().enumerate().any(|(j, n)| {
            n.state == NodeState::Up
                && !n.hung
                && !self.partitioned.contains(&j)
                && n.version == version
        })
    }
}

/// "INVITE", "BYE", "200 (BYE)" … for messages in violation reports.
pub(crate) fn describe(msg: &SipMessage) -> String {
    let call = s::call_id(msg).unwrap_or("?");
    match msg.status_code() {
        Some(code) => format!(
            "{code} ({}) of {call}",
            String::from_utf8_lossy(s::cseq_method(msg))
        ),
        None => format!("{} of {call}", String::from_utf8_lossy(msg.method_bytes())),
    }
}
