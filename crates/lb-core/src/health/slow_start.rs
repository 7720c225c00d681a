//! Slow start: a recovered or new backend's weight ramps up over a window.
//!
//! Source: Envoy's `slow_start_config` (round robin and least request):
//! during the window the effective weight is
//! `weight × max((t / window)^(1 / aggression), min_weight_percent)`, so a
//! backend that just came back (cold caches, JIT, connection pools) is not
//! handed its full share at once. HAProxy's `slowstart` is the linear case.
//! Weighted round robin and random honour it by admission (a pick of a
//! ramping backend stands with probability equal to the factor), least
//! connections, P2C and peak EWMA through the weight they divide load by;
//! hash-based algorithms map keys, not shares, and ignore it.

use std::time::Duration;

use crate::error::Error;

/// Slow-start settings. The default window is zero: off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowStart {
    window: Duration,
    aggression: f64,
    min_factor: f64,
}

impl Default for SlowStart {
    fn default() -> Self {
        Self {
            window: Duration::ZERO,
            aggression: 1.0,
            min_factor: 0.1,
        }
    }
}

impl SlowStart {
    /// A linear ramp over `window` (zero turns slow start off), starting at
    /// Envoy's default floor of 10 % of the weight.
    #[must_use]
    pub fn linear(window: Duration) -> Self {
        Self {
            window,
            ..Self::default()
        }
    }

    /// Sets the aggression `a`: the ramp is `(t / window)^(1/a)`; above 1 it
    /// rises faster at first, below 1 slower.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `a` is finite and positive.
    pub fn with_aggression(mut self, aggression: f64) -> Result<Self, Error> {
        if !(aggression.is_finite() && aggression > 0.0) {
            return Err(Error::InvalidParameter {
                parameter: "aggression",
                reason: format!("{aggression} must be a positive finite number"),
            });
        }
        self.aggression = aggression;
        Ok(self)
    }

    /// Sets the floor of the factor (Envoy's `min_weight_percent` / 100).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `0 < floor <= 1`.
    pub fn with_min_factor(mut self, floor: f64) -> Result<Self, Error> {
        if !(floor > 0.0 && floor <= 1.0) {
            return Err(Error::InvalidParameter {
                parameter: "min_factor",
                reason: format!("{floor} must be in (0, 1]"),
            });
        }
        self.min_factor = floor;
        Ok(self)
    }

    /// The ramp window (zero: slow start is off).
    #[must_use]
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The weight factor `elapsed` after the ramp began, in `(0, 1]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lb_core::health::SlowStart;
    /// let s = SlowStart::linear(Duration::from_secs(10));
    /// assert_eq!(s.factor(Duration::from_secs(5)), 0.5);
    /// assert_eq!(s.factor(Duration::ZERO), 0.1); // the floor
    /// assert_eq!(s.factor(Duration::from_secs(10)), 1.0);
    /// ```
    #[must_use]
    pub fn factor(&self, elapsed: Duration) -> f64 {
        if elapsed >= self.window {
            return 1.0;
        }
        let t = elapsed.as_secs_f64() / self.window.as_secs_f64();
        t.powf(1.0 / self.aggression).max(self.min_factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ramp_with_floor() {
        let s = SlowStart::linear(Duration::from_secs(100));
        for secs in [0_u64, 5, 10, 30, 60, 99] {
            let f = s.factor(Duration::from_secs(secs));
            let expected = (secs as f64 / 100.0).max(0.1);
            assert!((f - expected).abs() < 1e-12, "{secs}: {f}");
        }
        assert_eq!(s.factor(Duration::from_secs(100)), 1.0);
        assert_eq!(s.factor(Duration::from_secs(1000)), 1.0);
    }

    #[test]
    fn aggression_bends_the_ramp() {
        let s = SlowStart::linear(Duration::from_secs(100))
            .with_aggression(2.0)
            .unwrap();
        // (0.25)^(1/2) = 0.5: faster than linear early on.
        assert!((s.factor(Duration::from_secs(25)) - 0.5).abs() < 1e-12);
        assert!(SlowStart::default().with_aggression(0.0).is_err());
        assert!(SlowStart::default().with_aggression(f64::NAN).is_err());
        assert!(SlowStart::default().with_min_factor(0.0).is_err());
        assert!(SlowStart::default().with_min_factor(1.5).is_err());
    }

    #[test]
    fn off_by_default() {
        assert_eq!(SlowStart::default().factor(Duration::ZERO), 1.0);
    }
}
