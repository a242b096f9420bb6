//! Many gpu-canary results → one SVG with a panel per kernel (median throughput per
//! run with the p5–p95 band of its samples, each run's fastest sample as a cross, the
//! window band `compare --baseline` judges the newest run against, driver changes
//! marked, failed, skipped and stopped runs marked where their point would be) and a
//! Markdown table of the same series. The x axis is the runs in time order, labelled
//! with each run's date and short commit; the y axis speaks the console's SI prefixes.
//! Runs are grouped by adapter, and by card where an adapter has several: one series
//! each. Cards of one model and driver are judged against their peers. Directories are
//! searched for every `*.json` that is a gpu-canary result (whatever its name:
//! downloaded artifacts get renamed); other JSON is skipped with a note.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use plotters::prelude::*;

// SVG text: control characters are not allowed in XML at all (plotters escapes <&>
// but passes them through).
use crate::text::printable;

use crate::error::{Error, Result};
use crate::model::{KernelStatus, RunReport, find_results, read_report};
use crate::stats;

/// What to chart (`HistoryConfig::from_args` in `config`).
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    /// Result files, or directories searched for them.
    pub inputs: Vec<PathBuf>,
    pub svg: PathBuf,
    /// Where the Markdown table goes (stdout when absent).
    pub md: Option<PathBuf>,
}

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

/// A card judged against the other cards of its model and driver, on one kernel.
#[derive(Debug, Clone)]
pub struct PeerFinding {
    pub kernel: String,
    pub card: String,
    pub peers: usize,
    /// How much slower its median throughput is than the median of its peers' (0.14:
    /// 14 % slower; negative is faster).
    pub slower: f64,
    /// The lane's own noise at this comparison, in the same terms: a gap within it is
    /// what the same card shows from run to run.
    pub bound: f64,
}

/// The cards of one adapter model and driver, against each other.
#[derive(Debug, Clone)]
pub struct PeerGroup {
    pub adapter: String,
    pub driver: String,
    pub cards: usize,
    /// Runs behind the noise estimate (repeated runs on one card); `None` when there
    /// were too few to know the noise and nothing was judged.
    pub noise_runs: Option<usize>,
    /// The cards slower than their peers beyond the noise.
    pub slower: Vec<PeerFinding>,
    /// Kernels judged.
    pub kernels: usize,
}

/// The smallest gap to the peers that is named: `compare`'s default threshold.
const THRESHOLD: f64 = crate::model::comparison::DEFAULT_THRESHOLD_PCT / 100.0;

/// Cards of one model and driver (three or more: a card and at least two peers, so
/// their median says what the model does) against their peers, kernel by kernel. Each
/// card's value is the geometric mean of its newest [`WINDOW`] complete runs' median
/// throughputs, of runs whose hygiene `compare` trusts, with the same launch
/// configuration. The lane's noise is the spread of runs on the same card (pooled over
/// the cards, in logs); a card is flagged when its gap to the peers' median exceeds the
/// one-sided prediction bound t(1 − α, df)·s·√(1/n + 1/m) at `compare`'s α, with n the
/// card's runs and m the fewest of any peer, and `compare`'s default threshold.
pub fn peers(h: &History) -> Vec<PeerGroup> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    // (adapter, driver) → (kernel, launch) → card → log throughputs, oldest first.
    type Logs = BTreeMap<(String, String), BTreeMap<String, Vec<f64>>>;
    let mut groups: BTreeMap<(String, String), Logs> = BTreeMap::new();
    for ((key, group), pts) in &h.series {
        let adapter = group.split(" · ").next().unwrap_or(group).to_owned();
        for p in pts.iter().filter(|p| !p.partial && p.median > 0.0) {
            let run = &h.runs[p.x];
            let Some(card) = run.card.as_ref().filter(|_| !run.suspect) else {
                continue;
            };
            groups
                .entry((adapter.clone(), run.driver.clone()))
                .or_default()
                .entry((key.clone(), p.launch.clone()))
                .or_default()
                .entry(card.clone())
                .or_default()
                .push(p.median.ln());
        }
    }
    let mut out = Vec::new();
    for ((adapter, driver), kernels) in groups {
        let cards: BTreeSet<&String> = kernels.values().flat_map(|c| c.keys()).collect();
        if cards.len() < 2 {
            continue;
        }
        let mut g = PeerGroup {
            adapter,
            driver,
            cards: cards.len(),
            noise_runs: None,
            slower: Vec::new(),
            kernels: 0,
        };
        for ((key, _), by_card) in &kernels {
            let windows: Vec<(&String, &[f64])> = by_card
                .iter()
                .map(|(c, l)| (c, &l[l.len().saturating_sub(WINDOW)..]))
                .collect();
            if windows.len() < 3 {
                continue;
            }
            let n_all: usize = windows.iter().map(|(_, l)| l.len()).sum();
            let df = n_all - windows.len();
            if df + 1 < crate::compare::MIN_WINDOW {
                continue;
            }
            let mean = |l: &[f64]| l.iter().sum::<f64>() / l.len() as f64;
            let ss: f64 = windows
                .iter()
                .map(|(_, l)| {
                    let m = mean(l);
                    l.iter().map(|x| (x - m).powi(2)).sum::<f64>()
                })
                .sum();
            let s = (ss / df as f64).sqrt();
            let t = StudentsT::new(0.0, 1.0, df as f64)
                .expect("df ≥ 1")
                .inverse_cdf(1.0 - crate::compare::WINDOW_ALPHA);
            g.noise_runs = Some(g.noise_runs.unwrap_or(0).max(n_all));
            g.kernels += 1;
            for (i, (card, l)) in windows.iter().enumerate() {
                let others: Vec<&(&String, &[f64])> = windows
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, w)| w)
                    .collect();
                let centre = stats::median(&stats::sorted(
                    &others.iter().map(|(_, o)| mean(o)).collect::<Vec<_>>(),
                ));
                let fewest = others.iter().map(|(_, o)| o.len()).min().unwrap_or(1);
                let bound = t * s * (1.0 / l.len() as f64 + 1.0 / fewest as f64).sqrt();
                let gap = centre - mean(l);
                // Beyond the noise and beyond compare's threshold: a card 1 % slower
                // than its peers is not worth an operator's time however sure it is.
                if gap > bound && gap > -(1.0 - THRESHOLD).ln() {
                    g.slower.push(PeerFinding {
                        kernel: key.clone(),
                        card: (*card).clone(),
                        peers: others.len(),
                        slower: 1.0 - (-gap).exp(),
                        bound: 1.0 - (-bound).exp(),
                    });
                }
            }
        }
        out.push(g);
    }
    out
}

/// What [`peers`] found, a line each, for people.
pub fn peer_lines(groups: &[PeerGroup]) -> Vec<String> {
    let mut lines = Vec::new();
    for g in groups {
        let what = format!("{} cards of {} ({})", g.cards, g.adapter, g.driver);
        match g.noise_runs {
            _ if g.cards < 3 => lines.push(format!(
                "{what}: not judged against each other: a card needs at least two peers"
            )),
            None => lines.push(format!(
                "{what}: not judged against each other yet: the lane's noise needs {} repeated runs on its cards",
                crate::compare::MIN_WINDOW
            )),
            Some(n) if g.slower.is_empty() => lines.push(format!(
                "{what}: none is slower than its peers beyond the lane's noise ({} kernels, noise from {n} runs)",
                g.kernels
            )),
            Some(_) => lines.extend(g.slower.iter().map(PeerFinding::line)),
        }
    }
    lines
}

impl PeerFinding {
    /// "card 0000:3b:00.0 is 14 % slower than the median of its 3 peers on ...".
    pub fn line(&self) -> String {
        format!(
            "card {} is {:.0} % slower than the median of its {} peers on {} (the lane's noise allows {:.1} %)",
            self.card,
            self.slower * 100.0,
            self.peers,
            self.kernel,
            self.bound * 100.0
        )
    }
}

/// Series colours that read on white (no yellow), in turn.
fn color_of(i: usize) -> RGBAColor {
    const C: [(u8, u8, u8); 8] = [
        (31, 119, 180),
        (214, 39, 40),
        (44, 160, 44),
        (148, 103, 189),
        (255, 127, 14),
        (140, 86, 75),
        (227, 119, 194),
        (23, 190, 207),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b).to_rgba()
}

/// A throughput axis' prefix: the one that fits its top, so every tick shares it.
fn axis_scale(top: f64, unit: &str) -> (f64, String) {
    let Some(base) = unit.strip_prefix('G') else {
        return (1.0, unit.to_owned());
    };
    let per_s = top * 1e9;
    let (scale, prefix) = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|&(s, _)| per_s >= s)
        .unwrap_or((1.0, ""));
    (scale / 1e9, format!("{prefix}{base}"))
}

/// A tick: up to three significant digits, no trailing zeros ("20", "2.5", "0.125").
fn tick(v: f64) -> String {
    let s = format!("{:.3}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_owned() }
}

pub fn render_md(h: &History, groups: &[PeerGroup]) -> String {
    use crate::export::fmt_rate;
    let mut md = String::from(
        "| kernel | adapter | card | run | commit | driver | median | p5 | p95 |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let row = |md: &mut String, key: &str, group: &str, x: usize, cells: String| {
        let run = &h.runs[x];
        let commit = run
            .commit
            .as_deref()
            .map(|c| &c[..c.len().min(10)])
            .unwrap_or("-");
        // Every name from a result file as a cell that cannot split the row.
        use crate::text::md as cell;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {cells} |\n",
            cell(key),
            cell(group.split(" · ").next().unwrap_or(group)),
            cell(run.card.as_deref().unwrap_or("-")),
            cell(&run.started_at),
            cell(commit),
            cell(&run.driver),
        ));
    };
    for key in h.kernels() {
        // Points and marks of every series, in run order.
        let mut rows: Vec<(usize, &str, String)> = Vec::new();
        for ((k, group), pts) in &h.series {
            if *k != key {
                continue;
            }
            for p in pts {
                rows.push((
                    p.x,
                    group,
                    format!(
                        "{}{} | {} | {}",
                        fmt_rate(p.median, &p.unit),
                        if p.partial { " (stopped early)" } else { "" },
                        fmt_rate(p.p5, &p.unit),
                        fmt_rate(p.p95, &p.unit)
                    ),
                ));
            }
        }
        for m in h.marks.get(&key).into_iter().flatten() {
            rows.push((m.x, &m.group, format!("{} | - | -", m.kind.word())));
        }
        rows.sort_by_key(|r| r.0);
        for (x, group, cells) in rows {
            row(&mut md, &key, group, x, cells);
        }
    }
    let bands: Vec<String> = h
        .series
        .iter()
        .filter_map(|((key, group), pts)| {
            let ((lo, hi), _) = window_band(pts)?;
            let n = pts[..pts.len() - 1].iter().filter(|p| !p.partial).count().min(WINDOW);
            let unit = &pts[0].unit;
            Some(format!(
                "- {} on {}: the {n} runs before the newest predict {} to {} at the fastest sample; the newest has {}\n",
                crate::text::md(key),
                crate::text::md(group),
                fmt_rate(lo, unit),
                fmt_rate(hi, unit),
                fmt_rate(pts[pts.len() - 1].best, unit)
            ))
        })
        .collect();
    if !bands.is_empty() {
        md.push_str("\nWindow (what `compare --baseline` judges the newest run against, the band in the chart):\n\n");
        md.extend(bands);
    }
    let peers = peer_lines(groups);
    if !peers.is_empty() {
        md.push_str("\nCards against their peers (same model and driver):\n\n");
        for l in peers {
            md.push_str(&format!("- {}\n", crate::text::md(&l)));
        }
    }
    md
}

pub fn render_svg(h: &History, path: &Path) -> Result<(), String> {
    let kernels = h.charted();
    let panel_h = 280u32;
    let root =
        SVGBackend::new(path, (1100, panel_h * kernels.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((kernels.len().max(1), 1));
    let n = h.runs.len().max(1);
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    for (panel, key) in panels.iter().zip(&kernels) {
        let groups: Vec<(&String, &Vec<Point>)> = h
            .series
            .iter()
            .filter(|((k, _), _)| k == key)
            .map(|((_, g), p)| (g, p))
            .collect();
        let top = groups
            .iter()
            .flat_map(|(_, p)| p.iter().map(|q| q.p95.max(q.median)))
            .fold(0.0f64, f64::max);
        let unit = groups
            .first()
            .and_then(|(_, p)| p.first())
            .map(|p| p.unit.clone())
            .unwrap_or_default();
        // Headroom for the legend: a line per series above the data.
        let ymax = if top > 0.0 {
            top * (1.15 + 0.08 * groups.len() as f64)
        } else {
            1.0
        };
        let (scale, shown) = axis_scale(ymax, &unit);
        let mut chart = ChartBuilder::on(panel)
            .caption(printable(key), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5).max(0.5), 0.0..ymax)
            .map_err(e)?;
        let x_label = |x: &f64| {
            if x.fract() == 0.0 && *x >= 0.0 && (*x as usize) < h.runs.len() {
                printable(&h.runs[*x as usize].label()).into_owned()
            } else {
                String::new()
            }
        };
        let y_label = |y: &f64| format!("{} {shown}", tick(y / scale));
        chart
            .configure_mesh()
            // About one label per 100 px: a date and a commit each.
            .x_labels(n.min(10))
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc("run (day and commit, oldest → newest)")
            .y_desc(if shown.is_empty() {
                "median throughput (no timed run)".to_owned()
            } else {
                format!("median throughput ({shown})")
            })
            .draw()
            .map_err(e)?;
        for (gi, (group, pts)) in groups.iter().enumerate() {
            let color = color_of(gi);
            let xf = |p: &Point| p.x as f64;
            // What `compare --baseline` would judge the newest run against: the
            // prediction interval of the runs before it.
            if let Some(((lo, hi), (a, b))) = window_band(pts) {
                let (x0, x1) = (a as f64 - 0.4, b as f64 + 0.4);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, lo), (x1, hi)],
                        color.mix(0.08).filled(),
                    )))
                    .map_err(e)?;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x0, lo), (x1, lo)],
                        color.stroke_width(1),
                    )))
                    .map_err(e)?;
            }
            let band: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (xf(p), p.p95))
                .chain(pts.iter().rev().map(|p| (xf(p), p.p5)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled())))
                .map_err(e)?;
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (xf(p), p.median)),
                    color.stroke_width(2),
                ))
                .map_err(e)?;
            // A run that stopped early is drawn hollow.
            chart
                .draw_series(pts.iter().map(|p| {
                    let style = if p.partial {
                        color.stroke_width(1)
                    } else {
                        color.filled()
                    };
                    Circle::new((xf(p), p.median), 3, style)
                }))
                .map_err(e)?;
            // Each run's fastest sample: what the window band is built from.
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Cross::new((xf(p), p.best), 3, color.stroke_width(1))),
                )
                .map_err(e)?;
            // Driver changes: a marker and the new driver's name.
            for w in pts.windows(2) {
                let (before, now) = (&h.runs[w[0].x], &h.runs[w[1].x]);
                if now.driver != before.driver {
                    let at = (xf(&w[1]), w[1].median);
                    chart
                        .draw_series(std::iter::once(TriangleMarker::new(at, 8, RED.filled())))
                        .map_err(e)?;
                    chart
                        .draw_series(std::iter::once(Text::new(
                            format!("driver {}", printable(&now.driver)),
                            (xf(&w[1]), ymax * 0.92),
                            ("sans-serif", 12).into_font().color(&RED),
                        )))
                        .map_err(e)?;
                }
            }
            chart
                .draw_series(std::iter::once(Text::new(
                    printable(group).into_owned(),
                    (-0.4, ymax * (0.97 - 0.06 * gi as f64)),
                    ("sans-serif", 12).into_font().color(&color),
                )))
                .map_err(e)?;
        }
        // Runs without a point: failed (red ×), skipped (grey ○), stopped before it
        // (orange □), on the axis with their word.
        for m in h.marks.get(key).into_iter().flatten() {
            let at = (m.x as f64, ymax * 0.04);
            let label_at = (m.x as f64 + 0.08, ymax * 0.12);
            let font = ("sans-serif", 11).into_font();
            match m.kind {
                MarkKind::Failed => {
                    chart
                        .draw_series(std::iter::once(Cross::new(at, 6, RED.stroke_width(3))))
                        .map_err(e)?;
                    chart
                        .draw_series(std::iter::once(Text::new(
                            "failed",
                            label_at,
                            font.color(&RED),
                        )))
                        .map_err(e)?;
                }
                MarkKind::Skipped => {
                    chart
                        .draw_series(std::iter::once(Circle::new(
                            at,
                            5,
                            BLACK.mix(0.5).stroke_width(2),
                        )))
                        .map_err(e)?;
                    chart
                        .draw_series(std::iter::once(Text::new(
                            "skipped",
                            label_at,
                            font.color(&BLACK.mix(0.6)),
                        )))
                        .map_err(e)?;
                }
                MarkKind::Stopped => {
                    let orange = RGBColor(230, 120, 0);
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(at.0 - 0.06, 0.0), (at.0 + 0.06, ymax * 0.08)],
                            orange.stroke_width(2),
                        )))
                        .map_err(e)?;
                    chart
                        .draw_series(std::iter::once(Text::new(
                            "stopped",
                            label_at,
                            font.color(&orange),
                        )))
                        .map_err(e)?;
                }
            }
        }
    }
    root.present().map_err(|e| e.to_string())
}

/// Reads the results, writes the chart and the table.
pub fn run(cfg: &HistoryConfig) -> Result<()> {
    let (files, other) = find_results(&cfg.inputs)?;
    for (f, why) in &other {
        crate::console::err(&format!("note: skipping {}: {why}", f.display()));
    }
    let mut reports = Vec::new();
    for f in &files {
        match read_report(f) {
            Ok(r) => reports.push(r),
            // A named file must be readable; one found in a directory may be skipped.
            Err(e) if cfg.inputs.contains(f) => return Err(Error::Usage(e)),
            Err(e) => crate::console::err(&format!("warning: skipping {e}")),
        }
    }
    let h = History::of(&reports);
    if h.is_empty() {
        return Err(Error::usage(format!(
            "no verified kernel results in {} file(s); nothing to chart",
            reports.len()
        )));
    }
    render_svg(&h, &cfg.svg)
        .map_err(|e| Error::io(format!("cannot write {}: {e}", cfg.svg.display())))?;
    let groups = peers(&h);
    // A slow card is said on stderr too: the table may go to a file no one opens.
    for f in groups.iter().flat_map(|g| &g.slower) {
        crate::console::err(&format!("warning: {}", f.line()));
    }
    let md = render_md(&h, &groups);
    match &cfg.md {
        Some(p) => crate::export::write_atomic(p, md.as_bytes())
            .map_err(|e| Error::io(format!("cannot write {}: {e}", p.display())))?,
        None => crate::console::text(&md),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `per_card` runs on each card, one kernel, median throughputs of 100 × the card's
    /// factor with ±`noise` of spread; the cards in `suspect` had busy GPUs.
    fn fleet(factors: &[f64], per_card: usize, noise: f64, suspect: &[usize]) -> History {
        let mut h = History::default();
        let mut pts = Vec::new();
        for i in 0..factors.len() * per_card {
            let card = i % factors.len();
            // A spread of ±noise, the same for every card.
            let wiggle = noise * (((i / factors.len()) % 5) as f64 / 2.0 - 1.0);
            h.runs.push(Run {
                started_at: format!("2026-11-{:02}T00:00:00Z", 1 + i % 28),
                commit: None,
                card: Some(format!("0000:{card:02x}:00.0")),
                driver: "d".into(),
                suspect: suspect.contains(&card),
            });
            let m = 100.0 * factors[card] * (1.0 + wiggle);
            pts.push(Point {
                x: i,
                median: m,
                p5: m,
                p95: m,
                best: m,
                unit: "GFLOP/s".into(),
                partial: false,
                launch: String::new(),
            });
        }
        h.series.insert(("k/1".into(), "gpu".into()), pts);
        h
    }

    #[test]
    fn a_card_is_named_only_beyond_the_noise_and_the_threshold() {
        // 0.3 % of noise: a card 1 % slower is beyond it, yet below compare's 5 %.
        let g = peers(&fleet(&[1.0, 1.0, 1.0, 0.99], 10, 0.003, &[]));
        assert!(g[0].slower.is_empty(), "{g:?}");
        // 10 % slower: named.
        let g = peers(&fleet(&[1.0, 1.0, 1.0, 0.9], 10, 0.003, &[]));
        assert_eq!(g[0].slower.len(), 1, "{g:?}");
        assert_eq!(g[0].slower[0].card, "0000:03:00.0");
        assert!((g[0].slower[0].slower - 0.1).abs() < 0.01, "{g:?}");
        // The same card's runs all on a busy GPU: compare would not trust them, nor
        // do the peers; the card is left out, and the other three agree.
        let g = peers(&fleet(&[1.0, 1.0, 1.0, 0.9], 10, 0.003, &[3]));
        assert!(g.iter().all(|g| g.slower.is_empty()), "{g:?}");
        // Noise as large as the gap: not named.
        let g = peers(&fleet(&[1.0, 1.0, 1.0, 0.9], 10, 0.3, &[]));
        assert!(g[0].slower.is_empty(), "{g:?}");
    }

    #[test]
    fn axes_share_one_prefix_and_ticks_drop_trailing_zeros() {
        assert_eq!(axis_scale(2.4e-5, "GFLOP/s"), (1e-6, "kFLOP/s".to_owned()));
        assert_eq!(axis_scale(6.0, "GFLOP/s"), (1.0, "GFLOP/s".to_owned()));
        assert_eq!(axis_scale(0.5, "GB/s"), (1e-3, "MB/s".to_owned()));
        let (scale, _) = axis_scale(2.4e-5, "GFLOP/s");
        assert_eq!(tick(2e-5 / scale), "20");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.0), "0");
    }
}
