//! `ParamStore`: every parameter of a model in one GPU buffer (and every gradient in a second one), each
//! parameter a named view. One kernel can then update a whole class of parameters at once, and a
//! checkpoint is one read-back.
//!
//! Layout: parameters are packed class by class (`ParamClass` order), each view starting on a 64-float
//! (256-byte) boundary so that it can be bound on any adapter. The gaps hold zeros and stay zero.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};

/// Which update rule family a parameter belongs to; classes are contiguous in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParamClass {
    /// Weights that form the w or v of a group's homogeneous units (PathProx projects / thresholds them).
    GroupedWeight,
    /// Weights in no group (e.g. VGG's final Linear): plain weight decay under every method.
    OtherWeight,
    /// Biases: never decayed, never part of w or v.
    Bias,
}

pub const CLASSES: [ParamClass; 3] = [ParamClass::GroupedWeight, ParamClass::OtherWeight, ParamClass::Bias];

/// Floats between view starts must be a multiple of this (256 bytes: the largest storage-offset alignment).
pub const ALIGN: usize = 64;

#[derive(Clone, Debug)]
pub struct ParamInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub class: ParamClass,
    /// First element in the store's buffers.
    pub offset: usize,
}

impl ParamInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct ParamStore {
    pub infos: Vec<ParamInfo>,
    /// All parameters, \[total\].
    pub params: Tensor,
    /// All gradients, same layout.
    pub grads: Tensor,
    /// (first element, element count) of each class, in `CLASSES` order (count 0 if absent).
    class_ranges: [(usize, usize); 3],
}

impl ParamStore {
    /// Lays out `(name, shape, class)` entries class by class (declaration order within a class).
    pub fn new(gpu: &Gpu, entries: &[(String, Vec<usize>, ParamClass)]) -> Result<ParamStore> {
        let mut infos = Vec::new();
        let mut offset = 0;
        let mut class_ranges = [(0, 0); 3];
        for (ci, class) in CLASSES.iter().enumerate() {
            let start = offset;
            for (name, shape, c) in entries.iter().filter(|e| e.2 == *class) {
                if infos.iter().any(|i: &ParamInfo| &i.name == name) {
                    return Err(Error::shape("ParamStore", format!("parameter name '{name}' used twice")));
                }
                infos.push(ParamInfo { name: name.clone(), shape: shape.clone(), class: *c, offset });
                offset += shape.iter().product::<usize>().div_ceil(ALIGN) * ALIGN;
            }
            class_ranges[ci] = (start, offset - start);
        }
        // Keep declaration order in `infos` (checkpoints list parameters as the model declares them).
        infos.sort_by_key(|i| entries.iter().position(|e| e.0 == i.name));
        let total = offset.max(ALIGN);
        Ok(ParamStore { infos, params: gpu.zeros(&[total]), grads: gpu.zeros(&[total]), class_ranges })
    }

    pub fn index(&self, name: &str) -> Result<usize> {
        self.infos.iter().position(|i| i.name == name).ok_or_else(|| Error::Other(format!("no parameter named '{name}'")))
    }

    pub fn param(&self, i: usize) -> Tensor {
        let info = &self.infos[i];
        self.params.view(info.offset, &info.shape).expect("layout holds every view")
    }

    pub fn grad(&self, i: usize) -> Tensor {
        let info = &self.infos[i];
        self.grads.view(info.offset, &info.shape).expect("layout holds every view")
    }

    /// (parameters, gradients) of a whole class, or `None` if the model has none of that class.
    pub fn class(&self, class: ParamClass) -> Option<(Tensor, Tensor)> {
        let (start, len) = self.class_ranges[CLASSES.iter().position(|c| *c == class).expect("known class")];
        (len > 0).then(|| (self.params.view(start, &[len]).expect("in range"), self.grads.view(start, &[len]).expect("in range")))
    }

    /// Number of parameters (without the alignment gaps).
    pub fn count(&self) -> usize {
        self.infos.iter().map(ParamInfo::len).sum()
    }

    /// Writes every parameter's values (declaration order).
    pub fn upload(&self, gpu: &Gpu, values: &[Vec<f32>]) -> Result<()> {
        if values.len() != self.infos.len() {
            return Err(Error::shape("ParamStore::upload", format!("{} tensors for {} parameters", values.len(), self.infos.len())));
        }
        let mut flat = vec![0.0f32; self.params.len()];
        for (info, v) in self.infos.iter().zip(values) {
            if v.len() != info.len() {
                return Err(Error::shape("ParamStore::upload", format!("'{}' has shape {:?} but {} values were given", info.name, info.shape, v.len())));
            }
            flat[info.offset..info.offset + v.len()].copy_from_slice(v);
        }
        gpu.write_f32(&self.params, &flat)
    }

    /// Copies another store's parameters of the same layout, on the GPU (no read-back).
    pub fn copy_from(&self, gpu: &Gpu, other: &ParamStore) -> Result<()> {
        let layout = |s: &ParamStore| s.infos.iter().map(|i| (i.name.clone(), i.shape.clone(), i.offset)).collect::<Vec<_>>();
        if layout(self) != layout(other) || self.params.len() != other.params.len() {
            return Err(Error::shape("ParamStore::copy_from", "the two stores hold different parameters".to_string()));
        }
        let mut rec = crate::gpu::Recorder::new(gpu);
        rec.copy(&other.params, &self.params);
        rec.submit();
        Ok(())
    }

    /// Every parameter's values (declaration order), in one read-back.
    pub async fn download(&self, gpu: &Gpu) -> Result<Vec<Vec<f32>>> {
        Ok(split(&self.infos, &gpu.read_f32(&self.params).await?))
    }

    /// Every gradient (declaration order), in one read-back.
    pub async fn download_grads(&self, gpu: &Gpu) -> Result<Vec<Vec<f32>>> {
        Ok(split(&self.infos, &gpu.read_f32(&self.grads).await?))
    }
}

fn split(infos: &[ParamInfo], flat: &[f32]) -> Vec<Vec<f32>> {
    infos.iter().map(|i| flat[i.offset..i.offset + i.len()].to_vec()).collect()
}
