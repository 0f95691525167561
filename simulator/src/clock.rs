//! Virtual time: a queue of events ordered by due time, then by insertion order.
//!
//! The simulator never sleeps. It pops the earliest event, sets the virtual clock to its due
//! time, and hands it to whatever it addresses. Events scheduled for the same instant come out
//! in the order they were scheduled, so a run is a pure function of its inputs and seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;
use switchboard_core::time::Timestamp;

/// Events waiting for their due time, with the virtual clock they advance.
#[derive(Debug)]
pub struct EventQueue<E> {
    now: Timestamp,
    next_seq: u64,
    heap: BinaryHeap<Reverse<Scheduled<E>>>,
}

#[derive(Debug)]
struct Scheduled<E> {
    at: Timestamp,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Scheduled<E> {}
impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Scheduled<E> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at virtual time zero.
    pub fn new() -> Self {
        EventQueue {
            now: Timestamp::ZERO,
            next_seq: 0,
            heap: BinaryHeap::new(),
        }
    }

    /// The current virtual time: the due time of the last event popped.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Schedules `event` at `at`. A time in the past is clamped to now, so virtual time never
    /// runs backwards.
    pub fn schedule_at(&mut self, at: Timestamp, event: E) {
        let at = at.max(self.now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Scheduled { at, seq, event }));
    }

    /// Schedules `event` `delay` after now.
    pub fn schedule_in(&mut self, delay: Duration, event: E) {
        self.schedule_at(self.now.saturating_add(delay), event);
    }

    /// Advances the clock to the earliest event and returns it, or `None` when nothing is left.
    pub fn pop(&mut self) -> Option<(Timestamp, E)> {
        let Reverse(next) = self.heap.pop()?;
        self.now = next.at;
        Some((next.at, next.event))
    }

    /// When the earliest waiting event is due.
    pub fn next_at(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse(next)| next.at)
    }

    /// Number of events still waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_by_time_then_by_scheduling_order() {
        let mut q = EventQueue::new();
        q.schedule_at(Timestamp::from_millis(30), "c");
        q.schedule_at(Timestamp::from_millis(10), "a");
        q.schedule_at(Timestamp::from_millis(10), "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|(t, e)| (t.as_millis(), e))
            .collect();
        assert_eq!(order, vec![(10, "a"), (10, "b"), (30, "c")]);
        assert_eq!(q.next_at(), None);
        assert_eq!(q.now(), Timestamp::from_millis(30));
    }

    #[test]
    fn time_never_runs_backwards() {
        let mut q = EventQueue::new();
        q.schedule_at(Timestamp::from_millis(50), 1);
        assert_eq!(q.next_at(), Some(Timestamp::from_millis(50)));
        assert_eq!(q.pop(), Some((Timestamp::from_millis(50), 1)));
        q.schedule_at(Timestamp::from_millis(5), 2);
        q.schedule_in(Duration::from_millis(1), 3);
        assert_eq!(q.pop(), Some((Timestamp::from_millis(50), 2)));
        assert_eq!(q.pop(), Some((Timestamp::from_millis(51), 3)));
        assert!(q.is_empty());
    }
}
