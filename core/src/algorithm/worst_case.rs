//! WorstCaseUdpTestAffinity (§4.9): a test tool that stresses session replication by sending
//! each new non-ACK transaction of a call to a different node than the call's previous one.
//!
//! - A transaction is (Call-ID, CSeq number, method); its retransmissions keep its node.
//! - ACK and CANCEL follow their INVITE transaction's node (a CANCEL elsewhere could only be
//!   answered 481, which tests nothing).
//! - In-dialog requests with a live Route hint are redirected too
//!   ([`Algorithm::select_for_assigned_request`]), which is the point of the tool.
//! - With `earlyDialogWorstCase`, responses above 100 travelling to a node go to a node other
//!   than the transaction's.
//!
//! Never use it in production (docs/decisions.md §9.2).

use super::key::KeySource;
use super::select::RoundRobin;
use super::sticky::StickyTable;
use super::{is_live, Algorithm, AlgorithmKind, AlgorithmSettings, ResponseDirection};
use crate::node::{Node, NodeId};
use crate::time::Timestamp;

/// The worst-case test algorithm.
#[derive(Debug, Clone)]
pub struct WorstCase {
    calls: StickyTable,
    transactions: StickyTable,
    rr: RoundRobin,
    early_dialog: bool,
}

fn tx_key(call_id: &str, cseq: u32, method: &str) -> String {
    format!("{call_id}\n{cseq}\n{}", method.to_ascii_uppercase())
}

impl WorstCase {
    /// Uses `callIdAffinityMaxTimeInCache` and `earlyDialogWorstCase`.
    pub fn new(settings: &AlgorithmSettings) -> WorstCase {
        WorstCase {
            calls: StickyTable::new(settings.max_time_in_cache),
            transactions: StickyTable::new(settings.max_time_in_cache),
            rr: RoundRobin::default(),
            early_dialog: settings.early_dialog_worst_case,
        }
    }

    fn live(&self, table: &StickyTable, key: &str, candidates: &[Node]) -> Option<NodeId> {
        table.get(key).filter(|n| is_live(candidates, *n))
    }

    fn select(
        &mut self,
        req: &dyn KeySource,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        let Some(call_id) = req.call_id() else {
            return self.rr.pick(candidates);
        };
        let method = req.method().unwrap_or("");
        let cseq = req.cseq().unwrap_or(0);
        let last = self.live(&self.calls, call_id, candidates);
        if method.eq_ignore_ascii_case("ACK") || method.eq_ignore_ascii_case("CANCEL") {
            let invite = tx_key(call_id, cseq, "INVITE");
            if let Some(n) = self.live(&self.transactions, &invite, candidates).or(last) {
                self.transactions.touch(&invite, now);
                return Some(n);
            }
            return self.rr.pick(candidates);
        }
        let tx = tx_key(call_id, cseq, method);
        if let Some(n) = self.live(&self.transactions, &tx, candidates) {
            self.transactions.touch(&tx, now);
            return Some(n);
        }
        let previous = self.calls.get(call_id);
        let chosen = self
            .rr
            .pick_where(candidates, |n| Some(n.id) != previous)
            .or_else(|| self.rr.pick(candidates))?;
        self.transactions.set(&tx, chosen, now);
        self.calls.set(call_id, chosen, now);
        Some(chosen)
    }
}

impl Algorithm for WorstCase {
    fn kind(&self) -> AlgorithmKind {
        AlgorithmKind::WorstCase
    }

    fn node_added(&mut self, _node: &Node, _now: Timestamp) {}

    fn node_removed(&mut self, _node: &Node, _now: Timestamp) {}

    fn select_for_new_request(
        &mut self,
        req: &dyn KeySource,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        self.select(req, candidates, now)
    }

    fn select_for_assigned_request(
        &mut self,
        req: &dyn KeySource,
        hint: NodeId,
        candidates: &[Node],
        now: Timestamp,
    ) -> NodeId {
        self.select(req, candidates, now).unwrap_or(hint)
    }

    fn assign(&mut self, req: &dyn KeySource, node: NodeId, now: Timestamp) {
        if let Some(call_id) = req.call_id() {
            self.calls.set(call_id, node, now);
        }
    }

    fn failover(
        &mut self,
        req: &dyn KeySource,
        dead: NodeId,
        candidates: &[Node],
        now: Timestamp,
    ) -> Option<NodeId> {
        let alive = super::without(candidates, dead);
        self.select(req, &alive, now)
    }

    fn response_target(
        &mut self,
        resp: &dyn KeySource,
        direction: ResponseDirection,
        via_node: Option<NodeId>,
        candidates: &[Node],
        _now: Timestamp,
    ) -> Option<NodeId> {
        if direction != ResponseDirection::TowardNode {
            return None;
        }
        let call_id = resp.call_id()?;
        let tx = tx_key(
            call_id,
            resp.cseq().unwrap_or(0),
            resp.method().unwrap_or(""),
        );
        let owner = self
            .live(&self.transactions, &tx, candidates)
            .or_else(|| self.live(&self.calls, call_id, candidates))
            .or(via_node);
        if self.early_dialog && resp.status().is_some_and(|s| s > 100) {
            return self
                .rr
                .pick_where(candidates, |n| Some(n.id) != owner)
                .or(owner);
        }
        if via_node.is_some() {
            return None;
        }
        owner
    }

    fn select_for_http(
        &mut self,
        _affinity: Option<&str>,
        candidates: &[Node],
        _now: Timestamp,
    ) -> Option<NodeId> {
        self.rr.pick(candidates)
    }

    fn switchover(&mut self, _from: &str, _to: &str, _candidates: &[Node]) {}

    fn handle_timeout(&mut self, now: Timestamp) {
        self.calls.handle_timeout(now);
        self.transactions.handle_timeout(now);
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        match (
            self.calls.next_deadline(),
            self.transactions.next_deadline(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn active_calls(&self) -> Option<usize> {
        Some(self.calls.len())
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::tests::node;
    use super::super::KeyFields;
    use super::*;

    fn req(method: &str, cseq: u32) -> KeyFields {
        KeyFields {
            cseq: Some(cseq),
            ..KeyFields::request(method, "call-1")
        }
    }

    #[test]
    fn each_transaction_moves_and_ack_follows_its_invite() {
        let settings = AlgorithmSettings {
            kind: AlgorithmKind::WorstCase,
            ..AlgorithmSettings::default()
        };
        let mut w = WorstCase::new(&settings);
        let nodes = vec![node(1), node(2), node(3)];
        let now = Timestamp::ZERO;
        let invite = w
            .select_for_new_request(&req("INVITE", 1), &nodes, now)
            .unwrap();
        assert_eq!(
            w.select_for_new_request(&req("INVITE", 1), &nodes, now),
            Some(invite),
            "retransmission"
        );
        let bye_hint = w.select_for_assigned_request(&req("UPDATE", 2), invite, &nodes, now);
        assert_ne!(bye_hint, invite);
        assert_eq!(
            w.select_for_new_request(&req("ACK", 1), &nodes, now),
            Some(invite)
        );
        assert_eq!(
            w.select_for_new_request(&req("CANCEL", 1), &nodes, now),
            Some(invite)
        );
        let bye = w.select_for_assigned_request(&req("BYE", 3), bye_hint, &nodes, now);
        assert_ne!(bye, bye_hint);
        assert_eq!(w.active_calls(), Some(1));
    }

    #[test]
    fn early_dialog_responses_go_elsewhere() {
        let settings = AlgorithmSettings {
            kind: AlgorithmKind::WorstCase,
            early_dialog_worst_case: true,
            ..AlgorithmSettings::default()
        };
        let mut w = WorstCase::new(&settings);
        let nodes = vec![node(1), node(2)];
        let now = Timestamp::ZERO;
        let owner = w
            .select_for_new_request(&req("INVITE", 1), &nodes, now)
            .unwrap();
        let mut resp = req("INVITE", 1);
        resp.status = Some(180);
        let toward = ResponseDirection::TowardNode;
        let r = w.response_target(&resp, toward, Some(owner), &nodes, now);
        assert!(r.is_some() && r != Some(owner));
        resp.status = Some(100);
        assert_eq!(
            w.response_target(&resp, toward, Some(owner), &nodes, now),
            None
        );
        assert_eq!(
            w.response_target(&resp, toward, None, &nodes, now),
            Some(owner)
        );
    }
}
