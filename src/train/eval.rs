//! Metrics at a log point, computed on the GPU with one small read-back each: cross-entropy and accuracy
//! over whole data sets (forward passes in chunks), and per-unit norms from which the path norm, active
//! units and the two forms of the weight-decay objective follow (docs/algorithm.md, "Objectives", "Metrics").

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Moved to `crate::progress`; re-exported for the callers that found it here.
pub use crate::progress::LogPoint;

use crate::data::Normalization;
use crate::error::Result;
use crate::gpu::{Gpu, Program, Tensor};
use crate::nn::params::{ParamClass, ALIGN};
use crate::nn::{Model, Activations};
use crate::ops::gather::{self, GpuImages};
use crate::ops::{optim, reduce, softmax_xent};

pub use crate::data::norm::{MNIST_MEAN, MNIST_STD};

/// A data set resident on the GPU, with its normalisation and the identity index stream used to walk it
/// in order.
pub struct EvalSet {
    pub name: &'static str,
    pub data: GpuImages,
    pub norm: Normalization,
    pub in_order: Tensor,
}

impl EvalSet {
    pub fn new(gpu: &Gpu, name: &'static str, data: GpuImages, norm: Normalization) -> Result<EvalSet> {
        let ids: Vec<u32> = (0..data.rows as u32).collect();
        Ok(EvalSet { name, in_order: gpu.upload_u32(&[ids.len()], &ids)?, data, norm })
    }
}

/// One log point's numbers (percentages for units, fractions for accuracies).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Measurement {
    /// Mean cross-entropy and accuracy per evaluated set, in the order the sets were given.
    pub ce: Vec<f64>,
    pub acc: Vec<f64>,
    /// Σ_units ‖w‖‖v‖.
    pub path_norm: f64,
    /// Units with ‖w‖·‖v‖ > 0, percent.
    pub active_units: f64,
    /// ‖θ‖² over all weights, and over the weights in no group.
    pub sq_norm: f64,
    pub sq_norm_other: f64,
}

impl Measurement {
    /// The weight-decay objective as logged for every method: train CE + λ·Σ‖w‖‖v‖ + (λ/2)‖θ_other‖².
    pub fn objective(&self, lambda: f64) -> f64 {
        self.ce[0] + lambda * self.path_norm + 0.5 * lambda * self.sq_norm_other
    }

    /// The raw F(θ) = train CE + (λ/2)‖θ‖².
    pub fn objective_l2(&self, lambda: f64) -> f64 {
        self.ce[0] + 0.5 * lambda * self.sq_norm
    }
}

pub struct Evaluator {
    prog: Program,
    /// [sets · ALIGN]: mean CE of set s at s·ALIGN.
    ce: Tensor,
    /// [sets · ALIGN] u32: correct count of set s at s·ALIGN.
    correct: Tensor,
    /// Per group: ‖w_i‖ at base + 2i and ‖v_i‖ at base + 2i + 1 (as `optim::unit_norms` writes them); per
    /// layer l: ‖W_l‖ at layer_base + l·ALIGN.
    norms: Tensor,
    /// Per group: (units, base).
    pairs: Vec<(usize, usize)>,
    layer_base: usize,
    other_layers: Vec<usize>,
    set_rows: Vec<usize>,
    /// Keeps the activation buffers the recorded program uses alive.
    _buffers: HashMap<usize, Activations>,
}

impl Evaluator {
    /// Records everything once: for each set, forward passes over chunks of `eval_batch` rows accumulating
    /// CE and correct counts; then the unit and layer norms.
    pub fn new(gpu: &Gpu, model: &Model, sets: &[EvalSet], eval_batch: usize) -> Result<Evaluator> {
        let mut prog = Program::new();
        let ce = gpu.zeros(&[sets.len() * ALIGN]);
        let correct = gpu.zeros_u32(&[sets.len() * ALIGN]);
        let mut buffers: HashMap<usize, Activations> = HashMap::new();
        for (s, set) in sets.iter().enumerate() {
            let rows = set.data.rows;
            let (ce_s, correct_s) = (ce.view(s * ALIGN, &[1])?, correct.view(s * ALIGN, &[1])?);
            for (c, first) in (0..rows).step_by(eval_batch).enumerate() {
                let n = eval_batch.min(rows - first);
                let buf = buffers.entry(n).or_insert_with(|| model.inference(gpu, n));
                gather::gather_normalize(gpu, &mut prog, &set.data, &set.in_order, first, &set.norm.mean, &set.norm.std, &buf.x[0], &buf.labels)?;
                model.forward(gpu, &mut prog, buf)?;
                let logits = buf.logits();
                softmax_xent::loss_sum(gpu, &mut prog, logits, &buf.labels, &ce_s, 1.0 / rows as f32, c > 0)?;
                reduce::correct_count(gpu, &mut prog, logits, &buf.labels, &correct_s, c > 0)?;
            }
        }
        // Unit norms by the kernel PathProx's balancing uses (optim::unit_norms), from the groups' own views
        // (w as [units, fan_in], v as [a, units, c]): rows and columns for dense layers, output and input
        // channels for convs.
        let unit_pairs = if model.spec.groups.is_empty() { &model.spec.units } else { &model.spec.groups };
        let groups = crate::train::method::groups(model, unit_pairs)?;
        let mut pairs = Vec::new();
        let mut at = 0;
        for g in &groups {
            pairs.push((g.units, at));
            at += 2 * g.units;
        }
        let layer_base = at.div_ceil(ALIGN) * ALIGN;
        let norms = gpu.zeros(&[layer_base + model.weights.len() * ALIGN]);
        for (g, &(_, base)) in groups.iter().zip(&pairs) {
            optim::unit_norms(gpu, &mut prog, g, &norms, base)?;
        }
        for (l, layer) in model.weights.iter().enumerate() {
            reduce::group_norms(gpu, &mut prog, &layer.w, [1, 1, layer.w.len()], &norms.view(layer_base + l * ALIGN, &[1])?)?;
        }
        let other_layers = (0..model.weights.len()).filter(|&l| model.store.infos[2 * l].class == ParamClass::OtherWeight).collect();
        Ok(Evaluator { prog, ce, correct, norms, pairs, layer_base, other_layers, set_rows: sets.iter().map(|s| s.data.rows).collect(), _buffers: buffers })
    }

    /// Runs the metric program and reads back its results.
    pub async fn measure(&self, gpu: &Gpu) -> Result<Measurement> {
        gpu.run(&self.prog);
        let ce = gpu.read_f32(&self.ce).await?;
        let correct = gpu.read_u32(&self.correct).await?;
        let norms = gpu.read_f32(&self.norms).await?;
        let mut m = Measurement::default();
        for (s, rows) in self.set_rows.iter().enumerate() {
            m.ce.push(ce[s * ALIGN] as f64);
            m.acc.push(correct[s * ALIGN] as f64 / *rows as f64);
        }
        let (mut units, mut active) = (0usize, 0usize);
        for &(n, base) in &self.pairs {
            for i in 0..n {
                let p = norms[base + 2 * i] as f64 * norms[base + 2 * i + 1] as f64;
                m.path_norm += p;
                active += (p > 0.0) as usize;
            }
            units += n;
        }
        m.active_units = 100.0 * active as f64 / units.max(1) as f64;
        let layer_sq = |l: usize| (norms[self.layer_base + l * ALIGN] as f64).powi(2);
        m.sq_norm = (0..(norms.len() - self.layer_base) / ALIGN).map(layer_sq).sum();
        m.sq_norm_other = self.other_layers.iter().map(|&l| layer_sq(l)).sum();
        Ok(m)
    }
}
