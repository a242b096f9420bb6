//! The burn as a value with named steps: [`Ready::prepare`] (the load and the books),
//! [`Ready::calibrate`] (the first check, the golden copy, the batch and the check
//! cadence), [`Burn::submit`] (a submission of `batch` dispatches, each followed by its
//! compare pass), [`Burn::check`] (a finished submission: its timing, the GPU's
//! compares, the check against the CPU reference), [`Burn::report`] (the report brought
//! up to date and handed to the run) and [`Burn::finish`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::load::{Load, Pending, PendingCheck};
use super::report::{self, Books, Done, Wrong, interval_line, median};
use super::{
    BurnCase, BurnSettings, CALIBRATION, CHECK, DEPTH, LEDGER_SLOTS, MAX_BATCH, PERIOD, Recorder,
    SLOWDOWN, SUBMISSION,
};
use crate::error::Result;
use crate::export::trace::{Counter, Window};
use crate::gpu::Gpu;
use crate::gpu::timing::Timestamps;
use crate::inputs;
use crate::kernels::fault::Planter;
use crate::kernels::golden::{self, Golden};
use crate::kernels::{CaseInput, Stamp};
use crate::model::{BurnReport, GpuSnapshot, KernelResult, KernelStatus, Verification};
use crate::runner::GpuEvent;
use crate::telemetry::{Monitor, Sampler};

/// What every step reads: the GPU, the case, the settings, the telemetry and the run.
struct Context<'a> {
    gpu: &'a Gpu,
    c: &'a BurnCase<'a>,
    s: &'a BurnSettings,
    monitor: &'a Arc<Monitor>,
    /// When the trace's `burn` span started: telemetry and counters are timed from it.
    t0: Instant,
    rec: &'a dyn Recorder,
    /// `kernel/shape`.
    key: String,
    load: Load,
    /// Work per dispatch, in `unit`.
    work: f64,
    unit: &'static str,
    sampler: Sampler,
}

impl Context<'_> {
    fn phase(&self, p: &str) {
        self.rec.progress().set(Some(&self.key), p);
    }

    fn since(&self, t: Instant) -> f64 {
        t.duration_since(self.t0).as_secs_f64()
    }

    /// Whether the planted fault is due at dispatch `d`.
    fn due(&self, d: u64) -> bool {
        d >= self.s.fault_at && self.t0.elapsed() >= self.s.fault_after
    }

    /// Whether the planter (or `stale`) hits dispatch `d`.
    fn hit(&self, d: u64) -> bool {
        (self.c.stale || self.c.skip_repoison || self.load.planter.is_some())
            && self.due(d)
            && self.c.fault_dispatches.fires(d, 0)
    }

    /// Check `number` of `outputs` against the CPU reference, with its own check vectors.
    fn check_of(&self, number: u64, outputs: &[Vec<u8>]) -> Verification {
        self.load
            .prepared
            .verify(outputs, inputs::mix64(self.c.draw.check_seed ^ number))
            .into_verification(&outputs[0], true)
    }

    /// The first dispatch, on poisoned outputs, read back and checked against the CPU
    /// reference (check 1): its outputs and their checksum. A wrong one is in the books.
    fn first_checked(&self, books: &mut Books) -> Result<(Vec<Vec<u8>>, String)> {
        let gpu = self.gpu;
        self.load.prepared.poison(gpu)?;
        self.one(1, None)?;
        let first = self.load.prepared.read(gpu)?;
        let first_check = self.check_of(1, &first);
        let first_checksum = first_check.checksum.clone();
        books.report.checks = 1;
        if !first_check.passed {
            let why = crate::runner::failure_reason(&self.key, &first_check);
            let at_s = self.t0.elapsed().as_secs_f64();
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
                self.rec,
            );
        } else {
            books.result.verification = Some(first_check);
        }
        Ok((first, first_checksum))
    }

    /// The precision probe with the load's launch parameters, where the kernel has one:
    /// reduced precision is invisible to the exact grid the load runs on. A failed probe
    /// is a wrong result in the books.
    fn probe(&self, books: &mut Books) -> Result<()> {
        let Some(probe) = self.c.case.kernel.probe() else {
            return Ok(());
        };
        let progress = crate::runner::Progress::default();
        let r = crate::runner::run_case(
            self.gpu,
            &crate::runner::Case {
                kernel: probe,
                shape: crate::kernels::largest_shape(probe, crate::kernels::Suite::Quick),
                explicit: true,
            },
            &crate::runner::CaseOptions {
                seed: self.c.draw.seed,
                check_seed: self.c.draw.check_seed,
                warmup: 0,
                iterations: 1,
                input_scale: 1.0,
                checks: self.c.draw.checks,
                // A fault compiled into the kernel is the probe's too; those planted
                // into chosen dispatches of the load are not.
                fault: self
                    .c
                    .fault
                    .filter(|f| !f.switch().is_empty())
                    .map(crate::runner::Fault::Shader),
                fault_dispatches: crate::runner::FaultDispatches::All,
                params: self.c.draw.params,
                progress: &progress,
                memory: None,
            },
        )?
        .result;
        self.phase("calibrate");
        if r.status != KernelStatus::Pass {
            let at_s = self.t0.elapsed().as_secs_f64();
            books.wrong(
                Wrong {
                    at_s,
                    dispatch: 1,
                    check: 1,
                    message: format!(
                        "at {at_s:.1} s, the precision probe: {}",
                        r.reason.unwrap_or_default()
                    ),
                    mismatch: r
                        .verification
                        .as_ref()
                        .and_then(|v| v.first_mismatch.clone()),
                    verification: None,
                },
                self.rec,
            );
        }
        Ok(())
    }

    /// One dispatch `d` in a submission of its own, waited for.
    fn one(&self, d: u64, ts: Stamp<'_>) -> Result<Duration> {
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        self.load.encode(&mut enc, ts, 1, self.hit(d));
        self.gpu.submit_and_wait(enc.finish())
    }
}

/// A burn prepared, not yet calibrated.
pub(super) struct Ready<'a> {
    cx: Context<'a>,
    books: Books,
}

impl<'a> Ready<'a> {
    /// Prepares the kept-busy instance of the case (with a fault the kernel plants
    /// itself compiled in), the planter of the other faults, and the books; starts the
    /// telemetry.
    pub(super) fn prepare(
        gpu: &'a Gpu,
        c: &'a BurnCase<'a>,
        s: &'a BurnSettings,
        monitor: &'a Arc<Monitor>,
        t0: Instant,
        rec: &'a dyn Recorder,
    ) -> Result<Ready<'a>> {
        let kernel = c.case.kernel;
        let key = format!("{}/{}", kernel.id(), c.case.shape);
        let sampler = monitor.sample_every(PERIOD, t0);
        rec.progress().set(Some(&key), "prepare");
        // A fault the kernel plants itself is compiled into the load (it hits every
        // dispatch); the planter's and `stale` hit the dispatches chosen.
        let switch = c.fault.filter(|f| !f.switch().is_empty());
        let prepared = kernel.prepare(
            gpu,
            &CaseInput {
                shape: c.case.shape,
                seed: c.draw.seed,
                input_scale: c.draw.input_scale,
                checks: c.draw.checks,
                params: c.draw.params,
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
        let crate::kernels::Work {
            per_dispatch: work,
            unit,
        } = load.prepared.work();
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
                c.draw.seed,
                KernelStatus::Pass,
            )
        };
        let books = Books {
            // A planted slowdown is the GPU's own, even on a software adapter.
            drift_inconclusive: (gpu.is_software() && !c.slowdown).then(|| {
                "a software adapter computes on the host's CPU: its throughput follows the host's load, not a GPU's health".to_owned()
            }),
            report,
            result,
            done: Vec::new(),
            wrong: Vec::new(),
            wrong_count: 0,
            method: "golden-gpu",
        };
        Ok(Ready {
            cx: Context {
                gpu,
                c,
                s,
                monitor,
                t0,
                rec,
                key,
                load,
                work,
                unit,
                sampler,
            },
            books,
        })
    }

    /// The first dispatch, on poisoned outputs, checked against the CPU reference
    /// (check 1) and kept as the golden copy every later dispatch is compared with; then
    /// three timed ones, for the batch and the check cadence.
    // Long (about 100 lines): the calibration's steps share the golden copy and the books
    // in order (first check, probe, golden copy, timed dispatches, cadence, their checks).
    pub(super) fn calibrate(self) -> Result<Burn<'a>> {
        let Ready { cx, mut books } = self;
        cx.phase("calibrate");
        let gpu = cx.gpu;
        let (first, first_checksum) = cx.first_checked(&mut books)?;
        cx.probe(&mut books)?;
        let mut golden = Golden::new(
            gpu,
            &cx.load.prepared.outputs(),
            LEDGER_SLOTS,
            cx.c.dead_check,
        )?;
        {
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            golden.keep(&mut enc);
            gpu.submit_and_wait(enc.finish())?;
        }
        let stamps = Timestamps::new(gpu, 3);
        let mut times = Vec::new();
        for i in 0..3u32 {
            let wall = cx.one(2 + u64::from(i), stamps.as_ref().map(|t| (t, i)))?;
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
        let check_every =
            cx.s.check_every
                .unwrap_or_else(|| ((CHECK * 1e9 / per_ns) as u64).max(1));
        let batch = ((SUBMISSION * 1e9 / per_ns) as u64)
            .clamp(1, MAX_BATCH)
            .min(check_every);
        cx.rec.print(&format!(
            "burn {} for {:.0} s: {} per dispatch, {batch} dispatches per submission, each compared with the verified output on the GPU, a check against the CPU reference every {check_every} dispatches",
            cx.key,
            cx.s.duration.as_secs_f64(),
            crate::export::fmt_ns(per_ns)
        ));
        books.report.batch = batch;
        books.report.check_every = check_every;
        let (calibrated, ran) = golden.collect(gpu)?;
        books.done.push(Done {
            end_s: cx.t0.elapsed().as_secs_f64(),
            rate: cx.work / per_ns,
            dispatches: CALIBRATION,
        });
        books.report.dispatches = CALIBRATION;
        books
            .result
            .samples_ns
            .extend(times.iter().map(|&t| t as u64));
        let at_s = cx.t0.elapsed().as_secs_f64();
        let mut unproven = false;
        let verified = judge_checks(&mut books, &calibrated, &mut unproven, at_s, &cx, true);
        books.report.dispatches_verified = 1 + verified;
        // The calibration asked for three check passes: each must have run.
        if ran < CALIBRATION - 1 {
            books.wrong(
                Wrong {
                    at_s,
                    dispatch: 2 + ran,
                    check: 0,
                    message: format!(
                        "at {at_s:.1} s, calibration: {ran} of {} check passes ran on the GPU: its dispatches are not verified",
                        CALIBRATION - 1
                    ),
                    mismatch: None,
                    verification: None,
                },
                cx.rec,
            );
        }
        let stop = !books.report.errors.is_empty() && !cx.s.keep_going;
        let next_interval = cx.s.interval.as_secs_f64();
        cx.phase("burn");
        Ok(Burn {
            cx,
            books,
            golden,
            first,
            unproven,
            golden_changed: false,
            first_checksum,
            checks: 1,
            batch,
            check_every,
            queue: VecDeque::new(),
            submitted: CALIBRATION,
            since_check: 0,
            number: 0,
            samples: Vec::new(),
            next_interval,
            stop,
        })
    }
}

/// The GPU's check passes of a finished submission, judged: a pass that found wrong
/// words, one whose own check failed (the sentinel not reported as planted, words not
/// compared) and one that did not poison (the next dispatch then proves nothing) are
/// each a wrong result in the books. Returns the dispatches verified: those checked by
/// a pass that proved itself, after a pass that poisoned.
fn judge_checks(
    books: &mut Books,
    checks: &[golden::Check],
    unproven: &mut bool,
    at_s: f64,
    cx: &Context<'_>,
    blame: bool,
) -> u64 {
    let mut verified = 0;
    for c in checks {
        // Check pass p (from 0) follows dispatch p + 2: the first has none.
        let d = c.pass + 2;
        let mut fault = |message: String| {
            books.wrong(
                Wrong {
                    at_s,
                    dispatch: d,
                    check: 0,
                    message,
                    mismatch: None,
                    verification: None,
                },
                cx.rec,
            );
        };
        if let Some(why) = &c.checker {
            fault(format!(
                "at {at_s:.1} s, dispatch {d}: the GPU's check pass did not compare: {why}"
            ));
        } else if std::mem::take(unproven) {
            fault(format!(
                "at {at_s:.1} s, dispatch {d}: not proven: the check pass before it did not poison the outputs, so a dispatch that never ran would read as this one"
            ));
        } else if let Some(f) = &c.finding {
            // Compared with a golden copy found changed: neither verified nor blamed.
            if blame {
                verified += 1;
                books.wrong_dispatch(f, at_s, &*cx.load.prepared, cx.rec);
            }
        } else {
            verified += 1;
        }
        if c.unpoisoned.is_some() {
            *unproven = true;
        }
    }
    verified
}

/// A calibrated burn: the load, the golden copy, the queue and what it has measured.
pub(super) struct Burn<'a> {
    cx: Context<'a>,
    books: Books,
    golden: Golden,
    /// The first dispatch's outputs as the host read them: the golden copy must still
    /// equal them.
    first: Vec<Vec<u8>>,
    /// The last check pass read did not poison: the next dispatch is not proven.
    unproven: bool,
    /// The golden copy was found changed (said once).
    golden_changed: bool,
    first_checksum: String,
    /// Checks against the CPU reference so far (the calibration's is the first).
    checks: u64,
    batch: u64,
    check_every: u64,
    queue: VecDeque<Pending>,
    /// Dispatches submitted so far, the calibration's included.
    submitted: u64,
    since_check: u64,
    /// Submissions so far.
    number: u32,
    /// Telemetry samples handed to the report so far.
    samples: Vec<GpuSnapshot>,
    next_interval: f64,
    /// A wrong result was found (and `--keep-going` is off).
    stop: bool,
}

impl Burn<'_> {
    /// Whether to submit again: until the duration is up (at least one submission,
    /// however short it is) or a wrong result stops the burn.
    pub(super) fn running(&self) -> bool {
        !self.stop && (self.number == 0 || self.cx.t0.elapsed() < self.cx.s.duration)
    }

    /// A submission: `batch` dispatches, each in a timed pass of its own followed by its
    /// check pass; the last one's outputs copied out when a check is due.
    pub(super) fn submit(&mut self) -> Result<()> {
        let cx = &self.cx;
        let gpu = cx.gpu;
        let batch = self.batch;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        let q = Timestamps::new(gpu, batch as u32);
        self.since_check += batch;
        let check_due = self.since_check >= self.check_every;
        let mut check = None;
        let first_pass = self.golden.encoded();
        for j in 0..batch {
            let d = self.submitted + j + 1;
            let times = if cx.c.slowdown && cx.due(d) {
                SLOWDOWN
            } else {
                1
            };
            cx.load.encode(
                &mut enc,
                q.as_ref().map(|t| (t, j as u32)),
                times,
                cx.hit(d),
            );
            self.golden.encode_compare(&mut enc);
            if check_due && j + 1 == batch {
                self.since_check = 0;
                self.checks += 1;
                check = Some(PendingCheck {
                    outputs: cx.load.copy_out(gpu, &mut enc)?,
                    dispatch: d,
                    number: self.checks,
                });
            }
            // Tests only: the poisoning before the next dispatch the fault hits left out.
            if cx.c.skip_repoison && cx.hit(d + 1) {
                self.golden.encode_dropping_poison(&mut enc);
            } else {
                self.golden.encode_finish(&mut enc, true);
            }
        }
        self.submitted += batch;
        let stamps = q
            .as_ref()
            .map(|t| t.resolve_into(gpu, &mut enc, batch as u32))
            .transpose()?;
        let ledger = self.golden.snapshot(gpu, &mut enc)?;
        let submitted_us = cx.since(Instant::now()) * 1e6;
        let index = gpu.scoped("submitting the burn", || gpu.queue.submit([enc.finish()]))?;
        self.queue.push_back(Pending {
            index,
            number: self.number,
            dispatches: batch,
            stamps,
            ledger,
            passes: first_pass..self.golden.encoded(),
            check,
            submitted_us,
        });
        self.number += 1;
        Ok(())
    }

    /// Finishes the oldest submissions while the queue is full: each one's check, a
    /// report when something was checked or found or an interval closed, the closed
    /// intervals' lines, and the progress line.
    pub(super) fn complete_due(&mut self) -> Result<()> {
        while self.queue.len() >= DEPTH {
            let p = self.queue.pop_front().expect("a pending submission");
            let checked = p.check.is_some();
            let wrong = self.check(p)?;
            self.stop |= wrong && !self.cx.s.keep_going;
            let elapsed = self.cx.since(Instant::now());
            if checked || wrong || elapsed >= self.next_interval {
                self.report(elapsed);
            }
            while elapsed >= self.next_interval {
                // The interval that just closed.
                let r = &self.books.report;
                let k = (self.next_interval / r.interval_s).round() as usize;
                if let Some(i) = r.intervals.get(k.saturating_sub(1)) {
                    self.cx.rec.print(&interval_line(i, &r.unit));
                }
                self.next_interval += r.interval_s;
            }
            let duration = self.cx.s.duration.as_secs_f64();
            let rate = self.books.done.last().map(|d| d.rate);
            self.cx.rec.progress().burn(crate::runner::BurnAt {
                elapsed_s: elapsed.min(duration),
                duration_s: duration,
                verified: self.books.report.dispatches_verified,
                throughput: rate.map(|r| format!("{r:.1} {}", self.cx.unit)),
            });
        }
        Ok(())
    }

    /// Finishes a submission: its timing, its check passes, and its check against the
    /// CPU reference if it carries one. True when something was wrong.
    fn check(&mut self, p: Pending) -> Result<bool> {
        self.cx.gpu.wait(p.index.clone())?;
        let end_s = self.cx.since(Instant::now());
        self.time(&p, end_s)?;
        let mut wrong = self.compares(&p, end_s)?;
        if let Some(check) = p.check {
            wrong |= self.against_cpu(check, end_s)?;
        }
        Ok(wrong)
    }

    /// A finished submission's time per dispatch, into the books and the trace.
    fn time(&mut self, p: &Pending, end_s: f64) -> Result<()> {
        let cx = &self.cx;
        let gpu = cx.gpu;
        let books = &mut self.books;
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
        let rate = if per > 0.0 { cx.work / per } else { 0.0 };
        books.done.push(Done {
            end_s,
            rate,
            dispatches: p.dispatches,
        });
        books.result.samples_ns.push(per as u64);
        books.report.dispatches += p.dispatches;
        let key = &cx.key;
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
            name: format!("throughput ({})", cx.unit),
            at_us: end_s * 1e6,
            values: vec![(key.clone(), rate)],
        }];
        cx.rec.trace(events, windows, counters);
        Ok(())
    }

    /// Every dispatch of a finished submission against the verified output, as the
    /// GPU's compare passes found it. True when one differed or a pass never ran.
    fn compares(&mut self, p: &Pending, end_s: f64) -> Result<bool> {
        let cx = &self.cx;
        let books = &mut self.books;
        let raw = cx.gpu.read_done(&p.ledger)?;
        let (checks, ran) = self.golden.checks_in(&raw, p.passes.start, p.passes.end);
        let errors = books.report.errors.len();
        // A mismatch is the dispatch's only while the golden copy is intact.
        let blame = !checks.iter().any(|c| c.finding.is_some()) || self.golden_intact(end_s)?;
        let (cx, books) = (&self.cx, &mut self.books);
        books.report.dispatches_verified +=
            judge_checks(books, &checks, &mut self.unproven, end_s, cx, blame);
        let mut wrong = books.report.errors.len() > errors;
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
                cx.rec,
            );
        }
        Ok(wrong)
    }

    /// Whether the golden copy on the device still equals the first dispatch's outputs;
    /// where it does not, the device's memory changed it, and that is what is said.
    fn golden_intact(&mut self, at_s: f64) -> Result<bool> {
        if self.golden_changed {
            return Ok(false);
        }
        let now = self.golden.read_goldens(self.cx.gpu)?;
        let mut base = 0;
        for (f, n) in self.first.iter().zip(&now) {
            if let Some(m) = golden::compare_words(f, n) {
                self.golden_changed = true;
                let count = m.wrong_words;
                let (place, e, a, _) = crate::runner::wrong_word(
                    &*self.cx.load.prepared,
                    base + m.word,
                    m.expected,
                    m.actual,
                );
                self.books.wrong(
                    Wrong {
                        at_s,
                        dispatch: self.submitted,
                        check: 0,
                        message: format!(
                            "at {at_s:.1} s: the verified copy on the device changed: memory fault in {count} word{} of the golden copy, the first {place}: it holds {a} where the verified output is {e}; the dispatches compared with it are not blamed",
                            if count == 1 { "" } else { "s" }
                        ),
                        mismatch: None,
                        verification: None,
                    },
                    self.cx.rec,
                );
                return Ok(false);
            }
            base += f.len() as u64 / 4;
        }
        Ok(true)
    }

    /// The copied-out outputs of a checked dispatch against the CPU reference, and
    /// against the first check's bits. True when wrong.
    fn against_cpu(&mut self, check: PendingCheck, end_s: f64) -> Result<bool> {
        let cx = &self.cx;
        let books = &mut self.books;
        let outputs = check
            .outputs
            .iter()
            .map(|b| cx.gpu.read_done(b))
            .collect::<Result<Vec<_>>>()?;
        books.report.checks += 1;
        let v = cx.check_of(check.number, &outputs);
        // Every check must give the first check's bits.
        let same = v.checksum == self.first_checksum;
        let v = Verification {
            passed: v.passed && same,
            deterministic: same,
            ..v
        };
        let wrong = !v.passed;
        if wrong {
            let why = crate::runner::failure_reason(&cx.key, &v);
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
                cx.rec,
            );
        }
        if books.result.status == KernelStatus::Pass {
            books.result.verification = Some(v);
        }
        Ok(wrong)
    }

    /// Brings the report up to date and hands it to the run. Only the telemetry
    /// samples taken since the last time are copied.
    fn report(&mut self, elapsed_s: f64) {
        let cx = &self.cx;
        let new = cx.sampler.since(self.samples.len());
        cx.rec
            .trace(Vec::new(), Vec::new(), report::telemetry_counters(&new));
        self.samples.extend(new);
        report::refresh(
            &mut self.books,
            &self.samples,
            elapsed_s,
            cx.monitor,
            cx.work,
        );
        cx.rec.record(&self.books.report, &self.books.result);
    }

    /// Drains the queue, takes the last telemetry, hands the final report to the run
    /// and says how the burn went; returns the telemetry samples.
    pub(super) fn finish(mut self) -> Result<Vec<GpuSnapshot>> {
        self.cx.phase("drain");
        while let Some(p) = self.queue.pop_front() {
            self.check(p)?;
        }
        let end_s = self.cx.since(Instant::now());
        self.golden_intact(end_s)?;
        let Burn {
            cx,
            mut books,
            samples,
            ..
        } = self;
        let elapsed = cx.since(Instant::now());
        let seen = samples.len();
        let samples = cx.sampler.finish();
        cx.rec.trace(
            Vec::new(),
            Vec::new(),
            report::telemetry_counters(&samples[seen.min(samples.len())..]),
        );
        report::refresh(&mut books, &samples, elapsed, cx.monitor, cx.work);
        cx.rec.record(&books.report, &books.result);
        for line in report::closing_lines(&books.report, elapsed) {
            cx.rec.print(&line);
        }
        Ok(samples)
    }
}
