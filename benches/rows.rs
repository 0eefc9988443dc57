//! criterion: softmax and normalize_rows on every backend, over the shapes
//! `gpu-basics bench` measures (src/cli/bench/cases.rs: from many short rows to
//! one long row), with throughput in bytes that must move (one read, one write).
//! GPU entries only on a hardware adapter (or with GPU_BASICS_BENCH_SOFTWARE=1),
//! as in benches/elementwise.rs.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};

fn rows(c: &mut Criterion) {
    let gpu = common::gpu();
    for op in common::ops(&["rows"]) {
        common::bench_op(c, op, &gpu, false);
    }
}

criterion_group!(benches, rows);
criterion_main!(benches);
