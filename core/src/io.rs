//! The vocabulary between the core and its drivers: what comes in ([`Input`]) and what goes
//! out ([`Output`]). All of it is plain data (serde), so a run can be recorded and replayed.
//!
//! The driver (tokio adapter, smol adapter or simulator) owns the sockets. It names each
//! listening socket with a [`ListenerId`] and each stream connection with a [`ConnId`]. Inbound
//! connections get ids minted by the driver (low half of the id space); outbound ones are
//! minted by the core (high bit set), so the core can name a connection it has only just asked
//! for and queue bytes on it before it is established.

use crate::node::Transport;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

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
pub struct ListenerId {
    /// The leg the listener faces.
    pub leg: Leg,
    /// The SIP transport it serves.
    pub transport: Transport,
    /// True for the IPv6 listener of that leg and transport.
    pub ipv6: bool,
}

/// A stream connection (TCP, TLS, WS, WSS, or an HTTP connection of a service port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnId(pub u64);

impl ConnId {
    /// The bit that marks ids minted by the core for outbound connections.
    pub const OUTBOUND_BIT: u64 = 1 << 63;

    /// True if the core opened this connection (toward a node or a client).
    pub const fn is_outbound(self) -> bool {
        self.0 & Self::OUTBOUND_BIT != 0
    }
}

/// The non-SIP services a driver accepts connections for and hands to the core as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Service {
    /// The HTTP/JSON heartbeat port (default 2610, §3.2).
    Heartbeat,
    /// The management API port (default 2006, §7.1).
    Management,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseReason {
    /// The peer closed it.
    PeerClosed,
    /// A read or write failed.
    IoError,
    /// The core asked for it to be closed.
    Requested,
}

/// One input to the core. Every input is fed together with the current `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Input {
    /// A UDP datagram arrived on a SIP listener.
    Datagram {
        /// The listener it arrived on.
        listener: ListenerId,
        /// The sender.
        from: SocketAddr,
        /// The datagram.
        payload: Bytes,
    },
    /// A SIP stream connection was accepted on a listener (TCP, TLS after the handshake, WS
    /// after the upgrade).
    Accepted {
        /// The new connection.
        conn: ConnId,
        /// The listener that accepted it.
        listener: ListenerId,
        /// The remote address.
        peer: SocketAddr,
    },
    /// An outbound connection the core asked for is established.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// An outbound connection the core asked for could not be established.
    ConnectFailed {
        /// The connection.
        conn: ConnId,
    },
    /// Bytes arrived on a SIP stream connection (for WS/WSS: the payload of a text or binary
    /// frame, one SIP message per frame per RFC 7118 §5).
    StreamData {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        bytes: Bytes,
    },
    /// A connection ended.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// Bytes arrived on a connection of a service port (heartbeat or management HTTP).
    ServiceData {
        /// Which service port.
        service: Service,
        /// The connection (minted by the driver).
        conn: ConnId,
        /// The remote address.
        peer: SocketAddr,
        /// The bytes received so far on this connection, appended by the driver.
        bytes: Bytes,
    },
    /// The answer to an [`Output::SendToHost`]: the address `host` resolved to (of the
    /// listener's address family), or `None` if it did not resolve.
    Resolved {
        /// The listener named in the output.
        listener: ListenerId,
        /// The host name.
        host: String,
        /// The port.
        port: u16,
        /// The resolved address.
        addr: Option<SocketAddr>,
        /// The message to send.
        payload: Bytes,
    },
    /// The operating system reported that a datagram sent from `listener`'s socket to `to`
    /// was refused (ICMP port or host unreachable, read from the socket's error queue). The
    /// core treats the peer as unable to take SIP traffic right now: a node becomes suspect
    /// and what was sent to it goes to another node.
    SendFailed {
        /// The listener whose socket sent the datagram.
        listener: ListenerId,
        /// The destination the datagram was sent to.
        to: SocketAddr,
    },
    /// The deadline returned by `poll_timeout` has passed.
    Timeout,
}

/// One action the driver must carry out, or an event it may log or export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Output {
    /// Send a UDP datagram from a listener's socket.
    SendDatagram {
        /// The listener whose socket sends it.
        listener: ListenerId,
        /// The destination.
        to: SocketAddr,
        /// The datagram.
        payload: Bytes,
    },
    /// Write bytes on a stream connection (for WS/WSS: as one text frame).
    Write {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        payload: Bytes,
    },
    /// Open an outbound connection with an id minted by the core. Writes may follow at once;
    /// the driver queues them until the connection is up.
    Connect {
        /// The id the core chose.
        conn: ConnId,
        /// The local listener (leg, transport, family) whose address it leaves from.
        listener: ListenerId,
        /// The destination.
        to: SocketAddr,
    },
    /// Close a connection after flushing what was written.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Resolve a host name the core cannot resolve (it does no DNS), then feed
    /// [`Input::Resolved`] with the first address of the listener's family (or `None`), the
    /// same `listener` and the same `payload`; the core then sends it like any other message.
    SendToHost {
        /// The listener (leg, transport, family) it leaves from.
        listener: ListenerId,
        /// The host name.
        host: String,
        /// The port.
        port: u16,
        /// The message.
        payload: Bytes,
    },
    /// `/lbstop` was accepted (§7.2): close the management port at once, wait `after`
    /// (`shutdownTimeout`), then stop as on SIGTERM (call `Balancer::shutdown`, carry out its
    /// outputs, exit).
    Stop {
        /// How long to wait before the full stop.
        after: Duration,
    },
    /// `/lbloglevel`: replace the log filter with this level (`DEBUG`, `info`, …) or tracing
    /// directive.
    SetLogLevel {
        /// The level or directive.
        level: String,
    },
    /// Send a complete HTTP request to a node's heartbeat port and discard the answer (the
    /// LB→node `stop` of §3.2).
    HttpNotify {
        /// The node's heartbeat address.
        to: SocketAddr,
        /// The whole request.
        request: Bytes,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_ids_are_marked() {
        assert!(ConnId(ConnId::OUTBOUND_BIT | 7).is_outbound());
        assert!(!ConnId(7).is_outbound());
    }
}
