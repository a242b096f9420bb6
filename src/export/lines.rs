//! The one-line texts the console prints while a run goes, which the summary, JUnit and
//! the other exports say the same way: the adapter, the card, each kernel, the memory
//! covered, a wrong result's fingerprint, the verdict and the action.

use super::{fmt_ns, fmt_rate};
use crate::model::{
    AdapterFingerprint, GpuIdentity, KernelResult, KernelStatus, MemoryCoverage, Verdict,
};

pub fn adapter_line(a: &AdapterFingerprint) -> String {
    let method = match a.timing.method {
        crate::model::TimingMethod::GpuTimestamps => "gpu timestamps",
        crate::model::TimingMethod::WallClock => "wall clock",
    };
    let pci = crate::gpu::pci_note(a.pci_bus_id.as_deref().unwrap_or_default());
    format!(
        "{} ({}, {}{pci}, driver {} {}; timing: {method})",
        a.name, a.device_type, a.backend, a.driver, a.driver_info
    )
}

/// The card by the names an operator finds it by (PCI address, UUID, serial).
pub fn identity_line(id: &GpuIdentity) -> Option<String> {
    id.line()
}

/// The memory test's coverage in one phrase: "127.8 of 141.1 GB (90.6 %), 0 wrong", or
/// for a software adapter "256.0 MB tested (1.1 % of the host's 24.0 GB: card coverage
/// not claimed), 0 wrong".
pub fn coverage_line(c: &MemoryCoverage) -> String {
    use crate::kernels::memtest::size_text;
    let tested = size_text(c.tested_bytes);
    let what = match (c.device_bytes, c.fraction) {
        (Some(d), Some(f)) if c.claimed => {
            let t = size_text(c.tested_bytes);
            let d = size_text(d);
            // "127.8 of 141.1 GB": the unit once where both share it.
            let same = t.rsplit(' ').next() == d.rsplit(' ').next();
            let t = if same {
                t.rsplit_once(' ').map_or(t.clone(), |(v, _)| v.to_owned())
            } else {
                t
            };
            format!("{t} of {d} ({:.1} %)", f * 100.0)
        }
        (Some(d), Some(f)) => format!(
            "{tested} tested ({:.1} % of the host's {}: card coverage not claimed)",
            f * 100.0,
            size_text(d)
        ),
        _ => format!("{tested} tested (the device's memory could not be read)"),
    };
    let wrong = if c.passes_verified < c.passes {
        format!("{} of {} passes verified", c.passes_verified, c.passes)
    } else {
        format!("{} wrong", c.wrong_words)
    };
    format!("{what}, {wrong}")
}

/// "; periodic: every 1000th word (…)" where the wrong words are periodic, else "".
pub fn stride_phrase(f: &crate::model::Fingerprint) -> String {
    f.stride_phrase()
}

/// The fingerprint in one line, for the console.
pub fn fingerprint_line(id: &str, f: &crate::model::Fingerprint) -> String {
    let d: Vec<String> = f.dispatches.iter().take(8).map(u64::to_string).collect();
    format!(
        "fingerprint: {id}: {} wrong {}-bit word{} in {}, failing bits {}{}, dispatch{} {}{}{}",
        f.wrong_words,
        f.word_bits,
        if f.wrong_words == 1 { "" } else { "s" },
        f.buffer,
        f.failing_bits,
        f.stride
            .map(|s| format!(", every {s}th word"))
            .unwrap_or_default(),
        if f.dispatches.len() == 1 { "" } else { "es" },
        d.join(","),
        if f.dispatches.len() > 8 { ",…" } else { "" },
        f.dispatch_fraction
            .map(|x| format!(" ({:.0} %)", x * 100.0))
            .unwrap_or_default()
    )
}

/// "action: drain_and_inspect: a wrong result (…) · card PCI 0000:3b:00.0 · GPU-…".
pub fn action_line(d: &crate::model::Diagnosis) -> String {
    format!(
        "action: {}: {}{}",
        d.action.name(),
        d.reason,
        d.card
            .as_ref()
            .map(|c| format!(" (card {c})"))
            .unwrap_or_default()
    )
}

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Error => "ERROR",
        Verdict::Cancelled => "CANCELLED",
        Verdict::Drift => "DRIFT",
        Verdict::Running => "RUNNING",
        Verdict::Inconclusive => "INCONCLUSIVE",
    }
}

pub fn status_word(k: &KernelResult) -> String {
    match k.status {
        KernelStatus::Pass => "pass".into(),
        KernelStatus::Fail => "FAIL".into(),
        KernelStatus::Skipped => "skipped".into(),
        KernelStatus::Error => "ERROR".into(),
    }
}

/// One line per kernel for the terminal.
/// A transfer's rate on the host clock (the whole transfer), or a note that the samples
/// are host time, where either applies.
pub fn host_rate(k: &KernelResult) -> Option<String> {
    match (&k.host, k.timing) {
        (Some(h), _) => h
            .throughput
            .as_ref()
            .map(|t| format!("host {}", fmt_rate(t.median, &t.unit))),
        (None, Some(crate::model::TimingMethod::WallClock)) => Some("(host clock)".into()),
        _ => None,
    }
}

/// Seconds to the millisecond, without trailing zeros (an interval is at least 0.1 s).
pub fn secs(s: f64) -> String {
    // Milliseconds at most (an interval is at least 0.1 s), without trailing zeros.
    let t = format!("{s:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// What explains a burn's drift, or what could not be known: the throttle reasons
/// recorded, that none were (from a source that reads them), that none could be read,
/// and why the drift says nothing about the GPU where it does not.
pub fn drift_note(d: &crate::model::Drift, t: &crate::model::Telemetry) -> String {
    let mut s = if d.throttled {
        format!(", throttled: {}", d.throttle_reasons.join(", "))
    } else if t.missing.iter().any(|m| m == "throttle_reasons") {
        ", throttle data unavailable".to_owned()
    } else {
        ", no throttle recorded".to_owned()
    };
    if let Some(why) = &d.inconclusive {
        s.push_str(&format!("; inconclusive: {why}"));
    }
    s
}

pub fn kernel_line(k: &KernelResult) -> String {
    let mut s = format!("{:<13} {:<16} {:<7}", k.id, k.shape, status_word(k));
    if let (Some(st), Some(t)) = (&k.stats, &k.throughput) {
        s.push_str(&format!(
            " median {:>9}  min {:>9}  p95 {:>9}  {:>14}",
            fmt_ns(st.median_ns),
            fmt_ns(st.min_ns),
            fmt_ns(st.p95_ns),
            fmt_rate(t.median, &t.unit)
        ));
    }
    if let Some(h) = host_rate(k) {
        s.push_str(&format!("  {h}"));
    }
    if let Some(r) = &k.reason {
        s.push_str("  ");
        s.push_str(r);
    }
    s
}
