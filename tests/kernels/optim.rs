//! Optimizer kernels (`src/ops/optim.rs`, `shaders/optim_*.wgsl`): SGD, PathProx step, layer-wise
//! balancing, penalty sub-gradients, path norm.
//!
//! Tolerances. u = 2⁻²⁴ (f32 unit roundoff). A norm the kernels compute sums squares in blocks of at most B
//! terms per accumulator (w rows: B = 64 elements, or 16 per vec4 lane plus 2 lane additions; v slices:
//! 8 rows of c), so with n terms its square has relative error at most (B + ⌈n/B⌉ + 2)·u (all terms
//! positive, first order), and the norm about half that: `w_norm_tol`, `v_norm_tol` (which keep the whole
//! bound, leaving room for the one rounding of a quotient). Everything built from a norm adds the few
//! roundings of its own formula, counted where it is used.

use crate::common::*;
use pathprox::gpu::{DType, Gpu, Program, Tensor};
use pathprox::ops::optim::{self, cpu, Group};

const U: f64 = 1.0 / (1u64 << 24) as f64;

/// Relative error bound of a kernel's norm of a w row (fan_in terms) — see the file comment.
fn w_norm_tol(fan_in: usize) -> f64 {
    (64 + fan_in.div_ceil(64) + 2) as f64 * U
}

/// Relative error bound of a kernel's norm of a v slice (a rows of c terms).
fn v_norm_tol(a: usize, c: usize) -> f64 {
    (8 * c + a.div_ceil(8) + 2) as f64 * U
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn hyper(gpu: &Gpu, lr: f64, lambda: f64) -> Tensor {
    gpu.upload_f32(&[4], &[lr as f32, lambda as f32, 0.0, 0.0]).unwrap()
}

/// A host group with f32-representable values uniform in [-1, 1).
pub(super) fn rand_group(rng: &mut Rng, units: usize, fan_in: usize, a: usize, c: usize) -> cpu::Group {
    cpu::Group {
        w: to_f64(&rng.vec(units * fan_in, -1.0, 1.0)),
        w_bias: to_f64(&rng.vec(units, -1.0, 1.0)),
        v: to_f64(&rng.vec(a * units * c, -1.0, 1.0)),
        v_bias: to_f64(&rng.vec(a, -1.0, 1.0)),
        units,
        fan_in,
        a,
        c,
    }
}

/// Multiplies unit i's v slice by an f32 factor (log-uniform in [0.1, 10]), so unit norms spread widely.
fn spread_v(rng: &mut Rng, g: &mut cpu::Group) {
    for i in 0..g.units {
        let s = (10f32).powf(rng.uniform(-1.0, 1.0));
        for r in 0..g.a {
            for k in 0..g.c {
                let j = g.vi(r, i, k);
                g.v[j] = (g.v[j] as f32 * s) as f64;
            }
        }
    }
}

fn zero_w_row(g: &mut cpu::Group, i: usize) {
    g.w[i * g.fan_in..(i + 1) * g.fan_in].fill(0.0);
}

fn zero_v_unit(g: &mut cpu::Group, i: usize) {
    for r in 0..g.a {
        for k in 0..g.c {
            let j = g.vi(r, i, k);
            g.v[j] = 0.0;
        }
    }
}

/// Uploads a host group with PyTorch-like shapes (v `[a, units]` or `[a, units, c]`).
fn upload(gpu: &Gpu, g: &cpu::Group) -> Group {
    let w = gpu.upload_f32(&[g.units, g.fan_in], &f32s(&g.w)).unwrap();
    let wb = gpu.upload_f32(&[g.units], &f32s(&g.w_bias)).unwrap();
    let vshape: Vec<usize> = if g.c == 1 { vec![g.a, g.units] } else { vec![g.a, g.units, g.c] };
    let v = gpu.upload_f32(&vshape, &f32s(&g.v)).unwrap();
    let vb = gpu.upload_f32(&[g.a], &f32s(&g.v_bias)).unwrap();
    let group = Group::new(&w, &wb, &v, &vb).unwrap();
    assert_eq!((group.units, group.fan_in, group.a, group.c), (g.units, g.fan_in, g.a, g.c));
    group
}

fn download(gpu: &Gpu, g: &Group) -> cpu::Group {
    let rd = |t: &Tensor| to_f64(&gpu.to_vec_f32(t).unwrap());
    cpu::Group { w: rd(&g.w), w_bias: rd(&g.w_bias), v: rd(&g.v), v_bias: rd(&g.v_bias), units: g.units, fan_in: g.fan_in, a: g.a, c: g.c }
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// A threshold between two consecutive unit norms near the median, with the widest ratio gap there, so
/// about half the units die and none lies within the kernels' norm error of τ (checked: margin > 1e-4).
fn choose_tau(norms: &[f64]) -> f64 {
    let mut ms: Vec<f64> = norms.iter().copied().filter(|&m| m > 0.0).collect();
    ms.sort_by(f64::total_cmp);
    let tau = match ms.len() {
        0 => 0.1,
        1 => ms[0] * 0.5,
        n => {
            let (lo, hi) = (n / 4, (3 * n / 4).max(n / 4 + 1).min(n - 1));
            let k = (lo..hi).max_by(|&i, &j| (ms[i + 1] / ms[i]).total_cmp(&(ms[j + 1] / ms[j]))).unwrap();
            (ms[k] * ms[k + 1]).sqrt()
        }
    };
    let margin = ms.iter().map(|m| (m / tau - 1.0).abs()).fold(f64::INFINITY, f64::min);
    assert!(margin > 1e-4, "test data too close to the threshold (margin {margin:e})");
    tau
}

// ---- SGD and lasso -------------------------------------------------------------------------------------

#[test]
fn sgd_update_by_hand() {
    on_each_gpu(|gpu| {
        let h = hyper(gpu, 0.1, 0.5);
        let g = gpu.upload_f32(&[4], &[0.5, 1.0, -1.0, 2.0]).unwrap();
        for (decay, want) in [(true, [0.9, -2.0, 0.575, -0.2]), (false, [0.95, -2.1, 0.6, -0.2])] {
            let theta = gpu.upload_f32(&[4], &[1.0, -2.0, 0.5, 0.0]).unwrap();
            let mut prog = Program::new();
            optim::sgd_update(gpu, &mut prog, &h, &g, &theta, decay).unwrap();
            gpu.run(&prog);
            // θ − γ(g + λθ) with γ = 0.1 rounded to f32: a few roundings of values ≤ 2.1.
            assert_close(&format!("sgd decay={decay}"), &gpu.to_vec_f32(&theta).unwrap(), &want, 1e-6, 1e-6);
        }
    });
}

#[test]
fn sgd_update_matches_cpu_and_follows_hyper() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(11);
        for &n in AWKWARD.iter().chain(&[70_001]) {
            for decay in [false, true] {
                let theta0 = rng.vec(n, -2.0, 2.0);
                let grad = rng.vec(n, -3.0, 3.0);
                let theta = gpu.upload_f32(&[n], &theta0).unwrap();
                let g = gpu.upload_f32(&[n], &grad).unwrap();
                let h = hyper(gpu, 0.3, 1e-2);
                let mut prog = Program::new();
                optim::sgd_update(gpu, &mut prog, &h, &g, &theta, decay).unwrap();
                gpu.run(&prog);
                let mut want = cpu::sgd_update(&to_f64(&theta0), &to_f64(&grad), 0.3f32 as f64, 1e-2f32 as f64, decay);
                // Four roundings (λθ, +g, ·γ, θ−) on values ≤ |θ| + γ(|g| + λ|θ|) ≤ 3: 4u·3 ≤ 1e-6.
                assert_close(&format!("sgd n={n} decay={decay}"), &gpu.to_vec_f32(&theta).unwrap(), &want, 1e-6, 0.0);
                // A schedule change is one write to `hyper`: the recorded program follows it.
                gpu.write_f32(&h, &[0.01, 0.5, 0.0, 0.0]).unwrap();
                gpu.run(&prog);
                want = cpu::sgd_update(&want.iter().map(|&x| x as f32 as f64).collect::<Vec<_>>(), &to_f64(&grad), 0.01f32 as f64, 0.5, decay);
                let got = gpu.to_vec_f32(&theta).unwrap();
                // Re-rounding the first result to f32 leaves the GPU's first-step error (≤ 1e-6) in the input.
                assert_close(&format!("sgd rerun n={n} decay={decay}"), &got, &want, 2.5e-6, 0.0);
            }
        }
    });
}

#[test]
fn lasso_grad_matches_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(12);
        for &n in AWKWARD.iter().chain(&[70_001]) {
            let mut theta = rng.vec(n, -1.0, 1.0);
            for i in (0..n).step_by(3) {
                theta[i] = 0.0; // sign(0) = 0
            }
            let grad = rng.vec(n, -1.0, 1.0);
            let (t, g) = (gpu.upload_f32(&[n], &theta).unwrap(), gpu.upload_f32(&[n], &grad).unwrap());
            let h = hyper(gpu, 0.1, 3e-3);
            let mut prog = Program::new();
            optim::lasso_grad(gpu, &mut prog, &h, &t, &g).unwrap();
            gpu.run(&prog);
            let want = cpu::lasso_grad(&to_f64(&theta), &to_f64(&grad), 3e-3f32 as f64);
            // One rounding of g ± λ (|·| ≤ 1.003): u·1.003; where θ = 0 the gradient is returned exactly.
            assert_close(&format!("lasso n={n}"), &gpu.to_vec_f32(&g).unwrap(), &want, 1.1 * U, 0.0);
        }
    });
}

// ---- PathProx step ---------------------------------------------------------------------------------------

#[test]
fn pathprox_step_by_hand() {
    on_each_gpu(|gpu| {
        // Unit 0: y = [3, 4] (norm 5), z = [0.03, 0.04] (norm 0.05 ≤ τ → 0).
        // Unit 1: y = [0, 0.5] (norm 0.5), z = [0.6, 0.8] (norm 1 → ×(1 − 0.1/1) = 0.9).
        let w = gpu.upload_f32(&[2, 2], &[3.0, 4.0, 0.0, 0.5]).unwrap();
        let wb = gpu.upload_f32(&[2], &[10.0, 1.0]).unwrap();
        let v = gpu.upload_f32(&[2, 2], &[0.03, 0.6, 0.04, 0.8]).unwrap(); // [a = 2, units = 2]
        let vb = gpu.upload_f32(&[2], &[5.0, -3.0]).unwrap();
        let group = Group::new(&w, &wb, &v, &vb).unwrap();
        let h = hyper(gpu, 0.5, 0.2); // τ = 0.1
        let mut prog = Program::new();
        optim::pathprox_step(gpu, &mut prog, &h, &group).unwrap();
        gpu.run(&prog);
        // Results of a division or two in f32: a few ulps of values ≤ 2.
        assert_close("w", &gpu.to_vec_f32(&w).unwrap(), &[0.6, 0.8, 0.0, 1.0], 5e-7, 5e-7);
        assert_close("w bias", &gpu.to_vec_f32(&wb).unwrap(), &[2.0, 2.0], 5e-7, 5e-7);
        let got_v = gpu.to_vec_f32(&v).unwrap();
        assert_eq!((got_v[0], got_v[2]), (0.0, 0.0), "dead unit must be exactly zero");
        assert_close("v", &got_v, &[0.0, 0.54, 0.0, 0.72], 5e-7, 5e-7);
        assert_eq!(gpu.to_vec_f32(&vb).unwrap(), vec![5.0, -3.0], "v bias is untouched");
    });
}

/// (units, fan_in, a, c): the awkward sizes of the brief, Linear (c = 1) and conv (c = 9) views, and the
/// kernels' paths: fan_in % 4 == 0 (w rows as whole vec4s) or not; units % 4 == 0 (v by unit quads, with
/// c = 1 or c > 1) or not (v by one invocation).
const SHAPES: &[(usize, usize, usize, usize)] = &[
    (1, 1, 1, 1),
    (7, 9, 10, 9),
    (33, 33, 33, 1),
    (401, 784, 10, 1),
    (33, 1, 1, 9),
    (7, 784, 33, 9),
    (1, 33, 10, 9),
    (400, 784, 33, 1),
    (4, 9, 1, 1),
    (12, 36, 10, 9),
    (8, 27, 7, 3),
];

#[test]
fn pathprox_step_matches_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(21);
        for &(units, fan_in, a, c) in SHAPES {
            let name = format!("units {units} fan_in {fan_in} a {a} c {c}");
            let mut host = rand_group(&mut rng, units, fan_in, a, c);
            spread_v(&mut rng, &mut host);
            if units > 1 {
                zero_w_row(&mut host, units - 1);
                zero_v_unit(&mut host, 0);
            }
            let norms: Vec<f64> = (0..units).map(|i| host.v_norm(i)).collect();
            let (lr, lambda) = (0.25f32 as f64, choose_tau(&norms) / (0.25f32 as f64));
            let lambda = lambda as f32 as f64;
            let tau = lr * lambda;
            let group = upload(gpu, &host);
            let mut prog = Program::new();
            optim::pathprox_step(gpu, &mut prog, &hyper(gpu, lr, lambda), &group).unwrap();
            gpu.run(&prog);
            let got = download(gpu, &group);
            let mut want = host.clone();
            cpu::pathprox_step(&mut want, lr, lambda);

            // w = y / n: the norm's error plus one division (w_norm_tol already holds u of slack).
            let tw = w_norm_tol(fan_in);
            assert_close(&format!("w {name}"), &f32s(&got.w), &want.w, 0.0, tw);
            assert_close(&format!("w bias {name}"), &f32s(&got.w_bias), &want.w_bias, 0.0, tw);
            for i in 0..units {
                let n = got.w_norm(i);
                // Zero rows stay zero; others lie on the sphere up to the norm's error and the rounding of each element.
                let want_n = if host.w_norm(i) > 0.0 { 1.0 } else { 0.0 };
                assert!((n - want_n).abs() <= tw + U, "{name}: ‖w_{i}‖ = {n}");
            }
            // v = (1 − τ/m)·z with τ/m < 1: the scale's error is at most the norm's plus 2u, so each element
            // is within (δ + 3u)·|z| ≤ (δ + 3u)·max|z|. Dead units must be exactly zero.
            let tv = (v_norm_tol(a, c) + 3.0 * U) * max_abs(&host.v);
            assert_close(&format!("v {name}"), &f32s(&got.v), &want.v, tv, 0.0);
            let mut dead = 0;
            for i in (0..units).filter(|&i| host.v_norm(i) <= tau) {
                dead += 1;
                for r in 0..a {
                    for k in 0..c {
                        assert!(got.v[got.vi(r, i, k)] == 0.0, "{name}: unit {i} must be exactly zero");
                    }
                }
            }
            assert!(units == 1 || (dead > 0 && dead < units), "{name}: test should have dead and live units ({dead})");
            assert_eq!(got.v_bias, host.v_bias, "{name}: v bias is untouched");
        }
    });
}

/// wd-wn's projection: w rows and their biases onto the sphere exactly as in the PathProx step, and v and
/// its bias bit-for-bit untouched (the kernel's v invocations are switched off, not just not launched: the
/// grid is rounded up to whole workgroups).
#[test]
fn project_w_matches_cpu_and_leaves_v_alone() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(22);
        for &(units, fan_in, a, c) in SHAPES {
            let name = format!("units {units} fan_in {fan_in} a {a} c {c}");
            let mut host = rand_group(&mut rng, units, fan_in, a, c);
            if units > 1 {
                zero_w_row(&mut host, units - 1);
            }
            let group = upload(gpu, &host);
            let mut prog = Program::new();
            optim::project_w(gpu, &mut prog, &hyper(gpu, 0.5, 0.5), &group).unwrap();
            gpu.run(&prog);
            let got = download(gpu, &group);
            let mut want = host.clone();
            cpu::project_w(&mut want);
            let tw = w_norm_tol(fan_in);
            assert_close(&format!("w {name}"), &f32s(&got.w), &want.w, 0.0, tw);
            assert_close(&format!("w bias {name}"), &f32s(&got.w_bias), &want.w_bias, 0.0, tw);
            assert_eq!(got.v, host.v, "{name}: v is untouched");
            assert_eq!(got.v_bias, host.v_bias, "{name}: v bias is untouched");
        }
    });
}

/// The largest groups of the models (MLP-3-800's, VGG19's 512-channel convs): llvmpipe silently stops an
/// invocation's loops after 65535 iterations in all, so per-invocation work must stay small at full size.
#[test]
fn pathprox_step_and_norms_at_model_sizes() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(23);
        for &(units, fan_in, a, c) in &[(800, 800, 800, 1), (512, 4608, 512, 9)] {
            let name = format!("units {units} fan_in {fan_in} a {a} c {c}");
            let host = rand_group(&mut rng, units, fan_in, a, c);
            let norms: Vec<f64> = (0..units).map(|i| host.v_norm(i)).collect();
            let lr = 0.1f32 as f64;
            let lambda = (choose_tau(&norms) / lr) as f32 as f64;
            let group = upload(gpu, &host);
            let out = gpu.empty(&[2 * units], DType::F32);
            gpu.poison(&out);
            let mut prog = Program::new();
            optim::unit_norms(gpu, &mut prog, &group, &out, 0).unwrap();
            optim::pathprox_step(gpu, &mut prog, &hyper(gpu, lr, lambda), &group).unwrap();
            gpu.run(&prog);
            // As in unit_norms_write_only_their_pairs.
            let want_norms: Vec<f64> = (0..units).flat_map(|i| [host.w_norm(i), host.v_norm(i)]).collect();
            let tn = w_norm_tol(fan_in).max(v_norm_tol(a, c));
            assert_close(&format!("norms {name}"), &gpu.to_vec_f32(&out).unwrap(), &want_norms, 0.0, tn);
            let got = download(gpu, &group);
            let mut want = host.clone();
            cpu::pathprox_step(&mut want, lr, lambda);
            // As in pathprox_step_matches_cpu.
            assert_close(&format!("w {name}"), &f32s(&got.w), &want.w, 0.0, w_norm_tol(fan_in));
            let tv = (v_norm_tol(a, c) + 3.0 * U) * max_abs(&host.v);
            assert_close(&format!("v {name}"), &f32s(&got.v), &want.v, tv, 0.0);
        }
    });
}

// ---- balancing -------------------------------------------------------------------------------------------

/// Group 1: w rows [3,4], [0,2] (norms 5, 2), v = [2, 3] → P = 16. Group 2: w [[0.5], [−0.25]],
/// v columns [0.6, 0.8], [0, 2] (norms 1, 2) → P = 1. P̄ = 4, s_1 = 1/4, s_2 = 1.
fn hand_groups(gpu: &Gpu) -> [Group; 2] {
    let g1 = Group::new(
        &gpu.upload_f32(&[2, 2], &[3.0, 4.0, 0.0, 2.0]).unwrap(),
        &gpu.upload_f32(&[2], &[1.0, -1.0]).unwrap(),
        &gpu.upload_f32(&[1, 2], &[2.0, 3.0]).unwrap(),
        &gpu.upload_f32(&[1], &[8.0]).unwrap(),
    )
    .unwrap();
    let g2 = Group::new(
        &gpu.upload_f32(&[2, 1], &[0.5, -0.25]).unwrap(),
        &gpu.upload_f32(&[2], &[0.4, 0.2]).unwrap(),
        &gpu.upload_f32(&[2, 2], &[0.6, 0.0, 0.8, 2.0]).unwrap(),
        &gpu.upload_f32(&[2], &[1.0, -1.0]).unwrap(),
    )
    .unwrap();
    [g1, g2]
}

#[test]
fn balance_by_hand() {
    on_each_gpu(|gpu| {
        let groups = hand_groups(gpu);
        let state = optim::balance_state(gpu, &groups);
        assert_eq!(state.len(), 4 * 2 + 2 * 4);
        gpu.poison(&state);
        let mut prog = Program::new();
        optim::balance(gpu, &mut prog, &groups, &state).unwrap();
        assert_eq!(prog.len(), 5, "2G + 1 dispatches");
        gpu.run(&prog);
        // exp/log of the geometric mean: a few ulps of f32 (the result is not exact); values ≤ 16.
        let t = 2e-6;
        let st = gpu.to_vec_f32(&state).unwrap();
        assert_close("factors", &st[..8], &[1.0, 0.25, 0.25, 16.0, 0.25, 4.0, 1.0, 1.0], t, t);
        assert_close("norms", &st[8..], &[5.0, 2.0, 2.0, 3.0, 0.5, 1.0, 0.25, 2.0], t, t);
        let [g1, g2] = &groups;
        let rd = |t: &Tensor| gpu.to_vec_f32(t).unwrap();
        assert_close("g1 w", &rd(&g1.w), &[3.0, 4.0, 0.0, 2.0], 0.0, 0.0);
        assert_close("g1 w bias", &rd(&g1.w_bias), &[1.0, -1.0], t, t);
        assert_close("g1 v", &rd(&g1.v), &[0.5, 0.75], t, t);
        assert_close("g1 v bias", &rd(&g1.v_bias), &[2.0], t, t);
        assert_close("g2 w", &rd(&g2.w), &[0.5, -0.25], 0.0, 0.0);
        assert_close("g2 w bias", &rd(&g2.w_bias), &[0.1, 0.05], t, t);
        assert_close("g2 v", &rd(&g2.v), &[2.4, 0.0, 3.2, 8.0], t, t);
        assert_close("g2 v bias", &rd(&g2.v_bias), &[1.0, -1.0], t, t);
    });
}

#[test]
fn pathprox_update_by_hand() {
    on_each_gpu(|gpu| {
        // Balancing as in balance_by_hand, then τ = 0.5·1.2 = 0.6:
        // g1: w rows → [0.6, 0.8], [0, 1]; w bias [1/5, −1/2]; v [0.5, 0.75] → [0 (0.5 ≤ τ), 0.75·(1 − 0.6/0.75)];
        // g2: w → [1], [−1]; w bias [0.1/0.5, 0.05/0.25]; v columns [2.4, 3.2] (norm 4) ×0.85, [0, 8] ×0.925.
        let groups = hand_groups(gpu);
        let state = optim::balance_state(gpu, &groups);
        let h = hyper(gpu, 0.5, 1.2);
        let mut prog = Program::new();
        optim::pathprox_update(gpu, &mut prog, &h, &groups, Some(&state)).unwrap();
        assert_eq!(prog.len(), 5, "2G + 1 dispatches");
        gpu.run(&prog);
        let t = 3e-6;
        let rd = |t: &Tensor| gpu.to_vec_f32(t).unwrap();
        let [g1, g2] = &groups;
        assert_close("g1 w", &rd(&g1.w), &[0.6, 0.8, 0.0, 1.0], t, t);
        assert_close("g1 w bias", &rd(&g1.w_bias), &[0.2, -0.5], t, t);
        let v1 = rd(&g1.v);
        assert_eq!(v1[0], 0.0);
        assert_close("g1 v", &v1, &[0.0, 0.15], t, t);
        assert_close("g1 v bias", &rd(&g1.v_bias), &[2.0], t, t);
        assert_close("g2 w", &rd(&g2.w), &[1.0, -1.0], t, t);
        assert_close("g2 w bias", &rd(&g2.w_bias), &[0.2, 0.2], t, t);
        assert_close("g2 v", &rd(&g2.v), &[2.04, 0.0, 2.72, 7.4], t, t);
        assert_close("g2 v bias", &rd(&g2.v_bias), &[1.0, -1.0], t, t);
    });
}

/// y = W4·relu(W3·relu(W2·relu(W1·x + b1) + b2) + b3) + b4 for groups (W1, W2), (W3, W4); x rows of `xs`.
fn model(g1: &cpu::Group, g2: &cpu::Group, xs: &[Vec<f64>]) -> Vec<f64> {
    let layer = |w: &[f64], b: &[f64], x: &[f64], relu: bool| -> Vec<f64> {
        let k = x.len();
        (0..b.len())
            .map(|o| {
                let s = b[o] + (0..k).map(|j| w[o * k + j] * x[j]).sum::<f64>();
                if relu { s.max(0.0) } else { s }
            })
            .collect()
    };
    xs.iter()
        .flat_map(|x| {
            let h = layer(&g1.w, &g1.w_bias, x, true);
            let h = layer(&g1.v, &g1.v_bias, &h, true);
            let h = layer(&g2.w, &g2.w_bias, &h, true);
            layer(&g2.v, &g2.v_bias, &h, false)
        })
        .collect()
}

#[test]
fn balance_keeps_the_network_function_and_equalizes_path_norms() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(31);
        // 5 → 7 → 4 → 6 → 3, ReLU after the first three layers; group 2's v scaled up so P_2 ≫ P_1.
        let g1 = rand_group(&mut rng, 7, 5, 4, 1);
        let mut g2 = rand_group(&mut rng, 6, 4, 3, 1);
        g2.v.iter_mut().for_each(|x| *x *= 8.0);
        let xs: Vec<Vec<f64>> = (0..10).map(|_| to_f64(&rng.vec(5, -2.0, 2.0))).collect();
        let before = model(&g1, &g2, &xs);
        let groups = [upload(gpu, &g1), upload(gpu, &g2)];
        let state = optim::balance_state(gpu, &groups);
        let mut prog = Program::new();
        optim::balance(gpu, &mut prog, &groups, &state).unwrap();
        gpu.run(&prog);
        let (a1, a2) = (download(gpu, &groups[0]), download(gpu, &groups[1]));
        // Each weight is scaled by an f32 factor with a few ulps of error (exp/log in the geometric mean,
        // a quotient, the product): the outputs, of size ≈ max|y|, move by ~1e-6 of it; 1e-5 allows margin.
        let scale = max_abs(&before);
        assert_close("network outputs", &f32s(&model(&a1, &a2, &xs)), &before, 1e-5 * scale, 0.0);
        let (p1, p2) = (g1.path_norm(), g2.path_norm());
        assert!(p2 > 4.0 * p1, "test needs unbalanced groups ({p1}, {p2})");
        let pbar = (p1 * p2).sqrt();
        // Path norms recomputed in f64 from the balanced f32 weights: the factor's error (above) again.
        assert_close("P after", &f32s(&[a1.path_norm(), a2.path_norm()]), &[pbar, pbar], 0.0, 1e-5);
    });
}

#[test]
fn balance_matches_cpu_on_awkward_groups() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(32);
        // Linear- and conv-shaped groups; the third of the second case has v = 0 (P clipped at 1e-6).
        let cases: &[&[(usize, usize, usize, usize)]] = &[
            &[(401, 784, 33, 1), (33, 401, 10, 1)],
            &[(7, 27, 7, 9), (1, 63, 33, 9), (33, 9, 1, 9), (1, 1, 1, 1), (7, 33, 10, 1)],
            &[(33, 9, 7, 9)],
        ];
        for (ci, case) in cases.iter().enumerate() {
            let mut hosts: Vec<cpu::Group> = case.iter().map(|&(u, f, a, c)| rand_group(&mut rng, u, f, a, c)).collect();
            for h in hosts.iter_mut() {
                spread_v(&mut rng, h);
            }
            if ci == 1 {
                hosts[2].v.fill(0.0);
            }
            let groups: Vec<Group> = hosts.iter().map(|h| upload(gpu, h)).collect();
            let state = optim::balance_state(gpu, &groups);
            gpu.poison(&state);
            let mut prog = Program::new();
            optim::balance(gpu, &mut prog, &groups, &state).unwrap();
            gpu.run(&prog);
            let mut want = hosts.clone();
            let (p_before, s) = cpu::balance(&mut want);
            let st = to_f64(&gpu.to_vec_f32(&state).unwrap());
            let gl = groups.len();
            // P_l: products of norms (each within its norm_tol) summed in 64 strided partials then 64 in
            // order: ≤ (⌈units/64⌉ + 64)·u more. The factors: exp/log and ≤ G sequential quotients, with
            // f32 exp/log accurate to a few ulps: 2e-5 relative covers 8 groups with margin.
            for l in 0..gl {
                let (h, pl) = (&hosts[l], p_before[l]);
                let tp = w_norm_tol(h.fan_in) + v_norm_tol(h.a, h.c) + (h.units.div_ceil(64) + 64) as f64 * U;
                assert_close(&format!("case {ci} P_{l}"), &[st[4 * l + 3] as f32], &[pl], 0.0, tp);
                let s_prev = if l == 0 { 1.0 } else { s[l - 1] };
                assert_close(&format!("case {ci} factors of group {l}"), &f32s(&st[4 * l..4 * l + 3]), &[s_prev, s[l] / s_prev, s[l]], 0.0, 2e-5);
            }
            for (l, (g, w)) in groups.iter().zip(&want).enumerate() {
                let got = download(gpu, g);
                // Each tensor is its input times one factor (see above) with one rounding.
                assert_close(&format!("case {ci} group {l} w"), &f32s(&got.w), &w.w, 0.0, 0.0);
                assert_close(&format!("case {ci} group {l} w bias"), &f32s(&got.w_bias), &w.w_bias, 0.0, 2e-5);
                assert_close(&format!("case {ci} group {l} v"), &f32s(&got.v), &w.v, 0.0, 2e-5);
                assert_close(&format!("case {ci} group {l} v bias"), &f32s(&got.v_bias), &w.v_bias, 0.0, 2e-5);
            }
            if ci != 1 {
                // Without clipping, every group ends at P̄ (the product of the P_l is invariant).
                let pbar = (p_before.iter().map(|p| p.ln()).sum::<f64>() / gl as f64).exp();
                let got: Vec<f32> = groups.iter().map(|g| download(gpu, g).path_norm() as f32).collect();
                assert_close(&format!("case {ci} P after"), &got, &vec![pbar; gl], 0.0, 2e-5);
            }
        }
    });
}

#[test]
fn pathprox_update_matches_balance_then_step() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(41);
        let shapes = [(401, 784, 33, 1), (400, 401, 10, 1), (8, 400, 10, 9), (7, 33, 10, 9)];
        let mut hosts: Vec<cpu::Group> = shapes.iter().map(|&(u, f, a, c)| rand_group(&mut rng, u, f, a, c)).collect();
        for h in hosts.iter_mut() {
            spread_v(&mut rng, h);
        }
        zero_w_row(&mut hosts[0], 3);
        zero_v_unit(&mut hosts[1], 5);
        // The reference: balancing, then projection + prox, each as docs/algorithm.md states it.
        let mut balanced = hosts.clone();
        cpu::balance(&mut balanced);
        let norms: Vec<f64> = balanced.iter().flat_map(|g| (0..g.units).map(|i| g.v_norm(i))).collect();
        let lr = 0.3f32 as f64;
        let lambda = (choose_tau(&norms) / lr) as f32 as f64;
        let mut want = balanced.clone();
        for g in want.iter_mut() {
            cpu::pathprox_step(g, lr, lambda);
        }

        let groups: Vec<Group> = hosts.iter().map(|h| upload(gpu, h)).collect();
        let state = optim::balance_state(gpu, &groups);
        let mut prog = Program::new();
        optim::pathprox_update(gpu, &mut prog, &hyper(gpu, lr, lambda), &groups, Some(&state)).unwrap();
        assert_eq!(prog.len(), 2 * groups.len() + 1);
        gpu.run(&prog);
        for (l, (g, (w, b))) in groups.iter().zip(want.iter().zip(&balanced)).enumerate() {
            let got = download(gpu, g);
            let tw = w_norm_tol(g.fan_in);
            assert_close(&format!("group {l} w"), &f32s(&got.w), &w.w, 0.0, tw);
            // The bias also carries its balancing factor's error (2e-5, see balance_matches_cpu_on_awkward_groups).
            assert_close(&format!("group {l} w bias"), &f32s(&got.w_bias), &w.w_bias, 0.0, tw + 2e-5);
            assert_close(&format!("group {l} v bias"), &f32s(&got.v_bias), &w.v_bias, 0.0, 2e-5);
            // v = (1 − τ/m)·f·z: as in pathprox_step_matches_cpu, plus the factor f's error, relative to
            // max|f·z| (the balanced z).
            let tv = (v_norm_tol(g.a, g.c) + 2e-5 + 3.0 * U) * max_abs(&b.v);
            assert_close(&format!("group {l} v"), &f32s(&got.v), &w.v, tv, 0.0);
            for (j, (&x, &y)) in got.v.iter().zip(&w.v).enumerate() {
                assert!(y != 0.0 || x == 0.0, "group {l}: v[{j}] = {x} should be exactly zero");
            }
        }
    });
}

#[test]
fn unit_norms_write_only_their_pairs() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(51);
        for &(units, fan_in, a, c) in SHAPES {
            let host = rand_group(&mut rng, units, fan_in, a, c);
            let group = upload(gpu, &host);
            let base = 5;
            let out = gpu.empty(&[base + 2 * units + 3], DType::F32);
            gpu.poison(&out);
            let mut prog = Program::new();
            optim::unit_norms(gpu, &mut prog, &group, &out, base).unwrap();
            gpu.run(&prog);
            let got = gpu.to_vec_f32(&out).unwrap();
            let want: Vec<f64> = (0..units).flat_map(|i| [host.w_norm(i), host.v_norm(i)]).collect();
            let name = format!("units {units} fan_in {fan_in} a {a} c {c}");
            let tol = w_norm_tol(fan_in).max(v_norm_tol(a, c));
            assert_close(&format!("norms {name}"), &got[base..base + 2 * units], &want, 0.0, tol);
            assert!(got[..base].iter().chain(&got[base + 2 * units..]).all(|x| x.is_nan()), "{name}: wrote outside its pairs");
        }
    });
}

// ---- penalties and the path norm ------------------------------------------------------------------------

#[test]
fn penalty_grads_match_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(61);
        for &(units, fan_in, a, c) in SHAPES {
            for path in [false, true] {
                let name = format!("path={path} units {units} fan_in {fan_in} a {a} c {c}");
                let mut host = rand_group(&mut rng, units, fan_in, a, c);
                spread_v(&mut rng, &mut host);
                if units > 2 {
                    zero_w_row(&mut host, 1);
                    zero_v_unit(&mut host, 2);
                }
                let gw0 = to_f64(&rng.vec(units * fan_in, -1.0, 1.0));
                let gv0 = to_f64(&rng.vec(a * units * c, -1.0, 1.0));
                let group = upload(gpu, &host);
                let gw = gpu.upload_f32(&[units, fan_in], &f32s(&gw0)).unwrap();
                let gv = gpu.upload_f32(&[a * units * c], &f32s(&gv0)).unwrap();
                let lambda = 3e-2f32 as f64;
                let h = hyper(gpu, 0.1, lambda);
                let mut prog = Program::new();
                if path {
                    optim::path_norm_grad(gpu, &mut prog, &h, &group, &gw, &gv).unwrap();
                } else {
                    optim::group_lasso_grad(gpu, &mut prog, &h, &group, &gw, &gv).unwrap();
                }
                gpu.run(&prog);
                let (mut want_w, mut want_v) = (gw0.clone(), gv0.clone());
                cpu::penalty_grad(&host, lambda, path, &mut want_w, &mut want_v);
                // The added term λ·k·x/n carries the norms' errors (both norms for the path norm) and ~4
                // roundings; the sum one more rounding of a value ≤ max|g| + max|term|.
                let added = |want: &[f64], g0: &[f64]| want.iter().zip(g0).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                let d = w_norm_tol(fan_in) + v_norm_tol(a, c) + 5.0 * U;
                let tw = d * added(&want_w, &gw0) + U * (1.0 + added(&want_w, &gw0));
                let tv = d * added(&want_v, &gv0) + U * (1.0 + added(&want_v, &gv0));
                assert_close(&format!("grad w {name}"), &gpu.to_vec_f32(&gw).unwrap(), &want_w, tw, 0.0);
                assert_close(&format!("grad v {name}"), &gpu.to_vec_f32(&gv).unwrap(), &want_v, tv, 0.0);
            }
        }
    });
}

/// A model keeps every gradient in one buffer, so the two gradients of a group are views of it (and in an
/// MLP whose every neuron is a unit, consecutive groups add into the same layer's gradient). Views that
/// share no vec4 must each get exactly their own sub-gradient, and the floats between them stay untouched.
#[test]
fn penalty_grads_into_views_of_one_buffer_match_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(67);
        for &(units, fan_in, a, c) in SHAPES {
            for path in [false, true] {
                let name = format!("path={path} units {units} fan_in {fan_in} a {a} c {c}");
                let host = rand_group(&mut rng, units, fan_in, a, c);
                let (lw, lv) = (units * fan_in, a * units * c);
                let at_v = lw.div_ceil(64) * 64;
                let total = at_v + lv.div_ceil(64) * 64;
                let init: Vec<f32> = (0..total).map(|i| if i < lw || (at_v..at_v + lv).contains(&i) { rng.uniform(-1.0, 1.0) } else { 777.0 }).collect();
                let grads = gpu.upload_f32(&[total], &init).unwrap();
                let (gw, gv) = (grads.view(0, &[units, fan_in]).unwrap(), grads.view(at_v, &[lv]).unwrap());
                let group = upload(gpu, &host);
                let lambda = 3e-2f32 as f64;
                let mut prog = Program::new();
                if path {
                    optim::path_norm_grad(gpu, &mut prog, &hyper(gpu, 0.1, lambda), &group, &gw, &gv).unwrap();
                } else {
                    optim::group_lasso_grad(gpu, &mut prog, &hyper(gpu, 0.1, lambda), &group, &gw, &gv).unwrap();
                }
                gpu.run(&prog);
                let (gw0, gv0) = (to_f64(&init[..lw]), to_f64(&init[at_v..at_v + lv]));
                let (mut want_w, mut want_v) = (gw0.clone(), gv0.clone());
                cpu::penalty_grad(&host, lambda, path, &mut want_w, &mut want_v);
                let got = gpu.to_vec_f32(&grads).unwrap();
                // As in penalty_grads_match_cpu.
                let added = |want: &[f64], g0: &[f64]| want.iter().zip(g0).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                let d = w_norm_tol(fan_in) + v_norm_tol(a, c) + 5.0 * U;
                let tw = d * added(&want_w, &gw0) + U * (1.0 + added(&want_w, &gw0));
                let tv = d * added(&want_v, &gv0) + U * (1.0 + added(&want_v, &gv0));
                assert_close(&format!("grad w {name}"), &got[..lw], &want_w, tw, 0.0);
                assert_close(&format!("grad v {name}"), &got[at_v..at_v + lv], &want_v, tv, 0.0);
                let gaps: Vec<f32> = got[lw..at_v].iter().chain(&got[at_v + lv..]).copied().collect();
                assert!(gaps.iter().all(|&x| x == 777.0), "{name}: wrote between the views");
            }
        }
    });
}

// ---- shape errors ---------------------------------------------------------------------------------------

fn err<T: std::fmt::Debug>(r: pathprox::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn optim_rejects_bad_shapes_and_aliasing() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let mut prog = Program::new();
    let h = hyper(gpu, 0.1, 0.1);
    let (a, b) = (gpu.zeros(&[5]), gpu.zeros(&[6]));

    // element-wise
    assert!(err(optim::sgd_update(gpu, &mut prog, &h, &a, &b, true)).contains("length mismatch"));
    assert!(err(optim::sgd_update(gpu, &mut prog, &h, &a, &a, true)).contains("share a buffer"));
    assert!(err(optim::sgd_update(gpu, &mut prog, &gpu.zeros(&[1]), &a, &gpu.zeros(&[5]), true)).contains("hyper"));
    let labels = gpu.upload_u32(&[5], &[0; 5]).unwrap();
    assert!(err(optim::lasso_grad(gpu, &mut prog, &h, &a, &labels)).contains("output must be F32, got U32"));
    assert!(err(optim::lasso_grad(gpu, &mut prog, &h, &a, &h.reshape(&[4]).unwrap())).contains("length mismatch"));

    // group views
    let w = gpu.zeros(&[4, 3]);
    let wb = gpu.zeros(&[4]);
    let v = gpu.zeros(&[2, 4]);
    let vb = gpu.zeros(&[2]);
    assert!(err(Group::new(&gpu.zeros(&[12]), &wb, &v, &vb)).contains("at least 2 dimensions"));
    assert!(err(Group::new(&w, &gpu.zeros(&[3]), &v, &vb)).contains("w bias"));
    assert!(err(Group::new(&w, &wb, &gpu.zeros(&[2, 3]), &vb)).contains("v has shape"));
    assert!(err(Group::new(&w, &wb, &v, &gpu.zeros(&[4]))).contains("v bias"));
    assert!(err(Group::new(&w, &wb, &gpu.zeros(&[4, 4]), &wb)).contains("overlap"));
    assert!(err(Group::with_views(&w, &wb, &v, &vb, 4, 3, 2, 0)).contains("empty"));
    let g = Group::new(&w, &wb, &v, &vb).unwrap();
    let mut bad = g.clone();
    bad.fan_in = 2;
    assert!(err(optim::pathprox_step(gpu, &mut prog, &h, &bad)).contains("cannot be viewed"));
    assert!(err(optim::pathprox_step(gpu, &mut prog, &gpu.zeros(&[1]), &g)).contains("hyper"));
    let mut aliased = g.clone();
    aliased.w_bias = h.clone();
    assert!(err(optim::pathprox_step(gpu, &mut prog, &h, &aliased)).contains("share a buffer"));

    // balancing
    let g2 = Group::new(&gpu.zeros(&[3, 2]), &gpu.zeros(&[3]), &gpu.zeros(&[4, 3]), &gpu.zeros(&[4])).unwrap();
    let groups = [g.clone(), g2.clone()];
    let state = optim::balance_state(gpu, &groups);
    assert!(err(optim::balance(gpu, &mut prog, &groups, &gpu.zeros(&[state.len() - 1]))).contains("state has"));
    assert!(err(optim::balance(gpu, &mut prog, &[], &state)).contains("groups"));
    assert!(err(optim::balance(gpu, &mut prog, &vec![g.clone(); 17], &state)).contains("groups"));
    assert!(err(optim::balance(gpu, &mut prog, &[g.clone(), g.clone()], &state)).contains("overlap"));
    assert!(err(optim::balance(gpu, &mut prog, &groups, &g2.v)).contains("shares a buffer with group 1"));
    assert!(err(optim::pathprox_update(gpu, &mut prog, &h, &groups, Some(&h))).contains("state"));
    assert!(err(optim::pathprox_update(gpu, &mut prog, &state, &groups, Some(&state))).contains("share a buffer"));
    assert!(err(optim::balance_apply(gpu, &mut prog, &g, 2, &gpu.zeros(&[8]))).contains("outside"));
    assert!(err(optim::unit_norms(gpu, &mut prog, &g, &gpu.zeros(&[8]), 1)).contains("do not fit"));

    // penalties
    assert!(err(optim::group_lasso_grad(gpu, &mut prog, &h, &g, &gpu.zeros(&[12]), &gpu.zeros(&[7]))).contains("do not match"));
    assert!(err(optim::path_norm_grad(gpu, &mut prog, &h, &g, &g.w, &gpu.zeros(&[8]))).contains("distinct"));
    let gv = gpu.zeros(&[8]);
    assert!(err(optim::group_lasso_grad(gpu, &mut prog, &gv, &g, &gpu.zeros(&[12]), &gv)).contains("distinct"));
    // Gradient views of one buffer must not share a vec4 (here: grad v starts inside grad w's last vec4).
    let grads = gpu.zeros(&[64]);
    let (gw_view, gv_view) = (grads.view(0, &[12]).unwrap(), grads.view(10, &[8]).unwrap());
    assert!(err(optim::group_lasso_grad(gpu, &mut prog, &h, &g, &gw_view, &gv_view)).contains("overlap"));
    assert!(prog.is_empty(), "nothing recorded by a failed call");
}
