//! Bounds, float64 oracles and checks for the row-op tests (tests/rows.rs,
//! tests/row_edges.rs), written once: each bound is derived beside its function.

use gpu_basics::Backend;
use ndarray::{Array2, ArrayView2, Axis};

use super::{Outcome, fail, values};

pub const EPS: f64 = f32::EPSILON as f64;

/// Error of exp(t) in ulps on `backend`: WGSL's exp is within 3 + 2|t| ulp (WGSL
/// spec); Rust's within 1 (naive); the CPU backend's own vectorized exp within
/// 1.01, measured over every f32 t in [-104, 0] (src/cpu/simd.rs,
/// `exp_error_exhaustive`). Either way the f32 rounding of t = x - max adds |t|/2
/// ulp of relative error to e^t.
pub fn exp_ulps(backend: &str, t: f64) -> f64 {
    let t = t.abs();
    match backend {
        "gpu" => 3.0 + 2.0 * t + t / 2.0,
        "cpu" => 1.01 + t / 2.0,
        _ => 1.0 + t / 2.0,
    }
}

/// Summation error in ulps of a sum of n non-negative terms. naive sums in
/// float64 and divides there: 1 (the final rounding to f32). cpu sums leaves of 256 in 16 chains of 16 joined by a 4-level tree
/// (20), then pairwise over leaves and, for rows cut into pieces, over pieces
/// (log2(n / 256) + 2): under 32 + log2(n). gpu: per-row
/// chains of at most 32 (short rows) or 8 terms per invocation, a 256-wide tree
/// (8 levels) and, for rows over 2048, a merge of chunks (at most 8 more levels
/// plus a chain of n / 2048 / 256): under 32 + 2 log2(n).
pub fn sum_ulps(backend: &str, n: usize) -> f64 {
    let lg = (n.max(2) as f64).log2();
    match backend {
        "naive" => 1.0,
        "cpu" => 32.0 + lg,
        _ => 32.0 + 2.0 * lg + n as f64 / 524_288.0,
    }
}

/// Compares one line (row) of results with a float64 oracle and its bound.
pub fn check_line(op: &str, l: usize, got: &[f32], want: &[f64], bound: &[f64]) -> Outcome {
    for (k, ((&g, &w), &b)) in got.iter().zip(want).zip(bound).enumerate() {
        let g = f64::from(g);
        let ok = if w.is_nan() {
            g.is_nan()
        } else {
            (g - w).abs() <= b
        };
        if !ok {
            return Err(fail(format!(
                "{op}: line {l} [{k}] got {g:e} want {w:e} bound {b:e}"
            )));
        }
    }
    Ok(())
}

/// Checks `got` line by line (rows for axis 1, columns for axis 0) against an
/// oracle that gives, for one float64 line, the wanted values and their bounds.
pub fn check_lines(
    op: &str,
    x: ArrayView2<'_, f32>,
    got: &Array2<f32>,
    axis: Axis,
    oracle: impl Fn(&[f64]) -> (Vec<f64>, Vec<f64>),
) -> Outcome {
    if got.dim() != x.dim() {
        return Err(fail(format!(
            "{op}: shape {:?} for {:?}",
            got.dim(),
            x.dim()
        )));
    }
    let (xl, gl) = if axis.0 == 1 {
        (x, got.view())
    } else {
        (x.reversed_axes(), got.view().reversed_axes())
    };
    for (l, (row, grow)) in xl.rows().into_iter().zip(gl.rows()).enumerate() {
        let r: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        let (want, bound) = oracle(&r);
        let g: Vec<f32> = grow.iter().copied().collect();
        check_line(op, l, &g, &want, &bound)?;
    }
    Ok(())
}

/// softmax of each row against float64, with the bound
///   |got - want| <= (E(t_i) + 16 * mean_j E(t_j) + S(n) + 4) eps * want + 2^-126
/// E = exp error for t = x - max; the weighted mean (weights e^t_j) is the error
/// of the sum's terms, counted 16 times since the GPU's online combine rescales
/// a partial sum by e^(m_old - m) at each of at most 16 merge levels, each with an
/// argument no larger than the term's own |t|; S = summation; 4 for the final
/// division and rounding. Values below 2^-126 may be flushed to 0 on the GPU.
pub fn check_softmax(b: &dyn Backend, x: ArrayView2<'_, f32>, axis: Axis) -> Outcome {
    let got = b.softmax_axis(x, axis)?;
    check_lines("softmax", x, &got, axis, softmax_oracle(b.name()))
}

/// The wanted softmax of one float64 line and the bound of `check_softmax`.
pub fn softmax_oracle(backend: &str) -> impl Fn(&[f64]) -> (Vec<f64>, Vec<f64>) + '_ {
    move |r| {
        let m = r.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = r.iter().map(|&v| (v - m).exp()).collect();
        let sum: f64 = e.iter().sum();
        let nan = r.iter().any(|v| v.is_nan() || *v == f64::INFINITY) || sum == 0.0;
        let want: Vec<f64> = e
            .iter()
            .map(|&v| if nan { f64::NAN } else { v / sum })
            .collect();
        let mean_e = r
            .iter()
            .zip(&e)
            .map(|(&v, &w)| w * exp_ulps(backend, v - m))
            .sum::<f64>()
            / sum;
        let s = sum_ulps(backend, r.len());
        let bound = r
            .iter()
            .zip(&want)
            .map(|(&v, &w)| {
                (exp_ulps(backend, v - m) + 16.0 * mean_e + s + 4.0) * EPS * w.abs() + 1.2e-38
            })
            .collect();
        (want, bound)
    }
}

/// normalize_rows against float64: out = x / ||x||, relative error
/// (S(n) / 2 + 6) eps: the sum of squares carries S(n) ulps, the square root
/// halves that, and the squares, sqrt, reciprocal and product add a few ulp
/// (inverseSqrt is within 2 ulp in WGSL). naive accumulates in float64: 2 ulp.
pub fn check_normalize(b: &dyn Backend, x: ArrayView2<'_, f32>, axis: Axis) -> Outcome {
    let got = b.normalize_rows_axis(x, axis)?;
    check_lines("normalize_rows", x, &got, axis, normalize_oracle(b.name()))
}

/// The wanted normalize_rows of one float64 line and the bound of `check_normalize`.
pub fn normalize_oracle(backend: &str) -> impl Fn(&[f64]) -> (Vec<f64>, Vec<f64>) + '_ {
    move |r| {
        let norm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
        let want: Vec<f64> = r
            .iter()
            .map(|&v| {
                if !norm.is_finite() {
                    f64::NAN
                } else if norm == 0.0 {
                    0.0
                } else {
                    v / norm
                }
            })
            .collect();
        let rel = if backend == "naive" {
            2.0
        } else {
            sum_ulps(backend, r.len()) / 2.0 + 6.0
        };
        let bound = want.iter().map(|w| rel * EPS * w.abs() + 1.2e-38).collect();
        (want, bound)
    }
}

pub fn check_both(b: &dyn Backend, x: ArrayView2<'_, f32>) -> Outcome {
    for axis in [Axis(1), Axis(0)] {
        check_softmax(b, x, axis)?;
        check_normalize(b, x, axis)?;
    }
    Ok(())
}

pub fn arr(m: usize, n: usize, seed: u64, lo: f32, hi: f32) -> Array2<f32> {
    Array2::from_shape_vec((m, n), values(m * n, seed, lo, hi)).unwrap()
}
