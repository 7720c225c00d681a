//! A lock-free, seedable random source shared by the randomised selectors.
//!
//! Selectors are shared by every thread that picks, so their randomness must
//! be `Sync` without a lock. [`Rng`] is SplitMix64 over one atomic counter:
//! each draw is a single `fetch_add` plus a bijective mix, so draws never
//! repeat within a period of 2^64 and, seeded, a single-threaded sequence is
//! fully reproducible (the property the simulations and proptests rely on).
//! It is not cryptographic and need not be: it only spreads load.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::hash::{mix64, reduce};

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64 over an atomic state. See the module docs.
#[derive(Debug)]
pub struct Rng {
    state: AtomicU64,
}

impl Rng {
    /// A generator with a fixed seed: the same seed gives the same sequence.
    #[must_use]
    pub const fn seeded(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }

    /// A generator seeded from the operating system's entropy.
    #[must_use]
    pub fn from_entropy() -> Self {
        Self::seeded(rand::random())
    }

    /// A generator seeded from any `rand` generator (inject a test RNG here).
    #[must_use]
    pub fn from_rng<R: rand::Rng + ?Sized>(rng: &mut R) -> Self {
        Self::seeded(rng.next_u64())
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&self) -> u64 {
        mix64(
            self.state
                .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
                .wrapping_add(GOLDEN_GAMMA),
        )
    }

    /// A uniform value in `0..n`; `n` must be non-zero.
    #[inline]
    pub fn below(&self, n: u64) -> u64 {
        reduce(self.next_u64(), n)
    }

    /// A private generator for one pick, seeded by one draw from this one:
    /// a pick that needs several random values pays for one atomic operation.
    #[inline]
    pub fn local(&self) -> LocalRng {
        LocalRng(self.next_u64())
    }
}

/// SplitMix64 without atomics, for the draws of a single pick (see
/// [`Rng::local`]).
#[derive(Debug, Clone)]
pub struct LocalRng(u64);

impl LocalRng {
    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        mix64(self.0)
    }

    /// A uniform value in `0..n`; `n` must be non-zero.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        reduce(self.next_u64(), n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sequences_repeat() {
        let a = Rng::seeded(7);
        let b = Rng::seeded(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::seeded(8).next_u64(), Rng::seeded(7).next_u64());
    }

    #[test]
    fn local_streams_differ_per_pick() {
        let r = Rng::seeded(3);
        let (mut a, mut b) = (r.local(), r.local());
        assert_ne!(a.next_u64(), b.next_u64());
        let mut again = Rng::seeded(3).local();
        assert_eq!(again.next_u64(), Rng::seeded(3).local().next_u64());
    }

    #[test]
    fn below_is_roughly_uniform() {
        let r = Rng::seeded(1);
        let mut counts = [0_u32; 4];
        for _ in 0..40_000 {
            counts[r.below(4) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }
}
