//! One case at a time: prepare, poison the outputs, an untimed first execution (kept
//! for the determinism check), warmup, timed samples (the outputs poisoned again before
//! the last one), readback, verification. A wrong result becomes data in the report; an
//! environment failure is returned for the caller to classify.

pub mod memtest;
mod plan;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::gpu::Gpu;
use crate::gpu::timing::Timestamps;
use crate::kernels::fault::{self, Planter};
use crate::kernels::golden::{self, Golden};
use crate::kernels::{self, CaseInput, Kernel, Params, Plant, Run, RuntimeChecks, Shape, Stamp};
use crate::model::{
    DispatchCheck, HostTiming, KernelResult, KernelStatus, Throughput, TimingMethod, WrongDispatch,
};
use crate::stats;

pub use plan::{CheckFault, DispatchFault, Fault, FaultDispatches, FaultPlan};

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
    /// (case, cases) in `run`: the case in progress, counted from 1.
    pub case: Option<(usize, usize)>,
    /// Where a burn is, for its bar.
    pub burn: Option<BurnAt>,
}

/// A burn's progress: time, dispatches verified and the current throughput.
#[derive(Debug, Clone, Default)]
pub struct BurnAt {
    pub elapsed_s: f64,
    pub duration_s: f64,
    pub verified: u64,
    /// The last submission's rate with its unit, e.g. `812.4 GFLOP/s`.
    pub throughput: Option<String>,
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
    pub fn case(&self, i: usize, of: usize) {
        self.lock().case = Some((i, of));
    }
    pub fn burn(&self, at: BurnAt) {
        self.lock().burn = Some(at);
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
    /// Faults injected into this case, and the dispatches they hit.
    pub fault: Option<Fault>,
    pub fault_dispatches: FaultDispatches,
    /// Launch parameters other than the kernel's defaults (from a tuning file).
    pub params: Option<&'a Params>,
    pub progress: &'a Progress,
    /// The memory test's view of the device's memory (memtest only).
    pub memory: Option<&'a memtest::MemoryContext>,
}

pub struct CaseOutcome {
    pub result: KernelResult,
    pub gpu_events: Vec<GpuEvent>,
    /// The memory test's coverage (memtest only).
    pub coverage: Option<crate::model::MemoryCoverage>,
}

/// The distance between consecutive words of `words` (in order), when at least three
/// are listed and every gap is the same.
pub fn stride(words: &[u64]) -> Option<u64> {
    if words.len() < 3 {
        return None;
    }
    let d = words[1].checked_sub(words[0])?;
    (d > 0 && words.windows(2).all(|w| w[1].checked_sub(w[0]) == Some(d))).then_some(d)
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

/// Where dispatch `d` of a case lies: "dispatch 12 of 32 (timed sample 10 of 30)".
pub fn dispatch_name(d: u64, untimed: u64, total: u64) -> String {
    let what = if d == 1 {
        "the first, untimed".to_owned()
    } else if d <= untimed {
        format!("warmup {} of {}", d - 1, untimed - 1)
    } else {
        format!("timed sample {} of {}", d - untimed, total - untimed)
    };
    format!("dispatch {d} of {total} ({what})")
}

/// Word `w` of a case's outputs (counted over them in order, `sizes` in bytes) in the
/// words people use: row and column of the result, or the word of an intermediate.
pub fn word_place(w: u64, sizes: &[u64], layout: fault::Layout) -> (Option<(u64, u64)>, String) {
    let mut base = 0;
    for (i, &bytes) in sizes.iter().enumerate() {
        let words = bytes.div_ceil(4);
        if w < base + words {
            let at = w - base;
            let stride = u64::from(layout.stride.max(1));
            let (r, c) = (at / stride, at % stride);
            return match i {
                0 if layout.rows > 1 && c < u64::from(layout.cols) => (
                    Some((r, c)),
                    format!("word {at} of the result (row {r}, col {c})"),
                ),
                0 => (None, format!("word {at} of the result")),
                _ => (None, format!("word {at} of intermediate output {i}")),
            };
        }
        base += words;
    }
    (None, format!("word {w}"))
}

/// A wrong word found by comparing with the verified output, as the report records it:
/// the place, and both values as bits (hex with the value) and as numbers.
pub fn wrong_word(
    prepared: &dyn kernels::Prepared,
    word: u64,
    expected: u32,
    actual: u32,
) -> (String, String, String, crate::model::Mismatch) {
    let layout = prepared.layout();
    let sizes: Vec<u64> = prepared.outputs().iter().map(|o| o.bytes).collect();
    let (rc, place) = word_place(word, &sizes, layout);
    let float = layout.float && place.contains("of the result");
    let value = |b: u32| {
        if float {
            f64::from(f32::from_bits(b))
        } else {
            f64::from(b)
        }
    };
    let mismatch = crate::model::Mismatch {
        index: word,
        row: rc.map(|x| x.0),
        col: rc.map(|x| x.1),
        location: Some(place.clone()),
        expected: value(expected),
        actual: value(actual),
        error: (value(actual) - value(expected)).abs(),
        bound: 0.0,
    };
    (
        place,
        bits_text(expected, float),
        bits_text(actual, float),
        mismatch,
    )
}

/// Bits as people read them: hex, and the f32 or u32 value.
pub fn bits_text(bits: u32, float: bool) -> String {
    if float {
        format!("0x{bits:08x} ({:e})", f32::from_bits(bits))
    } else {
        format!("0x{bits:08x} ({bits})")
    }
}

/// Wrong dispatches listed in a result; the rest are counted.
const LISTED: usize = 16;

/// Every dispatch of one case compared with the first: on the GPU against the golden
/// copy, by a check pass whose own report is checked (the sentinel, the words compared
/// and poisoned) and read after every pass, or on the host for a result that lies there.
struct DispatchChecker<'a> {
    prepared: &'a dyn kernels::Prepared,
    golden: Option<Golden>,
    /// The host's copy of the first output: the golden copy read back must still equal it.
    first: &'a [Vec<u8>],
    on_host: bool,
    untimed: u64,
    total: u64,
    /// Dispatches compared with the first by a check that proved itself (or on the host).
    compared: u64,
    wrong: Vec<WrongDispatch>,
    wrong_count: u64,
    /// Passes whose own check failed, named (the first [`LISTED`]), and how many.
    checker: Vec<String>,
    checker_count: u64,
    repoisoned: u64,
    /// Where the golden copy was found changed, if it was.
    golden_fault: Option<String>,
    spent: Duration,
}

impl<'a> DispatchChecker<'a> {
    /// Keeps the first execution's outputs (on the device, or `first` on the host) as
    /// the golden copy, and poisons the outputs again. `dead` (tests only): the GPU's
    /// compare step returns at once.
    fn new(
        gpu: &Gpu,
        prepared: &'a dyn kernels::Prepared,
        first: &'a [Vec<u8>],
        (untimed, total): (u64, u64),
        dead: bool,
    ) -> Result<DispatchChecker<'a>> {
        let t0 = Instant::now();
        let _s = tracing::info_span!("golden").entered();
        let on_host = prepared.result_on_host();
        let golden = if on_host {
            None
        } else {
            let g = Golden::new(gpu, &prepared.outputs(), golden::SLOTS, dead)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            g.keep(&mut enc);
            gpu.submit_and_wait(enc.finish())?;
            Some(g)
        };
        Ok(DispatchChecker {
            prepared,
            golden,
            first,
            on_host,
            untimed,
            total,
            compared: 0,
            wrong: Vec::new(),
            wrong_count: 0,
            checker: Vec::new(),
            checker_count: 0,
            repoisoned: 0,
            golden_fault: None,
            spent: t0.elapsed(),
        })
    }

    fn found(&mut self, d: u64, wrong_words: u64, word: u64, expected: u32, actual: u32) {
        self.wrong_count += 1;
        if self.wrong.len() < LISTED {
            let (place, expected, actual, _) = wrong_word(self.prepared, word, expected, actual);
            self.wrong.push(WrongDispatch {
                dispatch: d,
                name: dispatch_name(d, self.untimed, self.total),
                wrong_words,
                word,
                place,
                expected,
                actual,
            });
        }
    }

    /// Compares dispatch `d`'s outputs with the golden copy, outside any timed window,
    /// and reads the pass's report at once; with `repoison` the pass poisons the outputs
    /// for the next dispatch (and where it did not, the host does).
    fn check(&mut self, gpu: &Gpu, d: u64, repoison: bool, fault: CheckFault) -> Result<()> {
        let t0 = Instant::now();
        let _s = tracing::info_span!("dispatch_check", dispatch = d).entered();
        if self.on_host {
            // readback: its staging buffer alternates sources instead of being poisoned
            // (kernels::copy), so a copy that never ran reads back wrong in every bit.
            let found = self.prepared.host_mismatch(self.first);
            self.compared += 1;
            if let Some(m) = found {
                self.found(d, m.wrong_words, m.word, m.expected, m.actual);
                // A copy that went wrong may have left bytes of the parity the next
                // one expects: poison the staging, so a next copy that never runs
                // reads back poison.
                self.prepared.poison(gpu)?;
            }
        } else if let Some(g) = &mut self.golden {
            if fault.corrupt_golden {
                g.corrupt(
                    gpu,
                    0,
                    !u32::from_le_bytes(self.first[0][..4].try_into().expect("a word")),
                );
            }
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            g.encode_compare(&mut enc);
            match (repoison, fault.drop_poison) {
                (true, true) => g.encode_dropping_poison(&mut enc),
                (poison, _) => g.encode_finish(&mut enc, poison),
            }
            let report = g.snapshot_last(&mut enc).clone();
            gpu.submit_and_wait(enc.finish())?;
            let raw = gpu.read_done(&report)?;
            match g.last_check(&raw).as_ref() {
                None => self.not_checked(d, "it never ran on the GPU".to_owned()),
                Some(c) => {
                    if let Some(why) = &c.checker {
                        self.not_checked(d, why.clone());
                    } else if let Some(f) = c.finding {
                        // The dispatch's fault only while the golden copy is intact: a
                        // changed copy is named instead, and nothing compared with it
                        // is verified or blamed.
                        if self.golden_intact(gpu, d)? {
                            self.compared += 1;
                            self.found(d, f.wrong, f.first, f.expected, f.actual);
                        }
                    } else {
                        self.compared += 1;
                    }
                    if repoison && c.unpoisoned.is_some() {
                        // The next dispatch must start from poison, or one that never
                        // runs would pass on this one's result.
                        self.prepared.poison(gpu)?;
                        self.repoisoned += 1;
                    }
                }
            }
        }
        self.spent += t0.elapsed();
        Ok(())
    }

    /// A pass whose own check failed: its dispatch is not verified.
    fn not_checked(&mut self, d: u64, why: String) {
        self.checker_count += 1;
        if self.checker.len() < LISTED {
            self.checker.push(format!(
                "the check pass after {}: {why}",
                dispatch_name(d, self.untimed, self.total)
            ));
        }
    }

    /// Whether the golden copy on the device still equals the host's copy of the first
    /// output; where it does not, the fault is the device's memory, and is named so
    /// (once), not blamed on the dispatches compared with it.
    fn golden_intact(&mut self, gpu: &Gpu, d: u64) -> Result<bool> {
        let (Some(g), None) = (&self.golden, &self.golden_fault) else {
            return Ok(self.golden_fault.is_none());
        };
        let now = g.read_goldens(gpu)?;
        let mut base = 0u64;
        for (f, n) in self.first.iter().zip(&now) {
            if let Some(m) = golden::compare_words(f, n) {
                let count = m.wrong_words;
                let (place, e, a, _) =
                    wrong_word(self.prepared, base + m.word, m.expected, m.actual);
                self.golden_fault = Some(format!(
                    "the verified copy on the device changed (found {}): memory fault in {count} word{} of the golden copy, the first {place}: it holds {a} where the verified output is {e}; the dispatches compared with it are not blamed",
                    if d == 0 {
                        "at the end of the case".to_owned()
                    } else {
                        format!("after {}", dispatch_name(d, self.untimed, self.total))
                    },
                    if count == 1 { "" } else { "s" },
                ));
                return Ok(false);
            }
            base += f.len() as u64 / 4;
        }
        Ok(true)
    }

    /// The record of every dispatch; `first_verified`: the first execution equals the
    /// last, verified one, bit for bit. The golden copy is read back and checked once
    /// more.
    fn finish(mut self, gpu: &Gpu, first_verified: bool) -> Result<DispatchCheck> {
        let t0 = Instant::now();
        // The last pass compared the golden copy with the last output, which the host
        // read and checked (and found equal to the first): with no mismatch there, the
        // copy is intact without another readback; after one, it is read back.
        let proven = first_verified
            && self.wrong_count == 0
            && self.checker_count == 0
            && self.golden_fault.is_none();
        let intact = match self.golden {
            Some(_) if !proven => Some(self.golden_intact(gpu, 0)?),
            Some(_) => Some(true),
            None => None,
        };
        self.spent += t0.elapsed();
        let method = if self.on_host {
            "golden-host"
        } else {
            "golden-gpu"
        };
        Ok(DispatchCheck {
            method: method.to_owned(),
            dispatches_total: self.total,
            dispatches_verified: self.compared + u64::from(first_verified),
            wrong_dispatches: self.wrong_count,
            wrong: self.wrong,
            check_ns: Some(self.spent.as_nanos() as u64),
            checker_faults: self.checker,
            repoisoned_by_host: self.repoisoned,
            golden_intact: intact,
            golden_fault: self.golden_fault,
        })
    }
}

/// One case: prepare, poison, the golden first dispatch, warm up, time, verify,
/// report, each a step of [`Steps`]. The memory test runs pass by pass instead
/// (`memtest`).
pub fn run_case(gpu: &Gpu, case: &Case, opt: &CaseOptions) -> Result<CaseOutcome> {
    if case.kernel.memory_test() {
        let none = memtest::MemoryContext::default();
        return memtest::run(gpu, case, opt, opt.memory.unwrap_or(&none));
    }
    let key = format!("{}/{}", case.kernel.id(), case.shape);
    let span = tracing::info_span!("kernel", kernel = %key);
    let _g = span.enter();
    let steps = Steps::prepare(gpu, case, opt, key)?;
    let first = steps.golden()?;
    let mut checker = steps.checker(&first)?;
    steps.warm_up(&mut checker)?;
    let timed = steps.time(&mut checker)?;
    let checked = steps.verify(&first, checker)?;
    Ok(steps.report(timed, checked))
}

/// What the steps of one case share: the prepared kernel, its fault planter and plan
/// (tests only; no-ops otherwise), and how its dispatches are numbered.
struct Steps<'a> {
    gpu: &'a Gpu,
    case: &'a Case,
    opt: &'a CaseOptions<'a>,
    key: String,
    prepared: Box<dyn kernels::Prepared>,
    planter: Option<Planter>,
    plan: FaultPlan,
    /// Dispatches: the first (untimed, on poisoned outputs, kept as the golden copy),
    /// the rest of the warmup (`untimed` in all), then the timed samples (`total`).
    untimed: u64,
    total: u64,
}

/// The timed samples: host times, the GPU's timestamps where it wrote them.
struct Timed {
    wall: Vec<Duration>,
    timestamps: Option<Vec<(u64, u64)>>,
    gpu_timed: bool,
}

/// The last output against the CPU reference and every dispatch against the first.
struct Verified {
    first: Vec<Vec<u8>>,
    last: Vec<Vec<u8>>,
    verification: crate::model::Verification,
    dispatches: DispatchCheck,
    fingerprint: Option<crate::model::Fingerprint>,
}

impl<'a> Steps<'a> {
    /// Prepare: buffers uploaded, pipeline compiled (with the planted shader fault, if
    /// any), the planter ready.
    fn prepare(
        gpu: &'a Gpu,
        case: &'a Case,
        opt: &'a CaseOptions<'a>,
        key: String,
    ) -> Result<Steps<'a>> {
        opt.progress.set(Some(&key), "prepare");
        let untimed = u64::from(opt.warmup.max(1));
        let total = untimed + u64::from(opt.iterations);
        let plan = FaultPlan::new(opt.fault, opt.fault_dispatches, untimed, total);
        let input = CaseInput {
            shape: case.shape,
            seed: opt.seed,
            input_scale: opt.input_scale,
            checks: opt.checks,
            params: opt.params,
            fault: plan.shader(),
        };
        let prepared = {
            let _s = tracing::info_span!("prepare").entered();
            case.kernel.prepare(gpu, &input)?
        };
        let planter = match plan.shader() {
            Some(f) => Planter::new(gpu, f, prepared.fault_target(), prepared.layout())?,
            None => None,
        };
        Ok(Steps {
            gpu,
            case,
            opt,
            key,
            prepared,
            planter,
            plan,
            untimed,
            total,
        })
    }

    fn phase(&self, p: &str) {
        self.opt.progress.set(Some(&self.key), p);
    }

    /// Dispatch `d`, timestamped into `ts` when given.
    fn execute(&self, d: u64, ts: Stamp<'_>) -> Result<Duration> {
        let at = self.plan.before_dispatch(d);
        let plant = |pass: &mut wgpu::ComputePass<'_>| {
            if let Some(p) = &self.planter {
                p.encode(pass);
            }
        };
        let plant: Plant<'_> = (at.planted && self.planter.is_some()).then_some(&plant as _);
        self.prepared.execute(
            self.gpu,
            Run {
                plant,
                ts,
                dropped: at.dropped,
            },
        )
    }

    /// Poison, then the golden dispatch: the first execution, untimed, on poisoned
    /// outputs, read back; every later one is compared with it.
    fn golden(&self) -> Result<Vec<Vec<u8>>> {
        self.phase("warmup");
        self.prepared.poison(self.gpu)?;
        {
            let _s = tracing::info_span!("warmup", runs = self.untimed).entered();
            self.execute(1, None)?;
        }
        self.phase("readback");
        self.prepared.read(self.gpu)
    }

    /// The golden copy kept on the device, and the check of every later dispatch.
    fn checker<'c>(&'c self, first: &'c [Vec<u8>]) -> Result<DispatchChecker<'c>> {
        DispatchChecker::new(
            self.gpu,
            &*self.prepared,
            first,
            (self.untimed, self.total),
            self.plan.dead_check(),
        )
    }

    /// Warm up: the rest of the untimed dispatches, each checked.
    fn warm_up(&self, checker: &mut DispatchChecker<'_>) -> Result<()> {
        self.phase("warmup");
        for d in 2..=self.untimed {
            self.execute(d, None)?;
            checker.check(self.gpu, d, true, self.plan.check(d))?;
        }
        Ok(())
    }

    /// Time: the timed samples, each checked (the last is left unpoisoned for the
    /// readback), then the timestamps read.
    fn time(&self, checker: &mut DispatchChecker<'_>) -> Result<Timed> {
        let (gpu, opt) = (self.gpu, self.opt);
        // Copies outside a pass need timestamps inside encoders; without them the host
        // clock is the sample, and the result says so.
        let gpu_timed = self.prepared.gpu_timed(gpu);
        let ts = if gpu_timed {
            Timestamps::new(gpu, opt.iterations)
        } else {
            None
        };
        let mut wall = Vec::with_capacity(opt.iterations as usize);
        for i in 0..opt.iterations {
            let d = self.untimed + u64::from(i) + 1;
            let last = d == self.total;
            if last && self.prepared.result_on_host() {
                // The verified run starts from poison too, outside the timed pass (on
                // the device, the outputs are poisoned again after every check).
                self.prepared.poison(gpu)?;
            }
            self.phase("dispatch");
            opt.progress.sample(i + 1, opt.iterations);
            self.plan.before_wait(opt.progress, &self.key, Some(i));
            {
                let _s = tracing::info_span!("dispatch", kernel = %self.key, sample = i).entered();
                wall.push(self.execute(d, ts.as_ref().map(|t| (t, i)))?);
            }
            self.plan.after_dispatch(gpu)?;
            self.phase("check");
            checker.check(gpu, d, !last, self.plan.check(d))?;
        }
        self.phase("readback");
        let timestamps = match &ts {
            Some(t) => {
                let _s = tracing::info_span!("read_timestamps").entered();
                Some(t.read(gpu, opt.iterations)?)
            }
            None => None,
        };
        Ok(Timed {
            wall,
            timestamps,
            gpu_timed,
        })
    }

    /// Verify: the last output read back and checked against the CPU reference, bitwise
    /// equal to the first, and every dispatch's check accounted for.
    fn verify(&self, first: &[Vec<u8>], checker: DispatchChecker<'_>) -> Result<Verified> {
        let mut last = self.prepared.read(self.gpu)?;
        self.plan.after_readback(&mut last, self.opt.seed);
        self.phase("verify");
        let checked = {
            let _s = tracing::info_span!("verify").entered();
            self.prepared.verify(&last, self.opt.check_seed)
        };
        let deterministic = first == last.as_slice();
        let dispatches = checker.finish(self.gpu, deterministic)?;
        let fingerprint =
            output_fingerprint(&*self.prepared, &checked.tally, &dispatches, first, &last);
        let mut verification = checked.into_verification(&last[0], deterministic);
        verification.passed &= dispatches.wrong_dispatches == 0
            && dispatches.dispatches_verified == dispatches.dispatches_total
            && dispatches.golden_fault.is_none();
        Ok(Verified {
            first: first.to_vec(),
            last,
            verification,
            dispatches,
            fingerprint,
        })
    }

    /// Report: the samples (the GPU's, else the host's), their statistics and
    /// throughput, the host's time for a transfer, and the status with its reason.
    // Long (about 95 lines): one KernelResult assembled field by field from the steps'
    // outputs; each field's source sits beside it.
    fn report(&self, timed: Timed, v: Verified) -> CaseOutcome {
        let (gpu, key) = (self.gpu, &self.key);
        let sampled_on_gpu = timed.gpu_timed && gpu.timing == TimingMethod::GpuTimestamps;
        let wall_ns = || -> Vec<u64> { timed.wall.iter().map(|d| d.as_nanos() as u64).collect() };
        let (samples_ns, gpu_events): (Vec<u64>, Vec<GpuEvent>) = match &timed.timestamps {
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
            _ => (wall_ns(), Vec::new()),
        };
        let st = stats::summarize(&samples_ns);
        let crate::kernels::Work {
            per_dispatch: work,
            unit,
        } = self.prepared.work();
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
        let timing = (!timed.gpu_timed && gpu.timing == TimingMethod::GpuTimestamps)
            .then_some(TimingMethod::WallClock);
        // Beside the GPU's time for the copy, the host's for the whole transfer (when
        // the samples are already host time, that is them).
        let host = self
            .prepared
            .host_timed()
            .filter(|_| sampled_on_gpu)
            .map(|spans| {
                let samples = wall_ns();
                let stats = stats::summarize(&samples);
                HostTiming {
                    spans: spans.to_owned(),
                    throughput: stats.as_ref().map(rate_of),
                    samples_ns: samples,
                    stats,
                }
            });
        let passed = v.verification.passed;
        let reason = (!passed).then(|| {
            let r = dispatch_reason(
                key,
                &v.verification,
                &v.dispatches,
                &v.first,
                &v.last,
                &*self.prepared,
            )
            .unwrap_or_else(|| failure_reason(key, &v.verification));
            match loop_cap_note(&gpu.info, self.case.shape) {
                Some(note) => format!("{r}; {note}"),
                None => r,
            }
        });
        CaseOutcome {
            result: KernelResult {
                id: self.case.kernel.id().to_owned(),
                shape: self.case.shape.to_string(),
                seed: self.opt.seed,
                status: if passed {
                    KernelStatus::Pass
                } else {
                    KernelStatus::Fail
                },
                reason,
                launch: Some(self.prepared.launch()),
                verification: Some(v.verification),
                samples_ns,
                stats: st,
                throughput,
                timing,
                host,
                dispatch_check: Some(v.dispatches),
                fingerprint: v.fingerprint,
            },
            gpu_events,
            coverage: None,
        }
    }
}

/// A wrong result's fingerprint, made on the host from what the checks already hold:
/// the CPU check's wrong elements of the last output (all counted, the first 64
/// listed), else the first output against the verified last (bit for bit), else the
/// first wrong word of each dispatch the GPU's check named. `None` when nothing is
/// wrong.
fn output_fingerprint(
    prepared: &dyn kernels::Prepared,
    tally: &crate::check::reference::Tally,
    dc: &DispatchCheck,
    first: &[Vec<u8>],
    last: &[Vec<u8>],
) -> Option<crate::model::Fingerprint> {
    use crate::model::{Fingerprint, WrongWord};
    let float = prepared.layout().float;
    let total = dc.dispatches_total;
    let mut dispatches: Vec<u64> = dc.wrong.iter().map(|w| w.dispatch).collect();
    let word = |w: u64, e: u32, a: u32, d: Option<u64>| {
        let (place, expected, actual, _) = wrong_word(prepared, w, e, a);
        WrongWord {
            word: w,
            place,
            expected,
            actual,
            dispatch: d,
        }
    };
    // Every dispatch compared equal to the first: if the last is wrong, so is each.
    let all_alike = first == last && dc.wrong.is_empty() && dc.dispatches_verified == total;
    let (words, count, or, counts) = if tally.wrong_count > 0 {
        // The last output, as the CPU check found it.
        if all_alike {
            dispatches.extend(1..=total.min(64));
        }
        dispatches.push(total);
        cpu_words(tally, float, total, &word)
    } else if first != last {
        // The first output against the verified last, word for word.
        dispatches.insert(0, 1);
        first_against_last(first, last, &word)
    } else if !dc.wrong.is_empty() {
        // Only the GPU's check saw it: each wrong dispatch's first word.
        gpu_words(dc)
    } else {
        return None;
    };
    dispatches.sort_unstable();
    dispatches.dedup();
    let buffer = words
        .first()
        .map(|w| {
            if w.place.contains("intermediate") {
                w.place
                    .split(" of ")
                    .last()
                    .unwrap_or("an intermediate output")
                    .to_owned()
            } else {
                "result".to_owned()
            }
        })
        .unwrap_or_else(|| "result".into());
    let mut listed: Vec<u64> = words.iter().map(|w| w.word).collect();
    listed.dedup();
    Some(Fingerprint {
        buffer,
        wrong_words: count,
        word_bits: 32,
        failing_bits: format!("0x{or:08x}"),
        bit_counts: counts,
        stride: stride(&listed),
        dispatch_fraction: (total > 0).then(|| {
            let wrong = if tally.wrong_count > 0 && all_alike {
                total
            } else {
                dc.wrong_dispatches
                    + u64::from(
                        tally.wrong_count > 0 && !dc.wrong.iter().any(|w| w.dispatch == total),
                    )
            };
            wrong as f64 / total as f64
        }),
        dispatches,
        words,
    })
}

/// A fingerprint's words: those listed, how many are wrong, the failing bits (OR) and
/// a count per bit.
type Words = (Vec<crate::model::WrongWord>, u64, u32, Vec<u64>);

/// The wrong words as the CPU check of the last output found them.
fn cpu_words(
    tally: &crate::check::reference::Tally,
    float: bool,
    total: u64,
    word: &dyn Fn(u64, u32, u32, Option<u64>) -> crate::model::WrongWord,
) -> Words {
    let k = usize::from(float);
    let mut listed = tally.wrong.clone();
    listed.sort_by_key(|w| w.0);
    (
        listed
            .iter()
            .map(|&(i, e, a)| {
                word(
                    i,
                    crate::check::reference::word_bits(e, float),
                    crate::check::reference::word_bits(a, float),
                    Some(total),
                )
            })
            .collect(),
        tally.wrong_count,
        tally.bits_or[k],
        tally.bit_counts[k].to_vec(),
    )
}

/// The first output against the verified last, word for word.
fn first_against_last(
    first: &[Vec<u8>],
    last: &[Vec<u8>],
    word: &dyn Fn(u64, u32, u32, Option<u64>) -> crate::model::WrongWord,
) -> Words {
    let (mut words, mut count, mut or, mut counts) = (Vec::new(), 0u64, 0u32, vec![0u64; 32]);
    let mut base = 0u64;
    for (f, l) in first.iter().zip(last) {
        for (i, (fw, lw)) in f.chunks_exact(4).zip(l.chunks_exact(4)).enumerate() {
            let (fw, lw) = (
                u32::from_le_bytes(fw.try_into().expect("4 bytes")),
                u32::from_le_bytes(lw.try_into().expect("4 bytes")),
            );
            if fw != lw {
                count += 1;
                let x = fw ^ lw;
                or |= x;
                for (b, c) in counts.iter_mut().enumerate() {
                    *c += u64::from(x >> b & 1);
                }
                if words.len() < crate::check::reference::WRONG_LISTED {
                    words.push(word(base + i as u64, lw, fw, Some(1)));
                }
            }
        }
        base += f.len().max(l.len()) as u64 / 4;
    }
    (words, count, or, counts)
}

/// Each wrong dispatch's first word, as the GPU's check reported it.
fn gpu_words(dc: &DispatchCheck) -> Words {
    use crate::model::WrongWord;
    let parse = |h: &str| {
        u32::from_str_radix(
            h.split_whitespace()
                .next()
                .unwrap_or("")
                .trim_start_matches("0x"),
            16,
        )
        .unwrap_or(0)
    };
    let mut counts = vec![0u64; 32];
    let mut or = 0u32;
    let words: Vec<WrongWord> = dc
        .wrong
        .iter()
        .map(|w| {
            let x = parse(&w.expected) ^ parse(&w.actual);
            or |= x;
            for (b, c) in counts.iter_mut().enumerate() {
                *c += u64::from(x >> b & 1);
            }
            WrongWord {
                word: w.word,
                place: w.place.clone(),
                expected: w.expected.clone(),
                actual: w.actual.clone(),
                dispatch: Some(w.dispatch),
            }
        })
        .collect();
    (
        words,
        dc.wrong.iter().map(|w| w.wrong_words).sum(),
        or,
        counts,
    )
}
/// The known cause of a matmul's FAIL on llvmpipe at a large K: it ends a shader's loops
/// after about 65535 iterations in all, so the sum over K stops short (the same wrong
/// value for every K above it). Measured on llvmpipe 15 / Mesa 22.3.6: matmul-f32 and
/// -u32 at their default launch pass at K = 52429 and fail from 52430 (their tile and
/// copy loops take about 1.25 iterations per k). The FAIL stands; the note says why.
fn loop_cap_note(info: &wgpu::AdapterInfo, shape: kernels::Shape) -> Option<String> {
    const FIRST_WRONG_K: u32 = 52430;
    let kernels::Shape::Matmul { k, .. } = shape else {
        return None;
    };
    let llvmpipe = [&info.name, &info.driver, &info.driver_info]
        .iter()
        .any(|t| t.to_lowercase().contains("llvmpipe"));
    (llvmpipe && k >= FIRST_WRONG_K).then(|| {
        format!(
            "K = {k}: llvmpipe ends a shader's loops after about 65535 iterations, so its matmuls are wrong from K = {FIRST_WRONG_K} (a known limit of the software adapter, not of a card); use a smaller K there"
        )
    })
}

/// Why a case failed when the last output passed its CPU check but a dispatch did not
/// match: the first execution differs from the verified last (the golden copy itself was
/// wrong), a later dispatch differs from the first, or a check pass never ran. `None`
/// when the last output is what the CPU check rejects ([`failure_reason`] says why).
fn dispatch_reason(
    key: &str,
    v: &crate::model::Verification,
    dc: &DispatchCheck,
    first: &[Vec<u8>],
    last: &[Vec<u8>],
    prepared: &dyn kernels::Prepared,
) -> Option<String> {
    // A changed golden copy explains every mismatch after it.
    if let Some(g) = &dc.golden_fault {
        return Some(format!("{key}: {g}"));
    }
    if v.first_mismatch.is_some() {
        return None;
    }
    let total = dc.dispatches_total;
    // A check that did not check proves nothing it reported.
    if let Some(c) = dc.checker_faults.first() {
        return Some(format!(
            "{key}: the GPU's check pass did not compare: {c} ({} of {total} dispatches not verified)",
            total.saturating_sub(dc.dispatches_verified)
        ));
    }
    if first != last {
        let (mut base, mut at) = (0u64, None);
        for (f, l) in first.iter().zip(last) {
            if let Some(m) = golden::compare_words(l, f) {
                at = Some((base + m.word, m.wrong_words, m.expected, m.actual));
                break;
            }
            base += f.len().max(l.len()) as u64 / 4;
        }
        let (w, n, e, a) = at?;
        let (place, e, a, _) = wrong_word(prepared, w, e, a);
        return Some(format!(
            "{key}: dispatch 1 of {total} (the first, untimed) differs from the verified last output in {n} word{}: {place}: expected {e}, got {a} (bit for bit)",
            if n == 1 { "" } else { "s" },
        ));
    }
    if let Some(w) = dc.wrong.first() {
        return Some(format!(
            "{key}: {} differs from the verified output in {} word{}: {}: expected {}, got {} (bit for bit; {} of {total} dispatches wrong)",
            w.name,
            w.wrong_words,
            if w.wrong_words == 1 { "" } else { "s" },
            w.place,
            w.expected,
            w.actual,
            dc.wrong_dispatches,
        ));
    }
    (dc.dispatches_verified < total).then(|| {
        format!(
            "{key}: {} of {total} dispatches verified: a check pass never ran on the GPU",
            dc.dispatches_verified
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_dispatches_parse_print_back_and_choose() {
        for t in ["all", "7", "2-31", "timed:7", "every:3"] {
            assert_eq!(FaultDispatches::parse(t).unwrap().name(), t);
        }
        for bad in ["0", "timed:0", "every:", "5-2", "x", "later:3", "-3"] {
            assert!(FaultDispatches::parse(bad).is_err(), "{bad}");
        }
        let hits = |spec: &str| -> Vec<u64> {
            let f = FaultDispatches::parse(spec).unwrap();
            (1..=12).filter(|&d| f.fires(d, 2)).collect()
        };
        assert_eq!(hits("timed:7"), [9]);
        assert_eq!(hits("every:5"), [5, 10]);
        assert_eq!(hits("2-4"), [2, 3, 4]);
        assert_eq!(hits("12"), [12]);
        assert_eq!(
            dispatch_name(9, 2, 32),
            "dispatch 9 of 32 (timed sample 7 of 30)"
        );
        assert_eq!(dispatch_name(2, 3, 32), "dispatch 2 of 32 (warmup 1 of 2)");
        assert_eq!(
            dispatch_name(1, 3, 32),
            "dispatch 1 of 32 (the first, untimed)"
        );
    }

    #[test]
    fn a_stride_needs_three_evenly_spaced_words() {
        assert_eq!(stride(&[4, 4100, 8196, 12292]), Some(4096));
        assert_eq!(stride(&[4, 4100]), None);
        assert_eq!(stride(&[4, 4100, 8197]), None);
        assert_eq!(stride(&[4, 4, 4]), None);
    }

    #[test]
    fn wrong_words_are_placed_in_the_result_or_an_intermediate() {
        let layout = fault::Layout {
            rows: 3,
            cols: 5,
            stride: 8,
            float: true,
        };
        assert_eq!(
            word_place(17, &[96, 40], layout),
            (
                Some((2, 1)),
                "word 17 of the result (row 2, col 1)".to_owned()
            )
        );
        assert_eq!(word_place(6, &[96, 40], layout).0, None);
        assert_eq!(
            word_place(25, &[96, 40], layout).1,
            "word 1 of intermediate output 1"
        );
    }
}
