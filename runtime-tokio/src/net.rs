//! Opening sockets: address resolution, socket options through `socket2`, conversion to tokio.

use socket2::{Domain, Protocol, Socket, Type};
use std::net::{IpAddr, SocketAddr};
use tokio::net::{TcpListener, UdpSocket};

/// A socket the driver could not open. Startup fails with this message.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The bind host is neither an IP literal nor a name that resolves.
    #[error("cannot resolve {host}:{port}: {source}")]
    Resolve {
        /// The configured host.
        host: String,
        /// The configured port.
        port: u16,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The host resolves, but to no address of the wanted family.
    #[error("{host} has no {family} address")]
    NoAddress {
        /// The configured host.
        host: String,
        /// "IPv4" or "IPv6".
        family: &'static str,
    },
    /// Creating, configuring or binding the socket failed.
    #[error("cannot open {what} on {addr}: {source}")]
    Bind {
        /// What the socket is for (e.g. "External UDP").
        what: String,
        /// The address.
        addr: SocketAddr,
        /// The system error.
        source: std::io::Error,
    },
}

/// Resolves a configured bind host to one address of the wanted family.
pub async fn resolve(host: &str, port: u16, ipv6: bool) -> Result<SocketAddr, NetError> {
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs = tokio::net::lookup_host((trimmed, port))
        .await
        .map_err(|source| NetError::Resolve {
            host: host.to_owned(),
            port,
            source,
        })?;
    addrs
        .into_iter()
        .find(|a| a.is_ipv6() == ipv6)
        .ok_or_else(|| NetError::NoAddress {
            host: host.to_owned(),
            family: if ipv6 { "IPv6" } else { "IPv4" },
        })
}

fn socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        // The IPv4 and IPv6 listeners of a leg may share a port.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A UDP socket bound to `addr` with the configured buffer sizes (`None` = system default),
/// whose error queue reports the destinations ICMP refused ([`crate::errqueue`]).
pub fn udp(
    what: &str,
    addr: SocketAddr,
    recv_buffer: Option<u32>,
    send_buffer: Option<u32>,
) -> Result<UdpSocket, NetError> {
    let open = || -> std::io::Result<UdpSocket> {
        let socket = socket(addr, Type::DGRAM, Protocol::UDP)?;
        if let Some(size) = recv_buffer.filter(|s| *s > 0) {
            socket.set_recv_buffer_size(size as usize)?;
        }
        if let Some(size) = send_buffer.filter(|s| *s > 0) {
            socket.set_send_buffer_size(size as usize)?;
        }
        if let Err(error) = crate::errqueue::enable(&socket, addr.is_ipv6()) {
            // The socket works without it; only refusals by ICMP go unreported.
            tracing::warn!(what, %addr, %error, "cannot enable the socket's error queue");
        }
        socket.bind(&addr.into())?;
        tracing::debug!(
            what,
            %addr,
            rcvbuf = socket.recv_buffer_size().unwrap_or(0),
            sndbuf = socket.send_buffer_size().unwrap_or(0),
            "UDP socket open"
        );
        UdpSocket::from_std(socket.into())
    };
    open().map_err(|source| NetError::Bind {
        what: what.to_owned(),
        addr,
        source,
    })
}

/// A TCP listener bound to `addr` (SO_REUSEADDR, so a restart does not wait for TIME_WAIT).
pub fn tcp_listener(what: &str, addr: SocketAddr) -> Result<TcpListener, NetError> {
    let open = || -> std::io::Result<TcpListener> {
        let socket = socket(addr, Type::STREAM, Protocol::TCP)?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        TcpListener::from_std(socket.into())
    };
    open().map_err(|source| NetError::Bind {
        what: what.to_owned(),
        addr,
        source,
    })
}
