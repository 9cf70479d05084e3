//! 2×2 max and average pooling, stride 2 (`src/ops/pool2d.rs`, `shaders/pool2d.wgsl`).
//!
//! Tolerances, from the arithmetic (u = 2^-24, the f32 unit roundoff):
//! - max forward and backward pick and copy f32 values: exact.
//! - avg backward is dy·¼, exact in binary floating point (the test values are far from underflow): exact.
//! - avg forward sums four f32 values (three roundings, each ≤ u times a partial sum ≤ Σ|x| in magnitude,
//!   whatever order the compiler adds them in), then multiplies by ¼ exactly: |Δy| ≤ ¾·u·Σ|x| per window,
//!   i.e. under 1 ulp of the largest input in the window. Checked per window against that bound.

use crate::common::*;
use pathprox::gpu::{adapter, AdapterChoice, DType, Gpu, Program, Tensor};
use pathprox::ops::pool2d::{self, cpu};

const U: f64 = f32::EPSILON as f64 / 2.0;
/// (H, W): the smallest plane, odd rows and columns, odd both, odd rows only, a larger odd×odd one.
const PLANES: &[(usize, usize)] = &[(2, 2), (3, 5), (7, 7), (9, 4), (33, 17)];

fn poisoned(gpu: &Gpu, shape: &[usize]) -> Tensor {
    let t = gpu.empty(shape, DType::F32);
    gpu.poison(&t);
    t
}

fn pooled(shape: [usize; 4]) -> [usize; 4] {
    [shape[0], shape[1], shape[2] / 2, shape[3] / 2]
}

/// The four kernels on x and dy of `shape` (x's), against the CPU references: max exact, avg backward
/// exact, avg forward within ¾·u·Σ|x| per window.
fn check_all(gpu: &Gpu, name: &str, shape: [usize; 4], x: &[f32], dy: &[f32]) -> usize {
    let ys = pooled(shape);
    let xt = gpu.upload_f32(&shape, x).unwrap();
    let dyt = gpu.upload_f32(&ys, dy).unwrap();
    let (ymax, yavg) = (poisoned(gpu, &ys), poisoned(gpu, &ys));
    let (dxmax, dxavg) = (poisoned(gpu, &shape), poisoned(gpu, &shape));
    let mut prog = Program::new();
    pool2d::max_forward(gpu, &mut prog, &xt, &ymax).unwrap();
    pool2d::max_backward(gpu, &mut prog, &xt, &dyt, &dxmax).unwrap();
    pool2d::avg_forward(gpu, &mut prog, &xt, &yavg).unwrap();
    pool2d::avg_backward(gpu, &mut prog, &dyt, &dxavg).unwrap();
    gpu.run(&prog);
    let (xs, dys) = (to_f64(x), to_f64(dy));
    let s = format!("{name} {shape:?}");
    assert_close(&format!("max_forward {s}"), &gpu.to_vec_f32(&ymax).unwrap(), &cpu::max_forward(&xs, shape), 0.0, 0.0);
    assert_close(&format!("max_backward {s}"), &gpu.to_vec_f32(&dxmax).unwrap(), &cpu::max_backward(&xs, &dys, shape), 0.0, 0.0);
    assert_close(&format!("avg_backward {s}"), &gpu.to_vec_f32(&dxavg).unwrap(), &cpu::avg_backward(&dys, shape), 0.0, 0.0);
    // Per-window bound: the mean of |x| over each window is avg_forward of |x|.
    let bound: Vec<f64> = cpu::avg_forward(&xs.iter().map(|v| v.abs()).collect::<Vec<_>>(), shape).iter().map(|m| 3.0 * U * m).collect();
    let got = gpu.to_vec_f32(&yavg).unwrap();
    let want = cpu::avg_forward(&xs, shape);
    // `is_nan() ||`: a NaN (poison left unwritten) fails.
    let bad: Vec<usize> = (0..want.len()).filter(|&i| got[i].is_nan() || (got[i] as f64 - want[i]).abs() > bound[i]).collect();
    assert!(bad.is_empty(), "avg_forward {s}: {} of {} differ; first [{}] gpu {} cpu {} bound {:e}", bad.len(), want.len(), bad[0], got[bad[0]], want[bad[0]], bound[bad[0]]);
    prog.len()
}

#[test]
fn pooling_matches_cpu_on_awkward_shapes() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(31);
        for n in 1..=3 {
            for c in [1, 3, 7] {
                for &(h, w) in PLANES {
                    let shape = [n, c, h, w];
                    let x = rng.vec(n * c * h * w, -1.0, 1.0);
                    let dy = rng.vec(n * c * (h / 2) * (w / 2), -1.0, 1.0);
                    check_all(gpu, "random", shape, &x, &dy);
                }
            }
        }
    });
}

#[test]
fn max_pool_ties_go_to_the_first_maximum() {
    on_each_gpu(|gpu| {
        // Hand-made windows (one plane of 2×8 = four windows), row-major (0,0),(0,1),(1,0),(1,1):
        // all equal → (0,0); a tie of (0,1) and (1,0) → (0,1); a tie of (1,0) and (1,1) → (1,0);
        // −0 and +0 compare equal → the first, −0, which forward must return with its sign.
        #[rustfmt::skip]
        let x = [
            2.0, 2.0,   0.0, 5.0,   1.0, 1.0,   -0.0, 0.0,
            2.0, 2.0,   5.0, 1.0,   3.0, 3.0,   0.0, -1.0,
        ];
        let dy = [10.0, 20.0, 30.0, 40.0];
        let xt = gpu.upload_f32(&[1, 1, 2, 8], &x).unwrap();
        let dyt = gpu.upload_f32(&[1, 1, 1, 4], &dy).unwrap();
        let (y, dx) = (poisoned(gpu, &[1, 1, 1, 4]), poisoned(gpu, &[1, 1, 2, 8]));
        let mut prog = Program::new();
        pool2d::max_forward(gpu, &mut prog, &xt, &y).unwrap();
        pool2d::max_backward(gpu, &mut prog, &xt, &dyt, &dx).unwrap();
        gpu.run(&prog);
        let y = gpu.to_vec_f32(&y).unwrap();
        assert_eq!(bits(&y), bits(&[2.0, 5.0, 3.0, -0.0]), "y {y:?}");
        #[rustfmt::skip]
        let want = [
            10.0, 0.0,   0.0, 20.0,   0.0, 0.0,   40.0, 0.0,
            0.0, 0.0,    0.0, 0.0,    30.0, 0.0,  0.0, 0.0,
        ];
        assert_eq!(gpu.to_vec_f32(&dx).unwrap(), want);

        // Random inputs of three values only, so most windows hold ties; the CPU reference follows the rule.
        let mut rng = Rng::new(32);
        let mut tied = 0;
        for &(h, w) in PLANES {
            let shape = [2, 3, h, w];
            let x: Vec<f32> = (0..6 * h * w).map(|_| rng.below(3) as f32 - 1.0).collect();
            let dy = rng.vec(6 * (h / 2) * (w / 2), 0.5, 1.0);
            check_all(gpu, "ties", shape, &x, &dy);
            tied += windows_with_ties(&x, shape);
        }
        assert!(tied > 100, "only {tied} windows with ties: the test data do not exercise the rule");
    });
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}

/// Windows whose maximum occurs more than once.
fn windows_with_ties(x: &[f32], [n, c, h, w]: [usize; 4]) -> usize {
    let mut tied = 0;
    for plane in 0..n * c {
        for oh in 0..h / 2 {
            for ow in 0..w / 2 {
                let i = plane * h * w + 2 * oh * w + 2 * ow;
                let v = [x[i], x[i + 1], x[i + w], x[i + w + 1]];
                let m = v.iter().cloned().fold(f32::MIN, f32::max);
                tied += (v.iter().filter(|&&e| e == m).count() > 1) as usize;
            }
        }
    }
    tied
}

#[test]
fn max_pool_propagates_nan_like_pytorch() {
    on_each_gpu(|gpu| {
        // A NaN in each window position (the first window holds two: the first wins), and a NaN in the dropped column (ignored).
        #[rustfmt::skip]
        let x = [
            f32::NAN, 1.0,   1.0, f32::NAN,   0.0, 0.0,        0.0, 0.0,        f32::NAN,
            0.0, f32::NAN,   0.0, 9.0,        f32::NAN, 9.0,   9.0, f32::NAN,   0.0,
        ];
        let shape = [1, 1, 2, 9];
        let dy = [10.0, 20.0, 30.0, 40.0];
        let xt = gpu.upload_f32(&shape, &x).unwrap();
        let dyt = gpu.upload_f32(&[1, 1, 1, 4], &dy).unwrap();
        // Finite sentinels rather than NaN poison, so that an unwritten y cannot pass for a NaN one.
        let y = gpu.upload_f32(&[1, 1, 1, 4], &[7777.0; 4]).unwrap();
        let dx = gpu.upload_f32(&shape, &[7777.0; 18]).unwrap();
        let mut prog = Program::new();
        pool2d::max_forward(gpu, &mut prog, &xt, &y).unwrap();
        pool2d::max_backward(gpu, &mut prog, &xt, &dyt, &dx).unwrap();
        gpu.run(&prog);
        let y = gpu.to_vec_f32(&y).unwrap();
        assert!(y.iter().all(|v| v.is_nan()), "y {y:?}");
        assert!(cpu::max_forward(&to_f64(&x), shape).iter().all(|v| v.is_nan()));
        #[rustfmt::skip]
        let want = [
            10.0, 0.0,   0.0, 20.0,   0.0, 0.0,    0.0, 0.0,    0.0,
            0.0, 0.0,    0.0, 0.0,    30.0, 0.0,   0.0, 40.0,   0.0,
        ];
        assert_eq!(gpu.to_vec_f32(&dx).unwrap(), want);
        assert_eq!(cpu::max_backward(&to_f64(&x), &to_f64(&dy), shape), want.map(f64::from));
    });
}

/// One device per adapter under test, with lowered limits (to force splitting on small data).
fn limited_gpus(change: impl Fn(&mut wgpu::Limits)) -> Vec<Gpu> {
    let mut choice = AdapterChoice::default();
    if let Ok(b) = std::env::var("PATHPROX_TEST_BACKENDS") {
        choice = choice.with_backend_names(&b).unwrap();
    }
    let adapters = pollster::block_on(adapter::list(&choice));
    assert!(!adapters.is_empty());
    adapters
        .iter()
        .map(|a| {
            let mut limits = a.limits();
            change(&mut limits);
            pollster::block_on(Gpu::from_adapter_with_limits(a, limits)).unwrap()
        })
        .collect()
}

#[test]
fn planes_are_split_to_fit_a_small_binding() {
    // Bindings of 4096 floats: 7 planes of 33×17 (561 floats, odd, so chunk starts need aligning) per chunk.
    for gpu in &limited_gpus(|l| l.max_storage_buffer_binding_size = 4096 * 4) {
        let mut rng = Rng::new(33);
        for shape in [[3, 7, 33, 17], [7, 3, 9, 45], [3, 3, 63, 63]] {
            let x = rng.vec(shape.iter().product(), -1.0, 1.0);
            let dy = rng.vec(pooled(shape).iter().product(), -1.0, 1.0);
            let dispatches = check_all(gpu, "small bindings", shape, &x, &dy);
            assert!(dispatches > 4, "{shape:?}: {dispatches} dispatches, expected the planes split");
        }
        // A plane larger than a binding cannot be split: a limit error, and nothing recorded.
        let x = gpu.zeros(&[1, 2, 65, 65]);
        let mut prog = Program::new();
        let err = pool2d::max_forward(gpu, &mut prog, &x, &gpu.zeros(&[1, 2, 32, 32])).unwrap_err().to_string();
        assert!(err.contains("does not fit"), "{err}");
        assert!(prog.is_empty());
    }
}

#[test]
fn grids_fold_and_split_past_the_workgroup_limit() {
    // 4 workgroups per dimension: [3, 7, 33, 17] needs 11 workgroups (folded to 4×3, the last row partly
    // idle); [3, 7, 63, 65] needs 21·31·32/256 = 82 > 4·4, so its planes are split as well.
    for gpu in &limited_gpus(|l| l.max_compute_workgroups_per_dimension = 4) {
        let mut rng = Rng::new(34);
        for (shape, split) in [([3, 7, 33, 17], false), ([3, 7, 63, 65], true)] {
            let x = rng.vec(shape.iter().product(), -1.0, 1.0);
            let dy = rng.vec(pooled(shape).iter().product(), -1.0, 1.0);
            let dispatches = check_all(gpu, "small grids", shape, &x, &dy);
            assert_eq!(dispatches > 4, split, "{shape:?}: {dispatches} dispatches");
        }
        let err = pool2d::avg_forward(gpu, &mut Program::new(), &gpu.zeros(&[1, 1, 130, 130]), &gpu.zeros(&[1, 1, 65, 65])).unwrap_err().to_string();
        assert!(err.contains("does not fit"), "{err}");
    }
}

#[test]
fn shape_errors_are_reported_not_panicked() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let mut prog = Program::new();
    let x = gpu.zeros(&[2, 3, 5, 4]);
    let y = gpu.zeros(&[2, 3, 2, 2]);
    let msg = |r: pathprox::Result<()>| r.unwrap_err().to_string();

    let e = msg(pool2d::max_forward(gpu, &mut prog, &gpu.zeros(&[6, 5, 4]), &y));
    assert!(e.contains("4-D"), "{e}");
    let e = msg(pool2d::avg_forward(gpu, &mut prog, &gpu.zeros(&[2, 3, 1, 4]), &gpu.zeros(&[2, 3, 0, 2])));
    assert!(e.contains("H, W ≥ 2"), "{e}");
    let e = msg(pool2d::max_forward(gpu, &mut prog, &gpu.zeros(&[2, 3, 4, 1]), &gpu.zeros(&[2, 3, 2, 0])));
    assert!(e.contains("H, W ≥ 2"), "{e}");
    // y rounded up instead of down, and a y with the right length but the wrong shape.
    let e = msg(pool2d::max_forward(gpu, &mut prog, &x, &gpu.zeros(&[2, 3, 3, 2])));
    assert!(e.contains("[2, 3, 2, 2] expected"), "{e}");
    let e = msg(pool2d::avg_forward(gpu, &mut prog, &x, &gpu.zeros(&[2, 3, 4, 1])));
    assert!(e.contains("[2, 3, 2, 2] expected"), "{e}");
    let e = msg(pool2d::avg_backward(gpu, &mut prog, &gpu.zeros(&[2, 3, 2, 3]), &x));
    assert!(e.contains("dy is [2, 3, 2, 3]"), "{e}");
    let e = msg(pool2d::max_backward(gpu, &mut prog, &x, &y, &gpu.zeros(&[2, 3, 4, 5])));
    assert!(e.contains("dx is"), "{e}");
    let e = msg(pool2d::max_forward(gpu, &mut prog, &gpu.zeros_u32(&[2, 3, 5, 4]), &y));
    assert!(e.contains("f32"), "{e}");

    // Outputs sharing a buffer with an input (even disjoint views of it).
    let e = msg(pool2d::max_forward(gpu, &mut prog, &x, &x.view(0, &[2, 3, 2, 2]).unwrap()));
    assert!(e.contains("share a buffer"), "{e}");
    let dx = gpu.zeros(&[2, 3, 5, 4]);
    let e = msg(pool2d::max_backward(gpu, &mut prog, &x, &y, &x));
    assert!(e.contains("share a buffer"), "{e}");
    let e = msg(pool2d::max_backward(gpu, &mut prog, &x, &dx.view(0, &[2, 3, 2, 2]).unwrap(), &dx));
    assert!(e.contains("share a buffer"), "{e}");
    let e = msg(pool2d::avg_backward(gpu, &mut prog, &dx.view(0, &[2, 3, 2, 2]).unwrap(), &dx));
    assert!(e.contains("share a buffer"), "{e}");
    assert!(prog.is_empty());

    // No planes: nothing to do, nothing recorded.
    pool2d::max_forward(gpu, &mut prog, &gpu.zeros(&[0, 3, 4, 4]), &gpu.zeros(&[0, 3, 2, 2])).unwrap();
    assert!(prog.is_empty());
}
