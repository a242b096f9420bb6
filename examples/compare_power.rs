//! How well `compare` tells noise from a slowdown, measured on a set of real runs of one
//! adapter (by default the lavapipe runs in tests/fixtures/window, made minutes apart):
//!
//! - false alarms: every run judged against the others, by the window method
//!   (leave-one-out) and by the single-run method (every ordered pair);
//! - detection: each kernel's smallest planted slowdown (every sample of the judged run
//!   multiplied) called `slower` in at least 9 of 10 trials, for both methods;
//! - the single-run method at equal false alarms: per kernel, the smallest threshold at
//!   which it calls no unchanged pair slower, and its detection there.
//!
//! `cargo run --release --example compare_power [DIR] [--threshold PCT]`

use std::collections::BTreeMap;

use gpu_canary::compare::{self, PerfVerdict};
use gpu_canary::model::{KernelStatus, RunReport, find_results, read_report};

fn scaled(r: &RunReport, f: f64) -> RunReport {
    let mut r = r.clone();
    for k in &mut r.kernels {
        for s in &mut k.samples_ns {
            *s = (*s as f64 * f).round() as u64;
        }
    }
    r
}

/// Each kernel's verdict when `cur` is judged against `base`.
fn verdicts(base: &[&RunReport], cur: &RunReport, thr: f64) -> BTreeMap<String, PerfVerdict> {
    let named: Vec<(String, RunReport)> = base
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("run {i}"), (*r).clone()))
        .collect();
    compare::compare(&named, cur, thr, false, "current")
        .kernels
        .into_iter()
        .map(|k| (k.key, k.verdict))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let thr: f64 = args
        .iter()
        .position(|a| a == "--threshold")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--") && a.parse::<f64>().is_err())
        .cloned()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/window").into());
    let (files, _) = find_results(&[dir.clone().into()]).expect("a folder of results");
    let mut runs: Vec<RunReport> = files.iter().map(|f| read_report(f).unwrap()).collect();
    runs.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    let n = runs.len();
    let keys: Vec<String> = runs[0]
        .kernels
        .iter()
        .filter(|k| k.status == KernelStatus::Pass)
        .map(|k| k.key())
        .collect();
    println!(
        "{n} runs in {dir}, {} to {}; threshold {thr}%",
        runs[0].started_at,
        runs[n - 1].started_at
    );

    // False alarms on unchanged runs.
    let mut single: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut window: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for i in 0..n {
        let others: Vec<&RunReport> = (0..n).filter(|&j| j != i).map(|j| &runs[j]).collect();
        for (k, v) in verdicts(&others, &runs[i], thr) {
            let e = window.entry(k).or_default();
            e.0 += usize::from(v == PerfVerdict::Slower);
            e.1 += 1;
        }
        for j in (0..n).filter(|&j| j != i) {
            for (k, v) in verdicts(&[&runs[j]], &runs[i], thr) {
                let e = single.entry(k).or_default();
                e.0 += usize::from(v == PerfVerdict::Slower);
                e.1 += 1;
            }
        }
    }

    // Detection: 10 trials, runs spread over the set.
    let trials: Vec<usize> = (0..10).map(|t| t * n / 10).collect();
    let grid = [
        0.02, 0.05, 0.075, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50, 0.75, 1.0, 1.5, 2.0,
    ];
    let smallest = |window_method: bool, thr: f64| -> BTreeMap<String, Option<f64>> {
        let mut found: BTreeMap<String, Option<f64>> =
            keys.iter().map(|k| (k.clone(), None)).collect();
        for &s in &grid {
            let mut hits: BTreeMap<String, usize> = BTreeMap::new();
            for &i in &trials {
                let cur = scaled(&runs[i], 1.0 + s);
                let base: Vec<&RunReport> = if window_method {
                    (0..n).filter(|&j| j != i).map(|j| &runs[j]).collect()
                } else {
                    vec![&runs[if i > 0 { i - 1 } else { 1 }]]
                };
                for (k, v) in verdicts(&base, &cur, thr) {
                    *hits.entry(k).or_default() += usize::from(v == PerfVerdict::Slower);
                }
            }
            for (k, h) in hits {
                if h >= 9 {
                    found.entry(k).or_insert(None).get_or_insert(s);
                }
            }
        }
        found
    };
    let (det_single, det_window) = (smallest(false, thr), smallest(true, thr));

    // The single-run method made as quiet as the window: per kernel, the smallest
    // threshold at which no unchanged pair is called slower, and what it then detects.
    let thresholds = [
        5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0, 150.0, 200.0,
    ];
    let mut quiet: BTreeMap<String, (f64, Option<f64>)> = BTreeMap::new();
    for &t in &thresholds {
        let mut alarms: BTreeMap<String, usize> = keys.iter().map(|k| (k.clone(), 0)).collect();
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                for (k, v) in verdicts(&[&runs[j]], &runs[i], t) {
                    *alarms.entry(k).or_default() += usize::from(v == PerfVerdict::Slower);
                }
            }
        }
        let pending: Vec<&String> = keys
            .iter()
            .filter(|k| !quiet.contains_key(*k) && alarms[*k] == 0)
            .collect();
        if pending.is_empty() {
            continue;
        }
        let det = smallest(false, t);
        for k in pending {
            quiet.insert(k.clone(), (t, det[k]));
        }
    }
    let pct = |v: Option<f64>| v.map_or("> 200 %".into(), |s| format!("{:.1} %", 100.0 * s));
    println!(
        "\n| kernel | false alarms, single run | false alarms, window | slowdown caught 9/10, single run | slowdown caught 9/10, window | single run without false alarms: threshold, slowdown caught 9/10 |"
    );
    println!("|---|---|---|---|---|---|");
    let (mut fa_s, mut tot_s, mut fa_w, mut tot_w) = (0, 0, 0, 0);
    for k in &keys {
        let (s, w) = (single[k], window[k]);
        fa_s += s.0;
        tot_s += s.1;
        fa_w += w.0;
        tot_w += w.1;
        let q = match quiet.get(k) {
            Some(&(t, d)) => format!("{t} %, {}", pct(d)),
            None => "none up to 200 %".into(),
        };
        println!(
            "| {k} | {}/{} | {}/{} | {} | {} | {q} |",
            s.0,
            s.1,
            w.0,
            w.1,
            pct(det_single[k]),
            pct(det_window[k])
        );
    }
    println!(
        "| all | {fa_s}/{tot_s} ({:.1} %) | {fa_w}/{tot_w} ({:.1} %) | | | |",
        100.0 * fa_s as f64 / tot_s as f64,
        100.0 * fa_w as f64 / tot_w as f64
    );
}
