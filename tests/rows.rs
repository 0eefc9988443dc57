//! normalize_rows and softmax on every backend, rows and columns: the exercise's
//! numbers, a float64 oracle on random and awkward shapes, large magnitudes,
//! zero rows, NaN and inf, bad input.

mod common;

use common::{BackendCase, GpuCase, Outcome, check_expected, fail, same_bits, values};
use gpu_basics::{Backend, Error, Gpu};
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis, array, s};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const EPS: f64 = f32::EPSILON as f64;

/// Error of exp(t) in ulps on `backend`: WGSL's exp is within 3 + 2|t| ulp (WGSL
/// spec); Rust's within 1 (naive); the CPU backend's own vectorized exp within
/// 1.01, measured over every f32 t in [-104, 0] (src/cpu/simd.rs,
/// `exp_error_exhaustive`). Either way the f32 rounding of t = x - max adds |t|/2
/// ulp of relative error to e^t.
fn exp_ulps(backend: &str, t: f64) -> f64 {
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
fn sum_ulps(backend: &str, n: usize) -> f64 {
    let lg = (n.max(2) as f64).log2();
    match backend {
        "naive" => 1.0,
        "cpu" => 32.0 + lg,
        _ => 32.0 + 2.0 * lg + n as f64 / 524_288.0,
    }
}

/// Compares one line (row) of results with a float64 oracle and its bound.
fn check_line(op: &str, l: usize, got: &[f32], want: &[f64], bound: &[f64]) -> Outcome {
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
fn check_lines(
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
fn check_softmax(b: &dyn Backend, x: ArrayView2<'_, f32>, axis: Axis) -> Outcome {
    let got = b.softmax_axis(x, axis)?;
    check_lines("softmax", x, &got, axis, softmax_oracle(b.name()))
}

/// The wanted softmax of one float64 line and the bound of `check_softmax`.
fn softmax_oracle(backend: &str) -> impl Fn(&[f64]) -> (Vec<f64>, Vec<f64>) + '_ {
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
fn check_normalize(b: &dyn Backend, x: ArrayView2<'_, f32>, axis: Axis) -> Outcome {
    let got = b.normalize_rows_axis(x, axis)?;
    check_lines("normalize_rows", x, &got, axis, normalize_oracle(b.name()))
}

/// The wanted normalize_rows of one float64 line and the bound of `check_normalize`.
fn normalize_oracle(backend: &str) -> impl Fn(&[f64]) -> (Vec<f64>, Vec<f64>) + '_ {
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

fn check_both(b: &dyn Backend, x: ArrayView2<'_, f32>) -> Outcome {
    for axis in [Axis(1), Axis(0)] {
        check_softmax(b, x, axis)?;
        check_normalize(b, x, axis)?;
    }
    Ok(())
}

fn arr(m: usize, n: usize, seed: u64, lo: f32, hi: f32) -> Array2<f32> {
    Array2::from_shape_vec((m, n), values(m * n, seed, lo, hi)).unwrap()
}

// ---- the exercise ----

fn normalize_rows_exercise(b: &dyn Backend) -> Outcome {
    let got = b.normalize_rows(array![[0.0f32, 3.0, 4.0], [1.0, 6.0, 4.0]].view())?;
    check_expected(
        "normalize_rows",
        got.as_slice().unwrap(),
        &[0.0, 0.6, 0.8, 0.13736056, 0.82416338, 0.54944226],
        1e-6,
    )
}

fn softmax_exercise(b: &dyn Backend) -> Outcome {
    let got = b.softmax(array![[9.0f32, 2.0, 5.0, 0.0, 0.0], [7.0, 5.0, 0.0, 0.0, 0.0]].view())?;
    check_expected(
        "softmax",
        got.as_slice().unwrap(),
        &[
            9.80897665e-01,
            8.94462891e-04,
            1.79657674e-02,
            1.21052389e-04,
            1.21052389e-04,
            8.78679856e-01,
            1.18916387e-01,
            8.01252314e-04,
            8.01252314e-04,
            8.01252314e-04,
        ],
        1e-6,
    )
}

// ---- shapes ----

fn rows_random_shapes(b: &dyn Backend) -> Outcome {
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        1usize..=12,
        prop_oneof![1usize..=40, 200usize..=300, 2040usize..=2060],
        any::<u64>(),
        0.5f32..30.0,
    );
    runner
        .run(&strategy, |(m, n, seed, range)| {
            let x = arr(m, n, seed, -range, range);
            check_both(b, x.view())
                .map_err(|e| TestCaseError::fail(e.message().unwrap_or_default().to_string()))
        })
        .map_err(|e| fail(e.to_string()))
}

/// Row lengths at every stage boundary of the GPU kernels (32 one-invocation
/// rows, 2048 one-workgroup rows, chunks beyond), and the extremes.
fn rows_awkward_shapes(b: &dyn Backend) -> Outcome {
    let shapes = [
        (1, 1),
        (1, 2),
        (7, 31),
        (7, 32),
        (7, 33),
        (5, 257),
        (300, 257),
        (3, 2047),
        (3, 2048),
        (3, 2049),
        (2, 4097),
        (1, 1_000_000),
        (1_000_000, 3),
        (70_000, 4),
    ];
    for (i, &(m, n)) in shapes.iter().enumerate() {
        let x = arr(m, n, i as u64, -20.0, 20.0);
        check_softmax(b, x.view(), Axis(1))
            .map_err(|e| fail(format!("({m}, {n}): {}", e.message().unwrap_or_default())))?;
        check_normalize(b, x.view(), Axis(1))
            .map_err(|e| fail(format!("({m}, {n}): {}", e.message().unwrap_or_default())))?;
    }
    Ok(())
}

/// Both ops along axis 0 must equal, bit for bit, the rows of the transpose.
fn columns_equal_transposed_rows(b: &dyn Backend, y: &Array2<f32>) -> Outcome {
    let (m, n) = y.dim();
    for (name, cols, rows) in [
        (
            "softmax",
            b.softmax_axis(y.view(), Axis(0))?,
            b.softmax(y.t())?,
        ),
        (
            "normalize_rows",
            b.normalize_rows_axis(y.view(), Axis(0))?,
            b.normalize_rows(y.t())?,
        ),
    ] {
        if cols.t() != rows {
            return Err(fail(format!(
                "{name} ({m}, {n}) along axis 0 differs from the transpose's rows"
            )));
        }
    }
    Ok(())
}

/// Columns must equal transposing, applying to rows, transposing back; inputs
/// may themselves be transposed or stepped views.
fn rows_columns_and_views(b: &dyn Backend) -> Outcome {
    let x = arr(37, 70, 9, -10.0, 10.0);
    check_both(b, x.t())?;
    check_both(b, x.slice(s![..;2, 1..;3]))?;
    for (m, n) in [(1, 5), (5, 1), (3000, 3), (3, 3000)] {
        let y = arr(m, n, 11, -5.0, 5.0);
        columns_equal_transposed_rows(b, &y)?;
    }
    Ok(())
}

/// Columns must equal the transpose's rows bit for bit also on arrays large
/// enough to be split over threads, with column counts that leave partial
/// panels, rows that leave partial leaves of a sum, and columns whose magnitudes
/// (1e30, 1e-30) take normalize_rows' rescaling paths. (203, 97) puts both
/// 203-long and 97-long rows through the CPU's four-rows-at-once normalize
/// path (rows of 64 to 255) with rows left over after the last four.
fn rows_columns_bit_exact_large(b: &dyn Backend) -> Outcome {
    for (m, n) in [(600, 500), (1000, 131), (4100, 70), (203, 97)] {
        let mut y = arr(m, n, 12, -8.0, 8.0);
        y.column_mut(3).mapv_inplace(|v| v * 1e30);
        y.column_mut(n - 2).mapv_inplace(|v| v * 1e-30);
        columns_equal_transposed_rows(b, &y)?;
        check_both(b, y.view())?;
    }
    Ok(())
}

/// 33,554,432 f32 fill one 128 MiB binding on lavapipe: these arrays need two
/// windows of whole rows, on the one-invocation path (3 columns) and on the
/// chunked path (4097 columns).
fn rows_larger_than_one_binding(b: &dyn Backend) -> Outcome {
    let x = arr(11_184_812, 3, 1, -30.0, 30.0);
    check_normalize(b, x.view(), Axis(1))?;
    drop(x);
    let x = arr(8_200, 4_097, 2, -30.0, 30.0);
    check_softmax(b, x.view(), Axis(1))
}

// ---- edges ----

fn rows_large_magnitudes(b: &dyn Backend) -> Outcome {
    let got = b.softmax(array![[1000.0f32, 1000.0], [-1000.0, -1000.0]].view())?;
    if got != array![[0.5f32, 0.5], [0.5, 0.5]] {
        return Err(fail(format!(
            "softmax([[1000, 1000], [-1000, -1000]]) = {got}"
        )));
    }
    let x = array![
        [3.0e38f32, 3.0e38, -1.0e38],
        [1.0e-30, 2.0e-30, -2.0e-30],
        [f32::MAX, 0.0, 1.0],
        [1.0e-40, 0.0, 0.0]
    ];
    check_normalize(b, x.view(), Axis(1))?;
    // Rows of subnormals only (|x| < 2^-126), on each row-length class (short,
    // fused, chunked): normalized as on the CPU on every device, also where the
    // device flushes subnormals (SwiftShader does): the kernel takes the scale
    // and significand from the bits (shaders/rows.wgsl).
    for (i, (m, n)) in [(9, 5), (7, 40), (3, 3000)].into_iter().enumerate() {
        let tiny = arr(m, n, 60 + i as u64, -1.0e-38, 1.0e-38);
        check_normalize(b, tiny.view(), Axis(1))?;
        check_normalize(b, tiny.view(), Axis(0))?;
    }
    check_softmax(b, arr(6, 50, 3, -1.0e4, 1.0e4).view(), Axis(1))?;
    check_normalize(b, arr(6, 50, 4, -3.0e38, 3.0e38).view(), Axis(1))
}

fn rows_zero_rows_nan_and_inf(b: &dyn Backend) -> Outcome {
    let inf = f32::INFINITY;
    let x = array![
        [0.0f32, 0.0, 0.0],
        [1.0, f32::NAN, 2.0],
        [-inf, 1.0, 2.0],
        [-inf, -inf, -inf],
        [1.0, inf, 2.0],
        [1.0, 2.0, 3.0]
    ];
    let n = b.normalize_rows(x.view())?;
    let sm = b.softmax(x.view())?;
    if n.dim() != x.dim() || sm.dim() != x.dim() {
        return Err(fail(format!(
            "normalize_rows {:?}, softmax {:?} for {:?}",
            n.dim(),
            sm.dim(),
            x.dim()
        )));
    }
    let all = |r: usize, a: &Array2<f32>, f: fn(f32) -> bool| a.row(r).iter().all(|&v| f(v));
    let checks = [
        ("normalize zero row -> zeros", all(0, &n, |v| v == 0.0)),
        ("normalize NaN row -> NaN", all(1, &n, f32::is_nan)),
        ("normalize -inf row -> NaN", all(2, &n, f32::is_nan)),
        ("normalize inf row -> NaN", all(4, &n, f32::is_nan)),
        (
            "normalize finite row unaffected",
            all(5, &n, f32::is_finite),
        ),
        (
            "softmax zero row -> 1/3",
            all(0, &sm, |v| (v - 1.0 / 3.0).abs() < 1e-7),
        ),
        ("softmax NaN row -> NaN", all(1, &sm, f32::is_nan)),
        (
            "softmax -inf entry -> 0",
            sm[[2, 0]] == 0.0 && sm.row(2).iter().all(|v| v.is_finite()),
        ),
        ("softmax all -inf row -> NaN", all(3, &sm, f32::is_nan)),
        ("softmax +inf row -> NaN", all(4, &sm, f32::is_nan)),
        ("softmax finite row unaffected", all(5, &sm, f32::is_finite)),
    ];
    for (what, ok) in checks {
        if !ok {
            return Err(fail(format!("{what}: normalize {n}, softmax {sm}")));
        }
    }
    Ok(())
}

fn rows_empty_and_bad_input(b: &dyn Backend) -> Outcome {
    let zero_rows = Array2::<f32>::zeros((0, 4));
    if b.softmax(zero_rows.view())?.dim() != (0, 4)
        || b.normalize_rows(zero_rows.view())?.dim() != (0, 4)
    {
        return Err(fail("zero rows must give zero rows"));
    }
    if b.normalize_rows(Array2::<f32>::zeros((3, 0)).view())?.dim() != (3, 0) {
        return Err(fail("normalize_rows of (3, 0) must give (3, 0)"));
    }
    match b.softmax(Array2::<f32>::zeros((3, 0)).view()) {
        Err(e @ Error::Shape { op: "softmax", .. }) if e.to_string().contains("[3, 0]") => {}
        r => return Err(fail(format!("softmax of empty rows: {r:?}"))),
    }
    let x = arr(2, 3, 1, 0.0, 1.0);
    for r in [
        b.softmax_axis(x.view(), Axis(2)),
        b.normalize_rows_axis(x.view(), Axis(2)),
    ] {
        match r {
            Err(e @ Error::Shape { .. }) if e.to_string().contains("axis 2") => {}
            r => return Err(fail(format!("axis 2: {r:?}"))),
        }
    }
    Ok(())
}

/// Row lengths around every path of every backend: one element, the CPU's
/// 16-lane vectors and four-rows-at-once rows (16-255), its long-row leaves (256)
/// and split rows, the GPU's 32 one-invocation and 2048 one-workgroup rows; with
/// enough rows for the CPU's leftovers after four.
fn edge_lengths() -> [(usize, usize); 12] {
    [
        (5, 1),
        (7, 15),
        (7, 16),
        (7, 17),
        (6, 33),
        (5, 64),
        (9, 255),
        (5, 256),
        (5, 257),
        (3, 2049),
        (2, 4097),
        (2, (1 << 17) + 3),
    ]
}

/// softmax gives the same answer whatever it subtracts, so a wrong row maximum
/// shows only where exp would overflow or underflow: rows far below zero (a
/// maximum taken as 0 makes every term underflow) and rows with one value 100
/// above the rest at the first, middle or last place (a maximum that misses it
/// makes exp(100) overflow).
fn rows_shifted_and_spiked(b: &dyn Backend) -> Outcome {
    for (i, (m, n)) in edge_lengths().into_iter().enumerate() {
        let shape =
            |e: libtest_mimic::Failed| fail(format!("({m}, {n}): {}", e.message().unwrap_or("")));
        let x = arr(m, n, 100 + i as u64, -200.0, -150.0);
        check_both(b, x.view()).map_err(shape)?;
        for p in [0, n / 2, n - 1] {
            let mut x = arr(m, n, 200 + i as u64, -5.0, 5.0);
            x.column_mut(p).mapv_inplace(|v| v + 100.0);
            check_softmax(b, x.view(), Axis(1)).map_err(shape)?;
            check_softmax(b, x.t(), Axis(0)).map_err(shape)?;
        }
    }
    Ok(())
}

/// NaN, +inf and -inf at the first, middle and last place of rows of every
/// length class, between ordinary rows, plus an all -inf row and a zero row.
/// NaN and +inf make the whole row NaN in both ops; -inf makes normalize_rows'
/// row NaN and is an exact 0 in softmax, whose other entries are the softmax of
/// the rest of the row; ordinary rows are unaffected (float64 oracle). Along
/// axis 0, the same bits as the transpose's rows.
fn rows_nan_inf_positions(b: &dyn Backend) -> Outcome {
    /// What a row holds; NaN and the infinities at the given place.
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Plain,
        Nan(usize),
        PosInf(usize),
        NegInf(usize),
        AllNegInf,
        Zero,
    }
    let inf = f32::INFINITY;
    for (i, (_, n)) in edge_lengths().into_iter().enumerate() {
        let mut kinds = vec![Kind::Plain];
        for p in [0, n / 2, n - 1] {
            kinds.extend([Kind::Nan(p), Kind::PosInf(p), Kind::NegInf(p), Kind::Plain]);
        }
        kinds.extend([Kind::AllNegInf, Kind::Zero, Kind::Plain]);
        let mut x = arr(kinds.len(), n, 300 + i as u64, -20.0, 20.0);
        for (r, &k) in kinds.iter().enumerate() {
            match k {
                Kind::Plain => {}
                Kind::Nan(p) => x[[r, p]] = f32::NAN,
                Kind::PosInf(p) => x[[r, p]] = inf,
                Kind::NegInf(p) => x[[r, p]] = -inf,
                Kind::AllNegInf => x.row_mut(r).fill(-inf),
                Kind::Zero => x.row_mut(r).fill(0.0),
            }
        }
        let sm = b.softmax(x.view())?;
        let nr = b.normalize_rows(x.view())?;
        if sm.dim() != x.dim() || nr.dim() != x.dim() {
            return Err(fail(format!(
                "{:?}: softmax {:?}, normalize_rows {:?}",
                x.dim(),
                sm.dim(),
                nr.dim()
            )));
        }
        let f64s = |r: ArrayView1<'_, f32>| r.iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
        let nan = |a: &Array2<f32>, r: usize| a.row(r).iter().all(|v| v.is_nan());
        let what = |op: &str, r: usize| format!("{op} of ({}, {n}) row {r}", x.nrows());
        for (r, &k) in kinds.iter().enumerate() {
            let row: Vec<f32> = x.row(r).to_vec();
            let (sm_r, nr_r) = (sm.row(r).to_vec(), nr.row(r).to_vec());
            let all_neg_inf = row.iter().all(|&v| v == -inf);
            match k {
                Kind::Nan(_) | Kind::PosInf(_) | Kind::AllNegInf => {
                    if !nan(&sm, r) || !nan(&nr, r) {
                        return Err(fail(format!(
                            "{}: {:?} and {:?}, want NaN rows",
                            what("softmax/normalize_rows", r),
                            &sm_r[..sm_r.len().min(4)],
                            &nr_r[..nr_r.len().min(4)]
                        )));
                    }
                }
                Kind::NegInf(_) if all_neg_inf => {
                    if !nan(&sm, r) || !nan(&nr, r) {
                        return Err(fail(format!("{}: want NaN rows", what("n = 1", r))));
                    }
                }
                Kind::NegInf(q) => {
                    if sm_r[q] != 0.0 || !nan(&nr, r) {
                        return Err(fail(format!(
                            "{}: softmax [{q}] = {}, normalize_rows all NaN: {}",
                            what("-inf", r),
                            sm_r[q],
                            nan(&nr, r)
                        )));
                    }
                    let mut rest = f64s(x.row(r));
                    rest.remove(q);
                    let (mut want, mut bound) = softmax_oracle(b.name())(&rest);
                    want.insert(q, 0.0);
                    bound.insert(q, 0.0);
                    check_line(&what("softmax", r), r, &sm_r, &want, &bound)?;
                }
                Kind::Plain | Kind::Zero => {
                    let (want, bound) = softmax_oracle(b.name())(&f64s(x.row(r)));
                    check_line(&what("softmax", r), r, &sm_r, &want, &bound)?;
                    let (want, bound) = normalize_oracle(b.name())(&f64s(x.row(r)));
                    check_line(&what("normalize_rows", r), r, &nr_r, &want, &bound)?;
                    if k == Kind::Zero && nr_r.iter().any(|&v| v != 0.0) {
                        return Err(fail(format!("{}: not zeros", what("normalize_rows", r))));
                    }
                }
            }
        }
        let cols = b.softmax_axis(x.t(), Axis(0))?;
        same_bits(
            "softmax along axis 0",
            cols.t().into_dyn(),
            sm.view().into_dyn(),
        )?;
        let cols = b.normalize_rows_axis(x.t(), Axis(0))?;
        same_bits(
            "normalize_rows along axis 0",
            cols.t().into_dyn(),
            nr.view().into_dyn(),
        )?;
    }
    Ok(())
}

type IntoOp = fn(&dyn Backend, ArrayView2<'_, f32>, ArrayViewMut2<'_, f32>) -> Result<(), Error>;

/// softmax_into and normalize_rows_into give the allocating ops' bits, into
/// contiguous, transposed and row-reversed outputs prefilled with a sentinel, from
/// contiguous and transposed inputs: one element, odd shapes, rows split
/// between threads, rows long enough to be split themselves, NaN rows; a
/// wrong `out` is an error naming the op and both shapes.
fn rows_into(b: &dyn Backend) -> Outcome {
    let long = (1 << 17) + 3;
    for (k, &(m, n)) in [
        (0, 4),
        (3, 0),
        (1, 1),
        (7, 3),
        (37, 65),
        (20_011, 5),
        (2, long),
    ]
    .iter()
    .enumerate()
    {
        let mut x = arr(m, n, 70 + k as u64, -30.0, 30.0);
        if m > 1 && n > 2 {
            x[[1, 2]] = f32::NAN;
        }
        // Outputs start as a finite sentinel, so an element left unwritten
        // shows even in a NaN row.
        let xt = x.t().to_owned();
        let ops: [(&str, IntoOp); 2] = [
            ("softmax_into", |b, x, o| b.softmax_into(x, o)),
            ("normalize_rows_into", |b, x, o| b.normalize_rows_into(x, o)),
        ];
        for (name, into) in ops {
            if name == "softmax_into" && n == 0 {
                continue;
            }
            let want = match name {
                "softmax_into" => b.softmax(x.view())?,
                _ => b.normalize_rows(x.view())?,
            };
            let mut out = Array2::from_elem((m, n), 7.0f32);
            into(b, x.view(), out.view_mut())?;
            same_bits(name, out.view().into_dyn(), want.view().into_dyn())?;
            out.fill(7.0);
            into(b, xt.t(), out.view_mut())?;
            let what = format!("{name}, transposed input");
            same_bits(&what, out.view().into_dyn(), want.view().into_dyn())?;
            let mut backing = Array2::from_elem((n, m), 7.0f32);
            into(b, x.view(), backing.view_mut().reversed_axes())?;
            let what = format!("{name}, transposed out");
            same_bits(&what, backing.t().into_dyn(), want.view().into_dyn())?;
            let mut backing = Array2::from_elem((m, n), 7.0f32);
            into(b, x.view(), backing.slice_mut(s![..;-1, ..]))?;
            let what = format!("{name}, out with rows reversed");
            let back = backing.slice(s![..;-1, ..]);
            same_bits(&what, back.into_dyn(), want.view().into_dyn())?;
        }
    }
    let x = arr(2, 3, 1, 0.0, 1.0);
    let mut wrong = Array2::<f32>::zeros((3, 2));
    for (op, r) in [
        ("softmax_into", b.softmax_into(x.view(), wrong.view_mut())),
        (
            "normalize_rows_into",
            b.normalize_rows_into(x.view(), wrong.view_mut()),
        ),
    ] {
        match r {
            Err(e @ Error::Shape { .. })
                if e.to_string().contains(op)
                    && e.to_string().contains("(3, 2)")
                    && e.to_string().contains("(2, 3)") => {}
            r => return Err(fail(format!("{op} with a (3, 2) out for (2, 3): {r:?}"))),
        }
    }
    let empty = Array2::<f32>::zeros((3, 0));
    match b.softmax_into(empty.view(), Array2::<f32>::zeros((3, 0)).view_mut()) {
        Err(e @ Error::Shape { op: "softmax", .. }) if e.to_string().contains("[3, 0]") => Ok(()),
        r => Err(fail(format!("softmax_into of empty rows: {r:?}"))),
    }
}

/// A context with 8 KiB bindings (2,048 f32) drives the row ops' windows with
/// small arrays: rows of one to exactly the longest row a window takes in many
/// windows, columns of arrays that fit the one binding the transpose needs; a
/// row one longer, or an axis-0 array larger than a binding, is
/// `Error::TooLarge` naming the op and the shape. The longest row is a binding
/// less one storage-offset alignment (a window may start up to one alignment
/// before its first row): read from the device, since drivers differ
/// (lavapipe 16 bytes, SwiftShader 256).
fn rows_small_bindings(_: &Gpu) -> Outcome {
    let small = common::small_gpu(8192, None)?;
    let align = small.limits().min_storage_buffer_offset_alignment.max(16) as usize / 4;
    let longest = 2048 - align;
    let what = |m: usize, n: usize| {
        move |e: libtest_mimic::Failed| fail(format!("({m}, {n}): {}", e.message().unwrap_or("")))
    };
    for (i, (m, n)) in [(300, 1), (301, 7), (50, 33), (9, 1000), (3, longest)]
        .into_iter()
        .enumerate()
    {
        let x = arr(m, n, 400 + i as u64, -30.0, 30.0);
        check_softmax(&small, x.view(), Axis(1)).map_err(what(m, n))?;
        check_normalize(&small, x.view(), Axis(1)).map_err(what(m, n))?;
    }
    for (i, (m, n)) in [(300, 6), (64, 31), (1, 2000), (longest, 1)]
        .into_iter()
        .enumerate()
    {
        let x = arr(m, n, 500 + i as u64, -30.0, 30.0);
        check_softmax(&small, x.view(), Axis(0)).map_err(what(m, n))?;
        check_normalize(&small, x.view(), Axis(0)).map_err(what(m, n))?;
    }
    let long_rows = arr(2, longest + 1, 1, -1.0, 1.0);
    let long_shape = format!("[2, {}]", longest + 1);
    let too_many = arr(300, 7, 2, -1.0, 1.0);
    for (op, r, shape) in [
        (
            "softmax",
            small.softmax(long_rows.view()).map(drop),
            long_shape.as_str(),
        ),
        (
            "normalize_rows",
            small.normalize_rows(long_rows.view()).map(drop),
            long_shape.as_str(),
        ),
        (
            "softmax",
            small.softmax_axis(too_many.view(), Axis(0)).map(drop),
            "[300, 7]",
        ),
        (
            "normalize_rows",
            small
                .normalize_rows_axis(too_many.view(), Axis(0))
                .map(drop),
            "[300, 7]",
        ),
    ] {
        match r {
            Err(e @ Error::TooLarge { .. })
                if e.to_string().contains(op) && e.to_string().contains(shape) => {}
            r => return Err(fail(format!("{op} of {shape} on 8 KiB bindings: {r:?}"))),
        }
    }
    Ok(())
}

const CASES: &[BackendCase] = &[
    ("normalize_rows_exercise", normalize_rows_exercise),
    ("softmax_exercise", softmax_exercise),
    ("rows_random_shapes", rows_random_shapes),
    ("rows_awkward_shapes", rows_awkward_shapes),
    ("rows_columns_and_views", rows_columns_and_views),
    ("rows_columns_bit_exact_large", rows_columns_bit_exact_large),
    ("rows_larger_than_one_binding", rows_larger_than_one_binding),
    ("rows_large_magnitudes", rows_large_magnitudes),
    ("rows_zero_rows_nan_and_inf", rows_zero_rows_nan_and_inf),
    ("rows_shifted_and_spiked", rows_shifted_and_spiked),
    ("rows_nan_inf_positions", rows_nan_inf_positions),
    ("rows_empty_and_bad_input", rows_empty_and_bad_input),
    ("rows_into", rows_into),
];

const GPU_CASES: &[GpuCase] = &[("rows_small_bindings", rows_small_bindings)];

fn main() {
    common::run(CASES, GPU_CASES);
}
