//! End-to-end SMPP balancing in mux mode: third-party peers on loopback, an SMSC built on npm's
//! `smpp` server (`tests/peers/smsc.js`) and customers built on PyPI's `smpplib`
//! (`tests/peers/esme.py`), around the real binary. Checks one bind per provider however many
//! customers share a system_id, the local password check, traffic spread over the providers,
//! a provider lost and bound again, the response timer, enquire_link both ways, delivery
//! receipts routed to the customer that submitted the message, long messages kept on one
//! provider, provider limits (ESME_RTHROTTLED), a TLS customer and `remoteServers` reloaded at
//! run time (behaviour reference §6; docs/decisions.md).

mod common;
#[path = "common/secure.rs"]
mod secure;
#[path = "common/smpp.rs"]
mod smpp;

use common::test_dir;
use serde_json::json;
use smpp::{is, num, status, text, Esme, SmppLb, SmppLbConfig, Smsc, SmscOptions, STEP};
use std::collections::{BTreeMap, BTreeSet};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The system_id and password the customers of these tests bind with.
const SYSTEM_ID: &str = "acme";
const PASSWORD: &str = "secret";

/// The message ids of `responses` that were answered ESME_ROK.
fn ok_ids(responses: &[serde_json::Value]) -> Vec<String> {
    responses
        .iter()
        .filter(|r| num(r, "status") == status::ROK)
        .map(|r| text(r, "message_id"))
        .collect()
}

/// The peers prove themselves without the balancer: the ESME binds to the SMSC directly
/// (a wrong password refused), submits short and long messages, gets receipts and
/// answers them, and unbinds.
#[test]
fn direct_esme_to_smsc_works() {
    let dir = test_dir("smpp-direct");
    let smsc = Smsc::start(
        &dir,
        "smsc",
        &SmscOptions {
            receipts_ms: Some(50),
            ..SmscOptions::account(SYSTEM_ID, PASSWORD)
        },
    );
    let mut esme = Esme::connect(&dir, "esme", smpp::at(smsc.port), false);
    let refused = esme.bind(SYSTEM_ID, "wrong");
    assert_eq!(num(&refused, "status"), status::RINVPASWD, "{refused}");
    let bound = esme.bind_ok(SYSTEM_ID, PASSWORD);
    assert_eq!(text(&bound, "command"), "bind_transceiver_resp");

    let seqs = esme.submit_with(3, "direct", json!({"registered_delivery": 1}));
    let responses = esme.responses(&seqs, STEP);
    assert_eq!(responses.len(), 3, "{}", esme.report());
    let ids = ok_ids(&responses);
    assert_eq!(ids.len(), 3, "{}", esme.report());
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 3, "ids unique");

    let receipts = esme.wait_received("deliver_sm", 3, STEP);
    assert_eq!(receipts.len(), 3, "{}", esme.report());
    for r in &receipts {
        assert_eq!(num(r, "esm_class"), 0x04, "{r}");
        let id = text(r, "receipted_message_id");
        assert!(ids.contains(&id), "{r}");
        assert!(
            text(r, "short_message").contains(&format!("id:{id} ")),
            "{r}"
        );
    }
    let answered = smsc.events().wait_n_from(0, 3, STEP, |e| {
        is(e, "deliver_sm_resp") && num(e, "status") == status::ROK
    });
    assert_eq!(answered.len(), 3, "{}", smsc.report());

    let parts = esme.submit_long(&"L".repeat(400));
    assert_eq!(parts.len(), 3);
    let responses = esme.responses(&parts, STEP);
    assert_eq!(ok_ids(&responses).len(), 3, "{}", esme.report());
    assert_eq!(smsc.wait_submits(6, STEP).len(), 6, "{}", smsc.report());
    let concat: Vec<_> = smsc
        .submits()
        .into_iter()
        .filter(|s| !s["concat"].is_null())
        .collect();
    assert_eq!(concat.len(), 3, "{}", smsc.report());
    for (n, s) in concat.iter().enumerate() {
        assert_eq!(num(&s["concat"], "total"), 3, "{s}");
        assert_eq!(num(&s["concat"], "part"), n as u64 + 1, "{s}");
    }

    let mark = esme.command(json!({"op": "unbind"}));
    assert!(
        esme.events()
            .wait_from(mark, STEP, |e| is(e, "recv")
                && text(e, "command") == "unbind_resp")
            .is_some(),
        "{}",
        esme.report()
    );
    assert!(esme.closed_within(mark, STEP), "{}", esme.report());
    assert_eq!(smsc.binds_settled(1).len(), 1, "{}", smsc.report());

    // The ESME's TLS client against a TLS SMSC (the test PKI's certificate, not verified).
    let pki = secure::Pki::generate(&dir);
    let tls = Smsc::start(
        &dir,
        "smsc-tls",
        &SmscOptions {
            tls_pem: Some(pki.key_store.clone()),
            ..SmscOptions::account(SYSTEM_ID, PASSWORD)
        },
    );
    let mut esme = Esme::connect(&dir, "esme-tls", smpp::at(tls.port), true);
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    let seqs = esme.submit(2, "direct-tls");
    assert_eq!(
        ok_ids(&esme.responses(&seqs, STEP)).len(),
        2,
        "{}",
        esme.report()
    );
}

/// `n` customers connected to the balancer's plain listener, their transceiver binds sent all
/// at once (the later ones wait for the first one's provider binds), each answered OK with
/// `system_id` `loadbalancer`.
fn bound_customers(dir: &std::path::Path, lb: &SmppLb, n: usize) -> Vec<Esme> {
    let mut customers: Vec<Esme> = (0..n)
        .map(|i| Esme::connect(dir, &format!("esme-{i}"), lb.smpp(), false))
        .collect();
    let marks: Vec<usize> = customers
        .iter_mut()
        .map(|c| c.send_bind(smpp::BindType::Transceiver, SYSTEM_ID, PASSWORD))
        .collect();
    for (c, mark) in customers.iter().zip(marks) {
        let resp = c
            .bind_response(mark)
            .unwrap_or_else(|| panic!("{}: no bind response\n{}", c.name, lb.report(&[], &[c])));
        assert_eq!(text(&resp, "command"), "bind_transceiver_resp", "{resp}");
        assert_eq!(num(&resp, "status"), status::ROK, "{resp}");
        assert_eq!(text(&resp, "system_id"), "loadbalancer", "{resp}");
    }
    customers
}

/// Two SMSCs accepting `acme`/`secret`, message ids from 100001 and 200001.
fn two_smscs(dir: &std::path::Path, options: &SmscOptions) -> (Smsc, Smsc) {
    let a = Smsc::start(
        dir,
        "smsc-a",
        &SmscOptions {
            id_base: 100_000,
            ..options.clone()
        },
    );
    let b = Smsc::start(
        dir,
        "smsc-b",
        &SmscOptions {
            id_base: 200_000,
            ..options.clone()
        },
    );
    (a, b)
}

fn account() -> SmscOptions {
    SmscOptions::account(SYSTEM_ID, PASSWORD)
}

/// Asserts that every sequence number in `seqs` got exactly one response (waiting a moment
/// for duplicates first).
fn exactly_one_response_each(esme: &Esme, seqs: &[u64]) {
    sleep(Duration::from_millis(300));
    for &seq in seqs {
        let n = esme.responses_to(seq).len();
        assert_eq!(n, 1, "seq {seq}: {n} responses\n{}", esme.report());
    }
}

#[test]
fn mux_three_customers_share_one_bind_per_provider() {
    let dir = test_dir("smpp-mux-three");
    let (a, b) = two_smscs(&dir, &account());
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(true, &[a.port, b.port]));
    let mut customers = bound_customers(&dir, &lb, 3);
    // The first customer's bind made the balancer bind to every provider.
    for s in [&a, &b] {
        let binds = s.wait_binds(1, STEP);
        assert_eq!(binds.len(), 1, "{}", lb.report(&[s], &[]));
        let bind = &binds[0];
        assert_eq!(text(bind, "command"), "bind_transceiver", "{bind}");
        assert_eq!(text(bind, "system_id"), SYSTEM_ID, "{bind}");
        assert_eq!(text(bind, "password"), PASSWORD, "{bind}");
        assert_eq!(num(bind, "interface_version"), 0x34, "{bind}");
    }

    let mut ids = Vec::new();
    for (i, c) in customers.iter_mut().enumerate() {
        let seqs = c.submit(6, &format!("mux-{i}"));
        let responses = c.responses(&seqs, STEP);
        assert_eq!(responses.len(), 6, "{}", lb.report(&[&a, &b], &[c]));
        let got = ok_ids(&responses);
        assert_eq!(got.len(), 6, "{}", lb.report(&[&a, &b], &[c]));
        ids.extend(got);
        exactly_one_response_each(c, &seqs);
    }
    // Every response carries the id the SMSC gave that message; the traffic used both.
    let total = smpp::wait_submits_total(&[&a, &b], 18, STEP);
    assert_eq!(total, 18, "{}", lb.report(&[&a, &b], &[]));
    let (sa, sb) = (a.submits(), b.submits());
    assert!(
        !sa.is_empty() && !sb.is_empty(),
        "{}",
        lb.report(&[&a, &b], &[])
    );
    let given: BTreeSet<String> = sa
        .iter()
        .chain(sb.iter())
        .map(|s| text(s, "message_id"))
        .collect();
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), given);
    // Still exactly one bind per provider.
    assert_eq!(a.bind_attempts_settled(1).len(), 1, "{}", a.report());
    assert_eq!(b.bind_attempts_settled(1).len(), 1, "{}", b.report());

    // The last customer gone, the balancer unbinds from every provider.
    for c in &mut customers {
        let mark = c.command(json!({"op": "unbind"}));
        let resp = c.events().wait_from(mark, STEP, |e| {
            is(e, "recv") && text(e, "command") == "unbind_resp"
        });
        assert!(resp.is_some(), "{}", c.report());
    }
    for s in [&a, &b] {
        let unbind = s.events().wait(STEP, |e| is(e, "unbind") || is(e, "close"));
        assert!(unbind.is_some(), "{}", lb.report(&[s], &[]));
    }
}

#[test]
fn mux_wrong_password_of_a_bound_system_id_is_refused_locally() {
    let dir = test_dir("smpp-mux-password");
    let smsc = Smsc::start(&dir, "smsc", &account());
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(true, &[smsc.port]));
    let mut first = Esme::connect(&dir, "first", lb.smpp(), false);
    first.bind_ok(SYSTEM_ID, PASSWORD);
    smsc.wait_binds(1, STEP);
    let mut second = Esme::connect(&dir, "second", lb.smpp(), false);
    let refused = second.bind(SYSTEM_ID, "guess");
    assert_eq!(
        text(&refused, "command"),
        "bind_transceiver_resp",
        "{refused}"
    );
    assert_eq!(
        num(&refused, "status"),
        status::RINVPASWD,
        "{}",
        lb.report(&[&smsc], &[&second])
    );
    // The same connection may bind again, and the provider saw one bind in all.
    second.bind_ok(SYSTEM_ID, PASSWORD);
    let seqs = second.submit(2, "after-retry");
    assert_eq!(ok_ids(&second.responses(&seqs, STEP)).len(), 2);
    assert_eq!(smsc.bind_attempts_settled(1).len(), 1, "{}", smsc.report());
}

#[test]
fn mux_bind_refused_by_every_provider_reaches_the_customer() {
    let dir = test_dir("smpp-mux-refused");
    let smsc = Smsc::start(&dir, "smsc", &account());
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(true, &[smsc.port]));
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    let refused = esme.bind(SYSTEM_ID, "wrong");
    assert_eq!(
        num(&refused, "status"),
        status::RINVPASWD,
        "{}",
        lb.report(&[&smsc], &[&esme])
    );
    // A new attempt with the right password binds the providers again.
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    assert_eq!(smsc.wait_binds(1, STEP).len(), 1, "{}", smsc.report());
}

#[test]
fn mux_provider_killed_mid_traffic_answers_syserr_then_rebinds() {
    let dir = test_dir("smpp-mux-kill");
    let mut smsc = Smsc::start(
        &dir,
        "smsc",
        &SmscOptions {
            reply_delay_ms: 500,
            ..account()
        },
    );
    // A long response timer: the answers to requests lost with the provider must come at
    // once, not from the timer.
    let config = SmppLbConfig::new(true, &[smsc.port]).key("timeoutResponse", 10_000);
    let lb = SmppLb::start(&dir, &config);
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    smsc.wait_binds(1, STEP);
    let mut all = Vec::new();

    let before = esme.submit(3, "before");
    assert_eq!(ok_ids(&esme.responses(&before, STEP)).len(), 3);
    all.extend(&before);

    // Three requests reach the provider, which dies before answering.
    let in_flight = esme.submit(3, "in-flight");
    all.extend(&in_flight);
    let reached = smsc
        .events()
        .wait_n_from(0, 6, STEP, |e| is(e, "submit_sm"));
    assert_eq!(reached.len(), 6, "{}", smsc.report());
    let killed = Instant::now();
    smsc.kill();
    let lost = esme.responses(&in_flight, Duration::from_secs(3));
    assert_eq!(lost.len(), 3, "{}", lb.report(&[], &[&esme]));
    assert!(
        killed.elapsed() < Duration::from_secs(3),
        "answered by the timer, not at once"
    );
    for r in &lost {
        assert_eq!(num(r, "status"), status::RSYSERR, "{r}");
    }

    // While no provider is bound, requests are answered ESME_RSYSERR at once.
    sleep(Duration::from_millis(100));
    let outage = esme.submit(3, "outage");
    all.extend(&outage);
    let refused = esme.responses(&outage, Duration::from_secs(3));
    assert_eq!(refused.len(), 3, "{}", lb.report(&[], &[&esme]));
    for r in &refused {
        assert_eq!(num(r, "status"), status::RSYSERR, "{r}");
    }

    // The SMSC is back on the same port: the balancer binds again and traffic succeeds.
    let back = smsc.restart("back");
    let rebind = back.wait_binds(1, STEP);
    assert_eq!(rebind.len(), 1, "{}", lb.report(&[&back], &[&esme]));
    assert_eq!(text(&rebind[0], "system_id"), SYSTEM_ID);
    sleep(Duration::from_millis(300));
    let after = esme.submit(3, "after");
    all.extend(&after);
    let ok = ok_ids(&esme.responses(&after, STEP));
    assert_eq!(ok.len(), 3, "{}", lb.report(&[&back], &[&esme]));

    // No request without exactly one response.
    exactly_one_response_each(&esme, &all);
    assert_eq!(all.len(), 12);
}

#[test]
fn mux_unanswered_request_gets_syserr_after_timeout_response() {
    let dir = test_dir("smpp-mux-timer");
    let smsc = Smsc::start(
        &dir,
        "smsc",
        &SmscOptions {
            reply: "silent",
            ..account()
        },
    );
    let config = SmppLbConfig::new(true, &[smsc.port]).key("timeoutResponse", 500);
    let lb = SmppLb::start(&dir, &config);
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    let sent = Instant::now();
    let seqs = esme.submit(3, "never-answered");
    let responses = esme.responses(&seqs, STEP);
    let elapsed = sent.elapsed();
    assert_eq!(responses.len(), 3, "{}", lb.report(&[&smsc], &[&esme]));
    for r in &responses {
        assert_eq!(text(r, "command"), "submit_sm_resp", "{r}");
        assert_eq!(num(r, "status"), status::RSYSERR, "{r}");
    }
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(3),
        "answered after {elapsed:?}"
    );
    assert_eq!(smsc.wait_submits(3, STEP).len(), 3, "{}", smsc.report());
    exactly_one_response_each(&esme, &seqs);
}

#[test]
fn mux_enquire_link_to_idle_customer_and_provider() {
    let dir = test_dir("smpp-mux-enquire");
    let smsc = Smsc::start(&dir, "smsc", &account());
    let config = SmppLbConfig::new(true, &[smsc.port]).key("timeoutEnquire", 300);
    let lb = SmppLb::start(&dir, &config);
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    let to_customer = esme.wait_received("enquire_link", 1, Duration::from_secs(3));
    assert_eq!(to_customer.len(), 1, "{}", lb.report(&[], &[&esme]));
    let to_provider = smsc
        .events()
        .wait(Duration::from_secs(3), |e| is(e, "enquire_link"));
    assert!(to_provider.is_some(), "{}", lb.report(&[&smsc], &[]));
    // Answered, both sides stay: traffic still flows.
    sleep(Duration::from_millis(700));
    let seqs = esme.submit(1, "after-idle");
    assert_eq!(
        ok_ids(&esme.responses(&seqs, STEP)).len(),
        1,
        "{}",
        lb.report(&[&smsc], &[&esme])
    );
    // The customer's own enquire_link is answered.
    let mark = esme.command(json!({"op": "enquire_link"}));
    let answer = esme.events().wait_from(mark, STEP, |e| {
        is(e, "recv") && text(e, "command") == "enquire_link_resp"
    });
    assert!(answer.is_some(), "{}", esme.report());
}

#[test]
fn mux_receipts_reach_the_customer_that_submitted() {
    let dir = test_dir("smpp-mux-receipts");
    let (a, b) = two_smscs(
        &dir,
        &SmscOptions {
            receipts_ms: Some(200),
            ..account()
        },
    );
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(true, &[a.port, b.port]));
    let mut customers = bound_customers(&dir, &lb, 3);
    a.wait_binds(1, STEP);
    b.wait_binds(1, STEP);
    let mut ids: Vec<Vec<String>> = Vec::new();
    for (i, c) in customers.iter_mut().enumerate() {
        let seqs = c.submit_with(4, &format!("dlr-{i}"), json!({"registered_delivery": 1}));
        let got = ok_ids(&c.responses(&seqs, STEP));
        assert_eq!(got.len(), 4, "{}", lb.report(&[&a, &b], &[c]));
        ids.push(got);
    }
    for (c, own) in customers.iter().zip(&ids) {
        let receipts = c.wait_received("deliver_sm", 4, STEP);
        assert_eq!(receipts.len(), 4, "{}", lb.report(&[&a, &b], &[c]));
        for r in &receipts {
            let id = text(r, "receipted_message_id");
            assert!(
                own.contains(&id),
                "{} got the receipt of {id}, not one of its {own:?}\n{}",
                c.name,
                lb.report(&[&a, &b], &[c])
            );
        }
    }
    // Each receipt was delivered once and answered back to its SMSC.
    sleep(Duration::from_millis(300));
    for c in &customers {
        assert_eq!(c.received("deliver_sm").len(), 4, "{}", c.report());
    }
    let answered = |s: &Smsc| {
        s.events()
            .matching(|e| is(e, "deliver_sm_resp") && num(e, "status") == status::ROK)
            .len()
    };
    assert_eq!(
        answered(&a) + answered(&b),
        12,
        "{}",
        lb.report(&[&a, &b], &[])
    );
}

#[test]
fn mux_long_message_parts_stay_on_one_provider() {
    let dir = test_dir("smpp-mux-long");
    let (a, b) = two_smscs(&dir, &account());
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(true, &[a.port, b.port]));
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    a.wait_binds(1, STEP);
    b.wait_binds(1, STEP);
    let mut seqs = Vec::new();
    for letter in ["A", "B", "C"] {
        let parts = esme.submit_long(&letter.repeat(400));
        assert_eq!(parts.len(), 3);
        seqs.extend(parts);
        seqs.extend(esme.submit(1, &format!("short-{letter}")));
    }
    let responses = esme.responses(&seqs, STEP);
    assert_eq!(
        ok_ids(&responses).len(),
        12,
        "{}",
        lb.report(&[&a, &b], &[&esme])
    );
    assert_eq!(smpp::wait_submits_total(&[&a, &b], 12, STEP), 12);
    // Where each long message's parts went: all three to one SMSC.
    let mut places: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, s) in [("a", &a), ("b", &b)] {
        for submit in s.submits() {
            if submit["concat"].is_null() {
                continue;
            }
            let letter = text(&submit, "short_message")[..1].to_owned();
            places.entry(letter).or_default().push(name);
        }
    }
    assert_eq!(places.len(), 3, "{places:?}\n{}", lb.report(&[&a, &b], &[]));
    for (letter, at) in &places {
        assert_eq!(at.len(), 3, "message {letter}: {at:?}");
        assert!(
            at.iter().all(|p| *p == at[0]),
            "the parts of message {letter} went to {at:?}\n{}",
            lb.report(&[&a, &b], &[])
        );
    }
    // Round robin still spreads the traffic.
    assert!(!a.submits().is_empty() && !b.submits().is_empty());
}

#[test]
fn mux_provider_window_full_answers_throttled() {
    let dir = test_dir("smpp-mux-throttle");
    let smsc = Smsc::start(
        &dir,
        "smsc",
        &SmscOptions {
            reply_delay_ms: 400,
            ..account()
        },
    );
    let config = SmppLbConfig::new(true, &[smsc.port])
        .key("providerWindow", 1)
        .key("throttleQueueSize", 1);
    let lb = SmppLb::start(&dir, &config);
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    let seqs = esme.submit(6, "burst");
    let responses = esme.responses(&seqs, STEP);
    assert_eq!(responses.len(), 6, "{}", lb.report(&[&smsc], &[&esme]));
    let ok = responses
        .iter()
        .filter(|r| num(r, "status") == status::ROK)
        .count();
    let throttled = responses
        .iter()
        .filter(|r| num(r, "status") == status::RTHROTTLED)
        .count();
    assert_eq!(
        ok + throttled,
        6,
        "other statuses: {responses:?}\n{}",
        lb.report(&[&smsc], &[&esme])
    );
    // One in the window, one waiting in the queue, the other four refused at once.
    assert!(ok >= 1 && throttled >= 3, "{ok} ok, {throttled} throttled");
    assert_eq!(
        smpp::wait_submits_total(&[&smsc], ok, STEP),
        ok,
        "{}",
        smsc.report()
    );
    exactly_one_response_each(&esme, &seqs);
}

#[test]
fn mux_provider_throttled_answer_is_relayed() {
    let dir = test_dir("smpp-mux-throttled-relay");
    let smsc = Smsc::start(
        &dir,
        "smsc",
        &SmscOptions {
            throttle_every: 2,
            ..account()
        },
    );
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(true, &[smsc.port]));
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    let seqs = esme.submit(4, "every-other");
    let responses = esme.responses(&seqs, STEP);
    let statuses: Vec<u64> = responses.iter().map(|r| num(r, "status")).collect();
    assert_eq!(
        statuses,
        vec![
            status::ROK,
            status::RTHROTTLED,
            status::ROK,
            status::RTHROTTLED
        ],
        "{}",
        lb.report(&[&smsc], &[&esme])
    );
}

#[test]
fn mux_tls_customer_on_smpp_ssl_port() {
    let dir = test_dir("smpp-mux-tls");
    let pki = secure::Pki::generate(&dir);
    let smsc = Smsc::start(&dir, "smsc", &account());
    let mut config = SmppLbConfig::new(true, &[smsc.port]);
    config.key_store = Some(pki.key_store.clone());
    let lb = SmppLb::start(&dir, &config);
    let mut esme = Esme::connect(&dir, "esme-tls", lb.smpp_ssl(), true);
    let resp = esme.bind_ok(SYSTEM_ID, PASSWORD);
    assert_eq!(text(&resp, "system_id"), "loadbalancer");
    let seqs = esme.submit(3, "over-tls");
    assert_eq!(
        ok_ids(&esme.responses(&seqs, STEP)).len(),
        3,
        "{}",
        lb.report(&[&smsc], &[&esme])
    );
    assert_eq!(smsc.binds_settled(1).len(), 1, "{}", smsc.report());
    let texts: Vec<String> = smsc
        .wait_submits(3, STEP)
        .iter()
        .map(|s| text(s, "short_message"))
        .collect();
    assert_eq!(texts, ["over-tls-0", "over-tls-1", "over-tls-2"]);
}

#[test]
fn mux_remote_servers_reloaded_at_run_time() {
    let dir = test_dir("smpp-mux-reload");
    let (a, b) = two_smscs(&dir, &account());
    let mut lb = SmppLb::start(&dir, &SmppLbConfig::new(true, &[a.port]));
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    assert_eq!(a.wait_binds(1, STEP).len(), 1);
    assert!(b.bind_attempts().is_empty());

    // Added: the new provider is bound for the bound system_id and takes traffic.
    lb.reload_remote_servers(&[a.port, b.port]);
    let binds = b.wait_binds(1, STEP);
    assert_eq!(binds.len(), 1, "{}", lb.report(&[&b], &[]));
    assert_eq!(text(&binds[0], "system_id"), SYSTEM_ID);
    sleep(Duration::from_millis(200));
    let seqs = esme.submit(6, "two-providers");
    assert_eq!(ok_ids(&esme.responses(&seqs, STEP)).len(), 6);
    assert_eq!(smpp::wait_submits_total(&[&a, &b], 6, STEP), 6);
    assert!(!b.submits().is_empty(), "{}", lb.report(&[&a, &b], &[]));

    // Removed: unbound and closed; the traffic goes to the one left.
    lb.reload_remote_servers(&[a.port]);
    let gone = b.events().wait(STEP, |e| is(e, "unbind") || is(e, "close"));
    assert!(gone.is_some(), "{}", lb.report(&[&b], &[]));
    let on_b = b.submits().len();
    let seqs = esme.submit(4, "one-provider");
    assert_eq!(ok_ids(&esme.responses(&seqs, STEP)).len(), 4);
    assert_eq!(smpp::wait_submits_total(&[&a, &b], 10, STEP), 10);
    assert_eq!(b.submits().len(), on_b, "{}", b.report());
    assert_eq!(a.bind_attempts_settled(1).len(), 1, "{}", a.report());
}

#[test]
fn mux_provider_requests_go_round_robin_over_the_customers() {
    let dir = test_dir("smpp-mux-mo");
    let mut smsc = Smsc::start(&dir, "smsc", &account());
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(true, &[smsc.port]));
    let customers = bound_customers(&dir, &lb, 2);
    smsc.wait_binds(1, STEP);
    smsc.command(json!({"op": "deliver", "text": "mo", "count": 4}));
    for c in &customers {
        let got = c.wait_received("deliver_sm", 2, STEP);
        assert_eq!(got.len(), 2, "{}", lb.report(&[&smsc], &[c]));
    }
    let answered = smsc.events().wait_n_from(0, 4, STEP, |e| {
        is(e, "deliver_sm_resp") && num(e, "status") == status::ROK
    });
    assert_eq!(answered.len(), 4, "{}", smsc.report());
    sleep(Duration::from_millis(200));
    let texts: BTreeSet<String> = customers
        .iter()
        .flat_map(|c| c.received("deliver_sm"))
        .map(|d| text(&d, "short_message"))
        .collect();
    assert_eq!(texts.len(), 4, "each delivered once: {texts:?}");
}

#[test]
fn mux_submit_to_all_delivers_to_every_customer_and_answers_once() {
    let dir = test_dir("smpp-mux-to-all");
    let mut smsc = Smsc::start(&dir, "smsc", &account());
    let config = SmppLbConfig::new(true, &[smsc.port]).key("toNodeAlgorithmClass", "submit-to-all");
    let lb = SmppLb::start(&dir, &config);
    let customers = bound_customers(&dir, &lb, 3);
    smsc.wait_binds(1, STEP);
    smsc.command(json!({"op": "deliver", "text": "to-everyone"}));
    for c in &customers {
        let got = c.wait_received("deliver_sm", 1, STEP);
        assert_eq!(got.len(), 1, "{}", lb.report(&[&smsc], &[c]));
        assert_eq!(text(&got[0], "short_message"), "to-everyone");
    }
    // The first customer response goes back; the others are dropped.
    sleep(Duration::from_millis(500));
    let answers = smsc.events().matching(|e| is(e, "deliver_sm_resp"));
    assert_eq!(answers.len(), 1, "{}", smsc.report());
    assert_eq!(num(&answers[0], "status"), status::ROK);
}

#[test]
fn mux_active_standby_uses_the_first_bound_provider() {
    let dir = test_dir("smpp-mux-standby");
    let (mut a, b) = two_smscs(&dir, &account());
    let config = SmppLbConfig::new(true, &[a.port, b.port])
        .key("toProviderAlgorithmClass", "active-standby");
    let lb = SmppLb::start(&dir, &config);
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    a.wait_binds(1, STEP);
    b.wait_binds(1, STEP);
    // The SMSCs log a bind before they answer it: let the answers arrive, or the first
    // request could find only one of them bound yet.
    sleep(Duration::from_millis(300));
    let seqs = esme.submit(4, "active");
    assert_eq!(ok_ids(&esme.responses(&seqs, STEP)).len(), 4);
    assert_eq!(smpp::wait_submits_total(&[&a, &b], 4, STEP), 4);
    assert_eq!(a.submits().len(), 4, "{}", lb.report(&[&a, &b], &[]));
    assert!(b.submits().is_empty());
    // The active one gone, the standby takes the traffic.
    a.kill();
    sleep(Duration::from_millis(300));
    let seqs = esme.submit(3, "standby");
    let responses = esme.responses(&seqs, STEP);
    assert_eq!(
        ok_ids(&responses).len(),
        3,
        "{}",
        lb.report(&[&b], &[&esme])
    );
    assert_eq!(
        smpp::wait_submits_total(&[&b], 3, STEP),
        3,
        "{}",
        b.report()
    );
}

#[test]
fn mux_statistics_and_management_view() {
    let dir = test_dir("smpp-mux-stats");
    let smsc = Smsc::start(&dir, "smsc", &account());
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(true, &[smsc.port]));
    let mut customers = bound_customers(&dir, &lb, 2);
    smsc.wait_binds(1, STEP);
    for (i, c) in customers.iter_mut().enumerate() {
        let seqs = c.submit(3, &format!("counted-{i}"));
        assert_eq!(ok_ids(&c.responses(&seqs, STEP)).len(), 3);
    }
    let stat = |field: &str| {
        lb.lbstat()
            .and_then(|s| s["Metrics"][field].as_u64())
            .unwrap_or_else(|| panic!("no {field} in /lbstat: {:?}", lb.lbstat()))
    };
    // Mux mode: the customers plus one for the provider side.
    assert_eq!(stat("NumberOfActiveSmppConnections"), 3);
    assert!(stat("NumberOfSmppRequestsToServer") >= 6);
    assert!(stat("NumberOfSmppBytesToServer") > 0);
    assert!(stat("NumberOfSmppBytesToClient") > 0);
    let info = lb.lbinfo().expect("/lbinfo");
    let servers = info["Nodes info"]["smppRemoteServers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(servers.len(), 1, "{info}");
    assert_eq!(
        servers[0]["properties"]["smppPort"],
        smsc.port.to_string(),
        "{info}"
    );
    let metrics = common::http_get(lb.management(), "/metrics").expect("/metrics");
    assert!(metrics.contains("switchboard_smpp_"), "{metrics}");
}
