// outer: out (m x n) = a (m) b (n)^T, out[i][j] = a[i] * b[j].
//
// A template: src/gpu/kernels.rs `outer_source` writes one module per variant
// (a `MapVariant`: WG invocations per workgroup, VEC4S vec4s each), filling in
// SHAPE and writing out STEPS. Every variant writes the same products.
//
// Algorithm: store-bound (m * n writes, m + n reads), so each invocation writes
// VEC4S aligned vec4s of the flat output, a workgroup apart: the elementwise
// kernels' layout. For each it finds its row and column with one division and
// walks along (wrapping to the next row) for its four values; when n % 4 == 0 the
// four share a row and b is read as one vec4. a and b are small and stay in cache.
//
// Bindings: 0 = a (read, whole), 1 = b (read, whole), 2 = out (read_write, a window
// of `len` elements of the flat output whose first element is (i_base, j_base)),
// 3 = params. The host starts windows at multiples of the binding alignment, so
// the vec4 stores stay aligned. Workgroups: ceil(len / (4 WG VEC4S)), 2-D grid folded.

// Rust twin: OuterParams in src/gpu/products.rs (keep in sync).
struct Params {
    len: u32,    // elements of out in this window
    n: u32,      // columns (length of b)
    i_base: u32, // row of the window's first element
    j_base: u32, // column of the window's first element
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: Params;

/*SHAPE*/

// Writes vec4 q of the window (nothing past its end).
fn store_vec4(q: u32) {
    let l0 = q * 4u;
    if l0 >= p.len {
        return;
    }
    var i = p.i_base + (p.j_base + l0) / p.n;
    var j = (p.j_base + l0) % p.n;
    if p.n % 4u == 0u {
        out[q] = a[i / 4u][i % 4u] * b[j / 4u];
        return;
    }
    var v = vec4<f32>(0.0);
    for (var t = 0u; t < 4u; t++) {
        // Past the window's end lies only the vec4 padding of the output buffer.
        if l0 + t < p.len {
            v[t] = a[i / 4u][i % 4u] * b[j / 4u][j % 4u];
        }
        j += 1u;
        if j == p.n {
            j = 0u;
            i += 1u;
        }
    }
    out[q] = v;
}

@compute @workgroup_size(WG)
fn outer(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q0 = (wg.x + wg.y * nwg.x) * (WG * VEC4S) + lid;
/*STEPS*/
}
