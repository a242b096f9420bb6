//! GPU output against CPU references, with error bounds that come from the arithmetic.
//!
//! # The bounds
//!
//! A dot product of length K computed in floating point, in any order, satisfies
//! |fl(Σ aᵢbᵢ) − Σ aᵢbᵢ| ≤ γ_K · Σ|aᵢbᵢ|, with γ_K = K·u / (1 − K·u) (Higham, *Accuracy
//! and Stability of Numerical Algorithms*, §3.1). For f32 with round-to-nearest,
//! u = 2⁻²⁴. We use **u = 2⁻²³, i.e. a constant of 2**, because not every backend
//! promises round-to-nearest for every operation (tensor cores truncate, some drivers
//! contract or reassociate); any faithfully rounded operation errs by less than one ulp,
//! which is 2u. The f64 reference's own error, γ_K(2⁻⁵³)·Σ|aᵢbᵢ|, is added on top.
//!
//! A sum of N values by a fixed tree whose deepest path has L additions satisfies the
//! same bound with γ_L in place of γ_K; each kernel states its L.
//!
//! Integer kernels are exact: WGSL's `u32` arithmetic wraps, so we compare modulo 2³².

use rayon::prelude::*;

use crate::kernels::inputs::{self, stream};
use crate::model::{Mismatch, Verification};

/// Faithful rounding's unit error for f32 (see the module docs).
pub const F32_UNIT: f64 = 1.0 / (1u64 << 23) as f64;
/// The f64 reference's unit roundoff.
pub const F64_UNIT: f64 = 1.0 / (1u64 << 53) as f64;
/// Products up to this many multiply-adds are checked element by element; above it,
/// Freivalds plus sampled elements keep the check O(n²).
pub const FULL_CHECK_MAX_MACS: u64 = 1 << 27;
/// Elements checked one by one on the Freivalds path.
pub const SAMPLED_ELEMENTS: usize = 1024;
/// Random vectors for Freivalds.
pub const FREIVALDS_VECTORS: u64 = 2;

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

/// Running worst case over compared elements.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub checked: u64,
    pub max_error: f64,
    pub bound_at_worst: f64,
    pub worst_ratio: f64,
    pub first_mismatch: Option<Mismatch>,
}

impl Tally {
    pub fn record(
        &mut self,
        index: u64,
        row_col: Option<(u64, u64)>,
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
            let candidate = Mismatch {
                index,
                row: row_col.map(|r| r.0),
                col: row_col.map(|r| r.1),
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
        self
    }

    pub fn into_verification(
        self,
        method: &str,
        output: &[u8],
        exact: bool,
        deterministic: bool,
    ) -> Verification {
        Verification {
            method: method.to_owned(),
            passed: self.first_mismatch.is_none() && deterministic,
            checked_elements: self.checked,
            max_error: self.max_error,
            bound: self.bound_at_worst,
            max_error_ratio: self.worst_ratio,
            checksum: checksum(output),
            checksum_exact: exact,
            deterministic,
            first_mismatch: self.first_mismatch,
        }
    }
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
        t.record_element(d.n, i, j, dot[j], c, dot_bound(d.k as u64, abs[j]));
    }
    t
}

/// Float matmul: every element for small products; Freivalds plus sampled elements
/// (and full rows wherever Freivalds flags one) for large ones.
pub fn float_matmul<T: Copy + Into<f64> + Sync>(
    a: &[T],
    b: &[T],
    c: &[f32],
    d: Dims,
    seed: u64,
) -> (Tally, &'static str) {
    if d.macs() <= FULL_CHECK_MAX_MACS {
        let t = (0..d.m)
            .into_par_iter()
            .map(|i| check_float_row(a, b, c, d, i))
            .reduce(Tally::default, Tally::merge);
        return (t, "full");
    }
    let mut tally = sampled_float(a, b, c, d, seed);
    let mut flagged = Vec::new();
    for v in 0..FREIVALDS_VECTORS {
        flagged.extend(freivalds_float(a, b, c, d, seed, v));
    }
    flagged.sort_by_key(|f| f.0);
    flagged.dedup_by_key(|f| f.0);
    // Localise: the first flagged rows are checked in full so the report names the
    // element. A handful is enough to name the first mismatch.
    for &(i, expected, actual, bound) in flagged.iter().take(4).map(|f| &f.1) {
        let row = check_float_row(a, b, c, d, i);
        if row.first_mismatch.is_some() {
            tally = tally.merge(row);
        } else {
            // The row's errors are each within bound but add up beyond the row bound.
            let mut t = Tally::default();
            t.record(
                (i * d.n) as u64,
                Some((i as u64, 0)),
                expected,
                actual,
                bound,
            );
            if let Some(m) = &mut t.first_mismatch {
                m.col = None;
            }
            tally = tally.merge(t);
        }
    }
    (tally, "freivalds+sampled")
}

type Flag = (usize, (usize, f64, f64, f64));

/// One Freivalds pass with x ∈ {±1}ⁿ: compares C·x with A·(B·x). Row i may differ by at
/// most γ·(|A|·|B|·1)ᵢ from the device's rounding, plus the f64 evaluation's own error.
/// Returns the rows beyond that bound with (expected, actual, bound).
fn freivalds_float<T: Copy + Into<f64> + Sync>(
    a: &[T],
    b: &[T],
    c: &[f32],
    d: Dims,
    seed: u64,
    v: u64,
) -> Vec<Flag> {
    let x: Vec<f64> = (0..d.n as u64)
        .map(|j| {
            if inputs::word(seed ^ v, stream::X, j) & 1 == 0 {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    // t = B·x and r = |B|·1, row by row of B.
    let (t, r): (Vec<f64>, Vec<f64>) = (0..d.k)
        .into_par_iter()
        .map(|p| {
            let row = &b[p * d.n..(p + 1) * d.n];
            row.iter().zip(&x).fold((0.0, 0.0), |(s, q), (&bv, &xv)| {
                let bv: f64 = bv.into();
                (s + bv * xv, q + bv.abs())
            })
        })
        .unzip();
    let slack_unit = (d.n + d.k + 2) as f64 * 2.0 * F64_UNIT;
    (0..d.m)
        .into_par_iter()
        .filter_map(|i| {
            let arow = &a[i * d.k..(i + 1) * d.k];
            let (z, abs) =
                arow.iter()
                    .zip(t.iter().zip(&r))
                    .fold((0.0, 0.0), |(z, s), (&av, (&tv, &rv))| {
                        let av: f64 = av.into();
                        (z + av * tv, s + av.abs() * rv)
                    });
            let crow = &c[i * d.n..(i + 1) * d.n];
            let (y, cabs) = crow.iter().zip(&x).fold((0.0, 0.0), |(y, s), (&cv, &xv)| {
                let cv = f64::from(cv);
                (y + cv * xv, s + cv.abs())
            });
            let bound = gamma(d.k as u64, F32_UNIT) * abs
                + slack_unit * (abs + cabs)
                + d.n as f64 * d.k as f64 * f32::MIN_POSITIVE as f64;
            let err = (y - z).abs();
            // NaN in the output compares false: it must count as beyond the bound.
            let within = err.partial_cmp(&bound).is_some_and(|o| o.is_le());
            (!within).then_some((i, (i, z, y, bound)))
        })
        .collect()
}

fn sample_positions(d: Dims, seed: u64) -> Vec<(usize, usize)> {
    let mut pos = vec![(0, 0), (0, d.n - 1), (d.m - 1, 0), (d.m - 1, d.n - 1)];
    pos.extend((0..SAMPLED_ELEMENTS as u64).map(|s| {
        let w = inputs::word(seed, stream::PROBE, s);
        (
            ((w >> 32) % d.m as u64) as usize,
            ((w & 0xffff_ffff) % d.n as u64) as usize,
        )
    }));
    pos
}

fn sampled_float<T: Copy + Into<f64> + Sync>(
    a: &[T],
    b: &[T],
    c: &[f32],
    d: Dims,
    seed: u64,
) -> Tally {
    sample_positions(d, seed)
        .into_par_iter()
        .map(|(i, j)| {
            let (mut dot, mut abs) = (0.0f64, 0.0f64);
            for p in 0..d.k {
                let prod = a[i * d.k + p].into() * b[p * d.n + j].into();
                dot += prod;
                abs += prod.abs();
            }
            let mut t = Tally::default();
            t.record_element(d.n, i, j, dot, c, dot_bound(d.k as u64, abs));
            t
        })
        .reduce(Tally::default, Tally::merge)
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

/// Integer matmul, exact: every element for small products; for large ones Freivalds
/// modulo 2³² with odd random x (an error e ≠ 0 in one element gives e·xⱼ ≠ 0 mod 2³²,
/// so a single wrong element is always caught), then the flagged rows in full.
pub fn u32_matmul(a: &[u32], b: &[u32], c: &[u32], d: Dims, seed: u64) -> (Tally, &'static str) {
    if d.macs() <= FULL_CHECK_MAX_MACS {
        let t = (0..d.m)
            .into_par_iter()
            .map(|i| check_u32_row(a, b, c, d, i))
            .reduce(Tally::default, Tally::merge);
        return (t, "exact-full");
    }
    let mut flagged: Vec<usize> = Vec::new();
    for v in 0..FREIVALDS_VECTORS {
        let x: Vec<u32> = (0..d.n as u64)
            .map(|j| (inputs::word(seed ^ v, stream::X, j) as u32) | 1)
            .collect();
        let dotx = |row: &[u32]| {
            row.iter()
                .zip(&x)
                .fold(0u32, |s, (&r, &xv)| s.wrapping_add(r.wrapping_mul(xv)))
        };
        let t: Vec<u32> = (0..d.k)
            .into_par_iter()
            .map(|p| dotx(&b[p * d.n..(p + 1) * d.n]))
            .collect();
        flagged.par_extend((0..d.m).into_par_iter().filter(|&i| {
            let z = a[i * d.k..(i + 1) * d.k]
                .iter()
                .zip(&t)
                .fold(0u32, |s, (&av, &tv)| s.wrapping_add(av.wrapping_mul(tv)));
            z != dotx(&c[i * d.n..(i + 1) * d.n])
        }));
    }
    flagged.sort_unstable();
    flagged.dedup();
    // Sampled elements still count as checked, and catch nothing Freivalds would miss,
    // but they make `checked_elements` mean the same on both paths.
    let mut tally = sample_positions(d, seed)
        .into_par_iter()
        .map(|(i, j)| {
            let e = (0..d.k).fold(0u32, |s, p| {
                s.wrapping_add(a[i * d.k + p].wrapping_mul(b[p * d.n + j]))
            });
            let mut t = Tally::default();
            t.record_element(d.n, i, j, f64::from(e), c, 0.0);
            t
        })
        .reduce(Tally::default, Tally::merge);
    for &i in flagged.iter().take(4) {
        tally = tally.merge(check_u32_row(a, b, c, d, i));
    }
    (tally, "exact-freivalds+sampled")
}

/// A sum of f32 values, whose deepest addition path has `depth` additions.
pub fn float_sum(x: &[f32], actual: f32, depth: u64) -> Tally {
    let (sum, abs) = x
        .par_iter()
        .fold(
            || (0.0f64, 0.0f64),
            |(s, q), &v| (s + f64::from(v), q + f64::from(v).abs()),
        )
        .reduce(|| (0.0, 0.0), |p, q| (p.0 + q.0, p.1 + q.1));
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

    #[test]
    fn f32_product_passes_and_a_corrupted_element_is_named() {
        let d = Dims {
            m: 37,
            k: 300,
            n: 41,
        };
        let (a, b) = operands(d);
        let mut c = matmul_f32(&a, &b, d);
        let (t, method) = float_matmul(&a, &b, &c, d, 1);
        assert_eq!(method, "full");
        assert!(t.first_mismatch.is_none(), "{:?}", t.first_mismatch);
        assert!(t.worst_ratio < 1.0 && t.worst_ratio > 0.0);
        // The bound here is γ_300(2⁻²³)·Σ|ab| ≈ 3.6e-5 · 75: an error of 0.1 is far beyond.
        c[5 * 41 + 7] += 0.1;
        let (t, _) = float_matmul(&a, &b, &c, d, 1);
        let m = t.first_mismatch.expect("corruption must be caught");
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
        let (t, _) = float_matmul(&a, &b, &c, d, 1);
        assert!(t.first_mismatch.is_some());
    }

    #[test]
    fn freivalds_path_catches_and_localises_corruption() {
        let d = Dims {
            m: 520,
            k: 530,
            n: 510,
        };
        assert!(d.macs() > FULL_CHECK_MAX_MACS);
        let (a, b) = operands(d);
        let mut c = matmul_f32(&a, &b, d);
        let (t, method) = float_matmul(&a, &b, &c, d, 9);
        assert_eq!(method, "freivalds+sampled");
        assert!(t.first_mismatch.is_none(), "{:?}", t.first_mismatch);
        let idx = 333 * 510 + 444;
        c[idx] = -c[idx] + 0.5;
        let (t, _) = float_matmul(&a, &b, &c, d, 9);
        let m = t.first_mismatch.expect("corruption must be caught");
        assert_eq!(m.index, idx as u64);
    }

    #[test]
    fn u32_exact_both_paths() {
        for d in [
            Dims { m: 3, k: 5, n: 7 },
            Dims {
                m: 520,
                k: 530,
                n: 510,
            },
        ] {
            let a = inputs::u32_values(2, stream::A, d.m * d.k);
            let b = inputs::u32_values(2, stream::B, d.k * d.n);
            let mut c: Vec<u32> = (0..d.m).flat_map(|i| u32_row(&a, &b, d, i)).collect();
            let (t, _) = u32_matmul(&a, &b, &c, d, 4);
            assert!(t.first_mismatch.is_none());
            let idx = d.m * d.n - 2;
            c[idx] ^= 1 << 31;
            let (t, _) = u32_matmul(&a, &b, &c, d, 4);
            assert_eq!(t.first_mismatch.expect("caught").index, idx as u64);
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
