//! The parts of one long message stay on one provider connection (mux mode,
//! docs/decisions.md §12): the first part seen picks the link, the others follow it. A
//! message is named by its customer connection, source address, reference and part count
//! (TS 23.040 §9.2.3.24.1; SMPP 3.4 §5.3.2.22–24). Entries leave when every part was seen,
//! after [`PIN_TTL`], or, past [`PIN_CAPACITY`], oldest first.

use super::inflight::LinkId;
use crate::io::ConnId;
use crate::smpp::Concatenation;
use crate::time::Timestamp;
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// How long the parts of one message may take to arrive.
pub const PIN_TTL: Duration = Duration::from_secs(600);
/// Messages being sent in parts, at most, per `system_id`.
pub const PIN_CAPACITY: usize = 10_000;

type Key = (ConnId, Bytes, u16, u8);

/// The provider link each long message in progress goes to.
#[derive(Debug, Default)]
pub struct Pins {
    entries: BTreeMap<Key, (LinkId, u8, Timestamp)>,
    order: VecDeque<(Timestamp, Key)>,
}

impl Pins {
    /// The link the message of this part is pinned to, if a part of it went already.
    pub fn find(
        &mut self,
        customer: ConnId,
        source: &Bytes,
        part: Concatenation,
        now: Timestamp,
    ) -> Option<LinkId> {
        self.expire(now);
        let key = (customer, source.clone(), part.reference, part.total);
        self.entries.get(&key).map(|(link, _, _)| *link)
    }

    /// Records that this part went to `link`; forgets the message once all its parts went.
    pub fn sent(
        &mut self,
        customer: ConnId,
        source: &Bytes,
        part: Concatenation,
        link: LinkId,
        now: Timestamp,
    ) {
        let key = (customer, source.clone(), part.reference, part.total);
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.0 = link;
            entry.1 = entry.1.saturating_add(1);
            if entry.1 >= part.total {
                self.entries.remove(&key);
            }
            return;
        }
        if part.total <= 1 {
            return;
        }
        while self.entries.len() >= PIN_CAPACITY {
            let Some((at, old)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&old).is_some_and(|e| e.2 == at) {
                self.entries.remove(&old);
            }
        }
        self.order.push_back((now, key.clone()));
        self.entries.insert(key, (link, 1, now));
    }

    /// Forgets the messages of a customer that left.
    pub fn forget_customer(&mut self, customer: ConnId) {
        self.entries.retain(|k, _| k.0 != customer);
    }

    /// Messages in progress.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no long message is in progress.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expire(&mut self, now: Timestamp) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_since(*at) < PIN_TTL {
                break;
            }
            let (at, key) = self.order.pop_front().expect("front exists");
            if self.entries.get(&key).is_some_and(|e| e.2 == at) {
                self.entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smpp::ConcatSource;

    fn part(n: u8) -> Concatenation {
        Concatenation {
            reference: 7,
            total: 3,
            seqnum: n,
            source: ConcatSource::Udh8,
        }
    }

    #[test]
    fn the_parts_of_a_message_follow_the_first_until_the_last() {
        let mut p = Pins::default();
        let (c, src, now) = (ConnId(1), Bytes::from_static(b"123"), Timestamp::ZERO);
        assert_eq!(p.find(c, &src, part(1), now), None);
        p.sent(c, &src, part(1), 4, now);
        assert_eq!(p.find(c, &src, part(2), now), Some(4));
        assert_eq!(
            p.find(ConnId(2), &src, part(2), now),
            None,
            "another customer"
        );
        p.sent(c, &src, part(2), 4, now);
        p.sent(c, &src, part(3), 4, now);
        assert_eq!(p.len(), 0, "all parts went");
        p.sent(c, &src, part(1), 5, now);
        assert_eq!(p.find(c, &src, part(2), now.saturating_add(PIN_TTL)), None);
    }
}
