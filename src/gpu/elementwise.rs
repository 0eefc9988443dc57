//! Host side of the elementwise kernels (the unary ops and multiply), generated
//! per op and variant from shaders/map.wgsl (src/gpu/kernels.rs `map_source`).
//!
//! The `map` family's variant (`Gpu`'s choice: workgroup size and vec4s per
//! invocation) sets the workgroup count. Arrays longer than one storage binding
//! are processed in windows of the binding size, each its own dispatch.

use super::GpuArray;
use super::kernels::{Kernel, MapOp};
use super::variants::MapVariant;
use crate::backend::check_same_shape;
use crate::error::Result;
use crate::unary::{Unary, for_each_unary};

/// Each unary op's method on resident arrays, calling `unary`.
macro_rules! unary_methods {
    ($($(#[$doc:meta])* $variant:ident $method:ident $into:ident $def:path;)*) => {
        impl GpuArray {$(
            $(#[$doc])*
            pub fn $method(&self) -> Result<GpuArray> {
                self.unary(Unary::$variant)
            }
        )*}
    };
}
for_each_unary!(unary_methods);

impl GpuArray {
    /// A unary elementwise op, resident in, resident out; see [`Unary`] and
    /// the op's method (`sigmoid`, ...) for its bounds and edges.
    pub fn unary(&self, op: Unary) -> Result<GpuArray> {
        self.map(op.name(), MapOp::Unary(op), &[])
    }

    /// Elementwise product with an array of the same shape.
    pub fn multiply(&self, other: &GpuArray) -> Result<GpuArray> {
        check_same_shape("multiply", &self.shape, &other.shape)?;
        self.check_same_gpu("multiply", other)?;
        self.map("multiply", MapOp::Multiply, &[other])
    }

    /// Runs an elementwise kernel whose inputs are `self` and `others` (same
    /// length), window by window, in the variant chosen for its length.
    fn map(&self, op: &'static str, map: MapOp, others: &[&GpuArray]) -> Result<GpuArray> {
        let variant = self.gpu.inner.choices.map_for(map, self.len());
        self.map_variant(op, map, others, variant)
    }

    /// `map` in the given variant (for `tune`, which times each).
    pub(crate) fn map_variant(
        &self,
        op: &'static str,
        map: MapOp,
        others: &[&GpuArray],
        variant: MapVariant,
    ) -> Result<GpuArray> {
        let out = self.alloc_like(op, self.shape.clone())?;
        let n = self.len();
        let window = self.gpu.inner.window_elems;
        let rt = &self.gpu.inner.rt;
        for start in (0..n).step_by(window.max(1)) {
            let len = window.min(n - start);
            let mut bindings = vec![self.window(start, len)];
            bindings.extend(others.iter().map(|o| o.window(start, len)));
            bindings.push(out.window(start, len));
            let groups = (len as u64).div_ceil(variant.elems_per_group());
            rt.dispatch(op, Kernel::Map(map, variant), &bindings, None, groups)?;
        }
        Ok(out)
    }
}
