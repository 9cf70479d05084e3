//! The generalised model on a conv net (issue 8): one training step of each method against an f64 CPU
//! implementation of docs/algorithm.md (gradients by central differences of an f64 forward, then SGD,
//! balancing, projection and prox written with the ops' f64 references), and balancing's defining
//! property — the conv net computes the same function after it.
//! The net (`common::small_conv_spec`): two conv groups of 4 and 5 units, a max-pool between them, an
//! ungrouped Linear at the end. These test the model and the methods, not the kernels (tests/kernels
//! runs those on every adapter), so they run on the first adapter only.

mod common;

use common::*;
use pathprox::gpu::{Gpu, Program};
use pathprox::nn::{Model, ParamClass};
use pathprox::ops::optim;
use pathprox::train::method::{self, Method, Update};

const LR: f64 = 0.1;

fn with_first_gpu(body: impl FnOnce(&Gpu)) {
    let gpu = first_gpu();
    body(&gpu)
}
const LAMBDA: f64 = 0.05;

fn gpu_step(gpu: &Gpu, model: &Model, x: &[f32], labels: &[u32], method: Method) -> Vec<Vec<f32>> {
    let buf = model.activations(gpu, labels.len());
    buf.set_batch(gpu, x, labels).unwrap();
    let hyper = gpu.upload_f32(&[4], &[LR as f32, LAMBDA as f32, 0.0, 0.0]).unwrap();
    let update = Update::new(gpu, model, method).unwrap();
    let mut prog = Program::new();
    model.forward(gpu, &mut prog, &buf).unwrap();
    model.loss_and_backward(gpu, &mut prog, &buf).unwrap();
    update.record(gpu, &mut prog, model, &hyper).unwrap();
    gpu.run(&prog);
    pollster::block_on(model.store.download(gpu)).unwrap()
}

#[test]
fn one_step_of_each_method_on_a_conv_net_matches_algorithm_md_in_f64() {
    let spec = small_conv_spec();
    with_first_gpu(|gpu| {
        let mut rng = Rng::new(71);
        let n = 3;
        let model = Model::new(gpu, spec.clone()).unwrap();
        let mut params = model.init_values(5);
        // Non-zero biases, and group 1's v made large so that balancing has real work to do; unit 1 of
        // group 0 silenced (tiny w, negative bias: its ReLU is off, so its v gets no gradient) with a tiny
        // v, so that the prox switches it off (τ = γλ = 5e-3).
        for (t, info) in params.iter_mut().zip(&model.store.infos) {
            if info.class == ParamClass::Bias {
                *t = rng.vec(t.len(), -0.2, 0.2);
            }
        }
        params[6].iter_mut().for_each(|v| *v *= 8.0);
        params[0][27..54].iter_mut().for_each(|w| *w *= 1e-3);
        params[1][1] = -0.5;
        for o in 0..4 {
            for k in 0..9 {
                params[2][(o * 4 + 1) * 9 + k] *= 1e-3;
            }
        }
        let x = rng.vec(n * spec.input_len(), -2.0, 2.0);
        let labels: Vec<u32> = (0..n).map(|_| rng.below(3)).collect();
        let classes: Vec<ParamClass> = model.store.infos.iter().map(|i| i.class).collect();
        let p64: Vec<Vec<f64>> = params.iter().map(|p| to_f64(p)).collect();
        let loss_grads = grads_fd(&spec, &p64, &to_f64(&x), &labels);
        let methods = [
            Method::WeightDecay,
            Method::WeightDecayNorm,
            Method::PathProx { balance: false },
            Method::PathProx { balance: true },
            Method::PathNormSgd,
            Method::Lasso,
            Method::GroupLasso,
        ];
        for method in methods {
            model.store.upload(gpu, &params).unwrap();
            let got = gpu_step(gpu, &model, &x, &labels, method);
            let want = method_step_cpu(&spec, &classes, &p64, &loss_grads, method, LR, LAMBDA);
            for ((g, w), info) in got.iter().zip(&want).zip(&model.store.infos) {
                assert_close(&format!("{} after one {} step", info.name, method.name()), g, w, 2e-6, 2e-4);
            }
            if let Method::PathProx { .. } = method {
                let dead = (0..4).all(|o| (0..9).all(|k| got[2][(o * 4 + 1) * 9 + k] == 0.0));
                assert!(dead, "the prox switches off unit 1 of group 0 (its v is below τ)");
            }
            if method == Method::WeightDecayNorm {
                let g = group_cpu(&spec, &got.iter().map(|t| to_f64(t)).collect::<Vec<_>>(), (2, 3));
                assert!((0..g.units).all(|i| (g.w_norm(i) - 1.0).abs() < 1e-5), "wd-wn leaves every w on the unit sphere");
            }
        }
    });
}

#[test]
fn balancing_leaves_the_conv_net_function_unchanged() {
    let spec = small_conv_spec();
    with_first_gpu(|gpu| {
        let mut rng = Rng::new(72);
        let n = 4;
        let model = Model::new(gpu, spec.clone()).unwrap();
        let mut params = model.init_values(6);
        params[2].iter_mut().for_each(|v| *v *= 30.0); // group 0's v: P_0 ≫ P_1
        for (t, info) in params.iter_mut().zip(&model.store.infos) {
            if info.class == ParamClass::Bias {
                *t = rng.vec(t.len(), -0.3, 0.3);
            }
        }
        model.store.upload(gpu, &params).unwrap();
        let buf = model.inference(gpu, n);
        let x = rng.vec(n * spec.input_len(), -2.0, 2.0);
        buf.set_batch(gpu, &x, &vec![0; n]).unwrap();
        let logits = |gpu: &Gpu| {
            let mut prog = Program::new();
            model.forward(gpu, &mut prog, &buf).unwrap();
            gpu.run(&prog);
            gpu.to_vec_f32(buf.logits()).unwrap()
        };
        let before = logits(gpu);
        let groups = method::groups(&model, &spec.groups).unwrap();
        let state = optim::balance_state(gpu, &groups);
        let mut prog = Program::new();
        optim::balance(gpu, &mut prog, &groups, &state).unwrap();
        gpu.run(&prog);
        let after_params = pollster::block_on(model.store.download(gpu)).unwrap();
        let moved = after_params[2].iter().zip(&params[2]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(moved > 1.0, "balancing rescaled group 0's v (largest change {moved})");
        let p = |ps: &[Vec<f32>]| ps.iter().map(|t| to_f64(t)).collect::<Vec<_>>();
        let (g0, g1) = (group_cpu(&spec, &p(&after_params), (0, 1)), group_cpu(&spec, &p(&after_params), (2, 3)));
        assert!((g0.path_norm() / g1.path_norm() - 1.0).abs() < 1e-4, "both groups end at the geometric mean");
        assert_close("logits after balancing", &logits(gpu), &to_f64(&before), 1e-5, 1e-4);
    });
}

/// Task 5's pruning pass on a conv net: a unit whose v (its input channel of the next conv) is all zero is
/// flagged and its w (output channel), bias and v zeroed; the other units are untouched.
#[test]
fn pruning_removes_a_dead_conv_unit_and_only_it() {
    let spec = small_conv_spec();
    with_first_gpu(|gpu| {
        let model = Model::new(gpu, spec.clone()).unwrap();
        let mut params = model.init_values(8);
        // Unit 2 of group 1 (conv 3 → conv 4): its v is input channel 2 of conv 4's weight [4, 5, 3, 3].
        for o in 0..4 {
            params[6][(o * 5 + 2) * 9..(o * 5 + 3) * 9].iter_mut().for_each(|v| *v = 0.0);
        }
        params[5][2] = 0.7;
        model.store.upload(gpu, &params).unwrap();
        let pruner = pathprox::train::prune::Pruner::new(gpu, &model).unwrap();
        pruner.run_once(gpu).unwrap();
        let alive = pollster::block_on(pruner.read_alive(gpu)).unwrap();
        assert_eq!(alive, vec![vec![true; 4], vec![true, true, false, true, true]]);
        let after = pollster::block_on(model.store.download(gpu)).unwrap();
        // conv 3's weight [5, 4, 3, 3]: output channel 2 is zeroed, with its bias.
        assert!(after[4][2 * 36..3 * 36].iter().all(|&w| w == 0.0) && after[5][2] == 0.0);
        let mut want = params.clone();
        want[4][2 * 36..3 * 36].iter_mut().for_each(|w| *w = 0.0);
        want[5][2] = 0.0;
        assert_eq!(after, want, "nothing else changes");
    });
}

/// The numbers a log point takes from the weights (`train::eval::Evaluator`): the path norm Σ‖w_i‖‖v_i‖
/// and the active units over the groups (on this net: 4 + 5 conv channels, one silenced), ‖θ‖² over all
/// weights and over the ungrouped Linear, against f64 sums over the downloaded weights (docs/algorithm.md,
/// "Metrics").
#[test]
fn evaluator_norms_match_f64_on_a_conv_net() {
    use pathprox::train::eval::Evaluator;
    let spec = small_conv_spec();
    with_first_gpu(|gpu| {
        let model = Model::new(gpu, spec.clone()).unwrap();
        let mut params = model.init_values(9);
        // Unit 2 of group 1 (input channel 2 of the third conv, [4, 5, 3, 3]) gets a zero v: inactive.
        for o in 0..4 {
            params[6][(o * 5 + 2) * 9..(o * 5 + 3) * 9].iter_mut().for_each(|v| *v = 0.0);
        }
        model.store.upload(gpu, &params).unwrap();
        let m = pollster::block_on(Evaluator::new(gpu, &model, &[], 1).unwrap().measure(gpu)).unwrap();
        let p: Vec<Vec<f64>> = params.iter().map(|t| to_f64(t)).collect();
        let sq = |t: &[f64]| t.iter().map(|x| x * x).sum::<f64>();
        let (mut path_norm, mut active) = (0.0, 0);
        for &(w, v) in &spec.groups {
            // Unit i: output channel i of layer w ([units, fan_in] rows), input channel i of layer v.
            let (ws, vs) = (&spec.weight_shapes()[w].0, &spec.weight_shapes()[v].0);
            let (units, fan_in, c) = (ws[0], ws[1..].iter().product::<usize>(), vs[2..].iter().product::<usize>());
            for i in 0..units {
                let wn = sq(&p[2 * w][i * fan_in..(i + 1) * fan_in]).sqrt();
                let vn = (0..vs[0]).map(|o| sq(&p[2 * v][(o * units + i) * c..(o * units + i + 1) * c])).sum::<f64>().sqrt();
                path_norm += wn * vn;
                active += (wn * vn > 0.0) as usize;
            }
        }
        let layers = spec.weight_shapes().len();
        let sq_norm: f64 = (0..layers).map(|l| sq(&p[2 * l])).sum();
        let grouped = |l: usize| spec.groups.iter().any(|&(w, v)| l == w || l == v);
        let sq_norm_other: f64 = (0..layers).filter(|&l| !grouped(l)).map(|l| sq(&p[2 * l])).sum();
        assert_eq!(active, 8);
        assert!((m.active_units - 100.0 * 8.0 / 9.0).abs() < 1e-9, "active units {}", m.active_units);
        let close = |name: &str, got: f64, want: f64| assert!((got - want).abs() <= 1e-5 * want.abs(), "{name}: {got} vs {want}");
        close("path norm", m.path_norm, path_norm);
        close("‖θ‖²", m.sq_norm, sq_norm);
        close("‖θ_other‖²", m.sq_norm_other, sq_norm_other);
        assert!(sq_norm_other > 0.0 && sq_norm_other < sq_norm);
    });
}
