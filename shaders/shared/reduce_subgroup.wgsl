// reduce_workgroup with subgroup operations: a butterfly of shuffles inside each
// subgroup (no barriers, no memory), then a tree over the WG / subgroup_size
// subgroup results in workgroup memory: 3 barrier levels instead of 8 with
// NVIDIA's 32-wide subgroups. The subgroup size is read at run time (8 on
// lavapipe, 32 on NVIDIA, up to 64 or 128 elsewhere), never assumed; it must be
// a power of two, which every API guarantees. Same contract as
// reduce_workgroup.wgsl.

var<workgroup> scratch: array<vec2<f32>, WG>;
var<private> sg_size: u32;
var<private> sg_lid: u32;

fn reduce_workgroup(v: vec2<f32>, lid: u32) -> vec2<f32> {
    var r = v;
    for (var mask = sg_size / 2u; mask > 0u; mask = mask / 2u) {
        r = combine(r, subgroupShuffleXor(r, mask));
    }
    // Subgroups cover consecutive local_invocation_index ranges for 1-D
    // workgroups (Vulkan, Metal, D3D12 all lay them out this way).
    let groups = WG / sg_size;
    if sg_lid == 0u {
        scratch[lid / sg_size] = r;
    }
    workgroupBarrier();
    for (var stride = groups / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            scratch[lid] = combine(scratch[lid], scratch[lid + stride]);
        }
        workgroupBarrier();
    }
    let total = scratch[0];
    workgroupBarrier();
    return total;
}
