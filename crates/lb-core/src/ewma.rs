//! The peak-EWMA latency estimate of one backend.
//!
//! Source: tower's `load::PeakEwma` (after Finagle): an exponentially
//! weighted moving average of response latency that jumps up at once to a
//! slower sample (the "peak") and otherwise moves towards new samples with a
//! weight that grows with the time since the last one, `1 - e^(-Δt/τ)`.
//! Reads decay the estimate to the present without writing it.
//!
//! The estimate (an `f64`) and its timestamp (nanoseconds since the table's
//! epoch, 64 bits: no wrap for 584 years) must be read together, so the cell
//! is a sequence lock over three atomics: readers never block and retry only
//! if a write overlapped them; writers, one sample per finished request,
//! exclude each other for the two stores of an update. No `unsafe`, no
//! mutex, no syscall.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::Duration;

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

/// The `rtt` bits of a cell that has no sample yet (a NaN no sample makes).
const UNSET: u64 = u64::MAX;

/// `e^(-Δt/τ)` for Δt = `now - stamp` nanoseconds; 1 when `now` is earlier.
fn decay(now_ns: u64, stamp_ns: u64, tau_ns: f64) -> f64 {
    (-(now_ns.saturating_sub(stamp_ns) as f64) / tau_ns).exp()
}

/// One backend's estimate: a sequence lock over (estimate, timestamp).
#[derive(Debug)]
pub(crate) struct EwmaCell {
    /// Even when stable; odd while a writer updates the two fields.
    seq: AtomicU64,
    /// `f64` bits of the estimate in nanoseconds, or [`UNSET`].
    rtt: AtomicU64,
    /// When the estimate was last updated, nanoseconds since the epoch.
    stamp: AtomicU64,
}

impl Default for EwmaCell {
    fn default() -> Self {
        Self {
            seq: AtomicU64::new(0),
            rtt: AtomicU64::new(UNSET),
            stamp: AtomicU64::new(0),
        }
    }
}

impl EwmaCell {
    /// A consistent (rtt bits, stamp) pair.
    fn read(&self) -> (u64, u64) {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let rtt = self.rtt.load(Ordering::Relaxed);
                let stamp = self.stamp.load(Ordering::Relaxed);
                // Pairs with the writer's release fence: if either load saw
                // a write, the second `seq` load sees that writer's odd mark.
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return (rtt, stamp);
                }
            }
            spin_loop();
        }
    }

    /// The estimate in nanoseconds decayed to `now_ns`, or `None` before the
    /// first sample.
    pub(crate) fn estimate(&self, now_ns: u64, tau_ns: f64) -> Option<f64> {
        let (rtt, stamp) = self.read();
        (rtt != UNSET).then(|| f64::from_bits(rtt) * decay(now_ns, stamp, tau_ns))
    }

    /// Records a sample of `rtt_ns` taken at `now_ns`. A sample from the past
    /// (an earlier `now_ns` than the last one) decays nothing and keeps the
    /// later timestamp, so late reports cannot age the estimate.
    pub(crate) fn observe(&self, rtt_ns: f64, now_ns: u64, tau_ns: f64) {
        let seq = self.lock();
        let (rtt, stamp) = (
            self.rtt.load(Ordering::Relaxed),
            self.stamp.load(Ordering::Relaxed),
        );
        let next = if rtt == UNSET {
            rtt_ns
        } else {
            let d = decay(now_ns, stamp, tau_ns);
            let decayed = f64::from_bits(rtt) * d;
            if rtt_ns > decayed {
                rtt_ns
            } else {
                decayed + rtt_ns * (1.0 - d)
            }
        };
        self.rtt.store(next.to_bits(), Ordering::Relaxed);
        self.stamp.store(stamp.max(now_ns), Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Marks the cell as being written (odd `seq`) and returns the even value
    /// it had.
    fn lock(&self) -> u64 {
        let mut seq = self.seq.load(Ordering::Relaxed);
        loop {
            if seq & 1 == 0 {
                match self.seq.compare_exchange_weak(
                    seq,
                    seq.wrapping_add(1),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(seen) => seq = seen,
                }
            } else {
                spin_loop();
                seq = self.seq.load(Ordering::Relaxed);
            }
        }
        // Orders the odd mark before the data stores, for readers.
        fence(Ordering::Release);
        seq
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::thread;

    use super::*;

    const TAU: f64 = 1e9; // 1 s

    #[test]
    fn unset_until_the_first_sample() {
        let c = EwmaCell::default();
        assert_eq!(c.estimate(5, TAU), None);
        c.observe(10e6, 0, TAU);
        assert_eq!(c.estimate(0, TAU), Some(10e6));
    }

    #[test]
    fn peaks_at_once_decays_and_blends() {
        let c = EwmaCell::default();
        c.observe(10e6, 0, TAU);
        c.observe(100e6, 1_000_000, TAU);
        assert_eq!(c.estimate(1_000_000, TAU), Some(100e6));
        let later = c.estimate(1_001_000_000, TAU).expect("set");
        assert!((later / 100e6 - (-1.0_f64).exp()).abs() < 1e-9, "{later}");
        // A low sample after 10 τ nearly replaces the estimate.
        c.observe(5e6, 10_001_000_000, TAU);
        let low = c.estimate(10_001_000_000, TAU).expect("set");
        assert!((low - 5e6).abs() < 0.01e6, "{low}");
    }

    #[test]
    fn long_idle_periods_decay_fully() {
        // A 32-bit microsecond stamp wrapped after ~36 minutes and brought an
        // old peak back; 64-bit nanoseconds do not.
        let c = EwmaCell::default();
        c.observe(1e9, 0, 10e9);
        for minutes in [30_u64, 36, 40, 60, 71, 72, 24 * 60, 365 * 24 * 60] {
            let now = minutes * 60 * 1_000_000_000;
            assert!(c.estimate(now, 10e9).expect("set") < 1.0, "{minutes} min");
        }
        // And a fresh sample after such a gap takes over.
        let now = 40 * 60 * 1_000_000_000;
        c.observe(5e6, now, 10e9);
        assert!((c.estimate(now, 10e9).expect("set") - 5e6).abs() < 1.0);
    }

    #[test]
    fn late_samples_do_not_age_the_estimate() {
        let c = EwmaCell::default();
        c.observe(100e6, 10_000_000_000, TAU);
        // Reported late, stamped 9 s earlier: no decay, stamp unchanged.
        c.observe(1e6, 1_000_000_000, TAU);
        assert_eq!(c.estimate(10_000_000_000, TAU), Some(100e6));
    }

    #[test]
    fn concurrent_writers_and_readers_see_consistent_pairs() {
        // Writers alternate between two self-consistent states: (1 ms at
        // even seconds) and (2 ms at odd seconds) with τ huge, so a torn
        // read would pair 1 ms with an odd second or the reverse. Readers
        // check the pair through the raw read.
        let c = Arc::new(EwmaCell::default());
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let c = Arc::clone(&c);
                thread::spawn(move || {
                    for i in 0..20_000_u64 {
                        let second = (i * 2 + w) % 2;
                        // Peaks replace the estimate; stamps only grow, so
                        // write the pair directly under the lock instead.
                        let seq = c.lock();
                        c.rtt
                            .store((1e6 * (second + 1) as f64).to_bits(), Ordering::Relaxed);
                        c.stamp.store(second, Ordering::Relaxed);
                        c.seq.store(seq.wrapping_add(2), Ordering::Release);
                    }
                })
            })
            .collect();
        let reader = {
            let c = Arc::clone(&c);
            thread::spawn(move || {
                for _ in 0..50_000 {
                    let (rtt, stamp) = c.read();
                    if rtt != UNSET {
                        assert_eq!(f64::from_bits(rtt), 1e6 * (stamp + 1) as f64);
                    }
                }
            })
        };
        for w in writers {
            w.join().expect("writer");
        }
        reader.join().expect("reader saw a torn pair");
        assert_eq!(c.seq.load(Ordering::Relaxed) % 2, 0);
    }
}
