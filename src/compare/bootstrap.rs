//! The single-run method: a bootstrap confidence interval of the ratio of median
//! times, from a fixed seed so the verdict is reproducible.

use crate::inputs;
use crate::model::comparison::{PerfVerdict, RESAMPLES};
use crate::stats;

const BOOTSTRAP_SEED: u64 = 0x5eed_c0de;

/// 95 % bootstrap interval of median(current)/median(baseline), and the point ratio.
pub fn ratio_ci(base: &[u64], cur: &[u64], key: &str) -> (f64, [f64; 2]) {
    let b: Vec<f64> = base.iter().map(|&v| v as f64).collect();
    let c: Vec<f64> = cur.iter().map(|&v| v as f64).collect();
    let point = stats::median(&stats::sorted(&c)) / stats::median(&stats::sorted(&b));
    let stream = key
        .bytes()
        .fold(0u64, |h, x| inputs::mix64(h ^ u64::from(x)));
    let mut counter = 0u64;
    let mut resample = |v: &[f64]| -> f64 {
        let mut r: Vec<f64> = (0..v.len())
            .map(|_| {
                counter += 1;
                v[(inputs::word(BOOTSTRAP_SEED, stream, counter) % v.len() as u64) as usize]
            })
            .collect();
        r.sort_by(f64::total_cmp);
        stats::median(&r)
    };
    let mut ratios: Vec<f64> = (0..RESAMPLES)
        .map(|_| resample(&c) / resample(&b))
        .collect();
    ratios.sort_by(f64::total_cmp);
    (
        point,
        [
            stats::percentile(&ratios, 2.5),
            stats::percentile(&ratios, 97.5),
        ],
    )
}

pub fn perf_verdict(ci: [f64; 2], threshold: f64) -> PerfVerdict {
    if ci[0] > 1.0 + threshold {
        PerfVerdict::Slower
    } else if ci[1] < 1.0 - threshold {
        PerfVerdict::Faster
    } else if ci[0] >= 1.0 - threshold && ci[1] <= 1.0 + threshold {
        PerfVerdict::Unchanged
    } else {
        PerfVerdict::Inconclusive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(n: usize, base: f64, amp: f64, seed: u64) -> Vec<u64> {
        (0..n as u64)
            .map(|i| {
                (base * (1.0 + amp * ((inputs::word(seed, 9, i) % 2001) as f64 / 1000.0 - 1.0)))
                    as u64
            })
            .collect()
    }

    #[test]
    fn verdicts_from_the_interval() {
        assert_eq!(perf_verdict([1.2, 1.3], 0.05), PerfVerdict::Slower);
        assert_eq!(perf_verdict([0.7, 0.9], 0.05), PerfVerdict::Faster);
        assert_eq!(perf_verdict([0.98, 1.03], 0.05), PerfVerdict::Unchanged);
        assert_eq!(perf_verdict([1.0, 1.1], 0.05), PerfVerdict::Inconclusive);
    }

    #[test]
    fn bootstrap_is_reproducible_and_brackets_scaling() {
        let b = noisy(30, 1e6, 0.03, 1);
        let c: Vec<u64> = b.iter().map(|&v| (v as f64 * 1.25) as u64).collect();
        let (r, ci) = ratio_ci(&b, &c, "k");
        assert!((r - 1.25).abs() < 1e-3);
        assert!(ci[0] > 1.05 && ci[1] < 1.5);
        assert_eq!(ratio_ci(&b, &c, "k"), (r, ci));
    }

    #[test]
    fn noise_is_never_slower() {
        for seed in 0..50 {
            let b = noisy(20, 1e6, 0.03, seed);
            let c = noisy(20, 1e6, 0.03, seed + 1000);
            let (_, ci) = ratio_ci(&b, &c, "k");
            assert_ne!(
                perf_verdict(ci, 0.05),
                PerfVerdict::Slower,
                "seed {seed}: {ci:?}"
            );
        }
    }
}
