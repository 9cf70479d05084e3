//! Gram matrices of row blocks, out\[b\] = A_b·A_bᵀ (`shaders/gram.wgsl`), with the CPU reference.
//! Used for local Lipschitz constants: per image, the 10×10 Gram matrix of its logits' Jacobian.
//! Tests: `tests/kernels/gram.rs`.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, DType, Gpu, KernelDef, Program, Shader, Tensor};

pub static SHADER: Shader = Shader { name: "gram", source: wgsl!("grid", "gram"), subgroups: false };
pub static BLOCK_GRAM: KernelDef = KernelDef { shader: &SHADER, entry: "block_gram", bindings: &[Access::Uniform, Access::Read, Access::ReadWrite] };
pub static KERNELS: &[&KernelDef] = &[&BLOCK_GRAM];

/// Mirrors `Params` in gram.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    blocks: u32,
    g: u32,
    k: u32,
    _pad: u32,
}

/// Records out [blocks, g, g] = the Gram matrix of each block of `g` consecutive rows of a [blocks·g, k].
pub fn block_gram(gpu: &Gpu, prog: &mut Program, a: &Tensor, g: usize, out: &Tensor) -> Result<()> {
    const OP: &str = "block_gram";
    let (rows, k) = a.dims2(OP)?;
    if g == 0 || !rows.is_multiple_of(g) || a.dtype() != DType::F32 {
        return Err(Error::shape(OP, format!("a is {:?} {:?}; f32 rows in whole blocks of {g} expected", a.shape(), a.dtype())));
    }
    let blocks = rows / g;
    if out.shape() != [blocks, g, g] || out.dtype() != DType::F32 {
        return Err(Error::shape(OP, format!("out is {:?}; [{blocks}, {g}, {g}] f32 expected", out.shape())));
    }
    let max = gpu.limits.max_storage_buffer_binding_size;
    if a.bytes() > max || out.bytes() > max {
        return Err(Error::Limit { op: OP, msg: format!("a of {} bytes needs smaller blocks per call", a.bytes()), limit: format!("{max} bytes per storage binding") });
    }
    let params = Params { blocks: blocks as u32, g: g as u32, k: k as u32, _pad: 0 };
    let pipeline = gpu.pipeline(&BLOCK_GRAM, &[])?;
    prog.push(gpu.dispatch(&pipeline, &params, &[Arg::from(a), Arg::from(out)], gpu.grid_1d(((blocks * g * g) as u32).div_ceil(64)))?);
    Ok(())
}

/// CPU reference.
pub mod cpu {
    /// out\[b\]\[i\]\[j\] = Σ_c a[b·g+i]\[c\]·a[b·g+j]\[c\], for a [rows, k] row-major.
    pub fn block_gram(a: &[f64], k: usize, g: usize) -> Vec<f64> {
        let blocks = a.len() / k / g;
        let row = |r: usize| &a[r * k..(r + 1) * k];
        let mut out = Vec::with_capacity(blocks * g * g);
        for b in 0..blocks {
            for i in 0..g {
                for j in 0..g {
                    out.push(row(b * g + i).iter().zip(row(b * g + j)).map(|(x, y)| x * y).sum());
                }
            }
        }
        out
    }
}
