//! matvec's walk over the rows of a row-major W: blocks read in alternating
//! order on every other call when W outgrows the cache, and each block's rows
//! to gemm's gemv or to `simd::matvec_rows` by their length.

use std::mem::MaybeUninit;
use std::sync::atomic::AtomicBool;

use super::simd;

/// W from which matvec reads its rows in the opposite order on every other
/// call (`matvec_block`): about half the reference machine's 32 MiB L3.
/// Smaller W stay cached between calls whichever way they are read.
pub(super) const ZIGZAG_MIN_BYTES: usize = 1 << 24;
/// Rows of W per block of a zigzag pass: big enough that gemm's per-call
/// cost is lost in the streaming, small enough that the order follows W.
const ZIGZAG_BLOCK_BYTES: usize = 1 << 20;
/// Whether the next large matvec reads backward; flipped by every one. One
/// flag for the process: threads calling matvec on different large W at
/// once break each other's alternation, which costs speed, never bits.
pub(super) static ZIGZAG: AtomicBool = AtomicBool::new(false);

/// How `matvec_block` walks its rows.
#[derive(Clone, Copy)]
pub(super) enum Blocks {
    /// One piece, front to back (W under ZIGZAG_MIN_BYTES).
    Whole,
    /// ZIGZAG_BLOCK_BYTES blocks, in reverse order when `backward`.
    Zigzag { backward: bool },
}

/// out = the rows of W x from row `r0` on (out.len() rows). A W larger than
/// the last-level cache, read front to back on every call, misses on every
/// line under LRU-like replacement: each line read evicts the one the next
/// call needs first. Read the other way on every other call, the next call
/// starts on what the last one left in cache: 3162^2 (40 MB, 32 MiB L3) was
/// faster in 7 of 9 alternating runs of `bench --ops matvec` against the
/// build before (medians 385-595 us before, 320-563 after). One call on its
/// own gains nothing and loses nothing. Both directions cut the rows into
/// the same blocks, and each block's sums do not depend on when it runs, so
/// the two give the same bits. The blocks must match: gemm's gemv gave other
/// bits for rows handed in one call of a thread's whole half than in 1 MiB
/// blocks (so the forward pass is blocked too, and a W of 16 MiB and more
/// has other bits than before this walk, within the same bound). Blocks are a multiple of four
/// rows, which `simd::matvec_rows` (rows past GEMV_MAX_K) takes at a time.
pub(super) fn matvec_block(
    ws: &[f32],
    xs: &[f32],
    r0: usize,
    out: &mut [MaybeUninit<f32>],
    order: Blocks,
) {
    let (k, m) = (xs.len(), out.len());
    let backward = match order {
        Blocks::Whole => return matvec_piece(&ws[r0 * k..(r0 + m) * k], xs, out),
        Blocks::Zigzag { backward } => backward,
    };
    let step = (ZIGZAG_BLOCK_BYTES / (4 * k.max(1)))
        .next_multiple_of(4)
        .max(4);
    let blocks = m.div_ceil(step);
    for i in 0..blocks {
        let j = if backward { blocks - 1 - i } else { i };
        let rows = j * step..m.min((j + 1) * step);
        let r = r0 + rows.start;
        matvec_piece(&ws[r * k..(r + rows.len()) * k], xs, &mut out[rows]);
    }
}

/// Rows of at most this many columns go to gemm's gemv, longer ones to
/// `simd::matvec_rows` (see `matvec_piece`).
const GEMV_MAX_K: usize = 1 << 14;

/// out = W x for the row-major rows of W in `w` (out.len() rows of x.len()).
///
/// Rows up to GEMV_MAX_K go to the gemm crate's gemv: one row at a time into
/// eight AVX-512 accumulators, measured 22 vs 27-28 us at 1000^2 with two
/// threads against `simd::matvec_rows` (four rows at a time, whose loop LLVM
/// schedules at ~22 B/cycle; numpy's OpenBLAS: 21-24 us). Its sum is in
/// 128 lanes of k / 128 terms each, so longer rows, where that depth grows,
/// keep `simd::matvec_rows`' pairwise sum (a row summed as `dot` sums it).
/// Both are within the k + 8 depth the tests allow any order of k terms.
fn matvec_piece(w: &[f32], x: &[f32], out: &mut [MaybeUninit<f32>]) {
    let (m, k) = (out.len(), x.len());
    if k == 0 || k > GEMV_MAX_K {
        simd::matvec_rows(w, x, out);
        return;
    }
    assert_eq!(w.len(), m * k, "matvec_piece: whole rows");
    // Written before gemm runs, so that the memory it is handed is initialized
    // whatever it does with it.
    out.iter_mut().for_each(|o| {
        o.write(0.0);
    });
    let k_stride = isize::try_from(k).expect("a row fits in memory");
    // SAFETY: w is m rows of k (row stride k, column stride 1), x is k
    // elements, out is m initialized elements (row stride 1), all live for the
    // call; out is a distinct allocation from both inputs. With read_dst =
    // false gemm sets out = 1 * w x.
    unsafe {
        gemm::gemm(
            m,
            1,
            k,
            out.as_mut_ptr().cast::<f32>(),
            1,
            1,
            false,
            w.as_ptr(),
            1,
            k_stride,
            x.as_ptr(),
            1,
            1,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::cpu::Cpu;
    use crate::cpu::reduce::tests::data;

    /// A long row of matvec is summed as dot sums one chunk; threads change
    /// nothing.
    #[test]
    fn matvec_rows_are_dots() {
        // Rows longer than GEMV_MAX_K (shorter ones go to gemm's gemv).
        let (m, k) = (70, GEMV_MAX_K + 1001);
        let w = data(m * k, 3).into_shape_with_order((m, k)).unwrap();
        let x = data(k, 4);
        let got = Cpu.matvec(w.view(), x.view()).unwrap();
        for i in 0..m {
            let d = Cpu.dot(w.row(i), x.view()).unwrap();
            assert_eq!(got[i].to_bits(), d.to_bits(), "row {i}");
        }
    }

    /// matvec's backward pass (every other call on a large W) gives the same
    /// bits as the forward one, over blocks that do not divide the rows
    /// evenly, from an offset row, and on both gemv paths; the whole-piece
    /// walk gives the right sums too.
    #[test]
    fn matvec_backward_same_bits() {
        for (m, k) in [(500, 3000), (60, GEMV_MAX_K + 3), (3, 1)] {
            let w = data(m * k, 5);
            let x = data(k, 6);
            let (ws, xs) = (w.as_slice().unwrap(), x.as_slice().unwrap());
            let r0 = m / 3;
            let run = |order: Blocks| {
                let mut v = Vec::<f32>::with_capacity(m - r0);
                matvec_block(ws, xs, r0, &mut v.spare_capacity_mut()[..m - r0], order);
                // SAFETY: matvec_block writes every element it is given.
                unsafe { v.set_len(m - r0) };
                v.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
            };
            if k > 1 {
                assert!((m - r0) * k * 4 > 2 * ZIGZAG_BLOCK_BYTES, "several blocks");
            }
            let fwd = run(Blocks::Zigzag { backward: false });
            assert_eq!(fwd, run(Blocks::Zigzag { backward: true }), "{m} x {k}");
            for (i, bits) in run(Blocks::Whole).into_iter().chain(fwd).enumerate() {
                let row = r0 + i % (m - r0);
                let d = Cpu.dot(w.slice(ndarray::s![row * k..(row + 1) * k]), x.view());
                let d = d.unwrap();
                assert!(
                    (f32::from_bits(bits) - d).abs() <= 1e-3 * (k as f32).sqrt(),
                    "row {row}"
                );
            }
        }
    }
}
