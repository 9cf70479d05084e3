//! Task 5 (`src/tasks/task5.rs`, `src/train/prune.rs`): the group-lasso step on MLP-3-800-like units
//! (consecutive units share a layer), unit scores and the units a sparsity level removes, pruning during
//! training, and the command end to end, interrupted and resumed.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use pathprox::gpu::{Gpu, Program};
use pathprox::nn::{Model, ModelSpec};
use pathprox::tasks::task5::{self, Task5Overrides};
use pathprox::train::checkpoint::Checkpoint;
use pathprox::train::method::{Method, Update};
use pathprox::train::prune::{self, Pruner, Scope};
use pathprox::progress::Progress;

/// 5 → 9 → 7 → 6 → 3 with ReLUs and no PathProx groups: every hidden neuron is a unit, as in MLP-3-800,
/// so layers 2 and 3 each hold the v of one layer of units and the w of the next. Widths not multiples
/// of 4 exercise the kernels' partial vec4s.
fn spec() -> ModelSpec {
    ModelSpec::custom(vec![5, 9, 7, 6, 3], vec![true, true, true, false], vec![]).unwrap()
}

/// Host copies of the weights [out, in] and biases per layer.
#[derive(Clone, Debug, PartialEq)]
struct Net {
    w: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
}

impl Net {
    fn random(spec: &ModelSpec, rng: &mut Rng) -> Net {
        let l = spec.depth();
        let w = (0..l).map(|i| to_f64(&rng.vec(spec.widths()[i] * spec.widths()[i + 1], -1.0, 1.0))).collect();
        let b = (0..l).map(|i| to_f64(&rng.vec(spec.widths()[i + 1], -1.0, 1.0))).collect();
        Net { w, b }
    }

    /// Declaration order: fc1.weight, fc1.bias, fc2.weight, ...
    fn values(&self) -> Vec<Vec<f32>> {
        self.w.iter().zip(&self.b).flat_map(|(w, b)| [w, b]).map(|v| v.iter().map(|&x| x as f32).collect()).collect()
    }

    fn from_values(values: &[Vec<f32>]) -> Net {
        let mut net = Net { w: vec![], b: vec![] };
        for pair in values.chunks(2) {
            net.w.push(to_f64(&pair[0]));
            net.b.push(to_f64(&pair[1]));
        }
        net
    }

    fn w_norm(&self, spec: &ModelSpec, l: usize, i: usize) -> f64 {
        let n = spec.widths()[l];
        self.w[l][i * n..(i + 1) * n].iter().map(|x| x * x).sum::<f64>().sqrt()
    }

    /// ‖column i of layer l + 1‖: the v of unit i of the layer of units whose w layer is l.
    fn v_norm(&self, spec: &ModelSpec, l: usize, i: usize) -> f64 {
        let n = spec.widths()[l + 1];
        (0..spec.widths()[l + 2]).map(|o| self.w[l + 1][o * n + i].powi(2)).sum::<f64>().sqrt()
    }

    /// Zeroes unit i of layer of units l: its w row, its bias, its v column.
    fn kill(&mut self, spec: &ModelSpec, l: usize, i: usize) {
        let (fan_in, units) = (spec.widths()[l], spec.widths()[l + 1]);
        self.w[l][i * fan_in..(i + 1) * fan_in].fill(0.0);
        self.b[l][i] = 0.0;
        for o in 0..spec.widths()[l + 2] {
            self.w[l + 1][o * units + i] = 0.0;
        }
    }
}

fn upload(gpu: &Gpu, spec: &ModelSpec, net: &Net) -> Model {
    let model = Model::new(gpu, spec.clone()).unwrap();
    model.store.upload(gpu, &net.values()).unwrap();
    model
}

fn download(gpu: &Gpu, model: &Model) -> Net {
    Net::from_values(&pollster::block_on(model.store.download(gpu)).unwrap())
}

/// One group-lasso update (docs/algorithm.md, Baselines: SGD on L + λ·Σ_units (‖w‖ + ‖v‖)) from a given
/// gradient, against the CPU: each layer's gradient gets the sub-gradient of the units it is w of and of
/// those it is v of, then θ ← θ − γ·g with no decay.
#[test]
fn group_lasso_step_on_units_that_share_layers_matches_cpu() {
    on_each_gpu(|gpu| {
        let spec = spec();
        let mut rng = Rng::new(5);
        let mut net = Net::random(&spec, &mut rng);
        net.kill(&spec, 1, 2); // a unit with zero norms: sub-gradient 0, stays 0
        let grads = Net::random(&spec, &mut rng);
        let model = upload(gpu, &spec, &net);
        gpu.write_f32(&model.store.grads, &{
            let mut flat = vec![0.0f32; model.store.grads.len()];
            for (info, v) in model.store.infos.iter().zip(grads.values()) {
                flat[info.offset..info.offset + v.len()].copy_from_slice(&v);
            }
            flat
        })
        .unwrap();
        let (lr, lambda) = (0.5f32 as f64, 0.125f32 as f64);
        let hyper = gpu.upload_f32(&[4], &[lr as f32, lambda as f32, 0.0, 0.0]).unwrap();
        let update = Update::new(gpu, &model, Method::GroupLasso).unwrap();
        let mut prog = Program::new();
        update.record(gpu, &mut prog, &model, &hyper).unwrap();
        gpu.run(&prog);
        let got = download(gpu, &model);

        let mut g = grads.clone();
        for (l, _) in spec.units.iter().copied() {
            let (fan_in, units, out) = (spec.widths()[l], spec.widths()[l + 1], spec.widths()[l + 2]);
            for i in 0..units {
                let (nw, nv) = (net.w_norm(&spec, l, i), net.v_norm(&spec, l, i));
                for k in 0..fan_in {
                    if nw > 0.0 {
                        g.w[l][i * fan_in + k] += lambda * net.w[l][i * fan_in + k] / nw;
                    }
                }
                for o in 0..out {
                    if nv > 0.0 {
                        g.w[l + 1][o * units + i] += lambda * net.w[l + 1][o * units + i] / nv;
                    }
                }
            }
        }
        let step = |p: &[f64], g: &[f64]| p.iter().zip(g).map(|(p, g)| p - lr * g).collect::<Vec<f64>>();
        // Each weight: at most two added terms λ·x/‖·‖ (≤ λ each; a norm of ≤ 9 terms within 12u), then one
        // SGD step: a few roundings of values ≤ 1 + 2λ + lr·(1 + 2λ). 1e-6 holds them with margin, and is far
        // below a missing or doubled term (≥ λ·lr·min|x|/‖·‖, about 1e-3 here).
        for l in 0..spec.depth() {
            assert_close(&format!("fc{} weight", l + 1), &f32(&got.w[l]), &step(&net.w[l], &g.w[l]), 1e-6, 0.0);
            assert_close(&format!("fc{} bias", l + 1), &f32(&got.b[l]), &step(&net.b[l], &grads.b[l]), 1e-6, 0.0);
        }
    });
}

fn f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Scores ‖w‖·‖v‖ computed on the GPU, the units a level removes (per layer and global), and those units
/// zeroed by the prune pass, against a CPU computation: norms in f64, and the cut as "the k lowest scores"
/// found by counting (not sorting) — with scores spread apart so that f32 rounding cannot reorder them.
#[test]
fn selection_and_masking_on_a_tiny_network_match_cpu() {
    on_each_gpu(|gpu| {
        let spec = spec();
        let mut rng = Rng::new(9);
        let mut net = Net::random(&spec, &mut rng);
        // Every weight ±(a factor of its row): then a unit's ‖w‖ is its row factor times √fan_in, and its v
        // column holds one entry of each row of the next layer, so ‖v‖ is the same for all units of a layer.
        // Row factors are distinct powers of 2.25 in a shuffled order, so scores differ by ≥ 2.25× within a
        // layer, and layer 2 is scaled ×100 so that layers differ in scale (a global cut then differs).
        for l in 0..spec.depth() {
            let (fan_in, rows) = (spec.widths()[l], spec.widths()[l + 1]);
            let mut order: Vec<usize> = (0..rows).collect();
            for i in (1..rows).rev() {
                order.swap(i, rng.below(i as u32 + 1) as usize);
            }
            for (rank, &i) in order.iter().enumerate() {
                let s = if l + 1 == spec.depth() { 1.0 } else { 2.25f64.powi(rank as i32) * if l == 2 { 100.0 } else { 1.0 } };
                for x in net.w[l][i * fan_in..(i + 1) * fan_in].iter_mut() {
                    *x = (s * x.signum()) as f32 as f64;
                }
            }
        }
        net.kill(&spec, 0, 4); // an already-dead unit
        let cpu_scores: Vec<Vec<f64>> = spec.units.iter().map(|&(l, _)| (0..spec.widths()[l + 1]).map(|i| net.w_norm(&spec, l, i) * net.v_norm(&spec, l, i)).collect()).collect();
        let mut all: Vec<f64> = cpu_scores.iter().flatten().copied().filter(|&s| s > 0.0).collect();
        all.sort_by(f64::total_cmp);
        assert!(all.windows(2).all(|p| p[1] / p[0] > 1.001), "scores should be well separated: {all:?}");

        let model = upload(gpu, &spec, &net);
        let scores = pollster::block_on(prune::unit_scores(gpu, &model)).unwrap();
        for (l, (g, c)) in scores.iter().zip(&cpu_scores).enumerate() {
            let (gf, cf): (Vec<f32>, Vec<f64>) = (g.iter().map(|&x| x as f32).collect(), c.clone());
            // Two norms of ≤ 9 terms in f32 and their product: well under 1e-5 relative.
            assert_close(&format!("scores of layer {l}"), &gf, &cf, 0.0, 1e-5);
        }
        let pruner = Pruner::new(gpu, &model).unwrap();
        for fraction in [0.0, 0.3, 0.5, 0.9, 1.0] {
            for scope in [Scope::PerLayer, Scope::Global] {
                let sel = prune::select(&scores, fraction, scope);
                // CPU: a unit goes if its score is 0, or if fewer than k units of its pool score lower than it.
                let rank = |pool: &[f64], s: f64| pool.iter().filter(|&&t| t < s).count();
                let want: Vec<Vec<bool>> = match scope {
                    Scope::PerLayer => cpu_scores
                        .iter()
                        .map(|layer| {
                            let k = (fraction * layer.len() as f64).round() as usize;
                            layer.iter().map(|&s| s != 0.0 && rank(layer, s) >= k).collect()
                        })
                        .collect(),
                    Scope::Global => {
                        let pool: Vec<f64> = cpu_scores.iter().flatten().copied().collect();
                        let k = (fraction * pool.len() as f64).round() as usize;
                        cpu_scores.iter().map(|layer| layer.iter().map(|&s| s != 0.0 && rank(&pool, s) >= k).collect()).collect()
                    }
                };
                let name = format!("{scope:?} {fraction}");
                assert_eq!(sel.alive, want, "{name}");
                if fraction == 0.5 && scope == Scope::Global {
                    // Layer 1's scores (its v columns are rows of the ×100 layer) are the largest: a global cut
                    // spares it entirely, unlike the per-layer cut.
                    assert_eq!(sel.removed()[1], 0, "{name}");
                    assert_ne!(sel.removed(), prune::select(&scores, fraction, Scope::PerLayer).removed());
                }
                // The prune pass zeroes exactly the removed units (their w row, bias and v column).
                let fresh = upload(gpu, &spec, &net);
                let p = Pruner::new(gpu, &fresh).unwrap();
                p.set_alive(gpu, &sel.alive).unwrap();
                p.run_once(gpu).unwrap();
                let mut want_net = net.clone();
                for (l, layer) in want.iter().enumerate() {
                    for (i, _) in layer.iter().enumerate().filter(|(_, a)| !**a) {
                        want_net.kill(&spec, l, i);
                    }
                }
                assert_eq!(download(gpu, &fresh), Net::from_values(&want_net.values()), "{name}: masked parameters");
                assert_eq!(pollster::block_on(p.read_alive(gpu)).unwrap(), want, "{name}: flags");
            }
        }
        assert!(pruner.set_alive(gpu, &[vec![true; 9]]).is_err(), "wrong number of layers");
    });
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The command as a user runs it, on 100 images per set: two methods × two λ, two sparsity levels. The
/// large λ makes PathProx's prox kill units within the 20 iterations, so the per-iteration pruning shows:
/// in its checkpoint, every unit with a zero v has a zero w row and bias, and the other way round.
#[test]
fn task5_command_end_to_end_and_resume_skips_finished_points() {
    let runs = scratch("cli");
    let args = [
        "task5", "--iters", "20", "--log-every", "10", "--batch", "20", "--lrs", "0.05", "--lambdas", "1e-3,2", "--methods", "group-lasso,pathprox", "--levels", "0,50",
        "--retrain-iters", "5", "--max-rows", "100", "--data-dir", "data", "--runs-dir",
    ];
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.push(runs.to_str().unwrap());
        a.extend_from_slice(extra);
        let out = cli_command().args(&a).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
        assert!(out.status.success(), "{stderr}");
        (stdout, stderr)
    };
    let (out, _) = run(&[]);
    let dir = PathBuf::from(out.lines().find_map(|l| l.strip_prefix("run directory: ")).expect("run directory printed"));
    assert!(out.contains("| group lasso") && out.contains("| PathProx") && out.contains("≥50%"), "summary printed: {out}");
    for f in ["config.json", "sparsity.jsonl", "figures/sparsity.png", "lr0.05_lambda1e-3/group-lasso.jsonl", "lr0.05_lambda2/pathprox.jsonl", "lr0.05_lambda2/checkpoints/pathprox.safetensors", "lr0.05_lambda2/figures/objective.png"] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    let results = lines(&dir.join("sparsity.jsonl"));
    assert_eq!(results.len(), 8, "2 methods × 2 λ × 2 levels");
    for r in &results {
        let acc = r["test_acc"].as_f64().unwrap();
        let s = r["sparsity"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc) && s >= r["target"].as_f64().unwrap() - 1e-9 && r["val_acc"].is_number(), "{r}");
        assert_eq!(r["retrain_iters"], 5);
    }
    let killed = results.iter().find(|r| r["method"] == "pathprox" && r["lambda"] == 2.0).unwrap();
    assert!(killed["dead_before"].as_f64().unwrap() > 0.0, "PathProx at λ = 2 should have pruned units: {killed}");

    // In the checkpoint, pruning left no unit half dead.
    let ck = Checkpoint::load(&dir.join("lr0.05_lambda2/checkpoints/pathprox.safetensors")).unwrap();
    let t = |n: &str| &ck.tensor(n).unwrap().2;
    let mut dead = 0;
    for (wl, vl) in [(1, 2), (3, 4), (5, 6)] {
        let (w, b, v) = (t(&format!("fc{wl}.weight")), t(&format!("fc{wl}.bias")), t(&format!("fc{vl}.weight")));
        let (units, fan_in) = (b.len(), w.len() / b.len());
        for i in 0..units {
            let w_zero = w[i * fan_in..(i + 1) * fan_in].iter().all(|&x| x == 0.0);
            let v_zero = (0..v.len() / units).all(|o| v[o * units + i] == 0.0);
            assert_eq!(w_zero, v_zero, "unit {i} of fc{wl}: w zero {w_zero}, v zero {v_zero}");
            if w_zero {
                assert_eq!(b[i], 0.0);
                dead += 1;
            }
        }
    }
    assert!(dead > 0);

    // Resuming a finished run redoes nothing.
    let before = std::fs::read_to_string(dir.join("sparsity.jsonl")).unwrap();
    let (_, err) = run(&["--resume", dir.to_str().unwrap()]);
    assert!(err.matches(": done").count() == 4, "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("sparsity.jsonl")).unwrap(), before);
    let _ = std::fs::remove_dir_all(runs);
}

/// Sets the interrupt flag at the `at`-th progress report (counting training and retraining alike).
struct StopAt<'a> {
    at: usize,
    calls: AtomicUsize,
    flag: &'a AtomicBool,
}

impl Progress for StopAt<'_> {
    fn advance(&self, _step: u64) {
        if self.calls.fetch_add(1, Ordering::Relaxed) + 1 == self.at {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Ctrl-C in training and again in retraining, each followed by `--resume`, ends with the same results as
/// an uninterrupted run (training resumes bit for bit; a level cut short is redone from the checkpoint).
#[test]
fn interrupted_and_resumed_run_gives_the_same_results() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let o = Task5Overrides {
        base: pathprox::tasks::Overrides {
            iters: Some(20),
            log_every: Some(10),
            batch: Some(20),
            methods: Some(vec!["wd".into()]),
            data_dir: Some("data".into()),
            max_rows: Some(100),
            ..Default::default()
        },
        lrs: Some(vec![0.05]),
        lambdas: Some(vec![1e-3]),
        levels: Some(vec![0.0, 50.0]),
        retrain_iters: Some(6),
        global_threshold: false,
    };
    let no = AtomicBool::new(false);
    let root = scratch("straight");
    let straight = task5::run(gpu, &o, &root, None, &no, &()).unwrap();

    let root2 = scratch("resumed");
    let flag = AtomicBool::new(false);
    // Progress reports: training at steps 10 and 20, then one per retraining (6 steps in one submission).
    let stop = StopAt { at: 1, calls: AtomicUsize::new(0), flag: &flag };
    let dir = task5::run(gpu, &o, &root2, None, &flag, &stop).unwrap();
    assert!(!dir.join("sparsity.jsonl").exists(), "stopped in training");
    flag.store(false, Ordering::Relaxed);
    let stop = StopAt { at: 3, calls: AtomicUsize::new(0), flag: &flag }; // training 10→20, level 0 %, then level 50 %
    task5::run(gpu, &o, &root2, Some(&dir), &flag, &stop).unwrap();
    assert_eq!(lines(&dir.join("sparsity.jsonl")).len(), 1, "level 50 % was cut short");
    flag.store(false, Ordering::Relaxed);
    task5::run(gpu, &o, &root2, Some(&dir), &flag, &()).unwrap();

    let strip = |v: Vec<serde_json::Value>| {
        v.into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("retrain_s");
                r
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(lines(&dir.join("sparsity.jsonl"))), strip(lines(&straight.join("sparsity.jsonl"))));
    let ck = |d: &Path| Checkpoint::load(&d.join("lr0.05_lambda1e-3/checkpoints/wd.safetensors")).unwrap().tensors;
    assert_eq!(ck(&dir), ck(&straight), "training resumed bit for bit");
    let _ = std::fs::remove_dir_all(root);
    let _ = std::fs::remove_dir_all(root2);
}

/// The summary of a Task 5 run directory (no method logs at its top): the grid caption, and per method the
/// best test accuracy among models with at least each configured level.
#[test]
fn summary_table_of_a_grid_run() {
    let config = r#"{"task": "task5", "model": "mlp-3-800", "lr": 0.01, "lambda": 0.0001, "batch": 200, "iters": 100,
                     "lrs": [0.01, 0.03], "lambdas": [0.0001, 0.01], "levels": [0, 50, 90]}"#;
    let sparsity = "{\"method\":\"wd\",\"sparsity\":0,\"test_acc\":0.98,\"lambda\":1e-4,\"lr\":0.01}\n\
                    {\"method\":\"wd\",\"sparsity\":50,\"test_acc\":0.95,\"lambda\":1e-4,\"lr\":0.01}\n\
                    {\"method\":\"pathprox\",\"sparsity\":60,\"test_acc\":0.97,\"lambda\":1e-2,\"lr\":0.03}\n\
                    {\"method\":\"pathprox\",\"sparsity\":91.5,\"test_acc\":0.9,\"lambda\":1e-2,\"lr\":0.03}\n";
    let run = pathprox::report::Run::from_texts("runs/task5-x", [("config.json", config), ("sparsity.jsonl", sparsity)]).unwrap();
    let table = run.summary_table();
    assert!(table.starts_with("task5 · mlp-3-800 · lr ∈ {0.01, 0.03} × λ ∈ {1e-4, 1e-2} · batch 200"), "{table}");
    let row = |name: &str| table.lines().find(|l| l.starts_with(&format!("| {name} "))).unwrap_or_else(|| panic!("no row {name}: {table}")).to_string();
    let cells = |r: String| r.split('|').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect::<Vec<_>>();
    assert_eq!(cells(row("method")), ["method", "≥0%", "≥50%", "≥90%"]);
    assert_eq!(cells(row("weight decay")), ["weight decay", "98.00", "95.00", "—"]);
    // PathProx's 60 % model is its best at ≥ 0 % and ≥ 50 %; only the 91.5 % one reaches 90 %.
    assert_eq!(cells(row("PathProx")), ["PathProx", "97.00", "97.00", "90.00"]);
}
