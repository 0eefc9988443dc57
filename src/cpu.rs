//! The CPU backend: ndarray arrays, with its own inner loops (`simd`): a
//! vectorizable exp, one fused pass per op, the instruction set picked at run
//! time, and threads (`fork`) above a measured size. It is the reference the GPU
//! results are checked against in examples and the demo (the tests check every
//! backend against a float64 oracle instead, so a change here cannot move the
//! yardstick).

mod fork;
pub(crate) mod simd;

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{
    Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD, ArrayViewMut2,
    ArrayViewMutD, Axis,
};

use crate::backend::{
    Backend, RowOp, check_inner, check_out, check_rows, check_same_len, check_same_shape,
    stable_sigmoid,
};
use crate::error::{Error, Result};
use crate::unary::Unary;

/// Sizes (elements) from which two threads beat one, per kind of op. A job on
/// `fork` costs ~1 us on the reference 2-core VM (rayon's fork-join from
/// outside its pool cost 14-22 us). Measured crossovers, one thread against
/// two at 2^13..10^5 (`examples`-style loop, median of 21 runs of 200 calls,
/// twice each): sigmoid and its derivative at 2^14 (3.4 -> 2.1 us; 2^13 lost
/// 1.67 -> 1.75; each unary op states its own, `UnaryFn::THREADS_FROM`); softmax and normalize_rows at 2^13 (rows of 64: 2.3 -> 1.4
/// us and 0.93 -> 0.79 us); multiply and outer at 2^16 (2.9 -> 2.4 us; 2^15 a
/// tie); matvec at 2^14 elements of W (128^2: 0.65 -> 0.53 us; 90^2 lost).
const PAR_MIN_ROWS: usize = 1 << 13;
const PAR_MIN_MULTIPLY: usize = 1 << 16;
const PAR_MIN_MATVEC: usize = 1 << 14;
// The two-input reductions (dot, l1, l2) use threads as soon as they have two
// CHUNKs: the caller takes pieces itself, so a helper that is slow to wake
// costs nothing (10^5 elements: dot 4.9 -> 2.9 us, l2 5.2 -> 3.0 us).
/// matmul's m * n * k from which gemm runs on several threads (its own rayon
/// split): 160^3 went 256 -> 332 GFLOP/s with two, 128^3 gained nothing.
const PAR_MIN_MATMUL: usize = 1 << 22;
/// Smallest piece handed to one thread at a time.
const GRAIN_MIN: usize = 1 << 12;
/// Rows at least this long are cut into pieces (threads within the row, and two
/// passes over memory instead of three); shorter rows are processed whole, from
/// cache.
const LONG_ROW: usize = 1 << 17;
/// Columns per panel along axis 0 (`columns`): the column kernels' width.
const PANEL: usize = simd::COLS;
/// Piece of a long row: fits L1/L2 comfortably.
const ROW_PIECE: usize = 1 << 14;

/// ndarray backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cpu;

impl Cpu {
    /// How long the CPU backend's helper threads busy-wait for the next
    /// parallel call before they sleep (default 200 µs, or
    /// `GPU_BASICS_CPU_SPIN_US`). Calls in a loop find them spinning and start
    /// in about a microsecond; the price is that much CPU time per helper
    /// after each parallel call. `Duration::ZERO` sleeps at once: no idle CPU
    /// use, and calls under 2^22 elements then run on the calling thread
    /// alone, since waking a sleeping helper costs more than it saves below
    /// that. Applies to the whole process.
    pub fn set_helper_spin(spin: std::time::Duration) {
        fork::set_spin(spin)
    }
}

/// Piece size for `n` elements: a few pieces per thread (for balance when
/// another process holds a core), never under GRAIN_MIN, a multiple of 64
/// (whole cache lines).
fn grain(n: usize) -> usize {
    let pieces = fork::threads() * 4;
    n.div_ceil(pieces).max(GRAIN_MIN).next_multiple_of(64)
}

/// A Vec of `n` f32, every element written by `fill(offset, piece)` over
/// disjoint pieces, on several threads from `par_min` elements. `align` keeps
/// pieces whole multiples of a row.
fn filled(
    n: usize,
    align: usize,
    par_min: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let mut v = output(n);
    par_fill(&mut v.spare_capacity_mut()[..n], align, par_min, &fill);
    // SAFETY: par_fill hands every element of the first n to `fill`, and every
    // `fill` passed here writes each element of its piece (the simd kernels all
    // write out[i] for every i).
    unsafe { v.set_len(n) };
    v
}

/// An empty Vec with room for `n` f32. Large ones (40 MB at 10^7) are fresh
/// mmaps from malloc, and first-touching them 4 KiB page by page costs more than
/// the op itself (a 10^7 multiply took 12.5 ms on the reference machine, 2.8 ms
/// with this); asking for transparent huge pages makes 512x fewer faults.
/// numpy does the same for arrays of 4 MiB and more (`madvise` in its alloc.c).
fn output(n: usize) -> Vec<f32> {
    let v = Vec::<f32>::with_capacity(n);
    #[cfg(target_os = "linux")]
    if n * 4 >= 1 << 22 {
        let page = 4096;
        let start = (v.as_ptr() as usize).next_multiple_of(page);
        let end = v.as_ptr() as usize + n * 4;
        if end > start {
            // SAFETY: the range lies inside this Vec's allocation (start is
            // rounded up to a page boundary, end is the allocation's end); MADV_HUGEPAGE only
            // changes how the kernel backs the pages, never their contents, and
            // a failure (THP off, old kernel) just leaves small pages.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    v
}

fn par_fill(
    out: &mut [MaybeUninit<f32>],
    align: usize,
    par_min: usize,
    fill: &(impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync),
) {
    let n = out.len();
    if n < par_min || fork::threads() == 1 {
        fill(0, out);
    } else {
        let g = grain(n).next_multiple_of(align.max(1));
        fork::each(out.chunks_mut(g).collect(), n, |i, piece| {
            fill(i * g, piece)
        });
    }
}

/// The data of an array made standard-layout by `as_standard_layout` (which
/// copies strided or transposed views once, so every kernel sees one slice).
fn contiguous<'a, D: ndarray::Dimension>(x: &'a ndarray::CowArray<'a, f32, D>) -> &'a [f32] {
    x.as_slice().expect("standard layout")
}

/// The pieces' writers of the elementwise ops and outer, shared by the
/// allocating ops (`filled`) and the `_into` ones (`par_fill` on the caller's
/// array): out[at..] from the inputs at the same offset.
fn map_fill<'a>(xs: &'a [f32], op: Unary) -> impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync + 'a {
    move |at, out| simd::unary_slice(op, &xs[at..at + out.len()], out)
}

fn multiply_fill<'a>(
    xa: &'a [f32],
    xb: &'a [f32],
) -> impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync + 'a {
    move |at, out| {
        let r = at..at + out.len();
        simd::multiply_slice(&xa[r.clone()], &xb[r], out)
    }
}

/// Pieces of whole rows (`align` = n): row i = a[i] * b.
fn outer_fill<'a>(
    xa: &'a [f32],
    xb: &'a [f32],
) -> impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync + 'a {
    let n = xb.len();
    move |at, out| simd::outer_rows(&xa[at / n..(at + out.len()) / n], xb, out)
}

fn map1(x: ArrayViewD<'_, f32>, op: Unary) -> ArrayD<f32> {
    let x = x.as_standard_layout();
    let xs = contiguous(&x);
    let v = filled(xs.len(), 1, op.threads_from(), map_fill(xs, op));
    ArrayD::from_shape_vec(x.raw_dim(), v).expect("same length as the input")
}

/// A caller's initialized output, as the kernels' `MaybeUninit` slice (their
/// outputs are usually fresh, uninitialized memory).
fn as_out(s: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: MaybeUninit<f32> has f32's size and alignment. The slice stays
    // initialized as long as nothing stores an uninitialized value through
    // it: callers hand it only to par_fill and rows_fill, whose kernels (the
    // simd ones, long_row's apply passes) store with `MaybeUninit::write`.
    unsafe { &mut *(s as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

impl Backend for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn basic_sigmoid(&self, x: f32) -> Result<f32> {
        Ok(stable_sigmoid(x))
    }

    fn unary(&self, op: Unary, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        Ok(map1(x, op))
    }

    fn multiply(&self, a: ArrayViewD<'_, f32>, b: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        check_same_shape("multiply", a.shape(), b.shape())?;
        let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
        let (xa, xb) = (contiguous(&a), contiguous(&b));
        let v = filled(xa.len(), 1, PAR_MIN_MULTIPLY, multiply_fill(xa, xb));
        Ok(ArrayD::from_shape_vec(a.raw_dim(), v).expect("same length as the inputs"))
    }

    /// Straight into `out` when it is contiguous, else through a fresh array.
    fn unary_into(
        &self,
        op: Unary,
        x: ArrayViewD<'_, f32>,
        mut out: ArrayViewMutD<'_, f32>,
    ) -> Result<()> {
        check_out(op.into_name(), out.shape(), x.shape())?;
        match out.as_slice_mut() {
            Some(o) => {
                let x = x.as_standard_layout();
                let fill = map_fill(contiguous(&x), op);
                par_fill(as_out(o), 1, op.threads_from(), &fill);
            }
            None => out.assign(&map1(x, op)),
        }
        Ok(())
    }

    fn multiply_into(
        &self,
        a: ArrayViewD<'_, f32>,
        b: ArrayViewD<'_, f32>,
        mut out: ArrayViewMutD<'_, f32>,
    ) -> Result<()> {
        check_same_shape("multiply_into", a.shape(), b.shape())?;
        check_out("multiply_into", out.shape(), a.shape())?;
        match out.as_slice_mut() {
            Some(o) => {
                let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
                let fill = multiply_fill(contiguous(&a), contiguous(&b));
                par_fill(as_out(o), 1, PAR_MIN_MULTIPLY, &fill);
            }
            None => out.assign(&self.multiply(a, b)?),
        }
        Ok(())
    }

    fn outer_into(
        &self,
        a: ArrayView1<'_, f32>,
        b: ArrayView1<'_, f32>,
        mut out: ArrayViewMut2<'_, f32>,
    ) -> Result<()> {
        let (m, n) = (a.len(), b.len());
        check_out("outer_into", out.shape(), &[m, n])?;
        if m == 0 || n == 0 {
            return Ok(());
        }
        match out.as_slice_mut() {
            Some(o) => {
                let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
                let fill = outer_fill(contiguous(&a), contiguous(&b));
                par_fill(as_out(o), n, PAR_MIN_MULTIPLY, &fill);
            }
            None => out.assign(&self.outer(a, b)?),
        }
        Ok(())
    }

    fn image2vector(&self, image: ArrayView3<'_, f32>) -> Result<Array2<f32>> {
        let n = image.len();
        image
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((n, 1))
            .map_err(|e| Error::shape("image2vector", e.to_string()))
    }

    fn normalize_rows_axis(&self, x: ArrayView2<'_, f32>, axis: Axis) -> Result<Array2<f32>> {
        rows(x, axis, RowOp::Normalize)
    }

    fn softmax_axis(&self, x: ArrayView2<'_, f32>, axis: Axis) -> Result<Array2<f32>> {
        rows(x, axis, RowOp::Softmax)
    }

    fn softmax_into(&self, x: ArrayView2<'_, f32>, out: ArrayViewMut2<'_, f32>) -> Result<()> {
        rows_into("softmax_into", x, out, RowOp::Softmax)
    }

    fn normalize_rows_into(
        &self,
        x: ArrayView2<'_, f32>,
        out: ArrayViewMut2<'_, f32>,
    ) -> Result<()> {
        rows_into("normalize_rows_into", x, out, RowOp::Normalize)
    }

    fn dot(&self, a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> Result<f32> {
        check_same_len("dot", a.shape(), b.shape())?;
        Ok(reduce(a, b, simd::dot_chunk))
    }

    /// Row i = a[i] * b, written once into uninitialized memory (huge pages
    /// when large), rows split between threads above PAR_MIN_MULTIPLY outputs:
    /// it is a multiply that reads almost nothing.
    fn outer(&self, a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> Result<Array2<f32>> {
        let (m, n) = (a.len(), b.len());
        if m == 0 || n == 0 {
            return Ok(Array2::zeros((m, n)));
        }
        // The vectors are small next to the m * n output: copy strided ones.
        let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
        let (xa, xb) = (contiguous(&a), contiguous(&b));
        let v = filled(m * n, n, PAR_MIN_MULTIPLY, outer_fill(xa, xb));
        Ok(Array2::from_shape_vec((m, n), v).expect("m * n values"))
    }

    /// Row-major W: rows split between threads from PAR_MIN_MATVEC elements of
    /// W, each piece by `matvec_piece`; x stays in cache, W streams once. Other
    /// layouts (a transposed W) go to ndarray's general-stride product, where a
    /// row-wise pass would read W across rows.
    fn matvec(&self, w: ArrayView2<'_, f32>, x: ArrayView1<'_, f32>) -> Result<Array1<f32>> {
        check_inner("matvec", w.shape(), x.shape(), 1)?;
        let Some(ws) = w.as_slice() else {
            return Ok(w.dot(&x));
        };
        let (m, k) = w.dim();
        let x = x.as_standard_layout();
        let xs = contiguous(&x);
        let mut v = output(m);
        let out = &mut v.spare_capacity_mut()[..m];
        let order = if m * k * 4 >= ZIGZAG_MIN_BYTES {
            Blocks::Zigzag {
                backward: ZIGZAG.fetch_xor(true, Ordering::Relaxed),
            }
        } else {
            Blocks::Whole
        };
        if m * k >= PAR_MIN_MATVEC && m > 1 && fork::threads() > 1 {
            // One contiguous block of rows per thread, not grain()'s four:
            // the caller takes the first block and the helper the second,
            // call after call. Each core streaming its own half of W ran
            // 3162^2 in ~360 us against ~440 with eight pieces handed out
            // (four alternating runs of each, one outlier at 643 us).
            let rows = m.div_ceil(fork::threads());
            fork::each(out.chunks_mut(rows).collect(), m * k, |i, o| {
                matvec_block(ws, xs, i * rows, o, order)
            });
        } else {
            matvec_block(ws, xs, 0, out, order);
        }
        // SAFETY: matvec_piece writes every element of the `out` it is given,
        // matvec_block hands it all of its piece, and the pieces cover all m.
        unsafe { v.set_len(m) };
        Ok(Array1::from(v))
    }

    /// The `gemm` crate (0.19, `x86-v4`: AVX-512 kernels picked at run time),
    /// chosen by measuring it against matrixmultiply with threads (ndarray's
    /// `dot`, used before) on the reference machine: 435-513 vs 346-410
    /// GFLOP/s at 256-2048, 240 vs 150-290 at 64-128 single-threaded.
    /// Inputs in other layouts are copied to row-major once (O(mk + kn) next
    /// to O(mnk)). Every output is an f32 sum of its k products in some order
    /// (blocked over k, with FMA): within gamma_k of exact.
    fn matmul(&self, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        check_inner("matmul", a.shape(), b.shape(), 2)?;
        let ((m, k), n) = (a.dim(), b.ncols());
        let mut c = Array2::<f32>::zeros((m, n));
        if m == 0 || n == 0 || k == 0 {
            return Ok(c);
        }
        let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
        let (xa, xb) = (contiguous(&a), contiguous(&b));
        let threads = fork::threads();
        let parallelism = if m * n * k >= PAR_MIN_MATMUL && threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        let row = |cols: usize| isize::try_from(cols).expect("a row fits in memory");
        let dst = c.as_slice_mut().expect("a new array is row-major");
        // SAFETY: every pointer comes from a live row-major slice of exactly
        // the extent described: lhs m x k (row stride k), rhs k x n (row
        // stride n), dst m x n (row stride n), column stride 1. dst is a fresh
        // allocation, so it aliases neither input, and it is only written:
        // read_dst = false makes gemm ignore its contents (dst = 1 * lhs * rhs).
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                row(n),
                false,
                xa.as_ptr(),
                1,
                row(k),
                xb.as_ptr(),
                1,
                row(n),
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                parallelism,
            );
        }
        Ok(c)
    }

    fn l1(&self, yhat: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Result<f32> {
        check_same_len("l1", yhat.shape(), y.shape())?;
        Ok(reduce(yhat, y, simd::l1_chunk))
    }

    fn l2(&self, yhat: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Result<f32> {
        check_same_len("l2", yhat.shape(), y.shape())?;
        Ok(reduce(yhat, y, simd::l2_chunk))
    }
}

/// W from which matvec reads its rows in the opposite order on every other
/// call (`matvec_block`): about half the reference machine's 32 MiB L3.
/// Smaller W stay cached between calls whichever way they are read.
const ZIGZAG_MIN_BYTES: usize = 1 << 24;
/// Rows of W per block of a zigzag pass: big enough that gemm's per-call
/// cost is lost in the streaming, small enough that the order follows W.
const ZIGZAG_BLOCK_BYTES: usize = 1 << 20;
/// Whether the next large matvec reads backward; flipped by every one. One
/// flag for the process: threads calling matvec on different large W at
/// once break each other's alternation, which costs speed, never bits.
static ZIGZAG: AtomicBool = AtomicBool::new(false);

/// How `matvec_block` walks its rows.
#[derive(Clone, Copy)]
enum Blocks {
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
fn matvec_block(ws: &[f32], xs: &[f32], r0: usize, out: &mut [MaybeUninit<f32>], order: Blocks) {
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

type RowsKernel = fn(&[f32], usize, &mut [MaybeUninit<f32>]);

fn rows(x: ArrayView2<'_, f32>, axis: Axis, op: RowOp) -> Result<Array2<f32>> {
    check_rows(op, x.shape(), axis.0)?;
    if axis.0 == 0 {
        if x.nrows() < LONG_ROW && !x.is_empty() {
            return Ok(columns(x, op));
        }
        let t = rows(x.t(), Axis(1), op)?;
        return Ok(t.reversed_axes().as_standard_layout().into_owned());
    }
    let x = x.as_standard_layout();
    let (r, c) = x.dim();
    let xs = contiguous(&x);
    let v = if c == 0 || r == 0 {
        Vec::new()
    } else {
        let mut v = output(r * c);
        rows_fill(xs, c, op, &mut v.spare_capacity_mut()[..r * c]);
        // SAFETY: rows_fill writes every element of `out`.
        unsafe { v.set_len(r * c) };
        v
    };
    Ok(Array2::from_shape_vec((r, c), v).expect("same shape as the input"))
}

/// `op` over each row of c columns of `xs` into `out` (as long as `xs`),
/// every element written: rows from LONG_ROW each on both threads, shorter
/// ones whole, split between threads by rows.
fn rows_fill(xs: &[f32], c: usize, op: RowOp, out: &mut [MaybeUninit<f32>]) {
    if c >= LONG_ROW {
        for (xr, or) in xs.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
            // Writes every element of the row: par_fill covers it, and both
            // apply kernels write every element of their piece.
            long_row(xr, or, op);
        }
        return;
    }
    let kernel = match op {
        RowOp::Softmax => simd::softmax_rows as RowsKernel,
        RowOp::Normalize => simd::normalize_rows as RowsKernel,
    };
    par_fill(out, c, PAR_MIN_ROWS, &|at, o| {
        kernel(&xs[at..at + o.len()], c, o)
    });
}

/// The row ops into a caller's `out`: straight into it when it is
/// contiguous, else computed fresh and copied in.
fn rows_into(
    name: &'static str,
    x: ArrayView2<'_, f32>,
    mut out: ArrayViewMut2<'_, f32>,
    op: RowOp,
) -> Result<()> {
    check_out(name, out.shape(), x.shape())?;
    check_rows(op, x.shape(), 1)?;
    match out.as_slice_mut() {
        Some(o) if !o.is_empty() => {
            let x = x.as_standard_layout();
            rows_fill(contiguous(&x), x.ncols(), op, as_out(o));
        }
        _ => out.assign(&rows(x, Axis(1), op)?),
    }
    Ok(())
}

/// Along axis 0, by panels of 64 columns (four cache lines of each row), with
/// column kernels that repeat the row kernels' arithmetic in the same order:
/// bit for bit the rows of the transpose (tested), without transposing.
/// (ndarray's copy of a transposed view goes element by element: twice that
/// took 10x numpy's whole softmax along axis 0.)
fn columns(x: ArrayView2<'_, f32>, op: RowOp) -> Array2<f32> {
    let x = x.as_standard_layout();
    let (r, c) = x.dim();
    let xs = contiguous(&x);
    let (kernel, par_min) = match op {
        RowOp::Softmax => (simd::softmax_cols as ColsKernel, PAR_MIN_ROWS),
        RowOp::Normalize => (simd::normalize_cols as ColsKernel, PAR_MIN_ROWS),
    };
    let mut out = Array2::<f32>::uninit((r, c));
    let panel = |p: usize, mut o: ndarray::ArrayViewMut2<'_, MaybeUninit<f32>>| {
        let (j0, w) = (p * PANEL, o.ncols());
        let xr: Vec<&[f32]> = (0..r).map(|i| &xs[i * c + j0..i * c + j0 + w]).collect();
        let mut or: Vec<&mut [MaybeUninit<f32>]> = o
            .rows_mut()
            .into_iter()
            .map(|row| row.into_slice().expect("a panel's rows are contiguous"))
            .collect();
        kernel(&xr, &mut or);
    };
    let chunks = out.axis_chunks_iter_mut(Axis(1), PANEL);
    if r * c >= par_min {
        fork::each(chunks.collect(), r * c, panel);
    } else {
        chunks.enumerate().for_each(|(p, o)| panel(p, o));
    }
    // SAFETY: the panels partition the columns, and both column kernels write
    // every element of every row slice they are given.
    unsafe { out.assume_init() }
}

type ColsKernel = fn(&[&[f32]], &mut [&mut [MaybeUninit<f32>]]);

/// One long row in pieces: a (max, sum) partial per piece, in parallel; merged
/// pairwise (the tests' bound for the sum is pairwise); then a second pass that
/// writes the result. Two reads of the row instead of three, and both cores
/// work on a single row.
fn long_row(x: &[f32], out: &mut [MaybeUninit<f32>], op: RowOp) {
    let (partial, merge): (fn(&[f32]) -> Partial, Merge) = match op {
        RowOp::Softmax => (simd::softmax_partial, simd::softmax_merge),
        RowOp::Normalize => (simd::normalize_partial, simd::normalize_merge),
    };
    let parts: Vec<Partial> = fork::map(x.len().div_ceil(ROW_PIECE), x.len(), |i| {
        partial(&x[i * ROW_PIECE..x.len().min((i + 1) * ROW_PIECE)])
    });
    let (m, s) = tree(&parts, merge);
    match op {
        RowOp::Softmax => {
            let inv = 1.0 / s;
            par_fill(out, 1, PAR_MIN_ROWS, &|at, o| {
                simd::softmax_apply(&x[at..at + o.len()], m, inv, o)
            });
        }
        RowOp::Normalize => {
            let f = simd::normalize_factor(s);
            par_fill(out, 1, PAR_MIN_ROWS, &|at, o| {
                simd::normalize_apply(&x[at..at + o.len()], m, f, o)
            });
        }
    }
}

/// A row piece's (max, sum) for softmax, (max |x|, sum of scaled squares) for
/// normalize_rows.
type Partial = (f32, f32);
type Merge = fn(Partial, Partial) -> Partial;

fn tree(p: &[Partial], merge: Merge) -> Partial {
    if p.len() == 1 {
        p[0]
    } else {
        let (a, b) = p.split_at(p.len() / 2);
        merge(tree(a, merge), tree(b, merge))
    }
}

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
fn reduce(
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
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Array1<f32> {
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
