//! `gpu-canary tune`: a small sweep of launch parameters on the adapter at hand. Each
//! configuration is verified exactly as `run` verifies (a fast wrong one is not a
//! candidate) and timed like a canary case; the fastest is written, with the adapter's
//! fingerprint, to a tuning file (`tuning`) that `run --tuning` applies only on the same
//! adapter and driver, recording the choice in each kernel's launch configuration.
//!
//! What is swept is each kernel's own business ([`Kernel::candidates`]): today the tiled
//! matmul (`matmul-f32`, `matmul-u32`: workgroup shape, hence the output tile, K step
//! and one or two stages, plus the element-wise I/O as a reference), `reduce-f32`
//! (workgroup size, vec4s per invocation, subgroup or workgroup-tree entry point) and,
//! where the adapter has cooperative matrices, `matmul-f16` (direct, or staged with its
//! tile and K step).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{EnvKind, Error, Result};
use crate::gpu::{AdapterFilter, Gpu};
use crate::kernels::{self, Kernel, Params, RuntimeChecks, Shape, Suite};
use crate::model::KernelStatus;
use crate::progress;
use crate::runner::{self, Case, CaseOptions, Fault, Progress};
use crate::tuning::{FORMAT, Trial, Tuning};

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
    pub out: PathBuf,
    /// A fault planted on the GPU side in every configuration (tests only).
    pub fault: Option<Fault>,
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
    let work = |s: &Shape| match *s {
        Shape::Matmul { m, k, n } => u64::from(m) * u64::from(k) * u64::from(n),
        Shape::Reduce { n } => u64::from(n),
    };
    kernel
        .suite(suite)
        .into_iter()
        .max_by_key(work)
        .expect("every kernel has shapes")
}

/// Runs every candidate of one kernel at `shape`, each verified as `run` verifies (the
/// same checks, with check vectors from `check_seed`); returns the trials and the
/// fastest verified one.
pub fn sweep(
    gpu: &Gpu,
    kernel: &'static dyn Kernel,
    shape: Shape,
    iterations: u32,
    check_seed: u64,
    fault: Option<Fault>,
    progress: &Progress,
) -> Result<(Vec<Trial>, Option<Params>)> {
    let case = Case {
        kernel,
        shape,
        explicit: true,
    };
    kernels::check_limits(kernel, case.shape, &gpu.limits).map_err(Error::Usage)?;
    let candidates = kernel.candidates(gpu);
    let mut trials = Vec::new();
    for (i, params) in candidates.iter().enumerate() {
        progress.set_context(Some(format!("config {}/{}", i + 1, candidates.len())));
        let opt = CaseOptions {
            seed: crate::inputs::DEFAULT_SEED,
            check_seed,
            warmup: 2,
            iterations,
            input_scale: 1.0,
            checks: RuntimeChecks::Checked,
            fault,
            progress,
            params: Some(params),
        };
        let r = runner::run_case(gpu, &case, &opt)?.result;
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
        });
    }
    progress.set_context(None);
    let best = trials
        .iter()
        .filter(|t| t.verified)
        .min_by(|a, b| {
            a.median_ns
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.median_ns.unwrap_or(f64::INFINITY))
        })
        .map(|t| t.params.clone());
    Ok((trials, best))
}

/// The sweep: every kernel of `cfg`, then the tuning file.
pub fn run(cfg: &TuneConfig) -> Result<TuneOutcome> {
    let gpu = Gpu::open(&cfg.filter, &kernels::needs())?;
    let fp = gpu.fingerprint();
    let check_seed = crate::inputs::fresh_seed();
    println!("adapter: {}", crate::export::markdown::adapter_line(&fp));
    println!("check seed: {check_seed}");
    let progress = Arc::new(Progress::default());
    let display = progress::Display::start(progress.clone(), false);
    let mut all_trials = Vec::new();
    let mut best_all = BTreeMap::new();
    let mut wrong = false;
    for &(kernel, shape) in &cfg.kernels {
        if let Some(why) = kernel.unsupported(&gpu) {
            // Asked for by name, a kernel this adapter cannot run is the environment's
            // failure; among the defaults it is only noted.
            if cfg.named {
                return Err(Error::env(
                    EnvKind::MissingFeature,
                    format!("tune: {} cannot run on this adapter: {why}", kernel.id()),
                ));
            }
            println!("{}: not tuned: {why}", kernel.id());
            continue;
        }
        let shape = shape.unwrap_or_else(|| default_shape(kernel, &gpu));
        println!("{}: {shape}", kernel.id());
        let (trials, best) = sweep(
            &gpu,
            kernel,
            shape,
            cfg.iterations,
            check_seed,
            cfg.fault,
            &progress,
        )?;
        for t in &trials {
            let rate = t
                .throughput
                .map(|v| crate::export::fmt_rate(v, &t.unit))
                .unwrap_or_default();
            println!(
                "  {:<34} {:<9} {rate}",
                kernels::params_text(&t.params),
                if t.verified { "verified" } else { "WRONG" }
            );
        }
        // A configuration that computes wrong results is a finding, not a slow
        // candidate: the tuning file is still written, but the outcome says so.
        wrong |= trials.iter().any(|t| !t.verified);
        match best {
            Some(best) => {
                println!("  best: {}", kernels::params_text(&best));
                best_all.insert(kernel.id().to_owned(), best);
            }
            None => eprintln!(
                "error: {}: no configuration verified on this adapter",
                kernel.id()
            ),
        }
        all_trials.extend(trials);
    }
    drop(display);
    let tuning = Tuning {
        format: FORMAT.into(),
        adapter: fp,
        check_seed: Some(check_seed),
        best: best_all,
        trials: all_trials,
    };
    let text = serde_json::to_string_pretty(&tuning).expect("a tuning serialises") + "\n";
    crate::export::write_atomic(&cfg.out, text.as_bytes())
        .map_err(|e| Error::io(format!("tune: cannot write {}: {e}", cfg.out.display())))?;
    println!("wrote {}", cfg.out.display());
    if wrong {
        eprintln!("error: some configurations computed wrong results (WRONG above)");
    }
    Ok(TuneOutcome { tuning, wrong })
}
