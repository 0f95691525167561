//! Latency histogram: log-linear buckets of microseconds (exact below 128 µs, then 64 buckets
//! per power of two, under 1.6 % relative error), bounded in memory however long the run.

use std::time::Duration;

const LINEAR: u64 = 128;
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

/// Counts of latencies.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; bucket(u64::MAX) + 1],
            total: 0,
        }
    }
}

fn bucket(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros(); // >= 7
    let mantissa = (us >> (exp - SUB_BITS)) & (SUB - 1);
    (LINEAR + u64::from(exp - 7) * SUB + mantissa) as usize
}

/// The middle of a bucket, in microseconds.
fn value(index: usize) -> f64 {
    let index = index as u64;
    if index < LINEAR {
        return index as f64;
    }
    let exp = (index - LINEAR) / SUB + 7;
    let mantissa = (index - LINEAR) % SUB;
    let width = 1u64 << (exp - u64::from(SUB_BITS));
    let low = (1u64 << exp) + mantissa * width;
    low as f64 + (width as f64 - 1.0) / 2.0
}

impl Histogram {
    /// Counts one latency.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(us)] += 1;
        self.total += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The latency at quantile `q` (0..=1) in milliseconds; 0 when nothing was counted.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value(i) / 1000.0;
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_close() {
        let mut last = 0;
        for us in (0..2_000_000u64).step_by(7) {
            let b = bucket(us);
            assert!(b >= last);
            last = b;
            let v = value(b);
            assert!(
                (v - us as f64).abs() <= us as f64 / 60.0 + 0.5,
                "{us} -> {v}"
            );
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.quantile_ms(0.5), 0.050);
        assert_eq!(h.quantile_ms(0.99), 0.099);
        let mut g = Histogram::default();
        g.merge(&h);
        assert_eq!(g.quantile_ms(1.0), 0.100);
        assert_eq!(Histogram::default().quantile_ms(0.5), 0.0);
    }
}
