//! Helpers shared by the selectors' unit tests.

use std::net::SocketAddr;
use std::time::Instant;

use crate::backend::Backend;
use crate::load::{EwmaConfig, LoadTable};
use crate::request::Request;
use crate::select::{AllEligible, Eligible, Selector};

/// Backends named `b0`, `b1`, ... with the given weights.
pub(crate) fn backends(weights: &[u32]) -> Vec<Backend> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let addr: SocketAddr = format!("10.0.{}.{}:80", i / 250, i % 250 + 1)
                .parse()
                .expect("valid test address");
            Backend::named(&format!("b{i}"), addr)
                .with_weight(w)
                .expect("non-zero test weight")
        })
        .collect()
}

/// `n` backends of weight 1.
pub(crate) fn uniform(n: usize) -> Vec<Backend> {
    backends(&vec![1; n])
}

/// An idle load table for `n` backends.
pub(crate) fn idle(n: usize) -> LoadTable {
    LoadTable::new(n, EwmaConfig::default())
}

/// How many of `picks` keyless picks each backend received (all eligible).
pub(crate) fn shares(selector: &dyn Selector, n: usize, picks: usize) -> Vec<usize> {
    let loads = idle(n);
    let view = loads.view(Instant::now());
    let mut counts = vec![0; n];
    for _ in 0..picks {
        let i = selector
            .select(&Request::new(), &AllEligible, &view)
            .expect("all eligible");
        counts[i] += 1;
    }
    counts
}

/// The backend each of `keys` hashes to (keys `0..keys` as 8-byte strings).
pub(crate) fn placement(
    selector: &dyn Selector,
    n: usize,
    keys: u64,
    eligible: &dyn Eligible,
) -> Vec<Option<usize>> {
    let loads = idle(n);
    let view = loads.view(Instant::now());
    (0..keys)
        .map(|k| selector.select(&Request::new().with_key(&k.to_le_bytes()), eligible, &view))
        .collect()
}
