//! normalize_rows and softmax at the edges, on every backend, rows and columns:
//! large magnitudes, rows shifted far below zero or with one spike, zero rows,
//! NaN and inf at every place of every row-length class, empty and bad input.
//! The bounds and oracles are those of tests/rows.rs (tests/common/rows.rs).

mod common;

use common::rows::{
    arr, check_both, check_line, check_normalize, check_softmax, normalize_oracle, softmax_oracle,
};
use common::{BackendCase, Outcome, fail, same_bits};
use gpu_basics::{Backend, Error};
use ndarray::{Array2, ArrayView1, Axis, array};

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

const CASES: &[BackendCase] = &[
    ("rows_large_magnitudes", rows_large_magnitudes),
    ("rows_zero_rows_nan_and_inf", rows_zero_rows_nan_and_inf),
    ("rows_shifted_and_spiked", rows_shifted_and_spiked),
    ("rows_nan_inf_positions", rows_nan_inf_positions),
    ("rows_empty_and_bad_input", rows_empty_and_bad_input),
];

fn main() {
    common::run(CASES, &[]);
}
