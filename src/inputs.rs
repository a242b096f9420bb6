//! Deterministic inputs from a counter-based generator: element `i` of stream `s`
//! depends only on `(seed, s, i)`, so inputs are built in parallel and are identical on
//! every machine, whatever the thread count. The same generator draws the check
//! vectors (from a fresh seed each run) and compare's bootstrap resamples.

use rayon::prelude::*;

/// The inputs' default seed: "canary".
pub const DEFAULT_SEED: u64 = 0x6361_6e61_7279;

/// SplitMix64's finaliser: a bijective mix with full avalanche.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `index`-th random word of `stream` under `seed`.
#[inline]
pub fn word(seed: u64, stream: u64, index: u64) -> u64 {
    mix64(mix64(seed ^ mix64(stream)) ^ index)
}

/// Streams used by the kernels; distinct so A, B and the check vectors are independent.
pub mod stream {
    pub const A: u64 = 1;
    pub const B: u64 = 2;
    pub const X: u64 = 3;
    pub const CORRUPT: u64 = 5;
    pub const PATTERN: u64 = 6;
    pub const MEMTEST: u64 = 7;
    pub const SENTINEL: u64 = 8;
}

/// Uniform in [-scale, scale) with 24 significant bits, so every value is exact in f32
/// (for `scale` a power of two) and the reference sees the same numbers as the GPU.
pub fn f32_values(seed: u64, stream: u64, len: usize, scale: f32) -> Vec<f32> {
    (0..len as u64)
        .into_par_iter()
        .map(|i| {
            let bits = (word(seed, stream, i) >> 40) as i64; // 24 bits
            ((bits - (1 << 23)) as f32 / (1u32 << 23) as f32) * scale
        })
        .collect()
}

/// Uniform in [-scale, scale) with 11 significant bits: exactly representable in f16.
pub fn f16_values(seed: u64, stream: u64, len: usize, scale: f32) -> Vec<half::f16> {
    (0..len as u64)
        .into_par_iter()
        .map(|i| {
            let bits = (word(seed, stream, i) >> 53) as i64; // 11 bits
            half::f16::from_f32(((bits - (1 << 10)) as f32 / (1u32 << 10) as f32) * scale)
        })
        .collect()
}

/// Whole numbers uniform in [-q, q], as i32: the exact-grid inputs of a large matmul
/// (see `check::reference::Grid`), scaled to f32 or f16 by the kernel.
pub fn grid_values(seed: u64, stream: u64, len: usize, q: u32) -> Vec<i32> {
    let span = 2 * u64::from(q) + 1;
    (0..len as u64)
        .into_par_iter()
        .map(|i| ((word(seed, stream, i) >> 11) % span) as i32 - q as i32)
        .collect()
}

/// Fresh OS randomness, for the check vectors of one run (`--check-seed` replays it).
pub fn fresh_seed() -> u64 {
    let mut b = [0u8; 8];
    // Without an OS source the checks still run, just with a time-derived seed.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return mix64(t.as_nanos() as u64 ^ u64::from(std::process::id()));
    }
    u64::from_le_bytes(b)
}

/// Full-range words: wrapping products exercise every bit of the multiplier.
pub fn u32_values(seed: u64, stream: u64, len: usize) -> Vec<u32> {
    (0..len as u64)
        .into_par_iter()
        .map(|i| (word(seed, stream, i) >> 32) as u32)
        .collect()
}

/// The copies' pattern: word `i` is a finite f32 in ±[1, 2) with 23 random mantissa
/// bits and a random sign, so a word moved to the wrong place, a stale word and the
/// poison (a NaN) all differ from it, and no float path can change its bits.
pub fn pattern_words(seed: u64, len: usize) -> Vec<u32> {
    (0..len as u64)
        .into_par_iter()
        .map(|i| 0x3F80_0000 | ((word(seed, stream::PATTERN, i) >> 32) as u32 & 0x807F_FFFF))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_values_other_seed_other_values() {
        assert_eq!(
            f32_values(7, stream::A, 1000, 1.0),
            f32_values(7, stream::A, 1000, 1.0)
        );
        assert_ne!(
            f32_values(7, stream::A, 1000, 1.0),
            f32_values(8, stream::A, 1000, 1.0)
        );
        assert_ne!(
            f32_values(7, stream::A, 1000, 1.0),
            f32_values(7, stream::B, 1000, 1.0)
        );
    }

    #[test]
    fn a_prefix_does_not_depend_on_length() {
        let long = u32_values(1, stream::A, 5000);
        assert_eq!(&long[..100], &u32_values(1, stream::A, 100)[..]);
    }

    #[test]
    fn values_in_range_and_exact() {
        let v = f32_values(3, stream::A, 100_000, 1.0);
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        assert!(v.iter().any(|x| *x < -0.99) && v.iter().any(|x| *x > 0.99));
        // 24-bit grid: x * 2^23 is an integer.
        assert!(v.iter().all(|x| (x * 8_388_608.0).fract() == 0.0));
        let h = f16_values(3, stream::A, 10_000, 1.0);
        assert!(h.iter().all(|x| (x.to_f32() * 1024.0).fract() == 0.0));
    }

    #[test]
    fn known_values_pin_the_generator() {
        // Pinned so that a change to the generator, which would change every input and
        // every exact checksum in saved results, cannot pass unnoticed.
        assert_eq!(word(0, 0, 0), PINNED[0]);
        assert_eq!(word(0x6361_6e61_7279, stream::A, 12345), PINNED[1]);
    }

    const PINNED: [u64; 2] = [2_558_736_989_570_252_433, 2_569_353_716_773_149_579];
}
