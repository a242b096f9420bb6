//! Judging: each card against the other cards of its model and driver, beyond the
//! lane's own noise.

use std::collections::{BTreeMap, BTreeSet};

use super::load::{History, WINDOW};
use crate::stats;

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
