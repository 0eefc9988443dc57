//! Host side of shaders/rows.wgsl (softmax, normalize_rows along rows) and
//! shaders/columns.wgsl (the same along columns, with the rows' bits).

use bytemuck::{Pod, Zeroable};

use super::GpuArray;
use super::kernels::{Kernel, LineStage};
use super::variants::RowsVariant;
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

/// Keep in sync with `Params` in shaders/columns.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ColumnParams {
    rows: u32,
    cols: u32,
    chunks: u32,
    seg: u32,
    sg: u32,
    first: u32,
    short: u32,
    vec4: u32,
}

/// The shaders' workgroup size (`WG` in shaders/shared/row_stats.wgsl); the
/// variant (`RowsVariant`) gives the rest of a line's shape.
const WG: u64 = 256;

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
        // Picked by the length of the line reduced (a row's for axis 1, a
        // column's for axis 0), which decides the kernel's path; a bad axis
        // or rank is rows_variant's error.
        let line = self.shape.get(axis).copied().unwrap_or(0);
        let v = self.gpu.inner.choices.rows_for(line);
        self.rows_variant(op, axis, v)
    }

    /// `rows_op` in the given variant (for `tune`, which times each).
    pub(crate) fn rows_variant(&self, op: RowOp, axis: usize, v: RowsVariant) -> Result<GpuArray> {
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
            return self.columns_op(op, v);
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
        let rt = &inner.rt;
        let stage = |s| Kernel::Line(op, s, v.per_thread);
        let chunk = v.chunk();
        for r0 in (0..m).step_by(rows_per_window) {
            let rows = rows_per_window.min(m - r0);
            let first = r0 * n;
            let start = first - first % inner.align_elems;
            let base = first - start;
            let len = base + rows * n;
            let (xw, ow) = (self.window(start, len), out.window(start, len));
            let chunks = n.div_ceil(chunk);
            let params = RowParams {
                rows: rows as u32,
                cols: n as u32,
                chunks: chunks as u32,
                base: base as u32,
                seg: v.seg(n),
                pad: [0; 3],
            };
            let pb = bytemuck::bytes_of(&params);
            if v.short(n) {
                rt.dispatch(
                    name,
                    stage(LineStage::RowsShort),
                    &[xw, ow],
                    Some(pb),
                    (rows as u64).div_ceil(WG),
                )?;
            } else if n <= chunk {
                let rows_per_group = WG / u64::from(params.seg);
                // Whole vec4s: n is a multiple of 4, and so are `first` and
                // the window's start (an alignment unit), so base is too.
                let fused = if v.fused4(n) {
                    LineStage::RowsFused4
                } else {
                    LineStage::RowsFused
                };
                rt.dispatch(
                    name,
                    stage(fused),
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
                    stage(LineStage::RowsPartials),
                    &[xw, pw],
                    Some(pb),
                    (rows * chunks) as u64,
                )?;
                let (pw, sw) = (
                    partials.window(0, rows * chunks * 4),
                    stats.window(0, rows * 4),
                );
                rt.dispatch(
                    name,
                    stage(LineStage::RowsMerge),
                    &[pw, sw],
                    Some(pb),
                    rows as u64,
                )?;
                let (xw, sw, ow) = (
                    self.window(start, len),
                    stats.window(0, rows * 4),
                    out.window(start, len),
                );
                // Elementwise, so whole vec4s give the same bits wherever rows
                // are whole vec4s (n a multiple of 4, and then base is too).
                let (apply, per) = if n.is_multiple_of(4) {
                    (LineStage::RowsApply4, 4)
                } else {
                    (LineStage::RowsApply, 1)
                };
                rt.dispatch(
                    name,
                    stage(apply),
                    &[xw, sw, ow],
                    Some(pb),
                    ((rows * n / per) as u64).div_ceil(WG),
                )?;
            }
        }
        Ok(out)
    }

    /// `op` along axis 0: each column reduced as rows.wgsl reduces a row of
    /// the same length (shaders/columns.wgsl), so the result has the bits of
    /// the op on the transpose's rows. The whole array must fit one storage
    /// binding.
    fn columns_op(&self, op: RowOp, v: RowsVariant) -> Result<GpuArray> {
        let name = op.name();
        let (m, n) = (self.shape[0], self.shape[1]);
        let inner = &self.gpu.inner;
        let len = m * n;
        if len > inner.window_elems {
            return Err(Error::TooLarge {
                op: name,
                detail: format!(
                    "along axis 0 the whole array must fit one storage binding ({} f32); shape {:?}",
                    inner.window_elems, self.shape
                ),
            });
        }
        let out = self.alloc_like(name, self.shape.clone())?;
        let stats = self.alloc_like(name, vec![n, 4])?;
        let chunks = m.div_ceil(v.chunk());
        let params = ColumnParams {
            rows: m as u32,
            cols: n as u32,
            chunks: chunks as u32,
            seg: v.seg(m),
            // The width of the row kernels' first tree level: their subgroup
            // size, or the whole workgroup without subgroups.
            sg: inner.subgroup_size.unwrap_or(WG as u32),
            first: 0,
            short: u32::from(v.short(m)),
            vec4: u32::from(v.fused4(m)),
        };
        let whole = || self.window(0, len);
        let k = |s| Kernel::Line(op, s, v.per_thread);
        if m <= v.chunk() {
            self.columns_stage(
                op,
                k(LineStage::ColsStats),
                params,
                n,
                &[whole(), stats.window(0, n * 4)],
            )?;
        } else {
            let partials = self.alloc_like(name, vec![chunks * n, 4])?;
            let pw = || partials.window(0, chunks * n * 4);
            self.columns_stage(
                op,
                k(LineStage::ColsChunks),
                params,
                chunks * n,
                &[whole(), pw()],
            )?;
            self.columns_stage(
                op,
                k(LineStage::ColsMerge),
                params,
                n,
                &[pw(), stats.window(0, n * 4)],
            )?;
        }
        self.columns_stage(
            op,
            k(LineStage::ColsApply),
            params,
            len,
            &[whole(), stats.window(0, n * 4), out.window(0, len)],
        )?;
        Ok(out)
    }

    /// One stage of shaders/columns.wgsl over `count` invocations, in as many
    /// dispatches as the grid needs (each starting at `first`).
    fn columns_stage(
        &self,
        op: RowOp,
        kernel: Kernel,
        mut params: ColumnParams,
        count: usize,
        bindings: &[super::runtime::Binding<'_>],
    ) -> Result<()> {
        let rt = &self.gpu.inner.rt;
        let step = (rt.max_groups() * WG) as usize;
        for first in (0..count).step_by(step) {
            params.first = first as u32;
            rt.dispatch(
                op.name(),
                kernel,
                bindings,
                Some(bytemuck::bytes_of(&params)),
                (step.min(count - first) as u64).div_ceil(WG),
            )?;
        }
        Ok(())
    }
}
