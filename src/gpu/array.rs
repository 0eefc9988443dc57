//! Device-resident arrays. A `GpuArray` is immutable: every op writes a new
//! buffer, so arrays can share one (a reshape is a new shape over the same
//! buffer) and clones are cheap.

use std::sync::Arc;

use ndarray::{ArrayBase, ArrayD, Data, Dimension, IxDyn};

use super::Gpu;
use super::pool::PooledBuffer;
use super::runtime::Binding;
use crate::error::{Error, Result};

/// An f32 array in device memory, in row-major order.
#[derive(Clone)]
pub struct GpuArray {
    pub(crate) gpu: Gpu,
    /// `None` for an empty array: wgpu has no zero-sized bindings, and an empty
    /// op has nothing to dispatch.
    pub(crate) data: Option<Arc<PooledBuffer>>,
    pub(crate) shape: Vec<usize>,
}

impl std::fmt::Debug for GpuArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuArray")
            .field("shape", &self.shape)
            .finish()
    }
}

impl Gpu {
    /// Copies an array (any layout, any rank) to the device.
    pub fn upload<S, D>(&self, x: &ArrayBase<S, D>) -> Result<GpuArray>
    where
        S: Data<Elem = f32>,
        D: Dimension,
    {
        self.upload_as("upload", "array", x)
    }

    /// `upload` on behalf of `op`: errors are `op`'s, and name the array as
    /// `what` ("input", "input 1") with its shape.
    pub(crate) fn upload_as<S, D>(
        &self,
        op: &'static str,
        what: &str,
        x: &ArrayBase<S, D>,
    ) -> Result<GpuArray>
    where
        S: Data<Elem = f32>,
        D: Dimension,
    {
        let shape = x.shape().to_vec();
        if x.is_empty() {
            return Ok(GpuArray {
                gpu: self.clone(),
                data: None,
                shape,
            });
        }
        let standard = x.as_standard_layout();
        let slice = standard.as_slice().expect("standard layout is contiguous");
        let buf = self
            .inner
            .rt
            .upload(op, slice)
            .map_err(|e| e.about(format!("{what} of shape {shape:?}")))?;
        Ok(GpuArray {
            gpu: self.clone(),
            data: Some(Arc::new(buf)),
            shape,
        })
    }
}

impl GpuArray {
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The context this array lives on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Reads the array back (submitting any recorded work first).
    pub fn to_array(&self) -> Result<ArrayD<f32>> {
        self.to_array_as("to_array", "array")
    }

    /// `to_array` on behalf of `op`, errors naming the array as `what`.
    pub(crate) fn to_array_as(&self, op: &'static str, what: &str) -> Result<ArrayD<f32>> {
        let data = match &self.data {
            Some(buf) => self
                .gpu
                .inner
                .rt
                .read(op, &buf.buffer, self.len())
                .map_err(|e| {
                    e.about(format!("reading back the {what} of shape {:?}", self.shape))
                })?,
            None => Vec::new(),
        };
        Ok(ArrayD::from_shape_vec(IxDyn(&self.shape), data).expect("buffer holds len() values"))
    }

    /// The same data under another shape with the same number of elements
    /// (row-major, like numpy's reshape). No copy.
    pub fn reshape(&self, shape: &[usize]) -> Result<GpuArray> {
        if shape.iter().product::<usize>() != self.len() {
            return Err(Error::shape(
                "reshape",
                format!(
                    "cannot view shape {:?} as {shape:?}: element counts differ",
                    self.shape
                ),
            ));
        }
        Ok(GpuArray {
            gpu: self.gpu.clone(),
            data: self.data.clone(),
            shape: shape.to_vec(),
        })
    }

    /// A (length, height, depth) image as a (length*height*depth, 1) column: a new
    /// shape over the same buffer, no copy.
    pub fn image2vector(&self) -> Result<GpuArray> {
        if self.shape.len() != 3 {
            return Err(Error::shape(
                "image2vector",
                format!(
                    "expects a 3-D (length, height, depth) image, got shape {:?}",
                    self.shape
                ),
            ));
        }
        self.reshape(&[self.len(), 1])
    }

    /// A new, uninitialised array of `shape` on the same device.
    pub(crate) fn alloc_like(&self, op: &'static str, shape: Vec<usize>) -> Result<GpuArray> {
        let n: usize = shape.iter().product();
        let data = if n == 0 {
            None
        } else {
            Some(Arc::new(
                self.gpu
                    .inner
                    .rt
                    .alloc(op, n)
                    .map_err(|e| e.about(format!("array of shape {shape:?}")))?,
            ))
        };
        Ok(GpuArray {
            gpu: self.gpu.clone(),
            data,
            shape,
        })
    }

    pub(crate) fn check_same_gpu(&self, op: &'static str, other: &GpuArray) -> Result<()> {
        if self.gpu.same(&other.gpu) {
            Ok(())
        } else {
            Err(Error::ContextMismatch { op })
        }
    }

    /// The binding of elements `start .. start + len` (a window), padded to whole vec4s.
    pub(crate) fn window(&self, start: usize, len: usize) -> Binding<'_> {
        let buf = self
            .data
            .as_ref()
            .expect("windows are taken of non-empty arrays");
        Binding {
            buffer: &buf.buffer,
            offset: start as u64 * 4,
            size: (len as u64).div_ceil(4) * 16,
        }
    }
}
