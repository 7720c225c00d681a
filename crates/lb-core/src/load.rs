//! Per-backend load: requests in flight and a peak-EWMA latency estimate.
//!
//! A [`LoadTable`] holds one [`BackendLoad`] per backend, shared through `Arc`
//! so that a [`Balancer`](crate::Balancer) update keeps the counters of the
//! backends that stay. Every field is an atomic: leases update them and
//! selectors read them without a lock. Selectors see the table through
//! [`Loads`], a borrowed view that also carries the current time.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::ewma::{EwmaCell, EwmaConfig};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

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

/// State shared by every snapshot of one balancer's load table.
#[derive(Debug)]
struct Shared {
    total: AtomicUsize,
    epoch: OnceLock<Instant>,
    config: EwmaConfig,
    tau_ns: f64,
    default_rtt_ns: f64,
}

impl Shared {
    /// Nanoseconds from the epoch (the first instant this table saw; earlier
    /// instants count as the epoch) to `now`.
    fn nanos(&self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_init(|| now);
        u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One [`BackendLoad`] per backend, indexed like the backend slice, plus the
/// total in flight and the EWMA settings.
///
/// Build one directly to drive a [`Selector`](crate::Selector) without a
/// [`Balancer`](crate::Balancer) (benches, simulations).
#[derive(Debug, Clone)]
pub struct LoadTable {
    loads: Vec<Arc<BackendLoad>>,
    shared: Arc<Shared>,
}

impl LoadTable {
    /// A table of `n` idle backends.
    #[must_use]
    pub fn new(n: usize, config: EwmaConfig) -> Self {
        let shared = Arc::new(Shared {
            total: AtomicUsize::new(0),
            epoch: OnceLock::new(),
            config,
            tau_ns: config.decay().as_secs_f64() * 1e9,
            default_rtt_ns: config.default_rtt().as_secs_f64() * 1e9,
        });
        Self {
            loads: (0..n).map(|_| Arc::default()).collect(),
            shared,
        }
    }

    /// A table for a new backend set of `n` that shares this table's total
    /// and settings; backend `i` keeps the counters `reuse(i)` returns, or
    /// starts idle.
    pub(crate) fn remap(
        &self,
        n: usize,
        mut reuse: impl FnMut(usize) -> Option<Arc<BackendLoad>>,
    ) -> Self {
        Self {
            loads: (0..n).map(|i| reuse(i).unwrap_or_default()).collect(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// The shared counters of backend `index`, to carry over to a new table.
    pub(crate) fn shared_load(&self, index: usize) -> &Arc<BackendLoad> {
        &self.loads[index]
    }

    /// Number of backends.
    #[must_use]
    pub fn len(&self) -> usize {
        self.loads.len()
    }

    /// Whether the table has no backend.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.loads.is_empty()
    }

    /// The counters of backend `index`.
    ///
    /// # Panics
    ///
    /// If `index >= self.len()`.
    #[must_use]
    pub fn get(&self, index: usize) -> &BackendLoad {
        &self.loads[index]
    }

    /// The EWMA settings.
    #[must_use]
    pub fn config(&self) -> EwmaConfig {
        self.shared.config
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
        Loads { table: self, now }
    }

    /// Counts one more request in flight on `index`.
    pub fn begin(&self, index: usize) {
        self.loads[index].in_flight.fetch_add(1, Ordering::Relaxed);
        self.shared.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Ends a request begun with [`LoadTable::begin`]: every `end` must
    /// match one `begin` on the same index (leases guarantee it; a debug
    /// build panics on an unmatched `end`). `latency` feeds the EWMA when
    /// present (it is observed at `now`).
    pub fn end(&self, index: usize, outcome: crate::Outcome, latency: Option<(Duration, Instant)>) {
        let load = &self.loads[index];
        let before = load.in_flight.fetch_sub(1, Ordering::Relaxed);
        debug_assert!(before > 0, "LoadTable::end without a matching begin");
        self.shared.total.fetch_sub(1, Ordering::Relaxed);
        let counter = match outcome {
            crate::Outcome::Success => &load.successes,
            crate::Outcome::Failure => &load.failures,
            crate::Outcome::Cancelled => &load.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some((rtt, now)) = latency {
            self.observe(index, rtt, now);
        }
    }

    /// Records a latency sample for `index` observed at `now`: a sample above
    /// the (decayed) estimate replaces it at once (the "peak"); a lower one is
    /// blended in with weight `1 - e^(-Δt/τ)`.
    pub fn observe(&self, index: usize, rtt: Duration, now: Instant) {
        let shared = &self.shared;
        self.loads[index]
            .ewma
            .observe(rtt.as_secs_f64() * 1e9, shared.nanos(now), shared.tau_ns);
    }
}

/// A selector's read-only view of the load table at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Loads<'a> {
    table: &'a LoadTable,
    now: Instant,
}

impl Loads<'_> {
    /// Number of backends.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.loads.len()
    }

    /// Whether there is no backend.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.table.loads.is_empty()
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
        self.table.loads[index].in_flight.load(Ordering::Relaxed)
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
        self.table.loads[index]
            .ewma
            .estimate(shared.nanos(self.now), shared.tau_ns)
            .unwrap_or(shared.default_rtt_ns)
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
        t.end(0, Outcome::Success, None);
        t.end(1, Outcome::Failure, None);
        t.end(0, Outcome::Cancelled, None);
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
