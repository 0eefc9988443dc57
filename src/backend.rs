//! The interface every backend implements: one method per op, ndarray views in,
//! owned arrays out. Tests, benches and the CLI loop over `&dyn Backend`.

use ndarray::{Array2, ArrayD, ArrayView3, ArrayViewD};

use crate::error::{Error, Result};

/// One method per op of the exercise. Views may be non-contiguous (transposed,
/// stepped slices); every backend accepts them.
pub trait Backend: Send + Sync {
    /// Short name used in test and bench labels: `naive`, `cpu`, `gpu`.
    fn name(&self) -> &'static str;

    /// The exercise's scalar sigmoid, 1 / (1 + e^-x), for one number.
    fn basic_sigmoid(&self, x: f32) -> Result<f32>;

    /// Elementwise 1 / (1 + e^-x) over any shape. Never overflows: sigmoid(-1000) = 0,
    /// sigmoid(1000) = 1; NaN gives NaN.
    fn sigmoid(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>>;

    /// Elementwise s(1 - s) with s = sigmoid(x), over any shape.
    fn sigmoid_derivative(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>>;

    /// Elementwise product of two arrays of the same shape (no broadcasting).
    fn multiply(&self, a: ArrayViewD<'_, f32>, b: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>>;

    /// A (length, height, depth) image as a (length*height*depth, 1) column, in
    /// row-major order.
    fn image2vector(&self, image: ArrayView3<'_, f32>) -> Result<Array2<f32>>;
}

/// The shape checks shared by all backends, so every backend rejects the same
/// inputs with the same message.
pub(crate) fn check_same_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!("shapes {a:?} and {b:?} differ (no broadcasting)"),
        ))
    }
}

/// sigmoid in the form that never overflows: e^-|x| is in (0, 1], so neither
/// branch can produce inf/inf. Shared by the CPU backend and the scalar paths.
#[inline]
pub(crate) fn stable_sigmoid(x: f32) -> f32 {
    let e = (-x.abs()).exp();
    if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// s(1 - s) written as e / (1 + e)^2 with e = e^-|x|: the same value, without the
/// cancellation in 1 - s that loses every digit once s rounds to 1 (x > ~17).
#[inline]
pub(crate) fn stable_sigmoid_derivative(x: f32) -> f32 {
    let e = (-x.abs()).exp();
    let d = 1.0 + e;
    // NaN must stay NaN; e / d^2 already propagates it.
    e / (d * d)
}
