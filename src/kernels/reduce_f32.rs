//! `reduce-f32`: the sum of N f32 values, both passes on the GPU, in a fixed order that
//! the host simulates bit for bit ([`simulate`]): every pass-1 partial and the sum must
//! equal the simulation exactly, and the sum must also lie within γ_L(2⁻²³)·Σ|x| of the
//! f64 sum, with L the deepest path's additions counted from the launch configuration
//! (see [`ReduceParams::depth`]).

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::check::reference;
use crate::error::Result;
use crate::gpu::{Gpu, Needs};
use crate::inputs::{self, stream};
use crate::kernels::{self, CaseInput, Checked, Kernel, Prepared, Shape, ShapeKind, Suite, fault};
use crate::model::Launch;

/// The body shared by both entry points: bindings, loads, the invocation's own sum and
/// the workgroup tree.
pub const SHADER: &str = include_str!("../../shaders/reduce_f32.wgsl");
/// The entry point that combines in workgroup memory.
pub const ENTRY_TREE: &str = include_str!("../../shaders/reduce_f32_tree.wgsl");
/// The entry point with subgroup shuffles, for adapters with `Features::SUBGROUP`: the
/// same order, so the same bits.
pub const ENTRY_SUBGROUP: &str = include_str!("../../shaders/reduce_f32_subgroup.wgsl");

/// The shader as compiled: the body, then one entry point.
pub fn source(subgroups: bool) -> String {
    let entry = if subgroups {
        ENTRY_SUBGROUP
    } else {
        ENTRY_TREE
    };
    format!("{SHADER}\n{entry}")
}
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
                let whole = || kernels::whole_param("reduce-f32", k, v);
                match k.as_str() {
                    "WG" => p.wg = whole()?,
                    "MIN_VEC4" => p.min_vec4 = whole()?,
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

    /// The implementation's name.
    pub fn variant(&self) -> &'static str {
        if self.subgroups {
            "subgroup-shuffle"
        } else {
            "workgroup-tree"
        }
    }

    /// Additions on the deepest path from an input to the result: pass 1's sequential
    /// loop, the lane combine (2) and the tree (log2 WG levels, whichever entry point),
    /// then the same for pass 2.
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
        "sum of N f32 values in a fixed order; every partial checked bit for bit against that order simulated"
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
    fn needs(&self) -> Needs {
        Needs {
            optional: wgpu::Features::SUBGROUP,
            ..Needs::default()
        }
    }
    fn shaders(&self) -> Vec<(String, String)> {
        vec![
            ("reduce-f32".to_owned(), source(false)),
            ("reduce-f32-subgroup".to_owned(), source(true)),
        ]
    }
    fn tunable(&self) -> bool {
        true
    }
    /// Workgroup sizes up to the adapter's, vec4s per invocation, and both entry
    /// points where the device has subgroups.
    fn candidates(&self, gpu: &Gpu) -> Vec<kernels::Params> {
        let max = gpu
            .limits
            .max_compute_invocations_per_workgroup
            .min(gpu.limits.max_compute_workgroup_size_x);
        let subgroups: &[f64] = if gpu.features.contains(wgpu::Features::SUBGROUP) {
            &[0.0, 1.0]
        } else {
            &[0.0]
        };
        let mut out = Vec::new();
        for wg in [64u32, 128, 256, 512, 1024]
            .into_iter()
            .filter(|&w| w <= max)
        {
            for min_vec4 in [2u32, 8, 32] {
                for &sg in subgroups {
                    out.push(kernels::Params::from([
                        ("WG".to_owned(), f64::from(wg)),
                        ("MIN_VEC4".to_owned(), f64::from(min_vec4)),
                        ("SUBGROUPS".to_owned(), sg),
                    ]));
                }
            }
        }
        out
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
        let pipeline = kernels::compile(
            gpu,
            self.id(),
            &source(params.subgroups),
            &constants,
            input.checks,
            input.fault,
        )?;
        let (xbuf, partials, out) = gpu.scoped("allocating reduce buffers", || {
            let mut padded = x.clone();
            padded.resize(n4 as usize * 4, 0.0);
            (
                gpu.upload("x", bytemuck::cast_slice(&padded)),
                gpu.output("partials", u64::from(g.div_ceil(4)) * 16),
                gpu.output("sum", 4),
            )
        })?;
        let p1 = crate::gpu::pipeline::params(gpu, &[n4, n, 0, 0]);
        let p2 = crate::gpu::pipeline::params(gpu, &[g.div_ceil(4), g, 0, 0]);
        let bind1 = crate::gpu::pipeline::bind(gpu, &pipeline, &[&xbuf, &partials, &p1])?;
        let bind2 = crate::gpu::pipeline::bind(gpu, &pipeline, &[&partials, &out, &p2])?;
        Ok(Box::new(Reduce {
            pipeline,
            bind1,
            bind2,
            partials,
            out,
            groups: g,
            x,
            checks: input.checks,
            params,
        }))
    }
}

struct Reduce {
    pipeline: wgpu::ComputePipeline,
    bind1: wgpu::BindGroup,
    bind2: wgpu::BindGroup,
    partials: wgpu::Buffer,
    out: wgpu::Buffer,
    groups: u32,
    x: Vec<f32>,
    checks: kernels::RuntimeChecks,
    params: ReduceParams,
}

impl Prepared for Reduce {
    fn launch(&self) -> Launch {
        Launch {
            variant: self.params.variant().to_owned(),
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

    fn outputs(&self) -> Vec<kernels::Output<'_>> {
        vec![
            kernels::Output {
                buffer: &self.out,
                bytes: 4,
            },
            kernels::Output {
                buffer: &self.partials,
                bytes: u64::from(self.groups.div_ceil(4)) * 16,
            },
        ]
    }

    fn layout(&self) -> fault::Layout {
        fault::Layout {
            rows: 1,
            cols: 1,
            stride: 1,
            float: true,
        }
    }

    fn verify(&self, outputs: &[Vec<u8>], _check_seed: u64) -> Checked {
        let sum: f32 = bytemuck::cast_slice(&outputs[0])[0];
        let partials: &[f32] = &bytemuck::cast_slice(&outputs[1])[..self.groups as usize];
        let (want_partials, want_sum) = simulate(&self.x, &self.params);
        // Index 0 is the sum, 1 + i partial i; a wrong partial is named first, as the
        // place the fault happened.
        let g = self.groups;
        let mut t = reference::Tally::default();
        for (i, (&want, &got)) in want_partials.iter().zip(partials).enumerate() {
            let at = format!("partial {i} of {g} (pass 1, workgroup {i})");
            t.record_bits(1 + i as u64, Some(&at), want, got);
        }
        let mut s = reference::Tally::default();
        s.record_bits(0, Some("the sum (pass 2)"), want_sum, sum);
        // The simulation's own sanity: its sum within the derived bound of the f64 sum.
        let s = s.merge(reference::float_sum(
            &self.x,
            sum,
            self.params.depth(self.x.len() as u32),
        ));
        let first = t.first_mismatch.take();
        let mut tally = t.merge(s);
        if first.is_some() {
            tally.first_mismatch = first;
        }
        Checked {
            tally,
            method: "exact-simulated-order",
            reference: "simulated-order",
            exact: true,
            miss_probability: Some(0.0),
            detects: "any wrong bit of a partial or of the sum".to_owned(),
        }
    }

    fn work(&self) -> kernels::Work {
        kernels::Work {
            per_dispatch: self.x.len() as f64 * 4.0,
            unit: "GB/s",
        }
    }
}

/// Vec4 `i` of `v`, with the lanes past its end as +0 (as the shader loads them).
fn quad(v: &[f32], i: usize) -> [f32; 4] {
    match v.get(4 * i..4 * i + 4) {
        Some(q) => [q[0], q[1], q[2], q[3]],
        None => std::array::from_fn(|c| v.get(4 * i + c).copied().unwrap_or(0.0)),
    }
}

/// One pass of the shader over `v` with `groups` workgroups of `wg`: each workgroup's
/// sum, in the shader's order (see `shaders/reduce_f32.wgsl`).
fn pass(v: &[f32], groups: usize, wg: usize) -> Vec<f32> {
    let n4 = v.len().div_ceil(4);
    let stride = groups * wg;
    // Invocation t's lanes add its vec4s t, t + stride, ... in order; chunks of
    // neighbouring invocations read memory in order.
    const CHUNK: usize = 1024;
    let own: Vec<f32> = (0..stride.div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|c| {
            let lo = c * CHUNK;
            let hi = (lo + CHUNK).min(stride);
            let mut acc = vec![[0f32; 4]; hi - lo];
            let mut base = 0;
            while base + lo < n4 {
                for (t, a) in (lo..hi).zip(acc.iter_mut()) {
                    if base + t < n4 {
                        let q = quad(v, base + t);
                        for (s, x) in a.iter_mut().zip(q) {
                            *s += x;
                        }
                    }
                }
                base += stride;
            }
            acc.into_iter().map(|a| (a[0] + a[1]) + (a[2] + a[3]))
        })
        .collect();
    own.par_chunks(wg).map(tree).collect()
}

/// A workgroup's values added neighbours first: at level s, value v + s into value v
/// for every v that is a multiple of 2s.
fn tree(values: &[f32]) -> f32 {
    let mut p = values.to_vec();
    let mut s = 1;
    while s < p.len() {
        for v in (0..p.len()).step_by(2 * s) {
            if v + s < p.len() {
                p[v] += p[v + s];
            }
        }
        s *= 2;
    }
    p[0]
}

/// The kernel's order on the CPU: pass 1's partials and the sum, the bits a correct
/// device gives for this launch configuration (whichever entry point).
pub fn simulate(x: &[f32], p: &ReduceParams) -> (Vec<f32>, f32) {
    let wg = p.wg as usize;
    let partials = pass(x, p.groups(x.len().div_ceil(4) as u32) as usize, wg);
    let sum = pass(&partials, 1, wg)[0];
    (partials, sum)
}

#[cfg(test)]
mod tests {
    use super::*;

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
                let (partials, sum) = simulate(&x, &p);
                assert_eq!(partials.len() as u32, p.groups(n.div_ceil(4)));
                let t = reference::float_sum(&x, sum, p.depth(n));
                assert!(
                    t.first_mismatch.is_none(),
                    "{p:?} n={n}: {:?}",
                    t.first_mismatch
                );
            }
        }
    }

    #[test]
    fn the_simulation_follows_the_shaders_order() {
        // A slow, literal reading of the shader: invocation t of workgroup w adds vec4s
        // w·WG + t + j·G·WG lane by lane, combines (x + y) + (z + w), then the tree adds
        // neighbours first.
        let p = ReduceParams {
            wg: 8,
            min_vec4: 1,
            subgroups: false,
        };
        let x = inputs::f32_values(5, stream::A, 4 * 8 * 3 + 5, 1.0);
        let n4 = x.len().div_ceil(4);
        let g = p.groups(n4 as u32) as usize;
        let lane = |i: usize, c: usize| x.get(4 * i + c).copied().unwrap_or(0.0);
        let partial = |w: usize| -> f32 {
            let mut vals: Vec<f32> = (0..8)
                .map(|t| {
                    let mut acc = [0f32; 4];
                    let mut i = w * 8 + t;
                    while i < n4 {
                        for (c, a) in acc.iter_mut().enumerate() {
                            *a += lane(i, c);
                        }
                        i += g * 8;
                    }
                    (acc[0] + acc[1]) + (acc[2] + acc[3])
                })
                .collect();
            for s in [1, 2, 4] {
                for v in (0..8).step_by(2 * s) {
                    vals[v] += vals[v + s];
                }
            }
            vals[0]
        };
        let (partials, _) = simulate(&x, &p);
        let literal: Vec<u32> = (0..g).map(|w| partial(w).to_bits()).collect();
        assert_eq!(
            partials.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            literal
        );
        // Neighbours first is not the same order as halves first: the order is the
        // shader's, not any order that happens to round alike.
        let v = [1e8f32, 1.0, -1e8, 1.0];
        assert_eq!(tree(&v), 0.0);
        assert_eq!((v[0] + v[2]) + (v[1] + v[3]), 2.0);
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
