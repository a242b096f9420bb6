//! A release as far as this machine can make one: the archive the release workflow
//! publishes (scripts/release-archive) from this build, its checksum, the glibc floor,
//! the install from a mirror with the sum checked (scripts/install-release and the
//! runbook's commands), the notes from the changelog, and the crate's package list.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;
use serde_yaml_ng::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script(name: &str) -> Command {
    let mut c = Command::new(root().join("scripts").join(name));
    c.current_dir(root());
    c
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The version this build reports (`gpu-canary 0.1.0 (commit …)`).
fn version() -> String {
    let out = ok(&bin().arg("--version").output().unwrap());
    out.split_whitespace().nth(1).unwrap().to_owned()
}

/// The archive of this build in `dir`, as the release workflow makes it.
fn archive(dir: &Path) -> PathBuf {
    let out = script("release-archive")
        .args([TARGET, dir.to_str().unwrap()])
        .env("GPU_CANARY_RELEASE_BIN", bin_path())
        .output()
        .unwrap();
    PathBuf::from(ok(&out).trim())
}

#[test]
fn the_release_archive_holds_a_stripped_binary_its_docs_completions_and_man_page() {
    let dir = tempfile::tempdir().unwrap();
    let v = version();
    let tgz = archive(dir.path());
    let name = format!("gpu-canary-{v}-{TARGET}");
    assert_eq!(tgz, dir.path().join(format!("{name}.tar.gz")));
    let list = ok(&Command::new("tar").arg("-tzf").arg(&tgz).output().unwrap());
    let mut files: Vec<&str> = list.lines().filter(|l| !l.ends_with('/')).collect();
    files.sort();
    let want: Vec<String> = [
        "CHANGELOG.md",
        "LICENSE-APACHE",
        "LICENSE-MIT",
        "README.md",
        "complete/_gpu-canary",
        "complete/_gpu-canary.ps1",
        "complete/gpu-canary.bash",
        "complete/gpu-canary.elv",
        "complete/gpu-canary.fish",
        "doc/gpu-canary.1",
        "gpu-canary",
    ]
    .iter()
    .map(|f| format!("{name}/{f}"))
    .collect();
    // And a man page per command --help lists.
    let help = ok(&bin().arg("--help").output().unwrap());
    let commands: Vec<String> = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    assert!(commands.len() >= 10, "{commands:?}");
    let mut want = want;
    want.extend(
        commands
            .iter()
            .map(|c| format!("{name}/doc/gpu-canary-{c}.1")),
    );
    want.sort();
    assert_eq!(files, want);
    // The sum beside it checks, and fails for an archive changed by one byte.
    let check = || {
        Command::new("sha256sum")
            .args(["--check", &format!("{name}.tar.gz.sha256")])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    ok(&check());
    // Unpacked: a stripped binary that runs and names its commit.
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    ok(&Command::new("tar")
        .arg("-xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&x)
        .output()
        .unwrap());
    let b = x.join(&name).join("gpu-canary");
    let sections = ok(&Command::new("readelf").arg("-S").arg(&b).output().unwrap());
    assert!(
        // (.debug_gdb_scripts is loaded with the program, so strip keeps it.)
        !sections.contains(".symtab")
            && !sections.contains(".debug_info")
            && !sections.contains(".debug_line"),
        "stripped: {sections}"
    );
    assert!(std::fs::metadata(&b).unwrap().len() < std::fs::metadata(bin_path()).unwrap().len());
    let shown = ok(&Command::new(&b).arg("--version").output().unwrap());
    assert!(
        shown.starts_with(&format!("gpu-canary {v} (commit ")),
        "{shown}"
    );
    ok(&Command::new("bash")
        .arg("-n")
        .arg(x.join(&name).join("complete/gpu-canary.bash"))
        .output()
        .unwrap());
    let man = std::fs::read_to_string(x.join(&name).join("doc/gpu-canary.1")).unwrap();
    assert!(
        man.contains(".TH gpu-canary"),
        "{}",
        &man[..200.min(man.len())]
    );
    // A command's page, as man(1) renders it: its flags and their paragraphs.
    let run = ok(&Command::new("man")
        .arg("-l")
        .arg(x.join(&name).join("doc/gpu-canary-run.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap());
    assert!(run.contains("gpu-canary-run"), "{run}");
    assert!(
        run.contains("--require-coverage") && run.contains("never a pass"),
        "{run}"
    );
    // The same inputs give the same archive (sorted, owner 0, fixed times).
    let again = tempfile::tempdir().unwrap();
    let tgz2 = archive(again.path());
    assert_eq!(std::fs::read(&tgz).unwrap(), std::fs::read(&tgz2).unwrap());
    let mut bytes = std::fs::read(&tgz).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&tgz, bytes).unwrap();
    assert!(!check().status.success(), "a changed archive fails its sum");
}

#[test]
fn a_tag_that_does_not_name_the_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = script("release-archive")
        .args([TARGET, dir.path().to_str().unwrap()])
        .env("GPU_CANARY_RELEASE_BIN", bin_path())
        .env("GPU_CANARY_RELEASE_TAG", "v99.0.0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tag v99.0.0 does not name version"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `scripts/glibc-floor BIN MAX`: its exit code and what it said.
fn floor(bin: &Path, max: &str) -> (Option<i32>, String) {
    let out = script("glibc-floor").arg(bin).arg(max).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), said)
}

#[test]
fn the_glibc_floor_is_checked_against_the_system_it_is_to_run_on() {
    // This machine's glibc: the binary built here runs here, so its floor is at most it.
    let here = ok(&Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .unwrap());
    let here = here.split_whitespace().nth(1).unwrap().to_owned();
    let (code, said) = floor(&bin_path(), &here);
    assert_eq!(code, Some(0), "{said}");
    let needs: String = said
        .split("GLIBC_")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    assert!(needs.starts_with("2."), "{said}");
    // A system older than what the binary needs is refused, naming both.
    let (code, said) = floor(&bin_path(), "2.2");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!("GLIBC_{needs}, above 2.2")),
        "{said}"
    );
    // The floor itself, exactly, passes; bad input is a usage error.
    assert_eq!(floor(&bin_path(), &needs).0, Some(0));
    assert_eq!(floor(&bin_path(), "latest").0, Some(2));
    assert_eq!(floor(Path::new("/nonexistent"), "2.39").0, Some(2));
    assert_eq!(floor(&root().join("README.md"), "2.39").0, Some(2));
}

/// A release mirror in `dir`: the archive and sha256sums.txt, as the publish job writes
/// them.
fn mirror(dir: &Path) -> PathBuf {
    let tgz = archive(dir);
    let sums = std::fs::read_to_string(tgz.with_extension("gz.sha256")).unwrap();
    std::fs::write(dir.join("sha256sums.txt"), sums).unwrap();
    tgz
}

#[test]
fn a_release_installs_only_with_its_checksum() {
    let m = tempfile::tempdir().unwrap();
    let tgz = mirror(m.path());
    let v = version();
    let install = |dest: &Path| {
        script("install-release")
            .arg(format!("v{v}"))
            .arg(dest)
            .env(
                "GPU_CANARY_RELEASE_URL",
                format!("file://{}", m.path().display()),
            )
            .env("GPU_CANARY_TARGET", TARGET)
            .output()
            .unwrap()
    };
    let dest = tempfile::tempdir().unwrap();
    let shown = ok(&install(dest.path()));
    assert!(
        shown.starts_with(&format!("gpu-canary {v} (commit ")),
        "{shown}"
    );
    assert!(dest.path().join("gpu-canary").is_file());
    // A tampered archive: exit 1, nothing installed.
    let mut bytes = std::fs::read(&tgz).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&tgz, bytes).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let out = install(dest.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match its sum"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dest.path().join("gpu-canary").exists());
    // No such release: exit 2, naming it.
    let out = script("install-release")
        .args(["v98.0.0", dest.path().to_str().unwrap()])
        .env(
            "GPU_CANARY_RELEASE_URL",
            format!("file://{}", m.path().display()),
        )
        .env("GPU_CANARY_TARGET", TARGET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is v98.0.0 released"));
}

/// The runbook's install-by-hand commands, as written, with the mirror `m` for GitHub
/// and `dest` for /usr/local/bin, run by a plain shell (no `set -e`, as pasted): the
/// exit code.
fn by_hand(m: &Path, dest: &Path) -> Option<i32> {
    let doc = std::fs::read_to_string(root().join("docs/lane.md")).unwrap();
    let block = doc
        .split("# or by hand")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let v = version();
    // The runbook downloads from the crate's own repository.
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let repo = toml
        .lines()
        .find_map(|l| l.strip_prefix("repository = \""))
        .unwrap()
        .trim_end_matches('"');
    assert!(
        block.contains(&format!("base={repo}/releases/download/v$v\n")),
        "{block}"
    );
    let text = block
        .lines()
        .skip(1)
        .map(|l| {
            if l.starts_with("base=") {
                format!("base=file://{}", m.display())
            } else if let Some(rest) = l.strip_prefix("v=") {
                format!("v={v}{}", &rest[rest.find(' ').unwrap()..])
            } else {
                l.replace("/usr/local/bin/", &format!("{}/", dest.display()))
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let work = tempfile::tempdir().unwrap();
    Command::new("bash")
        .args(["-c", &text])
        .current_dir(work.path())
        .output()
        .unwrap()
        .status
        .code()
}

#[test]
fn the_runbooks_install_by_hand_installs_only_with_its_checksum() {
    let m = tempfile::tempdir().unwrap();
    let tgz = mirror(m.path());
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(by_hand(m.path(), dest.path()), Some(0));
    let shown = ok(&Command::new(dest.path().join("gpu-canary"))
        .arg("--version")
        .output()
        .unwrap());
    assert!(shown.contains("(commit "), "{shown}");
    // A replaced archive: the chain stops at the sum, nothing is installed.
    let mut bytes = std::fs::read(&tgz).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&tgz, bytes).unwrap();
    let dest = tempfile::tempdir().unwrap();
    assert_ne!(by_hand(m.path(), dest.path()), Some(0));
    assert!(!dest.path().join("gpu-canary").exists());
}

#[test]
fn the_release_notes_are_the_tags_changelog_section() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("CHANGELOG.md");
    std::fs::write(
        &log,
        "# Changelog\n\n## [Unreleased]\n\n- later\n\n## [0.2.0] - 2026-12-05\n\n### Added\n\n- this\n\n## [0.1.0] - 2026-11-01\n\n- that\n",
    )
    .unwrap();
    let notes = |v: &str| {
        script("changelog-section")
            .arg(v)
            .arg(&log)
            .output()
            .unwrap()
    };
    assert_eq!(ok(&notes("v0.2.0")), "\n### Added\n\n- this\n");
    assert_eq!(ok(&notes("0.1.0")), "\n- that\n");
    let out = notes("v0.3.0");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no section '## [0.3.0]'"));
    // The project's own changelog has the section the next release is cut from.
    ok(&script("changelog-section")
        .arg("Unreleased")
        .output()
        .unwrap());
}

fn workflow(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join(".github/workflows").join(name)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn runs(job: &Value) -> Vec<String> {
    job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| {
            s.get("run")
                .or_else(|| s.get("uses"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

#[test]
fn the_release_workflow_runs_the_scripts_tested_here() {
    let wf = workflow("release.yml");
    assert_eq!(wf["on"]["push"]["tags"][0].as_str(), Some("v*"));
    let targets: Vec<&str> = wf["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, [TARGET, "aarch64-unknown-linux-gnu"]);
    let build = runs(&wf["jobs"]["build"]);
    let at = |needle: &str| {
        build
            .iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {build:#?}"))
    };
    // Archive, then the floor, then the provenance of what was archived, then upload.
    assert!(at("scripts/release-archive") < at("scripts/glibc-floor"));
    assert!(at("scripts/glibc-floor") < at("actions/attest-build-provenance@"));
    assert!(at("actions/attest-build-provenance@") < at("actions/upload-artifact@"));
    assert_eq!(
        wf["jobs"]["build"]["permissions"]["id-token"].as_str(),
        Some("write")
    );
    assert!(
        runs(&wf["jobs"]["notes"])
            .iter()
            .any(|r| r.contains("scripts/changelog-section \"$GITHUB_REF_NAME\""))
    );
    let publish = runs(&wf["jobs"]["publish"]).join("\n");
    assert!(publish.contains("> dist/sha256sums.txt") && publish.contains("sha256sum --check"));
    assert!(publish.contains("gh release create") && publish.contains("--notes-file"));
    // The lane can run a pinned release instead of building: installed, checked, and
    // the build skipped.
    let canary = workflow("gpu-canary.yml");
    assert!(canary["on"]["workflow_dispatch"]["inputs"]["release"]["type"].is_string());
    let steps = canary["jobs"]["build"]["steps"].as_sequence().unwrap();
    let named = |n: &str| {
        steps
            .iter()
            .find(|s| s["name"].as_str().is_some_and(|x| x.starts_with(n)))
            .unwrap()
    };
    assert_eq!(named("Build")["if"].as_str(), Some("inputs.release == ''"));
    let pinned = named("The pinned release");
    assert_eq!(pinned["if"].as_str(), Some("inputs.release != ''"));
    assert!(
        pinned["run"]
            .as_str()
            .unwrap()
            .starts_with("scripts/install-release \"$RELEASE\" target/release")
    );
    // The runner images check the binary against the image's own glibc.
    let images = runs(&workflow("runner-images.yml")["jobs"]["image"]).join("\n");
    assert!(images.contains("getconf GNU_LIBC_VERSION"));
    assert!(images.contains("scripts/glibc-floor docker/gpu-canary \"$glibc\""));
}

#[test]
fn the_crate_packages_its_sources_and_nothing_generated_or_large() {
    let out = Command::new(env!("CARGO"))
        .args(["package", "--list", "--allow-dirty", "--offline"])
        .current_dir(root())
        .output()
        .unwrap();
    let list = ok(&out);
    let files: Vec<&str> = list.lines().collect();
    for must in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "src/main.rs",
        "shaders/memtest.wgsl",
        "results-schema/result.schema.json",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
    ] {
        assert!(files.contains(&must), "{must} packaged: {files:#?}");
    }
    for f in &files {
        assert!(
            !f.starts_with("target/")
                && !f.starts_with("tests/fixtures/")
                && !f.starts_with("docs/measured/"),
            "{f} is not the crate's"
        );
        assert!(
            ![".prom", ".xml", ".svg", ".png", ".tar.gz"]
                .iter()
                .any(|e| f.ends_with(e)),
            "{f} is generated"
        );
        // Cargo writes these two itself.
        if *f != "Cargo.toml.orig" && *f != ".cargo_vcs_info.json" && *f != "Cargo.toml" {
            let size = std::fs::metadata(root().join(f)).unwrap().len();
            assert!(size < 256 * 1024, "{f}: {size} bytes");
        }
    }
    // Cargo metadata a published crate is found by.
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for key in ["repository = ", "readme = ", "keywords = ", "categories = "] {
        assert!(toml.contains(key), "{key}");
    }
}
