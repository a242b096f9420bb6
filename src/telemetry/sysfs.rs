//! The adapter's card in Linux sysfs, for any vendor's driver: the DRM card's PCI
//! device directory and its hwmon (temperature, clocks, power), the vendor drivers' own
//! files (`amdgpu`, `intel`), and the PCIe link to the host (`pcie`). Every file is
//! optional: what a kernel or driver lacks stays `None`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use super::file::read_num;
use super::{Reader, amdgpu, intel, pcie, pick};
use crate::gpu::{bus_id_text, parse_bus_id};
use crate::model::{GpuIdentity, GpuSnapshot, MemoryHolder, MemoryReading};

/// A GPU's card in Linux sysfs.
#[derive(Debug)]
pub struct SysfsGpu {
    pub device: PathBuf,
    pub hwmon: Option<PathBuf>,
    /// The function whose link status is the card's link to the host: the GPU itself,
    /// or the upstream port of a switch on the card (discrete AMD and Intel GPUs sit
    /// behind one, and the GPU's own link to it reads a fixed, meaningless speed).
    pub link: PathBuf,
    /// The host's port above that link (root port or host switch), whose maximum caps
    /// what the link can reach: a Gen5 card in a Gen4 slot is not degraded at Gen4.
    pub slot: Option<PathBuf>,
    /// Intel's GTs (empty on other cards).
    pub intel: intel::Gts,
    /// The last energy reading (time, µJ), where hwmon counts energy instead of giving
    /// power (i915, xe): power is the difference between two samples.
    energy: Mutex<Option<(Instant, f64)>>,
}

/// Average power in watts between two energy readings (time, µJ); `None` when no time
/// passed or the counter went back (wrapped, or the driver reloaded).
pub fn power_between(before: (Instant, f64), now: (Instant, f64)) -> Option<f64> {
    let dt = now.0.checked_duration_since(before.0)?.as_secs_f64();
    let de = now.1 - before.1;
    (dt > 0.0 && de >= 0.0).then(|| de / 1e6 / dt)
}

/// The PCI address a device directory stands for (its real name, `0000:03:00.0`).
fn pci_address(dir: &Path) -> Option<String> {
    let real = std::fs::canonicalize(dir).ok()?;
    let name = real.file_name()?.to_str()?;
    parse_bus_id(name).map(bus_id_text)
}

impl SysfsGpu {
    /// The DRM card whose PCI ids are `vendor`:`device`, under `root` (`/sys`): the one
    /// at PCI address `bus` where the adapter gives one, else the only one (or the
    /// first, with a caveat).
    pub fn find(
        root: &Path,
        vendor: u32,
        device: u32,
        bus: Option<&str>,
        name: &str,
    ) -> std::result::Result<(SysfsGpu, Option<String>), String> {
        let mut cards: Vec<PathBuf> = std::fs::read_dir(root.join("class/drm"))
            .map_err(|e| format!("{}: {e}", root.join("class/drm").display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("card") && !n.contains('-'))
            })
            .collect();
        cards.sort();
        let found: Vec<PathBuf> = cards
            .into_iter()
            .map(|c| c.join("device"))
            .filter(|d| {
                read_num(&d.join("vendor")) == Some(f64::from(vendor))
                    && read_num(&d.join("device")) == Some(f64::from(device))
            })
            .collect();
        let candidates: Vec<(String, Option<String>)> = found
            .iter()
            .map(|d| (name.to_owned(), pci_address(d)))
            .collect();
        let what = format!("DRM card with PCI id {vendor:04x}:{device:04x}");
        let (i, caveat) = pick(bus, name, &candidates, &what)?;
        let dev = found[i].clone();
        let intel = intel::Gts::find(dev.parent().unwrap_or(root), &dev);
        let hwmon = std::fs::read_dir(dev.join("hwmon"))
            .ok()
            .and_then(|mut r| r.find_map(|e| e.ok().map(|e| e.path())));
        let (link, slot) = pcie::host_link(&dev);
        Ok((
            SysfsGpu {
                device: dev,
                hwmon,
                link,
                slot,
                intel,
                energy: Mutex::new(None),
            },
            caveat,
        ))
    }

    /// The card's PCI address, and amdgpu's `unique_id` and `serial_number` where the
    /// board has them.
    pub fn identity(&self) -> GpuIdentity {
        let (uuid, serial) = amdgpu::ids(&self.device);
        GpuIdentity {
            pci_bus_id: pci_address(&self.device),
            uuid,
            serial,
        }
    }

    /// The active throttlers: from amdgpu's `gpu_metrics` where it has readable ones,
    /// from Intel's throttle-reason files (any GT) where the driver has them.
    pub fn throttlers(&self) -> Option<Vec<String>> {
        amdgpu::read_throttlers(&self.device).or_else(|| self.intel.throttlers())
    }

    /// The hwmon temperature channel labelled `label`, in °C.
    fn labelled_temperature(&self, label: &str) -> Option<u32> {
        let h = self.hwmon.as_ref()?;
        (1..=8)
            .find(|i| {
                std::fs::read_to_string(h.join(format!("temp{i}_label")))
                    .is_ok_and(|l| l.trim() == label)
            })
            .and_then(|i| read_num(&h.join(format!("temp{i}_input"))))
            .map(|m| (m / 1000.0).round() as u32)
    }

    /// amdgpu's VRAM total and use (`mem_info_vram_total`, `mem_info_vram_used`).
    pub fn memory(&self) -> Option<MemoryReading> {
        let total = read_num(&self.device.join("mem_info_vram_total")).map(|v| v as u64);
        let used = read_num(&self.device.join("mem_info_vram_used")).map(|v| v as u64);
        total.map(|t| MemoryReading {
            source: "amdgpu-sysfs".to_owned(),
            total_bytes: Some(t),
            free_bytes: used.map(|u| t.saturating_sub(u)),
            used_bytes: used,
        })
    }

    pub fn snapshot(&self, name: &str) -> GpuSnapshot {
        let dev = |f: &str| read_num(&self.device.join(f));
        let hw = |f: &str| self.hwmon.as_ref().and_then(|h| read_num(&h.join(f)));
        let mhz = |hz: Option<f64>| hz.map(|v| (v / 1e6).round() as u32);
        let (ecc_uncorrected, ecc_corrected) = amdgpu::ecc(&self.device);
        let link = pcie::read(&self.link, self.slot.as_deref());
        GpuSnapshot {
            name: name.to_owned(),
            driver: std::fs::read_to_string(self.device.join("driver/module/version"))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default(),
            // The first temperature channel in millidegrees (amdgpu's edge; xe numbers
            // its package 2), power in microwatts (average, or the instantaneous reading
            // newer kernels give instead), clocks in hertz.
            temperature_c: (1..=4)
                .find_map(|i| hw(&format!("temp{i}_input")))
                .map(|m| (m / 1000.0).round() as u32),
            // amdgpu labels its HBM/GDDR channel `mem`.
            memory_temperature_c: self.labelled_temperature("mem"),
            sm_clock_mhz: mhz(hw("freq1_input")).or_else(|| self.intel.clock_mhz()),
            memory_clock_mhz: mhz(hw("freq2_input")),
            power_w: hw("power1_average")
                .or_else(|| hw("power1_input"))
                .map(|uw| uw / 1e6)
                .or_else(|| {
                    let now = (Instant::now(), hw("energy1_input")?);
                    let mut last = self.energy.lock().unwrap_or_else(|e| e.into_inner());
                    last.replace(now)
                        .and_then(|before| power_between(before, now))
                }),
            throttle_reasons: self.throttlers().unwrap_or_default(),
            ecc_uncorrected_volatile: ecc_uncorrected,
            ecc_corrected_volatile: ecc_corrected,
            // amdgpu's busy percentage.
            utilization_percent: dev("gpu_busy_percent").map(|v| v as u32),
            other_processes: Vec::new(),
            pcie_gen: link.generation,
            pcie_gen_max: link.generation_max,
            pcie_width: link.width,
            pcie_width_max: link.width_max,
            at_ms: None,
        }
    }
}

impl Reader for SysfsGpu {
    fn source(&self) -> &'static str {
        "sysfs"
    }

    fn identity(&self) -> Option<GpuIdentity> {
        Some(SysfsGpu::identity(self))
    }

    fn snapshot(&self, name: &str) -> Option<GpuSnapshot> {
        Some(SysfsGpu::snapshot(self, name))
    }

    /// Throttle reasons without amdgpu's readable `gpu_metrics` or Intel's reason
    /// files; never the other processes on the GPU (sysfs has no such list).
    fn memory(&self) -> Option<(MemoryReading, Vec<MemoryHolder>)> {
        SysfsGpu::memory(self).map(|m| (m, Vec::new()))
    }

    /// amdgpu's RAS counts of the memory (`ras/umc_err_count`), on an AMD card.
    fn health(&self) -> Vec<super::Check> {
        use super::{Check, Found};
        if read_num(&self.device.join("vendor")) != Some(f64::from(0x1002u32)) {
            return Vec::new();
        }
        let found = match super::amdgpu::ecc(&self.device) {
            (Some(0), _) => Found::Fine("0 uncorrectable RAS errors in the memory".into()),
            (Some(n), _) => Found::Bad(format!(
                "{n} uncorrectable RAS errors in the memory: reset the GPU or reboot the host, and send the card back if they recur"
            )),
            (None, _) => Found::NotRead(format!(
                "{}/ras/umc_err_count: not present (no RAS on this card or driver)",
                self.device.display()
            )),
        };
        vec![Check::new("amd-ras", found)]
    }

    fn unreadable(&self) -> Vec<&'static str> {
        let mut v = vec!["other_processes"];
        if self.throttlers().is_none() {
            v.push("throttle_reasons");
        }
        v
    }
}
