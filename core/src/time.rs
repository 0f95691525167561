//! Time as the core sees it: a value handed in by the caller, never read from a clock.
//!
//! A [`Timestamp`] counts microseconds since an epoch the driver chooses (the tokio and smol
//! adapters use the process start; the simulator uses virtual time zero). Only differences
//! between timestamps mean anything, so the core stays deterministic and replayable.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A point in time, in microseconds since the driver's epoch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The driver's epoch.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp(micros)
    }

    /// A timestamp `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis.saturating_mul(1000))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Milliseconds since the epoch (truncated).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1000
    }

    /// This timestamp moved `d` later, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Self {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(micros))
    }

    /// How long after `earlier` this timestamp is; zero if it is not later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let t = Timestamp::from_millis(5);
        assert_eq!(t.as_micros(), 5_000);
        assert_eq!(t.saturating_add(Duration::from_millis(3)).as_millis(), 8);
        assert_eq!(Timestamp::ZERO.saturating_since(t), Duration::ZERO);
        assert_eq!(
            t.saturating_since(Timestamp::ZERO),
            Duration::from_millis(5)
        );
        assert_eq!(
            Timestamp::from_micros(u64::MAX)
                .saturating_add(Duration::from_secs(1))
                .as_micros(),
            u64::MAX
        );
    }
}
