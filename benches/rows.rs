//! criterion: softmax and normalize_rows on every backend, over shapes from many
//! short rows to one long row, with throughput in bytes that must move (one read,
//! one write). GPU entries only on a hardware adapter (or with
//! GPU_BASICS_BENCH_SOFTWARE=1), as in benches/elementwise.rs.

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;

fn rows(c: &mut Criterion) {
    let backends = common::backends(&common::gpu());
    for (m, n) in [(1024, 1024), (262_144, 4), (1, 1 << 20), (4096, 1024)] {
        let x = Array2::from_shape_fn((m, n), |(i, j)| {
            ((i * 31 + j * 17) % 1000) as f32 / 100.0 - 5.0
        });
        for op in ["softmax", "normalize_rows"] {
            let mut group = c.benchmark_group(op);
            group.throughput(Throughput::Bytes(2 * 4 * (m * n) as u64));
            for b in &backends {
                group.bench_with_input(
                    BenchmarkId::new(b.name(), format!("{m}x{n}")),
                    &x,
                    |bench, x| {
                        bench.iter(|| match op {
                            "softmax" => b.softmax(x.view()).unwrap(),
                            _ => b.normalize_rows(x.view()).unwrap(),
                        })
                    },
                );
            }
            group.finish();
        }
    }
}

criterion_group!(benches, rows);
criterion_main!(benches);
