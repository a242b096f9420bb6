//! Memory and transfer health: copies whose every byte is checked.
//!
//! - `copy-f32`: device to device by a shader (grid-stride, `f32`, `vec2` or `vec4`
//!   words), bandwidth bound: bytes moved are read + write.
//! - `copy-buffer`: the same copy by the copy command (`copy_buffer_to_buffer`), the
//!   driver's own path.
//! - `upload`: host to device through a mapped staging buffer and a copy command.
//! - `readback`: device to host by a copy command into a mappable buffer, then map.
//!
//! The input is a counter-based pattern ([`inputs::pattern_words`]); the result must
//! equal it bit for bit ([`reference::exact_words`]), so one wrong bit anywhere is certain
//! to fail. The copy commands are timed with timestamps written between commands where
//! the device has `TIMESTAMP_QUERY_INSIDE_ENCODERS`, else on the host clock (recorded in
//! the result). The transfers also report the host clock around the whole transfer
//! (map, copy, wait), the time a program waits for its bytes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::check::reference;
use crate::error::{EnvKind, Error, Result};
use crate::gpu::{Gpu, Needs};
use crate::inputs;
use crate::kernels::{
    self, CaseInput, Checked, Kernel, Plant, Prepared, Run, Shape, ShapeKind, Stamp, Suite, fault,
    golden, poison,
};
use crate::model::Launch;

pub const SHADER: &str = include_str!("../../shaders/copy_f32.wgsl");

/// The shader for `vec` f32s per word (1, 2 or 4).
pub fn source(vec: u32) -> String {
    let word = match vec {
        1 => "f32",
        2 => "vec2<f32>",
        _ => "vec4<f32>",
    };
    format!("alias Word = {word};\n{SHADER}")
}

/// The shader's grid is capped here: a grid-stride loop needs only enough invocations
/// to fill the GPU (8192 workgroups of 256 are 2M invocations, several times what a
/// current GPU holds at once).
pub const MAX_GROUPS: u32 = 8192;

/// How a copy moves its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `copy-f32`: a compute shader, device to device.
    Shader,
    /// `copy-buffer`: `copy_buffer_to_buffer`, device to device.
    Command,
    /// `upload`: map a staging buffer, write, unmap, copy it to the device buffer.
    Upload,
    /// `readback`: copy into a mappable buffer, map, read.
    Readback,
}

pub struct CopyKernel {
    pub id: &'static str,
    pub describe: &'static str,
    pub method: Method,
}

pub static COPY_F32: CopyKernel = CopyKernel {
    id: "copy-f32",
    describe: "device-to-device copy by a shader (vec4 grid-stride); every byte checked against a counter pattern",
    method: Method::Shader,
};
pub static COPY_BUFFER: CopyKernel = CopyKernel {
    id: "copy-buffer",
    describe: "device-to-device copy by the copy command (copy_buffer_to_buffer); every byte checked",
    method: Method::Command,
};
pub static UPLOAD: CopyKernel = CopyKernel {
    id: "upload",
    describe: "host to device: mapped staging buffer, then a copy command; GPU and host clocks; every byte checked",
    method: Method::Upload,
};
pub static READBACK: CopyKernel = CopyKernel {
    id: "readback",
    describe: "device to host: a copy command into a mappable buffer, then map; GPU and host clocks; every byte checked",
    method: Method::Readback,
};

/// Launch parameters of `copy-f32` (`gpu-canary tune` sweeps them; a tuning file
/// supplies them by name: `WG`, `VEC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyParams {
    pub wg: u32,
    /// f32s per load and store: 1, 2 or 4.
    pub vec: u32,
}

impl Default for CopyParams {
    fn default() -> Self {
        CopyParams { wg: 256, vec: 4 }
    }
}

impl CopyParams {
    pub fn from_named(
        named: Option<&kernels::Params>,
        limits: &wgpu::Limits,
    ) -> std::result::Result<CopyParams, String> {
        let mut p = CopyParams::default();
        for (k, &v) in named.into_iter().flatten() {
            let whole = || kernels::whole_param("copy-f32", k, v);
            match k.as_str() {
                "WG" => p.wg = whole()?,
                "VEC" => p.vec = whole()?,
                other => {
                    return Err(format!(
                        "copy-f32 has no launch parameter '{other}' (it has WG, VEC)"
                    ));
                }
            }
        }
        if ![1, 2, 4].contains(&p.vec) {
            return Err(format!("copy-f32: VEC {} must be 1, 2 or 4", p.vec));
        }
        kernels::check_workgroup("copy-f32", [p.wg, 1, 1], 0, "WG", limits)?;
        Ok(p)
    }

    pub fn named(&self) -> kernels::Params {
        kernels::Params::from([
            ("WG".to_owned(), f64::from(self.wg)),
            ("VEC".to_owned(), f64::from(self.vec)),
        ])
    }
}

/// A shape's bytes, padded to whole 16-byte words so every word width divides it.
fn padded(shape: Shape) -> u64 {
    let Shape::Bytes { bytes } = shape else {
        unreachable!("copy shape")
    };
    bytes.div_ceil(16) * 16
}

impl Kernel for CopyKernel {
    fn id(&self) -> &'static str {
        self.id
    }
    fn describe(&self) -> &'static str {
        self.describe
    }
    fn shape_kind(&self) -> ShapeKind {
        ShapeKind::Bytes
    }
    /// The quick suite fits a software adapter; the full suite reaches 1 GiB for the
    /// device copies (where the adapter's limits allow: a shape they cut is skipped with
    /// the limit named) and 256 MiB for the transfers.
    fn suite(&self, suite: Suite) -> Vec<Shape> {
        match (suite, self.method) {
            (Suite::Quick, _) => vec![Shape::mib(4), Shape::mib(64)],
            (Suite::Full, Method::Shader | Method::Command) => {
                vec![Shape::mib(64), Shape::mib(256), Shape::mib(1024)]
            }
            (Suite::Full, _) => vec![Shape::mib(4), Shape::mib(64), Shape::mib(256)],
        }
    }
    fn buffers(&self, shape: Shape) -> Vec<(&'static str, u64)> {
        let b = padded(shape);
        match self.method {
            Method::Shader | Method::Command => vec![("src", b), ("dst", b)],
            Method::Upload => vec![("staging", b), ("dst", b)],
            Method::Readback => vec![
                ("src", b),
                ("src-inverted", b),
                ("scratch", b),
                ("staging", b),
            ],
        }
    }
    fn binds_buffers(&self) -> bool {
        self.method == Method::Shader
    }
    fn needs(&self) -> Needs {
        match self.method {
            Method::Shader => Needs::default(),
            _ => Needs {
                optional: wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
                ..Needs::default()
            },
        }
    }
    fn shaders(&self) -> Vec<(String, String)> {
        match self.method {
            Method::Shader => [1, 2, 4]
                .into_iter()
                .map(|v| (format!("copy-f32-vec{v}"), source(v)))
                .collect(),
            _ => Vec::new(),
        }
    }
    fn tunable(&self) -> bool {
        self.method == Method::Shader
    }
    fn burns(&self) -> bool {
        self.method == Method::Shader
    }
    /// Workgroup sizes up to the adapter's, by word width.
    fn candidates(&self, gpu: &Gpu) -> Vec<kernels::Params> {
        let max = gpu
            .limits
            .max_compute_invocations_per_workgroup
            .min(gpu.limits.max_compute_workgroup_size_x);
        let mut out = Vec::new();
        for wg in [64u32, 128, 256, 512, 1024]
            .into_iter()
            .filter(|&w| w <= max)
        {
            for vec in [1u32, 2, 4] {
                out.push(CopyParams { wg, vec }.named());
            }
        }
        out
    }
    // Long (about 120 lines): the buffers, the pipeline for the launch parameters and the
    // bind groups of one copy case, in the order wgpu needs them.
    fn prepare(&self, gpu: &Gpu, input: &CaseInput) -> Result<Box<dyn Prepared>> {
        let Shape::Bytes { bytes } = input.shape else {
            unreachable!("copy shape")
        };
        let size = padded(input.shape);
        let words = usize::try_from(size / 4).map_err(|_| {
            Error::usage(format!(
                "{} {}: too large for this host; use a smaller --size",
                self.id, input.shape
            ))
        })?;
        let pattern = {
            let _s = tracing::info_span!("generate_inputs").entered();
            inputs::pattern_words(input.seed, words)
        };
        let storage = || {
            wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST
        };
        let buffer = |label: &str, usage: wgpu::BufferUsages| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let mut shader = None;
        let inverted = (self.method == Method::Readback).then(|| {
            let inv: Vec<u32> = pattern.iter().map(|w| !w).collect();
            gpu.scoped("allocating copy buffers", || {
                gpu.upload("src-inverted", bytemuck::cast_slice(&inv))
            })
        });
        let inverted = inverted.transpose()?;
        let staging_read = (self.method == Method::Readback)
            .then(|| gpu.staging("staging", size))
            .transpose()?;
        let (src, dst, staging) = gpu.scoped("allocating copy buffers", || match self.method {
            Method::Shader | Method::Command => (
                Some(gpu.upload("src", bytemuck::cast_slice(&pattern))),
                gpu.output("dst", size),
                None,
            ),
            Method::Upload => (
                None,
                gpu.output("dst", size),
                Some(buffer(
                    "staging",
                    wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
                )),
            ),
            // dst is the scratch a planted fault goes through; src holds the pattern.
            Method::Readback => (
                Some(gpu.upload("src", bytemuck::cast_slice(&pattern))),
                buffer("scratch", storage()),
                staging_read,
            ),
        })?;
        if self.method == Method::Shader {
            let params = CopyParams::from_named(input.params, &gpu.limits).map_err(Error::Usage)?;
            let n = size / 4 / u64::from(params.vec);
            let groups = u32::try_from(n.div_ceil(u64::from(params.wg)))
                .unwrap_or(u32::MAX)
                .clamp(
                    1,
                    MAX_GROUPS.min(gpu.limits.max_compute_workgroups_per_dimension),
                );
            // The loop's i + stride must not wrap: n + invocations below 2^32.
            let n = u32::try_from(n)
                .ok()
                .filter(|&n| u64::from(n) + u64::from(groups) * u64::from(params.wg) < 1 << 32)
                .ok_or_else(|| {
                    Error::usage(format!(
                        "{} {}: more than 2^32 words; use a smaller --size",
                        self.id, input.shape
                    ))
                })?;
            let pipeline = kernels::compile(
                gpu,
                self.id,
                &source(params.vec),
                &[("WG", f64::from(params.wg))],
                input.checks,
                input.fault,
            )?;
            let p = crate::gpu::pipeline::params(gpu, &[n, 0, 0, 0]);
            let src = src.as_ref().expect("a source");
            let bind = crate::gpu::pipeline::bind(gpu, &pipeline, &[src, &dst, &p])?;
            shader = Some(ShaderCopy {
                pipeline,
                bind,
                groups,
                params,
            });
        }
        // The copy commands' own switch (the shader has it in WGSL): no copy at all, or
        // the last word left out.
        let len = match input.fault {
            Some(fault::ShaderFault::NoWrite) => None,
            Some(fault::ShaderFault::SkipLast) => Some(size - 4),
            _ => Some(size),
        };
        let encoder_ts = gpu.features.contains(
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
        );
        Ok(Box::new(Copy {
            method: self.method,
            bytes,
            size,
            pattern,
            src,
            inverted,
            executions: std::sync::atomic::AtomicU64::new(0),
            dst,
            staging,
            shader,
            len,
            encoder_ts,
            checks: input.checks,
            host: Mutex::new(Vec::new()),
        }))
    }
}

struct ShaderCopy {
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    groups: u32,
    params: CopyParams,
}

struct Copy {
    method: Method,
    /// The shape's bytes, and the buffers' (padded to 16).
    bytes: u64,
    size: u64,
    pattern: Vec<u32>,
    src: Option<wgpu::Buffer>,
    /// readback: the pattern with every bit flipped. Odd executions copy from it (and the
    /// host flips the bytes back), so a copy that never ran leaves the staging buffer
    /// holding the other parity's bytes, wrong in every bit, never a good result.
    inverted: Option<wgpu::Buffer>,
    executions: std::sync::atomic::AtomicU64,
    /// The result on the device (for readback, the scratch a planted fault goes through).
    dst: wgpu::Buffer,
    staging: Option<wgpu::Buffer>,
    shader: Option<ShaderCopy>,
    /// Bytes each copy command moves: `None` under the no-write fault.
    len: Option<u64>,
    encoder_ts: bool,
    checks: kernels::RuntimeChecks,
    /// What readback's last execution delivered to the host.
    host: Mutex<Vec<u8>>,
}

impl Copy {
    fn staging(&self) -> &wgpu::Buffer {
        self.staging.as_ref().expect("a staging buffer")
    }
    fn src(&self) -> &wgpu::Buffer {
        self.src.as_ref().expect("a source buffer")
    }

    /// `from` → `to` as one copy command between timestamps.
    fn timed_copy(
        &self,
        enc: &mut wgpu::CommandEncoder,
        from: &wgpu::Buffer,
        to: &wgpu::Buffer,
        ts: Stamp<'_>,
        dropped: bool,
    ) {
        let ts = ts.filter(|_| self.encoder_ts);
        if let Some((t, slot)) = ts {
            t.write(enc, slot, false);
        }
        if let Some(len) = self.len.filter(|_| !dropped) {
            enc.copy_buffer_to_buffer(from, 0, to, 0, len);
        }
        if let Some((t, slot)) = ts {
            t.write(enc, slot, true);
        }
    }
}

/// Records `plant` in a pass of its own after the copy (tests only).
fn planted(enc: &mut wgpu::CommandEncoder, plant: Plant<'_>) {
    if let Some(p) = plant {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("fault"),
            timestamp_writes: None,
        });
        p(&mut pass);
    }
}

fn mapped_failed(e: impl std::fmt::Display) -> Error {
    Error::env(
        EnvKind::DeviceLost,
        format!("the mapped staging buffer could not be accessed: {e}"),
    )
}

impl Prepared for Copy {
    fn launch(&self) -> Launch {
        let (variant, wg, groups, constants) = match (&self.shader, self.method) {
            (Some(s), _) => (
                format!("grid-stride-vec{}", s.params.vec),
                [s.params.wg, 1, 1],
                vec![[s.groups, 1, 1]],
                s.params.named(),
            ),
            (None, m) => {
                let path = match m {
                    Method::Upload => "mapped-staging-then-copy-command",
                    Method::Readback => "copy-command-then-map",
                    _ => "copy-command",
                };
                let clock = if self.encoder_ts {
                    "gpu-timestamps-in-encoder"
                } else {
                    "host-clock"
                };
                (
                    format!("{path}, {clock}"),
                    [1, 1, 1],
                    Vec::new(),
                    Default::default(),
                )
            }
        };
        Launch {
            variant,
            workgroup_size: wg,
            workgroups: groups,
            tile: None,
            runtime_checks: self.checks.name().to_owned(),
            constants,
        }
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        // Only the shader copy is a compute pass; the others record commands in
        // `execute`.
        if let Some(s) = &self.shader {
            crate::gpu::pipeline::encode_one(pass, &s.pipeline, &s.bind, [s.groups, 1, 1]);
        }
    }

    fn execute(&self, gpu: &Gpu, run: Run<'_>) -> Result<Duration> {
        if self.method == Method::Shader {
            return kernels::execute_pass(self, gpu, run);
        }
        let (plant, ts, dropped) = (run.plant, run.ts, run.dropped);
        let flipped = self.method == Method::Readback
            && self
                .executions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                % 2
                == 1;
        let t0 = Instant::now();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        match self.method {
            Method::Command => {
                self.timed_copy(&mut enc, self.src(), &self.dst, ts, dropped);
                planted(&mut enc, plant);
            }
            Method::Upload => {
                gpu.map(self.staging(), wgpu::MapMode::Write)?;
                {
                    let mut view = self
                        .staging()
                        .slice(..)
                        .get_mapped_range_mut()
                        .map_err(mapped_failed)?;
                    view.copy_from_slice(bytemuck::cast_slice(&self.pattern));
                }
                self.staging().unmap();
                self.timed_copy(&mut enc, self.staging(), &self.dst, ts, dropped);
                planted(&mut enc, plant);
            }
            Method::Readback => {
                let src = if flipped {
                    self.inverted.as_ref().expect("an inverted source")
                } else {
                    self.src()
                };
                // A planted fault needs a storage buffer on the way: the bytes go
                // through the scratch, outside the timed copy.
                let from = match plant {
                    Some(_) => {
                        enc.copy_buffer_to_buffer(src, 0, &self.dst, 0, self.size);
                        planted(&mut enc, plant);
                        &self.dst
                    }
                    None => src,
                };
                self.timed_copy(&mut enc, from, self.staging(), ts, dropped);
            }
            Method::Shader => unreachable!("dispatched above"),
        }
        gpu.submit_and_wait(enc.finish())?;
        if self.method == Method::Readback {
            gpu.map(self.staging(), wgpu::MapMode::Read)?;
            {
                let view = self
                    .staging()
                    .slice(..)
                    .get_mapped_range()
                    .map_err(mapped_failed)?;
                let mut host = self.host.lock().unwrap_or_else(|e| e.into_inner());
                host.clear();
                host.extend_from_slice(&view);
            }
            self.staging().unmap();
        }
        let elapsed = t0.elapsed();
        if flipped {
            // Back to the pattern, outside the host's clock.
            let mut host = self.host.lock().unwrap_or_else(|e| e.into_inner());
            host.iter_mut().for_each(|b| *b = !*b);
        }
        Ok(elapsed)
    }

    fn result_on_host(&self) -> bool {
        self.method == Method::Readback
    }

    fn host_mismatch(&self, golden: &[Vec<u8>]) -> Option<golden::Mismatch> {
        let host = self.host.lock().unwrap_or_else(|e| e.into_inner());
        golden::compare_words(&golden[0], &host)
    }

    fn gpu_timed(&self, gpu: &Gpu) -> bool {
        match self.method {
            Method::Shader => gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY),
            _ => self.encoder_ts,
        }
    }

    fn host_timed(&self) -> Option<&'static str> {
        match self.method {
            Method::Upload => Some("map, write the bytes, unmap, copy, submit and wait"),
            Method::Readback => Some("copy, submit and wait, map, read the bytes, unmap"),
            _ => None,
        }
    }

    fn poison(&self, gpu: &Gpu) -> Result<()> {
        poison::poison(gpu, &self.outputs())?;
        if self.method == Method::Readback {
            // The next execution copies from the pattern itself, not its inverse: the
            // first and the last (verified) ones, which both follow a poisoning.
            self.executions
                .store(0, std::sync::atomic::Ordering::Relaxed);
            // The mappable buffer cannot be bound: it is poisoned through the scratch,
            // and so is the host's copy.
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(&self.dst, 0, self.staging(), 0, self.size);
            gpu.submit_and_wait(enc.finish())?;
            let mut host = self.host.lock().unwrap_or_else(|e| e.into_inner());
            host.clear();
            host.extend(
                std::iter::repeat_n(poison::POISON.to_le_bytes(), (self.size / 4) as usize)
                    .flatten(),
            );
        }
        Ok(())
    }

    fn read(&self, gpu: &Gpu) -> Result<Vec<Vec<u8>>> {
        match self.method {
            Method::Readback => Ok(vec![
                self.host.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            ]),
            _ => Ok(vec![gpu.read_buffer(&self.dst, self.size)?]),
        }
    }

    fn outputs(&self) -> Vec<kernels::Output<'_>> {
        vec![kernels::Output {
            buffer: &self.dst,
            bytes: self.size,
        }]
    }

    /// One row of words: `add@0,I`, `xor@0,I,J` and `zero-row@0` plant into word I.
    fn layout(&self) -> fault::Layout {
        let words = u32::try_from(self.size / 4).unwrap_or(u32::MAX);
        fault::Layout {
            rows: 1,
            cols: words,
            stride: words,
            float: false,
        }
    }

    fn verify(&self, outputs: &[Vec<u8>], _check_seed: u64) -> Checked {
        Checked {
            tally: reference::exact_words(&self.pattern, &outputs[0]),
            method: "exact-bytes",
            reference: "pattern",
            exact: true,
            miss_probability: Some(0.0),
            detects: "any wrong bit of any word".to_owned(),
        }
    }

    fn work(&self) -> kernels::Work {
        let moved = match self.method {
            // Read once and written once.
            Method::Shader | Method::Command => 2 * self.bytes,
            Method::Upload | Method::Readback => self.bytes,
        };
        kernels::Work {
            per_dispatch: moved as f64,
            unit: "GB/s",
        }
    }
}
