//! Batches from a resident data set (u8 images, or f32 values such as the 2-D toy's points): gather rows
//! by an index stream and normalise them (`shaders/gather.wgsl`), with the CPU reference. Tests:
//! `tests/kernels/gather.rs`.

use bytemuck::{Pod, Zeroable};

use super::check::gcd;
use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, DType, Gpu, KernelDef, Program, Shader, Tensor};

pub static SHADER: Shader = Shader { name: "gather", source: wgsl!("grid", "gather"), subgroups: false };
pub static GATHER_NORMALIZE: KernelDef = KernelDef {
    shader: &SHADER,
    entry: "gather_normalize",
    bindings: &[Access::Uniform, Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite],
};
pub static GATHER_AUGMENT: KernelDef = KernelDef {
    shader: &SHADER,
    entry: "gather_augment",
    bindings: &[Access::Uniform, Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite, Access::Read],
};
pub static KERNELS: &[&KernelDef] = &[&GATHER_NORMALIZE, &GATHER_AUGMENT];

/// Zero padding of the random crop (torchvision's RandomCrop(32, padding=4)); `PAD` in gather.wgsl.
pub const PAD: usize = 4;

/// Mirrors `Params` in gather.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batch: u32,
    row_len: u32,
    plane: u32,
    first: u32,
    split_row: u32,
    width: u32,
    f32_values: u32,
    _pad: u32,
    scale: [f32; 4],
    shift: [f32; 4],
}

/// Packs bytes four to a u32 word (little-endian), the layout `gather.wgsl` reads.
pub fn pack_u8(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks(4).map(|c| c.iter().enumerate().fold(0u32, |w, (i, &b)| w | (b as u32) << (8 * i))).collect()
}

/// How a resident set stores its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Values {
    /// Bytes 0..255, four to a word, normalised as (byte/255 − mean)/std.
    U8,
    /// f32 values, one to a word, normalised as (value − mean)/std.
    F32,
}

/// A data set resident on the GPU: rows of `row_len` values in one or two parts, and u32 labels.
#[derive(Clone, Debug)]
pub struct GpuImages {
    pub rows: usize,
    pub row_len: usize,
    /// Values per channel plane (H·W); channels = row_len / plane (at most 4).
    pub plane: usize,
    pub values: Values,
    pub parts: Vec<Tensor>,
    pub split_row: usize,
    pub labels: Tensor,
}

impl GpuImages {
    /// Uploads `images` ([rows, row_len] bytes) and `labels`, split in two parts if one binding cannot hold them.
    pub fn upload(gpu: &Gpu, images: &[u8], labels: &[u32], row_len: usize, plane: usize) -> Result<GpuImages> {
        GpuImages::upload_as(gpu, images, Values::U8, labels, row_len, plane)
    }

    /// Uploads f32 rows ([rows, row_len] values, one channel) and `labels`.
    pub fn upload_f32(gpu: &Gpu, values: &[f32], labels: &[u32], row_len: usize) -> Result<GpuImages> {
        GpuImages::upload_as(gpu, bytemuck::cast_slice(values), Values::F32, labels, row_len, row_len)
    }

    /// `bytes` holds the rows' values as `values` says (1 or 4 bytes each).
    fn upload_as(gpu: &Gpu, bytes: &[u8], values: Values, labels: &[u32], row_len: usize, plane: usize) -> Result<GpuImages> {
        const OP: &str = "GpuImages::upload";
        let size = match values {
            Values::U8 => 1,
            Values::F32 => 4,
        };
        if row_len == 0 || plane == 0 || !row_len.is_multiple_of(plane) || row_len / plane > 4 {
            return Err(Error::shape(OP, format!("row length {row_len} must be 1 to 4 channel planes of {plane} values")));
        }
        let row_bytes = row_len * size;
        if !bytes.len().is_multiple_of(row_bytes) || bytes.len() / row_bytes != labels.len() {
            return Err(Error::shape(OP, format!("{} values in rows of {row_len} for {} labels", bytes.len() / size, labels.len())));
        }
        let rows = labels.len();
        let max = gpu.limits.max_storage_buffer_binding_size as usize;
        // Part boundaries on rows whose byte offset is a multiple of 256 (any adapter's alignment).
        let step = 256 / gcd(256, row_bytes);
        let per_part = (max / row_bytes) / step * step;
        if per_part == 0 || rows.div_ceil(per_part) > 2 {
            return Err(Error::Limit { op: OP, msg: format!("{} MB of data need more than two bindings", bytes.len() >> 20), limit: format!("{max} bytes per storage binding") });
        }
        let split_row = rows.min(per_part);
        let mut parts = vec![upload_words(gpu, &bytes[..split_row * row_bytes])?];
        if split_row < rows {
            parts.push(upload_words(gpu, &bytes[split_row * row_bytes..])?);
        }
        Ok(GpuImages { rows, row_len, plane, values, parts, split_row, labels: gpu.upload_u32(&[rows], labels)? })
    }
}

/// Bytes as little-endian u32 words (the last one zero-padded).
fn upload_words(gpu: &Gpu, bytes: &[u8]) -> Result<Tensor> {
    let words = pack_u8(bytes);
    gpu.upload_u32(&[words.len()], &words)
}

/// (rows, values per row) of a batch tensor [B, ...] (a flat [B, D] or an image batch [B, C, H, W]).
fn rows_of(op: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    match t.shape().first() {
        Some(&b) if b > 0 && t.shape().len() >= 2 => Ok((b, t.len() / b)),
        _ => Err(Error::shape(op, format!("out_x must be a batch [B, ...], got shape {:?}", t.shape()))),
    }
}

/// Per-channel normalisation x = (byte/255 − mean\[c\]) / std\[c\] (f32 values: (value − mean\[c\]) / std\[c\]),
/// as scale and shift.
pub fn normalization(values: Values, mean: &[f32], std: &[f32]) -> ([f32; 4], [f32; 4]) {
    let unit = match values {
        Values::U8 => 255.0,
        Values::F32 => 1.0,
    };
    let (mut scale, mut shift) = ([1.0; 4], [0.0; 4]);
    for c in 0..mean.len().min(4) {
        scale[c] = 1.0 / (unit * std[c]);
        shift[c] = -mean[c] / std[c];
    }
    (scale, shift)
}

/// Records: out_x\[b\] = normalise(images[indices[first + b]]), out_y\[b\] = labels[indices[first + b]],
/// for b < B (out_x [B, row_len] f32 or any [B, ...] of row_len values per row, out_y \[B\] u32). Index values must be < rows (the caller's
/// index stream guarantees it; the wrapper cannot see GPU data).
#[allow(clippy::too_many_arguments)]
pub fn gather_normalize(gpu: &Gpu, prog: &mut Program, data: &GpuImages, indices: &Tensor, first: usize, mean: &[f32], std: &[f32], out_x: &Tensor, out_y: &Tensor) -> Result<()> {
    let params = check("gather_normalize", data, indices, first, mean, std, out_x, out_y)?;
    dispatch(gpu, prog, &GATHER_NORMALIZE, params, data, indices, out_x, out_y, None)
}

/// The augmentation code of one image at one step: a pure function of (seed, step, image row), so every
/// method and every resumed run sees the same crops and flips. (dx, dy) ∈ [0, 2·PAD]², flip ∈ {0, 1}.
pub fn augment_code(seed: u64, step: u64, row: u32) -> u32 {
    // SplitMix64 of the three inputs mixed together: cheap and well spread.
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (row as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let span = 2 * PAD as u64 + 1;
    let (dx, dy, flip) = (z % span, (z >> 16) % span, (z >> 32) & 1);
    (dx | dy << 8 | flip << 16) as u32
}

/// As [`gather_normalize`] for images `width` pixels wide, each row of the batch cropped and flipped as
/// `codes[first + b]` says (see [`augment_code`] and gather.wgsl).
#[allow(clippy::too_many_arguments)]
pub fn gather_augment(gpu: &Gpu, prog: &mut Program, data: &GpuImages, indices: &Tensor, codes: &Tensor, first: usize, width: usize, mean: &[f32], std: &[f32], out_x: &Tensor, out_y: &Tensor) -> Result<()> {
    const OP: &str = "gather_augment";
    let mut params = check(OP, data, indices, first, mean, std, out_x, out_y)?;
    if codes.dtype() != DType::U32 || first + params.batch as usize > codes.len() {
        return Err(Error::shape(OP, format!("batch {first}..{} outside the augmentation stream of {}", first + params.batch as usize, codes.len())));
    }
    if width == 0 || !data.plane.is_multiple_of(width) {
        return Err(Error::shape(OP, format!("a plane of {} pixels is not rows of width {width}", data.plane)));
    }
    params.width = width as u32;
    dispatch(gpu, prog, &GATHER_AUGMENT, params, data, indices, out_x, out_y, Some(codes))
}

/// Checks what both gathers take and returns their uniform parameters (`width` 0).
#[allow(clippy::too_many_arguments)]
fn check(op: &'static str, data: &GpuImages, indices: &Tensor, first: usize, mean: &[f32], std: &[f32], out_x: &Tensor, out_y: &Tensor) -> Result<Params> {
    let (batch, cols) = rows_of(op, out_x)?;
    if cols != data.row_len || out_x.dtype() != DType::F32 {
        return Err(Error::shape(op, format!("out_x is {:?}; rows of {} f32 expected", out_x.shape(), data.row_len)));
    }
    if out_y.len() != batch || out_y.dtype() != DType::U32 {
        return Err(Error::shape(op, format!("out_y is {:?} {:?}; [{batch}] u32 expected", out_y.shape(), out_y.dtype())));
    }
    if indices.dtype() != DType::U32 || first + batch > indices.len() {
        return Err(Error::shape(op, format!("batch {first}..{} outside the index stream of {}", first + batch, indices.len())));
    }
    let channels = data.row_len / data.plane;
    if mean.len() != channels || std.len() != channels || std.iter().any(|&s| s <= 0.0) {
        return Err(Error::shape(op, format!("{channels} channels need {channels} means and positive stds")));
    }
    let (scale, shift) = normalization(data.values, mean, std);
    let f32_values = (data.values == Values::F32) as u32;
    Ok(Params { batch: batch as u32, row_len: cols as u32, plane: data.plane as u32, first: first as u32, split_row: data.split_row as u32, width: 0, f32_values, _pad: 0, scale, shift })
}

/// One invocation per output element; `codes` is bound for `gather_augment` only.
#[allow(clippy::too_many_arguments)]
fn dispatch(gpu: &Gpu, prog: &mut Program, def: &'static KernelDef, params: Params, data: &GpuImages, indices: &Tensor, out_x: &Tensor, out_y: &Tensor, codes: Option<&Tensor>) -> Result<()> {
    let hi = data.parts.last().expect("at least one part");
    let pipeline = gpu.pipeline(def, &[])?;
    let mut args = vec![Arg::from(&data.parts[0]), Arg::from(hi), Arg::from(&data.labels), Arg::from(indices), Arg::from(out_x), Arg::from(out_y)];
    args.extend(codes.map(Arg::from));
    let elements = params.batch * params.row_len;
    prog.push(gpu.dispatch(&pipeline, &params, &args, gpu.grid_1d(elements.div_ceil(256)))?);
    Ok(())
}

/// CPU reference.
pub mod cpu {
    pub fn gather_normalize(images: &[u8], labels: &[u32], row_len: usize, plane: usize, indices: &[u32], mean: &[f64], std: &[f64]) -> (Vec<f64>, Vec<u32>) {
        let mut x = Vec::new();
        for &i in indices {
            let row = &images[i as usize * row_len..(i as usize + 1) * row_len];
            x.extend(row.iter().enumerate().map(|(col, &b)| (b as f64 / 255.0 - mean[col / plane]) / std[col / plane]));
        }
        (x, indices.iter().map(|&i| labels[i as usize]).collect())
    }

    /// As `gather_normalize` for f32 rows: (value − mean) / std.
    pub fn gather_f32(values: &[f32], labels: &[u32], row_len: usize, indices: &[u32], mean: f64, std: f64) -> (Vec<f64>, Vec<u32>) {
        let mut x = Vec::new();
        for &i in indices {
            x.extend(values[i as usize * row_len..(i as usize + 1) * row_len].iter().map(|&v| (v as f64 - mean) / std));
        }
        (x, indices.iter().map(|&i| labels[i as usize]).collect())
    }

    /// As `gather_normalize`, each image first zero-padded by `PAD`, cropped at (dy, dx) of its code and
    /// flipped horizontally if the code says so (torchvision's RandomCrop then RandomHorizontalFlip).
    #[allow(clippy::too_many_arguments)]
    pub fn gather_augment(images: &[u8], labels: &[u32], row_len: usize, plane: usize, width: usize, indices: &[u32], codes: &[u32], mean: &[f64], std: &[f64]) -> (Vec<f64>, Vec<u32>) {
        let (h, w, pad) = ((plane / width) as i64, width as i64, super::PAD as i64);
        let mut x = Vec::new();
        for (&i, &code) in indices.iter().zip(codes) {
            let row = &images[i as usize * row_len..(i as usize + 1) * row_len];
            let (dx, dy, flip) = ((code & 0xFF) as i64, ((code >> 8) & 0xFF) as i64, (code >> 16) & 1 == 1);
            // The padded image, then the crop, then the flip.
            let padded = |c: usize, py: i64, px: i64| -> u8 {
                let (sy, sx) = (py - pad, px - pad);
                if sy < 0 || sy >= h || sx < 0 || sx >= w { 0 } else { row[c * plane + (sy * w + sx) as usize] }
            };
            for c in 0..row_len / plane {
                for y in 0..h {
                    for ox in 0..w {
                        let cx = if flip { w - 1 - ox } else { ox };
                        let b = padded(c, y + dy, cx + dx);
                        x.push((b as f64 / 255.0 - mean[c]) / std[c]);
                    }
                }
            }
        }
        (x, indices.iter().map(|&i| labels[i as usize]).collect())
    }
}
