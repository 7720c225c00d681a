//! [`RetryBudget`]: retries may add at most a fraction of the traffic (Envoy's retry budget,
//! linkerd's `retryRatio`), so a failing backend is not buried under retries of its own failures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The longest window, in seconds (linkerd's retry budget TTL is at most 60 s too).
const MAX_WINDOW_SECS: u64 = 60;
/// Parts per million: the ratio is kept in fixed point so that `0.29 × 100` is 29, not 28.
const PPM: u128 = 1_000_000;
/// Seconds are stored in the high half of a request word; beyond `u32::MAX` seconds (136 years
/// after the first call) time stops advancing.
const MAX_SECOND: u64 = u32::MAX as u64;

/// A retry budget: over a sliding window, retries may add at most `ratio` × the requests made,
/// plus `min_per_second` × the window's length in seconds (so that retries still happen when
/// traffic is too light for the ratio to allow any).
///
/// The proxy [`deposit`](Self::deposit)s once for every first attempt and asks
/// [`try_withdraw`](Self::try_withdraw) before every retry: a refused retry fails the request
/// with the error it already has. Defaults (linkerd's): ratio 0.2, 10 retries per second, 10 s.
///
/// # Time and window
///
/// Time is passed in (`now`); it is counted in whole seconds from the first `now` the budget
/// sees. The window is `ceil(window)` seconds, between 1 and 60: the current second and the
/// `n − 1` before it, so a request counts for between `n − 1` and `n` seconds. A `now` earlier
/// than one already seen is treated as the latest second seen by a withdrawal, so time never runs
/// backwards for retries.
///
/// # Concurrency
///
/// All methods take `&self`; share it in an `Arc`. Deposits, the hot path (every request), are
/// lock-free: one compare-and-swap on the current second's word, which holds the second and its
/// count together so that rolling a bucket over to a new second never loses or misplaces a
/// count. Withdrawals, which happen only when a request has failed, are serialised by a mutex
/// (held for a sum over at most 60 buckets, no syscall): so no interleaving of callers, on any
/// number of threads, can withdraw more than the window allows. Requests deposited while a
/// withdrawal is deciding may or may not be counted by it; missing one only makes it stricter.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use lb_l7::proxy::RetryBudget;
///
/// let budget = RetryBudget::new(0.2, 0, Duration::from_secs(10));
/// let now = Instant::now();
/// for _ in 0..10 {
///     budget.deposit(now);
/// }
/// assert_eq!(budget.available(now), 2);
/// assert!(budget.try_withdraw(now));
/// assert!(budget.try_withdraw(now));
/// assert!(!budget.try_withdraw(now)); // 2 retries for 10 requests: the budget is spent
///
/// // Ten seconds later those requests and retries have left the window.
/// assert_eq!(budget.available(now + Duration::from_secs(10)), 0);
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    /// The ratio in parts per million (0..=10_000_000).
    ratio_ppm: u64,
    /// Retries always allowed per window: `min_per_second × window`.
    reserve: u64,
    /// The window in seconds (1..=60), also the number of buckets.
    window: u64,
    /// Second 0: the first `now` seen.
    origin: OnceLock<Instant>,
    /// Requests per second, one word per bucket: `second << 32 | count`.
    requests: Box<[AtomicU64]>,
    /// Retries per second, changed only under this lock.
    retries: Mutex<Retries>,
}

#[derive(Debug)]
struct Retries {
    /// The latest second a withdrawal was made at: withdrawals never go back before it.
    latest: u64,
    /// `(second, count)` per bucket.
    buckets: Box<[(u64, u64)]>,
}

impl Default for RetryBudget {
    /// linkerd's defaults: ratio 0.2, 10 retries per second, a 10 s window.
    fn default() -> Self {
        Self::new(0.2, 10, Duration::from_secs(10))
    }
}

impl RetryBudget {
    /// A budget allowing `ratio` retries per request (clamped to `0..=10`; NaN counts as 0, kept
    /// to six decimals) plus `min_per_second` per second, over a sliding `window` (rounded up
    /// to whole seconds, clamped to 1..=60 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use lb_l7::proxy::RetryBudget;
    ///
    /// // No traffic yet: only the reserve, 2 per second over 5 s.
    /// let budget = RetryBudget::new(0.1, 2, Duration::from_secs(5));
    /// assert_eq!(budget.available(Instant::now()), 10);
    /// ```
    #[must_use]
    pub fn new(ratio: f64, min_per_second: u32, window: Duration) -> Self {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 10.0)
        };
        // In range by the clamp: at most 1e7.
        let ratio_ppm = (ratio * PPM as f64).round() as u64;
        let secs = window.as_secs() + u64::from(window.subsec_nanos() > 0);
        let window = secs.clamp(1, MAX_WINDOW_SECS);
        let buckets = usize::try_from(window).unwrap_or(1);
        Self {
            ratio_ppm,
            reserve: u64::from(min_per_second) * window,
            window,
            origin: OnceLock::new(),
            requests: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            retries: Mutex::new(Retries {
                latest: 0,
                buckets: vec![(0, 0); buckets].into_boxed_slice(),
            }),
        }
    }

    /// The window in whole seconds (1..=60).
    #[must_use]
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window)
    }

    /// Records one request (a first attempt, not a retry) made at `now`.
    pub fn deposit(&self, now: Instant) {
        let second = self.second(now);
        let word = &self.requests[self.index(second)];
        let mut current = word.load(Ordering::Relaxed);
        loop {
            let (held, count) = unpack(current);
            let next = if held == second {
                pack(second, count.saturating_add(1).min(u64::from(u32::MAX)))
            } else if held < second {
                pack(second, 1)
            } else {
                // The bucket already holds a second a whole window after this one: the request
                // is too old to count (dropping it only makes the budget stricter).
                return;
            };
            match word.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Whether a retry may be made at `now`; if so it is counted against the budget.
    ///
    /// It may when the retries made in the window are fewer than
    /// `floor(ratio × requests in the window) + min_per_second × window`.
    #[must_use = "a refused retry must not be made"]
    pub fn try_withdraw(&self, now: Instant) -> bool {
        let second = self.second(now);
        let mut retries = self.retries.lock().unwrap_or_else(PoisonError::into_inner);
        let second = second.max(retries.latest);
        if self.allowed(second) <= retries.in_window(second, self.window) {
            return false;
        }
        retries.latest = second;
        let index = self.index(second);
        let bucket = &mut retries.buckets[index];
        if bucket.0 != second {
            *bucket = (second, 0);
        }
        bucket.1 += 1;
        true
    }

    /// How many retries [`try_withdraw`](Self::try_withdraw) would allow at `now` (for tests and
    /// metrics; by the time it is used, other callers may have changed it).
    #[must_use]
    pub fn available(&self, now: Instant) -> u64 {
        let second = self.second(now);
        let retries = self.retries.lock().unwrap_or_else(PoisonError::into_inner);
        let second = second.max(retries.latest);
        let used = retries.in_window(second, self.window);
        drop(retries);
        self.allowed(second).saturating_sub(used)
    }

    /// `floor(ratio × requests in the window ending at second) + reserve`.
    fn allowed(&self, second: u64) -> u64 {
        let requests: u64 = self
            .requests
            .iter()
            .map(|word| {
                let (held, count) = unpack(word.load(Ordering::Relaxed));
                if in_window(held, second, self.window) {
                    count
                } else {
                    0
                }
            })
            .sum();
        let by_ratio = u128::from(requests) * u128::from(self.ratio_ppm) / PPM;
        u64::try_from(by_ratio)
            .unwrap_or(u64::MAX)
            .saturating_add(self.reserve)
    }

    fn second(&self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_init(|| now);
        now.saturating_duration_since(origin)
            .as_secs()
            .min(MAX_SECOND)
    }

    fn index(&self, second: u64) -> usize {
        // Below the bucket count, itself a usize.
        (second % self.window) as usize
    }
}

impl Retries {
    fn in_window(&self, second: u64, window: u64) -> u64 {
        self.buckets
            .iter()
            .filter(|(held, _)| in_window(*held, second, window))
            .map(|(_, count)| count)
            .sum()
    }
}

/// Whether a bucket holding `held` counts in the window of `window` seconds ending at `second`.
fn in_window(held: u64, second: u64, window: u64) -> bool {
    held <= second && held + window > second
}

fn pack(second: u64, count: u64) -> u64 {
    (second << 32) | count
}

fn unpack(word: u64) -> (u64, u64) {
    (word >> 32, word & u64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn withdraw_all(budget: &RetryBudget, now: Instant) -> u64 {
        let mut n = 0;
        while budget.try_withdraw(now) {
            n += 1;
            assert!(n <= 1_000_000, "the budget never runs out");
        }
        n
    }

    #[test]
    fn ratio_of_the_requests_then_refused() {
        let now = Instant::now();
        let budget = RetryBudget::new(0.2, 0, secs(10));
        assert!(!budget.try_withdraw(now), "no traffic, no reserve");
        for _ in 0..100 {
            budget.deposit(now);
        }
        assert_eq!(budget.available(now), 20);
        assert_eq!(withdraw_all(&budget, now), 20);
        assert_eq!(budget.available(now), 0);
        // Each new request earns a fifth of a retry.
        for _ in 0..4 {
            budget.deposit(now);
        }
        assert!(!budget.try_withdraw(now));
        budget.deposit(now);
        assert!(budget.try_withdraw(now));
        assert!(!budget.try_withdraw(now));
    }

    #[test]
    fn the_reserve_adds_to_the_ratio() {
        let now = Instant::now();
        let budget = RetryBudget::new(0.2, 1, secs(10));
        for _ in 0..100 {
            budget.deposit(now);
        }
        assert_eq!(withdraw_all(&budget, now), 30);
    }

    #[test]
    fn the_reserve_allows_retries_without_traffic() {
        let now = Instant::now();
        let budget = RetryBudget::new(0.2, 2, secs(10));
        assert_eq!(withdraw_all(&budget, now), 20);
        // Spent for the window; the retries leave it with time.
        assert_eq!(budget.available(now + secs(9)), 0);
        assert_eq!(budget.available(now + secs(10)), 20);
    }

    #[test]
    fn the_window_slides() {
        let t0 = Instant::now();
        let budget = RetryBudget::new(0.5, 0, secs(10));
        for _ in 0..10 {
            budget.deposit(t0);
        }
        for _ in 0..10 {
            budget.deposit(t0 + secs(5));
        }
        assert_eq!(budget.available(t0 + secs(5)), 10);
        assert_eq!(budget.available(t0 + Duration::from_millis(9_999)), 10);
        // At 10 s the requests of second 0 have left the window; at 15 s all have.
        assert_eq!(budget.available(t0 + secs(10)), 5);
        assert_eq!(budget.available(t0 + secs(15)), 0);
        // Retries leave the window as requests do.
        assert_eq!(withdraw_all(&budget, t0 + secs(6)), 10);
        assert_eq!(budget.available(t0 + secs(12)), 0); // 5 allowed, 10 used
        for _ in 0..4 {
            budget.deposit(t0 + secs(15));
        }
        assert_eq!(
            budget.available(t0 + secs(15)),
            0,
            "the retries of second 6 count"
        );
        assert_eq!(budget.available(t0 + secs(16)), 2, "and then they do not");
        assert_eq!(budget.available(t0 + secs(25)), 0);
    }

    #[test]
    fn a_long_pause_empties_the_window() {
        let t0 = Instant::now();
        let budget = RetryBudget::new(1.0, 0, secs(3));
        for _ in 0..7 {
            budget.deposit(t0);
        }
        let later = t0 + secs(3 * 1000 + 1);
        assert_eq!(budget.available(later), 0);
        budget.deposit(later);
        assert_eq!(budget.available(later), 1);
    }

    #[test]
    fn ratio_and_window_are_clamped() {
        let now = Instant::now();
        let big = RetryBudget::new(50.0, 0, secs(3600));
        assert_eq!(big.window(), secs(60));
        big.deposit(now);
        assert_eq!(big.available(now), 10);
        for bad in [-1.0, f64::NAN] {
            let none = RetryBudget::new(bad, 0, Duration::ZERO);
            assert_eq!(none.window(), secs(1));
            none.deposit(now);
            assert_eq!(none.available(now), 0);
        }
        let sub = RetryBudget::new(1.0, 0, Duration::from_millis(1_500));
        assert_eq!(sub.window(), secs(2));
        // Fixed point: 0.29 × 100 is 29 (0.29_f64 * 100.0 is 28.999999999999996).
        let odd = RetryBudget::new(0.29, 0, secs(10));
        for _ in 0..100 {
            odd.deposit(now);
        }
        assert_eq!(odd.available(now), 29);
    }

    #[test]
    fn time_does_not_run_backwards_for_retries() {
        let t0 = Instant::now();
        let budget = RetryBudget::new(1.0, 0, secs(5));
        budget.deposit(t0 + secs(1));
        budget.deposit(t0 + secs(20));
        assert!(budget.try_withdraw(t0 + secs(20)));
        // An earlier `now` is treated as second 20, whose request is spent.
        assert!(!budget.try_withdraw(t0 + secs(1)));
        assert_eq!(budget.available(t0 + secs(1)), 0);
    }

    #[test]
    fn concurrent_withdrawals_never_exceed_the_budget() {
        let now = Instant::now();
        let budget = RetryBudget::new(0.1, 0, secs(10));
        for _ in 0..4_000 {
            budget.deposit(now);
        }
        let granted: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| withdraw_all(&budget, now)))
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).sum()
        });
        assert_eq!(granted, 400);
    }

    #[test]
    fn concurrent_deposits_and_withdrawals_stay_within_the_budget() {
        let t0 = Instant::now();
        let budget = RetryBudget::new(0.25, 1, secs(2));
        let granted: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let mut granted = 0;
                        for i in 0..2_000_u64 {
                            // Every thread walks the same clock, 1 ms a step: 2 s in all.
                            let now = t0 + Duration::from_millis(i);
                            budget.deposit(now);
                            granted += u64::from(budget.try_withdraw(now));
                            granted += u64::from(budget.try_withdraw(now));
                        }
                        granted
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).sum()
        });
        // Everything happened in seconds 0 and 1, one window: at most 8000 / 4 + 2 retries.
        assert!(granted <= 2_002, "{granted}");
        assert!(granted >= 1_000, "the budget was used: {granted}");
        assert_eq!(
            budget.available(t0 + Duration::from_millis(1_999)),
            2_002 - granted
        );
    }

    #[test]
    fn shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RetryBudget>();
    }
}
