//! Bencher Metric Format: `{"<kernel/shape>": {"throughput": {"value", "lower_value",
//! "upper_value"}}}`, for trackers that ingest it. Only verified kernels are exported:
//! a wrong kernel's speed is not a metric.

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
            if let Some(t) = &k.throughput {
                out.insert(
                    k.key(),
                    json!({ "throughput": { "value": t.median, "lower_value": t.low, "upper_value": t.high } }),
                );
            }
        }
        let mut v = serde_json::to_vec_pretty(&Value::Object(out)).expect("JSON values serialise");
        v.push(b'\n');
        v
    }
}
