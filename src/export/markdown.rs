//! `summary.md`: the table a person reads first (also appended to the Actions step
//! summary). Its one-line texts are the console's too (`lines`).

use super::{Exporter, fmt_ns, fmt_rate};
use crate::model::{KernelStatus, MemoryCoverage, RunReport};
use crate::text::md;

use super::lines::{
    adapter_line, coverage_line, drift_note, host_rate, identity_line, secs, status_word,
    verdict_word,
};

pub struct Markdown;

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

impl Exporter for Markdown {
    // Long (about 120 lines): the summary's sections in the order they are printed, each a
    // few lines.
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
