// Row reductions: softmax and normalize_rows, one source for both; the
// statistics they reduce (and their handling of NaN, infinities and
// subnormals) are in shaders/shared/row_stats.wgsl, appended by the host.
//
// Stages, chosen by the host (src/gpu/rows.rs) from the row length `cols` and
// the variant (`RowsVariant`: PER_THREAD = 8, 16 or 32, and the fewest invocations
// per row, `min_seg`):
//   rows_short    cols <= 32, min_seg = 1: one invocation per row; the second
//                               read of the row hits the cache.
//   rows_fused    cols <= CHUNK (2048, 4096 or 8192): a segment of `seg` invocations
//                               per row (seg a power of two, seg * PER_THREAD
//                               >= cols, at least min_seg, at most 256), WG / seg
//                               rows per workgroup; the row stays in registers
//                               between the reduction and the write: one read,
//                               one write, and no idle invocations for rows of
//                               64. With min_seg 4 or 16, short rows are read by
//                               neighbouring invocations (coalesced), several
//                               rows per subgroup.
//   rows_fused4   as rows_fused, for a variant with vec4 loads and cols a
//                               multiple of 4: lane t of a segment reads whole
//                               vec4s t, t + seg, ... of its row (PER_THREAD / 4
//                               of them), folds their elements x, y, z, w in
//                               that order, and writes whole vec4s.
//   rows_partials, rows_merge, rows_apply (rows_apply4)
//                 longer rows: each row is cut into chunks of CHUNK, one
//                 workgroup per chunk writes a stat; one workgroup per row merges
//                 them; then every element is rewritten (as whole vec4s where
//                 cols is a multiple of 4): two reads, one write, full
//                 parallelism even for a single 10^7-element row.
// Every stage works on a window of whole rows that starts `base` elements into
// its binding (bindings start on aligned offsets, rows need not). Along axis 0,
// shaders/columns.wgsl replays these reductions down the columns.

// Keep in sync with RowParams in src/gpu/rows.rs.
struct Params {
    rows: u32,   // rows in this window
    cols: u32,   // elements per row
    chunks: u32, // chunks per row (rows_partials, rows_merge)
    base: u32,   // element index of the window's first row within the binding
    seg: u32,    // invocations per row (rows_fused)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// reduce_segment(v, lid, seg, sg_size, sg_lid) comes from
// shaders/shared/reduce_subgroup.wgsl when the device has subgroups, else
// shaders/shared/reduce_workgroup.wgsl (the host appends one and fills the
// SUBGROUP_* placeholders, which define sg_size and sg_lid; see src/gpu/kernels.rs).

fn group_index(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.x + wg.y * nwg.x;
}

// rows_fused and rows_fused4: this invocation's row `r` and its lane `t` in the
// row's segment of p.seg lanes (WG / p.seg rows per workgroup). Invocations
// past the last row (`valid` false) still take part in the reduction's barriers.
struct SegmentLane {
    r: u32,
    t: u32,
    valid: bool,
}

fn segment_lane(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> SegmentLane {
    let r = group_index(wg, nwg) * (WG / p.seg) + lid / p.seg;
    return SegmentLane(r, lid % p.seg, r < p.rows);
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn rows_short(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = group_index(wg, nwg) * WG + lid;
    if r >= p.rows {
        return;
    }
    let start = p.base + r * p.cols;
    var s = identity();
    for (var j = 0u; j < p.cols; j++) {
        s = combine(s, element(x[start + j]));
    }
    let f = finish(s);
    for (var j = 0u; j < p.cols; j++) {
        out[start + j] = apply(x[start + j], f);
    }
}

@compute @workgroup_size(256)
fn rows_fused(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    /*SUBGROUP_BUILTINS*/
) {
    /*SUBGROUP_INIT*/
    let seg = p.seg;
    let l = segment_lane(wg, nwg, lid);
    let r = l.r;
    let t = l.t;
    let valid = l.valid;
    let start = p.base + r * p.cols;
    var vals: array<f32, PER_THREAD>;
    var s = identity();
    if valid {
        for (var k = 0u; k < PER_THREAD; k++) {
            let j = t + k * seg;
            if j < p.cols {
                let v = x[start + j];
                vals[k] = v;
                s = combine(s, element(v));
            }
        }
    }
    let f = finish(reduce_segment(s, lid, seg, sg_size, sg_lid));
    if valid {
        for (var k = 0u; k < PER_THREAD; k++) {
            let j = t + k * seg;
            if j < p.cols {
                out[start + j] = apply(vals[k], f);
            }
        }
    }
}

// rows_fused over vec4 views of the same bindings: cols and base are multiples
// of 4 (the host takes this entry point only then), so a row is cols / 4
// whole vec4s starting at vec4 (base + r cols) / 4, and each vec4 is read and
// written whole by one invocation.
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out4: array<vec4<f32>>;

@compute @workgroup_size(256)
fn rows_fused4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    /*SUBGROUP_BUILTINS*/
) {
    /*SUBGROUP_INIT*/
    let seg = p.seg;
    let l = segment_lane(wg, nwg, lid);
    let r = l.r;
    let t = l.t;
    let valid = l.valid;
    let start = (p.base + r * p.cols) / 4u;
    let n4 = p.cols / 4u;
    var vals: array<vec4<f32>, PER_THREAD / 4u>;
    var s = identity();
    if valid {
        for (var k = 0u; k < PER_THREAD / 4u; k++) {
            let q = t + k * seg;
            if q < n4 {
                let v = x4[start + q];
                vals[k] = v;
                s = combine(s, element(v.x));
                s = combine(s, element(v.y));
                s = combine(s, element(v.z));
                s = combine(s, element(v.w));
            }
        }
    }
    let f = finish(reduce_segment(s, lid, seg, sg_size, sg_lid));
    if valid {
        for (var k = 0u; k < PER_THREAD / 4u; k++) {
            let q = t + k * seg;
            if q < n4 {
                let v = vals[k];
                out4[start + q] = vec4<f32>(apply(v.x, f), apply(v.y, f), apply(v.z, f), apply(v.w, f));
            }
        }
    }
}

// Long rows, stage 1: the stat of chunk (row r, chunk c), into partials[r * chunks + c].
@group(0) @binding(1) var<storage, read_write> partials_out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn rows_partials(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    /*SUBGROUP_BUILTINS*/
) {
    /*SUBGROUP_INIT*/
    let id = group_index(wg, nwg);
    if id >= p.rows * p.chunks {
        return;
    }
    let r = id / p.chunks;
    let c = id % p.chunks;
    let start = p.base + r * p.cols;
    var s = identity();
    for (var k = 0u; k < PER_THREAD; k++) {
        let j = c * CHUNK + lid + k * WG;
        if j < p.cols {
            s = combine(s, element(x[start + j]));
        }
    }
    let total = reduce_segment(s, lid, WG, sg_size, sg_lid);
    if lid == 0u {
        partials_out[id] = total;
    }
}

// Long rows, stage 2: one workgroup per row merges its chunks' stats.
@group(0) @binding(0) var<storage, read> partials_in: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> stats_out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn rows_merge(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    /*SUBGROUP_BUILTINS*/
) {
    /*SUBGROUP_INIT*/
    let r = group_index(wg, nwg);
    if r >= p.rows {
        return;
    }
    var s = identity();
    for (var c = lid; c < p.chunks; c += WG) {
        s = combine(s, partials_in[r * p.chunks + c]);
    }
    let total = reduce_segment(s, lid, WG, sg_size, sg_lid);
    if lid == 0u {
        stats_out[r] = finish(total);
    }
}

// Long rows, stage 3: every element from its row's stat.
@group(0) @binding(1) var<storage, read> stats_in: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out_apply: array<f32>;
@group(0) @binding(3) var<uniform> p_apply: Params;

@compute @workgroup_size(256)
fn rows_apply(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = group_index(wg, nwg) * WG + lid;
    if i >= p_apply.rows * p_apply.cols {
        return;
    }
    let r = i / p_apply.cols;
    let at = p_apply.base + i;
    out_apply[at] = apply(x[at], stats_in[r]);
}

// Long rows, stage 3 as whole vec4s: cols and base multiples of 4 (the host
// takes this entry point only then), so every vec4 lies in one row; the same
// values as rows_apply, element for element.
@group(0) @binding(2) var<storage, read_write> out_apply4: array<vec4<f32>>;

@compute @workgroup_size(256)
fn rows_apply4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = group_index(wg, nwg) * WG + lid;
    if i >= p_apply.rows * p_apply.cols / 4u {
        return;
    }
    let f = stats_in[4u * i / p_apply.cols];
    let at = p_apply.base / 4u + i;
    let v = x4[at];
    out_apply4[at] = vec4<f32>(apply(v.x, f), apply(v.y, f), apply(v.z, f), apply(v.w, f));
}
