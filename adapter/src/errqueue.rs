//! Datagrams the operating system reports refused. On Linux the SIP UDP sockets ask for
//! `IP_RECVERR`/`IPV6_RECVERR`: an ICMP error for a datagram they sent is then queued on the
//! socket's error queue with the datagram's destination, instead of surfacing as a bare
//! `ECONNREFUSED` on the next receive that names nobody. [`drain`] reads that queue back.
//! Elsewhere nothing is enabled and nothing is reported.
//!
//! Only the translation happens here: which destinations were refused. What a refusal means
//! for a node is the core's decision ([`Input::SendFailed`](switchboard_core::io::Input)).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

/// Reports read from one error queue per call of [`drain`] at most, so a flood of ICMP errors
/// cannot keep a receive loop from its datagrams; the rest wait for the next call.
pub const DRAIN_LIMIT: usize = 256;

/// Asks the kernel to queue ICMP errors for datagrams sent from `socket` (`IP_RECVERR`, or
/// `IPV6_RECVERR` for an IPv6 socket).
#[cfg(target_os = "linux")]
pub fn enable(socket: &impl AsFd, ipv6: bool) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    if ipv6 {
        setsockopt(socket, sockopt::Ipv6RecvErr, &true)?;
    } else {
        setsockopt(socket, sockopt::Ipv4RecvErr, &true)?;
    }
    Ok(())
}

/// Without an error queue there is nothing to enable.
#[cfg(not(target_os = "linux"))]
pub fn enable(_socket: &impl AsFd, _ipv6: bool) -> io::Result<()> {
    Ok(())
}

/// Reads `socket`'s error queue, appending to `refused` the destination of every datagram an
/// ICMP or ICMPv6 "destination unreachable" (port, host, network, administratively
/// prohibited, …) was received for, each destination once. Other queued errors (a path MTU
/// report, a local error) are read and dropped, so they do not hold receive-buffer space.
///
/// Returns `Err(WouldBlock)` once the queue is empty, `Ok(())` after [`DRAIN_LIMIT`] reports
/// with more possibly waiting, or the error the read failed with.
#[cfg(target_os = "linux")]
pub fn drain(socket: &impl AsFd, refused: &mut Vec<SocketAddr>) -> io::Result<()> {
    for _ in 0..DRAIN_LIMIT {
        if let Some(to) = read_one(socket)? {
            if !refused.contains(&to) {
                refused.push(to);
            }
        }
    }
    Ok(())
}

/// Without an error queue there is never anything to read.
#[cfg(not(target_os = "linux"))]
pub fn drain(_socket: &impl AsFd, _refused: &mut Vec<SocketAddr>) -> io::Result<()> {
    Err(io::ErrorKind::WouldBlock.into())
}

/// ICMP "destination unreachable" (RFC 792) and its code "fragmentation needed", which is a
/// path MTU report, not a refusal.
#[cfg(target_os = "linux")]
const ICMP_DEST_UNREACH: u8 = 3;
#[cfg(target_os = "linux")]
const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMPv6 "destination unreachable" (RFC 4443); "packet too big" is a type of its own.
#[cfg(target_os = "linux")]
const ICMP6_DST_UNREACH: u8 = 1;

/// Reads one message off the error queue: `Some(destination)` if it reports the destination
/// unreachable, `None` for any other error, `Err(WouldBlock)` if the queue is empty.
#[cfg(target_os = "linux")]
fn read_one(socket: &impl AsFd) -> io::Result<Option<SocketAddr>> {
    use nix::libc;
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
    use std::os::fd::AsRawFd;

    // The queued message also carries the head of the refused datagram: not needed.
    let mut iov: [io::IoSliceMut<'_>; 0] = [];
    // The extended error is followed by the address of the ICMP sender (SO_EE_OFFENDER).
    let mut control = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_ERRQUEUE,
    )?;
    let unreachable = msg.cmsgs().is_ok_and(|mut cmsgs| {
        cmsgs.any(|cmsg| match cmsg {
            ControlMessageOwned::Ipv4RecvErr(ee, _) => {
                ee.ee_origin == libc::SO_EE_ORIGIN_ICMP
                    && ee.ee_type == ICMP_DEST_UNREACH
                    && ee.ee_code != ICMP_FRAG_NEEDED
            }
            ControlMessageOwned::Ipv6RecvErr(ee, _) => {
                ee.ee_origin == libc::SO_EE_ORIGIN_ICMP6 && ee.ee_type == ICMP6_DST_UNREACH
            }
            _ => false,
        })
    });
    let to = msg.address.as_ref().and_then(socket_addr);
    if !unreachable || to.is_none() {
        tracing::trace!(?to, "error queue: not a refusal, dropped");
        return Ok(None);
    }
    Ok(to)
}

/// The IPv4 or IPv6 address in `addr`, if it holds one.
#[cfg(target_os = "linux")]
fn socket_addr(addr: &nix::sys::socket::SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    addr.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    /// A loopback port nobody listens on: bound for a moment by the system, then released.
    fn unused_port(ip: &str) -> Option<SocketAddr> {
        let probe = UdpSocket::bind((ip, 0)).ok()?;
        probe.local_addr().ok()
    }

    /// Drains `socket`'s error queue, as a receive loop does when its reactor reports an
    /// error, every few milliseconds until `want` shows up (or a second has passed).
    fn refused_within_a_second(socket: &UdpSocket, want: SocketAddr) -> Vec<SocketAddr> {
        let mut refused = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(1);
        while !refused.contains(&want) {
            assert!(
                Instant::now() < deadline,
                "no refusal reported for {want} within 1 s"
            );
            match drain(socket, &mut refused) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("error queue read failed: {e}"),
            }
        }
        refused
    }

    #[test]
    fn datagram_to_a_closed_loopback_port_is_reported_refused() {
        let socket = crate::net::udp("test UDP", "127.0.0.1:0".parse().unwrap(), None, None)
            .expect("bind the way the adapter does");
        let closed = unused_port("127.0.0.1").expect("a free loopback port");
        socket.send_to(b"OPTIONS", closed).expect("send");
        let refused = refused_within_a_second(&socket, closed);
        assert_eq!(refused, vec![closed]);
        // The queue is empty now; and a second datagram is reported again.
        assert_eq!(
            drain(&socket, &mut Vec::new()).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
        socket.send_to(b"OPTIONS", closed).expect("send");
        assert_eq!(refused_within_a_second(&socket, closed), vec![closed]);
    }

    #[test]
    fn ipv6_datagram_to_a_closed_loopback_port_is_reported_refused() {
        let Ok(socket) = crate::net::udp("test UDP", "[::1]:0".parse().unwrap(), None, None) else {
            return; // No IPv6 loopback on this machine.
        };
        let closed = unused_port("::1").expect("a free loopback port");
        socket.send_to(b"OPTIONS", closed).expect("send");
        assert_eq!(refused_within_a_second(&socket, closed), vec![closed]);
    }

    #[test]
    fn an_empty_queue_would_block() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        enable(&socket, false).unwrap();
        let mut refused = Vec::new();
        let read = drain(&socket, &mut refused);
        assert_eq!(read.map_err(|e| e.kind()), Err(io::ErrorKind::WouldBlock));
        assert!(refused.is_empty());
    }
}
