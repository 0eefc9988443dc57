//! normalize_rows and softmax on every backend, rows and columns: the exercise's
//! numbers, a float64 oracle (tests/common/rows.rs, where each bound is derived)
//! on random and awkward shapes, views, past one binding, the `_into` variants,
//! and small bindings on the GPU. Their edges are in tests/row_edges.rs.

mod common;

use common::rows::{arr, check_both, check_normalize, check_softmax};
use common::{BackendCase, GpuCase, Outcome, check_expected, fail, same_bits};
use gpu_basics::gpu::RowsVariant;
use gpu_basics::{Backend, Error, Gpu};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, array, s};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

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
        // Bits, not ==: +0 and -0 are equal, and NaN is equal to nothing.
        let differ = cols
            .t()
            .iter()
            .zip(&rows)
            .any(|(a, b)| a.to_bits() != b.to_bits());
        if differ {
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
    // 530,000 rows: 259 chunks of 2048, so a merge lane takes two.
    for (m, n) in [(1, 5), (5, 1), (3000, 3), (3, 3000), (530_000, 2)] {
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
    ("rows_into", rows_into),
];

/// Along axis 0 with at most 2 x 2 workgroups per dispatch, every column
/// stage runs as several dispatches (each from its own first invocation):
/// the same bits as the default context, and within the oracle's bounds.
fn columns_in_many_dispatches(gpu: &Gpu) -> Outcome {
    let small = common::small_gpu(1 << 20, Some(2))?;
    for (m, n) in [(40, 1500), (2100, 5), (7, 2000)] {
        let y = arr(m, n, 13, -5.0, 5.0);
        let what =
            |e: libtest_mimic::Failed| fail(format!("({m}, {n}): {}", e.message().unwrap_or("")));
        for (op, got, want) in [
            (
                "softmax",
                small.softmax_axis(y.view(), Axis(0))?,
                gpu.softmax_axis(y.view(), Axis(0))?,
            ),
            (
                "normalize_rows",
                small.normalize_rows_axis(y.view(), Axis(0))?,
                gpu.normalize_rows_axis(y.view(), Axis(0))?,
            ),
        ] {
            same_bits(op, got.view().into_dyn(), want.view().into_dyn()).map_err(what)?;
        }
        check_softmax(&small, y.view(), Axis(0)).map_err(what)?;
        check_normalize(&small, y.view(), Axis(0)).map_err(what)?;
    }
    Ok(())
}

/// Every rows variant, pinned in its own context with 256 KiB bindings: rows
/// around the short, one-pass and chunked paths' limits (1, 4, 31 to 33, 64,
/// the variant's one-pass length and one more, and three of it), lengths that
/// are multiples of 4 and not (the vec4 variants' two forms of the one-pass
/// path, a vec4 lane holding one vec4 or two, rows over two windows; the
/// chunked path's vec4 rewrite), within
/// the oracle's bounds; and along axis 0 the same bits as the rows of the
/// transpose in the same variant, for columns of each path's lengths.
fn every_rows_variant(_: &Gpu) -> Outcome {
    for v in RowsVariant::ALL {
        let gpu = common::pinned("rows", v.name(), "softmax", Some(1 << 18), None)?;
        let c = v.chunk();
        let what = |m: usize, n: usize| {
            move |e: libtest_mimic::Failed| {
                fail(format!(
                    "{} ({m}, {n}): {}",
                    v.name(),
                    e.message().unwrap_or("")
                ))
            }
        };
        for (i, (m, n)) in [
            (300, 1),
            (257, 4),
            (100, 31),
            (100, 32),
            (100, 33),
            (50, 64),
            (40, 36),
            // 78,000 values: two windows of 65,536.
            (300, 260),
            (7, c - 4),
            (9, c - 1),
            (5, c),
            (5, c + 1),
            (3, 2 * c + 4),
            (2, 3 * c + 5),
        ]
        .into_iter()
        .enumerate()
        {
            let x = arr(m, n, 600 + i as u64, -30.0, 30.0);
            check_softmax(gpu, x.view(), Axis(1)).map_err(what(m, n))?;
            check_normalize(gpu, x.view(), Axis(1)).map_err(what(m, n))?;
        }
        for (m, n) in [
            (1, 5),
            (5, 1),
            (33, 3),
            (36, 5),
            (64, 7),
            (c, 3),
            (c + 1, 3),
            (3 * c + 5, 2),
            (3, c + 1),
        ] {
            let y = arr(m, n, 11, -5.0, 5.0);
            columns_equal_transposed_rows(gpu, &y).map_err(what(m, n))?;
        }
    }
    Ok(())
}

const GPU_CASES: &[GpuCase] = &[
    ("rows_small_bindings", rows_small_bindings),
    ("columns_in_many_dispatches", columns_in_many_dispatches),
    ("every_rows_variant", every_rows_variant),
];

fn main() {
    common::run(CASES, GPU_CASES);
}
