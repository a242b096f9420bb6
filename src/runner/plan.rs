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

    /// The memory fault a memory test's passes carry (the shader faults of memory
    /// words), if any.
    pub fn memory_fault(&self) -> Option<ShaderFault> {
        self.shader().filter(|f| f.memory())
    }

    /// Before memory-test pass `d`: whether it carries the planted memory fault, and
    /// whether its work is left out (`stale`).
    pub fn before_pass(&self, d: u64) -> DispatchFault {
        let hit = self.hit(d);
        DispatchFault {
            planted: hit && self.memory_fault().is_some(),
            dropped: hit && self.fault == Some(Fault::Stale),
        }
    }

    /// Whether the host's read of memory-test pass `p` (from 0) for the CPU reference
    /// is corrupted: the first one's, under `corrupt-output`.
    pub fn corrupts_read(&self, p: u64) -> bool {
        p == 0 && self.fault == Some(Fault::CorruptOutput)
    }

    /// Before a timed dispatch (`sample`, inside its span) or a memory-test pass: a
    /// stall is a wait that never returns, as a driver that never signals would give;
    /// only the watchdog ends it.
    pub fn before_wait(&self, progress: &Progress, key: &str, sample: Option<u32>) {
        if self.fault == Some(Fault::Stall) {
            progress.set(Some(key), "wait");
            let _s = sample
                .map(|sample| tracing::info_span!("dispatch", kernel = %key, sample).entered());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shader(s: &str) -> Fault {
        Fault::Shader(ShaderFault::parse(s).unwrap().unwrap())
    }

    /// The dispatches (1..=total) where `f` holds.
    fn at(total: u64, f: impl Fn(u64) -> bool) -> Vec<u64> {
        (1..=total).filter(|&d| f(d)).collect()
    }

    #[test]
    fn stale_leaves_out_the_last_dispatch_or_the_chosen_ones() {
        let p = FaultPlan::new(Some(Fault::Stale), FaultDispatches::All, 2, 6);
        assert_eq!(at(6, |d| p.before_dispatch(d).dropped), [6]);
        assert_eq!(at(6, |d| p.before_pass(d).dropped), [6]);
        assert_eq!(at(6, |d| p.before_dispatch(d).planted), [] as [u64; 0]);
        let p = FaultPlan::new(Some(Fault::Stale), FaultDispatches::Timed(2), 2, 6);
        assert_eq!(at(6, |d| p.before_dispatch(d).dropped), [4]);
    }

    #[test]
    fn a_shader_fault_is_planted_where_it_fires_and_a_memory_pass_takes_only_memory_faults() {
        let xor = FaultPlan::new(Some(shader("xor@3,4,5")), FaultDispatches::Every(2), 1, 6);
        assert_eq!(at(6, |d| xor.before_dispatch(d).planted), [2, 4, 6]);
        assert_eq!(at(6, |d| xor.before_pass(d).planted), [] as [u64; 0]);
        assert_eq!(xor.memory_fault(), None);
        let flip = FaultPlan::new(Some(shader("flip@100:5")), FaultDispatches::Number(3), 0, 6);
        assert_eq!(at(6, |d| flip.before_pass(d).planted), [3]);
        assert_eq!(at(6, |d| flip.before_pass(d).dropped), [] as [u64; 0]);
        assert!(flip.memory_fault().is_some());
    }

    #[test]
    fn skip_repoison_drops_the_poison_before_its_dispatch_and_stale_also_the_work() {
        let p = FaultPlan::new(
            Some(Fault::SkipRepoison { stale: true }),
            FaultDispatches::Number(4),
            1,
            6,
        );
        // The check after dispatch 3 leaves out the poisoning dispatch 4 starts from.
        assert_eq!(at(6, |d| p.check(d).drop_poison), [3]);
        assert_eq!(at(6, |d| p.before_dispatch(d).dropped), [4]);
        // A memory pass has no poisoning of this kind: nothing is left out.
        assert_eq!(at(6, |d| p.before_pass(d).dropped), [] as [u64; 0]);
    }

    #[test]
    fn the_golden_copy_is_corrupted_before_the_chosen_checks() {
        let p = FaultPlan::new(Some(Fault::CorruptGolden), FaultDispatches::All, 1, 5);
        assert_eq!(at(5, |d| p.check(d).corrupt_golden), [5]);
        let none = FaultPlan::new(None, FaultDispatches::All, 1, 5);
        assert_eq!(
            at(5, |d| none.check(d) != CheckFault::default()),
            [] as [u64; 0]
        );
        assert_eq!(
            at(5, |d| none.before_dispatch(d) != DispatchFault::default()),
            [] as [u64; 0]
        );
    }

    #[test]
    fn only_the_first_memory_read_is_corrupted_and_only_under_corrupt_output() {
        let p = FaultPlan::new(Some(Fault::CorruptOutput), FaultDispatches::All, 0, 4);
        assert_eq!(
            (0..4).filter(|&i| p.corrupts_read(i)).collect::<Vec<_>>(),
            [0]
        );
        let q = FaultPlan::new(Some(Fault::Stale), FaultDispatches::All, 0, 4);
        assert!(!(0..4).any(|i| q.corrupts_read(i)));
        assert!(FaultPlan::new(Some(Fault::DeadCheck), FaultDispatches::All, 0, 4).dead_check());
    }

    #[test]
    fn the_host_corruption_flips_one_elements_high_bits() {
        let mut out = vec![0u8; 64];
        let i = corrupt(&mut out, 7);
        assert_eq!(out.iter().filter(|&&b| b != 0).count(), 1);
        assert_eq!(out[i * 4 + 3], 0x40);
    }
}
