//! Mux mode (behaviour reference §6.3, docs/decisions.md §12): customers grouped by
//! `system_id` share one bound session per remote server. The first customer's bind binds
//! every provider with its credentials; the others are checked against them locally and get
//! exactly one `bind_resp` each. Customer requests are spread over the bound providers
//! (`toProviderAlgorithmClass`), keeping a long message's parts together and a message id's
//! follow-ups on the provider that assigned it; provider requests go to a customer of the
//! `system_id` (`toNodeAlgorithmClass`), delivery receipts to the customer that submitted the
//! message.

use super::inflight::{LinkId, Origin};
use super::pins::Pins;
use super::receipts::ReceiptTable;
use super::{
    Candidate, CustomerState, Fanout, LinkOwner, LinkState, Queued, SmppProxy, SmppTimer, Space,
};
use crate::balancer::net::Net;
use crate::config::{SmppToNodeAlgorithm, SmppToProviderAlgorithm};
use crate::io::ConnId;
use crate::smpp::{self, Address, Bind, Body, CommandId, CommandStatus, Concatenation};
use crate::time::Timestamp;
use bytes::Bytes;
use std::sync::Arc;

/// The `system_id` the balancer answers customer binds with in mux mode (§6.3).
pub const MUX_SYSTEM_ID: &[u8] = b"loadbalancer";

impl SmppProxy {
    /// The remote servers as link candidates (those given by IP address).
    pub(super) fn remote_candidates(&self) -> Vec<Candidate> {
        self.settings
            .remote_servers
            .iter()
            .filter_map(|hp| {
                let addr = self.address_of(&hp.host, hp.port);
                if addr.is_none() {
                    tracing::debug!(host = %hp.host, "SMPP remote server not resolved yet");
                }
                Some(Candidate {
                    key: Arc::from(format!("{}:{}", hp.host, hp.port)),
                    host: hp.host.clone(),
                    addr: addr?,
                })
            })
            .collect()
    }

    /// A customer's bind in mux mode.
    pub(super) fn mux_bind(&mut self, net: &mut Net, now: Timestamp, conn: ConnId) {
        let Some(c) = self.customers.get(&conn) else {
            return;
        };
        let Some(bind) = c.bind.clone() else {
            return;
        };
        let (system_id, secure) = (c.system_id.clone(), c.secure);
        self.resolve_names(net);
        if let Some(space) = self.spaces.get_mut(&system_id) {
            if space.authenticated {
                let ok = bind.body.password == space.password;
                if ok {
                    space.customers.push(conn);
                }
                let status = if ok {
                    CommandStatus::ROK
                } else {
                    CommandStatus::RINVPASWD
                };
                self.answer_bind(net, now, conn, status, MUX_SYSTEM_ID);
            } else {
                space.waiting.push(conn);
            }
            return;
        }
        let candidates = self.remote_candidates();
        if candidates.is_empty() && self.resolving.is_empty() {
            tracing::warn!(%system_id, "SMPP customer bind with no remote server to bind to");
            self.answer_bind(net, now, conn, CommandStatus::RSYSERR, MUX_SYSTEM_ID);
            return;
        }
        let provider_bind = Bind {
            system_id: bind.body.system_id.clone(),
            password: bind.body.password.clone(),
            system_type: bind.body.system_type.clone(),
            interface_version: smpp::SMPP_3_4,
            address_range: Address::default(),
        };
        let mut space = Space {
            bind: provider_bind.clone(),
            password: bind.body.password.clone(),
            secure,
            authenticated: false,
            links: Vec::new(),
            customers: Vec::new(),
            waiting: vec![conn],
            next_link: 0,
            next_customer: 0,
            receipts: ReceiptTable::new(self.settings.receipt_capacity, self.settings.receipt_ttl),
            pins: Pins::default(),
        };
        for candidate in candidates {
            let id = self.new_link(
                now,
                candidate,
                secure,
                LinkOwner::Space(system_id.clone()),
                CommandId::BIND_TRANSCEIVER,
                provider_bind.clone(),
            );
            space.links.push(id);
        }
        tracing::info!(%system_id, providers = space.links.len(), "SMPP binding providers for a new system_id");
        let ids = space.links.clone();
        self.spaces.insert(system_id, space);
        for id in ids {
            self.connect_link(net, now, id);
        }
    }

    /// A provider accepted the bind of link `id`: the credentials are good; every waiting
    /// customer is answered.
    pub(super) fn mux_link_bound(&mut self, net: &mut Net, now: Timestamp, id: LinkId) {
        let Some(LinkOwner::Space(system_id)) = self.links.get(&id).map(|l| l.owner.clone()) else {
            return;
        };
        let Some(space) = self.spaces.get_mut(&system_id) else {
            return;
        };
        space.authenticated = true;
        let waiting = std::mem::take(&mut space.waiting);
        let password = space.password.clone();
        for conn in waiting {
            let ok = self
                .customers
                .get(&conn)
                .and_then(|c| c.bind.as_ref())
                .is_some_and(|b| b.body.password == password);
            if ok {
                if let Some(space) = self.spaces.get_mut(&system_id) {
                    space.customers.push(conn);
                }
            }
            let status = if ok {
                CommandStatus::ROK
            } else {
                CommandStatus::RINVPASWD
            };
            self.answer_bind(net, now, conn, status, MUX_SYSTEM_ID);
        }
    }

    /// A provider refused the bind of link `id` with `status`. Refused credentials
    /// (`ESME_RINVPASWD`, `ESME_RINVSYSID`) of a `system_id` no provider accepted yet fail
    /// the customers that gave them, and the next waiting customer with other credentials
    /// starts again; a provider refusing credentials others accepted is dropped; any other
    /// refusal is retried after `reconnectPeriod`.
    pub(super) fn mux_bind_refused(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        status: CommandStatus,
    ) {
        let Some(LinkOwner::Space(system_id)) = self.links.get(&id).map(|l| l.owner.clone()) else {
            return;
        };
        let credentials = matches!(status, CommandStatus::RINVPASWD | CommandStatus::RINVSYSID);
        if !credentials {
            self.link_lost(net, now, id, true);
            return;
        }
        let authenticated = self.spaces.get(&system_id).is_some_and(|s| s.authenticated);
        if authenticated {
            self.link_lost(net, now, id, true);
            if let Some(link) = self.links.get_mut(&id) {
                link.state = LinkState::Failed;
            }
            self.timers.cancel(SmppTimer::LinkReconnect(id));
            return;
        }
        let Some(space) = self.spaces.remove(&system_id) else {
            return;
        };
        for link in space.links {
            self.close_link(net, link);
        }
        let (refused, others): (Vec<ConnId>, Vec<ConnId>) =
            space.waiting.into_iter().partition(|conn| {
                self.customers
                    .get(conn)
                    .and_then(|c| c.bind.as_ref())
                    .is_some_and(|b| b.body.password == space.password)
            });
        for conn in refused {
            self.answer_bind(net, now, conn, status, MUX_SYSTEM_ID);
        }
        for conn in others {
            if self
                .customers
                .get(&conn)
                .is_some_and(|c| c.state == CustomerState::Binding)
            {
                self.mux_bind(net, now, conn);
            }
        }
    }

    /// A waiting customer stops waiting (its bind deadline passed).
    pub(super) fn leave_waiting(&mut self, net: &mut Net, now: Timestamp, conn: ConnId) {
        let Some(system_id) = self.customers.get(&conn).map(|c| c.system_id.clone()) else {
            return;
        };
        if let Some(space) = self.spaces.get_mut(&system_id) {
            space.waiting.retain(|c| *c != conn);
        }
        if !self.settings.mux_mode {
            if let Some(id) = self.customers.get_mut(&conn).and_then(|c| c.link.take()) {
                self.close_link(net, id);
            }
            return;
        }
        self.drop_space_if_empty(net, now, &system_id);
    }

    /// A customer of `system_id` left: the last one takes the providers' sessions with it.
    pub(super) fn mux_customer_gone(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        system_id: &str,
    ) {
        if let Some(space) = self.spaces.get_mut(system_id) {
            space.customers.retain(|c| *c != conn);
            space.waiting.retain(|c| *c != conn);
            space.pins.forget_customer(conn);
        }
        self.drop_space_if_empty(net, now, system_id);
    }

    /// Unbinds and forgets a `system_id` no customer uses any more.
    fn drop_space_if_empty(&mut self, net: &mut Net, now: Timestamp, system_id: &str) {
        let empty = self
            .spaces
            .get(system_id)
            .is_some_and(|s| s.customers.is_empty() && s.waiting.is_empty());
        if !empty {
            return;
        }
        let Some(space) = self.spaces.remove(system_id) else {
            return;
        };
        tracing::info!(%system_id, "SMPP last customer left; unbinding its providers");
        for id in space.links {
            self.timers.cancel(SmppTimer::LinkReconnect(id));
            self.unbind_link(net, now, id);
        }
    }

    /// A request from a bound customer in mux mode: to the provider that assigned the
    /// message id it names, to the provider of the long message it is a part of, or to the
    /// algorithm's choice; `ESME_RSYSERR` while no provider is bound.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn mux_request(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        command: CommandId,
        seq: u32,
        raw: Bytes,
        body: &Body,
    ) {
        let Some(system_id) = self.customers.get(&conn).map(|c| c.system_id.clone()) else {
            return;
        };
        let message_id = match body {
            Body::QuerySm(b) => Some(&b.message_id),
            Body::CancelSm(b) => Some(&b.message_id),
            Body::ReplaceSm(b) => Some(&b.message_id),
            _ => None,
        };
        let part: Option<(Bytes, Concatenation)> = match body {
            Body::SubmitSm(b) => b.concatenation().map(|c| (b.source.addr.clone(), c)),
            Body::DataSm(b) => b.concatenation().map(|c| (b.source.addr.clone(), c)),
            _ => None,
        };
        let Some(space) = self.spaces.get_mut(&system_id) else {
            self.answer_customer(net, conn, command, seq, CommandStatus::RSYSERR);
            return;
        };
        let mut target = message_id
            .filter(|id| !id.is_empty())
            .and_then(|id| space.receipts.find(id, now))
            .map(|s| s.link);
        if let Some((source, c)) = &part {
            target = target.or_else(|| space.pins.find(conn, source, *c, now));
        }
        let target = target.filter(|id| {
            self.links
                .get(id)
                .is_some_and(|l| l.state == LinkState::Bound)
        });
        let Some(id) = target.or_else(|| self.choose_link(&system_id)) else {
            self.answer_customer(net, conn, command, seq, CommandStatus::RSYSERR);
            return;
        };
        if let (Some((source, c)), Some(space)) = (&part, self.spaces.get_mut(&system_id)) {
            space.pins.sent(conn, source, *c, id, now);
        }
        self.send_or_queue(net, now, id, conn, seq, command, raw);
    }

    /// The provider link a new request of `system_id` goes to: round robin over the bound
    /// links, preferring one with room in its window and rate; active-standby: the first
    /// bound link in configured order.
    fn choose_link(&mut self, system_id: &str) -> Option<LinkId> {
        let space = self.spaces.get(system_id)?;
        let bound = |id: &LinkId| {
            self.links
                .get(id)
                .is_some_and(|l| l.state == LinkState::Bound)
        };
        if self.settings.to_provider == SmppToProviderAlgorithm::ActiveStandby {
            return space.links.iter().copied().find(bound);
        }
        let n = space.links.len();
        let start = space.next_link;
        let mut fallback = None;
        let mut pick = None;
        for i in 0..n {
            let at = (start + i) % n;
            let id = space.links[at];
            if !bound(&id) {
                continue;
            }
            fallback.get_or_insert(at);
            let room = self
                .links
                .get(&id)
                .is_some_and(|l| l.queue.is_empty() && !l.limiter.window_full(l.inflight.len()));
            if room {
                pick = Some(at);
                break;
            }
        }
        let at = pick.or(fallback)?;
        let id = space.links[at];
        if let Some(space) = self.spaces.get_mut(system_id) {
            space.next_link = (at + 1) % n;
        }
        // The rate is checked when the request is sent (a token may have come since).
        Some(id)
    }

    /// A queued request of a link that was lost goes to another bound link of its
    /// `system_id`, or gets `ESME_RSYSERR`.
    pub(super) fn mux_reroute(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        system_id: &str,
        q: Queued,
    ) {
        if !self.customers.contains_key(&q.customer) {
            return;
        }
        match self.choose_link(system_id) {
            Some(id) => self.send_or_queue(net, now, id, q.customer, q.seq, q.command, q.pdu),
            None => self.answer_customer(net, q.customer, q.command, q.seq, CommandStatus::RSYSERR),
        }
    }

    /// A request from a provider in mux mode (`deliver_sm`, `data_sm`): a delivery receipt
    /// to the customer that submitted the message, anything else to the customer(s) the
    /// to-node algorithm picks among those bound to receive; `ESME_RSYSERR` when none can.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn mux_provider_request(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        conn: ConnId,
        command: CommandId,
        seq: u32,
        raw: Bytes,
        body: &Body,
    ) {
        if command == CommandId::ALERT_NOTIFICATION {
            return;
        }
        let Some(LinkOwner::Space(system_id)) = self.links.get(&id).map(|l| l.owner.clone()) else {
            return;
        };
        let receipt_id = match body {
            Body::DeliverSm(b) => {
                smpp::receipted_message_id(&b.tlvs, &b.short_message).filter(|_| {
                    smpp::is_delivery_receipt(b.esm_class)
                        || b.tlvs.find(smpp::tlv::tag::RECEIPTED_MESSAGE_ID).is_some()
                })
            }
            Body::DataSm(b) => smpp::receipted_message_id(&b.tlvs, &Bytes::new()),
            _ => None,
        };
        let receivers: Vec<ConnId> = self
            .spaces
            .get(&system_id)
            .map(|s| {
                s.customers
                    .iter()
                    .copied()
                    .filter(|c| self.customers.get(c).is_some_and(|c| c.receives()))
                    .collect()
            })
            .unwrap_or_default();
        if receivers.is_empty() {
            self.answer_provider(net, id, conn, command, seq, CommandStatus::RSYSERR);
            return;
        }
        if let Some(receipt) = receipt_id {
            let owner = self
                .spaces
                .get_mut(&system_id)
                .and_then(|s| s.receipts.find(&receipt, now))
                .map(|s| s.customer);
            match owner {
                Some(customer) if receivers.contains(&customer) => {
                    self.stats.receipts_matched += 1;
                    self.forward_to_customer(net, now, id, conn, seq, command, raw, customer, None);
                    return;
                }
                Some(_) => self.stats.receipts_matched += 1,
                None => self.stats.receipts_unmatched += 1,
            }
        }
        if self.settings.to_node == SmppToNodeAlgorithm::SubmitToAll && receivers.len() > 1 {
            self.next_fanout += 1;
            let fanout = self.next_fanout;
            self.fanouts.insert(
                fanout,
                Fanout {
                    answered: false,
                    remaining: receivers.len(),
                },
            );
            for customer in receivers {
                self.forward_to_customer(
                    net,
                    now,
                    id,
                    conn,
                    seq,
                    command,
                    raw.clone(),
                    customer,
                    Some(fanout),
                );
            }
            return;
        }
        let Some(space) = self.spaces.get_mut(&system_id) else {
            return;
        };
        let customer = receivers[space.next_customer % receivers.len()];
        space.next_customer = space.next_customer.wrapping_add(1);
        self.forward_to_customer(net, now, id, conn, seq, command, raw, customer, None);
    }

    /// Sends a provider's request to a customer, remapped to the customer's next sequence
    /// number, with its response deadline.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_to_customer(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        link: LinkId,
        provider_conn: ConnId,
        seq: u32,
        command: CommandId,
        raw: Bytes,
        customer: ConnId,
        fanout: Option<u64>,
    ) {
        let response = self.settings.response;
        let Some(c) = self.customers.get_mut(&customer) else {
            return;
        };
        let new_seq = c.inflight.track(
            command,
            Origin::Provider {
                link,
                conn: provider_conn,
                seq,
                fanout,
            },
            now,
            response,
        );
        let system_id = c.system_id.clone();
        self.stats.customer(&system_id).request();
        self.arm_customer_responses(customer);
        self.relay_to_customer(net, customer, &raw, new_seq, true);
    }

    /// `remoteServers` changed in a reload (§7.4): every `system_id` gets a link to each new
    /// server (connected and bound with its credentials) and unbinds its links to servers no
    /// longer listed.
    pub(super) fn remote_servers_changed(&mut self, net: &mut Net, now: Timestamp) {
        let candidates = self.remote_candidates();
        let names: Vec<Arc<str>> = self.spaces.keys().cloned().collect();
        for system_id in names {
            let Some(space) = self.spaces.get(&*system_id) else {
                continue;
            };
            let current: Vec<(LinkId, Arc<str>)> = space
                .links
                .iter()
                .filter_map(|id| self.links.get(id).map(|l| (*id, l.key.clone())))
                .collect();
            let removed: Vec<LinkId> = current
                .iter()
                .filter(|(_, key)| !candidates.iter().any(|c| &c.key == key))
                .map(|(id, _)| *id)
                .collect();
            let added: Vec<Candidate> = candidates
                .iter()
                .filter(|c| !current.iter().any(|(_, key)| *key == c.key))
                .cloned()
                .collect();
            let bind = space.bind.clone();
            let secure = space.secure;
            for id in &removed {
                tracing::info!(%system_id, link = id, "SMPP remote server removed; unbinding");
                self.timers.cancel(SmppTimer::LinkReconnect(*id));
                self.unbind_link(net, now, *id);
            }
            let mut new_ids = Vec::new();
            for candidate in added {
                tracing::info!(%system_id, provider = %candidate.key, "SMPP remote server added; binding");
                new_ids.push(self.new_link(
                    now,
                    candidate,
                    secure,
                    LinkOwner::Space(system_id.clone()),
                    CommandId::BIND_TRANSCEIVER,
                    bind.clone(),
                ));
            }
            if let Some(space) = self.spaces.get_mut(&*system_id) {
                space.links.retain(|id| !removed.contains(id));
                space.links.extend(new_ids.iter().copied());
            }
            for id in new_ids {
                self.connect_link(net, now, id);
            }
        }
    }
}
