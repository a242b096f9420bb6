//! `matmul-f16`: f16 A and B, f32 accumulation, on cooperative matrices (tensor cores)
//! through wgpu's experimental `EXPERIMENTAL_COOPERATIVE_MATRIX`. Where the adapter
//! offers no 16×16×16 f16→f32 shape the kernel reports itself skipped, never passed.
//! The reference is f64 over the exact f16 inputs; the bound is the f32 one (products
//! of two f16 are exact in f32, so only the accumulation rounds).

use std::collections::BTreeMap;

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::inputs::{self, stream};
use crate::kernels::{self, CaseInput, Checked, Kernel, Prepared, Shape, ShapeKind, Suite};
use crate::model::Launch;
use crate::verify::{self, Dims};

pub const SHADER: &str = include_str!("../../shaders/matmul_f16.wgsl");
/// Rows and columns of C per subgroup tile; K advances by one fragment.
pub const TILE: [u32; 3] = [32, 32, 16];
pub const WORKGROUP: u32 = 64;

/// The cooperative-matrix shape this kernel is written for.
pub fn usable_shape(p: &wgpu::CooperativeMatrixProperties) -> bool {
    p.m_size == 16
        && p.n_size == 16
        && p.k_size == 16
        && p.ab_type == wgpu::CooperativeScalarType::F16
        && p.cr_type == wgpu::CooperativeScalarType::F32
}

/// Padded dimensions: rows and columns to the tile, K to the fragment.
pub fn padded(d: Dims) -> Dims {
    let up = |v: usize, t: u32| v.div_ceil(t as usize) * t as usize;
    Dims {
        m: up(d.m, TILE[0]),
        k: up(d.k, TILE[2]),
        n: up(d.n, TILE[1]),
    }
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
            Suite::Full => vec![s(1000, 999, 1001), s(4096, 4096, 4096), s(8192, 8192, 8192)],
        }
    }
    fn buffers(&self, shape: Shape) -> Vec<(&'static str, u64)> {
        let Shape::Matmul { m, k, n } = shape else {
            unreachable!("matmul shape")
        };
        let p = padded(Dims {
            m: m as usize,
            k: k as usize,
            n: n as usize,
        });
        let b = |r: usize, c: usize, e: u64| (r as u64).saturating_mul(c as u64).saturating_mul(e);
        vec![
            ("A", b(p.m, p.k, 2)),
            ("B", b(p.k, p.n, 2)),
            ("C", b(p.m, p.n, 4)),
        ]
    }
    fn unsupported(&self, gpu: &Gpu) -> Option<String> {
        if gpu.cooperative_matrix.is_empty() {
            let why = if !gpu
                .adapter
                .features()
                .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
            {
                "the adapter offers no cooperative matrices (EXPERIMENTAL_COOPERATIVE_MATRIX)"
            } else if !gpu.adapter.features().contains(wgpu::Features::SHADER_F16) {
                "the adapter has no SHADER_F16"
            } else {
                "the adapter lists no 16x16x16 f16 x f16 -> f32 cooperative-matrix shape"
            };
            return Some(format!("tensor cores not available: {why}"));
        }
        if !gpu.features.contains(wgpu::Features::SUBGROUP) {
            return Some("tensor cores not usable: the adapter has no SUBGROUP feature".into());
        }
        None
    }
    fn prepare(&self, gpu: &Gpu, input: &CaseInput) -> Result<Box<dyn Prepared>> {
        let d = crate::kernels::matmul::dims(input.shape);
        let p = padded(d);
        let (a, b) = {
            let _s = tracing::info_span!("generate_inputs").entered();
            (
                inputs::f16_values(input.seed, stream::A, d.m * d.k, input.input_scale),
                inputs::f16_values(input.seed, stream::B, d.k * d.n, input.input_scale),
            )
        };
        let pipeline = kernels::compile(gpu, self.id(), SHADER, &[], input.checks)?;
        let (abuf, bbuf, out) = gpu.scoped("allocating matmul-f16 buffers", || {
            (
                gpu.upload("A", bytemuck::cast_slice(&pad(&a, d.m, d.k, p.m, p.k))),
                gpu.upload("B", bytemuck::cast_slice(&pad(&b, d.k, d.n, p.k, p.n))),
                gpu.output("C", (p.m * p.n * 4) as u64),
            )
        })?;
        let tiles_n = (p.n as u32) / TILE[1];
        let params = kernels::params(gpu, &[p.m as u32, p.k as u32, p.n as u32, tiles_n]);
        let bind_group = kernels::bind(gpu, &pipeline, &[&abuf, &bbuf, &out, &params])?;
        let tiles = (p.m as u32 / TILE[0]) * tiles_n;
        // One subgroup per tile at the smallest subgroup size; the grid-stride loop in
        // the shader covers the rest if subgroups are larger.
        let per_group = (WORKGROUP / gpu.info.subgroup_min_size.max(1)).max(1);
        let groups = tiles
            .div_ceil(per_group)
            .clamp(1, gpu.limits.max_compute_workgroups_per_dimension);
        Ok(Box::new(CoopMatmul {
            pipeline,
            bind_group,
            out,
            dims: d,
            padded: p,
            groups,
            a,
            b,
            seed: input.seed,
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
    groups: u32,
    a: Vec<half::f16>,
    b: Vec<half::f16>,
    seed: u64,
    checks: kernels::RuntimeChecks,
}

impl Prepared for CoopMatmul {
    fn launch(&self) -> Launch {
        Launch {
            variant: "coop-mat16x16-2x2-per-subgroup".into(),
            workgroup_size: [WORKGROUP, 1, 1],
            workgroups: vec![[self.groups, 1, 1]],
            tile: Some(TILE),
            runtime_checks: self.checks.name().to_owned(),
            constants: BTreeMap::new(),
        }
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        kernels::encode_one(pass, &self.pipeline, &self.bind_group, [self.groups, 1, 1]);
    }

    fn output(&self) -> (&wgpu::Buffer, u64) {
        (&self.out, (self.padded.m * self.padded.n * 4) as u64)
    }

    fn verify(&self, output: &[u8]) -> Checked {
        let c = unpad(
            bytemuck::cast_slice::<u8, f32>(output),
            self.dims.m,
            self.dims.n,
            self.padded.n,
        );
        let (tally, method) = verify::float_matmul(&self.a, &self.b, &c, self.dims, self.seed);
        Checked {
            tally,
            method,
            exact: false,
        }
    }

    fn work(&self) -> (f64, &'static str) {
        (2.0 * self.dims.macs() as f64, "GFLOP/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_round_trips_and_adds_zeros() {
        let d = Dims { m: 3, k: 5, n: 7 };
        let p = padded(d);
        assert_eq!((p.m, p.k, p.n), (32, 16, 32));
        let src: Vec<u16> = (1..=15).collect();
        let padded = pad(&src, 3, 5, 32, 16);
        assert_eq!(padded.len(), 32 * 16);
        assert_eq!(padded.iter().filter(|&&v| v != 0).count(), 15);
        assert_eq!(unpad(&padded, 3, 5, 16), src);
    }

    /// The padded product, computed on the CPU, equals the unpadded one in its corner
    /// and verifies against the f64 reference of the exact f16 inputs.
    #[test]
    fn padded_product_verifies_for_odd_shapes() {
        for d in [
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
        ] {
            let p = padded(d);
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
            let (t, _) = verify::float_matmul(&a, &b, &corner, d, 3);
            assert!(t.first_mismatch.is_none(), "{d:?}: {:?}", t.first_mismatch);
            let mut bad = corner.clone();
            bad[d.m * d.n - 1] += 0.25;
            assert!(
                verify::float_matmul(&a, &b, &bad, d, 3)
                    .0
                    .first_mismatch
                    .is_some()
            );
        }
    }
}
