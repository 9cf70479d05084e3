//! Your own data and your own MLP, trained with PathProx and with weight decay from the same
//! initialisation; both models' accuracies and active units are printed, and PathProx's model is written
//! as a safetensors checkpoint (PyTorch's layout: `safetensors.torch.load_file` reads it).
//!
//! ```text
//! cargo run --release --example own_mlp [ITERATIONS]      (default 3000)
//! ```
//!
//! The data: 16 features uniform in [−1, 1]; the class (0..4) is the quadrant of the first two features,
//! the other 14 are noise. The network: 16 → 64 (ReLU) → 64 → 64 (ReLU) → 64 → 4, a "factorized" MLP
//! whose two ReLU layers are PathProx's groups of homogeneous units (see docs/algorithm.md).

use std::sync::atomic::AtomicBool;

use pathprox::nn::ModelSpec;
use pathprox::train::checkpoint::Checkpoint;
use pathprox::train::config::TrainConfig;
use pathprox::train::in_memory::Examples;
use pathprox::train::method::Method;
use pathprox::train::trainer::{GpuData, MethodRun};
use pathprox::{AdapterChoice, Gpu};
use rand::{Rng, SeedableRng};

/// `n` examples of the quadrant problem: (features row-major, labels).
fn quadrants(n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..n * 16).map(|_| rng.random_range(-1.0..1.0)).collect();
    let labels = x.chunks(16).map(|r| 2 * (r[0] > 0.0) as u32 + (r[1] > 0.0) as u32).collect();
    (x, labels)
}

fn main() -> pathprox::Result<()> {
    let iters: u64 = std::env::args().nth(1).map(|a| a.parse().expect("ITERATIONS must be a number")).unwrap_or(3000);
    let gpu = Gpu::new_blocking(&AdapterChoice::default())?;
    // Measuring kernel variants for each new shape pays off over a long run of a big network; for a toy
    // this size it would take longer than the training (PATHPROX_TUNE=0 does the same for a process).
    gpu.set_tuning(false);
    println!("adapter: {}", gpu.describe());

    let (train_x, train_y) = quadrants(2000, 1);
    let (val_x, val_y) = quadrants(500, 2);
    let (test_x, test_y) = quadrants(500, 3);

    // Layer widths, whether a ReLU follows each layer, and the PathProx groups as (w layer, v layer):
    // the units of a group are the outputs of its w layer (a ReLU layer), their output weights the
    // columns of the v layer. Parameter layers count from 0.
    let spec = ModelSpec::mlp("my-mlp", vec![16, 64, 64, 64, 64, 4], vec![true, false, true, false, false], vec![(0, 1), (2, 3)])?;
    let data = GpuData::from_examples(
        &gpu,
        &spec,
        Examples::new(&train_x, &train_y),
        Some(Examples::new(&val_x, &val_y)),
        Some(Examples::new(&test_x, &test_y)),
    )?;
    // Learning rate 0.1, λ 3e-3, batch 100.
    let cfg = TrainConfig::custom(0.1, 3e-3, 100, iters);
    cfg.validate()?;

    let never = AtomicBool::new(false);
    println!("{iters} iterations, batch {}, lr {}, λ {}", cfg.batch, cfg.lr, cfg.lambda);
    println!("{:<13} {:>9} {:>9} {:>9} {:>13} {:>10}", "method", "train acc", "val acc", "test acc", "active units", "objective");
    for method in [Method::WeightDecay, Method::PathProx { balance: true }] {
        let run = MethodRun::with_spec(&gpu, &cfg, spec.clone(), method, &data, true)?;
        run.steps(0, iters, &never, &())?;
        let p = run.log_point(iters, 0.0, 0.0)?;
        println!(
            "{:<13} {:>8.1}% {:>8.1}% {:>8.1}% {:>12.1}% {:>10.4}",
            method.name(),
            100.0 * p.train_acc,
            100.0 * p.val_acc,
            100.0 * p.test_acc,
            p.active_units,
            p.objective
        );
        if method != Method::WeightDecay {
            let path = std::env::temp_dir().join("own_mlp_pathprox.safetensors");
            run.checkpoint(iters, 0.0)?.save(&path)?;
            // Read back: the tensors by their PyTorch names, and the run's metadata.
            let ck = Checkpoint::load(&path)?;
            let names: Vec<String> = ck.tensors.iter().map(|(name, shape, _)| format!("{name} {shape:?}")).collect();
            println!("checkpoint: {} ({}; method {})", path.display(), names.join(", "), ck.metadata["method"]);
        }
    }
    Ok(())
}
