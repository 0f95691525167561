//! The requests the balancer sent on one connection and awaits the response to, by the
//! sequence number they left with (behaviour reference §6.6): each maps back to where the
//! request came from. Entries leave on their response or when their deadline passes
//! (docs/decisions.md §12: the reference kept timed-out entries until the connection closed).

use crate::io::ConnId;
use crate::smpp::{CommandId, SequenceCounter};
use crate::time::Timestamp;
use std::collections::{BTreeMap, VecDeque};

/// Names a provider link (a provider slot and its current connection).
pub type LinkId = u64;

/// Where a request sent on a connection came from, and so where its response goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A customer's request forwarded to a provider.
    Customer {
        /// The customer connection.
        conn: ConnId,
        /// The customer's sequence number.
        seq: u32,
    },
    /// A provider's request forwarded to a customer.
    Provider {
        /// The provider link.
        link: LinkId,
        /// The provider connection it came on (a response for an older connection of the
        /// link is dropped).
        conn: ConnId,
        /// The provider's sequence number.
        seq: u32,
        /// Set when the request went to several customers (submit-to-all): only the first
        /// response goes back.
        fanout: Option<u64>,
    },
    /// The balancer's own request (`bind`, `enquire_link`, `unbind`).
    Own,
}

/// One request awaiting its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// The request's command.
    pub command: CommandId,
    /// Where the response goes.
    pub origin: Origin,
    /// When it left.
    pub sent_at: Timestamp,
    /// When the balancer stops waiting.
    pub deadline: Timestamp,
}

/// The requests awaiting a response on one connection, with its sequence counter.
#[derive(Debug, Default)]
pub struct InFlight {
    counter: SequenceCounter,
    pending: BTreeMap<u32, Pending>,
    /// Deadlines in the order requests left; a connection's timeout is the same for every
    /// request, so the front is the earliest. Entries answered since are skipped.
    order: VecDeque<(Timestamp, u32)>,
}

impl InFlight {
    /// The next sequence number for a PDU leaving on this connection: 1..=0x7FFFFFFF,
    /// wrapping, skipping the numbers of requests still awaiting a response.
    pub fn next_sequence(&mut self) -> u32 {
        loop {
            let n = self.counter.next_number();
            if !self.pending.contains_key(&n) {
                return n;
            }
        }
    }

    /// Numbers a request about to leave at `now` and records it with its response deadline
    /// `timeout` later; returns its sequence number.
    pub fn track(
        &mut self,
        command: CommandId,
        origin: Origin,
        now: Timestamp,
        timeout: std::time::Duration,
    ) -> u32 {
        let seq = self.next_sequence();
        self.insert(
            seq,
            Pending {
                command,
                origin,
                sent_at: now,
                deadline: now.saturating_add(timeout),
            },
        );
        seq
    }

    /// Records a request sent with `seq`.
    pub fn insert(&mut self, seq: u32, pending: Pending) {
        self.order.push_back((pending.deadline, seq));
        self.pending.insert(seq, pending);
    }

    /// Takes the request a response numbered `seq` answers.
    pub fn take(&mut self, seq: u32) -> Option<Pending> {
        self.pending.remove(&seq)
    }

    /// Requests awaiting a response.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing awaits a response.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The earliest deadline of a request still awaiting its response.
    pub fn next_deadline(&mut self) -> Option<Timestamp> {
        while let Some(&(at, seq)) = self.order.front() {
            if self.pending.get(&seq).is_some_and(|p| p.deadline == at) {
                return Some(at);
            }
            self.order.pop_front();
        }
        None
    }

    /// Removes and returns the requests whose deadline is `now` or earlier, oldest first.
    pub fn expired(&mut self, now: Timestamp) -> Vec<(u32, Pending)> {
        let mut out = Vec::new();
        while let Some(at) = self.next_deadline() {
            if at > now {
                break;
            }
            let (_, seq) = self.order.pop_front().expect("front exists");
            if let Some(p) = self.pending.remove(&seq) {
                out.push((seq, p));
            }
        }
        out
    }

    /// Removes and returns every request awaiting a response (the connection is gone).
    pub fn drain(&mut self) -> Vec<(u32, Pending)> {
        self.order.clear();
        let mut all: Vec<(u32, Pending)> = std::mem::take(&mut self.pending).into_iter().collect();
        all.sort_by_key(|(seq, p)| (p.sent_at, *seq));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(deadline_ms: u64) -> Pending {
        Pending {
            command: CommandId::SUBMIT_SM,
            origin: Origin::Own,
            sent_at: Timestamp::from_millis(0),
            deadline: Timestamp::from_millis(deadline_ms),
        }
    }

    #[test]
    fn answered_requests_leave_and_the_rest_expire_in_order() {
        let mut f = InFlight::default();
        for (i, d) in [10, 20, 30].into_iter().enumerate() {
            let seq = f.next_sequence();
            assert_eq!(seq, i as u32 + 1);
            f.insert(seq, pending(d));
        }
        assert!(f.take(1).is_some());
        assert!(f.take(1).is_none(), "a response is taken once");
        assert_eq!(f.next_deadline(), Some(Timestamp::from_millis(20)));
        let gone = f.expired(Timestamp::from_millis(25));
        assert_eq!(gone.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![2]);
        assert_eq!(f.len(), 1);
        assert_eq!(f.drain().len(), 1);
        assert!(f.is_empty());
        assert_eq!(f.next_deadline(), None);
    }

    #[test]
    fn sequence_numbers_skip_those_still_in_use_across_the_wrap() {
        let mut f = InFlight {
            counter: SequenceCounter::starting_at(crate::smpp::MAX_SEQUENCE_NUMBER),
            ..InFlight::default()
        };
        let last = f.next_sequence();
        assert_eq!(last, crate::smpp::MAX_SEQUENCE_NUMBER);
        f.insert(1, pending(10));
        assert_eq!(f.next_sequence(), 2, "1 is awaiting its response");
    }
}
