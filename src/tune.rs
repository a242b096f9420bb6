//! `gpu-canary tune`: a small sweep of launch parameters on the adapter at hand. Each
//! configuration is verified (a fast wrong one is not a candidate) and timed like a
//! canary case; the fastest is written, with the adapter's fingerprint, to a tuning file
//! that `run --tuning` applies only on the same adapter and driver, recording the
//! choice in each kernel's launch configuration.
//!
//! Swept: the tiled matmul (`matmul-f32`, `matmul-u32`: workgroup shape, hence the
//! output tile, K step and one or two stages, all pipeline constants; plus the
//! element-wise I/O as a reference), `reduce-f32` (workgroup size, vec4s per invocation, subgroup or
//! workgroup-tree variant) and, where the adapter has cooperative matrices,
//! `matmul-f16` (direct, or staged with its tile and K step).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cli::TuneArgs;
use crate::config::{Case, Fault};
use crate::error::{EnvKind, Error, exit};
use crate::gpu::{AdapterFilter, Gpu};
use crate::kernels::{self, Kernel, Params, RuntimeChecks, Shape, ShapeKind, Suite};
use crate::model::{AdapterFingerprint, KernelStatus};
use crate::runner::{self, CaseOptions, Progress};

/// The tuning file's format tag.
pub const FORMAT: &str = "gpu-canary-tune/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tuning {
    pub format: String,
    pub adapter: AdapterFingerprint,
    /// Seed of the check vectors every configuration was verified with (fresh for each
    /// sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_seed: Option<u64>,
    /// Kernel id → the chosen named launch parameters.
    pub best: BTreeMap<String, Params>,
    /// Every configuration tried, for the record.
    pub trials: Vec<Trial>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    pub kernel: String,
    pub shape: String,
    pub params: Params,
    pub verified: bool,
    pub median_ns: Option<f64>,
    pub throughput: Option<f64>,
    pub unit: String,
}

impl Tuning {
    /// Reads a tuning file; the error is one line naming the file and the fix.
    pub fn read(path: &Path) -> Result<Tuning, String> {
        let name = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "--tuning {name}: cannot read ({e}); write one with `gpu-canary tune --out {name}`"
            )
        })?;
        let t: Tuning = serde_json::from_str(&text).map_err(|e| format!("--tuning {name}: not a gpu-canary tuning file ({e}); write one with `gpu-canary tune`"))?;
        if t.format != FORMAT {
            return Err(format!(
                "--tuning {name}: format '{}', this gpu-canary reads '{FORMAT}'; run `gpu-canary tune` again",
                t.format
            ));
        }
        Ok(t)
    }

    /// The parameters for this adapter, or why they do not apply.
    pub fn for_adapter(
        &self,
        fp: &AdapterFingerprint,
    ) -> Result<&BTreeMap<String, Params>, String> {
        if self.adapter.comparable_key() == fp.comparable_key() {
            Ok(&self.best)
        } else {
            Err(format!(
                "made on '{} {} {}', not on this adapter",
                self.adapter.name, self.adapter.driver, self.adapter.driver_info
            ))
        }
    }
}

/// The reduce-f32 configurations worth trying on `gpu`.
pub fn reduce_candidates(gpu: &Gpu) -> Vec<Params> {
    let max = gpu
        .limits
        .max_compute_invocations_per_workgroup
        .min(gpu.limits.max_compute_workgroup_size_x);
    let subgroups: &[f64] = if gpu.features.contains(wgpu::Features::SUBGROUP) {
        &[0.0, 1.0]
    } else {
        &[0.0]
    };
    let mut out = Vec::new();
    for wg in [64u32, 128, 256, 512, 1024]
        .into_iter()
        .filter(|&w| w <= max)
    {
        for min_vec4 in [2u32, 8, 32] {
            for &sg in subgroups {
                out.push(Params::from([
                    ("WG".to_owned(), f64::from(wg)),
                    ("MIN_VEC4".to_owned(), f64::from(min_vec4)),
                    ("SUBGROUPS".to_owned(), sg),
                ]));
            }
        }
    }
    out
}

/// (WG_X, WG_Y, BK, STAGES) of the tiled matmul worth trying: output tiles from 64×64
/// to 128×256, K steps of 8 to 32, one or two stages.
pub fn matmul_grid() -> Vec<(u32, u32, u32, u32)> {
    let mut out = Vec::new();
    for (x, y) in [(8, 8), (16, 8), (8, 16), (16, 16), (32, 16), (16, 32)] {
        for bk in [8, 16, 32] {
            for stages in [1, 2] {
                out.push((x, y, bk, stages));
            }
        }
    }
    out
}

/// The tiled matmul configurations that fit `gpu`'s limits, with 16-byte I/O, and the
/// default tile with element-wise I/O as the reference the vec4 loads are measured
/// against.
pub fn matmul_candidates(gpu: &Gpu, id: &str) -> Vec<Params> {
    let named = |x: u32, y: u32, bk: u32, stages: u32, vec4: bool| {
        Params::from([
            ("WG_X".to_owned(), f64::from(x)),
            ("WG_Y".to_owned(), f64::from(y)),
            ("BK".to_owned(), f64::from(bk)),
            ("STAGES".to_owned(), f64::from(stages)),
            ("VEC4".to_owned(), f64::from(u8::from(vec4))),
        ])
    };
    let d = kernels::matmul::MatmulParams::default();
    std::iter::once(named(d.wg_x, d.wg_y, d.bk, d.stages, false))
        .chain(
            matmul_grid()
                .into_iter()
                .map(|(x, y, bk, stages)| named(x, y, bk, stages, true)),
        )
        .filter(|p| kernels::matmul::MatmulParams::from_named(id, Some(p), &gpu.limits).is_ok())
        .collect()
}

/// (BM, BN, BK) of the staged matmul-f16 worth trying.
pub fn f16_grid() -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    for (bm, bn) in [(64, 64), (128, 64), (64, 128), (128, 128)] {
        for bk in [16, 32, 64] {
            out.push((bm, bn, bk));
        }
    }
    out
}

/// The direct matmul-f16 and the staged tiles that fit `gpu`.
pub fn f16_candidates(gpu: &Gpu) -> Vec<Params> {
    std::iter::once(Params::from([("STAGED".to_owned(), 0.0)]))
        .chain(f16_grid().into_iter().map(|(bm, bn, bk)| {
            Params::from([
                ("STAGED".to_owned(), 1.0),
                ("BM".to_owned(), f64::from(bm)),
                ("BN".to_owned(), f64::from(bn)),
                ("BK".to_owned(), f64::from(bk)),
            ])
        }))
        .filter(|p| {
            kernels::matmul_f16::F16Params::from_named(Some(p), &gpu.info, &gpu.limits).is_ok()
        })
        .collect()
}

/// The kernels `tune` knows how to sweep.
pub const TUNABLE: &[&str] = &["matmul-f32", "matmul-u32", "reduce-f32", "matmul-f16"];

fn candidates(gpu: &Gpu, id: &str) -> Vec<Params> {
    match id {
        "reduce-f32" => reduce_candidates(gpu),
        "matmul-f16" => f16_candidates(gpu),
        _ => matmul_candidates(gpu, id),
    }
}

/// The shape a kernel is tuned at unless `--size` says otherwise: the largest of the
/// full suite on a GPU, of the quick suite on a software adapter (where the full
/// suite's shapes take minutes per configuration).
pub fn default_shape(kernel: &dyn Kernel, gpu: &Gpu) -> Shape {
    let suite = if gpu.info.device_type == wgpu::DeviceType::Cpu {
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
) -> Result<(Vec<Trial>, Option<Params>), Error> {
    let case = Case {
        kernel,
        shape,
        explicit: true,
    };
    kernels::check_limits(kernel, case.shape, &gpu.limits).map_err(Error::Usage)?;
    let progress = Progress::default();
    let mut trials = Vec::new();
    for params in candidates(gpu, kernel.id()) {
        let opt = CaseOptions {
            seed: crate::config::DEFAULT_SEED,
            check_seed,
            warmup: 2,
            iterations,
            input_scale: 1.0,
            checks: RuntimeChecks::Checked,
            fault,
            progress: &progress,
            params: Some(&params),
        };
        let r = runner::run_case(gpu, &case, &opt)?.result;
        let verified = r.status == KernelStatus::Pass;
        trials.push(Trial {
            kernel: r.id.clone(),
            shape: r.shape.clone(),
            params,
            verified,
            median_ns: r.stats.as_ref().map(|s| s.median_ns),
            throughput: r.throughput.as_ref().map(|t| t.median),
            unit: r
                .throughput
                .as_ref()
                .map(|t| t.unit.clone())
                .unwrap_or_default(),
        });
    }
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

pub fn main(a: &TuneArgs) -> i32 {
    let fail = |e: Error| {
        eprintln!("error: {e}");
        e.exit_code()
    };
    if a.iterations == 0 {
        return fail(Error::usage("tune: --iterations must be at least 1"));
    }
    let fault = match a.inject_fault.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match Fault::parse(s) {
            Ok(f) if f.every_case() => Some(f),
            Ok(f) => {
                return fail(Error::usage(format!(
                    "tune: --inject-fault {}: only faults of the GPU's output apply to tune",
                    f.name()
                )));
            }
            Err(e) => return fail(Error::usage(e)),
        },
    };
    let ids: Vec<String> = if a.kernel.is_empty() {
        TUNABLE.iter().map(|s| (*s).to_owned()).collect()
    } else {
        a.kernel.clone()
    };
    let mut chosen: Vec<&'static dyn Kernel> = Vec::new();
    for id in &ids {
        match kernels::find(id).filter(|k| TUNABLE.contains(&k.id())) {
            Some(k) => chosen.push(k),
            None => {
                return fail(Error::usage(format!(
                    "tune: no tunable kernel '{id}'; choose from {}",
                    TUNABLE.join(", ")
                )));
            }
        }
    }
    // Each --size belongs to the kernels of its kind: MxKxN to matmul, N to reduce.
    let mut sizes: BTreeMap<&str, Shape> = BTreeMap::new();
    for size in &a.size {
        let kind = if size.contains(['x', 'X']) {
            ShapeKind::Matmul
        } else {
            ShapeKind::Reduce
        };
        if !chosen.iter().any(|k| k.shape_kind() == kind) {
            return fail(Error::usage(format!(
                "tune: --size {size} fits none of the kernels being tuned ({}); choose them with --kernel",
                ids.join(", ")
            )));
        }
        let shape = match Shape::parse(kind, size) {
            Ok(s) => s,
            Err(e) => return fail(Error::usage(format!("tune: {e}"))),
        };
        for k in chosen.iter().filter(|k| k.shape_kind() == kind) {
            if sizes.insert(k.id(), shape).is_some() {
                return fail(Error::usage(format!(
                    "tune: two --size values for {}; give one shape per kind",
                    k.id()
                )));
            }
        }
    }
    let kernels_shapes: Vec<(&'static dyn Kernel, Option<Shape>)> = chosen
        .into_iter()
        .map(|k| (k, sizes.get(k.id()).copied()))
        .collect();
    let backends = match crate::gpu::backends_arg(a.backend.as_deref()) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let gpu = match Gpu::open(&AdapterFilter {
        backends,
        name: a.adapter.clone(),
        software_only: false,
    }) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let fp = gpu.fingerprint();
    let check_seed = kernels::inputs::fresh_seed();
    println!("adapter: {}", crate::export::markdown::adapter_line(&fp));
    println!("check seed: {check_seed}");
    let mut all_trials = Vec::new();
    let mut best_all = BTreeMap::new();
    let mut wrong = false;
    for (kernel, shape) in kernels_shapes {
        if let Some(why) = kernel.unsupported(&gpu) {
            // Asked for by name, a kernel this adapter cannot run is the environment's
            // failure; among the defaults it is only noted.
            if !a.kernel.is_empty() {
                return fail(Error::env(
                    EnvKind::MissingFeature,
                    format!("tune: {} cannot run on this adapter: {why}", kernel.id()),
                ));
            }
            println!("{}: not tuned: {why}", kernel.id());
            continue;
        }
        let shape = shape.unwrap_or_else(|| default_shape(kernel, &gpu));
        println!("{}: {shape}", kernel.id());
        let (trials, best) = match sweep(&gpu, kernel, shape, a.iterations, check_seed, fault) {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        for t in &trials {
            let rate = t
                .throughput
                .map(|v| format!("{v:.3} {}", t.unit))
                .unwrap_or_default();
            println!(
                "  {:<34} {:<9} {rate}",
                kernels::params_text(&t.params),
                if t.verified { "verified" } else { "WRONG" }
            );
        }
        // A configuration that computes wrong results is a finding, not a slow
        // candidate: the tuning file is still written, but the exit code says so.
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
    let tuning = Tuning {
        format: FORMAT.into(),
        adapter: fp,
        check_seed: Some(check_seed),
        best: best_all,
        trials: all_trials,
    };
    let text = serde_json::to_string_pretty(&tuning).expect("a tuning serialises") + "\n";
    if let Err(e) = crate::export::write_atomic(&a.out, text.as_bytes()) {
        return fail(Error::usage(format!(
            "cannot write {}: {e}; pass a writable --out path",
            a.out.display()
        )));
    }
    println!("wrote {}", a.out.display());
    if wrong {
        eprintln!("error: some configurations computed wrong results (WRONG above)");
        return exit::WRONG_RESULT;
    }
    exit::OK
}
