//! The simulated network: the address plan, link classes with latency, jitter, loss,
//! duplication and reordering, partitions, and delivery of datagrams to their endpoint.

use super::{Event, Path, World};
use crate::addr;
use crate::scenario::{LinkSettings, Scenario};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard_core::forward::Leg;
use switchboard_core::io::Input;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    LbExternal(usize),
    LbInternal(usize),
    Vip,
    Node(usize),
    Caller(usize),
}

/// Who is at each address of `scenario`, and which addresses are the balancers' (their
/// legs and the VIP).
pub(super) fn address_plan(
    scenario: &Scenario,
) -> (BTreeMap<SocketAddr, Endpoint>, BTreeSet<SocketAddr>) {
    let mut endpoints = BTreeMap::new();
    let mut balancer_addrs = BTreeSet::new();
    for i in 0..scenario.balancers.count as usize {
        endpoints.insert(addr::balancer_external(i), Endpoint::LbExternal(i));
        endpoints.insert(addr::balancer_internal(i), Endpoint::LbInternal(i));
        balancer_addrs.insert(addr::balancer_external(i));
        balancer_addrs.insert(addr::balancer_internal(i));
    }
    if scenario.balancers.ip_load_balancer {
        endpoints.insert(addr::VIP, Endpoint::Vip);
        balancer_addrs.insert(addr::VIP);
    }
    for i in 0..scenario.node_count() {
        endpoints.insert(addr::node(i), Endpoint::Node(i));
    }
    for k in 0..scenario.callers as usize {
        endpoints.insert(addr::caller(k), Endpoint::Caller(k));
    }
    (endpoints, balancer_addrs)
}

impl World {
    fn link_of(&self, a: SocketAddr, b: SocketAddr) -> (LinkSettings, Option<usize>) {
        let node = |x: &SocketAddr| match self.endpoints.get(x) {
            Some(Endpoint::Node(j)) => Some(*j),
            _ => None,
        };
        match node(&a).or_else(|| node(&b)) {
            Some(j) => (self.scenario.links.internal, Some(j)),
            None => (self.scenario.links.external, None),
        }
    }

    fn delay(&mut self, link: &LinkSettings) -> Duration {
        let mut us = (link.latency_ms * 1000.0) as u64;
        if link.jitter_ms > 0.0 {
            us += self.net_rng.below((link.jitter_ms * 1000.0) as u64 + 1);
        }
        if link.reorder > 0.0 && self.net_rng.chance(link.reorder) {
            // Held back past the packets sent in the next few milliseconds.
            us += 2 * (link.latency_ms * 1000.0) as u64 + 5_000 + self.net_rng.below(20_000);
        }
        Duration::from_micros(us)
    }

    /// Sends a UDP datagram through the simulated network.
    pub(crate) fn send_udp(&mut self, from: SocketAddr, to: SocketAddr, payload: Bytes) {
        let (link, node) = self.link_of(from, to);
        if node.is_some_and(|j| self.partitioned.contains(&j)) {
            self.lost_packets += 1;
            return;
        }
        if link.loss > 0.0 && self.net_rng.chance(link.loss) {
            self.lost_packets += 1;
            return;
        }
        let copies = if link.dup > 0.0 && self.net_rng.chance(link.dup) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let d = self.delay(&link);
            self.q.schedule_in(
                d,
                Event::Datagram {
                    from,
                    to,
                    payload: payload.clone(),
                },
            );
        }
    }

    /// Heartbeats ride TCP: latency only.
    pub(crate) fn heartbeat_latency(&self) -> Duration {
        Duration::from_micros((self.scenario.links.internal.latency_ms * 1000.0) as u64)
    }

    pub(super) fn deliver(&mut self, from: SocketAddr, to: SocketAddr, payload: Bytes) {
        match self.endpoints.get(&to).copied() {
            Some(Endpoint::LbExternal(i)) => self.deliver_to_lb(i, Leg::External, from, payload),
            Some(Endpoint::LbInternal(i)) => self.deliver_to_lb(i, Leg::Internal, from, payload),
            Some(Endpoint::Vip) => {
                // The IP load balancer sprays each datagram to any balancer, keeping the
                // source address (direct server return).
                let i = self.spray_rng.below(self.lbs.len() as u64) as usize;
                self.deliver_to_lb(i, Leg::External, from, payload);
            }
            Some(Endpoint::Node(j)) => self.node_receive(j, Path::Udp, payload),
            Some(Endpoint::Caller(k)) => self.caller_receive(k, Path::Udp, payload),
            None => self.lost_packets += 1,
        }
    }

    fn deliver_to_lb(&mut self, lb: usize, leg: Leg, from: SocketAddr, payload: Bytes) {
        if let Some(j) = self.endpoints.get(&from).and_then(|e| match e {
            Endpoint::Node(j) => Some(*j),
            _ => None,
        }) {
            if self.partitioned.contains(&j) {
                self.lost_packets += 1;
                return;
            }
        }
        {
            let l = &mut self.lbs[lb];
            l.delivered_bytes += payload.len() as u64;
            if payload.starts_with(b"SIP/2.0 ") {
                l.delivered_responses += 1;
            } else if !(leg == Leg::Internal && is_sip_heartbeat(&payload)) {
                l.delivered_requests += 1;
            }
        }
        let listener = self.lbs[lb].listeners.udp(leg);
        self.feed(
            lb,
            Input::Datagram {
                listener,
                from,
                payload,
            },
        );
    }
}

fn is_sip_heartbeat(payload: &[u8]) -> bool {
    (payload.starts_with(b"OPTIONS ") || payload.starts_with(b"INFO "))
        && payload
            .windows(b"Mobicents-Heartbeat".len())
            .any(|w| w == b"Mobicents-Heartbeat")
}
