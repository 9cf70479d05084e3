//! ReLU forward and backward (`shaders/elementwise.wgsl`), with their CPU references.
//! Tests: `tests/kernels/elementwise.rs`.

use bytemuck::{Pod, Zeroable};

use super::flat_chunks;
use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, Gpu, KernelDef, Program, Shader, Tensor};

pub static SHADER: Shader = Shader { name: "elementwise", source: wgsl!("grid", "elementwise"), subgroups: false };

const BINDINGS: &[Access] = &[Access::Uniform, Access::Read, Access::Read, Access::ReadWrite];
pub static RELU_FORWARD: KernelDef = KernelDef { shader: &SHADER, entry: "relu_forward", bindings: BINDINGS };
pub static RELU_BACKWARD: KernelDef = KernelDef { shader: &SHADER, entry: "relu_backward", bindings: BINDINGS };
pub static KERNELS: &[&KernelDef] = &[&RELU_FORWARD, &RELU_BACKWARD];

/// Mirrors `Params` in elementwise.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
}

const WG: u32 = 256;

fn same_len(op: &'static str, ts: &[&Tensor]) -> Result<usize> {
    let n = ts[0].len();
    if let Some(t) = ts.iter().find(|t| t.len() != n) {
        return Err(Error::shape(op, format!("length mismatch: {:?} vs {:?}", ts[0].shape(), t.shape())));
    }
    Ok(n)
}

/// Records `out = kernel(a, b)` over the whole length, split into chunks that fit the binding limit.
fn flat(gpu: &Gpu, prog: &mut Program, def: &'static KernelDef, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    let n = same_len(def.entry, &[a, b, out])?;
    if out.same_buffer(a) || out.same_buffer(b) {
        return Err(Error::shape(def.entry, "output must not share a buffer with an input"));
    }
    let pipeline = gpu.pipeline(def, &[])?;
    for (first, count) in flat_chunks(gpu, n) {
        let args = [Arg::range(a, first, count), Arg::range(b, first, count), Arg::range(out, first, count)];
        let params = Params { n: count as u32, _pad: [0; 3] };
        prog.push(gpu.dispatch(&pipeline, &params, &args, gpu.grid_1d((count as u32).div_ceil(WG)))?);
    }
    Ok(())
}

/// y = max(x, 0).
pub fn relu_forward(gpu: &Gpu, prog: &mut Program, x: &Tensor, y: &Tensor) -> Result<()> {
    flat(gpu, prog, &RELU_FORWARD, x, x, y)
}

/// dx = dy where y > 0, else 0 (`y` is the forward output).
pub fn relu_backward(gpu: &Gpu, prog: &mut Program, y: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<()> {
    flat(gpu, prog, &RELU_BACKWARD, y, dy, dx)
}

/// CPU references.
pub mod cpu {
    pub fn relu_forward(x: &[f64]) -> Vec<f64> {
        x.iter().map(|&v| v.max(0.0)).collect()
    }

    pub fn relu_backward(y: &[f64], dy: &[f64]) -> Vec<f64> {
        y.iter().zip(dy).map(|(&y, &d)| if y > 0.0 { d } else { 0.0 }).collect()
    }
}
