//! The memory test as a case: sized against what the device has and what is free,
//! allocated (failing closed), its passes run and each one's check proven, the first
//! pass of each pattern checked against the CPU reference, and its coverage stated.

use std::time::Duration;

use super::{Case, CaseOptions, CaseOutcome, FaultPlan, GpuEvent};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::timing::Timestamps;
use crate::kernels::Shape;
use crate::kernels::memtest::device::{self, Found, Tester};
use crate::kernels::memtest::{MemoryTarget, pattern, size_text};
use crate::model::{
    DispatchCheck, Fingerprint, KernelResult, KernelStatus, Launch, MemoryCoverage, MemoryHolder,
    MemoryReading, Mismatch, Throughput, Verification, WrongDispatch, WrongWord,
};
use crate::stats;

/// What the case needs to know of the device's memory besides what Vulkan says.
#[derive(Debug, Clone, Default)]
pub struct MemoryContext {
    /// The telemetry's readings (NVML, amdgpu's sysfs) and the other processes
    /// holding the device's memory.
    pub readings: Vec<MemoryReading>,
    pub holders: Vec<MemoryHolder>,
    /// Passes to run (the suite's).
    pub passes: u32,
    /// `--require-coverage`, as a fraction.
    pub required: Option<f64>,
}

/// Room left free beside the test for the run's own buffers and the driver.
const RESERVE: u64 = 256 << 20;

/// The memory to test: the target in bytes, the readings, and what limits it.
pub struct Sizing {
    pub coverage: MemoryCoverage,
    /// `shape` as the result records it (a software adapter's default: its bytes).
    pub shape: String,
}

/// Sizes the test on `gpu`: the device's memory (Vulkan's device-local heaps, else
/// NVML's or amdgpu's total), what is free (Vulkan's budget, else theirs), the target,
/// and the cap of what is free less [`RESERVE`]. `Err` names why a share cannot be
/// sized (the device's memory could not be read).
pub fn size(
    gpu: &Gpu,
    target: MemoryTarget,
    explicit: bool,
    ctx: &MemoryContext,
) -> std::result::Result<Sizing, Box<(MemoryCoverage, String)>> {
    let vulkan = crate::gpu::memory::vulkan_heaps(&gpu.adapter).map(|h| h.reading());
    let host_memory = (gpu.is_software()
        || gpu.info.device_type == wgpu::DeviceType::IntegratedGpu)
        .then(|| crate::gpu::device_type_name(gpu.info.device_type));
    sizing(vulkan, host_memory, target, explicit, ctx)
}

/// [`size`] from the readings: Vulkan's (or why there is none), and the device type of
/// an adapter whose memory is the host's.
pub fn sizing(
    vulkan: std::result::Result<MemoryReading, String>,
    host_memory: Option<&str>,
    target: MemoryTarget,
    explicit: bool,
    ctx: &MemoryContext,
) -> std::result::Result<Sizing, Box<(MemoryCoverage, String)>> {
    let mut cov = MemoryCoverage {
        target: target.to_string(),
        required_fraction: ctx.required,
        held_by_others: ctx.holders.clone(),
        ..MemoryCoverage::default()
    };
    match vulkan {
        Ok(r) => cov.readings.push(r),
        Err(why) => cov
            .notes
            .push(format!("Vulkan's memory heaps not read: {why}")),
    }
    cov.readings.extend(ctx.readings.iter().cloned());
    if let Some(r) = cov.readings.iter().find(|r| r.total_bytes.is_some()) {
        cov.device_bytes = r.total_bytes;
        cov.device_source = Some(r.source.clone());
    }
    if let Some(r) = cov.readings.iter().find(|r| r.free_bytes.is_some()) {
        cov.free_bytes = r.free_bytes;
        cov.free_source = Some(r.source.clone());
    }
    cov.claimed = host_memory.is_none();
    if let Some(kind) = host_memory {
        cov.notes.push(format!(
            "a {kind} adapter's memory is the host's RAM: card coverage is not claimed"
        ));
    }
    let host_memory = host_memory.is_some();
    let (bytes, shape) = match target {
        MemoryTarget::Bytes(b) => (b, target.to_string()),
        MemoryTarget::Share { software, .. } if host_memory && !explicit => {
            (software, MemoryTarget::Bytes(software).to_string())
        }
        MemoryTarget::Share { hundredths, .. } => match cov.device_bytes {
            Some(d) => (
                (u128::from(d) * u128::from(hundredths) / 10_000) as u64,
                target.to_string(),
            ),
            None => {
                let why = format!(
                    "the device's memory could not be read ({}), so {target} of it has no size; give --memory SIZE",
                    cov.notes.join("; ")
                );
                return Err(Box::new((cov, why)));
            }
        },
    };
    cov.target_bytes = bytes / 16 * 16;
    let room = cov.free_bytes.map(|f| f.saturating_sub(RESERVE));
    if let Some(room) = room.filter(|&r| r < cov.target_bytes) {
        let held: u64 = ctx.holders.iter().filter_map(|h| h.bytes).sum();
        let others = if ctx.holders.is_empty() {
            String::new()
        } else {
            format!(
                "; {} held by other processes ({})",
                size_text(held),
                holders_text(&ctx.holders)
            )
        };
        cov.notes.push(format!(
            "capped at what was free ({} of {} free by {}, less {} for the run){others}",
            size_text(cov.free_bytes.unwrap_or(0)),
            cov.device_bytes
                .map(size_text)
                .unwrap_or_else(|| "?".into()),
            cov.free_source.as_deref().unwrap_or("?"),
            size_text(RESERVE)
        ));
        cov.target_bytes = room / 16 * 16;
    }
    Ok(Sizing {
        coverage: cov,
        shape,
    })
}

/// "pid 4242 (51.5 GB), pid 17".
pub fn holders_text(h: &[MemoryHolder]) -> String {
    h.iter()
        .map(|h| match h.bytes {
            Some(b) => format!("pid {} ({})", h.pid, size_text(b)),
            None => format!("pid {}", h.pid),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the passes found.
#[derive(Default)]
struct Books {
    passes_verified: u32,
    wrong_words: u64,
    /// Per pass that was wrong: (pass from 1, wrong words, its listed words).
    wrong_passes: Vec<(u64, u64, Vec<Found>)>,
    bits: Vec<u64>,
    /// The CPU reference: words compared and the wrong ones (word, expected, actual,
    /// pass).
    spot_words: u64,
    spot_wrong: Vec<(u64, u64, u64, u64)>,
    spot_bytes: Vec<u8>,
    /// Why the check itself cannot be trusted, where it cannot.
    dead: Option<String>,
    patterns: Vec<String>,
    walls: Vec<Duration>,
}

/// The coverage of an allocation: its bytes, buffers, binding windows, the time it took,
/// why it stopped short, and its share of the device's memory where that is known.
pub fn allocated(cov: &mut MemoryCoverage, alloc: &device::Allocation) {
    cov.tested_bytes = alloc.bytes;
    cov.buffers = alloc.pieces.len() as u32;
    cov.windows = alloc.windows.len() as u32;
    cov.window_bytes = alloc.windows.first().map_or(0, |w| w.words * 8);
    cov.allocation_s = alloc.took.as_secs_f64();
    cov.allocation_stopped = alloc.stopped.clone();
    cov.fraction = cov
        .device_bytes
        .filter(|&d| d > 0)
        .map(|d| alloc.bytes as f64 / d as f64);
}

pub fn run(gpu: &Gpu, case: &Case, opt: &CaseOptions, ctx: &MemoryContext) -> Result<CaseOutcome> {
    let passes = ctx.passes.max(1);
    let plan = FaultPlan::new(opt.fault, opt.fault_dispatches, 0, u64::from(passes));
    let (tester, shape, cov) = match prepare(gpu, case, opt, ctx, &plan)? {
        Prepared::Ready(t, shape, cov) => (t, shape, cov),
        Prepared::Skipped(outcome) => return Ok(outcome),
    };
    let key = format!("{}/{shape}", case.kernel.id());
    let ts = Timestamps::new(gpu, 2 * passes);
    let mut books = Books {
        bits: vec![0; 64],
        ..Books::default()
    };
    opt.progress.set(Some(&key), "dispatch");
    for p in 0..u64::from(passes) {
        if !one_pass(
            gpu,
            opt,
            &plan,
            &tester,
            &key,
            p,
            passes,
            ts.as_ref(),
            &mut books,
        )? {
            break;
        }
        opt.progress.set(Some(&key), "dispatch");
    }
    let stamps = match &ts {
        Some(t) => Some(t.read(gpu, 2 * books.walls.len() as u32)?),
        None => None,
    };
    Ok(outcome(
        case, opt, &tester, &shape, books, stamps, cov, passes,
    ))
}

/// A memory test ready to run (its shape as recorded, its coverage so far), or the
/// case's outcome where there is nothing to test.
// One value a case, moved once: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Prepared {
    Ready(Tester, String, MemoryCoverage),
    Skipped(CaseOutcome),
}

/// Sizes the test against the device and allocates it (failing closed): the tester, or
/// a skipped case where the memory cannot be sized or none could be allocated.
fn prepare(
    gpu: &Gpu,
    case: &Case,
    opt: &CaseOptions,
    ctx: &MemoryContext,
    plan: &FaultPlan,
) -> Result<Prepared> {
    let key_of = |shape: &str| format!("{}/{shape}", case.kernel.id());
    let Shape::Memory(target) = case.shape else {
        unreachable!("memtest takes a memory target")
    };
    opt.progress
        .set(Some(&key_of(&case.shape.to_string())), "prepare");
    let sized = match size(gpu, target, case.explicit, ctx) {
        Ok(s) => s,
        Err(e) => {
            let (cov, why) = *e;
            let mut r = super::skipped(case, opt.seed, why);
            r.shape = case.shape.to_string();
            return Ok(Prepared::Skipped(CaseOutcome {
                result: r,
                gpu_events: Vec::new(),
                coverage: Some(cov),
            }));
        }
    };
    let mut cov = sized.coverage;
    opt.progress.set(Some(&key_of(&sized.shape)), "allocate");
    let alloc = device::allocate(gpu, cov.target_bytes)?;
    allocated(&mut cov, &alloc);
    let fault = plan.memory_fault();
    if let Some(f) = fault
        && let Some(&w) = device::fault_words(f).iter().find(|&&w| w >= alloc.words())
    {
        return Err(Error::usage(format!(
            "--inject-fault {}: word {w} lies beyond the {} words (64-bit) this test covers; plant it below {}",
            f.name(),
            alloc.words(),
            alloc.words()
        )));
    }
    if alloc.bytes == 0 {
        let why = format!(
            "memtest: no memory could be allocated ({})",
            alloc.stopped.as_deref().unwrap_or("nothing to allocate")
        );
        let mut r = super::skipped(case, opt.seed, why);
        r.shape = sized.shape;
        return Ok(Prepared::Skipped(CaseOutcome {
            result: r,
            gpu_events: Vec::new(),
            coverage: Some(cov),
        }));
    }
    let tester = Tester::new(gpu, alloc, fault, plan.dead_check())?;
    Ok(Prepared::Ready(tester, sized.shape, cov))
}

/// Pass `p` (from 0): written and compared on the GPU, its check proven by the ledger,
/// and on the first pass of each pattern the CPU reference. False where the GPU's check
/// did not compare: nothing after it can be trusted.
#[allow(clippy::too_many_arguments)]
fn one_pass(
    gpu: &Gpu,
    opt: &CaseOptions,
    plan: &FaultPlan,
    tester: &Tester,
    key: &str,
    p: u64,
    passes: u32,
    ts: Option<&Timestamps>,
    books: &mut Books,
) -> Result<bool> {
    let d = p + 1;
    opt.progress.sample(d as u32, passes);
    let at = plan.before_pass(d);
    plan.before_wait(opt.progress, key, None);
    // The patterns' keys are drawn for each run (`--check-seed` replays them), so a
    // coupling the keys of one run leave unexposed meets other keys the next.
    let keys = opt.check_seed;
    let run = {
        // Named as every timed dispatch is, so the trace aligns the GPU's clock.
        let _s = tracing::info_span!("dispatch", kernel = %key, sample = p).entered();
        tester.pass(
            gpu,
            keys,
            p,
            at.planted,
            at.dropped,
            ts.map(|t| (t, 2 * p as u32)),
        )?
    };
    plan.after_dispatch(gpu)?;
    books.walls.push(run.wall);
    if p < pattern::CYCLE.len() as u64 {
        books.patterns.push(run.pattern.name().to_owned());
    }
    opt.progress.set(Some(key), "verify");
    match device::judge(&run.ledger, &tester.alloc.windows, run.planted) {
        Err(why) => {
            books.dead = Some(format!("pass {d} of {passes}: {why}"));
            return Ok(false);
        }
        Ok(f) => {
            books.passes_verified += 1;
            books.wrong_words += f.wrong;
            for (b, n) in books.bits.iter_mut().zip(&f.bits) {
                *b += n;
            }
            if f.wrong > 0 {
                books.wrong_passes.push((d, f.wrong, f.listed));
            }
        }
    }
    // The CPU reference, on the first pass of each pattern.
    if p < pattern::CYCLE.len() as u64 {
        let spot = tester.spot(gpu, keys, p, plan.corrupts_read(p))?;
        books.spot_words += spot.compared;
        books.spot_wrong.extend(
            spot.wrong
                .into_iter()
                .map(|f| (f.word, f.expected, f.actual, d)),
        );
        if p == 0 {
            books.spot_bytes = spot_digest(tester, keys);
        }
    }
    Ok(true)
}

/// The first pass's pattern at the start of every buffer, for the result's checksum: the
/// same keys give the same bytes on every correct device.
fn spot_digest(t: &Tester, seed: u64) -> Vec<u8> {
    let (p, key) = pattern::pass(seed, 0);
    t.alloc
        .pieces
        .iter()
        .flat_map(|piece| pattern::bytes(p, key, piece.base, 8))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn outcome(
    case: &Case,
    opt: &CaseOptions,
    tester: &Tester,
    shape: &str,
    books: Books,
    stamps: Option<Vec<(u64, u64)>>,
    mut cov: MemoryCoverage,
    passes: u32,
) -> CaseOutcome {
    let alloc = &tester.alloc;
    let key = format!("{}/{shape}", case.kernel.id());
    let ran = books.walls.len();
    let phases = phases(&books, stamps.as_deref());
    let samples_ns: Vec<u64> = phases.iter().map(|(w, r)| w + r).collect();
    if stamps.is_some() {
        timed_bandwidths(&mut cov, alloc.bytes, &phases);
    }
    cov.patterns = books.patterns.clone();
    cov.passes = ran as u32;
    cov.passes_verified = books.passes_verified;
    cov.wrong_words = books.wrong_words;
    let gpu_events: Vec<GpuEvent> = match &stamps {
        Some(s) => (0..ran)
            .map(|p| GpuEvent {
                key: key.clone(),
                sample: p as u32,
                begin_ns: s[2 * p].0,
                end_ns: s[2 * p + 1].1.max(s[2 * p].0),
            })
            .collect(),
        None => Vec::new(),
    };
    let wrong = books.wrong_words > 0 || !books.spot_wrong.is_empty();
    let passed = books.dead.is_none() && !wrong;
    let fingerprint = wrong.then(|| fingerprint(alloc, &books, passes));
    let st = stats::summarize(&samples_ns);
    let work = 2.0 * alloc.bytes as f64;
    let throughput = st.as_ref().map(|s| Throughput {
        unit: "GB/s".to_owned(),
        work_per_run: work,
        median: work / s.median_ns.max(1.0),
        low: work / s.median_ci_high_ns.max(1.0),
        high: work / s.median_ci_low_ns.max(1.0),
    });
    let status = if passed {
        KernelStatus::Pass
    } else {
        KernelStatus::Fail
    };
    let groups = ((alloc.windows.first().map_or(0, |w| w.words) / 2)
        .div_ceil(u64::from(tester.wg))
        .clamp(1, 8192)) as u32;
    let result = KernelResult {
        reason: reason(&key, &books, fingerprint.as_ref(), ran),
        launch: Some(Launch {
            variant: format!(
                "write then compare on the GPU, 64-bit words, {} buffers in {} binding windows",
                alloc.pieces.len(),
                alloc.windows.len()
            ),
            workgroup_size: [tester.wg, 1, 1],
            workgroups: vec![[groups, 1, 1]],
            tile: None,
            runtime_checks: opt.checks.name().to_owned(),
            constants: Default::default(),
        }),
        verification: Some(verification(alloc, &books, fingerprint.as_ref(), passed)),
        samples_ns,
        stats: st,
        throughput,
        timing: stamps
            .is_none()
            .then_some(crate::model::TimingMethod::WallClock),
        dispatch_check: Some(dispatch_check(alloc, &books, passes)),
        fingerprint,
        ..KernelResult::new(case.kernel.id(), shape.to_owned(), opt.seed, status)
    };
    CaseOutcome {
        result,
        gpu_events,
        coverage: Some(cov),
    }
}

/// The median write and compare bandwidths of passes over `bytes`, from each pass's
/// (write, compare) time in ns on the GPU's clock.
pub fn timed_bandwidths(cov: &mut MemoryCoverage, bytes: u64, phases: &[(u64, u64)]) {
    let bw = |mut ns: Vec<f64>| {
        ns.sort_by(f64::total_cmp);
        (!ns.is_empty()).then(|| bytes as f64 / (stats::median(&ns) / 1e9))
    };
    cov.write_bytes_per_s = bw(phases.iter().map(|p| p.0 as f64).collect());
    cov.read_bytes_per_s = bw(phases.iter().map(|p| p.1 as f64).collect());
}

/// Per pass: the write and the compare phases, on the GPU's clock where it has one
/// (else half the pass's wall time each).
fn phases(books: &Books, stamps: Option<&[(u64, u64)]>) -> Vec<(u64, u64)> {
    match stamps {
        Some(s) => (0..books.walls.len())
            .map(|p| {
                let span = |(b, e): (u64, u64)| e.saturating_sub(b);
                (span(s[2 * p]), span(s[2 * p + 1]))
            })
            .collect(),
        None => books
            .walls
            .iter()
            .map(|w| (w.as_nanos() as u64 / 2, w.as_nanos() as u64 / 2))
            .collect(),
    }
}

/// Why the case failed: a check that did not compare, or the wrong words found.
fn reason(
    key: &str,
    books: &Books,
    fingerprint: Option<&Fingerprint>,
    ran: usize,
) -> Option<String> {
    let first = fingerprint.and_then(|f| f.words.first());
    match (&books.dead, first, fingerprint) {
        (Some(why), _, _) => Some(format!(
            "{key}: the GPU's check pass did not compare: {why}; nothing it compared can be trusted"
        )),
        (None, Some(w), Some(f)) => Some(format!(
            "{key}: {} wrong word{} in {} of {ran} passes; the first at {}: expected {}, got {} ({}){}",
            f.wrong_words,
            if f.wrong_words == 1 { "" } else { "s" },
            f.dispatches.len(),
            w.place,
            w.expected,
            w.actual,
            bits_phrase(&f.failing_bits),
            f.stride_phrase()
        )),
        _ => None,
    }
}

/// What was compared (every word of every verified pass, and the CPU reference's
/// words) and the first wrong word, where one was.
fn verification(
    alloc: &device::Allocation,
    books: &Books,
    fingerprint: Option<&Fingerprint>,
    passed: bool,
) -> Verification {
    let wrong = fingerprint.is_some();
    let mismatch = fingerprint.and_then(|f| f.words.first()).map(|w| {
        let num = |h: &str| u64::from_str_radix(h.trim_start_matches("0x"), 16).unwrap_or(0) as f64;
        Mismatch {
            index: w.word,
            row: None,
            col: None,
            location: Some(w.place.clone()),
            expected: num(&w.expected),
            actual: num(&w.actual),
            error: f64::INFINITY,
            bound: 0.0,
        }
    });
    let words_compared = u64::from(books.passes_verified) * alloc.words();
    Verification {
        method: "exact-pattern".to_owned(),
        reference: "pattern".to_owned(),
        miss_probability: Some(0.0),
        detects: Some("any wrong bit of any covered 64-bit word read back in a pass".to_owned()),
        passed,
        checked_elements: words_compared + books.spot_words,
        max_error: if wrong { f64::INFINITY } else { 0.0 },
        bound: 0.0,
        max_error_ratio: if wrong { f64::INFINITY } else { 0.0 },
        checksum: crate::check::reference::checksum(&books.spot_bytes),
        // The keys are the run's own: another run's patterns differ.
        checksum_exact: false,
        deterministic: !wrong,
        first_mismatch: mismatch,
    }
}

/// Every pass's check: how many were proven to compare, and the wrong ones (16 at most
/// listed, each with its first wrong word).
fn dispatch_check(alloc: &device::Allocation, books: &Books, passes: u32) -> DispatchCheck {
    let wrong_list: Vec<WrongDispatch> = books
        .wrong_passes
        .iter()
        .take(16)
        .map(|(d, n, listed)| {
            let f = listed.first();
            WrongDispatch {
                dispatch: *d,
                name: format!("pass {d} of {passes}"),
                wrong_words: *n,
                word: f.map_or(0, |f| f.word),
                place: f.map_or_else(String::new, |f| alloc.place(f.word)),
                expected: f.map_or_else(String::new, |f| format!("0x{:016x}", f.expected)),
                actual: f.map_or_else(String::new, |f| format!("0x{:016x}", f.actual)),
            }
        })
        .collect();
    DispatchCheck {
        method: "memtest-gpu".to_owned(),
        dispatches_total: u64::from(passes),
        dispatches_verified: u64::from(books.passes_verified),
        wrong_dispatches: books.wrong_passes.len() as u64,
        wrong: wrong_list,
        check_ns: None,
        checker_faults: books.dead.iter().cloned().collect(),
        repoisoned_by_host: 0,
        golden_intact: None,
        golden_fault: None,
    }
}

/// "bit 63 differs", "bits 3, 17 and 63 differ", "40 bits differ" from a hex OR of
/// failing bits.
pub fn bits_phrase(hex: &str) -> String {
    let v = u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap_or(0);
    let bits: Vec<String> = (0..64)
        .filter(|b| v >> b & 1 == 1)
        .map(|b| b.to_string())
        .collect();
    match bits.len() {
        0 => "no bit differs".to_owned(),
        1 => format!("bit {} differs", bits[0]),
        n if n > 8 => format!("{n} bits differ"),
        n => format!(
            "bits {} and {} differ",
            bits[..n - 1].join(", "),
            bits[n - 1]
        ),
    }
}

/// The wrong words as operators and the diagnosis read them: the listed words (the
/// GPU's and the CPU reference's, in address order), the failing bits, the stride, the
/// passes.
fn fingerprint(alloc: &device::Allocation, books: &Books, passes: u32) -> Fingerprint {
    let mut words: Vec<WrongWord> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let listed = books
        .wrong_passes
        .iter()
        .flat_map(|(d, _, l)| l.iter().map(move |f| (f.word, f.expected, f.actual, *d)))
        .chain(books.spot_wrong.iter().copied());
    let mut all: Vec<(u64, u64, u64, u64)> = listed.collect();
    all.sort_by_key(|w| (w.0, w.3));
    for (g, e, a, d) in all {
        if words.len() < device::LISTED && seen.insert(g) {
            words.push(WrongWord {
                word: g,
                place: alloc.place(g),
                expected: format!("0x{e:016x}"),
                actual: format!("0x{a:016x}"),
                dispatch: Some(d),
            });
        }
    }
    let mut bit_counts = books.bits.clone();
    if books.wrong_words == 0 {
        // Only the CPU reference saw them (the GPU's compare did not).
        for (_, e, a, _) in &books.spot_wrong {
            for (b, c) in bit_counts.iter_mut().enumerate() {
                *c += (e ^ a) >> b & 1;
            }
        }
    }
    let or = bit_counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .fold(0u64, |o, (b, _)| o | 1 << b);
    let mut dispatches: Vec<u64> = books
        .wrong_passes
        .iter()
        .map(|p| p.0)
        .chain(books.spot_wrong.iter().map(|w| w.3))
        .collect();
    dispatches.sort_unstable();
    dispatches.dedup();
    dispatches.truncate(64);
    let ran = books.walls.len().max(1) as f64;
    Fingerprint {
        buffer: words
            .first()
            .and_then(|w| alloc.locate(w.word))
            .map(|(p, _)| format!("memtest buffer {}", p + 1))
            .unwrap_or_else(|| "memtest".to_owned()),
        wrong_words: books.wrong_words.max(books.spot_wrong.len() as u64),
        words: words.clone(),
        word_bits: 64,
        failing_bits: format!("0x{or:016x}"),
        bit_counts,
        stride: super::stride(&words.iter().map(|w| w.word).collect::<Vec<_>>()),
        dispatch_fraction: Some(dispatches.len() as f64 / ran.min(f64::from(passes))),
        dispatches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nvml(total: u64, free: u64) -> MemoryReading {
        MemoryReading {
            source: "nvml".into(),
            total_bytes: Some(total),
            free_bytes: Some(free),
            used_bytes: Some(total - free),
        }
    }

    #[test]
    fn a_card_is_sized_by_its_share_and_capped_by_what_others_hold() {
        const G: u64 = 1_000_000_000;
        let share = MemoryTarget::Share {
            hundredths: 9000,
            software: 256 << 20,
        };
        let ctx = MemoryContext {
            readings: vec![nvml(141 * G, 140 * G)],
            ..MemoryContext::default()
        };
        // Vulkan's heaps first, NVML's as the cross-check.
        let vk = MemoryReading {
            source: "vulkan".into(),
            total_bytes: Some(141 * G),
            free_bytes: None,
            used_bytes: None,
        };
        let s = sizing(Ok(vk), None, share, false, &ctx).unwrap();
        assert_eq!(s.coverage.device_source.as_deref(), Some("vulkan"));
        assert_eq!(s.coverage.free_source.as_deref(), Some("nvml"));
        assert_eq!(s.coverage.target_bytes, 126_900_000_000 / 16 * 16);
        assert!(s.coverage.claimed && s.shape == "90%");
        // Another process holds 52 GB: the test is capped at what is free, and says why.
        let busy = MemoryContext {
            readings: vec![nvml(141 * G, 89 * G)],
            holders: vec![MemoryHolder {
                pid: 4242,
                bytes: Some(52 * G),
            }],
            ..MemoryContext::default()
        };
        let s = sizing(
            Err("not a Vulkan adapter".into()),
            None,
            share,
            false,
            &busy,
        )
        .unwrap();
        assert_eq!(s.coverage.target_bytes, (89 * G - RESERVE) / 16 * 16);
        let note = s.coverage.notes.join("; ");
        assert!(
            note.contains("capped at what was free") && note.contains("pid 4242 (52.0 GB)"),
            "{note}"
        );
        // A share of memory nobody could read has no size.
        let (_, why) = *sizing(
            Err("not a Vulkan adapter".into()),
            None,
            share,
            false,
            &MemoryContext::default(),
        )
        .err()
        .unwrap();
        assert!(why.contains("give --memory SIZE"), "{why}");
        // A software adapter tests its fixed budget unless the share was asked for.
        let s = sizing(Err("x".into()), Some("cpu"), share, false, &ctx).unwrap();
        assert_eq!(
            (
                s.coverage.target_bytes,
                s.shape.as_str(),
                s.coverage.claimed
            ),
            (256 << 20, "256MiB", false)
        );
        let s = sizing(Err("x".into()), Some("cpu"), share, true, &ctx).unwrap();
        assert_eq!(s.shape, "90%");
    }
}
