//! OpenMetrics text (what Prometheus, node_exporter's textfile collector and a
//! Pushgateway read), encoded by `prometheus-client`: the run's verdict, every kernel's
//! timing and verification, the card's PCIe link and throttling, and a burn's outcome.
//! Names follow Prometheus' conventions: base units (`_seconds`, `_bytes_per_second`),
//! no `_total` on gauges, identity in one `_info` gauge (value 1: the text format that
//! node_exporter and the Pushgateway parse has no info type) whose labels join with
//! dcgm-exporter's (`UUID`, `pci_bus_id`) and AMD's device-metrics-exporter's
//! (`serial_number`, `hostname`). Label names stay snake case (promtool's lint), so the
//! model is `model`, not dcgm-exporter's `modelName`. A value the run could not measure
//! is absent, never 0. Every sample carries `command` (`run`, `burn` or `compare`), so the
//! files of several commands can share one textfile directory.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;

use super::Exporter;
use crate::model::{KernelStatus, RunReport, Verdict};

pub struct Metrics;

pub type Labels = Vec<(&'static str, String)>;
type Float = Gauge<f64, std::sync::atomic::AtomicU64>;

/// One gauge family: (labels, value) pairs registered under a name, unit and help.
pub struct Series {
    name: &'static str,
    unit: Option<Unit>,
    help: &'static str,
    values: Vec<(Labels, f64)>,
}

impl Series {
    pub fn new(name: &'static str, unit: Option<Unit>, help: &'static str) -> Series {
        Series {
            name,
            unit,
            help,
            values: Vec::new(),
        }
    }

    pub fn set(&mut self, labels: Labels, v: f64) {
        self.values.push((labels, v));
    }

    /// A state set: one sample per state, `labels` plus `key` = the state's name, 1 for
    /// `now` and 0 for the others.
    pub fn states<T: Serialize + PartialEq>(
        &mut self,
        labels: &Labels,
        key: &'static str,
        all: &[T],
        now: &T,
    ) {
        for state in all {
            let mut l = labels.clone();
            l.push((key, name_of(state)));
            self.set(l, f64::from(u8::from(state == now)));
        }
    }

    pub fn register(self, r: &mut Registry) {
        if self.values.is_empty() {
            return;
        }
        let family = Family::<Labels, Float>::default();
        for (labels, v) in &self.values {
            family.get_or_create(labels).set(*v);
        }
        match self.unit {
            Some(u) => r.register_with_unit(self.name, self.help, u, family),
            None => r.register(self.name, self.help, family),
        }
    }
}

/// The card's PCI address as dcgm-exporter writes it: eight-digit domain, upper case.
pub fn dcgm_bus_id(addr: &str) -> String {
    match addr.split_once(':') {
        Some((domain, rest)) if domain.len() <= 8 => {
            format!("{:0>8}:{}", domain, rest).to_uppercase()
        }
        _ => addr.to_uppercase(),
    }
}

/// A verdict, status or finding as result.json and compare's JSON spell it (its serde
/// name), so the labels never drift from the documents.
pub fn name_of<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => panic!("a unit variant serialises as a string, not {other:?}"),
    }
}

/// The identity labels of `gpu_canary_info`; a name not known is left out.
fn identity(r: &RunReport) -> Labels {
    let id = r.hygiene.as_ref().and_then(|h| h.identity.as_ref());
    let a = r.adapter.as_ref();
    let bus = a
        .and_then(|a| a.pci_bus_id.clone())
        .or_else(|| id.and_then(|i| i.pci_bus_id.clone()));
    let mut l: Labels = vec![
        ("version", r.tool.version.clone()),
        ("suite", r.config.suite.clone()),
    ];
    let mut add = |k: &'static str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            l.push((k, v));
        }
    };
    add("hostname", r.host.hostname.clone());
    add("UUID", id.and_then(|i| i.uuid.clone()));
    add("serial_number", id.and_then(|i| i.serial.clone()));
    add("pci_bus_id", bus.map(|b| dcgm_bus_id(&b)));
    add("model", a.map(|a| a.name.clone()));
    add(
        "vendor",
        a.map(|a| {
            crate::gpu::vendor_name(a.vendor)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("0x{:04x}", a.vendor))
        }),
    );
    add(
        "driver",
        a.map(|a| format!("{} {}", a.driver, a.driver_info).trim().to_owned()),
    );
    add("backend", a.map(|a| a.backend.clone()));
    add("device_type", a.map(|a| a.device_type.clone()));
    add("commit", r.tool.git_commit.clone());
    l
}

/// A registry whose every sample carries `command` (`run`, `burn`, `compare`): files of
/// several commands in one node_exporter textfile directory never hold the same series,
/// so none hides another's verdict.
pub fn registry(command: &'static str) -> Registry {
    registry_of(command, None)
}

/// [`registry`] with `card` on every sample too: the cards of an `--adapter all` run
/// in one file.
fn registry_of(command: &'static str, card: Option<&str>) -> Registry {
    use std::borrow::Cow;
    let mut labels = vec![(Cow::Borrowed("command"), Cow::Borrowed(command))];
    if let Some(c) = card {
        labels.push((Cow::Borrowed("card"), Cow::Owned(c.to_owned())));
    }
    Registry::with_labels(labels.into_iter())
}

/// The command a report is of, as the `command` label names it.
fn command_of(r: &RunReport) -> &'static str {
    if r.burn.is_some() {
        "burn"
    } else if r.preflight.is_some() {
        "preflight"
    } else {
        "run"
    }
}

impl Exporter for Metrics {
    fn render(&self, r: &RunReport) -> Vec<u8> {
        render_for(r, None)
    }
}

/// The cards' metrics in one file: each card's families with its `card` label, a
/// family's header once and its samples from every card after it.
pub fn render_cards(cards: &[(&str, &RunReport)]) -> Vec<u8> {
    let mut order: Vec<String> = Vec::new();
    let mut families: std::collections::HashMap<String, (Vec<String>, Vec<String>)> =
        Default::default();
    for (card, r) in cards {
        let text = String::from_utf8(render_for(r, Some(card))).expect("metrics are UTF-8");
        let mut current: Option<String> = None;
        for line in text.lines() {
            if line == "# EOF" {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                // "# HELP name ...", "# TYPE name ...", "# UNIT name ...".
                let name = rest
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let f = families.entry(name.clone()).or_insert_with(|| {
                    order.push(name.clone());
                    Default::default()
                });
                if !f.0.iter().any(|h| h == line) {
                    f.0.push(line.to_owned());
                }
                current = Some(name);
            } else if let Some(name) = &current {
                families
                    .get_mut(name)
                    .expect("a family")
                    .1
                    .push(line.to_owned());
            }
        }
    }
    let mut out = String::new();
    for name in order {
        let (head, samples) = &families[&name];
        for l in head.iter().chain(samples) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out.into_bytes()
}

fn render_for(r: &RunReport, card: Option<&str>) -> Vec<u8> {
    let mut reg = registry_of(command_of(r), card);
    run_series(r, &mut reg);
    kernel_series(r, &mut reg);
    if let Some(h) = &r.hygiene {
        hygiene_series(h, &mut reg);
    }
    if let Some(c) = &r.coverage {
        memory_series(&c.memory, &mut reg);
    }
    if let Some(b) = &r.burn {
        burn_series(b, &mut reg);
    }
    if let Some(d) = &r.diagnosis {
        let mut action = Series::new(
            "gpu_canary_action",
            None,
            "What the operator does next (1 for the run's action, 0 for the others): none, rerun, fix_lane_config, reset_gpu, reboot_host, drain_and_inspect, service_required, check_cooling_power",
        );
        action.states(&Vec::new(), "action", &crate::model::Action::ALL, &d.action);
        action.register(&mut reg);
    }
    if let Some(e) = &r.errors {
        let mut grown = Series::new(
            "gpu_canary_error_counter_increase",
            None,
            "How much each of the card's error counters grew during the run (PCIe AER of the card and its upstream port, ECC); a counter that could not be read is absent",
        );
        for c in &e.counters {
            grown.set(
                vec![("counter", c.name.replace(' ', "_"))],
                c.after.saturating_sub(c.before) as f64,
            );
        }
        grown.register(&mut reg);
    }
    text(&reg)
}

/// The run as a whole: tool, host and card, start, wall time, exit code, verdict.
fn run_series(r: &RunReport, reg: &mut Registry) {
    let mut info = Series::new(
        "gpu_canary_info",
        None,
        "The run's tool, host and card (value 1); join with dcgm-exporter on UUID or pci_bus_id, with AMD's exporter on serial_number",
    );
    info.set(identity(r), 1.0);
    info.register(reg);
    let mut started = Series::new(
        "gpu_canary_run_start_timestamp",
        Some(Unit::Seconds),
        "When the run started (Unix time)",
    );
    if let Ok(t) = humantime::parse_rfc3339(&r.started_at)
        && let Ok(d) = t.duration_since(std::time::UNIX_EPOCH)
    {
        started.set(Vec::new(), d.as_secs_f64());
    }
    started.register(reg);
    let mut duration = Series::new(
        "gpu_canary_run_duration",
        Some(Unit::Seconds),
        "The run's wall time",
    );
    duration.set(Vec::new(), r.duration_s);
    duration.register(reg);
    let mut exit = Series::new(
        "gpu_canary_run_exit_code",
        None,
        "The run's exit code (0 pass, 1 wrong result, 2 usage, 3 environment, 5 drift, 130/143 signals)",
    );
    exit.set(Vec::new(), f64::from(r.exit_code));
    exit.register(reg);
    let mut verdict = Series::new(
        "gpu_canary_run_verdict",
        None,
        "The run's verdict as a state set: 1 for the verdict it had, 0 for the others",
    );
    verdict.states(
        &Vec::new(),
        "verdict",
        &[
            Verdict::Pass,
            Verdict::Fail,
            Verdict::Error,
            Verdict::Cancelled,
            Verdict::Drift,
            Verdict::Running,
            Verdict::Inconclusive,
        ],
        &r.verdict,
    );
    verdict.register(reg);
}

/// Each case: status, timing, throughput, dispatches verified, miss probability.
fn kernel_series(r: &RunReport, reg: &mut Registry) {
    let mut status = Series::new(
        "gpu_canary_kernel_status",
        None,
        "Each case's outcome as a state set (pass, fail, skipped, error)",
    );
    let mut median = Series::new(
        "gpu_canary_kernel_median",
        Some(Unit::Seconds),
        "Median time per dispatch",
    );
    let mut min = Series::new(
        "gpu_canary_kernel_min",
        Some(Unit::Seconds),
        "Fastest dispatch",
    );
    let mut flops = Series::new(
        "gpu_canary_kernel_operations_per_second",
        None,
        "Median throughput of the matmuls: floating-point (or integer) operations per second",
    );
    let mut bytes = Series::new(
        "gpu_canary_kernel_bytes_per_second",
        None,
        "Median throughput of the reductions, copies and transfers (GPU clock)",
    );
    let mut dispatches = Series::new(
        "gpu_canary_kernel_dispatches",
        None,
        "Dispatches the case ran",
    );
    let mut verified = Series::new(
        "gpu_canary_kernel_dispatches_verified",
        None,
        "Dispatches compared bit for bit with the verified output (equal to gpu_canary_kernel_dispatches, or the case failed)",
    );
    let mut miss = Series::new(
        "gpu_canary_kernel_verification_miss_probability",
        None,
        "Upper bound on the probability that the check against the CPU reference passes a wrong output (0: certain)",
    );
    for k in &r.kernels {
        let labels = || vec![("kernel", k.id.clone()), ("shape", k.shape.clone())];
        status.states(
            &labels(),
            "status",
            &[
                KernelStatus::Pass,
                KernelStatus::Fail,
                KernelStatus::Skipped,
                KernelStatus::Error,
            ],
            &k.status,
        );
        if let Some(st) = &k.stats {
            median.set(labels(), st.median_ns / 1e9);
            min.set(labels(), st.min_ns / 1e9);
        }
        if let Some(t) = &k.throughput {
            // Stored per nanosecond (G-units per second).
            let per_s = t.median * 1e9;
            match t.unit.as_str() {
                "GB/s" => bytes.set(labels(), per_s),
                _ => flops.set(labels(), per_s),
            }
        }
        if let Some(d) = &k.dispatch_check {
            dispatches.set(labels(), d.dispatches_total as f64);
            verified.set(labels(), d.dispatches_verified as f64);
        }
        if let Some(p) = k.verification.as_ref().and_then(|v| v.miss_probability) {
            miss.set(labels(), p);
        }
    }
    for s in [
        status, median, min, flops, bytes, dispatches, verified, miss,
    ] {
        s.register(reg);
    }
}

/// The card's state: throttling, a busy GPU, the PCIe link, ECC errors; a flag whose
/// source could not read it is absent.
fn hygiene_series(h: &crate::model::Hygiene, reg: &mut Registry) {
    let mut throttled = Series::new(
        "gpu_canary_throttled",
        None,
        "1 when the card reported thermal or power throttling at the end of the run",
    );
    let mut busy = Series::new(
        "gpu_canary_busy_at_start",
        None,
        "1 when another process used the GPU as the run started",
    );
    let mut degraded = Series::new(
        "gpu_canary_pcie_link_degraded",
        None,
        "1 when the PCIe link ran below its maximum generation or width during the run",
    );
    // A 1 is a reading whatever else the source lacks; a 0 only from a source
    // that reads what the flag is made of: absent otherwise.
    let reads = |what: &str| h.source != "unavailable" && !h.unreadable.iter().any(|u| u == what);
    if h.throttled_at_end || (reads("throttle_reasons") && h.after.is_some()) {
        throttled.set(Vec::new(), f64::from(u8::from(h.throttled_at_end)));
    }
    let utilization = h.before.as_ref().and_then(|b| b.utilization_percent);
    if h.busy_at_start || (reads("other_processes") && utilization.is_some()) {
        busy.set(Vec::new(), f64::from(u8::from(h.busy_at_start)));
    }
    let mut generation = Series::new(
        "gpu_canary_pcie_link_generation",
        None,
        "PCIe generation: the best seen during the run and the card's maximum",
    );
    let mut width = Series::new(
        "gpu_canary_pcie_link_width",
        None,
        "PCIe lanes: the most seen during the run and the card's maximum",
    );
    if let Some(p) = &h.pcie {
        degraded.set(Vec::new(), f64::from(u8::from(h.link_degraded)));
        generation.set(vec![("which", "current".into())], f64::from(p.gen_seen));
        generation.set(vec![("which", "max".into())], f64::from(p.gen_max));
        width.set(vec![("which", "current".into())], f64::from(p.width_seen));
        width.set(vec![("which", "max".into())], f64::from(p.width_max));
    }
    let mut ecc = Series::new(
        "gpu_canary_ecc_uncorrected_errors",
        None,
        "Volatile uncorrected ECC errors the card reported at the end of the run",
    );
    if let Some(n) = h.after.as_ref().and_then(|s| s.ecc_uncorrected_volatile) {
        ecc.set(Vec::new(), n as f64);
    }
    for s in [throttled, busy, degraded, generation, width, ecc] {
        s.register(reg);
    }
}

/// A burn: checks, errors, dispatches verified, drift and throttling.
fn burn_series(b: &crate::model::BurnReport, reg: &mut Registry) {
    let mut checks = Series::new(
        "gpu_canary_burn_checks",
        None,
        "Checks against the CPU reference",
    );
    let mut errors = Series::new("gpu_canary_burn_errors", None, "Wrong results found");
    let mut disp = Series::new(
        "gpu_canary_burn_dispatches",
        None,
        "Dispatches the burn ran",
    );
    let mut disp_ok = Series::new(
        "gpu_canary_burn_dispatches_verified",
        None,
        "Dispatches compared bit for bit with the verified output",
    );
    let mut drift = Series::new(
        "gpu_canary_burn_drift_ratio",
        None,
        "Throughput of the last stretch against the first, minus 1 (negative is slower)",
    );
    let mut thr = Series::new(
        "gpu_canary_burn_throttled",
        None,
        "1 when thermal or power throttling was recorded during the burn",
    );
    checks.set(Vec::new(), b.checks as f64);
    errors.set(Vec::new(), b.errors.len() as f64);
    disp.set(Vec::new(), b.dispatches as f64);
    disp_ok.set(Vec::new(), b.dispatches_verified as f64);
    if let Some(d) = &b.drift {
        drift.set(Vec::new(), d.change_pct / 100.0);
        if !b.telemetry.missing.iter().any(|m| m == "throttle_reasons") {
            thr.set(Vec::new(), f64::from(u8::from(d.throttled)));
        }
    }
    for s in [checks, errors, disp, disp_ok, drift, thr] {
        s.register(reg);
    }
}

/// The memory test's coverage: bytes tested, the device's bytes and the share, each
/// absent where it could not be read.
fn memory_series(m: &crate::model::MemoryCoverage, reg: &mut Registry) {
    let mut tested = Series::new(
        "gpu_canary_memory_tested",
        Some(Unit::Bytes),
        "Bytes of device memory the memory test wrote and read back with every pattern",
    );
    tested.set(Vec::new(), m.tested_bytes as f64);
    let mut device = Series::new(
        "gpu_canary_device_memory",
        Some(Unit::Bytes),
        "The device's memory (Vulkan's device-local heaps, else NVML's or amdgpu's total)",
    );
    if let Some(d) = m.device_bytes {
        device.set(
            vec![("source", m.device_source.clone().unwrap_or_default())],
            d as f64,
        );
    }
    let mut ratio = Series::new(
        "gpu_canary_memory_coverage_ratio",
        None,
        "Tested bytes over the device's bytes; claimed=\"false\" on an adapter whose memory is the host's",
    );
    if let Some(f) = m.fraction {
        ratio.set(vec![("claimed", m.claimed.to_string())], f);
    }
    let mut wrong = Series::new(
        "gpu_canary_memory_wrong_words",
        None,
        "64-bit words the memory test read back wrong, over every pass",
    );
    wrong.set(Vec::new(), m.wrong_words as f64);
    let mut passes = Series::new(
        "gpu_canary_memory_passes_verified",
        None,
        "Memory test passes whose compare on the GPU proved itself (every word, the planted mismatch found)",
    );
    passes.set(Vec::new(), f64::from(m.passes_verified));
    for s in [tested, device, ratio, wrong, passes] {
        s.register(reg);
    }
}

/// A registry as OpenMetrics text, each family's samples in order of their labels (the
/// encoder walks a hash map): the same run gives the same bytes.
pub fn text(reg: &Registry) -> Vec<u8> {
    let mut encoded = String::new();
    encode(&mut encoded, reg).expect("writing to a String cannot fail");
    let mut out = String::with_capacity(encoded.len());
    let mut samples: Vec<&str> = Vec::new();
    for line in encoded.lines() {
        if line.starts_with('#') {
            samples.sort_unstable();
            for s in samples.drain(..) {
                out.push_str(s);
                out.push('\n');
            }
            out.push_str(line);
            out.push('\n');
        } else {
            samples.push(line);
        }
    }
    samples.sort_unstable();
    for s in samples {
        out.push_str(s);
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_familys_samples_come_in_order() {
        let mut reg = Registry::default();
        let mut s = Series::new("x", None, "help");
        for v in ["c", "a", "b"] {
            s.set(vec![("k", v.to_owned())], 1.0);
        }
        s.register(&mut reg);
        let t = String::from_utf8(text(&reg)).unwrap();
        let lines: Vec<&str> = t.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            ["x{k=\"a\"} 1.0", "x{k=\"b\"} 1.0", "x{k=\"c\"} 1.0"]
        );
        assert!(t.ends_with("# EOF\n"), "{t}");
    }

    /// The recorded lavapipe run with `hygiene` from a source that read one snapshot.
    fn with_hygiene(source: &str, unreadable: &[&str], throttled: bool) -> String {
        let mut r: RunReport =
            serde_json::from_str(include_str!("../../tests/fixtures/lavapipe-result.json"))
                .unwrap();
        let snap = crate::model::GpuSnapshot {
            utilization_percent: Some(3),
            ..Default::default()
        };
        let mut h = crate::telemetry::assess(Ok(source), Some(snap.clone()), &[], Some(snap));
        h.unreadable = unreadable.iter().map(|u| u.to_string()).collect();
        h.throttled_at_end = throttled;
        r.hygiene = Some(h);
        String::from_utf8(Metrics.render(&r)).unwrap()
    }

    #[test]
    fn a_flag_the_source_cannot_read_is_absent_never_0() {
        // NVML reads both: 0 is a reading.
        let m = with_hygiene("nvml", &[], false);
        assert!(
            m.contains("\ngpu_canary_throttled{command=\"run\"} 0.0\n"),
            "{m}"
        );
        assert!(
            m.contains("\ngpu_canary_busy_at_start{command=\"run\"} 0.0\n"),
            "{m}"
        );
        // sysfs without throttle reasons or process lists: neither 0 is a reading.
        let m = with_hygiene("sysfs", &["other_processes", "throttle_reasons"], false);
        assert!(!m.contains("gpu_canary_throttled"), "{m}");
        assert!(!m.contains("gpu_canary_busy_at_start"), "{m}");
        // A throttle seen is a reading, whatever else the source lacks.
        let m = with_hygiene("sysfs", &["other_processes"], true);
        assert!(
            m.contains("\ngpu_canary_throttled{command=\"run\"} 1.0\n"),
            "{m}"
        );
    }

    #[test]
    fn bus_ids_take_dcgm_exporters_form() {
        assert_eq!(dcgm_bus_id("0000:3b:00.0"), "00000000:3B:00.0");
        assert_eq!(dcgm_bus_id("00000000:3B:00.0"), "00000000:3B:00.0");
    }
}
