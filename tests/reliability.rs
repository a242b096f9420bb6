//! Each injected fault ends in a classified result with its exit code and message, and
//! a schema-valid result.json that keeps what was measured before it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

fn faulty(fault: &str, extra: &[&str]) -> (i32, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--kernel",
        "reduce-f32,matmul-u32",
        "--iterations",
        "2",
        "--warmup",
        "1",
    ];
    args.extend_from_slice(extra);
    let (code, err, doc) = run_with_fault(&args, fault, dir.path());
    assert!(dir.path().join("trace.json").exists() && dir.path().join("summary.md").exists());
    (code, err, doc)
}

fn passed(doc: &Value) -> usize {
    doc["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["status"] == "pass")
        .count()
}

#[test]
fn a_corrupted_element_fails_and_is_named() {
    let (code, err, doc) = faulty("corrupt-output", &[]);
    assert_eq!(code, 1, "{err}");
    let bad = doc["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["status"] == "fail")
        .expect("a failed kernel");
    let m = &bad["verification"]["first_mismatch"];
    let idx = m["index"].as_u64().unwrap();
    assert!(
        err.contains(&format!("wrong result at index {idx}"))
            && err.contains("matmul-u32/512x512x512"),
        "{err}"
    );
    assert!(m["error"].as_f64().unwrap() > m["bound"].as_f64().unwrap());
    assert_eq!(bad["verification"]["passed"], false);
    assert_eq!(doc["verdict"], "fail");
    assert!(passed(&doc) >= 6, "the kernels before the fault are kept");
}

#[test]
fn a_stalled_kernel_is_cut_by_the_watchdog() {
    let t0 = Instant::now();
    let (code, err, doc) = faulty("stall", &["--timeout", "8"]);
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "the watchdog ended the run"
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("--timeout 8 s expired in matmul-u32/512x512x512 during wait"),
        "{err}"
    );
    assert_eq!(doc["stopped"]["reason"], "timeout");
    assert_eq!(doc["stopped"]["phase"], "wait");
    assert_eq!(doc["status"], "partial");
    assert!(passed(&doc) >= 6);
}

#[test]
fn a_lost_device_is_an_environment_failure() {
    let (code, err, doc) = faulty("device-lost", &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("device lost"), "{err}");
    assert_eq!(doc["stopped"]["reason"], "device-lost");
    assert_eq!(
        doc["kernels"].as_array().unwrap().last().unwrap()["status"],
        "error"
    );
    assert!(passed(&doc) >= 6);
}

#[test]
fn a_forced_software_adapter_fails_the_hardware_requirement() {
    let (code, err, doc) = faulty("software-adapter", &["--require-hardware"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("is a software adapter"), "{err}");
    assert_eq!(doc["adapter"]["device_type"], "cpu");
    assert_eq!(doc["stopped"]["reason"], "software-adapter");
}

fn cancel(signal: &str, expected: i32) {
    let (_dir, doc, trace) = signalled(
        &["run", "--iterations", "400"],
        |d| d["kernels"].as_array().is_some_and(|k| !k.is_empty()),
        signal,
        expected,
    );
    assert!(passed(&doc) >= 1);
    assert!(
        trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "dispatch"),
        "the trace so far is flushed"
    );
}

#[test]
fn sigterm_flushes_and_exits_143() {
    cancel("-TERM", 143);
}

#[test]
fn sigint_flushes_and_exits_130() {
    cancel("-INT", 130);
}

#[test]
fn two_canaries_at_once_keep_their_outputs_apart() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let kids: Vec<_> = dirs
        .iter()
        .zip(["reduce-f32", "matmul-u32"])
        .map(|(d, k)| {
            process()
                .args(["run", "--kernel", k, "--out"])
                .arg(d.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut k in kids {
        assert_eq!(k.wait().unwrap().code(), Some(0));
    }
    for (d, k) in dirs.iter().zip(["reduce-f32", "matmul-u32"]) {
        let doc = read_json(&d.path().join("result.json"));
        assert_schema_valid(&doc);
        assert!(
            doc["kernels"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["id"] == k),
            "{k}: only its own kernels"
        );
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        // The three artifacts and the directory's lock.
        assert_eq!(names.len(), 4, "{k}: {names:?}");
    }
}

#[test]
fn a_reader_that_goes_away_does_not_end_the_measurement() {
    // `gpu-canary run | head -1`: stdout's reader is gone before the first line.
    let dir = tempfile::tempdir().unwrap();
    let out = process()
        .args(["run", "--kernel", "reduce-f32", "--out"])
        .arg(dir.path())
        .stdout(closed_pipe())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The whole suite ran and its files are whole; the lost output is exit 3.
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot write to stdout (Broken pipe"),
        "{stderr}"
    );
    assert!(!stderr.contains("panic"), "{stderr}");
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(doc["verdict"], "pass");
    assert!(passed(&doc) >= 4 && doc.get("stopped").is_none(), "{doc}");
}
