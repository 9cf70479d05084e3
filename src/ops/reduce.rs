//! Reductions (`shaders/reduce.wgsl`) with their CPU references: column sums (the bias gradient of a
//! linear layer), flat sums (mean loss, metrics accumulated over data chunks), L2 norms of the groups of a
//! 3-D view (row, column and conv-unit norms for PathProx), row argmax and the count of correct labels.
//! Tests: `tests/kernels/reduce.rs`.
//!
//! Every sum is deterministic (fixed partition, fixed-order tree; no float atomics). Inputs larger than the
//! adapter's storage-binding limit are bound in aligned ranges whose partial results are reduced again.

use bytemuck::{Pod, Zeroable};

use super::check::{distinct, dtype as check_dtype, gcd};
use super::flat_chunks;
use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, DType, Gpu, KernelDef, Program, Shader, Tensor};

/// reduce.wgsl over f32 elements, and over vec4s for the kernels written over `V` (column sums, group norms).
pub static SHADER: Shader = Shader { name: "reduce", source: wgsl!("grid", "lanes_f32", "reduce"), subgroups: false };
pub static SHADER_VEC4: Shader = Shader { name: "reduce_vec4", source: wgsl!("grid", "lanes_vec4", "reduce"), subgroups: false };

const IN_OUT: &[Access] = &[Access::Uniform, Access::Read, Access::ReadWrite];
pub static COLUMN_SUMS: KernelDef = KernelDef { shader: &SHADER, entry: "column_sums", bindings: IN_OUT };
pub static SUM: KernelDef = KernelDef { shader: &SHADER, entry: "sum", bindings: IN_OUT };
pub static SUM_U32: KernelDef = KernelDef { shader: &SHADER, entry: "sum_u32", bindings: IN_OUT };
pub static COLUMN_SUMS_VEC4: KernelDef = KernelDef { shader: &SHADER_VEC4, entry: "column_sums", bindings: IN_OUT };
pub static GROUP_NORMS: KernelDef = KernelDef { shader: &SHADER, entry: "group_norms", bindings: IN_OUT };
pub static GROUP_NORMS_VEC4: KernelDef = KernelDef { shader: &SHADER_VEC4, entry: "group_norms", bindings: IN_OUT };
pub static COLUMN_NORMS_VEC4: KernelDef = KernelDef { shader: &SHADER, entry: "column_norms_vec4", bindings: IN_OUT };
pub static ARGMAX_ROWS: KernelDef = KernelDef { shader: &SHADER, entry: "argmax_rows", bindings: IN_OUT };
pub static CORRECT_COUNT: KernelDef =
    KernelDef { shader: &SHADER, entry: "correct_count", bindings: &[Access::Uniform, Access::Read, Access::Read, Access::ReadWrite] };
pub static KERNELS: &[&KernelDef] = &[&COLUMN_SUMS, &COLUMN_SUMS_VEC4, &SUM, &SUM_U32, &GROUP_NORMS, &GROUP_NORMS_VEC4, &COLUMN_NORMS_VEC4, &ARGMAX_ROWS, &CORRECT_COUNT];

/// Mirrors `Params` in reduce.wgsl (whose comment says what each field means per kernel).
#[repr(C)]
#[derive(Clone, Copy, Default, Pod, Zeroable)]
struct Params {
    d0: u32,
    d1: u32,
    d2: u32,
    per_group: u32,
    groups: u32,
    out_offset: u32,
    accumulate: u32,
    scale: f32,
}

/// `WG` in reduce.wgsl.
const WG: usize = 64;
/// Rows per workgroup row in a partial column-sum pass; up to twice this, one pass writes the result.
const COLUMN_ROWS: usize = 256;
/// Elements per workgroup in a partial flat-sum pass; up to `SUM_DIRECT`, one workgroup sums everything
/// (one dispatch beats two below this size on lavapipe, where a dispatch costs ~70-100 µs).
const SUM_BLOCK: usize = 4096;
const SUM_DIRECT: usize = 16384;
/// Rows per workgroup of a partial correct-count pass, and the most one workgroup counts alone.
const COUNT_BLOCK: usize = 1024;
const COUNT_DIRECT: usize = 4096;

fn u32_of(op: &'static str, what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Limit { op, msg: format!("{what} = {v}"), limit: "2^32 - 1 (32-bit indexing)".into() })
}

/// Storage-binding alignment and size, in elements.
fn binding_elems(gpu: &Gpu) -> (usize, usize) {
    let align = (gpu.limits.min_storage_buffer_offset_alignment as usize / 4).max(1);
    (align, gpu.limits.max_storage_buffer_binding_size as usize / 4)
}

// ---- column sums -----------------------------------------------------------------------------------------

/// out\[j\] (+)= scale·Σ_i x[i, j] for x [R, C], out \[C\]: the bias gradient of a linear layer.
/// One dispatch up to 512 rows (the training step); beyond, partial sums over 256-row blocks are summed again.
pub fn column_sums(gpu: &Gpu, prog: &mut Program, x: &Tensor, out: &Tensor, scale: f32, accumulate: bool) -> Result<()> {
    all_or_nothing(prog, |p| column_sums_into(gpu, p, x, out, scale, accumulate))
}

/// Runs `build` on a fresh program and appends its dispatches only if it succeeds, so that an error
/// raised after some passes were built (an adapter limit) leaves the caller's program as it was.
pub(crate) fn all_or_nothing(prog: &mut Program, build: impl FnOnce(&mut Program) -> Result<()>) -> Result<()> {
    let mut local = Program::new();
    build(&mut local)?;
    prog.append(local);
    Ok(())
}

fn column_sums_into(gpu: &Gpu, prog: &mut Program, x: &Tensor, out: &Tensor, scale: f32, accumulate: bool) -> Result<()> {
    const OP: &str = "column_sums";
    let (rows, cols) = x.dims2(OP)?;
    check_dtype(OP, "x", x, DType::F32)?;
    check_dtype(OP, "out", out, DType::F32)?;
    if out.len() != cols {
        return Err(Error::shape(OP, format!("out has {} elements {:?}, x {:?} has {cols} columns", out.len(), out.shape(), x.shape())));
    }
    distinct(OP, ("out", out), &[("x", x)])?;
    if cols == 0 {
        return Ok(());
    }
    // Four columns per invocation when rows are whole vec4s (then so is every range's first row).
    let (def, lanes) = if cols % 4 == 0 { (&COLUMN_SUMS_VEC4, cols / 4) } else { (&COLUMN_SUMS, cols) };
    let pipeline = gpu.pipeline(def, &[])?;
    let grid_x = u32_of(OP, "column blocks", lanes.div_ceil(WG))?;
    let cols32 = u32_of(OP, "columns", cols)?;
    let (align, max_elems) = binding_elems(gpu);
    if rows <= 2 * COLUMN_ROWS && rows * cols <= max_elems {
        let params = Params { d0: rows as u32, d1: cols32, per_group: rows.max(1) as u32, accumulate: accumulate as u32, scale, ..Default::default() };
        prog.push(gpu.dispatch(&pipeline, &params, &[x.into(), out.into()], [grid_x, 1, 1])?);
        return Ok(());
    }
    // Each bound range starts at a row whose element offset is aligned and holds as many rows as fit.
    let row_step = align / gcd(cols, align);
    let range_rows = if rows * cols <= max_elems { rows } else { max_elems / cols / row_step * row_step };
    // Two rows per range at least, so that each pass shrinks the rows and the recursion ends.
    if range_rows < 2 {
        let need = row_step.max(2);
        return Err(Error::Limit { op: OP, msg: format!("{need} rows of {cols} columns must fit one binding"), limit: format!("{max_elems} elements per storage binding") });
    }
    // Blocks of COLUMN_ROWS rows, grown if a range would need more than the grid's per-dimension limit.
    let max_y = gpu.limits.max_compute_workgroups_per_dimension as usize;
    let per_group = COLUMN_ROWS.max(range_rows.div_ceil(max_y));
    // The partial sums, [blocks, C], are bound whole: about `per_group` times smaller than x unless
    // the rows are so wide that few fit a binding (then gpu.dispatch reports the limit).
    let blocks: usize = (0..rows).step_by(range_rows).map(|r0| (rows - r0).min(range_rows).div_ceil(per_group)).sum();
    let partial = gpu.empty(&[blocks, cols], DType::F32);
    let mut out_row = 0;
    for r0 in (0..rows).step_by(range_rows) {
        let n = (rows - r0).min(range_rows);
        let groups = n.div_ceil(per_group);
        let params = Params {
            d0: n as u32,
            d1: cols32,
            per_group: per_group as u32,
            out_offset: out_row as u32,
            scale: 1.0,
            ..Default::default()
        };
        let args = [Arg::range(x, r0 * cols, n * cols), (&partial).into()];
        prog.push(gpu.dispatch(&pipeline, &params, &args, [grid_x, groups as u32, 1])?);
        out_row += groups;
    }
    column_sums_into(gpu, prog, &partial, out, scale, accumulate)
}

// ---- flat sums -------------------------------------------------------------------------------------------

/// out\[0\] (+)= scale·Σ x over every element of `x` (any shape), `out` of one element.
pub fn sum(gpu: &Gpu, prog: &mut Program, x: &Tensor, out: &Tensor, scale: f32, accumulate: bool) -> Result<()> {
    all_or_nothing(prog, |p| flat_sum(gpu, p, &SUM, x, out, scale, accumulate, DType::F32))
}

/// As `sum`, over u32 (counts): exact up to 2^32 − 1, wrapping beyond; `scale` does not apply.
pub fn sum_u32(gpu: &Gpu, prog: &mut Program, x: &Tensor, out: &Tensor, accumulate: bool) -> Result<()> {
    all_or_nothing(prog, |p| flat_sum(gpu, p, &SUM_U32, x, out, 1.0, accumulate, DType::U32))
}

#[allow(clippy::too_many_arguments)]
fn flat_sum(gpu: &Gpu, prog: &mut Program, def: &'static KernelDef, x: &Tensor, out: &Tensor, scale: f32, accumulate: bool, dtype: DType) -> Result<()> {
    let op = def.entry;
    check_dtype(op, "x", x, dtype)?;
    check_dtype(op, "out", out, dtype)?;
    if out.len() != 1 {
        return Err(Error::shape(op, format!("out must hold one element, got shape {:?}", out.shape())));
    }
    distinct(op, ("out", out), &[("x", x)])?;
    let n = x.len();
    u32_of(op, "elements", n)?;
    let pipeline = gpu.pipeline(def, &[])?;
    let chunks = flat_chunks(gpu, n);
    if n <= SUM_DIRECT && chunks.len() == 1 {
        let params = Params { d0: n as u32, per_group: n.max(1) as u32, groups: 1, accumulate: accumulate as u32, scale, ..Default::default() };
        prog.push(gpu.dispatch(&pipeline, &params, &[x.into(), out.into()], [1, 1, 1])?);
        return Ok(());
    }
    let total: usize = chunks.iter().map(|&(_, count)| count.div_ceil(SUM_BLOCK)).sum();
    let partial = gpu.empty(&[total], dtype);
    let mut offset = 0;
    for (first, count) in chunks {
        let groups = count.div_ceil(SUM_BLOCK);
        let params = Params { d0: count as u32, per_group: SUM_BLOCK as u32, groups: groups as u32, out_offset: offset as u32, scale: 1.0, ..Default::default() };
        let args = [Arg::range(x, first, count), (&partial).into()];
        prog.push(gpu.dispatch(&pipeline, &params, &args, gpu.grid_1d(groups as u32))?);
        offset += groups;
    }
    flat_sum(gpu, prog, def, &partial, out, scale, accumulate, dtype)
}

// ---- group norms -----------------------------------------------------------------------------------------

/// out\[j\] = sqrt(Σ_{i<a, k<c} t[i, j, k]²) with `t` (any shape, a·b·c elements) viewed row-major as
/// [a, b, c] and `out` of b elements. Row norms of [R, C]: view [1, R, C]; column norms: [R, C, 1];
/// docs/algorithm.md's unit norms of conv weights: w of output channel o of W1 [out, in, 3, 3] = [1, out, in·9],
/// v of input channel c of W2 [out2, in2, 3, 3] = [out2, in2, 9].
/// Squares are summed in f32: magnitudes between ~1e-19 and ~1e19 neither underflow nor overflow.
pub fn group_norms(gpu: &Gpu, prog: &mut Program, t: &Tensor, view: [usize; 3], out: &Tensor) -> Result<()> {
    const OP: &str = "group_norms";
    let [a, b, c] = view;
    check_dtype(OP, "t", t, DType::F32)?;
    check_dtype(OP, "out", out, DType::F32)?;
    if a.checked_mul(b).and_then(|ab| ab.checked_mul(c)) != Some(t.len()) {
        return Err(Error::shape(OP, format!("view {view:?} does not cover tensor {:?} ({} elements)", t.shape(), t.len())));
    }
    if out.len() != b {
        return Err(Error::shape(OP, format!("out has {} elements {:?}, the view {view:?} has {b} groups", out.len(), out.shape())));
    }
    distinct(OP, ("out", out), &[("t", t)])?;
    if b == 0 {
        return Ok(());
    }
    let params = Params { d0: u32_of(OP, "a", a)?, d1: u32_of(OP, "b", b)?, d2: u32_of(OP, "c", c)?, ..Default::default() };
    u32_of(OP, "elements", t.len())?;
    // vec4 loads where the layout allows: along k (c % 4 == 0), or across groups (column norms, b % 4 == 0).
    let (def, lanes) = match (c % 4, c, b % 4) {
        (0, _, _) => (&GROUP_NORMS_VEC4, b),
        (_, 1, 0) => (&COLUMN_NORMS_VEC4, b / 4),
        _ => (&GROUP_NORMS, b),
    };
    let pipeline = gpu.pipeline(def, &[])?;
    prog.push(gpu.dispatch(&pipeline, &params, &[t.into(), out.into()], gpu.grid_1d(lanes.div_ceil(WG) as u32))?);
    Ok(())
}

/// out\[i\] = ‖x[i, :]‖₂ for x [R, C], out \[R\].
pub fn row_norms(gpu: &Gpu, prog: &mut Program, x: &Tensor, out: &Tensor) -> Result<()> {
    let (r, c) = x.dims2("row_norms")?;
    group_norms(gpu, prog, x, [1, r, c], out)
}

/// out\[j\] = ‖x[:, j]‖₂ for x [R, C], out \[C\].
pub fn column_norms(gpu: &Gpu, prog: &mut Program, x: &Tensor, out: &Tensor) -> Result<()> {
    let (r, c) = x.dims2("column_norms")?;
    group_norms(gpu, prog, x, [r, c, 1], out)
}

// ---- argmax and accuracy ---------------------------------------------------------------------------------

fn check_logits(op: &'static str, logits: &Tensor) -> Result<(usize, usize)> {
    let (rows, cols) = logits.dims2(op)?;
    check_dtype(op, "logits", logits, DType::F32)?;
    if cols == 0 {
        return Err(Error::shape(op, format!("logits {:?} have no classes", logits.shape())));
    }
    u32_of(op, "elements", logits.len())?;
    Ok((rows, cols))
}

/// out\[b\] = index of the first maximum of logits[b, :] (torch.argmax's tie rule); out \[B\] u32.
pub fn argmax_rows(gpu: &Gpu, prog: &mut Program, logits: &Tensor, out: &Tensor) -> Result<()> {
    const OP: &str = "argmax_rows";
    let (rows, cols) = check_logits(OP, logits)?;
    check_dtype(OP, "out", out, DType::U32)?;
    if out.len() != rows {
        return Err(Error::shape(OP, format!("out has {} elements {:?}, logits {:?} have {rows} rows", out.len(), out.shape(), logits.shape())));
    }
    distinct(OP, ("out", out), &[("logits", logits)])?;
    let params = Params { d0: rows as u32, d1: cols as u32, ..Default::default() };
    let pipeline = gpu.pipeline(&ARGMAX_ROWS, &[])?;
    prog.push(gpu.dispatch(&pipeline, &params, &[logits.into(), out.into()], gpu.grid_1d(rows.div_ceil(WG) as u32))?);
    Ok(())
}

/// out_count\[0\] (+)= the number of rows whose argmax (first maximum) equals the label.
/// logits [B, C] f32, labels \[B\] u32, out_count \[1\] **u32** (exact at any count; read it with
/// `Gpu::read_u32`). A label ≥ C counts as wrong.
pub fn correct_count(gpu: &Gpu, prog: &mut Program, logits: &Tensor, labels: &Tensor, out_count: &Tensor, accumulate: bool) -> Result<()> {
    const OP: &str = "correct_count";
    let (rows, cols) = check_logits(OP, logits)?;
    check_dtype(OP, "labels", labels, DType::U32)?;
    check_dtype(OP, "out_count", out_count, DType::U32)?;
    if labels.len() != rows {
        return Err(Error::shape(OP, format!("labels {:?} do not match the {rows} rows of logits {:?}", labels.shape(), logits.shape())));
    }
    if out_count.len() != 1 {
        return Err(Error::shape(OP, format!("out_count must hold one element, got shape {:?}", out_count.shape())));
    }
    distinct(OP, ("out_count", out_count), &[("logits", logits), ("labels", labels)])?;
    let pipeline = gpu.pipeline(&CORRECT_COUNT, &[])?;
    let params = Params { d0: rows as u32, d1: cols as u32, ..Default::default() };
    if rows <= COUNT_DIRECT {
        let params = Params { per_group: rows.max(1) as u32, groups: 1, accumulate: accumulate as u32, ..params };
        prog.push(gpu.dispatch(&pipeline, &params, &[logits.into(), labels.into(), out_count.into()], [1, 1, 1])?);
        return Ok(());
    }
    let groups = rows.div_ceil(COUNT_BLOCK);
    let partial = gpu.empty(&[groups], DType::U32);
    let params = Params { per_group: COUNT_BLOCK as u32, groups: groups as u32, ..params };
    let count = gpu.dispatch(&pipeline, &params, &[logits.into(), labels.into(), (&partial).into()], gpu.grid_1d(groups as u32))?;
    all_or_nothing(prog, |p| {
        p.push(count);
        flat_sum(gpu, p, &SUM_U32, &partial, out_count, 1.0, accumulate, DType::U32)
    })
}

/// CPU references (f64).
pub mod cpu {
    /// Σ_i x[i, j] for x [rows, cols].
    pub fn column_sums(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
        let mut out = vec![0.0; cols];
        for i in 0..rows {
            for j in 0..cols {
                out[j] += x[i * cols + j];
            }
        }
        out
    }

    pub fn sum(x: &[f64]) -> f64 {
        x.iter().sum()
    }

    /// sqrt(Σ_{i, k} t[i, j, k]²) for t viewed as [a, b, c].
    pub fn group_norms(t: &[f64], [a, b, c]: [usize; 3]) -> Vec<f64> {
        (0..b).map(|j| (0..a).flat_map(|i| (0..c).map(move |k| t[(i * b + j) * c + k].powi(2))).sum::<f64>().sqrt()).collect()
    }

    /// First index of the maximum of each row.
    pub fn argmax_rows(logits: &[f64], cols: usize) -> Vec<u32> {
        logits
            .chunks(cols)
            .map(|row| row.iter().enumerate().fold(0, |best, (k, &v)| if v > row[best] { k } else { best }) as u32)
            .collect()
    }

    pub fn correct_count(logits: &[f64], cols: usize, labels: &[u32]) -> u32 {
        argmax_rows(logits, cols).iter().zip(labels).filter(|(a, l)| a == l).count() as u32
    }
}
