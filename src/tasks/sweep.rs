//! `pathprox sweep TASK`: the paper's evaluation protocol for Tasks 1–2 (ALGORITHM.md, "Grids for Tasks
//! 1–2" and Metrics; the paper's Table 1). Every method is trained at every point of an lr × λ grid; per
//! method, the point with the best validation accuracy is re-run with more seeds; Table 1 reports the test
//! accuracy at the best validation point and the active units there, mean ± standard error over the seeds.
//!
//! Sweep directory `runs/sweep-<task>-<time>/`:
//! - `config.json`: the shared settings, the grid (`lrs`, `lambdas`) and `seeds` ([`SweepConfig`]);
//! - one run directory per grid point, `lr0.1_lambda1e-4/` (as Task 5 names them), holding every method's
//!   log and checkpoint at the first seed, so `pathprox plot` draws its training curves;
//! - one per re-run, `lr0.1_lambda1e-4_seed1/`, holding the methods that selected that point;
//! - `sweep.jsonl`: one line per finished run ([`SweepRecord`]), appended as each ends;
//! - `table1.md` (also printed) and `figures/sweep.png` (validation accuracy over the grid).
//!
//! **Seeds and data.** A run's seed sets its initialisation and batch order. The data split (Task 1's 100
//! images per class; the split of the shipped subset) is drawn once, with the sweep's first seed, for every
//! run: the grid is searched and the seeds are compared on the same validation and test sets, so the
//! standard error measures the optimisation's variability, not the subset's. (`data_seed` in each run's
//! config.json records it.)
//!
//! **Resuming** (`--resume DIR`): runs in `sweep.jsonl` are never re-run; an interrupted run continues
//! from its checkpoint (bit for bit, as every task does); a diverged run is recorded (`diverged: true`)
//! and not a candidate for selection.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Overrides;
use super::task5::point_dir;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::report::sweep::{SweepLog, SweepRecord};
use crate::report::{num, Metric, Run};
use crate::train::checkpoint::{read_if_present, write_atomically};
use crate::train::config::TrainConfig;
use crate::train::method::Method;
use crate::train::rundir::RunDir;
use crate::train::trainer::{self, GpuData, Outcome, Progress};

/// ALGORITHM.md: "Grids for Tasks 1–2: lr {0.003,0.01,0.03,0.1,0.3,0.5} × λ {1e-5,…,1e-2}".
pub const GRID_LRS: [f64; 6] = [0.003, 0.01, 0.03, 0.1, 0.3, 0.5];
pub const GRID_LAMBDAS: [f64; 7] = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2];
/// "then 3 more seeds: mean ± standard error of 4 runs".
pub const DEFAULT_SEEDS: u64 = 4;
pub const TASKS: [&str; 4] = ["task1", "task2", "task3", "task4"];
/// ALGORITHM.md: "Task 3: lr {0.01,0.03,0.1,0.3} × the same λ".
pub const TASK3_LRS: [f64; 4] = [0.01, 0.03, 0.1, 0.3];
/// ALGORITHM.md, Task 4: "grid lr {0.03,0.1,0.3,0.5}, λ {1e-4,3e-4,1e-3,3e-3}".
pub const TASK4_LRS: [f64; 4] = [0.03, 0.1, 0.3, 0.5];
pub const TASK4_LAMBDAS: [f64; 4] = [1e-4, 3e-4, 1e-3, 3e-3];

/// The paper's grid of a task: (learning rates, λ values).
pub fn default_grid(task: &str) -> (Vec<f64>, Vec<f64>) {
    match task {
        "task3" => (TASK3_LRS.to_vec(), GRID_LAMBDAS.to_vec()),
        "task4" => (TASK4_LRS.to_vec(), TASK4_LAMBDAS.to_vec()),
        _ => (GRID_LRS.to_vec(), GRID_LAMBDAS.to_vec()),
    }
}

#[derive(Clone, Debug, Default)]
pub struct SweepOverrides {
    pub base: Overrides,
    pub lrs: Option<Vec<f64>>,
    pub lambdas: Option<Vec<f64>>,
    /// Seeds in all (the search's seed and the re-runs).
    pub seeds: Option<u64>,
    /// An MNIST-C directory (published, or `pathprox corrupt mnist`), or CIFAR-10-C for Task 3: each run's
    /// best-validation model is also evaluated on it, and the table gains the corrupted-accuracy column.
    pub corrupted_dir: Option<PathBuf>,
}

/// `config.json` of a sweep: the shared settings (`base.lr`, `base.lambda` are the grid's first values;
/// `base.seed` is the first seed and the data seed), the grid and the number of seeds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SweepConfig {
    #[serde(flatten)]
    pub base: TrainConfig,
    pub lrs: Vec<f64>,
    pub lambdas: Vec<f64>,
    pub seeds: u64,
    /// Marks the directory as a sweep of `base.task`.
    pub sweep: bool,
    /// See `SweepOverrides::corrupted_dir`; kept so that a resumed sweep evaluates its runs alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupted_dir: Option<PathBuf>,
}

impl SweepConfig {
    pub fn from_overrides(task: &str, o: &SweepOverrides) -> Result<SweepConfig> {
        if !TASKS.contains(&task) {
            return Err(Error::Other(format!("sweep: unknown task '{task}'; available: {} (task5 has its own grid: `pathprox task5`)", TASKS.join(", "))));
        }
        let mut base = super::config(task, &o.base)?;
        let (grid_lrs, grid_lambdas) = default_grid(task);
        let lrs = o.lrs.clone().unwrap_or(grid_lrs);
        let lambdas = o.lambdas.clone().unwrap_or(grid_lambdas);
        let seeds = o.seeds.unwrap_or(DEFAULT_SEEDS);
        let bad = |m: String| Err(Error::Other(format!("invalid settings: {m}")));
        if lrs.is_empty() || lrs.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
            return bad(format!("--lrs must be positive numbers, got {lrs:?}"));
        }
        if lambdas.is_empty() || lambdas.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
            return bad(format!("--lambdas must be numbers ≥ 0, got {lambdas:?}"));
        }
        if seeds == 0 {
            return bad("--seeds must be at least 1".into());
        }
        base.lr = lrs[0];
        base.lambda = lambdas[0];
        Ok(SweepConfig { base, lrs, lambdas, seeds, sweep: true, corrupted_dir: o.corrupted_dir.clone() })
    }

    /// The training settings of one run.
    fn run_config(&self, methods: Vec<String>, lr: f64, lambda: f64, seed: u64) -> TrainConfig {
        TrainConfig { methods, lr, lambda, seed, ..self.base.clone() }
    }

    /// "task1 · mlp-3-400-factorized · lr ∈ {…} × λ ∈ {…} · batch 200 · 2000 iterations · 4 seeds".
    pub fn caption(&self) -> String {
        let list = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ");
        format!(
            "{} · {} · lr ∈ {{{}}} × λ ∈ {{{}}} · batch {} · {} iterations · {} seed{}",
            self.base.task,
            self.base.model,
            list(&self.lrs),
            list(&self.lambdas),
            self.base.batch,
            self.base.iters,
            self.seeds,
            if self.seeds == 1 { "" } else { "s" }
        )
    }
}

/// The record of a finished run, read back from its log: best validation accuracy and, at that log point,
/// test accuracy and active units.
#[allow(clippy::too_many_arguments)]
pub fn record_of(point: &Path, sweep_dir: &Path, method: &str, lr: f64, lambda: f64, seed: u64, phase: &str, diverged: bool) -> Result<SweepRecord> {
    let run = Run::load(point)?;
    let log = run.method(method);
    let best = log.and_then(|m| m.best_validation());
    let active = best.and_then(|b| log?.points.iter().find(|p| p.iter == b.iter)?.get(Metric::ActiveUnits));
    Ok(SweepRecord {
        method: method.to_string(),
        lr,
        lambda,
        seed,
        phase: phase.to_string(),
        best_val_acc: best.map(|b| b.val_acc),
        test_acc: best.map(|b| b.test_acc),
        active_units: active,
        best_iter: best.map(|b| b.iter),
        diverged,
        wall_s: log.and_then(|m| m.last(Metric::WallS)).map(|(_, w)| w),
        corrupted_acc: None,
        dir: point.strip_prefix(sweep_dir).unwrap_or(point).display().to_string(),
    })
}

/// The mean accuracy over MNIST-C's corruptions of a run's best-validation model (the paper's corrupted
/// accuracy, `pathprox eval-corrupted`), or None when the run has no such checkpoint (it diverged at once).
fn corrupted_accuracy(gpu: &Gpu, run: &RunDir, method: &str, data_dir: &Path, progress: &dyn Progress) -> Result<Option<f64>> {
    let checkpoint = run.best_checkpoint_path(method);
    if !checkpoint.is_file() {
        return Ok(None);
    }
    let req = super::eval_corrupted::Request { checkpoint, data_dir: data_dir.to_path_buf(), eval_batch: 1000, max_rows: None };
    Ok(Some(super::eval_corrupted::run(gpu, &req, progress)?.mean))
}

/// `sweep.jsonl`: what is finished, and appending with a flush per line.
struct Results {
    path: PathBuf,
    log: SweepLog,
}

impl Results {
    /// Reads what earlier sessions wrote, dropping a torn last line so the next record starts a line.
    fn open(dir: &Path) -> Result<Results> {
        let path = dir.join("sweep.jsonl");
        let text = read_if_present(&path)?.unwrap_or_default();
        let log = SweepLog::parse(&text);
        let kept: String = log.records.iter().map(|r| serde_json::to_string(r).map(|s| s + "\n")).collect::<std::result::Result<_, _>>().map_err(|e| Error::Other(e.to_string()))?;
        if kept != text {
            write_atomically(&path, kept.as_bytes())?;
        }
        Ok(Results { path, log })
    }

    fn append(&mut self, r: SweepRecord) -> Result<()> {
        let io = |e: std::io::Error| Error::Other(format!("{}: {e}", self.path.display()));
        let line = serde_json::to_string(&r).map_err(|e| Error::Other(e.to_string()))?;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        writeln!(f, "{line}").map_err(io)?;
        f.sync_data().map_err(io)?;
        self.log.records.push(r);
        Ok(())
    }
}


/// Runs (or, with `resume`, continues) a sweep; returns the sweep directory.
pub fn run(gpu: &Gpu, task: &str, o: &SweepOverrides, runs_root: &Path, resume: Option<&Path>, interrupt: &AtomicBool, progress: &dyn Progress) -> Result<PathBuf> {
    let say = |s: &str| progress.message(s);
    let (dir, sc) = match resume {
        Some(dir) => {
            let p = dir.join("config.json");
            let text = std::fs::read_to_string(&p).map_err(|e| Error::Other(format!("{}: {e}", p.display())))?;
            let sc: SweepConfig = serde_json::from_str(&text).map_err(|e| Error::Other(format!("{}: not a sweep directory: {e}", p.display())))?;
            if sc.base.task != task {
                return Err(Error::Other(format!("{}: a sweep of {}, not {task}", dir.display(), sc.base.task)));
            }
            say(&format!("resuming the {task} sweep in {}", dir.display()));
            (dir.to_path_buf(), sc)
        }
        None => {
            let sc = SweepConfig::from_overrides(task, o)?;
            (RunDir::create(runs_root, &format!("sweep-{task}"))?.path, sc)
        }
    };
    // One data split for every run (see the module's notes).
    let (data, info) = super::load_data(gpu, &sc.base, &say)?;
    if resume.is_none() {
        let mut v = serde_json::to_value(&sc).map_err(|e| Error::Other(e.to_string()))?;
        if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), info.clone()) {
            obj.extend(more);
        }
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::Other(e.to_string()))?;
        write_atomically(&dir.join("config.json"), text.as_bytes())?;
    }
    let methods = sc.base.methods.clone();
    let grid_runs = sc.lrs.len() * sc.lambdas.len() * methods.len();
    let total = grid_runs + methods.len() * (sc.seeds as usize - 1);
    say(&format!(
        "sweep of {}: methods {}; {} runs of {} iterations ({grid_runs} in the grid, then {} seed(s) more per method); sweep directory {}",
        sc.caption(),
        methods.join(", "),
        total,
        sc.base.iters,
        sc.seeds - 1,
        dir.display()
    ));
    let started = Instant::now();
    let mut results = Results::open(&dir)?;
    let first = sc.base.seed;
    let ctx = Ctx { gpu, sc: &sc, data: &data, info: &info, dir: &dir, interrupt, progress, total };
    let mut k = 0;
    for &lr in &sc.lrs {
        for &lambda in &sc.lambdas {
            let point = dir.join(point_dir(lr, lambda));
            for name in &methods {
                k += 1;
                if !ctx.run_one(&mut results, &point, &methods, name, lr, lambda, first, "grid", k)? {
                    return Ok(interrupted(&ctx, &dir));
                }
            }
            figures_of(&point, &ctx)?;
        }
    }
    // Re-runs of each method's best point; methods that picked the same point share its directories.
    let mut chosen: Vec<(String, f64, f64)> = Vec::new();
    for name in &methods {
        match results.log.select(name, first) {
            Some((lr, lambda, val)) => {
                say(&format!("{name}: best validation accuracy {:.2}% at lr {}, λ {}", 100.0 * val, num(lr), num(lambda)));
                chosen.push((name.clone(), lr, lambda));
            }
            None => say(&format!("{name}: no grid point finished without diverging; no re-runs")),
        }
    }
    for seed in first + 1..first + sc.seeds {
        for (name, lr, lambda) in &chosen {
            k += 1;
            let point = dir.join(format!("{}_seed{seed}", point_dir(*lr, *lambda)));
            let sharing: Vec<String> = chosen.iter().filter(|c| c.1 == *lr && c.2 == *lambda).map(|c| c.0.clone()).collect();
            if !ctx.run_one(&mut results, &point, &sharing, name, *lr, *lambda, seed, "seed", k)? {
                return Ok(interrupted(&ctx, &dir));
            }
            figures_of(&point, &ctx)?;
        }
    }
    let table = results.log.table1(&sc.caption(), first, sc.seeds);
    write_atomically(&dir.join("table1.md"), table.as_bytes())?;
    let fig = dir.join("figures").join("sweep.png");
    crate::report::sweep::write_figure(&fig, &results.log, &sc.lrs, &sc.lambdas, first, &sc.caption())?;
    say(&format!("sweep finished ({:.0} s this session); table: {}; figure: {}", started.elapsed().as_secs_f64(), dir.join("table1.md").display(), fig.display()));
    println!("\n{table}");
    Ok(dir)
}

/// What every run of a sweep shares.
struct Ctx<'a> {
    gpu: &'a Gpu,
    sc: &'a SweepConfig,
    data: &'a GpuData,
    info: &'a Value,
    dir: &'a Path,
    interrupt: &'a AtomicBool,
    progress: &'a dyn Progress,
    total: usize,
}

fn interrupted(ctx: &Ctx, dir: &Path) -> PathBuf {
    ctx.progress.message(&format!(
        "interrupted; finished runs are kept in {}; continue with `pathprox sweep {} --resume {}`",
        dir.join("sweep.jsonl").display(),
        ctx.sc.base.task,
        dir.display()
    ));
    dir.to_path_buf()
}

/// The training curves of a run directory, once its methods have logs.
fn figures_of(point: &Path, ctx: &Ctx) -> Result<()> {
    if point.join("config.json").is_file() {
        crate::report::write_figures(point).map(|_| ()).or_else(|e| {
            // A figure is a convenience; the sweep's numbers are in sweep.jsonl.
            ctx.progress.message(&format!("warning: figures of {}: {e}", point.display()));
            Ok(())
        })
    } else {
        Ok(())
    }
}

impl Ctx<'_> {
    /// Trains `name` at (lr, λ, seed) in `point` unless `sweep.jsonl` has it, and records it. Returns
    /// false when interrupted.
    #[allow(clippy::too_many_arguments)]
    fn run_one(&self, results: &mut Results, point: &Path, methods: &[String], name: &str, lr: f64, lambda: f64, seed: u64, phase: &str, k: usize) -> Result<bool> {
        let label = format!("[{k}/{}] {name}, lr {}, λ {}, seed {seed}", self.total, num(lr), num(lambda));
        if results.log.find(name, lr, lambda, seed).is_some() {
            self.progress.message(&format!("{label}: done"));
            return Ok(true);
        }
        let cfg = self.sc.run_config(methods.to_vec(), lr, lambda, seed);
        let run = RunDir { path: point.to_path_buf() };
        std::fs::create_dir_all(point.join("checkpoints")).map_err(|e| Error::Other(format!("{}: {e}", point.display())))?;
        if !point.join("config.json").is_file() {
            let mut extra = json!({ "sweep_point_of": self.dir.display().to_string(), "data_seed": self.sc.base.seed });
            if let (Some(e), Value::Object(more)) = (extra.as_object_mut(), self.info.clone()) {
                e.extend(more);
            }
            run.write_config(&cfg, extra)?;
        }
        // The trainer marks a diverged method (`RunDir::mark_diverged`), so a crash before its record is
        // written does not train it again.
        let diverged = if run.diverged_at(name)?.is_some() {
            self.progress.message(&format!("{label}: diverged in an earlier session; recorded"));
            true
        } else {
            self.progress.message(&format!("{label}: training {} for {} iterations", cfg.model, cfg.iters));
            let bar = Labelled { inner: self.progress, label: format!("{name} {}/{}/s{seed}", num(lr), num(lambda)) };
            match trainer::train_method(self.gpu, &cfg, Method::parse(name)?, self.data, &run, self.interrupt, &bar)? {
                Outcome::Finished { .. } => false,
                Outcome::Interrupted { .. } => return Ok(false),
                Outcome::Diverged { .. } => true,
            }
        };
        let mut r = record_of(point, self.dir, name, lr, lambda, seed, phase, diverged)?;
        if let Some(dir) = &self.sc.corrupted_dir {
            r.corrupted_acc = corrupted_accuracy(self.gpu, &run, name, dir, self.progress)?;
        }
        self.progress.message(&format!(
            "{label}: {}best validation accuracy {} at iteration {}, test accuracy there {}, active units {}",
            if diverged { "diverged; " } else { "" },
            r.best_val_acc.map_or("—".into(), |v| format!("{:.2}%", 100.0 * v)),
            r.best_iter.map_or("—".into(), |v| v.to_string()),
            r.test_acc.map_or("—".into(), |v| format!("{:.2}%", 100.0 * v)),
            r.active_units.map_or("—".into(), |v| format!("{v:.1}%")),
        ));
        results.append(r)?;
        Ok(true)
    }
}

/// The progress bar's name for a run of the sweep: method, lr, λ and seed, not the method alone.
struct Labelled<'a> {
    inner: &'a dyn Progress,
    label: String,
}

impl Progress for Labelled<'_> {
    fn start(&self, _method: &str, from: u64, to: u64) {
        self.inner.start(&self.label, from, to)
    }
    fn advance(&self, step: u64) {
        self.inner.advance(step)
    }
    fn point(&self, p: &crate::train::rundir::LogPoint) {
        self.inner.point(p)
    }
    fn message(&self, text: &str) {
        self.inner.message(text)
    }
    fn finish(&self) {
        self.inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_gets_the_paper_s_grid() {
        let grid = |task| {
            let c = SweepConfig::from_overrides(task, &SweepOverrides::default()).unwrap();
            (c.lrs, c.lambdas, c.base.model)
        };
        assert_eq!(grid("task1"), (GRID_LRS.to_vec(), GRID_LAMBDAS.to_vec(), "mlp-3-400-factorized".into()));
        assert_eq!(grid("task3"), (TASK3_LRS.to_vec(), GRID_LAMBDAS.to_vec(), "vgg19".into()));
        assert_eq!(grid("task4"), (TASK4_LRS.to_vec(), TASK4_LAMBDAS.to_vec(), "vgg19".into()));
        let o = SweepOverrides { lrs: Some(vec![0.2]), ..Default::default() };
        assert_eq!(SweepConfig::from_overrides("task4", &o).unwrap().lrs, vec![0.2]);
    }
}
