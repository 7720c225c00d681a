//! Per-backend load: requests in flight and a peak-EWMA latency estimate.
//!
//! A [`LoadTable`] holds one [`BackendLoad`] per backend, shared through `Arc`
//! so that a [`Balancer`](crate::Balancer) update keeps the counters of the
//! backends that stay. Every field is an atomic: leases update them and
//! selectors read them without a lock. Selectors see the table through
//! [`Loads`], a borrowed view that also carries the current time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::backend::{Backend, BackendId};
use crate::ewma::{EwmaCell, EwmaConfig};
use crate::health::{BackendHealth, HealthConfig};
use crate::state::{BackendState, Shared};

/// Load counters of one backend. All updates are atomic and lock-free; the
/// latency estimate is a sequence lock (see [`crate::ewma`]).
#[derive(Debug)]
pub struct BackendLoad {
    in_flight: AtomicUsize,
    ewma: EwmaCell,
    successes: AtomicU64,
    failures: AtomicU64,
    cancelled: AtomicU64,
}

impl Default for BackendLoad {
    fn default() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            ewma: EwmaCell::default(),
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
        }
    }
}

impl BackendLoad {
    /// Requests or connections currently in flight.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// In flight, read in the sequentially consistent order that pairs with
    /// [`LoadTable::begin`] (drain against pick).
    pub(crate) fn in_flight_seq_cst(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Leases finished with [`Outcome::Success`](crate::Outcome::Success).
    #[must_use]
    pub fn successes(&self) -> u64 {
        self.successes.load(Ordering::Relaxed)
    }

    /// Leases finished with [`Outcome::Failure`](crate::Outcome::Failure).
    #[must_use]
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Leases dropped without an outcome, or finished as cancelled.
    #[must_use]
    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// The state of every backend of a set, indexed like the backend slice:
/// load counters ([`BackendLoad`]) and health ([`BackendHealth`]), plus the
/// balancer-wide total in flight and settings.
///
/// Build one directly to drive a [`Selector`](crate::Selector) without a
/// [`Balancer`](crate::Balancer) (benches, simulations); it then has default
/// health settings and no event subscriber.
#[derive(Debug, Clone)]
pub struct LoadTable {
    states: Vec<Arc<BackendState>>,
    shared: Arc<Shared>,
}

impl LoadTable {
    /// A table of `n` idle, healthy backends.
    #[must_use]
    pub fn new(n: usize, config: EwmaConfig) -> Self {
        let shared = Arc::new(Shared::new(config, HealthConfig::default(), None));
        let initial = shared.monitor.config().active().initial();
        Self {
            states: (0..n)
                .map(|i| Arc::new(BackendState::new(BackendId::from_u64(i as u64), initial)))
                .collect(),
            shared,
        }
    }

    /// A table for `backends` with the given balancer-wide state; backend `i`
    /// keeps the state `reuse(i)` returns, or starts afresh.
    pub(crate) fn build(
        backends: &[Backend],
        shared: Arc<Shared>,
        mut reuse: impl FnMut(usize) -> Option<Arc<BackendState>>,
    ) -> Self {
        let initial = shared.monitor.config().active().initial();
        Self {
            states: backends
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    reuse(i).unwrap_or_else(|| Arc::new(BackendState::new(b.id(), initial)))
                })
                .collect(),
            shared,
        }
    }

    /// The balancer-wide state this table shares.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The state of backend `index`, to carry over to a new table.
    pub(crate) fn state(&self, index: usize) -> &Arc<BackendState> {
        &self.states[index]
    }

    /// All states, in order.
    pub(crate) fn states(&self) -> &[Arc<BackendState>] {
        &self.states
    }

    /// Number of backends.
    #[must_use]
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether the table has no backend.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The counters of backend `index`.
    ///
    /// # Panics
    ///
    /// If `index >= self.len()`.
    #[must_use]
    pub fn get(&self, index: usize) -> &BackendLoad {
        &self.states[index].load
    }

    /// The health of backend `index`.
    ///
    /// # Panics
    ///
    /// If `index >= self.len()`.
    #[must_use]
    pub fn health(&self, index: usize) -> &BackendHealth {
        &self.states[index].health
    }

    /// The EWMA settings.
    #[must_use]
    pub fn config(&self) -> EwmaConfig {
        self.shared.ewma
    }

    /// Requests in flight over all backends (including ones since removed
    /// whose leases are still open).
    #[must_use]
    pub fn total_in_flight(&self) -> usize {
        self.shared.total.load(Ordering::Relaxed)
    }

    /// The view a selector reads at time `now`.
    #[must_use]
    pub fn view(&self, now: Instant) -> Loads<'_> {
        self.view_at(now, self.shared.clock.nanos(now))
    }

    /// [`LoadTable::view`] with `now` already converted to the clock's
    /// nanoseconds (the balancer converts once per pick).
    pub(crate) fn view_at(&self, now: Instant, now_ns: u64) -> Loads<'_> {
        Loads {
            table: self,
            now,
            now_ns,
        }
    }

    /// Counts one more request in flight on `index`.
    pub fn begin(&self, index: usize) {
        self.states[index]
            .load
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
        self.shared.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Ends a request begun with [`LoadTable::begin`]: every `end` must
    /// match one `begin` on the same index (leases guarantee it; a debug
    /// build panics on an unmatched `end`). With `now`, the outcome feeds
    /// passive health and `latency` (if any) the EWMA, observed at `now`.
    pub fn end(
        &self,
        index: usize,
        outcome: crate::Outcome,
        now: Option<Instant>,
        latency: Option<Duration>,
    ) {
        let state = &self.states[index];
        let load = &state.load;
        let before = load.in_flight.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(before > 0, "LoadTable::end without a matching begin");
        self.shared.total.fetch_sub(1, Ordering::Relaxed);
        let counter = match outcome {
            crate::Outcome::Success => &load.successes,
            crate::Outcome::Failure => &load.failures,
            crate::Outcome::Cancelled => &load.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let (monitor, clock) = (&self.shared.monitor, &self.shared.clock);
        let ns = now.map(|now| clock.nanos(now));
        if let Some(ns) = ns {
            monitor.tick(ns, clock);
            if let Some(rtt) = latency {
                load.ewma
                    .observe(rtt.as_secs_f64() * 1e9, ns, self.shared.tau_ns);
            }
            monitor.record_outcome(state, outcome, ns, clock);
        }
        monitor.lease_ended(state, before.saturating_sub(1), ns, clock);
    }

    /// Takes back a [`LoadTable::begin`] that did not become a lease (the
    /// backend turned out to be draining): no outcome is counted.
    pub(crate) fn unbegin(&self, index: usize) {
        let state = &self.states[index];
        let before = state.load.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.shared.total.fetch_sub(1, Ordering::Relaxed);
        let clock = &self.shared.clock;
        self.shared
            .monitor
            .lease_ended(state, before.saturating_sub(1), None, clock);
    }

    /// Records a latency sample for `index` observed at `now`: a sample above
    /// the (decayed) estimate replaces it at once (the "peak"); a lower one is
    /// blended in with weight `1 - e^(-Δt/τ)`.
    pub fn observe(&self, index: usize, rtt: Duration, now: Instant) {
        let shared = &self.shared;
        self.states[index].load.ewma.observe(
            rtt.as_secs_f64() * 1e9,
            shared.clock.nanos(now),
            shared.tau_ns,
        );
    }
}

/// A selector's read-only view of the load table at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Loads<'a> {
    table: &'a LoadTable,
    now: Instant,
    /// `now` in the table clock's nanoseconds.
    now_ns: u64,
}

impl Loads<'_> {
    /// Number of backends.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.states.len()
    }

    /// Whether there is no backend.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.table.states.is_empty()
    }

    /// The instant this view was taken at.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Requests in flight on backend `index`.
    #[inline]
    #[must_use]
    pub fn in_flight(&self, index: usize) -> usize {
        self.table.states[index]
            .load
            .in_flight
            .load(Ordering::Relaxed)
    }

    /// Requests in flight over all backends.
    #[inline]
    #[must_use]
    pub fn total_in_flight(&self) -> usize {
        self.table.total_in_flight()
    }

    /// The latency estimate of backend `index` in nanoseconds, decayed to
    /// now; the configured default when the backend has no sample.
    #[inline]
    #[must_use]
    pub fn rtt_ns(&self, index: usize) -> f64 {
        let shared = &self.table.shared;
        self.table.states[index]
            .load
            .ewma
            .estimate(self.now_ns, shared.tau_ns)
            .unwrap_or(shared.default_rtt_ns)
    }

    /// The slow-start weight factor of backend `index`, in `(0, 1]`: 1 unless
    /// it is ramping up after recovering, returning or being added.
    #[inline]
    #[must_use]
    pub fn weight_factor(&self, index: usize) -> f64 {
        let shared = &self.table.shared;
        shared
            .monitor
            .weight_factor(&self.table.states[index], self.now_ns)
    }

    /// Whether slow start is on for this balancer (otherwise every weight
    /// factor is 1 and selectors may skip asking).
    #[inline]
    #[must_use]
    pub fn ramping(&self) -> bool {
        self.table.shared.monitor.ramps()
    }

    /// `weight` scaled by the slow-start factor of backend `index`, in fixed
    /// point with 16 fraction bits (`weight << 16` when not ramping): exact
    /// integer comparisons of `load × weight` cross products.
    #[inline]
    #[must_use]
    pub fn effective_weight(&self, index: usize, weight: u32) -> u64 {
        let factor = self.weight_factor(index);
        let scale = if factor >= 1.0 {
            1 << 16
        } else {
            ((factor * 65_536.0) as u64).max(1)
        };
        u64::from(weight) * scale
    }

    /// Peak-EWMA cost of backend `index`: `rtt × (in_flight + 1)`.
    #[inline]
    #[must_use]
    pub fn cost(&self, index: usize) -> f64 {
        self.rtt_ns(index) * (self.in_flight(index) as f64 + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    #[test]
    fn begin_end_balance_counts() {
        let t = LoadTable::new(2, EwmaConfig::default());
        t.begin(0);
        t.begin(0);
        t.begin(1);
        assert_eq!(t.get(0).in_flight(), 2);
        assert_eq!(t.total_in_flight(), 3);
        t.end(0, Outcome::Success, None, None);
        t.end(1, Outcome::Failure, None, None);
        t.end(0, Outcome::Cancelled, None, None);
        assert_eq!(t.total_in_flight(), 0);
        assert_eq!(t.get(0).successes(), 1);
        assert_eq!(t.get(0).cancelled(), 1);
        assert_eq!(t.get(1).failures(), 1);
    }

    #[test]
    fn ewma_takes_peaks_at_once_and_decays() {
        let cfg = EwmaConfig::default().with_decay(Duration::from_secs(1));
        let t = LoadTable::new(1, cfg);
        let t0 = Instant::now();
        assert_eq!(t.view(t0).rtt_ns(0), 30e6, "default before any sample");
        t.observe(0, Duration::from_millis(10), t0);
        assert!((t.view(t0).rtt_ns(0) - 10e6).abs() < 1.0);
        t.observe(0, Duration::from_millis(100), t0 + Duration::from_millis(1));
        let peak = t.view(t0 + Duration::from_millis(1)).rtt_ns(0);
        assert!((peak - 100e6).abs() < 10.0, "peak taken at once: {peak}");
        // One τ later the estimate has fallen to 1/e.
        let later = t.view(t0 + Duration::from_millis(1001)).rtt_ns(0);
        assert!((later / 100e6 - (-1.0_f64).exp()).abs() < 1e-3, "{later}");
        // A low sample after a long quiet period mostly replaces the estimate.
        t.observe(0, Duration::from_millis(5), t0 + Duration::from_secs(10));
        let low = t.view(t0 + Duration::from_secs(10)).rtt_ns(0);
        assert!((low - 5e6).abs() < 0.01e6, "{low}");
    }

    #[test]
    fn cost_grows_with_in_flight() {
        let t = LoadTable::new(1, EwmaConfig::default());
        let now = Instant::now();
        let idle = t.view(now).cost(0);
        t.begin(0);
        assert!((t.view(now).cost(0) - 2.0 * idle).abs() < 1.0);
    }
}
