//! dot, outer, matvec, matmul, l1 and l2 at the edges, on every backend:
//! transposed, stepped and reversed views, empty inputs, NaN and inf, subnormals,
//! the same bits run to run, and bad input.
//!
//! Views are checked exactly: small-integer inputs keep every partial sum an
//! integer below 2^24, so every backend must return the float64 value bit for
//! bit, whatever its order of summation. Any dropped, doubled or misplaced term
//! (an off-by-one tile edge, a wrong stride) changes the result by at least 1 and
//! fails.

mod common;

use common::products::{
    Reduction, check_matmul, check_matvec, check_outer, check_reduction, int_matrix, int_vector,
    matrix, vector,
};
use common::{BackendCase, Outcome, fail};
use gpu_basics::{Backend, Error};
use ndarray::{Array1, Array2, array, s};

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

// ---- subnormals, determinism ----

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

const CASES: &[BackendCase] = &[
    ("non_contiguous_inputs", non_contiguous_inputs),
    ("empty_inputs", empty_inputs),
    ("nan_and_inf_propagate", nan_and_inf_propagate),
    ("subnormals_gpu_may_flush", subnormals_gpu_may_flush),
    ("shape_mismatch", shape_mismatch),
    ("deterministic", deterministic),
];

fn main() {
    common::run(CASES, &[]);
}
