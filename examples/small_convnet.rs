//! A small conv net of your own on tiny synthetic images, trained with PathProx and with weight decay
//! from the same initialisation. PathProx's units in a conv net are output channels: a group pairs two
//! consecutive 3×3 convolutions with only a ReLU between them (docs/algorithm.md, "Homogeneous units").
//!
//! ```text
//! cargo run --release --example small_convnet [ITERATIONS]      (default 300)
//! ```
//!
//! The images: 1×8×8, four classes — a horizontal bar, a vertical bar, a diagonal, a square outline —
//! each at a random position and brightness, with Gaussian-ish noise.

use std::sync::atomic::AtomicBool;

use pathprox::nn::{Init, LayerSpec, ModelSpec, Pool2d};
use pathprox::train::config::TrainConfig;
use pathprox::train::in_memory::Examples;
use pathprox::train::method::Method;
use pathprox::train::trainer::{GpuData, MethodRun};
use pathprox::{AdapterChoice, Gpu};
use rand::{Rng, SeedableRng};

const SIDE: usize = 8;

/// `n` images [1, 8, 8] row-major (values about 0..1) and their classes.
fn images(n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut x, mut labels) = (Vec::with_capacity(n * SIDE * SIDE), Vec::with_capacity(n));
    for _ in 0..n {
        let class = rng.random_range(0..4u32);
        let (r, c) = (rng.random_range(1..SIDE - 4), rng.random_range(1..SIDE - 4));
        let on = |i: usize, j: usize| match class {
            0 => i == r + 1 && (c..c + 4).contains(&j),
            1 => j == c + 1 && (r..r + 4).contains(&i),
            2 => (r..r + 4).contains(&i) && j == c + (i - r).min(3) && i >= r,
            _ => (r..r + 4).contains(&i) && (c..c + 4).contains(&j) && (i == r || i == r + 3 || j == c || j == c + 3),
        };
        let bright = rng.random_range(0.6..1.0f32);
        for i in 0..SIDE {
            for j in 0..SIDE {
                let noise = (rng.random::<f32>() + rng.random::<f32>() - 1.0) * 0.3;
                x.push(if on(i, j) { bright } else { 0.0 } + noise);
            }
        }
        labels.push(class);
    }
    (x, labels)
}

fn main() -> pathprox::Result<()> {
    let iters: u64 = std::env::args().nth(1).map(|a| a.parse().expect("ITERATIONS must be a number")).unwrap_or(300);
    let gpu = Gpu::new_blocking(&AdapterChoice::default())?;
    // Measuring kernel variants for each new shape pays off over a long run of a big network; for a toy
    // this size it would take longer than the training (PATHPROX_TUNE=0 does the same for a process).
    gpu.set_tuning(false);
    println!("adapter: {}", gpu.describe());

    // conv 8 → conv 8 → max pool → conv 16 → conv 16 → avg pool → flatten → dense 4. The groups pair
    // parameter layers (0, 1) and (2, 3): never across a pool, and the last dense layer is in none (it
    // gets plain weight decay under PathProx too).
    let conv = |out| LayerSpec::Conv3x3 { out, relu: true };
    let layers = vec![
        conv(8),
        conv(8),
        LayerSpec::Pool(Pool2d::Max),
        conv(16),
        conv(16),
        LayerSpec::Pool(Pool2d::Avg),
        LayerSpec::Flatten,
        LayerSpec::Dense { out: 4, relu: false },
    ];
    let spec = ModelSpec::new("small-convnet", vec![1, SIDE, SIDE], layers, Init::KaimingNormal, vec![(0, 1), (2, 3)])?;

    let (train_x, train_y) = images(1000, 1);
    let (val_x, val_y) = images(300, 2);
    let (test_x, test_y) = images(300, 3);
    let data = GpuData::from_examples(
        &gpu,
        &spec,
        Examples::new(&train_x, &train_y),
        Some(Examples::new(&val_x, &val_y)),
        Some(Examples::new(&test_x, &test_y)),
    )?;
    // Learning rate 0.05, λ 1e-2, batch 50. This problem is easy and the run short: both methods fit it
    // and PathProx keeps every channel; its prox switches channels off once γ·λ summed over the steps
    // outgrows their output weights (try more iterations, or a larger λ at the cost of accuracy).
    let cfg = TrainConfig::custom(0.05, 1e-2, 50, iters);
    cfg.validate()?;

    let never = AtomicBool::new(false);
    println!("{iters} iterations, batch {}, lr {}, λ {}", cfg.batch, cfg.lr, cfg.lambda);
    println!("{:<13} {:>9} {:>9} {:>9} {:>13}", "method", "train acc", "val acc", "test acc", "active units");
    for method in [Method::WeightDecay, Method::PathProx { balance: true }] {
        let run = MethodRun::with_spec(&gpu, &cfg, spec.clone(), method, &data, true)?;
        run.steps(0, iters, &never, &())?;
        let p = run.log_point(iters, 0.0, 0.0)?;
        println!("{:<13} {:>8.1}% {:>8.1}% {:>8.1}% {:>12.1}%", method.name(), 100.0 * p.train_acc, 100.0 * p.val_acc, 100.0 * p.test_acc, p.active_units);
    }
    Ok(())
}
