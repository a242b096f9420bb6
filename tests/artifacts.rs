//! `--out` artifacts: result.json against the committed schema and from a consumer's
//! side, the trace's GPU track, the summary, Bencher output, and a partial result
//! surviving SIGKILL.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::common::*;

#[test]
fn the_committed_schema_matches_the_types() {
    let generated = serde_json::to_string_pretty(&gpu_canary::result_schema()).unwrap() + "\n";
    if std::env::var_os("GPU_CANARY_BLESS").is_some() {
        std::fs::write(schema_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(schema_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "results-schema/result.schema.json is out of date with src/model/: rerun with GPU_CANARY_BLESS=1 (and bump SCHEMA_VERSION if the change is breaking)"
    );
    assert_eq!(
        read_json(&schema_path())["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

#[test]
fn suite_run_writes_three_valid_artifacts() {
    let (dir, out, _) = suite_run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = dir.path().join("out");
    let mut names: Vec<String> = std::fs::read_dir(&res)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".gpu-canary.lock",
            "result.json",
            "summary.md",
            "trace.json"
        ],
        "no temporary files left behind (the lock stays: removing it would race a next run)"
    );
    let doc = read_json(&res.join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(doc["status"], "complete");
    assert_eq!(doc["verdict"], "pass");
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["ci"]["run_id"], "4242");
    assert!(
        doc["ci"].get("repository").is_none(),
        "absent CI fields are omitted, not faked"
    );
    let f16: Vec<&Value> = doc["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["id"] == "matmul-f16")
        .collect();
    if doc["adapter"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f != "EXPERIMENTAL_COOPERATIVE_MATRIX")
    {
        assert!(
            f16.iter().all(|k| k["status"] == "skipped"
                && k["reason"].as_str().unwrap().contains("tensor cores"))
        );
    }
}

/// The consumer's view: its own structs, unknown fields denied, so a renamed or added
/// field is noticed here before a downstream reader breaks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Consumer {
    schema_version: u32,
    tool: ConsumerTool,
    started_at: String,
    duration_s: f64,
    status: String,
    host: Value,
    #[serde(default)]
    ci: Option<Value>,
    config: Value,
    adapter: ConsumerAdapter,
    kernels: Vec<ConsumerKernel>,
    #[serde(default)]
    hygiene: Option<Value>,
    #[serde(default)]
    coverage: Option<ConsumerCoverage>,
    verdict: String,
    exit_code: i32,
    #[serde(default)]
    stopped: Option<Value>,
    #[serde(default)]
    diagnosis: Option<Value>,
    #[serde(default)]
    errors: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ConsumerTool {
    name: String,
    version: String,
    #[serde(default)]
    git_commit: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ConsumerAdapter {
    name: String,
    vendor: u32,
    device: u32,
    device_type: String,
    backend: String,
    driver: String,
    driver_info: String,
    wgpu_version: String,
    features: Vec<String>,
    limits: Value,
    timing: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ConsumerKernel {
    id: String,
    shape: String,
    seed: u64,
    status: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    launch: Option<Value>,
    #[serde(default)]
    verification: Option<Value>,
    samples_ns: Vec<u64>,
    #[serde(default)]
    stats: Option<Value>,
    #[serde(default)]
    throughput: Option<ConsumerThroughput>,
    #[serde(default)]
    timing: Option<String>,
    #[serde(default)]
    host: Option<ConsumerHost>,
    #[serde(default)]
    dispatch_check: Option<ConsumerDispatchCheck>,
    #[serde(default)]
    fingerprint: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ConsumerCoverage {
    memory: ConsumerMemory,
}

/// What an operator's dashboard reads of the memory test.
#[derive(Deserialize)]
#[allow(dead_code)]
struct ConsumerMemory {
    #[serde(default)]
    device_bytes: Option<u64>,
    tested_bytes: u64,
    #[serde(default)]
    fraction: Option<f64>,
    claimed: bool,
    passes: u32,
    passes_verified: u32,
    wrong_words: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ConsumerDispatchCheck {
    method: String,
    dispatches_total: u64,
    dispatches_verified: u64,
    wrong_dispatches: u64,
    wrong: Vec<Value>,
    #[serde(default)]
    check_ns: Option<u64>,
    #[serde(default)]
    checker_faults: Vec<String>,
    #[serde(default)]
    repoisoned_by_host: u64,
    #[serde(default)]
    golden_intact: Option<bool>,
    #[serde(default)]
    golden_fault: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ConsumerHost {
    spans: String,
    samples_ns: Vec<u64>,
    #[serde(default)]
    stats: Option<Value>,
    #[serde(default)]
    throughput: Option<ConsumerThroughput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ConsumerThroughput {
    unit: String,
    work_per_run: f64,
    median: f64,
    low: f64,
    high: f64,
}

#[test]
fn a_consumer_reads_the_result_with_unknown_fields_denied() {
    let (dir, _, _) = suite_run();
    let text = std::fs::read_to_string(dir.path().join("out/result.json")).unwrap();
    let c: Consumer = serde_json::from_str(&text).expect("consumer structs accept result.json");
    assert_eq!(c.tool.name, "gpu-canary");
    // The memory test's samples are its passes (six in the quick suite).
    assert!(c.kernels.iter().filter(|k| k.status == "pass").all(|k| {
        k.samples_ns.len() == if k.id == "memtest" { 6 } else { 30 }
            && k.throughput.as_ref().unwrap().median > 0.0
    }));
    let m = &c
        .coverage
        .as_ref()
        .expect("the quick suite's memory test")
        .memory;
    assert_eq!((m.passes, m.passes_verified, m.wrong_words), (6, 6, 0));
    assert!(m.tested_bytes > 0 && m.fraction.is_some_and(|f| f > 0.0));
    assert!(c.kernels.iter().filter(|k| k.status == "pass").all(|k| {
        k.dispatch_check.as_ref().is_some_and(|d| {
            d.dispatches_verified == d.dispatches_total
                && d.wrong.is_empty()
                && d.checker_faults.is_empty()
                && d.golden_fault.is_none()
                && (k.id == "memtest" || d.method == "golden-host" || d.golden_intact == Some(true))
        })
    }));
}

#[test]
fn gpu_events_fall_inside_their_dispatch_spans() {
    let (dir, _, _) = suite_run();
    let trace = read_json(&dir.path().join("out/trace.json"));
    let events = trace["traceEvents"].as_array().unwrap();
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"CPU"));
    let spans = gpu_canary::export::trace::dispatch_spans(events);
    let gpu: Vec<&Value> = events
        .iter()
        .filter(|e| e["pid"] == 2 && e["ph"] == "X")
        .collect();
    let doc = read_json(&dir.path().join("out/result.json"));
    if doc["adapter"]["timing"]["method"] == "gpu-timestamps" {
        assert!(names.iter().any(|n| n.starts_with("GPU: ")));
        let timed: usize = doc["kernels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["samples_ns"].as_array().unwrap().len())
            .sum();
        assert_eq!(gpu.len(), timed, "one GPU event per timed dispatch");
        for g in gpu {
            let (key, sample) = (
                g["name"].as_str().unwrap(),
                g["args"]["sample"].as_u64().unwrap() as u32,
            );
            let s = spans
                .iter()
                .find(|s| s.key == key && s.sample == sample)
                .expect("a CPU span for each GPU event");
            let (b, e) = (
                g["ts"].as_f64().unwrap(),
                g["ts"].as_f64().unwrap() + g["dur"].as_f64().unwrap(),
            );
            assert!(
                b >= s.begin_us - 1e-6 && e <= s.end_us + 1e-6,
                "{key}#{sample}: GPU {b}..{e} outside CPU {}..{}",
                s.begin_us,
                s.end_us
            );
        }
    }
    for phase in [
        "request_adapter",
        "request_device",
        "compile",
        "upload",
        "readback",
        "verify",
        "submit",
        "wait",
        "write_artifacts",
    ] {
        assert!(
            events.iter().any(|e| e["name"] == phase),
            "no {phase} span in the trace"
        );
    }
}

#[test]
fn summary_and_step_summary_and_bmf() {
    let (dir, out, step) = suite_run();
    let md = std::fs::read_to_string(dir.path().join("out/summary.md")).unwrap();
    assert!(md.contains("| kernel | shape | verdict | median | p95 | throughput |"));
    assert!(md.contains("Adapter: **"));
    assert!(md.contains("| matmul-f32 | 127x129x131 | pass |"));
    assert_eq!(
        step.trim(),
        md.trim(),
        "the step summary gets the same table"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verdict: PASS (exit 0)") && stdout.contains("adapter: "));
    // Throughput in the prefix that fits: a 1x1x1 product is kFLOP/s, never 0.0000.
    assert!(
        !stdout.contains("0.0000") && !md.contains("0.0000"),
        "{stdout}"
    );
    assert!(stdout.contains("kFLOP/s"), "{stdout}");
    // A kernel skipped on every shape gets one line.
    let f16: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("matmul-f16"))
        .collect();
    if f16.iter().any(|l| l.contains("skipped")) {
        assert_eq!(f16.len(), 1, "{stdout}");
        assert!(f16[0].contains("(3 shapes)"), "{stdout}");
    }
    // No progress line when stderr is not a terminal: CI logs stay clean.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("sample ") && !stderr.contains('\r'),
        "{stderr}"
    );
    let bmf = read_json(&dir.path().join("bmf.json"));
    let result = read_json(&dir.path().join("out/result.json"));
    let k = result["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "matmul-f32" && k["shape"] == "512x512x512")
        .unwrap();
    // Bencher's default measures: latency in ns, throughput per second.
    for (measure, want) in [
        ("latency", k["stats"]["median_ns"].as_f64().unwrap()),
        (
            "throughput",
            k["throughput"]["median"].as_f64().unwrap() * 1e9,
        ),
    ] {
        let entry = &bmf["matmul-f32/512x512x512"][measure];
        let v = |f: &str| entry[f].as_f64().unwrap();
        assert_eq!(v("value"), want, "{measure}");
        assert!(v("lower_value") <= v("value") && v("value") <= v("upper_value"));
    }
    assert!(
        bmf.get("matmul-f16/1x1x1").is_none(),
        "skipped kernels are not metrics"
    );
}

#[test]
fn json_flag_prints_the_result_document() {
    let out = bin()
        .args([
            "run",
            "--kernel",
            "reduce-f32",
            "--size",
            "1000",
            "--iterations",
            "3",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: Value =
        serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document");
    assert_schema_valid(&doc);
    assert_eq!(doc["kernels"][0]["shape"], "1000");
}

#[test]
fn sigkill_after_the_first_kernel_leaves_a_valid_partial_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = process()
        .args(["run", "--iterations", "50", "--out"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let result = dir.path().join("result.json");
    let t0 = Instant::now();
    loop {
        let n = std::fs::read_to_string(&result)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .map(|d| d["kernels"].as_array().map_or(0, Vec::len));
        if n >= Some(1) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no kernel finished within 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let doc = read_json(&result);
    assert_schema_valid(&doc);
    assert_eq!(doc["status"], "partial");
    assert_eq!(doc["verdict"], "running");
    assert!(!doc["kernels"].as_array().unwrap().is_empty());
}

#[test]
fn the_schema_rejects_a_damaged_result() {
    // The validator is only evidence if it can fail.
    let mut doc = fixture();
    assert_schema_valid(&doc);
    doc["verdict"] = "maybe".into();
    doc["kernels"][0]["samples_ns"][0] = (-5).into();
    let v = jsonschema::validator_for(&read_json(&schema_path())).unwrap();
    assert_eq!(v.iter_errors(&doc).count(), 2);
}
