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

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/window")
}

#[test]
fn every_commands_stdout_that_fails_is_exit_3() {
    let f = fixtures();
    // Two runs that compare as unchanged (exit 0).
    let (a, b) = (f.join("run-03.json"), f.join("run-04.json"));
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("h.svg");
    let run_out = dir.path().join("run");
    let commands: Vec<Vec<std::ffi::OsString>> = vec![
        vec![
            "history".into(),
            "--svg".into(),
            svg.clone().into(),
            a.clone().into(),
        ],
        vec!["compare".into(), a.clone().into(), b.clone().into()],
        vec![
            "compare".into(),
            "--format".into(),
            "md".into(),
            a.clone().into(),
            b.clone().into(),
        ],
        vec!["kernels".into()],
        vec!["adapters".into()],
        vec![
            "run".into(),
            "--kernel".into(),
            "matmul-u32".into(),
            "--size".into(),
            "8x8x8".into(),
            "--force".into(),
            "--out".into(),
            run_out.clone().into(),
        ],
    ];
    for args in &commands {
        // A full device.
        let o = process()
            .args(args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{args:?} > /dev/full: {err}");
        assert!(
            err.contains("cannot write to stdout (No space left on device"),
            "{args:?}: {err}"
        );
        // A reader that has gone before the first line.
        let o = process().args(args).stdout(closed_pipe()).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{args:?} | (closed): {err}");
        assert!(err.contains("Broken pipe"), "{args:?}: {err}");
    }
    // The run's files are whole, its verdict in them.
    let doc = read_json(&run_out.join("result.json"));
    assert_eq!(doc["verdict"], "pass");
    // A compare that finds a regression keeps its own exit code.
    let o = process()
        .args(["compare", "--threshold", "1"])
        .arg(f.join("run-21.json"))
        .arg(f.join("run-02.json"))
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let code = o.status.code();
    let o2 = process()
        .args(["compare", "--threshold", "1"])
        .arg(f.join("run-21.json"))
        .arg(f.join("run-02.json"))
        .output()
        .unwrap();
    match o2.status.code() {
        Some(0) => assert_eq!(code, Some(3)),
        other => assert_eq!(code, other, "a verdict other than 0 stands"),
    }
}

#[test]
fn a_legal_export_name_at_name_max_works_and_a_longer_one_is_refused_first() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}.prom", "m".repeat(250)); // 255 bytes: NAME_MAX
    let o = bin()
        .args([
            "run",
            "--kernel",
            "reduce-f32",
            "--size",
            "65539",
            "--iterations",
            "3",
        ])
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--export-metrics")
        .arg(dir.path().join(&name))
        .arg("--export-junit")
        .arg(dir.path().join(format!("{}.xml", "j".repeat(251))))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        std::fs::read_to_string(dir.path().join(&name))
            .unwrap()
            .contains("gpu_canary_run_verdict")
    );
    // One byte more is no legal name: refused before any work, naming the limit.
    let t0 = Instant::now();
    let o = bin()
        .args(["run", "--kernel", "reduce-f32", "--size", "65539"])
        .arg("--export-metrics")
        .arg(dir.path().join(format!("{}.prom", "m".repeat(251))))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("256 bytes, over this filesystem's limit of 255"),
        "{err}"
    );
    assert!(!err.contains("adapter:"), "refused before the run: {err}");
    assert!(t0.elapsed() < Duration::from_secs(20));
    // No temporary file left beside them.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_truncated_result_in_a_baseline_folder_is_named_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures();
    for i in 1..=6 {
        let n = format!("run-{i:02}.json");
        std::fs::copy(f.join(&n), dir.path().join(&n)).unwrap();
    }
    let whole = std::fs::read(f.join("run-07.json")).unwrap();
    let cut = dir.path().join("result.json");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    // Given directly: refused (exit 2) with its name and what it is.
    let direct = bin()
        .args(["compare"])
        .arg(&cut)
        .arg(f.join("run-08.json"))
        .output()
        .unwrap();
    let direct_err = String::from_utf8_lossy(&direct.stderr);
    assert_eq!(direct.status.code(), Some(2), "{direct_err}");
    let said = format!("{}: truncated JSON", cut.display());
    assert!(direct_err.contains(&said), "{direct_err}");
    // In a folder: the same words, and the window goes on without it.
    for cmd in ["compare", "history"] {
        let mut c = bin();
        if cmd == "compare" {
            c.args(["compare", "--baseline"])
                .arg(dir.path())
                .arg(f.join("run-08.json"));
        } else {
            c.args(["history", "--svg"])
                .arg(dir.path().join("h.svg"))
                .arg(dir.path());
        }
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("warning: skipping {said}")),
            "{cmd}: {err}"
        );
        assert!(!err.contains("not a gpu-canary result"), "{cmd}: {err}");
        assert!(matches!(o.status.code(), Some(0 | 4)), "{cmd}: {err}");
    }
}

#[test]
fn scripts_refuse_bad_usage_with_exit_2() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: [Case; 6] = [
        ("fault-matrix", &["--big"], &[]),
        ("fault-matrix", &["--set"], &[]),
        ("gpu-measure-table", &[], &[]),
        ("gpu-measure", &["--now"], &[]),
        ("gpu-measure", &[], &[("GPU_CANARY_MEASURE", "fast")]),
        (
            "push-metrics",
            &["http://127.0.0.1:9", "job", "", "m.prom"],
            &[],
        ),
    ];
    for (script, args, env) in cases {
        let o = std::process::Command::new(root.join("scripts").join(script))
            .args(args)
            .envs(env.iter().copied())
            .env("OUT", tempfile::tempdir().unwrap().path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{script} {args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{script} {args:?}: {err}");
    }
}

#[test]
fn a_software_adapter_of_another_type_is_refused_by_require_hardware() {
    // Mesa on WARP as WSLg presents it: llvmpipe on GL, named as WARP, type `other`.
    let o = bin()
        .env("force_gl_renderer", "D3D12 (Microsoft Basic Render Driver)")
        .args([
            "run",
            "--backend",
            "gl",
            "--require-hardware",
            "--kernel",
            "matmul-u32",
        ])
        .args(["--size", "8x8x8", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("'D3D12 (Microsoft Basic Render Driver)' is a software adapter (WARP"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        doc["adapter"]["device_type"], "other",
        "the case is a type-other adapter"
    );
    // Without the flag it runs.
    let o = bin()
        .env("force_gl_renderer", "D3D12 (Microsoft Basic Render Driver)")
        .args([
            "run",
            "--backend",
            "gl",
            "--kernel",
            "matmul-u32",
            "--size",
            "8x8x8",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn a_matmul_past_llvmpipes_loop_cap_names_the_cause() {
    let run = |k: u32| {
        let dir = tempfile::tempdir().unwrap();
        let o = bin()
            .args([
                "run",
                "--kernel",
                "matmul-u32",
                "--size",
                &format!("4x{k}x4"),
            ])
            .args(["--iterations", "1", "--out"])
            .arg(dir.path())
            .output()
            .unwrap();
        (o.status.code(), read_json(&dir.path().join("result.json")))
    };
    let (code, doc) = run(52430);
    let name = doc["adapter"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let reason = doc["kernels"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if name.contains("llvmpipe") {
        // The FAIL stands, with its cause named.
        assert_eq!(code, Some(1), "{reason}");
        assert!(
            reason.contains("llvmpipe ends a shader's loops after about 65535 iterations"),
            "{reason}"
        );
        // One below passes, so the note is about the cap and nothing else.
        let (code, doc) = run(52429);
        assert_eq!(code, Some(0), "{doc}");
    } else {
        assert!(!reason.contains("llvmpipe"), "{reason}");
    }
}
