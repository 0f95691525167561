//! SIP listening points: which leg of the balancer a socket faces, over which transport, in
//! which address family (behaviour reference §1.1). The forwarder routes between points; the
//! balancer maps each point to the opaque listener id its driver knows.

use crate::node::Transport;
use serde::{Deserialize, Serialize};

/// Which side of the balancer a SIP listening point faces (behaviour reference §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Leg {
    /// Toward clients and user agents.
    External,
    /// Toward the cluster nodes.
    Internal,
}

/// One SIP listening point: a leg, a transport and an address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ListeningPoint {
    /// The leg the listener faces.
    pub leg: Leg,
    /// The SIP transport it serves.
    pub transport: Transport,
    /// True for the IPv6 listener of that leg and transport.
    pub ipv6: bool,
}
