//! `ModelSpec`: what a network is, independent of any GPU — a sequence of layers (dense, 3×3 convolution
//! with an optional fused ReLU, 2×2 max/avg pool, flatten), the per-example shape of every activation,
//! its parameters' names and shapes, how they are initialised, and its table of homogeneous units
//! (docs/algorithm.md "Models"). Every network of the paper is one (see `zoo`): the MLPs are all-dense
//! sequences, VGG19 is convolutions and pools ending in a flatten and one dense layer.
//!
//! Layer indexes: `layers[i]` is any layer; a *parameter layer* p is the p-th dense or conv layer (0-based;
//! MLP layer l+1 of the paper is parameter layer l). Groups and units are pairs of parameter layers.

use crate::error::{Error, Result};
use crate::nn::params::ParamClass;
use crate::nn::Pool2d;

/// One step of a network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerSpec {
    /// y = act(x·Wᵀ + b), W [out, in]; the input must be flat.
    Dense { out: usize, relu: bool },
    /// y = act(conv3×3(x, W) + b), stride 1, padding 1, W [out, in, 3, 3]; the input is [C, H, W].
    Conv3x3 { out: usize, relu: bool },
    /// 2×2 pooling, stride 2 (H and W halved, rounded down).
    Pool(Pool2d),
    /// [C, H, W] → [C·H·W] (no work: the next layer reads the same buffer).
    Flatten,
}

impl LayerSpec {
    pub fn has_params(self) -> bool {
        matches!(self, LayerSpec::Dense { .. } | LayerSpec::Conv3x3 { .. })
    }

    pub fn relu(self) -> bool {
        matches!(self, LayerSpec::Dense { relu: true, .. } | LayerSpec::Conv3x3 { relu: true, .. })
    }
}

/// How the parameters are initialised (from one seeded stream, in declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// PyTorch's default for Linear: U(−1/√fan_in, 1/√fan_in) for weights and biases (the MLPs).
    PyTorchUniform,
    /// Kaiming-normal with fan_in, N(0, 2/fan_in), and zero biases (VGG19).
    KaimingNormal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: &'static str,
    /// Shape of one example: \[D\] for a flat input, [C, H, W] for an image.
    pub input: Vec<usize>,
    pub layers: Vec<LayerSpec>,
    pub init: Init,
    /// PathProx groups as (w layer, v layer) parameter-layer indexes: the units are the outputs (rows or
    /// output channels) of the w layer. Disjoint pairs of consecutive parameter layers with nothing but a
    /// ReLU between them; empty for models PathProx is not run on.
    pub groups: Vec<(usize, usize)>,
    /// Every unit the penalties, pruning and "active units" count, as (w layer, v layer): the groups, or,
    /// for a model without groups, every hidden neuron (consecutive pairs may share a layer).
    pub units: Vec<(usize, usize)>,
}

impl ModelSpec {
    /// Checks that the layers fit together and the groups pair consecutive parameter layers.
    pub fn new(name: &'static str, input: Vec<usize>, layers: Vec<LayerSpec>, init: Init, groups: Vec<(usize, usize)>) -> Result<ModelSpec> {
        let depth = layers.iter().filter(|l| l.has_params()).count();
        let units = if groups.is_empty() { (0..depth.saturating_sub(1)).map(|p| (p, p + 1)).collect() } else { groups.clone() };
        let spec = ModelSpec { name, input, layers, init, groups, units };
        spec.shapes()?;
        let bad = |m: String| Err(Error::shape("ModelSpec", format!("{name}: {m}")));
        if depth == 0 {
            return bad("a model needs at least one dense or conv layer".into());
        }
        let Some(&LayerSpec::Dense { relu: false, .. }) = spec.layers.last() else {
            return bad("the last layer must be a dense layer without ReLU (it gives the logits)".into());
        };
        let index = spec.param_layer_indexes();
        for (k, &(w, v)) in spec.groups.iter().enumerate() {
            if w >= depth || v != w + 1 || v >= depth {
                return bad(format!("group ({w}, {v}) must pair consecutive parameter layers of {depth}"));
            }
            if spec.groups[..k].iter().any(|&(a, b)| a == w || b == w || a == v || b == v) {
                return bad(format!("group ({w}, {v}) shares a layer with another group"));
            }
            // Nothing but the w layer's own ReLU between w and v: a pool or flatten would mix units.
            if index[v] != index[w] + 1 {
                return bad(format!("group ({w}, {v}) spans a pool or flatten"));
            }
        }
        Ok(spec)
    }

    /// A dense network \[D_0\] → D_1 → … → D_L with a ReLU after layer l where `relu[l-1]` (the MLPs and
    /// their compact exports), default initialisation.
    pub fn mlp(name: &'static str, widths: Vec<usize>, relu: Vec<bool>, groups: Vec<(usize, usize)>) -> Result<ModelSpec> {
        if widths.len() < 2 || relu.len() != widths.len() - 1 || widths.contains(&0) {
            return Err(Error::shape("ModelSpec", format!("widths {widths:?} need one ReLU flag per layer, got {}", relu.len())));
        }
        let layers = widths[1..].iter().zip(&relu).map(|(&out, &relu)| LayerSpec::Dense { out, relu }).collect();
        ModelSpec::new(name, vec![widths[0]], layers, Init::PyTorchUniform, groups)
    }

    /// A custom MLP (tests, compact exports): `mlp` named "custom".
    pub fn custom(widths: Vec<usize>, relu: Vec<bool>, groups: Vec<(usize, usize)>) -> Result<ModelSpec> {
        ModelSpec::mlp("custom", widths, relu, groups)
    }

    /// Per-example shapes: `[0]` the input, `[i + 1]` the output of layer i.
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>> {
        let bad = |i: usize, m: String| Err(Error::shape("ModelSpec", format!("{}: layer {i} ({:?}): {m}", self.name, self.layers[i])));
        if self.input.is_empty() || self.input.contains(&0) {
            return Err(Error::shape("ModelSpec", format!("{}: input shape {:?} is empty", self.name, self.input)));
        }
        let mut shapes = vec![self.input.clone()];
        for (i, layer) in self.layers.iter().enumerate() {
            let x = shapes.last().expect("input shape");
            let y = match *layer {
                LayerSpec::Dense { out, .. } if x.len() == 1 && out > 0 => vec![out],
                LayerSpec::Dense { .. } => return bad(i, format!("needs a flat input and outputs, got {x:?} (add a Flatten)")),
                LayerSpec::Conv3x3 { out, .. } if x.len() == 3 && out > 0 => vec![out, x[1], x[2]],
                LayerSpec::Conv3x3 { .. } => return bad(i, format!("needs a [C, H, W] input, got {x:?}")),
                LayerSpec::Pool(_) if x.len() == 3 && x[1] >= 2 && x[2] >= 2 => vec![x[0], x[1] / 2, x[2] / 2],
                LayerSpec::Pool(_) => return bad(i, format!("needs a [C, H, W] input of at least 2×2, got {x:?}")),
                LayerSpec::Flatten => vec![x.iter().product()],
            };
            shapes.push(y);
        }
        Ok(shapes)
    }

    /// Number of parameter (dense or conv) layers.
    pub fn depth(&self) -> usize {
        self.layers.iter().filter(|l| l.has_params()).count()
    }

    /// `layers` index of each parameter layer.
    pub fn param_layer_indexes(&self) -> Vec<usize> {
        self.layers.iter().enumerate().filter(|(_, l)| l.has_params()).map(|(i, _)| i).collect()
    }

    /// Values per example of the input.
    pub fn input_len(&self) -> usize {
        self.input.iter().product()
    }

    /// Classes (outputs of the last layer).
    pub fn classes(&self) -> usize {
        match self.layers.last() {
            Some(LayerSpec::Dense { out, .. }) => *out,
            _ => unreachable!("ModelSpec::new checks the last layer is dense"),
        }
    }

    /// D_0, D_1, …: the input's leading size (features, or channels), then each parameter layer's outputs
    /// (units or channels). For an MLP these are its layer widths.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.input[0]];
        w.extend(self.layers.iter().filter_map(|l| match *l {
            LayerSpec::Dense { out, .. } | LayerSpec::Conv3x3 { out, .. } => Some(out),
            _ => None,
        }));
        w
    }

    /// Whether a ReLU follows each parameter layer.
    pub fn relu(&self) -> Vec<bool> {
        self.layers.iter().filter(|l| l.has_params()).map(|l| l.relu()).collect()
    }

    /// A flat input and dense layers only.
    pub fn is_mlp(&self) -> bool {
        self.input.len() == 1 && self.layers.iter().all(|l| matches!(l, LayerSpec::Dense { .. }))
    }

    /// Per parameter layer: (weight shape, fan-in).
    pub fn weight_shapes(&self) -> Vec<(Vec<usize>, usize)> {
        let shapes = self.shapes().expect("checked by ModelSpec::new");
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match *l {
                LayerSpec::Dense { out, .. } => Some((vec![out, shapes[i][0]], shapes[i][0])),
                LayerSpec::Conv3x3 { out, .. } => Some((vec![out, shapes[i][0], 3, 3], shapes[i][0] * 9)),
                _ => None,
            })
            .collect()
    }

    /// Parameter names in PyTorch's usual layout: an MLP's are `fc{l}.weight` / `fc{l}.bias` (l from 1);
    /// a conv net's are those of the usual CIFAR VGG definition — `features.{i}` where i is the module's
    /// index in an `nn.Sequential` of Conv2d, ReLU, MaxPool2d/AvgPool2d modules, and `classifier` for the
    /// Linear after the flatten (`classifier.{j}` if there are several, counted the same way).
    pub fn param_names(&self) -> Vec<String> {
        if self.is_mlp() {
            return (1..=self.depth()).map(|l| format!("fc{l}")).collect();
        }
        let flatten = self.layers.iter().position(|l| *l == LayerSpec::Flatten).unwrap_or(self.layers.len());
        let dense_after = self.layers[flatten..].iter().filter(|l| l.has_params()).count();
        let (mut names, mut features, mut classifier) = (Vec::new(), 0, 0);
        for (i, l) in self.layers.iter().enumerate() {
            let (counter, prefix) = if i < flatten { (&mut features, "features") } else { (&mut classifier, "classifier") };
            if l.has_params() {
                names.push(if i > flatten && dense_after == 1 { prefix.to_string() } else { format!("{prefix}.{counter}") });
            }
            *counter += match l {
                LayerSpec::Flatten => 0,
                l if l.relu() => 2,
                _ => 1,
            };
        }
        names
    }

    /// Parameter names, shapes and classes in declaration order: each parameter layer's weight, then its
    /// bias. Weights in a unit pair are `GroupedWeight` (PathProx projects / thresholds them), the others
    /// `OtherWeight` (plain weight decay under every method).
    pub fn param_entries(&self) -> Vec<(String, Vec<usize>, ParamClass)> {
        let mut v = Vec::new();
        for (p, ((shape, _), name)) in self.weight_shapes().into_iter().zip(self.param_names()).enumerate() {
            let grouped = self.units.iter().any(|&(w, vl)| w == p || vl == p);
            let class = if grouped { ParamClass::GroupedWeight } else { ParamClass::OtherWeight };
            let out = shape[0];
            v.push((format!("{name}.weight"), shape, class));
            v.push((format!("{name}.bias"), vec![out], ParamClass::Bias));
        }
        v
    }

    /// Multiply-adds of one example's forward pass through each parameter layer (for GFLOP/s figures:
    /// ×2 for FLOPs; a training step also has the weight and input gradients, as many again each).
    pub fn layer_macs(&self) -> Vec<f64> {
        let shapes = self.shapes().expect("checked by ModelSpec::new");
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match *l {
                LayerSpec::Dense { out, .. } => Some((out * shapes[i][0]) as f64),
                LayerSpec::Conv3x3 { out, .. } => Some((out * shapes[i][0] * 9 * shapes[i][1] * shapes[i][2]) as f64),
                _ => None,
            })
            .collect()
    }
}
