//! The stream connections the balancer knows about, and how a message finds its connection.
//!
//! SIP over TCP, TLS, WS and WSS is connection-oriented: a response or request toward a client
//! must leave on the connection the client opened (RFC 3261 §18.2.2; RFC 7118 §5 for
//! WebSocket clients, whose Contact is not even reachable), and messages toward a node reuse
//! one connection per node address. This table maps each connection to its listener, peer and
//! stream framer, and each (transport, peer address) to the connection that reaches it.

use super::ws_link::WsLink;
use crate::forward::ListeningPoint;
use crate::io::ConnId;
use crate::node::Transport;
use crate::sip::Framer;
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// One SIP stream connection.
#[derive(Debug)]
pub struct StreamConn {
    /// The listener it belongs to (accepted on it, or opened from its address).
    pub listener: ListeningPoint,
    /// The remote address.
    pub peer: SocketAddr,
    /// Reassembles messages from the byte stream (TCP and TLS). WebSocket connections carry
    /// one message per frame and bypass it.
    pub framer: Framer,
    /// The WebSocket state of a WS or WSS connection (RFC 7118).
    pub ws: Option<WsLink>,
    /// Since when an incomplete message has been waiting for the rest of its bytes.
    partial_since: Option<Timestamp>,
    /// The last time bytes went either way.
    last_activity: Timestamp,
}

/// All live SIP stream connections, indexed by id and by (transport, peer).
#[derive(Debug)]
pub struct Connections {
    by_id: BTreeMap<ConnId, StreamConn>,
    by_peer: BTreeMap<(Transport, SocketAddr), ConnId>,
    /// Connections holding an incomplete message, by the time it started.
    partials: BTreeSet<(Timestamp, ConnId)>,
    max_message_size: usize,
    max_headers: usize,
}

impl Connections {
    /// An empty table whose framers accept messages of at most `max_message_size` bytes and
    /// `max_headers` header lines.
    pub fn new(max_message_size: usize, max_headers: usize) -> Self {
        Connections {
            by_id: BTreeMap::new(),
            by_peer: BTreeMap::new(),
            partials: BTreeSet::new(),
            max_message_size,
            max_headers,
        }
    }

    /// Records a connection the driver accepted. A newer connection from the same peer
    /// becomes the one messages toward that peer use.
    pub fn accepted(
        &mut self,
        conn: ConnId,
        listener: ListeningPoint,
        peer: SocketAddr,
        now: Timestamp,
    ) {
        self.insert(conn, listener, peer, now);
    }

    /// The connection toward `peer` over `point`'s transport, if one is open. Call once per
    /// stream message to send.
    pub fn route_to(
        &mut self,
        point: ListeningPoint,
        peer: SocketAddr,
        now: Timestamp,
    ) -> Option<ConnId> {
        let conn = *self.by_peer.get(&(point.transport, peer))?;
        self.touch(conn, now);
        Some(conn)
    }

    /// Records an outbound connection the balancer just asked the driver for.
    pub fn opened(
        &mut self,
        conn: ConnId,
        point: ListeningPoint,
        peer: SocketAddr,
        now: Timestamp,
    ) {
        self.insert(conn, point, peer, now);
    }

    /// The connection with this id, if it is still open.
    pub fn get_mut(&mut self, conn: ConnId) -> Option<&mut StreamConn> {
        self.by_id.get_mut(&conn)
    }

    /// Forgets a connection that closed or failed; returns it if it was known.
    pub fn remove(&mut self, conn: ConnId) -> Option<StreamConn> {
        let gone = self.by_id.remove(&conn)?;
        if let Some(since) = gone.partial_since {
            self.partials.remove(&(since, conn));
        }
        let key = (gone.listener.transport, gone.peer);
        if self.by_peer.get(&key) == Some(&conn) {
            self.by_peer.remove(&key);
            // Another connection to the same peer may still be open: let it take over.
            if let Some((&other, _)) = self
                .by_id
                .iter()
                .find(|(_, c)| (c.listener.transport, c.peer) == key)
            {
                self.by_peer.insert(key, other);
            }
        }
        Some(gone)
    }

    /// The framing limits new connections get: (maximum message size, maximum headers).
    pub fn limits(&self) -> (usize, usize) {
        (self.max_message_size, self.max_headers)
    }

    /// Records whether `conn`'s framer holds an incomplete message after a read; call after
    /// draining its frames. The clock starts with the first byte of the message.
    pub fn note_partial(&mut self, conn: ConnId, now: Timestamp) {
        let Some(c) = self.by_id.get_mut(&conn) else {
            return;
        };
        match (c.framer.buffered() > 0, c.partial_since) {
            (true, None) => {
                c.partial_since = Some(now);
                self.partials.insert((now, conn));
            }
            (false, Some(since)) => {
                c.partial_since = None;
                self.partials.remove(&(since, conn));
            }
            _ => {}
        }
    }

    /// When the oldest incomplete message will have waited `limit`.
    pub fn next_partial_deadline(&self, limit: std::time::Duration) -> Option<Timestamp> {
        self.partials
            .first()
            .map(|(since, _)| since.saturating_add(limit))
    }

    /// Connections whose incomplete message has waited `limit` or longer at `now`.
    pub fn stalled(&self, now: Timestamp, limit: std::time::Duration) -> Vec<ConnId> {
        self.partials
            .iter()
            .take_while(|(since, _)| since.saturating_add(limit) <= now)
            .map(|(_, conn)| *conn)
            .collect()
    }

    /// Records traffic on `conn` (bytes received, or a message written).
    pub fn touch(&mut self, conn: ConnId, now: Timestamp) {
        if let Some(c) = self.by_id.get_mut(&conn) {
            c.last_activity = c.last_activity.max(now);
        }
    }

    /// Connections without traffic for longer than their limit at `now`: `outbound` for the
    /// connections the balancer opened, `inbound` for those peers opened.
    pub fn idle(
        &self,
        now: Timestamp,
        outbound: std::time::Duration,
        inbound: std::time::Duration,
    ) -> Vec<ConnId> {
        self.by_id
            .iter()
            .filter(|(id, c)| {
                let limit = if id.is_outbound() { outbound } else { inbound };
                c.last_activity.saturating_add(limit) <= now
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Number of open SIP stream connections (`NumberOfActiveSipConnections`, without UDP).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no stream connection is open.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn insert(&mut self, conn: ConnId, listener: ListeningPoint, peer: SocketAddr, now: Timestamp) {
        let framer = Framer::new(self.max_message_size, self.max_headers);
        self.by_id.insert(
            conn,
            StreamConn {
                listener,
                peer,
                framer,
                ws: None,
                partial_since: None,
                last_activity: now,
            },
        );
        self.by_peer.insert((listener.transport, peer), conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::Leg;

    fn tcp(leg: Leg) -> ListeningPoint {
        ListeningPoint {
            leg,
            transport: Transport::Tcp,
            ipv6: false,
        }
    }

    #[test]
    fn messages_toward_a_client_reuse_its_connection() {
        let mut t = Connections::new(65536, 256);
        let client: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        t.accepted(ConnId(1), tcp(Leg::External), client, Timestamp::ZERO);
        assert_eq!(
            t.route_to(tcp(Leg::External), client, Timestamp::ZERO),
            Some(ConnId(1))
        );
    }

    #[test]
    fn an_outbound_connection_is_reused_until_it_is_removed() {
        let mut t = Connections::new(65536, 256);
        let node: SocketAddr = "10.0.0.7:5080".parse().unwrap();
        assert_eq!(t.route_to(tcp(Leg::Internal), node, Timestamp::ZERO), None);
        let conn = ConnId(ConnId::OUTBOUND_BIT | 1);
        t.opened(conn, tcp(Leg::Internal), node, Timestamp::ZERO);
        assert_eq!(
            t.route_to(tcp(Leg::Internal), node, Timestamp::ZERO),
            Some(conn)
        );
        assert!(t.remove(conn).is_some());
        assert_eq!(t.route_to(tcp(Leg::Internal), node, Timestamp::ZERO), None);
    }

    #[test]
    fn closing_the_newest_connection_falls_back_to_an_older_one() {
        let mut t = Connections::new(65536, 256);
        let peer: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        t.accepted(ConnId(1), tcp(Leg::External), peer, Timestamp::ZERO);
        t.accepted(ConnId(2), tcp(Leg::External), peer, Timestamp::ZERO);
        assert_eq!(
            t.route_to(tcp(Leg::External), peer, Timestamp::ZERO),
            Some(ConnId(2))
        );
        t.remove(ConnId(2));
        assert_eq!(
            t.route_to(tcp(Leg::External), peer, Timestamp::ZERO),
            Some(ConnId(1))
        );
        assert_eq!(t.len(), 1);
    }
}
