//! What may be compared: a baseline run that can stand beside the current one (adapter,
//! suite, hygiene, a whole and passing measurement), and a kernel's correctness and
//! launch configuration against its baseline.

use crate::kernels::params_text;
use crate::model::comparison::Correctness;
use crate::model::{KernelResult, KernelStatus, RunReport, RunStatus, Verdict};

/// Correctness first. An exact checksum is compared only where it must repeat: the same
/// inputs (seed and scale) and the same launch grid (reduce-f32's order depends on it).
pub fn correctness(b: &KernelResult, c: &KernelResult, same_scale: bool) -> Correctness {
    let grid = |k: &KernelResult| {
        k.launch
            .as_ref()
            .map(|l| (l.workgroup_size, l.workgroups.clone()))
    };
    use KernelStatus::*;
    match (b.status, c.status) {
        (Pass, Fail) => Correctness::NewlyWrong,
        (Fail, Fail) => Correctness::StillWrong,
        (Fail, Pass) => Correctness::Fixed,
        (_, Fail) => Correctness::NewlyWrong,
        (Pass, Pass) => {
            let (bv, cv) = (b.verification.as_ref(), c.verification.as_ref());
            match (bv, cv) {
                (Some(bv), Some(cv))
                    if bv.checksum_exact
                        && cv.checksum_exact
                        && b.seed == c.seed
                        && same_scale
                        && grid(b) == grid(c)
                        && bv.checksum != cv.checksum =>
                {
                    Correctness::ChecksumChanged
                }
                _ => Correctness::Ok,
            }
        }
        _ => Correctness::NotVerified,
    }
}

/// What differs between the two adapters, in words (empty when comparable).
pub fn adapter_differences(b: &RunReport, c: &RunReport) -> Vec<String> {
    match (&b.adapter, &c.adapter) {
        (Some(x), Some(y)) => {
            let mut d = Vec::new();
            let mut diff = |what: &str, p: String, q: String| {
                if p != q {
                    d.push(format!("{what}: '{p}' → '{q}'"));
                }
            };
            diff(
                "device",
                format!("{} [{:04x}:{:04x}]", x.name, x.vendor, x.device),
                format!("{} [{:04x}:{:04x}]", y.name, y.vendor, y.device),
            );
            diff("backend", x.backend.clone(), y.backend.clone());
            diff(
                "driver",
                format!("{} {}", x.driver, x.driver_info),
                format!("{} {}", y.driver, y.driver_info),
            );
            diff(
                "timing method",
                format!("{:?}", x.timing.method),
                format!("{:?}", y.timing.method),
            );
            d
        }
        _ => vec!["one of the runs has no adapter".into()],
    }
}

/// What differs between two runs' launch configurations of one kernel, in words.
pub fn launch_change(b: &KernelResult, c: &KernelResult) -> Option<String> {
    let (x, y) = (b.launch.as_ref()?, c.launch.as_ref()?);
    let mut d = Vec::new();
    // Results written before the variant was recorded have none: not a change.
    if !x.variant.is_empty() && !y.variant.is_empty() && x.variant != y.variant {
        d.push(format!("{} → {}", x.variant, y.variant));
    }
    if x.workgroup_size != y.workgroup_size {
        d.push(format!(
            "workgroup {:?} → {:?}",
            x.workgroup_size, y.workgroup_size
        ));
    }
    if x.runtime_checks != y.runtime_checks {
        d.push(format!("{} → {}", x.runtime_checks, y.runtime_checks));
    }
    if x.constants != y.constants {
        d.push(format!(
            "constants [{}] → [{}]",
            params_text(&x.constants),
            params_text(&y.constants)
        ));
    }
    (!d.is_empty()).then(|| format!("launch changed: {}", d.join(", ")))
}

/// Why a baseline run cannot stand beside `c` (adapter, suite, hygiene), if it cannot.
pub fn run_gate(b: &RunReport, c: &RunReport, allow_different_adapter: bool) -> Option<String> {
    let diff = adapter_differences(b, c);
    if !diff.is_empty() && !allow_different_adapter {
        return Some(format!("another adapter ({})", diff.join("; ")));
    }
    if b.config.suite != c.config.suite {
        return Some(format!(
            "suite {} (the current run is {})",
            b.config.suite, c.config.suite
        ));
    }
    if b.hygiene.as_ref().is_some_and(|h| h.timing_suspect()) {
        return Some("its GPU was busy, throttled or on a degraded PCIe link".into());
    }
    if let Some(why) = incomplete(b) {
        return Some(format!("{why}: not a baseline"));
    }
    if !matches!(b.verdict, Verdict::Pass | Verdict::Drift) {
        return Some(format!(
            "its verdict was {}: not a baseline",
            crate::export::lines::verdict_word(b.verdict)
        ));
    }
    None
}

/// Why a run is not a whole measurement, if it is not: stopped, or still partial.
pub fn incomplete(r: &RunReport) -> Option<String> {
    match (&r.stopped, r.status) {
        (Some(s), _) => Some(format!("it stopped early ({})", s.message)),
        (None, RunStatus::Partial) => Some("it is partial (never finished)".into()),
        (None, RunStatus::Complete) => None,
    }
}
