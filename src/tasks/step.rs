//! `pathprox step`: N optimizer steps on a fixed batch (the first B training images, no shuffling, no
//! augmentation: for CIFAR-10 the first B images of `data_batch_1`) from a given checkpoint, written to a
//! safetensors file — so anyone can check one update of any method, on any model, against their own
//! implementation.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::data::set::{HostImages, Set};
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
    /// mnist, fashion-mnist, cifar10 or svhn.
    pub dataset: String,
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
    let set = Set::parse(&a.dataset)?;
    let (row_len, plane, _) = set.image_layout().ok_or_else(|| Error::Other(format!("step: --dataset {} has no images; expected mnist, fashion-mnist, cifar10 or svhn", a.dataset)))?;
    let norm = set.normalization();
    let HostImages { images, labels, source } = set.train_file(a.data_dir.as_deref().map(Path::new))?;
    if a.batch > labels.len() {
        return Err(Error::Other(format!("--batch {} exceeds the {} training images", a.batch, labels.len())));
    }
    let data = GpuData { train: GpuImages::upload(gpu, &images[..a.batch * row_len], &labels[..a.batch], row_len, plane)?, norm, augment: None, sets: vec![] };
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
        dataset: a.dataset.clone(),
        data_dir: a.data_dir.clone(),
        eval_batch: a.batch,
        prune: false,
        max_rows: None,
        toy: None,
    };
    cfg.validate()?;
    let job = MethodRun::new(gpu, &cfg, method, &data, false)?;
    if let Some(init) = &a.init {
        trainer::load_into(gpu, job.model(), &Checkpoint::load(init)?, &init.display().to_string())?;
    }
    job.steps(0, a.iters, &AtomicBool::new(false), &())?;
    let mut ck = job.checkpoint(a.iters, 0.0)?;
    ck.metadata.insert("batch".into(), format!("first {} images of {source}", a.batch));
    ck.metadata.insert("lr".into(), a.lr.to_string());
    ck.metadata.insert("lambda".into(), a.lambda.to_string());
    ck.save(&a.out)
}
