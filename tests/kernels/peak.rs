//! The FP32 multiply-add throughput kernel (`src/ops/peak.rs`, `shaders/fma_peak.wgsl`): what each
//! invocation stores matches the f64 recurrence, so the chains the benchmark counts really ran.
//!
//! Tolerance: 32 chains of `iters` f32 multiply-adds near 1 each err by ~iters·eps; 1e-4 relative is ~20×
//! that at 60 iterations and far below a skipped iteration (which moves a sum by ~0.03).

use crate::common::*;
use pathprox::gpu::Program;
use pathprox::ops::peak::{cpu, fma_peak, WG};

#[test]
fn every_invocation_runs_every_chain() {
    on_each_gpu(|gpu| {
        // 3 workgroups: invocation indexes past one workgroup; odd iteration counts.
        for iters in [1, 7, 60] {
            let (d, out) = fma_peak(gpu, 3, iters).unwrap();
            gpu.poison(&out);
            let mut prog = Program::new();
            prog.push(d);
            gpu.run(&prog);
            let want: Vec<f64> = (0..3 * WG).map(|i| cpu::fma_peak(i, iters)).collect();
            assert_close(&format!("fma_peak iters={iters}"), &gpu.to_vec_f32(&out).unwrap(), &want, 0.0, 1e-4);
        }
        assert!(fma_peak(gpu, 0, 1).is_err() && fma_peak(gpu, 1, 0).is_err());
    });
}
