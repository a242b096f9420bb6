//! The canary workflow's contract (docs/lane.md), read from the YAML itself.

use serde_yaml_ng::Value;

fn load(name: &str) -> (Value, String) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".github/workflows")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap();
    (serde_yaml_ng::from_str(&text).unwrap(), text)
}

fn steps(job: &Value) -> Vec<&Value> {
    job["steps"].as_sequence().unwrap().iter().collect()
}

fn run_text(step: &Value) -> &str {
    step.get("run").and_then(Value::as_str).unwrap_or("")
}

#[test]
fn the_canary_never_runs_code_from_pull_requests() {
    let (wf, _) = load("gpu-canary.yml");
    let on = wf["on"].as_mapping().unwrap();
    for key in on.keys() {
        let k = key.as_str().unwrap();
        assert!(
            !k.starts_with("pull_request"),
            "trigger {k} would run fork code on the GPU runner"
        );
    }
    assert!(
        on.contains_key("push")
            && on.contains_key("schedule")
            && on.contains_key("workflow_dispatch")
    );
    let cron = wf["on"]["schedule"][0]["cron"].as_str().unwrap();
    assert_ne!(cron.split_whitespace().next(), Some("0"), "not at minute 0");
    for input in ["suite", "iterations", "ref", "tune"] {
        assert!(
            wf["on"]["workflow_dispatch"]["inputs"][input]["type"].is_string(),
            "typed input {input}"
        );
    }
}

#[test]
fn the_canary_runs_on_the_lane_with_hardware_required() {
    let (wf, _) = load("gpu-canary.yml");
    let (lw, _) = load("gpu-canary-lane.yml");
    let canary = &lw["jobs"]["canary"];
    // Each lane of the repository's list, by the repository's variables alone: no
    // default, so a fork (which has no variables) never queues a job for a runner it
    // does not have. Each lane's jobs in a workflow of their own, called once per lane.
    assert_eq!(canary["runs-on"].as_str(), Some("${{ inputs.lane }}"));
    let lane = &wf["jobs"]["lane"];
    assert_eq!(
        lane["uses"].as_str(),
        Some("./.github/workflows/gpu-canary-lane.yml")
    );
    assert_eq!(
        lane["strategy"]["matrix"]["lane"].as_str(),
        Some("${{ fromJSON(needs.lanes.outputs.lanes) }}"),
        "one call per lane"
    );
    assert_eq!(lane["strategy"]["fail-fast"].as_bool(), Some(false));
    assert_eq!(lane["with"]["lane"].as_str(), Some("${{ matrix.lane }}"));
    assert!(
        lw["on"]["workflow_call"]["inputs"]["lane"]["required"]
            .as_bool()
            .unwrap()
    );
    // Within a lane, burn and compare wait for that lane's canary only.
    for job in ["burn", "compare"] {
        assert_eq!(lw["jobs"][job]["needs"].as_str(), Some("canary"), "{job}");
    }
    assert_eq!(lw["jobs"]["burn"]["runs-on"], canary["runs-on"]);
    assert_eq!(
        wf["jobs"]["lanes"]["if"].as_str(),
        Some("vars.GPU_CANARY_LANES != '' || vars.GPU_CANARY_LANE != ''"),
    );
    assert_eq!(
        wf["jobs"]["build"]["needs"].as_str(),
        Some("lanes"),
        "every lane needs build, and build needs the lanes"
    );
    assert!(canary["environment"].is_string());
    assert!(canary["timeout-minutes"].as_u64().unwrap() > 0);
    let run = steps(canary)
        .iter()
        .map(|s| run_text(s))
        .find(|r| r.contains(" run "))
        .expect("a canary step");
    assert!(
        run.contains("gpu-canary\" run --require-hardware") && run.contains("--out"),
        "{run}"
    );
    for s in steps(canary) {
        assert!(!run_text(s).contains("cargo"), "the lane never compiles");
    }
    assert!(
        wf["jobs"]["build"]["runs-on"]
            .as_str()
            .unwrap()
            .starts_with("ubuntu")
    );
}

#[test]
fn the_canary_runs_with_the_lanes_tuning_when_there_is_one() {
    // A committed .github/gpu-canary/tune.json travels with the binary, and a manual
    // run can sweep first; either way the canary gets --tuning, which applies the
    // parameters only on the adapter and driver they were made on.
    let (wf, _) = load("gpu-canary.yml");
    let (lw, _) = load("gpu-canary-lane.yml");
    let build: Vec<&str> = steps(&wf["jobs"]["build"])
        .into_iter()
        .map(run_text)
        .collect();
    assert!(
        build
            .iter()
            .any(|r| r.contains("cp .github/gpu-canary/tune.json dist/")),
        "{build:?}"
    );
    let run = steps(&lw["jobs"]["canary"])
        .into_iter()
        .map(run_text)
        .find(|r| r.contains(" run "))
        .unwrap();
    assert!(
        run.contains("tune --require-hardware --timeout 600 --out \"$WORK/out/tune.json\"")
            && run.contains("--tuning \"$WORK/bin/tune.json\"")
            && run.contains("\"${tuning[@]}\""),
        "{run}"
    );
}

#[test]
fn artifacts_and_cleanup_survive_failures() {
    let (wf, _) = load("gpu-canary.yml");
    let (lw, _) = load("gpu-canary-lane.yml");
    let s = steps(&lw["jobs"]["canary"]);
    // The canary's own artifact (the reproduction, after a wrong result, is another).
    let upload_at = s
        .iter()
        .position(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
                && s["with"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("gpu-canary-${{ github.run_id }}"))
        })
        .unwrap();
    let upload = s[upload_at];
    assert_eq!(upload["if"].as_str(), Some("always()"));
    let name = upload["with"]["name"].as_str().unwrap();
    assert_eq!(
        name,
        "gpu-canary-${{ github.run_id }}-${{ github.run_attempt }}-${{ inputs.lane }}"
    );
    assert!(upload["with"]["retention-days"].as_u64().is_some());
    let path = upload["with"]["path"].as_str().unwrap();
    for f in [
        "result.json",
        "trace.json",
        "summary.md",
        "metrics.prom",
        "junit.xml",
    ] {
        assert!(path.contains(f), "{f} uploaded");
    }
    let run = s
        .iter()
        .map(|s| run_text(s))
        .find(|r| r.contains(" run "))
        .unwrap();
    assert!(
        run.contains(
            "--export-metrics \"$WORK/out/metrics.prom\" --export-junit \"$WORK/out/junit.xml\""
        ),
        "{run}"
    );
    // The push: after the upload, only where a gateway is named, never failing the job.
    let push_at = s
        .iter()
        .position(|s| run_text(s).contains("push-metrics"))
        .expect("a push step");
    assert!(push_at > upload_at, "pushed after the artifacts are safe");
    let push = s[push_at];
    assert_eq!(push["continue-on-error"].as_bool(), Some(true));
    assert_eq!(
        push["if"].as_str(),
        Some("always() && vars.GPU_CANARY_PUSHGATEWAY != ''")
    );
    assert!(
        run_text(push).contains("push-metrics\" \"$GATEWAY\" gpu-canary \"$LANE\""),
        "{}",
        run_text(push)
    );
    // The push script travels with the binary: the lane has no checkout.
    let build: String = steps(&wf["jobs"]["build"])
        .iter()
        .map(|s| run_text(s))
        .collect();
    assert!(build.contains("cp target/release/gpu-canary scripts/push-metrics dist/"));
    for job in ["burn", "compare"] {
        let pushes: Vec<&Value> = steps(&lw["jobs"][job])
            .into_iter()
            .filter(|s| run_text(s).contains("push-metrics"))
            .collect();
        assert_eq!(pushes.len(), 1, "{job}");
        assert_eq!(
            pushes[0]["continue-on-error"].as_bool(),
            Some(true),
            "{job}"
        );
    }
    let last = s.last().unwrap();
    assert_eq!(
        last["if"].as_str(),
        Some("always()"),
        "cleanup runs pass or fail"
    );
    assert!(run_text(last).contains("rm -rf"));
}

#[test]
fn queueing_and_permissions() {
    let (wf, _) = load("gpu-canary.yml");
    let (lw, _) = load("gpu-canary-lane.yml");
    // Canaries queue per lane: a lane that is down holds up no other.
    assert!(wf.get("concurrency").is_none(), "no workflow-wide queue");
    for job in ["canary", "burn"] {
        let c = &lw["jobs"][job]["concurrency"];
        assert_eq!(
            c["group"].as_str(),
            Some("gpu-canary-lane-${{ inputs.lane }}"),
            "{job}"
        );
        assert_eq!(c["cancel-in-progress"].as_bool(), Some(false), "{job}");
    }
    assert_eq!(wf["permissions"]["contents"].as_str(), Some("read"));
    // The lane job holds no token at all: artifacts move with the runner's own.
    assert!(
        lw["jobs"]["canary"]["permissions"]
            .as_mapping()
            .is_some_and(|m| m.is_empty()),
        "canary permissions: {:?}",
        lw["jobs"]["canary"]["permissions"]
    );
    let jobs = wf["jobs"].as_mapping().unwrap().iter();
    for (_, job) in jobs.chain(lw["jobs"].as_mapping().unwrap()) {
        if let Some(p) = job.get("permissions").and_then(Value::as_mapping) {
            for (k, v) in p {
                assert_eq!(v.as_str(), Some("read"), "{k:?} must be read-only");
            }
        }
    }
}

/// The lanes job's step, run by bash with `LANES` and `LANE` set: its exit status and
/// the list it hands the matrix.
fn lanes_step(lanes: &str, lane: &str) -> (i32, String) {
    let (wf, _) = load("gpu-canary.yml");
    let script = run_text(steps(&wf["jobs"]["lanes"])[0]).to_owned();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let out = std::process::Command::new("bash")
        .arg("-ec")
        .arg(script)
        .env("LANES", lanes)
        .env("LANE", lane)
        .env("GITHUB_OUTPUT", &output)
        .output()
        .unwrap();
    let got = std::fs::read_to_string(&output).unwrap_or_default();
    (
        out.status.code().unwrap(),
        got.trim().strip_prefix("lanes=").unwrap_or("").to_owned(),
    )
}

#[test]
fn the_lanes_come_from_the_list_or_the_one_lane_and_a_bad_list_stops_the_run() {
    assert_eq!(
        lanes_step(r#"["honey-gpu", "honey-gpu-2"]"#, ""),
        (0, r#"["honey-gpu","honey-gpu-2"]"#.to_owned())
    );
    assert_eq!(
        lanes_step("", "honey-gpu"),
        (0, r#"["honey-gpu"]"#.to_owned())
    );
    // The list wins over the one lane.
    assert_eq!(
        lanes_step(r#"["b"]"#, "honey-gpu"),
        (0, r#"["b"]"#.to_owned())
    );
    for bad in [
        "honey-gpu",
        "[]",
        r#"["honey gpu"]"#,
        r#"["a","a"]"#,
        r#"[1]"#,
        r#"{"lane":"a"}"#,
        r#"["a/b"]"#,
        r#"["a"] ["b"]"#,
    ] {
        assert_eq!(lanes_step(bad, "").0, 2, "{bad}");
    }
    assert_eq!(lanes_step("", "has space").0, 2);
}

#[test]
fn every_action_is_pinned_to_a_commit() {
    for name in [
        "gpu-canary.yml",
        "gpu-canary-lane.yml",
        "lane-watchdog.yml",
        "ci.yml",
        "runner-images.yml",
        "release.yml",
    ] {
        let (_, text) = load(name);
        // This repository's own reusable workflow is the commit's own.
        let uses: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("uses:"))
            .map(str::trim)
            .filter(|u| !u.starts_with("./.github/workflows/"))
            .collect();
        assert!(!uses.is_empty() || name == "lane-watchdog.yml", "{name}");
        for u in uses {
            let (action, rest) = u
                .split_once('@')
                .unwrap_or_else(|| panic!("{name}: {u} has no ref"));
            let sha: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            assert!(
                sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                "{name}: {action} is not pinned to a SHA"
            );
            assert!(
                rest.contains("# v"),
                "{name}: {action} names its version in a comment"
            );
        }
    }
}

#[test]
fn hosted_ci_runs_the_same_test_command_as_the_readme() {
    let (wf, _) = load("ci.yml");
    let runs: Vec<&str> = steps(&wf["jobs"]["test"])
        .into_iter()
        .map(run_text)
        .collect();
    assert!(runs.contains(&"scripts/test"));
    assert!(runs.iter().any(|r| r.contains("mesa-vulkan-drivers")));
    assert!(runs.iter().any(|r| r.contains("cargo bench --no-run")));
    assert!(runs.iter().any(|r| r.contains("actionlint")));
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    assert!(readme.contains("scripts/test") && readme.contains("scripts/canary"));
}

#[test]
fn the_adapter_check_never_fails_where_a_loader_is_installed() {
    // `ldconfig -p | grep -q` under pipefail failed about 1 run in 40 (SIGPIPE) and then
    // reinstalled the software adapter; the check must be deterministic.
    let ld = std::process::Command::new("ldconfig").arg("-p").output();
    let has_loader =
        ld.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("libvulkan.so.1"));
    let icd = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .any(|d| std::fs::read_dir(d).is_ok_and(|mut r| r.next().is_some()));
    if !(has_loader && icd) {
        eprintln!("skipped: no Vulkan loader and driver manifest installed here");
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-adapter");
    let failures = (0..300)
        .filter(|_| {
            !std::process::Command::new("bash")
                .arg(&script)
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .output()
                .unwrap()
                .status
                .success()
        })
        .count();
    assert_eq!(failures, 0, "{failures} of 300 checks failed");
}

#[test]
fn the_canary_tests_its_own_commit_and_survives_a_rerun() {
    let (wf, text) = load("gpu-canary.yml");
    let (lw, ltext) = load("gpu-canary-lane.yml");
    let checkout = steps(&wf["jobs"]["build"])
        .into_iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout@"))
        })
        .unwrap();
    assert_eq!(
        checkout["with"]["ref"].as_str(),
        Some("${{ inputs.ref || github.sha }}"),
        "a queued run tests the commit it is labelled with"
    );
    // The binary by run id only: "Re-run failed jobs" does not rebuild.
    assert!(
        text.contains("name: gpu-canary-bin-${{ github.run_id }}\n"),
        "{text}"
    );
    for t in [&text, &ltext] {
        assert!(!t.contains("gpu-canary-bin-${{ github.run_id }}-"), "{t}");
    }
    assert!(ltext.contains("name: gpu-canary-bin-${{ github.run_id }}\n"));
    // compare finds its canary's artifact whichever attempt wrote it.
    assert!(ltext.contains("pattern: gpu-canary-${{ github.run_id }}-*"));
    let save = steps(&wf["jobs"]["build"])
        .into_iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Save the cargo cache"))
        })
        .unwrap();
    assert!(
        save["if"]
            .as_str()
            .unwrap()
            .contains("github.event_name == 'schedule'"),
        "scheduled runs save the cache too"
    );
    // tune on the lane is bounded, inside the job's own limit with the canary's.
    let canary = &lw["jobs"]["canary"];
    let run = steps(canary)
        .into_iter()
        .map(run_text)
        .find(|r| r.contains(" tune "))
        .unwrap();
    assert!(
        run.contains("tune --require-hardware --timeout 600"),
        "{run}"
    );
    assert!(canary["timeout-minutes"].as_u64().unwrap() * 60 > 600 + 1200);
}

#[test]
fn the_baseline_is_a_window_of_earlier_runs_of_the_same_suite() {
    let (lw, _) = load("gpu-canary-lane.yml");
    let job = &lw["jobs"]["compare"];
    let fetch = steps(job)
        .into_iter()
        .map(run_text)
        .find(|r| r.contains("gh run list"))
        .unwrap();
    for needle in [
        // A scheduled run's payload has no default branch: ask the API.
        "gh api \"repos/$GH_REPO\" --jq .default_branch",
        // Push and schedule only: a manual run with other settings is no baseline.
        "for ev in push schedule",
        "--event \"$ev\"",
        // Completed runs whose conclusion is success or failure (another lane's
        // failure fails the run), and of those only this lane's passing result.
        "--status completed",
        "select(.conclusion == \\\"success\\\" or .conclusion == \\\"failure\\\")",
        "jq -r .verdict \"$found/result.json\")\" = pass",
        // Before this run, newest first.
        "select(.createdAt < \\\"$before\\\")",
        "sort -r",
        // The same suite only.
        "jq -r .config.suite",
        "\"$WINDOW\"",
    ] {
        assert!(fetch.contains(needle), "missing {needle} in:\n{fetch}");
    }
    assert!(
        job["env"]["WINDOW"]
            .as_str()
            .unwrap()
            .contains("vars.GPU_CANARY_WINDOW")
    );
    let compare = steps(job)
        .into_iter()
        .map(run_text)
        .find(|r| r.contains(" compare "))
        .unwrap();
    assert!(
        compare.contains("compare --baseline \"$WORK/window\"")
            && compare.contains("history \"$WORK/charts\""),
        "{compare}"
    );
}

#[test]
fn a_burn_is_asked_for_by_hand_runs_on_the_lane_and_is_never_a_baseline() {
    let (wf, _) = load("gpu-canary.yml");
    let (lw, _) = load("gpu-canary-lane.yml");
    assert!(wf["on"]["workflow_dispatch"]["inputs"]["burn"]["type"].is_string());
    let burn = &lw["jobs"]["burn"];
    let cond = burn["if"].as_str().unwrap();
    assert!(cond.contains("inputs.burn != ''"), "{cond}");
    assert_eq!(burn["runs-on"], lw["jobs"]["canary"]["runs-on"]);
    let run: String = steps(burn).iter().map(|s| run_text(s)).collect();
    assert!(
        run.contains("burn --require-hardware --duration \"$BURN\""),
        "{run}"
    );
    // 120 minutes of burn and the burn's own watchdog (a fifth more) fit the job.
    assert!(burn["timeout-minutes"].as_u64().unwrap() >= 120 + 24);
    // Its artifact's name never matches the window's pattern (gpu-canary-[0-9]*) nor
    // the canary's (gpu-canary-RUN-*).
    let upload = steps(burn)
        .into_iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
        })
        .unwrap();
    let name = upload["with"]["name"].as_str().unwrap();
    assert!(name.starts_with("gpu-canary-burn-"), "{name}");
}

#[test]
fn a_cancelled_run_starts_nothing_on_the_lane() {
    let (_, text) = load("gpu-canary.yml");
    let (lw, _) = load("gpu-canary-lane.yml");
    for job in ["burn", "compare"] {
        let cond = lw["jobs"][job]["if"].as_str().unwrap();
        assert!(
            cond.contains("!cancelled()") && !cond.contains("always()"),
            "{job}: {cond}"
        );
    }
    assert!(!text.contains("|| 'honey-gpu'"), "no default lane");
    // tune on the lane refuses a software fallback before spending time on it.
    let canary: String = steps(&lw["jobs"]["canary"])
        .iter()
        .map(|s| run_text(s))
        .collect();
    assert!(canary.contains("tune --require-hardware"), "{canary}");
    // The image's own record is in the log.
    assert!(canary.contains("/etc/gpu-canary-image.txt"));
}

/// The burn step's duration guard, run by bash with `BURN` set: its exit status.
fn burn_guard(burn: &str) -> i32 {
    let (lw, _) = load("gpu-canary-lane.yml");
    let run: String = steps(&lw["jobs"]["burn"])
        .iter()
        .map(|s| run_text(s))
        .find(|r| r.contains("BASH_REMATCH"))
        .unwrap()
        .to_owned();
    // Up to the guard's end, then a marker instead of the burn.
    let guard = run.split("\"$WORK/bin/gpu-canary\" burn").next().unwrap();
    let script =
        format!("WORK=/nonexistent\nchmod() {{ :; }}\nmkdir() {{ :; }}\n{guard}\nexit 0\n");
    std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("BURN", burn)
        .output()
        .unwrap()
        .status
        .code()
        .unwrap()
}

#[test]
fn the_burn_guard_keeps_within_the_jobs_limit() {
    for ok in ["10m", "120m", "7200s", "600", "1m"] {
        assert_eq!(burn_guard(ok), 0, "{ok}");
    }
    for bad in ["121m", "9000s", "9000", "2h", "0m", "ten", "-5m", ""] {
        assert_eq!(burn_guard(bad), 2, "{bad}");
    }
}

#[test]
fn compare_takes_each_runs_newest_attempt_and_survives_none() {
    let (lw, _) = load("gpu-canary-lane.yml");
    let fetch = steps(&lw["jobs"]["compare"])
        .into_iter()
        .map(run_text)
        .find(|r| r.contains("gh run list"))
        .unwrap()
        .to_owned();
    // Run the step's newest() on attempt folders 9 and 11 (and one without a result).
    let newest = fetch
        .split("newest() {")
        .nth(1)
        .map(|rest| format!("newest() {{{}", &rest[..rest.find("\n}\n").unwrap() + 2]))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, result) in [
        ("gpu-canary-77-9-honey-gpu", true),
        ("gpu-canary-77-11-honey-gpu", true),
        ("gpu-canary-77-12-honey-gpu", false),
        // Another lane whose name extends this one's: never this lane's.
        ("gpu-canary-77-13-honey-gpu-2", true),
        ("gpu-canary-77-4-gpu", true),
        // From before the lanes matrix: the one lane's.
        ("gpu-canary-77-10", true),
    ] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        if result {
            std::fs::write(dir.path().join(name).join("result.json"), "{}").unwrap();
        }
    }
    let pick = |lane: &str, legacy: &str| {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{newest}\nnewest \"$1\""))
            .arg("bash")
            .arg(dir.path())
            .env("LANE", lane)
            .env("LEGACY_LANE", legacy)
            .output()
            .unwrap();
        let picked = String::from_utf8(out.stdout).unwrap();
        picked.trim().rsplit('/').next().unwrap().to_owned()
    };
    assert_eq!(pick("honey-gpu", "honey-gpu"), "gpu-canary-77-11-honey-gpu");
    assert_eq!(pick("honey-gpu", "other"), "gpu-canary-77-11-honey-gpu");
    assert_eq!(
        pick("honey-gpu-2", "honey-gpu"),
        "gpu-canary-77-13-honey-gpu-2"
    );
    assert_eq!(pick("gpu", ""), "gpu-canary-77-4-gpu");
    assert_eq!(pick("old", "old"), "gpu-canary-77-10");
    assert_eq!(pick("none", "honey-gpu"), "");
    // No canary result in the run: said, and nothing compared.
    assert!(
        fetch.contains("No canary result from lane $LANE in this run") && fetch.contains("runs=0")
    );
}

#[test]
fn a_watchdog_fails_when_the_lane_stops_picking_up_or_passing_canaries() {
    let (wf, text) = load("lane-watchdog.yml");
    assert!(wf["on"]["schedule"][0]["cron"].is_string());
    let job = &wf["jobs"]["watch"];
    assert!(
        job["runs-on"].as_str().unwrap().starts_with("ubuntu"),
        "a hosted runner"
    );
    assert_eq!(
        job["if"].as_str(),
        Some("vars.GPU_CANARY_LANES != '' || vars.GPU_CANARY_LANE != ''")
    );
    for needle in [
        "select(.status == \"queued\")",
        "QUEUE_HOURS",
        "--status success",
        "STALE_HOURS",
        "exit \"$bad\"",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    assert_eq!(wf["permissions"]["actions"].as_str(), Some("read"));
}

#[test]
fn runner_images_follow_the_newest_runner_and_are_checked_before_push() {
    let (wf, text) = load("runner-images.yml");
    assert!(
        wf["on"]["schedule"][0]["cron"].is_string(),
        "rebuilt weekly"
    );
    assert!(text.contains("repos/actions/runner/releases/latest"));
    assert!(text.contains("build-args: RUNNER_VERSION="));
    let names: Vec<String> = steps(&wf["jobs"]["image"])
        .iter()
        .map(|s| {
            s.get("name")
                .or_else(|| s.get("uses"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    let check = names.iter().position(|n| n.starts_with("Check")).unwrap();
    let push = names.iter().position(|n| n == "Push").unwrap();
    assert!(check < push, "{names:?}");
    assert!(text.contains("grep -q radeon_icd") && text.contains("libXext.so.6"));
}
