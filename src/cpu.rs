//! The CPU backend: ndarray arrays, with its own inner loops (`simd`): a
//! vectorizable exp, one fused pass per op, the instruction set picked at run
//! time, and threads (`fork`) above a measured size. It is the reference the GPU
//! results are checked against in examples and the demo (the tests check every
//! backend against a float64 oracle instead, so a change here cannot move the
//! yardstick).

mod fork;
mod matvec;
mod reduce;
mod rows;
pub(crate) mod simd;

use std::mem::MaybeUninit;
use std::sync::atomic::Ordering;

use ndarray::{
    Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD, ArrayViewMut2,
    ArrayViewMutD, Axis,
};

use crate::backend::{
    Backend, RowOp, check_inner, check_out, check_same_len, check_same_shape, stable_sigmoid,
};
use crate::error::{Error, Result};
use crate::unary::Unary;
use matvec::{Blocks, ZIGZAG, ZIGZAG_MIN_BYTES, matvec_block};
use reduce::reduce;
use rows::{rows, rows_into};

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
