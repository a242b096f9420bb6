//! A GPU's PCIe link to the host, from sysfs: the link of the card (or of the switch on
//! it) against the most the card and the host's port support.

use std::path::{Path, PathBuf};

use super::file::read_num;

/// A PCI function's directory in sysfs (it has a `vendor` file; a root bus does not).
fn is_pci_function(dir: &Path) -> bool {
    dir.join("vendor").is_file()
}

/// The card's link to the host, from its PCI device directory: walk up through the
/// bridges of the GPU's own vendor (a switch on the card) to the topmost one that is not
/// a root port, and name the port above it.
pub fn host_link(device: &Path) -> (PathBuf, Option<PathBuf>) {
    let device = std::fs::canonicalize(device).unwrap_or_else(|_| device.to_owned());
    let vendor = read_num(&device.join("vendor"));
    let mut link = device;
    loop {
        let Some(up) = link.parent().filter(|p| is_pci_function(p)) else {
            return (link, None);
        };
        // A root port sits right under the root bus: it is the host's, whatever its
        // vendor (Intel's root ports share the vendor of Intel's GPUs).
        let root_port = up.parent().is_none_or(|p| !is_pci_function(p));
        if root_port || read_num(&up.join("vendor")) != vendor {
            let up = up.to_owned();
            return (link, Some(up));
        }
        link = up.to_owned();
    }
}

/// The card's maximum, lowered to the slot's where the slot reports a smaller one.
fn capped(card: Option<u32>, slot: Option<u32>) -> Option<u32> {
    match (card, slot) {
        (Some(c), Some(s)) => Some(c.min(s)),
        (c, _) => c,
    }
}

/// PCIe generation from a link speed as sysfs writes it (`16.0 GT/s PCIe`).
pub fn link_gen(speed: &str) -> Option<u32> {
    let gts: f64 = speed.split_whitespace().next()?.parse().ok()?;
    [
        (2.5, 1),
        (5.0, 2),
        (8.0, 3),
        (16.0, 4),
        (32.0, 5),
        (64.0, 6),
    ]
    .iter()
    .find(|(s, _)| (gts - s).abs() < 0.01)
    .map(|&(_, g)| g)
}

/// The link now (generation, width) and the most it can reach (generation, width):
/// the card's maximum capped by the host port's.
pub struct Reading {
    pub generation: Option<u32>,
    pub generation_max: Option<u32>,
    pub width: Option<u32>,
    pub width_max: Option<u32>,
}

/// The link's state, read from `link` and the host's port above it, `slot`.
pub fn read(link: &Path, slot: Option<&Path>) -> Reading {
    // A generation from a speed (`16.0 GT/s PCIe`), a lane count.
    let speed = |dir: &Path, f: &str| {
        std::fs::read_to_string(dir.join(f))
            .ok()
            .and_then(|t| link_gen(&t))
    };
    let width = |dir: &Path, f: &str| read_num(&dir.join(f)).map(|v| v as u32);
    Reading {
        generation: speed(link, "current_link_speed"),
        generation_max: capped(
            speed(link, "max_link_speed"),
            slot.and_then(|s| speed(s, "max_link_speed")),
        ),
        width: width(link, "current_link_width"),
        width_max: capped(
            width(link, "max_link_width"),
            slot.and_then(|s| width(s, "max_link_width")),
        ),
    }
}
