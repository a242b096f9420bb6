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

//!
//! The judging is here (`gate`, `window`, `bootstrap`, `judge`); the data it produces is
//! `model::comparison`, and its renderers are `export::comparison`.

mod bootstrap;
mod gate;
mod judge;
mod window;

use std::io::Write;
use std::path::PathBuf;

pub use bootstrap::{perf_verdict, ratio_ci};
pub use gate::{adapter_differences, incomplete, launch_change};
pub use judge::compare;
pub use window::Prediction;

pub use crate::model::comparison::*;

use crate::error::{Error, Result};
use crate::export::comparison;
use crate::model::{find_results, read_report};

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

/// Reads the current run and the baselines, compares them and prints the comparison
/// as `cfg` asks.
pub fn run(cfg: &CompareConfig) -> Result<Comparison> {
    let c = read_report(&cfg.current).map_err(Error::Usage)?;
    if let Some(why) = crate::model::combined_refusal(&cfg.current, &c, "compare") {
        return Err(Error::usage(why));
    }
    let (files, other) = find_results(&cfg.baselines)?;
    for (f, why) in &other {
        crate::console::err(&format!("note: skipping {}: {why}", f.display()));
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
        Format::Text => crate::console::text(&comparison::text::render(&cmp, &c)),
        // The JSON on stdout is what the caller reads: not delivered is an error.
        Format::Json => {
            crate::console::try_bytes(&comparison::json::render(&cmp))
                .map_err(|e| Error::io(format!("cannot write the comparison to stdout: {e}")))?;
        }
        Format::Md => {
            let md = comparison::markdown::render(&cmp);
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
    if let Some(p) = &cfg.export_metrics
        && let Err(e) = crate::export::write_atomic(p, &comparison::metrics::render(&cmp))
    {
        let what = format!("cannot write {}: {e}", p.display());
        // A wrong result, a regression or an inconclusive run keeps its exit code; only
        // a clean finding without its artifact becomes the machine's failure (exit 3).
        if cmp.finding == Finding::Ok {
            return Err(Error::io(what));
        }
        crate::console::err(&format!("error: {what}; the finding stands"));
    }
    Ok(cmp)
}
