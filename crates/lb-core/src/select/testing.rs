//! Helpers shared by the selectors' unit tests.

use std::net::SocketAddr;
use std::time::Instant;

use crate::backend::Backend;
use crate::ewma::EwmaConfig;
use crate::load::LoadTable;
use crate::request::Request;
use crate::select::{Algorithm, AllEligible, Eligible, Selector};

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

/// The [`Selector`] contract over `keys`, each placed keyed and keyless with
/// backend `i` eligible when bit `i` of `mask` is set: never an ineligible
/// index, and `None` only when no backend is eligible.
pub(crate) fn assert_contract(selector: &dyn Selector, loads: &LoadTable, mask: u32, keys: &[u64]) {
    let n = loads.len();
    let view = loads.view(Instant::now());
    let eligible = |i: usize| mask & (1 << i) != 0;
    let any = (0..n).any(eligible);
    for &key in keys {
        for req in [Request::new().with_key_hash(key), Request::new()] {
            match selector.select(&req, &eligible, &view) {
                Some(i) => assert!(i < n && eligible(i), "picked ineligible {i}"),
                None => assert!(!any, "None while some backend is eligible"),
            }
        }
    }
}

/// Two selectors that `algorithm` builds over one set given in opposite
/// orders place every key on the same backend id, and placement repeats.
pub(crate) fn assert_order_independent(algorithm: &impl Algorithm) {
    let set = backends(&[1, 2, 3, 1, 5, 1, 2]);
    let mut reversed = set.clone();
    reversed.reverse();
    let (a, b) = (algorithm.build(&set), algorithm.build(&reversed));
    let pa = placement(&a, set.len(), 20_000, &AllEligible);
    assert_eq!(pa, placement(&a, set.len(), 20_000, &AllEligible));
    let pb = placement(&b, set.len(), 20_000, &AllEligible);
    for (x, y) in pa.iter().zip(&pb) {
        let (x, y) = (x.expect("eligible"), y.expect("eligible"));
        assert_eq!(set[x].id(), reversed[y].id());
    }
}

/// Makes backend `out` ineligible: no key of another backend moves, its own
/// keys move the same way every time, and the set of backends that receive
/// them is returned.
pub(crate) fn assert_ineligible_moves_only_its_keys(
    selector: &dyn Selector,
    n: usize,
    out: usize,
) -> std::collections::HashSet<usize> {
    let all = placement(selector, n, 20_000, &AllEligible);
    let without_out = |i: usize| i != out;
    let without = placement(selector, n, 20_000, &without_out);
    assert_eq!(
        without,
        placement(selector, n, 20_000, &without_out),
        "deterministic"
    );
    let mut receivers = std::collections::HashSet::new();
    for (before, after) in all.iter().zip(&without) {
        if *before == Some(out) {
            receivers.insert(after.expect("others are eligible"));
        } else {
            assert_eq!(before, after, "a key of another backend moved");
        }
    }
    receivers
}
