//! `result.json`: the report itself, pretty-printed.

use super::Exporter;
use crate::model::RunReport;

pub struct Json;

impl Exporter for Json {
    fn render(&self, report: &RunReport) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(report).expect("a RunReport always serialises");
        v.push(b'\n');
        v
    }
}
