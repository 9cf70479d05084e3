//! GPU-resident tensors: a shape, an element type and a (pooled) storage buffer. Row-major, contiguous.
//!
//! Cloning a `Tensor` clones a handle, not the data. Data crosses to the host only through
//! `Gpu::read_f32` / `Gpu::read_u32`, which tests, metrics and checkpoints call, never the training step.

use std::sync::Arc;

use super::pool::PooledBuffer;

/// Element types the kernels use: f32 for values, u32 for labels, indices and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    U32,
}

#[derive(Clone)]
pub struct Tensor {
    pub(crate) buf: Arc<PooledBuffer>,
    shape: Vec<usize>,
    dtype: DType,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?}, {:?})", self.dtype, self.shape)
    }
}

impl Tensor {
    pub(crate) fn from_parts(buf: Arc<PooledBuffer>, shape: &[usize], dtype: DType) -> Self {
        Tensor { buf, shape: shape.to_vec(), dtype }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of data (the buffer itself may be padded beyond this).
    pub fn bytes(&self) -> u64 {
        self.len() as u64 * 4
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buf.buffer
    }

    /// The same data seen with another shape of the same length.
    pub fn reshape(&self, shape: &[usize]) -> crate::Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != self.len() {
            return Err(crate::Error::shape("reshape", format!("cannot view {:?} as {:?}", self.shape, shape)));
        }
        Ok(Tensor { buf: self.buf.clone(), shape: shape.to_vec(), dtype: self.dtype })
    }

    /// Rows and columns of a 2-D tensor, or an error naming `op`.
    pub fn dims2(&self, op: &'static str) -> crate::Result<(usize, usize)> {
        match self.shape[..] {
            [r, c] => Ok((r, c)),
            _ => Err(crate::Error::shape(op, format!("expected a 2-D tensor, got shape {:?}", self.shape))),
        }
    }

    /// Whether two handles share one buffer (kernels must not write a buffer they also read, unless designed to).
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }
}
