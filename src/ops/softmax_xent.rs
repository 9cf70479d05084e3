//! Softmax cross-entropy (`shaders/softmax_xent.wgsl`) with its CPU reference: per-sample losses, the
//! gradient w.r.t. the logits, both in one dispatch, and the mean loss — with the gradient, in one
//! dispatch for a training batch. Logits [B, C] f32, labels \[B\] u32 (validated on the host by the data
//! loader; the shader clamps them into [0, C) only to stay in bounds).
//! Tests: `tests/kernels/softmax_xent.rs`.

use bytemuck::{Pod, Zeroable};

use super::reduce;
use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, DType, Gpu, KernelDef, Program, Shader, Tensor};

pub static SHADER: Shader = Shader { name: "softmax_xent", source: wgsl!("grid", "softmax_xent"), subgroups: false };

const THREE: &[Access] = &[Access::Uniform, Access::Read, Access::Read, Access::ReadWrite];
const FOUR: &[Access] = &[Access::Uniform, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite];
pub static FORWARD: KernelDef = KernelDef { shader: &SHADER, entry: "xent_forward", bindings: THREE };
pub static BACKWARD: KernelDef = KernelDef { shader: &SHADER, entry: "xent_backward", bindings: THREE };
pub static FORWARD_BACKWARD: KernelDef = KernelDef { shader: &SHADER, entry: "xent_forward_backward", bindings: FOUR };
pub static LOSS_SUM: KernelDef = KernelDef { shader: &SHADER, entry: "xent_loss_sum", bindings: THREE };
pub static LOSS_SUM_BACKWARD: KernelDef = KernelDef { shader: &SHADER, entry: "xent_loss_sum_backward", bindings: FOUR };
pub static KERNELS: &[&KernelDef] = &[&FORWARD, &BACKWARD, &FORWARD_BACKWARD, &LOSS_SUM, &LOSS_SUM_BACKWARD];

/// Mirrors `Params` in softmax_xent.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Default, Pod, Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    accumulate: u32,
    _pad0: u32,
    grad_scale: f32,
    loss_scale: f32,
    _pad1: [u32; 2],
}

/// `WG` in softmax_xent.wgsl: rows per workgroup.
const WG: usize = 64;
/// Up to this many rows, one workgroup computes the losses and their sum in one dispatch (a training
/// batch); beyond, per-sample losses are written and summed by `reduce::sum` (evaluation chunks).
const FUSED_MAX_ROWS: usize = 4096;

/// Checks logits [B, C] f32 (C ≥ 1) and labels (B u32 values); returns (B, C).
fn check_inputs(op: &'static str, logits: &Tensor, labels: &Tensor) -> Result<(usize, usize)> {
    let (rows, cols) = logits.dims2(op)?;
    if logits.dtype() != DType::F32 {
        return Err(Error::shape(op, format!("logits must be F32, got {:?}", logits.dtype())));
    }
    if cols == 0 {
        return Err(Error::shape(op, format!("logits {:?} have no classes", logits.shape())));
    }
    if labels.dtype() != DType::U32 {
        return Err(Error::shape(op, format!("labels must be U32 class indices, got {:?} {:?}", labels.dtype(), labels.shape())));
    }
    if labels.len() != rows {
        return Err(Error::shape(op, format!("labels {:?} do not match the {rows} rows of logits {:?}", labels.shape(), logits.shape())));
    }
    if u32::try_from(logits.len()).is_err() {
        return Err(Error::Limit { op, msg: format!("logits {:?}", logits.shape()), limit: "2^32 - 1 elements (32-bit indexing)".into() });
    }
    Ok((rows, cols))
}

fn check_output(op: &'static str, name: &str, out: &Tensor, len: usize, others: &[&Tensor]) -> Result<()> {
    if out.dtype() != DType::F32 || out.len() != len {
        return Err(Error::shape(op, format!("{name} must be F32 with {len} elements, got {:?} {:?}", out.dtype(), out.shape())));
    }
    if others.iter().any(|t| out.same_buffer(t)) {
        return Err(Error::shape(op, format!("{name} must not share a buffer with another argument")));
    }
    Ok(())
}

fn push(gpu: &Gpu, prog: &mut Program, def: &'static KernelDef, params: Params, args: &[&Tensor], grid: [u32; 3]) -> Result<()> {
    let pipeline = gpu.pipeline(def, &[])?;
    let args: Vec<Arg> = args.iter().map(|&t| t.into()).collect();
    prog.push(gpu.dispatch(&pipeline, &params, &args, grid)?);
    Ok(())
}

fn row_grid(gpu: &Gpu, rows: usize) -> [u32; 3] {
    gpu.grid_1d(rows.div_ceil(WG) as u32)
}

/// losses\[b\] = −log softmax(logits[b, :])[labels\[b\]]; losses \[B\] f32.
pub fn forward(gpu: &Gpu, prog: &mut Program, logits: &Tensor, labels: &Tensor, losses: &Tensor) -> Result<()> {
    const OP: &str = "softmax_xent_forward";
    let (rows, cols) = check_inputs(OP, logits, labels)?;
    check_output(OP, "losses", losses, rows, &[logits, labels])?;
    let params = Params { rows: rows as u32, cols: cols as u32, ..Default::default() };
    push(gpu, prog, &FORWARD, params, &[logits, labels, losses], row_grid(gpu, rows))
}

/// dlogits = scale·(softmax(logits) − onehot(labels)); dlogits [B, C]. scale = 1/B for the mean loss.
pub fn backward(gpu: &Gpu, prog: &mut Program, logits: &Tensor, labels: &Tensor, dlogits: &Tensor, scale: f32) -> Result<()> {
    const OP: &str = "softmax_xent_backward";
    let (rows, cols) = check_inputs(OP, logits, labels)?;
    check_output(OP, "dlogits", dlogits, rows * cols, &[logits, labels])?;
    let params = Params { rows: rows as u32, cols: cols as u32, grad_scale: scale, ..Default::default() };
    push(gpu, prog, &BACKWARD, params, &[logits, labels, dlogits], row_grid(gpu, rows))
}

/// `forward` and `backward` in one dispatch.
pub fn forward_backward(gpu: &Gpu, prog: &mut Program, logits: &Tensor, labels: &Tensor, losses: &Tensor, dlogits: &Tensor, scale: f32) -> Result<()> {
    const OP: &str = "softmax_xent_forward_backward";
    let (rows, cols) = check_inputs(OP, logits, labels)?;
    check_output(OP, "losses", losses, rows, &[logits, labels, dlogits])?;
    check_output(OP, "dlogits", dlogits, rows * cols, &[logits, labels])?;
    let params = Params { rows: rows as u32, cols: cols as u32, grad_scale: scale, ..Default::default() };
    push(gpu, prog, &FORWARD_BACKWARD, params, &[logits, labels, losses, dlogits], row_grid(gpu, rows))
}

/// out\[0\] (+)= scale·Σ_b loss_b: one dispatch up to 4096 rows, else `forward` into a scratch tensor and
/// `reduce::sum`. With scale = 1/N and `accumulate`, sums the mean loss over the chunks of a data set.
pub fn loss_sum(gpu: &Gpu, prog: &mut Program, logits: &Tensor, labels: &Tensor, out: &Tensor, scale: f32, accumulate: bool) -> Result<()> {
    const OP: &str = "softmax_xent_loss_sum";
    let (rows, cols) = check_inputs(OP, logits, labels)?;
    check_output(OP, "out", out, 1, &[logits, labels])?;
    if rows <= FUSED_MAX_ROWS {
        let params = Params { rows: rows as u32, cols: cols as u32, accumulate: accumulate as u32, loss_scale: scale, ..Default::default() };
        return push(gpu, prog, &LOSS_SUM, params, &[logits, labels, out], [1, 1, 1]);
    }
    let losses = gpu.empty(&[rows], DType::F32);
    reduce::all_or_nothing(prog, |p| {
        forward(gpu, p, logits, labels, &losses)?;
        reduce::sum(gpu, p, &losses, out, scale, accumulate)
    })
}

/// out\[0\] = the mean cross-entropy over the B rows.
pub fn mean_loss(gpu: &Gpu, prog: &mut Program, logits: &Tensor, labels: &Tensor, out: &Tensor) -> Result<()> {
    let rows = logits.dims2("softmax_xent_mean_loss")?.0;
    if rows == 0 {
        return Err(Error::shape("softmax_xent_mean_loss", "the mean over zero rows is undefined"));
    }
    loss_sum(gpu, prog, logits, labels, out, 1.0 / rows as f32, false)
}

/// The training step's loss: out\[0\] = mean loss and dlogits = (softmax − onehot)/B, in one dispatch up to
/// 4096 rows (else `forward_backward` and `reduce::sum`).
pub fn mean_loss_backward(gpu: &Gpu, prog: &mut Program, logits: &Tensor, labels: &Tensor, out: &Tensor, dlogits: &Tensor) -> Result<()> {
    const OP: &str = "softmax_xent_mean_loss_backward";
    let (rows, cols) = check_inputs(OP, logits, labels)?;
    check_output(OP, "out", out, 1, &[logits, labels, dlogits])?;
    check_output(OP, "dlogits", dlogits, rows * cols, &[logits, labels])?;
    if rows == 0 {
        return Err(Error::shape(OP, "the mean over zero rows is undefined"));
    }
    let scale = 1.0 / rows as f32;
    if rows <= FUSED_MAX_ROWS {
        let params = Params { rows: rows as u32, cols: cols as u32, grad_scale: scale, loss_scale: scale, ..Default::default() };
        return push(gpu, prog, &LOSS_SUM_BACKWARD, params, &[logits, labels, out, dlogits], [1, 1, 1]);
    }
    let losses = gpu.empty(&[rows], DType::F32);
    reduce::all_or_nothing(prog, |p| {
        forward_backward(gpu, p, logits, labels, &losses, dlogits, scale)?;
        reduce::sum(gpu, p, &losses, out, scale, false)
    })
}

/// CPU references (f64). Labels must be < C.
pub mod cpu {
    /// (max, log Σ exp(x − max)) of a row.
    fn stats(row: &[f64]) -> (f64, f64) {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        (m, row.iter().map(|&v| (v - m).exp()).sum::<f64>().ln())
    }

    pub fn forward(logits: &[f64], cols: usize, labels: &[u32]) -> Vec<f64> {
        logits
            .chunks(cols)
            .zip(labels)
            .map(|(row, &l)| {
                let (m, ls) = stats(row);
                (m - row[l as usize]) + ls
            })
            .collect()
    }

    pub fn backward(logits: &[f64], cols: usize, labels: &[u32], scale: f64) -> Vec<f64> {
        logits
            .chunks(cols)
            .zip(labels)
            .flat_map(|(row, &l)| {
                let (m, ls) = stats(row);
                row.iter().enumerate().map(move |(k, &v)| scale * (((v - m) - ls).exp() - if k == l as usize { 1.0 } else { 0.0 }))
            })
            .collect()
    }

    pub fn mean_loss(logits: &[f64], cols: usize, labels: &[u32]) -> f64 {
        let losses = forward(logits, cols, labels);
        losses.iter().sum::<f64>() / losses.len() as f64
    }
}
