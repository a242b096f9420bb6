//! `gpu-canary tune`: a small sweep of launch parameters on the adapter at hand. Each
//! configuration is verified exactly as `run` verifies (a fast wrong one is not a
//! candidate) and timed like a canary case; the fastest is written, with the adapter's
//! fingerprint, to a tuning file (`file`) that `run --tuning` applies only on the same
//! adapter and driver, recording the choice in each kernel's launch configuration.
//!
//! What is swept is each kernel's own business ([`Kernel::candidates`]): today the tiled
//! matmul (`matmul-f32`, `matmul-u32`: workgroup shape, hence the output tile, K step
//! and one or two stages, plus the element-wise I/O as a reference), `reduce-f32`
//! (workgroup size, vec4s per invocation, subgroup or workgroup-tree entry point) and,
//! where the adapter has cooperative matrices, `matmul-f16` (direct, or staged with its
//! tile and K step).

pub mod file;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{EnvKind, Error, Result};
use crate::gpu::{AdapterFilter, Gpu};
use crate::kernels::{self, Kernel, Params, RuntimeChecks, Shape, Suite};
use crate::model::KernelStatus;
use crate::progress;
use crate::runner::{self, Case, CaseOptions, Fault, FaultDispatches, Progress};
use file::{FORMAT, Trial, Tuning};

/// What to sweep (`TuneConfig::from_args` in `config`).
#[derive(Debug, Clone)]
pub struct TuneConfig {
    /// Each kernel, with the shape `--size` gave for its kind.
    pub kernels: Vec<(&'static dyn Kernel, Option<Shape>)>,
    /// The kernels were chosen by name (`--kernel`): one this adapter cannot run is an
    /// environment failure rather than a note.
    pub named: bool,
    pub iterations: u32,
    pub filter: AdapterFilter,
    /// `--require-hardware`, `--expect-vendor`: checked before any configuration runs,
    /// so a lane that fell back to a software adapter spends no time tuning it.
    pub require_hardware: bool,
    pub expect_vendor: Option<String>,
    pub out: PathBuf,
    /// Bound on the whole sweep (`--timeout`).
    pub timeout: Option<Duration>,
    /// A fault planted on the GPU side in every configuration (tests only), and the
    /// dispatches it hits.
    pub fault: Option<Fault>,
    pub fault_dispatches: FaultDispatches,
}

/// How the sweep ended: `wrong` when some configuration computed a wrong result.
#[derive(Debug, Clone)]
pub struct TuneOutcome {
    pub tuning: Tuning,
    pub wrong: bool,
}

/// The shape a kernel is tuned at unless `--size` says otherwise: the largest of the
/// full suite on a GPU, of the quick suite on a software adapter (where the full
/// suite's shapes take minutes per configuration).
pub fn default_shape(kernel: &dyn Kernel, gpu: &Gpu) -> Shape {
    let suite = if gpu.is_software() {
        Suite::Quick
    } else {
        Suite::Full
    };
    kernels::largest_shape(kernel, suite)
}

/// What every configuration of a sweep shares.
pub struct Sweep<'a> {
    pub gpu: &'a Gpu,
    pub iterations: u32,
    /// Check vectors of every configuration's verification.
    pub check_seed: u64,
    pub fault: Option<Fault>,
    pub fault_dispatches: FaultDispatches,
    pub progress: &'a Progress,
    /// `--timeout`: no configuration starts after it.
    pub deadline: Option<Instant>,
}

/// Runs every candidate of one kernel at `shape`, each verified as `run` verifies (the
/// same checks, with check vectors from `check_seed`); adds each to `trials` as it is
/// measured (so an error keeps what came before) and returns the fastest verified one.
pub fn sweep(
    sw: &Sweep,
    kernel: &'static dyn Kernel,
    shape: Shape,
    trials: &mut Vec<Trial>,
) -> Result<Option<Params>> {
    let (gpu, progress) = (sw.gpu, sw.progress);
    let case = Case {
        kernel,
        shape,
        explicit: true,
    };
    kernels::check_limits(kernel, case.shape, &gpu.limits).map_err(Error::Usage)?;
    let candidates = kernel.candidates(gpu);
    let first = trials.len();
    let expired = |i: usize| {
        Error::env(
            EnvKind::Timeout,
            format!(
                "tune: --timeout expired in {} after {i} of {} configurations; the tuning file holds what was measured",
                kernel.id(),
                candidates.len()
            ),
        )
    };
    for (i, params) in candidates.iter().enumerate() {
        if sw.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(expired(i));
        }
        progress.set_context(Some(format!("config {}/{}", i + 1, candidates.len())));
        let opt = CaseOptions {
            seed: crate::inputs::DEFAULT_SEED,
            check_seed: sw.check_seed,
            warmup: 2,
            iterations: sw.iterations,
            input_scale: 1.0,
            checks: RuntimeChecks::Checked,
            fault: sw.fault,
            fault_dispatches: sw.fault_dispatches,
            progress,
            params: Some(params),
            memory: None,
        };
        let timed_out = |e: Error| match e {
            // A GPU wait cut by the deadline: the sweep's timeout, said as such.
            Error::Environment {
                kind: EnvKind::Timeout,
                ..
            } if sw.deadline.is_some() => expired(i),
            e => e,
        };
        let mut r = runner::run_case(gpu, &case, &opt)
            .map_err(timed_out)?
            .result;
        // The precision probe with the same launch parameters: a configuration that
        // computes at reduced precision is wrong however exact its own shape's check.
        if let (Some(probe), KernelStatus::Pass) = (kernel.probe(), r.status) {
            let probe_case = Case {
                kernel: probe,
                shape: kernels::largest_shape(probe, Suite::Quick),
                explicit: true,
            };
            let probed = runner::run_case(
                gpu,
                &probe_case,
                &CaseOptions {
                    iterations: 1,
                    ..opt
                },
            )
            .map_err(timed_out)?
            .result;
            if probed.status != KernelStatus::Pass {
                r.status = KernelStatus::Fail;
                r.reason = probed.reason.map(|why| format!("precision probe: {why}"));
            }
        }
        trials.push(Trial {
            kernel: r.id.clone(),
            shape: r.shape.clone(),
            params: params.clone(),
            verified: r.status == KernelStatus::Pass,
            median_ns: r.stats.as_ref().map(|s| s.median_ns),
            throughput: r.throughput.as_ref().map(|t| t.median),
            unit: r
                .throughput
                .as_ref()
                .map(|t| t.unit.clone())
                .unwrap_or_default(),
            reason: r.reason.clone(),
        });
    }
    progress.set_context(None);
    Ok(best(&trials[first..]))
}

/// The fastest verified trial's parameters.
fn best(trials: &[Trial]) -> Option<Params> {
    trials
        .iter()
        .filter(|t| t.verified)
        .min_by(|a, b| {
            a.median_ns
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.median_ns.unwrap_or(f64::INFINITY))
        })
        .map(|t| t.params.clone())
}

/// The sweep: every kernel of `cfg`, then the tuning file (written with what was
/// measured even when the sweep stops early).
pub fn run(cfg: &TuneConfig) -> Result<TuneOutcome> {
    let started = Instant::now();
    let gpu = Gpu::open(&cfg.filter, &kernels::needs())?;
    gpu.require(cfg.require_hardware, cfg.expect_vendor.as_deref(), false)?;
    *gpu.wait_bound.lock().unwrap_or_else(|e| e.into_inner()) = cfg.timeout.map(|t| started + t);
    let fp = gpu.fingerprint();
    let check_seed = crate::inputs::fresh_seed();
    crate::console::line(&format!(
        "adapter: {}",
        crate::export::lines::adapter_line(&fp)
    ));
    crate::console::line(&format!("check seed: {check_seed}"));
    let progress = Arc::new(Progress::default());
    let display = progress::Display::start(progress.clone(), false);
    let mut trials = Vec::new();
    let mut best_all = BTreeMap::new();
    let sw = Sweep {
        gpu: &gpu,
        iterations: cfg.iterations,
        check_seed,
        fault: cfg.fault,
        fault_dispatches: cfg.fault_dispatches,
        progress: &progress,
        deadline: cfg.timeout.map(|t| started + t),
    };
    let swept = sweep_all(cfg, &sw, &mut trials, &mut best_all);
    drop(display);
    let wrong = trials.iter().any(|t| !t.verified);
    let tuning = Tuning {
        format: FORMAT.into(),
        adapter: fp,
        check_seed: Some(check_seed),
        best: best_all,
        trials,
    };
    // A sweep that measured nothing (it stopped before the first configuration)
    // leaves no file behind.
    if swept.is_ok() || !tuning.trials.is_empty() {
        let text = serde_json::to_string_pretty(&tuning).expect("a tuning serialises") + "\n";
        crate::export::write_atomic(&cfg.out, text.as_bytes())
            .map_err(|e| Error::io(format!("tune: cannot write {}: {e}", cfg.out.display())))?;
        crate::console::line(&format!("wrote {}", cfg.out.display()));
    }
    if wrong {
        // A configuration that computes wrong results is a finding, not a slow
        // candidate, and it outranks how the sweep ended (a timeout included): the
        // tuning file is still written, and the outcome says so.
        if let Err(e) = &swept {
            crate::console::err(&format!("error: {e}"));
        }
        crate::console::err("error: some configurations computed wrong results (WRONG above)");
        return Ok(TuneOutcome { tuning, wrong });
    }
    swept?;
    Ok(TuneOutcome { tuning, wrong })
}

/// Every kernel of `cfg`, its trials into `trials` and its best into `best_all`.
fn sweep_all(
    cfg: &TuneConfig,
    sw: &Sweep,
    trials: &mut Vec<Trial>,
    best_all: &mut BTreeMap<String, Params>,
) -> Result<()> {
    let gpu = sw.gpu;
    for &(kernel, shape) in &cfg.kernels {
        if let Some(why) = kernel.unsupported(gpu) {
            // Asked for by name, a kernel this adapter cannot run is the environment's
            // failure; among the defaults it is only noted.
            if cfg.named {
                return Err(Error::env(
                    EnvKind::MissingFeature,
                    format!("tune: {} cannot run on this adapter: {why}", kernel.id()),
                ));
            }
            crate::console::line(&format!("{}: not tuned: {why}", kernel.id()));
            continue;
        }
        let shape = shape.unwrap_or_else(|| default_shape(kernel, gpu));
        crate::console::line(&format!("{}: {shape}", kernel.id()));
        let first = trials.len();
        let best = sweep(sw, kernel, shape, trials);
        for t in &trials[first..] {
            let rate = t
                .throughput
                .map(|v| crate::export::fmt_rate(v, &t.unit))
                .unwrap_or_default();
            crate::console::line(&format!(
                "  {:<34} {:<9} {rate}",
                kernels::params_text(&t.params),
                if t.verified { "verified" } else { "WRONG" }
            ));
            if let Some(why) = t.reason.as_ref().filter(|_| !t.verified) {
                crate::console::line(&format!("    {why}"));
            }
        }
        match best? {
            Some(best) => {
                crate::console::line(&format!("  best: {}", kernels::params_text(&best)));
                best_all.insert(kernel.id().to_owned(), best);
            }
            None => crate::console::err(&format!(
                "error: {}: no configuration verified on this adapter",
                kernel.id()
            )),
        }
    }
    Ok(())
}
