//! The exercise's "classic" versions: one scalar at a time, in explicit index
//! loops over a flat copy of the input. This backend exists to be beaten; it is
//! deliberately not vectorized, fused or threaded.

use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD, Axis};

use crate::backend::{Backend, RowOp, check_inner, check_rows, check_same_len, check_same_shape};
use crate::error::{Error, Result};
use crate::unary::Unary;

/// Explicit loops, the exercise's classic versions.
#[derive(Debug, Default, Clone, Copy)]
pub struct Naive;

fn flat(x: &ArrayViewD<'_, f32>) -> Vec<f32> {
    x.iter().copied().collect()
}

fn flat1(x: &ArrayView1<'_, f32>) -> Vec<f32> {
    x.iter().copied().collect()
}

/// Row-major copy of a matrix view (transposed and strided views included).
fn flat2(x: &ArrayView2<'_, f32>) -> Vec<f32> {
    x.iter().copied().collect()
}

/// The exercise's loops accumulate in Python floats, which are float64; so do these.
/// Every f32 product and difference is exact or nearly so in f64, so the only
/// rounding that matters is the final one to f32.
fn sum_f64(a: &[f32], b: &[f32], term: fn(f64, f64) -> f64) -> f32 {
    let mut s = 0.0f64;
    for i in 0..a.len() {
        s += term(f64::from(a[i]), f64::from(b[i]));
    }
    s as f32
}

fn shaped(shape: &[usize], data: Vec<f32>) -> ArrayD<f32> {
    ArrayD::from_shape_vec(shape.to_vec(), data).expect("length equals the product of the shape")
}

impl Backend for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }

    /// The exercise's formula, from sigmoid's definition (src/unary/sigmoid.rs).
    fn basic_sigmoid(&self, x: f32) -> Result<f32> {
        let mut out = [0.0];
        Unary::Sigmoid.map_naive(&[x], &mut out);
        Ok(out[0])
    }

    /// The op's textbook form, one element at a time (src/unary/).
    fn unary(&self, op: Unary, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        let xs = flat(&x);
        let mut out = vec![0.0f32; xs.len()];
        op.map_naive(&xs, &mut out);
        Ok(shaped(x.shape(), out))
    }

    fn multiply(&self, a: ArrayViewD<'_, f32>, b: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        check_same_shape("multiply", a.shape(), b.shape())?;
        let (xa, xb) = (flat(&a), flat(&b));
        let mut out = vec![0.0f32; xa.len()];
        for i in 0..xa.len() {
            out[i] = xa[i] * xb[i];
        }
        Ok(shaped(a.shape(), out))
    }

    fn image2vector(&self, image: ArrayView3<'_, f32>) -> Result<Array2<f32>> {
        let (l, h, d) = image.dim();
        let mut out = Vec::with_capacity(l * h * d);
        for i in 0..l {
            for j in 0..h {
                for k in 0..d {
                    out.push(image[[i, j, k]]);
                }
            }
        }
        Array2::from_shape_vec((l * h * d, 1), out)
            .map_err(|e| Error::shape("image2vector", e.to_string()))
    }

    fn normalize_rows_axis(&self, x: ArrayView2<'_, f32>, axis: Axis) -> Result<Array2<f32>> {
        check_rows(RowOp::Normalize, x.shape(), axis.0)?;
        let (lines, len) = lines(&x, axis);
        let mut out = Array2::<f32>::zeros(x.raw_dim());
        for l in 0..lines {
            // The exercise's np.linalg.norm runs in float64; so does this sum, which
            // also keeps the squares of large f32 values from overflowing.
            let mut sum = 0.0f64;
            for k in 0..len {
                let v = f64::from(x[at(axis, l, k)]);
                sum += v * v;
            }
            let norm = sum.sqrt();
            for k in 0..len {
                let v = f64::from(x[at(axis, l, k)]);
                out[at(axis, l, k)] = if norm == 0.0 {
                    0.0 // a zero row stays zeros (documented; numpy gives NaN)
                } else if norm.is_finite() {
                    (v / norm) as f32
                } else {
                    f32::NAN // inf or NaN in the row, as on every backend
                };
            }
        }
        Ok(out)
    }

    fn softmax_axis(&self, x: ArrayView2<'_, f32>, axis: Axis) -> Result<Array2<f32>> {
        check_rows(RowOp::Softmax, x.shape(), axis.0)?;
        let (lines, len) = lines(&x, axis);
        let mut out = Array2::<f32>::zeros(x.raw_dim());
        for l in 0..lines {
            let mut m = f32::MIN;
            for k in 0..len {
                if x[at(axis, l, k)] > m {
                    m = x[at(axis, l, k)];
                }
            }
            // Summed in float64, as the other naive reductions are: a million
            // f32 terms summed in order would carry ~1e3 ulp, enough to hide a
            // real bug behind the tests' bound for it.
            let mut sum = 0.0f64;
            for k in 0..len {
                sum += f64::from((x[at(axis, l, k)] - m).exp());
            }
            for k in 0..len {
                out[at(axis, l, k)] = (f64::from((x[at(axis, l, k)] - m).exp()) / sum) as f32;
            }
        }
        Ok(out)
    }

    fn dot(&self, a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> Result<f32> {
        check_same_len("dot", a.shape(), b.shape())?;
        Ok(sum_f64(&flat1(&a), &flat1(&b), |x, y| x * y))
    }

    fn outer(&self, a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> Result<Array2<f32>> {
        let (xa, xb) = (flat1(&a), flat1(&b));
        let (m, n) = (xa.len(), xb.len());
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = xa[i] * xb[j];
            }
        }
        Ok(Array2::from_shape_vec((m, n), out).expect("m * n values"))
    }

    fn matvec(&self, w: ArrayView2<'_, f32>, x: ArrayView1<'_, f32>) -> Result<Array1<f32>> {
        check_inner("matvec", w.shape(), x.shape(), 1)?;
        let (m, k) = w.dim();
        let (xw, xx) = (flat2(&w), flat1(&x));
        let mut out = vec![0.0f32; m];
        for i in 0..m {
            out[i] = sum_f64(&xw[i * k..(i + 1) * k], &xx, |a, b| a * b);
        }
        Ok(Array1::from(out))
    }

    fn matmul(&self, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        check_inner("matmul", a.shape(), b.shape(), 2)?;
        let ((m, k), n) = (a.dim(), b.ncols());
        let (xa, xb) = (flat2(&a), flat2(&b));
        let mut out = vec![0.0f32; m * n];
        // i, p, j order: the same sequential sum over p for every output as the
        // textbook i, j, p loop, but walking B along its rows keeps 1024^3 in seconds.
        let mut row = vec![0.0f64; n];
        for i in 0..m {
            row.fill(0.0);
            for p in 0..k {
                let a_ip = f64::from(xa[i * k + p]);
                for j in 0..n {
                    row[j] += a_ip * f64::from(xb[p * n + j]);
                }
            }
            for j in 0..n {
                out[i * n + j] = row[j] as f32;
            }
        }
        Ok(Array2::from_shape_vec((m, n), out).expect("m * n values"))
    }

    fn l1(&self, yhat: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Result<f32> {
        check_same_len("l1", yhat.shape(), y.shape())?;
        Ok(sum_f64(&flat1(&yhat), &flat1(&y), |p, t| (t - p).abs()))
    }

    fn l2(&self, yhat: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Result<f32> {
        check_same_len("l2", yhat.shape(), y.shape())?;
        Ok(sum_f64(&flat1(&yhat), &flat1(&y), |p, t| (t - p) * (t - p)))
    }
}

/// How many lines (rows for axis 1, columns for axis 0) and their length.
fn lines(x: &ArrayView2<'_, f32>, axis: Axis) -> (usize, usize) {
    let (r, c) = x.dim();
    if axis.0 == 1 { (r, c) } else { (c, r) }
}

/// Element k of line l.
fn at(axis: Axis, l: usize, k: usize) -> [usize; 2] {
    if axis.0 == 1 { [l, k] } else { [k, l] }
}
