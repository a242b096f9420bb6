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
//!
//! Loading (load.rs), judging the cards against their peers (peers.rs) and rendering
//! (render.rs) stay apart, as `compare` keeps its judging apart from its renderers.

mod load;
mod peers;
mod render;

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::model::{find_results, read_report};

pub use load::{History, Mark, MarkKind, Point, Run, Series, WINDOW, card_of, window_band};
pub use peers::{PeerFinding, PeerGroup, peer_lines, peers};
pub use render::{render_md, render_svg};

/// What to chart (`HistoryConfig::from_args` in `config`).
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    /// Result files, or directories searched for them.
    pub inputs: Vec<PathBuf>,
    pub svg: PathBuf,
    /// Where the Markdown table goes (stdout when absent).
    pub md: Option<PathBuf>,
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
    use super::render::{axis_scale, tick};
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
