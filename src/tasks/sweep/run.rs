//! `pathprox sweep run DIR --index I`: one run of a sweep's plan, as an array task runs it.
//!
//! A grid run trains its method at its (lr, λ) in the point's directory. A re-run first reads the grid's
//! records: while any grid run is unfinished it refuses (naming them); then it trains its method at the
//! method's best grid point with its seed, in `<point>_seed<seed>/`, a directory shared with the other
//! methods that selected the same point (as the one-process sweep always did). Either way it resumes from
//! the run's checkpoint if an earlier attempt left one (the trainer does that bit for bit), and ends by
//! writing `records/<I>.json` atomically: done, diverged, skipped (a re-run with no usable grid point) or
//! failed (with the error). A run already recorded as a result is not run again.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use serde_json::{json, Value};

use super::lock::{IndexLock, Owner};
use super::plan::{Phase, PlannedRun, SweepDir};
use super::record::{self, RunRecord, State};
use super::super::task5::point_dir;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::report::num;
use crate::train::method::Method;
use crate::train::rundir::RunDir;
use crate::train::trainer::{self, GpuData, Outcome, Progress};

/// What a worker has: the device, the sweep's data on it, and how the adapter was chosen.
pub struct Worker<'a> {
    pub gpu: &'a Gpu,
    pub sweep: &'a SweepDir,
    pub data: &'a GpuData,
    /// What the data loader said (written into each point's config.json).
    pub info: &'a Value,
    /// How the adapter was chosen (`gpu::assigned::select`).
    pub adapter_choice: String,
    pub interrupt: &'a AtomicBool,
    pub progress: &'a dyn Progress,
}

/// How a call of `run_index` ended.
#[derive(Debug)]
pub enum Ran {
    /// It ran (now or in an earlier session) and its record is written.
    Recorded { record: Box<RunRecord>, earlier: bool },
    /// Interrupted (Ctrl-C, SIGTERM): the checkpoint is kept, the run is still to finish.
    Interrupted,
}

/// Where a run trains: its directory (relative to the sweep), the methods that share it, lr, λ.
struct Placement {
    dir: String,
    methods: Vec<String>,
    lr: f64,
    lambda: f64,
}

/// Grid runs without a result (missing, running or failed), as "#3 pathprox lr 0.1 λ 1e-3 seed 0 (failed)".
pub fn unfinished_grid(sweep: &SweepDir, records: &[Option<RunRecord>]) -> Vec<String> {
    sweep
        .plan
        .grid_runs()
        .iter()
        .filter_map(|p| match &records[p.index] {
            Some(r) if r.state.is_final() => None,
            Some(_) => Some(format!("{p} (failed)")),
            None => Some(format!("{p}")),
        })
        .collect()
}

/// A re-run's point: the method's best grid point. `Ok(None)`: the method has none (all diverged).
fn rerun_placement(sweep: &SweepDir, p: &PlannedRun) -> Result<Option<Placement>> {
    let records = record::read_all(sweep)?;
    let missing = unfinished_grid(sweep, &records);
    if !missing.is_empty() {
        return Err(Error::Other(format!(
            "sweep: re-run {p} picks its point from the grid's results, and {} of the {} grid runs have none yet: {}; run those first (`pathprox sweep status {}`)",
            missing.len(),
            sweep.plan.grid,
            missing.join(", "),
            sweep.path.display()
        )));
    }
    let log = record::sweep_log(&records);
    let first = sweep.config.base.seed;
    let Some((lr, lambda, _)) = log.select(&p.method, first) else { return Ok(None) };
    let methods = sweep.config.base.methods.iter().filter(|m| log.select(m, first).is_some_and(|(l, g, _)| l.to_bits() == lr.to_bits() && g.to_bits() == lambda.to_bits())).cloned().collect();
    Ok(Some(Placement { dir: format!("{}_seed{}", point_dir(lr, lambda), p.seed), methods, lr, lambda }))
}

/// Runs index `index` of the plan; the caller holds its lock (`IndexLock::acquire`).
pub fn run_index(w: &Worker, index: usize, _lock: &IndexLock, label: &str) -> Result<Ran> {
    let sweep = w.sweep;
    let p = sweep.plan.get(index)?.clone();
    if let Some(r) = RunRecord::read(&sweep.path, index)?
        && r.state.is_final()
    {
        return Ok(Ran::Recorded { record: Box::new(r), earlier: true });
    }
    let finish = |state: State, record: Option<crate::report::sweep::SweepRecord>, error: Option<String>| -> Result<RunRecord> {
        let r = RunRecord {
            index,
            state,
            record,
            error,
            worker: Owner::me(),
            adapter: format!("{} ({})", w.gpu.describe(), w.adapter_choice),
            finished: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        r.write(&sweep.path)?;
        Ok(r)
    };
    let placement = match p.phase {
        Phase::Grid => {
            let (lr, lambda) = (p.lr.expect("grid runs have an lr"), p.lambda.expect("and a λ"));
            Placement { dir: point_dir(lr, lambda), methods: sweep.config.base.methods.clone(), lr, lambda }
        }
        Phase::Seed => match rerun_placement(sweep, &p)? {
            Some(pl) => pl,
            None => {
                let why = format!("{}: no grid point finished without diverging; no re-runs", p.method);
                w.progress.message(&format!("{label}: {why}"));
                return Ok(Ran::Recorded { record: Box::new(finish(State::Skipped, None, Some(why))?), earlier: false });
            }
        },
    };
    match train(w, &p, &placement, label) {
        Ok(Some((diverged, rec))) => Ok(Ran::Recorded { record: Box::new(finish(if diverged { State::Diverged } else { State::Done }, Some(rec), None)?), earlier: false }),
        Ok(None) => Ok(Ran::Interrupted),
        Err(e) => {
            finish(State::Failed, None, Some(e.to_string()))?;
            Err(e)
        }
    }
}

/// Trains the run (resuming its checkpoint); `None` when interrupted.
fn train(w: &Worker, p: &PlannedRun, at: &Placement, label: &str) -> Result<Option<(bool, crate::report::sweep::SweepRecord)>> {
    let sweep = w.sweep;
    let sc = &sweep.config;
    let point = sweep.path.join(&at.dir);
    let cfg = sc.run_config(at.methods.clone(), at.lr, at.lambda, p.seed);
    let run = RunDir { path: point.clone() };
    std::fs::create_dir_all(point.join("checkpoints")).map_err(|e| Error::Other(format!("{}: {e}", point.display())))?;
    if !point.join("config.json").is_file() {
        let mut extra = json!({ "sweep_point_of": sweep.path.display().to_string(), "data_seed": sc.base.seed });
        if let (Some(e), Value::Object(more)) = (extra.as_object_mut(), w.info.clone()) {
            e.extend(more);
        }
        run.write_config(&cfg, extra)?;
    }
    let say = |s: &str| w.progress.message(s);
    let (tuning_file, tuning) = super::tuning::share(w.gpu, &sweep.path, &cfg, w.data, &say)?;
    // The run's own config: what it trained with and where (the point's config.json is shared by the
    // methods there, which different workers, possibly on different adapters, may run).
    let mut own = serde_json::to_value(TrainConfigWithMethod { cfg: &cfg, method: &p.method }).map_err(|e| Error::Other(e.to_string()))?;
    if let Some(o) = own.as_object_mut() {
        o.extend([
            ("sweep_index".to_string(), json!(p.index)),
            ("adapter".to_string(), json!(w.gpu.describe())),
            ("adapter_chosen_by".to_string(), json!(w.adapter_choice)),
            ("tuning_file".to_string(), json!(tuning_file.strip_prefix(&sweep.path).unwrap_or(&tuning_file).display().to_string())),
            ("tuning_made_on".to_string(), json!(tuning.adapter)),
            ("tuning".to_string(), json!(tuning.choices)),
            ("worker".to_string(), serde_json::to_value(Owner::me()).unwrap_or(Value::Null)),
        ]);
    }
    let text = serde_json::to_string_pretty(&own).map_err(|e| Error::Other(e.to_string()))?;
    crate::files::write_atomically(&point.join(format!("{}.run.json", p.method)), text.as_bytes())?;

    let diverged = if run.diverged_at(&p.method)?.is_some() {
        w.progress.message(&format!("{label}: diverged in an earlier session; recorded"));
        true
    } else {
        w.progress.message(&format!("{label}: training {} for {} iterations", cfg.model, cfg.iters));
        let bar = super::Labelled { inner: w.progress, label: format!("{} {}/{}/s{}", p.method, num(at.lr), num(at.lambda), p.seed) };
        match trainer::train_method(w.gpu, &cfg, Method::parse(&p.method)?, w.data, &run, w.interrupt, &bar)? {
            Outcome::Finished { .. } => false,
            Outcome::Interrupted { .. } => return Ok(None),
            Outcome::Diverged { .. } => true,
        }
    };
    let mut r = super::record_of(&point, &sweep.path, &p.method, at.lr, at.lambda, p.seed, p.phase.name(), diverged)?;
    if let Some(dir) = &sc.corrupted_dir {
        r.corrupted_acc = super::corrupted_accuracy(w.gpu, &run, &p.method, dir, w.progress)?;
    }
    w.progress.message(&format!(
        "{label}: {}best validation accuracy {} at iteration {}, test accuracy there {}, active units {}",
        if diverged { "diverged; " } else { "" },
        r.best_val_acc.map_or("—".into(), |v| format!("{:.2}%", 100.0 * v)),
        r.best_iter.map_or("—".into(), |v| v.to_string()),
        r.test_acc.map_or("—".into(), |v| format!("{:.2}%", 100.0 * v)),
        r.active_units.map_or("—".into(), |v| format!("{v:.1}%")),
    ));
    Ok(Some((diverged, r)))
}

#[derive(serde::Serialize)]
struct TrainConfigWithMethod<'a> {
    #[serde(flatten)]
    cfg: &'a crate::train::config::TrainConfig,
    method: &'a str,
}

/// `sweep run DIR --index I` as a process does it: the lock (before the device opens, so that a second
/// worker refuses at once), the data, the run.
pub fn run_one_index(open_gpu: &dyn Fn() -> Result<(Gpu, String)>, dir: &Path, index: usize, interrupt: &AtomicBool, progress: &dyn Progress) -> Result<Ran> {
    let sweep = SweepDir::open(dir)?;
    let p = sweep.plan.get(index)?.clone();
    let label = format!("[{}/{}] {p}", index + 1, sweep.plan.len());
    if let Some(r) = RunRecord::read(dir, index)?
        && r.state.is_final()
    {
        progress.message(&format!("{label}: done ({:?} in an earlier session; records/{index}.json)", r.state));
        return Ok(Ran::Recorded { record: Box::new(r), earlier: true });
    }
    let lock = IndexLock::acquire(dir, index)?;
    if p.phase == Phase::Seed {
        // Refuse before opening a device and loading data.
        let records = record::read_all(&sweep)?;
        if !unfinished_grid(&sweep, &records).is_empty() {
            rerun_placement(&sweep, &p)?;
        }
    }
    let (gpu, adapter_choice) = open_gpu()?;
    let say = |s: &str| progress.message(s);
    let (data, info) = super::super::load_data(&gpu, &sweep.config.base, &say)?;
    let w = Worker { gpu: &gpu, sweep: &sweep, data: &data, info: &info, adapter_choice, interrupt, progress };
    let ran = run_index(&w, index, &lock, &label)?;
    if let Ran::Recorded { record, .. } = &ran {
        progress.message(&format!("{label}: {:?}; wrote records/{index}.json", record.state));
    }
    Ok(ran)
}
