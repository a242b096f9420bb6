//! `gpu-canary tune` and `run --tuning`: the sweep verifies what it times, and tuned
//! parameters apply only on the adapter they were made on.

use crate::common::*;

/// Runs `tune --kernel KERNELS --size SIZE`; returns the directory holding the tuning
/// file, the file, and its JSON.
fn tune(
    kernels: &str,
    size: &str,
    iterations: &str,
) -> (tempfile::TempDir, std::path::PathBuf, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tune.json");
    let out = bin()
        .args(["tune", "--kernel", kernels, "--size", size])
        .args(["--iterations", iterations, "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let t = read_json(&file);
    (dir, file, t)
}

#[test]
fn tune_writes_verified_best_parameters_that_run_applies() {
    let (dir, file, t) = tune("reduce-f32", "65539", "3");
    let trials = t["trials"].as_array().unwrap();
    assert!(trials.len() >= 6 && trials.iter().all(|t| t["verified"] == true));
    let best = t["best"]["reduce-f32"].clone();
    assert!(best["WG"].as_f64().unwrap() >= 64.0);

    let run = |tuning: &std::path::Path| -> serde_json::Value {
        let out = bin()
            .args([
                "run",
                "--kernel",
                "reduce-f32",
                "--size",
                "1000",
                "--iterations",
                "2",
                "--json",
                "--tuning",
            ])
            .arg(tuning)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let doc = run(&file);
    assert_schema_valid(&doc);
    assert!(
        doc["config"]["tuning"]
            .as_str()
            .unwrap()
            .ends_with("applied")
    );
    assert_eq!(doc["kernels"][0]["launch"]["constants"], best);
    assert_eq!(
        doc["kernels"][0]["launch"]["workgroup_size"][0].as_f64(),
        best["WG"].as_f64()
    );

    // Made on another driver: not applied, defaults used, and the result says why.
    let mut other = t.clone();
    other["adapter"]["driver_info"] = "Mesa 99".into();
    let other_file = dir.path().join("other.json");
    std::fs::write(&other_file, serde_json::to_string(&other).unwrap()).unwrap();
    let doc = run(&other_file);
    assert!(
        doc["config"]["tuning"]
            .as_str()
            .unwrap()
            .contains("not applied: made on")
    );
    assert_eq!(doc["kernels"][0]["launch"]["constants"]["WG"], 256.0);
}

#[test]
fn tune_sweeps_the_tiled_matmul_and_run_applies_its_tile() {
    let (_dir, file, t) = tune("matmul-f32,matmul-u32", "96x64x100", "2");
    for id in ["matmul-f32", "matmul-u32"] {
        let trials: Vec<_> = t["trials"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["kernel"] == id)
            .collect();
        assert!(trials.len() >= 10, "{id}: {}", trials.len());
        assert!(trials.iter().all(|x| x["verified"] == true));
        // The element-wise I/O is among them, as the reference for the vec4 loads.
        assert!(trials.iter().any(|x| x["params"]["VEC4"] == 0.0));
        assert!(t["best"][id]["WG_X"].as_f64().is_some());
    }
    let best = t["best"]["matmul-f32"].clone();
    let out = bin()
        .args([
            "run",
            "--kernel",
            "matmul-f32",
            "--size",
            "33x20x40",
            "--iterations",
            "2",
            "--json",
            "--tuning",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema_valid(&doc);
    let launch = &doc["kernels"][0]["launch"];
    assert_eq!(launch["constants"], best);
    assert_eq!(launch["workgroup_size"][0].as_f64(), best["WG_X"].as_f64());
    assert_eq!(launch["workgroup_size"][1].as_f64(), best["WG_Y"].as_f64());
    assert_eq!(launch["tile"][2].as_f64(), best["BK"].as_f64());
}

#[test]
fn tune_refuses_sizes_that_fit_no_kernel_and_unknown_kernels() {
    for (args, needle) in [
        (
            vec!["tune", "--size", "1000,2000"],
            "two --size values for reduce-f32",
        ),
        (
            vec!["tune", "--kernel", "matmul-f64"],
            "no tunable kernel 'matmul-f64'",
        ),
        (
            vec!["tune", "--kernel", "reduce-f32", "--size", "8x8x8"],
            "fits none of the kernels",
        ),
        (vec!["tune", "--size", "8x0x8"], "at least 1"),
    ] {
        let out = bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle) && err.trim().lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

#[test]
fn tuning_a_kernel_the_adapter_cannot_run_is_an_environment_failure() {
    let dir = tempfile::tempdir().unwrap();
    let adapters = bin().args(["adapters", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&adapters.stdout).unwrap();
    if list
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["cooperative_matrix"] == true)
    {
        return; // this adapter can run matmul-f16: nothing to refuse
    }
    let out = bin()
        .args(["tune", "--kernel", "matmul-f16"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("matmul-f16 cannot run on this adapter: tensor cores not available")
            && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(
        !dir.path().join("tune.json").exists(),
        "nothing measured, no tuning file"
    );
}

#[test]
fn a_bad_tuning_file_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    std::fs::write(&file, "{\"format\": \"something-else\"}").unwrap();
    let out = bin().args(["run", "--tuning"]).arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not a gpu-canary tuning file") && err.trim().lines().count() == 1,
        "{err}"
    );
}

/// The measurement table is Python (the GPU host has it for PyTorch); a machine
/// without python3 skips the tests that need it, saying so.
fn python3() -> bool {
    let ok = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("python3 not found: skipping the measurement-table checks");
    }
    ok
}

#[test]
fn the_gpu_measurement_script_runs_every_step_on_any_adapter() {
    if !python3() {
        return;
    }
    // scripts/gpu-measure is what a session with a lent GPU runs once; here its small
    // mode runs the same steps on whatever adapter there is, so a renamed flag fails
    // the tests rather than the GPU lease.
    let out = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new("bash")
        .arg(root.join("scripts/gpu-measure"))
        .env("OUT", out.path())
        .env("GPU_CANARY_MEASURE", "small")
        .env("GPU_CANARY_BIN", bin_path())
        .output()
        .unwrap();
    let steps = std::fs::read_to_string(out.path().join("steps.txt")).unwrap();
    assert!(status.status.success(), "{steps}");
    for step in [
        "adapters",
        "preflight",
        "suite",
        "tune",
        "full",
        "unchecked",
        "faults",
    ] {
        assert!(
            steps.contains(&format!("{step} exit 0 ")),
            "{step}: {steps}\n{}",
            std::fs::read_to_string(out.path().join(format!("{step}.log"))).unwrap_or_default()
        );
    }
    let table = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(
        table.contains("| matmul-f32 | 96x64x100 | unchecked |")
            && table.contains("| matmul-u32 | 512x512x512 | checked |")
            && table.contains("- reduce-f32: ")
            && table.contains("| matmul-u32 | 520x520x520 | xor@3,4,5 | all | 1 | row 3, col 4 |")
            && table.contains(
                "| matmul-u32 | 64x64x64 | add@3,4=1 | 2-31 | 1 | dispatch 2 of 32 (warmup 1 of 1): word 196 of the result (row 3, col 4) |"
            )
            && table.contains("Every dispatch verified (suite): ")
            && table.contains("| upload (host clock) | 64MiB | checked | map, write the bytes")
            && table.contains("Where the suite's time went (ms, from its trace): request_adapter ")
            && table.contains("Memory test (suite): 0.3 GB of ")
            && table.contains("6 of 6 passes verified, 0 wrong")
            && table.contains("against copy-buffer "),
        "{table}"
    );
    // The phases are measured, not left at zero: the suite verified and dispatched.
    let phases = table
        .lines()
        .find(|l| l.starts_with("Where the suite's time went"))
        .unwrap();
    for phase in ["compile", "dispatch", "verify"] {
        let ms: f64 = phases
            .split(&format!("{phase} "))
            .nth(1)
            .and_then(|r| r.split([',', ' ']).next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{phase} in {phases}"));
        assert!(ms > 0.0, "{phases}");
    }
}

#[test]
fn the_gpu_burn_measurement_runs_on_any_adapter() {
    let out = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new("bash")
        .arg(root.join("scripts/gpu-measure"))
        .env("OUT", out.path())
        .env("GPU_CANARY_MEASURE", "burn-small")
        .env("GPU_CANARY_BIN", bin_path())
        .output()
        .unwrap();
    let steps = std::fs::read_to_string(out.path().join("steps.txt")).unwrap();
    // Verified (not 1) and finished (not 3); a drift (5) is a real measurement on a
    // software adapter that shares the CPU with the other tests.
    assert!(
        status.status.success()
            && (steps.contains("burn exit 0 ") || steps.contains("burn exit 5 ")),
        "{steps}"
    );
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("#### Burn: matmul-f32/128x128x128"),
        "{summary}"
    );
}

#[test]
fn the_measurement_table_divides_by_the_anchor_of_the_same_shape() {
    if !python3() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir(out.path().join("full")).unwrap();
    // The fixture's matmul-f32 512³ median is 10.979 GFLOP/s.
    std::fs::write(
        out.path().join("full/result.json"),
        serde_json::to_string(&fixture()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        out.path().join("anchors.txt"),
        "torch fp32 (no tf32) matmul n=512: 13.422 ms -> 20.0 GFLOP/s\n\
         torch f32 sum n=16777219: 1.0 ms -> 5.0 GB/s\n",
    )
    .unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = std::process::Command::new("python3")
        .arg(root.join("scripts/gpu-measure-table"))
        .arg(out.path())
        .output()
        .unwrap();
    assert!(run.status.success());
    let table = String::from_utf8(run.stdout).unwrap();
    let row = |prefix: &str| {
        table
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {table}"))
            .to_owned()
    };
    assert!(
        row("| matmul-f32 | 512x512x512 |").contains("| 0.549 |"),
        "{table}"
    );
    // No anchor for a non-square product.
    assert!(row("| matmul-f32 | 127x129x131 |").contains("| - | - |"));
    let reduce = fixture()["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "reduce-f32" && k["shape"] == "16777219")
        .unwrap()["throughput"]["median"]
        .as_f64()
        .unwrap();
    assert!(
        row("| reduce-f32 | 16777219 |").contains(&format!("| {:.3} |", reduce / 5.0)),
        "{table}"
    );
    assert!(table.contains("(unchecked run missing)"));
}

#[test]
fn a_tuning_file_that_cannot_be_written_is_an_environment_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["tune", "--kernel", "reduce-f32", "--size", "1000"])
        .args(["--iterations", "1", "--out"])
        .arg(dir.path().join("no/such/dir/tune.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("tune: cannot write"), "{err}");
}

#[test]
fn tune_stops_at_its_timeout_and_keeps_what_it_measured() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["tune", "--kernel", "matmul-f32", "--size", "300x300x300"])
        .args(["--iterations", "2", "--timeout", "1", "--out"])
        .arg(dir.path().join("tune.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("--timeout expired in matmul-f32"), "{err}");
    let t = read_json(&dir.path().join("tune.json"));
    let n = t["trials"].as_array().unwrap().len();
    assert!(n >= 1, "what was measured is kept: {t}");
    assert!(n < 20, "the sweep stopped early: {n} trials");
}

#[test]
fn a_wrong_configuration_is_exit_1_even_when_the_timeout_stops_the_sweep() {
    // One timed dispatch of each configuration wrong; the sweep cut by its timeout.
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["tune", "--kernel", "reduce-f32", "--size", "16777219"])
        .args(["--iterations", "5", "--timeout", "1.5", "--out"])
        .arg(dir.path().join("tune.json"))
        .env("GPU_CANARY_INJECT_FAULT", "add@0,0=1")
        .env("GPU_CANARY_FAULT_DISPATCH", "timed:3")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--timeout expired in reduce-f32"), "{err}");
    assert!(err.contains("WRONG"), "{err}");
    let t = read_json(&dir.path().join("tune.json"));
    let trials = t["trials"].as_array().unwrap();
    assert!(
        !trials.is_empty() && trials.iter().all(|t| t["verified"] == false),
        "{t}"
    );
    assert!(
        t["best"].get("reduce-f32").is_none(),
        "no wrong configuration is best"
    );
}
