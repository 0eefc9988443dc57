// reduce_segment with subgroup operations. Within a subgroup, a butterfly of
// shuffles (no barriers, no memory) reduces each segment of up to subgroup-size
// invocations, since an xor with a mask below the segment length never leaves
// an aligned segment. Segments wider than a subgroup then combine their
// subgroups' results in workgroup memory: with NVIDIA's 32-wide subgroups a
// whole 256-invocation workgroup takes 3 barrier levels instead of 8. The
// subgroup size is read at run time (8 on lavapipe, 32 on NVIDIA, up to 128
// elsewhere), never assumed; APIs guarantee a power of two. Same contract as
// reduce_workgroup.wgsl. sg_size comes straight from the entry point's
// subgroup_size builtin as a parameter: WGSL (and Tint's uniformity analysis)
// know that value is uniform, so the loops it bounds may hold barriers; a copy
// in a var<private> would not be.

var<workgroup> scratch: array<vec4<f32>, WG>;

fn reduce_segment(v: vec4<f32>, lid: u32, seg: u32, sg_size: u32, sg_lid: u32) -> vec4<f32> {
    var r = v;
    for (var mask = min(seg, sg_size) / 2u; mask > 0u; mask = mask / 2u) {
        r = combine(r, subgroupShuffleXor(r, mask));
    }
    // Subgroups cover consecutive local_invocation_index ranges for 1-D
    // workgroups (Vulkan, Metal, D3D12 all lay them out this way).
    let per_seg = max(seg / sg_size, 1u); // subgroups per segment
    if sg_lid == 0u {
        scratch[lid / sg_size] = r;
    }
    workgroupBarrier();
    for (var stride = per_seg / 2u; stride > 0u; stride = stride / 2u) {
        if lid < WG / sg_size && (lid % per_seg) < stride {
            scratch[lid] = combine(scratch[lid], scratch[lid + stride]);
        }
        workgroupBarrier();
    }
    let total = select(r, scratch[(lid / sg_size) / per_seg * per_seg], seg > sg_size);
    workgroupBarrier();
    return total;
}
