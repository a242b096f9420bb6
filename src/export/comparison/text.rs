//! The comparison for the console: a header, the method, and a table.

use super::{cells, method_lines};
use crate::export::lines::adapter_line;
use crate::model::RunReport;
use crate::model::comparison::Comparison;

pub fn render(c: &Comparison, cur: &RunReport) -> String {
    let mut s = String::new();
    let line = |r: &RunReport| {
        r.adapter
            .as_ref()
            .map(adapter_line)
            .unwrap_or_else(|| "no adapter".into())
    };
    s.push_str(&format!(
        "baseline: {}\ncurrent:  {} ({}, {})\n",
        c.baseline,
        c.current,
        line(cur),
        cur.started_at
    ));
    for l in method_lines(c) {
        s.push_str(&l);
        s.push('\n');
    }
    if !c.adapter_differences.is_empty() {
        let gate = if c.comparable {
            "compared anyway (--allow-different-adapter)"
        } else {
            "timings NOT COMPARABLE; no regression is claimed"
        };
        s.push_str(&format!(
            "adapters differ: {} — {gate}\n",
            c.adapter_differences.join("; ")
        ));
    }
    s.push_str(&format!(
        "{:<28} {:<12} {:>10} {:>10} {:>26}  {:<38} verdict (threshold {}%)\n",
        "kernel",
        "correctness",
        "baseline",
        "current",
        "ratio [95% CI or limit]",
        "judged against",
        c.threshold_pct
    ));
    for k in &c.kernels {
        let [key, corr, b, cu, r, how, v] = cells(k);
        s.push_str(&format!(
            "{key:<28} {corr:<12} {b:>10} {cu:>10} {r:>26}  {how:<38} {v}\n"
        ));
    }
    let missing = if c.incomplete.is_some() {
        "missing: the current run stopped before it"
    } else {
        "only in baseline"
    };
    for k in &c.only_in_baseline {
        s.push_str(&format!("{k}: {missing}\n"));
    }
    for k in &c.only_in_current {
        s.push_str(&format!("{k}: only in current\n"));
    }
    if let Some(why) = &c.incomplete {
        s.push_str(&format!("INCONCLUSIVE: {why}\n"));
    }
    for k in &c.wrong_now {
        s.push_str(&format!(
            "{k}: WRONG in the current run (no baseline to compare it with)\n"
        ));
    }
    s
}
