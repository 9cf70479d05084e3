//! The paper's tasks as data (model, methods, settings; docs/algorithm.md "Tasks") and the command that runs one
//! end to end: load and split the data, upload it once, train each method from the same initialisation
//! with a progress bar, then print the summary table and draw the figures.

pub mod evaluate;
pub mod export;
pub mod lipschitz;
pub mod eval_corrupted;
pub mod step;
pub mod sweep;
pub mod task5;
pub mod toy;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::data::mnist::TaskSplit;
use crate::data::set::{HostImages, HostSplits, Set};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::gather::GpuImages;
use crate::train::config::TrainConfig;
use crate::train::eval::EvalSet;
use crate::train::method::Method;
use crate::train::rundir::RunDir;
use crate::train::trainer::{self, GpuData, Outcome, Progress};

/// Command-line overrides of a task's paper settings (`None`: keep the paper's).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub iters: Option<u64>,
    pub lr: Option<f64>,
    pub lambda: Option<f64>,
    pub batch: Option<usize>,
    pub seed: Option<u64>,
    pub methods: Option<Vec<String>>,
    pub log_every: Option<u64>,
    pub checkpoint_every: Option<u64>,
    pub no_balance: bool,
    pub dataset: Option<String>,
    pub data_dir: Option<String>,
    pub eval_batch: Option<usize>,
    pub max_rows: Option<usize>,
}

pub use crate::train::presets::{preset, TASK3_EPOCH, TASK4_EPOCH, TASKS, VGG_EPOCHS, VGG_MILESTONES};

/// A task's driver when it has its own (Task 5: train, prune, retrain on a grid).
type Driver = fn(&Gpu, &Overrides, &Path, Option<&Path>, &AtomicBool, &dyn Progress) -> Result<PathBuf>;
/// What a task reports after its methods are trained, beyond the figures and summary table every task has.
type After = fn(&Gpu, &RunDir, &TrainConfig, &dyn Progress, &dyn Fn(&str)) -> Result<()>;

/// Where a task differs from the generic train path, looked up once by its name (this is the one place
/// that tells the tasks apart by name).
struct Hooks {
    /// Replaces the generic path entirely.
    driver: Option<Driver>,
    /// How MNIST's training file is split (docs/algorithm.md "Tasks": Task 1's own rule, Task 2's for the rest).
    split: TaskSplit,
    after: Option<After>,
}

fn hooks(task: &str) -> Hooks {
    let plain = Hooks { driver: None, split: TaskSplit::TASK2, after: None };
    match task {
        "task1" => Hooks { split: TaskSplit::TASK1, after: Some(lipschitz_table), ..plain },
        "task5" => Hooks { driver: Some(task5_driver), ..plain },
        "toy" => Hooks { after: Some(toy_figure), ..plain },
        _ => plain,
    }
}

fn task5_driver(gpu: &Gpu, o: &Overrides, runs_root: &Path, resume: Option<&Path>, interrupt: &AtomicBool, progress: &dyn Progress) -> Result<PathBuf> {
    let o = task5::Task5Overrides { base: o.clone(), ..Default::default() };
    task5::run(gpu, &o, runs_root, resume, interrupt, progress)
}

/// Task 1 ends with the local Lipschitz constants of the best-validation checkpoints.
fn lipschitz_table(gpu: &Gpu, run: &RunDir, _: &TrainConfig, progress: &dyn Progress, _: &dyn Fn(&str)) -> Result<()> {
    println!("\n{}", lipschitz::report(&lipschitz::run(gpu, &run.path, lipschitz::DEFAULT_SAMPLES, progress)?));
    Ok(())
}

/// The toy ends with Fig. 2's decision regions.
fn toy_figure(gpu: &Gpu, run: &RunDir, cfg: &TrainConfig, _: &dyn Progress, say: &dyn Fn(&str)) -> Result<()> {
    say(&format!("Fig. 2: {}", toy::figure(gpu, &run.path, cfg, say)?.display()));
    Ok(())
}

/// The paper's settings with the user's overrides applied, validated.
pub fn config(task: &str, o: &Overrides) -> Result<TrainConfig> {
    let mut c = preset(task)?;
    if let Some(v) = o.iters {
        c.iters = v;
    }
    if let Some(v) = o.lr {
        c.lr = v;
    }
    if let Some(v) = o.lambda {
        c.lambda = v;
    }
    if let Some(v) = o.batch {
        c.batch = v;
    }
    if let Some(v) = o.seed {
        c.seed = v;
    }
    if let Some(v) = &o.methods {
        c.methods = v.clone();
    }
    if let Some(v) = o.log_every {
        c.log_every = v;
    }
    if let Some(v) = o.checkpoint_every {
        c.checkpoint_every = v;
    }
    if let Some(v) = &o.dataset {
        c.dataset = v.clone();
    }
    if o.data_dir.is_some() {
        c.data_dir = o.data_dir.clone();
    }
    if let Some(v) = o.eval_batch {
        c.eval_batch = v;
    }
    if o.max_rows.is_some() {
        c.max_rows = o.max_rows;
    }
    if o.no_balance {
        for m in &mut c.methods {
            if m == "pathprox" {
                *m = "pathprox-nobalance".into();
            }
        }
    }
    for m in &c.methods {
        Method::parse(m)?;
    }
    c.validate()?;
    // Before any run directory exists: the model must take the data set's images.
    let (spec, set) = (crate::nn::ModelSpec::by_name(&c.model)?, Set::parse(&c.dataset)?);
    if let Some((pixels, _, _)) = set.image_layout()
        && spec.input_len() != pixels
    {
        return Err(Error::Other(format!("{task} trains {}, which takes {:?} inputs; --dataset {} has images of {pixels} values", c.model, spec.input, c.dataset)));
    }
    Ok(c)
}

/// Loads the task's splits and uploads them once: training images for batches, and the train,
/// validation and test sets for the metrics.
pub fn load_data(gpu: &Gpu, cfg: &TrainConfig, say: &dyn Fn(&str)) -> Result<(GpuData, serde_json::Value)> {
    let set = Set::parse(&cfg.dataset)?;
    let Some((row_len, plane, width)) = set.image_layout() else {
        return toy::load_data(gpu, cfg, say);
    };
    let norm = set.normalization();
    let HostSplits { sets, note } = set.splits(cfg.data_dir.as_deref().map(Path::new), hooks(&cfg.task).split, cfg.seed)?;
    if let Some(note) = &note {
        say(&format!("note: {note}"));
    }
    let [train, val, test] = match cfg.max_rows {
        Some(n) => {
            say(&format!("note: --max-rows {n}: every set is cut to its first {n} rows"));
            sets.map(|d| d.first(n, row_len))
        }
        None => sets,
    };
    say(&format!("data: train {} ({}), validation {}, test {} ({})", train.len(), train.source, val.len(), test.len(), test.source));
    let upload = |d: &HostImages| GpuImages::upload(gpu, &d.images, &d.labels, row_len, plane);
    let gpu_train = upload(&train)?;
    let sets = vec![
        EvalSet::new(gpu, "train", gpu_train.clone(), norm.clone())?,
        EvalSet::new(gpu, "val", upload(&val)?, norm.clone())?,
        EvalSet::new(gpu, "test", upload(&test)?, norm.clone())?,
    ];
    let info = serde_json::json!({
        "data": { "train": train.source, "train_rows": train.len(), "val_rows": val.len(),
                  "test": test.source, "test_rows": test.len(), "note": note },
        "adapter": gpu.describe(),
    });
    let augment = set.augmented().then_some(width);
    Ok((GpuData { train: gpu_train, norm, augment, sets }, info))
}

/// Runs (or, with `resume`, continues) a task; returns the run directory. When a method diverged, the
/// others still run and everything is written, then the result is `Error::Diverged`.
pub fn run(gpu: &Gpu, task: &str, o: &Overrides, runs_root: &Path, resume: Option<&Path>, interrupt: &AtomicBool, progress: &dyn Progress) -> Result<PathBuf> {
    if let Some(driver) = hooks(task).driver {
        return driver(gpu, o, runs_root, resume, interrupt, progress);
    }
    let start = match resume {
        Some(dir) => Start::Resume(dir),
        None => Start::New(Box::new(config(task, o)?)),
    };
    train(gpu, start, runs_root, interrupt, progress)
}

/// A run to start with these settings, or the run in this directory to continue.
pub enum Start<'p> {
    New(Box<TrainConfig>),
    Resume(&'p Path),
}

/// Trains every method of a run one after the other, then writes its figures and summary.
pub fn train(gpu: &Gpu, start: Start, runs_root: &Path, interrupt: &AtomicBool, progress: &dyn Progress) -> Result<PathBuf> {
    let (existing, cfg) = match start {
        Start::Resume(dir) => {
            let run = RunDir::open(dir)?;
            let cfg = run.read_config()?;
            progress.message(&format!("resuming {} in {}", cfg.task, dir.display()));
            (Some(run), cfg)
        }
        Start::New(cfg) => (None, *cfg),
    };
    let say = |s: &str| progress.message(s);
    // The data first: a missing or unreadable data set leaves no empty run directory behind.
    let (data, info) = load_data(gpu, &cfg, &say)?;
    let run = match existing {
        Some(run) => run,
        None => {
            let run = RunDir::create(runs_root, &cfg.task)?;
            run.write_config(&cfg, info)?;
            run
        }
    };
    say(&format!(
        "{}: {} on {}, methods {}, batch {}, lr {}, λ {}, {} iterations, log every {}; run directory {}",
        cfg.task,
        cfg.model,
        cfg.dataset,
        cfg.methods.join(", "),
        cfg.batch,
        cfg.lr,
        cfg.lambda,
        cfg.iters,
        cfg.log_every,
        run.path.display()
    ));
    let mut diverged = Vec::new();
    for name in &cfg.methods {
        let method = Method::parse(name)?;
        match trainer::train_method(gpu, &cfg, method, &data, &run, interrupt, progress)? {
            Outcome::Finished { .. } => {}
            Outcome::Interrupted { at } => {
                say(&format!("interrupted: {name} checkpointed at iteration {at}; continue with `pathprox {} --resume {}`", cfg.task, run.path.display()));
                return Ok(run.path);
            }
            Outcome::Diverged { at, .. } => diverged.push(format!("{name} at iteration {at}")),
        }
    }
    let figures = crate::report::write_figures(&run.path)?;
    say(&format!("figures: {}", figures.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")));
    println!("\n{}", crate::report::summary_table(&run.path)?);
    if let Some(after) = hooks(&cfg.task).after {
        after(gpu, &run, &cfg, progress, &say)?;
    }
    if !diverged.is_empty() {
        return Err(Error::Diverged { methods: diverged.join(", "), run_dir: run.path });
    }
    Ok(run.path)
}
