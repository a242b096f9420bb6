//! The comparison for a step summary: the method, a table with the window's sparkline.

use super::{cells, method_lines, sparkline};
use crate::model::comparison::Comparison;
use crate::text::md;

pub fn render(c: &Comparison) -> String {
    let mut s = format!(
        "### gpu-canary compare (threshold {}%)\n\n",
        c.threshold_pct
    );
    for l in method_lines(c) {
        s.push_str(&format!("{}  \n", md(&l)));
    }
    s.push('\n');
    if !c.adapter_differences.is_empty() {
        s.push_str(&format!(
            "**Adapters differ**: {}{}\n\n",
            md(&c.adapter_differences.join("; ")),
            if c.comparable {
                ""
            } else {
                " — timings not comparable"
            }
        ));
    }
    s.push_str("| kernel | correctness | baseline | current | ratio [95% CI or limit] | judged against | window │ now (fastest samples) | verdict |\n|---|---|---|---|---|---|---|---|\n");
    for k in &c.kernels {
        let [key, corr, b, cu, r, how, v] = cells(k);
        let spark = match &k.window {
            Some(w) => sparkline(&w.minima_ns, w.current_min_ns),
            None => "-".into(),
        };
        let [key, corr, b, cu, r, how, v] = [key, corr, b, cu, r, how, v].map(|c| md(&c));
        s.push_str(&format!(
            "| {key} | {corr} | {b} | {cu} | {r} | {how} | {spark} | {v} |\n"
        ));
    }
    for k in &c.wrong_now {
        s.push_str(&format!(
            "\n**{}: WRONG** in the current run (no baseline to compare it with)\n",
            md(k)
        ));
    }
    if let Some(why) = &c.incomplete {
        s.push_str(&format!("\n**Inconclusive**: {}.\n", md(why)));
        for k in &c.only_in_baseline {
            s.push_str(&format!(
                "- {}: missing (the current run stopped before it)\n",
                md(k)
            ));
        }
    }
    s
}
