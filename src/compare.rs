//! A run against a baseline → per-kernel verdicts. Correctness comes first: a kernel
//! wrong now, or an exact checksum that changed, is reported before any timing and
//! makes the exit code 1.
//!
//! Timing is judged one of two ways, and the output says which:
//!
//! - **Window** (five or more comparable baseline runs, [`MIN_WINDOW`]): the run is held
//!   against the *between-run* spread of the baselines, which is what a lane's noise
//!   really is (boost clocks, neighbours, driver state), not the within-run spread of
//!   one run's samples. Each run is summarised by its fastest sample: timing noise only
//!   ever adds time, so the minimum is the estimate a neighbour or a preemption moves
//!   least (Chen and Revels, *Robust benchmarking in noisy environments*, 2016), while a
//!   slower kernel moves it as much as the median. On log minima ℓ₁…ℓₙ with mean m and
//!   standard deviation s, a one-sided prediction interval for one new run is
//!   m ± t(1 − α, n − 1)·s·√(1 + 1/n), with α = [`WINDOW_ALPHA`]. `slower` needs the
//!   current log minimum above that bound *and* a ratio to the window's centre (the
//!   geometric mean of its minima) beyond 1 + threshold; `faster` the mirror;
//!   `inconclusive` a ratio beyond the threshold that the window's noise explains;
//!   `unchanged` otherwise.
//! - **Single run** (fewer comparable runs: the newest one): a 95 % bootstrap confidence
//!   interval of the ratio current/baseline of the median time (2000 resamples from a
//!   fixed seed, so the verdict is reproducible). With threshold t: `slower` only when
//!   the whole interval lies above 1 + t, `faster` when it lies below 1 − t,
//!   `unchanged` when it lies within [1 − t, 1 + t], and `inconclusive` otherwise or
//!   when either run has fewer than [`MIN_SAMPLES`] samples.
//!
//! A baseline run is comparable when its adapter (device, driver, backend, timing
//! method), suite and hygiene (no busy or throttled GPU, no degraded PCIe link) allow it; within a kernel, when
//! its launch configuration is the current one's. Runs left out are listed with why. A
//! current run whose hygiene is suspect gets `inconclusive` instead of a speed verdict.
//! A kernel whose launch configuration changed against the newest baseline keeps its
//! verdict, with a note naming the change, so a speed-up from tuning is not mistaken
//! for one from the driver.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::export::{fmt_ns, markdown::adapter_line};
use crate::inputs;
use crate::kernels::params_text;
use crate::model::{
    KernelResult, KernelStatus, RunReport, RunStatus, Verdict, find_results, read_report,
};
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
    /// Baseline result files, or folders of them.
    pub baselines: Vec<PathBuf>,
    pub current: PathBuf,
    /// Practical threshold in percent: smaller changes are `unchanged`.
    pub threshold_pct: f64,
    pub format: Format,
    /// Compare timings even when the adapter fingerprints differ.
    pub allow_different_adapter: bool,
    /// `--export-metrics`: the finding and each kernel's verdict as Prometheus metrics.
    pub export_metrics: Option<PathBuf>,
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
    /// No wrong result, but the current run stopped early or is partial: it is no
    /// evidence that nothing regressed.
    Inconclusive,
}
pub const MIN_SAMPLES: usize = 5;
/// Comparable baseline runs the window method needs; fewer fall back to one run.
pub const MIN_WINDOW: usize = 5;
/// One-sided level of the window's prediction interval: the chance that an unchanged
/// run from the same (normal) distribution of log minima is called significant.
pub const WINDOW_ALPHA: f64 = 0.001;
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

/// How a kernel's timing was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Against the between-run spread of a window of baseline runs.
    Window,
    /// Against one baseline run's samples.
    SingleRun,
}

/// The window a kernel was judged against.
#[derive(Debug, Clone, Serialize)]
pub struct WindowStats {
    /// Comparable baseline runs in it.
    pub runs: usize,
    /// The oldest and newest runs' start times.
    pub from: String,
    pub to: String,
    /// Standard deviation of the runs' log minima: the relative run-to-run spread.
    pub spread: f64,
    /// Where the current run lies: (its log median − the window's mean) / spread.
    pub z: f64,
    /// Percentage of the window's minima below the current run's.
    pub percentile: f64,
    /// The prediction interval's half-width as a ratio: beyond ×limit (or ÷limit) the
    /// window's noise does not explain the current run.
    pub limit: f64,
    /// Each run's fastest sample, oldest first (ns), and the current run's.
    pub minima_ns: Vec<f64>,
    pub current_min_ns: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelComparison {
    pub key: String,
    pub correctness: Correctness,
    pub verdict: PerfVerdict,
    pub method: Method,
    /// The single baseline's median, or the window's centre (the geometric mean of its
    /// runs' minima).
    pub baseline_median_ns: Option<f64>,
    /// The current run's median, or with a window its fastest sample.
    pub current_median_ns: Option<f64>,
    /// current / baseline median time: above 1 is slower.
    pub ratio: Option<f64>,
    /// The single-run method's 95 % interval of the ratio.
    pub ratio_ci: Option<[f64; 2]>,
    pub window: Option<WindowStats>,
    pub note: Option<String>,
}

/// A baseline run that was not used, and why.
#[derive(Debug, Clone, Serialize)]
pub struct LeftOut {
    pub run: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The baseline: one file, or "N runs" of a window.
    pub baseline: String,
    pub current: String,
    pub threshold_pct: f64,
    /// Baseline runs read, and those whose adapter, suite and hygiene let them in.
    pub baseline_runs: usize,
    pub comparable_runs: usize,
    pub left_out: Vec<LeftOut>,
    pub comparable: bool,
    /// What differs between the newest baseline's adapter and the current one.
    pub adapter_differences: Vec<String>,
    pub kernels: Vec<KernelComparison>,
    pub only_in_baseline: Vec<String>,
    pub only_in_current: Vec<String>,
    /// Kernels wrong in the current run with nothing to compare them with: the finding
    /// is `wrong` all the same.
    pub wrong_now: Vec<String>,
    /// Why the current run is no evidence that nothing regressed (it stopped early or
    /// is partial); the baseline's kernels it lacks are `only_in_baseline`.
    pub incomplete: Option<String>,
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

/// The window's prediction interval for one more run, on log values (module docs).
#[derive(Debug, Clone, Copy)]
pub struct Prediction {
    /// Mean and standard deviation of the logs.
    pub mean: f64,
    pub spread: f64,
    /// Half-width: t(1 − α, n − 1)·s·√(1 + 1/n).
    pub half: f64,
}

impl Prediction {
    /// Of at least two positive values (medians in ns, or throughputs: the interval
    /// of a reciprocal is the reciprocal's).
    pub fn of(values: &[f64]) -> Prediction {
        use statrs::distribution::{ContinuousCDF, StudentsT};
        let n = values.len() as f64;
        let logs: Vec<f64> = values.iter().map(|m| m.ln()).collect();
        let mean = logs.iter().sum::<f64>() / n;
        let spread = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let t = StudentsT::new(0.0, 1.0, n - 1.0)
            .expect("n ≥ 2 degrees of freedom")
            .inverse_cdf(1.0 - WINDOW_ALPHA);
        Prediction {
            mean,
            spread,
            half: t * spread * (1.0 + 1.0 / n).sqrt(),
        }
    }

    /// The interval's ends, back from logs.
    pub fn bounds(&self) -> (f64, f64) {
        ((self.mean - self.half).exp(), (self.mean + self.half).exp())
    }

    /// The window verdict for a run whose summary (its fastest sample, ns) is
    /// `current`, with its ratio to the window's centre. See the module docs.
    pub fn verdict(&self, current: f64, threshold: f64) -> (PerfVerdict, f64) {
        let d = current.ln() - self.mean;
        let ratio = d.exp();
        let verdict = if ratio > 1.0 + threshold {
            if d > self.half {
                PerfVerdict::Slower
            } else {
                PerfVerdict::Inconclusive
            }
        } else if ratio < 1.0 - threshold {
            if d < -self.half {
                PerfVerdict::Faster
            } else {
                PerfVerdict::Inconclusive
            }
        } else {
            PerfVerdict::Unchanged
        };
        (verdict, ratio)
    }
}

/// Why a baseline run cannot stand beside `c` (adapter, suite, hygiene), if it cannot.
fn run_gate(b: &RunReport, c: &RunReport, allow_different_adapter: bool) -> Option<String> {
    let diff = adapter_differences(b, c);
    if !diff.is_empty() && !allow_different_adapter {
        return Some(format!("another adapter ({})", diff.join("; ")));
    }
    if b.config.suite != c.config.suite {
        return Some(format!(
            "suite {} (the current run is {})",
            b.config.suite, c.config.suite
        ));
    }
    if b.hygiene.as_ref().is_some_and(|h| h.timing_suspect()) {
        return Some("its GPU was busy, throttled or on a degraded PCIe link".into());
    }
    if let Some(why) = incomplete(b) {
        return Some(format!("{why}: not a baseline"));
    }
    if !matches!(b.verdict, Verdict::Pass | Verdict::Drift) {
        return Some(format!(
            "its verdict was {}: not a baseline",
            crate::export::markdown::verdict_word(b.verdict)
        ));
    }
    None
}

/// Why a run is not a whole measurement, if it is not: stopped, or still partial.
pub fn incomplete(r: &RunReport) -> Option<String> {
    match (&r.stopped, r.status) {
        (Some(s), _) => Some(format!("it stopped early ({})", s.message)),
        (None, RunStatus::Partial) => Some("it is partial (never finished)".into()),
        (None, RunStatus::Complete) => None,
    }
}

/// A kernel's fastest sample (the window's summary of a run), or its recorded
/// minimum where it has no samples.
fn min_ns(k: &KernelResult) -> Option<f64> {
    match k.samples_ns.iter().min() {
        Some(&m) => Some(m as f64),
        None => k.stats.as_ref().map(|s| s.min_ns),
    }
}

/// A kernel's median time, from its samples (what the verdicts are about), or its
/// recorded statistics where it has none.
fn median_ns(k: &KernelResult) -> Option<f64> {
    if k.samples_ns.is_empty() {
        return k.stats.as_ref().map(|s| s.median_ns);
    }
    let v: Vec<f64> = k.samples_ns.iter().map(|&x| x as f64).collect();
    Some(stats::median(&stats::sorted(&v)))
}

/// `c` against the baseline runs `base` (name, report), newest last or in any order.
pub fn compare(
    base: &[(String, RunReport)],
    c: &RunReport,
    threshold_pct: f64,
    allow_different_adapter: bool,
    current_name: &str,
) -> Comparison {
    let t = threshold_pct / 100.0;
    let mut sorted: Vec<&(String, RunReport)> = base.iter().collect();
    sorted.sort_by(|x, y| x.1.started_at.cmp(&y.1.started_at));
    let mut left_out = Vec::new();
    let mut window: Vec<&(String, RunReport)> = Vec::new();
    for r in &sorted {
        match run_gate(&r.1, c, allow_different_adapter) {
            Some(why) => left_out.push(LeftOut {
                run: r.0.clone(),
                why,
            }),
            None => window.push(r),
        }
    }
    // The single baseline: the newest comparable run, or the newest of all.
    let newest = window.last().or(sorted.last()).copied();
    let differences = newest
        .map(|(_, b)| adapter_differences(b, c))
        .unwrap_or_default();
    let comparable = !window.is_empty();
    let suspect = c.hygiene.as_ref().is_some_and(|h| h.timing_suspect())
        || newest.is_some_and(|(_, b)| b.hygiene.as_ref().is_some_and(|h| h.timing_suspect()));
    let mut kernels = Vec::new();
    for ck in &c.kernels {
        let key = ck.key();
        // The newest baseline run that has this kernel: for correctness, the single-run
        // method and the launch note.
        let pool: &[&(String, RunReport)] = if comparable { &window } else { &sorted };
        let Some((bk, b)) = pool
            .iter()
            .rev()
            .find_map(|(_, r)| r.kernels.iter().find(|k| k.key() == key).map(|k| (k, r)))
        else {
            continue;
        };
        let mut kc = KernelComparison {
            key: key.clone(),
            correctness: correctness(bk, ck, b.config.input_scale == c.config.input_scale),
            verdict: PerfVerdict::Inconclusive,
            method: Method::SingleRun,
            baseline_median_ns: median_ns(bk),
            current_median_ns: median_ns(ck),
            ratio: None,
            ratio_ci: None,
            window: None,
            note: None,
        };
        // The window for this kernel: verified runs with its launch configuration.
        let runs: Vec<(&RunReport, &KernelResult)> = window
            .iter()
            .filter_map(|(_, r)| {
                r.kernels
                    .iter()
                    .find(|k| {
                        k.key() == key
                            && k.status == KernelStatus::Pass
                            && k.samples_ns.len() >= MIN_SAMPLES
                            && launch_change(k, ck).is_none()
                    })
                    .map(|k| (r, k))
            })
            .collect();
        if !comparable {
            kc.verdict = PerfVerdict::NotComparable;
            kc.note = Some(match left_out.last() {
                Some(l) if !l.why.starts_with("another adapter") => l.why.clone(),
                _ => "different adapters".into(),
            });
        } else if ck.status != KernelStatus::Pass {
            kc.note = Some("not verified in the current run: timing not compared".into());
        } else if ck.samples_ns.len() < MIN_SAMPLES {
            kc.note = Some(format!("too few samples (need {MIN_SAMPLES})"));
        } else if runs.len() >= MIN_WINDOW {
            let minima: Vec<f64> = runs.iter().filter_map(|(_, k)| min_ns(k)).collect();
            let cur = min_ns(ck).unwrap_or_default();
            let p = Prediction::of(&minima);
            let (verdict, ratio) = p.verdict(cur, t);
            let Prediction { mean, spread, half } = p;
            kc.method = Method::Window;
            kc.current_median_ns = Some(cur);
            kc.verdict = verdict;
            kc.ratio = Some(ratio);
            kc.baseline_median_ns = Some(mean.exp());
            kc.window = Some(WindowStats {
                runs: runs.len(),
                from: runs
                    .first()
                    .map(|r| r.0.started_at.clone())
                    .unwrap_or_default(),
                to: runs
                    .last()
                    .map(|r| r.0.started_at.clone())
                    .unwrap_or_default(),
                spread,
                z: if spread > 0.0 {
                    (cur.ln() - mean) / spread
                } else {
                    0.0
                },
                percentile: 100.0 * minima.iter().filter(|&&m| m < cur).count() as f64
                    / minima.len() as f64,
                limit: half.exp(),
                minima_ns: minima,
                current_min_ns: cur,
            });
        } else if bk.status != KernelStatus::Pass {
            kc.note = Some("not verified in the baseline: timing not compared".into());
        } else if bk.samples_ns.len() < MIN_SAMPLES {
            kc.note = Some(format!("too few samples (need {MIN_SAMPLES} in each run)"));
        } else {
            let (r, ci) = ratio_ci(&bk.samples_ns, &ck.samples_ns, &key);
            kc.ratio = Some(r);
            kc.ratio_ci = Some(ci);
            kc.verdict = perf_verdict(ci, t);
            if base.len() > 1 {
                kc.note = Some(format!(
                    "single run: {} comparable runs in the window (needs {MIN_WINDOW})",
                    runs.len()
                ));
            }
        }
        if suspect && matches!(kc.verdict, PerfVerdict::Slower | PerfVerdict::Faster) {
            kc.verdict = PerfVerdict::Inconclusive;
            kc.note =
                Some("a run flagged its GPU busy, throttled or on a degraded PCIe link".into());
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
    // One statement per kernel: compared (in `kernels`), or only in the current run
    // (no baseline run has it), or only in the baselines.
    let compared: Vec<&str> = kernels.iter().map(|k| k.key.as_str()).collect();
    let ckeys: Vec<String> = c.kernels.iter().map(KernelResult::key).collect();
    let pool: &[&(String, RunReport)] = if comparable { &window } else { &sorted };
    let mut bkeys: Vec<String> = Vec::new();
    for (_, b) in pool {
        for k in b.kernels.iter().map(KernelResult::key) {
            if !bkeys.contains(&k) {
                bkeys.push(k);
            }
        }
    }
    // A kernel wrong now is a wrong result whether or not any baseline has it.
    let wrong_now: Vec<String> = c
        .kernels
        .iter()
        .filter(|k| k.status == KernelStatus::Fail && !kernels.iter().any(|kc| kc.key == k.key()))
        .map(KernelResult::key)
        .collect();
    let incomplete = incomplete(c).map(|why| format!("the current run is no evidence: {why}"));
    let finding = if !wrong_now.is_empty() || kernels.iter().any(|k| k.correctness.is_wrong()) {
        Finding::Wrong
    } else if incomplete.is_some() {
        Finding::Inconclusive
    } else if kernels.iter().any(|k| k.verdict == PerfVerdict::Slower) {
        Finding::Slower
    } else {
        Finding::Ok
    };
    Comparison {
        baseline: match base {
            [(name, _)] => name.clone(),
            _ => format!("{} runs", base.len()),
        },
        current: current_name.to_owned(),
        threshold_pct,
        baseline_runs: base.len(),
        comparable_runs: window.len(),
        left_out,
        comparable,
        adapter_differences: differences,
        only_in_baseline: bkeys
            .iter()
            .filter(|k| !ckeys.contains(k))
            .cloned()
            .collect(),
        only_in_current: ckeys
            .iter()
            .filter(|k| !compared.contains(&k.as_str()) && !wrong_now.contains(k))
            .cloned()
            .collect(),
        wrong_now,
        incomplete,
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

/// The window's values and the current one as a sparkline (▁ to █, the current last
/// after a bar), so a reader sees where the run falls.
pub fn sparkline(medians: &[f64], current: f64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let lo = medians
        .iter()
        .chain([&current])
        .copied()
        .fold(f64::INFINITY, f64::min);
    let hi = medians
        .iter()
        .chain([&current])
        .copied()
        .fold(0.0, f64::max);
    let bar = |v: f64| {
        let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        BARS[((f * 7.0).round() as usize).min(7)]
    };
    let mut s: String = medians.iter().map(|&m| bar(m)).collect();
    s.push('│');
    s.push(bar(current));
    s
}

fn cells(k: &KernelComparison) -> [String; 7] {
    let t = |v: Option<f64>| v.map(fmt_ns).unwrap_or_else(|| "-".into());
    let ratio = match (k.ratio, k.ratio_ci, &k.window) {
        (Some(r), Some([lo, hi]), _) => format!("{r:.3} [{lo:.3}, {hi:.3}]"),
        (Some(r), None, Some(w)) => format!("{r:.3} [÷{:.3}, ×{:.3}]", w.limit, w.limit),
        _ => "-".into(),
    };
    let how = match &k.window {
        Some(w) => format!(
            "window of {}, ±{:.1}%, z {:+.1}, p{:.0}",
            w.runs,
            100.0 * (w.spread.exp() - 1.0),
            w.z,
            w.percentile
        ),
        None if k.ratio_ci.is_some() => "single run".into(),
        None => "-".into(),
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
        how,
        verdict,
    ]
}

/// The method line: how many runs, from when, and what was left out.
fn method_lines(c: &Comparison) -> Vec<String> {
    let mut out = Vec::new();
    if c.baseline_runs > 1 {
        let windowed = c
            .kernels
            .iter()
            .filter(|k| k.method == Method::Window)
            .count();
        let span = c
            .kernels
            .iter()
            .find_map(|k| k.window.as_ref())
            .map(|w| format!(", {} to {}", w.from, w.to))
            .unwrap_or_default();
        out.push(format!(
            "method: {windowed} of {} kernels against a window of {} comparable runs of {}{span} (one-sided prediction interval, α = {WINDOW_ALPHA}); the rest against the newest run",
            c.kernels.len(),
            c.comparable_runs,
            c.baseline_runs
        ));
    } else {
        out.push("method: single run (95 % bootstrap interval of the median ratio)".into());
    }
    for l in &c.left_out {
        out.push(format!("left out: {}: {}", l.run, l.why));
    }
    out
}

pub fn render_text(c: &Comparison, cur: &RunReport) -> String {
    let mut s = String::new();
    let line = |r: &RunReport| {
        r.adapter
            .as_ref()
            .map(adapter_line)
            .unwrap_or_else(|| "no adapter".into())
    };
    s.push_str(&format!(
        "baseline: {}\ncurrent:  {} ({}, {})\n",
        c.baseline,
        c.current,
        line(cur),
        cur.started_at
    ));
    for l in method_lines(c) {
        s.push_str(&l);
        s.push('\n');
    }
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
        "{:<28} {:<12} {:>10} {:>10} {:>26}  {:<38} verdict (threshold {}%)\n",
        "kernel",
        "correctness",
        "baseline",
        "current",
        "ratio [95% CI or limit]",
        "judged against",
        c.threshold_pct
    ));
    for k in &c.kernels {
        let [key, corr, b, cu, r, how, v] = cells(k);
        s.push_str(&format!(
            "{key:<28} {corr:<12} {b:>10} {cu:>10} {r:>26}  {how:<38} {v}\n"
        ));
    }
    let missing = if c.incomplete.is_some() {
        "missing: the current run stopped before it"
    } else {
        "only in baseline"
    };
    for k in &c.only_in_baseline {
        s.push_str(&format!("{k}: {missing}\n"));
    }
    for k in &c.only_in_current {
        s.push_str(&format!("{k}: only in current\n"));
    }
    if let Some(why) = &c.incomplete {
        s.push_str(&format!("INCONCLUSIVE: {why}\n"));
    }
    for k in &c.wrong_now {
        s.push_str(&format!(
            "{k}: WRONG in the current run (no baseline to compare it with)\n"
        ));
    }
    s
}

pub fn render_md(c: &Comparison) -> String {
    let mut s = format!(
        "### gpu-canary compare (threshold {}%)\n\n",
        c.threshold_pct
    );
    for l in method_lines(c) {
        s.push_str(&format!("{l}  \n"));
    }
    s.push('\n');
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
    s.push_str("| kernel | correctness | baseline | current | ratio [95% CI or limit] | judged against | window │ now (fastest samples) | verdict |\n|---|---|---|---|---|---|---|---|\n");
    for k in &c.kernels {
        let [key, corr, b, cu, r, how, v] = cells(k);
        let spark = match &k.window {
            Some(w) => sparkline(&w.minima_ns, w.current_min_ns),
            None => "-".into(),
        };
        s.push_str(&format!(
            "| {key} | {corr} | {b} | {cu} | {r} | {how} | {spark} | {} |\n",
            v.replace('|', "\\|")
        ));
    }
    for k in &c.wrong_now {
        s.push_str(&format!(
            "\n**{k}: WRONG** in the current run (no baseline to compare it with)\n"
        ));
    }
    if let Some(why) = &c.incomplete {
        s.push_str(&format!("\n**Inconclusive**: {why}.\n"));
        for k in &c.only_in_baseline {
            s.push_str(&format!(
                "- {k}: missing (the current run stopped before it)\n"
            ));
        }
    }
    s
}

/// Reads the current run and the baselines, compares them and prints the comparison
/// as `cfg` asks.
pub fn run(cfg: &CompareConfig) -> Result<Comparison> {
    let c = read_report(&cfg.current).map_err(Error::Usage)?;
    let (files, other) = find_results(&cfg.baselines)?;
    for f in &other {
        crate::console::err(&format!(
            "note: skipping {}: not a gpu-canary result",
            f.display()
        ));
    }
    let current = std::fs::canonicalize(&cfg.current).ok();
    let mut base = Vec::new();
    for f in &files {
        // The current run, found in a baseline folder, is no baseline of itself.
        if current.is_some() && std::fs::canonicalize(f).ok() == current {
            continue;
        }
        match read_report(f) {
            Ok(r) => base.push((f.display().to_string(), r)),
            // A named file must be readable; one found in a folder may be skipped.
            Err(e) if cfg.baselines.contains(f) => return Err(Error::Usage(e)),
            Err(e) => crate::console::err(&format!("warning: skipping {e}")),
        }
    }
    if base.is_empty() {
        return Err(Error::usage(
            "no baseline run found besides the current one; pass earlier result files or folders with --baseline",
        ));
    }
    let cmp = compare(
        &base,
        &c,
        cfg.threshold_pct,
        cfg.allow_different_adapter,
        &cfg.current.display().to_string(),
    );
    match cfg.format {
        Format::Text => crate::console::text(&render_text(&cmp, &c)),
        // The JSON on stdout is what the caller reads: not delivered is an error.
        Format::Json => {
            let json = serde_json::to_string_pretty(&cmp).expect("comparison serialises") + "\n";
            crate::console::try_bytes(json.as_bytes())
                .map_err(|e| Error::io(format!("cannot write the comparison to stdout: {e}")))?;
        }
        Format::Md => {
            let md = render_md(&cmp);
            crate::console::text(&md);
            // A side channel: its failure never changes the verdict.
            if let Err(e) = crate::export::append_step_summary(md.as_bytes()) {
                crate::console::err(&format!(
                    "warning: cannot append to GITHUB_STEP_SUMMARY ({e}); the verdict stands"
                ));
            }
        }
    }
    let _ = std::io::stdout().flush();
    if let Some(p) = &cfg.export_metrics {
        crate::export::write_atomic(p, &render_metrics(&cmp))
            .map_err(|e| Error::io(format!("cannot write {}: {e}", p.display())))?;
    }
    Ok(cmp)
}

fn perf_word(v: PerfVerdict) -> &'static str {
    match v {
        PerfVerdict::Faster => "faster",
        PerfVerdict::Slower => "slower",
        PerfVerdict::Unchanged => "unchanged",
        PerfVerdict::Inconclusive => "inconclusive",
        PerfVerdict::NotComparable => "not-comparable",
    }
}

/// The comparison as Prometheus metrics: the finding and each kernel's timing verdict
/// as state sets (1 for what it was, 0 for the rest), and the ratio of medians.
pub fn render_metrics(c: &Comparison) -> Vec<u8> {
    use crate::export::metrics::Series;
    let mut reg = prometheus_client::registry::Registry::default();
    let mut finding = Series::new(
        "gpu_canary_compare_finding",
        None,
        "compare's finding as a state set: wrong (exit 1), slower (4), inconclusive (6), ok (0)",
    );
    for (f, name) in [
        (Finding::Wrong, "wrong"),
        (Finding::Slower, "slower"),
        (Finding::Inconclusive, "inconclusive"),
        (Finding::Ok, "ok"),
    ] {
        finding.set(
            vec![("finding", name.to_owned())],
            f64::from(u8::from(c.finding == f)),
        );
    }
    finding.register(&mut reg);
    let mut verdict = Series::new(
        "gpu_canary_compare_kernel_verdict",
        None,
        "Each kernel's timing verdict against the baseline or window, as a state set",
    );
    let mut ratio = Series::new(
        "gpu_canary_compare_kernel_ratio",
        None,
        "Current over baseline time (above 1 is slower)",
    );
    for k in &c.kernels {
        let (kernel, shape) = k.key.split_once('/').unwrap_or((k.key.as_str(), ""));
        let labels = || vec![("kernel", kernel.to_owned()), ("shape", shape.to_owned())];
        for v in [
            PerfVerdict::Faster,
            PerfVerdict::Slower,
            PerfVerdict::Unchanged,
            PerfVerdict::Inconclusive,
            PerfVerdict::NotComparable,
        ] {
            let mut l = labels();
            l.push(("verdict", perf_word(v).to_owned()));
            verdict.set(l, f64::from(u8::from(k.verdict == v)));
        }
        if let Some(r) = k.ratio {
            ratio.set(labels(), r);
        }
    }
    verdict.register(&mut reg);
    ratio.register(&mut reg);
    crate::export::metrics::text(&reg)
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
