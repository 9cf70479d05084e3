//! `pathprox toy`: the paper's Fig. 2. Weight decay and PathProx train the 2-D toy (`train::toy`) from
//! the same initialisation with the trainer every task uses (run directory, logs, checkpoints,
//! `--resume`); then each method's final network is evaluated on a grid of the plane and the two
//! decision-region panels are drawn side by side (`figures/fig2-toy.png`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::{Model, ModelSpec};
use crate::report::decision_regions::{write_fig2, Panel};
use crate::train::checkpoint::Checkpoint;
use crate::train::config::TrainConfig;
use crate::train::method::Method;
use crate::train::rundir::RunDir;
use crate::train::toy::{self, Probe, ToySettings};
use crate::train::trainer::{load_into, GpuData};

/// Grid pixels per side of each Fig. 2 panel.
pub const FIGURE_PIXELS: usize = 320;
pub const DEFAULT_ITERS: u64 = 5000;
pub const DEFAULT_LOG_EVERY: u64 = 100;

/// The run's settings; `methods` None: weight decay and PathProx.
pub fn config(s: &ToySettings, iters: u64, log_every: u64, methods: Option<Vec<String>>) -> Result<TrainConfig> {
    s.validate()?;
    let rows = s.data.generate()?.len();
    let mut cfg = s.train_config(rows, iters, log_every);
    if let Some(m) = methods {
        cfg.methods = m;
    }
    for m in &cfg.methods {
        Method::parse(m)?;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// The points of a toy run's settings on the GPU, and what `config.json` records about them.
pub fn load_data(gpu: &Gpu, cfg: &TrainConfig, say: &dyn Fn(&str)) -> Result<(GpuData, serde_json::Value)> {
    let d = cfg.toy.as_ref().ok_or_else(|| Error::Other("a toy run's settings have no toy data".into()))?;
    let set = d.generate()?;
    if set.len() != cfg.batch {
        return Err(Error::Other(format!("toy: the batch ({}) must be the whole set ({} points)", cfg.batch, set.len())));
    }
    let source = format!("generated '{}': {} points + {} outliers, noise {}, seed {}", d.dataset, d.points, d.outliers, d.noise, d.seed);
    say(&format!("data: {source}; {} points, full batch", set.len()));
    let info = serde_json::json!({ "data": { "train": source, "train_rows": set.len() } });
    Ok((toy::gpu_data(gpu, &set)?, info))
}

/// Draws Fig. 2 from the run's final checkpoints: one panel per method that has one; says each method's
/// train accuracy, active units and band (the share of the plane where 0.25 < p < 0.75).
pub fn figure(gpu: &Gpu, run_path: &Path, cfg: &TrainConfig, say: &dyn Fn(&str)) -> Result<PathBuf> {
    let run = RunDir::open(run_path)?;
    let d = cfg.toy.as_ref().ok_or_else(|| Error::Other("a toy run's settings have no toy data".into()))?;
    let set = d.generate()?;
    let mut panels = Vec::new();
    for name in &cfg.methods {
        let path = run.checkpoint_path(Method::parse(name)?.name());
        if !path.is_file() {
            continue;
        }
        let ck = Checkpoint::load(&path)?;
        let model = Model::new(gpu, ModelSpec::by_name(&cfg.model)?)?;
        load_into(gpu, &model, &ck, &path.display().to_string())?;
        let probabilities = pollster::block_on(Probe::grid(gpu, &model, FIGURE_PIXELS)?.probabilities(gpu))?;
        let units = pollster::block_on(toy::units(gpu, &model))?;
        let active = units.iter().filter(|u| u.strength > 0.0).count();
        let correct = toy::accuracy(&set, &pollster::block_on(Probe::new(gpu, &model, &set.xy)?.probabilities(gpu))?);
        let band = toy::band(&probabilities, FIGURE_PIXELS);
        say(&format!("{}: train accuracy {:.1} %, {active} of {} units active, 0.25 < p < 0.75 on {:.1} % of the square |x|, |y| ≤ {}", crate::report::display_name(name), 100.0 * correct, units.len(), 100.0 * band, toy::BAND_HALF_SIDE));
        panels.push(Panel {
            title: crate::report::display_name(name),
            caption: format!("acc. {:.1} %, {active}/{} units, band {:.1} %", 100.0 * correct, units.len(), 100.0 * band),
            pixels: FIGURE_PIXELS,
            probabilities,
        });
    }
    if panels.is_empty() {
        return Err(Error::Other(format!("{}: no checkpoint to draw", run_path.display())));
    }
    let out = run_path.join("figures").join("fig2-toy.png");
    std::fs::create_dir_all(out.parent().expect("a parent")).map_err(|e| Error::Other(format!("{}: {e}", out.display())))?;
    let title = format!("Decision regions (Fig. 2): width {}, lr {}, λ {}, {} iterations", cfg.model.trim_start_matches(toy::MODEL_PREFIX), cfg.lr, cfg.lambda, cfg.iters);
    write_fig2(&out, &title, &panels, &set)?;
    Ok(out)
}
