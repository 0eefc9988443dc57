// matmul: C (m x n) = A (m x k) * B (k x n), f32, row-major.
//
// Algorithm: 2-D block tiling (siboehm's SGEMM kernel 5/6, the design TF.js,
// ratchet and ggml-webgpu use in WGSL). Each workgroup computes one BM x BN tile
// of C. It walks k in steps of BK: the invocations cooperatively stage a BM x BK
// tile of A and a BK x BN tile of B in workgroup memory (vec4 loads from global
// memory), then each invocation accumulates a TM x TN block of C in registers,
// so every value read from workgroup memory feeds TM or TN multiply-adds.
// A's tile is stored transposed (k-major), so an invocation's TM rows are TM
// contiguous f32; B's tile is read as vec4s along n. An invocation's columns
// are strided by WG_X vec4s, so neighbouring invocations read neighbouring vec4s
// of B's tile (no bank conflicts) and write neighbouring vec4s of C (coalesced).
//
// Tuning: the constants below are the knobs. BM = WG_Y * TM, BN = WG_X * TN.
// Constraints: TM and TN multiples of 4, BK a multiple of 4, and BM * BK / 4 and
// BK * BN / 4 multiples of WG_X * WG_Y (whole vec4 loads per invocation).
// Workgroup memory is (BM + BN) * BK * 4 bytes (8 KiB now; WebGPU guarantees
// 16 KiB). Defaults: 64 x 64 tiles, 4 x 4 per invocation, 256 invocations, BK 16:
// portable. Big discrete GPUs usually prefer TM = TN = 8 (128 x 128 tiles,
// 16 KiB), which doubles the multiply-adds per workgroup-memory read; measure
// with `cargo bench --bench products -- matmul` before changing the default.
//
// Edges: every shape is correct, not only multiples of the tile. Loads outside
// A or B give 0 (so partial tiles add nothing), stores outside C are skipped;
// every invocation reaches every barrier.
//
// Two entry points share the body (the driver folds the constant `aligned`):
//   matmul            k % 4 == 0 and n % 4 == 0 (and the host's offsets too):
//                     vec4 loads of A and B, vec4 stores of C.
//   matmul_unaligned  any shape: the same tiles, filled one f32 at a time from
//                     the same vec4 bindings, drained through a scalar view of C.
//
// No two invocations write parts of one vector: WGSL (and MSL) let a write to
// one component be a read-modify-write of the whole vec4, a race on Metal that
// no Vulkan driver shows. So A's transposed tile is scalar (each invocation
// writes single f32s), and the unaligned entry point writes C through `c1`, an
// array<f32> at the same binding (each entry point uses one of the two views;
// the tile body returns its accumulators so that neither view is named in it).
//
// Long k: the host splits k into ranges of at most 16,384 per dispatch, each
// adding into C (accumulate = 1 after the first). That keeps any one dispatch short
// (a watchdog such as Windows' TDR kills long ones) and under llvmpipe's limit of
// 65,535 loop iterations per invocation, past which its loops silently stop.
//
// Bindings: 0 = A (read), 1 = B (read), 2 = C (read_write), 3 = params. A and C
// are windows of whole rows (src/gpu/products.rs), each starting a_off / c_off
// elements into its binding; B is bound whole. Workgroups: tiles_m * tiles_n,
// linear id rebuilt from the 2-D grid, tile_n fastest (neighbouring workgroups
// share A's rows in cache).

// Rust twin: MatmulParams in src/gpu/products.rs (keep in sync).
struct Params {
    m: u32,          // rows of A and C in this window
    k: u32,          // columns of A (its row stride)
    n: u32,
    a_off: u32,      // element offset of A's first row in its binding
    c_off: u32,      // element offset of C's first row in its binding
    tiles_n: u32,    // ceil(n / BN)
    tiles: u32,      // tiles_m * tiles_n: workgroups with work
    k0: u32,         // this dispatch's range of k: k0 .. k0 + kc
    kc: u32,
    accumulate: u32, // 1: add to C (a later k range); 0: overwrite C
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>; // matmul
@group(0) @binding(2) var<storage, read_write> c1: array<f32>;      // matmul_unaligned
@group(0) @binding(3) var<uniform> p: Params;

const WG_X: u32 = 16u; // invocations along n
const WG_Y: u32 = 16u; // invocations along m
const TM: u32 = 4u;    // rows of C per invocation
const TN: u32 = 4u;    // columns of C per invocation
const BK: u32 = 16u;   // depth of one k step

const BM: u32 = WG_Y * TM;
const BN: u32 = WG_X * TN;
const THREADS: u32 = WG_X * WG_Y;
const TM4: u32 = TM / 4u;
const TN4: u32 = TN / 4u;
const BK4: u32 = BK / 4u;
const BN4: u32 = BN / 4u;
const A_LOADS: u32 = BM * BK4 / THREADS;
const B_LOADS: u32 = BK * BN4 / THREADS;

var<workgroup> a_tile: array<f32, BK * BM>;        // [kk][row]: A transposed
var<workgroup> b_tile: array<vec4<f32>, BK * BN4>; // [kk][col / 4]

// A[row][k0 + col .. k0 + col + 4], zero outside A and this k range.
fn load_a(aligned: bool, row: u32, col: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if row < p.m {
        let e = p.a_off + row * p.k + p.k0 + col;
        if aligned {
            // k, k0 and kc are multiples of 4: the four are all inside or all outside.
            if col < p.kc {
                v = a[e / 4u];
            }
        } else {
            for (var i = 0u; i < 4u; i++) {
                if col + i < p.kc {
                    v[i] = a[(e + i) / 4u][(e + i) % 4u];
                }
            }
        }
    }
    return v;
}

// B[k0 + row][col .. col + 4], zero outside B and this k range.
fn load_b(aligned: bool, row: u32, col: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if row < p.kc {
        let e = (p.k0 + row) * p.n + col;
        if aligned {
            if col < p.n {
                v = b[e / 4u];
            }
        } else {
            for (var i = 0u; i < 4u; i++) {
                if col + i < p.n {
                    v[i] = b[(e + i) / 4u][(e + i) % 4u];
                }
            }
        }
    }
    return v;
}

// C[row][col .. col + 4] = v (or += v), skipping what lies outside C. Aligned:
// one whole vec4 per invocation. Unaligned: four f32 through the scalar view.
fn store_c4(row: u32, col: u32, v: vec4<f32>) {
    if row >= p.m || col >= p.n {
        return;
    }
    let e = (p.c_off + row * p.n + col) / 4u;
    if p.accumulate == 1u {
        c[e] += v;
    } else {
        c[e] = v;
    }
}

fn store_c1(row: u32, col: u32, v: vec4<f32>) {
    if row >= p.m {
        return;
    }
    let e = p.c_off + row * p.n + col;
    for (var i = 0u; i < 4u; i++) {
        if col + i < p.n {
            if p.accumulate == 1u {
                c1[e + i] += v[i];
            } else {
                c1[e + i] = v[i];
            }
        }
    }
}

alias Acc = array<array<vec4<f32>, TN4>, TM>;

// The accumulators of this invocation's TM x TN block of C; the caller stores
// them, acc[r][q] at C[row0 + ty * TM + r][col0 + (q * WG_X + tx) * 4 ..].
fn matmul_tile(aligned: bool, wid: u32, tx: u32, ty: u32) -> Acc {
    let row0 = (wid / p.tiles_n) * BM;
    let col0 = (wid % p.tiles_n) * BN;
    let t = ty * WG_X + tx;
    var acc: Acc;
    var bv: array<vec4<f32>, TN4>;

    let k_tiles = (p.kc + BK - 1u) / BK;
    for (var kt = 0u; kt < k_tiles; kt++) {
        let k0 = kt * BK;
        for (var l = 0u; l < A_LOADS; l++) {
            let v = t + l * THREADS;
            let r = v / BK4;
            let kq = v % BK4;
            let val = load_a(aligned, row0 + r, k0 + kq * 4u);
            for (var i = 0u; i < 4u; i++) {
                a_tile[(kq * 4u + i) * BM + r] = val[i];
            }
        }
        for (var l = 0u; l < B_LOADS; l++) {
            let v = t + l * THREADS;
            let kk = v / BN4;
            let nq = v % BN4;
            b_tile[kk * BN4 + nq] = load_b(aligned, k0 + kk, col0 + nq * 4u);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            for (var q = 0u; q < TN4; q++) {
                bv[q] = b_tile[kk * BN4 + q * WG_X + tx];
            }
            for (var r4 = 0u; r4 < TM4; r4++) {
                let at = kk * BM + (ty * TM4 + r4) * 4u;
                let av = vec4<f32>(a_tile[at], a_tile[at + 1u], a_tile[at + 2u], a_tile[at + 3u]);
                for (var q = 0u; q < TN4; q++) {
                    acc[r4 * 4u][q] = fma(vec4<f32>(av.x), bv[q], acc[r4 * 4u][q]);
                    acc[r4 * 4u + 1u][q] = fma(vec4<f32>(av.y), bv[q], acc[r4 * 4u + 1u][q]);
                    acc[r4 * 4u + 2u][q] = fma(vec4<f32>(av.z), bv[q], acc[r4 * 4u + 2u][q]);
                    acc[r4 * 4u + 3u][q] = fma(vec4<f32>(av.w), bv[q], acc[r4 * 4u + 3u][q]);
                }
            }
        }
        workgroupBarrier();
    }
    return acc;
}

fn tile_row(wid: u32, ty: u32, r: u32) -> u32 {
    return (wid / p.tiles_n) * BM + ty * TM + r;
}

fn tile_col(wid: u32, tx: u32, q: u32) -> u32 {
    return (wid % p.tiles_n) * BN + (q * WG_X + tx) * 4u;
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let wid = wg.x + wg.y * nwg.x;
    // The same for the whole workgroup, so no barrier is skipped by only some.
    if wid >= p.tiles {
        return;
    }
    let acc = matmul_tile(true, wid, lid.x, lid.y);
    for (var r = 0u; r < TM; r++) {
        for (var q = 0u; q < TN4; q++) {
            store_c4(tile_row(wid, lid.y, r), tile_col(wid, lid.x, q), acc[r][q]);
        }
    }
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_unaligned(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let wid = wg.x + wg.y * nwg.x;
    if wid >= p.tiles {
        return;
    }
    let acc = matmul_tile(false, wid, lid.x, lid.y);
    for (var r = 0u; r < TM; r++) {
        for (var q = 0u; q < TN4; q++) {
            store_c1(tile_row(wid, lid.y, r), tile_col(wid, lid.x, q), acc[r][q]);
        }
    }
}
