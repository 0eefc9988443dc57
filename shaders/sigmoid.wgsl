// sigmoid and sigmoid_derivative, elementwise.
//
// Algorithm: one vec4 per invocation, 64 invocations per workgroup; the host
// binds at most one storage binding's worth of elements per dispatch (a window)
// and folds workgroup counts past 65,535 into a 2-D grid (src/gpu/runtime.rs).
// Bindings: 0 = x (read), 1 = out (read_write); both padded to whole vec4s,
// and `arrayLength(&out)` is the number of vec4s in this window.
//
// Numerics: both use e = exp(-|x|), which lies in [0, 1], so nothing overflows
// and nothing relies on inf arithmetic (WGSL lets implementations assume no inf
// or NaN occur):
//   sigmoid(x)            = 1 / (1 + e)     for x >= 0,   e / (1 + e)  for x < 0
//   sigmoid_derivative(x) = e / (1 + e)^2   (= s(1 - s), without its cancellation)
// A NaN input fails `x >= 0` and flows through exp into the result as NaN.

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

const WORKGROUP: u32 = 64u;

fn linear_id(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * WORKGROUP + lid;
}

@compute @workgroup_size(64)
fn sigmoid(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_id(wg, nwg, lid);
    if i >= arrayLength(&out) {
        return;
    }
    let v = x[i];
    let e = exp(-abs(v));
    out[i] = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= vec4<f32>(0.0));
}

@compute @workgroup_size(64)
fn sigmoid_derivative(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_id(wg, nwg, lid);
    if i >= arrayLength(&out) {
        return;
    }
    let e = exp(-abs(x[i]));
    let d = 1.0 + e;
    out[i] = e / (d * d);
}
