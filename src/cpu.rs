//! The CPU backend: ndarray, vectorized. It is the reference the GPU results are
//! checked against in examples and the demo (the tests check every backend against
//! a float64 oracle instead, so a change here cannot move the yardstick).

use ndarray::{Array2, ArrayD, ArrayView3, ArrayViewD, Zip};

use crate::backend::{Backend, check_same_shape, stable_sigmoid, stable_sigmoid_derivative};
use crate::error::{Error, Result};

/// ndarray backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cpu;

impl Backend for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn basic_sigmoid(&self, x: f32) -> Result<f32> {
        Ok(stable_sigmoid(x))
    }

    fn sigmoid(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        Ok(x.mapv(stable_sigmoid))
    }

    fn sigmoid_derivative(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        Ok(x.mapv(stable_sigmoid_derivative))
    }

    fn multiply(&self, a: ArrayViewD<'_, f32>, b: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        check_same_shape("multiply", a.shape(), b.shape())?;
        Ok(Zip::from(&a).and(&b).map_collect(|&x, &y| x * y))
    }

    fn image2vector(&self, image: ArrayView3<'_, f32>) -> Result<Array2<f32>> {
        let n = image.len();
        image
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((n, 1))
            .map_err(|e| Error::shape("image2vector", e.to_string()))
    }
}
