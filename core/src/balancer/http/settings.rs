//! The HTTP balancer's settings, read from `<http>`, `<ssl>` and `<sip><algorithm>` once per
//! configuration (at start and on every reload).

use crate::config::{Config, UrlRewriteRule};
use crate::http::framer::Limits;
use regex::Regex;
use std::time::Duration;

/// How long an idle pooled connection to a node is kept before it is closed: shorter than
/// the keep-alive timeouts of common node servers (Tomcat 20 s, nginx 75 s), so the balancer
/// closes first and never sends on a connection the node is closing.
pub const POOL_IDLE: Duration = Duration::from_secs(15);
/// Idle pooled connections kept per node address.
pub const POOL_MAX_PER_NODE: usize = 64;
/// Request bytes kept so that a request whose node connection failed before any response
/// byte can be sent again to another node (docs/decisions.md §10). A larger request is not
/// retried.
pub const REPLAY_LIMIT: usize = 64 * 1024;
/// Bytes queued toward a connection before the balancer stops reading from the connection
/// that feeds it, until they are written.
pub const HIGH_WATER: u64 = 256 * 1024;

/// Everything the HTTP connection policy needs from the configuration.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `httpsPort`: plain requests are redirected to it.
    pub https_port: Option<u16>,
    /// `ssl/terminateTLSTraffic`: HTTPS requests go to the nodes' plain `httpPort`.
    pub terminate_tls: bool,
    /// `xForwardedHeaders`.
    pub x_forwarded: bool,
    /// Request framing limits; `max_body` is `maxContentLength`.
    pub limits: Limits,
    /// `requestHeadTimeout`.
    pub head_timeout: Duration,
    /// `nodeResponseTimeout`.
    pub response_timeout: Duration,
    /// `keepAliveTimeout`.
    pub keep_alive: Duration,
    /// `tunnelIdleTimeout`.
    pub tunnel_idle: Duration,
    /// `unavailableHost` as host and port (port 80 when not given).
    pub unavailable: Option<(String, u16)>,
    /// `requestCheckPattern`.
    pub check_pattern: Option<Regex>,
    /// `urlrewrite` rules.
    pub rewrite: Vec<UrlRewriteRule>,
    /// `httpAffinityKey`: the query parameter the algorithm hashes.
    pub affinity_key: String,
    /// `common/host`: the redirect's host when a request has no `Host`.
    pub own_host: String,
}

impl HttpSettings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> HttpSettings {
        let http = &config.http;
        HttpSettings {
            https_port: http.https_port.or(http.ipv6_https_port),
            terminate_tls: config.ssl.terminate_tls_traffic,
            x_forwarded: http.x_forwarded_headers,
            limits: Limits {
                max_body: http.max_content_length,
                ..Limits::default()
            },
            head_timeout: http.request_head_timeout,
            response_timeout: http.node_response_timeout,
            keep_alive: http.keep_alive_timeout,
            tunnel_idle: http.tunnel_idle_timeout,
            unavailable: http.unavailable_host.as_deref().map(host_port),
            check_pattern: http.request_check_pattern.clone(),
            rewrite: http.url_rewrite.clone(),
            affinity_key: config.sip.algorithm.http_affinity_key.clone(),
            own_host: config.common.host.clone(),
        }
    }
}

/// `host[:port]` (an IPv6 literal in brackets), port 80 when absent.
fn host_port(value: &str) -> (String, u16) {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host.to_owned(), port.unwrap_or(80));
        }
    }
    match value.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host.to_owned(), port),
            Err(_) => (value.to_owned(), 80),
        },
        _ => (value.to_owned(), 80),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_host_takes_an_optional_port() {
        assert_eq!(host_port("sorry.example"), ("sorry.example".into(), 80));
        assert_eq!(host_port("10.0.0.9:8080"), ("10.0.0.9".into(), 8080));
        assert_eq!(host_port("[::1]:81"), ("::1".into(), 81));
        assert_eq!(host_port("::1"), ("::1".into(), 80));
    }

    #[test]
    fn the_embedded_default_has_the_documented_timeouts() {
        let s = HttpSettings::from_config(&Config::embedded_default());
        assert_eq!(s.head_timeout, Duration::from_secs(10));
        assert_eq!(s.response_timeout, Duration::from_secs(60));
        assert_eq!(s.keep_alive, Duration::from_secs(60));
        assert!(s.x_forwarded && s.https_port.is_none());
    }
}
