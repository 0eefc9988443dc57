// Column reductions: softmax and normalize_rows along axis 0 of an m x n
// row-major array, without transposing it. The statistics come from
// shaders/shared/row_stats.wgsl, appended by the host, as for the rows.
//
// Each column's statistic is built by the very reduction tree that
// shaders/rows.wgsl uses for a row of m elements (the same leaves, paired in
// the same grouping), so along axis 0 the GPU gives exactly the bits of the
// rows of the transpose, as the CPU backend does (tests/rows.rs,
// tests/row_edges.rs). Against transposing (a read and a write), the row op (a
// read and a write) and transposing back (a read and a write), this reads the
// array twice and writes it once, and neighbouring invocations take
// neighbouring columns, so every load and store is coalesced.
//
// How the tree is replayed: the row kernels reduce a team of `seg` lane stats
// by pairing lanes at descending strides (subgroup shuffles with masks
// seg/2, seg/4, ... inside subgroups of `sgs` lanes, then a tree over the
// subgroups at descending strides; or one tree in workgroup memory, where
// sgs = seg). That is a pairwise tree over consecutive leaves once the lanes
// are taken in bit-reversed order (within and across subgroups: `lane_of`).
// Here one invocation owns a column: it forms the lane stats one at a time in
// that order and folds them with a stack of log2(seg) + 1 partial stats (a
// binary counter). `combine` is commutative bit for bit (max, and a sum of two
// products), so only the grouping matters, and the grouping is the same.
//
// Stages (host: src/gpu/rows.rs), m = the column length:
//   cols_stats   m <= CHUNK: one invocation per column; as rows_short (one
//                chain) where the rows take it, else as rows_fused or
//                rows_fused4 (seg lanes of up to PER_THREAD elements each);
//                writes finish(stat).
//   cols_chunks  m > CHUNK: one invocation per (chunk of CHUNK rows, column), as
//                rows_partials (WG lanes); writes the chunk's stat.
//   cols_merge   m > CHUNK: one invocation per column merges its chunks' stats
//                as rows_merge does and writes finish(stat).
//   cols_apply   one invocation per element, from its column's stat.
// Each stage covers invocations `first` .. `first` + 256 x workgroups of its
// index space, so the host can split any grid. The array is bound whole
// (src/gpu/rows.rs refuses one larger than a binding).

// Keep in sync with ColumnParams in src/gpu/rows.rs.
struct Params {
    rows: u32,   // m: the column length
    cols: u32,   // n
    chunks: u32, // ceil(m / CHUNK)
    seg: u32,    // lanes rows_fused uses for a line of m (a power of two, up to WG)
    sg: u32,     // the row kernels' subgroup size; WG where they reduce without subgroups
    first: u32,  // index of this dispatch's first invocation in the stage's space
    short: u32,  // 1: the rows take rows_short for a line of m (one chain)
    vec4: u32,   // 1: the rows take rows_fused4 for a line of m (lane t: vec4s t, t + seg, ...)
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats_out: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

// The low log2(w) bits of i, reversed (w a power of two).
fn rev(i: u32, w: u32) -> u32 {
    if w <= 1u {
        return 0u;
    }
    return reverseBits(i) >> (32u - countTrailingZeros(w));
}

// The lane whose stat is leaf i of the consecutive pairwise tree that equals a
// team of `seg` lanes reduced in subgroups of min(seg, sg).
fn lane_of(i: u32, seg: u32) -> u32 {
    let sgs = min(seg, p.sg);
    return rev(i / sgs, seg / sgs) * sgs + rev(i % sgs, sgs);
}

// Which lane stats a tree is built from.
const FUSED: u32 = 0u; // rows_fused: lane t holds elements t, t + seg, ... (PER_THREAD);
                       // rows_fused4 (p.vec4): elements 4 (t + k seg) + i, k < PER_THREAD / 4, i < 4
const CHUNKS: u32 = 1u; // rows_partials: chunk c, lane t holds c CHUNK + t + k WG
const MERGE: u32 = 2u;  // rows_merge: lane t holds chunks t, t + WG, ... of the partials

// The stat at `i` of the partials, bound as `x` in cols_merge (one variable
// at binding 0 in every entry point: the tree below reads either).
fn partial(i: u32) -> vec4<f32> {
    let e = 4u * i;
    return vec4<f32>(x[e], x[e + 1u], x[e + 2u], x[e + 3u]);
}

// Lane `t`'s stat in a team of `seg` for column j (chunk c where it applies).
fn lane_stat(kind: u32, t: u32, seg: u32, j: u32, c: u32) -> vec4<f32> {
    var s = identity();
    if kind == MERGE {
        for (var q = t; q < p.chunks; q += WG) {
            s = combine(s, partial(q * p.cols + j));
        }
        return s;
    }
    if kind == FUSED && p.vec4 == 1u {
        // m is a multiple of 4: a vec4 is wholly inside the line or past it.
        for (var k = 0u; k < PER_THREAD / 4u; k++) {
            for (var i = 0u; i < 4u; i++) {
                let row = 4u * (t + k * seg) + i;
                if row < p.rows {
                    s = combine(s, element(x[row * p.cols + j]));
                }
            }
        }
        return s;
    }
    let row0 = select(0u, c * CHUNK, kind == CHUNKS);
    for (var k = 0u; k < PER_THREAD; k++) {
        let row = row0 + t + k * seg;
        if row < min(row0 + CHUNK, p.rows) {
            s = combine(s, element(x[row * p.cols + j]));
        }
    }
    return s;
}

// The team's reduction of column j, in the row kernels' grouping.
fn team(kind: u32, seg: u32, j: u32, c: u32) -> vec4<f32> {
    var stack: array<vec4<f32>, 9>;
    var top = 0u;
    for (var i = 0u; i < seg; i++) {
        var r = lane_stat(kind, lane_of(i, seg), seg, j, c);
        // After leaf i, fold the completed pairs: one per trailing 1 bit of i.
        for (var done = i; (done & 1u) == 1u; done = done >> 1u) {
            top -= 1u;
            r = combine(stack[top], r);
        }
        stack[top] = r;
        top += 1u;
    }
    return stack[0];
}

fn invocation(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return p.first + (wg.x + wg.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn cols_stats(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let j = invocation(wg, nwg, lid);
    if j >= p.cols {
        return;
    }
    var s = identity();
    if p.short == 1u {
        // rows_short: one chain down the line.
        for (var i = 0u; i < p.rows; i++) {
            s = combine(s, element(x[i * p.cols + j]));
        }
    } else {
        s = team(FUSED, p.seg, j, 0u);
    }
    stats_out[j] = finish(s);
}

@compute @workgroup_size(256)
fn cols_chunks(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let id = invocation(wg, nwg, lid);
    if id >= p.chunks * p.cols {
        return;
    }
    // partials[c][j]: neighbouring invocations, neighbouring columns.
    stats_out[id] = team(CHUNKS, WG, id % p.cols, id / p.cols);
}

@compute @workgroup_size(256)
fn cols_merge(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let j = invocation(wg, nwg, lid);
    if j >= p.cols {
        return;
    }
    stats_out[j] = finish(team(MERGE, WG, j, 0u));
}

@group(0) @binding(1) var<storage, read> stats_in: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p_apply: Params;

@compute @workgroup_size(256)
fn cols_apply(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = p_apply.first + (wg.x + wg.y * nwg.x) * 256u + lid;
    if i >= p_apply.rows * p_apply.cols {
        return;
    }
    out[i] = apply(x[i], stats_in[i % p_apply.cols]);
}
