//! The provider side (behaviour reference §6.4, provider-facing table): a link's connection
//! and bind, what each provider PDU does, requests sent on a link (with the mux mode's window
//! and rate), its deadlines, liveness, loss and reconnection (§6.5, §6.7).

use super::inflight::{InFlight, LinkId, Origin, Pending};
use super::limiter::Limiter;
use super::{Candidate, CustomerState, Link, LinkOwner, LinkState, Queued, SmppProxy, SmppTimer};
use crate::balancer::net::{Net, Owner};
use crate::cluster::Cluster;
use crate::io::ConnId;
use crate::smpp::{self, Bind, Body, CommandId, CommandStatus, Framer, Header, Pdu};
use crate::time::Timestamp;
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

/// The address of `host:port` when `host` is an IP literal (a provider given by name is
/// resolved by the driver: see [`SmppProxy::resolve_names`]).
pub(super) fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    host.trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

impl SmppProxy {
    /// A new link toward `candidate`, owned by `owner`, binding with `bind_command` and
    /// `bind`. Not connected yet.
    pub(super) fn new_link(
        &mut self,
        now: Timestamp,
        candidate: Candidate,
        tls: bool,
        owner: LinkOwner,
        bind_command: CommandId,
        bind: Bind,
    ) -> LinkId {
        self.next_link += 1;
        let id = self.next_link;
        self.links.insert(
            id,
            Link {
                key: candidate.key,
                addr: candidate.addr,
                host: candidate.host,
                tls,
                owner,
                conn: None,
                state: LinkState::Idle,
                framer: Framer::new(self.settings.max_pdu),
                inflight: InFlight::default(),
                bind_command,
                bind,
                relay_bind_resp: false,
                candidates: VecDeque::new(),
                last_rx: now,
                answer_by: None,
                limiter: Limiter::new(self.settings.window, self.settings.rate, now),
                queue: VecDeque::new(),
                was_bound: false,
            },
        );
        id
    }

    /// Connects a link and writes its bind at once (the driver sends it once connected).
    pub(super) fn connect_link(&mut self, net: &mut Net, now: Timestamp, id: LinkId) {
        let bind_ip = self.settings.bind_ip;
        let response = self.settings.response;
        let Some(link) = self.links.get(&id) else {
            return;
        };
        let tls = self.client_tls(link.tls, &link.host);
        let addr = link.addr;
        let conn = net.connect_from(Owner::Smpp, addr, None, bind_ip, tls, now);
        let link = self.links.get_mut(&id).expect("link exists");
        tracing::debug!(provider = %link.key, ?conn, "SMPP provider connecting");
        link.conn = Some(conn);
        link.state = LinkState::Binding;
        link.framer = Framer::new(self.settings.max_pdu);
        link.inflight = InFlight::default();
        link.answer_by = None;
        link.last_rx = now;
        let seq = link
            .inflight
            .track(link.bind_command, Origin::Own, now, response);
        let pdu = smpp::bind(link.bind_command, seq, &link.bind);
        self.by_conn.insert(conn, id);
        self.timers.cancel(SmppTimer::LinkResponses(id));
        self.arm_link_responses(id);
        match pdu {
            Ok(pdu) => self.write_provider(net, conn, pdu, true),
            Err(e) => {
                // The bind's fields came from a decoded customer bind, so they fit.
                tracing::warn!(%e, "SMPP bind cannot be encoded");
                if let Some(link) = self.links.get_mut(&id) {
                    link.state = LinkState::Failed;
                }
            }
        }
    }

    /// One PDU from a provider connection.
    pub(super) fn provider_pdu(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        conn: ConnId,
        raw: Bytes,
    ) {
        let Some(header) = Header::parse(&raw) else {
            return;
        };
        self.stats.received(header.command_id);
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        link.last_rx = now;
        link.answer_by = None;
        let (command, seq, status) = (
            header.command_id,
            header.sequence_number,
            header.command_status,
        );
        if command.is_response() {
            let Some(pending) = link.inflight.take(seq) else {
                tracing::debug!(provider = %link.key, command = command.name(), seq, "SMPP response to nothing dropped");
                return;
            };
            self.provider_response(net, now, id, conn, pending, raw, status);
            return;
        }
        let pdu = match Pdu::decode(&raw) {
            Ok(pdu) => pdu,
            Err(e) => {
                tracing::debug!(provider = %link.key, %e, "invalid SMPP PDU from a provider");
                let answer = smpp::answer_to_invalid(&raw, &e);
                self.write_provider(net, conn, answer, false);
                if e.closes_connection() {
                    self.link_lost(net, now, id, true);
                }
                return;
            }
        };
        let (state, key, owner) = (link.state, link.key.clone(), link.owner.clone());
        match command {
            CommandId::ENQUIRE_LINK => {
                self.write_provider(net, conn, smpp::enquire_link_resp(seq), false);
            }
            CommandId::UNBIND => {
                tracing::info!(provider = %key, "SMPP provider unbound");
                self.write_provider(net, conn, smpp::unbind_resp(seq), false);
                if let LinkOwner::Customer(customer) = owner {
                    // Regular mode: the customer is told and its answer ends it.
                    self.close_link(net, id);
                    self.unbind_customer(net, now, customer);
                } else {
                    self.link_lost(net, now, id, true);
                }
            }
            CommandId::DELIVER_SM | CommandId::DATA_SM | CommandId::ALERT_NOTIFICATION
                if state == LinkState::Bound =>
            {
                if self.settings.mux_mode {
                    self.mux_provider_request(net, now, id, conn, command, seq, raw, &pdu.body);
                } else {
                    self.regular_provider_request(net, now, id, conn, command, seq, raw);
                }
            }
            _ if command.expects_response() => {
                self.stats.answered(CommandStatus::RINVCMDID);
                let nack = smpp::generic_nack(CommandStatus::RINVCMDID, seq);
                self.write_provider(net, conn, nack, false);
            }
            _ => {
                tracing::debug!(provider = %key, command = command.name(), "SMPP PDU from a provider dropped")
            }
        }
    }

    /// A provider's response to a request sent on link `id`.
    #[allow(clippy::too_many_arguments)]
    fn provider_response(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        conn: ConnId,
        pending: Pending,
        raw: Bytes,
        status: CommandStatus,
    ) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        match pending.origin {
            Origin::Customer {
                conn: customer,
                seq,
            } => {
                let key = link.key.clone();
                if status == CommandStatus::RTHROTTLED {
                    link.limiter.throttled(now);
                }
                self.stats
                    .provider(&key)
                    .response(status, now.saturating_since(pending.sent_at));
                // A response that does not decode is not passed on: the customer gets the
                // balancer's own answer to its request instead.
                let decoded = match Pdu::decode(&raw) {
                    Ok(pdu) => pdu,
                    Err(e) => {
                        tracing::debug!(provider = %key, %e, "SMPP provider response does not decode");
                        self.answer_customer(
                            net,
                            customer,
                            pending.command,
                            seq,
                            CommandStatus::RSYSERR,
                        );
                        self.drain_queue(net, now, id);
                        return;
                    }
                };
                if status == CommandStatus::ROK
                    && matches!(pending.command, CommandId::SUBMIT_SM | CommandId::DATA_SM)
                {
                    self.record_message_id(now, id, customer, &decoded);
                }
                let unbinding = self
                    .customers
                    .get(&customer)
                    .is_some_and(|c| c.state == CustomerState::Unbinding);
                if self.customers.contains_key(&customer) {
                    self.relay_to_customer(net, customer, &raw, seq, false);
                }
                if pending.command == CommandId::UNBIND && unbinding {
                    self.close_link(net, id);
                    self.customer_gone(net, now, customer, true);
                    return;
                }
                self.drain_queue(net, now, id);
            }
            Origin::Own => {
                if pending.command.is_bind() {
                    self.link_bind_answered(net, now, id, conn, status, raw);
                } else if pending.command == CommandId::UNBIND {
                    self.close_link(net, id);
                }
            }
            Origin::Provider { .. } => {}
        }
    }

    /// The provider answered a link's bind.
    #[allow(clippy::too_many_arguments)]
    fn link_bind_answered(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        conn: ConnId,
        status: CommandStatus,
        raw: Bytes,
    ) {
        let enquire = self.settings.enquire;
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if status != CommandStatus::ROK {
            tracing::warn!(provider = %link.key, status = %status, "SMPP provider refused the bind");
            if self.settings.mux_mode {
                self.mux_bind_refused(net, now, id, status);
            } else {
                self.regular_bind_refused(net, now, id, raw);
            }
            return;
        }
        tracing::info!(provider = %link.key, ?conn, "SMPP provider bound");
        link.state = LinkState::Bound;
        link.candidates.clear();
        if std::mem::replace(&mut link.was_bound, true) {
            self.stats.rebinds += 1;
        }
        self.timers.set(
            SmppTimer::LinkLiveness(id),
            Some(now.saturating_add(enquire)),
        );
        if self.settings.mux_mode {
            self.mux_link_bound(net, now, id);
        } else {
            self.regular_link_bound(net, now, id, raw);
        }
    }

    /// Sends a customer's request on a bound link, remapped to the link's next sequence
    /// number, with its response deadline.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_on_link(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        customer: ConnId,
        seq: u32,
        command: CommandId,
        raw: Bytes,
    ) {
        let response = self.settings.response;
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let Some(conn) = link.conn else {
            return;
        };
        let new_seq = link.inflight.track(
            command,
            Origin::Customer {
                conn: customer,
                seq,
            },
            now,
            response,
        );
        link.limiter.sent(now);
        let key = link.key.clone();
        self.stats.provider(&key).request();
        self.arm_link_responses(id);
        self.relay_to_provider(net, conn, &raw, new_seq, true);
    }

    /// Mux mode: sends a customer's request on link `id` if its window and rate allow, else
    /// queues it (bounded), else answers it `ESME_RTHROTTLED`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_or_queue(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        id: LinkId,
        customer: ConnId,
        seq: u32,
        command: CommandId,
        raw: Bytes,
    ) {
        let (queue_size, queue_timeout) = (self.settings.queue_size, self.settings.queue_timeout);
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let outstanding = link.inflight.len();
        if link.queue.is_empty() && link.limiter.can_send(now, outstanding) {
            self.send_on_link(net, now, id, customer, seq, command, raw);
            return;
        }
        if link.queue.len() >= queue_size {
            self.answer_customer(net, customer, command, seq, CommandStatus::RTHROTTLED);
            return;
        }
        link.queue.push_back(Queued {
            customer,
            seq,
            command,
            pdu: raw,
            deadline: now.saturating_add(queue_timeout),
        });
        self.arm_queue(now, id);
    }

    /// Sends what the window and rate allow from a link's queue; answers `ESME_RTHROTTLED`
    /// to what waited too long.
    pub(super) fn drain_queue(&mut self, net: &mut Net, now: Timestamp, id: LinkId) {
        loop {
            let Some(link) = self.links.get_mut(&id) else {
                return;
            };
            let Some(front) = link.queue.front() else {
                break;
            };
            if front.deadline <= now {
                let q = link.queue.pop_front().expect("front exists");
                self.answer_customer(net, q.customer, q.command, q.seq, CommandStatus::RTHROTTLED);
                continue;
            }
            if link.state != LinkState::Bound || !link.limiter.can_send(now, link.inflight.len()) {
                break;
            }
            let q = link.queue.pop_front().expect("front exists");
            if self.customers.contains_key(&q.customer) {
                self.send_on_link(net, now, id, q.customer, q.seq, q.command, q.pdu);
            }
        }
        self.arm_queue(now, id);
    }

    /// Arms a link's queue timer: the first queued request's deadline, or the next token if
    /// the rate (not the window) holds the queue.
    fn arm_queue(&mut self, now: Timestamp, id: LinkId) {
        let at = self.links.get(&id).and_then(|l| {
            let front = l.queue.front()?;
            let token = if l.limiter.window_full(l.inflight.len()) {
                None
            } else {
                l.limiter.next_token_at(now)
            };
            Some(token.map_or(front.deadline, |t| t.min(front.deadline)))
        });
        self.timers.set(SmppTimer::LinkQueue(id), at);
    }

    /// Requests sent on a link whose deadline passed: a customer's gets `ESME_RSYSERR`; an
    /// unanswered bind counts as a failed attempt; an unanswered `unbind` closes the link.
    pub(super) fn link_responses_due(&mut self, net: &mut Net, now: Timestamp, id: LinkId) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let expired = link.inflight.expired(now);
        let key = link.key.clone();
        for (_, p) in expired {
            self.stats.response_timeouts += 1;
            match p.origin {
                Origin::Customer { conn, seq } => {
                    tracing::debug!(provider = %key, command = p.command.name(), "SMPP provider did not answer in time");
                    self.answer_customer(net, conn, p.command, seq, CommandStatus::RSYSERR);
                }
                Origin::Own if p.command.is_bind() => {
                    tracing::warn!(provider = %key, "SMPP provider did not answer the bind");
                    self.link_lost(net, now, id, true);
                    return;
                }
                Origin::Own if p.command == CommandId::UNBIND => {
                    self.close_link(net, id);
                    return;
                }
                _ => {}
            }
        }
        self.arm_link_responses(id);
        self.drain_queue(net, now, id);
    }

    /// A link's liveness: `enquire_link` after `timeoutEnquire` without a PDU; lost if still
    /// silent past `timeoutConnectionCheckClientSide`.
    pub(super) fn link_liveness(&mut self, net: &mut Net, now: Timestamp, id: LinkId) {
        let (enquire, check) = (self.settings.enquire, self.settings.check_provider);
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let (Some(conn), LinkState::Bound) = (link.conn, link.state) else {
            return;
        };
        if let Some(by) = link.answer_by {
            if now >= by {
                tracing::warn!(provider = %link.key, "SMPP provider silent to enquire_link; rebinding");
                self.link_lost(net, now, id, true);
                return;
            }
            self.timers.set(SmppTimer::LinkLiveness(id), Some(by));
            return;
        }
        let due = link.last_rx.saturating_add(enquire);
        if now < due {
            self.timers.set(SmppTimer::LinkLiveness(id), Some(due));
            return;
        }
        let seq = link.inflight.next_sequence();
        let by = now.saturating_add(check);
        link.answer_by = Some(by);
        self.timers.set(SmppTimer::LinkLiveness(id), Some(by));
        self.write_provider(net, conn, smpp::enquire_link(seq), true);
    }

    /// A link's connection is gone (refused, closed, reset, silent, unbound by the provider,
    /// or a bind unanswered; `close`: the balancer ends it). Requests awaiting a response on
    /// it get `ESME_RSYSERR` at once (docs/decisions.md §12), queued ones go to another link
    /// of the `system_id` when there is one; the link reconnects after `reconnectPeriod`.
    pub(super) fn link_lost(&mut self, net: &mut Net, now: Timestamp, id: LinkId, close: bool) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let Some(conn) = link.conn.take() else {
            return;
        };
        self.by_conn.remove(&conn);
        if close {
            net.close(conn);
        }
        let was = std::mem::replace(&mut link.state, LinkState::Idle);
        let pending = link.inflight.drain();
        let queued: Vec<Queued> = link.queue.drain(..).collect();
        let owner = link.owner.clone();
        if was == LinkState::Bound {
            tracing::warn!(provider = %link.key, "SMPP provider connection lost");
            self.stats.provider_losses += 1;
        }
        self.cancel_connection_timers(id);
        self.fail_in_flight(net, pending);
        match owner {
            LinkOwner::Detached => {
                self.links.remove(&id);
            }
            LinkOwner::Space(system_id) => {
                for q in queued {
                    self.mux_reroute(net, now, &system_id, q);
                }
                self.timers.set(
                    SmppTimer::LinkReconnect(id),
                    Some(now.saturating_add(self.settings.reconnect)),
                );
            }
            LinkOwner::Customer(customer) => {
                for q in queued {
                    self.answer_customer(net, q.customer, q.command, q.seq, CommandStatus::RSYSERR);
                }
                self.regular_link_lost(net, now, id, customer, was);
            }
        }
    }

    /// Starts a link's next connection attempt (its reconnection timer fired).
    pub(super) fn reconnect(
        &mut self,
        net: &mut Net,
        cluster: &Cluster,
        now: Timestamp,
        id: LinkId,
    ) {
        let Some(link) = self.links.get(&id) else {
            return;
        };
        if link.state != LinkState::Idle {
            return;
        }
        match link.owner.clone() {
            LinkOwner::Space(_) => self.connect_link(net, now, id),
            LinkOwner::Customer(_) => self.regular_reconnect(net, cluster, now, id),
            LinkOwner::Detached => {
                self.links.remove(&id);
            }
        }
    }

    /// Cancels the timers of a link's current connection (responses, liveness, queue).
    fn cancel_connection_timers(&mut self, id: LinkId) {
        for timer in [
            SmppTimer::LinkResponses(id),
            SmppTimer::LinkLiveness(id),
            SmppTimer::LinkQueue(id),
        ] {
            self.timers.cancel(timer);
        }
    }

    /// Answers `ESME_RSYSERR` to every customer request among `pending` (requests of a
    /// connection that is gone; the balancer's own need no answer).
    fn fail_in_flight(&mut self, net: &mut Net, pending: Vec<(u32, Pending)>) {
        for (_, p) in pending {
            if let Origin::Customer { conn, seq } = p.origin {
                self.answer_customer(net, conn, p.command, seq, CommandStatus::RSYSERR);
            }
        }
    }

    /// Ends a link at once (no unbind) and forgets it.
    pub(super) fn close_link(&mut self, net: &mut Net, id: LinkId) {
        let Some(mut link) = self.links.remove(&id) else {
            return;
        };
        self.cancel_connection_timers(id);
        self.timers.cancel(SmppTimer::LinkReconnect(id));
        if let Some(conn) = link.conn.take() {
            self.by_conn.remove(&conn);
            net.close(conn);
        }
        self.fail_in_flight(net, link.inflight.drain());
        for q in link.queue.drain(..) {
            self.answer_customer(net, q.customer, q.command, q.seq, CommandStatus::RSYSERR);
        }
    }

    /// Unbinds a link that nobody uses any more: a bound one gets `unbind` and closes on the
    /// answer or its deadline; any other is closed at once.
    pub(super) fn unbind_link(&mut self, net: &mut Net, now: Timestamp, id: LinkId) {
        let response = self.settings.response;
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        link.owner = LinkOwner::Detached;
        let (LinkState::Bound, Some(conn)) = (link.state, link.conn) else {
            self.close_link(net, id);
            return;
        };
        link.state = LinkState::Unbinding;
        let seq = link
            .inflight
            .track(CommandId::UNBIND, Origin::Own, now, response);
        self.timers.cancel(SmppTimer::LinkLiveness(id));
        self.timers.cancel(SmppTimer::LinkResponses(id));
        self.arm_link_responses(id);
        self.write_provider(net, conn, smpp::unbind(seq), true);
    }

    /// Sends the balancer's own `unbind` to a customer (its provider is gone for good); its
    /// answer or deadline closes it.
    pub(super) fn unbind_customer(&mut self, net: &mut Net, now: Timestamp, conn: ConnId) {
        let response = self.settings.response;
        let Some(c) = self.customers.get_mut(&conn) else {
            return;
        };
        c.state = CustomerState::Closing;
        c.link = None;
        let seq = c
            .inflight
            .track(CommandId::UNBIND, Origin::Own, now, response);
        self.arm_customer_responses(conn);
        self.write_customer(net, conn, smpp::unbind(seq), true);
    }

    /// Records the message id of a successful `submit_sm_resp`/`data_sm_resp` (mux mode).
    fn record_message_id(&mut self, now: Timestamp, id: LinkId, customer: ConnId, pdu: &Pdu) {
        if !self.settings.mux_mode {
            return;
        }
        let Some(LinkOwner::Space(system_id)) = self.links.get(&id).map(|l| l.owner.clone()) else {
            return;
        };
        let Body::SmResp(resp) = &pdu.body else {
            return;
        };
        if let Some(space) = self.spaces.get_mut(&system_id) {
            space.receipts.record(
                &resp.message_id,
                super::receipts::Submitted { customer, link: id },
                now,
            );
        }
    }
}
