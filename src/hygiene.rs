//! Lane hygiene: the GPU's state before, during and after the run, from NVML where the
//! NVIDIA driver provides it, else from Linux sysfs (amdgpu's hwmon and `gpu_metrics`,
//! i915's and xe's frequency and throttle reasons, any GPU's PCIe link), absent
//! elsewhere (which is recorded, not an error). A run that
//! started on a busy GPU or ended throttled has timings `compare` will not trust.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, TemperatureSensor};

use crate::gpu::{bus_id_text, parse_bus_id};
use crate::model::{GpuIdentity, GpuSnapshot, Hygiene, PcieLink};

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

/// amdgpu's ASIC-independent throttlers (`indep_throttle_status` of `gpu_metrics`, bit
/// numbers from the kernel's `SMU_THROTTLER_*_BIT`), named as in the kernel, lowercased
/// and prefixed `amd_`. Power and current limits (PPT, SPL, TDC, EDC, APCC) are the
/// power cap's peers; temperatures, VRHOT and PROCHOT are slowdowns; PPM and FIT
/// (platform power management, reliability limit) are recorded only.
const AMD_THROTTLERS: [(u32, &str); 34] = [
    (0, "amd_ppt0"),
    (1, "amd_ppt1"),
    (2, "amd_ppt2"),
    (3, "amd_ppt3"),
    (4, "amd_spl"),
    (5, "amd_fppt"),
    (6, "amd_sppt"),
    (7, "amd_sppt_apu"),
    (16, "amd_tdc_gfx"),
    (17, "amd_tdc_soc"),
    (18, "amd_tdc_mem"),
    (19, "amd_tdc_vdd"),
    (20, "amd_tdc_cvip"),
    (21, "amd_edc_cpu"),
    (22, "amd_edc_gfx"),
    (23, "amd_apcc"),
    (32, "amd_temp_gpu"),
    (33, "amd_temp_core"),
    (34, "amd_temp_mem"),
    (35, "amd_temp_edge"),
    (36, "amd_temp_hotspot"),
    (37, "amd_temp_soc"),
    (38, "amd_temp_vr_gfx"),
    (39, "amd_temp_vr_soc"),
    (40, "amd_temp_vr_mem0"),
    (41, "amd_temp_vr_mem1"),
    (42, "amd_temp_liquid0"),
    (43, "amd_temp_liquid1"),
    (44, "amd_vrhot0"),
    (45, "amd_vrhot1"),
    (46, "amd_prochot_cpu"),
    (47, "amd_prochot_gfx"),
    (56, "amd_ppm"),
    (57, "amd_fit"),
];

/// Whether a throttle reason is a thermal or hardware slowdown: NVML's, amdgpu's
/// temperature, VRHOT and PROCHOT throttlers (bits 32 to 47), Intel's thermal ones.
pub fn is_slowdown(reason: &str) -> bool {
    SLOWING.contains(&reason)
        || AMD_THROTTLERS
            .iter()
            .any(|&(bit, name)| (32..48).contains(&bit) && name == reason)
        || intel_class(reason) == Some(true)
}

/// An Intel reason's class: `Some(true)` thermal, `Some(false)` a power or current limit.
fn intel_class(reason: &str) -> Option<bool> {
    let name = reason.strip_prefix("intel_")?;
    INTEL_THROTTLERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, thermal)| thermal)
}

/// Whether a throttle reason is the power cap (NVML's SW_POWER_CAP, amdgpu's power and
/// current limits: bits 0 to 23, Intel's PL1, PL2, PL4 and VR TDC): normal under full
/// load, yet it explains a drop.
pub fn is_power_cap(reason: &str) -> bool {
    reason == "sw_power_cap"
        || AMD_THROTTLERS
            .iter()
            .any(|&(bit, name)| bit < 32 && name == reason)
        || intel_class(reason) == Some(false)
}

/// Whether a snapshot shows a thermal or hardware slowdown.
pub fn slowing(s: &GpuSnapshot) -> bool {
    s.throttle_reasons.iter().any(|r| is_slowdown(r))
}

/// The throttlers active in an amdgpu `gpu_metrics` table: `None` unless the table is
/// format 1, content 3 (the discrete GPUs' layout with ASIC-independent bits: Navi and
/// MI200 on current kernels), or when the driver fills the field with its "not
/// supported" ones. Tables 1.0 to 1.2 carry only ASIC-specific bits, and MI300's (1.4,
/// 1.5) another layout: those stay unread rather than guessed.
pub fn amd_throttlers(table: &[u8]) -> Option<Vec<String>> {
    // struct gpu_metrics_v1_3 (kgd_pp_interface.h): a 4-byte header (structure_size
    // u16, format_revision u8, content_revision u8), indep_throttle_status a u64 at
    // byte 112 of 120.
    const SIZE: usize = 120;
    const INDEP: usize = 112;
    let size = usize::from(u16::from_le_bytes([*table.first()?, *table.get(1)?]));
    let (format, content) = (*table.get(2)?, *table.get(3)?);
    if format != 1 || content != 3 || size != SIZE || table.len() < SIZE {
        return None;
    }
    let bits = u64::from_le_bytes(table[INDEP..INDEP + 8].try_into().ok()?);
    if bits == u64::MAX {
        return None;
    }
    Some(
        AMD_THROTTLERS
            .iter()
            .filter(|&&(bit, _)| bits >> bit & 1 == 1)
            .map(|&(_, name)| name.to_owned())
            .collect(),
    )
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
/// feed recorded snapshots). `source` is where they came from, or why there are none.
pub fn assess(
    source: std::result::Result<&str, String>,
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
    let (source, unavailable_reason) = match source {
        Ok(s) => (s.to_owned(), None),
        Err(why) => ("unavailable".to_owned(), Some(why)),
    };
    Hygiene {
        source,
        unavailable_reason,
        before,
        after,
        busy_at_start: busy,
        throttled_at_end: throttled,
        link_degraded,
        pcie,
        identity: None,
        notes,
    }
}

/// Where a GPU's state is read from.
enum Source {
    /// NVIDIA's management library, and the device's index in it.
    Nvml(Box<Nvml>, u32),
    /// Linux sysfs: the DRM card's PCI device directory, its hwmon, amdgpu's
    /// `gpu_metrics`, Intel's GT directories, and the PCIe link of any GPU.
    Sysfs(SysfsGpu),
    None,
}

pub struct Monitor {
    source: Source,
    name: String,
    /// Why there is no source, or what the fallback lacks.
    reason: Option<String>,
    /// A doubt about which card is read (several alike, no PCI address to tell).
    caveat: Option<String>,
    identity: Option<GpuIdentity>,
}

/// Which candidate (name, PCI address) is the adapter: by PCI address where both have
/// one, else by name, which only a single match makes certain (several alike are read
/// from the first, with a caveat). `what` names the candidates in the messages.
pub fn pick(
    bus: Option<&str>,
    name: &str,
    candidates: &[(String, Option<String>)],
    what: &str,
) -> std::result::Result<(usize, Option<String>), String> {
    let addr = bus.and_then(parse_bus_id);
    if let Some(a) = addr
        && candidates.iter().any(|c| c.1.is_some())
    {
        return candidates
            .iter()
            .position(|c| c.1.as_deref().and_then(parse_bus_id) == Some(a))
            .map(|i| (i, None))
            .ok_or_else(|| format!("no {what} at the adapter's PCI address {}", bus_id_text(a)));
    }
    let named: Vec<usize> = (0..candidates.len())
        .filter(|&i| {
            let n = &candidates[i].0;
            name.contains(n.as_str()) || n.contains(name)
        })
        .collect();
    match (named.as_slice(), candidates.len()) {
        ([i], _) => Ok((*i, None)),
        ([i, ..], _) => Ok((
            *i,
            Some(format!(
                "{} {what}s are '{name}' and the adapter gives no PCI address: the telemetry is the first's, which may be another card",
                named.len()
            )),
        )),
        ([], 1) => Ok((0, None)),
        ([], 0) => Err(format!("no {what}")),
        ([], n) => Err(format!("none of {n} {what}s is '{name}'")),
    }
}

impl Monitor {
    /// NVML for an NVIDIA adapter (the device at the adapter's PCI address, else the
    /// one of its name); else, or without NVML, the adapter's card in Linux sysfs.
    pub fn open(info: &wgpu::AdapterInfo) -> Monitor {
        let bus = Some(info.device_pci_bus_id.as_str()).filter(|b| !b.is_empty());
        let monitor = |source, reason, caveat, identity| Monitor {
            source,
            name: info.name.clone(),
            reason,
            caveat,
            identity,
        };
        let nvml_error = if info.vendor == 0x10de {
            match Nvml::init() {
                Ok(nvml) => {
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
                    match pick(bus, &info.name, &devices, "NVML device") {
                        Ok((index, caveat)) => {
                            let identity =
                                nvml.device_by_index(index as u32)
                                    .ok()
                                    .map(|d| GpuIdentity {
                                        pci_bus_id: devices[index].1.clone(),
                                        uuid: d.uuid().ok(),
                                        serial: d.serial().ok(),
                                    });
                            return monitor(
                                Source::Nvml(Box::new(nvml), index as u32),
                                None,
                                caveat,
                                identity,
                            );
                        }
                        Err(why) => format!("NVML: {why}"),
                    }
                }
                Err(e) => format!("NVML not available: {e}"),
            }
        } else {
            "NVML is NVIDIA's only".to_owned()
        };
        match SysfsGpu::find(Path::new("/sys"), info.vendor, info.device, bus, &info.name) {
            Ok((g, caveat)) => {
                let identity = g.identity();
                monitor(Source::Sysfs(g), Some(nvml_error), caveat, Some(identity))
            }
            Err(why) => monitor(
                Source::None,
                Some(format!("{nvml_error}; sysfs: {why}")),
                None,
                None,
            ),
        }
    }

    /// The card read, by the names an operator finds it by.
    pub fn identity(&self) -> Option<&GpuIdentity> {
        self.identity.as_ref()
    }

    /// `nvml`, `sysfs`, or `unavailable`.
    pub fn source(&self) -> &'static str {
        match self.source {
            Source::Nvml(..) => "nvml",
            Source::Sysfs(_) => "sysfs",
            Source::None => "unavailable",
        }
    }

    pub fn snapshot(&self) -> Option<GpuSnapshot> {
        let (nvml, index) = match &self.source {
            Source::Nvml(n, i) => (n, *i),
            Source::Sysfs(g) => return Some(g.snapshot(&self.name)),
            Source::None => return None,
        };
        let d = nvml.device_by_index(index).ok()?;
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
        let source = match self.source {
            Source::None => Err(self.reason.clone().unwrap_or_default()),
            _ => Ok(self.source()),
        };
        let mut h = assess(source, before, during, after);
        h.identity = self.identity.clone();
        h.notes.extend(self.caveat.clone());
        h
    }

    /// Whether the source says why the GPU throttles: NVML always, sysfs where amdgpu's
    /// `gpu_metrics` has ASIC-independent throttle bits or Intel's driver has throttle
    /// reasons.
    pub fn reports_throttle(&self) -> bool {
        match &self.source {
            Source::Nvml(..) => true,
            Source::Sysfs(g) => g.throttlers().is_some(),
            Source::None => false,
        }
    }

    /// Why there is no source, or (with sysfs) why not NVML.
    pub fn unavailable(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Snapshots every `period` on a thread of its own until the sampler is stopped,
    /// each stamped with its time since `t0`. Nothing is sampled without a source.
    pub fn sample_every(self: &Arc<Self>, period: Duration, t0: Instant) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let handle = (!matches!(self.source, Source::None)).then(|| {
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
    /// The samples taken after the first `from` (the sampler keeps running).
    pub fn since(&self, from: usize) -> Vec<GpuSnapshot> {
        let all = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        all.get(from..).unwrap_or_default().to_vec()
    }

    /// Stops sampling and returns every sample.
    pub fn finish(mut self) -> Vec<GpuSnapshot> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A GPU's card in Linux sysfs: its PCI device directory (vendor, device, amdgpu's busy
/// percentage and RAS counters), hwmon (temperature, power, clocks) and the PCI
/// functions that say its link to the host. Every file is optional: what a kernel or
/// driver lacks stays `None`.
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
    /// Intel's throttle-reason directories, one per GT, and the prefix of their files:
    /// i915's `cardN/gt/gtM/throttle_reason_*`, xe's `tileK/gtM/freq0/throttle/reason_*`.
    pub intel_throttle: Vec<(PathBuf, &'static str)>,
    /// Intel's actual GT frequency in MHz (i915 `rps_act_freq_mhz`, xe `act_freq`).
    pub intel_act_freq: Option<PathBuf>,
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

/// Intel's throttle reasons, as i915 and xe name their files (without the prefix), each
/// reported as `intel_<name>`. Thermal ones (RATL is the running-average thermal limit)
/// are slowdowns; power and current limits (PL1, PL2, PL4, VR TDC) the power cap.
const INTEL_THROTTLERS: [(&str, bool); 8] = [
    ("pl1", false),
    ("pl2", false),
    ("pl4", false),
    ("vr_tdc", false),
    ("thermal", true),
    ("prochot", true),
    ("ratl", true),
    ("vr_thermalert", true),
];

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

/// Where an Intel card says why it throttles and how fast its first GT runs: i915's GT
/// directories under the DRM card, xe's under the PCI device's tiles.
fn intel_gts(card: &Path, device: &Path) -> (Vec<(PathBuf, &'static str)>, Option<PathBuf>) {
    let i915: Vec<PathBuf> = subdirs(&card.join("gt"), "gt");
    let xe: Vec<PathBuf> = subdirs(device, "tile")
        .iter()
        .flat_map(|t| subdirs(t, "gt"))
        .map(|g| g.join("freq0"))
        .collect();
    let mut dirs: Vec<(PathBuf, &'static str)> = i915
        .iter()
        .filter(|g| g.join("throttle_reason_status").is_file())
        .map(|g| (g.clone(), "throttle_reason_"))
        .collect();
    dirs.extend(
        xe.iter()
            .map(|f| f.join("throttle"))
            .filter(|t| t.join("status").is_file())
            .map(|t| (t, "reason_")),
    );
    let act = i915
        .first()
        .map(|g| g.join("rps_act_freq_mhz"))
        .into_iter()
        .chain(xe.first().map(|f| f.join("act_freq")))
        .find(|p| p.is_file());
    (dirs, act)
}

/// The PCI address a device directory stands for (its real name, `0000:03:00.0`).
fn pci_address(dir: &Path) -> Option<String> {
    let real = std::fs::canonicalize(dir).ok()?;
    let name = real.file_name()?.to_str()?;
    parse_bus_id(name).map(bus_id_text)
}

/// A PCI function's directory in sysfs (it has a `vendor` file; a root bus does not).
fn is_pci_function(dir: &Path) -> bool {
    dir.join("vendor").is_file()
}

/// The card's link to the host, from its PCI device directory: walk up through the
/// bridges of the GPU's own vendor (a switch on the card) to the topmost one that is not
/// a root port, and name the port above it.
fn host_link(device: &Path) -> (PathBuf, Option<PathBuf>) {
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

/// A number from a sysfs file (first word; `0x` hex allowed).
fn read_num(p: &Path) -> Option<f64> {
    let t = std::fs::read_to_string(p).ok()?;
    let w = t.split_whitespace().next()?;
    match w.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok().map(|v| v as f64),
        None => w.parse().ok(),
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
        let (intel_throttle, intel_act_freq) = intel_gts(dev.parent().unwrap_or(root), &dev);
        let hwmon = std::fs::read_dir(dev.join("hwmon"))
            .ok()
            .and_then(|mut r| r.find_map(|e| e.ok().map(|e| e.path())));
        let (link, slot) = host_link(&dev);
        Ok((
            SysfsGpu {
                device: dev,
                hwmon,
                link,
                slot,
                intel_throttle,
                intel_act_freq,
                energy: Mutex::new(None),
            },
            caveat,
        ))
    }

    /// The card's PCI address, and amdgpu's `unique_id` and `serial_number` where the
    /// board has them.
    pub fn identity(&self) -> GpuIdentity {
        let text = |f: &str| {
            std::fs::read_to_string(self.device.join(f))
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
        };
        GpuIdentity {
            pci_bus_id: pci_address(&self.device),
            uuid: text("unique_id"),
            serial: text("serial_number"),
        }
    }

    /// The active throttlers: from amdgpu's `gpu_metrics` where it has readable ones,
    /// from Intel's throttle-reason files (any GT) where the driver has them.
    pub fn throttlers(&self) -> Option<Vec<String>> {
        if let Some(amd) = std::fs::read(self.device.join("gpu_metrics"))
            .ok()
            .and_then(|t| amd_throttlers(&t))
        {
            return Some(amd);
        }
        if self.intel_throttle.is_empty() {
            return None;
        }
        Some(
            INTEL_THROTTLERS
                .iter()
                .filter(|(name, _)| {
                    self.intel_throttle.iter().any(|(dir, prefix)| {
                        read_num(&dir.join(format!("{prefix}{name}"))) == Some(1.0)
                    })
                })
                .map(|(name, _)| format!("intel_{name}"))
                .collect(),
        )
    }

    pub fn snapshot(&self, name: &str) -> GpuSnapshot {
        let dev = |f: &str| read_num(&self.device.join(f));
        let hw = |f: &str| self.hwmon.as_ref().and_then(|h| read_num(&h.join(f)));
        let text = |f: &str| std::fs::read_to_string(self.device.join(f)).ok();
        // RAS: "ue: 0\nce: 3" (amdgpu, where the card has ECC memory).
        let ras = text("ras/umc_err_count");
        let ras_count = |key: &str| {
            ras.as_ref()?
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
        };
        let mhz = |hz: Option<f64>| hz.map(|v| (v / 1e6).round() as u32);
        // The PCIe link: a generation from a speed (`16.0 GT/s PCIe`), a lane count.
        let speed = |dir: &Path, f: &str| {
            std::fs::read_to_string(dir.join(f))
                .ok()
                .and_then(|t| link_gen(&t))
        };
        let width = |dir: &Path, f: &str| read_num(&dir.join(f)).map(|v| v as u32);
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
            sm_clock_mhz: mhz(hw("freq1_input")).or_else(|| {
                self.intel_act_freq
                    .as_ref()
                    .and_then(|p| read_num(p))
                    .map(|v| v as u32)
            }),
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
            ecc_uncorrected_volatile: ras_count("ue:"),
            ecc_corrected_volatile: ras_count("ce:"),
            utilization_percent: dev("gpu_busy_percent").map(|v| v as u32),
            other_processes: Vec::new(),
            pcie_gen: speed(&self.link, "current_link_speed"),
            pcie_gen_max: capped(
                speed(&self.link, "max_link_speed"),
                self.slot
                    .as_deref()
                    .and_then(|s| speed(s, "max_link_speed")),
            ),
            pcie_width: width(&self.link, "current_link_width"),
            pcie_width_max: capped(
                width(&self.link, "max_link_width"),
                self.slot
                    .as_deref()
                    .and_then(|s| width(s, "max_link_width")),
            ),
            at_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hygiene of a run whose every snapshot is `s`.
    fn assessed(s: &GpuSnapshot) -> Hygiene {
        assess(
            Ok("sysfs"),
            Some(s.clone()),
            std::slice::from_ref(s),
            Some(s.clone()),
        )
    }

    /// The card of these PCI ids in a fake root, with no PCI address to go by.
    fn find(
        root: &tempfile::TempDir,
        vendor: u32,
        device: u32,
    ) -> std::result::Result<SysfsGpu, String> {
        SysfsGpu::find(root.path(), vendor, device, None, "gpu").map(|(g, _)| g)
    }

    /// A card as amdgpu lays it out in sysfs, in a temporary root.
    fn fake_sys(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = root.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        root
    }

    #[test]
    fn an_amd_card_is_read_from_sysfs() {
        let d = "class/drm/card1/device";
        let root = fake_sys(&[
            ("class/drm/card0/device/vendor", "0x8086\n"),
            ("class/drm/card0/device/device", "0x56a0\n"),
            ("class/drm/card1-DP-1/status", "connected\n"),
            (&format!("{d}/vendor"), "0x1002\n"),
            (&format!("{d}/device"), "0x744c\n"),
            (&format!("{d}/gpu_busy_percent"), "97\n"),
            (&format!("{d}/current_link_speed"), "8.0 GT/s PCIe\n"),
            (&format!("{d}/max_link_speed"), "16.0 GT/s PCIe\n"),
            (&format!("{d}/current_link_width"), "16\n"),
            (&format!("{d}/max_link_width"), "16\n"),
            (&format!("{d}/ras/umc_err_count"), "ue: 0\nce: 3\n"),
            (&format!("{d}/hwmon/hwmon4/temp1_input"), "71000\n"),
            (&format!("{d}/hwmon/hwmon4/power1_average"), "287000000\n"),
            (&format!("{d}/hwmon/hwmon4/freq1_input"), "2482000000\n"),
            (&format!("{d}/hwmon/hwmon4/freq2_input"), "1249000000\n"),
        ]);
        assert!(find(&root, 0x1002, 0x7448).is_err());
        let g = find(&root, 0x1002, 0x744c).unwrap();
        let s = g.snapshot("AMD Radeon RX 7900 XTX (RADV NAVI31)");
        assert_eq!(s.temperature_c, Some(71));
        assert_eq!(s.power_w, Some(287.0));
        assert_eq!(
            (s.sm_clock_mhz, s.memory_clock_mhz),
            (Some(2482), Some(1249))
        );
        assert_eq!(s.utilization_percent, Some(97));
        assert_eq!(
            (s.ecc_uncorrected_volatile, s.ecc_corrected_volatile),
            (Some(0), Some(3))
        );
        assert_eq!(
            (s.pcie_gen, s.pcie_gen_max, s.pcie_width, s.pcie_width_max),
            (Some(3), Some(4), Some(16), Some(16))
        );
        // A Gen3 link that should be Gen4, all through the run: a hygiene finding.
        let h = assessed(&s);
        assert!(h.link_degraded && h.source == "sysfs", "{h:?}");
    }

    /// class/drm/card0/device linked to the PCI function at `gpu`, as the kernel does.
    fn drm_card0(root: &tempfile::TempDir, gpu: &str) {
        std::fs::create_dir_all(root.path().join("class/drm/card0")).unwrap();
        std::os::unix::fs::symlink(
            root.path().join(gpu),
            root.path().join("class/drm/card0/device"),
        )
        .unwrap();
    }

    /// A Navi card as the PCI tree holds it: root port 00:01.1 (the host's), the card's
    /// switch (upstream port 01:00.0, downstream port 02:00.0), the GPU at 03:00.0, and
    /// its DRM card linked to it. `host` is the root port's maximum, `up` the upstream
    /// port's current link; the GPU's own link to the switch reads a fixed 2.5 GT/s x1.
    fn navi_behind_switch(host: &str, up: (&str, &str)) -> tempfile::TempDir {
        let rp = "devices/pci0000:00/0000:00:01.1";
        let us = format!("{rp}/0000:01:00.0");
        let ds = format!("{us}/0000:02:00.0");
        let gpu = format!("{ds}/0000:03:00.0");
        let link = |dir: &str, vendor: &str, cur: (&str, &str), max: (&str, &str)| {
            vec![
                (format!("{dir}/vendor"), format!("{vendor}\n")),
                (format!("{dir}/current_link_speed"), format!("{}\n", cur.0)),
                (format!("{dir}/current_link_width"), format!("{}\n", cur.1)),
                (format!("{dir}/max_link_speed"), format!("{}\n", max.0)),
                (format!("{dir}/max_link_width"), format!("{}\n", max.1)),
            ]
        };
        let mut files = link(rp, "0x1022", up, (host, "16"));
        files.extend(link(&us, "0x1002", up, ("16.0 GT/s PCIe", "16")));
        files.extend(link(
            &ds,
            "0x1002",
            ("16.0 GT/s PCIe", "16"),
            ("16.0 GT/s PCIe", "16"),
        ));
        files.extend(link(
            &gpu,
            "0x1002",
            ("2.5 GT/s PCIe", "1"),
            ("2.5 GT/s PCIe", "1"),
        ));
        files.push((format!("{gpu}/device"), "0x73bf\n".into()));
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let root = fake_sys(&files);
        drm_card0(&root, &gpu);
        root
    }

    #[test]
    fn a_card_behind_its_own_switch_reports_the_switchs_link_to_the_host() {
        let link = |root: &tempfile::TempDir| {
            let s = find(root, 0x1002, 0x73bf)
                .unwrap()
                .snapshot("AMD Radeon RX 6900 XT (RADV NAVI21)");
            (s.pcie_gen, s.pcie_gen_max, s.pcie_width, s.pcie_width_max)
        };
        // Healthy at Gen4 x16, though the GPU's own link reads Gen1 x1.
        let healthy = navi_behind_switch("16.0 GT/s PCIe", ("16.0 GT/s PCIe", "16"));
        assert_eq!(link(&healthy), (Some(4), Some(4), Some(16), Some(16)));
        let g = find(&healthy, 0x1002, 0x73bf).unwrap();
        assert!(g.link.ends_with("0000:01:00.0"), "{:?}", g.link);
        assert!(g.slot.unwrap().ends_with("0000:00:01.1"));
        // Trained down to Gen3 x8 in a Gen4 slot: degraded.
        let down = navi_behind_switch("16.0 GT/s PCIe", ("8.0 GT/s PCIe", "8"));
        assert_eq!(link(&down), (Some(3), Some(4), Some(8), Some(16)));
        // At Gen3 in a slot that can do no more: the slot's maximum, not degraded.
        let slot = navi_behind_switch("8.0 GT/s PCIe", ("8.0 GT/s PCIe", "16"));
        assert_eq!(link(&slot), (Some(3), Some(3), Some(16), Some(16)));
        for (root, degraded) in [(&healthy, false), (&down, true), (&slot, false)] {
            let s = find(root, 0x1002, 0x73bf).unwrap().snapshot("navi");
            let h = assessed(&s);
            assert_eq!(h.link_degraded, degraded, "{h:?}");
        }
    }

    #[test]
    fn an_intel_card_stops_below_the_intel_root_port() {
        // Arc sits behind its own switch, and Intel's root port shares the GPU's vendor
        // id: the walk takes the switch and stops below the root port, the host's.
        let rp = "devices/pci0000:00/0000:00:01.0";
        let us = format!("{rp}/0000:03:00.0");
        let gpu = format!("{us}/0000:04:01.0/0000:05:00.0");
        let root = fake_sys(&[
            (&format!("{rp}/vendor"), "0x8086\n"),
            (&format!("{rp}/max_link_speed"), "16.0 GT/s PCIe\n"),
            (&format!("{rp}/max_link_width"), "16\n"),
            (&format!("{us}/vendor"), "0x8086\n"),
            (&format!("{us}/current_link_speed"), "16.0 GT/s PCIe\n"),
            (&format!("{us}/current_link_width"), "8\n"),
            (&format!("{us}/max_link_speed"), "16.0 GT/s PCIe\n"),
            (&format!("{us}/max_link_width"), "16\n"),
            (&format!("{us}/0000:04:01.0/vendor"), "0x8086\n"),
            (&format!("{gpu}/vendor"), "0x8086\n"),
            (&format!("{gpu}/device"), "0x56a0\n"),
            (&format!("{gpu}/current_link_speed"), "2.5 GT/s PCIe\n"),
            (&format!("{gpu}/current_link_width"), "1\n"),
        ]);
        drm_card0(&root, &gpu);
        let g = find(&root, 0x8086, 0x56a0).unwrap();
        assert!(g.link.ends_with("0000:03:00.0"), "{:?}", g.link);
        assert!(g.slot.as_ref().unwrap().ends_with("0000:00:01.0"));
        let s = g.snapshot("Intel(R) Arc(tm) A770 Graphics (DG2)");
        // Gen4 x8 of x16: degraded width.
        assert_eq!(
            (s.pcie_gen, s.pcie_gen_max, s.pcie_width, s.pcie_width_max),
            (Some(4), Some(4), Some(8), Some(16))
        );
    }

    /// An amdgpu `gpu_metrics` table of layout 1.3 (120 bytes) with these
    /// `indep_throttle_status` bits.
    fn metrics_v1_3(bits: u64) -> Vec<u8> {
        let mut t = vec![0u8; 120];
        t[..4].copy_from_slice(&[120, 0, 1, 3]);
        t[112..].copy_from_slice(&bits.to_le_bytes());
        t
    }

    #[test]
    fn amdgpu_throttlers_are_read_from_gpu_metrics() {
        let hot_and_capped = 1 << 36 | 1 << 0 | 1 << 44 | 1 << 57;
        assert_eq!(
            amd_throttlers(&metrics_v1_3(hot_and_capped)).unwrap(),
            ["amd_ppt0", "amd_temp_hotspot", "amd_vrhot0", "amd_fit"]
        );
        assert_eq!(amd_throttlers(&metrics_v1_3(0)), Some(vec![]));
        // "Not supported" (all ones), another layout, a short read: unknown, not "none".
        assert_eq!(amd_throttlers(&metrics_v1_3(u64::MAX)), None);
        let mut v1_2 = metrics_v1_3(1 << 36);
        v1_2[3] = 2;
        assert_eq!(amd_throttlers(&v1_2), None);
        let mut wrong_size = metrics_v1_3(1 << 36);
        wrong_size[0] = 104;
        assert_eq!(amd_throttlers(&wrong_size), None);
        assert_eq!(amd_throttlers(&metrics_v1_3(1 << 36)[..100]), None);
        // Temperatures slow a run down; power and current limits are the power cap.
        assert!(is_slowdown("amd_temp_hotspot") && !is_power_cap("amd_temp_hotspot"));
        assert!(is_power_cap("amd_ppt0") && !is_slowdown("amd_ppt0"));
        assert!(is_power_cap("amd_tdc_gfx") && is_slowdown("amd_prochot_gfx"));
        assert!(is_slowdown("hw_thermal_slowdown") && is_power_cap("sw_power_cap"));
    }

    #[test]
    fn a_hot_amd_card_makes_the_timing_suspect() {
        let d = "class/drm/card0/device";
        let table = metrics_v1_3(1 << 36);
        let root = fake_sys(&[
            (&format!("{d}/vendor"), "0x1002\n"),
            (&format!("{d}/device"), "0x744c\n"),
        ]);
        let g = find(&root, 0x1002, 0x744c).unwrap();
        // Without gpu_metrics: no reasons, and no claim of having them.
        assert!(g.throttlers().is_none());
        assert!(g.snapshot("navi31").throttle_reasons.is_empty());
        std::fs::write(root.path().join(d).join("gpu_metrics"), table).unwrap();
        let s = g.snapshot("navi31");
        assert_eq!(s.throttle_reasons, ["amd_temp_hotspot"]);
        let h = assessed(&s);
        assert!(h.throttled_at_end && h.timing_suspect(), "{h:?}");
    }

    #[test]
    fn the_adapter_is_found_by_pci_address_else_by_a_name_only_one_has() {
        let h100 = "NVIDIA H100 80GB HBM3";
        let devs = |addrs: [Option<&str>; 3]| -> Vec<(String, Option<String>)> {
            addrs
                .iter()
                .map(|a| (h100.to_owned(), a.map(str::to_owned)))
                .collect()
        };
        // NVML writes an 8-digit domain, wgpu a 4-digit one: the same address.
        let three = devs([
            Some("00000000:17:00.0"),
            Some("00000000:3B:00.0"),
            Some("00000000:9A:00.0"),
        ]);
        assert_eq!(pick(Some("0000:3b:00.0"), h100, &three, "d"), Ok((1, None)));
        // An address none has: no telemetry rather than another card's.
        let e = pick(Some("0000:b1:00.0"), h100, &three, "NVML device").unwrap_err();
        assert!(e.contains("0000:b1:00.0"), "{e}");
        // Without an address, alike names are a doubt, said.
        let (i, caveat) = pick(None, h100, &three, "NVML device").unwrap();
        assert_eq!(i, 0);
        assert!(caveat.unwrap().starts_with("3 NVML devices are"));
        // Candidates without addresses fall back to the name.
        let mut mixed = devs([None, None, None]);
        mixed[2].0 = "NVIDIA H200".into();
        assert_eq!(
            pick(Some("0000:17:00.0"), "NVIDIA H200", &mixed, "d"),
            Ok((2, None))
        );
        assert_eq!(pick(None, "Tesla T4", &mixed[..1], "d"), Ok((0, None)));
        assert!(pick(None, "Tesla T4", &mixed, "d").is_err());
        assert!(pick(None, "Tesla T4", &[], "d").is_err());
    }

    #[test]
    fn of_two_alike_cards_sysfs_reads_the_adapters() {
        let files: Vec<(String, String)> = [("0000:03:00.0", "a1"), ("0000:43:00.0", "b2")]
            .iter()
            .flat_map(|(addr, id)| {
                let d = format!("devices/pci0000:00/{addr}");
                [
                    (format!("{d}/vendor"), "0x1002\n".to_owned()),
                    (format!("{d}/device"), "0x74a1\n".to_owned()),
                    (format!("{d}/unique_id"), format!("{id}\n")),
                ]
            })
            .collect();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let root = fake_sys(&files);
        for (card, addr) in [("card0", "0000:03:00.0"), ("card1", "0000:43:00.0")] {
            std::fs::create_dir_all(root.path().join("class/drm").join(card)).unwrap();
            std::os::unix::fs::symlink(
                root.path().join("devices/pci0000:00").join(addr),
                root.path().join("class/drm").join(card).join("device"),
            )
            .unwrap();
        }
        let (g, caveat) =
            SysfsGpu::find(root.path(), 0x1002, 0x74a1, Some("0000:43:00.0"), "MI300X").unwrap();
        assert_eq!(caveat, None);
        let id = g.identity();
        assert_eq!(id.pci_bus_id.as_deref(), Some("0000:43:00.0"));
        assert_eq!(id.uuid.as_deref(), Some("b2"));
        let (g, caveat) = SysfsGpu::find(root.path(), 0x1002, 0x74a1, None, "MI300X").unwrap();
        assert_eq!(g.identity().uuid.as_deref(), Some("a1"));
        assert!(caveat.is_some());
    }

    #[test]
    fn intel_throttle_reasons_and_clock_come_from_i915_and_xe() {
        let i915 = "class/drm/card0";
        let xe = "class/drm/card1/device/tile0";
        let root = fake_sys(&[
            (&format!("{i915}/device/vendor"), "0x8086\n"),
            (&format!("{i915}/device/device"), "0x56a0\n"),
            (&format!("{i915}/gt/gt0/rps_act_freq_mhz"), "2050\n"),
            (&format!("{i915}/gt/gt0/throttle_reason_status"), "1\n"),
            (&format!("{i915}/gt/gt0/throttle_reason_pl1"), "1\n"),
            (&format!("{i915}/gt/gt0/throttle_reason_thermal"), "0\n"),
            (
                &format!("{i915}/device/hwmon/hwmon3/energy1_input"),
                "123\n",
            ),
            ("class/drm/card1/device/vendor", "0x8086\n"),
            ("class/drm/card1/device/device", "0xe20b\n"),
            (&format!("{xe}/gt0/freq0/act_freq"), "2850\n"),
            (&format!("{xe}/gt0/freq0/throttle/status"), "1\n"),
            (&format!("{xe}/gt0/freq0/throttle/reason_thermal"), "1\n"),
            (&format!("{xe}/gt0/freq0/throttle/reason_pl1"), "0\n"),
            (&format!("{xe}/gt1/freq0/throttle/status"), "1\n"),
            (&format!("{xe}/gt1/freq0/throttle/reason_pl2"), "1\n"),
            ("class/drm/card1/device/hwmon/hwmon5/temp2_input", "81000\n"),
        ]);
        let arc = find(&root, 0x8086, 0x56a0).unwrap();
        let s = arc.snapshot("Intel(R) Arc(tm) A770 Graphics (DG2)");
        assert_eq!(s.throttle_reasons, ["intel_pl1"]);
        assert_eq!((s.sm_clock_mhz, s.temperature_c), (Some(2050), None));
        // xe: any GT's reasons; the clock of the first; the package temperature.
        let bmg = find(&root, 0x8086, 0xe20b).unwrap();
        let s = bmg.snapshot("Intel(R) Graphics (BMG G21)");
        assert_eq!(s.throttle_reasons, ["intel_pl2", "intel_thermal"]);
        assert_eq!((s.sm_clock_mhz, s.temperature_c), (Some(2850), Some(81)));
        assert!(bmg.throttlers().is_some());
        assert!(is_slowdown("intel_thermal") && is_power_cap("intel_pl2"));
        assert!(!is_slowdown("intel_pl1") && !is_power_cap("intel_ratl"));
        let h = assessed(&s);
        assert!(h.throttled_at_end, "{h:?}");
        // A driver without the files: no reasons, and none claimed.
        let root2 = fake_sys(&[
            ("class/drm/card0/device/vendor", "0x8086\n"),
            ("class/drm/card0/device/device", "0x56a0\n"),
        ]);
        assert!(find(&root2, 0x8086, 0x56a0).unwrap().throttlers().is_none());
    }

    #[test]
    fn intel_power_is_the_energy_counters_difference() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(100);
        // 25 J in 100 ms: 250 W.
        assert_eq!(power_between((t0, 1e6), (t1, 26e6)), Some(250.0));
        assert_eq!(
            power_between((t0, 26e6), (t1, 1e6)),
            None,
            "counter went back"
        );
        assert_eq!(power_between((t1, 1e6), (t0, 2e6)), None);
        assert_eq!(power_between((t0, 1e6), (t0, 2e6)), None);
        let hw = "class/drm/card0/device/hwmon/hwmon3/energy1_input";
        let root = fake_sys(&[
            ("class/drm/card0/device/vendor", "0x8086\n"),
            ("class/drm/card0/device/device", "0xe20b\n"),
            (hw, "1000000\n"),
        ]);
        let g = find(&root, 0x8086, 0xe20b).unwrap();
        assert_eq!(g.snapshot("bmg").power_w, None, "one reading is no power");
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(root.path().join(hw), "3000000\n").unwrap();
        let p = g.snapshot("bmg").power_w.unwrap();
        // 2 J over at least the 20 ms slept: at most 100 W.
        assert!(p > 0.0 && p <= 100.0, "{p}");
    }

    #[test]
    fn link_speeds_map_to_generations() {
        assert_eq!(link_gen("2.5 GT/s PCIe"), Some(1));
        assert_eq!(link_gen("32.0 GT/s PCIe"), Some(5));
        assert_eq!(link_gen("Unknown"), None);
    }
}
