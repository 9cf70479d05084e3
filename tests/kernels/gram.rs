//! Gram matrices of row blocks (`src/ops/gram.rs`, `shaders/gram.wgsl`).

use crate::common::*;
use pathprox::gpu::{DType, Program};
use pathprox::ops::gram::{self, cpu};

#[test]
fn block_grams_match_the_cpu_on_awkward_sizes() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(41);
        // (blocks, g, k): k not a multiple of 4 (the tail loop), g = 1, the Lipschitz shape 10 × 784.
        for (blocks, g, k) in [(1, 1, 1), (3, 10, 784), (7, 3, 33), (2, 5, 401), (130, 10, 7)] {
            let a = rng.vec(blocks * g * k, -1.5, 1.5);
            let at = gpu.upload_f32(&[blocks * g, k], &a).unwrap();
            let out = gpu.empty(&[blocks, g, g], DType::F32);
            gpu.poison(&out);
            let mut prog = Program::new();
            gram::block_gram(gpu, &mut prog, &at, g, &out).unwrap();
            gpu.run(&prog);
            let got = gpu.to_vec_f32(&out).unwrap();
            // k products of |x| ≤ 1.5 summed in f32: ≤ k·2.25·eps ≈ 2e-4 absolute at k = 784.
            assert_close(&format!("block_gram {blocks}x{g}x{k}"), &got, &cpu::block_gram(&to_f64(&a), k, g), 1e-4, 1e-5);
            for b in 0..blocks {
                for i in 0..g {
                    for j in 0..g {
                        assert_eq!(got[(b * g + i) * g + j].to_bits(), got[(b * g + j) * g + i].to_bits(), "exactly symmetric");
                    }
                }
            }
        }
    });
}

#[test]
fn block_gram_reports_bad_shapes() {
    on_each_gpu(|gpu| {
        let a = gpu.zeros(&[10, 4]);
        let mut prog = Program::new();
        let e = gram::block_gram(gpu, &mut prog, &a, 3, &gpu.zeros(&[3, 3, 3])).unwrap_err().to_string();
        assert!(e.contains("blocks of 3"), "{e}");
        let e = gram::block_gram(gpu, &mut prog, &a, 5, &gpu.zeros(&[2, 5, 4])).unwrap_err().to_string();
        assert!(e.contains("[2, 5, 5]"), "{e}");
        let e = gram::block_gram(gpu, &mut prog, &gpu.zeros(&[40]), 5, &gpu.zeros(&[2, 5, 5])).unwrap_err().to_string();
        assert!(e.contains("block_gram"), "{e}");
    });
}
