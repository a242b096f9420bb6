//! Two `result.json` files → per-kernel verdicts.
//!
//! Method: for each kernel present in both runs (paired by id and shape), a 95 %
//! bootstrap confidence interval of the ratio current/baseline of the median time
//! (2000 resamples from a fixed seed, so the verdict is reproducible). With threshold t:
//! `slower` only when the whole interval lies above 1 + t, `faster` when it lies below
//! 1 − t, `unchanged` when it lies within [1 − t, 1 + t], and `inconclusive` otherwise
//! (the noise is wider than the threshold) or when either run has fewer than
//! [`MIN_SAMPLES`] samples, or flagged its timing as suspect (busy or throttled GPU).
//! Correctness comes first: a kernel wrong now, or an exact checksum that changed,
//! is reported before any timing and makes the exit code 1. A kernel whose launch
//! configuration changed (variant, workgroup, constants, runtime checks: a tuning file,
//! `--unchecked`, a new build) keeps its verdict, with a note naming the change, so a
//! speed-up from tuning is not mistaken for one from the driver.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::export::{fmt_ns, markdown::adapter_line};
use crate::inputs;
use crate::kernels::params_text;
use crate::model::{KernelResult, KernelStatus, RunReport, read_report};
use crate::stats;

/// How to print a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Md,
    Json,
}

/// What to compare (`CompareConfig::from_args` in `config`).
#[derive(Debug, Clone)]
pub struct CompareConfig {
    pub baseline: PathBuf,
    pub current: PathBuf,
    /// Practical threshold in percent: smaller changes are `unchanged`.
    pub threshold_pct: f64,
    pub format: Format,
    /// Compare timings even when the adapter fingerprints differ.
    pub allow_different_adapter: bool,
}

/// What the comparison found, worst first: `main` turns it into the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finding {
    /// A kernel is wrong now, or an exact checksum changed.
    Wrong,
    /// A kernel is `slower`.
    Slower,
    /// Neither.
    Ok,
}
pub const MIN_SAMPLES: usize = 5;
pub const RESAMPLES: u64 = 2000;
const BOOTSTRAP_SEED: u64 = 0x5eed_c0de;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PerfVerdict {
    Faster,
    Slower,
    Unchanged,
    Inconclusive,
    NotComparable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Correctness {
    Ok,
    /// Verified in the baseline, wrong now.
    NewlyWrong,
    /// Wrong in both runs.
    StillWrong,
    /// An exact (integer) kernel's checksum differs for the same seed and shape.
    ChecksumChanged,
    /// Wrong in the baseline, verified now.
    Fixed,
    /// Not verified in one of the runs (skipped or environment error).
    NotVerified,
}

impl Correctness {
    pub fn is_wrong(self) -> bool {
        matches!(
            self,
            Correctness::NewlyWrong | Correctness::StillWrong | Correctness::ChecksumChanged
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelComparison {
    pub key: String,
    pub correctness: Correctness,
    pub verdict: PerfVerdict,
    pub baseline_median_ns: Option<f64>,
    pub current_median_ns: Option<f64>,
    /// current / baseline median time: above 1 is slower.
    pub ratio: Option<f64>,
    pub ratio_ci: Option<[f64; 2]>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub current: String,
    pub threshold_pct: f64,
    pub comparable: bool,
    pub adapter_differences: Vec<String>,
    pub kernels: Vec<KernelComparison>,
    pub only_in_baseline: Vec<String>,
    pub only_in_current: Vec<String>,
    pub finding: Finding,
}

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

/// Correctness first. An exact checksum is compared only where it must repeat: the same
/// inputs (seed and scale) and the same launch grid (reduce-f32's order depends on it).
fn correctness(b: &KernelResult, c: &KernelResult, same_scale: bool) -> Correctness {
    let grid = |k: &KernelResult| {
        k.launch
            .as_ref()
            .map(|l| (l.workgroup_size, l.workgroups.clone()))
    };
    use KernelStatus::*;
    match (b.status, c.status) {
        (Pass, Fail) => Correctness::NewlyWrong,
        (Fail, Fail) => Correctness::StillWrong,
        (Fail, Pass) => Correctness::Fixed,
        (_, Fail) => Correctness::NewlyWrong,
        (Pass, Pass) => {
            let (bv, cv) = (b.verification.as_ref(), c.verification.as_ref());
            match (bv, cv) {
                (Some(bv), Some(cv))
                    if bv.checksum_exact
                        && cv.checksum_exact
                        && b.seed == c.seed
                        && same_scale
                        && grid(b) == grid(c)
                        && bv.checksum != cv.checksum =>
                {
                    Correctness::ChecksumChanged
                }
                _ => Correctness::Ok,
            }
        }
        _ => Correctness::NotVerified,
    }
}

/// What differs between the two adapters, in words (empty when comparable).
pub fn adapter_differences(b: &RunReport, c: &RunReport) -> Vec<String> {
    match (&b.adapter, &c.adapter) {
        (Some(x), Some(y)) => {
            let mut d = Vec::new();
            let mut diff = |what: &str, p: String, q: String| {
                if p != q {
                    d.push(format!("{what}: '{p}' → '{q}'"));
                }
            };
            diff(
                "device",
                format!("{} [{:04x}:{:04x}]", x.name, x.vendor, x.device),
                format!("{} [{:04x}:{:04x}]", y.name, y.vendor, y.device),
            );
            diff("backend", x.backend.clone(), y.backend.clone());
            diff(
                "driver",
                format!("{} {}", x.driver, x.driver_info),
                format!("{} {}", y.driver, y.driver_info),
            );
            diff(
                "timing method",
                format!("{:?}", x.timing.method),
                format!("{:?}", y.timing.method),
            );
            d
        }
        _ => vec!["one of the runs has no adapter".into()],
    }
}

/// What differs between two runs' launch configurations of one kernel, in words.
pub fn launch_change(b: &KernelResult, c: &KernelResult) -> Option<String> {
    let (x, y) = (b.launch.as_ref()?, c.launch.as_ref()?);
    let mut d = Vec::new();
    // Results written before the variant was recorded have none: not a change.
    if !x.variant.is_empty() && !y.variant.is_empty() && x.variant != y.variant {
        d.push(format!("{} → {}", x.variant, y.variant));
    }
    if x.workgroup_size != y.workgroup_size {
        d.push(format!(
            "workgroup {:?} → {:?}",
            x.workgroup_size, y.workgroup_size
        ));
    }
    if x.runtime_checks != y.runtime_checks {
        d.push(format!("{} → {}", x.runtime_checks, y.runtime_checks));
    }
    if x.constants != y.constants {
        d.push(format!(
            "constants [{}] → [{}]",
            params_text(&x.constants),
            params_text(&y.constants)
        ));
    }
    (!d.is_empty()).then(|| format!("launch changed: {}", d.join(", ")))
}

pub fn compare(
    b: &RunReport,
    c: &RunReport,
    threshold_pct: f64,
    allow_different_adapter: bool,
    names: (&str, &str),
) -> Comparison {
    let t = threshold_pct / 100.0;
    let differences = adapter_differences(b, c);
    let comparable = differences.is_empty() || allow_different_adapter;
    let suspect = [b, c]
        .iter()
        .any(|r| r.hygiene.as_ref().is_some_and(|h| h.timing_suspect()));
    let mut kernels = Vec::new();
    for ck in &c.kernels {
        let Some(bk) = b.kernels.iter().find(|k| k.key() == ck.key()) else {
            continue;
        };
        let corr = correctness(bk, ck, b.config.input_scale == c.config.input_scale);
        let med = |k: &KernelResult| k.stats.as_ref().map(|s| s.median_ns);
        let mut kc = KernelComparison {
            key: ck.key(),
            correctness: corr,
            verdict: PerfVerdict::Inconclusive,
            baseline_median_ns: med(bk),
            current_median_ns: med(ck),
            ratio: None,
            ratio_ci: None,
            note: None,
        };
        if !comparable {
            kc.verdict = PerfVerdict::NotComparable;
            kc.note = Some("different adapters".into());
        } else if bk.status != KernelStatus::Pass || ck.status != KernelStatus::Pass {
            kc.note = Some("not verified in both runs: timing not compared".into());
        } else if bk.samples_ns.len() < MIN_SAMPLES || ck.samples_ns.len() < MIN_SAMPLES {
            kc.note = Some(format!("too few samples (need {MIN_SAMPLES} in each run)"));
        } else {
            let (r, ci) = ratio_ci(&bk.samples_ns, &ck.samples_ns, &kc.key);
            kc.ratio = Some(r);
            kc.ratio_ci = Some(ci);
            kc.verdict = perf_verdict(ci, t);
            if suspect && matches!(kc.verdict, PerfVerdict::Slower | PerfVerdict::Faster) {
                kc.verdict = PerfVerdict::Inconclusive;
                kc.note = Some("a run flagged its GPU busy or throttled".into());
            }
        }
        if let Some(change) = launch_change(bk, ck) {
            kc.note = Some(match kc.note.take() {
                Some(n) => format!("{n}; {change}"),
                None => change,
            });
        }
        kernels.push(kc);
    }
    // Wrong results first, then slower, then the rest in suite order.
    kernels.sort_by_key(|k| (!k.correctness.is_wrong(), k.verdict != PerfVerdict::Slower));
    let keys = |r: &RunReport| r.kernels.iter().map(KernelResult::key).collect::<Vec<_>>();
    let (bkeys, ckeys) = (keys(b), keys(c));
    let finding = if kernels.iter().any(|k| k.correctness.is_wrong()) {
        Finding::Wrong
    } else if kernels.iter().any(|k| k.verdict == PerfVerdict::Slower) {
        Finding::Slower
    } else {
        Finding::Ok
    };
    Comparison {
        baseline: names.0.to_owned(),
        current: names.1.to_owned(),
        threshold_pct,
        comparable,
        adapter_differences: differences,
        only_in_baseline: bkeys
            .iter()
            .filter(|k| !ckeys.contains(k))
            .cloned()
            .collect(),
        only_in_current: ckeys
            .iter()
            .filter(|k| !bkeys.contains(k))
            .cloned()
            .collect(),
        kernels,
        finding,
    }
}

fn word(v: PerfVerdict) -> &'static str {
    match v {
        PerfVerdict::Faster => "faster",
        PerfVerdict::Slower => "slower",
        PerfVerdict::Unchanged => "unchanged",
        PerfVerdict::Inconclusive => "inconclusive",
        PerfVerdict::NotComparable => "not comparable",
    }
}

fn cword(c: Correctness) -> &'static str {
    match c {
        Correctness::Ok => "ok",
        Correctness::NewlyWrong => "NEWLY WRONG",
        Correctness::StillWrong => "WRONG (also in baseline)",
        Correctness::ChecksumChanged => "CHECKSUM CHANGED",
        Correctness::Fixed => "fixed",
        Correctness::NotVerified => "not verified",
    }
}

fn cells(k: &KernelComparison) -> [String; 6] {
    let t = |v: Option<f64>| v.map(fmt_ns).unwrap_or_else(|| "-".into());
    let ratio = match (k.ratio, k.ratio_ci) {
        (Some(r), Some([lo, hi])) => format!("{r:.3} [{lo:.3}, {hi:.3}]"),
        _ => "-".into(),
    };
    let mut verdict = word(k.verdict).to_owned();
    if let Some(n) = &k.note {
        verdict.push_str(&format!(" ({n})"));
    }
    [
        k.key.clone(),
        cword(k.correctness).into(),
        t(k.baseline_median_ns),
        t(k.current_median_ns),
        ratio,
        verdict,
    ]
}

pub fn render_text(c: &Comparison, b: &RunReport, cur: &RunReport) -> String {
    let mut s = String::new();
    let line = |r: &RunReport| {
        r.adapter
            .as_ref()
            .map(adapter_line)
            .unwrap_or_else(|| "no adapter".into())
    };
    s.push_str(&format!(
        "baseline: {} ({}, {})\ncurrent:  {} ({}, {})\n",
        c.baseline,
        line(b),
        b.started_at,
        c.current,
        line(cur),
        cur.started_at
    ));
    if !c.adapter_differences.is_empty() {
        let gate = if c.comparable {
            "compared anyway (--allow-different-adapter)"
        } else {
            "timings NOT COMPARABLE; no regression is claimed"
        };
        s.push_str(&format!(
            "adapters differ: {} — {gate}\n",
            c.adapter_differences.join("; ")
        ));
    }
    s.push_str(&format!(
        "{:<28} {:<12} {:>10} {:>10} {:>26}  verdict (threshold {}%)\n",
        "kernel", "correctness", "baseline", "current", "ratio [95% CI]", c.threshold_pct
    ));
    for k in &c.kernels {
        let [key, corr, b, cu, r, v] = cells(k);
        s.push_str(&format!(
            "{key:<28} {corr:<12} {b:>10} {cu:>10} {r:>26}  {v}\n"
        ));
    }
    for k in &c.only_in_baseline {
        s.push_str(&format!("{k}: only in baseline\n"));
    }
    for k in &c.only_in_current {
        s.push_str(&format!("{k}: only in current\n"));
    }
    s
}

pub fn render_md(c: &Comparison) -> String {
    let mut s = format!(
        "### gpu-canary compare (threshold {}%)\n\n",
        c.threshold_pct
    );
    if !c.adapter_differences.is_empty() {
        s.push_str(&format!(
            "**Adapters differ**: {}{}\n\n",
            c.adapter_differences.join("; "),
            if c.comparable {
                ""
            } else {
                " — timings not comparable"
            }
        ));
    }
    s.push_str("| kernel | correctness | baseline | current | ratio [95% CI] | verdict |\n|---|---|---|---|---|---|\n");
    for k in &c.kernels {
        s.push_str(&format!("| {} |\n", cells(k).join(" | ")));
    }
    s
}

/// Reads both results, compares them and prints the comparison as `cfg` asks.
pub fn run(cfg: &CompareConfig) -> Result<Comparison> {
    let b = read_report(&cfg.baseline).map_err(Error::Usage)?;
    let c = read_report(&cfg.current).map_err(Error::Usage)?;
    let names = (
        cfg.baseline.display().to_string(),
        cfg.current.display().to_string(),
    );
    let cmp = compare(
        &b,
        &c,
        cfg.threshold_pct,
        cfg.allow_different_adapter,
        (&names.0, &names.1),
    );
    match cfg.format {
        Format::Text => print!("{}", render_text(&cmp, &b, &c)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&cmp).expect("comparison serialises")
        ),
        Format::Md => {
            let md = render_md(&cmp);
            print!("{md}");
            crate::export::append_step_summary(md.as_bytes())
                .map_err(|e| Error::io(format!("cannot append to GITHUB_STEP_SUMMARY: {e}")))?;
        }
    }
    let _ = std::io::stdout().flush();
    Ok(cmp)
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
