//! The 2-D toy of the paper's Fig. 2 as a training job, shared by `pathprox toy` and the browser demo:
//! its settings, the network (2 → width → 2, one PathProx group: w = a hidden unit's input row and bias,
//! v = its output column), the points on the GPU, and what the figures read back: p(class 1) over a grid
//! of the plane (a forward pass of the engine over the grid points) and each hidden unit's line and
//! strength.
//!
//! Training is full-batch (the batch is the whole set), as the paper's "gradient descent"; the trainer,
//! methods and metrics are the ones every task uses.

use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::eval::EvalSet;
use super::trainer::GpuData;
use crate::data::toy::{ToyData, ToySet, EXTENT};
use crate::data::Normalization;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Program};
use crate::nn::{Activations, Model};
use crate::ops::gather::GpuImages;

/// The toy's data and training settings (the browser's controls; `pathprox toy`'s flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ToySettings {
    #[serde(flatten)]
    pub data: ToyData,
    /// Hidden units.
    pub width: usize,
    pub lr: f64,
    pub lambda: f64,
}

impl Default for ToySettings {
    fn default() -> Self {
        ToySettings { data: ToyData::default(), width: DEFAULT_WIDTH, lr: 0.1, lambda: DEFAULT_LAMBDA }
    }
}

pub const DEFAULT_WIDTH: usize = 64;
pub const DEFAULT_LAMBDA: f64 = 3e-2;
/// Model names `toy-<width>` (`ModelSpec::by_name`), defined with the models in nn::zoo.
pub use crate::nn::zoo::{TOY_MAX_WIDTH as MAX_WIDTH, TOY_PREFIX as MODEL_PREFIX};

impl ToySettings {
    /// The run's settings: weight decay and PathProx from one seed, full batch over `rows` points.
    pub fn train_config(&self, rows: usize, iters: u64, log_every: u64) -> TrainConfig {
        TrainConfig {
            task: "toy".into(),
            model: format!("{MODEL_PREFIX}{}", self.width),
            methods: vec!["wd".into(), "pathprox".into()],
            lr: self.lr,
            lambda: self.lambda,
            batch: rows,
            iters,
            seed: self.data.seed,
            log_every,
            checkpoint_every: 1,
            lr_milestones: vec![],
            lr_gamma: 1.0,
            dataset: "toy".into(),
            data_dir: None,
            eval_batch: rows,
            prune: false,
            max_rows: None,
            toy: Some(self.data.clone()),
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.data.validate()?;
        if !(1..=MAX_WIDTH).contains(&self.width) {
            return Err(Error::Other(format!("toy: width must be 1 to {MAX_WIDTH}, got {}", self.width)));
        }
        Ok(())
    }
}

/// The toy's points on the GPU, as every task's data: the training set, evaluated as "train".
pub fn gpu_data(gpu: &Gpu, set: &ToySet) -> Result<GpuData> {
    if set.is_empty() {
        return Err(Error::Other("toy: no points".into()));
    }
    let train = GpuImages::upload_f32(gpu, &set.xy, &set.labels, 2)?;
    let norm = Normalization::identity(1);
    let sets = vec![EvalSet::new(gpu, "train", train.clone(), norm.clone())?];
    Ok(GpuData { train, norm, augment: None, sets })
}

/// The centres of a `pixels` × `pixels` grid over [−EXTENT, EXTENT]², row 0 at the top (y = +EXTENT),
/// as (x, y) pairs.
pub fn grid_points(pixels: usize) -> Vec<f32> {
    let step = 2.0 * EXTENT / pixels as f32;
    let at = |i: usize| -EXTENT + (i as f32 + 0.5) * step;
    (0..pixels).flat_map(|r| (0..pixels).flat_map(move |c| [at(c), -at(r)])).collect()
}

/// A forward pass of a model over fixed points of the plane, recorded once: the decision-region grid,
/// or the data points.
pub struct Probe {
    buf: Activations,
    prog: Program,
}

impl Probe {
    /// `xy`: (x, y) pairs.
    pub fn new(gpu: &Gpu, model: &Model, xy: &[f32]) -> Result<Probe> {
        if xy.is_empty() || !xy.len().is_multiple_of(2) {
            return Err(Error::Other(format!("toy: {} coordinates are not (x, y) pairs", xy.len())));
        }
        let buf = model.inference(gpu, xy.len() / 2);
        gpu.write_f32(&buf.x[0], xy)?;
        let mut prog = Program::new();
        model.forward(gpu, &mut prog, &buf)?;
        Ok(Probe { buf, prog })
    }

    /// The centres of a `pixels` × `pixels` grid over the figure's square ([`grid_points`]).
    pub fn grid(gpu: &Gpu, model: &Model, pixels: usize) -> Result<Probe> {
        if pixels == 0 || pixels > 1024 {
            return Err(Error::Other(format!("toy: a grid of {pixels} pixels per side; 1 to 1024 expected")));
        }
        Probe::new(gpu, model, &grid_points(pixels))
    }

    /// p(class 1) = softmax(logits)\[1\] at each point, in order.
    pub async fn probabilities(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.run(&self.prog);
        let logits = gpu.read_f32(self.buf.logits()).await?;
        Ok(logits.chunks(2).map(|l| 1.0 / (1.0 + (l[0] - l[1]).exp())).collect())
    }
}

/// Half the side of the square around the data (the clouds' centres ± 1) that [`band`] measures.
pub const BAND_HALF_SIDE: f32 = 2.0;

/// The share of the square |x|, |y| ≤ `BAND_HALF_SIDE` where 0.25 < p < 0.75, from the probabilities on
/// a `pixels`-wide grid ([`grid_points`]): the band between the figure's blue and red lines where the
/// data are (narrower: the outliers are handled better, the paper's reading of Fig. 2).
pub fn band(p: &[f32], pixels: usize) -> f64 {
    let xy = grid_points(pixels);
    let inside: Vec<f32> = p.iter().zip(xy.chunks(2)).filter(|(_, q)| q[0].abs() <= BAND_HALF_SIDE && q[1].abs() <= BAND_HALF_SIDE).map(|(&v, _)| v).collect();
    inside.iter().filter(|&&v| v > 0.25 && v < 0.75).count() as f64 / inside.len().max(1) as f64
}

/// The share of points on the right side of p = 0.5.
pub fn accuracy(set: &ToySet, p: &[f32]) -> f64 {
    let correct = set.labels.iter().zip(p).filter(|&(&l, &p)| (p >= 0.5) == (l == 1)).count();
    correct as f64 / set.len().max(1) as f64
}

/// One hidden unit: its line w_x·x + w_y·y + b = 0 and its strength ‖(w_x, w_y, b)‖·‖v‖ (its term of the
/// path norm; 0 when PathProx switched it off).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    pub w: [f32; 2],
    pub b: f32,
    pub strength: f32,
}

/// The hidden units of a toy model, from one read-back of its parameters.
pub async fn units(gpu: &Gpu, model: &Model) -> Result<Vec<Unit>> {
    let p = model.store.download(gpu).await?;
    units_of(&p)
}

/// The units from the parameters in declaration order (W1 [width, 2], b1 \[width\], W2 [2, width], b2).
pub fn units_of(p: &[Vec<f32>]) -> Result<Vec<Unit>> {
    let [w1, b1, w2, _] = p else { return Err(Error::Other(format!("toy: {} parameter tensors, 4 expected", p.len()))) };
    let width = b1.len();
    if w1.len() != 2 * width || w2.len() != 2 * width {
        return Err(Error::Other(format!("toy: parameter sizes {}, {}, {} do not make a 2 → {width} → 2 network", w1.len(), b1.len(), w2.len())));
    }
    Ok((0..width)
        .map(|i| {
            let (w, b) = ([w1[2 * i], w1[2 * i + 1]], b1[i]);
            let v = (w2[i].powi(2) + w2[width + i].powi(2)).sqrt();
            Unit { w, b, strength: (w[0].powi(2) + w[1].powi(2) + b * b).sqrt() * v }
        })
        .collect())
}
