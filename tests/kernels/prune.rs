//! Structural pruning (`src/ops/prune.rs`, `shaders/optim_prune.wgsl`). Exact: the kernels only test for
//! zeros and write zeros, so the GPU must match the CPU reference bit for bit (flags and values).

use crate::common::*;
use pathprox::gpu::{Gpu, Program, Tensor};
use pathprox::ops::optim::{cpu as ocpu, Group};
use pathprox::ops::prune::{self, cpu};

/// (units, fan_in, a, c): awkward sizes (units and fan_in not multiples of 4, c > 1 as in convs) and
/// MLP-3-800's.
const SHAPES: &[(usize, usize, usize, usize)] =
    &[(1, 1, 1, 1), (7, 9, 10, 9), (33, 33, 33, 1), (5, 7, 3, 1), (33, 1, 1, 9), (7, 784, 33, 9), (401, 784, 10, 1), (800, 800, 800, 1)];

/// Views of one buffer, as a model lays them out: each starts on a 64-float boundary and the gaps hold
/// sentinels that must survive (a kernel writing past a view's end would change them).
struct Packed {
    buf: Tensor,
    group: Group,
    /// (offset, len) of w, w bias, v, v bias in `buf`.
    at: [(usize, usize); 4],
}

const SENTINEL: f32 = 12345.0;

fn pack(gpu: &Gpu, g: &ocpu::Group) -> Packed {
    let lens = [g.w.len(), g.w_bias.len(), g.v.len(), g.v_bias.len()];
    let mut at = [(0, 0); 4];
    let mut off = 0;
    for (k, &n) in lens.iter().enumerate() {
        at[k] = (off, n);
        off += n.div_ceil(64) * 64;
    }
    let mut flat = vec![SENTINEL; off];
    for (k, src) in [&g.w, &g.w_bias, &g.v, &g.v_bias].into_iter().enumerate() {
        for (d, s) in flat[at[k].0..].iter_mut().zip(src.iter()) {
            *d = *s as f32;
        }
    }
    let buf = gpu.upload_f32(&[off], &flat).unwrap();
    let view = |k: usize, shape: &[usize]| buf.view(at[k].0, shape).unwrap();
    let vshape: Vec<usize> = if g.c == 1 { vec![g.a, g.units] } else { vec![g.a, g.units, g.c] };
    let group = Group::new(&view(0, &[g.units, g.fan_in]), &view(1, &[g.units]), &view(2, &vshape), &view(3, &[g.a])).unwrap();
    Packed { buf, group, at }
}

/// The group read back, and whether every float outside the four views is still the sentinel.
fn unpack(gpu: &Gpu, p: &Packed, like: &ocpu::Group) -> (ocpu::Group, bool) {
    let flat = gpu.to_vec_f32(&p.buf).unwrap();
    let part = |k: usize| to_f64(&flat[p.at[k].0..p.at[k].0 + p.at[k].1]);
    let mut inside = vec![false; flat.len()];
    for &(o, n) in &p.at {
        inside[o..o + n].fill(true);
    }
    let gaps_kept = flat.iter().zip(&inside).all(|(x, i)| *i || *x == SENTINEL);
    (ocpu::Group { w: part(0), w_bias: part(1), v: part(2), v_bias: part(3), ..like.clone() }, gaps_kept)
}

/// Random values with zeros planted: some units lose their w row (as −0.0, which counts as zero), some
/// their v slice, some single elements are zero (those units stay alive).
fn planted(rng: &mut Rng, units: usize, fan_in: usize, a: usize, c: usize) -> ocpu::Group {
    let mut g = super::optim::rand_group(rng, units, fan_in, a, c);
    for i in 0..units {
        match rng.below(6) {
            0 => g.w[i * fan_in..(i + 1) * fan_in].fill(-0.0),
            1 => {
                for r in 0..a {
                    for k in 0..c {
                        let j = g.vi(r, i, k);
                        g.v[j] = 0.0;
                    }
                }
            }
            2 => {
                // All but the last element of w and of v zero: alive, and found only at the end of each scan.
                g.w[i * fan_in..(i + 1) * fan_in - 1].fill(0.0);
                for r in 0..a {
                    for k in 0..c {
                        if (r, k) != (a - 1, c - 1) {
                            let j = g.vi(r, i, k);
                            g.v[j] = 0.0;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    g
}

fn upload_flags(gpu: &Gpu, alive: &[bool]) -> Tensor {
    gpu.upload_u32(&[alive.len()], &alive.iter().map(|&a| a as u32).collect::<Vec<_>>()).unwrap()
}

fn flags(gpu: &Gpu, t: &Tensor) -> Vec<bool> {
    gpu.to_vec_u32(t).unwrap().iter().map(|&x| x != 0).collect()
}

#[test]
fn prune_matches_cpu_and_writes_nothing_outside_its_views() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(81);
        for &(units, fan_in, a, c) in SHAPES {
            let name = format!("units {units} fan_in {fan_in} a {a} c {c}");
            let host = planted(&mut rng, units, fan_in, a, c);
            // Some units arrive already pruned (their weights still nonzero): they must be zeroed and stay dead.
            let alive0: Vec<bool> = (0..units).map(|_| rng.below(5) != 0).collect();
            let packed = pack(gpu, &host);
            let alive = upload_flags(gpu, &alive0);
            let mut prog = Program::new();
            prune::prune(gpu, &mut prog, &packed.group, &alive).unwrap();
            gpu.run(&prog);
            let mut want = host.clone();
            let mut want_alive = alive0.clone();
            cpu::prune(&mut want, &mut want_alive);
            assert_eq!(flags(gpu, &alive), want_alive, "{name}: flags");
            let (got, gaps_kept) = unpack(gpu, &packed, &host);
            assert!(gaps_kept, "{name}: wrote outside the views");
            // Exact, and with the same sign of zero (a pruned value becomes +0, a kept −0 stays −0).
            let bits = |v: &[f64]| v.iter().map(|x| (*x as f32).to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.w), bits(&want.w), "{name}: w");
            assert_eq!(bits(&got.w_bias), bits(&want.w_bias), "{name}: w bias");
            assert_eq!(bits(&got.v), bits(&want.v), "{name}: v");
            assert_eq!(got.v_bias, host.v_bias, "{name}: the v bias is not the unit's");
            if units >= 33 {
                let dead = want_alive.iter().filter(|a| !**a).count();
                assert!(dead > 0 && dead < units, "{name}: the test should prune some units and keep others ({dead})");
            }
        }
    });
}

#[test]
fn apply_alone_holds_host_chosen_units_at_zero_and_mask_only_lowers_flags() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(83);
        let host = planted(&mut rng, 33, 7, 5, 1);
        let chosen: Vec<bool> = (0..33).map(|i| i % 3 != 0).collect();
        let packed = pack(gpu, &host);
        let alive = upload_flags(gpu, &chosen);
        let mut prog = Program::new();
        prune::prune_apply(gpu, &mut prog, &packed.group, &alive).unwrap();
        gpu.run(&prog);
        assert_eq!(flags(gpu, &alive), chosen, "apply leaves the flags alone");
        let mut want = host.clone();
        cpu::prune_apply(&mut want, &chosen);
        let (got, _) = unpack(gpu, &packed, &host);
        assert_eq!((&got.w, &got.w_bias, &got.v), (&want.w, &want.w_bias, &want.v));

        // Refill every weight with nonzeros: a unit whose flag is down must not come back.
        let refill = ocpu::Group { w: vec![0.5; host.w.len()], v: vec![-0.5; host.v.len()], w_bias: vec![1.0; 33], ..host.clone() };
        let packed = pack(gpu, &refill);
        let mut prog = Program::new();
        prune::prune(gpu, &mut prog, &packed.group, &alive).unwrap();
        gpu.run(&prog);
        assert_eq!(flags(gpu, &alive), chosen);
        let (got, _) = unpack(gpu, &packed, &refill);
        for (i, (b, keep)) in got.w_bias.iter().zip(&chosen).enumerate() {
            assert_eq!(*b == 0.0, !keep, "unit {i}");
        }
    });
}

/// llvmpipe stops an invocation after 65,535 loop iterations in all: a unit whose only nonzero weights are
/// the last ones must still be found alive at the largest size the wrapper accepts.
#[test]
fn prune_mask_scans_whole_units_near_the_loop_limit() {
    on_each_gpu(|gpu| {
        let (units, fan_in, a) = (2, 40_000, 24_500); // fan_in + a = 64,500 iterations
        let mut w = vec![0.0f32; units * fan_in];
        w[fan_in - 1] = 1e-30; // unit 0: last element only (tiny, still nonzero)
        w[2 * fan_in - 1] = 1.0;
        let mut v = vec![0.0f32; a * units];
        v[(a - 1) * units] = -1e-30; // unit 0: last row only
        // unit 1: v all zero → pruned
        let g = Group::new(
            &gpu.upload_f32(&[units, fan_in], &w).unwrap(),
            &gpu.upload_f32(&[units], &[1.0, 1.0]).unwrap(),
            &gpu.upload_f32(&[a, units], &v).unwrap(),
            &gpu.upload_f32(&[a], &vec![0.0; a]).unwrap(),
        )
        .unwrap();
        let alive = upload_flags(gpu, &[true, true]);
        let mut prog = Program::new();
        prune::prune(gpu, &mut prog, &g, &alive).unwrap();
        gpu.run(&prog);
        assert_eq!(flags(gpu, &alive), vec![true, false]);
        assert_eq!(gpu.to_vec_f32(&g.w_bias).unwrap(), vec![1.0, 0.0]);
        let w_after = gpu.to_vec_f32(&g.w).unwrap();
        assert_eq!((w_after[fan_in - 1], w_after[2 * fan_in - 1]), (1e-30, 0.0));
    });
}

#[test]
fn prune_rejects_bad_flags_and_long_units() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let g = Group::new(&gpu.zeros(&[4, 3]), &gpu.zeros(&[4]), &gpu.zeros(&[2, 4]), &gpu.zeros(&[2])).unwrap();
    let mut prog = Program::new();
    let err = |r: pathprox::Result<()>| r.unwrap_err().to_string();
    assert!(err(prune::prune(gpu, &mut prog, &g, &gpu.zeros(&[4]))).contains("u32"));
    assert!(err(prune::prune(gpu, &mut prog, &g, &gpu.zeros_u32(&[3]))).contains("one flag per unit"));
    let long = Group::new(&gpu.zeros(&[1, 60_000]), &gpu.zeros(&[1]), &gpu.zeros(&[6_000, 1]), &gpu.zeros(&[6_000])).unwrap();
    assert!(err(prune::prune_mask(gpu, &mut prog, &long, &gpu.zeros_u32(&[1]))).contains("loop iterations"));
    assert!(prog.is_empty(), "nothing recorded by a failed call");
}
