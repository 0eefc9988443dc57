// reduce_workgroup for devices without subgroups: a tree over workgroup memory,
// log2(WG) levels, each behind a barrier. Needs WG, vec2 stats and `combine`
// from the including shader. Every invocation must call it (it holds barriers);
// all of them get the result.

var<workgroup> scratch: array<vec2<f32>, WG>;

fn reduce_workgroup(v: vec2<f32>, lid: u32) -> vec2<f32> {
    scratch[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            scratch[lid] = combine(scratch[lid], scratch[lid + stride]);
        }
        workgroupBarrier();
    }
    let r = scratch[0];
    workgroupBarrier(); // scratch is written again by the next reduction
    return r;
}
