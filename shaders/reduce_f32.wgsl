// Sum of f32 values in a fixed order, so repeated runs on one device are bitwise equal.
//
// Bindings (group 0): 0 input as vec4<f32> (read; the host zero-pads to a multiple of 4),
// 1 output (read_write; one f32 per workgroup), 2 uniform {n4: vec4 count}.
//
// The same entry point runs twice: pass 1 with G workgroups writes G partial sums,
// pass 2 with one workgroup sums those. Per invocation: a grid-stride loop of vec4
// loads (coalesced: neighbouring invocations read neighbouring vec4s) accumulated in
// order, the four lanes combined as (x+y)+(z+w), then a fixed binary tree in workgroup
// memory. Every path's additions are counted on the host for the error bound.

override WG: u32 = 256u;

struct Params {
    n4: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let stride = groups.x * WG;
    var acc = vec4<f32>();
    for (var i = wid.x * WG + lid; i < p.n4; i += stride) {
        acc += x[i];
    }
    partial[lid] = (acc.x + acc.y) + (acc.z + acc.w);
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        out[wid.x] = partial[0];
    }
}
