//! Every dispatch verified: a fault planted in one dispatch of many (or in most of
//! them) fails the run, `tune` and `burn`, naming the dispatch; and a passing run
//! records every dispatch as verified.

use serde_json::Value;

use crate::common::*;

/// Runs one case of `warmup` + `iterations` dispatches with `fault` planted on the GPU
/// in the dispatches `at`; returns exit code, stderr and the schema-valid result.json.
fn intermittent(
    kernel: &str,
    size: &str,
    fault: &str,
    at: &str,
    (warmup, iterations): (u32, u32),
) -> (i32, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "--kernel", kernel, "--size", size])
        .args(["--warmup", &warmup.to_string()])
        .args(["--iterations", &iterations.to_string()])
        .arg("--out")
        .arg(dir.path())
        .env("GPU_CANARY_INJECT_FAULT", fault)
        .env("GPU_CANARY_FAULT_DISPATCH", at)
        .output()
        .unwrap();
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(
        doc["config"]["fault"],
        format!("{fault} at dispatch {at}"),
        "the fault and its dispatches are recorded"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        doc,
    )
}

#[test]
fn one_wrong_dispatch_of_any_kernel_fails_the_run_and_is_named() {
    // The 5th of 10 timed samples: dispatch 7 of 12 (the first, one more warmup). Each
    // fault lands on the GPU, in the result (or the bytes a transfer delivers).
    for (kernel, size, fault, place) in [
        // K above the sharp float bound: the exact grid, one unit of C is 2⁻¹⁶ here.
        (
            "matmul-f32",
            "96x520x80",
            "add@3,4=0.0000152587890625",
            "(row 3, col 4)",
        ),
        (
            "matmul-u32",
            "64x64x64",
            "xor@63,1,62=0x80000000",
            "(row 63, col 1)",
        ),
        ("reduce-f32", "1048579", "add@0,0=1", "word 0 of the result"),
        (
            "copy-f32",
            "4MiB",
            "xor@0,1048575,7=0x00000001",
            "word 7 of",
        ),
        ("copy-buffer", "4MiB", "add@0,9=1", "word 9 of"),
        ("upload", "4MiB", "zero-row@0", "word 0 of"),
        ("readback", "4MiB", "add@0,1048575=1", "word 1048575 of"),
        // A dispatch that never reaches the GPU: the poison (or, for readback, the
        // other source's bytes) is read, never the previous dispatch's good result.
        ("matmul-u32", "64x64x64", "stale", "word 0 of the result"),
        ("reduce-f32", "1048579", "stale", "word 0 of the result"),
        ("copy-buffer", "4MiB", "stale", "word 0 of"),
        ("readback", "4MiB", "stale", "word 0 of"),
    ] {
        let (code, err, doc) = intermittent(kernel, size, fault, "timed:5", (2, 10));
        let what = format!("{kernel} {size} {fault}");
        assert_eq!(code, 1, "{what}: {err}");
        assert_eq!(doc["verdict"], "fail", "{what}");
        let k = &doc["kernels"][0];
        assert_eq!(k["status"], "fail", "{what}");
        let dc = &k["dispatch_check"];
        assert_eq!(
            (&dc["dispatches_total"], &dc["dispatches_verified"]),
            (&12.into(), &12.into()),
            "{what}: {dc}"
        );
        assert_eq!(dc["wrong_dispatches"], 1, "{what}: {dc}");
        let w = &dc["wrong"][0];
        assert_eq!(w["dispatch"], 7, "{what}: {w}");
        assert_eq!(w["name"], "dispatch 7 of 12 (timed sample 5 of 10)");
        assert!(w["place"].as_str().unwrap().contains(place), "{what}: {w}");
        assert_ne!(w["expected"], w["actual"]);
        // The last output, checked against the CPU reference, was right: only the
        // per-dispatch check could see this.
        assert!(k["verification"]["first_mismatch"].is_null(), "{what}");
        let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
        assert!(
            line.contains(
                "dispatch 7 of 12 (timed sample 5 of 10) differs from the verified output"
            ) && line.contains(place),
            "{what}: {err}"
        );
    }
}

#[test]
fn thirty_of_thirty_two_wrong_dispatches_fail() {
    // Every dispatch but the first and the last, the two the CPU check sees.
    for (kernel, size) in [("matmul-u32", "64x64x64"), ("matmul-f32", "520x520x520")] {
        let (code, err, doc) = intermittent(kernel, size, "add@3,4=1", "2-31", (2, 30));
        assert_eq!(code, 1, "{kernel}: {err}");
        let dc = &doc["kernels"][0]["dispatch_check"];
        assert_eq!(dc["wrong_dispatches"], 30, "{dc}");
        assert_eq!(dc["dispatches_verified"], 32, "{dc}");
        assert_eq!(dc["wrong"][0]["dispatch"], 2);
        assert_eq!(
            dc["wrong"].as_array().unwrap().len(),
            16,
            "the first 16 listed"
        );
    }
}

#[test]
fn a_wrong_first_dispatch_is_named_as_the_first() {
    let (code, err, doc) = intermittent("matmul-u32", "64x64x64", "add@5,6=1", "1", (1, 4));
    assert_eq!(code, 1, "{err}");
    let reason = doc["kernels"][0]["reason"].as_str().unwrap();
    assert!(
        reason
            .contains("dispatch 1 of 5 (the first, untimed) differs from the verified last output")
            && reason.contains("(row 5, col 6)"),
        "{reason}"
    );
}

#[test]
fn a_passing_suite_verified_every_dispatch_outside_its_timing() {
    let (dir, out, _) = suite_run();
    assert!(out.status.success());
    let doc = read_json(&dir.path().join("out/result.json"));
    let (warmup, iterations) = (
        doc["config"]["warmup"].as_u64().unwrap(),
        doc["config"]["iterations"].as_u64().unwrap(),
    );
    let mut ran = 0;
    for k in doc["kernels"].as_array().unwrap() {
        if k["status"] == "skipped" {
            assert!(k["dispatch_check"].is_null());
            continue;
        }
        ran += 1;
        let dc = &k["dispatch_check"];
        if k["id"] == "memtest" {
            // Its passes, each compared on the GPU with its check proven.
            assert_eq!(dc["method"], "memtest-gpu");
            assert_eq!(dc["dispatches_total"], 6);
            assert_eq!(dc["dispatches_verified"], 6);
            continue;
        }
        assert_eq!(dc["dispatches_total"], warmup.max(1) + iterations, "{k}");
        assert_eq!(dc["dispatches_verified"], dc["dispatches_total"], "{k}");
        assert_eq!(dc["wrong_dispatches"], 0);
        let method = if k["id"] == "readback" {
            "golden-host"
        } else {
            "golden-gpu"
        };
        assert_eq!(dc["method"], method, "{k}");
        assert!(dc["check_ns"].as_u64().unwrap() > 0);
        assert_eq!(k["samples_ns"].as_array().unwrap().len() as u64, iterations);
    }
    assert!(ran >= 15, "{ran} cases ran");
    // The quick suite has an f32 product on the exact grid.
    let exact = doc["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["id"] == "matmul-f32" && k["verification"]["method"] == "exact-grid");
    assert!(exact);
}

#[test]
fn long_dot_products_are_checked_exactly_or_refused() {
    // K = 2¹⁵ with 16×32 outputs: under 2²⁷ multiply-adds, but the float bound would be
    // larger than |C| there, so it goes on the exact grid, where a zeroed tile fails and
    // the plain run passes.
    let args = [
        "--kernel",
        "matmul-f32",
        "--size",
        "16x32768x32",
        "--warmup",
        "0",
        "--iterations",
        "1",
    ];
    let dir = tempfile::tempdir().unwrap();
    let (code, err, doc) = run_with_fault(&args, "tile@0,0", dir.path());
    assert_eq!(code, 1, "{err}");
    assert_eq!(doc["kernels"][0]["verification"]["method"], "exact-grid");
    let out = bin().arg("run").args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // K = 2²² is on the exact grid too: a verdict, never a panic. (lavapipe computes
    // products this long wrong, from K of about 60 000, and fails them: exit 1.)
    let out = bin()
        .args(["run", "--kernel", "matmul-f32", "--size", "1x4194304x1"])
        .args(["--warmup", "0", "--iterations", "1", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["kernels"][0]["verification"]["method"], "exact-grid");
    // Above 2²⁴ no grid is exact in f32: refused, in one line.
    for kernel in ["matmul-f32", "matmul-f16"] {
        let out = bin()
            .args(["run", "--kernel", kernel, "--size", "1x16777217x1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("K = 16777217 is over 16777216 (2^24)"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// A burn of `args`, with the environment `env`; exit code, stderr and result.json.
fn burn(args: &[&str], env: &[(&str, &str)]) -> (i32, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.arg("burn").args(args).arg("--out").arg(dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        doc,
    )
}

#[test]
fn burn_verifies_every_dispatch_and_never_passes_unchecked() {
    // Checks against the CPU reference a million dispatches apart: every dispatch is
    // still compared on the GPU, and the first is checked against the CPU.
    let (code, err, doc) = burn(
        &[
            "--size",
            "64x64x64",
            "--duration",
            "2s",
            "--check-every",
            "1000000",
        ],
        &[],
    );
    let b = &doc["burn"];
    assert!(code == 0 || code == 5, "{err}");
    assert!(b["dispatches"].as_u64().unwrap() > 100, "{b}");
    assert_eq!(b["dispatches_verified"], b["dispatches"], "{b}");
    assert!(b["checks"].as_u64().unwrap() >= 1);
    let dc = &doc["kernels"][0]["dispatch_check"];
    assert_eq!(dc["dispatches_total"], b["dispatches"]);
    // The intervals count the same dispatches.
    let sum: u64 = b["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["dispatches"].as_u64().unwrap())
        .sum();
    assert_eq!(Some(sum), b["dispatches"].as_u64(), "{b}");
    // A duration shorter than the calibration: still dispatches, and checked.
    let (code, err, doc) = burn(&["--size", "512x512x512", "--duration", "1s"], &[]);
    assert!(code == 0 || code == 5, "{err}");
    let b = &doc["burn"];
    assert!(b["checks"].as_u64().unwrap() >= 1, "{b}");
    assert_eq!(b["dispatches_verified"], b["dispatches"], "{b}");
    assert_eq!(doc["kernels"][0]["verification"]["passed"], true);
}

#[test]
fn a_fault_in_the_burns_load_is_caught_at_its_dispatch() {
    // Every load dispatch from the second on, checks against the CPU 20 apart: the
    // compare on the GPU names dispatch 2.
    let (code, err, doc) = burn(
        &[
            "--kernel",
            "matmul-u32",
            "--size",
            "128x128x128",
            "--duration",
            "10s",
        ],
        &[
            ("GPU_CANARY_INJECT_FAULT", "add@3,4=1"),
            ("GPU_CANARY_FAULT_AT", "2"),
        ],
    );
    assert_eq!(code, 1, "{err}");
    let e = &doc["burn"]["errors"][0];
    assert_eq!((&e["dispatch"], &e["check"]), (&2.into(), &0.into()), "{e}");
    assert_eq!(
        (&e["mismatch"]["row"], &e["mismatch"]["col"]),
        (&3.into(), &4.into())
    );
    assert!(
        err.contains("dispatch 2 (compared bit for bit with the verified output on the GPU)"),
        "{err}"
    );
    // One dispatch of hundreds, kept going: exactly the dispatches hit are wrong.
    let (code, err, doc) = burn(
        &["--size", "64x64x64", "--duration", "3s", "--keep-going"],
        &[
            ("GPU_CANARY_INJECT_FAULT", "stale"),
            ("GPU_CANARY_FAULT_DISPATCH", "every:100"),
        ],
    );
    assert_eq!(code, 1, "{err}");
    let b = &doc["burn"];
    let n = b["dispatches"].as_u64().unwrap();
    // Found by the compare on the GPU (check 0); a check against the CPU that falls on
    // such a dispatch names it too.
    let errors = b["errors"].as_array().unwrap();
    let on_gpu = errors.iter().filter(|e| e["check"] == 0).count() as u64;
    assert_eq!(on_gpu, n / 100, "{n} dispatches: {errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e["dispatch"].as_u64().unwrap() % 100 == 0)
    );
    assert_eq!(
        doc["kernels"][0]["dispatch_check"]["wrong_dispatches"],
        n / 100
    );
}

#[test]
fn a_wrong_dispatch_is_found_wherever_it_falls_in_the_ledgers_ring() {
    // The ledger is read every 1023 passes: the passes at the ring's edges (dispatches 2,
    // 1025, 1026, 2049) are each caught, a planted value and a dropped dispatch alike.
    for (fault, at) in [
        ("add@1,1=1", "2"),
        ("add@1,1=1", "1025"),
        ("stale", "1026"),
        ("add@1,1=1", "2049"),
    ] {
        let (code, err, doc) = intermittent("matmul-u32", "8x8x8", fault, at, (0, 2100));
        assert_eq!(code, 1, "{fault} at {at}: {err}");
        let dc = &doc["kernels"][0]["dispatch_check"];
        assert_eq!(dc["wrong"][0]["dispatch"].to_string(), at, "{dc}");
        assert_eq!(dc["dispatches_verified"], 2101, "{dc}");
    }
}

#[test]
fn consecutive_dropped_readbacks_are_each_caught() {
    // A dropped copy leaves the staging buffer as the one before left it; after the
    // first wrong one it is poisoned, so the next drop reads poison.
    let (code, err, doc) = intermittent("readback", "4KiB", "stale", "3-10", (2, 30));
    assert_eq!(code, 1, "{err}");
    let dc = &doc["kernels"][0]["dispatch_check"];
    let wrong: Vec<u64> = dc["wrong"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["dispatch"].as_u64().unwrap())
        .collect();
    assert_eq!(wrong, (3..=10).collect::<Vec<_>>(), "{dc}");
}

#[test]
fn a_negative_addend_wraps_in_a_u32_result() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--kernel",
        "matmul-u32",
        "--size",
        "64x64x64",
        "--warmup",
        "0",
        "--iterations",
        "1",
    ];
    let (code, err, doc) = run_with_fault(&args, "add@3,4=-1", dir.path());
    assert_eq!(code, 1, "{err}");
    let m = &doc["kernels"][0]["verification"]["first_mismatch"];
    let (e, a) = (
        m["expected"].as_f64().unwrap() as u32,
        m["actual"].as_f64().unwrap() as u32,
    );
    assert_eq!(a, e.wrapping_sub(1), "{m}");
    // A fraction cannot be added to a whole word: refused, not silently zero.
    let out = bin()
        .arg("run")
        .args(args)
        .env("GPU_CANARY_INJECT_FAULT", "add@3,4=0.5")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("add a whole number"), "{err}");
}
