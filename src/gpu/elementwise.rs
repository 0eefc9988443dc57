//! Host side of the elementwise kernels: the unary ops' (generated from
//! shaders/unary.wgsl and src/unary/) and multiply's (shaders/multiply.wgsl).
//!
//! Each invocation handles one vec4 (16 bytes: the access width that coalesces
//! on every vendor), 64 invocations per workgroup. Arrays longer than one storage
//! binding are processed in windows of the binding size, each its own dispatch.

use super::GpuArray;
use super::kernels::{Kernel, KernelId};
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

/// Invocations per workgroup, as in the shaders' `@workgroup_size`.
const WORKGROUP: u64 = 64;

/// Workgroups for `len` f32 values at one vec4 per invocation.
fn groups(len: usize) -> u64 {
    (len as u64).div_ceil(4).div_ceil(WORKGROUP)
}

impl GpuArray {
    /// A unary elementwise op, resident in, resident out; see [`Unary`] and
    /// the op's method (`sigmoid`, ...) for its bounds and edges.
    pub fn unary(&self, op: Unary) -> Result<GpuArray> {
        self.map(op.name(), Kernel::Unary(op), &[])
    }

    /// Elementwise product with an array of the same shape.
    pub fn multiply(&self, other: &GpuArray) -> Result<GpuArray> {
        check_same_shape("multiply", &self.shape, &other.shape)?;
        self.check_same_gpu("multiply", other)?;
        self.map("multiply", KernelId::Multiply.into(), &[other])
    }

    /// Runs an elementwise kernel whose inputs are `self` and `others` (same
    /// length), window by window.
    fn map(&self, op: &'static str, kernel: Kernel, others: &[&GpuArray]) -> Result<GpuArray> {
        let out = self.alloc_like(op, self.shape.clone())?;
        let n = self.len();
        let window = self.gpu.inner.window_elems;
        let rt = &self.gpu.inner.rt;
        for start in (0..n).step_by(window.max(1)) {
            let len = window.min(n - start);
            let mut bindings = vec![self.window(start, len)];
            bindings.extend(others.iter().map(|o| o.window(start, len)));
            bindings.push(out.window(start, len));
            rt.dispatch(op, kernel, &bindings, None, groups(len))?;
        }
        Ok(out)
    }
}
