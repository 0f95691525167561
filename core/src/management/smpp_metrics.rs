//! The SMPP balancer's families in `/metrics` (Prometheus text format 0.0.4): PDUs received
//! by command, the balancer's own answers by `command_status`, octets and requests written
//! each way, open connections, losses, rebinds, timeouts and receipts, then per provider
//! (`host:port`) and per customer (`system_id`) traffic, windows, queues and response-time
//! histograms. Written only while SMPP runs.

use super::{escape, histogram, write_family, ManagementView};
use crate::smpp::CommandStatus;
use crate::smpp_proxy::stats::SmppPeerTraffic;
use crate::stats::ResponseTimes;
use std::collections::BTreeMap;

/// Appends the SMPP families to `out`.
pub(super) fn write(out: &mut String, view: &ManagementView<'_>) {
    let s = view.smpp;
    let v = &view.smpp_view;
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        write_family(out, name, kind, help, samples);
    };
    let by_command = |map: &BTreeMap<String, u64>| -> Vec<(String, u64)> {
        map.iter()
            .map(|(c, n)| (format!("{{command=\"{}\"}}", escape(c)), *n))
            .collect()
    };
    family(
        "switchboard_smpp_requests_total",
        "counter",
        "SMPP requests received from customers and providers, by command.",
        &by_command(&s.requests_by_command),
    );
    family(
        "switchboard_smpp_responses_total",
        "counter",
        "SMPP responses received from customers and providers, by command.",
        &by_command(&s.responses_by_command),
    );
    let answered: Vec<_> = s
        .answered_by_balancer
        .iter()
        .map(|(status, n)| (status_labels(*status), *n))
        .collect();
    family(
        "switchboard_smpp_balancer_answers_total",
        "counter",
        "SMPP requests the balancer answered itself (timeouts, no bound provider, throttling, invalid PDUs), by command_status.",
        &answered,
    );
    family(
        "switchboard_smpp_bytes_total",
        "counter",
        "SMPP PDU octets written, by direction.",
        &[
            ("{direction=\"to_server\"}".to_owned(), s.bytes_to_server),
            ("{direction=\"to_client\"}".to_owned(), s.bytes_to_client),
        ],
    );
    family(
        "switchboard_smpp_requests_sent_total",
        "counter",
        "SMPP requests written, by direction (customer binds of mux mode included toward servers).",
        &[
            ("{direction=\"to_server\"}".to_owned(), s.requests_to_server),
            ("{direction=\"to_client\"}".to_owned(), s.requests_to_client),
        ],
    );
    family(
        "switchboard_smpp_connections",
        "gauge",
        "Open SMPP connections, by side.",
        &[
            (
                "{side=\"customer\"}".to_owned(),
                v.customer_connections as u64,
            ),
            (
                "{side=\"provider\"}".to_owned(),
                v.provider_connections as u64,
            ),
        ],
    );
    for (name, help, value) in [
        (
            "switchboard_smpp_unbound_connections_closed_total",
            "Customer connections closed because they did not bind within timeoutConnection.",
            s.unbound_connections_closed,
        ),
        (
            "switchboard_smpp_response_timeouts_total",
            "Forwarded SMPP requests unanswered within timeoutResponse (answered ESME_RSYSERR by the balancer).",
            s.response_timeouts,
        ),
        (
            "switchboard_smpp_provider_losses_total",
            "Provider connections lost (closed, reset, unbound or silent to enquire_link).",
            s.provider_losses,
        ),
        (
            "switchboard_smpp_rebinds_total",
            "Successful provider binds after a loss.",
            s.rebinds,
        ),
    ] {
        family(name, "counter", help, &[(String::new(), value)]);
    }
    family(
        "switchboard_smpp_receipts_total",
        "counter",
        "Delivery receipts from providers, by whether their message id was in the receipt table.",
        &[
            ("{result=\"matched\"}".to_owned(), s.receipts_matched),
            ("{result=\"unmatched\"}".to_owned(), s.receipts_unmatched),
        ],
    );
    family(
        "switchboard_smpp_receipt_entries",
        "gauge",
        "Message ids remembered in the receipt table.",
        &[(String::new(), v.receipt_entries as u64)],
    );

    let provider = |key: &str| format!("{{provider=\"{}\"}}", escape(key));
    let customer = |key: &str| format!("{{system_id=\"{}\"}}", escape(key));
    let per = |map: &BTreeMap<String, SmppPeerTraffic>,
               label: &dyn Fn(&str) -> String,
               f: fn(&SmppPeerTraffic) -> u64| {
        map.iter()
            .map(|(k, t)| (label(k), f(t)))
            .collect::<Vec<_>>()
    };
    let gauge = |map: &BTreeMap<String, usize>, label: &dyn Fn(&str) -> String| {
        map.iter()
            .map(|(k, n)| (label(k), *n as u64))
            .collect::<Vec<_>>()
    };
    family(
        "switchboard_smpp_provider_requests_total",
        "counter",
        "SMPP requests forwarded to each provider.",
        &per(&s.per_provider, &provider, |t| t.requests),
    );
    family(
        "switchboard_smpp_provider_responses_total",
        "counter",
        "SMPP responses from each provider to forwarded requests.",
        &per(&s.per_provider, &provider, |t| t.responses),
    );
    family(
        "switchboard_smpp_provider_error_responses_total",
        "counter",
        "SMPP responses from each provider with a command_status other than ESME_ROK.",
        &per(&s.per_provider, &provider, |t| t.error_responses),
    );
    family(
        "switchboard_smpp_provider_throttled_total",
        "counter",
        "SMPP responses from each provider with ESME_RTHROTTLED.",
        &per(&s.per_provider, &provider, |t| t.throttled),
    );
    family(
        "switchboard_smpp_provider_window",
        "gauge",
        "SMPP requests forwarded to each provider and not answered yet.",
        &gauge(&v.provider_windows, &provider),
    );
    family(
        "switchboard_smpp_provider_queue",
        "gauge",
        "SMPP requests waiting in each provider's throttling queue.",
        &gauge(&v.provider_queues, &provider),
    );
    family(
        "switchboard_smpp_customer_requests_total",
        "counter",
        "SMPP requests forwarded to the customers of each system_id.",
        &per(&s.per_customer, &customer, |t| t.requests),
    );
    family(
        "switchboard_smpp_customer_responses_total",
        "counter",
        "SMPP responses from the customers of each system_id to forwarded requests.",
        &per(&s.per_customer, &customer, |t| t.responses),
    );
    family(
        "switchboard_smpp_customer_window",
        "gauge",
        "SMPP requests forwarded to the customers of each system_id and not answered yet.",
        &gauge(&v.customer_windows, &customer),
    );
    histogram(
        out,
        "switchboard_smpp_provider_response_seconds",
        "Time from forwarding an SMPP request to a provider to its response.",
        &times(&s.per_provider, &provider),
    );
    histogram(
        out,
        "switchboard_smpp_customer_response_seconds",
        "Time from forwarding an SMPP request to a customer to its response.",
        &times(&s.per_customer, &customer),
    );
}

/// One response-time series per peer of `map`.
fn times<'m>(
    map: &'m BTreeMap<String, SmppPeerTraffic>,
    label: &dyn Fn(&str) -> String,
) -> Vec<(String, &'m ResponseTimes)> {
    map.iter()
        .map(|(k, t)| (label(k), &t.response_times))
        .collect()
}

/// `{status="0x00000008",name="ESME_RSYSERR"}`; the name is left out for a status SMPP 3.4
/// does not name.
fn status_labels(status: u32) -> String {
    match CommandStatus(status).name() {
        Some(name) => format!("{{status=\"0x{status:08X}\",name=\"{name}\"}}"),
        None => format!("{{status=\"0x{status:08X}\"}}"),
    }
}
