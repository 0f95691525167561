//! A provider connection's limits in mux mode (docs/decisions.md §12): at most `window`
//! requests awaiting a response and at most `rate` requests per second. A provider that
//! answers `ESME_RTHROTTLED` halves the rate the balancer sends at (at most once a second);
//! the rate then recovers by a tenth per second without such answers, up to the configured
//! one (or no limit).

use crate::time::Timestamp;
use std::time::Duration;

/// One second.
const SECOND: Duration = Duration::from_secs(1);

/// The window and rate toward one provider connection.
#[derive(Debug, Clone)]
pub struct Limiter {
    window: Option<usize>,
    configured_rate: Option<u32>,
    /// The rate in force after `ESME_RTHROTTLED` answers, until it has recovered.
    adaptive_rate: Option<f64>,
    tokens: f64,
    refilled_at: Timestamp,
    last_throttle: Option<Timestamp>,
    last_recovery: Timestamp,
    /// Requests sent in the current second and in the one before.
    sent_this_second: u64,
    sent_last_second: u64,
    second_started: Timestamp,
}

impl Limiter {
    /// A limiter with `window` outstanding requests and `rate` per second (`None`: no limit).
    pub fn new(window: Option<usize>, rate: Option<u32>, now: Timestamp) -> Limiter {
        Limiter {
            window,
            configured_rate: rate,
            adaptive_rate: None,
            tokens: rate.map_or(0.0, |r| burst(f64::from(r))),
            refilled_at: now,
            last_throttle: None,
            last_recovery: now,
            sent_this_second: 0,
            sent_last_second: 0,
            second_started: now,
        }
    }

    /// Takes new settings, keeping what was learnt.
    pub fn reconfigure(&mut self, window: Option<usize>, rate: Option<u32>) {
        self.window = window;
        self.configured_rate = rate;
    }

    /// The rate in force, per second (`None`: no limit).
    pub fn rate(&self) -> Option<f64> {
        match (self.adaptive_rate, self.configured_rate) {
            (Some(a), Some(c)) => Some(a.min(f64::from(c))),
            (Some(a), None) => Some(a),
            (None, c) => c.map(f64::from),
        }
    }

    /// True if a request may leave now, with `outstanding` requests awaiting a response.
    pub fn can_send(&mut self, now: Timestamp, outstanding: usize) -> bool {
        if self.window.is_some_and(|w| outstanding >= w) {
            return false;
        }
        self.refill(now);
        self.rate().is_none() || self.tokens >= 1.0
    }

    /// True if the window alone keeps requests back (a response will free it).
    pub fn window_full(&self, outstanding: usize) -> bool {
        self.window.is_some_and(|w| outstanding >= w)
    }

    /// Counts a request that left.
    pub fn sent(&mut self, now: Timestamp) {
        self.roll_second(now);
        self.sent_this_second += 1;
        if self.rate().is_some() {
            self.tokens -= 1.0;
        }
    }

    /// When the rate lets the next request leave, if it is what holds requests back.
    pub fn next_token_at(&self, now: Timestamp) -> Option<Timestamp> {
        let rate = self.rate()?;
        if self.tokens >= 1.0 {
            return None;
        }
        let wait = (1.0 - self.tokens) / rate;
        Some(now.saturating_add(
            Duration::from_secs_f64(wait.clamp(0.0, 60.0)).max(Duration::from_millis(1)),
        ))
    }

    /// The provider answered `ESME_RTHROTTLED`: halve the rate (at most once a second).
    pub fn throttled(&mut self, now: Timestamp) {
        if self
            .last_throttle
            .is_some_and(|t| now.saturating_since(t) < SECOND)
        {
            return;
        }
        self.refill(now);
        self.roll_second(now);
        let current = self
            .rate()
            .unwrap_or_else(|| (self.sent_last_second.max(self.sent_this_second) as f64).max(1.0));
        let halved = (current / 2.0).max(1.0);
        self.adaptive_rate = Some(halved);
        self.tokens = self.tokens.min(burst(halved));
        self.last_throttle = Some(now);
        self.last_recovery = now;
    }

    fn refill(&mut self, now: Timestamp) {
        let elapsed = now.saturating_since(self.refilled_at);
        self.refilled_at = now;
        self.recover(now);
        if let Some(rate) = self.rate() {
            self.tokens = (self.tokens + elapsed.as_secs_f64() * rate).min(burst(rate));
        }
    }

    /// Adds a tenth per whole second since the last throttling answer; the adaptive rate
    /// ends once it is above the configured rate or twice what is actually sent.
    fn recover(&mut self, now: Timestamp) {
        let Some(rate) = self.adaptive_rate else {
            return;
        };
        let seconds = now.saturating_since(self.last_recovery).as_secs();
        if seconds == 0 {
            return;
        }
        self.last_recovery = self
            .last_recovery
            .saturating_add(Duration::from_secs(seconds));
        let grown = rate * 1.1f64.powi(seconds.min(1000) as i32);
        let used = self.sent_last_second.max(self.sent_this_second) as f64;
        let done = self.configured_rate.is_some_and(|c| grown >= f64::from(c))
            || (self.configured_rate.is_none() && grown > 2.0 * used.max(1.0) && grown > 1000.0);
        self.adaptive_rate = (!done).then_some(grown);
    }

    fn roll_second(&mut self, now: Timestamp) {
        let elapsed = now.saturating_since(self.second_started);
        if elapsed >= SECOND {
            self.sent_last_second = if elapsed < 2 * SECOND {
                self.sent_this_second
            } else {
                0
            };
            self.sent_this_second = 0;
            self.second_started = now;
        }
    }
}

/// Tokens a bucket of `rate` per second holds: a tenth of a second's worth, at least one.
fn burst(rate: f64) -> f64 {
    (rate / 10.0).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn the_window_holds_requests_until_responses_come() {
        let mut l = Limiter::new(Some(2), None, at(0));
        assert!(l.can_send(at(0), 1));
        assert!(!l.can_send(at(0), 2));
        assert!(l.window_full(2));
        assert_eq!(l.next_token_at(at(0)), None);
    }

    #[test]
    fn the_rate_spaces_requests_out() {
        let mut l = Limiter::new(None, Some(10), at(0));
        assert!(l.can_send(at(0), 0));
        l.sent(at(0));
        assert!(!l.can_send(at(0), 0), "a burst of one at 10/s");
        assert_eq!(l.next_token_at(at(0)), Some(at(100)));
        assert!(l.can_send(at(100), 0));
    }

    #[test]
    fn a_throttling_provider_halves_the_rate_which_then_recovers() {
        let mut l = Limiter::new(None, Some(100), at(0));
        l.throttled(at(10));
        assert_eq!(l.rate(), Some(50.0));
        l.throttled(at(500));
        assert_eq!(l.rate(), Some(50.0), "at most once a second");
        l.throttled(at(1100));
        let r = l.rate().unwrap();
        assert!(
            (r - 27.5).abs() < 1e-9,
            "55 after a second of recovery, halved: {r}"
        );
        let _ = l.can_send(at(3100), 0);
        let r = l.rate().unwrap();
        assert!((33.2..=33.3).contains(&r), "{r}");
        let _ = l.can_send(at(60_000), 0);
        assert_eq!(l.rate(), Some(100.0), "back to the configured rate");
    }

    #[test]
    fn without_a_configured_rate_throttling_starts_from_what_was_sent() {
        let mut l = Limiter::new(None, None, at(0));
        for _ in 0..40 {
            assert!(l.can_send(at(0), 0));
            l.sent(at(0));
        }
        l.throttled(at(200));
        assert_eq!(l.rate(), Some(20.0));
    }
}
