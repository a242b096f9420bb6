//! Host side shared by the tiled matmul kernels (f32 and u32 compile the same shader
//! with a different element type): launch parameters, buffers, dispatch grid, and the
//! reference check.

use std::collections::BTreeMap;

use crate::check::reference::{self, Dims, MatmulCheck};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::{self, CaseInput, Checked, Kernel, Prepared, Shape, ShapeKind, Suite, fault};
use crate::model::Launch;

/// The tiled body; [`source`] puts the element type and an I/O file in front of it.
pub const SHADER: &str = include_str!("../../shaders/matmul.wgsl");
/// Element-wise guarded loads and stores: any shape.
pub const IO_SCALAR: &str = include_str!("../../shaders/matmul_io_scalar.wgsl");
/// One 16-byte access per quad: K and N multiples of 4.
pub const IO_VEC4: &str = include_str!("../../shaders/matmul_io_vec4.wgsl");

/// The shader as compiled: element type (`f32` or `u32`) with its two helpers, I/O,
/// then the body. For f32, `canon` stores every zero as +0, so the sign of a zero is
/// part of the result the checks compare bit for bit (Vulkan does not promise signed
/// zeros without it); `reduced` is the test-only switch that rounds inputs to TF32.
pub fn source(elem: &str, vec4: bool) -> String {
    let io = if vec4 { IO_VEC4 } else { IO_SCALAR };
    let helpers = if elem == "f32" {
        "fn canon(v: vec4<f32>) -> vec4<f32> {
    let b = bitcast<vec4<u32>>(v);
    return bitcast<vec4<f32>>(select(b, vec4<u32>(0u), (b & vec4<u32>(0x7fffffffu)) == vec4<u32>(0u)));
}
fn reduced(v: vec4<f32>) -> vec4<f32> {
    if (FAULT != 5u) {
        return v;
    }
    // Round to nearest even at TF32's 10 mantissa bits, as a tensor core's input stage.
    let b = bitcast<vec4<u32>>(v);
    let r = (b + vec4<u32>(0xfffu) + ((b >> vec4<u32>(13u)) & vec4<u32>(1u))) & vec4<u32>(0xffffe000u);
    return bitcast<vec4<f32>>(r);
}"
    } else {
        "fn canon(v: vec4<u32>) -> vec4<u32> { return v; }
fn reduced(v: vec4<u32>) -> vec4<u32> { return v; }"
    };
    format!("alias Elem = {elem};\n{helpers}\n\n{io}\n{SHADER}")
}

/// The tiled kernel's launch parameters (`gpu-canary tune` sweeps them; a tuning file
/// supplies them by name: `WG_X`, `WG_Y`, `BK`, `STAGES`, `VEC4`). The register tile is
/// 8×8, so the workgroup's output tile is 8·WG_Y rows by 8·WG_X columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatmulParams {
    /// Invocations across (pipeline constant `WG_X`).
    pub wg_x: u32,
    /// Invocations down (pipeline constant `WG_Y`).
    pub wg_y: u32,
    /// K step through workgroup memory, a multiple of 4 (pipeline constant `BK`).
    pub bk: u32,
    /// Workgroup-memory stages: 1, or 2 to fill the next step's tiles while the
    /// current ones are read (pipeline constant `STAGES`).
    pub stages: u32,
    /// Move quads with 16-byte loads and stores where the shape allows it (K and N
    /// multiples of 4); 0 forces the element-wise I/O everywhere.
    pub vec4: bool,
}

impl Default for MatmulParams {
    fn default() -> Self {
        MatmulParams {
            wg_x: 16,
            wg_y: 16,
            bk: 8,
            stages: 1,
            vec4: true,
        }
    }
}

impl MatmulParams {
    /// From named parameters over the defaults, checked against the adapter's limits;
    /// the error names the bad value.
    pub fn from_named(
        id: &str,
        named: Option<&kernels::Params>,
        limits: &wgpu::Limits,
    ) -> std::result::Result<MatmulParams, String> {
        let mut p = MatmulParams::default();
        for (k, &v) in named.into_iter().flatten() {
            let whole = || kernels::whole_param(id, k, v);
            match k.as_str() {
                "WG_X" => p.wg_x = whole()?,
                "WG_Y" => p.wg_y = whole()?,
                "BK" => p.bk = whole()?,
                "STAGES" => p.stages = whole()?,
                "VEC4" => p.vec4 = v != 0.0,
                other => {
                    return Err(format!(
                        "{id} has no launch parameter '{other}' (it has WG_X, WG_Y, BK, STAGES, VEC4)"
                    ));
                }
            }
        }
        if p.bk % 4 != 0 {
            return Err(format!("{id}: BK {} must be a multiple of 4", p.bk));
        }
        if !(1..=2).contains(&p.stages) {
            return Err(format!("{id}: STAGES {} must be 1 or 2", p.stages));
        }
        kernels::check_workgroup(
            id,
            [p.wg_x, p.wg_y, 1],
            p.workgroup_bytes(),
            "BK, STAGES, WG_X or WG_Y",
            limits,
        )?;
        Ok(p)
    }

    /// [rows, cols, k-step] of a workgroup's output tile.
    pub fn tile(&self) -> [u32; 3] {
        [8 * self.wg_y, 8 * self.wg_x, self.bk]
    }

    /// Workgroup memory of the tiles: BK·(BM + BN) elements of 4 bytes per stage.
    pub fn workgroup_bytes(&self) -> u64 {
        let [bm, bn, bk] = self.tile();
        4 * u64::from(self.stages) * u64::from(bk) * (u64::from(bm) + u64::from(bn))
    }

    /// Whether a shape gets the 16-byte I/O: asked for, and every quad aligned.
    pub fn vec4_for(&self, d: Dims) -> bool {
        self.vec4 && d.k.is_multiple_of(4) && d.n.is_multiple_of(4)
    }

    pub fn named(&self) -> BTreeMap<String, f64> {
        BTreeMap::from([
            ("WG_X".to_owned(), f64::from(self.wg_x)),
            ("WG_Y".to_owned(), f64::from(self.wg_y)),
            ("BK".to_owned(), f64::from(self.bk)),
            ("STAGES".to_owned(), f64::from(self.stages)),
            ("VEC4".to_owned(), f64::from(u8::from(self.vec4))),
        ])
    }
}

pub fn dims(shape: Shape) -> Dims {
    match shape {
        Shape::Matmul { m, k, n } => Dims {
            m: m as usize,
            k: k as usize,
            n: n as usize,
        },
        Shape::Reduce { .. } | Shape::Bytes { .. } | Shape::Memory(_) => {
            unreachable!("matmul kernels take MxKxN shapes")
        }
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
/// Each suite has shapes checked element by element with fractional inputs (up to 512³,
/// which catch wrong rounding) and the full suite shapes above that, on the exact grid.
pub fn suite(suite: kernels::Suite) -> Vec<Shape> {
    let s = |m, k, n| Shape::Matmul { m, k, n };
    match suite {
        kernels::Suite::Quick => vec![s(1, 1, 1), s(127, 129, 131), s(512, 512, 512)],
        // 512×384×512 is the largest the float check takes element by element (K within
        // the sharp bound, 2²⁷ multiply-adds at most): what catches wrong rounding.
        kernels::Suite::Full => vec![
            s(1, 1, 1),
            s(512, 384, 512),
            s(1000, 999, 1001),
            s(4096, 4096, 4096),
        ],
    }
}

pub enum Operands {
    F32(Vec<f32>, Vec<f32>),
    U32(Vec<u32>, Vec<u32>),
}

/// A kernel on the tiled shader: what differs between f32 and u32 is the id, the
/// element type and the operands (f32 operands follow the shape's check, see
/// [`MatmulCheck`]).
pub struct Tiled {
    pub id: &'static str,
    pub describe: &'static str,
    /// `f32` or `u32`: the shader's element type.
    pub elem: &'static str,
    pub operands: fn(&CaseInput, Dims, MatmulCheck) -> Operands,
    /// The precision probe: its own shapes and inputs, checked by
    /// [`MatmulCheck::Probe`], and the launch parameters of the kernel it probes.
    pub probe: Option<&'static str>,
}

/// (WG_X, WG_Y, BK, STAGES) of the tiled matmul that `tune` tries: output tiles from
/// 64×64 to 128×256, K steps of 8 to 32, one or two stages.
pub fn tune_grid() -> Vec<(u32, u32, u32, u32)> {
    let mut out = Vec::new();
    for (x, y) in [(8, 8), (16, 8), (8, 16), (16, 16), (32, 16), (16, 32)] {
        for bk in [8, 16, 32] {
            for stages in [1, 2] {
                out.push((x, y, bk, stages));
            }
        }
    }
    out
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
        match self.probe {
            // Tile-edge shapes around the default 128×128 tile, in both suites.
            Some(_) => vec![Shape::Matmul {
                m: 130,
                k: reference::PROBE_K,
                n: 131,
            }],
            None => suite(s),
        }
    }
    fn buffers(&self, shape: Shape) -> Vec<(&'static str, u64)> {
        buffers(shape, 4)
    }
    fn tuning_id(&self) -> &'static str {
        self.probe.unwrap_or(self.id)
    }
    fn probe(&self) -> Option<&'static dyn Kernel> {
        // From the registry by its id: the probe's file builds on this one.
        (self.elem == "f32" && self.probe.is_none())
            .then(|| super::find("precision-f32"))
            .flatten()
    }
    /// Integer products are exact at any K; float ones need K within the exact grid;
    /// the probe's inputs are exact only at its own K.
    fn check_shape(&self, shape: Shape) -> std::result::Result<(), String> {
        if self.probe.is_some() && dims(shape).k != reference::PROBE_K as usize {
            return Err(format!(
                "{} {shape}: the probe's sums are exact at K = {} only; use Mx{}xN",
                self.id,
                reference::PROBE_K,
                reference::PROBE_K
            ));
        }
        match self.elem {
            "f32" => MatmulCheck::refuse(self.id, shape, dims(shape)),
            _ => Ok(()),
        }
    }
    fn shaders(&self) -> Vec<(String, String)> {
        vec![
            (self.id.to_owned(), source(self.elem, false)),
            (format!("{}-vec4", self.id), source(self.elem, true)),
        ]
    }
    fn tunable(&self) -> bool {
        self.probe.is_none()
    }
    /// The tiles of [`tune_grid`] that fit `gpu`'s limits, with 16-byte I/O, and the
    /// default tile with element-wise I/O as the reference the vec4 loads are measured
    /// against.
    fn candidates(&self, gpu: &Gpu) -> Vec<kernels::Params> {
        let d = MatmulParams::default();
        std::iter::once(MatmulParams { vec4: false, ..d })
            .chain(
                tune_grid()
                    .into_iter()
                    .map(|(wg_x, wg_y, bk, stages)| MatmulParams {
                        wg_x,
                        wg_y,
                        bk,
                        stages,
                        vec4: true,
                    }),
            )
            .map(|p| p.named())
            .filter(|p| MatmulParams::from_named(self.id, Some(p), &gpu.limits).is_ok())
            .collect()
    }
    fn prepare(&self, gpu: &Gpu, input: &CaseInput) -> Result<Box<dyn Prepared>> {
        let d = dims(input.shape);
        let check = match self.probe {
            Some(_) => MatmulCheck::Probe,
            None => MatmulCheck::for_shape(d, input.input_scale),
        };
        let operands = {
            let _s = tracing::info_span!("generate_inputs").entered();
            (self.operands)(input, d, check)
        };
        TiledMatmul::prepare(gpu, input, self.id, operands, check)
    }
}

/// The workgroup grid [across N, down M, 1], or why the adapter cannot launch it.
pub fn grid(
    id: &str,
    shape: Shape,
    p: &MatmulParams,
    limits: &wgpu::Limits,
) -> std::result::Result<[u32; 3], String> {
    let d = dims(shape);
    let [bm, bn, _] = p.tile();
    let groups = [(d.n as u32).div_ceil(bn), (d.m as u32).div_ceil(bm), 1];
    kernels::check_grid(id, shape, groups, limits)
}

pub struct TiledMatmul {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    out: wgpu::Buffer,
    out_bytes: u64,
    groups: [u32; 3],
    dims: Dims,
    operands: Operands,
    check: MatmulCheck,
    checks: kernels::RuntimeChecks,
    params: MatmulParams,
    vec4: bool,
}

impl TiledMatmul {
    pub fn prepare(
        gpu: &Gpu,
        input: &CaseInput,
        label: &str,
        operands: Operands,
        check: MatmulCheck,
    ) -> Result<Box<dyn Prepared>> {
        let d = dims(input.shape);
        let params =
            MatmulParams::from_named(label, input.params, &gpu.limits).map_err(Error::Usage)?;
        let groups = grid(label, input.shape, &params, &gpu.limits).map_err(Error::Usage)?;
        let vec4 = params.vec4_for(d);
        let (elem, a, b) = match &operands {
            Operands::F32(a, b) => ("f32", bytemuck::cast_slice(a), bytemuck::cast_slice(b)),
            Operands::U32(a, b) => ("u32", bytemuck::cast_slice(a), bytemuck::cast_slice(b)),
        };
        let constants = [
            ("WG_X", f64::from(params.wg_x)),
            ("WG_Y", f64::from(params.wg_y)),
            ("BK", f64::from(params.bk)),
            ("STAGES", f64::from(params.stages)),
        ];
        let pipeline = kernels::compile(
            gpu,
            label,
            &source(elem, vec4),
            &constants,
            input.checks,
            input.fault,
        )?;
        let (abuf, bbuf, out, out_bytes) = gpu.scoped("allocating matmul buffers", || {
            let abuf = gpu.upload("A", a);
            let bbuf = gpu.upload("B", b);
            let out_bytes = (d.m * d.n * 4) as u64;
            (abuf, bbuf, gpu.output("C", out_bytes), out_bytes)
        })?;
        let uniform = crate::gpu::pipeline::params(gpu, &[d.m as u32, d.k as u32, d.n as u32, 0]);
        let bind_group =
            crate::gpu::pipeline::bind(gpu, &pipeline, &[&abuf, &bbuf, &out, &uniform])?;
        Ok(Box::new(TiledMatmul {
            pipeline,
            bind_group,
            out,
            out_bytes,
            groups,
            dims: d,
            operands,
            check,
            checks: input.checks,
            params,
            vec4,
        }))
    }
}

impl Prepared for TiledMatmul {
    fn launch(&self) -> Launch {
        let [bm, bn, bk] = self.params.tile();
        let io = if self.vec4 { "vec4" } else { "scalar" };
        let db = if self.params.stages == 2 {
            "-double-buffered"
        } else {
            ""
        };
        Launch {
            variant: format!("tiled-{bm}x{bn}x{bk}-reg8x8-{io}-io{db}"),
            workgroup_size: [self.params.wg_x, self.params.wg_y, 1],
            workgroups: vec![self.groups],
            tile: Some(self.params.tile()),
            runtime_checks: self.checks.name().to_owned(),
            constants: self.params.named(),
        }
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        crate::gpu::pipeline::encode_one(pass, &self.pipeline, &self.bind_group, self.groups);
    }

    fn outputs(&self) -> Vec<kernels::Output<'_>> {
        vec![kernels::Output {
            buffer: &self.out,
            bytes: self.out_bytes,
        }]
    }

    fn layout(&self) -> fault::Layout {
        fault::Layout {
            rows: self.dims.m as u32,
            cols: self.dims.n as u32,
            stride: self.dims.n as u32,
            float: matches!(self.operands, Operands::F32(..)),
        }
    }

    fn verify(&self, outputs: &[Vec<u8>], check_seed: u64) -> Checked {
        let c = &outputs[0];
        match &self.operands {
            Operands::F32(a, b) => reference::float_matmul(
                a,
                b,
                bytemuck::cast_slice(c),
                self.dims,
                self.check,
                check_seed,
            ),
            Operands::U32(a, b) => {
                reference::u32_matmul(a, b, bytemuck::cast_slice(c), self.dims, check_seed)
            }
        }
    }

    fn work(&self) -> kernels::Work {
        kernels::Work {
            per_dispatch: 2.0 * self.dims.macs() as f64,
            unit: "GFLOP/s",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, f64)]) -> std::result::Result<MatmulParams, String> {
        let named: kernels::Params = pairs.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
        MatmulParams::from_named("matmul-f32", Some(&named), &wgpu::Limits::default())
    }

    #[test]
    fn launch_parameters_are_checked_before_anything_compiles() {
        let p = parse(&[("WG_X", 8.0), ("BK", 16.0), ("VEC4", 0.0)]).unwrap();
        assert_eq!((p.wg_x, p.wg_y, p.bk, p.vec4), (8, 16, 16, false));
        assert_eq!(p.tile(), [128, 64, 16]);
        // 16·(128 + 64)·4 bytes of tiles.
        assert_eq!(p.workgroup_bytes(), 12288);
        let err = |pairs: &[(&str, f64)]| parse(pairs).unwrap_err();
        let two = parse(&[("WG_X", 8.0), ("BK", 8.0), ("STAGES", 2.0)]).unwrap();
        assert_eq!(two.workgroup_bytes(), 12288);
        assert!(err(&[("STAGES", 3.0)]).contains("1 or 2"));
        // Two stages of the default 128×128×16 tiles: 32 KiB, over the default limit.
        assert!(
            err(&[("BK", 16.0), ("STAGES", 2.0)]).contains("max_compute_workgroup_storage_size")
        );
        assert!(err(&[("BK", 6.0)]).contains("multiple of 4"));
        assert!(err(&[("BK", 0.0)]).contains("whole number"));
        assert!(err(&[("WG_X", 2.5)]).contains("whole number"));
        assert!(err(&[("TM", 8.0)]).contains("no launch parameter 'TM'"));
        // The default limits allow 256 invocations and 16 KiB of workgroup memory.
        assert!(err(&[("WG_X", 32.0)]).contains("over this adapter's limits"));
        assert!(err(&[("BK", 32.0)]).contains("max_compute_workgroup_storage_size"));
        // 16·(128 + 128)·4 = 16384 bytes: exactly the limit, allowed.
        assert!(parse(&[("BK", 16.0)]).is_ok());
    }

    #[test]
    fn vec4_io_only_where_every_quad_is_aligned() {
        let p = MatmulParams::default();
        let d = |m, k, n| Dims { m, k, n };
        assert!(p.vec4_for(d(3, 4, 8)));
        assert!(!p.vec4_for(d(3, 5, 8)));
        assert!(!p.vec4_for(d(3, 4, 6)));
        let off = MatmulParams { vec4: false, ..p };
        assert!(!off.vec4_for(d(4, 4, 4)));
    }

    #[test]
    fn a_grid_over_the_adapters_limit_is_a_usage_error() {
        let limits = wgpu::Limits::default();
        let p = MatmulParams::default();
        let fits = Shape::Matmul {
            m: 128 * 65535,
            k: 1,
            n: 1,
        };
        assert_eq!(
            grid("matmul-f32", fits, &p, &limits).unwrap(),
            [1, 65535, 1]
        );
        let over = Shape::Matmul {
            m: 128 * 65535 + 1,
            k: 1,
            n: 1,
        };
        assert!(
            grid("matmul-f32", over, &p, &limits)
                .unwrap_err()
                .contains("max_compute_workgroups_per_dimension of 65535")
        );
    }
}
