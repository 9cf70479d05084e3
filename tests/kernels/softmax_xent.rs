//! Softmax cross-entropy (`src/ops/softmax_xent.rs`, `shaders/softmax_xent.wgsl`).
//!
//! Tolerances, from the arithmetic (u = 2^-24, the f32 unit roundoff; C classes):
//! - loss = (m − x_label) + log Σ exp(x − m). The subtraction of two f32 logits is one rounding relative to
//!   the result (≤ u·loss); the sum of C exponentials is off by ≤ (C + 3)·u relatively (C − 1 additions,
//!   and WGSL's exp(x) is within 3 + 2|x| ulp, whose largest weight (3 + 2|x|)·e^x over x ≤ 0 is 3), and
//!   log adds ≤ 2^-21 absolute (WGSL's bound on [0.5, 2]; a few ulp beyond). So
//!   |Δloss| ≤ LOSS_ATOL(C) = (C + 8)·u + 2^-21, plus rtol 4u.
//! - gradient = scale·(exp((x − m) − ls) − onehot): the exp argument inherits ls's error LOSS_ATOL, and
//!   exp's own ≤ 3u on the largest terms, all multiplied by a softmax value ≤ 1:
//!   |Δgrad| ≤ scale·(LOSS_ATOL(C) + 8u).

use crate::common::*;
use pathprox::gpu::{DType, Gpu, Program, Tensor};
use pathprox::ops::softmax_xent::{self, cpu};

const U: f64 = f32::EPSILON as f64 / 2.0;
const CLASSES: &[usize] = &[1, 2, 10, 33, 401];

fn loss_atol(c: usize) -> f64 {
    (c as f64 + 8.0) * U + 2f64.powi(-21)
}

fn grad_atol(c: usize, scale: f64) -> f64 {
    scale.abs() * (loss_atol(c) + 8.0 * U)
}

/// Logits in [−spread, spread) and valid labels.
fn batch(rng: &mut Rng, b: usize, c: usize, spread: f32) -> (Vec<f32>, Vec<u32>) {
    (rng.vec(b * c, -spread, spread), (0..b).map(|_| rng.below(c as u32)).collect())
}

fn poisoned(gpu: &Gpu, shape: &[usize]) -> Tensor {
    let t = gpu.empty(shape, DType::F32);
    gpu.poison(&t);
    t
}

#[test]
fn forward_backward_match_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(21);
        for &b in AWKWARD {
            for &c in CLASSES {
                // Ordinary logits, and large-magnitude ones (±80: exp would overflow without the max shift).
                for spread in [5.0, 80.0] {
                    let (x, labels) = batch(&mut rng, b, c, spread);
                    let scale = 1.0 / b as f32;
                    let lt = gpu.upload_f32(&[b, c], &x).unwrap();
                    let labt = gpu.upload_u32(&[b], &labels).unwrap();
                    let (losses, grad) = (poisoned(gpu, &[b]), poisoned(gpu, &[b, c]));
                    let (losses2, grad2) = (poisoned(gpu, &[b]), poisoned(gpu, &[b, c]));
                    let mut p = Program::new();
                    softmax_xent::forward(gpu, &mut p, &lt, &labt, &losses).unwrap();
                    softmax_xent::backward(gpu, &mut p, &lt, &labt, &grad, scale).unwrap();
                    softmax_xent::forward_backward(gpu, &mut p, &lt, &labt, &losses2, &grad2, scale).unwrap();
                    gpu.run(&p);
                    let xs = to_f64(&x);
                    let loss_ref = cpu::forward(&xs, c, &labels);
                    let grad_ref = cpu::backward(&xs, c, &labels, scale as f64);
                    let name = format!("{b}x{c} ±{spread}");
                    assert_close(&format!("forward {name}"), &gpu.to_vec_f32(&losses).unwrap(), &loss_ref, loss_atol(c), 4.0 * U);
                    assert_close(&format!("backward {name}"), &gpu.to_vec_f32(&grad).unwrap(), &grad_ref, grad_atol(c, scale as f64), 0.0);
                    // The fused kernel runs the same arithmetic: identical bits.
                    assert_eq!(gpu.to_vec_f32(&losses2).unwrap(), gpu.to_vec_f32(&losses).unwrap(), "forward_backward losses {name}");
                    assert_eq!(gpu.to_vec_f32(&grad2).unwrap(), gpu.to_vec_f32(&grad).unwrap(), "forward_backward dlogits {name}");
                }
            }
        }
    });
}

#[test]
fn extreme_logits_stay_finite() {
    on_each_gpu(|gpu| {
        // Rows: all equal and huge; one dominant logit at +1e30 (label elsewhere and on it); spread ±80.
        let c = 4;
        let x: Vec<f32> = vec![1e30, 1e30, 1e30, 1e30, 0.0, 1e30, 0.0, 0.0, 0.0, 1e30, 0.0, 0.0, -80.0, 80.0, -80.0, 80.0];
        let labels = [2u32, 0, 1, 0];
        let lt = gpu.upload_f32(&[4, c], &x).unwrap();
        let labt = gpu.upload_u32(&[4], &labels).unwrap();
        let (losses, grad) = (poisoned(gpu, &[4]), poisoned(gpu, &[4, c]));
        let mut p = Program::new();
        softmax_xent::forward_backward(gpu, &mut p, &lt, &labt, &losses, &grad, 1.0).unwrap();
        gpu.run(&p);
        let xs = to_f64(&x);
        // Same bounds as above; the losses of 1e30 are 1e30 exactly, up to rtol.
        assert_close("extreme forward", &gpu.to_vec_f32(&losses).unwrap(), &cpu::forward(&xs, c, &labels), loss_atol(c), 4.0 * U);
        assert_close("extreme backward", &gpu.to_vec_f32(&grad).unwrap(), &cpu::backward(&xs, c, &labels, 1.0), grad_atol(c, 1.0), 0.0);
    });
}

#[test]
fn out_of_range_labels_are_clamped_not_read_out_of_bounds() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(22);
        let (b, c) = (33, 10);
        let (x, mut labels) = batch(&mut rng, b, c, 5.0);
        for i in (0..b).step_by(3) {
            labels[i] = [c as u32, c as u32 + 5, u32::MAX][i % 9 / 3];
        }
        let clamped: Vec<u32> = labels.iter().map(|&l| l.min(c as u32 - 1)).collect();
        let lt = gpu.upload_f32(&[b, c], &x).unwrap();
        let labt = gpu.upload_u32(&[b], &labels).unwrap();
        let (losses, grad) = (poisoned(gpu, &[b]), poisoned(gpu, &[b, c]));
        let mut p = Program::new();
        softmax_xent::forward_backward(gpu, &mut p, &lt, &labt, &losses, &grad, 0.5).unwrap();
        gpu.run(&p);
        let xs = to_f64(&x);
        assert_close("clamped forward", &gpu.to_vec_f32(&losses).unwrap(), &cpu::forward(&xs, c, &clamped), loss_atol(c), 4.0 * U);
        assert_close("clamped backward", &gpu.to_vec_f32(&grad).unwrap(), &cpu::backward(&xs, c, &clamped, 0.5), grad_atol(c, 0.5), 0.0);
    });
}

#[test]
fn mean_losses_match_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(23);
        // One-dispatch sizes and, past 4096 rows, forward + reduce::sum.
        let shapes = AWKWARD.iter().flat_map(|&b| [1, 10, 401].map(|c| (b, c))).chain([(4096, 10), (4097, 10), (60000, 10)]);
        for (b, c) in shapes {
            let (x, labels) = batch(&mut rng, b, c, 8.0);
            let lt = gpu.upload_f32(&[b, c], &x).unwrap();
            let labt = gpu.upload_u32(&[b], &labels).unwrap();
            let mean = poisoned(gpu, &[1]);
            let (mean2, grad) = (poisoned(gpu, &[1]), poisoned(gpu, &[b, c]));
            let prev = rng.uniform(0.0, 3.0);
            let acc = gpu.upload_f32(&[1], &[prev]).unwrap();
            let mut p = Program::new();
            softmax_xent::mean_loss(gpu, &mut p, &lt, &labt, &mean).unwrap();
            softmax_xent::mean_loss_backward(gpu, &mut p, &lt, &labt, &mean2, &grad).unwrap();
            softmax_xent::loss_sum(gpu, &mut p, &lt, &labt, &acc, 0.25, true).unwrap();
            gpu.run(&p);
            let xs = to_f64(&x);
            let want = cpu::mean_loss(&xs, c, &labels);
            // Losses are ≥ 0, so the mean's error is each loss's (LOSS_ATOL + 4u relative) plus the sum's
            // rounding, ≤ 256·u relative (the chain bound of reduce's sums, see tests/kernels/reduce.rs).
            let (atol, rtol) = (loss_atol(c), 260.0 * U);
            let name = format!("{b}x{c}");
            assert_close(&format!("mean_loss {name}"), &gpu.to_vec_f32(&mean).unwrap(), &[want], atol, rtol);
            assert_close(&format!("mean_loss_backward loss {name}"), &gpu.to_vec_f32(&mean2).unwrap(), &[want], atol, rtol);
            let grad_ref = cpu::backward(&xs, c, &labels, 1.0 / b as f64);
            assert_close(&format!("mean_loss_backward dlogits {name}"), &gpu.to_vec_f32(&grad).unwrap(), &grad_ref, grad_atol(c, 1.0 / b as f64), 0.0);
            let acc_want = prev as f64 + 0.25 * b as f64 * want;
            assert_close(&format!("loss_sum accumulate {name}"), &gpu.to_vec_f32(&acc).unwrap(), &[acc_want], atol * 0.25 * b as f64, rtol);
        }
    });
}

/// d loss_b / d x_bk by central differences of the f64 reference, against the f64 reference gradient.
#[test]
fn cpu_backward_is_the_derivative_of_cpu_forward() {
    let mut rng = Rng::new(24);
    for &(b, c) in &[(1, 1), (3, 2), (7, 10), (2, 33)] {
        let (x, labels) = batch(&mut rng, b, c, 6.0);
        let xs = to_f64(&x);
        let grad = cpu::backward(&xs, c, &labels, 1.0);
        let h = 1e-5;
        for i in 0..b * c {
            let (mut up, mut down) = (xs.clone(), xs.clone());
            up[i] += h;
            down[i] -= h;
            let row = i / c;
            let fd = (cpu::forward(&up, c, &labels)[row] - cpu::forward(&down, c, &labels)[row]) / (2.0 * h);
            // Truncation h²·|f'''|/6 ≤ 1e-10 (|f'''| ≤ 1 for softmax), rounding ~1e-16·|loss|/h ≤ 1e-10.
            assert!((fd - grad[i]).abs() <= 1e-8, "{b}x{c} [{i}]: fd {fd} vs backward {}", grad[i]);
        }
    }
}

/// The GPU gradient against central differences of the GPU's own forward: every perturbed copy of a row
/// is a row of one big batch, so one dispatch evaluates them all.
#[test]
fn gpu_backward_is_the_derivative_of_gpu_forward() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(25);
        let (b, c) = (7, 10);
        let (x, labels) = batch(&mut rng, b, c, 3.0);
        let h = 1.0 / 64.0; // a power of two: x ± h is exact for |x| < 4
        let (mut rows, mut row_labels) = (Vec::new(), Vec::new());
        for i in 0..b * c {
            let r = i / c;
            for sign in [1.0, -1.0] {
                let mut row = x[r * c..(r + 1) * c].to_vec();
                row[i % c] += sign * h;
                rows.extend(row);
                row_labels.push(labels[r]);
            }
        }
        let n = rows.len() / c;
        let lt = gpu.upload_f32(&[n, c], &rows).unwrap();
        let labt = gpu.upload_u32(&[n], &row_labels).unwrap();
        let losses = poisoned(gpu, &[n]);
        let xt = gpu.upload_f32(&[b, c], &x).unwrap();
        let xlab = gpu.upload_u32(&[b], &labels).unwrap();
        let grad = poisoned(gpu, &[b, c]);
        let mut p = Program::new();
        softmax_xent::forward(gpu, &mut p, &lt, &labt, &losses).unwrap();
        softmax_xent::backward(gpu, &mut p, &xt, &xlab, &grad, 1.0).unwrap();
        gpu.run(&p);
        let l = gpu.to_vec_f32(&losses).unwrap();
        let fd: Vec<f64> = (0..b * c).map(|i| (l[2 * i] as f64 - l[2 * i + 1] as f64) / (2.0 * h as f64)).collect();
        // Truncation h²·|f'''|/6 ≤ 4e-5; each loss is off by ≤ LOSS_ATOL + 4u·loss ≈ 3e-6, divided by 2h.
        let tol = (h as f64).powi(2) / 6.0 + 2.0 * (loss_atol(c) + 4.0 * U * 10.0) / (2.0 * h as f64);
        assert_close("gpu backward vs fd of gpu forward", &gpu.to_vec_f32(&grad).unwrap(), &fd, tol, 0.0);
    });
}

#[test]
fn softmax_xent_rejects_bad_shapes() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let mut p = Program::new();
    let x = gpu.zeros(&[4, 3]);
    let labels = gpu.upload_u32(&[4], &[0, 1, 2, 0]).unwrap();
    let short = gpu.upload_u32(&[3], &[0, 1, 2]).unwrap();
    let (losses, grad, one) = (gpu.zeros(&[4]), gpu.zeros(&[4, 3]), gpu.zeros(&[1]));
    let err = |r: pathprox::Result<()>| r.unwrap_err().to_string();

    let e = err(softmax_xent::forward(gpu, &mut p, &x, &short, &losses));
    assert!(e.contains("do not match the 4 rows"), "{e}");
    let e = err(softmax_xent::forward(gpu, &mut p, &x, &gpu.zeros(&[4]), &losses));
    assert!(e.contains("labels must be U32"), "{e}");
    let e = err(softmax_xent::forward(gpu, &mut p, &gpu.empty(&[4, 3], DType::U32), &labels, &losses));
    assert!(e.contains("logits must be F32"), "{e}");
    let e = err(softmax_xent::forward(gpu, &mut p, &gpu.zeros(&[12]), &labels, &losses));
    assert!(e.contains("2-D"), "{e}");
    let e = err(softmax_xent::forward(gpu, &mut p, &gpu.zeros(&[4, 0]), &labels, &losses));
    assert!(e.contains("no classes"), "{e}");
    let e = err(softmax_xent::forward(gpu, &mut p, &x, &labels, &gpu.zeros(&[3])));
    assert!(e.contains("losses must be F32 with 4 elements"), "{e}");
    let e = err(softmax_xent::forward(gpu, &mut p, &x, &labels, &gpu.empty(&[4], DType::U32)));
    assert!(e.contains("losses must be F32"), "{e}");
    let e = err(softmax_xent::backward(gpu, &mut p, &x, &labels, &gpu.zeros(&[4, 2]), 1.0));
    assert!(e.contains("dlogits must be F32 with 12 elements"), "{e}");
    let e = err(softmax_xent::backward(gpu, &mut p, &x, &labels, &x, 1.0));
    assert!(e.contains("share a buffer"), "{e}");
    let (x1, grad1) = (gpu.zeros(&[4, 1]), gpu.zeros(&[4, 1]));
    let e = err(softmax_xent::forward_backward(gpu, &mut p, &x1, &labels, &grad1.reshape(&[4]).unwrap(), &grad1, 1.0));
    assert!(e.contains("losses must not share a buffer"), "{e}");
    let e = err(softmax_xent::forward_backward(gpu, &mut p, &x, &labels, &losses, &short.reshape(&[3]).unwrap(), 1.0));
    assert!(e.contains("dlogits"), "{e}");
    let e = err(softmax_xent::loss_sum(gpu, &mut p, &x, &labels, &losses, 1.0, false));
    assert!(e.contains("out must be F32 with 1 elements"), "{e}");
    let e = err(softmax_xent::mean_loss(gpu, &mut p, &gpu.zeros(&[0, 3]), &gpu.empty(&[0], DType::U32), &one));
    assert!(e.contains("zero rows"), "{e}");
    let e = err(softmax_xent::mean_loss_backward(gpu, &mut p, &x, &labels, &one, &losses));
    assert!(e.contains("dlogits must be F32 with 12 elements"), "{e}");
    let e = err(softmax_xent::mean_loss_backward(gpu, &mut p, &x, &short, &one, &grad));
    assert!(e.contains("do not match"), "{e}");
    assert!(p.is_empty(), "a rejected call must not record anything");
}
