//! `summary.md`: the table a person reads first (also appended to the Actions step
//! summary), and the plain-text lines printed while the run goes.

use super::{Exporter, fmt_ns, fmt_rate};
use crate::model::{AdapterFingerprint, KernelResult, KernelStatus, RunReport, Verdict};

pub struct Markdown;

pub fn adapter_line(a: &AdapterFingerprint) -> String {
    let method = match a.timing.method {
        crate::model::TimingMethod::GpuTimestamps => "gpu timestamps",
        crate::model::TimingMethod::WallClock => "wall clock",
    };
    format!(
        "{} ({}, {}, driver {} {}; timing: {method})",
        a.name, a.device_type, a.backend, a.driver, a.driver_info
    )
}

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Error => "ERROR",
        Verdict::Cancelled => "CANCELLED",
        Verdict::Running => "RUNNING",
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
        if let Some(a) = &r.adapter {
            s.push_str(&format!("Adapter: **{}**\n\n", adapter_line(a)));
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
                stop.message
            ));
        }
        s.push_str(
            "| kernel | shape | verdict | median | p95 | throughput |\n|---|---|---|---|---|---|\n",
        );
        for k in &r.kernels {
            let verdict = match (&k.status, &k.reason) {
                (KernelStatus::Pass, _) => "pass".to_owned(),
                (_, Some(reason)) => format!("{}: {}", status_word(k), reason.replace('|', "\\|")),
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
                k.id, k.shape, verdict, med, p95, tp
            ));
        }
        if let Some(h) = &r.hygiene {
            for n in &h.notes {
                s.push_str(&format!("\n> {n}\n"));
            }
        }
        let check_seed = r
            .config
            .check_seed
            .map(|c| format!(" · check seed {c}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "\n{} · seed {}{check_seed} · {} warmup + {} samples · runtime checks {} · {:.1} s\n",
            r.config.suite,
            r.config.seed,
            r.config.warmup,
            r.config.iterations,
            r.config.runtime_checks,
            r.duration_s
        ));
        s.into_bytes()
    }
}
