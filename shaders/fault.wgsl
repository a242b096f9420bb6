// Tests only: plants a wrong value into a kernel's result on the GPU, dispatched right
// after the kernel in the same pass, so the checks are proven against corruption of
// the GPU's own output (see src/kernels/fault.rs). Never compiled in a normal run.
//
// Bindings (group 0): 0 the result, as words (read_write), from word BASE on (a result
// larger than a storage binding is bound as the window around the planted words).
// Element (r, c) is word r·STRIDE + c; the host plants only inside the result's
// ROWS×COLS.

// 1: VALUE added to (ROW, COL) as f32; 2: the same in wrapping u32; 3: MASK flipped in
// (ROW, COL) and (ROW, COL2); 4: row ROW overwritten with zeros.
override OP: u32 = 0u;
override ROW: u32 = 0u;
override COL: u32 = 0u;
override COL2: u32 = 0u;
override STRIDE: u32 = 1u;
override COLS: u32 = 1u;
override VALUE: f32 = 0.0;
override MASK: u32 = 0u;
// VALUE as a u32 addend, wrapped (a negative VALUE subtracts).
override ADD: u32 = 0u;
override BASE: u32 = 0u;

@group(0) @binding(0) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let at = ROW * STRIDE - BASE;
    if (OP == 1u && gid.x == 0u) {
        out[at + COL] = bitcast<u32>(bitcast<f32>(out[at + COL]) + VALUE);
    }
    if (OP == 2u && gid.x == 0u) {
        out[at + COL] = out[at + COL] + ADD;
    }
    if (OP == 3u && gid.x == 0u) {
        out[at + COL] = out[at + COL] ^ MASK;
    }
    if (OP == 3u && gid.x == 1u) {
        out[at + COL2] = out[at + COL2] ^ MASK;
    }
    if (OP == 4u) {
        for (var c = gid.x; c < COLS; c += groups.x * 64u) {
            out[at + c] = 0u;
        }
    }
}
