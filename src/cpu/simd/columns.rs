//! Column kernels: the row kernels' arithmetic, step for step, on up to COLS
//! columns at once, so that a result along axis 0 is bit for bit the row
//! kernel's result on the transpose (the tests require it), while reading the
//! row-major array in runs of whole cache lines instead of transposing it.
//! Each column keeps the row kernel's own lane structure: its element q of a
//! leaf goes to lane q % LANES, the tail to a separate chain, then the same tree
//! and the same pairwise counter.

use std::mem::MaybeUninit;

use super::exp;
use super::normalize::{norm_scale, normalize_factor};
use super::reduce::{LANES, LEAF, Pairwise};
#[cfg(target_arch = "x86_64")]
use super::{Level, level};

/// One value per column of a panel.
type Cols = [f32; COLS];
/// Columns per panel: four cache lines of each row, so that each row (often
/// its own 4 KiB page) is visited once per pass for 64 columns, not 16.
pub(crate) const COLS: usize = 64;

/// `std::array::from_fn` for a panel row. core's from_fn and `array::map` are
/// not always inlined, and an out-of-line copy is compiled for the baseline
/// target: profiling found matvec spending 38% of its time in SSE2 code that
/// way. This one is inlined into the caller's instruction set.
#[inline(always)]
fn cols(f: impl Fn(usize) -> f32) -> Cols {
    let mut c = [0.0; COLS];
    for (j, c) in c.iter_mut().enumerate() {
        *c = f(j);
    }
    c
}

/// Row i of a panel, padded with zeros (computed on, never written).
#[inline(always)]
fn load(row: &[f32]) -> Cols {
    match <[f32; COLS]>::try_from(row) {
        Ok(v) => v,
        Err(_) => cols(|j| row.get(j).copied().unwrap_or(0.0)),
    }
}

#[inline(always)]
#[allow(clippy::needless_range_loop)] // two rows of acc, one index
fn tree_sum_cols(mut acc: [Cols; LANES]) -> Cols {
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            for j in 0..COLS {
                acc[l][j] += acc[l + w][j];
            }
        }
    }
    acc[0]
}

/// Per column, the sum of f(x) over rows, as `leaf_sum` and `Pairwise` order
/// it in the row kernels; `each(i, values)` sees every row's f(x).
#[inline(always)]
fn column_sums(
    x: &[&[f32]],
    f: impl Fn(usize, f32) -> f32,
    mut each: impl FnMut(usize, &Cols),
) -> Cols {
    let mut sum = Pairwise::new();
    for start in (0..x.len()).step_by(LEAF) {
        let n = LEAF.min(x.len() - start);
        let full = n / LANES * LANES;
        let mut acc = [[0.0f32; COLS]; LANES];
        let mut t = [0.0f32; COLS];
        for q in 0..n {
            let v = load(x[start + q]);
            let e = cols(|j| f(j, v[j]));
            each(start + q, &e);
            let a = if q < full {
                &mut acc[q % LANES]
            } else {
                &mut t
            };
            for j in 0..COLS {
                a[j] += e[j];
            }
        }
        let tree = tree_sum_cols(acc);
        sum.push(cols(|j| tree[j] + t[j]));
    }
    sum.total()
}

multiversion! {
    /// softmax down each column of a panel of at most COLS columns: `x[i]`
    /// and `out[i]` are row i's part of the panel.
    pub(crate) fn softmax_cols(x: &[&[f32]], out: &mut [&mut [MaybeUninit<f32>]]) {
        let mut m = [f32::MIN; COLS];
        for row in x {
            let v = load(row);
            for j in 0..COLS {
                m[j] = if v[j] > m[j] { v[j] } else { m[j] };
            }
        }
        // Callers rely on every element of every out[i] being written.
        assert!(x.len() == out.len() && x.iter().zip(out.iter()).all(|(a, b)| a.len() == b.len()));
        let total = column_sums(
            x,
            |j, v| exp::<FMA>(v - m[j]),
            |i, e| {
                for (o, &e) in out[i].iter_mut().zip(e) {
                    o.write(e);
                }
            },
        );
        let inv = cols(|j| 1.0 / total[j]);
        for o in out.iter_mut() {
            // SAFETY: column_sums called `each` for every row i, which wrote
            // every element of out[i] (its length, asserted equal to x[i]'s,
            // is at most COLS).
            let o = unsafe { &mut *(&mut **o as *mut [MaybeUninit<f32>] as *mut [f32]) };
            for (j, o) in o.iter_mut().enumerate() {
                *o *= inv[j];
            }
        }
    }
}

multiversion! {
    /// normalize_rows down each column of a panel, as `softmax_cols`.
    pub(crate) fn normalize_cols(x: &[&[f32]], out: &mut [&mut [MaybeUninit<f32>]]) {
        // Callers rely on every element of every out[i] being written.
        assert!(x.len() == out.len() && x.iter().zip(out.iter()).all(|(a, b)| a.len() == b.len()));
        // Per leaf, max |x| folded as leaf_maxabs_sumsq does; the max is exact,
        // so only the sums need the row kernel's order.
        // The max rides along the pass of squares (the row is in L1 again).
        let mut a = [0.0f32; COLS];
        let q0 = column_sums(
            x,
            |_, v| v * v,
            |i, _| {
                let v = load(x[i]);
                for j in 0..COLS {
                    let b = v[j].abs();
                    a[j] = if b > a[j] { b } else { a[j] };
                }
            },
        );
        let inv_c = cols(|j| norm_scale(a[j]));
        let in_range = |j: usize| (2.0f32.powi(-40)..=2.0f32.powi(40)).contains(&a[j]);
        let scaled = if (0..COLS).all(in_range) {
            [0.0; COLS]
        } else {
            column_sums(
                x,
                |j, v| {
                    let v = v * inv_c[j];
                    v * v
                },
                |_, _| {},
            )
        };
        let f = cols(|j| {
            let q = if in_range(j) {
                q0[j] * (inv_c[j] * inv_c[j])
            } else if !a[j].is_finite() {
                f32::NAN
            } else {
                scaled[j]
            };
            normalize_factor(q)
        });
        for (o, row) in out.iter_mut().zip(x) {
            for (j, (o, &v)) in o.iter_mut().zip(row.iter()).enumerate() {
                o.write(v * inv_c[j] * f[j]);
            }
        }
    }
}
