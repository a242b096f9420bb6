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

/// Distribution-free confidence interval of the median: the order statistics of ranks
/// n/2 − z·√n/2 and 1 + n/2 + z·√n/2 (normal approximation to the binomial). With fewer than 6 samples
/// no interval at 95 % exists, so the full range is returned.
pub fn median_ci(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len();
    if n < 6 {
        return (sorted[0], sorted[n - 1]);
    }
    let half = Z95 * (n as f64).sqrt() / 2.0;
    let lo = ((n as f64 / 2.0 - half).floor().max(1.0) as usize) - 1;
    let hi = ((n as f64 / 2.0 + half + 1.0).ceil() as usize).min(n) - 1;
    (sorted[lo], sorted[hi])
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
    let (lo, hi) = median_ci(&s);
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
        confidence: if n < 6 { 1.0 } else { 0.95 },
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
    fn median_ci_brackets_the_median_and_narrows() {
        let s: Vec<f64> = (0..100).map(f64::from).collect();
        let (lo, hi) = median_ci(&s);
        assert!(lo < median(&s) && median(&s) < hi);
        // Binomial 95 % interval for n = 100 is ranks 40..61 (1-based).
        assert_eq!((lo, hi), (39.0, 60.0));
    }
}
