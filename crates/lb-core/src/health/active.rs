//! Active health checks: HAProxy's `rise` / `fall` thresholds.
//!
//! Source: HAProxy `server ... check rise 2 fall 3` (the defaults). A
//! backend becomes unhealthy after `fall` consecutive failed checks and
//! healthy again after `rise` consecutive passed checks; a single contrary
//! result resets the count, so one flapping probe cannot move it. A backend
//! may start [`Initial::Healthy`] (HAProxy's default, and the only sensible
//! one without a prober) or [`Initial::Unknown`], not eligible until its first
//! check passes (Envoy's `ignore_new_hosts_until_first_hc`); the first check
//! of an unknown backend decides its state either way.

use crate::error::Error;

/// The state a backend starts in before any check result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Initial {
    /// Eligible at once; `fall` failures make it unhealthy.
    #[default]
    Healthy,
    /// Not eligible until its first check; the first result decides.
    Unknown,
}

/// Active-check thresholds. Defaults: rise 2, fall 3, start healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveCheck {
    rise: u32,
    fall: u32,
    initial: Initial,
}

impl Default for ActiveCheck {
    fn default() -> Self {
        Self {
            rise: 2,
            fall: 3,
            initial: Initial::Healthy,
        }
    }
}

impl ActiveCheck {
    /// Sets `rise` (passes to become healthy) and `fall` (failures to become
    /// unhealthy).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if either is 0.
    pub fn with_thresholds(mut self, rise: u32, fall: u32) -> Result<Self, Error> {
        if rise == 0 || fall == 0 {
            return Err(Error::InvalidParameter {
                parameter: "rise/fall",
                reason: format!("rise {rise} and fall {fall} must both be at least 1"),
            });
        }
        self.rise = rise;
        self.fall = fall;
        Ok(self)
    }

    /// Sets the state before the first check.
    #[must_use]
    pub fn with_initial(mut self, initial: Initial) -> Self {
        self.initial = initial;
        self
    }

    /// Consecutive passes needed to become healthy.
    #[must_use]
    pub fn rise(&self) -> u32 {
        self.rise
    }

    /// Consecutive failures needed to become unhealthy.
    #[must_use]
    pub fn fall(&self) -> u32 {
        self.fall
    }

    /// The state before the first check.
    #[must_use]
    pub fn initial(&self) -> Initial {
        self.initial
    }
}

/// What active checks say of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// No check has run yet and the backend started [`Initial::Unknown`].
    Unknown,
    /// Passing (or started healthy and not yet failed `fall` times).
    Healthy,
    /// Failed `fall` times in a row (or its first check).
    Unhealthy,
}

/// The rise/fall state machine of one backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ActiveState {
    verdict: Verdict,
    /// Consecutive results against the current verdict.
    streak: u32,
}

impl ActiveState {
    pub(crate) fn new(initial: Initial) -> Self {
        let verdict = match initial {
            Initial::Healthy => Verdict::Healthy,
            Initial::Unknown => Verdict::Unknown,
        };
        Self { verdict, streak: 0 }
    }

    pub(crate) fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Feeds one check result; returns the new verdict if it changed.
    pub(crate) fn record(&mut self, passed: bool, config: &ActiveCheck) -> Option<Verdict> {
        let next = match (self.verdict, passed) {
            (Verdict::Unknown, true) => Verdict::Healthy,
            (Verdict::Unknown, false) => Verdict::Unhealthy,
            (Verdict::Healthy, true) | (Verdict::Unhealthy, false) => {
                self.streak = 0;
                return None;
            }
            (Verdict::Healthy, false) => {
                self.streak += 1;
                if self.streak < config.fall {
                    return None;
                }
                Verdict::Unhealthy
            }
            (Verdict::Unhealthy, true) => {
                self.streak += 1;
                if self.streak < config.rise {
                    return None;
                }
                Verdict::Healthy
            }
        };
        self.verdict = next;
        self.streak = 0;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &ActiveCheck, results: &[bool]) -> Vec<Option<Verdict>> {
        let mut s = ActiveState::new(config.initial());
        results.iter().map(|&r| s.record(r, config)).collect()
    }

    #[test]
    fn transitions_exactly_at_the_thresholds() {
        let c = ActiveCheck::default(); // rise 2, fall 3
        let (h, u) = (Some(Verdict::Healthy), Some(Verdict::Unhealthy));
        assert_eq!(
            run(&c, &[false, false, false, true, true, false]),
            [None, None, u, None, h, None]
        );
        // A contrary result resets the streak.
        assert_eq!(
            run(&c, &[false, false, true, false, false, false]),
            [None, None, None, None, None, u]
        );
    }

    #[test]
    fn unknown_is_decided_by_the_first_check() {
        let c = ActiveCheck::default().with_initial(Initial::Unknown);
        assert_eq!(ActiveState::new(c.initial()).verdict(), Verdict::Unknown);
        assert_eq!(run(&c, &[true]), [Some(Verdict::Healthy)]);
        assert_eq!(run(&c, &[false]), [Some(Verdict::Unhealthy)]);
    }

    #[test]
    fn thresholds_of_one_flip_at_once_and_zero_is_refused() {
        let c = ActiveCheck::default().with_thresholds(1, 1).unwrap();
        assert_eq!(
            run(&c, &[false, true]),
            [Some(Verdict::Unhealthy), Some(Verdict::Healthy)]
        );
        assert!(ActiveCheck::default().with_thresholds(0, 3).is_err());
        assert!(ActiveCheck::default().with_thresholds(2, 0).is_err());
    }
}
