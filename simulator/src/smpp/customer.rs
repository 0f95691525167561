//! An SMPP customer (ESME) of the simulated cluster: see the module documentation of
//! `smpp`.

use super::config::CustomerGroup;
use super::{message_text, Ledger};
use crate::rng::SplitMix64;
use crate::world::secs;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use switchboard_core::smpp::{
    self, Address, Bind, Body, CommandId, CommandStatus, Framer, Pdu, SmBody, Tlvs, UDHI,
};
use switchboard_core::time::Timestamp;

/// A customer's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CustomerTimer {
    /// Connect (the first time, or again after the connection ended).
    Connect,
    /// Bind again on connection `epoch` after a refused bind.
    Rebind { epoch: u32 },
    /// The next `submit_sm` of submission round `round`.
    Submit { round: u64 },
    /// The customer's own `enquire_link` on connection `epoch`.
    EnquireLink { epoch: u32 },
}

/// What a customer asks the world to do.
#[derive(Debug)]
pub(crate) enum CustomerAct {
    /// Open a connection to the balancer's SMPP listener (then call
    /// [`Customer::connected`]).
    Connect,
    /// Write on the current connection.
    Write(Bytes),
    /// Fire `timer` after the delay.
    Timer(Duration, CustomerTimer),
    /// A broken invariant.
    Violation(String),
    /// The whole quota is sent.
    Finished,
}

/// The answer a request got.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer {
    pub command: CommandId,
    pub status: CommandStatus,
    pub at: Timestamp,
}

/// A request the customer sent.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub command: CommandId,
    /// The connection it left on.
    pub epoch: u32,
    pub sent_at: Timestamp,
    pub answer: Option<Answer>,
}

/// What a customer counted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CustomerStats {
    pub connections: u64,
    pub binds_refused: u64,
    /// `submit_sm` answered `ESME_ROK`, `ESME_RSYSERR`, `ESME_RTHROTTLED`, anything else.
    pub ok: u64,
    pub syserr: u64,
    pub throttled: u64,
    pub other: u64,
    pub receipts: u64,
    pub mos: u64,
    /// Connections the balancer ended.
    pub closed: u64,
}

/// An SMPP customer.
#[derive(Debug)]
pub(crate) struct Customer {
    pub index: usize,
    pub name: String,
    pub system_id: String,
    password: String,
    group: CustomerGroup,
    /// The number of the current (or last) connection; 0 before the first.
    pub epoch: u32,
    pub connected: bool,
    pub bound: bool,
    framer: Framer,
    framing_lost: bool,
    next_seq: u32,
    /// Submission rounds: a timer of an older round does nothing.
    round: u64,
    /// `submit_sm` sent, and messages (a long message is several `submit_sm`).
    pub submitted: u32,
    messages: u32,
    /// Long messages sent (their UDH reference is this count's low octet).
    long_messages: u32,
    pub requests: BTreeMap<u32, Request>,
    pub finished_at: Option<Timestamp>,
    pub stats: CustomerStats,
    /// The process is down (crashed, not restarted yet).
    pub down: bool,
    /// Connections that ended with the customer's crash: their requests are not owed an
    /// answer.
    crashed_epochs: BTreeSet<u32>,
}

impl Customer {
    pub(crate) fn new(index: usize, group: &CustomerGroup) -> Customer {
        Customer {
            index,
            name: format!("c{index}"),
            system_id: group.system_id.clone(),
            password: group.password.clone(),
            group: group.clone(),
            epoch: 0,
            connected: false,
            bound: false,
            framer: Framer::default(),
            framing_lost: false,
            next_seq: 1,
            round: 0,
            submitted: 0,
            messages: 0,
            long_messages: 0,
            requests: BTreeMap::new(),
            finished_at: None,
            stats: CustomerStats::default(),
            down: false,
            crashed_epochs: BTreeSet::new(),
        }
    }

    /// The quota of `submit_sm`.
    pub(crate) fn quota(&self) -> u32 {
        self.group.quota
    }

    fn next_seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    fn request(&mut self, now: Timestamp, command: CommandId) -> u32 {
        let seq = self.next_seq();
        self.requests.insert(
            seq,
            Request {
                command,
                epoch: self.epoch,
                sent_at: now,
                answer: None,
            },
        );
        seq
    }

    fn bind(&mut self, now: Timestamp) -> CustomerAct {
        let seq = self.request(now, CommandId::BIND_TRANSCEIVER);
        let bind = Bind {
            system_id: Bytes::from(self.system_id.clone()),
            password: Bytes::from(self.password.clone()),
            system_type: Bytes::from_static(b"sim"),
            interface_version: smpp::SMPP_3_4,
            address_range: Address::default(),
        };
        match smpp::bind(CommandId::BIND_TRANSCEIVER, seq, &bind) {
            Ok(pdu) => CustomerAct::Write(pdu),
            Err(e) => CustomerAct::Violation(format!("{}: cannot encode its bind: {e}", self.name)),
        }
    }

    /// The connection asked for with [`CustomerAct::Connect`] is open (the customer writes
    /// at once; its bytes follow the connection request).
    pub(crate) fn connected(&mut self, now: Timestamp) -> Vec<CustomerAct> {
        self.epoch += 1;
        self.connected = true;
        self.bound = false;
        self.framer = Framer::default();
        self.framing_lost = false;
        self.stats.connections += 1;
        let mut acts = vec![self.bind(now)];
        if self.group.enquire_link_ms > 0 {
            acts.push(CustomerAct::Timer(
                Duration::from_millis(self.group.enquire_link_ms),
                CustomerTimer::EnquireLink { epoch: self.epoch },
            ));
        }
        acts
    }

    /// The balancer ended the connection: connect again in a second.
    pub(crate) fn closed(&mut self, now: Timestamp, ledger: &mut Ledger) -> Vec<CustomerAct> {
        if !self.connected || self.down {
            return Vec::new();
        }
        self.connected = false;
        self.bound = false;
        self.round += 1;
        self.stats.closed += 1;
        ledger.conn_ended.insert((self.index, self.epoch), now);
        vec![CustomerAct::Timer(
            Duration::from_millis(1000),
            CustomerTimer::Connect,
        )]
    }

    /// The process dies: its connection is reset (by the world), nothing more is sent or
    /// owed on it.
    pub(crate) fn crash(&mut self, now: Timestamp, ledger: &mut Ledger) {
        if self.down {
            return;
        }
        self.down = true;
        if self.connected {
            self.connected = false;
            self.bound = false;
            self.round += 1;
            self.crashed_epochs.insert(self.epoch);
            ledger.conn_ended.insert((self.index, self.epoch), now);
        }
    }

    /// The process starts again: it connects and binds.
    pub(crate) fn restart(&mut self) -> Vec<CustomerAct> {
        if !self.down {
            return Vec::new();
        }
        self.down = false;
        vec![CustomerAct::Connect]
    }

    pub(crate) fn timer(
        &mut self,
        now: Timestamp,
        timer: CustomerTimer,
        rng: &mut SplitMix64,
    ) -> Vec<CustomerAct> {
        match timer {
            CustomerTimer::Connect if !self.connected && !self.down => vec![CustomerAct::Connect],
            CustomerTimer::Rebind { epoch }
                if epoch == self.epoch && self.connected && !self.bound =>
            {
                vec![self.bind(now)]
            }
            CustomerTimer::Submit { round } if round == self.round && self.bound => {
                self.submit(now, rng)
            }
            // None once the quota is sent: the run ends with nothing under way.
            CustomerTimer::EnquireLink { epoch }
                if epoch == self.epoch && self.connected && self.finished_at.is_none() =>
            {
                let seq = self.request(now, CommandId::ENQUIRE_LINK);
                vec![
                    CustomerAct::Write(smpp::enquire_link(seq)),
                    CustomerAct::Timer(
                        Duration::from_millis(self.group.enquire_link_ms),
                        CustomerTimer::EnquireLink { epoch },
                    ),
                ]
            }
            _ => Vec::new(),
        }
    }

    /// Requests of the current connection still waiting for their response.
    fn outstanding(&self) -> usize {
        self.requests
            .values()
            .filter(|r| r.answer.is_none() && r.epoch == self.epoch)
            .count()
    }

    fn submit(&mut self, now: Timestamp, rng: &mut SplitMix64) -> Vec<CustomerAct> {
        let quota = self.group.quota;
        if self.submitted >= quota {
            return Vec::new();
        }
        let round = self.round;
        if self.outstanding() >= self.group.window as usize {
            return vec![CustomerAct::Timer(
                Duration::from_millis(20),
                CustomerTimer::Submit { round },
            )];
        }
        let every = self.group.long_message_every;
        let parts: u8 =
            if every > 0 && self.messages % every == every - 1 && quota - self.submitted >= 3 {
                3
            } else {
                1
            };
        self.messages += 1;
        let long = (parts > 1).then(|| {
            self.long_messages += 1;
            self.long_messages
        });
        let reference = long.map_or(0, |n| n as u8);
        let mut acts = Vec::new();
        for part in 1..=parts {
            let seq = self.request(now, CommandId::SUBMIT_SM);
            self.submitted += 1;
            let text = message_text(self.index, seq, long);
            let (esm_class, short_message) = if parts > 1 {
                let mut m = vec![0x05, 0x00, 0x03, reference, parts, part];
                m.extend_from_slice(text.as_bytes());
                (UDHI, Bytes::from(m))
            } else {
                (0, Bytes::from(text))
            };
            let body = SmBody {
                source: Address {
                    ton: 1,
                    npi: 1,
                    addr: Bytes::from(format!("{}", 447_700_000_000u64 + self.index as u64)),
                },
                destination: Address {
                    ton: 1,
                    npi: 1,
                    addr: Bytes::from(format!("{}", 447_900_000_000u64 + u64::from(seq))),
                },
                esm_class,
                registered_delivery: 1,
                short_message,
                tlvs: Tlvs::empty(),
                ..SmBody::default()
            };
            match Pdu::new(
                CommandId::SUBMIT_SM,
                CommandStatus::ROK,
                seq,
                Body::SubmitSm(body),
            )
            .encode()
            {
                Ok(pdu) => acts.push(CustomerAct::Write(pdu)),
                Err(e) => acts.push(CustomerAct::Violation(format!(
                    "{}: cannot encode its submit_sm: {e}",
                    self.name
                ))),
            }
        }
        if self.submitted >= quota {
            self.finished_at = Some(now);
            acts.push(CustomerAct::Finished);
        } else {
            let spacing = (1_000_000.0 / self.group.rate) as u64;
            let delay = spacing / 2 + rng.below(spacing + 1);
            acts.push(CustomerAct::Timer(
                Duration::from_micros(delay),
                CustomerTimer::Submit { round },
            ));
        }
        acts
    }

    /// Bytes from the balancer.
    pub(crate) fn data(
        &mut self,
        now: Timestamp,
        bytes: Bytes,
        ledger: &mut Ledger,
        rng: &mut SplitMix64,
    ) -> Vec<CustomerAct> {
        let mut acts = Vec::new();
        if self.framing_lost {
            return acts;
        }
        self.framer.feed(bytes);
        loop {
            match self.framer.poll() {
                Ok(Some(raw)) => self.pdu(now, raw, ledger, rng, &mut acts),
                Ok(None) => break,
                Err(e) => {
                    self.framing_lost = true;
                    acts.push(CustomerAct::Violation(format!(
                        "customer {}: the balancer's bytes lost the SMPP framing: {e}",
                        self.name
                    )));
                    break;
                }
            }
        }
        acts
    }

    fn pdu(
        &mut self,
        now: Timestamp,
        raw: Bytes,
        ledger: &mut Ledger,
        rng: &mut SplitMix64,
        acts: &mut Vec<CustomerAct>,
    ) {
        let pdu = match Pdu::decode(&raw) {
            Ok(p) => p,
            Err(e) => {
                acts.push(CustomerAct::Violation(format!(
                    "customer {}: the balancer sent a PDU that does not decode ({e}): {:02x?}",
                    self.name,
                    &raw[..raw.len().min(64)]
                )));
                let is_response =
                    smpp::Header::parse(&raw).is_some_and(|h| h.command_id.is_response());
                if !is_response {
                    acts.push(CustomerAct::Write(smpp::answer_to_invalid(&raw, &e)));
                }
                return;
            }
        };
        if pdu.command_id.is_response() {
            self.response(now, pdu, ledger, rng, acts);
            return;
        }
        let seq = pdu.sequence_number;
        match (pdu.command_id, &pdu.body) {
            (CommandId::DELIVER_SM, Body::DeliverSm(b)) => {
                acts.push(CustomerAct::Write(smpp::response_with_status(
                    CommandId::DELIVER_SM,
                    CommandStatus::ROK,
                    seq,
                )));
                let broke = if let Some(id) = b.receipted_message_id() {
                    self.stats.receipts += 1;
                    ledger.receipt_arrived(&id, self.index, self.epoch, now)
                } else if let Some(mo) = parse_mo(&b.short_message) {
                    self.stats.mos += 1;
                    ledger.mo_arrived(mo, self.index, self.epoch, now)
                } else {
                    Some(format!(
                        "customer {} got a deliver_sm no provider sent: {:?}",
                        self.name,
                        String::from_utf8_lossy(&b.short_message)
                    ))
                };
                acts.extend(broke.map(CustomerAct::Violation));
            }
            (CommandId::ENQUIRE_LINK, _) => {
                acts.push(CustomerAct::Write(smpp::enquire_link_resp(seq)));
            }
            (CommandId::UNBIND, _) => {
                acts.push(CustomerAct::Write(smpp::unbind_resp(seq)));
                self.bound = false;
                self.round += 1;
            }
            (id, _) => {
                acts.push(CustomerAct::Write(smpp::response_with_status(
                    id,
                    CommandStatus::RINVCMDID,
                    seq,
                )));
                acts.push(CustomerAct::Violation(format!(
                    "customer {} got {} (sequence number {seq}), which no provider sent",
                    self.name,
                    id.name()
                )));
            }
        }
    }

    fn response(
        &mut self,
        now: Timestamp,
        pdu: Pdu,
        ledger: &mut Ledger,
        rng: &mut SplitMix64,
        acts: &mut Vec<CustomerAct>,
    ) {
        let seq = pdu.sequence_number;
        let (cmd, status) = (pdu.command_id, pdu.command_status);
        let what = format!("{} {}", cmd.name(), status_name(status));
        let epoch = self.epoch;
        let Some(r) = self.requests.get_mut(&seq) else {
            acts.push(CustomerAct::Violation(format!(
                "customer {} got {what} numbered {seq}, a sequence number it never sent",
                self.name
            )));
            return;
        };
        if let Some(a) = r.answer {
            // Whose answer it was, when it carries a provider's message id.
            if let (CommandStatus::ROK, Body::SmResp(b)) = (status, &pdu.body) {
                if r.command == CommandId::SUBMIT_SM {
                    let whose = ledger.acked(&b.message_id, self.index, seq, epoch, now);
                    acts.extend(whose.map(CustomerAct::Violation));
                }
            }
            let r = &self.requests[&seq];
            acts.push(CustomerAct::Violation(format!(
                "customer {} got a second response to its {} {seq} (sent {}): {what}, after {} {} at {}",
                self.name,
                r.command.name(),
                secs(r.sent_at),
                a.command.name(),
                status_name(a.status),
                secs(a.at)
            )));
            return;
        }
        if r.epoch != epoch {
            acts.push(CustomerAct::Violation(format!(
                "customer {} got {what} for its {} {seq} of connection {} on connection {epoch}",
                self.name,
                r.command.name(),
                r.epoch
            )));
        }
        if cmd != r.command.response() && cmd != CommandId::GENERIC_NACK {
            acts.push(CustomerAct::Violation(format!(
                "customer {} got {what} as the response to its {} {seq}",
                self.name,
                r.command.name()
            )));
        }
        r.answer = Some(Answer {
            command: cmd,
            status,
            at: now,
        });
        match r.command {
            CommandId::BIND_TRANSCEIVER => {
                if status == CommandStatus::ROK {
                    self.bound = true;
                    self.round += 1;
                    if self.submitted < self.group.quota {
                        acts.extend(self.submit(now, rng));
                    }
                } else {
                    self.stats.binds_refused += 1;
                    acts.push(CustomerAct::Timer(
                        Duration::from_millis(200),
                        CustomerTimer::Rebind { epoch },
                    ));
                }
            }
            CommandId::SUBMIT_SM => match status {
                CommandStatus::ROK => {
                    self.stats.ok += 1;
                    let id = match &pdu.body {
                        Body::SmResp(b) => b.message_id.clone(),
                        _ => Bytes::new(),
                    };
                    let broke = ledger.acked(&id, self.index, seq, epoch, now);
                    acts.extend(broke.map(CustomerAct::Violation));
                }
                CommandStatus::RSYSERR => self.stats.syserr += 1,
                CommandStatus::RTHROTTLED => self.stats.throttled += 1,
                _ => self.stats.other += 1,
            },
            _ => {}
        }
    }

    /// Requests without a response (checked at the end, after the quiet period).
    pub(crate) fn unanswered(&self, ledger: &Ledger) -> Vec<String> {
        let missing: Vec<(&u32, &Request)> = self
            .requests
            .iter()
            .filter(|(_, r)| r.answer.is_none() && !self.crashed_epochs.contains(&r.epoch))
            .collect();
        let mut out: Vec<String> = missing
            .iter()
            .take(5)
            .map(|(seq, r)| {
                let conn = match ledger.conn_ended.get(&(self.index, r.epoch)) {
                    Some(t) => format!("connection {} ended at {}", r.epoch, secs(*t)),
                    None => format!("connection {} still open", r.epoch),
                };
                format!(
                    "customer {} ({}) sent {} {seq} at {} and got no response ({conn})",
                    self.name,
                    self.system_id,
                    r.command.name(),
                    secs(r.sent_at)
                )
            })
            .collect();
        if missing.len() > 5 {
            out.push(format!(
                "customer {}: {} requests in all got no response",
                self.name,
                missing.len()
            ));
        }
        out
    }
}

/// `ESME_ROK`, … or the number.
pub(crate) fn status_name(status: CommandStatus) -> String {
    status
        .name()
        .map_or_else(|| format!("0x{:08x}", status.0), str::to_owned)
}

/// The id of a mobile-originated message text (`mo:<id> …`).
pub(crate) fn parse_mo(text: &[u8]) -> Option<u64> {
    let t = std::str::from_utf8(text).ok()?;
    t.strip_prefix("mo:")?.split(' ').next()?.parse().ok()
}
