// One unary elementwise op: out = op(x), four values per invocation.
//
// The host generates one module per op (src/gpu/kernels.rs `unary_source`):
// this text with OP_FN replaced by the op's function name, then
// shaders/shared/elementwise.wgsl, then the op's function from its definition
// (src/unary/<op>.rs). A fused chain of ops would nest the calls here.
//
// Algorithm: one vec4 per invocation (16 bytes: the access width that
// coalesces on every vendor), 64 invocations per workgroup; the host binds at
// most one storage binding's worth of elements per dispatch (a window) and
// folds workgroup counts past 65,535 into a 2-D grid (src/gpu/runtime.rs).
// Bindings: 0 = x (read), 1 = out (read_write); both padded to whole vec4s,
// and `arrayLength(&out)` is the number of vec4s in this window.

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn unary(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    if i >= arrayLength(&out) {
        return;
    }
    out[i] = OP_FN(x[i]);
}
