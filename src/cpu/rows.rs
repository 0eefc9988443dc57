//! The row ops (softmax, normalize_rows) over a whole 2-D array: rows along
//! axis 1 split between threads by rows, long rows cut into pieces that both
//! threads share, and axis 0 by panels of columns instead of a transpose.

use std::mem::MaybeUninit;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};

use super::{
    LONG_ROW, PANEL, PAR_MIN_ROWS, ROW_PIECE, as_out, contiguous, fork, output, par_fill, simd,
};
use crate::backend::{RowOp, check_out, check_rows};
use crate::error::Result;

type RowsKernel = fn(&[f32], usize, &mut [MaybeUninit<f32>]);

pub(super) fn rows(x: ArrayView2<'_, f32>, axis: Axis, op: RowOp) -> Result<Array2<f32>> {
    check_rows(op, x.shape(), axis.0)?;
    if axis.0 == 0 {
        if x.nrows() < LONG_ROW && !x.is_empty() {
            return Ok(columns(x, op));
        }
        let t = rows(x.t(), Axis(1), op)?;
        return Ok(t.reversed_axes().as_standard_layout().into_owned());
    }
    let x = x.as_standard_layout();
    let (r, c) = x.dim();
    let xs = contiguous(&x);
    let v = if c == 0 || r == 0 {
        Vec::new()
    } else {
        let mut v = output(r * c);
        rows_fill(xs, c, op, &mut v.spare_capacity_mut()[..r * c]);
        // SAFETY: rows_fill writes every element of `out`.
        unsafe { v.set_len(r * c) };
        v
    };
    Ok(Array2::from_shape_vec((r, c), v).expect("same shape as the input"))
}

/// `op` over each row of c columns of `xs` into `out` (as long as `xs`),
/// every element written: rows from LONG_ROW each on both threads, shorter
/// ones whole, split between threads by rows.
fn rows_fill(xs: &[f32], c: usize, op: RowOp, out: &mut [MaybeUninit<f32>]) {
    if c >= LONG_ROW {
        for (xr, or) in xs.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
            // Writes every element of the row: par_fill covers it, and both
            // apply kernels write every element of their piece.
            long_row(xr, or, op);
        }
        return;
    }
    let kernel = match op {
        RowOp::Softmax => simd::softmax_rows as RowsKernel,
        RowOp::Normalize => simd::normalize_rows as RowsKernel,
    };
    par_fill(out, c, PAR_MIN_ROWS, &|at, o| {
        kernel(&xs[at..at + o.len()], c, o)
    });
}

/// The row ops into a caller's `out`: straight into it when it is
/// contiguous, else computed fresh and copied in.
pub(super) fn rows_into(
    name: &'static str,
    x: ArrayView2<'_, f32>,
    mut out: ArrayViewMut2<'_, f32>,
    op: RowOp,
) -> Result<()> {
    check_out(name, out.shape(), x.shape())?;
    check_rows(op, x.shape(), 1)?;
    match out.as_slice_mut() {
        Some(o) if !o.is_empty() => {
            let x = x.as_standard_layout();
            rows_fill(contiguous(&x), x.ncols(), op, as_out(o));
        }
        _ => out.assign(&rows(x, Axis(1), op)?),
    }
    Ok(())
}

/// Along axis 0, by panels of 64 columns (four cache lines of each row), with
/// column kernels that repeat the row kernels' arithmetic in the same order:
/// bit for bit the rows of the transpose (tested), without transposing.
/// (ndarray's copy of a transposed view goes element by element: twice that
/// took 10x numpy's whole softmax along axis 0.)
fn columns(x: ArrayView2<'_, f32>, op: RowOp) -> Array2<f32> {
    let x = x.as_standard_layout();
    let (r, c) = x.dim();
    let xs = contiguous(&x);
    let (kernel, par_min) = match op {
        RowOp::Softmax => (simd::softmax_cols as ColsKernel, PAR_MIN_ROWS),
        RowOp::Normalize => (simd::normalize_cols as ColsKernel, PAR_MIN_ROWS),
    };
    let mut out = Array2::<f32>::uninit((r, c));
    let panel = |p: usize, mut o: ndarray::ArrayViewMut2<'_, MaybeUninit<f32>>| {
        let (j0, w) = (p * PANEL, o.ncols());
        let xr: Vec<&[f32]> = (0..r).map(|i| &xs[i * c + j0..i * c + j0 + w]).collect();
        let mut or: Vec<&mut [MaybeUninit<f32>]> = o
            .rows_mut()
            .into_iter()
            .map(|row| row.into_slice().expect("a panel's rows are contiguous"))
            .collect();
        kernel(&xr, &mut or);
    };
    let chunks = out.axis_chunks_iter_mut(Axis(1), PANEL);
    if r * c >= par_min {
        fork::each(chunks.collect(), r * c, panel);
    } else {
        chunks.enumerate().for_each(|(p, o)| panel(p, o));
    }
    // SAFETY: the panels partition the columns, and both column kernels write
    // every element of every row slice they are given.
    unsafe { out.assume_init() }
}

type ColsKernel = fn(&[&[f32]], &mut [&mut [MaybeUninit<f32>]]);

/// One long row in pieces: a (max, sum) partial per piece, in parallel; merged
/// pairwise (the tests' bound for the sum is pairwise); then a second pass that
/// writes the result. Two reads of the row instead of three, and both cores
/// work on a single row.
fn long_row(x: &[f32], out: &mut [MaybeUninit<f32>], op: RowOp) {
    let (partial, merge): (fn(&[f32]) -> Partial, Merge) = match op {
        RowOp::Softmax => (simd::softmax_partial, simd::softmax_merge),
        RowOp::Normalize => (simd::normalize_partial, simd::normalize_merge),
    };
    let parts: Vec<Partial> = fork::map(x.len().div_ceil(ROW_PIECE), x.len(), |i| {
        partial(&x[i * ROW_PIECE..x.len().min((i + 1) * ROW_PIECE)])
    });
    let (m, s) = tree(&parts, merge);
    match op {
        RowOp::Softmax => {
            let inv = 1.0 / s;
            par_fill(out, 1, PAR_MIN_ROWS, &|at, o| {
                simd::softmax_apply(&x[at..at + o.len()], m, inv, o)
            });
        }
        RowOp::Normalize => {
            let f = simd::normalize_factor(s);
            par_fill(out, 1, PAR_MIN_ROWS, &|at, o| {
                simd::normalize_apply(&x[at..at + o.len()], m, f, o)
            });
        }
    }
}

/// A row piece's (max, sum) for softmax, (max |x|, sum of scaled squares) for
/// normalize_rows.
type Partial = (f32, f32);
type Merge = fn(Partial, Partial) -> Partial;

fn tree(p: &[Partial], merge: Merge) -> Partial {
    if p.len() == 1 {
        p[0]
    } else {
        let (a, b) = p.split_at(p.len() / 2);
        merge(tree(a, merge), tree(b, merge))
    }
}
