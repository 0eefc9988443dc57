//! Inputs, float64 oracles and checks for the product tests (tests/products.rs,
//! tests/matmul.rs, tests/reductions.rs, tests/product_edges.rs and the product
//! cases of tests/gpu_runtime.rs), written once.
//!
//! Two kinds of check:
//! - exact: small-integer inputs keep every partial sum an integer below 2^24, so
//!   every backend must return the float64 value bit for bit, whatever its order of
//!   summation. Any dropped, doubled or misplaced term (an off-by-one tile edge, a
//!   wrong stride) changes the result by at least 1 and fails.
//! - bounded: random floats, |got - want| <= (d + 2) * eps * sum|terms|, where d is
//!   the most additions any one term goes through in that backend's summation order
//!   (the classic bound is gamma_d = d * u / (1 - d * u) with u = eps / 2, so using
//!   eps leaves a factor of 2), and the 2 covers the rounding of the terms themselves
//!   (a product: u; (y - yhat)^2: 3u).
//!
//! `sum_depth` and `product_depth` give d for each backend, derived below from
//! each backend's algorithm.

use gpu_basics::Backend;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::{Outcome, fail, values};

pub const EPS: f64 = f32::EPSILON as f64;

pub fn vector(n: usize, seed: u64, lo: f32, hi: f32) -> Array1<f32> {
    Array1::from(values(n, seed, lo, hi))
}

/// Integers in lo..=hi.
pub fn int_vector(n: usize, seed: u64, lo: i32, hi: i32) -> Array1<f32> {
    vector(n, seed, lo as f32, (hi + 1) as f32).mapv(f32::floor)
}

pub fn matrix(m: usize, n: usize, seed: u64) -> Array2<f32> {
    vector(m * n, seed, -1.0, 1.0)
        .into_shape_with_order((m, n))
        .unwrap()
}

pub fn int_matrix(m: usize, n: usize, seed: u64) -> Array2<f32> {
    int_vector(m * n, seed, -2, 2)
        .into_shape_with_order((m, n))
        .unwrap()
}

/// A @ B in float64, and sum_p |a_ip b_pj| for the error bound.
pub fn matmul64(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> (Array2<f64>, Array2<f64>) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let (a, b) = (a.mapv(f64::from), b.mapv(f64::from));
    let mut want = Array2::zeros((m, n));
    let mut abs = Array2::zeros((m, n));
    for i in 0..m {
        for p in 0..k {
            let aip = a[[i, p]];
            for j in 0..n {
                want[[i, j]] += aip * b[[p, j]];
                abs[[i, j]] += (aip * b[[p, j]]).abs();
            }
        }
    }
    (want, abs)
}

#[derive(Clone, Copy, PartialEq)]
pub enum Reduction {
    Dot,
    L1,
    L2,
}

impl Reduction {
    pub const ALL: [Reduction; 3] = [Reduction::Dot, Reduction::L1, Reduction::L2];

    pub fn name(self) -> &'static str {
        match self {
            Reduction::Dot => "dot",
            Reduction::L1 => "l1",
            Reduction::L2 => "l2",
        }
    }

    pub fn call(
        self,
        b: &dyn Backend,
        x: ArrayView1<'_, f32>,
        y: ArrayView1<'_, f32>,
    ) -> gpu_basics::Result<f32> {
        match self {
            Reduction::Dot => b.dot(x, y),
            Reduction::L1 => b.l1(x, y),
            Reduction::L2 => b.l2(x, y),
        }
    }

    /// The float64 value and sum|terms|.
    pub fn oracle(self, x: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> (f64, f64) {
        let (mut sum, mut abs) = (0.0f64, 0.0f64);
        for (&u, &v) in x.iter().zip(y.iter()) {
            let (u, v) = (f64::from(u), f64::from(v));
            let t = match self {
                Reduction::Dot => u * v,
                Reduction::L1 => (v - u).abs(),
                Reduction::L2 => (v - u) * (v - u),
            };
            sum += t;
            abs += t.abs();
        }
        (sum, abs)
    }
}

/// d for a sum of n terms (in the bound of the test files' headers), from each
/// backend's algorithm:
/// - naive accumulates in float64 (as the exercise's Python loops do): one rounding.
/// - cpu (src/cpu/reduce.rs `reduce`, src/cpu/simd/products.rs `pair_sum`): 32
///   lanes, each adding at most 16 terms in order per leaf of 512; the leaves' lane
///   vectors merged by a pairwise counter (ceil(log2(leaves)) + 1), the lanes by
///   halves (5); chunks of 128 leaves joined by a tree (ceil(log2(chunks))): at
///   most 16 + 5 + 1 + ceil(log2(ceil(n / 512))). Adding a padding zero is exact.
/// - gpu (shaders/reduce.wgsl): with at most 1024 workgroups of 256 invocations each
///   reading vec4s, at most ceil(n / 2^20) sequential adds per lane, 2 over the vec4,
///   8 tree levels; then pass 2 over at most n / 1024 + (windows) partials: at most
///   ceil(n / 2^18) + 1 sequential adds and 8 tree levels.
pub fn sum_depth(backend: &str, n: usize) -> f64 {
    let n = n.max(1) as f64;
    match backend {
        "naive" => 1.0,
        "cpu" => 22.0 + (n / 512.0).ceil().log2().ceil(),
        _ => (n / 1048576.0).ceil() + (n / 262144.0).ceil() + 19.0,
    }
}

/// d for the GPU's sum of n terms in any reduce variant (shaders/reduce.wgsl:
/// `wg` invocations per workgroup, `vec4s` running sums each), with `window`
/// elements per binding and at most `max_groups` workgroups per dispatch, from
/// the host's rule (src/gpu/products.rs: per window, ceil(len / (4 wg vec4s))
/// workgroups, at most 2^18 / wg and max_groups): per lane at most
/// ceil(len / (4 wg vec4s groups)) sequential adds into each running sum,
/// vec4s - 1 to join them, 2 over the vec4, log2(wg) tree levels; then pass 2
/// over all P partials: ceil(P / wg) sequential adds and log2(wg) levels. For
/// the default (256, 1) this is within `sum_depth`'s gpu bound.
pub fn gpu_sum_depth(n: usize, wg: usize, vec4s: usize, window: usize, max_groups: usize) -> f64 {
    let (mut partials, mut per_lane) = (0, 0);
    for start in (0..n).step_by(window) {
        let len = window.min(n - start);
        let groups = len
            .div_ceil(4 * wg * vec4s)
            .min((1 << 18) / wg)
            .min(max_groups);
        partials += groups;
        per_lane = per_lane.max(len.div_ceil(4 * wg * vec4s * groups));
    }
    let levels = (wg as f64).log2();
    (per_lane + vec4s - 1 + 2 + partials.div_ceil(wg)) as f64 + 2.0 * levels
}

/// d for one matmul or matvec output with inner dimension k: naive sums in float64;
/// the cpu's gemm (blocked over k) and the gpu's tiled kernel add the k products
/// of each output in sequence within blocks (gamma_k at most); the gpu's matvec
/// has fewer (k / 256 per lane, then 8) but k + 8 covers both. The cpu's matvec
/// uses gemm's gemv (128 lanes of k / 128 terms) for rows up to 2^14, sums longer
/// rows as its dot sums one chunk (`sum_depth`), and takes ndarray's
/// general-stride product for other layouts; k + 8 covers all of them (no term of
/// a sum of k goes through more than k - 1 adds, whatever the order).
pub fn product_depth(backend: &str, k: usize) -> f64 {
    match backend {
        "naive" => 1.0,
        _ => k as f64 + 8.0,
    }
}

pub fn check_reduction(
    b: &dyn Backend,
    r: Reduction,
    x: ArrayView1<'_, f32>,
    y: ArrayView1<'_, f32>,
    exact: bool,
) -> Outcome {
    let depth = (!exact).then(|| sum_depth(b.name(), x.len()));
    check_reduction_within(b, r, x, y, depth)
}

/// `check_reduction` with the bound's d given (`None`: exact).
pub fn check_reduction_within(
    b: &dyn Backend,
    r: Reduction,
    x: ArrayView1<'_, f32>,
    y: ArrayView1<'_, f32>,
    depth: Option<f64>,
) -> Outcome {
    let got = f64::from(r.call(b, x, y)?);
    let (want, abs) = r.oracle(x, y);
    let tol = depth.map_or(0.0, |d| (d + 2.0) * EPS * abs);
    if (got - want).abs() <= tol {
        Ok(())
    } else {
        Err(fail(format!(
            "{}: n = {}: got {got:e}, want {want:e}, diff {:e} > tol {tol:e}",
            r.name(),
            x.len(),
            (got - want).abs()
        )))
    }
}

/// Compares a matrix (or a vector as one column) with the oracle, printing the
/// first mismatches with their index.
pub fn check_matrix(
    op: &str,
    got: ArrayView2<'_, f32>,
    want: &Array2<f64>,
    abs: &Array2<f64>,
    depth: f64,
    exact: bool,
) -> Outcome {
    if got.dim() != want.dim() {
        return Err(fail(format!(
            "{op}: shape {:?}, want {:?}",
            got.dim(),
            want.dim()
        )));
    }
    let mut bad = Vec::new();
    let mut count = 0;
    for ((idx, &g), (&w, &a)) in got.indexed_iter().zip(want.iter().zip(abs.iter())) {
        let g = f64::from(g);
        let tol = if exact { 0.0 } else { (depth + 2.0) * EPS * a };
        // Written so that a NaN fails too.
        let within = (g - w).abs() <= tol;
        if !within {
            count += 1;
            if bad.len() < 5 {
                bad.push(format!("  {idx:?}: got {g:e} want {w:e} tol {tol:e}"));
            }
        }
    }
    if count == 0 {
        Ok(())
    } else {
        Err(fail(format!(
            "{op}: {count} of {} values wrong; first:\n{}",
            got.len(),
            bad.join("\n")
        )))
    }
}

pub fn check_matmul(
    b: &dyn Backend,
    a: ArrayView2<'_, f32>,
    c: ArrayView2<'_, f32>,
    exact: bool,
) -> Outcome {
    let got = b.matmul(a, c)?;
    let (want, abs) = matmul64(a, c);
    let what = format!("matmul {:?} x {:?}", a.dim(), c.dim());
    check_matrix(
        &what,
        got.view(),
        &want,
        &abs,
        product_depth(b.name(), a.ncols()),
        exact,
    )
}

pub fn check_matvec(
    b: &dyn Backend,
    w: ArrayView2<'_, f32>,
    x: ArrayView1<'_, f32>,
    exact: bool,
) -> Outcome {
    let got = b.matvec(w, x)?;
    let col = x.insert_axis(ndarray::Axis(1));
    let (want, abs) = matmul64(w, col);
    let what = format!("matvec {:?} x ({},)", w.dim(), x.len());
    check_matrix(
        &what,
        got.view().insert_axis(ndarray::Axis(1)),
        &want,
        &abs,
        product_depth(b.name(), w.ncols()),
        exact,
    )
}

/// A product of two f32 is exact in f64, so its f32 rounding is what every
/// backend must return, bit for bit.
pub fn check_outer(b: &dyn Backend, x: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Outcome {
    let got = b.outer(x, y)?;
    let (m, n) = (x.len(), y.len());
    let want = Array2::from_shape_fn((m, n), |(i, j)| {
        f64::from((f64::from(x[i]) * f64::from(y[j])) as f32)
    });
    check_matrix(
        &format!("outer ({m},) x ({n},)"),
        got.view(),
        &want,
        &want,
        0.0,
        true,
    )
}
