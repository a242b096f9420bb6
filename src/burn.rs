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

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::export::trace::{Counter, Window};
use crate::gpu::Gpu;
use crate::gpu::timing::Timestamps;
use crate::hygiene::{self, Monitor};
use crate::inputs;
use crate::kernels::fault::{Planter, ShaderFault};
use crate::kernels::golden::{self, Finding, Golden};
use crate::kernels::{CaseInput, Kernel, Params, Prepared, RuntimeChecks, Shape, Stamp, Suite};
use crate::model::{
    BurnError, BurnInterval, BurnReport, DispatchCheck, Drift, GpuSnapshot, KernelResult,
    KernelStatus, Mismatch, Telemetry, Throughput, Verification, WrongDispatch,
};
use crate::runner::{Case, FaultDispatches, GpuEvent, Progress};
use crate::stats;

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

/// The case to burn and how its inputs and checks are drawn.
pub struct BurnCase<'a> {
    pub case: Case,
    pub seed: u64,
    pub check_seed: u64,
    pub input_scale: f32,
    pub checks: RuntimeChecks,
    pub params: Option<&'a Params>,
    pub fault: Option<ShaderFault>,
    /// Tests: the dispatches the fault hits are left out.
    pub stale: bool,
    /// Tests: which dispatches the planted fault (or `stale`) hits, once it is due.
    pub fault_dispatches: FaultDispatches,
    /// Tests: once the fault is due, every dispatch is recorded [`SLOWDOWN`] times (a
    /// slower GPU).
    pub slowdown: bool,
}

/// What the burn reports to the run around it.
pub trait Recorder {
    fn print(&self, line: &str);
    fn progress(&self) -> &Progress;
    /// The burn section and the kernel's result as they stand; rewrites result.json.
    fn record(&self, burn: &BurnReport, kernel: &KernelResult);
    /// New GPU events, their host windows and counter samples for the trace.
    fn trace(&self, gpu: Vec<GpuEvent>, windows: Vec<Window>, counters: Vec<Counter>);
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

/// Throttle reasons that explain a drop in throughput: thermal and hardware slowdowns,
/// and the power cap.
fn throttling(s: &GpuSnapshot) -> Vec<String> {
    s.throttle_reasons
        .iter()
        .filter(|r| hygiene::is_slowdown(r) || hygiene::is_power_cap(r))
        .cloned()
        .collect()
}

/// One completed submission: when it ended (s since the burn began), its throughput and
/// its dispatches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Done {
    pub end_s: f64,
    pub rate: f64,
    pub dispatches: u64,
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(stats::median(v))
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, s) = v.fold((0u32, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| s / f64::from(n))
}

/// The burn's intervals: throughput (median of the submissions that ended in each) and
/// the telemetry samples taken in each.
pub fn intervals(
    done: &[Done],
    samples: &[GpuSnapshot],
    interval_s: f64,
    elapsed_s: f64,
) -> Vec<BurnInterval> {
    let n = (elapsed_s / interval_s).ceil().max(1.0) as usize;
    // One pass over each list: interval i holds [i·interval, (i+1)·interval), the last
    // one also its end; nothing after the end belongs to any.
    let bucket =
        |t: f64| (t >= 0.0 && t <= elapsed_s).then(|| ((t / interval_s) as usize).min(n - 1));
    let mut subs: Vec<Vec<&Done>> = vec![Vec::new(); n];
    for d in done {
        if let Some(i) = bucket(d.end_s) {
            subs[i].push(d);
        }
    }
    let mut snaps: Vec<Vec<&GpuSnapshot>> = vec![Vec::new(); n];
    for s in samples {
        if let Some(i) = s.at_ms.and_then(|ms| bucket(ms as f64 / 1e3)) {
            snaps[i].push(s);
        }
    }
    subs.into_iter()
        .zip(snaps)
        .enumerate()
        .map(|(i, (subs, snaps))| {
            let (start_s, end_s) = (
                i as f64 * interval_s,
                ((i + 1) as f64 * interval_s).min(elapsed_s),
            );
            let mut reasons: Vec<String> = snaps
                .iter()
                .flat_map(|s| s.throttle_reasons.iter().cloned())
                .collect();
            reasons.sort();
            reasons.dedup();
            BurnInterval {
                start_s,
                end_s,
                dispatches: subs.iter().map(|d| d.dispatches).sum(),
                throughput: median(&mut subs.iter().map(|d| d.rate).collect::<Vec<_>>()),
                sm_clock_mhz: mean(snaps.iter().filter_map(|s| s.sm_clock_mhz.map(f64::from))),
                memory_clock_mhz: mean(
                    snaps
                        .iter()
                        .filter_map(|s| s.memory_clock_mhz.map(f64::from)),
                ),
                temperature_c: snaps
                    .iter()
                    .filter_map(|s| s.temperature_c.map(f64::from))
                    .reduce(f64::max),
                power_w: mean(snaps.iter().filter_map(|s| s.power_w)),
                throttle_reasons: reasons,
            }
        })
        .collect()
}

/// The last stretch's median throughput against the first's: a minute each, or a third
/// of a burn shorter than three minutes. `None` with too little data to say.
pub fn drift(
    done: &[Done],
    samples: &[GpuSnapshot],
    elapsed_s: f64,
    max_drift_pct: f64,
) -> Option<Drift> {
    let window_s = (elapsed_s / 3.0).min(60.0);
    let mut first: Vec<f64> = done
        .iter()
        .filter(|d| d.end_s <= window_s)
        .map(|d| d.rate)
        .collect();
    let mut last: Vec<f64> = done
        .iter()
        .filter(|d| d.end_s >= elapsed_s - window_s)
        .map(|d| d.rate)
        .collect();
    let (first, last) = (median(&mut first)?, median(&mut last)?);
    if first <= 0.0 {
        return None;
    }
    let change_pct = (last - first) / first * 100.0;
    let mut reasons: Vec<String> = samples.iter().flat_map(throttling).collect();
    reasons.sort();
    reasons.dedup();
    Some(Drift {
        window_s,
        first,
        last,
        change_pct,
        exceeded: -change_pct > max_drift_pct,
        throttled: !reasons.is_empty(),
        throttle_reasons: reasons,
        inconclusive: None,
    })
}

/// What the telemetry recorded (from `source`: `nvml`, `sysfs`, or `unavailable`, with
/// the reason) and what it could not.
pub fn telemetry(
    source: &str,
    unavailable: Option<&str>,
    throttle: bool,
    samples: &[GpuSnapshot],
) -> Telemetry {
    let have = |f: fn(&GpuSnapshot) -> bool| samples.iter().any(f);
    let fields: [(&str, bool); 6] = [
        ("sm_clock", have(|s| s.sm_clock_mhz.is_some())),
        ("memory_clock", have(|s| s.memory_clock_mhz.is_some())),
        ("temperature", have(|s| s.temperature_c.is_some())),
        ("power", have(|s| s.power_w.is_some())),
        // An empty list is "not throttled" only from a source that can say why.
        ("throttle_reasons", throttle && !samples.is_empty()),
        ("ecc", have(|s| s.ecc_uncorrected_volatile.is_some())),
    ];
    let mut recorded = vec!["throughput".to_owned()];
    recorded.extend(fields.iter().filter(|f| f.1).map(|f| f.0.to_owned()));
    let missing = fields
        .iter()
        .filter(|f| !f.1)
        .map(|f| f.0.to_owned())
        .collect();
    let grew = |f: fn(&GpuSnapshot) -> Option<u64>| {
        let first = samples.iter().find_map(f)?;
        let last = samples.iter().rev().find_map(f)?;
        Some(last.saturating_sub(first))
    };
    Telemetry {
        source: source.to_owned(),
        unavailable_reason: (source == "unavailable")
            .then(|| unavailable.unwrap_or_default().to_owned()),
        period_ms: PERIOD.as_millis() as u64,
        samples: samples.len() as u64,
        recorded,
        missing,
        ecc_uncorrected_new: grew(|s| s.ecc_uncorrected_volatile),
        ecc_corrected_new: grew(|s| s.ecc_corrected_volatile),
    }
}

/// Counter samples for the trace from telemetry samples.
fn telemetry_counters(samples: &[GpuSnapshot]) -> Vec<Counter> {
    let mut out = Vec::new();
    for s in samples {
        let Some(ms) = s.at_ms else { continue };
        let at_us = ms as f64 * 1e3;
        let mut push = |name: &str, values: Vec<(String, f64)>| {
            if !values.is_empty() {
                out.push(Counter {
                    name: name.to_owned(),
                    at_us,
                    values,
                });
            }
        };
        let clocks: Vec<(String, f64)> = [
            ("sm_mhz", s.sm_clock_mhz),
            ("memory_mhz", s.memory_clock_mhz),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), f64::from(v))))
        .collect();
        push("clocks (MHz)", clocks);
        push(
            "temperature (°C)",
            s.temperature_c
                .map(|t| vec![("gpu".to_owned(), f64::from(t))])
                .unwrap_or_default(),
        );
        push(
            "power (W)",
            s.power_w
                .map(|p| vec![("board".to_owned(), p)])
                .unwrap_or_default(),
        );
        push(
            "throttled",
            vec![(
                "thermal_or_power".to_owned(),
                f64::from(u8::from(!throttling(s).is_empty())),
            )],
        );
    }
    out
}

/// The burn's report and the kernel's result brought up to `elapsed_s`: intervals,
/// drift, telemetry, the statistics of the samples so far, and the dispatches verified.
fn refresh(
    books: &mut Books,
    samples: &[GpuSnapshot],
    elapsed_s: f64,
    monitor: &Monitor,
    work: f64,
) {
    books.result.dispatch_check = Some(books.dispatch_check());
    let Books {
        report,
        result,
        done,
        drift_inconclusive: books_note,
        ..
    } = books;
    report.elapsed_s = elapsed_s;
    report.intervals = intervals(done, samples, report.interval_s, elapsed_s);
    report.drift = drift(done, samples, elapsed_s, report.max_drift_pct).map(|d| Drift {
        inconclusive: books_note.clone(),
        ..d
    });
    report.telemetry = telemetry(
        monitor.source(),
        monitor.unavailable(),
        monitor.reports_throttle(),
        samples,
    );
    result.stats = stats::summarize(&result.samples_ns);
    result.throughput = result.stats.as_ref().map(|st| Throughput {
        unit: report.unit.clone(),
        work_per_run: work,
        median: work / st.median_ns.max(1.0),
        low: work / st.median_ci_high_ns.max(1.0),
        high: work / st.median_ci_low_ns.max(1.0),
    });
}

/// A submission on the queue.
struct Pending {
    index: wgpu::SubmissionIndex,
    number: u32,
    dispatches: u64,
    /// Its passes' timestamps (one slot per dispatch), to be read once it is done.
    stamps: Option<wgpu::Buffer>,
    /// The ledger as the submission left it, and the check passes it recorded.
    ledger: wgpu::Buffer,
    passes: std::ops::Range<u64>,
    check: Option<PendingCheck>,
    submitted_us: f64,
}

/// A dispatch whose outputs were copied out, before their poisoning, for the check
/// against the CPU reference.
struct PendingCheck {
    outputs: Vec<wgpu::Buffer>,
    /// The checked dispatch, counted from the burn's first.
    dispatch: u64,
    number: u64,
}

/// The kept-busy instance of the case, and the faults planted into it (tests only).
struct Load {
    prepared: Box<dyn Prepared>,
    planter: Option<Planter>,
    /// A dispatch the fault hits is left out (`stale`).
    stale: bool,
}

impl Load {
    /// Records dispatch `hit`-or-not into a pass of its own, timestamped into `ts`;
    /// `times` > 1 under the planted slowdown.
    fn encode(&self, enc: &mut wgpu::CommandEncoder, ts: Stamp<'_>, times: u32, hit: bool) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("burn"),
            timestamp_writes: ts.map(|(t, slot)| t.writes(slot)),
        });
        if !(hit && self.stale) {
            for _ in 0..times {
                self.prepared.encode(&mut pass);
            }
        }
        if let (true, Some(p)) = (hit, &self.planter) {
            p.encode(&mut pass);
        }
    }

    /// Fresh mappable copies of the outputs (poison-filled first, so a copy that never
    /// ran reads back as poison).
    fn copy_out(&self, gpu: &Gpu, enc: &mut wgpu::CommandEncoder) -> Result<Vec<wgpu::Buffer>> {
        self.prepared
            .outputs()
            .into_iter()
            .map(|(b, size)| {
                let staging = gpu.staging("check readback", size)?;
                enc.copy_buffer_to_buffer(b, 0, &staging, 0, size);
                Ok(staging)
            })
            .collect()
    }
}

/// Ledger slots: more than one submission's dispatches.
const LEDGER_SLOTS: u32 = 4096;
/// Dispatches per submission at most: two timestamp queries each fit one query set.
const MAX_BATCH: u64 = 2048;
/// Dispatches of the calibration: the first (the golden copy, checked against the CPU
/// reference) and three timed ones.
const CALIBRATION: u64 = 4;

/// How a wrong result was found, for the report and the run's result.
struct Wrong {
    at_s: f64,
    dispatch: u64,
    check: u64,
    message: String,
    mismatch: Option<Mismatch>,
    verification: Option<Verification>,
}

/// What the burn has measured and found so far: its report, the kernel's result, the
/// completed submissions and the wrong dispatches the GPU's compare found.
struct Books {
    /// Why a drift would say nothing about the GPU (a software adapter), if it would.
    drift_inconclusive: Option<String>,
    report: BurnReport,
    result: KernelResult,
    done: Vec<Done>,
    wrong: Vec<WrongDispatch>,
    wrong_count: u64,
}

impl Books {
    /// Records a wrong result in the report and the kernel's result, and says it.
    fn wrong(&mut self, w: Wrong, rec: &dyn Recorder) {
        rec.print(&format!("burn: WRONG {}", w.message));
        self.report.errors.push(BurnError {
            at_s: w.at_s,
            dispatch: w.dispatch,
            check: w.check,
            message: w.message.clone(),
            mismatch: w.mismatch,
        });
        let result = &mut self.result;
        result.status = KernelStatus::Fail;
        if result.reason.is_none() {
            result.reason = Some(format!("burn {}", w.message));
            if let Some(mut v) = w.verification {
                v.passed = false;
                result.verification = Some(v);
            }
        }
    }

    /// A dispatch the compare on the GPU found differing from the verified output.
    fn wrong_dispatch(&mut self, f: &Finding, at_s: f64, load: &dyn Prepared, rec: &dyn Recorder) {
        let d = f.pass + 2;
        let (place, e, a, mismatch) =
            crate::runner::wrong_word(load, f.first, f.expected, f.actual);
        let n = f.wrong;
        let message = format!(
            "at {at_s:.1} s, dispatch {d} (compared bit for bit with the verified output on the GPU): {n} word{} differ{}, the first {place}: expected {e}, got {a}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
        );
        self.wrong_count += 1;
        if self.wrong.len() < 16 {
            self.wrong.push(WrongDispatch {
                dispatch: d,
                name: format!("dispatch {d}"),
                wrong_words: n,
                word: f.first,
                place,
                expected: e,
                actual: a,
            });
        }
        self.wrong(
            Wrong {
                at_s,
                dispatch: d,
                check: 0,
                message,
                mismatch: Some(mismatch),
                verification: None,
            },
            rec,
        );
    }

    /// The burn's per-dispatch record for its kernel's result.
    fn dispatch_check(&self) -> DispatchCheck {
        DispatchCheck {
            method: "golden-gpu".to_owned(),
            dispatches_total: self.report.dispatches,
            dispatches_verified: self.report.dispatches_verified,
            wrong_dispatches: self.wrong_count,
            wrong: self.wrong.clone(),
            check_ns: None,
        }
    }
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
    let kernel = c.case.kernel;
    let key = format!("{}/{}", kernel.id(), c.case.shape);
    let phase = |p: &str| rec.progress().set(Some(&key), p);
    let sampler = monitor.sample_every(PERIOD, t0);
    phase("prepare");
    // A fault the kernel plants itself is compiled into the load (it hits every
    // dispatch); the planter's and `stale` hit the dispatches chosen.
    let switch = c.fault.filter(|f| !f.switch().is_empty());
    let prepared = kernel.prepare(
        gpu,
        &CaseInput {
            shape: c.case.shape,
            seed: c.seed,
            input_scale: c.input_scale,
            checks: c.checks,
            params: c.params,
            fault: switch,
        },
    )?;
    let planter = match c.fault.filter(|f| f.switch().is_empty()) {
        Some(f) => Planter::new(gpu, f, prepared.fault_target(), prepared.layout())?,
        None => None,
    };
    let load = Load {
        prepared,
        planter,
        stale: c.stale,
    };
    let (work, unit) = load.prepared.work();
    let due = |d: u64| d >= s.fault_at && t0.elapsed() >= s.fault_after;
    let hit =
        |d: u64| (c.stale || load.planter.is_some()) && due(d) && c.fault_dispatches.fires(d, 0);
    let report = BurnReport {
        kernel: key.clone(),
        duration_s: s.duration.as_secs_f64(),
        unit: unit.to_owned(),
        interval_s: s.interval.as_secs_f64(),
        max_drift_pct: s.max_drift_pct,
        keep_going: s.keep_going,
        fail_on_throttle: s.fail_on_throttle,
        ..BurnReport::default()
    };
    let result = KernelResult {
        launch: Some(load.prepared.launch()),
        ..KernelResult::new(
            kernel.id(),
            c.case.shape.to_string(),
            c.seed,
            KernelStatus::Pass,
        )
    };
    // Calibrate: the first dispatch, on poisoned outputs, checked against the CPU
    // reference (check 1) and kept as the golden copy every later dispatch is compared
    // with; then three timed ones, for the batch and the check cadence.
    phase("calibrate");
    load.prepared.poison(gpu)?;
    let one = |d: u64, ts: Stamp<'_>| -> Result<Duration> {
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        load.encode(&mut enc, ts, 1, hit(d));
        gpu.submit_and_wait(enc.finish())
    };
    one(1, None)?;
    let first = load.prepared.read(gpu)?;
    let check_of = |number: u64, outputs: &[Vec<u8>]| {
        load.prepared
            .verify(outputs, inputs::mix64(c.check_seed ^ number))
            .into_verification(&outputs[0], true)
    };
    let first_check = check_of(1, &first);
    let first_checksum = first_check.checksum.clone();
    let mut checks: u64 = 1;
    let mut books = Books {
        // A planted slowdown is the GPU's own, even on a software adapter.
        drift_inconclusive: (gpu.is_software() && !c.slowdown).then(|| {
            "a software adapter computes on the host's CPU: its throughput follows the host's load, not a GPU's health".to_owned()
        }),
        report: BurnReport {
            checks: 1,
            ..report
        },
        result,
        done: Vec::new(),
        wrong: Vec::new(),
        wrong_count: 0,
    };
    if !first_check.passed {
        let why = crate::runner::failure_reason(&key, &first_check);
        let at_s = t0.elapsed().as_secs_f64();
        let mismatch = first_check.first_mismatch.clone();
        books.wrong(
            Wrong {
                at_s,
                dispatch: 1,
                check: 1,
                message: format!("at {at_s:.1} s, dispatch 1 (check 1): {why}"),
                mismatch,
                verification: Some(first_check.clone()),
            },
            rec,
        );
    } else {
        books.result.verification = Some(first_check);
    }
    let mut golden = Golden::new(gpu, &load.prepared.outputs(), LEDGER_SLOTS)?;
    {
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        golden.keep(&mut enc);
        gpu.submit_and_wait(enc.finish())?;
    }
    let stamps = Timestamps::new(gpu, 3);
    let mut times = Vec::new();
    for i in 0..3u32 {
        let wall = one(2 + u64::from(i), stamps.as_ref().map(|t| (t, i)))?;
        times.push(wall.as_nanos() as f64);
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        golden.encode(&mut enc, true);
        gpu.submit_and_wait(enc.finish())?;
    }
    if let Some(t) = &stamps {
        times = t
            .read(gpu, 3)?
            .iter()
            .map(|&(b, e)| e.saturating_sub(b) as f64)
            .collect();
    }
    let per_ns = median(&mut times.clone()).unwrap_or(1.0).max(1.0);
    let check_every = s
        .check_every
        .unwrap_or_else(|| ((CHECK * 1e9 / per_ns) as u64).max(1));
    let batch = ((SUBMISSION * 1e9 / per_ns) as u64)
        .clamp(1, MAX_BATCH)
        .min(check_every);
    rec.print(&format!(
        "burn {key} for {:.0} s: {} per dispatch, {batch} dispatches per submission, each compared with the verified output on the GPU, a check against the CPU reference every {check_every} dispatches",
        s.duration.as_secs_f64(),
        crate::export::fmt_ns(per_ns)
    ));
    books.report.batch = batch;
    books.report.check_every = check_every;
    let (calibrated, ran) = golden.collect(gpu)?;
    books.done.push(Done {
        end_s: t0.elapsed().as_secs_f64(),
        rate: work / per_ns,
        dispatches: CALIBRATION,
    });
    books.report.dispatches = CALIBRATION;
    books.report.dispatches_verified = 1 + ran;
    books
        .result
        .samples_ns
        .extend(times.iter().map(|&t| t as u64));
    for f in &calibrated {
        books.wrong_dispatch(f, t0.elapsed().as_secs_f64(), &*load.prepared, rec);
    }

    let mut queue: VecDeque<Pending> = VecDeque::new();
    let mut submitted: u64 = CALIBRATION;
    let mut since_check: u64 = 0;
    let mut samples: Vec<GpuSnapshot> = Vec::new();
    let mut next_interval = s.interval.as_secs_f64();
    let since = |t: Instant| t.duration_since(t0).as_secs_f64();
    let mut stop = !books.report.errors.is_empty() && !s.keep_going;
    let slots = golden.slots();
    phase("burn");

    // Finishes the oldest submission: its timing, its check passes, and its check
    // against the CPU reference if it carries one. True when something was wrong.
    let complete = |p: Pending, books: &mut Books| -> Result<bool> {
        gpu.wait(p.index)?;
        let end = Instant::now();
        let end_s = since(end);
        // The kernel's own passes: the check passes between them are not timed.
        let spans = match &p.stamps {
            Some(b) => Some(Timestamps::decode(gpu, &gpu.read_done(b)?)),
            None => None,
        };
        let gpu_ns = spans.as_ref().and_then(|v| {
            let (b, e) = (v.first()?.0, v.last()?.1);
            let busy: u64 = v.iter().map(|&(b, e)| e.saturating_sub(b)).sum();
            Some((b, e.max(b), busy))
        });
        // Without timestamps: the host time since the previous submission finished (or
        // this one was submitted, if later), as the queue runs one after another; it
        // holds the check passes too.
        let host_from_us = books
            .done
            .last()
            .map_or(p.submitted_us, |d| (d.end_s * 1e6).max(p.submitted_us));
        let span_ns = gpu_ns
            .map(|g| g.2 as f64)
            .unwrap_or((end_s * 1e6 - host_from_us) * 1e3);
        let per = span_ns / p.dispatches as f64;
        let rate = if per > 0.0 { work / per } else { 0.0 };
        books.done.push(Done {
            end_s,
            rate,
            dispatches: p.dispatches,
        });
        books.result.samples_ns.push(per as u64);
        books.report.dispatches += p.dispatches;
        let (events, windows) = match gpu_ns {
            Some((b, e, _)) => (
                vec![GpuEvent {
                    key: key.clone(),
                    sample: p.number,
                    begin_ns: b,
                    end_ns: e,
                }],
                vec![Window {
                    key: key.clone(),
                    sample: p.number,
                    begin_us: p.submitted_us,
                    end_us: end_s * 1e6,
                }],
            ),
            None => (Vec::new(), Vec::new()),
        };
        let counters = vec![Counter {
            name: format!("throughput ({unit})"),
            at_us: end_s * 1e6,
            values: vec![(key.clone(), rate)],
        }];
        rec.trace(events, windows, counters);
        // Every dispatch against the verified output.
        let raw = gpu.read_done(&p.ledger)?;
        let (found, ran) = golden::findings_in(&raw, slots, p.passes.start, p.passes.end);
        books.report.dispatches_verified += ran;
        let mut wrong = !found.is_empty();
        for f in &found {
            books.wrong_dispatch(f, end_s, &*load.prepared, rec);
        }
        let expected = p.passes.end - p.passes.start;
        if ran < expected {
            wrong = true;
            let d = p.passes.start + ran + 2;
            books.wrong(
                Wrong {
                    at_s: end_s,
                    dispatch: d,
                    check: 0,
                    message: format!(
                        "at {end_s:.1} s, dispatch {d}: {} of {expected} check passes of a submission never ran on the GPU: its dispatches are not verified",
                        expected - ran
                    ),
                    mismatch: None,
                    verification: None,
                },
                rec,
            );
        }
        let Some(check) = p.check else {
            return Ok(wrong);
        };
        let outputs = check
            .outputs
            .iter()
            .map(|b| gpu.read_done(b))
            .collect::<Result<Vec<_>>>()?;
        books.report.checks += 1;
        let v = check_of(check.number, &outputs);
        // Every check must give the first check's bits.
        let same = v.checksum == first_checksum;
        let v = Verification {
            passed: v.passed && same,
            deterministic: same,
            ..v
        };
        if !v.passed {
            wrong = true;
            let why = crate::runner::failure_reason(&key, &v);
            books.wrong(
                Wrong {
                    at_s: end_s,
                    dispatch: check.dispatch,
                    check: check.number,
                    message: format!(
                        "at {end_s:.1} s, dispatch {} (check {}): {why}",
                        check.dispatch, check.number
                    ),
                    mismatch: v.first_mismatch.clone(),
                    verification: Some(v.clone()),
                },
                rec,
            );
        }
        if books.result.status == KernelStatus::Pass {
            books.result.verification = Some(v);
        }
        Ok(wrong)
    };

    // Brings the report up to date and hands it to the run.
    // Only the telemetry samples taken since the last time are copied.
    let publish = |books: &mut Books, samples: &mut Vec<GpuSnapshot>, elapsed_s: f64| {
        let new = sampler.since(samples.len());
        rec.trace(Vec::new(), Vec::new(), telemetry_counters(&new));
        samples.extend(new);
        refresh(books, samples, elapsed_s, monitor, work);
        rec.record(&books.report, &books.result);
    };

    let mut number: u32 = 0;
    // At least one submission, however short the duration.
    while !stop && (number == 0 || t0.elapsed() < s.duration) {
        // A submission: `batch` dispatches, each in a timed pass of its own followed by
        // its check pass; the last one's outputs copied out when a check is due.
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        let q = Timestamps::new(gpu, batch as u32);
        since_check += batch;
        let check_due = since_check >= check_every;
        let mut check = None;
        let first_pass = golden.encoded();
        for j in 0..batch {
            let d = submitted + j + 1;
            let times = if c.slowdown && due(d) { SLOWDOWN } else { 1 };
            load.encode(&mut enc, q.as_ref().map(|t| (t, j as u32)), times, hit(d));
            golden.encode(&mut enc, false);
            if check_due && j + 1 == batch {
                since_check = 0;
                checks += 1;
                check = Some(PendingCheck {
                    outputs: load.copy_out(gpu, &mut enc)?,
                    dispatch: d,
                    number: checks,
                });
            }
            golden.repoison(&mut enc);
        }
        submitted += batch;
        let stamps = q
            .as_ref()
            .map(|t| t.resolve_into(gpu, &mut enc, batch as u32))
            .transpose()?;
        let ledger = golden.snapshot(gpu, &mut enc)?;
        let submitted_us = since(Instant::now()) * 1e6;
        let index = gpu.scoped("submitting the burn", || gpu.queue.submit([enc.finish()]))?;
        queue.push_back(Pending {
            index,
            number,
            dispatches: batch,
            stamps,
            ledger,
            passes: first_pass..golden.encoded(),
            check,
            submitted_us,
        });
        number += 1;
        while queue.len() >= DEPTH {
            let p = queue.pop_front().expect("a pending submission");
            let checked = p.check.is_some();
            let wrong = complete(p, &mut books)?;
            stop |= wrong && !s.keep_going;
            let elapsed = since(Instant::now());
            if checked || wrong || elapsed >= next_interval {
                publish(&mut books, &mut samples, elapsed);
            }
            while elapsed >= next_interval {
                // The interval that just closed.
                let r = &books.report;
                let k = (next_interval / r.interval_s).round() as usize;
                if let Some(i) = r.intervals.get(k.saturating_sub(1)) {
                    rec.print(&interval_line(i, &r.unit));
                }
                next_interval += r.interval_s;
            }
            rec.progress().sample(
                elapsed.min(s.duration.as_secs_f64()) as u32,
                s.duration.as_secs_f64() as u32,
            );
        }
    }
    phase("drain");
    while let Some(p) = queue.pop_front() {
        complete(p, &mut books)?;
    }
    let elapsed = since(Instant::now());
    let seen = samples.len();
    let samples = sampler.finish();
    rec.trace(
        Vec::new(),
        Vec::new(),
        telemetry_counters(&samples[seen.min(samples.len())..]),
    );
    refresh(&mut books, &samples, elapsed, monitor, work);
    rec.record(&books.report, &books.result);
    let report = &books.report;
    if let Some(d) = &report.drift {
        rec.print(&format!(
            "burn: throughput {:+.1} % (last {} s against the first){}",
            d.change_pct,
            crate::export::markdown::secs(d.window_s),
            crate::export::markdown::drift_note(d, &report.telemetry)
        ));
    }
    rec.print(&format!(
        "burn: {} dispatches, {} of them verified, {} checked against the CPU reference, {} wrong, {:.1} s",
        report.dispatches,
        report.dispatches_verified,
        report.checks,
        report.errors.len(),
        elapsed
    ));
    Ok(samples)
}

/// "burn  10–20 s   412 dispatches   8.12 GFLOP/s  sm 1980 MHz  63 °C  301 W".
pub fn interval_line(i: &BurnInterval, unit: &str) -> String {
    let mut s = format!(
        "burn {:>5.0}–{:<5.0} s {:>8} dispatches",
        i.start_s, i.end_s, i.dispatches
    );
    if let Some(t) = i.throughput {
        s.push_str(&format!("  {:>14}", crate::export::fmt_rate(t, unit)));
    }
    if let Some(v) = i.sm_clock_mhz {
        s.push_str(&format!("  sm {v:.0} MHz"));
    }
    if let Some(v) = i.temperature_c {
        s.push_str(&format!("  {v:.0} °C"));
    }
    if let Some(v) = i.power_w {
        s.push_str(&format!("  {v:.0} W"));
    }
    if !i.throttle_reasons.is_empty() {
        s.push_str(&format!("  throttle: {}", i.throttle_reasons.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(at_ms: u64, sm: u32, temp: u32, reasons: &[&str]) -> GpuSnapshot {
        GpuSnapshot {
            at_ms: Some(at_ms),
            sm_clock_mhz: Some(sm),
            temperature_c: Some(temp),
            power_w: Some(300.0),
            throttle_reasons: reasons.iter().map(|r| r.to_string()).collect(),
            ..GpuSnapshot::default()
        }
    }

    /// 10 minutes of submissions every 100 ms, throughput falling linearly by `drop`.
    fn steady(drop: f64) -> Vec<Done> {
        (1..=6000)
            .map(|i| Done {
                end_s: f64::from(i) * 0.1,
                rate: 100.0 * (1.0 - drop * f64::from(i) / 6000.0),
                dispatches: 2,
            })
            .collect()
    }

    #[test]
    fn intervals_hold_their_submissions_and_telemetry() {
        let done = steady(0.0);
        let samples: Vec<GpuSnapshot> = (0..6000)
            .map(|i| snap(i * 100, 1980 - (i / 100) as u32, 40 + (i / 200) as u32, &[]))
            .collect();
        let iv = intervals(&done, &samples, 10.0, 600.0);
        assert_eq!(iv.len(), 60);
        assert_eq!(iv.iter().map(|i| i.dispatches).sum::<u64>(), 12000);
        assert_eq!(iv[0].throughput, Some(100.0));
        assert_eq!(iv[0].temperature_c, Some(40.0));
        assert_eq!(iv[59].temperature_c, Some(69.0));
        assert!(iv[59].sm_clock_mhz.unwrap() < iv[0].sm_clock_mhz.unwrap());
    }

    #[test]
    fn drift_compares_the_last_minute_with_the_first_and_knows_throttling() {
        let d = drift(&steady(0.2), &[], 600.0, 10.0).unwrap();
        assert_eq!(d.window_s, 60.0);
        assert!(d.change_pct < -15.0 && d.change_pct > -20.0, "{d:?}");
        assert!(d.exceeded && !d.throttled);
        let d = drift(&steady(0.05), &[], 600.0, 10.0).unwrap();
        assert!(!d.exceeded, "{d:?}");
        let hot = [snap(300_000, 1500, 88, &["sw_thermal_slowdown"])];
        let d = drift(&steady(0.2), &hot, 600.0, 10.0).unwrap();
        assert!(d.exceeded && d.throttled);
        assert_eq!(d.throttle_reasons, ["sw_thermal_slowdown"]);
        // Idle or clock-setting reasons explain nothing.
        let idle = [snap(
            1000,
            1980,
            40,
            &["gpu_idle", "applications_clocks_setting"],
        )];
        assert!(!drift(&steady(0.2), &idle, 600.0, 10.0).unwrap().throttled);
        // amdgpu's hotspot limit and power limit explain it too; its FIT limiter not.
        let amd = [snap(
            300_000,
            1800,
            95,
            &["amd_temp_hotspot", "amd_ppt0", "amd_fit"],
        )];
        let d = drift(&steady(0.2), &amd, 600.0, 10.0).unwrap();
        assert!(d.exceeded && d.throttled);
        assert_eq!(d.throttle_reasons, ["amd_ppt0", "amd_temp_hotspot"]);
        // A short burn compares its first and last thirds.
        assert_eq!(drift(&steady(0.0), &[], 30.0, 10.0).unwrap().window_s, 10.0);
        assert!(drift(&[], &[], 30.0, 10.0).is_none());
    }

    #[test]
    fn telemetry_says_what_is_missing() {
        let t = telemetry(
            "unavailable",
            Some("NVML not available: no library"),
            false,
            &[],
        );
        assert_eq!(t.source, "unavailable");
        assert_eq!(t.recorded, ["throughput"]);
        assert!(t.missing.contains(&"temperature".to_owned()));
        let mut a = snap(0, 1980, 40, &[]);
        a.ecc_corrected_volatile = Some(3);
        let mut b = snap(100, 1980, 41, &[]);
        b.ecc_corrected_volatile = Some(5);
        let t = telemetry("nvml", None, true, &[a.clone(), b.clone()]);
        assert_eq!(t.source, "nvml");
        assert!(t.recorded.contains(&"temperature".to_owned()));
        assert!(t.missing.contains(&"memory_clock".to_owned()));
        assert_eq!(t.ecc_corrected_new, Some(2));
        // sysfs without amdgpu's gpu_metrics has no throttle reasons: said, not implied.
        let t = telemetry(
            "sysfs",
            Some("NVML is NVIDIA's only"),
            false,
            &[a.clone(), b.clone()],
        );
        assert!(t.missing.contains(&"throttle_reasons".to_owned()));
        assert_eq!(t.unavailable_reason, None);
        let t = telemetry("sysfs", Some("NVML is NVIDIA's only"), true, &[a, b]);
        assert!(t.recorded.contains(&"throttle_reasons".to_owned()));
    }

    #[test]
    fn telemetry_becomes_counter_tracks() {
        let c = telemetry_counters(&[
            snap(100, 1980, 61, &[]),
            snap(200, 1755, 87, &["sw_thermal_slowdown"]),
        ]);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names[..4],
            ["clocks (MHz)", "temperature (°C)", "power (W)", "throttled"]
        );
        assert_eq!(c[0].at_us, 100_000.0);
        assert_eq!(c[0].values, [("sm_mhz".to_owned(), 1980.0)]);
        let throttled: Vec<f64> = c
            .iter()
            .filter(|c| c.name == "throttled")
            .map(|c| c.values[0].1)
            .collect();
        assert_eq!(throttled, [0.0, 1.0]);
    }
}
