//! criterion: the elementwise ops (every unary op, and multiply) on every
//! backend, over the cases `gpu-basics bench` measures (src/cli/bench/cases.rs),
//! with throughput in bytes that must move (reads and the write). GPU timings
//! include upload and readback here (the Backend API); `gpu-basics bench` times
//! the GPU resident too. On a software adapter (lavapipe) the GPU entries say
//! nothing about GPU speed and are skipped unless GPU_BASICS_BENCH_SOFTWARE=1.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};

fn elementwise(c: &mut Criterion) {
    let gpu = common::gpu();
    for op in common::ops(&["elementwise"]) {
        common::bench_op(c, op, &gpu, false);
    }
}

criterion_group!(benches, elementwise);
criterion_main!(benches);
