// Every dispatch verified, and the check proves itself: after each dispatch the words of
// every buffer the kernel writes are compared bit for bit with a golden copy (its first
// output, verified against the CPU reference), on the GPU, outside the timed pass, and a
// sentinel window in which the host planted one known mismatch goes through the same
// steps; then the outputs and the sentinel are poisoned (by copy commands) and the
// pass's end confirms the sentinel holds poison (see src/kernels/golden.rs).
//
// Bindings (group 0): 0 the golden copy's window (read), 1 the same window of the result
// (read), 2 the ledger (read_write), 3 where the window lies (uniform).
//
// MODE 0 compares: it counts the words it compared and the wrong ones, and finds the
// first (one dispatch per window). MODE 1 records the first wrong word's bits (one
// invocation per window). MODE 2 ends the pass (one invocation, on the sentinel's
// window, after the poisoning): it notes whether the sentinel now holds only poison,
// clears the next slot and counts the pass. The sentinel's window counts into its own
// fields.
//
// The host puts the word type first: `Word` (u32, or vec4<u32> for windows of whole
// 16-byte words: one load per 16 bytes), `LANES` and the helpers `lane`, `differ` (how
// many lanes differ), `first_lane` and `poison_word`, and `tally` (what this invocation
// adds to a count of the pass: with subgroups, one invocation adds its subgroup's).

override MODE: u32 = 0u;
override SLOTS: u32 = 1024u;
override POISON: u32 = 0x7ff0deadu;
// Tests only: the compare step returns at once, as a dropped or miscompiled check would.
override DEAD: u32 = 0u;
// 1 for the sentinel's pipelines: they count into the sentinel's fields (a constant, so
// the compare loop holds no branch on it).
override SENTINEL: u32 = 0u;

const NONE: u32 = 0xffffffffu;

struct Slot {
    wrong: atomic<u32>,
    first: atomic<u32>,
    expected: u32,
    actual: u32,
    // The sentinel's: wrong words, the first (window-relative) and its bits.
    s_wrong: atomic<u32>,
    s_first: atomic<u32>,
    s_expected: u32,
    s_actual: u32,
    // Words compared, over every window the sentinel's included; 1 when the sentinel
    // held only poison at the pass's end.
    compared: atomic<u32>,
    sentinel_clean: u32,
    pad0: u32,
    pad1: u32,
}

struct Ledger {
    // Check passes that ran to their end, since the ledger was made.
    passes: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    slots: array<Slot>,
}

struct Window {
    // The window's first word, counted over all the kernel's outputs in order (0 for the
    // sentinel), and its words.
    base: u32,
    words: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> golden: array<Word>;
@group(0) @binding(1) var<storage, read> result: array<Word>;
@group(0) @binding(2) var<storage, read_write> ledger: Ledger;
@group(0) @binding(3) var<uniform> window: Window;

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let slot = ledger.passes % SLOTS;
    let sentinel = SENTINEL == 1u;
    if (MODE == 0u) {
        var n = 0u;
        if (DEAD == 0u) {
            for (var i = gid.x; i < window.words / LANES; i += groups.x * 256u) {
                let g = golden[i];
                let r = result[i];
                let d = differ(g, r);
                n += LANES;
                if (d > 0u) {
                    let at = i * LANES + first_lane(g, r);
                    if (sentinel) {
                        atomicAdd(&ledger.slots[slot].s_wrong, d);
                        atomicMin(&ledger.slots[slot].s_first, at);
                    } else {
                        atomicAdd(&ledger.slots[slot].wrong, d);
                        atomicMin(&ledger.slots[slot].first, window.base + at);
                    }
                }
            }
        }
        // Counted by one invocation of each subgroup where the host has subgroups (few
        // atomics), else by each invocation.
        let c = tally(n);
        if (c > 0u) {
            atomicAdd(&ledger.slots[slot].compared, c);
        }
    } else if (MODE == 1u) {
        if (gid.x == 0u) {
            let f = select(
                atomicLoad(&ledger.slots[slot].first) - window.base,
                atomicLoad(&ledger.slots[slot].s_first),
                sentinel,
            );
            let has = select(
                atomicLoad(&ledger.slots[slot].first) != NONE && atomicLoad(&ledger.slots[slot].first) >= window.base,
                atomicLoad(&ledger.slots[slot].s_first) != NONE,
                sentinel,
            );
            if (has) {
                record(f, sentinel);
            }
        }
    } else if (gid.x == 0u) {
        // MODE 2, on the sentinel's window.
        var clean = 1u;
        for (var i = 0u; i < window.words / LANES; i++) {
            if (differ(result[i], poison_word(POISON)) > 0u) {
                clean = 0u;
            }
        }
        ledger.slots[slot].sentinel_clean = clean;
        let next = (ledger.passes + 1u) % SLOTS;
        atomicStore(&ledger.slots[next].wrong, 0u);
        atomicStore(&ledger.slots[next].first, NONE);
        ledger.slots[next].expected = 0u;
        ledger.slots[next].actual = 0u;
        atomicStore(&ledger.slots[next].s_wrong, 0u);
        atomicStore(&ledger.slots[next].s_first, NONE);
        ledger.slots[next].s_expected = 0u;
        ledger.slots[next].s_actual = 0u;
        atomicStore(&ledger.slots[next].compared, 0u);
        ledger.slots[next].sentinel_clean = 0u;
        ledger.passes = ledger.passes + 1u;
    }
}

// The bits of window-relative word `w`, golden and actual, into the slot; the window's
// first wrong word when `w` is in this window.
fn record(w: u32, sentinel: bool) {
    if (w >= window.words) {
        return;
    }
    let slot = ledger.passes % SLOTS;
    let e = lane(golden[w / LANES], w % LANES);
    let a = lane(result[w / LANES], w % LANES);
    if (sentinel) {
        ledger.slots[slot].s_expected = e;
        ledger.slots[slot].s_actual = a;
    } else {
        ledger.slots[slot].expected = e;
        ledger.slots[slot].actual = a;
    }
}
