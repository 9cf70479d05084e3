//! 3×3 conv (`src/ops/conv2d.rs`, `shaders/conv2d_*.wgsl`): every pass and kernel variant against the f64
//! reference, on shapes that break the tiles (1×1 images, odd sizes, channel counts around the subgroup
//! width), with NaN-poisoned outputs.
//!
//! Tolerance: each output is a sum of f32 products (K = Cin·9, Cout·9 or N·H·W terms, plus the bias).
//! f32 accumulation errs by at most K·eps·Σ|terms| in the worst case and by ~eps·Σ|terms| for the random
//! signs here, so every element must be within 1e-5·Σ|terms| of the reference, where Σ|terms| is the same
//! pass computed on absolute values (ReLU is 1-Lipschitz, so the bound holds after it too). An indexing or
//! padding mistake moves an element by one whole term, far more than that.

use crate::common::*;
use pathprox::gpu::{DType, Program};
use pathprox::ops::conv2d::{self, cpu, Algo, Dims, Tile, WgradAlgo};
use pathprox::Gpu;

const REL: f64 = 1e-5;

/// Fails unless |gpu − want| ≤ REL·mag elementwise (NaN fails).
fn assert_within(name: &str, gpu: &[f32], want: &[f64], mag: &[f64]) {
    assert_eq!(gpu.len(), want.len(), "{name}: length");
    // Written so that NaN (a skipped, poisoned element) counts as a mismatch.
    let within = |i: usize| (gpu[i] as f64 - want[i]).abs() <= REL * mag[i] + 1e-30;
    let bad: Vec<usize> = (0..want.len()).filter(|&i| !within(i)).collect();
    if !bad.is_empty() {
        let shown: Vec<String> = bad.iter().take(6).map(|&i| format!("[{i}] gpu {} cpu {} (Σ|terms| {})", gpu[i], want[i], mag[i])).collect();
        panic!("{name}: {} of {} elements differ; first: {}", bad.len(), want.len(), shown.join(", "));
    }
}

fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

/// Random inputs for one shape, on the host (f32 and f64) and the GPU.
struct Case {
    d: Dims,
    x: Vec<f64>,
    w: Vec<f64>,
    b: Vec<f64>,
    dy: Vec<f64>,
    xt: pathprox::Tensor,
    wt: pathprox::Tensor,
    bt: pathprox::Tensor,
    dyt: pathprox::Tensor,
}

impl Case {
    fn new(gpu: &Gpu, rng: &mut Rng, d: Dims) -> Case {
        let (x, w, b, dy) = (rng.vec(d.x_shape().iter().product(), -1.0, 1.0), rng.vec(d.w_shape().iter().product(), -1.0, 1.0), rng.vec(d.c_out, -1.0, 1.0), rng.vec(d.y_shape().iter().product(), -1.0, 1.0));
        Case {
            d,
            xt: gpu.upload_f32(&d.x_shape(), &x).unwrap(),
            wt: gpu.upload_f32(&d.w_shape(), &w).unwrap(),
            bt: gpu.upload_f32(&[d.c_out], &b).unwrap(),
            dyt: gpu.upload_f32(&d.y_shape(), &dy).unwrap(),
            x: to_f64(&x),
            w: to_f64(&w),
            b: to_f64(&b),
            dy: to_f64(&dy),
        }
    }

    fn run(&self, gpu: &Gpu, shape: &[usize], record: impl FnOnce(&mut Program, &pathprox::Tensor)) -> Vec<f32> {
        let out = gpu.empty(shape, DType::F32);
        gpu.poison(&out);
        let mut prog = Program::new();
        record(&mut prog, &out);
        gpu.run(&prog);
        gpu.to_vec_f32(&out).unwrap()
    }

    fn forward(&self, gpu: &Gpu, algo: Option<Algo>, bias: bool, relu: bool) {
        let d = &self.d;
        let got = self.run(gpu, &d.y_shape(), |prog, y| conv2d::forward_with(gpu, prog, &self.xt, &self.wt, bias.then_some(&self.bt), y, relu, algo).unwrap());
        let want = cpu::forward(d, &self.x, &self.w, bias.then_some(&self.b[..]), relu);
        let mag = cpu::forward(d, &abs(&self.x), &abs(&self.w), bias.then_some(&abs(&self.b)[..]), false);
        assert_within(&format!("forward {d:?} {algo:?} bias={bias} relu={relu}"), &got, &want, &mag);
    }

    fn backward_data(&self, gpu: &Gpu, algo: Option<Algo>) {
        let d = &self.d;
        let got = self.run(gpu, &d.x_shape(), |prog, dx| conv2d::backward_data_with(gpu, prog, &self.dyt, &self.wt, dx, algo).unwrap());
        let want = cpu::backward_data(d, &self.dy, &self.w);
        let mag = cpu::backward_data(d, &abs(&self.dy), &abs(&self.w));
        assert_within(&format!("backward_data {d:?} {algo:?}"), &got, &want, &mag);
    }

    fn backward_weight(&self, gpu: &Gpu, algo: Option<WgradAlgo>) {
        let d = &self.d;
        let got = self.run(gpu, &d.w_shape(), |prog, dw| conv2d::backward_weight_with(gpu, prog, &self.xt, &self.dyt, dw, algo).unwrap());
        let want = cpu::backward_weight(d, &self.x, &self.dy);
        let mag = cpu::backward_weight(d, &abs(&self.x), &abs(&self.dy));
        assert_within(&format!("backward_weight {d:?} {algo:?}"), &got, &want, &mag);
    }

    fn backward_bias(&self, gpu: &Gpu) {
        let d = &self.d;
        let got = self.run(gpu, &[d.c_out], |prog, db| conv2d::backward_bias(gpu, prog, &self.dyt, db).unwrap());
        assert_within(&format!("backward_bias {d:?}"), &got, &cpu::backward_bias(d, &self.dy), &cpu::backward_bias(d, &abs(&self.dy)));
    }
}

fn dims(n: usize, c_in: usize, c_out: usize, h: usize, w: usize) -> Dims {
    Dims { n, c_in, c_out, h, w }
}

/// 1×1 and 1-wide images, odd sizes, sizes just past the tiles; channels 1, around 8 and past 16.
fn awkward() -> Vec<Dims> {
    vec![dims(1, 1, 1, 1, 1), dims(2, 3, 7, 3, 5), dims(3, 5, 9, 7, 7), dims(1, 3, 9, 9, 4), dims(2, 19, 17, 5, 1), dims(3, 9, 3, 2, 11)]
}

#[test]
fn forward_every_variant_matches_cpu_on_awkward_shapes() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(31);
        for (i, d) in awkward().into_iter().enumerate() {
            let case = Case::new(gpu, &mut rng, d);
            for algo in Algo::all(gpu) {
                // Every epilogue on every variant, spread over the shapes to keep the test short.
                case.forward(gpu, Some(algo), i % 2 == 0, i % 3 != 1);
            }
            case.forward(gpu, Some(Algo::all(gpu)[0]), i % 2 == 1, i % 3 == 1);
        }
    });
}

#[test]
fn backward_data_every_variant_matches_cpu_on_awkward_shapes() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(32);
        for d in awkward() {
            let case = Case::new(gpu, &mut rng, d);
            for algo in Algo::all(gpu) {
                case.backward_data(gpu, Some(algo));
            }
        }
    });
}

#[test]
fn backward_weight_and_bias_match_cpu_on_awkward_shapes() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(33);
        for d in awkward() {
            let case = Case::new(gpu, &mut rng, d);
            for algo in WgradAlgo::all(gpu) {
                case.backward_weight(gpu, Some(algo));
            }
            case.backward_bias(gpu);
        }
    });
}

#[test]
fn tuned_choices_match_cpu_at_a_vgg_like_shape() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(34);
        let case = Case::new(gpu, &mut rng, dims(2, 16, 24, 8, 8));
        case.forward(gpu, None, true, true);
        case.backward_data(gpu, None);
        case.backward_weight(gpu, None);
        case.backward_bias(gpu);
    });
}

/// The implicit-GEMM kernels for hardware GPUs (never timed on CPU adapters, so forced here): the awkward
/// shapes, a shape across their 128-wide blocks of channels and pixels, odd reduction channels for the
/// 2-channel slices, and a weight gradient split into many chunks of pixels (partial sums in slots).
#[test]
fn gemm_kernels_match_cpu_on_awkward_shapes_and_across_blocks() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(37);
        let (conv, wgrad) = (Algo::Gemm { tm: 8, tn: 8, bkc: 1 }, WgradAlgo::Gemm { tm: 8, tn: 8 });
        let mut shapes = awkward();
        shapes.push(dims(2, 5, 130, 9, 9));
        for (i, d) in shapes.into_iter().enumerate() {
            let case = Case::new(gpu, &mut rng, d);
            case.forward(gpu, Some(conv), i % 2 == 0, i % 3 != 1);
            case.backward_data(gpu, Some(conv));
            case.backward_weight(gpu, Some(wgrad));
        }
        // The smaller blocks, and BKC = 2 over an odd number of reduction channels (3 forward, 7 backward).
        let case = Case::new(gpu, &mut rng, dims(2, 3, 7, 3, 5));
        for algo in [Algo::Gemm { tm: 8, tn: 4, bkc: 1 }, Algo::Gemm { tm: 4, tn: 4, bkc: 2 }] {
            case.forward(gpu, Some(algo), true, true);
            case.backward_data(gpu, Some(algo));
        }
        case.backward_weight(gpu, Some(WgradAlgo::Gemm { tm: 4, tn: 4 }));
        // 5,120 pixels: more than one chunk may sum (GEMM_MAX_PER_CHUNK), so partial sums go through slots.
        Case::new(gpu, &mut rng, dims(5, 2, 3, 32, 32)).backward_weight(gpu, Some(wgrad));
    });
}

/// N·H·W = 71,680 pixels: one invocation summing them all would pass llvmpipe's 65,535 loop iterations
/// and silently drop the rest (with 1-pixel tiles and no split this test fails: 53 of 54 weights differ).
/// The weight gradient must split the sum into chunks and still match; the bias gradient too.
#[test]
fn gradient_reductions_longer_than_the_loop_limit_match_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(35);
        let case = Case::new(gpu, &mut rng, dims(70, 2, 3, 32, 32));
        let one_pixel = Tile { b: 1, r: 1, w: 1 };
        case.backward_weight(gpu, Some(WgradAlgo::Register { tm: 1, tc: 1, tile: one_pixel }));
        if gpu.fixed_subgroup_size() == Some(8) {
            case.backward_weight(gpu, Some(WgradAlgo::Subgroup { tm: 1, tc: 1, tile: one_pixel }));
        }
        case.backward_bias(gpu);
    });
}

#[test]
fn images_are_split_to_fit_a_small_binding_limit() {
    // Storage bindings of 4 KiB force the batch into groups of images; results must not change.
    let adapter = pollster::block_on(pathprox::gpu::adapter::list(&Default::default())).into_iter().next().unwrap();
    let mut limits = adapter.limits();
    limits.max_storage_buffer_binding_size = 4096;
    let gpu = pollster::block_on(Gpu::from_adapter_with_limits(&adapter, limits)).unwrap();
    let mut rng = Rng::new(36);
    let case = Case::new(&gpu, &mut rng, dims(13, 3, 4, 8, 8)); // x: 768 B per image, y: 1 KiB per image
    // Portable variants (every adapter has them; this device compiles its own pipelines).
    let conv = Algo::Register { tm: 8, tile: Tile { b: 1, r: 1, w: 8 } };
    let wgrad = WgradAlgo::Register { tm: 4, tc: 2, tile: Tile { b: 1, r: 1, w: 8 } };
    let mut prog = Program::new();
    let y = gpu.empty(&case.d.y_shape(), DType::F32);
    conv2d::forward_with(&gpu, &mut prog, &case.xt, &case.wt, None, &y, false, Some(conv)).unwrap();
    assert!(prog.len() > 1, "expected the batch to be split");
    case.forward(&gpu, Some(conv), true, false);
    case.backward_data(&gpu, Some(conv));
    case.backward_weight(&gpu, Some(wgrad));
    case.backward_bias(&gpu);
}

#[test]
fn shape_errors_are_reported_not_panicked() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let mut prog = Program::new();
    let (x, w, y) = (gpu.zeros(&[2, 3, 5, 5]), gpu.zeros(&[4, 3, 3, 3]), gpu.zeros(&[2, 4, 5, 5]));
    let err = |r: pathprox::Result<()>| r.unwrap_err().to_string();
    let e = err(conv2d::forward(gpu, &mut prog, &x, &gpu.zeros(&[4, 2, 3, 3]), None, &y, false));
    assert!(e.contains("3 channels") && e.contains("expects 2"), "{e}");
    let e = err(conv2d::forward(gpu, &mut prog, &x, &gpu.zeros(&[4, 3, 5, 5]), None, &y, false));
    assert!(e.contains("[Cout, Cin, 3, 3]"), "{e}");
    let e = err(conv2d::forward(gpu, &mut prog, &x, &w, None, &gpu.zeros(&[2, 4, 5, 4]), false));
    assert!(e.contains("expected [2, 4, 5, 5]"), "{e}");
    let e = err(conv2d::forward(gpu, &mut prog, &x, &w, Some(&gpu.zeros(&[3])), &y, false));
    assert!(e.contains("bias"), "{e}");
    let e = err(conv2d::forward(gpu, &mut prog, &gpu.zeros(&[6, 25]), &w, None, &y, false));
    assert!(e.contains("4-D"), "{e}");
    let e = err(conv2d::forward(gpu, &mut prog, &gpu.zeros(&[0, 3, 5, 5]), &w, None, &gpu.zeros(&[0, 4, 5, 5]), false));
    assert!(e.contains("empty"), "{e}");
    let e = err(conv2d::forward(gpu, &mut prog, &gpu.zeros_u32(&[2, 3, 5, 5]), &w, None, &y, false));
    assert!(e.contains("f32"), "{e}");
    // Outputs that alias an input (here a view of the same buffer).
    let xy = gpu.zeros(&[2 * 3 * 25 + 2 * 4 * 25 + 64]);
    let (xv, yv) = (xy.view(0, &[2, 3, 5, 5]).unwrap(), xy.view(2 * 3 * 25 + 50, &[2, 4, 5, 5]).unwrap());
    let e = err(conv2d::forward(gpu, &mut prog, &xv, &w, None, &yv, false));
    assert!(e.contains("y must not share a buffer with x"), "{e}");
    let e = err(conv2d::backward_data(gpu, &mut prog, &y, &w, &gpu.zeros(&[2, 4, 5, 5])));
    assert!(e.contains("dx"), "{e}");
    let e = err(conv2d::backward_data(gpu, &mut prog, &y, &w, &w));
    assert!(e.contains("dx"), "{e}");
    let e = err(conv2d::backward_weight(gpu, &mut prog, &x, &y, &gpu.zeros(&[4, 3, 3, 2])));
    assert!(e.contains("dw must be [Cout, Cin, 3, 3]"), "{e}");
    let e = err(conv2d::backward_weight(gpu, &mut prog, &x, &gpu.zeros(&[2, 5, 5, 5]), &w));
    assert!(e.contains("dy is [2, 5, 5, 5]"), "{e}");
    let e = err(conv2d::backward_bias(gpu, &mut prog, &y, &gpu.zeros(&[3])));
    assert!(e.contains("db has shape [3]"), "{e}");
    let e = err(conv2d::backward_bias(gpu, &mut prog, &y, &y));
    assert!(e.contains("db"), "{e}");
    assert!(prog.is_empty());
}
