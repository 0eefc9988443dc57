//! Host side of the elementwise kernels (shaders/sigmoid.wgsl, shaders/multiply.wgsl).
//!
//! Each invocation handles one vec4 (16 bytes: the access width that coalesces
//! on every vendor), 64 invocations per workgroup. Arrays longer than one storage
//! binding are processed in windows of the binding size, each its own dispatch.

use super::GpuArray;
use super::kernels::KernelId;
use crate::backend::check_same_shape;
use crate::error::Result;

/// Invocations per workgroup, as in the shaders' `@workgroup_size`.
const WORKGROUP: u64 = 64;

/// Workgroups for `len` f32 values at one vec4 per invocation.
fn groups(len: usize) -> u64 {
    (len as u64).div_ceil(4).div_ceil(WORKGROUP)
}

impl GpuArray {
    /// Elementwise sigmoid; see [`crate::Backend::sigmoid`].
    pub fn sigmoid(&self) -> Result<GpuArray> {
        self.map("sigmoid", KernelId::Sigmoid, &[])
    }

    /// Elementwise s(1 - s); see [`crate::Backend::sigmoid_derivative`].
    pub fn sigmoid_derivative(&self) -> Result<GpuArray> {
        self.map("sigmoid_derivative", KernelId::SigmoidDerivative, &[])
    }

    /// Elementwise product with an array of the same shape.
    pub fn multiply(&self, other: &GpuArray) -> Result<GpuArray> {
        check_same_shape("multiply", &self.shape, &other.shape)?;
        self.check_same_gpu("multiply", other)?;
        self.map("multiply", KernelId::Multiply, &[other])
    }

    /// Runs an elementwise kernel whose inputs are `self` and `others` (same
    /// length), window by window.
    fn map(&self, op: &'static str, kernel: KernelId, others: &[&GpuArray]) -> Result<GpuArray> {
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
