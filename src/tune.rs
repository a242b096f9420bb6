//! `gpu-canary tune`: a small sweep of launch parameters on the adapter at hand. Each
//! configuration is verified (a fast wrong one is not a candidate) and timed like a
//! canary case; the fastest is written, with the adapter's fingerprint, to a tuning file
//! that `run --tuning` applies only on the same adapter and driver, recording the
//! choice in each kernel's launch configuration.
//!
//! Swept today: `reduce-f32` (workgroup size, vec4s per invocation, subgroup or
//! workgroup-tree variant). The tiled matmul's tile is fixed by its register layout.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cli::TuneArgs;
use crate::config::Case;
use crate::error::{Error, exit};
use crate::gpu::{AdapterFilter, Gpu};
use crate::kernels::{self, Params, RuntimeChecks, Shape};
use crate::model::{AdapterFingerprint, KernelStatus};
use crate::runner::{self, CaseOptions, Progress};

/// The tuning file's format tag.
pub const FORMAT: &str = "gpu-canary-tune/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tuning {
    pub format: String,
    pub adapter: AdapterFingerprint,
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

/// Runs every candidate; returns the trials and the fastest verified one.
pub fn sweep(gpu: &Gpu, n: u32, iterations: u32) -> Result<(Vec<Trial>, Option<Params>), Error> {
    let kernel = kernels::find("reduce-f32").expect("reduce-f32 is registered");
    let case = Case {
        kernel,
        shape: Shape::Reduce { n },
        explicit: true,
    };
    kernels::check_limits(kernel, case.shape, &gpu.limits).map_err(Error::Usage)?;
    let progress = Progress::default();
    let mut trials = Vec::new();
    for params in reduce_candidates(gpu) {
        let opt = CaseOptions {
            seed: crate::config::DEFAULT_SEED,
            warmup: 2,
            iterations,
            input_scale: 1.0,
            checks: RuntimeChecks::Checked,
            fault: None,
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
    if a.iterations == 0 || a.size == 0 {
        return fail(Error::usage(
            "tune: --size and --iterations must be at least 1",
        ));
    }
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
    println!("adapter: {}", crate::export::markdown::adapter_line(&fp));
    let (trials, best) = match sweep(&gpu, a.size, a.iterations) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    for t in &trials {
        let p: Vec<String> = t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let rate = t
            .throughput
            .map(|v| format!("{v:.3} {}", t.unit))
            .unwrap_or_default();
        println!(
            "reduce-f32 {:<10} {:<34} {:<9} {rate}",
            t.shape,
            p.join(" "),
            if t.verified { "verified" } else { "WRONG" }
        );
    }
    let Some(best) = best else {
        eprintln!("error: no configuration verified on this adapter; nothing to tune");
        return exit::WRONG_RESULT;
    };
    println!(
        "best: {}",
        best.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let tuning = Tuning {
        format: FORMAT.into(),
        adapter: fp,
        best: BTreeMap::from([("reduce-f32".to_owned(), best)]),
        trials,
    };
    let text = serde_json::to_string_pretty(&tuning).expect("a tuning serialises") + "\n";
    if let Err(e) = crate::export::write_atomic(&a.out, text.as_bytes()) {
        return fail(Error::usage(format!(
            "cannot write {}: {e}; pass a writable --out path",
            a.out.display()
        )));
    }
    println!("wrote {}", a.out.display());
    exit::OK
}
