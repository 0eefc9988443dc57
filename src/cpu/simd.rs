//! The CPU backend's inner loops over contiguous slices, and the exp they share.
//!
//! Everything here is plain safe Rust written so that LLVM vectorizes it: no
//! branches in the per-element code, no calls, fixed-width lane accumulators for
//! the reductions. The default x86-64 target only has SSE2, so each public kernel
//! is compiled three times (baseline, AVX2+FMA, AVX-512) by `multiversion!` and
//! picked at run time from what the CPU reports; numpy's ufuncs dispatch the same
//! way, and without it we would race numpy's AVX-512 exp with 4-wide SSE2.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::unary::Unary;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Instruction-set level of the running CPU, as picked by `level()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Level {
    Baseline = 1,
    Avx2 = 2,
    Avx512 = 3,
}

/// Detected once. `GPU_BASICS_CPU_SIMD=baseline|avx2` caps it, so the portable
/// paths can be tested and timed on a machine that has more.
pub(crate) fn level() -> Level {
    static LEVEL: AtomicU8 = AtomicU8::new(0);
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Baseline,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => {
            let l = detect();
            LEVEL.store(l as u8, Ordering::Relaxed);
            l
        }
    }
}

fn detect() -> Level {
    let cap = match std::env::var("GPU_BASICS_CPU_SIMD").as_deref() {
        Ok("baseline") => Level::Baseline,
        Ok("avx2") => Level::Avx2,
        _ => Level::Avx512,
    };
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        let avx512 = avx2
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl");
        let found = if avx512 {
            Level::Avx512
        } else if avx2 {
            Level::Avx2
        } else {
            Level::Baseline
        };
        if (found as u8) < (cap as u8) {
            found
        } else {
            cap
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = cap;
        Level::Baseline
    }
}

/// Defines `fn $name(args)` that runs `$body` compiled for the best instruction
/// set this CPU has. Inside the body, `FMA` is a const bool: whether `fma()`
/// may use a fused multiply-add (it is a slow libm call on the baseline target).
macro_rules! multiversion {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::needless_range_loop)]
            fn body<const FMA: bool>($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi1,bmi2,lzcnt")]
                fn avx512($($arg: $ty),*) $(-> $ret)? { body::<true>($($arg),*) }
                #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt")]
                fn avx2($($arg: $ty),*) $(-> $ret)? { body::<true>($($arg),*) }
                match level() {
                    // SAFETY: level() returns Avx512 only when the CPU reports
                    // every feature this function is compiled with.
                    Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above, for AVX2 and FMA.
                    Level::Avx2 => return unsafe { avx2($($arg),*) },
                    Level::Baseline => {}
                }
            }
            body::<false>($($arg),*)
        }
    };
}

/// a * b + c, fused where the instruction exists (one rounding instead of two).
#[inline(always)]
pub(crate) fn fma<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// e^t for t <= 88.7 (the ops only need t <= 0), branch-free so it vectorizes.
///
/// Cody-Waite: t = n ln2 + r with n = round(t / ln2), |r| <= ln2/2, ln2 split in
/// two so n * LN2_HI is exact; e^r by Cephes' degree-7 minimax polynomial (as
/// 1 + r + r^2 P(r)); 2^n built from exponent bits in two halves so results down
/// to the subnormals (t >= -103.97) round once instead of flushing to zero.
/// Measured error over every f32 t in [-104, 0] (`exp_error_exhaustive`
/// below): 0.98 ulp without FMA, 1.01 ulp with it (normal results).
/// NaN in gives NaN; -inf gives 0.
#[inline(always)]
pub(crate) fn exp<const FMA: bool>(t: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
    const SHIFTER: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4; // 355/512: 9 bits, so n * LN2_HI is exact
    const LN2_LO: f32 = -2.121_944_4e-4;
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5, // Cephes' 5.0000001201e-1, which rounds to 0.5 in f32
    ];
    // Compare-and-select (not min/max) so that NaN passes through.
    let t = if t < -104.0 { -104.0 } else { t };
    let t = if t > 89.0 { 89.0 } else { t };
    let k = fma::<FMA>(t, LOG2E, SHIFTER);
    let n = k - SHIFTER;
    let ni = (k.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    let r = fma::<FMA>(n, -LN2_HI, t);
    let r = fma::<FMA>(n, -LN2_LO, r);
    let mut p = P[0];
    for &c in &P[1..] {
        p = fma::<FMA>(p, r, c);
    }
    let y = fma::<FMA>(p, r * r, r) + 1.0;
    // n in [-150, 129]: each half is a normal power of two.
    let h = ni >> 1;
    let s1 = f32::from_bits((h.wrapping_add(127) as u32) << 23);
    let s2 = f32::from_bits((ni.wrapping_sub(h).wrapping_add(127) as u32) << 23);
    y * s1 * s2
}

multiversion! {
    /// A unary op over a slice (its CPU form, from its definition in
    /// src/unary/), compiled once per instruction set like every kernel here.
    pub(crate) fn unary_slice(op: Unary, x: &[f32], out: &mut [MaybeUninit<f32>]) {
        op.map_cpu::<FMA>(x, out)
    }
}

multiversion! {
    pub(crate) fn multiply_slice(a: &[f32], b: &[f32], out: &mut [MaybeUninit<f32>]) {
        // Callers rely on every element of `out` being written.
        assert!(a.len() == out.len() && b.len() == out.len());
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            o.write(x * y);
        }
    }
}

/// Lanes of the reductions' accumulators: one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;
/// Elements per leaf of the pairwise sums: each lane adds 16 terms in order.
const LEAF: usize = 256;

/// The largest element, ignoring NaN (NaN is dealt with by the pass that follows).
#[inline(always)]
fn max_of<const BAR: bool>(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [f32::MIN; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        let c: &[f32; LANES] = c.try_into().expect("chunks_exact");
        for j in 0..LANES {
            let v = f(c[j]);
            // select, not f32::max: one vmaxps, and a NaN v leaves acc unchanged.
            acc[j] = if v > acc[j] { v } else { acc[j] };
        }
    }
    let mut m = f32::MIN;
    for &v in tail {
        let v = f(v);
        m = if v > m { v } else { m };
    }
    let a = tree_max::<BAR>(acc);
    if a > m { a } else { m }
}

/// Sum of f(x[i]) for at most LEAF elements, in LANES interleaved chains joined
/// by a tree: at most LEAF / LANES + log2(LANES) = 20 roundings deep.
#[inline(always)]
fn leaf_sum<const BAR: bool>(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut xc = x.chunks_exact(LANES);
    for xv in &mut xc {
        let xv: &[f32; LANES] = xv.try_into().expect("chunks_exact");
        for j in 0..LANES {
            acc[j] += f(xv[j]);
        }
    }
    let t = xc.remainder().iter().fold(0.0, |t, &v| t + f(v));
    tree_sum(lanes_barrier::<BAR, _>(acc)) + t
}

/// Rows at least this long hide their lane accumulators from LLVM's SLP
/// vectorizer before the final tree (`lanes_barrier`); shorter rows, whose
/// loop runs a few steps, did as well or better without in `gpu-basics bench`
/// (rows of 64 lost 1.7x with the barrier, rows of 1024 gained 1.3-1.6x).
const BAR_MIN: usize = 256;

/// With BAR, hides the lanes from LLVM's SLP vectorizer at the end of a
/// reduction loop. Seeing the accumulators flow straight into the halving tree,
/// it vectorized the tree two floats wide and then built the whole loop from
/// the same 2-float pieces (perf: `vmovsd` loads, `xmm` adds and max); behind
/// the barrier the loop gets one full register per 16 lanes. The price is a
/// store and reload of the lanes (a store-forwarding stall, ~20 cycles), paid
/// once per leaf: worth it from BAR_MIN elements. Single thread on the
/// reference machine: normalize_rows 1024x1024 195 -> 123 us, one row of
/// 2^20 308 -> 206 us. The arithmetic and its order are unchanged.
#[inline(always)]
fn lanes_barrier<const BAR: bool, T>(lanes: T) -> T {
    if BAR {
        std::hint::black_box(lanes)
    } else {
        lanes
    }
}

/// The largest lane, by halves (vector shuffles instead of a 16-step chain of
/// dependent compares). Lanes are never NaN (a NaN is never selected into one),
/// so the value is exact in any order; only which zero wins between -0 and +0
/// depends on it (lane j keeps its own unless lane j + w is larger).
#[inline(always)]
fn tree_max<const BAR: bool>(acc: [f32; LANES]) -> f32 {
    let mut acc = lanes_barrier::<BAR, _>(acc);
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for j in 0..w {
            acc[j] = if acc[j + w] > acc[j] {
                acc[j + w]
            } else {
                acc[j]
            };
        }
    }
    acc[0]
}

/// The lanes by halves: log2(N) adds deep.
#[inline(always)]
fn tree_sum<const N: usize>(mut acc: [f32; N]) -> f32 {
    let mut w = N;
    while w > 1 {
        w /= 2;
        for j in 0..w {
            acc[j] += acc[j + w];
        }
    }
    acc[0]
}

/// Writes out[i] = f(x[i]) and returns their sum, accumulated as `leaf_sum`
/// does (LANES chains and a tree), for at most LEAF elements.
#[inline(always)]
fn leaf_map_sum<const BAR: bool>(
    x: &[f32],
    out: &mut [MaybeUninit<f32>],
    f: impl Fn(f32) -> f32,
) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut xc = x.chunks_exact(LANES);
    let mut oc = out.chunks_exact_mut(LANES);
    for (xv, ov) in (&mut xc).zip(&mut oc) {
        let xv: &[f32; LANES] = xv.try_into().expect("chunks_exact");
        let ov: &mut [MaybeUninit<f32>; LANES] = ov.try_into().expect("chunks_exact");
        for j in 0..LANES {
            let e = f(xv[j]);
            ov[j].write(e);
            acc[j] += e;
        }
    }
    let mut t = 0.0;
    for (o, &v) in oc.into_remainder().iter_mut().zip(xc.remainder()) {
        let e = f(v);
        o.write(e);
        t += e;
    }
    tree_sum(lanes_barrier::<BAR, _>(acc)) + t
}

/// Pairwise summation of leaf sums without recursion (recursion would leave the
/// target-feature function): a binary counter, whose set bits are the pending
/// partial sums, merged when two of the same level meet. Depth log2(leaves) + 1,
/// the same bound as recursion.
struct Pairwise {
    stack: [f32; 48],
    len: usize,
    count: u64,
}

impl Pairwise {
    #[inline(always)]
    fn new() -> Self {
        Pairwise {
            stack: [0.0; 48],
            len: 0,
            count: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, mut s: f32) {
        let mut c = self.count;
        while c & 1 == 1 {
            self.len -= 1;
            s += self.stack[self.len];
            c >>= 1;
        }
        self.stack[self.len] = s;
        self.len += 1;
        self.count += 1;
    }

    #[inline(always)]
    fn total(&self) -> f32 {
        self.stack[..self.len]
            .iter()
            .rev()
            .fold(0.0, |acc, &s| acc + s)
    }
}

/// Softmax of one row that fits in cache: max; e^(x - max) written to `out`
/// and summed; out *= 1 / sum. One exp per element; `x` is read from memory
/// once, the second and third passes hit L1/L2.
#[inline(always)]
fn softmax_row<const FMA: bool, const BAR: bool>(x: &[f32], out: &mut [MaybeUninit<f32>]) {
    assert_eq!(x.len(), out.len());
    let m = max_of::<BAR>(x, |v| v);
    // One leaf: the pairwise total of a single sum is 0 + s = s, skip it.
    let total = if x.len() <= LEAF {
        leaf_map_sum::<BAR>(x, out, |v| exp::<FMA>(v - m))
    } else {
        let mut sum = Pairwise::new();
        for (xs, os) in x.chunks(LEAF).zip(out.chunks_mut(LEAF)) {
            sum.push(leaf_map_sum::<BAR>(xs, os, |v| exp::<FMA>(v - m)));
        }
        sum.total()
    };
    // SAFETY: leaf_map_sum wrote every element (the chunks of `out` pair up
    // with those of `x`, and the lengths are equal).
    let out = unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) };
    // An all -inf row: max is f32::MIN, every e is 0, 1 / 0 = inf, 0 * inf = NaN.
    let inv = 1.0 / total;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

/// Softmax of each row of a row-major block of rows of length `cols`.
pub(crate) fn softmax_rows(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    #[cfg(target_arch = "x86_64")]
    let fast = avx512::softmax_rows as RowKernelAvx512;
    #[cfg(not(target_arch = "x86_64"))]
    let fast = ();
    row_kernel(x, cols, out, fast, softmax_rows_portable)
}

multiversion! {
    fn softmax_rows_portable(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
        // Callers rely on every element of `out` being written: whole rows only.
        assert!(x.len() == out.len() && cols > 0 && out.len().is_multiple_of(cols));
        if cols < LANES {
            softmax_short_rows::<FMA>(x, cols, out);
            return;
        }
        if cols < BAR_MIN {
            for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
                softmax_row::<FMA, false>(xr, or);
            }
        } else {
            for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
                softmax_row::<FMA, true>(xr, or);
            }
        }
    }
}

/// Rows shorter than LANES, SHORT_BLOCK rows at a time: the maxima row by row,
/// then the exps of the whole block in one loop (which vectorizes across rows;
/// row by row, a 4-element row left 12 of 16 lanes idle and paid the loop
/// set-up per row), then sums and scaling row by row. The arithmetic and its
/// order are softmax_row's for such rows (every term falls in its in-order tail),
/// so the results are the same bits.
#[inline(always)]
fn softmax_short_rows<const FMA: bool>(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    const SHORT_BLOCK: usize = 64;
    let mut e = [0.0f32; SHORT_BLOCK * (LANES - 1)];
    for (xb, ob) in x
        .chunks(SHORT_BLOCK * cols)
        .zip(out.chunks_mut(SHORT_BLOCK * cols))
    {
        let e = &mut e[..xb.len()];
        for (row, er) in xb.chunks_exact(cols).zip(e.chunks_exact_mut(cols)) {
            let m = row.iter().fold(f32::MIN, |m, &v| if v > m { v } else { m });
            for (t, &v) in er.iter_mut().zip(row) {
                *t = v - m;
            }
        }
        for t in e.iter_mut() {
            *t = exp::<FMA>(*t);
        }
        for (er, or) in e.chunks_exact(cols).zip(ob.chunks_exact_mut(cols)) {
            let total = er.iter().fold(0.0f32, |s, &v| s + v);
            let inv = 1.0 / total;
            for (o, &v) in or.iter_mut().zip(er) {
                o.write(v * inv);
            }
        }
    }
}

multiversion! {
    /// (max, sum of e^(x - max)) of a piece of a long row, no writes.
    pub(crate) fn softmax_partial(x: &[f32]) -> (f32, f32) {
        let m = max_of::<true>(x, |v| v);
        let mut sum = Pairwise::new();
        for xs in x.chunks(LEAF) {
            sum.push(leaf_sum::<true>(xs, |v| exp::<FMA>(v - m)));
        }
        (m, sum.total())
    }
}

/// Merges two softmax partials: the smaller max's sum is rescaled by
/// e^(m_small - m) <= 1, whose argument is no larger in magnitude than that of
/// any of its terms, so the rescale's error is within the terms' own.
pub(crate) fn softmax_merge(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    let m = if b.0 > a.0 { b.0 } else { a.0 };
    let scale = |p: (f32, f32)| {
        if p.0 == m {
            p.1
        } else {
            p.1 * exp::<false>(p.0 - m)
        }
    };
    (m, scale(a) + scale(b))
}

multiversion! {
    /// out = e^(x - m) * inv over a piece of a long row.
    pub(crate) fn softmax_apply(x: &[f32], m: f32, inv: f32, out: &mut [MaybeUninit<f32>]) {
        // Callers rely on every element of `out` being written.
        assert_eq!(x.len(), out.len());
        for (o, &v) in out.iter_mut().zip(x) {
            o.write(exp::<FMA>(v - m) * inv);
        }
    }
}

/// 1 / the power of two by which a row is scaled before squaring (exact, so
/// the squares neither overflow nor underflow).
#[inline(always)]
fn norm_scale(maxabs: f32) -> f32 {
    1.0 / crate::backend::pow2_floor(maxabs)
}

/// max |x| and the sum of x^2 of at most LEAF elements, in one pass, summed as
/// `leaf_sum` does.
#[inline(always)]
fn leaf_maxabs_sumsq<const BAR: bool>(x: &[f32]) -> (f32, f32) {
    let mut m = [0.0f32; LANES];
    let mut acc = [0.0f32; LANES];
    let mut xc = x.chunks_exact(LANES);
    for xv in &mut xc {
        let xv: &[f32; LANES] = xv.try_into().expect("chunks_exact");
        for j in 0..LANES {
            let a = xv[j].abs();
            m[j] = if a > m[j] { a } else { m[j] };
            acc[j] += xv[j] * xv[j];
        }
    }
    with_tail_maxabs_sumsq(
        tree_max::<BAR>(m),
        tree_sum(lanes_barrier::<BAR, _>(acc)),
        xc.remainder(),
    )
}

/// (max |x|, sum of x^2) from the lanes' max and sum and the elements past the
/// last whole LANES, taken one by one and added after the tree.
#[inline(always)]
fn with_tail_maxabs_sumsq(lanes_max: f32, lanes_sum: f32, tail: &[f32]) -> (f32, f32) {
    let mut mt = 0.0f32;
    let mut t = 0.0f32;
    for &v in tail {
        let a = v.abs();
        mt = if a > mt { a } else { mt };
        t += v * v;
    }
    (if mt > lanes_max { mt } else { lanes_max }, lanes_sum + t)
}

/// `leaf_maxabs_sumsq` of four rows of one leaf or less at once, each with its
/// own lanes, steps and tree (the same bits as one at a time). Rows under 256
/// gain nothing from `lanes_barrier`, and their 16 lanes alone come out of
/// LLVM's SLP vectorizer two floats wide; four rows' lanes side by side are
/// vectorized a full register per row, as in `matvec_rows`. Single thread on
/// the reference machine: 8192 rows of 128 ~209 -> ~136 us, 4096 of 192 ~152
/// -> ~93 us; rows of 32 lost (~156 -> ~207 us) and rows of 64 broke even
/// (their time goes to the per-row tree, square root and divisions), so rows
/// under 64 stay one at a time.
#[inline(always)]
fn leaf_maxabs_sumsq4(r: [&[f32]; 4]) -> [(f32, f32); 4] {
    let n = r[0].len();
    let full = n / LANES * LANES;
    let mut m = [[0.0f32; LANES]; 4];
    let mut acc = [[0.0f32; LANES]; 4];
    for c in (0..full).step_by(LANES) {
        for k in 0..4 {
            let xv: &[f32; LANES] = r[k][c..c + LANES].try_into().expect("in range");
            for j in 0..LANES {
                let a = xv[j].abs();
                m[k][j] = if a > m[k][j] { a } else { m[k][j] };
                acc[k][j] += xv[j] * xv[j];
            }
        }
    }
    let mut out = [(0.0, 0.0); 4];
    for k in 0..4 {
        out[k] = with_tail_maxabs_sumsq(tree_max::<false>(m[k]), tree_sum(acc[k]), &r[k][full..]);
    }
    out
}

/// (max |x|, sum of (x / pow2_floor(max |x|))^2) of a row or a piece of one.
///
/// Scaling by a power of two is exact, so when max |x| is within 2^-40..2^40 the
/// squares can neither overflow nor lose anything that matters to underflow
/// (a square under 2^-126 is below 2^-46 of the largest one), and one pass gives
/// both the max and the unscaled sum, rescaled exactly afterwards. Otherwise a
/// second pass sums the scaled squares.
#[inline(always)]
fn normalize_partial_inline<const BAR: bool>(x: &[f32]) -> (f32, f32) {
    // One leaf: skip the pairwise counter (its total of one sum is that sum).
    let (a, q0) = if x.len() <= LEAF {
        leaf_maxabs_sumsq::<BAR>(x)
    } else {
        let mut a = 0.0f32;
        let mut q0 = Pairwise::new();
        for xs in x.chunks(LEAF) {
            let (m, s) = leaf_maxabs_sumsq::<BAR>(xs);
            a = if m > a { m } else { a };
            q0.push(s);
        }
        (a, q0.total())
    };
    normalize_finish::<BAR>(x, a, q0)
}

/// `normalize_partial_inline` from the row's max |x| and unscaled sum of
/// squares (summed as it sums them).
#[inline(always)]
fn normalize_finish<const BAR: bool>(x: &[f32], a: f32, q0: f32) -> (f32, f32) {
    let inv_c = norm_scale(a);
    // A NaN in the row is ignored by the max and carried by q0.
    if (2.0f32.powi(-40)..=2.0f32.powi(40)).contains(&a) {
        return (a, q0 * (inv_c * inv_c));
    }
    if !a.is_finite() {
        // inf somewhere: the row becomes NaN, as the scaled sum would make it.
        return (a, f32::NAN);
    }
    let mut q = Pairwise::new();
    for xs in x.chunks(LEAF) {
        q.push(leaf_sum::<BAR>(xs, |v| {
            let v = v * inv_c;
            v * v
        }));
    }
    (a, q.total())
}

/// out = (x / c) * f with c the row's scale: the division by a power of two
/// is exact, so this equals x / ||x|| rounded twice.
#[inline(always)]
fn normalize_apply_inline(x: &[f32], maxabs: f32, f: f32, out: &mut [MaybeUninit<f32>]) {
    let inv_c = norm_scale(maxabs);
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(v * inv_c * f);
    }
}

/// normalize_rows of each row of a row-major block of rows of length `cols`:
/// max |x|, sum of scaled squares, scaled write; the row is re-read from cache.
pub(crate) fn normalize_rows(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    #[cfg(target_arch = "x86_64")]
    let fast = avx512::normalize_rows as RowKernelAvx512;
    #[cfg(not(target_arch = "x86_64"))]
    let fast = ();
    row_kernel(x, cols, out, fast, normalize_rows_portable)
}

/// One of avx512.rs's row kernels. Safety: callable only where the CPU has
/// every feature it is compiled with (`level() == Level::Avx512`).
#[cfg(target_arch = "x86_64")]
type RowKernelAvx512 = unsafe fn(&[f32], usize, &mut [MaybeUninit<f32>]);
#[cfg(not(target_arch = "x86_64"))]
type RowKernelAvx512 = ();

/// The hand-written AVX-512 row kernel for rows of LANES..BAR_MIN where the CPU
/// has AVX-512, else the portable one (same bits).
#[inline(always)]
fn row_kernel(
    x: &[f32],
    cols: usize,
    out: &mut [MaybeUninit<f32>],
    fast: RowKernelAvx512,
    portable: fn(&[f32], usize, &mut [MaybeUninit<f32>]),
) {
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Avx512 && (LANES..BAR_MIN).contains(&cols) {
        // SAFETY: `fast` is one of avx512.rs's kernels, and level() is Avx512
        // only when the CPU reports every feature they are compiled with.
        unsafe { fast(x, cols, out) };
        return;
    }
    let _ = fast;
    portable(x, cols, out)
}

multiversion! {
    fn normalize_rows_portable(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
        // Callers rely on every element of `out` being written: whole rows only.
        assert!(x.len() == out.len() && cols > 0 && out.len().is_multiple_of(cols));
        if cols < LANES {
            normalize_short_rows(x, cols, out);
            return;
        }
        if cols < 64 {
            for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
                let (a, q) = normalize_partial_inline::<false>(xr);
                normalize_apply_inline(xr, a, normalize_factor(q), or);
            }
        } else if cols < BAR_MIN {
            let mut rows = x.chunks_exact(4 * cols);
            let mut outs = out.chunks_exact_mut(4 * cols);
            for (x4, o4) in (&mut rows).zip(&mut outs) {
                let r = [&x4[..cols], &x4[cols..2 * cols], &x4[2 * cols..3 * cols], &x4[3 * cols..]];
                let stats = leaf_maxabs_sumsq4(r);
                for ((xr, or), (a, q0)) in r.into_iter().zip(o4.chunks_exact_mut(cols)).zip(stats) {
                    let (a, q) = normalize_finish::<false>(xr, a, q0);
                    normalize_apply_inline(xr, a, normalize_factor(q), or);
                }
            }
            for (xr, or) in rows.remainder().chunks_exact(cols).zip(outs.into_remainder().chunks_exact_mut(cols)) {
                let (a, q) = normalize_partial_inline::<false>(xr);
                normalize_apply_inline(xr, a, normalize_factor(q), or);
            }
        } else {
            for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
                let (a, q) = normalize_partial_inline::<true>(xr);
                normalize_apply_inline(xr, a, normalize_factor(q), or);
            }
        }
    }
}

/// Rows shorter than LANES, 64 rows at a time: each row's (max |x|, sum of
/// squares) as before, then the scale and 1/sqrt of all 64 rows in one loop
/// (which vectorizes the divisions and square roots across rows), then the
/// writes. The same functions in the same order per row, so the same bits.
#[inline(always)]
fn normalize_short_rows(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    const SHORT_BLOCK: usize = 64;
    let mut scale = [0.0f32; SHORT_BLOCK];
    let mut factor = [0.0f32; SHORT_BLOCK];
    for (xb, ob) in x
        .chunks(SHORT_BLOCK * cols)
        .zip(out.chunks_mut(SHORT_BLOCK * cols))
    {
        for ((row, c), f) in xb
            .chunks_exact(cols)
            .zip(scale.iter_mut())
            .zip(factor.iter_mut())
        {
            (*c, *f) = normalize_partial_inline::<false>(row);
        }
        for (c, f) in scale.iter_mut().zip(factor.iter_mut()) {
            *c = norm_scale(*c);
            *f = normalize_factor(*f);
        }
        for (((row, or), &c), &f) in xb
            .chunks_exact(cols)
            .zip(ob.chunks_exact_mut(cols))
            .zip(&scale)
            .zip(&factor)
        {
            for (o, &v) in or.iter_mut().zip(row) {
                o.write(v * c * f);
            }
        }
    }
}

multiversion! {
    pub(crate) fn normalize_partial(x: &[f32]) -> (f32, f32) {
        normalize_partial_inline::<true>(x)
    }
}

multiversion! {
    pub(crate) fn normalize_apply(x: &[f32], maxabs: f32, f: f32, out: &mut [MaybeUninit<f32>]) {
        assert_eq!(x.len(), out.len());
        normalize_apply_inline(x, maxabs, f, out)
    }
}

/// Merges two normalize partials: rescaling a sum of squares by the square of a
/// ratio of powers of two is exact (until it underflows, where it no longer
/// matters next to the other sum).
pub(crate) fn normalize_merge(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    let m = if b.0 > a.0 { b.0 } else { a.0 };
    let inv_c = norm_scale(m);
    let rescale = |p: (f32, f32)| {
        let r = crate::backend::pow2_floor(p.0) * inv_c;
        p.1 * (r * r)
    };
    // NaN anywhere must survive: max ignores it, the sums carry it.
    (m, rescale(a) + rescale(b))
}

/// 1 / sqrt(sum of scaled squares), or 0 for a zero row (which stays zeros).
#[inline(always)]
pub(crate) fn normalize_factor(q: f32) -> f32 {
    if q == 0.0 { 0.0 } else { 1.0 / q.sqrt() }
}

/// Lanes of the two-input reductions (dot, l1, l2, matvec rows): two AVX-512
/// registers, four AVX2 ones, so that consecutive adds to one lane are two or
/// more vector adds apart and the loop runs at load speed, not at the add's
/// 4-cycle latency.
const PAIR_LANES: usize = 32;
/// Elements per leaf of the two-input reductions: 16 terms per lane, as `LEAF`.
pub(crate) const PAIR_LEAF: usize = PAIR_LANES * 16;

type PairLanes = [f32; PAIR_LANES];

/// Lane accumulators over at most PAIR_LEAF elements: element q goes to lane
/// q % PAIR_LANES, so each lane adds at most 16 terms in order. The tail is
/// padded with zeros and taken as one more full step: every `step` used here
/// turns (acc, 0, 0) into acc exactly, so the padding changes no bit (a -0.0
/// lane may become +0.0, which compares equal) and the loop stays branch-free.
#[inline(always)]
fn pair_leaf(a: &[f32], b: &[f32], step: impl Fn(f32, f32, f32) -> f32) -> PairLanes {
    let mut acc = [0.0f32; PAIR_LANES];
    let mut ca = a.chunks_exact(PAIR_LANES);
    let mut cb = b.chunks_exact(PAIR_LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x: &PairLanes = x.try_into().expect("chunks_exact");
        let y: &PairLanes = y.try_into().expect("chunks_exact");
        for j in 0..PAIR_LANES {
            acc[j] = step(acc[j], x[j], y[j]);
        }
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    if !ra.is_empty() {
        let (mut x, mut y) = ([0.0f32; PAIR_LANES], [0.0f32; PAIR_LANES]);
        x[..ra.len()].copy_from_slice(ra);
        y[..rb.len()].copy_from_slice(rb);
        for j in 0..PAIR_LANES {
            acc[j] = step(acc[j], x[j], y[j]);
        }
    }
    acc
}

/// `Pairwise` on whole lane vectors: the leaves' lanes are merged lane by lane
/// (vector adds, no per-leaf horizontal sum), and the lanes are joined by one
/// tree at the end. Depth per lane: ceil(log2(leaves)) + 1, as `Pairwise`.
/// `N` partials at most: enough for 2^N - 1 leaves (the pending partials are
/// the set bits of the count). Sized per call (`pair_sum`) because the stack is
/// zeroed on creation: 6 KiB for 48 levels cost more than a 316-element matvec
/// row itself.
struct PairwiseLanes<const N: usize> {
    stack: [PairLanes; N],
    len: usize,
    count: u64,
}

impl<const N: usize> PairwiseLanes<N> {
    #[inline(always)]
    fn new() -> Self {
        PairwiseLanes {
            stack: [[0.0; PAIR_LANES]; N],
            len: 0,
            count: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, mut s: PairLanes) {
        let mut c = self.count;
        while c & 1 == 1 {
            self.len -= 1;
            let top = &self.stack[self.len];
            for j in 0..PAIR_LANES {
                s[j] += top[j];
            }
            c >>= 1;
        }
        self.stack[self.len] = s;
        self.len += 1;
        self.count += 1;
    }

    /// The pending partials added newest first (as `Pairwise::total`), then
    /// the lanes by halves (log2(PAIR_LANES) = 5 adds).
    #[inline(always)]
    fn total(&self) -> f32 {
        let mut t = [0.0f32; PAIR_LANES];
        for s in self.stack[..self.len].iter().rev() {
            for j in 0..PAIR_LANES {
                t[j] += s[j];
            }
        }
        tree_sum(t)
    }
}

/// sum of the terms that `step` accumulates, over a and b (equal lengths), in
/// leaves of PAIR_LEAF. Each term passes through at most 16 adds in its lane,
/// ceil(log2(leaves)) + 1 in the pairwise merge and 5 in the final tree:
/// d <= 22 + ceil(log2(ceil(n / PAIR_LEAF))).
#[inline(always)]
fn pair_sum(a: &[f32], b: &[f32], step: impl Fn(f32, f32, f32) -> f32 + Copy) -> f32 {
    assert_eq!(a.len(), b.len());
    let leaves = a.len().div_ceil(PAIR_LEAF);
    if leaves <= 1 {
        // The pairwise total of one partial is that partial (0 + s).
        return tree_sum(pair_leaf(a, b, step));
    }
    if leaves < 1 << 3 {
        pair_sum_n::<3>(a, b, step)
    } else if leaves < 1 << 8 {
        // A whole chunk of `cpu::reduce` (128 leaves).
        pair_sum_n::<8>(a, b, step)
    } else {
        pair_sum_n::<48>(a, b, step)
    }
}

#[inline(always)]
fn pair_sum_n<const N: usize>(
    a: &[f32],
    b: &[f32],
    step: impl Fn(f32, f32, f32) -> f32 + Copy,
) -> f32 {
    let mut p = PairwiseLanes::<N>::new();
    for (xa, xb) in a.chunks(PAIR_LEAF).zip(b.chunks(PAIR_LEAF)) {
        p.push(pair_leaf(xa, xb, step));
    }
    p.total()
}

/// The terms of dot, l1 and l2 folded into a lane: one fused pass, no
/// temporary. With FMA, dot's and l2's product is not rounded before the add
/// (one rounding instead of two; the error bound only gets smaller).
#[inline(always)]
fn dot_step<const FMA: bool>(acc: f32, x: f32, y: f32) -> f32 {
    fma::<FMA>(x, y, acc)
}

#[inline(always)]
fn l1_step(acc: f32, yhat: f32, y: f32) -> f32 {
    acc + (y - yhat).abs()
}

#[inline(always)]
fn l2_step<const FMA: bool>(acc: f32, yhat: f32, y: f32) -> f32 {
    let d = y - yhat;
    fma::<FMA>(d, d, acc)
}

multiversion! {
    /// sum a[i] * b[i] of one chunk (see `pair_sum`).
    pub(crate) fn dot_chunk(a: &[f32], b: &[f32]) -> f32 {
        pair_sum(a, b, dot_step::<FMA>)
    }
}

multiversion! {
    /// sum |y[i] - yhat[i]| of one chunk.
    pub(crate) fn l1_chunk(yhat: &[f32], y: &[f32]) -> f32 {
        pair_sum(yhat, y, l1_step)
    }
}

multiversion! {
    /// sum (y[i] - yhat[i])^2 of one chunk.
    pub(crate) fn l2_chunk(yhat: &[f32], y: &[f32]) -> f32 {
        pair_sum(yhat, y, l2_step::<FMA>)
    }
}

multiversion! {
    /// out[i] = row i of the row-major `w` (rows of x.len()) dotted with x, each
    /// as `dot_chunk` sums it; x stays in L1/L2 while the rows stream past.
    pub(crate) fn matvec_rows(w: &[f32], x: &[f32], out: &mut [MaybeUninit<f32>]) {
        let k = x.len();
        // Callers rely on every element of `out` being written.
        assert_eq!(w.len(), out.len() * k);
        if k == 0 {
            for o in out.iter_mut() {
                o.write(0.0);
            }
            return;
        }
        // Four rows at a time share each load of x (5 loads per 4 fmas instead
        // of 8): each row's own operations and their order are `pair_sum`'s,
        // so the bits are the same as one row at a time.
        // x's last partial lane vector, zero-padded once here rather than
        // copied per block (the copy was a memcpy call and a store-forwarding
        // stall per four rows). Every leaf but the last is whole lane vectors.
        let xfull = k / PAIR_LANES * PAIR_LANES;
        let mut xt = Tail {
            x: [0.0; PAIR_LANES],
            keep: [0; PAIR_LANES],
        };
        xt.x[..k - xfull].copy_from_slice(&x[xfull..]);
        xt.keep[..k - xfull].fill(!0);
        let blocks = out.len() / 4;
        let (outs, rest) = out.split_at_mut(blocks * 4);
        for (b, o) in outs.chunks_exact_mut(4).enumerate() {
            // Each row runs on to the end of w: a tail can read a whole lane
            // vector past its row (and select zeros there) instead of copying.
            let at = b * 4 * k;
            let r = [&w[at..], &w[at + k..], &w[at + 2 * k..], &w[at + 3 * k..]];
            let leaves = k.div_ceil(PAIR_LEAF);
            let s = if leaves <= 1 {
                let l = pair_leaf4::<FMA>(r, x, &xt);
                [tree_sum(l[0]), tree_sum(l[1]), tree_sum(l[2]), tree_sum(l[3])]
            } else if leaves < 1 << 3 {
                pair_sum4::<FMA, 3>(r, x, &xt)
            } else if leaves < 1 << 8 {
                pair_sum4::<FMA, 8>(r, x, &xt)
            } else {
                pair_sum4::<FMA, 48>(r, x, &xt)
            };
            for (o, s) in o.iter_mut().zip(s) {
                o.write(s);
            }
        }
        let w = &w[blocks * 4 * k..];
        for (o, row) in rest.iter_mut().zip(w.chunks_exact(k)) {
            o.write(pair_sum(row, x, dot_step::<FMA>));
        }
    }
}

/// `pair_leaf` with `dot_step` on four rows against one x (at most PAIR_LEAF
/// elements); `xt` is x's tail past its last whole lane vector, zero-padded.
/// Each w[r] holds its row's x.len() elements and may run on past
/// them (into the next rows): then the tail reads a whole lane vector and
/// selects zeros past the row, which costs a compare and a blend instead of two
/// copies through the stack (the copies made a 316-column matvec 60% slower
/// than a 320-column one). Either way the padded lanes add w * x = 0 * 0, so
/// the bits are `pair_leaf`'s.
#[inline(always)]
fn pair_leaf4<const FMA: bool>(w: [&[f32]; 4], x: &[f32], xt: &Tail) -> [PairLanes; 4] {
    let mut acc = [[0.0f32; PAIR_LANES]; 4];
    let full = x.len() / PAIR_LANES * PAIR_LANES;
    // Zipped chunk iterators: no bounds check left in the loop.
    fn lanes(s: &[f32], full: usize) -> std::slice::ChunksExact<'_, f32> {
        s[..full].chunks_exact(PAIR_LANES)
    }
    let lanes = |s| lanes(s, full);
    let rows = lanes(w[0])
        .zip(lanes(w[1]))
        .zip(lanes(w[2]))
        .zip(lanes(w[3]));
    for (xv, (((w0, w1), w2), w3)) in lanes(x).zip(rows) {
        for (r, wv) in [w0, w1, w2, w3].into_iter().enumerate() {
            for j in 0..PAIR_LANES {
                acc[r][j] = dot_step::<FMA>(acc[r][j], wv[j], xv[j]);
            }
        }
    }
    let rest = x.len() - full;
    if rest > 0 {
        let xv = &xt.x;
        for r in 0..4 {
            let wv = match w[r].get(full..full + PAIR_LANES) {
                Some(v) => {
                    let v: &PairLanes = v.try_into().expect("in range");
                    let mut m = [0.0f32; PAIR_LANES];
                    // A bit mask, not a compare on j: that one LLVM
                    // turned into a switch over `rest`.
                    for j in 0..PAIR_LANES {
                        m[j] = f32::from_bits(v[j].to_bits() & xt.keep[j]);
                    }
                    m
                }
                None => {
                    let mut m = [0.0f32; PAIR_LANES];
                    m[..rest].copy_from_slice(&w[r][full..x.len()]);
                    m
                }
            };
            for j in 0..PAIR_LANES {
                acc[r][j] = dot_step::<FMA>(acc[r][j], wv[j], xv[j]);
            }
        }
    }
    acc
}

/// x's last partial lane vector, zero-padded, and which of its lanes are real.
struct Tail {
    x: PairLanes,
    keep: [u32; PAIR_LANES],
}

/// `pair_sum_n` with `dot_step` on four rows against one x.
#[inline(always)]
fn pair_sum4<const FMA: bool, const N: usize>(w: [&[f32]; 4], x: &[f32], xt: &Tail) -> [f32; 4] {
    let mut p = [
        PairwiseLanes::<N>::new(),
        PairwiseLanes::new(),
        PairwiseLanes::new(),
        PairwiseLanes::new(),
    ];
    for (l, xs) in x.chunks(PAIR_LEAF).enumerate() {
        let r = l * PAIR_LEAF..l * PAIR_LEAF + xs.len();
        let w = [
            &w[0][r.start..],
            &w[1][r.start..],
            &w[2][r.start..],
            &w[3][r.start..],
        ];
        let leaf = pair_leaf4::<FMA>(w, xs, xt);
        for (p, leaf) in p.iter_mut().zip(leaf) {
            p.push(leaf);
        }
    }
    [p[0].total(), p[1].total(), p[2].total(), p[3].total()]
}

multiversion! {
    /// Rows of the outer product: out row i = a[i] * b. Exact products rounded
    /// once, as numpy's.
    pub(crate) fn outer_rows(a: &[f32], b: &[f32], out: &mut [MaybeUninit<f32>]) {
        // Callers rely on every element of `out` being written.
        assert!(!b.is_empty() && a.len() * b.len() == out.len());
        for (&ai, row) in a.iter().zip(out.chunks_exact_mut(b.len())) {
            for (o, &bj) in row.iter_mut().zip(b) {
                o.write(ai * bj);
            }
        }
    }
}

/// Column kernels: the row kernels' arithmetic, step for step, on up to COLS
/// columns at once, so that a result along axis 0 is bit for bit the row
/// kernel's result on the transpose (the tests require it), while reading the
/// row-major array in runs of whole cache lines instead of transposing it.
/// Each column keeps the row kernel's own lane structure: its element q of a
/// leaf goes to lane q % LANES, the tail to a separate chain, then the same tree
/// and the same pairwise counter.
type Cols = [f32; COLS];
/// Columns per panel: four cache lines of each row, so that each row (often
/// its own 4 KiB page) is visited once per pass for 64 columns, not 16.
pub(crate) const COLS: usize = 64;

/// `std::array::from_fn` for a panel row. core's from_fn and `array::map` are
/// not always inlined, and an out-of-line copy is compiled for the baseline
/// target: profiling found matvec spending 38% of its time in SSE2 code that
/// way. This one is inlined into the caller's instruction set.
#[inline(always)]
fn cols(f: impl Fn(usize) -> f32) -> Cols {
    let mut c = [0.0; COLS];
    for (j, c) in c.iter_mut().enumerate() {
        *c = f(j);
    }
    c
}

/// Row i of a panel, padded with zeros (computed on, never written).
#[inline(always)]
fn load(row: &[f32]) -> Cols {
    match <[f32; COLS]>::try_from(row) {
        Ok(v) => v,
        Err(_) => cols(|j| row.get(j).copied().unwrap_or(0.0)),
    }
}

#[inline(always)]
#[allow(clippy::needless_range_loop)] // two rows of acc, one index
fn tree_sum_cols(mut acc: [Cols; LANES]) -> Cols {
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            for j in 0..COLS {
                acc[l][j] += acc[l + w][j];
            }
        }
    }
    acc[0]
}

/// `Pairwise`, per column.
struct PairwiseCols {
    stack: Vec<Cols>,
    count: u64,
}

impl PairwiseCols {
    fn new() -> Self {
        PairwiseCols {
            stack: Vec::with_capacity(48),
            count: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, mut s: Cols) {
        let mut c = self.count;
        while c & 1 == 1 {
            let top = self.stack.pop().expect("one partial per set bit");
            for j in 0..COLS {
                s[j] += top[j];
            }
            c >>= 1;
        }
        self.stack.push(s);
        self.count += 1;
    }

    #[inline(always)]
    fn total(&self) -> Cols {
        let mut t = [0.0; COLS];
        for s in self.stack.iter().rev() {
            for j in 0..COLS {
                t[j] += s[j];
            }
        }
        t
    }
}

/// Per column, the sum of f(x) over rows, as `leaf_sum` and `Pairwise` order
/// it in the row kernels; `each(i, values)` sees every row's f(x).
#[inline(always)]
fn column_sums(
    x: &[&[f32]],
    f: impl Fn(usize, f32) -> f32,
    mut each: impl FnMut(usize, &Cols),
) -> Cols {
    let mut sum = PairwiseCols::new();
    for start in (0..x.len()).step_by(LEAF) {
        let n = LEAF.min(x.len() - start);
        let full = n / LANES * LANES;
        let mut acc = [[0.0f32; COLS]; LANES];
        let mut t = [0.0f32; COLS];
        for q in 0..n {
            let v = load(x[start + q]);
            let e = cols(|j| f(j, v[j]));
            each(start + q, &e);
            let a = if q < full {
                &mut acc[q % LANES]
            } else {
                &mut t
            };
            for j in 0..COLS {
                a[j] += e[j];
            }
        }
        let tree = tree_sum_cols(acc);
        sum.push(cols(|j| tree[j] + t[j]));
    }
    sum.total()
}

multiversion! {
    /// softmax down each column of a panel of at most COLS columns: `x[i]`
    /// and `out[i]` are row i's part of the panel.
    pub(crate) fn softmax_cols(x: &[&[f32]], out: &mut [&mut [MaybeUninit<f32>]]) {
        let mut m = [f32::MIN; COLS];
        for row in x {
            let v = load(row);
            for j in 0..COLS {
                m[j] = if v[j] > m[j] { v[j] } else { m[j] };
            }
        }
        // Callers rely on every element of every out[i] being written.
        assert!(x.len() == out.len() && x.iter().zip(out.iter()).all(|(a, b)| a.len() == b.len()));
        let total = column_sums(
            x,
            |j, v| exp::<FMA>(v - m[j]),
            |i, e| {
                for (o, &e) in out[i].iter_mut().zip(e) {
                    o.write(e);
                }
            },
        );
        let inv = cols(|j| 1.0 / total[j]);
        for o in out.iter_mut() {
            // SAFETY: column_sums called `each` for every row i, which wrote
            // every element of out[i] (its length, asserted equal to x[i]'s,
            // is at most COLS).
            let o = unsafe { &mut *(&mut **o as *mut [MaybeUninit<f32>] as *mut [f32]) };
            for (j, o) in o.iter_mut().enumerate() {
                *o *= inv[j];
            }
        }
    }
}

multiversion! {
    /// normalize_rows down each column of a panel, as `softmax_cols`.
    pub(crate) fn normalize_cols(x: &[&[f32]], out: &mut [&mut [MaybeUninit<f32>]]) {
        // Callers rely on every element of every out[i] being written.
        assert!(x.len() == out.len() && x.iter().zip(out.iter()).all(|(a, b)| a.len() == b.len()));
        // Per leaf, max |x| folded as leaf_maxabs_sumsq does; the max is exact,
        // so only the sums need the row kernel's order.
        // The max rides along the pass of squares (the row is in L1 again).
        let mut a = [0.0f32; COLS];
        let q0 = column_sums(
            x,
            |_, v| v * v,
            |i, _| {
                let v = load(x[i]);
                for j in 0..COLS {
                    let b = v[j].abs();
                    a[j] = if b > a[j] { b } else { a[j] };
                }
            },
        );
        let inv_c = cols(|j| norm_scale(a[j]));
        let in_range = |j: usize| (2.0f32.powi(-40)..=2.0f32.powi(40)).contains(&a[j]);
        let scaled = if (0..COLS).all(in_range) {
            [0.0; COLS]
        } else {
            column_sums(
                x,
                |j, v| {
                    let v = v * inv_c[j];
                    v * v
                },
                |_, _| {},
            )
        };
        let f = cols(|j| {
            let q = if in_range(j) {
                q0[j] * (inv_c[j] * inv_c[j])
            } else if !a[j].is_finite() {
                f32::NAN
            } else {
                scaled[j]
            };
            normalize_factor(q)
        });
        for (o, row) in out.iter_mut().zip(x) {
            for (j, (o, &v)) in o.iter_mut().zip(row.iter()).enumerate() {
                o.write(v * inv_c[j] * f[j]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(got: f32, want: f64) -> f64 {
        // The ulp of the correctly rounded result (subnormals have ulp 2^-149).
        let w = want as f32;
        let ulp = if w == 0.0 {
            f64::from(f32::from_bits(1))
        } else {
            let next = f32::from_bits(w.abs().to_bits() + 1);
            f64::from(next) - f64::from(w.abs())
        };
        (f64::from(got) - want).abs() / ulp
    }

    /// Max error in ulps of exp without and with FMA, over every `step`-th f32
    /// t in [-104, 0], as [normal results, subnormal results] (t < -87.34).
    fn max_exp_error(step: usize) -> [[f64; 2]; 2] {
        let lo = (-104.0f32).to_bits();
        let mut worst = [[0.0f64; 2]; 2];
        for bits in (0x8000_0000u32..=lo).step_by(step) {
            let t = f32::from_bits(bits);
            let want = f64::from(t).exp();
            let sub = usize::from(want < f64::from(f32::MIN_POSITIVE));
            worst[sub][0] = worst[sub][0].max(ulps(exp::<false>(t), want));
            worst[sub][1] = worst[sub][1].max(ulps(exp::<true>(t), want));
        }
        worst
    }

    /// The measured maxima (exhaustive run, see below): 0.98 / 1.01 ulp for
    /// normal results without / with FMA, 1.0x for subnormal ones, where the
    /// two-step 2^n scaling can round twice. Tests elsewhere allow 1.5 ulp.
    const EXP_MAX_ULP: f64 = 1.5;

    /// Every 7th f32 in [-104, 0]: 160 million values in 1.2e9, both variants.
    #[test]
    fn exp_error_dense_sweep() {
        let w = max_exp_error(7);
        assert!(
            w.iter().flatten().all(|&e| e <= EXP_MAX_ULP),
            "exp max error [normal, subnormal][mul+add, fma]: {w:?} ulp"
        );
    }

    #[test]
    #[ignore = "1.1e9 values, minutes; cargo test --release --lib -- --ignored"]
    fn exp_error_exhaustive() {
        let w = max_exp_error(1);
        eprintln!("exp max error [normal, subnormal][mul+add, fma]: {w:?} ulp");
        assert!(w.iter().flatten().all(|&e| e <= EXP_MAX_ULP));
    }

    #[test]
    fn exp_edges() {
        for fma in [false, true] {
            let e = |t| if fma { exp::<true>(t) } else { exp::<false>(t) };
            assert_eq!(e(0.0), 1.0);
            assert_eq!(e(-0.0), 1.0);
            assert_eq!(e(f32::NEG_INFINITY), 0.0);
            assert_eq!(e(-1000.0), 0.0);
            assert!(e(f32::NAN).is_nan());
            assert_eq!(e(f32::INFINITY), f32::INFINITY);
            assert_eq!(e(100.0), f32::INFINITY);
            assert!(e(-100.0) > 0.0, "subnormal results are kept");
        }
    }

    /// The hand-written AVX-512 normalize_rows and softmax_rows (rows of
    /// 16..255) must give the portable code's bits (NaN bits aside: both must
    /// be NaN), for every row length they take, 1-5 rows (remainders of the
    /// groups of four), and rows built to catch a difference: NaN and inf in
    /// the lanes or the tail, -0 against +0, all -inf, subnormals, values past
    /// 2^40 or under 2^-40 (normalize's second pass, exp's underflow), a max
    /// only in the tail; then random rows with such values sprinkled in.
    /// Fails instead of skipping where GPU_BASICS_REQUIRE_AVX512 is set (CI,
    /// on a CPU that has it).
    #[test]
    fn row_kernels_avx512_same_bits_as_portable() {
        #[cfg(target_arch = "x86_64")]
        {
            if level() != Level::Avx512 {
                assert!(
                    std::env::var_os("GPU_BASICS_REQUIRE_AVX512").is_none(),
                    "GPU_BASICS_REQUIRE_AVX512 is set but the AVX-512 kernels are not in use"
                );
                eprintln!("skipped: this CPU (or GPU_BASICS_CPU_SIMD) has no AVX-512");
                return;
            }
            let mut s = 0x2545_F491_4F6C_DD1Du64;
            let mut rnd = move || {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s
            };
            let mut uniform = move || (rnd() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            const SPECIALS: [f32; 10] = [
                f32::NAN,
                -f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                0.0,
                -0.0,
                1e-40,
                -3e-39,
                1e30,
                -1e-30,
            ];
            // Row patterns: (row index, col, cols, random value) -> element.
            let pattern = |p: usize, c: usize, cols: usize, v: f32| -> f32 {
                let tail = cols / LANES * LANES;
                match p {
                    0 => v,
                    1 if c == 3 => f32::NAN,
                    2 if c == cols - 1 => f32::NAN, // in the tail when there is one
                    3 if c == 5 => f32::INFINITY,
                    4 => 0.0,
                    5 => {
                        if c.is_multiple_of(2) {
                            0.0
                        } else {
                            -0.0
                        }
                    }
                    6 => f32::NEG_INFINITY,
                    7 => v * 1e-39,
                    8 => v * 1e30,
                    9 => v * 1e-30,
                    10 if c >= tail => 5.0 + v, // the max only in the tail
                    11 if c == 8 => -f32::NAN,
                    12 if c == 0 || c == cols - 1 => f32::INFINITY,
                    _ => v,
                }
            };
            type Kernel = fn(&[f32], usize, &mut [MaybeUninit<f32>]);
            let kernels: [(&str, Kernel, Kernel); 2] = [
                ("normalize_rows", normalize_rows, normalize_rows_portable),
                ("softmax_rows", softmax_rows, softmax_rows_portable),
            ];
            let compare = |x: &[f32], cols: usize, what: &str| {
                for (op, fast, portable) in kernels {
                    let run = |f: Kernel| {
                        let mut out = vec![MaybeUninit::new(0.5f32); x.len()];
                        f(x, cols, &mut out);
                        // SAFETY: every element was initialized (0.5) above.
                        out.iter()
                            .map(|v| unsafe { v.assume_init() })
                            .collect::<Vec<f32>>()
                    };
                    let (got, want) = (run(fast), run(portable));
                    let same =
                        |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                    if let Some(i) = (0..got.len()).find(|&i| !same(got[i], want[i])) {
                        panic!(
                            "{op}, {what}, {} x {cols}: [{}, {}] is {:e}, portable {:e}",
                            x.len() / cols,
                            i / cols,
                            i % cols,
                            got[i],
                            want[i]
                        );
                    }
                }
            };
            for cols in LANES..BAR_MIN {
                for p in 0..13 {
                    for rows in 1..=5 {
                        // Row k of the group follows pattern p, p + 1, ...
                        let x: Vec<f32> = (0..rows * cols)
                            .map(|i| pattern((p + i / cols) % 13, i % cols, cols, uniform()))
                            .collect();
                        compare(&x, cols, &format!("patterns from {p}"));
                    }
                }
                for trial in 0..4 {
                    let x: Vec<f32> = (0..7 * cols)
                        .map(|_| match rnd() % 64 {
                            k @ 0..10 => SPECIALS[k as usize],
                            _ => uniform() * 8.0,
                        })
                        .collect();
                    compare(&x, cols, &format!("random trial {trial}"));
                }
            }
        }
    }

    #[test]
    fn pairwise_matches_a_tree() {
        let mut p = Pairwise::new();
        for i in 0..1000 {
            p.push(i as f32);
        }
        assert_eq!(p.total(), 499_500.0);
    }
}
