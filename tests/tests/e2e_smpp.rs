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
use smpp::{is, num, status, text, Esme, Smsc, SmscOptions, STEP};
use std::collections::BTreeSet;

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
    assert_eq!(smsc.binds().len(), 1, "{}", smsc.report());

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
