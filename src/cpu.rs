//! The CPU backend: ndarray, vectorized. It is the reference the GPU results are
//! checked against in examples and the demo (the tests check every backend against
//! a float64 oracle instead, so a change here cannot move the yardstick).

use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD, Axis, Zip};

use crate::backend::{
    Backend, RowOp, check_inner, check_rows, check_same_len, check_same_shape, pow2_floor,
    stable_sigmoid, stable_sigmoid_derivative,
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

    fn dot(&self, a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> Result<f32> {
        check_same_len("dot", a.shape(), b.shape())?;
        Ok(fused_sum(a, b, |x, y| x * y))
    }

    fn outer(&self, a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> Result<Array2<f32>> {
        Ok(&a.insert_axis(Axis(1)) * &b.insert_axis(Axis(0)))
    }

    // ndarray's dot runs the matrixmultiply crate's blocked sgemm (AVX2/FMA kernels
    // picked at run time; its `threading` feature, enabled in Cargo.toml, uses up to
    // 4 threads). Chosen by measuring against the `gemm` crate on this machine:
    // 2048^3 at ~210 GFLOP/s vs ~130 (gemm 0.18, which uses no AVX-512 on stable).
    // Each output is a sequential f32 sum over k (error bound gamma_k).
    fn matvec(&self, w: ArrayView2<'_, f32>, x: ArrayView1<'_, f32>) -> Result<Array1<f32>> {
        check_inner("matvec", w.shape(), x.shape(), 1)?;
        Ok(w.dot(&x))
    }

    fn matmul(&self, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        check_inner("matmul", a.shape(), b.shape(), 2)?;
        Ok(a.dot(&b))
    }

    fn l1(&self, yhat: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Result<f32> {
        check_same_len("l1", yhat.shape(), y.shape())?;
        Ok(fused_sum(yhat, y, |p, t| (t - p).abs()))
    }

    fn l2(&self, yhat: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Result<f32> {
        check_same_len("l2", yhat.shape(), y.shape())?;
        Ok(fused_sum(yhat, y, |p, t| (t - p) * (t - p)))
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

/// Elements per block of the fused reductions, and independent accumulators per block.
///
/// Error bound: a term passes through at most BLOCK / LANES = 64 sequential adds in
/// its lane, log2(LANES) = 3 adds combining the lanes, and ceil(log2(n / BLOCK))
/// adds in the pairwise sum of the block sums, so |error| <= gamma_d * sum|terms|
/// with d = 67 + ceil(log2(n / 512)) (about 82 for n = 10^7), against n for one
/// sequential accumulator. Eight lanes also let the compiler vectorize the loop.
const BLOCK: usize = 512;
const LANES: usize = 8;

/// sum_i term(a_i, b_i) in one pass over both inputs, no temporary array.
fn fused_sum(a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>, term: fn(f32, f32) -> f32) -> f32 {
    let blocks: Vec<f32> = a
        .axis_chunks_iter(Axis(0), BLOCK)
        .zip(b.axis_chunks_iter(Axis(0), BLOCK))
        .map(|(ca, cb)| block_sum(ca, cb, term))
        .collect();
    pairwise(&blocks)
}

fn block_sum(a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>, term: fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    match (a.as_slice(), b.as_slice()) {
        (Some(xa), Some(xb)) => {
            let (mut ca, mut cb) = (xa.chunks_exact(LANES), xb.chunks_exact(LANES));
            for (x, y) in (&mut ca).zip(&mut cb) {
                for l in 0..LANES {
                    acc[l] += term(x[l], y[l]);
                }
            }
            for (l, (&x, &y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
                acc[l] += term(x, y);
            }
        }
        // Strided or reversed views: the same lanes, in logical order.
        _ => {
            for (i, (&x, &y)) in a.iter().zip(b.iter()).enumerate() {
                acc[i % LANES] += term(x, y);
            }
        }
    }
    pairwise(&acc)
}

fn pairwise(v: &[f32]) -> f32 {
    match v.len() {
        0 => 0.0,
        1 => v[0],
        n => pairwise(&v[..n / 2]) + pairwise(&v[n / 2..]),
    }
}
