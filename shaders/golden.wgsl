// Every dispatch verified: after each dispatch, the words of every buffer the kernel
// writes are compared bit for bit with a golden copy (its first output, verified against
// the CPU reference), on the GPU, outside the timed pass (see src/kernels/golden.rs).
// The ledger keeps one slot per check pass, in a ring of SLOTS: the number of wrong
// words, the first wrong word's index and its golden and actual bits.
//
// Bindings (group 0): 0 the golden copy's window (read), 1 the same window of the
// result (read), 2 the ledger (read_write), 3 where the window lies (uniform).
//
// MODE 0 compares (one dispatch per window); MODE 1 records the first wrong word's bits
// (one invocation per window: the atomics of MODE 0 are complete by then); MODE 2 ends
// the pass: the next slot is cleared and the pass counted (one invocation per pass).
//
// The host puts the word type first: `Word` (u32, or vec4<u32> for windows of whole
// 16-byte words: one load per 16 bytes), `LANES` and the helpers `lane`, `differ` (how
// many lanes differ) and `first_lane`.

override MODE: u32 = 0u;
override SLOTS: u32 = 1024u;

const NONE: u32 = 0xffffffffu;

struct Slot {
    wrong: atomic<u32>,
    first: atomic<u32>,
    expected: u32,
    actual: u32,
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
    // The window's first word, counted over all the kernel's outputs in order.
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
    if (MODE == 0u) {
        for (var i = gid.x; i < window.words / LANES; i += groups.x * 256u) {
            let g = golden[i];
            let r = result[i];
            let n = differ(g, r);
            if (n > 0u) {
                atomicAdd(&ledger.slots[slot].wrong, n);
                atomicMin(&ledger.slots[slot].first, window.base + i * LANES + first_lane(g, r));
            }
        }
    } else if (MODE == 1u) {
        let first = atomicLoad(&ledger.slots[slot].first);
        if (gid.x == 0u && first != NONE && first >= window.base && first - window.base < window.words) {
            let w = first - window.base;
            ledger.slots[slot].expected = lane(golden[w / LANES], w % LANES);
            ledger.slots[slot].actual = lane(result[w / LANES], w % LANES);
        }
    } else if (gid.x == 0u) {
        let next = (ledger.passes + 1u) % SLOTS;
        atomicStore(&ledger.slots[next].wrong, 0u);
        atomicStore(&ledger.slots[next].first, NONE);
        ledger.slots[next].expected = 0u;
        ledger.slots[next].actual = 0u;
        ledger.passes = ledger.passes + 1u;
    }
}
