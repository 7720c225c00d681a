//! `RetryBudget` against a model: with time moving forward it allows exactly the retries the
//! definition allows; with time jumping back and forth it never allows more.
#![cfg(feature = "proxy")]

use std::time::{Duration, Instant};

use lb_l7::proxy::RetryBudget;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Requests made now.
    Deposit(u8),
    /// One retry asked for now.
    Withdraw,
    /// Time moves by this many milliseconds (backwards when negative).
    Advance(i32),
}

fn ops(backwards: bool) -> impl Strategy<Value = Vec<Op>> {
    let low = if backwards { -4_000 } else { 0 };
    prop::collection::vec(
        prop_oneof![
            3 => (1_u8..20).prop_map(Op::Deposit),
            4 => Just(Op::Withdraw),
            2 => (low..4_000_i32).prop_map(Op::Advance),
        ],
        1..300,
    )
}

/// The definition, on whole seconds counted from the first call: what retries may be made in
/// the window `(second − window, second]`.
struct Model {
    ratio_ppm: u64,
    reserve: u64,
    window: u64,
    /// Seconds of the requests made.
    requests: Vec<u64>,
    /// Seconds the retries were counted at.
    retries: Vec<u64>,
}

impl Model {
    fn in_window(&self, times: &[u64], second: u64) -> u64 {
        times
            .iter()
            .filter(|&&t| t <= second && t + self.window > second)
            .count() as u64
    }

    fn allowed(&self, second: u64) -> u64 {
        self.in_window(&self.requests, second) * self.ratio_ppm / 1_000_000 + self.reserve
    }

    fn available(&self, second: u64) -> u64 {
        self.allowed(second)
            .saturating_sub(self.in_window(&self.retries, second))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Time moving forward: every answer is the model's.
    #[test]
    fn matches_the_model(
        ratio_ppm in 0_u64..=2_000_000,
        min_per_second in 0_u32..4,
        window in 1_u64..=12,
        ops in ops(false),
    ) {
        let budget =
            RetryBudget::new(ratio_ppm as f64 / 1e6, min_per_second, Duration::from_secs(window));
        let mut model = Model {
            ratio_ppm,
            reserve: u64::from(min_per_second) * window,
            window,
            requests: Vec::new(),
            retries: Vec::new(),
        };
        let start = Instant::now();
        // Second 0 starts at the first call.
        prop_assert_eq!(budget.available(start), model.available(0));
        let mut elapsed = Duration::ZERO;
        for op in ops {
            let now = start + elapsed;
            let second = elapsed.as_secs();
            match op {
                Op::Deposit(n) => {
                    for _ in 0..n {
                        budget.deposit(now);
                        model.requests.push(second);
                    }
                }
                Op::Withdraw => {
                    let expected = model.available(second) > 0;
                    prop_assert_eq!(budget.try_withdraw(now), expected, "at {:?}", elapsed);
                    if expected {
                        model.retries.push(second);
                        prop_assert!(
                            model.in_window(&model.retries, second) <= model.allowed(second)
                        );
                    }
                }
                Op::Advance(ms) => elapsed += Duration::from_millis(u64::from(ms.unsigned_abs())),
            }
            prop_assert_eq!(budget.available(start + elapsed), model.available(elapsed.as_secs()));
        }
    }

    /// Time jumping back and forth (callers with clocks read at different moments): a retry is
    /// counted at the latest second a retry was counted at if its own is earlier, and in the
    /// window ending at that second there are never more retries than the requests made in it
    /// allow.
    #[test]
    fn never_withdraws_more_than_allowed(
        ratio_ppm in 0_u64..=2_000_000,
        min_per_second in 0_u32..4,
        window in 1_u64..=12,
        ops in ops(true),
    ) {
        let budget =
            RetryBudget::new(ratio_ppm as f64 / 1e6, min_per_second, Duration::from_secs(window));
        let mut model = Model {
            ratio_ppm,
            reserve: u64::from(min_per_second) * window,
            window,
            requests: Vec::new(),
            retries: Vec::new(),
        };
        // Far enough after `base` that time can go back before the first call.
        let base = Instant::now();
        let mut offset: i64 = 1_000_000;
        let first = offset;
        let _ = budget.available(base + Duration::from_millis(first.unsigned_abs()));
        let mut latest_retry = 0;
        for op in ops {
            let now = base + Duration::from_millis(offset.unsigned_abs());
            // Seconds from the first call; earlier times count as second 0.
            let second = (offset - first).max(0).unsigned_abs() / 1000;
            match op {
                Op::Deposit(n) => {
                    for _ in 0..n {
                        budget.deposit(now);
                        model.requests.push(second);
                    }
                }
                Op::Withdraw => {
                    if budget.try_withdraw(now) {
                        latest_retry = latest_retry.max(second);
                        model.retries.push(latest_retry);
                        prop_assert!(
                            model.in_window(&model.retries, latest_retry)
                                <= model.allowed(latest_retry),
                            "{} retries in the window ending at {}, {} allowed",
                            model.in_window(&model.retries, latest_retry),
                            latest_retry,
                            model.allowed(latest_retry)
                        );
                    }
                }
                Op::Advance(ms) => offset = (offset + i64::from(ms)).max(0),
            }
        }
    }
}
