// Yardsticks for `gpu-basics bench`: kernels that only read memory, or only
// multiply-add, so that every op's figure can be read as a fraction of what
// this device does at best, measured in the same run (src/gpu/yardsticks.rs).
// Neither is an op: their results are thrown away. Each writes its sum only
// where the sum equals `p.never`, which the host makes impossible, so that no
// compiler can drop the work and almost nothing is written.
//
// read_all: every vec4 of `src` read once. Invocation g reads vec4s g, g + S,
//   g + 2 S, ... (S = the grid's invocations): neighbouring invocations read
//   neighbouring vec4s (coalesced), two loads in flight per step. src holds
//   whatever its pooled buffer held: a sum equal to never (-1) costs one write.
// fma_chains: 16 independent chains of vec4 multiply-adds per invocation, each
//   step 64 scalar fmas (128 flops), `p.iters` steps. x -> fma(x, 0.999, 0.001)
//   stays within [0, 1] and normal from any start in it, so no flush to zero
//   or overflow changes the rate; mul and add come from the uniform, so they
//   cannot be folded. The sum is positive and never = -1.
//
// Workgroups: a 1-D count laid out by the host as a 2-D grid; the linear id is
// rebuilt from it. Bounds: src[i] only for i < p.n4 = arrayLength of src's
// binding in vec4s (the host binds exactly that); dst[0] only.

// Rust twin: YardstickParams in src/gpu/yardsticks.rs (keep in sync).
struct Params {
    n4: u32,     // read_all: vec4s in src
    iters: u32,  // fma_chains: steps per invocation
    never: f32,  // a value no sum takes
    mul: f32,    // fma_chains: x -> fma(x, mul, add)
    add: f32,
    groups: u32, // fma_chains: workgroups with work (the grid may hold more)
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn read_all(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let stride = nwg.x * nwg.y * 256u;
    var i = (wg.x + wg.y * nwg.x) * 256u + lid;
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    for (; i + stride < p.n4; i += 2u * stride) {
        s0 += src[i];
        s1 += src[i + stride];
    }
    if i < p.n4 {
        s0 += src[i];
    }
    let s = s0 + s1;
    if s.x + s.y + s.z + s.w == p.never {
        dst[0] = s;
    }
}

@compute @workgroup_size(256)
fn fma_chains(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let group = wg.x + wg.y * nwg.x;
    if group >= p.groups {
        return;
    }
    let id = group * 256u + lid;
    // Starts in [0, 1), different per chain and invocation.
    let x0 = f32(id % 1024u) / 1024.0;
/*CHAINS*/
    if sum.x + sum.y + sum.z + sum.w == p.never {
        dst[0] = sum;
    }
}
