//! Which sockets the driver must open for a configuration (behaviour reference §1.1, §3.2,
//! §7.1), and which protocol module serves each. The core decides; the driver binds.

use super::http::HttpListener;
use crate::config::{Config, LegConfig, TlsClientAuth};
use crate::forward::{Leg, ListeningPoint};
use crate::io::{ListenerId, ListenerSpec, ServerTls, SocketKind};
use crate::node::Transport;

/// The protocol module that serves a listener's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A SIP listening point of the proxy.
    Sip(ListeningPoint),
    /// The HTTP/JSON heartbeat port (§3.2).
    Heartbeat,
    /// The management API port (§7.1).
    Management,
    /// An HTTP balancer port (§5): plain or HTTPS.
    Http(HttpListener),
    /// An SMPP balancer port (§6.1): `smppPort` (plain) or `smppSslPort` (TLS).
    Smpp {
        /// TLS (`smppSslPort`).
        secure: bool,
    },
}

/// One listener: what the driver opens and what the core does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// The socket.
    pub spec: ListenerSpec,
    /// Its protocol module.
    pub role: Role,
}

/// Every listener of `config`, with ids numbered in a fixed order (so the same file gives
/// the same ids): each SIP leg, each transport with a non-zero port, for IPv4 on the leg's
/// `host` and IPv6 on its `ipv6Host`; then the heartbeat port and, when `apiPort` is set,
/// the management API, both on `common.host`; then the HTTP balancer's `httpPort` and
/// `httpsPort` on `common.host` and its `ipv6HttpPort` and `ipv6HttpsPort` on
/// `common.ipv6Host`. (The reference bound HTTP on all interfaces; an operator who wants that
/// sets `host` to `0.0.0.0`.) (The reference bound the management API on all
/// interfaces; binding the balancer's own address keeps `/lbstop` off other networks while
/// keepalived's `nc -z host port` probe still reaches it.) Last the SMPP balancer's `smppPort`
/// and `smppSslPort` on `smppExternalHost`, else `smppHost`, else `common.host` (§6.1).
pub fn declare(config: &Config) -> Vec<Declared> {
    let mut out = Vec::new();
    for (leg, cfg) in [
        (Leg::External, &config.sip.external),
        (Leg::Internal, &config.sip.internal),
    ] {
        push_leg(&mut out, config, leg, cfg);
    }
    let common = &config.common;
    push(
        &mut out,
        "heartbeat",
        &common.host,
        config.heartbeat.port,
        Role::Heartbeat,
    );
    if let Some(port) = common.api_port {
        push(
            &mut out,
            "management API",
            &common.host,
            port,
            Role::Management,
        );
    }
    let http = &config.http;
    for (ipv6, host, port, secure) in [
        (false, &common.host, http.http_port, false),
        (false, &common.host, http.https_port, true),
        (true, &common.ipv6_host, http.ipv6_http_port, false),
        (true, &common.ipv6_host, http.ipv6_https_port, true),
    ] {
        let Some(port) = port.filter(|p| *p != 0) else {
            continue;
        };
        let family = if ipv6 { " IPv6" } else { "" };
        out.push(Declared {
            spec: ListenerSpec {
                id: ListenerId(out.len() as u32),
                name: format!("{}{family}", if secure { "HTTPS" } else { "HTTP" }),
                host: host.clone(),
                port,
                ipv6,
                kind: SocketKind::Tcp,
                tls: secure.then_some(ServerTls {
                    client_auth: TlsClientAuth::Disabled,
                }),
                recv_buffer: None,
                send_buffer: None,
            },
            role: Role::Http(HttpListener { secure, port }),
        });
    }
    let smpp = &config.smpp;
    let smpp_host = smpp
        .smpp_external_host
        .as_ref()
        .or(smpp.smpp_host.as_ref())
        .unwrap_or(&common.host);
    for (port, secure) in [(smpp.smpp_port, false), (smpp.smpp_ssl_port, true)] {
        let Some(port) = port.filter(|p| *p != 0) else {
            continue;
        };
        out.push(Declared {
            spec: ListenerSpec {
                id: ListenerId(out.len() as u32),
                name: if secure { "SMPP TLS" } else { "SMPP" }.to_owned(),
                host: smpp_host.clone(),
                port,
                ipv6: smpp_host.contains(':'),
                kind: SocketKind::Tcp,
                tls: secure.then_some(ServerTls {
                    client_auth: TlsClientAuth::Disabled,
                }),
                recv_buffer: None,
                send_buffer: None,
            },
            role: Role::Smpp { secure },
        });
    }
    out
}

/// How the listeners change from `old` to `new` on a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerChange {
    /// The listeners now in force: those of `new`, an unchanged one with its old id, a new
    /// one with an id never used before.
    pub declared: Vec<Declared>,
    /// The ids of listeners `new` no longer has.
    pub closed: Vec<ListenerId>,
    /// The listeners to open.
    pub opened: Vec<ListenerSpec>,
}

/// Matches the listeners of a reloaded file (`new`, numbered afresh by [`declare`]) with those
/// running (`old`): the same role and socket (address, kind, TLS, options) keep the running
/// id; anything else is closed or opened.
pub fn reconcile(old: &[Declared], new: Vec<Declared>) -> ListenerChange {
    let same = |a: &Declared, b: &Declared| {
        let mut spec = b.spec.clone();
        spec.id = a.spec.id;
        a.role == b.role && a.spec == spec
    };
    let mut next = old.iter().map(|d| d.spec.id.0 + 1).max().unwrap_or(0);
    let mut kept = vec![false; old.len()];
    let mut declared = Vec::with_capacity(new.len());
    let mut opened = Vec::new();
    for mut d in new {
        match (0..old.len()).find(|&i| !kept[i] && same(&old[i], &d)) {
            Some(i) => {
                kept[i] = true;
                d.spec.id = old[i].spec.id;
            }
            None => {
                d.spec.id = ListenerId(next);
                next += 1;
                opened.push(d.spec.clone());
            }
        }
        declared.push(d);
    }
    let closed = old
        .iter()
        .zip(kept)
        .filter(|(_, kept)| !kept)
        .map(|(d, _)| d.spec.id)
        .collect();
    ListenerChange {
        declared,
        closed,
        opened,
    }
}

fn push_leg(out: &mut Vec<Declared>, config: &Config, leg: Leg, cfg: &LegConfig) {
    let stack = &config.sip_stack;
    for (ipv6, host, ports) in [
        (false, &cfg.host, &cfg.ports),
        (true, &cfg.ipv6_host, &cfg.ipv6_ports),
    ] {
        for transport in Transport::ALL {
            let Some(port) = ports.get(transport).filter(|p| *p != 0) else {
                continue;
            };
            let udp = transport == Transport::Udp;
            let secure = matches!(transport, Transport::Tls | Transport::Wss);
            let family = if ipv6 { " IPv6" } else { "" };
            out.push(Declared {
                spec: ListenerSpec {
                    id: ListenerId(out.len() as u32),
                    name: format!("SIP {leg:?} {}{family}", transport.as_str()).to_lowercase(),
                    host: host.clone(),
                    port,
                    ipv6,
                    kind: if udp {
                        SocketKind::Udp
                    } else {
                        SocketKind::Tcp
                    },
                    tls: secure.then_some(ServerTls {
                        client_auth: stack.tls_client_auth,
                    }),
                    recv_buffer: stack.receive_udp_buffer_size.filter(|_| udp),
                    send_buffer: stack.send_udp_buffer_size.filter(|_| udp),
                },
                role: Role::Sip(ListeningPoint {
                    leg,
                    transport,
                    ipv6,
                }),
            });
        }
    }
}

fn push(out: &mut Vec<Declared>, name: &str, host: &str, port: u16, role: Role) {
    out.push(Declared {
        spec: ListenerSpec {
            id: ListenerId(out.len() as u32),
            name: name.to_owned(),
            host: host.to_owned(),
            port,
            ipv6: false,
            kind: SocketKind::Tcp,
            tls: None,
            recv_buffer: None,
            send_buffer: None,
        },
        role,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_opens_udp_and_tcp_on_both_legs_and_both_services() {
        let config = Config::embedded_default();
        let declared = declare(&config);
        let sip: Vec<_> = declared
            .iter()
            .filter_map(|d| match d.role {
                Role::Sip(p) => Some((p.leg, p.transport, d.spec.port, d.spec.kind)),
                _ => None,
            })
            .collect();
        assert!(sip.contains(&(Leg::External, Transport::Udp, 5060, SocketKind::Udp)));
        assert!(sip.contains(&(Leg::External, Transport::Tcp, 5060, SocketKind::Tcp)));
        assert!(sip.contains(&(Leg::Internal, Transport::Udp, 5065, SocketKind::Udp)));
        assert!(sip.contains(&(Leg::Internal, Transport::Tcp, 5065, SocketKind::Tcp)));
        let services: Vec<_> = declared
            .iter()
            .filter(|d| !matches!(d.role, Role::Sip(_)))
            .map(|d| (d.role, d.spec.port))
            .collect();
        assert_eq!(
            services,
            vec![
                (Role::Heartbeat, 2610),
                (Role::Management, 2006),
                (
                    Role::Http(HttpListener {
                        secure: false,
                        port: 2080
                    }),
                    2080
                )
            ]
        );
        let ids: Vec<u32> = declared.iter().map(|d| d.spec.id.0).collect();
        assert_eq!(ids, (0..declared.len() as u32).collect::<Vec<_>>());
    }

    #[test]
    fn a_reload_keeps_unchanged_listeners_closes_removed_ones_and_opens_new_ones_with_fresh_ids() {
        let config = Config::embedded_default();
        let old = declare(&config);
        let same = reconcile(&old, declare(&config));
        assert_eq!(same.declared, old);
        assert!(same.closed.is_empty() && same.opened.is_empty());

        let mut moved = config.clone();
        moved.sip.external.ports.udp = Some(5070);
        let change = reconcile(&old, declare(&moved));
        let old_udp = old
            .iter()
            .find(|d| d.spec.port == 5060 && d.spec.kind == SocketKind::Udp)
            .unwrap();
        assert_eq!(change.closed, vec![old_udp.spec.id]);
        let [opened] = &change.opened[..] else {
            panic!("one listener opened: {change:?}")
        };
        assert_eq!((opened.port, opened.kind), (5070, SocketKind::Udp));
        assert!(old.iter().all(|d| d.spec.id != opened.id), "a fresh id");
        // Every other listener keeps its id.
        for d in old.iter().filter(|d| d.spec.id != old_udp.spec.id) {
            assert!(change.declared.iter().any(|n| n == d), "{d:?} kept");
        }
    }
}
