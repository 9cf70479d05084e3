//! Task 5's structural sparsity at the model level (docs/algorithm.md, table row 5): the per-iteration pruning
//! of units whose w or v is zero ([`Pruner`], recorded into the training step), the unit scores ‖w‖·‖v‖
//! ([`unit_scores`]), and which units a sparsity level removes ([`select`]).
//!
//! The units are the model's `spec.units`: for the factorized MLPs its PathProx groups, for MLP-3-800
//! every hidden neuron (w = its row in the layer that produces it, v = its column in the next layer). In
//! the latter, consecutive layers of units share a weight matrix; each layer of units has its own flags
//! and dispatches, so the sharing needs no care here (see `ops::prune`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Program, Tensor};
use crate::nn::Model;
use crate::ops::optim::Group;
use crate::ops::{optim, prune};

/// Persistent alive flags for every unit of a model, and the dispatches that keep pruned units at zero.
pub struct Pruner {
    /// One group per layer of units (`spec.units` order).
    pub groups: Vec<Group>,
    /// \[units\] u32 per group: 1 alive, 0 pruned.
    pub alive: Vec<Tensor>,
}

impl Pruner {
    /// Every unit alive.
    pub fn new(gpu: &Gpu, model: &Model) -> Result<Pruner> {
        let groups = super::method::groups(model, &model.spec.units)?;
        let alive = groups.iter().map(|g| gpu.upload_u32(&[g.units], &vec![1; g.units])).collect::<Result<Vec<_>>>()?;
        Ok(Pruner { groups, alive })
    }

    /// Units per layer of units.
    pub fn units(&self) -> Vec<usize> {
        self.groups.iter().map(|g| g.units).collect()
    }

    /// Records one pruning pass: first every layer's flags (each decided on the parameters the update
    /// left), then the zeroing of every pruned unit (2 dispatches per layer of units). Recorded after each
    /// update, it is "prune units whose w or v is zero every iteration"; with flags written by
    /// [`Pruner::set_alive`], it holds those units dead.
    pub fn record(&self, gpu: &Gpu, prog: &mut Program) -> Result<()> {
        let mut local = Program::new();
        for (g, a) in self.groups.iter().zip(&self.alive) {
            prune::prune_mask(gpu, &mut local, g, a)?;
        }
        for (g, a) in self.groups.iter().zip(&self.alive) {
            prune::prune_apply(gpu, &mut local, g, a)?;
        }
        prog.append(local);
        Ok(())
    }

    /// Runs one pruning pass now (e.g. right after [`Pruner::set_alive`], before any training step).
    pub fn run_once(&self, gpu: &Gpu) -> Result<()> {
        let mut prog = Program::new();
        self.record(gpu, &mut prog)?;
        gpu.run(&prog);
        Ok(())
    }

    /// Overwrites every flag: `alive[l][i]` for unit i of layer l.
    pub fn set_alive(&self, gpu: &Gpu, alive: &[Vec<bool>]) -> Result<()> {
        if alive.len() != self.groups.len() || alive.iter().zip(&self.groups).any(|(a, g)| a.len() != g.units) {
            let got: Vec<usize> = alive.iter().map(Vec::len).collect();
            return Err(Error::shape("Pruner::set_alive", format!("flags for {got:?} units, the model has {:?}", self.units())));
        }
        for (t, a) in self.alive.iter().zip(alive) {
            gpu.write_u32(t, &a.iter().map(|&x| x as u32).collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// The flags (one read-back per layer of units).
    pub async fn read_alive(&self, gpu: &Gpu) -> Result<Vec<Vec<bool>>> {
        let mut out = Vec::with_capacity(self.alive.len());
        for t in &self.alive {
            out.push(gpu.read_u32(t).await?.into_iter().map(|x| x != 0).collect());
        }
        Ok(out)
    }
}

/// ‖w_i‖·‖v_i‖ of every unit, per layer of units (`spec.units` order): the norms balancing uses
/// (`optim::unit_norms`, pairs (‖w_i‖, ‖v_i‖) packed layer after layer), one read-back.
pub async fn unit_scores(gpu: &Gpu, model: &Model) -> Result<Vec<Vec<f64>>> {
    let groups = super::method::groups(model, &model.spec.units)?;
    let units: usize = groups.iter().map(|g| g.units).sum();
    let norms = gpu.zeros(&[2 * units.max(1)]);
    let mut prog = Program::new();
    let mut base = 0;
    for g in &groups {
        optim::unit_norms(gpu, &mut prog, g, &norms, base)?;
        base += 2 * g.units;
    }
    gpu.run(&prog);
    let host = gpu.read_f32(&norms).await?;
    let mut pairs = host.chunks_exact(2).map(|p| p[0] as f64 * p[1] as f64);
    Ok(groups.iter().map(|g| pairs.by_ref().take(g.units).collect()).collect())
}

/// Where a sparsity level's cut is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The same fraction of each layer of units: each layer's own lowest scores go.
    PerLayer,
    /// One threshold over all units pooled. Scores of different layers are not on one scale (MLP-3-800
    /// has no balancing), so this can empty a whole layer, which cuts the network.
    Global,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::PerLayer => "per-layer",
            Scope::Global => "global",
        }
    }
}

/// The units a sparsity level keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// Per layer of units, per unit: whether it stays.
    pub alive: Vec<Vec<bool>>,
    /// Per layer: the largest score removed (`None`: nothing removed there).
    pub thresholds: Vec<Option<f64>>,
}

impl Selection {
    pub fn removed(&self) -> Vec<usize> {
        self.alive.iter().map(|l| l.iter().filter(|a| !**a).count()).collect()
    }

    /// Percent of all units removed.
    pub fn sparsity(&self) -> f64 {
        let total: usize = self.alive.iter().map(Vec::len).sum();
        100.0 * self.removed().iter().sum::<usize>() as f64 / total.max(1) as f64
    }

    /// The largest score removed anywhere (the global cut, for [`Scope::Global`]).
    pub fn threshold(&self) -> Option<f64> {
        self.thresholds.iter().flatten().copied().reduce(f64::max)
    }
}

/// Removes `fraction` (0–1) of the units, those with the lowest scores: with [`Scope::PerLayer`]
/// round(fraction·n_l) of each layer's n_l units, with [`Scope::Global`] round(fraction·N) of all N pooled.
/// Units with score 0 (already dead) are removed in any case and count toward the fraction, so a layer
/// whose dead units exceed the fraction keeps all its live ones. Ties go by (layer, index), so the result
/// is a function of the scores alone.
pub fn select(scores: &[Vec<f64>], fraction: f64, scope: Scope) -> Selection {
    let fraction = fraction.clamp(0.0, 1.0);
    let mut alive: Vec<Vec<bool>> = scores.iter().map(|l| l.iter().map(|&s| s != 0.0).collect()).collect();
    let order = |ids: &mut Vec<(usize, usize)>| ids.sort_by(|&(l, i), &(m, j)| scores[l][i].total_cmp(&scores[m][j]).then((l, i).cmp(&(m, j))));
    let mut cut = |ids: &[(usize, usize)], k: usize| {
        for &(l, i) in &ids[..k.min(ids.len())] {
            alive[l][i] = false;
        }
    };
    match scope {
        Scope::PerLayer => {
            for (l, layer) in scores.iter().enumerate() {
                let mut ids: Vec<(usize, usize)> = (0..layer.len()).map(|i| (l, i)).collect();
                order(&mut ids);
                cut(&ids, (fraction * layer.len() as f64).round() as usize);
            }
        }
        Scope::Global => {
            let mut ids: Vec<(usize, usize)> = scores.iter().enumerate().flat_map(|(l, s)| (0..s.len()).map(move |i| (l, i))).collect();
            order(&mut ids);
            cut(&ids, (fraction * ids.len() as f64).round() as usize);
        }
    }
    let thresholds = scores
        .iter()
        .zip(&alive)
        .map(|(s, a)| s.iter().zip(a).filter(|(_, a)| !**a).map(|(s, _)| *s).reduce(f64::max))
        .collect();
    Selection { alive, thresholds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_layer_and_global_cuts() {
        let scores = vec![vec![0.5, 0.0, 0.2, 0.9], vec![5.0, 1.0, 3.0, 4.0]];
        let s = select(&scores, 0.5, Scope::PerLayer);
        assert_eq!(s.alive, vec![vec![true, false, false, true], vec![true, false, false, true]]);
        assert_eq!(s.thresholds, vec![Some(0.2), Some(3.0)]);
        assert_eq!(s.sparsity(), 50.0);
        // Global: the four lowest of all eight are all in layer 0.
        let g = select(&scores, 0.5, Scope::Global);
        assert_eq!(g.alive, vec![vec![false; 4], vec![true; 4]]);
        assert_eq!(g.threshold(), Some(0.9));
        // The dead unit (score 0) goes at 0 % and counts toward 25 %.
        assert_eq!(select(&scores, 0.0, Scope::PerLayer).removed(), vec![1, 0]);
        assert_eq!(select(&scores, 0.25, Scope::PerLayer).removed(), vec![1, 1]);
        assert_eq!(select(&scores, 1.0, Scope::Global).sparsity(), 100.0);
        // Ties by index.
        assert_eq!(select(&[vec![1.0, 1.0, 1.0]], 1.0 / 3.0, Scope::PerLayer).alive, vec![vec![false, true, true]]);
    }
}
