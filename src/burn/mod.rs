//! `gpu-canary burn`: one kernel kept busy for a duration, its result checked at a
//! cadence, with throughput and the GPU's telemetry per interval.
//!
//! - **Load.** Submissions of `batch` dispatches (about 50 ms of GPU work each) are
//!   queued three deep: the next ones are on the queue before one is waited for, so the
//!   GPU never idles between them. Each submission is timed by GPU timestamps around
//!   its pass.
//! - **Checks.** Every `check_every` dispatches (at most half a second of GPU work, so
//!   at least one check per second of it), a second prepared instance of the case runs
//!   once, in the same submission, into buffers poisoned just before and written by
//!   nothing else; they are copied to fresh mappable buffers and verified with the same
//!   checks as `run` (fresh check vectors each time) while the GPU goes on. Every check
//!   must also give the first check's bits.
//! - **Telemetry.** NVML every 100 ms where present (clocks, temperature, power,
//!   throttle reasons, ECC); elsewhere what is missing is said.
//! - **Drift.** The median throughput of the last minute (a third of a shorter burn)
//!   against the first: beyond `--max-drift` with no throttle recorded is exit 5.
//!
//! The burn reports to the run around it through [`Recorder`] after every check, so a
//! signal or a timeout still writes everything measured so far.
//!
//! The loop is `steps` (prepare, calibrate, submit, check, report), the kept-busy load
//! `load`, and everything said about it (intervals, drift, telemetry, the books of what
//! was found) `report`.

mod load;
mod memory;
mod report;
mod steps;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use report::{Done, drift, interval_line, intervals, telemetry};

use crate::error::{EnvKind, Error, Result};
use crate::export::trace::{Counter, Window};
use crate::gpu::Gpu;
use crate::kernels::fault::ShaderFault;
use crate::kernels::{Kernel, Params, RuntimeChecks, Shape, Suite};
use crate::model::{BurnReport, GpuSnapshot, KernelResult, MemoryCoverage};
use crate::runner::memtest::MemoryContext;
use crate::runner::{Case, Fault, FaultDispatches, GpuEvent, Progress};
use crate::telemetry::Monitor;

/// How long a burn runs and how it is judged (`BurnConfig` in `config`).
#[derive(Debug, Clone)]
pub struct BurnSettings {
    pub duration: Duration,
    /// Dispatches between checks; default: half a second of GPU work.
    pub check_every: Option<u64>,
    /// Length of the reported intervals.
    pub interval: Duration,
    /// Go on after a wrong result (every one is counted and listed).
    pub keep_going: bool,
    pub max_drift_pct: f64,
    pub fail_on_throttle: bool,
    /// Tests: the planted fault (`--inject-fault`) appears from this dispatch on, and
    /// not before this much time into the burn.
    pub fault_at: u64,
    pub fault_after: Duration,
}

/// How a burn's inputs and checks are drawn, and the tuned launch parameters.
#[derive(Clone, Copy)]
pub struct Draw<'a> {
    pub seed: u64,
    pub check_seed: u64,
    pub input_scale: f32,
    pub checks: RuntimeChecks,
    pub params: Option<&'a Params>,
}

/// The case to burn and how its inputs and checks are drawn.
pub struct BurnCase<'a> {
    pub case: Case,
    pub draw: Draw<'a>,
    pub fault: Option<ShaderFault>,
    /// Tests: the dispatches the fault hits are left out.
    pub stale: bool,
    /// Tests: which dispatches the planted fault (or `stale`) hits, once it is due.
    pub fault_dispatches: FaultDispatches,
    /// Tests: once the fault is due, every dispatch is recorded [`SLOWDOWN`] times (a
    /// slower GPU).
    pub slowdown: bool,
    /// The memory test's view of the device's memory (memtest only).
    pub memory: Option<&'a crate::runner::memtest::MemoryContext>,
    /// Tests: the GPU's check compares nothing, or the poisoning before the dispatches
    /// the fault hits is left out.
    pub dead_check: bool,
    pub skip_repoison: bool,
}

/// What the burn reports to the run around it.
pub trait Recorder {
    fn print(&self, line: &str);
    fn progress(&self) -> &Progress;
    /// The burn section and the kernel's result as they stand; rewrites result.json.
    fn record(&self, burn: &BurnReport, kernel: &KernelResult);
    /// New GPU events, their host windows and counter samples for the trace.
    fn trace(&self, gpu: Vec<GpuEvent>, windows: Vec<Window>, counters: Vec<Counter>);
    /// The memory burn's coverage as it stands.
    fn coverage(&self, coverage: &MemoryCoverage);
}

/// A burn's default shape: the largest of the full suite on a GPU, of the quick suite
/// on a software adapter (`software` not known yet: the full suite's).
pub fn default_shape(kernel: &dyn Kernel, software: Option<bool>) -> Shape {
    let suite = if software == Some(true) {
        Suite::Quick
    } else {
        Suite::Full
    };
    crate::kernels::largest_shape(kernel, suite)
}

/// How many times a dispatch is recorded under the planted slowdown: throughput falls
/// to an eighth, more than a software adapter's share of a contended CPU can swing.
pub const SLOWDOWN: u32 = 8;

/// Telemetry period.
pub const PERIOD: Duration = Duration::from_millis(100);
/// GPU work per submission, and at most between checks.
const SUBMISSION: f64 = 0.05;
const CHECK: f64 = 0.5;
/// Submissions on the queue at once.
const DEPTH: usize = 3;

/// Ledger slots: more than one submission's dispatches.
const LEDGER_SLOTS: u32 = 4096;
/// Dispatches per submission at most: two timestamp queries each fit one query set.
const MAX_BATCH: u64 = 2048;
/// Dispatches of the calibration: the first (the golden copy, checked against the CPU
/// reference) and three timed ones.
const CALIBRATION: u64 = 4;

/// What the run asks of a burn besides its settings: how inputs and checks are drawn,
/// and the planted fault (tests only).
pub struct Ask<'a> {
    pub draw: Draw<'a>,
    pub fault: Option<Fault>,
    pub fault_dispatches: FaultDispatches,
}

/// `gpu-canary burn`'s work on the card the run opened, once it passed the run's
/// checks: the case's shape settled (the largest its suite holds where none was asked
/// for) and held against the adapter, then the burn. `memory` reads the device's memory
/// for a memory burn. Returns the telemetry samples.
pub fn on_card(
    gpu: &Gpu,
    mut case: Case,
    ask: Ask<'_>,
    s: &BurnSettings,
    monitor: &Arc<Monitor>,
    memory: impl FnOnce() -> MemoryContext,
    rec: &dyn Recorder,
) -> Result<Vec<GpuSnapshot>> {
    if !case.explicit {
        case.shape = default_shape(case.kernel, Some(gpu.is_software()));
    }
    crate::kernels::check_limits(case.kernel, case.shape, &gpu.limits).map_err(Error::Usage)?;
    if let Some(reason) = case.kernel.unsupported(gpu) {
        return Err(Error::env(
            EnvKind::MissingFeature,
            format!("{} cannot burn on this adapter: {reason}", case.kernel.id()),
        ));
    }
    let memory = case.kernel.memory_test().then(memory);
    let _span = tracing::info_span!("burn").entered();
    let t0 = Instant::now();
    // The planted fault as the burn's switches.
    let fault = ask.fault;
    let c = BurnCase {
        case,
        draw: ask.draw,
        fault: match fault {
            Some(Fault::Shader(f)) => Some(f),
            _ => None,
        },
        stale: matches!(
            fault,
            Some(Fault::Stale | Fault::SkipRepoison { stale: true })
        ),
        dead_check: fault == Some(Fault::DeadCheck),
        skip_repoison: matches!(fault, Some(Fault::SkipRepoison { .. })),
        fault_dispatches: ask.fault_dispatches,
        slowdown: fault == Some(Fault::Slowdown),
        memory: memory.as_ref(),
    };
    burn(gpu, &c, s, monitor, t0, rec)
}

/// Runs the burn; returns the telemetry samples. `t0` is when the trace's `burn` span
/// started: the telemetry and the trace's counters are timed from it.
pub fn burn(
    gpu: &Gpu,
    c: &BurnCase,
    s: &BurnSettings,
    monitor: &Arc<Monitor>,
    t0: Instant,
    rec: &dyn Recorder,
) -> Result<Vec<GpuSnapshot>> {
    if c.case.kernel.memory_test() {
        let none = crate::runner::memtest::MemoryContext::default();
        let (samples, _) = memory::burn(gpu, c, s, monitor, t0, rec, c.memory.unwrap_or(&none))?;
        return Ok(samples);
    }
    let mut burn = steps::Ready::prepare(gpu, c, s, monitor, t0, rec)?.calibrate()?;
    while burn.running() {
        burn.submit()?;
        burn.complete_due()?;
    }
    burn.finish()
}
