//! Results → the runs in time order and each kernel's series (one per adapter, and
//! per card where an adapter has several), with the runs where a kernel has no point.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{KernelStatus, RunReport};
use crate::stats;

/// One run: a position on the x axis.
#[derive(Debug, Clone)]
pub struct Run {
    pub started_at: String,
    pub commit: Option<String>,
    /// The card that ran (its PCI address, else NVML's UUID), where recorded.
    pub card: Option<String>,
    pub driver: String,
    /// Its GPU was busy, throttled or on a degraded link: `compare` leaves such a run out
    /// of a window, and the peers leave it out too.
    pub suspect: bool,
}

impl Run {
    /// The x axis' label: the day (MM-DD) and the short commit.
    pub fn label(&self) -> String {
        let day = self.started_at.get(5..10).unwrap_or(&self.started_at);
        match &self.commit {
            Some(c) => format!("{day} {}", &c[..c.len().min(7)]),
            None => day.to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Point {
    /// The run's index in [`History::runs`].
    pub x: usize,
    pub median: f64,
    pub p5: f64,
    pub p95: f64,
    /// At the run's fastest sample: what `compare`'s window judges.
    pub best: f64,
    pub unit: String,
    /// The run stopped early or never finished: drawn hollow, and no part of a window.
    pub partial: bool,
    /// The case's launch configuration (variant, workgroup, constants): cards are held
    /// against peers of the same one only.
    pub launch: String,
}

/// A run where a kernel has no point: why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkKind {
    /// A wrong result, or an error of the environment.
    Failed,
    Skipped,
    /// The run stopped in or before the kernel.
    Stopped,
}

impl MarkKind {
    pub fn word(self) -> &'static str {
        match self {
            MarkKind::Failed => "failed",
            MarkKind::Skipped => "skipped",
            MarkKind::Stopped => "the run stopped",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Mark {
    pub x: usize,
    pub kind: MarkKind,
    pub group: String,
}

/// (kernel key, series name) → points in time order.
pub type Series = BTreeMap<(String, String), Vec<Point>>;

/// What the chart and the table draw.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub runs: Vec<Run>,
    pub series: Series,
    /// Kernel key → the runs where it has no point.
    pub marks: BTreeMap<String, Vec<Mark>>,
}

impl History {
    pub fn of(reports: &[RunReport]) -> History {
        let mut sorted: Vec<&RunReport> = reports.iter().filter(|r| r.adapter.is_some()).collect();
        sorted.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        // An adapter seen on several cards gets a series per card.
        let mut cards: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for r in &sorted {
            if let (Some(a), Some(c)) = (&r.adapter, card_of(r)) {
                cards.entry(a.name.as_str()).or_default().insert(c);
            }
        }
        let known: BTreeSet<String> = sorted
            .iter()
            .flat_map(|r| r.kernels.iter().map(|k| k.key()))
            .collect();
        let mut h = History::default();
        for (x, r) in sorted.iter().enumerate() {
            let adapter = r.adapter.as_ref().expect("filtered");
            let card = card_of(r);
            let group = match &card {
                Some(c)
                    if cards
                        .get(adapter.name.as_str())
                        .is_some_and(|s| s.len() > 1) =>
                {
                    format!("{} · {c}", adapter.name)
                }
                _ => adapter.name.clone(),
            };
            let partial = crate::compare::incomplete(r).is_some();
            h.runs.push(Run {
                started_at: r.started_at.clone(),
                commit: r.tool.git_commit.clone(),
                card,
                driver: format!("{} {}", adapter.driver, adapter.driver_info)
                    .trim()
                    .to_owned(),
                suspect: r.hygiene.as_ref().is_some_and(|h| h.timing_suspect()),
            });
            let mut mark = |key: String, kind| {
                h.marks.entry(key).or_default().push(Mark {
                    x,
                    kind,
                    group: group.clone(),
                })
            };
            for k in &r.kernels {
                let kind = match k.status {
                    KernelStatus::Pass => None,
                    KernelStatus::Skipped => Some(MarkKind::Skipped),
                    KernelStatus::Fail | KernelStatus::Error => Some(MarkKind::Failed),
                };
                let point = match (kind, &k.throughput, k.samples_ns.is_empty()) {
                    (None, Some(t), false) => {
                        let rates = stats::sorted(
                            &k.samples_ns
                                .iter()
                                .map(|&s| t.work_per_run / s.max(1) as f64)
                                .collect::<Vec<_>>(),
                        );
                        Some(Point {
                            x,
                            median: t.median,
                            p5: stats::percentile(&rates, 5.0),
                            p95: stats::percentile(&rates, 95.0),
                            best: rates[rates.len() - 1],
                            unit: t.unit.clone(),
                            partial,
                            launch: k
                                .launch
                                .as_ref()
                                .map(|l| serde_json::to_string(l).unwrap_or_default())
                                .unwrap_or_default(),
                        })
                    }
                    _ => None,
                };
                match (point, kind) {
                    (Some(p), _) => h
                        .series
                        .entry((k.key(), group.clone()))
                        .or_default()
                        .push(p),
                    (None, Some(kind)) => mark(k.key(), kind),
                    // Passed without timings (--unchecked has timings; nothing else
                    // lacks them): nothing to draw.
                    (None, None) => {}
                }
            }
            // A stopped run lacks the kernels after the one it stopped in.
            if partial {
                let here: BTreeSet<String> = r.kernels.iter().map(|k| k.key()).collect();
                for key in known.difference(&here) {
                    mark(key.clone(), MarkKind::Stopped);
                }
            }
        }
        h
    }

    /// Kernel keys, each once, in order.
    pub fn kernels(&self) -> Vec<String> {
        let mut k: BTreeSet<String> = self.series.keys().map(|(k, _)| k.clone()).collect();
        k.extend(self.marks.keys().cloned());
        k.into_iter().collect()
    }

    /// The kernels the chart draws: those with a point or a run that failed or stopped
    /// in them. A case skipped in every run (no tensor cores on this lane) is left to
    /// the table.
    pub fn charted(&self) -> Vec<String> {
        self.kernels()
            .into_iter()
            .filter(|k| {
                self.series.keys().any(|(key, _)| key == k)
                    || self
                        .marks
                        .get(k)
                        .is_some_and(|m| m.iter().any(|m| m.kind != MarkKind::Skipped))
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// The card a run ran on: its PCI address (adapter, else hygiene), else its UUID.
pub fn card_of(r: &RunReport) -> Option<String> {
    let id = r.hygiene.as_ref().and_then(|h| h.identity.as_ref());
    r.adapter
        .as_ref()
        .and_then(|a| a.pci_bus_id.clone())
        .or_else(|| id.and_then(|i| i.pci_bus_id.clone()))
        .or_else(|| id.and_then(|i| i.uuid.clone()))
}

/// Runs in the window the chart draws (the workflow's default).
pub const WINDOW: usize = 10;

/// The window band of a series: the prediction interval (in its throughput unit, at
/// each run's fastest sample, as `compare` judges) of up to [`WINDOW`] runs before the
/// newest, when there are enough for `compare`'s window method; with the x span of
/// those runs.
pub fn window_band(pts: &[Point]) -> Option<((f64, f64), (usize, usize))> {
    let before: Vec<&Point> = pts[..pts.len().checked_sub(1)?]
        .iter()
        .filter(|p| !p.partial)
        .collect();
    let window = &before[before.len().saturating_sub(WINDOW)..];
    (window.len() >= crate::compare::MIN_WINDOW).then(|| {
        let best: Vec<f64> = window.iter().map(|p| p.best).collect();
        (
            crate::compare::Prediction::of(&best).bounds(),
            (window[0].x, window[window.len() - 1].x),
        )
    })
}
