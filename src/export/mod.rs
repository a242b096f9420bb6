//! One exporter per file, each behind [`Exporter`], which turns a report into bytes.
//! Files are written atomically (temporary file, then rename) so a reader never sees a
//! half-written artifact, and `result.json` is rewritten after every kernel.

pub mod bmf;
pub mod json;
pub mod markdown;
pub mod trace;

use std::io::Write;
use std::path::Path;

use crate::model::RunReport;

pub trait Exporter {
    fn render(&self, report: &RunReport) -> Vec<u8>;
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Durations for people: ns, µs, ms or s with three significant digits.
pub fn fmt_ns(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

pub fn fmt_rate(v: f64, unit: &str) -> String {
    let digits = if v >= 100.0 {
        0
    } else if v >= 1.0 {
        2
    } else {
        4
    };
    format!("{v:.digits$} {unit}")
}
