//! `compare`'s renderers, one file per format, beside the run's exporters: text for the
//! console, Markdown for the step summary, JSON, and Prometheus metrics. They read the
//! comparison and nothing else.

pub mod json;
pub mod markdown;
pub mod metrics;
pub mod text;

use super::fmt_ns;
use crate::model::comparison::{
    Comparison, Correctness, KernelComparison, Method, PerfVerdict, WINDOW_ALPHA,
};

pub(super) fn word(v: PerfVerdict) -> &'static str {
    match v {
        PerfVerdict::Faster => "faster",
        PerfVerdict::Slower => "slower",
        PerfVerdict::Unchanged => "unchanged",
        PerfVerdict::Inconclusive => "inconclusive",
        PerfVerdict::NotComparable => "not comparable",
    }
}

pub(super) fn cword(c: Correctness) -> &'static str {
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

pub(super) fn cells(k: &KernelComparison) -> [String; 7] {
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
pub(super) fn method_lines(c: &Comparison) -> Vec<String> {
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
