//! The exports operators' tools read, handed to those tools (scripts/test-tools installs
//! them): promtool (`check metrics`, `check rules`, `test rules`), a real Pushgateway on
//! loopback fed by the workflow's own push script, an independent JUnit reader
//! (Python's junitparser) and the JUnit schema Jenkins' xUnit plugin validates against.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{bin, process, read_json, signalled, suite_run};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool the tests need; a missing one fails with the fix.
fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run scripts/test-tools (scripts/test does)");
}

/// The system Python, where apt puts junitparser and xmlschema.
fn python() -> PathBuf {
    tool("python3")
}

/// `promtool check metrics` on a file: its verdict and everything it said.
fn check_metrics(path: &Path) -> (bool, String) {
    let (ok, said) = promtool(&["check", "metrics"], Some(path));
    (ok && said.trim().is_empty(), said)
}

/// promtool with `args` (and `stdin` from a file): whether it succeeded, and all it said.
fn promtool(args: &[&str], stdin: Option<&Path>) -> (bool, String) {
    let mut c = Command::new(tool("promtool"));
    c.args(args);
    if let Some(p) = stdin {
        c.stdin(std::fs::File::open(p).unwrap());
    }
    let out = c.output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// Samples of a metrics text: (name, labels as written, value).
fn samples(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            (name.to_owned(), labels.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn value(text: &str, name: &str, label_part: &str) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|(n, l, _)| n == name && l.contains(label_part))
        .map(|(_, _, v)| v)
}

/// The five kinds of run the exports must describe, each run once: (name, exit code,
/// result.json, metrics text, JUnit path).
struct Exported {
    name: &'static str,
    code: i32,
    doc: Value,
    metrics: String,
    junit: PathBuf,
}

fn exported() -> &'static Vec<Exported> {
    static RUNS: OnceLock<(tempfile::TempDir, Vec<Exported>)> = OnceLock::new();
    &RUNS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut runs = Vec::new();
            let (suite, out, _) = suite_run();
            runs.push(Exported {
                name: "run",
                code: out.status.code().unwrap(),
                doc: read_json(&suite.path().join("out/result.json")),
                metrics: std::fs::read_to_string(suite.path().join("metrics.prom")).unwrap(),
                junit: suite.path().join("junit.xml"),
            });
            let one = |name: &'static str, args: &[&str], env: &[(&str, &str)]| {
                let d = dir.path().join(name);
                std::fs::create_dir(&d).unwrap();
                let out = bin()
                    .args(args)
                    .arg("--out")
                    .arg(d.join("out"))
                    .arg("--export-metrics")
                    .arg(d.join("metrics.prom"))
                    .arg("--export-junit")
                    .arg(d.join("junit.xml"))
                    .envs(env.iter().copied())
                    .output()
                    .unwrap();
                Exported {
                    name,
                    code: out.status.code().unwrap(),
                    doc: read_json(&d.join("out/result.json")),
                    metrics: std::fs::read_to_string(d.join("metrics.prom")).unwrap_or_else(|e| {
                        panic!("{name}: {e}: {}", String::from_utf8_lossy(&out.stderr))
                    }),
                    junit: d.join("junit.xml"),
                }
            };
            runs.push(one(
                "failed",
                &["run", "--kernel", "matmul-u32", "--size", "64x64x64"],
                &[("GPU_CANARY_INJECT_FAULT", "add@3,5=1")],
            ));
            runs.push(one(
                "skipped",
                &["run", "--kernel", "matmul-f16", "--size", "16x16x16"],
                &[],
            ));
            runs.push(one(
                "burn",
                &["burn", "--duration", "3s", "--interval", "1s"],
                &[],
            ));
            // Stopped: a quick suite terminated once a kernel is in.
            let m = dir.path().join("stopped-metrics.prom");
            let j = dir.path().join("stopped-junit.xml");
            let (_d, doc, _) = signalled(
                &[
                    "run",
                    "--iterations",
                    "400",
                    "--export-metrics",
                    m.to_str().unwrap(),
                    "--export-junit",
                    j.to_str().unwrap(),
                ],
                |d| d["kernels"].as_array().is_some_and(|k| !k.is_empty()),
                "-TERM",
                143,
            );
            runs.push(Exported {
                name: "stopped",
                code: 143,
                doc,
                metrics: std::fs::read_to_string(&m).unwrap(),
                junit: j,
            });
            (dir, runs)
        })
        .1
}

#[test]
fn promtool_accepts_every_export_and_each_says_what_its_run_did() {
    for e in exported() {
        let path =
            std::env::temp_dir().join(format!("gpu-canary-{}-{}.prom", e.name, std::process::id()));
        std::fs::write(&path, &e.metrics).unwrap();
        let (ok, said) = check_metrics(&path);
        std::fs::remove_file(&path).ok();
        assert!(
            ok,
            "{}: promtool check metrics: {said}\n{}",
            e.name, e.metrics
        );
        let m = &e.metrics;
        // The verdict and exit code are the run's own.
        let verdict = e.doc["verdict"].as_str().unwrap();
        assert_eq!(
            value(
                m,
                "gpu_canary_run_verdict",
                &format!("verdict=\"{verdict}\"")
            ),
            Some(1.0),
            "{}: {m}",
            e.name
        );
        let states: f64 = samples(m)
            .iter()
            .filter(|(n, _, _)| n == "gpu_canary_run_verdict")
            .map(|(_, _, v)| v)
            .sum();
        assert_eq!(states, 1.0, "{}: one state set", e.name);
        assert_eq!(
            value(m, "gpu_canary_run_exit_code", ""),
            Some(e.code as f64),
            "{}",
            e.name
        );
        assert_eq!(e.doc["exit_code"], e.code, "{}", e.name);
        // Identity: one info series, with the adapter's name and the tool's version.
        let info = samples(m)
            .into_iter()
            .filter(|(n, _, _)| n == "gpu_canary_info")
            .collect::<Vec<_>>();
        assert_eq!(info.len(), 1, "{}", e.name);
        let model = e.doc["adapter"]["name"].as_str().unwrap();
        assert!(
            info[0].1.contains(&format!("model=\"{model}\"")),
            "{:?}",
            info[0]
        );
        assert!(info[0].1.contains("version=\""), "{:?}", info[0]);
        // Per case: a status state set with the case's own status.
        for k in e.doc["kernels"].as_array().unwrap() {
            let at = format!(
                "kernel=\"{}\",shape=\"{}\",status=\"{}\"",
                k["id"].as_str().unwrap(),
                k["shape"].as_str().unwrap(),
                k["status"].as_str().unwrap()
            );
            assert_eq!(
                value(m, "gpu_canary_kernel_status", &at),
                Some(1.0),
                "{}: {at}",
                e.name
            );
            let of = format!(
                "kernel=\"{}\",shape=\"{}\"",
                k["id"].as_str().unwrap(),
                k["shape"].as_str().unwrap()
            );
            // Seconds where the case has timings, absent where it has none: never 0.
            match k["stats"]["median_ns"].as_f64() {
                Some(ns) => {
                    let s = value(m, "gpu_canary_kernel_median_seconds", &of).unwrap();
                    assert!((s - ns / 1e9).abs() <= 1e-12 * s.max(1.0), "{s} vs {ns}");
                }
                None => assert_eq!(value(m, "gpu_canary_kernel_median_seconds", &of), None),
            }
            if let Some(d) = k.get("dispatch_check").filter(|d| !d.is_null()) {
                assert_eq!(
                    value(m, "gpu_canary_kernel_dispatches_verified", &of),
                    d["dispatches_verified"].as_f64()
                );
            }
        }
        // lavapipe has no PCIe link, no NVML: those series are absent, not 0.
        if e.doc["hygiene"]["pcie"].is_null() {
            for absent in [
                "gpu_canary_pcie_link_generation",
                "gpu_canary_pcie_link_width",
                "gpu_canary_pcie_link_degraded",
            ] {
                assert!(!m.contains(absent), "{}: {absent}", e.name);
            }
        }
    }
    let by = |name| exported().iter().find(|e| e.name == name).unwrap();
    assert_eq!(by("failed").code, 1);
    assert_eq!(
        value(
            &by("failed").metrics,
            "gpu_canary_kernel_status",
            "status=\"fail\""
        ),
        Some(1.0)
    );
    assert_eq!(by("skipped").code, 3);
    assert_eq!(by("stopped").doc["verdict"], "cancelled");
    let burn = &by("burn");
    assert_eq!(
        value(&burn.metrics, "gpu_canary_burn_checks", ""),
        burn.doc["burn"]["checks"].as_f64()
    );
    assert_eq!(
        value(&burn.metrics, "gpu_canary_burn_errors", ""),
        Some(0.0)
    );
    // The run's matmuls report operations per second, its copies bytes per second.
    let run = &by("run").metrics;
    assert!(
        run.contains(
            "gpu_canary_kernel_operations_per_second{command=\"run\",kernel=\"matmul-f32\""
        )
    );
    assert!(run.contains("gpu_canary_kernel_bytes_per_second{command=\"run\",kernel=\"copy-f32\""));
}

#[test]
fn promtool_is_a_real_check() {
    // The same export with a camelCase label and a counter without _total: refused.
    let (suite, _, _) = suite_run();
    let text = std::fs::read_to_string(suite.path().join("metrics.prom")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (what, bad) in [
        ("camelCase label", text.replace("model=", "modelName=")),
        (
            "counter without _total",
            text.replace(
                "# TYPE gpu_canary_run_duration_seconds gauge",
                "# TYPE gpu_canary_run_duration_seconds counter",
            ),
        ),
    ] {
        assert_ne!(bad, text, "{what}: the edit applies");
        let p = dir.path().join("bad.prom");
        std::fs::write(&p, bad).unwrap();
        let (ok, said) = check_metrics(&p);
        assert!(!ok, "{what} passed promtool: {said}");
    }
}

#[test]
fn the_alert_rules_check_and_each_alert_fires_and_stays_quiet_in_its_tests() {
    let rules = root().join("deploy/prometheus/gpu-canary.rules.yml");
    let tests_path = root().join("deploy/prometheus/gpu-canary.rules.test.yml");
    let (ok, said) = promtool(&["check", "rules", rules.to_str().unwrap()], None);
    assert!(ok && said.contains("SUCCESS: 14 rules found"), "{said}");
    let (ok, said) = promtool(&["test", "rules", tests_path.to_str().unwrap()], None);
    assert!(ok && said.contains("SUCCESS"), "{said}");
    // Every alert has a test where it fires and one where it does not.
    let tests = std::fs::read_to_string(root().join("deploy/prometheus/gpu-canary.rules.test.yml"))
        .unwrap();
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    for alert in rules_text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        let at = format!("alertname: {alert}");
        assert!(tests.contains(&at), "{alert} untested");
        let cases: Vec<&str> = tests
            .split("- eval_time")
            .filter(|c| c.contains(&at))
            .collect();
        assert!(
            cases.iter().any(|c| c.contains("exp_alerts: []"))
                || tests.contains(&format!("# {alert} stays quiet")),
            "{alert}: no case where it stays quiet"
        );
        assert!(
            cases.iter().any(|c| c.contains("exp_labels")),
            "{alert}: no case where it fires"
        );
    }
    // The test file is a real check: an expectation turned around fails it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&rules, dir.path().join("gpu-canary.rules.yml")).unwrap();
    let broken = tests.replacen("severity: critical", "severity: warning", 1);
    assert_ne!(broken, tests);
    let t = dir.path().join("t.yml");
    std::fs::write(&t, broken).unwrap();
    let (ok, _) = promtool(&["test", "rules", t.to_str().unwrap()], None);
    assert!(!ok, "a wrong expectation passed promtool test rules");
}

/// A Pushgateway on a free loopback port, stopped when dropped.
struct Gateway {
    child: std::process::Child,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gateway() -> Gateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(tool("prometheus-pushgateway"))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let g = Gateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let t0 = Instant::now();
    while get(&format!("{}/-/ready", g.url)).is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the Pushgateway did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    g
}

fn get(url: &str) -> Option<String> {
    let out = Command::new("curl").args(["-fsS", url]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn push(g: &Gateway, job: &str, lane: &str, file: &Path) -> std::process::Output {
    push_from(g, job, lane, file, None)
}

/// scripts/push-metrics, as the workflow runs it, with the card taken from `card_from`.
fn push_from(
    g: &Gateway,
    job: &str,
    lane: &str,
    file: &Path,
    card_from: Option<&str>,
) -> std::process::Output {
    Command::new(root().join("scripts/push-metrics"))
        .arg(&g.url)
        .arg(job)
        .arg(lane)
        .arg(file)
        .args(card_from)
        .output()
        .unwrap()
}

#[test]
fn the_lane_pushes_to_a_pushgateway_and_a_cards_newer_run_replaces_its_older() {
    let g = gateway();
    let dir = tempfile::tempdir().unwrap();
    let by = |name| exported().iter().find(|e| e.name == name).unwrap();
    // lavapipe has no PCI address: the card is given one the way a real card has it
    // (the identity edited, the measurements the run's own).
    let on_card = |text: &str, card: &str| {
        text.replacen(
            "gpu_canary_info{",
            &format!("gpu_canary_info{{pci_bus_id=\"{card}\","),
            1,
        )
    };
    let pass = dir.path().join("pass.prom");
    std::fs::write(&pass, on_card(&by("run").metrics, "00000000:3B:00.0")).unwrap();
    let out = push(&g, "gpu-canary", "honey-gpu", &pass);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = get(&format!("{}/metrics", g.url)).unwrap();
    let at = "card=\"00000000:3B:00.0\",command=\"run\",instance=\"\",job=\"gpu-canary\",lane=\"honey-gpu\"";
    assert_eq!(
        value(
            &m,
            "gpu_canary_run_verdict",
            &format!("{at},verdict=\"pass\"")
        ),
        Some(1.0),
        "{m}"
    );
    assert!(m.contains("gpu_canary_kernel_median_seconds{card=\"00000000:3B:00.0\""));
    // Another card of the lane: its own group, beside the first.
    let other = dir.path().join("other.prom");
    std::fs::write(&other, on_card(&by("run").metrics, "00000000:5E:00.0")).unwrap();
    assert!(push(&g, "gpu-canary", "honey-gpu", &other).status.success());
    // The first card's newer run, a wrong result: it replaces the pass, whole.
    let failed = dir.path().join("failed.prom");
    std::fs::write(&failed, on_card(&by("failed").metrics, "00000000:3B:00.0")).unwrap();
    assert!(
        push(&g, "gpu-canary", "honey-gpu", &failed)
            .status
            .success()
    );
    let m = get(&format!("{}/metrics", g.url)).unwrap();
    assert_eq!(
        value(
            &m,
            "gpu_canary_run_verdict",
            &format!("{at},verdict=\"fail\"")
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            "gpu_canary_run_verdict",
            &format!("{at},verdict=\"pass\"")
        ),
        Some(0.0)
    );
    // Nothing of the older run lingers: the failed run timed one kernel.
    let kernels_first: Vec<_> = samples(&m)
        .into_iter()
        .filter(|(n, l, _)| n == "gpu_canary_kernel_status" && l.contains("00000000:3B:00.0"))
        .collect();
    assert_eq!(
        kernels_first.len(),
        4,
        "one case, four states: {kernels_first:?}"
    );
    assert_eq!(
        value(
            &m,
            "gpu_canary_run_verdict",
            "card=\"00000000:5E:00.0\",command=\"run\",instance=\"\",job=\"gpu-canary\",lane=\"honey-gpu\",verdict=\"pass\""
        ),
        Some(1.0),
        "the other card is untouched"
    );
    // A run that died before writing its metrics: an error for the lane, on no card.
    let out = push(
        &g,
        "gpu-canary",
        "comb-gpu",
        &dir.path().join("never-written.prom"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = get(&format!("{}/metrics", g.url)).unwrap();
    let unknown =
        "card=\"unknown\",command=\"run\",instance=\"\",job=\"gpu-canary\",lane=\"comb-gpu\"";
    assert_eq!(
        value(
            &m,
            "gpu_canary_run_verdict",
            &format!("{unknown},verdict=\"error\"")
        ),
        Some(1.0),
        "{m}"
    );
    // The lane's next run, on a card it knows, takes the unknown group away.
    let comb = dir.path().join("comb.prom");
    std::fs::write(
        &comb,
        by("run").metrics.replacen(
            "gpu_canary_info{",
            "gpu_canary_info{UUID=\"GPU-5e1f\",pci_bus_id=\"00000000:3B:00.0\",",
            1,
        ),
    )
    .unwrap();
    assert!(push(&g, "gpu-canary", "comb-gpu", &comb).status.success());
    let m = get(&format!("{}/metrics", g.url)).unwrap();
    assert!(!m.contains(unknown), "{m}");
    // The UUID names the card where the run has one.
    assert!(
        m.contains("card=\"GPU-5e1f\",instance=\"\",job=\"gpu-canary\",lane=\"comb-gpu\""),
        "{m}"
    );
    // compare's metrics by lane alone: the newest comparison replaces the last.
    let cmp = dir.path().join("cmp.prom");
    std::fs::write(&cmp, "# TYPE gpu_canary_compare_finding gauge\ngpu_canary_compare_finding{finding=\"slower\"} 1\n").unwrap();
    assert!(
        push_from(&g, "gpu-canary-compare", "comb-gpu", &cmp, Some("none"))
            .status
            .success()
    );
    let m = get(&format!("{}/metrics", g.url)).unwrap();
    assert!(
        m.contains("gpu_canary_compare_finding{finding=\"slower\",instance=\"\",job=\"gpu-canary-compare\",lane=\"comb-gpu\"} 1"),
        "{m}"
    );
    // A gateway that is down: the push fails (the workflow step carries on).
    drop(g);
    let out = push(
        &Gateway {
            child: Command::new("true").spawn().unwrap(),
            url: "http://127.0.0.1:9".into(),
        },
        "gpu-canary",
        "honey-gpu",
        &pass,
    );
    assert!(!out.status.success());
}

/// junitparser's reading of a report, and xmlschema's validation against junit-10.xsd.
fn junit_read(path: &Path) -> Value {
    let xsd = root().join("target/test-tools/junit-10.xsd");
    assert!(xsd.exists(), "no JUnit schema: run scripts/test-tools");
    let script = r#"
import json, sys
import junitparser, xmlschema
path, xsd = sys.argv[1], sys.argv[2]
errors = [str(e.reason) + " at " + str(e.path) for e in xmlschema.XMLSchema(xsd).iter_errors(path)]
xml = junitparser.JUnitXml.fromfile(path)
suites = []
for s in xml:
    cases = []
    for c in s:
        res = [{"kind": type(r).__name__, "message": r.message, "type": r.type, "text": r.text} for r in c.result]
        cases.append({"name": c.name, "classname": c.classname, "time": c.time, "result": res, "out": c.system_out})
    props = {p.name: p.value for p in s.properties()}
    suites.append({"name": s.name, "tests": s.tests, "failures": s.failures, "errors": s.errors,
                   "skipped": s.skipped, "time": s.time, "cases": cases, "props": props})
print(json.dumps({"errors": errors, "suites": suites}))
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(path)
        .arg(&xsd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junitparser: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn junit_reports_parse_validate_and_carry_each_cases_outcome() {
    for e in exported() {
        let r = junit_read(&e.junit);
        assert_eq!(
            r["errors"],
            serde_json::json!([]),
            "{}: not valid against junit-10.xsd",
            e.name
        );
        let suite = &r["suites"][0];
        let cases = suite["cases"].as_array().unwrap();
        let kernels = e.doc["kernels"].as_array().unwrap();
        let extra = usize::from(!e.doc["stopped"].is_null())
            + usize::from(!e.doc["burn"].is_null())
            + usize::from(!e.doc["coverage"].is_null());
        assert_eq!(cases.len(), kernels.len() + extra, "{}: {suite}", e.name);
        assert_eq!(
            suite["props"]["adapter"], e.doc["adapter"]["name"],
            "{}",
            e.name
        );
        assert!(
            suite["props"]["driver"]
                .as_str()
                .unwrap()
                .contains(e.doc["adapter"]["driver"].as_str().unwrap())
        );
        assert_eq!(suite["props"]["verdict"], e.doc["verdict"]);
        for (k, c) in kernels.iter().zip(cases) {
            assert_eq!(
                c["name"],
                format!(
                    "{}/{}",
                    k["id"].as_str().unwrap(),
                    k["shape"].as_str().unwrap()
                )
            );
            let kinds: Vec<&str> = c["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["kind"].as_str().unwrap())
                .collect();
            match k["status"].as_str().unwrap() {
                "pass" => {
                    assert!(kinds.is_empty(), "{c}");
                    // Time in seconds: the timed samples' sum.
                    let ns: f64 = k["samples_ns"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .sum();
                    assert!(
                        (c["time"].as_f64().unwrap() - ns / 1e9).abs() <= 1e-3 + 1e-9,
                        "{c} vs {ns} ns"
                    );
                }
                "fail" => {
                    assert_eq!(kinds, ["Failure"], "{c}");
                    let text = c["result"][0]["text"].as_str().unwrap();
                    let m = &k["verification"]["first_mismatch"];
                    assert!(
                        text.contains("first wrong element") && text.contains("bound"),
                        "{text}"
                    );
                    assert!(text.contains(&format!("index {}", m["index"])), "{text}");
                }
                "skipped" => {
                    assert_eq!(kinds, ["Skipped"], "{c}");
                    assert_eq!(c["result"][0]["message"], k["reason"]);
                }
                "error" => assert_eq!(kinds, ["Error"], "{c}"),
                s => panic!("status {s}"),
            }
        }
        let failures = kernels.iter().filter(|k| k["status"] == "fail").count();
        // The counts GitLab and Jenkins show: no burn here failed.
        assert_eq!(
            suite["failures"].as_u64().unwrap() as usize,
            failures,
            "{}",
            e.name
        );
        let errors = kernels.iter().filter(|k| k["status"] == "error").count()
            + usize::from(!e.doc["stopped"].is_null());
        assert_eq!(
            suite["errors"].as_u64().unwrap() as usize,
            errors,
            "{}",
            e.name
        );
    }
    let stopped = exported().iter().find(|e| e.name == "stopped").unwrap();
    let r = junit_read(&stopped.junit);
    let last = r["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["name"].as_str().unwrap().starts_with("run stopped in"),
        "{last}"
    );
    assert_eq!(last["result"][0]["kind"], "Error");
    // The validator is a real check: a case with a property (not in the schema) fails.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&exported()[0].junit).unwrap();
    let bad = text.replacen(
        "</testcase>",
        "<properties><property name=\"x\" value=\"1\"/></properties></testcase>",
        1,
    );
    assert_ne!(bad, text);
    let p = dir.path().join("bad.xml");
    std::fs::write(&p, bad).unwrap();
    assert_ne!(junit_read(&p)["errors"], serde_json::json!([]));
}

#[test]
fn the_guides_promql_is_what_promtool_tests() {
    let guide = std::fs::read_to_string(root().join("docs/guide.md")).unwrap();
    let tests = std::fs::read_to_string(root().join("deploy/prometheus/gpu-canary.rules.test.yml"))
        .unwrap();
    let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let blocks: Vec<String> = guide
        .split("```promql\n")
        .skip(1)
        .map(|b| squash(b.split("```").next().unwrap()))
        .collect();
    assert_eq!(blocks.len(), 2, "the dcgm-exporter and the AMD join");
    let tested: Vec<String> = tests
        .split("expr: |\n")
        .skip(1)
        .map(|b| {
            squash(
                &b.lines()
                    .take_while(|l| !l.trim_start().starts_with("exp_samples"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })
        .collect();
    for b in &blocks {
        assert!(
            tested.contains(b),
            "the guide's {b} is not among the tested {tested:#?}"
        );
    }
}

#[test]
fn exports_carry_the_verdict_that_stands_when_an_artifact_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small = ["run", "--kernel", "matmul-f32", "--size", "64x64x64"];
    // Into an --out folder that does not exist yet: created first, then written into.
    let out = bin()
        .args(small)
        .arg("--out")
        .arg(d.join("new"))
        .arg("--export-junit")
        .arg(d.join("new/junit.xml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(d.join("new/junit.xml").exists());
    // stdout full under --json: result.json, written before the exports, is not the
    // last word; the exports are written again with the verdict that stands.
    let out = process()
        .args(small)
        .args(["--json", "--out"])
        .arg(d.join("j"))
        .arg("--export-metrics")
        .arg(d.join("j.prom"))
        .arg("--export-junit")
        .arg(d.join("j.xml"))
        .stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(read_json(&d.join("j/result.json"))["verdict"], "error");
    let m = std::fs::read_to_string(d.join("j.prom")).unwrap();
    assert_eq!(
        value(&m, "gpu_canary_run_verdict", "verdict=\"error\""),
        Some(1.0),
        "{m}"
    );
    assert_eq!(value(&m, "gpu_canary_run_exit_code", ""), Some(3.0));
    let j = junit_read(&d.join("j.xml"));
    assert_eq!(j["suites"][0]["props"]["verdict"], "error");
    // A lost artifact fails no kernel, yet the JUnit report fails: a case says why.
    let out = bin()
        .args(small)
        .arg("--out")
        .arg(d.join("b"))
        .args(["--export-bmf", "/dev/full", "--export-junit"])
        .arg(d.join("b.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let j = junit_read(&d.join("b.xml"));
    assert_eq!(j["suites"][0]["errors"], 1, "{j}");
    let last = j["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["name"], "run verdict");
    let msg = last["result"][0]["message"].as_str().unwrap();
    assert!(msg.contains("/dev/full") && msg.contains("exit 3"), "{msg}");
    // compare: a wrong finding keeps its exit code when its metrics cannot be written.
    let by = |name| exported().iter().find(|e| e.name == name).unwrap();
    let (pass, failed) = (d.join("pass.json"), d.join("failed.json"));
    let mut same_shape = by("failed").doc.clone();
    same_shape["kernels"][0]["status"] = "pass".into();
    same_shape["verdict"] = "pass".into();
    same_shape["exit_code"] = 0.into();
    std::fs::write(&pass, same_shape.to_string()).unwrap();
    std::fs::write(&failed, by("failed").doc.to_string()).unwrap();
    for (target, code) in [("/dev/full", 1), ("m.prom", 1)] {
        let out = bin()
            .arg("compare")
            .arg(&pass)
            .arg(&failed)
            .arg("--export-metrics")
            .arg(if target == "/dev/full" {
                Path::new(target).to_owned()
            } else {
                d.join(target)
            })
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A clean finding without its metrics is no clean finding: exit 3.
    let again = d.join("again.json");
    std::fs::copy(&pass, &again).unwrap();
    let out = bin()
        .arg("compare")
        .arg(&pass)
        .arg(&again)
        .args(["--export-metrics", "/dev/full"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}

/// Waits for `url` to answer (30 s at most).
fn ready(url: &str, what: &str) {
    let t0 = Instant::now();
    while get(url).is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn node_exporter_serves_a_failing_run_beside_a_passing_burn() {
    // One textfile directory, as the guide suggests for both commands: run's failure
    // and burn's pass side by side; the real collector must serve the failure.
    let by = |name| exported().iter().find(|e| e.name == name).unwrap();
    assert_eq!(by("failed").code, 1);
    assert_eq!(by("burn").code, 0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gpu-canary-run.prom"),
        &by("failed").metrics,
    )
    .unwrap();
    std::fs::write(dir.path().join("gpu-canary-burn.prom"), &by("burn").metrics).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(tool("prometheus-node-exporter"))
        .args(["--collector.disable-defaults", "--collector.textfile"])
        .arg(format!(
            "--collector.textfile.directory={}",
            dir.path().display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let g = Gateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    ready(&format!("{}/metrics", g.url), "node_exporter");
    let m = get(&format!("{}/metrics", g.url)).unwrap();
    assert!(m.contains("\nnode_textfile_scrape_error 0\n"), "{m}");
    assert_eq!(
        value(
            &m,
            "gpu_canary_run_verdict",
            "command=\"run\",verdict=\"fail\""
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            "gpu_canary_run_verdict",
            "command=\"burn\",verdict=\"pass\""
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        value(&m, "gpu_canary_run_exit_code", "command=\"run\""),
        Some(1.0),
        "{m}"
    );
}

#[test]
fn a_push_to_no_group_or_a_redirect_is_a_failure() {
    let g = gateway();
    let by = |name| exported().iter().find(|e| e.name == name).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.prom");
    std::fs::write(&file, &by("run").metrics).unwrap();
    // An empty lane would name another group: refused, exit 2.
    let out = push(&g, "gpu-canary", "", &file);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("LANE is empty"));
    // A path the gateway redirects (a doubled slash): 301, nothing pushed, exit 1.
    let twisted = Gateway {
        child: Command::new("true").spawn().unwrap(),
        url: format!("{}//", g.url),
    };
    let out = push(&twisted, "gpu-canary", "honey-gpu", &file);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("answered 301"), "{err}");
    assert!(
        get(&format!("{}/metrics", g.url)).is_some_and(|m| !m.contains("gpu_canary_run_verdict"))
    );
    // The same push, right: 2xx, exit 0.
    assert_eq!(
        push(&g, "gpu-canary", "honey-gpu", &file).status.code(),
        Some(0)
    );
}

/// Whether every row of each Markdown table in `md` has its header's column count
/// (unescaped `|` counted), and the text holds no control character or raw `<`.
fn md_tables_whole(md: &str) -> Result<(), String> {
    let cells = |l: &str| {
        let (mut n, mut esc) = (0, false);
        for c in l.chars() {
            match c {
                '\\' if !esc => esc = true,
                '|' if !esc => n += 1,
                _ => esc = false,
            }
            if c != '\\' {
                esc = false;
            }
        }
        n
    };
    let mut header = None;
    for l in md.lines() {
        if l.chars().any(|c| c.is_control() && c != '\t') || l.contains('<') {
            return Err(format!("raw control character or '<' in: {l:?}"));
        }
        if !l.starts_with('|') {
            header = None;
            continue;
        }
        match header {
            None => header = Some(cells(l)),
            Some(h) if cells(l) != h => {
                return Err(format!("{} cells under a header of {h}: {l:?}", cells(l)));
            }
            _ => {}
        }
    }
    Ok(())
}

#[test]
fn a_hostile_name_is_safe_in_every_format() {
    // Mesa's llvmpipe on GL, renamed: control characters, ESC, '|', quotes and <&>.
    const NAME: &str = "ev|l <&> \"q\" 'a' \x1b[31m\x01 *b* _u_ \\ name";
    let dir = tempfile::tempdir().unwrap();
    // A path from outside too: the results' folder.
    let base = dir.path().join("lane |<&>\"q\" \x1b");
    let run = |name: &str| {
        let out = base.join(name);
        let o = bin()
            .env("force_gl_renderer", NAME)
            .args(["run", "--backend", "gl", "--kernel", "matmul-u32"])
            .args(["--size", "16x16x16", "--iterations", "3", "--out"])
            .arg(&out)
            .arg("--export-metrics")
            .arg(out.join("m.prom"))
            .arg("--export-junit")
            .arg(out.join("j.xml"))
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        (out, o)
    };
    let (r1, _) = run("r1");
    let (r2, o) = run("r2");
    // result.json keeps the name exactly (JSON escapes it).
    let doc = read_json(&r2.join("result.json"));
    assert_eq!(doc["adapter"]["name"], NAME, "not the planted adapter");
    // The terminal: escapes, no raw ESC or \x01.
    let said = [&o.stdout[..], &o.stderr[..]].concat();
    assert!(!said.contains(&0x1b) && !said.contains(&0x01));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\\x1b[31m\\x01"));
    // The summary.
    let summary = std::fs::read_to_string(r2.join("summary.md")).unwrap();
    md_tables_whole(&summary).unwrap_or_else(|e| panic!("summary.md: {e}\n{summary}"));
    assert!(summary.contains("ev\\|l &lt;&amp;&gt;"), "{summary}");
    // The metrics: promtool reads the adapter's label as written.
    let (ok, said) = check_metrics(&r2.join("m.prom"));
    assert!(ok, "promtool: {said}");
    let prom = std::fs::read_to_string(r2.join("m.prom")).unwrap();
    assert!(prom.contains("ev|l <&> \\\"q\\\""), "{prom}");
    // JUnit: a strict reader and the schema.
    let j = junit_read(&r2.join("j.xml"));
    assert_eq!(j["errors"], serde_json::json!([]), "{j}");
    assert_eq!(j["suites"][0]["failures"], 0);
    // The trace: strict JSON.
    let trace = read_json(&r2.join("trace.json"));
    assert!(
        trace["traceEvents"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    // history: a well-formed SVG (Python's strict XML parser, and rsvg-convert renders
    // it) and a table that keeps its columns.
    let svg = dir.path().join("h.svg");
    let md = dir.path().join("h.md");
    let o = bin()
        .args(["history", "--svg"])
        .arg(&svg)
        .arg("--md")
        .arg(&md)
        .arg(&r1)
        .arg(&r2)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let x = Command::new(python())
        .args([
            "-c",
            "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])",
        ])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", String::from_utf8_lossy(&x.stderr));
    let png = dir.path().join("h.png");
    let r = Command::new(tool("rsvg-convert"))
        .arg("-o")
        .arg(&png)
        .arg(&svg)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    let table = std::fs::read_to_string(&md).unwrap();
    md_tables_whole(&table).unwrap_or_else(|e| panic!("history --md: {e}\n{table}"));
    assert!(table.contains("ev\\|l"), "{table}");
    // compare's Markdown.
    let o = bin()
        .args(["compare", "--format", "md"])
        .arg(r1.join("result.json"))
        .arg(r2.join("result.json"))
        .output()
        .unwrap();
    let cmp = String::from_utf8_lossy(&o.stdout);
    assert!(cmp.contains("| kernel |"), "{cmp}");
    md_tables_whole(&cmp).unwrap_or_else(|e| panic!("compare --format md: {e}\n{cmp}"));
    // The Pushgateway takes the name as a lane (base64url in the path).
    let g = gateway();
    let p = push(&g, "gpu-canary", NAME, &r2.join("m.prom"));
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let served = get(&format!("{}/metrics", g.url)).unwrap();
    assert!(served.contains("gpu_canary_run_verdict"), "{served}");
}

#[test]
fn the_table_checker_is_a_real_check() {
    assert!(md_tables_whole("| a | b |\n|---|---|\n| x \\| y | z |\n").is_ok());
    assert!(md_tables_whole("| a | b |\n|---|---|\n| x | y | z |\n").is_err());
    assert!(md_tables_whole("a \x1b b").is_err());
    assert!(md_tables_whole("a <b> c").is_err());
}

#[test]
fn an_adapter_all_metrics_file_is_pushed_with_every_cards_samples() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.prom");
    let o = bin()
        .args(["preflight", "--adapter", "all", "--out"])
        .arg(dir.path().join("all"))
        .arg("--export-metrics")
        .arg(&metrics)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let g = gateway();
    let p = push(&g, "gpu-canary-preflight", "honey", &metrics);
    let said = String::from_utf8_lossy(&p.stderr);
    assert!(p.status.success(), "{said}");
    assert!(said.contains("grouping by job and lane"), "{said}");
    let served = get(&format!("{}/metrics", g.url)).unwrap();
    let verdicts: Vec<&str> = served
        .lines()
        .filter(|l| {
            l.starts_with("gpu_canary_run_verdict{")
                && l.contains("verdict=\"pass\"")
                && l.ends_with(" 1")
        })
        .collect();
    assert_eq!(verdicts.len(), 2, "both cards' verdicts served: {served}");
    assert!(
        verdicts
            .iter()
            .any(|l| l.contains("card=\"vulkan llvmpipe")),
        "{verdicts:?}"
    );
    assert!(
        verdicts.iter().any(|l| l.contains("card=\"gl llvmpipe")),
        "{verdicts:?}"
    );
}
