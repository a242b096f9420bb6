//! The GPU's state before, during and after the run (lane hygiene): which card ran, its
//! clocks, temperature, power, throttle reasons, ECC counters and PCIe link.
//!
//! One [`Reader`] per source: NVML where the NVIDIA driver provides it (`nvml`), else
//! the card in Linux sysfs (`sysfs`), which reads the vendor drivers' own files through
//! `amdgpu` and `intel` and any GPU's link to the host through `pcie`. [`Monitor::open`]
//! chooses one, matching the card to the adapter (`card`); `sampler` takes snapshots on
//! a thread of its own; `policy` says what the snapshots mean (a busy or throttled GPU,
//! a degraded link) and knows no reader. A reading a source could not take is absent,
//! never 0, and a reader names what it cannot read: an empty list of throttle reasons
//! means "not throttled" only from a reader that can read them. Without any source the
//! run records why, which is not an error.

mod amdgpu;
mod card;
mod file;
mod intel;
mod nvml;
mod pcie;
pub mod policy;
mod sampler;
mod sysfs;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use card::pick;
pub use policy::{Class, assess, is_power_cap, is_slowdown, pcie_link, slowing};
pub use sampler::Sampler;

use crate::model::{GpuIdentity, GpuSnapshot, Hygiene, MemoryHolder, MemoryReading};

/// A source of a card's telemetry.
pub trait Reader: Send + Sync {
    /// Where the readings come from, as `Hygiene::source` records it.
    fn source(&self) -> &'static str;
    /// The card read, by the names an operator finds it by.
    fn identity(&self) -> Option<GpuIdentity>;
    /// The card's state now (`name` where the source has none of its own); `None` when
    /// the card could not be read at all.
    fn snapshot(&self, name: &str) -> Option<GpuSnapshot>;
    /// The readings this source cannot take on this card, named as the burn's telemetry
    /// names them (`throttle_reasons`, `ecc`, ...).
    fn unreadable(&self) -> Vec<&'static str>;
    /// The card's memory as this source reads it, and the other processes holding it;
    /// `None` where the source cannot read it.
    fn memory(&self) -> Option<(MemoryReading, Vec<MemoryHolder>)> {
        None
    }
    /// The card's health counters this source reads (the preflight's state steps): ECC,
    /// and NVIDIA's row remapping and retired pages, or AMD's RAS counts.
    fn health(&self) -> Vec<Check> {
        Vec::new()
    }
}

/// One health reading: its step's name and what it found.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub found: Found,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    Fine(String),
    Bad(String),
    /// Could not be read, and why: never counted as fine.
    NotRead(String),
}

impl Check {
    pub(crate) fn new(name: &'static str, found: Found) -> Check {
        Check { name, found }
    }
}

/// The PCIe AER counters of the device at `bus` and of its upstream port (the bridge
/// above it in sysfs under `root`): `aer_dev_correctable`, `aer_dev_nonfatal` and
/// `aer_dev_fatal`, their `TOTAL_ERR_*` lines, readable without privileges. What could
/// not be read is named second.
pub fn aer_counters(root: &Path, bus: Option<&str>) -> (Vec<(String, u64)>, Vec<String>) {
    let Some(bus) = bus.filter(|b| !b.is_empty()) else {
        return (
            Vec::new(),
            vec!["PCIe AER: the adapter has no PCI address".into()],
        );
    };
    let dev = root.join("bus/pci/devices").join(bus);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let upstream = std::fs::canonicalize(&dev)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| crate::gpu::parse_bus_id(n).is_some())
        });
    let places = std::iter::once(("", dev)).chain(upstream.map(|u| ("upstream ", u)));
    for (prefix, dir) in places {
        for (file, total) in [
            ("aer_dev_correctable", "TOTAL_ERR_COR"),
            ("aer_dev_nonfatal", "TOTAL_ERR_NONFATAL"),
            ("aer_dev_fatal", "TOTAL_ERR_FATAL"),
        ] {
            let path = dir.join(file);
            let n = std::fs::read_to_string(&path).ok().and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix(total).and_then(|v| v.trim().parse().ok()))
            });
            match n {
                Some(n) => found.push((format!("{prefix}{file}"), n)),
                None => missing.push(format!("{}: not readable", path.display())),
            }
        }
    }
    (found, missing)
}

/// PCIe AER's fatal errors of the device at `bus` (`aer_dev_fatal` in sysfs under
/// `root`, its `TOTAL_ERR_FATAL` line): a card whose link has had a fatal error is not
/// trusted with a job.
pub fn aer_fatal(root: &Path, bus: Option<&str>) -> Check {
    let Some(bus) = bus.filter(|b| !b.is_empty()) else {
        return Check::new(
            "aer",
            Found::NotRead("the adapter has no PCI address".into()),
        );
    };
    let path = root.join("bus/pci/devices").join(bus).join("aer_dev_fatal");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            return Check::new("aer", Found::NotRead(format!("{}: {e}", path.display())));
        }
    };
    let total = text.lines().find_map(|l| {
        l.strip_prefix("TOTAL_ERR_FATAL")
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    match total {
        Some(0) => Check::new("aer", Found::Fine("0 fatal PCIe AER errors".into())),
        Some(n) => Check::new(
            "aer",
            Found::Bad(format!(
                "{n} fatal PCIe AER errors on {bus} since boot: reset the card or reboot the host, and send it back if they recur"
            )),
        ),
        None => Check::new(
            "aer",
            Found::NotRead(format!("{} has no TOTAL_ERR_FATAL line", path.display())),
        ),
    }
}

/// Each vendor's throttle reasons and what they are: a reason no classifier knows
/// neither slows a run down nor caps its power.
const CLASSIFIERS: [fn(&str) -> Option<Class>; 3] = [nvml::class, amdgpu::class, intel::class];

/// What a throttle reason is, by the vendor that names it.
pub(crate) fn classify(reason: &str) -> Option<Class> {
    CLASSIFIERS.iter().find_map(|c| c(reason))
}

/// The adapter's telemetry: the reader chosen for its card, or why there is none.
pub struct Monitor {
    reader: Option<Box<dyn Reader>>,
    name: String,
    /// Why there is no source, or what the fallback lacks.
    reason: Option<String>,
    /// A doubt about which card is read (several alike, no PCI address to tell).
    caveat: Option<String>,
    identity: Option<GpuIdentity>,
}

impl Monitor {
    /// NVML for an NVIDIA adapter (the device at the adapter's PCI address, else the
    /// one of its name); else, or without NVML, the adapter's card in Linux sysfs.
    pub fn open(info: &wgpu::AdapterInfo) -> Monitor {
        let bus = Some(info.device_pci_bus_id.as_str()).filter(|b| !b.is_empty());
        let with = |reader: Box<dyn Reader>, reason, caveat| Monitor {
            identity: reader.identity(),
            reader: Some(reader),
            name: info.name.clone(),
            reason,
            caveat,
        };
        let nvml_error = match nvml::NvmlGpu::open(info, bus) {
            Ok((g, caveat)) => return with(Box::new(g), None, caveat),
            Err(why) => why,
        };
        match sysfs::SysfsGpu::find(Path::new("/sys"), info.vendor, info.device, bus, &info.name) {
            Ok((g, caveat)) => with(Box::new(g), Some(nvml_error), caveat),
            Err(why) => Monitor {
                reader: None,
                name: info.name.clone(),
                reason: Some(format!("{nvml_error}; sysfs: {why}")),
                caveat: None,
                identity: None,
            },
        }
    }

    /// The card read, by the names an operator finds it by.
    pub fn identity(&self) -> Option<&GpuIdentity> {
        self.identity.as_ref()
    }

    /// `nvml`, `sysfs`, or `unavailable`.
    pub fn source(&self) -> &'static str {
        self.reader.as_ref().map_or("unavailable", |r| r.source())
    }

    pub fn snapshot(&self) -> Option<GpuSnapshot> {
        self.reader.as_ref()?.snapshot(&self.name)
    }

    /// The card's memory as the source reads it now, and who else holds it.
    pub fn memory(&self) -> Option<(MemoryReading, Vec<MemoryHolder>)> {
        self.reader.as_ref()?.memory()
    }

    /// The hygiene record from snapshots before, during and after the run.
    pub fn assess(
        &self,
        before: Option<GpuSnapshot>,
        during: &[GpuSnapshot],
        after: Option<GpuSnapshot>,
    ) -> Hygiene {
        let source = match &self.reader {
            None => Err(self.reason.clone().unwrap_or_default()),
            Some(r) => Ok(r.source()),
        };
        let mut h = assess(source, before, during, after);
        h.unreadable = self
            .reader
            .as_ref()
            .map(|r| r.unreadable().into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        h.identity = self.identity.clone();
        h.notes.extend(self.caveat.clone());
        h
    }

    /// Whether the source says why the GPU throttles: NVML always, sysfs where amdgpu's
    /// `gpu_metrics` has ASIC-independent throttle bits or Intel's driver has throttle
    /// reasons.
    pub fn reports_throttle(&self) -> bool {
        self.reader
            .as_ref()
            .is_some_and(|r| !r.unreadable().contains(&"throttle_reasons"))
    }

    /// The card's health counters (the preflight's state steps), each read or named as
    /// not read: the source's own, and PCIe AER's fatal count for any card.
    pub fn health(&self, vendor: u32, bus: Option<&str>) -> Vec<Check> {
        let mut out = match &self.reader {
            Some(r) => r.health(),
            None => Vec::new(),
        };
        let why = || {
            self.reason
                .clone()
                .unwrap_or_else(|| format!("the {} source does not read it", self.source()))
        };
        // The counters a card of this vendor has, named as not read where the source
        // gave none.
        let expected: &[&'static str] = match vendor {
            0x10de => &["ecc", "row-remap", "retired-pages"],
            0x1002 => &["amd-ras"],
            _ => &["ecc"],
        };
        for name in expected {
            if !out.iter().any(|c| c.name == *name) {
                out.push(Check::new(name, Found::NotRead(why())));
            }
        }
        out.push(aer_fatal(Path::new("/sys"), bus));
        out
    }

    /// Why there is no source, or (with sysfs) why not NVML.
    pub fn unavailable(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}
