//! `trace.json`: tracing-chrome's CPU spans plus a GPU track built from the timestamp
//! queries.
//!
//! # Clock alignment
//! The GPU's timestamps run on the GPU's own clock. Each timed dispatch happened inside
//! its CPU `dispatch` span (submit … wait returned), so every dispatch bounds the offset
//! between the clocks: cpu_begin − gpu_begin ≤ offset ≤ cpu_end − gpu_end. We intersect
//! those intervals over all dispatches and use the midpoint: every GPU event then lies
//! inside its dispatch span, and the interval's width is the stated uncertainty. If the
//! intersection is empty (clock drift over a long run, or a clock that resets), each
//! event is placed on its own span's midpoint, and the trace says so.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::runner::GpuEvent;

/// What the streamed trace has on disk (always whole events: it ends after one), what
/// waits for the rest of its event, and the first write that failed.
#[derive(Debug, Default)]
struct Stream {
    written: u64,
    pending: Vec<u8>,
    error: Option<String>,
}

impl Stream {
    /// How much of `pending` is whole events: up to the end of the array, or of the
    /// last event that is complete (events are separated by ",\n", and no raw newline
    /// occurs inside one).
    fn whole(&self) -> usize {
        let p = &self.pending;
        if p.ends_with(b"\n]") {
            return p.len();
        }
        let sep = p.windows(2).rposition(|w| w == b",\n");
        let head = if p.starts_with(b"[\n") { 2 } else { 0 };
        let start = sep.map_or(head, |i| i + 2);
        match serde_json::from_slice::<serde_json::Value>(&p[start..]) {
            Ok(_) => p.len(),
            Err(_) => sep.unwrap_or(head),
        }
    }
}

/// The writer tracing-chrome streams into: `trace.json` under its real name from the
/// start, holding only whole events, so a killed run leaves a trace (a JSON array
/// without its closing bracket, which Perfetto and chrome://tracing read). A failed
/// write (a full disk) never panics tracing-chrome's thread: the file is cut back to
/// what it held, the error is kept, nothing more is written, and the space kept in
/// reserve is given back for `result.json`.
struct StreamWriter {
    file: std::fs::File,
    state: Arc<Mutex<Stream>>,
    reserve: Arc<Reserve>,
}

impl std::io::Write for StreamWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.error.is_some() {
            return Ok(buf.len());
        }
        st.pending.extend_from_slice(buf);
        let n = st.whole();
        if n == 0 {
            return Ok(buf.len());
        }
        match self.file.write_all(&st.pending[..n]) {
            Ok(()) => {
                st.written += n as u64;
                st.pending.drain(..n);
            }
            Err(e) => {
                let _ = self.file.set_len(st.written);
                st.error = Some(format!("cut short at {} bytes: {e}", st.written));
                self.reserve.release();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Space kept free in the output directory for `result.json`: a hidden file, given back
/// when a write there fails (the trace filled the disk) and at the end of the run.
#[derive(Debug)]
pub struct Reserve {
    path: PathBuf,
    held: Mutex<bool>,
}

impl Reserve {
    /// Up to `max` bytes in `dir`; where the disk has less room, half of what fits.
    pub fn take(dir: &Path, max: u64) -> Arc<Reserve> {
        use std::io::Write;
        let path = dir.join(".gpu-canary-reserve");
        let held = (|| -> std::io::Result<bool> {
            let mut f = std::fs::File::create(&path)?;
            let chunk = vec![0u8; 64 * 1024];
            let mut n = 0u64;
            while n < max {
                if f.write_all(&chunk).is_err() {
                    f.set_len(n / 2)?;
                    break;
                }
                n += chunk.len() as u64;
            }
            f.sync_all()?;
            Ok(true)
        })()
        .unwrap_or(false);
        Arc::new(Reserve {
            path,
            held: Mutex::new(held),
        })
    }

    /// Frees the space (once).
    pub fn release(&self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if std::mem::take(&mut *held) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The CPU half of the trace: tracing-chrome streaming gpu-canary's spans into
/// `trace.json`, until [`CpuTrace::finish`] closes it and returns its text.
pub struct CpuTrace {
    guard: tracing_chrome::FlushGuard,
    path: PathBuf,
    state: Arc<Mutex<Stream>>,
}

impl CpuTrace {
    /// Installs the global subscriber streaming to `path`; `None` if the file cannot be
    /// created or a subscriber is already installed (the run goes on without a trace).
    pub fn install(path: &Path, reserve: Arc<Reserve>) -> Option<CpuTrace> {
        use tracing_subscriber::prelude::*;
        let file = std::fs::File::create(path).ok()?;
        let state = Arc::new(Mutex::new(Stream::default()));
        let writer = StreamWriter {
            file,
            state: state.clone(),
            reserve,
        };
        let (layer, guard) = tracing_chrome::ChromeLayerBuilder::new()
            .writer(writer)
            .include_args(true)
            .build();
        // Our own spans; from wgpu and the driver only warnings (their debug logs would
        // make the trace megabytes long).
        let filter = tracing_subscriber::filter::Targets::new()
            .with_default(tracing::Level::WARN)
            .with_target("gpu_canary", tracing::Level::TRACE);
        tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init()
            .ok()?;
        Some(CpuTrace {
            guard,
            path: path.to_path_buf(),
            state,
        })
    }

    /// Pushes what tracing-chrome holds to the file (at each checkpoint, after
    /// `result.json`).
    pub fn flush(&self) {
        self.guard.flush();
    }

    /// Why the stream stopped, if it did.
    pub fn error(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .clone()
    }

    /// Closes the stream (spans still open stay unterminated, which [`parse_events`]
    /// accepts) and returns its text and, if a write failed, why.
    pub fn finish(self) -> (String, Option<String>) {
        drop(self.guard);
        let error = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .clone();
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        (text, error)
    }
}

/// Appends an instant event saying why the streamed trace stops where it does, and
/// closes the array (after a write failure; best effort: the disk may still be full).
pub fn mark_cut_short(path: &Path, why: &str) -> std::io::Result<()> {
    use std::io::Write;
    let marker = json!({
        "name": "trace cut short", "ph": "i", "s": "g", "pid": 1, "tid": 0, "ts": 0,
        "args": {"why": why},
    });
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    let len = f.metadata()?.len();
    let sep: &[u8] = if len > 2 { b",\n" } else { b"" };
    f.write_all(sep)?;
    f.write_all(marker.to_string().as_bytes())?;
    f.write_all(b"\n]")?;
    f.sync_all()
}

/// A CPU `dispatch` span as tracing-chrome wrote it (µs since its start).
#[derive(Debug, Clone)]
pub struct Span {
    pub key: String,
    pub sample: u32,
    pub begin_us: f64,
    pub end_us: f64,
}

/// Parses tracing-chrome output, which lacks its closing bracket if the writer was not
/// finished (the trace format allows that; serde_json does not).
pub fn parse_events(text: &str) -> Vec<Value> {
    let t = text.trim();
    if t.is_empty() {
        return Vec::new();
    }
    let fixed = if t.ends_with(']') {
        t.to_owned()
    } else {
        format!("{}]", t.trim_end_matches(','))
    };
    serde_json::from_str::<Vec<Value>>(&fixed).unwrap_or_default()
}

fn arg(e: &Value, name: &str) -> Option<String> {
    e.get("args")?.get(name).map(|v| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    })
}

/// Pairs `B`/`E` events of spans named `dispatch` on each thread.
pub fn dispatch_spans(events: &[Value]) -> Vec<Span> {
    let mut open: std::collections::HashMap<(i64, String), Vec<f64>> = Default::default();
    let mut out = Vec::new();
    for e in events {
        if e.get("name").and_then(Value::as_str) != Some("dispatch") {
            continue;
        }
        let (Some(key), Some(sample)) = (
            arg(e, "kernel"),
            arg(e, "sample").and_then(|s| s.parse().ok()),
        ) else {
            continue;
        };
        let tid = e.get("tid").and_then(Value::as_i64).unwrap_or(0);
        let ts = e.get("ts").and_then(Value::as_f64).unwrap_or(0.0);
        let id = (tid, format!("{key}#{sample}"));
        match e.get("ph").and_then(Value::as_str) {
            Some("B") => open.entry(id).or_default().push(ts),
            Some("E") => {
                if let Some(begin_us) = open.get_mut(&id).and_then(Vec::pop) {
                    out.push(Span {
                        key,
                        sample,
                        begin_us,
                        end_us: ts,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// The clock offset (µs) and its uncertainty, or `None` when no single offset fits.
pub fn align(pairs: &[(&Span, &GpuEvent)]) -> Option<(f64, f64)> {
    let mut lo = f64::NEG_INFINITY;
    let mut hi = f64::INFINITY;
    for (s, g) in pairs {
        lo = lo.max(s.begin_us - g.begin_ns as f64 / 1e3);
        hi = hi.min(s.end_us - g.end_ns as f64 / 1e3);
    }
    (!pairs.is_empty() && lo <= hi).then(|| ((lo + hi) / 2.0, (hi - lo) / 2.0))
}

/// A host-clock window known to contain one GPU event (a burn's submission: from its
/// submit to its completion seen), in µs since the anchor span began.
#[derive(Debug, Clone)]
pub struct Window {
    pub key: String,
    pub sample: u32,
    pub begin_us: f64,
    pub end_us: f64,
}

/// One sample of a counter track (`"ph": "C"`): a track per name, a series per value.
#[derive(Debug, Clone)]
pub struct Counter {
    pub name: String,
    /// µs since the anchor span began.
    pub at_us: f64,
    pub values: Vec<(String, f64)>,
}

/// Events timed from the start of a CPU span (`anchor`, e.g. `burn`) rather than
/// traced as spans: windows for aligning the GPU track, and counters.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub anchor: String,
    pub windows: Vec<Window>,
    pub counters: Vec<Counter>,
}

/// The merged trace: CPU events, named tracks, and the GPU track.
pub fn merge(cpu_text: &str, gpu: &[GpuEvent], adapter_name: &str) -> Value {
    merge_with(cpu_text, gpu, adapter_name, &Extra::default())
}

/// [`merge`] with events timed from an anchor span: the windows align the GPU track as
/// dispatch spans do, and the counters become counter tracks (Perfetto draws each as a
/// graph under "telemetry").
pub fn merge_with(cpu_text: &str, gpu: &[GpuEvent], adapter_name: &str, extra: &Extra) -> Value {
    let mut events = parse_events(cpu_text);
    let mut spans = dispatch_spans(&events);
    let anchor = events
        .iter()
        .find(|e| {
            e.get("name").and_then(Value::as_str) == Some(extra.anchor.as_str())
                && e.get("ph").and_then(Value::as_str) == Some("B")
        })
        .and_then(|e| e.get("ts").and_then(Value::as_f64));
    if let Some(ts0) = anchor {
        spans.extend(extra.windows.iter().map(|w| Span {
            key: w.key.clone(),
            sample: w.sample,
            begin_us: ts0 + w.begin_us,
            end_us: ts0 + w.end_us,
        }));
        if !extra.counters.is_empty() {
            events.push(
                json!({"ph": "M", "pid": 3, "name": "process_name", "args": {"name": "telemetry"}}),
            );
            events.push(json!({"ph": "M", "pid": 3, "name": "process_sort_index", "args": {"sort_index": 2}}));
        }
        for c in &extra.counters {
            let args: serde_json::Map<String, Value> = c
                .values
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            events.push(json!({
                "ph": "C", "pid": 3, "tid": 1, "name": c.name, "ts": ts0 + c.at_us, "args": args,
            }));
        }
    }
    let by_dispatch: HashMap<(&str, u32), &Span> = spans
        .iter()
        .map(|s| ((s.key.as_str(), s.sample), s))
        .collect();
    let pairs: Vec<(&Span, &GpuEvent)> = gpu
        .iter()
        .filter_map(|g| {
            by_dispatch
                .get(&(g.key.as_str(), g.sample))
                .map(|s| (*s, g))
        })
        .collect();
    let global = align(&pairs);
    let alignment = match global {
        Some((_, u)) => format!("single clock offset from {} dispatch spans, uncertainty ±{u:.1} µs", pairs.len()),
        None if pairs.is_empty() => "no GPU timestamps (wall-clock timing): no GPU track".to_owned(),
        None => "no single clock offset fits every dispatch (drift); each GPU event centred in its own dispatch span".to_owned(),
    };
    events.push(json!({"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "CPU"}}));
    events.push(
        json!({"ph": "M", "pid": 1, "name": "process_sort_index", "args": {"sort_index": 0}}),
    );
    if !pairs.is_empty() {
        events.push(json!({"ph": "M", "pid": 2, "name": "process_name", "args": {"name": format!("GPU: {adapter_name}")}}));
        events.push(
            json!({"ph": "M", "pid": 2, "name": "process_sort_index", "args": {"sort_index": 1}}),
        );
        events.push(json!({"ph": "M", "pid": 2, "tid": 1, "name": "thread_name", "args": {"name": "queue"}}));
    }
    for (s, g) in &pairs {
        let dur = (g.end_ns - g.begin_ns) as f64 / 1e3;
        let ts = match global {
            Some((off, _)) => g.begin_ns as f64 / 1e3 + off,
            None => (s.begin_us + s.end_us) / 2.0 - dur / 2.0,
        };
        events.push(json!({
            "ph": "X", "pid": 2, "tid": 1, "name": g.key, "cat": "gpu",
            "ts": ts, "dur": dur,
            "args": {"sample": g.sample, "gpu_ns": g.end_ns - g.begin_ns},
        }));
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {"tool": "gpu-canary", "clock_alignment": alignment},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(key: &str, sample: u32, b: u64, e: u64) -> GpuEvent {
        GpuEvent {
            key: key.into(),
            sample,
            begin_ns: b,
            end_ns: e,
        }
    }

    #[test]
    fn the_stream_writes_whole_events_only() {
        let whole = |p: &str| {
            Stream {
                pending: p.as_bytes().to_vec(),
                ..Stream::default()
            }
            .whole()
        };
        assert_eq!(whole("[\n"), 2);
        assert_eq!(whole("[\n{\"a\":1}"), 9);
        assert_eq!(
            whole("[\n{\"a\":1},\n{\"b\":"),
            9,
            "up to the last whole event"
        );
        assert_eq!(whole("{\"a\":1},\n{\"b\":2}"), 16);
        assert_eq!(whole("{\"a\":{\"x\":1}"), 0, "half an event waits");
        assert_eq!(whole(",\n{\"b\":2}\n]"), 11, "the array's end");
    }

    #[test]
    fn unterminated_trace_parses() {
        let t = "[\n{\"ph\":\"B\",\"name\":\"dispatch\",\"ts\":1.0,\"tid\":1,\"args\":{\"kernel\":\"k\",\"sample\":\"0\"}},\n{\"ph\":\"E\",\"name\":\"dispatch\",\"ts\":9.0,\"tid\":1,\"args\":{\"kernel\":\"k\",\"sample\":\"0\"}}";
        let s = dispatch_spans(&parse_events(t));
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].begin_us, s[0].end_us), (1.0, 9.0));
    }

    #[test]
    fn aligned_events_fall_inside_their_spans() {
        // GPU clock = CPU clock + 1000 µs; dispatches of 2 µs inside 10 µs spans.
        let spans: Vec<Span> = (0..5)
            .map(|i| Span {
                key: "k".into(),
                sample: i,
                begin_us: 100.0 * f64::from(i),
                end_us: 100.0 * f64::from(i) + 10.0,
            })
            .collect();
        let gpu: Vec<GpuEvent> = (0..5u64)
            .map(|i| {
                ev(
                    "k",
                    i as u32,
                    (1_000_000 + i * 100_000) + 3_000,
                    (1_000_000 + i * 100_000) + 5_000,
                )
            })
            .collect();
        let pairs: Vec<_> = spans.iter().zip(&gpu).collect();
        let (off, unc) = align(&pairs).unwrap();
        for (s, g) in &pairs {
            let b = g.begin_ns as f64 / 1e3 + off;
            let e = g.end_ns as f64 / 1e3 + off;
            assert!(
                b >= s.begin_us && e <= s.end_us,
                "{b}..{e} outside {}..{}",
                s.begin_us,
                s.end_us
            );
        }
        assert!(unc <= 4.0);
    }

    #[test]
    fn inconsistent_clocks_have_no_single_offset() {
        let s = [
            Span {
                key: "k".into(),
                sample: 0,
                begin_us: 0.0,
                end_us: 10.0,
            },
            Span {
                key: "k".into(),
                sample: 1,
                begin_us: 100.0,
                end_us: 110.0,
            },
        ];
        let g = [ev("k", 0, 0, 5_000), ev("k", 1, 500_000, 505_000)];
        assert!(align(&[(&s[0], &g[0]), (&s[1], &g[1])]).is_none());
    }

    #[test]
    fn counters_and_windows_are_placed_from_their_anchor_span() {
        let cpu = r#"[{"ph":"B","pid":1,"tid":1,"ts":1000.0,"name":"burn"},"#;
        let extra = Extra {
            anchor: "burn".into(),
            windows: vec![Window {
                key: "k".into(),
                sample: 0,
                begin_us: 10.0,
                end_us: 50.0,
            }],
            counters: vec![Counter {
                name: "temperature (°C)".into(),
                at_us: 25.0,
                values: vec![("gpu".into(), 63.0)],
            }],
        };
        // A GPU event of 20 µs on its own clock, somewhere in its window.
        let t = merge_with(cpu, &[ev("k", 0, 5_000, 25_000)], "gpu", &extra);
        let events = t["traceEvents"].as_array().unwrap();
        let c = events.iter().find(|e| e["ph"] == "C").unwrap();
        assert_eq!(c["ts"], 1025.0);
        assert_eq!(c["pid"], 3);
        assert_eq!(c["args"]["gpu"], 63.0);
        let g = events
            .iter()
            .find(|e| e["pid"] == 2 && e["ph"] == "X")
            .unwrap();
        let ts = g["ts"].as_f64().unwrap();
        assert!((1010.0..=1030.0).contains(&ts), "{g}");
    }
}
