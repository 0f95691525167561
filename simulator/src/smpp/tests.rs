//! The SMPP peers against each other, without a balancer: a customer wired straight to a
//! provider (their bytes cut in arbitrary chunks) sends its quota and every check holds;
//! misrouted and duplicated PDUs are caught.

use super::config::{CustomerGroup, ProviderGroup};
use super::customer::{Customer, CustomerAct, CustomerTimer};
use super::provider::{Provider, ProviderAct, ProviderTimer};
use super::{ConnKey, CustomerInfo, Ledger};
use crate::clock::EventQueue;
use crate::rng::SplitMix64;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;
use switchboard_core::io::ConnId;
use switchboard_core::smpp::{self, Body, CommandId, CommandStatus, Pdu, SmBody, SmResp};
use switchboard_core::time::Timestamp;

const LINK: ConnKey = (0, ConnId(ConnId::OUTBOUND_BIT | 1));

#[derive(Debug)]
enum Ev {
    ToProvider(Bytes),
    ToCustomer(Bytes),
    Customer(CustomerTimer),
    Provider(ProviderTimer),
}

/// One customer wired straight to one provider, 2 ms apart.
struct Wire {
    q: EventQueue<Ev>,
    customer: Customer,
    provider: Provider,
    ledger: Ledger,
    rng: SplitMix64,
    violations: Vec<String>,
    finished: bool,
}

impl Wire {
    /// The provider accepts `customer`'s system_id with `password`.
    fn new(customer: &CustomerGroup, provider: &ProviderGroup, password: &str) -> Wire {
        let c = Customer::new(0, customer);
        let mut accounts = BTreeMap::new();
        accounts.insert(customer.system_id.clone(), password.to_owned());
        let p = Provider::new(0, provider, accounts);
        let ledger = Ledger {
            customers: vec![CustomerInfo {
                name: c.name.clone(),
                system_id: c.system_id.clone(),
            }],
            one_customer_per_request: true,
            ..Ledger::default()
        };
        let mut w = Wire {
            q: EventQueue::new(),
            customer: c,
            provider: p,
            ledger,
            rng: SplitMix64::new(7),
            violations: Vec::new(),
            finished: false,
        };
        let first = w.provider.start(&mut w.rng);
        w.provider_acts(first);
        w.provider.accept(LINK);
        let acts = w.customer.connected(Timestamp::ZERO);
        w.customer_acts(acts);
        w
    }

    /// Sends `bytes` in arbitrary chunks, 2 ms later.
    fn send(&mut self, bytes: Bytes, to_provider: bool) {
        let mut at = 0;
        while at < bytes.len() {
            let n = 1 + self.rng.below((bytes.len() - at) as u64) as usize;
            let chunk = bytes.slice(at..at + n);
            let ev = if to_provider {
                Ev::ToProvider(chunk)
            } else {
                Ev::ToCustomer(chunk)
            };
            self.q.schedule_in(Duration::from_millis(2), ev);
            at += n;
        }
    }

    fn customer_acts(&mut self, acts: Vec<CustomerAct>) {
        for act in acts {
            match act {
                CustomerAct::Write(b) => self.send(b, true),
                CustomerAct::Timer(d, t) => self.q.schedule_in(d, Ev::Customer(t)),
                CustomerAct::Violation(v) => self.violations.push(v),
                CustomerAct::Finished => self.finished = true,
                CustomerAct::Connect => panic!("the wire never drops"),
            }
        }
    }

    fn provider_acts(&mut self, acts: Vec<ProviderAct>) {
        for act in acts {
            match act {
                ProviderAct::Write(link, b) => {
                    assert_eq!(link, LINK);
                    self.send(b, false);
                }
                ProviderAct::Timer(d, t) => self.q.schedule_in(d, Ev::Provider(t)),
                ProviderAct::Violation(v) => self.violations.push(v),
                ProviderAct::Close(_) => panic!("nobody unbinds"),
            }
        }
    }

    fn run_until(&mut self, until: Timestamp) {
        self.run(until, false);
    }

    /// Runs 100 ms more without the customer's timers: what is under way arrives.
    fn settle(&mut self) {
        let until = self.q.now().saturating_add(Duration::from_millis(100));
        self.run(until, true);
    }

    fn run(&mut self, until: Timestamp, quiet: bool) {
        while self.q.next_at().is_some_and(|t| t <= until) {
            let (now, ev) = self.q.pop().expect("an event");
            match ev {
                Ev::Customer(_) if quiet => {}
                Ev::ToProvider(b) => {
                    let acts = self
                        .provider
                        .data(now, LINK, b, &mut self.ledger, &mut self.rng);
                    self.provider_acts(acts);
                }
                Ev::ToCustomer(b) => {
                    let acts = self.customer.data(now, b, &mut self.ledger, &mut self.rng);
                    self.customer_acts(acts);
                }
                Ev::Customer(t) => {
                    let acts = self.customer.timer(now, t, &mut self.rng);
                    self.customer_acts(acts);
                }
                Ev::Provider(t) => {
                    let over = self.finished;
                    let acts = self
                        .provider
                        .timer(now, t, &mut self.ledger, &mut self.rng, over);
                    self.provider_acts(acts);
                }
            }
        }
    }
}

fn customer_group() -> CustomerGroup {
    CustomerGroup {
        system_id: "A".into(),
        password: "pw".into(),
        rate: 50.0,
        quota: 200,
        long_message_every: 10,
        enquire_link_ms: 500,
        ..CustomerGroup::default()
    }
}

fn provider_group() -> ProviderGroup {
    ProviderGroup {
        mo_rate: 5.0,
        enquire_link_ms: 300,
        ..ProviderGroup::default()
    }
}

#[test]
fn a_customer_wired_to_a_provider_sends_its_quota_and_every_check_holds() {
    let mut w = Wire::new(&customer_group(), &provider_group(), "pw");
    w.run_until(Timestamp::from_millis(15_000));
    w.settle();
    assert!(w.violations.is_empty(), "{:#?}", w.violations);
    let c = &w.customer;
    assert!(c.bound);
    assert_eq!(c.submitted, 200);
    assert!(c.finished_at.is_some());
    assert_eq!(c.stats.ok, 200, "{:?}", c.stats);
    assert_eq!(c.stats.receipts, 200, "one receipt per message");
    assert!(c.stats.mos > 5, "{:?}", c.stats);
    assert!(c.unanswered(&w.ledger).is_empty());
    assert!(c
        .requests
        .values()
        .any(|r| r.command == CommandId::ENQUIRE_LINK));
    assert!(w.provider.unanswered().is_empty());
    assert_eq!(w.provider.stats.binds, 1);
    assert_eq!(w.provider.stats.delivered_ok, 200 + w.provider.stats.mos);
    let link_checks = w.provider.answered_enquire_links();
    assert!(link_checks >= 5, "{link_checks}");
    assert!(w.ledger.final_checks().is_empty());
    // Every 10th message is long, in 3 parts: 10 messages take 12 submit_sm, so 200 hold
    // 16 long messages.
    assert_eq!(w.ledger.concat.len(), 16);
    assert!(w.ledger.messages.values().all(|f| f.acked.is_some()));
}

#[test]
fn a_wrong_password_is_refused_and_the_customer_keeps_trying() {
    let mut w = Wire::new(&customer_group(), &provider_group(), "other");
    w.run_until(Timestamp::from_millis(1000));
    assert!(w.violations.is_empty(), "{:#?}", w.violations);
    assert!(!w.customer.bound);
    assert!(w.customer.stats.binds_refused >= 3);
    assert_eq!(w.customer.submitted, 0);
}

#[test]
fn misrouted_duplicated_and_invented_pdus_are_violations() {
    let mut w = Wire::new(&customer_group(), &provider_group(), "pw");
    w.run_until(Timestamp::from_millis(2000));
    assert!(w.violations.is_empty(), "{:#?}", w.violations);
    let now = w.q.now();
    let (&seq, _) = w
        .customer
        .requests
        .iter()
        .find(|(_, r)| r.command == CommandId::SUBMIT_SM && r.answer.is_some())
        .expect("an answered submit_sm");
    let resp = |seq: u32, id: &'static [u8]| {
        Pdu::new(
            CommandId::SUBMIT_SM_RESP,
            CommandStatus::ROK,
            seq,
            Body::SmResp(SmResp::with_message_id(Bytes::from_static(id))),
        )
        .encode()
        .unwrap()
    };
    let feed = |w: &mut Wire, pdu: Bytes| {
        let acts = w.customer.data(now, pdu, &mut w.ledger, &mut w.rng);
        acts.into_iter()
            .filter_map(|a| match a {
                CustomerAct::Violation(v) => Some(v),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // A second response (carrying a message id no provider assigned).
    let v = feed(&mut w, resp(seq, b"x"));
    assert!(v.iter().any(|v| v.contains("second response")), "{v:?}");
    assert!(
        v.iter().any(|v| v.contains("no provider assigned")),
        "{v:?}"
    );
    // A response to a sequence number never sent.
    let v = feed(&mut w, resp(9_999_999, b"x"));
    assert!(v[0].contains("never sent"), "{v:?}");
    // Someone else's answer: customer 1 (system_id B) gets customer 0's message id.
    w.ledger.customers.push(CustomerInfo {
        name: "c1".into(),
        system_id: "B".into(),
    });
    let id = w.ledger.messages.keys().next().unwrap().clone();
    let broke = w.ledger.acked(&id, 1, 1, 1, now).expect("misrouted answer");
    assert!(broke.contains("reached customer c1"), "{broke}");
    // Its receipt at customer 1 crosses system ids.
    let broke = w
        .ledger
        .receipt_arrived(&id, 1, 1, now)
        .expect("cross-system receipt");
    assert!(broke.contains("system_id B"), "{broke}");
    // A receipt of customer 0's message at another customer of its own system_id while it
    // is connected.
    w.ledger.customers[1].system_id = "A".into();
    w.ledger.one_customer_per_request = false;
    assert!(w.ledger.receipt_arrived(&id, 1, 1, now).is_none());
    let late = w.ledger.final_checks();
    assert!(
        late.iter()
            .any(|v| v.contains("while c0 that submitted it")),
        "{late:?}"
    );
    // A deliver_sm no provider sent.
    let invented = Pdu::new(
        CommandId::DELIVER_SM,
        CommandStatus::ROK,
        77,
        Body::DeliverSm(SmBody {
            short_message: Bytes::from_static(b"hello"),
            ..SmBody::default()
        }),
    )
    .encode()
    .unwrap();
    let v = feed(&mut w, invented);
    assert!(v[0].contains("no provider sent"), "{v:?}");
    // The provider: a response to a deliver_sm it never sent, and a reused sequence number.
    let acts = w.provider.data(
        now,
        LINK,
        smpp::response_with_status(CommandId::DELIVER_SM, CommandStatus::ROK, 123_456),
        &mut w.ledger,
        &mut w.rng,
    );
    assert!(acts
        .iter()
        .any(|a| matches!(a, ProviderAct::Violation(v) if v.contains("no such request"))));
}

#[test]
fn the_smpp_scenario_configures_the_balancers_smpp_side() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/12-smpp-provider-crash.toml"
    );
    let s = crate::Scenario::from_file(std::path::Path::new(path)).expect("scenario");
    let m = s.smpp.as_ref().expect("an [smpp] table");
    assert_eq!(
        (s.node_count(), m.customer_count(), m.provider_count()),
        (0, 3, 2)
    );
    let loaded = switchboard_core::config::Config::from_xml(&s.balancer_xml(0)).unwrap();
    let c = &loaded.config.smpp;
    assert_eq!(c.smpp_port, Some(crate::addr::SMPP_PORT));
    assert_eq!(c.remote_servers.len(), 2);
    assert!(c.mux_mode);
    assert_eq!(c.timeout_response, Duration::from_millis(3000));
    // Providers take crash, restart, partition and heal, customers crash and restart; a peer
    // that does not exist, or a fault it cannot have, is refused.
    let text = std::fs::read_to_string(path).unwrap();
    for (from, to) in [
        ("target = \"p1\"", "target = \"p2\""),
        ("action = \"crash\"", "action = \"hang\""),
        ("target = \"p1\"", "target = \"c3\""),
        (
            "action = \"partition\"\ntarget = \"p0\"",
            "action = \"partition\"\ntarget = \"c0\"",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        let broken = text.replacen(from, to, 1);
        assert!(crate::Scenario::from_toml(&broken).is_err(), "{to}");
    }
}
