//! One case at a time: prepare, an untimed first execution (kept for the determinism
//! check), warmup, timed samples, readback, verification. A wrong result becomes data
//! in the report; an environment failure is returned for the caller to classify.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{Case, Fault};
use crate::error::{EnvKind, Error, Result};
use crate::gpu::Gpu;
use crate::gpu::timing::Timestamps;
use crate::kernels::{self, CaseInput, Prepared, RuntimeChecks, inputs};
use crate::model::{KernelResult, KernelStatus, Throughput, TimingMethod};
use crate::stats;

/// Where a run is, for the watchdog: which kernel and which phase.
#[derive(Debug, Default)]
pub struct Progress {
    pub at: Mutex<(Option<String>, String)>,
}

impl Progress {
    pub fn set(&self, kernel: Option<&str>, phase: &str) {
        *self.at.lock().unwrap_or_else(|e| e.into_inner()) =
            (kernel.map(str::to_owned), phase.to_owned());
    }
    pub fn get(&self) -> (Option<String>, String) {
        self.at.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
    pub warmup: u32,
    pub iterations: u32,
    pub input_scale: f32,
    pub checks: RuntimeChecks,
    /// Faults injected into this case.
    pub fault: Option<Fault>,
    /// Launch parameters other than the kernel's defaults (from a tuning file).
    pub params: Option<&'a kernels::Params>,
    pub progress: &'a Progress,
}

pub struct CaseOutcome {
    pub result: KernelResult,
    pub gpu_events: Vec<GpuEvent>,
}

pub fn skipped(case: &Case, seed: u64, reason: String) -> KernelResult {
    KernelResult {
        id: case.kernel.id().to_owned(),
        shape: case.shape.to_string(),
        seed,
        status: KernelStatus::Skipped,
        reason: Some(reason),
        launch: None,
        verification: None,
        samples_ns: Vec::new(),
        stats: None,
        throughput: None,
    }
}

/// One execution of a prepared case in its own compute pass (timestamped into the `ts`
/// slot when given), submitted and waited for; returns the wall time around both.
pub fn dispatch(
    gpu: &Gpu,
    prepared: &dyn Prepared,
    ts: Option<(&Timestamps, u32)>,
) -> Result<Duration> {
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("kernel"),
            timestamp_writes: ts.map(|(t, slot)| t.writes(slot)),
        });
        prepared.encode(&mut pass);
    }
    gpu.submit_and_wait(enc.finish())
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
    let input = CaseInput {
        shape: case.shape,
        seed: opt.seed,
        input_scale: opt.input_scale,
        checks: opt.checks,
        params: opt.params,
    };
    let prepared = {
        let _s = tracing::info_span!("prepare").entered();
        case.kernel.prepare(gpu, &input)?
    };
    let (out_buf, out_size) = prepared.output();

    // First execution, untimed: its output is compared bit for bit with the last one.
    phase("warmup");
    {
        let _s = tracing::info_span!("warmup", runs = opt.warmup.max(1)).entered();
        dispatch(gpu, prepared.as_ref(), None)?;
    }
    phase("readback");
    let first = {
        let _s = tracing::info_span!("readback", bytes = out_size).entered();
        gpu.read_buffer(out_buf, out_size)?
    };
    phase("warmup");
    for _ in 1..opt.warmup {
        dispatch(gpu, prepared.as_ref(), None)?;
    }

    let ts = Timestamps::new(gpu, opt.iterations);
    let mut wall = Vec::with_capacity(opt.iterations as usize);
    for i in 0..opt.iterations {
        phase("dispatch");
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
        wall.push(dispatch(
            gpu,
            prepared.as_ref(),
            ts.as_ref().map(|t| (t, i)),
        )?);
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
    let mut last = {
        let _s = tracing::info_span!("readback", bytes = out_size).entered();
        gpu.read_buffer(out_buf, out_size)?
    };
    if opt.fault == Some(Fault::CorruptOutput) {
        let i = corrupt(&mut last, opt.seed);
        tracing::warn!(index = i, "injected corruption");
    }

    phase("verify");
    let checked = {
        let _s = tracing::info_span!("verify").entered();
        prepared.verify(&last)
    };
    let deterministic = first == last;
    let verification =
        checked
            .tally
            .into_verification(checked.method, &last, checked.exact, deterministic);

    let (samples_ns, gpu_events): (Vec<u64>, Vec<GpuEvent>) = match timestamps {
        Some(stamps) if gpu.timing == TimingMethod::GpuTimestamps => {
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
    let throughput = st.as_ref().map(|s| {
        let rate = |ns: f64| if ns > 0.0 { work / ns } else { 0.0 }; // work/ns = G·work/s
        Throughput {
            unit: unit.to_owned(),
            work_per_run: work,
            median: rate(s.median_ns),
            low: rate(s.median_ci_high_ns),
            high: rate(s.median_ci_low_ns),
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
            format!(
                "{key}: wrong result at index {}{at}: expected {}, got {}, error {:.3e} > bound {:.3e}",
                m.index, m.expected, m.actual, m.error, m.bound
            )
        }
        None if !v.deterministic => {
            format!("{key}: not deterministic: a second execution gave different bits")
        }
        None => format!("{key}: verification failed"),
    }
}

/// Elapsed time since `t`, for durations in the report.
pub fn since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}
