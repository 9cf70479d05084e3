//! Task 5 (docs/algorithm.md, table row 5; the paper's Section 5.3 and Fig. 5): which method finds the best
//! sparse networks. For every grid point (method × lr × λ): train with pruning after every iteration
//! (units whose w or v is all zero die for good), take the final checkpoint, and for each sparsity level
//! deactivate the lowest-scoring units (‖w‖·‖v‖), retrain briefly with those units held dead, and record the
//! test accuracy in `sparsity.jsonl`. The figure plots, per method, the best test accuracy at each
//! sparsity level over the whole grid.
//!
//! Run directory `runs/task5-<time>/`:
//! - `config.json`: the grid and shared settings ([`Task5Config`]);
//! - one directory per (lr, λ), e.g. `lr0.01_lambda1e-4/`, laid out as any task's run directory
//!   (`config.json`, `<method>.jsonl`, `checkpoints/<method>.safetensors`, `figures/`), so
//!   `pathprox plot` draws the training curves of the methods at that point;
//! - `sparsity.jsonl`: one line per (grid point, sparsity level), appended as each finishes;
//! - `figures/sparsity.png` and the summary table at the end.
//!
//! Resuming (`--resume DIR`) skips the sparsity levels already in `sparsity.jsonl`, continues a grid point
//! whose training was interrupted from its checkpoint (bit for bit, as every task does), and skips grid
//! points that diverged.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Overrides;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::report::num;
use crate::files::{read_if_present, write_atomically};
use crate::train::checkpoint::Checkpoint;
use crate::train::config::TrainConfig;
use crate::train::eval::Evaluator;
use crate::train::method::Method;
use crate::train::prune::{self, Scope};
use crate::train::rundir::RunDir;
use crate::train::trainer::{self, GpuData, MethodRun, Outcome, Progress};

/// Training iterations per grid point, and the methods (`train::presets`, with every task's settings).
pub use crate::train::presets::{TASK5_ITERS as DEFAULT_ITERS, TASK5_METHODS as DEFAULT_METHODS};
/// Iterations of retraining at each sparsity level: about 7 epochs of the 55k training images at batch
/// 200, enough for a pruned MNIST network to recover, and a small fraction of the training.
pub const DEFAULT_RETRAIN_ITERS: u64 = 2_000;
pub const DEFAULT_LRS: [f64; 2] = [0.01, 0.03];
pub const DEFAULT_LAMBDAS: [f64; 4] = [1e-4, 1e-3, 3e-3, 1e-2];
/// Percent of units removed.
pub const DEFAULT_LEVELS: [f64; 11] = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0];

/// The baselines train MLP-3-800; the methods that need PathProx groups its factorized version.
pub fn model_for(method: Method) -> &'static str {
    if method.needs_groups() { "mlp-3-800-factorized" } else { "mlp-3-800" }
}

/// Task 5's command-line overrides: the common ones, and the grid and the sparsity levels.
#[derive(Clone, Debug, Default)]
pub struct Task5Overrides {
    pub base: Overrides,
    pub lrs: Option<Vec<f64>>,
    pub lambdas: Option<Vec<f64>>,
    /// Percent of units removed.
    pub levels: Option<Vec<f64>>,
    pub retrain_iters: Option<u64>,
    pub global_threshold: bool,
}

/// `config.json` of a Task 5 run. `base` holds the settings every grid point shares; its `lr` and
/// `lambda` are the grid's first values and its `model` names both models (tools that read one value
/// find one; the grid is in `lrs`, `lambdas` and `models`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Task5Config {
    #[serde(flatten)]
    pub base: TrainConfig,
    pub lrs: Vec<f64>,
    pub lambdas: Vec<f64>,
    /// Sparsity levels, percent of units removed.
    pub levels: Vec<f64>,
    /// Retraining iterations per sparsity level (plain cross-entropy SGD at the point's lr, units held dead).
    pub retrain_iters: u64,
    /// Where the cut of a sparsity level is made.
    pub scope: Scope,
    /// The model each method trains.
    pub models: BTreeMap<String, String>,
}

impl Task5Config {
    pub fn from_overrides(o: &Task5Overrides) -> Result<Task5Config> {
        let mut base = super::config("task5", &o.base)?;
        let lrs = o.lrs.clone().or_else(|| o.base.lr.map(|x| vec![x])).unwrap_or_else(|| DEFAULT_LRS.to_vec());
        let lambdas = o.lambdas.clone().or_else(|| o.base.lambda.map(|x| vec![x])).unwrap_or_else(|| DEFAULT_LAMBDAS.to_vec());
        let levels = o.levels.clone().unwrap_or_else(|| DEFAULT_LEVELS.to_vec());
        let bad = |m: String| Err(Error::Other(format!("invalid settings: {m}")));
        if lrs.is_empty() || lrs.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
            return bad(format!("--lrs must be positive numbers, got {lrs:?}"));
        }
        if lambdas.is_empty() || lambdas.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
            return bad(format!("--lambdas must be numbers ≥ 0, got {lambdas:?}"));
        }
        if levels.is_empty() || levels.iter().any(|x| !(0.0..=100.0).contains(x)) {
            return bad(format!("--levels must be percentages in [0, 100], got {levels:?}"));
        }
        let mut models = BTreeMap::new();
        for m in &base.methods {
            models.insert(m.clone(), model_for(Method::parse(m)?).to_string());
        }
        base.lr = lrs[0];
        base.lambda = lambdas[0];
        base.model = models_label(&models);
        base.prune = true;
        let scope = if o.global_threshold { Scope::Global } else { Scope::PerLayer };
        Ok(Task5Config { base, lrs, lambdas, levels, retrain_iters: o.retrain_iters.unwrap_or(DEFAULT_RETRAIN_ITERS), scope, models })
    }

    /// The training settings of one grid point.
    pub fn point(&self, method: &str, lr: f64, lambda: f64) -> Result<TrainConfig> {
        let model = self.models.get(method).cloned().unwrap_or_else(|| "mlp-3-800".into());
        Ok(TrainConfig { model, methods: vec![method.to_string()], lr, lambda, prune: true, ..self.base.clone() })
    }
}

/// "mlp-3-800; pathprox: mlp-3-800-factorized": the baselines' model, then the exceptions.
fn models_label(models: &BTreeMap<String, String>) -> String {
    let main = "mlp-3-800";
    let others: Vec<String> = models.iter().filter(|(_, m)| *m != main).map(|(k, m)| format!("{k}: {m}")).collect();
    if others.is_empty() { main.to_string() } else { format!("{main}; {}", others.join(", ")) }
}

/// The directory of the grid point (lr, λ), e.g. `lr0.01_lambda1e-4`.
pub fn point_dir(lr: f64, lambda: f64) -> String {
    format!("lr{}_lambda{}", num(lr), num(lambda))
}

/// Key of a sparsity result: (method, lr, λ, target level) with the floats as bits (they are written and
/// read back exactly).
type Key = (String, u64, u64, u64);

fn key(method: &str, lr: f64, lambda: f64, target: f64) -> Key {
    (method.to_string(), lr.to_bits(), lambda.to_bits(), target.to_bits())
}

/// `sparsity.jsonl`: the results so far, and appending with a flush per line.
struct SparsityFile {
    path: PathBuf,
    done: HashSet<Key>,
}

impl SparsityFile {
    /// Reads what a previous run wrote, dropping a torn last line (a run killed mid-write) so that the
    /// next line starts on a line of its own.
    fn open(dir: &Path) -> Result<SparsityFile> {
        let path = dir.join("sparsity.jsonl");
        let text = read_if_present(&path)?.unwrap_or_default();
        let mut done = HashSet::new();
        let mut kept = String::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            let f = |k: &str| v.get(k).and_then(Value::as_f64);
            if let (Some(m), Some(lr), Some(l), Some(t)) = (v.get("method").and_then(Value::as_str), f("lr"), f("lambda"), f("target")) {
                done.insert(key(m, lr, l, t));
            }
            kept += line;
            kept.push('\n');
        }
        if kept != text {
            write_atomically(&path, kept.as_bytes())?;
        }
        Ok(SparsityFile { path, done })
    }

    fn append(&mut self, k: Key, line: &Value) -> Result<()> {
        let io = |e: std::io::Error| Error::Other(format!("{}: {e}", self.path.display()));
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        writeln!(f, "{line}").map_err(io)?;
        f.sync_data().map_err(io)?;
        self.done.insert(k);
        Ok(())
    }
}

/// What one grid point came to.
enum PointEnd {
    Done,
    Diverged,
    Interrupted,
}

/// Runs (or, with `resume`, continues) Task 5; returns the run directory.
pub fn run(gpu: &Gpu, o: &Task5Overrides, runs_root: &Path, resume: Option<&Path>, interrupt: &AtomicBool, progress: &dyn Progress) -> Result<PathBuf> {
    let say = |s: &str| progress.message(s);
    let (run, t5) = match resume {
        Some(dir) => {
            let run = RunDir::open(dir)?;
            let p = dir.join("config.json");
            let text = std::fs::read_to_string(&p).map_err(|e| Error::Other(format!("{}: {e}", p.display())))?;
            let t5: Task5Config = serde_json::from_str(&text).map_err(|e| Error::Other(format!("{}: not a Task 5 run: {e}", p.display())))?;
            say(&format!("resuming task5 in {}", dir.display()));
            (run, t5)
        }
        None => {
            let t5 = Task5Config::from_overrides(o)?;
            (RunDir::create(runs_root, "task5")?, t5)
        }
    };
    let (data, info) = super::load_data(gpu, &t5.base, &say)?;
    if resume.is_none() {
        let mut v = serde_json::to_value(&t5).map_err(|e| Error::Other(e.to_string()))?;
        if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), info.clone()) {
            obj.extend(more);
        }
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::Other(e.to_string()))?;
        write_atomically(&run.path.join("config.json"), text.as_bytes())?;
    }
    let points = t5.lrs.len() * t5.lambdas.len() * t5.base.methods.len();
    say(&format!(
        "task5: methods {} on {}; lr ∈ {:?} × λ ∈ {:?} ({points} grid points); batch {}, {} iterations each, pruning every iteration; \
         then sparsity levels {:?} % ({} cut), {} retraining iterations each; run directory {}",
        t5.base.methods.join(", "),
        t5.base.model,
        t5.lrs,
        t5.lambdas,
        t5.base.batch,
        t5.base.iters,
        t5.levels,
        t5.scope.name(),
        t5.retrain_iters,
        run.path.display()
    ));
    let started = Instant::now();
    let mut results = SparsityFile::open(&run.path)?;
    let mut k = 0;
    let mut diverged = Vec::new();
    for &lr in &t5.lrs {
        for &lambda in &t5.lambdas {
            let point = RunDir { path: run.path.join(point_dir(lr, lambda)) };
            std::fs::create_dir_all(point.path.join("checkpoints")).map_err(|e| Error::Other(format!("{}: {e}", point.path.display())))?;
            if !point.path.join("config.json").is_file() {
                let cfg = TrainConfig { methods: t5.base.methods.clone(), lr, lambda, ..t5.base.clone() };
                let mut extra = json!({ "model": t5.base.model, "models": t5.models, "grid_point_of": "task5" });
                if let (Some(e), Value::Object(more)) = (extra.as_object_mut(), info.clone()) {
                    e.extend(more);
                }
                point.write_config(&cfg, extra)?;
            }
            for name in &t5.base.methods {
                k += 1;
                let label = format!("[{k}/{points}] {name}, lr {}, λ {}", num(lr), num(lambda));
                match run_point(gpu, &t5, name, lr, lambda, &data, &point, &mut results, &label, interrupt, progress)? {
                    PointEnd::Done => {}
                    PointEnd::Diverged => diverged.push(label),
                    PointEnd::Interrupted => {
                        say(&format!("interrupted at {label}; finished grid points are kept; continue with `pathprox task5 --resume {}`", run.path.display()));
                        return Ok(run.path);
                    }
                }
            }
            // Each point directory is a run directory of its own: its training curves, method by method.
            crate::report::write_figures(&point.path)?;
        }
    }
    let figures = crate::report::write_figures(&run.path)?;
    say(&format!("figures: {}", figures.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")));
    if !diverged.is_empty() {
        say(&format!("diverged (no sparsity results): {}", diverged.join("; ")));
    }
    say(&format!("task5 finished in {:.0} s (this session)", started.elapsed().as_secs_f64()));
    println!("\n{}", crate::report::summary_table(&run.path)?);
    Ok(run.path)
}

/// Trains one grid point (or finds it trained) and runs its sparsity levels.
#[allow(clippy::too_many_arguments)]
fn run_point(
    gpu: &Gpu,
    t5: &Task5Config,
    name: &str,
    lr: f64,
    lambda: f64,
    data: &GpuData,
    point: &RunDir,
    results: &mut SparsityFile,
    label: &str,
    interrupt: &AtomicBool,
    progress: &dyn Progress,
) -> Result<PointEnd> {
    let say = |s: &str| progress.message(s);
    if t5.levels.iter().all(|&t| results.done.contains(&key(name, lr, lambda, t))) {
        say(&format!("{label}: done"));
        return Ok(PointEnd::Done);
    }
    if point.diverged_at(name)?.is_some() {
        say(&format!("{label}: diverged in an earlier session; skipped"));
        return Ok(PointEnd::Diverged);
    }
    let method = Method::parse(name)?;
    let cfg = t5.point(name, lr, lambda)?;
    say(&format!("{label}: training {} for {} iterations", cfg.model, cfg.iters));
    match trainer::train_method(gpu, &cfg, method, data, point, interrupt, progress)? {
        Outcome::Finished { .. } => {}
        Outcome::Interrupted { .. } => return Ok(PointEnd::Interrupted),
        // The trainer has marked it (`RunDir::mark_diverged`), so a resumed run skips it.
        Outcome::Diverged { .. } => return Ok(PointEnd::Diverged),
    }
    if sparsity_levels(gpu, t5, &cfg, method, data, point, results, label, interrupt, progress)? { Ok(PointEnd::Done) } else { Ok(PointEnd::Interrupted) }
}

/// Accuracies (fractions) of the validation and test sets, and active units (percent), as measured now.
struct Accuracy {
    val: f64,
    test: f64,
    active_units: f64,
}

async fn accuracy(gpu: &Gpu, eval: &Evaluator) -> Result<Accuracy> {
    let m = eval.measure(gpu).await?;
    Ok(Accuracy { val: m.acc[0], test: m.acc[1], active_units: m.active_units })
}

/// The sparsity levels of one trained grid point: from its final checkpoint, for each level not yet in
/// `sparsity.jsonl`, remove the lowest-scoring units, retrain with them held dead and record the
/// accuracies. Returns false when interrupted (the level in progress is redone on resume).
#[allow(clippy::too_many_arguments)]
fn sparsity_levels(
    gpu: &Gpu,
    t5: &Task5Config,
    cfg: &TrainConfig,
    method: Method,
    data: &GpuData,
    point: &RunDir,
    results: &mut SparsityFile,
    label: &str,
    interrupt: &AtomicBool,
    progress: &dyn Progress,
) -> Result<bool> {
    let name = method.name();
    let ck_path = point.checkpoint_path(name);
    let ck = Checkpoint::load(&ck_path)?;
    let ck_iter: u64 = ck.iteration().unwrap_or(0);
    trainer::preset_tuning(gpu, &ck);
    // Retraining: plain SGD on the cross-entropy (the weight-decay update with λ = 0) at the point's lr,
    // for every method alike, so the levels compare which units each method kept, not how each penalty
    // keeps shrinking them; the pruning pass keeps the removed units at zero after every step.
    let iters = t5.retrain_iters;
    let rcfg = TrainConfig { methods: vec!["wd".into()], lambda: 0.0, iters, log_every: iters.clamp(1, 1000), prune: true, ..cfg.clone() };
    let job = MethodRun::new(gpu, &rcfg, Method::WeightDecay, data, true)?;
    let pruner = job.pruner().ok_or_else(|| Error::Other("retraining runs with pruning".into()))?;
    // Validation and test only: the training set (55k rows) would cost more than the retraining.
    let eval = Evaluator::new(gpu, job.model(), &data.sets[1..], t5.base.eval_batch)?;
    let what = ck_path.display().to_string();
    trainer::load_into(gpu, job.model(), &ck, &what)?;
    let scores = pollster::block_on(prune::unit_scores(gpu, job.model()))?;
    let total: usize = scores.iter().map(Vec::len).sum();
    let dead_before = 100.0 * scores.iter().flatten().filter(|&&s| s == 0.0).count() as f64 / total.max(1) as f64;
    progress.message(&format!("{label}: trained to iteration {ck_iter}, {:.1}% of units dead; sparsity levels", dead_before));
    // A level whose cut removes exactly the units of an earlier one is the same experiment: reuse it.
    let mut seen: HashMap<Vec<Vec<bool>>, (f64, Value)> = HashMap::new();
    for &target in &t5.levels {
        let k = key(name, cfg.lr, cfg.lambda, target);
        if results.done.contains(&k) {
            continue;
        }
        let sel = prune::select(&scores, target / 100.0, t5.scope);
        let mut line = match seen.get(&sel.alive) {
            Some((first, line)) => {
                let mut l = line.clone();
                l["reused_from_target"] = json!(first);
                l
            }
            None => {
                trainer::load_into(gpu, job.model(), &ck, &what)?;
                pruner.set_alive(gpu, &sel.alive)?;
                pruner.run_once(gpu)?;
                let before = pollster::block_on(accuracy(gpu, &eval))?;
                let t = Instant::now();
                progress.start(&format!("{name} {target}%"), 0, iters);
                let reached = job.steps(0, iters, interrupt, progress)?;
                progress.finish();
                if reached < iters || interrupt.load(Ordering::Relaxed) {
                    return Ok(false);
                }
                let retrain_s = t.elapsed().as_secs_f64();
                let after = pollster::block_on(accuracy(gpu, &eval))?;
                // The model as evaluated: units the selection removed, and any the retraining pruned.
                let alive = pollster::block_on(pruner.read_alive(gpu))?;
                let dead: Vec<usize> = alive.iter().map(|l| l.iter().filter(|a| !**a).count()).collect();
                let line = json!({
                    "method": name,
                    "model": cfg.model,
                    "lr": cfg.lr,
                    "lambda": cfg.lambda,
                    "target": target,
                    "sparsity": 100.0 * dead.iter().sum::<usize>() as f64 / total.max(1) as f64,
                    "test_acc": after.test,
                    "val_acc": after.val,
                    "active_units": after.active_units,
                    "test_acc_before_retrain": before.test,
                    "val_acc_before_retrain": before.val,
                    "removed_per_layer": dead.iter().zip(&alive).map(|(d, l)| 100.0 * *d as f64 / l.len().max(1) as f64).collect::<Vec<_>>(),
                    "dead_before": dead_before,
                    "scope": t5.scope.name(),
                    "threshold": sel.threshold(),
                    "thresholds": sel.thresholds,
                    "checkpoint_iter": ck_iter,
                    "retrain": "cross-entropy SGD, λ = 0, removed units held at zero",
                    "retrain_iters": iters,
                    "retrain_s": retrain_s,
                    "seed": cfg.seed,
                });
                seen.insert(sel.alive.clone(), (target, line.clone()));
                line
            }
        };
        line["target"] = json!(target);
        progress.message(&format!(
            "{label}: {target}% → {:.1}% removed, test accuracy {:.2}% (before retraining {:.2}%)",
            line["sparsity"].as_f64().unwrap_or(f64::NAN),
            100.0 * line["test_acc"].as_f64().unwrap_or(f64::NAN),
            100.0 * line["test_acc_before_retrain"].as_f64().unwrap_or(f64::NAN)
        ));
        results.append(k, &line)?;
    }
    Ok(true)
}
