//! An SMPP provider (message centre) of the simulated cluster: see the module
//! documentation of `smpp`.

use super::config::ProviderGroup;
use super::customer::status_name;
use super::{parse_message_text, ConnKey, Ledger, MessageFacts, MoFacts};
use crate::rng::SplitMix64;
use crate::world::secs;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use switchboard_core::smpp::{
    self, Address, Body, CommandId, CommandStatus, Framer, Pdu, SmBody, SmResp,
};
use switchboard_core::time::Timestamp;

/// A provider's timers (the world drops those of an earlier process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProviderTimer {
    /// Answer the balancer's request `seq` on `link` with `pdu`.
    Respond { link: ConnKey, seq: u32, pdu: Bytes },
    /// Send the delivery receipt of `message_id`.
    Receipt { message_id: Bytes },
    /// Send the next mobile-originated message.
    Mo,
    /// Send an `enquire_link` on `link`.
    EnquireLink { link: ConnKey },
}

/// What a provider asks the world to do.
#[derive(Debug)]
pub(crate) enum ProviderAct {
    /// Write on a connection.
    Write(ConnKey, Bytes),
    /// Close a connection (after what was written).
    Close(ConnKey),
    /// Fire `timer` after the delay.
    Timer(Duration, ProviderTimer),
    /// A broken invariant.
    Violation(String),
}

/// A request the provider sent to the balancer.
#[derive(Debug, Clone)]
pub(crate) struct OutRequest {
    /// `deliver_sm` or `enquire_link`.
    pub command: CommandId,
    /// `id:…` receipt or `mo:…` message.
    pub what: String,
    pub sent_at: Timestamp,
    pub answer: Option<(CommandId, CommandStatus, Timestamp)>,
}

/// One connection from a balancer.
#[derive(Debug)]
struct Link {
    framer: Framer,
    framing_lost: bool,
    system_id: Option<String>,
    /// The balancer's requests not answered yet, by sequence number.
    awaiting: BTreeSet<u32>,
    next_seq: u32,
    out: BTreeMap<u32, OutRequest>,
}

impl Link {
    fn new() -> Link {
        Link {
            framer: Framer::default(),
            framing_lost: false,
            system_id: None,
            awaiting: BTreeSet::new(),
            next_seq: 1,
            out: BTreeMap::new(),
        }
    }
}

/// What a provider counted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProviderStats {
    pub connections: u64,
    pub binds: u64,
    pub submits: u64,
    pub receipts: u64,
    pub receipts_undeliverable: u64,
    pub mos: u64,
    /// Its `deliver_sm` answered `ESME_ROK`, and otherwise (the balancer's `ESME_RSYSERR`).
    pub delivered_ok: u64,
    pub delivered_err: u64,
    pub crashes: u64,
}

/// An SMPP provider.
#[derive(Debug)]
pub(crate) struct Provider {
    pub index: usize,
    pub name: String,
    group: ProviderGroup,
    /// `system_id` → password of the accounts it accepts.
    accounts: BTreeMap<String, String>,
    /// Process number: timers of an earlier process do nothing.
    pub incarnation: u32,
    pub up: bool,
    pub restarted_at: Option<Timestamp>,
    links: BTreeMap<ConnKey, Link>,
    next_msg: u64,
    pub stats: ProviderStats,
}

impl Provider {
    pub(crate) fn new(
        index: usize,
        group: &ProviderGroup,
        accounts: BTreeMap<String, String>,
    ) -> Provider {
        Provider {
            index,
            name: format!("p{index}"),
            group: group.clone(),
            accounts,
            incarnation: 0,
            up: true,
            restarted_at: None,
            links: BTreeMap::new(),
            next_msg: 0,
            stats: ProviderStats::default(),
        }
    }

    /// The first timer of a process: its mobile-originated messages.
    pub(crate) fn start(&self, rng: &mut SplitMix64) -> Vec<ProviderAct> {
        self.next_mo(rng).into_iter().collect()
    }

    fn next_mo(&self, rng: &mut SplitMix64) -> Option<ProviderAct> {
        (self.group.mo_rate > 0.0).then(|| {
            let spacing = (1_000_000.0 / self.group.mo_rate) as u64;
            let delay = spacing / 2 + rng.below(spacing + 1);
            ProviderAct::Timer(Duration::from_micros(delay), ProviderTimer::Mo)
        })
    }

    /// A balancer's connection reached the provider, which accepted it.
    pub(crate) fn accept(&mut self, link: ConnKey) {
        self.stats.connections += 1;
        self.links.insert(link, Link::new());
    }

    /// The balancer closed `link`.
    pub(crate) fn closed(&mut self, link: ConnKey, ledger: &mut Ledger) {
        self.links.remove(&link);
        ledger.links_closed.insert(link);
    }

    /// The process dies: every connection and all memory are gone.
    pub(crate) fn crash(&mut self, ledger: &mut Ledger) {
        self.up = false;
        self.incarnation += 1;
        self.stats.crashes += 1;
        for link in std::mem::take(&mut self.links).into_keys() {
            ledger.links_closed.insert(link);
        }
    }

    /// The process starts again.
    pub(crate) fn restart(&mut self, now: Timestamp) {
        self.up = true;
        self.incarnation += 1;
        self.restarted_at = Some(now);
    }

    /// Bytes from the balancer on `link`.
    pub(crate) fn data(
        &mut self,
        now: Timestamp,
        link: ConnKey,
        bytes: Bytes,
        ledger: &mut Ledger,
        rng: &mut SplitMix64,
    ) -> Vec<ProviderAct> {
        let mut acts = Vec::new();
        let mut pdus = Vec::new();
        {
            let Some(l) = self.links.get_mut(&link) else {
                return acts;
            };
            if l.framing_lost {
                return acts;
            }
            l.framer.feed(bytes);
            loop {
                match l.framer.poll() {
                    Ok(Some(raw)) => pdus.push(raw),
                    Ok(None) => break,
                    Err(e) => {
                        l.framing_lost = true;
                        acts.push(ProviderAct::Violation(format!(
                            "provider {}: the balancer's bytes lost the SMPP framing: {e}",
                            self.name
                        )));
                        break;
                    }
                }
            }
        }
        for raw in pdus {
            self.pdu(now, link, raw, ledger, rng, &mut acts);
        }
        acts
    }

    fn pdu(
        &mut self,
        now: Timestamp,
        link: ConnKey,
        raw: Bytes,
        ledger: &mut Ledger,
        rng: &mut SplitMix64,
        acts: &mut Vec<ProviderAct>,
    ) {
        let pdu = match Pdu::decode(&raw) {
            Ok(p) => p,
            Err(e) => {
                acts.push(ProviderAct::Violation(format!(
                    "provider {}: the balancer sent a PDU that does not decode ({e}): {:02x?}",
                    self.name,
                    &raw[..raw.len().min(64)]
                )));
                let is_response =
                    smpp::Header::parse(&raw).is_some_and(|h| h.command_id.is_response());
                if !is_response {
                    acts.push(ProviderAct::Write(link, smpp::answer_to_invalid(&raw, &e)));
                }
                return;
            }
        };
        if pdu.command_id.is_response() {
            self.response(now, link, &pdu, acts);
            return;
        }
        let seq = pdu.sequence_number;
        let name = self.name.clone();
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if pdu.command_id.expects_response() && !l.awaiting.insert(seq) {
            acts.push(ProviderAct::Violation(format!(
                "provider {name}: the balancer sent {} numbered {seq} on connection {} of lb{} while its request {seq} there is not answered yet",
                pdu.command_id.name(),
                link.1 .0,
                link.0
            )));
        }
        match (pdu.command_id, pdu.body) {
            (id, Body::Bind(b)) => {
                let system_id = String::from_utf8_lossy(&b.system_id).into_owned();
                let status = if l.system_id.is_some() {
                    acts.push(ProviderAct::Violation(format!(
                        "provider {name}: the balancer bound connection {} of lb{} a second time",
                        link.1 .0, link.0
                    )));
                    CommandStatus::RALYBND
                } else {
                    match self.accounts.get(&system_id) {
                        Some(p) if p.as_bytes() == &b.password[..] => CommandStatus::ROK,
                        Some(_) => CommandStatus::RINVPASWD,
                        None => CommandStatus::RINVSYSID,
                    }
                };
                if status == CommandStatus::ROK {
                    l.system_id = Some(system_id);
                    self.stats.binds += 1;
                    if self.group.enquire_link_ms > 0 {
                        acts.push(ProviderAct::Timer(
                            Duration::from_millis(self.group.enquire_link_ms),
                            ProviderTimer::EnquireLink { link },
                        ));
                    }
                }
                let version = (b.interface_version >= smpp::SMPP_3_4).then_some(smpp::SMPP_3_4);
                l.awaiting.remove(&seq);
                match smpp::bind_resp(id, status, seq, name.as_bytes(), version) {
                    Ok(pdu) => acts.push(ProviderAct::Write(link, pdu)),
                    Err(e) => acts.push(ProviderAct::Violation(format!(
                        "provider {name}: cannot encode its bind_resp: {e}"
                    ))),
                }
            }
            (CommandId::SUBMIT_SM, Body::SubmitSm(b)) => {
                self.submit(now, link, seq, &b, ledger, rng, acts);
            }
            (CommandId::ENQUIRE_LINK, _) => {
                l.awaiting.remove(&seq);
                acts.push(ProviderAct::Write(link, smpp::enquire_link_resp(seq)));
            }
            (CommandId::UNBIND, _) => {
                acts.push(ProviderAct::Write(link, smpp::unbind_resp(seq)));
                acts.push(ProviderAct::Close(link));
                self.links.remove(&link);
                ledger.links_closed.insert(link);
            }
            (id, _) => {
                l.awaiting.remove(&seq);
                acts.push(ProviderAct::Write(
                    link,
                    smpp::response_with_status(id, CommandStatus::RINVCMDID, seq),
                ));
                acts.push(ProviderAct::Violation(format!(
                    "provider {name} got {} (sequence number {seq}), which no customer sent",
                    id.name()
                )));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        now: Timestamp,
        link: ConnKey,
        seq: u32,
        b: &SmBody,
        ledger: &mut Ledger,
        rng: &mut SplitMix64,
        acts: &mut Vec<ProviderAct>,
    ) {
        let name = self.name.clone();
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        let Some(system_id) = l.system_id.clone() else {
            l.awaiting.remove(&seq);
            acts.push(ProviderAct::Violation(format!(
                "provider {name}: the balancer sent submit_sm {seq} on connection {} of lb{} before binding it",
                link.1 .0, link.0
            )));
            acts.push(ProviderAct::Write(
                link,
                smpp::response_with_status(CommandId::SUBMIT_SM, CommandStatus::RINVBNDSTS, seq),
            ));
            return;
        };
        let concat = smpp::concatenation(b.esm_class, &b.short_message, &b.tlvs);
        let text = if b.esm_class & smpp::UDHI != 0 {
            let udhl = b.short_message.first().map_or(0, |n| usize::from(*n) + 1);
            b.short_message.slice(udhl.min(b.short_message.len())..)
        } else {
            b.short_message.clone()
        };
        let Some((k, customer_seq, long)) = parse_message_text(&text) else {
            acts.push(ProviderAct::Violation(format!(
                "provider {name} got a submit_sm no customer sent: {:?}",
                String::from_utf8_lossy(&b.short_message)
            )));
            return;
        };
        if let Some(c) = ledger.customers.get(k) {
            if c.system_id != system_id {
                acts.push(ProviderAct::Violation(format!(
                    "submit_sm {customer_seq} of customer {} (system_id {}) reached provider {name} on a connection bound as {system_id}",
                    c.name, c.system_id
                )));
            }
        }
        if let (Some(c), Some(number)) = (concat, long) {
            let what = format!(
                "part {} of {} (UDH reference {})",
                c.seqnum, c.total, c.reference
            );
            acts.extend(
                ledger
                    .part_arrived(k, number, link, &what)
                    .map(ProviderAct::Violation),
            );
        }
        self.stats.submits += 1;
        self.next_msg += 1;
        let message_id = Bytes::from(format!(
            "{}{:02}{:08}",
            self.index + 1,
            self.incarnation % 100,
            self.next_msg
        ));
        ledger.messages.insert(
            message_id.clone(),
            MessageFacts {
                provider: self.index,
                link,
                system_id,
                customer: k,
                customer_seq,
                issued_at: now,
                acked: None,
                deliveries: Vec::new(),
            },
        );
        let g = &self.group;
        let delay = if g.slow_fraction > 0.0 && rng.chance(g.slow_fraction) {
            g.slow_delay_ms * 1000
        } else {
            g.response_delay_ms * 1000 + rng.below(g.response_jitter_ms * 1000 + 1)
        };
        let receipt = delay + g.receipt_delay_ms * 1000 + rng.below(g.receipt_jitter_ms * 1000 + 1);
        let pdu = Pdu::new(
            CommandId::SUBMIT_SM_RESP,
            CommandStatus::ROK,
            seq,
            Body::SmResp(SmResp::with_message_id(message_id.clone())),
        )
        .encode()
        .unwrap_or_else(|_| {
            smpp::response_with_status(CommandId::SUBMIT_SM, CommandStatus::RSYSERR, seq)
        });
        acts.push(ProviderAct::Timer(
            Duration::from_micros(delay),
            ProviderTimer::Respond { link, seq, pdu },
        ));
        acts.push(ProviderAct::Timer(
            Duration::from_micros(receipt),
            ProviderTimer::Receipt { message_id },
        ));
    }

    fn response(&mut self, now: Timestamp, link: ConnKey, pdu: &Pdu, acts: &mut Vec<ProviderAct>) {
        let seq = pdu.sequence_number;
        let (cmd, status) = (pdu.command_id, pdu.command_status);
        let name = self.name.clone();
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        let what = format!("{} {}", cmd.name(), status_name(status));
        let Some(r) = l.out.get_mut(&seq) else {
            acts.push(ProviderAct::Violation(format!(
                "provider {name} got {what} numbered {seq} on connection {} of lb{}, where it sent no such request",
                link.1 .0, link.0
            )));
            return;
        };
        if let Some((c, s, at)) = r.answer {
            acts.push(ProviderAct::Violation(format!(
                "provider {name} got a second response to its {} {seq} ({}): {what}, after {} {} at {}",
                r.command.name(),
                r.what,
                c.name(),
                status_name(s),
                secs(at)
            )));
            return;
        }
        if cmd != r.command.response() && cmd != CommandId::GENERIC_NACK {
            acts.push(ProviderAct::Violation(format!(
                "provider {name} got {what} as the response to its {} {seq} ({})",
                r.command.name(),
                r.what
            )));
        }
        r.answer = Some((cmd, status, now));
        if r.command == CommandId::ENQUIRE_LINK {
            if status != CommandStatus::ROK {
                acts.push(ProviderAct::Violation(format!(
                    "provider {name}: the balancer answered its enquire_link {seq} with {what}"
                )));
            }
        } else if status == CommandStatus::ROK {
            self.stats.delivered_ok += 1;
        } else {
            self.stats.delivered_err += 1;
        }
    }

    /// A connection bound as `system_id` to send a receipt on: the one its message came on
    /// while it lasts, else another from the same balancer (only that balancer knows where
    /// the message came from).
    fn link_for(&self, system_id: &str, preferred: ConnKey) -> Option<ConnKey> {
        let bound = |k: &ConnKey| {
            self.links
                .get(k)
                .is_some_and(|l| l.system_id.as_deref() == Some(system_id))
        };
        Some(preferred).filter(|k| bound(k)).or_else(|| {
            self.links
                .keys()
                .copied()
                .find(|k| k.0 == preferred.0 && bound(k))
        })
    }

    fn send_deliver(
        &mut self,
        now: Timestamp,
        link: ConnKey,
        esm_class: u8,
        text: String,
    ) -> Option<ProviderAct> {
        let l = self.links.get_mut(&link)?;
        let seq = l.next_seq;
        l.next_seq += 1;
        let body = SmBody {
            source: Address {
                ton: 1,
                npi: 1,
                addr: Bytes::from_static(b"447911000000"),
            },
            destination: Address {
                ton: 1,
                npi: 1,
                addr: Bytes::from_static(b"447700000000"),
            },
            esm_class,
            short_message: Bytes::from(text.clone()),
            ..SmBody::default()
        };
        let pdu = Pdu::new(
            CommandId::DELIVER_SM,
            CommandStatus::ROK,
            seq,
            Body::DeliverSm(body),
        )
        .encode()
        .ok()?;
        l.out.insert(
            seq,
            OutRequest {
                command: CommandId::DELIVER_SM,
                what: text.split(' ').next().unwrap_or_default().to_owned(),
                sent_at: now,
                answer: None,
            },
        );
        Some(ProviderAct::Write(link, pdu))
    }

    pub(crate) fn timer(
        &mut self,
        now: Timestamp,
        timer: ProviderTimer,
        ledger: &mut Ledger,
        rng: &mut SplitMix64,
        traffic_over: bool,
    ) -> Vec<ProviderAct> {
        let mut acts = Vec::new();
        match timer {
            ProviderTimer::Respond { link, seq, pdu } => {
                if let Some(l) = self.links.get_mut(&link) {
                    if l.awaiting.remove(&seq) {
                        acts.push(ProviderAct::Write(link, pdu));
                    }
                }
            }
            ProviderTimer::Receipt { message_id } => {
                let Some(f) = ledger.messages.get(&message_id) else {
                    return acts;
                };
                match self.link_for(&f.system_id.clone(), f.link) {
                    Some(link) => {
                        let text = format!(
                            "id:{} sub:001 dlvrd:001 submit date:2611300900 done date:2611300901 stat:DELIVRD err:000 text:",
                            String::from_utf8_lossy(&message_id)
                        );
                        self.stats.receipts += 1;
                        acts.extend(self.send_deliver(now, link, 0x04, text));
                    }
                    None => self.stats.receipts_undeliverable += 1,
                }
            }
            ProviderTimer::EnquireLink { link } => {
                // None once the customers are done: the run ends with nothing under way.
                if let Some(l) = self.links.get_mut(&link).filter(|_| !traffic_over) {
                    let seq = l.next_seq;
                    l.next_seq += 1;
                    l.out.insert(
                        seq,
                        OutRequest {
                            command: CommandId::ENQUIRE_LINK,
                            what: "link check".into(),
                            sent_at: now,
                            answer: None,
                        },
                    );
                    acts.push(ProviderAct::Write(link, smpp::enquire_link(seq)));
                    acts.push(ProviderAct::Timer(
                        Duration::from_millis(self.group.enquire_link_ms),
                        ProviderTimer::EnquireLink { link },
                    ));
                }
            }
            ProviderTimer::Mo => {
                if traffic_over {
                    return acts;
                }
                let bound: Vec<(ConnKey, String)> = self
                    .links
                    .iter()
                    .filter_map(|(k, l)| l.system_id.clone().map(|s| (*k, s)))
                    .collect();
                if !bound.is_empty() {
                    let (link, system_id) = bound[rng.below(bound.len() as u64) as usize].clone();
                    let mo = ledger.next_mo;
                    ledger.next_mo += 1;
                    ledger.mos.insert(
                        mo,
                        MoFacts {
                            provider: self.index,
                            system_id,
                            deliveries: Vec::new(),
                        },
                    );
                    self.stats.mos += 1;
                    acts.extend(self.send_deliver(now, link, 0, format!("mo:{mo} hello")));
                }
                acts.extend(self.next_mo(rng));
            }
        }
        acts
    }

    /// Its `enquire_link` answered, on the connections still open.
    #[cfg(test)]
    pub(crate) fn answered_enquire_links(&self) -> usize {
        self.links
            .values()
            .flat_map(|l| l.out.values())
            .filter(|r| r.command == CommandId::ENQUIRE_LINK && r.answer.is_some())
            .count()
    }

    /// Requests it sent on connections still open that got no response (checked at the
    /// end, after the quiet period).
    pub(crate) fn unanswered(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut total = 0;
        for (link, l) in &self.links {
            for (seq, r) in &l.out {
                if r.answer.is_none() {
                    total += 1;
                    if out.len() < 5 {
                        out.push(format!(
                            "provider {} sent {} {seq} ({}) at {} on connection {} of lb{}, still open, and got no response",
                            self.name,
                            r.command.name(),
                            r.what,
                            secs(r.sent_at),
                            link.1 .0,
                            link.0
                        ));
                    }
                }
            }
        }
        if total > 5 {
            out.push(format!(
                "provider {}: {total} requests in all got no response",
                self.name
            ));
        }
        out
    }
}
