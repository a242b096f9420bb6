//! Lane hygiene: the GPU's state before and after the run, from NVML where the NVIDIA
//! driver provides it (absent elsewhere, which is recorded, not an error). A run that
//! started on a busy GPU or ended throttled has timings `compare` will not trust.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, TemperatureSensor};

use crate::model::{GpuSnapshot, Hygiene, PcieLink};

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

/// Whether a snapshot shows a thermal or hardware slowdown.
pub fn slowing(s: &GpuSnapshot) -> bool {
    s.throttle_reasons
        .iter()
        .any(|r| SLOWING.contains(&r.as_str()))
}

/// The PCIe link over a run's samples: the best generation and width seen against the
/// most the link supports. `None` when no sample reports the link.
pub fn pcie_link(samples: &[GpuSnapshot]) -> Option<PcieLink> {
    let with: Vec<&GpuSnapshot> = samples
        .iter()
        .filter(|s| s.pcie_gen.is_some() && s.pcie_width.is_some())
        .collect();
    let best = |f: fn(&GpuSnapshot) -> Option<u32>| with.iter().filter_map(|s| f(s)).max();
    Some(PcieLink {
        samples: with.len() as u32,
        gen_seen: best(|s| s.pcie_gen)?,
        gen_max: best(|s| s.pcie_gen_max)?,
        width_seen: best(|s| s.pcie_width)?,
        width_max: best(|s| s.pcie_width_max)?,
    })
}

/// The hygiene record from snapshots before, during and after the run (pure: the tests
/// feed recorded snapshots). `unavailable` says why there are none.
pub fn assess(
    unavailable: Option<String>,
    before: Option<GpuSnapshot>,
    during: &[GpuSnapshot],
    after: Option<GpuSnapshot>,
) -> Hygiene {
    let mut notes = Vec::new();
    let busy = before
        .as_ref()
        .is_some_and(|b| !b.other_processes.is_empty() || b.utilization_percent.unwrap_or(0) > 10);
    if busy {
        notes.push(
            "GPU was busy when the run started (other processes or utilisation above 10 %)".into(),
        );
    }
    let throttled = after.as_ref().is_some_and(slowing);
    if throttled {
        notes.push("GPU was throttled (thermal or hardware slowdown) when the run ended".into());
    }
    if let (Some(b), Some(a)) = (&before, &after)
        && a.ecc_uncorrected_volatile.unwrap_or(0) > b.ecc_uncorrected_volatile.unwrap_or(0)
    {
        notes.push("uncorrected ECC errors increased during the run".into());
    }
    let all: Vec<GpuSnapshot> = before
        .iter()
        .chain(during)
        .chain(after.iter())
        .cloned()
        .collect();
    let pcie = pcie_link(&all);
    let link_degraded = pcie
        .as_ref()
        .is_some_and(|l| l.gen_seen < l.gen_max || l.width_seen < l.width_max);
    if let Some(l) = pcie.as_ref().filter(|_| link_degraded) {
        notes.push(format!(
            "PCIe link below its maximum: at best Gen{} x{} in {} samples, the link supports Gen{} x{} (reseat the card, check the riser and slot)",
            l.gen_seen, l.width_seen, l.samples, l.gen_max, l.width_max
        ));
    }
    Hygiene {
        source: if unavailable.is_none() {
            "nvml".into()
        } else {
            "unavailable".into()
        },
        unavailable_reason: unavailable,
        before,
        after,
        busy_at_start: busy,
        throttled_at_end: throttled,
        link_degraded,
        pcie,
        notes,
    }
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
            pcie_gen: d.current_pcie_link_gen().ok(),
            pcie_gen_max: d.max_pcie_link_gen().ok(),
            pcie_width: d.current_pcie_link_width().ok(),
            pcie_width_max: d.max_pcie_link_width().ok(),
            at_ms: None,
        })
    }

    /// The hygiene record from snapshots before, during and after the run.
    pub fn assess(
        &self,
        before: Option<GpuSnapshot>,
        during: &[GpuSnapshot],
        after: Option<GpuSnapshot>,
    ) -> Hygiene {
        let unavailable = match &self.nvml {
            Some(_) => None,
            None => Some(
                self.reason
                    .clone()
                    .unwrap_or_else(|| "NVML not available".into()),
            ),
        };
        assess(unavailable, before, during, after)
    }

    /// Whether NVML answers here (telemetry is recorded), else why not.
    pub fn unavailable(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Snapshots every `period` on a thread of its own until the sampler is stopped,
    /// each stamped with its time since `t0`. Nothing is sampled without NVML.
    pub fn sample_every(self: &Arc<Self>, period: Duration, t0: Instant) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let handle = self.nvml.is_some().then(|| {
            let (me, stop, samples) = (self.clone(), stop.clone(), samples.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(mut s) = me.snapshot() {
                        s.at_ms = Some(t0.elapsed().as_millis() as u64);
                        samples.lock().unwrap_or_else(|e| e.into_inner()).push(s);
                    }
                    std::thread::sleep(period);
                }
            })
        });
        Sampler {
            stop,
            samples,
            handle,
        }
    }
}

/// A running [`Monitor::sample_every`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<GpuSnapshot>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// The samples so far (the sampler keeps running).
    pub fn so_far(&self) -> Vec<GpuSnapshot> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops sampling and returns every sample.
    pub fn finish(mut self) -> Vec<GpuSnapshot> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.so_far()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
