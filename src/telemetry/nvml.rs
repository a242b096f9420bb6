//! NVIDIA's management library: the reader for NVIDIA cards where the driver provides
//! it. It reads everything a snapshot holds, throttle reasons included.

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, TemperatureSensor};
use nvml_wrapper::enums::device::UsedGpuMemory;

use super::{Class, Reader, pick};
use crate::gpu::bus_id_text;
use crate::model::{GpuIdentity, GpuSnapshot, MemoryHolder, MemoryReading};

/// Throttle reasons that make a run's timing suspect: thermal and hardware slowdowns,
/// as NVML names them (lowercased in [`GpuSnapshot::throttle_reasons`]). Idle and clock
/// settings do not slow a kernel; nor is running at the power limit (SW_POWER_CAP) an
/// anomaly under full load on a datacenter GPU. It is still recorded, and a lowered
/// power limit shows up as a slower run.
pub const SLOWING: [&str; 4] = [
    "hw_slowdown",
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
];

/// NVML's reasons: the slowdowns, and the power cap (SW_POWER_CAP).
pub fn class(reason: &str) -> Option<Class> {
    if SLOWING.contains(&reason) {
        Some(Class::Slowdown)
    } else if reason == "sw_power_cap" {
        Some(Class::PowerCap)
    } else {
        None
    }
}

/// The adapter's device in NVML.
pub struct NvmlGpu {
    nvml: Nvml,
    index: u32,
    identity: Option<GpuIdentity>,
}

impl NvmlGpu {
    /// The NVML device of an NVIDIA adapter (at its PCI address, else of its name), and
    /// a doubt about which one it is; why there is none otherwise.
    pub fn open(
        info: &wgpu::AdapterInfo,
        bus: Option<&str>,
    ) -> std::result::Result<(NvmlGpu, Option<String>), String> {
        if info.vendor != 0x10de {
            return Err("NVML is NVIDIA's only".to_owned());
        }
        let nvml = Nvml::init().map_err(|e| format!("NVML not available: {e}"))?;
        let count = nvml.device_count().unwrap_or(0);
        let devices: Vec<(String, Option<String>)> = (0..count)
            .map(|i| match nvml.device_by_index(i) {
                Ok(d) => (
                    d.name().unwrap_or_default(),
                    d.pci_info()
                        .ok()
                        .map(|p| bus_id_text((p.domain, p.bus, p.device, 0))),
                ),
                Err(_) => (String::new(), None),
            })
            .collect();
        let (index, caveat) =
            pick(bus, &info.name, &devices, "NVML device").map_err(|why| format!("NVML: {why}"))?;
        let identity = nvml
            .device_by_index(index as u32)
            .ok()
            .map(|d| GpuIdentity {
                pci_bus_id: devices[index].1.clone(),
                uuid: d.uuid().ok(),
                serial: d.serial().ok(),
            });
        Ok((
            NvmlGpu {
                nvml,
                index: index as u32,
                identity,
            },
            caveat,
        ))
    }
}

impl Reader for NvmlGpu {
    fn source(&self) -> &'static str {
        "nvml"
    }

    fn identity(&self) -> Option<GpuIdentity> {
        self.identity.clone()
    }

    fn snapshot(&self, _name: &str) -> Option<GpuSnapshot> {
        let nvml = &self.nvml;
        let d = nvml.device_by_index(self.index).ok()?;
        let me = std::process::id();
        let mut others: Vec<u32> = d
            .running_compute_processes()
            .unwrap_or_default()
            .into_iter()
            .chain(d.running_graphics_processes().unwrap_or_default())
            .map(|p| p.pid)
            .filter(|&p| p != me)
            .collect();
        others.sort_unstable();
        others.dedup();
        let throttle = d.current_throttle_reasons().ok();
        Some(GpuSnapshot {
            name: d.name().unwrap_or_default(),
            driver: nvml.sys_driver_version().unwrap_or_default(),
            temperature_c: d.temperature(TemperatureSensor::Gpu).ok(),
            memory_temperature_c: memory_temperature(&d),
            sm_clock_mhz: d.clock_info(Clock::SM).ok(),
            memory_clock_mhz: d.clock_info(Clock::Memory).ok(),
            power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
            throttle_reasons: throttle
                .map(|r| r.iter_names().map(|(n, _)| n.to_lowercase()).collect())
                .unwrap_or_default(),
            ecc_uncorrected_volatile: d
                .total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile)
                .ok(),
            ecc_corrected_volatile: d
                .total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile)
                .ok(),
            utilization_percent: d.utilization_rates().ok().map(|u| u.gpu),
            other_processes: others,
            pcie_gen: d.current_pcie_link_gen().ok(),
            pcie_gen_max: d.max_pcie_link_gen().ok(),
            pcie_width: d.current_pcie_link_width().ok(),
            pcie_width_max: d.max_pcie_link_width().ok(),
            at_ms: None,
        })
    }

    /// NVML reads every field; a device that refuses one leaves it absent.
    fn unreadable(&self) -> Vec<&'static str> {
        Vec::new()
    }

    fn health(&self) -> Vec<super::Check> {
        use super::{Check, Found};
        let Ok(d) = self.nvml.device_by_index(self.index) else {
            return Vec::new();
        };
        let not_read =
            |what: &str, e: &dyn std::fmt::Display| Found::NotRead(format!("NVML {what}: {e}"));
        let ecc = match d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile) {
            Ok(0) => Found::Fine("0 uncorrectable ECC errors since the driver loaded".into()),
            Ok(n) => Found::Bad(format!(
                "{n} uncorrectable ECC errors since the driver loaded: reset the GPU (nvidia-smi -r) and rerun; send the card back if they recur"
            )),
            Err(e) => not_read("ECC counts", &e),
        };
        let retired = match d.are_pages_pending_retired() {
            Ok(false) => Found::Fine("no retired pages pending".into()),
            Ok(true) => Found::Bad(
                "retired pages pending: reset the GPU or reboot the host so they take effect"
                    .into(),
            ),
            Err(e) => not_read("retired pages", &e),
        };
        let remap = match self.nvml.lib().nvmlDeviceGetRemappedRows.as_ref() {
            Err(e) => not_read("row remapping", &e),
            Ok(f) => {
                let (mut corr, mut unc, mut pending, mut failed) = (0u32, 0u32, 0u32, 0u32);
                // SAFETY: the handle is a live device of this NVML session, and the four
                // out-pointers are valid for writes.
                let rc = unsafe { f(d.handle(), &mut corr, &mut unc, &mut pending, &mut failed) };
                match (rc, pending, failed) {
                    (0, _, f) if f != 0 => Found::Bad(format!(
                        "row remapping failed ({unc} uncorrectable, {corr} correctable rows remapped): send the card back"
                    )),
                    (0, p, _) if p != 0 => Found::Bad(format!(
                        "a row remap is pending ({unc} uncorrectable rows): reset the GPU so it takes effect"
                    )),
                    (0, _, _) => Found::Fine(format!(
                        "no remap pending or failed ({unc} uncorrectable, {corr} correctable rows remapped)"
                    )),
                    (rc, _, _) => Found::NotRead(format!("NVML row remapping: return code {rc}")),
                }
            }
        };
        vec![
            Check::new("ecc", ecc),
            Check::new("row-remap", remap),
            Check::new("retired-pages", retired),
        ]
    }

    /// The framebuffer's total, free and used bytes, and each other compute process
    /// with the memory it holds where the driver says.
    fn memory(&self) -> Option<(MemoryReading, Vec<MemoryHolder>)> {
        let d = self.nvml.device_by_index(self.index).ok()?;
        let m = d.memory_info().ok()?;
        let me = std::process::id();
        let holders = d
            .running_compute_processes()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.pid != me)
            .map(|p| MemoryHolder {
                pid: p.pid,
                bytes: match p.used_gpu_memory {
                    UsedGpuMemory::Used(b) => Some(b),
                    UsedGpuMemory::Unavailable => None,
                },
            })
            .collect();
        Some((
            MemoryReading {
                source: "nvml".to_owned(),
                total_bytes: Some(m.total),
                free_bytes: Some(m.free),
                used_bytes: Some(m.used),
            },
            holders,
        ))
    }
}

/// The memory's (HBM's) temperature, a field value (`NVML_FI_DEV_MEMORY_TEMP`) that
/// cards without such a sensor refuse.
fn memory_temperature(d: &nvml_wrapper::Device<'_>) -> Option<u32> {
    use nvml_wrapper::enums::device::SampleValue;
    use nvml_wrapper::structs::device::FieldId;
    const NVML_FI_DEV_MEMORY_TEMP: u32 = 82;
    let v = d
        .field_values_for(&[FieldId(NVML_FI_DEV_MEMORY_TEMP)])
        .ok()?
        .into_iter()
        .next()?
        .ok()?
        .value
        .ok()?;
    match v {
        SampleValue::U32(t) => Some(t),
        SampleValue::U64(t) => u32::try_from(t).ok(),
        SampleValue::I64(t) => u32::try_from(t).ok(),
        SampleValue::F64(t) => (t.is_finite() && t >= 0.0).then_some(t.round() as u32),
    }
    .filter(|&t| t > 0)
}
