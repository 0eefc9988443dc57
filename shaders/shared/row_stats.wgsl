// The statistics of softmax and normalize_rows, shared by the row kernels
// (shaders/rows.wgsl) and the column kernels (shaders/columns.wgsl): the host
// appends this file to both (src/gpu/kernels.rs). The override constant OP picks
// the op (0 = softmax, 1 = normalize_rows); each (OP, entry point) pair is its
// own pipeline, so the branches on OP compile away.
//
// Both ops reduce a row to a "stat", combined pairwise, and then rewrite every
// element from the row's stat. A stat is a vec4 (a, b, bad, 0):
//   softmax:        (m, s) = (max of the finite entries, sum of e^(x - m))
//                   combine: m = max(ma, mb), s = sa e^(ma - m) + sb e^(mb - m)
//                   out = e^(x - m) / s           (never overflows: x - m <= 0)
//   normalize_rows: (c, q) = (a power of two, the largest exponent of the row's
//                   |x|, sum of (x / c)^2)
//                   combine: c = max(ca, cb), q = qa (ca/c)^2 + qb (cb/c)^2
//                   out = (x / c) / sqrt(q)       (0 for a zero row)
//   Scaling by a power of two is exact, so squares neither overflow (|x| up to
//   f32::MAX) nor underflow, and the norm itself is never formed.
// Because stats combine in any grouping, one row can be split over many
// workgroups; sums are trees (error grows with log n, not n).
//
// Right on any conforming implementation, not only on kind drivers. WGSL lets a
// device assume that no NaN or infinity occurs (comparisons, max, min may drop
// a NaN; Metal compiles with fast math) and flush subnormals to zero. So:
// - NaN and infinity are found from the bits of the input as it was loaded,
//   never by arithmetic on them: `bad` flags a row holding a NaN or +inf
//   (softmax) or any NaN or inf (normalize_rows), and such a row is written as
//   NaN from a bit pattern. softmax's -inf entries weigh 0 and give 0; a row of
//   only -inf has s = 0 and is NaN too, as in numpy and PyTorch.
// - Every float that takes part in arithmetic is finite: m and c start from
//   finite identities, and e^(a - m) is formed as e^(2 * max(a/2 - m/2, -64)),
//   whose argument cannot overflow even for a = -f32::MAX, m = f32::MAX.
// - normalize_rows takes each element's power of two and its significand in
//   [1, 2) from the bits (subnormals: 2^-126 and the integer significand times
//   2^-23), and writes ldexp(significand / sqrt(q), e - e_row): no intermediate
//   is subnormal unless the result itself is, so a row of subnormals
//   normalizes exactly as on the CPU even where the device flushes them.
//
// WG, PER_THREAD and CHUNK are the shape of a row's reduction (rows.wgsl); the
// column kernels replay the same reduction tree, so they share these values.
// PER_THREAD is a placeholder, so each variant's modules are generated.

override OP: u32 = 0u;
const SOFTMAX: u32 = 0u;

const WG: u32 = 256u;
// Elements per invocation in a row's reduction: 8, 16 or 32, per variant
// (`RowsVariant` in src/gpu/variants.rs; the host fills in PER_THREAD).
const PER_THREAD: u32 = /*PER_THREAD*/u;
const CHUNK: u32 = WG * PER_THREAD; // the longest row reduced in one pass
// Exactly representable (Tint rejects a decimal literal that rounds).
const LOWEST: f32 = -0x1.fffffep+127f; // -f32::MAX
const MIN_NORMAL: f32 = 0x1p-126f;
const ABS_BITS: u32 = 0x7fffffffu;
const INF_BITS: u32 = 0x7f800000u;
const NEG_INF_BITS: u32 = 0xff800000u;
const NAN_BITS: u32 = 0x7fc00000u;

fn identity() -> vec4<f32> {
    if OP == SOFTMAX {
        return vec4<f32>(LOWEST, 0.0, 0.0, 0.0);
    }
    return vec4<f32>(MIN_NORMAL, 0.0, 0.0, 0.0);
}

// e^(a - m) for finite a <= m: halves are exact and their difference finite; a
// difference below -128 gives e^-128, which is 0 in f32.
fn exp_below(a: f32, m: f32) -> f32 {
    return exp(max(a * 0.5 - m * 0.5, -64.0) * 2.0);
}

// A finite value from its bits as |v| = significand(v) * 2^(exponent(v) - 127):
// the biased exponent, at least 1 (subnormals and zero share 2^-126, the
// subnormals' scale), and the significand, in [1, 2), or in [0, 1) for
// subnormals and zero. Neither passes through a subnormal float.
fn exponent(bits: u32) -> u32 {
    return max((bits & ABS_BITS) >> 23u, 1u);
}

fn significand(bits: u32) -> f32 {
    let a = bits & ABS_BITS;
    if (a >> 23u) == 0u {
        // The integer significand is exact in f32; times 2^-23 stays normal.
        return f32(a) * 0x1p-23f;
    }
    return bitcast<f32>((a & 0x007fffffu) | 0x3f800000u);
}

fn element(v: f32) -> vec4<f32> {
    let bits = bitcast<u32>(v);
    let special = (bits & ABS_BITS) >= INF_BITS; // NaN or +-inf
    if OP == SOFTMAX {
        if special {
            // -inf weighs 0; NaN and +inf make the row NaN.
            return vec4<f32>(LOWEST, 0.0, select(1.0, 0.0, bits == NEG_INF_BITS), 0.0);
        }
        return vec4<f32>(v, 1.0, 0.0, 0.0);
    }
    if special {
        return vec4<f32>(MIN_NORMAL, 0.0, 1.0, 0.0);
    }
    let sig = significand(bits);
    // c = 2^(e - 127): a normal power of two, from the bits.
    return vec4<f32>(bitcast<f32>(exponent(bits) << 23u), sig * sig, 0.0, 0.0);
}

fn combine(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    let bad = max(a.z, b.z);
    if OP == SOFTMAX {
        let m = max(a.x, b.x);
        return vec4<f32>(m, a.y * exp_below(a.x, m) + b.y * exp_below(b.x, m), bad, 0.0);
    }
    // Powers of two: the ratios are exact (or below 2^-126, where a flush to 0
    // drops a term under 2^-200 of q, which is at least 1 once any x is normal;
    // in a row of subnormals c is 2^-126 throughout and the ratios are 1).
    let c = max(a.x, b.x);
    let ra = a.x / c;
    let rb = b.x / c;
    return vec4<f32>(c, a.y * ra * ra + b.y * rb * rb, bad, 0.0);
}

// A row's stat in the form `apply` uses: (m, 1/s, bad) or (c, 1/sqrt(q), bad).
fn finish(s: vec4<f32>) -> vec4<f32> {
    if OP == SOFTMAX {
        // s >= 1 when the row has a finite entry (its max contributes e^0);
        // s = 0 when it has none (only -inf): NaN, as 0/0 is.
        let empty = s.y == 0.0;
        return vec4<f32>(s.x, 1.0 / select(s.y, 1.0, empty), max(s.z, select(0.0, 1.0, empty)), 0.0);
    }
    return vec4<f32>(s.x, select(inverseSqrt(s.y), 0.0, s.y == 0.0), s.z, 0.0);
}

fn apply(v: f32, f: vec4<f32>) -> f32 {
    let bits = bitcast<u32>(v);
    if f.z != 0.0 {
        // A quiet NaN (any bits | NAN_BITS is one). Tint refuses a NaN constant,
        // so it is built from the element's bits at run time.
        return bitcast<f32>(bits | NAN_BITS);
    }
    if OP == SOFTMAX {
        if bits == NEG_INF_BITS {
            return 0.0;
        }
        return exp_below(v, f.x) * f.y;
    }
    // (|v| / c) / sqrt(q) = sig / sqrt(q) * 2^(e - e_c), sig / sqrt(q) in [0, 2).
    let shift = i32(exponent(bits)) - i32(exponent(bitcast<u32>(f.x)));
    let mag = ldexp(significand(bits) * f.y, shift);
    return bitcast<f32>(bitcast<u32>(mag) | (bits & 0x80000000u));
}
