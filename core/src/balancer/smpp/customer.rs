//! The customer side (behaviour reference §6.4, customer-facing table): what each PDU does in
//! each state, the bind deadline, the response deadlines of provider requests, liveness, and
//! a customer leaving.

use super::inflight::{Origin, Pending};
use super::{CustomerBind, CustomerState, LinkOwner, LinkState, SmppProxy, SmppTimer};
use crate::balancer::net::Net;
use crate::cluster::Cluster;
use crate::io::ConnId;
use crate::smpp::{self, Body, CommandId, CommandStatus, Header, Pdu};
use crate::time::Timestamp;
use bytes::Bytes;
use std::sync::Arc;

/// The requests a bound customer may send toward providers (§6.4, BOUND).
pub(super) fn is_forwarded_request(command: CommandId) -> bool {
    matches!(
        command,
        CommandId::SUBMIT_SM
            | CommandId::SUBMIT_MULTI
            | CommandId::DATA_SM
            | CommandId::QUERY_SM
            | CommandId::CANCEL_SM
            | CommandId::REPLACE_SM
    )
}

impl SmppProxy {
    /// One PDU from a customer.
    pub(super) fn customer_pdu(
        &mut self,
        net: &mut Net,
        cluster: &Cluster,
        now: Timestamp,
        conn: ConnId,
        raw: Bytes,
    ) {
        let Some(header) = Header::parse(&raw) else {
            return;
        };
        self.stats.received(header.command_id);
        let Some(c) = self.customers.get_mut(&conn) else {
            return;
        };
        c.last_rx = now;
        c.answer_by = None;
        let state = c.state;
        let command = header.command_id;
        let seq = header.sequence_number;
        // A response is mapped back to the request it answers (and checked there).
        if command.is_response() && command != CommandId::ENQUIRE_LINK_RESP {
            if state != CustomerState::Open {
                self.customer_response(net, now, conn, command, seq, raw);
            }
            return;
        }
        let pdu = match Pdu::decode(&raw) {
            Ok(pdu) => pdu,
            Err(e) => {
                tracing::debug!(?conn, %e, "invalid SMPP PDU from a customer");
                if !command.is_response() {
                    let answer = smpp::answer_to_invalid(&raw, &e);
                    if let Some(h) = Header::parse(&answer) {
                        self.stats.answered(h.command_status);
                    }
                    self.write_customer(net, conn, answer, false);
                }
                if e.closes_connection() {
                    self.customer_gone(net, now, conn, true);
                }
                return;
            }
        };
        match command {
            CommandId::ENQUIRE_LINK => {
                self.write_customer(net, conn, smpp::enquire_link_resp(seq), false);
                return;
            }
            CommandId::ENQUIRE_LINK_RESP => return,
            _ => {}
        }
        match state {
            CustomerState::Open => {
                if let Body::Bind(body) = pdu.body {
                    if command.is_bind() {
                        let bind = CustomerBind { command, seq, body };
                        self.customer_bind(net, cluster, now, conn, bind);
                        return;
                    }
                }
                if !command.is_response() {
                    self.stats.answered(CommandStatus::RINVCMDID);
                    let nack = smpp::generic_nack(CommandStatus::RINVCMDID, seq);
                    self.write_customer(net, conn, nack, false);
                    self.customer_gone(net, now, conn, true);
                }
            }
            CustomerState::Binding | CustomerState::Unbinding | CustomerState::Closing => {
                if command.is_response() {
                    self.customer_response(net, now, conn, command, seq, raw);
                } else if command == CommandId::UNBIND && state == CustomerState::Closing {
                    self.write_customer(net, conn, smpp::unbind_resp(seq), false);
                    self.customer_gone(net, now, conn, true);
                } else if command.expects_response() {
                    // SMPP 3.4 §5.1.3: the request is not allowed in the session's state.
                    self.answer_customer(net, conn, command, seq, CommandStatus::RINVBNDSTS);
                }
            }
            CustomerState::Bound => {
                if is_forwarded_request(command) {
                    self.customer_request(net, now, conn, command, seq, raw, &pdu.body);
                } else if command == CommandId::UNBIND {
                    self.customer_unbind(net, now, conn, seq, raw);
                } else if command.is_response() {
                    self.customer_response(net, now, conn, command, seq, raw);
                } else {
                    self.stats.answered(CommandStatus::RINVCMDID);
                    let nack = smpp::generic_nack(CommandStatus::RINVCMDID, seq);
                    self.write_customer(net, conn, nack, false);
                }
            }
        }
    }

    /// A bind from an unbound customer.
    fn customer_bind(
        &mut self,
        net: &mut Net,
        cluster: &Cluster,
        now: Timestamp,
        conn: ConnId,
        bind: CustomerBind,
    ) {
        // `system_id` is a C-Octet String of characters (SMPP 3.4 §5.2.1); it names the
        // customer's group in mux mode, so two ids must never map to one.
        let Ok(system_id) = std::str::from_utf8(&bind.body.system_id).map(Arc::<str>::from) else {
            if let Some(c) = self.customers.get_mut(&conn) {
                c.bind = Some(bind);
            }
            let answer_id: &[u8] = if self.settings.mux_mode {
                super::mux::MUX_SYSTEM_ID
            } else {
                b""
            };
            self.answer_bind(net, now, conn, CommandStatus::RINVSYSID, answer_id);
            return;
        };
        if let Some(c) = self.customers.get_mut(&conn) {
            c.system_id = system_id;
            c.bind = Some(bind);
            c.state = CustomerState::Binding;
        }
        // The bind is answered within `timeoutResponse`, by a provider or by the balancer.
        self.timers.set(
            SmppTimer::CustomerState(conn),
            Some(now.saturating_add(self.settings.response)),
        );
        if self.settings.mux_mode {
            self.mux_bind(net, now, conn);
        } else {
            self.regular_bind(net, cluster, now, conn);
        }
    }

    /// Answers a customer's bind with `status` (its own bind command and sequence number,
    /// `sc_interface_version` when it announced SMPP 3.4 or later) and moves it to Bound on
    /// success, back to Open (with a fresh bind deadline) otherwise.
    pub(super) fn answer_bind(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        status: CommandStatus,
        system_id: &[u8],
    ) {
        let Some(c) = self.customers.get_mut(&conn) else {
            return;
        };
        let Some(bind) = c.bind.as_ref() else {
            return;
        };
        let version = (bind.body.interface_version >= smpp::SMPP_3_4).then_some(smpp::SMPP_3_4);
        let pdu = smpp::bind_resp(bind.command, status, bind.seq, system_id, version)
            .unwrap_or_else(|_| smpp::response_with_status(bind.command, status, bind.seq));
        if status == CommandStatus::ROK {
            c.state = CustomerState::Bound;
            c.last_rx = now;
            self.timers.cancel(SmppTimer::CustomerState(conn));
            self.timers.set(
                SmppTimer::CustomerLiveness(conn),
                Some(now.saturating_add(self.settings.enquire)),
            );
        } else {
            c.state = CustomerState::Open;
            self.stats.answered(status);
            self.timers.set(
                SmppTimer::CustomerState(conn),
                Some(now.saturating_add(self.settings.session_init)),
            );
        }
        self.write_customer(net, conn, pdu, false);
    }

    /// A request from a bound customer toward a provider.
    #[allow(clippy::too_many_arguments)]
    fn customer_request(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        command: CommandId,
        seq: u32,
        raw: Bytes,
        body: &Body,
    ) {
        if self.settings.mux_mode {
            self.mux_request(net, now, conn, command, seq, raw, body);
            return;
        }
        let link = self.customers.get(&conn).and_then(|c| c.link);
        match link.filter(|id| {
            self.links
                .get(id)
                .is_some_and(|l| l.state == LinkState::Bound)
        }) {
            Some(id) => self.send_on_link(net, now, id, conn, seq, command, raw),
            None => self.answer_customer(net, conn, command, seq, CommandStatus::RSYSERR),
        }
    }

    /// A customer's `unbind`: in mux mode answered at once and the customer closed; in
    /// regular mode forwarded to its provider, whose answer closes both.
    fn customer_unbind(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        seq: u32,
        raw: Bytes,
    ) {
        if !self.settings.mux_mode {
            let link = self.customers.get(&conn).and_then(|c| c.link);
            if let Some(id) = link.filter(|id| {
                self.links
                    .get(id)
                    .is_some_and(|l| l.state == LinkState::Bound)
            }) {
                if let Some(c) = self.customers.get_mut(&conn) {
                    c.state = CustomerState::Unbinding;
                }
                self.send_on_link(net, now, id, conn, seq, CommandId::UNBIND, raw);
                return;
            }
        }
        self.write_customer(net, conn, smpp::unbind_resp(seq), false);
        self.customer_gone(net, now, conn, true);
    }

    /// A response from a customer: to a provider's request (mapped back to it), or to the
    /// balancer's own `unbind`. Responses matching nothing are dropped.
    fn customer_response(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        command: CommandId,
        seq: u32,
        raw: Bytes,
    ) {
        let Some(c) = self.customers.get_mut(&conn) else {
            return;
        };
        let Some(pending) = c.inflight.take(seq) else {
            tracing::debug!(
                ?conn,
                command = command.name(),
                seq,
                "SMPP response to nothing dropped"
            );
            return;
        };
        let system_id = c.system_id.clone();
        let closing = c.state == CustomerState::Closing;
        if let Err(e) = Pdu::decode(&raw) {
            // Not passed on: the provider gets the balancer's own answer instead.
            tracing::debug!(?conn, %e, "SMPP customer response does not decode");
            self.provider_request_failed(net, pending.command, pending.origin);
            return;
        }
        match pending.origin {
            Origin::Provider {
                link,
                conn: provider_conn,
                seq: provider_seq,
                fanout,
            } => {
                let status = Header::parse(&raw).map_or(CommandStatus::ROK, |h| h.command_status);
                self.stats
                    .customer(&system_id)
                    .response(status, now.saturating_since(pending.sent_at));
                if !self.fanout_answer(fanout, true) {
                    return;
                }
                if self.links.get(&link).and_then(|l| l.conn) == Some(provider_conn) {
                    self.relay_to_provider(net, provider_conn, &raw, provider_seq, false);
                    // A provider `unbind` relayed in regular mode: its answer ends both.
                    if pending.command == CommandId::UNBIND {
                        self.close_link(net, link);
                        self.customer_gone(net, now, conn, true);
                    }
                }
            }
            Origin::Own => {
                if command == CommandId::UNBIND_RESP || closing {
                    self.customer_gone(net, now, conn, true);
                }
            }
            Origin::Customer { .. } => {}
        }
    }

    /// The customer's bind deadline: not bound in time → closed; a bind the providers did
    /// not answer in time → `ESME_RSYSERR`.
    pub(super) fn customer_state_timeout(&mut self, net: &mut Net, now: Timestamp, conn: ConnId) {
        let Some(c) = self.customers.get(&conn) else {
            return;
        };
        match c.state {
            CustomerState::Open => {
                tracing::debug!(?conn, "SMPP customer did not bind in time");
                self.stats.unbound_connections_closed += 1;
                self.customer_gone(net, now, conn, true);
            }
            CustomerState::Binding => {
                self.stats.response_timeouts += 1;
                let system_id = c.system_id.clone();
                self.leave_waiting(net, now, conn);
                self.answer_bind(net, now, conn, CommandStatus::RSYSERR, system_id.as_bytes());
            }
            _ => {}
        }
    }

    /// Requests sent to a customer whose deadline passed: each provider request gets
    /// `ESME_RSYSERR`; the balancer's own `unbind` closes the customer.
    pub(super) fn customer_responses_due(&mut self, net: &mut Net, now: Timestamp, conn: ConnId) {
        let Some(c) = self.customers.get_mut(&conn) else {
            return;
        };
        let expired = c.inflight.expired(now);
        for (
            _,
            Pending {
                command, origin, ..
            },
        ) in expired
        {
            self.stats.response_timeouts += 1;
            match origin {
                Origin::Provider { .. } => self.provider_request_failed(net, command, origin),
                Origin::Own if command == CommandId::UNBIND => {
                    self.customer_gone(net, now, conn, true);
                    return;
                }
                _ => {}
            }
        }
        self.arm_customer_responses(conn);
    }

    /// A customer's liveness: `enquire_link` after `timeoutEnquire` without a PDU; closed if
    /// still silent past the check timeout.
    pub(super) fn customer_liveness(&mut self, net: &mut Net, now: Timestamp, conn: ConnId) {
        let (enquire, check) = (self.settings.enquire, self.settings.check_customer);
        let Some(c) = self.customers.get_mut(&conn) else {
            return;
        };
        if let Some(by) = c.answer_by {
            if now >= by {
                tracing::info!(?conn, system_id = %c.system_id, "SMPP customer silent to enquire_link; closing");
                self.customer_gone(net, now, conn, true);
                return;
            }
            self.timers.set(SmppTimer::CustomerLiveness(conn), Some(by));
            return;
        }
        let due = c.last_rx.saturating_add(enquire);
        if now < due {
            self.timers
                .set(SmppTimer::CustomerLiveness(conn), Some(due));
            return;
        }
        let seq = c.inflight.next_sequence();
        let by = now.saturating_add(check);
        c.answer_by = Some(by);
        self.timers.set(SmppTimer::CustomerLiveness(conn), Some(by));
        self.write_customer(net, conn, smpp::enquire_link(seq), true);
    }

    /// A customer left (closed by the balancer when `close`, else by the peer): provider
    /// requests it did not answer get `ESME_RSYSERR`; in mux mode the last customer of a
    /// `system_id` unbinds its providers; in regular mode its provider is unbound.
    pub(super) fn customer_gone(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        close: bool,
    ) {
        let Some(mut c) = self.customers.remove(&conn) else {
            return;
        };
        if close {
            net.close(conn);
        }
        for timer in [
            SmppTimer::CustomerState(conn),
            SmppTimer::CustomerResponses(conn),
            SmppTimer::CustomerLiveness(conn),
        ] {
            self.timers.cancel(timer);
        }
        for (_, p) in c.inflight.drain() {
            self.provider_request_failed(net, p.command, p.origin);
        }
        if self.settings.mux_mode {
            self.mux_customer_gone(net, now, conn, &c.system_id);
        } else if let Some(id) = c.link.take() {
            if let Some(link) = self.links.get_mut(&id) {
                link.owner = LinkOwner::Detached;
            }
            self.unbind_link(net, now, id);
        }
    }
}
