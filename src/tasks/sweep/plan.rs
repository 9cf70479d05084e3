//! A sweep as a list of independent runs, each with a stable index, so that any array-job engine (Slurm,
//! `xargs -P`, Kubernetes Indexed Jobs) can execute them: `pathprox sweep run DIR --index I`.
//!
//! The plan is a pure function of the sweep's `config.json`: the grid runs first, in the one-process
//! sweep's order (lr, then λ, then method), indexes `0 .. G`; then the re-runs, seed by seed and method by
//! method, indexes `G .. G + M·(seeds − 1)`. A re-run names only (method, seed): its point is the method's
//! best grid point, known once the grid has finished. `plan.json` holds the list for people and scripts;
//! the workers compute it again from the config, so the two can never disagree.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SweepConfig;
use super::super::task5::point_dir;
use crate::error::{Error, Result};
use crate::report::num;
use crate::files::write_atomically;

/// The two phases of the paper's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The search: every method at every grid point, at the sweep's first seed.
    Grid,
    /// A re-run of a method's best grid point with another seed.
    Seed,
}

impl Phase {
    /// As `SweepRecord::phase` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Grid => "grid",
            Phase::Seed => "seed",
        }
    }
}

/// One run of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    pub index: usize,
    pub phase: Phase,
    pub method: String,
    pub seed: u64,
    /// The grid point; `None` for a re-run (its point comes from the grid's results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
}

impl PlannedRun {
    /// The run directory (relative to the sweep directory) of a grid run.
    pub fn grid_dir(&self) -> Option<String> {
        Some(point_dir(self.lr?, self.lambda?))
    }
}

impl fmt::Display for PlannedRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.lr, self.lambda) {
            (Some(lr), Some(lambda)) => write!(f, "#{} {} lr {} λ {} seed {}", self.index, self.method, num(lr), num(lambda), self.seed),
            _ => write!(f, "#{} {} re-run seed {}", self.index, self.method, self.seed),
        }
    }
}

/// The runs of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub grid: usize,
    pub reruns: usize,
    pub runs: Vec<PlannedRun>,
}

impl Plan {
    pub fn of(sc: &SweepConfig) -> Plan {
        let methods = &sc.base.methods;
        let first = sc.base.seed;
        let mut runs = Vec::new();
        for &lr in &sc.lrs {
            for &lambda in &sc.lambdas {
                for m in methods {
                    runs.push(PlannedRun { index: runs.len(), phase: Phase::Grid, method: m.clone(), seed: first, lr: Some(lr), lambda: Some(lambda) });
                }
            }
        }
        let grid = runs.len();
        for seed in first + 1..first + sc.seeds {
            for m in methods {
                runs.push(PlannedRun { index: runs.len(), phase: Phase::Seed, method: m.clone(), seed, lr: None, lambda: None });
            }
        }
        Plan { grid, reruns: runs.len() - grid, runs }
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn get(&self, index: usize) -> Result<&PlannedRun> {
        self.runs.get(index).ok_or_else(|| Error::Other(format!("sweep: no run with index {index}; this sweep has indexes 0–{} ({} grid runs, then {} re-runs)", self.len().saturating_sub(1), self.grid, self.reruns)))
    }

    pub fn grid_runs(&self) -> &[PlannedRun] {
        &self.runs[..self.grid]
    }

    pub fn reruns(&self) -> &[PlannedRun] {
        &self.runs[self.grid..]
    }
}

/// A sweep directory: its config and its plan.
#[derive(Clone, Debug)]
pub struct SweepDir {
    pub path: PathBuf,
    pub config: SweepConfig,
    pub plan: Plan,
}

impl SweepDir {
    pub fn open(dir: &Path) -> Result<SweepDir> {
        let p = dir.join("config.json");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::Other(format!("{}: {e} (not a sweep directory? `pathprox sweep TASK --plan-only` writes one)", p.display())))?;
        let config: SweepConfig = serde_json::from_str(&text).map_err(|e| Error::Other(format!("{}: not a sweep directory: {e}", p.display())))?;
        if !config.sweep {
            return Err(Error::Other(format!("{}: not a sweep's config (no \"sweep\": true)", p.display())));
        }
        let plan = Plan::of(&config);
        Ok(SweepDir { path: dir.to_path_buf(), config, plan })
    }

    /// Writes `config.json` (the settings and `info`, what the data loader said) and `plan.json`.
    pub fn write(dir: &Path, config: &SweepConfig, info: &serde_json::Value) -> Result<SweepDir> {
        let json = |e: serde_json::Error| Error::Other(e.to_string());
        let mut v = serde_json::to_value(config).map_err(json)?;
        if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), info.clone()) {
            obj.extend(more);
        }
        write_atomically(&dir.join("config.json"), serde_json::to_string_pretty(&v).map_err(json)?.as_bytes())?;
        let plan = Plan::of(config);
        write_atomically(&dir.join("plan.json"), serde_json::to_string_pretty(&plan).map_err(json)?.as_bytes())?;
        Ok(SweepDir { path: dir.to_path_buf(), config: config.clone(), plan })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::sweep::SweepOverrides;

    #[test]
    fn grid_first_in_the_loop_s_order_then_reruns_seed_by_seed() {
        let o = SweepOverrides { lrs: Some(vec![0.1, 0.3]), lambdas: Some(vec![1e-4, 1e-3, 1e-2]), seeds: Some(3), ..Default::default() };
        let sc = SweepConfig::from_overrides("task1", &o).unwrap();
        let plan = Plan::of(&sc);
        assert_eq!((plan.grid, plan.reruns, plan.len()), (12, 4, 16));
        let r = &plan.runs[3];
        assert_eq!((r.lr, r.lambda, r.method.as_str(), r.seed), (Some(0.1), Some(1e-3), "pathprox", 0));
        assert_eq!(r.grid_dir().unwrap(), "lr0.1_lambda1e-3");
        let r = &plan.runs[15];
        assert_eq!((r.phase, r.method.as_str(), r.seed, r.lr), (Phase::Seed, "pathprox", 2, None));
        assert!(plan.runs.iter().enumerate().all(|(i, r)| r.index == i));
        assert!(plan.get(16).unwrap_err().to_string().contains("indexes 0–15"));
        let one = SweepConfig { seeds: 1, ..sc };
        assert_eq!(Plan::of(&one).reruns, 0);
    }
}
