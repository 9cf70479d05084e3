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
fn gathers_f32_rows_like_the_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(33);
        // The toy's 2-D points, and an odd row length.
        for (rows, row_len) in [(37, 2), (23, 7)] {
            let values = rng.vec(rows * row_len, -3.0, 3.0);
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(2)).collect();
            let data = GpuImages::upload_f32(gpu, &values, &labels, row_len).unwrap();
            let stream: Vec<u32> = (0..2 * 11).map(|_| rng.below(rows as u32)).collect();
            let indices = gpu.upload_u32(&[stream.len()], &stream).unwrap();
            let (x, y) = (gpu.empty(&[11, row_len], DType::F32), gpu.empty(&[11], DType::U32));
            gpu.poison(&x);
            gpu.poison(&y);
            let mut prog = Program::new();
            gather::gather_normalize(gpu, &mut prog, &data, &indices, 11, &[0.25], &[1.5], &x, &y).unwrap();
            gpu.run(&prog);
            let (want_x, want_y) = cpu::gather_f32(&values, &labels, row_len, &stream[11..], 0.25, 1.5);
            assert_close("gathered f32 rows", &gpu.to_vec_f32(&x).unwrap(), &want_x, 1e-6, 1e-6);
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
    // f32 rows split the same way: 100 rows of 16 values are 6,400 bytes.
    let values: Vec<f32> = (0..rows * 16).map(|i| i as f32 - 7.5).collect();
    let data = GpuImages::upload_f32(&gpu, &values, &labels, 16).unwrap();
    assert_eq!(data.parts.len(), 2);
    let stream = vec![0u32, 99, data.split_row as u32, data.split_row as u32 - 1, 50];
    let indices = gpu.upload_u32(&[5], &stream).unwrap();
    let x = gpu.empty(&[5, 16], DType::F32);
    let mut prog = Program::new();
    gather::gather_normalize(&gpu, &mut prog, &data, &indices, 0, &[0.0], &[1.0], &x, &y).unwrap();
    gpu.run(&prog);
    let (want_x, _) = cpu::gather_f32(&values, &labels, 16, &stream, 0.0, 1.0);
    assert_close("split f32 gather", &gpu.to_vec_f32(&x).unwrap(), &want_x, 0.0, 0.0);
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

/// CIFAR-10's crop-and-flip on the GPU against the CPU reference, on odd-sized 3-channel images (5 × 7,
/// so the pad exceeds the image), every code of the stream including the extreme shifts and both flips.
#[test]
fn augmented_gather_crops_and_flips_like_the_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(34);
        let (rows, width, height, batch) = (30, 7, 5, 11);
        let (plane, row_len) = (width * height, 3 * width * height);
        let (mean, std) = (vec![0.49f32, 0.48, 0.45], vec![0.2f32, 0.19, 0.2]);
        let images: Vec<u8> = (0..rows * row_len).map(|_| 1 + rng.below(255) as u8).collect();
        let labels: Vec<u32> = (0..rows).map(|_| rng.below(10)).collect();
        let data = GpuImages::upload(gpu, &images, &labels, row_len, plane).unwrap();
        let stream: Vec<u32> = (0..2 * batch).map(|_| rng.below(rows as u32)).collect();
        let mut codes: Vec<u32> = stream.iter().enumerate().map(|(s, &r)| gather::augment_code(9, s as u64, r)).collect();
        codes[batch] = 0; // the top-left crop, unflipped
        codes[batch + 1] = 8 | 8 << 8 | 1 << 16; // the bottom-right crop, flipped
        codes[batch + 2] = 4 | 4 << 8 | 1 << 16; // centred, flipped only
        let (ids, codes_t) = (gpu.upload_u32(&[stream.len()], &stream).unwrap(), gpu.upload_u32(&[codes.len()], &codes).unwrap());
        let (x, y) = (gpu.empty(&[batch, row_len], DType::F32), gpu.empty(&[batch], DType::U32));
        gpu.poison(&x);
        let mut prog = Program::new();
        gather::gather_augment(gpu, &mut prog, &data, &ids, &codes_t, batch, width, &mean, &std, &x, &y).unwrap();
        gpu.run(&prog);
        let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
        let (want_x, want_y) = cpu::gather_augment(&images, &labels, row_len, plane, width, &stream[batch..], &codes[batch..], &f64s(&mean), &f64s(&std));
        let got = gpu.to_vec_f32(&x).unwrap();
        assert_close("augmented batch", &got, &want_x, 1e-6, 1e-6);
        assert_eq!(gpu.to_vec_u32(&y).unwrap(), want_y);
        // The padding is there (byte 0 never occurs in the images): the corner crop starts with 4 padded rows.
        let pad_value = ((0.0 - mean[0] as f64) / std[0] as f64) as f32;
        assert!((got[0] - pad_value).abs() < 1e-6 && (got[4 * width] - pad_value).abs() < 1e-6);
        // The centred flip is the mirror image of the plain gather.
        let r = stream[batch + 2] as usize;
        for yy in 0..height {
            for xx in 0..width {
                let want = (images[r * row_len + yy * width + (width - 1 - xx)] as f64 / 255.0 - mean[0] as f64) / std[0] as f64;
                assert!((got[2 * row_len + yy * width + xx] as f64 - want).abs() < 1e-5);
            }
        }
        // Codes are a function of (seed, step, row) only, and cover the whole range.
        assert_eq!(gather::augment_code(9, 5, 3), gather::augment_code(9, 5, 3));
        let all: std::collections::HashSet<u32> = (0..2000).map(|s| gather::augment_code(1, s, 7)).collect();
        assert_eq!(all.len(), 9 * 9 * 2, "every crop and flip occurs");
    });
}
