//! Checkpoints: a model's parameters as a safetensors file (tensors named by layer, PyTorch's layout, so
//! `safetensors.torch.load_file` reads them), with the run state as string metadata. Written atomically:
//! to a temporary file in the same folder, synced, then renamed over the old one, so an interrupted write
//! never leaves a truncated checkpoint behind.

use std::collections::HashMap;
#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use crate::error::{Error, Result};
/// Moved to `crate::files`; re-exported for the callers that found them here.
#[cfg(not(target_arch = "wasm32"))]
pub use crate::files::{read_if_present, write_atomically};

const ORDER_KEY: &str = "pathprox.tensor_order";

/// Named f32 tensors in declaration order, and metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    pub metadata: HashMap<String, String>,
}

/// Metadata key of the training iteration a checkpoint was taken at (written by `train::trainer`).
pub const ITERATION: &str = "iteration";
/// Metadata key of the seconds the method had trained when it was taken.
pub const WALL_S: &str = "wall_s";

impl Checkpoint {
    /// The training iteration this checkpoint was taken at, if its metadata says (and says it as a number).
    pub fn iteration(&self) -> Option<u64> {
        self.metadata.get(ITERATION)?.parse().ok()
    }

    /// The seconds its method had trained, if its metadata says.
    pub fn wall_s(&self) -> Option<f64> {
        self.metadata.get(WALL_S)?.parse().ok()
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let bytes: Vec<Vec<u8>> = self.tensors.iter().map(|(_, _, v)| bytemuck::cast_slice(v).to_vec()).collect();
        let views = self
            .tensors
            .iter()
            .zip(&bytes)
            .map(|((name, shape, _), b)| Ok((name.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b).map_err(st_err)?)))
            .collect::<Result<Vec<_>>>()?;
        // safetensors orders tensors its own way; keep the model's declaration order in the metadata.
        let mut metadata = self.metadata.clone();
        metadata.insert(ORDER_KEY.into(), self.tensors.iter().map(|t| t.0.as_str()).collect::<Vec<_>>().join(","));
        safetensors::serialize(views, Some(metadata)).map_err(st_err)
    }

    /// Parses a safetensors file; every tensor must be f32. `what` names the source in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Checkpoint> {
        let bad = |e: String| Error::Other(format!("{what}: not a valid safetensors checkpoint: {e}"));
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        // Keep the file's order (offsets), which is the order they were written in.
        let mut named: Vec<_> = meta.tensors().into_iter().map(|(n, info)| (info.data_offsets.0, n)).collect();
        named.sort();
        let mut tensors = Vec::new();
        for (_, name) in named {
            let view = st.tensor(&name).map_err(|e| bad(e.to_string()))?;
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(bad(format!("tensor '{name}' is {:?}, expected F32", view.dtype())));
            }
            tensors.push((name, view.shape().to_vec(), bytemuck::pod_collect_to_vec(view.data())));
        }
        let mut metadata = meta.metadata().clone().unwrap_or_default();
        if let Some(order) = metadata.remove(ORDER_KEY) {
            let rank = |name: &str| order.split(',').position(|n| n == name).unwrap_or(usize::MAX);
            tensors.sort_by_key(|t| rank(&t.0));
        }
        Ok(Checkpoint { tensors, metadata })
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomically(path, &self.to_bytes()?)
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
        Checkpoint::from_bytes(&bytes, &path.display().to_string())
    }

    pub fn tensor(&self, name: &str) -> Option<&(String, Vec<usize>, Vec<f32>)> {
        self.tensors.iter().find(|t| t.0 == name)
    }
}

fn st_err(e: safetensors::SafeTensorError) -> Error {
    Error::Other(format!("safetensors: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_tensors_order_and_metadata_and_rejects_garbage() {
        let ck = Checkpoint {
            tensors: vec![("fc1.weight".into(), vec![2, 3], vec![1.0, -2.0, 3.5, 0.0, f32::MIN_POSITIVE, 7.0]), ("fc1.bias".into(), vec![2], vec![0.25, -0.5])],
            metadata: [("iteration".to_string(), "42".to_string())].into_iter().collect(),
        };
        let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap(), "test").unwrap();
        assert_eq!(back, ck);
        let e = Checkpoint::from_bytes(b"definitely not safetensors", "x.safetensors").unwrap_err().to_string();
        assert!(e.contains("x.safetensors"), "{e}");
    }

    #[test]
    fn iteration_and_wall_time_come_from_the_metadata() {
        let with = |pairs: &[(&str, &str)]| Checkpoint { tensors: vec![], metadata: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
        let ck = with(&[("iteration", "1200"), ("wall_s", "3.5")]);
        assert_eq!((ck.iteration(), ck.wall_s()), (Some(1200), Some(3.5)));
        assert_eq!((with(&[]).iteration(), with(&[]).wall_s()), (None, None));
        assert_eq!(with(&[("iteration", "twelve")]).iteration(), None);
    }
}
