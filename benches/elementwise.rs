//! criterion: every unary op (sigmoid, sigmoid_derivative, ... from `Unary::ALL`)
//! and multiply on every backend, with throughput in bytes that must move (reads
//! and the write). GPU timings include upload and readback here (the Backend API);
//! `gpu-basics bench` times the GPU resident too. On a software adapter
//! (lavapipe) the GPU entries say nothing about GPU speed and are skipped unless
//! GPU_BASICS_BENCH_SOFTWARE=1.

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gpu_basics::{Op, Unary};
use ndarray::{Array1, ArrayD};

fn input(n: usize, seed: u32) -> ArrayD<f32> {
    Array1::from_shape_fn(n, |i| {
        ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32 / 100.0 - 10.0
    })
    .into_dyn()
}

fn elementwise(c: &mut Criterion) {
    let backends = common::backends(&common::gpu());
    let ops = Unary::ALL
        .iter()
        .map(|&u| Op::Unary(u))
        .chain([Op::Multiply]);
    let ops: Vec<Op> = ops.collect();
    for n in [1 << 10, 1 << 16, 1 << 20, 1 << 24] {
        let (x, y) = (input(n, 1), input(n, 2));
        let inputs = [x.view(), y.view()];
        for &op in &ops {
            let inputs = &inputs[..op.arity()];
            let shapes: Vec<&[usize]> = inputs.iter().map(|a| a.shape()).collect();
            let mut group = c.benchmark_group(op.name());
            group.throughput(Throughput::Bytes(op.min_bytes(&shapes).unwrap()));
            for b in &backends {
                group.bench_with_input(BenchmarkId::new(b.name(), n), &n, |bench, _| {
                    bench.iter(|| op.run(b.as_ref(), inputs, None).unwrap())
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, elementwise);
criterion_main!(benches);
