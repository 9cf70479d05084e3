//! Compact export: the same function with the dead units taken out (conv nets: `compact_conv`). A unit (docs/algorithm.md, "Homogeneous
//! units"; `ModelSpec::units`) is an output j of a w layer: w = row j of that layer's weight, v = column j
//! of the next layer's. A unit is removed when its w or its v is all zero (−0 counts as zero):
//! - v = 0: the unit feeds nothing, whatever its bias; dropping it (w row, bias entry, v column) changes
//!   no logit.
//! - w = 0 (v ≠ 0): its output is the constant a(b_j) (a = ReLU, or the identity after a linear layer),
//!   which adds a(b_j)·v to the next layer's pre-activation; that is folded into the next bias
//!   (b' = b + a(b_j)·v, summed in f64, rounded once) before the unit is dropped. Exact up to that one
//!   rounding of each changed bias.
//!
//! Removing units can empty the w or v of units in a neighbouring layer of units (consecutive layers of
//! units share a weight matrix in MLP-3-800), so the removal is repeated until nothing changes. A layer of
//! units that loses every unit keeps one all-zero unit (output 0, v = 0: exact), so no width is 0.

use crate::error::{Error, Result};
use crate::nn::ModelSpec;
use crate::train::checkpoint::Checkpoint;

/// The smaller network and what was removed.
#[derive(Clone, Debug)]
pub struct Compact {
    pub spec: ModelSpec,
    /// Tensors in the original naming (`fc1.weight`, `fc1.bias`, …) and metadata with the new widths.
    pub checkpoint: Checkpoint,
    /// Per layer of units (`spec.units` order): (units before, units removed, of which folded).
    pub removed: Vec<(usize, usize, usize)>,
    pub widths_before: Vec<usize>,
    pub params_before: usize,
    pub params_after: usize,
}

/// Removes the dead units of `ck`, a model of architecture `spec`.
pub fn compact(ck: &Checkpoint, spec: &ModelSpec) -> Result<Compact> {
    if !spec.is_mlp() {
        let s = super::compact_conv::compact_conv(ck, spec)?;
        return Ok(Compact::new(ck, spec.widths(), s.spec, s.tensors, s.removed, s.params_before));
    }
    let (widths, relu) = (spec.widths(), spec.relu());
    let layers = spec.depth();
    let mut w: Vec<Vec<f32>> = Vec::with_capacity(layers);
    let mut b: Vec<Vec<f64>> = Vec::with_capacity(layers);
    for l in 0..layers {
        let (out, inp) = (widths[l + 1], widths[l]);
        for (name, shape) in [(format!("fc{}.weight", l + 1), vec![out, inp]), (format!("fc{}.bias", l + 1), vec![out])] {
            let (_, s, v) = ck.tensor(&name).ok_or_else(|| Error::Other(format!("compact: no tensor '{name}'")))?;
            if *s != shape {
                return Err(Error::Other(format!("compact: '{name}' has shape {s:?}, the model needs {shape:?}")));
            }
            if shape.len() == 2 {
                w.push(v.clone());
            } else {
                b.push(v.iter().map(|&x| x as f64).collect());
            }
        }
    }
    let params_before: usize = widths.windows(2).map(|d| d[0] * d[1] + d[1]).sum();
    // alive[l][j]: output j of layer l is kept. Only units can die; other outputs (the linear layers of
    // the factorized models, the logits) always stay.
    let mut alive: Vec<Vec<bool>> = widths[1..].iter().map(|&d| vec![true; d]).collect();
    let mut removed = vec![(0usize, 0usize, 0usize); spec.units.len()];
    for (r, &(wl, _)) in removed.iter_mut().zip(&spec.units) {
        r.0 = widths[wl + 1];
    }
    loop {
        let mut changed = false;
        for (u, &(wl, vl)) in spec.units.iter().enumerate() {
            let (n_in, n_out_v) = (widths[wl], widths[vl + 1]);
            let n_units = widths[wl + 1];
            for j in 0..n_units {
                if !alive[wl][j] {
                    continue;
                }
                let w_zero = w[wl][j * n_in..(j + 1) * n_in].iter().all(|&x| x == 0.0);
                let v_zero = (0..n_out_v).all(|i| w[vl][i * n_units + j] == 0.0);
                if !(w_zero || v_zero) {
                    continue;
                }
                if !v_zero {
                    // w = 0: a constant output a(b_j) feeding the next layer through v.
                    let c = if relu[wl] { b[wl][j].max(0.0) } else { b[wl][j] };
                    if c != 0.0 {
                        for i in 0..n_out_v {
                            b[vl][i] += c * w[vl][i * n_units + j] as f64;
                        }
                        removed[u].2 += 1;
                    }
                }
                // Zero the unit everywhere so that later passes see its effect on its neighbours.
                w[wl][j * n_in..(j + 1) * n_in].fill(0.0);
                b[wl][j] = 0.0;
                for i in 0..n_out_v {
                    w[vl][i * n_units + j] = 0.0;
                }
                alive[wl][j] = false;
                removed[u].1 += 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // A layer of units with none left keeps its first (all zero) unit: widths stay ≥ 1.
    for (r, &(wl, _)) in removed.iter_mut().zip(&spec.units) {
        if !alive[wl].iter().any(|&a| a) {
            alive[wl][0] = true;
            r.1 -= 1;
        }
    }
    // Slice: layer l keeps the rows of its alive outputs and the columns of its alive inputs.
    let mut new_widths = vec![widths[0]];
    new_widths.extend(alive.iter().map(|a| a.iter().filter(|&&x| x).count()));
    let mut tensors = Vec::new();
    for l in 0..layers {
        let n_in = widths[l];
        let cols: Vec<usize> = if l == 0 { (0..n_in).collect() } else { (0..n_in).filter(|&i| alive[l - 1][i]).collect() };
        let rows: Vec<usize> = (0..widths[l + 1]).filter(|&j| alive[l][j]).collect();
        let weight: Vec<f32> = rows.iter().flat_map(|&j| cols.iter().map(move |&i| (j, i))).map(|(j, i)| w[l][j * n_in + i]).collect();
        tensors.push((format!("fc{}.weight", l + 1), vec![rows.len(), cols.len()], weight));
        tensors.push((format!("fc{}.bias", l + 1), vec![rows.len()], rows.iter().map(|&j| b[l][j] as f32).collect()));
    }
    let new_spec = ModelSpec::custom(new_widths, relu, spec.groups.clone())?;
    Ok(Compact::new(ck, widths, new_spec, tensors, removed, params_before))
}

impl Compact {
    /// The result of compacting `ck` into `tensors` of architecture `spec`: the original's metadata, the
    /// new architecture's (`model_file::spec_metadata`), and what it was compacted from.
    pub(crate) fn new(ck: &Checkpoint, widths_before: Vec<usize>, spec: ModelSpec, tensors: Vec<(String, Vec<usize>, Vec<f32>)>, removed: Vec<(usize, usize, usize)>, params_before: usize) -> Compact {
        let params_after = tensors.iter().map(|t| t.2.len()).sum();
        let mut metadata = ck.metadata.clone();
        metadata.extend(super::model_file::spec_metadata(&spec));
        if let Some(m) = ck.metadata.get("model") {
            metadata.insert("compact_of_model".into(), m.clone());
        }
        metadata.insert("model".into(), "custom".into());
        // Kernel timings belong to the original shapes.
        metadata.remove("tuning");
        Compact { widths_before, spec, checkpoint: Checkpoint { tensors, metadata }, removed, params_before, params_after }
    }
}
