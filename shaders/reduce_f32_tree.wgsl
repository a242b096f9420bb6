// reduce-f32's entry point where the workgroup combines its values in workgroup memory
// (any adapter). Follows `reduce_f32.wgsl`.

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    if (FAULT == 4u) {
        return;
    }
    partial[t] = own(wid.x, t, groups.x);
    workgroupBarrier();
    tree(t, WG);
    if (t == 0u) {
        write(wid.x);
    }
}
