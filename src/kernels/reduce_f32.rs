//! `reduce-f32`: the sum of N f32 values, both passes on the GPU, in a fixed order.
//! The bound is γ_L(2⁻²³)·Σ|x| with L the deepest path's additions, counted here from
//! the launch configuration (see [`depth`]).

use std::collections::BTreeMap;

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::inputs::{self, stream};
use crate::kernels::{self, CaseInput, Checked, Kernel, Prepared, Shape, ShapeKind, Suite};
use crate::model::Launch;
use crate::verify;

pub const SHADER: &str = include_str!("../../shaders/reduce_f32.wgsl");
/// The same reduction with subgroup shuffles, for adapters with `Features::SUBGROUP`.
pub const SHADER_SUBGROUP: &str = include_str!("../../shaders/reduce_f32_subgroup.wgsl");
/// Pass 1's workgroup count is capped here: enough to fill any current GPU, few enough
/// that pass 2 is one workgroup with a short sequential part.
pub const MAX_GROUPS: u32 = 1024;

/// The launch parameters (`gpu-canary tune` sweeps them; a tuning file supplies them
/// by name: `WG`, `MIN_VEC4`, `SUBGROUPS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReduceParams {
    /// Invocations per workgroup: a power of two (the trees halve it), a pipeline
    /// override constant of the shader.
    pub wg: u32,
    /// Each invocation of pass 1 loads at least this many vec4s, so a small input does
    /// not launch many mostly idle workgroups.
    pub min_vec4: u32,
    /// Use the subgroup-shuffle variant (only where the device has subgroups).
    pub subgroups: bool,
}

impl Default for ReduceParams {
    fn default() -> Self {
        ReduceParams {
            wg: 256,
            min_vec4: 8,
            subgroups: true,
        }
    }
}

impl ReduceParams {
    /// From named parameters over the defaults; the error names the bad value.
    pub fn from_named(
        named: Option<&kernels::Params>,
        gpu: &Gpu,
    ) -> std::result::Result<ReduceParams, String> {
        let mut p = ReduceParams::default();
        if let Some(named) = named {
            for (k, &v) in named {
                match k.as_str() {
                    "WG" => p.wg = v as u32,
                    "MIN_VEC4" => p.min_vec4 = v as u32,
                    "SUBGROUPS" => p.subgroups = v != 0.0,
                    other => {
                        return Err(format!(
                            "reduce-f32 has no launch parameter '{other}' (it has WG, MIN_VEC4, SUBGROUPS)"
                        ));
                    }
                }
            }
        }
        let max = gpu
            .limits
            .max_compute_invocations_per_workgroup
            .min(gpu.limits.max_compute_workgroup_size_x);
        if !p.wg.is_power_of_two() || p.wg < 2 || p.wg > max {
            return Err(format!(
                "reduce-f32: WG {} must be a power of two from 2 to this adapter's {max}",
                p.wg
            ));
        }
        if p.min_vec4 == 0 {
            return Err("reduce-f32: MIN_VEC4 must be at least 1".into());
        }
        p.subgroups &= gpu.features.contains(wgpu::Features::SUBGROUP);
        Ok(p)
    }

    /// Workgroups of pass 1 for `n4` vec4s.
    pub fn groups(&self, n4: u32) -> u32 {
        n4.div_ceil(self.wg.saturating_mul(self.min_vec4))
            .clamp(1, MAX_GROUPS)
    }

    /// The implementation and its shader.
    pub fn variant(&self) -> (&'static str, &'static str) {
        if self.subgroups {
            ("subgroup-shuffle", SHADER_SUBGROUP)
        } else {
            ("workgroup-tree", SHADER)
        }
    }

    /// Additions on the deepest path from an input to the result: pass 1's sequential
    /// loop, the lane combine (2) and the tree (log2 WG: a workgroup tree, or a subgroup
    /// butterfly of log2 S levels then a tree of log2(WG/S) levels), then the same for
    /// pass 2.
    pub fn depth(&self, n: u32) -> u64 {
        let n4 = n.div_ceil(4);
        let g = self.groups(n4);
        let lg = u64::from(self.wg.trailing_zeros());
        let pass = |items: u32, threads: u32| u64::from(items.div_ceil(threads)) + 2 + lg;
        pass(n4, g * self.wg) + pass(g.div_ceil(4), self.wg)
    }

    pub fn named(&self) -> BTreeMap<String, f64> {
        BTreeMap::from([
            ("WG".to_owned(), f64::from(self.wg)),
            ("MIN_VEC4".to_owned(), f64::from(self.min_vec4)),
            ("SUBGROUPS".to_owned(), f64::from(u8::from(self.subgroups))),
        ])
    }
}

pub struct ReduceF32;

impl Kernel for ReduceF32 {
    fn id(&self) -> &'static str {
        "reduce-f32"
    }
    fn describe(&self) -> &'static str {
        "sum of N f32 values, fixed order (bitwise reproducible); f64 reference"
    }
    fn shape_kind(&self) -> ShapeKind {
        ShapeKind::Reduce
    }
    fn suite(&self, suite: Suite) -> Vec<Shape> {
        let s = |n| Shape::Reduce { n };
        match suite {
            Suite::Quick => vec![s(1), s(3), s((1 << 20) + 3), s((1 << 24) + 3)],
            Suite::Full => vec![s(1), s((1 << 22) + 3), s(1 << 22), s(1 << 26)],
        }
    }
    fn buffers(&self, shape: Shape) -> Vec<(&'static str, u64)> {
        let Shape::Reduce { n } = shape else {
            unreachable!("reduce shape")
        };
        vec![
            ("x", kernels::bytes(&[n.div_ceil(4)], 16)),
            ("partials", u64::from(MAX_GROUPS) * 4),
        ]
    }
    fn prepare(&self, gpu: &Gpu, input: &CaseInput) -> Result<Box<dyn Prepared>> {
        let Shape::Reduce { n } = input.shape else {
            unreachable!("reduce shape")
        };
        let x = {
            let _s = tracing::info_span!("generate_inputs").entered();
            inputs::f32_values(input.seed, stream::A, n as usize, input.input_scale)
        };
        let params =
            ReduceParams::from_named(input.params, gpu).map_err(crate::error::Error::Usage)?;
        let n4 = n.div_ceil(4);
        let g = params.groups(n4);
        let constants = [("WG", f64::from(params.wg))];
        let (variant, shader) = params.variant();
        let pipeline = kernels::compile(gpu, self.id(), shader, &constants, input.checks)?;
        let (xbuf, partials, out) = gpu.scoped("allocating reduce buffers", || {
            let mut padded = x.clone();
            padded.resize(n4 as usize * 4, 0.0);
            // Zero-initialised (wgpu guarantees it), so the padding of partials to whole
            // vec4s adds exact zeros in pass 2.
            (
                gpu.upload("x", bytemuck::cast_slice(&padded)),
                gpu.output("partials", u64::from(g.div_ceil(4)) * 16),
                gpu.output("sum", 4),
            )
        })?;
        let p1 = kernels::params(gpu, &[n4, 0, 0, 0]);
        let p2 = kernels::params(gpu, &[g.div_ceil(4), 0, 0, 0]);
        let bind1 = kernels::bind(gpu, &pipeline, &[&xbuf, &partials, &p1])?;
        let bind2 = kernels::bind(gpu, &pipeline, &[&partials, &out, &p2])?;
        Ok(Box::new(Reduce {
            pipeline,
            bind1,
            bind2,
            out,
            groups: g,
            x,
            checks: input.checks,
            variant,
            params,
        }))
    }
}

struct Reduce {
    pipeline: wgpu::ComputePipeline,
    bind1: wgpu::BindGroup,
    bind2: wgpu::BindGroup,
    out: wgpu::Buffer,
    groups: u32,
    x: Vec<f32>,
    checks: kernels::RuntimeChecks,
    variant: &'static str,
    params: ReduceParams,
}

impl Prepared for Reduce {
    fn launch(&self) -> Launch {
        Launch {
            variant: self.variant.to_owned(),
            workgroup_size: [self.params.wg, 1, 1],
            workgroups: vec![[self.groups, 1, 1], [1, 1, 1]],
            tile: None,
            runtime_checks: self.checks.name().to_owned(),
            constants: self.params.named(),
        }
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind1, &[]);
        pass.dispatch_workgroups(self.groups, 1, 1);
        // A new dispatch is a new usage scope: pass 2 sees pass 1's writes.
        pass.set_bind_group(0, &self.bind2, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }

    fn output(&self) -> (&wgpu::Buffer, u64) {
        (&self.out, 4)
    }

    fn verify(&self, output: &[u8]) -> Checked {
        let actual: f32 = bytemuck::cast_slice(output)[0];
        Checked {
            tally: verify::float_sum(&self.x, actual, self.params.depth(self.x.len() as u32)),
            method: "full",
            exact: false,
        }
    }

    fn work(&self) -> (f64, &'static str) {
        (self.x.len() as f64 * 4.0, "GB/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workgroup-tree shader's order, on the CPU, for checking `depth` against it.
    fn simulate(x: &[f32], p: ReduceParams) -> f32 {
        let wg = p.wg;
        let pass = |v: &[[f32; 4]], g: u32| -> Vec<f32> {
            let stride = (g * wg) as usize;
            (0..g)
                .map(|w| {
                    let mut part: Vec<f32> = (0..wg)
                        .map(|l| {
                            let mut acc = [0f32; 4];
                            let mut i = (w * wg + l) as usize;
                            while i < v.len() {
                                for c in 0..4 {
                                    acc[c] += v[i][c];
                                }
                                i += stride;
                            }
                            (acc[0] + acc[1]) + (acc[2] + acc[3])
                        })
                        .collect();
                    let mut s = wg as usize / 2;
                    while s > 0 {
                        for l in 0..s {
                            part[l] += part[l + s];
                        }
                        s /= 2;
                    }
                    part[0]
                })
                .collect()
        };
        let quads = |v: &[f32]| -> Vec<[f32; 4]> {
            v.chunks(4)
                .map(|c| std::array::from_fn(|i| c.get(i).copied().unwrap_or(0.0)))
                .collect()
        };
        let partials = pass(&quads(x), p.groups(x.len().div_ceil(4) as u32));
        pass(&quads(&partials), 1)[0]
    }

    #[test]
    fn the_simulated_order_is_within_the_derived_bound() {
        let small = ReduceParams {
            wg: 32,
            min_vec4: 1,
            subgroups: false,
        };
        for p in [ReduceParams::default(), small] {
            for n in [1u32, 3, 1000, (1 << 20) + 3] {
                let x = inputs::f32_values(11, stream::A, n as usize, 1.0);
                let t = verify::float_sum(&x, simulate(&x, p), p.depth(n));
                assert!(
                    t.first_mismatch.is_none(),
                    "{p:?} n={n}: {:?}",
                    t.first_mismatch
                );
            }
        }
    }

    #[test]
    fn depth_counts_the_paths() {
        let p = ReduceParams::default();
        // n = 1: one vec4, one group: 1 add + 2 + 8, then pass 2 over one vec4: 1 + 2 + 8.
        assert_eq!(p.depth(1), 22);
        // 2^24 values → 2^22 vec4s over 1024·256 threads: 16 sequential adds in pass 1,
        // then 1024 partials = 256 vec4s over 256 threads: 1 add in pass 2.
        assert_eq!(p.depth(1 << 24), 16 + 10 + 1 + 10);
        // 2^20 values → 2^18 vec4s: 128 groups of 256 at 8 vec4 each.
        assert_eq!(p.groups(1 << 18), 128);
        assert_eq!(p.depth(1 << 20), 8 + 10 + 1 + 10);
        // A smaller workgroup: 2^18 vec4s over 1024 groups of 64: 4 adds, 6 tree levels.
        let q = ReduceParams {
            wg: 64,
            min_vec4: 4,
            subgroups: false,
        };
        assert_eq!(q.depth(1 << 20), 4 + 8 + 4 + 8);
    }
}
