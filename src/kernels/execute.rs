//! How one execution of a prepared case is recorded: the kernel's dispatches in a
//! compute pass, the timestamp slot, and (tests only) a planted fault after them; and
//! the kernels' shader compile, which adds the fault switch.

use std::time::Duration;

use super::{Prepared, Stamp, fault};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::gpu::pipeline::{RuntimeChecks, dispatch};

/// What one execution records besides the kernel's own work.
#[derive(Clone, Copy, Default)]
pub struct Run<'a> {
    /// A planted fault, recorded after the kernel (tests only).
    pub plant: Plant<'a>,
    /// The timestamp slot of a timed execution.
    pub ts: Stamp<'a>,
    /// Tests only: the kernel's own work left out, as a dispatch that never reaches the
    /// GPU (the rest of the execution, maps and host copies, happens as always).
    pub dropped: bool,
}

impl<'a> Run<'a> {
    pub fn timed(ts: Stamp<'a>) -> Run<'a> {
        Run {
            ts,
            ..Run::default()
        }
    }
}

/// A fault planter's dispatch, recorded after the kernel's (tests only).
pub type Plant<'a> = Option<&'a dyn Fn(&mut wgpu::ComputePass<'_>)>;
/// One execution of `p`'s dispatches in a compute pass of its own, with the planted
/// fault after them: the default [`Prepared::execute`].
pub fn execute_pass<P: Prepared + ?Sized>(p: &P, gpu: &Gpu, run: Run<'_>) -> Result<Duration> {
    dispatch(
        gpu,
        |pass| {
            if !run.dropped {
                p.encode(pass);
            }
            if let Some(f) = run.plant {
                f(pass);
            }
        },
        run.ts,
    )
}

/// Compiles `source` with naga's runtime checks as requested; `fault` adds the shader's
/// fault switch (tests only).
pub fn compile(
    gpu: &Gpu,
    label: &str,
    source: &str,
    constants: &[(&str, f64)],
    checks: RuntimeChecks,
    fault: Option<fault::ShaderFault>,
) -> Result<wgpu::ComputePipeline> {
    let mut constants = constants.to_vec();
    constants.extend(fault.map(|f| f.switch()).unwrap_or_default());
    crate::gpu::pipeline::compile_module(gpu, label, source, &constants, checks)
}
