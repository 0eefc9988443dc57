//! dot, outer, matvec, matmul, l1 and l2 on every backend: the exercise's numbers;
//! outer, outer_into and matvec against a float64 oracle on awkward shapes; and, GPU
//! only, all of them through the splitting paths, and every matvec variant. The other product tests, one idea
//! to a file: matmul's shapes in tests/matmul.rs; dot, l1 and l2's lengths in
//! tests/reductions.rs; views, empty inputs, NaN and inf, subnormals, determinism
//! and bad input in tests/product_edges.rs; resident chains, parameter blocks and
//! threads in tests/gpu_runtime.rs. Their inputs, oracle and checks, shared, are in
//! tests/common/products.rs.
//!
//! Each check is exact (small-integer inputs, bit for bit) or bounded by
//! (d + 2) * eps * sum|terms|: both kinds, and d for each backend, are derived
//! in tests/common/products.rs beside the checks.

mod common;

use common::products::{
    Reduction, check_matmul, check_matvec, check_outer, check_reduction, int_matrix, int_vector,
    matrix, vector,
};
use common::{BackendCase, GpuCase, Outcome, check_expected, fail};
use gpu_basics::gpu::{MapVariant, MatvecVariant};
use gpu_basics::{Backend, Error, Gpu};
use ndarray::Array2;

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

// ---- outer and matvec shapes ----

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

/// Every matvec variant, pinned in its own context with 4 MiB bindings and a
/// grid of at most 3 x 3 workgroups: rows around one workgroup's count and a
/// team's span (1, tile - 1, tile, tile + 1; aligned and unaligned), W in
/// several windows, rows split into segments (few rows, long k) and k past
/// one dispatch's range (262,144), exact on small integers and within the
/// bound on floats. (Variants may differ in the last bits: another team size
/// adds in another order.)
fn every_matvec_variant(_: &Gpu) -> Outcome {
    for v in MatvecVariant::ALL {
        let gpu = common::pinned("matvec", v.name(), "matvec", Some(4 << 20), Some(3))?;
        let (rows, span) = (v.rows() as usize, 4 * v.lanes as usize);
        let shapes = [
            (1, 1),
            (1, 3),
            (rows - 1, span - 1),
            (rows, span),
            (rows + 1, span + 1),
            (2 * rows + 3, 64 * span + 4),
            (300, 37),
            (40, 30_000),
            (3, 300_001),
            (2, 262_148),
        ];
        for (i, &(m, k)) in shapes.iter().enumerate() {
            let what = |e: common::Failed| {
                let msg = e.message().unwrap_or("").to_string();
                fail(format!("{} ({m}, {k}): {msg}", v.name()))
            };
            let seed = 400 + i as u64;
            let (w, x) = (int_matrix(m, k, seed), int_vector(k, seed + 1, -2, 2));
            check_matvec(gpu, w.view(), x.view(), true).map_err(what)?;
            let (w, x) = (matrix(m, k, seed), vector(k, seed + 1, -1.0, 1.0));
            check_matvec(gpu, w.view(), x.view(), false).map_err(what)?;
        }
    }
    Ok(())
}

/// Every outer variant, pinned in its own context with 4 KiB bindings (1,024
/// f32) and at most 3 x 3 workgroups per dispatch: outputs around a
/// workgroup's span, rows of every length mod 4 (the vec4 and the wrapping
/// paths), many windows; every product bit for bit.
fn every_outer_variant(_: &Gpu) -> Outcome {
    for v in MapVariant::ALL {
        let gpu = common::pinned("outer", v.name(), "outer", Some(4 << 10), Some(3))?;
        let e = v.elems_per_group() as usize;
        // Outputs just under, at and just over one workgroup's span (each
        // vector must fit one 1,024-f32 binding).
        let r = e / 64;
        for (m, n) in [
            (1, 1),
            (r, 63),
            (r, 64),
            (r, 65),
            (3, 5),
            (7, 13),
            (33, 31),
            (300, 70),
            (1024, 3),
        ] {
            let (x, y) = (vector(m, 11, -5.0, 5.0), vector(n, 12, -5.0, 5.0));
            check_outer(gpu, x.view(), y.view()).map_err(|err| {
                fail(format!(
                    "{} ({m}, {n}): {}",
                    v.name(),
                    err.message().unwrap_or("")
                ))
            })?;
        }
    }
    Ok(())
}

const CASES: &[BackendCase] = &[
    ("dot_exercise", dot_exercise),
    ("outer_exercise", outer_exercise),
    ("matvec_exercise", matvec_exercise),
    ("matmul_exercise", matmul_exercise),
    ("losses_exercise", losses_exercise),
    ("matvec_shapes", matvec_shapes),
    ("outer_shapes", outer_shapes),
    ("outer_into", outer_into),
];

const GPU_CASES: &[GpuCase] = &[
    ("splitting_paths", splitting_paths),
    ("every_matvec_variant", every_matvec_variant),
    ("every_outer_variant", every_outer_variant),
];

fn main() {
    common::run(CASES, GPU_CASES);
}
