//! Which row kernel runs: the hand-written AVX-512 one (avx512.rs) for rows of
//! LANES..BAR_MIN where the CPU has AVX-512, the portable one otherwise, and
//! the test that the two give the same bits.

use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use super::avx512;
use super::normalize::normalize_rows_portable;
#[cfg(target_arch = "x86_64")]
use super::reduce::{BAR_MIN, LANES};
use super::softmax::softmax_rows_portable;
#[cfg(target_arch = "x86_64")]
use super::{Level, level};

/// Softmax of each row of a row-major block of rows of length `cols`.
pub(crate) fn softmax_rows(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    #[cfg(target_arch = "x86_64")]
    let fast = avx512::softmax_rows as RowKernelAvx512;
    #[cfg(not(target_arch = "x86_64"))]
    let fast = ();
    row_kernel(x, cols, out, fast, softmax_rows_portable)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
