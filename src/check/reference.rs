//! GPU output against CPU references. What each check is certain to catch, and the
//! probability that several wrong elements slip through, is stated with each method and
//! recorded in every result (`Verification::miss_probability`).
//!
//! # Float bounds (shapes checked element by element)
//!
//! A dot product of length K computed in floating point, in any order, satisfies
//! |fl(Σ aᵢbᵢ) − Σ aᵢbᵢ| ≤ γ_K · Σ|aᵢbᵢ|, with γ_K = K·u / (1 − K·u) (Higham, *Accuracy
//! and Stability of Numerical Algorithms*, §3.1). For f32 with round-to-nearest,
//! u = 2⁻²⁴. We use **u = 2⁻²³, i.e. a constant of 2**, because not every backend
//! promises round-to-nearest for every operation (tensor cores truncate, some drivers
//! contract or reassociate); any faithfully rounded operation errs by less than one ulp,
//! which is 2u. The f64 reference's own error, γ_K(2⁻⁵³)·Σ|aᵢbᵢ|, is added on top.
//! Up to [`FULL_CHECK_MAX_MACS`] every element is checked against its own bound, with
//! full-precision fractional inputs: these shapes are the ones that catch wrong
//! rounding (TF32 inside an f32 kernel, f16 accumulation).
//!
//! # Exact checks (shapes that load a GPU)
//!
//! Above that limit no O(n²) check can see one element's rounding-sized error through
//! the rounding of thousands of others, so the arithmetic is made exact instead: the
//! inputs are whole numbers in [-q, q] times a power of two ([`Grid`]), with
//! K·q² ≤ 2²⁴. Every product and every partial sum is then a whole number of units
//! below 2²⁴ in magnitude, exact in f32 whatever the order, FMA contraction or
//! tensor-core tile, so C is exact and is checked exactly:
//! - every element must be a whole number of units within ±K·q² (a NaN, an infinity,
//!   or any value off the grid is caught where it is, with certainty);
//! - every row, by Freivalds over the prime field 𝔽ₚ, p = 2⁶¹ − 1: C·x against A·(B·x)
//!   for x with entries uniform in [1, p−1]. A row with one wrong element e gives
//!   e·xⱼ ≢ 0 (p is prime, |e| < p, xⱼ ≠ 0): caught with certainty. A row with several
//!   wrong elements passes only if x lies on one hyperplane: probability ≤ 1/(p−1).
//!
//! Integer matmuls are exact modulo 2³²: every element up to the limit, then 32
//! Freivalds vectors modulo 2³² ([`U32_LANES`]). The first has odd entries, so one wrong
//! element in a row is caught with certainty; the others are uniform, and each catches
//! any other wrong row with probability ≥ 1/2 (the worst case is errors that are all
//! multiples of 2³¹, e.g. two flipped high bits, which an all-odd vector always
//! misses), so several wrong elements pass with probability ≤ 2⁻³¹.
//!
//! A reduction is compared with the kernel's own fixed order, simulated on the CPU in
//! f32 (IEEE addition is correctly rounded, so a correct device gives the same bits),
//! and also against an f64 sum within γ_L(2⁻²³)·Σ|x| for the deepest path L.
//!
//! Check vectors come from a seed drawn from the OS for each run (recorded as
//! `config.check_seed`; `--check-seed` replays it), so no fixed set of positions or
//! vectors can be learned by a fault that repeats.

use rayon::prelude::*;

use crate::inputs::{self, stream};
use crate::model::{Mismatch, Verification};

/// Faithful rounding's unit error for f32 (see the module docs).
pub const F32_UNIT: f64 = 1.0 / (1u64 << 23) as f64;
/// The f64 reference's unit roundoff.
pub const F64_UNIT: f64 = 1.0 / (1u64 << 53) as f64;
/// Float products up to this many multiply-adds are checked element by element with
/// fractional inputs; above it, on the exact grid in O(n²).
pub const FULL_CHECK_MAX_MACS: u64 = 1 << 27;
/// K·q² stays within this, so every partial sum is exact in f32 (24-bit significand).
pub const GRID_SPAN: u64 = 1 << 24;
/// The grid's largest magnitude in units: whole numbers up to 2¹¹ are exact in f16.
pub const GRID_MAX_Q: u32 = 2048;
/// The grid's unit is at least f16's smallest normal, so no input is subnormal.
pub const GRID_MIN_UNIT: f64 = 1.0 / (1u64 << 14) as f64;
/// The Mersenne prime 2⁶¹ − 1: the field of the exact float Freivalds check.
pub const P61: u64 = (1 << 61) - 1;
/// Freivalds vectors of the u32 check (one with odd entries, the rest uniform).
pub const U32_LANES: usize = 32;
/// Flagged rows checked element by element to name the wrong elements.
const LOCALISED_ROWS: usize = 4;

/// γ_n for unit roundoff `unit`.
pub fn gamma(n: u64, unit: f64) -> f64 {
    let nu = n as f64 * unit;
    assert!(nu < 0.5, "gamma({n}) is not a useful bound at unit {unit}");
    nu / (1.0 - nu)
}

/// Bound on one element of a float matmul whose Σ|a·b| is `abs`: device error plus the
/// reference's own error, plus a floor for values near f32's smallest normal.
pub fn dot_bound(k: u64, abs: f64) -> f64 {
    (gamma(k, F32_UNIT) + gamma(k, F64_UNIT)) * abs + k as f64 * f32::MIN_POSITIVE as f64
}

/// FNV-1a 64 over bytes, as hex: the output's fingerprint.
pub fn checksum(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A verification's outcome before determinism is folded in.
#[derive(Debug)]
pub struct Checked {
    pub tally: Tally,
    /// How the output was checked, e.g. `full` or `exact-grid` (see [`Verification`]).
    pub method: &'static str,
    /// What the output was compared with: `f64`, `exact-integer`, `exact-mod-2^32`,
    /// `simulated-order`.
    pub reference: &'static str,
    /// The output is exact: its checksum is the same on every correct device for the
    /// same inputs and launch grid.
    pub exact: bool,
    /// Upper bound on the probability that a wrong output passes (0: certain); `None`
    /// where the check is a tolerance, which errors inside it pass unseen.
    pub miss_probability: Option<f64>,
    /// The smallest wrong result the check is certain to catch, in words.
    pub detects: String,
}

/// The wrong elements a check lists for the fingerprint (the smallest indices).
pub const WRONG_LISTED: usize = 64;

/// Running worst case over compared elements, and the wrong ones for the fingerprint:
/// how many, the first [`WRONG_LISTED`] by index with both values, and their failing
/// bits read as u32 words and as f32 words (the caller knows which the output holds).
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub checked: u64,
    pub max_error: f64,
    pub bound_at_worst: f64,
    pub worst_ratio: f64,
    pub first_mismatch: Option<Mismatch>,
    pub wrong_count: u64,
    pub wrong: Vec<(u64, f64, f64)>,
    /// `[as u32, as f32]`: the OR of expected XOR actual, and per bit the wrong elements
    /// in which it differed.
    pub bits_or: [u32; 2],
    pub bit_counts: [[u64; 32]; 2],
}

/// An element's value as a 32-bit word: its u32 (an integer result) or its f32's bits
/// (the reference rounded to f32).
pub fn word_bits(v: f64, float: bool) -> u32 {
    if float {
        (v as f32).to_bits()
    } else {
        v as u32
    }
}

impl Tally {
    /// A wrong element, for the fingerprint.
    fn note_wrong(&mut self, index: u64, expected: f64, actual: f64) {
        self.wrong_count += 1;
        for (k, float) in [false, true].into_iter().enumerate() {
            let x = word_bits(expected, float) ^ word_bits(actual, float);
            self.bits_or[k] |= x;
            for b in 0..32 {
                self.bit_counts[k][b] += u64::from(x >> b & 1);
            }
        }
        if self.wrong.len() < WRONG_LISTED {
            self.wrong.push((index, expected, actual));
        } else if let Some(max) = self.wrong.iter().map(|w| w.0).max()
            && index < max
        {
            let at = self
                .wrong
                .iter()
                .position(|w| w.0 == max)
                .expect("the largest");
            self.wrong[at] = (index, expected, actual);
        }
    }

    pub fn record(
        &mut self,
        index: u64,
        row_col: Option<(u64, u64)>,
        expected: f64,
        actual: f64,
        bound: f64,
    ) {
        self.record_at(index, row_col, None, expected, actual, bound);
    }

    /// [`Tally::record`] with a name for the place, e.g. `partial 17 of 1024`.
    pub fn record_at(
        &mut self,
        index: u64,
        row_col: Option<(u64, u64)>,
        location: Option<&str>,
        expected: f64,
        actual: f64,
        bound: f64,
    ) {
        self.checked += 1;
        let error = (actual - expected).abs();
        // NaN or Inf in the output is always a mismatch.
        let ratio = if !error.is_finite() {
            f64::INFINITY
        } else if bound > 0.0 {
            error / bound
        } else if error == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        if error > self.max_error || !error.is_finite() {
            self.max_error = error;
        }
        if ratio > self.worst_ratio || self.checked == 1 {
            self.worst_ratio = ratio;
            self.bound_at_worst = bound;
        }
        if ratio > 1.0 {
            self.note_wrong(index, expected, actual);
            let candidate = Mismatch {
                index,
                row: row_col.map(|r| r.0),
                col: row_col.map(|r| r.1),
                location: location.map(str::to_owned),
                expected,
                actual,
                error,
                bound,
            };
            match &self.first_mismatch {
                Some(m) if m.index <= index => {}
                _ => self.first_mismatch = Some(candidate),
            }
        }
    }

    /// Records a value that must equal `expected` bit for bit: −0 against +0, or another
    /// NaN payload, is wrong however close the values.
    pub fn record_bits(&mut self, index: u64, location: Option<&str>, expected: f32, actual: f32) {
        if expected.to_bits() == actual.to_bits() {
            self.record_at(
                index,
                None,
                location,
                f64::from(expected),
                f64::from(actual),
                0.0,
            );
            return;
        }
        self.checked += 1;
        self.note_wrong(index, f64::from(expected), f64::from(actual));
        let error = (f64::from(actual) - f64::from(expected)).abs();
        self.worst_ratio = f64::INFINITY;
        self.bound_at_worst = 0.0;
        if error > self.max_error || !error.is_finite() {
            self.max_error = error;
        }
        if self.first_mismatch.as_ref().is_none_or(|m| m.index > index) {
            self.first_mismatch = Some(Mismatch {
                index,
                row: None,
                col: None,
                location: location.map(str::to_owned),
                expected: f64::from(expected),
                actual: f64::from(actual),
                error,
                bound: 0.0,
            });
        }
    }

    /// [`Tally::record_bits`] for element (i, j) of an n-column matrix.
    pub fn record_bits_at(&mut self, n: usize, i: usize, j: usize, expected: f32, actual: f32) {
        let index = (i * n + j) as u64;
        self.record_bits(index, None, expected, actual);
        if let Some(m) = self.first_mismatch.as_mut().filter(|m| m.index == index) {
            (m.row, m.col) = (Some(i as u64), Some(j as u64));
        }
    }

    /// Records element (i, j) of an n-column matrix whose actual value is `c[i·n + j]`.
    pub fn record_element<T: Copy + Into<f64>>(
        &mut self,
        n: usize,
        i: usize,
        j: usize,
        expected: f64,
        c: &[T],
        bound: f64,
    ) {
        let idx = i * n + j;
        self.record(
            idx as u64,
            Some((i as u64, j as u64)),
            expected,
            c[idx].into(),
            bound,
        );
    }

    pub fn merge(mut self, other: Tally) -> Tally {
        self.checked += other.checked;
        if other.max_error > self.max_error || other.max_error.is_nan() {
            self.max_error = other.max_error;
        }
        if other.worst_ratio > self.worst_ratio {
            self.worst_ratio = other.worst_ratio;
            self.bound_at_worst = other.bound_at_worst;
        }
        self.first_mismatch = match (self.first_mismatch, other.first_mismatch) {
            (Some(a), Some(b)) => Some(if a.index <= b.index { a } else { b }),
            (a, b) => a.or(b),
        };
        self.wrong_count += other.wrong_count;
        for k in 0..2 {
            self.bits_or[k] |= other.bits_or[k];
            for b in 0..32 {
                self.bit_counts[k][b] += other.bit_counts[k][b];
            }
        }
        self.wrong.extend(other.wrong);
        self.wrong.sort_by_key(|w| w.0);
        self.wrong.truncate(WRONG_LISTED);
        self
    }
}

impl Checked {
    pub fn into_verification(self, output: &[u8], deterministic: bool) -> Verification {
        self.into_verification_summed(checksum(output), deterministic)
    }

    /// [`Checked::into_verification`] with the output's checksum already computed.
    pub fn into_verification_summed(self, checksum: String, deterministic: bool) -> Verification {
        let t = self.tally;
        Verification {
            method: self.method.to_owned(),
            reference: self.reference.to_owned(),
            miss_probability: self.miss_probability,
            detects: Some(self.detects),
            passed: t.first_mismatch.is_none() && deterministic,
            checked_elements: t.checked,
            max_error: t.max_error,
            bound: t.bound_at_worst,
            max_error_ratio: t.worst_ratio,
            checksum,
            checksum_exact: self.exact,
            deterministic,
            first_mismatch: t.first_mismatch,
        }
    }
}

/// Every word of `got` against `expected`, bit for bit: one wrong bit anywhere is
/// certain to be caught. Words are compared in parallel chunks; only a chunk that
/// differs is walked word by word, so a passing gigabyte costs one pass of memcmp.
pub fn exact_words(expected: &[u32], got: &[u8]) -> Tally {
    const CHUNK: usize = 1 << 16;
    let mut t = Tally::default();
    let got_words = got.len() / 4;
    if got_words < expected.len() {
        // A short readback: the first missing word is the mismatch.
        let i = got_words as u64;
        t.record(i, None, f64::from(expected[got_words]), f64::NAN, 0.0);
    }
    let want: &[u8] = bytemuck::cast_slice(expected);
    let n = want.len().min(got.len() / 4 * 4);
    let bad = (0..n.div_ceil(CHUNK * 4)).into_par_iter().find_first(|&c| {
        let r = c * CHUNK * 4..((c + 1) * CHUNK * 4).min(n);
        want[r.clone()] != got[r]
    });
    // A wrong output is walked whole from its first differing chunk: every wrong word
    // counted for the fingerprint (a passing one costs the memcmp alone).
    if let Some(c) = bad {
        for i in c * CHUNK..n / 4 {
            let g = u32::from_le_bytes(got[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
            if g != expected[i] {
                let at = format!("word {i}, byte offset {}", i * 4);
                t.record_at(
                    i as u64,
                    None,
                    Some(&at),
                    f64::from(expected[i]),
                    f64::from(g),
                    0.0,
                );
            }
        }
    }
    t.checked = expected.len() as u64;
    t
}

/// A matrix product's operands, row-major: A is m×k, B is k×n, C is m×n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

impl Dims {
    pub fn macs(&self) -> u64 {
        self.m as u64 * self.k as u64 * self.n as u64
    }
}

/// The exact grid of a large float matmul: inputs are whole numbers in [-q, q] times
/// `unit` (a power of two), with K·q² ≤ 2²⁴ (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub q: u32,
    pub unit: f64,
}

impl Grid {
    /// The grid for inner dimension `k` and inputs within ±`scale`: the largest q with
    /// K·q² ≤ 2²⁴ (at most 2¹¹), and the largest power-of-two unit with q·unit ≤ scale
    /// (at least 2⁻¹⁴). `None` when K > 2²⁴: not even q = 1 keeps the sums exact.
    pub fn for_k(k: usize, scale: f32) -> Option<Grid> {
        let k = k as u64;
        if k == 0 || k > GRID_SPAN {
            return None;
        }
        let mut q = ((GRID_SPAN / k) as f64).sqrt() as u64 + 1;
        while k * q * q > GRID_SPAN {
            q -= 1;
        }
        let q = q.min(u64::from(GRID_MAX_Q)) as u32;
        let mut unit = 2f64.powi((f64::from(scale) / f64::from(q)).log2().floor() as i32);
        while unit * f64::from(q) > f64::from(scale) {
            unit /= 2.0;
        }
        Some(Grid {
            q,
            unit: unit.max(GRID_MIN_UNIT),
        })
    }

    /// Whole number `i` of units, exactly.
    pub fn value(&self, i: i32) -> f32 {
        (f64::from(i) * self.unit) as f32
    }

    /// A grid value back in units (exact: the unit is a power of two).
    fn units(&self, v: f64) -> i64 {
        (v / self.unit) as i64
    }
}

/// How a matmul's inputs are made and its output checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MatmulCheck {
    /// Fractional inputs, every element against its own γ_K bound.
    Full,
    /// Grid inputs, an exact product, every element and row checked exactly.
    ExactGrid(Grid),
    /// The precision probe ([`probe_values`]): every element bit for bit against the
    /// exact f32 product, and, where wrong, against what reduced precision would give.
    Probe,
}

impl MatmulCheck {
    /// Element by element with fractional inputs where that check is sharp: at most
    /// [`FULL_CHECK_MAX_MACS`] multiply-adds and an element bound below
    /// [`SHARP_BOUND`] of a typical |C| ([`bound_ratio`]); on the exact grid otherwise.
    /// K above 2²⁴ has no grid and is refused before this ([`MatmulCheck::refuse`]).
    pub fn for_shape(d: Dims, scale: f32) -> MatmulCheck {
        // (A probe's own kernel chooses `Probe`; a shape never does.)
        if d.macs() <= FULL_CHECK_MAX_MACS && bound_ratio(d.k as u64) <= SHARP_BOUND {
            return MatmulCheck::Full;
        }
        Grid::for_k(d.k, scale).map_or(MatmulCheck::Full, MatmulCheck::ExactGrid)
    }

    /// Why a float matmul of this shape cannot be checked with certainty: K above 2²⁴,
    /// where no grid keeps every partial sum exact in f32 and the float bound would
    /// admit a wrong output.
    pub fn refuse(id: &str, shape: impl std::fmt::Display, d: Dims) -> Result<(), String> {
        if d.k as u64 > GRID_SPAN {
            return Err(format!(
                "{id} {shape}: K = {} is over {GRID_SPAN} (2^24), the longest dot product f32 can check exactly; use K of at most {GRID_SPAN}",
                d.k
            ));
        }
        Ok(())
    }
}

/// A float bound is used only where it is this small against a typical |C|: an
/// element off by more than 2⁻¹⁰ of a typical value is caught with certainty.
pub const SHARP_BOUND: f64 = 1.0 / 1024.0;

/// One element's bound against a typical |C| for inputs uniform in [-S, S): the bound
/// is (γ_K(2⁻²³) + γ_K(2⁻⁵³))·Σ|a·b| with E Σ|a·b| = K·S²/4, and C has the standard
/// deviation √K·S²/3, so E|C| = √(2/π)·√K·S²/3; their ratio is
/// (γ_K + γ'_K)·(3/4)·√(π/2)·√K, whatever S. It passes 2⁻¹⁰ at K = 424: longer dot
/// products go on the exact grid.
pub fn bound_ratio(k: u64) -> f64 {
    let g = |unit: f64| {
        let nu = k as f64 * unit;
        if nu < 0.5 {
            nu / (1.0 - nu)
        } else {
            f64::INFINITY
        }
    };
    (g(F32_UNIT) + g(F64_UNIT)) * 0.75 * (std::f64::consts::PI / 2.0).sqrt() * (k as f64).sqrt()
}

/// Row `i` of A·B in f64, with Σ|a·b| per element.
fn float_row<T: Copy + Into<f64>>(a: &[T], b: &[T], d: Dims, i: usize) -> (Vec<f64>, Vec<f64>) {
    let mut dot = vec![0.0f64; d.n];
    let mut abs = vec![0.0f64; d.n];
    for p in 0..d.k {
        let aip: f64 = a[i * d.k + p].into();
        let brow = &b[p * d.n..(p + 1) * d.n];
        for ((dj, sj), &bpj) in dot.iter_mut().zip(abs.iter_mut()).zip(brow) {
            let prod = aip * bpj.into();
            *dj += prod;
            *sj += prod.abs();
        }
    }
    (dot, abs)
}

fn check_float_row<T: Copy + Into<f64>>(a: &[T], b: &[T], c: &[f32], d: Dims, i: usize) -> Tally {
    let (dot, abs) = float_row(a, b, d, i);
    let mut t = Tally::default();
    for j in 0..d.n {
        if abs[j] == 0.0 {
            // Every product is zero: the exact result is zero, which the kernel stores
            // as +0 (it canonicalises zeros), so only +0's bits pass.
            t.record_bits_at(d.n, i, j, 0.0, c[i * d.n + j]);
        } else {
            t.record_element(d.n, i, j, dot[j], c, dot_bound(d.k as u64, abs[j]));
        }
    }
    t
}

/// Every row of C checked by `row`, in parallel.
fn every_row(d: Dims, row: impl Fn(usize) -> Tally + Sync + Send) -> Tally {
    (0..d.m)
        .into_par_iter()
        .map(row)
        .reduce(Tally::default, Tally::merge)
}

/// A float matmul (f32, or f16 inputs with f32 accumulation), checked as `check` says.
pub fn float_matmul<T: Copy + Into<f64> + Sync>(
    a: &[T],
    b: &[T],
    c: &[f32],
    d: Dims,
    check: MatmulCheck,
    check_seed: u64,
) -> Checked {
    match check {
        MatmulCheck::Full => Checked {
            tally: every_row(d, |i| check_float_row(a, b, c, d, i)),
            method: "full",
            reference: "f64",
            exact: false,
            // An error inside an element's bound is not seen: no certainty to claim.
            miss_probability: None,
            detects: format!(
                "an element wrong by more than its own bound γ_K·Σ|a·b| (at K = {}, about {:.1e} of a typical |C|); a zero wrong in its sign where every product is zero; smaller errors pass unseen",
                d.k,
                bound_ratio(d.k as u64)
            ),
        },
        MatmulCheck::Probe => Checked {
            tally: probe(a, b, c, d),
            method: "exact-probe",
            reference: "exact-f32",
            exact: true,
            miss_probability: Some(0.0),
            detects: "f32 inputs rounded to fewer than 12 significant bits (TF32, bf16, f16) and sums kept in f16, named by the format they match; any wrong bit".to_owned(),
        },
        MatmulCheck::ExactGrid(g) => Checked {
            tally: exact_grid(a, b, c, d, g, check_seed),
            method: "exact-grid",
            reference: "exact-integer",
            exact: true,
            miss_probability: Some(1.0 / (P61 - 1) as f64),
            detects: format!(
                "any wrong bit: an error of one grid unit ({:e}) or more, a NaN, an infinity, an off-grid value or a zero of the wrong sign, each wherever it is; several wrong elements in one row pass with probability at most 1/(2^61 - 2)",
                g.unit * g.unit
            ),
        },
    }
}

/// Inputs of the precision probe, K = [`PROBE_K`]: 1 + 2⁻¹¹ and 1 + 3·2⁻¹¹, which take
/// 12 significant bits. Every product is 1 + (a+b)·2⁻¹¹ + ab·2⁻²² (exact in f32) and the
/// sum of two lies in [2, 4) with its last bit at 2⁻²² (exact): so f32 arithmetic in any
/// order, with or without FMA, gives one known bit pattern, while inputs rounded to
/// TF32 or f16 (11 significant bits: 1 + 2⁻¹¹ ties to 1, 1 + 3·2⁻¹¹ to 1 + 2⁻⁹), to bf16
/// (8 bits: both to 1), or sums kept in f16 give others.
pub fn probe_values(len: usize, salt: usize) -> Vec<f32> {
    let unit = (1.0f64 / 2048.0) as f32;
    (0..len)
        .map(|i| {
            let s = (i * 7 + salt * 3) % 5;
            1.0 + if s < 2 { 3.0 * unit } else { unit }
        })
        .collect()
}

/// The precision probe's K.
pub const PROBE_K: u32 = 2;

/// What the probe's product is under each arithmetic: exact f32, and the reduced ones a
/// device might use instead, as (name, C).
fn probe_products<T: Copy + Into<f64>>(a: &[T], b: &[T], d: Dims) -> Vec<(&'static str, Vec<f32>)> {
    let round = |bits: u32| {
        move |v: f64| {
            let x = (v as f32).to_bits();
            let drop = 23 - bits;
            let half = (1u32 << (drop - 1)) - 1 + ((x >> drop) & 1);
            f64::from(f32::from_bits((x + half) & !((1u32 << drop) - 1)))
        }
    };
    let product = |ra: &dyn Fn(f64) -> f64, acc: &dyn Fn(f64) -> f64| -> Vec<f32> {
        let mut c = vec![0f32; d.m * d.n];
        for i in 0..d.m {
            for j in 0..d.n {
                let mut sum = 0.0f64;
                for p in 0..d.k {
                    let x = ra(a[i * d.k + p].into()) * ra(b[p * d.n + j].into());
                    sum = acc(sum + acc(x));
                }
                c[i * d.n + j] = sum as f32;
            }
        }
        c
    };
    let id = |v: f64| v;
    let f16 = |v: f64| f64::from(half::f16::from_f64(v));
    vec![
        ("f32", product(&id, &id)),
        (
            "TF32 (or f16) rounding of the inputs",
            product(&round(10), &id),
        ),
        ("bf16 rounding of the inputs", product(&round(7), &id)),
        (
            "f16 arithmetic (inputs and sums)",
            product(&round(10), &f16),
        ),
        ("sums kept in f16", product(&id, &f16)),
    ]
}

/// The precision probe's check: every element bit for bit against the exact f32
/// product; a wrong result is named by the reduced arithmetic it matches, where it does.
fn probe<T: Copy + Into<f64>>(a: &[T], b: &[T], c: &[f32], d: Dims) -> Tally {
    let products = probe_products(a, b, d);
    let exact = &products[0].1;
    let mut t = Tally::default();
    for i in 0..d.m {
        for j in 0..d.n {
            t.record_bits_at(d.n, i, j, exact[i * d.n + j], c[i * d.n + j]);
        }
    }
    if let Some(m) = t.first_mismatch.as_mut() {
        let same = |p: &[f32]| p.iter().zip(c).all(|(x, y)| x.to_bits() == y.to_bits());
        let like = products[1..].iter().find(|(_, p)| same(p));
        m.location = Some(match like {
            Some((name, _)) => format!(
                "reduced precision: the results match {name}, not f32 (row {}, col {})",
                m.row.unwrap_or(0),
                m.col.unwrap_or(0)
            ),
            None => format!(
                "row {}, col {}: matching no reduced format",
                m.row.unwrap_or(0),
                m.col.unwrap_or(0)
            ),
        });
    }
    t
}

/// `v` modulo 2⁶¹ − 1, in [0, p).
fn mod_p61(v: i128) -> u64 {
    v.rem_euclid(i128::from(P61)) as u64
}

/// Why a row of an exact product failed.
enum RowFault {
    /// An element off the grid or out of range (NaN, infinity, a fraction of a unit).
    OffGrid(usize),
    /// The row's Freivalds sums differ.
    Sum,
}

/// The exact check of a grid product (module docs): every element on the grid and in
/// range, every row by Freivalds modulo 2⁶¹ − 1; the first wrong rows are then
/// recomputed exactly to name their wrong elements. O(n²) plus O(K·N) per named row.
fn exact_grid<T: Copy + Into<f64> + Sync>(
    a: &[T],
    b: &[T],
    c: &[f32],
    d: Dims,
    g: Grid,
    check_seed: u64,
) -> Tally {
    let units = |v: T| g.units(v.into());
    // Entries in [1, p−1]: nonzero, so one wrong element in a row is always caught.
    let x: Vec<i128> = (0..d.n as u64)
        .map(|j| i128::from(1 + inputs::word(check_seed, stream::X, j) % (P61 - 1)))
        .collect();
    // The sums below stay far inside i128: |units| ≤ 2²⁴, |x|, |t| < 2⁶¹, and a row is
    // shorter than 2³² elements.
    let t: Vec<i128> = (0..d.k)
        .into_par_iter()
        .map(|p| {
            let row = &b[p * d.n..(p + 1) * d.n];
            let s: i128 = row
                .iter()
                .zip(&x)
                .map(|(&v, &xv)| i128::from(units(v)) * xv)
                .sum();
            i128::from(mod_p61(s))
        })
        .collect();
    let c_unit = g.unit * g.unit;
    let limit = (d.k as u64 * u64::from(g.q) * u64::from(g.q)) as f64;
    let mut faults: Vec<(usize, RowFault)> = (0..d.m)
        .into_par_iter()
        .filter_map(|i| {
            let mut y: i128 = 0;
            for (j, (&cv, &xv)) in c[i * d.n..(i + 1) * d.n].iter().zip(&x).enumerate() {
                let v = f64::from(cv) / c_unit;
                // NaN fails both comparisons; a zero must be +0 (the kernel stores every
                // zero so: the exact product has no sign to give it).
                if !(v.abs() <= limit && v.fract() == 0.0) || cv.to_bits() == 0x8000_0000 {
                    return Some((i, RowFault::OffGrid(j)));
                }
                y += i128::from(v as i64) * xv;
            }
            let z: i128 = a[i * d.k..(i + 1) * d.k]
                .iter()
                .zip(&t)
                .map(|(&v, &tv)| i128::from(units(v)) * tv)
                .sum();
            (mod_p61(y) != mod_p61(z)).then_some((i, RowFault::Sum))
        })
        .collect();
    faults.sort_by_key(|f| f.0);
    let mut tally = Tally::default();
    for (i, fault) in faults.iter().take(LOCALISED_ROWS) {
        let i = *i;
        // The exact row, in units: |Σ| ≤ K·q² ≤ 2²⁴, exact in i64.
        let mut row = vec![0i64; d.n];
        for p in 0..d.k {
            let aip = units(a[i * d.k + p]);
            for (r, &bv) in row.iter_mut().zip(&b[p * d.n..(p + 1) * d.n]) {
                *r += aip * units(bv);
            }
        }
        let mut t = Tally::default();
        for (j, &e) in row.iter().enumerate() {
            // Exact in f32 (|e| ≤ 2²⁴ units of a power of two): compared bit for bit.
            t.record_bits_at(d.n, i, j, (e as f64 * c_unit) as f32, c[i * d.n + j]);
        }
        if t.first_mismatch.is_none() {
            // Every element matches yet the row was flagged: never pass such a row.
            let j = match fault {
                RowFault::OffGrid(j) => *j,
                RowFault::Sum => 0,
            };
            t.record(
                (i * d.n + j) as u64,
                Some((i as u64, j as u64)),
                row[j] as f64 * c_unit,
                f64::NAN,
                0.0,
            );
        }
        tally = tally.merge(t);
    }
    // Every element was checked on the grid, and every row by its exact sum.
    tally.checked = (d.m * d.n) as u64;
    tally
}

/// Row `i` of A·B modulo 2³².
fn u32_row(a: &[u32], b: &[u32], d: Dims, i: usize) -> Vec<u32> {
    let mut row = vec![0u32; d.n];
    for p in 0..d.k {
        let aip = a[i * d.k + p];
        for (r, &bpj) in row.iter_mut().zip(&b[p * d.n..(p + 1) * d.n]) {
            *r = r.wrapping_add(aip.wrapping_mul(bpj));
        }
    }
    row
}

fn check_u32_row(a: &[u32], b: &[u32], c: &[u32], d: Dims, i: usize) -> Tally {
    let mut t = Tally::default();
    for (j, e) in u32_row(a, b, d, i).into_iter().enumerate() {
        t.record_element(d.n, i, j, f64::from(e), c, 0.0);
    }
    t
}

type Lanes = [u32; U32_LANES];

/// Σⱼ row[j]·x[j] in every lane, modulo 2³² (the lanes vectorise).
fn lane_dot(row: &[u32], x: &[Lanes]) -> Lanes {
    let mut acc = [0u32; U32_LANES];
    for (&r, xv) in row.iter().zip(x) {
        for (s, &v) in acc.iter_mut().zip(xv) {
            *s = s.wrapping_add(r.wrapping_mul(v));
        }
    }
    acc
}

/// Integer matmul, exact modulo 2³²: every element for small products; for large ones
/// Freivalds with [`U32_LANES`] vectors (module docs), then the flagged rows in full.
pub fn u32_matmul(a: &[u32], b: &[u32], c: &[u32], d: Dims, check_seed: u64) -> Checked {
    if d.macs() <= FULL_CHECK_MAX_MACS {
        return Checked {
            tally: every_row(d, |i| check_u32_row(a, b, c, d, i)),
            method: "exact-full",
            reference: "exact-mod-2^32",
            exact: true,
            miss_probability: Some(0.0),
            detects: "any wrong bit of any element".to_owned(),
        };
    }
    let x: Vec<Lanes> = (0..d.n as u64)
        .map(|j| {
            std::array::from_fn(|l| {
                let w = inputs::word(check_seed, stream::X, j * U32_LANES as u64 + l as u64) as u32;
                if l == 0 { w | 1 } else { w }
            })
        })
        .collect();
    let t: Vec<Lanes> = (0..d.k)
        .into_par_iter()
        .map(|p| lane_dot(&b[p * d.n..(p + 1) * d.n], &x))
        .collect();
    let mut flagged: Vec<usize> = (0..d.m)
        .into_par_iter()
        .filter(|&i| {
            lane_dot(&c[i * d.n..(i + 1) * d.n], &x) != lane_dot(&a[i * d.k..(i + 1) * d.k], &t)
        })
        .collect();
    flagged.sort_unstable();
    let mut tally = Tally::default();
    for &i in flagged.iter().take(LOCALISED_ROWS) {
        let mut row = check_u32_row(a, b, c, d, i);
        if row.first_mismatch.is_none() {
            // Never pass a flagged row, even if naming its element failed.
            row.record((i * d.n) as u64, Some((i as u64, 0)), 0.0, f64::NAN, 0.0);
        }
        tally = tally.merge(row);
    }
    tally.checked = (d.m * d.n) as u64;
    Checked {
        tally,
        method: "exact-freivalds",
        reference: "exact-mod-2^32",
        exact: true,
        miss_probability: Some(0.5f64.powi(U32_LANES as i32 - 1)),
        detects: "any wrong element alone in its row; several in one row pass with probability at most 2^-31".to_owned(),
    }
}

/// The f64 sum of `x` and Σ|x|.
pub fn f64_sum(x: &[f32]) -> (f64, f64) {
    x.par_iter()
        .fold(
            || (0.0f64, 0.0f64),
            |(s, q), &v| (s + f64::from(v), q + f64::from(v).abs()),
        )
        .reduce(|| (0.0, 0.0), |p, q| (p.0 + q.0, p.1 + q.1))
}

/// A sum of f32 values, whose deepest addition path has `depth` additions, against the
/// f64 sum within γ_depth(2⁻²³)·Σ|x|.
pub fn float_sum(x: &[f32], actual: f32, depth: u64) -> Tally {
    let (sum, abs) = f64_sum(x);
    let bound = (gamma(depth.max(1), F32_UNIT) + gamma(x.len() as u64, F64_UNIT)) * abs
        + depth as f64 * f32::MIN_POSITIVE as f64;
    let mut t = Tally::default();
    t.record(0, None, sum, f64::from(actual), bound);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul_f32(a: &[f32], b: &[f32], d: Dims) -> Vec<f32> {
        let mut c = vec![0f32; d.m * d.n];
        for i in 0..d.m {
            for p in 0..d.k {
                for j in 0..d.n {
                    c[i * d.n + j] += a[i * d.k + p] * b[p * d.n + j];
                }
            }
        }
        c
    }

    fn operands(d: Dims) -> (Vec<f32>, Vec<f32>) {
        (
            inputs::f32_values(1, stream::A, d.m * d.k, 1.0),
            inputs::f32_values(1, stream::B, d.k * d.n, 1.0),
        )
    }

    fn grid_operands(d: Dims, g: Grid) -> (Vec<f32>, Vec<f32>) {
        let v = |s, len| {
            inputs::grid_values(1, s, len, g.q)
                .into_iter()
                .map(|i| g.value(i))
                .collect::<Vec<f32>>()
        };
        (v(stream::A, d.m * d.k), v(stream::B, d.k * d.n))
    }

    const BIG: Dims = Dims {
        m: 520,
        k: 530,
        n: 510,
    };

    #[test]
    fn f32_product_passes_and_a_corrupted_element_is_named() {
        let d = Dims {
            m: 37,
            k: 300,
            n: 41,
        };
        let (a, b) = operands(d);
        let mut c = matmul_f32(&a, &b, d);
        let check = MatmulCheck::for_shape(d, 1.0);
        assert_eq!(check, MatmulCheck::Full);
        let r = float_matmul(&a, &b, &c, d, check, 1);
        assert_eq!((r.method, r.miss_probability), ("full", None));
        assert!(
            r.tally.first_mismatch.is_none(),
            "{:?}",
            r.tally.first_mismatch
        );
        assert!(r.tally.worst_ratio < 1.0 && r.tally.worst_ratio > 0.0);
        // The bound here is γ_300(2⁻²³)·Σ|ab| ≈ 3.6e-5 · 75: an error of 0.1 is far beyond.
        c[5 * 41 + 7] += 0.1;
        let m = float_matmul(&a, &b, &c, d, check, 1)
            .tally
            .first_mismatch
            .expect("corruption must be caught");
        assert_eq!((m.index, m.row, m.col), (5 * 41 + 7, Some(5), Some(7)));
    }

    #[test]
    fn the_bound_is_tight_enough_to_catch_one_ulp_per_term_errors() {
        // An error of 4·K ulps of the largest partial sum is beyond γ_K(2⁻²³)·Σ|ab| for
        // these inputs: the bound is not so loose that a systematically wrong kernel
        // (say one that drops a term) passes.
        let d = Dims { m: 4, k: 64, n: 4 };
        let (a, b) = operands(d);
        let mut c = matmul_f32(&a, &b, d);
        c[3] += (a[0] * b[3]).abs().max(1e-3); // one dropped-or-doubled term's worth
        let r = float_matmul(&a, &b, &c, d, MatmulCheck::Full, 1);
        assert!(r.tally.first_mismatch.is_some());
    }

    #[test]
    fn bit_checks_see_a_zero_of_the_wrong_sign() {
        let mut t = Tally::default();
        t.record_bits(3, Some("partial 2"), 0.0, -0.0);
        let m = t.first_mismatch.expect("-0 for +0 is a wrong bit");
        assert_eq!((m.index, m.error), (3, 0.0));
        let mut t = Tally::default();
        t.record_bits(0, None, 1.5, 1.5);
        assert!(t.first_mismatch.is_none() && t.checked == 1);
        // On the exact grid and on the bound path, a zero must be +0 where the product
        // is exactly zero: a row of A of zeros makes a row of C of zeros.
        let d = BIG;
        let g = Grid::for_k(d.k, 1.0).unwrap();
        let (mut a, b) = grid_operands(d, g);
        a[..d.k].iter_mut().for_each(|x| *x = 0.0);
        let mut c = matmul_f32(&a, &b, d);
        assert!(
            float_matmul(&a, &b, &c, d, MatmulCheck::ExactGrid(g), 7)
                .tally
                .first_mismatch
                .is_none()
        );
        c[5] = -0.0;
        let m = float_matmul(&a, &b, &c, d, MatmulCheck::ExactGrid(g), 7)
            .tally
            .first_mismatch
            .expect("-0 on the grid");
        assert_eq!((m.row, m.col), (Some(0), Some(5)));
        let small = Dims { m: 2, k: 3, n: 2 };
        let (mut a, b) = operands(small);
        a[..3].iter_mut().for_each(|x| *x = 0.0);
        let mut c = matmul_f32(&a, &b, small);
        assert!(
            float_matmul(&a, &b, &c, small, MatmulCheck::Full, 7)
                .tally
                .first_mismatch
                .is_none()
        );
        c[1] = -0.0;
        let m = float_matmul(&a, &b, &c, small, MatmulCheck::Full, 7)
            .tally
            .first_mismatch
            .expect("-0 on the bound path");
        assert_eq!((m.row, m.col), (Some(0), Some(1)));
    }

    #[test]
    fn the_probe_is_exact_in_f32_and_names_each_reduced_precision() {
        let d = Dims {
            m: 8,
            k: PROBE_K as usize,
            n: 8,
        };
        let a = probe_values(d.m * d.k, 0);
        let b = probe_values(d.k * d.n, 1);
        // Any order, FMA or not: the f32 product is the exact one.
        let f32_c = matmul_f32(&a, &b, d);
        let fma: Vec<f32> = (0..d.m * d.n)
            .map(|x| {
                let (i, j) = (x / d.n, x % d.n);
                a[i * d.k + 1].mul_add(b[d.n + j], a[i * d.k] * b[j])
            })
            .collect();
        let products = probe_products(&a, &b, d);
        assert_eq!(products[0].1, f32_c);
        assert_eq!(products[0].1, fma);
        for (name, p) in &products[1..] {
            assert_ne!(p, &f32_c, "{name} gives the f32 bits");
            let t = probe(&a, &b, p, d);
            let loc = t.first_mismatch.unwrap().location.unwrap();
            assert!(loc.contains(name), "{name}: {loc}");
        }
        let t = probe(&a, &b, &f32_c, d);
        assert!(t.first_mismatch.is_none());
    }

    #[test]
    fn a_float_bound_is_used_only_where_it_is_sharp() {
        // 2⁻¹⁰ of a typical |C| is passed at K = 424: longer products go on the grid.
        assert!(bound_ratio(423) <= SHARP_BOUND && bound_ratio(424) > SHARP_BOUND);
        let d = |m, k, n| Dims { m, k, n };
        assert_eq!(
            MatmulCheck::for_shape(d(512, 384, 512), 1.0),
            MatmulCheck::Full
        );
        for (m, k, n) in [(512, 512, 512), (16, 262144, 32), (1, 1 << 22, 1)] {
            assert!(
                matches!(
                    MatmulCheck::for_shape(d(m, k, n), 1.0),
                    MatmulCheck::ExactGrid(_)
                ),
                "{m}x{k}x{n}"
            );
        }
        assert!(MatmulCheck::refuse("matmul-f32", "1x16777216x1", d(1, 1 << 24, 1)).is_ok());
        assert!(MatmulCheck::refuse("matmul-f32", "s", d(1, (1 << 24) + 1, 1)).is_err());
    }

    #[test]
    fn tf32_rounding_fails_the_element_checked_shapes() {
        // Inputs rounded to TF32 (10 fraction bits) before an f32 product: what a
        // driver using TF32 inside an f32 kernel computes. The element-by-element shapes
        // of both suites must see it.
        let tf32 = |v: &[f32]| -> Vec<f32> {
            v.iter()
                .map(|x| f32::from_bits((x.to_bits() + 0x1000) & !0x1fff))
                .collect()
        };
        for d in [
            Dims { m: 1, k: 1, n: 1 },
            Dims {
                m: 127,
                k: 129,
                n: 131,
            },
            Dims {
                m: 512,
                k: 384,
                n: 512,
            },
        ] {
            let (a, b) = operands(d);
            let c = matmul_f32(&tf32(&a), &tf32(&b), d);
            let check = MatmulCheck::for_shape(d, 1.0);
            assert_eq!(check, MatmulCheck::Full, "{d:?}");
            assert!(
                float_matmul(&a, &b, &c, d, check, 1)
                    .tally
                    .first_mismatch
                    .is_some(),
                "{d:?}: TF32 passed"
            );
        }
    }

    #[test]
    fn the_grid_keeps_every_partial_sum_exact() {
        for (k, q) in [(1, 2048), (530, 177), (999, 129), (4096, 64), (8192, 45)] {
            let g = Grid::for_k(k, 1.0).unwrap();
            assert_eq!(g.q, q, "K {k}");
            assert!(k as u64 * u64::from(q * q) <= GRID_SPAN);
            assert!(f64::from(g.q) * g.unit <= 1.0 && f64::from(g.q) * g.unit * 2.0 > 1.0);
        }
        assert_eq!(Grid::for_k(1 << 24, 1.0).unwrap().q, 1);
        assert!(Grid::for_k((1 << 24) + 1, 1.0).is_none());
        // Two orders of summation, forwards and backwards, give the same bits as exact
        // integer arithmetic.
        let d = Dims {
            m: 3,
            k: 4096,
            n: 5,
        };
        let g = Grid::for_k(d.k, 1.0).unwrap();
        let (a, b) = grid_operands(d, g);
        for i in 0..d.m {
            for j in 0..d.n {
                let term = |p: usize| a[i * d.k + p] * b[p * d.n + j];
                let fwd = (0..d.k).fold(0f32, |s, p| s + term(p));
                let bwd = (0..d.k).rev().fold(0f32, |s, p| s + term(p));
                let exact: i64 = (0..d.k)
                    .map(|p| g.units(a[i * d.k + p].into()) * g.units(b[p * d.n + j].into()))
                    .sum();
                assert_eq!(fwd.to_bits(), bwd.to_bits());
                assert_eq!(f64::from(fwd), exact as f64 * g.unit * g.unit);
            }
        }
    }

    #[test]
    fn the_exact_check_catches_one_unit_anywhere_and_names_it() {
        let g = match MatmulCheck::for_shape(BIG, 1.0) {
            MatmulCheck::ExactGrid(g) => g,
            other => panic!("{other:?}"),
        };
        let (a, b) = grid_operands(BIG, g);
        let c = matmul_f32(&a, &b, BIG);
        let check = MatmulCheck::ExactGrid(g);
        let r = float_matmul(&a, &b, &c, BIG, check, 3);
        assert_eq!(r.method, "exact-grid");
        assert!(
            r.tally.first_mismatch.is_none(),
            "{:?}",
            r.tally.first_mismatch
        );
        assert_eq!(r.tally.checked, (BIG.m * BIG.n) as u64);
        let unit = (g.unit * g.unit) as f32;
        for (seed, idx) in [(1, 0), (2, BIG.m * BIG.n - 1), (3, 333 * BIG.n + 444)] {
            let mut bad = c.clone();
            bad[idx] += unit;
            let m = float_matmul(&a, &b, &bad, BIG, check, seed)
                .tally
                .first_mismatch
                .expect("one unit is caught");
            assert_eq!(m.index, idx as u64);
            assert_eq!(m.error, f64::from(unit));
        }
    }

    #[test]
    fn the_exact_check_catches_off_grid_values_rows_and_paired_errors() {
        let g = Grid::for_k(BIG.k, 1.0).unwrap();
        let (a, b) = grid_operands(BIG, g);
        let c = matmul_f32(&a, &b, BIG);
        let check = MatmulCheck::ExactGrid(g);
        let unit = (g.unit * g.unit) as f32;
        let first = |bad: &[f32], seed| {
            float_matmul(&a, &b, bad, BIG, check, seed)
                .tally
                .first_mismatch
                .map(|m| (m.row.unwrap(), m.col.unwrap()))
        };
        let at = |i: usize, j: usize| i * BIG.n + j;
        // Half a unit, NaN and infinity: off the grid.
        for v in [0.5 * unit, f32::NAN, f32::INFINITY] {
            let mut bad = c.clone();
            bad[at(100, 7)] = v;
            assert_eq!(first(&bad, 1), Some((100, 7)), "{v}");
        }
        // A whole row of zeros.
        let mut bad = c.clone();
        bad[at(200, 0)..at(201, 0)].fill(0.0);
        let (i, _) = first(&bad, 1).expect("a zero row is caught");
        assert_eq!(i, 200);
        // Errors that cancel in any ±1 or all-ones row sum: +e and −e in one row.
        for seed in 0..20 {
            let mut bad = c.clone();
            bad[at(7, 3)] += 5.0 * unit;
            bad[at(7, 9)] -= 5.0 * unit;
            assert_eq!(first(&bad, seed), Some((7, 3)), "check seed {seed}");
        }
    }

    #[test]
    fn u32_exact_both_paths_and_paired_high_bits() {
        for d in [Dims { m: 3, k: 5, n: 7 }, BIG] {
            let a = inputs::u32_values(2, stream::A, d.m * d.k);
            let b = inputs::u32_values(2, stream::B, d.k * d.n);
            let c: Vec<u32> = (0..d.m).flat_map(|i| u32_row(&a, &b, d, i)).collect();
            assert!(u32_matmul(&a, &b, &c, d, 4).tally.first_mismatch.is_none());
            let idx = d.m * d.n - 2;
            let mut bad = c.clone();
            bad[idx] ^= 1 << 31;
            let r = u32_matmul(&a, &b, &bad, d, 4);
            assert_eq!(r.tally.first_mismatch.expect("caught").index, idx as u64);
            if d == BIG {
                assert_eq!(r.method, "exact-freivalds");
                // Bit 31 flipped in two elements of one row: 2³¹·(x₁ + x₂) ≡ 0 for any
                // odd x₁, x₂; the uniform lanes see it. Each check seed misses with
                // probability 2⁻³¹, so none of these may.
                for seed in 0..64 {
                    let mut bad = c.clone();
                    bad[5 * d.n + 1] ^= 1 << 31;
                    bad[5 * d.n + 300] ^= 1 << 31;
                    let m = u32_matmul(&a, &b, &bad, d, seed)
                        .tally
                        .first_mismatch
                        .expect("paired high bits are caught");
                    assert_eq!((m.row, m.col), (Some(5), Some(1)), "check seed {seed}");
                }
            }
        }
    }

    #[test]
    fn sum_bound_holds_for_sequential_and_catches_error() {
        let x = inputs::f32_values(5, stream::A, 100_000, 1.0);
        let seq = x.iter().fold(0f32, |s, &v| s + v);
        assert!(float_sum(&x, seq, x.len() as u64).first_mismatch.is_none());
        let exact: f64 = x.iter().map(|&v| f64::from(v)).sum();
        assert!(
            float_sum(&x, exact as f32 + 1.0, 20)
                .first_mismatch
                .is_some()
        );
    }

    #[test]
    fn nan_output_fails() {
        let x = [1.0f32, 2.0];
        assert!(float_sum(&x, f32::NAN, 1).first_mismatch.is_some());
    }
}
