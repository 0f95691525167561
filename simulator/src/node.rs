//! Simulated cluster nodes: a UAS per call (RFC 3261 §8.2.6, 2xx retransmission §13.3.1.4),
//! a BYE client when the node hangs up (Timer E/F, §17.1.2), and a heartbeat client speaking
//! HTTP/JSON (§3.2 of the behaviour reference) or SIP OPTIONS (§3.5).
//!
//! Nodes share their dialog state, as Restcomm/Mobicents HA nodes replicate it: a node that
//! receives a BYE for a call another node answered serves it (that is the failover).

use crate::addr;
use crate::scenario::{Answer, HeartbeatProtocol};
use crate::sip as s;
use crate::world::{ms, Event, NodeDialog, NodeState, NodeTimer, Path, Phase, World};
use bytes::Bytes;
use std::fmt::Write as _;
use std::net::SocketAddr;
use switchboard_core::sip::{HeaderName, Method, SipMessage};

impl World {
    fn node_schedule(&mut self, node: usize, after: std::time::Duration, timer: NodeTimer) {
        let incarnation = self.nodes[node].incarnation;
        self.q.schedule_in(
            after,
            Event::Node {
                node,
                incarnation,
                timer,
            },
        );
    }

    /// Starts (or restarts) a node process: new `sessionId`, optionally a new version, empty
    /// memory, heartbeats from now.
    pub(crate) fn node_boot(&mut self, node: usize, version: Option<String>) {
        let now = self.now();
        let reachable = !self.partitioned.contains(&node);
        if self.nodes[node].state == NodeState::Up {
            // The old process ends: a hung one is killed (its connections reset), a drained
            // one exits (they close).
            let hung = self.nodes[node].hung;
            self.end_node_streams(node, hung);
        }
        let n = &mut self.nodes[node];
        if n.state != NodeState::NotStarted {
            n.session += 1 + now.as_millis();
        }
        n.state = NodeState::Up;
        n.incarnation += 1;
        n.hung = false;
        n.graceful = false;
        n.pending_upgrade = None;
        n.dialogs.clear();
        if let Some(v) = version {
            n.version = v;
        }
        for f in n.started.iter_mut().chain(n.shutdown_sent.iter_mut()) {
            *f = false;
        }
        if reachable {
            n.down_since = None;
        }
        self.node_schedule(node, ms(0), NodeTimer::Heartbeat);
        self.refresh_serving();
    }

    pub(crate) fn node_timer(&mut self, node: usize, timer: NodeTimer) {
        if self.nodes[node].hung {
            // A hung process does nothing; its heartbeat clock keeps ticking.
            if let NodeTimer::Heartbeat = timer {
                let every = ms(self.nodes[node].group.heartbeat_interval_ms);
                self.node_schedule(node, every, NodeTimer::Heartbeat);
            }
            return;
        }
        match timer {
            NodeTimer::Heartbeat => self.node_heartbeat_tick(node),
            NodeTimer::Answer(c) => self.node_answer(node, c),
            NodeTimer::Retransmit200(c) => self.node_retransmit_200(node, c),
            NodeTimer::Hangup(c) => self.node_hangup(node, c),
            NodeTimer::RetransmitBye(c) => self.node_retransmit_bye(node, c),
        }
    }

    // ----- heartbeats -----

    fn node_heartbeat_tick(&mut self, node: usize) {
        let every = ms(self.nodes[node].group.heartbeat_interval_ms);
        self.node_schedule(node, every, NodeTimer::Heartbeat);
        if let Some(v) = self.nodes[node].pending_upgrade.clone() {
            let busy = self
                .calls
                .iter()
                .any(|c| c.owner == Some(node) && c.outcome.is_none() && c.phase != Phase::Pending);
            if !busy {
                tracing::debug!(node = %self.nodes[node].name, version = %v, "upgrade: drained, restarting");
                if self.nodes[node].group.heartbeat == HeartbeatProtocol::Json {
                    let session = self.nodes[node].session;
                    for lb in 0..self.lbs.len() {
                        self.node_send_json(
                            node,
                            lb,
                            &format!("{{\"stop\":{{\"sessionId\":{session}}}}}"),
                        );
                    }
                }
                self.node_boot(node, Some(v));
                return;
            }
        }
        for lb in 0..self.lbs.len() {
            match self.nodes[node].group.heartbeat {
                HeartbeatProtocol::Json => self.node_json_heartbeat(node, lb),
                HeartbeatProtocol::Sip => self.node_sip_heartbeat(node, lb),
            }
        }
    }

    /// Sends a heartbeat round at once (graceful shutdown is announced without waiting for
    /// the next period).
    pub(crate) fn node_announce(&mut self, node: usize) {
        let n = &self.nodes[node];
        if n.state != NodeState::Up || n.hung {
            return;
        }
        for lb in 0..self.lbs.len() {
            match self.nodes[node].group.heartbeat {
                HeartbeatProtocol::Json => self.node_json_heartbeat(node, lb),
                HeartbeatProtocol::Sip => self.node_sip_heartbeat(node, lb),
            }
        }
    }

    fn start_body(&self, node: usize) -> String {
        let n = &self.nodes[node];
        format!(
            "{{\"start\":{{\"hostName\":\"{}\",\"ip\":\"{}\",\"udpPort\":\"{}\",\"tcpPort\":\"{}\",\"version\":\"{}\",\"sessionId\":\"{}\",\"heartbeatPort\":\"{}\"}}}}",
            n.name,
            n.addr.ip(),
            n.addr.port(),
            n.addr.port(),
            n.version,
            n.session,
            addr::NODE_HEARTBEAT_PORT
        )
    }

    fn node_json_heartbeat(&mut self, node: usize, lb: usize) {
        let n = &self.nodes[node];
        let session = n.session;
        if !n.started[lb] {
            let body = self.start_body(node);
            self.node_send_json(node, lb, &body);
            return;
        }
        if n.graceful && !n.shutdown_sent[lb] {
            self.nodes[node].shutdown_sent[lb] = true;
            self.node_send_json(
                node,
                lb,
                &format!("{{\"shutdown\":{{\"sessionId\":{session}}}}}"),
            );
        }
        self.node_send_json(
            node,
            lb,
            &format!("{{\"heartbeat\":{{\"sessionId\":{session}}}}}"),
        );
    }

    fn node_send_json(&mut self, node: usize, lb: usize, body: &str) {
        let n = &self.nodes[node];
        if n.heartbeats_lost || self.partitioned.contains(&node) {
            return;
        }
        let bytes = Bytes::from(format!(
            "POST / HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            addr::balancer_ip(lb),
            addr::HEARTBEAT_PORT,
            body.len()
        ));
        let incarnation = n.incarnation;
        let at = self.heartbeat_latency();
        self.q.schedule_in(
            at,
            Event::HbRequest {
                lb,
                node,
                incarnation,
                bytes,
            },
        );
    }

    pub(crate) fn node_heartbeat_reply(
        &mut self,
        node: usize,
        lb: usize,
        incarnation: u32,
        bytes: &[u8],
    ) {
        let n = &mut self.nodes[node];
        if n.incarnation != incarnation || n.state != NodeState::Up || n.hung {
            return;
        }
        let body = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(&b""[..], |p| &bytes[p + 4..]);
        let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
        if has(b"\"start\":\"OK\"") {
            n.started[lb] = true;
        } else if has(b"UNKNOWN_SESSION") {
            // The balancer forgot us (expiry): register again at once (§3.3;
            // docs/decisions.md §8.6).
            n.started[lb] = false;
            n.shutdown_sent[lb] = false;
            let body = self.start_body(node);
            self.node_send_json(node, lb, &body);
        }
    }

    fn node_sip_heartbeat(&mut self, node: usize, lb: usize) {
        let n = &mut self.nodes[node];
        if n.heartbeats_lost {
            return;
        }
        n.hb_seq += 1;
        let mut body = format!(
            "hostname={}\nip={}\nudpPort={}\ntcpPort={}\nversion={}\nsessionId={}\n",
            n.name,
            n.addr.ip(),
            n.addr.port(),
            n.addr.port(),
            n.version,
            n.session
        );
        if n.graceful {
            body.push_str("GRACEFUL_SHUTDOWN=true\n");
        }
        let to = addr::balancer_internal(lb);
        let msg = format!(
            "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKhb{seq}\r\nMax-Forwards: 70\r\n\
             From: <sip:{name}@{a}>;tag=hb{seq}\r\nTo: <sip:{to}>\r\nCall-ID: hb-{name}-{seq}@sim\r\n\
             CSeq: 1 OPTIONS\r\nMobicents-Heartbeat: 1\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n{body}",
            a = n.addr,
            seq = n.hb_seq,
            name = n.name,
            len = body.len()
        );
        let from = n.addr;
        self.send_udp(from, to, Bytes::from(msg));
    }

    // ----- SIP -----

    pub(crate) fn node_receive(&mut self, node: usize, path: Path, payload: Bytes) {
        let n = &mut self.nodes[node];
        if n.state != NodeState::Up || n.hung || self.partitioned.contains(&node) {
            self.dropped_at_dead_nodes += 1;
            return;
        }
        n.received += 1;
        let Ok(msg) = SipMessage::parse(payload) else {
            return;
        };
        let Some(&c) = s::call_id(&msg).and_then(|id| self.call_index.get(id)) else {
            return;
        };
        if msg.is_request() {
            match msg.method() {
                Some(Method::Invite) => self.node_invite(node, c, msg, path),
                Some(Method::Ack) => {
                    if let Some(d) = self.nodes[node].dialogs.get_mut(&c) {
                        d.acked = true;
                    }
                }
                Some(Method::Bye) => self.node_bye(node, c, &msg, path),
                _ => {
                    let reply = s::response(&msg, 200, "OK", None, None, false);
                    self.node_reply(node, path, &msg, reply);
                }
            }
        } else if s::cseq_method(&msg) == b"BYE" {
            if let Some(d) = self.nodes[node].dialogs.get_mut(&c) {
                d.bye_done = true;
            }
        }
    }

    fn node_reply(&mut self, node: usize, path: Path, req: &SipMessage, reply: Bytes) {
        if let Some(to) = s::top_via_target(req) {
            self.node_respond(node, path, to, reply);
        }
    }

    /// Sends a response the way its request came: a datagram to `to` (the top Via's
    /// address), or on the request's connection, or, if that one is gone, on a connection
    /// to `to` (RFC 3261 §18.2.2).
    fn node_respond(&mut self, node: usize, path: Path, to: SocketAddr, reply: Bytes) {
        match path {
            Path::Udp => {
                let from = self.nodes[node].addr;
                self.send_udp(from, to, reply);
            }
            Path::Stream { lb, conn } => {
                if !self.peer_write(lb, conn, reply.clone()) {
                    self.node_stream_send(node, to, reply);
                }
            }
        }
    }

    fn to_tag_of(&self, node: usize, c: usize) -> String {
        format!("{}x{c}", self.nodes[node].name)
    }

    fn node_invite(&mut self, node: usize, c: usize, msg: SipMessage, path: Path) {
        let now = self.now();
        if let Some(d) = self.nodes[node].dialogs.get(&c) {
            // A retransmission: the server transaction answers with its last response.
            if let Some(r) = d.last_response.clone() {
                self.node_reply(node, path, &msg, r);
            }
            return;
        }
        let tag = self.to_tag_of(node, c);
        let Some(response_to) = s::top_via_target(&msg) else {
            return;
        };
        let mut dialog = NodeDialog {
            path,
            invite: msg.raw().clone(),
            last_response: None,
            response_to,
            answered: false,
            acked: false,
            retx_ms: s::T1_MS,
            answered_at: now,
            bye: None,
            bye_to: response_to,
            bye_retx_ms: s::T1_MS,
            bye_sent_at: now,
            bye_done: false,
            terminated: false,
        };
        match self.nodes[node].group.answer {
            Answer::Busy => {
                let r = s::response(&msg, 503, "Service Unavailable", Some(&tag), None, false);
                dialog.last_response = Some(r.clone());
                dialog.terminated = true;
                self.nodes[node].dialogs.insert(c, dialog);
                self.calls[c].node_rejected = Some(503);
                self.node_reply(node, path, &msg, r);
            }
            Answer::Ok => {
                self.nodes[node].dialogs.insert(c, dialog);
                let delay = ms(self.nodes[node].group.answer_delay_ms);
                self.node_schedule(node, delay, NodeTimer::Answer(c));
            }
        }
    }

    fn node_answer(&mut self, node: usize, c: usize) {
        let now = self.now();
        let tag = self.to_tag_of(node, c);
        let addr = self.nodes[node].addr;
        let Some(d) = self.nodes[node].dialogs.get_mut(&c) else {
            return;
        };
        if d.answered {
            return;
        }
        let Ok(invite) = SipMessage::parse(d.invite.clone()) else {
            return;
        };
        let r = s::response(&invite, 200, "OK", Some(&tag), Some(addr), true);
        d.answered = true;
        d.answered_at = now;
        d.last_response = Some(r.clone());
        let (path, to) = (d.path, d.response_to);
        self.calls[c].answered_by.get_or_insert(node);
        self.node_respond(node, path, to, r);
        self.node_schedule(node, ms(s::T1_MS), NodeTimer::Retransmit200(c));
        if self.calls[c].node_hangs_up {
            let hold = self.calls[c].hold;
            self.node_schedule(node, hold, NodeTimer::Hangup(c));
        }
    }

    fn node_retransmit_200(&mut self, node: usize, c: usize) {
        let now = self.now();
        let Some(d) = self.nodes[node].dialogs.get_mut(&c) else {
            return;
        };
        if d.acked || d.terminated || now.saturating_since(d.answered_at) >= ms(s::TIMEOUT_MS) {
            return;
        }
        let (r, path, to) = (d.last_response.clone(), d.path, d.response_to);
        d.retx_ms = (d.retx_ms * 2).min(s::T2_MS);
        let next = ms(d.retx_ms);
        if let Some(r) = r {
            // The UAS core retransmits a 2xx until the ACK on every transport (§13.3.1.4).
            self.node_respond(node, path, to, r);
        }
        self.node_schedule(node, next, NodeTimer::Retransmit200(c));
    }

    fn node_bye(&mut self, node: usize, c: usize, msg: &SipMessage, path: Path) {
        // Replicated dialog state: any node of the cluster can end a call some node answered.
        let known = self.calls[c].answered_by.is_some();
        if !known {
            let r = s::response(
                msg,
                481,
                "Call/Transaction Does Not Exist",
                None,
                None,
                false,
            );
            self.node_reply(node, path, msg, r);
            return;
        }
        if let Some(d) = self.nodes[node].dialogs.get_mut(&c) {
            d.terminated = true;
        } else if self.calls[c].answered_by != Some(node) {
            self.bye_failovers += 1;
        }
        let r = s::response(msg, 200, "OK", None, None, false);
        self.node_reply(node, path, msg, r);
    }

    fn node_hangup(&mut self, node: usize, c: usize) {
        let now = self.now();
        let addr = self.nodes[node].addr;
        let call_id = self.calls[c].call_id.clone();
        let name = self.nodes[node].name.clone();
        let Some(d) = self.nodes[node].dialogs.get_mut(&c) else {
            return;
        };
        if d.terminated {
            return;
        }
        let Ok(invite) = SipMessage::parse(d.invite.clone()) else {
            return;
        };
        // UAS route set: the Record-Routes in order (§12.1.1); remote target: the Contact.
        let routes = s::record_routes(&invite);
        let target = s::contact_uri(&invite).unwrap_or_default();
        let first_hop = routes
            .first()
            .and_then(|r| s::uri_addr(r))
            .or_else(|| s::uri_addr(&target));
        let Some(first_hop) = first_hop else {
            return;
        };
        // A call that came over TCP is ended over TCP.
        let tcp = d.path != Path::Udp;
        let transport = if tcp { "TCP" } else { "UDP" };
        let mut m = String::with_capacity(512);
        let _ = write!(
            m,
            "BYE {target} SIP/2.0\r\nVia: SIP/2.0/{transport} {addr};branch=z9hG4bKnb{c}\r\n"
        );
        if !routes.is_empty() {
            let _ = write!(m, "Route: {}\r\n", routes.join(", "));
        }
        let _ = write!(
            m,
            "Max-Forwards: 70\r\nFrom: {};tag={}x{c}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
            s::header(&invite, HeaderName::To),
            name,
            s::header(&invite, HeaderName::From),
        );
        let bye = Bytes::from(m);
        d.terminated = true;
        d.bye = Some(bye.clone());
        d.bye_to = first_hop;
        d.bye_sent_at = now;
        if tcp {
            // Timer E runs on unreliable transports only (§17.1.2.2).
            self.node_stream_send(node, first_hop, bye);
        } else {
            self.send_udp(addr, first_hop, bye);
            self.node_schedule(node, ms(s::T1_MS), NodeTimer::RetransmitBye(c));
        }
    }

    fn node_retransmit_bye(&mut self, node: usize, c: usize) {
        let now = self.now();
        let addr = self.nodes[node].addr;
        let Some(d) = self.nodes[node].dialogs.get_mut(&c) else {
            return;
        };
        if d.bye_done || now.saturating_since(d.bye_sent_at) >= ms(s::TIMEOUT_MS) {
            return;
        }
        d.bye_retx_ms = (d.bye_retx_ms * 2).min(s::T2_MS);
        let next = ms(d.bye_retx_ms);
        let (bye, to) = (d.bye.clone(), d.bye_to);
        if let Some(bye) = bye {
            self.send_udp(addr, to, bye);
        }
        self.node_schedule(node, next, NodeTimer::RetransmitBye(c));
    }
}
