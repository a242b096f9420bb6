//! gpu-canary: the canonical canary workload of a GPU runner lane.
//!
//! Deterministic WGSL kernels (matrix multiply, reduction) run on the adapter they are
//! given, every result is checked against a CPU reference with a stated detection
//! power, and timings are recorded with the method that produced them. The data flows
//! one way, and imports point down it:
//!
//! ```text
//! cli::Args ─► config (XConfig::from_args) ─► run | compare | history | tune | adapters
//! run: gpu::Gpu ─► kernels (registry) ─► runner (samples) | burn (sustained load)
//!      ─► verify + stats ─► verdict ─► model::RunReport ─► export (json | trace | markdown | bmf)
//! saved RunReports ─► compare ─► Comparison ;  history ─► svg + markdown
//! ```

pub mod adapters;
pub mod burn;
pub mod cards;
pub mod check;
pub mod cli;
pub mod compare;
pub mod config;
pub mod console;
pub mod error;
pub mod export;
pub mod gpu;
pub mod history;
pub mod host;
pub mod inputs;
pub mod kernels;
pub mod model;
pub mod progress;
pub mod reproduce;
pub mod run;
pub mod runner;
pub mod stats;
pub mod telemetry;
pub mod text;
pub mod tune;

/// The JSON Schema of `result.json`, as published in `results-schema/`.
pub fn result_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<model::RunReport>();
    serde_json::to_value(schema).expect("a schema serialises")
}
