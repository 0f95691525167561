//! Which customer submitted which message, so a delivery receipt goes back to it (mux mode,
//! docs/decisions.md §12), and which provider assigned the id, so `query_sm`, `cancel_sm`
//! and `replace_sm` reach the provider that knows it. Bounded (the oldest entry leaves first)
//! and expiring.
//!
//! Message centres write a message id in hexadecimal in `submit_sm_resp` and sometimes in
//! decimal in the receipt's `id:` text (or the other way round), so ids are kept in lower
//! case and a lookup also tries the other base.

use super::inflight::LinkId;
use crate::io::ConnId;
use crate::time::Timestamp;
use std::collections::VecDeque;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

/// Who a message id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    /// The customer connection that submitted it.
    pub customer: ConnId,
    /// The provider link that assigned the id.
    pub link: LinkId,
}

/// Message ids of one `system_id`, bounded and expiring. An id is kept as two independent
/// 64-bit hashes of its lower-case form (no copy of it, no allocation per message): the first
/// places it in the table, the second tells two ids of the same first hash apart.
#[derive(Debug)]
pub struct ReceiptTable {
    capacity: usize,
    ttl: Duration,
    entries: IdMap,
    order: VecDeque<(Timestamp, u64)>,
}

/// Entries by the first hash of their id. A hash table: this runs for every accepted
/// `submit_sm`, and an ordered map of a hundred thousand random keys costs several cache
/// misses per insert and per eviction. Its order never shows: it is only looked up, never
/// iterated, and its hasher is the identity on an id's own fixed hash, so it is as
/// deterministic as the rest of the core.
#[allow(clippy::disallowed_types)]
type IdMap =
    std::collections::HashMap<u64, (u64, Submitted, Timestamp), BuildHasherDefault<KeyHasher>>;

/// Hashes a `u64` key to itself (the key is already a hash).
#[derive(Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The two hashes of an id, case-insensitive: FNV-1a 64 from two offset bases.
fn hashes(id: &[u8]) -> (u64, u64) {
    const PRIME: u64 = 0x0000_0100_0000_01B3;
    let (mut a, mut b) = (0xCBF2_9CE4_8422_2325u64, 0x6C62_272E_07BB_0142u64);
    for c in id {
        let c = u64::from(c.to_ascii_lowercase());
        a = (a ^ c).wrapping_mul(PRIME);
        b = (b ^ c).wrapping_mul(PRIME).rotate_left(5);
    }
    (a, b)
}

impl ReceiptTable {
    /// A table of at most `capacity` ids, each kept for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> ReceiptTable {
        ReceiptTable {
            capacity,
            ttl,
            entries: IdMap::default(),
            order: VecDeque::new(),
        }
    }

    /// Remembers that `id` was assigned to a message of `who`.
    pub fn record(&mut self, id: &[u8], who: Submitted, now: Timestamp) {
        if self.capacity == 0 || id.is_empty() {
            return;
        }
        self.expire(now);
        while self.entries.len() >= self.capacity {
            let Some((at, key)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&key).is_some_and(|(_, _, t)| *t == at) {
                self.entries.remove(&key);
            }
        }
        let (key, check) = hashes(id);
        self.order.push_back((now, key));
        self.entries.insert(key, (check, who, now));
    }

    /// Who submitted the message `id` (as written in a receipt or a request: either base).
    pub fn find(&mut self, id: &[u8], now: Timestamp) -> Option<Submitted> {
        self.expire(now);
        let lookup = |entries: &IdMap, id: &[u8]| {
            let (key, check) = hashes(id);
            entries
                .get(&key)
                .filter(|(c, _, _)| *c == check)
                .map(|(_, who, _)| *who)
        };
        if let Some(who) = lookup(&self.entries, id) {
            return Some(who);
        }
        let lower = id.to_ascii_lowercase();
        other_bases(&lower)
            .into_iter()
            .find_map(|alt| lookup(&self.entries, &alt))
    }

    /// Ids remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expire(&mut self, now: Timestamp) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_since(*at) < self.ttl {
                break;
            }
            let (at, key) = self.order.pop_front().expect("front exists");
            if self.entries.get(&key).is_some_and(|(_, _, t)| *t == at) {
                self.entries.remove(&key);
            }
        }
    }
}

/// The same number in the other base: a decimal id in hexadecimal, a hexadecimal one in
/// decimal (up to 128 bits); an id of digits only may be either.
fn other_bases(id: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if text.is_empty() || text.len() > 39 {
        return out;
    }
    if text.bytes().all(|c| c.is_ascii_digit()) {
        if let Ok(n) = text.parse::<u128>() {
            out.push(format!("{n:x}").into_bytes());
        }
    }
    if text.len() <= 32 && text.bytes().all(|c| c.is_ascii_hexdigit()) {
        if let Ok(n) = u128::from_str_radix(text, 16) {
            out.push(n.to_string().into_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(n: u64) -> Submitted {
        Submitted {
            customer: ConnId(n),
            link: n,
        }
    }

    #[test]
    fn an_id_is_found_as_written_in_either_case_or_base() {
        let mut t = ReceiptTable::new(10, Duration::from_secs(60));
        let now = Timestamp::from_millis(0);
        t.record(b"1A2B", who(1), now);
        t.record(b"12345", who(2), now);
        assert_eq!(t.find(b"1a2b", now), Some(who(1)));
        assert_eq!(t.find(b"6699", now), Some(who(1)), "0x1a2b in decimal");
        assert_eq!(t.find(b"3039", now), Some(who(2)), "12345 in hexadecimal");
        assert_eq!(t.find(b"nope", now), None);
    }

    #[test]
    fn the_oldest_id_leaves_first_and_ids_expire() {
        let mut t = ReceiptTable::new(2, Duration::from_secs(10));
        t.record(b"a", who(1), Timestamp::from_millis(0));
        t.record(b"b", who(2), Timestamp::from_millis(1));
        t.record(b"c", who(3), Timestamp::from_millis(2));
        assert_eq!(t.len(), 2);
        assert_eq!(t.find(b"a", Timestamp::from_millis(3)), None);
        assert_eq!(t.find(b"c", Timestamp::from_millis(10_001)), Some(who(3)));
        assert_eq!(t.find(b"c", Timestamp::from_millis(10_002)), None);
        assert!(t.is_empty());
    }
}
