//! The kernel registry and the one extension point, [`Kernel`]. A kernel is one `.wgsl`
//! in `shaders/`, one `.rs` here (its shapes, the device features it needs, its shaders,
//! its tune candidates, its inputs, encoding and check) and one line in [`REGISTRY`].
//! Everything else about kernels (the device features requested, the shaders the tests
//! compile, the kernels `tune` sweeps) is derived from the registry.

pub mod copy;
pub mod fault;
pub mod golden;
pub mod matmul;
pub mod matmul_f16;
pub mod matmul_f32;
pub mod matmul_u32;
pub mod memtest;
pub mod poison;
pub mod reduce_f32;

mod execute;
mod limits;
mod listing;
mod params;
mod shape;

use std::fmt;
use std::time::Duration;

pub use crate::check::reference::Checked;
use crate::error::Result;
pub use crate::gpu::pipeline::{RuntimeChecks, Stamp};
use crate::gpu::{Gpu, Needs};
use crate::model::Launch;
pub use execute::{Plant, Run, compile, execute_pass};
pub use limits::{check_buffers, check_grid, check_limits, check_workgroup, missing};
pub use listing::{listing, listing_json, shader_sources};
pub use params::{Params, params_text, whole_param};
pub use shape::{Shape, ShapeKind, Suite, bytes, parse_shape};

/// Every kernel gpu-canary knows, in suite order.
pub static REGISTRY: &[&dyn Kernel] = &[
    &matmul_f32::MATMUL_F32,
    &matmul_f32::PRECISION_F32,
    &matmul_u32::MATMUL_U32,
    &reduce_f32::ReduceF32,
    &matmul_f16::MatmulF16,
    &copy::COPY_F32,
    &copy::COPY_BUFFER,
    &copy::UPLOAD,
    &copy::READBACK,
    &memtest::MEMTEST,
];

pub fn find(id: &str) -> Option<&'static dyn Kernel> {
    REGISTRY.iter().copied().find(|k| k.id() == id)
}

pub fn ids() -> Vec<&'static str> {
    REGISTRY.iter().map(|k| k.id()).collect()
}

/// A kernel's largest shape in `suite`: what `tune` and `burn` load a GPU with by
/// default (the quick suite's on a software adapter, where the full suite's take
/// minutes).
pub fn largest_shape(kernel: &dyn Kernel, suite: Suite) -> Shape {
    kernel
        .suite(suite)
        .into_iter()
        .max_by_key(Shape::size)
        .expect("every kernel has shapes")
}

/// What the registry needs from a device: the union of every kernel's needs.
pub fn needs() -> Needs {
    let all: Vec<Needs> = REGISTRY.iter().map(|k| k.needs()).collect();
    Needs::union(&all)
}

/// The kernels `gpu-canary tune` can sweep.
pub fn tunable() -> Vec<&'static dyn Kernel> {
    REGISTRY.iter().copied().filter(|k| k.tunable()).collect()
}

/// What a case needs besides its shape.
#[derive(Debug, Clone, Copy)]
pub struct CaseInput<'a> {
    pub shape: Shape,
    pub seed: u64,
    pub input_scale: f32,
    pub checks: RuntimeChecks,
    /// Launch parameters other than the kernel's defaults.
    pub params: Option<&'a Params>,
    /// A fault the kernel's shader plants itself (tests only; see [`fault`]).
    pub fault: Option<fault::ShaderFault>,
}

/// A kernel: the only extension point. See the module docs and CONTRIBUTING.md, "Adding a kernel".
pub trait Kernel: Sync {
    fn id(&self) -> &'static str;
    fn describe(&self) -> &'static str;
    fn shape_kind(&self) -> ShapeKind;
    fn suite(&self, suite: Suite) -> Vec<Shape>;
    /// Device buffers the case allocates, as (name, bytes), for the limit checks.
    fn buffers(&self, shape: Shape) -> Vec<(&'static str, u64)>;
    /// Why a shape cannot be run with the kernel's promised detection power on any
    /// adapter (it is refused, exit 2), if it cannot.
    fn check_shape(&self, _shape: Shape) -> std::result::Result<(), String> {
        Ok(())
    }
    /// Whether those buffers are bound to a shader (then `max_storage_buffer_binding_size`
    /// applies too), or only copied.
    fn binds_buffers(&self) -> bool {
        true
    }
    /// The device features it needs or can use (the device is opened with the union).
    fn needs(&self) -> Needs {
        Needs::default()
    }
    /// Why this adapter cannot run the kernel, if it cannot (the kernel is skipped):
    /// by default, what the opened device lacks of [`Kernel::needs`].
    fn unsupported(&self, gpu: &Gpu) -> Option<String> {
        missing(&self.needs(), gpu)
    }
    /// Every shader source the host may compile for it, by name (the tests validate
    /// and compile each one).
    fn shaders(&self) -> Vec<(String, String)>;
    /// Whether `gpu-canary tune` sweeps it.
    fn tunable(&self) -> bool {
        false
    }
    /// The kernel whose launch parameters (from a tuning file) it runs with: its own.
    fn tuning_id(&self) -> &'static str {
        self.id()
    }
    /// The precision probe of a kernel that computes in f32: run with its first check
    /// in `burn` and with every configuration in `tune`.
    fn probe(&self) -> Option<&'static dyn Kernel> {
        None
    }
    /// Whether `gpu-canary burn` can keep the queue full of it: a compute pass, not a
    /// transfer with host work in each execution.
    fn burns(&self) -> bool {
        true
    }
    /// The launch parameters `tune` tries on `gpu` (those the adapter can run).
    fn candidates(&self, _gpu: &Gpu) -> Vec<Params> {
        Vec::new()
    }
    /// Every index the shader forms is in range by construction (guards or padding),
    /// so naga's runtime bounds checks may be dropped.
    fn supports_unchecked(&self) -> bool {
        true
    }
    /// Whether this is the memory test, which the case runner drives pass by pass
    /// instead of through [`Kernel::prepare`] (its result is the memory itself).
    fn memory_test(&self) -> bool {
        false
    }
    fn prepare(&self, gpu: &Gpu, input: &CaseInput) -> Result<Box<dyn Prepared>>;
}

impl fmt::Debug for dyn Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A case ready to dispatch: buffers uploaded, pipeline compiled, host operands kept
/// for the reference.
pub trait Prepared: Send {
    fn launch(&self) -> Launch;
    /// Records the kernel's dispatches into a compute pass.
    fn encode(&self, pass: &mut wgpu::ComputePass<'_>);
    /// Every buffer the kernel writes, the result first, with its size in bytes. Each
    /// is poisoned before the first run and before the last timed one, so a dispatch
    /// that writes nothing cannot pass on zeros or on an earlier run's result; each is
    /// read back after both, compared bit for bit, and verified.
    fn outputs(&self) -> Vec<Output<'_>>;
    /// Where the result's elements lie, for faults planted into it.
    fn layout(&self) -> fault::Layout;
    /// Checks the outputs' bytes (in the order of [`Prepared::outputs`]) against the
    /// CPU reference, with check vectors drawn from `check_seed`.
    fn verify(&self, outputs: &[Vec<u8>], check_seed: u64) -> Checked;
    /// Work per dispatch and its unit.
    fn work(&self) -> Work;

    /// One execution, submitted and waited for; returns the host time from recording
    /// to the end of the wait. By default the kernel's dispatches in one compute pass,
    /// with the timestamps written at the pass's ends and a planted fault after them
    /// (tests only). Copies and transfers record their own commands.
    fn execute(&self, gpu: &Gpu, run: Run<'_>) -> Result<Duration> {
        execute_pass(self, gpu, run)
    }
    /// Whether [`Prepared::execute`] writes the timestamps it is given on this device
    /// (commands outside a pass need timestamps inside encoders); when it cannot, the
    /// host time is the sample.
    fn gpu_timed(&self, gpu: &Gpu) -> bool {
        gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }
    /// For a host↔device transfer, what the host time spans: it is then reported
    /// beside the GPU's time for the copy.
    fn host_timed(&self) -> Option<&'static str> {
        None
    }
    /// Fills every buffer the kernel writes with the poison (see [`Prepared::outputs`]).
    fn poison(&self, gpu: &Gpu) -> Result<()> {
        poison::poison(gpu, &self.outputs())
    }
    /// The result as the host receives it, in the order of [`Prepared::outputs`].
    fn read(&self, gpu: &Gpu) -> Result<Vec<Vec<u8>>> {
        let outputs = self.outputs();
        let bytes: u64 = outputs.iter().map(|o| o.bytes).sum();
        let _s = tracing::info_span!("readback", bytes).entered();
        outputs
            .iter()
            .map(|o| gpu.read_buffer(o.buffer, o.bytes))
            .collect()
    }
    /// The storage buffer a planted fault is written into: the result by default.
    fn fault_target(&self) -> &wgpu::Buffer {
        self.outputs()[0].buffer
    }
    /// Whether the result lies on the host (readback): each execution's is then compared
    /// with the first on the host ([`Prepared::host_mismatch`]), not on the GPU.
    fn result_on_host(&self) -> bool {
        false
    }
    /// For a result on the host: the first word of the last execution's result that
    /// differs from `golden` (the first execution's, as [`Prepared::read`] gave it),
    /// with the number of differing words and both values (see
    /// [`golden::compare_words`]).
    fn host_mismatch(&self, _golden: &[Vec<u8>]) -> Option<golden::Mismatch> {
        None
    }
}

/// A buffer the kernel writes and how many of its bytes the result fills.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub bytes: u64,
}

/// A dispatch's work: operations (`GFLOP/s`) or bytes moved (`GB/s`), so that work per
/// nanosecond is the rate in that unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    pub per_dispatch: f64,
    pub unit: &'static str,
}
