//! Host side shared by the tiled matmul kernels (f32 and u32 compile the same shader
//! with a different element type): buffers, dispatch grid, and the reference check.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::{self, CaseInput, Checked, Kernel, Prepared, Shape, ShapeKind, Suite};
use crate::model::Launch;
use crate::verify::{self, Dims};

pub const SHADER: &str = include_str!("../../shaders/matmul.wgsl");
/// Output tile of one workgroup: [rows, cols, k-step].
pub const TILE: [u32; 3] = [128, 128, 8];
pub const WORKGROUP: [u32; 3] = [16, 16, 1];

pub fn dims(shape: Shape) -> Dims {
    match shape {
        Shape::Matmul { m, k, n } => Dims {
            m: m as usize,
            k: k as usize,
            n: n as usize,
        },
        Shape::Reduce { .. } => unreachable!("matmul kernels take MxKxN shapes"),
    }
}

/// Buffers of a product with `elem`-byte elements.
pub fn buffers(shape: Shape, elem: u64) -> Vec<(&'static str, u64)> {
    let Shape::Matmul { m, k, n } = shape else {
        unreachable!("matmul shape")
    };
    vec![
        ("A", kernels::bytes(&[m, k], elem)),
        ("B", kernels::bytes(&[k, n], elem)),
        ("C", kernels::bytes(&[m, n], elem)),
    ]
}

/// The default shapes: odd and tile-edge shapes first, one that loads the device last.
pub fn suite(suite: kernels::Suite) -> Vec<Shape> {
    let s = |m, k, n| Shape::Matmul { m, k, n };
    match suite {
        kernels::Suite::Quick => vec![s(1, 1, 1), s(127, 129, 131), s(512, 512, 512)],
        kernels::Suite::Full => vec![s(1, 1, 1), s(1000, 999, 1001), s(4096, 4096, 4096)],
    }
}

pub enum Operands {
    F32(Vec<f32>, Vec<f32>),
    U32(Vec<u32>, Vec<u32>),
}

/// A kernel on the tiled shader: what differs between f32 and u32 is the id and the
/// operands (which also fix the element type the shader is compiled with).
pub struct Tiled {
    pub id: &'static str,
    pub describe: &'static str,
    pub operands: fn(&CaseInput, Dims) -> Operands,
}

impl Kernel for Tiled {
    fn id(&self) -> &'static str {
        self.id
    }
    fn describe(&self) -> &'static str {
        self.describe
    }
    fn shape_kind(&self) -> ShapeKind {
        ShapeKind::Matmul
    }
    fn suite(&self, s: Suite) -> Vec<Shape> {
        suite(s)
    }
    fn buffers(&self, shape: Shape) -> Vec<(&'static str, u64)> {
        buffers(shape, 4)
    }
    fn prepare(&self, gpu: &Gpu, input: &CaseInput) -> Result<Box<dyn Prepared>> {
        let operands = {
            let _s = tracing::info_span!("generate_inputs").entered();
            (self.operands)(input, dims(input.shape))
        };
        TiledMatmul::prepare(gpu, input, self.id, operands)
    }
}

pub struct TiledMatmul {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    out: wgpu::Buffer,
    out_bytes: u64,
    groups: [u32; 3],
    dims: Dims,
    operands: Operands,
    seed: u64,
    checks: kernels::RuntimeChecks,
}

impl TiledMatmul {
    pub fn prepare(
        gpu: &Gpu,
        input: &CaseInput,
        label: &str,
        operands: Operands,
    ) -> Result<Box<dyn Prepared>> {
        let d = dims(input.shape);
        let (source, a, b) = match &operands {
            Operands::F32(a, b) => (
                SHADER.to_owned(),
                bytemuck::cast_slice(a),
                bytemuck::cast_slice(b),
            ),
            Operands::U32(a, b) => (
                SHADER.replacen("alias Elem = f32;", "alias Elem = u32;", 1),
                bytemuck::cast_slice(a),
                bytemuck::cast_slice(b),
            ),
        };
        let pipeline = kernels::compile(gpu, label, &source, &[], input.checks)?;
        let (abuf, bbuf, out, out_bytes) = gpu.scoped("allocating matmul buffers", || {
            let abuf = gpu.upload("A", a);
            let bbuf = gpu.upload("B", b);
            let out_bytes = (d.m * d.n * 4) as u64;
            (abuf, bbuf, gpu.output("C", out_bytes), out_bytes)
        })?;
        let params = kernels::params(gpu, &[d.m as u32, d.k as u32, d.n as u32, 0]);
        let bind_group = kernels::bind(gpu, &pipeline, &[&abuf, &bbuf, &out, &params])?;
        let groups = [
            (d.n as u32).div_ceil(TILE[1]),
            (d.m as u32).div_ceil(TILE[0]),
            1,
        ];
        Ok(Box::new(TiledMatmul {
            pipeline,
            bind_group,
            out,
            out_bytes,
            groups,
            dims: d,
            operands,
            seed: input.seed,
            checks: input.checks,
        }))
    }
}

impl Prepared for TiledMatmul {
    fn launch(&self) -> Launch {
        Launch {
            variant: "tiled-128x128x8-reg8x8".into(),
            workgroup_size: WORKGROUP,
            workgroups: vec![self.groups],
            tile: Some(TILE),
            runtime_checks: self.checks.name().to_owned(),
            constants: BTreeMap::new(),
        }
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        kernels::encode_one(pass, &self.pipeline, &self.bind_group, self.groups);
    }

    fn output(&self) -> (&wgpu::Buffer, u64) {
        (&self.out, self.out_bytes)
    }

    fn verify(&self, output: &[u8]) -> Checked {
        match &self.operands {
            Operands::F32(a, b) => {
                let (tally, method) =
                    verify::float_matmul(a, b, bytemuck::cast_slice(output), self.dims, self.seed);
                Checked {
                    tally,
                    method,
                    exact: false,
                }
            }
            Operands::U32(a, b) => {
                let (tally, method) =
                    verify::u32_matmul(a, b, bytemuck::cast_slice(output), self.dims, self.seed);
                Checked {
                    tally,
                    method,
                    exact: true,
                }
            }
        }
    }

    fn work(&self) -> (f64, &'static str) {
        (2.0 * self.dims.macs() as f64, "GFLOP/s")
    }
}
