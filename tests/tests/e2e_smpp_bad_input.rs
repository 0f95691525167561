//! End-to-end: what an SMPP customer sends that the balancer must refuse (behaviour reference
//! §6; SMPP 3.4 §2.3, §5.1.2): PDUs invalid in the connection's state (generic_nack
//! ESME_RINVCMDID, the connection closed before a bind), octets that are no PDU and a
//! `command_length` out of bounds (generic_nack ESME_RINVCMDLEN, then closed), a customer that
//! never binds (closed) - while another customer's traffic keeps succeeding. Raw octets come
//! from a `TcpStream`, the well-behaved customer is PyPI's `smpplib` (`tests/peers/esme.py`),
//! the SMSC npm's `smpp` server (`tests/peers/smsc.js`).

mod common;
#[path = "common/smpp.rs"]
mod smpp;

use common::test_dir;
use serde_json::json;
use smpp::{
    bind_body, cmd, is, num, pdu, status, submit_body, text, Esme, RawSmpp, SmppLb, SmppLbConfig,
    Smsc, SmscOptions, STEP,
};
use std::path::Path;
use std::time::Duration;

const SYSTEM_ID: &str = "acme";
const PASSWORD: &str = "secret";

/// An SMSC and a mux balancer in front of it, with `timeoutConnection` 1000 ms.
fn setup(dir: &Path) -> (Smsc, SmppLb) {
    let smsc = Smsc::start(dir, "smsc", &SmscOptions::account(SYSTEM_ID, PASSWORD));
    let config = SmppLbConfig::new(true, &[smsc.port]).key("timeoutConnection", 1000);
    let lb = SmppLb::start(dir, &config);
    (smsc, lb)
}

/// A customer bound through the balancer whose submit_sm must keep succeeding.
fn good_customer(dir: &Path, lb: &SmppLb) -> Esme {
    let mut esme = Esme::connect(dir, "good", lb.smpp(), false);
    esme.bind_ok(SYSTEM_ID, PASSWORD);
    esme
}

fn still_works(esme: &mut Esme, label: &str, lb: &SmppLb) {
    let seqs = esme.submit(2, label);
    let responses = esme.responses(&seqs, STEP);
    assert!(
        responses.len() == 2 && responses.iter().all(|r| num(r, "status") == status::ROK),
        "{}",
        lb.report(&[], &[esme])
    );
}

/// The body of an outbind (§4.1.7.1): system_id, password.
fn outbind_body(system_id: &str, password: &str) -> Vec<u8> {
    format!("{system_id}\0{password}\0").into_bytes()
}

/// A raw connection bound as a transceiver.
fn raw_bound(lb: &SmppLb) -> RawSmpp {
    let mut raw = RawSmpp::connect(lb.smpp());
    raw.send(&pdu(
        cmd::BIND_TRANSCEIVER,
        0,
        1,
        &bind_body(SYSTEM_ID, PASSWORD),
    ));
    let resp = raw.read_pdu(STEP).expect("bind_resp");
    assert_eq!(resp.command_id, cmd::BIND_TRANSCEIVER_RESP);
    assert_eq!(resp.status, 0);
    assert_eq!(resp.seq, 1);
    raw
}

#[test]
fn before_bind_enquire_link_is_answered_and_submit_sm_refused_then_closed() {
    let dir = test_dir("smpp-bad-open");
    let (_smsc, lb) = setup(&dir);
    let mut raw = RawSmpp::connect(lb.smpp());
    raw.send(&pdu(cmd::ENQUIRE_LINK, 0, 5, &[]));
    let resp = raw.read_pdu(STEP).expect("enquire_link_resp");
    assert_eq!(
        (resp.command_id, resp.status, resp.seq),
        (cmd::ENQUIRE_LINK_RESP, 0, 5)
    );
    raw.send(&pdu(cmd::SUBMIT_SM, 0, 7, &submit_body("too early")));
    let nack = raw.read_pdu(STEP).expect("generic_nack");
    assert_eq!(nack.command_id, cmd::GENERIC_NACK, "{nack:?}");
    assert_eq!(u64::from(nack.status), status::RINVCMDID, "{nack:?}");
    assert_eq!(nack.seq, 7);
    assert!(raw.closed_within(STEP), "still open after the nack");
}

#[test]
fn bound_customer_pdus_invalid_in_state_get_generic_nack() {
    let dir = test_dir("smpp-bad-bound");
    let (smsc, lb) = setup(&dir);
    let mut esme = good_customer(&dir, &lb);
    // deliver_sm goes from a message centre to an ESME, never the other way.
    let mark = esme.command(json!({"op": "deliver", "text": "wrong way"}));
    let sent = esme
        .events()
        .wait_from(mark, STEP, |e| {
            is(e, "sent") && text(e, "command") == "deliver_sm"
        })
        .expect("sent");
    let seq = num(&sent, "seq");
    let nack = esme
        .events()
        .wait_from(mark, STEP, |e| is(e, "recv") && num(e, "seq") == seq)
        .unwrap_or_else(|| panic!("no answer\n{}", lb.report(&[&smsc], &[&esme])));
    assert_eq!(text(&nack, "command"), "generic_nack", "{nack}");
    assert_eq!(num(&nack, "status"), status::RINVCMDID, "{nack}");
    still_works(&mut esme, "after-deliver", &lb);
    assert!(
        smsc.events()
            .matching(|e| is(e, "deliver_sm_resp"))
            .is_empty(),
        "nothing of it reached the SMSC"
    );

    // A second bind, an unknown command id and outbind on a bound connection.
    let mut raw = raw_bound(&lb);
    for (id, seq, body) in [
        (cmd::BIND_TRANSMITTER, 2, bind_body(SYSTEM_ID, PASSWORD)),
        (0x0000_0099, 3, Vec::new()),
        (0x0000_000B, 4, outbind_body(SYSTEM_ID, PASSWORD)),
    ] {
        raw.send(&pdu(id, 0, seq, &body));
        let nack = raw.read_pdu(STEP).expect("generic_nack");
        assert_eq!(nack.command_id, cmd::GENERIC_NACK, "{id:#x}: {nack:?}");
        assert_eq!(
            u64::from(nack.status),
            status::RINVCMDID,
            "{id:#x}: {nack:?}"
        );
        assert_eq!(nack.seq, seq, "{id:#x}");
    }
    // Still bound: a submit_sm goes through.
    raw.send(&pdu(cmd::SUBMIT_SM, 0, 9, &submit_body("still bound")));
    let resp = raw.read_pdu(STEP).expect("submit_sm_resp");
    assert_eq!(
        (resp.command_id, resp.status, resp.seq),
        (cmd::SUBMIT_SM_RESP, 0, 9)
    );
}

/// Sends `bytes` on a new connection (bound first when `bound`); expects generic_nack
/// ESME_RINVCMDLEN and the connection closed, while `good` keeps working.
fn refused_as_bad_length(lb: &SmppLb, good: &mut Esme, bound: bool, bytes: &[u8], label: &str) {
    let mut raw = if bound {
        raw_bound(lb)
    } else {
        RawSmpp::connect(lb.smpp())
    };
    raw.send(bytes);
    let nack = raw
        .read_pdu(STEP)
        .unwrap_or_else(|| panic!("{label}: no answer\n{}", lb.report(&[], &[])));
    assert_eq!(nack.command_id, cmd::GENERIC_NACK, "{label}: {nack:?}");
    assert_eq!(
        u64::from(nack.status),
        status::RINVCMDLEN,
        "{label}: {nack:?}"
    );
    assert!(
        raw.closed_within(STEP),
        "{label}: still open after the nack"
    );
    still_works(good, label, lb);
}

#[test]
fn garbage_and_bad_command_length_get_invcmdlen_and_close() {
    let dir = test_dir("smpp-bad-length");
    let (_smsc, lb) = setup(&dir);
    let mut good = good_customer(&dir, &lb);
    // Text where a PDU belongs: "GET " read as a command_length of 1.2 GB.
    let http = b"GET / HTTP/1.1\r\nHost: smpp\r\n\r\n";
    refused_as_bad_length(&lb, &mut good, false, http, "garbage");
    refused_as_bad_length(&lb, &mut good, true, http, "garbage when bound");
    // command_length 0x7FFFFFFF on an otherwise valid header.
    let mut huge = pdu(cmd::SUBMIT_SM, 0, 3, &submit_body("huge"));
    huge[0..4].copy_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
    refused_as_bad_length(&lb, &mut good, true, &huge, "oversized");
    // A command_length shorter than the header itself.
    let mut short = pdu(cmd::ENQUIRE_LINK, 0, 4, &[]);
    short[0..4].copy_from_slice(&8u32.to_be_bytes());
    refused_as_bad_length(&lb, &mut good, true, &short, "below 16");
}

#[test]
fn customer_that_never_binds_is_closed() {
    let dir = test_dir("smpp-bad-nobind");
    let (_smsc, lb) = setup(&dir);
    let mut raw = RawSmpp::connect(lb.smpp());
    // timeoutConnection is 1000 ms.
    assert!(raw.closed_within(Duration::from_secs(4)), "still open");
}
