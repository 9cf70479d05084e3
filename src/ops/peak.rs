//! The adapter's plain FP32 multiply-add throughput (`shaders/fma_peak.wgsl`): what `pathprox bench
//! --gpu-check` reads every kernel's GFLOP/s against, and its CPU reference. Tests: `tests/kernels/peak.rs`.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, DType, Dispatch, Gpu, KernelDef, Shader, Tensor};

pub static SHADER: Shader = Shader { name: "fma_peak", source: wgsl!("grid", "fma_peak"), subgroups: false };
pub static FMA_PEAK: KernelDef = KernelDef { shader: &SHADER, entry: "fma_peak", bindings: &[Access::Uniform, Access::ReadWrite] };
pub static KERNELS: &[&KernelDef] = &[&FMA_PEAK];

/// Invocations per workgroup (`WG` in the shader).
pub const WG: usize = 256;
/// FLOPs per invocation and iteration: 8 chains × vec4 × (multiply + add).
pub const FLOPS_PER_ITER: f64 = 64.0;
/// The chains' multiplier and addend: x ← x·A + B stays finite and normal.
const A: f32 = 0.999;
const B: f32 = 1e-3;

/// Mirrors `Params` in fma_peak.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    iters: u32,
    a: f32,
    b: f32,
    _pad: u32,
}

/// The dispatch that runs `workgroups`·256 invocations of `iters` iterations each and the tensor it
/// writes (one float per invocation); it does `workgroups·256·iters·64` FLOPs.
pub fn fma_peak(gpu: &Gpu, workgroups: usize, iters: u32) -> Result<(Dispatch, Tensor)> {
    if workgroups == 0 || iters == 0 {
        return Err(Error::shape("fma_peak", format!("needs workgroups ≥ 1 and iters ≥ 1, got {workgroups} and {iters}")));
    }
    let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
    if workgroups > max * max || workgroups * WG * 4 > gpu.limits.max_storage_buffer_binding_size as usize {
        return Err(Error::Limit { op: "fma_peak", msg: format!("{workgroups} workgroups"), limit: format!("{max}² workgroups, one storage binding") });
    }
    let out = gpu.empty(&[workgroups * WG], DType::F32);
    let pipeline = gpu.pipeline(&FMA_PEAK, &[])?;
    let d = gpu.dispatch(&pipeline, &Params { iters, a: A, b: B, _pad: 0 }, &[Arg::from(&out)], gpu.grid_1d(workgroups as u32))?;
    Ok((d, out))
}

/// CPU reference (f64 chains of the same recurrence): what invocation `idx` stores after `iters` iterations.
pub mod cpu {
    pub fn fma_peak(idx: usize, iters: u32) -> f64 {
        let (a, b) = (super::A as f64, super::B as f64);
        let mut sum = 0.0;
        for c in 0..8 {
            for lane in 0..4 {
                let mut x = ((idx % 1024) as f32 * 1e-3 + c as f32 * 1e-2 + lane as f32 * 1e-3) as f64;
                for _ in 0..iters {
                    x = x * a + b;
                }
                sum += x;
            }
        }
        sum
    }
}
