//! A fully connected layer, y = act(x·Wᵀ + b), with its backward pass, as recorded dispatches.
//!
//! Shapes: x [B, in], W [out, in] (PyTorch's layout), b \[out\], y [B, out].
//! The optional ReLU is fused into the forward matmul; its backward is fused into the *next* layer's
//! input-gradient matmul as a mask (ReLU(z) > 0 ⇔ z > 0, so the layer's own output is the mask).

use crate::error::Result;
use crate::gpu::{Gpu, Program, Tensor};
use crate::ops::matmul::MatMul;
use crate::ops::reduce;

#[derive(Clone)]
pub struct Dense {
    pub w: Tensor,
    pub b: Tensor,
    pub dw: Tensor,
    pub db: Tensor,
    pub relu: bool,
}

impl Dense {
    pub fn fan_in(&self) -> usize {
        self.w.shape()[1]
    }

    /// y = act(x·Wᵀ + b).
    pub fn forward(&self, gpu: &Gpu, prog: &mut Program, x: &Tensor, y: &Tensor) -> Result<()> {
        let mm = MatMul::new().trans_b().bias(&self.b);
        if self.relu { mm.relu() } else { mm }.record(gpu, prog, x, &self.w, y)
    }

    /// Given dy = ∂L/∂(pre-activation output) [B, out]: dW = dyᵀ·x, db = Σ_rows dy, and, if asked,
    /// dx = (dy·W) ⊙ \[x > 0\] — the gradient w.r.t. the previous layer's pre-activation when that layer
    /// ends in a ReLU (`x_is_relu_output`), else w.r.t. x itself.
    pub fn backward(&self, gpu: &Gpu, prog: &mut Program, x: &Tensor, dy: &Tensor, dx: Option<&Tensor>, x_is_relu_output: bool) -> Result<()> {
        MatMul::new().trans_a().record(gpu, prog, dy, x, &self.dw)?;
        reduce::column_sums(gpu, prog, dy, &self.db, 1.0, false)?;
        if let Some(dx) = dx {
            let mm = MatMul::new();
            if x_is_relu_output { mm.mask(x) } else { mm }.record(gpu, prog, dy, &self.w, dx)?;
        }
        Ok(())
    }
}
