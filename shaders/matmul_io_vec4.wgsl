// The tiled matmul's I/O when K and N are multiples of 4 (the host's condition for this
// file): every quad the body asks for starts at a multiple of 4 and lies wholly inside
// or wholly outside its matrix, so one guarded 16-byte access moves it.

@group(0) @binding(0) var<storage, read> a: array<vec4<Elem>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<Elem>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<Elem>>;

// A[row, k..k+3].
fn load_a4(row: u32, k: u32) -> vec4<Elem> {
    if (row < p.m && k < p.k) {
        return a[(row * p.k + k) / 4u];
    }
    return vec4<Elem>();
}

// A's BM×BK tile at (m0, k0) into the stage at As[base..]: each step loads a 4×4 block
// as four row quads, transposes it in registers and stores four whole tile-column
// vec4s. Consecutive invocations take consecutive quads along a row of A (coalesced
// loads).
fn stage_a(t: u32, m0: u32, k0: u32, base: u32) {
    let k4s = BK / 4u;
    let blocks = BM4 * k4s;
    for (var j = 0u; j < (blocks + THREADS - 1u) / THREADS; j++) {
        let i = j * THREADS + t;
        if (i < blocks) {
            let q = i / k4s;
            let kq = i % k4s;
            let row = m0 + q * 4u;
            let k = k0 + kq * 4u;
            let x0 = load_a4(row, k);
            let x1 = load_a4(row + 1u, k);
            let x2 = load_a4(row + 2u, k);
            let x3 = load_a4(row + 3u, k);
            let at = base + kq * 4u * BM4 + q;
            As[at] = reduced(vec4<Elem>(x0.x, x1.x, x2.x, x3.x));
            As[at + BM4] = reduced(vec4<Elem>(x0.y, x1.y, x2.y, x3.y));
            As[at + 2u * BM4] = reduced(vec4<Elem>(x0.z, x1.z, x2.z, x3.z));
            As[at + 3u * BM4] = reduced(vec4<Elem>(x0.w, x1.w, x2.w, x3.w));
        }
    }
}

// B[k, col..col+3].
fn load_b4(k: u32, col: u32) -> vec4<Elem> {
    if (k < p.k && col < p.n) {
        return b[(k * p.n + col) / 4u];
    }
    return vec4<Elem>();
}

// C[row, col..col+3] = v.
fn store4(row: u32, col: u32, v: vec4<Elem>) {
    if (row < p.m && col < p.n) {
        c[(row * p.n + col) / 4u] = v;
    }
}
