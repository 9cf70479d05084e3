//! Task 1 live: MLP-3-400 factorized on 100 MNIST images per class (the shipped 10k subset, fetched by
//! the page and decompressed here), weight decay and PathProx side by side with Task 1's settings.

use std::rc::Rc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::methods::{metrics_object, SideBySide};
use super::{js_error, set, Engine};
use crate::data::mnist::{self, Dataset, TaskSplit};
use crate::data::Normalization;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::gather::GpuImages;
use crate::train::eval::EvalSet;
use crate::train::trainer::GpuData;

/// Validation images evaluated at each snapshot (of the split's ~8,000), to keep reads cheap.
const VALIDATION_ROWS: usize = 1000;

/// What the page may change of Task 1's preset.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    lr: Option<f64>,
    lambda: Option<f64>,
    batch: Option<usize>,
    seed: Option<u64>,
}

#[wasm_bindgen]
pub struct MnistDemo {
    state: Rc<SideBySide>,
    pub(crate) source: String,
}

#[wasm_bindgen]
impl MnistDemo {
    /// `images`, `labels`: the IDX files (gzip or raw); `settings`: JSON with any of lr, lambda, batch,
    /// seed (Task 1's preset otherwise).
    pub fn create(engine: &Engine, images: &[u8], labels: &[u8], settings: &str) -> std::result::Result<MnistDemo, JsError> {
        let s: Settings = serde_json::from_str(settings).map_err(|e| JsError::new(&format!("Task 1 settings: {e}")))?;
        let mut cfg = crate::train::presets::preset("task1").map_err(js_error)?;
        cfg.lr = s.lr.unwrap_or(cfg.lr);
        cfg.lambda = s.lambda.unwrap_or(cfg.lambda);
        cfg.batch = s.batch.unwrap_or(cfg.batch);
        cfg.seed = s.seed.unwrap_or(cfg.seed);
        cfg.validate().map_err(js_error)?;
        let file = Dataset::from_idx(mnist::SUBSET_IMAGES, images, mnist::SUBSET_LABELS, labels, "data/mnist-10k").map_err(js_error)?;
        let (data, source) = upload(engine.gpu, &file, cfg.seed).map_err(js_error)?;
        Ok(MnistDemo { state: Rc::new(SideBySide::new(engine.gpu, &cfg, &data).map_err(js_error)?), source })
    }

    /// Records and submits `n` steps of both methods; nothing is read back.
    pub fn step(&self, n: u32) -> std::result::Result<(), JsError> {
        self.state.step(n as u64).map_err(js_error)
    }

    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> f64 {
        self.state.steps.get() as f64
    }

    /// Which images train and which validate.
    #[wasm_bindgen(getter)]
    pub fn data(&self) -> String {
        self.source.clone()
    }

    /// Resolves to `{ step, methods: [{ name, label, objective, train_ce, train_acc, val_acc, active_units }] }`.
    pub fn snapshot(&self) -> js_sys::Promise {
        let state = self.state.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let metrics = state.measure().await.map_err(|e| JsValue::from(js_error(e)))?;
            let methods = js_sys::Array::new();
            for (m, p) in &metrics {
                methods.push(&metrics_object(*m, p));
            }
            let out = js_sys::Object::new();
            set(&out, "step", state.steps.get() as f64);
            set(&out, "methods", methods);
            Ok(out.into())
        })
    }
}

/// Task 1's split of the file (100 per class train, a tenth held out as test, the rest validation), as
/// `pathprox task1` makes it from the same file; the training images and the first validation images on
/// the GPU.
fn upload(gpu: &Gpu, file: &Dataset, seed: u64) -> Result<(GpuData, String)> {
    let s = mnist::split(file, None, TaskSplit::TASK1, seed, None)?;
    let n = s.train.pixels_per_image();
    let val_rows: Vec<usize> = (0..s.val.len().min(VALIDATION_ROWS)).collect();
    let val = s.val.select(&val_rows, format!("the first {} of {}", val_rows.len(), s.val.source));
    let train = GpuImages::upload(gpu, &s.train.images, &s.train.labels_u32(), n, n)?;
    let norm = Normalization::mnist();
    let sets = vec![
        EvalSet::new(gpu, "train", train.clone(), norm.clone())?,
        EvalSet::new(gpu, "val", GpuImages::upload(gpu, &val.images, &val.labels_u32(), n, n)?, norm.clone())?,
    ];
    Ok((GpuData { train, norm, augment: None, sets }, format!("{}; {}", s.train.source, val.source)))
}
