//! Lane hygiene: the GPU's state before and after the run, from NVML where the NVIDIA
//! driver provides it (absent elsewhere, which is recorded, not an error). A run that
//! started on a busy GPU or ended throttled has timings `compare` will not trust.

use nvml_wrapper::Nvml;
use nvml_wrapper::bitmasks::device::ThrottleReasons;
use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, TemperatureSensor};

use crate::model::{GpuSnapshot, Hygiene};

/// Throttle reasons that make a run's timing suspect: thermal and hardware slowdowns.
/// Idle and clock settings do not slow a kernel; nor is running at the power limit
/// (SW_POWER_CAP) an anomaly under full load on a datacenter GPU. It is still recorded
/// in `throttle_reasons`, and a lowered power limit shows up as a slower run.
fn slowing(r: ThrottleReasons) -> bool {
    r.intersects(
        ThrottleReasons::HW_SLOWDOWN
            | ThrottleReasons::SW_THERMAL_SLOWDOWN
            | ThrottleReasons::HW_THERMAL_SLOWDOWN
            | ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN,
    )
}

pub struct Monitor {
    nvml: Option<Nvml>,
    index: u32,
    reason: Option<String>,
}

impl Monitor {
    /// Opens NVML and picks the device whose name matches the adapter's (else the first).
    pub fn open(adapter_name: &str) -> Monitor {
        match Nvml::init() {
            Ok(nvml) => {
                let count = nvml.device_count().unwrap_or(0);
                let index = (0..count)
                    .find(|&i| {
                        nvml.device_by_index(i)
                            .and_then(|d| d.name())
                            .is_ok_and(|n| adapter_name.contains(&n) || n.contains(adapter_name))
                    })
                    .unwrap_or(0);
                if count == 0 {
                    return Monitor {
                        nvml: None,
                        index: 0,
                        reason: Some("NVML reports no devices".into()),
                    };
                }
                Monitor {
                    nvml: Some(nvml),
                    index,
                    reason: None,
                }
            }
            Err(e) => Monitor {
                nvml: None,
                index: 0,
                reason: Some(format!("NVML not available: {e}")),
            },
        }
    }

    pub fn snapshot(&self) -> Option<GpuSnapshot> {
        let nvml = self.nvml.as_ref()?;
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
        })
    }

    /// The hygiene record from a snapshot before and one after the run.
    pub fn assess(&self, before: Option<GpuSnapshot>, after: Option<GpuSnapshot>) -> Hygiene {
        let mut notes = Vec::new();
        let busy = before.as_ref().is_some_and(|b| {
            !b.other_processes.is_empty() || b.utilization_percent.unwrap_or(0) > 10
        });
        if busy {
            notes.push(
                "GPU was busy when the run started (other processes or utilisation above 10 %)"
                    .into(),
            );
        }
        let throttled = match (&self.nvml, &after) {
            (Some(nvml), Some(_)) => nvml
                .device_by_index(self.index)
                .ok()
                .and_then(|d| d.current_throttle_reasons().ok())
                .is_some_and(slowing),
            _ => false,
        };
        if throttled {
            notes
                .push("GPU was throttled (thermal or hardware slowdown) when the run ended".into());
        }
        if let (Some(b), Some(a)) = (&before, &after)
            && a.ecc_uncorrected_volatile.unwrap_or(0) > b.ecc_uncorrected_volatile.unwrap_or(0)
        {
            notes.push("uncorrected ECC errors increased during the run".into());
        }
        Hygiene {
            source: if self.nvml.is_some() {
                "nvml".into()
            } else {
                "unavailable".into()
            },
            unavailable_reason: self.reason.clone(),
            before,
            after,
            busy_at_start: busy,
            throttled_at_end: throttled,
            notes,
        }
    }
}
