//! Command-line flags (clap derive). The only module that knows clap: flags are parsed
//! here; `config` turns them into plain values (this module imports nothing of it).
//!
//! A flag's doc comment is a short first line (`-h`), a blank line, then the paragraph
//! (`--help`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// The help headings the flags sit under.
const ADAPTER: &str = "Adapter";
const SUITE: &str = "Suite and shapes";
const CHECKS: &str = "Checks";
const OUTPUT: &str = "Output and exports";
const TIMING: &str = "Timing and limits";

/// Under `-h`: the codes in one breath, each explained under `--help`.
pub const EXIT_CODES_SHORT: &str = "\
Exit codes: 0 verified, 1 wrong result, 2 bad usage, 3 environment, 4 slower, 5 drift,
6 inconclusive, 130/143 signal (--help says which command gives which, and when)";

pub const EXIT_CODES: &str = "\
Exit codes:
  0    every kernel verified; compare: no regression; tune, history, adapters: done
  1    a kernel's result was wrong on any dispatch, or not reproducible; tune: a
       configuration computed a wrong result; compare: a kernel is wrong now, or an
       exact checksum changed
  2    bad usage or input (the message names the value and the fix); history: no
       readable result
  3    environment failure: no adapter, software adapter where hardware is required,
       another GPU than expected, missing tensor cores when required, device lost,
       shader or pipeline failure, out of memory, timeout, every case skipped; an
       artifact that could not be written (a full disk; stdout under --json);
       history: the chart or table cannot be written; adapters: no adapter found
  4    compare: a kernel is slower than the baseline
  5    burn: throughput drifted beyond --max-drift with no throttle to explain it
  6    compare: inconclusive, the current run stopped early or never finished
  130  cancelled by SIGINT (partial artifacts written)
  143  cancelled by SIGTERM (partial artifacts written)";

/// The seeds' range, for the message a bad one gets.
const SEEDS: &str = "from 0 to 18446744073709551615";

/// A whole number of type `T`, or the range every bad one is told (a leading minus
/// sign reaches here as a value, so `-3` is answered with the range, not "unexpected
/// argument").
fn whole<T: std::str::FromStr>(
    range: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |s| {
        s.trim()
            .parse::<T>()
            .map_err(|_| format!("use a whole number {range}"))
    }
}

#[derive(Debug, Parser)]
#[command(name = "gpu-canary", version = env!("GPU_CANARY_LONG_VERSION"), about = "A GPU canary: deterministic WGSL kernels on a headless wgpu adapter, verified against CPU references, timed, with artifacts CI can act on.", after_help = EXIT_CODES_SHORT, after_long_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every adapter wgpu can see, on every backend (the lane's bootstrap check).
    Adapters(AdaptersArgs),
    /// Run the canary: kernels on one adapter, verified and timed.
    #[command(after_help = EXIT_CODES_SHORT, after_long_help = EXIT_CODES)]
    Run(RunArgs),
    /// Compare a run with a baseline run, or with a window of them: per-kernel
    /// performance and correctness verdicts.
    #[command(after_help = EXIT_CODES_SHORT, after_long_help = EXIT_CODES)]
    Compare(CompareArgs),
    /// Chart many result.json files over time (SVG) with a Markdown table.
    History(HistoryArgs),
    /// List the kernels and their default shapes.
    Kernels(KernelsArgs),
    /// Sweep launch parameters on this adapter, verify and time each, and write the best
    /// as a tuning file for `run --tuning`.
    Tune(TuneArgs),
    /// Burn in a host: one kernel kept busy for a duration, its result checked at
    /// least once per second of GPU work, with clocks, temperature and power on the
    /// trace.
    #[command(after_help = EXIT_CODES_SHORT, after_long_help = EXIT_CODES)]
    Burn(BurnArgs),
    /// The lane's health gate before a job, in seconds: the card (hardware, vendor,
    /// count, driver), its state (ECC, row remapping, RAS, AER, PCIe link) and a
    /// verified slice of every kernel class, within --budget.
    #[command(after_help = "Exit codes: 0 every step passed, 1 a wrong slice, 2 bad usage, 3 a card or state step\nfailed or the budget ran out, 130/143 signal (--help says more)", after_long_help = PREFLIGHT_EXIT_CODES)]
    Preflight(PreflightArgs),
    /// Run each failed case of a result again on the same card, N times, with its
    /// recorded seeds and shape: permanent, intermittent or not reproduced, and what to
    /// do.
    #[command(after_help = "Exit codes: 0 not reproduced, 1 wrong again, 2 bad usage, 3 a rerun could not run\n(--help says more)", after_long_help = REPRODUCE_EXIT_CODES)]
    Reproduce(ReproduceArgs),
    /// Print a shell's completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print a man page (roff): gpu-canary's, or a command's (`gpu-canary man run`).
    Man(ManArgs),
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The command whose page to print (gpu-canary-COMMAND(1)); default: gpu-canary(1).
    pub command: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

pub const REPRODUCE_EXIT_CODES: &str = "\
Exit codes:
  0    no rerun was wrong (not reproduced: a one-off)
  1    a case was wrong again (permanent or intermittent)
  2    bad usage: the result has no failed case, is unreadable, or the rerun ran on
       another card
  3    a rerun could not run or left no result";

#[derive(Debug, clap::Args)]
pub struct ReproduceArgs {
    /// The result.json whose failed cases are run again.
    pub result: PathBuf,
    /// Reruns of each failed case, 1 to 100.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true, value_parser = whole::<u32>("from 1 to 100"))]
    pub times: u32,
    /// Where the reruns' results and reproduce.json go.
    #[arg(long, value_name = "DIR", default_value = "reproduce")]
    pub out: PathBuf,
}

pub const PREFLIGHT_EXIT_CODES: &str = "\
Exit codes:
  0    every step passed (a value that could not be read is named as not read)
  1    a kernel slice computed a wrong result
  2    bad usage
  3    a card or state step failed (software adapter under --require-hardware,
       another vendor or driver, fewer GPUs than --expect-gpus, uncorrectable ECC
       errors, pending row remaps or retired pages, a remap failure, AMD RAS or PCIe
       AER fatal errors, a degraded PCIe link), or the budget ran out (inconclusive)
  130  cancelled by SIGINT
  143  cancelled by SIGTERM";

#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub adapter: AdapterArgs,
    /// Exit 3 unless this many GPUs are seen.
    ///
    /// Fail (exit 3) unless this many GPUs are seen: the cards --adapter all covers
    /// (hardware only under --require-hardware), told apart by PCI address.
    #[arg(long, value_name = "N", help_heading = ADAPTER, allow_negative_numbers = true, value_parser = whole::<u32>("from 1 to 1024"))]
    pub expect_gpus: Option<u32>,
    /// Exit 3 on another driver (a pin).
    ///
    /// Fail (exit 3) unless the adapter's driver strings contain this text (a pin,
    /// e.g. 550.54).
    #[arg(long, value_name = "TEXT", help_heading = ADAPTER, env = "GPU_CANARY_EXPECT_DRIVER")]
    pub expect_driver: Option<String>,
    #[command(flatten)]
    pub cards: CardsArgs,
    #[command(flatten)]
    pub require: RequireArgs,
    /// Seed of the check vectors.
    ///
    /// Seed of the check vectors (default: fresh from the OS).
    #[arg(long, value_name = "N", help_heading = CHECKS, allow_negative_numbers = true, value_parser = whole::<u64>(SEEDS))]
    pub check_seed: Option<u64>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Bound the whole preflight, in seconds.
    ///
    /// Bound the whole preflight, in seconds; past it the verdict is inconclusive (exit
    /// 3), never a pass.
    #[arg(long, value_name = "SECONDS", help_heading = TIMING, default_value_t = 10.0, allow_negative_numbers = true)]
    pub budget: f64,
    #[command(flatten)]
    pub faults: FaultArgs,
}

#[derive(Debug, clap::Args)]
pub struct BurnArgs {
    #[command(flatten)]
    pub adapter: AdapterArgs,
    #[command(flatten)]
    pub cards: CardsArgs,
    #[command(flatten)]
    pub require: RequireArgs,
    /// The kernel to keep busy.
    ///
    /// The kernel to keep busy (default matmul-f32; copy-f32 loads memory bandwidth,
    /// memtest the device's memory, with --memory).
    #[arg(long, value_name = "K", help_heading = SUITE, default_value = "matmul-f32")]
    pub kernel: String,
    /// Its shape.
    ///
    /// Its shape (default: the largest of the full suite on a GPU, of the quick suite
    /// on a software adapter).
    #[arg(long, value_name = "SIZE", help_heading = SUITE)]
    pub size: Option<String>,
    /// Seed of the input generator.
    #[arg(long, value_name = "N", help_heading = SUITE, default_value_t = crate::inputs::DEFAULT_SEED, allow_negative_numbers = true, value_parser = whole::<u64>(SEEDS))]
    pub seed: u64,
    /// Launch parameters from `gpu-canary tune`.
    ///
    /// Launch parameters from `gpu-canary tune`, applied when made on this adapter.
    #[arg(long, value_name = "FILE", help_heading = SUITE)]
    pub tuning: Option<PathBuf>,
    #[command(flatten)]
    pub memory: MemoryArgs,
    /// Dispatches between checks against the CPU.
    ///
    /// Dispatches between checks against the CPU reference (default: half a second of
    /// GPU work); 1 or more.
    #[arg(long, value_name = "N", help_heading = CHECKS, allow_negative_numbers = true, value_parser = whole::<u64>("of at least 1"))]
    pub check_every: Option<u64>,
    /// Go on after a wrong result.
    ///
    /// Go on after a wrong result, counting every one (default: stop at the first).
    #[arg(long, help_heading = CHECKS)]
    pub keep_going: bool,
    /// Seed of the check vectors.
    ///
    /// Seed of the check vectors (default: fresh from the OS).
    #[arg(long, value_name = "N", help_heading = CHECKS, allow_negative_numbers = true, value_parser = whole::<u64>(SEEDS))]
    pub check_seed: Option<u64>,
    /// Compile without naga's runtime bounds checks.
    ///
    /// Compile without naga's runtime bounds checks (see `run --unchecked`).
    #[arg(long, help_heading = CHECKS)]
    pub unchecked: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    /// How long to burn (90s, 10m, 1h).
    ///
    /// How long to burn: seconds, or with a unit (90s, 10m, 1h).
    #[arg(long, value_name = "DURATION", help_heading = TIMING, default_value = "10m")]
    pub duration: String,
    /// Length of the reported intervals.
    ///
    /// Length of the reported intervals: seconds or with a unit.
    #[arg(long, value_name = "DURATION", help_heading = TIMING, default_value = "10s")]
    pub interval: String,
    /// Largest throughput drop, in percent.
    ///
    /// Largest drop of throughput, in percent, from the first minute to the last,
    /// before the burn fails (exit 5) when no throttle explains it.
    #[arg(long, value_name = "PCT", help_heading = TIMING, default_value_t = 10.0, allow_negative_numbers = true)]
    pub max_drift: f64,
    /// A drift fails even with a throttle recorded.
    ///
    /// A drop beyond --max-drift fails (exit 5) even with a throttle recorded.
    #[arg(long, help_heading = TIMING)]
    pub fail_on_throttle: bool,
    /// Bound the whole burn, in seconds.
    ///
    /// Bound the whole burn, in seconds (default: the duration plus a fifth, at least
    /// two minutes more); every GPU wait is bounded by what is left.
    #[arg(long, value_name = "SECONDS", help_heading = TIMING, allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    #[command(flatten)]
    pub faults: FaultArgs,
    /// The planted fault appears from this dispatch on (testing only).
    #[arg(long, hide = true, env = "GPU_CANARY_FAULT_AT", default_value_t = 0, allow_negative_numbers = true, value_parser = whole::<u64>("of at least 0"))]
    pub fault_at: u64,
    /// ... and not before this many seconds into the burn (testing only).
    #[arg(
        long,
        hide = true,
        env = "GPU_CANARY_FAULT_AFTER",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub fault_after: f64,
}

/// The test-only fault switches (hidden): a fault planted on the GPU side, to prove the
/// verdicts (see kernels::fault). Parsed once, here, for every command that runs
/// kernels.
#[derive(Debug, Default, clap::Args)]
pub struct FaultArgs {
    /// Plant a fault (testing only; see kernels::fault).
    #[arg(long, hide = true, env = "GPU_CANARY_INJECT_FAULT")]
    pub inject_fault: Option<String>,
    /// The dispatches the planted fault hits (testing only): N, timed:N, every:K.
    #[arg(long, hide = true, env = "GPU_CANARY_FAULT_DISPATCH")]
    pub fault_dispatch: Option<String>,
}

/// Which adapter (run, burn, tune).
#[derive(Debug, clap::Args)]
pub struct AdapterArgs {
    /// Backend to use: vulkan, gl, metal, dx12.
    #[arg(long, value_name = "BACKEND", help_heading = ADAPTER, env = "WGPU_BACKEND")]
    pub backend: Option<String>,
    /// A part of its name, a PCI address, or all.
    ///
    /// Use the adapter whose name contains this (case-insensitive), or the one at this
    /// PCI address (0000:17:00.0: one card of several alike); `all` (run, burn,
    /// preflight): every card once, each into --out DIR/<card>/, with a combined result.
    #[arg(long, value_name = "TEXT|all", help_heading = ADAPTER, env = "WGPU_ADAPTER_NAME")]
    pub adapter: Option<String>,
}

/// How `--adapter all` runs its cards (run, burn, preflight).
#[derive(Debug, clap::Args)]
pub struct CardsArgs {
    /// With --adapter all: the cards at once.
    ///
    /// With --adapter all: run the cards at the same time instead of one after another.
    #[arg(long, help_heading = ADAPTER)]
    pub concurrent: bool,
}

/// What the adapter must be, else exit 3 (run, burn).
#[derive(Debug, clap::Args)]
pub struct RequireArgs {
    /// Refuse a software adapter (exit 3).
    ///
    /// Refuse a software adapter: exit 3. Known by name, driver or vendor id whatever
    /// device type it reports: llvmpipe, lavapipe, softpipe, SwiftShader, WARP
    /// ("Microsoft Basic Render Driver"), and any of type cpu.
    #[arg(long, help_heading = ADAPTER)]
    pub require_hardware: bool,
    /// Exit 3 on another vendor.
    ///
    /// Fail (exit 3) unless the adapter is from this vendor (nvidia, amd, intel, ...) or
    /// its name contains this text.
    #[arg(long, value_name = "VENDOR", help_heading = ADAPTER, env = "GPU_CANARY_EXPECT_VENDOR")]
    pub expect_vendor: Option<String>,
}

/// How much of the device's memory the memory test covers (run, burn).
#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// The memory test's target (90%, 8GiB).
    ///
    /// The memory test's target: a share of the device's memory (90%) or a size
    /// (256MiB, 8GiB) [default: 90% of a card; 256MiB in the quick suite and 1GiB in the
    /// full one on a software or integrated adapter, whose memory is the host's].
    #[arg(long, value_name = "TARGET", help_heading = SUITE)]
    pub memory: Option<String>,
    /// Inconclusive unless the memtest covered PCT %.
    ///
    /// Unless the memory test covered at least PCT percent of the device's memory, the
    /// verdict is inconclusive (exit 3), never a pass.
    #[arg(long, help_heading = CHECKS, value_name = "PCT", allow_negative_numbers = true)]
    pub require_coverage: Option<f64>,
}

/// Where the result goes (run, burn).
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Write result.json, trace.json and summary.md here.
    #[arg(long, value_name = "DIR", help_heading = OUTPUT)]
    pub out: Option<PathBuf>,
    /// Overwrite an existing result in --out.
    #[arg(long, help_heading = OUTPUT)]
    pub force: bool,
    /// Print the result document on stdout.
    ///
    /// Print the result document on stdout instead of the human summary.
    #[arg(long, help_heading = OUTPUT)]
    pub json: bool,
    /// Prometheus metrics to this file.
    ///
    /// Also write the verdict and measurements as Prometheus metrics (OpenMetrics text)
    /// to this file, atomically: for node_exporter's textfile collector or a Pushgateway.
    #[arg(long, value_name = "FILE", help_heading = OUTPUT)]
    pub export_metrics: Option<PathBuf>,
    /// JUnit XML to this file.
    ///
    /// Also write a JUnit XML report (a test case per kernel and shape) to this file.
    #[arg(long, value_name = "FILE", help_heading = OUTPUT)]
    pub export_junit: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct KernelsArgs {
    /// Print JSON instead of text.
    ///
    /// Print JSON (each kernel's id, shapes per suite, needs, tunable) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AdaptersArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only these backends (comma-separated).
    ///
    /// Only these backends (vulkan, gl, metal, dx12; comma-separated).
    #[arg(long, value_name = "BACKEND", env = "WGPU_BACKEND")]
    pub backend: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SuiteArg {
    /// A few shapes of each kernel; seconds on a software adapter.
    Quick,
    /// Shapes that load a datacenter GPU.
    Full,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub adapter: AdapterArgs,
    /// Exit 3 instead of skipping matmul-f16.
    ///
    /// Fail (exit 3) instead of skipping matmul-f16 when tensor cores are unavailable.
    #[arg(long, help_heading = ADAPTER)]
    pub require_tensor_cores: bool,
    #[command(flatten)]
    pub cards: CardsArgs,
    #[command(flatten)]
    pub require: RequireArgs,
    /// Kernels to run (default: the whole suite).
    ///
    /// Kernels to run (repeat or comma-separate); default: the whole suite.
    #[arg(long, value_name = "K", help_heading = SUITE, value_delimiter = ',')]
    pub kernel: Vec<String>,
    /// Shape for the selected kernels.
    ///
    /// Shape for the selected kernels: MxKxN for matmul, N for reduce, bytes for the
    /// copies (4194304, 4MiB, 1GiB; a multiple of 4).
    #[arg(long, value_name = "SIZE", help_heading = SUITE)]
    pub size: Option<String>,
    /// Default shapes: quick or full.
    ///
    /// Which default shapes to run when --size is not given: quick (seconds on a
    /// software adapter) or full (shapes that load a datacenter GPU).
    #[arg(long, hide_possible_values = true, help_heading = SUITE, value_enum, default_value_t = SuiteArg::Quick)]
    pub suite: SuiteArg,
    /// Seed of the input generator.
    ///
    /// Seed of the input generator (same seed, same inputs, on every machine).
    #[arg(long, value_name = "N", help_heading = SUITE, default_value_t = crate::inputs::DEFAULT_SEED, allow_negative_numbers = true, value_parser = whole::<u64>(SEEDS))]
    pub seed: u64,
    /// Inputs are uniform in [-SCALE, SCALE).
    ///
    /// Inputs are uniform in [-SCALE, SCALE), SCALE from 1e-6 to 65504.
    #[arg(long, value_name = "S", help_heading = SUITE, default_value_t = 1.0, allow_negative_numbers = true)]
    pub input_scale: f32,
    /// Launch parameters from `gpu-canary tune`.
    ///
    /// Launch parameters from `gpu-canary tune`, applied when made on this adapter.
    #[arg(long, value_name = "FILE", help_heading = SUITE)]
    pub tuning: Option<PathBuf>,
    #[command(flatten)]
    pub memory: MemoryArgs,
    /// Seed of the check vectors.
    ///
    /// Seed of the check vectors (default: fresh from the OS each run; the one used is
    /// recorded in result.json as config.check_seed, and this replays it).
    #[arg(long, value_name = "N", help_heading = CHECKS, allow_negative_numbers = true, value_parser = whole::<u64>(SEEDS))]
    pub check_seed: Option<u64>,
    /// Compile without naga's runtime bounds checks.
    ///
    /// Compile kernels without naga's runtime bounds checks (their indices are proven
    /// in range by the host); recorded in the result.
    #[arg(long, help_heading = CHECKS)]
    pub unchecked: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Bencher Metric Format to this file.
    ///
    /// Also write Bencher Metric Format to this file: latency (median ns per dispatch,
    /// with its 95 % interval from 6 samples on) and throughput per kernel/shape.
    #[arg(long, value_name = "FILE", help_heading = OUTPUT)]
    pub export_bmf: Option<PathBuf>,
    /// Untimed executions before sampling.
    ///
    /// Untimed executions before sampling, 0 to 100000 (at least one always runs, for
    /// the determinism check) [default: 2 in the quick suite, 5 in the full one].
    #[arg(long, value_name = "N", help_heading = TIMING, allow_negative_numbers = true, value_parser = whole::<u32>("from 0 to 100000"))]
    pub warmup: Option<u32>,
    /// Timed executions per kernel and shape.
    ///
    /// Timed executions per kernel and shape, 1 to 100000 [default: 30 in the quick
    /// suite, 50 in the full one].
    #[arg(long, value_name = "N", help_heading = TIMING, allow_negative_numbers = true, value_parser = whole::<u32>("from 1 to 100000"))]
    pub iterations: Option<u32>,
    /// Bound the whole run, in seconds.
    ///
    /// Bound the whole run, in seconds; every GPU wait is bounded by what is left.
    #[arg(long, value_name = "SECONDS", help_heading = TIMING, allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    #[command(flatten)]
    pub faults: FaultArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Md,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Baseline runs: a result file or a folder (repeat).
    ///
    /// Baseline runs: a result file or a folder of them (repeat). With five or more
    /// comparable runs the verdict is judged against their run-to-run spread.
    #[arg(long)]
    pub baseline: Vec<PathBuf>,
    /// BASELINE CURRENT, or CURRENT alone after --baseline.
    #[arg(required = true, num_args = 1..=2, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Practical threshold in percent.
    ///
    /// Practical threshold in percent, above 0 and below 100: smaller changes are
    /// `unchanged`.
    #[arg(long, default_value_t = crate::model::comparison::DEFAULT_THRESHOLD_PCT, allow_negative_numbers = true)]
    pub threshold: f64,
    /// Output: text, Markdown or JSON.
    ///
    /// Output: a text table, Markdown (also appended to $GITHUB_STEP_SUMMARY), or JSON.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Compare even when the adapters differ.
    ///
    /// Compare timings even when the adapter fingerprints differ.
    #[arg(long)]
    pub allow_different_adapter: bool,
    /// Prometheus metrics to this file.
    ///
    /// Also write the finding and each kernel's verdict as Prometheus metrics
    /// (OpenMetrics text) to this file, atomically.
    #[arg(long)]
    pub export_metrics: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// result.json files, or directories searched for them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Where to write the chart.
    #[arg(long)]
    pub svg: PathBuf,
    /// Where to write the Markdown table (default: stdout).
    #[arg(long)]
    pub md: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub adapter: AdapterArgs,
    #[command(flatten)]
    pub require: RequireArgs,
    /// Kernels to tune.
    ///
    /// Kernels to tune (repeat or comma-separate); default: matmul-f32, matmul-u32,
    /// reduce-f32, copy-f32, and matmul-f16 where the adapter can run it.
    #[arg(long, value_name = "K", help_heading = SUITE, value_delimiter = ',')]
    pub kernel: Vec<String>,
    /// Shape to time each configuration at.
    ///
    /// Shape to time each configuration at: MxKxN for the matmul kernels, N for reduce,
    /// bytes for copy-f32 (4194304, 64MiB); one of each kind (repeat or
    /// comma-separate). Default: each kernel's largest shape of the full suite, or of
    /// the quick suite on a software adapter.
    #[arg(long, value_name = "SIZE", help_heading = SUITE, value_delimiter = ',')]
    pub size: Vec<String>,
    /// Where to write the tuning file.
    #[arg(long, value_name = "FILE", help_heading = OUTPUT, default_value = "tune.json")]
    pub out: PathBuf,
    /// Timed executions per configuration.
    ///
    /// Timed executions per configuration, 1 to 100000.
    #[arg(long, value_name = "N", help_heading = TIMING, default_value_t = 20, allow_negative_numbers = true, value_parser = whole::<u32>("from 1 to 100000"))]
    pub iterations: u32,
    /// Bound the whole sweep, in seconds.
    ///
    /// Bound the whole sweep, in seconds; every GPU wait is bounded by what is left, and
    /// what was measured by then is written (exit 3).
    #[arg(long, value_name = "SECONDS", help_heading = TIMING, allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    #[command(flatten)]
    pub faults: FaultArgs,
}
