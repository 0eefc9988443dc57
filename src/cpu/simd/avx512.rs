//! AVX-512 by hand, where the portable loops lost to LLVM's code generation.
//!
//! Rows of 64 to 255 floats spend as long on their two 16-lane trees (max and
//! sum) as on their elements. Written portably, LLVM spills the lanes of the
//! four rows in flight to the stack and folds them with scalar loads and adds
//! (perf: `vmovss`/`vaddss` from `%rsp`); here the four rows' trees are folded
//! together in registers, two shuffles and one add or max per level. The
//! arithmetic and its order are the portable code's (`leaf_maxabs_sumsq4`,
//! `tree_sum`, `tree_max`), so the results are the same bits.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::{LANES, normalize_apply_inline, normalize_factor, normalize_finish};

/// Loads 16 floats.
#[target_feature(enable = "avx512f")]
#[inline]
fn load16(x: &[f32]) -> __m512 {
    let x: &[f32; LANES] = x.try_into().expect("16 floats");
    // SAFETY: `x` is 16 initialized f32 (checked just above); loadu has no
    // alignment requirement, and avx512f is enabled for this function.
    unsafe { _mm512_loadu_ps(x.as_ptr()) }
}

/// The 16 lanes of a register.
#[target_feature(enable = "avx512f")]
#[inline]
fn lanes(v: __m512) -> [f32; LANES] {
    let mut out = [0.0f32; LANES];
    // SAFETY: `out` has room for 16 f32; storeu has no alignment requirement.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) };
    out
}

/// Folds four rows' 16 lanes by halves, all four at once: lane 4k of the
/// result is row k's `tree_sum` (or `tree_max`), adding lane j + w to lane j
/// for w = 8, 4, 2, 1 as it does.
#[target_feature(enable = "avx512f")]
#[inline]
fn fold4(v: [__m512; 4], op: impl Fn(__m512, __m512) -> __m512) -> [f32; 4] {
    // w = 8: [a lanes 0..8 | b lanes 0..8] op [a lanes 8..16 | b lanes 8..16].
    let half = |a, b| {
        op(
            _mm512_shuffle_f32x4::<0b01_00_01_00>(a, b),
            _mm512_shuffle_f32x4::<0b11_10_11_10>(a, b),
        )
    };
    let (ab, cd) = (half(v[0], v[1]), half(v[2], v[3]));
    // w = 4: quarters [a0 b0 c0 d0] op [a1 b1 c1 d1], each row's 4 lanes now
    // in its own 128-bit quarter (k).
    let q = op(
        _mm512_shuffle_f32x4::<0b10_00_10_00>(ab, cd),
        _mm512_shuffle_f32x4::<0b11_01_11_01>(ab, cd),
    );
    // w = 2, then w = 1, inside each quarter.
    let q = op(q, _mm512_permute_ps::<0b11_10_11_10>(q));
    let q = op(q, _mm512_permute_ps::<0b01_01_01_01>(q));
    let l = lanes(q);
    [l[0], l[4], l[8], l[12]]
}

/// `leaf_maxabs_sumsq4`: (max |x|, sum of x^2) of four rows of equal length
/// of at most one leaf; lanes as there, then the elements past the last whole
/// 16 one by one, added after the tree.
#[target_feature(enable = "avx512f")]
#[inline]
fn maxabs_sumsq4(r: [&[f32]; 4]) -> [(f32, f32); 4] {
    let full = r[0].len() / LANES * LANES;
    let mut m = [_mm512_setzero_ps(); 4];
    let mut acc = [_mm512_setzero_ps(); 4];
    for c in (0..full).step_by(LANES) {
        for k in 0..4 {
            let v = load16(&r[k][c..c + LANES]);
            // max_ps returns its second operand when either is NaN: a NaN
            // element leaves the lane as it was, as the portable select does.
            m[k] = _mm512_max_ps(_mm512_abs_ps(v), m[k]);
            // Multiply then add, not FMA: the portable loop rounds twice.
            acc[k] = _mm512_add_ps(acc[k], _mm512_mul_ps(v, v));
        }
    }
    let mx = fold4(m, |a, b| _mm512_max_ps(a, b));
    let sq = fold4(acc, |a, b| _mm512_add_ps(a, b));
    let mut out = [(0.0, 0.0); 4];
    for k in 0..4 {
        let mut mt = 0.0f32;
        let mut t = 0.0f32;
        for &v in &r[k][full..] {
            let a = v.abs();
            mt = if a > mt { a } else { mt };
            t += v * v;
        }
        out[k] = (if mt > mx[k] { mt } else { mx[k] }, sq[k] + t);
    }
    out
}

/// `normalize_rows` for rows of 64..LEAF floats (at most one leaf each), four
/// rows at a time; a last group of fewer than four repeats its last row (its
/// result is computed twice and written once).
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
pub(super) fn normalize_rows(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    assert!(x.len() == out.len() && cols > 0 && out.len().is_multiple_of(cols));
    assert!(cols <= super::LEAF);
    for (x4, o4) in x.chunks(4 * cols).zip(out.chunks_mut(4 * cols)) {
        let n = x4.len() / cols;
        let row = |k: usize| &x4[k.min(n - 1) * cols..][..cols];
        let stats = maxabs_sumsq4([row(0), row(1), row(2), row(3)]);
        for ((k, or), (a, q0)) in o4.chunks_exact_mut(cols).enumerate().zip(stats) {
            let (a, q) = normalize_finish::<false>(row(k), a, q0);
            normalize_apply_inline(row(k), a, normalize_factor(q), or);
        }
    }
}
