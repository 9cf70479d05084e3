//! Local Lipschitz constants of an MLP (the paper's Fig. 1, middle): for each image x, σ_max of the
//! Jacobian J(x) = ∂logits/∂x [C, D_0] with respect to the *normalised* input, on the GPU.
//!
//! How J is formed: by back-propagation, C rows per image in one batched backward pass. Each image is
//! gathered C times in a row (rows i·C .. i·C+C−1 are copies of image i), the forward pass runs on those
//! rows, and the backward pass is seeded with δ_L = e_k for row i·C+k (a tiled C×C identity, written once).
//! The input gradient of row i·C+k is then ∂logit_k/∂x_i, i.e. row k of J(x_i). Repeating the image in the
//! forward pass costs C× its forward work but gives every backward row its image's own ReLU masks through
//! the fused-mask matmul the training step already uses, with no new kernel and no per-logit passes
//! (C separate backward passes over B rows would do the same arithmetic in C× as many dispatches). The
//! forward over the repeated rows costs as much as the backward's input-gradient matmuls, so at most a
//! third of the work is redundant. The parameter gradients the backward also writes are ignored.
//!
//! Then `ops::gram::block_gram` forms G_i = J_i·J_iᵀ (C×C) per image on the GPU, only those C² floats per
//! image are read back, and σ_max = √λ_max(G_i) comes from a Jacobi eigen-solve in f64 on the host.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Program, Tensor};
use crate::nn::{Model, Activations};
use crate::ops::gather::{self, GpuImages};
use crate::ops::gram;
use crate::train::eval::{MNIST_MEAN, MNIST_STD};

/// Images per GPU pass: C·chunk rows of activations (≈ 11 MB for MLP-3-400 at 100 images).
pub const CHUNK: usize = 100;

/// Buffers for `images` images (C rows each), seeded with the tiled identity, and the Jacobian [C·images, D_0].
fn jacobian_buffers(gpu: &Gpu, model: &Model, images: usize) -> Result<(Activations, Tensor)> {
    // The seed ∂logits/∂z_L = I holds because ModelSpec::new requires linear logits (no final ReLU).
    let c = model.spec.classes();
    let buf = model.activations(gpu, c * images);
    let seed: Vec<f32> = (0..c * images).flat_map(|r| (0..c).map(move |k| if r % c == k { 1.0 } else { 0.0 })).collect();
    gpu.write_f32(buf.delta.last().expect("an MLP has layers"), &seed)?;
    let jac = gpu.zeros(&[c * images, model.spec.input_len()]);
    Ok((buf, jac))
}

/// Records the forward pass over `buf.x[0]` (each image repeated C times) and the seeded backward pass
/// into `jac`.
fn record_jacobian(gpu: &Gpu, prog: &mut Program, model: &Model, buf: &Activations, jac: &Tensor) -> Result<()> {
    model.forward(gpu, prog, buf)?;
    model.backward_from(gpu, prog, buf, Some(jac))
}

/// J(x) for inputs given on the host ([n, D_0], already normalised): [n·C, D_0], rows i·C+k = ∂logit_k/∂x_i.
/// (For tests and small checks; the data-set path below never reads a Jacobian back.)
pub fn jacobians(gpu: &Gpu, model: &Model, inputs: &[f32]) -> Result<Vec<f32>> {
    let (c, d0) = (model.spec.classes(), model.spec.input_len());
    if inputs.is_empty() || !inputs.len().is_multiple_of(d0) {
        return Err(Error::shape("jacobians", format!("{} input values are not whole rows of {d0}", inputs.len())));
    }
    let n = inputs.len() / d0;
    let (buf, jac) = jacobian_buffers(gpu, model, n)?;
    let repeated: Vec<f32> = inputs.chunks(d0).flat_map(|row| std::iter::repeat_n(row, c).flatten().copied()).collect();
    gpu.write_f32(&buf.x[0], &repeated)?;
    let mut prog = Program::new();
    record_jacobian(gpu, &mut prog, model, &buf, &jac)?;
    gpu.run(&prog);
    gpu.to_vec_f32(&jac)
}

/// σ_max(J(x_i)) for the first `n` images of `data` (normalised as in training), in order. `done(k)` is
/// called after each chunk with the number of images finished (a progress bar).
pub fn local_lipschitz(gpu: &Gpu, model: &Model, data: &GpuImages, n: usize, done: &dyn Fn(usize)) -> Result<Vec<f64>> {
    let c = model.spec.classes();
    if n == 0 || n > data.rows {
        return Err(Error::Other(format!("local Lipschitz constants: asked for {n} images, the set has {}", data.rows)));
    }
    if data.row_len != model.spec.input_len() {
        return Err(Error::Other(format!("local Lipschitz constants: images of {} values, the model takes {}", data.row_len, model.spec.input_len())));
    }
    // Image i, C times in a row: the gather builds the repeated batch on the GPU.
    let stream: Vec<u32> = (0..n as u32).flat_map(|i| std::iter::repeat_n(i, c)).collect();
    let indices = gpu.upload_u32(&[stream.len()], &stream)?;
    let mut sigmas = Vec::with_capacity(n);
    let mut full: Option<(Activations, Tensor, Tensor)> = None;
    for first in (0..n).step_by(CHUNK) {
        let m = CHUNK.min(n - first);
        let make = || -> Result<(Activations, Tensor, Tensor)> {
            let (buf, jac) = jacobian_buffers(gpu, model, m)?;
            Ok((buf, jac, gpu.zeros(&[m, c, c])))
        };
        // Every full chunk reuses one set of buffers; a last partial chunk gets its own.
        let last;
        let (buf, jac, grams) = if m == CHUNK {
            if full.is_none() {
                full = Some(make()?);
            }
            full.as_ref().expect("just made")
        } else {
            last = make()?;
            &last
        };
        let mut prog = Program::new();
        gather::gather_normalize(gpu, &mut prog, data, &indices, first * c, &[MNIST_MEAN], &[MNIST_STD], &buf.x[0], &buf.labels)?;
        record_jacobian(gpu, &mut prog, model, buf, jac)?;
        gram::block_gram(gpu, &mut prog, jac, c, grams)?;
        gpu.run(&prog);
        let g = gpu.to_vec_f32(grams)?;
        sigmas.extend(g.chunks(c * c).map(|gi| super::eigen::sigma_max_from_gram(gi, c)));
        done(first + m);
    }
    Ok(sigmas)
}
