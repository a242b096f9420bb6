//! The memory test's patterns and their CPU reference: the value every 64-bit word of
//! the covered memory must hold in a pass, as a function of the word's own global
//! index (its address, counted in 64-bit words over every buffer in order) and the
//! pass's key. `shaders/memtest.wgsl` computes the same values on the GPU with the
//! same 32-bit operations; the first pass of each pattern is read back in part and
//! compared with these.

/// A pass's pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Each word holds its own 64-bit address XOR the key: no two covered words hold
    /// the same value, so any two that alias (a decoder fault) cannot both read right.
    Address,
    /// Every bit of [`Pattern::Address`] flipped (same key): with it, every bit of every
    /// word takes both values, so a bit stuck at either value is caught.
    Complement,
    /// A seeded hash of the address: neighbouring bits and words uncorrelated.
    Random,
    /// Every bit of [`Pattern::Random`] flipped (same key).
    RandomComplement,
}

impl Pattern {
    /// As the shader's `pattern` uniform numbers them.
    pub fn code(self) -> u32 {
        match self {
            Pattern::Address => 0,
            Pattern::Complement => 1,
            Pattern::Random => 2,
            Pattern::RandomComplement => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Pattern::Address => "address",
            Pattern::Complement => "address-complement",
            Pattern::Random => "random",
            Pattern::RandomComplement => "random-complement",
        }
    }
}

/// The four patterns in the order a cycle runs them: each pair shares its key, so the
/// second flips every bit the first wrote.
pub const CYCLE: [Pattern; 4] = [
    Pattern::Address,
    Pattern::Complement,
    Pattern::Random,
    Pattern::RandomComplement,
];

/// Pass `pass` (from 0) of a test seeded with `seed`: its pattern and key. A cycle of
/// four passes shares two keys (one per pair); the next cycle draws new ones.
pub fn pass(seed: u64, pass: u64) -> (Pattern, u64) {
    let pattern = CYCLE[(pass % 4) as usize];
    let key = crate::inputs::word(seed, crate::inputs::stream::MEMTEST, pass / 2);
    (pattern, key)
}

/// The shader's 32-bit mix (a bijection with full avalanche: Chris Wellons'
/// `lowbias32`).
#[inline]
pub fn mix32(x: u32) -> u32 {
    let mut h = x;
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^ (h >> 16)
}

/// The random pattern of an address already XORed with the key, as (low, high) words.
#[inline]
fn random(lo: u32, hi: u32) -> (u32, u32) {
    let a = mix32(lo ^ mix32(hi));
    let b = mix32(a ^ hi ^ 0x9e37_79b9);
    (a, b)
}

/// The value of 64-bit word `g` in a pass of `pattern` under `key`.
#[inline]
pub fn value(pattern: Pattern, key: u64, g: u64) -> u64 {
    let a = g ^ key;
    let join = |(lo, hi): (u32, u32)| u64::from(lo) | (u64::from(hi) << 32);
    match pattern {
        Pattern::Address => a,
        Pattern::Complement => !a,
        Pattern::Random => join(random(a as u32, (a >> 32) as u32)),
        Pattern::RandomComplement => !join(random(a as u32, (a >> 32) as u32)),
    }
}

/// Words `first..first + n` of a pass, as the little-endian bytes memory holds them.
pub fn bytes(pattern: Pattern, key: u64, first: u64, n: u64) -> Vec<u8> {
    (first..first + n)
        .flat_map(|g| value(pattern, key, g).to_le_bytes())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unique_and_each_pair_flips_every_bit() {
        let key = 0x0123_4567_89ab_cdef;
        let words: Vec<u64> = (0..4096).map(|g| value(Pattern::Address, key, g)).collect();
        let mut sorted = words.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), words.len(), "two words share a value");
        for g in [0, 1, 4095, u64::MAX >> 3] {
            assert_eq!(
                value(Pattern::Address, key, g) ^ value(Pattern::Complement, key, g),
                u64::MAX
            );
            assert_eq!(
                value(Pattern::Random, key, g) ^ value(Pattern::RandomComplement, key, g),
                u64::MAX
            );
        }
        // A cycle's pairs share a key; the next cycle draws new ones.
        assert_eq!(pass(7, 0).1, pass(7, 1).1);
        assert_eq!(pass(7, 2).1, pass(7, 3).1);
        assert_ne!(pass(7, 0).1, pass(7, 2).1);
        assert_ne!(pass(7, 0).1, pass(7, 4).1);
        assert_eq!(pass(7, 5).0, Pattern::Complement);
    }

    #[test]
    fn the_random_pattern_is_balanced() {
        // Every bit near half set over many words: no bit is constant.
        let n = 1 << 14;
        for bit in 0..64 {
            let ones = (0..n)
                .filter(|&g| value(Pattern::Random, 42, g) >> bit & 1 == 1)
                .count();
            assert!(
                (n * 45 / 100..n * 55 / 100).contains(&(ones as u64)),
                "bit {bit}: {ones}"
            );
        }
        assert_eq!(mix32(0), 0);
        assert_ne!(mix32(1), 1);
    }
}
