//! Host side of shaders/rows.wgsl (softmax, normalize_rows) and
//! shaders/transpose.wgsl (their column variants).

use bytemuck::{Pod, Zeroable};

use super::GpuArray;
use super::kernels::KernelId;
use crate::backend::{RowOp, check_rows};
use crate::error::{Error, Result};

/// Keep in sync with `Params` in shaders/rows.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RowParams {
    rows: u32,
    cols: u32,
    chunks: u32,
    base: u32,
    seg: u32,
    pad: [u32; 3],
}

/// Keep in sync with `Params` in shaders/transpose.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TransposeParams {
    rows: u32,
    cols: u32,
    tiles_x: u32,
    pad: u32,
}

/// The shader's workgroup size, elements per invocation, longest row for
/// `rows_short`, and chunk length (`WG`, `PER_THREAD`, 32 and `CHUNK` in rows.wgsl).
const WG: u64 = 256;
const PER_THREAD: usize = 8;
const SHORT: usize = 32;
const CHUNK: usize = 2048;

struct Stages {
    short: KernelId,
    fused: KernelId,
    partials: KernelId,
    merge: KernelId,
    apply: KernelId,
}

fn stages(op: RowOp) -> Stages {
    match op {
        RowOp::Softmax => Stages {
            short: KernelId::SoftmaxShort,
            fused: KernelId::SoftmaxFused,
            partials: KernelId::SoftmaxPartials,
            merge: KernelId::SoftmaxMerge,
            apply: KernelId::SoftmaxApply,
        },
        RowOp::Normalize => Stages {
            short: KernelId::NormalizeShort,
            fused: KernelId::NormalizeFused,
            partials: KernelId::NormalizePartials,
            merge: KernelId::NormalizeMerge,
            apply: KernelId::NormalizeApply,
        },
    }
}

impl GpuArray {
    /// Row softmax of a 2-D array; see [`crate::Backend::softmax`].
    pub fn softmax(&self) -> Result<GpuArray> {
        self.softmax_axis(1)
    }

    /// Softmax along `axis` (1: each row, 0: each column).
    pub fn softmax_axis(&self, axis: usize) -> Result<GpuArray> {
        self.rows_op(RowOp::Softmax, axis)
    }

    /// Each row divided by its L2 norm; see [`crate::Backend::normalize_rows`].
    pub fn normalize_rows(&self) -> Result<GpuArray> {
        self.normalize_rows_axis(1)
    }

    /// L2 normalization along `axis` (1: each row, 0: each column).
    pub fn normalize_rows_axis(&self, axis: usize) -> Result<GpuArray> {
        self.rows_op(RowOp::Normalize, axis)
    }

    fn rows_op(&self, op: RowOp, axis: usize) -> Result<GpuArray> {
        let name = op.name();
        if self.shape.len() != 2 {
            return Err(Error::shape(
                name,
                format!("expects a 2-D array, got shape {:?}", self.shape),
            ));
        }
        check_rows(op, &self.shape, axis)?;
        if self.is_empty() {
            return self.alloc_like(name, self.shape.clone());
        }
        if axis == 0 {
            return self.transpose(name)?.rows_op(op, 1)?.transpose(name);
        }
        let (m, n) = (self.shape[0], self.shape[1]);
        let inner = &self.gpu.inner;
        // Whole rows per window, leaving room for the window to start up to one
        // alignment unit before its first row.
        let room = inner.window_elems.saturating_sub(inner.align_elems);
        let rows_per_window = room / n;
        if rows_per_window == 0 {
            return Err(Error::TooLarge {
                op: name,
                detail: format!(
                    "rows of {n} elements exceed one storage binding ({} f32) of this device; shape {:?}",
                    room, self.shape
                ),
            });
        }
        let out = self.alloc_like(name, self.shape.clone())?;
        let s = stages(op);
        let rt = &inner.rt;
        for r0 in (0..m).step_by(rows_per_window) {
            let rows = rows_per_window.min(m - r0);
            let first = r0 * n;
            let start = first - first % inner.align_elems;
            let base = first - start;
            let len = base + rows * n;
            let (xw, ow) = (self.window(start, len), out.window(start, len));
            let chunks = n.div_ceil(CHUNK);
            let params = RowParams {
                rows: rows as u32,
                cols: n as u32,
                chunks: chunks as u32,
                base: base as u32,
                // Invocations per row in rows_fused: enough for 8 elements each.
                seg: n.div_ceil(PER_THREAD).next_power_of_two().min(WG as usize) as u32,
                pad: [0; 3],
            };
            let pb = bytemuck::bytes_of(&params);
            if n <= SHORT {
                rt.dispatch(
                    name,
                    s.short,
                    &[xw, ow],
                    Some(pb),
                    (rows as u64).div_ceil(WG),
                )?;
            } else if n <= CHUNK {
                let rows_per_group = WG / u64::from(params.seg);
                rt.dispatch(
                    name,
                    s.fused,
                    &[xw, ow],
                    Some(pb),
                    (rows as u64).div_ceil(rows_per_group),
                )?;
            } else {
                // A stat is a vec4 (see rows.wgsl).
                let partials = self.alloc_like(name, vec![rows * chunks, 4])?;
                let stats = self.alloc_like(name, vec![rows, 4])?;
                let pw = partials.window(0, rows * chunks * 4);
                rt.dispatch(
                    name,
                    s.partials,
                    &[xw, pw],
                    Some(pb),
                    (rows * chunks) as u64,
                )?;
                let (pw, sw) = (
                    partials.window(0, rows * chunks * 4),
                    stats.window(0, rows * 4),
                );
                rt.dispatch(name, s.merge, &[pw, sw], Some(pb), rows as u64)?;
                let (xw, sw, ow) = (
                    self.window(start, len),
                    stats.window(0, rows * 4),
                    out.window(start, len),
                );
                rt.dispatch(
                    name,
                    s.apply,
                    &[xw, sw, ow],
                    Some(pb),
                    ((rows * n) as u64).div_ceil(WG),
                )?;
            }
        }
        Ok(out)
    }

    /// The transpose of a 2-D array (resident). The whole array must fit one
    /// storage binding.
    pub(crate) fn transpose(&self, op: &'static str) -> Result<GpuArray> {
        let (m, n) = (self.shape[0], self.shape[1]);
        let out = self.alloc_like(op, vec![n, m])?;
        if self.is_empty() {
            return Ok(out);
        }
        let len = m * n;
        if len > self.gpu.inner.window_elems {
            return Err(Error::TooLarge {
                op,
                detail: format!(
                    "along axis 0 the GPU transposes the array, which must then fit one storage binding \
                     ({} f32); shape {:?}",
                    self.gpu.inner.window_elems, self.shape
                ),
            });
        }
        let tiles_x = n.div_ceil(16);
        let params = TransposeParams {
            rows: m as u32,
            cols: n as u32,
            tiles_x: tiles_x as u32,
            pad: 0,
        };
        let groups = (tiles_x * m.div_ceil(16)) as u64;
        self.gpu.inner.rt.dispatch(
            op,
            KernelId::Transpose,
            &[self.window(0, len), out.window(0, len)],
            Some(bytemuck::bytes_of(&params)),
            groups,
        )?;
        Ok(out)
    }
}
