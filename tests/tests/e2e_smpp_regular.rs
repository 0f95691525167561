//! End-to-end SMPP balancing in regular mode (`muxMode` false): one provider connection per
//! customer, bound with the customer's own credentials, with binds, requests, responses,
//! mobile-originated deliver_sm and unbinds relayed both ways; a lost provider replaced by
//! another, or the customer unbound when none is left (behaviour reference §6). The SMSC is
//! npm's `smpp` server (`tests/peers/smsc.js`), the customers PyPI's `smpplib`
//! (`tests/peers/esme.py`).

mod common;
#[path = "common/smpp.rs"]
mod smpp;

use common::test_dir;
use serde_json::json;
use smpp::{is, num, status, text, Esme, SmppLb, SmppLbConfig, Smsc, SmscOptions, STEP};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The customers of these tests: (system_id, password).
const ACCOUNTS: [(&str, &str); 3] = [("alice", "pa"), ("bob", "pb"), ("carol", "pc")];

fn accounts() -> SmscOptions {
    SmscOptions {
        accounts: ACCOUNTS
            .iter()
            .map(|(i, p)| ((*i).to_owned(), (*p).to_owned()))
            .collect(),
        ..SmscOptions::default()
    }
}

#[test]
fn regular_each_customer_gets_its_own_provider_bind() {
    let dir = test_dir("smpp-regular-own");
    let mut smsc = Smsc::start(&dir, "smsc", &accounts());
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(false, &[smsc.port]));
    let mut customers = Vec::new();
    for (id, password) in ACCOUNTS {
        let mut c = Esme::connect(&dir, id, lb.smpp(), false);
        let resp = c.bind_ok(id, password);
        // The provider's own bind_resp, relayed with the customer's sequence number.
        assert_eq!(text(&resp, "system_id"), "smsc", "{resp}");
        customers.push(c);
    }
    let binds = smsc.binds_settled(3);
    assert_eq!(binds.len(), 3, "{}", smsc.report());
    let mut conns = Vec::new();
    for (id, password) in ACCOUNTS {
        let bind = binds
            .iter()
            .find(|b| text(b, "system_id") == id)
            .unwrap_or_else(|| panic!("no bind of {id}\n{}", smsc.report()));
        assert_eq!(text(bind, "password"), password, "{bind}");
        assert_eq!(text(bind, "command"), "bind_transceiver", "{bind}");
        conns.push(num(bind, "conn"));
    }
    let distinct: std::collections::BTreeSet<u64> = conns.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "one connection per customer");

    // Requests and responses relayed, each on the customer's own provider connection.
    let mut sent = 0;
    for (i, c) in customers.iter_mut().enumerate() {
        let source = format!("44770090010{i}");
        let seqs = c.submit_with(2, ACCOUNTS[i].0, json!({"source": source}));
        let responses = c.responses(&seqs, STEP);
        assert_eq!(responses.len(), 2, "{}", lb.report(&[&smsc], &[c]));
        for r in &responses {
            assert_eq!(num(r, "status"), status::ROK, "{r}");
            assert!(!text(r, "message_id").is_empty(), "{r}");
        }
        sent += 2;
        assert_eq!(
            smsc.wait_submits(sent, STEP).len(),
            sent,
            "{}",
            smsc.report()
        );
        for s in smsc
            .submits()
            .iter()
            .filter(|s| text(s, "source_addr") == source)
        {
            assert_eq!(num(s, "conn"), conns[i], "{s}");
        }
    }
    assert_eq!(smsc.submits().len(), 6);

    // A deliver_sm from the SMSC reaches the customer of that connection only; its answer
    // goes back.
    for (i, (id, _)) in ACCOUNTS.iter().enumerate() {
        smsc.command(json!({"op": "deliver", "conn": conns[i], "text": format!("mo-for-{id}")}));
    }
    for (c, (id, _)) in customers.iter().zip(ACCOUNTS) {
        let got = c.wait_received("deliver_sm", 1, STEP);
        assert_eq!(got.len(), 1, "{}", lb.report(&[&smsc], &[c]));
        assert_eq!(text(&got[0], "short_message"), format!("mo-for-{id}"));
    }
    let answered = smsc.events().wait_n_from(0, 3, STEP, |e| {
        is(e, "deliver_sm_resp") && num(e, "status") == status::ROK
    });
    assert_eq!(answered.len(), 3, "{}", smsc.report());
    sleep(Duration::from_millis(200));
    for c in &customers {
        assert_eq!(c.received("deliver_sm").len(), 1, "{}", c.report());
    }
}

#[test]
fn regular_refused_bind_is_relayed() {
    let dir = test_dir("smpp-regular-refused");
    let smsc = Smsc::start(&dir, "smsc", &accounts());
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(false, &[smsc.port]));
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    let resp = esme.bind("alice", "wrong");
    assert_eq!(text(&resp, "command"), "bind_transceiver_resp", "{resp}");
    assert_eq!(
        num(&resp, "status"),
        status::RINVPASWD,
        "{}",
        lb.report(&[&smsc], &[&esme])
    );
    let attempt = smsc.bind_attempts_settled(1);
    assert_eq!(attempt.len(), 1, "{}", smsc.report());
    assert_eq!(text(&attempt[0], "password"), "wrong");
}

#[test]
fn regular_no_provider_reachable_answers_syserr() {
    let dir = test_dir("smpp-regular-none");
    let dead = common::free_port();
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(false, &[dead]));
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    let resp = esme.bind("alice", "pa");
    assert_eq!(
        num(&resp, "status"),
        status::RSYSERR,
        "{}",
        lb.report(&[], &[&esme])
    );
}

#[test]
fn regular_unbind_is_relayed() {
    let dir = test_dir("smpp-regular-unbind");
    let smsc = Smsc::start(&dir, "smsc", &accounts());
    let lb = SmppLb::start(&dir, &SmppLbConfig::new(false, &[smsc.port]));
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok("bob", "pb");
    // Regular mode counts the customer and its provider connection.
    let active = lb
        .lbstat()
        .and_then(|s| s["Metrics"]["NumberOfActiveSmppConnections"].as_u64());
    assert_eq!(active, Some(2), "{:?}", lb.lbstat());
    let mark = esme.command(json!({"op": "unbind"}));
    let resp = esme.events().wait_from(mark, STEP, |e| {
        is(e, "recv") && text(e, "command") == "unbind_resp"
    });
    assert!(resp.is_some(), "{}", lb.report(&[&smsc], &[&esme]));
    assert!(smsc.events().wait(STEP, |e| is(e, "unbind")).is_some());
    assert!(esme.closed_within(mark, STEP), "{}", esme.report());
}

#[test]
fn regular_lost_provider_is_replaced_by_another() {
    let dir = test_dir("smpp-regular-lost");
    let a = Smsc::start(&dir, "smsc-a", &accounts());
    let b = Smsc::start(
        &dir,
        "smsc-b",
        &SmscOptions {
            id_base: 200_000,
            ..accounts()
        },
    );
    let config = SmppLbConfig::new(false, &[a.port, b.port])
        .key("reconnectPeriod", 1000)
        .key("timeoutResponse", 10_000);
    let lb = SmppLb::start(&dir, &config);
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok("carol", "pc");
    let deadline = Instant::now() + STEP;
    while a.binds().is_empty() && b.binds().is_empty() && Instant::now() < deadline {
        sleep(Duration::from_millis(20));
    }
    let (mut used, other) = if a.binds().is_empty() { (b, a) } else { (a, b) };
    assert_eq!(used.binds_settled(1).len(), 1);
    let seqs = esme.submit(2, "first");
    assert_eq!(esme.responses(&seqs, STEP).len(), 2);

    used.kill();
    sleep(Duration::from_millis(100));
    let killed = Instant::now();
    let seqs = esme.submit(2, "while-lost");
    let responses = esme.responses(&seqs, Duration::from_secs(3));
    assert_eq!(responses.len(), 2, "{}", lb.report(&[], &[&esme]));
    assert!(killed.elapsed() < Duration::from_secs(3));
    for r in &responses {
        assert_eq!(num(r, "status"), status::RSYSERR, "{r}");
    }
    // Bound again elsewhere with the stored credentials.
    let binds = other.wait_binds(1, STEP);
    assert_eq!(binds.len(), 1, "{}", lb.report(&[&other], &[&esme]));
    assert_eq!(text(&binds[0], "system_id"), "carol");
    assert_eq!(text(&binds[0], "password"), "pc");
    sleep(Duration::from_millis(300));
    let seqs = esme.submit(2, "moved");
    let responses = esme.responses(&seqs, STEP);
    assert!(
        responses.iter().all(|r| num(r, "status") == status::ROK) && responses.len() == 2,
        "{}",
        lb.report(&[&other], &[&esme])
    );
    assert_eq!(other.wait_submits(2, STEP).len(), 2, "{}", other.report());
    // The customer stayed on its connection throughout.
    assert!(esme.received("unbind").is_empty(), "{}", esme.report());
}

#[test]
fn regular_customer_unbound_when_no_provider_can_be_bound() {
    let dir = test_dir("smpp-regular-gone");
    let mut smsc = Smsc::start(&dir, "smsc", &accounts());
    let config = SmppLbConfig::new(false, &[smsc.port]).key("reconnectPeriod", 200);
    let lb = SmppLb::start(&dir, &config);
    let mut esme = Esme::connect(&dir, "esme", lb.smpp(), false);
    esme.bind_ok("alice", "pa");
    let mark = esme.events().len();
    smsc.kill();
    let unbind = esme.events().wait_from(mark, STEP, |e| {
        is(e, "recv") && text(e, "command") == "unbind"
    });
    assert!(unbind.is_some(), "{}", lb.report(&[], &[&esme]));
    assert!(esme.closed_within(mark, STEP), "{}", esme.report());
}
