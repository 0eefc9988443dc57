// multiply: elementwise product of two arrays of the same shape.
//
// Algorithm: one vec4 per invocation, 64 invocations per workgroup, windows and
// 2-D grid as in unary.wgsl. Bindings: 0 = a (read), 1 = b (read),
// 2 = out (read_write), all padded to whole vec4s. f32 multiplication is
// correctly rounded in WGSL, so results equal the CPU's bit for bit.

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn multiply(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    if i >= arrayLength(&out) {
        return;
    }
    out[i] = a[i] * b[i];
}
