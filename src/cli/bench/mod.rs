//! `gpu-basics bench`: naive loops vs CPU vs GPU, op by op and size by size, as
//! throughput and as a fraction of limits measured in the same run.
//!
//! Method: each figure is the median per-call time of `runs` runs; a run repeats
//! the call until it lasts at least `min_run` (calibrated after a warm-up call).
//! Host backends are timed end to end. The GPU is timed twice: end to end
//! (upload, kernels, readback, as the `Backend` API does it), and on the device
//! alone with inputs resident: timestamp queries around the kernels where the
//! adapter has them ("kernel"), else wall-clock of many resident calls and one
//! wait ("resident", which includes dispatch overhead).
//! Throughput counts the bytes an op must move at least (inputs read once,
//! output written once), so temporaries and second passes show up as lost speed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gpu_basics::{Backend, Cpu, Gpu, GpuArray, Naive, Op};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, ArrayD, ArrayViewD, Ix1, Ix2, IxDyn};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// A run of under a minute: fewer sizes, shorter timings.
    #[arg(long)]
    quick: bool,
    /// Only these ops (comma-separated names; every op but image2vector).
    #[arg(long, value_delimiter = ',', value_parser = parse_bench_op)]
    ops: Option<Vec<Op>>,
    /// Only these backends (comma-separated). Naming gpu makes a missing GPU an
    /// error; by default it is only skipped.
    #[arg(long, value_delimiter = ',', value_enum)]
    backends: Option<Vec<BackendName>>,
    /// Write every result as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write every result as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Plot throughput vs size (SVG), one line per backend in a panel per op family.
    #[arg(long)]
    plot: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendName {
    Naive,
    Cpu,
    Gpu,
}

/// A benchmarkable op by name: any op but image2vector, which is a reshape with
/// nothing to time.
fn parse_bench_op(name: &str) -> Result<Op, String> {
    let names: Vec<_> = benchmarked().map(|o| o.name()).collect();
    match super::parse_op(name) {
        Ok(Op::Image2vector) => Err(format!(
            "image2vector is a reshape, with nothing to time; ops: {}",
            names.join(", ")
        )),
        Ok(op) => Ok(op),
        Err(_) => Err(format!("unknown op {name:?}; ops: {}", names.join(", "))),
    }
}

fn benchmarked() -> impl Iterator<Item = Op> {
    Op::ALL.iter().copied().filter(|&op| op != Op::Image2vector)
}

/// The output paths, checked before the (long) run: each can be written, and no
/// two name the same file.
fn check_outputs(args: &Args) -> Result<(), String> {
    let outputs = [
        ("--json", &args.json),
        ("--csv", &args.csv),
        ("--plot", &args.plot),
    ];
    let given: Vec<(&str, &PathBuf)> = outputs
        .iter()
        .filter_map(|(flag, p)| p.as_ref().map(|p| (*flag, p)))
        .collect();
    for (i, (flag, path)) in given.iter().enumerate() {
        super::atomic::check(path).map_err(|e| format!("{flag} {e}"))?;
        if let Some((other, _)) = given[..i].iter().find(|(_, p)| p == path) {
            return Err(format!("{other} and {flag} both name {}", path.display()));
        }
    }
    Ok(())
}

struct Config {
    runs: usize,
    min_run: f64,
    /// Naive calls predicted to take longer than this are skipped (and listed).
    naive_budget: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub op: String,
    pub family: String,
    pub backend: String,
    /// The first input's shape (for matching with other tools' figures).
    pub shape: Vec<usize>,
    /// Every input's shape.
    pub inputs: Vec<Vec<usize>>,
    pub elements: u64,
    pub bytes: u64,
    pub flops: u64,
    pub median_s: f64,
    pub gbps: f64,
    pub gflops: Option<f64>,
    /// "end_to_end", "into" (the `_into` variant into a reused output), "kernel"
    /// (timestamp queries) or "resident" (wall clock, inputs on the device).
    pub timing: String,
    /// What limits the op: "memory" (judged in GB/s against a copy), "read" (ops
    /// that mostly read: against a read-only pass) or "compute" (GFLOP/s against
    /// the multiply-add peak).
    pub bound: String,
    pub fraction_of_limit: Option<f64>,
    pub speedup_vs_naive: Option<f64>,
    pub speedup_vs_cpu: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Skip {
    op: String,
    shape: Vec<usize>,
    backend: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Limits {
    cpu_copy_gbps: f64,
    /// For ops that read much more than they write (dot, l1, l2, matvec).
    cpu_read_gbps: f64,
    cpu_copy_threads: usize,
    cpu_peak_gflops_estimate: f64,
    cpu_peak_method: String,
    gpu_copy_gbps: Option<f64>,
    gpu_copy_timing: Option<String>,
}

#[derive(Debug, Serialize)]
struct Machine {
    date_utc: String,
    cpu: String,
    cpu_threads: usize,
    gpu: Option<String>,
    gpu_backend: Option<String>,
    gpu_is_software: Option<bool>,
    quick: bool,
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    limits: Limits,
    results: Vec<Row>,
    skipped: Vec<Skip>,
}

fn family(op: Op) -> &'static str {
    match op {
        Op::Unary(_) | Op::Multiply | Op::Image2vector => "elementwise",
        Op::NormalizeRows | Op::Softmax => "rows",
        Op::Dot | Op::Outer | Op::Matvec | Op::Matmul => "products",
        Op::L1 | Op::L2 => "losses",
    }
}

/// The input shapes of each benchmarked case: 1-D sizes as
/// benches/cpu_vs_peers.py uses them; for the row ops, square, many short rows, and one long row; square
/// matrices for the products.
fn cases_for(op: Op, quick: bool) -> Vec<Vec<Vec<usize>>> {
    let one = |sizes: &[usize]| sizes.iter().map(|&n| vec![vec![n]; op.arity()]).collect();
    match (family(op), op, quick) {
        ("rows", _, true) => vec![vec![vec![1024, 1024]], vec![vec![16384, 64]]],
        ("rows", _, false) => [
            [1024, 1024],
            [16384, 64],
            [4096, 1024],
            [262_144, 4],
            [1, 1 << 20],
        ]
        .iter()
        .map(|s| vec![s.to_vec()])
        .collect(),
        (_, Op::Outer, true) => [256, 1024]
            .iter()
            .map(|&m| vec![vec![m], vec![m]])
            .collect(),
        (_, Op::Outer, false) => [316, 1000, 3162]
            .iter()
            .map(|&m| vec![vec![m], vec![m]])
            .collect(),
        (_, Op::Matvec, true) => [256, 1024]
            .iter()
            .map(|&m| vec![vec![m, m], vec![m]])
            .collect(),
        (_, Op::Matvec, false) => [316, 1000, 3162]
            .iter()
            .map(|&m| vec![vec![m, m], vec![m]])
            .collect(),
        (_, Op::Matmul, true) => [64, 256].iter().map(|&m| vec![vec![m, m]; 2]).collect(),
        (_, Op::Matmul, false) => [256, 512, 1024, 2048]
            .iter()
            .map(|&m| vec![vec![m, m]; 2])
            .collect(),
        (_, _, true) => one(&[1 << 16, 1 << 20]),
        (_, _, false) => one(&[10_000, 100_000, 1_000_000, 10_000_000]),
    }
}

fn input(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 20.0 - 10.0
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), data).expect("sized")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median per-call seconds of `f`.
fn measure(cfg: &Config, mut f: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    f()?;
    let t = Instant::now();
    f()?;
    let one = t.elapsed().as_secs_f64().max(1e-9);
    let reps = ((cfg.min_run / one).ceil() as usize).clamp(1, 1_000_000);
    let mut per_call = Vec::with_capacity(cfg.runs);
    for _ in 0..cfg.runs {
        let t = Instant::now();
        for _ in 0..reps {
            f()?;
        }
        per_call.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    Ok(median(per_call))
}

/// Median per-call seconds of the op's `_into` variant, writing into one
/// output reused call after call (no fresh memory to allocate and fault in),
/// for the ops that have one.
fn measure_into(
    cfg: &Config,
    op: Op,
    b: &dyn Backend,
    v: &[ArrayViewD<'_, f32>],
) -> Result<Option<f64>, String> {
    let err = |e: gpu_basics::Error| e.to_string();
    Ok(Some(match op {
        Op::Unary(_) | Op::Multiply => {
            let mut out = ArrayD::<f32>::zeros(v[0].raw_dim());
            measure(cfg, || {
                match op {
                    Op::Unary(u) => b.unary_into(u, v[0].view(), out.view_mut()),
                    _ => b.multiply_into(v[0].view(), v[1].view(), out.view_mut()),
                }
                .map_err(err)
            })?
        }
        Op::Softmax | Op::NormalizeRows => {
            let x = v[0]
                .view()
                .into_dimensionality::<Ix2>()
                .map_err(|e| e.to_string())?;
            let mut out = Array2::<f32>::zeros(x.raw_dim());
            measure(cfg, || {
                match op {
                    Op::Softmax => b.softmax_into(x.view(), out.view_mut()),
                    _ => b.normalize_rows_into(x.view(), out.view_mut()),
                }
                .map_err(err)
            })?
        }
        Op::Outer => {
            let vector = |i: usize| {
                v[i].view()
                    .into_dimensionality::<Ix1>()
                    .map_err(|e| e.to_string())
            };
            let (a, c) = (vector(0)?, vector(1)?);
            let mut out = Array2::<f32>::zeros((a.len(), c.len()));
            measure(cfg, || {
                b.outer_into(a.view(), c.view(), out.view_mut())
                    .map_err(err)
            })?
        }
        _ => return Ok(None),
    }))
}

/// Device-only time per call with inputs resident: (seconds, "kernel" | "resident").
fn measure_resident(
    cfg: &Config,
    gpu: &Gpu,
    op: Op,
    inputs: &[GpuArray],
) -> Result<(f64, &'static str), String> {
    let refs: Vec<&GpuArray> = inputs.iter().collect();
    let call = || op.run_resident(&refs, None).map(drop);
    call().map_err(|e| e.to_string())?;
    gpu.sync().map_err(|e| e.to_string())?;
    let t = Instant::now();
    call().map_err(|e| e.to_string())?;
    gpu.sync().map_err(|e| e.to_string())?;
    let one = t.elapsed().as_secs_f64().max(1e-9);
    let reps = ((cfg.min_run / one).ceil() as usize).clamp(1, 100_000);
    let (mut kernel, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..cfg.runs {
        let t = Instant::now();
        let device = gpu
            .time_device(|| {
                for _ in 0..reps {
                    call()?;
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        gpu.sync().map_err(|e| e.to_string())?;
        wall.push(t.elapsed().as_secs_f64() / reps as f64);
        if let Some(d) = device {
            kernel.push(d.as_secs_f64() / reps as f64);
        }
    }
    if kernel.len() == cfg.runs {
        Ok((median(kernel), "kernel"))
    } else {
        Ok((median(wall), "resident"))
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
    let cfg = Config {
        runs: if quick { 3 } else { 7 },
        min_run: 0.0,
        naive_budget: 0.0,
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

fn cpu_copy_gbps(quick: bool) -> (f64, usize) {
    let n = if quick { 16 << 20 } else { 64 << 20 }; // f32s: 64 or 256 MiB
    let src = vec![1.0f32; n];
    let mut dst = vec![0.0f32; n];
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let cfg = Config {
        runs: if quick { 3 } else { 7 },
        min_run: 0.0,
        naive_budget: 0.0,
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
/// every port), written so the compiler vectorizes them.
fn lanes<const N: usize>(iters: usize) -> f32 {
    let mut acc = [0.0f32; N];
    let (m, a) = (
        std::hint::black_box(0.999_f32),
        std::hint::black_box(0.001_f32),
    );
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = v.mul_add(m, a);
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn lanes_avx2(iters: usize) -> f32 {
    lanes::<64>(iters)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn lanes_avx512(iters: usize) -> f32 {
    lanes::<128>(iters)
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
    // Without FMA in the build, mul_add would be a libm call: use mul + add.
    fn plain(iters: usize) -> f32 {
        let mut acc = [0.0f32; 64];
        let (m, a) = (
            std::hint::black_box(0.999_f32),
            std::hint::black_box(0.001_f32),
        );
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = *v * m + a;
            }
        }
        acc.iter().sum()
    }
    (plain, "multiply + add (no FMA detected)")
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

fn gpu_copy(gpu: &Gpu, quick: bool) -> Result<(f64, &'static str), String> {
    let max = gpu
        .limits()
        .max_buffer_size
        .min(gpu.limits().max_storage_buffer_binding_size);
    let bytes = (if quick { 64u64 << 20 } else { 256 << 20 }).min(max / 16 * 16);
    let reps = 4;
    let t = Instant::now();
    let device = gpu
        .time_device(|| gpu.record_copies(bytes, reps))
        .map_err(|e| e.to_string())?;
    gpu.sync().map_err(|e| e.to_string())?;
    let (secs, how) = match device {
        Some(d) => (d.as_secs_f64(), "kernel"),
        None => (t.elapsed().as_secs_f64(), "resident"),
    };
    Ok((2.0 * bytes as f64 * reps as f64 / secs / 1e9, how))
}

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

pub fn bench(args: &Args) -> Result<(), String> {
    let cfg = if args.quick {
        Config {
            runs: 3,
            min_run: 0.005,
            naive_budget: 0.05,
        }
    } else {
        Config {
            runs: 7,
            min_run: 0.03,
            naive_budget: 2.0,
        }
    };
    // Names and values were checked by clap; the paths are checked here, so
    // that nothing is refused after a run of minutes.
    check_outputs(args)?;
    let wanted = |b: BackendName| args.backends.as_ref().is_none_or(|l| l.contains(&b));
    let ops: Vec<Op> = benchmarked()
        .filter(|op| args.ops.as_ref().is_none_or(|l| l.contains(op)))
        .collect();

    let gpu = if wanted(BackendName::Gpu) {
        match Gpu::new() {
            Ok(g) => Some(g),
            // Asked for by name: a table without it would answer another question.
            Err(e) if args.backends.is_some() => return Err(format!("--backends gpu: {e}")),
            Err(e) => {
                eprintln!("gpu: not benchmarked ({e})");
                None
            }
        }
    } else {
        None
    };
    if let Some(g) = &gpu {
        eprintln!("gpu: {}", g.adapter());
        if g.adapter().is_software {
            eprintln!(
                "gpu: SOFTWARE adapter: its timings measure this CPU, not a GPU; never quote them as GPU speed"
            );
        }
    }
    let mut hosts: Vec<Box<dyn Backend>> = Vec::new();
    if wanted(BackendName::Naive) {
        hosts.push(Box::new(Naive));
    }
    if wanted(BackendName::Cpu) {
        hosts.push(Box::new(Cpu));
    }

    eprintln!("measuring this machine's limits...");
    let (cpu_copy, cpu_copy_threads) = cpu_copy_gbps(args.quick);
    let cpu_read = cpu_read_gbps(args.quick);
    let (cpu_peak, cpu_peak_method) = cpu_peak_gflops();
    let gpu_copy = match &gpu {
        Some(g) => Some(gpu_copy(g, args.quick)?),
        None => None,
    };
    let limits = Limits {
        cpu_copy_gbps: cpu_copy,
        cpu_read_gbps: cpu_read,
        cpu_copy_threads,
        cpu_peak_gflops_estimate: cpu_peak,
        cpu_peak_method,
        gpu_copy_gbps: gpu_copy.map(|c| c.0),
        gpu_copy_timing: gpu_copy.map(|c| c.1.to_string()),
    };

    let cases: Vec<(Op, Vec<Vec<usize>>)> = ops
        .iter()
        .flat_map(|&op| cases_for(op, args.quick).into_iter().map(move |s| (op, s)))
        .collect();
    let bar = ProgressBar::new(cases.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped: Vec<Skip> = Vec::new();
    // Last measured naive (elements, seconds) per op, to predict the next size.
    let mut naive_seen: HashMap<Op, (u64, f64)> = HashMap::new();

    for (op, input_shapes) in &cases {
        let op = *op;
        let shape = input_shapes[0].clone();
        bar.set_message(format!("{op} {input_shapes:?}"));
        let inputs: Vec<ArrayD<f32>> = input_shapes
            .iter()
            .enumerate()
            .map(|(i, s)| input(s, i as u64 + 1))
            .collect();
        let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
        let shapes_ref: Vec<&[usize]> = inputs.iter().map(|a| a.shape()).collect();
        let bytes = op.min_bytes(&shapes_ref).map_err(|e| e.to_string())?;
        let flops = op.flops(&shapes_ref).map_err(|e| e.to_string())?;
        let output_elems = op.output_elems(&shapes_ref).map_err(|e| e.to_string())?;
        // The problem size on the plot's x axis: the largest array involved.
        let elements = input_shapes
            .iter()
            .map(|s| s.iter().product::<usize>() as u64)
            .chain([output_elems])
            .max()
            .unwrap_or(0);
        let mut push = |backend: &str, timing: &str, secs: f64| {
            rows.push(Row {
                op: op.name().into(),
                family: family(op).into(),
                backend: backend.into(),
                shape: shape.clone(),
                inputs: input_shapes.clone(),
                elements,
                bytes,
                flops,
                median_s: secs,
                gbps: bytes as f64 / secs / 1e9,
                gflops: (flops > 0).then(|| flops as f64 / secs / 1e9),
                timing: timing.into(),
                bound: if op == Op::Matmul {
                    "compute"
                } else {
                    "memory"
                }
                .into(),
                fraction_of_limit: None,
                speedup_vs_naive: None,
                speedup_vs_cpu: None,
            })
        };
        for b in &hosts {
            if b.name() == "naive"
                && let Some(&(n0, t0)) = naive_seen.get(&op)
            {
                let predicted = t0 * elements as f64 / n0 as f64;
                if predicted > cfg.naive_budget {
                    skipped.push(Skip {
                        op: op.name().into(),
                        shape: shape.clone(),
                        backend: "naive".into(),
                        reason: format!(
                            "predicted {predicted:.2} s per call, over the {} s budget",
                            cfg.naive_budget
                        ),
                    });
                    continue;
                }
            }
            let secs = measure(&cfg, || {
                op.run(b.as_ref(), &views, None)
                    .map(drop)
                    .map_err(|e| e.to_string())
            })?;
            if b.name() == "naive" {
                naive_seen.insert(op, (elements, secs));
            }
            push(b.name(), "end_to_end", secs);
            // The other backends' `_into` is the allocating op plus a copy.
            if b.name() == "cpu"
                && let Some(secs) = measure_into(&cfg, op, b.as_ref(), &views)?
            {
                push(b.name(), "into", secs);
            }
        }
        if let Some(g) = &gpu {
            let secs = measure(&cfg, || {
                op.run(g, &views, None).map(drop).map_err(|e| e.to_string())
            })?;
            push("gpu", "end_to_end", secs);
            let resident: Vec<GpuArray> = inputs
                .iter()
                .map(|a| g.upload(a))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let (secs, how) = measure_resident(&cfg, g, op, &resident)?;
            push("gpu", how, secs);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    fill_ratios(&mut rows, &limits);
    print_table(&rows, &limits, &skipped, gpu.as_ref());
    let machine = Machine {
        date_utc: utc_date(),
        cpu: cpu_model(),
        cpu_threads: std::thread::available_parallelism().map_or(1, |t| t.get()),
        gpu: gpu.as_ref().map(|g| g.adapter().name.clone()),
        gpu_backend: gpu.as_ref().map(|g| format!("{:?}", g.adapter().backend)),
        gpu_is_software: gpu.as_ref().map(|g| g.adapter().is_software),
        quick: args.quick,
    };
    let report = Report {
        machine,
        limits,
        results: rows,
        skipped,
    };
    // Each output on its own: one that fails does not keep the others from
    // being written. All failures are reported.
    let mut failed = Vec::new();
    let mut save = |path: &Option<PathBuf>, text: &dyn Fn() -> Result<String, String>| {
        if let Some(path) = path {
            match text().and_then(|t| super::atomic::write(path, t.as_bytes())) {
                Ok(()) => eprintln!("wrote {}", path.display()),
                Err(e) => failed.push(e),
            }
        }
    };
    save(&args.json, &|| {
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())
    });
    save(&args.csv, &|| Ok(csv(&report.results)));
    save(&args.plot, &|| super::plot::svg(&report.results));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Fractions of the measured limits, and speedups against naive and cpu (both
/// timed end to end) for the same op and shape.
fn fill_ratios(rows: &mut [Row], limits: &Limits) {
    let key = |r: &Row| (r.op.clone(), r.shape.clone());
    let find = |rows: &[Row], k: &(String, Vec<usize>), backend: &str| {
        rows.iter()
            .find(|r| key(r) == *k && r.backend == backend && r.timing == "end_to_end")
            .map(|r| r.median_s)
    };
    let snapshot = rows.to_vec();
    for r in rows.iter_mut() {
        let k = key(r);
        r.speedup_vs_naive = find(&snapshot, &k, "naive").map(|t| t / r.median_s);
        r.speedup_vs_cpu = find(&snapshot, &k, "cpu").map(|t| t / r.median_s);
        r.fraction_of_limit = match (r.backend.as_str(), r.timing.as_str(), r.bound.as_str()) {
            ("gpu", "end_to_end", _) => None, // bound by the host link, not device memory
            // A device copy is the GPU's only bandwidth yardstick here, reads or not.
            ("gpu", _, "memory" | "read") => limits.gpu_copy_gbps.map(|l| r.gbps / l),
            ("gpu", _, _) => None, // no portable way to measure a GPU's arithmetic peak
            (_, _, "memory") => Some(r.gbps / limits.cpu_copy_gbps),
            (_, _, "read") => Some(r.gbps / limits.cpu_read_gbps),
            (_, _, _) => r.gflops.map(|g| g / limits.cpu_peak_gflops_estimate),
        };
    }
}

fn fmt_time(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.1} us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn print_table(rows: &[Row], limits: &Limits, skipped: &[Skip], gpu: Option<&Gpu>) {
    println!(
        "limits: cpu copy {:.1} GB/s ({} thread(s)), cpu read {:.1} GB/s, cpu multiply-add peak ~{:.0} GFLOP/s{}",
        limits.cpu_copy_gbps,
        limits.cpu_copy_threads,
        limits.cpu_read_gbps,
        limits.cpu_peak_gflops_estimate,
        match (limits.gpu_copy_gbps, gpu) {
            (Some(c), Some(g)) => format!(
                ", gpu copy {c:.1} GB/s on {}{}",
                g.adapter().name,
                if g.adapter().is_software {
                    " (SOFTWARE: not GPU speed)"
                } else {
                    ""
                }
            ),
            _ => String::new(),
        }
    );
    println!(
        "{:<20} {:<14} {:<16} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "op", "shape", "backend", "time", "GB/s", "GFLOP/s", "of limit", "vs naive", "vs cpu"
    );
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".to_string(), f);
    for r in rows {
        let backend = if r.timing == "end_to_end" {
            r.backend.clone()
        } else {
            format!("{} {}", r.backend, r.timing)
        };
        println!(
            "{:<20} {:<14} {:<16} {:>10} {:>9.2} {:>9} {:>9} {:>9} {:>9}",
            r.op,
            format!("{:?}", r.shape),
            backend,
            fmt_time(r.median_s),
            r.gbps,
            opt(r.gflops, &|g| format!("{g:.1}")),
            opt(r.fraction_of_limit, &|f| format!("{:.0}%", f * 100.0)),
            opt(r.speedup_vs_naive, &|x| format!("{x:.1}x")),
            opt(r.speedup_vs_cpu, &|x| format!("{x:.2}x")),
        );
    }
    for s in skipped {
        println!(
            "skipped: {} {:?} on {}: {}",
            s.op, s.shape, s.backend, s.reason
        );
    }
}

fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "op,family,backend,timing,shape,elements,bytes,flops,median_s,gbps,gflops,fraction_of_limit,speedup_vs_naive,speedup_vs_cpu\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
    for r in rows {
        let shape = r
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        out += &format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.op,
            r.family,
            r.backend,
            r.timing,
            shape,
            r.elements,
            r.bytes,
            r.flops,
            r.median_s,
            r.gbps,
            opt(r.gflops),
            opt(r.fraction_of_limit),
            opt(r.speedup_vs_naive),
            opt(r.speedup_vs_cpu)
        );
    }
    out
}
