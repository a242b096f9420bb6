//! Who checks the checker: a check pass that compares nothing, a re-poison that is lost,
//! a golden copy that changes, a zero of the wrong sign, reduced precision and a bound
//! that cannot see small errors, each caused for real on the GPU side, in run, burn and
//! tune, and never read as a pass.

use serde_json::Value;

use crate::common::*;

/// `gpu-canary ARGS --out DIR` with `fault` planted (`at`: the dispatches it hits);
/// exit code, stderr and the schema-valid result.json.
fn faulted(args: &[&str], fault: &str, at: Option<&str>) -> (i32, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.args(args)
        .arg("--out")
        .arg(dir.path())
        .env("GPU_CANARY_INJECT_FAULT", fault);
    if let Some(at) = at {
        c.env("GPU_CANARY_FAULT_DISPATCH", at);
    }
    let out = c.output().unwrap();
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        doc,
    )
}

const U32: [&str; 5] = ["run", "--kernel", "matmul-u32", "--size", "64x64x64"];

#[test]
fn a_check_pass_that_compares_nothing_fails_run_burn_tune_and_the_memtest() {
    let (code, err, doc) = faulted(&U32, "dead-check", None);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the GPU's check pass did not compare"),
        "{err}"
    );
    assert!(err.contains("the sentinel's planted word"), "{err}");
    let dc = &doc["kernels"][0]["dispatch_check"];
    assert_eq!(
        dc["dispatches_verified"], 1,
        "only the first, against the CPU: {dc}"
    );
    assert!(!dc["checker_faults"].as_array().unwrap().is_empty());
    // A copy, a reduction and the f32 matmul the same way.
    for (kernel, size) in [
        ("copy-f32", "4MiB"),
        ("reduce-f32", "65539"),
        ("matmul-f32", "96x520x80"),
    ] {
        let (code, err, _) = faulted(
            &["run", "--kernel", kernel, "--size", size],
            "dead-check",
            None,
        );
        assert_eq!(code, 1, "{kernel}: {err}");
        assert!(err.contains("did not compare"), "{kernel}: {err}");
    }
    let burn = [
        "burn",
        "--kernel",
        "matmul-u32",
        "--size",
        "64x64x64",
        "--duration",
        "2s",
    ];
    let (code, err, doc) = faulted(&burn, "dead-check", None);
    assert_eq!(code, 1, "{err}");
    assert!(
        doc["burn"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("the GPU's check pass did not compare")
    );
    let tune = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "tune",
            "--kernel",
            "matmul-u32",
            "--size",
            "64x64x64",
            "--iterations",
            "2",
        ])
        .arg("--out")
        .arg(tune.path().join("tune.json"))
        .env("GPU_CANARY_INJECT_FAULT", "dead-check")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = read_json(&tune.path().join("tune.json"));
    assert!(
        t["trials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["verified"] == false),
        "{t}"
    );
    let (code, err, _) = faulted(
        &["run", "--kernel", "memtest", "--memory", "64MiB"],
        "dead-check",
        None,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the GPU's check pass did not compare"),
        "{err}"
    );
}

#[test]
fn a_lost_re_poison_with_a_dropped_dispatch_fails_and_alone_stays_verified() {
    for (kernel, size) in [
        ("matmul-u32", "64x64x64"),
        ("copy-buffer", "4MiB"),
        ("reduce-f32", "65539"),
    ] {
        let args = ["run", "--kernel", kernel, "--size", size];
        // The poisoning before dispatch 10 left out, and dispatch 10 never run: caught.
        let (code, err, doc) = faulted(&args, "skip-repoison+stale", Some("10"));
        assert_eq!(code, 1, "{kernel}: {err}");
        let w = &doc["kernels"][0]["dispatch_check"]["wrong"][0];
        assert_eq!(w["dispatch"], 10, "{kernel}: {w}");
        // The poisoning left out, the dispatch run: the host poisons again, the run is
        // verified.
        let (code, err, doc) = faulted(&args, "skip-repoison", Some("10"));
        assert_eq!(code, 0, "{kernel}: {err}");
        let dc = &doc["kernels"][0]["dispatch_check"];
        assert_eq!(dc["repoisoned_by_host"], 1, "{kernel}: {dc}");
        assert_eq!(dc["dispatches_verified"], dc["dispatches_total"]);
    }
    // burn cannot poison again mid-queue: the dispatch after a lost poisoning is not
    // proven, and the burn fails either way.
    let burn = [
        "burn",
        "--kernel",
        "matmul-u32",
        "--size",
        "64x64x64",
        "--duration",
        "2s",
    ];
    for fault in ["skip-repoison+stale", "skip-repoison"] {
        let (code, err, doc) = faulted(&burn, fault, Some("40"));
        assert_eq!(code, 1, "{fault}: {err}");
        assert!(
            doc["burn"]["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("not proven"),
            "{fault}: {}",
            doc["burn"]["errors"]
        );
    }
}

#[test]
fn a_changed_golden_copy_is_named_and_no_dispatch_is_blamed() {
    let (code, err, doc) = faulted(&U32, "corrupt-golden", Some("5"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the verified copy on the device changed"),
        "{err}"
    );
    assert!(err.contains("after dispatch 5 of 32"), "{err}");
    let dc = &doc["kernels"][0]["dispatch_check"];
    assert_eq!(dc["wrong_dispatches"], 0, "{dc}");
    assert_eq!(dc["golden_intact"], false);
    assert!(
        dc["golden_fault"]
            .as_str()
            .unwrap()
            .contains("word 0 of the result")
    );
}

#[test]
fn a_zero_of_the_wrong_sign_fails() {
    // Here A is zero: both elements of C are zero, the kernel stores them +0, and the
    // planted flip makes both -0 on every dispatch.
    let args = [
        "run",
        "--kernel",
        "matmul-f32",
        "--size",
        "1x1x2",
        "--seed",
        "38563169",
    ];
    let (code, err, doc) = faulted(&args, "xor@0,0,1=0x80000000", None);
    assert_eq!(code, 1, "{err}");
    let m = &doc["kernels"][0]["verification"]["first_mismatch"];
    assert_eq!(
        (m["row"].as_u64(), m["expected"].as_f64()),
        (Some(0), Some(0.0)),
        "{m}"
    );
    // Unplanted, the same seed passes: the zeros are +0.
    let out = bin().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn reduced_precision_fails_every_shape_class_burn_and_tune() {
    // Inputs rounded to TF32 on the device: invisible to the exact grid (520³, and
    // burn's and tune's kind of shape) and to the bound at K = 423, seen by the probe
    // that runs beside every matmul-f32.
    for size in ["8x423x8", "8x400x8", "520x520x520"] {
        let (code, err, doc) = faulted(
            &["run", "--kernel", "matmul-f32", "--size", size],
            "tf32",
            None,
        );
        assert_eq!(code, 1, "{size}: {err}");
        assert!(
            err.contains("reduced precision: the results match TF32"),
            "{size}: {err}"
        );
        let probe = doc["kernels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == "precision-f32")
            .unwrap();
        assert_eq!(probe["status"], "fail");
    }
    let burn = [
        "burn",
        "--kernel",
        "matmul-f32",
        "--size",
        "96x520x80",
        "--duration",
        "2s",
    ];
    let (code, err, _) = faulted(&burn, "tf32", None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the precision probe"), "{err}");
    let tune = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "tune",
            "--kernel",
            "matmul-f32",
            "--size",
            "96x520x80",
            "--iterations",
            "2",
        ])
        .arg("--out")
        .arg(tune.path().join("tune.json"))
        .env("GPU_CANARY_INJECT_FAULT", "tf32")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let t = read_json(&tune.path().join("tune.json"));
    for trial in t["trials"].as_array().unwrap() {
        assert_eq!(trial["verified"], false, "{trial}");
        assert!(
            trial["reason"]
                .as_str()
                .unwrap()
                .contains("precision probe"),
            "{trial}"
        );
    }
    // Both suites hold the probe.
    for suite in ["quick", "full"] {
        let out = bin().args(["kernels", "--json"]).output().unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let probe = doc["kernels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == "precision-f32")
            .unwrap();
        assert_eq!(probe["suites"][suite], serde_json::json!(["130x2x131"]));
    }
}

#[test]
fn the_bound_path_claims_no_certain_detection() {
    // A sign flip of a near-zero element and an error at 0.002: inside their elements'
    // bounds, unseen, and the result says it cannot see them.
    for (size, fault) in [
        ("127x129x131", "add@117,103=6.7394e-5"),
        ("512x384x512", "add@0,215=0.0021452539"),
    ] {
        let (_, err, doc) = faulted(
            &["run", "--kernel", "matmul-f32", "--size", size],
            fault,
            None,
        );
        // (The planted fault lands in the precision probe beside it too, which sees it.)
        let k = &doc["kernels"][0];
        assert_eq!(
            (k["id"].as_str(), k["status"].as_str()),
            (Some("matmul-f32"), Some("pass")),
            "{size} {fault}: {err}"
        );
        let v = &k["verification"];
        assert_eq!(v["method"], "full");
        assert!(v.get("miss_probability").is_none(), "{v}");
        assert!(
            v["detects"]
                .as_str()
                .unwrap()
                .contains("smaller errors pass unseen"),
            "{v}"
        );
    }
    // The exact grid of the same kernel states its certainty.
    let (code, err, doc) = faulted(
        &["run", "--kernel", "matmul-f32", "--size", "96x520x80"],
        "add@3,4=0.5",
        None,
    );
    assert_eq!(code, 1, "{err}");
    let v = &doc["kernels"][0]["verification"];
    assert_eq!(v["method"], "exact-grid");
    assert!(v["miss_probability"].as_f64().unwrap() < 1e-18);
}
