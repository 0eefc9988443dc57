// matvec: y (m) = W (m x k) * x (k), f32, W row-major: the exercise's "general dot".
//
// A template: src/gpu/kernels.rs `matvec_source` writes one module per variant
// (`MatvecVariant` in src/gpu/variants.rs) by filling in LANES (placeholder
// TEAM). The team's sum is `reduce_segment` from shaders/shared/
// reduce_subgroup.wgsl (shuffles inside subgroups, then a tree over them)
// where the device has subgroups, else reduce_workgroup.wgsl (a tree in
// workgroup memory); the host appends one and fills the SUBGROUP_ placeholders
// (src/gpu/kernels.rs `expand`), as for the row kernels.
//
// Algorithm: memory-bound, so the goal is one coalesced pass over W with enough
// workgroups to keep the device busy. A workgroup of 256 invocations takes
// ROWS = 256 / LANES rows; each row gets a team of LANES invocations that stride
// along it, so a team reads LANES * 16 contiguous bytes of W per step (vec4
// loads when k % 4 == 0). Each invocation keeps a running sum, then the team
// sums its LANES values (`reduce_segment`). Not a matmul with
// n = 1: a 64 x 64 matmul tile would leave 63 of every 64 columns of work idle.
//
// Split k: when m is small (few rows, few workgroups) the host also splits each
// row into `splits` segments of `seg` elements (a multiple of 4): workgroup
// (g, s) sums segment s of its rows into partials[s * m + row] (the y binding
// is then the partials buffer), and `matvec_merge` adds each row's partials in
// order s = 0, 1, ... into y. With splits = 1, seg = kc and y is y.
// Every order is fixed by the shape and the variant, so results are
// deterministic; another variant (another LANES) may change the last bits.
//
// Long rows: the host splits k into ranges of at most 262,144 per dispatch, each
// adding into y (accumulate = 1 after the first), so no lane loops more than
// 16,384 times (teams of 16 on unaligned rows; 1,024 for 64 with vec4s):
// llvmpipe stops any invocation's loops after 65,535 iterations.
//
// Error: a product passes through at most ceil(seg / LANES) sequential fma steps
// in its lane, 2 adds over the vec4's lanes, log2(LANES) levels (shuffles and
// tree together) and
// `splits` merge adds: fewer than k + 8 in all.
//
// Bindings: 0 = W (read, a window of whole rows starting w_off elements in),
// 1 = x (read, whole), 2 = y (read_write, f32, a window starting y_off elements
// in; or the partials), 3 = params. matvec_merge: 0 = partials, 2 = y (1 is not
// read). Workgroups: ceil(m / ROWS) * splits, linear id rebuilt from the 2-D
// grid, the row group fastest.

// Rust twin: MatvecParams in src/gpu/products.rs (keep in sync).
struct Params {
    m: u32,          // rows in this window
    k: u32,
    w_off: u32,
    y_off: u32,
    aligned: u32,    // 1 when k % 4 == 0 and w_off % 4 == 0: vec4 loads
    k0: u32,         // this dispatch's range of k: k0 .. k0 + kc
    kc: u32,
    accumulate: u32, // 1: add to y (a later k range); 0: overwrite y
    splits: u32,     // segments per row (1: no split)
    seg: u32,        // elements per segment, a multiple of 4 (the last may be short)
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
// y is scalar: four invocations write four neighbouring outputs, and WGSL lets a
// write to one component of a vec4 be a read-modify-write of the whole vector.
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const WG: u32 = 256u;
/*TEAM*/
const ROWS: u32 = WG / LANES;

// The team's sum: `reduce_segment` folds vec4 stats with `combine`; the sum
// rides in x (the other lanes stay 0).
fn combine(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return a + b;
}

// y[e] = v, or y[e] += v for a later k range.
fn put(e: u32, v: f32) {
    if p.accumulate == 1u {
        y[e] += v;
    } else {
        y[e] = v;
    }
}

@compute @workgroup_size(256)
fn matvec(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    /*SUBGROUP_BUILTINS*/
) {
    /*SUBGROUP_INIT*/
    let wid = wg.x + wg.y * nwg.x;
    let groups = (p.m + ROWS - 1u) / ROWS;
    // The same for the whole workgroup, so no barrier is skipped by only some.
    if wid >= groups * p.splits {
        return;
    }
    let s_idx = wid / groups;
    let lane = lid % LANES;
    let row = (wid % groups) * ROWS + lid / LANES;
    // This workgroup's part of the k range: k0 + lo .. k0 + hi.
    let lo = s_idx * p.seg;
    let hi = min(lo + p.seg, p.kc);
    var s = 0.0;
    if row < p.m {
        if p.aligned == 1u {
            // k, k0 and seg are multiples of 4, and so are lo and hi.
            let base = (p.w_off + row * p.k + p.k0) / 4u;
            let x0 = p.k0 / 4u;
            var acc = vec4<f32>(0.0);
            for (var j = lo / 4u + lane; j < hi / 4u; j += LANES) {
                acc = fma(w[base + j], x[x0 + j], acc);
            }
            s = (acc.x + acc.y) + (acc.z + acc.w);
        } else {
            let base = p.w_off + row * p.k + p.k0;
            for (var j = lo + lane; j < hi; j += LANES) {
                let xj = p.k0 + j;
                s = fma(w[(base + j) / 4u][(base + j) % 4u], x[xj / 4u][xj % 4u], s);
            }
        }
    }
    // Every invocation takes part (rows past m with 0): it holds barriers.
    let total = reduce_segment(vec4<f32>(s, 0.0, 0.0, 0.0), lid, LANES, sg_size, sg_lid).x;
    if lane == 0u && row < p.m {
        if p.splits == 1u {
            put(p.y_off + row, total);
        } else {
            y[s_idx * p.m + row] = total;
        }
    }
}

// y[row] (+)= the row's partials, added in segment order. One invocation per row.
@compute @workgroup_size(256)
fn matvec_merge(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = (wg.x + wg.y * nwg.x) * WG + lid;
    if row >= p.m {
        return;
    }
    var s = 0.0;
    for (var i = 0u; i < p.splits; i++) {
        let e = i * p.m + row;
        s += w[e / 4u][e % 4u];
    }
    put(p.y_off + row, s);
}
