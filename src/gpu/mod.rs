//! Instance → adapter choice → device, kept apart from kernel work so that tests and
//! benches reuse one device. Every wait on the GPU is bounded, and errors the driver
//! reports asynchronously (device loss, validation, out of memory) are collected so the
//! runner can turn them into a classified result instead of a panic.

pub mod memory;
pub mod pipeline;
pub mod timing;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{EnvKind, Error, Result};
use crate::model::{AdapterFingerprint, LimitsUsed, TimingInfo, TimingMethod};

/// Which adapter to use. `backend` and `name` narrow the candidates; among those left,
/// the high-performance preference (discrete > integrated > virtual > cpu) decides.
#[derive(Debug, Clone, Default)]
pub struct AdapterFilter {
    pub backends: Option<wgpu::Backends>,
    pub name: Option<String>,
    /// Fault injection: pretend only software adapters exist.
    pub software_only: bool,
    /// `--adapter all`: every card once (`cards`), each run on its own.
    pub all: bool,
    /// With `all`: the cards at the same time.
    pub concurrent: bool,
}

/// A card as `--adapter all` covers it: the adapter that stands for it, and its key.
#[derive(Debug, Clone)]
pub struct CardRef {
    /// The PCI address, else backend and name (`vulkan llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub key: String,
    pub info: wgpu::AdapterInfo,
}

impl CardRef {
    /// The filter that opens this card alone: its backend, and its PCI address (or name).
    pub fn filter(&self, base: &AdapterFilter) -> AdapterFilter {
        let by = if self.info.device_pci_bus_id.is_empty() {
            self.info.name.clone()
        } else {
            self.info.device_pci_bus_id.clone()
        };
        AdapterFilter {
            backends: Some(wgpu::Backends::from(self.info.backend)),
            name: Some(by),
            software_only: base.software_only,
            all: false,
            concurrent: false,
        }
    }

    /// The key as a folder name: letters, digits, `.`, `_` and `-` only (artifact
    /// uploads refuse `:`), at most 100 bytes.
    pub fn dir_name(&self) -> String {
        let mut d: String = self
            .key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        while d.contains("--") {
            d = d.replace("--", "-");
        }
        let d = d.trim_matches('-');
        d[..d.len().min(100)].to_owned()
    }
}

/// Every card once: the adapters of every backend, the same card on two backends (one
/// PCI address) taken once, Vulkan first; adapters without an address told apart by
/// backend and name. Hardware before software, then by device type.
pub fn cards(backends: Option<wgpu::Backends>) -> Vec<CardRef> {
    let mut infos: Vec<wgpu::AdapterInfo> = enumerate(backends).iter().map(adapter_info).collect();
    let backend_rank = |b: wgpu::Backend| match b {
        wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Metal => 1,
        wgpu::Backend::Dx12 => 2,
        wgpu::Backend::Gl => 3,
        _ => 4,
    };
    infos.sort_by_key(|i| {
        (
            software_reason(i).is_some(),
            preference(i.device_type),
            backend_rank(i.backend),
        )
    });
    // A card on a backend that gives no PCI address (GL) is the card another backend
    // names with an address, where the names agree ("NVIDIA H200/PCIe/SSE2" on GL is
    // Vulkan's "NVIDIA H200").
    let addressed: Vec<String> = infos
        .iter()
        .filter(|i| !i.device_pci_bus_id.is_empty())
        .map(|i| i.name.to_lowercase())
        .collect();
    infos.retain(|i| {
        let n = i.name.to_lowercase();
        !i.device_pci_bus_id.is_empty()
            || !addressed
                .iter()
                .any(|a| !a.is_empty() && (n.contains(a.as_str()) || a.contains(n.as_str())))
    });
    let mut out: Vec<CardRef> = Vec::new();
    for info in infos {
        let key = if info.device_pci_bus_id.is_empty() {
            format!("{} {}", info.backend.to_str(), info.name)
        } else {
            info.device_pci_bus_id.clone()
        };
        if !out.iter().any(|c| c.key == key) {
            out.push(CardRef { key, info });
        }
    }
    out
}

pub fn instance(backends: Option<wgpu::Backends>) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if let Some(b) = backends {
        desc.backends = b;
    }
    wgpu::Instance::new(desc)
}

pub fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete-gpu",
        wgpu::DeviceType::IntegratedGpu => "integrated-gpu",
        wgpu::DeviceType::VirtualGpu => "virtual-gpu",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    }
}

/// Software implementations by the names, drivers and vendor ids they go by: some
/// report a device type other than cpu (Mesa on WARP under WSLg is `other`, named
/// "D3D12 (Microsoft Basic Render Driver)"). Why the adapter counts as software, or
/// None for hardware.
pub fn software_reason(info: &wgpu::AdapterInfo) -> Option<String> {
    if info.device_type == wgpu::DeviceType::Cpu {
        return Some("device type cpu".into());
    }
    const NAMES: [(&str, &str); 6] = [
        ("llvmpipe", "llvmpipe"),
        ("lavapipe", "lavapipe"),
        ("softpipe", "softpipe"),
        ("swiftshader", "SwiftShader"),
        ("microsoft basic render driver", "WARP"),
        ("warp", "WARP"),
    ];
    let texts = [&info.name, &info.driver, &info.driver_info];
    for (needle, what) in NAMES {
        // "warp" only as a word of its own: not inside another name.
        let hit = texts.iter().any(|t| {
            let t = t.to_lowercase();
            if needle == "warp" {
                t.split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w == needle)
            } else {
                t.contains(needle)
            }
        });
        if hit {
            return Some(format!("{what}, by its name or driver"));
        }
    }
    // Mesa's own vendor id is lavapipe's and llvmpipe's; 0x1ae0:0xc0de is SwiftShader;
    // Microsoft's 0x1414:0x008c is WARP.
    match (info.vendor, info.device) {
        (0x10005, _) => Some("Mesa's software vendor id 0x10005".into()),
        (0x1ae0, 0xc0de) => Some("SwiftShader's ids 0x1ae0:0xc0de".into()),
        (0x1414, 0x008c) => Some("WARP's ids 0x1414:0x008c".into()),
        _ => None,
    }
}

fn preference(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// The adapter's info with the driver strings trimmed (some drivers pad them).
pub fn adapter_info(adapter: &wgpu::Adapter) -> wgpu::AdapterInfo {
    let mut info = adapter.get_info();
    info.driver = info.driver.trim().to_owned();
    info.driver_info = info.driver_info.trim().to_owned();
    info
}

pub fn backend_name(b: wgpu::Backend) -> String {
    b.to_str().to_owned()
}

/// Parses `vulkan|gl|metal|dx12` (also the comma lists `WGPU_BACKEND` takes).
pub fn parse_backend(s: &str) -> std::result::Result<wgpu::Backends, String> {
    let mut out = wgpu::Backends::empty();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out |= match part.to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            other => {
                return Err(format!(
                    "unknown backend '{other}'; use one of vulkan, gl, metal, dx12"
                ));
            }
        };
    }
    if out.is_empty() {
        return Err("empty backend; use one of vulkan, gl, metal, dx12".into());
    }
    Ok(out)
}

/// A PCI address (`0000:17:00.0`, or NVML's `00000000:17:00.0`) as domain, bus, device
/// and function.
pub fn parse_bus_id(s: &str) -> Option<(u32, u32, u32, u32)> {
    let (domain, rest) = s.trim().split_once(':')?;
    let (bus, rest) = rest.split_once(':')?;
    let (device, function) = rest.split_once('.')?;
    let hex = |t: &str| u32::from_str_radix(t, 16).ok();
    Some((hex(domain)?, hex(bus)?, hex(device)?, hex(function)?))
}

/// The address written as wgpu and sysfs write it.
pub fn bus_id_text((domain, bus, device, function): (u32, u32, u32, u32)) -> String {
    format!("{domain:04x}:{bus:02x}:{device:02x}.{function}")
}

/// `, PCI 0000:17:00.0` after an adapter's other facts, or nothing where the backend
/// gives no address.
pub fn pci_note(bus: &str) -> String {
    match bus {
        "" => String::new(),
        b => format!(", PCI {b}"),
    }
}

/// Whether `--adapter`'s text picks this adapter: a PCI address equal to the adapter's,
/// else a part of its name (case-insensitive).
pub fn adapter_matches(wanted: &str, info: &wgpu::AdapterInfo) -> bool {
    match parse_bus_id(wanted) {
        Some(addr) => parse_bus_id(&info.device_pci_bus_id) == Some(addr),
        None => info.name.to_lowercase().contains(&wanted.to_lowercase()),
    }
}

/// Every adapter wgpu can see on the requested backends.
pub fn enumerate(backends: Option<wgpu::Backends>) -> Vec<wgpu::Adapter> {
    let inst = instance(backends);
    pollster::block_on(inst.enumerate_adapters(backends.unwrap_or(wgpu::Backends::all())))
}

/// An adapter as the messages name it: "llvmpipe (vulkan, cpu, PCI …)".
fn adapter_text(i: &wgpu::AdapterInfo) -> String {
    format!(
        "{} ({}, {}{})",
        i.name,
        i.backend.to_str(),
        device_type_name(i.device_type),
        pci_note(&i.device_pci_bus_id)
    )
}

/// The environment variables that decide which drivers and backends wgpu looks at,
/// as set: named in the message when no adapter is found.
pub fn adapter_environment() -> Vec<String> {
    [
        "VK_ICD_FILENAMES",
        "VK_DRIVER_FILES",
        "VK_ADD_DRIVER_FILES",
        "WGPU_BACKEND",
    ]
    .iter()
    .filter_map(|k| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{k}={v}"))
    })
    .collect()
}

/// The adapter `filter` chooses (discrete > integrated > virtual > cpu), and the other
/// adapters that matched `--adapter` too, as the messages name them.
pub fn choose_adapter(filter: &AdapterFilter) -> Result<(wgpu::Adapter, Vec<String>)> {
    let _span = tracing::info_span!("request_adapter").entered();
    let all = enumerate(filter.backends);
    let seen: Vec<String> = all.iter().map(|a| adapter_text(&a.get_info())).collect();
    let mut candidates: Vec<wgpu::Adapter> = all
        .into_iter()
        .filter(|a| {
            let i = a.get_info();
            let name_ok = filter.name.as_ref().is_none_or(|n| adapter_matches(n, &i));
            let soft_ok = !filter.software_only || software_reason(&i).is_some();
            name_ok && soft_ok
        })
        .collect();
    // Hardware first, whatever type a software adapter reports.
    candidates.sort_by_key(|a| {
        let i = a.get_info();
        (software_reason(&i).is_some(), preference(i.device_type))
    });
    let mut candidates = candidates.into_iter();
    if let Some(chosen) = candidates.next() {
        let others = match filter.name {
            Some(_) => candidates.map(|a| adapter_text(&a.get_info())).collect(),
            None => Vec::new(),
        };
        return Ok((chosen, others));
    }
    let wanted = filter
        .name
        .as_deref()
        .map(|n| format!(" matching '{n}'"))
        .unwrap_or_default();
    let env = adapter_environment();
    let env_note = if env.is_empty() {
        String::new()
    } else {
        format!(
            " (set in the environment: {}; check or unset them)",
            env.join(", ")
        )
    };
    if !seen.is_empty() {
        return Err(Error::env(
            EnvKind::NoAdapter,
            format!(
                "no adapter{wanted}; adapters seen: {}; fix --adapter/--backend (or WGPU_ADAPTER_NAME/WGPU_BACKEND){env_note}",
                seen.join("; ")
            ),
        ));
    }
    // Nothing on the backends asked for: what do the others have?
    let elsewhere: Vec<String> = match filter.backends {
        Some(b) if b != wgpu::Backends::all() => enumerate(Some(wgpu::Backends::all()))
            .iter()
            .map(|a| adapter_text(&a.get_info()))
            .collect(),
        _ => Vec::new(),
    };
    let on = filter
        .backends
        .filter(|b| *b != wgpu::Backends::all())
        .map(|b| format!(" on backend {}", backends_text(b)))
        .unwrap_or_default();
    Err(Error::env(
        EnvKind::NoAdapter,
        if !elsewhere.is_empty() {
            format!(
                "no adapter{wanted}{on}; adapters on other backends: {}; choose one with --backend (or WGPU_BACKEND){env_note}",
                elsewhere.join("; ")
            )
        } else if !env.is_empty() {
            format!(
                "no adapter{wanted}{on}{env_note}; without them wgpu looks at every installed driver (`gpu-canary adapters` lists them)"
            )
        } else {
            format!(
                "no GPU adapter found{on}; install a Vulkan driver (on Debian/Ubuntu for a software adapter: apt-get install -y mesa-vulkan-drivers libvulkan1) and check `gpu-canary adapters`"
            )
        },
    ))
}

/// Backends as people name them: "vulkan, gl".
fn backends_text(b: wgpu::Backends) -> String {
    [
        (wgpu::Backends::VULKAN, "vulkan"),
        (wgpu::Backends::GL, "gl"),
        (wgpu::Backends::METAL, "metal"),
        (wgpu::Backends::DX12, "dx12"),
        (wgpu::Backends::BROWSER_WEBGPU, "webgpu"),
    ]
    .iter()
    .filter(|(f, _)| b.contains(*f))
    .map(|(_, n)| *n)
    .collect::<Vec<_>>()
    .join(", ")
}

/// Errors reported by the device outside any call's return value.
#[derive(Debug, Default)]
pub struct ErrorSink {
    pub errors: Mutex<Vec<(EnvKind, String)>>,
}

impl ErrorSink {
    fn push(&self, kind: EnvKind, msg: String) {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((kind, msg));
    }

    /// The first error reported so far, as the run's error.
    pub fn check(&self) -> Result<()> {
        let errs = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        match errs.first() {
            Some((kind, msg)) => Err(Error::env(*kind, msg.clone())),
            None => Ok(()),
        }
    }
}

pub fn classify(e: &wgpu::Error) -> EnvKind {
    match e {
        wgpu::Error::OutOfMemory { .. } => EnvKind::OutOfMemory,
        _ => EnvKind::Validation,
    }
}

/// The poison: a quiet NaN as f32, an unlikely word as u32. Every buffer a kernel writes
/// is filled with it before it runs, and every staging buffer before a copy into it.
pub const POISON: u32 = 0x7ff0_dead;

/// An open device with what the run needs to know about it.
pub struct Gpu {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub features: wgpu::Features,
    pub limits: wgpu::Limits,
    pub timing: TimingMethod,
    pub timestamp_period_ns: f64,
    pub sink: Arc<ErrorSink>,
    /// Cooperative-matrix shapes the device was opened with (empty when not requested).
    pub cooperative_matrix: Vec<wgpu::CooperativeMatrixProperties>,
    /// Bound on each wait for the GPU; `None` waits forever.
    pub wait_bound: Mutex<Option<Instant>>,
    /// The pipeline that poisons output buffers, compiled on first use
    /// (`kernels::fault::poison`).
    pub poison_pipeline: OnceLock<wgpu::ComputePipeline>,
    /// Other adapters `--adapter` matched, as named to people (the choice is said).
    pub also_matched: Vec<String>,
    /// Pipelines shared by every case on this device, by name, built once
    /// ([`Gpu::cached`]).
    cache: Mutex<std::collections::HashMap<String, Arc<dyn std::any::Any + Send + Sync>>>,
}

/// A cooperative-matrix shape (a tensor-core operation): M×N×K with inputs of type
/// `ab` and accumulator and result of type `cr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoopShape {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub ab: wgpu::CooperativeScalarType,
    pub cr: wgpu::CooperativeScalarType,
}

impl CoopShape {
    pub fn matches(&self, p: &wgpu::CooperativeMatrixProperties) -> bool {
        (p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type)
            == (self.m, self.n, self.k, self.ab, self.cr)
    }
}

/// What a kernel needs from the device. The device is opened with the union over every
/// kernel (`kernels::needs`), so no kernel's wishes are written down twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Needs {
    /// Features without which the kernel cannot run.
    pub required: wgpu::Features,
    /// Features it uses where the adapter has them (a faster variant).
    pub optional: wgpu::Features,
    /// Cooperative-matrix shapes it needs (tensor cores; `EXPERIMENTAL_COOPERATIVE_MATRIX`
    /// is requested only when the adapter lists one of them).
    pub cooperative_matrix: Vec<CoopShape>,
}

impl Needs {
    pub fn union<'a>(all: impl IntoIterator<Item = &'a Needs>) -> Needs {
        all.into_iter().fold(Needs::default(), |mut u, n| {
            u.required |= n.required;
            u.optional |= n.optional;
            for c in &n.cooperative_matrix {
                if !u.cooperative_matrix.contains(c) {
                    u.cooperative_matrix.push(*c);
                }
            }
            u
        })
    }

    pub fn tensor_cores(&self) -> bool {
        !self.cooperative_matrix.is_empty()
    }
}

/// The features to request: timestamps for timing, and whatever `needs` asks for that
/// the adapter has; experimental cooperative matrices only with a matching shape.
fn wanted_features(
    adapter: &wgpu::Adapter,
    needs: &Needs,
) -> (wgpu::Features, Vec<wgpu::CooperativeMatrixProperties>) {
    let have = adapter.features();
    let mut want = wgpu::Features::TIMESTAMP_QUERY | needs.required | needs.optional;
    let coop: Vec<_> = if have.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
        adapter
            .cooperative_matrix_properties()
            .into_iter()
            .filter(|p| needs.cooperative_matrix.iter().any(|c| c.matches(p)))
            .collect()
    } else {
        Vec::new()
    };
    if !coop.is_empty() {
        want |= wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
    }
    (have & want, coop)
}

impl Gpu {
    /// The adapter `filter` chooses, opened with what `needs` asks for.
    pub fn open(filter: &AdapterFilter, needs: &Needs) -> Result<Gpu> {
        Self::open_without(filter, needs, wgpu::Features::empty())
    }

    /// Opens a device without `off`, to exercise the fallbacks kernels have for
    /// adapters that lack a feature (e.g. reduce-f32 without subgroups).
    pub fn open_without(filter: &AdapterFilter, needs: &Needs, off: wgpu::Features) -> Result<Gpu> {
        let (adapter, also_matched) = choose_adapter(filter)?;
        let mut gpu = Self::from_adapter(adapter, needs, off)?;
        gpu.also_matched = also_matched;
        Ok(gpu)
    }

    pub fn from_adapter(adapter: wgpu::Adapter, needs: &Needs, off: wgpu::Features) -> Result<Gpu> {
        let info = adapter_info(&adapter);
        let (features, cooperative_matrix) = wanted_features(&adapter, needs);
        let features = features - off;
        let cooperative_matrix =
            if features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
                cooperative_matrix
            } else {
                Vec::new()
            };
        let experimental = if features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
            // SAFETY: requested only for the cooperative-matrix kernel, whose shader is
            // validated by naga and whose every index is in range (see matmul_f16.rs).
            unsafe { wgpu::ExperimentalFeatures::enabled() }
        } else {
            wgpu::ExperimentalFeatures::disabled()
        };
        // The adapter's own limits: the defaults cap workgroups and bindings far below
        // what datacenter GPUs offer.
        let limits = adapter.limits();
        let (device, queue) = {
            let _span = tracing::info_span!("request_device").entered();
            pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("gpu-canary"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: experimental,
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            }))
            .map_err(|e| {
                Error::env(
                    EnvKind::DeviceRequest,
                    format!("cannot open a device on {}: {e}", info.name),
                )
            })?
        };
        let sink = Arc::new(ErrorSink::default());
        let s = sink.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            s.push(classify(&e), format!("GPU error: {e}"));
        }));
        let s = sink.clone();
        device.set_device_lost_callback(move |reason, msg| {
            s.push(
                EnvKind::DeviceLost,
                format!("device lost ({reason:?}): {msg}"),
            );
        });
        let timing = if features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            TimingMethod::GpuTimestamps
        } else {
            TimingMethod::WallClock
        };
        let timestamp_period_ns = f64::from(queue.get_timestamp_period());
        Ok(Gpu {
            adapter,
            device,
            queue,
            info,
            features,
            limits,
            timing,
            timestamp_period_ns,
            sink,
            cooperative_matrix,
            wait_bound: Mutex::new(None),
            poison_pipeline: OnceLock::new(),
            also_matched: Vec::new(),
            cache: Mutex::new(Default::default()),
        })
    }

    pub fn is_software(&self) -> bool {
        software_reason(&self.info).is_some()
    }

    /// What the caller requires of the adapter: hardware (`--require-hardware`;
    /// `as_software` plants a software adapter, tests only) and a vendor
    /// (`--expect-vendor`); otherwise an environment error naming what was handed over.
    pub fn require(&self, hardware: bool, vendor: Option<&str>, as_software: bool) -> Result<()> {
        if hardware && (self.is_software() || as_software) {
            return Err(Error::env(
                EnvKind::SoftwareAdapter,
                format!(
                    "--require-hardware: adapter '{}' is a software adapter ({}); the runner's GPU driver is not visible to Vulkan: check the image and device plugin (docs/lane.md), and `gpu-canary adapters`",
                    self.info.name,
                    software_reason(&self.info).unwrap_or_else(|| "planted".into())
                ),
            ));
        }
        if let Some(v) = vendor
            && !vendor_matches(v, &self.info)
        {
            return Err(Error::env(
                EnvKind::UnexpectedAdapter,
                format!(
                    "--expect-vendor {v}: the lane handed over '{}' (vendor 0x{:04x}{}); check the runner's GPU or the lane's expected vendor",
                    self.info.name,
                    self.info.vendor,
                    vendor_name(self.info.vendor)
                        .map(|n| format!(", {n}"))
                        .unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    pub fn fingerprint(&self) -> AdapterFingerprint {
        AdapterFingerprint {
            also_matched: self.also_matched.clone(),
            ..fingerprint(
                &self.info,
                self.features,
                &self.limits,
                self.timing,
                Some(self.timestamp_period_ns),
            )
        }
    }

    /// The value built once under `key` on this device (compiled pipelines every case
    /// shares), building it with `make` the first time.
    pub fn cached<T: Send + Sync + 'static>(
        &self,
        key: &str,
        make: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let lookup = |c: &std::collections::HashMap<
            String,
            Arc<dyn std::any::Any + Send + Sync>,
        >| { c.get(key).cloned().and_then(|v| v.downcast::<T>().ok()) };
        if let Some(v) = lookup(&self.cache.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(v);
        }
        let v = Arc::new(make()?);
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned(), v.clone());
        Ok(v)
    }

    /// Waits for `submission` to finish, no longer than the run's deadline.
    pub fn wait(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        let deadline = *self.wait_bound.lock().unwrap_or_else(|e| e.into_inner());
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let r = self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout,
        });
        self.sink.check()?;
        match r {
            Ok(_) => Ok(()),
            Err(wgpu::PollError::Timeout) => Err(Error::env(
                EnvKind::Timeout,
                format!(
                    "the GPU did not finish within the time limit (waited {:.1} s)",
                    timeout.unwrap_or_default().as_secs_f64()
                ),
            )),
            Err(e) => Err(Error::env(
                EnvKind::DeviceLost,
                format!("waiting for the GPU failed: {e}"),
            )),
        }
    }

    /// Submits and waits; returns the wall time between the two.
    pub fn submit_and_wait(&self, cmd: wgpu::CommandBuffer) -> Result<Duration> {
        let t0 = Instant::now();
        let idx = {
            let _s = tracing::trace_span!("submit").entered();
            self.queue.submit([cmd])
        };
        {
            let _s = tracing::trace_span!("wait").entered();
            self.wait(idx)?;
        }
        Ok(t0.elapsed())
    }

    /// A mappable buffer for the GPU to copy into, filled with the poison first (mapped
    /// at creation): a copy that never ran reads back as poison, never as the old bytes
    /// of a reused allocation.
    pub fn staging(&self, label: &str, size: u64) -> Result<wgpu::Buffer> {
        let size = size.max(4).div_ceil(4) * 4;
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: true,
        });
        {
            let mut view = buf.slice(..).get_mapped_range_mut().map_err(|e| {
                Error::env(
                    EnvKind::DeviceLost,
                    format!("filling a new staging buffer failed: {e}"),
                )
            })?;
            let (mut words, _) = view.slice(..).into_chunks::<4>();
            words.fill(POISON.to_le_bytes());
        }
        buf.unmap();
        Ok(buf)
    }

    /// Copies `src[..size]` to the host.
    pub fn read_buffer(&self, src: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        self.read_range(src, 0, size)
    }

    /// Copies `src[offset..offset + size]` to the host.
    pub fn read_range(&self, src: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>> {
        let staging = self.staging("readback", size)?;
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, offset, &staging, 0, size);
        self.submit_and_wait(enc.finish())?;
        self.map(&staging, wgpu::MapMode::Read)?;
        self.take_mapped(&staging)
    }

    /// Maps all of `buf` for the host and waits for it, within the run's deadline.
    pub fn map(&self, buf: &wgpu::Buffer, mode: wgpu::MapMode) -> Result<()> {
        self.map_with(buf, mode, true)
    }

    /// Maps `buf`, whose last use is a submission already waited for, and returns its
    /// bytes, without waiting for later submissions (burn keeps them queued).
    pub fn read_done(&self, buf: &wgpu::Buffer) -> Result<Vec<u8>> {
        self.map_with(buf, wgpu::MapMode::Read, false)?;
        self.take_mapped(buf)
    }

    /// Maps all of `buf`, within the run's deadline. With `drain`, every submission is
    /// waited for first (the buffer's last use may be any of them); without, only
    /// non-blocking polls complete the map.
    fn map_with(&self, buf: &wgpu::Buffer, mode: wgpu::MapMode, drain: bool) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        buf.slice(..).map_async(mode, move |r| {
            let _ = tx.send(r);
        });
        if drain {
            self.wait(self.queue.submit([]))?;
        }
        let deadline = *self.wait_bound.lock().unwrap_or_else(|e| e.into_inner());
        let give_up = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
        loop {
            let _ = self.device.poll(wgpu::PollType::Poll);
            self.sink.check()?;
            match rx.try_recv() {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => {
                    return Err(Error::env(
                        EnvKind::DeviceLost,
                        format!("mapping a buffer for the host failed: {e}"),
                    ));
                }
                Err(_) if Instant::now() >= give_up => {
                    return Err(Error::env(
                        EnvKind::Timeout,
                        "mapping a buffer for the host did not complete within the time limit",
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_micros(50)),
            }
        }
    }

    /// A mapped buffer's bytes; unmaps it.
    fn take_mapped(&self, buf: &wgpu::Buffer) -> Result<Vec<u8>> {
        let data = buf
            .slice(..)
            .get_mapped_range()
            .map_err(|e| {
                Error::env(
                    EnvKind::DeviceLost,
                    format!("reading a mapped buffer failed: {e}"),
                )
            })?
            .to_vec();
        buf.unmap();
        Ok(data)
    }

    /// A storage buffer initialised from `data`.
    pub fn upload(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        let _s = tracing::info_span!("upload", label, bytes = data.len()).entered();
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: data.len().max(4) as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buf, 0, data);
        buf
    }

    /// An uninitialised storage buffer of `size` bytes that can be read back.
    pub fn output(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Runs `f` inside validation and out-of-memory error scopes, turning what they catch
    /// into a classified error.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(val.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o.or(v) {
            return Err(Error::env(classify(&e), format!("{what} failed: {e}")));
        }
        self.sink.check()?;
        Ok(out)
    }
}

pub fn limits_used(l: &wgpu::Limits) -> LimitsUsed {
    LimitsUsed {
        max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
        max_buffer_size: l.max_buffer_size,
        max_compute_workgroup_size_x: l.max_compute_workgroup_size_x,
        max_compute_workgroup_size_y: l.max_compute_workgroup_size_y,
        max_compute_workgroup_size_z: l.max_compute_workgroup_size_z,
        max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
        max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
        max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
    }
}

pub fn feature_names(f: wgpu::Features) -> Vec<String> {
    let mut v: Vec<String> = f.iter_names().map(|(n, _)| n.to_owned()).collect();
    v.sort();
    v
}

/// The adapter as `result.json` records it; `period` is the timestamp period in ns,
/// where known (it needs an open queue).
pub fn fingerprint(
    info: &wgpu::AdapterInfo,
    features: wgpu::Features,
    limits: &wgpu::Limits,
    timing: TimingMethod,
    period: Option<f64>,
) -> AdapterFingerprint {
    AdapterFingerprint {
        name: info.name.clone(),
        vendor: info.vendor,
        device: info.device,
        device_type: device_type_name(info.device_type).to_owned(),
        backend: backend_name(info.backend),
        driver: info.driver.clone(),
        driver_info: info.driver_info.clone(),
        wgpu_version: WGPU_VERSION.to_owned(),
        pci_bus_id: Some(info.device_pci_bus_id.to_lowercase()).filter(|s| !s.is_empty()),
        features: feature_names(features),
        limits: limits_used(limits),
        timing: TimingInfo {
            method: timing,
            timestamp_period_ns: period.filter(|_| timing == TimingMethod::GpuTimestamps),
        },
        also_matched: Vec::new(),
    }
}

/// The wgpu release this binary was built with (from Cargo.lock at build time).
pub const WGPU_VERSION: &str = env!("GPU_CANARY_WGPU_VERSION");

/// Whether the adapter is from `expect` (a vendor name) or its name contains it.
pub fn vendor_matches(expect: &str, info: &wgpu::AdapterInfo) -> bool {
    let e = expect.to_lowercase();
    vendor_name(info.vendor).is_some_and(|v| v == e) || info.name.to_lowercase().contains(&e)
}

/// PCI vendor ids worth naming in `--expect-vendor`.
pub fn vendor_name(id: u32) -> Option<&'static str> {
    match id {
        0x10de => Some("nvidia"),
        0x1002 | 0x1022 => Some("amd"),
        0x8086 => Some("intel"),
        0x13b5 => Some("arm"),
        0x5143 => Some("qualcomm"),
        0x106b => Some("apple"),
        0x10005 => Some("mesa"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_adapters_are_known_whatever_type_they_report() {
        let with = |t, name: &str, driver: &str, vendor, device| wgpu::AdapterInfo {
            name: name.into(),
            driver: driver.into(),
            vendor,
            device,
            ..wgpu::AdapterInfo::new(t, wgpu::Backend::Gl)
        };
        use wgpu::DeviceType::{Cpu, DiscreteGpu, Other};
        let soft = [
            with(Other, "D3D12 (Microsoft Basic Render Driver)", "", 0, 0),
            with(Other, "llvmpipe (LLVM 15.0.6, 256 bits)", "", 0, 0),
            with(Other, "softpipe", "", 0, 0),
            with(Other, "SwiftShader Device (Subzero)", "", 0, 0),
            with(DiscreteGpu, "Vulkan device", "lavapipe", 0, 0),
            with(Other, "Microsoft WARP", "", 0, 0),
            with(Other, "x", "", 0x10005, 0),
            with(Other, "x", "", 0x1ae0, 0xc0de),
            with(Other, "x", "", 0x1414, 0x8c),
            with(Cpu, "anything", "", 0, 0),
        ];
        for i in &soft {
            assert!(software_reason(i).is_some(), "{i:?}");
        }
        let hard = [
            with(DiscreteGpu, "NVIDIA H200", "NVIDIA", 0x10de, 0x2335),
            with(Other, "Warpspeed 9000", "", 0x1002, 1),
            with(Other, "Microsoft Surface GPU", "", 0x1414, 0x1),
        ];
        for i in &hard {
            assert_eq!(software_reason(i), None, "{i:?}");
        }
    }

    #[test]
    fn adapter_picks_a_card_by_name_or_by_pci_address() {
        let card = |bus: &str| wgpu::AdapterInfo {
            name: "NVIDIA H100 80GB HBM3".into(),
            device_pci_bus_id: bus.into(),
            ..wgpu::AdapterInfo::new(wgpu::DeviceType::DiscreteGpu, wgpu::Backend::Vulkan)
        };
        let (a, b) = (card("0000:17:00.0"), card("0000:3b:00.0"));
        assert!(adapter_matches("h100", &a) && adapter_matches("h100", &b));
        // Alike by name, told apart by address, however the domain is written.
        assert!(!adapter_matches("0000:17:00.0", &b));
        assert!(adapter_matches("0000:3B:00.0", &b));
        assert!(adapter_matches("00000000:3b:00.0", &b));
        assert!(!adapter_matches("0000:3b:00.0", &card("")));
        assert_eq!(parse_bus_id("0000:3b:00.1"), Some((0, 0x3b, 0, 1)));
        assert_eq!(bus_id_text((0, 0x3b, 0, 1)), "0000:3b:00.1");
        assert_eq!(parse_bus_id("llvmpipe"), None);
    }
}
