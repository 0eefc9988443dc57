//! This machine: what it is (CPU, GPU adapter, date) and what it can do at best,
//! measured in the same run as the ops so that each op's figure can be read as a
//! fraction of its limit: CPU copy and read bandwidth, the CPU's multiply-add
//! peak, and the GPU's device-to-device copy bandwidth, read bandwidth and
//! f32 multiply-add rate (src/gpu/yardsticks.rs).

use std::time::{Duration, Instant};

use gpu_basics::Gpu;
use serde::Serialize;

use super::timing::{Timing, measure};

#[derive(Debug, Serialize)]
pub(super) struct Limits {
    pub cpu_copy_gbps: f64,
    /// For ops that read much more than they write (dot, l1, l2, matvec).
    pub cpu_read_gbps: f64,
    pub cpu_copy_threads: usize,
    pub cpu_peak_gflops_estimate: f64,
    pub cpu_peak_method: String,
    pub gpu_copy_gbps: Option<f64>,
    pub gpu_copy_timing: Option<String>,
    /// A read-only pass over a buffer (dot, l1, l2 and matvec are judged against it).
    pub gpu_read_gbps: Option<f64>,
    /// Independent chains of f32 multiply-adds (matmul is judged against it).
    pub gpu_fma_gflops: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(super) struct Machine {
    date_utc: String,
    cpu: String,
    cpu_threads: usize,
    gpu: Option<String>,
    gpu_backend: Option<String>,
    gpu_is_software: Option<bool>,
    /// "trusted" (the default) or "checked" (`bench --checked-kernels`).
    gpu_kernels: Option<&'static str>,
    quick: bool,
}

/// Every limit, on the GPU too when there is one. `quick`: smaller buffers and
/// fewer runs.
pub(super) fn measure_limits(gpu: Option<&Gpu>, quick: bool) -> Result<Limits, String> {
    let (cpu_copy, cpu_copy_threads) = cpu_copy_gbps(quick);
    let cpu_read = cpu_read_gbps(quick);
    let (cpu_peak, cpu_peak_method) = cpu_peak_gflops();
    let gpu_copy = match gpu {
        Some(g) => Some(gpu_copy(g, quick)?),
        None => None,
    };
    let gpu_read = gpu.map(|g| gpu_read(g, quick)).transpose()?;
    let gpu_fma = gpu.map(|g| gpu_fma(g, quick)).transpose()?;
    Ok(Limits {
        cpu_copy_gbps: cpu_copy,
        cpu_read_gbps: cpu_read,
        cpu_copy_threads,
        cpu_peak_gflops_estimate: cpu_peak,
        cpu_peak_method,
        gpu_copy_gbps: gpu_copy.map(|c| c.0),
        gpu_copy_timing: gpu_copy.map(|c| c.1.to_string()),
        gpu_read_gbps: gpu_read,
        gpu_fma_gflops: gpu_fma,
    })
}

/// The machine the figures come from, for the JSON report.
pub(super) fn machine(gpu: Option<&Gpu>, quick: bool) -> Machine {
    Machine {
        date_utc: utc_date(),
        cpu: cpu_model(),
        cpu_threads: std::thread::available_parallelism().map_or(1, |t| t.get()),
        gpu: gpu.map(|g| g.adapter().name.clone()),
        gpu_backend: gpu.map(|g| format!("{:?}", g.adapter().backend)),
        gpu_is_software: gpu.map(|g| g.adapter().is_software),
        gpu_kernels: gpu.map(|g| {
            if g.checked_kernels() {
                "checked"
            } else {
                "trusted"
            }
        }),
        quick,
    }
}

/// A read-only pass over `x` in 64 independent lanes (so the adds keep up with
/// memory): the read-bandwidth yardstick for reductions.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // indexing fixed-size arrays is what vectorizes
fn read_lanes(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 64];
    for c in x.chunks_exact(64) {
        let c: &[f32; 64] = c.try_into().expect("chunks_exact");
        for j in 0..64 {
            acc[j] += c[j];
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn read_lanes_avx2(x: &[f32]) -> f32 {
    read_lanes(x)
}

/// The read pass at the widest vectors this CPU has: the baseline SSE2 build
/// cannot keep up with memory, and the CPU backend's own kernels use AVX2/AVX-512.
fn read_pass() -> fn(&[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2, the only feature read_lanes_avx2 is compiled for, was just detected.
        return |x| unsafe { read_lanes_avx2(x) };
    }
    |x| read_lanes(x)
}

/// The bandwidth of reading 256 MiB (64 MiB with --quick) on every thread.
fn cpu_read_gbps(quick: bool) -> f64 {
    let n = if quick { 16 << 20 } else { 64 << 20 };
    let src = vec![1.0f32; n];
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let cfg = Timing {
        runs: if quick { 3 } else { 7 },
        min_run: 0.0,
    };
    let chunk = n.div_ceil(threads);
    let pass = read_pass();
    let secs = measure(&cfg, || {
        std::thread::scope(|s| {
            for c in src.chunks(chunk) {
                s.spawn(move || std::hint::black_box(pass(c)));
            }
        });
        Ok(())
    })
    .expect("infallible");
    4.0 * n as f64 / secs / 1e9
}

/// The bandwidth of copying 256 MiB (64 MiB with --quick) to another buffer, on
/// one thread or split over every thread, whichever is faster (a limit is the
/// best this machine does), and that thread count.
fn cpu_copy_gbps(quick: bool) -> (f64, usize) {
    let n = if quick { 16 << 20 } else { 64 << 20 }; // f32s: 64 or 256 MiB
    let src = vec![1.0f32; n];
    let mut dst = vec![0.0f32; n];
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let cfg = Timing {
        runs: if quick { 3 } else { 7 },
        min_run: 0.0,
    };
    let one = measure(&cfg, || {
        dst.copy_from_slice(&src);
        Ok(())
    })
    .expect("infallible");
    let chunk = n.div_ceil(threads);
    let many = measure(&cfg, || {
        std::thread::scope(|s| {
            for (d, c) in dst.chunks_mut(chunk).zip(src.chunks(chunk)) {
                s.spawn(move || d.copy_from_slice(c));
            }
        });
        Ok(())
    })
    .expect("infallible");
    let bytes = 2.0 * 4.0 * n as f64;
    if many < one {
        (bytes / many / 1e9, threads)
    } else {
        (bytes / one / 1e9, 1)
    }
}

/// Multiply-adds over independent lanes (enough chains to cover the FMA latency on
/// every port), written so the compiler vectorizes them; fused where FMA (without
/// FMA in the build, mul_add would be a libm call).
fn lanes<const N: usize, const FMA: bool>(iters: usize) -> f32 {
    let mut acc = [0.0f32; N];
    let (m, a) = (
        std::hint::black_box(0.999_f32),
        std::hint::black_box(0.001_f32),
    );
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = if FMA { v.mul_add(m, a) } else { *v * m + a };
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn lanes_avx2(iters: usize) -> f32 {
    lanes::<64, true>(iters)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn lanes_avx512(iters: usize) -> f32 {
    lanes::<128, true>(iters)
}

/// The widest multiply-add loop this CPU runs, and its name. The GEMM crates
/// dispatch on the CPU's features at run time, so the peak must too, or matmul
/// would appear to beat the "peak".
fn peak_kernel() -> (fn(usize) -> f32, &'static str) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY (both): the target features these functions are compiled for were
        // detected on this CPU just before; nothing else is unsafe about them.
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return (|n| unsafe { lanes_avx512(n) }, "AVX-512 FMA");
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return (|n| unsafe { lanes_avx2(n) }, "AVX2 FMA");
        }
    }
    (lanes::<64, false>, "multiply + add (no FMA detected)")
}

/// Arithmetic peak estimate: the widest multiply-add loop on every thread at once.
fn cpu_peak_gflops() -> (f64, String) {
    let (kernel, name) = peak_kernel();
    let lanes = match name {
        "AVX-512 FMA" => 128.0,
        _ => 64.0,
    };
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let iters = 2_000_000;
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(move || std::hint::black_box(kernel(iters)));
            }
        });
        let flops = 2.0 * lanes * iters as f64 * threads as f64;
        best = best.max(flops / t.elapsed().as_secs_f64() / 1e9);
    }
    (
        best,
        format!("{name} loop, {lanes} lanes per thread, {threads} threads"),
    )
}

/// The GPU's device-to-device copy bandwidth (bytes read plus bytes written) over
/// 256 MiB (64 MiB with --quick, less where the adapter's buffers are smaller),
/// timed as in `measure_resident`: (GB/s, "kernel" | "resident").
/// Bytes for the copy and read yardsticks: big enough to pass every cache.
fn yardstick_bytes(gpu: &Gpu, quick: bool) -> u64 {
    let max = gpu
        .limits()
        .max_buffer_size
        .min(gpu.limits().max_storage_buffer_binding_size);
    (if quick { 64u64 << 20 } else { 256 << 20 }).min(max / 16 * 16)
}

/// Seconds `record` takes on the device (timestamps where the device has
/// them, else the wall clock to the end of the work), and how it was timed.
fn time_on_device(
    gpu: &Gpu,
    record: impl FnOnce() -> gpu_basics::Result<()>,
) -> Result<(f64, &'static str), String> {
    let t = Instant::now();
    let device = gpu.time_device(record).map_err(|e| e.to_string())?;
    gpu.sync().map_err(|e| e.to_string())?;
    Ok(match device {
        Some(d) => (d.as_secs_f64(), "kernel"),
        None => (t.elapsed().as_secs_f64(), "resident"),
    })
}

fn gpu_copy(gpu: &Gpu, quick: bool) -> Result<(f64, &'static str), String> {
    let bytes = yardstick_bytes(gpu, quick);
    let reps = 4;
    let (secs, how) = time_on_device(gpu, || gpu.record_copies(bytes, reps))?;
    Ok((2.0 * bytes as f64 * reps as f64 / secs / 1e9, how))
}

/// GB/s of a read-only pass, the best of three runs (a first run also warms
/// the pipeline).
fn gpu_read(gpu: &Gpu, quick: bool) -> Result<f64, String> {
    let bytes = yardstick_bytes(gpu, quick);
    let reps = 4;
    let mut best = 0.0f64;
    for _ in 0..3 {
        // The bytes actually read: record_reads caps them at one binding.
        let mut read = 0;
        let (secs, _) = time_on_device(gpu, || {
            read = gpu.record_reads(bytes, reps)?;
            Ok(())
        })?;
        best = best.max(read as f64 * reps as f64 / secs / 1e9);
    }
    Ok(best)
}

/// GFLOP/s of independent multiply-add chains, the best of three runs.
fn gpu_fma(gpu: &Gpu, quick: bool) -> Result<f64, String> {
    // 2^20 invocations (a few per core of the largest GPUs) when not quick.
    let groups = if quick { 256 } else { 4096 };
    let mut best = 0.0f64;
    for _ in 0..3 {
        let mut flops = 0;
        let (secs, _) = time_on_device(gpu, || {
            flops = gpu.record_fmas(groups, 2)?;
            Ok(())
        })?;
        best = best.max(flops as f64 / secs / 1e9);
    }
    Ok(best)
}

/// Now as YYYY-MM-DDTHH:MMZ, without a date crate for one line of the report.
fn utc_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let tod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}Z",
        tod / 3600,
        tod % 3600 / 60
    )
}

/// The CPU's model name from /proc/cpuinfo, else the architecture's name.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
