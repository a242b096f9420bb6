//! The comparison as a JSON document (what `--format json` prints).

use crate::model::comparison::Comparison;

/// Pretty-printed, with a final newline.
pub fn render(c: &Comparison) -> Vec<u8> {
    (serde_json::to_string_pretty(c).expect("comparison serialises") + "\n").into_bytes()
}
