// Elementwise map: out = f(x0, ...), for the unary ops and multiply.
//
// The host generates one module per (op, variant) (src/gpu/kernels.rs
// `map_source`): this text with BINDINGS (the inputs x0.., then out), WORKGROUP
// and VEC4S filled in and STEPS unrolled, VEC4S steps of
//     i = base + k * WORKGROUP; if i >= n, return; out[i] = f(x0[i], ...)
// then shaders/shared/elementwise.wgsl and the op's function (src/unary/<op>.rs).
// A fused chain of ops would nest the calls in f.
//
// Algorithm: each invocation handles VEC4S vec4s (16 bytes: the access width that
// coalesces on every vendor) one workgroup apart, so each step of a workgroup
// reads one contiguous span; the host binds at most one storage binding's worth
// of elements per dispatch (a window) and folds workgroup counts past 65,535
// into a 2-D grid (src/gpu/runtime.rs). Every index is checked against n before
// use. Bindings: the inputs (read), then out (read_write), all padded to whole
// vec4s; n, the shortest binding's arrayLength, is the number of vec4s in this window.

/*BINDINGS*/

const WORKGROUP: u32 = /*WORKGROUP*/u;
const VEC4S: u32 = /*VEC4S*/u;

@compute @workgroup_size(WORKGROUP)
fn map(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let base = (wg.x + wg.y * nwg.x) * (WORKGROUP * VEC4S) + lid;
    // The shortest binding, min(arrayLength(&x0), ..., arrayLength(&out)): the
    // host binds equal windows, so this is arrayLength(&out), but each input
    // index is then checked against its own binding too, not only by the host's
    // contract (docs/trusted-kernels-audit.md: sound without naga's clamping).
    let n = /*LENGTH*/;
/*STEPS*/
}
