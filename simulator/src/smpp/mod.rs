//! SMPP peers of the simulated cluster, and the record that checks what the balancers do
//! with their traffic.
//!
//! - [`customer::Customer`]: an ESME connecting to a balancer's SMPP listener. It binds
//!   (`bind_transceiver`, SMPP 3.4 §4.1.5), sends `submit_sm` at its rate with its own
//!   sequence numbers (some as long messages in three parts), answers `deliver_sm` and
//!   `enquire_link`, sends its own `enquire_link`, and keeps every request it sent with the
//!   response it got.
//! - [`provider::Provider`]: a message centre the balancers connect to (`remoteServers`).
//!   It accepts the binds of the scenario's accounts, answers `submit_sm` after a delay with
//!   a `message_id` of its own (sometimes past the balancer's `timeoutResponse`), sends a
//!   delivery receipt for each message (`deliver_sm`, `esm_class` 0x04, `id:` text of SMPP
//!   3.4 Appendix B) and mobile-originated messages, answers `enquire_link` and `unbind`,
//!   and keeps every request it sent with its response.
//! - [`Ledger`]: what every message id and mobile-originated message is (which provider
//!   assigned it, for which customer request and `system_id`) and where it arrived, so a
//!   response, receipt or message reaching the wrong customer is found.
//!
//! Both peers are sans-IO like the core: fed bytes, connection events and timers with the
//! virtual time, they return what to do ([`customer::CustomerAct`],
//! [`provider::ProviderAct`]); the world carries it out over its TCP connections.

pub(crate) mod config;
pub(crate) mod customer;
pub(crate) mod provider;

#[cfg(test)]
mod tests;

use crate::world::secs;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use switchboard_core::io::ConnId;
use switchboard_core::time::Timestamp;

/// A connection as the balancer names it: balancer index and connection id.
pub(crate) type ConnKey = (usize, ConnId);

/// Who a customer is, for the checks.
#[derive(Debug, Clone)]
pub(crate) struct CustomerInfo {
    pub name: String,
    pub system_id: String,
}

/// One message id a provider assigned.
#[derive(Debug, Clone)]
pub(crate) struct MessageFacts {
    /// The provider that assigned it.
    pub provider: usize,
    /// The connection the `submit_sm` came on, and its `system_id`.
    pub link: ConnKey,
    pub system_id: String,
    /// The customer request it answers: customer index and its sequence number.
    pub customer: usize,
    pub customer_seq: u32,
    pub issued_at: Timestamp,
    /// The customer connection (`epoch`) the `ESME_ROK` reached, and when.
    pub acked: Option<(usize, u32, Timestamp)>,
    /// Where its delivery receipts arrived: customer, connection, time.
    pub deliveries: Vec<(usize, u32, Timestamp)>,
}

/// One mobile-originated message a provider sent.
#[derive(Debug, Clone)]
pub(crate) struct MoFacts {
    pub provider: usize,
    pub system_id: String,
    pub deliveries: Vec<(usize, u32, Timestamp)>,
}

/// The shared record of the SMPP traffic (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub customers: Vec<CustomerInfo>,
    pub messages: BTreeMap<Bytes, MessageFacts>,
    pub mos: BTreeMap<u64, MoFacts>,
    pub next_mo: u64,
    /// When each customer connection (customer, epoch) ended.
    pub conn_ended: BTreeMap<(usize, u32), Timestamp>,
    /// Long messages: (customer, its long message number) → the provider connection of its
    /// first part.
    pub concat: BTreeMap<(usize, u32), ConnKey>,
    /// Provider connections that ended.
    pub links_closed: BTreeSet<ConnKey>,
    /// Each provider request goes to one customer (not submit-to-all): a second delivery is
    /// a duplicate.
    pub one_customer_per_request: bool,
}

impl Ledger {
    fn customer_name(&self, k: usize) -> String {
        self.customers
            .get(k)
            .map_or_else(|| format!("c{k}"), |c| c.name.clone())
    }

    /// Customer `k` got `ESME_ROK` with `message_id` for its request `seq` on connection
    /// `epoch`.
    pub(crate) fn acked(
        &mut self,
        message_id: &Bytes,
        k: usize,
        seq: u32,
        epoch: u32,
        now: Timestamp,
    ) -> Option<String> {
        let me = self.customer_name(k);
        let id = String::from_utf8_lossy(message_id).into_owned();
        let Some(f) = self.messages.get_mut(message_id) else {
            return Some(format!(
                "customer {me} got submit_sm_resp ESME_ROK with message_id {id:?} (its submit_sm {seq}), which no provider assigned"
            ));
        };
        if (f.customer, f.customer_seq) != (k, seq) {
            let owner = f.customer;
            let owner_seq = f.customer_seq;
            let p = f.provider;
            return Some(format!(
                "the answer of p{p} to submit_sm {owner_seq} of {} (message_id {id}) reached customer {me} as the answer to its submit_sm {seq}",
                self.customer_name(owner)
            ));
        }
        if let Some((_, e, t)) = f.acked {
            return Some(format!(
                "customer {me} got message_id {id} twice (connection {e} at {}, connection {epoch})",
                secs(t)
            ));
        }
        f.acked = Some((k, epoch, now));
        None
    }

    /// A delivery receipt for `message_id` reached customer `k` on connection `epoch`.
    pub(crate) fn receipt_arrived(
        &mut self,
        message_id: &Bytes,
        k: usize,
        epoch: u32,
        now: Timestamp,
    ) -> Option<String> {
        let me = self.customer_name(k);
        let system = self.customers.get(k).map(|c| c.system_id.clone());
        let id = String::from_utf8_lossy(message_id).into_owned();
        let Some(f) = self.messages.get_mut(message_id) else {
            return Some(format!(
                "customer {me} got a delivery receipt for message_id {id:?}, which no provider assigned"
            ));
        };
        f.deliveries.push((k, epoch, now));
        if Some(&f.system_id) != system.as_ref() {
            let sys = f.system_id.clone();
            let owner = f.customer;
            return Some(format!(
                "the delivery receipt for message_id {id} (submitted by {} with system_id {sys}) reached customer {me} of system_id {}",
                self.customer_name(owner),
                system.unwrap_or_default()
            ));
        }
        if self.one_customer_per_request && f.deliveries.len() > 1 {
            return Some(format!(
                "the delivery receipt for message_id {id} reached customers {} times",
                f.deliveries.len()
            ));
        }
        None
    }

    /// Mobile-originated message `mo` reached customer `k` on connection `epoch`.
    pub(crate) fn mo_arrived(
        &mut self,
        mo: u64,
        k: usize,
        epoch: u32,
        now: Timestamp,
    ) -> Option<String> {
        let me = self.customer_name(k);
        let system = self.customers.get(k).map(|c| c.system_id.clone());
        let Some(f) = self.mos.get_mut(&mo) else {
            return Some(format!(
                "customer {me} got mobile-originated message {mo}, which no provider sent"
            ));
        };
        f.deliveries.push((k, epoch, now));
        if Some(&f.system_id) != system.as_ref() {
            return Some(format!(
                "mobile-originated message {mo} of p{} for system_id {} reached customer {me} of system_id {}",
                f.provider,
                f.system_id,
                system.unwrap_or_default()
            ));
        }
        if self.one_customer_per_request && f.deliveries.len() > 1 {
            return Some(format!(
                "mobile-originated message {mo} reached customers {} times",
                f.deliveries.len()
            ));
        }
        None
    }

    /// A part of long message `number` of customer `k` reached provider connection `link`:
    /// every part goes where the first went while that connection lasts. (The number is
    /// the customer's count, in the text; the balancer sees the UDH reference, which wraps.)
    pub(crate) fn part_arrived(
        &mut self,
        k: usize,
        number: u32,
        link: ConnKey,
        what: &str,
    ) -> Option<String> {
        match self.concat.get(&(k, number)) {
            Some(first) if *first != link && !self.links_closed.contains(first) => {
                Some(format!(
                    "{what} of long message {number} of customer {} reached provider connection {} of lb{}, its first part went to connection {} of lb{}, still open",
                    self.customer_name(k),
                    link.1 .0,
                    link.0,
                    first.1 .0,
                    first.0
                ))
            }
            Some(_) => None,
            None => {
                self.concat.insert((k, number), link);
                None
            }
        }
    }

    /// The checks that need the whole run: a receipt for a message whose `ESME_ROK` reached
    /// its customer goes to that customer while its connection lasts.
    pub(crate) fn final_checks(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (id, f) in &self.messages {
            let Some((s, e, _)) = f.acked else {
                continue;
            };
            for &(k, epoch, at) in &f.deliveries {
                let submitter_open = self.conn_ended.get(&(s, e)).is_none_or(|end| *end > at);
                if (k, epoch) != (s, e) && submitter_open {
                    out.push(format!(
                        "the delivery receipt for message_id {} reached customer {} (connection {epoch}) at {}, while {} that submitted it was connected (connection {e})",
                        String::from_utf8_lossy(id),
                        self.customer_name(k),
                        secs(at),
                        self.customer_name(s)
                    ));
                }
            }
        }
        out
    }
}

/// The text of a customer's message: `c<k>#<seq>` first (the provider reads who sent it),
/// then `m<n>` for a part of the customer's long message number `n`.
pub(crate) fn message_text(k: usize, seq: u32, long: Option<u32>) -> String {
    match long {
        Some(n) => format!("c{k}#{seq} m{n} hello"),
        None => format!("c{k}#{seq} hello"),
    }
}

/// The customer, sequence number and long message number a message text starts with.
pub(crate) fn parse_message_text(text: &[u8]) -> Option<(usize, u32, Option<u32>)> {
    let t = std::str::from_utf8(text).ok()?;
    let rest = t.strip_prefix('c')?;
    let (k, rest) = rest.split_once('#')?;
    let mut words = rest.split(' ');
    let seq = words.next()?;
    let long = words
        .next()
        .and_then(|w| w.strip_prefix('m'))
        .and_then(|n| n.parse().ok());
    Some((k.parse().ok()?, seq.parse().ok()?, long))
}
