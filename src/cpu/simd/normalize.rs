//! normalize_rows along contiguous rows: x / ||x|| with the row scaled by a
//! power of two so that its squares neither overflow nor underflow, in one
//! pass where the scale allows; four rows at a time for rows of 64..BAR_MIN,
//! rows shorter than LANES a block at a time, and the pieces (partial, merge,
//! apply) that `cpu::rows` splits a long row into.

use std::mem::MaybeUninit;

use super::reduce::{BAR_MIN, LANES, LEAF, Pairwise, lanes_barrier, leaf_sum, tree_max, tree_sum};
#[cfg(target_arch = "x86_64")]
use super::{Level, level};

/// 1 / the power of two by which a row is scaled before squaring (exact, so
/// the squares neither overflow nor underflow).
#[inline(always)]
pub(super) fn norm_scale(maxabs: f32) -> f32 {
    1.0 / crate::backend::pow2_floor(maxabs)
}

/// max |x| and the sum of x^2 of at most LEAF elements, in one pass, summed as
/// `leaf_sum` does.
#[inline(always)]
fn leaf_maxabs_sumsq<const BAR: bool>(x: &[f32]) -> (f32, f32) {
    let mut m = [0.0f32; LANES];
    let mut acc = [0.0f32; LANES];
    let mut xc = x.chunks_exact(LANES);
    for xv in &mut xc {
        let xv: &[f32; LANES] = xv.try_into().expect("chunks_exact");
        for j in 0..LANES {
            let a = xv[j].abs();
            m[j] = if a > m[j] { a } else { m[j] };
            acc[j] += xv[j] * xv[j];
        }
    }
    with_tail_maxabs_sumsq(
        tree_max::<BAR>(m),
        tree_sum(lanes_barrier::<BAR, _>(acc)),
        xc.remainder(),
    )
}

/// (max |x|, sum of x^2) from the lanes' max and sum and the elements past the
/// last whole LANES, taken one by one and added after the tree.
#[inline(always)]
pub(super) fn with_tail_maxabs_sumsq(lanes_max: f32, lanes_sum: f32, tail: &[f32]) -> (f32, f32) {
    let mut mt = 0.0f32;
    let mut t = 0.0f32;
    for &v in tail {
        let a = v.abs();
        mt = if a > mt { a } else { mt };
        t += v * v;
    }
    (if mt > lanes_max { mt } else { lanes_max }, lanes_sum + t)
}

/// `leaf_maxabs_sumsq` of four rows of one leaf or less at once, each with its
/// own lanes, steps and tree (the same bits as one at a time). Rows under 256
/// gain nothing from `lanes_barrier`, and their 16 lanes alone come out of
/// LLVM's SLP vectorizer two floats wide; four rows' lanes side by side are
/// vectorized a full register per row, as in `matvec_rows`. Single thread on
/// the reference machine: 8192 rows of 128 ~209 -> ~136 us, 4096 of 192 ~152
/// -> ~93 us; rows of 32 lost (~156 -> ~207 us) and rows of 64 broke even
/// (their time goes to the per-row tree, square root and divisions), so rows
/// under 64 stay one at a time.
#[inline(always)]
fn leaf_maxabs_sumsq4(r: [&[f32]; 4]) -> [(f32, f32); 4] {
    let n = r[0].len();
    let full = n / LANES * LANES;
    let mut m = [[0.0f32; LANES]; 4];
    let mut acc = [[0.0f32; LANES]; 4];
    for c in (0..full).step_by(LANES) {
        for k in 0..4 {
            let xv: &[f32; LANES] = r[k][c..c + LANES].try_into().expect("in range");
            for j in 0..LANES {
                let a = xv[j].abs();
                m[k][j] = if a > m[k][j] { a } else { m[k][j] };
                acc[k][j] += xv[j] * xv[j];
            }
        }
    }
    let mut out = [(0.0, 0.0); 4];
    for k in 0..4 {
        out[k] = with_tail_maxabs_sumsq(tree_max::<false>(m[k]), tree_sum(acc[k]), &r[k][full..]);
    }
    out
}

/// (max |x|, sum of (x / pow2_floor(max |x|))^2) of a row or a piece of one.
///
/// Scaling by a power of two is exact, so when max |x| is within 2^-40..2^40 the
/// squares can neither overflow nor lose anything that matters to underflow
/// (a square under 2^-126 is below 2^-46 of the largest one), and one pass gives
/// both the max and the unscaled sum, rescaled exactly afterwards. Otherwise a
/// second pass sums the scaled squares.
#[inline(always)]
fn normalize_partial_inline<const BAR: bool>(x: &[f32]) -> (f32, f32) {
    // One leaf: skip the pairwise counter (its total of one sum is that sum).
    let (a, q0) = if x.len() <= LEAF {
        leaf_maxabs_sumsq::<BAR>(x)
    } else {
        let mut a = 0.0f32;
        let mut q0 = Pairwise::new();
        for xs in x.chunks(LEAF) {
            let (m, s) = leaf_maxabs_sumsq::<BAR>(xs);
            a = if m > a { m } else { a };
            q0.push(s);
        }
        (a, q0.total())
    };
    normalize_finish::<BAR>(x, a, q0)
}

/// `normalize_partial_inline` from the row's max |x| and unscaled sum of
/// squares (summed as it sums them).
#[inline(always)]
pub(super) fn normalize_finish<const BAR: bool>(x: &[f32], a: f32, q0: f32) -> (f32, f32) {
    let inv_c = norm_scale(a);
    // A NaN in the row is ignored by the max and carried by q0.
    if (2.0f32.powi(-40)..=2.0f32.powi(40)).contains(&a) {
        return (a, q0 * (inv_c * inv_c));
    }
    if !a.is_finite() {
        // inf somewhere: the row becomes NaN, as the scaled sum would make it.
        return (a, f32::NAN);
    }
    let mut q = Pairwise::new();
    for xs in x.chunks(LEAF) {
        q.push(leaf_sum::<BAR>(xs, |v| {
            let v = v * inv_c;
            v * v
        }));
    }
    (a, q.total())
}

/// out = (x / c) * f with c the row's scale: the division by a power of two
/// is exact, so this equals x / ||x|| rounded twice.
#[inline(always)]
pub(super) fn normalize_apply_inline(x: &[f32], maxabs: f32, f: f32, out: &mut [MaybeUninit<f32>]) {
    let inv_c = norm_scale(maxabs);
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(v * inv_c * f);
    }
}

multiversion! {
    /// normalize_rows of whole rows, portably. `#[inline]` although `rows::row_kernel`
    /// gets it from another module: inlined there, the pick of instruction set
    /// happens in that call instead of one call further.
    #[inline]
    pub(super) fn normalize_rows_portable(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
        // Callers rely on every element of `out` being written: whole rows only.
        assert!(x.len() == out.len() && cols > 0 && out.len().is_multiple_of(cols));
        if cols < LANES {
            normalize_short_rows(x, cols, out);
            return;
        }
        if cols < 64 {
            for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
                let (a, q) = normalize_partial_inline::<false>(xr);
                normalize_apply_inline(xr, a, normalize_factor(q), or);
            }
        } else if cols < BAR_MIN {
            let mut rows = x.chunks_exact(4 * cols);
            let mut outs = out.chunks_exact_mut(4 * cols);
            for (x4, o4) in (&mut rows).zip(&mut outs) {
                let r = [&x4[..cols], &x4[cols..2 * cols], &x4[2 * cols..3 * cols], &x4[3 * cols..]];
                let stats = leaf_maxabs_sumsq4(r);
                for ((xr, or), (a, q0)) in r.into_iter().zip(o4.chunks_exact_mut(cols)).zip(stats) {
                    let (a, q) = normalize_finish::<false>(xr, a, q0);
                    normalize_apply_inline(xr, a, normalize_factor(q), or);
                }
            }
            for (xr, or) in rows.remainder().chunks_exact(cols).zip(outs.into_remainder().chunks_exact_mut(cols)) {
                let (a, q) = normalize_partial_inline::<false>(xr);
                normalize_apply_inline(xr, a, normalize_factor(q), or);
            }
        } else {
            for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
                let (a, q) = normalize_partial_inline::<true>(xr);
                normalize_apply_inline(xr, a, normalize_factor(q), or);
            }
        }
    }
}

/// Rows shorter than LANES, 64 rows at a time: each row's (max |x|, sum of
/// squares) as before, then the scale and 1/sqrt of all 64 rows in one loop
/// (which vectorizes the divisions and square roots across rows), then the
/// writes. The same functions in the same order per row, so the same bits.
#[inline(always)]
fn normalize_short_rows(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    const SHORT_BLOCK: usize = 64;
    let mut scale = [0.0f32; SHORT_BLOCK];
    let mut factor = [0.0f32; SHORT_BLOCK];
    for (xb, ob) in x
        .chunks(SHORT_BLOCK * cols)
        .zip(out.chunks_mut(SHORT_BLOCK * cols))
    {
        for ((row, c), f) in xb
            .chunks_exact(cols)
            .zip(scale.iter_mut())
            .zip(factor.iter_mut())
        {
            (*c, *f) = normalize_partial_inline::<false>(row);
        }
        for (c, f) in scale.iter_mut().zip(factor.iter_mut()) {
            *c = norm_scale(*c);
            *f = normalize_factor(*f);
        }
        for (((row, or), &c), &f) in xb
            .chunks_exact(cols)
            .zip(ob.chunks_exact_mut(cols))
            .zip(&scale)
            .zip(&factor)
        {
            for (o, &v) in or.iter_mut().zip(row) {
                o.write(v * c * f);
            }
        }
    }
}

multiversion! {
    pub(crate) fn normalize_partial(x: &[f32]) -> (f32, f32) {
        normalize_partial_inline::<true>(x)
    }
}

multiversion! {
    pub(crate) fn normalize_apply(x: &[f32], maxabs: f32, f: f32, out: &mut [MaybeUninit<f32>]) {
        assert_eq!(x.len(), out.len());
        normalize_apply_inline(x, maxabs, f, out)
    }
}

/// Merges two normalize partials: rescaling a sum of squares by the square of a
/// ratio of powers of two is exact (until it underflows, where it no longer
/// matters next to the other sum).
pub(crate) fn normalize_merge(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    let m = if b.0 > a.0 { b.0 } else { a.0 };
    let inv_c = norm_scale(m);
    let rescale = |p: (f32, f32)| {
        let r = crate::backend::pow2_floor(p.0) * inv_c;
        p.1 * (r * r)
    };
    // NaN anywhere must survive: max ignores it, the sums carry it.
    (m, rescale(a) + rescale(b))
}

/// 1 / sqrt(sum of scaled squares), or 0 for a zero row (which stays zeros).
#[inline(always)]
pub(crate) fn normalize_factor(q: f32) -> f32 {
    if q == 0.0 { 0.0 } else { 1.0 / q.sqrt() }
}
