//! Compact export (`analysis::compact`, `analysis::model_file`): dead units are removed, constant ones
//! folded into the next bias, and the smaller network computes the same logits — in f64 on the CPU up to
//! the one rounding of each folded bias, and on the GPU up to f32 summation order.

mod common;

use common::*;
use pathprox::analysis::{compact, model_file};
use pathprox::gpu::{Gpu, Program};
use pathprox::nn::{Model, ModelSpec};
use pathprox::ops::{elementwise, matmul};
use pathprox::train::checkpoint::Checkpoint;
use pathprox::train::trainer::checkpoint_of;

/// f64 logits of a batch from a checkpoint's tensors.
fn logits_cpu(spec: &ModelSpec, ck: &Checkpoint, x: &[f64]) -> Vec<f64> {
    let b = x.len() / spec.widths()[0];
    let mut act = x.to_vec();
    for l in 0..spec.depth() {
        let (din, dout) = (spec.widths()[l], spec.widths()[l + 1]);
        let w = to_f64(&ck.tensor(&format!("fc{}.weight", l + 1)).unwrap().2);
        let bias = to_f64(&ck.tensor(&format!("fc{}.bias", l + 1)).unwrap().2);
        let mut z = matmul::cpu::matmul(&act, &w, b, dout, din, false, true);
        matmul::cpu::epilogue(&mut z, dout, None, Some(&bias), false, None);
        act = if spec.relu()[l] { elementwise::cpu::relu_forward(&z) } else { z };
    }
    act
}

fn logits_gpu(gpu: &Gpu, model: &Model, x: &[f32]) -> Vec<f32> {
    let buf = model.activations(gpu, x.len() / model.spec.input_len());
    gpu.write_f32(&buf.x[0], x).unwrap();
    let mut prog = Program::new();
    model.forward(gpu, &mut prog, &buf).unwrap();
    gpu.run(&prog);
    gpu.to_vec_f32(buf.x.last().unwrap()).unwrap()
}

/// A random model of `spec` as a checkpoint (with the metadata a training run writes).
fn random_checkpoint(gpu: &Gpu, spec: &ModelSpec, seed: u64) -> (Model, Checkpoint) {
    let model = Model::new(gpu, spec.clone()).unwrap();
    let values: Vec<Vec<f32>> = model.init_values(seed).into_iter().map(|p| p.iter().map(|v| v * 3.0).collect()).collect();
    let ck = checkpoint_of(&model, values, &[("model", "test-net".into()), ("iteration", "42".into())]);
    (model, ck)
}

fn tensor_mut<'a>(ck: &'a mut Checkpoint, name: &str) -> &'a mut Vec<f32> {
    &mut ck.tensors.iter_mut().find(|t| t.0 == name).unwrap().2
}

/// Row `j` of `fc{l}.weight` ([out, n_in]) set to `v`; column `j` of it ([n_out, in]) set to `v`.
fn set_row(ck: &mut Checkpoint, l: usize, j: usize, n_in: usize, v: f32) {
    tensor_mut(ck, &format!("fc{l}.weight"))[j * n_in..(j + 1) * n_in].fill(v);
}
fn set_col(ck: &mut Checkpoint, l: usize, j: usize, n_in: usize, v: f32) {
    let w = tensor_mut(ck, &format!("fc{l}.weight"));
    let rows = w.len() / n_in;
    for i in 0..rows {
        w[i * n_in + j] = v;
    }
}
fn set_bias(ck: &mut Checkpoint, l: usize, j: usize, v: f32) {
    tensor_mut(ck, &format!("fc{l}.bias"))[j] = v;
}

/// Checks that `compacted` has `widths` and computes what `ck` computes; returns the max |Δ| on the GPU.
fn check_same_function(gpu: &Gpu, spec: &ModelSpec, ck: &Checkpoint, c: &compact::Compact, widths: &[usize]) -> f64 {
    assert_eq!(c.spec.widths(), widths);
    assert_eq!(c.params_after, c.checkpoint.tensors.iter().map(|t| t.2.len()).sum::<usize>());
    assert_eq!(c.params_before, ck.tensors.iter().map(|t| t.2.len()).sum::<usize>());
    // Through a file, as `pathprox eval` reads it: the widths come back from the metadata.
    let path = scratch(&format!("compact-{}", widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("_"))).join("model.safetensors");
    c.checkpoint.save(&path).unwrap();
    let (small, back) = model_file::load(gpu, &path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!((&small.spec.widths(), &small.spec.relu(), &small.spec.groups), (&c.spec.widths(), &spec.relu(), &spec.groups));
    assert!(["fc1.weight", "fc1.bias"].iter().all(|n| back.tensor(n).is_some()), "PyTorch naming kept");

    let mut rng = Rng::new(5);
    let rows = 37;
    let x = rng.vec(rows * spec.widths()[0], -2.0, 2.0);
    // f64: the only difference is the rounding of each folded bias to f32 (≤ 6e-8 relative).
    let (a, b) = (logits_cpu(spec, ck, &to_f64(&x)), logits_cpu(&c.spec, &c.checkpoint, &to_f64(&x)));
    let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    assert_close("compact logits (f64)", &b.iter().map(|&v| v as f32).collect::<Vec<_>>(), &a, 1e-6 * scale, 1e-6);
    // GPU, f32: the original model vs the compact one.
    let original = Model::new(gpu, spec.clone()).unwrap();
    pathprox::train::trainer::load_into(gpu, &original, ck, "original").unwrap();
    let (ga, gb) = (logits_gpu(gpu, &original, &x), logits_gpu(gpu, &small, &x));
    let max = ga.iter().zip(&gb).map(|(p, q)| (*p as f64 - *q as f64).abs()).fold(0.0, f64::max);
    // f32 sums of ≤ 17 products of O(1) values, in another order: a few ulps of the activations.
    assert!(max <= 1e-5 * scale, "GPU logits differ by {max}");
    max
}

#[test]
fn planted_dead_and_constant_units_are_removed_exactly() {
    on_each_gpu(|gpu| {
        // The factorized pattern: units are the outputs of the ReLU layers fc1, fc3; fc2 and fc4 are
        // linear (their outputs are not units); fc5 is in no group.
        let spec = ModelSpec::custom(vec![17, 12, 9, 10, 7, 4], vec![true, false, true, false, false], vec![(0, 1), (2, 3)]).unwrap();
        let (_, mut ck) = random_checkpoint(gpu, &spec, 11);
        // Units of fc1 (w = row of fc1.weight [12, 17], v = column of fc2.weight [9, 12]):
        set_col(&mut ck, 2, 2, 12, 0.0); // v = 0, bias non-zero: feeds nothing → removed
        set_row(&mut ck, 1, 5, 17, 0.0); // w = 0, ReLU(0.7) = 0.7 · v folded into fc2.bias
        set_bias(&mut ck, 1, 5, 0.7);
        set_row(&mut ck, 1, 7, 17, -0.0); // w = −0, bias < 0: outputs ReLU(−0.3) = 0 → removed, nothing to fold
        set_bias(&mut ck, 1, 7, -0.3);
        set_row(&mut ck, 1, 9, 17, 0.0); // pruned the way training prunes: w, bias and v all zero
        set_bias(&mut ck, 1, 9, 0.0);
        set_col(&mut ck, 2, 9, 12, 0.0);
        // One weight left non-zero: not dead.
        set_row(&mut ck, 1, 10, 17, 0.0);
        tensor_mut(&mut ck, "fc1.weight")[10 * 17 + 16] = 1e-30;
        // Units of fc3 (w = row of fc3.weight [10, 9], v = column of fc4.weight [7, 10]):
        set_row(&mut ck, 3, 0, 9, 0.0); // w = 0, bias 0.25, v ≠ 0: folded
        set_bias(&mut ck, 3, 0, 0.25);
        set_col(&mut ck, 4, 3, 10, 0.0); // v = 0
        let c = compact::compact(&ck, &spec).unwrap();
        assert_eq!(c.removed, vec![(12, 4, 1), (10, 2, 1)]);
        let max = check_same_function(gpu, &spec, &ck, &c, &[17, 8, 9, 8, 7, 4]);
        eprintln!("planted net: max |Δ logit| on the GPU {max:.2e}; parameters {} → {}", c.params_before, c.params_after);
        assert_eq!(c.params_before - c.params_after, 4 * (17 + 1 + 9) + 2 * (9 + 1 + 7));
    });
}

#[test]
fn removal_cascades_through_shared_matrices_and_an_emptied_layer_keeps_one_zero_unit() {
    on_each_gpu(|gpu| {
        // MLP-3-800's pattern: every hidden ReLU neuron is a unit; consecutive layers of units share a matrix.
        let spec = ModelSpec::custom(vec![11, 8, 7, 6, 3], vec![true, true, true, false], vec![]).unwrap();
        let (_, mut ck) = random_checkpoint(gpu, &spec, 12);
        // fc1 unit 5: w = 0, bias 0.4 (a constant), v = column 5 of fc2 non-zero only in row 3.
        set_row(&mut ck, 1, 5, 11, 0.0);
        set_bias(&mut ck, 1, 5, 0.4);
        set_col(&mut ck, 2, 5, 8, 0.0);
        tensor_mut(&mut ck, "fc2.weight")[3 * 8 + 5] = 1.5;
        // fc2 unit 3: w = row 3 of fc2, non-zero only in column 5 — so once fc1 unit 5 is folded away it
        // is a constant ReLU(b + 0.4·1.5) too, and folds into fc3.bias.
        set_row(&mut ck, 2, 3, 8, 0.0);
        tensor_mut(&mut ck, "fc2.weight")[3 * 8 + 5] = 1.5;
        set_bias(&mut ck, 2, 3, -0.1);
        let c = compact::compact(&ck, &spec).unwrap();
        assert_eq!(c.removed, vec![(8, 1, 1), (7, 1, 1), (6, 0, 0)]);
        check_same_function(gpu, &spec, &ck, &c, &[11, 7, 6, 6, 3]);

        // Every unit of fc3 has v = 0: the output is constant; one all-zero unit stays (width ≥ 1).
        let (_, mut ck) = random_checkpoint(gpu, &spec, 13);
        for j in 0..6 {
            set_col(&mut ck, 4, j, 6, 0.0);
        }
        let c = compact::compact(&ck, &spec).unwrap();
        // fc3's units die, then fc2's (their v, fc3's rows, are now zero), then fc1's, keeping one each.
        assert_eq!(c.removed, vec![(8, 7, 0), (7, 6, 0), (6, 5, 0)]);
        check_same_function(gpu, &spec, &ck, &c, &[11, 1, 1, 1, 3]);

        // Nothing dead: nothing changes.
        let (_, ck) = random_checkpoint(gpu, &spec, 14);
        let c = compact::compact(&ck, &spec).unwrap();
        assert_eq!((c.params_after, &c.checkpoint.tensors), (c.params_before, &ck.tensors));
    });
}

#[test]
fn bad_model_files_are_clear_errors() {
    let spec = ModelSpec::custom(vec![4, 3, 2], vec![true, false], vec![(0, 1)]).unwrap();
    let ck = Checkpoint { tensors: vec![("fc1.weight".into(), vec![3, 4], vec![0.0; 12])], metadata: Default::default() };
    assert!(compact::compact(&ck, &spec).unwrap_err().to_string().contains("no tensor 'fc1.bias'"));
    let e = model_file::spec_of(&ck, "x.safetensors").unwrap_err().to_string();
    assert!(e.contains("x.safetensors") && e.contains("not a pathprox model file"), "{e}");
    let mut bad = ck.clone();
    bad.metadata.insert("widths".into(), "4,three,2".into());
    assert!(model_file::spec_of(&bad, "x").unwrap_err().to_string().contains("widths"));
    bad.metadata.insert("widths".into(), "4,3,2".into());
    bad.metadata.insert("relu".into(), "1,2".into());
    assert!(model_file::spec_of(&bad, "x").unwrap_err().to_string().contains("relu"));
}

/// A VGG-style conv net: channels whose v (input slice of the next conv) is zero, or whose w is zero with
/// a silent ReLU, go; a constant-output channel with a live v stays (padding makes it no constant at the
/// next conv); the compact net computes the same logits (f64 on the CPU, and on the GPU) and reloads from
/// its own metadata.
#[test]
fn a_compact_conv_net_drops_dead_channels_and_computes_the_same_function() {
    let spec = ModelSpec::vgg("small-vgg", [3, 8, 8], &[4, 4, 0, 5, 6], 3).unwrap();
    assert_eq!(spec.groups, vec![(0, 1), (2, 3)]);
    let gpu = first_gpu();
    let gpu: &Gpu = &gpu;
    let (_, mut ck) = random_checkpoint(gpu, &spec, 12);
    // Group (0, 1): unit 1's v = input channel 1 of features.2.weight [4, 4, 3, 3] is zero.
    let v = tensor_mut(&mut ck, "features.2.weight");
    for o in 0..4 {
        v[(o * 4 + 1) * 9..(o * 4 + 2) * 9].fill(0.0);
    }
    // Group (2, 3): unit 2 has w = 0 and bias −0.5 (ReLU: always 0) → goes; unit 3 has w = 0 and bias 0.4
    // (a constant 0.4 map) with a live v → stays.
    let w = tensor_mut(&mut ck, "features.5.weight"); // [5, 4, 3, 3]
    w[2 * 36..4 * 36].fill(0.0);
    let b = tensor_mut(&mut ck, "features.5.bias");
    (b[2], b[3]) = (-0.5, 0.4);
    let c = compact::compact(&ck, &spec).unwrap();
    assert_eq!(c.spec.widths(), vec![3, 3, 4, 4, 6, 3]);
    assert_eq!(c.removed, vec![(4, 1, 0), (5, 1, 0)]);
    assert_eq!(c.params_before - c.params_after, (27 + 1) + 4 * 9 + (36 + 1) + 6 * 9);
    let x = Rng::new(5).vec(4 * 3 * 64, -2.0, 2.0);
    let params = |ck: &Checkpoint| ck.tensors.iter().map(|t| to_f64(&t.2)).collect::<Vec<_>>();
    let (before, after) = (logits_cpu_any(&spec, &params(&ck), &to_f64(&x)), logits_cpu_any(&c.spec, &params(&c.checkpoint), &to_f64(&x)));
    let scale = before.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(before.iter().zip(&after).all(|(a, b)| (a - b).abs() <= 1e-12 * scale), "f64 logits differ: {before:?} vs {after:?}");
    // The compact file describes itself: model_file rebuilds the smaller VGG from its metadata, on the GPU.
    let reloaded = model_file::spec_of(&c.checkpoint, "compact").unwrap();
    assert_eq!(reloaded.widths(), c.spec.widths());
    let small = Model::new(gpu, reloaded).unwrap();
    pathprox::train::trainer::load_into(gpu, &small, &c.checkpoint, "compact").unwrap();
    assert_close("compact conv net on the GPU", &logits_gpu(gpu, &small, &x), &before, 1e-5 * scale, 1e-5);
}

/// `common::logits_cpu` with the batch size taken from the input.
fn logits_cpu_any(spec: &ModelSpec, params: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    common::logits_cpu(spec, params, x, x.len() / spec.input_len())
}
