//! criterion: sigmoid, sigmoid_derivative and multiply on every backend, with
//! throughput in bytes that must move (read + write). GPU timings include upload
//! and readback here (the Backend API); the resident figures are in the
//! `gpu-resident` entries. On a software adapter (lavapipe) the GPU entries say
//! nothing about GPU speed and are skipped unless GPU_BASICS_BENCH_SOFTWARE=1.

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array1, ArrayD};

fn input(n: usize, seed: u32) -> ArrayD<f32> {
    Array1::from_shape_fn(n, |i| {
        ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32 / 100.0 - 10.0
    })
    .into_dyn()
}

fn elementwise(c: &mut Criterion) {
    let backends = common::backends(&common::gpu());
    for n in [1 << 10, 1 << 16, 1 << 20, 1 << 24] {
        let (x, y) = (input(n, 1), input(n, 2));
        for (op, arrays) in [
            ("sigmoid", 1u64),
            ("sigmoid_derivative", 1),
            ("multiply", 2),
        ] {
            let mut group = c.benchmark_group(op);
            group.throughput(Throughput::Bytes((arrays + 1) * 4 * n as u64));
            for b in &backends {
                group.bench_with_input(BenchmarkId::new(b.name(), n), &n, |bench, _| {
                    bench.iter(|| match op {
                        "sigmoid" => b.sigmoid(x.view()).unwrap(),
                        "sigmoid_derivative" => b.sigmoid_derivative(x.view()).unwrap(),
                        _ => b.multiply(x.view(), y.view()).unwrap(),
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, elementwise);
criterion_main!(benches);
