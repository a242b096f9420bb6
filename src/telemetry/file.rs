//! Reading the kernel's files (sysfs, procfs): the leaf every file-based reader uses,
//! so that the drivers' readers (amdgpu, intel, pcie) and the DRM card's (sysfs) never
//! import each other.

use std::path::Path;

/// A number from a sysfs file (first word; `0x` hex allowed).
pub fn read_num(p: &Path) -> Option<f64> {
    let t = std::fs::read_to_string(p).ok()?;
    let w = t.split_whitespace().next()?;
    match w.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok().map(|v| v as f64),
        None => w.parse().ok(),
    }
}
