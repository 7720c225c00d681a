//! Stable hashing shared by ids, request keys and the hash-based selectors.
//!
//! Everything here must give the same answer on every machine, every build and
//! every version of lb, so that two independent load-balancer instances agree
//! on ids and on which backend owns a key. `std`'s `DefaultHasher` promises none
//! of that, so keys are hashed with XXH3-64, whose output is fixed by its
//! specification, and derived values are mixed with the SplitMix64 finaliser.

/// Hashes arbitrary bytes to 64 bits with XXH3 (seed 0). Stable across builds.
#[must_use]
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Hashes bytes with a seed; used to derive independent hash functions.
#[must_use]
#[inline]
pub fn hash_bytes_seeded(bytes: &[u8], seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(bytes, seed)
}

/// The SplitMix64 finaliser: a bijective avalanche mix of 64 bits.
///
/// Source: Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators" (OOPSLA 2014); constants from Stafford's "Mix13".
#[must_use]
#[inline]
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Combines two 64-bit hashes into one, asymmetrically (`combine(a, b) !=
/// combine(b, a)` in general). Used for key × backend scores and rehashing.
#[must_use]
#[inline]
pub const fn combine(a: u64, b: u64) -> u64 {
    mix64(a ^ mix64(b.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// Maps a 64-bit hash uniformly onto `0..n` without a division (Lemire's
/// multiply-shift reduction). `n` must be non-zero.
#[must_use]
#[inline]
pub const fn reduce(hash: u64, n: u64) -> u64 {
    ((hash as u128 * n as u128) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_across_builds() {
        // Pinned values: if these change, ids and key placement change for
        // every deployed instance, which must never happen silently.
        assert_eq!(hash_bytes(b""), 0x2d06_8005_38d3_94c2);
        assert_eq!(hash_bytes(b"backend-a"), hash_bytes(b"backend-a"));
        assert_ne!(hash_bytes(b"backend-a"), hash_bytes(b"backend-b"));
    }

    #[test]
    fn reduce_stays_in_range() {
        for n in [1_u64, 2, 3, 7, 1000, u64::MAX] {
            for h in [0, 1, u64::MAX / 2, u64::MAX] {
                assert!(reduce(h, n) < n);
            }
        }
    }

    #[test]
    fn combine_is_order_sensitive() {
        assert_ne!(combine(1, 2), combine(2, 1));
    }
}
