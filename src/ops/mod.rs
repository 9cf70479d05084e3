//! The kernel families: each file holds a family's GPU wrappers and its CPU reference, side by side.

pub mod elementwise;

use crate::gpu::KernelDef;

/// Every kernel the crate can dispatch (the naga test checks each against its shader).
pub fn all_kernels() -> Vec<&'static KernelDef> {
    let mut v = Vec::new();
    v.extend_from_slice(elementwise::KERNELS);
    v
}

use crate::gpu::Gpu;

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
