//! `gpu-canary run` end to end. The GPU work runs on a worker thread; this thread is the
//! watchdog: it waits for the worker, the deadline (`--timeout`) or a signal (SIGINT,
//! SIGTERM), whichever comes first, then writes the artifacts from what was measured
//! and exits. A worker stuck in a driver call is abandoned, never waited for.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::{Fault, RunConfig};
use crate::error::{EnvKind, Error, Result, exit};
use crate::export::{self, Exporter};
use crate::gpu::{Gpu, vendor_name};
use crate::hygiene::Monitor;
use crate::kernels;
use crate::model::*;
use crate::runner::{self, CaseOptions, GpuEvent, Progress};

/// State shared by the worker and the watchdog.
pub struct Shared {
    report: Mutex<RunReport>,
    events: Mutex<Vec<GpuEvent>>,
    progress: Progress,
    finalized: AtomicBool,
    started: Instant,
    cfg: RunConfig,
}

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
        if let Some(out) = &self.cfg.out
            && let Err(e) = export::write_atomic(&out.result(), &export::json::Json.render(&r))
        {
            eprintln!("warning: cannot write {}: {e}", out.result().display());
        }
    }

    fn print(&self, line: &str) {
        if !self.cfg.json {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
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
        fault: cfg.fault.map(|f| f.name()),
        tuning: cfg.tuning.as_ref().map(|(p, _)| p.display().to_string()),
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
        verdict: Verdict::Running,
        exit_code: -1,
        stopped: None,
    }
}

/// Does the adapter match `--expect-vendor`: a vendor name for its PCI id, or a
/// substring of its name.
pub fn vendor_matches(expect: &str, info: &wgpu::AdapterInfo) -> bool {
    let e = expect.to_lowercase();
    vendor_name(info.vendor).is_some_and(|v| v == e) || info.name.to_lowercase().contains(&e)
}

fn worker(shared: &Shared) -> Result<()> {
    let cfg = &shared.cfg;
    shared.progress.set(None, "init");
    let gpu = Gpu::open(&cfg.filter)?;
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
    shared.print(&format!(
        "adapter: {}",
        crate::export::markdown::adapter_line(&fp)
    ));
    shared.checkpoint();

    if cfg.require_hardware && (gpu.is_software() || cfg.fault == Some(Fault::SoftwareAdapter)) {
        return Err(Error::env(
            EnvKind::SoftwareAdapter,
            format!(
                "--require-hardware: adapter '{}' is a software adapter (device type cpu); the runner's GPU driver is not visible to Vulkan: check the image and device plugin (docs/lane.md), and `gpu-canary adapters`",
                gpu.info.name
            ),
        ));
    }
    if let Some(v) = &cfg.expect_vendor
        && !vendor_matches(v, &gpu.info)
    {
        return Err(Error::env(
            EnvKind::UnexpectedAdapter,
            format!(
                "--expect-vendor {v}: the lane handed over '{}' (vendor 0x{:04x}{}); check the runner's GPU or the lane's expected vendor",
                gpu.info.name,
                gpu.info.vendor,
                vendor_name(gpu.info.vendor)
                    .map(|n| format!(", {n}"))
                    .unwrap_or_default()
            ),
        ));
    }

    // Sizes against the adapter's limits, all before the first kernel runs.
    let mut over_limit = std::collections::HashMap::new();
    for case in &cfg.cases {
        if let Err(msg) = kernels::check_limits(case.kernel, case.shape, &gpu.limits) {
            if case.explicit {
                return Err(Error::usage(msg));
            }
            over_limit.insert(format!("{case:?}"), msg);
        }
    }

    let monitor = Monitor::open(&gpu.info.name);
    let before = monitor.snapshot();

    let skip_reason = |case: &crate::config::Case| {
        over_limit
            .get(&format!("{case:?}"))
            .cloned()
            .or_else(|| case.kernel.unsupported(&gpu))
    };
    // Injected faults hit the last case that runs, so the test of each fault also shows
    // that what was measured before it is kept.
    let fault_at = cfg.cases.iter().rposition(|c| skip_reason(c).is_none());
    for (i, case) in cfg.cases.iter().enumerate() {
        let skip = skip_reason(case);
        if let Some(reason) = skip {
            let r = runner::skipped(case, cfg.seed, reason.clone());
            shared.print(&crate::export::markdown::kernel_line(&r));
            lock(&shared.report).kernels.push(r);
            shared.checkpoint();
            if cfg.require_tensor_cores && case.kernel.id() == "matmul-f16" {
                return Err(Error::env(
                    EnvKind::MissingFeature,
                    format!("--require-tensor-cores: {reason}"),
                ));
            }
            continue;
        }
        let opt = CaseOptions {
            seed: cfg.seed,
            check_seed: cfg.check_seed,
            warmup: cfg.warmup,
            iterations: cfg.iterations,
            input_scale: cfg.input_scale,
            checks: if case.kernel.supports_unchecked() {
                cfg.checks
            } else {
                kernels::RuntimeChecks::Checked
            },
            fault: cfg.fault.filter(|f| f.every_case() || Some(i) == fault_at),
            progress: &shared.progress,
            params: tuned.and_then(|best| best.get(case.kernel.id())),
        };
        match runner::run_case(&gpu, case, &opt) {
            Ok(outcome) => {
                shared.print(&crate::export::markdown::kernel_line(&outcome.result));
                lock(&shared.events).extend(outcome.gpu_events);
                lock(&shared.report).kernels.push(outcome.result);
                shared.checkpoint();
            }
            Err(e) => {
                let mut r = runner::skipped(case, cfg.seed, e.to_string());
                r.status = KernelStatus::Error;
                shared.print(&crate::export::markdown::kernel_line(&r));
                lock(&shared.report).kernels.push(r);
                return Err(e);
            }
        }
    }
    shared.progress.set(None, "artifacts");
    lock(&shared.report).hygiene = Some(monitor.assess(before, monitor.snapshot()));
    Ok(())
}

enum Outcome {
    Finished(Result<()>),
    Panicked(String),
    TimedOut,
    Signal(i32),
}

enum Msg {
    Done(std::thread::Result<Result<()>>),
    Signal(i32),
}

type TraceGuard = tracing_chrome::FlushGuard;

fn install_tracing(cfg: &RunConfig) -> Option<TraceGuard> {
    use tracing_subscriber::prelude::*;
    let out = cfg.out.as_ref()?;
    let file = std::fs::File::create(out.cpu_trace()).ok()?;
    let (layer, guard) = tracing_chrome::ChromeLayerBuilder::new()
        .writer(file)
        .include_args(true)
        .build();
    // Our own spans; from wgpu and the driver only warnings (their debug logs would
    // make the trace megabytes long).
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::WARN)
        .with_target("gpu_canary", tracing::Level::TRACE);
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .ok()?;
    Some(guard)
}

/// Runs the canary; returns the exit code.
pub fn run(cfg: RunConfig) -> i32 {
    let guard = install_tracing(&cfg);
    let root = tracing::info_span!("gpu-canary run").entered();
    let shared = Arc::new(Shared {
        report: Mutex::new(new_report(&cfg)),
        events: Mutex::new(Vec::new()),
        progress: Progress::default(),
        finalized: AtomicBool::new(false),
        started: Instant::now(),
        cfg,
    });
    shared.checkpoint();

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
    std::thread::Builder::new()
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
    let outcome = match msg {
        Some(Msg::Done(Ok(r))) => Outcome::Finished(r),
        Some(Msg::Done(Err(p))) => Outcome::Panicked(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".into()),
        ),
        Some(Msg::Signal(s)) => Outcome::Signal(s),
        None => Outcome::TimedOut,
    };
    drop(root);
    let abandon = !matches!(outcome, Outcome::Finished(_));
    let code = finish(&shared, outcome, guard);
    if abandon {
        // The worker may be stuck inside the driver: leave without joining it.
        std::process::exit(code);
    }
    code
}

fn finish(shared: &Shared, outcome: Outcome, guard: Option<TraceGuard>) -> i32 {
    let cfg = &shared.cfg;
    let (kernel, phase) = shared.progress.get();
    let mut r = lock(&shared.report);
    shared.finalized.store(true, Ordering::SeqCst);
    let any_fail = r.kernels.iter().any(|k| k.status == KernelStatus::Fail);
    let any_pass = r.kernels.iter().any(|k| k.status == KernelStatus::Pass);
    let stop = |reason: String, message: String| Stop {
        reason,
        kernel: kernel.clone(),
        phase: Some(phase.clone()),
        message,
    };
    let (verdict, code, stopped, complete) = match outcome {
        Outcome::Finished(Ok(())) if any_fail => (Verdict::Fail, exit::WRONG_RESULT, None, true),
        Outcome::Finished(Ok(())) if any_pass => (Verdict::Pass, exit::OK, None, true),
        Outcome::Finished(Ok(())) => (
            Verdict::Error,
            exit::ENVIRONMENT,
            Some(Stop {
                reason: "nothing-ran".into(),
                kernel: None,
                phase: None,
                message: "no kernel could run on this adapter (every case was skipped)".into(),
            }),
            true,
        ),
        Outcome::Finished(Err(e)) => {
            let reason = match &e {
                Error::Usage(_) => "usage".to_owned(),
                Error::Environment { kind, .. } => Stop::env_reason(*kind),
            };
            // A wrong result already measured outranks a later environment failure.
            let (v, c) = if any_fail {
                (Verdict::Fail, exit::WRONG_RESULT)
            } else {
                (Verdict::Error, e.exit_code())
            };
            (v, c, Some(stop(reason, e.to_string())), false)
        }
        Outcome::Panicked(msg) => (
            Verdict::Error,
            exit::ENVIRONMENT,
            Some(stop(
                Stop::env_reason(EnvKind::Panic),
                format!("internal panic: {msg}"),
            )),
            false,
        ),
        Outcome::TimedOut => {
            let t = cfg.timeout.map(|t| t.as_secs_f64()).unwrap_or_default();
            let at = kernel
                .as_deref()
                .map(|k| format!(" in {k}"))
                .unwrap_or_default();
            let msg = format!(
                "--timeout {t} s expired{at} during {phase}; the GPU or driver stopped responding (or the suite is too large for the limit)"
            );
            (
                if any_fail {
                    Verdict::Fail
                } else {
                    Verdict::Error
                },
                if any_fail {
                    exit::WRONG_RESULT
                } else {
                    exit::ENVIRONMENT
                },
                Some(stop("timeout".into(), msg)),
                false,
            )
        }
        Outcome::Signal(sig) => {
            let (name, c) = if sig == signal_hook::consts::SIGINT {
                ("SIGINT", exit::SIGINT)
            } else {
                ("SIGTERM", exit::SIGTERM)
            };
            (
                Verdict::Cancelled,
                c,
                Some(stop("cancelled".into(), format!("cancelled by {name}"))),
                false,
            )
        }
    };
    r.verdict = verdict;
    r.exit_code = code;
    r.stopped = stopped;
    r.status = if complete {
        RunStatus::Complete
    } else {
        RunStatus::Partial
    };
    r.duration_s = shared.started.elapsed().as_secs_f64();
    let report = r.clone();
    drop(r);

    if let Some(stop) = &report.stopped {
        eprintln!("error: {}", stop.message);
    }
    for k in report
        .kernels
        .iter()
        .filter(|k| k.status == KernelStatus::Fail)
    {
        if let Some(reason) = &k.reason {
            eprintln!("error: {reason}");
        }
    }
    let json = export::json::Json.render(&report);
    write_artifacts(shared, &report, &json, guard);
    if cfg.json {
        let _ = std::io::stdout().write_all(&json);
    } else {
        println!(
            "verdict: {} (exit {code})",
            crate::export::markdown::verdict_word(report.verdict)
        );
    }
    let _ = std::io::stdout().flush();
    code
}

/// `json` is `report` already rendered (stdout may need it too).
fn write_artifacts(shared: &Shared, report: &RunReport, json: &[u8], guard: Option<TraceGuard>) {
    let cfg = &shared.cfg;
    let warn = |what: &std::path::Path, e: std::io::Error| {
        eprintln!("warning: cannot write {}: {e}", what.display())
    };
    let summary = export::markdown::Markdown.render(report);
    if let Some(out) = &cfg.out {
        let span = tracing::info_span!("write_artifacts").entered();
        if let Err(e) = export::write_atomic(&out.result(), json) {
            warn(&out.result(), e);
        }
        if let Err(e) = export::write_atomic(&out.summary(), &summary) {
            warn(&out.summary(), e);
        }
        // Closing the guard finishes tracing-chrome's file; then the GPU track is added.
        drop(span);
        drop(guard);
        let cpu = std::fs::read_to_string(out.cpu_trace()).unwrap_or_default();
        let name = report
            .adapter
            .as_ref()
            .map(|a| a.name.as_str())
            .unwrap_or("none");
        let merged = export::trace::merge(&cpu, &lock(&shared.events), name);
        match export::write_atomic(&out.trace(), merged.to_string().as_bytes()) {
            Ok(()) => {
                let _ = std::fs::remove_file(out.cpu_trace());
            }
            Err(e) => warn(&out.trace(), e),
        }
    }
    if let Some(path) = &cfg.export_bmf
        && let Err(e) = export::write_atomic(path, &export::bmf::Bmf.render(report))
    {
        warn(path, e);
    }
    append_step_summary(&summary);
}

/// Appends to `$GITHUB_STEP_SUMMARY` when Actions provides it.
pub fn append_step_summary(md: &[u8]) {
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let res = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| {
                f.write_all(md)?;
                f.write_all(b"\n")
            });
        if let Err(e) = res {
            eprintln!("warning: cannot append to GITHUB_STEP_SUMMARY: {e}");
        }
    }
}
