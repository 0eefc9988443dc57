// Helpers for the unary ops' functions (src/unary/*.rs, `op_<name>`), appended
// to every module generated from shaders/unary.wgsl.
//
// WGSL lets an implementation assume that no value is NaN or infinite (and
// fold `x != x` to false), and flush subnormals. So the ops read special values
// from the bits, compare magnitudes as integers (for non-negative floats, the
// order of the bit patterns is the order of the values, and NaN's patterns lie
// above +inf's), and let no NaN or inf take part in arithmetic.

const ABS_BITS: u32 = 0x7fffffffu;
const SIGN_BITS: u32 = 0x80000000u;
const INF_BITS: u32 = 0x7f800000u;

fn is_nan(bits: vec4<u32>) -> vec4<bool> {
    return (bits & vec4<u32>(ABS_BITS)) > vec4<u32>(INF_BITS);
}

// Sign bit clear: +0, positive numbers, +inf (and NaNs with a clear sign).
fn non_negative(bits: vec4<u32>) -> vec4<bool> {
    return (bits & vec4<u32>(SIGN_BITS)) == vec4<u32>(0u);
}

// |v| capped at the float whose bits are `cap_bits` (a finite value), from the
// bits: +-inf and NaN give the cap, so no inf or NaN reaches the caller's math.
fn abs_capped(bits: vec4<u32>, cap_bits: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(min(bits & vec4<u32>(ABS_BITS), vec4<u32>(cap_bits)));
}

// `magnitude` with the sign of the value whose bits are `bits`.
fn with_sign_of(magnitude: vec4<f32>, bits: vec4<u32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(bitcast<vec4<u32>>(magnitude) | (bits & vec4<u32>(SIGN_BITS)));
}
