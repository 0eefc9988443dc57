//! Which ops and shapes are benchmarked, and their input data: the one list that
//! both `gpu-basics bench` and the criterion suites (benches/*.rs, through
//! benches/common) measure, so that their figures describe the same cases.
//!
//! The criterion suites include this file by path, so it may use only the
//! library's public API, std and ndarray.

use gpu_basics::Op;
use ndarray::{ArrayD, IxDyn};

/// Every op worth timing: all but image2vector, a reshape with nothing to time.
pub fn benchmarked() -> impl Iterator<Item = Op> {
    Op::ALL.iter().copied().filter(|&op| op != Op::Image2vector)
}

/// The op's family: one panel of the plot, one criterion suite.
pub fn family(op: Op) -> &'static str {
    match op {
        Op::Unary(_) | Op::Multiply | Op::Image2vector => "elementwise",
        Op::NormalizeRows | Op::Softmax => "rows",
        Op::Dot | Op::Outer | Op::Matvec | Op::Matmul => "products",
        Op::L1 | Op::L2 => "losses",
    }
}

/// The input shapes of each benchmarked case: 1-D sizes as
/// benches/cpu_vs_peers.py uses them; for the row ops, square, many short rows,
/// and one long row; square matrices for the products. `quick`: fewer and
/// smaller cases, for a run of under a minute.
pub fn cases_for(op: Op, quick: bool) -> Vec<Vec<Vec<usize>>> {
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
        (_, Op::Matmul, false) => [256, 512, 1024, 2048, 4096]
            .iter()
            .map(|&m| vec![vec![m, m]; 2])
            .collect(),
        (_, _, true) => one(&[1 << 16, 1 << 20]),
        (_, _, false) => one(&[10_000, 100_000, 1_000_000, 10_000_000]),
    }
}

/// Input `seed` of a case: uniform in [-10, 10) from a xorshift stream, the same
/// for every backend and run (input `i` of a case uses seed `i + 1`).
pub fn input(shape: &[usize], seed: u64) -> ArrayD<f32> {
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

/// A case's inputs: input `i` of shape `shapes[i]` with seed `i + 1`.
pub fn inputs(shapes: &[Vec<usize>]) -> Vec<ArrayD<f32>> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| input(s, i as u64 + 1))
        .collect()
}
