//! A run's data from the caller's own examples in host memory (`Vec<f32>` features, `Vec<u32>` labels):
//! what a library user trains on when the data is not one of the paper's data sets. The values are used as
//! given (no normalisation, no augmentation): scale them before, as the model should see them.

use super::eval::EvalSet;
use super::trainer::GpuData;
use crate::data::Normalization;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::ModelSpec;
use crate::ops::gather::GpuImages;

/// Labelled examples in host memory: `x` holds `labels.len()` rows of the model's input, row-major (an
/// image input `[C, H, W]` is one row of C·H·W values in that order); `labels[i]` is row i's class.
#[derive(Clone, Copy, Debug)]
pub struct Examples<'a> {
    pub x: &'a [f32],
    pub labels: &'a [u32],
}

impl<'a> Examples<'a> {
    pub fn new(x: &'a [f32], labels: &'a [u32]) -> Self {
        Examples { x, labels }
    }

    /// Rows of `row_len` values, one label each below `classes`, every value finite.
    fn check(&self, what: &str, row_len: usize, classes: usize) -> Result<()> {
        let bad = |m: String| Err(Error::shape("GpuData::from_examples", format!("{what}: {m}")));
        if self.labels.is_empty() {
            return bad("no examples".into());
        }
        if self.x.len() != self.labels.len() * row_len {
            return bad(format!("{} values for {} labels; the model takes rows of {row_len}", self.x.len(), self.labels.len()));
        }
        if let Some((i, l)) = self.labels.iter().enumerate().find(|&(_, &l)| l as usize >= classes) {
            return bad(format!("label {l} of row {i} is not below the model's {classes} classes"));
        }
        if let Some(i) = self.x.iter().position(|v| !v.is_finite()) {
            return bad(format!("value {} (row {}) is not finite", self.x[i], i / row_len));
        }
        Ok(())
    }
}

impl GpuData {
    /// Uploads examples for training and evaluating `spec`: `train` is what the steps sample (and the
    /// "train" metrics); `validation` and `test`, when given, are evaluated at every log point too
    /// (`LogPoint::val_acc`, `test_acc`; NaN when absent). Checks every row length, label and value
    /// first. A test set needs a validation set (the metrics keep the order train, validation, test):
    /// with one held-out set, pass it as `validation`.
    pub fn from_examples(gpu: &Gpu, spec: &ModelSpec, train: Examples, validation: Option<Examples>, test: Option<Examples>) -> Result<GpuData> {
        if validation.is_none() && test.is_some() {
            return Err(Error::shape("GpuData::from_examples", "a test set needs a validation set; with one held-out set, pass it as the validation set"));
        }
        let (row_len, classes) = (spec.input_len(), spec.classes());
        let named = [("train", Some(train)), ("val", validation), ("test", test)];
        for (name, set) in &named {
            if let Some(set) = set {
                set.check(name, row_len, classes)?;
            }
        }
        let norm = Normalization::identity(1);
        let gpu_train = GpuImages::upload_f32(gpu, train.x, train.labels, row_len)?;
        let mut sets = vec![EvalSet::new(gpu, "train", gpu_train.clone(), norm.clone())?];
        for (name, set) in named.into_iter().skip(1) {
            if let Some(set) = set {
                sets.push(EvalSet::new(gpu, name, GpuImages::upload_f32(gpu, set.x, set.labels, row_len)?, norm.clone())?);
            }
        }
        Ok(GpuData { train: gpu_train, norm, augment: None, sets })
    }
}
