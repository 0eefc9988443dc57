//! matmul on every backend against a float64 oracle: degenerate, tile-edge and
//! random shapes, 1024^3 and long inner dimensions; on the GPU, also against the
//! CPU backend. (matmul on the exercise's numbers and through the GPU's splitting
//! paths is in tests/products.rs, at the edges in tests/product_edges.rs.)
//!
//! Each check is exact (small-integer inputs, bit for bit) or bounded by
//! (d + 2) * eps * sum|terms|: both kinds, and d for each backend, are derived
//! in tests/common/products.rs beside the checks.

mod common;

use std::sync::OnceLock;

use common::products::{
    check_matmul, check_matrix, int_matrix, int_vector, matmul64, matrix, product_depth,
};
use common::{BackendCase, GpuCase, Outcome, fail};
use gpu_basics::gpu::{GpuOptions, MatmulVariant, Tuning, WEBGPU_WORKGROUP_BYTES};
use gpu_basics::{Backend, Cpu, Error, Gpu};
use ndarray::Array2;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

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

// ---- GPU only ----

fn gpu_and_cpu_agree(gpu: &Gpu) -> Outcome {
    // The CPU backend as a second opinion on one awkward shape, beside the oracle.
    let (a, c) = (int_matrix(97, 131, 91), int_matrix(131, 61, 92));
    if gpu.matmul(a.view(), c.view())? != Cpu.matmul(a.view(), c.view())? {
        return Err(fail("gpu and cpu differ on an exact matmul"));
    }
    Ok(())
}

/// Every matmul variant, pinned in its own context with 1 MiB bindings and a
/// grid of at most 3 x 3 workgroups (so A and C are split into row windows and
/// the rows into several dispatches): shapes at each edge of the variant's
/// tile (1, tile - 1, tile, tile + 1 in m, k and n; aligned and unaligned),
/// several windows, k past one dispatch's range (16,384) and k split into
/// segments (skinny C: several segment dispatches, several merge dispatches),
/// exact on small integers; on floats, the default variant's bits (every
/// variant adds the same terms in the same order, splits included). The packed
/// (`bt`) variants also pack B over several dispatches, and once fall back to
/// B unpacked (B fits a binding, its packed copy does not). A variant needing
/// more workgroup memory than the device has cannot run there and is named
/// as not run (lavapipe and SwiftShader have 32 KiB: all run in CI).
fn every_matmul_variant(default: &Gpu) -> Outcome {
    for v in MatmulVariant::ALL {
        if !v.fits(default.workgroup_bytes()) {
            eprintln!(
                "every_matmul_variant: {} not run: it needs {} bytes of workgroup memory, \
                 this device has {}",
                v.name(),
                v.workgroup_bytes(),
                default.workgroup_bytes()
            );
            continue;
        }
        let gpu = common::pinned("matmul", v.name(), "matmul", Some(1 << 20), Some(3))?;
        let (bm, bn, bk) = (v.bm() as usize, v.bn() as usize, v.bk as usize);
        let shapes = [
            (1, 1, 1),
            (bm - 1, bk - 1, bn + 1),
            (bm + 1, bk + 1, bn - 1),
            (bm, bk, bn),
            (bm + 1, bk + 4, bn + 4),
            (2 * bm + 3, 3 * bk + 1, 2 * bn + 5),
            // A (600 x 516) and C (600 x 2 bn + 4) span several 1 MiB windows.
            (600, 516, 2 * bn + 4),
            (3, 16_392, 8),
            (2, 16_387, 5),
            // k split into 4 segments; C past one merge dispatch's 2,304
            // elements (3 x 3 workgroups of 256).
            (40, 4096, 60),
            (39, 4097, 61),
            // B (909 x 288) fits a 1 MiB binding, packed (288 x 912) not.
            (5, 909, 288),
        ];
        for (i, &(m, k, n)) in shapes.iter().enumerate() {
            let what = |e: common::Failed| {
                let msg = e.message().unwrap_or("").to_string();
                fail(format!("{} ({m}, {k}) x ({k}, {n}): {msg}", v.name()))
            };
            let seed = 300 + i as u64;
            let (a, c) = (int_matrix(m, k, seed), int_matrix(k, n, seed + 1));
            check_matmul(gpu, a.view(), c.view(), true).map_err(what)?;
            let (a, c) = (matrix(m, k, seed), matrix(k, n, seed + 1));
            let got = gpu.matmul(a.view(), c.view())?;
            let want = default.matmul(a.view(), c.view())?;
            let differ = got
                .iter()
                .zip(&want)
                .any(|(x, y)| x.to_bits() != y.to_bits());
            if differ {
                let msg = format!(
                    "bits differ from {}",
                    default.variant("matmul", m * n).unwrap()
                );
                return Err(what(fail(msg)));
            }
        }
    }
    Ok(())
}

const CASES: &[BackendCase] = &[
    ("matmul_shapes", matmul_shapes),
    ("matmul_random_shapes", matmul_random_shapes),
    ("matmul_1024", matmul_1024),
    ("matmul_long_k", matmul_long_k),
];

/// A device with less workgroup memory than a variant needs: acted out with
/// `max_workgroup_storage_bytes` = WebGPU's guaranteed 16 KiB. A pin of a
/// variant needing 32 KiB is refused, naming it and the limit; one needing
/// exactly 16 KiB runs; a limit below 16 KiB is refused.
fn workgroup_memory_limit(_: &Gpu) -> Outcome {
    let with = |bytes: u32, pin: &str| {
        Gpu::with_options(GpuOptions {
            max_workgroup_storage_bytes: Some(bytes),
            pin_variants: vec![("matmul".into(), pin.into())],
            tuning: Tuning::Off,
            ..Default::default()
        })
    };
    let big = MatmulVariant::from_name("128x128r8x8k32").expect("a 32 KiB variant");
    assert_eq!(big.workgroup_bytes(), 32768);
    match with(WEBGPU_WORKGROUP_BYTES, &big.name()) {
        Err(Error::Options { option, detail })
            if option == "GpuOptions::pin_variants"
                && detail.contains("128x128r8x8k32")
                && detail.contains("16384") => {}
        other => {
            return Err(fail(format!(
                "pinned a 32 KiB variant on 16 KiB: {other:?}"
            )));
        }
    }
    let edge = MatmulVariant::from_name("64x64r4x4k32").expect("a 16 KiB variant");
    assert_eq!(edge.workgroup_bytes(), WEBGPU_WORKGROUP_BYTES);
    let gpu = with(WEBGPU_WORKGROUP_BYTES, &edge.name())?;
    if gpu.workgroup_bytes() != WEBGPU_WORKGROUP_BYTES {
        return Err(fail(format!("workgroup_bytes {}", gpu.workgroup_bytes())));
    }
    let (a, c) = (int_matrix(70, 33, 7), int_matrix(33, 66, 8));
    check_matmul(&gpu, a.view(), c.view(), true)?;
    match with(WEBGPU_WORKGROUP_BYTES - 1, &edge.name()) {
        Err(Error::Options {
            option: "GpuOptions::max_workgroup_storage_bytes",
            ..
        }) => Ok(()),
        other => Err(fail(format!("a 16383-byte limit: {other:?}"))),
    }
}

const GPU_CASES: &[GpuCase] = &[
    ("gpu_and_cpu_agree", gpu_and_cpu_agree),
    ("every_matmul_variant", every_matmul_variant),
    ("workgroup_memory_limit", workgroup_memory_limit),
];

fn main() {
    common::run(CASES, GPU_CASES);
}
