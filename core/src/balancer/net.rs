//! What every protocol module shares to talk to the driver: the output queue, the table of
//! which module owns each connection, and the timer table.

use super::listeners::Role;
use super::timers::{Timer, Timers};
use crate::io::{ClientTls, ConnId, ListenerId, Output};
use crate::time::Timestamp;
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How long an outbound connection (TCP and TLS handshake) may take before the core gives up
/// on it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an accepted connection may take to finish its TLS handshake or WebSocket upgrade.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Consecutive writes to one connection are merged while their total stays within this size
/// (copying a few KiB costs less than a system call; larger payloads go as they are).
pub const MERGE_LIMIT: usize = 16 * 1024;

/// The protocol module a connection belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The SIP proxy (client, node and WebSocket connections).
    Sip,
    /// A service port's HTTP connection (heartbeat or management).
    Service(Role),
    /// A stop notification to a node's heartbeat port.
    Notify,
    /// The HTTP balancer (client and node connections).
    Http,
    /// The SMPP balancer (customer and provider connections).
    Smpp,
}

/// Outputs, connection owners and timers, shared by the protocol modules.
#[derive(Debug, Default)]
pub struct Net {
    out: VecDeque<Output>,
    /// The last write, still growing: small writes that follow it on the same connection
    /// are appended in place (one buffer per batch, not one per write).
    tail: Option<(ConnId, BytesMut)>,
    owners: BTreeMap<ConnId, Owner>,
    /// The one timer table.
    pub timers: Timers,
    next_outbound: u64,
    next_token: u64,
}

impl Net {
    /// Queues an output.
    pub fn push(&mut self, output: Output) {
        self.flush_tail();
        self.out.push_back(output);
    }

    /// The next output for the driver.
    pub fn pop(&mut self) -> Option<Output> {
        self.flush_tail();
        self.out.pop_front()
    }

    /// True while outputs wait for the driver.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || self.tail.is_some()
    }

    fn flush_tail(&mut self) {
        if let Some((conn, payload)) = self.tail.take() {
            self.out.push_back(Output::Write {
                conn,
                payload: payload.freeze(),
            });
        }
    }

    /// The growing write of `conn` with room for `len` more octets, started if needed.
    fn tail_for(&mut self, conn: ConnId, len: usize) -> &mut BytesMut {
        let fits =
            matches!(&self.tail, Some((c, buf)) if *c == conn && buf.len() + len <= MERGE_LIMIT);
        if !fits {
            self.flush_tail();
            self.tail = Some((conn, BytesMut::with_capacity(len.clamp(1024, MERGE_LIMIT))));
        }
        &mut self.tail.as_mut().expect("set above").1
    }

    /// Queues a copy of `pdu` with the four octets at `at` replaced by `value` (big endian):
    /// an SMPP PDU renumbered as it is relayed, written straight into the connection's
    /// growing write.
    pub fn write_patched(&mut self, conn: ConnId, pdu: &[u8], at: usize, value: u32) {
        if pdu.len() > MERGE_LIMIT || pdu.len() < at + 4 {
            let mut copy = BytesMut::from(pdu);
            if copy.len() >= at + 4 {
                copy[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
            self.push(Output::Write {
                conn,
                payload: copy.freeze(),
            });
            return;
        }
        let buf = self.tail_for(conn, pdu.len());
        let start = buf.len();
        buf.extend_from_slice(pdu);
        buf[start + at..start + at + 4].copy_from_slice(&value.to_be_bytes());
    }

    /// Records a connection the driver accepted, for `owner`.
    pub fn accepted(&mut self, conn: ConnId, owner: Owner) {
        self.owners.insert(conn, owner);
    }

    /// Which module owns `conn`, if it is open.
    pub fn owner(&self, conn: ConnId) -> Option<Owner> {
        self.owners.get(&conn).copied()
    }

    /// Asks the driver for an outbound connection owned by `owner`, with a deadline of
    /// [`CONNECT_TIMEOUT`]; returns its id. Writes may follow at once.
    pub fn connect(
        &mut self,
        owner: Owner,
        to: SocketAddr,
        from: Option<ListenerId>,
        tls: Option<ClientTls>,
        now: Timestamp,
    ) -> ConnId {
        self.connect_from(owner, to, from, None, tls, now)
    }

    /// [`Net::connect`] leaving from `bind_ip` (any port) when it is set, else from `from`'s
    /// address (the SMPP balancer's `smppInternalHost`, §6.1).
    pub fn connect_from(
        &mut self,
        owner: Owner,
        to: SocketAddr,
        from: Option<ListenerId>,
        bind_ip: Option<IpAddr>,
        tls: Option<ClientTls>,
        now: Timestamp,
    ) -> ConnId {
        self.next_outbound += 1;
        let conn = ConnId(ConnId::OUTBOUND_BIT | self.next_outbound);
        self.owners.insert(conn, owner);
        self.timers.set(
            Timer::Connect(conn),
            Some(now.saturating_add(CONNECT_TIMEOUT)),
        );
        self.push(Output::Connect {
            conn,
            to,
            from,
            bind_ip,
            tls,
        });
        conn
    }

    /// The driver reports `conn` established: its connect deadline is lifted.
    pub fn connected(&mut self, conn: ConnId) {
        self.timers.cancel(Timer::Connect(conn));
    }

    /// Queues bytes on a connection. Small writes that follow one another on the same
    /// connection (a response head and its body) are merged into one, so the driver makes one
    /// system call for them.
    pub fn write(&mut self, conn: ConnId, payload: Bytes) {
        if payload.len() >= MERGE_LIMIT {
            self.push(Output::Write { conn, payload });
            return;
        }
        self.tail_for(conn, payload.len())
            .extend_from_slice(&payload);
    }

    /// Closes a connection (after what was written) and forgets it and its timers.
    pub fn close(&mut self, conn: ConnId) {
        if self.forget(conn).is_some() {
            self.push(Output::Close { conn });
        }
    }

    /// Forgets a connection that ended (the driver reported it), with its timers; returns its
    /// owner.
    pub fn forget(&mut self, conn: ConnId) -> Option<Owner> {
        for timer in [
            Timer::Connect(conn),
            Timer::Handshake(conn),
            Timer::ServiceIdle(conn),
            Timer::Http(conn),
        ] {
            self.timers.cancel(timer);
        }
        self.owners.remove(&conn)
    }

    /// A fresh token for a name resolution.
    pub fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_small_writes_to_one_connection_are_merged_in_order() {
        let mut net = Net::default();
        let (a, b) = (ConnId(1), ConnId(2));
        net.write(a, Bytes::from_static(b"head "));
        net.write(a, Bytes::from_static(b"body"));
        net.write(b, Bytes::from_static(b"other"));
        net.write(a, Bytes::from_static(b"next"));
        net.write(a, Bytes::from(vec![0u8; MERGE_LIMIT]));
        let out: Vec<Output> = std::iter::from_fn(|| net.pop()).collect();
        let writes: Vec<(ConnId, usize)> = out
            .iter()
            .map(|o| match o {
                Output::Write { conn, payload } => (*conn, payload.len()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(writes, vec![(a, 9), (b, 5), (a, 4), (a, MERGE_LIMIT)]);
        assert!(matches!(&out[0], Output::Write { payload, .. } if &payload[..] == b"head body"));
    }

    #[test]
    fn a_patched_write_copies_once_into_the_growing_write_and_renumbers_its_copy() {
        let mut net = Net::default();
        let pdu = [0u8, 0, 0, 16, 0, 0, 0, 21, 0, 0, 0, 0, 0, 0, 0, 9];
        net.write_patched(ConnId(1), &pdu, 12, 7);
        net.write_patched(ConnId(1), &pdu, 12, 8);
        let Some(Output::Write { conn, payload }) = net.pop() else {
            panic!("one write")
        };
        assert_eq!(conn, ConnId(1));
        assert_eq!(payload.len(), 32);
        assert_eq!((payload[15], payload[31]), (7, 8));
        assert_eq!(pdu[15], 9, "the original is untouched");
        assert!(net.pop().is_none());
    }
}
