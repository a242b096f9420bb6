//! What the operator does next: every failure class of the exit-code table, caused for
//! real on lavapipe, carries its action in every output (result.json, the console,
//! summary.md, the metrics and the JUnit report). A burn's drift: tests/burn.rs.

use crate::common::*;

/// (what, args after `run`, fault, exit code, action).
const CASES: [(&str, &[&str], &str, i32, &str); 9] = [
    (
        "pass",
        &["--kernel", "matmul-u32", "--size", "64x64x64"],
        "",
        0,
        "none",
    ),
    (
        "wrong result",
        &["--kernel", "matmul-u32", "--size", "64x64x64"],
        "corrupt-output",
        1,
        "drain_and_inspect",
    ),
    (
        "software adapter",
        &[
            "--kernel",
            "matmul-u32",
            "--size",
            "8x8x8",
            "--require-hardware",
        ],
        "",
        3,
        "fix_lane_config",
    ),
    (
        "another vendor",
        &[
            "--kernel",
            "matmul-u32",
            "--size",
            "8x8x8",
            "--expect-vendor",
            "amd",
        ],
        "",
        3,
        "fix_lane_config",
    ),
    (
        "no tensor cores",
        &["--kernel", "matmul-f16", "--require-tensor-cores"],
        "",
        3,
        "fix_lane_config",
    ),
    (
        "device lost",
        &["--kernel", "matmul-u32", "--size", "64x64x64"],
        "device-lost",
        3,
        "reset_gpu",
    ),
    (
        "a hang",
        &[
            "--kernel",
            "matmul-u32",
            "--size",
            "64x64x64",
            "--timeout",
            "3",
        ],
        "stall",
        3,
        "reset_gpu",
    ),
    (
        "too little covered",
        &[
            "--kernel",
            "memtest",
            "--memory",
            "1MiB",
            "--require-coverage",
            "100",
        ],
        "",
        3,
        "rerun",
    ),
    (
        "lost artifacts",
        &[
            "--kernel",
            "matmul-u32",
            "--size",
            "8x8x8",
            "--export-bmf",
            "/dev/full",
        ],
        "",
        3,
        "rerun",
    ),
];

fn assert_everywhere(what: &str, dir: &std::path::Path, stdout: &str, action: &str) {
    let doc = read_json(&dir.join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(
        doc["diagnosis"]["action"], action,
        "{what}: {}",
        doc["diagnosis"]
    );
    assert!(
        !doc["diagnosis"]["reason"].as_str().unwrap().is_empty(),
        "{what}"
    );
    if action != "none" {
        assert!(
            stdout.contains(&format!("\naction: {action}: ")),
            "{what}: {stdout}"
        );
    }
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        summary.contains(&format!("**Action:** `{action}`")),
        "{what}: {summary}"
    );
    let metrics = std::fs::read_to_string(dir.join("m.prom")).unwrap();
    assert!(
        metrics.contains(&format!("{{command=\"run\",action=\"{action}\"}} 1.0")),
        "{what}: {metrics}"
    );
    assert_eq!(
        metrics.matches("gpu_canary_action{").count(),
        8,
        "{what}: one state per action"
    );
    let junit = std::fs::read_to_string(dir.join("j.xml")).unwrap();
    assert!(
        junit.contains(&format!("<property name=\"action\" value=\"{action}\"/>")),
        "{what}: {junit}"
    );
    if action != "none" {
        assert!(
            junit.contains(&format!("(action: {action})"))
                || junit.contains(&format!("action: {action}:")),
            "{what}: {junit}"
        );
    }
}

#[test]
fn every_failure_class_carries_its_action_in_every_output() {
    for (what, args, fault, code, action) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let o = bin()
            .arg("run")
            .args(args)
            .arg("--out")
            .arg(dir.path())
            .arg("--export-metrics")
            .arg(dir.path().join("m.prom"))
            .arg("--export-junit")
            .arg(dir.path().join("j.xml"))
            .env("GPU_CANARY_INJECT_FAULT", fault)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{what}: {err}");
        assert_everywhere(
            what,
            dir.path(),
            &String::from_utf8_lossy(&o.stdout),
            action,
        );
    }
}

#[test]
fn a_cancelled_run_carries_its_action() {
    let (dir, doc, _) = signalled(
        &[
            "run",
            "--kernel",
            "matmul-u32",
            "--size",
            "256x256x256",
            "--iterations",
            "400",
        ],
        |d| d["kernels"].as_array().is_some_and(|k| k.is_empty()) && d["adapter"].is_object(),
        "-TERM",
        143,
    );
    assert_eq!(doc["diagnosis"]["action"], "rerun");
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains("**Action:** `rerun`"), "{summary}");
}

/// A failing run of matmul-u32 with `fault` planted at `dispatches`, 4 dispatches in all.
fn failing(dir: &std::path::Path, fault: &str, dispatches: &str) -> std::path::PathBuf {
    let out = dir.join("orig");
    let o = bin()
        .args(["run", "--kernel", "matmul-u32", "--size", "64x64x64"])
        .args(["--warmup", "1", "--iterations", "3", "--out"])
        .arg(&out)
        .env("GPU_CANARY_INJECT_FAULT", fault)
        .env("GPU_CANARY_FAULT_DISPATCH", dispatches)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out.join("result.json")
}

fn reproduce(result: &std::path::Path, dir: &std::path::Path) -> (i32, serde_json::Value) {
    let out = dir.join("rep");
    let o = bin()
        .arg("reproduce")
        .arg(result)
        .args(["--times", "3", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let code = o.status.code().unwrap_or(-1);
    assert!(
        matches!(code, 0 | 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rep = read_json(&out.join("reproduce.json"));
    // Every rerun's own result is there, schema-valid, on the same adapter.
    for r in rep["cases"][0]["runs"].as_array().unwrap() {
        let doc = read_json(&out.join(r["result"].as_str().unwrap()));
        assert_schema_valid(&doc);
        assert_eq!(doc["kernels"][0]["id"], "matmul-u32");
    }
    assert_eq!(rep["original"], result.display().to_string());
    (code, rep)
}

#[test]
fn reproduce_tells_a_permanent_fault_from_an_intermittent_one_and_a_one_off() {
    // A persistent planted fault: wrong on every rerun at the same word.
    let dir = tempfile::tempdir().unwrap();
    let result = failing(dir.path(), "xor@5,6,1", "all");
    let (code, rep) = reproduce(&result, dir.path());
    assert_eq!(
        (code, &rep["cases"][0]["class"]),
        (1, &"permanent".into()),
        "{rep}"
    );
    assert_eq!(rep["diagnosis"]["action"], "service_required");
    assert!(
        rep["cases"][0]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["wrong"] == true)
    );
    // The same result with its fault not recorded (a fault that has gone): the reruns
    // are right.
    let mut doc = read_json(&result);
    doc["config"]["fault"] = serde_json::Value::Null;
    let gone = dir.path().join("gone.json");
    std::fs::write(&gone, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (code, rep) = reproduce(&gone, dir.path());
    assert_eq!(
        (code, &rep["cases"][0]["class"]),
        (0, &"not_reproduced".into()),
        "{rep}"
    );
    assert_eq!(rep["diagnosis"]["action"], "rerun");
    // A fault at dispatch 3, then every 100th: each rerun moves its first dispatch on by
    // one (4, 5, 6), and the case has 4 dispatches: wrong once in three.
    let dir = tempfile::tempdir().unwrap();
    let result = failing(dir.path(), "xor@5,6,1", "every:100+3");
    let (code, rep) = reproduce(&result, dir.path());
    assert_eq!(
        (code, &rep["cases"][0]["class"]),
        (1, &"intermittent".into()),
        "{rep}"
    );
    assert_eq!(rep["diagnosis"]["action"], "drain_and_inspect");
    let wrong: Vec<bool> = rep["cases"][0]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["wrong"].as_bool().unwrap())
        .collect();
    assert_eq!(wrong, [true, false, false]);
    // A passing result has nothing to reproduce: exit 2.
    let ok = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["run", "--kernel", "matmul-u32", "--size", "8x8x8", "--out"])
        .arg(ok.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = bin()
        .arg("reproduce")
        .arg(ok.path().join("result.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no case failed"));
}

#[test]
fn a_wrong_result_has_a_fingerprint_and_a_periodic_one_its_stride() {
    // Bit 3 stuck at 1 in every 1000th 64-bit word from word 100: a bank's pattern.
    let dir = tempfile::tempdir().unwrap();
    let (code, err, doc) = run_with_fault(
        &["--kernel", "memtest", "--memory", "1MiB"],
        "stuck@100:3=1/1000",
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    let f = &doc["kernels"][0]["fingerprint"];
    assert_eq!(f["stride"], 1000, "{f}");
    assert_eq!(f["failing_bits"], "0x0000000000000008");
    assert_eq!(f["words"][0]["word"], 100);
    assert_eq!(f["words"][1]["word"], 1100);
    assert!(
        err.contains("periodic: every 1000th 64-bit word (8000 bytes apart)"),
        "{err}"
    );
    assert!(err.contains("fingerprint: memtest/1MiB: "), "{err}");
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("stride 1000 words (periodic)"),
        "{summary}"
    );
    // One word alone is not periodic.
    let dir = tempfile::tempdir().unwrap();
    let (_, _, doc) = run_with_fault(
        &["--kernel", "memtest", "--memory", "1MiB"],
        "stuck@100:3=1",
        dir.path(),
    );
    assert!(doc["kernels"][0]["fingerprint"].get("stride").is_none());
    // A matmul's: the words its shader broke (row 5, cols 1 and 6), bit 31, on every
    // dispatch (each equal to the first, the last checked on the CPU).
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--kernel",
        "matmul-u32",
        "--size",
        "64x64x64",
        "--warmup",
        "1",
        "--iterations",
        "3",
    ];
    let (code, err, doc) = run_with_fault(&args, "xor@5,6,1=0x80000000", dir.path());
    assert_eq!(code, 1);
    let f = &doc["kernels"][0]["fingerprint"];
    let words: Vec<u64> = f["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["word"].as_u64().unwrap())
        .collect();
    assert_eq!(words, [5 * 64 + 1, 5 * 64 + 6], "{f}");
    assert_eq!(
        (&f["wrong_words"], &f["failing_bits"]),
        (&2.into(), &"0x80000000".into())
    );
    assert_eq!(f["buffer"], "result");
    assert_eq!(f["dispatch_fraction"], 1.0);
    assert!(
        err.contains("fingerprint: matmul-u32/64x64x64: 2 wrong 32-bit words in result"),
        "{err}"
    );
    // The same fault on dispatch 3 alone: that dispatch, one of the 4 (the first, a
    // warmup, 3 timed).
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(dir.path())
        .env("GPU_CANARY_INJECT_FAULT", "xor@5,6,1")
        .env("GPU_CANARY_FAULT_DISPATCH", "3")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let f = read_json(&dir.path().join("result.json"))["kernels"][0]["fingerprint"].clone();
    assert_eq!(f["dispatches"], serde_json::json!([3]), "{f}");
    assert_eq!(f["dispatch_fraction"], 0.25);
    assert_eq!(f["words"][0]["word"], 5 * 64 + 1);
    // A pass has none.
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let doc = read_json(&dir.path().join("result.json"));
    assert!(doc["kernels"][0].get("fingerprint").is_none());
}
