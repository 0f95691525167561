//! Regular mode (behaviour reference §6.2, docs/decisions.md §12): each customer gets its
//! own provider connection, bound with the customer's own bind, chosen among the remote
//! servers and the heartbeat nodes that advertise `smppPort` (round robin, or always the
//! first with active-standby). The provider's `bind_resp` goes back with the customer's
//! sequence number. A lost provider is reconnected (same server first) and rebound with the
//! stored bind while the customer's requests get `ESME_RSYSERR`; if no server binds, the
//! customer is unbound.

use super::inflight::LinkId;
use super::{Candidate, CustomerState, LinkOwner, LinkState, SmppProxy, SmppTimer};
use crate::balancer::net::Net;
use crate::cluster::Cluster;
use crate::config::SmppToProviderAlgorithm;
use crate::io::ConnId;
use crate::smpp::{CommandId, CommandStatus};
use crate::time::Timestamp;
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

/// The heartbeat nodes of the latest version that advertise `smppPort`, with their host
/// names (regular mode's provider map after the remote servers, §6.2).
pub(super) fn heartbeat_servers(cluster: &Cluster) -> Vec<(Candidate, String)> {
    let registry = cluster.registry();
    let Some(version) = registry.latest_version() else {
        return Vec::new();
    };
    [false, true]
        .iter()
        .flat_map(|ipv6| registry.live_nodes(version, *ipv6).iter())
        .filter(|n| !n.graceful && !n.bad)
        .filter_map(|n| {
            let addr = SocketAddr::new(n.key.ip, n.smpp_port?);
            Some((
                Candidate {
                    key: Arc::from(addr.to_string()),
                    host: n.key.ip.to_string(),
                    addr,
                },
                n.host_name.clone(),
            ))
        })
        .collect()
}

impl SmppProxy {
    /// Every server a regular-mode customer may be bound to, in map order.
    fn regular_servers(&self, cluster: &Cluster) -> Vec<Candidate> {
        let mut all: Vec<Candidate> = self
            .settings
            .remote_servers
            .iter()
            .filter_map(|hp| {
                Some(Candidate {
                    key: Arc::from(format!("{}:{}", hp.host, hp.port)),
                    host: hp.host.clone(),
                    addr: self.address_of(&hp.host, hp.port)?,
                })
            })
            .collect();
        for (candidate, _) in heartbeat_servers(cluster) {
            if !all.iter().any(|c| c.addr == candidate.addr) {
                all.push(candidate);
            }
        }
        all
    }

    /// A customer's bind in regular mode: a provider is picked and sent the same bind.
    pub(super) fn regular_bind(
        &mut self,
        net: &mut Net,
        cluster: &Cluster,
        now: Timestamp,
        conn: ConnId,
    ) {
        let Some(c) = self.customers.get(&conn) else {
            return;
        };
        let Some(bind) = c.bind.clone() else {
            return;
        };
        let secure = c.secure;
        self.resolve_names(net);
        let servers = self.regular_servers(cluster);
        if servers.is_empty() {
            tracing::warn!("SMPP customer bind with no provider to bind to");
            let system_id = bind.body.system_id.clone();
            self.answer_bind(net, now, conn, CommandStatus::RSYSERR, &system_id);
            return;
        }
        let start = match self.settings.to_provider {
            SmppToProviderAlgorithm::ActiveStandby => 0,
            SmppToProviderAlgorithm::RoundRobin => {
                let s = self.next_regular % servers.len();
                self.next_regular = self.next_regular.wrapping_add(1);
                s
            }
        };
        let mut order: VecDeque<Candidate> = servers.into();
        order.rotate_left(start);
        let first = order.pop_front().expect("not empty");
        let id = self.new_link(
            now,
            first,
            secure,
            LinkOwner::Customer(conn),
            bind.command,
            bind.body,
        );
        if let Some(link) = self.links.get_mut(&id) {
            link.candidates = order;
            link.relay_bind_resp = true;
        }
        if let Some(c) = self.customers.get_mut(&conn) {
            c.link = Some(id);
        }
        self.connect_link(net, now, id);
    }

    /// A provider accepted a regular-mode link's bind: the first bind's answer goes to the
    /// customer with its own sequence number; a rebind's is kept.
    pub(super) fn regular_link_bound(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        raw: Bytes,
    ) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let LinkOwner::Customer(customer) = link.owner else {
            return;
        };
        if !std::mem::replace(&mut link.relay_bind_resp, false) {
            tracing::info!(provider = %link.key, "SMPP customer's provider rebound");
            return;
        }
        self.relay_bind_resp(net, now, customer, raw, true);
    }

    /// Relays a provider's `bind_resp` to the customer with the customer's bind sequence
    /// number, and moves the customer to Bound (`ok`) or back to Open.
    fn relay_bind_resp(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        customer: ConnId,
        raw: Bytes,
        ok: bool,
    ) {
        let Some(c) = self.customers.get_mut(&customer) else {
            return;
        };
        let Some(seq) = c.bind.as_ref().map(|b| b.seq) else {
            return;
        };
        if ok {
            c.state = CustomerState::Bound;
            c.last_rx = now;
            self.timers.cancel(SmppTimer::CustomerState(customer));
            self.timers.set(
                SmppTimer::CustomerLiveness(customer),
                Some(now.saturating_add(self.settings.enquire)),
            );
        } else {
            c.state = CustomerState::Open;
            c.link = None;
            self.timers.set(
                SmppTimer::CustomerState(customer),
                Some(now.saturating_add(self.settings.session_init)),
            );
        }
        self.relay_to_customer(net, customer, &raw, seq, false);
    }

    /// A provider refused a regular-mode link's bind: a first bind's refusal goes to the
    /// customer as is; a rebind's unbinds the customer.
    pub(super) fn regular_bind_refused(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        raw: Bytes,
    ) {
        let Some(link) = self.links.get(&id) else {
            return;
        };
        let LinkOwner::Customer(customer) = link.owner else {
            self.close_link(net, id);
            return;
        };
        let first = link.relay_bind_resp;
        self.close_link(net, id);
        if first {
            self.relay_bind_resp(net, now, customer, raw, false);
        } else {
            self.unbind_customer(net, now, customer);
        }
    }

    /// A regular-mode link's connection is gone. During a bind round the next server is
    /// tried at once; when none is left the customer gets `ESME_RSYSERR` (first bind) or an
    /// `unbind` (rebind). A bound link reconnects after `reconnectPeriod`.
    pub(super) fn regular_link_lost(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        customer: ConnId,
        was: LinkState,
    ) {
        if was == LinkState::Bound {
            self.timers.set(
                SmppTimer::LinkReconnect(id),
                Some(now.saturating_add(self.settings.reconnect)),
            );
            return;
        }
        self.try_next_candidate(net, now, id, customer);
    }

    /// The reconnection timer of a regular-mode link: this round tries the same server
    /// first, then the others.
    pub(super) fn regular_reconnect(
        &mut self,
        net: &mut Net,
        cluster: &Cluster,
        now: Timestamp,
        id: LinkId,
    ) {
        let servers = self.regular_servers(cluster);
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let current = link.addr;
        link.candidates = servers.into_iter().filter(|c| c.addr != current).collect();
        self.connect_link(net, now, id);
    }

    /// Moves a link whose attempt failed to the next server of its round.
    fn try_next_candidate(&mut self, net: &mut Net, now: Timestamp, id: LinkId, customer: ConnId) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if let Some(next) = link.candidates.pop_front() {
            link.key = next.key;
            link.host = next.host;
            link.addr = next.addr;
            self.connect_link(net, now, id);
            return;
        }
        let first = link.relay_bind_resp;
        tracing::warn!(provider = %link.key, "SMPP no provider could be bound for a customer");
        self.close_link(net, id);
        if first {
            let system_id = self
                .customers
                .get(&customer)
                .map(|c| c.system_id.clone())
                .unwrap_or_default();
            if let Some(c) = self.customers.get_mut(&customer) {
                c.link = None;
            }
            self.answer_bind(
                net,
                now,
                customer,
                CommandStatus::RSYSERR,
                system_id.as_bytes(),
            );
        } else {
            self.unbind_customer(net, now, customer);
        }
    }

    /// A request from a provider in regular mode goes to its customer (`alert_notification`
    /// too, without a response); `ESME_RSYSERR` if the customer cannot take it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn regular_provider_request(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        conn: ConnId,
        command: CommandId,
        seq: u32,
        raw: Bytes,
    ) {
        let Some(LinkOwner::Customer(customer)) = self.links.get(&id).map(|l| l.owner.clone())
        else {
            return;
        };
        let bound = self
            .customers
            .get(&customer)
            .is_some_and(|c| c.state == CustomerState::Bound);
        if !bound {
            if command.expects_response() {
                self.answer_provider(net, id, conn, command, seq, CommandStatus::RSYSERR);
            }
            return;
        }
        if !command.expects_response() {
            let seq = match self.customers.get_mut(&customer) {
                Some(c) => c.inflight.next_sequence(),
                None => return,
            };
            self.relay_to_customer(net, customer, &raw, seq, true);
            return;
        }
        self.forward_to_customer(net, now, id, conn, seq, command, raw, customer, None);
    }
}
