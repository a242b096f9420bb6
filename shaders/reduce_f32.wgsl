// Sum of f32 values in a fixed order: the same bits on every correct device for a given
// launch configuration (WG and the number of workgroups), because IEEE addition is
// correctly rounded and the order is fully defined. The host simulates it bit for bit
// (src/kernels/reduce_f32.rs).
//
// The host compiles this body before one of two entry points, which differ only in how
// the workgroup combines its invocations' values: `reduce_f32_tree.wgsl` (workgroup
// memory) or `reduce_f32_subgroup.wgsl` (subgroup shuffles, then workgroup memory). Both
// give the same bits.
//
// Bindings (group 0): 0 input as vec4<f32> (read), 1 output (read_write; one f32 per
// workgroup), 2 uniform {n4: vec4 count, n: value count}.
//
// The same entry point runs twice: pass 1 with G workgroups writes G partial sums,
// pass 2 with one workgroup sums those. Invocation v of workgroup w adds the vec4s
// w·WG + v + j·G·WG in order, lane by lane (lanes at or past n count as +0), then
// combines its lanes as (x + y) + (z + w). The workgroup then adds its WG values as a
// tree that adds neighbours first: at level s = 1, 2, 4, ..., value v + s is added to
// value v for every v that is a multiple of 2s.

override WG: u32 = 256u;

// Tests only (src/kernels/fault.rs), never set in a normal run, so the compiler drops
// it: FAULT 1 writes every partial (and the sum) as 0, 2 skips the input's last vec4,
// 4 writes nothing.
override FAULT: u32 = 0u;
override FAULT_ROW: u32 = 0u;
override FAULT_COL: u32 = 0u;

struct Params {
    n4: u32,
    n: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// One slot per invocation (or per subgroup).
var<workgroup> partial: array<f32, WG>;

// Vec4 i, with the lanes at or past n as +0.
fn load(i: u32) -> vec4<f32> {
    let q = x[i];
    if (4u * i + 4u <= p.n) {
        return q;
    }
    let lane = vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
    return select(vec4<f32>(), q, lane < vec4<u32>(p.n));
}

// Invocation v's value in workgroup w of `groups`.
fn own(w: u32, v: u32, groups: u32) -> f32 {
    var n4 = p.n4;
    if (FAULT == 2u) {
        n4 = n4 - 1u;
    }
    var acc = vec4<f32>();
    for (var i = w * WG + v; i < n4; i += groups * WG) {
        acc += load(i);
    }
    return (acc.x + acc.y) + (acc.z + acc.w);
}

// partial[0..count) added into partial[0], neighbours first. `t` is this invocation.
fn tree(t: u32, count: u32) {
    for (var s = 1u; s < count; s <<= 1u) {
        if (t % (2u * s) == 0u && t + s < count) {
            partial[t] += partial[t + s];
        }
        workgroupBarrier();
    }
}

fn write(w: u32) {
    if (FAULT == 1u) {
        out[w] = 0.0;
    } else {
        out[w] = partial[0];
    }
}
