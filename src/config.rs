//! Flags → plain configuration: where the clap types stop. Every subcommand has an
//! `XConfig` (defined next to the code that runs it) and its `from_args` here; what can
//! be refused before touching the GPU is refused here, with a one-line error naming the
//! value and the fix (exit 2). Nothing but `main` imports this module.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::adapters::AdaptersConfig;
use crate::burn::BurnSettings;
use crate::cli::{
    AdapterArgs, AdaptersArgs, BurnArgs, CompareArgs, FormatArg, HistoryArgs, MemoryArgs,
    OutputArgs, PreflightArgs, ReproduceArgs, RunArgs, SuiteArg, TuneArgs,
};
use crate::compare::{CompareConfig, Format};
use crate::error::{Error, Result};
use crate::export::OutDir;
use crate::gpu::AdapterFilter;
use crate::history::HistoryConfig;
use crate::kernels::memtest::{self, MemoryTarget};
use crate::kernels::{self, Kernel, RuntimeChecks, Shape, Suite};
use crate::run::RunConfig;
use crate::runner::{Case, Fault, FaultDispatches};
use crate::tune::TuneConfig;
use crate::tune::file::Tuning;

impl RunConfig {
    // Long (about 140 lines): one flag after another into its field, each flag's check
    // beside it; read top to bottom, it holds no state across parts to split on.
    pub fn from_args(a: RunArgs) -> Result<RunConfig> {
        let suite = match a.suite {
            SuiteArg::Quick => Suite::Quick,
            SuiteArg::Full => Suite::Full,
        };
        let ids = kernels::ids();
        let mut selected = kernel_args(&a.kernel, &ids, |id| {
            format!("unknown kernel '{id}'; use one of: {}", ids.join(", "))
        })?;
        let explicit_kernels = !selected.is_empty();
        if selected.is_empty() {
            selected = kernels::REGISTRY.to_vec();
        }
        let cases: Vec<Case> = match &a.size {
            Some(size) => {
                if !explicit_kernels {
                    return Err(Error::usage(
                        "--size needs --kernel (a shape belongs to a kernel); e.g. --kernel matmul-f32 --size 1024x1024x1024",
                    ));
                }
                selected
                    .iter()
                    .map(|&k| {
                        kernels::parse_shape(k, size).map(|shape| Case {
                            kernel: k,
                            shape,
                            explicit: true,
                        })
                    })
                    .collect::<std::result::Result<_, _>>()
                    .map_err(Error::Usage)?
            }
            None => selected
                .iter()
                .flat_map(|&k| {
                    k.suite(suite).into_iter().map(move |shape| Case {
                        kernel: k,
                        shape,
                        explicit: false,
                    })
                })
                .collect(),
        };
        let mut cases = with_probes(cases, suite);
        let (memory, require_coverage) = memory_arg(&a.memory, &mut cases, suite)?;
        let (warmup, iterations) = match suite {
            Suite::Quick => (a.warmup.unwrap_or(2), a.iterations.unwrap_or(30)),
            Suite::Full => (a.warmup.unwrap_or(5), a.iterations.unwrap_or(50)),
        };
        if iterations == 0 || iterations > 100_000 {
            return Err(Error::usage(format!(
                "invalid --iterations {iterations}: use 1 to 100000"
            )));
        }
        if warmup > 100_000 {
            return Err(Error::usage(format!(
                "invalid --warmup {warmup}: use 0 to 100000"
            )));
        }
        // Below 1e-6, sums of the smallest inputs could reach f32's subnormals, which
        // GPUs may flush; above 65504, f16 inputs overflow.
        if !a.input_scale.is_finite() || !(1e-6..=65504.0).contains(&a.input_scale) {
            return Err(Error::usage(format!(
                "invalid --input-scale {}: inputs must be finite; use a number from 1e-6 to 65504 (f16's largest), e.g. 1",
                a.input_scale
            )));
        }
        let timeout = timeout_arg(a.timeout)?;
        if a.require_tensor_cores && !cases.iter().any(|c| c.kernel.needs().tensor_cores()) {
            let tc: Vec<&str> = kernels::REGISTRY
                .iter()
                .filter(|k| k.needs().tensor_cores())
                .map(|k| k.id())
                .collect();
            let tc = tc.join(" or ");
            return Err(Error::usage(format!(
                "--require-tensor-cores needs {tc} among the kernels; drop --kernel or add {tc}"
            )));
        }
        let fault = fault_arg(a.faults.inject_fault.as_deref())?;
        if fault == Some(Fault::Slowdown) {
            return Err(Error::usage(
                "--inject-fault slowdown applies to `gpu-canary burn` only",
            ));
        }
        if let Some(Fault::Shader(f)) = fault
            && !cases.iter().any(|c| f.applies_to(c.kernel.shape_kind()))
        {
            return Err(Error::usage(format!(
                "--inject-fault {}: none of the kernels can plant it; choose a kernel it applies to",
                f.name()
            )));
        }
        let fault_dispatches = fault_dispatch_arg(fault, a.faults.fault_dispatch.as_deref())?;
        let tuning = tuning_arg(a.tuning)?;
        let out = out_arg(&a.output)?;
        // After --out exists: an export may go into it (`--out out --export-junit
        // out/junit.xml`).
        if let Some(p) = &a.export_bmf {
            probe_file("--export-bmf", p)?;
        }
        exports_arg(&a.output)?;
        let filter = filter_arg(
            a.adapter,
            a.cards.concurrent,
            fault == Some(Fault::SoftwareAdapter),
        )?;
        all_cards_arg(&filter, &out, a.export_bmf.is_some())?;
        Ok(RunConfig {
            suite: if a.size.is_some() || explicit_kernels {
                "custom".into()
            } else {
                match suite {
                    Suite::Quick => "quick".into(),
                    Suite::Full => "full".into(),
                }
            },
            cases,
            seed: a.seed,
            check_seed: a.check_seed.unwrap_or_else(crate::inputs::fresh_seed),
            warmup,
            iterations,
            filter,
            require_hardware: a.require.require_hardware,
            require_tensor_cores: a.require_tensor_cores,
            expect_vendor: a.require.expect_vendor.filter(|s| !s.is_empty()),
            checks: checks_arg(a.unchecked),
            out,
            json: a.output.json,
            export_bmf: a.export_bmf,
            export_metrics: a.output.export_metrics.clone(),
            export_junit: a.output.export_junit.clone(),
            timeout,
            input_scale: a.input_scale,
            fault,
            fault_dispatches,
            tuning,
            burn: None,
            memory,
            require_coverage,
            memtest_passes: memtest::passes(suite),
            preflight: None,
        })
    }

    /// `gpu-canary burn`: a run of one case with [`BurnSettings`].
    // Long (about 120 lines): as `from_args`, one flag after another into its field with
    // its check.
    pub fn from_burn_args(a: BurnArgs) -> Result<RunConfig> {
        let duration = duration_arg("--duration", &a.duration)?;
        let interval = duration_arg("--interval", &a.interval)?;
        // Shorter intervals than the telemetry's period hold no sample, and their rows
        // would swamp the summary.
        if interval < crate::burn::PERIOD {
            return Err(Error::usage(format!(
                "invalid --interval '{}': use at least 0.1s (the telemetry's period), e.g. 10s",
                a.interval
            )));
        }
        let ids = kernels::ids();
        let kernel = kernels::find(&a.kernel).ok_or_else(|| {
            Error::usage(format!(
                "burn: unknown kernel '{}'; use one of: {}",
                a.kernel,
                ids.join(", ")
            ))
        })?;
        if !kernel.burns() {
            let burnable: Vec<&str> = kernels::REGISTRY
                .iter()
                .filter(|k| k.burns())
                .map(|k| k.id())
                .collect();
            return Err(Error::usage(format!(
                "burn: {} is a transfer, not a compute kernel the queue can be kept full of; use one of: {}",
                a.kernel,
                burnable.join(", ")
            )));
        }
        let shape = a
            .size
            .as_deref()
            .map(|s| kernels::parse_shape(kernel, s).map_err(Error::Usage))
            .transpose()?;
        let mut cases = vec![Case {
            kernel,
            // Resolved against the adapter when it is open (see `run`).
            shape: shape.unwrap_or_else(|| crate::burn::default_shape(kernel, None)),
            explicit: shape.is_some(),
        }];
        let (memory, require_coverage) = memory_arg(&a.memory, &mut cases, Suite::Quick)?;
        if a.check_every == Some(0) {
            return Err(Error::usage(
                "invalid --check-every 0: use a number of dispatches of at least 1",
            ));
        }
        if !a.max_drift.is_finite() || !(0.0..=100.0).contains(&a.max_drift) {
            return Err(Error::usage(format!(
                "invalid --max-drift {}: use a percentage from 0 to 100, e.g. 10",
                a.max_drift
            )));
        }
        let fault = fault_arg(a.faults.inject_fault.as_deref())?;
        match fault {
            None
            | Some(
                Fault::Slowdown | Fault::Stale | Fault::DeadCheck | Fault::SkipRepoison { .. },
            ) => {}
            Some(Fault::Shader(f)) if f.applies_to(kernel.shape_kind()) => {}
            Some(f) => {
                return Err(Error::usage(format!(
                    "--inject-fault {}: burn plants only slowdown, stale, dead-check, skip-repoison and the shader faults its kernel can plant",
                    f.name()
                )));
            }
        }
        let fault_dispatches = match fault {
            Some(Fault::Slowdown) => FaultDispatches::All,
            f => fault_dispatch_arg(f, a.faults.fault_dispatch.as_deref())?,
        };
        // Past the duration, a burn that has not finished is hung: the watchdog ends it
        // with what was measured.
        let timeout = timeout_arg(a.timeout)?
            .or_else(|| Some(duration + (duration / 5).max(Duration::from_secs(120))));
        let tuning = tuning_arg(a.tuning)?;
        let out = out_arg(&a.output)?;
        exports_arg(&a.output)?;
        let filter = filter_arg(a.adapter, a.cards.concurrent, false)?;
        all_cards_arg(&filter, &out, false)?;
        Ok(RunConfig {
            cases,
            suite: "burn".into(),
            seed: a.seed,
            check_seed: a.check_seed.unwrap_or_else(crate::inputs::fresh_seed),
            warmup: 0,
            iterations: 0,
            filter,
            require_hardware: a.require.require_hardware,
            require_tensor_cores: false,
            expect_vendor: a.require.expect_vendor.filter(|s| !s.is_empty()),
            checks: checks_arg(a.unchecked),
            out,
            json: a.output.json,
            export_bmf: None,
            export_metrics: a.output.export_metrics.clone(),
            export_junit: a.output.export_junit.clone(),
            timeout,
            input_scale: 1.0,
            fault,
            fault_dispatches,
            tuning,
            burn: Some(BurnSettings {
                duration,
                check_every: a.check_every,
                interval,
                keep_going: a.keep_going,
                max_drift_pct: a.max_drift,
                fail_on_throttle: a.fail_on_throttle,
                fault_at: a.fault_at,
                fault_after: Duration::try_from_secs_f64(a.fault_after).map_err(|_| {
                    Error::usage(format!(
                        "invalid GPU_CANARY_FAULT_AFTER {}: use seconds, at least 0",
                        a.fault_after
                    ))
                })?,
            }),
            memory,
            require_coverage,
            memtest_passes: memtest::passes(Suite::Quick),
            preflight: None,
        })
    }

    /// `gpu-canary preflight`: a small verified slice of every kernel class, bounded by
    /// the budget, with the card's and its state's steps before it (`run::worker`).
    pub fn from_preflight_args(a: PreflightArgs) -> Result<RunConfig> {
        if !a.budget.is_finite() || a.budget <= 0.0 || a.budget > 3600.0 {
            return Err(Error::usage(format!(
                "invalid --budget {}: use a positive number of seconds up to 3600, e.g. 10",
                a.budget
            )));
        }
        if let Some(n @ (0 | 1025..)) = a.expect_gpus {
            return Err(Error::usage(format!(
                "invalid --expect-gpus {n}: use 1 to 1024, the number of cards the job must see"
            )));
        }
        let budget = Duration::from_secs_f64(a.budget);
        let fault = fault_arg(a.faults.inject_fault.as_deref())?;
        let fault_dispatches = fault_dispatch_arg(fault, a.faults.fault_dispatch.as_deref())?;
        let out = out_arg(&a.output)?;
        exports_arg(&a.output)?;
        let filter = filter_arg(
            a.adapter,
            a.cards.concurrent,
            fault == Some(Fault::SoftwareAdapter),
        )?;
        all_cards_arg(&filter, &out, false)?;
        Ok(RunConfig {
            cases: preflight_cases(),
            suite: "preflight".into(),
            seed: crate::inputs::DEFAULT_SEED,
            check_seed: a.check_seed.unwrap_or_else(crate::inputs::fresh_seed),
            warmup: 1,
            iterations: 3,
            filter,
            require_hardware: a.require.require_hardware,
            require_tensor_cores: false,
            expect_vendor: a.require.expect_vendor.filter(|s| !s.is_empty()),
            checks: RuntimeChecks::Checked,
            out,
            json: a.output.json,
            export_bmf: None,
            export_metrics: a.output.export_metrics.clone(),
            export_junit: a.output.export_junit.clone(),
            timeout: Some(budget),
            input_scale: 1.0,
            fault,
            fault_dispatches,
            tuning: None,
            burn: None,
            memory: None,
            require_coverage: None,
            memtest_passes: PREFLIGHT_MEMTEST_PASSES,
            preflight: Some(crate::run::PreflightSettings {
                budget,
                expect_gpus: a.expect_gpus,
                expect_driver: a.expect_driver.filter(|s| !s.trim().is_empty()),
            }),
        })
    }
}

/// The memory test's passes in a preflight: the address pattern and its complement.
const PREFLIGHT_MEMTEST_PASSES: u32 = 2;

/// The preflight's slice of each kernel class: matmul-u32 exact, matmul-f32 on the exact
/// grid with its precision probe, a reduction, a device copy and both transfers, and the
/// memory test over 2 % of a card (64 MiB on a software or integrated adapter). Shapes
/// past the tiles' edges (not multiples of 16) so edge handling is in every slice.
fn preflight_cases() -> Vec<Case> {
    let case = |id: &str, shape: Shape| Case {
        kernel: kernels::find(id).expect("a registered kernel"),
        shape,
        explicit: false,
    };
    let mm = Shape::Matmul {
        m: 127,
        k: 129,
        n: 131,
    };
    let bytes = Shape::Bytes { bytes: 4 << 20 };
    let cases = vec![
        case("matmul-u32", mm),
        case("matmul-f32", mm),
        case("reduce-f32", Shape::Reduce { n: (1 << 20) + 3 }),
        case("copy-f32", bytes),
        case("upload", bytes),
        case("readback", bytes),
        case(
            "memtest",
            Shape::Memory(MemoryTarget::Share {
                hundredths: 200,
                software: 64 << 20,
            }),
        ),
    ];
    with_probes(cases, Suite::Quick)
}

/// The cases with, after each kernel's, its precision probe's (where it has one not
/// already chosen): reduced precision is invisible to the exact grid, so every run of a
/// kernel that computes in f32 also proves f32, at its own shape.
fn with_probes(cases: Vec<Case>, suite: Suite) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::with_capacity(cases.len() + 1);
    for (i, c) in cases.iter().enumerate() {
        out.push(*c);
        let last_of_kernel = cases
            .get(i + 1)
            .is_none_or(|n| n.kernel.id() != c.kernel.id());
        if let Some(probe) = c.kernel.probe().filter(|_| last_of_kernel)
            && !cases.iter().any(|o| o.kernel.id() == probe.id())
        {
            out.extend(probe.suite(suite).into_iter().map(|shape| Case {
                kernel: probe,
                shape,
                explicit: false,
            }));
        }
    }
    out
}

/// `--memory` and `--require-coverage`: the memory test's target set on its cases (a
/// share given by name applies on a software adapter too), the requirement checked; both
/// need the memory test among the cases.
fn memory_arg(
    m: &MemoryArgs,
    cases: &mut [Case],
    suite: Suite,
) -> Result<(Option<MemoryTarget>, Option<f64>)> {
    let has = cases.iter().any(|c| c.kernel.memory_test());
    let software = match suite {
        Suite::Quick => memtest::SOFTWARE_QUICK,
        Suite::Full => memtest::SOFTWARE_FULL,
    };
    let target = m
        .memory
        .as_deref()
        .map(|t| MemoryTarget::parse(t, software).map_err(Error::Usage))
        .transpose()?;
    if let Some(t) = target {
        if !has {
            return Err(Error::usage(
                "--memory sets the memory test's target; add memtest to --kernel (or drop --kernel)",
            ));
        }
        for c in cases.iter_mut().filter(|c| c.kernel.memory_test()) {
            c.shape = Shape::Memory(t);
            c.explicit = true;
        }
    }
    if let Some(p) = m.require_coverage {
        if !p.is_finite() || p <= 0.0 || p > 100.0 {
            return Err(Error::usage(format!(
                "invalid --require-coverage {p}: use a percentage above 0 and at most 100, e.g. 90"
            )));
        }
        if !has {
            return Err(Error::usage(
                "--require-coverage needs the memory test among the kernels; add memtest to --kernel (or drop --kernel)",
            ));
        }
    }
    Ok((target, m.require_coverage))
}

/// `--unchecked`.
fn checks_arg(unchecked: bool) -> RuntimeChecks {
    if unchecked {
        RuntimeChecks::Unchecked
    } else {
        RuntimeChecks::Checked
    }
}

/// `--tuning FILE`: the file and what it holds.
fn tuning_arg(path: Option<std::path::PathBuf>) -> Result<Option<(std::path::PathBuf, Tuning)>> {
    path.map(|p| Tuning::read(&p).map(|t| (p, t)).map_err(Error::Usage))
        .transpose()
}

/// `90`, `90s`, `10m`, `1h`: a positive duration of at most a week.
pub fn duration_arg(flag: &str, s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, unit) = t.split_at(
        t.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(t.len()),
    );
    let scale = match unit {
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    match num.parse::<f64>() {
        Ok(v) if scale.is_finite() && v > 0.0 && v * scale <= 7.0 * 86400.0 => {
            Ok(Duration::from_secs_f64(v * scale))
        }
        _ => Err(Error::usage(format!(
            "invalid {flag} '{s}': use seconds or a number with s, m or h, e.g. 20s or 10m"
        ))),
    }
}

/// Checks that `dir` can take the artifacts before any work is done: it must be a
/// directory (created if missing), writable, and hold no earlier result unless `force`.
pub fn prepare_out(dir: &Path, force: bool) -> Result<OutDir> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(Error::usage(format!(
            "--out {shown} is a file, not a directory; pass a directory path"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::usage(format!(
            "--out {shown}: cannot create the directory ({e}); pass a writable path"
        ))
    })?;
    let not_writable = |e: std::io::Error| {
        Error::usage(format!(
            "--out {shown} is not writable ({e}); pass a writable directory with free space"
        ))
    };
    // One run at a time: an advisory lock held for the whole run (released by the
    // kernel however the holder ends), whether or not --force is given.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.join(crate::export::LOCK))
        .map_err(not_writable)?;
    match lock.try_lock() {
        Ok(()) => {
            use std::io::Write;
            // The holder's pid, for the message a second run gets (best effort: a full
            // disk still gets its own message below).
            let _ = lock.set_len(0);
            let _ = (&lock).write_all(std::process::id().to_string().as_bytes());
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(dir.join(crate::export::LOCK))
                .ok()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "unknown".to_owned());
            return Err(Error::usage(format!(
                "--out {shown} is in use by another gpu-canary run (pid {pid}); wait for it to end or pass another directory"
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(not_writable(e)),
    }
    let out = OutDir {
        dir: dir.to_path_buf(),
        lock: std::sync::Arc::new(lock),
    };
    if out.result().exists() && !force {
        return Err(Error::usage(format!(
            "--out {shown} already holds a result.json; pass another directory, or --force to overwrite it"
        )));
    }
    // A probe write of a realistic size catches read-only and full filesystems now,
    // rather than after minutes of measurement.
    let probe = dir.join(crate::export::temp_name());
    let res = std::fs::write(&probe, vec![b' '; 64 * 1024])
        .and_then(|_| std::fs::File::open(&probe)?.sync_all());
    let _ = std::fs::remove_file(&probe);
    res.map_err(not_writable)?;
    Ok(out)
}

/// `--export-metrics` and `--export-junit`, checked before any work.
fn exports_arg(o: &OutputArgs) -> Result<()> {
    if let Some(p) = &o.export_metrics {
        probe_file("--export-metrics", p)?;
    }
    if let Some(p) = &o.export_junit {
        probe_file("--export-junit", p)?;
    }
    Ok(())
}

/// A file an artifact will be written to, checked before any work: not a directory, in
/// a directory that exists and takes a file.
fn probe_file(flag: &str, path: &Path) -> Result<()> {
    let shown = path.display();
    if path.is_dir() {
        return Err(Error::usage(format!(
            "{flag} {shown} names a directory; give a file path, e.g. bmf.json"
        )));
    }
    // A device or a link (/dev/stdout) is written in place, as is.
    if path.exists() && !path.is_file() {
        return Ok(());
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The name itself: one the directory cannot hold would fail only after the suite.
    let name_len = path.file_name().map_or(0, |n| n.len());
    let name_max = name_max(dir);
    if name_len > name_max {
        return Err(Error::usage(format!(
            "{flag} {shown}: the file name is {name_len} bytes, over this filesystem's limit of {name_max}; give a shorter name"
        )));
    }
    let probe = dir.join(crate::export::temp_name());
    let res = std::fs::write(&probe, b"probe");
    let _ = std::fs::remove_file(&probe);
    res.map_err(|e| {
        Error::usage(format!(
            "{flag} {shown}: cannot write in {} ({e}); give a path in a writable directory",
            dir.display()
        ))
    })
}

/// The longest file name `dir`'s filesystem takes (NAME_MAX; 255 where it cannot be read).
fn name_max(dir: &Path) -> usize {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 255;
    };
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let n = unsafe { libc::pathconf(c.as_ptr(), libc::_PC_NAME_MAX) };
    if n > 0 { n as usize } else { 255 }
}

/// `--kernel` values, in order, without repeats; each must be one of `allowed`, or
/// `unknown` says why not.
fn kernel_args(
    given: &[String],
    allowed: &[&str],
    unknown: impl Fn(&str) -> String,
) -> Result<Vec<&'static dyn Kernel>> {
    let mut out: Vec<&'static dyn Kernel> = Vec::new();
    for id in given.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let k = kernels::find(id)
            .filter(|k| allowed.contains(&k.id()))
            .ok_or_else(|| Error::usage(unknown(id)))?;
        if !out.iter().any(|s| s.id() == k.id()) {
            out.push(k);
        }
    }
    Ok(out)
}

/// `--out` checked before any work is done (see [`prepare_out`]).
fn out_arg(o: &OutputArgs) -> Result<Option<OutDir>> {
    o.out
        .as_ref()
        .map(|dir| prepare_out(dir, o.force))
        .transpose()
}

/// `--adapter all` writes a result per card under `--out`, and the Bencher file of one
/// run has no place for several cards.
fn all_cards_arg(filter: &AdapterFilter, out: &Option<OutDir>, bmf: bool) -> Result<()> {
    if filter.all && out.is_none() {
        return Err(Error::usage(
            "--adapter all writes each card's result under --out DIR/<card>/; add --out DIR",
        ));
    }
    if filter.all && bmf {
        return Err(Error::usage(
            "--export-bmf holds one run; with --adapter all, export each card's result from DIR/<card>/result.json",
        ));
    }
    Ok(())
}

/// `--backend` and `--adapter` as an adapter filter; an empty name is no filter.
fn filter_arg(a: AdapterArgs, concurrent: bool, software_only: bool) -> Result<AdapterFilter> {
    let name = a.adapter.filter(|s| !s.is_empty());
    let all = name
        .as_deref()
        .is_some_and(|n| n.eq_ignore_ascii_case("all"));
    if concurrent && !all {
        return Err(Error::usage(
            "--concurrent runs the cards of --adapter all at once; add --adapter all or drop it",
        ));
    }
    Ok(AdapterFilter {
        backends: backends_arg(a.backend.as_deref())?,
        name: name.filter(|_| !all),
        software_only,
        all,
        concurrent,
    })
}

/// `--backend` (or `WGPU_BACKEND`) as given on the command line: absent means every
/// backend; a bad value is a usage error naming it.
pub fn backends_arg(arg: Option<&str>) -> Result<Option<wgpu::Backends>> {
    arg.map(crate::gpu::parse_backend)
        .transpose()
        .map_err(|e| Error::usage(format!("invalid --backend/WGPU_BACKEND: {e}")))
}

/// `--timeout` in seconds: positive, at most a week.
fn timeout_arg(t: Option<f64>) -> Result<Option<Duration>> {
    match t {
        None => Ok(None),
        Some(t) if t.is_finite() && t > 0.0 && t <= 7.0 * 86400.0 => {
            Ok(Some(Duration::from_secs_f64(t)))
        }
        Some(t) => Err(Error::usage(format!(
            "invalid --timeout {t}: use a positive number of seconds up to 604800 (7 days), e.g. 600"
        ))),
    }
}

/// `--fault-dispatch` (or `GPU_CANARY_FAULT_DISPATCH`), tests only: which dispatches the
/// planted fault hits. Faults compiled into a kernel's shader hit every dispatch.
fn fault_dispatch_arg(fault: Option<Fault>, arg: Option<&str>) -> Result<FaultDispatches> {
    let Some(arg) = arg.filter(|s| !s.is_empty()) else {
        return Ok(FaultDispatches::All);
    };
    let at = FaultDispatches::parse(arg).map_err(Error::Usage)?;
    match fault {
        _ if at == FaultDispatches::All => Ok(at),
        Some(Fault::Stale | Fault::SkipRepoison { .. } | Fault::CorruptGolden) => Ok(at),
        Some(Fault::Shader(f)) if f.switch().is_empty() => Ok(at),
        _ => Err(Error::usage(format!(
            "--fault-dispatch {arg}: only stale and the planted faults (add, xor, zero-row) hit chosen dispatches; the kernels' own switches hit every dispatch, and the host's faults where they always do"
        ))),
    }
}

/// `--inject-fault` (or `GPU_CANARY_INJECT_FAULT`), tests only.
fn fault_arg(arg: Option<&str>) -> Result<Option<Fault>> {
    arg.filter(|s| !s.is_empty())
        .map(Fault::parse)
        .transpose()
        .map_err(Error::Usage)
}

impl AdaptersConfig {
    pub fn from_args(a: AdaptersArgs) -> Result<AdaptersConfig> {
        Ok(AdaptersConfig {
            json: a.json,
            backends: backends_arg(a.backend.as_deref())?,
        })
    }
}

impl CompareConfig {
    pub fn from_args(a: CompareArgs) -> Result<CompareConfig> {
        if !a.threshold.is_finite() || a.threshold <= 0.0 || a.threshold >= 100.0 {
            return Err(Error::usage(format!(
                "invalid --threshold {}: use a percentage between 0 and 100, e.g. 5",
                a.threshold
            )));
        }
        let (baselines, current) = match (a.baseline.is_empty(), &a.files[..]) {
            (true, [b, c]) => (vec![b.clone()], c.clone()),
            (false, [c]) => (a.baseline, c.clone()),
            (true, _) => {
                return Err(Error::usage(
                    "compare needs a baseline: BASELINE CURRENT, or --baseline FILE_OR_DIR CURRENT",
                ));
            }
            (false, _) => {
                return Err(Error::usage(
                    "compare --baseline takes one CURRENT file after it; give more baselines as --baseline again",
                ));
            }
        };
        Ok(CompareConfig {
            baselines,
            current,
            threshold_pct: a.threshold,
            format: match a.format {
                FormatArg::Text => Format::Text,
                FormatArg::Md => Format::Md,
                FormatArg::Json => Format::Json,
            },
            allow_different_adapter: a.allow_different_adapter,
            export_metrics: a
                .export_metrics
                .map(|p| probe_file("--export-metrics", &p).map(|_| p))
                .transpose()?,
        })
    }
}

impl HistoryConfig {
    pub fn from_args(a: HistoryArgs) -> Result<HistoryConfig> {
        Ok(HistoryConfig {
            inputs: a.inputs,
            svg: a.svg,
            md: a.md,
        })
    }
}

impl TuneConfig {
    pub fn from_args(a: TuneArgs) -> Result<TuneConfig> {
        if a.iterations == 0 || a.iterations > 100_000 {
            return Err(Error::usage(format!(
                "tune: invalid --iterations {}: use 1 to 100000",
                a.iterations
            )));
        }
        let fault = match fault_arg(a.faults.inject_fault.as_deref())? {
            Some(f) if !f.every_case() => {
                return Err(Error::usage(format!(
                    "tune: --inject-fault {}: only faults of the GPU's output apply to tune",
                    f.name()
                )));
            }
            f => f,
        };
        let tunable: Vec<&str> = kernels::tunable().iter().map(|k| k.id()).collect();
        let named = kernel_args(&a.kernel, &tunable, |id| {
            format!(
                "tune: no tunable kernel '{id}'; choose from {}",
                tunable.join(", ")
            )
        })?;
        let chosen = if named.is_empty() {
            kernels::tunable()
        } else {
            named.clone()
        };
        // Each --size belongs to the kernels of its kind: MxKxN to matmul, N to reduce,
        // bytes (e.g. 64MiB) to the copies.
        let mut sizes: BTreeMap<&str, Shape> = BTreeMap::new();
        for size in &a.size {
            let kind = Shape::kind_of(size);
            if !chosen.iter().any(|k| k.shape_kind() == kind) {
                let ids: Vec<&str> = chosen.iter().map(|k| k.id()).collect();
                return Err(Error::usage(format!(
                    "tune: --size {size} fits none of the kernels being tuned ({}); choose them with --kernel",
                    ids.join(", ")
                )));
            }
            let shape = Shape::parse(kind, size).map_err(|e| Error::usage(format!("tune: {e}")))?;
            for k in chosen.iter().filter(|k| k.shape_kind() == kind) {
                k.check_shape(shape)
                    .map_err(|e| Error::usage(format!("tune: {e}")))?;
                if sizes.insert(k.id(), shape).is_some() {
                    return Err(Error::usage(format!(
                        "tune: two --size values for {}; give one shape per kind",
                        k.id()
                    )));
                }
            }
        }
        let filter = filter_arg(a.adapter, false, false)?;
        if filter.all {
            return Err(Error::usage(
                "tune: --adapter all is for run, burn and preflight; tune one card at a time (its PCI address or name)",
            ));
        }
        Ok(TuneConfig {
            kernels: chosen
                .into_iter()
                .map(|k| (k, sizes.get(k.id()).copied()))
                .collect(),
            named: !named.is_empty(),
            iterations: a.iterations,
            filter,
            require_hardware: a.require.require_hardware,
            expect_vendor: a.require.expect_vendor.filter(|s| !s.is_empty()),
            out: a.out,
            timeout: timeout_arg(a.timeout)?,
            fault_dispatches: fault_dispatch_arg(fault, a.faults.fault_dispatch.as_deref())?,
            fault,
        })
    }
}

impl crate::reproduce::ReproduceConfig {
    pub fn from_args(a: ReproduceArgs) -> Result<crate::reproduce::ReproduceConfig> {
        if !(1..=100).contains(&a.times) {
            return Err(Error::usage(format!(
                "invalid --times {}: use 1 to 100",
                a.times
            )));
        }
        if !a.result.is_file() {
            return Err(Error::usage(format!(
                "{}: no such file; give the result.json of a failed run",
                a.result.display()
            )));
        }
        Ok(crate::reproduce::ReproduceConfig {
            result: a.result,
            times: a.times,
            out: a.out,
        })
    }
}
