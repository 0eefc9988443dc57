//! The ops by name, for code that picks them at run time (the CLI's `apply` and
//! `bench`): arity, whether an axis applies, and one entry point that checks ranks
//! and dispatches to a `Backend` (host arrays) or to `GpuArray` (resident).

use ndarray::{ArrayD, ArrayViewD, Axis, Ix1, Ix2, Ix3, IxDyn};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::gpu::GpuArray;
use crate::unary::{Unary, for_each_unary};

/// Every op of the exercise, named as in the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// sigmoid, sigmoid_derivative and the other activations: see [`Unary`].
    Unary(Unary),
    Image2vector,
    NormalizeRows,
    Softmax,
    Multiply,
    Dot,
    Outer,
    Matvec,
    Matmul,
    L1,
    L2,
}

/// `Op::ALL`: the unary ops in their list's order, then the others.
macro_rules! all_ops {
    ($($(#[$doc:meta])* $variant:ident $method:ident $into:ident $def:path;)*) => {
        impl Op {
            pub const ALL: &'static [Op] = &[
                $(Op::Unary(Unary::$variant),)*
                Op::Image2vector,
                Op::NormalizeRows,
                Op::Softmax,
                Op::Multiply,
                Op::Dot,
                Op::Outer,
                Op::Matvec,
                Op::Matmul,
                Op::L1,
                Op::L2,
            ];
        }
    };
}
for_each_unary!(all_ops);

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Unary(u) => u.name(),
            Op::Image2vector => "image2vector",
            Op::NormalizeRows => "normalize_rows",
            Op::Softmax => "softmax",
            Op::Multiply => "multiply",
            Op::Dot => "dot",
            Op::Outer => "outer",
            Op::Matvec => "matvec",
            Op::Matmul => "matmul",
            Op::L1 => "l1",
            Op::L2 => "l2",
        }
    }

    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.name() == name)
    }

    /// How many input arrays the op takes.
    pub fn arity(self) -> usize {
        match self {
            Op::Unary(_) | Op::Image2vector | Op::NormalizeRows | Op::Softmax => 1,
            _ => 2,
        }
    }

    /// Whether the op reduces along an axis (and so accepts one).
    pub fn has_axis(self) -> bool {
        matches!(self, Op::NormalizeRows | Op::Softmax)
    }

    fn check(self, shapes: &[&[usize]], axis: Option<usize>) -> Result<()> {
        if shapes.len() != self.arity() {
            return Err(Error::shape(
                self.name(),
                format!("takes {} input(s), got {}", self.arity(), shapes.len()),
            ));
        }
        if axis.is_some() && !self.has_axis() {
            return Err(Error::shape(self.name(), "takes no axis"));
        }
        Ok(())
    }

    /// Runs the op on host arrays. `axis` defaults to 1 (rows) where it applies.
    pub fn run(
        self,
        b: &dyn Backend,
        inputs: &[ArrayViewD<'_, f32>],
        axis: Option<usize>,
    ) -> Result<ArrayD<f32>> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|a| a.shape()).collect();
        self.check(&shapes, axis)?;
        let ax = Axis(axis.unwrap_or(1));
        let x = inputs[0].view();
        Ok(match self {
            Op::Unary(u) => b.unary(u, x)?,
            Op::Image2vector => b.image2vector(rank::<Ix3>(self, x)?)?.into_dyn(),
            Op::NormalizeRows => b.normalize_rows_axis(rank::<Ix2>(self, x)?, ax)?.into_dyn(),
            Op::Softmax => b.softmax_axis(rank::<Ix2>(self, x)?, ax)?.into_dyn(),
            Op::Multiply => b.multiply(x, inputs[1].view())?,
            Op::Dot => scalar(b.dot(rank::<Ix1>(self, x)?, rank::<Ix1>(self, inputs[1].view())?)?),
            Op::Outer => b
                .outer(rank::<Ix1>(self, x)?, rank::<Ix1>(self, inputs[1].view())?)?
                .into_dyn(),
            Op::Matvec => b
                .matvec(rank::<Ix2>(self, x)?, rank::<Ix1>(self, inputs[1].view())?)?
                .into_dyn(),
            Op::Matmul => b
                .matmul(rank::<Ix2>(self, x)?, rank::<Ix2>(self, inputs[1].view())?)?
                .into_dyn(),
            Op::L1 => scalar(b.l1(rank::<Ix1>(self, x)?, rank::<Ix1>(self, inputs[1].view())?)?),
            Op::L2 => scalar(b.l2(rank::<Ix1>(self, x)?, rank::<Ix1>(self, inputs[1].view())?)?),
        })
    }

    /// Runs the op on resident arrays, leaving the result on the device.
    pub fn run_resident(self, inputs: &[&GpuArray], axis: Option<usize>) -> Result<GpuArray> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|a| a.shape()).collect();
        self.check(&shapes, axis)?;
        let (x, ax) = (inputs[0], axis.unwrap_or(1));
        match self {
            Op::Unary(u) => x.unary(u),
            Op::Image2vector => x.image2vector(),
            Op::NormalizeRows => x.normalize_rows_axis(ax),
            Op::Softmax => x.softmax_axis(ax),
            Op::Multiply => x.multiply(inputs[1]),
            Op::Dot => x.dot(inputs[1]),
            Op::Outer => x.outer(inputs[1]),
            Op::Matvec => x.matvec(inputs[1]),
            Op::Matmul => x.matmul(inputs[1]),
            Op::L1 => x.l1(inputs[1]),
            Op::L2 => x.l2(inputs[1]),
        }
    }

    /// Elements of the op's result for inputs of `shapes`; an error names the op
    /// and the shapes when there are too few inputs or a product's input is not 2-D.
    pub fn output_elems(self, shapes: &[&[usize]]) -> Result<u64> {
        self.check(shapes, None)?;
        let elems = |s: &[usize]| s.iter().product::<usize>() as u64;
        Ok(match self {
            Op::Dot | Op::L1 | Op::L2 => 1,
            Op::Outer => elems(shapes[0]) * elems(shapes[1]),
            Op::Matvec => self.matrix(shapes, 0)?[0] as u64,
            Op::Matmul => (self.matrix(shapes, 0)?[0] * self.matrix(shapes, 1)?[1]) as u64,
            _ => elems(shapes[0]),
        })
    }

    /// Bytes an op must move at least (each input read once, the result written
    /// once), for throughput figures.
    pub fn min_bytes(self, shapes: &[&[usize]]) -> Result<u64> {
        let inputs: u64 = shapes
            .iter()
            .map(|s| s.iter().product::<usize>() as u64)
            .sum();
        Ok(4 * (inputs + self.output_elems(shapes)?))
    }

    /// Floating-point operations of the products (0 for the ops measured in GB/s):
    /// a multiply and an add per term of dot, matvec and matmul, one multiply per
    /// entry of outer.
    pub fn flops(self, shapes: &[&[usize]]) -> Result<u64> {
        self.check(shapes, None)?;
        let n = |i: usize| shapes[i].iter().product::<usize>() as u64;
        Ok(match self {
            Op::Dot => 2 * n(0),
            Op::Outer => n(0) * n(1),
            Op::Matvec => 2 * n(0),
            Op::Matmul => 2 * n(0) * self.matrix(shapes, 1)?[1] as u64,
            _ => 0,
        })
    }

    /// Input `i`'s shape, which must be 2-D.
    fn matrix<'a>(self, shapes: &[&'a [usize]], i: usize) -> Result<&'a [usize]> {
        match shapes[i] {
            s @ [_, _] => Ok(s),
            s => Err(Error::shape(
                self.name(),
                format!("expects a 2-D array as input {i}, got shape {s:?}"),
            )),
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn rank<D: ndarray::Dimension>(
    op: Op,
    x: ArrayViewD<'_, f32>,
) -> Result<ndarray::ArrayView<'_, f32, D>> {
    let shape = x.shape().to_vec();
    x.into_dimensionality::<D>().map_err(|_| {
        let want = D::NDIM
            .map(|n| format!("a {n}-D"))
            .unwrap_or_else(|| "an".into());
        Error::shape(
            op.name(),
            format!("expects {want} array, got shape {shape:?}"),
        )
    })
}

/// A scalar result as a 0-d array (how `apply` writes it to .npy).
fn scalar(v: f32) -> ArrayD<f32> {
    ArrayD::from_elem(IxDyn(&[]), v)
}

#[cfg(test)]
mod tests {
    use super::Op;

    #[test]
    fn sizes_of_the_products() {
        let (a, b): (&[usize], &[usize]) = (&[2, 3], &[3, 4]);
        assert_eq!(Op::Matmul.output_elems(&[a, b]).unwrap(), 8);
        assert_eq!(Op::Matmul.flops(&[a, b]).unwrap(), 2 * 2 * 3 * 4);
        assert_eq!(Op::Matmul.min_bytes(&[a, b]).unwrap(), 4 * (6 + 12 + 8));
        assert_eq!(Op::Matvec.output_elems(&[a, &[3]]).unwrap(), 2);
        assert_eq!(Op::Outer.flops(&[&[5], &[7]]).unwrap(), 35);
        assert_eq!(
            Op::Unary(crate::Unary::Sigmoid)
                .min_bytes(&[&[10]])
                .unwrap(),
            80
        );
    }

    #[test]
    fn sizes_of_bad_shapes_are_errors() {
        // matvec's flops need only the element count, so its rank-0 case has no
        // flops error to check.
        for (op, shapes, needle, flops_too) in [
            (
                Op::Matmul,
                vec![&[2usize, 3][..]],
                "2 input(s), got 1",
                true,
            ),
            (Op::Matmul, vec![&[2, 3][..], &[3][..]], "[3]", true),
            (Op::Matvec, vec![&[][..], &[3][..]], "[]", false),
            (Op::Dot, vec![], "2 input(s), got 0", true),
        ] {
            let mut results = vec![op.output_elems(&shapes), op.min_bytes(&shapes)];
            if flops_too {
                results.push(op.flops(&shapes));
            }
            for r in results {
                let e = r.expect_err("a bad shape").to_string();
                assert!(e.contains(op.name()) && e.contains(needle), "{e}");
            }
        }
    }
}
