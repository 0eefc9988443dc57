//! dot, outer, matvec, matmul, l1 and l2 on every backend: the exercise's numbers,
//! a float64 oracle on random and awkward shapes, long sums, non-contiguous views,
//! edges, determinism and bad input. GPU-only cases drive the splitting paths and
//! the per-dispatch parameter blocks.
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

mod common;

use std::sync::OnceLock;

use common::{BackendCase, GpuCase, Outcome, check_expected, fail, values};
use gpu_basics::{Backend, Cpu, Error, Gpu};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, array, s};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const EPS: f64 = f32::EPSILON as f64;

// ---- inputs and oracles ----

fn vector(n: usize, seed: u64, lo: f32, hi: f32) -> Array1<f32> {
    Array1::from(values(n, seed, lo, hi))
}

/// Integers in lo..=hi.
fn int_vector(n: usize, seed: u64, lo: i32, hi: i32) -> Array1<f32> {
    vector(n, seed, lo as f32, (hi + 1) as f32).mapv(f32::floor)
}

fn matrix(m: usize, n: usize, seed: u64) -> Array2<f32> {
    vector(m * n, seed, -1.0, 1.0)
        .into_shape_with_order((m, n))
        .unwrap()
}

fn int_matrix(m: usize, n: usize, seed: u64) -> Array2<f32> {
    int_vector(m * n, seed, -2, 2)
        .into_shape_with_order((m, n))
        .unwrap()
}

/// A @ B in float64, and sum_p |a_ip b_pj| for the error bound.
fn matmul64(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> (Array2<f64>, Array2<f64>) {
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
enum Reduction {
    Dot,
    L1,
    L2,
}

impl Reduction {
    const ALL: [Reduction; 3] = [Reduction::Dot, Reduction::L1, Reduction::L2];

    fn name(self) -> &'static str {
        match self {
            Reduction::Dot => "dot",
            Reduction::L1 => "l1",
            Reduction::L2 => "l2",
        }
    }

    fn call(
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
    fn oracle(self, x: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> (f64, f64) {
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

/// d for a sum of n terms (see the file header), from each backend's algorithm:
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
fn sum_depth(backend: &str, n: usize) -> f64 {
    let n = n.max(1) as f64;
    match backend {
        "naive" => 1.0,
        "cpu" => 22.0 + (n / 512.0).ceil().log2().ceil(),
        _ => (n / 1048576.0).ceil() + (n / 262144.0).ceil() + 19.0,
    }
}

/// d for one matmul or matvec output with inner dimension k: naive sums in float64;
/// the cpu's gemm (blocked over k) and the gpu's tiled kernel add the k products
/// of each output in sequence within blocks (gamma_k at most); the gpu's matvec
/// has fewer (k / 256 per lane, then 8) but k + 8 covers both. The cpu's matvec
/// uses gemm's gemv (128 lanes of k / 128 terms) for rows up to 2^14, sums longer
/// rows as its dot sums one chunk (`sum_depth`), and takes ndarray's
/// general-stride product for other layouts; k + 8 covers all of them (no term of
/// a sum of k goes through more than k - 1 adds, whatever the order).
fn product_depth(backend: &str, k: usize) -> f64 {
    match backend {
        "naive" => 1.0,
        _ => k as f64 + 8.0,
    }
}

fn check_reduction(
    b: &dyn Backend,
    r: Reduction,
    x: ArrayView1<'_, f32>,
    y: ArrayView1<'_, f32>,
    exact: bool,
) -> Outcome {
    let got = f64::from(r.call(b, x, y)?);
    let (want, abs) = r.oracle(x, y);
    let tol = if exact {
        0.0
    } else {
        (sum_depth(b.name(), x.len()) + 2.0) * EPS * abs
    };
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
fn check_matrix(
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

fn check_matmul(
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

fn check_matvec(
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
fn check_outer(b: &dyn Backend, x: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Outcome {
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

// ---- the exercise's numbers ----

const X1: [f32; 15] = [9., 2., 5., 0., 0., 7., 5., 0., 0., 0., 9., 2., 5., 0., 0.];
const X2: [f32; 15] = [9., 2., 2., 9., 0., 9., 2., 5., 0., 0., 9., 2., 5., 0., 0.];

fn dot_exercise(b: &dyn Backend) -> Outcome {
    let (x1, x2) = (ndarray::arr1(&X1), ndarray::arr1(&X2));
    check_expected("dot", &[b.dot(x1.view(), x2.view())?], &[278.0], 0.0)
}

fn outer_exercise(b: &dyn Backend) -> Outcome {
    let (x1, x2) = (ndarray::arr1(&X1), ndarray::arr1(&X2));
    let got = b.outer(x1.view(), x2.view())?;
    if got.dim() != (15, 15) {
        return Err(fail(format!("outer: shape {:?}", got.dim())));
    }
    let first: Vec<f32> = got.row(0).to_vec();
    let want = [
        81., 18., 18., 81., 0., 81., 18., 45., 0., 0., 81., 18., 45., 0., 0.,
    ];
    check_expected("outer first row", &first, &want, 0.0)?;
    check_expected("outer sum", &[got.sum()], &[2376.0], 0.0)?;
    check_outer(b, x1.view(), x2.view())
}

/// The exercise's W is np.random.rand(3, len(x1)): uniform in [0, 1).
fn matvec_exercise(b: &dyn Backend) -> Outcome {
    let w = vector(45, 2024, 0.0, 1.0)
        .into_shape_with_order((3, 15))
        .unwrap();
    let x1 = ndarray::arr1(&X1);
    check_matvec(b, w.view(), x1.view(), false)?;
    // And as a matmul with x1 as a column, the same values.
    let col = x1.clone().into_shape_with_order((15, 1)).unwrap();
    check_matmul(b, w.view(), col.view(), false)
}

fn matmul_exercise(b: &dyn Backend) -> Outcome {
    let (a, c) = (matrix(3, 15, 1), matrix(15, 4, 2));
    check_matmul(b, a.view(), c.view(), false)
}

fn losses_exercise(b: &dyn Backend) -> Outcome {
    let yhat = ndarray::arr1(&[0.9f32, 0.2, 0.1, 0.4, 0.9]);
    let y = ndarray::arr1(&[1.0f32, 0.0, 0.0, 1.0, 1.0]);
    check_expected("l1", &[b.l1(yhat.view(), y.view())?], &[1.1], 1e-6)?;
    check_expected("l2", &[b.l2(yhat.view(), y.view())?], &[0.43], 1e-6)
}

// ---- matmul shapes ----

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn as_case_error(e: libtest_mimic::Failed) -> TestCaseError {
    TestCaseError::fail(e.message().unwrap_or_default().to_string())
}

/// Degenerate and tile-edge shapes, exact and with floats. (64 is the GPU tile; k
/// and n multiples of 4 take its vec4 path, the others its scalar path.)
fn matmul_shapes(b: &dyn Backend) -> Outcome {
    let shapes = [
        (1, 1, 1),
        (1, 7, 1),
        (1, 4096, 1),
        (5, 1, 7),
        (64, 1, 64),
        (1, 9, 13),
        (13, 9, 1),
        (97, 131, 61),
        (64, 64, 64),
        (63, 65, 67),
        (65, 63, 129),
        (128, 16, 128),
        (129, 20, 68),
        (33, 17, 4),
        (2, 3, 2),
    ];
    for (i, &(m, k, n)) in shapes.iter().enumerate() {
        let seed = 100 + i as u64;
        let (x, y) = (int_matrix(m, k, seed), int_matrix(k, n, seed + 50));
        check_matmul(b, x.view(), y.view(), true)?;
        let (x, y) = (matrix(m, k, seed), matrix(k, n, seed + 50));
        check_matmul(b, x.view(), y.view(), false)?;
    }
    Ok(())
}

fn matmul_random_shapes(b: &dyn Backend) -> Outcome {
    let shapes = (0usize..=80, 0usize..=80, 0usize..=80, any::<u64>());
    runner(40)
        .run(&shapes, |(m, k, n, seed)| {
            let (x, y) = (int_matrix(m, k, seed), int_matrix(k, n, seed ^ 1));
            check_matmul(b, x.view(), y.view(), true).map_err(as_case_error)
        })
        .map_err(|e| fail(e.to_string()))
}

/// A, B, the float64 A @ B and sum|a b|: computed once, shared by the three backends.
type BigCase = (Array2<f32>, Array2<f32>, Array2<f64>, Array2<f64>);

fn big_oracle(exact: bool) -> &'static BigCase {
    static INT: OnceLock<BigCase> = OnceLock::new();
    static FLOAT: OnceLock<BigCase> = OnceLock::new();
    let make = |exact: bool| {
        let (a, c) = if exact {
            (int_matrix(1024, 1024, 7), int_matrix(1024, 1024, 8))
        } else {
            (matrix(1024, 1024, 7), matrix(1024, 1024, 8))
        };
        let (want, abs) = matmul64(a.view(), c.view());
        (a, c, want, abs)
    };
    if exact {
        INT.get_or_init(|| make(true))
    } else {
        FLOAT.get_or_init(|| make(false))
    }
}

/// 1024 x 1024 x 1024, exact (integers up to 2: partial sums below 4096) and with
/// floats in [-1, 1) (tolerance about 0.03 against values of about 10).
fn matmul_1024(b: &dyn Backend) -> Outcome {
    for exact in [true, false] {
        let (a, c, want, abs) = big_oracle(exact);
        let got = b.matmul(a.view(), c.view())?;
        check_matrix(
            "matmul 1024^3",
            got.view(),
            want,
            abs,
            product_depth(b.name(), 1024),
            exact,
        )?;
    }
    Ok(())
}

/// A long inner dimension: 1 x 1,000,000 x 1 (the GPU's matvec path) and 3 x 100,003
/// x 5 (its tiled kernel walking 6,251 k-steps). Exact: integers in -1..=1 keep the
/// partial sums below 10^6.
fn matmul_long_k(b: &dyn Backend) -> Outcome {
    for (m, k, n) in [
        (1, 1_000_000, 1),
        (3, 100_003, 5),
        (2, 100_000, 8),
        (67, 40_000, 3),
    ] {
        let x = int_vector(m * k, 11, -1, 1)
            .into_shape_with_order((m, k))
            .unwrap();
        let y = int_vector(k * n, 12, -1, 1)
            .into_shape_with_order((k, n))
            .unwrap();
        check_matmul(b, x.view(), y.view(), true)?;
    }
    let (x, y) = (matrix(1, 1_000_000, 13), matrix(1_000_000, 1, 14));
    check_matmul(b, x.view(), y.view(), false)
}

fn matvec_shapes(b: &dyn Backend) -> Outcome {
    for (i, &(m, k)) in [
        (1, 1),
        (3, 15),
        (4, 4),
        (5, 3),
        (7, 64),
        (9, 65),
        (257, 255),
        (1000, 1),
        (3, 100_000),
    ]
    .iter()
    .enumerate()
    {
        let seed = 300 + i as u64;
        let (w, x) = (int_matrix(m, k, seed), int_vector(k, seed + 1, -2, 2));
        check_matvec(b, w.view(), x.view(), true)?;
        let (w, x) = (matrix(m, k, seed), vector(k, seed + 1, -1.0, 1.0));
        check_matvec(b, w.view(), x.view(), false)?;
    }
    Ok(())
}

fn outer_shapes(b: &dyn Backend) -> Outcome {
    // The last two are past the CPU's threading threshold (2^16 outputs) and split
    // into pieces of whole rows (one wide, one tall).
    for (m, n) in [
        (1, 1),
        (1, 5),
        (5, 1),
        (3, 4),
        (7, 9),
        (64, 65),
        (300, 301),
        (1201, 999),
        (3, 400_001),
    ] {
        let (x, y) = (
            vector(m, m as u64, -10.0, 10.0),
            vector(n, n as u64 + 9, -10.0, 10.0),
        );
        check_outer(b, x.view(), y.view())?;
    }
    Ok(())
}

/// outer_into gives outer's bits, into a contiguous output prefilled with
/// garbage and into a transposed one, at empty, odd and threaded sizes; a
/// wrong output shape is an error naming the op and both shapes.
fn outer_into(b: &dyn Backend) -> Outcome {
    for (m, n) in [
        (0, 5),
        (5, 0),
        (1, 1),
        (7, 9),
        (64, 65),
        (1201, 999),
        (3, 400_001),
    ] {
        let (x, y) = (
            vector(m, m as u64 + 3, -10.0, 10.0),
            vector(n, n as u64 + 5, -10.0, 10.0),
        );
        let want = b.outer(x.view(), y.view())?;
        let mut out = Array2::from_elem((m, n), f32::NAN);
        b.outer_into(x.view(), y.view(), out.view_mut())?;
        let mut backing = Array2::from_elem((n, m), f32::NAN);
        b.outer_into(x.view(), y.view(), backing.view_mut().reversed_axes())?;
        for (what, got) in [("contiguous", out.view()), ("transposed", backing.t())] {
            if let Some(((i, j), g)) = got
                .indexed_iter()
                .find(|&((i, j), g)| g.to_bits() != want[[i, j]].to_bits())
            {
                return Err(fail(format!(
                    "outer_into ({m},) x ({n},), {what} out: [{i}, {j}] got {g} want {}",
                    want[[i, j]]
                )));
            }
        }
    }
    let (x, y) = (vector(2, 1, 0.0, 1.0), vector(3, 2, 0.0, 1.0));
    let mut wrong = Array2::<f32>::zeros((3, 2));
    match b.outer_into(x.view(), y.view(), wrong.view_mut()) {
        Err(
            e @ Error::Shape {
                op: "outer_into", ..
            },
        ) if e.to_string().contains("(3, 2)") && e.to_string().contains("(2, 3)") => Ok(()),
        other => Err(fail(format!(
            "outer_into with a (3, 2) out for (2, 3): {other:?}"
        ))),
    }
}

// ---- reductions ----

/// Subnormal operands and results in dot, outer, matvec and l1, with values whose
/// every product and sum is exact in f32: IEEE's results on the CPU backends; on
/// the GPU those or the ones with subnormals read as zero, which WGSL allows and
/// SwiftShader gives ([1e-40] . [2^66] = 0 there). Named for the difference.
fn subnormals_gpu_may_flush(b: &dyn Backend) -> Outcome {
    use common::{exact_or_flushed, ftz};
    let (s, big) = (1e-40f32, 2f32.powi(66));
    let name = b.name();
    // dot: four equal exact terms s * 2^66 (normal).
    let (x, y) = (Array1::from_elem(4, s), Array1::from_elem(4, big));
    let got = b.dot(x.view(), y.view())?;
    exact_or_flushed("dot", name, &[got], &[4.0 * (s * big)], &[0.0])?;
    // outer: subnormal inputs and a subnormal result (s * 1).
    let (x, y) = (array![s, 1.0, -s], array![big, s, 1.0, 0.5]);
    let got = b.outer(x.view(), y.view())?;
    let exact: Vec<f32> = x
        .iter()
        .flat_map(|&p| y.iter().map(move |&q| p * q))
        .collect();
    let flushed: Vec<f32> = x
        .iter()
        .flat_map(|&p| y.iter().map(move |&q| ftz(ftz(p) * ftz(q))))
        .collect();
    exact_or_flushed(
        "outer",
        name,
        &got.iter().copied().collect::<Vec<_>>(),
        &exact,
        &flushed,
    )?;
    // matvec: a row of subnormals times 2^66, and one where they are absorbed.
    let w = array![[s, s, s], [1.0, s, 0.0]];
    let v = array![big, big, big];
    let got = b.matvec(w.view(), v.view())?;
    exact_or_flushed(
        "matvec",
        name,
        &got.to_vec(),
        &[3.0 * (s * big), big],
        &[0.0, big],
    )?;
    // l1: a subnormal result, |(-s) - s| = 2s.
    let got = b.l1(array![s, 0.0].view(), array![-s, 0.0].view())?;
    exact_or_flushed("l1", name, &[got], &[2.0 * s], &[0.0])
}

/// Lengths around the GPU's vec4 (4), workgroup (1024 elements) and grid
/// (1024 workgroups = 2^20 elements) boundaries. Exact: integers in -3..=3.
fn reduction_lengths(b: &dyn Backend) -> Outcome {
    for n in [
        1, 2, 3, 4, 5, 7, 255, 1023, 1024, 1025, 4097, 65_537, 1_048_575, 1_048_577, 3_000_001,
    ] {
        let (x, y) = (
            int_vector(n, n as u64, -3, 3),
            int_vector(n, n as u64 + 1, -3, 3),
        );
        for r in Reduction::ALL {
            check_reduction(b, r, x.view(), y.view(), true)?;
        }
    }
    Ok(())
}

/// 10^7 random floats against float64, with the bound of `sum_depth` (for the GPU,
/// d = 69: |error| <= 71 eps sum|terms|, about 8.5e-6 relative to sum|terms|).
fn reductions_1e7(b: &dyn Backend) -> Outcome {
    let n = 10_000_000;
    let (x, y) = (vector(n, 41, -1.0, 1.0), vector(n, 42, -1.0, 1.0));
    for r in Reduction::ALL {
        check_reduction(b, r, x.view(), y.view(), false)?;
    }
    // All-positive terms: no cancellation, so the bound is relative to the result.
    let (p, t) = (vector(n, 43, 0.0, 1.0), vector(n, 44, 0.0, 1.0));
    check_reduction(b, Reduction::Dot, p.view(), t.view(), false)
}

/// Same input, same bits: three runs of each op.
fn deterministic(b: &dyn Backend) -> Outcome {
    let n = 1_000_003;
    let (x, y) = (vector(n, 51, -1.0, 1.0), vector(n, 52, -1.0, 1.0));
    for r in Reduction::ALL {
        let runs: Vec<u32> = (0..3)
            .map(|_| r.call(b, x.view(), y.view()).map(f32::to_bits))
            .collect::<Result<_, _>>()?;
        if runs.iter().any(|&v| v != runs[0]) {
            return Err(fail(format!("{}: runs differ: {runs:x?}", r.name())));
        }
    }
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let (a, c) = (matrix(97, 131, 53), matrix(131, 61, 54));
    let first = bits(b.matmul(a.view(), c.view())?.as_slice().unwrap());
    for _ in 0..2 {
        if bits(b.matmul(a.view(), c.view())?.as_slice().unwrap()) != first {
            return Err(fail("matmul: runs differ"));
        }
    }
    // The second W is over 16 MiB: the CPU reads it backward on every other
    // call, with the same bits.
    for (m, k, seed) in [(300, 1000, 55), (2100, 2100, 57)] {
        let (w, v) = (matrix(m, k, seed), vector(k, seed + 1, -1.0, 1.0));
        let first = bits(b.matvec(w.view(), v.view())?.as_slice().unwrap());
        for _ in 0..2 {
            if bits(b.matvec(w.view(), v.view())?.as_slice().unwrap()) != first {
                return Err(fail(format!("matvec {m} x {k}: runs differ")));
            }
        }
    }
    Ok(())
}

// ---- layouts, edges, bad input ----

/// Transposed, stepped and reversed views: read in logical order everywhere.
fn non_contiguous_inputs(b: &dyn Backend) -> Outcome {
    let a = int_matrix(70, 37, 61); // used as its transpose, 37 x 70
    let c = int_matrix(140, 45, 62); // every second row: 70 x 45
    check_matmul(b, a.t(), c.slice(s![..;2, ..]), true)?;
    let c2 = int_matrix(45, 70, 63);
    check_matmul(b, c.slice(s![..;-2, 3..40]), c2.slice(s![5..42, ..]), true)?;
    let w = int_matrix(50, 33, 64);
    let x = int_vector(150, 65, -2, 2);
    check_matvec(b, w.t(), x.slice(s![..;-3]), true)?;
    let (u, v) = (int_vector(99, 66, -3, 3), int_vector(33, 67, -3, 3));
    for r in Reduction::ALL {
        check_reduction(b, r, u.slice(s![..;3]), v.slice(s![..;-1]), true)?;
    }
    check_outer(b, u.slice(s![..;-4]), v.slice(s![1..;2]))
}

fn empty_inputs(b: &dyn Backend) -> Outcome {
    let e = Array1::<f32>::zeros(0);
    for r in Reduction::ALL {
        let got = r.call(b, e.view(), e.view())?;
        if got != 0.0 {
            return Err(fail(format!("{} of empty vectors: {got}", r.name())));
        }
    }
    let v = vector(3, 1, -1.0, 1.0);
    if b.outer(e.view(), v.view())?.dim() != (0, 3) || b.outer(v.view(), e.view())?.dim() != (3, 0)
    {
        return Err(fail("outer with an empty vector: wrong shape"));
    }
    let zeros = |m, n| Array2::<f32>::zeros((m, n));
    // numpy: k = 0 gives zeros; m = 0 or n = 0 an empty result.
    for (m, k, n) in [
        (3, 0, 4),
        (3, 0, 1),
        (0, 4, 3),
        (3, 4, 0),
        (0, 0, 0),
        (0, 5, 1),
    ] {
        let got = b.matmul(zeros(m, k).view(), zeros(k, n).view())?;
        if got.dim() != (m, n) || got.iter().any(|&x| x != 0.0) {
            return Err(fail(format!("matmul ({m}, {k}) x ({k}, {n}): {got:?}")));
        }
    }
    let got = b.matvec(zeros(3, 0).view(), e.view())?;
    if got.len() != 3 || got.iter().any(|&x| x != 0.0) {
        return Err(fail(format!("matvec (3, 0) x (0,): {got:?}")));
    }
    if !b.matvec(zeros(0, 3).view(), v.view())?.is_empty() {
        return Err(fail("matvec (0, 3) x (3,) is not empty"));
    }
    Ok(())
}

fn nan_and_inf_propagate(b: &dyn Backend) -> Outcome {
    let mut x = vector(1000, 71, -1.0, 1.0);
    let y = vector(1000, 72, -1.0, 1.0);
    x[517] = f32::NAN;
    for r in Reduction::ALL {
        let got = r.call(b, x.view(), y.view())?;
        if !got.is_nan() {
            return Err(fail(format!("{} with a NaN: {got}", r.name())));
        }
    }
    x[517] = f32::INFINITY;
    for r in [Reduction::L1, Reduction::L2] {
        let got = r.call(b, x.view(), y.view())?;
        if got != f32::INFINITY {
            return Err(fail(format!("{} with an inf: {got}", r.name())));
        }
    }
    let got = b.dot(x.view(), y.view())?;
    if got != f32::INFINITY.copysign(y[517]) {
        return Err(fail(format!("dot with an inf times {}: {got}", y[517])));
    }
    // A NaN at the first, middle or last place of a vector spread over many
    // workgroups (and threads on the CPU) reaches the sum.
    let n = 100_003;
    let (u, v) = (vector(n, 78, -1.0, 1.0), vector(n, 79, -1.0, 1.0));
    for p in [0, n / 2, n - 1] {
        let mut u = u.clone();
        u[p] = f32::NAN;
        for r in Reduction::ALL {
            let got = r.call(b, u.view(), v.view())?;
            if !got.is_nan() {
                return Err(fail(format!(
                    "{} with a NaN at {p} of {n}: {got}",
                    r.name()
                )));
            }
        }
    }
    let mut a = matrix(70, 9, 73);
    a[[66, 4]] = f32::NAN;
    let c = matrix(9, 70, 74);
    let got = b.matmul(a.view(), c.view())?;
    for ((i, j), &v) in got.indexed_iter() {
        if v.is_nan() != (i == 66) {
            return Err(fail(format!(
                "matmul: [{i}, {j}] = {v} (NaN only in row 66)"
            )));
        }
    }
    // k = 64 takes the GPU's four-at-a-time inner loop (k = 9 ends in its
    // one-at-a-time tail): a NaN in row 66 of A and an inf in column 13 of B.
    let mut a4 = matrix(70, 64, 80);
    a4[[66, 37]] = f32::NAN;
    let mut c4 = matrix(64, 70, 81);
    c4[[5, 13]] = f32::INFINITY;
    let got = b.matmul(a4.view(), c4.view())?;
    for ((i, j), &v) in got.indexed_iter() {
        let ok = match (i, j) {
            (66, _) => v.is_nan(),
            (_, 13) => v == f32::INFINITY.copysign(a4[[i, 5]]),
            _ => v.is_finite(),
        };
        if !ok {
            return Err(fail(format!(
                "matmul, k = 64: [{i}, {j}] = {v} (NaN in row 66, inf in column 13)"
            )));
        }
    }
    let got = b.matvec(a.view(), vector(9, 75, -1.0, 1.0).view())?;
    if got.iter().enumerate().any(|(i, v)| v.is_nan() != (i == 66)) {
        return Err(fail(format!("matvec: NaN not only in row 66: {got}")));
    }
    // Rows past 2^14 columns take the CPU's own kernel, whose row tails read a
    // whole lane vector on into the next row: a NaN at the start of row 2
    // must stay in row 2 (16393 = 512 * 32 + 9 leaves a 9-element tail).
    let mut w = matrix(6, 16_393, 76);
    w[[2, 0]] = f32::NAN;
    let got = b.matvec(w.view(), vector(16_393, 77, -1.0, 1.0).view())?;
    if got.iter().enumerate().any(|(i, v)| v.is_nan() != (i == 2)) {
        return Err(fail(format!(
            "matvec, long rows: NaN not only in row 2: {got}"
        )));
    }
    let got = b.outer(x.slice(s![515..520]), y.slice(s![..3]))?;
    if got
        .indexed_iter()
        .any(|((i, _), v)| v.is_infinite() != (i == 2))
    {
        return Err(fail(format!("outer with an inf: {got}")));
    }
    Ok(())
}

fn expect_shape_error(
    what: &str,
    r: gpu_basics::Result<impl std::fmt::Debug>,
    op: &str,
    a: &str,
    c: &str,
) -> Outcome {
    match r {
        Err(e @ Error::Shape { .. }) => {
            let msg = e.to_string();
            if msg.starts_with(op) && msg.contains(a) && msg.contains(c) {
                Ok(())
            } else {
                Err(fail(format!(
                    "{what}: message does not name {op}, {a} and {c}: {msg}"
                )))
            }
        }
        other => Err(fail(format!(
            "{what}: expected a shape error, got {other:?}"
        ))),
    }
}

fn shape_mismatch(b: &dyn Backend) -> Outcome {
    let (v3, v4) = (vector(3, 1, 0.0, 1.0), vector(4, 2, 0.0, 1.0));
    for r in Reduction::ALL {
        expect_shape_error(
            r.name(),
            r.call(b, v3.view(), v4.view()),
            r.name(),
            "(3,)",
            "(4,)",
        )?;
    }
    let (m34, m52) = (matrix(3, 4, 3), matrix(5, 2, 4));
    expect_shape_error(
        "matmul",
        b.matmul(m34.view(), m52.view()),
        "matmul: (3, 4) x (5, 2): inner dimensions differ",
        "(3, 4)",
        "(5, 2)",
    )?;
    let v5 = vector(5, 5, 0.0, 1.0);
    expect_shape_error(
        "matvec",
        b.matvec(m34.view(), v5.view()),
        "matvec",
        "(3, 4)",
        "(5,)",
    )
}

// ---- GPU only ----

/// A context with 4 KiB bindings (1024 f32) and at most 3 workgroups per grid
/// dimension: every op runs in several windows, each a 2-D grid, on small arrays.
fn splitting_paths(_: &Gpu) -> Outcome {
    let small = common::small_gpu(4096, Some(3))?;
    for n in [1, 1023, 1024, 1025, 5000, 12_345] {
        let (x, y) = (
            int_vector(n, n as u64, -3, 3),
            int_vector(n, n as u64 + 1, -3, 3),
        );
        for r in Reduction::ALL {
            check_reduction(&small, r, x.view(), y.view(), true)?;
        }
    }
    for (m, k) in [(300, 37), (300, 40), (5, 900), (2000, 1), (9, 1024)] {
        let (w, x) = (int_matrix(m, k, 7), int_vector(k, 8, -2, 2));
        check_matvec(&small, w.view(), x.view(), true)?;
    }
    for (m, k, n) in [
        (97, 13, 61),
        (200, 8, 12),
        (70, 16, 64),
        (150, 1, 300),
        (40, 300, 1),
    ] {
        let (a, c) = (int_matrix(m, k, 9), int_matrix(k, n, 10));
        check_matmul(&small, a.view(), c.view(), true)?;
    }
    for (m, n) in [(300, 70), (1, 1024), (33, 31), (1024, 3)] {
        let (x, y) = (vector(m, 11, -5.0, 5.0), vector(n, 12, -5.0, 5.0));
        check_outer(&small, x.view(), y.view())?;
    }
    // B larger than one binding is refused, naming op and shapes.
    let (a, c) = (matrix(2, 40, 13), matrix(40, 30, 14));
    match small.matmul(a.view(), c.view()) {
        Err(e @ Error::TooLarge { op: "matmul", .. })
            if e.to_string().contains("(2, 40)") && e.to_string().contains("(40, 30)") =>
        {
            Ok(())
        }
        other => Err(fail(format!("matmul with a B past one binding: {other:?}"))),
    }
}

/// Every dispatch carries its own parameter block. Many products of different
/// shapes are recorded resident (more than one 32-dispatch batch) before anything
/// is read, so a block overwritten or shared between dispatches would show.
fn parameters_per_dispatch(gpu: &Gpu) -> Outcome {
    let mut pending = Vec::new();
    for i in 0..24usize {
        let (m, k, n) = (1 + i * 3, 1 + (i * 7) % 41, 2 + (i * 5) % 37);
        let (a, c) = (int_matrix(m, k, i as u64), int_matrix(k, n, 100 + i as u64));
        let x = int_vector(k, 200 + i as u64, -2, 2);
        let ga = gpu.upload(&a)?;
        let prod = ga.matmul(&gpu.upload(&c)?)?;
        let mv = ga.matvec(&gpu.upload(&x)?)?;
        let d = gpu.upload(&x)?.dot(&gpu.upload(&x)?)?;
        pending.push((a, c, x, prod, mv, d));
    }
    for (a, c, x, prod, mv, d) in pending {
        let (want, abs) = matmul64(a.view(), c.view());
        let got = prod.to_array()?.into_dimensionality().unwrap();
        check_matrix("resident matmul", got.view(), &want, &abs, 0.0, true)?;
        let got: Array1<f32> = mv.to_array()?.into_dimensionality().unwrap();
        let (want, abs) = matmul64(a.view(), x.view().insert_axis(ndarray::Axis(1)));
        check_matrix(
            "resident matvec",
            got.view().insert_axis(ndarray::Axis(1)),
            &want,
            &abs,
            0.0,
            true,
        )?;
        let got = d.to_array()?;
        let want = x.iter().map(|&v| f64::from(v * v)).sum::<f64>();
        if got.shape() != [] as [usize; 0] || f64::from(got[[]]) != want {
            return Err(fail(format!("resident dot: {got} want {want}")));
        }
    }
    Ok(())
}

/// Four threads recording products of different shapes into one `Gpu` at once.
fn threads_share_one_gpu(gpu: &Gpu) -> Outcome {
    common::in_threads(4, |t| {
        for i in 0..10u64 {
            let (m, k, n) = (
                (1 + t * 17 + i * 5) as usize,
                (1 + t * 3 + i * 11) as usize,
                (2 + t + i * 7) as usize,
            );
            let (a, c) = (int_matrix(m, k, t * 100 + i), int_matrix(k, n, t + i));
            check_matmul(gpu, a.view(), c.view(), true)?;
            let x = int_vector(k * 50, t + 7 * i, -3, 3);
            check_reduction(gpu, Reduction::L2, x.view(), x.slice(s![..;-1]), true)?;
        }
        Ok(())
    })
}

/// outer -> matvec -> dot without leaving the device; the scalar is a 0-d array.
fn resident_chain(gpu: &Gpu) -> Outcome {
    let (u, v, x) = (
        int_vector(40, 1, -3, 3),
        int_vector(30, 2, -3, 3),
        int_vector(30, 3, -3, 3),
    );
    let m = gpu.upload(&u)?.outer(&gpu.upload(&v)?)?;
    let y = m.matvec(&gpu.upload(&x)?)?;
    let d = y.dot(&gpu.upload(&u)?)?;
    if d.shape() != [] as [usize; 0] || y.shape() != [40] || m.shape() != [40, 30] {
        return Err(fail(format!(
            "shapes {:?} {:?} {:?}",
            m.shape(),
            y.shape(),
            d.shape()
        )));
    }
    let vx: f32 = v.dot(&x);
    let want: f32 = u.iter().map(|&ui| ui * vx * ui).sum();
    let got = d.to_array()?[[]];
    if got != want {
        return Err(fail(format!("chain: got {got}, want {want}")));
    }
    Ok(())
}

/// Past one storage binding at the device's own limit (33,554,432 f32 on lavapipe):
/// two windows of partial sums. Random floats against the bound, and then exact
/// inputs compared bit for bit, where dropping any workgroup's partial or the
/// second window (1,001 elements) changes the answer: a one at every 8th place
/// and at the last place of the first window, against a 2 and a -1 at every
/// 8th place. Every term is 0 or 1 in dot, l1 and l2 alike, so every partial
/// sum is an integer below 2^24 and exact in any order.
fn reduction_past_one_binding(gpu: &Gpu) -> Outcome {
    let n = 33_554_432 + 1_001;
    let (x, y) = (vector(n, 81, -1.0, 1.0), vector(n, 82, -1.0, 1.0));
    for r in Reduction::ALL {
        check_reduction(gpu, r, x.view(), y.view(), false)?;
    }
    let x = Array1::from_shape_fn(n, |i| {
        if i % 8 == 0 || i == 33_554_431 {
            1.0f32
        } else {
            0.0
        }
    });
    let y = Array1::from_shape_fn(n, |i| match i % 8 {
        0 => 2.0f32,
        4 => -1.0,
        _ => 0.0,
    });
    // dot: 2 per 8 (x = 1, y = 2); l1 and l2: 1 at each place x or y is non-zero.
    let ones = n.div_ceil(8) as f64;
    for r in Reduction::ALL {
        check_reduction(gpu, r, x.view(), y.view(), true)?;
        let want = match r {
            Reduction::Dot => 2.0 * ones,
            _ => ones + (n - 4).div_ceil(8) as f64 + 1.0,
        };
        if r.oracle(x.view(), y.view()).0 != want {
            return Err(fail(format!("{}: the oracle is not {want}", r.name())));
        }
    }
    Ok(())
}

fn gpu_and_cpu_agree(gpu: &Gpu) -> Outcome {
    // The CPU backend as a second opinion on one awkward shape, beside the oracle.
    let (a, c) = (int_matrix(97, 131, 91), int_matrix(131, 61, 92));
    if gpu.matmul(a.view(), c.view())? != Cpu.matmul(a.view(), c.view())? {
        return Err(fail("gpu and cpu differ on an exact matmul"));
    }
    Ok(())
}

const CASES: &[BackendCase] = &[
    ("dot_exercise", dot_exercise),
    ("outer_exercise", outer_exercise),
    ("matvec_exercise", matvec_exercise),
    ("matmul_exercise", matmul_exercise),
    ("losses_exercise", losses_exercise),
    ("matmul_shapes", matmul_shapes),
    ("matmul_random_shapes", matmul_random_shapes),
    ("matmul_1024", matmul_1024),
    ("matmul_long_k", matmul_long_k),
    ("matvec_shapes", matvec_shapes),
    ("outer_shapes", outer_shapes),
    ("outer_into", outer_into),
    ("reduction_lengths", reduction_lengths),
    ("reductions_1e7", reductions_1e7),
    ("deterministic", deterministic),
    ("non_contiguous_inputs", non_contiguous_inputs),
    ("empty_inputs", empty_inputs),
    ("nan_and_inf_propagate", nan_and_inf_propagate),
    ("subnormals_gpu_may_flush", subnormals_gpu_may_flush),
    ("shape_mismatch", shape_mismatch),
];

const GPU_CASES: &[GpuCase] = &[
    ("splitting_paths", splitting_paths),
    ("parameters_per_dispatch", parameters_per_dispatch),
    ("threads_share_one_gpu", threads_share_one_gpu),
    ("resident_chain", resident_chain),
    ("reduction_past_one_binding", reduction_past_one_binding),
    ("gpu_and_cpu_agree", gpu_and_cpu_agree),
];

fn main() {
    common::run(CASES, GPU_CASES);
}
