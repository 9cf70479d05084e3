//! The optimizer kernels: the SGD update, the PathProx step (projection + prox) of a group of homogeneous
//! units, layer-wise balancing (docs/algorithm.md Appendix B) entirely on the GPU, the sub-gradients of the
//! baselines' penalties; with their CPU references (`cpu`). (Logging sums the path norm on the host,
//! from the downloaded weights: `train::eval`.)
//! Shaders: `shaders/optim_flat.wgsl` (element-wise), `optim_prox.wgsl` (in-place group kernels: step,
//! penalty sub-gradients, balancing application), `optim_norms.wgsl` (unit norms), both after
//! `optim_group.wgsl` (a group's params and unit norms), and `optim_balance.wgsl` (balancing factors).
//! Tests: `tests/kernels/optim.rs`.
//!
//! Hyper-parameters that a schedule may change live in a GPU tensor `hyper` (f32, at least 2 elements:
//! hyper\[0\] = learning rate γ, hyper\[1\] = λ), read by the kernels, so one write updates every recorded
//! dispatch. Per-dispatch constants (decay on or off, which penalty) go in the uniform params.
//!
//! A [`Group`] is a pair of layers whose hidden units are homogeneous: its w tensor is viewed as
//! `[units, fan_in]` (unit i's input weights = row i), its v tensor as `[a, units, c]` (unit i's output
//! weights = the slice `[:, i, :]`); the w-layer bias is `[units]`, the v-layer bias `[a]` (never part of v).
//! The group kernels are fastest with `units % 4 == 0` and `fan_in % 4 == 0` (every model here); other
//! sizes are exact too, at the cost of an extra `unit_norms` dispatch when `units % 4 != 0` (see
//! optim_prox.wgsl for how the work is owned).
//!
//! One PathProx iteration after back-propagation, as recorded by this module:
//! `sgd_update` on every tensor (grouped weights without decay), then
//! `pathprox_update(groups, Some(state))`: `unit_norms` per group, one `balance_factors`, and one fused
//! `pathprox_step` per group that applies the balancing factors, projects w and soft-thresholds v —
//! 2G + 1 dispatches for G groups (G without balancing).

use bytemuck::{Pod, Zeroable};

use super::{check, flat_chunks};
use crate::error::{Error, Result};
use crate::gpu::{Access, Arg, DType, Gpu, KernelDef, Program, Shader, Tensor};

pub static FLAT_SHADER: Shader = Shader { name: "optim_flat", source: wgsl!("grid", "optim_flat"), subgroups: false };
pub static PROX_SHADER: Shader = Shader { name: "optim_prox", source: wgsl!("grid", "optim_group", "optim_prox"), subgroups: false };
pub static NORMS_SHADER: Shader = Shader { name: "optim_norms", source: wgsl!("grid", "optim_group", "optim_norms"), subgroups: false };
pub static BALANCE_SHADER: Shader = Shader { name: "optim_balance", source: include_str!("../../shaders/optim_balance.wgsl"), subgroups: false };

use Access::{Read, ReadWrite as Rw, Uniform};

/// params, hyper, src, dst
const FLAT_BINDINGS: &[Access] = &[Uniform, Read, Read, Rw];
/// params, hyper, w, v, w bias (or grad of w), v bias (or grad of v), state
const PROX_BINDINGS: &[Access] = &[Uniform, Read, Rw, Rw, Rw, Rw, Read];
/// params, w, v, out
const NORMS_BINDINGS: &[Access] = &[Uniform, Read, Read, Rw];

pub static SGD_UPDATE: KernelDef = KernelDef { shader: &FLAT_SHADER, entry: "sgd_update", bindings: FLAT_BINDINGS };
pub static LASSO_GRAD: KernelDef = KernelDef { shader: &FLAT_SHADER, entry: "lasso_grad", bindings: FLAT_BINDINGS };
pub static PATHPROX_STEP: KernelDef = KernelDef { shader: &PROX_SHADER, entry: "pathprox_step", bindings: PROX_BINDINGS };
pub static PENALTY_GRAD: KernelDef = KernelDef { shader: &PROX_SHADER, entry: "penalty_grad", bindings: PROX_BINDINGS };
pub static BALANCE_APPLY: KernelDef = KernelDef { shader: &PROX_SHADER, entry: "balance_apply", bindings: PROX_BINDINGS };
pub static UNIT_NORMS: KernelDef = KernelDef { shader: &NORMS_SHADER, entry: "unit_norms", bindings: NORMS_BINDINGS };
pub static BALANCE_FACTORS: KernelDef = KernelDef { shader: &BALANCE_SHADER, entry: "balance_factors", bindings: &[Uniform, Rw] };

pub static KERNELS: &[&KernelDef] = &[&SGD_UPDATE, &LASSO_GRAD, &PATHPROX_STEP, &PENALTY_GRAD, &BALANCE_APPLY, &UNIT_NORMS, &BALANCE_FACTORS];

/// ε of the projection w ← y / max(‖y‖, ε) (and of the prox's division, as in the reference implementation).
pub const EPS: f64 = 1e-6;
/// Most groups one balancing pass handles (VGG19 has 8).
pub const MAX_GROUPS: usize = 16;

/// Mirrors `Params` in optim_flat.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FlatParams {
    n: u32,
    decay: u32,
    _pad: [u32; 2],
}

/// Mirrors `Params` in optim_group.wgsl (shared by optim_prox.wgsl and optim_norms.wgsl; unit_norms leaves
/// `flags` and `group` unused).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GroupParams {
    units: u32,
    fan_in: u32,
    a: u32,
    c: u32,
    flags: u32,
    group: u32,
    norms_base: u32,
    _pad: u32,
}

const NORMS_GIVEN: u32 = 1;
const BALANCED: u32 = 2;
const PATH: u32 = 4;
const W_ONLY: u32 = 8;

/// Mirrors `Params` in optim_balance.wgsl (`groups[l]` = (norms base, units, 0, 0)).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BalanceParams {
    count: u32,
    _pad: [u32; 3],
    groups: [[u32; 4]; MAX_GROUPS],
}

/// Workgroup sizes of the kernels (the `WG` / `APPLY_WG` constants of their shaders).
const FLAT_WG: u32 = 64;
const GROUP_WG: u32 = 64;
const APPLY_WG: u32 = 256;

/// Whether two views of one buffer share elements, counting each view's last vec4 whole (kernels write
/// whole vec4s).
fn overlaps(a: &Tensor, b: &Tensor) -> bool {
    let end = |t: &Tensor| t.offset() + t.len().div_ceil(4) * 4;
    a.offset() < end(b) && b.offset() < end(a)
}

/// A pair of layers whose hidden units are homogeneous (docs/algorithm.md "Homogeneous units"), with the views
/// the kernels use: w as `[units, fan_in]`, v as `[a, units, c]`, w bias `[units]`, v bias `[a]`.
#[derive(Clone, Debug)]
pub struct Group {
    pub w: Tensor,
    pub w_bias: Tensor,
    pub v: Tensor,
    pub v_bias: Tensor,
    pub units: usize,
    pub fan_in: usize,
    pub a: usize,
    pub c: usize,
}

impl Group {
    /// The views from PyTorch-layout shapes: w `[units, ...]` (Linear `[units, in]`, conv `[units, in, 3, 3]`),
    /// v `[a, units, ...]` (Linear `[out, units]`, conv `[out, units, 3, 3]`).
    pub fn new(w: &Tensor, w_bias: &Tensor, v: &Tensor, v_bias: &Tensor) -> Result<Group> {
        let (ws, vs) = (w.shape(), v.shape());
        if ws.len() < 2 || vs.len() < 2 {
            return Err(Error::shape("group", format!("w and v need at least 2 dimensions, got {ws:?} and {vs:?}")));
        }
        Group::with_views(w, w_bias, v, v_bias, ws[0], ws[1..].iter().product(), vs[0], vs[2..].iter().product())
    }

    /// Explicit views of tensors of any shape (each must hold exactly the viewed number of elements).
    #[allow(clippy::too_many_arguments)]
    pub fn with_views(w: &Tensor, w_bias: &Tensor, v: &Tensor, v_bias: &Tensor, units: usize, fan_in: usize, a: usize, c: usize) -> Result<Group> {
        let g = Group { w: w.clone(), w_bias: w_bias.clone(), v: v.clone(), v_bias: v_bias.clone(), units, fan_in, a, c };
        g.validate("group")?;
        Ok(g)
    }

    /// Every view consistent with its tensor, all f32, no two overlapping, indexes within u32.
    pub(crate) fn validate(&self, op: &'static str) -> Result<()> {
        let (units, fan_in, a, c) = (self.units, self.fan_in, self.a, self.c);
        if units == 0 || fan_in == 0 || a == 0 || c == 0 {
            return Err(Error::shape(op, format!("empty group view: units {units}, fan_in {fan_in}, a {a}, c {c}")));
        }
        let checks = [
            ("w", &self.w, units.checked_mul(fan_in), format!("[{units}, {fan_in}]")),
            ("w bias", &self.w_bias, Some(units), format!("[{units}]")),
            ("v", &self.v, a.checked_mul(units).and_then(|n| n.checked_mul(c)), format!("[{a}, {units}, {c}]")),
            ("v bias", &self.v_bias, Some(a), format!("[{a}]")),
        ];
        for (name, t, want, view) in &checks {
            check_f32(op, name, t)?;
            if Some(t.len()) != *want {
                return Err(Error::shape(op, format!("{name} has shape {:?} ({} elements), which cannot be viewed as {view}", t.shape(), t.len())));
            }
            // The kernels index elements as 4·(vec4 index) + lane in u32.
            if t.len() > u32::MAX as usize / 2 {
                return Err(Error::shape(op, format!("{name} has {} elements: too many for 32-bit indexing", t.len())));
            }
        }
        // The four may be views of one buffer (a model keeps every parameter in one): every kernel binds
        // them all read-write or all read-only, which wgpu allows, and the views must not overlap.
        let ts = self.tensors();
        for i in 0..4 {
            for j in i + 1..4 {
                if ts[i].same_buffer(ts[j]) && overlaps(ts[i], ts[j]) {
                    return Err(Error::shape(op, format!("{} and {} overlap", checks[i].0, checks[j].0)));
                }
            }
        }
        Ok(())
    }

    fn tensors(&self) -> [&Tensor; 4] {
        [&self.w, &self.w_bias, &self.v, &self.v_bias]
    }

    /// Whether `t` shares a buffer with any of the group's tensors.
    pub(crate) fn holds(&self, t: &Tensor) -> bool {
        self.tensors().iter().any(|g| g.same_buffer(t))
    }

    fn params(&self, flags: u32, group: usize, norms_base: usize) -> GroupParams {
        GroupParams {
            units: self.units as u32,
            fan_in: self.fan_in as u32,
            a: self.a as u32,
            c: self.c as u32,
            flags,
            group: group as u32,
            norms_base: norms_base as u32,
            _pad: 0,
        }
    }

    /// Invocations owning w: one per 4 rows.
    fn w_owners(&self) -> u32 {
        self.units.div_ceil(4) as u32
    }

    /// Whether v is owned by unit quads (one dispatch computes and applies the norms); otherwise each vec4
    /// of v has its own invocation, which reads the unit norms from a scratch.
    fn quads(&self) -> bool {
        self.units.is_multiple_of(4)
    }

    /// Invocations owning v for writing.
    fn v_owners(&self) -> u32 {
        if self.quads() { (self.units / 4) as u32 } else { self.v.len().div_ceil(4) as u32 }
    }
}

fn check_hyper(op: &'static str, hyper: &Tensor) -> Result<()> {
    if hyper.dtype() != DType::F32 || hyper.len() < 2 {
        return Err(Error::shape(op, format!("hyper must be an f32 tensor of at least 2 elements (γ, λ), got {:?} {:?}", hyper.dtype(), hyper.shape())));
    }
    Ok(())
}

fn check_f32(op: &'static str, name: &str, t: &Tensor) -> Result<()> {
    check::dtype(op, name, t, DType::F32)
}

fn grid(gpu: &Gpu, invocations: u32, wg: u32) -> [u32; 3] {
    gpu.grid_1d(invocations.div_ceil(wg))
}

/// Records `dst = kernel(hyper, src, dst)` element-wise, split into chunks that fit the binding limit.
fn flat(gpu: &Gpu, prog: &mut Program, def: &'static KernelDef, hyper: &Tensor, src: &Tensor, dst: &Tensor, decay: bool) -> Result<()> {
    let op = def.entry;
    check_hyper(op, hyper)?;
    check_f32(op, "input", src)?;
    check_f32(op, "output", dst)?;
    if src.len() != dst.len() {
        return Err(Error::shape(op, format!("length mismatch: {:?} vs {:?}", src.shape(), dst.shape())));
    }
    if dst.same_buffer(src) || dst.same_buffer(hyper) {
        return Err(Error::shape(op, "the updated tensor must not share a buffer with an input"));
    }
    if dst.len() > u32::MAX as usize / 2 {
        return Err(Error::shape(op, format!("{} elements are too many for 32-bit indexing", dst.len())));
    }
    let pipeline = gpu.pipeline(def, &[])?;
    // Chunk starts are multiples of 4 elements (and of the offset alignment), so each chunk's vec4 view
    // starts on its first element.
    for (first, count) in flat_chunks(gpu, dst.len()) {
        let args = [Arg::from(hyper), Arg::range(src, first, count), Arg::range(dst, first, count)];
        let params = FlatParams { n: count as u32, decay: decay as u32, _pad: [0; 2] };
        prog.push(gpu.dispatch(&pipeline, &params, &args, grid(gpu, count.div_ceil(4) as u32, FLAT_WG))?);
    }
    Ok(())
}

/// θ ← θ − γ(g + λθ) in place, with the λθ term only when `decay` (weights under weight decay; biases and
/// grouped PathProx weights get `decay = false`). γ = hyper\[0\], λ = hyper\[1\].
pub fn sgd_update(gpu: &Gpu, prog: &mut Program, hyper: &Tensor, grad: &Tensor, param: &Tensor, decay: bool) -> Result<()> {
    flat(gpu, prog, &SGD_UPDATE, hyper, grad, param, decay)
}

/// g ← g + λ·sign(θ) (sign(0) = 0): the lasso sub-gradient, added in place. λ = hyper\[1\].
pub fn lasso_grad(gpu: &Gpu, prog: &mut Program, hyper: &Tensor, param: &Tensor, grad: &Tensor) -> Result<()> {
    flat(gpu, prog, &LASSO_GRAD, hyper, param, grad, false)
}

/// The PathProx step of one group, in place, after the gradient step has left y in `w` and z in `v`:
/// w_i ← y_i / max(‖y_i‖, ε) and w-bias_i ← w-bias_i / max(‖y_i‖, ε) (ε = 1e-6);
/// v_i ← 0 if ‖z_i‖ ≤ τ, else z_i − τ·z_i / max(‖z_i‖, ε) (= (1 − τ/‖z_i‖)·z_i), τ = γλ from `hyper`.
/// The v bias is untouched. One dispatch (two when units % 4 != 0: the unit norms go first).
pub fn pathprox_step(gpu: &Gpu, prog: &mut Program, hyper: &Tensor, group: &Group) -> Result<()> {
    check_step("pathprox_step", hyper, group)?;
    let invocations = group.w_owners() + group.v_owners();
    if group.quads() {
        // `hyper` stands in for the unused state binding (both read-only, so it may be bound twice).
        step_dispatch(gpu, prog, hyper, group, hyper, group.params(0, 0, 0), invocations)
    } else {
        let norms = gpu.empty(&[2 * group.units], DType::F32);
        let mut local = Program::new();
        unit_norms(gpu, &mut local, group, &norms, 0)?;
        step_dispatch(gpu, &mut local, hyper, group, &norms, group.params(NORMS_GIVEN, 0, 0), invocations)?;
        prog.append(local);
        Ok(())
    }
}

/// What the step kernel needs of its arguments: a valid group, a valid `hyper` outside it.
fn check_step(op: &'static str, hyper: &Tensor, group: &Group) -> Result<()> {
    group.validate(op)?;
    check_hyper(op, hyper)?;
    if group.holds(hyper) {
        return Err(Error::shape(op, "hyper must not share a buffer with the group's tensors"));
    }
    Ok(())
}

fn step_dispatch(gpu: &Gpu, prog: &mut Program, hyper: &Tensor, g: &Group, state: &Tensor, params: GroupParams, invocations: u32) -> Result<()> {
    let pipeline = gpu.pipeline(&PATHPROX_STEP, &[])?;
    let args: Vec<Arg> = [hyper, &g.w, &g.v, &g.w_bias, &g.v_bias, state].into_iter().map(Arg::from).collect();
    prog.push(gpu.dispatch(&pipeline, &params, &args, grid(gpu, invocations, GROUP_WG))?);
    Ok(())
}

/// Weight normalisation (the `wd-wn` baseline): w_i ← w_i / max(‖w_i‖, ε) and w-bias_i ← w-bias_i /
/// max(‖w_i‖, ε), v untouched — the projection half of [`pathprox_step`] (its kernel with the W_ONLY
/// flag). One dispatch.
pub fn project_w(gpu: &Gpu, prog: &mut Program, hyper: &Tensor, group: &Group) -> Result<()> {
    check_step("project_w", hyper, group)?;
    step_dispatch(gpu, prog, hyper, group, hyper, group.params(W_ONLY, 0, 0), group.w_owners())
}

/// Elements of the balancing state of `groups`: 4 factors per group, then (‖w_i‖, ‖v_i‖) per unit.
pub fn balance_state_len(groups: &[Group]) -> usize {
    4 * groups.len() + 2 * groups.iter().map(|g| g.units).sum::<usize>()
}

/// A scratch tensor for `balance` / `pathprox_update` over `groups`. After a pass, element 4l + k holds
/// group l's w-bias factor (k = 0), v factor (1), v-bias factor (2) and path norm before balancing (3).
pub fn balance_state(gpu: &Gpu, groups: &[Group]) -> Tensor {
    gpu.zeros(&[balance_state_len(groups)])
}

/// Where group l's unit norms start in the state: after the 4G factors and the earlier groups' units.
fn norms_bases(groups: &[Group]) -> Vec<usize> {
    let mut base = 4 * groups.len();
    groups
        .iter()
        .map(|g| {
            let b = base;
            base += 2 * g.units;
            b
        })
        .collect()
}

/// Validates a list of groups and its state tensor for a balancing pass.
fn check_groups(op: &'static str, groups: &[Group], state: &Tensor) -> Result<()> {
    if groups.is_empty() || groups.len() > MAX_GROUPS {
        return Err(Error::shape(op, format!("{} groups: a balancing pass takes 1 to {MAX_GROUPS}", groups.len())));
    }
    for (l, g) in groups.iter().enumerate() {
        g.validate(op)?;
        if g.holds(state) {
            return Err(Error::shape(op, format!("the state tensor shares a buffer with group {l}")));
        }
        for (k, h) in groups.iter().enumerate().skip(l + 1) {
            if g.tensors().iter().any(|t| h.tensors().iter().any(|u| t.same_buffer(u) && overlaps(t, u))) {
                return Err(Error::shape(op, format!("groups {l} and {k} overlap")));
            }
        }
    }
    check_f32(op, "state", state)?;
    let need = balance_state_len(groups);
    if state.len() != need {
        return Err(Error::shape(op, format!("state has {} elements, {} groups with {} units need {need} (see balance_state)", state.len(), groups.len(), (need - 4 * groups.len()) / 2)));
    }
    if need > u32::MAX as usize / 2 {
        return Err(Error::shape(op, format!("state of {need} elements is too large for 32-bit indexing")));
    }
    Ok(())
}

/// Writes ‖w_i‖ and ‖v_i‖ of every unit of `group` to `out[base + 2i]` and `out[base + 2i + 1]`.
pub fn unit_norms(gpu: &Gpu, prog: &mut Program, group: &Group, out: &Tensor, base: usize) -> Result<()> {
    let op = "unit_norms";
    group.validate(op)?;
    check_f32(op, "out", out)?;
    if group.holds(out) {
        return Err(Error::shape(op, "out must not share a buffer with the group's tensors"));
    }
    if base + 2 * group.units > out.len() || out.len() > u32::MAX as usize / 2 {
        return Err(Error::shape(op, format!("{} norm pairs from {base} do not fit out of shape {:?}", group.units, out.shape())));
    }
    let pipeline = gpu.pipeline(&UNIT_NORMS, &[])?;
    let args = [Arg::from(&group.w), Arg::from(&group.v), Arg::from(out)];
    // Norms only read v, so without unit quads each unit gets its own invocation.
    let v_readers = if group.units.is_multiple_of(4) { group.units / 4 } else { group.units } as u32;
    prog.push(gpu.dispatch(&pipeline, &group.params(0, 0, base), &args, grid(gpu, group.w_owners() + v_readers, GROUP_WG))?);
    Ok(())
}

/// From the unit norms already in `state` (see `unit_norms`), computes each group's path norm P_l and
/// the balancing factors (see optim_balance.wgsl) into state[4l .. 4l + 3]. One dispatch.
pub fn balance_factors(gpu: &Gpu, prog: &mut Program, groups: &[Group], state: &Tensor) -> Result<()> {
    let op = "balance_factors";
    check_groups(op, groups, state)?;
    let mut params = BalanceParams { count: groups.len() as u32, _pad: [0; 3], groups: [[0; 4]; MAX_GROUPS] };
    for (l, (g, base)) in groups.iter().zip(norms_bases(groups)).enumerate() {
        params.groups[l] = [base as u32, g.units as u32, 0, 0];
    }
    let pipeline = gpu.pipeline(&BALANCE_FACTORS, &[])?;
    prog.push(gpu.dispatch(&pipeline, &params, &[Arg::from(state)], [1, 1, 1])?);
    Ok(())
}

/// Applies group `index`'s balancing factors from `state`: w bias ×s_{l−1}, v ×s_l/s_{l−1}, v bias ×s_l.
pub fn balance_apply(gpu: &Gpu, prog: &mut Program, group: &Group, index: usize, state: &Tensor) -> Result<()> {
    let op = "balance_apply";
    group.validate(op)?;
    check_f32(op, "state", state)?;
    if group.holds(state) {
        return Err(Error::shape(op, "state must not share a buffer with the group's tensors"));
    }
    if 4 * index + 4 > state.len() {
        return Err(Error::shape(op, format!("group {index}'s factors lie outside state of shape {:?}", state.shape())));
    }
    let vec4s = group.units.div_ceil(4) + group.v.len().div_ceil(4) + group.a.div_ceil(4);
    let pipeline = gpu.pipeline(&BALANCE_APPLY, &[])?;
    // The kernel reads neither hyper nor w: `state` stands in for hyper, w is bound but untouched.
    let args: Vec<Arg> = [state, &group.w, &group.v, &group.w_bias, &group.v_bias, state].into_iter().map(Arg::from).collect();
    prog.push(gpu.dispatch(&pipeline, &group.params(0, index, 0), &args, grid(gpu, vec4s as u32, APPLY_WG))?);
    Ok(())
}

/// Records unit norms and balancing factors of `groups` into `state` (G + 1 dispatches).
fn norms_and_factors(gpu: &Gpu, prog: &mut Program, groups: &[Group], state: &Tensor) -> Result<()> {
    for (g, base) in groups.iter().zip(norms_bases(groups)) {
        unit_norms(gpu, prog, g, state, base)?;
    }
    balance_factors(gpu, prog, groups, state)
}

/// Layer-wise balancing of `groups` (in network order; docs/algorithm.md Algorithm 1 step 2), entirely on
/// the GPU: unit norms, factors, then each group's w bias, v and v bias scaled (2G + 1 dispatches). The
/// network function is unchanged and every group's path norm ends at the geometric mean P̄.
/// `state` comes from `balance_state(gpu, groups)`.
pub fn balance(gpu: &Gpu, prog: &mut Program, groups: &[Group], state: &Tensor) -> Result<()> {
    let op = "balance";
    check_groups(op, groups, state)?;
    let mut local = Program::new();
    norms_and_factors(gpu, &mut local, groups, state)?;
    for (l, g) in groups.iter().enumerate() {
        balance_apply(gpu, &mut local, g, l, state)?;
    }
    prog.append(local);
    Ok(())
}

/// Steps 2-4 of Algorithm 1 for every group, after the gradient step: with `Some(state)` layer-wise
/// balancing, fused into the projection + prox of each group (2G + 1 dispatches, the result of `balance`
/// followed by `pathprox_step` on each group); with `None` projection + prox only (G dispatches, plus one
/// per group with units % 4 != 0).
pub fn pathprox_update(gpu: &Gpu, prog: &mut Program, hyper: &Tensor, groups: &[Group], state: Option<&Tensor>) -> Result<()> {
    let op = "pathprox_update";
    check_hyper(op, hyper)?;
    if let Some(g) = groups.iter().find(|g| g.holds(hyper)) {
        return Err(Error::shape(op, format!("hyper shares a buffer with the group of w {:?}", g.w.shape())));
    }
    let mut local = Program::new();
    match state {
        None => {
            for g in groups {
                pathprox_step(gpu, &mut local, hyper, g)?;
            }
        }
        Some(state) => {
            check_groups(op, groups, state)?;
            if state.same_buffer(hyper) {
                return Err(Error::shape(op, "state must not share a buffer with hyper"));
            }
            norms_and_factors(gpu, &mut local, groups, state)?;
            for (l, (g, base)) in groups.iter().zip(norms_bases(groups)).enumerate() {
                let invocations = g.w_owners() + g.v_owners() + g.a.div_ceil(4) as u32;
                step_dispatch(gpu, &mut local, hyper, g, state, g.params(NORMS_GIVEN | BALANCED, l, base), invocations)?;
            }
        }
    }
    prog.append(local);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn penalty_grad(gpu: &Gpu, prog: &mut Program, op: &'static str, path: bool, hyper: &Tensor, group: &Group, grad_w: &Tensor, grad_v: &Tensor) -> Result<()> {
    group.validate(op)?;
    check_hyper(op, hyper)?;
    check_f32(op, "grad_w", grad_w)?;
    check_f32(op, "grad_v", grad_v)?;
    if grad_w.len() != group.w.len() || grad_v.len() != group.v.len() {
        return Err(Error::shape(
            op,
            format!("gradients {:?} and {:?} do not match w {:?} and v {:?}", grad_w.shape(), grad_v.shape(), group.w.shape(), group.v.shape()),
        ));
    }
    // The two gradients may be views of one buffer (a model keeps every gradient in one), as long as they
    // share no vec4: penalty_grad only reads w and v, and adds into out_w / out_v, each vec4 of which has
    // exactly one invocation that reads and writes it (optim_prox.wgsl), so disjoint views never race.
    // Consecutive groups of an MLP whose every neuron is a unit (MLP-3-800) add into the same layer's
    // gradient (its v for one group, its w for the next) from separate dispatches, which wgpu orders.
    if grad_w.same_buffer(grad_v) && overlaps(grad_w, grad_v) {
        return Err(Error::shape(op, "the gradients of w and v overlap"));
    }
    if [grad_w, grad_v].iter().any(|t| group.holds(t) || t.same_buffer(hyper)) {
        return Err(Error::shape(op, "the gradients must be distinct buffers from the weights and hyper"));
    }
    let pipeline = gpu.pipeline(&PENALTY_GRAD, &[])?;
    let flags = if path { PATH } else { 0 };
    let invocations = group.w_owners() + group.v_owners();
    let mut local = Program::new();
    let (state, flags) = if group.quads() {
        (hyper.clone(), flags) // stands in for the unused state binding
    } else {
        let norms = gpu.empty(&[2 * group.units], DType::F32);
        unit_norms(gpu, &mut local, group, &norms, 0)?;
        (norms, flags | NORMS_GIVEN)
    };
    let args: Vec<Arg> = [hyper, &group.w, &group.v, grad_w, grad_v, &state].into_iter().map(Arg::from).collect();
    local.push(gpu.dispatch(&pipeline, &group.params(flags, 0, 0), &args, grid(gpu, invocations, GROUP_WG))?);
    prog.append(local);
    Ok(())
}

/// Group-lasso sub-gradient per unit, added in place: g_w_i += λ·w_i/‖w_i‖, g_v_i += λ·v_i/‖v_i‖ (0 where
/// a norm is 0). λ = hyper\[1\]. One dispatch (two when units % 4 != 0).
pub fn group_lasso_grad(gpu: &Gpu, prog: &mut Program, hyper: &Tensor, group: &Group, grad_w: &Tensor, grad_v: &Tensor) -> Result<()> {
    penalty_grad(gpu, prog, "group_lasso_grad", false, hyper, group, grad_w, grad_v)
}

/// Path-norm sub-gradient per unit, added in place: g_w_i += λ‖v_i‖·w_i/‖w_i‖, g_v_i += λ‖w_i‖·v_i/‖v_i‖
/// (0 where a norm is 0). λ = hyper\[1\]. One dispatch (two when units % 4 != 0).
pub fn path_norm_grad(gpu: &Gpu, prog: &mut Program, hyper: &Tensor, group: &Group, grad_w: &Tensor, grad_v: &Tensor) -> Result<()> {
    penalty_grad(gpu, prog, "path_norm_grad", true, hyper, group, grad_w, grad_v)
}

/// CPU references in f64, with the same views: w `[units, fan_in]`, v `[a, units, c]`.
pub mod cpu {
    use super::EPS;

    /// One group's tensors and views on the host.
    #[derive(Clone, Debug)]
    pub struct Group {
        pub w: Vec<f64>,
        pub w_bias: Vec<f64>,
        pub v: Vec<f64>,
        pub v_bias: Vec<f64>,
        pub units: usize,
        pub fan_in: usize,
        pub a: usize,
        pub c: usize,
    }

    impl Group {
        /// Index in `v` of element (r, i, k) of the [a, units, c] view.
        pub fn vi(&self, r: usize, i: usize, k: usize) -> usize {
            (r * self.units + i) * self.c + k
        }

        pub fn w_norm(&self, i: usize) -> f64 {
            self.w[i * self.fan_in..(i + 1) * self.fan_in].iter().map(|x| x * x).sum::<f64>().sqrt()
        }

        pub fn v_norm(&self, i: usize) -> f64 {
            let mut s = 0.0;
            for r in 0..self.a {
                for k in 0..self.c {
                    let x = self.v[self.vi(r, i, k)];
                    s += x * x;
                }
            }
            s.sqrt()
        }

        /// Σ_i ‖w_i‖‖v_i‖.
        pub fn path_norm(&self) -> f64 {
            (0..self.units).map(|i| self.w_norm(i) * self.v_norm(i)).sum()
        }

        fn scale_v_unit(&mut self, i: usize, s: f64) {
            for r in 0..self.a {
                for k in 0..self.c {
                    let j = self.vi(r, i, k);
                    self.v[j] *= s;
                }
            }
        }
    }

    /// θ − γ(g + λθ), or θ − γg without decay.
    pub fn sgd_update(param: &[f64], grad: &[f64], lr: f64, lambda: f64, decay: bool) -> Vec<f64> {
        let l = if decay { lambda } else { 0.0 };
        param.iter().zip(grad).map(|(&t, &g)| t - lr * (g + l * t)).collect()
    }

    /// g + λ·sign(θ), sign(0) = 0.
    pub fn lasso_grad(param: &[f64], grad: &[f64], lambda: f64) -> Vec<f64> {
        param.iter().zip(grad).map(|(&t, &g)| g + if t > 0.0 { lambda } else if t < 0.0 { -lambda } else { 0.0 }).collect()
    }

    /// Projection of w (and its bias) and prox of v, τ = lr·λ, in place; as `super::pathprox_step`.
    pub fn pathprox_step(g: &mut Group, lr: f64, lambda: f64) {
        let tau = lr * lambda;
        project_w(g);
        for i in 0..g.units {
            let m = g.v_norm(i);
            let s = if m <= tau { 0.0 } else { 1.0 - tau / m.max(EPS) };
            g.scale_v_unit(i, s);
        }
    }

    /// The projection of w and its bias only (as `super::project_w`), in place.
    pub fn project_w(g: &mut Group) {
        for i in 0..g.units {
            let d = g.w_norm(i).max(EPS);
            for x in &mut g.w[i * g.fan_in..(i + 1) * g.fan_in] {
                *x /= d;
            }
            g.w_bias[i] /= d;
        }
    }

    /// Layer-wise balancing exactly as docs/algorithm.md states it (sequentially, tensor by tensor), in place.
    /// Returns (P_l before, s_l) per group.
    pub fn balance(groups: &mut [Group]) -> (Vec<f64>, Vec<f64>) {
        let before: Vec<f64> = groups.iter().map(Group::path_norm).collect();
        let n = groups.len();
        let pbar = (before.iter().map(|p| p.max(EPS).ln()).sum::<f64>() / n as f64).exp();
        let mut cur = before.clone();
        let mut scales = Vec::with_capacity(n);
        for l in 0..n {
            let s = pbar / cur[l].max(EPS);
            scales.push(s);
            for x in groups[l].v.iter_mut().chain(groups[l].v_bias.iter_mut()) {
                *x *= s;
            }
            if l + 1 < n {
                for x in groups[l + 1].w_bias.iter_mut() {
                    *x *= s;
                }
                for x in groups[l + 1].v.iter_mut() {
                    *x /= s;
                }
                cur[l + 1] /= s.max(EPS);
            }
        }
        (before, scales)
    }

    /// Group-lasso (`path = false`) or path-norm (`path = true`) sub-gradients added to (grad_w, grad_v).
    pub fn penalty_grad(g: &Group, lambda: f64, path: bool, grad_w: &mut [f64], grad_v: &mut [f64]) {
        for i in 0..g.units {
            let (nw, nv) = (g.w_norm(i), g.v_norm(i));
            let cw = if nw > 0.0 { lambda * if path { nv } else { 1.0 } / nw } else { 0.0 };
            let cv = if nv > 0.0 { lambda * if path { nw } else { 1.0 } / nv } else { 0.0 };
            let row = i * g.fan_in..(i + 1) * g.fan_in;
            for (gw, x) in grad_w[row.clone()].iter_mut().zip(&g.w[row]) {
                *gw += cw * x;
            }
            for r in 0..g.a {
                for k in 0..g.c {
                    let j = g.vi(r, i, k);
                    grad_v[j] += cv * g.v[j];
                }
            }
        }
    }
}
