//! SMPP balancer statistics behind `/lbstat` (behaviour reference §6.8, §7.1), `/lbinfo`
//! `smppRemoteServers` and `/metrics`. The core is the only writer: counting is a plain add,
//! and management requests read a snapshot ([`SmppView`]).

use crate::smpp::{CommandId, CommandStatus};
use crate::stats::ResponseTimes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Counters of the SMPP traffic the balancer handled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmppStats {
    /// Requests written toward providers (`NumberOfSmppRequestsToServer`), the customer binds
    /// of mux mode included (§6.8).
    pub requests_to_server: u64,
    /// Requests written toward customers (`NumberOfSmppRequestsToClient`).
    pub requests_to_client: u64,
    /// PDU octets written toward providers (`NumberOfSmppBytesToServer`).
    pub bytes_to_server: u64,
    /// PDU octets written toward customers (`NumberOfSmppBytesToClient`).
    pub bytes_to_client: u64,
    /// Requests received from either side, by command name (`submit_sm`, …).
    pub requests_by_command: BTreeMap<String, u64>,
    /// Responses received from either side, by command name (`submit_sm_resp`,
    /// `generic_nack`, …).
    pub responses_by_command: BTreeMap<String, u64>,
    /// Requests the balancer answered itself, by `command_status` (`ESME_RSYSERR` for a
    /// timeout or a request during a rebind, `ESME_RTHROTTLED`, `ESME_RINVCMDID`, …).
    pub answered_by_balancer: BTreeMap<u32, u64>,
    /// Customers closed because they did not bind within `timeoutConnection`.
    pub unbound_connections_closed: u64,
    /// Forwarded requests whose response did not come within `timeoutResponse`.
    pub response_timeouts: u64,
    /// Provider connections lost (closed, reset, or silent to `enquire_link`).
    pub provider_losses: u64,
    /// Successful provider binds after a loss.
    pub rebinds: u64,
    /// Delivery receipts routed to the customer that submitted the message.
    pub receipts_matched: u64,
    /// Delivery receipts whose message id was not in the receipt table (routed by the
    /// to-node algorithm instead).
    pub receipts_unmatched: u64,
    /// Traffic per provider, by `host:port`.
    pub per_provider: BTreeMap<String, SmppPeerTraffic>,
    /// Traffic per customer, by `system_id`.
    pub per_customer: BTreeMap<String, SmppPeerTraffic>,
}

/// What one provider or one customer (`system_id`) exchanged through the balancer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmppPeerTraffic {
    /// Requests forwarded to it.
    pub requests: u64,
    /// Responses it sent back to forwarded requests.
    pub responses: u64,
    /// Responses with a status other than `ESME_ROK`.
    pub error_responses: u64,
    /// Responses with `ESME_RTHROTTLED`.
    pub throttled: u64,
    /// From a request being forwarded to it to its response arriving.
    pub response_times: ResponseTimes,
}

/// Bounds the per-peer maps: only so many distinct keys get their own entry.
const MAX_PEERS: usize = 1024;
/// The key the peers past [`MAX_PEERS`] share.
const OTHER_PEERS: &str = "other";

impl SmppStats {
    /// Counts a PDU received from a peer (a request or a response, by its header).
    pub fn received(&mut self, command_id: CommandId) {
        let map = if command_id.is_response() {
            &mut self.responses_by_command
        } else {
            &mut self.requests_by_command
        };
        bump(map, command_id.name());
    }

    /// Counts a PDU of `len` octets written toward a provider (`request`: it is a request).
    pub fn to_server(&mut self, len: usize, request: bool) {
        self.bytes_to_server += len as u64;
        self.requests_to_server += u64::from(request);
    }

    /// Counts a PDU of `len` octets written toward a customer (`request`: it is a request).
    pub fn to_client(&mut self, len: usize, request: bool) {
        self.bytes_to_client += len as u64;
        self.requests_to_client += u64::from(request);
    }

    /// Counts an answer the balancer gave itself with `status`.
    pub fn answered(&mut self, status: CommandStatus) {
        *self.answered_by_balancer.entry(status.0).or_insert(0) += 1;
    }

    /// The traffic entry of the provider `host:port`.
    pub fn provider(&mut self, key: &str) -> &mut SmppPeerTraffic {
        peer_entry(&mut self.per_provider, key)
    }

    /// The traffic entry of the customer `system_id`.
    pub fn customer(&mut self, key: &str) -> &mut SmppPeerTraffic {
        peer_entry(&mut self.per_customer, key)
    }
}

fn peer_entry<'a>(
    map: &'a mut BTreeMap<String, SmppPeerTraffic>,
    key: &str,
) -> &'a mut SmppPeerTraffic {
    let key = if map.contains_key(key) || map.len() < MAX_PEERS {
        key
    } else {
        OTHER_PEERS
    };
    // Looked up before inserting: the key is copied only the first time it is seen.
    if !map.contains_key(key) {
        map.insert(key.to_owned(), SmppPeerTraffic::default());
    }
    map.get_mut(key).expect("inserted above")
}

/// Adds one to the counter `key`, copying the key only the first time it is seen.
fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

impl SmppPeerTraffic {
    /// Counts a request forwarded to this peer.
    pub fn request(&mut self) {
        self.requests += 1;
    }

    /// Counts this peer's response with `status`, `elapsed` after its request left.
    pub fn response(&mut self, status: CommandStatus, elapsed: Duration) {
        self.responses += 1;
        if status != CommandStatus::ROK {
            self.error_responses += 1;
        }
        if status == CommandStatus::RTHROTTLED {
            self.throttled += 1;
        }
        self.response_times.observe(elapsed);
    }
}

/// A snapshot of the SMPP balancer for the management API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmppView {
    /// Whether SMPP runs (`smppPort` or `smppSslPort` set).
    pub enabled: bool,
    /// `muxMode`.
    pub mux_mode: bool,
    /// Open customer connections (accepted on the SMPP listeners).
    pub customer_connections: usize,
    /// Open provider connections (bound or binding).
    pub provider_connections: usize,
    /// `NumberOfActiveSmppConnections` as the reference counts it (§6.8): in mux mode the
    /// customers plus one when there is any; in regular mode customers plus providers.
    pub active_connections: usize,
    /// The SMPP node map (`/lbinfo` `smppRemoteServers`): configured remote servers, then in
    /// regular mode the heartbeat nodes that advertise `smppPort`.
    pub remote_servers: Vec<RemoteServer>,
    /// Requests forwarded to each provider and not answered yet, by `host:port`.
    pub provider_windows: BTreeMap<String, usize>,
    /// Requests waiting in each provider's throttling queue, by `host:port`.
    pub provider_queues: BTreeMap<String, usize>,
    /// Requests forwarded to each customer (`system_id`) and not answered yet.
    pub customer_windows: BTreeMap<String, usize>,
    /// Entries in the delivery-receipt table.
    pub receipt_entries: usize,
}

/// One entry of the SMPP node map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteServer {
    /// Host as configured (or the node's host name).
    pub host: String,
    /// IP address.
    pub ip: String,
    /// SMPP port.
    pub port: u16,
    /// Connections to it that are bound.
    pub bound_connections: usize,
    /// True for a heartbeat node rather than a configured remote server.
    pub from_heartbeat: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_are_counted_by_command_name_and_bytes_by_direction() {
        let mut s = SmppStats::default();
        s.received(CommandId::SUBMIT_SM);
        s.received(CommandId::SUBMIT_SM);
        s.received(CommandId::SUBMIT_SM_RESP);
        s.to_server(61, true);
        s.to_client(17, false);
        s.answered(CommandStatus::RSYSERR);
        assert_eq!(s.requests_by_command["submit_sm"], 2);
        assert_eq!(s.responses_by_command["submit_sm_resp"], 1);
        assert_eq!((s.bytes_to_server, s.requests_to_server), (61, 1));
        assert_eq!((s.bytes_to_client, s.requests_to_client), (17, 0));
        assert_eq!(s.answered_by_balancer[&8], 1);
    }

    #[test]
    fn peer_maps_are_bounded() {
        let mut s = SmppStats::default();
        for i in 0..MAX_PEERS + 10 {
            s.customer(&format!("c{i}")).request();
        }
        assert_eq!(s.per_customer.len(), MAX_PEERS + 1);
        assert_eq!(s.per_customer[OTHER_PEERS].requests, 10);
        let p = s.provider("127.0.0.1:2775");
        p.request();
        p.response(CommandStatus::RTHROTTLED, Duration::from_millis(3));
        assert_eq!((p.responses, p.error_responses, p.throttled), (1, 1, 1));
    }
}
