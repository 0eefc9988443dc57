//! How the kernels order their adds, so that every op's rounding has one bound:
//! LANES interleaved chains over a leaf of LEAF elements, a tree across the
//! lanes, and a pairwise counter across the leaves. The row, column and
//! product kernels all build on these (the column kernels repeat them per
//! column so as to give the row kernels' bits).

use std::mem::MaybeUninit;

/// Lanes of the reductions' accumulators: one AVX-512 register, two AVX2 ones.
pub(super) const LANES: usize = 16;
/// Elements per leaf of the pairwise sums: each lane adds 16 terms in order.
pub(super) const LEAF: usize = 256;

/// The largest element, ignoring NaN (NaN is dealt with by the pass that follows).
#[inline(always)]
pub(super) fn max_of<const BAR: bool>(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
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
pub(super) fn leaf_sum<const BAR: bool>(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
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
pub(super) const BAR_MIN: usize = 256;

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
pub(super) fn lanes_barrier<const BAR: bool, T>(lanes: T) -> T {
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
pub(super) fn tree_max<const BAR: bool>(acc: [f32; LANES]) -> f32 {
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
pub(super) fn tree_sum<const N: usize>(mut acc: [f32; N]) -> f32 {
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
pub(super) fn leaf_map_sum<const BAR: bool>(
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

/// A partial sum that `Pairwise` merges: one f32, or a row's lanes or a
/// panel's columns, merged element by element. Copy: nothing to drop, which
/// `Pairwise`'s `MaybeUninit` stack would never do.
pub(super) trait Partial: Copy {
    const ZERO: Self;
    /// self += other, element by element.
    fn add(&mut self, other: &Self);
}

impl Partial for f32 {
    const ZERO: Self = 0.0;
    #[inline(always)]
    fn add(&mut self, other: &Self) {
        *self += *other;
    }
}

impl<const N: usize> Partial for [f32; N] {
    const ZERO: Self = [0.0; N];
    #[inline(always)]
    fn add(&mut self, other: &Self) {
        for (a, &b) in self.iter_mut().zip(other) {
            *a += b;
        }
    }
}

/// Pending partials at most: enough for 2^48 - 1 leaves.
const LEVELS: usize = 48;

/// Pairwise summation of leaf sums without recursion (recursion would leave the
/// target-feature function): a binary counter, whose set bits are the pending
/// partial sums, merged when two of the same level meet. Depth log2(leaves) + 1,
/// the same bound as recursion.
pub(super) struct Pairwise<T> {
    /// The pending partials, oldest first: stack[..len] are written. The rest
    /// is left uninitialized so that creating one costs nothing: zeroed, 48
    /// levels cost more than short inputs' work (6 KiB of lane vectors more
    /// than a 316-element matvec row; 12 KiB of columns, once per panel, made
    /// softmax along axis 0 of one row of 2^20 1.35x slower).
    stack: [MaybeUninit<T>; LEVELS],
    len: usize,
    count: u64,
}

impl<T: Partial> Pairwise<T> {
    #[inline(always)]
    pub(super) fn new() -> Self {
        Pairwise {
            stack: [const { MaybeUninit::uninit() }; LEVELS],
            len: 0,
            count: 0,
        }
    }

    #[inline(always)]
    pub(super) fn push(&mut self, mut s: T) {
        let mut c = self.count;
        // One pending partial per set bit of the count, so len >= 1 here.
        while c & 1 == 1 {
            self.len -= 1;
            // SAFETY: stack[..len] were written by earlier pushes.
            s.add(unsafe { self.stack[self.len].assume_init_ref() });
            c >>= 1;
        }
        self.stack[self.len].write(s);
        self.len += 1;
        self.count += 1;
    }

    /// The pending partials added newest first.
    #[inline(always)]
    pub(super) fn total(&self) -> T {
        let mut t = T::ZERO;
        for s in self.stack[..self.len].iter().rev() {
            // SAFETY: stack[..len] were written by `push`.
            t.add(unsafe { s.assume_init_ref() });
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_matches_a_tree() {
        let mut p = Pairwise::new();
        for i in 0..1000 {
            p.push(i as f32);
        }
        assert_eq!(p.total(), 499_500.0);
    }

    /// The same bits as a recursive pairwise sum (left half, right half, the
    /// left's size the largest power of two below n) for every count from 0
    /// (nothing pushed: `total` reads no slot) through 2^11 + 1, which passes
    /// every fill of the stack up to 11 pending partials (count 2^11 - 1) and
    /// back to one; on f32 and on lane arrays.
    #[test]
    fn pairwise_is_a_binary_tree_at_every_count() {
        fn tree(v: &[f32]) -> f32 {
            match v.len() {
                0 => 0.0,
                1 => v[0],
                n => {
                    let half = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
                    tree(&v[..half]) + tree(&v[half..])
                }
            }
        }
        let v: Vec<f32> = (0..2049).map(|i| 1.0 / (i as f32 + 1.5)).collect();
        for n in 0..=v.len() {
            let mut p = Pairwise::new();
            let mut lanes = Pairwise::<[f32; 3]>::new();
            for &x in &v[..n] {
                p.push(x);
                lanes.push([x, -x, 2.0 * x]);
            }
            let want = tree(&v[..n]);
            assert_eq!(p.total().to_bits(), want.to_bits(), "n = {n}");
            let lane = |f: fn(f32) -> f32| tree(&v[..n].iter().map(|&x| f(x)).collect::<Vec<_>>());
            let want = [lane(|x| x), lane(|x| -x), lane(|x| 2.0 * x)];
            assert_eq!(
                lanes.total().map(f32::to_bits),
                want.map(f32::to_bits),
                "n = {n}"
            );
        }
    }
}
