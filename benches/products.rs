//! criterion: dot, l1, l2, outer, matvec and matmul on every backend.
//!
//! Throughput: matmul and matvec count floating-point operations (2 m k n and
//! 2 m k) as criterion "elements", so their figures read as FLOP/s; dot, l1, l2 and
//! outer are memory-bound and count the bytes that must move (reads + writes).
//! `gpu` entries go through the Backend API (upload, op, readback per call);
//! `gpu-resident` entries keep inputs on the device and time the op alone (many
//! ops, then one readback of the last result, whose cost is amortized). On a
//! software adapter (lavapipe) the GPU entries say nothing about GPU speed and
//! are skipped unless GPU_BASICS_BENCH_SOFTWARE=1.
//!
//!     cargo bench --bench products -- matmul

use std::time::{Duration, Instant};

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gpu_basics::{Backend, GpuArray};
use ndarray::{Array1, Array2};

fn vector(n: usize, seed: u32) -> Array1<f32> {
    Array1::from_shape_fn(n, |i| {
        ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32 / 1000.0 - 1.0
    })
}

fn matrix(m: usize, n: usize, seed: u32) -> Array2<f32> {
    vector(m * n, seed).into_shape_with_order((m, n)).unwrap()
}

/// Times `iters` resident ops, then one readback of the last result.
fn resident(iters: u64, op: impl Fn() -> GpuArray) -> Duration {
    let start = Instant::now();
    let mut last = None;
    for _ in 0..iters {
        last = Some(op());
    }
    last.expect("iters >= 1").to_array().unwrap();
    start.elapsed()
}

fn matmul(c: &mut Criterion) {
    let gpu = common::gpu();
    let mut group = c.benchmark_group("matmul");
    group.sample_size(10);
    for n in [256usize, 512, 1024, 2048] {
        let (a, b) = (matrix(n, n, 1), matrix(n, n, 2));
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        for be in common::backends(&gpu) {
            // The loops take seconds per call past 512.
            if be.name() == "naive" && n > 512 {
                continue;
            }
            group.bench_with_input(BenchmarkId::new(be.name(), n), &n, |bench, _| {
                bench.iter(|| be.matmul(a.view(), b.view()).unwrap())
            });
        }
        if let Some(g) = &gpu {
            let (ga, gb) = (g.upload(&a).unwrap(), g.upload(&b).unwrap());
            group.bench_with_input(BenchmarkId::new("gpu-resident", n), &n, |bench, _| {
                bench.iter_custom(|iters| resident(iters, || ga.matmul(&gb).unwrap()))
            });
        }
    }
    group.finish();
}

fn matvec(c: &mut Criterion) {
    let gpu = common::gpu();
    let mut group = c.benchmark_group("matvec");
    for n in [1024usize, 4096] {
        let (w, x) = (matrix(n, n, 3), vector(n, 4));
        group.throughput(Throughput::Elements(2 * (n as u64).pow(2)));
        for be in common::backends(&gpu) {
            group.bench_with_input(BenchmarkId::new(be.name(), n), &n, |bench, _| {
                bench.iter(|| be.matvec(w.view(), x.view()).unwrap())
            });
        }
        if let Some(g) = &gpu {
            let (gw, gx) = (g.upload(&w).unwrap(), g.upload(&x).unwrap());
            group.bench_with_input(BenchmarkId::new("gpu-resident", n), &n, |bench, _| {
                bench.iter_custom(|iters| resident(iters, || gw.matvec(&gx).unwrap()))
            });
        }
    }
    group.finish();
}

fn reductions(c: &mut Criterion) {
    let gpu = common::gpu();
    for op in ["dot", "l1", "l2"] {
        let mut group = c.benchmark_group(op);
        for n in [1usize << 20, 1 << 24] {
            let (x, y) = (vector(n, 5), vector(n, 6));
            group.throughput(Throughput::Bytes(2 * 4 * n as u64));
            let call = |be: &dyn Backend| match op {
                "dot" => be.dot(x.view(), y.view()).unwrap(),
                "l1" => be.l1(x.view(), y.view()).unwrap(),
                _ => be.l2(x.view(), y.view()).unwrap(),
            };
            for be in common::backends(&gpu) {
                group.bench_with_input(BenchmarkId::new(be.name(), n), &n, |bench, _| {
                    bench.iter(|| call(be.as_ref()))
                });
            }
            if let Some(g) = &gpu {
                let (gx, gy) = (g.upload(&x).unwrap(), g.upload(&y).unwrap());
                group.bench_with_input(BenchmarkId::new("gpu-resident", n), &n, |bench, _| {
                    bench.iter_custom(|iters| {
                        resident(iters, || match op {
                            "dot" => gx.dot(&gy).unwrap(),
                            "l1" => gx.l1(&gy).unwrap(),
                            _ => gx.l2(&gy).unwrap(),
                        })
                    })
                });
            }
        }
        group.finish();
    }
}

fn outer(c: &mut Criterion) {
    let gpu = common::gpu();
    let mut group = c.benchmark_group("outer");
    for n in [1024usize, 4096] {
        let (x, y) = (vector(n, 7), vector(n, 8));
        group.throughput(Throughput::Bytes(4 * (n * n + 2 * n) as u64));
        for be in common::backends(&gpu) {
            group.bench_with_input(BenchmarkId::new(be.name(), n), &n, |bench, _| {
                bench.iter(|| be.outer(x.view(), y.view()).unwrap())
            });
        }
        if let Some(g) = &gpu {
            let (gx, gy) = (g.upload(&x).unwrap(), g.upload(&y).unwrap());
            group.bench_with_input(BenchmarkId::new("gpu-resident", n), &n, |bench, _| {
                bench.iter_custom(|iters| resident(iters, || gx.outer(&gy).unwrap()))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, matmul, matvec, reductions, outer);
criterion_main!(benches);
