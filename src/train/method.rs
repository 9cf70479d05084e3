//! The training methods compared in the paper, as the parameter update each records after back-propagation
//! has written the mean-loss gradient into the model's gradient buffer (docs/algorithm.md, "Algorithm 1" and
//! "Baselines"). Plain SGD, momentum 0; γ = hyper\[0\], λ = hyper\[1\].

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Program, Tensor};
use crate::nn::{Model, ParamClass};
use crate::ops::optim::{self, Group};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// SGD on the weight-decay objective F(θ) = L + (λ/2)‖θ‖² (biases excluded).
    WeightDecay,
    /// Weight decay with weight normalisation (the paper's Table 2): SGD on F(θ), then each unit's w
    /// projected back to the unit sphere, its bias scaled by the same factor.
    WeightDecayNorm,
    /// Algorithm 1: SGD on L (+ (λ/2)‖θ_other‖²), then balancing (unless off), projection and prox.
    PathProx { balance: bool },
    /// SGD on L + λ·Σ_units ‖w‖‖v‖ (+ (λ/2)‖θ_other‖²).
    PathNormSgd,
    /// SGD on L + λ‖θ‖₁ over all weights.
    Lasso,
    /// SGD on L + λ·Σ_units (‖w‖ + ‖v‖).
    GroupLasso,
}

/// Every method, in the order the paper discusses them, with its name on the command line and in file
/// names, and the paper's name for it (legends, tables). The one table of method names.
const TABLE: [(Method, &str, &str); 7] = [
    (Method::WeightDecay, "wd", "weight decay"),
    (Method::WeightDecayNorm, "wd-wn", "weight decay + weight norm."),
    (Method::PathProx { balance: true }, "pathprox", "PathProx"),
    (Method::PathProx { balance: false }, "pathprox-nobalance", "PathProx, no balancing"),
    (Method::PathNormSgd, "pathnorm-sgd", "SGD on path-norm objective"),
    (Method::Lasso, "lasso", "lasso"),
    (Method::GroupLasso, "group-lasso", "group lasso"),
];

impl Method {
    /// The command-line names, in the paper's order.
    pub const NAMES: [&'static str; 7] = {
        let mut names = [""; 7];
        let mut i = 0;
        while i < TABLE.len() {
            names[i] = TABLE[i].1;
            i += 1;
        }
        names
    };

    pub fn parse(name: &str) -> Result<Method> {
        TABLE
            .iter()
            .find(|row| row.1 == name)
            .map(|row| row.0)
            .ok_or_else(|| Error::Other(format!("unknown method '{name}'; expected one of {}", Method::NAMES.join(", "))))
    }

    fn row(self) -> &'static (Method, &'static str, &'static str) {
        TABLE.iter().find(|row| row.0 == self).expect("every method is in TABLE")
    }

    /// The command-line and file name ("pathprox").
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// The paper's name ("PathProx, no balancing"), for legends and tables.
    pub fn paper_name(self) -> &'static str {
        self.row().2
    }

    /// Position in the paper's order (the order of [`Method::NAMES`]).
    pub fn rank(self) -> usize {
        TABLE.iter().position(|row| row.0 == self).expect("every method is in TABLE")
    }

    /// Whether the method needs the model's disjoint PathProx groups.
    pub fn needs_groups(self) -> bool {
        matches!(self, Method::PathProx { .. } | Method::PathNormSgd | Method::WeightDecayNorm)
    }
}

/// The groups of `pairs` ((w layer, v layer) indexes) as views of the model's parameters.
pub fn groups(model: &Model, pairs: &[(usize, usize)]) -> Result<Vec<Group>> {
    pairs
        .iter()
        .map(|&(w, v)| {
            let (lw, lv) = (&model.weights[w], &model.weights[v]);
            Group::new(&lw.w, &lw.b, &lv.w, &lv.b)
        })
        .collect()
}

/// Everything a method's update needs, built once.
pub struct Update {
    pub method: Method,
    pub groups: Vec<Group>,
    /// Scratch for layer-wise balancing (PathProx with balancing only).
    pub state: Option<Tensor>,
}

impl Update {
    pub fn new(gpu: &Gpu, model: &Model, method: Method) -> Result<Update> {
        if method.needs_groups() && model.spec.groups.is_empty() {
            return Err(Error::Other(format!("{} needs a model with PathProx groups (a factorized MLP or VGG19); {} has none", method.name(), model.spec.name)));
        }
        let pairs = if method.needs_groups() { &model.spec.groups } else { &model.spec.units };
        let groups = groups(model, pairs)?;
        let state = matches!(method, Method::PathProx { balance: true }).then(|| optim::balance_state(gpu, &groups));
        Ok(Update { method, groups, state })
    }

    /// Records the update: penalty sub-gradients into the gradients, the SGD step, then the method's
    /// extra steps. `hyper` = [γ, λ, ..].
    pub fn record(&self, gpu: &Gpu, prog: &mut Program, model: &Model, hyper: &Tensor) -> Result<()> {
        let store = &model.store;
        // Which weight classes the SGD step decays: weight decay on every weight for WD; on the weights
        // outside the groups for the path-norm methods; none for lasso and group lasso.
        let decay = |class: ParamClass| match self.method {
            Method::WeightDecay | Method::WeightDecayNorm => class != ParamClass::Bias,
            Method::PathProx { .. } | Method::PathNormSgd => class == ParamClass::OtherWeight,
            Method::Lasso | Method::GroupLasso => false,
        };
        match self.method {
            Method::PathNormSgd => {
                for (g, &(w, v)) in self.groups.iter().zip(&model.spec.groups) {
                    optim::path_norm_grad(gpu, prog, hyper, g, &model.weights[w].dw, &model.weights[v].dw)?;
                }
            }
            Method::GroupLasso => {
                for (g, &(w, v)) in self.groups.iter().zip(&model.spec.units) {
                    optim::group_lasso_grad(gpu, prog, hyper, g, &model.weights[w].dw, &model.weights[v].dw)?;
                }
            }
            Method::Lasso => {
                for class in [ParamClass::GroupedWeight, ParamClass::OtherWeight] {
                    if let Some((p, g)) = store.class(class) {
                        optim::lasso_grad(gpu, prog, hyper, &p, &g)?;
                    }
                }
            }
            Method::WeightDecay | Method::WeightDecayNorm | Method::PathProx { .. } => {}
        }
        for class in crate::nn::params::CLASSES {
            if let Some((p, g)) = store.class(class) {
                optim::sgd_update(gpu, prog, hyper, &g, &p, decay(class))?;
            }
        }
        match self.method {
            Method::PathProx { .. } => optim::pathprox_update(gpu, prog, hyper, &self.groups, self.state.as_ref())?,
            Method::WeightDecayNorm => {
                for g in &self.groups {
                    optim::project_w(gpu, prog, hyper, g)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn the_method_table_round_trips_and_is_in_the_papers_order() {
        let want = ["wd", "wd-wn", "pathprox", "pathprox-nobalance", "pathnorm-sgd", "lasso", "group-lasso"];
        assert_eq!(Method::NAMES, want);
        for (i, name) in want.iter().enumerate() {
            let m = Method::parse(name).unwrap();
            assert_eq!((m.name(), m.rank()), (*name, i));
        }
        assert_eq!(Method::parse("pathprox-nobalance").unwrap(), Method::PathProx { balance: false });
        assert_eq!(Method::PathProx { balance: false }.paper_name(), "PathProx, no balancing");
        let e = Method::parse("adam").unwrap_err().to_string();
        assert!(e.contains("unknown method 'adam'; expected one of wd, wd-wn, pathprox,"), "{e}");
    }
}
