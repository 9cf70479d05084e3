//! GPU-resident tensors: a shape, an element type and a (pooled) storage buffer. Row-major, contiguous.
//!
//! A tensor may be a view of part of a larger buffer (`Tensor::view`): a model keeps all its parameters
//! in one buffer, so one kernel can update them all, while each layer sees its own `[out, in]` tensor.
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
    /// First element of this tensor in the buffer.
    offset: usize,
    shape: Vec<usize>,
    dtype: DType,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?}, {:?}, offset {})", self.dtype, self.shape, self.offset)
    }
}

impl Tensor {
    pub(crate) fn from_parts(buf: Arc<PooledBuffer>, shape: &[usize], dtype: DType) -> Self {
        Tensor { buf, offset: 0, shape: shape.to_vec(), dtype }
    }

    /// A view of `shape` starting `offset` elements into this tensor. Kernels bind views at byte offsets,
    /// which must be multiples of the adapter's `min_storage_buffer_offset_alignment` (256 bytes covers all).
    pub fn view(&self, offset: usize, shape: &[usize]) -> crate::Result<Tensor> {
        let n: usize = shape.iter().product();
        if offset + n > self.len() {
            return Err(crate::Error::shape("view", format!("{shape:?} at offset {offset} does not fit in {:?}", self.shape)));
        }
        Ok(Tensor { buf: self.buf.clone(), offset: self.offset + offset, shape: shape.to_vec(), dtype: self.dtype })
    }

    /// First element of this tensor in its buffer.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Byte offset of this tensor in its buffer.
    pub fn byte_offset(&self) -> u64 {
        self.offset as u64 * 4
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

    /// Bytes of data (the buffer itself may extend beyond this).
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
        Ok(Tensor { buf: self.buf.clone(), offset: self.offset, shape: shape.to_vec(), dtype: self.dtype })
    }

    /// Rows and columns of a 2-D tensor, or an error naming `op`.
    pub fn dims2(&self, op: &'static str) -> crate::Result<(usize, usize)> {
        match self.shape[..] {
            [r, c] => Ok((r, c)),
            _ => Err(crate::Error::shape(op, format!("expected a 2-D tensor, got shape {:?}", self.shape))),
        }
    }

    /// Whether two tensors share a buffer. wgpu forbids binding one buffer both read-only and
    /// read-write in a dispatch, even for disjoint views, so kernels reject such outputs.
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }
}
