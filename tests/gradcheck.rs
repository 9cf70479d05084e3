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
use pathprox::nn::{Mlp, MlpSpec};
use pathprox::ops::{elementwise, matmul, softmax_xent};

/// The f64 loss of an MLP on a batch, composed from the CPU references.
fn mlp_loss_cpu(spec: &MlpSpec, params: &[Vec<f64>], x: &[f64], labels: &[u32]) -> f64 {
    let b = labels.len();
    let mut act = x.to_vec();
    for l in 0..spec.layers() {
        let (din, dout) = (spec.widths[l], spec.widths[l + 1]);
        let mut z = matmul::cpu::matmul(&act, &params[2 * l], b, dout, din, false, true);
        matmul::cpu::epilogue(&mut z, dout, None, Some(&params[2 * l + 1]), false, None);
        act = if spec.relu[l] { elementwise::cpu::relu_forward(&z) } else { z };
    }
    softmax_xent::cpu::mean_loss(&act, *spec.widths.last().unwrap(), labels)
}

fn gpu_loss_and_grads(gpu: &Gpu, mlp: &Mlp, x: &[f32], labels: &[u32]) -> (f32, Vec<Vec<f32>>) {
    let buf = mlp.buffers(gpu, labels.len());
    buf.set_batch(gpu, x, labels).unwrap();
    let mut prog = Program::new();
    mlp.forward(gpu, &mut prog, &buf).unwrap();
    mlp.loss_and_backward(gpu, &mut prog, &buf).unwrap();
    gpu.run(&prog);
    let loss = gpu.to_vec_f32(&buf.loss).unwrap()[0];
    (loss, pollster::block_on(mlp.store.download_grads(gpu)).unwrap())
}

#[test]
fn mlp_backward_is_the_gradient_of_its_forward() {
    // Both kinds of layer the paper uses: with a ReLU (fused mask in backward) and linear (factorized).
    let spec = MlpSpec::custom(vec![11, 9, 6, 7, 4], vec![true, false, true, false], vec![(0, 1), (2, 3)]).unwrap();
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(21);
        let batch = 5;
        let mlp = Mlp::new(gpu, spec.clone()).unwrap();
        let params: Vec<Vec<f32>> = mlp.init_values(3).into_iter().map(|p| p.iter().map(|v| v * 2.0).collect()).collect();
        mlp.store.upload(gpu, &params).unwrap();
        let x = rng.vec(batch * 11, -2.0, 2.0);
        let labels: Vec<u32> = (0..batch).map(|_| rng.below(4)).collect();

        let (loss, grads) = gpu_loss_and_grads(gpu, &mlp, &x, &labels);
        let p64: Vec<Vec<f64>> = params.iter().map(|p| to_f64(p)).collect();
        let x64 = to_f64(&x);
        let cpu_loss = mlp_loss_cpu(&spec, &p64, &x64, &labels);
        assert_close("forward loss", &[loss], &[cpu_loss], 1e-6, 1e-5);

        // (2) every parameter: central differences of the f64 forward.
        let h = 1e-6;
        for (pi, info) in mlp.store.infos.iter().enumerate() {
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
            mlp.store.upload(gpu, &p).unwrap();
            let (up, _) = gpu_loss_and_grads(gpu, &mlp, &x, &labels);
            p[pi][e] -= 2.0 * h;
            mlp.store.upload(gpu, &p).unwrap();
            let (down, _) = gpu_loss_and_grads(gpu, &mlp, &x, &labels);
            let fd = ((up - down) / (2.0 * h)) as f64;
            // f32 loss differences over 2h = 0.02: ~1e-5 rounding, plus O(h²) curvature.
            assert_close(&format!("GPU finite difference, {} [{e}]", mlp.store.infos[pi].name), &[grads[pi][e]], &[fd], 2e-3, 2e-2);
        }
    });
}

/// The small conv net of the conv gradient check, as plain sizes.
const CONV_N: usize = 2;
const CONV_IN: [usize; 4] = [CONV_N, 3, 6, 5];

/// f64 loss of conv(3→4)+ReLU → max-pool → conv(4→5)+ReLU → avg-pool → Linear(5→3) → cross-entropy,
/// composed from the CPU references. `p` = [w1, b1, w2, b2, w3, b3].
fn conv_net_loss_cpu(p: &[Vec<f64>], x: &[f64], labels: &[u32]) -> f64 {
    use pathprox::ops::{conv2d::cpu as conv, pool2d::cpu as pool};
    let [n, c, h, w] = CONV_IN;
    let d1 = conv::Dims { n, c_in: c, c_out: 4, h, w };
    let y1 = conv::forward(&d1, x, &p[0], Some(&p[1]), true);
    let p1 = pool::max_forward(&y1, d1.y_shape());
    let d2 = conv::Dims { n, c_in: 4, c_out: 5, h: h / 2, w: w / 2 };
    let y2 = conv::forward(&d2, &p1, &p[2], Some(&p[3]), true);
    let p2 = pool::avg_forward(&y2, d2.y_shape()); // [n, 5, 1, 1] = [n, 5]
    let mut logits = matmul::cpu::matmul(&p2, &p[4], n, 3, 5, false, true);
    matmul::cpu::epilogue(&mut logits, 3, None, Some(&p[5]), false, None);
    softmax_xent::cpu::mean_loss(&logits, 3, labels)
}

/// The same net through the GPU layers: loss and the six gradients.
fn conv_net_gpu(gpu: &Gpu, p: &[Vec<f32>], x: &[f32], labels: &[u32]) -> (f32, Vec<Vec<f32>>) {
    use pathprox::gpu::DType;
    use pathprox::nn::conv::{Conv2d, Pool2d};
    use pathprox::nn::Dense;
    let [n, c, h, w] = CONV_IN;
    let shapes: [&[usize]; 6] = [&[4, c, 3, 3], &[4], &[5, 4, 3, 3], &[5], &[3, 5], &[3]];
    let params: Vec<_> = shapes.iter().zip(p).map(|(s, v)| gpu.upload_f32(s, v).unwrap()).collect();
    let grads: Vec<_> = shapes.iter().map(|s| gpu.empty(s, DType::F32)).collect();
    for g in &grads {
        gpu.poison(g);
    }
    let conv1 = Conv2d { w: params[0].clone(), b: params[1].clone(), dw: grads[0].clone(), db: grads[1].clone(), relu: true };
    let conv2 = Conv2d { w: params[2].clone(), b: params[3].clone(), dw: grads[2].clone(), db: grads[3].clone(), relu: true };
    let fc = Dense { w: params[4].clone(), b: params[5].clone(), dw: grads[4].clone(), db: grads[5].clone(), relu: false };
    let t = |s: &[usize]| gpu.empty(s, DType::F32);
    let xt = gpu.upload_f32(&CONV_IN, x).unwrap();
    let lt = gpu.upload_u32(&[n], labels).unwrap();
    let (y1, z1g, y1g) = (t(&[n, 4, h, w]), t(&[n, 4, h, w]), t(&[n, 4, h, w]));
    let (p1, p1g) = (t(&[n, 4, h / 2, w / 2]), t(&[n, 4, h / 2, w / 2]));
    let (y2, y2g, z2g) = (t(&[n, 5, h / 2, w / 2]), t(&[n, 5, h / 2, w / 2]), t(&[n, 5, h / 2, w / 2]));
    let (p2, p2g) = (t(&[n, 5, 1, 1]), t(&[n, 5, 1, 1]));
    let (logits, dlogits, loss) = (t(&[n, 3]), t(&[n, 3]), t(&[1]));

    let mut prog = Program::new();
    conv1.forward(gpu, &mut prog, &xt, &y1).unwrap();
    Pool2d::Max.forward(gpu, &mut prog, &y1, &p1).unwrap();
    conv2.forward(gpu, &mut prog, &p1, &y2).unwrap();
    Pool2d::Avg.forward(gpu, &mut prog, &y2, &p2).unwrap();
    let p2_flat = p2.reshape(&[n, 5]).unwrap();
    fc.forward(gpu, &mut prog, &p2_flat, &logits).unwrap();
    softmax_xent::mean_loss_backward(gpu, &mut prog, &logits, &lt, &loss, &dlogits).unwrap();
    fc.backward(gpu, &mut prog, &p2_flat, &dlogits, Some(&p2g.reshape(&[n, 5]).unwrap()), false).unwrap();
    Pool2d::Avg.backward(gpu, &mut prog, &y2, &p2g, &y2g).unwrap();
    conv2.relu_backward(gpu, &mut prog, &y2, &y2g, &z2g).unwrap();
    conv2.backward(gpu, &mut prog, &p1, &z2g, Some(&p1g)).unwrap();
    Pool2d::Max.backward(gpu, &mut prog, &y1, &p1g, &y1g).unwrap();
    conv1.relu_backward(gpu, &mut prog, &y1, &y1g, &z1g).unwrap();
    conv1.backward(gpu, &mut prog, &xt, &z1g, None).unwrap();
    gpu.run(&prog);
    let loss = gpu.to_vec_f32(&loss).unwrap()[0];
    (loss, grads.iter().map(|g| gpu.to_vec_f32(g).unwrap()).collect())
}

#[test]
fn conv_net_backward_is_the_gradient_of_its_forward() {
    // 6×5 images: the max-pool drops the odd column, so its zero gradient is checked too.
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(33);
        let [n, c, _, _] = CONV_IN;
        let sizes = [4 * c * 9, 4, 5 * 4 * 9, 5, 3 * 5, 3];
        let names = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"];
        let params: Vec<Vec<f32>> = sizes.iter().map(|&s| rng.vec(s, -0.5, 0.5)).collect();
        let x = rng.vec(CONV_IN.iter().product(), -2.0, 2.0);
        let labels: Vec<u32> = (0..n).map(|_| rng.below(3)).collect();

        let (loss, grads) = conv_net_gpu(gpu, &params, &x, &labels);
        let p64: Vec<Vec<f64>> = params.iter().map(|p| to_f64(p)).collect();
        let x64 = to_f64(&x);
        assert_close("conv net forward loss", &[loss], &[conv_net_loss_cpu(&p64, &x64, &labels)], 1e-6, 1e-5);

        let h = 1e-6;
        for (pi, name) in names.iter().enumerate() {
            let fd: Vec<f64> = (0..sizes[pi])
                .map(|e| {
                    let mut p = p64.clone();
                    p[pi][e] += h;
                    let up = conv_net_loss_cpu(&p, &x64, &labels);
                    p[pi][e] -= 2.0 * h;
                    (up - conv_net_loss_cpu(&p, &x64, &labels)) / (2.0 * h)
                })
                .collect();
            // f32 backward through sums of ≤ 30·9 terms of O(1): ~1e-5 absolute error at worst.
            assert_close(&format!("gradient of {name}"), &grads[pi], &fd, 3e-5, 1e-4);
        }
    });
}
