//! `gpu-canary preflight`, the runner's job-started hook, `--adapter all`, and what the
//! cluster does with a verdict (deploy/kubernetes/), on lavapipe: its Vulkan and its GL
//! adapter are two cards here.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn steps(doc: &Value) -> Vec<(String, String)> {
    doc["preflight"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn preflight_passes_on_a_software_adapter_and_fails_where_hardware_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ok");
    let o = bin()
        .arg("preflight")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let doc = read_json(&out.join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(doc["config"]["suite"], "preflight");
    let st = steps(&doc);
    let names: Vec<&str> = st.iter().map(|(n, _)| n.as_str()).collect();
    // The card, its state, and a verified slice of every kernel class, in order.
    for want in [
        "hardware",
        "vendor",
        "gpus",
        "driver",
        "ecc",
        "aer",
        "pcie-link",
    ] {
        assert!(names.contains(&want), "{want}: {names:?}");
    }
    for class in [
        "matmul-u32/",
        "matmul-f32/",
        "precision-f32/",
        "reduce-f32/",
        "copy-f32/",
        "upload/",
        "readback/",
        "memtest/",
    ] {
        let s = st
            .iter()
            .find(|(n, _)| n.starts_with(class))
            .unwrap_or_else(|| panic!("{class}: {names:?}"));
        assert_eq!(s.1, "pass", "{class}");
    }
    // What a software adapter cannot read is named as not read, never as a pass.
    assert!(
        st.iter().any(|(n, s)| n == "ecc" && s == "not-read"),
        "{st:?}"
    );
    assert!(
        st.iter().any(|(n, s)| n == "pcie-link" && s == "not-read"),
        "{st:?}"
    );
    // Every kernel of the slice verified on every dispatch.
    for k in doc["kernels"].as_array().unwrap() {
        assert_eq!(k["status"], "pass", "{k}");
        let d = &k["dispatch_check"];
        assert_eq!(d["dispatches_verified"], d["dispatches_total"], "{k}");
    }
    // With --require-hardware: exit 3, the hardware step failed, no kernel ran.
    let out = dir.path().join("hw");
    let o = bin()
        .args(["preflight", "--require-hardware", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let doc = read_json(&out.join("result.json"));
    assert_eq!(
        (&doc["verdict"], &doc["exit_code"]),
        (&"error".into(), &3.into())
    );
    assert_eq!(steps(&doc)[0], ("hardware".to_owned(), "fail".to_owned()));
    assert_eq!(doc["kernels"].as_array().unwrap().len(), 0);
    assert_eq!(doc["stopped"]["reason"], "software-adapter");
}

#[test]
fn a_preflight_past_its_budget_is_inconclusive_and_a_wrong_slice_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("budget");
    let o = bin()
        .args(["preflight", "--budget", "0.3", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc = read_json(&out.join("result.json"));
    assert_eq!(doc["verdict"], "inconclusive");
    let st = steps(&doc);
    assert_eq!(
        st.last().unwrap(),
        &("budget".to_owned(), "fail".to_owned()),
        "{st:?}"
    );
    // A wrong result planted in the GPU's output: exit 1, its step failed.
    let out = dir.path().join("wrong");
    let o = bin()
        .args(["preflight", "--out"])
        .arg(&out)
        .env("GPU_CANARY_INJECT_FAULT", "corrupt-output")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc = read_json(&out.join("result.json"));
    assert_eq!(doc["verdict"], "fail");
    assert!(steps(&doc).iter().any(|(_, s)| s == "fail"));
}

#[test]
fn every_card_once_with_a_combined_result() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all");
    let metrics = dir.path().join("m.prom");
    let junit = dir.path().join("j.xml");
    let o = bin()
        .args([
            "run",
            "--adapter",
            "all",
            "--kernel",
            "matmul-u32",
            "--size",
            "64x64x64",
        ])
        .args(["--iterations", "3", "--out"])
        .arg(&out)
        .arg("--export-metrics")
        .arg(&metrics)
        .arg("--export-junit")
        .arg(&junit)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let combined = read_json(&out.join("result.json"));
    assert_schema_valid(&combined);
    let cards = combined["cards"].as_array().unwrap();
    assert_eq!(
        cards.len(),
        2,
        "lavapipe's Vulkan and GL adapters: {combined}"
    );
    let backends: Vec<&str> = cards
        .iter()
        .map(|c| c["backend"].as_str().unwrap())
        .collect();
    assert_eq!(backends, ["vulkan", "gl"]);
    for c in cards {
        assert_eq!(c["verdict"], "pass");
        let own = read_json(&out.join(c["result"].as_str().unwrap()));
        assert_schema_valid(&own);
        assert_eq!(own["adapter"]["backend"], c["backend"]);
        assert_eq!(own["kernels"][0]["status"], "pass");
    }
    assert_eq!(combined["verdict"], "pass");
    // The metrics: every sample with its card, the file as promtool reads it.
    let text = std::fs::read_to_string(&metrics).unwrap();
    let check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics).unwrap())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(l.contains("card=\""), "{l}");
    }
    assert_eq!(text.matches("# HELP gpu_canary_run_verdict ").count(), 1);
    // JUnit: a suite per card.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    // history reads the cards' results and says why it skips the combined one.
    let h = bin()
        .args(["history", "--svg"])
        .arg(dir.path().join("h.svg"))
        .arg(&out)
        .output()
        .unwrap();
    let herr = String::from_utf8_lossy(&h.stderr);
    assert_eq!(h.status.code(), Some(0), "{herr}");
    assert!(
        herr.contains("the combined result of an --adapter all run"),
        "{herr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&h.stdout)
            .matches("| matmul-u32/64x64x64 |")
            .count(),
        2
    );
    // compare refuses the combined one, naming a card's.
    let c = bin()
        .arg("compare")
        .arg(out.join("result.json"))
        .arg(out.join("result.json"))
        .output()
        .unwrap();
    let cerr = String::from_utf8_lossy(&c.stderr);
    assert_eq!(c.status.code(), Some(2), "{cerr}");
    assert!(cerr.contains("combined result of 2 cards"), "{cerr}");
    // --expect-gpus 3 with two cards: exit 3, naming what is missing.
    let out3 = dir.path().join("three");
    let o = bin()
        .args([
            "preflight",
            "--adapter",
            "all",
            "--expect-gpus",
            "3",
            "--out",
        ])
        .arg(&out3)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("--expect-gpus 3: 2 of 3 cards seen"), "{err}");
    assert!(err.contains("1 missing"), "{err}");
    assert_eq!(
        read_json(&out3.join("result.json"))["cards"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Under --json, stdout is the combined document alone.
    let o = bin()
        .args(["preflight", "--adapter", "all", "--json", "--out"])
        .arg(dir.path().join("json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["cards"].as_array().unwrap().len(), 2);
    // --adapter all needs --out.
    let o = bin().args(["run", "--adapter", "all"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

fn hook(args: Option<&str>, dir: &Path) -> (i32, String, String) {
    let mut c = Command::new(root().join("docker/gpu-canary-job-started.sh"));
    c.env("GPU_CANARY_BIN", bin_path())
        .env("RUNNER_TEMP", dir)
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env_remove("GPU_CANARY_PUSHGATEWAY");
    match args {
        Some(a) => c.env("GPU_CANARY_PREFLIGHT_ARGS", a),
        None => c.env_remove("GPU_CANARY_PREFLIGHT_ARGS"),
    };
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default(),
    )
}

#[test]
fn the_job_started_hook_stops_a_job_on_a_bad_card_and_says_one_line_on_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    // The lane's setting (unset: --require-hardware) on a software adapter.
    let (code, out, summary) = hook(None, dir.path());
    assert_ne!(code, 0);
    assert!(
        out.starts_with("::error title=gpu-canary preflight failed on llvmpipe"),
        "{out}"
    );
    assert!(out.contains("is a software adapter"), "{out}");
    assert!(!out.lines().next().unwrap().contains('\r'));
    assert!(
        summary.contains("### gpu-canary preflight: ERROR (exit 3)"),
        "{summary}"
    );
    // No hardware required: one line, exit 0, the result where it says.
    let ok = tempfile::tempdir().unwrap();
    let (code, out, summary) = hook(Some(""), ok.path());
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("gpu-canary preflight: PASS on llvmpipe"),
        "{out}"
    );
    let path = out.trim().rsplit("; ").next().unwrap();
    assert_eq!(read_json(Path::new(path))["config"]["suite"], "preflight");
    assert!(
        summary.is_empty(),
        "a passing job's summary is its own: {summary}"
    );
    // Off.
    let off = Command::new(root().join("docker/gpu-canary-job-started.sh"))
        .env("GPU_CANARY_PREFLIGHT", "off")
        .env("GPU_CANARY_BIN", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(off.status.code(), Some(0));
}

fn kubernetes_validate() -> PathBuf {
    let p = root().join("target/test-tools/kv/bin/kubernetes-validate");
    assert!(p.exists(), "run scripts/test-tools (scripts/test does)");
    p
}

#[test]
fn the_manifests_validate_against_the_kubernetes_schemas() {
    let files = [
        "deploy/kubernetes/rbac.yaml",
        "deploy/kubernetes/daemonset.yaml",
    ];
    let o = Command::new(kubernetes_validate())
        .args(["--strict", "--kubernetes-version", "1.31.0"])
        .args(files.iter().map(|f| root().join(f)))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{said}");
    assert_eq!(said.matches("passed for resource").count(), 5, "{said}");
    // The validator is a real check: a misspelt field fails it.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(root().join(files[1])).unwrap();
    std::fs::write(
        &bad,
        text.replace("serviceAccountName", "serviceAcountName"),
    )
    .unwrap();
    let o = Command::new(kubernetes_validate())
        .arg("--strict")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!o.status.success());
    // The NPD monitor is JSON with the script it names.
    let m = read_json(&root().join("deploy/kubernetes/npd/gpu-canary-monitor.json"));
    assert_eq!(m["plugin"], "custom");
    assert_eq!(m["rules"][0]["path"], "/opt/gpu-canary/gpu-canary-npd.sh");
}

fn script(path: &str, env: &[(&str, &str)], dir: &Path) -> (i32, String) {
    let o = Command::new(root().join(path))
        .envs(env.iter().copied())
        .env("GPU_CANARY_BIN", bin_path())
        .env("OUT", dir.join("out"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn the_node_is_labelled_in_dry_run_and_npd_reads_the_mapped_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (code, said) = script(
        "deploy/kubernetes/node-health.sh",
        &[("NODE_NAME", "gpu-7"), ("PREFLIGHT_ARGS", "")],
        dir.path(),
    );
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("dry-run: kubectl label node gpu-7 gpu-canary.io/health=testing --overwrite"),
        "{said}"
    );
    assert!(
        said.contains("dry-run: kubectl label node gpu-7 gpu-canary.io/health=pass --overwrite"),
        "{said}"
    );
    assert!(!said.contains("taint"), "{said}");
    // A software adapter where hardware is required: labelled fail, not tainted (the
    // pod's setup, not the card).
    let (code, said) = script(
        "deploy/kubernetes/node-health.sh",
        &[("NODE_NAME", "gpu-7")],
        dir.path(),
    );
    assert_eq!(code, 3, "{said}");
    assert!(
        said.contains("dry-run: kubectl label node gpu-7 gpu-canary.io/health=fail --overwrite"),
        "{said}"
    );
    assert!(!said.contains("dry-run: kubectl taint"), "{said}");
    // A wrong result: labelled fail and tainted.
    let (code, said) = script(
        "deploy/kubernetes/node-health.sh",
        &[
            ("NODE_NAME", "gpu-7"),
            ("PREFLIGHT_ARGS", ""),
            ("GPU_CANARY_INJECT_FAULT", "corrupt-output"),
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("dry-run: kubectl taint node gpu-7 gpu-canary.io/unhealthy=wrong-result:NoSchedule --overwrite"), "{said}");
    let (code, said) = script("deploy/kubernetes/node-health.sh", &[], dir.path());
    assert_eq!(code, 2, "{said}");
    // NPD: 0 OK, 1 NonOK, 2 Unknown, one short line.
    for (env, want) in [
        (vec![("PREFLIGHT_ARGS", "")], 0),
        (vec![], 1),
        (vec![("PREFLIGHT_ARGS", "--budget 0.2")], 2),
    ] {
        let (code, said) = script("deploy/kubernetes/npd/gpu-canary-npd.sh", &env, dir.path());
        assert_eq!(code, want, "{env:?}: {said}");
        assert_eq!(said.lines().count(), 1, "{said}");
        assert!(said.trim_end().chars().count() <= 200, "{said}");
    }
}

#[test]
fn a_signal_reaches_every_cards_process_and_the_combined_result_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all");
    let mut child = process()
        .args([
            "run",
            "--adapter",
            "all",
            "--kernel",
            "matmul-u32",
            "--size",
            "512x512x512",
        ])
        .args(["--iterations", "3000", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Once the first card's run has written its first result.
    let t0 = std::time::Instant::now();
    while !std::fs::read_dir(&out)
        .map(|d| d.flatten().any(|e| e.path().join("result.json").exists()))
        .unwrap_or(false)
    {
        assert!(t0.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(143));
    let doc = read_json(&out.join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(
        (&doc["verdict"], &doc["exit_code"]),
        (&"cancelled".into(), &143.into())
    );
    let cards = doc["cards"].as_array().unwrap();
    assert_eq!(
        cards[0]["verdict"], "cancelled",
        "the running card was passed the signal"
    );
    assert_eq!(cards[0]["exit_code"], 143);
    // The next card never started, and says so.
    assert_eq!(cards[1]["verdict"], "error");
    assert!(
        doc["artifact_errors"][0]
            .as_str()
            .unwrap()
            .contains("not started: the run was cancelled")
    );
    assert_eq!(doc["diagnosis"]["action"], "rerun");
}
