//! Byte hashing for the router's indexes.
//!
//! The indexes are keyed by 64-bit hashes of host names and path patterns, computed one byte at
//! a time (FNV-1a steps, finished with the SplitMix64 mix) so that a single pass over a request's
//! host or path yields the hash of every candidate suffix or prefix along the way, without
//! copying or lowercasing into a buffer. Every probe is verified against the stored bytes, so a
//! collision costs a comparison, never a wrong answer. The maps hold configuration, not request
//! data, so an attacker choosing hosts or paths cannot crowd a bucket: no keyed hash is needed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The FNV-1a 64-bit offset basis: the state before the first byte.
pub(super) const SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// Feeds one byte into a hash state (an FNV-1a step).
#[inline]
pub(super) const fn step(state: u64, byte: u8) -> u64 {
    (state ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3)
}

/// Turns a state into the key stored in an index (FNV's low bits mix poorly on their own).
#[inline]
pub(super) const fn finish(state: u64) -> u64 {
    lb_core::hash::mix64(state)
}

/// The key of `bytes` hashed first byte to last, as the path index does.
pub(super) fn forward(bytes: &[u8]) -> u64 {
    finish(bytes.iter().fold(SEED, |state, &b| step(state, b)))
}

/// The key of `bytes` hashed last byte to first, ASCII-lowercased, as the host index does.
pub(super) fn backward_lowercase(bytes: &[u8]) -> u64 {
    finish(
        bytes
            .iter()
            .rev()
            .fold(SEED, |state, &b| step(state, b.to_ascii_lowercase())),
    )
}

/// A `Hasher` for keys that are already hashes: `write_u64` stores its argument.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = bytes.iter().fold(self.0 ^ SEED, |state, &b| step(state, b));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map from a finished hash to the first of the entries carrying it; entries with the same
/// hash are chained through their own `next` field.
pub(super) type HashIndex = HashMap<u64, u32, BuildHasherDefault<KeyHasher>>;

/// The lengths of the keys in an index, so that a pass probes only at lengths some key has.
#[derive(Debug, Default)]
pub(super) struct Lengths {
    bits: Vec<u64>,
    max: usize,
}

impl Lengths {
    pub(super) fn insert(&mut self, len: usize) {
        let word = len / 64;
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << (len % 64);
        self.max = self.max.max(len);
    }

    #[inline]
    pub(super) fn contains(&self, len: usize) -> bool {
        self.bits
            .get(len / 64)
            .is_some_and(|word| (word >> (len % 64)) & 1 == 1)
    }

    /// The longest key (0 when there is none).
    #[inline]
    pub(super) fn max(&self) -> usize {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_states_give_the_whole_key() {
        let mut state = SEED;
        for &b in b"/api/users" {
            state = step(state, b);
        }
        assert_eq!(finish(state), forward(b"/api/users"));
        assert_ne!(forward(b"/api"), forward(b"/apx"));
    }

    #[test]
    fn lengths() {
        let mut lengths = Lengths::default();
        assert!(!lengths.contains(0));
        for len in [1, 13, 64, 200] {
            lengths.insert(len);
        }
        assert!([1, 13, 64, 200].iter().all(|&l| lengths.contains(l)));
        assert!(
            [0, 2, 63, 65, 199, 201, 10_000]
                .iter()
                .all(|&l| !lengths.contains(l))
        );
        assert_eq!(lengths.max(), 200);
    }

    #[test]
    fn backward_hash_ignores_case() {
        assert_eq!(
            backward_lowercase(b"Example.COM"),
            backward_lowercase(b"example.com")
        );
        assert_ne!(
            backward_lowercase(b"example.com"),
            backward_lowercase(b"example.org")
        );
    }
}
