//! A model file (a checkpoint or a compact export) → the MLP it describes, on the GPU.
//!
//! Training checkpoints name one of the paper's models in their `model` metadata. A compact export has
//! other widths, so it also carries its architecture: `widths` ("784,312,400,…,10"), `relu` ("1,0,1,…",
//! one flag per layer) and `groups` ("0-1,2-3,4-5", the PathProx groups as 0-based layer pairs); a
//! compact VGG carries `vgg_config` (its conv channels, 0 for a max pool), `input` and `classes`.

use std::path::Path;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::{Model, ModelSpec};
use crate::train::checkpoint::Checkpoint;
use crate::train::trainer::load_into;

pub const WIDTHS: &str = "widths";
pub const RELU: &str = "relu";
pub const GROUPS: &str = "groups";

/// A VGG-style net's conv channels (0 = max pool) for `ModelSpec::vgg`, with `input` ("3,32,32") and
/// `classes`.
pub const VGG_CONFIG: &str = "vgg_config";

/// Metadata entries that describe `spec` (see the module comment).
pub fn spec_metadata(spec: &ModelSpec) -> Vec<(String, String)> {
    let join = |v: Vec<String>| v.join(",");
    if let Some(config) = spec.vgg_config() {
        return vec![
            (VGG_CONFIG.into(), join(config.iter().map(|c| c.to_string()).collect())),
            ("input".into(), join(spec.input.iter().map(|c| c.to_string()).collect())),
            ("classes".into(), spec.classes().to_string()),
        ];
    }
    vec![
        (WIDTHS.into(), join(spec.widths().iter().map(|w| w.to_string()).collect())),
        (RELU.into(), join(spec.relu().iter().map(|&r| if r { "1" } else { "0" }.to_string()).collect())),
        (GROUPS.into(), join(spec.groups.iter().map(|(w, v)| format!("{w}-{v}")).collect())),
    ]
}

/// The architecture a model file describes: its `widths`/`relu`/`groups` metadata, else its `model` name.
pub fn spec_of(ck: &Checkpoint, what: &str) -> Result<ModelSpec> {
    let bad = |msg: String| Error::Other(format!("{what}: {msg}"));
    if ck.metadata.contains_key(VGG_CONFIG) {
        let nums = |key: &str| -> Result<Vec<usize>> {
            let s = ck.metadata.get(key).map(String::as_str).unwrap_or("");
            s.split(',').map(|t| t.trim().parse::<usize>().map_err(|_| bad(format!("bad '{key}' metadata '{s}'")))).collect()
        };
        let (config, input, classes) = (nums(VGG_CONFIG)?, nums("input")?, nums("classes")?);
        let [c, h, w] = input[..] else { return Err(bad(format!("bad 'input' metadata {input:?}: expected C,H,W"))) };
        let [classes] = classes[..] else { return Err(bad("bad 'classes' metadata".into())) };
        return ModelSpec::vgg("custom-vgg", [c, h, w], &config, classes).map_err(|e| bad(e.to_string()));
    }
    let Some(widths) = ck.metadata.get(WIDTHS) else {
        let name = ck.metadata.get("model").ok_or_else(|| bad("no 'model' or 'widths' in the metadata: not a pathprox model file".into()))?;
        return ModelSpec::by_name(name).map_err(|e| bad(e.to_string()));
    };
    let list = |key: &str| ck.metadata.get(key).map(|s| s.split(',').filter(|t| !t.is_empty()).map(str::to_string).collect::<Vec<_>>()).unwrap_or_default();
    let widths = widths.split(',').map(|t| t.parse::<usize>()).collect::<std::result::Result<Vec<_>, _>>().map_err(|e| bad(format!("bad 'widths' metadata: {e}")))?;
    let relu = list(RELU)
        .iter()
        .map(|t| match t.as_str() {
            "1" => Ok(true),
            "0" => Ok(false),
            _ => Err(bad(format!("bad 'relu' metadata entry '{t}' (expected 0 or 1)"))),
        })
        .collect::<Result<Vec<_>>>()?;
    let groups = list(GROUPS)
        .iter()
        .map(|t| {
            let (w, v) = t.split_once('-').ok_or_else(|| bad(format!("bad 'groups' metadata entry '{t}'")))?;
            Ok((w.parse().map_err(|_| bad(format!("bad 'groups' entry '{t}'")))?, v.parse().map_err(|_| bad(format!("bad 'groups' entry '{t}'")))?))
        })
        .collect::<Result<Vec<(usize, usize)>>>()?;
    ModelSpec::custom(widths, relu, groups).map_err(|e| bad(e.to_string()))
}

/// Loads a model file into a new MLP on the GPU (names and shapes checked).
pub fn load(gpu: &Gpu, path: &Path) -> Result<(Model, Checkpoint)> {
    let ck = Checkpoint::load(path)?;
    let what = path.display().to_string();
    let model = Model::new(gpu, spec_of(&ck, &what)?)?;
    load_into(gpu, &model, &ck, &what)?;
    Ok((model, ck))
}
