// The tiled matmul's I/O for any shape: element by element, each guarded.

@group(0) @binding(0) var<storage, read> a: array<Elem>;
@group(0) @binding(1) var<storage, read> b: array<Elem>;
@group(0) @binding(2) var<storage, read_write> c: array<Elem>;

fn a_at(row: u32, col: u32) -> Elem {
    if (row < p.m && col < p.k) {
        return a[row * p.k + col];
    }
    return Elem(0);
}

fn b_at(row: u32, col: u32) -> Elem {
    if (row < p.k && col < p.n) {
        return b[row * p.n + col];
    }
    return Elem(0);
}

// A's BM×BK tile at (m0, k0) into the stage at As[base..]: each step loads four rows
// of one column and stores them as one vec4. Consecutive invocations take consecutive
// columns of a row.
fn stage_a(t: u32, m0: u32, k0: u32, base: u32) {
    for (var j = 0u; j < (A_STAGE + THREADS - 1u) / THREADS; j++) {
        let i = j * THREADS + t;
        if (i < A_STAGE) {
            let kk = i % BK;
            let q = i / BK;
            let row = m0 + q * 4u;
            let k = k0 + kk;
            As[base + kk * BM4 + q] = reduced(vec4<Elem>(a_at(row, k), a_at(row + 1u, k), a_at(row + 2u, k), a_at(row + 3u, k)));
        }
    }
}

// B[k, col..col+3].
fn load_b4(k: u32, col: u32) -> vec4<Elem> {
    return vec4<Elem>(b_at(k, col), b_at(k, col + 1u), b_at(k, col + 2u), b_at(k, col + 3u));
}

// C[row, col..col+3] = v, the part inside C.
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
