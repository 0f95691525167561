//! Opening sockets with `socket2` and handing them over as non-blocking std types, which every
//! runtime can adopt (`tokio::net::UdpSocket::from_std`, `smol::Async::new`); and resolving a
//! configured bind host, blocking, for a runtime to call on a blocking thread.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use switchboard_core::io::{ListenerSpec, SocketKind};

/// A socket that could not be opened. Startup fails with this message.
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
        source: io::Error,
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
        source: io::Error,
    },
}

/// Resolves a configured bind host to one address of the wanted family. An IP literal (in
/// brackets or not) is taken as it is; a name is looked up with the system resolver, which
/// blocks: call this on a thread that may block.
pub fn resolve_blocking(host: &str, port: u16, ipv6: bool) -> Result<SocketAddr, NetError> {
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs = (trimmed, port)
        .to_socket_addrs()
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

fn socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        // The IPv4 and IPv6 listeners of a leg may share a port.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A non-blocking UDP socket bound to `addr` with the configured buffer sizes (`None` or 0 =
/// system default), whose error queue reports the destinations ICMP refused
/// ([`crate::errqueue`]).
pub fn udp(
    what: &str,
    addr: SocketAddr,
    recv_buffer: Option<u32>,
    send_buffer: Option<u32>,
) -> Result<UdpSocket, NetError> {
    let open = || -> io::Result<UdpSocket> {
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
        Ok(socket.into())
    };
    open().map_err(|source| NetError::Bind {
        what: what.to_owned(),
        addr,
        source,
    })
}

/// A non-blocking TCP listener bound to `addr` (SO_REUSEADDR, so a restart does not wait for
/// TIME_WAIT).
pub fn tcp_listener(what: &str, addr: SocketAddr) -> Result<TcpListener, NetError> {
    let open = || -> io::Result<TcpListener> {
        let socket = socket(addr, Type::STREAM, Protocol::TCP)?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        Ok(socket.into())
    };
    open().map_err(|source| NetError::Bind {
        what: what.to_owned(),
        addr,
        source,
    })
}

/// A non-blocking TCP socket for a connection to `to`, with TCP_NODELAY (SIP messages are
/// written whole, each at once), bound to `local` when that is a specific address of `to`'s
/// family (so the peer sees the balancer's listening address). The runtime starts the connect
/// (`Socket::connect`, which returns `EINPROGRESS`) and waits for writability, or converts it
/// into its own stream type first.
pub fn tcp_connect_socket(local: Option<IpAddr>, to: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(ip) = local.filter(|ip| !ip.is_unspecified() && ip.is_ipv6() == to.is_ipv6()) {
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    Ok(socket)
}

/// Shuts down the sending side of a connected TCP socket that tasks share (so none can take
/// it by `&mut`): call when a connection's task closes a plain connection after its last
/// write.
pub fn shutdown_write(socket: &impl std::os::fd::AsFd) -> io::Result<()> {
    socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Write)
}

/// A listening socket of a [`ListenerSpec`], bound, for the runtime to adopt.
#[derive(Debug)]
pub enum Listening {
    /// A UDP socket.
    Udp(UdpSocket),
    /// A TCP listener.
    Tcp(TcpListener),
}

/// Opens the socket a [`ListenerSpec`] declares: resolves its host (blocking: start-up only),
/// binds it with its options, and returns it with the address it is bound to.
pub fn open(spec: &ListenerSpec) -> Result<(Listening, SocketAddr), NetError> {
    let addr = resolve_blocking(&spec.host, spec.port, spec.ipv6)?;
    let bind_error = |source| NetError::Bind {
        what: spec.name.clone(),
        addr,
        source,
    };
    match spec.kind {
        SocketKind::Udp => {
            let socket = udp(&spec.name, addr, spec.recv_buffer, spec.send_buffer)?;
            let local = socket.local_addr().map_err(bind_error)?;
            Ok((Listening::Udp(socket), local))
        }
        SocketKind::Tcp => {
            let socket = tcp_listener(&spec.name, addr)?;
            let local = socket.local_addr().map_err(bind_error)?;
            Ok((Listening::Tcp(socket), local))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    #[test]
    fn resolve_takes_literals_and_looks_up_names() {
        let v4 = resolve_blocking("127.0.0.1", 5060, false).unwrap();
        assert_eq!(v4, "127.0.0.1:5060".parse().unwrap());
        let v6 = resolve_blocking("[::1]", 5060, true).unwrap();
        assert_eq!(v6, "[::1]:5060".parse().unwrap());
        let name = resolve_blocking("localhost", 5080, false).unwrap();
        assert!(name.ip().is_loopback() && name.is_ipv4() && name.port() == 5080);
        // `.invalid` never resolves (RFC 6761); without DNS the lookup fails all the same.
        let error = resolve_blocking("no-such-host.invalid", 5060, false).unwrap_err();
        assert!(
            matches!(
                error,
                NetError::Resolve { port: 5060, .. } | NetError::NoAddress { .. }
            ),
            "{error}"
        );
    }

    #[test]
    fn udp_sockets_are_non_blocking_and_bound() {
        let socket = udp(
            "test UDP",
            "127.0.0.1:0".parse().unwrap(),
            Some(65536),
            None,
        )
        .expect("open");
        let addr = socket.local_addr().unwrap();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        let mut buf = [0; 16];
        let read = socket.recv_from(&mut buf).map_err(|e| e.kind());
        assert_eq!(read, Err(io::ErrorKind::WouldBlock));
        let taken = udp("test UDP", addr, None, None).expect_err("port in use");
        assert!(
            taken
                .to_string()
                .starts_with(&format!("cannot open test UDP on {addr}: ")),
            "{taken}"
        );
    }

    #[test]
    fn tcp_listener_and_connect_socket() {
        let listener = tcp_listener("test TCP", "127.0.0.1:0".parse().unwrap()).expect("open");
        let to = listener.local_addr().unwrap();
        assert_eq!(
            listener.accept().map(|_| ()).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
        let socket = tcp_connect_socket(Some("127.0.0.1".parse().unwrap()), to).expect("socket");
        assert!(socket.tcp_nodelay().unwrap());
        assert_eq!(
            socket.local_addr().unwrap().as_socket().map(|a| a.ip()),
            Some("127.0.0.1".parse().unwrap())
        );
        // Non-blocking: the connect is under way (EINPROGRESS) until the listener accepts.
        let _started = socket.connect(&to.into());
        let deadline = Instant::now() + Duration::from_secs(2);
        let (mut accepted, from) = loop {
            match listener.accept() {
                Ok(pair) => break pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        assert_eq!(Some(from), socket.local_addr().unwrap().as_socket());
        let mut stream: std::net::TcpStream = socket.into();
        stream.set_nonblocking(false).unwrap();
        stream.write_all(b"OPTIONS").unwrap();
        accepted.set_nonblocking(false).unwrap();
        let mut buf = [0; 7];
        accepted.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"OPTIONS");
    }

    #[test]
    fn connect_socket_ignores_an_unspecified_or_foreign_local_address() {
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for local in [
            None,
            Some("0.0.0.0".parse().unwrap()),
            Some("::1".parse().unwrap()),
        ] {
            let socket = tcp_connect_socket(local, to).expect("socket");
            let bound = socket.local_addr().unwrap().as_socket().unwrap();
            assert_eq!(bound.port(), 0, "{local:?} not bound");
        }
    }
}
