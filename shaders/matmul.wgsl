// C = A·B, row-major. A is M×K, B is K×N, C is M×N.
//
// The host compiles this body after what it chooses: `alias Elem = f32;` or
// `alias Elem = u32;` (WGSL's u32 `*` and `+` wrap, so that product is exact modulo
// 2^32), and one of the I/O files, `matmul_io_scalar.wgsl` (any shape) or
// `matmul_io_vec4.wgsl` (K and N multiples of 4: one 16-byte load or store per quad).
// Both define the bindings 0 A, 1 B, 2 C, `stage_a` (A's tile into a stage of As),
// `load_b4` and `store4`; they read zeros outside the matrices and never store outside
// C, so no index is ever out of range and the host may compile this kernel without
// runtime checks.
//
// Tiling: a WG_X×WG_Y workgroup computes a BM×BN tile of C (BM = 8·WG_Y, BN = 8·WG_X),
// stepping K by BK through workgroup memory, in one stage (fill, barrier, compute,
// barrier) or two (the next step's tiles fill one stage while the other is read: one
// barrier per step, twice the memory). Each invocation owns an 8×8 register tile:
// rows 4·ty+{0..3} and BM/2+4·ty+{0..3}, columns 4·tx+{0..3} and BN/2+4·tx+{0..3}, so
// neighbouring invocations read neighbouring vec4s of the tiles. The accumulators are
// sixteen named vec4s, not an indexed array: under naga's bounds checks an indexed local
// array leaves registers.

struct Params {
    m: u32,
    k: u32,
    n: u32,
    pad: u32,
}

@group(0) @binding(3) var<uniform> p: Params;

// Launch parameters, set by the host as pipeline constants (`gpu-canary tune` sweeps
// them). BK must be a multiple of 4, STAGES 1 or 2.
override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override BK: u32 = 8u;
override STAGES: u32 = 1u;

// Invocations, tile rows and columns in vec4s, one stage's tiles, and all stages'.
override THREADS: u32 = WG_X * WG_Y;
override BM4: u32 = 2u * WG_Y;
override BN4: u32 = 2u * WG_X;
override A_STAGE: u32 = BK * BM4;
override B_STAGE: u32 = BK * BN4;
override AS_LEN: u32 = STAGES * A_STAGE;
override BS_LEN: u32 = STAGES * B_STAGE;

// Tests only (src/kernels/fault.rs), never set in a normal run, so the compiler drops
// it: FAULT 3 stores zeros for the workgroup's tile if it holds C[FAULT_ROW, FAULT_COL],
// FAULT 4 stores nothing, FAULT 5 rounds the f32 inputs to TF32 as they are staged (a
// device that computes f32 at reduced precision).
override FAULT: u32 = 0u;
override FAULT_ROW: u32 = 0u;
override FAULT_COL: u32 = 0u;

// In the stage at As[base..], As[base + kk·BM4 + q] holds rows 4q..4q+3 of tile column
// kk; likewise Bs[base + kk·BN4 + q] holds columns 4q..4q+3 of tile row kk.
var<workgroup> As: array<vec4<Elem>, AS_LEN>;
var<workgroup> Bs: array<vec4<Elem>, BS_LEN>;

// The K step at k0 of the workgroup's tiles into stage `s`. The copy loops here and in
// `stage_a` run a constant number of times (the tile over the workgroup, rounded up),
// so the compiler can unroll them.
fn stage(s: u32, t: u32, m0: u32, n0: u32, k0: u32) {
    stage_a(t, m0, k0, s * A_STAGE);
    // B: consecutive invocations load consecutive quads along a row of B.
    let base = s * B_STAGE;
    for (var j = 0u; j < (B_STAGE + THREADS - 1u) / THREADS; j++) {
        let i = j * THREADS + t;
        if (i < B_STAGE) {
            Bs[base + i] = reduced(load_b4(k0 + i / BN4, n0 + (i % BN4) * 4u));
        }
    }

}

// C[row, col..col+3] = v, through the fault switch. A quad never straddles two tiles.
fn put(row: u32, col: u32, v: vec4<Elem>) {
    if (FAULT == 4u) {
        return;
    }
    let bm = BM4 * 4u;
    let bn = BN4 * 4u;
    if (FAULT == 3u && row / bm == FAULT_ROW / bm && col / bn == FAULT_COL / bn) {
        store4(row, col, vec4<Elem>());
        return;
    }
    store4(row, col, canon(v));
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * WG_X + tx;
    let m0 = wid.y * BM4 * 4u;
    let n0 = wid.x * BN4 * 4u;

    var c00 = vec4<Elem>(); var c01 = vec4<Elem>();
    var c10 = vec4<Elem>(); var c11 = vec4<Elem>();
    var c20 = vec4<Elem>(); var c21 = vec4<Elem>();
    var c30 = vec4<Elem>(); var c31 = vec4<Elem>();
    var c40 = vec4<Elem>(); var c41 = vec4<Elem>();
    var c50 = vec4<Elem>(); var c51 = vec4<Elem>();
    var c60 = vec4<Elem>(); var c61 = vec4<Elem>();
    var c70 = vec4<Elem>(); var c71 = vec4<Elem>();

    // K ≥ 1, so there is at least one step.
    let tiles = (p.k + BK - 1u) / BK;
    stage(0u, t, m0, n0, 0u);
    workgroupBarrier();
    for (var tile = 0u; tile < tiles; tile++) {
        let cur = tile % STAGES;
        let more = tile + 1u < tiles;
        // Two stages: fill the other one now; it was last read in the previous step,
        // before that step's barrier.
        if (STAGES == 2u && more) {
            stage(1u - cur, t, m0, n0, (tile + 1u) * BK);
        }
        let ab = cur * A_STAGE;
        let bb = cur * B_STAGE;
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = As[ab + kk * BM4 + ty];
            let a1 = As[ab + kk * BM4 + WG_Y + ty];
            let b0 = Bs[bb + kk * BN4 + tx];
            let b1 = Bs[bb + kk * BN4 + WG_X + tx];
            c00 += a0.x * b0; c01 += a0.x * b1;
            c10 += a0.y * b0; c11 += a0.y * b1;
            c20 += a0.z * b0; c21 += a0.z * b1;
            c30 += a0.w * b0; c31 += a0.w * b1;
            c40 += a1.x * b0; c41 += a1.x * b1;
            c50 += a1.y * b0; c51 += a1.y * b1;
            c60 += a1.z * b0; c61 += a1.z * b1;
            c70 += a1.w * b0; c71 += a1.w * b1;
        }
        workgroupBarrier();
        // One stage: refill it once every invocation has read it.
        if (STAGES == 1u && more) {
            stage(0u, t, m0, n0, (tile + 1u) * BK);
            workgroupBarrier();
        }
    }

    let r0 = m0 + ty * 4u;
    let r1 = m0 + WG_Y * 4u + ty * 4u;
    let q0 = n0 + tx * 4u;
    let q1 = n0 + WG_X * 4u + tx * 4u;
    put(r0, q0, c00); put(r0, q1, c01);
    put(r0 + 1u, q0, c10); put(r0 + 1u, q1, c11);
    put(r0 + 2u, q0, c20); put(r0 + 2u, q1, c21);
    put(r0 + 3u, q0, c30); put(r0 + 3u, q1, c31);
    put(r1, q0, c40); put(r1, q1, c41);
    put(r1 + 1u, q0, c50); put(r1 + 1u, q1, c51);
    put(r1 + 2u, q0, c60); put(r1 + 2u, q1, c61);
    put(r1 + 3u, q0, c70); put(r1 + 3u, q1, c71);
}
