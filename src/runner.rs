//! One case at a time: prepare, poison the outputs, an untimed first execution (kept
//! for the determinism check), warmup, timed samples (the outputs poisoned again before
//! the last one), readback, verification. A wrong result becomes data in the report; an
//! environment failure is returned for the caller to classify.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{EnvKind, Error, Result};
use crate::gpu::Gpu;
use crate::gpu::timing::Timestamps;
use crate::inputs;
use crate::kernels::fault::{self, Planter, ShaderFault};
use crate::kernels::{self, CaseInput, Kernel, Params, Plant, RuntimeChecks, Shape};
use crate::model::{HostTiming, KernelResult, KernelStatus, Throughput, TimingMethod};
use crate::stats;

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
    /// burn only: once the fault is due, every dispatch is recorded eight times, so the
    /// GPU's throughput falls to an eighth with no throttle to explain it.
    Slowdown,
}

impl Fault {
    pub fn parse(s: &str) -> std::result::Result<Fault, String> {
        Ok(match s {
            "corrupt-output" => Fault::CorruptOutput,
            "stall" => Fault::Stall,
            "device-lost" => Fault::DeviceLost,
            "software-adapter" => Fault::SoftwareAdapter,
            "stale" => Fault::Stale,
            "slowdown" => Fault::Slowdown,
            _ => match ShaderFault::parse(s) {
                Some(f) => Fault::Shader(f?),
                None => {
                    return Err(format!(
                        "invalid --inject-fault '{s}'; use corrupt-output, stall, device-lost, software-adapter, stale, slowdown (burn), or a shader fault: {}",
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
            Fault::Slowdown => "slowdown".into(),
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

/// Where a run is, for the watchdog and the progress line: which kernel, which
/// phase, which sample of how many, and since when.
#[derive(Debug, Default)]
pub struct Progress {
    at: Mutex<At>,
}

/// A snapshot of [`Progress`].
#[derive(Debug, Clone, Default)]
pub struct At {
    /// What the run is doing around the case, e.g. `config 3/37` in `tune`.
    pub context: Option<String>,
    pub kernel: Option<String>,
    pub phase: String,
    /// (sample, samples) while timed samples run.
    pub sample: Option<(u32, u32)>,
    /// When the current kernel started.
    pub since: Option<Instant>,
}

impl Progress {
    fn lock(&self) -> std::sync::MutexGuard<'_, At> {
        self.at.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn set(&self, kernel: Option<&str>, phase: &str) {
        let mut at = self.lock();
        if at.kernel.as_deref() != kernel {
            at.since = kernel.map(|_| Instant::now());
        }
        at.kernel = kernel.map(str::to_owned);
        at.phase = phase.to_owned();
        at.sample = None;
    }
    pub fn set_context(&self, context: Option<String>) {
        self.lock().context = context;
    }
    pub fn sample(&self, i: u32, of: u32) {
        self.lock().sample = Some((i, of));
    }
    pub fn get(&self) -> At {
        self.lock().clone()
    }
}

/// One timed dispatch on the GPU's clock, for the trace's GPU track.
#[derive(Debug, Clone)]
pub struct GpuEvent {
    pub key: String,
    pub sample: u32,
    pub begin_ns: u64,
    pub end_ns: u64,
}

pub struct CaseOptions<'a> {
    pub seed: u64,
    /// Seed of the check vectors (fresh for each run, see `inputs::fresh_seed`).
    pub check_seed: u64,
    pub warmup: u32,
    pub iterations: u32,
    pub input_scale: f32,
    pub checks: RuntimeChecks,
    /// Faults injected into this case.
    pub fault: Option<Fault>,
    /// Launch parameters other than the kernel's defaults (from a tuning file).
    pub params: Option<&'a Params>,
    pub progress: &'a Progress,
}

pub struct CaseOutcome {
    pub result: KernelResult,
    pub gpu_events: Vec<GpuEvent>,
}

pub fn skipped(case: &Case, seed: u64, reason: String) -> KernelResult {
    KernelResult {
        reason: Some(reason),
        ..KernelResult::new(
            case.kernel.id(),
            case.shape.to_string(),
            seed,
            KernelStatus::Skipped,
        )
    }
}

/// Flips one element's high bits: the smallest change a verifier must catch.
fn corrupt(output: &mut [u8], seed: u64) -> usize {
    let words = output.len() / 4;
    let i = (inputs::word(seed, inputs::stream::CORRUPT, 0) % words as u64) as usize;
    output[i * 4 + 3] ^= 0x40;
    i
}

pub fn run_case(gpu: &Gpu, case: &Case, opt: &CaseOptions) -> Result<CaseOutcome> {
    let key = format!("{}/{}", case.kernel.id(), case.shape);
    let span = tracing::info_span!("kernel", kernel = %key);
    let _g = span.enter();
    let phase = |p: &str| opt.progress.set(Some(&key), p);

    phase("prepare");
    let shader_fault = match opt.fault {
        Some(Fault::Shader(f)) => Some(f),
        _ => None,
    };
    let input = CaseInput {
        shape: case.shape,
        seed: opt.seed,
        input_scale: opt.input_scale,
        checks: opt.checks,
        params: opt.params,
        fault: shader_fault,
    };
    let prepared = {
        let _s = tracing::info_span!("prepare").entered();
        case.kernel.prepare(gpu, &input)?
    };
    let planter = match shader_fault {
        Some(f) => Planter::new(gpu, f, prepared.fault_target(), prepared.layout())?,
        None => None,
    };
    let plant = |pass: &mut wgpu::ComputePass<'_>| {
        if let Some(p) = &planter {
            p.encode(pass);
        }
    };
    let plant: Plant<'_> = planter.as_ref().map(|_| &plant as _);
    let run = |ts| prepared.execute(gpu, plant, ts);

    // First execution, untimed, on poisoned outputs: compared bit for bit with the last.
    phase("warmup");
    prepared.poison(gpu)?;
    {
        let _s = tracing::info_span!("warmup", runs = opt.warmup.max(1)).entered();
        run(None)?;
    }
    phase("readback");
    let first = prepared.read(gpu)?;
    phase("warmup");
    for _ in 1..opt.warmup {
        run(None)?;
    }

    // Copies outside a pass need timestamps inside encoders; without them the host
    // clock is the sample, and the result says so.
    let gpu_timed = prepared.gpu_timed(gpu);
    let ts = if gpu_timed {
        Timestamps::new(gpu, opt.iterations)
    } else {
        None
    };
    let mut wall = Vec::with_capacity(opt.iterations as usize);
    for i in 0..opt.iterations {
        let last = i + 1 == opt.iterations;
        if last {
            // The verified run starts from poison too, outside the timed pass.
            prepared.poison(gpu)?;
        }
        phase("dispatch");
        opt.progress.sample(i + 1, opt.iterations);
        if opt.fault == Some(Fault::Stall) {
            // A hung wait, as a driver that never signals would give: only the
            // watchdog ends it.
            phase("wait");
            let _s = tracing::info_span!("dispatch", kernel = %key, sample = i).entered();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        let _s = tracing::info_span!("dispatch", kernel = %key, sample = i).entered();
        let stale = last && opt.fault == Some(Fault::Stale);
        let ts = ts.as_ref().map(|t| (t, i));
        wall.push(if stale {
            // A dispatch that never reaches the GPU: what is read back is the poison.
            kernels::dispatch(gpu, |_| {}, ts)?
        } else {
            run(ts)?
        });
        if opt.fault == Some(Fault::DeviceLost) {
            gpu.device.destroy();
            // Destruction is reported through the device-lost callback on the next poll.
            let _ = gpu.device.poll(wgpu::PollType::Poll);
            gpu.sink.check()?;
            return Err(Error::env(EnvKind::DeviceLost, "device lost (injected)"));
        }
    }

    phase("readback");
    let timestamps = match &ts {
        Some(t) => {
            let _s = tracing::info_span!("read_timestamps").entered();
            Some(t.read(gpu, opt.iterations)?)
        }
        None => None,
    };
    let mut last = prepared.read(gpu)?;
    if opt.fault == Some(Fault::CorruptOutput) {
        let i = corrupt(&mut last[0], opt.seed);
        tracing::warn!(index = i, "injected corruption");
    }

    phase("verify");
    let checked = {
        let _s = tracing::info_span!("verify").entered();
        prepared.verify(&last, opt.check_seed)
    };
    let deterministic = first == last;
    let verification = checked.into_verification(&last[0], deterministic);

    let sampled_on_gpu = gpu_timed && gpu.timing == TimingMethod::GpuTimestamps;
    let (samples_ns, gpu_events): (Vec<u64>, Vec<GpuEvent>) = match timestamps {
        Some(stamps) if sampled_on_gpu => {
            let ev = stamps
                .iter()
                .enumerate()
                .map(|(i, &(b, e))| GpuEvent {
                    key: key.clone(),
                    sample: i as u32,
                    begin_ns: b,
                    end_ns: e.max(b),
                })
                .collect::<Vec<_>>();
            (ev.iter().map(|e| e.end_ns - e.begin_ns).collect(), ev)
        }
        _ => (
            wall.iter().map(|d| d.as_nanos() as u64).collect(),
            Vec::new(),
        ),
    };
    let st = stats::summarize(&samples_ns);
    let (work, unit) = prepared.work();
    let rate_of = |s: &crate::model::Stats| {
        let rate = |ns: f64| if ns > 0.0 { work / ns } else { 0.0 }; // work/ns = G·work/s
        Throughput {
            unit: unit.to_owned(),
            work_per_run: work,
            median: rate(s.median_ns),
            low: rate(s.median_ci_high_ns),
            high: rate(s.median_ci_low_ns),
        }
    };
    let throughput = st.as_ref().map(rate_of);
    let timing = (!gpu_timed && gpu.timing == TimingMethod::GpuTimestamps)
        .then_some(TimingMethod::WallClock);
    // Beside the GPU's time for the copy, the host's for the whole transfer (when the
    // samples are already host time, that is them).
    let host = prepared
        .host_timed()
        .filter(|_| sampled_on_gpu)
        .map(|spans| {
            let samples: Vec<u64> = wall.iter().map(|d| d.as_nanos() as u64).collect();
            let stats = stats::summarize(&samples);
            HostTiming {
                spans: spans.to_owned(),
                throughput: stats.as_ref().map(rate_of),
                samples_ns: samples,
                stats,
            }
        });
    let status = if verification.passed {
        KernelStatus::Pass
    } else {
        KernelStatus::Fail
    };
    let reason = (!verification.passed).then(|| failure_reason(&key, &verification));
    Ok(CaseOutcome {
        result: KernelResult {
            id: case.kernel.id().to_owned(),
            shape: case.shape.to_string(),
            seed: opt.seed,
            status,
            reason,
            launch: Some(prepared.launch()),
            verification: Some(verification),
            samples_ns,
            stats: st,
            throughput,
            timing,
            host,
        },
        gpu_events,
    })
}

/// "matmul-f32/8x8x8: element 17 (row 2, col 1): expected …, got …, error … > bound …".
pub fn failure_reason(key: &str, v: &crate::model::Verification) -> String {
    match &v.first_mismatch {
        Some(m) => {
            let at = match (m.row, m.col) {
                (Some(r), Some(c)) => format!(" (row {r}, col {c})"),
                (Some(r), None) => format!(" (row {r}, Freivalds row check)"),
                _ => String::new(),
            };
            let at = match &m.location {
                Some(l) => format!(" ({l})"),
                None => at,
            };
            if v.method == "exact-bytes" {
                // Words, not numbers: the bits are what was copied.
                let hex = |x: f64| {
                    if x.is_nan() {
                        "nothing (short read)".to_owned()
                    } else {
                        format!("0x{:08x}", x as u32)
                    }
                };
                return format!(
                    "{key}: wrong bytes at {}: expected {}, got {} (bits {} differ; exact-bytes check against the pattern)",
                    m.location.as_deref().unwrap_or("?"),
                    hex(m.expected),
                    hex(m.actual),
                    (m.expected as u32 ^ m.actual as u32).count_ones()
                );
            }
            format!(
                "{key}: wrong result at index {}{at}: expected {}, got {}, error {:.3e} > bound {:.3e} ({} check against {})",
                m.index, m.expected, m.actual, m.error, m.bound, v.method, v.reference
            )
        }
        None if !v.deterministic => {
            format!("{key}: not deterministic: a second execution gave different bits")
        }
        None => format!("{key}: verification failed"),
    }
}
