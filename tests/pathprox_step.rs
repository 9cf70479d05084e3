//! One training step of each kind on a small network, against a plain f64 CPU implementation of
//! docs/algorithm.md written out here (its own backprop, SGD, layer-wise balancing, projection and prox), and
//! balancing's defining property: it leaves the network function unchanged.

mod common;

use common::*;
use pathprox::gpu::{Gpu, Program};
use pathprox::nn::{Model, ModelSpec};
use pathprox::ops::optim;
use pathprox::train::method::{self, Method, Update};

/// Layers 1-2 and 3-4 are PathProx groups; layer 5 is in no group (it gets plain weight decay).
fn spec() -> ModelSpec {
    ModelSpec::custom(vec![7, 6, 5, 6, 4, 3], vec![true, false, true, false, false], vec![(0, 1), (2, 3)]).unwrap()
}

struct Net {
    w: Vec<Vec<f64>>, // [out, in] per layer
    b: Vec<Vec<f64>>,
}

fn cpu_forward(spec: &ModelSpec, net: &Net, x: &[f64], batch: usize) -> Vec<Vec<f64>> {
    let mut xs = vec![x.to_vec()];
    for l in 0..spec.depth() {
        let (din, dout) = (spec.widths()[l], spec.widths()[l + 1]);
        let prev = &xs[l];
        let mut z = vec![0.0; batch * dout];
        for i in 0..batch {
            for o in 0..dout {
                let s: f64 = (0..din).map(|k| prev[i * din + k] * net.w[l][o * din + k]).sum();
                z[i * dout + o] = s + net.b[l][o];
            }
        }
        if spec.relu()[l] {
            z.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        xs.push(z);
    }
    xs
}

/// Mean cross-entropy gradients (dW, db) per layer.
fn cpu_grads(spec: &ModelSpec, net: &Net, x: &[f64], labels: &[u32]) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let batch = labels.len();
    let xs = cpu_forward(spec, net, x, batch);
    let layers = spec.depth();
    let classes = spec.widths()[layers];
    let mut delta = vec![0.0; batch * classes];
    for i in 0..batch {
        let row = &xs[layers][i * classes..(i + 1) * classes];
        let m = row.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
        for c in 0..classes {
            let p = (row[c] - m).exp() / z;
            delta[i * classes + c] = (p - if c as u32 == labels[i] { 1.0 } else { 0.0 }) / batch as f64;
        }
    }
    let (mut dw, mut db) = (vec![vec![]; layers], vec![vec![]; layers]);
    for l in (0..layers).rev() {
        let (din, dout) = (spec.widths()[l], spec.widths()[l + 1]);
        dw[l] = (0..dout * din).map(|e| (0..batch).map(|i| delta[i * dout + e / din] * xs[l][i * din + e % din]).sum()).collect();
        db[l] = (0..dout).map(|o| (0..batch).map(|i| delta[i * dout + o]).sum()).collect();
        if l > 0 {
            delta = (0..batch * din)
                .map(|e| {
                    let (i, k) = (e / din, e % din);
                    let g: f64 = (0..dout).map(|o| delta[i * dout + o] * net.w[l][o * din + k]).sum();
                    if spec.relu()[l - 1] && xs[l][e] <= 0.0 { 0.0 } else { g }
                })
                .collect();
        }
    }
    (dw, db)
}

fn norm(v: impl Iterator<Item = f64>) -> f64 {
    v.map(|x| x * x).sum::<f64>().sqrt()
}

/// docs/algorithm.md, Algorithm 1, steps 2-4, on the CPU, for groups of consecutive layers (w layer, w+1).
fn cpu_pathprox(spec: &ModelSpec, net: &mut Net, lr: f64, lambda: f64, balance: bool) {
    let units = |l: usize| spec.widths()[l + 1];
    let w_row = |net: &Net, l: usize, i: usize| norm(net.w[l][i * spec.widths()[l]..(i + 1) * spec.widths()[l]].iter().cloned());
    let v_col = |net: &Net, l: usize, i: usize| norm((0..spec.widths()[l + 2]).map(|o| net.w[l + 1][o * spec.widths()[l + 1] + i]));
    if balance {
        let groups = &spec.groups;
        let p: Vec<f64> = groups.iter().map(|&(l, _)| (0..units(l)).map(|i| w_row(net, l, i) * v_col(net, l, i)).sum()).collect();
        let pbar = (p.iter().map(|v| v.max(1e-6).ln()).sum::<f64>() / groups.len() as f64).exp();
        let mut cur = p.clone();
        for (g, &(_, vl)) in groups.iter().enumerate() {
            let s = pbar / cur[g].max(1e-6);
            net.w[vl].iter_mut().for_each(|x| *x *= s);
            net.b[vl].iter_mut().for_each(|x| *x *= s);
            if g + 1 < groups.len() {
                let (wl2, vl2) = groups[g + 1];
                net.b[wl2].iter_mut().for_each(|x| *x *= s);
                net.w[vl2].iter_mut().for_each(|x| *x /= s);
                cur[g + 1] /= s;
            }
        }
    }
    let tau = lambda * lr;
    for &(wl, vl) in &spec.groups {
        let (fan_in, outs) = (spec.widths()[wl], spec.widths()[vl + 1]);
        for i in 0..units(wl) {
            let n = w_row(net, wl, i).max(1e-6);
            net.w[wl][i * fan_in..(i + 1) * fan_in].iter_mut().for_each(|x| *x /= n);
            net.b[wl][i] /= n;
            let m = v_col(net, wl, i);
            let keep = if m <= tau { 0.0 } else { 1.0 - tau / m };
            (0..outs).for_each(|o| net.w[vl][o * units(wl) + i] *= keep);
        }
    }
}

struct Setup {
    model: Model,
    params: Vec<Vec<f32>>,
    x: Vec<f32>,
    labels: Vec<u32>,
}

fn setup(gpu: &Gpu, seed: u64, scale: f32) -> Setup {
    let model = Model::new(gpu, spec()).unwrap();
    let params: Vec<Vec<f32>> = model.init_values(seed).into_iter().map(|p| p.iter().map(|v| v * scale).collect()).collect();
    model.store.upload(gpu, &params).unwrap();
    let mut rng = Rng::new(seed);
    let x = rng.vec(6 * 7, -1.0, 1.0);
    let labels = (0..6).map(|_| rng.below(3)).collect();
    Setup { model, params, x, labels }
}

fn to_net(params: &[Vec<f32>]) -> Net {
    Net { w: params.iter().step_by(2).map(|p| to_f64(p)).collect(), b: params.iter().skip(1).step_by(2).map(|p| to_f64(p)).collect() }
}

/// Runs one GPU step of `method` and returns the parameters after it.
fn gpu_step(gpu: &Gpu, s: &Setup, method: Method, lr: f32, lambda: f32) -> Vec<Vec<f32>> {
    let buf = s.model.activations(gpu, s.labels.len());
    buf.set_batch(gpu, &s.x, &s.labels).unwrap();
    let hyper = gpu.upload_f32(&[4], &[lr, lambda, 0.0, 0.0]).unwrap();
    let update = Update::new(gpu, &s.model, method).unwrap();
    let mut prog = Program::new();
    s.model.forward(gpu, &mut prog, &buf).unwrap();
    s.model.loss_and_backward(gpu, &mut prog, &buf).unwrap();
    update.record(gpu, &mut prog, &s.model, &hyper).unwrap();
    gpu.run(&prog);
    pollster::block_on(s.model.store.download(gpu)).unwrap()
}

/// SGD with weight decay on the layers `decayed` says, on the CPU.
fn cpu_sgd(spec: &ModelSpec, net: &mut Net, s: &Setup, lr: f64, lambda: f64, decayed: impl Fn(usize) -> bool) {
    let (dw, db) = cpu_grads(spec, net, &to_f64(&s.x), &s.labels);
    for l in 0..spec.depth() {
        let d = if decayed(l) { lambda } else { 0.0 };
        net.w[l].iter_mut().zip(&dw[l]).for_each(|(w, g)| *w -= lr * (g + d * *w));
        net.b[l].iter_mut().zip(&db[l]).for_each(|(b, g)| *b -= lr * g);
    }
}

fn compare(name: &str, got: &[Vec<f32>], want: &Net) {
    for l in 0..want.w.len() {
        // f32 step of O(1) values: ~1e-6; the ≈1e-5 the issue asks for, with a little room for norms.
        assert_close(&format!("{name}: layer {} weight", l + 1), &got[2 * l], &want.w[l], 2e-6, 1e-5);
        assert_close(&format!("{name}: layer {} bias", l + 1), &got[2 * l + 1], &want.b[l], 2e-6, 1e-5);
    }
}

#[test]
fn weight_decay_step_matches_the_cpu() {
    on_each_gpu(|gpu| {
        let s = setup(gpu, 1, 1.0);
        let got = gpu_step(gpu, &s, Method::WeightDecay, 0.3, 0.01);
        let mut net = to_net(&s.params);
        cpu_sgd(&s.model.spec, &mut net, &s, 0.3, 0.01, |_| true);
        compare("wd", &got, &net);
    });
}

#[test]
fn pathprox_step_matches_the_cpu_with_and_without_balancing() {
    on_each_gpu(|gpu| {
        for balance in [false, true] {
            // λγ = 0.25 against v-column norms of ~0.1-0.5: some units are cut, most are kept.
            let (lr, lambda) = (0.1, 2.5);
            let s = setup(gpu, 2, 0.6);
            let got = gpu_step(gpu, &s, Method::PathProx { balance }, lr, lambda);
            let spec = &s.model.spec;
            let mut net = to_net(&s.params);
            cpu_sgd(spec, &mut net, &s, lr as f64, lambda as f64, |l| l == 4);
            cpu_pathprox(spec, &mut net, lr as f64, lambda as f64, balance);
            compare(&format!("pathprox balance={balance}"), &got, &net);
            let mut cut = 0;
            for &(wl, vl) in &spec.groups {
                let (fan_in, units, outs) = (spec.widths()[wl], spec.widths()[wl + 1], spec.widths()[vl + 1]);
                for i in 0..units {
                    let wn = norm(got[2 * wl][i * fan_in..(i + 1) * fan_in].iter().map(|&x| x as f64));
                    assert!((wn - 1.0).abs() < 1e-6, "unit {i} of layer {}: ‖w‖ = {wn} after projection", wl + 1);
                    let v: Vec<f32> = (0..outs).map(|o| got[2 * vl][o * units + i]).collect();
                    let want_zero = (0..outs).all(|o| net.w[vl][o * units + i] == 0.0);
                    if want_zero {
                        assert!(v.iter().all(|&x| x == 0.0), "unit {i}: v should be exactly zero, got {v:?}");
                        cut += 1;
                    }
                }
            }
            assert!(cut > 0 && cut < 11, "the threshold should cut some units but not all (cut {cut})");
        }
    });
}

#[test]
fn balancing_views_of_one_buffer_leaves_the_network_function_unchanged() {
    on_each_gpu(|gpu| {
        let s = setup(gpu, 3, 1.5);
        let buf = s.model.activations(gpu, 6);
        buf.set_batch(gpu, &s.x, &s.labels).unwrap();
        let logits = |gpu: &Gpu| {
            let mut prog = Program::new();
            s.model.forward(gpu, &mut prog, &buf).unwrap();
            gpu.run(&prog);
            gpu.to_vec_f32(&buf.x[5]).unwrap()
        };
        let before = logits(gpu);
        let groups = method::groups(&s.model, &s.model.spec.groups).unwrap();
        let state = optim::balance_state(gpu, &groups);
        let mut prog = Program::new();
        optim::balance(gpu, &mut prog, &groups, &state).unwrap();
        gpu.run(&prog);
        let after = logits(gpu);
        let scale = before.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        assert_close("logits after balancing", &after, &to_f64(&before), 1e-5 * scale, 0.0);
        // And the parameters did change (the groups were not balanced to begin with).
        let p = pollster::block_on(s.model.store.download(gpu)).unwrap();
        assert!(p[3] != s.params[3], "balancing should rescale layer 2's weights");
    });
}
