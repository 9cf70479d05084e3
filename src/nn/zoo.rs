//! The paper's networks (docs/algorithm.md "Models") as `ModelSpec`s, by name.

use super::spec::{Init, LayerSpec, ModelSpec};
use crate::error::{Error, Result};
use crate::nn::Pool2d;

pub const NAMES: [&str; 5] = ["mlp-6-400", "mlp-3-400-factorized", "mlp-3-800", "mlp-3-800-factorized", "vgg19"];
/// Model names `toy-<width>` ([`ModelSpec::by_name`]), for widths 1 to [`TOY_MAX_WIDTH`].
pub const TOY_PREFIX: &str = "toy-";
pub const TOY_MAX_WIDTH: usize = 4096;

/// 784 → width × hidden → 10 with the given ReLU flags and groups.
fn mnist_mlp(name: &'static str, width: usize, hidden: usize, relu: Vec<bool>, groups: Vec<(usize, usize)>) -> ModelSpec {
    let mut widths = vec![784];
    widths.extend(std::iter::repeat_n(width, hidden));
    widths.push(10);
    ModelSpec::mlp(name, widths, relu, groups).expect("a valid built-in model")
}

impl ModelSpec {
    /// 784→400×5→10, ReLU after each of the first five layers; groups (l1,l2), (l3,l4), (l5,l6).
    pub fn mlp_6_400() -> Self {
        mnist_mlp("mlp-6-400", 400, 5, vec![true, true, true, true, true, false], vec![(0, 1), (2, 3), (4, 5)])
    }

    /// The same six layers with ReLU only after l1, l3, l5 (l2 and l4 linear); the same groups.
    pub fn mlp_3_400_factorized() -> Self {
        mnist_mlp("mlp-3-400-factorized", 400, 5, vec![true, false, true, false, true, false], vec![(0, 1), (2, 3), (4, 5)])
    }

    /// 784→800→800→800→10, ReLU after each hidden layer (Task 5 baselines; no PathProx groups).
    pub fn mlp_3_800() -> Self {
        mnist_mlp("mlp-3-800", 800, 3, vec![true, true, true, false], vec![])
    }

    /// MLP-3-400 factorized with width 800 (Task 5, PathProx).
    pub fn mlp_3_800_factorized() -> Self {
        mnist_mlp("mlp-3-800-factorized", 800, 5, vec![true, false, true, false, true, false], vec![(0, 1), (2, 3), (4, 5)])
    }

    /// VGG19 for 3×32×32 images, without batch norm: 3×3 convs each followed by a ReLU, channels
    /// 64, 64, M, 128, 128, M, 256 ×4, M, 512 ×4, M, 512 ×4 (M = 2×2 max pool), then a 2×2 average pool,
    /// flatten and Linear(512, 10). Groups: conv pairs (1,2), (3,4), …, (15,16) — never across a pool —
    /// 2,752 units; the final Linear is in no group (plain weight decay). Kaiming-normal init, zero biases.
    pub fn vgg19() -> Self {
        ModelSpec::vgg("vgg19", [3, 32, 32], &[64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512], 10)
            .expect("a valid built-in model")
    }

    /// A VGG-style network: `config` lists conv output channels, 0 for a 2×2 max pool; then a 2×2
    /// average pool if the maps are still larger than 1×1, flatten and one Linear to `classes`. Groups
    /// pair consecutive convs, never across a pool (a conv left unpaired before a pool is in no group).
    pub fn vgg(name: &'static str, input: [usize; 3], config: &[usize], classes: usize) -> Result<Self> {
        let mut layers = Vec::new();
        let (mut groups, mut open, mut p, mut side) = (Vec::new(), None, 0, input[1].min(input[2]));
        for &c in config {
            if c == 0 {
                layers.push(LayerSpec::Pool(Pool2d::Max));
                open = None;
                side /= 2;
            } else {
                layers.push(LayerSpec::Conv3x3 { out: c, relu: true });
                match open.take() {
                    Some(w) => groups.push((w, p)),
                    None => open = Some(p),
                }
                p += 1;
            }
        }
        if side >= 2 {
            layers.push(LayerSpec::Pool(Pool2d::Avg));
        }
        layers.push(LayerSpec::Flatten);
        layers.push(LayerSpec::Dense { out: classes, relu: false });
        ModelSpec::new(name, input.to_vec(), layers, Init::KaimingNormal, groups)
    }

    /// This spec's VGG config: conv channels in order, 0 for each max pool (what `ModelSpec::vgg` takes), if the
    /// spec is VGG-shaped (convs and max pools, an optional final average pool, a flatten, one dense layer).
    pub fn vgg_config(&self) -> Option<Vec<usize>> {
        let mut config = Vec::new();
        let mut rest = self.layers.iter().peekable();
        while let Some(l) = rest.next_if(|l| matches!(l, LayerSpec::Conv3x3 { relu: true, .. } | LayerSpec::Pool(Pool2d::Max))) {
            config.push(match *l {
                LayerSpec::Conv3x3 { out, .. } => out,
                _ => 0,
            });
        }
        rest.next_if(|l| **l == LayerSpec::Pool(Pool2d::Avg));
        let tail: Vec<&LayerSpec> = rest.collect();
        matches!(tail[..], [LayerSpec::Flatten, LayerSpec::Dense { relu: false, .. }]).then_some(config)
    }

    /// The 2-D toy of Fig. 2: 2 → width (ReLU) → 2, the hidden units one PathProx group.
    pub fn toy(width: usize) -> Self {
        ModelSpec::mlp("toy", vec![2, width, 2], vec![true, false], vec![(0, 1)]).expect("a valid built-in model")
    }

    /// A built-in model by name: [`NAMES`], or `toy-<width>`.
    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "mlp-6-400" => Ok(ModelSpec::mlp_6_400()),
            "mlp-3-400-factorized" => Ok(ModelSpec::mlp_3_400_factorized()),
            "mlp-3-800" => Ok(ModelSpec::mlp_3_800()),
            "mlp-3-800-factorized" => Ok(ModelSpec::mlp_3_800_factorized()),
            "vgg19" => Ok(ModelSpec::vgg19()),
            _ if name.starts_with(TOY_PREFIX) => {
                let width = name[TOY_PREFIX.len()..].parse().ok().filter(|w| (1..=TOY_MAX_WIDTH).contains(w));
                width.map(ModelSpec::toy).ok_or_else(|| Error::Other(format!("model '{name}': toy-<width> needs a width of 1 to {}", TOY_MAX_WIDTH)))
            }
            _ => Err(Error::Other(format!("unknown model '{name}'; expected one of {}", NAMES.join(", ")))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::ParamClass;

    #[test]
    fn vgg19_is_algorithm_md_s() {
        let s = ModelSpec::vgg19();
        assert_eq!(s.depth(), 17);
        assert_eq!(s.groups, (0..8).map(|k| (2 * k, 2 * k + 1)).collect::<Vec<_>>());
        let widths = s.widths();
        let units: usize = s.groups.iter().map(|&(w, _)| widths[w + 1]).sum();
        assert_eq!(units, 2752);
        assert_eq!(s.shapes().unwrap().last().unwrap(), &vec![10]);
        let names = s.param_names();
        assert_eq!(names[..3], ["features.0", "features.2", "features.5"]);
        assert_eq!(names[15..], ["features.34", "classifier"]);
        let e = s.param_entries();
        assert_eq!(e[32], ("classifier.weight".to_string(), vec![10, 512], ParamClass::OtherWeight));
        assert_eq!(e[0].2, ParamClass::GroupedWeight);
        // torchvision's VGG19 `features` (no batch norm) hold 20,024,384 parameters; + Linear(512, 10).
        assert_eq!(e.iter().map(|(_, s, _)| s.iter().product::<usize>()).sum::<usize>(), 20_024_384 + 5_130);
    }

    #[test]
    fn bad_specs_are_refused() {
        use LayerSpec::*;
        let conv = |out| Conv3x3 { out, relu: true };
        let dense = Dense { out: 3, relu: false };
        assert!(ModelSpec::new("t", vec![2, 4, 4], vec![conv(4), dense], Init::KaimingNormal, vec![]).is_err(), "dense on a 3-D input");
        assert!(ModelSpec::new("t", vec![2, 1, 1], vec![Pool(Pool2d::Max), Flatten, dense], Init::KaimingNormal, vec![]).is_err(), "pool of 1×1");
        let pooled = vec![conv(4), Pool(Pool2d::Max), conv(4), Flatten, dense];
        assert!(ModelSpec::new("t", vec![2, 4, 4], pooled.clone(), Init::KaimingNormal, vec![(0, 1)]).is_err(), "group across a pool");
        assert!(ModelSpec::new("t", vec![2, 4, 4], pooled, Init::KaimingNormal, vec![(1, 2)]).is_err(), "group across a flatten");
        assert!(ModelSpec::new("t", vec![2, 4, 4], vec![conv(4), Flatten, Dense { out: 3, relu: true }], Init::KaimingNormal, vec![]).is_err(), "ReLU on the logits");
        assert!(ModelSpec::by_name("vgg16").is_err());
    }
}
