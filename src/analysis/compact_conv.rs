//! Compact export of a VGG-style conv net (`analysis::compact` does the MLPs): unit i of a conv pair
//! (k, k+1) is output channel i of conv k (its [Cin, 3, 3] filter and bias: w) and input channel i of
//! conv k+1 (the [Cout, 3, 3] slice: v). A unit is removed, with its filter, bias and slice, when
//! - v = 0: it feeds nothing, whatever its output; or
//! - w = 0 and its output is 0 everywhere (a ReLU of a bias ≤ 0, or a zero bias without ReLU).
//!
//! A unit with w = 0 but a non-zero constant output and v ≠ 0 is kept: unlike a dense layer's, its
//! contribution to the next conv is not a constant (zero padding makes it smaller at the borders), so it
//! cannot be folded into a bias. Removing a unit touches only its own pair's tensors (groups never share a
//! layer), so one pass suffices. The result is the same network with fewer channels, in the same naming,
//! with the channel list in the metadata (`model_file::VGG_CONFIG`).

use crate::error::{Error, Result};
use crate::nn::ModelSpec;
use crate::train::checkpoint::Checkpoint;

/// A compacted conv net's parts; `compact::compact` wraps them into a [`Compact`](super::compact::Compact).
pub struct Slices {
    pub spec: ModelSpec,
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    /// Per group: (units before, units removed, 0: nothing is folded in a conv net).
    pub removed: Vec<(usize, usize, usize)>,
    pub params_before: usize,
}

pub fn compact_conv(ck: &Checkpoint, spec: &ModelSpec) -> Result<Slices> {
    let config = spec.vgg_config().ok_or_else(|| Error::Other(format!("compact export handles MLPs and VGG-style conv nets; {} is neither", spec.name)))?;
    let names = spec.param_names();
    let shapes = spec.weight_shapes();
    let mut w: Vec<Vec<f32>> = Vec::new();
    let mut b: Vec<Vec<f32>> = Vec::new();
    for (name, (shape, _)) in names.iter().zip(&shapes) {
        for (key, want, out) in [(format!("{name}.weight"), shape.clone(), &mut w), (format!("{name}.bias"), vec![shape[0]], &mut b)] {
            let (_, s, v) = ck.tensor(&key).ok_or_else(|| Error::Other(format!("compact: no tensor '{key}'")))?;
            if *s != want {
                return Err(Error::Other(format!("compact: '{key}' has shape {s:?}, the model needs {want:?}")));
            }
            out.push(v.clone());
        }
    }
    let relu = spec.relu();
    let params_before: usize = w.iter().chain(&b).map(Vec::len).sum();
    // keep[p][c]: output channel c of parameter layer p stays.
    let mut keep: Vec<Vec<bool>> = shapes.iter().map(|(s, _)| vec![true; s[0]]).collect();
    let mut removed = Vec::new();
    for &(wl, vl) in &spec.units {
        let (units, fan_in) = (shapes[wl].0[0], shapes[wl].1);
        let (outs, k) = (shapes[vl].0[0], shapes[vl].0[2..].iter().product::<usize>());
        let dead = |i: usize| {
            let v_zero = (0..outs).all(|o| w[vl][(o * units + i) * k..(o * units + i + 1) * k].iter().all(|&x| x == 0.0));
            let w_zero = w[wl][i * fan_in..(i + 1) * fan_in].iter().all(|&x| x == 0.0);
            let silent = if relu[wl] { b[wl][i] <= 0.0 } else { b[wl][i] == 0.0 };
            v_zero || (w_zero && silent)
        };
        let mut gone: Vec<bool> = (0..units).map(dead).collect();
        // A pair that loses every unit keeps one: no conv has zero channels. Keeping a dead unit is exact.
        if gone.iter().all(|&g| g) {
            gone[0] = false;
        }
        keep[wl] = gone.iter().map(|&g| !g).collect();
        removed.push((units, gone.iter().filter(|&&g| g).count(), 0));
    }
    // Slice: layer p keeps its kept output channels and, if its input comes from a conv, that conv's kept
    // channels (a v layer's inputs are its group's units; a pool passes channels through unchanged).
    let mut tensors = Vec::new();
    let mut in_keep: Option<&Vec<bool>> = None;
    for (p, ((shape, _), name)) in shapes.iter().zip(&names).enumerate() {
        let (outs, ins, k) = (shape[0], shape[1], shape[2..].iter().product::<usize>());
        let rows: Vec<usize> = (0..outs).filter(|&o| keep[p][o]).collect();
        let cols: Vec<usize> = (0..ins).filter(|&c| shape.len() == 2 || in_keep.is_none_or(|m| m[c])).collect();
        let mut weight = Vec::with_capacity(rows.len() * cols.len() * k);
        for &o in &rows {
            for &c in &cols {
                weight.extend_from_slice(&w[p][(o * ins + c) * k..(o * ins + c + 1) * k]);
            }
        }
        let mut new_shape = vec![rows.len(), cols.len()];
        new_shape.extend_from_slice(&shape[2..]);
        tensors.push((format!("{name}.weight"), new_shape, weight));
        tensors.push((format!("{name}.bias"), vec![rows.len()], rows.iter().map(|&o| b[p][o]).collect()));
        // The dense layer after the flatten reads every kept channel of the last conv at 1×1 (VGG19) — its
        // inputs change only if that conv lost channels, which a v layer (the last conv of a pair) never does.
        in_keep = if shape.len() == 4 { Some(&keep[p]) } else { None };
        if shape.len() == 2 && p > 0 && keep[p - 1].iter().any(|&x| !x) {
            return Err(Error::Other(format!("compact: the layer before {name} lost channels; only conv pairs are compacted")));
        }
    }
    let mut new_config = Vec::new();
    let mut p = 0;
    for &c in &config {
        new_config.push(if c == 0 { 0 } else { keep[p].iter().filter(|&&x| x).count() });
        p += (c != 0) as usize;
    }
    let input = [spec.input[0], spec.input[1], spec.input[2]];
    let new_spec = ModelSpec::vgg("custom-vgg", input, &new_config, spec.classes())?;
    Ok(Slices { spec: new_spec, tensors, removed, params_before })
}
