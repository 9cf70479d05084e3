//! 3×3 convolution, stride 1, padding 1 (same spatial size), NCHW, f32: the forward pass with fused bias
//! and ReLU, and the three gradients, with the f64 CPU reference.
//!
//! Shapes: x [N, Cin, H, W], w [Cout, Cin, 3, 3] (PyTorch's layouts), bias \[Cout\], y [N, Cout, H, W].
//!
//! Shaders: `shaders/conv2d_tile.wgsl` (the pixel tiles every kernel walks) +
//! - `conv2d_common.wgsl` + `conv2d_sg.wgsl` / `conv2d_reg.wgsl`: implicit GEMM for the forward pass and the
//!   data gradient (which is the same convolution with the kernel transposed and flipped). The subgroup
//!   variant (lavapipe) shares kernel taps across the 8 lanes with `subgroupBroadcast`; the register
//!   variant is the portable one (OpenGL, GPUs). Which runs is measured per adapter and shape (`Gpu::tune`).
//! - `conv2d_wgrad.wgsl` + `conv2d_wgrad_sg.wgsl` / `conv2d_wgrad_reg.wgsl`: weight-gradient partial sums
//!   over chunks of pixels, again with a subgroup and a portable variant;
//!   `conv2d_reduce.wgsl`: the bias gradient and the sum of partial-sum slots.
//! - `conv2d_gemm.wgsl` / `conv2d_wgrad_gemm.wgsl`: the same three passes as implicit GEMMs on the block
//!   tiling of `gemm_block.wgsl` (workgroup memory, double-buffered), for hardware GPUs only (docs/gpu.md).
//!
//! Tests: `tests/kernels/conv2d.rs`.
//!
//! **Scratch.** The weight and bias gradients reduce over N·H·W pixels, more than llvmpipe lets one
//! invocation loop (65,535 iterations), so long reductions are cut into chunks whose partial sums go to a
//! scratch tensor and are added by a second dispatch. `backward_weight` and `backward_bias` allocate that
//! scratch (from the buffer pool) when they are *recorded*, and the recorded dispatches hold it: a training
//! step records its program once and replays it, so replaying allocates nothing. Short reductions write
//! straight into the output with no scratch at all.

use bytemuck::{Pod, Zeroable};

use super::check::{distinct, gcd, lcm};
use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, DType, Dispatch, Gpu, KernelDef, Program, Shader, Tensor, Variant};
pub use cpu::Dims;

macro_rules! conv_shader {
    ($name:literal, $subgroups:expr) => {
        Shader {
            name: $name,
            source: concat!(
                include_str!("../../shaders/conv2d_tile.wgsl"),
                include_str!("../../shaders/conv2d_common.wgsl"),
                include_str!(concat!("../../shaders/", $name, ".wgsl"))
            ),
            subgroups: $subgroups,
        }
    };
}

pub static SHADER_SG: Shader = conv_shader!("conv2d_sg", true);
pub static SHADER_REG: Shader = conv_shader!("conv2d_reg", false);
macro_rules! wgrad_shader {
    ($name:literal, $subgroups:expr) => {
        Shader {
            name: $name,
            source: concat!(
                include_str!("../../shaders/conv2d_tile.wgsl"),
                include_str!("../../shaders/conv2d_wgrad.wgsl"),
                include_str!(concat!("../../shaders/", $name, ".wgsl"))
            ),
            subgroups: $subgroups,
        }
    };
}

pub static SHADER_WGRAD_SG: Shader = wgrad_shader!("conv2d_wgrad_sg", true);
pub static SHADER_WGRAD_REG: Shader = wgrad_shader!("conv2d_wgrad_reg", false);
pub static SHADER_GEMM: Shader = Shader { name: "conv2d_gemm", source: wgsl!("gemm_block", "conv2d_gemm"), subgroups: false };
pub static SHADER_WGRAD_GEMM: Shader = Shader { name: "conv2d_wgrad_gemm", source: wgsl!("gemm_block", "conv2d_wgrad_gemm"), subgroups: false };
pub static SHADER_REDUCE: Shader = Shader { name: "conv2d_reduce", source: wgsl!("grid", "conv2d_reduce"), subgroups: false };

const CONV_BINDINGS: &[Access] = &[Access::Uniform, Access::Read, Access::Read, Access::Read, Access::ReadWrite];
pub static CONV_SG: KernelDef = KernelDef { shader: &SHADER_SG, entry: "conv", bindings: CONV_BINDINGS };
pub static CONV_REG: KernelDef = KernelDef { shader: &SHADER_REG, entry: "conv", bindings: CONV_BINDINGS };
pub static CONV_GEMM: KernelDef = KernelDef { shader: &SHADER_GEMM, entry: "conv", bindings: CONV_BINDINGS };
const WGRAD_BINDINGS: &[Access] = &[Access::Uniform, Access::Read, Access::Read, Access::ReadWrite];
pub static WEIGHT_GRAD_SG: KernelDef = KernelDef { shader: &SHADER_WGRAD_SG, entry: "weight_grad", bindings: WGRAD_BINDINGS };
pub static WEIGHT_GRAD_REG: KernelDef = KernelDef { shader: &SHADER_WGRAD_REG, entry: "weight_grad", bindings: WGRAD_BINDINGS };
pub static WEIGHT_GRAD_GEMM: KernelDef = KernelDef { shader: &SHADER_WGRAD_GEMM, entry: "weight_grad", bindings: WGRAD_BINDINGS };
const REDUCE_BINDINGS: &[Access] = &[Access::Uniform, Access::Read, Access::ReadWrite];
pub static BIAS_GRAD: KernelDef = KernelDef { shader: &SHADER_REDUCE, entry: "bias_grad", bindings: REDUCE_BINDINGS };
pub static SUM_SLOTS: KernelDef = KernelDef { shader: &SHADER_REDUCE, entry: "sum_slots", bindings: REDUCE_BINDINGS };
pub static KERNELS: &[&KernelDef] = &[&CONV_SG, &CONV_REG, &CONV_GEMM, &WEIGHT_GRAD_SG, &WEIGHT_GRAD_REG, &WEIGHT_GRAD_GEMM, &BIAS_GRAD, &SUM_SLOTS];

/// Every (kernel, specialization) the conv wrappers can compile on any adapter, for the image sizes of
/// the paper's networks (VGG19 on 32×32 down to 2×2, MNIST-sized 28/14/7) and the test variants. The
/// shader translation test (`tests/translate.rs`) compiles each of these for every backend.
pub fn every_variant() -> Vec<(&'static KernelDef, Variant)> {
    let sizes = [32, 28, 16, 14, 8, 7, 4, 2, 1];
    let mut out: Vec<(&'static KernelDef, Variant)> = Vec::new();
    let mut add = |def: &'static KernelDef, v: Variant| {
        if !out.iter().any(|(d, x)| std::ptr::eq(*d, def) && *x == v) {
            out.push((def, v));
        }
    };
    for (sg, cpu) in [(true, true), (false, true), (true, false), (false, false)] {
        for &h in &sizes {
            for &w in &sizes {
                for c_out in [3, 64] {
                    Algo::candidates_for(sg, cpu, h, w, c_out).into_iter().for_each(|a| add(a.def(), a.constants()));
                }
                WgradAlgo::candidates_for(sg, cpu, h, w).into_iter().for_each(|a| add(a.def(), a.constants()));
            }
        }
    }
    Algo::all_for(true).into_iter().for_each(|a| add(a.def(), a.constants()));
    let tested_gemm = Algo::Gemm { tm: 4, tn: 4, bkc: 2 }; // tests/kernels/conv2d.rs forces it
    add(tested_gemm.def(), tested_gemm.constants());
    WgradAlgo::all_for(true).into_iter().for_each(|a| add(a.def(), a.constants()));
    out
}

/// Mirrors `Params` in conv2d_common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct ConvParams {
    c_in: u32,
    c_out: u32,
    h: u32,
    w: u32,
    images: u32,
    tiles_w: u32,
    tiles_img: u32,
    tiles: u32,
    w_m: u32,
    w_c: u32,
    flags: u32,
    _pad: u32,
}

const FLAG_BIAS: u32 = 1;
const FLAG_RELU: u32 = 2;
const FLAG_FLIP: u32 = 4;

/// Mirrors `Params` in conv2d_gemm.wgsl (`per_chunk` and `slot0` are conv2d_wgrad_gemm.wgsl's; the
/// forward kernel reads those words as w_m / w_c / flags, see `GemmParams::conv`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct GemmParams {
    c_in: u32,
    c_out: u32,
    h: u32,
    w: u32,
    images: u32,
    a: u32,
    b: u32,
    c: u32,
}

/// Workgroup memory (bytes) of the implicit-GEMM kernels: both halves of the double buffer of a
/// (16·tm)×(16·tn) block over slices `bk` deep.
fn gemm_workgroup_bytes(tm: u32, tn: u32, bk: u32) -> u32 {
    2 * bk * 16 * (tm + tn) * 4
}

/// Errors unless (tm, tn) is a block the implicit-GEMM kernels are written for and fits this adapter.
fn check_gemm_block(gpu: &Gpu, op: &'static str, what: &dyn std::fmt::Debug, tm: u32, tn: u32, bk: u32) -> Result<()> {
    if ![4, 8].contains(&tm) || ![4, 8].contains(&tn) || bk == 0 {
        return Err(Error::shape(op, format!("unsupported variant {what:?}: needs TM, TN ∈ {{4, 8}}")));
    }
    let need = gemm_workgroup_bytes(tm, tn, bk);
    if need > gpu.limits.max_compute_workgroup_storage_size {
        return Err(Error::Limit { op, msg: format!("{what:?} needs {need} bytes of workgroup memory"), limit: format!("{} bytes", gpu.limits.max_compute_workgroup_storage_size) });
    }
    Ok(())
}

/// The tuning key's suffix on adapters that are not CPUs: their candidate lists grew the implicit-GEMM
/// kernels in front, and choices are stored by index (checkpoints), so their keys are new.
fn gpu_list_tag(gpu: &Gpu) -> &'static str {
    if gpu.info.device_type == wgpu::DeviceType::Cpu { "" } else { " +gpu" }
}

/// Mirrors `Params` in conv2d_wgrad.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct WgradParams {
    c_in: u32,
    c_out: u32,
    h: u32,
    w: u32,
    images: u32,
    tiles_w: u32,
    tiles_img: u32,
    tiles: u32,
    tiles_per_chunk: u32,
    c_blocks: u32,
    m_blocks: u32,
    slot0: u32,
}

/// Mirrors `Params` in conv2d_reduce.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct ReduceParams {
    dim: u32,
    hw: u32,
    images: u32,
    per_chunk: u32,
    chunks: u32,
    slot0: u32,
    _pad: [u32; 2],
}

/// Invocations per workgroup of `weight_grad` and of the reduce kernels (`WG` in their shaders).
const WGRAD_WG: u32 = 64;
const REDUCE_WG: u32 = 256;
/// Tiles one `weight_grad` invocation sums: its loops then run ~1,000 times, far below llvmpipe's
/// 65,535-iteration limit per invocation (the tile's inner loops have constant bounds and are unrolled).
const MAX_TILES_PER_CHUNK: usize = 1024;
/// `weight_grad` cuts the pixels into more chunks until about this many invocations run (2 CPU cores of
/// 8 lanes each need a few hundred to stay busy; a GPU has them from the channels alone at real sizes).
const WGRAD_TARGET_INVOCATIONS: usize = 1024;
/// Partial-sum scratch of one `backward_weight` call stays below this (bytes) however many chunks it wants.
const MAX_SCRATCH_BYTES: usize = 32 << 20;
/// Pixels (of N·H·W) one `bias_grad` workgroup adds: 64 loop iterations per invocation.
const BIAS_PER_CHUNK: usize = 64 * REDUCE_WG as usize;

/// A pixel tile: `b` images × `r` rows × `w` columns, the pixels one invocation computes (or sums over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub b: u32,
    pub r: u32,
    pub w: u32,
}

impl Tile {
    /// The largest tile columns and rows the shaders unroll (see conv2d_common.wgsl).
    pub const MAX_W: u32 = 8;
    pub const MAX_ROWS: u32 = 8;

    /// A tile of about `pixels` (a power of two) shaped to an H×W image: as wide as the row (rounded up to
    /// a power of two), then as many rows as the image has, then several images, so small images waste
    /// few lanes.
    pub fn fit(h: usize, w: usize, pixels: u32) -> Tile {
        let tw = (w.next_power_of_two() as u32).min(pixels).min(Self::MAX_W);
        let rows = (pixels / tw).clamp(1, Self::MAX_ROWS);
        let tr = (h.next_power_of_two() as u32).min(rows);
        Tile { b: rows / tr, r: tr, w: tw }
    }

    /// The same tile within one image (more rows instead of more images). Mesa's OpenGL compiler takes
    /// seconds on multi-image tiles, and wgpu's GL backend gives up on a context held for 6 s, so the
    /// portable variants, which OpenGL runs, use these.
    pub fn one_image(self) -> Tile {
        Tile { b: 1, ..self }
    }

    fn check(self, op: &'static str) -> Result<()> {
        if self.b == 0 || self.r == 0 || self.w == 0 || self.w > Self::MAX_W || self.b * self.r > Self::MAX_ROWS {
            return Err(Error::shape(op, format!("unsupported tile {self:?}: needs 1 ≤ w ≤ {}, 1 ≤ b·r ≤ {}", Self::MAX_W, Self::MAX_ROWS)));
        }
        Ok(())
    }

    pub fn pixels(self) -> u32 {
        self.b * self.r * self.w
    }

    fn constants(self) -> [(&'static str, u32); 3] {
        [("TB", self.b), ("TR", self.r), ("TW", self.w)]
    }

    /// (tiles across a row, tiles per group of `b` images, tiles for `images` images).
    fn counts(self, d: &Dims, images: usize) -> (u32, u32, u32) {
        let tiles_w = d.w.div_ceil(self.w as usize);
        let tiles_img = d.h.div_ceil(self.r as usize) * tiles_w;
        (tiles_w as u32, tiles_img as u32, (images.div_ceil(self.b as usize) * tiles_img) as u32)
    }
}

/// A forward / data-gradient kernel variant: which shader, output channels per invocation, pixel tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    /// `conv2d_sg`: 8-wide subgroups sharing kernel taps (lavapipe).
    Subgroup { tm: u32, tile: Tile },
    /// `conv2d_reg`: portable register tiles (OpenGL, GPUs, anything without 8-wide subgroups).
    Register { tm: u32, tile: Tile },
    /// `conv2d_gemm`: implicit GEMM on (16·tm) channels × (16·tn) pixels staged in workgroup memory,
    /// `bkc` reduction channels per slice (hardware GPUs; never timed on CPU adapters).
    Gemm { tm: u32, tn: u32, bkc: u32 },
}

impl Algo {
    /// The variants worth timing for an image of H×W on this adapter, the heuristic favourite first.
    /// Measured on lavapipe (VGG shapes, batch 16): 16 channels × an 8-pixel tile shaped to the image beat
    /// taller tiles and 8 channels, except on 2×2 images, where 1-pixel-wide tiles of 4 images win.
    /// With few output channels (the data gradient of a 3-channel input layer) 4 channels and 16 pixels
    /// per lane run 4× faster than 16 channels, most of which would be padding.
    pub fn candidates(gpu: &Gpu, h: usize, w: usize, c_out: usize) -> Vec<Algo> {
        Algo::candidates_for(gpu.fixed_subgroup_size() == Some(8), gpu.info.device_type == wgpu::DeviceType::Cpu, h, w, c_out)
    }

    /// The candidates on an adapter with (or without) 8-wide subgroups that is (or is not) a CPU; without
    /// subgroups, only portable variants. Adapters that are not CPUs get the implicit-GEMM kernels first
    /// (128×64 first: it fits WebGPU's default 16 KiB of workgroup memory, so an untuned run can use it;
    /// 128×128 needs 18 KiB; 64×64 for layers with few pixels or channels), then the same list. (Slices
    /// of 2 channels, `bkc: 2`, are tested but not offered: 18 KiB and not measured to pay.)
    pub fn candidates_for(subgroup8: bool, cpu: bool, h: usize, w: usize, c_out: usize) -> Vec<Algo> {
        let mut v = if cpu { Vec::new() } else { vec![Algo::Gemm { tm: 8, tn: 4, bkc: 1 }, Algo::Gemm { tm: 8, tn: 8, bkc: 1 }, Algo::Gemm { tm: 4, tn: 4, bkc: 1 }] };
        v.extend(Algo::cpu_candidates(subgroup8, h, w, c_out));
        v
    }

    fn cpu_candidates(subgroup8: bool, h: usize, w: usize, c_out: usize) -> Vec<Algo> {
        let (t8, column) = (Tile::fit(h, w, 8), Tile::fit(h, 1, 8));
        if subgroup8 {
            if c_out <= 4 {
                return vec![Algo::Subgroup { tm: 4, tile: Tile::fit(h, w, 16) }, Algo::Subgroup { tm: 4, tile: t8 }];
            }
            let mut v = vec![Algo::Subgroup { tm: 16, tile: t8 }, Algo::Subgroup { tm: 8, tile: Tile::fit(h, w, 16) }];
            if column != t8 {
                v.push(Algo::Subgroup { tm: 16, tile: column });
            }
            return v;
        }
        let (t8, t16) = (t8.one_image(), Tile::fit(h, w, 16).one_image());
        vec![Algo::Register { tm: 8, tile: t8 }, Algo::Register { tm: 4, tile: t8 }, Algo::Register { tm: 8, tile: t16 }]
    }

    /// Every variant the tests must cover on this adapter: each kernel with tiles of every kind (wide,
    /// tall, several images, odd sizes) and channel blocks that do and do not divide the tests' channels.
    pub fn all(gpu: &Gpu) -> Vec<Algo> {
        Algo::all_for(gpu.fixed_subgroup_size() == Some(8))
    }

    pub fn all_for(subgroup8: bool) -> Vec<Algo> {
        let mut v = vec![Algo::Register { tm: 8, tile: Tile { b: 1, r: 1, w: 8 } }, Algo::Register { tm: 3, tile: Tile { b: 2, r: 1, w: 2 } }, Algo::Register { tm: 5, tile: Tile { b: 1, r: 3, w: 4 } }];
        if subgroup8 {
            v.extend([Algo::Subgroup { tm: 16, tile: Tile { b: 1, r: 1, w: 8 } }, Algo::Subgroup { tm: 5, tile: Tile { b: 1, r: 3, w: 4 } }, Algo::Subgroup { tm: 8, tile: Tile { b: 4, r: 1, w: 2 } }]);
        }
        v
    }

    fn def(self) -> &'static KernelDef {
        match self {
            Algo::Subgroup { .. } => &CONV_SG,
            Algo::Register { .. } => &CONV_REG,
            Algo::Gemm { .. } => &CONV_GEMM,
        }
    }

    fn parts(self) -> (u32, Tile) {
        match self {
            Algo::Subgroup { tm, tile } | Algo::Register { tm, tile } => (tm, tile),
            Algo::Gemm { .. } => unreachable!("conv2d_gemm has no pixel tile"),
        }
    }

    fn constants(self) -> Vec<(&'static str, u32)> {
        if let Algo::Gemm { tm, tn, bkc } = self {
            return vec![("TM", tm), ("TN", tn), ("BKC", bkc)];
        }
        let (tm, tile) = self.parts();
        let mut v = vec![("TM", tm)];
        v.extend(tile.constants());
        v
    }

    /// Workgroups for `tiles` pixel tiles × `c_out` output channels.
    fn grid(self, tiles: u32, c_out: u32) -> [u32; 3] {
        match self {
            Algo::Subgroup { tm, .. } => [tiles.div_ceil(8), c_out.div_ceil(tm), 1],
            Algo::Register { tm, .. } => [tiles.div_ceil(8), c_out.div_ceil(tm).div_ceil(8), 1],
            Algo::Gemm { tm, tn, .. } => [tiles.div_ceil(16 * tn), c_out.div_ceil(16 * tm), 1],
        }
    }
}

/// A weight-gradient kernel variant: TM output × TC input channels per invocation, and the pixel tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WgradAlgo {
    /// `conv2d_wgrad_sg`: the 8 lanes of a subgroup share output channels and tiles, and broadcast the
    /// gradients (lavapipe).
    Subgroup { tm: u32, tc: u32, tile: Tile },
    /// `conv2d_wgrad_reg`: portable.
    Register { tm: u32, tc: u32, tile: Tile },
    /// `conv2d_wgrad_gemm`: implicit GEMM on (16·tm) output channels × (16·tn) (input channel, tap)
    /// columns, split along the pixels (hardware GPUs; never timed on CPU adapters).
    Gemm { tm: u32, tn: u32 },
}

impl WgradAlgo {
    /// Measured on lavapipe (VGG shapes, batch 16): the image-shaped 8-pixel tile always won; 16 or 8
    /// output channels per lane depending on the shape. The portable variants keep one input channel
    /// per invocation: more multiply Mesa's OpenGL compile time (seconds at TC = 2 with 2-row tiles).
    pub fn candidates(gpu: &Gpu, h: usize, w: usize) -> Vec<WgradAlgo> {
        WgradAlgo::candidates_for(gpu.fixed_subgroup_size() == Some(8), gpu.info.device_type == wgpu::DeviceType::Cpu, h, w)
    }

    /// As `Algo::candidates_for`: the implicit-GEMM kernels first on adapters that are not CPUs.
    pub fn candidates_for(subgroup8: bool, cpu: bool, h: usize, w: usize) -> Vec<WgradAlgo> {
        let mut v = if cpu { Vec::new() } else { vec![WgradAlgo::Gemm { tm: 8, tn: 8 }, WgradAlgo::Gemm { tm: 4, tn: 4 }] };
        v.extend(WgradAlgo::cpu_candidates(subgroup8, h, w));
        v
    }

    fn cpu_candidates(subgroup8: bool, h: usize, w: usize) -> Vec<WgradAlgo> {
        let t8 = Tile::fit(h, w, 8);
        if subgroup8 {
            return vec![WgradAlgo::Subgroup { tm: 16, tc: 1, tile: t8 }, WgradAlgo::Subgroup { tm: 8, tc: 1, tile: t8 }];
        }
        let t8 = t8.one_image();
        vec![WgradAlgo::Register { tm: 8, tc: 1, tile: t8 }, WgradAlgo::Register { tm: 4, tc: 1, tile: t8 }]
    }

    /// Every kernel the tests must cover on this adapter, each with two tile shapes (the tuned test covers
    /// the candidates' shapes).
    pub fn all(gpu: &Gpu) -> Vec<WgradAlgo> {
        WgradAlgo::all_for(gpu.fixed_subgroup_size() == Some(8))
    }

    pub fn all_for(subgroup8: bool) -> Vec<WgradAlgo> {
        let mut v = vec![WgradAlgo::Register { tm: 4, tc: 2, tile: Tile { b: 1, r: 1, w: 8 } }, WgradAlgo::Register { tm: 2, tc: 1, tile: Tile { b: 2, r: 1, w: 3 } }];
        if subgroup8 {
            v.extend([WgradAlgo::Subgroup { tm: 3, tc: 4, tile: Tile { b: 3, r: 1, w: 4 } }, WgradAlgo::Subgroup { tm: 5, tc: 2, tile: Tile { b: 1, r: 3, w: 1 } }]);
        }
        v
    }

    fn parts(self) -> (u32, u32, Tile) {
        match self {
            WgradAlgo::Subgroup { tm, tc, tile } | WgradAlgo::Register { tm, tc, tile } => (tm, tc, tile),
            WgradAlgo::Gemm { .. } => unreachable!("conv2d_wgrad_gemm has no pixel tile"),
        }
    }

    fn def(self) -> &'static KernelDef {
        match self {
            WgradAlgo::Subgroup { .. } => &WEIGHT_GRAD_SG,
            WgradAlgo::Register { .. } => &WEIGHT_GRAD_REG,
            WgradAlgo::Gemm { .. } => &WEIGHT_GRAD_GEMM,
        }
    }

    fn constants(self) -> Vec<(&'static str, u32)> {
        if let WgradAlgo::Gemm { tm, tn } = self {
            return vec![("TM", tm), ("TN", tn)];
        }
        let (tm, tc, tile) = self.parts();
        let mut v = vec![("TM", tm), ("TC", tc)];
        v.extend(tile.constants());
        v
    }

    /// (input-channel blocks, workgroups along x) for the kernel's grid.
    fn c_grid(self, c_in: usize, c_out: usize) -> (usize, usize) {
        let (tm, tc, _) = self.parts();
        match self {
            WgradAlgo::Subgroup { .. } => {
                let c_blocks = c_in.div_ceil(8 * tc as usize);
                (c_blocks, c_blocks)
            }
            WgradAlgo::Register { .. } => {
                let c_blocks = c_in.div_ceil(tc as usize);
                (c_blocks, (c_blocks * c_out.div_ceil(tm as usize)).div_ceil(WGRAD_WG as usize))
            }
            WgradAlgo::Gemm { .. } => unreachable!("conv2d_wgrad_gemm plans its own grid"),
        }
    }
}

// ---- shape checks ----------------------------------------------------------------------------------

fn dims4(op: &'static str, name: &str, t: &Tensor) -> Result<[usize; 4]> {
    if t.dtype() != DType::F32 {
        return Err(Error::shape(op, format!("{name} must be f32")));
    }
    match *t.shape() {
        [a, b, c, d] if a * b * c * d > 0 => Ok([a, b, c, d]),
        [_, _, _, _] => Err(Error::shape(op, format!("{name} is empty: shape {:?}", t.shape()))),
        _ => Err(Error::shape(op, format!("{name} must be 4-D, got shape {:?}", t.shape()))),
    }
}

/// Checks an activation ([N, C, H, W]) / weight ([Cout, Cin, 3, 3]) / activation triple and returns the dims.
fn check(op: &'static str, (xn, x): (&str, &Tensor), (wn, w): (&str, &Tensor), (yn, y): (&str, &Tensor)) -> Result<Dims> {
    let [n, c_in, h, wd] = dims4(op, xn, x)?;
    let [c_out, c_in_w, kh, kw] = dims4(op, wn, w)?;
    let [yn_, yc, yh, yw] = dims4(op, yn, y)?;
    if (kh, kw) != (3, 3) {
        return Err(Error::shape(op, format!("{wn} must be [Cout, Cin, 3, 3], got {:?}", w.shape())));
    }
    if c_in_w != c_in {
        return Err(Error::shape(op, format!("{xn} {:?} has {c_in} channels but {wn} {:?} expects {c_in_w}", x.shape(), w.shape())));
    }
    if [yn_, yc, yh, yw] != [n, c_out, h, wd] {
        return Err(Error::shape(op, format!("{yn} is {:?}, expected [{n}, {c_out}, {h}, {wd}] ({xn} {:?}, {wn} {:?})", y.shape(), x.shape(), w.shape())));
    }
    Ok(Dims { n, c_in, c_out, h, w: wd })
}

// ---- splitting work to fit the adapter --------------------------------------------------------------

/// Splits `n` images into (first, count) groups whose slices of each tensor (`per_image` elements each)
/// fit one storage binding at an aligned offset, with at most `max_images` per group.
fn image_groups(gpu: &Gpu, op: &'static str, n: usize, per_image: &[usize], max_images: usize) -> Result<Vec<(usize, usize)>> {
    let max = gpu.limits.max_storage_buffer_binding_size as usize;
    let widest = per_image.iter().copied().max().unwrap_or(1) * 4;
    if n * widest <= max && n <= max_images {
        return Ok(vec![(0, n)]);
    }
    let align = gpu.limits.min_storage_buffer_offset_alignment as usize;
    let step = per_image.iter().map(|&e| align / gcd(align, e * 4)).fold(1, lcm);
    let count = (max / widest).min(max_images) / step * step;
    if count == 0 {
        return Err(Error::Limit { op, msg: format!("one aligned group of {step} image(s) of {widest} bytes is too large"), limit: format!("{max} bytes per storage binding") });
    }
    Ok((0..n).step_by(count).map(|i| (i, count.min(n - i))).collect())
}

/// Binds images [first, first + count) of `t` (`per_image` elements each), or all of it.
fn images_of(t: &Tensor, (first, count): (usize, usize), per_image: usize, whole: bool) -> Arg {
    if whole { Arg::from(t) } else { Arg::range(t, first * per_image, count * per_image) }
}

// ---- forward and data gradient ----------------------------------------------------------------------

/// One implicit-GEMM convolution: `out[n, m] = Σ_c K(m, c) ⊛ src[n, c]`, see conv2d_common.wgsl.
struct ConvJob<'t> {
    op: &'static str,
    src: &'t Tensor,
    wts: &'t Tensor,
    bias: Option<&'t Tensor>,
    dst: &'t Tensor,
    n: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    w_m: usize,
    w_c: usize,
    flags: u32,
}

impl ConvJob<'_> {
    fn key(&self) -> String {
        format!("{} {}x{}x{}x{}->{}", self.op, self.n, self.c_in, self.h, self.w, self.c_out)
    }

    /// conv2d_gemm's dispatches: one per group of images whose bindings fit.
    fn build_gemm(&self, gpu: &Gpu, algo: Algo) -> Result<Vec<Dispatch>> {
        let Algo::Gemm { tm, tn, bkc } = algo else { unreachable!("only conv2d_gemm") };
        check_gemm_block(gpu, self.op, &algo, tm, tn, 9 * bkc)?;
        if bkc == 0 || 9 * bkc * 16 * tm.max(tn) > 256 * 8 {
            return Err(Error::shape(self.op, format!("unsupported variant {algo:?}: needs 1 ≤ BKC, at most 8 gathers per invocation")));
        }
        let pipeline = gpu.pipeline(algo.def(), &algo.constants())?;
        let max_wg = gpu.limits.max_compute_workgroups_per_dimension as usize;
        if self.c_out.div_ceil(16 * tm as usize) > max_wg {
            return Err(Error::Limit { op: self.op, msg: format!("{} output channels", self.c_out), limit: format!("{max_wg} workgroups per dimension") });
        }
        let hw = self.h * self.w;
        let max_images = (max_wg * 16 * tn as usize / hw).max(1);
        let groups = image_groups(gpu, self.op, self.n, &[self.c_in * hw, self.c_out * hw], max_images)?;
        let whole = groups.len() == 1;
        let bias = self.bias.unwrap_or(self.wts);
        let mut out = Vec::new();
        for group in groups {
            let params = GemmParams { c_in: self.c_in as u32, c_out: self.c_out as u32, h: self.h as u32, w: self.w as u32, images: group.1 as u32, a: self.w_m as u32, b: self.w_c as u32, c: self.flags };
            let args = [images_of(self.src, group, self.c_in * hw, whole), Arg::from(self.wts), Arg::from(bias), images_of(self.dst, group, self.c_out * hw, whole)];
            out.push(gpu.dispatch(&pipeline, &params, &args, algo.grid((group.1 * hw) as u32, self.c_out as u32))?);
        }
        Ok(out)
    }

    fn build(&self, gpu: &Gpu, algo: Algo) -> Result<Vec<Dispatch>> {
        if let Algo::Gemm { .. } = algo {
            return self.build_gemm(gpu, algo);
        }
        let (tm, tile) = algo.parts();
        tile.check(self.op)?;
        if tm == 0 {
            return Err(Error::shape(self.op, "TM must be positive"));
        }
        let pipeline = gpu.pipeline(algo.def(), &algo.constants())?;
        let dims = Dims { n: self.n, c_in: self.c_in, c_out: self.c_out, h: self.h, w: self.w };
        if self.c_out.div_ceil(tm as usize) > gpu.limits.max_compute_workgroups_per_dimension as usize {
            return Err(Error::Limit { op: self.op, msg: format!("{} output channels", self.c_out), limit: "65535 workgroups per dimension".into() });
        }
        // Images per dispatch: bindings must fit, and the grid's tiles / 8 must fit one dimension.
        let (_, tiles_img, _) = tile.counts(&dims, 1);
        let max_images = (gpu.limits.max_compute_workgroups_per_dimension as usize * 8 / tiles_img as usize) * tile.b as usize;
        let hw = self.h * self.w;
        let groups = image_groups(gpu, self.op, self.n, &[self.c_in * hw, self.c_out * hw], max_images)?;
        let whole = groups.len() == 1;
        let bias = self.bias.unwrap_or(self.wts); // bound but never read when FLAG_BIAS is off
        let mut out = Vec::new();
        for group in groups {
            let (tiles_w, tiles_img, tiles) = tile.counts(&dims, group.1);
            let params = ConvParams {
                c_in: self.c_in as u32,
                c_out: self.c_out as u32,
                h: self.h as u32,
                w: self.w as u32,
                images: group.1 as u32,
                tiles_w,
                tiles_img,
                tiles,
                w_m: self.w_m as u32,
                w_c: self.w_c as u32,
                flags: self.flags,
                _pad: 0,
            };
            let args = [images_of(self.src, group, self.c_in * hw, whole), Arg::from(self.wts), Arg::from(bias), images_of(self.dst, group, self.c_out * hw, whole)];
            out.push(gpu.dispatch(&pipeline, &params, &args, algo.grid(tiles, self.c_out as u32))?);
        }
        Ok(out)
    }

    /// The fastest candidate on this adapter for this shape, timed on scratch tensors.
    fn tuned(&self, gpu: &Gpu) -> Algo {
        let candidates = Algo::candidates(gpu, self.h, self.w, self.c_out);
        let mut scratch = None;
        let i = gpu.tune(&format!("{}{}", self.key(), gpu_list_tag(gpu)), candidates.len(), |i| {
            let (src, wts, dst) = scratch.get_or_insert_with(|| (gpu.zeros(self.src.shape()), gpu.zeros(self.wts.shape()), gpu.zeros(self.dst.shape())));
            ConvJob { src, wts, bias: None, dst, flags: self.flags & FLAG_FLIP, ..*self }.build(gpu, candidates[i])
        });
        candidates[i]
    }

    fn record(&self, gpu: &Gpu, prog: &mut Program, algo: Option<Algo>) -> Result<()> {
        let algo = match algo {
            Some(a) => a,
            None => self.tuned(gpu),
        };
        for d in self.build(gpu, algo)? {
            prog.push(d);
        }
        Ok(())
    }
}

/// y = conv(x, w) (+ bias\[co\]) (then ReLU if `relu`). x [N, Cin, H, W], w [Cout, Cin, 3, 3], y [N, Cout, H, W].
pub fn forward(gpu: &Gpu, prog: &mut Program, x: &Tensor, w: &Tensor, bias: Option<&Tensor>, y: &Tensor, relu: bool) -> Result<()> {
    forward_with(gpu, prog, x, w, bias, y, relu, None)
}

/// `forward` with a chosen kernel variant instead of the tuned one (tests, benchmarks).
#[allow(clippy::too_many_arguments)]
pub fn forward_with(gpu: &Gpu, prog: &mut Program, x: &Tensor, w: &Tensor, bias: Option<&Tensor>, y: &Tensor, relu: bool, algo: Option<Algo>) -> Result<()> {
    const OP: &str = "conv2d forward";
    let d = check(OP, ("x", x), ("w", w), ("y", y))?;
    if let Some(b) = bias
        && (b.shape() != [d.c_out] || b.dtype() != DType::F32) {
        return Err(Error::shape(OP, format!("bias has shape {:?}, expected [{}] f32", b.shape(), d.c_out)));
    }
    distinct(OP, ("y", y), &[("x", x), ("w", w), ("bias", bias.unwrap_or(x))])?;
    let flags = if bias.is_some() { FLAG_BIAS } else { 0 } | if relu { FLAG_RELU } else { 0 };
    let job = ConvJob { op: OP, src: x, wts: w, bias, dst: y, n: d.n, c_in: d.c_in, c_out: d.c_out, h: d.h, w: d.w, w_m: d.c_in * 9, w_c: 9, flags };
    job.record(gpu, prog, algo)
}

/// dx = conv_transpose(dy, w): the gradient of `forward` with respect to x (overwritten).
/// dy [N, Cout, H, W], w [Cout, Cin, 3, 3], dx [N, Cin, H, W].
pub fn backward_data(gpu: &Gpu, prog: &mut Program, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<()> {
    backward_data_with(gpu, prog, dy, w, dx, None)
}

/// `backward_data` with a chosen kernel variant.
pub fn backward_data_with(gpu: &Gpu, prog: &mut Program, dy: &Tensor, w: &Tensor, dx: &Tensor, algo: Option<Algo>) -> Result<()> {
    const OP: &str = "conv2d backward_data";
    let d = check(OP, ("dx", dx), ("w", w), ("dy", dy))?;
    distinct(OP, ("dx", dx), &[("dy", dy), ("w", w)])?;
    // dx[n, c] = Σ_m K'(c, m) ⊛ dy[n, m] with K'(c, m, t) = w[m, c, 8 - t]: output channels are w's inputs.
    let job = ConvJob { op: OP, src: dy, wts: w, bias: None, dst: dx, n: d.n, c_in: d.c_out, c_out: d.c_in, h: d.h, w: d.w, w_m: 9, w_c: d.c_in * 9, flags: FLAG_FLIP };
    job.record(gpu, prog, algo)
}

// ---- weight and bias gradients ----------------------------------------------------------------------

/// dw = Σ_{n, pixels} dy ⊗ (3×3 patches of x): the gradient of `forward` with respect to w (overwritten).
/// x [N, Cin, H, W], dy [N, Cout, H, W], dw [Cout, Cin, 3, 3]. Long reductions use a scratch tensor
/// allocated here, at record time, and held by the recorded dispatches (see the module docs).
pub fn backward_weight(gpu: &Gpu, prog: &mut Program, x: &Tensor, dy: &Tensor, dw: &Tensor) -> Result<()> {
    backward_weight_with(gpu, prog, x, dy, dw, None)
}

/// `backward_weight` with a chosen kernel variant.
pub fn backward_weight_with(gpu: &Gpu, prog: &mut Program, x: &Tensor, dy: &Tensor, dw: &Tensor, algo: Option<WgradAlgo>) -> Result<()> {
    const OP: &str = "conv2d backward_weight";
    let d = check(OP, ("x", x), ("dw", dw), ("dy", dy))?;
    distinct(OP, ("dw", dw), &[("x", x), ("dy", dy)])?;
    let algo = match algo {
        Some(a) => a,
        None => {
            let candidates = WgradAlgo::candidates(gpu, d.h, d.w);
            let key = format!("{OP} {}x{}x{}x{}->{}{}", d.n, d.c_in, d.h, d.w, d.c_out, gpu_list_tag(gpu));
            let mut scratch = None;
            let i = gpu.tune(&key, candidates.len(), |i| {
                let (x, dy, dw) = scratch.get_or_insert_with(|| (gpu.zeros(x.shape()), gpu.zeros(dy.shape()), gpu.zeros(dw.shape())));
                weight_grad_dispatches(gpu, &d, x, dy, dw, candidates[i])
            });
            candidates[i]
        }
    };
    for disp in weight_grad_dispatches(gpu, &d, x, dy, dw, algo)? {
        prog.push(disp);
    }
    Ok(())
}

/// Pixels one conv2d_wgrad_gemm workgroup row sums at most: 512 slices of 8 (llvmpipe lets an invocation
/// loop 65,535 iterations in all; a GPU gets its parallelism from the split anyway).
const GEMM_MAX_PER_CHUNK: usize = 4096;
/// conv2d_wgrad_gemm splits the pixels until about this many workgroups run (an H100 has 132 SMs).
const GEMM_TARGET_WORKGROUPS: usize = 512;

/// conv2d_wgrad_gemm's dispatches: output blocks × chunks of pixels, partial sums in slots (split-K)
/// added by `sum_slots` when there is more than one.
fn weight_grad_gemm(gpu: &Gpu, d: &Dims, x: &Tensor, dy: &Tensor, dw: &Tensor, algo: WgradAlgo) -> Result<Vec<Dispatch>> {
    const OP: &str = "conv2d backward_weight";
    let WgradAlgo::Gemm { tm, tn } = algo else { unreachable!("only conv2d_wgrad_gemm") };
    check_gemm_block(gpu, OP, &algo, tm, tn, 8)?;
    let pipeline = gpu.pipeline(algo.def(), &algo.constants())?;
    let max_wg = gpu.limits.max_compute_workgroups_per_dimension as usize;
    let (gx, gy) = ((d.c_in * 9).div_ceil(16 * tn as usize), d.c_out.div_ceil(16 * tm as usize));
    if gx > max_wg || gy > max_wg {
        return Err(Error::Limit { op: OP, msg: format!("{gx} × {gy} output blocks"), limit: format!("{max_wg} workgroups per dimension") });
    }
    let hw = d.h * d.w;
    let slot_len = d.c_out * d.c_in * 9;
    let groups = image_groups(gpu, OP, d.n, &[d.c_in * hw, d.c_out * hw], usize::MAX)?;
    let whole = groups.len() == 1;
    let scratch_slots = (MAX_SCRATCH_BYTES.min(gpu.limits.max_storage_buffer_binding_size as usize) / (slot_len * 4)).max(1);
    let mut plan = Vec::new();
    let mut slots = 0;
    for &group in &groups {
        let pixels = group.1 * hw;
        let needed = pixels.div_ceil(GEMM_MAX_PER_CHUNK);
        let wanted = GEMM_TARGET_WORKGROUPS.div_ceil(gx * gy).min(scratch_slots / groups.len()).min(pixels.div_ceil(64));
        let per_chunk = pixels.div_ceil(needed.max(wanted).min(max_wg)).next_multiple_of(8);
        if per_chunk > GEMM_MAX_PER_CHUNK {
            return Err(Error::Limit { op: OP, msg: format!("{pixels} pixels per image group"), limit: format!("{max_wg} workgroups per dimension") });
        }
        let chunks = pixels.div_ceil(per_chunk);
        plan.push((group, per_chunk, chunks, slots));
        slots += chunks;
    }
    let scratch = partial_sums(gpu, OP, slots, slot_len)?;
    let target = scratch.as_ref().unwrap_or(dw);
    let mut out = Vec::new();
    for (group, per_chunk, chunks, slot0) in plan {
        let params = GemmParams { c_in: d.c_in as u32, c_out: d.c_out as u32, h: d.h as u32, w: d.w as u32, images: group.1 as u32, a: per_chunk as u32, b: slot0 as u32, c: 0 };
        let args = [images_of(x, group, d.c_in * hw, whole), images_of(dy, group, d.c_out * hw, whole), Arg::from(target)];
        out.push(gpu.dispatch(&pipeline, &params, &args, [gx as u32, gy as u32, chunks as u32])?);
    }
    if let Some(scratch) = &scratch {
        out.push(sum_slots(gpu, scratch, dw, slot_len, slots)?);
    }
    Ok(out)
}

/// The scratch of a split weight gradient: `slots` partial sums of `slot_len` elements each, which
/// `sum_slots` adds into dw; none when there is one slot (the kernel then writes dw itself).
fn partial_sums(gpu: &Gpu, op: &'static str, slots: usize, slot_len: usize) -> Result<Option<Tensor>> {
    if slots * slot_len * 4 > gpu.limits.max_storage_buffer_binding_size as usize {
        return Err(Error::Limit { op, msg: format!("{slots} partial-sum slots of {slot_len} elements"), limit: "storage binding size".into() });
    }
    Ok((slots > 1).then(|| gpu.empty(&[slots, slot_len], DType::F32)))
}

fn weight_grad_dispatches(gpu: &Gpu, d: &Dims, x: &Tensor, dy: &Tensor, dw: &Tensor, algo: WgradAlgo) -> Result<Vec<Dispatch>> {
    const OP: &str = "conv2d backward_weight";
    if let WgradAlgo::Gemm { .. } = algo {
        return weight_grad_gemm(gpu, d, x, dy, dw, algo);
    }
    let max_wg = gpu.limits.max_compute_workgroups_per_dimension as usize;
    let (tm, tc, tile) = algo.parts();
    tile.check(OP)?;
    if tm == 0 || !(1..=4).contains(&tc) {
        return Err(Error::shape(OP, format!("unsupported variant {algo:?}: needs TM ≥ 1 and 1 ≤ TC ≤ 4")));
    }
    let pipeline = gpu.pipeline(algo.def(), &algo.constants())?;
    let m_blocks = d.c_out.div_ceil(tm as usize);
    let (c_blocks, groups_x) = algo.c_grid(d.c_in, d.c_out);
    // Invocations that hold distinct outputs (a subgroup's lanes past Cin do not count).
    let invocations = d.c_in.div_ceil(tc as usize) * m_blocks;
    if groups_x > max_wg || m_blocks > max_wg {
        return Err(Error::Limit { op: OP, msg: format!("{} × {} channel blocks", c_blocks, m_blocks), limit: format!("{max_wg} workgroups per dimension") });
    }
    let hw = d.h * d.w;
    let slot_len = d.c_out * d.c_in * 9;
    let groups = image_groups(gpu, OP, d.n, &[d.c_in * hw, d.c_out * hw], usize::MAX)?;
    let whole = groups.len() == 1;
    // Chunks per image group: enough that no invocation loops over more than MAX_TILES_PER_CHUNK tiles,
    // more (for parallelism) while the scratch stays small; every chunk gets at least one tile.
    let scratch_slots = (MAX_SCRATCH_BYTES.min(gpu.limits.max_storage_buffer_binding_size as usize) / (slot_len * 4)).max(1);
    let mut plan = Vec::new();
    let mut slots = 0;
    for &group in &groups {
        let (tiles_w, tiles_img, tiles) = tile.counts(d, group.1);
        let tiles = tiles as usize;
        let needed = tiles.div_ceil(MAX_TILES_PER_CHUNK);
        let wanted = WGRAD_TARGET_INVOCATIONS.div_ceil(invocations).min(scratch_slots / groups.len());
        let per_chunk = tiles.div_ceil(needed.max(wanted).min(tiles).min(max_wg));
        let chunks = tiles.div_ceil(per_chunk);
        if per_chunk > MAX_TILES_PER_CHUNK {
            return Err(Error::Limit { op: OP, msg: format!("{tiles} pixel tiles per image group"), limit: format!("{max_wg} workgroups per dimension") });
        }
        plan.push((group, tiles_w, tiles_img, tiles, per_chunk, chunks, slots));
        slots += chunks;
    }
    if slots > max_wg {
        return Err(Error::Limit { op: OP, msg: format!("{slots} partial-sum slots"), limit: format!("{max_wg} workgroups per dimension") });
    }
    let scratch = partial_sums(gpu, OP, slots, slot_len)?;
    let target = scratch.as_ref().unwrap_or(dw);
    let mut out = Vec::new();
    for (group, tiles_w, tiles_img, tiles, per_chunk, chunks, slot0) in plan {
        let params = WgradParams {
            c_in: d.c_in as u32,
            c_out: d.c_out as u32,
            h: d.h as u32,
            w: d.w as u32,
            images: group.1 as u32,
            tiles_w,
            tiles_img,
            tiles: tiles as u32,
            tiles_per_chunk: per_chunk as u32,
            c_blocks: c_blocks as u32,
            m_blocks: m_blocks as u32,
            slot0: slot0 as u32,
        };
        let args = [images_of(x, group, d.c_in * hw, whole), images_of(dy, group, d.c_out * hw, whole), Arg::from(target)];
        let grid = match algo {
            WgradAlgo::Subgroup { .. } => [groups_x as u32, m_blocks as u32, chunks as u32],
            WgradAlgo::Register { .. } => [groups_x as u32, chunks as u32, 1],
            WgradAlgo::Gemm { .. } => unreachable!("conv2d_wgrad_gemm has its own dispatches"),
        };
        out.push(gpu.dispatch(&pipeline, &params, &args, grid)?);
    }
    if let Some(scratch) = &scratch {
        out.push(sum_slots(gpu, scratch, dw, slot_len, slots)?);
    }
    Ok(out)
}

/// dst[i] = Σ_s src[s·len + i] for `slots` slots of `len` elements.
fn sum_slots(gpu: &Gpu, src: &Tensor, dst: &Tensor, len: usize, slots: usize) -> Result<Dispatch> {
    let pipeline = gpu.pipeline(&SUM_SLOTS, &[])?;
    let params = ReduceParams { dim: len as u32, hw: 0, images: 0, per_chunk: 0, chunks: slots as u32, slot0: 0, _pad: [0; 2] };
    gpu.dispatch(&pipeline, &params, &[Arg::from(src), Arg::from(dst)], gpu.grid_1d((len as u32).div_ceil(REDUCE_WG)))
}

/// db\[c\] = Σ_{n, pixels} dy[n, c, ·, ·] (overwritten). dy [N, Cout, H, W], db \[Cout\].
/// More than BIAS_PER_CHUNK pixels per channel go through a partial-sum scratch allocated here, at record time.
pub fn backward_bias(gpu: &Gpu, prog: &mut Program, dy: &Tensor, db: &Tensor) -> Result<()> {
    const OP: &str = "conv2d backward_bias";
    let [n, c_out, h, w] = dims4(OP, "dy", dy)?;
    if db.shape() != [c_out] || db.dtype() != DType::F32 {
        return Err(Error::shape(OP, format!("db has shape {:?}, expected [{c_out}] f32 (dy {:?})", db.shape(), dy.shape())));
    }
    distinct(OP, ("db", db), &[("dy", dy)])?;
    let hw = h * w;
    let groups = image_groups(gpu, OP, n, &[c_out * hw], usize::MAX)?;
    let whole = groups.len() == 1;
    let chunks: Vec<usize> = groups.iter().map(|&(_, count)| (count * hw).div_ceil(BIAS_PER_CHUNK)).collect();
    let slots: usize = chunks.iter().sum();
    let max_wg = gpu.limits.max_compute_workgroups_per_dimension as usize;
    if slots > max_wg || c_out * chunks.iter().max().unwrap_or(&1) > max_wg * max_wg {
        return Err(Error::Limit { op: OP, msg: format!("{slots} chunks of {BIAS_PER_CHUNK} pixels"), limit: format!("{max_wg} workgroups per dimension") });
    }
    let scratch = if slots > 1 { Some(gpu.empty(&[slots, c_out], DType::F32)) } else { None };
    let target = scratch.as_ref().unwrap_or(db);
    let pipeline = gpu.pipeline(&BIAS_GRAD, &[])?;
    let mut slot0 = 0;
    for (&group, &chunks) in groups.iter().zip(&chunks) {
        let params = ReduceParams { dim: c_out as u32, hw: hw as u32, images: group.1 as u32, per_chunk: BIAS_PER_CHUNK as u32, chunks: chunks as u32, slot0: slot0 as u32, _pad: [0; 2] };
        let args = [images_of(dy, group, c_out * hw, whole), Arg::from(target)];
        prog.push(gpu.dispatch(&pipeline, &params, &args, gpu.grid_1d((c_out * chunks) as u32))?);
        slot0 += chunks;
    }
    if let Some(scratch) = &scratch {
        prog.push(sum_slots(gpu, scratch, db, c_out, slots)?);
    }
    Ok(())
}

/// CPU references (f64), written as the definitions read, for tests.
pub mod cpu {
    /// The sizes of one convolution: x [n, c_in, h, w], w [c_out, c_in, 3, 3], y [n, c_out, h, w].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Dims {
        pub n: usize,
        pub c_in: usize,
        pub c_out: usize,
        pub h: usize,
        pub w: usize,
    }

    impl Dims {
        pub fn x_shape(&self) -> [usize; 4] {
            [self.n, self.c_in, self.h, self.w]
        }
        pub fn y_shape(&self) -> [usize; 4] {
            [self.n, self.c_out, self.h, self.w]
        }
        pub fn w_shape(&self) -> [usize; 4] {
            [self.c_out, self.c_in, 3, 3]
        }
        /// Multiply-adds × 2 of one pass (forward, data gradient or weight gradient alike).
        pub fn flops(&self) -> f64 {
            2.0 * (self.n * self.c_out * self.c_in * 9 * self.h * self.w) as f64
        }

        /// Calls `f(n, co, ci, h, w, t, (hi, wi))` for every tap whose input pixel (hi, wi) is inside the image.
        fn each_tap(&self, mut f: impl FnMut(usize, usize, usize, usize, usize, usize, usize, usize)) {
            for n in 0..self.n {
                for co in 0..self.c_out {
                    for ci in 0..self.c_in {
                        for h in 0..self.h {
                            for w in 0..self.w {
                                for t in 0..9 {
                                    let (hi, wi) = ((h + t / 3) as isize - 1, (w + t % 3) as isize - 1);
                                    if hi >= 0 && wi >= 0 && (hi as usize) < self.h && (wi as usize) < self.w {
                                        f(n, co, ci, h, w, t, hi as usize, wi as usize);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        fn x_at(&self, n: usize, c: usize, h: usize, w: usize) -> usize {
            ((n * self.c_in + c) * self.h + h) * self.w + w
        }
        fn y_at(&self, n: usize, c: usize, h: usize, w: usize) -> usize {
            ((n * self.c_out + c) * self.h + h) * self.w + w
        }
    }

    /// y[n, co, h, w] = Σ_{ci, kh, kw} w[co, ci, kh, kw] · x[n, ci, h + kh - 1, w + kw - 1] (+ bias\[co\]) (ReLU).
    pub fn forward(d: &Dims, x: &[f64], w: &[f64], bias: Option<&[f64]>, relu: bool) -> Vec<f64> {
        let mut y = vec![0.0; d.n * d.c_out * d.h * d.w];
        d.each_tap(|n, co, ci, h, ww, t, hi, wi| y[d.y_at(n, co, h, ww)] += w[(co * d.c_in + ci) * 9 + t] * x[d.x_at(n, ci, hi, wi)]);
        for (i, v) in y.iter_mut().enumerate() {
            if let Some(b) = bias {
                *v += b[(i / (d.h * d.w)) % d.c_out];
            }
            if relu {
                *v = v.max(0.0);
            }
        }
        y
    }

    /// dx[n, ci, hi, wi] = Σ over the taps that read x[n, ci, hi, wi] of w[co, ci, t] · dy[n, co, h, w].
    pub fn backward_data(d: &Dims, dy: &[f64], w: &[f64]) -> Vec<f64> {
        let mut dx = vec![0.0; d.n * d.c_in * d.h * d.w];
        d.each_tap(|n, co, ci, h, ww, t, hi, wi| dx[d.x_at(n, ci, hi, wi)] += w[(co * d.c_in + ci) * 9 + t] * dy[d.y_at(n, co, h, ww)]);
        dx
    }

    /// dw[co, ci, t] = Σ_{n, h, w} dy[n, co, h, w] · x[n, ci, h + kh - 1, w + kw - 1].
    pub fn backward_weight(d: &Dims, x: &[f64], dy: &[f64]) -> Vec<f64> {
        let mut dw = vec![0.0; d.c_out * d.c_in * 9];
        d.each_tap(|n, co, ci, h, ww, t, hi, wi| dw[(co * d.c_in + ci) * 9 + t] += dy[d.y_at(n, co, h, ww)] * x[d.x_at(n, ci, hi, wi)]);
        dw
    }

    /// db\[co\] = Σ_{n, h, w} dy[n, co, h, w].
    pub fn backward_bias(d: &Dims, dy: &[f64]) -> Vec<f64> {
        let mut db = vec![0.0; d.c_out];
        for (i, v) in dy.iter().enumerate() {
            db[(i / (d.h * d.w)) % d.c_out] += v;
        }
        db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_are_offered_the_implicit_gemm_kernels_first_and_cpu_adapters_keep_their_lists() {
        for (h, w, c_out) in [(32, 32, 64), (2, 2, 512), (32, 32, 3)] {
            for sg in [false, true] {
                let v = Algo::candidates_for(sg, false, h, w, c_out);
                assert!(matches!(v[0], Algo::Gemm { tm: 8, .. }) && v.contains(&Algo::Gemm { tm: 8, tn: 8, bkc: 1 }) && v.contains(&Algo::Gemm { tm: 4, tn: 4, bkc: 1 }), "{v:?}");
                assert_eq!(v[3..], Algo::cpu_candidates(sg, h, w, c_out)[..]);
                let v = WgradAlgo::candidates_for(sg, false, h, w);
                assert_eq!(v[0], WgradAlgo::Gemm { tm: 8, tn: 8 });
            }
            // lavapipe (8-wide subgroups) and llvmpipe through GL (none): no GEMM kernel, today's first choice.
            let lavapipe = Algo::candidates_for(true, true, h, w, c_out);
            assert!(matches!(lavapipe[0], Algo::Subgroup { .. }) && !lavapipe.iter().any(|a| matches!(a, Algo::Gemm { .. })), "{lavapipe:?}");
            let gl = Algo::candidates_for(false, true, h, w, c_out);
            assert!(matches!(gl[0], Algo::Register { tm: 8, .. }) && !gl.iter().any(|a| matches!(a, Algo::Gemm { .. })), "{gl:?}");
            for sg in [true, false] {
                let v = WgradAlgo::candidates_for(sg, true, h, w);
                assert!(!v.is_empty() && !v.iter().any(|a| matches!(a, WgradAlgo::Gemm { .. })), "{v:?}");
            }
        }
        // The first GEMM candidates fit WebGPU's default 16 KiB of workgroup memory; the 128×128 forward
        // block needs 18 KiB (desktop GPUs have 32 KiB or more; the tuner skips it where it does not fit).
        assert!(gemm_workgroup_bytes(8, 4, 9) <= 16384 && gemm_workgroup_bytes(4, 4, 9) <= 16384 && gemm_workgroup_bytes(8, 8, 8) <= 16384);
    }
}
