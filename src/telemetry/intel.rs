//! i915's and xe's own files: why an Intel GPU throttles (per GT) and how fast its
//! first GT runs.

use std::path::{Path, PathBuf};

use super::Class;
use super::file::read_num;

/// Intel's throttle reasons, as i915 and xe name their files (without the prefix), each
/// reported as `intel_<name>`. Thermal ones (RATL is the running-average thermal limit)
/// are slowdowns; power and current limits (PL1, PL2, PL4, VR TDC) the power cap.
const THROTTLERS: [(&str, bool); 8] = [
    ("pl1", false),
    ("pl2", false),
    ("pl4", false),
    ("vr_tdc", false),
    ("thermal", true),
    ("prochot", true),
    ("ratl", true),
    ("vr_thermalert", true),
];

/// An Intel reason's class: thermal ones slow a run down, the rest cap its power.
pub fn class(reason: &str) -> Option<Class> {
    let name = reason.strip_prefix("intel_")?;
    THROTTLERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, thermal)| {
            if thermal {
                Class::Slowdown
            } else {
                Class::PowerCap
            }
        })
}

/// Subdirectories of `dir` whose names start with `prefix`, sorted.
fn subdirs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    v.sort();
    v
}

/// An Intel card's GTs, as far as the telemetry reads them.
#[derive(Debug, Default)]
pub struct Gts {
    /// Throttle-reason directories, one per GT, and the prefix of their files: i915's
    /// `cardN/gt/gtM/throttle_reason_*`, xe's `tileK/gtM/freq0/throttle/reason_*`.
    pub throttle: Vec<(PathBuf, &'static str)>,
    /// The actual GT frequency in MHz (i915 `rps_act_freq_mhz`, xe `act_freq`).
    pub act_freq: Option<PathBuf>,
}

impl Gts {
    /// Where a card says why it throttles and how fast its first GT runs: i915's GT
    /// directories under the DRM card, xe's under the PCI device's tiles. Empty on a
    /// card of another driver.
    pub fn find(card: &Path, device: &Path) -> Gts {
        let i915: Vec<PathBuf> = subdirs(&card.join("gt"), "gt");
        let xe: Vec<PathBuf> = subdirs(device, "tile")
            .iter()
            .flat_map(|t| subdirs(t, "gt"))
            .map(|g| g.join("freq0"))
            .collect();
        let mut throttle: Vec<(PathBuf, &'static str)> = i915
            .iter()
            .filter(|g| g.join("throttle_reason_status").is_file())
            .map(|g| (g.clone(), "throttle_reason_"))
            .collect();
        throttle.extend(
            xe.iter()
                .map(|f| f.join("throttle"))
                .filter(|t| t.join("status").is_file())
                .map(|t| (t, "reason_")),
        );
        let act_freq = i915
            .first()
            .map(|g| g.join("rps_act_freq_mhz"))
            .into_iter()
            .chain(xe.first().map(|f| f.join("act_freq")))
            .find(|p| p.is_file());
        Gts { throttle, act_freq }
    }

    /// The active throttle reasons (any GT's), where the driver has them.
    pub fn throttlers(&self) -> Option<Vec<String>> {
        if self.throttle.is_empty() {
            return None;
        }
        Some(
            THROTTLERS
                .iter()
                .filter(|(name, _)| {
                    self.throttle.iter().any(|(dir, prefix)| {
                        read_num(&dir.join(format!("{prefix}{name}"))) == Some(1.0)
                    })
                })
                .map(|(name, _)| format!("intel_{name}"))
                .collect(),
        )
    }

    /// The first GT's actual frequency in MHz.
    pub fn clock_mhz(&self) -> Option<u32> {
        self.act_freq
            .as_ref()
            .and_then(|p| read_num(p))
            .map(|v| v as u32)
    }
}
