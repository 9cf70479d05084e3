//! Matrix multiplication in the three forms training needs (A·B, Aᵀ·B, A·Bᵀ) with a fused epilogue
//! (accumulate, bias, ReLU, ReLU-backward mask), its kernel variants, and the CPU reference.
//! Shaders: `shaders/matmul_common.wgsl` + one of `matmul_sg4` / `matmul_sg` / `matmul_reg` / `matmul_tiled` /
//! `matmul_vec` / `matmul_gpu`; `shaders/matmul_panels.wgsl` copies B into the column panels `Algo::Subgroup4Panels` reads.
//! Tests: `tests/kernels/matmul.rs`.
//!
//! Which variant runs is measured per adapter and per problem shape (`Gpu::tune`): subgroup kernels
//! on lavapipe, register-blocked kernels on other CPU adapters, workgroup-memory tiles on GPUs
//! (`matmul_gpu` first, see docs/gpu.md).

use bytemuck::{Pod, Zeroable};

use super::check::{gcd, lcm};
use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, DType, Dispatch, Gpu, KernelDef, Program, Shader, Tensor, Variant};

macro_rules! matmul_shader {
    ($name:literal, $subgroups:expr) => {
        Shader {
            name: $name,
            source: concat!(include_str!("../../shaders/matmul_common.wgsl"), include_str!(concat!("../../shaders/", $name, ".wgsl"))),
            subgroups: $subgroups,
        }
    };
}

pub static SHADER_SG4: Shader = matmul_shader!("matmul_sg4", true);
pub static SHADER_SG: Shader = matmul_shader!("matmul_sg", true);
pub static SHADER_REG: Shader = matmul_shader!("matmul_reg", false);
pub static SHADER_TILED: Shader = matmul_shader!("matmul_tiled", false);
pub static SHADER_VEC: Shader = matmul_shader!("matmul_vec", false);
pub static SHADER_GPU: Shader = Shader { name: "matmul_gpu", source: wgsl!("matmul_common", "gemm_block", "matmul_gpu"), subgroups: false };

const BINDINGS: &[Access] = &[Access::Uniform, Access::Read, Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite];
/// matmul_sg4 also reads A as vec4s through a second binding of the same buffer.
const BINDINGS_SG4: &[Access] = &[Access::Uniform, Access::Read, Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::Read];
pub static MATMUL_SG4: KernelDef = KernelDef { shader: &SHADER_SG4, entry: "matmul", bindings: BINDINGS_SG4 };
pub static MATMUL_SG: KernelDef = KernelDef { shader: &SHADER_SG, entry: "matmul", bindings: BINDINGS };
pub static MATMUL_REG: KernelDef = KernelDef { shader: &SHADER_REG, entry: "matmul", bindings: BINDINGS };
pub static MATMUL_TILED: KernelDef = KernelDef { shader: &SHADER_TILED, entry: "matmul", bindings: BINDINGS };
pub static MATMUL_VEC: KernelDef = KernelDef { shader: &SHADER_VEC, entry: "matmul", bindings: BINDINGS };
/// matmul_gpu also reads A as vec4s, through binding 7 as matmul_sg4 does.
pub static MATMUL_GPU: KernelDef = KernelDef { shader: &SHADER_GPU, entry: "matmul", bindings: BINDINGS_SG4 };
pub static SHADER_PANELS: Shader = Shader { name: "matmul_panels", source: wgsl!("grid", "matmul_panels"), subgroups: false };
pub static PACK_PANELS: KernelDef = KernelDef { shader: &SHADER_PANELS, entry: "pack_panels", bindings: &[Access::Uniform, Access::Read, Access::ReadWrite] };
pub static KERNELS: &[&KernelDef] = &[&MATMUL_SG4, &MATMUL_SG, &MATMUL_REG, &MATMUL_TILED, &MATMUL_VEC, &MATMUL_GPU, &PACK_PANELS];

/// Mirrors `Params` in matmul_common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
    a_si: u32,
    a_sk: u32,
    b_sk: u32,
    b_sj: u32,
}

const FLAG_ACCUMULATE: u32 = 1;
const FLAG_BIAS: u32 = 2;
const FLAG_RELU: u32 = 4;
const FLAG_MASK: u32 = 8;
const B_SCALAR: u32 = 0;
const B_VEC4_ALONG_J: u32 = 1;
const B_VEC4_ALONG_K: u32 = 2; // matmul_sg4 only
const B_PANELS: u32 = 3; // matmul_sg4 only: B copied into column panels first (matmul_panels.wgsl)
const A_VEC4_ALONG_K: u32 = 1; // matmul_sg4's A_MODE
const A_VEC4_ALONG_I: u32 = 2;
/// Multiply-adds from which the largest register blocks are worth their compile time (1024×1024×512).
const LARGE_MACS: usize = 1 << 29;

/// Whether A and B can be read in quads along the dimension matmul_sg4 reads them: A along k (K % 4 == 0)
/// or, transposed, along i (M % 4 == 0); B along j (N % 4 == 0) or, transposed, along k (K % 4 == 0).
fn quads_fit(trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize) -> bool {
    a_quads_fit(trans_a, m, k) && (if trans_b { k } else { n }).is_multiple_of(4)
}

fn a_quads_fit(trans_a: bool, m: usize, k: usize) -> bool {
    (if trans_a { m } else { k }).is_multiple_of(4)
}

/// A kernel variant: which shader, and its register-block size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    /// `matmul_sg4`: 8-wide subgroups, both operands read as vec4s (lavapipe). Only for shapes where
    /// they can be: see `Algo::fits`. TM a multiple of 4 up to 48, TN a multiple of 4.
    Subgroup4 { tm: u32, tn: u32 },
    /// `matmul_sg4` reading B from a copy in column panels of 8·TN (`matmul_panels.wgsl`, one more
    /// dispatch), so that a block's strip of B is contiguous: on lavapipe at 2048³ reading B in place cost
    /// ~25% (pages and prefetch). Any B; A as for `Subgroup4`.
    Subgroup4Panels { tm: u32, tn: u32 },
    /// `matmul_sg`: 8-wide subgroups (lavapipe). TM rows × TN columns per lane.
    Subgroup { tm: u32, tn: u32 },
    /// `matmul_reg`: register blocks, no subgroups, no workgroup memory (other CPU adapters, GL).
    Register { tm: u32, tn: u32 },
    /// `matmul_tiled`: workgroup-memory tiles of 16·TM × 16·TN (hardware GPUs).
    Tiled { tm: u32, tn: u32 },
    /// `matmul_vec`: 8×8 per invocation in mat4x4 accumulators, no local arrays (OpenGL, WebGPU).
    Vec8,
    /// `matmul_gpu`: blocks of 16·TM × 16·TN (TM, TN ∈ {4, 8}) staged through double-buffered workgroup
    /// memory in slices of BK (a multiple of 4 with TM·BK and TN·BK multiples of 16), vec4 loads where the
    /// layout allows (hardware GPUs; never timed on CPU adapters).
    GpuTile { tm: u32, tn: u32, bk: u32 },
}

/// The `matmul_gpu` variants offered on GPUs, the heuristic favourite first: 128×128 blocks for large
/// products, 128×64 and 64×64 where a product has too few blocks of 128×128 to fill the GPU.
const GPU_TILES: [Algo; 3] = [Algo::GpuTile { tm: 8, tn: 8, bk: 8 }, Algo::GpuTile { tm: 8, tn: 4, bk: 8 }, Algo::GpuTile { tm: 4, tn: 4, bk: 16 }];

impl Algo {
    /// The variants worth timing on this adapter, the heuristic favourite first.
    pub fn candidates(gpu: &Gpu) -> Vec<Algo> {
        Algo::candidates_for(gpu.fixed_subgroup_size() == Some(8), gpu.info.device_type == wgpu::DeviceType::Cpu)
    }

    /// The candidates on an adapter with (or without) 8-wide subgroups that is (or is not) a CPU. Without
    /// subgroups (WebGPU, most GPUs' default, OpenGL) only portable variants are listed.
    pub fn candidates_for(subgroup8: bool, cpu: bool) -> Vec<Algo> {
        let mut v = Vec::new();
        if !cpu {
            v.extend(GPU_TILES);
        }
        if subgroup8 {
            v.extend([Algo::Subgroup4 { tm: 16, tn: 8 }, Algo::Subgroup4 { tm: 32, tn: 8 }, Algo::Subgroup4 { tm: 8, tn: 8 }]);
            v.extend([Algo::Subgroup { tm: 24, tn: 8 }, Algo::Subgroup { tm: 16, tn: 8 }, Algo::Subgroup { tm: 8, tn: 8 }, Algo::Subgroup { tm: 32, tn: 4 }]);
        }
        if subgroup8 && cpu {
            // B in panels: at 2048³ 16×8 won with AVX-512 (Xeon, Mesa 22.3: 35.7-38.2 GFLOP/s against
            // 31.1-33.8 for 32×8) and 32×8 without it (Mesa 25: 23.5-26.3 against 17.6-19.7), so both.
            v.extend([Algo::Subgroup4Panels { tm: 16, tn: 8 }, Algo::Subgroup4Panels { tm: 32, tn: 8 }]);
            // lavapipe: at every shape of Task 1 (batches 20, 200 and 1000) the tuner picked a subgroup
            // kernel, and timing the portable ones cost a tuned process ~7 s of compiling per form.
            return v;
        }
        if cpu && cfg!(target_arch = "wasm32") {
            v.extend([Algo::Vec8, Algo::Register { tm: 16, tn: 8 }, Algo::Register { tm: 8, tn: 8 }]);
        } else if cpu {
            v.extend([Algo::Register { tm: 16, tn: 8 }, Algo::Vec8, Algo::Register { tm: 8, tn: 8 }]);
        } else {
            v.extend([Algo::Tiled { tm: 4, tn: 4 }, Algo::Tiled { tm: 8, tn: 4 }, Algo::Register { tm: 4, tn: 4 }]);
        }
        v
    }

    /// Every variant the tests must cover on this adapter.
    pub fn all(gpu: &Gpu) -> Vec<Algo> {
        Algo::all_for(gpu.fixed_subgroup_size() == Some(8))
    }

    pub fn all_for(subgroup8: bool) -> Vec<Algo> {
        let mut v = vec![Algo::Register { tm: 16, tn: 8 }, Algo::Register { tm: 1, tn: 4 }, Algo::Tiled { tm: 4, tn: 4 }, Algo::Tiled { tm: 2, tn: 3 }, Algo::Vec8];
        if subgroup8 {
            v.extend([Algo::Subgroup { tm: 24, tn: 8 }, Algo::Subgroup { tm: 1, tn: 4 }, Algo::Subgroup { tm: 8, tn: 8 }]);
            v.extend([Algo::Subgroup4 { tm: 32, tn: 8 }, Algo::Subgroup4 { tm: 4, tn: 4 }, Algo::Subgroup4Panels { tm: 8, tn: 4 }]);
        }
        v
    }

    /// Whether this variant can compute this form and shape: matmul_sg4 reads A along k (needs K % 4 == 0)
    /// or, transposed, along i (M % 4 == 0), and B along j (N % 4 == 0) or, transposed, along k (K % 4 == 0).
    /// Every other variant takes any shape.
    pub fn fits(self, trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize) -> bool {
        match self {
            Algo::Subgroup4 { .. } => quads_fit(trans_a, trans_b, m, n, k),
            Algo::Subgroup4Panels { .. } => a_quads_fit(trans_a, m, k),
            _ => true,
        }
    }

    /// Whether timing this candidate can pay at this shape, on top of `fits`. Cold, lavapipe compiles
    /// matmul_sg4 32×8 in ~22 s and matmul_sg 24×8 in ~13 s per form (Xeon, Mesa 22.3), and a tuned
    /// process compiles every candidate it times: blocks of more than 128 accumulators are offered only
    /// where they were measured to win (1024³ and up), and matmul_sg only where matmul_sg4 cannot
    /// compute (at the shapes of Task 1 the tuner picked matmul_sg4 wherever it fits). Copying B into
    /// panels pays only on large problems too.
    pub fn worth_timing(self, trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize) -> bool {
        let large = m * n * k >= LARGE_MACS;
        let sg4_fits = quads_fit(trans_a, trans_b, m, n, k);
        match self {
            Algo::Subgroup4 { tm, tn } => sg4_fits && (tm * tn <= 128 || large),
            Algo::Subgroup { tm, tn } => !sg4_fits && (tm * tn <= 128 || large),
            Algo::Subgroup4Panels { .. } => large && a_quads_fit(trans_a, m, k),
            _ => true,
        }
    }

    fn def(self) -> &'static KernelDef {
        match self {
            Algo::Subgroup4 { .. } | Algo::Subgroup4Panels { .. } => &MATMUL_SG4,
            Algo::Subgroup { .. } => &MATMUL_SG,
            Algo::Register { .. } => &MATMUL_REG,
            Algo::Tiled { .. } => &MATMUL_TILED,
            Algo::Vec8 => &MATMUL_VEC,
            Algo::GpuTile { .. } => &MATMUL_GPU,
        }
    }

    /// Whether this variant can read B as vec4 (it needs TN to be a multiple of 4).
    fn vec4_capable(self) -> bool {
        match self {
            Algo::Subgroup { tn, .. } | Algo::Register { tn, .. } => tn % 4 == 0,
            Algo::Vec8 | Algo::Subgroup4 { .. } | Algo::Subgroup4Panels { .. } => true,
            Algo::Tiled { .. } | Algo::GpuTile { .. } => false,
        }
    }

    /// The specialization constants; `a_mode` matters only to matmul_sg4.
    fn constants(self, a_mode: u32, b_mode: u32) -> Vec<(&'static str, u32)> {
        match self {
            Algo::Subgroup4 { tm, tn } | Algo::Subgroup4Panels { tm, tn } => vec![("TM", tm), ("TN", tn), ("A_MODE", a_mode), ("B_MODE", b_mode)],
            Algo::Subgroup { tm, tn } | Algo::Register { tm, tn } => vec![("TM", tm), ("TN", tn), ("B_MODE", b_mode)],
            Algo::Tiled { tm, tn } => vec![("TM", tm), ("TN", tn)],
            Algo::Vec8 => vec![("B_MODE", b_mode)],
            Algo::GpuTile { .. } => unreachable!("matmul_gpu takes its modes from gpu_constants"),
        }
    }

    /// matmul_gpu's specialization for a form: which way each operand's quads run, and whether they are
    /// read as vec4s (`a4`, `b4`).
    fn gpu_constants(self, trans_a: bool, trans_b: bool, a4: bool, b4: bool) -> Vec<(&'static str, u32)> {
        let Algo::GpuTile { tm, tn, bk } = self else { unreachable!("only matmul_gpu") };
        vec![("TM", tm), ("TN", tn), ("BK", bk), ("A_T", trans_a as u32), ("A4", a4 as u32), ("B_T", trans_b as u32), ("B4", b4 as u32)]
    }

    /// Bytes of workgroup memory a matmul_gpu variant needs (both halves of the double buffer).
    fn workgroup_bytes(self) -> u32 {
        match self {
            Algo::GpuTile { tm, tn, bk } => 2 * bk * 16 * (tm + tn) * 4,
            _ => 0,
        }
    }

    /// Every (kernel, specialization) the matmul wrapper can compile on any adapter: each candidate and
    /// test variant, in both ways of reading B where the variant can read it as vec4. The shader
    /// translation test (`tests/translate.rs`) compiles each of these for every backend.
    pub fn every_variant() -> Vec<(&'static KernelDef, Variant)> {
        let mut algos: Vec<Algo> = [true, false].into_iter().flat_map(|sg| [true, false].into_iter().flat_map(move |cpu| Algo::candidates_for(sg, cpu))).collect();
        algos.extend(Algo::all_for(true));
        let mut out: Vec<(&'static KernelDef, Variant)> = Vec::new();
        for algo in algos {
            if let Algo::GpuTile { .. } = algo {
                for (ta, tb) in [(false, false), (true, false), (false, true)] {
                    for (a4, b4) in [(false, false), (true, false), (false, true), (true, true)] {
                        let entry = (algo.def(), algo.gpu_constants(ta, tb, a4, b4));
                        if !out.iter().any(|(d, v)| std::ptr::eq(*d, entry.0) && *v == entry.1) {
                            out.push(entry);
                        }
                    }
                }
                continue;
            }
            let modes: &[(u32, u32)] = match algo {
                Algo::Subgroup4 { .. } => &[(A_VEC4_ALONG_K, B_VEC4_ALONG_J), (A_VEC4_ALONG_I, B_VEC4_ALONG_J), (A_VEC4_ALONG_K, B_VEC4_ALONG_K)],
                Algo::Subgroup4Panels { .. } => &[(A_VEC4_ALONG_K, B_PANELS), (A_VEC4_ALONG_I, B_PANELS)],
                _ if algo.vec4_capable() => &[(0, B_SCALAR), (0, B_VEC4_ALONG_J)],
                _ => &[(0, B_SCALAR)],
            };
            for &(a_mode, b_mode) in modes {
                let entry = (algo.def(), algo.constants(a_mode, b_mode));
                if !out.iter().any(|(d, v)| std::ptr::eq(*d, entry.0) && *v == entry.1) {
                    out.push(entry);
                }
            }
        }
        out
    }

    /// Workgroups for an M×N output.
    fn grid(self, m: u32, n: u32) -> [u32; 3] {
        match self {
            Algo::Subgroup { tm, tn } | Algo::Subgroup4 { tm, tn } | Algo::Subgroup4Panels { tm, tn } => [n.div_ceil(8 * tn), m.div_ceil(tm), 1],
            Algo::Register { tm, tn } => [n.div_ceil(tn).div_ceil(8), m.div_ceil(tm).div_ceil(8), 1],
            Algo::Tiled { tm, tn } => [n.div_ceil(16 * tn), m.div_ceil(16 * tm), 1],
            Algo::Vec8 => [n.div_ceil(8).div_ceil(8), m.div_ceil(8).div_ceil(8), 1],
            Algo::GpuTile { tm, tn, .. } => [n.div_ceil(16 * tn), m.div_ceil(16 * tm), 1],
        }
    }
}

/// One matrix product and its epilogue:
/// `C[M,N] = op(A)·op(B)` then `(+ C)` `(+ bias[j])` `(ReLU)` `(× [mask[i,j] > 0])`, in that order,
/// where op(A) = Aᵀ if `trans_a` (A stored \[K,M\]) else A (\[M,K\]); op(B) = Bᵀ if `trans_b` (B stored \[N,K\]).
///
/// The linear layer y = x·Wᵀ + b (W: \[out,in\]) is `MatMul::new().trans_b().bias(b)`; its input gradient
/// dx = dy·W is the plain form; its weight gradient dW = dyᵀ·x is `trans_a`.
#[derive(Clone, Default)]
pub struct MatMul<'t> {
    pub trans_a: bool,
    pub trans_b: bool,
    pub accumulate: bool,
    pub bias: Option<&'t Tensor>,
    pub relu: bool,
    pub mask: Option<&'t Tensor>,
    /// Force a variant instead of the tuned choice (tests, benchmarks).
    pub algo: Option<Algo>,
}

impl<'t> MatMul<'t> {
    pub fn new() -> Self {
        MatMul::default()
    }
    pub fn trans_a(mut self) -> Self {
        self.trans_a = true;
        self
    }
    pub fn trans_b(mut self) -> Self {
        self.trans_b = true;
        self
    }
    pub fn accumulate(mut self) -> Self {
        self.accumulate = true;
        self
    }
    pub fn bias(mut self, bias: &'t Tensor) -> Self {
        self.bias = Some(bias);
        self
    }
    pub fn relu(mut self) -> Self {
        self.relu = true;
        self
    }
    pub fn mask(mut self, mask: &'t Tensor) -> Self {
        self.mask = Some(mask);
        self
    }
    pub fn algo(mut self, algo: Algo) -> Self {
        self.algo = Some(algo);
        self
    }

    /// (M, N, K) after checking every shape; errors name the op and the shapes.
    pub fn dims(&self, a: &Tensor, b: &Tensor, c: &Tensor) -> Result<(usize, usize, usize)> {
        const OP: &str = "matmul";
        let (ar, ac) = a.dims2(OP)?;
        let (br, bc) = b.dims2(OP)?;
        let (cm, cn) = c.dims2(OP)?;
        let (m, k) = if self.trans_a { (ac, ar) } else { (ar, ac) };
        let (kb, n) = if self.trans_b { (bc, br) } else { (br, bc) };
        let form = format!("{}{}", if self.trans_a { "Aᵀ" } else { "A" }, if self.trans_b { "·Bᵀ" } else { "·B" });
        if k != kb {
            return Err(Error::shape(OP, format!("{form}: inner dimensions differ: A {:?}, B {:?}", a.shape(), b.shape())));
        }
        if (cm, cn) != (m, n) {
            return Err(Error::shape(OP, format!("{form}: C is {:?} but the product is [{m}, {n}]", c.shape())));
        }
        if m == 0 || n == 0 || k == 0 {
            return Err(Error::shape(OP, format!("{form}: empty operand (M={m}, N={n}, K={k})")));
        }
        if [a, b, c].iter().any(|t| t.dtype() != DType::F32) {
            return Err(Error::shape(OP, "operands must be f32"));
        }
        if let Some(bias) = self.bias
            && (bias.len() != n || bias.dtype() != DType::F32) {
                return Err(Error::shape(OP, format!("bias has shape {:?}, expected [{n}] f32", bias.shape())));
            }
        if let Some(mask) = self.mask
            && mask.shape() != [m, n] {
                return Err(Error::shape(OP, format!("mask has shape {:?}, expected [{m}, {n}]", mask.shape())));
            }
        for (name, t) in [("A", a), ("B", b), ("bias", self.bias.unwrap_or(a)), ("mask", self.mask.unwrap_or(a))] {
            if c.same_buffer(t) {
                return Err(Error::shape(OP, format!("C must not share a buffer with {name}")));
            }
        }
        Ok((m, n, k))
    }

    /// Checks the shapes and appends the dispatch(es) to `prog`.
    pub fn record(&self, gpu: &Gpu, prog: &mut Program, a: &Tensor, b: &Tensor, c: &Tensor) -> Result<()> {
        let (m, n, k) = self.dims(a, b, c)?;
        let algo = match self.algo {
            Some(algo) if !algo.fits(self.trans_a, self.trans_b, m, n, k) => {
                return Err(Error::shape("matmul", format!("{algo:?} cannot compute this form at M={m}, N={n}, K={k} (see Algo::fits)")));
            }
            Some(algo) => algo,
            None => self.tuned_algo(gpu, m, n, k)?,
        };
        for d in self.build(gpu, algo, a, b, c, m, n, k)? {
            prog.push(d);
        }
        Ok(())
    }

    /// The fastest candidate for this form and shape on this adapter, timed on scratch tensors
    /// (never on the caller's, whose contents the timing runs would overwrite).
    fn tuned_algo(&self, gpu: &Gpu, m: usize, n: usize, k: usize) -> Result<Algo> {
        let candidates: Vec<Algo> = Algo::candidates(gpu).into_iter().filter(|a| a.worth_timing(self.trans_a, self.trans_b, m, n, k)).collect();
        // Choices are stored by index into the candidate list (checkpoints keep them); the list on GPUs
        // grew matmul_gpu in front, so their keys are new and an older GPU checkpoint's choice is decided again.
        let gpu_list = if gpu.info.device_type == wgpu::DeviceType::Cpu { "" } else { " +gpu" };
        let key = format!("matmul {}{} {m}x{n}x{k}{gpu_list}", if self.trans_a { "T" } else { "N" }, if self.trans_b { "T" } else { "N" });
        let (ashape, bshape) = (if self.trans_a { [k, m] } else { [m, k] }, if self.trans_b { [n, k] } else { [k, n] });
        let mut scratch = None;
        let i = gpu.tune(&key, candidates.len(), |i| {
            let (a, b, c) = scratch.get_or_insert_with(|| (gpu.zeros(&ashape), gpu.zeros(&bshape), gpu.zeros(&[m, n])));
            let plain = MatMul { trans_a: self.trans_a, trans_b: self.trans_b, ..MatMul::default() };
            plain.build(gpu, candidates[i], a, b, c, m, n, k)
        });
        Ok(candidates[i])
    }

    #[allow(clippy::too_many_arguments)]
    fn build(&self, gpu: &Gpu, algo: Algo, a: &Tensor, b: &Tensor, c: &Tensor, m: usize, n: usize, k: usize) -> Result<Vec<Dispatch>> {
        let (a_mode, b_mode) = match algo {
            Algo::Subgroup4Panels { .. } => (if self.trans_a { A_VEC4_ALONG_I } else { A_VEC4_ALONG_K }, B_PANELS),
            Algo::Subgroup4 { .. } => (if self.trans_a { A_VEC4_ALONG_I } else { A_VEC4_ALONG_K }, if self.trans_b { B_VEC4_ALONG_K } else { B_VEC4_ALONG_J }),
            _ if !self.trans_b && n.is_multiple_of(4) && algo.vec4_capable() => (0, B_VEC4_ALONG_J),
            _ => (0, B_SCALAR),
        };
        let constants = match algo {
            Algo::GpuTile { tm, tn, bk } => {
                if ![4, 8].contains(&tm) || ![4, 8].contains(&tn) || bk == 0 || !bk.is_multiple_of(4) || !(tm * bk).is_multiple_of(16) || !(tn * bk).is_multiple_of(16) {
                    return Err(Error::shape("matmul", format!("unsupported variant {algo:?}: needs TM, TN ∈ {{4, 8}}, BK a multiple of 4, TM·BK and TN·BK multiples of 16")));
                }
                let need = algo.workgroup_bytes();
                if need > gpu.limits.max_compute_workgroup_storage_size {
                    return Err(Error::Limit { op: "matmul", msg: format!("{algo:?} needs {need} bytes of workgroup memory"), limit: format!("{} bytes", gpu.limits.max_compute_workgroup_storage_size) });
                }
                let a4 = (if self.trans_a { m } else { k }).is_multiple_of(4);
                let b4 = (if self.trans_b { k } else { n }).is_multiple_of(4);
                algo.gpu_constants(self.trans_a, self.trans_b, a4, b4)
            }
            _ => algo.constants(a_mode, b_mode),
        };
        let pipeline = gpu.pipeline(algo.def(), &constants)?;
        let flags = if self.accumulate { FLAG_ACCUMULATE } else { 0 }
            | if self.bias.is_some() { FLAG_BIAS } else { 0 }
            | if self.relu { FLAG_RELU } else { 0 }
            | if self.mask.is_some() { FLAG_MASK } else { 0 };
        let (a_si, a_sk) = if self.trans_a { (1, m) } else { (k, 1) };
        let (mut b_sk, mut b_sj) = if self.trans_b { (1, k) } else { (n, 1) };
        // Unused optional bindings are bound to B (read-only, never read: their flag is off; B always fits).
        let (bias, mask) = (self.bias.unwrap_or(b), self.mask.unwrap_or(b));
        let mut out = Vec::new();
        let panels;
        let b = if let Algo::Subgroup4Panels { tn, .. } = algo {
            let (dispatch, copy) = pack_panels(gpu, b, k, n, b_sk, b_sj, 8 * tn as usize)?;
            out.push(dispatch);
            (b_sk, b_sj) = (8 * tn as usize, 1);
            panels = copy;
            &panels
        } else {
            b
        };
        for (row, rows) in row_chunks(gpu, self.trans_a, m, n, k)? {
            let params = Params { m: rows as u32, n: n as u32, k: k as u32, flags, a_si: a_si as u32, a_sk: a_sk as u32, b_sk: b_sk as u32, b_sj: b_sj as u32 };
            let whole = row == 0 && rows == m;
            let rows_of = |t: &Tensor, width: usize| if whole { Arg::from(t) } else { Arg::range(t, row * width, rows * width) };
            let mut args = vec![rows_of(a, k), Arg::from(b), Arg::from(b), Arg::from(bias), if self.mask.is_some() { rows_of(mask, n) } else { Arg::from(mask) }, rows_of(c, n)];
            if let Algo::Subgroup4 { .. } | Algo::Subgroup4Panels { .. } | Algo::GpuTile { .. } = algo {
                args.push(rows_of(a, k));
            }
            out.push(gpu.dispatch(&pipeline, &params, &args, algo.grid(rows as u32, n as u32))?);
        }
        Ok(out)
    }
}

/// Mirrors `Params` in matmul_panels.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct PanelParams {
    k: u32,
    n: u32,
    b_sk: u32,
    b_sj: u32,
    width: u32,
}

/// The dispatch that copies op(B) (K×N, strides `b_sk`, `b_sj`) into column panels `width` wide, zero past
/// N, and the tensor it writes: [⌈N/width⌉·K·width] (layout in matmul_panels.wgsl).
pub fn pack_panels(gpu: &Gpu, b: &Tensor, k: usize, n: usize, b_sk: usize, b_sj: usize, width: usize) -> Result<(Dispatch, Tensor)> {
    let padded = n.div_ceil(width) * width;
    if padded * k * 4 > gpu.limits.max_storage_buffer_binding_size as usize {
        return Err(Error::Limit { op: "matmul", msg: format!("B in panels too large to bind (N={n}, K={k})"), limit: format!("{} bytes per storage binding", gpu.limits.max_storage_buffer_binding_size) });
    }
    let panels = gpu.empty(&[padded * k], DType::F32);
    let pipeline = gpu.pipeline(&PACK_PANELS, &[])?;
    let params = PanelParams { k: k as u32, n: n as u32, b_sk: b_sk as u32, b_sj: b_sj as u32, width: width as u32 };
    let grid = gpu.grid_1d((padded * k / 4).div_ceil(64) as u32);
    let dispatch = gpu.dispatch(&pipeline, &params, &[Arg::from(b), Arg::from(&panels)], grid)?;
    Ok((dispatch, panels))
}

/// Splits the M rows so that the row-slices of A, C and the mask each fit one storage binding, with
/// slice offsets on the adapter's alignment. A transposed A has no contiguous row slices, so it must fit whole.
fn row_chunks(gpu: &Gpu, trans_a: bool, m: usize, n: usize, k: usize) -> Result<Vec<(usize, usize)>> {
    let max = gpu.limits.max_storage_buffer_binding_size as usize;
    let widest = if trans_a { n } else { n.max(k) };
    if m * widest * 4 <= max && (!trans_a || m * k * 4 <= max) {
        return Ok(vec![(0, m)]);
    }
    let align = gpu.limits.min_storage_buffer_offset_alignment as usize;
    let limit = |what: &str| Error::Limit { op: "matmul", msg: format!("{what} too large to bind (M={m}, N={n}, K={k})"), limit: format!("{max} bytes per storage binding") };
    if trans_a || n * k * 4 > max {
        return Err(limit(if trans_a { "transposed A" } else { "B" }));
    }
    // Rows per chunk: a multiple of the row count that keeps both k·4 and n·4 byte offsets aligned.
    let step = [k, n].iter().map(|&w| align / gcd(align, w * 4)).fold(1, lcm);
    let rows = (max / (widest * 4)) / step * step;
    if rows == 0 {
        return Err(limit("one aligned block of rows"));
    }
    Ok((0..m).step_by(rows).map(|r| (r, rows.min(m - r))).collect())
}

/// CPU reference (f64).
pub mod cpu {
    /// op(A)·op(B) for row-major A (\[M,K\], or \[K,M\] if `trans_a`) and B (\[K,N\], or \[N,K\] if `trans_b`).
    pub fn matmul(a: &[f64], b: &[f64], m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for kk in 0..k {
                let aik = if trans_a { a[kk * m + i] } else { a[i * k + kk] };
                for j in 0..n {
                    let bkj = if trans_b { b[j * k + kk] } else { b[kk * n + j] };
                    c[i * n + j] += aik * bkj;
                }
            }
        }
        c
    }

    /// op(B) (B row-major: \[K,N\], or \[N,K\] if `trans_b`) in column panels `width` wide, zero past N:
    /// panel p holds op(B)(k, p·width + jj) at (p·K + k)·width + jj.
    pub fn pack_panels(b: &[f64], k: usize, n: usize, trans_b: bool, width: usize) -> Vec<f64> {
        let padded = n.div_ceil(width) * width;
        let mut out = vec![0.0; padded * k];
        for kk in 0..k {
            for j in 0..n {
                out[(j / width * k + kk) * width + j % width] = if trans_b { b[j * k + kk] } else { b[kk * n + j] };
            }
        }
        out
    }

    /// The epilogue applied to a product `c`, in the kernel's order.
    pub fn epilogue(c: &mut [f64], n: usize, old_c: Option<&[f64]>, bias: Option<&[f64]>, relu: bool, mask: Option<&[f64]>) {
        for (idx, v) in c.iter_mut().enumerate() {
            if let Some(old) = old_c {
                *v += old[idx];
            }
            if let Some(b) = bias {
                *v += b[idx % n];
            }
            if relu {
                *v = v.max(0.0);
            }
            if let Some(mk) = mask
                && mk[idx] <= 0.0 {
                    *v = 0.0;
                }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_are_offered_matmul_gpu_first_and_cpu_adapters_keep_their_lists() {
        // A discrete GPU without fixed 8-wide subgroups (NVIDIA, AMD, Apple) and one with them (an Intel
        // GPU pinned to SIMD8): matmul_gpu first, then the older portable kernels as before.
        for sg in [false, true] {
            let v = Algo::candidates_for(sg, false);
            assert_eq!(&v[..3], &GPU_TILES, "{v:?}");
            assert!(v.contains(&Algo::Tiled { tm: 4, tn: 4 }), "{v:?}");
        }
        // lavapipe, and CPU adapters without subgroups (llvmpipe through GL): today's lists, untouched.
        let lavapipe = Algo::candidates_for(true, true);
        assert_eq!(lavapipe[0], Algo::Subgroup4 { tm: 16, tn: 8 });
        assert_eq!(Algo::candidates_for(false, true)[0], Algo::Register { tm: 16, tn: 8 });
        for cpu_list in [lavapipe, Algo::candidates_for(false, true)] {
            assert!(!cpu_list.iter().any(|a| matches!(a, Algo::GpuTile { .. })), "{cpu_list:?}");
        }
        // Every GPU tile fits WebGPU's default 16 KiB of workgroup memory and every shape.
        for a in GPU_TILES {
            assert!(a.workgroup_bytes() <= 16384 && a.fits(true, false, 7, 1, 129) && a.worth_timing(false, true, 1, 1, 1), "{a:?}");
        }
    }

    #[test]
    fn lavapipe_times_big_blocks_only_on_big_problems_and_matmul_sg_only_where_sg4_cannot_compute() {
        let timed = |t_a, t_b, m, n, k| -> Vec<Algo> { Algo::candidates_for(true, true).into_iter().filter(|a| a.worth_timing(t_a, t_b, m, n, k)).collect() };
        // Task 1's first layer: matmul_sg4 fits, the problem is small.
        assert_eq!(timed(false, true, 200, 400, 784), [Algo::Subgroup4 { tm: 16, tn: 8 }, Algo::Subgroup4 { tm: 8, tn: 8 }]);
        // 1024³: the 32-row blocks too, and B in panels.
        let big = timed(false, false, 1024, 1024, 1024);
        assert!(big.contains(&Algo::Subgroup4 { tm: 32, tn: 8 }) && big.contains(&Algo::Subgroup4Panels { tm: 16, tn: 8 }), "{big:?}");
        // K = 10 (the output layer's input gradient): matmul_sg4 cannot read A in quads, matmul_sg can.
        let odd = timed(false, false, 200, 400, 10);
        assert!(!odd.is_empty() && odd.iter().all(|a| matches!(a, Algo::Subgroup { .. }) && a.fits(false, false, 200, 400, 10)), "{odd:?}");
        assert!(!odd.contains(&Algo::Subgroup { tm: 24, tn: 8 }));
        // Every shape keeps at least one candidate, on every kind of adapter.
        for (sg, cpu) in [(true, true), (true, false), (false, true), (false, false)] {
            for (m, n, k) in [(1, 1, 1), (7, 33, 5), (2048, 2048, 2048), (10, 400, 200)] {
                for (t_a, t_b) in [(false, false), (true, false), (false, true)] {
                    assert!(Algo::candidates_for(sg, cpu).into_iter().any(|a| a.worth_timing(t_a, t_b, m, n, k)), "{sg} {cpu} {m}x{n}x{k}");
                }
            }
        }
    }
}
