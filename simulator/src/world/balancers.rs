//! The balancer cores: building them from the scenario, the listeners they declare, feeding
//! them inputs, and carrying out what they ask for.

use super::{Event, World, WorldError};
use crate::addr;
use crate::report::ClusterEvent;
use crate::scenario::Scenario;
use bytes::Bytes;
use std::net::SocketAddr;
use switchboard_core::balancer::Balancer;
use switchboard_core::config::Config;
use switchboard_core::forward::Leg;
use switchboard_core::io::{ConnId, Input, ListenerId, Output, SocketKind};
use switchboard_core::time::Timestamp;

/// One balancer core and what the simulator knows about it.
#[derive(Debug)]
pub(crate) struct Lb {
    pub core: Balancer,
    /// The listeners the core declared that the simulator serves.
    pub listeners: LbListeners,
    pub timer_at: Option<Timestamp>,
    pub delivered_requests: u64,
    pub delivered_responses: u64,
    pub delivered_bytes: u64,
    /// Per node: present in this balancer's registry at the last look.
    pub present: Vec<bool>,
    pub left: Vec<bool>,
    pub rejoined: Vec<bool>,
}

/// The ids of the listeners a balancer declared ([`Balancer::listeners`]) that the
/// simulated network reaches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LbListeners {
    /// External SIP over UDP.
    pub external_udp: ListenerId,
    /// Internal SIP over UDP.
    pub internal_udp: ListenerId,
    /// The HTTP/JSON heartbeat port.
    pub heartbeat: ListenerId,
    /// External SIP over TCP, when the scenario uses TCP.
    pub external_tcp: Option<ListenerId>,
    /// Internal SIP over TCP, when the scenario uses TCP.
    pub internal_tcp: Option<ListenerId>,
    /// The SMPP listener (plain TCP), when the core declares one.
    pub smpp: Option<ListenerId>,
}

impl LbListeners {
    /// Finds the listeners by kind and port among those `core` declared.
    fn find(core: &Balancer) -> Result<LbListeners, String> {
        let specs = core.listeners();
        let find = |kind: SocketKind, port: u16, what: &str| {
            specs
                .iter()
                .find(|l| l.kind == kind && l.port == port && !l.ipv6)
                .map(|l| l.id)
                .ok_or_else(|| format!("no {what} listener ({kind:?} port {port}) declared"))
        };
        Ok(LbListeners {
            external_udp: find(SocketKind::Udp, addr::EXTERNAL_PORT, "external SIP")?,
            internal_udp: find(SocketKind::Udp, addr::INTERNAL_PORT, "internal SIP")?,
            heartbeat: find(SocketKind::Tcp, addr::HEARTBEAT_PORT, "heartbeat")?,
            external_tcp: find(SocketKind::Tcp, addr::EXTERNAL_PORT, "external SIP TCP").ok(),
            internal_tcp: find(SocketKind::Tcp, addr::INTERNAL_PORT, "internal SIP TCP").ok(),
            smpp: specs
                .iter()
                .find(|l| {
                    l.kind == SocketKind::Tcp
                        && l.port == addr::SMPP_PORT
                        && l.name.contains("SMPP")
                        && l.tls.is_none()
                        && !l.ipv6
                })
                .map(|l| l.id),
        })
    }

    /// The leg a UDP listener faces, if it is one of the simulator's.
    fn udp_leg(&self, id: ListenerId) -> Option<Leg> {
        if id == self.external_udp {
            Some(Leg::External)
        } else if id == self.internal_udp {
            Some(Leg::Internal)
        } else {
            None
        }
    }

    pub(super) fn udp(&self, leg: Leg) -> ListenerId {
        match leg {
            Leg::External => self.external_udp,
            Leg::Internal => self.internal_udp,
        }
    }
}

/// A heartbeat connection a node opened to a balancer: which node process, and whether the
/// balancer has answered on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HbConn {
    pub node: usize,
    pub incarnation: u32,
    pub answered: bool,
}

/// The balancers of `scenario`, and the configuration (XML) each was built from.
pub(super) fn build(scenario: &Scenario) -> Result<(Vec<Lb>, Vec<String>), WorldError> {
    let node_count = scenario.node_count();
    let mut lbs = Vec::new();
    let mut configs = Vec::new();
    for i in 0..scenario.balancers.count as usize {
        let xml = scenario.balancer_xml(i);
        let config = Config::from_xml(&xml)
            .map_err(|e| WorldError::Config {
                index: i,
                reason: e.to_string(),
            })?
            .config;
        let core = Balancer::new(config, Timestamp::ZERO).map_err(|e| WorldError::Config {
            index: i,
            reason: e.to_string(),
        })?;
        let listeners =
            LbListeners::find(&core).map_err(|reason| WorldError::Config { index: i, reason })?;
        let smpp_customers = scenario
            .smpp
            .as_ref()
            .is_some_and(|m| m.customer_count() > 0);
        if smpp_customers && listeners.smpp.is_none() {
            return Err(WorldError::Config {
                index: i,
                reason: format!(
                    "no SMPP listener (TCP port {}) declared for the scenario's SMPP customers",
                    addr::SMPP_PORT
                ),
            });
        }
        configs.push(xml);
        lbs.push(Lb {
            core,
            listeners,
            timer_at: None,
            delivered_requests: 0,
            delivered_responses: 0,
            delivered_bytes: 0,
            present: vec![false; node_count],
            left: vec![false; node_count],
            rejoined: vec![false; node_count],
        });
    }
    Ok((lbs, configs))
}

impl World {
    /// Feeds one input to balancer `lb`, carries out its outputs and re-arms its timer.
    pub(crate) fn feed(&mut self, lb: usize, input: Input) {
        let now = self.now();
        if let Some(t) = &mut self.trace {
            t.input(lb, now, &input);
        }
        self.lbs[lb].core.handle(now, input);
        while let Some(out) = self.lbs[lb].core.poll_output() {
            if let Some(t) = &mut self.trace {
                t.output(lb, &out);
            }
            self.lb_output(lb, out);
        }
        let next = self.lbs[lb].core.poll_timeout();
        if next != self.lbs[lb].timer_at {
            self.lbs[lb].timer_at = next;
            if let Some(t) = next {
                self.q.schedule_at(t, Event::LbTimer { lb });
            }
        }
        self.observe_registry(lb);
    }

    fn observe_registry(&mut self, lb: usize) {
        let l = &mut self.lbs[lb];
        let registry = l.core.cluster().registry();
        let mut changed = false;
        for (j, n) in self.nodes.iter().enumerate() {
            let here = registry.find_by_addr(n.addr.ip(), n.addr.port()).is_some();
            if l.present[j] && !here {
                l.left[j] = true;
            }
            if !l.present[j] && here && l.left[j] {
                l.rejoined[j] = true;
            }
            changed |= l.present[j] != here;
            l.present[j] = here;
        }
        if changed {
            self.refresh_serving();
        }
    }

    /// A node's heartbeat request reaches balancer `lb`: one request per connection.
    pub(super) fn heartbeat_request(
        &mut self,
        lb: usize,
        node: usize,
        incarnation: u32,
        bytes: Bytes,
    ) {
        // One request per connection: open it, send the request, and wait for the
        // answer and the balancer's close.
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.hb_conns.insert(
            (lb, conn),
            HbConn {
                node,
                incarnation,
                answered: false,
            },
        );
        let peer = SocketAddr::new(
            self.nodes[node].addr.ip(),
            40_000 + (conn.0 % 20_000) as u16,
        );
        let listener = self.lbs[lb].listeners.heartbeat;
        self.feed(
            lb,
            Input::Accepted {
                conn,
                listener,
                peer,
            },
        );
        if self.hb_conns.contains_key(&(lb, conn)) {
            self.feed(lb, Input::Data { conn, bytes });
        }
    }

    pub(super) fn lb_output(&mut self, lb: usize, out: Output) {
        match out {
            Output::SendDatagram {
                listener,
                to,
                payload,
            } => {
                let Some(leg) = self.lbs[lb].listeners.udp_leg(listener) else {
                    self.violation(format!(
                        "balancer lb{lb} sent a datagram on {listener:?}, which is not one of its IPv4 UDP listeners"
                    ));
                    return;
                };
                let from = match leg {
                    Leg::External => addr::balancer_external(lb),
                    Leg::Internal => addr::balancer_internal(lb),
                };
                self.check_balancer_message(lb, to, &payload, "datagram");
                self.send_udp(from, to, payload);
            }
            Output::Write { conn, payload } => match self.hb_conns.get_mut(&(lb, conn)) {
                Some(hb) => {
                    hb.answered = true;
                    let (node, incarnation) = (hb.node, hb.incarnation);
                    if !self.partitioned.contains(&node) {
                        let at = self.heartbeat_latency();
                        self.q.schedule_in(
                            at,
                            Event::HbReply {
                                lb,
                                node,
                                incarnation,
                                bytes: payload,
                            },
                        );
                    }
                }
                None => {
                    if !self.lb_write(lb, conn, payload) {
                        self.violation(format!(
                            "balancer lb{lb} wrote on unknown connection {}",
                            conn.0
                        ));
                    }
                }
            },
            Output::Close { conn } => match self.hb_conns.remove(&(lb, conn)) {
                Some(hb) if !hb.answered => {
                    let name = self.nodes[hb.node].name.clone();
                    self.violation(format!(
                        "balancer lb{lb} closed the heartbeat connection of node {name} without answering"
                    ));
                }
                Some(_) => {}
                None => {
                    if !self.lb_close(lb, conn) {
                        self.violation(format!(
                            "balancer lb{lb} closed unknown connection {}",
                            conn.0
                        ));
                    }
                }
            },
            Output::NotifyDrained { conn } => {
                if self.hb_conns.contains_key(&(lb, conn)) {
                    // Heartbeat answers leave at once.
                    self.q.schedule_at(self.now(), Event::Drained { lb, conn });
                } else if !self.lb_notify_drained(lb, conn) {
                    self.violation(format!(
                        "balancer lb{lb} asked for a drain notice on unknown connection {}",
                        conn.0
                    ));
                }
            }
            Output::PauseReading { conn } | Output::ResumeReading { conn } => {
                let paused = matches!(out, Output::PauseReading { .. });
                // Heartbeat requests come whole: pausing them changes nothing.
                if !self.hb_conns.contains_key(&(lb, conn)) && !self.lb_pause(lb, conn, paused) {
                    self.violation(format!(
                        "balancer lb{lb} paused or resumed unknown connection {}",
                        conn.0
                    ));
                }
            }
            Output::Connect {
                conn,
                to,
                from,
                tls,
                ..
            } => self.lb_connect(lb, conn, to, from, tls),
            Output::Cluster { kind, node } => {
                let at = self.now();
                self.cluster_events
                    .push(ClusterEvent { at, lb, kind, node });
            }
            other => self.violation(format!(
                "balancer lb{lb} asked for {other:?}, which the simulated cluster never needs"
            )),
        }
    }
}
