//! The poison fill, part of every check: every buffer a kernel writes is filled with
//! [`POISON`] (a NaN) before the first run and before the last timed one, so a dispatch
//! that writes nothing reads back NaNs, never zeros that might pass or an earlier run's
//! good result.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::{Output, RuntimeChecks};

pub use crate::gpu::POISON;
pub const POISON_SHADER: &str = include_str!("../../shaders/poison.wgsl");

/// The poison fill of a fixed set of buffers, ready to record into any pass (burn
/// poisons its check's outputs in the same submission as the check).
pub struct Poisoner {
    fills: Vec<(wgpu::BindGroup, u32)>,
}

impl Poisoner {
    /// Buffers larger than a storage binding may be (the copies' and transfers' on a
    /// small-limit adapter) are filled in bound pieces.
    pub fn new(gpu: &Gpu, buffers: &[Output<'_>]) -> Result<Poisoner> {
        let pipeline = poison_pipeline(gpu)?;
        let align = u64::from(gpu.limits.min_storage_buffer_offset_alignment).max(4);
        let piece = (gpu.limits.max_storage_buffer_binding_size / align * align).max(align);
        let mut fills = Vec::new();
        for &Output { buffer: b, bytes } in buffers {
            let bytes = bytes.div_ceil(4) * 4;
            let mut offset = 0;
            while offset < bytes.max(4) {
                let size = piece.min(bytes.max(4) - offset);
                let g = (size / 4).div_ceil(256).clamp(1, 4096) as u32;
                let bg = crate::gpu::pipeline::bind_range(gpu, pipeline, b, offset, size)?;
                fills.push((bg, g));
                offset += size;
            }
        }
        Ok(Poisoner { fills })
    }

    pub fn encode(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass<'_>) {
        let pipeline = gpu
            .poison_pipeline
            .get()
            .expect("compiled in Poisoner::new");
        for (bg, g) in &self.fills {
            crate::gpu::pipeline::encode_one(pass, pipeline, bg, [*g, 1, 1]);
        }
    }
}

fn poison_pipeline(gpu: &Gpu) -> Result<&wgpu::ComputePipeline> {
    match gpu.poison_pipeline.get() {
        Some(p) => Ok(p),
        None => {
            let p = crate::gpu::pipeline::compile_module(
                gpu,
                "poison",
                POISON_SHADER,
                &[("POISON", f64::from(POISON))],
                RuntimeChecks::Checked,
            )?;
            Ok(gpu.poison_pipeline.get_or_init(|| p))
        }
    }
}

/// Fills every buffer with [`POISON`] and waits: one submission, outside any timed pass.
pub fn poison(gpu: &Gpu, buffers: &[Output<'_>]) -> Result<()> {
    let _s = tracing::info_span!("poison").entered();
    let p = Poisoner::new(gpu, buffers)?;
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("poison"),
            timestamp_writes: None,
        });
        p.encode(gpu, &mut pass);
    }
    gpu.submit_and_wait(enc.finish()).map(|_| ())
}
