//! `summary.md`: the table a person reads first (also appended to the Actions step
//! summary), and the plain-text lines printed while the run goes.

use super::{Exporter, fmt_ns, fmt_rate};
use crate::model::{
    AdapterFingerprint, GpuIdentity, KernelResult, KernelStatus, MemoryCoverage, RunReport, Verdict,
};
use crate::text::md;

pub struct Markdown;

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

/// A wrong result's fingerprint for the summary: where, which bits, how periodic, which
/// dispatches, and the first words.
pub fn fingerprint_section(id: &str, f: &crate::model::Fingerprint) -> String {
    let mut s = format!(
        "\n**Fingerprint of {}:** {} wrong {}-bit word{} in {}; failing bits {}",
        md(id),
        f.wrong_words,
        f.word_bits,
        if f.wrong_words == 1 { "" } else { "s" },
        md(&f.buffer),
        f.failing_bits
    );
    if let Some(st) = f.stride {
        s.push_str(&format!("; stride {st} words (periodic)"));
    }
    if !f.dispatches.is_empty() {
        let d: Vec<String> = f.dispatches.iter().map(u64::to_string).collect();
        s.push_str(&format!(
            "; wrong in dispatch{} {}{}",
            if d.len() == 1 { "" } else { "es" },
            d.join(", "),
            f.dispatch_fraction
                .map(|x| format!(" ({:.0} % of those checked)", x * 100.0))
                .unwrap_or_default()
        ));
    }
    s.push_str("\n\n| word | place | expected | actual |\n|---|---|---|---|\n");
    for w in f.words.iter().take(8) {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            w.word,
            md(&w.place),
            w.expected,
            w.actual
        ));
    }
    if f.words.len() > 8 {
        s.push_str(&format!(
            "\n({} more listed in result.json)\n",
            f.words.len() - 8
        ));
    }
    s
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

fn status_word(k: &KernelResult) -> String {
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

/// The memory test's coverage for the summary: what was tested of what, how, and why
/// it fell short where it did.
pub fn coverage_section(m: &MemoryCoverage) -> String {
    use crate::kernels::memtest::size_text;
    let mut s = format!("\n**Memory:** {}", coverage_line(m));
    s.push_str(&format!(
        " · {} passes ({}), {} buffers in {} binding windows, allocated in {:.2} s",
        m.passes,
        m.patterns.join(", "),
        m.buffers,
        m.windows,
        m.allocation_s
    ));
    if let (Some(w), Some(rd)) = (m.write_bytes_per_s, m.read_bytes_per_s) {
        s.push_str(&format!(
            " · write {}, read and compare {}",
            fmt_rate(w / 1e9, "GB/s"),
            fmt_rate(rd / 1e9, "GB/s")
        ));
    }
    if let (Some(f), Some(src)) = (m.free_bytes, &m.free_source) {
        s.push_str(&format!(" · {} free at the start ({src})", size_text(f)));
    }
    s.push('\n');
    for n in m
        .notes
        .iter()
        .chain(&m.allocation_stopped)
        .chain(&m.shortfall)
    {
        s.push_str(&format!("\n> {}\n", md(n)));
    }
    s
}

/// The burn's account: counts, drift, telemetry, intervals and the wrong results.
pub fn burn_section(b: &crate::model::BurnReport) -> String {
    let mut s = format!(
        "\n#### Burn: {}, {:.1} s of {:.0} s\n\n{} dispatches ({} per submission), {} checks (one every {} dispatches), {} wrong.",
        b.kernel,
        b.elapsed_s,
        b.duration_s,
        b.dispatches,
        b.batch,
        b.checks,
        b.check_every,
        b.errors.len()
    );
    if let Some(d) = &b.drift {
        s.push_str(&format!(
            " Throughput {:+.1} % (the last {} s against the first; limit −{} %){}.",
            d.change_pct,
            secs(d.window_s),
            b.max_drift_pct,
            drift_note(d, &b.telemetry)
        ));
    }
    let t = &b.telemetry;
    s.push_str(&format!(
        " Telemetry: {}{}; recorded {}{}.\n\n",
        t.source,
        t.unavailable_reason
            .as_ref()
            .map(|r| format!(" ({})", md(r)))
            .unwrap_or_default(),
        t.recorded.join(", "),
        if t.missing.is_empty() {
            String::new()
        } else {
            format!("; not available: {}", t.missing.join(", "))
        }
    ));
    let opt = |v: Option<f64>, unit: &str| v.map(|v| format!("{v:.0} {unit}")).unwrap_or_default();
    s.push_str("| interval (s) | dispatches | throughput | SM clock | memory clock | temperature | power | throttle |\n|---|---|---|---|---|---|---|---|\n");
    for i in &b.intervals {
        s.push_str(&format!(
            "| {}–{} | {} | {} | {} | {} | {} | {} | {} |\n",
            secs(i.start_s),
            secs(i.end_s),
            i.dispatches,
            i.throughput
                .map(|t| fmt_rate(t, &b.unit))
                .unwrap_or_default(),
            opt(i.sm_clock_mhz, "MHz"),
            opt(i.memory_clock_mhz, "MHz"),
            opt(i.temperature_c, "°C"),
            opt(i.power_w, "W"),
            i.throttle_reasons.join(", ")
        ));
    }
    for e in b.errors.iter().take(10) {
        s.push_str(&format!("\n> WRONG {}\n", md(&e.message)));
    }
    if b.errors.len() > 10 {
        s.push_str(&format!("\n> … and {} more\n", b.errors.len() - 10));
    }
    s
}

pub fn kernel_line(k: &KernelResult) -> String {
    let mut s = format!("{:<11} {:<16} {:<7}", k.id, k.shape, status_word(k));
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

impl Exporter for Markdown {
    fn render(&self, r: &RunReport) -> Vec<u8> {
        let mut s = format!(
            "### gpu-canary: {} (exit {})\n\n",
            verdict_word(r.verdict),
            r.exit_code
        );
        if let Some(d) = &r.diagnosis {
            s.push_str(&format!(
                "**Action:** `{}`: {}\n\n",
                d.action.name(),
                md(&d.reason)
            ));
        }
        if let Some(a) = &r.adapter {
            s.push_str(&format!("Adapter: **{}**\n\n", md(&adapter_line(a))));
        }
        if let Some(card) = r
            .hygiene
            .as_ref()
            .and_then(|h| h.identity.as_ref())
            .and_then(identity_line)
        {
            s.push_str(&format!("Card: {}\n\n", md(&card)));
        }
        if let Some(stop) = &r.stopped {
            let at = [stop.kernel.as_deref(), stop.phase.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            s.push_str(&format!(
                "**Stopped** ({}{}): {}\n\n",
                stop.reason,
                if at.is_empty() {
                    String::new()
                } else {
                    format!(" at {at}")
                },
                md(&stop.message)
            ));
        }
        s.push_str(
            "| kernel | shape | verdict | median | p95 | throughput |\n|---|---|---|---|---|---|\n",
        );
        for k in &r.kernels {
            let verdict = match (&k.status, &k.reason) {
                (KernelStatus::Pass, _) => "pass".to_owned(),
                (_, Some(reason)) => format!("{}: {}", status_word(k), md(reason)),
                _ => status_word(k),
            };
            let (med, p95) = k
                .stats
                .as_ref()
                .map(|s| (fmt_ns(s.median_ns), fmt_ns(s.p95_ns)))
                .unwrap_or_default();
            let tp = k
                .throughput
                .as_ref()
                .map(|t| fmt_rate(t.median, &t.unit))
                .unwrap_or_default();
            let tp = match host_rate(k) {
                Some(h) => format!("{tp} ({h})"),
                None => tp,
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                md(&k.id),
                md(&k.shape),
                verdict,
                med,
                p95,
                tp
            ));
        }
        if let Some(c) = &r.coverage {
            s.push_str(&coverage_section(&c.memory));
        }
        for k in &r.kernels {
            if let Some(f) = &k.fingerprint {
                s.push_str(&fingerprint_section(&format!("{}/{}", k.id, k.shape), f));
            }
        }
        if let Some(b) = &r.burn {
            s.push_str(&burn_section(b));
        }
        if let Some(e) = &r.errors {
            let grown = e.grown();
            if !grown.is_empty() {
                let g: Vec<String> = grown.iter().map(|(n, by)| format!("{n} +{by}")).collect();
                s.push_str(&format!(
                    "\n> **Errors during the run:** {}\n",
                    md(&g.join(", "))
                ));
            }
        }
        if let Some(h) = &r.hygiene {
            for n in &h.notes {
                s.push_str(&format!("\n> {}\n", md(n)));
            }
        }
        let check_seed = r
            .config
            .check_seed
            .map(|c| format!(" · check seed {c}"))
            .unwrap_or_default();
        let samples = if r.burn.is_some() {
            String::new()
        } else {
            format!(
                " · {} warmup + {} samples",
                r.config.warmup, r.config.iterations
            )
        };
        s.push_str(&format!(
            "\n{} · seed {}{check_seed}{samples} · runtime checks {} · {:.1} s\n",
            r.config.suite, r.config.seed, r.config.runtime_checks, r.duration_s
        ));
        s.into_bytes()
    }
}
