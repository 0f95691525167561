//! The LB→node `stop` notifications of a shutdown (§3.2, §7.2): one HTTP request per node
//! that advertised a `heartbeatPort`, each on its own connection; the answers are read and
//! discarded. The balancer exits when every notification is done or after
//! [`NOTIFY_LIMIT`].

use super::net::{Net, Owner};
use super::timers::Timer;
use crate::heartbeat::StopRequest;
use crate::io::{ConnId, Output};
use crate::time::Timestamp;
use std::collections::BTreeSet;
use std::time::Duration;

/// How long the notifications of a shutdown may take before the balancer exits anyway.
pub const NOTIFY_LIMIT: Duration = Duration::from_secs(2);

/// The notifications in flight during a stop.
#[derive(Debug, Default)]
pub struct Notifier {
    open: BTreeSet<ConnId>,
    stopping: bool,
    exited: bool,
}

impl Notifier {
    /// True once a stop has begun.
    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// Begins the stop: sends every notification, and exits at once if there is none.
    pub fn start(&mut self, net: &mut Net, now: Timestamp, requests: Vec<StopRequest>) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        for stop in requests {
            let conn = net.connect(Owner::Notify, stop.to, None, None, now);
            net.write(conn, stop.request);
            self.open.insert(conn);
        }
        net.timers
            .set(Timer::ExitDeadline, Some(now.saturating_add(NOTIFY_LIMIT)));
        self.exit_if_done(net);
    }

    /// A notification connection ended (answered, refused or failed).
    pub fn closed(&mut self, net: &mut Net, conn: ConnId) {
        if self.open.remove(&conn) {
            tracing::debug!(?conn, "node notified");
        }
        self.exit_if_done(net);
    }

    /// The limit passed: close what is left and exit.
    pub fn deadline(&mut self, net: &mut Net) {
        for conn in std::mem::take(&mut self.open) {
            tracing::warn!(?conn, "node did not answer the stop notification in time");
            net.close(conn);
        }
        self.exit_if_done(net);
    }

    fn exit_if_done(&mut self, net: &mut Net) {
        if self.stopping && self.open.is_empty() && !self.exited {
            self.exited = true;
            net.timers.cancel(Timer::ExitDeadline);
            net.push(Output::Exit);
        }
    }
}
