//! What the criterion suites share: the cases (the list `gpu-basics bench`
//! measures, src/cli/bench/cases.rs, included by path), the backends to time,
//! the rule that a software GPU adapter is not timed unless asked for (its
//! figures would say nothing about GPU speed), and the loop that times one op
//! over its cases.

#![allow(dead_code)] // each suite uses a different part of this module

#[path = "../../src/cli/bench/cases.rs"]
pub mod cases;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use gpu_basics::{Backend, Cpu, Gpu, GpuArray, Naive, Op};

/// A hardware GPU, or a software one when GPU_BASICS_BENCH_SOFTWARE=1; else `None`
/// with the reason printed.
pub fn gpu() -> Option<Gpu> {
    match Gpu::new() {
        Ok(g) if !g.adapter().is_software || std::env::var("GPU_BASICS_BENCH_SOFTWARE").is_ok() => {
            Some(g)
        }
        Ok(g) => {
            eprintln!("gpu benches skipped: {} is a software adapter", g.adapter());
            None
        }
        Err(e) => {
            eprintln!("gpu benches skipped: {e}");
            None
        }
    }
}

/// naive, cpu, and the GPU when there is one to time.
pub fn backends(gpu: &Option<Gpu>) -> Vec<Box<dyn Backend>> {
    let mut v: Vec<Box<dyn Backend>> = vec![Box::new(Naive), Box::new(Cpu)];
    if let Some(g) = gpu {
        v.push(Box::new(g.clone()));
    }
    v
}

/// The benchmarked ops of these families (`cases::family`), in `Op::ALL`'s order.
pub fn ops(families: &[&str]) -> Vec<Op> {
    cases::benchmarked()
        .filter(|&op| families.contains(&cases::family(op)))
        .collect()
}

/// The naive loops take seconds per call past a 512 x 512 matmul: larger cases
/// are not timed on naive.
const NAIVE_MAX_FLOPS: u64 = 2 * 512 * 512 * 512;

/// Times `op` over every case of the shared list (the full one, as
/// `gpu-basics bench` without --quick) on every backend, in a group named after
/// the op, each case identified by its first input's shape (as
/// `gpu-basics bench --csv` writes it: 1000000, 1024x1024). Throughput: matmul
/// and matvec count floating-point operations as criterion "elements", so their
/// figures read as FLOP/s; the other ops count the bytes that must move (inputs
/// read once, the result written once). `resident`: also a `gpu-resident` entry,
/// with inputs kept on the device and the op timed alone.
pub fn bench_op(c: &mut Criterion, op: Op, gpu: &Option<Gpu>, resident: bool) {
    let backends = backends(gpu);
    let mut group = c.benchmark_group(op.name());
    if op == Op::Matmul {
        // The longest calls of the suites: criterion's default of 100 samples
        // would make each size take minutes.
        group.sample_size(10);
    }
    for shapes in cases::cases_for(op, false) {
        let inputs = cases::inputs(&shapes);
        let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
        let shapes_ref: Vec<&[usize]> = shapes.iter().map(|s| s.as_slice()).collect();
        let flops = op.flops(&shapes_ref).unwrap();
        group.throughput(match op {
            Op::Matmul | Op::Matvec => Throughput::Elements(flops),
            _ => Throughput::Bytes(op.min_bytes(&shapes_ref).unwrap()),
        });
        let label = shapes[0]
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        for b in &backends {
            if b.name() == "naive" && flops > NAIVE_MAX_FLOPS {
                continue;
            }
            group.bench_with_input(BenchmarkId::new(b.name(), &label), &views, |bench, v| {
                bench.iter(|| op.run(b.as_ref(), v, None).unwrap())
            });
        }
        if let (Some(g), true) = (gpu, resident) {
            let on_device: Vec<GpuArray> = inputs.iter().map(|a| g.upload(a).unwrap()).collect();
            let refs: Vec<&GpuArray> = on_device.iter().collect();
            group.bench_with_input(
                BenchmarkId::new("gpu-resident", &label),
                &refs,
                |bench, r| {
                    bench.iter_custom(|iters| {
                        time_resident(iters, || op.run_resident(r, None).unwrap())
                    })
                },
            );
        }
    }
    group.finish();
}

/// Times `iters` resident ops, then one readback of the last result (whose cost
/// is amortized over the calls).
fn time_resident(iters: u64, op: impl Fn() -> GpuArray) -> Duration {
    let start = Instant::now();
    let mut last = None;
    for _ in 0..iters {
        last = Some(op());
    }
    last.expect("iters >= 1").to_array().unwrap();
    start.elapsed()
}
