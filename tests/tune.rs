//! `gpu-canary tune` and `run --tuning`: the sweep verifies what it times, and tuned
//! parameters apply only on the adapter they were made on.

use crate::common::*;

#[test]
fn tune_writes_verified_best_parameters_that_run_applies() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tune.json");
    let out = bin()
        .args(["tune", "--size", "65539", "--iterations", "3", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = read_json(&file);
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
