//! Where the run happened: host facts and the GitHub Actions context. A field the
//! machine does not provide is left out rather than guessed.

use crate::model::{CiContext, Host};

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

pub fn host() -> Host {
    let os_version = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        });
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines().find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
    });
    Host {
        os: std::env::consts::OS.to_owned(),
        os_version,
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        cpu_model,
        cpu_count: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        hostname: read_trimmed("/proc/sys/kernel/hostname")
            .or_else(|| std::env::var("HOSTNAME").ok()),
    }
}

/// The Actions context, from the environment `get` reads (std::env::var in real runs).
pub fn ci_context(get: impl Fn(&str) -> Option<String>) -> Option<CiContext> {
    let v = |k: &str| get(k).filter(|s| !s.is_empty());
    let ctx = CiContext {
        repository: v("GITHUB_REPOSITORY"),
        run_id: v("GITHUB_RUN_ID"),
        run_attempt: v("GITHUB_RUN_ATTEMPT"),
        sha: v("GITHUB_SHA"),
        git_ref: v("GITHUB_REF"),
        workflow: v("GITHUB_WORKFLOW"),
        job: v("GITHUB_JOB"),
        runner_name: v("RUNNER_NAME"),
        runner_os: v("RUNNER_OS"),
    };
    (ctx != CiContext::default()).then_some(ctx)
}

/// Now, as RFC 3339 in UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_context_omits_absent_fields() {
        assert_eq!(ci_context(|_| None), None);
        let c = ci_context(|k| (k == "GITHUB_RUN_ID").then(|| "42".to_owned())).unwrap();
        assert_eq!(c.run_id.as_deref(), Some("42"));
        assert_eq!(c.sha, None);
    }
}
