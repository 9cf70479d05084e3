//! Matmul (`src/ops/matmul.rs`, `shaders/matmul_*.wgsl`): every variant, form and epilogue against the f64
//! reference, on shapes that break the tiles.
//!
//! Tolerance: each output is a K-term f32 dot product of values in [-1, 1]; fma accumulation error is
//! bounded by ~K·eps·Σ|a·b| ≤ K·eps·K, but grows like √K in practice. We allow atol = 1e-6·K plus 1e-5
//! relative, ~10× the observed error at K = 401 and far below any indexing mistake (errors of O(1)).

use crate::common::*;
use pathprox::gpu::{DType, Program};
use pathprox::ops::matmul::{cpu, pack_panels, Algo, MatMul};

struct Case {
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
}

fn check(gpu: &pathprox::Gpu, rng: &mut Rng, case: &Case, algo: Option<Algo>, epilogue: bool) {
    let Case { m, n, k, trans_a, trans_b } = *case;
    let a = rng.vec(m * k, -1.0, 1.0);
    let b = rng.vec(k * n, -1.0, 1.0);
    let at = gpu.upload_f32(&if trans_a { [k, m] } else { [m, k] }, &a).unwrap();
    let bt = gpu.upload_f32(&if trans_b { [n, k] } else { [k, n] }, &b).unwrap();
    let mut want = cpu::matmul(&to_f64(&a), &to_f64(&b), m, n, k, trans_a, trans_b);
    let ct;
    let mut mm = MatMul { trans_a, trans_b, algo, ..MatMul::default() };
    let (bias, mask, old);
    if epilogue {
        bias = rng.vec(n, -1.0, 1.0);
        mask = rng.vec(m * n, -1.0, 1.0);
        old = rng.vec(m * n, -1.0, 1.0);
        ct = gpu.upload_f32(&[m, n], &old).unwrap();
        let (biast, maskt) = (gpu.upload_f32(&[n], &bias).unwrap(), gpu.upload_f32(&[m, n], &mask).unwrap());
        cpu::epilogue(&mut want, n, Some(&to_f64(&old)), Some(&to_f64(&bias)), true, Some(&to_f64(&mask)));
        mm = mm.accumulate().relu();
        let mut prog = Program::new();
        MatMul { bias: Some(&biast), mask: Some(&maskt), ..mm.clone() }.record(gpu, &mut prog, &at, &bt, &ct).unwrap();
        gpu.run(&prog);
    } else {
        ct = gpu.empty(&[m, n], DType::F32);
        gpu.poison(&ct);
        let mut prog = Program::new();
        mm.record(gpu, &mut prog, &at, &bt, &ct).unwrap();
        gpu.run(&prog);
    }
    let name = format!("matmul {m}x{n}x{k} ta={trans_a} tb={trans_b} {algo:?} epilogue={epilogue}");
    assert_close(&name, &gpu.to_vec_f32(&ct).unwrap(), &want, 1e-6 * k as f64, 1e-5);
}

#[test]
fn every_variant_and_form_matches_cpu_on_awkward_shapes() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(7);
        // The last three are for matmul_sg4, which needs multiples of 4 (`Algo::fits`): K % 8 == 4, and
        // M % 4 == 0 with K % 8 == 5 for its transposed A.
        let shapes = [(1, 1, 1), (7, 33, 9), (33, 7, 401), (200, 36, 17), (401, 12, 33), (9, 401, 8), (25, 64, 200), (37, 20, 52), (12, 44, 13), (20, 36, 4)];
        let mut sg4_cases = 0;
        for algo in Algo::all(gpu) {
            for &(m, n, k) in &shapes {
                for (trans_a, trans_b) in [(false, false), (true, false), (false, true)] {
                    if !algo.fits(trans_a, trans_b, m, n, k) {
                        continue;
                    }
                    sg4_cases += matches!(algo, Algo::Subgroup4 { .. }) as usize;
                    check(gpu, &mut rng, &Case { m, n, k, trans_a, trans_b }, Some(algo), false);
                }
            }
        }
        if gpu.fixed_subgroup_size() == Some(8) {
            assert!(sg4_cases >= 20, "only {sg4_cases} cases reached matmul_sg4");
        }
    });
}

/// matmul_gpu (the hardware-GPU kernel; the tuner never times it on CPU adapters, so it is forced here):
/// shapes around its 128-wide blocks and 8- or 16-deep slices, odd and multiple-of-4 extents (so both
/// the vec4 and the scalar loads of each operand run), every form, and the fused epilogue.
#[test]
fn gpu_tile_kernels_match_cpu_on_shapes_around_their_blocks() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(18);
        let big = Algo::GpuTile { tm: 8, tn: 8, bk: 8 };
        // Each distinct specialization costs a few seconds of compiling per adapter, so the shapes share
        // them: scalar loads of both operands in every form, vec4 loads of both, and one form of each
        // smaller block.
        type Forms = &'static [(bool, bool)];
        let cases: &[(Algo, (usize, usize, usize), Forms)] = &[
            (big, (129, 127, 33), &[(false, false), (true, false), (false, true)]),
            (big, (1, 1, 1), &[(false, false), (true, false), (false, true)]),
            (big, (128, 132, 20), &[(false, false), (true, false), (false, true)]),
            (Algo::GpuTile { tm: 8, tn: 4, bk: 8 }, (33, 65, 17), &[(false, true)]),
            (Algo::GpuTile { tm: 4, tn: 4, bk: 16 }, (68, 36, 44), &[(true, false)]),
        ];
        for &(algo, (m, n, k), forms) in cases {
            for &(trans_a, trans_b) in forms {
                check(gpu, &mut rng, &Case { m, n, k, trans_a, trans_b }, Some(algo), false);
            }
        }
        for (trans_a, trans_b) in [(false, false), (true, false), (false, true)] {
            check(gpu, &mut rng, &Case { m: 37, n: 21, k: 19, trans_a, trans_b }, Some(big), true);
        }
    });
}

#[test]
fn panels_copy_matches_cpu_in_both_forms_with_a_ragged_last_panel() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(11);
        for (k, n, width) in [(1, 1, 4), (7, 33, 32), (13, 64, 64), (5, 70, 64)] {
            for trans_b in [false, true] {
                let b = rng.vec(k * n, -1.0, 1.0);
                let bt = gpu.upload_f32(&if trans_b { [n, k] } else { [k, n] }, &b).unwrap();
                let (b_sk, b_sj) = if trans_b { (1, k) } else { (n, 1) };
                let (dispatch, panels) = pack_panels(gpu, &bt, k, n, b_sk, b_sj, width).unwrap();
                gpu.poison(&panels); // the zero padding must be written, not left over
                let mut prog = Program::new();
                prog.push(dispatch);
                gpu.run(&prog);
                let want = cpu::pack_panels(&to_f64(&b), k, n, trans_b, width);
                assert_close(&format!("panels k={k} n={n} width={width} tb={trans_b}"), &gpu.to_vec_f32(&panels).unwrap(), &want, 0.0, 0.0);
            }
        }
    });
}

#[test]
fn epilogue_accumulate_bias_relu_mask_matches_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(8);
        for algo in Algo::all(gpu) {
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true)] {
                // The second shape is one every variant can compute (matmul_sg4 needs multiples of 4).
                for (m, n, k) in [(37, 20, 19), (36, 20, 20)] {
                    if algo.fits(trans_a, trans_b, m, n, k) {
                        check(gpu, &mut rng, &Case { m, n, k, trans_a, trans_b }, Some(algo), true);
                    }
                }
            }
        }
    });
}

#[test]
fn tuned_choice_matches_cpu_at_task1_shapes() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(9);
        // The first layer of Task 1 (x·W1ᵀ), its weight gradient (dyᵀ·x) and the last layer's input gradient.
        for case in [Case { m: 200, n: 400, k: 784, trans_a: false, trans_b: true }, Case { m: 400, n: 784, k: 200, trans_a: true, trans_b: false }, Case { m: 200, n: 400, k: 10, trans_a: false, trans_b: false }] {
            check(gpu, &mut rng, &case, None, false);
        }
    });
}

#[test]
fn rows_are_split_to_fit_a_small_binding_limit() {
    // A device whose storage bindings hold 4 KiB forces M into chunks; results must not change.
    let adapter = pollster::block_on(pathprox::gpu::adapter::list(&Default::default())).into_iter().next().unwrap();
    let mut limits = adapter.limits();
    limits.max_storage_buffer_binding_size = 4096;
    let gpu = pollster::block_on(pathprox::Gpu::from_adapter_with_limits(&adapter, limits)).unwrap();
    let mut rng = Rng::new(10);
    let (m, n, k) = (300, 24, 40); // A is 48 KB, C 28.8 KB: ~12 chunks of rows
    let a = rng.vec(m * k, -1.0, 1.0);
    let b = rng.vec(k * n, -1.0, 1.0);
    let (at, bt, ct) = (gpu.upload_f32(&[m, k], &a).unwrap(), gpu.upload_f32(&[k, n], &b).unwrap(), gpu.empty(&[m, n], DType::F32));
    gpu.poison(&ct);
    let mut prog = Program::new();
    MatMul::new().algo(Algo::Register { tm: 16, tn: 8 }).record(&gpu, &mut prog, &at, &bt, &ct).unwrap();
    assert!(prog.len() > 1, "expected the rows to be split");
    gpu.run(&prog);
    let want = cpu::matmul(&to_f64(&a), &to_f64(&b), m, n, k, false, false);
    assert_close("split matmul", &gpu.to_vec_f32(&ct).unwrap(), &want, 1e-6 * k as f64, 1e-5);
    // A transposed A cannot be split by rows: a clear limit error instead.
    let at_t = gpu.upload_f32(&[k, m], &a).unwrap();
    let err = MatMul::new().trans_a().record(&gpu, &mut Program::new(), &at_t, &bt, &ct).unwrap_err().to_string();
    assert!(err.contains("too large to bind"), "{err}");
}

#[test]
fn shape_errors_are_reported_not_panicked() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let (a, b, c) = (gpu.zeros(&[3, 4]), gpu.zeros(&[5, 6]), gpu.zeros(&[3, 6]));
    let mut prog = Program::new();
    let e = MatMul::new().record(gpu, &mut prog, &a, &b, &c).unwrap_err().to_string();
    assert!(e.contains("inner dimensions differ"), "{e}");
    let b = gpu.zeros(&[4, 6]);
    let e = MatMul::new().record(gpu, &mut prog, &a, &b, &gpu.zeros(&[6, 3])).unwrap_err().to_string();
    assert!(e.contains("C is [6, 3]"), "{e}");
    let e = MatMul::new().bias(&gpu.zeros(&[5])).record(gpu, &mut prog, &a, &b, &c).unwrap_err().to_string();
    assert!(e.contains("bias"), "{e}");
    let e = MatMul::new().record(gpu, &mut prog, &a, &b, &a).unwrap_err().to_string();
    assert!(e.contains("C"), "{e}");
    let e = MatMul::new().record(gpu, &mut prog, &gpu.zeros(&[12]), &b, &c).unwrap_err().to_string();
    assert!(e.contains("2-D"), "{e}");
    // A variant forced on a shape it cannot compute (matmul_sg4 needs K % 4 == 0 here).
    let e = MatMul::new().algo(Algo::Subgroup4 { tm: 16, tn: 8 }).record(gpu, &mut prog, &gpu.zeros(&[3, 5]), &gpu.zeros(&[5, 6]), &c).unwrap_err().to_string();
    assert!(e.contains("cannot compute"), "{e}");
    assert!(prog.is_empty());
}
