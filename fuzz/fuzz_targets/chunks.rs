//! Shared by the framer targets: splits the fuzz input into chunks of pseudo-random sizes,
//! so a codec fed whole and fed in pieces can be compared.

/// Splits a slice into chunks of pseudo-random sizes (1..=64, biased small), from a seed.
pub struct Chunks<'a> {
    /// What is left to split.
    pub rest: &'a [u8],
    /// The xorshift state (non-zero).
    pub state: u32,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        let n = if self.state & 3 == 0 {
            (self.state >> 8) as usize % 64 + 1
        } else {
            (self.state >> 8) as usize % 4 + 1
        };
        let (head, tail) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = tail;
        Some(head)
    }
}
