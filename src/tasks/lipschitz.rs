//! `pathprox lipschitz RUN_DIR`: the local Lipschitz constants of every method's model in a run (the
//! paper's Fig. 1, middle) — σ_max of the Jacobian of the logits with respect to the normalised input, for
//! each of the first N test images of the run's own data (`analysis::jacobian`) — written to
//! `RUN_DIR/lipschitz.jsonl` (one line per method) and drawn as `RUN_DIR/figures/lipschitz.png`.
//!
//! The model is each method's best-validation checkpoint (`checkpoints/<method>.best.safetensors`, which
//! the trainer keeps), as in the paper's evaluation; a run without one (written before the trainer kept
//! it) falls back to the latest checkpoint and says so.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::analysis::{jacobian, model_file};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::report::histogram::{self, mean, median};
use crate::train::rundir::RunDir;
use crate::progress::Progress;

/// The paper's sample: 1,000 test images.
pub const DEFAULT_SAMPLES: usize = 1000;
pub const LOG: &str = "lipschitz.jsonl";
pub const FIGURE: &str = "lipschitz.png";

/// One line of `lipschitz.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LipschitzRow {
    pub method: String,
    /// The checkpoint file used (relative to the run directory) and the iteration it holds.
    pub checkpoint: String,
    pub iteration: Option<u64>,
    /// Images measured (the first n of the run's test set).
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// GPU Jacobians plus host eigen-solves.
    pub seconds: f64,
    /// σ_max per image, in test-set order.
    pub values: Vec<f64>,
}

/// The checkpoint to measure for `method`: the best-validation one, else the latest (with a note).
fn checkpoint_of(run: &RunDir, method: &str, say: &dyn Fn(&str)) -> Option<PathBuf> {
    let best = run.best_checkpoint_path(method);
    if best.is_file() {
        return Some(best);
    }
    let latest = run.checkpoint_path(method);
    if latest.is_file() {
        say(&format!("note: {method}: no best-validation checkpoint in this run; using the latest, {}", latest.display()));
        return Some(latest);
    }
    None
}

/// Measures every method of the run that has a checkpoint, writes the log and the figure, and returns the
/// rows and the figure's path.
pub fn run(gpu: &Gpu, run_dir: &Path, samples: usize, progress: &dyn Progress) -> Result<(Vec<LipschitzRow>, PathBuf)> {
    let run = RunDir::open(run_dir)?;
    let cfg = run.read_config()?;
    let say = |s: &str| progress.message(s);
    let (data, _) = super::load_data(gpu, &cfg, &say)?;
    let test = &data.sets.last().expect("train, validation and test sets").data;
    let n = samples.min(test.rows);
    if n < samples {
        say(&format!("note: the run's test set has {} images; measuring all of them", test.rows));
    }
    let mut rows = Vec::new();
    for method in &cfg.methods {
        let Some(path) = checkpoint_of(&run, method, &say) else {
            say(&format!("note: {method}: no checkpoint in {}; skipped", run.path.join("checkpoints").display()));
            continue;
        };
        let (model, ck) = model_file::load(gpu, &path)?;
        let t = Instant::now();
        progress.start(&format!("lipschitz {method}"), 0, n as u64);
        let values = jacobian::local_lipschitz(gpu, &model, test, n, &|k| progress.advance(k as u64))?;
        progress.finish();
        rows.push(LipschitzRow {
            method: method.clone(),
            checkpoint: path.strip_prefix(&run.path).unwrap_or(&path).display().to_string(),
            iteration: ck.iteration(),
            n,
            mean: mean(&values),
            median: median(&values),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            seconds: t.elapsed().as_secs_f64(),
            values,
        });
    }
    if rows.is_empty() {
        return Err(Error::Other(format!("{}: no method has a checkpoint to measure", run.path.display())));
    }
    let text: String = rows.iter().map(|r| serde_json::to_string(r).expect("serialisable") + "\n").collect();
    crate::files::write_atomically(&run.path.join(LOG), text.as_bytes())?;
    let figure = run.path.join("figures").join(FIGURE);
    let caption = crate::report::Run::load(&run.path).map(|r| r.config.caption()).unwrap_or_default();
    let series: Vec<(String, Vec<f64>)> = rows.iter().map(|r| (r.method.clone(), r.values.clone())).collect();
    histogram::write_histogram(&figure, &format!("Local Lipschitz constants on {n} test images"), &caption, "‖∂logits/∂x‖₂ (σ_max of the 10×784 Jacobian)", &series)?;
    Ok((rows, figure))
}

/// What the command prints: the table and where the figure is.
pub fn report((rows, figure): &(Vec<LipschitzRow>, PathBuf)) -> String {
    format!("Local Lipschitz constants (σ_max of ∂logits/∂x per test image):\n{}figure: {}", table(rows), figure.display())
}

/// The rows as a Markdown table.
pub fn table(rows: &[LipschitzRow]) -> String {
    let mut s = String::from("| method | checkpoint (iteration) | images | mean | median | min | max | time |\n|---|---|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let it = r.iteration.map_or_else(|| "?".into(), |i| i.to_string());
        s += &format!(
            "| {} | {} ({it}) | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.1} s |\n",
            crate::report::display_name(&r.method),
            r.checkpoint,
            r.n,
            r.mean,
            r.median,
            r.min,
            r.max,
            r.seconds
        );
    }
    s
}
