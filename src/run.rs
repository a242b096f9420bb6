//! `gpu-canary run` end to end. The GPU work runs on a worker thread; this thread is the
//! watchdog: it waits for the worker, the deadline (`--timeout`) or a signal (SIGINT,
//! SIGTERM), whichever comes first, then judges the run (`verdict`), writes the
//! artifacts from what was measured (`export`) and returns. A worker stuck in a driver
//! call is abandoned, never waited for: returning from `main` ends the process.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::burn::{BurnSettings, Recorder};
use crate::check::verdict::{self, Ending, Place};
use crate::error::{EnvKind, Error, Result, panic_message};
use crate::export::trace::{Counter, Extra, Window};
use crate::export::{self, ExportManager, Exporter, OutDir};
use crate::gpu::{AdapterFilter, Gpu};
use crate::kernels::{self, RuntimeChecks};
use crate::model::*;
use crate::progress;
use crate::runner::{self, Case, CaseOptions, Fault, FaultDispatches, GpuEvent, Progress};
use crate::telemetry::Monitor;
use crate::tune::file::Tuning;

/// Everything a run needs, validated (`RunConfig::from_args` in `config`).
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
    /// `--export-metrics` (OpenMetrics text) and `--export-junit` (JUnit XML).
    pub export_metrics: Option<PathBuf>,
    pub export_junit: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub input_scale: f32,
    pub fault: Option<Fault>,
    /// The dispatches the planted fault hits (tests only).
    pub fault_dispatches: FaultDispatches,
    /// Launch parameters from `gpu-canary tune`, with the file they came from.
    pub tuning: Option<(PathBuf, Tuning)>,
    /// `gpu-canary burn`: the one case in `cases` kept busy for a duration.
    pub burn: Option<BurnSettings>,
    /// `--memory` (already set on the memtest cases) and `--require-coverage` (percent).
    pub memory: Option<crate::kernels::memtest::MemoryTarget>,
    pub require_coverage: Option<f64>,
    /// Passes of the memory test (the suite's).
    pub memtest_passes: u32,
    /// `gpu-canary preflight`: the card's and its state's steps before the cases.
    pub preflight: Option<PreflightSettings>,
}

/// What the preflight checks of the card besides the kernels.
#[derive(Debug, Clone)]
pub struct PreflightSettings {
    /// `--budget`: also the run's timeout; past it the verdict is inconclusive.
    pub budget: Duration,
    pub expect_gpus: Option<u32>,
    pub expect_driver: Option<String>,
}

impl RunConfig {
    /// The runtime checks `kernel` is compiled with: `--unchecked` only where the host
    /// proves its indices in range.
    pub fn checks_for(&self, kernel: &dyn kernels::Kernel) -> RuntimeChecks {
        if kernel.supports_unchecked() {
            self.checks
        } else {
            RuntimeChecks::Checked
        }
    }
}

/// How the run ended, for `main`.
#[derive(Debug, Clone, Copy)]
pub struct RunOutcome {
    pub verdict: Verdict,
    pub exit_code: i32,
    /// The worker is still inside the driver (a hang, a signal): the process must end
    /// without running the drivers' exit handlers beside it.
    pub abandoned: bool,
}

/// State shared by the worker and the watchdog.
struct Shared {
    report: Mutex<RunReport>,
    events: Mutex<Vec<GpuEvent>>,
    progress: Arc<Progress>,
    finalized: AtomicBool,
    started: Instant,
    cfg: RunConfig,
    export: Mutex<ExportManager>,
    /// Counters and host windows for the trace (burn).
    extra: Mutex<Extra>,
    /// The card's telemetry, opened before any work, and what it read then: whatever
    /// stops the run, `finish` records the card and its state.
    monitor: Mutex<Option<(Arc<Monitor>, Option<GpuSnapshot>)>>,
    /// The card's PCI address and its AER counters read before any work: `finish` reads
    /// them again and records what grew.
    aer_before: Mutex<Option<AerReading>>,
}

/// The card's PCI address, its AER counters by name, and what could not be read.
type AerReading = (String, Vec<(String, u64)>, Vec<String>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Rewrites `result.json` with what is known now (marked partial). Under the report
    /// lock, so it can never land after the final write.
    fn checkpoint(&self) {
        let mut r = lock(&self.report);
        if self.finalized.load(Ordering::SeqCst) {
            return;
        }
        r.duration_s = self.started.elapsed().as_secs_f64();
        lock(&self.export).checkpoint(&r);
    }

    fn print(&self, line: &str) {
        if !self.cfg.json {
            crate::console::line(line);
        }
    }

    fn push(&self, r: KernelResult) {
        lock(&self.report).kernels.push(r);
    }
}

impl Recorder for Shared {
    fn print(&self, line: &str) {
        Shared::print(self, line);
    }
    fn progress(&self) -> &Progress {
        &self.progress
    }
    fn record(&self, burn: &BurnReport, kernel: &KernelResult) {
        {
            let mut r = lock(&self.report);
            r.burn = Some(burn.clone());
            r.kernels = vec![kernel.clone()];
        }
        self.checkpoint();
    }
    fn coverage(&self, c: &MemoryCoverage) {
        lock(&self.report).coverage = Some(Coverage { memory: c.clone() });
    }
    fn trace(&self, gpu: Vec<GpuEvent>, windows: Vec<Window>, counters: Vec<Counter>) {
        lock(&self.events).extend(gpu);
        let mut x = lock(&self.extra);
        x.windows.extend(windows);
        x.counters.extend(counters);
    }
}

fn settings(cfg: &RunConfig) -> RunSettings {
    RunSettings {
        suite: cfg.suite.clone(),
        seed: cfg.seed,
        check_seed: Some(cfg.check_seed),
        warmup: cfg.warmup,
        iterations: cfg.iterations,
        runtime_checks: cfg.checks.name().to_owned(),
        require_hardware: cfg.require_hardware,
        require_tensor_cores: cfg.require_tensor_cores,
        expect_vendor: cfg.expect_vendor.clone(),
        timeout_s: cfg.timeout.map(|t| t.as_secs_f64()),
        input_scale: cfg.input_scale,
        fault: cfg.fault.map(|f| match cfg.fault_dispatches {
            FaultDispatches::All => f.name(),
            at => format!("{} at dispatch {}", f.name(), at.name()),
        }),
        tuning: cfg.tuning.as_ref().map(|(p, _)| p.display().to_string()),
        memory: cfg.memory.map(|m| m.to_string()),
        require_coverage: cfg.require_coverage,
    }
}

pub fn new_report(cfg: &RunConfig) -> RunReport {
    let commit = env!("GPU_CANARY_GIT_COMMIT");
    RunReport {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: TOOL_NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            git_commit: (!commit.is_empty()).then(|| commit.to_owned()),
        },
        started_at: crate::host::now_rfc3339(),
        duration_s: 0.0,
        status: RunStatus::Partial,
        host: crate::host::host(),
        ci: crate::host::ci_context(|k| std::env::var(k).ok()),
        config: settings(cfg),
        adapter: None,
        kernels: Vec::new(),
        hygiene: None,
        coverage: None,
        verdict: Verdict::Running,
        exit_code: -1,
        stopped: None,
        burn: None,
        artifact_errors: Vec::new(),
        preflight: cfg.preflight.as_ref().map(|p| Preflight {
            budget_s: p.budget.as_secs_f64(),
            steps: Vec::new(),
        }),
        cards: Vec::new(),
        diagnosis: None,
        errors: None,
    }
}

/// Skipped on every shape: one line for the kernel, not one per shape.
fn skip_lines(cases: &[Case], skips: &[Option<String>]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, (case, skip)) in cases.iter().zip(skips).enumerate() {
        let Some(reason) = skip else { continue };
        let same: Vec<usize> = (0..cases.len())
            .filter(|&j| cases[j].kernel.id() == case.kernel.id())
            .collect();
        let all_same = same.len() > 1 && same.iter().all(|&j| skips[j].as_ref() == Some(reason));
        if !all_same {
            out.push((
                i,
                format!(
                    "{:<13} {:<16} skipped  {reason}",
                    case.kernel.id(),
                    case.shape
                ),
            ));
        } else if same[0] == i {
            out.push((
                i,
                format!(
                    "{:<13} {:<16} skipped  {reason}",
                    case.kernel.id(),
                    format!("({} shapes)", same.len())
                ),
            ));
        }
    }
    out
}

fn worker(shared: &Shared) -> Result<()> {
    let cfg = &shared.cfg;
    let Card {
        gpu,
        monitor,
        before,
        tuned,
    } = open_card(shared)?;
    if let Some(p) = &cfg.preflight {
        card_steps(shared, &gpu, &monitor, p)?;
    }
    gpu.require(
        cfg.require_hardware,
        cfg.expect_vendor.as_deref(),
        cfg.fault == Some(Fault::SoftwareAdapter),
    )?;

    if let Some(b) = &cfg.burn {
        return burn_worker(shared, &gpu, b, tuned, &monitor, before);
    }

    let skips = skips(cfg, &gpu)?;
    let skip_line: std::collections::HashMap<usize, String> =
        skip_lines(&cfg.cases, &skips).into_iter().collect();

    // The memory test's view of the device's memory besides Vulkan's, read before any
    // case allocates.
    let memory = cfg
        .cases
        .iter()
        .any(|c| c.kernel.memory_test())
        .then(|| memory_context(cfg, &monitor));

    // The PCIe link is judged by the best it does while transfers run: an idle link
    // trains down, so the snapshots before and after alone would cry wolf.
    let sampler = monitor.sample_every(
        std::time::Duration::from_millis(100),
        std::time::Instant::now(),
    );

    // Injected faults hit the last case that runs, so the test of each fault also shows
    // that what was measured before it is kept (faults of the GPU's output hit all).
    let fault_at = skips.iter().rposition(Option::is_none);
    for (i, (case, skip)) in cfg.cases.iter().zip(&skips).enumerate() {
        shared.progress.case(i + 1, cfg.cases.len());
        if let Some(reason) = skip {
            skipped_case(shared, case, reason, skip_line.get(&i))?;
            continue;
        }
        let opt = CaseOptions {
            seed: cfg.seed,
            check_seed: cfg.check_seed,
            warmup: cfg.warmup,
            iterations: cfg.iterations,
            input_scale: cfg.input_scale,
            checks: cfg.checks_for(case.kernel),
            fault: cfg.fault.filter(|f| f.every_case() || Some(i) == fault_at),
            fault_dispatches: cfg.fault_dispatches,
            progress: &shared.progress,
            params: tuned.and_then(|best| best.get(case.kernel.tuning_id())),
            memory: memory.as_ref(),
        };
        match runner::run_case(&gpu, case, &opt) {
            Ok(outcome) => ran_case(shared, outcome),
            Err(e) => {
                let mut r = runner::skipped(case, cfg.seed, e.to_string());
                r.status = KernelStatus::Error;
                shared.print(&export::lines::kernel_line(&r));
                shared.push(r);
                return Err(e);
            }
        }
    }
    shared.progress.set(None, "artifacts");
    let during = sampler.finish();
    let hygiene = monitor.assess(before, &during, monitor.snapshot());
    let link = hygiene.pcie.clone();
    lock(&shared.report).hygiene = Some(hygiene);
    if cfg.preflight.is_some() {
        link_step(shared, link.as_ref(), monitor.source())?;
    }
    Ok(())
}

/// The card the run opened: the adapter, its telemetry and the snapshot before any
/// work, and the tuned launch parameters that apply to it.
struct Card<'a> {
    gpu: Gpu,
    monitor: Arc<Monitor>,
    before: Option<GpuSnapshot>,
    tuned: Option<&'a std::collections::BTreeMap<String, kernels::Params>>,
}

/// Opens the adapter within the run's deadline and names the card in the report: its
/// fingerprint, the tuning that applies, its AER counters and telemetry before any work.
fn open_card(shared: &Shared) -> Result<Card<'_>> {
    let cfg = &shared.cfg;
    shared.progress.set(None, "init");
    let gpu = Gpu::open(&cfg.filter, &kernels::needs())?;
    let deadline = cfg.timeout.map(|t| shared.started + t);
    *lock(&gpu.wait_bound) = deadline;
    let mut fp = gpu.fingerprint();
    if cfg.fault == Some(Fault::SoftwareAdapter) {
        fp.device_type = "cpu".into();
    }
    // Tuned launch parameters apply only on the adapter and driver they were made on.
    let tuned = match &cfg.tuning {
        Some((path, t)) => {
            let (applied, note) = match t.for_adapter(&fp) {
                Ok(best) => (Some(best), "applied".to_owned()),
                Err(why) => (None, format!("not applied: {why}")),
            };
            shared.print(&format!("tuning: {} {note}", path.display()));
            lock(&shared.report).config.tuning = Some(format!("{}: {note}", path.display()));
            applied
        }
        None => None,
    };
    lock(&shared.report).adapter = Some(fp.clone());
    shared.print(&format!("adapter: {}", export::lines::adapter_line(&fp)));
    let bus = gpu.info.device_pci_bus_id.clone();
    let (found, missing) = crate::telemetry::aer_counters(std::path::Path::new("/sys"), Some(&bus));
    *lock(&shared.aer_before) = Some((bus, found, missing));
    // The card is named from here on, at every checkpoint and every stop.
    let monitor = open_monitor(shared, &gpu);
    let before = monitor.snapshot();
    lock(&shared.report).hygiene = Some(monitor.assess(before.clone(), &[], None));
    *lock(&shared.monitor) = Some((monitor.clone(), before.clone()));
    if !fp.also_matched.is_empty() {
        crate::console::err(&format!(
            "note: --adapter matched {} too; chose {} ({}, {}: discrete > integrated > virtual > cpu, then backend order); choose another with --backend or its PCI address",
            fp.also_matched.join("; "),
            fp.name,
            fp.backend,
            fp.device_type
        ));
    }
    shared.checkpoint();
    Ok(Card {
        gpu,
        monitor,
        before,
        tuned,
    })
}

/// Why each case is skipped, if it is: sizes against the adapter's limits, then what
/// the device lacks (asked once per kernel). All before the first kernel runs; a size
/// asked for by name that the adapter cannot hold is bad usage.
fn skips(cfg: &RunConfig, gpu: &Gpu) -> Result<Vec<Option<String>>> {
    let mut unsupported: std::collections::HashMap<&str, Option<String>> = Default::default();
    let mut skips = Vec::with_capacity(cfg.cases.len());
    for case in &cfg.cases {
        let skip = match kernels::check_limits(case.kernel, case.shape, &gpu.limits) {
            Err(msg) if case.explicit => return Err(Error::usage(msg)),
            Err(msg) => Some(msg),
            Ok(()) => unsupported
                .entry(case.kernel.id())
                .or_insert_with(|| case.kernel.unsupported(gpu))
                .clone(),
        };
        skips.push(skip);
    }
    Ok(skips)
}

/// A skipped case in the report (its kernel's line said once); under
/// `--require-tensor-cores`, a tensor-core case skipped stops the run.
fn skipped_case(shared: &Shared, case: &Case, reason: &str, line: Option<&String>) -> Result<()> {
    let cfg = &shared.cfg;
    if let Some(line) = line {
        shared.print(line);
    }
    shared.push(runner::skipped(case, cfg.seed, reason.to_owned()));
    shared.checkpoint();
    if cfg.require_tensor_cores && case.kernel.needs().tensor_cores() {
        // The stop is this case's, not the one before it.
        shared.progress.set(
            Some(&format!("{}/{}", case.kernel.id(), case.shape)),
            "prepare",
        );
        return Err(Error::env(
            EnvKind::MissingFeature,
            format!("--require-tensor-cores: {reason}"),
        ));
    }
    Ok(())
}

/// A case that ran: its line (a preflight step's, under preflight), its coverage, its
/// GPU events and result, and a checkpoint.
fn ran_case(shared: &Shared, outcome: runner::CaseOutcome) {
    if shared.cfg.preflight.is_some() {
        let r = &outcome.result;
        let status = match r.status {
            KernelStatus::Pass => StepStatus::Pass,
            KernelStatus::Skipped => StepStatus::Skipped,
            _ => StepStatus::Fail,
        };
        let detail = r.reason.clone().unwrap_or_else(|| match &r.dispatch_check {
            Some(d) => format!(
                "verified, {} of {} dispatches compared",
                d.dispatches_verified, d.dispatches_total
            ),
            None => "verified".into(),
        });
        step(shared, &format!("{}/{}", r.id, r.shape), status, detail);
    } else {
        shared.print(&export::lines::kernel_line(&outcome.result));
    }
    if let Some(c) = outcome.coverage {
        shared.print(&format!("memory: {}", export::lines::coverage_line(&c)));
        lock(&shared.report).coverage = Some(Coverage { memory: c });
    }
    lock(&shared.events).extend(outcome.gpu_events);
    shared.push(outcome.result);
    shared.checkpoint();
}

/// The card's error counters before and after the run: PCIe AER (read again now) and
/// ECC (from the hygiene snapshots). `None` when no adapter was opened.
fn error_counters(
    aer_before: &Option<AerReading>,
    hygiene: Option<&Hygiene>,
) -> Option<ErrorCounters> {
    let (bus, before, missing) = aer_before.as_ref()?;
    let (after, _) = crate::telemetry::aer_counters(std::path::Path::new("/sys"), Some(bus));
    Some(counters_between(before, &after, missing, hygiene))
}

/// [`ErrorCounters`] from two AER readings and the hygiene's snapshots.
pub fn counters_between(
    before: &[(String, u64)],
    after: &[(String, u64)],
    missing: &[String],
    hygiene: Option<&Hygiene>,
) -> ErrorCounters {
    let mut counters: Vec<ErrorCounter> = before
        .iter()
        .filter_map(|(name, b)| {
            let a = after.iter().find(|(n, _)| n == name)?.1;
            Some(ErrorCounter {
                name: name.clone(),
                before: *b,
                after: a,
            })
        })
        .collect();
    let mut not_read = missing.to_vec();
    let snaps = hygiene.map(|h| (h.before.as_ref(), h.after.as_ref()));
    for (name, get) in [
        (
            "ecc_uncorrected",
            (|s: &GpuSnapshot| s.ecc_uncorrected_volatile) as fn(&GpuSnapshot) -> Option<u64>,
        ),
        ("ecc_corrected", |s: &GpuSnapshot| s.ecc_corrected_volatile),
    ] {
        match snaps.map(|(b, a)| (b.and_then(get), a.and_then(get))) {
            Some((Some(b), Some(a))) => counters.push(ErrorCounter {
                name: name.into(),
                before: b,
                after: a,
            }),
            _ => not_read.push(format!(
                "{name}: the card's telemetry gave no reading before and after"
            )),
        }
    }
    ErrorCounters { counters, not_read }
}

/// One step of the preflight, recorded and printed.
fn step(shared: &Shared, name: &str, status: StepStatus, detail: String) {
    let word = match status {
        StepStatus::Pass => "pass",
        StepStatus::Fail => "FAIL",
        StepStatus::Skipped => "skipped",
        StepStatus::NotRead => "not read",
    };
    shared.print(&format!("preflight {name:<26} {word:<8} {detail}"));
    let at_s = shared.started.elapsed().as_secs_f64();
    if let Some(p) = lock(&shared.report).preflight.as_mut() {
        p.steps.push(PreflightStep {
            name: name.to_owned(),
            status,
            detail,
            at_s,
        });
    }
    shared.checkpoint();
}

/// The preflight's card and state steps, each recorded; the first that failed ends the
/// run (exit 3) before any kernel, with its words.
// Long (about 100 lines): the preflight's card and state steps in the order they run, each
// a few lines.
fn card_steps(shared: &Shared, gpu: &Gpu, monitor: &Monitor, p: &PreflightSettings) -> Result<()> {
    let cfg = &shared.cfg;
    let info = &gpu.info;
    let mut first: Option<Error> = None;
    let mut record = |name: &str, outcome: std::result::Result<String, Error>| match outcome {
        Ok(detail) => step(shared, name, StepStatus::Pass, detail),
        Err(e) => {
            step(shared, name, StepStatus::Fail, e.to_string());
            first.get_or_insert(e);
        }
    };
    // The card.
    let planted = cfg.fault == Some(Fault::SoftwareAdapter);
    let software = crate::gpu::software_reason(info).or(planted.then(|| "planted".to_owned()));
    match (&software, cfg.require_hardware) {
        (None, _) => record(
            "hardware",
            Ok(format!(
                "{} ({})",
                info.name,
                crate::gpu::device_type_name(info.device_type)
            )),
        ),
        (Some(_), true) => record(
            "hardware",
            gpu.require(true, None, planted).map(|_| String::new()),
        ),
        (Some(why), false) => step(
            shared,
            "hardware",
            StepStatus::Skipped,
            format!("a software adapter ({why}), allowed: --require-hardware not given"),
        ),
    }
    match cfg.expect_vendor.as_deref() {
        Some(v) => record(
            "vendor",
            gpu.require(false, Some(v), false)
                .map(|_| format!("{v}: 0x{:04x}", info.vendor)),
        ),
        None => step(
            shared,
            "vendor",
            StepStatus::Skipped,
            "no --expect-vendor".into(),
        ),
    }
    match p.expect_gpus {
        Some(n) => record("gpus", expect_gpus(n, cfg.require_hardware)),
        None => step(
            shared,
            "gpus",
            StepStatus::Skipped,
            "no --expect-gpus".into(),
        ),
    }
    match &p.expect_driver {
        Some(want) => {
            let seen = format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_owned();
            let nvml = monitor.snapshot().map(|s| s.driver).unwrap_or_default();
            let hit = [&seen, &nvml].iter().any(|t| t.contains(want.as_str()));
            record(
                "driver",
                if hit {
                    Ok(format!("{want} in '{seen}'"))
                } else {
                    Err(Error::env(
                        EnvKind::UnexpectedAdapter,
                        format!(
                            "--expect-driver {want}: the card's driver is '{seen}'{}; update the host's driver or the lane's pin",
                            if nvml.is_empty() {
                                String::new()
                            } else {
                                format!(" (NVML {nvml})")
                            }
                        ),
                    ))
                },
            )
        }
        None => step(
            shared,
            "driver",
            StepStatus::Skipped,
            "no --expect-driver".into(),
        ),
    }
    // Its state, where it can be read.
    let bus = Some(info.device_pci_bus_id.as_str()).filter(|b| !b.is_empty());
    for c in monitor.health(info.vendor, bus) {
        use crate::telemetry::Found;
        match c.found {
            Found::Fine(d) => step(shared, c.name, StepStatus::Pass, d),
            Found::NotRead(d) => step(shared, c.name, StepStatus::NotRead, d),
            Found::Bad(d) => record(c.name, Err(Error::env(EnvKind::CardState, d))),
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `--expect-gpus N`: the cards `--adapter all` would cover (hardware only under
/// `--require-hardware`); fewer is exit 3, naming those seen and how many are missing.
fn expect_gpus(n: u32, hardware: bool) -> Result<String> {
    let cards: Vec<crate::gpu::CardRef> = crate::gpu::cards(None)
        .into_iter()
        .filter(|c| !hardware || crate::gpu::software_reason(&c.info).is_none())
        .collect();
    let seen: Vec<String> = cards
        .iter()
        .map(|c| match c.info.device_pci_bus_id.is_empty() {
            true => c.key.clone(),
            false => format!("{} ({})", c.key, c.info.name),
        })
        .collect();
    let what = if hardware { "hardware GPUs" } else { "cards" };
    if (cards.len() as u32) < n {
        return Err(Error::env(
            EnvKind::NoAdapter,
            format!(
                "--expect-gpus {n}: {} of {n} {what} seen ({}); {} missing: check `nvidia-smi -L` or `ls /dev/dri`, the device plugin's allocation, and the host's dmesg for a GPU that fell off the bus",
                cards.len(),
                if seen.is_empty() {
                    "none".to_owned()
                } else {
                    seen.join(", ")
                },
                n - cards.len() as u32
            ),
        ));
    }
    Ok(format!("{} {what}: {}", cards.len(), seen.join(", ")))
}

/// The PCIe link step, judged by the best the link did while the slice's transfers ran
/// (an idle link trains down); the run fails (exit 3) on a degraded link.
fn link_step(shared: &Shared, link: Option<&PcieLink>, source: &str) -> Result<()> {
    match link {
        None => {
            step(
                shared,
                "pcie-link",
                StepStatus::NotRead,
                format!("the {source} source reads no PCIe link on this card"),
            );
            Ok(())
        }
        Some(l) if l.gen_seen < l.gen_max || l.width_seen < l.width_max => {
            let msg = format!(
                "PCIe link at Gen{} x{} during transfers, the card and slot reach Gen{} x{}: reseat the card or check the riser, then rerun",
                l.gen_seen, l.width_seen, l.gen_max, l.width_max
            );
            step(shared, "pcie-link", StepStatus::Fail, msg.clone());
            Err(Error::env(EnvKind::CardState, msg))
        }
        Some(l) => {
            step(
                shared,
                "pcie-link",
                StepStatus::Pass,
                format!(
                    "Gen{} x{} (its maximum) during transfers",
                    l.gen_seen, l.width_seen
                ),
            );
            Ok(())
        }
    }
}

/// What the telemetry says of the device's memory, for the memory test.
fn memory_context(cfg: &RunConfig, monitor: &Monitor) -> runner::memtest::MemoryContext {
    let (readings, holders) = match monitor.memory() {
        Some((r, h)) => (vec![r], h),
        None => (Vec::new(), Vec::new()),
    };
    runner::memtest::MemoryContext {
        readings,
        holders,
        passes: cfg.memtest_passes,
        required: cfg.require_coverage.map(|p| p / 100.0),
    }
}

/// The adapter's telemetry source, and the card it reads named on the console.
fn open_monitor(shared: &Shared, gpu: &Gpu) -> Arc<Monitor> {
    let monitor = Arc::new(Monitor::open(&gpu.info));
    if let Some(card) = monitor.identity().and_then(export::lines::identity_line) {
        shared.print(&format!("card: {card}"));
    }
    monitor
}

/// `gpu-canary burn`'s worker, once the adapter passed the run's checks: the burn on
/// the card (`burn::on_card`), then the card's telemetry assessed over its samples.
fn burn_worker(
    shared: &Shared,
    gpu: &Gpu,
    b: &BurnSettings,
    tuned: Option<&std::collections::BTreeMap<String, kernels::Params>>,
    monitor: &Arc<Monitor>,
    before: Option<GpuSnapshot>,
) -> Result<()> {
    let cfg = &shared.cfg;
    let case = cfg.cases[0];
    let ask = crate::burn::Ask {
        draw: crate::burn::Draw {
            seed: cfg.seed,
            check_seed: cfg.check_seed,
            input_scale: cfg.input_scale,
            checks: cfg.checks_for(case.kernel),
            params: tuned.and_then(|best| best.get(case.kernel.tuning_id())),
        },
        fault: cfg.fault,
        fault_dispatches: cfg.fault_dispatches,
    };
    let memory = || memory_context(cfg, monitor);
    let samples = crate::burn::on_card(gpu, case, ask, b, monitor, memory, shared)?;
    shared.progress.set(None, "artifacts");
    lock(&shared.report).hygiene = Some(monitor.assess(before, &samples, monitor.snapshot()));
    Ok(())
}

enum Msg {
    Done(std::thread::Result<Result<()>>),
    Signal(i32),
}

/// Runs the canary. Every failure is data in the report, so this returns an outcome,
/// never an error.
pub fn run(cfg: RunConfig) -> RunOutcome {
    let export = ExportManager::new(
        cfg.out.clone(),
        cfg.export_bmf.clone(),
        cfg.export_metrics.clone(),
        cfg.export_junit.clone(),
    );
    let root = tracing::info_span!("gpu-canary run").entered();
    let json = cfg.json;
    let shared = Arc::new(Shared {
        report: Mutex::new(new_report(&cfg)),
        events: Mutex::new(Vec::new()),
        progress: Arc::new(Progress::default()),
        finalized: AtomicBool::new(false),
        started: Instant::now(),
        cfg,
        export: Mutex::new(export),
        extra: Mutex::new(Extra {
            anchor: "burn".into(),
            ..Extra::default()
        }),
        monitor: Mutex::new(None),
        aer_before: Mutex::new(None),
    });
    shared.checkpoint();
    let display = progress::Display::start(shared.progress.clone(), json);

    let (tx, rx) = mpsc::channel();
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        let tx = tx.clone();
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let _ = tx.send(Msg::Signal(sig));
            }
        });
    }
    let w = shared.clone();
    let span = tracing::Span::current();
    let handle = std::thread::Builder::new()
        .name("gpu-canary-worker".into())
        .spawn(move || {
            let _e = span.enter();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker(&w)));
            let _ = tx.send(Msg::Done(r));
        })
        .expect("spawning the worker thread");

    let msg = match shared.cfg.timeout {
        Some(t) => rx
            .recv_timeout(t.saturating_sub(shared.started.elapsed()))
            .ok(),
        None => rx.recv().ok(),
    };
    // A worker that finished is joined before anything else happens: it may still be
    // leaving its span and freeing its thread's memory, and a process that exits under
    // it runs the drivers' destructors beside it (the rare abort at exit). One that did
    // not finish is stuck in the driver and is abandoned.
    let finished = matches!(msg, Some(Msg::Done(_)));
    if finished {
        let _ = handle.join();
    }
    let ending = match msg {
        Some(Msg::Done(Ok(Ok(())))) => Ending::Finished,
        Some(Msg::Done(Ok(Err(e)))) => Ending::Failed(e),
        Some(Msg::Done(Err(p))) => Ending::Panicked(panic_message(p.as_ref())),
        Some(Msg::Signal(s)) => Ending::Signal(s),
        None => Ending::TimedOut {
            timeout_s: shared
                .cfg
                .timeout
                .map(|t| t.as_secs_f64())
                .unwrap_or_default(),
        },
    };
    drop(display);
    drop(root);
    RunOutcome {
        abandoned: !finished,
        ..finish(&shared, ending)
    }
}

// Long (about 140 lines): the ending judged, then every artifact in the order the survival
// rules set (result.json last, with the verdict that knows which others failed); parts
// apart would pass the locked report and exporter through each.
fn finish(shared: &Shared, ending: Ending) -> RunOutcome {
    let cfg = &shared.cfg;
    let at = shared.progress.get();
    let place = Place {
        kernel: at.kernel,
        phase: at.phase,
    };
    // A run that stopped (a hang, a signal, a refused adapter) still names its card and
    // what it read now; a finished one assessed it with its samples already.
    let monitored = lock(&shared.monitor).clone();
    let assessed = match (&ending, monitored) {
        (Ending::Finished, _) | (_, None) => None,
        (_, Some((m, before))) => Some(m.assess(before, &[], m.snapshot())),
    };
    let mut r = lock(&shared.report);
    if let Some(h) = assessed {
        r.hygiene = Some(h);
    }
    shared.finalized.store(true, Ordering::SeqCst);
    let over_budget = cfg.preflight.is_some() && matches!(ending, Ending::TimedOut { .. });
    let j = verdict::with_burn(verdict::judge(ending, &r.kernels, &place), r.burn.as_ref());
    let j = if over_budget {
        if let Some(p) = r.preflight.as_mut() {
            p.steps.push(PreflightStep {
                name: "budget".into(),
                status: StepStatus::Fail,
                detail: format!(
                    "the budget of {} s ran out at {}: inconclusive, never a pass; rerun, or raise --budget if the card is slow to start",
                    p.budget_s,
                    place.kernel.as_deref().unwrap_or(place.phase.as_str())
                ),
                at_s: shared.started.elapsed().as_secs_f64(),
            });
        }
        verdict::over_budget(j)
    } else {
        j
    };
    // A run that stopped early is judged by why it stopped; one that finished, also by
    // how much of the card it covered.
    let short = match (&j.stopped, cfg.require_coverage) {
        (None, Some(p)) => {
            verdict::shortfall(Some(p / 100.0), r.coverage.as_ref().map(|c| &c.memory))
        }
        _ => None,
    };
    if let (Some(c), Some(why)) = (r.coverage.as_mut(), &short) {
        c.memory.shortfall = Some(why.clone());
    }
    let j = verdict::with_coverage(j, short.as_deref());
    r.verdict = j.verdict;
    r.exit_code = j.exit_code;
    r.stopped = j.stopped;
    r.status = if j.complete {
        RunStatus::Complete
    } else {
        RunStatus::Partial
    };
    r.errors = error_counters(&lock(&shared.aer_before), r.hygiene.as_ref());
    r.diagnosis = Some(verdict::diagnose(&r));
    r.duration_s = shared.started.elapsed().as_secs_f64();
    let report = r.clone();
    drop(r);

    if let Some(stop) = &report.stopped {
        crate::console::err(&format!("error: {}", stop.message));
    }
    if let Some(why) = &short {
        crate::console::err(&format!("error: inconclusive: {why}"));
    }
    for k in report
        .kernels
        .iter()
        .filter(|k| k.status == KernelStatus::Fail)
    {
        if let Some(reason) = &k.reason {
            crate::console::err(&format!("error: {reason}"));
        }
        if let Some(f) = &k.fingerprint {
            crate::console::err(&export::lines::fingerprint_line(
                &format!("{}/{}", k.id, k.shape),
                f,
            ));
        }
    }
    let mut report = report;
    let mut export = lock(&shared.export);
    // Every artifact but result.json, then result.json last, with the verdict that
    // knows which of them could not be written: the console, result.json and the
    // process all tell that one verdict.
    let (failed, trace_cut) =
        export.finish_trace(&report, &lock(&shared.events), &lock(&shared.extra));
    artifacts_failed(&mut report, failed);
    verdict_artifacts(&export, &mut report);
    let committed = (report.verdict, report.exit_code);
    write_result(&export, &mut report, trace_cut.as_deref());
    // Under --json, stdout is the artifact: the same document, last, so it holds the
    // final verdict; not delivered, it is one more failure result.json records.
    if cfg.json
        && let Err(e) = crate::console::try_bytes(&export::json::Json.render(&report))
    {
        artifacts_failed(&mut report, vec![format!("stdout (--json): {e}")]);
        write_result(&export, &mut report, trace_cut.as_deref());
    }
    // result.json or stdout failed after summary.md, the metrics and the JUnit report
    // were committed with a pass: they are written again with the verdict that stands.
    if (report.verdict, report.exit_code) != committed && verdict_artifacts(&export, &mut report) {
        write_result(&export, &mut report, trace_cut.as_deref());
    }
    drop(export);
    for f in &report.artifact_errors {
        crate::console::err(&format!("error: {f}"));
    }
    if let Err(e) = export::append_step_summary(&export::markdown::Markdown.render(&report)) {
        crate::console::err(&format!(
            "warning: cannot append to GITHUB_STEP_SUMMARY ({e}); the verdict stands"
        ));
    }
    if !cfg.json {
        let memory = report
            .coverage
            .as_ref()
            .map(|c| format!(", memory {}", export::lines::coverage_line(&c.memory)))
            .unwrap_or_default();
        crate::console::line(&format!(
            "verdict: {} (exit {}){memory}{}",
            export::lines::verdict_word(report.verdict),
            report.exit_code,
            skipped_note(&report.kernels)
        ));
        if let Some(d) = &report.diagnosis {
            crate::console::line(&export::lines::action_line(d));
        }
    }
    RunOutcome {
        verdict: report.verdict,
        exit_code: report.exit_code,
        abandoned: false,
    }
}

/// What a verdict line adds when cases were skipped: a pass covers only what ran.
fn skipped_note(kernels: &[KernelResult]) -> String {
    let skipped: Vec<&KernelResult> = kernels
        .iter()
        .filter(|k| k.status == KernelStatus::Skipped)
        .collect();
    if skipped.is_empty() {
        return String::new();
    }
    let mut ids: Vec<&str> = skipped.iter().map(|k| k.id.as_str()).collect();
    ids.dedup();
    format!(
        ", {} case{} skipped ({}): not verified",
        skipped.len(),
        if skipped.len() == 1 { "" } else { "s" },
        ids.join(", ")
    )
}

/// The final result.json. Where even the space held back is not enough (a disk the
/// trace filled), the trace gives way: it is cut down (or removed) to make room, and
/// result.json says so.
fn write_result(export: &ExportManager, report: &mut RunReport, trace_cut: Option<&str>) {
    let Some(first) = export.write_result(&export::json::Json.render(report), trace_cut) else {
        return;
    };
    // As much of the trace as the new result.json needs, then, if that was not enough,
    // all of it.
    let mut last = Some(first);
    for need in [
        export::json::Json.render(report).len() as u64 + (8 << 10),
        u64::MAX,
    ] {
        let Some(note) = export.make_room(need) else {
            break;
        };
        report
            .artifact_errors
            .retain(|e| !e.contains("to make room for result.json"));
        artifacts_failed(report, vec![note]);
        last = export.write_result(&export::json::Json.render(report), None);
        if last.is_none() {
            return;
        }
    }
    if let Some(e) = last {
        artifacts_failed(report, vec![e]);
    }
}

/// summary.md, the metrics and the JUnit report of the report as it stands: staged,
/// then committed together with the verdict that knows which of them could not be
/// written (a failure that turns a pass into an error stages them again). True when
/// one could not be written.
fn verdict_artifacts(export: &ExportManager, report: &mut RunReport) -> bool {
    let (mut staged, failed) = export.stage_verdict_artifacts(report);
    let mut any = !failed.is_empty();
    if any {
        let before = report.exit_code;
        artifacts_failed(report, failed);
        if report.exit_code != before {
            (staged, _) = export.stage_verdict_artifacts(report);
        }
    }
    let lost: Vec<String> = staged
        .into_iter()
        .filter_map(|s| s.commit().err().map(|e| e.to_string()))
        .collect();
    any |= !lost.is_empty();
    artifacts_failed(report, lost);
    any
}

/// Records artifacts that could not be written: a pass without them is no pass CI can
/// act on (exit 3, verdict `error`); any other verdict keeps its code.
fn artifacts_failed(report: &mut RunReport, failed: Vec<String>) {
    if failed.is_empty() {
        return;
    }
    report.artifact_errors.extend(failed);
    let code = verdict::after_artifacts(report.exit_code, false);
    if code != report.exit_code {
        report.exit_code = code;
        report.verdict = Verdict::Error;
        report.diagnosis = Some(verdict::diagnose(report));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Shape;

    /// A card behind a bridge, as sysfs lays it out: the device's directory under the
    /// bridge's, linked from bus/pci/devices.
    fn aer_tree(root: &std::path::Path, cor: u64, fatal_up: u64) {
        let bridge = root.join("devices/pci0000:00/0000:00:01.0");
        let dev = bridge.join("0000:01:00.0");
        std::fs::create_dir_all(&dev).unwrap();
        let write = |dir: &std::path::Path, cor: u64, nonfatal: u64, fatal: u64| {
            std::fs::write(
                dir.join("aer_dev_correctable"),
                format!("RxErr 0\nBadTLP {cor}\nTOTAL_ERR_COR {cor}\n"),
            )
            .unwrap();
            std::fs::write(
                dir.join("aer_dev_nonfatal"),
                format!("Undefined 0\nTOTAL_ERR_NONFATAL {nonfatal}\n"),
            )
            .unwrap();
            std::fs::write(
                dir.join("aer_dev_fatal"),
                format!("Undefined 0\nTOTAL_ERR_FATAL {fatal}\n"),
            )
            .unwrap();
        };
        write(&dev, cor, 0, 0);
        write(&bridge, 0, 0, fatal_up);
        let link = root.join("bus/pci/devices");
        std::fs::create_dir_all(&link).unwrap();
        let l = link.join("0000:01:00.0");
        if !l.exists() {
            std::os::unix::fs::symlink(&dev, l).unwrap();
        }
    }

    fn passing_report() -> RunReport {
        serde_json::from_str(include_str!("../tests/fixtures/lavapipe-result.json")).unwrap()
    }

    #[test]
    fn an_aer_counter_that_grows_during_the_run_is_named_in_the_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Some("0000:01:00.0");
        aer_tree(dir.path(), 2, 0);
        let (before, missing) = crate::telemetry::aer_counters(dir.path(), bus);
        assert_eq!(
            before.len(),
            6,
            "the card's and its upstream port's three: {before:?}"
        );
        assert!(missing.is_empty(), "{missing:?}");
        // Three correctable errors on the card while the run ran.
        aer_tree(dir.path(), 5, 0);
        let (after, _) = crate::telemetry::aer_counters(dir.path(), bus);
        let mut r = passing_report();
        r.errors = Some(counters_between(&before, &after, &missing, None));
        assert_eq!(
            r.errors.as_ref().unwrap().grown(),
            [("aer_dev_correctable", 3)]
        );
        let d = verdict::diagnose(&r);
        assert_eq!(d.action, Action::DrainAndInspect);
        assert!(
            d.reason.contains("aer_dev_correctable grew by 3"),
            "{}",
            d.reason
        );
        assert!(export::lines::action_line(&d).contains("aer_dev_correctable grew by 3"));
        // A fatal error on the upstream port: the host is rebooted.
        aer_tree(dir.path(), 5, 1);
        let (later, _) = crate::telemetry::aer_counters(dir.path(), bus);
        r.errors = Some(counters_between(&after, &later, &missing, None));
        let d = verdict::diagnose(&r);
        assert_eq!(d.action, Action::RebootHost, "{}", d.reason);
        assert!(
            d.reason.contains("upstream aer_dev_fatal grew by 1"),
            "{}",
            d.reason
        );
        // Nothing grew: the pass stands with nothing to do, and ECC not read is named.
        r.errors = Some(counters_between(&later, &later, &missing, None));
        assert_eq!(verdict::diagnose(&r).action, Action::None);
        assert!(
            r.errors
                .as_ref()
                .unwrap()
                .not_read
                .iter()
                .any(|n| n.starts_with("ecc_uncorrected"))
        );
        // No address, nothing read, and said so.
        let (none, why) = crate::telemetry::aer_counters(dir.path(), Some(""));
        assert!(none.is_empty() && why[0].contains("no PCI address"));
    }

    #[test]
    fn a_kernel_skipped_on_every_shape_gets_one_line() {
        let k = |id| kernels::find(id).unwrap();
        let case = |id, n| Case {
            kernel: k(id),
            shape: Shape::Matmul { m: n, k: n, n },
            explicit: false,
        };
        let cases = [
            case("matmul-f32", 1),
            case("matmul-f16", 1),
            case("matmul-f16", 2),
            case("matmul-f16", 3),
        ];
        let no = || Some("no tensor cores".to_owned());
        let lines = skip_lines(&cases, &[None, no(), no(), no()]);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].0, 1);
        assert!(lines[0].1.contains("(3 shapes)") && lines[0].1.contains("no tensor cores"));
        // Different reasons (a limit on one shape) keep their own lines.
        let big = Some("over the limit".to_owned());
        let lines = skip_lines(&cases, &[None, no(), no(), big]);
        assert_eq!(lines.len(), 3, "{lines:?}");
    }
}
