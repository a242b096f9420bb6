//! `gpu-canary burn` on lavapipe: a 20 s burn with its artifacts, a fault planted on the
//! GPU side mid-burn, a slowdown with no throttle (exit 5), and a signal mid-burn.

use serde_json::Value;

use crate::common::*;

/// The trace's `burn` span, in µs: (begin, end).
fn burn_span(events: &[Value]) -> (f64, f64) {
    let at = |ph: &str| {
        events
            .iter()
            .find(|e| e["name"] == "burn" && e["ph"] == ph)
            .and_then(|e| e["ts"].as_f64())
            .unwrap_or_else(|| panic!("a burn span ({ph})"))
    };
    (at("B"), at("E"))
}

#[test]
fn a_twenty_second_burn_checks_every_second_of_gpu_work_and_writes_its_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["burn", "--duration", "20s", "--interval", "5s", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(doc["status"], "complete");
    // Every result verified. lavapipe computes on the CPU the other tests share, so its
    // throughput may really fall by more than 10 % over the burn: on a software adapter
    // that is recorded as inconclusive (it follows the host's load), never exit 5.
    let d = &doc["burn"]["drift"];
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(doc["verdict"], "pass");
    if doc["adapter"]["device_type"] == "cpu" {
        assert!(
            d["inconclusive"]
                .as_str()
                .unwrap()
                .contains("software adapter"),
            "{d}"
        );
    }
    let b = &doc["burn"];
    assert!(b["elapsed_s"].as_f64().unwrap() >= 20.0, "{b}");
    let dispatches = b["dispatches"].as_u64().unwrap();
    let checks = b["checks"].as_u64().unwrap();
    assert!(dispatches > checks && checks >= 2, "{b}");
    assert!(b["errors"].as_array().unwrap().is_empty());
    // The cadence: at least one check per second of GPU work (each sample is one
    // submission's time per dispatch, over `batch` dispatches).
    let k = &doc["kernels"][0];
    assert_eq!(k["status"], "pass");
    assert_eq!(k["verification"]["passed"], true);
    let batch = b["batch"].as_u64().unwrap() as f64;
    let gpu_s: f64 = k["samples_ns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap() * batch / 1e9)
        .sum();
    assert!(gpu_s > 5.0, "{gpu_s} s of GPU work");
    assert!(
        checks as f64 >= gpu_s.floor(),
        "{checks} checks over {gpu_s} s of GPU work"
    );
    // Intervals of 5 s with throughput, and the drift of the last third against the first.
    let iv = b["intervals"].as_array().unwrap();
    assert!(iv.len() >= 4, "{iv:?}");
    assert!(
        iv[..4]
            .iter()
            .all(|i| i["throughput"].as_f64().unwrap() > 0.0)
    );
    assert_eq!(
        iv[..4]
            .iter()
            .map(|i| i["start_s"].as_f64().unwrap())
            .collect::<Vec<_>>(),
        [0.0, 5.0, 10.0, 15.0]
    );
    assert!(
        b["drift"]["first"].as_f64().unwrap() > 0.0 && b["drift"]["last"].as_f64().unwrap() > 0.0
    );
    // Without NVML the telemetry says what it lacks.
    if b["telemetry"]["source"] == "unavailable" {
        assert!(b["telemetry"]["unavailable_reason"].is_string());
        assert!(b["telemetry"]["missing"].as_array().unwrap().len() >= 4);
    }
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains("#### Burn: matmul-f32/"), "{summary}");
    assert!(summary.contains("| 0–5 |"), "{summary}");

    // Counter tracks Perfetto draws: "C" events with numeric series, inside the burn.
    let trace = read_json(&dir.path().join("trace.json"));
    let events = trace["traceEvents"].as_array().unwrap();
    let (begin, end) = burn_span(events);
    let counters: Vec<&Value> = events.iter().filter(|e| e["ph"] == "C").collect();
    assert!(
        counters.len() as u64 >= dispatches / batch as u64 / 2,
        "{}",
        counters.len()
    );
    for c in &counters {
        let ts = c["ts"].as_f64().unwrap();
        assert!(ts >= begin && ts <= end + 1.0, "{c}");
        let args = c["args"].as_object().unwrap();
        assert!(
            !args.is_empty() && args.values().all(Value::is_number),
            "{c}"
        );
    }
    assert!(counters.iter().any(|c| c["name"] == "throughput (GFLOP/s)"));
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "M" && e["args"]["name"] == "telemetry")
    );
    // The submissions on the GPU track, inside the burn.
    if doc["adapter"]["timing"]["method"] == "gpu-timestamps" {
        let gpu: Vec<&Value> = events
            .iter()
            .filter(|e| e["pid"] == 2 && e["ph"] == "X")
            .collect();
        assert!(!gpu.is_empty());
        for g in gpu {
            let ts = g["ts"].as_f64().unwrap();
            assert!(ts >= begin - 1.0 && ts <= end, "{g}");
        }
    }
}

#[test]
fn a_fault_planted_mid_burn_is_caught_by_the_cadence_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "burn",
            "--duration",
            "60s",
            "--size",
            "128x128x128",
            "--check-every",
            "20",
            "--out",
        ])
        .arg(dir.path())
        .env("GPU_CANARY_INJECT_FAULT", "add@100,27=0.5")
        .env("GPU_CANARY_FAULT_AT", "200")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(doc["verdict"], "fail");
    let b = &doc["burn"];
    let first = &b["errors"][0];
    let dispatch = first["dispatch"].as_u64().unwrap();
    // The first check at or after dispatch 200: the cadence catches it within one
    // check interval (20 dispatches and a batch).
    assert!(
        (200..200 + 20 + b["batch"].as_u64().unwrap() + 1).contains(&dispatch),
        "{first}"
    );
    assert_eq!(first["mismatch"]["row"], 100);
    assert_eq!(first["mismatch"]["col"], 27);
    // Stopped at the first wrong result: far short of the minute asked for.
    assert!(b["elapsed_s"].as_f64().unwrap() < 30.0, "{b}");
    let at = first["at_s"].as_f64().unwrap();
    let named = format!("at {at:.1} s, dispatch {dispatch}");
    assert!(err.contains(&named), "{named}: {err}");
    assert!(err.contains("(row 100, col 27)"), "{err}");
    assert_eq!(doc["kernels"][0]["status"], "fail");
}

#[test]
fn a_slowdown_with_no_throttle_is_a_drift_exit_5() {
    // A 9 s burn compares its last 3 s with its first 3 s; the slowdown starts at 4.5 s,
    // whatever the dispatch rate (lavapipe shares the CPU with the other tests).
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "burn",
            "--duration",
            "9s",
            "--interval",
            "3s",
            "--size",
            "128x128x128",
            "--out",
        ])
        .arg(dir.path())
        .env("GPU_CANARY_INJECT_FAULT", "slowdown")
        .env("GPU_CANARY_FAULT_AFTER", "4.5")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(doc["verdict"], "drift");
    let d = &doc["burn"]["drift"];
    assert_eq!(d["exceeded"], true);
    assert_eq!(d["throttled"], false);
    assert_eq!(d["window_s"].as_f64().map(f64::round), Some(3.0), "{d}");
    // Every dispatch recorded eight times: an eighth of the throughput (−87.5 %). Two
    // processes sharing the 2-core CPU halve lavapipe at most, which alone reaches
    // −50 %, and against the slowdown still leaves −75 %.
    let change = d["change_pct"].as_f64().unwrap();
    assert!(change < -60.0, "{d}");
    // The results stayed right: a drift is not a wrong result.
    assert_eq!(doc["kernels"][0]["status"], "pass");
    // With no throttle recorded, the host is to be looked at.
    assert_eq!(
        doc["diagnosis"]["action"], "drain_and_inspect",
        "{}",
        doc["diagnosis"]
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("\naction: drain_and_inspect: throughput drifted")
    );
}

#[test]
fn a_signal_mid_burn_writes_what_was_measured() {
    // Once the burn has published two checks.
    let (_dir, doc, trace) = signalled(
        &["burn", "--duration", "120s", "--size", "256x256x256"],
        |d| d["burn"]["checks"].as_u64().unwrap_or(0) >= 2,
        "-INT",
        130,
    );
    let b = &doc["burn"];
    assert!(b["checks"].as_u64().unwrap() >= 2 && b["dispatches"].as_u64().unwrap() > 2);
    assert!(b["elapsed_s"].as_f64().unwrap() < 100.0);
    assert!(
        trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["ph"] == "C"),
        "the counters so far are in the trace"
    );
}

#[test]
fn bad_burn_input_is_one_line_and_exit_2() {
    for (args, needle) in [
        (vec!["--duration", "ten"], "invalid --duration 'ten'"),
        (vec!["--duration", "0s"], "invalid --duration '0s'"),
        (vec!["--kernel", "upload"], "upload is a transfer"),
        (vec!["--kernel", "nope"], "unknown kernel 'nope'"),
        (vec!["--check-every", "0"], "invalid --check-every 0"),
        (vec!["--max-drift=-3"], "invalid --max-drift -3"),
    ] {
        let out = bin().arg("burn").args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}
