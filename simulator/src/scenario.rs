//! Scenario files: topology, link settings, traffic, a timeline of faults and the
//! expectations checked at the end of a run. They are TOML documents deserialized by serde;
//! every duration is in milliseconds of virtual time.
//!
//! ```toml
//! name = "steady-state"
//! [balancers]
//! count = 1
//! algorithm = "call-id-affinity"
//! node_timeout_ms = 3000
//! [[nodes]]
//! count = 2
//! [links.external]
//! latency_ms = 2
//! [[traffic]]
//! calls = 1000
//! rate = 50.0
//! hold_ms = 2000
//! transport = "udp"   # or "tcp"
//! [[timeline]]
//! at_ms = 10000
//! action = "crash"
//! target = "n1"
//! [expect]
//! load_split_tolerance = 0.1
//! ```

pub use crate::smpp::config::{CustomerGroup, ProviderGroup, Smpp, SmppExpect};
use serde::Deserialize;
use std::path::Path;
use thiserror::Error;

/// A scenario file that cannot be used.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("invalid scenario: {0}")]
    Toml(#[from] toml::de::Error),
    /// The scenario is well-formed but inconsistent.
    #[error("invalid scenario: {0}")]
    Invalid(String),
}

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, printed in the summary.
    #[serde(default)]
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Seed used when the command line gives none.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Hard limit of virtual time; the run stops there even if calls are still open.
    #[serde(default = "default_max_duration")]
    pub max_duration_ms: u64,
    /// The balancers.
    #[serde(default)]
    pub balancers: Balancers,
    /// Groups of cluster nodes, named `n0`, `n1`, … in order (none in a scenario of SMPP
    /// traffic only).
    #[serde(default)]
    pub nodes: Vec<NodeGroup>,
    /// Link settings.
    #[serde(default)]
    pub links: Links,
    /// Number of caller user agents (10.0.2.1:5070, 10.0.2.2:5070, …).
    #[serde(default = "one")]
    pub callers: u32,
    /// Traffic phases.
    #[serde(default)]
    pub traffic: Vec<Traffic>,
    /// Faults and operations, by time.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// What must hold at the end.
    #[serde(default)]
    pub expect: Expect,
    /// SMPP traffic through the balancers' SMPP listener, when set.
    #[serde(default)]
    pub smpp: Option<Smpp>,
}

fn default_seed() -> u64 {
    1
}
fn default_max_duration() -> u64 {
    3_600_000
}
fn one() -> u32 {
    1
}

/// The balancer cores.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Balancers {
    /// How many balancers (10.0.0.1, 10.0.0.2, …).
    pub count: u32,
    /// Algorithm: short name (`call-id-affinity`, `header-consistent-hash`, …) or Java class.
    pub algorithm: String,
    /// `nodeTimeout`.
    pub node_timeout_ms: u64,
    /// `heartbeatInterval` (the registry's expiry check period).
    pub heartbeat_interval_ms: u64,
    /// Put the balancers behind a simulated IP load balancer (VIP 10.0.0.100:5060) that
    /// sprays every datagram from user agents to a random balancer; the balancers advertise
    /// the VIP in their external Record-Route (`ipLoadBalancerAddress`).
    pub ip_load_balancer: bool,
    /// `maxNumberResponsesWithError` (§1.19), when set.
    pub max_error_responses: Option<u32>,
    /// Extra XML elements inserted into `<sip>` verbatim.
    pub extra_sip_xml: String,
}

impl Default for Balancers {
    fn default() -> Self {
        Balancers {
            count: 1,
            algorithm: "call-id-affinity".into(),
            node_timeout_ms: 3000,
            heartbeat_interval_ms: 150,
            ip_load_balancer: false,
            max_error_responses: None,
            extra_sip_xml: String::new(),
        }
    }
}

/// How a node's heartbeats reach the balancers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeartbeatProtocol {
    /// HTTP/JSON on the heartbeat port (§3.2).
    Json,
    /// SIP OPTIONS with `Mobicents-Heartbeat` on the internal port (§3.5).
    Sip,
}

/// How a node answers INVITEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    /// 180 then 200 OK after `answer_delay_ms`.
    Ok,
    /// 503 Service Unavailable at once, every time.
    Busy,
}

/// A group of identical nodes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeGroup {
    /// How many nodes.
    pub count: u32,
    /// Version they announce.
    pub version: String,
    /// Heartbeat protocol.
    pub heartbeat: HeartbeatProtocol,
    /// Node-side heartbeat period.
    pub heartbeat_interval_ms: u64,
    /// INVITE answer behaviour.
    pub answer: Answer,
    /// Delay between the INVITE and the 200 OK.
    pub answer_delay_ms: u64,
    /// When the node starts (sends its first heartbeat).
    pub start_at_ms: u64,
}

impl Default for NodeGroup {
    fn default() -> Self {
        NodeGroup {
            count: 1,
            version: "0".into(),
            heartbeat: HeartbeatProtocol::Json,
            heartbeat_interval_ms: 1000,
            answer: Answer::Ok,
            answer_delay_ms: 50,
            start_at_ms: 0,
        }
    }
}

/// Settings of one class of links.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkSettings {
    /// One-way latency.
    pub latency_ms: f64,
    /// Uniform extra delay in `0..jitter_ms`.
    pub jitter_ms: f64,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub dup: f64,
    /// Probability that a datagram is held back long enough to arrive after later ones.
    pub reorder: f64,
}

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            latency_ms: 1.0,
            jitter_ms: 0.0,
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
        }
    }
}

/// Link settings: user agents ↔ balancers, balancers ↔ nodes. Heartbeats over HTTP ride
/// TCP: they get the latency but no loss, duplication or reordering.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Links {
    /// User agents ↔ balancers (and the IP load balancer).
    pub external: LinkSettings,
    /// Balancers ↔ nodes.
    pub internal: LinkSettings,
}

/// Which side ends a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hangup {
    /// The caller sends BYE through the balancer to the node.
    Caller,
    /// The node sends BYE through the balancer to the caller.
    Node,
    /// Each call picks a side at random.
    Mixed,
}

/// How a phase's callers reach the balancers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallTransport {
    /// SIP over UDP (RFC 3261 timers A and E retransmit).
    Udp,
    /// SIP over TCP: each caller keeps one connection to the balancer's external TCP port
    /// and writes every message in chunks of arbitrary sizes; the balancer reaches the nodes
    /// over TCP too (the transport is kept across legs).
    Tcp,
}

/// One phase of traffic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Traffic {
    /// When the first call of the phase starts.
    pub start_ms: u64,
    /// Number of calls.
    pub calls: u32,
    /// Calls per second (evenly spaced, with a seeded jitter of up to half the spacing).
    pub rate: f64,
    /// How long an answered call stays up.
    pub hold_ms: u64,
    /// Extra uniform hold time in `0..hold_jitter_ms`.
    pub hold_jitter_ms: u64,
    /// Which side hangs up.
    pub hangup: Hangup,
    /// The transport of the phase's calls.
    pub transport: CallTransport,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            start_ms: 0,
            calls: 0,
            rate: 10.0,
            hold_ms: 2000,
            hold_jitter_ms: 0,
            hangup: Hangup::Caller,
            transport: CallTransport::Udp,
        }
    }
}

/// A fault or operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The node process dies: no answer, no heartbeat, its timers and memory are gone.
    Crash,
    /// The node stops answering and heartbeating but keeps its memory (see `recover`).
    Hang,
    /// The node (crashed or hung) starts again with a new `sessionId`.
    Restart,
    /// The node announces graceful shutdown and keeps its calls.
    Graceful,
    /// Rolling upgrade of one node: graceful shutdown, and once its calls are over, `stop`
    /// and a restart announcing `version` with a new `sessionId`.
    Upgrade,
    /// The node's heartbeats are lost (SIP still flows).
    LoseHeartbeats,
    /// Ends `hang` and `lose_heartbeats`.
    Recover,
    /// Cuts the node off from every balancer.
    Partition,
    /// Ends `partition`.
    Heal,
}

/// One entry of the timeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    /// When.
    pub at_ms: u64,
    /// What.
    pub action: Action,
    /// The node name (`n0`, `n1`, …), an SMPP provider (`p0`, `p1`, …: `crash`,
    /// `restart`, `partition`, `heal`) or an SMPP customer (`c0`, `c1`, …: `crash`, its
    /// connection reset, and `restart`, connecting and binding again).
    pub target: String,
    /// New version for `upgrade`.
    #[serde(default)]
    pub version: Option<String>,
}

/// New calls received by a node (or by the nodes of a version) in a time window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsWindow {
    /// Node name; either this or `version`.
    #[serde(default)]
    pub node: Option<String>,
    /// Version; either this or `node`.
    #[serde(default)]
    pub version: Option<String>,
    /// Window start (inclusive).
    #[serde(default)]
    pub from_ms: u64,
    /// Window end (exclusive).
    #[serde(default = "max_u64")]
    pub to_ms: u64,
    /// At least this many.
    #[serde(default)]
    pub min: Option<u64>,
    /// At most this many.
    #[serde(default)]
    pub max: Option<u64>,
}

fn max_u64() -> u64 {
    u64::MAX
}

/// Expectations checked after the run (the invariants are always checked).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    /// Every call completes (answered and hung up with a 200 to the BYE).
    pub all_complete: bool,
    /// At most this many calls fail (with `all_complete = false`).
    pub max_failed: Option<u64>,
    /// At least this many calls complete.
    pub min_completed: Option<u64>,
    /// Calls per node (nodes that answer `ok` and never failed) within this fraction of
    /// their mean.
    pub load_split_tolerance: Option<f64>,
    /// At least this many calls moved to another node after their node died.
    pub min_failovers: Option<u64>,
    /// At least this many initial INVITEs sent on to another node after theirs stayed silent.
    pub min_invite_failovers: Option<u64>,
    /// Nodes that must have left the registry of every balancer at some point.
    pub left: Vec<String>,
    /// Nodes that must have left and then come back.
    pub rejoined: Vec<String>,
    /// New calls per node or version within time windows.
    pub calls: Vec<CallsWindow>,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            all_complete: true,
            max_failed: None,
            min_completed: None,
            load_split_tolerance: None,
            min_failovers: None,
            min_invite_failovers: None,
            left: Vec::new(),
            rejoined: Vec::new(),
            calls: Vec::new(),
        }
    }
}

impl Scenario {
    /// Parses a scenario from TOML text.
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text)?;
        s.validate()?;
        Ok(s)
    }

    /// Reads and parses a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::from_toml(&text)
    }

    /// Total number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.iter().map(|g| g.count as usize).sum()
    }

    /// True if some calls use TCP: the balancers then open TCP listeners on both legs (on
    /// the ports of their UDP listeners).
    pub fn uses_tcp(&self) -> bool {
        self.traffic
            .iter()
            .any(|t| t.calls > 0 && t.transport == CallTransport::Tcp)
    }

    /// Total number of calls.
    pub fn call_count(&self) -> usize {
        self.traffic.iter().map(|t| t.calls as usize).sum()
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |m: String| Err(ScenarioError::Invalid(m));
        if self.balancers.count == 0 || self.balancers.count > 50 {
            return bad("balancers.count must be 1..=50".into());
        }
        let n = self.node_count();
        let smpp_only = self.smpp.as_ref().is_some_and(|m| m.customer_count() > 0);
        if (n == 0 && !smpp_only) || n > 250 {
            return bad("between 1 and 250 nodes are needed".into());
        }
        if let Some(m) = &self.smpp {
            m.validate()?;
        }
        let providers = self.smpp.as_ref().map_or(0, Smpp::provider_count);
        let customers = self.smpp.as_ref().map_or(0, Smpp::customer_count);
        if self.callers == 0 || self.callers > 250 {
            return bad("callers must be 1..=250".into());
        }
        for t in &self.traffic {
            if t.calls > 0 && (t.rate.is_nan() || t.rate <= 0.0) {
                return bad("traffic.rate must be positive".into());
            }
        }
        for e in &self.timeline {
            if let Some(p) = provider_index(&e.target) {
                let supported = matches!(
                    e.action,
                    Action::Crash | Action::Restart | Action::Partition | Action::Heal
                );
                if p >= providers || !supported {
                    return bad(format!(
                        "timeline: {:?} of {:?} is not a fault of an SMPP provider",
                        e.action, e.target
                    ));
                }
                continue;
            }
            if let Some(c) = customer_index(&e.target) {
                if c >= customers || !matches!(e.action, Action::Crash | Action::Restart) {
                    return bad(format!(
                        "timeline: {:?} of {:?} is not a fault of an SMPP customer",
                        e.action, e.target
                    ));
                }
                continue;
            }
            if node_index(&e.target).is_none_or(|i| i >= n) {
                return bad(format!("timeline target {:?} is not a node", e.target));
            }
            if e.action == Action::Upgrade && e.version.is_none() {
                return bad(format!("upgrade of {} needs a version", e.target));
            }
        }
        for name in self.expect.left.iter().chain(&self.expect.rejoined) {
            if node_index(name).is_none_or(|i| i >= n) {
                return bad(format!("expect names {name:?}, which is not a node"));
            }
        }
        for w in &self.expect.calls {
            if w.node.is_some() == w.version.is_some() {
                return bad("expect.calls needs exactly one of node and version".into());
            }
            if let Some(name) = &w.node {
                if node_index(name).is_none_or(|i| i >= n) {
                    return bad(format!("expect.calls names {name:?}, which is not a node"));
                }
            }
        }
        Ok(())
    }

    /// The `lb-configuration.xml` of balancer `index`.
    pub fn balancer_xml(&self, index: usize) -> String {
        let b = &self.balancers;
        let host = crate::addr::balancer_ip(index);
        let vip = if b.ip_load_balancer {
            format!(
                "<ipLoadBalancerAddress>{}</ipLoadBalancerAddress><ipLoadBalancerUdpPort>{}</ipLoadBalancerUdpPort>",
                crate::addr::VIP.ip(),
                crate::addr::VIP.port()
            )
        } else {
            String::new()
        };
        let tcp = |port: u16| {
            if self.uses_tcp() {
                format!("<tcpPort>{port}</tcpPort>")
            } else {
                String::new()
            }
        };
        let errors = b
            .max_error_responses
            .map(|n| format!("<maxNumberResponsesWithError>{n}</maxNumberResponsesWithError>"))
            .unwrap_or_default();
        let smpp = self.smpp.as_ref().map(Smpp::xml).unwrap_or_default();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<load-balancer-properties>\n  <common>\n    <host>{host}</host>\n    <nodeTimeout>{nt}</nodeTimeout>\n    <heartbeatInterval>{hi}</heartbeatInterval>\n  </common>\n  <sip>\n    <algorithm><algorithmClass>{alg}</algorithmClass></algorithm>\n    {errors}{extra}\n    <external><udpPort>{ext}</udpPort>{ext_tcp}{vip}</external>\n    <internal><udpPort>{int}</udpPort>{int_tcp}</internal>\n  </sip>\n  <heartbeat><heartbeatConfig><heartbeatPort>{hb}</heartbeatPort></heartbeatConfig></heartbeat>\n{smpp}</load-balancer-properties>\n",
            nt = b.node_timeout_ms,
            hi = b.heartbeat_interval_ms,
            alg = b.algorithm,
            extra = b.extra_sip_xml,
            ext = crate::addr::EXTERNAL_PORT,
            int = crate::addr::INTERNAL_PORT,
            ext_tcp = tcp(crate::addr::EXTERNAL_PORT),
            int_tcp = tcp(crate::addr::INTERNAL_PORT),
            hb = crate::addr::HEARTBEAT_PORT,
        )
    }
}

/// `n7` → 7.
pub fn node_index(name: &str) -> Option<usize> {
    name.strip_prefix('n')?.parse().ok()
}

/// `p1` → 1 (an SMPP provider).
pub fn provider_index(name: &str) -> Option<usize> {
    name.strip_prefix('p')?.parse().ok()
}

/// `c2` → 2 (an SMPP customer).
pub fn customer_index(name: &str) -> Option<usize> {
    name.strip_prefix('c')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_scenario_gets_defaults_and_a_valid_configuration() {
        let s = Scenario::from_toml(
            "[[nodes]]\ncount = 2\n[[traffic]]\ncalls = 3\n[[timeline]]\nat_ms = 5\naction = \"crash\"\ntarget = \"n1\"\n",
        )
        .unwrap();
        assert_eq!(s.node_count(), 2);
        assert_eq!(s.balancers.node_timeout_ms, 3000);
        assert!(s.expect.all_complete);
        let xml = s.balancer_xml(0);
        let loaded = switchboard_core::config::Config::from_xml(&xml).unwrap();
        assert_eq!(loaded.config.common.host, "10.0.0.1");
    }

    #[test]
    fn unknown_targets_and_keys_are_refused() {
        assert!(Scenario::from_toml(
            "[[nodes]]\n[[timeline]]\nat_ms = 5\naction = \"crash\"\ntarget = \"n4\"\n"
        )
        .is_err());
        assert!(Scenario::from_toml("[[nodes]]\nbogus = 1\n").is_err());
    }
}
