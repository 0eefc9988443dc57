// matmul: C (m x n) = A (m x k) * B (k x n), f32, row-major.
//
// A template: src/gpu/kernels.rs `matmul_source` writes one module per variant
// (`MatmulVariant` in src/gpu/variants.rs) by filling in the tile constants
// (placeholder TILE) and the unrolled bodies (STAGE, which stages B through
// stage_b or, for a packed B, stage_bt; PRODUCT, STORE4 and STORE1). Every variant accumulates each C element over k in the same
// order (one fma per k, k ascending), so every variant gives the same bits.
//
// Algorithm: 2-D block tiling (siboehm's SGEMM kernel 5/6, the design TF.js,
// ratchet and ggml-webgpu use in WGSL). Each workgroup computes one BM x BN tile
// of C. It walks k in steps of BK: the invocations cooperatively stage a BM x BK
// tile of A and a BK x BN tile of B in workgroup memory (vec4 loads from global
// memory), then each invocation accumulates a TM x TN block of C in registers,
// so every vec4 read from workgroup memory feeds TN or TM multiply-adds.
// A's tile is stored transposed, four rows to a vec4 ([kk][row / 4]): an
// invocation stages a 4 x 4 block of A (four vec4 loads along k, one per row),
// transposes it in registers and writes four whole vec4s, so its TM rows at one
// kk are TM / 4 vec4 reads. B's tile is read as vec4s along n. An invocation's
// columns are strided by WG_X vec4s, so neighbouring invocations read
// neighbouring vec4s of B's tile (no bank conflicts) and write neighbouring vec4s
// of C (coalesced). The k step is written out BK times (no loop for the driver
// to unroll or not), as are the staging loads and the stores.
//
// Knobs (per variant): WG_X x WG_Y invocations, TM x TN per invocation, BK,
// and whether B is packed. BM = WG_Y * TM, BN = WG_X * TN. TM, TN and BK are multiples of
// 4; the invocations fit WebGPU's guaranteed 256; the tiles, (BM + BN) * BK * 4
// bytes, fit WebGPU's guaranteed 16 KiB of workgroup memory or the host checks
// the device's limit before it builds the variant (MatmulVariant::fits).
//
// K-contiguous B (variants named ...bt): the host first runs `matmul_pack`, which copies B
// (k x n) into a scratch buffer as B^T (n rows of kb = k rounded up to 4,
// zeros past k), and binds that as B. The k step then stages B's tile as it
// stages A's: 4 x 4 blocks read along k (whole vec4s, whatever k and n are),
// transposed in registers into the same b_tile layout, so the product, the
// order of the terms and the bits are those of the unpacked variants.
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
// no Vulkan driver shows. So each vec4 of A's tile is written whole by one
// invocation, and the unaligned entry point writes C through `c1`, an
// array<f32> at the same binding (each entry point uses one of the two views;
// the tile body returns its accumulators so that neither view is named in it).
//
// Workgroup memory is not zeroed by the pipeline: every element is written
// before the barrier that precedes its reads (all BM / 4 x BK and BK x BN / 4
// vec4s are staged each k step, zeros outside A, B and the k range).
//
// Split k: when C has few tiles and k is long (a skinny product: too few
// workgroups to fill a GPU), the host also cuts this dispatch's k range into
// `splits` segments of `kseg`: workgroup (tile, s) walks segment s only and
// writes its partial C into plane s of a scratch buffer bound as C (c_off = 0,
// planes of m x n), `count` segments per dispatch from `s0` (so the grid never
// needs more than tiles workgroups); `matmul_merge` then adds the planes in
// order s = 0, 1, ... into C. The segments depend only on the shape (src/gpu/products.rs), not on
// the variant, so every variant still adds the same terms in the same order.
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
    splits: u32,     // k segments of this k range (1: none; see "Split k")
    kseg: u32,       // elements of k per segment, a multiple of 4
    s0: u32,         // the first segment this dispatch computes
    count: u32,      // segments this dispatch computes (workgroups: tiles * count)
    first: u32,      // matmul_merge, matmul_pack: the first element / workgroup of this dispatch
    kb: u32,         // packed B's row stride (k rounded up to 4)
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>; // matmul
@group(0) @binding(2) var<storage, read_write> c1: array<f32>;      // matmul_unaligned
@group(0) @binding(3) var<uniform> p: Params;

/*TILE*/
const BM: u32 = WG_Y * TM;
const BN: u32 = WG_X * TN;
const THREADS: u32 = WG_X * WG_Y;
const TM4: u32 = TM / 4u;
const TN4: u32 = TN / 4u;
const BK4: u32 = BK / 4u;
const BM4: u32 = BM / 4u;
const BN4: u32 = BN / 4u;

var<workgroup> a_tile: array<vec4<f32>, BK * BM4>; // [kk][row / 4]: A transposed
var<workgroup> b_tile: array<vec4<f32>, BK * BN4>; // [kk][col / 4]

// A workgroup's range of k: k0 .. k0 + kc (the dispatch's range, or one segment of it).
struct KRange {
    k0: u32,
    kc: u32,
}

// A[row][r.k0 + col .. r.k0 + col + 4], zero outside A and this k range.
fn load_a(aligned: bool, r: KRange, row: u32, col: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if row < p.m {
        let e = p.a_off + row * p.k + r.k0 + col;
        if aligned {
            // k, k0 and kc are multiples of 4: the four are all inside or all outside.
            if col < r.kc {
                v = a[e / 4u];
            }
        } else {
            for (var i = 0u; i < 4u; i++) {
                if col + i < r.kc {
                    v[i] = a[(e + i) / 4u][(e + i) % 4u];
                }
            }
        }
    }
    return v;
}

// B[r.k0 + row][col .. col + 4], zero outside B and this k range.
fn load_b(aligned: bool, r: KRange, row: u32, col: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if row < r.kc {
        let e = (r.k0 + row) * p.n + col;
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

// Stages block `blk` of A's tile: rows 4 r4 .. 4 r4 + 4 of the tile at k
// columns 4 kq .. 4 kq + 4 of this k step, transposed into four whole vec4s.
// Neighbouring invocations take neighbouring kq: each row's BK floats are read
// by BK / 4 neighbours (coalesced).
fn stage_a(aligned: bool, r: KRange, row0: u32, k0: u32, blk: u32) {
    let r4 = blk / BK4;
    let kq = blk % BK4;
    let row = row0 + r4 * 4u;
    let col = k0 + kq * 4u;
    let v0 = load_a(aligned, r, row, col);
    let v1 = load_a(aligned, r, row + 1u, col);
    let v2 = load_a(aligned, r, row + 2u, col);
    let v3 = load_a(aligned, r, row + 3u, col);
    let at = kq * 4u * BM4 + r4;
    a_tile[at] = vec4<f32>(v0.x, v1.x, v2.x, v3.x);
    a_tile[at + BM4] = vec4<f32>(v0.y, v1.y, v2.y, v3.y);
    a_tile[at + 2u * BM4] = vec4<f32>(v0.z, v1.z, v2.z, v3.z);
    a_tile[at + 3u * BM4] = vec4<f32>(v0.w, v1.w, v2.w, v3.w);
}

// Stages vec4 `v` of B's tile: row v / BN4 of this k step, columns 4 (v % BN4) ...
fn stage_b(aligned: bool, r: KRange, col0: u32, k0: u32, v: u32) {
    let kk = v / BN4;
    let nq = v % BN4;
    b_tile[v] = load_b(aligned, r, k0 + kk, col0 + nq * 4u);
}

// Packed B^T[col][r.k0 + kq .. + 4] (B's column col at those k), zero outside
// B and this k range. k0, kseg and so every segment's start are multiples of 4,
// and a range ends off a multiple of 4 only where k does, past which the
// packed rows hold zeros: so each vec4 is wholly inside or wholly zero. (The
// values there meet A's zeros, so they change no sum as long as they are
// finite: matmul_pack writes them as zeros. The test of kq keeps the read
// inside the packed rows: a bound, not a value, no test can see it go.)
fn load_bt(r: KRange, col: u32, kq: u32) -> vec4<f32> {
    if col < p.n && kq < r.kc {
        return b[(col * p.kb + r.k0 + kq) / 4u];
    }
    return vec4<f32>(0.0);
}

// Stages block `blk` of B's tile from packed B: columns 4 n4 .. 4 n4 + 4 of
// the tile at k 4 kq .. 4 kq + 4 of this k step, transposed into four whole
// vec4s of b_tile (as stage_a does for A).
fn stage_bt(r: KRange, col0: u32, k0: u32, blk: u32) {
    let n4 = blk / BK4;
    let kq = blk % BK4;
    let col = col0 + n4 * 4u;
    let kk = k0 + kq * 4u;
    let v0 = load_bt(r, col, kk);
    let v1 = load_bt(r, col + 1u, kk);
    let v2 = load_bt(r, col + 2u, kk);
    let v3 = load_bt(r, col + 3u, kk);
    let bt = kq * 4u * BN4 + n4;
    b_tile[bt] = vec4<f32>(v0.x, v1.x, v2.x, v3.x);
    b_tile[bt + BN4] = vec4<f32>(v0.y, v1.y, v2.y, v3.y);
    b_tile[bt + 2u * BN4] = vec4<f32>(v0.z, v1.z, v2.z, v3.z);
    b_tile[bt + 3u * BN4] = vec4<f32>(v0.w, v1.w, v2.w, v3.w);
}

// C[row][col .. col + 4] = v (or += v), skipping what lies outside C. Aligned:
// one whole vec4 per invocation. Unaligned: four f32 through the scalar view.
// Plane `s` of C's binding: C itself (s = 0, c_off), or a split's partial.
fn store_c4(s: u32, row: u32, col: u32, v: vec4<f32>) {
    if row >= p.m || col >= p.n {
        return;
    }
    let e = (p.c_off + s * p.m * p.n + row * p.n + col) / 4u;
    if p.accumulate == 1u {
        c[e] += v;
    } else {
        c[e] = v;
    }
}

fn store_c1(s: u32, row: u32, col: u32, v: vec4<f32>) {
    if row >= p.m {
        return;
    }
    let e = p.c_off + s * p.m * p.n + row * p.n + col;
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

// acc[r * TN4 + q]: C[row0 + ty * TM + r][col0 + (q * WG_X + tx) * 4 ..].
alias Acc = array<vec4<f32>, TM * TN4>;

// The accumulators of this invocation's TM x TN block of C; the caller stores them.
fn matmul_tile(aligned: bool, wid: u32, s: u32, tx: u32, ty: u32) -> Acc {
    let row0 = (wid / p.tiles_n) * BM;
    let col0 = (wid % p.tiles_n) * BN;
    let t = ty * WG_X + tx;
    let ar = ty * TM4; // this invocation's rows in a_tile's vec4s
    // This workgroup's k range: segment s of the dispatch's (all of it if
    // splits = 1). The host makes every segment non-empty.
    let lo = s * p.kseg;
    let r = KRange(p.k0 + lo, min(p.kseg, p.kc - lo));
    var acc: Acc;

    let k_tiles = (r.kc + BK - 1u) / BK;
    for (var kt = 0u; kt < k_tiles; kt++) {
        let k0 = kt * BK;
/*STAGE*/
        workgroupBarrier();
/*PRODUCT*/
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
    let id = wg.x + wg.y * nwg.x;
    // The same for the whole workgroup, so no barrier is skipped by only some.
    if id >= p.tiles * p.count {
        return;
    }
    let wid = id % p.tiles;
    let s = p.s0 + id / p.tiles;
    let acc = matmul_tile(true, wid, s, lid.x, lid.y);
/*STORE4*/
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_unaligned(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let id = wg.x + wg.y * nwg.x;
    if id >= p.tiles * p.count {
        return;
    }
    let wid = id % p.tiles;
    let s = p.s0 + id / p.tiles;
    let acc = matmul_tile(false, wid, s, lid.x, lid.y);
/*STORE1*/
}

// C[c_off + i] (+)= the sum of the split planes' element i, in plane order; one
// invocation per element of this window's m x n. The planes are bound as A.
@compute @workgroup_size(256)
fn matmul_merge(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = p.first + (wg.x + wg.y * nwg.x) * 256u + lid;
    let len = p.m * p.n;
    if i >= len {
        return;
    }
    var v = 0.0;
    for (var s = 0u; s < p.splits; s++) {
        let e = s * len + i;
        v += a[e / 4u][e % 4u];
    }
    let e = p.c_off + i;
    if p.accumulate == 1u {
        c1[e] += v;
    } else {
        c1[e] = v;
    }
}

// matmul_pack: B (k x n, bound as A) into packed B^T (n x kb, bound as C),
// zeros at k .. kb. One workgroup per 32 x 32 block (k x n), `first` the
// dispatch's first block, blocks k-major within each column of blocks.
// Reads: each invocation reads 4 rows of the block, 32 neighbours a row's 32
// floats (coalesced); writes: each invocation one vec4 of a B^T row, 8
// neighbours a row's 32 floats. The block passes through workgroup memory
// with rows padded to 33, so the column reads hit 32 different banks.
// Every pack_tile element is written before the barrier and read after it.
var<workgroup> pack_tile: array<f32, 32 * 33>;

@compute @workgroup_size(256)
fn matmul_pack(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let kblocks = p.kb / 32u + select(0u, 1u, p.kb % 32u != 0u);
    let nblocks = (p.n + 31u) / 32u;
    let blk = p.first + wg.x + wg.y * nwg.x;
    // The same for the whole workgroup, so no barrier is skipped by only some.
    if blk >= kblocks * nblocks {
        return;
    }
    let k0 = (blk % kblocks) * 32u;
    let n0 = (blk / kblocks) * 32u;
    let col = t % 32u;
    for (var j = 0u; j < 4u; j++) {
        let kr = t / 32u + 8u * j;
        var v = 0.0;
        if k0 + kr < p.k && n0 + col < p.n {
            let e = (k0 + kr) * p.n + n0 + col;
            v = a[e / 4u][e % 4u];
        }
        pack_tile[kr * 33u + col] = v;
    }
    workgroupBarrier();
    let row = t / 8u; // of B^T: column n0 + row of B
    let kq = (t % 8u) * 4u;
    if n0 + row < p.n && k0 + kq < p.kb {
        let at = kq * 33u + row;
        c[((n0 + row) * p.kb + k0 + kq) / 4u] = vec4<f32>(
            pack_tile[at],
            pack_tile[at + 33u],
            pack_tile[at + 66u],
            pack_tile[at + 99u],
        );
    }
}
