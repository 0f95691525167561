//! Simulated callers: one UAC per call over UDP (RFC 3261 §17.1.1 INVITE client transaction
//! with Timer A/B, ACK for 2xx along the route set §13.2.2.4 / §12.1.2, BYE as a non-INVITE
//! client transaction with Timer E/F §17.1.2), answering the node's BYE when the node hangs
//! up.
//!
//! The INVITE client transaction follows §17.1.1.2: in Calling the INVITE is retransmitted on
//! Timer A; any provisional response (the balancer's own `100 Trying` included) moves it to
//! Proceeding, where Timer A stops and the caller waits for the final response, which then
//! comes from whoever now owns the request (the balancer retransmits toward the node and
//! answers `408` at its own Timer B). In Calling, Timer B (64·T1 after the INVITE) ends the
//! attempt without a final response. A UAC in Proceeding has no Timer B; so that no call
//! hangs forever the caller gives up 64·T1 + T2 after its INVITE (long enough for the
//! balancer's `408` at its Timer B to arrive). Either way the call counts as failed
//! ([`Outcome::NoFinalResponse`]).

use crate::report::Outcome;
use crate::sip as s;
use crate::world::{ms, Call, CallTimer, Event, Path, Phase, World};
use bytes::Bytes;
use std::fmt::Write as _;
use std::net::SocketAddr;
use switchboard_core::sip::{Method, SipMessage};

/// How long after the expected hang-up a caller gives up waiting for the node's BYE
/// (a session-timer expiry, RFC 4028).
const SESSION_EXPIRY_MS: u64 = 45_000;

/// How long after its INVITE a caller in Proceeding (a provisional response came, so Timer A
/// and Timer B no longer run) waits for a final response before giving up: Timer B plus T2,
/// so the `408` a balancer sends at its own Timer B still arrives.
pub(crate) const PROCEEDING_TIMEOUT_MS: u64 = s::TIMEOUT_MS + s::T2_MS;

impl World {
    fn call_schedule(&mut self, call: usize, after: std::time::Duration, timer: CallTimer) {
        self.q.schedule_in(after, Event::Call { call, timer });
    }

    /// Sends a message of call `c` toward `to`: a datagram, or over the caller's TCP
    /// connection to that address.
    fn caller_send(&mut self, c: usize, to: SocketAddr, payload: Bytes) {
        let k = self.calls[c].caller;
        if self.call_is_tcp(c) {
            self.caller_stream_send(k, to, payload);
        } else {
            self.send_udp(crate::addr::caller(k), to, payload);
        }
    }

    pub(crate) fn call_start(&mut self, c: usize) {
        let now = self.now();
        let ua = crate::addr::caller(self.calls[c].caller);
        let tcp = self.call_is_tcp(c);
        let (transport, contact_param) = if tcp {
            ("TCP", ";transport=tcp")
        } else {
            ("UDP", "")
        };
        let call = &mut self.calls[c];
        let target = call.target;
        let invite = format!(
            "INVITE sip:service@{target} SIP/2.0\r\nVia: SIP/2.0/{transport} {ua};branch=z9hG4bKi{c}\r\nMax-Forwards: 70\r\n\
             From: <sip:caller{k}@{uaip}>;tag=f{c}\r\nTo: <sip:service@{target}>\r\nCall-ID: {id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:caller{k}@{ua}{contact_param}>\r\nContent-Length: 0\r\n\r\n",
            k = call.caller,
            uaip = ua.ip(),
            id = call.call_id,
        );
        call.invite = Bytes::from(invite);
        call.phase = Phase::Inviting;
        call.invite_sent_at = now;
        let invite = call.invite.clone();
        self.caller_send(c, target, invite);
        if !tcp {
            // Timer A runs on unreliable transports only (§17.1.1.2).
            self.call_schedule(c, ms(s::T1_MS), CallTimer::InviteRetransmit);
        }
        self.call_schedule(c, ms(s::TIMEOUT_MS), CallTimer::InviteTimeout);
    }

    pub(crate) fn call_timer(&mut self, c: usize, timer: CallTimer) {
        let now = self.now();
        let phase = self.calls[c].phase;
        match timer {
            CallTimer::InviteRetransmit if phase == Phase::Inviting => {
                let call = &mut self.calls[c];
                if call.proceeding {
                    // A provisional response stopped Timer A (§17.1.1.2).
                    return;
                }
                call.invite_retx_ms *= 2;
                let (invite, target, next) =
                    (call.invite.clone(), call.target, call.invite_retx_ms);
                self.caller_send(c, target, invite);
                self.call_schedule(c, ms(next), CallTimer::InviteRetransmit);
            }
            CallTimer::InviteTimeout if phase == Phase::Inviting => {
                let call = &self.calls[c];
                let limit = if call.proceeding {
                    PROCEEDING_TIMEOUT_MS
                } else {
                    s::TIMEOUT_MS
                };
                let due = call.invite_sent_at.saturating_add(ms(limit));
                if now < due {
                    // Proceeding since Timer B was armed: wait for the longer bound.
                    self.q.schedule_at(
                        due,
                        Event::Call {
                            call: c,
                            timer: CallTimer::InviteTimeout,
                        },
                    );
                } else {
                    self.call_done(c, Outcome::NoFinalResponse);
                }
            }
            CallTimer::Hangup if phase == Phase::Established => self.caller_bye(c),
            CallTimer::ByeRetransmit if phase == Phase::Terminating => {
                let call = &mut self.calls[c];
                if now.saturating_since(call.bye_sent_at) >= ms(s::TIMEOUT_MS) {
                    return;
                }
                call.bye_retx_ms = (call.bye_retx_ms * 2).min(s::T2_MS);
                let next = call.bye_retx_ms;
                if let Some((bye, to)) = call.bye.clone() {
                    self.caller_send(c, to, bye);
                }
                self.call_schedule(c, ms(next), CallTimer::ByeRetransmit);
            }
            CallTimer::ByeTimeout if phase == Phase::Terminating => {
                self.call_lost_in_dialog(c, Outcome::ByeTimeout);
            }
            CallTimer::SessionExpiry if phase == Phase::Established => {
                // The node's BYE never came (the node died or was cut off while hanging up):
                // the session expires and the caller ends the call itself (RFC 4028 §10).
                self.session_expiries += 1;
                self.caller_bye(c);
            }
            _ => {}
        }
    }

    /// An established call whose in-dialog request failed: an invariant violation when a
    /// reachable node of its version exists.
    fn call_lost_in_dialog(&mut self, c: usize, outcome: Outcome) {
        let version = self.calls[c].version.clone().unwrap_or_default();
        if self.live_node_of(&version) {
            let id = self.calls[c].call_id.clone();
            self.violation(format!(
                "established call {id} ended with {outcome} while a live node of version {version} exists"
            ));
        }
        self.call_done(c, outcome);
    }

    pub(crate) fn call_done(&mut self, c: usize, outcome: Outcome) {
        let first = self.calls[c].outcome.is_none();
        if first {
            self.check_call_served(c, outcome);
        }
        let call = &mut self.calls[c];
        if first {
            call.outcome = Some(outcome);
            self.calls_done += 1;
        }
        call.phase = Phase::Done;
    }

    /// Invariant "every call a caller places completes while a live node of its version
    /// exists": a call attempt that ended without a final response, or with a final error
    /// response no node sent (the balancer's own `408`, `503`, `500` …), is a violation when
    /// some node of the call's version (any version if its INVITE reached no node) was
    /// serving ([`World::serving`]) from before the INVITE was first sent until now. A node
    /// answering an error by design (a `503` from a busy node) is not the balancer's fault.
    fn check_call_served(&mut self, c: usize, outcome: Outcome) {
        let call = &self.calls[c];
        let balancer_made = match outcome {
            Outcome::NoFinalResponse => true,
            Outcome::Rejected(code) => call.node_rejected != Some(code),
            _ => false,
        };
        if !balancer_made {
            return;
        }
        let since = call.invite_sent_at;
        let version = call.version.as_deref();
        let live = self.nodes.iter().find(|n| {
            n.serving_since.is_some_and(|t| t <= since) && version.is_none_or(|v| v == n.version)
        });
        if let Some(n) = live {
            let what = format!(
                "call {} (INVITE sent {}) ended with {outcome} while node {} of version {} was live all along",
                call.call_id,
                crate::world::secs(since),
                n.name,
                n.version
            );
            self.violation(what);
        }
    }

    fn caller_bye(&mut self, c: usize) {
        let now = self.now();
        let ua = crate::addr::caller(self.calls[c].caller);
        let call = &mut self.calls[c];
        let (bye, first_hop) = in_dialog_request(call, ua, c, "BYE", 2, 'b');
        call.bye = Some((bye.clone(), first_hop));
        call.bye_sent_at = now;
        call.phase = Phase::Terminating;
        self.caller_send(c, first_hop, bye);
        if !self.call_is_tcp(c) {
            // Timer E runs on unreliable transports only (§17.1.2.2).
            self.call_schedule(c, ms(s::T1_MS), CallTimer::ByeRetransmit);
        }
        self.call_schedule(c, ms(s::TIMEOUT_MS), CallTimer::ByeTimeout);
    }

    pub(crate) fn caller_receive(&mut self, k: usize, path: Path, payload: Bytes) {
        let Ok(msg) = SipMessage::parse(payload) else {
            return;
        };
        let ua = crate::addr::caller(k);
        let call = s::call_id(&msg)
            .and_then(|id| self.call_index.get(id))
            .copied();
        if msg.is_request() {
            let known = call.is_some_and(|c| self.calls[c].answered_by.is_some());
            let (code, reason) = match msg.method() {
                Some(Method::Bye) if known => (200, "OK"),
                Some(Method::Bye) => (481, "Call/Transaction Does Not Exist"),
                _ => (200, "OK"),
            };
            if let (Some(c), Some(Method::Bye), true) = (call, msg.method(), known) {
                self.call_done(c, Outcome::Completed);
            }
            let r = s::response(&msg, code, reason, None, None, false);
            if let Some(to) = s::top_via_target(&msg) {
                match path {
                    Path::Udp => self.send_udp(ua, to, r),
                    Path::Stream { lb, conn } => {
                        if !self.peer_write(lb, conn, r.clone()) {
                            self.caller_stream_send(k, to, r);
                        }
                    }
                }
            }
            return;
        }
        let Some(c) = call else {
            return;
        };
        let code = msg.status_code().unwrap_or(0);
        match s::cseq_method(&msg) {
            b"INVITE" => self.caller_invite_response(c, code, &msg),
            b"BYE" if self.calls[c].phase == Phase::Terminating && code >= 200 => {
                if code < 300 {
                    self.call_done(c, Outcome::Completed);
                } else {
                    self.call_lost_in_dialog(c, Outcome::ByeRejected(code));
                }
            }
            _ => {}
        }
    }

    fn caller_invite_response(&mut self, c: usize, code: u16, msg: &SipMessage) {
        let ua = crate::addr::caller(self.calls[c].caller);
        if code < 200 {
            // Calling → Proceeding: Timer A stops (§17.1.1.2).
            if self.calls[c].phase == Phase::Inviting && code >= 100 {
                self.calls[c].proceeding = true;
            }
            return;
        }
        let phase = self.calls[c].phase;
        let transport = if self.call_is_tcp(c) { "TCP" } else { "UDP" };
        if code >= 300 {
            // ACK for a non-2xx: same branch, hop by hop to where the INVITE went (§17.1.1.3).
            let call = &mut self.calls[c];
            let target = call.target;
            let ack = format!(
                "ACK sip:service@{target} SIP/2.0\r\nVia: SIP/2.0/{transport} {ua};branch=z9hG4bKi{c}\r\nMax-Forwards: 70\r\n\
                 From: <sip:caller{k}@{ip}>;tag=f{c}\r\nTo: {to}\r\nCall-ID: {id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                k = call.caller,
                ip = ua.ip(),
                to = s::header(msg, switchboard_core::sip::HeaderName::To),
                id = call.call_id
            );
            if phase == Phase::Inviting {
                call.invite_final = Some(code);
                self.caller_send(c, target, Bytes::from(ack));
                self.call_done(c, Outcome::Rejected(code));
            } else if call.invite_final == Some(code) {
                self.caller_send(c, target, Bytes::from(ack));
            }
            return;
        }
        if phase != Phase::Inviting {
            // A retransmitted 2xx: the ACK is sent again (§13.2.2.4).
            if let Some((ack, to)) = self.calls[c].ack.clone() {
                self.caller_send(c, to, ack);
            }
            return;
        }
        // Route set: the Record-Routes in reverse (§12.1.2); remote target: the Contact.
        let mut routes = s::record_routes(msg);
        routes.reverse();
        let call = &mut self.calls[c];
        call.invite_final = Some(code);
        call.to_tag = s::to_tag(msg).unwrap_or_default();
        call.remote_target = s::contact_uri(msg).unwrap_or_default();
        call.route_set = routes;
        let (ack, first_hop) = in_dialog_request(call, ua, c, "ACK", 1, 'a');
        call.ack = Some((ack.clone(), first_hop));
        call.phase = Phase::Established;
        let (hold, node_hangs_up) = (call.hold, call.node_hangs_up);
        self.caller_send(c, first_hop, ack);
        if node_hangs_up {
            self.call_schedule(c, hold + ms(SESSION_EXPIRY_MS), CallTimer::SessionExpiry);
        } else {
            self.call_schedule(c, hold, CallTimer::Hangup);
        }
    }
}

/// An in-dialog request of caller `c` (RFC 3261 §12.2.1.1): Request-URI = the remote target,
/// Route = the route set, sent to the first Route's address (or the remote target's). `branch`
/// tells the ACK and BYE branches of the call apart.
fn in_dialog_request(
    call: &Call,
    ua: SocketAddr,
    c: usize,
    method: &str,
    cseq: u32,
    branch: char,
) -> (Bytes, SocketAddr) {
    let first_hop = call
        .route_set
        .first()
        .and_then(|r| s::uri_addr(r))
        .or_else(|| s::uri_addr(&call.remote_target))
        .unwrap_or(call.target);
    let transport = match call.transport {
        crate::scenario::CallTransport::Udp => "UDP",
        crate::scenario::CallTransport::Tcp => "TCP",
    };
    let mut m = String::with_capacity(512);
    let _ = write!(
        m,
        "{method} {} SIP/2.0\r\nVia: SIP/2.0/{transport} {ua};branch=z9hG4bK{branch}{c}\r\n",
        call.remote_target
    );
    if !call.route_set.is_empty() {
        let _ = write!(m, "Route: {}\r\n", call.route_set.join(", "));
    }
    let _ = write!(
        m,
        "Max-Forwards: 70\r\nFrom: <sip:caller{k}@{ip}>;tag=f{c}\r\nTo: <sip:service@{t}>;tag={tag}\r\n\
         Call-ID: {id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
        k = call.caller,
        ip = ua.ip(),
        t = call.target,
        tag = call.to_tag,
        id = call.call_id
    );
    (Bytes::from(m), first_hop)
}
