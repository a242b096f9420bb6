// reduce-f32's entry point with subgroup shuffles (adapters with Features::SUBGROUP).
// Follows `reduce_f32.wgsl` and gives the same bits as the workgroup-memory tree.
//
// The invocation's place in the order is v = subgroup id · subgroup size + lane, not
// its local index, so the order does not depend on how the adapter maps invocations to
// subgroups. The first log2(S) levels of the tree (S the subgroup size) are a butterfly
// of subgroupShuffleXor with distances 1, 2, 4, ...: at distance d, lanes v and v ^ d
// add the same two values (addition commutes), so every lane holds its block's sum,
// exactly the tree's value at level d. Lane 0 writes its subgroup's sum, and the tree
// continues over the subgroups in workgroup memory. The order needs full subgroups of
// one power-of-two size; on an adapter where they are not, the result is NaN, a failed
// check, never a silent pass.

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg_size: u32,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(num_subgroups) n_sub: u32,
) {
    if (FAULT == 4u) {
        return;
    }
    var v = own(wid.x, sg_id * sg_size + lane, groups.x);
    for (var d = 1u; d < sg_size; d <<= 1u) {
        v += subgroupShuffleXor(v, d);
    }
    if (sg_size * n_sub != WG || (sg_size & (sg_size - 1u)) != 0u) {
        v = bitcast<f32>(0x7fc00000u);
    }
    if (lane == 0u) {
        partial[sg_id] = v;
    }
    workgroupBarrier();
    tree(t, n_sub);
    if (t == 0u) {
        write(wid.x);
    }
}
