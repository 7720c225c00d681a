//! The per-balancer side of the health model: membership, the share of
//! available backends (panic mode), ejection deadlines, and events.
//!
//! Lock order: the members mutex first, then a backend's machine mutex.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::Outcome;
use crate::health::active::Verdict;
use crate::health::backend::{DOWN, DRAINED, DRAINING, EJECTED, NO_RAMP, PENDING};
use crate::health::{EventKind, EventSink, HealthConfig, HealthEvent};
use crate::state::{BackendState, Clock};

/// A summary of the balancer's health, for dashboards and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthStatus {
    /// Backends in the current set.
    pub members: usize,
    /// Members neither draining nor waiting for their first check: the
    /// denominator of the panic threshold.
    pub candidates: usize,
    /// Members available (healthy, not ejected, not draining).
    pub available: usize,
    /// Members ejected.
    pub ejected: usize,
    /// Whether panic mode is on.
    pub panic: bool,
    /// How many times panic mode was entered.
    pub panic_entered: u64,
}

#[derive(Debug, Default)]
struct Members {
    states: Vec<Arc<BackendState>>,
    panic_entered: u64,
}

/// Health state shared by all snapshots of one balancer.
#[derive(Debug)]
pub(crate) struct Monitor {
    config: HealthConfig,
    /// Whether slow start is on (a non-zero window).
    ramps: bool,
    sink: Option<EventSink>,
    panic: AtomicBool,
    /// The earliest ejection deadline among members (ns), or `u64::MAX`.
    next_expiry: AtomicU64,
    /// The latest time reported (ns): the time of events that have none.
    latest: AtomicU64,
    members: Mutex<Members>,
}

impl Monitor {
    pub(crate) fn new(config: HealthConfig, sink: Option<EventSink>) -> Self {
        Self {
            ramps: !config.slow_start().window().is_zero(),
            config,
            sink,
            panic: AtomicBool::new(false),
            next_expiry: AtomicU64::new(u64::MAX),
            latest: AtomicU64::new(0),
            members: Mutex::new(Members::default()),
        }
    }

    pub(crate) fn config(&self) -> &HealthConfig {
        &self.config
    }

    fn members(&self) -> MutexGuard<'_, Members> {
        self.members
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn emit(&self, clock: &Clock, at: u64, kind: EventKind) {
        if let Some(sink) = &self.sink {
            sink.emit(&HealthEvent {
                at: clock.instant(at),
                kind,
            });
        }
    }

    /// Whether slow start is on.
    #[inline]
    pub(crate) fn ramps(&self) -> bool {
        self.ramps
    }

    /// Whether picks ignore health (but not draining).
    #[inline]
    pub(crate) fn in_panic(&self) -> bool {
        self.panic.load(Ordering::Acquire)
    }

    /// Called with every reported time: ends ejections whose time is up.
    /// One atomic load unless a deadline has passed.
    #[inline]
    pub(crate) fn tick(&self, now: u64, clock: &Clock) {
        if now >= self.next_expiry.load(Ordering::Acquire) {
            self.expire(now, clock);
        }
    }

    #[cold]
    fn expire(&self, now: u64, clock: &Clock) {
        let mut members = self.members();
        self.latest.fetch_max(now, Ordering::Relaxed);
        for state in &members.states {
            if state.health.flags() & EJECTED == 0 {
                continue;
            }
            let released = {
                let mut machine = state.health.lock();
                match machine.outlier.ejected_until() {
                    Some(until) if until <= now => {
                        machine.outlier.release(until);
                        Some(until)
                    }
                    _ => None,
                }
            };
            // The machine lock is released before the event: a subscriber
            // may read the backend's health.
            if let Some(until) = released {
                state.health.clear(EJECTED);
                state.health.failures.store(0, Ordering::Relaxed);
                self.start_ramp(state, until);
                self.emit(clock, until, EventKind::Returned { backend: state.id });
            }
        }
        self.refresh(&mut members, now, clock);
    }

    /// Recomputes the earliest deadline and panic mode (members locked).
    fn refresh(&self, members: &mut Members, now: u64, clock: &Clock) {
        let next = members
            .states
            .iter()
            .filter(|s| s.health.flags() & EJECTED != 0)
            .filter_map(|s| s.health.lock().outlier.ejected_until())
            .min()
            .unwrap_or(u64::MAX);
        self.next_expiry.store(next, Ordering::Release);
        let status = Self::count(&members.states);
        let panic = self.should_panic(&status);
        if panic != self.panic.load(Ordering::Acquire) {
            self.panic.store(panic, Ordering::Release);
            let (available, candidates) = (status.available, status.candidates);
            let kind = if panic {
                members.panic_entered += 1;
                EventKind::PanicEntered {
                    available,
                    candidates,
                }
            } else {
                EventKind::PanicLeft {
                    available,
                    candidates,
                }
            };
            self.emit(clock, now, kind);
        }
    }

    fn count(states: &[Arc<BackendState>]) -> HealthStatus {
        let mut status = HealthStatus {
            members: states.len(),
            ..HealthStatus::default()
        };
        for s in states {
            let flags = s.health.flags();
            status.candidates += usize::from(flags & (DRAINING | PENDING) == 0);
            status.available += usize::from(flags == 0);
            status.ejected += usize::from(flags & EJECTED != 0);
        }
        status
    }

    fn start_ramp(&self, state: &BackendState, at: u64) {
        if !self.config.slow_start().window().is_zero() {
            state.health.ramp_since.store(at, Ordering::Release);
        }
    }

    /// The slow-start weight factor of `state` at `now`, in `(0, 1]`.
    #[inline]
    pub(crate) fn weight_factor(&self, state: &BackendState, now: u64) -> f64 {
        if !self.ramps {
            return 1.0;
        }
        let since = state.health.ramp_since.load(Ordering::Acquire);
        if since == NO_RAMP {
            return 1.0;
        }
        let elapsed = std::time::Duration::from_nanos(now.saturating_sub(since));
        let factor = self.config.slow_start().factor(elapsed);
        if factor >= 1.0 {
            // The ramp is over; later reads skip the arithmetic.
            let _ = state.health.ramp_since.compare_exchange(
                since,
                NO_RAMP,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
        factor
    }

    /// Replaces the member set: `added` are new to it, `removed` left it.
    /// Emits `Added` / `Removed`; the added start slow start (and a backend
    /// added back is no longer draining), the removed drain (`Drained` at
    /// once if nothing is in flight). `announce` is false for the first set,
    /// which is no change.
    pub(crate) fn set_members(
        &self,
        states: Vec<Arc<BackendState>>,
        added: &[Arc<BackendState>],
        removed: &[Arc<BackendState>],
        now: u64,
        clock: &Clock,
        announce: bool,
    ) {
        let mut members = self.members();
        self.latest.fetch_max(now, Ordering::Relaxed);
        members.states = states;
        if !announce {
            let status = Self::count(&members.states);
            self.panic
                .store(self.should_panic(&status), Ordering::Release);
            return;
        }
        for state in added {
            state.health.clear(DRAINING | DRAINED);
            self.start_ramp(state, now);
            self.emit(clock, now, EventKind::Added { backend: state.id });
        }
        for state in removed {
            state.health.set(DRAINING);
            let in_flight = state.load.in_flight_seq_cst();
            self.emit(
                clock,
                now,
                EventKind::Removed {
                    backend: state.id,
                    in_flight,
                },
            );
            if in_flight == 0 && state.health.flags() & DRAINED == 0 {
                state.health.set(DRAINED);
                self.emit(clock, now, EventKind::Drained { backend: state.id });
            }
        }
        self.refresh(&mut members, now, clock);
    }

    fn should_panic(&self, status: &HealthStatus) -> bool {
        let threshold = self.config.panic_threshold();
        threshold > 0.0
            && status.candidates > 0
            && (status.available as f64) < threshold * status.candidates as f64
    }

    /// An active check result for `state` at `now`.
    pub(crate) fn record_check(&self, state: &BackendState, passed: bool, now: u64, clock: &Clock) {
        let mut members = self.members();
        self.latest.fetch_max(now, Ordering::Relaxed);
        let changed = {
            let mut machine = state.health.lock();
            let before = machine.active.verdict();
            machine
                .active
                .record(passed, self.config.active())
                .map(|v| (before, v))
        };
        let Some((before, verdict)) = changed else {
            return;
        };
        state.health.clear(PENDING);
        let kind = if verdict == Verdict::Healthy {
            state.health.clear(DOWN);
            if before == Verdict::Unhealthy || before == Verdict::Unknown {
                self.start_ramp(state, now);
            }
            EventKind::Healthy { backend: state.id }
        } else {
            state.health.set(DOWN);
            EventKind::Unhealthy { backend: state.id }
        };
        self.emit(clock, now, kind);
        self.refresh(&mut members, now, clock);
    }

    /// A lease outcome for `state` at `now`: passive outlier detection.
    pub(crate) fn record_outcome(
        &self,
        state: &BackendState,
        outcome: Outcome,
        now: u64,
        clock: &Clock,
    ) {
        let threshold = self.config.outlier().consecutive_failures();
        match outcome {
            Outcome::Success => {
                if state.health.failures.load(Ordering::Relaxed) != 0 {
                    state.health.failures.store(0, Ordering::Relaxed);
                }
            }
            Outcome::Cancelled => {}
            Outcome::Failure => {
                let failures = state
                    .health
                    .failures
                    .fetch_add(1, Ordering::Relaxed)
                    .saturating_add(1);
                if threshold != 0 && failures >= threshold && state.health.flags() & EJECTED == 0 {
                    self.try_eject(state, now, clock);
                }
            }
        }
    }

    #[cold]
    fn try_eject(&self, state: &BackendState, now: u64, clock: &Clock) {
        let mut members = self.members();
        self.latest.fetch_max(now, Ordering::Relaxed);
        let is_member = members
            .states
            .iter()
            .any(|s| std::ptr::eq(Arc::as_ptr(s), state));
        if !is_member || state.health.flags() & EJECTED != 0 {
            return;
        }
        let failures = state.health.failures.load(Ordering::Relaxed);
        if failures < self.config.outlier().consecutive_failures() {
            return; // a success reset it meanwhile
        }
        let ejected = Self::count(&members.states).ejected;
        if ejected >= self.config.outlier().max_ejected(members.states.len()) {
            return;
        }
        let (until, times) = {
            let mut machine = state.health.lock();
            let until = machine.outlier.eject(now, self.config.outlier());
            (until, machine.outlier.times_ejected())
        };
        state.health.set(EJECTED);
        state.health.failures.store(0, Ordering::Relaxed);
        state.health.ramp_since.store(NO_RAMP, Ordering::Release);
        self.emit(
            clock,
            now,
            EventKind::Ejected {
                backend: state.id,
                until: clock.instant(until),
                times,
                failures,
            },
        );
        self.refresh(&mut members, now, clock);
    }

    /// A lease on `state` ended at `at` (or, for a lease dropped without a
    /// time, at the latest time reported), leaving `in_flight` open.
    #[inline]
    pub(crate) fn lease_ended(
        &self,
        state: &BackendState,
        in_flight: usize,
        at: Option<u64>,
        clock: &Clock,
    ) {
        if in_flight == 0 && state.health.flags() & (DRAINING | DRAINED) == DRAINING {
            self.report_drained(state, at, clock);
        }
    }

    #[cold]
    fn report_drained(&self, state: &BackendState, at: Option<u64>, clock: &Clock) {
        let _members = self.members();
        let flags = state.health.flags();
        if flags & (DRAINING | DRAINED) == DRAINING && state.load.in_flight_seq_cst() == 0 {
            state.health.set(DRAINED);
            let at = at.unwrap_or_else(|| self.latest.load(Ordering::Relaxed));
            self.emit(clock, at, EventKind::Drained { backend: state.id });
        }
    }

    /// Sets `state` draining; false if it already was.
    pub(crate) fn drain(&self, state: &BackendState, now: u64, clock: &Clock) -> bool {
        let mut members = self.members();
        self.latest.fetch_max(now, Ordering::Relaxed);
        if state.health.flags() & DRAINING != 0 {
            return false;
        }
        state.health.set(DRAINING);
        let in_flight = state.load.in_flight_seq_cst();
        self.emit(
            clock,
            now,
            EventKind::Draining {
                backend: state.id,
                in_flight,
            },
        );
        if in_flight == 0 {
            state.health.set(DRAINED);
            self.emit(clock, now, EventKind::Drained { backend: state.id });
        }
        self.refresh(&mut members, now, clock);
        true
    }

    /// Ends draining for `state`; false if it was not draining.
    pub(crate) fn enable(&self, state: &BackendState, now: u64, clock: &Clock) -> bool {
        let mut members = self.members();
        self.latest.fetch_max(now, Ordering::Relaxed);
        if state.health.flags() & DRAINING == 0 {
            return false;
        }
        state.health.clear(DRAINING | DRAINED);
        self.start_ramp(state, now);
        self.emit(clock, now, EventKind::Enabled { backend: state.id });
        self.refresh(&mut members, now, clock);
        true
    }

    /// The current summary.
    pub(crate) fn status(&self) -> HealthStatus {
        let members = self.members();
        HealthStatus {
            panic: self.in_panic(),
            panic_entered: members.panic_entered,
            ..Self::count(&members.states)
        }
    }
}
