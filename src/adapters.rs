//! `gpu-canary adapters`: what wgpu sees on every backend. The lane's bootstrap check:
//! if the GPU is missing here, no canary can run on it.

use serde::Serialize;

use crate::gpu::{self, device_type_name};
use crate::model::LimitsUsed;

#[derive(Debug, Serialize)]
pub struct AdapterEntry {
    pub name: String,
    pub vendor: u32,
    pub device: u32,
    pub device_type: String,
    pub backend: String,
    pub driver: String,
    pub driver_info: String,
    pub timestamps: bool,
    pub subgroups: bool,
    pub shader_f16: bool,
    pub cooperative_matrix: bool,
    pub limits: LimitsUsed,
}

pub fn list(backends: Option<wgpu::Backends>) -> Vec<AdapterEntry> {
    gpu::enumerate(backends)
        .into_iter()
        .map(|a| {
            let i = a.get_info();
            let f = a.features();
            AdapterEntry {
                name: i.name.clone(),
                vendor: i.vendor,
                device: i.device,
                device_type: device_type_name(i.device_type).into(),
                backend: gpu::backend_name(i.backend),
                driver: i.driver.trim().into(),
                driver_info: i.driver_info.trim().into(),
                timestamps: f.contains(wgpu::Features::TIMESTAMP_QUERY),
                subgroups: f.contains(wgpu::Features::SUBGROUP),
                shader_f16: f.contains(wgpu::Features::SHADER_F16),
                cooperative_matrix: f.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX),
                limits: gpu::limits_used(&a.limits()),
            }
        })
        .collect()
}

pub fn render_text(list: &[AdapterEntry]) -> String {
    if list.is_empty() {
        return "no adapters found: install a Vulkan driver (software: apt-get install -y mesa-vulkan-drivers libvulkan1)\n".into();
    }
    let mut s = String::new();
    for (i, a) in list.iter().enumerate() {
        let yn = |b: bool| if b { "yes" } else { "no" };
        s.push_str(&format!(
            "[{i}] {name}\n    type {ty}, backend {be}, vendor 0x{v:04x}, device 0x{d:04x}\n    driver {dr} {di}\n    timestamps {ts}, subgroups {sg}, f16 {f16}, cooperative matrix {cm}\n    max storage binding {sb} B, max buffer {mb} B, max workgroup {x}x{y}x{z}, max invocations {inv}\n",
            name = a.name,
            ty = a.device_type,
            be = a.backend,
            v = a.vendor,
            d = a.device,
            dr = a.driver,
            di = a.driver_info,
            ts = yn(a.timestamps),
            sg = yn(a.subgroups),
            f16 = yn(a.shader_f16),
            cm = yn(a.cooperative_matrix),
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
