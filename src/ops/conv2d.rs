//! (to be written)

use crate::gpu::KernelDef;

pub static KERNELS: &[&KernelDef] = &[];
