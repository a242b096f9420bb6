//! Many gpu-canary results → one SVG with a panel per kernel (median throughput per
//! run with the p5–p95 band of its samples, each run's fastest sample as a cross, the
//! window band `compare --baseline` judges the newest run against, driver changes
//! marked) and a Markdown
//! table of the same series. Runs are grouped by adapter: one series per adapter in
//! each panel. Directories are searched for every `*.json` that is a gpu-canary result
//! (whatever its name: downloaded artifacts get renamed); other JSON is skipped with a
//! note.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

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

#[derive(Debug, Clone)]
pub struct Point {
    pub started_at: String,
    pub commit: Option<String>,
    /// The card that ran (its PCI address, else NVML's UUID), where recorded: a lane's
    /// runs move over its cards, and one slow card shows as its own cluster.
    pub card: Option<String>,
    pub driver: String,
    pub median: f64,
    pub p5: f64,
    pub p95: f64,
    /// At the run's fastest sample: what `compare`'s window judges.
    pub best: f64,
    pub unit: String,
    /// The run stopped early or never finished: marked, and no part of a window.
    pub partial: bool,
}

/// (kernel key, adapter name) → points in time order.
pub type Series = BTreeMap<(String, String), Vec<Point>>;

pub fn series(reports: &[RunReport]) -> Series {
    let mut sorted: Vec<&RunReport> = reports.iter().collect();
    sorted.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    let mut out = Series::new();
    for r in sorted {
        let Some(adapter) = &r.adapter else { continue };
        for k in r
            .kernels
            .iter()
            .filter(|k| k.status == KernelStatus::Pass && !k.samples_ns.is_empty())
        {
            let Some(t) = &k.throughput else { continue };
            let rates = stats::sorted(
                &k.samples_ns
                    .iter()
                    .map(|&s| t.work_per_run / s.max(1) as f64)
                    .collect::<Vec<_>>(),
            );
            out.entry((k.key(), adapter.name.clone()))
                .or_default()
                .push(Point {
                    started_at: r.started_at.clone(),
                    commit: r.tool.git_commit.clone(),
                    card: card_of(r),
                    driver: format!("{} {}", adapter.driver, adapter.driver_info)
                        .trim()
                        .to_owned(),
                    median: t.median,
                    p5: stats::percentile(&rates, 5.0),
                    p95: stats::percentile(&rates, 95.0),
                    best: rates[rates.len() - 1],
                    unit: t.unit.clone(),
                    partial: crate::compare::incomplete(r).is_some(),
                });
        }
    }
    out
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
/// newest, when there are enough for `compare`'s window method.
pub fn window_band(pts: &[Point]) -> Option<(f64, f64)> {
    let before: Vec<&Point> = pts[..pts.len().checked_sub(1)?]
        .iter()
        .filter(|p| !p.partial)
        .collect();
    let window = &before[before.len().saturating_sub(WINDOW)..];
    (window.len() >= crate::compare::MIN_WINDOW).then(|| {
        let best: Vec<f64> = window.iter().map(|p| p.best).collect();
        crate::compare::Prediction::of(&best).bounds()
    })
}

pub fn render_md(s: &Series) -> String {
    let mut md = String::from(
        "| kernel | adapter | card | run | commit | driver | median | p5 | p95 |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for ((key, adapter), pts) in s {
        for p in pts {
            let commit = p
                .commit
                .as_deref()
                .map(|c| &c[..c.len().min(10)])
                .unwrap_or("-");
            md.push_str(&format!(
                "| {key} | {adapter} | {} | {}{} | {commit} | {} | {:.3} {} | {:.3} | {:.3} |\n",
                p.card.as_deref().unwrap_or("-"),
                p.started_at,
                if p.partial { " (stopped early)" } else { "" },
                p.driver,
                p.median,
                p.unit,
                p.p5,
                p.p95
            ));
        }
    }
    let bands: Vec<String> = s
        .iter()
        .filter_map(|((key, adapter), pts)| {
            let (lo, hi) = window_band(pts)?;
            let n = (pts.len() - 1).min(WINDOW);
            let unit = &pts[0].unit;
            Some(format!(
                "- {key} on {adapter}: the {n} runs before the newest predict {lo:.3} to {hi:.3} {unit} at the fastest sample; the newest has {:.3}\n",
                pts[pts.len() - 1].best
            ))
        })
        .collect();
    if !bands.is_empty() {
        md.push_str("\nWindow (what `compare --baseline` judges the newest run against, the band in the chart):\n\n");
        md.extend(bands);
    }
    md
}

pub fn render_svg(s: &Series, path: &Path) -> Result<(), String> {
    let kernels: Vec<&String> = {
        let mut k: Vec<&String> = s.keys().map(|(k, _)| k).collect();
        k.dedup();
        k
    };
    let panel_h = 260u32;
    let root =
        SVGBackend::new(path, (960, panel_h * kernels.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((kernels.len().max(1), 1));
    for (panel, key) in panels.iter().zip(&kernels) {
        let groups: Vec<(&String, &Vec<Point>)> = s
            .iter()
            .filter(|((k, _), _)| k == *key)
            .map(|((_, a), p)| (a, p))
            .collect();
        let n = groups.iter().map(|(_, p)| p.len()).max().unwrap_or(1);
        let ymax = groups
            .iter()
            .flat_map(|(_, p)| p.iter().map(|q| q.p95.max(q.median)))
            .fold(0.0f64, f64::max)
            * 1.15
            + f64::MIN_POSITIVE;
        let unit = groups
            .first()
            .and_then(|(_, p)| p.first())
            .map(|p| p.unit.clone())
            .unwrap_or_default();
        let mut chart = ChartBuilder::on(panel)
            .caption(key.as_str(), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5).max(0.5), 0.0..ymax)
            .map_err(|e| e.to_string())?;
        let x_label = |x: &f64| {
            if x.fract() == 0.0 && *x >= 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        };
        let y_label = |y: &f64| format!("{y:.3e}");
        chart
            .configure_mesh()
            .x_labels(n.clamp(2, 20) * 2 + 1)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc("run (oldest → newest)")
            .y_desc(unit.as_str())
            .draw()
            .map_err(|e| e.to_string())?;
        for (gi, (adapter, pts)) in groups.iter().enumerate() {
            let color = Palette99::pick(gi).to_rgba();
            // What `compare --baseline` would judge the newest run against: the
            // prediction interval of the runs before it.
            if let Some((lo, hi)) = window_band(pts) {
                let x0 = pts.len().saturating_sub(1 + WINDOW) as f64 - 0.5;
                let x1 = pts.len() as f64 - 1.5;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, lo), (x1, hi)],
                        color.mix(0.08).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x0, lo), (x1, lo)],
                        color.stroke_width(1),
                    )))
                    .map_err(|e| e.to_string())?;
            }
            let band: Vec<(f64, f64)> = pts
                .iter()
                .enumerate()
                .map(|(i, p)| (i as f64, p.p95))
                .chain(pts.iter().enumerate().rev().map(|(i, p)| (i as f64, p.p5)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled())))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(
                    pts.iter().enumerate().map(|(i, p)| (i as f64, p.median)),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    pts.iter()
                        .enumerate()
                        .map(|(i, p)| Circle::new((i as f64, p.median), 3, color.filled())),
                )
                .map_err(|e| e.to_string())?;
            // Each run's fastest sample: what the window band is built from.
            chart
                .draw_series(
                    pts.iter()
                        .enumerate()
                        .map(|(i, p)| Cross::new((i as f64, p.best), 3, color.stroke_width(1))),
                )
                .map_err(|e| e.to_string())?;
            // Driver changes: a marker and the new driver's name.
            for i in 1..pts.len() {
                if pts[i].driver != pts[i - 1].driver {
                    let at = (i as f64, pts[i].median);
                    chart
                        .draw_series(std::iter::once(TriangleMarker::new(at, 8, RED.filled())))
                        .map_err(|e| e.to_string())?;
                    chart
                        .draw_series(std::iter::once(Text::new(
                            format!("driver {}", pts[i].driver),
                            (i as f64, ymax * 0.92),
                            ("sans-serif", 12).into_font().color(&RED),
                        )))
                        .map_err(|e| e.to_string())?;
                }
            }
            chart
                .draw_series(std::iter::once(Text::new(
                    adapter.to_string(),
                    (-0.4, ymax * (0.97 - 0.06 * gi as f64)),
                    ("sans-serif", 12).into_font().color(&color),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())
}

/// Reads the results, writes the chart and the table.
pub fn run(cfg: &HistoryConfig) -> Result<()> {
    let (files, other) = find_results(&cfg.inputs)?;
    for f in &other {
        crate::console::err(&format!(
            "note: skipping {}: not a gpu-canary result",
            f.display()
        ));
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
    let s = series(&reports);
    if s.is_empty() {
        return Err(Error::usage(format!(
            "no verified kernel results in {} file(s); nothing to chart",
            reports.len()
        )));
    }
    render_svg(&s, &cfg.svg)
        .map_err(|e| Error::io(format!("cannot write {}: {e}", cfg.svg.display())))?;
    let md = render_md(&s);
    match &cfg.md {
        Some(p) => crate::export::write_atomic(p, md.as_bytes())
            .map_err(|e| Error::io(format!("cannot write {}: {e}", p.display())))?,
        None => crate::console::text(&md),
    }
    Ok(())
}
