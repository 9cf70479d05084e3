//! A training run's settings: what `config.json` in the run directory records, and what `--resume` reads.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub task: String,
    /// `ModelSpec` name.
    pub model: String,
    /// Method names (`Method::parse`), run one after the other from the same initialisation.
    pub methods: Vec<String>,
    pub lr: f64,
    pub lambda: f64,
    pub batch: usize,
    pub iters: u64,
    /// Initialisation and batch order (the same for every method, so they start from the same network).
    pub seed: u64,
    /// Iterations between log points (metrics over the whole train/validation/test sets).
    pub log_every: u64,
    /// Log points between checkpoints (a checkpoint is also written at the end and on Ctrl-C).
    pub checkpoint_every: u64,
    /// Step schedule: the learning rate is multiplied by `lr_gamma` at each of these iterations.
    #[serde(default)]
    pub lr_milestones: Vec<u64>,
    #[serde(default = "one")]
    pub lr_gamma: f64,
    /// "mnist" or "fashion-mnist".
    pub dataset: String,
    pub data_dir: Option<String>,
    /// Rows per forward pass when evaluating.
    pub eval_batch: usize,
    /// After every update, prune the units whose w or v is all zero and keep them dead (Task 5).
    #[serde(default)]
    pub prune: bool,
    /// Use at most this many rows of each of the training, validation and test sets (quick runs, tests).
    #[serde(default)]
    pub max_rows: Option<usize>,
    /// `dataset` "toy": the 2-D points to generate (the paper's Fig. 2; `train::toy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toy: Option<crate::data::toy::ToyData>,
}

fn one() -> f64 {
    1.0
}

impl TrainConfig {
    /// Settings for a network and data of the caller's own (`MethodRun::with_spec`,
    /// `GpuData::from_examples`): these rates, batch and length; seed 0; one log point, at the end; no
    /// schedule, no pruning. `task`, `model` and `dataset` read "custom" (they are only recorded), and
    /// `methods` names the paper's comparison, weight decay and PathProx (`MethodRun` takes its method as
    /// an argument).
    pub fn custom(lr: f64, lambda: f64, batch: usize, iters: u64) -> TrainConfig {
        TrainConfig {
            task: "custom".into(),
            model: "custom".into(),
            methods: vec!["wd".into(), "pathprox".into()],
            lr,
            lambda,
            batch,
            iters,
            seed: 0,
            log_every: iters.max(1),
            checkpoint_every: 1,
            lr_milestones: vec![],
            lr_gamma: 1.0,
            dataset: "custom".into(),
            data_dir: None,
            eval_batch: 1000,
            prune: false,
            max_rows: None,
            toy: None,
        }
    }

    /// γ at iteration `step` (0-based: the step that takes the model from `step` to `step + 1`).
    pub fn lr_at(&self, step: u64) -> f64 {
        let passed = self.lr_milestones.iter().filter(|&&m| step >= m).count();
        self.lr * self.lr_gamma.powi(passed as i32)
    }

    /// The next iteration after `step` at which something changes: a log point, a milestone or the end.
    pub fn next_stop(&self, step: u64) -> u64 {
        let log = (step / self.log_every + 1) * self.log_every;
        let milestone = self.lr_milestones.iter().copied().filter(|&m| m > step).min().unwrap_or(u64::MAX);
        log.min(milestone).min(self.iters)
    }

    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Error::Other(format!("invalid settings: {m}")));
        if self.batch == 0 || self.eval_batch == 0 {
            return bad("--batch must be at least 1".into());
        }
        if self.log_every == 0 || self.checkpoint_every == 0 {
            return bad("--log-every and --checkpoint-every must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("--lr must be a positive number, got {}", self.lr));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return bad(format!("--lambda must be ≥ 0, got {}", self.lambda));
        }
        if self.max_rows == Some(0) {
            return bad("--max-rows must be at least 1".into());
        }
        if self.methods.is_empty() {
            return bad("no methods to run".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TrainConfig {
        TrainConfig { lr: 0.1, iters: 2500, lr_milestones: vec![1500], lr_gamma: 0.1, ..crate::train::presets::preset("task1").unwrap() }
    }

    #[test]
    fn schedule_and_stops() {
        let c = cfg();
        assert_eq!(c.lr_at(0), 0.1);
        assert_eq!(c.lr_at(1499), 0.1);
        assert!((c.lr_at(1500) - 0.01).abs() < 1e-9);
        assert_eq!(c.next_stop(0), 1000);
        assert_eq!(c.next_stop(1000), 1500);
        assert_eq!(c.next_stop(1500), 2000);
        assert_eq!(c.next_stop(2000), 2500);
        assert_eq!(c.next_stop(1234), 1500);
        assert!(TrainConfig { lr: f64::NAN, ..c.clone() }.validate().is_err());
        assert!(TrainConfig { batch: 0, ..c }.validate().is_err());
    }
}
