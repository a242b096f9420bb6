//! Each kernel of the current run against its baselines: correctness first, then its
//! timing by the window or the single-run method (module docs of `compare`).

use super::bootstrap::{perf_verdict, ratio_ci};
use super::gate::{adapter_differences, correctness, incomplete, launch_change, run_gate};
use super::window::Prediction;
use crate::model::comparison::{
    Comparison, Finding, KernelComparison, LeftOut, MIN_SAMPLES, MIN_WINDOW, Method, PerfVerdict,
    WindowStats,
};
use crate::model::{KernelResult, KernelStatus, RunReport};
use crate::stats;

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
    let judge = Judge {
        c,
        sorted: &sorted,
        window: &window,
        left_out: &left_out,
        comparable,
        suspect,
        base_runs: base.len(),
        t,
    };
    let mut kernels: Vec<KernelComparison> =
        c.kernels.iter().filter_map(|ck| judge.kernel(ck)).collect();
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
    let finding = finding_of(&wrong_now, &kernels, incomplete.is_some());
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

/// The comparison's finding: a wrong result wins, then a current run that is no
/// evidence, then a slower kernel.
fn finding_of(wrong_now: &[String], kernels: &[KernelComparison], incomplete: bool) -> Finding {
    if !wrong_now.is_empty() || kernels.iter().any(|k| k.correctness.is_wrong()) {
        Finding::Wrong
    } else if incomplete {
        Finding::Inconclusive
    } else if kernels.iter().any(|k| k.verdict == PerfVerdict::Slower) {
        Finding::Slower
    } else {
        Finding::Ok
    }
}

/// What each kernel of one comparison is judged with.
struct Judge<'a> {
    c: &'a RunReport,
    /// The baseline runs in time order.
    sorted: &'a [&'a (String, RunReport)],
    /// Those that may stand beside the current run.
    window: &'a [&'a (String, RunReport)],
    left_out: &'a [LeftOut],
    comparable: bool,
    /// A run flagged its GPU busy, throttled or on a degraded link.
    suspect: bool,
    base_runs: usize,
    /// The practical threshold, as a fraction.
    t: f64,
}

impl Judge<'_> {
    /// One kernel of the current run against the newest baseline run that has it, and
    /// by the window method where enough comparable runs have it; `None` where no
    /// baseline run has it.
    fn kernel(&self, ck: &KernelResult) -> Option<KernelComparison> {
        let key = ck.key();
        // The newest baseline run that has this kernel: for correctness, the single-run
        // method and the launch note.
        let pool: &[&(String, RunReport)] = if self.comparable {
            self.window
        } else {
            self.sorted
        };
        let (bk, b) = pool
            .iter()
            .rev()
            .find_map(|(_, r)| r.kernels.iter().find(|k| k.key() == key).map(|k| (k, r)))?;
        let mut kc = KernelComparison {
            key: key.clone(),
            correctness: correctness(bk, ck, b.config.input_scale == self.c.config.input_scale),
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
        let runs: Vec<(&RunReport, &KernelResult)> = self
            .window
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
        if !self.comparable {
            kc.verdict = PerfVerdict::NotComparable;
            kc.note = Some(match self.left_out.last() {
                Some(l) if !l.why.starts_with("another adapter") => l.why.clone(),
                _ => "different adapters".into(),
            });
        } else if ck.status != KernelStatus::Pass {
            kc.note = Some("not verified in the current run: timing not compared".into());
        } else if ck.samples_ns.len() < MIN_SAMPLES {
            kc.note = Some(format!("too few samples (need {MIN_SAMPLES})"));
        } else if runs.len() >= MIN_WINDOW {
            by_window(&mut kc, &runs, ck, self.t);
        } else if bk.status != KernelStatus::Pass {
            kc.note = Some("not verified in the baseline: timing not compared".into());
        } else if bk.samples_ns.len() < MIN_SAMPLES {
            kc.note = Some(format!("too few samples (need {MIN_SAMPLES} in each run)"));
        } else {
            let (r, ci) = ratio_ci(&bk.samples_ns, &ck.samples_ns, &key);
            kc.ratio = Some(r);
            kc.ratio_ci = Some(ci);
            kc.verdict = perf_verdict(ci, self.t);
            if self.base_runs > 1 {
                kc.note = Some(format!(
                    "single run: {} comparable runs in the window (needs {MIN_WINDOW})",
                    runs.len()
                ));
            }
        }
        if self.suspect && matches!(kc.verdict, PerfVerdict::Slower | PerfVerdict::Faster) {
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
        Some(kc)
    }
}

/// The window method: the current run's fastest sample against the prediction
/// interval of the window's.
fn by_window(
    kc: &mut KernelComparison,
    runs: &[(&RunReport, &KernelResult)],
    ck: &KernelResult,
    t: f64,
) {
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
}
