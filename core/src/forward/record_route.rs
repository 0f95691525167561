//! Record-Route (behaviour reference §1.12): two Record-Routes, one per leg, on initial
//! INVITE and SUBSCRIBE, each
//! `<sip:HOST:PORT;transport=<t>;lr;node_host=<ip>;node_port=<port>;version=<v>>`.
//! The host is the leg's first IP-LB address (with its port) when one is configured, else the
//! listening host, unless a routing rule asks for the private address (§1.18).

use super::settings::{uri_host, ForwardSettings};
use crate::forward::Leg;
use crate::node::{Transport, Version};
use std::fmt::Write as _;
use std::net::IpAddr;

/// The node a Record-Route is stamped with.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// The node IP.
    pub ip: IpAddr,
    /// The node's port for the inner transport.
    pub port: u16,
    /// The node's version.
    pub version: &'a Version,
}

/// The Record-Route value of `leg` for `transport`, or `None` if the leg has no listening
/// point for that transport (the reference then silently skips it). `host_override` is the
/// NAT `publicIp` used for the external Record-Route of node requests (§1.15).
pub fn record_route(
    s: &ForwardSettings,
    leg: Leg,
    transport: Transport,
    ipv6: bool,
    private: bool,
    stamp: Option<Stamp<'_>>,
    host_override: Option<&str>,
) -> Option<String> {
    let fam = s.leg(leg).family(ipv6);
    let (mut host, port) = fam.advertised(transport, !private)?;
    if let Some(h) = host_override {
        host = h.to_owned();
    }
    let mut v = format!(
        "<sip:{}:{port};transport={};lr",
        uri_host(&host),
        transport.as_str().to_ascii_lowercase()
    );
    if let Some(st) = stamp {
        let _ = write!(
            v,
            ";node_host={};node_port={};version={}",
            st.ip,
            st.port,
            st.version.as_str()
        );
    }
    v.push('>');
    Some(v)
}
