//! From the raw element tree to the typed configuration: `<http>`, `<smpp>`, `<ssl>`,
//! `<sipStack>` and `<heartbeat>`.

use super::build::host_ports;
use super::error::{ConfigError, ConfigWarning};
use super::section::{compile, parse_bool, Ctx, Section};
use super::types::{
    HeartbeatConfig, HttpConfig, SipStackConfig, SmppConfig, SmppToNodeAlgorithm,
    SmppToProviderAlgorithm, SslConfig, TlsClientAuth, UrlRewriteRule,
};
use std::path::PathBuf;

pub(crate) fn read_http(mut s: Section<'_>, ctx: &mut Ctx) -> HttpConfig {
    let mut rewrite = s.sub(ctx, "urlrewrite");
    let rule_path = rewrite.path_of("rule");
    let mut url_rewrite = Vec::new();
    for rule in rewrite.all("rule") {
        let mut r = Section::new(Some(rule), rule_path.clone());
        let from = match r.text(ctx, "from") {
            Some(p) => compile(ctx, r.path_of("from"), p),
            None => {
                ctx.error(ConfigError::Required {
                    path: r.path_of("from"),
                    reason: "a rewrite rule needs a <from> pattern".to_owned(),
                });
                None
            }
        };
        let to = r.string(ctx, "to").unwrap_or_default();
        r.finish(ctx);
        if let Some(from) = from {
            url_rewrite.push(UrlRewriteRule { from, to });
        }
    }
    rewrite.finish(ctx);
    let http = HttpConfig {
        http_port: s.port(ctx, "httpPort", Some(2080)),
        https_port: s.port(ctx, "httpsPort", None),
        unavailable_host: s.string(ctx, "unavailableHost"),
        request_check_pattern: s.regex(ctx, "requestCheckPattern"),
        max_content_length: s.opt_number(ctx, "maxContentLength"),
        url_rewrite,
        ipv6_http_port: s.port(ctx, "ipv6HttpPort", None),
        ipv6_https_port: s.port(ctx, "ipv6HttpsPort", None),
        x_forwarded_headers: s.flag(ctx, "xForwardedHeaders", true),
        request_head_timeout: s.millis(ctx, "requestHeadTimeout", 10_000),
        node_response_timeout: s.millis(ctx, "nodeResponseTimeout", 60_000),
        keep_alive_timeout: s.millis(ctx, "keepAliveTimeout", 60_000),
        tunnel_idle_timeout: s.millis(ctx, "tunnelIdleTimeout", 3_600_000),
    };
    s.finish(ctx);
    http
}

/// The simple class name of a possibly qualified Java class name.
fn simple_class(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

pub(crate) fn read_smpp(mut s: Section<'_>, ctx: &mut Ctx) -> SmppConfig {
    let to_node_algorithm = match s.text(ctx, "toNodeAlgorithmClass") {
        None => SmppToNodeAlgorithm::RoundRobin,
        Some(name) => match simple_class(name) {
            "SmppToNodeRoundRobinAlgorithm" | "round-robin" => SmppToNodeAlgorithm::RoundRobin,
            "SmppToNodeSubmitToAllAlgorithm" | "submit-to-all" => SmppToNodeAlgorithm::SubmitToAll,
            _ => {
                ctx.error(ConfigError::UnknownAlgorithm {
                    path: s.path_of("toNodeAlgorithmClass"),
                    value: name.to_owned(),
                    known: "SmppToNodeRoundRobinAlgorithm (round-robin), \
                            SmppToNodeSubmitToAllAlgorithm (submit-to-all)"
                        .to_owned(),
                });
                SmppToNodeAlgorithm::RoundRobin
            }
        },
    };
    let to_provider_algorithm = match s.text(ctx, "toProviderAlgorithmClass") {
        None => SmppToProviderAlgorithm::RoundRobin,
        Some(name) => match simple_class(name) {
            "SmppToProviderRoundRobinAlgorithm" | "round-robin" => {
                SmppToProviderAlgorithm::RoundRobin
            }
            "SmppToProviderActiveStandbyAlgorithm" | "active-standby" => {
                SmppToProviderAlgorithm::ActiveStandby
            }
            _ => {
                ctx.error(ConfigError::UnknownAlgorithm {
                    path: s.path_of("toProviderAlgorithmClass"),
                    value: name.to_owned(),
                    known: "SmppToProviderRoundRobinAlgorithm (round-robin), \
                            SmppToProviderActiveStandbyAlgorithm (active-standby)"
                        .to_owned(),
                });
                SmppToProviderAlgorithm::RoundRobin
            }
        },
    };
    let remote_servers = s
        .list(ctx, "remoteServers")
        .map(|l| host_ports(ctx, &s.path_of("remoteServers"), &l, None))
        .unwrap_or_default();
    let threads = "the runtime's workers serve every protocol (THREAD_POOL_SIZE sizes them)";
    s.unsupported(ctx, "maxConnectionSize", threads);
    s.unsupported(
        ctx,
        "nonBlockingSocketsEnabled",
        "sockets are always non-blocking",
    );
    s.unsupported(
        ctx,
        "defaultSessionCountersEnabled",
        "unused by the reference too",
    );
    let smpp = SmppConfig {
        smpp_host: s.string(ctx, "smppHost"),
        smpp_external_host: s.string(ctx, "smppExternalHost"),
        smpp_internal_host: s.string(ctx, "smppInternalHost"),
        smpp_port: s.port(ctx, "smppPort", None),
        smpp_ssl_port: s.port(ctx, "smppSslPort", None),
        remote_servers,
        max_connection_size: s.number(ctx, "maxConnectionSize", 10),
        non_blocking_sockets_enabled: s.flag(ctx, "nonBlockingSocketsEnabled", true),
        default_session_counters_enabled: s.flag(ctx, "defaultSessionCountersEnabled", false),
        timeout_response: s.millis(ctx, "timeoutResponse", 3000),
        timeout_connection: s.millis(ctx, "timeoutConnection", 1000),
        timeout_enquire: s.millis(ctx, "timeoutEnquire", 10_000),
        reconnect_period: s.millis(ctx, "reconnectPeriod", 500),
        timeout_connection_check_client_side: s.millis(
            ctx,
            "timeoutConnectionCheckClientSide",
            3000,
        ),
        timeout_connection_check_server_side: s.millis(
            ctx,
            "timeoutConnectionCheckServerSide",
            3000,
        ),
        mux_mode: s.flag(ctx, "muxMode", true),
        to_node_algorithm,
        to_provider_algorithm,
        max_pdu_size: s.number(ctx, "maxPduSize", 65_536),
        provider_window: s.number(ctx, "providerWindow", 1000),
        provider_rate: s.number(ctx, "providerRate", 0),
        throttle_queue_size: s.number(ctx, "throttleQueueSize", 1000),
        throttle_queue_timeout: s.millis(ctx, "throttleQueueTimeout", 2000),
        receipt_table_size: s.number(ctx, "receiptTableSize", 100_000),
        receipt_timeout: s.millis(ctx, "receiptTimeout", 86_400_000),
    };
    s.finish(ctx);
    smpp
}

pub(crate) fn read_ssl(mut s: Section<'_>, ctx: &mut Ctx) -> SslConfig {
    let path =
        |s: &mut Section<'_>, ctx: &mut Ctx, name: &str| s.text(ctx, name).map(PathBuf::from);
    let ssl = SslConfig {
        terminate_tls_traffic: s.flag(ctx, "terminateTLSTraffic", false),
        key_store: path(&mut s, ctx, "keyStore"),
        certificate: path(&mut s, ctx, "certificate"),
        private_key: path(&mut s, ctx, "privateKey"),
        trust_store: path(&mut s, ctx, "trustStore"),
        tls_client_protocols: s.list(ctx, "tlsClientProtocols").unwrap_or_default(),
        enabled_cipher_suites: s.list(ctx, "enabledCipherSuites").unwrap_or_default(),
    };
    match (&ssl.certificate, &ssl.private_key) {
        (Some(_), None) => ctx.error(ConfigError::IncompleteKeyPair {
            path: s.path_of("certificate"),
            missing: s.path_of("privateKey"),
        }),
        (None, Some(_)) => ctx.error(ConfigError::IncompleteKeyPair {
            path: s.path_of("privateKey"),
            missing: s.path_of("certificate"),
        }),
        _ => {}
    }
    let pem = "key material is read from unencrypted PEM files";
    s.unsupported(ctx, "keyStorePassword", pem);
    s.unsupported(ctx, "trustStorePassword", pem);
    s.finish(ctx);
    ssl
}

const NIST: &str = "gov.nist.javax.sip.";

pub(crate) fn read_sip_stack(mut s: Section<'_>, ctx: &mut Ctx) -> SipStackConfig {
    let mut stack = SipStackConfig {
        properties: Vec::new(),
        receive_udp_buffer_size: None,
        send_udp_buffer_size: None,
        max_message_size: None,
        worker_threads: None,
        tls_client_auth: TlsClientAuth::Disabled,
        never_add_received_rport: false,
    };
    let property_path = s.path_of("property");
    for property in s.all("property") {
        let mut p = Section::new(Some(property), property_path.clone());
        let key = p.string(ctx, "key");
        let value = p.string(ctx, "value").unwrap_or_default();
        p.finish(ctx);
        let Some(key) = key else {
            ctx.error(ConfigError::Required {
                path: format!("{property_path}/key"),
                reason: "a sipStack property needs a <key>".to_owned(),
            });
            continue;
        };
        let path = format!("{property_path}[{key}]");
        let number = |ctx: &mut Ctx| match value.trim().parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                ctx.invalid(path.clone(), &value, "expected a positive integer");
                None
            }
        };
        match key.strip_prefix(NIST).unwrap_or(&key) {
            "RECEIVE_UDP_BUFFER_SIZE" => stack.receive_udp_buffer_size = number(ctx),
            "SEND_UDP_BUFFER_SIZE" => stack.send_udp_buffer_size = number(ctx),
            "MAX_MESSAGE_SIZE" => stack.max_message_size = number(ctx),
            "THREAD_POOL_SIZE" => stack.worker_threads = number(ctx),
            "TLS_CLIENT_AUTH_TYPE" => {
                stack.tls_client_auth = match value.trim() {
                    "Enabled" => TlsClientAuth::Enabled,
                    "Want" => TlsClientAuth::Want,
                    "Disabled" => TlsClientAuth::Disabled,
                    "DisabledAll" => TlsClientAuth::DisabledAll,
                    other => {
                        ctx.invalid(
                            path.clone(),
                            other,
                            "expected Enabled, Want, Disabled or DisabledAll",
                        );
                        TlsClientAuth::Enabled
                    }
                }
            }
            "NEVER_ADD_RECEIVED_RPORT" => match parse_bool(&value) {
                Some(b) => stack.never_add_received_rport = b,
                None => ctx.invalid(path.clone(), &value, "expected true or false"),
            },
            _ => ctx.warn(ConfigWarning::IgnoredSipStackProperty { key: key.clone() }),
        }
        stack.properties.push((key, value));
    }
    s.finish(ctx);
    stack
}

const DEFAULT_PROTOCOL_CLASS: &str = "org.mobicents.tools.heartbeat.impl.ServerController";

pub(crate) fn read_heartbeat(mut s: Section<'_>, ctx: &mut Ctx) -> HeartbeatConfig {
    if let Some(class) = s.element().and_then(|e| e.attribute("configclass")) {
        let class = class.trim();
        if !class.is_empty() && simple_class(class) != "HeartbeatConfigHttp" {
            ctx.warn(ConfigWarning::Unsupported {
                path: "heartbeat@configclass".to_owned(),
                reason: format!(
                    "{class}: only the HTTP/JSON heartbeat (HeartbeatConfigHttp) is supported; \
                     using it on heartbeatPort"
                ),
            });
        }
    }
    let mut c = s.sub(ctx, "heartbeatConfig");
    if let Some(class) = c.text(ctx, "protocolClassName") {
        if class != DEFAULT_PROTOCOL_CLASS {
            ctx.warn(ConfigWarning::Unsupported {
                path: c.path_of("protocolClassName"),
                reason: format!("{class}: only {DEFAULT_PROTOCOL_CLASS} is supported"),
            });
        }
    }
    let port = match c.port_setting(ctx, "heartbeatPort") {
        None => 2610,
        Some(Some(port)) => port,
        Some(None) => {
            ctx.error(ConfigError::Required {
                path: c.path_of("heartbeatPort"),
                reason: "the heartbeat listener cannot be switched off (port 0)".to_owned(),
            });
            2610
        }
    };
    let rmi = "RMI and Kubernetes heartbeats are not supported";
    for name in [
        "rmiRegistryPort",
        "rmiRemoteObjectPort",
        "nodeName",
        "pullPeriod",
    ] {
        c.unsupported(ctx, name, rmi);
    }
    c.finish(ctx);
    s.finish(ctx);
    HeartbeatConfig { port }
}
