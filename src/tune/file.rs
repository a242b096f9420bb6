//! The tuning file (`tune.json`): data only. `gpu-canary tune` writes it; `run
//! --tuning` reads it and applies it only on the adapter and driver it was made on.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::kernels::Params;
use crate::model::AdapterFingerprint;

/// The tuning file's format tag.
pub const FORMAT: &str = "gpu-canary-tune/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tuning {
    pub format: String,
    pub adapter: AdapterFingerprint,
    /// Seed of the check vectors every configuration was verified with (fresh for each
    /// sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_seed: Option<u64>,
    /// Kernel id → the chosen named launch parameters.
    pub best: BTreeMap<String, Params>,
    /// Every configuration tried, for the record.
    pub trials: Vec<Trial>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    pub kernel: String,
    pub shape: String,
    pub params: Params,
    pub verified: bool,
    pub median_ns: Option<f64>,
    pub throughput: Option<f64>,
    pub unit: String,
    /// Why a configuration is not verified: the dispatch, word and values, or the
    /// element, that were wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Tuning {
    /// Reads a tuning file; the error is one line naming the file and the fix.
    pub fn read(path: &Path) -> Result<Tuning, String> {
        let name = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "--tuning {name}: cannot read ({e}); write one with `gpu-canary tune --out {name}`"
            )
        })?;
        let t: Tuning = serde_json::from_str(&text).map_err(|e| format!("--tuning {name}: not a gpu-canary tuning file ({e}); write one with `gpu-canary tune`"))?;
        if t.format != FORMAT {
            return Err(format!(
                "--tuning {name}: format '{}', this gpu-canary reads '{FORMAT}'; run `gpu-canary tune` again",
                t.format
            ));
        }
        Ok(t)
    }

    /// The parameters for this adapter, or why they do not apply.
    pub fn for_adapter(
        &self,
        fp: &AdapterFingerprint,
    ) -> Result<&BTreeMap<String, Params>, String> {
        if self.adapter.comparable_key() == fp.comparable_key() {
            Ok(&self.best)
        } else {
            Err(format!(
                "made on '{} {} {}', not on this adapter",
                self.adapter.name, self.adapter.driver, self.adapter.driver_info
            ))
        }
    }
}
