//! 2×2 pooling with stride 2 over NCHW f32 tensors — max and average, forward and backward
//! (`shaders/pool2d.wgsl`), with their CPU references. Tests: `tests/kernels/pool2d.rs`.
//!
//! As PyTorch's `MaxPool2d(2)` / `AvgPool2d(2)`: x [N, C, H, W] gives y [N, C, H/2, W/2], rounded down, so
//! an odd last row or column of x is dropped (its gradient is 0). Max pooling's backward recomputes each
//! window's argmax from x rather than storing indices: the first maximum in row-major window order
//! (0,0),(0,1),(1,0),(1,1) on ties, the first NaN if the window holds one (PyTorch's rule, so a NaN reaches
//! the loss instead of vanishing).

use bytemuck::{Pod, Zeroable};

use super::check::distinct;
use super::reduce::all_or_nothing;
use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, DType, Gpu, KernelDef, Program, Shader, Tensor};

pub static SHADER: Shader = Shader { name: "pool2d", source: wgsl!("grid", "pool2d"), subgroups: false };

// src, grad, dst: kernels that need no `grad` get their `src` bound there too.
const BINDINGS: &[Access] = &[Access::Uniform, Access::Read, Access::Read, Access::ReadWrite];
pub static MAX_FORWARD: KernelDef = KernelDef { shader: &SHADER, entry: "max_forward", bindings: BINDINGS };
pub static MAX_BACKWARD: KernelDef = KernelDef { shader: &SHADER, entry: "max_backward", bindings: BINDINGS };
pub static AVG_FORWARD: KernelDef = KernelDef { shader: &SHADER, entry: "avg_forward", bindings: BINDINGS };
pub static AVG_BACKWARD: KernelDef = KernelDef { shader: &SHADER, entry: "avg_backward", bindings: BINDINGS };
pub static KERNELS: &[&KernelDef] = &[&MAX_FORWARD, &MAX_BACKWARD, &AVG_FORWARD, &AVG_BACKWARD];

/// Mirrors `Params` in pool2d.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    windows: u32,
    h: u32,
    w: u32,
    ho: u32,
    wo: u32,
    src_base: u32,
    grad_base: u32,
    dst_base: u32,
}

/// `WG` in pool2d.wgsl: windows per workgroup.
const WG: usize = 256;

/// y = max over each 2×2 window of x. x [N, C, H, W], y [N, C, H/2, W/2].
pub fn max_forward(gpu: &Gpu, prog: &mut Program, x: &Tensor, y: &Tensor) -> Result<()> {
    let op = MAX_FORWARD.entry;
    let d = dims(op, x, "y", y)?;
    distinct(op, ("y", y), &[("x", x)])?;
    record(gpu, prog, &MAX_FORWARD, d, Side::Big(x), None, Side::Small(y))
}

/// dx from dy, recomputing the argmax from x (ties: the first maximum in row-major window order, i.e.
/// (0,0),(0,1),(1,0),(1,1) — same in the CPU reference). dx fully overwritten (zeros elsewhere).
pub fn max_backward(gpu: &Gpu, prog: &mut Program, x: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<()> {
    let op = MAX_BACKWARD.entry;
    let d = dims(op, x, "dy", dy)?;
    same_shape(op, "dx", dx, x)?;
    distinct(op, ("dx", dx), &[("x", x), ("dy", dy)])?;
    record(gpu, prog, &MAX_BACKWARD, d, Side::Big(x), Some(dy), Side::Big(dx))
}

/// y = mean of each 2×2 window of x. x [N, C, H, W], y [N, C, H/2, W/2].
pub fn avg_forward(gpu: &Gpu, prog: &mut Program, x: &Tensor, y: &Tensor) -> Result<()> {
    let op = AVG_FORWARD.entry;
    let d = dims(op, x, "y", y)?;
    distinct(op, ("y", y), &[("x", x)])?;
    record(gpu, prog, &AVG_FORWARD, d, Side::Big(x), None, Side::Small(y))
}

/// dx = dy/4 spread over each window; dx fully overwritten.
pub fn avg_backward(gpu: &Gpu, prog: &mut Program, dy: &Tensor, dx: &Tensor) -> Result<()> {
    let op = AVG_BACKWARD.entry;
    let d = dims(op, dx, "dy", dy)?;
    distinct(op, ("dx", dx), &[("dy", dy)])?;
    record(gpu, prog, &AVG_BACKWARD, d, Side::Small(dy), None, Side::Big(dx))
}

/// Sizes of one pooling: `planes` = N·C planes of H×W in, Ho×Wo out.
#[derive(Clone, Copy, Debug)]
struct Dims {
    planes: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
}

/// Checks that `big` is [N, C, H, W] f32 with H, W ≥ 2 and `small` is [N, C, H/2, W/2] f32.
fn dims(op: &'static str, big: &Tensor, small_name: &str, small: &Tensor) -> Result<Dims> {
    let [n, c, h, w] = big.shape()[..] else {
        return Err(Error::shape(op, format!("expected a 4-D [N, C, H, W] tensor, got shape {:?}", big.shape())));
    };
    if h < 2 || w < 2 {
        return Err(Error::shape(op, format!("a 2×2 window needs H, W ≥ 2, got shape {:?}", big.shape())));
    }
    let want = [n, c, h / 2, w / 2];
    if small.shape() != want {
        return Err(Error::shape(op, format!("{small_name} is {:?}; {want:?} expected for {:?}", small.shape(), big.shape())));
    }
    for t in [big, small] {
        if t.dtype() != DType::F32 {
            return Err(Error::shape(op, format!("f32 tensors expected, got {:?} {:?}", t.dtype(), t.shape())));
        }
    }
    Ok(Dims { planes: n * c, h, w, ho: h / 2, wo: w / 2 })
}

fn same_shape(op: &'static str, name: &str, t: &Tensor, like: &Tensor) -> Result<()> {
    if t.shape() != like.shape() || t.dtype() != like.dtype() {
        return Err(Error::shape(op, format!("{name} is {:?} {:?}; {:?} {:?} expected", t.dtype(), t.shape(), like.dtype(), like.shape())));
    }
    Ok(())
}

/// A tensor laid out as H×W planes (`Big`: x, dx) or Ho×Wo planes (`Small`: y, dy).
#[derive(Clone, Copy)]
enum Side<'a> {
    Big(&'a Tensor),
    Small(&'a Tensor),
}

impl Side<'_> {
    /// Binds planes [first, first + count): from an aligned element at or before the first one, with the
    /// distance to it (the kernel's `*_base`). A tensor whose own start is misaligned binds from its start
    /// and `gpu.dispatch` reports the misalignment.
    fn bind(self, d: Dims, align: usize, first: usize, count: usize) -> (Arg, u32) {
        let (t, plane) = match self {
            Side::Big(t) => (t, d.h * d.w),
            Side::Small(t) => (t, d.ho * d.wo),
        };
        let start = first * plane;
        let base = ((t.offset() + start) % align).min(start);
        (Arg::range(t, start - base, count * plane + base), base as u32)
    }
}

/// Records `def` over all planes, in chunks whose bindings fit the adapter's storage-binding limit and
/// whose grids fit its workgroup limit; all chunks or none are recorded.
#[allow(clippy::too_many_arguments)]
fn record(gpu: &Gpu, prog: &mut Program, def: &'static KernelDef, d: Dims, src: Side, grad: Option<&Tensor>, dst: Side) -> Result<()> {
    if d.planes == 0 {
        return Ok(());
    }
    let align = (gpu.limits.min_storage_buffer_offset_alignment as usize / 4).max(1);
    // Whole vec4s (bindings are padded to 16 bytes), and u32 indexes in the shader.
    let max_elems = (gpu.limits.max_storage_buffer_binding_size as usize / 4).min(u32::MAX as usize) / 4 * 4;
    // The largest binding is an H×W one; leave room for a base of up to align − 1 elements.
    let by_binding = max_elems.saturating_sub(align - 1) / (d.h * d.w);
    let max_wg = gpu.limits.max_compute_workgroups_per_dimension as usize;
    let by_grid = max_wg.saturating_mul(max_wg).saturating_mul(WG) / (d.ho * d.wo);
    let per_chunk = by_binding.min(by_grid);
    if per_chunk == 0 {
        return Err(Error::Limit {
            op: def.entry,
            msg: format!("one {}×{} plane does not fit one dispatch", d.h, d.w),
            limit: format!("{max_elems} elements per storage binding, {max_wg} workgroups per grid dimension"),
        });
    }
    let pipeline = gpu.pipeline(def, &[])?;
    all_or_nothing(prog, |prog| {
        for first in (0..d.planes).step_by(per_chunk) {
            let count = per_chunk.min(d.planes - first);
            let (src_arg, src_base) = src.bind(d, align, first, count);
            let (grad_arg, grad_base) = match grad {
                Some(g) => Side::Small(g).bind(d, align, first, count),
                None => (src_arg.clone(), src_base),
            };
            let (dst_arg, dst_base) = dst.bind(d, align, first, count);
            let windows = count * d.ho * d.wo;
            let params = Params {
                windows: windows as u32,
                h: d.h as u32,
                w: d.w as u32,
                ho: d.ho as u32,
                wo: d.wo as u32,
                src_base,
                grad_base,
                dst_base,
            };
            let grid = gpu.grid_1d(windows.div_ceil(WG) as u32);
            prog.push(gpu.dispatch(&pipeline, &params, &[src_arg, grad_arg, dst_arg], grid)?);
        }
        Ok(())
    })
}

/// CPU references, in f64, on flat NCHW slices with the shape given as `[N, C, H, W]` of x.
pub mod cpu {
    /// Position (0..4, row-major) of each window's maximum: the first on ties, the first NaN if any.
    fn argmax(window: [f64; 4]) -> usize {
        let mut k = 0;
        for j in 1..4 {
            if !window[k].is_nan() && (window[j] > window[k] || window[j].is_nan()) {
                k = j;
            }
        }
        k
    }

    /// Each window as (index in y, indexes of its four elements in x, row-major), in y's order.
    fn windows(shape: [usize; 4]) -> impl Iterator<Item = (usize, [usize; 4])> {
        let [n, c, h, w] = shape;
        let (ho, wo) = (h / 2, w / 2);
        (0..n * c * ho * wo).map(move |o| {
            let (plane, oh, ow) = (o / (ho * wo), o / wo % ho, o % wo);
            let i0 = plane * h * w + 2 * oh * w + 2 * ow;
            (o, [i0, i0 + 1, i0 + w, i0 + w + 1])
        })
    }

    fn out_len(shape: [usize; 4]) -> usize {
        let [n, c, h, w] = shape;
        n * c * (h / 2) * (w / 2)
    }

    fn check(x_len: usize, y_len: usize, shape: [usize; 4]) {
        assert_eq!(x_len, shape.iter().product::<usize>(), "x does not match {shape:?}");
        assert_eq!(y_len, out_len(shape), "y does not match {shape:?}");
    }

    /// `shape` is that of x.
    pub fn max_forward(x: &[f64], shape: [usize; 4]) -> Vec<f64> {
        let mut y = vec![0.0; out_len(shape)];
        check(x.len(), y.len(), shape);
        for (o, idx) in windows(shape) {
            let v = idx.map(|i| x[i]);
            y[o] = v[argmax(v)];
        }
        y
    }

    /// `shape` is that of x and dx.
    pub fn max_backward(x: &[f64], dy: &[f64], shape: [usize; 4]) -> Vec<f64> {
        check(x.len(), dy.len(), shape);
        let mut dx = vec![0.0; x.len()];
        for (o, idx) in windows(shape) {
            dx[idx[argmax(idx.map(|i| x[i]))]] = dy[o];
        }
        dx
    }

    /// `shape` is that of x.
    pub fn avg_forward(x: &[f64], shape: [usize; 4]) -> Vec<f64> {
        let mut y = vec![0.0; out_len(shape)];
        check(x.len(), y.len(), shape);
        for (o, idx) in windows(shape) {
            y[o] = idx.iter().map(|&i| x[i]).sum::<f64>() / 4.0;
        }
        y
    }

    /// `shape` is that of dx.
    pub fn avg_backward(dy: &[f64], shape: [usize; 4]) -> Vec<f64> {
        let mut dx = vec![0.0; shape.iter().product()];
        check(dx.len(), dy.len(), shape);
        for (o, idx) in windows(shape) {
            idx.iter().for_each(|&i| dx[i] = dy[o] / 4.0);
        }
        dx
    }
}
