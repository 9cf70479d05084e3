//! The Task-1 training step of `pathprox bench`, in Burn 0.22 on its wgpu backend, for a same-adapter
//! comparison (issue 7). Same model, batch, data path and updates as `benches/torch_task1_step.py`:
//!
//! MLP-3-400 factorized, 784→400→400→400→400→400→10, ReLU after layers 1, 3, 5 (1-based); batch 200
//! selected on the device from a resident set of 1000 u8 images (and labels) by an index tensor,
//! normalised ((x/255 − 0.1307)/0.3081); mean softmax cross-entropy (burn-nn's `CrossEntropyLoss`);
//! then either
//!   wd:       θ ← θ − lr(∇L + λθ) on the weights, b ← b − lr∇L on the biases (lr 0.3, λ 1e-4), or
//!   pathprox: SGD on CE, layer-wise balancing, each unit's w projected to the unit sphere (its bias
//!             alike), the group soft-threshold of its v — all on the device, no host read-back.
//!
//! Weights are stored `[in, out]` (as `burn::nn::Linear` does), so a layer is `x·W + b`.
//! Timing: warm-up of 20 steps (reported: it includes shader compilation / first dispatches), then the
//! best of three runs of N steps, each run ending with `Device::sync` plus a read of the last loss.
//!
//! Usage: burn_task1 [--steps N] [--method wd|pathprox|both] [--api vulkan|auto]

use std::time::Instant;

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::tensor::activation::relu;
use burn::tensor::{DType, Device, Distribution, Int, Tensor, TensorData};

const WIDTHS: [usize; 7] = [784, 400, 400, 400, 400, 400, 10];
const RELU_AFTER: [bool; 6] = [true, false, true, false, true, false];
const GROUPS: [(usize, usize); 3] = [(0, 1), (2, 3), (4, 5)];
const LR: f32 = 0.3;
const LAMBDA: f32 = 1e-4;
const BATCH: usize = 200;
const ROWS: usize = 1000;
const WARMUP: usize = 20;

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Wd,
    PathProx,
}

struct Data {
    /// Resident training images, `[ROWS, 784]`, u8 where the device supports it.
    images: Tensor<2, Int>,
    /// Resident labels, `[ROWS]`.
    labels: Tensor<1, Int>,
    /// Batch indices for every step, `[steps + WARMUP, BATCH]`, resident.
    order: Tensor<2, Int>,
}

struct Params {
    ws: Vec<Tensor<2>>,
    bs: Vec<Tensor<1>>,
}

/// Xorshift, so the data and the batch order need no extra crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn init(dev: &Device) -> Params {
    let (mut ws, mut bs) = (Vec::new(), Vec::new());
    for i in 0..6 {
        let bound = 1.0 / (WIDTHS[i] as f64).sqrt();
        ws.push(Tensor::random([WIDTHS[i], WIDTHS[i + 1]], Distribution::Uniform(-bound, bound), dev));
        bs.push(Tensor::random([WIDTHS[i + 1]], Distribution::Uniform(-bound, bound), dev));
    }
    Params { ws, bs }
}

fn loss_of(ws: &[Tensor<2>], bs: &[Tensor<1>], data: &Data, idx: Tensor<1, Int>, ce: &CrossEntropyLoss) -> Tensor<1> {
    let x = data.images.clone().select(0, idx.clone()).float();
    let mut x = (x / 255.0 - 0.1307) / 0.3081;
    for i in 0..6 {
        x = x.matmul(ws[i].clone()) + bs[i].clone().unsqueeze::<2>();
        if RELU_AFTER[i] {
            x = relu(x);
        }
    }
    ce.forward(x, data.labels.clone().select(0, idx))
}

/// Σ_j ‖w_j‖·‖v_j‖ of a group, as a `[1]` tensor, floored at 1e-6. Burn layout: unit j's w is column j
/// of W_a `[in, hidden]`, its v is row j of W_b `[hidden, out]`.
fn group_product(wa: &Tensor<2>, wb: &Tensor<2>) -> Tensor<1> {
    let nw = wa.clone().powi_scalar(2).sum_dim(0).sqrt(); // [1, hidden]
    let nv = wb.clone().powi_scalar(2).sum_dim(1).sqrt(); // [hidden, 1]
    (nw.reshape([-1]) * nv.reshape([-1])).sum().clamp_min(1e-6)
}

/// One training step; returns the loss (not read back).
fn step(p: &mut Params, data: &Data, s: usize, method: Method, ad: &Device, ce: &CrossEntropyLoss) -> Tensor<1> {
    let idx: Tensor<1, Int> = data.order.clone().narrow(0, s, 1).reshape([BATCH as i64]);
    let ws: Vec<Tensor<2>> = p.ws.iter().map(|w| w.clone().autodiff().require_grad()).collect();
    let bs: Vec<Tensor<1>> = p.bs.iter().map(|b| b.clone().autodiff().require_grad()).collect();
    let _ = ad;
    let loss = loss_of(&ws, &bs, data, idx, ce);
    let mut grads = loss.backward();
    for i in 0..6 {
        let gw = ws[i].grad_remove(&mut grads).expect("weight gradient");
        let gb = bs[i].grad_remove(&mut grads).expect("bias gradient");
        let w = p.ws[i].clone();
        p.ws[i] = match method {
            Method::Wd => w * (1.0 - LR * LAMBDA) - gw * LR,
            Method::PathProx => w - gw * LR,
        };
        p.bs[i] = p.bs[i].clone() - gb * LR;
    }
    if method == Method::PathProx {
        // Balancing: every group to the geometric mean of the groups' Σ‖w‖‖v‖ (products before it).
        let prods: Vec<Tensor<1>> = GROUPS.iter().map(|&(a, b)| group_product(&p.ws[a], &p.ws[b])).collect();
        let mean = (prods.iter().map(|q| q.clone().log()).reduce(|x, y| x + y).unwrap() / GROUPS.len() as f32).exp();
        for (g, &(a, b)) in GROUPS.iter().enumerate() {
            let pg = group_product(&p.ws[a], &p.ws[b]);
            let sc = mean.clone() / pg; // [1]
            p.ws[b] = p.ws[b].clone() * sc.clone().unsqueeze::<2>();
            p.bs[b] = p.bs[b].clone() * sc.clone();
            if g + 1 < GROUPS.len() {
                let (a2, b2) = GROUPS[g + 1];
                p.bs[a2] = p.bs[a2].clone() * sc.clone();
                p.ws[b2] = p.ws[b2].clone() / sc.unsqueeze::<2>();
            }
        }
        for &(a, b) in GROUPS.iter() {
            let n = p.ws[a].clone().powi_scalar(2).sum_dim(0).sqrt().clamp_min(1e-6); // [1, hidden]
            p.ws[a] = p.ws[a].clone() / n.clone();
            p.bs[a] = p.bs[a].clone() / n.reshape([-1]);
            let z = p.ws[b].clone().powi_scalar(2).sum_dim(1).sqrt(); // [hidden, 1]
            let shrink = (z.clamp_min(1e-30).recip() * (-LR * LAMBDA) + 1.0).clamp_min(0.0);
            p.ws[b] = p.ws[b].clone() * shrink;
        }
    }
    loss
}

fn bench(dev: &Device, ad: &Device, data: &Data, method: Method, steps: usize) -> (f64, f64, f32) {
    let ce = CrossEntropyLossConfig::new().init(ad);
    let mut p = init(dev);
    let t = Instant::now();
    let mut loss = None;
    for s in 0..WARMUP {
        loss = Some(step(&mut p, data, s, method, ad, &ce));
    }
    dev.sync().expect("sync");
    let mut last: f32 = loss.unwrap().into_scalar::<f32>();
    let warm = t.elapsed().as_secs_f64();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let mut loss = None;
        for s in 0..steps {
            loss = Some(step(&mut p, data, WARMUP + s, method, ad, &ce));
        }
        dev.sync().expect("sync");
        last = loss.unwrap().into_scalar::<f32>();
        best = best.min(t.elapsed().as_secs_f64() / steps as f64);
    }
    (best, warm, last)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.into())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let steps: usize = arg("--steps").map_or(100, |s| s.parse().expect("--steps N"));
    let methods = match arg("--method").as_deref().unwrap_or("both") {
        "wd" => vec![Method::Wd],
        "pathprox" => vec![Method::PathProx],
        _ => vec![Method::Wd, Method::PathProx],
    };
    let api = match arg("--api").as_deref().unwrap_or("vulkan") {
        "auto" => burn::tensor::wgpu::WgpuBackend::Auto,
        _ => burn::tensor::wgpu::WgpuBackend::Vulkan,
    };

    let t0 = Instant::now();
    let (dev, setup) = Device::wgpu_options().graphics_api(api).init_with_setup().expect("wgpu init");
    let info = setup.adapter.get_info();
    println!(
        "Burn 0.22.0 wgpu backend ({}{}), adapter: {} ({:?}, driver {} {}), init {:.2} s",
        if cfg!(feature = "fusion") { "fusion" } else { "no fusion" },
        if cfg!(feature = "autotune") { ", autotune" } else { "" },
        info.name,
        info.backend,
        info.driver,
        info.driver_info,
        t0.elapsed().as_secs_f64()
    );
    println!("host CPU: {}", cpu_model());
    let ad = dev.clone().autodiff();

    // Resident data: u8 images where the device supports u8 tensors, else i32.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let images: Vec<u8> = (0..ROWS * 784).map(|_| (rng.next() >> 56) as u8).collect();
    let img_dtype = if dev.supports_dtype(DType::U8) { DType::U8 } else { DType::I32 };
    let images = match img_dtype {
        DType::U8 => Tensor::<2, Int>::from_data(TensorData::new(images, [ROWS, 784]), (&dev, DType::U8)),
        _ => Tensor::<2, Int>::from_data(TensorData::new(images.iter().map(|&v| v as i32).collect::<Vec<_>>(), [ROWS, 784]), (&dev, DType::I32)),
    };
    let labels = Tensor::<1, Int>::from_data(TensorData::new((0..ROWS as i32).map(|i| i % 10).collect::<Vec<_>>(), [ROWS]), &dev);
    let order: Vec<i32> = (0..(steps + WARMUP) * BATCH).map(|_| (rng.next() % ROWS as u64) as i32).collect();
    let order = Tensor::<2, Int>::from_data(TensorData::new(order, [steps + WARMUP, BATCH]), &dev);
    println!("resident images: {:?}, labels/indices: {:?}", images.dtype(), labels.dtype());
    let data = Data { images, labels, order };
    dev.sync().expect("sync");

    for m in methods {
        let (best, warm, loss) = bench(&dev, &ad, &data, m, steps);
        println!(
            "Task 1 step, {}: {:.1} steps/s, {:.3} ms/step (best of 3 × {} steps; warm-up {} steps {:.2} s; last loss {:.4})",
            if m == Method::Wd { "wd" } else { "pathprox" },
            1.0 / best,
            best * 1e3,
            steps,
            WARMUP,
            warm,
            loss
        );
    }
}
