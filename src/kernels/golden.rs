//! Every dispatch verified, by a check that proves itself. The first execution of a
//! case, on poisoned buffers, is kept on the device as the golden copy (it is compared
//! bit for bit with the last one, which is verified against the CPU reference). After
//! every later dispatch a check pass, outside the timed pass and outside the host-clock
//! window, compares every word of every buffer the kernel writes (intermediates
//! included) with the golden copy, bit for bit, then poisons them again, so the next
//! dispatch that writes nothing reads back poison, never the previous dispatch's good
//! result.
//!
//! Nothing the GPU's check reports is taken on trust. Each pass also compares a sentinel
//! window in which the host planted one mismatch (a word and bits it chose, one of
//! [`VARIANTS`] that change pass by pass) and counts the words it compared; the poisoning
//! (copies from a poison source, at the copy engine's speed) poisons the sentinel too,
//! and the pass's end notes whether the sentinel then holds only poison. A pass that does
//! not report exactly the planted mismatch and every word compared did not check
//! ([`Check::checker`]); one whose sentinel is not poison at its end did not poison
//! ([`Check::unpoisoned`]).
//!
//! The GPU records each pass in a slot of a small ring (the ledger, [`SLOTS`] slots),
//! read back per pass or per submission; the ledger also counts the passes that ran, so
//! a check pass that never reached the GPU shows as a dispatch not verified. A result
//! that lives on the host (readback) is compared on the host instead
//! ([`compare_words`]).
//!
//! Detection power: exact. Any dispatch whose output differs from the verified output in
//! any bit is caught with certainty, and named (its number, the word, both values).

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::{Output, RuntimeChecks, poison};

pub const SHADER: &str = include_str!("../../shaders/golden.wgsl");

/// The check pass's source for words of one u32, or of four (`vec4`), counting with
/// subgroup operations where the device has them.
pub fn source(vec4: bool, subgroups: bool) -> String {
    let tally = if subgroups {
        "fn tally(n: u32) -> u32 {
    let s = subgroupAdd(n);
    return select(0u, s, subgroupExclusiveAdd(1u) == 0u);
}
"
    } else {
        "fn tally(n: u32) -> u32 { return n; }
"
    };
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
fn poison_word(p: u32) -> Word { return vec4<u32>(p); }
"
    } else {
        "alias Word = u32;
const LANES: u32 = 1u;
fn lane(w: Word, l: u32) -> u32 { return w; }
fn differ(a: Word, b: Word) -> u32 { return select(0u, 1u, a != b); }
fn first_lane(a: Word, b: Word) -> u32 { return 0u; }
fn poison_word(p: u32) -> Word { return p; }
"
    };
    format!("{word}{tally}{SHADER}")
}
/// Slots of a ledger made for `run` and `tune`: the host reads it back after one pass
/// fewer than this (each pass clears the slot after its own), so its size is bounded
/// whatever the iteration count.
pub const SLOTS: u32 = 1024;
/// The sentinel: words per window, and the planted variants it cycles through.
pub const SENTINEL_WORDS: u64 = 64;
pub const VARIANTS: u64 = 16;
/// The poison source the golden copy's first poisoning copies from (a buffer that size
/// or the output's).
const POISON_SOURCE: u64 = 16 << 20;
const NONE: u32 = u32::MAX;
const HEADER: u64 = 16;
/// A slot: wrong, first, expected, actual; the sentinel's four; compared, sentinel
/// clean, padding (u32 each).
const SLOT: u64 = 48;

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

/// One check pass as the ledger reports it: what it found, and why it cannot be trusted
/// where it cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub pass: u64,
    pub finding: Option<Finding>,
    /// The pass did not report the sentinel's planted word, or compared fewer words than
    /// there are: it did not check.
    pub checker: Option<String>,
    /// The pass was to poison the outputs, and the sentinel poisoned with them did not
    /// hold poison at the pass's end.
    pub unpoisoned: Option<String>,
}

/// The sentinel's planted word in `variant`: where it lies and both values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planted {
    pub word: u32,
    pub expected: u32,
    pub actual: u32,
}

/// The sentinel's golden words and its planted variants, as the host writes them.
pub fn sentinel() -> (Vec<u32>, Vec<Planted>) {
    use crate::inputs;
    let golden: Vec<u32> = (0..SENTINEL_WORDS)
        .map(|i| inputs::word(inputs::DEFAULT_SEED, inputs::stream::SENTINEL, i) as u32)
        .collect();
    let planted = (0..VARIANTS)
        .map(|v| {
            let r = inputs::word(inputs::DEFAULT_SEED, inputs::stream::SENTINEL, 1000 + v);
            let word = (r % SENTINEL_WORDS) as u32;
            let expected = golden[word as usize];
            // Never no flip at all: bit 0 is always among the flipped.
            let actual = expected ^ ((r >> 32) as u32 | 1);
            Planted {
                word,
                expected,
                actual,
            }
        })
        .collect();
    (golden, planted)
}

/// Where a result differs from the verified one: its first wrong 32-bit word, how many
/// words are wrong, and the first one's two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    pub word: u64,
    pub wrong_words: u64,
    pub expected: u32,
    pub actual: u32,
}

/// The first differing word of `got` against `golden` and how many differ; `None` when
/// they are bitwise equal. A shorter `got` counts its missing words as wrong, with
/// `actual` the poison.
pub fn compare_words(golden: &[u8], got: &[u8]) -> Option<Mismatch> {
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
                e.unwrap_or(poison::POISON),
                a.unwrap_or(poison::POISON),
            ));
        }
    }
    first.map(|(word, expected, actual)| Mismatch {
        word,
        wrong_words: wrong,
        expected,
        actual,
    })
}

struct Window {
    bind_group: wgpu::BindGroup,
    groups: u32,
    /// Whole 16-byte words: compared a vec4 at a time.
    vec4: bool,
    sentinel: bool,
}

impl Window {
    /// Its pipeline of a step: the u32 or vec4 one, or the sentinel's.
    fn step<'a>(&self, s: &'a [wgpu::ComputePipeline; 3]) -> &'a wgpu::ComputePipeline {
        &s[if self.sentinel {
            2
        } else {
            usize::from(self.vec4)
        }]
    }
}

/// The pipelines of a check pass, for u32 and vec4 windows.
struct Steps {
    /// u32 windows, vec4 windows, the sentinel's.
    compare: [wgpu::ComputePipeline; 3],
    record: [wgpu::ComputePipeline; 3],
    end: wgpu::ComputePipeline,
}

/// The golden copies of a prepared case's outputs, the sentinel, the ledger, and the
/// check pass.
pub struct Golden {
    outputs: Vec<(wgpu::Buffer, u64)>,
    goldens: Vec<wgpu::Buffer>,
    ledger: wgpu::Buffer,
    slots: u32,
    /// Every window of the outputs, then the sentinel's.
    windows: Vec<Window>,
    compiled: std::sync::Arc<Compiled>,
    poison: wgpu::Buffer,
    /// The sentinel's result window and its planted variants (one per pass, in turn).
    sentinel: wgpu::Buffer,
    variants: wgpu::Buffer,
    planted: Vec<Planted>,
    /// Words a pass compares: every output's and the sentinel's.
    words: u64,
    /// The last pass's report, copied out for the host (see [`Golden::snapshot_last`]).
    last: wgpu::Buffer,
    /// Check passes recorded, those whose slots were read back, and those recorded
    /// without poisoning (the last of a case).
    encoded: u64,
    read: u64,
    kept_outputs: Vec<u64>,
}

/// The ledger's slots marked empty (no wrong word, no first word found).
fn init_ledger(gpu: &Gpu, ledger: &wgpu::Buffer, slots: u32) {
    let mut init = vec![0u32; (ledger.size() / 4) as usize];
    for s in 0..slots as usize {
        let at = HEADER as usize / 4 + s * SLOT as usize / 4;
        init[at + 1] = NONE;
        init[at + 5] = NONE;
    }
    gpu.queue
        .write_buffer(ledger, 0, bytemuck::cast_slice(&init));
}

/// The same window of a golden buffer and the output it keeps: `len` bytes at `offset`.
struct Pair<'b> {
    gold: &'b wgpu::Buffer,
    out: &'b wgpu::Buffer,
    offset: u64,
    len: u64,
}

/// The check pass's bind group over one window pair, its first word's number in the
/// outputs (`first`), and the workgroups that cover it (four words a lane where the
/// window is a whole number of vec4s).
fn window(
    gpu: &Gpu,
    layout: &wgpu::BindGroupLayout,
    ledger: &wgpu::Buffer,
    p: Pair<'_>,
    first: u32,
    is_sentinel: bool,
) -> Result<Window> {
    let words = p.len / 4;
    let uniform = crate::gpu::pipeline::params(gpu, &[first, words as u32, 0, 0]);
    fn range(b: &wgpu::Buffer, offset: u64, len: u64) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: b,
            offset,
            size: std::num::NonZeroU64::new(len),
        })
    }
    let bind_group = gpu.scoped("binding the golden check", || {
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("golden check"),
            layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: range(p.gold, p.offset, p.len),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: range(p.out, p.offset, p.len),
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
    let vec4 = p.len.is_multiple_of(16);
    let lanes = if vec4 { 4 } else { 1 };
    let groups = (words / lanes).div_ceil(256).clamp(1, 4096) as u32;
    Ok(Window {
        bind_group,
        groups,
        vec4,
        sentinel: is_sentinel,
    })
}

impl Golden {
    /// Golden buffers the size of `outputs`, a ledger of `slots` slots (at least the
    /// passes recorded between two reads), the sentinel, and the bind groups of the
    /// check pass: each output in windows no larger than a storage binding. `dead`
    /// (tests only) compiles a compare step that returns at once.
    // Long (about 120 lines): the buffers are allocated in one scope (an allocation that
    // fails is one error), then poisoned, the ledger set and each window bound, in that
    // order.
    pub fn new(gpu: &Gpu, outputs: &[Output<'_>], slots: u32, dead: bool) -> Result<Golden> {
        let _s = tracing::info_span!("golden_setup").entered();
        let slots = slots.max(1);
        let compiled = compiled(gpu, slots, dead)?;
        let layout = &compiled.layout;
        let (sentinel_golden, planted) = sentinel();
        let sentinel_bytes = SENTINEL_WORDS * 4;
        let (goldens, ledger, poison, sentinel, variants, golden_sentinel) =
            gpu.scoped("allocating golden copies", || {
                let goldens: Vec<wgpu::Buffer> = outputs
                    .iter()
                    .map(|o| gpu.output("golden", o.bytes))
                    .collect();
                let ledger = gpu.output("ledger", HEADER + SLOT * u64::from(slots));
                let largest = outputs.iter().map(|o| o.bytes).max().unwrap_or(4);
                let poison = gpu.output(
                    "poison source",
                    largest.clamp(SENTINEL_WORDS * 4, POISON_SOURCE),
                );
                let variants: Vec<u32> = planted
                    .iter()
                    .flat_map(|p| {
                        let mut v = sentinel_golden.clone();
                        v[p.word as usize] = p.actual;
                        v
                    })
                    .collect();
                (
                    goldens,
                    ledger,
                    poison,
                    gpu.output("sentinel", sentinel_bytes),
                    gpu.upload("sentinel variants", bytemuck::cast_slice(&variants)),
                    gpu.upload("sentinel golden", bytemuck::cast_slice(&sentinel_golden)),
                )
            })?;
        poison::poison(
            gpu,
            &[Output {
                buffer: &poison,
                bytes: poison.size(),
            }],
        )?;
        init_ledger(gpu, &ledger, slots);
        let mut windows = Vec::new();
        let align = u64::from(gpu.limits.min_storage_buffer_offset_alignment).max(4);
        let piece = (gpu.limits.max_storage_buffer_binding_size / align * align).max(align);
        let mut base = 0u64;
        for (
            &Output {
                buffer: out,
                bytes: size,
            },
            gold,
        ) in outputs.iter().zip(&goldens)
        {
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
                let pair = Pair {
                    gold,
                    out,
                    offset,
                    len,
                };
                windows.push(window(gpu, layout, &ledger, pair, first, false)?);
                offset += len;
            }
            base += size.div_ceil(4);
        }
        let pair = Pair {
            gold: &golden_sentinel,
            out: &sentinel,
            offset: 0,
            len: sentinel_bytes,
        };
        windows.push(window(gpu, layout, &ledger, pair, 0, true)?);
        let words = outputs.iter().map(|o| o.bytes / 4).sum::<u64>() + SENTINEL_WORDS;
        if words >= u64::from(NONE) {
            return Err(crate::error::Error::usage(
                "the outputs hold more than 2^32 words: too large to check; use a smaller --size",
            ));
        }
        Ok(Golden {
            outputs: outputs
                .iter()
                .map(|o| (o.buffer.clone(), o.bytes))
                .collect(),
            goldens,
            ledger,
            slots,
            windows,
            compiled,
            poison,
            sentinel,
            variants,
            planted,
            words,
            last: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("ledger report"),
                size: HEADER + SLOT,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            encoded: 0,
            read: 0,
            kept_outputs: Vec::new(),
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

    /// Records a whole check pass: [`Golden::encode_compare`], then
    /// [`Golden::encode_finish`].
    pub fn encode(&mut self, enc: &mut wgpu::CommandEncoder, poison: bool) {
        self.encode_compare(enc);
        self.encode_finish(enc, poison);
    }

    /// Records a check pass's compare: the sentinel's planted variant for this pass put
    /// in place, then every word of every window against the golden copy.
    /// Panics when the ledger is [`Golden::full`]: the pass would clear an unread slot.
    pub fn encode_compare(&mut self, enc: &mut wgpu::CommandEncoder) {
        assert!(
            !self.full(),
            "the ledger holds {} unread passes: read it first",
            self.unread()
        );
        let bytes = SENTINEL_WORDS * 4;
        let v = self.encoded % VARIANTS;
        enc.copy_buffer_to_buffer(&self.variants, v * bytes, &self.sentinel, 0, bytes);
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("golden check"),
            timestamp_writes: None,
        });
        let steps = &self.compiled.steps;
        for w in &self.windows {
            crate::gpu::pipeline::encode_one(
                &mut pass,
                w.step(&steps.compare),
                &w.bind_group,
                [w.groups, 1, 1],
            );
        }
        // The first wrong word's bits, while the outputs still hold them.
        for w in &self.windows {
            crate::gpu::pipeline::encode_one(
                &mut pass,
                w.step(&steps.record),
                &w.bind_group,
                [1, 1, 1],
            );
        }
    }

    /// Records the rest of the check pass: with `poison`, the outputs and the sentinel
    /// poisoned by copies from the poison source (the copy engine's speed); without, the
    /// outputs stay for the readback. Then the pass's end, which notes whether the
    /// sentinel holds poison.
    pub fn encode_finish(&mut self, enc: &mut wgpu::CommandEncoder, poison: bool) {
        if poison {
            self.repoison(enc);
            enc.copy_buffer_to_buffer(&self.poison, 0, &self.sentinel, 0, SENTINEL_WORDS * 4);
        }
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("golden check"),
                timestamp_writes: None,
            });
            let sentinel = self.windows.last().expect("the sentinel's window");
            crate::gpu::pipeline::encode_one(
                &mut pass,
                &self.compiled.steps.end,
                &sentinel.bind_group,
                [1, 1, 1],
            );
        }
        if !poison {
            self.kept_outputs.push(self.encoded);
        }
        self.encoded += 1;
    }

    /// Tests only: the rest of the check pass without its poisoning, though the pass was
    /// to poison (a dropped re-poison): the report must say so.
    pub fn encode_dropping_poison(&mut self, enc: &mut wgpu::CommandEncoder) {
        self.encode_finish(enc, false);
        self.kept_outputs.pop();
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
    /// [`Golden::checks_in`] once that submission is done. The passes recorded so far
    /// count as read: the copy runs after them, before any later pass.
    pub fn snapshot(&mut self, gpu: &Gpu, enc: &mut wgpu::CommandEncoder) -> Result<wgpu::Buffer> {
        self.read = self.encoded;
        let staging = gpu.staging("ledger readback", self.ledger.size())?;
        enc.copy_buffer_to_buffer(&self.ledger, 0, &staging, 0, self.ledger.size());
        Ok(staging)
    }

    /// Records the copy of the last pass's report (the ledger's count and the pass's
    /// slot) into a small mappable buffer kept for it, poisoned first in the same
    /// submission, so a copy that never ran reads back as a pass that never ran. Read it
    /// with [`Golden::last_check`] once that submission is done.
    pub fn snapshot_last(&mut self, enc: &mut wgpu::CommandEncoder) -> &wgpu::Buffer {
        let pass = self.encoded - 1;
        self.read = self.encoded;
        let slot = HEADER + (pass % u64::from(self.slots)) * SLOT;
        enc.copy_buffer_to_buffer(&self.poison, 0, &self.last, 0, HEADER + SLOT);
        enc.copy_buffer_to_buffer(&self.ledger, 0, &self.last, 0, HEADER);
        enc.copy_buffer_to_buffer(&self.ledger, slot, &self.last, HEADER, SLOT);
        &self.last
    }

    /// The last pass as [`Golden::snapshot_last`]'s copy reports it (`None`: it never
    /// ran).
    pub fn last_check(&self, raw: &[u8]) -> Option<Check> {
        let pass = self.encoded - 1;
        let expect = Expect {
            words: self.words,
            planted: &self.planted,
            kept: &self.kept_outputs,
        };
        // A ring of one slot: the copy holds the count and that pass's slot.
        checks_in(raw, 1, pass, pass + 1, &expect).0.pop()
    }

    /// Reads the ledger now (the GPU is waited for): the passes not yet read, and how
    /// many of them ran.
    pub fn collect(&mut self, gpu: &Gpu) -> Result<(Vec<Check>, u64)> {
        let raw = gpu.read_buffer(&self.ledger, self.ledger.size())?;
        let (from, to) = (self.read, self.encoded);
        self.read = to;
        Ok(self.checks_in(&raw, from, to))
    }

    /// The passes `from..to` in a ledger's bytes, judged, and how many of them ran.
    pub fn checks_in(&self, raw: &[u8], from: u64, to: u64) -> (Vec<Check>, u64) {
        let expect = Expect {
            words: self.words,
            planted: &self.planted,
            kept: &self.kept_outputs,
        };
        checks_in(raw, self.slots, from, to, &expect)
    }

    /// The golden copies as they are on the device now (checked against the host's copy
    /// of the first output: a change is a fault of the device's memory, not of any
    /// dispatch).
    pub fn read_goldens(&self, gpu: &Gpu) -> Result<Vec<Vec<u8>>> {
        self.goldens
            .iter()
            .zip(&self.outputs)
            .map(|(g, (_, size))| gpu.read_buffer(g, *size))
            .collect()
    }

    /// Tests only: one word of the golden copy overwritten with `value`.
    pub fn corrupt(&self, gpu: &Gpu, word: u64, value: u32) {
        let mut base = 0;
        for (g, (_, size)) in self.goldens.iter().zip(&self.outputs) {
            let words = size.div_ceil(4);
            if word < base + words {
                gpu.queue
                    .write_buffer(g, (word - base) * 4, bytemuck::bytes_of(&value));
                return;
            }
            base += words;
        }
    }
}

/// What a correct pass reports: every word compared (and the sentinel poisoned, unless it kept the
/// outputs), the sentinel's planted variant of the pass and nothing else there.
pub struct Expect<'a> {
    pub words: u64,
    pub planted: &'a [Planted],
    /// The passes recorded without poisoning.
    pub kept: &'a [u64],
}

/// The passes `from..to` in a ledger's bytes, judged against `expect`, and how many of
/// them ran (the ledger's pass count, at most `to`). Slots of passes that never ran are
/// not read.
pub fn checks_in(raw: &[u8], slots: u32, from: u64, to: u64, expect: &Expect) -> (Vec<Check>, u64) {
    let words: &[u32] = bytemuck::cast_slice(&raw[..raw.len() / 4 * 4]);
    // The count wraps at 2^32 passes: the ran passes are those below it in that ring.
    let counted = words.first().copied().unwrap_or(0);
    let ran_to = if counted == poison::POISON {
        from
    } else {
        let lag = u64::from((to as u32).wrapping_sub(counted));
        to.saturating_sub(lag).max(from)
    };
    let mut out = Vec::new();
    for pass in from..ran_to {
        let s = HEADER as usize / 4 + (pass % u64::from(slots)) as usize * SLOT as usize / 4;
        let Some(slot) = words.get(s..s + SLOT as usize / 4) else {
            break;
        };
        let finding = (slot[0] != 0).then(|| Finding {
            pass,
            wrong: u64::from(slot[0]),
            first: u64::from(slot[1]),
            expected: slot[2],
            actual: slot[3],
        });
        let planted = expect.planted[(pass % expect.planted.len() as u64) as usize];
        let (s_wrong, s_first, s_expected, s_actual) = (slot[4], slot[5], slot[6], slot[7]);
        let (compared, clean) = (slot[8], slot[9]);
        let checker = if (s_wrong, s_first, s_expected, s_actual)
            != (1, planted.word, planted.expected, planted.actual)
        {
            Some(format!(
                "the sentinel's planted word (word {} of {SENTINEL_WORDS}: expected 0x{:08x}, planted 0x{:08x}) was reported as {s_wrong} wrong word{}{}",
                planted.word,
                planted.expected,
                planted.actual,
                if s_wrong == 1 { "" } else { "s" },
                if s_first == NONE {
                    String::new()
                } else {
                    format!(", the first word {s_first}: 0x{s_actual:08x} for 0x{s_expected:08x}")
                }
            ))
        } else if u64::from(compared) != expect.words {
            Some(format!(
                "it compared {compared} of the {} words",
                expect.words
            ))
        } else {
            None
        };
        let unpoisoned = (!expect.kept.contains(&pass) && clean != 1).then(|| {
            "the sentinel poisoned with the outputs did not hold poison at the pass's end: the poisoning did not run"
                .to_owned()
        });
        out.push(Check {
            pass,
            finding,
            checker,
            unpoisoned,
        });
    }
    (out, ran_to - from)
}

/// The check pass's pipelines and their layout, compiled once per device (every case's
/// golden copy uses the same).
struct Compiled {
    layout: wgpu::BindGroupLayout,
    steps: Steps,
}

fn compiled(gpu: &Gpu, slots: u32, dead: bool) -> Result<std::sync::Arc<Compiled>> {
    gpu.cached(&format!("golden check {slots} {dead}"), || {
        let (layout, steps) = pipelines(gpu, slots, dead)?;
        Ok(Compiled { layout, steps })
    })
}

/// The steps of a check pass (for u32 and vec4 windows, and the pass's end), sharing
/// one layout so they share bind groups.
fn pipelines(gpu: &Gpu, slots: u32, dead: bool) -> Result<(wgpu::BindGroupLayout, Steps)> {
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
    // A GPU counts a subgroup's words with one atomic; a CPU adapter emulates subgroup
    // operations at more cost than an atomic of each invocation.
    let subgroups = gpu.features.contains(wgpu::Features::SUBGROUP) && !gpu.is_software();
    let sources = [source(false, subgroups), source(true, subgroups)];
    let one = |vec4: bool, mode: u32, sentinel: bool| {
        crate::gpu::pipeline::compile_in(
            gpu,
            "golden check",
            &sources[usize::from(vec4)],
            &[
                ("MODE", f64::from(mode)),
                ("SLOTS", f64::from(slots)),
                ("POISON", f64::from(poison::POISON)),
                ("DEAD", f64::from(u8::from(dead))),
                ("SENTINEL", f64::from(u8::from(sentinel))),
            ],
            RuntimeChecks::Checked,
            Some(&pipeline_layout),
        )
    };
    // The sentinel's window is 256 bytes: whole vec4s.
    let steps = Steps {
        compare: [
            one(false, 0, false)?,
            one(true, 0, false)?,
            one(true, 0, true)?,
        ],
        record: [
            one(false, 1, false)?,
            one(true, 1, false)?,
            one(true, 1, true)?,
        ],
        end: one(true, 2, true)?,
    };
    Ok((layout, steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ledger of `passes` with `slots` slots as (wrong, first, expected, actual,
    /// sentinel right, poisoned) each.
    fn ledger(passes: u32, slots: &[(u32, u32, u32, u32, bool, bool)], words: u32) -> Vec<u8> {
        let (_, planted) = sentinel();
        let mut w = vec![passes, 0, 0, 0];
        for (i, &(wrong, first, e, a, right, poisoned)) in slots.iter().enumerate() {
            let p = planted[i % planted.len()];
            let s = if right {
                [1, p.word, p.expected, p.actual]
            } else {
                [0, NONE, 0, 0]
            };
            w.extend_from_slice(&[wrong, first, e, a]);
            w.extend_from_slice(&s);
            w.extend_from_slice(&[words, u32::from(poisoned), 0, 0]);
        }
        bytemuck::cast_slice(&w).to_vec()
    }

    fn expect(words: u64, kept: &[u64]) -> (Vec<Planted>, Vec<u64>, u64) {
        (sentinel().1, kept.to_vec(), words)
    }

    #[test]
    fn findings_name_the_pass_and_stop_where_the_gpu_stopped() {
        let (planted, kept, words) = expect(100, &[]);
        let e = Expect {
            words,
            planted: &planted,
            kept: &kept,
        };
        let clean = (0, NONE, 0, 0, true, true);
        let raw = ledger(3, &[clean, (2, 7, 5, 6, true, true), clean, clean], 100);
        let (c, ran) = checks_in(&raw, 4, 0, 3, &e);
        assert_eq!(ran, 3);
        assert!(
            c.iter()
                .all(|c| c.checker.is_none() && c.unpoisoned.is_none())
        );
        let found: Vec<Finding> = c.iter().filter_map(|c| c.finding).collect();
        assert_eq!(
            found,
            [Finding {
                pass: 1,
                wrong: 2,
                first: 7,
                expected: 5,
                actual: 6
            }]
        );
        // Two passes recorded, one ran: the second is not verified.
        let (c, ran) = checks_in(&ledger(1, &[clean, clean], 100), 2, 0, 2, &e);
        assert_eq!((c.len(), ran), (1, 1));
        // A ledger copy that never ran reads back as poison: nothing verified.
        let poisoned: Vec<u8> = bytemuck::cast_slice(&[poison::POISON; 28]).to_vec();
        assert_eq!(checks_in(&poisoned, 2, 0, 2, &e).1, 0);
    }

    #[test]
    fn a_check_that_did_not_check_or_poison_is_named() {
        let (planted, kept, words) = expect(100, &[2]);
        let e = Expect {
            words,
            planted: &planted,
            kept: &kept,
        };
        // A compare step that returned at once: no sentinel, nothing counted.
        let mut raw = ledger(1, &[(0, NONE, 0, 0, false, true)], 100);
        let (c, _) = checks_in(&raw, 4, 0, 1, &e);
        assert!(
            c[0].checker
                .as_deref()
                .unwrap()
                .contains("sentinel's planted word")
        );
        // The sentinel right but a window short.
        raw[16 + 32..16 + 36].copy_from_slice(&99u32.to_le_bytes());
        let raw2 = {
            let mut r = ledger(1, &[(0, NONE, 0, 0, true, true)], 100);
            r[16 + 32..16 + 36].copy_from_slice(&99u32.to_le_bytes());
            r
        };
        let (c, _) = checks_in(&raw2, 4, 0, 1, &e);
        assert_eq!(
            c[0].checker.as_deref(),
            Some("it compared 99 of the 100 words")
        );
        // Checked but not poisoned: named, unless the pass was to keep the outputs.
        let raw = ledger(3, &[(0, NONE, 0, 0, true, false); 3], 100);
        let (c, _) = checks_in(&raw, 4, 0, 3, &e);
        assert!(
            c[0].unpoisoned
                .as_deref()
                .unwrap()
                .contains("did not hold poison")
        );
        assert!(c[2].unpoisoned.is_none(), "pass 2 kept its outputs");
        // Each pass has its own variant: pass 1 reporting pass 0's planted word is wrong.
        let p0 = planted[0];
        let mut w: Vec<u32> =
            bytemuck::cast_slice(&ledger(2, &[(0, NONE, 0, 0, true, true); 2], 100)).to_vec();
        let s1 = 4 + 12 + 4;
        w[s1..s1 + 4].copy_from_slice(&[1, p0.word, p0.expected, p0.actual]);
        let (c, _) = checks_in(bytemuck::cast_slice(&w), 4, 0, 2, &e);
        assert!(c[0].checker.is_none());
        assert!(planted[1] == p0 || c[1].checker.is_some());
    }

    #[test]
    fn the_sentinel_variants_differ_and_each_plants_one_word() {
        let (golden, planted) = sentinel();
        assert_eq!(golden.len() as u64, SENTINEL_WORDS);
        assert_eq!(planted.len() as u64, VARIANTS);
        for p in &planted {
            assert_eq!(golden[p.word as usize], p.expected);
            assert_ne!(p.expected, p.actual);
        }
        let mut words: Vec<u32> = planted.iter().map(|p| p.word).collect();
        words.sort_unstable();
        words.dedup();
        assert!(words.len() > VARIANTS as usize / 2, "{words:?}");
    }

    #[test]
    fn host_words_compare_bit_for_bit() {
        let a: Vec<u8> = bytemuck::cast_slice(&[1u32, 2, 3]).to_vec();
        assert_eq!(compare_words(&a, &a), None);
        let mut b = a.clone();
        b[4] ^= 1;
        b[8] ^= 0x80;
        let m = |word, wrong_words, expected, actual| Mismatch {
            word,
            wrong_words,
            expected,
            actual,
        };
        assert_eq!(compare_words(&a, &b), Some(m(1, 2, 2, 3)));
        // +0 against -0 is a wrong bit.
        let z: Vec<u8> = bytemuck::cast_slice(&[0.0f32]).to_vec();
        let nz: Vec<u8> = bytemuck::cast_slice(&[-0.0f32]).to_vec();
        assert!(compare_words(&z, &nz).is_some());
        // A short result: its missing words are wrong.
        assert_eq!(compare_words(&a, &a[..8]), Some(m(2, 1, 3, poison::POISON)));
    }
}
