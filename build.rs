//! Records the git commit and the wgpu version into the binary, for `result.json`, and
//! the long version `--version` prints: version, short commit (`-dirty` with changes
//! not committed), build date (UTC; SOURCE_DATE_EPOCH where set) and wgpu's version.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
    println!("cargo:rerun-if-changed=.git/index");
    println!("cargo:rerun-if-changed=Cargo.lock");
    // Whether the tree is dirty changes with any tracked file, not the sources alone
    // (`-dirty` after an edit of the README too).
    let tracked = Command::new("git")
        .args(["ls-files", "-z"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| o.stdout)
        .unwrap_or_default();
    for f in tracked.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        println!("cargo:rerun-if-changed={}", String::from_utf8_lossy(f));
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=shaders");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
        // A packaged crate (crates.io, `cargo package`) has no .git, but cargo wrote the
        // commit it was packaged from into .cargo_vcs_info.json.
        .or_else(vcs_info_commit)
        .unwrap_or_default();
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wgpu\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GPU_CANARY_WGPU_VERSION={version}");
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    let short = match commit.get(..10) {
        Some(c) if dirty => format!("{c}-dirty"),
        Some(c) => c.to_owned(),
        None => "unknown commit".to_owned(),
    };
    // result.json records the same build as --version names: a dirty tree's commit is
    // not the commit's own build.
    let recorded = if dirty && !commit.is_empty() {
        format!("{commit}-dirty")
    } else {
        commit.clone()
    };
    println!("cargo:rustc-env=GPU_CANARY_GIT_COMMIT={recorded}");
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    println!(
        "cargo:rustc-env=GPU_CANARY_LONG_VERSION={} (commit {short}, built {}, wgpu {version})",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        civil_date(secs / 86400)
    );
}

/// The `git.sha1` of the .cargo_vcs_info.json that `cargo package` writes.
fn vcs_info_commit() -> Option<String> {
    let text = std::fs::read_to_string(".cargo_vcs_info.json").ok()?;
    let at = text.find("\"sha1\"")?;
    let sha: String = text[at + 6..]
        .trim_start_matches([' ', ':', '"'])
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (sha.len() == 40).then_some(sha)
}

/// Days since 1970-01-01 as YYYY-MM-DD (Howard Hinnant's civil-from-days).
fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
