// dot, l1, l2: sums of a term of two vectors, deterministic, in two passes.
//
//   dot  sum_i x_i * y_i
//   l1   sum_i |y_i - x_i|       (x = yhat; the difference is fused, no temporary)
//   l2   sum_i (y_i - x_i)^2
//
// A template: src/gpu/kernels.rs `reduce_source` writes one module per variant
// (a `MapVariant`: WG invocations per workgroup, VEC4S vec4s per loop step),
// filling in SHAPE and writing out STEPS.
//
// Pass 1 (entry point pair_sums, KIND = dot, l1 or l2): `groups` workgroups of WG
// invocations; each invocation reads VEC4S vec4s of both inputs per step of a
// grid-stride loop, a workgroup apart (coalesced, each input read once), into
// VEC4S independent vec4 running sums (VEC4S loads in flight per invocation);
// lanes past n (the buffer's vec4 padding) are masked with select, so garbage
// there cannot leak in, NaN included. The running sums are added in order, then
// the workgroup sums its WG values with a tree in workgroup memory and writes
// one partial at partials[out_off + workgroup].
// Pass 2 (entry point reduce_partials): one workgroup sums the partials the same way.
// No atomics and a fixed grid for a given n and variant, so the same input gives
// the same bits; another variant adds in another order (the last bits may differ).
//
// Error: a term passes through at most ceil(n / (4 * WG * VEC4S * groups))
// sequential adds, VEC4S - 1 adds over the running sums, 2 over the vec4,
// log2(WG) tree levels, then ceil(partials / WG) + log2(WG) in pass 2. The host
// keeps WG * groups at most 2^18 invocations.
//
// Bindings: 0 = x (read), 1 = y (read), 2 = out (read_write), 3 = params.
// In pass 1, x and y are windows of the same range of both vectors and out holds
// the partials of every window. In pass 2, x is the partials, y is bound to the
// partials too and unused (the kernels share one binding layout), out is the result.

// Rust twin: ReduceParams in src/gpu/products.rs (keep in sync).
struct Params {
    n: u32,       // elements in this window (pass 1) or partials (pass 2)
    out_off: u32, // where this window's partials start
    groups: u32,  // workgroups with work in this dispatch
    pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> y: array<vec4<f32>>;
// out is scalar: workgroups write neighbouring partials, and WGSL lets a write
// to one component of a vec4 be a read-modify-write of the whole vector.
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

/*SHAPE*/
const DOT: u32 = 0u;
const L1: u32 = 1u;
const L2: u32 = 2u;

var<workgroup> tree: array<f32, WG>;

fn term(kind: u32, u: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
    switch kind {
        case DOT: {
            return u * v;
        }
        case L1: {
            return abs(v - u);
        }
        default: {
            let d = v - u;
            return d * d;
        }
    }
}

// Sums the workgroup's WG values of `s`; the result is in tree[0].
fn workgroup_sum(lid: u32, s: f32) {
    tree[lid] = s;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if lid < half {
            tree[lid] += tree[lid + half];
        }
        workgroupBarrier();
    }
}

// The term of vec4 i, its lanes past n (the vec4 padding) zero.
fn masked_term(kind: u32, i: u32) -> vec4<f32> {
    var t = term(kind, x[i], y[i]);
    if i * 4u + 4u > p.n {
        let index = vec4<u32>(i * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
        t = select(vec4<f32>(0.0), t, index < vec4<u32>(p.n));
    }
    return t;
}

fn partial_sums(kind: u32, wid: u32, lid: u32) {
    let n4 = (p.n + 3u) / 4u;
    var acc: array<vec4<f32>, VEC4S>;
    for (var i0 = wid * (WG * VEC4S) + lid; i0 < n4; i0 += p.groups * (WG * VEC4S)) {
/*STEPS*/
    }
    var s = acc[0];
    for (var k = 1u; k < VEC4S; k++) {
        s += acc[k];
    }
    workgroup_sum(lid, (s.x + s.y) + (s.z + s.w));
    if lid == 0u {
        out[p.out_off + wid] = tree[0];
    }
}

// Which term pass 1 sums: DOT, L1 or L2. One entry point, one pipeline per
// value (src/gpu/kernels.rs), so the switch in `term` compiles away.
override KIND: u32 = DOT;

@compute @workgroup_size(WG)
fn pair_sums(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let wid = wg.x + wg.y * nwg.x;
    // Uniform over the workgroup: extra workgroups of a 2-D grid leave together.
    if wid >= p.groups {
        return;
    }
    partial_sums(KIND, wid, lid);
}

@compute @workgroup_size(WG)
fn reduce_partials(@builtin(local_invocation_index) lid: u32) {
    var s = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        s += x[i / 4u][i % 4u];
    }
    workgroup_sum(lid, s);
    if lid == 0u {
        out[0] = tree[0];
    }
}
