// transpose: out (cols x rows) = x (rows x cols)^T, both row-major.
//
// Used for the column (axis 0) variants of the row ops: transpose, run the row
// kernel, transpose back; three passes at memory speed instead of a column
// kernel that would leave most of the GPU idle for tall, narrow arrays.
// Algorithm: 16 x 16 tiles staged in workgroup memory so that both the read
// and the write are along rows (coalesced); the +1 column of padding keeps the
// transposed read from hitting one memory bank 16 times.
// Bindings: 0 = x (read), 1 = out (read_write), 2 = Params. One dispatch covers
// the whole array, so it must fit one binding (the host checks).

// Keep in sync with TransposeParams in src/gpu/rows.rs.
struct Params {
    rows: u32,
    cols: u32,
    tiles_x: u32, // ceil(cols / 16)
    _pad: u32,
}

const TILE: u32 = 16u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> tile: array<f32, 272>; // TILE * (TILE + 1)

@compute @workgroup_size(16, 16)
fn transpose(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let id = wg.x + wg.y * nwg.x;
    let tile_row = id / p.tiles_x;
    let tile_col = id % p.tiles_x;
    // Read x[r][c] with lid.x along c.
    let r = tile_row * TILE + lid.y;
    let c = tile_col * TILE + lid.x;
    if r < p.rows && c < p.cols {
        tile[lid.y * (TILE + 1u) + lid.x] = x[r * p.cols + c];
    }
    workgroupBarrier();
    // Write out[c'][r'] with lid.x along r'.
    let orow = tile_col * TILE + lid.y; // a column of x
    let ocol = tile_row * TILE + lid.x; // a row of x
    if orow < p.cols && ocol < p.rows {
        out[orow * p.rows + ocol] = tile[lid.x * (TILE + 1u) + lid.y];
    }
}
