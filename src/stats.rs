//! Samples to summary statistics. The median and its order-statistic confidence
//! interval are what verdicts use: GPU timings have a long right tail (preemption,
//! clock ramps), so means and standard deviations are reported but not relied on.

use crate::model::Stats;

/// Two-sided 95 % normal quantile.
const Z95: f64 = 1.959_963_984_540_054;

pub fn median(sorted: &[f64]) -> f64 {
    percentile(sorted, 50.0)
}

/// Linear interpolation between closest ranks (the "R-7" definition), on sorted data.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    if sorted.len() == 1 {
        return sorted[0];
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

pub fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// The ranks (0-based) of the distribution-free confidence interval of the median: the
/// order statistics n/2 − z·√n/2 and 1 + n/2 + z·√n/2 (normal approximation to the
/// binomial); with fewer than 6 samples, the whole range.
fn median_ci_ranks(n: usize) -> (usize, usize) {
    if n < 6 {
        return (0, n - 1);
    }
    let half = Z95 * (n as f64).sqrt() / 2.0;
    let lo = ((n as f64 / 2.0 - half).floor().max(1.0) as usize) - 1;
    let hi = ((n as f64 / 2.0 + half + 1.0).ceil() as usize).min(n) - 1;
    (lo, hi)
}

/// That interval of the median (see [`median_ci_ranks`]).
pub fn median_ci(sorted: &[f64]) -> (f64, f64) {
    let (lo, hi) = median_ci_ranks(sorted.len());
    (sorted[lo], sorted[hi])
}

/// The probability that the order statistics of 0-based ranks `lo` and `hi` of `n`
/// samples bracket the true median: P(lo < B ≤ hi) for B ~ Binomial(n, ½), the number
/// of samples below it. For the whole range that is 1 − 2·2⁻ⁿ (0 for one sample, 0.75
/// for three, 0.94 for five): never the 1.0 a range seems to promise.
pub fn coverage(n: usize, lo: usize, hi: usize) -> f64 {
    if n <= 1000 {
        // Exactly, term by term: C(n, k)·2⁻ⁿ for k in lo + 1 ..= hi.
        let mut p = 0.5f64.powi(n as i32);
        let mut sum = 0.0;
        for k in 0..=hi {
            if k > lo {
                sum += p;
            }
            p = p * (n - k) as f64 / (k + 1) as f64;
        }
        return sum.clamp(0.0, 1.0);
    }
    use statrs::distribution::{Binomial, DiscreteCDF};
    let b = Binomial::new(0.5, n as u64).expect("a valid binomial");
    (b.cdf(hi as u64) - b.cdf(lo as u64)).clamp(0.0, 1.0)
}

pub fn summarize(samples_ns: &[u64]) -> Option<Stats> {
    if samples_ns.is_empty() {
        return None;
    }
    let raw: Vec<f64> = samples_ns.iter().map(|&s| s as f64).collect();
    let s = sorted(&raw);
    let n = s.len();
    let mean = s.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let med = median(&s);
    let mad = median(&sorted(
        &s.iter().map(|x| (x - med).abs()).collect::<Vec<_>>(),
    ));
    let (rlo, rhi) = median_ci_ranks(n);
    let (lo, hi) = (s[rlo], s[rhi]);
    Some(Stats {
        n: n as u32,
        min_ns: s[0],
        median_ns: med,
        mean_ns: mean,
        p95_ns: percentile(&s, 95.0),
        max_ns: s[n - 1],
        stddev_ns: var.sqrt(),
        mad_ns: mad,
        median_ci_low_ns: lo,
        median_ci_high_ns: hi,
        confidence: coverage(n, rlo, rhi),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(median(&s), 2.5);
        assert_eq!(percentile(&s, 0.0), 1.0);
        assert_eq!(percentile(&s, 100.0), 4.0);
        assert!((percentile(&s, 95.0) - 3.85).abs() < 1e-12);
    }

    #[test]
    fn summary_of_known_samples() {
        let st = summarize(&[10, 20, 30, 40, 1000]).unwrap();
        assert_eq!(st.median_ns, 30.0);
        assert_eq!(st.min_ns, 10.0);
        assert_eq!(st.max_ns, 1000.0);
        assert_eq!(st.mad_ns, 10.0);
        assert_eq!((st.median_ci_low_ns, st.median_ci_high_ns), (10.0, 1000.0));
    }

    #[test]
    fn the_interval_states_its_real_coverage() {
        // The whole range of n samples: 1 − 2·2⁻ⁿ.
        for (n, want) in [(1, 0.0), (3, 0.75), (5, 0.9375)] {
            let v: Vec<u64> = (1..=n).collect();
            let c = summarize(&v).unwrap().confidence;
            assert!((c - want).abs() < 1e-12, "n = {n}: {c}");
        }
        // From 6 samples on, the chosen ranks cover at least 95 %.
        for n in [6u64, 7, 10, 30, 50, 100, 2100] {
            let v: Vec<u64> = (1..=n).collect();
            let c = summarize(&v).unwrap().confidence;
            assert!((0.95..=1.0).contains(&c), "n = {n}: {c}");
        }
    }

    #[test]
    fn median_ci_brackets_the_median_and_narrows() {
        let s: Vec<f64> = (0..100).map(f64::from).collect();
        let (lo, hi) = median_ci(&s);
        assert!(lo < median(&s) && median(&s) < hi);
        // Binomial 95 % interval for n = 100 is ranks 40..61 (1-based).
        assert_eq!((lo, hi), (39.0, 60.0));
    }
}
