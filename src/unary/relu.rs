//! relu(x) = max(x, 0) and its derivative (1 where x > 0, else 0). Both are
//! exact; NaN propagates through both.

use super::UnaryFn;

pub(crate) struct Relu;

impl UnaryFn for Relu {
    const NAME: &'static str = "relu";
    // From the bits alone: a set sign bit that is not a NaN's (-0, negatives,
    // -inf) gives +0; everything else is x's own bits.
    const WGSL: &'static str = "
fn op_relu(v: vec4<f32>) -> vec4<f32> {
    let bits = bitcast<vec4<u32>>(v);
    let to_zero = !non_negative(bits) & !is_nan(bits);
    return bitcast<vec4<f32>>(select(bits, vec4<u32>(0u), to_zero));
}
";
    const EDGES: &'static [(f32, f32)] = &[
        (-0.0, 0.0),
        (0.0, 0.0),
        (-1.5, 0.0),
        (1.5, 1.5),
        (f32::INFINITY, f32::INFINITY),
        (f32::NEG_INFINITY, 0.0),
        (f32::NAN, f32::NAN),
    ];
    // Memory-bound like multiply: threads pay from 2^16 elements.
    const THREADS_FROM: usize = 1 << 16;

    /// `x <= 0` is false for NaN, so NaN is kept; -0 gives +0.
    #[inline(always)]
    fn cpu<const FMA: bool>(x: f32) -> f32 {
        if x <= 0.0 { 0.0 } else { x }
    }

    fn naive(x: f32) -> f32 {
        if x > 0.0 || x.is_nan() { x } else { 0.0 }
    }

    fn reference(x: f64) -> f64 {
        if x > 0.0 || x.is_nan() { x } else { 0.0 }
    }
}

pub(crate) struct ReluDerivative;

impl UnaryFn for ReluDerivative {
    const NAME: &'static str = "relu_derivative";
    // x > 0 read from the bits: above +0's and at most +inf's (positive
    // subnormals count, as on the CPU, even where a device flushes them).
    const WGSL: &'static str = "
fn op_relu_derivative(v: vec4<f32>) -> vec4<f32> {
    let bits = bitcast<vec4<u32>>(v);
    let positive = (bits > vec4<u32>(0u)) & (bits <= vec4<u32>(INF_BITS));
    return select(select(vec4<f32>(0.0), vec4<f32>(1.0), positive), v, is_nan(bits));
}
";
    const EDGES: &'static [(f32, f32)] = &[
        (-0.0, 0.0),
        (0.0, 0.0),
        (1e-40, 1.0),
        (-1e-40, 0.0),
        (f32::INFINITY, 1.0),
        (f32::NEG_INFINITY, 0.0),
        (f32::NAN, f32::NAN),
    ];
    const THREADS_FROM: usize = 1 << 16;

    #[inline(always)]
    fn cpu<const FMA: bool>(x: f32) -> f32 {
        let d = if x > 0.0 { 1.0 } else { 0.0 };
        if x.is_nan() { x } else { d }
    }

    fn naive(x: f32) -> f32 {
        if x.is_nan() {
            x
        } else if x > 0.0 {
            1.0
        } else {
            0.0
        }
    }

    fn reference(x: f64) -> f64 {
        if x.is_nan() {
            x
        } else if x > 0.0 {
            1.0
        } else {
            0.0
        }
    }
}
