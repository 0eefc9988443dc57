//! dot, l1 and l2 on every backend against a float64 oracle: lengths around the
//! GPU's vec4, workgroup and grid boundaries, 10^7 random floats, and (GPU only)
//! past one storage binding. (Their exercise's numbers and the GPU's splitting paths
//! are in tests/products.rs, their edges in tests/product_edges.rs.)
//!
//! Each check is exact (small-integer inputs, bit for bit) or bounded by
//! (d + 2) * eps * sum|terms|: both kinds, and d for each backend, are derived
//! in tests/common/products.rs beside the checks.

mod common;

use common::products::{
    Reduction, check_reduction, check_reduction_within, gpu_sum_depth, int_vector, vector,
};
use common::{BackendCase, GpuCase, Outcome, fail};
use gpu_basics::gpu::MapVariant;
use gpu_basics::{Backend, Gpu};
use ndarray::Array1;

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

// ---- GPU only ----

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

/// Every reduce variant (dot, l1, l2), pinned in its own context with 16 KiB
/// bindings (4,096 f32) and at most 3 x 3 workgroups per dispatch: lengths
/// around a vec4, a workgroup's span and a window, in many windows and grids;
/// exact on small integers (masking of the vec4 padding included) and within
/// the variant's own bound on floats (`gpu_sum_depth`).
fn every_reduce_variant(_: &Gpu) -> Outcome {
    for v in MapVariant::ALL {
        let gpu = common::pinned("reduce", v.name(), "dot", Some(16 << 10), Some(3))?;
        let e = v.elems_per_group() as usize;
        let window = gpu.limits().max_storage_buffer_binding_size.min(16 << 10) as usize / 4;
        for n in [1, 3, 4, 5, e - 1, e, e + 1, 9 * e + 3, 4096, 4097, 40_001] {
            let what = |err: common::Failed| {
                let msg = err.message().unwrap_or("").to_string();
                fail(format!("{} n = {n}: {msg}", v.name()))
            };
            let (x, y) = (
                int_vector(n, n as u64, -3, 3),
                int_vector(n, n as u64 + 1, -3, 3),
            );
            let (fx, fy) = (vector(n, 5, -1.0, 1.0), vector(n, 6, -1.0, 1.0));
            let depth = gpu_sum_depth(n, v.workgroup as usize, v.vec4s as usize, window, 9);
            for r in Reduction::ALL {
                check_reduction_within(gpu, r, x.view(), y.view(), None).map_err(what)?;
                check_reduction_within(gpu, r, fx.view(), fy.view(), Some(depth)).map_err(what)?;
            }
        }
    }
    Ok(())
}

const CASES: &[BackendCase] = &[
    ("reduction_lengths", reduction_lengths),
    ("reductions_1e7", reductions_1e7),
];

const GPU_CASES: &[GpuCase] = &[
    ("reduction_past_one_binding", reduction_past_one_binding),
    ("every_reduce_variant", every_reduce_variant),
];

fn main() {
    common::run(CASES, GPU_CASES);
}
