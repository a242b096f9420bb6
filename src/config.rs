//! Flags validated into plain data. Everything that can be refused before touching the
//! GPU is refused here, with a one-line error naming the value and the fix (exit 2).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{RunArgs, SuiteArg};
use crate::error::{Error, Result};
use crate::gpu::AdapterFilter;
use crate::kernels::fault::{self, ShaderFault};
use crate::kernels::{self, Kernel, RuntimeChecks, Shape, Suite};

pub const DEFAULT_SEED: u64 = 0x6361_6e61_7279; // "canary"

/// Faults injected to prove the verdicts (tests only, `--inject-fault`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// One element of the host's copy of the output flipped, after readback.
    CorruptOutput,
    Stall,
    DeviceLost,
    SoftwareAdapter,
    /// The last timed dispatch never reaches the GPU: the poisoned outputs are read.
    Stale,
    /// Planted on the GPU, by the kernel's shader or right after it.
    Shader(ShaderFault),
}

impl Fault {
    pub fn parse(s: &str) -> std::result::Result<Fault, String> {
        Ok(match s {
            "corrupt-output" => Fault::CorruptOutput,
            "stall" => Fault::Stall,
            "device-lost" => Fault::DeviceLost,
            "software-adapter" => Fault::SoftwareAdapter,
            "stale" => Fault::Stale,
            _ => match ShaderFault::parse(s) {
                Some(f) => Fault::Shader(f?),
                None => {
                    return Err(format!(
                        "invalid --inject-fault '{s}'; use corrupt-output, stall, device-lost, software-adapter, stale, or a shader fault: {}",
                        fault::FORMS
                    ));
                }
            },
        })
    }

    pub fn name(&self) -> String {
        match self {
            Fault::CorruptOutput => "corrupt-output".into(),
            Fault::Stall => "stall".into(),
            Fault::DeviceLost => "device-lost".into(),
            Fault::SoftwareAdapter => "software-adapter".into(),
            Fault::Stale => "stale".into(),
            Fault::Shader(f) => f.name(),
        }
    }

    /// Faults of the GPU's output hit every case (a planted position fires where the
    /// output has it); the others hit the last case that runs.
    pub fn every_case(&self) -> bool {
        matches!(self, Fault::Stale | Fault::Shader(_))
    }
}

#[derive(Clone, Copy)]
pub struct Case {
    pub kernel: &'static dyn Kernel,
    pub shape: Shape,
    /// Chosen explicitly with --size: a limit violation is the user's error (exit 2)
    /// rather than a skip.
    pub explicit: bool,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kernel.id(), self.shape)
    }
}

#[derive(Debug, Clone)]
pub struct OutDir {
    pub dir: PathBuf,
}

impl OutDir {
    pub fn result(&self) -> PathBuf {
        self.dir.join("result.json")
    }
    pub fn trace(&self) -> PathBuf {
        self.dir.join("trace.json")
    }
    pub fn summary(&self) -> PathBuf {
        self.dir.join("summary.md")
    }
    /// Where tracing-chrome streams CPU spans before the GPU track is merged in.
    pub fn cpu_trace(&self) -> PathBuf {
        self.dir
            .join(format!(".trace-cpu-{}.json", std::process::id()))
    }
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub cases: Vec<Case>,
    pub suite: String,
    pub seed: u64,
    /// Seed of the check vectors: `--check-seed`, or fresh from the OS.
    pub check_seed: u64,
    pub warmup: u32,
    pub iterations: u32,
    pub filter: AdapterFilter,
    pub require_hardware: bool,
    pub require_tensor_cores: bool,
    pub expect_vendor: Option<String>,
    pub checks: RuntimeChecks,
    pub out: Option<OutDir>,
    pub json: bool,
    pub export_bmf: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub input_scale: f32,
    pub fault: Option<Fault>,
    /// Launch parameters from `gpu-canary tune`, with the file they came from.
    pub tuning: Option<(PathBuf, crate::tune::Tuning)>,
}

impl RunConfig {
    pub fn from_args(a: RunArgs) -> Result<RunConfig> {
        let suite = match a.suite {
            SuiteArg::Quick => Suite::Quick,
            SuiteArg::Full => Suite::Full,
        };
        let mut selected: Vec<&'static dyn Kernel> = Vec::new();
        for id in a.kernel.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let k = kernels::find(id).ok_or_else(|| {
                Error::usage(format!(
                    "unknown kernel '{id}'; use one of: {}",
                    kernels::ids().join(", ")
                ))
            })?;
            if !selected.iter().any(|s| s.id() == k.id()) {
                selected.push(k);
            }
        }
        let explicit_kernels = !selected.is_empty();
        if selected.is_empty() {
            selected = kernels::REGISTRY.to_vec();
        }
        let cases: Vec<Case> = match &a.size {
            Some(size) => {
                if !explicit_kernels {
                    return Err(Error::usage(
                        "--size needs --kernel (a shape belongs to a kernel); e.g. --kernel matmul-f32 --size 1024x1024x1024",
                    ));
                }
                selected
                    .iter()
                    .map(|&k| {
                        Shape::parse(k.shape_kind(), size).map(|shape| Case {
                            kernel: k,
                            shape,
                            explicit: true,
                        })
                    })
                    .collect::<std::result::Result<_, _>>()?
            }
            None => selected
                .iter()
                .flat_map(|&k| {
                    k.suite(suite).into_iter().map(move |shape| Case {
                        kernel: k,
                        shape,
                        explicit: false,
                    })
                })
                .collect(),
        };
        let (warmup, iterations) = match suite {
            Suite::Quick => (a.warmup.unwrap_or(2), a.iterations.unwrap_or(30)),
            Suite::Full => (a.warmup.unwrap_or(5), a.iterations.unwrap_or(50)),
        };
        if iterations == 0 || iterations > 100_000 {
            return Err(Error::usage(format!(
                "invalid --iterations {iterations}: use 1 to 100000"
            )));
        }
        if warmup > 100_000 {
            return Err(Error::usage(format!(
                "invalid --warmup {warmup}: use 0 to 100000"
            )));
        }
        // Below 1e-6, sums of the smallest inputs could reach f32's subnormals, which
        // GPUs may flush; above 65504, f16 inputs overflow.
        if !a.input_scale.is_finite() || !(1e-6..=65504.0).contains(&a.input_scale) {
            return Err(Error::usage(format!(
                "invalid --input-scale {}: inputs must be finite; use a number from 1e-6 to 65504 (f16's largest), e.g. 1",
                a.input_scale
            )));
        }
        let timeout = match a.timeout {
            None => None,
            Some(t) if t.is_finite() && t > 0.0 && t <= 7.0 * 86400.0 => {
                Some(Duration::from_secs_f64(t))
            }
            Some(t) => {
                return Err(Error::usage(format!(
                    "invalid --timeout {t}: use a positive number of seconds, e.g. 600"
                )));
            }
        };
        let backends = crate::gpu::backends_arg(a.backend.as_deref())?;
        if a.require_tensor_cores && !cases.iter().any(|c| c.kernel.id() == "matmul-f16") {
            return Err(Error::usage(
                "--require-tensor-cores needs matmul-f16 among the kernels; drop --kernel or add matmul-f16",
            ));
        }
        if a.export_bmf.as_ref().is_some_and(|p| p.is_dir()) {
            return Err(Error::usage(
                "--export-bmf names a directory; give a file path, e.g. bmf.json",
            ));
        }
        let fault = a
            .inject_fault
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(Fault::parse)
            .transpose()
            .map_err(Error::Usage)?;
        if let Some(Fault::Shader(f)) = fault
            && !cases.iter().any(|c| f.applies_to(c.kernel.shape_kind()))
        {
            return Err(Error::usage(format!(
                "--inject-fault {}: none of the kernels can plant it; choose a kernel it applies to",
                f.name()
            )));
        }
        let tuning = match a.tuning {
            Some(p) => Some((
                p.clone(),
                crate::tune::Tuning::read(&p).map_err(Error::Usage)?,
            )),
            None => None,
        };
        let out = a.out.map(|dir| prepare_out(&dir, a.force)).transpose()?;
        Ok(RunConfig {
            suite: if a.size.is_some() || explicit_kernels {
                "custom".into()
            } else {
                match suite {
                    Suite::Quick => "quick".into(),
                    Suite::Full => "full".into(),
                }
            },
            cases,
            seed: a.seed,
            check_seed: a.check_seed.unwrap_or_else(kernels::inputs::fresh_seed),
            warmup,
            iterations,
            filter: AdapterFilter {
                backends,
                name: a.adapter.filter(|s| !s.is_empty()),
                software_only: fault == Some(Fault::SoftwareAdapter),
            },
            require_hardware: a.require_hardware,
            require_tensor_cores: a.require_tensor_cores,
            expect_vendor: a.expect_vendor.filter(|s| !s.is_empty()),
            checks: if a.unchecked {
                RuntimeChecks::Unchecked
            } else {
                RuntimeChecks::Checked
            },
            out,
            json: a.json,
            export_bmf: a.export_bmf,
            timeout,
            input_scale: a.input_scale,
            fault,
            tuning,
        })
    }
}

/// Checks that `dir` can take the artifacts before any work is done: it must be a
/// directory (created if missing), writable, and hold no earlier result unless `force`.
pub fn prepare_out(dir: &Path, force: bool) -> Result<OutDir> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(Error::usage(format!(
            "--out {shown} is a file, not a directory; pass a directory path"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::usage(format!(
            "--out {shown}: cannot create the directory ({e}); pass a writable path"
        ))
    })?;
    let out = OutDir {
        dir: dir.to_path_buf(),
    };
    if out.result().exists() && !force {
        return Err(Error::usage(format!(
            "--out {shown} already holds a result.json; pass another directory, or --force to overwrite it"
        )));
    }
    // A probe write of a realistic size catches read-only and full filesystems now,
    // rather than after minutes of measurement.
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    let res = std::fs::write(&probe, vec![b' '; 64 * 1024])
        .and_then(|_| std::fs::File::open(&probe)?.sync_all());
    let _ = std::fs::remove_file(&probe);
    res.map_err(|e| {
        Error::usage(format!(
            "--out {shown} is not writable ({e}); pass a writable directory with free space"
        ))
    })?;
    Ok(out)
}
