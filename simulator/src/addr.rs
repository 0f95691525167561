//! The simulated address plan: balancers on 10.0.0.x, the IP load balancer's VIP on
//! 10.0.0.100, nodes on 10.0.1.x, caller user agents on 10.0.2.x, SMPP providers on 10.0.3.x
//! and SMPP customers on 10.0.4.x.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The balancers' external SIP port.
pub const EXTERNAL_PORT: u16 = 5060;
/// The balancers' internal SIP port.
pub const INTERNAL_PORT: u16 = 5065;
/// The balancers' HTTP/JSON heartbeat port.
pub const HEARTBEAT_PORT: u16 = 2610;
/// Every node's SIP port.
pub const NODE_PORT: u16 = 5080;
/// Every node's heartbeat port (LB→node `stop`).
pub const NODE_HEARTBEAT_PORT: u16 = 2222;
/// Every caller's SIP port.
pub const CALLER_PORT: u16 = 5070;
/// The IP load balancer in front of the balancers' external legs.
pub const VIP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)), 5060);

fn ip(c: u8, i: usize) -> IpAddr {
    // Validated scenarios have at most 250 of each.
    IpAddr::V4(Ipv4Addr::new(
        10,
        0,
        c,
        u8::try_from(i + 1).unwrap_or(u8::MAX),
    ))
}

/// IP of balancer `i`.
pub fn balancer_ip(i: usize) -> IpAddr {
    ip(0, i)
}

/// External SIP address of balancer `i`.
pub fn balancer_external(i: usize) -> SocketAddr {
    SocketAddr::new(balancer_ip(i), EXTERNAL_PORT)
}

/// Internal SIP address of balancer `i`.
pub fn balancer_internal(i: usize) -> SocketAddr {
    SocketAddr::new(balancer_ip(i), INTERNAL_PORT)
}

/// SIP address of node `i`.
pub fn node(i: usize) -> SocketAddr {
    SocketAddr::new(ip(1, i), NODE_PORT)
}

/// SIP address of caller `i`.
pub fn caller(i: usize) -> SocketAddr {
    SocketAddr::new(ip(2, i), CALLER_PORT)
}

/// The balancers' SMPP port, and every provider's.
pub const SMPP_PORT: u16 = 2775;

/// SMPP address of balancer `i`.
pub fn balancer_smpp(i: usize) -> SocketAddr {
    SocketAddr::new(balancer_ip(i), SMPP_PORT)
}

/// Address of SMPP provider `i` (a message centre the balancers connect to).
pub fn smpp_provider(i: usize) -> SocketAddr {
    SocketAddr::new(ip(3, i), SMPP_PORT)
}

/// Address of SMPP customer `i`'s connection number `epoch` (an ephemeral port).
pub fn smpp_customer(i: usize, epoch: u32) -> SocketAddr {
    SocketAddr::new(ip(4, i), 30_000 + (epoch % 30_000) as u16)
}
