//! The burn's report side: intervals, drift, what the telemetry recorded, counter
//! tracks for the trace, the books of what was measured and found, and the lines said
//! on the console. The loop (`steps`) only feeds it.

use crate::export::trace::Counter;
use crate::kernels::Prepared;
use crate::kernels::golden::Finding;
use crate::model::{
    BurnError, BurnInterval, BurnReport, DispatchCheck, Drift, GpuSnapshot, KernelResult,
    KernelStatus, Mismatch, Telemetry, Throughput, Verification, WrongDispatch,
};
use crate::stats;
use crate::telemetry::{self, Monitor};

use super::{PERIOD, Recorder};

/// Throttle reasons that explain a drop in throughput: thermal and hardware slowdowns,
/// and the power cap.
fn throttling(s: &GpuSnapshot) -> Vec<String> {
    s.throttle_reasons
        .iter()
        .filter(|r| telemetry::is_slowdown(r) || telemetry::is_power_cap(r))
        .cloned()
        .collect()
}

/// One completed submission: when it ended (s since the burn began), its throughput and
/// its dispatches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Done {
    pub end_s: f64,
    pub rate: f64,
    pub dispatches: u64,
}

pub(super) fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(stats::median(v))
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, s) = v.fold((0u32, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| s / f64::from(n))
}

/// The burn's intervals: throughput (median of the submissions that ended in each) and
/// the telemetry samples taken in each.
pub fn intervals(
    done: &[Done],
    samples: &[GpuSnapshot],
    interval_s: f64,
    elapsed_s: f64,
) -> Vec<BurnInterval> {
    let n = (elapsed_s / interval_s).ceil().max(1.0) as usize;
    // One pass over each list: interval i holds [i·interval, (i+1)·interval), the last
    // one also its end; nothing after the end belongs to any.
    let bucket =
        |t: f64| (t >= 0.0 && t <= elapsed_s).then(|| ((t / interval_s) as usize).min(n - 1));
    let mut subs: Vec<Vec<&Done>> = vec![Vec::new(); n];
    for d in done {
        if let Some(i) = bucket(d.end_s) {
            subs[i].push(d);
        }
    }
    let mut snaps: Vec<Vec<&GpuSnapshot>> = vec![Vec::new(); n];
    for s in samples {
        if let Some(i) = s.at_ms.and_then(|ms| bucket(ms as f64 / 1e3)) {
            snaps[i].push(s);
        }
    }
    subs.into_iter()
        .zip(snaps)
        .enumerate()
        .map(|(i, (subs, snaps))| {
            let (start_s, end_s) = (
                i as f64 * interval_s,
                ((i + 1) as f64 * interval_s).min(elapsed_s),
            );
            let mut reasons: Vec<String> = snaps
                .iter()
                .flat_map(|s| s.throttle_reasons.iter().cloned())
                .collect();
            reasons.sort();
            reasons.dedup();
            BurnInterval {
                start_s,
                end_s,
                dispatches: subs.iter().map(|d| d.dispatches).sum(),
                throughput: median(&mut subs.iter().map(|d| d.rate).collect::<Vec<_>>()),
                sm_clock_mhz: mean(snaps.iter().filter_map(|s| s.sm_clock_mhz.map(f64::from))),
                memory_clock_mhz: mean(
                    snaps
                        .iter()
                        .filter_map(|s| s.memory_clock_mhz.map(f64::from)),
                ),
                temperature_c: snaps
                    .iter()
                    .filter_map(|s| s.temperature_c.map(f64::from))
                    .reduce(f64::max),
                memory_temperature_c: snaps
                    .iter()
                    .filter_map(|s| s.memory_temperature_c.map(f64::from))
                    .reduce(f64::max),
                power_w: mean(snaps.iter().filter_map(|s| s.power_w)),
                throttle_reasons: reasons,
            }
        })
        .collect()
}

/// The last stretch's median throughput against the first's: a minute each, or a third
/// of a burn shorter than three minutes. `None` with too little data to say.
pub fn drift(
    done: &[Done],
    samples: &[GpuSnapshot],
    elapsed_s: f64,
    max_drift_pct: f64,
) -> Option<Drift> {
    let window_s = (elapsed_s / 3.0).min(60.0);
    let mut first: Vec<f64> = done
        .iter()
        .filter(|d| d.end_s <= window_s)
        .map(|d| d.rate)
        .collect();
    let mut last: Vec<f64> = done
        .iter()
        .filter(|d| d.end_s >= elapsed_s - window_s)
        .map(|d| d.rate)
        .collect();
    let (first, last) = (median(&mut first)?, median(&mut last)?);
    if first <= 0.0 {
        return None;
    }
    let change_pct = (last - first) / first * 100.0;
    let mut reasons: Vec<String> = samples.iter().flat_map(throttling).collect();
    reasons.sort();
    reasons.dedup();
    Some(Drift {
        window_s,
        first,
        last,
        change_pct,
        exceeded: -change_pct > max_drift_pct,
        throttled: !reasons.is_empty(),
        throttle_reasons: reasons,
        inconclusive: None,
    })
}

/// What the telemetry recorded (from `source`: `nvml`, `sysfs`, or `unavailable`, with
/// the reason) and what it could not.
pub fn telemetry(
    source: &str,
    unavailable: Option<&str>,
    throttle: bool,
    samples: &[GpuSnapshot],
) -> Telemetry {
    let have = |f: fn(&GpuSnapshot) -> bool| samples.iter().any(f);
    let fields: [(&str, bool); 7] = [
        ("sm_clock", have(|s| s.sm_clock_mhz.is_some())),
        ("memory_clock", have(|s| s.memory_clock_mhz.is_some())),
        ("temperature", have(|s| s.temperature_c.is_some())),
        (
            "memory_temperature",
            have(|s| s.memory_temperature_c.is_some()),
        ),
        ("power", have(|s| s.power_w.is_some())),
        // An empty list is "not throttled" only from a source that can say why.
        ("throttle_reasons", throttle && !samples.is_empty()),
        ("ecc", have(|s| s.ecc_uncorrected_volatile.is_some())),
    ];
    let mut recorded = vec!["throughput".to_owned()];
    recorded.extend(fields.iter().filter(|f| f.1).map(|f| f.0.to_owned()));
    let missing = fields
        .iter()
        .filter(|f| !f.1)
        .map(|f| f.0.to_owned())
        .collect();
    let grew = |f: fn(&GpuSnapshot) -> Option<u64>| {
        let first = samples.iter().find_map(f)?;
        let last = samples.iter().rev().find_map(f)?;
        Some(last.saturating_sub(first))
    };
    Telemetry {
        source: source.to_owned(),
        unavailable_reason: (source == "unavailable")
            .then(|| unavailable.unwrap_or_default().to_owned()),
        period_ms: PERIOD.as_millis() as u64,
        samples: samples.len() as u64,
        recorded,
        missing,
        ecc_uncorrected_new: grew(|s| s.ecc_uncorrected_volatile),
        ecc_corrected_new: grew(|s| s.ecc_corrected_volatile),
    }
}

/// Counter samples for the trace from telemetry samples.
pub(super) fn telemetry_counters(samples: &[GpuSnapshot]) -> Vec<Counter> {
    let mut out = Vec::new();
    for s in samples {
        let Some(ms) = s.at_ms else { continue };
        let at_us = ms as f64 * 1e3;
        let mut push = |name: &str, values: Vec<(String, f64)>| {
            if !values.is_empty() {
                out.push(Counter {
                    name: name.to_owned(),
                    at_us,
                    values,
                });
            }
        };
        let clocks: Vec<(String, f64)> = [
            ("sm_mhz", s.sm_clock_mhz),
            ("memory_mhz", s.memory_clock_mhz),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), f64::from(v))))
        .collect();
        push("clocks (MHz)", clocks);
        push(
            "temperature (°C)",
            s.temperature_c
                .map(|t| vec![("gpu".to_owned(), f64::from(t))])
                .unwrap_or_default(),
        );
        push(
            "memory temperature (°C)",
            s.memory_temperature_c
                .map(|t| vec![("memory".to_owned(), f64::from(t))])
                .unwrap_or_default(),
        );
        push(
            "power (W)",
            s.power_w
                .map(|p| vec![("board".to_owned(), p)])
                .unwrap_or_default(),
        );
        push(
            "throttled",
            vec![(
                "thermal_or_power".to_owned(),
                f64::from(u8::from(!throttling(s).is_empty())),
            )],
        );
    }
    out
}

/// The burn's report and the kernel's result brought up to `elapsed_s`: intervals,
/// drift, telemetry, the statistics of the samples so far, and the dispatches verified.
pub(super) fn refresh(
    books: &mut Books,
    samples: &[GpuSnapshot],
    elapsed_s: f64,
    monitor: &Monitor,
    work: f64,
) {
    books.result.dispatch_check = Some(books.dispatch_check());
    let Books {
        report,
        result,
        done,
        drift_inconclusive: books_note,
        ..
    } = books;
    report.elapsed_s = elapsed_s;
    report.intervals = intervals(done, samples, report.interval_s, elapsed_s);
    report.drift = drift(done, samples, elapsed_s, report.max_drift_pct).map(|d| Drift {
        inconclusive: books_note.clone(),
        ..d
    });
    report.telemetry = telemetry(
        monitor.source(),
        monitor.unavailable(),
        monitor.reports_throttle(),
        samples,
    );
    result.stats = stats::summarize(&result.samples_ns);
    result.throughput = result.stats.as_ref().map(|st| Throughput {
        unit: report.unit.clone(),
        work_per_run: work,
        median: work / st.median_ns.max(1.0),
        low: work / st.median_ci_high_ns.max(1.0),
        high: work / st.median_ci_low_ns.max(1.0),
    });
}

/// How a wrong result was found, for the report and the run's result.
pub(super) struct Wrong {
    pub(super) at_s: f64,
    pub(super) dispatch: u64,
    pub(super) check: u64,
    pub(super) message: String,
    pub(super) mismatch: Option<Mismatch>,
    pub(super) verification: Option<Verification>,
}

/// What the burn has measured and found so far: its report, the kernel's result, the
/// completed submissions and the wrong dispatches the GPU's compare found.
pub(super) struct Books {
    /// Why a drift would say nothing about the GPU (a software adapter), if it would.
    pub(super) drift_inconclusive: Option<String>,
    pub(super) report: BurnReport,
    pub(super) result: KernelResult,
    pub(super) done: Vec<Done>,
    pub(super) wrong: Vec<WrongDispatch>,
    pub(super) wrong_count: u64,
    /// How each dispatch was checked (`golden-gpu`, `memtest-gpu`).
    pub(super) method: &'static str,
}

impl Books {
    /// Records a wrong result in the report and the kernel's result, and says it.
    pub(super) fn wrong(&mut self, w: Wrong, rec: &dyn Recorder) {
        rec.print(&format!("burn: WRONG {}", w.message));
        self.report.errors.push(BurnError {
            at_s: w.at_s,
            dispatch: w.dispatch,
            check: w.check,
            message: w.message.clone(),
            mismatch: w.mismatch,
        });
        let result = &mut self.result;
        result.status = KernelStatus::Fail;
        if result.reason.is_none() {
            result.reason = Some(format!("burn {}", w.message));
            if let Some(mut v) = w.verification {
                v.passed = false;
                result.verification = Some(v);
            }
        }
    }

    /// A dispatch the compare on the GPU found differing from the verified output.
    pub(super) fn wrong_dispatch(
        &mut self,
        f: &Finding,
        at_s: f64,
        load: &dyn Prepared,
        rec: &dyn Recorder,
    ) {
        let d = f.pass + 2;
        let (place, e, a, mismatch) =
            crate::runner::wrong_word(load, f.first, f.expected, f.actual);
        let n = f.wrong;
        let message = format!(
            "at {at_s:.1} s, dispatch {d} (compared bit for bit with the verified output on the GPU): {n} word{} differ{}, the first {place}: expected {e}, got {a}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
        );
        self.wrong_count += 1;
        if self.wrong.len() < 16 {
            self.wrong.push(WrongDispatch {
                dispatch: d,
                name: format!("dispatch {d}"),
                wrong_words: n,
                word: f.first,
                place,
                expected: e,
                actual: a,
            });
        }
        self.wrong(
            Wrong {
                at_s,
                dispatch: d,
                check: 0,
                message,
                mismatch: Some(mismatch),
                verification: None,
            },
            rec,
        );
    }

    /// The burn's per-dispatch record for its kernel's result.
    fn dispatch_check(&self) -> DispatchCheck {
        DispatchCheck {
            method: self.method.to_owned(),
            dispatches_total: self.report.dispatches,
            dispatches_verified: self.report.dispatches_verified,
            wrong_dispatches: self.wrong_count,
            wrong: self.wrong.clone(),
            check_ns: None,
            checker_faults: Vec::new(),
            repoisoned_by_host: 0,
            golden_intact: None,
            golden_fault: None,
        }
    }
}

/// What the console says when the burn ends: the drift, and the totals.
pub(super) fn closing_lines(report: &BurnReport, elapsed: f64) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(d) = &report.drift {
        lines.push(format!(
            "burn: throughput {:+.1} % (last {} s against the first){}",
            d.change_pct,
            crate::export::lines::secs(d.window_s),
            crate::export::lines::drift_note(d, &report.telemetry)
        ));
    }
    lines.push(format!(
        "burn: {} dispatches, {} of them verified, {} checked against the CPU reference, {} wrong, {:.1} s",
        report.dispatches,
        report.dispatches_verified,
        report.checks,
        report.errors.len(),
        elapsed
    ));
    lines
}

/// "burn  10–20 s   412 dispatches   8.12 GFLOP/s  sm 1980 MHz  63 °C  301 W".
pub fn interval_line(i: &BurnInterval, unit: &str) -> String {
    let mut s = format!(
        "burn {:>5.0}–{:<5.0} s {:>8} dispatches",
        i.start_s, i.end_s, i.dispatches
    );
    if let Some(t) = i.throughput {
        s.push_str(&format!("  {:>14}", crate::export::fmt_rate(t, unit)));
    }
    if let Some(v) = i.sm_clock_mhz {
        s.push_str(&format!("  sm {v:.0} MHz"));
    }
    if let Some(v) = i.temperature_c {
        s.push_str(&format!("  {v:.0} °C"));
    }
    if let Some(v) = i.memory_temperature_c {
        s.push_str(&format!("  memory {v:.0} °C"));
    }
    if let Some(v) = i.power_w {
        s.push_str(&format!("  {v:.0} W"));
    }
    if !i.throttle_reasons.is_empty() {
        s.push_str(&format!("  throttle: {}", i.throttle_reasons.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(at_ms: u64, sm: u32, temp: u32, reasons: &[&str]) -> GpuSnapshot {
        GpuSnapshot {
            at_ms: Some(at_ms),
            sm_clock_mhz: Some(sm),
            temperature_c: Some(temp),
            power_w: Some(300.0),
            throttle_reasons: reasons.iter().map(|r| r.to_string()).collect(),
            ..GpuSnapshot::default()
        }
    }

    /// 10 minutes of submissions every 100 ms, throughput falling linearly by `drop`.
    fn steady(drop: f64) -> Vec<Done> {
        (1..=6000)
            .map(|i| Done {
                end_s: f64::from(i) * 0.1,
                rate: 100.0 * (1.0 - drop * f64::from(i) / 6000.0),
                dispatches: 2,
            })
            .collect()
    }

    #[test]
    fn intervals_hold_their_submissions_and_telemetry() {
        let done = steady(0.0);
        let samples: Vec<GpuSnapshot> = (0..6000)
            .map(|i| snap(i * 100, 1980 - (i / 100) as u32, 40 + (i / 200) as u32, &[]))
            .collect();
        let iv = intervals(&done, &samples, 10.0, 600.0);
        assert_eq!(iv.len(), 60);
        assert_eq!(iv.iter().map(|i| i.dispatches).sum::<u64>(), 12000);
        assert_eq!(iv[0].throughput, Some(100.0));
        assert_eq!(iv[0].temperature_c, Some(40.0));
        assert_eq!(iv[59].temperature_c, Some(69.0));
        assert!(iv[59].sm_clock_mhz.unwrap() < iv[0].sm_clock_mhz.unwrap());
    }

    #[test]
    fn drift_compares_the_last_minute_with_the_first_and_knows_throttling() {
        let d = drift(&steady(0.2), &[], 600.0, 10.0).unwrap();
        assert_eq!(d.window_s, 60.0);
        assert!(d.change_pct < -15.0 && d.change_pct > -20.0, "{d:?}");
        assert!(d.exceeded && !d.throttled);
        let d = drift(&steady(0.05), &[], 600.0, 10.0).unwrap();
        assert!(!d.exceeded, "{d:?}");
        let hot = [snap(300_000, 1500, 88, &["sw_thermal_slowdown"])];
        let d = drift(&steady(0.2), &hot, 600.0, 10.0).unwrap();
        assert!(d.exceeded && d.throttled);
        assert_eq!(d.throttle_reasons, ["sw_thermal_slowdown"]);
        // Idle or clock-setting reasons explain nothing.
        let idle = [snap(
            1000,
            1980,
            40,
            &["gpu_idle", "applications_clocks_setting"],
        )];
        assert!(!drift(&steady(0.2), &idle, 600.0, 10.0).unwrap().throttled);
        // amdgpu's hotspot limit and power limit explain it too; its FIT limiter not.
        let amd = [snap(
            300_000,
            1800,
            95,
            &["amd_temp_hotspot", "amd_ppt0", "amd_fit"],
        )];
        let d = drift(&steady(0.2), &amd, 600.0, 10.0).unwrap();
        assert!(d.exceeded && d.throttled);
        assert_eq!(d.throttle_reasons, ["amd_ppt0", "amd_temp_hotspot"]);
        // A short burn compares its first and last thirds.
        assert_eq!(drift(&steady(0.0), &[], 30.0, 10.0).unwrap().window_s, 10.0);
        assert!(drift(&[], &[], 30.0, 10.0).is_none());
    }

    #[test]
    fn telemetry_says_what_is_missing() {
        let t = telemetry(
            "unavailable",
            Some("NVML not available: no library"),
            false,
            &[],
        );
        assert_eq!(t.source, "unavailable");
        assert_eq!(t.recorded, ["throughput"]);
        assert!(t.missing.contains(&"temperature".to_owned()));
        let mut a = snap(0, 1980, 40, &[]);
        a.ecc_corrected_volatile = Some(3);
        let mut b = snap(100, 1980, 41, &[]);
        b.ecc_corrected_volatile = Some(5);
        let t = telemetry("nvml", None, true, &[a.clone(), b.clone()]);
        assert_eq!(t.source, "nvml");
        assert!(t.recorded.contains(&"temperature".to_owned()));
        assert!(t.missing.contains(&"memory_clock".to_owned()));
        assert_eq!(t.ecc_corrected_new, Some(2));
        // sysfs without amdgpu's gpu_metrics has no throttle reasons: said, not implied.
        let t = telemetry(
            "sysfs",
            Some("NVML is NVIDIA's only"),
            false,
            &[a.clone(), b.clone()],
        );
        assert!(t.missing.contains(&"throttle_reasons".to_owned()));
        assert_eq!(t.unavailable_reason, None);
        let t = telemetry("sysfs", Some("NVML is NVIDIA's only"), true, &[a, b]);
        assert!(t.recorded.contains(&"throttle_reasons".to_owned()));
    }

    #[test]
    fn telemetry_becomes_counter_tracks() {
        let c = telemetry_counters(&[
            snap(100, 1980, 61, &[]),
            snap(200, 1755, 87, &["sw_thermal_slowdown"]),
        ]);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names[..4],
            ["clocks (MHz)", "temperature (°C)", "power (W)", "throttled"]
        );
        assert_eq!(c[0].at_us, 100_000.0);
        assert_eq!(c[0].values, [("sm_mhz".to_owned(), 1980.0)]);
        let throttled: Vec<f64> = c
            .iter()
            .filter(|c| c.name == "throttled")
            .map(|c| c.values[0].1)
            .collect();
        assert_eq!(throttled, [0.0, 1.0]);
    }
}
