//! `gpu-canary adapters`: what wgpu sees on every backend. The lane's bootstrap check:
//! if the GPU is missing here, no canary can run on it.

use serde::Serialize;

use crate::gpu;
use crate::model::{AdapterFingerprint, TimingMethod};

/// What to list (`AdaptersConfig::from_args` in `config`).
#[derive(Debug, Clone)]
pub struct AdaptersConfig {
    /// Print JSON instead of a table.
    pub json: bool,
    /// Only these backends (all when absent).
    pub backends: Option<wgpu::Backends>,
}

/// One adapter: its fingerprint as a run would record it (every feature the adapter
/// offers, its limits), and the capabilities that matter to the canary at a glance.
#[derive(Debug, Serialize)]
pub struct AdapterEntry {
    #[serde(flatten)]
    pub adapter: AdapterFingerprint,
    pub timestamps: bool,
    pub subgroups: bool,
    pub shader_f16: bool,
    pub cooperative_matrix: bool,
    /// The device-local memory Vulkan reports, and what this process could allocate
    /// (VK_EXT_memory_budget); absent on other backends or without the extension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_free_bytes: Option<u64>,
}

/// How many adapters there were, for `main`.
#[derive(Debug, Clone, Copy)]
pub struct AdaptersOutcome {
    pub found: usize,
}

pub fn list(backends: Option<wgpu::Backends>) -> Vec<AdapterEntry> {
    gpu::enumerate(backends)
        .into_iter()
        .map(|a| {
            let f = a.features();
            let timestamps = f.contains(wgpu::Features::TIMESTAMP_QUERY);
            let timing = if timestamps {
                TimingMethod::GpuTimestamps
            } else {
                TimingMethod::WallClock
            };
            let heaps = gpu::memory::vulkan_heaps(&a).ok();
            AdapterEntry {
                memory_bytes: heaps.as_ref().map(|h| h.device_local),
                memory_free_bytes: heaps.as_ref().and_then(|h| h.free()),
                // The timestamp period needs an open queue: not known from a listing.
                adapter: gpu::fingerprint(&gpu::adapter_info(&a), f, &a.limits(), timing, None),
                timestamps,
                subgroups: f.contains(wgpu::Features::SUBGROUP),
                shader_f16: f.contains(wgpu::Features::SHADER_F16),
                cooperative_matrix: f.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX),
            }
        })
        .collect()
}

pub fn render_text(list: &[AdapterEntry]) -> String {
    if list.is_empty() {
        let env = crate::gpu::adapter_environment();
        return if env.is_empty() {
            "no adapters found: install a Vulkan driver (software: apt-get install -y mesa-vulkan-drivers libvulkan1)\n".into()
        } else {
            format!(
                "no adapters found with {} set in the environment: check or unset them (without them wgpu looks at every installed driver)\n",
                env.join(", ")
            )
        };
    }
    let mut s = String::new();
    for (i, e) in list.iter().enumerate() {
        let a = &e.adapter;
        let yn = |b: bool| if b { "yes" } else { "no" };
        s.push_str(&format!(
            "[{i}] {name}\n    type {ty}, backend {be}, vendor 0x{v:04x}, device 0x{d:04x}{pci}\n    driver {dr} {di}\n    timestamps {ts}, subgroups {sg}, f16 {f16}, cooperative matrix {cm}\n    memory {mem}\n    max storage binding {sb} B, max buffer {mb} B, max workgroup {x}x{y}x{z}, max invocations {inv}\n",
            name = a.name,
            ty = a.device_type,
            be = a.backend,
            v = a.vendor,
            d = a.device,
            pci = gpu::pci_note(a.pci_bus_id.as_deref().unwrap_or_default()),
            dr = a.driver,
            di = a.driver_info,
            ts = yn(e.timestamps),
            sg = yn(e.subgroups),
            f16 = yn(e.shader_f16),
            cm = yn(e.cooperative_matrix),
            mem = match (e.memory_bytes, e.memory_free_bytes) {
                (Some(t), Some(f)) => format!(
                    "{} device-local, {} free",
                    crate::kernels::memtest::size_text(t),
                    crate::kernels::memtest::size_text(f)
                ),
                (Some(t), None) => format!("{} device-local", crate::kernels::memtest::size_text(t)),
                _ => "not read (not a Vulkan adapter)".to_owned(),
            },
            sb = a.limits.max_storage_buffer_binding_size,
            mb = a.limits.max_buffer_size,
            x = a.limits.max_compute_workgroup_size_x,
            y = a.limits.max_compute_workgroup_size_y,
            z = a.limits.max_compute_workgroup_size_z,
            inv = a.limits.max_compute_invocations_per_workgroup,
        ));
    }
    s
}

/// Lists the adapters, as text or JSON on stdout (JSON not delivered is an error: it
/// is what the caller reads).
pub fn run(cfg: &AdaptersConfig) -> crate::error::Result<AdaptersOutcome> {
    let list = list(cfg.backends);
    if cfg.json {
        let json = serde_json::to_string_pretty(&list).expect("adapter list serialises") + "\n";
        crate::console::try_bytes(json.as_bytes()).map_err(|e| {
            crate::error::Error::io(format!("cannot write the adapter list to stdout: {e}"))
        })?;
    } else {
        crate::console::text(&render_text(&list));
    }
    Ok(AdaptersOutcome { found: list.len() })
}
