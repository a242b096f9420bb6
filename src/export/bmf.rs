//! Bencher Metric Format, for trackers that ingest it, in the units of Bencher's two
//! default measures so they work without set-up:
//!
//! ```json
//! {"matmul-f32/4096x4096x4096": {
//!    "latency":    {"value": 2.3e6, "lower_value": 2.2e6, "upper_value": 2.4e6},
//!    "throughput": {"value": 5.9e13, "lower_value": 5.7e13, "upper_value": 6.1e13}}}
//! ```
//!
//! `latency` is the median time per dispatch in nanoseconds, with the median's 95 %
//! confidence interval as lower and upper value (none below 6 samples, where no such
//! interval exists). `throughput` is per second at the same
//! three points: floating-point (or integer) operations per second for the matmuls,
//! bytes read per second for reduce-f32. Only verified kernels are exported: a wrong
//! kernel's speed is not a metric.

use serde_json::{Map, Value, json};

use super::Exporter;
use crate::model::{KernelStatus, RunReport};

pub struct Bmf;

impl Exporter for Bmf {
    fn render(&self, report: &RunReport) -> Vec<u8> {
        let mut out = Map::new();
        for k in report
            .kernels
            .iter()
            .filter(|k| k.status == KernelStatus::Pass)
        {
            let (Some(s), Some(t)) = (&k.stats, &k.throughput) else {
                continue;
            };
            // Stored per nanosecond (G-units per second); Bencher wants per second.
            let per_s = |v: f64| v * 1e9;
            // The bounds only where they are a 95 % interval (from 6 samples on).
            let bounded = s.confidence >= 0.95;
            let metric = |value: f64, lower: f64, upper: f64| match bounded {
                true => json!({"value": value, "lower_value": lower, "upper_value": upper}),
                false => json!({"value": value}),
            };
            out.insert(
                k.key(),
                json!({
                    "latency": metric(s.median_ns, s.median_ci_low_ns, s.median_ci_high_ns),
                    "throughput": metric(per_s(t.median), per_s(t.low), per_s(t.high)),
                }),
            );
        }
        let mut v = serde_json::to_vec_pretty(&Value::Object(out)).expect("JSON values serialise");
        v.push(b'\n');
        v
    }
}
