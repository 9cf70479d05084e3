//! The paper's multilayer perceptrons: their specs, unit groups, initialisation, and the recorded
//! forward / loss / backward passes.
//!
//! Shape legend: B = batch, D_l = width of layer l (D_0 = 784 inputs, D_L = 10 classes).
//!   x_0 [B, D_0] input; z_l = x_{l-1}·W_lᵀ + b_l; x_l = ReLU(z_l) where the spec says so, else z_l;
//!   x_L [B, 10] logits; δ_l = ∂L/∂z_l [B, D_l]; W_l [D_l, D_{l-1}]; b_l [D_l].

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dense::Dense;
use super::params::{ParamClass, ParamStore};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Program, Tensor};
use crate::ops::softmax_xent;

/// Layer l (1-based as in the paper, stored 0-based) and whether a ReLU follows it.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    pub name: &'static str,
    /// D_0, D_1, ..., D_L.
    pub widths: Vec<usize>,
    /// ReLU after layer l (index l-1).
    pub relu: Vec<bool>,
    /// PathProx groups as (w layer, v layer) 0-based indexes: the units are the outputs of the w layer.
    /// Disjoint pairs; empty for models PathProx is not run on.
    pub groups: Vec<(usize, usize)>,
    /// Every hidden unit as (w layer, v layer): the neurons the penalties and "active units" count.
    pub units: Vec<(usize, usize)>,
}

impl MlpSpec {
    fn new(name: &'static str, width: usize, hidden: usize, relu: Vec<bool>, groups: Vec<(usize, usize)>) -> Self {
        let mut widths = vec![784];
        widths.extend(std::iter::repeat_n(width, hidden));
        widths.push(10);
        let units = if groups.is_empty() { (0..hidden).map(|l| (l, l + 1)).collect() } else { groups.clone() };
        MlpSpec { name, widths, relu, groups, units }
    }

    /// 784→400×5→10, ReLU after each of the first five layers; groups (l1,l2), (l3,l4), (l5,l6).
    pub fn mlp_6_400() -> Self {
        MlpSpec::new("mlp-6-400", 400, 5, vec![true, true, true, true, true, false], vec![(0, 1), (2, 3), (4, 5)])
    }

    /// The same six layers with ReLU only after l1, l3, l5 (l2 and l4 linear); the same groups.
    pub fn mlp_3_400_factorized() -> Self {
        MlpSpec::new("mlp-3-400-factorized", 400, 5, vec![true, false, true, false, true, false], vec![(0, 1), (2, 3), (4, 5)])
    }

    /// 784→800→800→800→10, ReLU after each hidden layer (Task 5 baselines; no PathProx groups).
    pub fn mlp_3_800() -> Self {
        MlpSpec::new("mlp-3-800", 800, 3, vec![true, true, true, false], vec![])
    }

    /// MLP-3-400 factorized with width 800 (Task 5, PathProx).
    pub fn mlp_3_800_factorized() -> Self {
        MlpSpec::new("mlp-3-800-factorized", 800, 5, vec![true, false, true, false, true, false], vec![(0, 1), (2, 3), (4, 5)])
    }

    pub const NAMES: [&'static str; 4] = ["mlp-6-400", "mlp-3-400-factorized", "mlp-3-800", "mlp-3-800-factorized"];

    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "mlp-6-400" => Ok(MlpSpec::mlp_6_400()),
            "mlp-3-400-factorized" => Ok(MlpSpec::mlp_3_400_factorized()),
            "mlp-3-800" => Ok(MlpSpec::mlp_3_800()),
            "mlp-3-800-factorized" => Ok(MlpSpec::mlp_3_800_factorized()),
            _ => Err(Error::Other(format!("unknown model '{name}'; expected one of {}", MlpSpec::NAMES.join(", ")))),
        }
    }

    /// A custom MLP (tests, the gradient check): widths D_0..D_L and the ReLU flags of layers 1..L.
    pub fn custom(widths: Vec<usize>, relu: Vec<bool>, groups: Vec<(usize, usize)>) -> Result<Self> {
        if widths.len() < 2 || relu.len() != widths.len() - 1 || widths.contains(&0) {
            return Err(Error::shape("MlpSpec", format!("widths {widths:?} need one ReLU flag per layer, got {}", relu.len())));
        }
        let layers = relu.len();
        if groups.iter().any(|&(w, v)| w >= layers || v >= layers || v != w + 1) {
            return Err(Error::shape("MlpSpec", format!("groups {groups:?} must pair consecutive layers of {layers}")));
        }
        let units = if groups.is_empty() { (0..layers - 1).map(|l| (l, l + 1)).collect() } else { groups.clone() };
        Ok(MlpSpec { name: "custom", widths, relu, groups, units })
    }

    pub fn layers(&self) -> usize {
        self.relu.len()
    }

    /// Parameter names, shapes and classes in declaration order: fc{l}.weight [out, in], fc{l}.bias [out].
    pub fn param_entries(&self) -> Vec<(String, Vec<usize>, ParamClass)> {
        let mut v = Vec::new();
        for l in 0..self.layers() {
            let grouped = self.units.iter().any(|&(w, vl)| w == l || vl == l);
            let class = if grouped { ParamClass::GroupedWeight } else { ParamClass::OtherWeight };
            v.push((format!("fc{}.weight", l + 1), vec![self.widths[l + 1], self.widths[l]], class));
            v.push((format!("fc{}.bias", l + 1), vec![self.widths[l + 1]], ParamClass::Bias));
        }
        v
    }
}

/// An MLP's parameters on the GPU and its layers as views into them.
pub struct Mlp {
    pub spec: MlpSpec,
    pub store: ParamStore,
    pub layers: Vec<Dense>,
}

/// Activations and gradients for one batch size (allocated once, reused every step).
pub struct MlpBuffers {
    pub batch: usize,
    /// x_0 .. x_L: input, hidden activations (after their ReLU, if any), logits.
    pub x: Vec<Tensor>,
    /// δ_1 .. δ_L (index l-1): gradients w.r.t. the pre-activations.
    pub delta: Vec<Tensor>,
    /// [B] u32 class labels.
    pub labels: Tensor,
    /// [1]: the batch's mean cross-entropy after `loss_and_backward`.
    pub loss: Tensor,
}

impl Mlp {
    /// Allocates the parameters (zeros; call `init` or upload values).
    pub fn new(gpu: &Gpu, spec: MlpSpec) -> Result<Mlp> {
        let store = ParamStore::new(gpu, &spec.param_entries())?;
        let layers = (0..spec.layers())
            .map(|l| Dense { w: store.param(2 * l), b: store.param(2 * l + 1), dw: store.grad(2 * l), db: store.grad(2 * l + 1), relu: spec.relu[l] })
            .collect();
        Ok(Mlp { spec, store, layers })
    }

    /// PyTorch's default initialisation, U(−1/√fan_in, 1/√fan_in) for weights and biases, from a seeded
    /// ChaCha8 stream (the same values on every platform), in declaration order.
    pub fn init_values(&self, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.store
            .infos
            .iter()
            .enumerate()
            .map(|(i, info)| {
                let fan_in = self.spec.widths[i / 2];
                let bound = 1.0 / (fan_in as f32).sqrt();
                (0..info.len()).map(|_| rng.random_range(-bound..bound)).collect()
            })
            .collect()
    }

    pub fn init(&self, gpu: &Gpu, seed: u64) -> Result<()> {
        self.store.upload(gpu, &self.init_values(seed))
    }

    pub fn buffers(&self, gpu: &Gpu, batch: usize) -> MlpBuffers {
        let w = &self.spec.widths;
        MlpBuffers {
            batch,
            x: w.iter().map(|&d| gpu.zeros(&[batch, d])).collect(),
            delta: w[1..].iter().map(|&d| gpu.zeros(&[batch, d])).collect(),
            labels: gpu.zeros_u32(&[batch]),
            loss: gpu.zeros(&[1]),
        }
    }

    /// x_1 .. x_L from x_0.
    pub fn forward(&self, gpu: &Gpu, prog: &mut Program, buf: &MlpBuffers) -> Result<()> {
        for (l, layer) in self.layers.iter().enumerate() {
            layer.forward(gpu, prog, &buf.x[l], &buf.x[l + 1])?;
        }
        Ok(())
    }

    /// The mean cross-entropy of the logits x_L into `buf.loss`, and every parameter's gradient of it
    /// into the store's gradient buffer (overwritten, not accumulated).
    pub fn loss_and_backward(&self, gpu: &Gpu, prog: &mut Program, buf: &MlpBuffers) -> Result<()> {
        let last = self.layers.len() - 1;
        softmax_xent::mean_loss_backward(gpu, prog, &buf.x[last + 1], &buf.labels, &buf.loss, &buf.delta[last])?;
        self.backward_from(gpu, prog, buf, None)
    }

    /// Back-propagates whatever upstream gradient is in `buf.delta[L-1]` (∂/∂ of the last layer's
    /// pre-activation; = ∂/∂logits, the last layer being linear in every model here): every parameter's
    /// gradient into the store's gradient buffer and, when `input_grad` [B, D_0] is given, the gradient
    /// with respect to the input x_0 (local Lipschitz constants: seeded with unit vectors, it gives rows of
    /// the Jacobian of the logits). `buf.delta[L-1]` itself is only read.
    pub fn backward_from(&self, gpu: &Gpu, prog: &mut Program, buf: &MlpBuffers, input_grad: Option<&Tensor>) -> Result<()> {
        let last = self.layers.len() - 1;
        for l in (0..=last).rev() {
            let dx = if l > 0 { Some(&buf.delta[l - 1]) } else { input_grad };
            let relu_below = l > 0 && self.spec.relu[l - 1];
            self.layers[l].backward(gpu, prog, &buf.x[l], &buf.delta[l], dx, relu_below)?;
        }
        Ok(())
    }
}

impl MlpBuffers {
    /// Uploads a batch (tests, the `step` command; training gathers on the GPU instead).
    pub fn set_batch(&self, gpu: &Gpu, inputs: &[f32], labels: &[u32]) -> Result<()> {
        gpu.write_f32(&self.x[0], inputs)?;
        gpu.write_u32(&self.labels, labels)?;
        Ok(())
    }
}
