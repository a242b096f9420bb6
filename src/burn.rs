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
use crate::kernels::fault::{Planter, Poisoner, ShaderFault};
use crate::kernels::{CaseInput, Kernel, Params, Prepared, RuntimeChecks, Shape, Suite};
use crate::model::{
    BurnError, BurnInterval, BurnReport, Drift, GpuSnapshot, KernelResult, KernelStatus, Telemetry,
    Throughput, Verification,
};
use crate::runner::{Case, GpuEvent, Progress};
use crate::stats;
use crate::verify;

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
/// drift, telemetry, and the statistics of the samples so far.
fn refresh(
    report: &mut BurnReport,
    result: &mut KernelResult,
    done: &[Done],
    samples: &[GpuSnapshot],
    elapsed_s: f64,
    monitor: &Monitor,
    work: f64,
) {
    report.elapsed_s = elapsed_s;
    report.intervals = intervals(done, samples, report.interval_s, elapsed_s);
    report.drift = drift(done, samples, elapsed_s, report.max_drift_pct);
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
    /// Its pass's timestamps, to be read once it is done.
    stamps: Option<wgpu::Buffer>,
    check: Option<PendingCheck>,
    submitted_us: f64,
}

struct PendingCheck {
    outputs: Vec<wgpu::Buffer>,
    /// The checked dispatch, counted from the burn's first.
    dispatch: u64,
    number: u64,
}

/// An instance of the case that only the checks run.
struct Checker {
    prepared: Box<dyn Prepared>,
    poisoner: Poisoner,
    planter: Option<Planter>,
}

impl Checker {
    fn new(gpu: &Gpu, prepared: Box<dyn Prepared>, fault: Option<ShaderFault>) -> Result<Checker> {
        let poisoner = Poisoner::new(gpu, &prepared.outputs())?;
        let planter = match fault {
            Some(f) => Planter::new(gpu, f, prepared.fault_target(), prepared.layout())?,
            None => None,
        };
        Ok(Checker {
            prepared,
            poisoner,
            planter,
        })
    }

    /// Poison, the checked dispatch (and a planted fault), copies into fresh mappable
    /// buffers.
    fn encode(&self, gpu: &Gpu, enc: &mut wgpu::CommandEncoder) -> Vec<wgpu::Buffer> {
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("check"),
                timestamp_writes: None,
            });
            self.poisoner.encode(gpu, &mut pass);
            self.prepared.encode(&mut pass);
            if let Some(p) = &self.planter {
                p.encode(&mut pass);
            }
        }
        self.prepared
            .outputs()
            .into_iter()
            .map(|(b, size)| {
                let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("check readback"),
                    size,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                enc.copy_buffer_to_buffer(b, 0, &staging, 0, size);
                staging
            })
            .collect()
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
    let input = |fault| CaseInput {
        shape: c.case.shape,
        seed: c.seed,
        input_scale: c.input_scale,
        checks: c.checks,
        params: c.params,
        fault,
    };
    let load = kernel.prepare(gpu, &input(None))?;
    let checker = Checker::new(gpu, kernel.prepare(gpu, &input(None))?, None)?;
    let faulty = match c.fault {
        Some(f) => Some(Checker::new(
            gpu,
            kernel.prepare(gpu, &input(Some(f)))?,
            Some(f),
        )?),
        None => None,
    };
    let (work, unit) = load.work();

    // Calibrate: how long one dispatch takes, for the batch and the check cadence.
    phase("calibrate");
    load.execute(gpu, None, None)?;
    let stamps = Timestamps::new(gpu, 3);
    let mut times = Vec::new();
    for i in 0..3 {
        let wall = load.execute(gpu, None, stamps.as_ref().map(|t| (t, i)))?;
        times.push(wall.as_nanos() as f64);
    }
    if let Some(t) = &stamps {
        times = t
            .read(gpu, 3)?
            .iter()
            .map(|&(b, e)| e.saturating_sub(b) as f64)
            .collect();
    }
    let per_ns = median(&mut times).unwrap_or(1.0).max(1.0);
    let check_every = s
        .check_every
        .unwrap_or_else(|| ((CHECK * 1e9 / per_ns) as u64).max(1));
    let batch = ((SUBMISSION * 1e9 / per_ns) as u64)
        .clamp(1, 4096)
        .min(check_every);
    rec.print(&format!(
        "burn {key} for {:.0} s: {} per dispatch, {batch} dispatches per submission, a check every {check_every} dispatches",
        s.duration.as_secs_f64(),
        crate::export::fmt_ns(per_ns)
    ));

    let mut report = BurnReport {
        kernel: key.clone(),
        duration_s: s.duration.as_secs_f64(),
        batch,
        check_every,
        unit: unit.to_owned(),
        interval_s: s.interval.as_secs_f64(),
        max_drift_pct: s.max_drift_pct,
        keep_going: s.keep_going,
        fail_on_throttle: s.fail_on_throttle,
        ..BurnReport::default()
    };
    let mut result = KernelResult {
        launch: Some(load.launch()),
        ..KernelResult::new(
            kernel.id(),
            c.case.shape.to_string(),
            c.seed,
            KernelStatus::Pass,
        )
    };
    let mut done: Vec<Done> = Vec::new();
    let mut queue: VecDeque<Pending> = VecDeque::new();
    let mut submitted: u64 = 0;
    let mut since_check: u64 = 0;
    let mut checks: u64 = 0;
    let mut first_checksum: Option<String> = None;
    let mut samples: Vec<GpuSnapshot> = Vec::new();
    let mut next_interval = s.interval.as_secs_f64();
    let since = |t: Instant| t.duration_since(t0).as_secs_f64();
    let mut stop = false;
    phase("burn");

    // Finishes the oldest submission: its timing, and its check if it carries one.
    let mut complete = |p: Pending,
                        report: &mut BurnReport,
                        result: &mut KernelResult,
                        done: &mut Vec<Done>|
     -> Result<bool> {
        gpu.wait(p.index)?;
        let end = Instant::now();
        let end_s = since(end);
        let gpu_ns = match &p.stamps {
            Some(b) => Timestamps::decode(gpu, &gpu.read_done(b)?)
                .first()
                .map(|&(b, e)| (b, e.saturating_sub(b))),
            None => None,
        };
        // Without timestamps: the host time since the previous submission finished (or
        // this one was submitted, if later), as the queue runs one after another.
        let host_from_us = done
            .last()
            .map_or(p.submitted_us, |d| (d.end_s * 1e6).max(p.submitted_us));
        let span_ns = gpu_ns
            .map(|g| g.1 as f64)
            .unwrap_or((end_s * 1e6 - host_from_us) * 1e3);
        let per = span_ns / p.dispatches as f64;
        let rate = if per > 0.0 { work / per } else { 0.0 };
        done.push(Done {
            end_s,
            rate,
            dispatches: p.dispatches,
        });
        result.samples_ns.push(per as u64);
        report.dispatches += p.dispatches;
        let (events, windows) = match gpu_ns {
            Some((b, d)) => (
                vec![GpuEvent {
                    key: key.clone(),
                    sample: p.number,
                    begin_ns: b,
                    end_ns: b + d,
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
        let Some(check) = p.check else {
            return Ok(false);
        };
        let outputs = check
            .outputs
            .iter()
            .map(|b| gpu.read_done(b))
            .collect::<Result<Vec<_>>>()?;
        report.dispatches += 1;
        report.checks += 1;
        let check_seed = inputs::mix64(c.check_seed ^ check.number);
        let checked = checker.prepared.verify(&outputs, check_seed);
        let sum = verify::checksum(&outputs[0]);
        let same = first_checksum.as_ref().is_none_or(|f| *f == sum);
        if first_checksum.is_none() {
            first_checksum = Some(sum.clone());
        }
        let v: Verification = checked.into_verification_summed(sum, same);
        let mut wrong = false;
        if !v.passed {
            wrong = true;
            let why = crate::runner::failure_reason(&key, &v);
            let message = format!(
                "at {end_s:.1} s, dispatch {} (check {}): {why}",
                check.dispatch, check.number
            );
            rec.print(&format!("burn: WRONG {message}"));
            report.errors.push(BurnError {
                at_s: end_s,
                dispatch: check.dispatch,
                check: check.number,
                message: message.clone(),
                mismatch: v.first_mismatch.clone(),
            });
            result.status = KernelStatus::Fail;
            if result.reason.is_none() {
                result.reason = Some(format!("burn {message}"));
                result.verification = Some(v.clone());
            }
        }
        if result.status == KernelStatus::Pass {
            result.verification = Some(v);
        }
        Ok(wrong)
    };

    // Brings the report up to date and hands it to the run.
    // Only the telemetry samples taken since the last time are copied.
    let publish = |report: &mut BurnReport,
                   result: &mut KernelResult,
                   done: &[Done],
                   samples: &mut Vec<GpuSnapshot>,
                   elapsed_s: f64| {
        let new = sampler.since(samples.len());
        rec.trace(Vec::new(), Vec::new(), telemetry_counters(&new));
        samples.extend(new);
        refresh(report, result, done, samples, elapsed_s, monitor, work);
        rec.record(report, result);
    };

    let mut number: u32 = 0;
    while !stop && t0.elapsed() < s.duration {
        // A submission: `batch` timed dispatches, and the check when it is due.
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        let q = Timestamps::new(gpu, 1);
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("burn"),
                timestamp_writes: q.as_ref().map(|t| t.writes(0)),
            });
            let due = submitted >= s.fault_at && t0.elapsed() >= s.fault_after;
            let times = if c.slowdown && due { SLOWDOWN } else { 1 };
            for _ in 0..batch * u64::from(times) {
                load.encode(&mut pass);
            }
        }
        submitted += batch;
        since_check += batch;
        let check = (since_check >= check_every).then(|| {
            since_check = 0;
            checks += 1;
            let dispatch = submitted + 1;
            submitted += 1;
            let by = match &faulty {
                Some(f) if dispatch >= s.fault_at && t0.elapsed() >= s.fault_after => f,
                _ => &checker,
            };
            PendingCheck {
                outputs: by.encode(gpu, &mut enc),
                dispatch,
                number: checks,
            }
        });
        let stamps = q.as_ref().map(|t| t.resolve_into(gpu, &mut enc, 1));
        let submitted_us = since(Instant::now()) * 1e6;
        let index = gpu.scoped("submitting the burn", || gpu.queue.submit([enc.finish()]))?;
        queue.push_back(Pending {
            index,
            number,
            dispatches: batch,
            stamps,
            check,
            submitted_us,
        });
        number += 1;
        while queue.len() >= DEPTH {
            let p = queue.pop_front().expect("a pending submission");
            let checked = p.check.is_some();
            let wrong = complete(p, &mut report, &mut result, &mut done)?;
            stop |= wrong && !s.keep_going;
            let elapsed = since(Instant::now());
            if checked || elapsed >= next_interval {
                publish(&mut report, &mut result, &done, &mut samples, elapsed);
            }
            while elapsed >= next_interval {
                // The interval that just closed.
                let k = (next_interval / report.interval_s).round() as usize;
                if let Some(i) = report.intervals.get(k.saturating_sub(1)) {
                    rec.print(&interval_line(i, &report.unit));
                }
                next_interval += report.interval_s;
            }
            rec.progress().sample(
                elapsed.min(s.duration.as_secs_f64()) as u32,
                s.duration.as_secs_f64() as u32,
            );
        }
    }
    phase("drain");
    while let Some(p) = queue.pop_front() {
        complete(p, &mut report, &mut result, &mut done)?;
    }
    let elapsed = since(Instant::now());
    let seen = samples.len();
    let samples = sampler.finish();
    rec.trace(
        Vec::new(),
        Vec::new(),
        telemetry_counters(&samples[seen.min(samples.len())..]),
    );
    refresh(
        &mut report,
        &mut result,
        &done,
        &samples,
        elapsed,
        monitor,
        work,
    );
    rec.record(&report, &result);
    if let Some(d) = &report.drift {
        rec.print(&format!(
            "burn: throughput {:+.1} % (last {:.0} s against the first){}",
            d.change_pct,
            d.window_s,
            if d.throttled {
                format!(", throttled: {}", d.throttle_reasons.join(", "))
            } else {
                String::new()
            }
        ));
    }
    rec.print(&format!(
        "burn: {} dispatches, {} checks, {} wrong, {:.1} s",
        report.dispatches,
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
