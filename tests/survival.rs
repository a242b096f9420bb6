//! Nothing measured is lost, and every channel tells one verdict: each fault caused for
//! real (a full tmpfs, a closed or full stdout, an unwritable step summary, SIGKILL, a
//! stopped run compared), asserting what survives and the exit code.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// A trace as Perfetto reads one: a JSON array that may lack its closing bracket (and
/// may end in a separator), or an object with `traceEvents`.
fn lenient_trace(text: &str) -> Vec<Value> {
    let t = text.trim().trim_end_matches(',');
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return match v {
            Value::Array(a) => a,
            v => v["traceEvents"].as_array().cloned().unwrap_or_default(),
        };
    }
    serde_json::from_str::<Vec<Value>>(&format!("{t}]")).expect("an unterminated JSON array")
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop; `None` when this
/// process may not mount (not root).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_disk_that_fills_during_the_run_keeps_result_json_and_one_verdict() {
    let Some(fs) = Tmpfs::mount("96k") else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let out = bin()
        .args(["run", "--kernel", "reduce-f32", "--size", "4096"])
        .args(["--warmup", "0", "--iterations", "400", "--out"])
        .arg(fs.0.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!err.contains("panicked"), "{err}");
    // One verdict: the process, the console and result.json.
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(stdout.contains("verdict: ERROR (exit 3)"), "{stdout}");
    let doc = read_json(&fs.0.path().join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(
        (&doc["status"], &doc["verdict"], &doc["exit_code"]),
        (&"complete".into(), &"error".into(), &3.into())
    );
    // The kernel that finished and passed is there, measured.
    let k = &doc["kernels"][0];
    assert_eq!(k["status"], "pass");
    assert_eq!(k["samples_ns"].as_array().unwrap().len(), 400);
    let errors = doc["artifact_errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("trace.json: cut short")),
        "{errors:?}"
    );
    assert!(err.contains("No space left on device"), "{err}");
    // The trace stands up to where the disk filled, and says why it stops.
    let events = lenient_trace(&std::fs::read_to_string(fs.0.path().join("trace.json")).unwrap());
    assert!(events.len() > 10);
    assert!(
        events.iter().any(|e| e["name"] == "trace cut short"
            && e["args"]["why"].as_str().unwrap().contains("No space left")),
        "the reason is in the trace"
    );
    // The space held back for result.json is given back.
    assert!(!fs.0.path().join(".gpu-canary-reserve").exists());

    // Many more samples: result.json outgrows the space held back, and the trace gives
    // way for it.
    let Some(fs) = Tmpfs::mount("96k") else {
        return;
    };
    let out = bin()
        .args(["run", "--kernel", "reduce-f32", "--size", "64"])
        .args(["--warmup", "0", "--iterations", "2000", "--out"])
        .arg(fs.0.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let doc = read_json(&fs.0.path().join("result.json"));
    assert_eq!(
        (&doc["verdict"], &doc["exit_code"]),
        (&"error".into(), &3.into())
    );
    assert_eq!(
        doc["kernels"][0]["samples_ns"].as_array().unwrap().len(),
        2000
    );
    let errors = doc["artifact_errors"].to_string();
    assert!(errors.contains("to make room for result.json"), "{errors}");
    lenient_trace(&std::fs::read_to_string(fs.0.path().join("trace.json")).unwrap());
}

#[test]
fn a_file_size_limit_is_an_error_the_run_reports_not_a_signal_that_kills_it() {
    // RLIMIT_FSIZE (what a non-root CI can impose): a write past it must fail with an
    // error the writers report, not kill the process with SIGXFSZ.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg("ulimit -f 200; exec \"$0\" run --kernel reduce-f32 --size 4096 --warmup 0 --iterations 400 --out \"$1\"")
        .arg(bin_path())
        .arg(dir.path())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("File too large"), "{err}");
    let doc = read_json(&dir.path().join("result.json"));
    assert_eq!(
        (&doc["verdict"], &doc["exit_code"]),
        (&"error".into(), &3.into())
    );
    assert_eq!(doc["kernels"][0]["status"], "pass");
}

#[test]
fn a_closed_or_full_stderr_never_changes_the_verdict() {
    // A wrong result (exit 1) and a pass, with stderr on a full device.
    for (fault, code, verdict) in [("corrupt-output", 1, "fail"), ("", 0, "pass")] {
        let dir = tempfile::tempdir().unwrap();
        let out = process()
            .args([
                "run",
                "--kernel",
                "matmul-u32",
                "--size",
                "64x64x64",
                "--out",
            ])
            .arg(dir.path())
            .env("GPU_CANARY_INJECT_FAULT", fault)
            .stderr(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{fault}");
        let doc = read_json(&dir.path().join("result.json"));
        assert_eq!(
            (&doc["verdict"], &doc["exit_code"]),
            (&verdict.into(), &code.into())
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("(exit {code})")));
    }
}

#[test]
fn under_json_stdout_result_json_and_the_process_tell_one_verdict() {
    // summary.md cannot be written (a directory is in its way): exit 3, said alike by
    // the document on stdout and result.json.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("summary.md")).unwrap();
    let out = bin()
        .args([
            "run",
            "--kernel",
            "matmul-u32",
            "--size",
            "8x8x8",
            "--json",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = read_json(&dir.path().join("result.json"));
    for d in [&doc, &file] {
        assert_eq!(
            (&d["verdict"], &d["exit_code"]),
            (&"error".into(), &3.into()),
            "{d}"
        );
        assert!(d["artifact_errors"].to_string().contains("summary.md"));
    }
}

#[test]
fn bmf_is_checked_before_the_run_and_written_through_a_link() {
    let out = bin()
        .args(["run", "--kernel", "matmul-u32", "--size", "8x8x8"])
        .args(["--export-bmf", "/nonexistent/dir/bmf.json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--export-bmf /nonexistent/dir/bmf.json: cannot write in /nonexistent/dir"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1);
    // A link is followed, not replaced.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.json");
    std::fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("link.json")).unwrap();
    let out = bin()
        .args([
            "run",
            "--kernel",
            "matmul-u32",
            "--size",
            "8x8x8",
            "--export-bmf",
        ])
        .arg(dir.path().join("link.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        std::fs::symlink_metadata(dir.path().join("link.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(read_json(&target)["matmul-u32/8x8x8"].is_object());
}

#[test]
fn json_on_a_full_or_closed_stdout_is_an_error_not_a_silent_exit_0() {
    for args in [
        vec!["adapters", "--json"],
        vec!["kernels", "--json"],
        vec!["run", "--kernel", "matmul-u32", "--size", "8x8x8", "--json"],
    ] {
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = process().args(&args).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
    }
    // A reader that has gone: the pipe is closed before the document is written.
    let out = process()
        .args([
            "run",
            "--kernel",
            "matmul-u32",
            "--size",
            "64x64x64",
            "--json",
        ])
        .stdout(closed_pipe())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("stdout (--json)"), "{err}");
    // compare's JSON too, with its own exit code for an artifact not written.
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/window/run-01.json");
    std::fs::copy(&fixture, dir.path().join("cur.json")).unwrap();
    let out = process()
        .args(["compare", "--format", "json"])
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/window/run-02.json"),
        )
        .arg(dir.path().join("cur.json"))
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unwritable_step_summary_is_a_warning_and_the_verdict_stands() {
    let dir = tempfile::tempdir().unwrap();
    for summary in [
        dir.path().join("missing/dir/summary.md"),
        dir.path().to_path_buf(),
    ] {
        let out_dir = tempfile::tempdir().unwrap();
        let out = bin()
            .args(["run", "--kernel", "matmul-u32", "--size", "8x8x8", "--out"])
            .arg(out_dir.path())
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{summary:?}: {err}");
        assert!(stdout.contains("verdict: PASS (exit 0)"), "{stdout}");
        assert_eq!(
            err.lines()
                .filter(|l| l.contains("GITHUB_STEP_SUMMARY"))
                .count(),
            1,
            "{err}"
        );
        let doc = read_json(&out_dir.path().join("result.json"));
        assert_eq!(
            (&doc["verdict"], &doc["exit_code"]),
            (&"pass".into(), &0.into())
        );
        // compare --format md: the same warning, compare's own verdict.
        let f = out_dir.path().join("result.json");
        let out = bin()
            .args(["compare", "--format", "md", "--allow-different-adapter"])
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/window/run-02.json"),
            )
            .arg(&f)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(0 | 4)), "{err}");
        assert!(
            err.contains("warning: cannot append to GITHUB_STEP_SUMMARY"),
            "{err}"
        );
    }
}

#[test]
fn the_step_summary_never_grows_past_a_mebibyte_and_starts_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    // Nearly full already, without a trailing newline.
    std::fs::write(&summary, vec![b'x'; 1_048_376]).unwrap();
    let out = bin()
        .args(["run", "--kernel", "matmul-u32", "--size", "8x8x8"])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read(&summary).unwrap();
    assert!(text.len() <= 1 << 20, "{} bytes", text.len());
    // With room: the whole section, on a line of its own.
    std::fs::write(&summary, b"previous step's last line").unwrap();
    let out = bin()
        .args(["run", "--kernel", "matmul-u32", "--size", "8x8x8"])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.starts_with("previous step's last line\n"), "{text}");
    assert!(text.contains("\n### gpu-canary"), "{text}");
    // A burn cannot be asked for sub-second rows that would swamp it.
    let out = bin()
        .args(["burn", "--interval", "0.0004"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid --interval '0.0004': use at least 0.1s"),
        "{err}"
    );
}

#[test]
fn a_run_killed_at_any_moment_leaves_a_trace_that_parses() {
    // Between checkpoints too: the stream holds only whole events.
    for wait_ms in [300, 700, 1300] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = process()
            .args([
                "run",
                "--kernel",
                "reduce-f32",
                "--size",
                "4096",
                "--warmup",
                "0",
            ])
            .args(["--iterations", "20000", "--out"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let text = std::fs::read_to_string(dir.path().join("trace.json")).unwrap();
        assert!(
            !lenient_trace(&text).is_empty(),
            "killed after {wait_ms} ms"
        );
    }
}

#[test]
fn a_killed_run_leaves_its_trace_under_its_real_name_and_result_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = process()
        .args([
            "run",
            "--kernel",
            "matmul-u32,reduce-f32",
            "--iterations",
            "50",
            "--out",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let result = dir.path().join("result.json");
    let t0 = Instant::now();
    while std::fs::read_to_string(&result)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .map(|d| d["kernels"].as_array().map_or(0, Vec::len))
        < Some(2)
    {
        assert!(t0.elapsed() < Duration::from_secs(60), "no kernel finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: nothing runs after it
    child.wait().unwrap();
    let doc = read_json(&result);
    assert_schema_valid(&doc);
    assert_eq!(doc["status"], "partial");
    let done = doc["kernels"].as_array().unwrap().len();
    assert!(done >= 2);
    // trace.json, by that name, with the spans of the kernels finished before the kill
    // (flushed at each checkpoint, after result.json).
    let text = std::fs::read_to_string(dir.path().join("trace.json")).expect("trace.json");
    assert!(text.starts_with('['), "a streamed JSON array");
    let events = lenient_trace(&text);
    let kernels: std::collections::BTreeSet<String> = events
        .iter()
        .filter(|e| e["name"] == "kernel" && e["ph"] == "B")
        .filter_map(|e| e["args"]["kernel"].as_str().map(str::to_owned))
        .collect();
    assert!(kernels.len() >= done, "{kernels:?}");
    assert!(events.iter().any(|e| e["name"] == "dispatch"));
}

#[test]
fn a_stopped_run_compared_is_inconclusive_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let cur = dir.path().join("cur");
    let kernels = ["--kernel", "matmul-u32,reduce-f32", "--iterations", "10"];
    let out = bin()
        .arg("run")
        .args(kernels)
        .arg("--out")
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // Stopped in its first kernel's largest shape.
    let out = bin()
        .arg("run")
        .args(kernels)
        .args(["--timeout", "0.5", "--out"])
        .arg(&cur)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let compare = |format: &str| {
        let out = bin()
            .args(["compare", "--format", format])
            .arg(base.join("result.json"))
            .arg(cur.join("result.json"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = compare("text");
    assert_eq!(code, Some(6), "{text}");
    assert!(
        text.contains("INCONCLUSIVE: the current run is no evidence: it stopped early"),
        "{text}"
    );
    assert!(
        text.contains("reduce-f32/16777219: missing: the current run stopped before it"),
        "{text}"
    );
    let (code, md) = compare("md");
    assert_eq!(code, Some(6));
    assert!(
        md.contains("**Inconclusive**") && md.contains("- reduce-f32/16777219: missing"),
        "{md}"
    );
    let (code, json) = compare("json");
    assert_eq!(code, Some(6));
    let c: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(c["finding"], "inconclusive");
    assert!(
        c["only_in_baseline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "reduce-f32/16777219")
    );
    // history marks it, and leaves it out of the window.
    let out = bin()
        .arg("history")
        .arg(base.join("result.json"))
        .arg(cur.join("result.json"))
        .arg("--svg")
        .arg(dir.path().join("h.svg"))
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{md}");
    assert!(md.contains("(stopped early)"), "{md}");
    // A stopped baseline is no baseline: left out, and said so.
    let out = bin()
        .args(["compare", "--format", "json"])
        .arg(cur.join("result.json"))
        .arg(base.join("result.json"))
        .output()
        .unwrap();
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    let why = c["left_out"][0]["why"].as_str().unwrap_or_default();
    assert!(
        why.contains("stopped early") && why.contains("not a baseline"),
        "{c}"
    );
}

#[test]
fn the_interval_of_few_samples_states_its_real_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "run",
            "--kernel",
            "matmul-u32",
            "--size",
            "8x8x8",
            "--iterations",
            "3",
        ])
        .arg("--out")
        .arg(dir.path().join("o"))
        .arg("--export-bmf")
        .arg(dir.path().join("bmf.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc = read_json(&dir.path().join("o/result.json"));
    assert_eq!(doc["kernels"][0]["stats"]["confidence"], 0.75);
    let bmf = read_json(&dir.path().join("bmf.json"));
    let latency = &bmf["matmul-u32/8x8x8"]["latency"];
    assert!(
        latency["value"].is_number() && latency.get("lower_value").is_none(),
        "{latency}"
    );
}

#[test]
fn adapters_are_named_where_none_is_found_or_several_match() {
    let out = bin()
        .args([
            "run",
            "--backend",
            "vulkan",
            "--kernel",
            "matmul-u32",
            "--size",
            "8x8x8",
        ])
        .env("VK_ICD_FILENAMES", "/nonexistent/x.json")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("no adapter on backend vulkan"), "{err}");
    assert!(
        err.contains("VK_ICD_FILENAMES=/nonexistent/x.json"),
        "{err}"
    );
    assert!(!err.contains("apt-get"), "a driver is installed: {err}");
    let out = bin()
        .args(["run", "--kernel", "matmul-u32", "--size", "8x8x8"])
        .env("WGPU_BACKEND", "dx12")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("no adapter on backend dx12; adapters on other backends: "),
        "{err}"
    );
    assert!(err.contains("WGPU_BACKEND=dx12"), "{err}");
    // Where a name matches several adapters (lavapipe on Vulkan and GL), the choice
    // and the others are said, on the console and in result.json.
    let names = bin().args(["adapters", "--json"]).output().unwrap();
    let list: Value = serde_json::from_slice(&names.stdout).unwrap();
    let first = list[0]["name"].as_str().unwrap().to_owned();
    let alike = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == first.as_str())
        .count();
    let out = bin()
        .args([
            "run",
            "--adapter",
            &first,
            "--kernel",
            "matmul-u32",
            "--size",
            "8x8x8",
            "--json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let also = doc["adapter"]["also_matched"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(also, alike - 1, "{}", doc["adapter"]);
    assert_eq!(err.contains("note: --adapter matched"), alike > 1, "{err}");
}

#[test]
fn burns_beside_a_load_exit_with_their_verdict_every_time() {
    // Teardown after a verdict must never abort: burns while another canary loads the
    // same CPU (lavapipe), every exit code one the guide documents.
    let mut load = process()
        .args(["run", "--iterations", "200"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for i in 0..4 {
        let out = bin()
            .args([
                "burn",
                "--kernel",
                "reduce-f32",
                "--size",
                "262147",
                "--duration",
                "2s",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "burn {i}: {err}");
        assert!(
            !err.contains("double free") && !err.contains("corrupted"),
            "{err}"
        );
    }
    let _ = load.kill();
    let _ = load.wait();
}

#[test]
fn a_stopped_run_names_its_card_and_the_case_it_stopped_in() {
    let json = |args: &[&str]| {
        let out = bin().args(args).arg("--json").output().unwrap();
        (
            out.status.code(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        )
    };
    // Refused tensor cores stop the run at matmul-f16, not at the kernel before it.
    let (code, doc) = json(&[
        "run",
        "--kernel",
        "matmul-f32,matmul-f16",
        "--size",
        "8x8x8",
        "--require-tensor-cores",
    ]);
    if code == Some(3) {
        assert_eq!(
            doc["stopped"]["kernel"], "matmul-f16/8x8x8",
            "{}",
            doc["stopped"]
        );
    }
    // Every stop records the card's telemetry (on lavapipe: what it could not read).
    for args in [
        vec!["run", "--kernel", "matmul-u32", "--timeout", "0.3"],
        vec![
            "run",
            "--kernel",
            "matmul-u32",
            "--size",
            "8x8x8",
            "--require-hardware",
        ],
    ] {
        let (_, doc) = json(&args);
        if doc["stopped"].is_object() {
            assert!(doc["hygiene"].is_object(), "{args:?}: {doc}");
        }
    }
}
