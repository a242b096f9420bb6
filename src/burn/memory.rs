//! `burn --kernel memtest`: the device's memory kept under load for the duration,
//! cycling the patterns (new keys each cycle), every pass's compare proven on the GPU,
//! the first pass of each pattern checked against the CPU reference, the memory's
//! temperature in the telemetry where the card reads it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::report::{self, Books, Done, Wrong, interval_line};
use super::{BurnCase, BurnSettings, PERIOD, Recorder};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::timing::Timestamps;
use crate::kernels::Shape;
use crate::kernels::memtest::device::{self, Found, PassRun, Tester};
use crate::kernels::memtest::pattern;
use crate::model::{
    BurnReport, GpuSnapshot, KernelResult, KernelStatus, MemoryCoverage, Verification,
};
use crate::runner::GpuEvent;
use crate::runner::memtest::{MemoryContext, allocated, size, timed_bandwidths};
use crate::telemetry::Monitor;

/// A console and result update at least this often, besides each interval's end.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Runs the memory burn; returns the telemetry samples and the coverage.
pub fn burn(
    gpu: &Gpu,
    c: &BurnCase,
    s: &BurnSettings,
    monitor: &Arc<Monitor>,
    t0: Instant,
    rec: &dyn Recorder,
    ctx: &MemoryContext,
) -> Result<(Vec<GpuSnapshot>, MemoryCoverage)> {
    let mut b = MemoryBurn::prepare(gpu, c, s, rec, ctx)?;
    let sampler = monitor.sample_every(PERIOD, t0);
    rec.print(&format!(
        "burn {} for {:.0} s: {} in {} buffers, every pass written and compared on the GPU, the first of each pattern against the CPU reference",
        b.key,
        s.duration.as_secs_f64(),
        crate::kernels::memtest::size_text(b.bytes),
        b.tester.alloc.pieces.len()
    ));
    rec.progress().set(Some(&b.key), "burn");
    let ts = Timestamps::new(gpu, 2);
    let mut samples: Vec<GpuSnapshot> = Vec::new();
    let mut next_interval = s.interval.as_secs_f64();
    let mut last_report = Instant::now();
    loop {
        let d = b.pass + 1;
        let due = d >= s.fault_at && t0.elapsed() >= s.fault_after;
        let hit = due && c.fault_dispatches.fires(d, 0);
        let (run, end_s) = b.time_pass(gpu, c, hit, ts.as_ref(), t0, rec)?;
        let mut wrong = b.judge_on_gpu(&run, d, end_s, rec);
        if b.pass < pattern::CYCLE.len() as u64 {
            wrong |= b.check_against_cpu(gpu, c, &run, d, end_s, rec)?;
        }
        b.pass += 1;
        let stop = wrong && !s.keep_going;
        let elapsed = t0.elapsed().as_secs_f64();
        if wrong || elapsed >= next_interval || last_report.elapsed() >= REPORT_EVERY {
            let new = sampler.since(samples.len());
            rec.trace(Vec::new(), Vec::new(), report::telemetry_counters(&new));
            samples.extend(new);
            report::refresh(&mut b.books, &samples, elapsed, monitor, b.work);
            b.cov.passes = b.pass as u32;
            b.cov.patterns = b.patterns.clone();
            rec.coverage(&b.cov);
            rec.record(&b.books.report, &b.books.result);
            last_report = Instant::now();
        }
        while elapsed >= next_interval {
            let r = &b.books.report;
            let k = (next_interval / r.interval_s).round() as usize;
            if let Some(i) = r.intervals.get(k.saturating_sub(1)) {
                rec.print(&interval_line(i, &r.unit));
            }
            next_interval += r.interval_s;
        }
        let duration = s.duration.as_secs_f64();
        rec.progress().burn(crate::runner::BurnAt {
            elapsed_s: elapsed.min(duration),
            duration_s: duration,
            verified: b.books.report.dispatches_verified,
            throughput: b
                .books
                .done
                .last()
                .map(|d| format!("{:.1} {}", d.rate, b.books.report.unit)),
        });
        if stop || elapsed >= duration {
            break;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let seen = samples.len();
    let samples = sampler.finish();
    rec.trace(
        Vec::new(),
        Vec::new(),
        report::telemetry_counters(&samples[seen.min(samples.len())..]),
    );
    report::refresh(&mut b.books, &samples, elapsed, monitor, b.work);
    let cov = b.finish(ts.is_some());
    rec.coverage(&cov);
    rec.record(&b.books.report, &b.books.result);
    for line in report::closing_lines(&b.books.report, elapsed) {
        rec.print(&line);
    }
    Ok((samples, cov))
}

/// The memory burn as it goes: the tester over the allocation, the coverage and the
/// books, and what each pass adds to them.
struct MemoryBurn {
    tester: Tester,
    /// A memory fault is planted (tests): passes the fault hits carry it.
    faulty: bool,
    cov: MemoryCoverage,
    books: Books,
    key: String,
    bytes: u64,
    /// Bytes moved per pass: each word written once and read once.
    work: f64,
    pass: u64,
    /// The patterns of the first cycle, in order.
    patterns: Vec<String>,
    /// Each pass's write and compare time on the GPU, ns.
    phases: Vec<(u64, u64)>,
}

impl MemoryBurn {
    /// Sizes and allocates the memory (failing closed), refuses a planted fault beyond
    /// it, and opens the books.
    fn prepare(
        gpu: &Gpu,
        c: &BurnCase,
        s: &BurnSettings,
        rec: &dyn Recorder,
        ctx: &MemoryContext,
    ) -> Result<Self> {
        let Shape::Memory(target) = c.case.shape else {
            unreachable!("memtest takes a memory target")
        };
        rec.progress().set(Some("memtest"), "prepare");
        let sized = size(gpu, target, c.case.explicit, ctx)
            .map_err(|e| Error::env(crate::error::EnvKind::MissingFeature, e.1))?;
        let mut cov = sized.coverage;
        let key = format!("memtest/{}", sized.shape);
        rec.progress().set(Some(&key), "allocate");
        let alloc = device::allocate(gpu, cov.target_bytes)?;
        allocated(&mut cov, &alloc);
        if alloc.bytes == 0 {
            return Err(Error::env(
                crate::error::EnvKind::OutOfMemory,
                format!(
                    "memtest: no memory could be allocated ({})",
                    alloc.stopped.as_deref().unwrap_or("nothing to allocate")
                ),
            ));
        }
        let fault = c.fault.filter(|f| f.memory());
        if let Some(f) = fault
            && let Some(&w) = device::fault_words(f).iter().find(|&&w| w >= alloc.words())
        {
            return Err(Error::usage(format!(
                "--inject-fault {}: word {w} lies beyond the {} words (64-bit) this test covers",
                f.name(),
                alloc.words()
            )));
        }
        let tester = Tester::new(gpu, alloc, fault, c.dead_check)?;
        let bytes = tester.alloc.bytes;
        let books = Books {
            drift_inconclusive: gpu.is_software().then(|| {
                "a software adapter computes on the host's CPU: its throughput follows the host's load, not a GPU's health".to_owned()
            }),
            report: BurnReport {
                kernel: key.clone(),
                duration_s: s.duration.as_secs_f64(),
                unit: "GB/s".to_owned(),
                interval_s: s.interval.as_secs_f64(),
                max_drift_pct: s.max_drift_pct,
                keep_going: s.keep_going,
                fail_on_throttle: s.fail_on_throttle,
                batch: 1,
                check_every: 1,
                ..BurnReport::default()
            },
            result: KernelResult::new("memtest", sized.shape.clone(), c.draw.seed, KernelStatus::Pass),
            done: Vec::new(),
            wrong: Vec::new(),
            wrong_count: 0,
            method: "memtest-gpu",
        };
        Ok(Self {
            tester,
            faulty: fault.is_some(),
            cov,
            books,
            key,
            bytes,
            work: 2.0 * bytes as f64,
            pass: 0,
            patterns: Vec::new(),
            phases: Vec::new(),
        })
    }

    /// One pass written and compared on the GPU, timed (by the GPU's clock where it has
    /// timestamps, else half the wall time each phase), in the books and the trace; and
    /// when it ended (s since the burn began).
    fn time_pass(
        &mut self,
        gpu: &Gpu,
        c: &BurnCase,
        hit: bool,
        ts: Option<&Timestamps>,
        t0: Instant,
        rec: &dyn Recorder,
    ) -> Result<(PassRun, f64)> {
        let run = self.tester.pass(
            gpu,
            c.draw.check_seed,
            self.pass,
            hit && self.faulty,
            hit && c.stale,
            ts.map(|t| (t, 0)),
        )?;
        let end_s = t0.elapsed().as_secs_f64();
        let stamps = match ts {
            Some(t) => Some(t.read(gpu, 2)?),
            None => None,
        };
        let (write_ns, read_ns) = match &stamps {
            Some(v) => (v[0].1.saturating_sub(v[0].0), v[1].1.saturating_sub(v[1].0)),
            None => {
                let half = run.wall.as_nanos() as u64 / 2;
                (half, half)
            }
        };
        let gpu_ns = write_ns + read_ns;
        self.phases.push((write_ns, read_ns));
        if self.pass < pattern::CYCLE.len() as u64 {
            self.patterns.push(run.pattern.name().to_owned());
        }
        self.books.report.dispatches += 1;
        self.books.result.samples_ns.push(gpu_ns);
        self.books.done.push(Done {
            end_s,
            rate: self.work / gpu_ns.max(1) as f64,
            dispatches: 1,
        });
        let events = stamps
            .map(|v| GpuEvent {
                key: self.key.clone(),
                sample: self.pass as u32,
                begin_ns: v[0].0,
                end_ns: v[1].1.max(v[0].0),
            })
            .into_iter()
            .collect();
        rec.trace(events, Vec::new(), Vec::new());
        Ok((run, end_s))
    }

    /// A wrong result of pass `d` (CPU check `check`, 0 for the GPU's) in the books.
    fn wrong(&mut self, end_s: f64, d: u64, check: u64, message: String, rec: &dyn Recorder) {
        self.books.wrong(
            Wrong {
                at_s: end_s,
                dispatch: d,
                check,
                message,
                mismatch: None,
                verification: None,
            },
            rec,
        );
    }

    /// The GPU's own compare of pass `d`, proven by its ledger: whether it found a
    /// wrong word (or never compared).
    fn judge_on_gpu(&mut self, run: &PassRun, d: u64, end_s: f64, rec: &dyn Recorder) -> bool {
        let f = match device::judge(&run.ledger, &self.tester.alloc.windows, run.planted) {
            Err(why) => {
                self.wrong(
                    end_s,
                    d,
                    0,
                    format!(
                        "at {end_s:.1} s, pass {d}: the GPU's check pass did not compare: {why}"
                    ),
                    rec,
                );
                return true;
            }
            Ok(f) => f,
        };
        self.books.report.dispatches_verified += 1;
        self.cov.passes_verified += 1;
        self.cov.wrong_words += f.wrong;
        if f.wrong == 0 {
            return false;
        }
        self.books.wrong_count += 1;
        let first = f.listed.first();
        self.wrong(
            end_s,
            d,
            0,
            format!(
                "at {end_s:.1} s, pass {d} ({}): {} wrong word{}{}",
                run.pattern.name(),
                f.wrong,
                if f.wrong == 1 { "" } else { "s" },
                first
                    .map(|w| format!(
                        ", the first at {}: expected 0x{:016x}, got 0x{:016x}",
                        self.tester.alloc.place(w.word),
                        w.expected,
                        w.actual
                    ))
                    .unwrap_or_default()
            ),
            rec,
        );
        true
    }

    /// The first pass of each pattern read back and compared on the host with the CPU
    /// reference: whether it found a wrong word. A clean one states the verification.
    fn check_against_cpu(
        &mut self,
        gpu: &Gpu,
        c: &BurnCase,
        run: &PassRun,
        d: u64,
        end_s: f64,
        rec: &dyn Recorder,
    ) -> Result<bool> {
        let spot = self.tester.spot(gpu, c.draw.check_seed, self.pass, false)?;
        let (n, bad) = (spot.compared, spot.wrong);
        self.books.report.checks += 1;
        if let Some(&Found {
            word: g,
            expected: e,
            actual: a,
        }) = bad.first()
        {
            self.wrong(end_s, d, self.books.report.checks, format!(
                        "at {end_s:.1} s, pass {d}: the CPU reference finds {} of {n} words read back wrong, the first at {}: expected 0x{e:016x}, got 0x{a:016x}",
                        bad.len(),
                        self.tester.alloc.place(g)
                    ), rec);
            return Ok(true);
        }
        if self.books.result.status == KernelStatus::Pass {
            self.books.result.verification = Some(Verification {
                method: "exact-pattern".to_owned(),
                reference: "pattern".to_owned(),
                miss_probability: Some(0.0),
                detects: Some(
                    "any wrong bit of any covered 64-bit word read back in a pass".to_owned(),
                ),
                passed: true,
                checked_elements: n,
                max_error: 0.0,
                bound: 0.0,
                max_error_ratio: 0.0,
                checksum: crate::check::reference::checksum(&pattern::bytes(
                    run.pattern,
                    run.key,
                    0,
                    8,
                )),
                checksum_exact: false,
                deterministic: true,
                first_mismatch: None,
            });
        }
        Ok(false)
    }

    /// The coverage at the end: passes, patterns and, where the GPU timed them, the
    /// median write and compare bandwidths.
    fn finish(&mut self, timed: bool) -> MemoryCoverage {
        let mut cov = self.cov.clone();
        cov.passes = self.pass as u32;
        cov.patterns = std::mem::take(&mut self.patterns);
        if timed {
            timed_bandwidths(&mut cov, self.bytes, &self.phases);
        }
        cov
    }
}
