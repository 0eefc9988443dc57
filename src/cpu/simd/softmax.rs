//! softmax along contiguous rows: a row that fits in cache in one read from
//! memory and one exp per element, rows shorter than LANES a block at a time,
//! and the pieces (partial, merge, apply) that `cpu::rows` splits a long row
//! into.

use std::mem::MaybeUninit;

use super::exp;
use super::reduce::{BAR_MIN, LANES, LEAF, Pairwise, leaf_map_sum, leaf_sum, max_of};
#[cfg(target_arch = "x86_64")]
use super::{Level, level};

/// Softmax of one row that fits in cache: max; e^(x - max) written to `out`
/// and summed; out *= 1 / sum. One exp per element; `x` is read from memory
/// once, the second and third passes hit L1/L2.
#[inline(always)]
fn softmax_row<const FMA: bool, const BAR: bool>(x: &[f32], out: &mut [MaybeUninit<f32>]) {
    assert_eq!(x.len(), out.len());
    let m = max_of::<BAR>(x, |v| v);
    // One leaf: the pairwise total of a single sum is 0 + s = s, skip it.
    let total = if x.len() <= LEAF {
        leaf_map_sum::<BAR>(x, out, |v| exp::<FMA>(v - m))
    } else {
        let mut sum = Pairwise::new();
        for (xs, os) in x.chunks(LEAF).zip(out.chunks_mut(LEAF)) {
            sum.push(leaf_map_sum::<BAR>(xs, os, |v| exp::<FMA>(v - m)));
        }
        sum.total()
    };
    // SAFETY: leaf_map_sum wrote every element (the chunks of `out` pair up
    // with those of `x`, and the lengths are equal).
    let out = unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) };
    // An all -inf row: max is f32::MIN, every e is 0, 1 / 0 = inf, 0 * inf = NaN.
    let inv = 1.0 / total;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

multiversion! {
    /// softmax of whole rows, portably. `#[inline]` although `rows::row_kernel`
    /// gets it from another module: inlined there, the pick of instruction set
    /// happens in that call instead of one call further.
    #[inline]
    pub(super) fn softmax_rows_portable(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
        // Callers rely on every element of `out` being written: whole rows only.
        assert!(x.len() == out.len() && cols > 0 && out.len().is_multiple_of(cols));
        if cols < LANES {
            softmax_short_rows::<FMA>(x, cols, out);
            return;
        }
        if cols < BAR_MIN {
            for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
                softmax_row::<FMA, false>(xr, or);
            }
        } else {
            for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
                softmax_row::<FMA, true>(xr, or);
            }
        }
    }
}

/// Rows shorter than LANES, SHORT_BLOCK rows at a time: the maxima row by row,
/// then the exps of the whole block in one loop (which vectorizes across rows;
/// row by row, a 4-element row left 12 of 16 lanes idle and paid the loop
/// set-up per row), then sums and scaling row by row. The arithmetic and its
/// order are softmax_row's for such rows (every term falls in its in-order tail),
/// so the results are the same bits.
#[inline(always)]
fn softmax_short_rows<const FMA: bool>(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    const SHORT_BLOCK: usize = 64;
    let mut e = [0.0f32; SHORT_BLOCK * (LANES - 1)];
    for (xb, ob) in x
        .chunks(SHORT_BLOCK * cols)
        .zip(out.chunks_mut(SHORT_BLOCK * cols))
    {
        let e = &mut e[..xb.len()];
        for (row, er) in xb.chunks_exact(cols).zip(e.chunks_exact_mut(cols)) {
            let m = row.iter().fold(f32::MIN, |m, &v| if v > m { v } else { m });
            for (t, &v) in er.iter_mut().zip(row) {
                *t = v - m;
            }
        }
        for t in e.iter_mut() {
            *t = exp::<FMA>(*t);
        }
        for (er, or) in e.chunks_exact(cols).zip(ob.chunks_exact_mut(cols)) {
            let total = er.iter().fold(0.0f32, |s, &v| s + v);
            let inv = 1.0 / total;
            for (o, &v) in or.iter_mut().zip(er) {
                o.write(v * inv);
            }
        }
    }
}

multiversion! {
    /// (max, sum of e^(x - max)) of a piece of a long row, no writes.
    pub(crate) fn softmax_partial(x: &[f32]) -> (f32, f32) {
        let m = max_of::<true>(x, |v| v);
        let mut sum = Pairwise::new();
        for xs in x.chunks(LEAF) {
            sum.push(leaf_sum::<true>(xs, |v| exp::<FMA>(v - m)));
        }
        (m, sum.total())
    }
}

/// Merges two softmax partials: the smaller max's sum is rescaled by
/// e^(m_small - m) <= 1, whose argument is no larger in magnitude than that of
/// any of its terms, so the rescale's error is within the terms' own.
pub(crate) fn softmax_merge(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    let m = if b.0 > a.0 { b.0 } else { a.0 };
    let scale = |p: (f32, f32)| {
        if p.0 == m {
            p.1
        } else {
            p.1 * exp::<false>(p.0 - m)
        }
    };
    (m, scale(a) + scale(b))
}

multiversion! {
    /// out = e^(x - m) * inv over a piece of a long row.
    pub(crate) fn softmax_apply(x: &[f32], m: f32, inv: f32, out: &mut [MaybeUninit<f32>]) {
        // Callers rely on every element of `out` being written.
        assert_eq!(x.len(), out.len());
        for (o, &v) in out.iter_mut().zip(x) {
            o.write(exp::<FMA>(v - m) * inv);
        }
    }
}
