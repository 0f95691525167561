//! Which sockets the driver must open for a configuration (behaviour reference §1.1, §3.2,
//! §7.1). The core decides; the driver binds.

use crate::config::{Config, LegConfig};
use crate::io::{Leg, ListenerId, Service};
use crate::node::Transport;
use serde::{Deserialize, Serialize};

/// A SIP listening point the driver must open: UDP socket or stream listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerSpec {
    /// How the core names it in inputs and outputs.
    pub id: ListenerId,
    /// Bind host (an IP literal or a name the driver resolves).
    pub host: String,
    /// Bind port.
    pub port: u16,
}

/// A service port (heartbeat, management) the driver must open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Which service.
    pub service: Service,
    /// Bind host.
    pub host: String,
    /// Bind port.
    pub port: u16,
}

/// Every SIP listening point of `config`: each leg, each transport with a non-zero port, for
/// IPv4 on the leg's `host` and for IPv6 on its `ipv6Host`.
pub fn sip_listeners(config: &Config) -> Vec<ListenerSpec> {
    let mut out = Vec::new();
    for (leg, cfg) in [
        (Leg::External, &config.sip.external),
        (Leg::Internal, &config.sip.internal),
    ] {
        push_leg(&mut out, leg, cfg);
    }
    out
}

fn push_leg(out: &mut Vec<ListenerSpec>, leg: Leg, cfg: &LegConfig) {
    for (ipv6, host, ports) in [
        (false, &cfg.host, &cfg.ports),
        (true, &cfg.ipv6_host, &cfg.ipv6_ports),
    ] {
        for transport in Transport::ALL {
            if let Some(port) = ports.get(transport).filter(|p| *p != 0) {
                out.push(ListenerSpec {
                    id: ListenerId {
                        leg,
                        transport,
                        ipv6,
                    },
                    host: host.clone(),
                    port,
                });
            }
        }
    }
}

/// The service ports of `config`: the HTTP/JSON heartbeat and, when `apiPort` is set, the
/// management API, both on `common.host`. (The reference bound the management API on all
/// interfaces; binding the balancer's own address keeps `/lbstop` off other networks while
/// keepalived's `nc -z host port` probe still reaches it.)
pub fn service_listeners(config: &Config) -> Vec<ServiceSpec> {
    let mut out = vec![ServiceSpec {
        service: Service::Heartbeat,
        host: config.common.host.clone(),
        port: config.heartbeat.port,
    }];
    if let Some(port) = config.common.api_port {
        out.push(ServiceSpec {
            service: Service::Management,
            host: config.common.host.clone(),
            port,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_opens_udp_and_tcp_on_both_legs_and_both_services() {
        let config = Config::embedded_default();
        let sip: Vec<_> = sip_listeners(&config)
            .into_iter()
            .map(|l| (l.id.leg, l.id.transport, l.port))
            .collect();
        assert!(sip.contains(&(Leg::External, Transport::Udp, 5060)));
        assert!(sip.contains(&(Leg::External, Transport::Tcp, 5060)));
        assert!(sip.contains(&(Leg::Internal, Transport::Udp, 5065)));
        assert!(sip.contains(&(Leg::Internal, Transport::Tcp, 5065)));
        let services: Vec<_> = service_listeners(&config)
            .into_iter()
            .map(|s| (s.service, s.port))
            .collect();
        assert_eq!(
            services,
            vec![(Service::Heartbeat, 2610), (Service::Management, 2006)]
        );
    }
}
