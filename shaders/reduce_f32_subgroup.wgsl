// reduce-f32 with subgroup shuffles: the same sum in the same kind of fixed order as
// reduce_f32.wgsl, for adapters with subgroups (Features::SUBGROUP).
//
// Bindings (group 0): 0 input as vec4<f32> (read; zero-padded to whole vec4s),
// 1 output (read_write; one f32 per workgroup), 2 uniform {n4: vec4 count}.
//
// Per invocation: the same grid-stride loop of vec4 loads and (x+y)+(z+w). Then, instead
// of log2(WG) barrier-separated tree levels in workgroup memory, a butterfly of
// subgroupShuffleXor within each subgroup (log2(subgroup size) levels, no barriers;
// lanes i and i^d add the same two values, so every lane holds the same sum), and a
// tree over the subgroups' partials in workgroup memory. For a given subgroup size the
// order is fixed, so runs on one device are bitwise equal; the deepest path is still
// log2(WG) additions, so the host's bound is the same as for the workgroup tree.

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

// One slot per subgroup; WG slots covers any subgroup size.
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg_size: u32,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(num_subgroups) n_sub: u32,
) {
    let stride = groups.x * WG;
    var acc = vec4<f32>();
    for (var i = wid.x * WG + lid; i < p.n4; i += stride) {
        acc += x[i];
    }
    var v = (acc.x + acc.y) + (acc.z + acc.w);
    for (var d = sg_size / 2u; d > 0u; d >>= 1u) {
        v += subgroupShuffleXor(v, d);
    }
    if (lane == 0u) {
        partial[sg_id] = v;
    }
    workgroupBarrier();
    for (var s = n_sub / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        out[wid.x] = partial[0];
    }
}
