//! AVX-512 by hand, where the portable loops lost to LLVM's code generation.
//!
//! Rows of 16 to 255 floats (one leaf) spend as long on their two 16-lane
//! trees (max, sum) as on their elements. Written portably, LLVM folds the
//! trees with scalar loads and adds from the stack (perf: `vmovss`/`vaddss`
//! from `%rsp`) and, for softmax, builds the max loop from 2-float pieces;
//! here four rows at a time keep their lanes in registers and their trees are
//! folded together, two shuffles and one add or max per level. The arithmetic
//! and its order are the portable code's (`leaf_maxabs_sumsq4`, `max_of`,
//! `leaf_map_sum`, `tree_sum`, `tree_max`), so the results are the same bits,
//! NaN aside: where a row holds NaNs of different signs or payloads, which
//! one comes out is up to the order of an add's operands, which LLVM may swap
//! (Rust leaves NaN bits unspecified).

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::exp;
use super::normalize::{
    normalize_apply_inline, normalize_factor, normalize_finish, with_tail_maxabs_sumsq,
};
use super::reduce::{LANES, LEAF};

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

/// `tree_max`'s step for lanes j (lo) and j + w (hi): hi only if hi > lo.
/// max_ps returns its second operand when the two are equal (-0 against +0)
/// or either is NaN, so lo goes second.
#[target_feature(enable = "avx512f")]
#[inline]
fn max_as_tree(lo: __m512, hi: __m512) -> __m512 {
    _mm512_max_ps(hi, lo)
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
    let mx = fold4(m, |lo, hi| max_as_tree(lo, hi));
    let sq = fold4(acc, |a, b| _mm512_add_ps(a, b));
    let mut out = [(0.0, 0.0); 4];
    for k in 0..4 {
        out[k] = with_tail_maxabs_sumsq(mx[k], sq[k], &r[k][full..]);
    }
    out
}

/// Four rows of `cols` from a group of at most four; a last group of fewer
/// repeats its last row (computed twice, written once).
#[inline(always)]
fn rows4(x4: &[f32], cols: usize) -> [&[f32]; 4] {
    let n = x4.len() / cols;
    let row = |k: usize| &x4[k.min(n - 1) * cols..][..cols];
    [row(0), row(1), row(2), row(3)]
}

/// Checks the callers' contract: whole rows of at most one leaf.
fn check(x: &[f32], cols: usize, out: &[MaybeUninit<f32>]) {
    assert!(x.len() == out.len() && cols > 0 && out.len().is_multiple_of(cols));
    assert!(cols <= LEAF);
}

/// `normalize_rows` for rows of LANES..LEAF floats, four at a time.
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
pub(super) fn normalize_rows(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    check(x, cols, out);
    for (x4, o4) in x.chunks(4 * cols).zip(out.chunks_mut(4 * cols)) {
        let rows = rows4(x4, cols);
        let stats = maxabs_sumsq4(rows);
        for ((k, or), (a, q0)) in o4.chunks_exact_mut(cols).enumerate().zip(stats) {
            let (a, q) = normalize_finish::<false>(rows[k], a, q0);
            normalize_apply_inline(rows[k], a, normalize_factor(q), or);
        }
    }
}

/// `softmax_rows` (`softmax_row` with FMA) for rows of LANES..LEAF floats,
/// four at a time: max (as `max_of`), e^(x - max) into a scratch row while
/// summing it (as `leaf_map_sum`), then e / sum into the output.
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
pub(super) fn softmax_rows(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    check(x, cols, out);
    let full = cols / LANES * LANES;
    let mut e = [[0.0f32; LEAF]; 4];
    for (x4, o4) in x.chunks(4 * cols).zip(out.chunks_mut(4 * cols)) {
        let rows = rows4(x4, cols);
        let mut m = [_mm512_set1_ps(f32::MIN); 4];
        for c in (0..full).step_by(LANES) {
            for k in 0..4 {
                // As in max_of: a NaN element leaves the lane as it was.
                m[k] = _mm512_max_ps(load16(&rows[k][c..c + LANES]), m[k]);
            }
        }
        let mut mx = fold4(m, |lo, hi| max_as_tree(lo, hi));
        for k in 0..4 {
            let mt = rows[k][full..]
                .iter()
                .fold(f32::MIN, |m, &v| if v > m { v } else { m });
            mx[k] = if mx[k] > mt { mx[k] } else { mt };
        }
        let mut acc = [_mm512_setzero_ps(); 4];
        for c in (0..full).step_by(LANES) {
            for k in 0..4 {
                let (xs, es) = (&rows[k][c..c + LANES], &mut e[k][c..c + LANES]);
                for j in 0..LANES {
                    es[j] = exp::<true>(xs[j] - mx[k]);
                }
                acc[k] = _mm512_add_ps(acc[k], load16(es));
            }
        }
        let sums = fold4(acc, |a, b| _mm512_add_ps(a, b));
        for ((k, or), sum) in o4.chunks_exact_mut(cols).enumerate().zip(sums) {
            let mut t = 0.0f32;
            for j in full..cols {
                e[k][j] = exp::<true>(rows[k][j] - mx[k]);
                t += e[k][j];
            }
            let inv = 1.0 / (sum + t);
            for (o, &v) in or.iter_mut().zip(&e[k][..cols]) {
                o.write(v * inv);
            }
        }
    }
}
