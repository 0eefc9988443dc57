//! The test harness shared by every test binary: one body per case, run on every
//! backend (naive, cpu, gpu), reported through libtest-mimic so that GPU cases
//! show as "ignored" (visibly skipped, with the reason printed) when this machine
//! has no adapter, and fail when GPU_BASICS_REQUIRE_GPU=1.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::sync::OnceLock;

use gpu_basics::{Backend, Cpu, Gpu, GpuOptions, Naive};
pub use libtest_mimic::Failed;
use libtest_mimic::{Arguments, Trial};
use ndarray::{ArrayD, ArrayViewD};

pub mod products;
pub mod rows;

pub type Outcome = Result<(), Failed>;
pub type BackendCase = (&'static str, fn(&dyn Backend) -> Outcome);
pub type GpuCase = (&'static str, fn(&Gpu) -> Outcome);

/// One `Gpu` for the whole test binary (creating a device per test would be slow
/// and would not exercise sharing).
/// With GPU_BASICS_EXPECT_ADAPTER set (CI names each driver it runs the suite
/// on), a context on any other adapter is an error: a run meant for SwiftShader
/// that silently ran on lavapipe would prove nothing.
pub fn gpu() -> Result<&'static Gpu, String> {
    static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();
    GPU.get_or_init(|| {
        let g = Gpu::new().map_err(|e| e.to_string())?;
        match std::env::var("GPU_BASICS_EXPECT_ADAPTER") {
            Ok(want) if !g.adapter().name.contains(&want) => Err(format!(
                "GPU_BASICS_EXPECT_ADAPTER={want} but the adapter is {}",
                g.adapter().name
            )),
            _ => Ok(g),
        }
    })
    .as_ref()
    .map_err(|e| e.clone())
}

/// A second context with subgroups switched off, when the first one uses them:
/// every backend case also runs on the workgroup-memory fallback. `None` when
/// there is nothing to fall back from; `Some(Err)` when the fallback context
/// could not be made, which `run` turns into failing (or, without
/// GPU_BASICS_REQUIRE_GPU=1, ignored) trials rather than fewer trials.
pub fn gpu_fallback() -> Option<Result<&'static Gpu, String>> {
    static FALLBACK: OnceLock<Option<Result<Gpu, String>>> = OnceLock::new();
    FALLBACK
        .get_or_init(|| {
            let g = gpu().ok()?;
            if !g.uses_subgroups() {
                return None;
            }
            Some(
                Gpu::with_options(GpuOptions {
                    disable_subgroups: true,
                    ..Default::default()
                })
                .map_err(|e| e.to_string()),
            )
        })
        .as_ref()
        .map(|r| r.as_ref().map_err(|e| e.clone()))
}

/// A private context whose bindings hold `binding_bytes` and whose dispatch
/// grids take at most `max_groups` workgroups per dimension: the splitting paths
/// (many windows, 2-D grids) on arrays small enough for any test.
pub fn small_gpu(binding_bytes: u64, max_groups: Option<u32>) -> gpu_basics::Result<Gpu> {
    Gpu::with_options(GpuOptions {
        max_binding_bytes: Some(binding_bytes),
        max_workgroups_per_dimension: max_groups,
        ..Default::default()
    })
}

/// A private context that runs `family` in `variant` only (for `op`, checked
/// at lengths of every size class and line class), with the splitting paths' `binding_bytes` and `max_groups`
/// where given. Kept to the end of the process: SwiftShader once aborted
/// ("double free") in a CI run while contexts were created and dropped beside
/// other tests' GPU work; not reproduced since, so the churn of device
/// teardown is avoided rather than explained.
pub fn pinned(
    family: &str,
    variant: String,
    op: &str,
    binding_bytes: Option<u64>,
    max_groups: Option<u32>,
) -> Result<&'static Gpu, Failed> {
    let gpu = Gpu::with_options(GpuOptions {
        pin_variants: vec![(family.to_string(), variant.clone())],
        max_binding_bytes: binding_bytes,
        max_workgroups_per_dimension: max_groups,
        ..Default::default()
    })?;
    let gpu: &'static Gpu = Box::leak(Box::new(gpu));
    // 1: small and short; 1000: small and medium; 2^24: large and long.
    for len in [1, 1000, 1 << 24] {
        let runs = gpu.variant(op, len);
        if runs.as_ref() != Some(&variant) {
            return Err(fail(format!(
                "pinned {family} {variant} but {op} runs {runs:?}"
            )));
        }
    }
    Ok(gpu)
}

pub fn gpu_required() -> bool {
    std::env::var("GPU_BASICS_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// A trial that needs the GPU: run it, skip it visibly, or fail it when required.
fn gpu_trial(name: String, body: impl FnOnce(&Gpu) -> Outcome + Send + 'static) -> Trial {
    context_trial(name, gpu(), body)
}

/// A trial on `context`: run it, or, when the context could not be made, fail
/// it (GPU_BASICS_REQUIRE_GPU=1) or show it as ignored.
fn context_trial(
    name: String,
    context: Result<&'static Gpu, String>,
    body: impl FnOnce(&Gpu) -> Outcome + Send + 'static,
) -> Trial {
    match context {
        Ok(g) => Trial::test(name, move || body(g)),
        Err(reason) if gpu_required() => Trial::test(name, move || {
            Err(format!("GPU_BASICS_REQUIRE_GPU=1 but no GPU context: {reason}").into())
        }),
        Err(_) => Trial::test(name, || Ok(())).with_ignored_flag(true),
    }
}

/// Runs `cases` on naive, cpu and gpu and `gpu_cases` on the gpu only; exits.
pub fn run(cases: &[BackendCase], gpu_cases: &[GpuCase]) -> ! {
    let args = Arguments::from_args();
    match gpu() {
        Ok(g) => eprintln!(
            "GPU tests run on: {} ({})",
            g.adapter(),
            if g.uses_subgroups() {
                "subgroup reductions; gpu_nosubgroups:: cases run the workgroup-memory fallback"
            } else {
                "no subgroups: workgroup-memory reductions only"
            }
        ),
        Err(reason) if gpu_required() => eprintln!("GPU REQUIRED but unavailable: {reason}"),
        Err(reason) => eprintln!("GPU tests SKIPPED (shown as ignored): {reason}"),
    }
    if let Some(Err(reason)) = gpu_fallback() {
        eprintln!("the no-subgroup fallback context could not be made: {reason}");
    }
    let mut trials = Vec::new();
    for &(name, body) in cases {
        trials.push(Trial::test(format!("naive::{name}"), move || body(&Naive)));
        trials.push(Trial::test(format!("cpu::{name}"), move || body(&Cpu)));
        trials.push(gpu_trial(format!("gpu::{name}"), move |g| body(g)));
        if let Some(fallback) = gpu_fallback() {
            trials.push(context_trial(
                format!("gpu_nosubgroups::{name}"),
                fallback,
                move |g| body(g),
            ));
        }
    }
    for &(name, body) in gpu_cases {
        trials.push(gpu_trial(format!("gpu::{name}"), body));
    }
    libtest_mimic::run(&args, trials).exit()
}

/// A tolerance |got - want| <= atol + rtol(x) * |want|, where x is the input
/// that produced the value (WGSL's exp error grows with |x|).
pub struct Tol {
    pub atol: f64,
    pub rtol: Box<dyn Fn(f64) -> f64>,
}

/// Compares `got` (f32, from a backend) with `want` (a float64 oracle), printing the
/// first mismatches with their index, like llm.c's `validate_result`.
pub fn check_close(
    op: &str,
    x: &ArrayViewD<'_, f32>,
    got: &ArrayD<f32>,
    want: &ArrayD<f64>,
    tol: &Tol,
) -> Outcome {
    if got.shape() != want.shape() {
        return Err(format!("{op}: shape {:?}, expected {:?}", got.shape(), want.shape()).into());
    }
    let mut bad = Vec::new();
    let mut count = 0usize;
    for (i, ((&g, &w), &xi)) in got.iter().zip(want.iter()).zip(x.iter()).enumerate() {
        let g = f64::from(g);
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() || g == w {
            // (An exact result passes even where the bound is NaN: rtol(inf) * 0.)
            g == w
        } else {
            (g - w).abs() <= tol.atol + (tol.rtol)(f64::from(xi).abs()) * w.abs()
        };
        if !ok {
            count += 1;
            if bad.len() < 5 {
                bad.push(format!(
                    "  [{i}] x={xi:e} got={g:e} want={w:e} diff={:e}",
                    (g - w).abs()
                ));
            }
        }
    }
    if count == 0 {
        Ok(())
    } else {
        Err(format!(
            "{op}: {count} of {} values out of tolerance; first:\n{}",
            got.len(),
            bad.join("\n")
        )
        .into())
    }
}

/// Compares against expected values to `rtol` relative (the exercise's numbers,
/// printed to 8-9 significant digits, so 1e-6 is the meaningful bound for f32).
pub fn check_expected(op: &str, got: &[f32], want: &[f64], rtol: f64) -> Outcome {
    if got.len() != want.len() {
        return Err(format!("{op}: {} values, expected {}", got.len(), want.len()).into());
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if (f64::from(g) - w).abs() > rtol * w.abs().max(1e-30) {
            return Err(format!("{op}: [{i}] got {g}, expected {w}").into());
        }
    }
    Ok(())
}

/// Deterministic pseudo-random values in [lo, hi), cheap enough for 10^8 elements.
pub fn values(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

/// Runs `body(t)` for t in 0..n on n threads at once; the first failure, if any.
pub fn in_threads(n: u64, body: impl Fn(u64) -> Outcome + Sync) -> Outcome {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|t| {
                s.spawn({
                    let body = &body;
                    move || body(t)
                })
            })
            .collect();
        // The scope joins every thread; the first failure in spawn order is reported.
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|_| Err(fail("thread panicked"))))
    })
}

pub fn fail(msg: impl Into<String>) -> Failed {
    msg.into().into()
}

/// `got` must equal `want` bit for bit (NaN as NaN).
pub fn same_bits(op: &str, got: ArrayViewD<'_, f32>, want: ArrayViewD<'_, f32>) -> Outcome {
    if got.shape() != want.shape() {
        return Err(fail(format!(
            "{op}: shape {:?}, want {:?}",
            got.shape(),
            want.shape()
        )));
    }
    match got
        .iter()
        .zip(want.iter())
        .position(|(g, w)| g.to_bits() != w.to_bits() && !(g.is_nan() && w.is_nan()))
    {
        None => Ok(()),
        Some(i) => Err(fail(format!(
            "{op}: [{i}] got {} want {}",
            got.iter().nth(i).unwrap(),
            want.iter().nth(i).unwrap()
        ))),
    }
}

/// `x` as a device that flushes subnormals sees it: a subnormal becomes 0.
pub fn ftz(x: f32) -> f32 {
    if x != 0.0 && x.abs() < f32::MIN_POSITIVE {
        0.0f32.copysign(x)
    } else {
        x
    }
}

/// Subnormal inputs and results: the CPU and naive backends give IEEE results,
/// bit for bit (`exact`). WGSL lets a GPU flush subnormals to zero (SwiftShader
/// does, NVIDIA and Metal may), so on the GPU each element must equal `exact` bit
/// for bit, or `flushed` (the result with every subnormal input and result read
/// as 0; the sign of a flushed zero is not specified, so 0 == -0 there).
pub fn exact_or_flushed(
    op: &str,
    backend: &str,
    got: &[f32],
    exact: &[f32],
    flushed: &[f32],
) -> Outcome {
    if got.len() != exact.len() || got.len() != flushed.len() {
        return Err(fail(format!(
            "{op}: {} values, want {}",
            got.len(),
            exact.len()
        )));
    }
    let same = |g: f32, w: f32| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
    for (i, ((&g, &e), &f)) in got.iter().zip(exact).zip(flushed).enumerate() {
        let ok = same(g, e) || (backend == "gpu" && (same(g, f) || (g == 0.0 && f == 0.0)));
        if !ok {
            return Err(fail(format!(
                "{op} on {backend}: [{i}] got {g:e}, want {e:e}{}",
                if backend == "gpu" {
                    format!(" (or {f:e} where subnormals are flushed)")
                } else {
                    String::new()
                }
            )));
        }
    }
    Ok(())
}

/// naive, cpu, and the gpu when this machine has an adapter, for tests that run
/// on the standard harness (one #[test] looping over backends): without an
/// adapter the gpu is left out with the reason printed, or, with
/// GPU_BASICS_REQUIRE_GPU=1, the test fails.
pub fn backends() -> Vec<&'static dyn Backend> {
    let mut all: Vec<&'static dyn Backend> = vec![&Naive, &Cpu];
    match gpu() {
        Ok(g) => all.push(g),
        Err(e) if gpu_required() => panic!("GPU_BASICS_REQUIRE_GPU=1 but no GPU: {e}"),
        Err(e) => eprintln!("SKIPPED the gpu backend: no GPU: {e}"),
    }
    all
}

/// The names in `dir`, sorted: what a failed command must not have added to.
pub fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
