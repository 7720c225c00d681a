//! Per-backend load: requests in flight and a peak-EWMA latency estimate.
//!
//! A [`LoadTable`] holds one [`BackendLoad`] per backend, shared through `Arc`
//! so that a [`Balancer`](crate::Balancer) update keeps the counters of the
//! backends that stay. Every field is an atomic: leases update them and
//! selectors read them without a lock. Selectors see the table through
//! [`Loads`], a borrowed view that also carries the current time.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How the latency estimate behaves.
///
/// The defaults are linkerd's (which uses tower's peak EWMA): a decay time
/// constant of 10 s and a 30 ms estimate for backends never measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EwmaConfig {
    decay: Duration,
    default_rtt: Duration,
}

impl Default for EwmaConfig {
    fn default() -> Self {
        Self {
            decay: Duration::from_secs(10),
            default_rtt: Duration::from_millis(30),
        }
    }
}

impl EwmaConfig {
    /// Sets the decay time constant τ: a sample's weight falls by `1/e` every
    /// τ. Values below 1 ms are raised to 1 ms.
    #[must_use]
    pub fn with_decay(mut self, decay: Duration) -> Self {
        self.decay = decay.max(Duration::from_millis(1));
        self
    }

    /// Sets the estimate used for a backend that has no sample yet.
    #[must_use]
    pub fn with_default_rtt(mut self, rtt: Duration) -> Self {
        self.default_rtt = rtt;
        self
    }

    /// The decay time constant.
    #[must_use]
    pub fn decay(&self) -> Duration {
        self.decay
    }

    /// The estimate for a backend with no sample.
    #[must_use]
    pub fn default_rtt(&self) -> Duration {
        self.default_rtt
    }
}

/// The packed EWMA state when no sample was ever recorded.
const UNSET: u64 = u64::MAX;

/// Load counters of one backend. All updates are atomic and lock-free.
///
/// The latency estimate packs an `f32` of nanoseconds and a 32-bit microsecond
/// timestamp into one `AtomicU64`, so a reader never sees an estimate paired
/// with the wrong time. Timestamps are relative to the table's first observed
/// instant and compared as signed differences: gaps beyond ~35 minutes between
/// two samples of one backend wrap, by which time any τ of seconds has decayed
/// the old estimate to nothing anyway.
#[derive(Debug)]
pub struct BackendLoad {
    in_flight: AtomicUsize,
    ewma: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    cancelled: AtomicU64,
}

impl Default for BackendLoad {
    fn default() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            ewma: AtomicU64::new(UNSET),
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
    decay_us: f64,
    default_rtt_ns: f64,
}

impl Shared {
    fn micros(&self, now: Instant) -> u32 {
        let epoch = *self.epoch.get_or_init(|| now);
        // Truncation is the documented wrap of the 32-bit timestamp.
        now.saturating_duration_since(epoch).as_micros() as u32
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
            decay_us: config.decay.as_secs_f64() * 1e6,
            default_rtt_ns: config.default_rtt.as_secs_f64() * 1e9,
        });
        Self {
            loads: (0..n).map(|_| Arc::default()).collect(),
            shared,
        }
    }

    /// A table for a new backend set that shares this table's total and
    /// settings, reusing `loads[i]` where `reuse(i)` names an old index.
    pub(crate) fn remap(&self, n: usize, reuse: impl Fn(usize) -> Option<usize>) -> Self {
        Self {
            loads: (0..n)
                .map(|i| reuse(i).map_or_else(Arc::default, |old| Arc::clone(&self.loads[old])))
                .collect(),
            shared: Arc::clone(&self.shared),
        }
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

    /// Ends a request begun with [`LoadTable::begin`]. `latency` feeds the
    /// EWMA when present (it is observed at `now`).
    pub fn end(&self, index: usize, outcome: crate::Outcome, latency: Option<(Duration, Instant)>) {
        let load = &self.loads[index];
        load.in_flight.fetch_sub(1, Ordering::Relaxed);
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
        let rtt_ns = rtt.as_secs_f64() * 1e9;
        let now_us = self.shared.micros(now);
        let cell = &self.loads[index].ewma;
        let mut current = cell.load(Ordering::Relaxed);
        loop {
            let next_ns = match unpack(current) {
                None => rtt_ns,
                Some((est, stamp)) => {
                    let decay = decay_factor(now_us, stamp, self.shared.decay_us);
                    let decayed = est * decay;
                    if rtt_ns > decayed {
                        rtt_ns
                    } else {
                        decayed + rtt_ns * (1.0 - decay)
                    }
                }
            };
            let next = pack(next_ns, now_us);
            match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }
}

fn pack(rtt_ns: f64, stamp_us: u32) -> u64 {
    // f32 keeps 24 bits of mantissa: ample for a latency estimate.
    let bits = (rtt_ns as f32).to_bits();
    let packed = (u64::from(bits) << 32) | u64::from(stamp_us);
    if packed == UNSET { UNSET - 1 } else { packed }
}

fn unpack(packed: u64) -> Option<(f64, u32)> {
    (packed != UNSET).then(|| {
        (
            f64::from(f32::from_bits((packed >> 32) as u32)),
            packed as u32,
        )
    })
}

/// `e^(-Δt/τ)` with Δt the signed microsecond difference (negative = 0).
fn decay_factor(now_us: u32, stamp_us: u32, decay_us: f64) -> f64 {
    let elapsed = now_us.wrapping_sub(stamp_us) as i32;
    if elapsed <= 0 {
        1.0
    } else {
        (-f64::from(elapsed) / decay_us).exp()
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
        match unpack(self.table.loads[index].ewma.load(Ordering::Relaxed)) {
            None => shared.default_rtt_ns,
            Some((est, stamp)) => {
                est * decay_factor(shared.micros(self.now), stamp, shared.decay_us)
            }
        }
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

    #[test]
    fn timestamps_out_of_order_do_not_decay() {
        assert_eq!(decay_factor(5, 10, 1e6), 1.0);
        assert_eq!(decay_factor(10, 10, 1e6), 1.0);
        assert!(decay_factor(u32::MAX.wrapping_add(5), u32::MAX - 5, 1e6) < 1.0);
    }
}
