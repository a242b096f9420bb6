// C = A·B with f16 A and B and f32 accumulation, on cooperative matrices (tensor cores),
// with the workgroup's tiles of A and B staged in workgroup memory, double-buffered.
//
// Bindings (group 0): 0 A (f16 quads, read), 1 B (f16 quads, read), 2 C (f32,
// read_write), 3 uniform {mp, kp, np, unused}. The host zero-pads A to mp×kp and B to
// kp×np with mp a multiple of BM, np of BN and kp of BK, so every load and store is in
// range without guards and the padding adds exact zeros; it reads back C's m×n corner.
//
// One workgroup computes a BM×BN tile of C. Each K step, the WG invocations copy a BM×BK
// tile of A and a BK×BN tile of B into workgroup memory (rows padded by 8 halves so the
// fragment loads spread over the banks) while the tensor cores work on the other stage,
// then one barrier swaps the stages. The tile is cut into 32×32 sub-tiles of 2×2
// fragments, one per subgroup: WG = (BM/32)·(BN/32)·subgroup size, which the host sets
// only on an adapter whose subgroup size is fixed. (Cooperative-matrix operations must
// be in uniform control flow, so no subgroup may skip them.)
//
// Launch parameters are pipeline constants: BM and BN multiples of 32, BK a multiple
// of 16, and WG as above.

enable f16;
enable wgpu_cooperative_matrix;

struct Params {
    mp: u32,
    kp: u32,
    np: u32,
    unused: u32,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// Tests only (src/kernels/fault.rs), never set in a normal run, so the compiler drops
// it: FAULT 3 stores zeros for the subgroup's 32×32 tile if it holds C[FAULT_ROW,
// FAULT_COL], FAULT 4 stores nothing. Both conditions are uniform across a subgroup, as
// cooperative-matrix operations require.
override FAULT: u32 = 0u;
override FAULT_ROW: u32 = 0u;
override FAULT_COL: u32 = 0u;

override WG: u32 = 128u;
override BM: u32 = 64u;
override BN: u32 = 64u;
override BK: u32 = 32u;

// Padded row strides of the staged tiles, one stage's length, and both stages'.
override SA: u32 = BK + 8u;
override SB: u32 = BN + 8u;
override A_STAGE: u32 = BM * SA;
override B_STAGE: u32 = BK * SB;
override AS_LEN: u32 = 2u * A_STAGE;
override BS_LEN: u32 = 2u * B_STAGE;

var<workgroup> As: array<f16, AS_LEN>;
var<workgroup> Bs: array<f16, BS_LEN>;

// Copies the K step at k0 of this workgroup's tiles into `stage`. Consecutive
// invocations take consecutive quads along a row (coalesced loads); each loop runs a
// constant number of times, so the compiler can unroll it.
fn stage_tiles(stage: u32, t: u32, m0: u32, n0: u32, k0: u32) {
    let aq = BK / 4u;
    for (var j = 0u; j < (BM * aq + WG - 1u) / WG; j++) {
        let i = j * WG + t;
        if (i < BM * aq) {
            let r = i / aq;
            let q = i % aq;
            let v = a[((m0 + r) * p.kp + k0) / 4u + q];
            let at = stage * A_STAGE + r * SA + q * 4u;
            As[at] = v.x;
            As[at + 1u] = v.y;
            As[at + 2u] = v.z;
            As[at + 3u] = v.w;
        }
    }
    let bq = BN / 4u;
    for (var j = 0u; j < (BK * bq + WG - 1u) / WG; j++) {
        let i = j * WG + t;
        if (i < BK * bq) {
            let r = i / bq;
            let q = i % bq;
            let v = b[((k0 + r) * p.np + n0) / 4u + q];
            let at = stage * B_STAGE + r * SB + q * 4u;
            Bs[at] = v.x;
            Bs[at + 1u] = v.y;
            Bs[at + 2u] = v.z;
            Bs[at + 3u] = v.w;
        }
    }
}

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_size) sg_size: u32,
) {
    let sub = t / sg_size;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    let sr = (sub / (BN / 32u)) * 32u;
    let sc = (sub % (BN / 32u)) * 32u;
    let steps = p.kp / BK;
    var c00 = coop_mat16x16<f32, C>();
    var c01 = coop_mat16x16<f32, C>();
    var c10 = coop_mat16x16<f32, C>();
    var c11 = coop_mat16x16<f32, C>();

    stage_tiles(0u, t, m0, n0, 0u);
    workgroupBarrier();
    for (var step = 0u; step < steps; step++) {
        let cur = step % 2u;
        // The other stage was last read in the previous step, before its barrier.
        if (step + 1u < steps) {
            stage_tiles(1u - cur, t, m0, n0, (step + 1u) * BK);
        }
        let ab = cur * A_STAGE + sr * SA;
        let bb = cur * B_STAGE + sc;
        for (var kk = 0u; kk < BK; kk += 16u) {
            let a0 = coopLoadT<coop_mat16x16<f16, A>>(&As[ab + kk], SA);
            let a1 = coopLoadT<coop_mat16x16<f16, A>>(&As[ab + 16u * SA + kk], SA);
            let b0 = coopLoadT<coop_mat16x16<f16, B>>(&Bs[bb + kk * SB], SB);
            let b1 = coopLoadT<coop_mat16x16<f16, B>>(&Bs[bb + kk * SB + 16u], SB);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
        }
        workgroupBarrier();
    }

    if (FAULT == 3u && m0 + sr == FAULT_ROW / 32u * 32u && n0 + sc == FAULT_COL / 32u * 32u) {
        c00 = coop_mat16x16<f32, C>();
        c01 = coop_mat16x16<f32, C>();
        c10 = coop_mat16x16<f32, C>();
        c11 = coop_mat16x16<f32, C>();
    }
    if (FAULT == 4u) {
        return;
    }
    // Operands bound with `let` first: naga 30's SPIR-V writer needs every operand of
    // coopStore emitted before the store (see matmul_f16.wgsl).
    let np = p.np;
    let r00 = c00;
    let r01 = c01;
    let r10 = c10;
    let r11 = c11;
    let o00 = (m0 + sr) * np + n0 + sc;
    let o01 = o00 + 16u;
    let o10 = o00 + 16u * np;
    let o11 = o10 + 16u;
    coopStoreT(r00, &c[o00], np);
    coopStoreT(r01, &c[o01], np);
    coopStoreT(r10, &c[o10], np);
    coopStoreT(r11, &c[o11], np);
}
