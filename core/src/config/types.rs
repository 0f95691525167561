//! The typed, validated configuration. Every field carries the reference's code default when the
//! file does not set it (behaviour reference §8).

use crate::node::Transport;
use regex::Regex;
use std::path::PathBuf;
use std::time::Duration;

/// The whole effective configuration. Build it with [`Config::from_xml`](super::Config::from_xml)
/// or [`Config::embedded_default`](super::Config::embedded_default); read the sections directly.
#[derive(Debug, Clone)]
pub struct Config {
    /// `<common>`: registry timing, management API.
    pub common: CommonConfig,
    /// `<sip>`: the two SIP legs, algorithm and SIP behaviour switches.
    pub sip: SipConfig,
    /// `<http>`: the HTTP balancer.
    pub http: HttpConfig,
    /// `<smpp>`: the SMPP balancer.
    pub smpp: SmppConfig,
    /// `<ssl>`: PEM key material and TLS parameters shared by all TLS listeners.
    pub ssl: SslConfig,
    /// `<sipStack>`: the JAIN-SIP properties that have a Switchboard equivalent.
    pub sip_stack: SipStackConfig,
    /// `<heartbeat>`: the node heartbeat listener.
    pub heartbeat: HeartbeatConfig,
}

/// `<common>` (§8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonConfig {
    /// `host`: heartbeat bind address and default host of both SIP legs. Default `127.0.0.1`.
    pub host: String,
    /// `ipv6Host`: default IPv6 host of both SIP legs. Default `::1`.
    pub ipv6_host: String,
    /// `nodeTimeout`: a node silent this long is removed. Default 8400 ms, minimum 15 ms.
    pub node_timeout: Duration,
    /// `heartbeatInterval`: period of the expiry check. Default 150 ms, minimum 15 ms.
    pub heartbeat_interval: Duration,
    /// `apiPort` (or the documented `statisticPort`): management API port. Default 2006.
    pub api_port: Option<u16>,
    /// `shutdownTimeout`: delay between `/lbstop` and exit. Default 10000 ms.
    pub shutdown_timeout: Duration,
    /// `securityRequired`: `/lbstop` needs `login`/`password`. Default false.
    pub security_required: bool,
    /// `login` for `/lbstop`.
    pub login: Option<String>,
    /// `password` for `/lbstop`.
    pub password: Option<String>,
}

/// A `host[:port]` entry of `extraServerNodes` or `host:port` of `remoteServers`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    /// Host name or address as written.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// One `<routingRulesIpv4|6><rule>` (§1.18).
#[derive(Debug, Clone)]
pub struct RoutingRule {
    /// `ipPattern`, compiled.
    pub ip_pattern: Regex,
    /// `patch`: whether matching addresses get the NAT patch.
    pub patch: bool,
}

/// `<sip>` (§8.2).
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// `<external>`: the leg facing the clients.
    pub external: LegConfig,
    /// `<internal>`: the leg facing the nodes (two-entry mode when it has any port).
    pub internal: LegConfig,
    /// `<algorithm>` plus `subclusterMap` / `earlyDialogWorstCase`.
    pub algorithm: AlgorithmConfig,
    /// `publicIp`: NAT patch address for IPv4.
    pub public_ip: Option<String>,
    /// `publicIpv6`: NAT patch address for IPv6.
    pub public_ipv6: Option<String>,
    /// `isSendTrying`: answer INVITEs with 100 Trying. Default true.
    pub send_trying: bool,
    /// `useIpLoadBalancerAddressInViaHeaders`. Default false.
    pub use_ip_load_balancer_address_in_via: bool,
    /// `performanceTestingMode`: register `extraServerNodes` as permanent nodes. Default false.
    pub performance_testing_mode: bool,
    /// `extraServerNodes` (port defaults to 5060).
    pub extra_server_nodes: Vec<HostPort>,
    /// `blockedValues`: scanner User-Agent/To/From substrings. Default
    /// `sipvicious,sipcli,friendly-scanner`.
    pub blocked_values: Vec<String>,
    /// `isSend5xxResponse`: answer a transaction when its node dies. Default false.
    pub send_5xx_response: bool,
    /// `isSend5xxResponseSatusCode` (sic): status of the no-node answer. Default 503.
    pub send_5xx_status_code: u16,
    /// `isSend5xxResponseReasonHeader`: Reason text; no header when unset.
    pub send_5xx_reason: Option<String>,
    /// `responsesStatusCodeNodeRemoval` (or `responseStatusCodeNodeRemoval`). Default `[503]`.
    pub responses_status_code_node_removal: Vec<u16>,
    /// `maxNumberResponsesWithError`. Default 5.
    pub max_number_responses_with_error: u32,
    /// `maxErrorTime`. Default 300000 ms.
    pub max_error_time: Duration,
    /// `isUseWithNexmo`. Default false.
    pub use_with_nexmo: bool,
    /// `matchingHostnameForRoute`.
    pub matching_hostname_for_route: Option<String>,
    /// `isFilterSubdomain`. Default false.
    pub filter_subdomain: bool,
    /// `internalTransport`: force this transport towards the nodes.
    pub internal_transport: Option<Transport>,
    /// `trafficRampupCyclePeriod`.
    pub traffic_rampup_cycle_period: Option<Duration>,
    /// `trafficPercentageIncrease` (percent, > 0).
    pub traffic_percentage_increase: Option<u32>,
    /// `maxRequestNumberWithoutResponse` (needs `maxResponseTime`).
    pub max_request_number_without_response: Option<u32>,
    /// `maxResponseTime`.
    pub max_response_time: Option<Duration>,
    /// `routingRulesIpv4/rule`, in order.
    pub routing_rules_ipv4: Vec<RoutingRule>,
    /// `routingRulesIpv6/rule`, in order.
    pub routing_rules_ipv6: Vec<RoutingRule>,
    /// `inviteFailoverTimeout`: an INVITE forwarded to a node that has sent no response at all
    /// within this time goes to another node, and the silent node becomes suspect
    /// (docs/decisions.md, "Node failure"). Default 1000 ms. Reloadable.
    pub invite_failover_timeout: Duration,
    /// `startupGracePeriod`: for this long after start, a balancer that knows no live node
    /// does not answer initial requests that arrived over UDP (the caller retransmits and
    /// reaches a node once one registers); `503` afterwards. Default 5000 ms; 0 turns it off.
    pub startup_grace_period: Duration,
    /// `<staticNodes><node>`: nodes that do not send heartbeats, registered at start (and on
    /// reload) as permanent nodes and kept alive by SIP OPTIONS probing.
    pub static_nodes: Vec<StaticNode>,
    /// `<probing>`: active SIP OPTIONS probing of static nodes (always) and of heartbeat nodes
    /// (when `probeHeartbeatNodes` is set).
    pub probing: ProbingConfig,
}

/// One `<sip><staticNodes><node>`: a SIP server that cannot send heartbeats (Asterisk,
/// FreeSWITCH, Kamailio as a registrar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticNode {
    /// `hostName`; defaults to `static-<ip>`.
    pub host_name: String,
    /// `ip`: an IPv4 or IPv6 literal.
    pub ip: std::net::IpAddr,
    /// `udpPort`, `tcpPort`, `tlsPort`, `wsPort`, `wssPort` (at least one).
    pub ports: LegPorts,
    /// `version`. Default `0`.
    pub version: String,
}

/// Which probe replies count as "alive" (Kamailio dispatcher's `ds_ping_reply_codes`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReplyCodes {
    /// Any SIP response proves the node alive (the default).
    #[default]
    Any,
    /// Only these: exact codes (`200`, `404`) or classes (`2xx` is stored as `Class(2)`).
    Listed(Vec<ReplyCode>),
}

/// One entry of [`ReplyCodes::Listed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyCode {
    /// An exact status code.
    Code(u16),
    /// A status class: `2` for `2xx`.
    Class(u16),
}

impl ReplyCodes {
    /// True if a probe answered with `status` counts as a success.
    pub fn accepts(&self, status: u16) -> bool {
        match self {
            ReplyCodes::Any => true,
            ReplyCodes::Listed(list) => list.iter().any(|c| match c {
                ReplyCode::Code(code) => *code == status,
                ReplyCode::Class(class) => status / 100 == *class,
            }),
        }
    }
}

/// `<sip><probing>`: active SIP OPTIONS probing (docs/decisions.md §7, Kamailio-style).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbingConfig {
    /// `probeHeartbeatNodes`: also probe nodes that register by heartbeat. Default false.
    pub probe_heartbeat_nodes: bool,
    /// `interval`: time between two probes of one node; a probe unanswered when the next is
    /// due counts as a failure. Default 5000 ms.
    pub interval: Duration,
    /// `replyCodes`: comma list of codes and classes (`200,2xx,404`); empty means any.
    pub reply_codes: ReplyCodes,
    /// `failureThreshold`: consecutive failed probes that take a node out of rotation.
    /// Default 3.
    pub failure_threshold: u32,
    /// `successThreshold`: consecutive successful probes that bring it back. Default 2.
    pub success_threshold: u32,
}

impl Default for ProbingConfig {
    fn default() -> Self {
        ProbingConfig {
            probe_heartbeat_nodes: false,
            interval: Duration::from_millis(5000),
            reply_codes: ReplyCodes::Any,
            failure_threshold: 3,
            success_threshold: 2,
        }
    }
}

/// `<sip><external>` or `<sip><internal>`: one SIP leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegConfig {
    /// `host`: IPv4 bind address (defaults to `common.host`).
    pub host: String,
    /// `ipv6Host`: IPv6 bind address (defaults to `common.ipv6Host`).
    pub ipv6_host: String,
    /// `udpPort` … `wssPort` (`None` = off; `0` in the file also means off).
    pub ports: LegPorts,
    /// `ipv6UdpPort` … `ipv6WssPort`.
    pub ipv6_ports: LegPorts,
    /// `ipLoadBalancerAddress`: VIPs in front of this leg; the first is used in RR/Via.
    pub ip_load_balancer_addresses: Vec<String>,
    /// `ipv6LoadBalancerAddress`.
    pub ipv6_load_balancer_addresses: Vec<String>,
    /// `ipLoadBalancerUdpPort` … `ipLoadBalancerWssPort`.
    pub ip_load_balancer_ports: LegPorts,
    /// `ipv6LoadBalancerUdpPort` … `ipv6LoadBalancerWssPort`.
    pub ipv6_load_balancer_ports: LegPorts,
}

impl LegConfig {
    /// True if the leg listens on at least one port (IPv4 or IPv6).
    pub fn is_enabled(&self) -> bool {
        self.ports.any() || self.ipv6_ports.any()
    }
}

/// The listening (or IP load balancer) ports of one SIP leg and address family, one per
/// transport; `None` = off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LegPorts {
    /// UDP.
    pub udp: Option<u16>,
    /// TCP.
    pub tcp: Option<u16>,
    /// TLS.
    pub tls: Option<u16>,
    /// WebSocket.
    pub ws: Option<u16>,
    /// Secure WebSocket.
    pub wss: Option<u16>,
}

impl LegPorts {
    /// The port of transport `t`.
    pub const fn get(&self, t: Transport) -> Option<u16> {
        match t {
            Transport::Udp => self.udp,
            Transport::Tcp => self.tcp,
            Transport::Tls => self.tls,
            Transport::Ws => self.ws,
            Transport::Wss => self.wss,
        }
    }

    /// True if at least one transport has a port.
    pub fn any(&self) -> bool {
        Transport::ALL.into_iter().any(|t| self.get(t).is_some())
    }
}

/// The SIP balancing algorithm (§4), selected by `sip/algorithm/algorithmClass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlgorithmKind {
    /// `CallIDAffinityBalancerAlgorithm` / `call-id-affinity` (default).
    CallIdAffinity,
    /// `UserBasedAlgorithm` / `user-based`.
    UserBased,
    /// `ClusterSubdomainAffinityAlgorithm` / `cluster-subdomain`.
    ClusterSubdomain,
    /// `HeaderConsistentHashBalancerAlgorithm` / `header-consistent-hash`.
    HeaderConsistentHash,
    /// `PureConsistentHashBalancerAlgorithm` / `pure-consistent-hash`.
    PureConsistentHash,
    /// `PersistentConsistentHashBalancerAlgorithm` / `persistent-consistent-hash`.
    PersistentConsistentHash,
    /// `ActiveStandbyAlgorithm` / `active-standby`.
    ActiveStandby,
    /// `WorstCaseUdpTestAffinityAlgorithm` / `worst-case` (test algorithm).
    WorstCase,
}

/// Java package of the reference's SIP algorithm classes.
pub const JAVA_ALGORITHM_PACKAGE: &str = "org.mobicents.tools.sip.balancer";

impl AlgorithmKind {
    /// Every algorithm.
    pub const ALL: [AlgorithmKind; 8] = [
        AlgorithmKind::CallIdAffinity,
        AlgorithmKind::UserBased,
        AlgorithmKind::ClusterSubdomain,
        AlgorithmKind::HeaderConsistentHash,
        AlgorithmKind::PureConsistentHash,
        AlgorithmKind::PersistentConsistentHash,
        AlgorithmKind::ActiveStandby,
        AlgorithmKind::WorstCase,
    ];

    /// The reference's simple class name, e.g. `CallIDAffinityBalancerAlgorithm`.
    pub const fn java_class(self) -> &'static str {
        match self {
            AlgorithmKind::CallIdAffinity => "CallIDAffinityBalancerAlgorithm",
            AlgorithmKind::UserBased => "UserBasedAlgorithm",
            AlgorithmKind::ClusterSubdomain => "ClusterSubdomainAffinityAlgorithm",
            AlgorithmKind::HeaderConsistentHash => "HeaderConsistentHashBalancerAlgorithm",
            AlgorithmKind::PureConsistentHash => "PureConsistentHashBalancerAlgorithm",
            AlgorithmKind::PersistentConsistentHash => "PersistentConsistentHashBalancerAlgorithm",
            AlgorithmKind::ActiveStandby => "ActiveStandbyAlgorithm",
            AlgorithmKind::WorstCase => "WorstCaseUdpTestAffinityAlgorithm",
        }
    }

    /// The short name, e.g. `call-id-affinity`; this is what the rendered configuration shows.
    pub const fn short_name(self) -> &'static str {
        match self {
            AlgorithmKind::CallIdAffinity => "call-id-affinity",
            AlgorithmKind::UserBased => "user-based",
            AlgorithmKind::ClusterSubdomain => "cluster-subdomain",
            AlgorithmKind::HeaderConsistentHash => "header-consistent-hash",
            AlgorithmKind::PureConsistentHash => "pure-consistent-hash",
            AlgorithmKind::PersistentConsistentHash => "persistent-consistent-hash",
            AlgorithmKind::ActiveStandby => "active-standby",
            AlgorithmKind::WorstCase => "worst-case",
        }
    }

    /// Parses a short name (case-insensitive), a fully qualified reference class name
    /// (`org.mobicents.tools.sip.balancer.X`) or a bare class name `X`.
    pub fn parse(value: &str) -> Option<AlgorithmKind> {
        let value = value.trim();
        let class = match value.rsplit_once('.') {
            Some((package, class)) if package == JAVA_ALGORITHM_PACKAGE => class,
            Some(_) => return None,
            None => value,
        };
        AlgorithmKind::ALL
            .into_iter()
            .find(|k| k.java_class() == class || k.short_name().eq_ignore_ascii_case(class))
    }
}

/// `<sip><algorithm>` (§4.12) plus the two keys the reference reads from `<sip>`.
#[derive(Debug, Clone)]
pub struct AlgorithmConfig {
    /// `algorithmClass`. Default [`AlgorithmKind::CallIdAffinity`].
    pub kind: AlgorithmKind,
    /// `sipHeaderAffinityKey`. Default `Call-ID`.
    pub sip_header_affinity_key: String,
    /// `sipHeaderAffinityExclusionPattern`, compiled.
    pub sip_header_affinity_exclusion_pattern: Option<Regex>,
    /// `sipHeaderAffinityFallbackKey`.
    pub sip_header_affinity_fallback_key: Option<String>,
    /// `callIdAffinityGroupFailover`. Default false.
    pub call_id_affinity_group_failover: bool,
    /// `callIdAffinityMaxTimeInCache`. Default 500 s.
    pub call_id_affinity_max_time_in_cache: Duration,
    /// `httpAffinityKey`. Default `appsession`.
    pub http_affinity_key: String,
    /// `subclusterMap` (`(ip1,ip2)(ip3,ip4,ip5)`): groups of partner node addresses.
    pub subcluster_map: Vec<Vec<String>>,
    /// `earlyDialogWorstCase`. Default false.
    pub early_dialog_worst_case: bool,
}

/// `<http>` (§8.3).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `httpPort`. Default 2080; `0` switches plain HTTP off.
    pub http_port: Option<u16>,
    /// `httpsPort`: HTTPS listener (plain HTTP then redirects to it).
    pub https_port: Option<u16>,
    /// `unavailableHost`: proxy target when there are no nodes.
    pub unavailable_host: Option<String>,
    /// `requestCheckPattern`, compiled.
    pub request_check_pattern: Option<Regex>,
    /// `maxContentLength`: larger request bodies get 413.
    pub max_content_length: Option<u64>,
    /// `urlrewrite/rule`, applied in order.
    pub url_rewrite: Vec<UrlRewriteRule>,
    /// `ipv6HttpPort`: plain HTTP on `common/ipv6Host`. Default off.
    pub ipv6_http_port: Option<u16>,
    /// `ipv6HttpsPort`: HTTPS on `common/ipv6Host`. Default off.
    pub ipv6_https_port: Option<u16>,
    /// `xForwardedHeaders`: add `X-Forwarded-For`, `-Proto` and `-Port` to proxied
    /// requests. Default true.
    pub x_forwarded_headers: bool,
    /// `requestHeadTimeout`: a client must send a whole request head within this time of
    /// starting it (or of connecting), else `408` and the connection is closed. Default
    /// 10000 ms.
    pub request_head_timeout: Duration,
    /// `nodeResponseTimeout`: a node must start its response within this time of the
    /// request being sent, else the client gets `504`. Default 60000 ms.
    pub node_response_timeout: Duration,
    /// `keepAliveTimeout`: an idle client connection between requests is closed after this
    /// time. Default 60000 ms.
    pub keep_alive_timeout: Duration,
    /// `tunnelIdleTimeout`: a WebSocket tunnel with no byte either way is closed after this
    /// time. Default 3600000 ms.
    pub tunnel_idle_timeout: Duration,
}

/// One `<http><urlrewrite><rule>` (docs/decisions.md §9.2).
#[derive(Debug, Clone)]
pub struct UrlRewriteRule {
    /// `from`, compiled.
    pub from: Regex,
    /// `to`: replacement, `$1`-style group references.
    pub to: String,
}

/// `smpp/toNodeAlgorithmClass` (§4.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SmppToNodeAlgorithm {
    /// `SmppToNodeRoundRobinAlgorithm` (default).
    RoundRobin,
    /// `SmppToNodeSubmitToAllAlgorithm`.
    SubmitToAll,
}

/// `smpp/toProviderAlgorithmClass` (§4.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SmppToProviderAlgorithm {
    /// `SmppToProviderRoundRobinAlgorithm` (default).
    RoundRobin,
    /// `SmppToProviderActiveStandbyAlgorithm`.
    ActiveStandby,
}

/// `<smpp>` (§8.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmppConfig {
    /// `smppHost`.
    pub smpp_host: Option<String>,
    /// `smppExternalHost`.
    pub smpp_external_host: Option<String>,
    /// `smppInternalHost`.
    pub smpp_internal_host: Option<String>,
    /// `smppPort`: enables SMPP.
    pub smpp_port: Option<u16>,
    /// `smppSslPort`: SMPP over TLS.
    pub smpp_ssl_port: Option<u16>,
    /// `remoteServers`: providers.
    pub remote_servers: Vec<HostPort>,
    /// `maxConnectionSize`. Default 10.
    pub max_connection_size: u32,
    /// `nonBlockingSocketsEnabled`. Default true.
    pub non_blocking_sockets_enabled: bool,
    /// `defaultSessionCountersEnabled`. Default false.
    pub default_session_counters_enabled: bool,
    /// `timeoutResponse`. Default 3000 ms.
    pub timeout_response: Duration,
    /// `timeoutConnection`. Default 1000 ms.
    pub timeout_connection: Duration,
    /// `timeoutEnquire`. Default 10000 ms.
    pub timeout_enquire: Duration,
    /// `reconnectPeriod`. Default 500 ms.
    pub reconnect_period: Duration,
    /// `timeoutConnectionCheckClientSide`. Default 3000 ms.
    pub timeout_connection_check_client_side: Duration,
    /// `timeoutConnectionCheckServerSide`. Default 3000 ms.
    pub timeout_connection_check_server_side: Duration,
    /// `muxMode`. Default true.
    pub mux_mode: bool,
    /// `toNodeAlgorithmClass`.
    pub to_node_algorithm: SmppToNodeAlgorithm,
    /// `toProviderAlgorithmClass`.
    pub to_provider_algorithm: SmppToProviderAlgorithm,
    /// `maxPduSize`: the largest `command_length` accepted, in octets. Default 65536.
    pub max_pdu_size: u32,
    /// `providerWindow`: requests forwarded to one provider connection and not answered
    /// yet, at most (mux mode). `0`: no limit. Default 1000.
    pub provider_window: u32,
    /// `providerRate`: requests per second sent to one provider connection, at most (mux
    /// mode). `0`: no limit. Default 0.
    pub provider_rate: u32,
    /// `throttleQueueSize`: requests waiting for a provider's window or rate, at most per
    /// provider connection; past it a request is answered `ESME_RTHROTTLED`. Default 1000.
    pub throttle_queue_size: u32,
    /// `throttleQueueTimeout`: how long a request may wait in that queue before it is
    /// answered `ESME_RTHROTTLED`. Default 2000 ms.
    pub throttle_queue_timeout: Duration,
    /// `receiptTableSize`: submitted message ids remembered to route delivery receipts back
    /// to their customer (mux mode), at most; the oldest is forgotten first. Default 100000.
    pub receipt_table_size: u32,
    /// `receiptTimeout`: how long a submitted message id is remembered. Default 86400000 ms
    /// (one day).
    pub receipt_timeout: Duration,
}

/// `<ssl>` (§8.5) with PEM files instead of Java keystores.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SslConfig {
    /// `terminateTLSTraffic`: HTTPS goes to the nodes' plain `httpPort`. Default false.
    pub terminate_tls_traffic: bool,
    /// `keyStore`: PEM file with the certificate chain and the private key.
    pub key_store: Option<PathBuf>,
    /// `certificate`: PEM certificate chain (with `privateKey`).
    pub certificate: Option<PathBuf>,
    /// `privateKey`: PEM private key (with `certificate`).
    pub private_key: Option<PathBuf>,
    /// `trustStore`: PEM CA certificates for client authentication.
    pub trust_store: Option<PathBuf>,
    /// `tlsClientProtocols`, e.g. `TLSv1.2`, `TLSv1.3`.
    pub tls_client_protocols: Vec<String>,
    /// `enabledCipherSuites`.
    pub enabled_cipher_suites: Vec<String>,
}

impl SslConfig {
    /// True if a certificate and a key are configured (files are not read here).
    pub fn has_key_material(&self) -> bool {
        self.key_store.is_some() || (self.certificate.is_some() && self.private_key.is_some())
    }
}

/// `gov.nist.javax.sip.TLS_CLIENT_AUTH_TYPE`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum TlsClientAuth {
    /// `Enabled`: a client certificate is required (JAIN-SIP default).
    Enabled,
    /// `Want`: a client certificate is requested and verified if sent.
    Want,
    /// `Disabled`: no client certificate requested.
    Disabled,
    /// `DisabledAll`: no client certificate, and server certificates of nodes not verified.
    DisabledAll,
}

impl TlsClientAuth {
    /// The JAIN-SIP spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            TlsClientAuth::Enabled => "Enabled",
            TlsClientAuth::Want => "Want",
            TlsClientAuth::Disabled => "Disabled",
            TlsClientAuth::DisabledAll => "DisabledAll",
        }
    }
}

/// `<sipStack>` (§8.6): every property as written, plus the ones Switchboard uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipStackConfig {
    /// Every `<property>` (key, value) in document order.
    pub properties: Vec<(String, String)>,
    /// `RECEIVE_UDP_BUFFER_SIZE` (SO_RCVBUF of UDP sockets).
    pub receive_udp_buffer_size: Option<u32>,
    /// `SEND_UDP_BUFFER_SIZE` (SO_SNDBUF of UDP sockets).
    pub send_udp_buffer_size: Option<u32>,
    /// `MAX_MESSAGE_SIZE`: largest accepted SIP message in bytes (`None` = codec limit).
    pub max_message_size: Option<u32>,
    /// `THREAD_POOL_SIZE`: I/O worker threads, at most one per core (`None` or 1 = one event-loop thread).
    pub worker_threads: Option<u32>,
    /// `TLS_CLIENT_AUTH_TYPE`. Default [`TlsClientAuth::Disabled`]: SIP clients rarely carry certificates (JAIN-SIP defaulted to `Enabled`; the reference sample sets `Disabled`).
    pub tls_client_auth: TlsClientAuth,
    /// `NEVER_ADD_RECEIVED_RPORT`. Default false.
    pub never_add_received_rport: bool,
}

/// `<heartbeat>` (§8.7): only the HTTP/JSON heartbeat is supported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// `heartbeatConfig/heartbeatPort`. Default 2610, bound on `common.host`.
    pub port: u16,
}
