// reduce_segment for devices without subgroups: the workgroup is cut into
// segments of `seg` consecutive invocations (a power of two dividing WG; one
// segment per row), and each segment is reduced by a tree in workgroup memory,
// log2(seg) levels, each behind a barrier. Needs WG, vec4 stats and `combine`
// from the including shader. Every invocation must call it with the same `seg`
// (it holds barriers); each gets its own segment's result. The subgroup
// arguments are unused here (the subgroup variant's signature).

var<workgroup> scratch: array<vec4<f32>, WG>;

fn reduce_segment(v: vec4<f32>, lid: u32, seg: u32, sg_size: u32, sg_lid: u32) -> vec4<f32> {
    scratch[lid] = v;
    workgroupBarrier();
    for (var stride = seg / 2u; stride > 0u; stride = stride / 2u) {
        if (lid % seg) < stride {
            scratch[lid] = combine(scratch[lid], scratch[lid + stride]);
        }
        workgroupBarrier();
    }
    let r = scratch[lid - lid % seg];
    workgroupBarrier(); // scratch is written again by the next reduction
    return r;
}
