//! The kernel families: each file holds a family's GPU wrappers and its CPU reference, side by side.
//!
//! How a family is written (follow `elementwise.rs` + `shaders/elementwise.wgsl` + `tests/kernels/elementwise.rs`):
//! - `shaders/<family>.wgsl`: binding 0 = `var<uniform> p: Params`, then storage buffers 1..; tunable
//!   sizes as `const NAME: u32 = 8u;` lines. Shader modules are created *without* wgpu's runtime checks
//!   (see `gpu::kernel`), so every index a kernel computes must be guarded or clamped in the shader.
//! - `src/ops/<family>.rs`: `static SHADER`, one `static KernelDef` per entry point (binding list in order),
//!   `pub static KERNELS` listing them; a `#[repr(C)]` Params struct mirroring the WGSL one field for field;
//!   wrappers `fn op(gpu, &mut Program, inputs.., outputs..) -> Result<()>` that validate every shape
//!   (a clear `Error::Shape`, never a panic) and push dispatches; `pub mod cpu` with the f64 reference.
//! - `tests/kernels/<family>.rs`: random inputs of awkward sizes, NaN-poisoned outputs, `assert_close`
//!   against the CPU reference, on every adapter (`on_each_gpu`); a test of each shape error.

mod check;
/// The WGSL source of a shader: the named files of `shaders/`, joined in order. WGSL has no includes, so
/// a piece several shaders share (`grid.wgsl`'s folded-grid index, `optim_group.wgsl`'s unit norms) is
/// its own file, joined in front of each shader that uses it.
macro_rules! wgsl {
    ($($file:literal),+ $(,)?) => {
        concat!($(include_str!(concat!("../../shaders/", $file, ".wgsl"))),+)
    };
}

pub mod conv2d;
pub mod elementwise;
pub mod gather;
pub mod gram;
pub mod matmul;
pub mod optim;
pub mod peak;
pub mod pool2d;
pub mod prune;
pub mod reduce;
pub mod softmax_xent;

use crate::gpu::{Gpu, KernelDef};

/// Every kernel the crate can dispatch (the naga test checks each against its shader).
pub fn all_kernels() -> Vec<&'static KernelDef> {
    [conv2d::KERNELS, elementwise::KERNELS, gather::KERNELS, gram::KERNELS, matmul::KERNELS, optim::KERNELS, peak::KERNELS, pool2d::KERNELS, prune::KERNELS, reduce::KERNELS, softmax_xent::KERNELS].concat()
}

/// Every (kernel, specialization) this crate can compile: each kernel with its defaults, and every tuned
/// or tested variant of the tunable ones. What a backend must translate (`tests/translate.rs`).
pub fn every_specialization() -> Vec<(&'static KernelDef, crate::gpu::Variant)> {
    let mut v: Vec<(&'static KernelDef, crate::gpu::Variant)> = all_kernels().into_iter().map(|k| (k, Vec::new())).collect();
    v.extend(matmul::Algo::every_variant());
    v.extend(conv2d::every_variant());
    v
}

/// Splits `n` elements into (first, count) chunks whose bindings fit the adapter's storage-binding limit;
/// chunk starts stay aligned to the storage offset alignment.
pub(crate) fn flat_chunks(gpu: &Gpu, n: usize) -> Vec<(usize, usize)> {
    let align = (gpu.limits.min_storage_buffer_offset_alignment as usize / 4).max(4);
    let max = (gpu.limits.max_storage_buffer_binding_size as usize / 4) / align * align;
    if n <= max {
        return vec![(0, n)];
    }
    (0..n).step_by(max).map(|first| (first, max.min(n - first))).collect()
}
