//! Structural pruning of homogeneous units (`shaders/optim_prune.wgsl`), with its CPU reference.
//! Tests: `tests/kernels/prune.rs`.
//!
//! Task 5 (docs/algorithm.md) prunes, after every update, each unit whose input weights w or output weights v
//! are all zero, and keeps it dead: a persistent `alive` flag per unit (u32, 1 alive, 0 pruned) that
//! [`prune_mask`] only lowers, and [`prune_apply`] zeroes the w row, the w-layer bias and the v slice of
//! every unit flagged dead. Writing flags from the host (the units a sparsity level removes) and running
//! [`prune_apply`] (or [`prune`]) holds those units at zero while a sparse model retrains.
//!
//! Groups use the views of [`optim::Group`](super::optim::Group): w `[units, fan_in]`, v `[a, units, c]`.
//! In an MLP whose every hidden neuron is a unit, consecutive groups share a layer (its weight holds the
//! v of one group's units and the w of the next group's); each group is pruned by its own dispatches,
//! which wgpu orders, so that sharing is safe.

use bytemuck::{Pod, Zeroable};

use super::optim::Group;
use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, DType, Gpu, KernelDef, Program, Shader, Tensor};

pub static SHADER: Shader = Shader { name: "optim_prune", source: wgsl!("grid", "optim_prune"), subgroups: false };

/// params, alive, w, w bias, v
const BINDINGS: &[Access] = &[Access::Uniform, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite];
pub static PRUNE_MASK: KernelDef = KernelDef { shader: &SHADER, entry: "prune_mask", bindings: BINDINGS };
pub static PRUNE_APPLY: KernelDef = KernelDef { shader: &SHADER, entry: "prune_apply", bindings: BINDINGS };
pub static KERNELS: &[&KernelDef] = &[&PRUNE_MASK, &PRUNE_APPLY];

/// Mirrors `Params` in optim_prune.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    units: u32,
    fan_in: u32,
    a: u32,
    c: u32,
}

/// The `WG` of optim_prune.wgsl.
const WG: u32 = 64;

/// llvmpipe stops an invocation after 65,535 loop iterations in all; `prune_mask` loops up to
/// fan_in + a·c times for one unit (two flat loops). Keep a margin.
const MAX_LOOP: usize = 65_000;

fn check(op: &'static str, gpu: &Gpu, group: &Group, alive: &Tensor) -> Result<()> {
    group.validate(op)?;
    if alive.dtype() != DType::U32 || alive.len() != group.units {
        return Err(Error::shape(op, format!("alive must be u32 [{}] (one flag per unit), got {:?} {:?}", group.units, alive.dtype(), alive.shape())));
    }
    if group.holds(alive) {
        return Err(Error::shape(op, "alive must not share a buffer with the group's tensors"));
    }
    let work = group.fan_in + group.a * group.c;
    if work > MAX_LOOP {
        return Err(Error::shape(op, format!("a unit with fan_in {} and v of {}×{} needs {work} loop iterations; llvmpipe allows {MAX_LOOP}", group.fan_in, group.a, group.c)));
    }
    let max = gpu.limits.max_storage_buffer_binding_size as usize / 4;
    if let Some(t) = [&group.w, &group.v].into_iter().find(|t| t.len() > max) {
        return Err(Error::shape(op, format!("{:?} exceeds the adapter's storage binding of {max} elements", t.shape())));
    }
    Ok(())
}

fn params(g: &Group) -> Params {
    Params { units: g.units as u32, fan_in: g.fan_in as u32, a: g.a as u32, c: g.c as u32 }
}

fn args(g: &Group, alive: &Tensor) -> [Arg; 4] {
    [Arg::from(alive), Arg::from(&g.w), Arg::from(&g.w_bias), Arg::from(&g.v)]
}

/// alive\[i\] ← 0 for every unit i of `group` whose w row or v slice holds no nonzero element. One dispatch.
pub fn prune_mask(gpu: &Gpu, prog: &mut Program, group: &Group, alive: &Tensor) -> Result<()> {
    let op = "prune_mask";
    check(op, gpu, group, alive)?;
    let pipeline = gpu.pipeline(&PRUNE_MASK, &[])?;
    prog.push(gpu.dispatch(&pipeline, &params(group), &args(group, alive), gpu.grid_1d((group.units as u32).div_ceil(WG)))?);
    Ok(())
}

/// Zeroes the w row, the w-layer bias and the v slice of every unit with alive\[i\] = 0. One dispatch.
pub fn prune_apply(gpu: &Gpu, prog: &mut Program, group: &Group, alive: &Tensor) -> Result<()> {
    let op = "prune_apply";
    check(op, gpu, group, alive)?;
    let vec4s = group.w.len().div_ceil(4) + group.units.div_ceil(4) + group.v.len().div_ceil(4);
    let pipeline = gpu.pipeline(&PRUNE_APPLY, &[])?;
    prog.push(gpu.dispatch(&pipeline, &params(group), &args(group, alive), gpu.grid_1d((vec4s as u32).div_ceil(WG)))?);
    Ok(())
}

/// [`prune_mask`] then [`prune_apply`]: what one training iteration records after its update.
pub fn prune(gpu: &Gpu, prog: &mut Program, group: &Group, alive: &Tensor) -> Result<()> {
    let mut local = Program::new();
    prune_mask(gpu, &mut local, group, alive)?;
    prune_apply(gpu, &mut local, group, alive)?;
    prog.append(local);
    Ok(())
}

/// CPU reference, on the host groups of `optim::cpu`.
pub mod cpu {
    use crate::ops::optim::cpu::Group;

    /// As `super::prune_mask`.
    pub fn prune_mask(g: &Group, alive: &mut [bool]) {
        for (i, a) in alive.iter_mut().enumerate() {
            let w_nonzero = g.w[i * g.fan_in..(i + 1) * g.fan_in].iter().any(|&x| x != 0.0);
            let v_nonzero = (0..g.a).any(|r| (0..g.c).any(|k| g.v[g.vi(r, i, k)] != 0.0));
            *a &= w_nonzero && v_nonzero;
        }
    }

    /// As `super::prune_apply`.
    pub fn prune_apply(g: &mut Group, alive: &[bool]) {
        for (i, _) in alive.iter().enumerate().filter(|(_, a)| !**a) {
            g.w[i * g.fan_in..(i + 1) * g.fan_in].fill(0.0);
            g.w_bias[i] = 0.0;
            for r in 0..g.a {
                for k in 0..g.c {
                    let j = g.vi(r, i, k);
                    g.v[j] = 0.0;
                }
            }
        }
    }

    /// As `super::prune`.
    pub fn prune(g: &mut Group, alive: &mut [bool]) {
        prune_mask(g, alive);
        prune_apply(g, alive);
    }
}
