//! `pathprox eval CHECKPOINT`: test accuracy, cross-entropy and inference time of a model file — a training
//! checkpoint or a compact export — and, with `--compare OTHER`, how far the two models' logits are apart
//! on every test image (a compact export must equal its original).
//!
//! The test set: that of the run the checkpoint belongs to (`--run RUN_DIR`, or the run directory holding
//! `checkpoints/` with the file, unless `--data-dir` is given), else the test set Task 2 would use from
//! `--data-dir` (the official 10,000 test images when present).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::analysis::model_file;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Program};
use crate::nn::Model;
use crate::ops::gather::{self, GpuImages};
use crate::train::rundir::RunDir;

pub struct EvalArgs {
    pub checkpoint: PathBuf,
    pub compare: Option<PathBuf>,
    pub run: Option<PathBuf>,
    pub data_dir: Option<String>,
    /// Images per forward pass.
    pub batch: usize,
    /// Timed passes over the test set (the median is reported).
    pub repeats: usize,
}

/// One model on the test set.
#[derive(Clone, Debug)]
pub struct ModelEval {
    pub path: PathBuf,
    pub widths: Vec<usize>,
    pub params: usize,
    pub accuracy: f64,
    pub cross_entropy: f64,
    /// Median seconds of one forward pass over the whole test set (normalisation included).
    pub pass_s: f64,
    /// [rows, classes].
    pub logits: Vec<f32>,
}

/// The test set and its description.
pub struct TestSet {
    pub images: GpuImages,
    /// The data set's normalisation (MNIST's, CIFAR-10's, …).
    pub norm: crate::data::Normalization,
    pub labels: Vec<u32>,
    pub source: String,
}

/// The run directory a checkpoint sits in (`RUN/checkpoints/FILE`), if it is one.
fn run_of(checkpoint: &Path) -> Option<PathBuf> {
    let dir = checkpoint.parent()?;
    let run = if dir.file_name()? == "checkpoints" { dir.parent()? } else { return None };
    run.join("config.json").is_file().then(|| run.to_path_buf())
}

pub fn test_set(gpu: &Gpu, args: &EvalArgs, say: &dyn Fn(&str)) -> Result<TestSet> {
    let run = args.run.clone().or_else(|| if args.data_dir.is_none() { run_of(&args.checkpoint) } else { None });
    let cfg = match &run {
        Some(dir) => {
            say(&format!("test set of the run {}", dir.display()));
            RunDir::open(dir)?.read_config()?
        }
        None => super::config("task2", &super::Overrides { data_dir: args.data_dir.clone(), ..Default::default() })?,
    };
    let (data, info) = super::load_data(gpu, &cfg, say)?;
    let images = data.sets.last().expect("train, validation and test sets").data.clone();
    let labels = gpu.to_vec_u32(&images.labels)?;
    let source = info["data"]["test"].as_str().unwrap_or("test set").to_string();
    Ok(TestSet { images, labels, source, norm: data.norm })
}

/// Logits of `model` on the whole test set, and the median time of a pass.
fn logits_and_time(gpu: &Gpu, model: &Model, test: &TestSet, batch: usize, repeats: usize) -> Result<(Vec<f32>, f64)> {
    let rows = test.images.rows;
    let ids: Vec<u32> = (0..rows as u32).collect();
    let indices = gpu.upload_u32(&[rows], &ids)?;
    let full = model.inference(gpu, batch.min(rows));
    let rest = (!rows.is_multiple_of(batch) && rows > batch).then(|| model.inference(gpu, rows % batch));
    let mut chunks = Vec::new();
    for first in (0..rows).step_by(batch) {
        let n = batch.min(rows - first);
        let buf = if n == full.batch { &full } else { rest.as_ref().expect("a partial chunk has its buffers") };
        let mut prog = Program::new();
        gather::gather_normalize(gpu, &mut prog, &test.images, &indices, first, &test.norm.mean, &test.norm.std, &buf.x[0], &buf.labels)?;
        model.forward(gpu, &mut prog, buf)?;
        chunks.push((prog, buf));
    }
    let mut logits = Vec::with_capacity(rows * model.spec.classes());
    for (prog, buf) in &chunks {
        gpu.run(prog);
        logits.extend(gpu.to_vec_f32(buf.x.last().expect("logits"))?);
    }
    // Timed passes: every chunk submitted back to back (they share buffers, so the GPU runs them in
    // order), then one wait.
    let mut times = Vec::new();
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        for (prog, _) in &chunks {
            gpu.run(prog);
        }
        gpu.wait_idle()?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok((logits, crate::report::histogram::median(&times)))
}

/// Accuracy and mean cross-entropy (f64, log-sum-exp) of logits [rows, classes].
pub fn accuracy_and_ce(logits: &[f32], labels: &[u32]) -> (f64, f64) {
    let classes = logits.len() / labels.len().max(1);
    let (mut correct, mut ce) = (0usize, 0.0f64);
    for (row, &y) in logits.chunks(classes).zip(labels) {
        let best = (0..classes).fold(0, |b, k| if row[k] > row[b] { k } else { b });
        correct += (best == y as usize) as usize;
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
        let lse = m + row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        ce += lse - row[y as usize] as f64;
    }
    (correct as f64 / labels.len().max(1) as f64, ce / labels.len().max(1) as f64)
}

pub fn evaluate(gpu: &Gpu, path: &Path, test: &TestSet, batch: usize, repeats: usize) -> Result<ModelEval> {
    if batch == 0 {
        return Err(Error::Other("eval: --eval-batch must be at least 1".into()));
    }
    let (model, _) = model_file::load(gpu, path)?;
    if test.images.row_len != model.spec.input_len() {
        return Err(Error::Other(format!("{}: the model takes {} inputs, the test images have {}", path.display(), model.spec.input_len(), test.images.row_len)));
    }
    let (logits, pass_s) = logits_and_time(gpu, &model, test, batch, repeats)?;
    let (accuracy, cross_entropy) = accuracy_and_ce(&logits, &test.labels);
    Ok(ModelEval { path: path.to_path_buf(), widths: model.spec.widths(), params: model.store.count(), accuracy, cross_entropy, pass_s, logits })
}

/// (max |Δ logit|, images whose predicted class agrees) of two models' logits.
pub fn compare(a: &[f32], b: &[f32], classes: usize) -> (f64, usize) {
    let max = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs()).fold(0.0, f64::max);
    let argmax = |r: &[f32]| (0..r.len()).fold(0, |m, k| if r[k] > r[m] { k } else { m });
    let agree = a.chunks(classes).zip(b.chunks(classes)).filter(|(x, y)| argmax(x) == argmax(y)).count();
    (max, agree)
}

/// Runs the command and returns its report.
pub fn run(gpu: &Gpu, args: &EvalArgs, say: &dyn Fn(&str)) -> Result<String> {
    let test = test_set(gpu, args, say)?;
    let mut models = vec![evaluate(gpu, &args.checkpoint, &test, args.batch, args.repeats)?];
    if let Some(other) = &args.compare {
        models.push(evaluate(gpu, other, &test, args.batch, args.repeats)?);
    }
    let rows = test.labels.len();
    let mut s = format!("test set: {rows} images ({})\n\n", test.source);
    s += "| model | widths | parameters | test accuracy | test CE | pass over the test set |\n|---|---|---:|---:|---:|---:|\n";
    for m in &models {
        let widths = m.widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-");
        s += &format!(
            "| {} | {widths} | {} | {:.2}% | {:.5} | {:.1} ms ({:.0} images/s) |\n",
            m.path.display(),
            m.params,
            100.0 * m.accuracy,
            m.cross_entropy,
            1e3 * m.pass_s,
            rows as f64 / m.pass_s
        );
    }
    if let [a, b] = &models[..] {
        let classes = a.widths.last().copied().unwrap_or(1);
        if b.widths.last() != a.widths.last() {
            return Err(Error::Other(format!("--compare: {} has {classes} outputs, {} has {:?}", a.path.display(), b.path.display(), b.widths.last())));
        }
        let (max, agree) = compare(&a.logits, &b.logits, classes);
        s += &format!("\nmax |logit difference| over the {rows} test images: {max:.3e}; predicted classes agree on {agree} of {rows}\n");
    }
    Ok(s)
}
