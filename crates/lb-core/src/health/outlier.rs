//! Passive outlier detection: eject a backend that keeps failing real traffic.
//!
//! Source: Envoy's outlier detection (`consecutive_5xx`,
//! `base_ejection_time`, `max_ejection_time`, `max_ejection_percent`), which
//! nginx OSS approximates with `max_fails` / `fail_timeout`. Lease outcomes
//! feed it: [`Outcome::Failure`](crate::Outcome::Failure) (connect errors,
//! timeouts, and whatever an L7 caller classifies as a gateway failure)
//! counts up, [`Outcome::Success`](crate::Outcome::Success) resets the count,
//! [`Outcome::Cancelled`](crate::Outcome::Cancelled) says nothing. After
//! `consecutive_failures` in a row the backend is ejected for
//! `base_ejection × n` (n = its ejections so far, counting this one, less one
//! for every `base_ejection` it has since stayed in), capped at
//! `max_ejection`, and returns by itself when that time is up. No more than
//! `max_ejection_percent` of the backends are ejected at once, but at least
//! one may be, as in Envoy.

use std::time::Duration;

use crate::error::Error;

/// Outlier-detection settings. Defaults are Envoy's: 5 consecutive
/// failures, 30 s base ejection, 300 s maximum, at most 10 % ejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutlierDetection {
    consecutive_failures: u32,
    base_ejection: Duration,
    max_ejection: Duration,
    max_ejection_percent: u32,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejection_percent: 10,
        }
    }
}

impl OutlierDetection {
    /// Outlier detection turned off: failures never eject.
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            consecutive_failures: 0,
            ..Self::default()
        }
    }

    /// Sets how many consecutive failures eject (0 turns detection off).
    #[must_use]
    pub fn with_consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = n;
        self
    }

    /// Sets the base and maximum ejection times.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `base` is zero or above `max`.
    pub fn with_ejection_times(mut self, base: Duration, max: Duration) -> Result<Self, Error> {
        if base.is_zero() || base > max {
            return Err(Error::InvalidParameter {
                parameter: "ejection time",
                reason: format!("base {base:?} must be non-zero and at most max {max:?}"),
            });
        }
        self.base_ejection = base;
        self.max_ejection = max;
        Ok(self)
    }

    /// Sets the most backends ejected at once, in percent of the set (at
    /// least one may always be ejected).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] above 100.
    pub fn with_max_ejection_percent(mut self, percent: u32) -> Result<Self, Error> {
        if percent > 100 {
            return Err(Error::InvalidParameter {
                parameter: "max_ejection_percent",
                reason: format!("{percent} is above 100"),
            });
        }
        self.max_ejection_percent = percent;
        Ok(self)
    }

    /// Consecutive failures that eject (0: off).
    #[must_use]
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// How many of `members` backends may be ejected at once.
    #[must_use]
    pub fn max_ejected(&self, members: usize) -> usize {
        (members * self.max_ejection_percent as usize / 100).max(1)
    }
}

/// The ejection history of one backend (times in nanoseconds since the
/// balancer's epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OutlierState {
    times_ejected: u32,
    /// When the current ejection ends, if ejected.
    until: Option<u64>,
    /// When the last ejection ended.
    returned_at: Option<u64>,
}

impl OutlierState {
    pub(crate) fn ejected_until(&self) -> Option<u64> {
        self.until
    }

    pub(crate) fn times_ejected(&self) -> u32 {
        self.times_ejected
    }

    /// Ejects at `now`; returns when the ejection ends.
    pub(crate) fn eject(&mut self, now: u64, config: &OutlierDetection) -> u64 {
        let base = u64::try_from(config.base_ejection.as_nanos()).unwrap_or(u64::MAX);
        let max = u64::try_from(config.max_ejection.as_nanos()).unwrap_or(u64::MAX);
        // Time served since the last return earns the multiplier back down.
        let forgiven = self
            .returned_at
            .map_or(0, |at| now.saturating_sub(at) / base.max(1));
        let forgiven = u32::try_from(forgiven).unwrap_or(u32::MAX);
        self.times_ejected = self
            .times_ejected
            .saturating_sub(forgiven)
            .saturating_add(1);
        let duration = base.saturating_mul(u64::from(self.times_ejected)).min(max);
        let until = now.saturating_add(duration);
        self.until = Some(until);
        until
    }

    /// Ends the current ejection at `at` (its scheduled end).
    pub(crate) fn release(&mut self, at: u64) {
        self.until = None;
        self.returned_at = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn config() -> OutlierDetection {
        OutlierDetection::default()
            .with_ejection_times(Duration::from_secs(10), Duration::from_secs(35))
            .unwrap()
    }

    #[test]
    fn ejections_grow_and_cap() {
        let c = config();
        let mut s = OutlierState::default();
        let mut now = 0;
        let mut lengths = Vec::new();
        for _ in 0..5 {
            let until = s.eject(now, &c);
            lengths.push((until - now) / S);
            s.release(until);
            now = until + 1; // fails again at once
        }
        assert_eq!(lengths, [10, 20, 30, 35, 35]);
        assert_eq!(s.times_ejected(), 5);
    }

    #[test]
    fn good_behaviour_earns_the_multiplier_back() {
        let c = config();
        let mut s = OutlierState::default();
        let until = s.eject(0, &c);
        s.release(until);
        let until = s.eject(until, &c);
        assert_eq!(until, 10 * S + 20 * S);
        s.release(until);
        // 25 s in service forgives two ejections: the next is base × 1.
        let now = until + 25 * S;
        assert_eq!(s.eject(now, &c) - now, 10 * S);
    }

    #[test]
    fn caps_on_ejected_count_and_validation() {
        let c = OutlierDetection::default();
        assert_eq!(c.max_ejected(5), 1, "at least one");
        assert_eq!(c.max_ejected(100), 10);
        assert_eq!(c.with_max_ejection_percent(50).unwrap().max_ejected(7), 3);
        assert!(c.with_max_ejection_percent(101).is_err());
        assert!(
            c.with_ejection_times(Duration::ZERO, Duration::from_secs(1))
                .is_err()
        );
        assert!(
            c.with_ejection_times(Duration::from_secs(2), Duration::from_secs(1))
                .is_err()
        );
        assert_eq!(OutlierDetection::disabled().consecutive_failures(), 0);
    }
}
