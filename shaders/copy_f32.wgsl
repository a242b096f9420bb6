// Device-to-device copy, bandwidth bound: every invocation copies words
// gid, gid + S, gid + 2S, ... (S the grid's invocations), so each step of the grid
// reads and writes one contiguous, coalesced span. `Word` (f32, vec2<f32> or vec4<f32>,
// the host's VEC) is defined by the host before this body (src/kernels/copy.rs).
//
// The output must equal the input bit for bit: loads and stores move bits, and the
// input's pattern has only finite values, so no NaN payload is in play.
//
// Bindings (group 0): 0 input (read), 1 output (read_write), 2 uniform {n: words}.

override WG: u32 = 256u;

// Tests only (src/kernels/fault.rs), never set in a normal run, so the compiler drops
// it: FAULT 2 leaves the last word uncopied, 4 writes nothing.
override FAULT: u32 = 0u;
override FAULT_ROW: u32 = 0u;
override FAULT_COL: u32 = 0u;

struct Params {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> src: array<Word>;
@group(0) @binding(1) var<storage, read_write> dst: array<Word>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    if (FAULT == 4u) {
        return;
    }
    var n = p.n;
    if (FAULT == 2u) {
        n = n - 1u;
    }
    // The host keeps n + S below 2^32, so i never wraps.
    let stride = groups.x * WG;
    for (var i = gid.x; i < n; i += stride) {
        dst[i] = src[i];
    }
}
