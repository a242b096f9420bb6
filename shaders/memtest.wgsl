// The memory test (src/kernels/memtest/): every 64-bit word of the covered memory holds
// a pattern that is a function of its own global index (its address in 64-bit words,
// counted over every buffer in order) and the pass's key. MODE 0 writes a window's words;
// MODE 1 reads every word of a window back and compares it with the pattern on the GPU,
// counting the words it compared and recording what differed in the ledger. A word is
// two u32 (low first); an invocation handles a vec4<u32>, two words, per step.
//
// Bindings (group 0): 0 the window (read_write), 1 the ledger (read_write), 2 where the
// window lies (uniform), 3 the pass: pattern and key (uniform).
//
// The ledger: `listed` wrong words seen (up to LISTED are stored in `findings`, in the
// order found), per bit of a word how many wrong words it differed in, then one slot
// per window: words compared, wrong words, the first wrong word (window-relative).

override MODE: u32 = 0u;
override WG: u32 = 256u;
// The fault switch (tests only; never set in a normal run, so the compiler removes it):
// 1 bit FAULT_BIT of word A stuck at FAULT_VALUE, 2 the write of word A lands at word B,
// 3 bit FAULT_BIT of word A flipped. Words are global: LO + 2^32 HI.
override FAULT: u32 = 0u;
override FAULT_A_LO: u32 = 0u;
override FAULT_A_HI: u32 = 0u;
override FAULT_B_LO: u32 = 0u;
override FAULT_B_HI: u32 = 0u;
override FAULT_BIT: u32 = 0u;
override FAULT_VALUE: u32 = 0u;
// With FAULT 1: every FAULT_EVERY-th word from A too (0: A alone), within A's 2^32 words.
override FAULT_EVERY: u32 = 0u;
// Tests only: the compare step returns at once, as a dropped or miscompiled check would.
override DEAD: u32 = 0u;

const LISTED: u32 = 64u;
const NONE: u32 = 0xffffffffu;

struct Place {
    base_lo: u32,
    base_hi: u32,
    // 64-bit words in the window: even (whole vec4s).
    words: u32,
    slot: u32,
}

struct Run {
    // 0 address, 1 its complement, 2 random, 3 its complement.
    pattern: u32,
    key_lo: u32,
    key_hi: u32,
    pad: u32,
}

struct Slot {
    compared: atomic<u32>,
    wrong: atomic<u32>,
    first: atomic<u32>,
    pad: u32,
}

struct Finding {
    slot: u32,
    word: u32,
    expected_lo: u32,
    expected_hi: u32,
    actual_lo: u32,
    actual_hi: u32,
    pad0: u32,
    pad1: u32,
}

struct Ledger {
    listed: atomic<u32>,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    bits: array<atomic<u32>, 64>,
    findings: array<Finding, LISTED>,
    slots: array<Slot>,
}

@group(0) @binding(0) var<storage, read_write> mem: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> ledger: Ledger;
@group(0) @binding(2) var<uniform> place: Place;
@group(0) @binding(3) var<uniform> run: Run;

// A workgroup's tally, added to the ledger once at its end (a card that is wrong
// everywhere must not stall the pass on the ledger's atomics).
var<workgroup> counted: atomic<u32>;
var<workgroup> wrong_here: atomic<u32>;
var<workgroup> first_here: atomic<u32>;
var<workgroup> bits_here: array<atomic<u32>, 64>;
var<workgroup> flag: u32;

fn mix32(x: u32) -> u32 {
    var h = x;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    return h ^ (h >> 16u);
}

// Word i of the window as a global index (low, high).
fn global(i: u32) -> vec2<u32> {
    let lo = place.base_lo + i;
    return vec2<u32>(lo, place.base_hi + select(0u, 1u, lo < i));
}

fn pattern(g: vec2<u32>) -> vec2<u32> {
    let a = g ^ vec2<u32>(run.key_lo, run.key_hi);
    if (run.pattern < 2u) {
        return select(a, ~a, run.pattern == 1u);
    }
    let lo = mix32(a.x ^ mix32(a.y));
    let hi = mix32(lo ^ a.y ^ 0x9e3779b9u);
    let r = vec2<u32>(lo, hi);
    return select(r, ~r, run.pattern == 3u);
}

fn is_word(g: vec2<u32>, lo: u32, hi: u32) -> bool {
    return g.x == lo && g.y == hi;
}

fn stuck_word(g: vec2<u32>) -> bool {
    if (FAULT_EVERY == 0u) {
        return is_word(g, FAULT_A_LO, FAULT_A_HI);
    }
    // max(): the modulus must be no constant 0 where the override is 0.
    return g.y == FAULT_A_HI && g.x >= FAULT_A_LO && (g.x - FAULT_A_LO) % max(FAULT_EVERY, 1u) == 0u;
}

fn bit_mask() -> vec2<u32> {
    let b = 1u << (FAULT_BIT % 32u);
    return select(vec2<u32>(b, 0u), vec2<u32>(0u, b), FAULT_BIT >= 32u);
}

// What the faulty cell holds after word g was written with v (tests only).
fn planted(g: vec2<u32>, v: vec2<u32>) -> vec2<u32> {
    if (FAULT == 1u && stuck_word(g)) {
        return select(v & ~bit_mask(), v | bit_mask(), FAULT_VALUE == 1u);
    }
    if (FAULT == 3u && is_word(g, FAULT_A_LO, FAULT_A_HI)) {
        return v ^ bit_mask();
    }
    if (FAULT == 2u && is_word(g, FAULT_B_LO, FAULT_B_HI)) {
        return pattern(vec2<u32>(FAULT_A_LO, FAULT_A_HI));
    }
    return v;
}

// MODE 2: a wrong word's bits counted and, while there is room, the word listed.
fn record(word: u32, want: vec2<u32>, got: vec2<u32>) {
    var d = want ^ got;
    while (d.x != 0u) {
        atomicAdd(&bits_here[countTrailingZeros(d.x)], 1u);
        d.x &= d.x - 1u;
    }
    while (d.y != 0u) {
        atomicAdd(&bits_here[32u + countTrailingZeros(d.y)], 1u);
        d.y &= d.y - 1u;
    }
    if (atomicLoad(&ledger.listed) < LISTED) {
        let k = atomicAdd(&ledger.listed, 1u);
        if (k < LISTED) {
            ledger.findings[k] = Finding(place.slot, word, want.x, want.y, got.x, got.y, 0u, 0u);
        }
    }
}

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let steps = place.words / 2u;
    let stride = groups.x * WG;
    if (MODE == 0u) {
        for (var i = gid.x; i < steps; i += stride) {
            let g0 = global(2u * i);
            let g1 = global(2u * i + 1u);
            var w0 = pattern(g0);
            var w1 = pattern(g1);
            if (FAULT != 0u) {
                w0 = planted(g0, w0);
                w1 = planted(g1, w1);
                if (FAULT == 2u) {
                    // Word A's own write went to B: A keeps what it held.
                    let old = mem[i];
                    if (is_word(g0, FAULT_A_LO, FAULT_A_HI)) {
                        w0 = old.xy;
                    }
                    if (is_word(g1, FAULT_A_LO, FAULT_A_HI)) {
                        w1 = old.zw;
                    }
                }
            }
            mem[i] = vec4<u32>(w0, w1);
        }
        return;
    }
    if (lid.x == 0u) {
        atomicStore(&counted, 0u);
        atomicStore(&wrong_here, 0u);
        atomicStore(&first_here, NONE);
        // MODE 2 runs only for windows MODE 1 found wrong words in.
        flag = select(0u, atomicLoad(&ledger.slots[place.slot].wrong), MODE == 2u);
    }
    for (var b = lid.x; b < 64u; b += WG) {
        atomicStore(&bits_here[b], 0u);
    }
    if (MODE == 1u && DEAD == 1u) {
        return;
    }
    if (MODE == 2u) {
        if (workgroupUniformLoad(&flag) == 0u) {
            return;
        }
        for (var i = gid.x; i < steps; i += stride) {
            let got = mem[i];
            let want = vec4<u32>(pattern(global(2u * i)), pattern(global(2u * i + 1u)));
            if (any(got.xy != want.xy)) {
                record(2u * i, want.xy, got.xy);
            }
            if (any(got.zw != want.zw)) {
                record(2u * i + 1u, want.zw, got.zw);
            }
        }
        workgroupBarrier();
        for (var b = lid.x; b < 64u; b += WG) {
            let c = atomicLoad(&bits_here[b]);
            if (c > 0u) {
                atomicAdd(&ledger.bits[b], c);
            }
        }
        return;
    }
    workgroupBarrier();
    // MODE 1: count and find the first, nothing more in the loop (what the recording
    // needs would slow every word's compare).
    var n = 0u;
    var bad = 0u;
    var first = NONE;
    for (var i = gid.x; i < steps; i += stride) {
        let got = mem[i];
        let want = vec4<u32>(pattern(global(2u * i)), pattern(global(2u * i + 1u)));
        if (any(got != want)) {
            let lo = any(got.xy != want.xy);
            let hi = any(got.zw != want.zw);
            bad += select(0u, 1u, lo) + select(0u, 1u, hi);
            first = min(first, select(2u * i + 1u, 2u * i, lo));
        }
        n += 2u;
    }
    atomicAdd(&counted, n);
    if (bad > 0u) {
        atomicAdd(&wrong_here, bad);
        atomicMin(&first_here, first);
    }
    workgroupBarrier();
    if (lid.x == 0u) {
        atomicAdd(&ledger.slots[place.slot].compared, atomicLoad(&counted));
        let w = atomicLoad(&wrong_here);
        if (w > 0u) {
            atomicAdd(&ledger.slots[place.slot].wrong, w);
            atomicMin(&ledger.slots[place.slot].first, atomicLoad(&first_here));
        }
    }
}
