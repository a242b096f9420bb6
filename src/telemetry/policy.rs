//! What the readings mean, whatever read them: a GPU busy at the start, throttled at
//! the end, losing ECC, or on a PCIe link below its maximum makes a run's timing
//! suspect, and `compare` will not trust it. Pure: the tests feed recorded snapshots.

use crate::model::{GpuSnapshot, Hygiene, PcieLink};

/// What a throttle reason is (each vendor's module classifies its own names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A thermal or hardware slowdown: the run's timing is suspect.
    Slowdown,
    /// A power or current limit: normal under full load, yet it explains a drop.
    PowerCap,
    /// Recorded only.
    Other,
}

/// Whether a throttle reason is a thermal or hardware slowdown: NVML's, amdgpu's
/// temperature, VRHOT and PROCHOT throttlers (bits 32 to 47), Intel's thermal ones.
pub fn is_slowdown(reason: &str) -> bool {
    super::classify(reason) == Some(Class::Slowdown)
}

/// Whether a throttle reason is the power cap (NVML's SW_POWER_CAP, amdgpu's power and
/// current limits: bits 0 to 23, Intel's PL1, PL2, PL4 and VR TDC): normal under full
/// load, yet it explains a drop.
pub fn is_power_cap(reason: &str) -> bool {
    super::classify(reason) == Some(Class::PowerCap)
}

/// Whether a snapshot shows a thermal or hardware slowdown.
pub fn slowing(s: &GpuSnapshot) -> bool {
    s.throttle_reasons.iter().any(|r| is_slowdown(r))
}

/// The PCIe link over a run's samples: the best generation and width seen against the
/// most the link supports. `None` when no sample reports the link.
pub fn pcie_link(samples: &[GpuSnapshot]) -> Option<PcieLink> {
    let with: Vec<&GpuSnapshot> = samples
        .iter()
        .filter(|s| s.pcie_gen.is_some() && s.pcie_width.is_some())
        .collect();
    let best = |f: fn(&GpuSnapshot) -> Option<u32>| with.iter().filter_map(|s| f(s)).max();
    Some(PcieLink {
        samples: with.len() as u32,
        gen_seen: best(|s| s.pcie_gen)?,
        gen_max: best(|s| s.pcie_gen_max)?,
        width_seen: best(|s| s.pcie_width)?,
        width_max: best(|s| s.pcie_width_max)?,
    })
}

/// The hygiene record from snapshots before, during and after the run. `source` is
/// where they came from, or why there are none.
pub fn assess(
    source: std::result::Result<&str, String>,
    before: Option<GpuSnapshot>,
    during: &[GpuSnapshot],
    after: Option<GpuSnapshot>,
) -> Hygiene {
    let mut notes = Vec::new();
    let busy = before
        .as_ref()
        .is_some_and(|b| !b.other_processes.is_empty() || b.utilization_percent.unwrap_or(0) > 10);
    if busy {
        notes.push(
            "GPU was busy when the run started (other processes or utilisation above 10 %)".into(),
        );
    }
    let throttled = after.as_ref().is_some_and(slowing);
    if throttled {
        notes.push("GPU was throttled (thermal or hardware slowdown) when the run ended".into());
    }
    if let (Some(b), Some(a)) = (&before, &after)
        && a.ecc_uncorrected_volatile.unwrap_or(0) > b.ecc_uncorrected_volatile.unwrap_or(0)
    {
        notes.push("uncorrected ECC errors increased during the run".into());
    }
    let all: Vec<GpuSnapshot> = before
        .iter()
        .chain(during)
        .chain(after.iter())
        .cloned()
        .collect();
    let pcie = pcie_link(&all);
    let link_degraded = pcie
        .as_ref()
        .is_some_and(|l| l.gen_seen < l.gen_max || l.width_seen < l.width_max);
    if let Some(l) = pcie.as_ref().filter(|_| link_degraded) {
        notes.push(format!(
            "PCIe link below its maximum: at best Gen{} x{} in {} samples, the link supports Gen{} x{} (reseat the card, check the riser and slot)",
            l.gen_seen, l.width_seen, l.samples, l.gen_max, l.width_max
        ));
    }
    let (source, unavailable_reason) = match source {
        Ok(s) => (s.to_owned(), None),
        Err(why) => ("unavailable".to_owned(), Some(why)),
    };
    Hygiene {
        source,
        unavailable_reason,
        unreadable: Vec::new(),
        before,
        after,
        busy_at_start: busy,
        throttled_at_end: throttled,
        link_degraded,
        pcie,
        identity: None,
        notes,
    }
}
