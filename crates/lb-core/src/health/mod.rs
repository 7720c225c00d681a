//! The backend health model: which backends may take traffic, and how much.
//!
//! Pure state machines with time passed in, driven by three inputs:
//!
//! - **active checks** ([`ActiveCheck`]): probe results reported with
//!   [`Balancer::report_check`](crate::Balancer::report_check), HAProxy's
//!   `rise` / `fall`;
//! - **passive outlier detection** ([`OutlierDetection`]): lease outcomes,
//!   Envoy's consecutive-failure ejection with growing, capped ejection times
//!   and a cap on the share ejected at once;
//! - **administration**: [`Balancer::drain`](crate::Balancer::drain) and
//!   [`Balancer::enable`](crate::Balancer::enable), and set updates (a
//!   removed backend drains: its open leases finish, then `Drained`; one
//!   added back is enabled).
//!
//! and shaping the picks in two ways:
//!
//! - **eligibility**: a backend is available when healthy, not ejected and
//!   not draining. The balancer derives its eligibility filter from this in
//!   one place. When fewer than `panic_threshold` of the candidates
//!   (backends neither draining nor waiting for their first check) are
//!   available, the balancer enters **panic mode** (Envoy) and spreads picks
//!   over every candidate rather than crushing the few left;
//! - **slow start** ([`SlowStart`]): a backend that recovers, returns from
//!   ejection, is enabled or is added ramps its weight up over a window.
//!
//! With the `tokio` feature (on by default), [`Prober`] runs a [`Probe`]
//! against every backend on a schedule and reports the results.
//!
//! Every state change emits exactly one [`HealthEvent`] to the balancer's
//! [`EventSink`]. Ejections end by themselves: the first pick, check report
//! or lease end after an ejection's deadline releases it (one atomic load per
//! pick checks the earliest deadline).

mod active;
mod backend;
mod event;
pub(crate) mod monitor;
mod outlier;
#[cfg(feature = "tokio")]
mod probe;
mod slow_start;

pub use active::{ActiveCheck, Initial, Verdict};
pub use backend::BackendHealth;
pub(crate) use backend::{DRAINING, PENDING};
pub use event::{EventKind, EventSink, HealthEvent};
pub use monitor::HealthStatus;
pub use outlier::OutlierDetection;
#[cfg(feature = "tokio")]
pub use probe::{Probe, ProbeConfig, ProbeError, Prober};
pub use slow_start::SlowStart;

use crate::error::Error;

/// All health settings of a balancer.
///
/// Defaults: active checks rise 2 / fall 3 starting healthy (no check ever
/// reported means every backend stays healthy); outlier detection on with
/// Envoy's defaults (5 consecutive failures, 30 s base, 300 s cap, 10 %);
/// slow start off; panic below 50 % available.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HealthConfig {
    active: ActiveCheck,
    outlier: OutlierDetection,
    slow_start: SlowStart,
    panic_threshold: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            active: ActiveCheck::default(),
            outlier: OutlierDetection::default(),
            slow_start: SlowStart::default(),
            panic_threshold: 0.5,
        }
    }
}

impl HealthConfig {
    /// Sets the active-check thresholds and initial state.
    #[must_use]
    pub fn with_active(mut self, active: ActiveCheck) -> Self {
        self.active = active;
        self
    }

    /// Sets passive outlier detection.
    #[must_use]
    pub fn with_outlier(mut self, outlier: OutlierDetection) -> Self {
        self.outlier = outlier;
        self
    }

    /// Sets slow start.
    #[must_use]
    pub fn with_slow_start(mut self, slow_start: SlowStart) -> Self {
        self.slow_start = slow_start;
        self
    }

    /// Sets the panic threshold: the share of non-draining backends that
    /// must be available (0 turns panic mode off; Envoy's default is 0.5).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] outside `0..=1`.
    pub fn with_panic_threshold(mut self, threshold: f64) -> Result<Self, Error> {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(Error::InvalidParameter {
                parameter: "panic_threshold",
                reason: format!("{threshold} is outside 0..=1"),
            });
        }
        self.panic_threshold = threshold;
        Ok(self)
    }

    /// The active-check settings.
    #[must_use]
    pub fn active(&self) -> &ActiveCheck {
        &self.active
    }

    /// The outlier-detection settings.
    #[must_use]
    pub fn outlier(&self) -> &OutlierDetection {
        &self.outlier
    }

    /// The slow-start settings.
    #[must_use]
    pub fn slow_start(&self) -> &SlowStart {
        &self.slow_start
    }

    /// The panic threshold.
    #[must_use]
    pub fn panic_threshold(&self) -> f64 {
        self.panic_threshold
    }
}
