//! `pathprox step`: N optimizer steps on a fixed batch (the first B training images, no shuffling) from
//! a given checkpoint, written to a safetensors file — so anyone can check one update of any method
//! against their own implementation.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::data::mnist::{self, DatasetKind};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::gather::GpuImages;
use crate::train::checkpoint::Checkpoint;
use crate::train::config::TrainConfig;
use crate::train::method::Method;
use crate::train::trainer::{self, GpuData, MethodRun};

#[derive(Clone, Debug)]
pub struct StepArgs {
    pub model: String,
    pub method: String,
    /// Start from these parameters (safetensors, names as `pathprox` writes them); `None`: seeded init.
    pub init: Option<PathBuf>,
    pub seed: u64,
    pub data_dir: Option<String>,
    pub dataset: DatasetKind,
    pub iters: u64,
    pub batch: usize,
    pub lr: f64,
    pub lambda: f64,
    pub out: PathBuf,
}

pub fn step(gpu: &Gpu, a: &StepArgs) -> Result<()> {
    let method = Method::parse(&a.method)?;
    if a.iters == 0 || a.batch == 0 {
        return Err(Error::Other("--iters and --batch must be at least 1".into()));
    }
    let found = mnist::locate(a.data_dir.as_deref().map(std::path::Path::new), a.dataset)?;
    let (train, _) = mnist::load(&found)?;
    if a.batch > train.len() {
        return Err(Error::Other(format!("--batch {} exceeds the {} training images", a.batch, train.len())));
    }
    let first = train.select(&(0..a.batch).collect::<Vec<_>>(), "first images");
    let data = GpuData {
        train: GpuImages::upload(gpu, &first.images, &first.labels_u32(), first.pixels_per_image(), first.pixels_per_image())?,
        norm: crate::data::Normalization::mnist(),
        augment: None,
        sets: vec![],
    };
    let cfg = TrainConfig {
        task: "step".into(),
        model: a.model.clone(),
        methods: vec![a.method.clone()],
        lr: a.lr,
        lambda: a.lambda,
        batch: a.batch,
        iters: a.iters,
        seed: a.seed,
        log_every: a.iters,
        checkpoint_every: 1,
        lr_milestones: vec![],
        lr_gamma: 1.0,
        dataset: a.dataset.cli_name().into(),
        data_dir: a.data_dir.clone(),
        eval_batch: a.batch,
        prune: false,
        max_rows: None,
    };
    cfg.validate()?;
    let job = MethodRun::new(gpu, &cfg, method, &data, false)?;
    if let Some(init) = &a.init {
        trainer::load_into(gpu, job.model(), &Checkpoint::load(init)?, &init.display().to_string())?;
    }
    job.steps(0, a.iters, &AtomicBool::new(false), &())?;
    let mut ck = job.checkpoint(a.iters, 0.0)?;
    ck.metadata.insert("batch".into(), format!("first {} images of {}", a.batch, train.source));
    ck.metadata.insert("lr".into(), a.lr.to_string());
    ck.metadata.insert("lambda".into(), a.lambda.to_string());
    ck.save(&a.out)
}
