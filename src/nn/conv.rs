//! Convolution and pooling layers (the VGG building blocks), as recorded dispatches with their backward
//! passes, in the same shape as [`Dense`](super::Dense).
//!
//! Shapes (PyTorch's NCHW): x [N, Cin, H, W], W [Cout, Cin, 3, 3], b \[Cout\], y [N, Cout, H, W]
//! (3×3, stride 1, padding 1). Pools halve H and W (floor, as PyTorch's `MaxPool2d(2)`/`AvgPool2d(2)`).
//!
//! Unlike `Dense`, whose ReLU mask is fused into the next matmul, a conv is usually followed by a pool,
//! so the ReLU backward is a separate elementwise pass on the pooled gradient (`relu_backward`).

use crate::error::Result;
use crate::gpu::{Gpu, Program, Tensor};
use crate::ops::{conv2d, elementwise, pool2d};

#[derive(Clone)]
pub struct Conv2d {
    pub w: Tensor,
    pub b: Tensor,
    pub dw: Tensor,
    pub db: Tensor,
    /// ReLU fused into the forward pass.
    pub relu: bool,
}

impl Conv2d {
    /// y = act(conv(x, W) + b).
    pub fn forward(&self, gpu: &Gpu, prog: &mut Program, x: &Tensor, y: &Tensor) -> Result<()> {
        conv2d::forward(gpu, prog, x, &self.w, Some(&self.b), y, self.relu)
    }

    /// Given dz = ∂L/∂(pre-activation output) [N, Cout, H, W]: dW, db, and, if asked, dx = ∂L/∂x.
    /// With a fused ReLU, get dz from the gradient w.r.t. the output with [`Conv2d::relu_backward`].
    pub fn backward(&self, gpu: &Gpu, prog: &mut Program, x: &Tensor, dz: &Tensor, dx: Option<&Tensor>) -> Result<()> {
        conv2d::backward_weight(gpu, prog, x, dz, &self.dw)?;
        conv2d::backward_bias(gpu, prog, dz, &self.db)?;
        if let Some(dx) = dx {
            conv2d::backward_data(gpu, prog, dz, &self.w, dx)?;
        }
        Ok(())
    }

    /// dz = dy where the layer's output y > 0, else 0 (the ReLU's backward; a layer without ReLU passes dy
    /// to `backward` as dz directly).
    pub fn relu_backward(&self, gpu: &Gpu, prog: &mut Program, y: &Tensor, dy: &Tensor, dz: &Tensor) -> Result<()> {
        elementwise::relu_backward(gpu, prog, y, dy, dz)
    }
}

/// 2×2, stride 2 pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool2d {
    Max,
    Avg,
}

impl Pool2d {
    pub fn forward(self, gpu: &Gpu, prog: &mut Program, x: &Tensor, y: &Tensor) -> Result<()> {
        match self {
            Pool2d::Max => pool2d::max_forward(gpu, prog, x, y),
            Pool2d::Avg => pool2d::avg_forward(gpu, prog, x, y),
        }
    }

    /// dx from dy (max pooling recomputes each window's maximum from x).
    pub fn backward(self, gpu: &Gpu, prog: &mut Program, x: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<()> {
        match self {
            Pool2d::Max => pool2d::max_backward(gpu, prog, x, dy, dx),
            Pool2d::Avg => pool2d::avg_backward(gpu, prog, dy, dx),
        }
    }
}
