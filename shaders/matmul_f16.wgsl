// C = A·B with f16 A and B and f32 accumulation, on cooperative matrices (tensor cores).
//
// Bindings (group 0): 0 A (f16, read), 1 B (f16, read), 2 C (f32, read_write),
// 3 uniform {mp, kp, np, tiles_n}. The host zero-pads A to mp×kp and B to kp×np with
// mp, np multiples of 32 and kp a multiple of 16, so every fragment load and store is in
// range and the padding adds exact zeros; it reads back the m×n corner of C.
//
// Each subgroup computes 32×32 tiles of C (2×2 fragments of 16×16) in a grid-stride
// loop over tiles, so any subgroup size (several subgroups per workgroup) covers C.

enable f16;
enable wgpu_cooperative_matrix;

struct Params {
    mp: u32,
    kp: u32,
    np: u32,
    tiles_n: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f16>;
@group(0) @binding(1) var<storage, read> b: array<f16>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// Tests only (src/kernels/fault.rs), never set in a normal run, so the compiler drops
// it: FAULT 3 stores zeros for the subgroup's 32×32 tile if it holds C[FAULT_ROW,
// FAULT_COL], FAULT 4 stores nothing. Both conditions are uniform across a subgroup, as
// cooperative-matrix operations require.
override FAULT: u32 = 0u;
override FAULT_ROW: u32 = 0u;
override FAULT_COL: u32 = 0u;

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(subgroup_size) sg_size: u32,
) {
    let per_group = 64u / sg_size;
    let sub = lid / sg_size;
    let total = groups.x * per_group;
    let tiles = (p.mp / 32u) * p.tiles_n;
    for (var t = wid.x * per_group + sub; t < tiles; t += total) {
        let row0 = (t / p.tiles_n) * 32u;
        let col0 = (t % p.tiles_n) * 32u;
        var c00 = coop_mat16x16<f32, C>();
        var c01 = coop_mat16x16<f32, C>();
        var c10 = coop_mat16x16<f32, C>();
        var c11 = coop_mat16x16<f32, C>();
        for (var k = 0u; k < p.kp; k += 16u) {
            let a0 = coopLoadT<coop_mat16x16<f16, A>>(&a[row0 * p.kp + k], p.kp);
            let a1 = coopLoadT<coop_mat16x16<f16, A>>(&a[(row0 + 16u) * p.kp + k], p.kp);
            let b0 = coopLoadT<coop_mat16x16<f16, B>>(&b[k * p.np + col0], p.np);
            let b1 = coopLoadT<coop_mat16x16<f16, B>>(&b[k * p.np + col0 + 16u], p.np);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
        }
        if (FAULT == 3u && row0 == FAULT_ROW / 32u * 32u && col0 == FAULT_COL / 32u * 32u) {
            c00 = coop_mat16x16<f32, C>();
            c01 = coop_mat16x16<f32, C>();
            c10 = coop_mat16x16<f32, C>();
            c11 = coop_mat16x16<f32, C>();
        }
        if (FAULT == 4u) {
            continue;
        }
        // Values, offsets and stride bound with `let` so they are evaluated before the
        // stores: naga 30's SPIR-V writer needs every operand of coopStore emitted
        // beforehand, and an expression written inside the call is not (the validator
        // accepts it; the SPIR-V backend panics).
        let np = p.np;
        let r00 = c00;
        let r01 = c01;
        let r10 = c10;
        let r11 = c11;
        let o00 = row0 * np + col0;
        let o01 = o00 + 16u;
        let o10 = o00 + 16u * np;
        let o11 = o10 + 16u;
        coopStoreT(r00, &c[o00], np);
        coopStoreT(r01, &c[o01], np);
        coopStoreT(r10, &c[o10], np);
        coopStoreT(r11, &c[o11], np);
    }
}
