//! The interface every backend implements: one method per op, ndarray views in,
//! owned arrays out. Tests, benches and the CLI loop over `&dyn Backend`.

use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD};

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

    /// Inner product of two vectors of the same length: sum_i a_i b_i. Empty gives 0.
    fn dot(&self, a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> Result<f32>;

    /// Outer product: out[i][j] = a[i] b[j], of shape (len(a), len(b)).
    fn outer(&self, a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> Result<Array2<f32>>;

    /// The exercise's "general dot": W (m x k) times x (k), a vector of m.
    fn matvec(&self, w: ArrayView2<'_, f32>, x: ArrayView1<'_, f32>) -> Result<Array1<f32>>;

    /// Matrix product A (m x k) times B (k x n). k = 0 gives zeros (as numpy).
    fn matmul(&self, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Result<Array2<f32>>;

    /// L1 loss: sum_i |y_i - yhat_i|. Empty gives 0.
    fn l1(&self, yhat: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Result<f32>;

    /// L2 loss: sum_i (y_i - yhat_i)^2. Empty gives 0.
    fn l2(&self, yhat: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Result<f32>;
}

/// A shape written as numpy prints it: `(3,)`, `(3, 4)`, `()`.
pub(crate) fn dims(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// dot, l1 and l2 take two vectors of one length.
pub(crate) fn check_same_len(op: &'static str, a: &[usize], b: &[usize]) -> Result<()> {
    if a.len() != 1 || b.len() != 1 {
        return Err(Error::shape(
            op,
            format!("expects two vectors, got {} and {}", dims(a), dims(b)),
        ));
    }
    if a == b {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!("{} and {}: lengths differ", dims(a), dims(b)),
        ))
    }
}

/// matvec (2-D x 1-D) and matmul (2-D x 2-D): a's columns must equal b's rows.
pub(crate) fn check_inner(op: &'static str, a: &[usize], b: &[usize], b_rank: usize) -> Result<()> {
    if a.len() != 2 || b.len() != b_rank {
        let want = if b_rank == 1 {
            "a matrix and a vector"
        } else {
            "two matrices"
        };
        return Err(Error::shape(
            op,
            format!("expects {want}, got {} and {}", dims(a), dims(b)),
        ));
    }
    if a[1] == b[0] {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!("{} x {}: inner dimensions differ", dims(a), dims(b)),
        ))
    }
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
