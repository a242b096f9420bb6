//! A run's artifacts. One exporter per format, each behind [`Exporter`], which turns a
//! report into bytes; [`ExportManager`] writes them (as hyperfine's export manager
//! does): `result.json` again after every kernel, everything at the end, each file
//! atomically (temporary file, then rename), so a reader never sees half a file and a
//! later failure loses nothing already measured.

pub mod bmf;
pub mod comparison;
pub mod json;
pub mod junit;
pub mod lines;
pub mod markdown;
pub mod metrics;
pub mod trace;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::RunReport;
use crate::runner::GpuEvent;

pub trait Exporter {
    fn render(&self, report: &RunReport) -> Vec<u8>;
}

/// The lock file of an `--out` directory: held for the whole run, so a second run into
/// the same directory is refused (it names the holder's pid) instead of writing over it.
pub const LOCK: &str = ".gpu-canary.lock";

/// The directory a run writes its artifacts into (`--out`), and its lock.
#[derive(Debug, Clone)]
pub struct OutDir {
    pub dir: PathBuf,
    pub lock: Arc<std::fs::File>,
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
}

/// Space held back in `--out` for `result.json` (up to this; half of what fits on a
/// nearly full disk).
const RESERVE: u64 = 4 << 20;

/// Writes a run's artifacts: `result.json`, `summary.md` and `trace.json` under `--out`,
/// the Bencher file of `--export-bmf`, and the Actions step summary. `result.json` is
/// the one that must survive: it is written at every checkpoint before the trace is
/// flushed, atomically, and space is held back for it.
pub struct ExportManager {
    out: Option<OutDir>,
    bmf: Option<PathBuf>,
    /// `--export-metrics`, `--export-junit`: written with the verdict, like summary.md.
    metrics: Option<PathBuf>,
    junit: Option<PathBuf>,
    trace: Option<trace::CpuTrace>,
    reserve: Option<Arc<trace::Reserve>>,
    /// A checkpoint's write already failed (said once).
    warned: bool,
}

impl ExportManager {
    /// Holds space back and starts streaming the trace when there is an `--out`
    /// directory.
    pub fn new(
        out: Option<OutDir>,
        bmf: Option<PathBuf>,
        metrics: Option<PathBuf>,
        junit: Option<PathBuf>,
    ) -> ExportManager {
        let reserve = out.as_ref().map(|o| trace::Reserve::take(&o.dir, RESERVE));
        let trace = out
            .as_ref()
            .zip(reserve.clone())
            .and_then(|(o, r)| trace::CpuTrace::install(&o.trace(), r));
        ExportManager {
            out,
            bmf,
            metrics,
            junit,
            trace,
            reserve,
            warned: false,
        }
    }

    /// `result.json` with what is known now (the report says `partial`), then the trace
    /// up to now. A failed write gives back the reserved space and tries once more.
    pub fn checkpoint(&mut self, report: &RunReport) {
        if let Some(out) = &self.out {
            let json = json::Json.render(report);
            let res = write_atomic(&out.result(), &json).or_else(|_| {
                self.release();
                write_atomic(&out.result(), &json)
            });
            if let Err(e) = res
                && !std::mem::replace(&mut self.warned, true)
            {
                crate::console::err(&format!(
                    "warning: cannot write {}: {e}",
                    out.result().display()
                ));
            }
        }
        if let Some(t) = &self.trace {
            t.flush();
        }
    }

    fn release(&self) {
        if let Some(r) = &self.reserve {
            r.release();
        }
    }

    /// The artifacts besides `result.json` and the step summary, whose writes decide the
    /// verdict: the trace (the GPU's own timeline merged into the streamed CPU spans)
    /// and the Bencher file. Returns what could not be written, one line each.
    /// The second value is why the streamed trace stops early, if it does.
    pub fn finish_trace(
        &mut self,
        report: &RunReport,
        gpu: &[GpuEvent],
        extra: &trace::Extra,
    ) -> (Vec<String>, Option<String>) {
        let mut failed = Vec::new();
        let mut cut_short = None;
        // Opened while the trace still streams: where the run's end went shows in it.
        let span = tracing::info_span!("write_artifacts").entered();
        if let (Some(out), Some(t)) = (&self.out, self.trace.take()) {
            let (cpu, cut) = t.finish();
            match cut {
                Some(why) => {
                    failed.push(format!("{}: {why}", out.trace().display()));
                    cut_short = Some(why);
                }
                None => {
                    let name = report
                        .adapter
                        .as_ref()
                        .map(|a| a.name.as_str())
                        .unwrap_or("none");
                    let merged = trace::merge_with(&cpu, gpu, name, extra).to_string();
                    // With the space held back if it does not fit otherwise: result.json
                    // can still make room by cutting the trace (`make_room`).
                    let res = write_atomic(&out.trace(), merged.as_bytes()).or_else(|_| {
                        if let Some(r) = &self.reserve {
                            r.release();
                        }
                        write_atomic(&out.trace(), merged.as_bytes())
                    });
                    if let Err(e) = res {
                        failed.push(format!(
                            "{}: the GPU track could not be added ({e}); the CPU spans stand as streamed",
                            out.trace().display()
                        ));
                    }
                }
            }
        }
        if let Some(path) = &self.bmf
            && let Err(e) = write_atomic(path, &bmf::Bmf.render(report))
        {
            failed.push(format!("cannot write {}: {e}", path.display()));
        }
        drop(span);
        (failed, cut_short)
    }

    /// The artifacts that carry the verdict besides result.json (`summary.md`, the
    /// metrics, the JUnit report), rendered from the judged report: staged to temporary
    /// files, each one or the reason it could not be. The caller commits them together
    /// once the verdict knows which failed, so they never disagree with it.
    pub fn stage_verdict_artifacts(&self, report: &RunReport) -> (Vec<Staged>, Vec<String>) {
        let mut wanted: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        if let Some(out) = &self.out {
            wanted.push((out.summary(), markdown::Markdown.render(report)));
        }
        if let Some(p) = &self.metrics {
            wanted.push((p.clone(), metrics::Metrics.render(report)));
        }
        if let Some(p) = &self.junit {
            wanted.push((p.clone(), junit::Junit.render(report)));
        }
        let mut staged = Vec::new();
        let mut failed = Vec::new();
        for (path, bytes) in wanted {
            match stage(&path, &bytes) {
                Ok(s) => staged.push(s),
                Err(e) => failed.push(format!("cannot write {}: {e}", path.display())),
            }
        }
        (staged, failed)
    }

    /// Frees at least `need` bytes for `result.json` by cutting the trace back to an
    /// event boundary (the last resort on a full disk: the measurements outrank their
    /// timeline); what it did, for `artifact_errors`, or `None` if there is no trace.
    pub fn make_room(&self, need: u64) -> Option<String> {
        let out = self.out.as_ref()?;
        let path = out.trace();
        let text = std::fs::read(&path).ok()?;
        let keep = text
            .len()
            .saturating_sub(usize::try_from(need).unwrap_or(usize::MAX));
        // A streamed array keeps its first events; a merged document cannot be cut, so
        // it goes.
        let cut = if text.first() == Some(&b'[') {
            text[..keep]
                .windows(2)
                .rposition(|w| w == b",\n")
                .unwrap_or(1)
        } else {
            0
        };
        let res = match cut {
            0 => std::fs::remove_file(&path),
            n => std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(n as u64)),
        };
        res.ok()?;
        let why = "cut to make room for result.json on a full disk";
        let _ = trace::mark_cut_short(&path, why);
        Some(match cut {
            0 => format!(
                "{}: removed to make room for result.json on a full disk",
                path.display()
            ),
            n => format!("{}: {why} (at {n} bytes)", path.display()),
        })
    }

    /// The final `result.json`, into the space held back for it; then, if the trace was
    /// cut short, the reason appended to it. The reserve is given back either way.
    pub fn write_result(&self, json: &[u8], trace_cut: Option<&str>) -> Option<String> {
        let out = self.out.as_ref()?;
        self.release();
        let failed = write_atomic(&out.result(), json)
            .err()
            .map(|e| format!("cannot write {}: {e}", out.result().display()));
        if let Some(why) = trace_cut {
            let _ = trace::mark_cut_short(&out.trace(), why);
        }
        failed
    }
}

impl Drop for ExportManager {
    fn drop(&mut self) {
        self.release();
    }
}

/// The step summary's size at most: GitHub drops a summary over 1 MiB whole, and every
/// step of a job shares that.
pub const STEP_SUMMARY_MAX: usize = 256 << 10;

/// Appends `md` to `$GITHUB_STEP_SUMMARY` when Actions provides it: on a line of its
/// own, at most [`STEP_SUMMARY_MAX`] bytes and never past 1 MiB in all; what does not
/// fit is cut at a line with a pointer to `summary.md`. Its failure is a warning for
/// the caller: a side channel never changes a verdict.
pub fn append_step_summary(md: &[u8]) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let have = f.metadata()?.len() as usize;
    let room = STEP_SUMMARY_MAX.min((1usize << 20).saturating_sub(have + 1));
    let text = bounded_summary(md, room);
    if text.is_empty() {
        return Err(std::io::Error::other(format!(
            "it holds {have} bytes: no room under GitHub's 1 MiB for this summary (see summary.md)"
        )));
    }
    f.write_all(&text)
}

/// `md` as appended: a blank line first, then as much as fits in `room` bytes, cut at
/// a line with a note where it was cut.
pub fn bounded_summary(md: &[u8], room: usize) -> Vec<u8> {
    const NOTE: &[u8] =
        b"\n_The rest of this summary did not fit in the step summary: see summary.md in the run's artifacts._\n";
    let mut out = b"\n".to_vec();
    if out.len() + md.len() < room {
        out.extend_from_slice(md);
        out.push(b'\n');
        return out;
    }
    if room < out.len() + NOTE.len() {
        return Vec::new();
    }
    let keep = room - out.len() - NOTE.len();
    let cut = md[..keep.min(md.len())]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    out.extend_from_slice(&md[..cut]);
    out.extend_from_slice(NOTE);
    out
}

/// A file written to its temporary name, waiting for [`Staged::commit`] (or dropped:
/// the temporary file goes).
pub struct Staged {
    tmp: Option<PathBuf>,
    path: PathBuf,
}

impl Staged {
    /// Renames it into place.
    pub fn commit(mut self) -> std::io::Result<()> {
        match self.tmp.take() {
            Some(tmp) => std::fs::rename(&tmp, &self.path).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The first half of [`write_atomic`]: `bytes` in a temporary file beside `path`. A
/// device or a link is written in place at once (nothing to rename).
pub fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<Staged> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)?;
        f.write_all(bytes)?;
        f.flush()?;
        return Ok(Staged {
            tmp: None,
            path: path.to_path_buf(),
        });
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(temp_name());
    let staged = Staged {
        tmp: Some(tmp.clone()),
        path: path.to_path_buf(),
    };
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(staged)
}

/// A temporary file's name: a short fixed prefix and a random suffix, never derived from
/// the target's name, so a target of any legal length (NAME_MAX is 255 bytes) has a legal
/// temporary name beside it. The pid and a counter keep two writers, and two threads of
/// one, apart even if the random source failed.
pub(crate) fn temp_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut r = [0u8; 8];
    let _ = getrandom::fill(&mut r);
    format!(
        ".gpu-canary-{}-{}-{:016x}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        u64::from_le_bytes(r)
    )
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so a reader
/// never sees half a file. A path that is a device or a link (`/dev/stdout`,
/// `/dev/full`) is written in place instead: a rename would replace the node itself.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    stage(path, bytes)?.commit()
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
            lines::identity_line(&id).as_deref(),
            Some("PCI 0000:17:00.0 · GPU-5c1e3a2b")
        );
        let none = GpuIdentity {
            pci_bus_id: None,
            uuid: None,
            serial: None,
        };
        assert_eq!(lines::identity_line(&none), None);
    }

    #[test]
    fn the_step_summary_is_bounded_and_starts_on_its_own_line() {
        let md = b"### gpu-canary\n| a |\n| b |\n";
        assert_eq!(
            bounded_summary(md, 1000),
            b"\n### gpu-canary\n| a |\n| b |\n\n"
        );
        let long: Vec<u8> = (0..40)
            .flat_map(|i| format!("| row {i} |\n").into_bytes())
            .collect();
        let cut = bounded_summary(&long, 200);
        assert!(cut.len() <= 200, "{}", cut.len());
        let text = String::from_utf8(cut).unwrap();
        assert!(
            text.starts_with("\n| row 0 |\n") && text.contains("see summary.md"),
            "{text}"
        );
        assert!(!text.contains("| row 39 |"), "{text}");
        assert!(bounded_summary(md, 10).is_empty(), "no room: nothing");
    }

    #[test]
    fn durations_keep_three_digits() {
        assert_eq!(fmt_ns(467.0), "467 ns");
        assert_eq!(fmt_ns(5_420_000.0), "5.42 ms");
        assert_eq!(fmt_ns(12.5e9), "12.5 s");
    }
}
