//! The memory test on the device: the allocation in pieces, the write and compare
//! passes over every window, the sentinel that proves each compare ran, the ledger the
//! GPU fills and what the host makes of it, and the CPU reference's spot blocks.

use std::time::{Duration, Instant};

use super::pattern::{self, Pattern};
use crate::error::{EnvKind, Error, Result};
use crate::gpu::Gpu;
use crate::gpu::timing::Timestamps;
use crate::inputs;
use crate::kernels::fault::ShaderFault;
use crate::kernels::{self, RuntimeChecks};

/// Findings the ledger keeps (the shader's `LISTED`).
pub const LISTED: usize = 64;
/// 64-bit words of the sentinel window (the ledger's slot 0).
pub const SENTINEL_WORDS: u64 = 256;
/// Where the sentinel's words lie in the pattern's address space: far above any memory,
/// so its pattern is no covered word's.
const SENTINEL_BASE: u64 = 1 << 63;
const NONE: u32 = u32::MAX;
/// Ledger layout in u32 words: `listed` and padding, the 64 bit counts, the findings
/// (8 words each), then a slot (4 words) per window.
const BITS_AT: usize = 4;
const FINDINGS_AT: usize = BITS_AT + 64;
const SLOTS_AT: usize = FINDINGS_AT + LISTED * 8;
/// Bytes of each buffer the CPU reference reads back per block.
const SPOT: u64 = 4096;
/// Workgroups per window at most: a grid-stride loop needs only enough to fill the GPU.
const MAX_GROUPS: u32 = 8192;
/// Workgroups of the recording pass per window (enough to walk a failing window in
/// milliseconds on a GPU).
const RECORD_GROUPS: u32 = 256;

/// A buffer of the covered memory.
pub struct Piece {
    pub buffer: wgpu::Buffer,
    pub bytes: u64,
    /// Its first 64-bit word, counted over every buffer in order.
    pub base: u64,
}

/// A storage-binding window of a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub piece: usize,
    /// Byte offset in the piece, and its 64-bit words.
    pub offset: u64,
    pub words: u64,
    /// Its first word, counted over the covered memory.
    pub base: u64,
}

/// What the allocation got.
pub struct Allocation {
    pub pieces: Vec<Piece>,
    pub windows: Vec<Window>,
    pub bytes: u64,
    /// Why it ended before the target, where it did.
    pub stopped: Option<String>,
    pub took: Duration,
}

impl Allocation {
    pub fn words(&self) -> u64 {
        self.bytes / 8
    }

    /// Where global word `g` lies: the piece, and its byte offset there.
    pub fn locate(&self, g: u64) -> Option<(usize, u64)> {
        self.pieces
            .iter()
            .position(|p| g >= p.base && g < p.base + p.bytes / 8)
            .map(|i| (i, (g - self.pieces[i].base) * 8))
    }

    /// "buffer 2 of 3, byte 0x1000 (window 5 of 8)".
    pub fn place(&self, g: u64) -> String {
        let window = self
            .windows
            .iter()
            .position(|w| g >= w.base && g < w.base + w.words);
        match (self.locate(g), window) {
            (Some((p, off)), Some(w)) => format!(
                "buffer {} of {}, byte 0x{off:x} (binding window {} of {})",
                p + 1,
                self.pieces.len(),
                w + 1,
                self.windows.len()
            ),
            _ => format!("word {g}, outside the covered memory"),
        }
    }
}

/// The sizes the allocation works in: a window is the largest storage binding the
/// adapter allows (aligned, at most 2 GiB so its words fit the shader's u32), a piece
/// up to two windows within `max_buffer_size`.
pub fn sizes(limits: &wgpu::Limits) -> (u64, u64) {
    let align = u64::from(limits.min_storage_buffer_offset_alignment).max(16);
    let bound = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
        .min(1 << 31);
    let window = (bound / align * align).max(align);
    let piece = (limits.max_buffer_size / window).clamp(1, 2) * window;
    (window, piece)
}

/// Device-local storage buffers covering `target` bytes (rounded down to 16), in pieces
/// of [`sizes`], each under an out-of-memory scope. A piece refused for lack of memory
/// ends the allocation there; any other error is the run's.
pub fn allocate(gpu: &Gpu, target: u64) -> Result<Allocation> {
    let _s = tracing::info_span!("memtest_allocate", target).entered();
    let t0 = Instant::now();
    let (window, piece) = sizes(&gpu.limits);
    let target = target / 16 * 16;
    let mut pieces: Vec<Piece> = Vec::new();
    let mut windows = Vec::new();
    let mut bytes = 0u64;
    let mut stopped = None;
    while bytes < target {
        let size = piece.min(target - bytes);
        let made = gpu.scoped(
            &format!("allocating memtest buffer {}", pieces.len() + 1),
            || {
                gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("memtest"),
                    size,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            },
        );
        let buffer = match made {
            Ok(b) => b,
            Err(Error::Environment {
                kind: EnvKind::OutOfMemory,
                message,
            }) => {
                stopped = Some(format!(
                    "the device refused a buffer of {} after {} were allocated ({message})",
                    super::size_text(size),
                    super::size_text(bytes)
                ));
                break;
            }
            Err(e) => return Err(e),
        };
        let base = bytes / 8;
        let mut offset = 0;
        while offset < size {
            let len = window.min(size - offset);
            windows.push(Window {
                piece: pieces.len(),
                offset,
                words: len / 8,
                base: base + offset / 8,
            });
            offset += len;
        }
        pieces.push(Piece {
            buffer,
            bytes: size,
            base,
        });
        bytes += size;
    }
    Ok(Allocation {
        pieces,
        windows,
        bytes,
        stopped,
        took: t0.elapsed(),
    })
}

/// The memory test's faults as the shader's switch takes them.
fn fault_constants(f: ShaderFault) -> Vec<(&'static str, f64)> {
    let split = |w: u64| ((w & 0xffff_ffff) as f64, (w >> 32) as f64);
    let (code, a, b, bit, value, every) = match f {
        ShaderFault::Stuck {
            word,
            bit,
            value,
            every,
        } => (1, word, 0, bit, value, every),
        ShaderFault::Alias { a, b } => (2, a, b, 0, 0, 0),
        ShaderFault::Flip { word, bit } => (3, word, 0, bit, 0, 0),
        _ => return Vec::new(),
    };
    let (alo, ahi) = split(a);
    let (blo, bhi) = split(b);
    vec![
        ("FAULT", f64::from(code)),
        ("FAULT_A_LO", alo),
        ("FAULT_A_HI", ahi),
        ("FAULT_B_LO", blo),
        ("FAULT_B_HI", bhi),
        ("FAULT_BIT", f64::from(bit)),
        ("FAULT_VALUE", f64::from(value)),
        ("FAULT_EVERY", f64::from(every)),
    ]
}

/// The words a planted fault touches, which must lie in the covered memory.
pub fn fault_words(f: ShaderFault) -> Vec<u64> {
    match f {
        ShaderFault::Stuck { word, .. } | ShaderFault::Flip { word, .. } => vec![word],
        ShaderFault::Alias { a, b } => vec![a, b],
        _ => Vec::new(),
    }
}

struct Bound {
    bind_group: wgpu::BindGroup,
    groups: u32,
}

/// The one wrong word the host plants in a pass's sentinel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planted {
    pub word: u32,
    pub expected: u64,
    pub actual: u64,
}

/// A pass as the GPU ran it: the ledger's bytes and its timing.
pub struct PassRun {
    pub ledger: Vec<u8>,
    pub planted: Planted,
    pub pattern: Pattern,
    pub key: u64,
    /// Wall time of the submission, and the write and compare phases on the GPU's
    /// clock where the device has timestamps.
    pub wall: Duration,
    pub gpu_ns: Option<(u64, u64)>,
}

/// A test ready to run passes: the pipelines, a bind group per window, the sentinel,
/// the ledger.
pub struct Tester {
    pub alloc: Allocation,
    write: wgpu::ComputePipeline,
    write_faulty: Option<wgpu::ComputePipeline>,
    compare: wgpu::ComputePipeline,
    record: wgpu::ComputePipeline,
    windows: Vec<Bound>,
    sentinel: wgpu::Buffer,
    sentinel_bound: Bound,
    run: wgpu::Buffer,
    ledger: wgpu::Buffer,
    init: Vec<u32>,
    pub wg: u32,
}

impl Tester {
    /// Compiles the passes (with `fault`'s switch in a second write pipeline, and with
    /// `dead` a compare that returns at once: tests only) and binds every window.
    // Long (about 120 lines): the passes' pipelines, then a bind group per window and the
    // sentinel's, in the order wgpu needs them.
    pub fn new(
        gpu: &Gpu,
        alloc: Allocation,
        fault: Option<ShaderFault>,
        dead: bool,
    ) -> Result<Tester> {
        let _s = tracing::info_span!("memtest_setup").entered();
        let wg = 256u32
            .min(gpu.limits.max_compute_invocations_per_workgroup)
            .min(gpu.limits.max_compute_workgroup_size_x);
        let layout = bind_group_layout(gpu);
        let pipeline_layout = gpu
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("memtest"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let compile = |mode: u32, extra: &[(&str, f64)]| {
            let mut c = vec![("MODE", f64::from(mode)), ("WG", f64::from(wg))];
            c.extend_from_slice(extra);
            crate::gpu::pipeline::compile_in(
                gpu,
                "memtest",
                super::SHADER,
                &c,
                RuntimeChecks::Checked,
                Some(&pipeline_layout),
            )
        };
        let write = compile(0, &[])?;
        let write_faulty = match fault.filter(|f| f.memory()) {
            Some(f) => Some(compile(0, &fault_constants(f))?),
            None => None,
        };
        let compare = compile(1, &[("DEAD", f64::from(u8::from(dead)))])?;
        let record = compile(2, &[])?;
        let slots = alloc.windows.len() + 1;
        let mut init = vec![0u32; SLOTS_AT + 4 * slots];
        for s in 0..slots {
            init[SLOTS_AT + 4 * s + 2] = NONE;
        }
        let (ledger, run, sentinel) = gpu.scoped("allocating the memtest ledger", || {
            (
                gpu.output("memtest ledger", init.len() as u64 * 4),
                crate::gpu::pipeline::params(gpu, &[0, 0, 0, 0]),
                gpu.output("memtest sentinel", SENTINEL_WORDS * 8),
            )
        })?;
        let bind = |buffer: &wgpu::Buffer, offset: u64, words: u64, base: u64, slot: u32| {
            let place = crate::gpu::pipeline::params(
                gpu,
                &[base as u32, (base >> 32) as u32, words as u32, slot],
            );
            let groups = (words / 2).div_ceil(u64::from(wg)).clamp(
                1,
                u64::from(MAX_GROUPS.min(gpu.limits.max_compute_workgroups_per_dimension)),
            ) as u32;
            let bind_group = gpu.scoped("binding the memtest windows", || {
                gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("memtest window"),
                    layout: &layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer,
                                offset,
                                size: std::num::NonZeroU64::new(words * 8),
                            }),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: ledger.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: place.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 3,
                            resource: run.as_entire_binding(),
                        },
                    ],
                })
            })?;
            Ok::<_, Error>(Bound { bind_group, groups })
        };
        let sentinel_bound = bind(&sentinel, 0, SENTINEL_WORDS, SENTINEL_BASE, 0)?;
        let windows = alloc
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                bind(
                    &alloc.pieces[w.piece].buffer,
                    w.offset,
                    w.words,
                    w.base,
                    i as u32 + 1,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tester {
            alloc,
            write,
            write_faulty,
            compare,
            record,
            windows,
            sentinel,
            sentinel_bound,
            run,
            ledger,
            init,
            wg,
        })
    }

    /// Pass `pass` (from 0): the pattern written into every window (by the faulty
    /// pipeline when `faulty`; not at all when `dropped`, tests only), then every word
    /// compared, the sentinel first; the ledger read back. `ts`: the timestamp slots of
    /// the write and the compare phases.
    pub fn pass(
        &self,
        gpu: &Gpu,
        seed: u64,
        pass: u64,
        faulty: bool,
        dropped: bool,
        ts: Option<(&Timestamps, u32)>,
    ) -> Result<PassRun> {
        let (pattern, key) = pattern::pass(seed, pass);
        let planted = plant(seed, pass, pattern, key);
        let mut sentinel = pattern::bytes(pattern, key, SENTINEL_BASE, SENTINEL_WORDS);
        let at = planted.word as usize * 8;
        sentinel[at..at + 8].copy_from_slice(&planted.actual.to_le_bytes());
        gpu.queue.write_buffer(
            &self.run,
            0,
            bytemuck::cast_slice(&[pattern.code(), key as u32, (key >> 32) as u32, 0]),
        );
        gpu.queue
            .write_buffer(&self.ledger, 0, bytemuck::cast_slice(&self.init));
        gpu.queue.write_buffer(&self.sentinel, 0, &sentinel);
        let write = match (&self.write_faulty, faulty) {
            (Some(p), true) => p,
            _ => &self.write,
        };
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut p = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("memtest write"),
                timestamp_writes: ts.map(|(t, slot)| t.writes(slot)),
            });
            if !dropped {
                for w in &self.windows {
                    crate::gpu::pipeline::encode_one(
                        &mut p,
                        write,
                        &w.bind_group,
                        [w.groups, 1, 1],
                    );
                }
            }
        }
        {
            let mut p = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("memtest compare"),
                timestamp_writes: ts.map(|(t, slot)| t.writes(slot + 1)),
            });
            // The sentinel first, so its planted word is the first listed.
            for w in std::iter::once(&self.sentinel_bound).chain(&self.windows) {
                crate::gpu::pipeline::encode_one(
                    &mut p,
                    &self.compare,
                    &w.bind_group,
                    [w.groups, 1, 1],
                );
            }
            // A window's recording walks it again only where it had wrong words; a
            // smaller grid keeps the clean windows' empty launches cheap.
            for w in std::iter::once(&self.sentinel_bound).chain(&self.windows) {
                let groups = w.groups.min(RECORD_GROUPS);
                crate::gpu::pipeline::encode_one(
                    &mut p,
                    &self.record,
                    &w.bind_group,
                    [groups, 1, 1],
                );
            }
        }
        let staging = gpu.staging("memtest ledger readback", self.ledger.size())?;
        enc.copy_buffer_to_buffer(&self.ledger, 0, &staging, 0, self.ledger.size());
        let wall = gpu.submit_and_wait(enc.finish())?;
        let ledger = gpu.read_done(&staging)?;
        Ok(PassRun {
            ledger,
            planted,
            pattern,
            key,
            wall,
            gpu_ns: None,
        })
    }

    /// The CPU reference: blocks of every buffer (its first and last [`SPOT`] bytes and
    /// one at a seeded offset) read back and compared with the pattern. Returns the words
    /// compared and the wrong ones.
    pub fn spot(&self, gpu: &Gpu, seed: u64, pass: u64, corrupt: bool) -> Result<Spot> {
        let _s = tracing::info_span!("memtest_reference").entered();
        let (pattern, key) = pattern::pass(seed, pass);
        let mut compared = 0;
        let mut wrong = Vec::new();
        for (i, p) in self.alloc.pieces.iter().enumerate() {
            let len = SPOT.min(p.bytes);
            let blocks = (p.bytes / len).max(1);
            let middle =
                inputs::word(seed, inputs::stream::MEMTEST, pass ^ (i as u64) << 32) % blocks;
            let mut offsets = vec![0, middle * len, p.bytes - len];
            offsets.sort_unstable();
            offsets.dedup();
            for off in offsets {
                let mut got = gpu.read_range(&p.buffer, off, len)?;
                if corrupt && i == 0 && off == 0 {
                    // Tests only: one bit of the host's copy flipped.
                    got[3] ^= 0x40;
                }
                let first = p.base + off / 8;
                let want = pattern::bytes(pattern, key, first, len / 8);
                for (j, (g, w)) in got.chunks_exact(8).zip(want.chunks_exact(8)).enumerate() {
                    compared += 1;
                    if g != w {
                        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
                        wrong.push(Found {
                            word: first + j as u64,
                            expected: word(w),
                            actual: word(g),
                        });
                    }
                }
            }
        }
        Ok(Spot { compared, wrong })
    }
}

/// What the CPU reference found in the blocks it read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spot {
    /// 64-bit words compared, and the wrong ones.
    pub compared: u64,
    pub wrong: Vec<Found>,
}

/// The sentinel's wrong word in pass `pass`: a place and a flip of bits the host draws.
fn plant(seed: u64, pass: u64, pattern: Pattern, key: u64) -> Planted {
    let r = inputs::word(seed ^ 0x05e1_71e1, inputs::stream::MEMTEST, pass);
    let word = (r % SENTINEL_WORDS) as u32;
    let expected = pattern::value(pattern, key, SENTINEL_BASE + u64::from(word));
    // Never no flip at all: bit 0 is always among the flipped.
    let actual = expected ^ (inputs::mix64(r) | 1);
    Planted {
        word,
        expected,
        actual,
    }
}

fn bind_group_layout(gpu: &Gpu) -> wgpu::BindGroupLayout {
    let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    let rw = wgpu::BufferBindingType::Storage { read_only: false };
    gpu.device
        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("memtest"),
            entries: &[
                entry(0, rw),
                entry(1, rw),
                entry(2, wgpu::BufferBindingType::Uniform),
                entry(3, wgpu::BufferBindingType::Uniform),
            ],
        })
}

/// A wrong word the GPU's compare found, as a global word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub word: u64,
    pub expected: u64,
    pub actual: u64,
}

/// What a pass found, once its check is proven to have run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassFindings {
    pub wrong: u64,
    /// Up to [`LISTED`] − 1 of them (the first listing is the sentinel's), and the
    /// first of each window (window-relative word) where it had any.
    pub listed: Vec<Found>,
    pub first: Vec<Option<u64>>,
    /// Per bit of a word, the wrong words it differed in (the sentinel's taken out).
    pub bits: Vec<u64>,
}

/// The ledger of one pass, judged: what the memory got wrong, or why the check itself
/// cannot be trusted (it did not report exactly the sentinel's planted word, or did not
/// compare every word of every window).
pub fn judge(
    raw: &[u8],
    windows: &[Window],
    planted: Planted,
) -> std::result::Result<PassFindings, String> {
    let w: &[u32] = bytemuck::cast_slice(&raw[..raw.len() / 4 * 4]);
    let need = SLOTS_AT + 4 * (windows.len() + 1);
    if w.len() < need || w[..need].iter().all(|&x| x == kernels::poison::POISON) {
        return Err("its ledger never came back from the GPU".to_owned());
    }
    let slot = |s: usize| {
        (
            w[SLOTS_AT + 4 * s],
            w[SLOTS_AT + 4 * s + 1],
            w[SLOTS_AT + 4 * s + 2],
        )
    };
    let finding = |k: usize| {
        let f = &w[FINDINGS_AT + 8 * k..FINDINGS_AT + 8 * k + 8];
        let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
        (f[0], f[1], join(f[2], f[3]), join(f[4], f[5]))
    };
    let (compared, wrong, first) = slot(0);
    let listed = w[0] as usize;
    let sentinel = finding(0);
    if compared as u64 != SENTINEL_WORDS
        || wrong != 1
        || first != planted.word
        || listed == 0
        || sentinel != (0, planted.word, planted.expected, planted.actual)
    {
        return Err(format!(
            "in the sentinel the host planted one wrong word (word {} of {SENTINEL_WORDS}: expected 0x{:016x}, planted 0x{:016x}); the pass reported {wrong} wrong of {compared} compared, the first at {}, and listed {}",
            planted.word,
            planted.expected,
            planted.actual,
            if first == NONE {
                "none".to_owned()
            } else {
                first.to_string()
            },
            if listed == 0 {
                "nothing".to_owned()
            } else {
                format!(
                    "word {} of slot {}: 0x{:016x} for 0x{:016x}",
                    sentinel.1, sentinel.0, sentinel.3, sentinel.2
                )
            }
        ));
    }
    let mut out = PassFindings::default();
    for (i, win) in windows.iter().enumerate() {
        let (compared, wrong, first) = slot(i + 1);
        if u64::from(compared) != win.words {
            return Err(format!(
                "binding window {} of {}: {compared} of its {} words compared",
                i + 1,
                windows.len(),
                win.words
            ));
        }
        out.wrong += u64::from(wrong);
        out.first
            .push((wrong > 0 && first != NONE).then_some(u64::from(first)));
    }
    for k in 1..listed.min(LISTED) {
        let (s, word, expected, actual) = finding(k);
        let Some(win) = (s as usize).checked_sub(1).and_then(|i| windows.get(i)) else {
            return Err(format!(
                "its finding {k} names slot {s}, which is no window"
            ));
        };
        out.listed.push(Found {
            word: win.base + u64::from(word),
            expected,
            actual,
        });
    }
    out.listed.sort_by_key(|f| f.word);
    let diff = planted.expected ^ planted.actual;
    out.bits = (0..64)
        .map(|b| u64::from(w[BITS_AT + b]).saturating_sub(diff >> b & 1))
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows() -> Vec<Window> {
        vec![
            Window {
                piece: 0,
                offset: 0,
                words: 64,
                base: 0,
            },
            Window {
                piece: 0,
                offset: 512,
                words: 32,
                base: 64,
            },
        ]
    }

    /// A ledger as a correct compare pass leaves it, with `extra` wrong words found.
    fn ledger(planted: Planted, extra: &[(u32, u32, u64, u64)]) -> Vec<u32> {
        let mut w = vec![0u32; SLOTS_AT + 4 * 3];
        let mut put = |k: usize, f: (u32, u32, u64, u64)| {
            let at = FINDINGS_AT + 8 * k;
            w[at..at + 6].copy_from_slice(&[
                f.0,
                f.1,
                f.2 as u32,
                (f.2 >> 32) as u32,
                f.3 as u32,
                (f.3 >> 32) as u32,
            ]);
        };
        put(0, (0, planted.word, planted.expected, planted.actual));
        for (k, f) in extra.iter().enumerate() {
            put(k + 1, *f);
        }
        w[0] = 1 + extra.len() as u32;
        let d = planted.expected ^ planted.actual;
        for b in 0..64 {
            w[BITS_AT + b] = (d >> b & 1) as u32;
        }
        for (s, words) in [(0, SENTINEL_WORDS as u32), (1, 64), (2, 32)] {
            let wrong = if s == 0 {
                1
            } else {
                extra.iter().filter(|f| f.0 == s).count() as u32
            };
            let first = if s == 0 {
                planted.word
            } else {
                extra
                    .iter()
                    .filter(|f| f.0 == s)
                    .map(|f| f.1)
                    .min()
                    .unwrap_or(NONE)
            };
            w[SLOTS_AT + 4 * s as usize..SLOTS_AT + 4 * s as usize + 3]
                .copy_from_slice(&[words, wrong, first]);
        }
        for f in extra {
            let d = f.2 ^ f.3;
            for b in 0..64 {
                w[BITS_AT + b] += (d >> b & 1) as u32;
            }
        }
        w
    }

    fn planted() -> Planted {
        plant(3, 5, Pattern::Random, 99)
    }

    #[test]
    fn a_clean_pass_and_a_wrong_word_are_read_as_such() {
        let p = planted();
        let f = judge(bytemuck::cast_slice(&ledger(p, &[])), &windows(), p).unwrap();
        assert_eq!((f.wrong, f.listed.len()), (0, 0));
        assert!(
            f.bits.iter().all(|&b| b == 0),
            "the sentinel's bits are taken out"
        );
        // Bit 5 of window 2's word 3 (global word 67) stuck.
        let f = judge(
            bytemuck::cast_slice(&ledger(p, &[(2, 3, 0xff, 0xdf)])),
            &windows(),
            p,
        )
        .unwrap();
        assert_eq!(f.wrong, 1);
        assert_eq!(
            f.listed,
            [Found {
                word: 67,
                expected: 0xff,
                actual: 0xdf
            }]
        );
        assert_eq!(f.first, [None, Some(3)]);
        assert_eq!(f.bits[5], 1);
        assert_eq!(f.bits.iter().sum::<u64>(), 1);
    }

    #[test]
    fn a_check_that_did_not_check_is_never_read_as_clean() {
        let p = planted();
        let clean = ledger(p, &[]);
        let fails = |w: Vec<u32>| judge(bytemuck::cast_slice(&w), &windows(), p).unwrap_err();
        // A compare step that returned at once: nothing counted, nothing found.
        let mut dead = vec![0u32; clean.len()];
        for s in 0..3 {
            dead[SLOTS_AT + 4 * s + 2] = NONE;
        }
        assert!(fails(dead).contains("planted one wrong word"));
        // The sentinel compared but a window skipped.
        let mut short = clean.clone();
        short[SLOTS_AT + 4 * 2] = 30;
        assert!(fails(short).contains("30 of its 32 words compared"));
        // The wrong planted word, or the right word with the wrong bits.
        let mut moved = clean.clone();
        moved[SLOTS_AT + 2] = (p.word + 1) % SENTINEL_WORDS as u32;
        assert!(fails(moved).contains("the first at"));
        let mut bits = clean.clone();
        bits[FINDINGS_AT + 4] ^= 2;
        assert!(fails(bits).contains("listed word"));
        // A ledger copy that never ran.
        let poisoned = vec![kernels::poison::POISON; clean.len()];
        assert!(fails(poisoned).contains("never came back"));
    }

    #[test]
    fn pieces_and_windows_fit_the_limits() {
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: 128 << 20,
            max_buffer_size: 1 << 40,
            min_storage_buffer_offset_alignment: 256,
            ..wgpu::Limits::default()
        };
        assert_eq!(sizes(&limits), (128 << 20, 256 << 20));
        let small = wgpu::Limits {
            max_buffer_size: 100 << 20,
            ..limits
        };
        assert_eq!(sizes(&small), (100 << 20, 100 << 20));
        let huge = wgpu::Limits {
            max_storage_buffer_binding_size: u64::from(u32::MAX),
            ..limits
        };
        assert_eq!(sizes(&huge).0, 1 << 31);
    }
}
