//! tanh(x) and its derivative 1 - tanh(x)^2.
//!
//! With e = e^-2|x| in [0, 1] nothing overflows: tanh(x) = sign(x) (1 - e) / (1 + e).
//! Near 0, 1 - e would cancel (carrying the exp's error times e / (1 - e), which
//! grows without bound), so:
//!   CPU: 1 - e as -expm1(-2|x|) (`cpu::simd::expm1`, no cancellation), giving
//!        -m / (2 + m) everywhere.
//!   GPU (WGSL has no expm1): below |x| = 0.35 the odd Taylor series to x^13
//!        (the next term is 6e-10 of x at 0.35), x + x^3 P(x^2) with P's
//!        coefficients -1/3, 2/15, -17/315, 62/2835, -1382/155925,
//!        21844/6081075; above, (1 - e) / (1 + e).
//!   tanh_derivative(x) = 4e / (1 + e)^2  (= 1 - tanh^2 = sech^2, without the
//!                        cancellation once tanh rounds to 1 at |x| > 9); on the
//!                        GPU as (2 e1)^2 / (1 + e1^2)^2 with e1 = e^-|x|, so that
//!                        no intermediate is subnormal where the result is not

use super::UnaryFn;
use crate::cpu::simd::{exp, expm1};

pub(crate) struct Tanh;

impl UnaryFn for Tanh {
    const NAME: &'static str = "tanh";
    // |v| is capped at 10 (tanh rounds to 1 from 9.01 on); the sign and NaN come
    // from the bits. Both branches are computed and one selected.
    const WGSL: &'static str = "
fn op_tanh_series(a2: vec4<f32>) -> vec4<f32> {
    var p = vec4<f32>(0.003592128);
    p = p * a2 - 0.008863236;
    p = p * a2 + 0.021869488;
    p = p * a2 - 0.053968254;
    p = p * a2 + 0.13333334;
    return p * a2 - 0.33333334;
}

fn op_tanh(v: vec4<f32>) -> vec4<f32> {
    let bits = bitcast<vec4<u32>>(v);
    let a = abs_capped(bits, 0x41200000u);
    let e = exp(-2.0 * a);
    let a2 = a * a;
    let t = select((1.0 - e) / (1.0 + e), a + a * a2 * op_tanh_series(a2), a < vec4<f32>(0.35));
    return select(with_sign_of(t, bits), v, is_nan(bits));
}
";
    const EDGES: &'static [(f32, f32)] = &[
        (f32::INFINITY, 1.0),
        (f32::NEG_INFINITY, -1.0),
        (20.0, 1.0),
        (-20.0, -1.0),
        (0.0, 0.0),
        (-0.0, -0.0),
        (f32::NAN, f32::NAN),
    ];
    const THREADS_FROM: usize = 1 << 14;

    /// -m / (2 + m) with m = e^-2|x| - 1 from an expm1 that does not cancel
    /// near 0 (so no series is needed, and no second polynomial per element);
    /// the sign from x. NaN stays NaN through m.
    #[inline(always)]
    fn cpu<const FMA: bool>(x: f32) -> f32 {
        let m = expm1::<FMA>(-2.0 * x.abs());
        (-m / (2.0 + m)).copysign(x)
    }

    /// libm's tanhf.
    fn naive(x: f32) -> f32 {
        x.tanh()
    }

    fn reference(x: f64) -> f64 {
        x.tanh()
    }
}

pub(crate) struct TanhDerivative;

impl UnaryFn for TanhDerivative {
    const NAME: &'static str = "tanh_derivative";
    // 4e is computed as (2 e1)^2 with e1 = e^-|v|: e = e^-2|v| is subnormal
    // from |v| = 43.7, where 4e is still normal, and a device that flushes
    // would lose it; (2 e1)^2 rounds once, to the result. |v| is capped at 64
    // (e1 = 1.6e-28 is normal; the square is 0 as for any |v| past 44.4).
    const WGSL: &'static str = "
fn op_tanh_derivative(v: vec4<f32>) -> vec4<f32> {
    let bits = bitcast<vec4<u32>>(v);
    let e1 = exp(-abs_capped(bits, 0x42800000u));
    let h = 2.0 * e1;
    let d = 1.0 + e1 * e1;
    return select((h * h) / (d * d), v, is_nan(bits));
}
";
    const EDGES: &'static [(f32, f32)] = &[
        (f32::INFINITY, 0.0),
        (f32::NEG_INFINITY, 0.0),
        (0.0, 1.0),
        (-0.0, 1.0),
        (f32::NAN, f32::NAN),
    ];
    const THREADS_FROM: usize = 1 << 14;

    /// NaN stays NaN through e.
    #[inline(always)]
    fn cpu<const FMA: bool>(x: f32) -> f32 {
        let e = exp::<FMA>(-2.0 * x.abs());
        let d = 1.0 + e;
        4.0 * e / (d * d)
    }

    /// 1 - t^2, as the course writes it.
    fn naive(x: f32) -> f32 {
        let t = x.tanh();
        1.0 - t * t
    }

    /// sech^2; cosh overflows to inf past |x| = 710, giving 0.
    fn reference(x: f64) -> f64 {
        let c = x.cosh();
        1.0 / (c * c)
    }
}
