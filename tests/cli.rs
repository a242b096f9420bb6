//! Bad input: a one-line error naming the value and the fix, exit 2, nothing
//! overwritten; and the documented exit codes.

use predicates::prelude::*;

use crate::common::*;

fn usage_error(args: &[&str], needle: &str) {
    let out = bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected '{needle}' in: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
}

#[test]
fn help_documents_the_exit_codes() {
    bin().args(["run", "--help"]).assert().success().stdout(
        predicate::str::contains("143  cancelled by SIGTERM")
            .and(predicate::str::contains("3    environment failure")),
    );
    bin()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("4    compare: a kernel is slower"));
    // Fault injection is for tests, not for --help.
    bin()
        .args(["run", "--help"])
        .assert()
        .stdout(predicate::str::contains("inject").not());
}

/// `gpu-canary ARGS` on stdout, with the width clap falls back to off a terminal.
fn help(args: &[&str]) -> String {
    let out = bin().args(args).env_remove("COLUMNS").output().unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn short_help_is_a_line_a_flag_and_long_help_the_paragraphs() {
    for cmd in ["run", "burn", "preflight", "tune"] {
        let short = help(&[cmd, "-h"]);
        let long = help(&[cmd, "--help"]);
        assert!(
            short.len() * 2 <= long.len(),
            "{cmd}: -h is {} bytes, --help {}",
            short.len(),
            long.len()
        );
        // Every flag -h lists sits on one line: the next line is another flag, a
        // heading or the end, never a continued paragraph.
        let options = short
            .split("\n\n")
            .filter(|s| !s.starts_with("Usage:") && !s.starts_with("Exit codes:"))
            .skip(1);
        for section in options {
            for l in section.lines().skip(1) {
                assert!(
                    l.trim_start().starts_with('-'),
                    "{cmd} -h: a flag's help runs on: {l}"
                );
                assert!(l.chars().count() <= 100, "{cmd} -h: {l}");
            }
        }
        for l in long.lines() {
            assert!(l.chars().count() <= 100, "{cmd} --help wraps at 100: {l}");
        }
    }
    // Flags under the headings, in the order a reader looks for them.
    let long = help(&["run", "--help"]);
    let at = |h: &str| {
        long.find(&format!("\n{h}:\n"))
            .unwrap_or_else(|| panic!("heading {h}: {long}"))
    };
    let order = [
        "Adapter",
        "Suite and shapes",
        "Checks",
        "Output and exports",
        "Timing and limits",
    ];
    for w in order.windows(2) {
        assert!(at(w[0]) < at(w[1]), "{w:?}");
    }
    let under = |flag: &str| {
        let i = long.find(&format!("      {flag}")).unwrap();
        *order.iter().rfind(|h| at(h) < i).unwrap()
    };
    assert_eq!(under("--adapter"), "Adapter");
    assert_eq!(under("--kernel"), "Suite and shapes");
    assert_eq!(under("--require-coverage"), "Checks");
    assert_eq!(under("--export-junit"), "Output and exports");
    assert_eq!(under("--timeout"), "Timing and limits");
}

#[test]
fn the_exit_codes_are_listed_in_order() {
    for args in [&["--help"][..], &["run", "--help"]] {
        let text = help(args);
        let codes: Vec<u32> = text
            .split("Exit codes:\n")
            .nth(1)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("  ")?.split(' ').next()?.parse().ok())
            .collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 130, 143], "{args:?}");
    }
}

#[test]
fn bad_values_are_refused_before_any_work() {
    usage_error(
        &["run", "--kernel", "matmul-f64"],
        "unknown kernel 'matmul-f64'; use one of: matmul-f32",
    );
    usage_error(
        &["run", "--kernel", "matmul-f32", "--size", "12x3"],
        "use MxKxN",
    );
    usage_error(
        &["run", "--kernel", "matmul-f32", "--size", "4x0x4"],
        "sizes must be at least 1",
    );
    usage_error(
        &["run", "--kernel", "matmul-f32", "--size", "axbxc"],
        "'a' is not a whole number",
    );
    usage_error(&["run", "--kernel", "reduce-f32", "--size", "8x8"], "use N");
    usage_error(
        &["run", "--kernel", "reduce-f32", "--size", "5000000000"],
        "does not fit in 32 bits",
    );
    usage_error(&["run", "--size", "8"], "--size needs --kernel");
    usage_error(&["run", "--iterations", "0"], "invalid --iterations 0");
    usage_error(&["run", "--input-scale", "NaN"], "inputs must be finite");
    usage_error(&["run", "--input-scale", "inf"], "inputs must be finite");
    // Smaller inputs could sum into f32's subnormals, which GPUs may flush.
    usage_error(&["run", "--input-scale", "1e-9"], "from 1e-6 to 65504");
    usage_error(
        &["run", "--check-seed", "x"],
        "invalid value 'x' for '--check-seed",
    );
    usage_error(
        &["run", "--inject-fault", "add@1"],
        "invalid --inject-fault 'add@1'",
    );
    usage_error(&["run", "--timeout=-1"], "invalid --timeout");
    usage_error(&["run", "--backend", "glide"], "unknown backend 'glide'");
    usage_error(&["run", "--bogus"], "unexpected argument '--bogus'");
    usage_error(
        &["run", "--suite", "huge"],
        "invalid value 'huge' for '--suite <SUITE>' [possible values: quick, full]",
    );
    usage_error(
        &["run", "--kernel", "reduce-f32", "--require-tensor-cores"],
        "--require-tensor-cores needs matmul-f16",
    );
    usage_error(
        &["compare", "a.json", "b.json", "--threshold", "0"],
        "invalid --threshold 0",
    );
}

#[test]
fn sizes_over_the_adapters_limits_name_the_limit() {
    // 2^16 x 2^16 f32 = 16 GiB: over any storage-binding limit wgpu reports today.
    let out = bin()
        .args(["run", "--kernel", "matmul-f32", "--size", "65536x65536x1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("max_storage_buffer_binding_size of ") && err.contains("use a smaller --size"),
        "{err}"
    );
}

#[test]
fn sizes_whose_bytes_overflow_are_refused() {
    // 2^32-1 squared elements of 4 bytes: more than u64 can count.
    let out = bin()
        .args([
            "run",
            "--kernel",
            "matmul-u32",
            "--size",
            "4294967295x4294967295x1",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("use a smaller --size"), "{err}");
}

#[test]
fn require_tensor_cores_turns_the_skip_into_an_environment_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "run",
            "--kernel",
            "matmul-f16",
            "--size",
            "16x16x16",
            "--require-tensor-cores",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    if doc["kernels"][0]["status"] != "skipped" {
        eprintln!("skipping: this adapter has tensor cores");
        return;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("--require-tensor-cores: tensor cores not available"),
        "{err}"
    );
    assert_eq!(doc["stopped"]["reason"], "missing-feature");
    // Without the flag the same run is not a pass either: nothing ran.
    let out = bin()
        .args(["run", "--kernel", "matmul-f16", "--size", "16x16x16"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn out_must_be_a_writable_directory_and_results_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    usage_error(
        &["run", "--out", file.to_str().unwrap()],
        "is a file, not a directory",
    );
    usage_error(
        &["run", "--out", "/proc/gpu-canary/out"],
        "cannot create the directory",
    );

    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("result.json"), "{\"earlier\": true}").unwrap();
    usage_error(
        &["run", "--out", out.to_str().unwrap()],
        "already holds a result.json; pass another directory, or --force",
    );
    assert_eq!(
        std::fs::read_to_string(out.join("result.json")).unwrap(),
        "{\"earlier\": true}",
        "kept"
    );
    bin()
        .args([
            "run",
            "--kernel",
            "reduce-f32",
            "--size",
            "7",
            "--iterations",
            "1",
            "--force",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(0);
    assert_schema_valid(&read_json(&out.join("result.json")));
}

#[test]
fn out_on_a_full_disk_is_refused() {
    // A 64 KiB tmpfs, mounted where the session may (root, in CI); elsewhere the
    // read-only case above covers the same path.
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=32k", "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: cannot mount a small tmpfs here");
        return;
    }
    let out = bin()
        .args(["run", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let _ = std::process::Command::new("umount")
        .arg(dir.path())
        .status();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is not writable") && err.contains("free space"),
        "{err}"
    );
}

#[test]
fn require_hardware_on_a_software_adapter_is_an_environment_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "--require-hardware", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let doc = read_json(&dir.path().join("result.json"));
    if doc["adapter"]["device_type"] != "cpu" {
        eprintln!("skipping: this machine has a hardware adapter");
        return;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("is a software adapter"), "{err}");
    assert_schema_valid(&doc);
    assert_eq!(doc["stopped"]["reason"], "software-adapter");
    assert_eq!(doc["verdict"], "error");
}

/// `run ARGS` on a reduce of 5 exits 3 with `says` on stderr.
fn refused(args: &[&str], says: &str) {
    let out = bin()
        .args(["run", "--kernel", "reduce-f32", "--size", "5"])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains(says), "{err}");
}

#[test]
fn expect_vendor_refuses_another_gpu() {
    refused(
        &["--expect-vendor", "no-such-vendor"],
        "--expect-vendor no-such-vendor: the lane handed over",
    );
}

#[test]
fn an_adapter_is_chosen_by_pci_address_and_none_at_another() {
    // No adapter here sits at this address: exit 3, naming what was asked and seen.
    refused(
        &["--adapter", "0000:99:1f.7"],
        "no adapter matching '0000:99:1f.7'; adapters seen:",
    );
    // Where wgpu reports an address, it selects that adapter.
    let list: serde_json::Value =
        serde_json::from_slice(&bin().args(["adapters", "--json"]).output().unwrap().stdout)
            .unwrap();
    let Some(pci) = list
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| a["pci_bus_id"].as_str())
    else {
        eprintln!("skipping the positive half: no adapter here reports a PCI address");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    bin()
        .args([
            "run",
            "--kernel",
            "reduce-f32",
            "--size",
            "5",
            "--adapter",
            pci,
        ])
        .arg("--out")
        .arg(dir.path())
        .assert()
        .code(0);
    let doc = read_json(&dir.path().join("result.json"));
    assert_eq!(doc["adapter"]["pci_bus_id"], pci);
}

#[test]
fn adapters_lists_what_wgpu_sees() {
    let out = bin().args(["adapters", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &list[0];
    for field in [
        "name",
        "vendor",
        "device",
        "device_type",
        "backend",
        "driver",
        "driver_info",
        "timestamps",
        "limits",
    ] {
        assert!(first.get(field).is_some(), "missing {field}");
    }
    assert!(
        first["limits"]["max_storage_buffer_binding_size"]
            .as_u64()
            .unwrap()
            > 0
    );
    bin()
        .arg("adapters")
        .assert()
        .success()
        .stdout(predicate::str::contains("max storage binding"));
}

#[test]
fn a_negative_number_gets_the_range_not_unexpected_argument() {
    for (args, needle) in [
        (
            vec!["burn", "--max-drift", "-5"],
            "invalid --max-drift -5: use a percentage from 0 to 100",
        ),
        (
            vec!["run", "--timeout", "-1"],
            "invalid --timeout -1: use a positive number of seconds up to 604800",
        ),
        (
            vec!["run", "--iterations", "-3"],
            "'-3' for '--iterations <N>': use a whole number from 1 to 100000",
        ),
        (
            vec!["run", "--warmup", "-1"],
            "use a whole number from 0 to 100000",
        ),
        (
            vec!["run", "--seed", "-1"],
            "use a whole number from 0 to 18446744073709551615",
        ),
        (
            vec!["run", "--input-scale", "-2"],
            "invalid --input-scale -2",
        ),
        (
            vec!["burn", "--check-every", "-2"],
            "use a whole number of at least 1",
        ),
        (
            vec!["compare", "--threshold", "-5", "a.json", "b.json"],
            "invalid --threshold -5",
        ),
        (
            vec!["tune", "--iterations", "-1"],
            "use a whole number from 1 to 100000",
        ),
        (
            vec!["tune", "--iterations", "100001"],
            "tune: invalid --iterations 100001: use 1 to 100000",
        ),
        (vec!["tune", "--timeout", "-3"], "invalid --timeout -3"),
        (
            vec!["preflight", "--expect-gpus", "0"],
            "invalid --expect-gpus 0: use 1 to 1024",
        ),
        (
            vec!["preflight", "--expect-gpus", "1025"],
            "invalid --expect-gpus 1025: use 1 to 1024",
        ),
    ] {
        usage_error(&args, needle);
    }
}

/// The guide's run option table's range column: `[a, b]` or `(a, b]`, as (flag, low, low
/// included, high).
fn documented_ranges() -> Vec<(String, String, bool, String)> {
    let table = guide_run_table();
    let mut out = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| `--")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let range = cells.last().unwrap().trim_end_matches(" |").trim();
        let Some(inner) = range
            .strip_prefix('[')
            .map(|r| (r, true))
            .or_else(|| range.strip_prefix('(').map(|r| (r, false)))
        else {
            continue;
        };
        let (bounds, low_in) = inner;
        let (lo, hi) = bounds.trim_end_matches(']').split_once(", ").unwrap();
        let flag = row[3..]
            .split('`')
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        out.push((flag.to_owned(), lo.to_owned(), low_in, hi.to_owned()));
    }
    out
}

/// Whether `run FLAG VALUE` (on one tiny case) is accepted as configuration.
fn run_accepts(flag: &str, value: &str) -> bool {
    use clap::Parser;
    // The memory test among the kernels, so its flags are accepted too.
    let args = [
        "gpu-canary",
        "run",
        "--kernel",
        "matmul-u32,memtest",
        flag,
        value,
    ];
    match gpu_canary::cli::Cli::try_parse_from(args) {
        Ok(gpu_canary::cli::Cli {
            command: gpu_canary::cli::Command::Run(a),
        }) => match gpu_canary::run::RunConfig::from_args(a) {
            Ok(_) => true,
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{flag} {value}: {e}");
                false
            }
        },
        Ok(_) => unreachable!("a run"),
        Err(_) => false,
    }
}

#[test]
fn every_documented_bound_is_accepted_and_one_past_it_refused() {
    let ranges = documented_ranges();
    let flags: Vec<&str> = ranges.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        flags,
        [
            "--seed",
            "--warmup",
            "--iterations",
            "--timeout",
            "--input-scale",
            "--check-seed",
            "--require-coverage"
        ]
    );
    // One past a bound: the next whole number, or for a decimal bound a little beyond.
    let past = |v: &str, up: bool| -> String {
        match v.parse::<u128>() {
            Ok(n) if up => (n + 1).to_string(),
            Ok(0) => "-1".to_owned(),
            Ok(n) => (n - 1).to_string(),
            Err(_) => {
                let x: f64 = v.parse().unwrap();
                (if up { x * 1.0001 } else { x * 0.9999 }).to_string()
            }
        }
    };
    for (flag, lo, lo_in, hi) in &ranges {
        assert!(run_accepts(flag, hi), "{flag} {hi} is documented");
        assert!(!run_accepts(flag, &past(hi, true)), "{flag} past {hi}");
        if *lo_in {
            assert!(run_accepts(flag, lo), "{flag} {lo} is documented");
            assert!(!run_accepts(flag, &past(lo, false)), "{flag} below {lo}");
        } else {
            assert!(!run_accepts(flag, lo), "{flag} {lo} is excluded");
            assert!(
                run_accepts(flag, &format!("{lo}.001")),
                "{flag} just above {lo}"
            );
        }
    }
    // And through the binary: one line, exit 2.
    usage_error(
        &["run", "--iterations", "100001"],
        "invalid --iterations 100001: use 1 to 100000",
    );
}

#[test]
fn more_timed_samples_than_one_query_set_holds() {
    // 2100 samples need 4200 timestamp queries: two query sets.
    let out = bin()
        .args([
            "run",
            "--kernel",
            "matmul-u32",
            "--size",
            "1x1x1",
            "--warmup",
            "0",
        ])
        .args(["--iterations", "2100", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let k = &doc["kernels"][0];
    assert_eq!(k["samples_ns"].as_array().unwrap().len(), 2100);
    assert_eq!(k["dispatch_check"]["dispatches_verified"], 2101);
    assert_eq!(k["stats"]["n"], 2100);
}

#[test]
fn kernels_json_is_read_by_a_consumer() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Listing {
        kernels: Vec<Kernel>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Kernel {
        id: String,
        description: String,
        shape_kind: String,
        suites: Suites,
        needs: Needs,
        tunable: bool,
        burns: bool,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Suites {
        quick: Vec<String>,
        full: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Needs {
        required: Vec<String>,
        optional: Vec<String>,
        tensor_cores: bool,
    }
    let out = bin().args(["kernels", "--json"]).output().unwrap();
    assert!(out.status.success());
    let l: Listing = serde_json::from_slice(&out.stdout).expect("the documented fields only");
    let ids: Vec<&str> = l.kernels.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, gpu_canary::kernels::ids());
    let f16 = l.kernels.iter().find(|k| k.id == "matmul-f16").unwrap();
    assert!(f16.needs.tensor_cores && f16.needs.required.iter().any(|f| f.contains("F16")));
    // Every default shape is one `--size` takes for that kernel.
    for k in &l.kernels {
        let kernel = gpu_canary::kernels::find(&k.id).unwrap();
        for s in k.suites.quick.iter().chain(&k.suites.full) {
            gpu_canary::kernels::parse_shape(kernel, s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }
    assert!(l.kernels.iter().any(|k| k.tunable) && l.kernels.iter().any(|k| !k.burns));
}

#[test]
fn version_names_the_commit_and_completions_and_the_man_page_are_real() {
    let o = bin().arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&o.stdout);
    // "gpu-canary 0.1.0 (commit 0123456789[-dirty], built YYYY-MM-DD, wgpu 30.x.y)".
    let commit = v.split("(commit ").nth(1).unwrap_or_default();
    assert!(
        commit.len() >= 10 && commit[..10].chars().all(|c| c.is_ascii_hexdigit()),
        "{v}"
    );
    assert!(v.contains(", built 20") && v.contains(", wgpu 30."), "{v}");
    // result.json names the same commit.
    let dir = tempfile::tempdir().unwrap();
    assert!(
        bin()
            .args(["run", "--kernel", "reduce-f32", "--size", "3", "--out"])
            .arg(dir.path())
            .output()
            .unwrap()
            .status
            .success()
    );
    let doc = crate::common::read_json(&dir.path().join("result.json"));
    let recorded = doc["tool"]["git_commit"].as_str().unwrap();
    assert!(
        recorded.starts_with(&commit[..10]),
        "{recorded} against {v}"
    );
    // A dirty build is dirty in both.
    assert_eq!(
        recorded.ends_with("-dirty"),
        commit.split(',').next().unwrap().ends_with("-dirty"),
        "{recorded} against {v}"
    );
    // bash parses the completions; each shell gets a script naming the subcommands.
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = bin().args(["completions", shell]).output().unwrap();
        assert!(o.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("preflight") && text.contains("reproduce"),
            "{shell}"
        );
        if shell == "bash" {
            let f = dir.path().join("c.bash");
            std::fs::write(&f, &o.stdout).unwrap();
            let n = std::process::Command::new("bash")
                .arg("-n")
                .arg(&f)
                .output()
                .unwrap();
            assert!(n.status.success(), "{}", String::from_utf8_lossy(&n.stderr));
        }
    }
    assert_eq!(
        bin()
            .args(["completions", "tcsh"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    // The man page renders with man -l.
    let o = bin().arg("man").output().unwrap();
    let page = dir.path().join("gpu-canary.1");
    std::fs::write(&page, &o.stdout).unwrap();
    let m = std::process::Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&m.stdout);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    assert!(
        text.contains("NAME") && text.contains("gpu-canary") && text.contains("preflight"),
        "{text}"
    );
}
