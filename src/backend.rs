//! The interface every backend implements: one method per op, ndarray views in,
//! owned arrays out (and, for the elementwise ops, the row ops and outer,
//! `_into` variants that write into the caller's array). Tests, benches and the CLI loop over
//! `&dyn Backend`.

use ndarray::{
    Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD, ArrayViewMut2,
    ArrayViewMutD, Axis,
};

use crate::error::{Error, Result};
use crate::unary::Unary;

/// Each unary op's two methods, calling `unary` and `unary_into`.
macro_rules! unary_methods {
    ($($(#[$doc:meta])* $variant:ident $method:ident $into:ident $def:path;)*) => {$(
        $(#[$doc])*
        fn $method(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
            self.unary(Unary::$variant, x)
        }

        #[doc = concat!("`", stringify!($method), "` written into `out` (x's shape), as [`Backend::unary_into`].")]
        fn $into(&self, x: ArrayViewD<'_, f32>, out: ArrayViewMutD<'_, f32>) -> Result<()> {
            self.unary_into(Unary::$variant, x, out)
        }
    )*};
}

/// One method per op of the exercise. Views may be non-contiguous (transposed,
/// stepped slices); every backend accepts them.
///
/// Accuracy: `multiply` and `image2vector` are exact on every backend (subnormals
/// aside on a GPU that flushes them; see the README's edges); the sigmoids' bounds
/// are on their methods; the row ops' and the products' bounds per backend, and
/// how each is derived, are in docs/testing.md and beside their tests.
pub trait Backend: Send + Sync {
    /// Short name used in test and bench labels: `naive`, `cpu`, `gpu`.
    fn name(&self) -> &'static str;

    /// The exercise's scalar sigmoid, 1 / (1 + e^-x), for one number.
    fn basic_sigmoid(&self, x: f32) -> Result<f32>;

    /// A unary elementwise op over any shape (its bounds and edges are on its
    /// method: `sigmoid`, `sigmoid_derivative`, ...; see [`Unary`]).
    fn unary(&self, op: Unary, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>>;

    /// `unary` written into `out`, which must have x's shape (numpy's `out=`).
    /// The CPU backend writes straight into a contiguous `out`, so a loop that
    /// reuses one output skips allocating and first-touching fresh memory (for
    /// 40 MB, the kernel's page zeroing costs about as much as the op); the
    /// other backends compute a fresh array and copy it in.
    fn unary_into(
        &self,
        op: Unary,
        x: ArrayViewD<'_, f32>,
        mut out: ArrayViewMutD<'_, f32>,
    ) -> Result<()> {
        check_out(op.into_name(), out.shape(), x.shape())?;
        out.assign(&self.unary(op, x)?);
        Ok(())
    }

    crate::unary::for_each_unary!(unary_methods);

    /// Elementwise product of two arrays of the same shape (no broadcasting).
    fn multiply(&self, a: ArrayViewD<'_, f32>, b: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>>;

    /// A (length, height, depth) image as a (length*height*depth, 1) column, in
    /// row-major order.
    fn image2vector(&self, image: ArrayView3<'_, f32>) -> Result<Array2<f32>>;

    /// Each row divided by its L2 norm. A row of zeros stays zeros (numpy would
    /// give NaN); any magnitude works (no overflow in the squares); a row holding
    /// NaN or +-inf becomes all NaN. Zero rows in, zero rows out.
    fn normalize_rows(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.normalize_rows_axis(x, Axis(1))
    }

    /// `normalize_rows` along `axis` as numpy counts axes: `Axis(1)` normalizes
    /// each row, `Axis(0)` each column (the same as transposing, normalizing the
    /// rows, and transposing back).
    fn normalize_rows_axis(&self, x: ArrayView2<'_, f32>, axis: Axis) -> Result<Array2<f32>>;

    /// Row softmax, e^(x_i - max) / sum_j e^(x_j - max): never overflows for
    /// finite input; -inf entries give 0; a row of only -inf, or holding NaN or
    /// +inf, becomes all NaN (as in PyTorch). Rows of length 0 are an error (no
    /// maximum); zero rows in, zero rows out.
    fn softmax(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.softmax_axis(x, Axis(1))
    }

    /// `softmax` along `axis`: `Axis(1)` over each row, `Axis(0)` over each column.
    fn softmax_axis(&self, x: ArrayView2<'_, f32>, axis: Axis) -> Result<Array2<f32>>;

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

    /// `multiply` written into `out` (the inputs' shape), as `unary_into`.
    fn multiply_into(
        &self,
        a: ArrayViewD<'_, f32>,
        b: ArrayViewD<'_, f32>,
        mut out: ArrayViewMutD<'_, f32>,
    ) -> Result<()> {
        check_same_shape("multiply_into", a.shape(), b.shape())?;
        check_out("multiply_into", out.shape(), a.shape())?;
        out.assign(&self.multiply(a, b)?);
        Ok(())
    }

    /// `softmax` (over each row) written into `out`, which must have x's
    /// shape, as `unary_into`. Bad input is softmax's error.
    fn softmax_into(&self, x: ArrayView2<'_, f32>, mut out: ArrayViewMut2<'_, f32>) -> Result<()> {
        check_out("softmax_into", out.shape(), x.shape())?;
        out.assign(&self.softmax(x)?);
        Ok(())
    }

    /// `normalize_rows` written into `out` (x's shape), as `unary_into`.
    fn normalize_rows_into(
        &self,
        x: ArrayView2<'_, f32>,
        mut out: ArrayViewMut2<'_, f32>,
    ) -> Result<()> {
        check_out("normalize_rows_into", out.shape(), x.shape())?;
        out.assign(&self.normalize_rows(x)?);
        Ok(())
    }

    /// `outer` written into `out` of shape (len(a), len(b)), as `unary_into`.
    fn outer_into(
        &self,
        a: ArrayView1<'_, f32>,
        b: ArrayView1<'_, f32>,
        mut out: ArrayViewMut2<'_, f32>,
    ) -> Result<()> {
        check_out("outer_into", out.shape(), &[a.len(), b.len()])?;
        out.assign(&self.outer(a, b)?);
        Ok(())
    }
}

/// An `_into` op's output must have the result's shape.
pub(crate) fn check_out(op: &'static str, out: &[usize], result: &[usize]) -> Result<()> {
    if out == result {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!(
                "out has shape {}, the result has {}",
                dims(out),
                dims(result)
            ),
        ))
    }
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

/// The two row reductions, for the code they share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RowOp {
    Softmax,
    Normalize,
}

impl RowOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RowOp::Softmax => "softmax",
            RowOp::Normalize => "normalize_rows",
        }
    }
}

/// Checks shared by every backend's row ops: a valid axis, and for softmax a
/// non-empty reduction (numpy's max of an empty row raises too).
pub(crate) fn check_rows(op: RowOp, shape: &[usize], axis: usize) -> Result<()> {
    if axis > 1 {
        return Err(Error::shape(
            op.name(),
            format!("axis {axis} is out of range for a 2-D array of shape {shape:?}"),
        ));
    }
    let (len, count) = (shape[axis], shape[1 - axis]);
    if op == RowOp::Softmax && len == 0 && count > 0 {
        return Err(Error::shape(
            "softmax",
            format!("shape {shape:?}: softmax along axis {axis} of length 0 is undefined"),
        ));
    }
    Ok(())
}

/// The largest power of two <= |a| (its exponent bits), at least the smallest
/// normal: dividing by it is exact and leaves a value in [1, 2). The same
/// function as `pow2_floor` in shaders/rows.wgsl.
#[inline]
pub(crate) fn pow2_floor(a: f32) -> f32 {
    f32::from_bits(a.abs().to_bits() & 0x7f80_0000).max(f32::MIN_POSITIVE)
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
/// branch can produce inf/inf. The scalar paths' sigmoid (the CPU backend's
/// array ops use the branch-free form in src/unary/sigmoid.rs, same formula).
#[inline]
pub(crate) fn stable_sigmoid(x: f32) -> f32 {
    let e = (-x.abs()).exp();
    if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}
