//! Backpressure for relayed bytes: when more than [`HIGH_WATER`] bytes are queued toward a
//! connection, the connection that feeds it stops being read until the driver reports them
//! written ([`Output::NotifyDrained`] / [`Input::Drained`](crate::io::Input::Drained)). A
//! streamed body or a tunnel then moves at the pace of its slower side, and the balancer
//! holds at most about [`HIGH_WATER`] of it per direction.

use super::settings::HIGH_WATER;
use crate::balancer::net::Net;
use crate::io::{ConnId, Output};
use bytes::Bytes;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
struct Queued {
    bytes: u64,
    /// A drain notification is outstanding.
    waiting: bool,
    /// The connection paused because of this one.
    paused: Option<ConnId>,
}

/// Bytes queued per destination connection.
#[derive(Debug, Default)]
pub struct Flow {
    queued: BTreeMap<ConnId, Queued>,
}

impl Flow {
    /// Writes `bytes` read from `from` to `to`, pausing `from` when `to` has too much queued.
    pub fn relay(&mut self, net: &mut Net, from: ConnId, to: ConnId, bytes: Bytes) {
        let len = bytes.len() as u64;
        net.write(to, bytes);
        let q = self.queued.entry(to).or_default();
        q.bytes += len;
        if q.bytes >= HIGH_WATER && !q.waiting {
            q.waiting = true;
            net.push(Output::NotifyDrained { conn: to });
            if q.paused.is_none() {
                q.paused = Some(from);
                net.push(Output::PauseReading { conn: from });
            }
        }
    }

    /// The driver wrote everything queued on `conn`: the connection paused for it, if any and
    /// still open (`open`), is read again.
    pub fn drained(&mut self, net: &mut Net, conn: ConnId, open: impl Fn(ConnId) -> bool) {
        if let Some(q) = self.queued.remove(&conn) {
            if let Some(paused) = q.paused.filter(|c| open(*c)) {
                net.push(Output::ResumeReading { conn: paused });
            }
        }
    }

    /// `conn` ended: forget what was queued on it, and resume nothing for it.
    pub fn forget(&mut self, conn: ConnId) {
        self.queued.remove(&conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feeding_connection_pauses_at_the_high_water_mark_and_resumes_when_drained() {
        let (mut net, mut flow) = (Net::default(), Flow::default());
        let (a, b) = (ConnId(1), ConnId(2));
        let chunk = Bytes::from(vec![0u8; (HIGH_WATER / 2) as usize]);
        flow.relay(&mut net, a, b, chunk.clone());
        assert!(matches!(net.pop(), Some(Output::Write { .. })));
        assert!(net.pop().is_none());
        flow.relay(&mut net, a, b, chunk.clone());
        assert!(matches!(net.pop(), Some(Output::Write { .. })));
        assert_eq!(net.pop(), Some(Output::NotifyDrained { conn: b }));
        assert_eq!(net.pop(), Some(Output::PauseReading { conn: a }));
        flow.relay(&mut net, a, b, chunk);
        assert!(matches!(net.pop(), Some(Output::Write { .. })));
        assert!(net.pop().is_none(), "one notification at a time");
        flow.drained(&mut net, b, |_| true);
        assert_eq!(net.pop(), Some(Output::ResumeReading { conn: a }));
        flow.drained(&mut net, b, |_| true);
        assert!(net.pop().is_none());
    }
}
