//! The HTTP connections of the service ports (heartbeat §3.2, management API §7.1): each
//! connection's bytes are framed incrementally (never re-parsed from the start), bounded in
//! size and in idle time, until one complete request is ready for its handler. Every service
//! answers one request per connection and closes it.

use super::listeners::Role;
use super::net::Net;
use super::timers::Timer;
use crate::http::framer::RequestCollector;
use crate::io::ConnId;
use crate::time::Timestamp;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The most a service request (head and body) may hold.
pub const SERVICE_MAX_BYTES: usize = 64 * 1024;
/// How long a service connection may stay silent before it is dropped.
pub const SERVICE_IDLE: Duration = Duration::from_secs(30);

/// One complete request for a service handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest {
    /// The connection to answer on.
    pub conn: ConnId,
    /// Which service.
    pub role: Role,
    /// The client.
    pub peer: SocketAddr,
    /// The whole request, exactly as received.
    pub raw: Bytes,
}

#[derive(Debug)]
struct ServiceConn {
    role: Role,
    peer: SocketAddr,
    collector: RequestCollector,
}

/// The open service connections.
#[derive(Debug, Default)]
pub struct Services {
    conns: BTreeMap<ConnId, ServiceConn>,
}

impl Services {
    /// A connection was accepted on a service port: it has [`SERVICE_IDLE`] to send its
    /// request.
    pub fn accepted(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        role: Role,
        peer: SocketAddr,
    ) {
        self.conns.insert(
            conn,
            ServiceConn {
                role,
                peer,
                collector: RequestCollector::new(service_limits()),
            },
        );
        net.timers.set(
            Timer::ServiceIdle(conn),
            Some(now.saturating_add(SERVICE_IDLE)),
        );
    }

    /// Bytes arrived: returns the request once it is complete. A request that cannot be
    /// framed (malformed, too large) is answered with its status and the connection closed.
    pub fn data(
        &mut self,
        net: &mut Net,
        now: Timestamp,
        conn: ConnId,
        bytes: Bytes,
    ) -> Option<ServiceRequest> {
        let c = self.conns.get_mut(&conn)?;
        c.collector.feed(bytes);
        match c.collector.poll() {
            Ok(None) => {
                net.timers.set(
                    Timer::ServiceIdle(conn),
                    Some(now.saturating_add(SERVICE_IDLE)),
                );
                None
            }
            Ok(Some(request)) => {
                let (role, peer) = (c.role, c.peer);
                self.conns.remove(&conn);
                net.timers.cancel(Timer::ServiceIdle(conn));
                Some(ServiceRequest {
                    conn,
                    role,
                    peer,
                    raw: request.raw,
                })
            }
            Err(error) => {
                tracing::debug!(peer = %c.peer, %error, "service request refused");
                let status = error.status();
                self.conns.remove(&conn);
                net.write(
                    conn,
                    crate::http::response(status, "text/plain", &format!("{error}\n")),
                );
                net.close(conn);
                None
            }
        }
    }

    /// Answers a request and closes its connection.
    pub fn respond(&mut self, net: &mut Net, conn: ConnId, response: Bytes) {
        net.write(conn, response);
        net.close(conn);
    }

    /// The connection ended.
    pub fn closed(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// The connection stayed silent for [`SERVICE_IDLE`]: drop it.
    pub fn idle(&mut self, net: &mut Net, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            tracing::debug!(peer = %c.peer, "service connection idle, dropping it");
        }
        net.close(conn);
    }
}

/// The framing limits of a service request: [`SERVICE_MAX_BYTES`] for the head and for the
/// body.
fn service_limits() -> crate::http::framer::Limits {
    crate::http::framer::Limits {
        max_head: SERVICE_MAX_BYTES,
        max_body: Some(SERVICE_MAX_BYTES as u64),
        ..crate::http::framer::Limits::default()
    }
}
