//! The docs against the binary: the guide's synopses and run table against `--help`,
//! its sample comparisons against what `compare` prints, each row of the exit-code
//! table produced by the case it names, and the README's shape and transcript.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::common::*;

fn doc(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn guide() -> String {
    doc("docs/guide.md")
}

/// The `--flags` in `text`.
fn flags(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        let f: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if f.len() > 1 {
            out.insert(format!("--{f}"));
        }
    }
    out
}

/// The flags `gpu-canary CMD --help` lists (hidden test-only ones are not listed).
fn help_flags(cmd: &str) -> BTreeSet<String> {
    let out = bin().args([cmd, "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let mut f: BTreeSet<String> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("--") || l.starts_with("-h, --"))
        .flat_map(|l| flags(l.split("  ").next().unwrap()))
        .collect();
    f.remove("--help");
    f
}

#[test]
fn the_synopses_and_the_run_table_are_what_help_lists() {
    let text = guide();
    let block = text
        .split("## Commands\n\n```text\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    // Each command's synopsis: its line and the indented lines that continue it.
    for cmd in [
        "adapters",
        "compare",
        "history",
        "kernels",
        "tune",
        "burn",
        "preflight",
        "reproduce",
    ] {
        let head = format!("gpu-canary {cmd} ");
        let start = block
            .find(&head)
            .unwrap_or_else(|| panic!("no synopsis of {cmd}"));
        let synopsis: String = block[start..]
            .lines()
            // A description is indented by four; a continuation by more.
            .take_while(|l| !l.starts_with("    ") || l.starts_with("     "))
            .collect();
        assert_eq!(
            flags(&synopsis),
            help_flags(cmd),
            "{cmd}: the guide against --help"
        );
    }
    let table = guide_run_table();
    let rows: String = table
        .lines()
        .filter(|l| l.starts_with("| `--"))
        .map(|l| l.split(" | ").next().unwrap())
        .collect();
    assert_eq!(
        flags(&rows),
        help_flags("run"),
        "the run table against run --help"
    );
}

/// `text` with every digit masked: the samples are real output, their numbers are not
/// the point.
fn masked(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

#[test]
fn the_sample_comparisons_are_what_compare_prints() {
    let text = guide();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for block in text.split("```sh\ngpu-canary compare ").skip(1) {
        let command = block.lines().next().unwrap();
        let sample = block
            .split("```text\n")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let out = bin()
            .current_dir(root)
            .arg("compare")
            .args(command.split_whitespace())
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            masked(&printed),
            masked(sample),
            "gpu-canary compare {command}"
        );
        seen += 1;
    }
    assert!(seen >= 2, "{seen} samples");
}

/// `gpu-canary ARGS` with `env`: its exit code.
fn code(args: &[&str], env: &[(&str, &str)]) -> Option<i32> {
    let mut cmd = bin();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap().status.code()
}

#[test]
fn each_documented_exit_code_comes_from_the_case_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = |n: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/window/run-{n}.json"))
            .display()
            .to_string()
    };
    let tiny = ["run", "--kernel", "matmul-u32", "--size", "8x8x8"];
    // run: 0 verified, 1 a wrong result, 2 bad usage, 3 the environment.
    assert_eq!(code(&tiny, &[]), Some(0));
    assert_eq!(
        code(&tiny, &[("GPU_CANARY_INJECT_FAULT", "add@1,1=1")]),
        Some(1)
    );
    assert_eq!(code(&["run", "--kernel", "matmul-f64"], &[]), Some(2));
    assert_eq!(
        code(
            &[&tiny[..], &["--backend", "vulkan"]].concat(),
            &[("VK_ICD_FILENAMES", "/nonexistent.json")]
        ),
        Some(3)
    );
    // adapters: 3 when it finds none.
    assert_eq!(
        code(
            &["adapters", "--backend", "vulkan"],
            &[("VK_ICD_FILENAMES", "/nonexistent.json")]
        ),
        Some(3)
    );
    // compare: 0, 1 wrong now, 2 unreadable input, 4 slower, 6 a stopped current run.
    let base = fixture("01");
    let slower = dir.path().join("slower.json");
    let stopped = dir.path().join("stopped.json");
    let wrong = dir.path().join("wrong.json");
    let mut doc: Value = read_json(Path::new(&base));
    for k in doc["kernels"].as_array_mut().unwrap() {
        if let Some(s) = k["samples_ns"].as_array_mut() {
            for v in s {
                *v = (v.as_u64().unwrap() * 2).into();
            }
        }
    }
    std::fs::write(&slower, doc.to_string()).unwrap();
    let mut doc: Value = read_json(Path::new(&base));
    doc["status"] = "partial".into();
    doc["kernels"].as_array_mut().unwrap().truncate(2);
    std::fs::write(&stopped, doc.to_string()).unwrap();
    let mut doc: Value = read_json(Path::new(&base));
    doc["kernels"][0]["status"] = "fail".into();
    std::fs::write(&wrong, doc.to_string()).unwrap();
    let cmp = |cur: &Path| code(&["compare", &base, cur.to_str().unwrap()], &[]);
    assert_eq!(
        code(&["compare", &base, &base], &[]),
        Some(2),
        "no baseline besides itself"
    );
    let same = dir.path().join("same.json");
    std::fs::copy(&base, &same).unwrap();
    assert_eq!(cmp(&same), Some(0));
    assert_eq!(cmp(&wrong), Some(1));
    assert_eq!(cmp(&slower), Some(4));
    assert_eq!(cmp(&stopped), Some(6));
    assert_eq!(code(&["compare", &base, "/nonexistent.json"], &[]), Some(2));
    // history: 2 for no readable result, 3 for a chart that cannot be written.
    assert_eq!(
        code(
            &["history", "/nonexistent.json", "--svg", "/tmp/x.svg"],
            &[]
        ),
        Some(2)
    );
    assert_eq!(
        code(&["history", &base, "--svg", "/nonexistent/dir/h.svg"], &[]),
        Some(3)
    );
    // tune: 1 for a configuration that computed a wrong result.
    let tune_out = dir.path().join("tune.json");
    assert_eq!(
        code(
            &[
                "tune",
                "--kernel",
                "reduce-f32",
                "--size",
                "4099",
                "--iterations",
                "1",
                "--out",
                tune_out.to_str().unwrap()
            ],
            &[("GPU_CANARY_INJECT_FAULT", "add@0,0=1")]
        ),
        Some(1)
    );
    // 5 (burn drift), 130 and 143 (signals) are each caused for real in tests/burn.rs
    // and tests/reliability.rs.
}

/// A console line with its measurements masked: a number, and the unit after it, stand
/// for any number of that kind (the transcript is real output; its figures are not the
/// point, its lines are).
fn shape_of(line: &str) -> String {
    let unit = |t: &str| match t {
        "ns" | "µs" | "ms" | "s" => Some("T"),
        _ if t.ends_with("/s") => Some("R"),
        "B" | "kB" | "MB" | "GB" | "TB" => Some("B"),
        _ => None,
    };
    let mut out: Vec<String> = Vec::new();
    for t in line.split_whitespace() {
        let numeric = t.starts_with(|c: char| c.is_ascii_digit())
            && t.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '%');
        if let (Some(u), Some(prev)) = (unit(t), out.last_mut())
            && prev == "#"
        {
            *prev = format!("#{u}");
            continue;
        }
        out.push(if numeric {
            "#".to_owned()
        } else {
            t.chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect()
        });
    }
    out.join(" ")
}

#[test]
fn the_shape_of_a_line_keeps_its_words_and_masks_its_figures() {
    assert_eq!(
        shape_of("reduce-f32  1048579   pass  median 1.40 ms  min 980 µs   3.00 GB/s"),
        shape_of("reduce-f32  1048579   pass  median 21.0 µs  min 1.2 s    70.2 kB/s")
    );
    assert_ne!(
        shape_of("copy-f32 4MiB pass median 1.23 ms"),
        shape_of("copy-f32 4MiB FAIL median 1.23 ms")
    );
    assert_ne!(shape_of("median 1.23 ms"), shape_of("median 1.23 GB/s"));
}

#[test]
fn the_readme_is_an_introduction_with_a_real_transcript() {
    let text = doc("README.md");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 250, "README.md: {} lines", lines.len());
    // In the order a newcomer reads it.
    let at = |h: &str| {
        lines
            .iter()
            .position(|l| *l == h)
            .unwrap_or_else(|| panic!("README has no {h}"))
    };
    let order = [
        "## Install",
        "## Quick start",
        "## What a run prints",
        "## Exit codes",
        "## The lane",
        "## Documentation",
    ];
    for w in order.windows(2) {
        assert!(at(w[0]) < at(w[1]), "{w:?}");
    }
    let first: String = lines[..60.min(lines.len())].join("\n");
    assert!(
        first.contains("## Install") && first.contains("\nverdict: "),
        "{first}"
    );
    // The install command names the crate's own repository.
    let toml = doc("Cargo.toml");
    let repo = toml
        .lines()
        .find_map(|l| l.strip_prefix("repository = \""))
        .unwrap()
        .trim_end_matches('"');
    assert!(text.contains(&format!("cargo install --git {repo} --locked")));
    // Exit codes 0 to 3, one line each.
    for c in 0..=3 {
        assert!(text.contains(&format!("\n- **{c}** ")), "exit code {c}");
    }
    // Every link to a file of the repository resolves.
    for part in text.split("](").skip(1) {
        let target = part.split(')').next().unwrap();
        if target.starts_with("http") {
            continue;
        }
        let path = target.split('#').next().unwrap();
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(path).exists(),
            "README links to {target}"
        );
    }
    // The transcript is what the canary prints, line for line (its figures masked).
    let block = text
        .split("```text\n$ scripts/canary\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let (_, out, _) = suite_run();
    let printed = String::from_utf8_lossy(&out.stdout);
    if !printed.contains("adapter: llvmpipe") {
        eprintln!("skipped the transcript: the README's is lavapipe's, this adapter is not");
        return;
    }
    let want: Vec<String> = block.lines().map(shape_of).collect();
    let got: Vec<String> = printed.lines().map(shape_of).collect();
    assert_eq!(want, got, "README transcript against `gpu-canary run`");
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped but `-` and
/// `_`, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every link of `doc` to a file of the repository: the file exists, and an anchor is
/// one of its headings.
fn links_resolve(doc_path: &str) {
    let text = doc(doc_path);
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(doc_path)
        .parent()
        .unwrap()
        .to_owned();
    for part in text.split("](").skip(1) {
        let target = part.split(')').next().unwrap();
        if target.starts_with("http") {
            continue;
        }
        let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
        let file = if path.is_empty() {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(doc_path)
        } else {
            base.join(path)
        };
        assert!(file.exists(), "{doc_path} links to {target}");
        if !anchor.is_empty() {
            let headings: Vec<String> = std::fs::read_to_string(&file)
                .unwrap()
                .lines()
                .filter_map(|l| l.strip_prefix('#'))
                .map(|l| slug(l.trim_start_matches('#')))
                .collect();
            assert!(
                headings.iter().any(|h| h == anchor),
                "{doc_path} links to {target}: no such heading in {}",
                file.display()
            );
        }
    }
}

#[test]
fn a_heading_anchor_is_what_github_makes() {
    assert_eq!(
        slug(" Every card the job sees: `--adapter all`"),
        "every-card-the-job-sees---adapter-all"
    );
    assert_eq!(
        slug(" Prometheus, Pushgateway and JUnit"),
        "prometheus-pushgateway-and-junit"
    );
}

#[test]
fn the_docs_link_to_files_and_headings_that_exist() {
    for d in [
        "README.md",
        "docs/guide.md",
        "docs/verification.md",
        "docs/lane.md",
        "CONTRIBUTING.md",
        "CHANGELOG.md",
    ] {
        links_resolve(d);
    }
}
