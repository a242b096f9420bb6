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
pub mod reduce_f32;

use std::fmt;
use std::time::Duration;

use crate::error::Result;
use crate::gpu::timing::Timestamps;
use crate::gpu::{Gpu, Needs};
use crate::model::Launch;
pub use crate::verify::Checked;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeKind {
    Matmul,
    Reduce,
    /// A size in bytes (copies and transfers).
    Bytes,
    /// How much of the device's memory: a share or a size (the memory test).
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Matmul { m: u32, k: u32, n: u32 },
    Reduce { n: u32 },
    Bytes { bytes: u64 },
    Memory(memtest::MemoryTarget),
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

impl fmt::Display for Shape {
    /// Honours width and alignment (`{:<16}`), as the one-line listings need.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match *self {
            Shape::Matmul { m, k, n } => format!("{m}x{k}x{n}"),
            Shape::Reduce { n } => format!("{n}"),
            Shape::Bytes { bytes } => match bytes {
                b if b % GIB == 0 => format!("{}GiB", b / GIB),
                b if b % MIB == 0 => format!("{}MiB", b / MIB),
                b if b % KIB == 0 => format!("{}KiB", b / KIB),
                b => format!("{b}B"),
            },
            Shape::Memory(t) => t.to_string(),
        };
        f.pad(&s)
    }
}

impl Shape {
    /// The work a shape stands for, to order a kernel's shapes: multiply-adds,
    /// elements or bytes.
    pub fn size(&self) -> u64 {
        match *self {
            Shape::Matmul { m, k, n } => u64::from(m) * u64::from(k) * u64::from(n),
            Shape::Reduce { n } => u64::from(n),
            Shape::Bytes { bytes } => bytes,
            Shape::Memory(memtest::MemoryTarget::Bytes(b)) => b,
            Shape::Memory(memtest::MemoryTarget::Share { software, .. }) => software,
        }
    }

    /// A copy or transfer of `mib` MiB.
    pub const fn mib(mib: u64) -> Shape {
        Shape::Bytes { bytes: mib * MIB }
    }
}

impl Shape {
    /// Parses `MxKxN` or `N` for the given kind; the error names the value and the fix.
    pub fn parse(kind: ShapeKind, s: &str) -> std::result::Result<Shape, String> {
        let dim = |part: &str| -> std::result::Result<u32, String> {
            let v: u64 = part
                .trim()
                .parse()
                .map_err(|_| format!("invalid --size '{s}': '{part}' is not a whole number"))?;
            if v == 0 {
                return Err(format!("invalid --size '{s}': sizes must be at least 1"));
            }
            u32::try_from(v).map_err(|_| {
                format!(
                    "invalid --size '{s}': {v} does not fit in 32 bits (max {})",
                    u32::MAX
                )
            })
        };
        match kind {
            ShapeKind::Matmul => {
                let parts: Vec<&str> = s.split(['x', 'X']).collect();
                if parts.len() != 3 {
                    return Err(format!(
                        "invalid --size '{s}' for a matmul kernel; use MxKxN, e.g. 1024x1024x1024"
                    ));
                }
                Ok(Shape::Matmul {
                    m: dim(parts[0])?,
                    k: dim(parts[1])?,
                    n: dim(parts[2])?,
                })
            }
            ShapeKind::Reduce => {
                if s.contains(['x', 'X']) {
                    return Err(format!(
                        "invalid --size '{s}' for a reduce kernel; use N, e.g. 16777219"
                    ));
                }
                Ok(Shape::Reduce { n: dim(s)? })
            }
            ShapeKind::Bytes => {
                let t = s.trim();
                let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                let (num, unit) = t.split_at(split);
                let unit_bytes = match unit.trim() {
                    "" | "B" => 1,
                    "KiB" => KIB,
                    "MiB" => MIB,
                    "GiB" => GIB,
                    _ => {
                        return Err(format!(
                            "invalid --size '{s}' for a copy kernel; use bytes with an optional KiB, MiB or GiB, e.g. 256MiB"
                        ));
                    }
                };
                let bytes = num
                    .parse::<u64>()
                    .ok()
                    .and_then(|v| v.checked_mul(unit_bytes))
                    .ok_or_else(|| {
                        format!(
                            "invalid --size '{s}': not a whole number of bytes; use e.g. 256MiB"
                        )
                    })?;
                if bytes == 0 || bytes % 4 != 0 {
                    return Err(format!(
                        "invalid --size '{s}': copies move whole 4-byte words; use a positive multiple of 4 bytes"
                    ));
                }
                Ok(Shape::Bytes { bytes })
            }
            ShapeKind::Memory => memtest::MemoryTarget::parse(s, memtest::SOFTWARE_QUICK)
                .map(Shape::Memory)
                .map_err(|e| e.replace("--memory", "--size")),
        }
    }

    /// The kind of shape `s` is written as: `MxKxN`, a unit of bytes, or `N`.
    pub fn kind_of(s: &str) -> ShapeKind {
        if s.contains(['x', 'X']) {
            ShapeKind::Matmul
        } else if s.trim_end().ends_with('B') {
            ShapeKind::Bytes
        } else {
            ShapeKind::Reduce
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Quick,
    Full,
}

/// naga's runtime checks. `Unchecked` is offered only for kernels whose every index
/// is proven in range by the host (see [`Kernel::supports_unchecked`]).
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

/// Named launch parameters for a kernel (from a tuning file); each kernel reads the
/// names it knows and refuses others.
pub type Params = std::collections::BTreeMap<String, f64>;

/// Launch parameters as `NAME=value` words, for people.
pub fn params_text(p: &Params) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A size-like launch parameter: a whole number from 1 to 65536, or an error naming it.
pub fn whole_param(id: &str, name: &str, v: f64) -> std::result::Result<u32, String> {
    if v.fract() == 0.0 && (1.0..=65536.0).contains(&v) {
        Ok(v as u32)
    } else {
        Err(format!(
            "{id}: {name} {v} must be a whole number from 1 to 65536"
        ))
    }
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

/// The kernels and their default shapes, for `gpu-canary kernels`.
pub fn listing() -> String {
    let mut s = String::new();
    for k in REGISTRY {
        let shapes = |suite| {
            k.suite(suite)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        s.push_str(&format!(
            "{:<11} {}\n            quick: {}\n            full:  {}\n",
            k.id(),
            k.describe(),
            shapes(Suite::Quick),
            shapes(Suite::Full)
        ));
    }
    s
}

/// The kernels as JSON, for `gpu-canary kernels --json`: per kernel its id,
/// description, kind of shape, default shapes per suite (as `--size` takes them), the
/// device features it requires or uses where present, whether it needs tensor cores,
/// and whether `tune` sweeps it and `burn` can load a GPU with it.
pub fn listing_json() -> String {
    let kernels: Vec<serde_json::Value> = REGISTRY
        .iter()
        .map(|k| {
            let shapes = |suite| {
                k.suite(suite)
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            };
            let needs = k.needs();
            serde_json::json!({
                "id": k.id(),
                "description": k.describe(),
                "shape_kind": match k.shape_kind() {
                    ShapeKind::Matmul => "matmul",
                    ShapeKind::Reduce => "reduce",
                    ShapeKind::Bytes => "bytes",
                    ShapeKind::Memory => "memory",
                },
                "suites": { "quick": shapes(Suite::Quick), "full": shapes(Suite::Full) },
                "needs": {
                    "required": crate::gpu::feature_names(needs.required),
                    "optional": crate::gpu::feature_names(needs.optional),
                    "tensor_cores": needs.tensor_cores(),
                },
                "tunable": k.tunable(),
                "burns": k.burns(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "kernels": kernels }))
        .expect("the listing serialises")
        + "\n"
}

/// What the opened device lacks of `needs`, in words.
pub fn missing(needs: &Needs, gpu: &Gpu) -> Option<String> {
    if needs.tensor_cores() && gpu.cooperative_matrix.is_empty() {
        let have = gpu.adapter.features();
        let why = if !have.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
            "the adapter offers no cooperative matrices (EXPERIMENTAL_COOPERATIVE_MATRIX)"
                .to_owned()
        } else {
            let shapes: Vec<String> = needs
                .cooperative_matrix
                .iter()
                .map(|c| format!("{}x{}x{} {:?} -> {:?}", c.m, c.n, c.k, c.ab, c.cr))
                .collect();
            format!(
                "the adapter lists no cooperative-matrix shape {}",
                shapes.join(" or ")
            )
        };
        return Some(format!("tensor cores not available: {why}"));
    }
    let lacking = needs.required - gpu.features;
    (!lacking.is_empty()).then(|| {
        let names = crate::gpu::feature_names(lacking).join(", ");
        if needs.tensor_cores() {
            format!("tensor cores not usable: the adapter has no {names}")
        } else {
            format!("the adapter has no {names}")
        }
    })
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
    fn outputs(&self) -> Vec<(&wgpu::Buffer, u64)>;
    /// Where the result's elements lie, for faults planted into it.
    fn layout(&self) -> fault::Layout;
    /// Checks the outputs' bytes (in the order of [`Prepared::outputs`]) against the
    /// CPU reference, with check vectors drawn from `check_seed`.
    fn verify(&self, outputs: &[Vec<u8>], check_seed: u64) -> Checked;
    /// Work per dispatch and its unit: (1e9 × GFLOP, "GFLOP/s") or (bytes, "GB/s").
    fn work(&self) -> (f64, &'static str);

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
        fault::poison(gpu, &self.outputs())
    }
    /// The result as the host receives it, in the order of [`Prepared::outputs`].
    fn read(&self, gpu: &Gpu) -> Result<Vec<Vec<u8>>> {
        let outputs = self.outputs();
        let bytes: u64 = outputs.iter().map(|o| o.1).sum();
        let _s = tracing::info_span!("readback", bytes).entered();
        outputs
            .iter()
            .map(|&(b, size)| gpu.read_buffer(b, size))
            .collect()
    }
    /// The storage buffer a planted fault is written into: the result by default.
    fn fault_target(&self) -> &wgpu::Buffer {
        self.outputs()[0].0
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
    fn host_mismatch(&self, _golden: &[Vec<u8>]) -> Option<(u64, u64, u32, u32)> {
        None
    }
}

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
/// The timestamp slot of a timed execution: begin at `2·slot`, end at `2·slot + 1`.
pub type Stamp<'a> = Option<(&'a Timestamps, u32)>;

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
    compile_module(gpu, label, source, &constants, checks)
}

/// [`compile`] without a fault switch: the shaders that have none (the poison fill,
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

/// `--size` for `kernel`: parsed as its kind of shape, and refused where the kernel
/// cannot check it ([`Kernel::check_shape`]).
pub fn parse_shape(kernel: &dyn Kernel, s: &str) -> std::result::Result<Shape, String> {
    let shape = Shape::parse(kernel.shape_kind(), s)?;
    kernel.check_shape(shape)?;
    Ok(shape)
}

/// Validates a case against the adapter's limits before anything runs.
pub fn check_limits(
    kernel: &dyn Kernel,
    shape: Shape,
    limits: &wgpu::Limits,
) -> std::result::Result<(), String> {
    kernel.check_shape(shape)?;
    check_buffers(
        kernel.id(),
        shape,
        &kernel.buffers(shape),
        kernel.binds_buffers(),
        limits,
    )
}

/// Each buffer, as (name, bytes), against the adapter's binding and buffer limits.
pub fn check_buffers(
    id: &str,
    shape: Shape,
    buffers: &[(&str, u64)],
    bound: bool,
    limits: &wgpu::Limits,
) -> std::result::Result<(), String> {
    for &(name, bytes) in buffers {
        if bound && bytes > limits.max_storage_buffer_binding_size {
            return Err(format!(
                "{id} {shape}: buffer {name} needs {bytes} bytes, over this adapter's max_storage_buffer_binding_size of {}; use a smaller --size",
                limits.max_storage_buffer_binding_size
            ));
        }
        if bytes > limits.max_buffer_size {
            return Err(format!(
                "{id} {shape}: buffer {name} needs {bytes} bytes, over this adapter's max_buffer_size of {}; use a smaller --size",
                limits.max_buffer_size
            ));
        }
    }
    Ok(())
}

/// A workgroup grid against `max_compute_workgroups_per_dimension`.
pub fn check_grid(
    id: &str,
    shape: Shape,
    groups: [u32; 3],
    limits: &wgpu::Limits,
) -> std::result::Result<[u32; 3], String> {
    let max = limits.max_compute_workgroups_per_dimension;
    if groups.iter().any(|&g| g > max) {
        return Err(format!(
            "{id} {shape}: a {}x{}x{} grid of workgroups is over this adapter's max_compute_workgroups_per_dimension of {max}; use a smaller --size",
            groups[0], groups[1], groups[2]
        ));
    }
    Ok(groups)
}

/// A workgroup of `size` invocations using `bytes` of workgroup memory against the
/// adapter's limits; `fix` says which launch parameters to lower.
pub fn check_workgroup(
    id: &str,
    size: [u32; 3],
    bytes: u64,
    fix: &str,
    limits: &wgpu::Limits,
) -> std::result::Result<(), String> {
    let invocations = size[0] * size[1] * size[2];
    if size[0] > limits.max_compute_workgroup_size_x
        || size[1] > limits.max_compute_workgroup_size_y
        || size[2] > limits.max_compute_workgroup_size_z
        || invocations > limits.max_compute_invocations_per_workgroup
    {
        return Err(format!(
            "{id}: a {}x{}x{} workgroup ({invocations} invocations) is over this adapter's limits ({}x{}x{}, {} invocations); lower {fix}",
            size[0],
            size[1],
            size[2],
            limits.max_compute_workgroup_size_x,
            limits.max_compute_workgroup_size_y,
            limits.max_compute_workgroup_size_z,
            limits.max_compute_invocations_per_workgroup
        ));
    }
    if bytes > u64::from(limits.max_compute_workgroup_storage_size) {
        return Err(format!(
            "{id}: tiles of {bytes} bytes are over this adapter's max_compute_workgroup_storage_size of {}; lower {fix}",
            limits.max_compute_workgroup_storage_size
        ));
    }
    Ok(())
}

/// Every shader the host may compile, by name: each kernel's, then the poison fill, the
/// golden check and the fault planter.
pub fn shader_sources() -> Vec<(String, String)> {
    REGISTRY
        .iter()
        .flat_map(|k| k.shaders())
        .chain([
            ("poison".to_owned(), fault::POISON_SHADER.to_owned()),
            ("golden".to_owned(), golden::source(false, false)),
            ("golden-vec4".to_owned(), golden::source(true, false)),
            ("golden-subgroups".to_owned(), golden::source(false, true)),
            (
                "golden-vec4-subgroups".to_owned(),
                golden::source(true, true),
            ),
            ("fault-planter".to_owned(), fault::PLANTER_SHADER.to_owned()),
        ])
        .collect()
}

/// Compiles WGSL to SPIR-V as wgpu's Vulkan backend does, without a GPU: naga's
/// validator, then its SPIR-V writer (overrides at their defaults) with the
/// bounds-check policies of a checked or unchecked module. A writer panic is returned
/// as an error: the validator accepting a shader does not mean the backend can emit it.
pub fn to_spirv(
    src: &str,
    checked: bool,
    robust_buffer_access: bool,
) -> std::result::Result<Vec<u32>, String> {
    to_spirv_with(src, checked, robust_buffer_access, &[]).map(|(words, _)| words)
}

/// [`to_spirv`] with pipeline constants; also returns the module after the overrides
/// are applied (its workgroup size and array lengths resolved).
pub fn to_spirv_with(
    src: &str,
    checked: bool,
    robust_buffer_access: bool,
    constants: &[(&str, f64)],
) -> std::result::Result<(Vec<u32>, naga::Module), String> {
    use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy::*};
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string(src))?;
    let constants: naga::back::PipelineConstants =
        constants.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(&module, &info, None, &constants)
            .map_err(|e| format!("overrides: {e}"))?;
    let policies = BoundsCheckPolicies {
        index: if checked { Restrict } else { Unchecked },
        buffer: if checked && !robust_buffer_access {
            Restrict
        } else {
            Unchecked
        },
        ..Default::default()
    };
    // SPIR-V 1.5 (Vulkan 1.2): subgroup operations need 1.3 or later.
    let options = naga::back::spv::Options {
        lang_version: (1, 5),
        bounds_check_policies: policies,
        ..Default::default()
    };
    let words =
        std::panic::catch_unwind(|| naga::back::spv::write_vec(&module, &info, &options, None))
            .map_err(|p| {
                format!(
                    "naga's SPIR-V writer panicked: {}",
                    crate::error::panic_message(p.as_ref())
                )
            })?
            .map_err(|e| format!("SPIR-V: {e}"))?;
    Ok((words, module.into_owned()))
}

/// Bytes for `count` elements of `size` bytes, saturating at u64::MAX (which every
/// limit check then refuses).
pub fn bytes(count: &[u32], size: u64) -> u64 {
    count
        .iter()
        .try_fold(size, |acc, &c| acc.checked_mul(u64::from(c)))
        .unwrap_or(u64::MAX)
}
