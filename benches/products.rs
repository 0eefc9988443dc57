//! criterion: dot, outer, matvec, matmul, l1 and l2 on every backend, over the
//! cases `gpu-basics bench` measures (src/cli/bench/cases.rs).
//!
//! Throughput: matmul and matvec count floating-point operations (2 m k n and
//! 2 m k) as criterion "elements", so their figures read as FLOP/s; dot, l1, l2 and
//! outer are memory-bound and count the bytes that must move (reads + writes).
//! `gpu` entries go through the Backend API (upload, op, readback per call);
//! `gpu-resident` entries keep inputs on the device and time the op alone (many
//! ops, then one readback of the last result, whose cost is amortized). On a
//! software adapter (lavapipe) the GPU entries say nothing about GPU speed and
//! are skipped unless GPU_BASICS_BENCH_SOFTWARE=1. Naive is not timed on the
//! matmuls past 512 x 512 (seconds per call).
//!
//!     cargo bench --bench products -- matmul

mod common;

use criterion::{Criterion, criterion_group, criterion_main};

fn products(c: &mut Criterion) {
    let gpu = common::gpu();
    for op in common::ops(&["products", "losses"]) {
        common::bench_op(c, op, &gpu, true);
    }
}

criterion_group!(benches, products);
criterion_main!(benches);
