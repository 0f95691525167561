//! The end of a run: the last invariant checks, the scenario's expectations and the summary.

use crate::scenario::Answer;
use crate::trace::Trace;
use crate::world::{secs, World};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use switchboard_core::io::ClusterEventKind;
use switchboard_core::time::Timestamp;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Answered, then ended by a BYE answered 200.
    Completed,
    /// The INVITE got this final non-2xx response.
    Rejected(u16),
    /// The INVITE got no final response before Timer B.
    NoFinalResponse,
    /// The BYE got no final response before Timer F.
    ByeTimeout,
    /// The BYE got this non-2xx final response.
    ByeRejected(u16),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Completed => write!(f, "completed"),
            Outcome::Rejected(c) => write!(f, "INVITE answered {c}"),
            Outcome::NoFinalResponse => write!(f, "INVITE without final response"),
            Outcome::ByeTimeout => write!(f, "BYE timed out"),
            Outcome::ByeRejected(c) => write!(f, "BYE answered {c}"),
        }
    }
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The seed of the run.
    pub seed: u64,
    /// Virtual time.
    pub at: Timestamp,
    /// What broke.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant broken (seed {}) at {}: {}",
            self.seed,
            secs(self.at),
            self.what
        )
    }
}

/// A cluster change a balancer reported (`Output::Cluster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEvent {
    /// Virtual time.
    pub at: Timestamp,
    /// Balancer index.
    pub lb: usize,
    /// What happened.
    pub kind: ClusterEventKind,
    /// The node (`hostName/ip`), or the routes of a switchover.
    pub node: String,
}

/// Per-node figures.
#[derive(Debug, Clone)]
pub struct NodeSummary {
    /// Name.
    pub name: String,
    /// Version at the end.
    pub version: String,
    /// SIP datagrams delivered to it.
    pub messages: u64,
    /// Calls whose first INVITE reached it.
    pub new_calls: u64,
}

/// Per-balancer figures.
#[derive(Debug, Clone)]
pub struct BalancerSummary {
    /// SIP requests processed (core counter).
    pub requests: u64,
    /// SIP responses processed (core counter).
    pub responses: u64,
}

/// Everything a run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Virtual time at the end.
    pub virtual_time: Timestamp,
    /// Wall time of the run.
    pub wall: Duration,
    /// Events processed.
    pub steps: u64,
    /// Calls placed.
    pub placed: u64,
    /// Calls completed.
    pub completed: u64,
    /// Failed calls by reason.
    pub failed: BTreeMap<String, u64>,
    /// Calls moved to another node because theirs died.
    pub failovers: u64,
    /// Of those, initial INVITEs the balancer sent on to another node.
    pub invite_failovers: u64,
    /// BYEs served by a node other than the one that answered.
    pub bye_failovers: u64,
    /// Calls the caller ended after waiting in vain for the node's BYE.
    pub session_expiries: u64,
    /// Datagrams lost in the network (loss, partitions).
    pub lost_packets: u64,
    /// Datagrams that reached a crashed or hung node.
    pub dropped_at_dead_nodes: u64,
    /// Nodes.
    pub nodes: Vec<NodeSummary>,
    /// Balancers.
    pub balancers: Vec<BalancerSummary>,
    /// The cluster changes the balancers reported, in order.
    pub cluster_events: Vec<ClusterEvent>,
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// Unmet expectations.
    pub unmet: Vec<String>,
    /// SMPP traffic, when the scenario has some.
    pub smpp: Option<SmppSummary>,
}

/// The SMPP traffic of a run.
#[derive(Debug, Clone)]
pub struct SmppSummary {
    /// Per customer.
    pub customers: Vec<SmppCustomerSummary>,
    /// Per provider.
    pub providers: Vec<SmppProviderSummary>,
}

/// One SMPP customer's figures.
#[derive(Debug, Clone)]
pub struct SmppCustomerSummary {
    /// Name (`c0`, …).
    pub name: String,
    /// `system_id`.
    pub system_id: String,
    /// `submit_sm` to send.
    pub quota: u64,
    /// `submit_sm` sent.
    pub sent: u64,
    /// Answered `ESME_ROK`.
    pub ok: u64,
    /// Answered `ESME_RSYSERR`.
    pub syserr: u64,
    /// Answered `ESME_RTHROTTLED`.
    pub throttled: u64,
    /// Answered with another status.
    pub other: u64,
    /// Delivery receipts received.
    pub receipts: u64,
    /// Mobile-originated messages received.
    pub mos: u64,
    /// Connections opened.
    pub connections: u64,
    /// Binds refused.
    pub binds_refused: u64,
}

/// One SMPP provider's figures.
#[derive(Debug, Clone)]
pub struct SmppProviderSummary {
    /// Name (`p0`, …).
    pub name: String,
    /// Connections accepted.
    pub connections: u64,
    /// Binds accepted.
    pub binds: u64,
    /// `submit_sm` received.
    pub submits: u64,
    /// Delivery receipts sent.
    pub receipts: u64,
    /// Receipts it could not send (no connection bound for their `system_id`).
    pub receipts_undeliverable: u64,
    /// Mobile-originated messages sent.
    pub mos: u64,
    /// Its `deliver_sm` answered `ESME_ROK`.
    pub delivered_ok: u64,
    /// Its `deliver_sm` answered with an error.
    pub delivered_err: u64,
    /// Crashes.
    pub crashes: u64,
}

impl Report {
    /// True when no invariant broke and every expectation held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.unmet.is_empty()
    }

    /// How many cluster events of `kind` the balancers reported.
    pub fn cluster_event_count(&self, kind: ClusterEventKind) -> usize {
        self.cluster_events
            .iter()
            .filter(|e| e.kind == kind)
            .count()
    }

    /// Failed calls in total.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario {} (seed {})", self.scenario, self.seed)?;
        writeln!(
            f,
            "  virtual time {}, wall time {:.3} s, {} events",
            secs(self.virtual_time),
            self.wall.as_secs_f64(),
            self.steps
        )?;
        writeln!(
            f,
            "  calls: placed {}, completed {}, failed {}",
            self.placed,
            self.completed,
            self.failed_total()
        )?;
        for (why, n) in &self.failed {
            writeln!(f, "    failed: {why}: {n}")?;
        }
        writeln!(
            f,
            "  failovers: {} (initial INVITEs moved: {}; BYEs served by another node: {}; caller BYEs after session expiry: {})",
            self.failovers, self.invite_failovers, self.bye_failovers, self.session_expiries
        )?;
        writeln!(
            f,
            "  network: {} datagrams lost, {} reached a dead node",
            self.lost_packets, self.dropped_at_dead_nodes
        )?;
        for n in &self.nodes {
            writeln!(
                f,
                "  node {} (version {}): {} messages, {} new calls",
                n.name, n.version, n.messages, n.new_calls
            )?;
        }
        for (i, b) in self.balancers.iter().enumerate() {
            writeln!(
                f,
                "  balancer lb{i}: {} requests, {} responses",
                b.requests, b.responses
            )?;
        }
        if !self.cluster_events.is_empty() {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for e in &self.cluster_events {
                *counts.entry(format!("{:?}", e.kind)).or_insert(0) += 1;
            }
            let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            writeln!(f, "  cluster events: {}", counts.join(", "))?;
        }
        if let Some(m) = &self.smpp {
            for c in &m.customers {
                writeln!(
                    f,
                    "  smpp customer {} ({}): sent {}/{} submit_sm: {} ESME_ROK, {} ESME_RSYSERR, {} ESME_RTHROTTLED, {} other; {} receipts, {} mobile-originated; {} connections, {} binds refused",
                    c.name, c.system_id, c.sent, c.quota, c.ok, c.syserr, c.throttled, c.other, c.receipts, c.mos, c.connections, c.binds_refused
                )?;
            }
            for p in &m.providers {
                writeln!(
                    f,
                    "  smpp provider {}: {} connections, {} binds, {} submit_sm, {} receipts ({} without a bound connection), {} mobile-originated; deliver_sm answered {} ok, {} error; {} crashes",
                    p.name, p.connections, p.binds, p.submits, p.receipts, p.receipts_undeliverable, p.mos, p.delivered_ok, p.delivered_err, p.crashes
                )?;
            }
        }
        if self.violations.is_empty() {
            writeln!(f, "  invariants: ok")?;
        } else {
            writeln!(f, "  invariants: {} broken", self.violations.len())?;
            for v in self.violations.iter().take(20) {
                writeln!(f, "    {v}")?;
            }
        }
        if self.unmet.is_empty() {
            writeln!(f, "  expectations: ok")
        } else {
            for u in &self.unmet {
                writeln!(f, "  expectation not met (seed {}): {u}", self.seed)?;
            }
            Ok(())
        }
    }
}

impl World {
    pub(crate) fn finish(mut self, wall: Duration) -> (Report, Option<Trace>) {
        if let Some(why) = self.aborted.clone() {
            self.violation(why);
        }
        // Every call attempt ends in a final response.
        for c in 0..self.calls.len() {
            let call = &self.calls[c];
            match call.outcome {
                None => {
                    let what = format!(
                        "call {} has no outcome at the end of the run ({:?})",
                        call.call_id, call.phase
                    );
                    self.violation(what);
                }
                Some(Outcome::NoFinalResponse) => {
                    let what = format!(
                        "call {} (started {}) got no final response to its INVITE",
                        call.call_id,
                        secs(call.start_at)
                    );
                    self.violation(what);
                }
                _ => {}
            }
        }
        // Counters agree with the traffic delivered.
        for i in 0..self.lbs.len() {
            let l = &self.lbs[i];
            let st = l.core.cluster().stats();
            let checks = [
                ("requests", st.requests_processed, l.delivered_requests),
                ("responses", st.responses_processed, l.delivered_responses),
                ("wire bytes in", st.wire_bytes_in, l.delivered_bytes),
            ];
            for (what, counted, delivered) in checks {
                if counted != delivered {
                    self.violation(format!(
                        "balancer lb{i} counted {counted} {what}, the simulator delivered {delivered}"
                    ));
                }
            }
        }
        self.smpp_final_checks();
        let mut unmet = self.check_expectations();
        unmet.extend(self.smpp_expectations());
        let smpp = self.smpp_summary();
        let mut failed = BTreeMap::new();
        let mut completed = 0;
        for c in &self.calls {
            match c.outcome {
                Some(Outcome::Completed) => completed += 1,
                Some(o) => *failed.entry(o.to_string()).or_insert(0) += 1,
                None => *failed.entry("unfinished".to_owned()).or_insert(0) += 1,
            }
        }
        let report = Report {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            virtual_time: self.now(),
            wall,
            steps: self.steps,
            placed: self
                .calls
                .iter()
                .filter(|c| c.phase != crate::world::Phase::Pending)
                .count() as u64,
            completed,
            failed,
            failovers: self.failovers,
            invite_failovers: self.invite_failovers,
            bye_failovers: self.bye_failovers,
            session_expiries: self.session_expiries,
            lost_packets: self.lost_packets,
            dropped_at_dead_nodes: self.dropped_at_dead_nodes,
            nodes: self
                .nodes
                .iter()
                .map(|n| NodeSummary {
                    name: n.name.clone(),
                    version: n.version.clone(),
                    messages: n.received,
                    new_calls: n.new_calls,
                })
                .collect(),
            balancers: self
                .lbs
                .iter()
                .map(|l| BalancerSummary {
                    requests: l.core.cluster().stats().requests_processed,
                    responses: l.core.cluster().stats().responses_processed,
                })
                .collect(),
            cluster_events: std::mem::take(&mut self.cluster_events),
            violations: std::mem::take(&mut self.violations),
            unmet,
            smpp,
        };
        let trace = self.trace.take().map(|t| t.finish());
        (report, trace)
    }

    fn check_expectations(&self) -> Vec<String> {
        let e = &self.scenario.expect;
        let mut unmet = Vec::new();
        let completed = self
            .calls
            .iter()
            .filter(|c| c.outcome == Some(Outcome::Completed))
            .count() as u64;
        let failed = self.calls.len() as u64 - completed;
        if e.all_complete && failed > 0 {
            let first = self
                .calls
                .iter()
                .find(|c| c.outcome != Some(Outcome::Completed))
                .map(|c| {
                    format!(
                        "{} ({})",
                        c.call_id,
                        c.outcome.map_or("unfinished".into(), |o| o.to_string())
                    )
                })
                .unwrap_or_default();
            unmet.push(format!(
                "every call completes: {failed} did not, first {first}"
            ));
        }
        if let Some(max) = e.max_failed {
            if failed > max {
                unmet.push(format!("at most {max} calls fail: {failed} did"));
            }
        }
        if let Some(min) = e.min_completed {
            if completed < min {
                unmet.push(format!("at least {min} calls complete: {completed} did"));
            }
        }
        if let Some(min) = e.min_failovers {
            if self.failovers < min {
                unmet.push(format!(
                    "at least {min} failovers: {} happened",
                    self.failovers
                ));
            }
        }
        if let Some(min) = e.min_invite_failovers {
            if self.invite_failovers < min {
                unmet.push(format!(
                    "at least {min} initial INVITEs moved to another node: {} were",
                    self.invite_failovers
                ));
            }
        }
        if let Some(tol) = e.load_split_tolerance {
            let counts: Vec<(String, u64)> = self
                .nodes
                .iter()
                .filter(|n| n.group.answer == Answer::Ok && !n.faulted)
                .map(|n| (n.name.clone(), n.new_calls))
                .collect();
            if !counts.is_empty() {
                let mean = counts.iter().map(|c| c.1).sum::<u64>() as f64 / counts.len() as f64;
                for (name, n) in &counts {
                    if (*n as f64 - mean).abs() > tol * mean {
                        unmet.push(format!(
                            "load split within {:.0}%: node {name} got {n} calls, mean {mean:.1}",
                            tol * 100.0
                        ));
                    }
                }
            }
        }
        for name in &e.left {
            let j = crate::scenario::node_index(name).unwrap_or(0);
            for (i, l) in self.lbs.iter().enumerate() {
                if !l.left[j] {
                    unmet.push(format!(
                        "node {name} leaves the registry of lb{i}: it never did"
                    ));
                }
            }
        }
        for name in &e.rejoined {
            let j = crate::scenario::node_index(name).unwrap_or(0);
            for (i, l) in self.lbs.iter().enumerate() {
                if !l.rejoined[j] {
                    unmet.push(format!(
                        "node {name} comes back to the registry of lb{i}: it never did"
                    ));
                }
            }
        }
        for w in &e.calls {
            let from = Timestamp::from_millis(w.from_ms);
            let to = Timestamp::from_millis(w.to_ms);
            let node = w.node.as_deref().and_then(crate::scenario::node_index);
            let count = self
                .calls
                .iter()
                .filter(|c| {
                    c.first_node.is_some() && c.first_node_at >= from && c.first_node_at < to
                })
                .filter(|c| match (node, &w.version) {
                    (Some(j), _) => c.first_node == Some(j),
                    (None, Some(v)) => c.version.as_deref() == Some(v.as_str()),
                    _ => false,
                })
                .count() as u64;
            let who = w
                .node
                .as_deref()
                .map(|n| format!("node {n}"))
                .unwrap_or_else(|| format!("version {}", w.version.as_deref().unwrap_or("")));
            let window = format!(
                "[{}, {})",
                secs(from),
                if w.to_ms == u64::MAX {
                    "end".into()
                } else {
                    secs(to)
                }
            );
            if w.min.is_some_and(|m| count < m) || w.max.is_some_and(|m| count > m) {
                unmet.push(format!(
                    "{who} gets between {} and {} new calls in {window}: it got {count}",
                    w.min.unwrap_or(0),
                    w.max.map_or("any".into(), |m| m.to_string())
                ));
            }
        }
        unmet
    }
}
