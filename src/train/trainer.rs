//! The training loop for one method: everything built once (model, batch buffers, the step program, one
//! gather dispatch per step position in a chunk, the metric program), then chunks of steps between log
//! points replayed with no host read-back, a few submissions in flight; at each log point one metric
//! read-back, a JSON line, and (every N log points) an atomic checkpoint.
//!
//! Nothing is lost on interruption: Ctrl-C (the shared `interrupt` flag) stops after the current
//! submission and writes a checkpoint at that step; a crash loses at most the steps since the last
//! checkpoint. `--resume` reloads the checkpoint, rewinds the log to it and continues; the batch order is a
//! function of the step and the kernels are fixed, so it ends where the uninterrupted run would have.
//! A diverging run (non-finite loss) stops with a message, logs the non-finite point, marks the method
//! diverged (`<method>.diverged`) and keeps its last good checkpoint (at worst the initial parameters).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use super::batches::BatchOrder;
use super::checkpoint::Checkpoint;
use super::config::TrainConfig;
use super::eval::{EvalSet, Evaluator, LogPoint};
use super::method::{Method, Update};
use super::prune::Pruner;
#[cfg(not(target_arch = "wasm32"))]
use super::rundir::RunDir;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Program, Recorder};
use crate::nn::{Model, ModelSpec};
use crate::ops::gather::{self, GpuImages};

/// Steps recorded per submission, and submissions allowed in flight: enough to keep the GPU busy while
/// the host records the next one, few enough for a responsive progress bar and Ctrl-C.
const STEPS_PER_SUBMIT: u64 = 10;
#[cfg(not(target_arch = "wasm32"))]
const IN_FLIGHT: usize = 2;

/// The data a run trains and evaluates on, resident on the GPU. `sets` are evaluated at every log point
/// in this order: training set, validation set, test set.
pub struct GpuData {
    pub train: GpuImages,
    /// How training batches are normalised.
    pub norm: crate::data::Normalization,
    /// `Some(width)`: training batches are randomly cropped (padding 4) and flipped, CIFAR-10's
    /// augmentation, on images `width` pixels wide.
    pub augment: Option<usize>,
    pub sets: Vec<EvalSet>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Finished { points: Vec<LogPoint> },
    Interrupted { at: u64 },
    Diverged { at: u64, last_checkpoint: Option<u64> },
}

/// Moved to `crate::progress`; re-exported for the callers that found it here.
pub use crate::progress::Progress;

/// Checkpoint metadata keys (the iteration and wall time have accessors on `Checkpoint`).
use super::checkpoint::{ITERATION, WALL_S as WALL};
const TUNING: &str = "tuning";

pub fn checkpoint_of(model: &Model, values: Vec<Vec<f32>>, meta: &[(&str, String)]) -> Checkpoint {
    Checkpoint {
        tensors: model.store.infos.iter().zip(values).map(|(i, v)| (i.name.clone(), i.shape.clone(), v)).collect(),
        metadata: meta.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
    }
}

/// Uploads a checkpoint's tensors into the model, checking names and shapes.
pub fn load_into(gpu: &Gpu, model: &Model, ck: &Checkpoint, what: &str) -> Result<()> {
    let mut values = Vec::new();
    for info in &model.store.infos {
        let (_, shape, v) = ck.tensor(&info.name).ok_or_else(|| Error::Other(format!("{what}: no tensor '{}' for model {}", info.name, model.spec.name)))?;
        if *shape != info.shape {
            return Err(Error::Other(format!("{what}: '{}' has shape {shape:?}, model {} expects {:?}", info.name, model.spec.name, info.shape)));
        }
        values.push(v.clone());
    }
    model.store.upload(gpu, &values)
}

/// One method's training on one model: the step program and everything it reads, built once. The same
/// code steps natively (`train_method`) and in the browser (`web`), which cannot block: there the queue
/// alone orders the work, and the metrics and checkpoints are awaited.
pub struct MethodRun<'a> {
    gpu: &'a Gpu,
    cfg: TrainConfig,
    method: Method,
    model: Model,
    hyper: crate::Tensor,
    order: BatchOrder,
    chunk_indices: crate::Tensor,
    /// With augmentation: each chunk row's crop-and-flip code (`gather::augment_code`).
    chunk_codes: Option<crate::Tensor>,
    /// gathers[k]: the batch of step position k in the current chunk.
    gathers: Vec<Program>,
    step_body: Program,
    evaluator: Evaluator,
    /// With `cfg.prune`: the alive flags the step keeps (after its update) and their dispatches.
    pruner: Option<Pruner>,
}

impl<'a> MethodRun<'a> {
    /// Builds the built-in model `cfg.model` names (`ModelSpec::by_name`) and every program, with the
    /// seeded initialisation.
    pub fn new(gpu: &'a Gpu, cfg: &TrainConfig, method: Method, data: &GpuData, shuffle: bool) -> Result<MethodRun<'a>> {
        MethodRun::build(gpu, cfg, ModelSpec::by_name(&cfg.model)?, method, data, shuffle)
    }

    /// As [`MethodRun::new`], for any network: a model of the caller's own (`cfg.model` is ignored; the
    /// run's config and checkpoints record `spec.name`). `shuffle = false` takes the first `batch` rows at
    /// every step.
    pub fn with_spec(gpu: &'a Gpu, cfg: &TrainConfig, spec: ModelSpec, method: Method, data: &GpuData, shuffle: bool) -> Result<MethodRun<'a>> {
        let cfg = TrainConfig { model: spec.name.to_string(), ..cfg.clone() };
        MethodRun::build(gpu, &cfg, spec, method, data, shuffle)
    }

    fn build(gpu: &'a Gpu, cfg: &TrainConfig, spec: ModelSpec, method: Method, data: &GpuData, shuffle: bool) -> Result<MethodRun<'a>> {
        let model = Model::new(gpu, spec)?;
        if data.train.row_len != model.spec.input_len() {
            return Err(Error::Other(format!("{} takes inputs of {} values ({:?}); the training images have {}", cfg.model, model.spec.input_len(), model.spec.input, data.train.row_len)));
        }
        model.init(gpu, cfg.seed)?;
        let buf = model.activations(gpu, cfg.batch);
        let hyper = gpu.upload_f32(&[4], &[cfg.lr as f32, cfg.lambda as f32, 0.0, 0.0])?;
        let update = Update::new(gpu, &model, method)?;
        let mut step_body = Program::new();
        model.forward(gpu, &mut step_body, &buf)?;
        model.loss_and_backward(gpu, &mut step_body, &buf)?;
        update.record(gpu, &mut step_body, &model, &hyper)?;
        // Pruning needs no state beyond the flags, and a checkpoint needs none: a pruned unit is all
        // zero (w row, its bias, v), gets zero gradients under every method, so it stays zero and the first
        // pass after a resume flags it again before it could matter.
        let pruner = if cfg.prune {
            let p = Pruner::new(gpu, &model)?;
            p.record(gpu, &mut step_body)?;
            Some(p)
        } else {
            None
        };
        let chunk = cfg.log_every.min(cfg.iters.max(1)) as usize;
        let chunk_indices = gpu.zeros_u32(&[chunk * cfg.batch]);
        let chunk_codes = data.augment.map(|_| gpu.zeros_u32(&[chunk * cfg.batch]));
        let (mean, std) = (&data.norm.mean, &data.norm.std);
        let mut gathers = Vec::with_capacity(chunk);
        for k in 0..chunk {
            let mut p = Program::new();
            match (&chunk_codes, data.augment) {
                (Some(codes), Some(width)) => gather::gather_augment(gpu, &mut p, &data.train, &chunk_indices, codes, k * cfg.batch, width, mean, std, &buf.x[0], &buf.labels)?,
                _ => gather::gather_normalize(gpu, &mut p, &data.train, &chunk_indices, k * cfg.batch, mean, std, &buf.x[0], &buf.labels)?,
            }
            gathers.push(p);
        }
        let evaluator = Evaluator::new(gpu, &model, &data.sets, cfg.eval_batch)?;
        let order = BatchOrder { rows: data.train.rows, batch: cfg.batch, seed: cfg.seed, shuffle };
        // `buf` and `update` live on inside the recorded programs (dispatches keep their tensors alive).
        Ok(MethodRun { gpu, cfg: cfg.clone(), method, model, hyper, order, chunk_indices, chunk_codes, gathers, step_body, evaluator, pruner })
    }

    /// Changes the learning rate and λ from the next chunk of steps on (the browser's sliders).
    pub fn set_rates(&mut self, lr: f64, lambda: f64) {
        self.cfg.lr = lr;
        self.cfg.lambda = lambda;
    }

    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    pub fn method(&self) -> Method {
        self.method
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The pruning flags and dispatches (`cfg.prune`).
    pub fn pruner(&self) -> Option<&Pruner> {
        self.pruner.as_ref()
    }

    /// Runs steps [from, to) in chunks that end at log points and schedule milestones, without reading
    /// anything back; stops early (returning the step reached) when `interrupt` is set.
    pub fn steps(&self, from: u64, to: u64, interrupt: &AtomicBool, progress: &dyn Progress) -> Result<u64> {
        let gpu = self.gpu;
        let mut step = from;
        let mut lr = f64::NAN;
        while step < to {
            let end = self.cfg.next_stop(step).min(to);
            let want_lr = self.cfg.lr_at(step);
            if want_lr != lr {
                lr = want_lr;
                gpu.write_f32(&self.hyper, &[lr as f32, self.cfg.lambda as f32, 0.0, 0.0])?;
            }
            let indices = self.order.indices(step, (end - step) as usize);
            gpu.write_u32(&self.chunk_indices.view(0, &[indices.len()])?, &indices)?;
            if let Some(codes) = &self.chunk_codes {
                // Row b of step s is indices[(s − step)·batch + b]: its crop and flip depend on (seed, s, row).
                let c: Vec<u32> = indices.iter().enumerate().map(|(j, &row)| gather::augment_code(self.cfg.seed, step + (j / self.cfg.batch) as u64, row)).collect();
                gpu.write_u32(&codes.view(0, &[c.len()])?, &c)?;
            }
            let mut in_flight = VecDeque::new();
            let chunk_start = step;
            while step < end {
                let n = STEPS_PER_SUBMIT.min(end - step);
                let mut rec = Recorder::new(gpu);
                for s in step..step + n {
                    self.gathers[(s - chunk_start) as usize].record(&mut rec);
                    self.step_body.record(&mut rec);
                }
                in_flight.push_back(rec.submit());
                step += n;
                // The browser cannot block: its queue runs the submissions in order, and the page paces
                // itself by awaiting read-backs.
                #[cfg(not(target_arch = "wasm32"))]
                if in_flight.len() > IN_FLIGHT {
                    gpu.wait_for(in_flight.pop_front().expect("non-empty"))?;
                }
                // Submitted steps: at most IN_FLIGHT submissions ahead of the GPU.
                progress.advance(step);
                if interrupt.load(Ordering::Relaxed) {
                    break;
                }
            }
            // The next chunk rewrites the index stream: everything reading it must be done first. (The
            // queue writes it only after earlier submissions in any case; waiting also bounds memory.)
            #[cfg(not(target_arch = "wasm32"))]
            if let Some(last) = in_flight.pop_back() {
                gpu.wait_for(last)?;
            }
            if interrupt.load(Ordering::Relaxed) {
                break;
            }
        }
        Ok(step)
    }

    /// The metrics at the current parameters (blocking; natively).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn log_point(&self, iter: u64, steps_per_s: f64, wall_s: f64) -> Result<LogPoint> {
        pollster::block_on(self.measure(iter, steps_per_s, wall_s))
    }

    /// The metrics at the current parameters.
    pub async fn measure(&self, iter: u64, steps_per_s: f64, wall_s: f64) -> Result<LogPoint> {
        let m = self.evaluator.measure(self.gpu).await?;
        let lambda = self.cfg.lambda;
        let at = |v: &Vec<f64>, i: usize| v.get(i).copied().unwrap_or(f64::NAN);
        Ok(LogPoint {
            iter,
            train_ce: m.ce[0],
            objective: m.objective(lambda),
            objective_l2: m.objective_l2(lambda),
            path_norm: m.path_norm,
            active_units: m.active_units,
            train_acc: m.acc[0],
            val_ce: at(&m.ce, 1),
            val_acc: at(&m.acc, 1),
            test_ce: at(&m.ce, 2),
            test_acc: at(&m.acc, 2),
            lr: self.cfg.lr_at(iter.saturating_sub(1)),
            steps_per_s,
            wall_s,
        })
    }

    /// The parameters and what a resume needs (blocking; natively).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn checkpoint(&self, iter: u64, wall_s: f64) -> Result<Checkpoint> {
        pollster::block_on(self.checkpoint_async(iter, wall_s))
    }

    pub async fn checkpoint_async(&self, iter: u64, wall_s: f64) -> Result<Checkpoint> {
        let values = self.model.store.download(self.gpu).await?;
        let tuning = self.gpu.tuning_report().into_iter().map(|(k, i)| format!("{k}={i}")).collect::<Vec<_>>().join(";");
        Ok(checkpoint_of(
            &self.model,
            values,
            &[(ITERATION, iter.to_string()), (WALL, format!("{wall_s}")), ("method", self.method.name().into()), ("model", self.cfg.model.clone()), (TUNING, tuning)],
        ))
    }
}

/// Restores the kernel choices a checkpoint recorded (before any program is built).
pub fn preset_tuning(gpu: &Gpu, ck: &Checkpoint) {
    if let Some(t) = ck.metadata.get(TUNING) {
        for entry in t.split(';').filter(|e| !e.is_empty()) {
            if let Some((k, v)) = entry.rsplit_once('=')
                && let Ok(i) = v.parse() {
                    gpu.preset_tuning(k, i);
                }
        }
    }
}

/// Trains `method` as `cfg` says, logging into `run`; resumes from the run's checkpoint if there is one.
#[cfg(not(target_arch = "wasm32"))]
pub fn train_method(gpu: &Gpu, cfg: &TrainConfig, method: Method, data: &GpuData, run: &RunDir, interrupt: &AtomicBool, progress: &dyn Progress) -> Result<Outcome> {
    let name = method.name();
    let ck_path = run.checkpoint_path(name);
    if let Some(at) = run.diverged_at(name)? {
        progress.message(&format!("{name}: diverged at iteration {at} in an earlier session (see {}); not trained again", run.log_path(name).display()));
        return Ok(Outcome::Diverged { at, last_checkpoint: Checkpoint::load(&ck_path).ok().and_then(|ck| ck.iteration()) });
    }
    let resume = if ck_path.is_file() { Some(Checkpoint::load(&ck_path)?) } else { None };
    if let Some(ck) = &resume {
        preset_tuning(gpu, ck);
    }
    let job = MethodRun::new(gpu, cfg, method, data, true)?;
    let (mut step, mut wall0, mut points) = (0u64, 0.0f64, Vec::new());
    if let Some(ck) = &resume {
        load_into(gpu, &job.model, ck, &ck_path.display().to_string())?;
        step = ck.iteration().ok_or_else(|| Error::Other(format!("{}: no iteration in metadata", ck_path.display())))?;
        wall0 = ck.wall_s().unwrap_or(0.0);
        points = run.rewind_log(name, step)?;
        progress.message(&format!("{name}: resuming at iteration {step} from {}", ck_path.display()));
    }
    let started = std::time::Instant::now();
    let wall = |wall0: f64| wall0 + started.elapsed().as_secs_f64();
    let mut last_checkpoint = resume.as_ref().map(|_| step);
    // The best-validation checkpoint (what `pathprox lipschitz` and the paper's evaluation use) is
    // rewritten whenever a log point's validation accuracy beats every earlier one (the summary's rule).
    let best_path = run.best_checkpoint_path(name);
    let improves = |points: &[LogPoint], p: &LogPoint| points.iter().all(|q| p.val_acc > q.val_acc);
    if points.is_empty() {
        let p = job.log_point(step, 0.0, wall(wall0))?;
        run.append(name, &p)?;
        // The initial parameters, so that a run that diverges before its first checkpoint still has a
        // last good state to inspect or restart from.
        let ck = job.checkpoint(step, wall(wall0))?;
        ck.save(&ck_path)?;
        last_checkpoint = Some(step);
        if p.val_acc.is_finite() {
            ck.save(&best_path)?;
        }
        points.push(p);
    }
    progress.start(name, step, cfg.iters);
    let mut logs_since_checkpoint = 0;
    while step < cfg.iters {
        let target = cfg.next_stop(step);
        let t = std::time::Instant::now();
        let reached = job.steps(step, target, interrupt, progress)?;
        let rate = (reached - step) as f64 / t.elapsed().as_secs_f64().max(1e-9);
        step = reached;
        if step < target {
            // Interrupted mid-chunk: keep everything up to here.
            job.checkpoint(step, wall(wall0))?.save(&ck_path)?;
            progress.finish();
            return Ok(Outcome::Interrupted { at: step });
        }
        if step % cfg.log_every != 0 && step != cfg.iters {
            continue; // a schedule milestone, not a log point
        }
        let p = job.log_point(step, rate, wall(wall0))?;
        if !(p.train_ce.is_finite() && p.objective.is_finite()) {
            // Logged (non-finite values become null) so that the log, figures and summary say where it
            // diverged; the marker keeps `--resume` from training it into the same divergence again.
            run.append(name, &p)?;
            run.mark_diverged(name, step)?;
            progress.finish();
            progress.message(&format!(
                "{name}: diverged at iteration {step} (train cross-entropy {}, objective {}); {}",
                p.train_ce,
                p.objective,
                match last_checkpoint {
                    Some(c) => format!("the last good checkpoint (iteration {c}) is kept in {}", ck_path.display()),
                    None => "no checkpoint had been written yet".into(),
                }
            ));
            return Ok(Outcome::Diverged { at: step, last_checkpoint });
        }
        run.append(name, &p)?;
        progress.point(&p);
        if improves(&points, &p) {
            job.checkpoint(step, wall(wall0))?.save(&best_path)?;
        }
        points.push(p);
        logs_since_checkpoint += 1;
        if logs_since_checkpoint >= cfg.checkpoint_every || step == cfg.iters {
            job.checkpoint(step, wall(wall0))?.save(&ck_path)?;
            last_checkpoint = Some(step);
            logs_since_checkpoint = 0;
        }
        if interrupt.load(Ordering::Relaxed) {
            if last_checkpoint != Some(step) {
                job.checkpoint(step, wall(wall0))?.save(&ck_path)?;
            }
            progress.finish();
            return Ok(Outcome::Interrupted { at: step });
        }
    }
    progress.finish();
    Ok(Outcome::Finished { points })
}
