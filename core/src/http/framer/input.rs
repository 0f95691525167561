//! The bytes fed to a framer and not consumed yet: a queue of the caller's buffers, sliced
//! without copying, plus the start of a delimited section (a head, a chunk-size line, a
//! trailer line) copied aside only while that section spans two buffers.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem;
use std::collections::VecDeque;

/// What [`Input::take_until`] found.
#[derive(Debug)]
pub(super) enum Take {
    /// The section, delimiter included.
    Found(Bytes),
    /// No delimiter yet; everything fed so far belongs to the section.
    Pending,
    /// The section would be longer than the limit.
    TooLong,
}

#[derive(Debug, Default)]
pub(super) struct Input {
    /// Fed buffers, oldest first, none empty.
    queue: VecDeque<Bytes>,
    /// The part of the current section already taken out of `queue` (it spans buffers).
    partial: BytesMut,
    /// Bytes of the current section looked at so far (each byte is scanned once).
    examined: usize,
    /// Offset in the current section of its first LF, once seen.
    first_lf: Option<usize>,
    /// Bytes taken out of `queue` since the framer was created.
    consumed: u64,
}

impl Input {
    pub(super) fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.queue.push_back(bytes);
        }
    }

    /// True when nothing is buffered.
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.partial.is_empty()
    }

    pub(super) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Length up to its first LF of the section being delimited, or the number of bytes seen
    /// when no LF has arrived yet (a lower bound on the first line's length).
    pub(super) fn first_line_extent(&self) -> usize {
        self.first_lf.unwrap_or(self.examined)
    }

    /// Up to `max` bytes from the front of the oldest buffer, without copying. Only called
    /// between sections (bodies), when nothing is set aside.
    pub(super) fn take_some(&mut self, max: u64) -> Option<Bytes> {
        debug_assert!(self.partial.is_empty());
        let front = self.queue.front_mut()?;
        let n = usize::try_from(max).unwrap_or(usize::MAX).min(front.len());
        if n == 0 {
            return None;
        }
        let piece = front.split_to(n);
        if front.is_empty() {
            self.queue.pop_front();
        }
        self.consumed += n as u64;
        Some(piece)
    }

    /// Everything buffered, concatenated (for a connection that stops speaking HTTP).
    pub(super) fn take_all(&mut self) -> Bytes {
        let mut all = std::mem::take(&mut self.partial);
        self.reset_section();
        if all.is_empty() && self.queue.len() == 1 {
            let only = self.queue.pop_front().unwrap_or_default();
            self.consumed += only.len() as u64;
            return only;
        }
        for piece in self.queue.drain(..) {
            self.consumed += piece.len() as u64;
            all.extend_from_slice(&piece);
        }
        all.freeze()
    }

    /// Drops CRLF pairs at the front (empty lines before a request line, RFC 9112 §2.2), unless
    /// a section has begun.
    /// Returns false while a lone CR at the end of the input leaves it undecided.
    pub(super) fn skip_empty_lines(&mut self) -> bool {
        if !self.partial.is_empty() {
            return true; // the request line has begun
        }
        loop {
            let Some(front) = self.queue.front_mut() else {
                return true;
            };
            while front.starts_with(b"\r\n") {
                front.advance(2);
                self.consumed += 2;
            }
            match front.len() {
                0 => {
                    self.queue.pop_front();
                }
                1 if front[0] == b'\r' => match self.queue.get(1).map(|next| next[0]) {
                    None => return false,
                    Some(b'\n') => {
                        self.queue.pop_front();
                        if let Some(next) = self.queue.front_mut() {
                            next.advance(1);
                            if next.is_empty() {
                                self.queue.pop_front();
                            }
                        }
                        self.consumed += 2;
                    }
                    Some(_) => return true,
                },
                _ => return true,
            }
        }
    }

    /// The section from the current position through the first `delim`, when it has arrived
    /// and is at most `limit` bytes long. Every byte is scanned once however the input is
    /// split; the section is copied only when it spans buffers.
    pub(super) fn take_until(&mut self, delim: &[u8], limit: usize) -> Take {
        loop {
            let Some(front) = self.queue.front() else {
                return Take::Pending;
            };
            let end = crossing_match(&self.partial, front, delim)
                .or_else(|| memmem::find(front, delim).map(|at| at + delim.len()));
            let seen = end.unwrap_or(front.len());
            if self.first_lf.is_none() {
                self.first_lf = memchr::memchr(b'\n', &front[..seen]).map(|at| self.examined + at);
            }
            self.examined += seen;
            match end {
                Some(end) if self.partial.len() + end <= limit => {
                    let mut front = self.queue.pop_front().unwrap_or_default();
                    let piece = front.split_to(end);
                    if !front.is_empty() {
                        self.queue.push_front(front);
                    }
                    self.consumed += end as u64;
                    let section = if self.partial.is_empty() {
                        piece
                    } else {
                        self.partial.extend_from_slice(&piece);
                        self.partial.split().freeze()
                    };
                    self.reset_section();
                    return Take::Found(section);
                }
                Some(_) => return Take::TooLong,
                None if self.partial.len() + front.len() >= limit => return Take::TooLong,
                None => {
                    let front = self.queue.pop_front().unwrap_or_default();
                    self.consumed += front.len() as u64;
                    self.partial.extend_from_slice(&front);
                }
            }
        }
    }

    fn reset_section(&mut self) {
        self.examined = 0;
        self.first_lf = None;
    }
}

/// Where in `next` a `delim` that starts in the last bytes of `before` ends, if one does.
fn crossing_match(before: &[u8], next: &[u8], delim: &[u8]) -> Option<usize> {
    let tail = &before[before.len().saturating_sub(delim.len() - 1)..];
    if tail.is_empty() {
        return None;
    }
    let head = &next[..next.len().min(delim.len() - 1)];
    let mut window = [0u8; 8];
    let joined = &mut window[..tail.len() + head.len()];
    joined[..tail.len()].copy_from_slice(tail);
    joined[tail.len()..].copy_from_slice(head);
    let at = memmem::find(joined, delim)?;
    (at < tail.len()).then(|| at + delim.len() - tail.len())
}
