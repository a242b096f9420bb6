// Fills a buffer with POISON (a NaN as f32), so that an output a kernel never writes
// reads back as NaN, not as zeros or an earlier run's result (see src/kernels/fault.rs).
//
// Bindings (group 0): 0 the buffer, as words (read_write).

override POISON: u32 = 0x7ff0deadu;

@group(0) @binding(0) var<storage, read_write> buf: array<u32>;

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let len = arrayLength(&buf);
    for (var i = gid.x; i < len; i += groups.x * 256u) {
        buf[i] = POISON;
    }
}
