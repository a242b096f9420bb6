//! The test-only fault switches of a case, in one place: what `--inject-fault` and
//! `--fault-dispatch` plant, and [`FaultPlan`], which the case's steps consult at named
//! points (the shader's compile, before each dispatch, the check after it, the wait,
//! after the readback). With no fault planted every point does nothing, so the case
//! reads as if no fault existed.

use crate::error::{EnvKind, Error, Result};
use crate::gpu::Gpu;
use crate::inputs;
use crate::kernels::fault::{self, ShaderFault};

use super::Progress;

/// Faults injected to prove the verdicts (tests only, `--inject-fault`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// One element of the host's copy of the output flipped, after readback.
    CorruptOutput,
    Stall,
    DeviceLost,
    SoftwareAdapter,
    /// The last timed dispatch never reaches the GPU: the poisoned outputs are read.
    Stale,
    /// Planted on the GPU, by the kernel's shader or right after it.
    Shader(ShaderFault),
    /// burn only: once the fault is due, every dispatch is recorded eight times, so the
    /// GPU's throughput falls to an eighth with no throttle to explain it.
    Slowdown,
    /// The GPU's check pass compares nothing (its compare step returns at once), as a
    /// dropped or miscompiled check would.
    DeadCheck,
    /// The poisoning before the chosen dispatches is left out; with `stale`, those
    /// dispatches never reach the GPU either.
    SkipRepoison {
        stale: bool,
    },
    /// Word 0 of the golden copy on the device overwritten before the check of the
    /// chosen dispatches.
    CorruptGolden,
}

impl Fault {
    pub fn parse(s: &str) -> std::result::Result<Fault, String> {
        Ok(match s {
            "corrupt-output" => Fault::CorruptOutput,
            "stall" => Fault::Stall,
            "device-lost" => Fault::DeviceLost,
            "software-adapter" => Fault::SoftwareAdapter,
            "stale" => Fault::Stale,
            "slowdown" => Fault::Slowdown,
            "dead-check" => Fault::DeadCheck,
            "skip-repoison" => Fault::SkipRepoison { stale: false },
            "skip-repoison+stale" => Fault::SkipRepoison { stale: true },
            "corrupt-golden" => Fault::CorruptGolden,
            _ => match ShaderFault::parse(s) {
                Some(f) => Fault::Shader(f?),
                None => {
                    return Err(format!(
                        "invalid --inject-fault '{s}'; use corrupt-output, stall, device-lost, software-adapter, stale, slowdown (burn), dead-check, skip-repoison, skip-repoison+stale, corrupt-golden, or a shader fault: {}",
                        fault::FORMS
                    ));
                }
            },
        })
    }

    pub fn name(&self) -> String {
        match self {
            Fault::CorruptOutput => "corrupt-output".into(),
            Fault::Stall => "stall".into(),
            Fault::DeviceLost => "device-lost".into(),
            Fault::SoftwareAdapter => "software-adapter".into(),
            Fault::Stale => "stale".into(),
            Fault::Slowdown => "slowdown".into(),
            Fault::DeadCheck => "dead-check".into(),
            Fault::SkipRepoison { stale: false } => "skip-repoison".into(),
            Fault::SkipRepoison { stale: true } => "skip-repoison+stale".into(),
            Fault::CorruptGolden => "corrupt-golden".into(),
            Fault::Shader(f) => f.name(),
        }
    }

    /// Faults of the GPU's output hit every case (a planted position fires where the
    /// output has it); the others hit the last case that runs.
    pub fn every_case(&self) -> bool {
        matches!(
            self,
            Fault::Stale
                | Fault::Shader(_)
                | Fault::DeadCheck
                | Fault::SkipRepoison { .. }
                | Fault::CorruptGolden
        )
    }
}

/// Which dispatches a planted fault fires on (tests only, `--fault-dispatch`).
/// Dispatches are numbered from 1 (the first, untimed execution), then the rest of the
/// warmup, then the timed samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaultDispatches {
    /// Every dispatch (`stale`: the last one).
    #[default]
    All,
    /// Dispatch N.
    Number(u64),
    /// The Nth timed sample.
    Timed(u64),
    /// Every Kth dispatch: K, 2K, ...
    Every(u64),
    /// Every Kth dispatch from dispatch P: P, P + K, ... (`every:K+P`; `reproduce`
    /// moves P on by one each rerun: a fault whose first dispatch varies).
    EveryFrom(u64, u64),
    /// Dispatches A to B, both included.
    Range(u64, u64),
}

impl FaultDispatches {
    pub const FORMS: &'static str = "all, N (the Nth dispatch; 1 is the first), A-B (dispatches A to B), timed:N (the Nth timed sample), every:K, every:K+P (from dispatch P)";

    pub fn parse(s: &str) -> std::result::Result<FaultDispatches, String> {
        let bad = || format!("invalid --fault-dispatch '{s}'; use {}", Self::FORMS);
        let num = |v: &str| {
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(bad)
        };
        if s == "all" {
            return Ok(FaultDispatches::All);
        }
        match s.split_once(':') {
            Some(("timed", n)) => num(n).map(FaultDispatches::Timed),
            Some(("every", k)) => match k.split_once('+') {
                Some((k, p)) => Ok(FaultDispatches::EveryFrom(num(k)?, num(p)?)),
                None => num(k).map(FaultDispatches::Every),
            },
            Some(_) => Err(bad()),
            None => match s.split_once('-') {
                Some((a, b)) => match (num(a)?, num(b)?) {
                    (a, b) if a <= b => Ok(FaultDispatches::Range(a, b)),
                    _ => Err(bad()),
                },
                None => num(s).map(FaultDispatches::Number),
            },
        }
    }

    pub fn name(&self) -> String {
        match self {
            FaultDispatches::All => "all".into(),
            FaultDispatches::Number(n) => n.to_string(),
            FaultDispatches::Timed(n) => format!("timed:{n}"),
            FaultDispatches::Every(k) => format!("every:{k}"),
            FaultDispatches::EveryFrom(k, p) => format!("every:{k}+{p}"),
            FaultDispatches::Range(a, b) => format!("{a}-{b}"),
        }
    }

    /// Whether dispatch `d` (from 1) is hit, `untimed` dispatches running before the
    /// timed samples.
    pub fn fires(&self, d: u64, untimed: u64) -> bool {
        match *self {
            FaultDispatches::All => true,
            FaultDispatches::Number(n) => d == n,
            FaultDispatches::Timed(n) => d == untimed + n,
            FaultDispatches::Every(k) => d.is_multiple_of(k),
            FaultDispatches::EveryFrom(k, p) => d >= p && (d - p).is_multiple_of(k),
            FaultDispatches::Range(a, b) => (a..=b).contains(&d),
        }
    }
}

/// What the GPU's check of one dispatch is to do besides checking (tests only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckFault {
    /// The pass leaves out its poisoning (as a dropped re-poison would).
    pub drop_poison: bool,
    /// Word 0 of the golden copy overwritten before the pass.
    pub corrupt_golden: bool,
}

/// The kernel's own work and the planter's at one dispatch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchFault {
    /// The planter's dispatch runs after the kernel's.
    pub planted: bool,
    /// The kernel's work never reaches the GPU.
    pub dropped: bool,
}

/// A case's planted fault (tests only), consulted at named points. Dispatches are
/// numbered as in [`FaultDispatches`]: `untimed` untimed ones, then the timed samples,
/// `total` in all.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    fault: Option<Fault>,
    at: FaultDispatches,
    untimed: u64,
    total: u64,
}

impl FaultPlan {
    pub fn new(fault: Option<Fault>, at: FaultDispatches, untimed: u64, total: u64) -> FaultPlan {
        FaultPlan {
            fault,
            at,
            untimed,
            total,
        }
    }

    /// The fault the kernel's shader compiles in and the planter writes, if any.
    pub fn shader(&self) -> Option<ShaderFault> {
        match self.fault {
            Some(Fault::Shader(f)) => Some(f),
            _ => None,
        }
    }

    /// Whether the fault fires at dispatch `d`.
    fn hit(&self, d: u64) -> bool {
        match (self.fault, self.at) {
            (
                Some(Fault::Stale | Fault::SkipRepoison { .. } | Fault::CorruptGolden),
                FaultDispatches::All,
            ) => d == self.total,
            (
                Some(
                    Fault::Stale
                    | Fault::Shader(_)
                    | Fault::SkipRepoison { .. }
                    | Fault::CorruptGolden,
                ),
                at,
            ) => at.fires(d, self.untimed),
            _ => false,
        }
    }

    /// Before dispatch `d`: whether the planter follows the kernel, and whether the
    /// kernel's work is left out.
    pub fn before_dispatch(&self, d: u64) -> DispatchFault {
        let hit = self.hit(d);
        DispatchFault {
            planted: hit && matches!(self.fault, Some(Fault::Shader(_))),
            dropped: hit
                && matches!(
                    self.fault,
                    Some(Fault::Stale | Fault::SkipRepoison { stale: true })
                ),
        }
    }

    /// What the check after dispatch `d` does besides checking: leave out the poisoning
    /// the next dispatch starts from, or find the golden copy changed.
    pub fn check(&self, d: u64) -> CheckFault {
        CheckFault {
            drop_poison: matches!(self.fault, Some(Fault::SkipRepoison { .. })) && self.hit(d + 1),
            corrupt_golden: self.fault == Some(Fault::CorruptGolden) && self.hit(d),
        }
    }

    /// Whether the GPU's check pass is compiled to compare nothing.
    pub fn dead_check(&self) -> bool {
        self.fault == Some(Fault::DeadCheck)
    }

    /// Before a timed dispatch: a stall is a wait that never returns, as a driver that
    /// never signals would give; only the watchdog ends it.
    pub fn before_wait(&self, progress: &Progress, key: &str, sample: u32) {
        if self.fault == Some(Fault::Stall) {
            progress.set(Some(key), "wait");
            let _s = tracing::info_span!("dispatch", kernel = %key, sample).entered();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }

    /// After a timed dispatch: the device lost.
    pub fn after_dispatch(&self, gpu: &Gpu) -> Result<()> {
        if self.fault != Some(Fault::DeviceLost) {
            return Ok(());
        }
        gpu.device.destroy();
        // Destruction is reported through the device-lost callback on the next poll.
        let _ = gpu.device.poll(wgpu::PollType::Poll);
        gpu.sink.check()?;
        Err(Error::env(EnvKind::DeviceLost, "device lost (injected)"))
    }

    /// After the last readback: one element of the host's copy flipped.
    pub fn after_readback(&self, last: &mut [Vec<u8>], seed: u64) {
        if self.fault == Some(Fault::CorruptOutput) {
            let i = corrupt(&mut last[0], seed);
            tracing::warn!(index = i, "injected corruption");
        }
    }
}

/// Flips one element's high bits: the smallest change a verifier must catch.
fn corrupt(output: &mut [u8], seed: u64) -> usize {
    let words = output.len() / 4;
    let i = (inputs::word(seed, inputs::stream::CORRUPT, 0) % words as u64) as usize;
    output[i * 4 + 3] ^= 0x40;
    i
}
