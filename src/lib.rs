//! # gpu-basics
//!
//! The operations of deep learning's "Python Basics with Numpy" warm-up as WGSL
//! compute kernels dispatched through wgpu, with two CPU twins: [`Cpu`] (ndarray,
//! vectorized, the reference) and [`Naive`] (explicit loops, the baseline that
//! vectorization beats). All three implement [`Backend`].
//!
//! Data can stay on the GPU across ops: [`Gpu::upload`] gives a [`GpuArray`],
//! whose ops return new resident arrays; nothing comes back until
//! [`GpuArray::to_array`].
//!
//! ```no_run
//! use gpu_basics::{Backend, Cpu, Gpu};
//! use ndarray::array;
//!
//! # fn main() -> gpu_basics::Result<()> {
//! let x = array![[1.0f32, 2.0, 3.0], [-1.0, 0.0, 1.0]];
//! let gpu = Gpu::new()?;
//! // Two kernels, one upload, one readback.
//! let y = gpu.upload(&x)?.sigmoid()?.sigmoid_derivative()?.to_array()?;
//! let cpu = Cpu.sigmoid_derivative(Cpu.sigmoid(x.view().into_dyn())?.view())?;
//! assert!((&y - &cpu).iter().all(|d| d.abs() < 1e-6));
//! # Ok(()) }
//! ```

mod backend;
mod cpu;
mod error;
pub mod gpu;
mod naive;
pub mod npy;
pub mod ops;
mod unary;

pub use backend::Backend;
pub use cpu::Cpu;
pub use error::{Error, Result};
pub use gpu::{AdapterSummary, Gpu, GpuArray, GpuOptions, MapVariant, MemoryStats, Tuning};
pub use naive::Naive;
pub use ops::Op;
pub use unary::Unary;

/// The exercise's `basic_sigmoid`: one number, the scalar `exp`, in float64 as in
/// the exercise (`math.exp`). Exists to make the exercise's point in the demo: it
/// takes a scalar, not an array.
pub fn basic_sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
