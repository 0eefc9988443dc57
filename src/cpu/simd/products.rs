//! Kernels on two inputs: dot, l1 and l2 summed pairwise in PAIR_LANES wide
//! lanes (one fused pass, no temporary), matvec's rows as four such dots
//! sharing each load of x, and outer's rows.

use std::mem::MaybeUninit;

use super::fma;
use super::reduce::{Pairwise, tree_sum};
#[cfg(target_arch = "x86_64")]
use super::{Level, level};

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

/// sum of the terms that `step` accumulates, over a and b (equal lengths), in
/// leaves of PAIR_LEAF. Each term passes through at most 16 adds in its lane,
/// ceil(log2(leaves)) + 1 in the pairwise merge and 5 in the final tree:
/// d <= 22 + ceil(log2(ceil(n / PAIR_LEAF))).
///
/// The leaves' lanes are merged by `Pairwise` lane by lane (vector adds, no
/// per-leaf horizontal sum) and joined by one tree at the end.
#[inline(always)]
fn pair_sum(a: &[f32], b: &[f32], step: impl Fn(f32, f32, f32) -> f32 + Copy) -> f32 {
    assert_eq!(a.len(), b.len());
    let leaves = a.len().div_ceil(PAIR_LEAF);
    if leaves <= 1 {
        // The pairwise total of one partial is that partial (0 + s).
        return tree_sum(pair_leaf(a, b, step));
    }
    let mut p = Pairwise::new();
    for (xa, xb) in a.chunks(PAIR_LEAF).zip(b.chunks(PAIR_LEAF)) {
        p.push(pair_leaf(xa, xb, step));
    }
    tree_sum(p.total())
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
            } else {
                pair_sum4::<FMA>(r, x, &xt)
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

/// `pair_sum` with `dot_step` on four rows against one x.
#[inline(always)]
fn pair_sum4<const FMA: bool>(w: [&[f32]; 4], x: &[f32], xt: &Tail) -> [f32; 4] {
    let mut p = [
        Pairwise::new(),
        Pairwise::new(),
        Pairwise::new(),
        Pairwise::new(),
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
    [
        tree_sum(p[0].total()),
        tree_sum(p[1].total()),
        tree_sum(p[2].total()),
        tree_sum(p[3].total()),
    ]
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
