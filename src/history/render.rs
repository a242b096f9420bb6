//! Rendering: the SVG (a panel per kernel) and the Markdown table of what was loaded
//! and judged.

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

// SVG text: control characters are not allowed in XML at all (plotters escapes <&>
// but passes them through).
use crate::text::printable;

use super::load::{History, Mark, MarkKind, Point, WINDOW, window_band};
use super::peers::{PeerGroup, peer_lines};

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
pub(super) fn axis_scale(top: f64, unit: &str) -> (f64, String) {
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
pub(super) fn tick(v: f64) -> String {
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
            draw_series(&mut chart, h, gi, group, pts, ymax)?;
        }
        draw_marks(&mut chart, h.marks.get(key).into_iter().flatten(), ymax)?;
    }
    root.present().map_err(|e| e.to_string())
}

/// A chart panel of the SVG.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One series of a panel: its window band, the p5–p95 band, the medians, each run's
/// fastest sample, driver changes, and its name in the legend (the `gi`-th).
fn draw_series(
    chart: &mut Chart<'_, '_>,
    h: &History,
    gi: usize,
    group: &str,
    pts: &[Point],
    ymax: f64,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
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
    Ok(())
}

/// The runs of a panel without a point, marked on its axis.
fn draw_marks<'m>(
    chart: &mut Chart<'_, '_>,
    marks: impl Iterator<Item = &'m Mark>,
    ymax: f64,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    // Runs without a point: failed (red ×), skipped (grey ○), stopped before it
    // (orange □), on the axis with their word.
    for m in marks {
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
    Ok(())
}
