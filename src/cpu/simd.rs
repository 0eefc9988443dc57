//! The CPU backend's inner loops over contiguous slices, and the exp they share.
//!
//! Everything here is plain safe Rust written so that LLVM vectorizes it: no
//! branches in the per-element code, no calls, fixed-width lane accumulators for
//! the reductions. The default x86-64 target only has SSE2, so each public kernel
//! is compiled three times (baseline, AVX2+FMA, AVX-512) by `multiversion!` and
//! picked at run time from what the CPU reports; numpy's ufuncs dispatch the same
//! way, and without it we would race numpy's AVX-512 exp with 4-wide SSE2.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::unary::Unary;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Instruction-set level of the running CPU, as picked by `level()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Level {
    Baseline = 1,
    Avx2 = 2,
    Avx512 = 3,
}

/// Detected once. `GPU_BASICS_CPU_SIMD=baseline|avx2` caps it, so the portable
/// paths can be tested and timed on a machine that has more.
pub(crate) fn level() -> Level {
    static LEVEL: AtomicU8 = AtomicU8::new(0);
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Baseline,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => {
            let l = detect();
            LEVEL.store(l as u8, Ordering::Relaxed);
            l
        }
    }
}

fn detect() -> Level {
    let cap = match std::env::var("GPU_BASICS_CPU_SIMD").as_deref() {
        Ok("baseline") => Level::Baseline,
        Ok("avx2") => Level::Avx2,
        _ => Level::Avx512,
    };
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        let avx512 = avx2
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl");
        let found = if avx512 {
            Level::Avx512
        } else if avx2 {
            Level::Avx2
        } else {
            Level::Baseline
        };
        if (found as u8) < (cap as u8) {
            found
        } else {
            cap
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = cap;
        Level::Baseline
    }
}

/// Defines `fn $name(args)` that runs `$body` compiled for the best instruction
/// set this CPU has. Inside the body, `FMA` is a const bool: whether `fma()`
/// may use a fused multiply-add (it is a slow libm call on the baseline target).
macro_rules! multiversion {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::needless_range_loop)]
            fn body<const FMA: bool>($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi1,bmi2,lzcnt")]
                fn avx512($($arg: $ty),*) $(-> $ret)? { body::<true>($($arg),*) }
                #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt")]
                fn avx2($($arg: $ty),*) $(-> $ret)? { body::<true>($($arg),*) }
                match level() {
                    // SAFETY: level() returns Avx512 only when the CPU reports
                    // every feature this function is compiled with.
                    Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above, for AVX2 and FMA.
                    Level::Avx2 => return unsafe { avx2($($arg),*) },
                    Level::Baseline => {}
                }
            }
            body::<false>($($arg),*)
        }
    };
}

/// a * b + c, fused where the instruction exists (one rounding instead of two).
#[inline(always)]
pub(crate) fn fma<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// The shared part of `exp` and `expm1`: t = n ln2 + r with n = round(t / ln2),
/// |r| <= ln2/2 (Cody-Waite: ln2 split in two so n * LN2_HI is exact), and
/// e^r - 1 = r + r^2 P(r) with Cephes' degree-7 minimax polynomial. Returns n and
/// e^r - 1. NaN in gives NaN.
#[inline(always)]
fn exp_parts<const FMA: bool>(t: f32) -> (i32, f32) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
    const SHIFTER: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4; // 355/512: 9 bits, so n * LN2_HI is exact
    const LN2_LO: f32 = -2.121_944_4e-4;
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5, // Cephes' 5.0000001201e-1, which rounds to 0.5 in f32
    ];
    let k = fma::<FMA>(t, LOG2E, SHIFTER);
    let n = k - SHIFTER;
    let ni = (k.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    let r = fma::<FMA>(n, -LN2_HI, t);
    let r = fma::<FMA>(n, -LN2_LO, r);
    let mut p = P[0];
    for &c in &P[1..] {
        p = fma::<FMA>(p, r, c);
    }
    (ni, fma::<FMA>(p, r * r, r))
}

/// e^t for t <= 88.7 (the ops only need t <= 0), branch-free so it vectorizes:
/// (1 + (e^r - 1)) 2^n from `exp_parts`, 2^n built from exponent bits in two
/// halves so results down to the subnormals (t >= -103.97) round once instead
/// of flushing to zero. Measured error over every f32 t in [-104, 0]
/// (`exp_error_exhaustive` below): 0.98 ulp without FMA, 1.01 ulp with it
/// (normal results). NaN in gives NaN; -inf gives 0.
#[inline(always)]
pub(crate) fn exp<const FMA: bool>(t: f32) -> f32 {
    // Compare-and-select (not min/max) so that NaN passes through.
    let t = if t < -104.0 { -104.0 } else { t };
    let t = if t > 89.0 { 89.0 } else { t };
    let (ni, em1) = exp_parts::<FMA>(t);
    let y = em1 + 1.0;
    // n in [-150, 129]: each half is a normal power of two.
    let h = ni >> 1;
    let s1 = f32::from_bits((h.wrapping_add(127) as u32) << 23);
    let s2 = f32::from_bits((ni.wrapping_sub(h).wrapping_add(127) as u32) << 23);
    y * s1 * s2
}

/// e^t - 1 for t <= 0, without the cancellation of `exp(t) - 1` near 0:
/// 2^n (e^r - 1) + (2^n - 1), one fused rounding; for n = 0 that is e^r - 1
/// itself. t is clamped at -40 (e^-40 - 1 is -1 in f32; 2^n stays normal).
/// Measured error over every 7th f32 in [-40, 0] (`expm1_error`): within
/// `EXPM1_MAX_ULP`. NaN in gives NaN.
#[inline(always)]
pub(crate) fn expm1<const FMA: bool>(t: f32) -> f32 {
    let t = if t < -40.0 { -40.0 } else { t };
    let t = if t > 0.0 { 0.0 } else { t };
    let (ni, em1) = exp_parts::<FMA>(t);
    let scale = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    fma::<FMA>(scale, em1, scale - 1.0)
}

multiversion! {
    /// A unary op over a slice (its CPU form, from its definition in
    /// src/unary/), compiled once per instruction set like every kernel here.
    pub(crate) fn unary_slice(op: Unary, x: &[f32], out: &mut [MaybeUninit<f32>]) {
        op.map_cpu::<FMA>(x, out)
    }
}

multiversion! {
    pub(crate) fn multiply_slice(a: &[f32], b: &[f32], out: &mut [MaybeUninit<f32>]) {
        // Callers rely on every element of `out` being written.
        assert!(a.len() == out.len() && b.len() == out.len());
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            o.write(x * y);
        }
    }
}

// Declared after `multiversion!`, which they use (a macro_rules! is in scope
// only below its definition).
mod columns;
mod normalize;
mod products;
mod reduce;
mod rows;
mod softmax;

pub(crate) use columns::{COLS, normalize_cols, softmax_cols};
pub(crate) use normalize::{normalize_apply, normalize_factor, normalize_merge, normalize_partial};
pub(crate) use products::{PAIR_LEAF, dot_chunk, l1_chunk, l2_chunk, matvec_rows, outer_rows};
pub(crate) use rows::{normalize_rows, softmax_rows};
pub(crate) use softmax::{softmax_apply, softmax_merge, softmax_partial};

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(got: f32, want: f64) -> f64 {
        // The ulp of the correctly rounded result (subnormals have ulp 2^-149).
        let w = want as f32;
        let ulp = if w == 0.0 {
            f64::from(f32::from_bits(1))
        } else {
            let next = f32::from_bits(w.abs().to_bits() + 1);
            f64::from(next) - f64::from(w.abs())
        };
        (f64::from(got) - want).abs() / ulp
    }

    /// Max error in ulps of exp without and with FMA, over every `step`-th f32
    /// t in [-104, 0], as [normal results, subnormal results] (t < -87.34).
    fn max_exp_error(step: usize) -> [[f64; 2]; 2] {
        let lo = (-104.0f32).to_bits();
        let mut worst = [[0.0f64; 2]; 2];
        for bits in (0x8000_0000u32..=lo).step_by(step) {
            let t = f32::from_bits(bits);
            let want = f64::from(t).exp();
            let sub = usize::from(want < f64::from(f32::MIN_POSITIVE));
            worst[sub][0] = worst[sub][0].max(ulps(exp::<false>(t), want));
            worst[sub][1] = worst[sub][1].max(ulps(exp::<true>(t), want));
        }
        worst
    }

    /// The measured maxima (exhaustive run, see below): 0.98 / 1.01 ulp for
    /// normal results without / with FMA, 1.0x for subnormal ones, where the
    /// two-step 2^n scaling can round twice. Tests elsewhere allow 1.5 ulp.
    const EXP_MAX_ULP: f64 = 1.5;

    /// Every 7th f32 in [-104, 0]: 160 million values in 1.2e9, both variants.
    #[test]
    fn exp_error_dense_sweep() {
        let w = max_exp_error(7);
        assert!(
            w.iter().flatten().all(|&e| e <= EXP_MAX_ULP),
            "exp max error [normal, subnormal][mul+add, fma]: {w:?} ulp"
        );
    }

    #[test]
    #[ignore = "1.1e9 values, minutes; cargo test --release --lib -- --ignored"]
    fn exp_error_exhaustive() {
        let w = max_exp_error(1);
        eprintln!("exp max error [normal, subnormal][mul+add, fma]: {w:?} ulp");
        assert!(w.iter().flatten().all(|&e| e <= EXP_MAX_ULP));
    }

    /// Max error of expm1 (ulps of the f64 result rounded to f32), without and
    /// with FMA, over every 7th f32 t in [-40, 0], 0 and -0 included.
    pub(crate) const EXPM1_MAX_ULP: f64 = 1.5;

    #[test]
    fn expm1_error() {
        let lo = (-40.0f32).to_bits();
        let mut worst = [0.0f64; 2];
        for bits in (0x8000_0000u32..=lo).step_by(7).chain([0, 0x8000_0000]) {
            let t = f32::from_bits(bits);
            let want = f64::from(t).exp_m1();
            worst[0] = worst[0].max(ulps(expm1::<false>(t), want));
            worst[1] = worst[1].max(ulps(expm1::<true>(t), want));
        }
        eprintln!("expm1 max error [mul+add, fma]: {worst:?} ulp");
        assert!(worst.iter().all(|&e| e <= EXPM1_MAX_ULP), "{worst:?}");
        assert!(expm1::<true>(f32::NAN).is_nan() && expm1::<true>(f32::NEG_INFINITY) == -1.0);
    }

    #[test]
    fn exp_edges() {
        for fma in [false, true] {
            let e = |t| if fma { exp::<true>(t) } else { exp::<false>(t) };
            assert_eq!(e(0.0), 1.0);
            assert_eq!(e(-0.0), 1.0);
            assert_eq!(e(f32::NEG_INFINITY), 0.0);
            assert_eq!(e(-1000.0), 0.0);
            assert!(e(f32::NAN).is_nan());
            assert_eq!(e(f32::INFINITY), f32::INFINITY);
            assert_eq!(e(100.0), f32::INFINITY);
            assert!(e(-100.0) > 0.0, "subnormal results are kept");
        }
    }
}
