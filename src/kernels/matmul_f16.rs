//! `matmul-f16`: f16 A and B, f32 accumulation, on cooperative matrices (tensor cores)
//! through wgpu's experimental `EXPERIMENTAL_COOPERATIVE_MATRIX`. Where the adapter
//! offers no 16×16×16 f16→f32 shape the kernel reports itself skipped, never passed.
//! Up to 2²⁷ multiply-adds the reference is f64 over the exact f16 inputs, with the f32
//! bound (products of two f16 are exact in f32, so only the accumulation rounds); above
//! that the inputs come from the exact grid (whole numbers up to 2¹¹, exact in f16) and
//! the product is checked exactly (see `check::reference`).
//!
//! Two implementations: `direct` (the default: fragments loaded straight from the
//! storage buffers, 2×2 per subgroup) and `staged` (`STAGED=1`: the workgroup's tiles
//! of A and B staged in workgroup memory, double-buffered; tile sizes as pipeline
//! constants), which `gpu-canary tune` sweeps and verifies like any configuration.

use std::collections::BTreeMap;

use crate::check::reference::{self, Dims, MatmulCheck};
use crate::error::{Error, Result};
use crate::gpu::{CoopShape, Gpu, Needs};
use crate::inputs::{self, stream};
use crate::kernels::{self, CaseInput, Checked, Kernel, Prepared, Shape, ShapeKind, Suite, fault};
use crate::model::Launch;

pub const SHADER: &str = include_str!("../../shaders/matmul_f16.wgsl");
/// Tiles staged in workgroup memory, double-buffered (`STAGED=1`).
pub const SHADER_STAGED: &str = include_str!("../../shaders/matmul_f16_staged.wgsl");
/// Rows and columns of C per subgroup tile; K advances by one fragment (direct).
pub const TILE: [u32; 3] = [32, 32, 16];
pub const WORKGROUP: u32 = 64;

/// Launch parameters (`gpu-canary tune` sweeps them; a tuning file supplies them by
/// name: `STAGED`, and with it `BM`, `BN`, `BK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct F16Params {
    pub staged: bool,
    /// The staged kernel's workgroup tile: rows and columns of C (multiples of 32, one
    /// 32×32 sub-tile per subgroup) and the K step (a multiple of 16).
    pub bm: u32,
    pub bn: u32,
    pub bk: u32,
    /// The adapter's fixed subgroup size (the staged kernel's workgroup is one
    /// subgroup per sub-tile).
    pub subgroup: u32,
}

impl F16Params {
    /// From named parameters over the defaults, checked against the adapter; the error
    /// names the bad value.
    pub fn from_named(
        named: Option<&kernels::Params>,
        info: &wgpu::AdapterInfo,
        limits: &wgpu::Limits,
    ) -> std::result::Result<F16Params, String> {
        let mut p = F16Params {
            staged: false,
            bm: 64,
            bn: 64,
            bk: 32,
            subgroup: info.subgroup_min_size,
        };
        let mut tile_given = false;
        for (k, &v) in named.into_iter().flatten() {
            let whole = || kernels::whole_param("matmul-f16", k, v);
            match k.as_str() {
                "STAGED" => p.staged = v != 0.0,
                "BM" => (p.bm, tile_given) = (whole()?, true),
                "BN" => (p.bn, tile_given) = (whole()?, true),
                "BK" => (p.bk, tile_given) = (whole()?, true),
                other => {
                    return Err(format!(
                        "matmul-f16 has no launch parameter '{other}' (it has STAGED, BM, BN, BK)"
                    ));
                }
            }
        }
        if !p.staged {
            if tile_given {
                return Err("matmul-f16: BM, BN and BK apply only with STAGED=1".into());
            }
            return Ok(p);
        }
        if !p.bm.is_multiple_of(32) || !p.bn.is_multiple_of(32) || !p.bk.is_multiple_of(16) {
            return Err(format!(
                "matmul-f16: BM {} and BN {} must be multiples of 32, BK {} of 16",
                p.bm, p.bn, p.bk
            ));
        }
        if info.subgroup_min_size != info.subgroup_max_size || info.subgroup_min_size == 0 {
            return Err(format!(
                "matmul-f16: STAGED=1 needs a fixed subgroup size; this adapter's ranges from {} to {}",
                info.subgroup_min_size, info.subgroup_max_size
            ));
        }
        kernels::check_workgroup(
            "matmul-f16",
            [p.workgroup(), 1, 1],
            p.workgroup_bytes(),
            "BM, BN or BK",
            limits,
        )?;
        Ok(p)
    }

    /// [rows, cols, k-step] C and K are padded to.
    pub fn tile(&self) -> [u32; 3] {
        if self.staged {
            [self.bm, self.bn, self.bk]
        } else {
            TILE
        }
    }

    /// Invocations per workgroup.
    pub fn workgroup(&self) -> u32 {
        if self.staged {
            (self.bm / 32) * (self.bn / 32) * self.subgroup
        } else {
            WORKGROUP
        }
    }

    /// Workgroup memory of the staged kernel: two stages of A (BM rows of BK+8 halves)
    /// and B (BK rows of BN+8 halves).
    pub fn workgroup_bytes(&self) -> u64 {
        let (bm, bn, bk) = (u64::from(self.bm), u64::from(self.bn), u64::from(self.bk));
        2 * 2 * (bm * (bk + 8) + bk * (bn + 8))
    }

    pub fn named(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::from([("STAGED".to_owned(), f64::from(u8::from(self.staged)))]);
        if self.staged {
            m.insert("BM".into(), f64::from(self.bm));
            m.insert("BN".into(), f64::from(self.bn));
            m.insert("BK".into(), f64::from(self.bk));
        }
        m
    }
}

/// The cooperative-matrix shape this kernel is written for: 16×16×16, f16 in, f32 out.
pub const COOP_SHAPE: CoopShape = CoopShape {
    m: 16,
    n: 16,
    k: 16,
    ab: wgpu::CooperativeScalarType::F16,
    cr: wgpu::CooperativeScalarType::F32,
};

/// (BM, BN, BK) of the staged kernel that `tune` tries.
pub fn tune_grid() -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    for (bm, bn) in [(64, 64), (128, 64), (64, 128), (128, 128)] {
        for bk in [16, 32, 64] {
            out.push((bm, bn, bk));
        }
    }
    out
}

/// Padded dimensions: rows and columns to the tile's, K to its step.
pub fn padded(d: Dims, tile: [u32; 3]) -> Dims {
    let up = |v: usize, t: u32| v.div_ceil(t as usize) * t as usize;
    Dims {
        m: up(d.m, tile[0]),
        k: up(d.k, tile[2]),
        n: up(d.n, tile[1]),
    }
}

/// Device buffers of the padded operands, as (name, bytes).
fn padded_buffers(p: Dims) -> Vec<(&'static str, u64)> {
    let b = |r: usize, c: usize, e: u64| (r as u64).saturating_mul(c as u64).saturating_mul(e);
    vec![
        ("A", b(p.m, p.k, 2)),
        ("B", b(p.k, p.n, 2)),
        ("C", b(p.m, p.n, 4)),
    ]
}

/// Copies a rows×cols row-major matrix into the top-left of a zeroed prows×pcols one.
pub fn pad<T: Copy + Default>(
    src: &[T],
    rows: usize,
    cols: usize,
    prows: usize,
    pcols: usize,
) -> Vec<T> {
    let mut out = vec![T::default(); prows * pcols];
    for r in 0..rows {
        out[r * pcols..r * pcols + cols].copy_from_slice(&src[r * cols..(r + 1) * cols]);
    }
    out
}

/// The rows×cols top-left corner of a row-major matrix with `pcols` columns.
pub fn unpad<T: Copy>(src: &[T], rows: usize, cols: usize, pcols: usize) -> Vec<T> {
    (0..rows)
        .flat_map(|r| src[r * pcols..r * pcols + cols].iter().copied())
        .collect()
}

pub struct MatmulF16;

impl Kernel for MatmulF16 {
    fn id(&self) -> &'static str {
        "matmul-f16"
    }
    fn describe(&self) -> &'static str {
        "C = A·B, f16 inputs, f32 accumulate, on cooperative matrices (tensor cores)"
    }
    fn shape_kind(&self) -> ShapeKind {
        ShapeKind::Matmul
    }
    fn suite(&self, suite: Suite) -> Vec<Shape> {
        let s = |m, k, n| Shape::Matmul { m, k, n };
        match suite {
            Suite::Quick => vec![s(1, 1, 1), s(127, 129, 131), s(512, 512, 512)],
            // 512×384×512 is checked element by element with fractional inputs (what
            // catches f16 accumulation or other wrong rounding); the rest on the exact grid.
            Suite::Full => vec![
                s(512, 384, 512),
                s(1000, 999, 1001),
                s(4096, 4096, 4096),
                s(8192, 8192, 8192),
            ],
        }
    }
    fn buffers(&self, shape: Shape) -> Vec<(&'static str, u64)> {
        padded_buffers(padded(kernels::matmul::dims(shape), TILE))
    }
    fn check_shape(&self, shape: Shape) -> std::result::Result<(), String> {
        MatmulCheck::refuse("matmul-f16", shape, kernels::matmul::dims(shape))
    }
    fn needs(&self) -> Needs {
        Needs {
            required: wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP,
            optional: wgpu::Features::empty(),
            cooperative_matrix: vec![COOP_SHAPE],
        }
    }
    fn shaders(&self) -> Vec<(String, String)> {
        vec![
            ("matmul-f16".to_owned(), SHADER.to_owned()),
            ("matmul-f16-staged".to_owned(), SHADER_STAGED.to_owned()),
        ]
    }
    fn tunable(&self) -> bool {
        true
    }
    /// The direct kernel and the staged tiles of [`tune_grid`] that fit `gpu`.
    fn candidates(&self, gpu: &Gpu) -> Vec<kernels::Params> {
        std::iter::once(kernels::Params::from([("STAGED".to_owned(), 0.0)]))
            .chain(tune_grid().into_iter().map(|(bm, bn, bk)| {
                kernels::Params::from([
                    ("STAGED".to_owned(), 1.0),
                    ("BM".to_owned(), f64::from(bm)),
                    ("BN".to_owned(), f64::from(bn)),
                    ("BK".to_owned(), f64::from(bk)),
                ])
            }))
            .filter(|p| F16Params::from_named(Some(p), &gpu.info, &gpu.limits).is_ok())
            .collect()
    }
    fn prepare(&self, gpu: &Gpu, input: &CaseInput) -> Result<Box<dyn Prepared>> {
        let d = crate::kernels::matmul::dims(input.shape);
        let params =
            F16Params::from_named(input.params, &gpu.info, &gpu.limits).map_err(Error::Usage)?;
        let p = padded(d, params.tile());
        // The default padding was checked before the run; a staged tile may pad more.
        kernels::check_buffers(
            self.id(),
            input.shape,
            &padded_buffers(p),
            true,
            &gpu.limits,
        )
        .map_err(Error::Usage)?;
        let check = MatmulCheck::for_shape(d, input.input_scale);
        let (a, b) = {
            let _s = tracing::info_span!("generate_inputs").entered();
            let values = |s, len| match check {
                // A shape never chooses the probe; its inputs would do as fractional ones.
                MatmulCheck::Full | MatmulCheck::Probe => {
                    inputs::f16_values(input.seed, s, len, input.input_scale)
                }
                MatmulCheck::ExactGrid(g) => inputs::grid_values(input.seed, s, len, g.q)
                    .into_iter()
                    .map(|i| half::f16::from_f32(g.value(i)))
                    .collect(),
            };
            (values(stream::A, d.m * d.k), values(stream::B, d.k * d.n))
        };
        let max = gpu.limits.max_compute_workgroups_per_dimension;
        let (pipeline, groups, tiles_n) = if params.staged {
            let constants = [
                ("WG", f64::from(params.workgroup())),
                ("BM", f64::from(params.bm)),
                ("BN", f64::from(params.bn)),
                ("BK", f64::from(params.bk)),
            ];
            let groups = kernels::check_grid(
                self.id(),
                input.shape,
                [p.n as u32 / params.bn, p.m as u32 / params.bm, 1],
                &gpu.limits,
            )
            .map_err(Error::Usage)?;
            let pipeline = kernels::compile(
                gpu,
                self.id(),
                SHADER_STAGED,
                &constants,
                input.checks,
                input.fault,
            )?;
            (pipeline, groups, 0)
        } else {
            let tiles_n = (p.n as u32) / TILE[1];
            let tiles = (p.m as u32 / TILE[0]) * tiles_n;
            // One subgroup per tile at the smallest subgroup size; the grid-stride loop
            // in the shader covers the rest if subgroups are larger.
            let per_group = (WORKGROUP / gpu.info.subgroup_min_size.max(1)).max(1);
            let groups = [tiles.div_ceil(per_group).clamp(1, max), 1, 1];
            let pipeline =
                kernels::compile(gpu, self.id(), SHADER, &[], input.checks, input.fault)?;
            (pipeline, groups, tiles_n)
        };
        let (abuf, bbuf, out) = gpu.scoped("allocating matmul-f16 buffers", || {
            (
                gpu.upload("A", bytemuck::cast_slice(&pad(&a, d.m, d.k, p.m, p.k))),
                gpu.upload("B", bytemuck::cast_slice(&pad(&b, d.k, d.n, p.k, p.n))),
                gpu.output("C", (p.m * p.n * 4) as u64),
            )
        })?;
        let uniform =
            crate::gpu::pipeline::params(gpu, &[p.m as u32, p.k as u32, p.n as u32, tiles_n]);
        let bind_group =
            crate::gpu::pipeline::bind(gpu, &pipeline, &[&abuf, &bbuf, &out, &uniform])?;
        Ok(Box::new(CoopMatmul {
            pipeline,
            bind_group,
            out,
            dims: d,
            padded: p,
            groups,
            params,
            a,
            b,
            check,
            checks: input.checks,
        }))
    }
}

struct CoopMatmul {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    out: wgpu::Buffer,
    dims: Dims,
    padded: Dims,
    groups: [u32; 3],
    params: F16Params,
    a: Vec<half::f16>,
    b: Vec<half::f16>,
    check: MatmulCheck,
    checks: kernels::RuntimeChecks,
}

impl Prepared for CoopMatmul {
    fn launch(&self) -> Launch {
        let [bm, bn, bk] = self.params.tile();
        Launch {
            variant: if self.params.staged {
                format!("coop-mat16x16-staged-{bm}x{bn}x{bk}-double-buffered")
            } else {
                "coop-mat16x16-2x2-per-subgroup".into()
            },
            workgroup_size: [self.params.workgroup(), 1, 1],
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
            bytes: (self.padded.m * self.padded.n * 4) as u64,
        }]
    }

    fn layout(&self) -> fault::Layout {
        fault::Layout {
            rows: self.dims.m as u32,
            cols: self.dims.n as u32,
            stride: self.padded.n as u32,
            float: true,
        }
    }

    fn verify(&self, outputs: &[Vec<u8>], check_seed: u64) -> Checked {
        let c = unpad(
            bytemuck::cast_slice::<u8, f32>(&outputs[0]),
            self.dims.m,
            self.dims.n,
            self.padded.n,
        );
        reference::float_matmul(&self.a, &self.b, &c, self.dims, self.check, check_seed)
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

    #[test]
    fn padding_round_trips_and_adds_zeros() {
        let d = Dims { m: 3, k: 5, n: 7 };
        let p = padded(d, TILE);
        assert_eq!((p.m, p.k, p.n), (32, 16, 32));
        let p = padded(d, [128, 64, 32]);
        assert_eq!((p.m, p.k, p.n), (128, 32, 64));
        let src: Vec<u16> = (1..=15).collect();
        let padded = pad(&src, 3, 5, 32, 16);
        assert_eq!(padded.len(), 32 * 16);
        assert_eq!(padded.iter().filter(|&&v| v != 0).count(), 15);
        assert_eq!(unpad(&padded, 3, 5, 16), src);
    }

    /// The padded product, computed on the CPU, equals the unpadded one in its corner
    /// and verifies against the f64 reference of the exact f16 inputs, for the direct
    /// kernel's padding and staged tiles'.
    #[test]
    fn padded_product_verifies_for_odd_shapes() {
        let shapes = [
            Dims { m: 1, k: 1, n: 1 },
            Dims {
                m: 17,
                k: 33,
                n: 15,
            },
            Dims {
                m: 40,
                k: 100,
                n: 50,
            },
        ];
        let tiles = [TILE, [64, 64, 32], [128, 64, 64]];
        for (d, tile) in shapes
            .into_iter()
            .flat_map(|d| tiles.into_iter().map(move |t| (d, t)))
        {
            let p = padded(d, tile);
            assert!(p.m.is_multiple_of(tile[0] as usize) && p.k.is_multiple_of(tile[2] as usize));
            let a = inputs::f16_values(3, stream::A, d.m * d.k, 1.0);
            let b = inputs::f16_values(3, stream::B, d.k * d.n, 1.0);
            let (pa, pb) = (pad(&a, d.m, d.k, p.m, p.k), pad(&b, d.k, d.n, p.k, p.n));
            // f32 accumulation of exact f16 products, over the padded K.
            let mut c = vec![0f32; p.m * p.n];
            for i in 0..p.m {
                for kk in 0..p.k {
                    for j in 0..p.n {
                        c[i * p.n + j] += pa[i * p.k + kk].to_f32() * pb[kk * p.n + j].to_f32();
                    }
                }
            }
            let corner = unpad(&c, d.m, d.n, p.n);
            let full = MatmulCheck::Full;
            let t = reference::float_matmul(&a, &b, &corner, d, full, 3).tally;
            assert!(
                t.first_mismatch.is_none(),
                "{d:?} {tile:?}: {:?}",
                t.first_mismatch
            );
            let mut bad = corner.clone();
            bad[d.m * d.n - 1] += 0.25;
            assert!(
                reference::float_matmul(&a, &b, &bad, d, full, 3)
                    .tally
                    .first_mismatch
                    .is_some()
            );
        }
    }

    fn info(min: u32, max: u32) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            subgroup_min_size: min,
            subgroup_max_size: max,
            ..wgpu::AdapterInfo::new(wgpu::DeviceType::DiscreteGpu, wgpu::Backend::Vulkan)
        }
    }

    fn parse(pairs: &[(&str, f64)], min: u32, max: u32) -> std::result::Result<F16Params, String> {
        let named: kernels::Params = pairs.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
        let limits = wgpu::Limits {
            max_compute_workgroup_storage_size: 49152,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            ..wgpu::Limits::default()
        };
        F16Params::from_named(Some(&named), &info(min, max), &limits)
    }

    #[test]
    fn staged_parameters_are_checked_against_the_adapter() {
        let p = parse(&[("STAGED", 1.0), ("BM", 128.0), ("BN", 64.0)], 32, 32).unwrap();
        // One subgroup of 32 per 32×32 sub-tile: 4·2·32.
        assert_eq!(p.workgroup(), 256);
        assert_eq!(p.tile(), [128, 64, 32]);
        // Two stages of 128·(32+8) + 32·(64+8) halves.
        assert_eq!(p.workgroup_bytes(), 2 * 2 * (128 * 40 + 32 * 72));
        assert_eq!(p.named()["BM"], 128.0);
        let direct = parse(&[("STAGED", 0.0)], 32, 32).unwrap();
        assert_eq!((direct.tile(), direct.workgroup()), (TILE, WORKGROUP));
        assert_eq!(direct.named().len(), 1);
        let err = |pairs: &[(&str, f64)], min, max| parse(pairs, min, max).unwrap_err();
        assert!(err(&[("STAGED", 1.0)], 32, 64).contains("fixed subgroup size"));
        assert!(err(&[("STAGED", 1.0), ("BK", 24.0)], 32, 32).contains("of 16"));
        assert!(err(&[("STAGED", 1.0), ("BM", 48.0)], 32, 32).contains("multiples of 32"));
        assert!(err(&[("BM", 128.0)], 32, 32).contains("only with STAGED=1"));
        // 256×128 at a subgroup of 32 is 32 sub-tiles: 1024 invocations, allowed; at
        // 64, 2048: refused.
        assert!(
            parse(
                &[("STAGED", 1.0), ("BM", 256.0), ("BN", 128.0), ("BK", 16.0)],
                32,
                32
            )
            .is_ok()
        );
        assert!(
            err(
                &[("STAGED", 1.0), ("BM", 256.0), ("BN", 128.0), ("BK", 16.0)],
                64,
                64
            )
            .contains("invocations")
        );
        assert!(
            err(
                &[("STAGED", 1.0), ("BM", 128.0), ("BN", 128.0), ("BK", 128.0)],
                8,
                8
            )
            .contains("max_compute_workgroup_storage_size")
        );
    }
}
