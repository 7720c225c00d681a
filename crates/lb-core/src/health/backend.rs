//! One backend's health: hot flags read by every pick, and the state
//! machines behind them, changed only on transitions.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::health::active::{ActiveState, Initial, Verdict};
use crate::health::outlier::OutlierState;

/// Active checks say unhealthy (or unknown).
pub(crate) const DOWN: u8 = 1;
/// Passive outlier detection ejected it.
pub(crate) const EJECTED: u8 = 2;
/// Draining: set by an administrator, or by an update that removed it.
pub(crate) const DRAINING: u8 = 4;
/// Set with [`DRAINING`] once the drain has been reported complete.
pub(crate) const DRAINED: u8 = 8;
/// Started [`Initial::Unknown`] and not checked yet: not available, not a
/// candidate for panic mode either (Envoy's `ignore_new_hosts_until_first_hc`).
pub(crate) const PENDING: u8 = 16;

/// `ramp_since` when no slow start is running.
pub(crate) const NO_RAMP: u64 = u64::MAX;

/// The health of one backend.
///
/// Picks read one atomic byte of flags; the rise/fall and ejection state
/// machines sit behind a mutex taken only to change state (a check result, a
/// failure that may eject, an ejection's end, drain or enable).
#[derive(Debug)]
pub struct BackendHealth {
    flags: AtomicU8,
    /// Consecutive passive failures (reset by a success).
    pub(crate) failures: AtomicU32,
    /// When the current slow-start ramp began (ns), or [`NO_RAMP`].
    pub(crate) ramp_since: AtomicU64,
    pub(crate) machine: Mutex<Machine>,
}

/// The state machines of one backend.
#[derive(Debug)]
pub(crate) struct Machine {
    pub(crate) active: ActiveState,
    pub(crate) outlier: OutlierState,
}

impl BackendHealth {
    pub(crate) fn new(initial: Initial) -> Self {
        let flags = match initial {
            Initial::Healthy => 0,
            Initial::Unknown => PENDING,
        };
        Self {
            flags: AtomicU8::new(flags),
            failures: AtomicU32::new(0),
            ramp_since: AtomicU64::new(NO_RAMP),
            machine: Mutex::new(Machine {
                active: ActiveState::new(initial),
                outlier: OutlierState::default(),
            }),
        }
    }

    // Flags are sequentially consistent: a pick counts its lease and then
    // reads them, a drain sets them and then reads the in-flight count, and
    // one of the two must see the other.
    #[inline]
    pub(crate) fn flags(&self) -> u8 {
        self.flags.load(Ordering::SeqCst)
    }

    pub(crate) fn set(&self, flag: u8) {
        self.flags.fetch_or(flag, Ordering::SeqCst);
    }

    pub(crate) fn clear(&self, flag: u8) {
        self.flags.fetch_and(!flag, Ordering::SeqCst);
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Machine> {
        self.machine
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether it may take new requests outside panic mode: checked healthy
    /// (or started healthy), not ejected, not draining.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.flags() == 0
    }

    /// What active checks say.
    #[must_use]
    pub fn verdict(&self) -> Verdict {
        self.lock().active.verdict()
    }

    /// Whether passive outlier detection has it ejected.
    #[must_use]
    pub fn is_ejected(&self) -> bool {
        self.flags() & EJECTED != 0
    }

    /// Whether it waits for its first active check (started
    /// [`Initial::Unknown`]): no picks, even in panic mode.
    #[must_use]
    pub fn is_pending(&self) -> bool {
        self.flags() & PENDING != 0
    }

    /// Whether it is draining (no new picks, even in panic mode).
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.flags() & DRAINING != 0
    }

    /// How many times it has been ejected (after forgiveness for time served).
    #[must_use]
    pub fn times_ejected(&self) -> u32 {
        self.lock().outlier.times_ejected()
    }

    /// Failures in a row since its last success (saturating; it wraps to 0
    /// only after 2^32 failures in a row).
    #[must_use]
    pub fn consecutive_failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }
}
