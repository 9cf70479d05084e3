//! End-to-end gradient checks: the backward pass recorded through the kernels must be the gradient of the
//! forward pass recorded through the kernels.
//!
//! Three checks per network: (1) the GPU forward loss equals an f64 CPU forward built from the ops' CPU
//! references; (2) every GPU gradient element equals a central finite difference of that f64 forward
//! (h = 1e-6, accurate to ~1e-9, so the tolerance only has to cover the GPU's f32 arithmetic); (3) for a
//! few coordinates, a finite difference of the GPU forward itself (f32, h = 1e-2) agrees loosely (MLP only).
//! Networks: a small MLP with ReLU and linear layers; a small conv net (conv+ReLU, max-pool, conv+ReLU,
//! avg-pool, Linear) built from the `nn::conv` layers.

mod common;

use common::*;
use pathprox::gpu::{Gpu, Program};
use pathprox::nn::{Model, ModelSpec};
use pathprox::ops::{elementwise, matmul, softmax_xent};

/// The f64 loss of an MLP on a batch, composed from the CPU references.
fn mlp_loss_cpu(spec: &ModelSpec, params: &[Vec<f64>], x: &[f64], labels: &[u32]) -> f64 {
    let b = labels.len();
    let mut act = x.to_vec();
    for l in 0..spec.depth() {
        let (din, dout) = (spec.widths()[l], spec.widths()[l + 1]);
        let mut z = matmul::cpu::matmul(&act, &params[2 * l], b, dout, din, false, true);
        matmul::cpu::epilogue(&mut z, dout, None, Some(&params[2 * l + 1]), false, None);
        act = if spec.relu()[l] { elementwise::cpu::relu_forward(&z) } else { z };
    }
    softmax_xent::cpu::mean_loss(&act, *spec.widths().last().unwrap(), labels)
}

fn gpu_loss_and_grads(gpu: &Gpu, model: &Model, x: &[f32], labels: &[u32]) -> (f32, Vec<Vec<f32>>) {
    let buf = model.activations(gpu, labels.len());
    buf.set_batch(gpu, x, labels).unwrap();
    let mut prog = Program::new();
    model.forward(gpu, &mut prog, &buf).unwrap();
    model.loss_and_backward(gpu, &mut prog, &buf).unwrap();
    gpu.run(&prog);
    let loss = gpu.to_vec_f32(&buf.loss).unwrap()[0];
    (loss, pollster::block_on(model.store.download_grads(gpu)).unwrap())
}

#[test]
fn mlp_backward_is_the_gradient_of_its_forward() {
    // Both kinds of layer the paper uses: with a ReLU (fused mask in backward) and linear (factorized).
    let spec = ModelSpec::custom(vec![11, 9, 6, 7, 4], vec![true, false, true, false], vec![(0, 1), (2, 3)]).unwrap();
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(21);
        let batch = 5;
        let model = Model::new(gpu, spec.clone()).unwrap();
        let params: Vec<Vec<f32>> = model.init_values(3).into_iter().map(|p| p.iter().map(|v| v * 2.0).collect()).collect();
        model.store.upload(gpu, &params).unwrap();
        let x = rng.vec(batch * 11, -2.0, 2.0);
        let labels: Vec<u32> = (0..batch).map(|_| rng.below(4)).collect();

        let (loss, grads) = gpu_loss_and_grads(gpu, &model, &x, &labels);
        let p64: Vec<Vec<f64>> = params.iter().map(|p| to_f64(p)).collect();
        let x64 = to_f64(&x);
        let cpu_loss = mlp_loss_cpu(&spec, &p64, &x64, &labels);
        assert_close("forward loss", &[loss], &[cpu_loss], 1e-6, 1e-5);

        // (2) every parameter: central differences of the f64 forward.
        let h = 1e-6;
        for (pi, info) in model.store.infos.iter().enumerate() {
            let mut fd = vec![0.0; info.len()];
            for (e, fd_e) in fd.iter_mut().enumerate() {
                let mut p = p64.clone();
                p[pi][e] += h;
                let up = mlp_loss_cpu(&spec, &p, &x64, &labels);
                p[pi][e] -= 2.0 * h;
                let down = mlp_loss_cpu(&spec, &p, &x64, &labels);
                *fd_e = (up - down) / (2.0 * h);
            }
            // f32 backward over ≤ 11-term sums of O(1) values: ~1e-6 absolute error.
            assert_close(&format!("gradient of {}", info.name), &grads[pi], &fd, 2e-5, 1e-4);
        }

        // (3) a few coordinates by finite differences of the GPU forward itself.
        let h = 1e-2f32;
        for (pi, e) in [(0usize, 3usize), (2, 10), (6, 5), (7, 1)] {
            let mut p = params.clone();
            p[pi][e] += h;
            model.store.upload(gpu, &p).unwrap();
            let (up, _) = gpu_loss_and_grads(gpu, &model, &x, &labels);
            p[pi][e] -= 2.0 * h;
            model.store.upload(gpu, &p).unwrap();
            let (down, _) = gpu_loss_and_grads(gpu, &model, &x, &labels);
            let fd = ((up - down) / (2.0 * h)) as f64;
            // f32 loss differences over 2h = 0.02: ~1e-5 rounding, plus O(h²) curvature.
            assert_close(&format!("GPU finite difference, {} [{e}]", model.store.infos[pi].name), &[grads[pi][e]], &[fd], 2e-3, 2e-2);
        }
    });
}

#[test]
fn conv_net_backward_is_the_gradient_of_its_forward() {
    // Two conv groups, ReLU masks applied through the scratch pass (conv below conv, pool below conv),
    // a flatten, 6×5 images (the max-pool drops the odd column, so its zero gradient is checked too).
    let spec = small_conv_spec();
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(33);
        let n = 2;
        let model = Model::new(gpu, spec.clone()).unwrap();
        let params: Vec<Vec<f32>> = model.store.infos.iter().map(|i| rng.vec(i.len(), -0.5, 0.5)).collect();
        model.store.upload(gpu, &params).unwrap();
        let x = rng.vec(n * spec.input_len(), -2.0, 2.0);
        let labels: Vec<u32> = (0..n).map(|_| rng.below(3)).collect();

        let (loss, grads) = gpu_loss_and_grads(gpu, &model, &x, &labels);
        let p64: Vec<Vec<f64>> = params.iter().map(|p| to_f64(p)).collect();
        let x64 = to_f64(&x);
        assert_close("conv net forward loss", &[loss], &[loss_cpu(&spec, &p64, &x64, &labels)], 1e-6, 1e-5);
        let fd = grads_fd(&spec, &p64, &x64, &labels);
        for (pi, info) in model.store.infos.iter().enumerate() {
            // f32 backward through sums of ≤ 5·9·6 terms of O(1): ~1e-5 absolute error at worst.
            assert_close(&format!("gradient of {}", info.name), &grads[pi], &fd[pi], 3e-5, 1e-4);
        }
    });
}
