//! The comparison as Prometheus metrics (`compare --export-metrics`).

use super::super::metrics::{Series, text};
use crate::model::comparison::{Comparison, Finding, PerfVerdict};

/// The comparison as Prometheus metrics: the finding and each kernel's timing verdict
/// as state sets (1 for what it was, 0 for the rest), and the ratio of medians.
pub fn render(c: &Comparison) -> Vec<u8> {
    let mut reg = crate::export::metrics::registry("compare");
    let mut finding = Series::new(
        "gpu_canary_compare_finding",
        None,
        "compare's finding as a state set: wrong (exit 1), slower (4), inconclusive (6), ok (0)",
    );
    finding.states(
        &Vec::new(),
        "finding",
        &[
            Finding::Wrong,
            Finding::Slower,
            Finding::Inconclusive,
            Finding::Ok,
        ],
        &c.finding,
    );
    finding.register(&mut reg);
    let mut verdict = Series::new(
        "gpu_canary_compare_kernel_verdict",
        None,
        "Each kernel's timing verdict against the baseline or window, as a state set",
    );
    let mut ratio = Series::new(
        "gpu_canary_compare_kernel_ratio",
        None,
        "Current over baseline time (above 1 is slower)",
    );
    for k in &c.kernels {
        let (kernel, shape) = k.key.split_once('/').unwrap_or((k.key.as_str(), ""));
        let labels = || vec![("kernel", kernel.to_owned()), ("shape", shape.to_owned())];
        verdict.states(
            &labels(),
            "verdict",
            &[
                PerfVerdict::Faster,
                PerfVerdict::Slower,
                PerfVerdict::Unchanged,
                PerfVerdict::Inconclusive,
                PerfVerdict::NotComparable,
            ],
            &k.verdict,
        );
        if let Some(r) = k.ratio {
            ratio.set(labels(), r);
        }
    }
    verdict.register(&mut reg);
    ratio.register(&mut reg);
    text(&reg)
}
