//! wgpu's compute plumbing, kernel-agnostic: shader modules compiled with or without
//! naga's runtime checks, bind groups, uniform parameters, and one execution in a
//! compute pass of its own.

use std::time::Duration;

use super::Gpu;
use super::timing::Timestamps;
use crate::error::Result;

/// naga's runtime checks. `Unchecked` is offered only for kernels whose every index
/// is proven in range by the host (a kernel's `supports_unchecked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeChecks {
    Checked,
    Unchecked,
}

impl RuntimeChecks {
    pub fn name(self) -> &'static str {
        match self {
            RuntimeChecks::Checked => "checked",
            RuntimeChecks::Unchecked => "unchecked",
        }
    }
}

/// The timestamp slot of a timed execution: begin at `2·slot`, end at `2·slot + 1`.
pub type Stamp<'a> = Option<(&'a Timestamps, u32)>;

/// One execution in its own compute pass (timestamped into the `ts` slot when given),
/// submitted and waited for; returns the wall time around both.
pub fn dispatch(
    gpu: &Gpu,
    encode: impl FnOnce(&mut wgpu::ComputePass<'_>),
    ts: Stamp<'_>,
) -> Result<Duration> {
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("kernel"),
            timestamp_writes: ts.map(|(t, slot)| t.writes(slot)),
        });
        encode(&mut pass);
    }
    gpu.submit_and_wait(enc.finish())
}

/// A shader module compiled into a pipeline, without a fault switch (the kernels'
/// `compile` adds theirs): the shaders that have none (the poison fill,
/// the fault planter).
pub fn compile_module(
    gpu: &Gpu,
    label: &str,
    source: &str,
    constants: &[(&str, f64)],
    checks: RuntimeChecks,
) -> Result<wgpu::ComputePipeline> {
    compile_in(gpu, label, source, constants, checks, None)
}

/// [`compile_module`] with an explicit pipeline layout (`None`: derived from the
/// shader), for pipelines that share their bind groups.
pub fn compile_in(
    gpu: &Gpu,
    label: &str,
    source: &str,
    constants: &[(&str, f64)],
    checks: RuntimeChecks,
    layout: Option<&wgpu::PipelineLayout>,
) -> Result<wgpu::ComputePipeline> {
    let _span = tracing::info_span!("compile", label).entered();
    gpu.scoped(&format!("compiling {label}"), || {
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        let module = match checks {
            RuntimeChecks::Checked => gpu.device.create_shader_module(desc),
            // SAFETY: only kernels whose `supports_unchecked()` holds reach this: every
            // index they form is guarded or padded into range on the host.
            RuntimeChecks::Unchecked => unsafe {
                gpu.device
                    .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            },
        };
        gpu.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            })
    })
}

/// Records one dispatch of `pipeline` with `bind_group` at group 0.
pub fn encode_one(
    pass: &mut wgpu::ComputePass<'_>,
    pipeline: &wgpu::ComputePipeline,
    bind_group: &wgpu::BindGroup,
    groups: [u32; 3],
) {
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, bind_group, &[]);
    pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
}

/// A bind group of `buffers` at bindings 0, 1, ... of group 0.
pub fn bind(
    gpu: &Gpu,
    pipeline: &wgpu::ComputePipeline,
    buffers: &[&wgpu::Buffer],
) -> Result<wgpu::BindGroup> {
    gpu.scoped("binding buffers", || {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    })
}

/// A uniform buffer holding `words`.
pub fn params(gpu: &Gpu, words: &[u32]) -> wgpu::Buffer {
    let buf = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("params"),
        size: (words.len().div_ceil(4) * 16) as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    gpu.queue.write_buffer(&buf, 0, bytemuck::cast_slice(words));
    buf
}

/// A bind group of `size` bytes of `buffer` from `offset` at binding 0: a window of a
/// buffer larger than one storage binding may be.
pub fn bind_range(
    gpu: &Gpu,
    pipeline: &wgpu::ComputePipeline,
    buffer: &wgpu::Buffer,
    offset: u64,
    size: u64,
) -> Result<wgpu::BindGroup> {
    gpu.scoped("binding buffers", || {
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer,
                    offset,
                    size: std::num::NonZeroU64::new(size),
                }),
            }],
        })
    })
}
