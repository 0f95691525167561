//! The `[smpp]` table of a scenario: the balancers' `<smpp>` settings, the customers and
//! providers, and what must hold at the end.
//!
//! ```toml
//! [smpp]
//! quiet_ms = 10000
//! [[smpp.customers]]
//! count = 2
//! system_id = "A"
//! password = "secretA"
//! rate = 20.0
//! quota = 600
//! [[smpp.providers]]
//! count = 2
//! [smpp.expect]
//! recovered = ["p1"]
//! ```

use crate::addr;
use crate::scenario::{provider_index, ScenarioError};
use serde::Deserialize;

/// SMPP traffic of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smpp {
    /// `muxMode`.
    pub mux_mode: bool,
    /// `toProviderAlgorithmClass` (short name or Java class).
    pub to_provider_algorithm: String,
    /// `toNodeAlgorithmClass` (short name or Java class).
    pub to_node_algorithm: String,
    /// `timeoutResponse`.
    pub timeout_response_ms: u64,
    /// `timeoutConnection`.
    pub timeout_connection_ms: u64,
    /// `timeoutEnquire`.
    pub timeout_enquire_ms: u64,
    /// `timeoutConnectionCheckClientSide` and `timeoutConnectionCheckServerSide`.
    pub timeout_check_ms: u64,
    /// `reconnectPeriod`.
    pub reconnect_period_ms: u64,
    /// Extra XML elements inserted into `<smpp>` verbatim.
    pub extra_xml: String,
    /// How long the run goes on once every customer has sent its quota: every response,
    /// receipt and message still under way arrives within it.
    pub quiet_ms: u64,
    /// Groups of customers (ESMEs connecting to the balancers), named `c0`, `c1`, … in order.
    pub customers: Vec<CustomerGroup>,
    /// Groups of providers (message centres the balancers connect to, their
    /// `remoteServers`), named `p0`, `p1`, … in order.
    pub providers: Vec<ProviderGroup>,
    /// What must hold at the end (the SMPP invariants are always checked).
    pub expect: SmppExpect,
}

impl Default for Smpp {
    fn default() -> Self {
        Smpp {
            mux_mode: true,
            to_provider_algorithm: "round-robin".into(),
            to_node_algorithm: "round-robin".into(),
            timeout_response_ms: 3000,
            timeout_connection_ms: 1000,
            timeout_enquire_ms: 10_000,
            timeout_check_ms: 3000,
            reconnect_period_ms: 500,
            extra_xml: String::new(),
            quiet_ms: 10_000,
            customers: Vec::new(),
            providers: Vec::new(),
            expect: SmppExpect::default(),
        }
    }
}

/// A group of identical customers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustomerGroup {
    /// How many customers.
    pub count: u32,
    /// `system_id` of their binds.
    pub system_id: String,
    /// `password` of their binds.
    pub password: String,
    /// `submit_sm` per second while bound (evenly spaced, with a seeded jitter).
    pub rate: f64,
    /// How many `submit_sm` each sends in all.
    pub quota: u32,
    /// When the first customer of the group connects (the others follow 50 ms apart).
    pub start_at_ms: u64,
    /// Requests awaiting their response, at most; the customer waits past it.
    pub window: u32,
    /// Period of the customer's own `enquire_link` (0: none).
    pub enquire_link_ms: u64,
    /// Every this many messages, a long one in three parts (UDH concatenation); 0: never.
    pub long_message_every: u32,
}

impl Default for CustomerGroup {
    fn default() -> Self {
        CustomerGroup {
            count: 1,
            system_id: "esme".into(),
            password: "secret".into(),
            rate: 10.0,
            quota: 100,
            start_at_ms: 100,
            window: 100,
            enquire_link_ms: 5000,
            long_message_every: 0,
        }
    }
}

/// A group of identical providers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderGroup {
    /// How many providers.
    pub count: u32,
    /// Delay before a `submit_sm` is answered.
    pub response_delay_ms: u64,
    /// Extra uniform delay in `0..response_jitter_ms`.
    pub response_jitter_ms: u64,
    /// Fraction of `submit_sm` answered after `slow_delay_ms` instead (past the balancer's
    /// `timeoutResponse`, its own answer comes first and the late one must be dropped).
    pub slow_fraction: f64,
    /// The delay of those slow answers.
    pub slow_delay_ms: u64,
    /// Delay between the answer to a `submit_sm` and its delivery receipt.
    pub receipt_delay_ms: u64,
    /// Extra uniform delay of receipts in `0..receipt_jitter_ms`.
    pub receipt_jitter_ms: u64,
    /// Mobile-originated `deliver_sm` per second, per provider, while customers send.
    pub mo_rate: f64,
    /// Period of the provider's own `enquire_link` on each bound connection (0: none).
    pub enquire_link_ms: u64,
}

impl Default for ProviderGroup {
    fn default() -> Self {
        ProviderGroup {
            count: 1,
            response_delay_ms: 10,
            response_jitter_ms: 20,
            slow_fraction: 0.0,
            slow_delay_ms: 4000,
            receipt_delay_ms: 200,
            receipt_jitter_ms: 800,
            mo_rate: 1.0,
            enquire_link_ms: 0,
        }
    }
}

/// Expectations of the SMPP traffic, checked after the run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmppExpect {
    /// Providers that must have answered, after their last restart, a `submit_sm` whose
    /// `ESME_ROK` reached the customer.
    pub recovered: Vec<String>,
    /// At least this fraction of all `submit_sm` answered `ESME_ROK`.
    pub min_ok_fraction: Option<f64>,
    /// At least this many delivery receipts reach customers.
    pub min_receipts: Option<u64>,
    /// At least this many mobile-originated messages reach customers.
    pub min_mo: Option<u64>,
    /// At least this many `submit_sm` answered by the balancer itself (`ESME_RSYSERR`,
    /// `ESME_RTHROTTLED`).
    pub min_balancer_answers: Option<u64>,
}

impl Smpp {
    /// Number of customers.
    pub fn customer_count(&self) -> usize {
        self.customers.iter().map(|g| g.count as usize).sum()
    }

    /// Number of providers.
    pub fn provider_count(&self) -> usize {
        self.providers.iter().map(|g| g.count as usize).sum()
    }

    /// True when the to-node algorithm hands each provider request to one customer.
    pub fn round_robin_to_nodes(&self) -> bool {
        !self.to_node_algorithm.contains("ubmit")
    }

    pub(crate) fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |m: String| Err(ScenarioError::Invalid(m));
        if self.customer_count() > 250 || self.provider_count() > 250 {
            return bad("at most 250 SMPP customers and 250 providers".into());
        }
        if self.provider_count() == 0 && self.customer_count() > 0 {
            return bad("SMPP customers need at least one provider".into());
        }
        for g in &self.customers {
            if g.quota > 0 && (g.rate.is_nan() || g.rate <= 0.0) {
                return bad("smpp.customers.rate must be positive".into());
            }
            if g.system_id.is_empty() || g.system_id.len() > 15 || g.password.len() > 8 {
                return bad(
                    "smpp.customers: system_id of 1 to 15 characters, password of at most 8".into(),
                );
            }
            if g.window == 0 {
                return bad("smpp.customers.window must be positive".into());
            }
        }
        for g in &self.providers {
            if g.mo_rate.is_nan() || g.mo_rate < 0.0 {
                return bad("smpp.providers.mo_rate must not be negative".into());
            }
        }
        for name in &self.expect.recovered {
            if provider_index(name).is_none_or(|p| p >= self.provider_count()) {
                return bad(format!(
                    "smpp.expect names {name:?}, which is not a provider"
                ));
            }
        }
        Ok(())
    }

    /// The `<smpp>` section of the balancers' configuration.
    pub fn xml(&self) -> String {
        let servers: Vec<String> = (0..self.provider_count())
            .map(|p| addr::smpp_provider(p).to_string())
            .collect();
        format!(
            "  <smpp>\n    <smppPort>{port}</smppPort>\n    <remoteServers>{servers}</remoteServers>\n    <muxMode>{mux}</muxMode>\n    <toProviderAlgorithmClass>{tp}</toProviderAlgorithmClass>\n    <toNodeAlgorithmClass>{tn}</toNodeAlgorithmClass>\n    <timeoutResponse>{tr}</timeoutResponse>\n    <timeoutConnection>{tc}</timeoutConnection>\n    <timeoutEnquire>{te}</timeoutEnquire>\n    <timeoutConnectionCheckClientSide>{tk}</timeoutConnectionCheckClientSide>\n    <timeoutConnectionCheckServerSide>{tk}</timeoutConnectionCheckServerSide>\n    <reconnectPeriod>{rp}</reconnectPeriod>\n    {extra}\n  </smpp>\n",
            port = addr::SMPP_PORT,
            servers = servers.join(","),
            mux = self.mux_mode,
            tp = self.to_provider_algorithm,
            tn = self.to_node_algorithm,
            tr = self.timeout_response_ms,
            tc = self.timeout_connection_ms,
            te = self.timeout_enquire_ms,
            tk = self.timeout_check_ms,
            rp = self.reconnect_period_ms,
            extra = self.extra_xml,
        )
    }
}
