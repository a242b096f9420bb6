//! Every dispatch verified. The first execution of a case, on poisoned buffers, is kept
//! on the device as the golden copy (it is compared bit for bit with the last one, which
//! is verified against the CPU reference). After every later dispatch a check pass,
//! outside the timed pass and outside the host-clock window, compares every word of
//! every buffer the kernel writes (intermediates included) with the golden copy, bit for
//! bit, and poisons the buffers again, so the next dispatch that writes nothing reads
//! back poison, never the previous dispatch's good result.
//!
//! The GPU counts each pass's wrong words and records the first one's index and bits in
//! a slot of a small ring (the ledger, [`SLOTS`] slots), read back once per ring or at
//! the end; the ledger also counts the passes that ran, so a check pass that never
//! reached the GPU shows as a dispatch not verified. A result that lives on the host
//! (readback) is compared on the host instead ([`compare_words`]).
//!
//! Detection power: exact. Any dispatch whose output differs from the verified output
//! in any bit is caught with certainty, and named (its number, the word, both values).

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::{self, RuntimeChecks, fault};

pub const SHADER: &str = include_str!("../../shaders/golden.wgsl");

/// The check pass's source for words of one u32, or of four (`vec4`).
pub fn source(vec4: bool) -> String {
    let word = if vec4 {
        "alias Word = vec4<u32>;
const LANES: u32 = 4u;
fn lane(w: Word, l: u32) -> u32 { return w[l]; }
fn differ(a: Word, b: Word) -> u32 {
    return dot(select(vec4<u32>(0u), vec4<u32>(1u), a != b), vec4<u32>(1u));
}
fn first_lane(a: Word, b: Word) -> u32 {
    let d = a != b;
    return select(select(select(3u, 2u, d.z), 1u, d.y), 0u, d.x);
}
"
    } else {
        "alias Word = u32;
const LANES: u32 = 1u;
fn lane(w: Word, l: u32) -> u32 { return w; }
fn differ(a: Word, b: Word) -> u32 { return select(0u, 1u, a != b); }
fn first_lane(a: Word, b: Word) -> u32 { return 0u; }
"
    };
    format!("{word}{SHADER}")
}
/// Slots of a ledger made for `run` and `tune`: the host reads it back after one pass
/// fewer than this (each pass clears the slot after its own), so its size is bounded
/// whatever the iteration count.
pub const SLOTS: u32 = 1024;
/// The poison source repoisoning copies from (a buffer that size or the output's).
const POISON_SOURCE: u64 = 16 << 20;
const NONE: u32 = u32::MAX;
const HEADER: u64 = 16;
const SLOT: u64 = 16;

/// One check pass that found wrong words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    /// Which check pass, counted from 0 since the ledger was made.
    pub pass: u64,
    /// Words that differ from the golden copy.
    pub wrong: u64,
    /// The first of them, counted over the kernel's outputs in order.
    pub first: u64,
    pub expected: u32,
    pub actual: u32,
}

/// The first differing word of `got` against `golden` and how many differ; `None` when
/// they are bitwise equal. A shorter `got` counts its missing words as wrong, with
/// `actual` the poison.
pub fn compare_words(golden: &[u8], got: &[u8]) -> Option<(u64, u64, u32, u32)> {
    if golden == got {
        return None;
    }
    let word = |b: &[u8], i: usize| {
        b.get(i * 4..i * 4 + 4)
            .map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")))
    };
    let n = golden.len().max(got.len()) / 4;
    let mut first = None;
    let mut wrong = 0u64;
    for i in 0..n {
        let (e, a) = (word(golden, i), word(got, i));
        if e != a {
            wrong += 1;
            first.get_or_insert((
                i as u64,
                e.unwrap_or(fault::POISON),
                a.unwrap_or(fault::POISON),
            ));
        }
    }
    first.map(|(i, e, a)| (i, wrong, e, a))
}

struct Window {
    bind_group: wgpu::BindGroup,
    groups: u32,
    /// Whole 16-byte words: compared a vec4 at a time.
    vec4: bool,
}

/// The golden copies of a prepared case's outputs, the ledger, and the check pass.
pub struct Golden {
    outputs: Vec<(wgpu::Buffer, u64)>,
    goldens: Vec<wgpu::Buffer>,
    ledger: wgpu::Buffer,
    slots: u32,
    windows: Vec<Window>,
    /// Compare, record, end the pass; for u32 words, then compare and record for vec4s.
    pipelines: [wgpu::ComputePipeline; 5],
    poison: wgpu::Buffer,
    /// Check passes recorded, and those whose slots were read back.
    encoded: u64,
    read: u64,
}

impl Golden {
    /// Golden buffers the size of `outputs`, a ledger of `slots` slots (at least the
    /// passes recorded between two reads), and the bind groups of the check pass: each
    /// output in windows no larger than a storage binding.
    pub fn new(gpu: &Gpu, outputs: &[(&wgpu::Buffer, u64)], slots: u32) -> Result<Golden> {
        let _s = tracing::info_span!("golden_setup").entered();
        let slots = slots.max(1);
        let (layout, pipelines) = pipelines(gpu, slots)?;
        let (goldens, ledger, poison) = gpu.scoped("allocating golden copies", || {
            let goldens: Vec<wgpu::Buffer> = outputs
                .iter()
                .map(|&(_, size)| gpu.output("golden", size))
                .collect();
            let ledger = gpu.output("ledger", HEADER + SLOT * u64::from(slots));
            let largest = outputs.iter().map(|o| o.1).max().unwrap_or(4);
            let poison = gpu.output("poison source", largest.clamp(4, POISON_SOURCE));
            (goldens, ledger, poison)
        })?;
        fault::poison(gpu, &[(&poison, poison.size())])?;
        let mut init = vec![0u32; (ledger.size() / 4) as usize];
        init[HEADER as usize / 4 + 1] = NONE;
        gpu.queue
            .write_buffer(&ledger, 0, bytemuck::cast_slice(&init));
        let align = u64::from(gpu.limits.min_storage_buffer_offset_alignment).max(4);
        let piece = (gpu.limits.max_storage_buffer_binding_size / align * align).max(align);
        let mut windows = Vec::new();
        let mut base = 0u64;
        for (&(out, size), gold) in outputs.iter().zip(&goldens) {
            let mut offset = 0;
            while offset < size {
                let len = piece.min(size - offset);
                let words = len / 4;
                let first = base + offset / 4;
                let first = u32::try_from(first)
                    .ok()
                    .filter(|f| u64::from(*f) + words < u64::from(NONE))
                    .ok_or_else(|| {
                        crate::error::Error::usage(
                            "the outputs hold more than 2^32 words: too large to check; use a smaller --size",
                        )
                    })?;
                let uniform = kernels::params(gpu, &[first, words as u32, 0, 0]);
                fn window(b: &wgpu::Buffer, offset: u64, len: u64) -> wgpu::BindingResource<'_> {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: b,
                        offset,
                        size: std::num::NonZeroU64::new(len),
                    })
                }
                let bind_group = gpu.scoped("binding the golden check", || {
                    gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some("golden check"),
                        layout: &layout,
                        entries: &[
                            wgpu::BindGroupEntry {
                                binding: 0,
                                resource: window(gold, offset, len),
                            },
                            wgpu::BindGroupEntry {
                                binding: 1,
                                resource: window(out, offset, len),
                            },
                            wgpu::BindGroupEntry {
                                binding: 2,
                                resource: ledger.as_entire_binding(),
                            },
                            wgpu::BindGroupEntry {
                                binding: 3,
                                resource: uniform.as_entire_binding(),
                            },
                        ],
                    })
                })?;
                let vec4 = len % 16 == 0;
                let lanes = if vec4 { 4 } else { 1 };
                let groups = (words / lanes).div_ceil(256).clamp(1, 4096) as u32;
                windows.push(Window {
                    bind_group,
                    groups,
                    vec4,
                });
                offset += len;
            }
            base += size.div_ceil(4);
        }
        Ok(Golden {
            outputs: outputs.iter().map(|&(b, s)| (b.clone(), s)).collect(),
            goldens,
            ledger,
            slots,
            windows,
            pipelines,
            poison,
            encoded: 0,
            read: 0,
        })
    }

    /// Records the copy of the outputs, as they are now, into the golden buffers, then
    /// their poisoning.
    pub fn keep(&self, enc: &mut wgpu::CommandEncoder) {
        for ((out, size), gold) in self.outputs.iter().zip(&self.goldens) {
            enc.copy_buffer_to_buffer(out, 0, gold, 0, *size);
        }
        self.repoison(enc);
    }

    /// Records one check pass: every word against the golden copy, the first wrong
    /// word's bits, the pass counted; then, with `repoison`, the outputs poisoned again.
    /// Panics when the ledger is [`Golden::full`]: the pass would clear an unread slot.
    pub fn encode(&mut self, enc: &mut wgpu::CommandEncoder, repoison: bool) {
        assert!(
            !self.full(),
            "the ledger holds {} unread passes: read it first",
            self.unread()
        );
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("golden check"),
                timestamp_writes: None,
            });
            let step = |w: &Window, i: usize| &self.pipelines[i + if w.vec4 { 3 } else { 0 }];
            for w in &self.windows {
                kernels::encode_one(&mut pass, step(w, 0), &w.bind_group, [w.groups, 1, 1]);
            }
            for w in &self.windows {
                kernels::encode_one(&mut pass, step(w, 1), &w.bind_group, [1, 1, 1]);
            }
            if let Some(w) = self.windows.first() {
                kernels::encode_one(&mut pass, &self.pipelines[2], &w.bind_group, [1, 1, 1]);
            }
        }
        if repoison {
            self.repoison(enc);
        }
        self.encoded += 1;
    }

    /// The outputs filled with the poison, by copies from the poison source (the copy
    /// engine's speed, no binding limit).
    pub fn repoison(&self, enc: &mut wgpu::CommandEncoder) {
        let piece = self.poison.size();
        for (out, size) in &self.outputs {
            let mut offset = 0;
            while offset < *size {
                let len = piece.min(size - offset);
                enc.copy_buffer_to_buffer(&self.poison, 0, out, offset, len);
                offset += len;
            }
        }
    }

    /// Check passes recorded and not yet read back.
    pub fn unread(&self) -> u64 {
        self.encoded - self.read
    }

    /// Whether the ledger must be read before the next pass: each pass clears the slot
    /// after its own, so the ring holds one pass fewer than its slots unread.
    pub fn full(&self) -> bool {
        self.unread() + 1 >= u64::from(self.slots)
    }

    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Check passes recorded so far.
    pub fn encoded(&self) -> u64 {
        self.encoded
    }

    /// Records the copy of the ledger into a new mappable buffer (filled with the poison
    /// first, so a copy that never ran reads back as no passes at all); read it with
    /// [`findings_in`] once that submission is done. The passes recorded so far count as
    /// read: the copy runs after them, before any later pass.
    pub fn snapshot(&mut self, gpu: &Gpu, enc: &mut wgpu::CommandEncoder) -> Result<wgpu::Buffer> {
        self.read = self.encoded;
        let staging = gpu.staging("ledger readback", self.ledger.size())?;
        enc.copy_buffer_to_buffer(&self.ledger, 0, &staging, 0, self.ledger.size());
        Ok(staging)
    }

    /// Reads the ledger now (the GPU is waited for): the findings of the passes not yet
    /// read, and how many of them ran.
    pub fn collect(&mut self, gpu: &Gpu) -> Result<(Vec<Finding>, u64)> {
        let raw = gpu.read_buffer(&self.ledger, self.ledger.size())?;
        let (from, to) = (self.read, self.encoded);
        self.read = to;
        Ok(findings_in(&raw, self.slots, from, to))
    }
}

/// The findings of check passes `from..to` in a ledger's bytes, and how many of those
/// passes ran (the ledger's pass count, at most `to`). Slots of passes that never ran
/// are not read.
pub fn findings_in(raw: &[u8], slots: u32, from: u64, to: u64) -> (Vec<Finding>, u64) {
    let words: &[u32] = bytemuck::cast_slice(&raw[..raw.len() / 4 * 4]);
    // The count wraps at 2^32 passes: the ran passes are those below it in that ring.
    let counted = words.first().copied().unwrap_or(0);
    let ran_to = if counted == fault::POISON {
        from
    } else {
        let lag = u64::from((to as u32).wrapping_sub(counted));
        to.saturating_sub(lag).max(from)
    };
    let mut out = Vec::new();
    for pass in from..ran_to {
        let s = HEADER as usize / 4 + (pass % u64::from(slots)) as usize * 4;
        let Some(slot) = words.get(s..s + 4) else {
            break;
        };
        if slot[0] != 0 {
            out.push(Finding {
                pass,
                wrong: u64::from(slot[0]),
                first: u64::from(slot[1]),
                expected: slot[2],
                actual: slot[3],
            });
        }
    }
    (out, ran_to - from)
}

/// The three steps of a check pass (each for single words; the first two also for
/// vec4 windows), sharing one layout so they share bind groups.
fn pipelines(gpu: &Gpu, slots: u32) -> Result<(wgpu::BindGroupLayout, [wgpu::ComputePipeline; 5])> {
    let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    let layout = gpu
        .device
        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("golden check"),
            entries: &[
                storage(0, true),
                storage(1, true),
                storage(2, false),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
    let pipeline_layout = gpu
        .device
        .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("golden check"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
    let (scalar, vec4) = (source(false), source(true));
    let one = |src: &str, mode: u32| {
        kernels::compile_in(
            gpu,
            "golden check",
            src,
            &[("MODE", f64::from(mode)), ("SLOTS", f64::from(slots))],
            RuntimeChecks::Checked,
            Some(&pipeline_layout),
        )
    };
    let pipelines = [
        one(&scalar, 0)?,
        one(&scalar, 1)?,
        one(&scalar, 2)?,
        one(&vec4, 0)?,
        one(&vec4, 1)?,
    ];
    Ok((layout, pipelines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(passes: u32, slots: &[[u32; 4]]) -> Vec<u8> {
        let mut w = vec![passes, 0, 0, 0];
        for s in slots {
            w.extend_from_slice(s);
        }
        bytemuck::cast_slice(&w).to_vec()
    }

    #[test]
    fn findings_name_the_pass_and_stop_where_the_gpu_stopped() {
        let clean = [0, NONE, 0, 0];
        let raw = ledger(3, &[clean, [2, 7, 5, 6], clean, clean]);
        let (f, ran) = findings_in(&raw, 4, 0, 3);
        assert_eq!(ran, 3);
        assert_eq!(
            f,
            [Finding {
                pass: 1,
                wrong: 2,
                first: 7,
                expected: 5,
                actual: 6
            }]
        );
        // Two passes recorded, one ran: the second is not verified.
        let (f, ran) = findings_in(&ledger(1, &[clean, [1, 0, 1, 2]]), 2, 0, 2);
        assert_eq!((f.len(), ran), (0, 1));
        // A ledger copy that never ran reads back as poison: nothing verified.
        let poisoned = ledger(fault::POISON, &[[fault::POISON; 4]; 2]);
        assert_eq!(findings_in(&poisoned, 2, 0, 2), (Vec::new(), 0));
        // A ring: passes 4..6 lie in slots 0 and 1.
        let (f, ran) = findings_in(&ledger(6, &[[1, 3, 0, 9], clean, clean, clean]), 4, 4, 6);
        assert_eq!((f[0].pass, f[0].first, ran), (4, 3, 2));
    }

    #[test]
    fn host_words_compare_bit_for_bit() {
        let a: Vec<u8> = bytemuck::cast_slice(&[1u32, 2, 3]).to_vec();
        assert_eq!(compare_words(&a, &a), None);
        let mut b = a.clone();
        b[4] ^= 1;
        b[8] ^= 0x80;
        assert_eq!(compare_words(&a, &b), Some((1, 2, 2, 3)));
        // +0 against -0 is a wrong bit.
        let z: Vec<u8> = bytemuck::cast_slice(&[0.0f32]).to_vec();
        let nz: Vec<u8> = bytemuck::cast_slice(&[-0.0f32]).to_vec();
        assert!(compare_words(&z, &nz).is_some());
        // A short result: its missing words are wrong.
        assert_eq!(compare_words(&a, &a[..8]), Some((2, 1, 3, fault::POISON)));
    }
}
