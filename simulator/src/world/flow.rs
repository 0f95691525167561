//! The balancers' flow control on stream connections, honoured by the simulated network.
//!
//! While a balancer pauses reading a connection, what comes toward it (bytes, and the peer's
//! close or reset behind them) is parked in order and flows again once it resumes; the peer's
//! TCP window is not modelled (the peer never blocks). A drain notice (`NotifyDrained`) is
//! answered with `Drained` when the last segment the balancer wrote before it reaches the
//! peer, or, on an outbound connection still being established, once the writes queued until
//! then have been sent and have arrived; nothing is fed if the connection ends first.

use super::{Event, World};
use switchboard_core::io::{ConnId, Input};

impl World {
    /// The balancer resumed reading: parked segments are delivered in order until it pauses
    /// again.
    pub(super) fn unpark(&mut self, lb: usize, conn: ConnId) {
        loop {
            let Some(s) = self.streams.get_mut(&(lb, conn)) else {
                return;
            };
            if s.paused {
                return;
            }
            let Some(seg) = s.parked.pop_front() else {
                return;
            };
            self.lb_receive(lb, conn, seg);
        }
    }

    /// The balancer's drain notice comes due: fed if the connection is still open.
    pub(super) fn drained(&mut self, lb: usize, conn: ConnId) {
        let open = match self.streams.get(&(lb, conn)) {
            Some(s) => s.lb_open && !s.lb_closed,
            None => self.hb_conns.contains_key(&(lb, conn)),
        };
        if open {
            self.feed(lb, Input::Drained { conn });
        }
    }

    /// Schedules the answer to a drain notice on a connection that is up: when the last
    /// segment written toward the peer arrives.
    pub(super) fn schedule_drained(&mut self, lb: usize, conn: ConnId) {
        let at = self.streams.get(&(lb, conn)).map(|s| s.to_peer_at);
        if let Some(at) = at {
            self.q.schedule_at(at, Event::Drained { lb, conn });
        }
    }

    /// The balancer asks to be told once what it wrote so far has left; false if it does
    /// not know the connection.
    pub(super) fn lb_notify_drained(&mut self, lb: usize, conn: ConnId) -> bool {
        let Some(s) = self.streams.get_mut(&(lb, conn)) else {
            return false;
        };
        if s.lb_closed || (!s.lb_open && !s.outbound) {
            return false;
        }
        if s.lb_open {
            self.schedule_drained(lb, conn);
        } else {
            s.drains_queued += 1;
        }
        true
    }

    /// The balancer pauses (`true`) or resumes reading a connection; false if it does not
    /// know the connection.
    pub(super) fn lb_pause(&mut self, lb: usize, conn: ConnId, paused: bool) -> bool {
        let Some(s) = self.streams.get_mut(&(lb, conn)) else {
            return false;
        };
        if s.lb_closed || (!s.lb_open && !s.outbound) {
            return false;
        }
        s.paused = paused;
        if !paused && !s.parked.is_empty() {
            // Delivered as an event of its own: the balancer is busy with its outputs.
            self.q.schedule_at(self.q.now(), Event::Unpark { lb, conn });
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use bytes::Bytes;
    use std::time::Duration;
    use switchboard_core::io::Output;

    /// An outbound id the balancer of the scenario never mints itself.
    const CONN: ConnId = ConnId(ConnId::OUTBOUND_BIT | 1 << 40);

    /// The TCP scenario after its first second: the nodes are up.
    fn world() -> World {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/11-tcp-node-crash.toml"
        );
        let scenario = Scenario::from_file(std::path::Path::new(path)).expect("scenario");
        let mut w = World::new(scenario, 1, true).expect("world");
        run_for(&mut w, 1000);
        w
    }

    fn run_for(w: &mut World, ms: u64) {
        let until = w.now().saturating_add(Duration::from_millis(ms));
        while w.q.next_at().is_some_and(|at| at <= until) {
            let (_, event) = w.q.pop().expect("an event");
            w.step(event);
        }
    }

    /// When balancer 0 was fed `input` for `CONN` (trace lines, in order).
    fn fed(w: World, input: &str) -> Vec<u64> {
        let trace = w.trace.expect("recorded").finish().text;
        let line = format!("{{\"{input}\":{{\"conn\":{}", CONN.0);
        let at = |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap()["at"].as_u64();
        trace
            .lines()
            .filter(|l| l.contains(&line))
            .filter_map(at)
            .collect()
    }

    #[test]
    fn a_drain_notice_is_answered_once_the_writes_before_it_arrive() {
        let mut w = world();
        let to = w.nodes[0].addr;
        let (from, tls) = (None, None);
        w.lb_output(
            0,
            Output::Connect {
                conn: CONN,
                to,
                from,
                bind_ip: None,
                tls,
            },
        );
        let payload = Bytes::from_static(b"\r\n\r\n");
        w.lb_output(
            0,
            Output::Write {
                conn: CONN,
                payload,
            },
        );
        w.lb_output(0, Output::NotifyDrained { conn: CONN });
        assert_eq!(w.streams[&(0, CONN)].drains_queued, 1, "not up yet");
        run_for(&mut w, 100);
        let sent_by = w.streams[&(0, CONN)].to_peer_at.as_micros();
        w.lb_output(0, Output::NotifyDrained { conn: CONN });
        w.lb_output(0, Output::Close { conn: CONN });
        run_for(&mut w, 100);
        assert!(w.violations.is_empty(), "{:?}", w.violations);
        let drained = fed(w, "Drained");
        assert_eq!(drained.len(), 1, "none after the close: {drained:?}");
        assert!(drained[0] >= sent_by, "{drained:?} before {sent_by}");
    }

    #[test]
    fn a_paused_connection_gets_its_bytes_on_resume_in_order() {
        let mut w = world();
        let to = w.nodes[0].addr;
        let (from, tls) = (None, None);
        w.lb_output(
            0,
            Output::Connect {
                conn: CONN,
                to,
                from,
                bind_ip: None,
                tls,
            },
        );
        w.lb_output(0, Output::PauseReading { conn: CONN });
        run_for(&mut w, 100);
        assert!(w.peer_write(0, CONN, Bytes::from_static(b"\r\n\r\n")));
        run_for(&mut w, 100);
        assert!(
            !w.streams[&(0, CONN)].parked.is_empty(),
            "held while paused"
        );
        let resumed_at = w.now().as_micros();
        w.lb_output(0, Output::ResumeReading { conn: CONN });
        run_for(&mut w, 100);
        assert!(w.streams[&(0, CONN)].parked.is_empty());
        assert!(w.violations.is_empty(), "{:?}", w.violations);
        let data = fed(w, "Data");
        assert!(!data.is_empty() && data.iter().all(|at| *at >= resumed_at));
    }
}
