//! The two-input reductions (dot, l1, l2) over whole arrays: fixed chunks,
//! summed on any number of threads, joined by a fixed tree, so that the bits
//! depend on the input alone.

use ndarray::{ArrayView1, Axis};

use super::{fork, simd};

/// Elements per chunk of the two-input reductions: the unit of parallel work
/// and of the final tree, fixed so that the result depends on the input only,
/// never on the thread count or on whether threads were used. 2^16 is 128
/// leaves of `simd::PAIR_LEAF` (a whole pairwise tree): 512 KiB of input, long
/// enough that a piece is ~10 us at memory speed.
const CHUNK: usize = 1 << 16;
const _: () = assert!(CHUNK.is_multiple_of(simd::PAIR_LEAF));

/// sum of the terms of one of the `simd::*_chunk` kernels over a and b: one
/// fused pass, the chunk sums joined by a fixed tree (`tree_f32`).
///
/// Error bound: within a chunk a term passes through at most 16 + 5 adds in
/// the lanes and ceil(log2(leaves in the chunk)) + 1 in their pairwise merge
/// (`simd::pair_sum`), then ceil(log2(chunks)) in the tree. A chunk holds 128 =
/// 2^7 leaves, so the last two add up to ceil(log2(ceil(n / 512))) + 1 at most:
/// d <= 22 + ceil(log2(ceil(n / 512))) (37 for n = 10^7).
pub(super) fn reduce(
    a: ArrayView1<'_, f32>,
    b: ArrayView1<'_, f32>,
    kernel: fn(&[f32], &[f32]) -> f32,
) -> f32 {
    let n = a.len();
    match (a.as_slice(), b.as_slice()) {
        (Some(xa), Some(xb)) if n <= CHUNK => kernel(xa, xb),
        (Some(xa), Some(xb)) => {
            // Two chunks at least here, and threads from two chunks (see the
            // note after PAR_MIN_MATVEC).
            let sums: Vec<f32> = if fork::threads() > 1 {
                fork::map(n.div_ceil(CHUNK), n, |i| {
                    let r = i * CHUNK..n.min((i + 1) * CHUNK);
                    kernel(&xa[r.clone()], &xb[r])
                })
            } else {
                xa.chunks(CHUNK)
                    .zip(xb.chunks(CHUNK))
                    .map(|(p, q)| kernel(p, q))
                    .collect()
            };
            tree_f32(&sums)
        }
        // Strided or reversed views: each chunk copied to a contiguous buffer in
        // logical order, so the same kernel gives the same bits as a copy of
        // the whole input would, with a buffer of one chunk instead of n.
        _ => {
            let sums: Vec<f32> = a
                .axis_chunks_iter(Axis(0), CHUNK)
                .zip(b.axis_chunks_iter(Axis(0), CHUNK))
                .map(|(p, q)| kernel(&p.to_vec(), &q.to_vec()))
                .collect();
            tree_f32(&sums)
        }
    }
}

/// Halves, recursively: depth ceil(log2(len)).
fn tree_f32(v: &[f32]) -> f32 {
    match v.len() {
        0 => 0.0,
        1 => v[0],
        n => tree_f32(&v[..n / 2]) + tree_f32(&v[n / 2..]),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::cpu::Cpu;
    use ndarray::Array1;

    /// Reproducible values in [-0.5, 0.5) (xorshift); matvec's tests use them too.
    pub(crate) fn data(n: usize, seed: u32) -> Array1<f32> {
        let mut s = seed | 1;
        Array1::from_shape_fn(n, |_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
    }

    /// Same bits on one thread as on two, and for a strided copy of the input
    /// (the chunking is fixed by n alone).
    #[test]
    fn reductions_do_not_depend_on_threads_or_layout() {
        let n = 3 * CHUNK + 12_345;
        let (a, b) = (data(2 * n, 1), data(n, 2));
        let a2 = a.slice(ndarray::s![..;2]);
        let a1 = a2.to_owned();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                [
                    Cpu.dot(a1.view(), b.view()).unwrap(),
                    Cpu.l1(a1.view(), b.view()).unwrap(),
                    Cpu.l2(a1.view(), b.view()).unwrap(),
                ]
                .map(f32::to_bits)
            })
        };
        let strided = [
            Cpu.dot(a2, b.view()).unwrap(),
            Cpu.l1(a2, b.view()).unwrap(),
            Cpu.l2(a2, b.view()).unwrap(),
        ]
        .map(f32::to_bits);
        assert_eq!(run(1), run(2));
        assert_eq!(run(1), strided);
    }
}
