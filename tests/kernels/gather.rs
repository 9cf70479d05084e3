//! Batch gathering (`src/ops/gather.rs`, `shaders/gather.wgsl`).

use crate::common::*;
use pathprox::gpu::{DType, Program};
use pathprox::ops::gather::{self, cpu, GpuImages};

#[test]
fn gathers_and_normalises_rows_like_the_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(31);
        // MNIST-like (1 channel, odd row length) and CIFAR-like (3 planes).
        for (rows, row_len, plane, mean, std) in [(50, 29, 29, vec![0.1307], vec![0.3081]), (40, 3 * 25, 25, vec![0.49, 0.48, 0.45], vec![0.2, 0.19, 0.2])] {
            let images: Vec<u8> = (0..rows * row_len).map(|_| rng.below(256) as u8).collect();
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(10)).collect();
            let data = GpuImages::upload(gpu, &images, &labels, row_len, plane).unwrap();
            let stream: Vec<u32> = (0..3 * 7).map(|_| rng.below(rows as u32)).collect();
            let indices = gpu.upload_u32(&[stream.len()], &stream).unwrap();
            let (x, y) = (gpu.empty(&[7, row_len], DType::F32), gpu.empty(&[7], DType::U32));
            gpu.poison(&x);
            gpu.poison(&y);
            let mut prog = Program::new();
            gather::gather_normalize(gpu, &mut prog, &data, &indices, 7, &mean, &std, &x, &y).unwrap();
            gpu.run(&prog);
            let (mean64, std64): (Vec<f64>, Vec<f64>) = (mean.iter().map(|&v| v as f64).collect(), std.iter().map(|&v| v as f64).collect());
            let (want_x, want_y) = cpu::gather_normalize(&images, &labels, row_len, plane, &stream[7..14], &mean64, &std64);
            // One multiply-add in f32 of values up to |x| ≈ 3: a few ulps.
            assert_close("gathered images", &gpu.to_vec_f32(&x).unwrap(), &want_x, 1e-6, 1e-6);
            assert_eq!(gpu.to_vec_u32(&y).unwrap(), want_y);
        }
    });
}

#[test]
fn a_set_too_large_for_one_binding_is_split_in_two() {
    let adapter = pollster::block_on(pathprox::gpu::adapter::list(&Default::default())).into_iter().next().unwrap();
    let mut limits = adapter.limits();
    limits.max_storage_buffer_binding_size = 4096;
    let gpu = pollster::block_on(pathprox::Gpu::from_adapter_with_limits(&adapter, limits)).unwrap();
    let mut rng = Rng::new(32);
    let (rows, row_len) = (100, 64); // 6,400 bytes: two parts
    let images: Vec<u8> = (0..rows * row_len).map(|_| rng.below(256) as u8).collect();
    let labels: Vec<u32> = (0..rows as u32).collect();
    let data = GpuImages::upload(&gpu, &images, &labels, row_len, row_len).unwrap();
    assert_eq!(data.parts.len(), 2);
    let stream = vec![0u32, 99, data.split_row as u32, data.split_row as u32 - 1, 50];
    let indices = gpu.upload_u32(&[5], &stream).unwrap();
    let (x, y) = (gpu.empty(&[5, row_len], DType::F32), gpu.empty(&[5], DType::U32));
    let mut prog = Program::new();
    gather::gather_normalize(&gpu, &mut prog, &data, &indices, 0, &[0.0], &[1.0], &x, &y).unwrap();
    gpu.run(&prog);
    let (want_x, want_y) = cpu::gather_normalize(&images, &labels, row_len, row_len, &stream, &[0.0], &[1.0]);
    assert_close("split gather", &gpu.to_vec_f32(&x).unwrap(), &want_x, 1e-6, 1e-6);
    assert_eq!(gpu.to_vec_u32(&y).unwrap(), want_y);
    // Three parts' worth is refused with a clear message.
    let big = vec![0u8; 3 * 4096 + 64];
    let e = GpuImages::upload(&gpu, &big, &vec![0; big.len() / 64], 64, 64).unwrap_err().to_string();
    assert!(e.contains("more than two bindings"), "{e}");
}

#[test]
fn bad_shapes_are_reported() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    assert!(GpuImages::upload(gpu, &[0; 10], &[0, 1], 4, 4).unwrap_err().to_string().contains("labels"));
    let data = GpuImages::upload(gpu, &[0; 8], &[0, 1], 4, 4).unwrap();
    let idx = gpu.upload_u32(&[2], &[0, 1]).unwrap();
    let mut prog = Program::new();
    let e = gather::gather_normalize(gpu, &mut prog, &data, &idx, 1, &[0.0], &[1.0], &gpu.zeros(&[2, 4]), &gpu.zeros_u32(&[2])).unwrap_err();
    assert!(e.to_string().contains("index stream"), "{e}");
    let e = gather::gather_normalize(gpu, &mut prog, &data, &idx, 0, &[0.0], &[0.0], &gpu.zeros(&[2, 4]), &gpu.zeros_u32(&[2])).unwrap_err();
    assert!(e.to_string().contains("positive"), "{e}");
    let e = gather::gather_normalize(gpu, &mut prog, &data, &idx, 0, &[0.0], &[1.0], &gpu.zeros(&[2, 5]), &gpu.zeros_u32(&[2])).unwrap_err();
    assert!(e.to_string().contains("out_x"), "{e}");
}
