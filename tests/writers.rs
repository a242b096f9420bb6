//! The field's cases, caused for real: two writers in one place, names from outside,
//! paths at the limit, every output channel, software adapters that do not say so, and
//! the process's end beside a load.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn a_second_run_into_the_same_out_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // A run long enough to be caught in the middle.
    let mut first = process()
        .args(["run", "--kernel", "matmul-u32", "--size", "256x256x256"])
        .args(["--iterations", "400", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !out.join("result.json").exists() {
        assert!(t0.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    for force in [false, true] {
        let mut c = bin();
        c.args(["run", "--kernel", "reduce-f32", "--size", "65539", "--out"])
            .arg(&out);
        if force {
            c.arg("--force");
        }
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--force {force}: {err}");
        assert!(
            err.contains(&format!(
                "in use by another gpu-canary run (pid {})",
                first.id()
            )),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(first.wait().unwrap().success());
    // The first run's artifacts are its own, whole.
    let doc = read_json(&out.join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(doc["kernels"][0]["id"], "matmul-u32");
    assert_eq!(doc["verdict"], "pass");
    let trace = read_json(&out.join("trace.json"));
    assert!(trace["traceEvents"].as_array().unwrap().len() > 100);
    // Once it has ended, the directory is free again.
    let o = bin()
        .args([
            "run",
            "--kernel",
            "reduce-f32",
            "--size",
            "65539",
            "--force",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn short_runs_beside_a_burn_end_cleanly_every_time() {
    // The process once ended with SIGABRT or SIGSEGV about once in 350 rounds: it exited
    // while the worker thread was still leaving (freeing its thread's memory, its span
    // closing), beside the drivers' exit handlers. Fifty rounds beside a burn, every
    // exit code read.
    let mut burn = process()
        .args([
            "burn",
            "--kernel",
            "matmul-f32",
            "--size",
            "128x128x128",
            "--duration",
            "60s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut codes = Vec::new();
    for _ in 0..50 {
        let o = bin()
            .args([
                "run",
                "--kernel",
                "reduce-f32",
                "--size",
                "65539",
                "--iterations",
                "10",
            ])
            .output()
            .unwrap();
        codes.push(o.status.code());
    }
    let _ = burn.kill();
    let _ = burn.wait();
    assert!(codes.iter().all(|c| *c == Some(0)), "{codes:?}");
}
