//! The vocabulary between the core and its drivers: what comes in ([`Input`]) and what goes
//! out ([`Output`]). All of it is plain data (serde), so a run can be recorded and replayed.
//!
//! The core speaks sockets, not protocols. It declares its listening sockets
//! ([`ListenerSpec`]: an opaque [`ListenerId`], an address, UDP or TCP, optional TLS) and
//! asks for outbound connections ([`Output::Connect`]: an opaque [`ConnId`], a destination,
//! optional TLS). Inputs and outputs then carry only those ids and bytes: the driver never
//! learns whether SIP, HTTP or anything else runs on a socket. Framing (SIP, HTTP,
//! WebSocket), every timeout (connect, TLS handshake, idle) and every protocol decision stay
//! in the core; TLS records are the one layer drivers add, on the sockets the core marks.
//!
//! Inbound connections get ids minted by the driver (low half of the id space); outbound ones
//! are minted by the core (high bit set), so the core can name a connection it has only just
//! asked for and queue bytes on it before it is established.

use crate::config::TlsClientAuth;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// A listening socket, named by the core in its [`ListenerSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ListenerId(pub u32);

/// A stream connection, inbound (minted by the driver) or outbound (minted by the core).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnId(pub u64);

impl ConnId {
    /// The bit that marks ids minted by the core for outbound connections.
    pub const OUTBOUND_BIT: u64 = 1 << 63;

    /// True if the core opened this connection.
    pub const fn is_outbound(self) -> bool {
        self.0 & Self::OUTBOUND_BIT != 0
    }
}

/// What kind of socket a listener is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SocketKind {
    /// A UDP socket: [`Input::Datagram`] in, [`Output::SendDatagram`] out.
    Udp,
    /// A TCP listener: [`Input::Accepted`], then [`Input::Data`] per connection.
    Tcp,
}

/// The TLS server side of a TCP listener: the driver runs the handshake on every accepted
/// connection with the certificate of `<ssl>` before passing bytes on. The core closes a
/// connection whose handshake has not produced a byte in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerTls {
    /// Whether client certificates are asked for and required.
    pub client_auth: TlsClientAuth,
}

/// The TLS client side of an outbound connection: the driver runs the handshake, verifying
/// the server's certificate against `<ssl>`'s trust store, before reporting
/// [`Input::Connected`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientTls {
    /// The name sent in SNI and checked in the certificate (a DNS name or an IP literal).
    pub server_name: String,
    /// Without a trust store in `<ssl>`, connect anyway and accept any server certificate
    /// (the reference's HTTPS re-encryption toward nodes; the driver warns once at start)
    /// instead of failing the connection. With a trust store the server is always verified.
    #[serde(default)]
    pub unverified_without_trust_store: bool,
}

/// A listening socket the driver must open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerSpec {
    /// How the core names it in inputs and outputs.
    pub id: ListenerId,
    /// What it is for, for logs and error messages (e.g. "SIP external UDP").
    pub name: String,
    /// Bind host (an IP literal or a name the driver resolves).
    pub host: String,
    /// Bind port.
    pub port: u16,
    /// True for an IPv6 socket (`IPV6_V6ONLY`): the host resolves to an IPv6 address.
    pub ipv6: bool,
    /// UDP or TCP.
    pub kind: SocketKind,
    /// TLS on every accepted connection (TCP only).
    pub tls: Option<ServerTls>,
    /// `SO_RCVBUF` for UDP sockets (`None`: the system default).
    pub recv_buffer: Option<u32>,
    /// `SO_SNDBUF` for UDP sockets (`None`: the system default).
    pub send_buffer: Option<u32>,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseReason {
    /// The peer closed it.
    PeerClosed,
    /// A read or write failed (reset, refused, TLS error, a peer that does not read).
    IoError,
    /// The core asked for it to be closed.
    Requested,
}

/// One input to the core. Every input is fed together with the current `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Input {
    /// A datagram arrived on a UDP listener.
    Datagram {
        /// The listener it arrived on.
        listener: ListenerId,
        /// The sender.
        from: SocketAddr,
        /// The datagram.
        payload: Bytes,
    },
    /// A connection was accepted on a TCP listener (before any TLS handshake).
    Accepted {
        /// The new connection (minted by the driver).
        conn: ConnId,
        /// The listener that accepted it.
        listener: ListenerId,
        /// The remote address.
        peer: SocketAddr,
    },
    /// An outbound connection the core asked for is established (TCP and, if asked, TLS).
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// An outbound connection the core asked for could not be established.
    ConnectFailed {
        /// The connection.
        conn: ConnId,
    },
    /// Bytes arrived on a connection (after TLS decryption).
    Data {
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
    /// The answer to an [`Output::Resolve`]: the first address of the asked family, or `None`
    /// if the name did not resolve.
    Resolved {
        /// The token of the request.
        token: u64,
        /// The address, with the requested port.
        addr: Option<SocketAddr>,
    },
    /// The operating system reported that a datagram sent from `listener`'s socket to `to`
    /// was refused (ICMP port or host unreachable, read from the socket's error queue).
    SendFailed {
        /// The listener whose socket sent the datagram.
        listener: ListenerId,
        /// The destination the datagram was sent to.
        to: SocketAddr,
    },
    /// Every write queued on `conn` before an [`Output::NotifyDrained`] has been handed to
    /// the socket.
    Drained {
        /// The connection.
        conn: ConnId,
    },
    /// The deadline returned by `poll_timeout` has passed.
    Timeout,
}

/// A change in the cluster, for the driver to log or export and the simulator to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterEventKind {
    /// A node joined.
    NodeAdded,
    /// A node left (expired, stopped, replaced).
    NodeRemoved,
    /// A node announced a graceful shutdown.
    NodeGraceful,
    /// A node was marked bad.
    NodeBad,
    /// A bad node was cleared.
    NodeRecovered,
    /// A node became suspect.
    NodeSuspect,
    /// A suspect node answered again.
    NodeTrusted,
    /// HTTP sessions of one jvmRoute were moved to another.
    Switchover,
}

/// One action the driver must carry out, or an event it may log or export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Output {
    /// Send a datagram from a UDP listener's socket. Never blocks the core: a driver whose
    /// socket buffer is full queues a bounded amount, then drops and counts.
    SendDatagram {
        /// The listener whose socket sends it.
        listener: ListenerId,
        /// The destination.
        to: SocketAddr,
        /// The datagram.
        payload: Bytes,
    },
    /// Open an outbound TCP connection with an id minted by the core. Writes may follow at
    /// once; the driver queues them until the connection (and its TLS handshake) is up, then
    /// reports [`Input::Connected`] or [`Input::ConnectFailed`]. The core decides how long it
    /// waits: past its deadline it sends [`Output::Close`] and forgets the connection.
    Connect {
        /// The id the core chose.
        conn: ConnId,
        /// The destination.
        to: SocketAddr,
        /// Leave from this listener's address (its IP, any port) when set.
        from: Option<ListenerId>,
        /// Leave from this address (any port) when set; it takes precedence over `from`.
        #[serde(default)]
        bind_ip: Option<std::net::IpAddr>,
        /// TLS over the connection.
        tls: Option<ClientTls>,
    },
    /// Write bytes on a connection.
    Write {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        payload: Bytes,
    },
    /// Stop reading from a connection until [`Output::ResumeReading`] (its bytes go to a peer
    /// that takes them more slowly). Bytes already read may still arrive; the connection's
    /// end is still reported.
    PauseReading {
        /// The connection.
        conn: ConnId,
    },
    /// Read from a paused connection again.
    ResumeReading {
        /// The connection.
        conn: ConnId,
    },
    /// Feed [`Input::Drained`] once every write queued on `conn` before this output has been
    /// handed to the socket (at once if none is pending). Nothing is reported if the
    /// connection ends first.
    NotifyDrained {
        /// The connection.
        conn: ConnId,
    },
    /// Close a connection after flushing what was written. The core forgets it at once; the
    /// driver reports nothing more about it.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Open a listening socket while running (a reloaded file added it); the driver logs an
    /// error if it cannot. The sockets of the start are [`ListenerSpec`]s the core lists
    /// before the first input.
    Listen {
        /// The socket.
        spec: ListenerSpec,
    },
    /// Stop accepting on a listener and close its socket (the management port once `/lbstop`
    /// is accepted, a listener a reloaded file no longer has).
    CloseListener {
        /// The listener.
        id: ListenerId,
    },
    /// Resolve a host name (the core does no DNS), then feed [`Input::Resolved`] with the
    /// same token.
    Resolve {
        /// Names the request in the answer.
        token: u64,
        /// The host name.
        host: String,
        /// The port to put in the answer.
        port: u16,
        /// True for an IPv6 address, false for IPv4.
        ipv6: bool,
    },
    /// Replace the log filter with this level (`DEBUG`, `info`, …) or tracing directive.
    SetLogLevel {
        /// The level or directive.
        level: String,
    },
    /// A change in the cluster (already logged by the core at info level).
    Cluster {
        /// What happened.
        kind: ClusterEventKind,
        /// The node (`hostName/ip`), or the routes of a switchover.
        node: String,
    },
    /// The core has finished stopping (`/lbstop` after its delay, or after
    /// `Balancer::shutdown`, once the nodes were told): the driver exits.
    Exit,
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
