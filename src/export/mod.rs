//! A run's artifacts. One exporter per format, each behind [`Exporter`], which turns a
//! report into bytes; [`ExportManager`] writes them (as hyperfine's export manager
//! does): `result.json` again after every kernel, everything at the end, each file
//! atomically (temporary file, then rename), so a reader never sees half a file and a
//! later failure loses nothing already measured.

pub mod bmf;
pub mod json;
pub mod markdown;
pub mod trace;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::model::RunReport;
use crate::runner::GpuEvent;

pub trait Exporter {
    fn render(&self, report: &RunReport) -> Vec<u8>;
}

/// The directory a run writes its artifacts into (`--out`).
#[derive(Debug, Clone)]
pub struct OutDir {
    pub dir: PathBuf,
}

impl OutDir {
    pub fn result(&self) -> PathBuf {
        self.dir.join("result.json")
    }
    pub fn trace(&self) -> PathBuf {
        self.dir.join("trace.json")
    }
    pub fn summary(&self) -> PathBuf {
        self.dir.join("summary.md")
    }
    /// Where tracing-chrome streams CPU spans before the GPU track is merged in.
    pub fn cpu_trace(&self) -> PathBuf {
        self.dir
            .join(format!(".trace-cpu-{}.json", std::process::id()))
    }
}

/// Writes a run's artifacts: `result.json`, `summary.md` and `trace.json` under `--out`,
/// the Bencher file of `--export-bmf`, and the Actions step summary.
pub struct ExportManager {
    out: Option<OutDir>,
    bmf: Option<PathBuf>,
    trace: Option<trace::CpuTrace>,
}

impl ExportManager {
    /// Starts recording the CPU trace when there is an `--out` directory.
    pub fn new(out: Option<OutDir>, bmf: Option<PathBuf>) -> ExportManager {
        let trace = out
            .as_ref()
            .and_then(|o| trace::CpuTrace::install(&o.cpu_trace()));
        ExportManager { out, bmf, trace }
    }

    /// `result.json` with what is known now (the report says `partial`).
    pub fn checkpoint(&self, report: &RunReport) {
        if let Some(out) = &self.out
            && let Err(e) = write_atomic(&out.result(), &json::Json.render(report))
        {
            eprintln!("warning: cannot write {}: {e}", out.result().display());
        }
    }

    /// Every artifact of the finished report (`json` is the report already rendered),
    /// with the GPU's own timeline merged into the trace. Returns what could not be
    /// written, each as a one-line message.
    pub fn finish(
        &mut self,
        report: &RunReport,
        json: &[u8],
        gpu: &[GpuEvent],
        extra: &trace::Extra,
    ) -> Vec<String> {
        let mut failed = Vec::new();
        let mut write = |path: &Path, bytes: &[u8]| {
            if let Err(e) = write_atomic(path, bytes) {
                failed.push(format!("cannot write {}: {e}", path.display()));
            }
        };
        let summary = markdown::Markdown.render(report);
        if let Some(out) = &self.out {
            {
                let _s = tracing::info_span!("write_artifacts").entered();
                write(&out.result(), json);
                write(&out.summary(), &summary);
            }
            // The CPU trace closes here; the GPU track is merged into what it holds.
            let cpu = self.trace.take().map(|t| t.finish()).unwrap_or_default();
            let name = report
                .adapter
                .as_ref()
                .map(|a| a.name.as_str())
                .unwrap_or("none");
            let merged = trace::merge_with(&cpu, gpu, name, extra).to_string();
            write(&out.trace(), merged.as_bytes());
        }
        if let Some(path) = &self.bmf {
            write(path, &bmf::Bmf.render(report));
        }
        if let Err(e) = append_step_summary(&summary) {
            failed.push(format!("cannot append to GITHUB_STEP_SUMMARY: {e}"));
        }
        failed
    }
}

/// Appends to `$GITHUB_STEP_SUMMARY` when Actions provides it.
pub fn append_step_summary(md: &[u8]) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    f.write_all(md)?;
    f.write_all(b"\n")
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
    format!("{} {unit}", three_digits(v))
}

/// A throughput for people, in the prefix that fits: `value` is in `unit` (`GFLOP/s` or
/// `GB/s`, as stored), shown as FLOP/s, kFLOP/s, MFLOP/s, GFLOP/s, TFLOP/s or PFLOP/s
/// (B/s to PB/s), never as "0.0000 GFLOP/s".
pub fn fmt_rate(value: f64, unit: &str) -> String {
    let Some(base) = unit.strip_prefix('G') else {
        return format!("{} {unit}", three_digits(value));
    };
    let per_s = value * 1e9;
    let prefixes = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    let (scale, prefix) = prefixes
        .into_iter()
        .find(|&(s, _)| per_s >= s)
        .unwrap_or((1.0, ""));
    format!("{} {prefix}{base}", three_digits(per_s / scale))
}

/// Three significant digits (more before the point where the value needs them).
fn three_digits(v: f64) -> String {
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_in_the_prefix_that_fits() {
        assert_eq!(fmt_rate(4.27e-6, "GFLOP/s"), "4.27 kFLOP/s");
        assert_eq!(fmt_rate(2e-9, "GFLOP/s"), "2.00 FLOP/s");
        assert_eq!(fmt_rate(0.7927, "GFLOP/s"), "793 MFLOP/s");
        assert_eq!(fmt_rate(1.73, "GFLOP/s"), "1.73 GFLOP/s");
        assert_eq!(fmt_rate(51400.0, "GFLOP/s"), "51.4 TFLOP/s");
        assert_eq!(fmt_rate(0.0001, "GB/s"), "100 kB/s");
        assert_eq!(fmt_rate(3815.0, "GB/s"), "3.81 TB/s");
        assert_eq!(fmt_rate(0.0, "GB/s"), "0.00 B/s");
        assert_eq!(fmt_rate(1.5, "widgets/s"), "1.50 widgets/s");
    }

    #[test]
    fn the_card_is_named_by_what_is_known_of_it() {
        use crate::model::GpuIdentity;
        let id = GpuIdentity {
            pci_bus_id: Some("0000:17:00.0".into()),
            uuid: Some("GPU-5c1e3a2b".into()),
            serial: None,
        };
        assert_eq!(
            markdown::identity_line(&id).as_deref(),
            Some("PCI 0000:17:00.0 · GPU-5c1e3a2b")
        );
        let none = GpuIdentity {
            pci_bus_id: None,
            uuid: None,
            serial: None,
        };
        assert_eq!(markdown::identity_line(&none), None);
    }

    #[test]
    fn durations_keep_three_digits() {
        assert_eq!(fmt_ns(467.0), "467 ns");
        assert_eq!(fmt_ns(5_420_000.0), "5.42 ms");
        assert_eq!(fmt_ns(12.5e9), "12.5 s");
    }
}
