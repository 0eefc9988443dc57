// matvec: y (m) = W (m x k) * x (k), f32, W row-major: the exercise's "general dot".
//
// Algorithm: memory-bound, so the goal is one coalesced pass over W. A workgroup
// of 256 invocations takes ROWS = 4 rows; each row gets a team of 64 invocations
// that stride along it, so a team reads 1 KiB of contiguous W per step (vec4 loads
// when k % 4 == 0). Each invocation keeps a running sum, then the team sums its 64
// values with a tree in workgroup memory. x (read once per row, from cache) and
// the row order are fixed, so results are deterministic. Not a matmul with n = 1:
// a 64 x 64 matmul tile would leave 63 of every 64 columns of work idle.
//
// Long rows: the host splits k into ranges of at most 262,144 per dispatch, each
// adding into y (accumulate = 1 after the first), so no lane loops more than 4,096
// times: llvmpipe stops any invocation's loops after 65,535 iterations in all.
//
// Error: a product passes through ceil(k / 256) sequential fma steps in its lane
// (k / 64 when k % 4 != 0), 2 adds over the vec4's lanes and 6 tree levels.
//
// Bindings: 0 = W (read, a window of whole rows starting w_off elements in),
// 1 = x (read, whole), 2 = y (read_write, f32, a window starting y_off elements in),
// 3 = params. Workgroups: ceil(m / 4), linear id rebuilt from the 2-D grid.

// Rust twin: MatvecParams in src/gpu/products.rs (keep in sync).
struct Params {
    m: u32,       // rows in this window
    k: u32,
    w_off: u32,
    y_off: u32,
    aligned: u32,    // 1 when k % 4 == 0 and w_off % 4 == 0: vec4 loads
    k0: u32,         // this dispatch's range of k: k0 .. k0 + kc
    kc: u32,
    accumulate: u32, // 1: add to y (a later k range); 0: overwrite y
}

@group(0) @binding(0) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
// y is scalar: four invocations write four neighbouring outputs, and WGSL lets a
// write to one component of a vec4 be a read-modify-write of the whole vector.
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const WG: u32 = 256u;
const ROWS: u32 = 4u;
const LANES: u32 = WG / ROWS;

var<workgroup> sums: array<f32, WG>;

@compute @workgroup_size(256)
fn matvec(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let wid = wg.x + wg.y * nwg.x;
    let lane = lid % LANES;
    let row = wid * ROWS + lid / LANES;
    var s = 0.0;
    if row < p.m {
        if p.aligned == 1u {
            let base = (p.w_off + row * p.k + p.k0) / 4u;
            let x0 = p.k0 / 4u;
            var acc = vec4<f32>(0.0);
            for (var j = lane; j < p.kc / 4u; j += LANES) {
                acc = fma(w[base + j], x[x0 + j], acc);
            }
            s = (acc.x + acc.y) + (acc.z + acc.w);
        } else {
            let base = p.w_off + row * p.k + p.k0;
            for (var j = lane; j < p.kc; j += LANES) {
                let xj = p.k0 + j;
                s = fma(w[(base + j) / 4u][(base + j) % 4u], x[xj / 4u][xj % 4u], s);
            }
        }
    }
    sums[lid] = s;
    workgroupBarrier();
    for (var half = LANES / 2u; half > 0u; half /= 2u) {
        if lane < half {
            sums[lid] += sums[lid + half];
        }
        workgroupBarrier();
    }
    if lane == 0u && row < p.m {
        let e = p.y_off + row;
        if p.accumulate == 1u {
            y[e] += sums[lid];
        } else {
            y[e] = sums[lid];
        }
    }
}
