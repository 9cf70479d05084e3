//! `Model`: a `ModelSpec` on the GPU — its parameters in one `ParamStore`, its layers as views into it,
//! and the recorded forward / loss / backward passes. The same type runs every network of the paper.
//!
//! Activations (per batch of B examples, `Activations`): x\[0\] the input [B, ...input], x[i+1] the output
//! of layer i (after its ReLU, if any); a Flatten's output is its input's buffer reshaped. delta\[i\] is
//! ∂L/∂(layer i's pre-activation output) for a dense or conv layer, ∂L/∂(its output) for a pool.
//!
//! Backward through layer i writes ∂L/∂x\[i\] into the delta of the layer that produced x\[i\] (skipping
//! flattens), which must also apply that layer's ReLU mask: a dense layer fuses the mask into its
//! input-gradient matmul (the MLPs' only case); a conv or pool writes into a scratch buffer and one
//! elementwise pass applies the mask.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::params::{ParamClass, ParamStore};
use super::spec::{Init, LayerSpec, ModelSpec};
use super::{Conv2d, Dense, Pool2d};
use crate::error::Result;
use crate::gpu::{Gpu, Program, Tensor};
use crate::ops::{elementwise, softmax_xent};

/// A layer with its parameter views.
#[derive(Clone)]
pub enum Layer {
    Dense(Dense),
    Conv(Conv2d),
    Pool(Pool2d),
    Flatten,
}

/// One parameter layer's tensors (views into the store): weight, bias and their gradients.
#[derive(Clone)]
pub struct Weights {
    pub w: Tensor,
    pub b: Tensor,
    pub dw: Tensor,
    pub db: Tensor,
}

pub struct Model {
    pub spec: ModelSpec,
    pub store: ParamStore,
    pub layers: Vec<Layer>,
    /// Parameter layer p's tensors (`spec.param_layer_indexes()[p]` is its index in `layers`).
    pub weights: Vec<Weights>,
}

/// Activations and gradients for one batch size (allocated once, reused every step).
pub struct Activations {
    pub batch: usize,
    /// x\[0\] input [B, ...input], x[i+1] the output of layer i.
    pub x: Vec<Tensor>,
    /// delta\[i\]: gradient w.r.t. layer i's pre-activation output (empty for inference-only buffers).
    pub delta: Vec<Tensor>,
    /// \[B\] u32 class labels.
    pub labels: Tensor,
    /// \[1\]: the batch's mean cross-entropy after `loss_and_backward`.
    pub loss: Tensor,
    /// Gradients of conv/pool inputs before the producer's ReLU mask (as large as the largest such input).
    scratch: Option<Tensor>,
}

impl Model {
    /// Allocates the parameters (zeros; call `init` or upload values).
    pub fn new(gpu: &Gpu, spec: ModelSpec) -> Result<Model> {
        let store = ParamStore::new(gpu, &spec.param_entries())?;
        let weights: Vec<Weights> =
            (0..spec.depth()).map(|p| Weights { w: store.param(2 * p), b: store.param(2 * p + 1), dw: store.grad(2 * p), db: store.grad(2 * p + 1) }).collect();
        let mut p = 0;
        let layers = spec
            .layers
            .iter()
            .map(|l| match *l {
                LayerSpec::Dense { relu, .. } | LayerSpec::Conv3x3 { relu, .. } => {
                    let Weights { w, b, dw, db } = weights[p].clone();
                    p += 1;
                    if matches!(l, LayerSpec::Dense { .. }) { Layer::Dense(Dense { w, b, dw, db, relu }) } else { Layer::Conv(Conv2d { w, b, dw, db, relu }) }
                }
                LayerSpec::Pool(pool) => Layer::Pool(pool),
                LayerSpec::Flatten => Layer::Flatten,
            })
            .collect();
        Ok(Model { spec, store, layers, weights })
    }

    /// The spec's initialisation from a seeded ChaCha8 stream (the same values on every platform), in
    /// declaration order: PyTorch's default U(−1/√fan_in, 1/√fan_in) for weights and biases, or
    /// Kaiming-normal N(0, 2/fan_in) weights and zero biases.
    pub fn init_values(&self, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let fan_ins: Vec<usize> = self.spec.weight_shapes().into_iter().map(|(_, f)| f).collect();
        self.store
            .infos
            .iter()
            .enumerate()
            .map(|(i, info)| {
                let fan_in = fan_ins[i / 2] as f32;
                match (self.spec.init, info.class) {
                    (Init::PyTorchUniform, _) => {
                        let bound = 1.0 / fan_in.sqrt();
                        (0..info.len()).map(|_| rng.random_range(-bound..bound)).collect()
                    }
                    (Init::KaimingNormal, ParamClass::Bias) => vec![0.0; info.len()],
                    (Init::KaimingNormal, _) => {
                        let normal = Normal::new(0.0, (2.0 / fan_in).sqrt()).expect("a positive std");
                        (0..info.len()).map(|_| normal.sample(&mut rng)).collect()
                    }
                }
            })
            .collect()
    }

    pub fn init(&self, gpu: &Gpu, seed: u64) -> Result<()> {
        self.store.upload(gpu, &self.init_values(seed))
    }

    /// Buffers for training and back-propagation at batch size `batch`.
    pub fn activations(&self, gpu: &Gpu, batch: usize) -> Activations {
        self.alloc(gpu, batch, true)
    }

    /// Buffers for forward passes only (evaluation): no gradients.
    pub fn inference(&self, gpu: &Gpu, batch: usize) -> Activations {
        self.alloc(gpu, batch, false)
    }

    fn alloc(&self, gpu: &Gpu, batch: usize, backward: bool) -> Activations {
        let shapes = self.spec.shapes().expect("checked by ModelSpec::new");
        let batched = |s: &[usize]| [&[batch][..], s].concat();
        let mut x: Vec<Tensor> = vec![gpu.zeros(&batched(&shapes[0]))];
        for (i, l) in self.spec.layers.iter().enumerate() {
            let y = match l {
                LayerSpec::Flatten => x[i].reshape(&batched(&shapes[i + 1])).expect("same size"),
                _ => gpu.zeros(&batched(&shapes[i + 1])),
            };
            x.push(y);
        }
        let mut delta: Vec<Tensor> = Vec::new();
        let mut scratch_len = 0;
        if backward {
            for (i, l) in self.spec.layers.iter().enumerate() {
                let d = match (l, self.producer(i)) {
                    (LayerSpec::Flatten, Some(p)) => delta[p].reshape(&batched(&shapes[i + 1])).expect("same size"),
                    _ => gpu.zeros(&batched(&shapes[i + 1])),
                };
                delta.push(d);
                if self.needs_scratch(i) {
                    scratch_len = scratch_len.max(x[i].len());
                }
            }
        }
        Activations {
            batch,
            x,
            delta,
            labels: gpu.zeros_u32(&[batch]),
            loss: gpu.zeros(&[1]),
            scratch: (scratch_len > 0).then(|| gpu.zeros(&[scratch_len])),
        }
    }

    /// The layer whose output is layer i's input, looking through flattens (None: the model's input).
    fn producer(&self, i: usize) -> Option<usize> {
        (0..i).rev().find(|&j| self.spec.layers[j] != LayerSpec::Flatten)
    }

    /// Whether layer i's input gradient needs a separate ReLU-mask pass (a conv or pool below a ReLU).
    fn needs_scratch(&self, i: usize) -> bool {
        !matches!(self.spec.layers[i], LayerSpec::Dense { .. } | LayerSpec::Flatten) && self.producer(i).is_some_and(|p| self.spec.layers[p].relu())
    }

    /// x[1..] from x\[0\].
    pub fn forward(&self, gpu: &Gpu, prog: &mut Program, buf: &Activations) -> Result<()> {
        for (i, layer) in self.layers.iter().enumerate() {
            let (x, y) = (&buf.x[i], &buf.x[i + 1]);
            match layer {
                Layer::Dense(d) => d.forward(gpu, prog, x, y)?,
                Layer::Conv(c) => c.forward(gpu, prog, x, y)?,
                Layer::Pool(p) => p.forward(gpu, prog, x, y)?,
                Layer::Flatten => {}
            }
        }
        Ok(())
    }

    /// The mean cross-entropy of the logits into `buf.loss`, and every parameter's gradient of it into the
    /// store's gradient buffer (overwritten, not accumulated).
    pub fn loss_and_backward(&self, gpu: &Gpu, prog: &mut Program, buf: &Activations) -> Result<()> {
        let last = self.layers.len() - 1;
        softmax_xent::mean_loss_backward(gpu, prog, &buf.x[last + 1], &buf.labels, &buf.loss, &buf.delta[last])?;
        self.backward_from(gpu, prog, buf, None)
    }

    /// Back-propagates whatever upstream gradient is in the last delta (∂/∂logits: the last layer is
    /// linear): every parameter's gradient into the store's gradient buffer and, when `input_grad`
    /// ([B, ...] with as many elements as x\[0\]) is given, the gradient with respect to the input (local
    /// Lipschitz constants: seeded with unit vectors, it gives rows of the Jacobian of the logits). The last
    /// delta itself is only read.
    pub fn backward_from(&self, gpu: &Gpu, prog: &mut Program, buf: &Activations, input_grad: Option<&Tensor>) -> Result<()> {
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let x = &buf.x[i];
            // Where ∂L/∂x[i] goes, and whether the producer's ReLU mask must be applied on the way.
            let (dest, masked) = match self.producer(i) {
                Some(p) => (Some(buf.delta[p].reshape(x.shape())?), self.spec.layers[p].relu()),
                None => (input_grad.map(|t| t.reshape(x.shape())).transpose()?, false),
            };
            // Conv and pool write the unmasked gradient to scratch first when there is a mask to apply.
            let staged = match (&dest, masked, layer) {
                (Some(_), true, Layer::Conv(_) | Layer::Pool(_)) => Some(buf.scratch.as_ref().expect("allocated for masked layers").view(0, x.shape())?),
                _ => None,
            };
            let out = staged.as_ref().or(dest.as_ref());
            match layer {
                Layer::Dense(d) => d.backward(gpu, prog, x, &buf.delta[i], dest.as_ref(), masked)?,
                Layer::Conv(c) => c.backward(gpu, prog, x, &buf.delta[i], out)?,
                Layer::Pool(p) => {
                    if let Some(out) = out {
                        p.backward(gpu, prog, x, &buf.delta[i], out)?;
                    }
                }
                Layer::Flatten => {}
            }
            if let (Some(staged), Some(dest)) = (&staged, &dest) {
                elementwise::relu_backward(gpu, prog, x, staged, dest)?;
            }
        }
        Ok(())
    }
}

impl Activations {
    /// Uploads a batch (tests, the `step` command; training gathers on the GPU instead).
    pub fn set_batch(&self, gpu: &Gpu, inputs: &[f32], labels: &[u32]) -> Result<()> {
        gpu.write_f32(&self.x[0], inputs)?;
        gpu.write_u32(&self.labels, labels)?;
        Ok(())
    }

    /// GPU bytes these buffers occupy (a flatten's output shares its input's buffer).
    pub fn bytes(&self) -> u64 {
        let mut distinct: Vec<&Tensor> = Vec::new();
        for t in self.x.iter().chain(&self.delta).chain(&self.scratch).chain([&self.labels, &self.loss]) {
            if !distinct.iter().any(|d| d.same_buffer(t)) {
                distinct.push(t);
            }
        }
        distinct.iter().map(|t| t.bytes()).sum()
    }

    /// The logits [B, classes].
    pub fn logits(&self) -> &Tensor {
        self.x.last().expect("a model has layers")
    }
}
