//! The SMPP balancer's settings, read from `<smpp>` and `<ssl>` (behaviour reference §8.4,
//! §6.5; docs/decisions.md §12).

use crate::config::{Config, HostPort, SmppToNodeAlgorithm, SmppToProviderAlgorithm};
use std::net::IpAddr;
use std::time::Duration;

/// Everything the SMPP connection policy needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmppSettings {
    /// `smppPort` or `smppSslPort` is set.
    pub enabled: bool,
    /// `muxMode`.
    pub mux_mode: bool,
    /// `remoteServers`, in configured order.
    pub remote_servers: Vec<HostPort>,
    /// Outgoing connections leave from `smppInternalHost`, else `smppHost` (an IP literal).
    pub bind_ip: Option<IpAddr>,
    /// `<ssl><terminateTLSTraffic>`: providers are reached in plain TCP even for TLS
    /// customers.
    pub terminate_tls: bool,
    /// `timeoutConnection`: a customer must bind within it.
    pub session_init: Duration,
    /// `timeoutResponse`: a forwarded request must be answered within it.
    pub response: Duration,
    /// `timeoutEnquire`: a connection that received nothing for this long gets an
    /// `enquire_link`.
    pub enquire: Duration,
    /// `timeoutConnectionCheckClientSide`: how long a provider (and in regular mode a
    /// customer) may stay silent after an `enquire_link`.
    pub check_provider: Duration,
    /// `timeoutConnectionCheckServerSide`: the same for customers in mux mode.
    pub check_customer: Duration,
    /// `reconnectPeriod`: between provider reconnection attempts.
    pub reconnect: Duration,
    /// `toProviderAlgorithmClass`.
    pub to_provider: SmppToProviderAlgorithm,
    /// `toNodeAlgorithmClass`.
    pub to_node: SmppToNodeAlgorithm,
    /// `maxPduSize`.
    pub max_pdu: usize,
    /// `providerWindow` (`None`: no limit).
    pub window: Option<usize>,
    /// `providerRate` in requests per second (`None`: no limit).
    pub rate: Option<u32>,
    /// `throttleQueueSize`.
    pub queue_size: usize,
    /// `throttleQueueTimeout`.
    pub queue_timeout: Duration,
    /// `receiptTableSize`.
    pub receipt_capacity: usize,
    /// `receiptTimeout`.
    pub receipt_ttl: Duration,
}

impl SmppSettings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> SmppSettings {
        let s = &config.smpp;
        let enabled =
            s.smpp_port.is_some_and(|p| p != 0) || s.smpp_ssl_port.is_some_and(|p| p != 0);
        let bind_ip = s
            .smpp_internal_host
            .as_ref()
            .or(s.smpp_host.as_ref())
            .and_then(|h| h.trim_matches(['[', ']']).parse().ok());
        let nonzero = |n: u32| (n > 0).then_some(n);
        SmppSettings {
            enabled,
            mux_mode: s.mux_mode,
            remote_servers: s.remote_servers.clone(),
            bind_ip,
            terminate_tls: config.ssl.terminate_tls_traffic,
            session_init: s.timeout_connection,
            response: s.timeout_response,
            enquire: s.timeout_enquire,
            check_provider: s.timeout_connection_check_client_side,
            check_customer: if s.mux_mode {
                s.timeout_connection_check_server_side
            } else {
                s.timeout_connection_check_client_side
            },
            reconnect: s.reconnect_period,
            to_provider: s.to_provider_algorithm,
            to_node: s.to_node_algorithm,
            max_pdu: s.max_pdu_size as usize,
            window: nonzero(s.provider_window).map(|n| n as usize),
            rate: nonzero(s.provider_rate),
            queue_size: s.throttle_queue_size as usize,
            queue_timeout: s.throttle_queue_timeout,
            receipt_capacity: s.receipt_table_size as usize,
            receipt_ttl: s.receipt_timeout,
        }
    }
}
