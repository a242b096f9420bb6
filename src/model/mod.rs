//! `RunReport`: the one type that the exporters and `compare` see. It is serialised as
//! `result.json`, and its JSON Schema (generated from these types) is published in
//! `results-schema/`. A breaking change here bumps [`SCHEMA_VERSION`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::EnvKind;

pub mod comparison;

/// Version of the `result.json` layout. Bump it on any change that an older reader
/// would misread (a renamed or removed field, a changed meaning or unit) or refuse (a
/// new field, for readers that deny unknown ones). 2 added the copies' `host` and
/// `timing`, hygiene's PCIe link and `burn`; 3 the adapter's `pci_bus_id` and hygiene's
/// `identity`; 4 `dispatch_check`; 5 the verdict `inconclusive`, `coverage` (the memory
/// test's share of the card), each kernel's `fingerprint` and the settings `memory` and
/// `require_coverage`; 6 `preflight` (its steps) and `cards` (a combined `--adapter all`
/// result). An older file reads as the current version without them.
pub const SCHEMA_VERSION: u32 = 6;
/// The oldest version this gpu-canary reads.
pub const OLDEST_READ: u32 = 1;

/// The value of `tool.name`, the first thing `compare` checks.
pub const TOOL_NAME: &str = "gpu-canary";

/// How a float that may be NaN or infinite is written: JSON has no such numbers, so
/// they become the strings `"NaN"`, `"Infinity"` and `"-Infinity"` (a GPU can return
/// NaN, and an exact kernel's error ratio is infinite for any error).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Real {
    Number(f64),
    NonFinite(NonFinite),
}

#[derive(JsonSchema)]
#[allow(dead_code)]
enum NonFinite {
    NaN,
    Infinity,
    #[serde(rename = "-Infinity")]
    NegInfinity,
}

mod real {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match *v {
            v if v.is_nan() => s.serialize_str("NaN"),
            v if v == f64::INFINITY => s.serialize_str("Infinity"),
            v if v == f64::NEG_INFINITY => s.serialize_str("-Infinity"),
            v => s.serialize_f64(v),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            N(f64),
            S(String),
        }
        match Any::deserialize(d)? {
            Any::N(v) => Ok(v),
            Any::S(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!("not a number: {other}"))),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunReport {
    pub schema_version: u32,
    pub tool: Tool,
    /// Start of the run, RFC 3339, UTC.
    pub started_at: String,
    /// Wall time from start to the last write of this file, in seconds.
    pub duration_s: f64,
    /// `partial` until the run has finished (every kernel run or the run stopped).
    pub status: RunStatus,
    pub host: Host,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiContext>,
    pub config: RunSettings,
    /// Absent when no adapter could be opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterFingerprint>,
    pub kernels: Vec<KernelResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hygiene: Option<Hygiene>,
    /// How much of the card the run vouches for: the memory test's coverage. Absent
    /// where no memory test ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    pub verdict: Verdict,
    pub exit_code: i32,
    /// Why and where the run stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stop>,
    /// `gpu-canary burn`: the sustained load, its checks and its telemetry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn: Option<BurnReport>,
    /// Artifacts that could not be written, one line each (a full disk, a closed
    /// stdout under `--json`): a pass with one missing is exit 3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifact_errors: Vec<String>,
    /// `gpu-canary preflight`: each step of the gate, in order (schema 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<Preflight>,
    /// What the operator does next, and why (schema 6): `verdict::diagnose`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// The card's error counters read before and after the run, and what grew (schema
    /// 6): PCIe AER of the card and its upstream port, ECC, RAS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<ErrorCounters>,
    /// `--adapter all`: the combined result's cards, each with its verdict and its own
    /// result (schema 6). A combined result holds no kernels of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<CardOutcome>,
}

/// The preflight's steps: the card, its state, and a verified slice of each kernel
/// class, within a budget. The first step that fails decides the verdict.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Preflight {
    /// `--budget`, in seconds: past it the verdict is inconclusive, never a pass.
    pub budget_s: f64,
    pub steps: Vec<PreflightStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreflightStep {
    /// `hardware`, `vendor`, `gpus`, `driver`, `ecc`, `row-remap`, `retired-pages`,
    /// `amd-ras`, `aer`, `pcie-link`, or `kernel id/shape`.
    pub name: String,
    pub status: StepStatus,
    /// What was found (or why it could not be read), one line.
    pub detail: String,
    /// When the step ended, seconds after the start.
    pub at_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Pass,
    Fail,
    /// Nothing to check here (no option asked for it, the card has no such counter).
    Skipped,
    /// The value could not be read: named as not read, never as fine.
    NotRead,
}

/// What to do next: the action, in a small vocabulary (docs/guide.md, "When the canary
/// fails"), its reason in one line, and the card it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Diagnosis {
    pub action: Action,
    pub reason: String,
    /// The card by the names an operator finds it by (PCI address, UUID, serial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A pass: nothing to do.
    None,
    /// Inconclusive for a passing reason (a budget or timeout on a loaded host, memory
    /// another process held): run it again.
    Rerun,
    /// The pod did not get the card: no adapter, a software one, another vendor, a
    /// missing feature the lane requires.
    FixLaneConfig,
    /// A device lost, a hang, pending remaps or retirements: reset the GPU.
    ResetGpu,
    /// Driver or bus errors that need a reboot (fatal PCIe AER errors, a driver that
    /// failed to create a device).
    RebootHost,
    /// A wrong result not (yet) shown to reproduce at the same place, a degraded link,
    /// growing correctable errors: take the card out of the lane and look.
    DrainAndInspect,
    /// Wrong results or memory faults that reproduce at the same place, uncorrectable
    /// ECC or RAS errors, a failed row remap: the card goes back.
    ServiceRequired,
    /// Throughput drifted while the card throttled.
    CheckCoolingPower,
}

impl Action {
    /// Its name as result.json and the metrics spell it.
    pub fn name(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Rerun => "rerun",
            Action::FixLaneConfig => "fix_lane_config",
            Action::ResetGpu => "reset_gpu",
            Action::RebootHost => "reboot_host",
            Action::DrainAndInspect => "drain_and_inspect",
            Action::ServiceRequired => "service_required",
            Action::CheckCoolingPower => "check_cooling_power",
        }
    }

    pub const ALL: [Action; 8] = [
        Action::None,
        Action::Rerun,
        Action::FixLaneConfig,
        Action::ResetGpu,
        Action::RebootHost,
        Action::DrainAndInspect,
        Action::ServiceRequired,
        Action::CheckCoolingPower,
    ];
}

/// The card's error counters before and after: each named counter's two readings, and
/// those that grew.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorCounters {
    /// `aer_dev_correctable`, `aer_dev_nonfatal`, `aer_dev_fatal` of the card (and of
    /// its upstream port, prefixed `upstream `), `ecc_uncorrected`, `ecc_corrected`.
    pub counters: Vec<ErrorCounter>,
    /// What could not be read, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_read: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorCounter {
    pub name: String,
    pub before: u64,
    pub after: u64,
}

impl ErrorCounters {
    /// The counters that grew during the run: (name, by how much).
    pub fn grown(&self) -> Vec<(&str, u64)> {
        self.counters
            .iter()
            .filter(|c| c.after > c.before)
            .map(|c| (c.name.as_str(), c.after - c.before))
            .collect()
    }
}

/// One card of an `--adapter all` run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardOutcome {
    /// The card's key: its PCI address, else backend and name (`vulkan-llvmpipe`).
    pub card: String,
    pub adapter: String,
    pub backend: String,
    pub verdict: Verdict,
    pub exit_code: i32,
    /// Its own result.json, relative to the combined one.
    pub result: String,
}

/// A burn: one kernel kept busy for a duration, its result checked at a cadence, with
/// throughput and telemetry per interval.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurnReport {
    /// The kernel and shape burned (`id/shape`).
    pub kernel: String,
    /// Asked for, and run so far.
    pub duration_s: f64,
    pub elapsed_s: f64,
    /// Dispatches completed; those compared bit for bit with the verified output on
    /// the GPU (equal when every dispatch was verified); and results checked against
    /// the CPU reference.
    pub dispatches: u64,
    #[serde(default)]
    pub dispatches_verified: u64,
    pub checks: u64,
    /// Dispatches per submission (the queue never drains: the next submissions are
    /// queued before one is waited for) and dispatches between checks.
    pub batch: u64,
    pub check_every: u64,
    /// Wrong results, in the order found.
    pub errors: Vec<BurnError>,
    /// Throughput unit (`GFLOP/s` or `GB/s`), from the GPU's own clock.
    pub unit: String,
    pub interval_s: f64,
    pub intervals: Vec<BurnInterval>,
    /// The last stretch of the burn against the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    pub max_drift_pct: f64,
    pub keep_going: bool,
    pub fail_on_throttle: bool,
    pub telemetry: Telemetry,
}

/// A check that found a wrong result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurnError {
    /// Seconds since the burn started, when the check was read back.
    pub at_s: f64,
    /// The checked dispatch: how many dispatches of the kernel had run, it included.
    pub dispatch: u64,
    /// Which check against the CPU reference (1 is the first), or 0 for a dispatch
    /// the check pass on the GPU found differing from the verified output.
    pub check: u64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<Mismatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurnInterval {
    pub start_s: f64,
    pub end_s: f64,
    pub dispatches: u64,
    /// Median of the submissions' throughput that ended in the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<f64>,
    /// Means over the interval's telemetry samples (temperature: the highest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_clock_mhz: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_clock_mhz: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    /// The memory's temperature (the highest), where the card reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_temperature_c: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
    /// Every throttle reason seen in the interval.
    #[serde(default)]
    pub throttle_reasons: Vec<String>,
}

/// Throughput of the burn's last stretch against its first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    /// Length of each stretch: a minute, or a third of a shorter burn.
    pub window_s: f64,
    pub first: f64,
    pub last: f64,
    /// (last − first) / first, in percent: negative is slower.
    pub change_pct: f64,
    /// The drop is larger than `--max-drift`.
    pub exceeded: bool,
    /// Power or thermal throttling recorded during the burn (it explains a drop).
    pub throttled: bool,
    #[serde(default)]
    pub throttle_reasons: Vec<String>,
    /// Why the drop says nothing about the GPU, where it does not: a software adapter
    /// computes on the host's CPU, whose load it follows. Such a drift is reported but
    /// never exit 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive: Option<String>,
}

/// What the burn could sample besides its own throughput.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    /// `nvml`, `sysfs` (Linux: amdgpu's hwmon and RAS, the PCIe link), or
    /// `unavailable`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_reason: Option<String>,
    pub period_ms: u64,
    pub samples: u64,
    /// Quantities recorded, and those this adapter's host could not give.
    pub recorded: Vec<String>,
    pub missing: Vec<String>,
    /// Uncorrected and corrected ECC errors that appeared during the burn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecc_uncorrected_new: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecc_corrected_new: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Partial,
    Complete,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    pub cpu_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// GitHub Actions context; a field absent from the environment is absent here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CiContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_os: Option<String>,
}

/// The settings the run used, as validated (not as typed).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// `quick`, `full`, or `custom` when `--kernel`/`--size` chose the cases.
    pub suite: String,
    /// Seed of the inputs.
    pub seed: u64,
    /// Seed of the check vectors: drawn from the OS for each run unless `--check-seed`
    /// gave it. Absent in results written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_seed: Option<u64>,
    pub warmup: u32,
    pub iterations: u32,
    /// `checked` (naga's runtime bounds checks on) or `unchecked`.
    pub runtime_checks: String,
    pub require_hardware: bool,
    pub require_tensor_cores: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    pub input_scale: f32,
    /// The tuning file given to `run --tuning`, and whether it applied to this adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<String>,
    /// Fault injected for testing the verdicts; absent on real runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// The memory test's target (`--memory`: `90%` or bytes), where it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// `--require-coverage`, in percent of the device's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_coverage: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdapterFingerprint {
    pub name: String,
    pub vendor: u32,
    pub device: u32,
    /// `discrete-gpu`, `integrated-gpu`, `virtual-gpu`, `cpu` or `other`.
    pub device_type: String,
    pub backend: String,
    pub driver: String,
    pub driver_info: String,
    pub wgpu_version: String,
    /// The adapter's PCI address (`0000:17:00.0`) where the backend reports it: which of
    /// a host's GPUs ran. Not part of what makes runs comparable: a lane's runners
    /// rotate over identical cards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci_bus_id: Option<String>,
    /// Device features the run requested (and so relied on).
    pub features: Vec<String>,
    pub limits: LimitsUsed,
    pub timing: TimingInfo,
    /// Other adapters that `--adapter` matched too (this one was preferred: discrete >
    /// integrated > virtual > cpu, then backend order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_matched: Vec<String>,
}

impl AdapterFingerprint {
    /// The parts that make two runs' timings comparable: same device, driver, backend
    /// and timing method. Features and limits follow from these.
    pub fn comparable_key(&self) -> (String, u32, u32, String, String, String, TimingMethod) {
        (
            self.name.clone(),
            self.vendor,
            self.device,
            self.backend.clone(),
            self.driver.clone(),
            self.driver_info.clone(),
            self.timing.method,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsUsed {
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_size_x: u32,
    pub max_compute_workgroup_size_y: u32,
    pub max_compute_workgroup_size_z: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_workgroup_storage_size: u32,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum TimingMethod {
    /// Timestamp queries written at the start and end of each dispatch's compute pass.
    GpuTimestamps,
    /// Host clock around submit and wait: includes submission and wake-up latency.
    WallClock,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimingInfo {
    pub method: TimingMethod,
    /// Nanoseconds per timestamp tick, when timestamps are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_period_ns: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelResult {
    pub id: String,
    /// `MxKxN` for matmul, `N` for reduce.
    pub shape: String,
    pub seed: u64,
    pub status: KernelStatus,
    /// Why the kernel was skipped or could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// One entry per timed dispatch, in nanoseconds, in the order they ran.
    #[serde(default)]
    pub samples_ns: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Throughput>,
    /// How `samples_ns` were timed, where that differs from the adapter's method (a
    /// copy command timed on the host where the device has no timestamps inside
    /// command encoders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<TimingMethod>,
    /// For host↔device transfers, beside the GPU's time for the copy: the host clock
    /// around the whole transfer as a program sees it (map, copy, wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostTiming>,
    /// Every dispatch compared with the verified output. Absent in results written
    /// before every dispatch was verified (schema version 3 and older).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_check: Option<DispatchCheck>,
    /// Where and how a wrong result was wrong, made on the host from what the checks
    /// returned: absent when nothing was wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
}

/// The shape of a wrong result: which buffer, which words, which bits, how often.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    /// Where the wrong words lie: `result`, `intermediate output N`, `memtest buffer N`.
    pub buffer: String,
    /// Wrong words in all, and up to 64 of them in address order.
    pub wrong_words: u64,
    pub words: Vec<WrongWord>,
    /// Width of a word in bits (32, or 64 for the memory test).
    pub word_bits: u32,
    /// The OR of expected XOR actual over every wrong word counted, in hex: the bits that
    /// failed.
    pub failing_bits: String,
    /// For each bit (bit 0 first), the wrong words in which it differed.
    pub bit_counts: Vec<u64>,
    /// The distance in words between consecutive listed wrong words, when it is the
    /// same for all of them (at least three): periodic addresses point at a bank, a
    /// channel or a lane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<u64>,
    /// The dispatches (memory test: passes) found wrong, from 1, at most 64, and their
    /// share of every dispatch checked.
    pub dispatches: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_fraction: Option<f64>,
}

impl Fingerprint {
    /// "; periodic: every 1000th 64-bit word (8000 bytes apart): …" where the wrong
    /// words are periodic, else "".
    pub fn stride_phrase(&self) -> String {
        match self.stride {
            Some(s) => format!(
                "; periodic: every {s}th {}-bit word ({} bytes apart): a bank, a channel or a lane of bits",
                self.word_bits,
                s * u64::from(self.word_bits / 8)
            ),
            None => String::new(),
        }
    }
}

/// One wrong word of a [`Fingerprint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WrongWord {
    /// Its index over the case's outputs (the memory test: over the covered memory), in
    /// words of `word_bits`.
    pub word: u64,
    /// Where it lies in words people use: `buffer 2, byte 0x1000` or `row 3, col 4`.
    pub place: String,
    /// Both values, in hex.
    pub expected: String,
    pub actual: String,
    /// The dispatch (pass) it was seen in, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<u64>,
}

/// What a run vouches for of the card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    pub memory: MemoryCoverage,
}

/// The memory test's coverage: how much of the device's memory every pattern was
/// written to and read back from, against how much the device has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryCoverage {
    /// The device's memory in bytes and the source of the figure (`vulkan`: its
    /// device-local heaps; `nvml`; `amdgpu-sysfs`). Absent where nothing could read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_source: Option<String>,
    /// What this process could allocate when the test started, and its source
    /// (`vulkan`: VK_EXT_memory_budget; `nvml`, `amdgpu-sysfs`: total minus used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_source: Option<String>,
    /// Every reading taken, by source, before the allocation.
    pub readings: Vec<MemoryReading>,
    /// The target as given (`90%`, `256MiB`) and in bytes.
    pub target: String,
    pub target_bytes: u64,
    /// Bytes allocated and tested with every pattern.
    pub tested_bytes: u64,
    /// `tested_bytes / device_bytes`; absent where the device's memory is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    /// Whether the run vouches for the card's memory: false on a software or
    /// integrated adapter, whose memory is the host's RAM (`note` says so).
    pub claimed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Buffers and storage-binding windows the memory was allocated and bound in, and
    /// the size of a window (the last may be shorter).
    pub buffers: u32,
    pub windows: u32,
    #[serde(default)]
    pub window_bytes: u64,
    /// Seconds the allocation took (apart from the passes), and why it ended before
    /// the target, where it did (a buffer refused for lack of memory).
    pub allocation_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_stopped: Option<String>,
    /// The patterns in pass order, the passes run and those whose check on the GPU
    /// proved itself (every word compared, the planted mismatch found).
    pub patterns: Vec<String>,
    pub passes: u32,
    pub passes_verified: u32,
    pub wrong_words: u64,
    /// Median bandwidth of the write and of the read-and-compare phases of a pass, in
    /// bytes per second (GPU clock where the device has timestamps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_bytes_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_bytes_per_s: Option<f64>,
    /// Other processes holding the device's memory when the test started (NVML).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_by_others: Vec<MemoryHolder>,
    /// `--require-coverage` as a fraction, and why the run fell short of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortfall: Option<String>,
}

/// The device's memory as one source reads it; a figure it cannot give is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryReading {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
}

/// A process holding the device's memory, and how much where the source says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryHolder {
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// Every dispatch of a case compared, bit for bit, with its first output, which is
/// itself compared with the last output, verified against the CPU reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchCheck {
    /// `golden-gpu`: every word of every buffer the kernel writes, intermediates
    /// included, compared on the GPU with a golden copy of the first output, in a check
    /// pass outside the timed one; the buffers are poisoned again after each. Or
    /// `golden-host`: the same on the host, for a result that lies there (readback).
    pub method: String,
    /// Dispatches the case ran (the first, the warmup, the timed samples), and those
    /// compared with the verified output: equal when every dispatch was verified.
    pub dispatches_total: u64,
    pub dispatches_verified: u64,
    /// Dispatches that differed, and the first of them (at most 16).
    pub wrong_dispatches: u64,
    pub wrong: Vec<WrongDispatch>,
    /// Wall time the golden copy, the check passes and their readback added to the
    /// case, in nanoseconds; none of it lies inside a timed sample. Absent for a burn,
    /// whose check passes are queued between its dispatches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_ns: Option<u64>,
    /// Check passes whose own check failed (the sentinel's planted mismatch not
    /// reported as planted, fewer words compared than there are), the first 16 named:
    /// their dispatches are not verified, and the case fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checker_faults: Vec<String>,
    /// Passes that did not poison every word: the host poisoned the outputs again before
    /// the next dispatch, so it too had to write its result.
    #[serde(default)]
    pub repoisoned_by_host: u64,
    /// The golden copy read back at the end (and after any mismatch) equals the host's
    /// copy of the first output; false when the device's copy changed, which
    /// `golden_fault` then names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden_intact: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden_fault: Option<String>,
}

/// A dispatch whose output differed from the verified output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WrongDispatch {
    /// Its number, from 1 (the first, untimed execution), and where it lies, e.g.
    /// `dispatch 12 of 32 (timed sample 10 of 30)`.
    pub dispatch: u64,
    pub name: String,
    /// Words that differed, the first of them (counted over the outputs in order) and
    /// where it lies.
    pub wrong_words: u64,
    pub word: u64,
    pub place: String,
    /// The verified bits and the dispatch's, as hex with the value.
    pub expected: String,
    pub actual: String,
}

/// Host-clock timing of a transfer, one sample per timed execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostTiming {
    /// What the host clock spans, e.g. `map, write, unmap, copy, submit and wait`.
    pub spans: String,
    pub samples_ns: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Throughput>,
}

impl KernelResult {
    /// A result with nothing measured yet: the one place every optional field is set to
    /// none, so a new field is added once.
    pub fn new(id: &str, shape: String, seed: u64, status: KernelStatus) -> KernelResult {
        KernelResult {
            id: id.to_owned(),
            shape,
            seed,
            status,
            reason: None,
            launch: None,
            verification: None,
            samples_ns: Vec::new(),
            stats: None,
            throughput: None,
            timing: None,
            host: None,
            dispatch_check: None,
            fingerprint: None,
        }
    }

    /// The key `compare` and `history` pair results by.
    pub fn key(&self) -> String {
        format!("{}/{}", self.id, self.shape)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum KernelStatus {
    /// Verified against the CPU reference and deterministic.
    Pass,
    /// Ran, and the result was wrong or not reproducible.
    Fail,
    /// Not run on this adapter (reason given); never counted as a pass.
    Skipped,
    /// Could not run because the environment failed (reason given).
    Error,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    /// Which implementation ran (a kernel may have several, chosen by the adapter's
    /// features), e.g. `workgroup-tree` or `subgroup-shuffle` for reduce-f32. Optional,
    /// so results written before it was recorded still read.
    #[serde(default)]
    pub variant: String,
    pub workgroup_size: [u32; 3],
    /// The workgroup grid of each dispatch, in order (reduce-f32 has two passes).
    pub workgroups: Vec<[u32; 3]>,
    /// Output tile per workgroup (`[rows, cols, k-step]` for matmul).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile: Option<[u32; 3]>,
    /// `checked` or `unchecked` (see `RunSettings::runtime_checks`).
    pub runtime_checks: String,
    /// Pipeline-overridable constants the kernel was compiled with.
    #[serde(default)]
    pub constants: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// `full` (every element within its own bound), `exact-grid` (grid inputs: every
    /// element on the grid and every row by Freivalds over 𝔽ₚ), `exact-full` and
    /// `exact-freivalds` (u32, modulo 2³²), `exact-simulated-order` (reduce: every
    /// partial and the sum against the kernel's own order on the CPU).
    pub method: String,
    /// What the output was compared with: `f64` (within the derived bound),
    /// `exact-integer`, `exact-mod-2^32`, or `simulated-order` (bit for bit). Empty in
    /// results written before it was recorded.
    #[serde(default)]
    pub reference: String,
    /// Upper bound on the probability that this check passes a wrong output: 0 when
    /// every wrong element is caught with certainty. Absent where the check is a
    /// tolerance (`full`), which an error inside it passes unseen, and in older results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miss_probability: Option<f64>,
    /// The smallest wrong result the check is certain to catch, in words. Absent in
    /// older results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detects: Option<String>,
    pub passed: bool,
    /// Elements checked: one by one against the reference, or on the exact paths, every
    /// element of an output checked whole.
    pub checked_elements: u64,
    /// Largest |actual - expected| seen.
    #[serde(with = "real")]
    #[schemars(with = "Real")]
    pub max_error: f64,
    /// The bound at the element (or row) with the largest error/bound ratio.
    #[serde(with = "real")]
    #[schemars(with = "Real")]
    pub bound: f64,
    /// Largest error/bound ratio: below 1 passes.
    #[serde(with = "real")]
    #[schemars(with = "Real")]
    pub max_error_ratio: f64,
    /// FNV-1a 64 of the output bytes, hex.
    pub checksum: String,
    /// True when the checksum must be identical on every correct device for the same
    /// inputs and launch grid (exact products, and reduce-f32's fixed order).
    pub checksum_exact: bool,
    /// The first execution (run on poisoned buffers) and the last verified one gave
    /// bitwise the same outputs, intermediates included.
    pub deterministic: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_mismatch: Option<Mismatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mismatch {
    /// Flat index into the output.
    pub index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub col: Option<u64>,
    /// The place in words where row and column do not say it, e.g. `partial 17 of
    /// 1024 (pass 1, workgroup 17)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(with = "real")]
    #[schemars(with = "Real")]
    pub expected: f64,
    #[serde(with = "real")]
    #[schemars(with = "Real")]
    pub actual: f64,
    #[serde(with = "real")]
    #[schemars(with = "Real")]
    pub error: f64,
    #[serde(with = "real")]
    #[schemars(with = "Real")]
    pub bound: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    pub n: u32,
    pub min_ns: f64,
    pub median_ns: f64,
    pub mean_ns: f64,
    pub p95_ns: f64,
    pub max_ns: f64,
    pub stddev_ns: f64,
    /// Median absolute deviation (unscaled).
    pub mad_ns: f64,
    /// Distribution-free confidence interval of the median (order statistics).
    pub median_ci_low_ns: f64,
    pub median_ci_high_ns: f64,
    /// The probability that this interval holds the true median (exact, from the
    /// binomial): 0.95 or more from 6 samples on, less below (0.75 for three samples).
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Throughput {
    /// `GFLOP/s` or `GB/s`.
    pub unit: String,
    /// Work per dispatch: floating-point (or integer) operations, or bytes read.
    pub work_per_run: f64,
    /// At the median time.
    pub median: f64,
    /// At the upper and lower ends of the median's confidence interval.
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every kernel that ran verified.
    Pass,
    /// A kernel's result was wrong.
    Fail,
    /// The environment failed.
    Error,
    /// A signal stopped the run.
    Cancelled,
    /// `burn`: every result verified, but throughput drifted by more than `--max-drift`
    /// with no throttle recorded (or with one, under `--fail-on-throttle`).
    Drift,
    /// Not finished yet (the file is rewritten as the run goes).
    Running,
    /// Every result verified, but the run covered less than it was required to
    /// (`--require-coverage`): it vouches for less of the card than asked, so it is no
    /// pass (exit 3).
    Inconclusive,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    /// `timeout`, `cancelled`, or the environment failure's kind.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// `init` (adapter and device), `prepare` (inputs, compile, upload), `warmup`,
    /// `dispatch` (submit and wait of a timed dispatch), `wait`, `readback`, `verify`,
    /// `artifacts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    pub message: String,
}

impl Stop {
    pub fn env_reason(kind: EnvKind) -> String {
        serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{kind:?}"))
    }
}

/// GPU state before, during and after the run (NVML or sysfs), and what it implies for
/// timing.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hygiene {
    /// `nvml`, `sysfs`, or `unavailable`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_reason: Option<String>,
    /// What the source cannot read on this card (`throttle_reasons`,
    /// `other_processes`): `busy_at_start` or `throttled_at_end` false is then no
    /// reading of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<GpuSnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<GpuSnapshot>,
    /// Another process was using the GPU when the run started.
    pub busy_at_start: bool,
    /// The GPU reported throttling (thermal, power, clocks) when the run ended.
    pub throttled_at_end: bool,
    /// The PCIe link ran below its maximum generation or width while the run was
    /// sampled (`pcie` says which): transfers and any host-bound timing are slowed.
    #[serde(default)]
    pub link_degraded: bool,
    /// The PCIe link as sampled during the run, where NVML reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie: Option<PcieLink>,
    /// Which card the telemetry was read from: what an operator drains or returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<GpuIdentity>,
    /// Findings in words, for the summary.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl GpuIdentity {
    /// The card by the names an operator finds it by: "PCI 0000:3b:00.0 · GPU-… · serial …".
    pub fn line(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.pci_bus_id.as_ref().map(|b| format!("PCI {b}")),
            self.uuid.clone(),
            self.serial.as_ref().map(|s| format!("serial {s}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}

/// A physical GPU's names, as its management source gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuIdentity {
    /// PCI address, `0000:17:00.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci_bus_id: Option<String>,
    /// NVML's UUID (`GPU-…`, as `nvidia-smi -L` and `NVIDIA_VISIBLE_DEVICES` name it), or
    /// amdgpu's `unique_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The board's serial number, where the card has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl Hygiene {
    /// Timings from such a run cannot support a regression verdict.
    pub fn timing_suspect(&self) -> bool {
        self.busy_at_start || self.throttled_at_end || self.link_degraded
    }
}

/// The PCIe link over a run: the highest generation and width seen in any sample (an
/// idle link trains down to save power, so one idle sample says nothing) against the
/// most the link supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PcieLink {
    pub samples: u32,
    pub gen_seen: u32,
    pub gen_max: u32,
    pub width_seen: u32,
    pub width_max: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuSnapshot {
    pub name: String,
    pub driver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<u32>,
    /// The memory's own temperature, where the card has a sensor for it (NVML's
    /// memory temperature, amdgpu's `mem` channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_temperature_c: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_clock_mhz: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_clock_mhz: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
    /// Why the GPU throttles: NVML's reasons lowercased (`sw_thermal_slowdown`,
    /// `sw_power_cap`, ...), amdgpu's throttlers prefixed `amd_` (`amd_temp_hotspot`,
    /// `amd_ppt0`, ...), or Intel's prefixed `intel_` (`intel_thermal`, `intel_pl1`,
    /// ...). Empty is "not throttled" only where the source reports them.
    #[serde(default)]
    pub throttle_reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecc_uncorrected_volatile: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecc_corrected_volatile: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_percent: Option<u32>,
    /// Other processes with a compute or graphics context on the GPU.
    #[serde(default)]
    pub other_processes: Vec<u32>,
    /// PCIe link generation and width: now, and the most the link (GPU and slot)
    /// supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie_gen: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie_gen_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie_width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie_width_max: Option<u32>,
    /// Milliseconds since the run started, for samples taken during it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
}

/// Reads a `result.json`, refusing anything that is not one this version understands.
/// The error is one line naming the file and the problem.
pub fn read_report(path: &std::path::Path) -> Result<RunReport, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        if e.is_eof() {
            format!("{name}: truncated JSON ({e}); the run that wrote it was probably killed mid-write, use a complete result.json")
        } else {
            format!("{name}: not JSON ({e})")
        }
    })?;
    let tool = value
        .get("tool")
        .and_then(|t| t.get("name"))
        .and_then(|n| n.as_str());
    if tool != Some(TOOL_NAME) {
        return Err(format!(
            "{name}: not a gpu-canary result (no \"tool.name\": \"{TOOL_NAME}\"); pass a result.json written by `gpu-canary run --out`"
        ));
    }
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if (u64::from(OLDEST_READ)..=u64::from(SCHEMA_VERSION)).contains(&v) => {}
        Some(v) => {
            return Err(format!(
                "{name}: schema_version {v}, but this gpu-canary reads schema_version {OLDEST_READ} to {SCHEMA_VERSION}; use the gpu-canary release that wrote it"
            ));
        }
        None => {
            return Err(format!(
                "{name}: no schema_version; not a gpu-canary result this version can read"
            ));
        }
    }
    serde_json::from_value(value).map_err(|e| format!("{name}: not a valid gpu-canary result: {e}"))
}

/// Why `r`, read from `path`, cannot be taken by `verb` (compare, reproduce) as one run:
/// it is the combined result of an `--adapter all` run; the message names a card's own.
pub fn combined_refusal(path: &Path, r: &RunReport, verb: &str) -> Option<String> {
    let first = r.cards.first()?;
    Some(format!(
        "{} is the combined result of {} cards (--adapter all); {verb} one card's result, e.g. {}",
        path.display(),
        r.cards.len(),
        path.parent()
            .unwrap_or(Path::new("."))
            .join(&first.result)
            .display()
    ))
}

/// Whether `path` holds a gpu-canary result: JSON with the result's identifying fields
/// (`tool.name` and `schema_version`), whatever the file is called.
pub fn is_result(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| is_result_value(&v))
}

fn is_result_value(v: &serde_json::Value) -> bool {
    v.get("tool")
        .and_then(|t| t.get("name"))
        .and_then(|n| n.as_str())
        == Some(TOOL_NAME)
        && v.get("schema_version").is_some()
}

/// A file found beside the results that is not one, and why.
pub type Skipped = (PathBuf, String);

/// The result files under `inputs`: files as given, and in directories (searched
/// recursively) every `*.json` that [`is_result`]; the other JSON files found there
/// are returned second with why, to be noted as skipped.
pub fn find_results(inputs: &[PathBuf]) -> crate::error::Result<(Vec<PathBuf>, Vec<Skipped>)> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>, other: &mut Vec<Skipped>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, found, other);
            } else if p.extension().is_some_and(|e| e == "json") {
                // JSON that is no result is noted as such; a file that cannot be read or
                // parsed (a truncated result.json) goes on to `read_report`, which names
                // it exactly as it would name the file given directly.
                let parsed = std::fs::read(&p)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
                match parsed {
                    // A combined `--adapter all` result: its cards' own results are
                    // beside it, in their folders.
                    Some(v) if v.get("cards").and_then(|c| c.as_array()).is_some_and(|c| !c.is_empty()) => {
                        other.push((p, "the combined result of an --adapter all run (its cards' results are read from their folders)".into()))
                    }
                    Some(v) if is_result_value(&v) => found.push(p),
                    Some(_) => other.push((p, "not a gpu-canary result".into())),
                    None => found.push(p),
                }
            }
        }
    }
    let (mut found, mut other) = (Vec::new(), Vec::new());
    for p in inputs {
        if p.is_dir() {
            walk(p, &mut found, &mut other);
        } else if p.exists() {
            found.push(p.clone());
        } else {
            return Err(crate::error::Error::usage(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    if found.is_empty() {
        return Err(crate::error::Error::usage(
            "no gpu-canary result found in the given paths; pass result files or directories holding them",
        ));
    }
    Ok((found, other))
}
