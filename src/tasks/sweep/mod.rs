//! `pathprox sweep TASK`: the paper's evaluation protocol for Tasks 1–2 (docs/algorithm.md, "Grids for Tasks
//! 1–2" and Metrics; the paper's Table 1). Every method is trained at every point of an lr × λ grid; per
//! method, the point with the best validation accuracy is re-run with more seeds; Table 1 reports the test
//! accuracy at the best validation point and the active units there, mean ± standard error over the seeds.
//!
//! A sweep is a list of independent runs with stable indexes ([`plan`](mod@plan)), which any array-job engine can
//! execute (`pathprox sweep run DIR --index I`, [`run`](mod@run); Slurm: `pathprox sweep slurm`, [`slurm`]); the
//! one-process `pathprox sweep TASK` is a loop over the same runs. docs/cluster.md tells the whole story.
//!
//! Sweep directory `runs/sweep-<task>-<time>/`:
//! - `config.json`: the shared settings, the grid (`lrs`, `lambdas`) and `seeds` ([`SweepConfig`]);
//!   `plan.json`: the runs and their indexes;
//! - one run directory per grid point, `lr0.1_lambda1e-4/` (as Task 5 names them), holding every method's
//!   log and checkpoint at the first seed, so `pathprox plot` draws its training curves, and each
//!   method's `<method>.run.json` (its settings, adapter and kernel choices);
//! - one per re-run, `lr0.1_lambda1e-4_seed1/`, holding the methods that selected that point;
//! - `records/<index>.json`: what became of each run, written atomically by its worker ([`record`]);
//!   `locks/<index>.lock`: the worker running it ([`lock`]); `tuning/<adapter>.json`: the kernel choices
//!   every worker on that kind of adapter shares ([`tuning`]);
//! - `sweep.jsonl` (the finished records merged, in index order), `table1.md` (also printed) and
//!   `figures/sweep.png` (validation accuracy over the grid), written by `sweep collect` ([`collect`]).
//!
//! **Seeds and data.** A run's seed sets its initialisation and batch order. The data split (Task 1's 100
//! images per class; the split of the shipped subset) is drawn once, with the sweep's first seed, for every
//! run: the grid is searched and the seeds are compared on the same validation and test sets, so the
//! standard error measures the optimisation's variability, not the subset's. (`data_seed` in each run's
//! config.json records it.)
//!
//! **Resuming** (`--resume DIR`): recorded runs are never re-run; an interrupted run continues from its
//! checkpoint (bit for bit, as every task does); a diverged run is recorded (`diverged: true`) and not a
//! candidate for selection.

pub mod collect;
pub mod lock;
pub mod plan;
pub mod record;
pub mod run;
pub mod slurm;
pub mod status;
pub mod tuning;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::Overrides;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::report::sweep::SweepRecord;
use crate::report::{num, Metric, Run};
use crate::train::config::TrainConfig;
use crate::train::rundir::RunDir;
use crate::progress::Progress;
use lock::IndexLock;
use plan::{Phase, SweepDir};
use run::{Ran, Worker};

/// docs/algorithm.md: "Grids for Tasks 1–2: lr {0.003,0.01,0.03,0.1,0.3,0.5} × λ {1e-5,…,1e-2}".
pub const GRID_LRS: [f64; 6] = [0.003, 0.01, 0.03, 0.1, 0.3, 0.5];
pub const GRID_LAMBDAS: [f64; 7] = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2];
/// "then 3 more seeds: mean ± standard error of 4 runs".
pub const DEFAULT_SEEDS: u64 = 4;
pub const TASKS: [&str; 4] = ["task1", "task2", "task3", "task4"];
/// docs/algorithm.md: "Task 3: lr {0.01,0.03,0.1,0.3} × the same λ".
pub const TASK3_LRS: [f64; 4] = [0.01, 0.03, 0.1, 0.3];
/// docs/algorithm.md, Task 4: "grid lr {0.03,0.1,0.3,0.5}, λ {1e-4,3e-4,1e-3,3e-3}".
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
    /// Kernel choices to reuse (`sweep --tuning FROM`): a sweep directory, its `tuning/` or one file.
    pub tuning: Option<PathBuf>,
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
    pub fn run_config(&self, methods: Vec<String>, lr: f64, lambda: f64, seed: u64) -> TrainConfig {
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
pub(crate) fn corrupted_accuracy(gpu: &Gpu, run: &RunDir, method: &str, data_dir: &Path, progress: &dyn Progress) -> Result<Option<f64>> {
    let checkpoint = run.best_checkpoint_path(method);
    if !checkpoint.is_file() {
        return Ok(None);
    }
    let req = super::eval_corrupted::Request { checkpoint, data_dir: data_dir.to_path_buf(), eval_batch: 1000, max_rows: None };
    Ok(Some(super::eval_corrupted::run(gpu, &req, progress)?.mean))
}

/// A new sweep directory under `runs_root` with its config and plan (`sweep TASK --plan-only`, and the
/// start of every sweep); `o.tuning` copies earlier kernel choices into it.
pub fn plan(task: &str, o: &SweepOverrides, runs_root: &Path, info: &serde_json::Value) -> Result<SweepDir> {
    let sc = SweepConfig::from_overrides(task, o)?;
    let dir = RunDir::create(runs_root, &format!("sweep-{task}"))?.path;
    // RunDir makes checkpoints/ for a run; a sweep keeps its checkpoints in the run directories.
    let _ = std::fs::remove_dir(dir.join("checkpoints"));
    // Workers on other machines find the directory by this path: make it absolute.
    let dir = std::fs::canonicalize(&dir).map_err(|e| Error::Other(format!("{}: {e}", dir.display())))?;
    let sweep = SweepDir::write(&dir, &sc, info)?;
    if let Some(from) = &o.tuning {
        tuning::import(&dir, from)?;
    }
    Ok(sweep)
}

/// Opens the sweep `dir` of `task` (`--resume`).
pub fn open(task: &str, dir: &Path) -> Result<SweepDir> {
    let sweep = SweepDir::open(dir)?;
    if sweep.config.base.task != task {
        return Err(Error::Other(format!("{}: a sweep of {}, not {task}", dir.display(), sweep.config.base.task)));
    }
    Ok(sweep)
}

/// "[3/10] pathprox, lr 0.1, λ 1e-3, seed 0" (re-runs: their point once the grid says it).
fn label(sweep: &SweepDir, index: usize) -> String {
    let p = &sweep.plan.runs[index];
    let total = sweep.plan.len();
    match (p.lr, p.lambda) {
        (Some(lr), Some(lambda)) => format!("[{}/{total}] {}, lr {}, λ {}, seed {}", index + 1, p.method, num(lr), num(lambda), p.seed),
        _ => format!("[{}/{total}] {}, re-run, seed {}", index + 1, p.method, p.seed),
    }
}

/// The one-process sweep: every run of the plan in index order in this process (or, with `resume`, the
/// ones not yet recorded), then `collect`; returns the sweep directory.
pub fn run(gpu: &Gpu, task: &str, o: &SweepOverrides, runs_root: &Path, resume: Option<&Path>, interrupt: &AtomicBool, progress: &dyn Progress) -> Result<PathBuf> {
    run_with(gpu, "the one-process sweep's device", task, o, runs_root, resume, interrupt, progress)
}

/// As `run`, saying in each run's record how the adapter was chosen.
#[allow(clippy::too_many_arguments)]
pub fn run_with(gpu: &Gpu, adapter_choice: &str, task: &str, o: &SweepOverrides, runs_root: &Path, resume: Option<&Path>, interrupt: &AtomicBool, progress: &dyn Progress) -> Result<PathBuf> {
    let say = |s: &str| progress.message(s);
    // Checked before any directory is made.
    let sc = match resume {
        Some(dir) => open(task, dir)?.config,
        None => SweepConfig::from_overrides(task, o)?,
    };
    // One data split for every run (see the module's notes).
    let (data, info) = super::load_data(gpu, &sc.base, &say)?;
    let sweep = match resume {
        Some(dir) => {
            say(&format!("resuming the {task} sweep in {}", dir.display()));
            let s = open(task, dir)?;
            let n = record::import_sweep_jsonl(&s)?;
            if n > 0 {
                say(&format!("{n} finished run(s) read from sweep.jsonl (a sweep from before records/)"));
            }
            s
        }
        None => plan(task, o, runs_root, &info)?,
    };
    let dir = sweep.path.clone();
    let methods = sc.base.methods.clone();
    say(&format!(
        "sweep of {}: methods {}; {} runs of {} iterations ({} in the grid, then {} seed(s) more per method); sweep directory {}",
        sc.caption(),
        methods.join(", "),
        sweep.plan.len(),
        sc.base.iters,
        sweep.plan.grid,
        sc.seeds - 1,
        dir.display()
    ));
    let started = Instant::now();
    let w = Worker { gpu, sweep: &sweep, data: &data, info: &info, adapter_choice: adapter_choice.to_string(), interrupt, progress };
    for index in 0..sweep.plan.len() {
        let p = &sweep.plan.runs[index];
        if p.phase == Phase::Seed && index == sweep.plan.grid {
            let log = record::sweep_log(&record::read_all(&sweep)?);
            for name in &methods {
                match log.select(name, sc.base.seed) {
                    Some((lr, lambda, val)) => say(&format!("{name}: best validation accuracy {:.2}% at lr {}, λ {}", 100.0 * val, num(lr), num(lambda))),
                    None => say(&format!("{name}: no grid point finished without diverging; no re-runs")),
                }
            }
        }
        let label = label(&sweep, index);
        let lock = IndexLock::acquire(&dir, index)?;
        match run::run_index(&w, index, &lock, &label)? {
            Ran::Recorded { earlier: true, .. } => say(&format!("{label}: done")),
            Ran::Recorded { earlier: false, .. } => record::write_sweep_jsonl(&dir, &record::sweep_log(&record::read_all(&sweep)?))?,
            Ran::Interrupted => {
                say(&format!("interrupted; finished runs are kept in {}; continue with `pathprox sweep {task} --resume {}`", dir.join("records").display(), dir.display()));
                return Ok(dir);
            }
        }
    }
    let out = collect::collect(&sweep, progress)?;
    say(&format!("sweep finished ({:.0} s this session); table: {}; figure: {}", started.elapsed().as_secs_f64(), dir.join("table1.md").display(), out.figure.display()));
    println!("\n{}", out.table);
    Ok(dir)
}

/// The progress bar's name for a run of the sweep: method, lr, λ and seed, not the method alone.
pub(crate) struct Labelled<'a> {
    pub(crate) inner: &'a dyn Progress,
    pub(crate) label: String,
}

impl Progress for Labelled<'_> {
    fn start(&self, _method: &str, from: u64, to: u64) {
        self.inner.start(&self.label, from, to)
    }
    fn advance(&self, step: u64) {
        self.inner.advance(step)
    }
    fn point(&self, p: &crate::progress::LogPoint) {
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
