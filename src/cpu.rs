//! The CPU backend: ndarray, vectorized. It is the reference the GPU results are
//! checked against in examples and the demo (the tests check every backend against
//! a float64 oracle instead, so a change here cannot move the yardstick).

use ndarray::{Array2, ArrayD, ArrayView2, ArrayView3, ArrayViewD, Axis, Zip};

use crate::backend::{
    Backend, RowOp, check_rows, check_same_shape, pow2_floor, stable_sigmoid,
    stable_sigmoid_derivative,
};
use crate::error::{Error, Result};

/// ndarray backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cpu;

impl Backend for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn basic_sigmoid(&self, x: f32) -> Result<f32> {
        Ok(stable_sigmoid(x))
    }

    fn sigmoid(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        Ok(x.mapv(stable_sigmoid))
    }

    fn sigmoid_derivative(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        Ok(x.mapv(stable_sigmoid_derivative))
    }

    fn multiply(&self, a: ArrayViewD<'_, f32>, b: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        check_same_shape("multiply", a.shape(), b.shape())?;
        Ok(Zip::from(&a).and(&b).map_collect(|&x, &y| x * y))
    }

    fn image2vector(&self, image: ArrayView3<'_, f32>) -> Result<Array2<f32>> {
        let n = image.len();
        image
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((n, 1))
            .map_err(|e| Error::shape("image2vector", e.to_string()))
    }

    fn normalize_rows_axis(&self, x: ArrayView2<'_, f32>, axis: Axis) -> Result<Array2<f32>> {
        rows(x, axis, RowOp::Normalize)
    }

    fn softmax_axis(&self, x: ArrayView2<'_, f32>, axis: Axis) -> Result<Array2<f32>> {
        rows(x, axis, RowOp::Softmax)
    }
}

fn rows(x: ArrayView2<'_, f32>, axis: Axis, op: RowOp) -> Result<Array2<f32>> {
    check_rows(op, x.shape(), axis.0)?;
    if axis.0 == 0 {
        let t = rows(x.t(), Axis(1), op)?;
        return Ok(t.reversed_axes().as_standard_layout().into_owned());
    }
    let x = x.as_standard_layout();
    let mut out = Array2::<f32>::zeros(x.raw_dim());
    for (row, mut o) in x.rows().into_iter().zip(out.rows_mut()) {
        let (row, o) = (
            row.to_slice().expect("standard layout"),
            o.as_slice_mut().expect("fresh array"),
        );
        match op {
            RowOp::Softmax => softmax_row(row, o),
            RowOp::Normalize => normalize_row(row, o),
        }
    }
    Ok(out)
}

/// Max first, so every exponent is <= 0 and nothing overflows; the sum is
/// pairwise. An all -inf row gives 0 * inf = NaN, as the GPU kernel does.
fn softmax_row(x: &[f32], out: &mut [f32]) {
    let m = x.iter().fold(f32::MIN, |m, &v| m.max(v));
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - m).exp();
    }
    let inv = 1.0 / pairwise_sum(out);
    out.iter_mut().for_each(|o| *o *= inv);
}

/// Scales by a power of two (exact) so squares of any f32 neither overflow nor
/// underflow; the norm itself is never formed. NaN or inf reach q as NaN.
fn normalize_row(x: &[f32], out: &mut [f32]) {
    let c = pow2_floor(x.iter().fold(0.0f32, |m, &v| m.max(v.abs())));
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v / c;
    }
    let q: f32 = pairwise_sum_by(out, |v| v * v);
    let f = if q == 0.0 { 0.0 } else { 1.0 / q.sqrt() };
    out.iter_mut().for_each(|o| *o *= f);
}

fn pairwise_sum(x: &[f32]) -> f32 {
    pairwise_sum_by(x, |v| v)
}

/// Pairwise summation: the error bound grows with log2(n) instead of n. Leaves
/// of 32 are summed in order (the compiler vectorizes those).
fn pairwise_sum_by(x: &[f32], f: impl Fn(f32) -> f32 + Copy) -> f32 {
    if x.len() <= 32 {
        x.iter().fold(0.0, |s, &v| s + f(v))
    } else {
        let (a, b) = x.split_at(x.len() / 2);
        pairwise_sum_by(a, f) + pairwise_sum_by(b, f)
    }
}
