//! What `compare` found: the finding, each kernel's correctness and timing verdict, the
//! window it was judged against, and the runs left out. Exporters render it; `compare`
//! judges it.

use serde::Serialize;

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
/// `compare --threshold`'s default, in percent: a smaller change is `unchanged`.
pub const DEFAULT_THRESHOLD_PCT: f64 = 5.0;
/// Samples a run needs for its timing to be judged.
pub const MIN_SAMPLES: usize = 5;
/// Comparable baseline runs the window method needs; fewer fall back to one run.
pub const MIN_WINDOW: usize = 5;
/// One-sided level of the window's prediction interval: the chance that an unchanged
/// run from the same (normal) distribution of log minima is called significant.
pub const WINDOW_ALPHA: f64 = 0.001;
/// Resamples of the single-run bootstrap.
pub const RESAMPLES: u64 = 2000;

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
