// sigmoid and sigmoid_derivative, elementwise.
//
// Algorithm: one vec4 per invocation, 64 invocations per workgroup; the host
// binds at most one storage binding's worth of elements per dispatch (a window)
// and folds workgroup counts past 65,535 into a 2-D grid (src/gpu/runtime.rs).
// Bindings: 0 = x (read), 1 = out (read_write); both padded to whole vec4s,
// and `arrayLength(&out)` is the number of vec4s in this window.
//
// Numerics: both use e = exp(-|x|), which lies in [0, 1], so nothing overflows:
//   sigmoid(x)            = 1 / (1 + e)     for x >= 0,   e / (1 + e)  for x < 0
//   sigmoid_derivative(x) = e / (1 + e)^2   (= s(1 - s), without its cancellation)
// WGSL lets implementations assume no inf or NaN occur, so neither takes part in
// arithmetic: |x| and the sign come from the bits, |x| is capped at 128 (e^-128
// is 0 in f32, so +-inf gives exactly what a large finite x gives), and a NaN,
// found from its bits, is passed through as the result. Results below 2^-126
// (x < -87.3) may be flushed to 0 where the device flushes subnormals.

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

const WORKGROUP: u32 = 64u;
const ABS_BITS: u32 = 0x7fffffffu;
const INF_BITS: u32 = 0x7f800000u;

// e^-|v|, with |v| capped at 128.
fn exp_neg_abs(bits: vec4<u32>) -> vec4<f32> {
    return exp(-min(bitcast<vec4<f32>>(bits & vec4<u32>(ABS_BITS)), vec4<f32>(128.0)));
}

fn is_nan(bits: vec4<u32>) -> vec4<bool> {
    return (bits & vec4<u32>(ABS_BITS)) > vec4<u32>(INF_BITS);
}

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
    let bits = bitcast<vec4<u32>>(v);
    let e = exp_neg_abs(bits);
    let non_negative = (bits >> vec4<u32>(31u)) == vec4<u32>(0u);
    let s = select(e / (1.0 + e), 1.0 / (1.0 + e), non_negative);
    out[i] = select(s, v, is_nan(bits));
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
    let v = x[i];
    let bits = bitcast<vec4<u32>>(v);
    let e = exp_neg_abs(bits);
    let d = 1.0 + e;
    out[i] = select(e / (d * d), v, is_nan(bits));
}
