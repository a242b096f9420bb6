// C = A·B, row-major. A is M×K, B is K×N, C is M×N.
//
// Bindings (group 0): 0 A (read), 1 B (read), 2 C (read_write), 3 uniform {m, k, n}.
// Element type: `Elem`. The f32 kernel compiles this file as it is; the u32 kernel
// compiles it with `alias Elem = u32;` (WGSL's u32 `*` and `+` wrap, so that product is
// exact modulo 2^32).
//
// Tiling: a 16×16 workgroup computes a 128×128 tile of C, stepping K by 8 through
// workgroup memory. Each invocation owns an 8×8 register tile: rows ty*4+{0..3} and
// 64+ty*4+{0..3}, columns tx*4+{0..3} and 64+tx*4+{0..3}, so neighbouring invocations
// read neighbouring vec4s of the tiles. The accumulators are sixteen named vec4s, not an
// indexed array: under naga's bounds checks an indexed local array leaves registers.
// Every global access is guarded by the shape, so no index is ever out of range and the
// host may compile this kernel without runtime checks.

alias Elem = f32;

struct Params {
    m: u32,
    k: u32,
    n: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<Elem>;
@group(0) @binding(1) var<storage, read> b: array<Elem>;
@group(0) @binding(2) var<storage, read_write> c: array<Elem>;
@group(0) @binding(3) var<uniform> p: Params;

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 8u;

// [BK][BM/4] and [BK][BN/4]: tile column kk, vec4 q holds rows (cols) 4q..4q+3.
var<workgroup> As: array<vec4<Elem>, 256>;
var<workgroup> Bs: array<vec4<Elem>, 256>;

fn load_a(row: u32, col: u32) -> Elem {
    if (row < p.m && col < p.k) {
        return a[row * p.k + col];
    }
    return Elem(0);
}

fn load_b(row: u32, col: u32) -> Elem {
    if (row < p.k && col < p.n) {
        return b[row * p.n + col];
    }
    return Elem(0);
}

fn store4(row: u32, col: u32, v: vec4<Elem>) {
    if (row >= p.m) {
        return;
    }
    let base = row * p.n;
    if (col < p.n) { c[base + col] = v.x; }
    if (col + 1u < p.n) { c[base + col + 1u] = v.y; }
    if (col + 2u < p.n) { c[base + col + 2u] = v.z; }
    if (col + 3u < p.n) { c[base + col + 3u] = v.w; }
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * 16u + tx;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;

    // Loader roles: A as 8 k-columns × 32 row-quads, B as 8 k-rows × 32 column-quads.
    let a_k = t % 8u;
    let a_q = t / 8u;
    let b_k = t / 32u;
    let b_q = t % 32u;

    var c00 = vec4<Elem>(); var c01 = vec4<Elem>();
    var c10 = vec4<Elem>(); var c11 = vec4<Elem>();
    var c20 = vec4<Elem>(); var c21 = vec4<Elem>();
    var c30 = vec4<Elem>(); var c31 = vec4<Elem>();
    var c40 = vec4<Elem>(); var c41 = vec4<Elem>();
    var c50 = vec4<Elem>(); var c51 = vec4<Elem>();
    var c60 = vec4<Elem>(); var c61 = vec4<Elem>();
    var c70 = vec4<Elem>(); var c71 = vec4<Elem>();

    let tiles = (p.k + BK - 1u) / BK;
    for (var tile = 0u; tile < tiles; tile++) {
        let k0 = tile * BK;
        let ar = m0 + a_q * 4u;
        As[a_k * 32u + a_q] = vec4<Elem>(
            load_a(ar, k0 + a_k),
            load_a(ar + 1u, k0 + a_k),
            load_a(ar + 2u, k0 + a_k),
            load_a(ar + 3u, k0 + a_k),
        );
        let bc = n0 + b_q * 4u;
        Bs[b_k * 32u + b_q] = vec4<Elem>(
            load_b(k0 + b_k, bc),
            load_b(k0 + b_k, bc + 1u),
            load_b(k0 + b_k, bc + 2u),
            load_b(k0 + b_k, bc + 3u),
        );
        workgroupBarrier();

        for (var kk = 0u; kk < BK; kk++) {
            let a0 = As[kk * 32u + ty];
            let a1 = As[kk * 32u + 16u + ty];
            let b0 = Bs[kk * 32u + tx];
            let b1 = Bs[kk * 32u + 16u + tx];
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
    }

    let r0 = m0 + ty * 4u;
    let r1 = m0 + 64u + ty * 4u;
    let q0 = n0 + tx * 4u;
    let q1 = n0 + 64u + tx * 4u;
    store4(r0, q0, c00); store4(r0, q1, c01);
    store4(r0 + 1u, q0, c10); store4(r0 + 1u, q1, c11);
    store4(r0 + 2u, q0, c20); store4(r0 + 2u, q1, c21);
    store4(r0 + 3u, q0, c30); store4(r0 + 3u, q1, c31);
    store4(r1, q0, c40); store4(r1, q1, c41);
    store4(r1 + 1u, q0, c50); store4(r1 + 1u, q1, c51);
    store4(r1 + 2u, q0, c60); store4(r1 + 2u, q1, c61);
    store4(r1 + 3u, q0, c70); store4(r1 + 3u, q1, c71);
}
