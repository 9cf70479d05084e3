//! ReLU forward/backward (`src/ops/elementwise.rs`, `shaders/elementwise.wgsl`).

use crate::common::*;
use pathprox::gpu::{DType, Program};
use pathprox::ops::elementwise::{self, cpu};

#[test]
fn relu_forward_and_backward_match_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(1);
        for &n in AWKWARD.iter().chain(&[70_001]) {
            let x = rng.vec(n, -1.0, 1.0);
            let dy = rng.vec(n, -1.0, 1.0);
            let xt = gpu.upload_f32(&[n], &x).unwrap();
            let dyt = gpu.upload_f32(&[n], &dy).unwrap();
            let (y, dx) = (gpu.empty(&[n], DType::F32), gpu.empty(&[n], DType::F32));
            gpu.poison(&y);
            gpu.poison(&dx);
            let mut prog = Program::new();
            elementwise::relu_forward(gpu, &mut prog, &xt, &y).unwrap();
            elementwise::relu_backward(gpu, &mut prog, &y, &dyt, &dx).unwrap();
            gpu.run(&prog);
            let y_ref = cpu::relu_forward(&to_f64(&x));
            // Exact: max and select involve no rounding.
            assert_close(&format!("relu_forward n={n}"), &gpu.to_vec_f32(&y).unwrap(), &y_ref, 0.0, 0.0);
            assert_close(&format!("relu_backward n={n}"), &gpu.to_vec_f32(&dx).unwrap(), &cpu::relu_backward(&y_ref, &to_f64(&dy)), 0.0, 0.0);
        }
    });
}

#[test]
fn relu_rejects_mismatched_lengths_and_aliasing() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let (a, b) = (gpu.zeros(&[5]), gpu.zeros(&[6]));
    let mut prog = Program::new();
    let err = elementwise::relu_forward(gpu, &mut prog, &a, &b).unwrap_err().to_string();
    assert!(err.contains("length mismatch"), "{err}");
    let err = elementwise::relu_forward(gpu, &mut prog, &a, &a).unwrap_err().to_string();
    assert!(err.contains("share a buffer"), "{err}");
    assert!(prog.is_empty());
}
