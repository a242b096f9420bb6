//! Helpers: the binary with a quiet lavapipe, JSON results, the committed schema.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;

/// The binary with a quiet lavapipe and none of the caller's adapter, fault or summary
/// settings, as a plain process (for tests that spawn it, signal it or close its pipes).
pub fn process() -> std::process::Command {
    let mut c = std::process::Command::new(bin_path());
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("WGPU_BACKEND")
        .env_remove("WGPU_ADAPTER_NAME")
        .env_remove("GPU_CANARY_INJECT_FAULT")
        .env_remove("GPU_CANARY_FAULT_AT")
        .env_remove("GPU_CANARY_FAULT_AFTER")
        .env_remove("GPU_CANARY_EXPECT_VENDOR");
    c
}

pub fn bin_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("gpu-canary")
}

/// [`process`] for assert_cmd's assertions.
pub fn bin() -> Command {
    Command::from_std(process())
}

pub fn read_json(p: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("results-schema/result.schema.json")
}

/// Validates against the committed schema; panics with every error found.
pub fn assert_schema_valid(doc: &Value) {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let v = VALIDATOR.get_or_init(|| {
        jsonschema::validator_for(&read_json(&schema_path()))
            .expect("the committed schema compiles")
    });
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "result.json does not match the schema: {errors:#?}"
    );
}

/// One quick-suite run shared by the artifact tests (a run costs seconds on lavapipe).
pub fn suite_run() -> &'static (tempfile::TempDir, std::process::Output, String) {
    static RUN: OnceLock<(tempfile::TempDir, std::process::Output, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let summary = dir.path().join("step-summary.md");
        let out = bin()
            .args(["run", "--out"])
            .arg(dir.path().join("out"))
            .arg("--export-bmf")
            .arg(dir.path().join("bmf.json"))
            .arg("--export-metrics")
            .arg(dir.path().join("metrics.prom"))
            .arg("--export-junit")
            .arg(dir.path().join("junit.xml"))
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
            .env_remove("GITHUB_REPOSITORY")
            .output()
            .unwrap();
        let step = std::fs::read_to_string(&summary).unwrap_or_default();
        (dir, out, step)
    })
}

/// A real lavapipe run of the quick suite with 20 samples per kernel, committed as the
/// fixture the compare and history tests derive their cases from.
pub fn fixture() -> Value {
    read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lavapipe-result.json"))
}

/// Runs `gpu-canary run ARGS --out DIR` with `fault` injected; returns the exit code,
/// stderr and the schema-valid result.json, which records the fault.
pub fn run_with_fault(args: &[&str], fault: &str, dir: &Path) -> (i32, String, Value) {
    let out = bin()
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(dir)
        .env("GPU_CANARY_INJECT_FAULT", fault)
        .output()
        .unwrap();
    let doc = read_json(&dir.join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(doc["config"]["fault"], fault);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        doc,
    )
}

/// Starts `gpu-canary ARGS --out DIR`, waits until its result.json satisfies `ready`
/// (60 s at most), sends `signal` (`-INT`, `-TERM`) and asserts the exit code
/// `expected`; returns the output directory and the result (schema-valid,
/// `cancelled`), and the trace.
pub fn signalled(
    args: &[&str],
    ready: impl Fn(&Value) -> bool,
    signal: &str,
    expected: i32,
) -> (tempfile::TempDir, Value, Value) {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let child = process()
        .args(args)
        .arg("--out")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let result = dir.path().join("result.json");
    let t0 = Instant::now();
    while !std::fs::read_to_string(&result)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|d| ready(&d))
    {
        assert!(t0.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(expected),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = read_json(&result);
    assert_schema_valid(&doc);
    assert_eq!(doc["verdict"], "cancelled");
    assert_eq!(doc["exit_code"], expected);
    let trace = read_json(&dir.path().join("trace.json"));
    (dir, doc, trace)
}

/// A stdout whose reader has already gone: the first write fails with EPIPE, whenever
/// it comes (closing the read end after the spawn would race the child's first line).
pub fn closed_pipe() -> std::process::Stdio {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    writer.into()
}

/// The guide's `run` option table (docs/guide.md, from "### `run`" to the lane command):
/// the flags and ranges tests/docs.rs and tests/cli.rs hold against the binary.
pub fn guide_run_table() -> String {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guide.md"))
            .unwrap();
    guide
        .split("### `run`")
        .nth(1)
        .unwrap()
        .split("Lane command")
        .next()
        .unwrap()
        .to_owned()
}
