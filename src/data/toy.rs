//! The 2-D two-class toy sets of the paper's Fig. 2 and of the browser demo: seeded point clouds in the
//! square [−EXTENT, EXTENT]², some points labelled as outliers (placed among the other class).
//!
//! - `outliers` (the paper-like set): two Gaussian clouds, class 0 around (−1, 0) and class 1 around
//!   (1, 0), with standard deviation `noise`; then `outliers` extra points, alternately of class 1 drawn
//!   from class 0's cloud and of class 0 drawn from class 1's.
//! - `moons`: scikit-learn's two interleaving half circles, centred and scaled by 1.6, with Gaussian
//!   jitter of `noise`; `outliers` points have their label flipped.
//! - `xor`: points uniform in [−2.5, 2.5]², class 1 where x·y > 0, jittered by `noise` after labelling;
//!   `outliers` points have their label flipped.
//!
//! A pure function of its settings (ChaCha8, rand_distr), so the native run and the browser see the same
//! points.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Half the side of the square the figures show, in data coordinates.
pub const EXTENT: f32 = 3.0;

pub const KINDS: [&str; 3] = ["outliers", "moons", "xor"];

/// What to generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToyData {
    /// One of [`KINDS`].
    pub dataset: String,
    /// Points before the outliers.
    pub points: usize,
    pub outliers: usize,
    /// Standard deviation of the clouds (`outliers`) or of the jitter.
    pub noise: f32,
    pub seed: u64,
}

impl Default for ToyData {
    fn default() -> Self {
        ToyData { dataset: "outliers".into(), points: 200, outliers: 8, noise: 0.5, seed: 1 }
    }
}

/// The points: `xy` holds (x, y) per point, `labels` 0 or 1, `outlier` marks the points placed among
/// the other class or whose label was flipped.
#[derive(Clone, Debug, PartialEq)]
pub struct ToySet {
    pub xy: Vec<f32>,
    pub labels: Vec<u32>,
    pub outlier: Vec<bool>,
}

impl ToySet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Adds one point (the browser's click).
    pub fn push(&mut self, x: f32, y: f32, label: u32, outlier: bool) {
        self.xy.extend([x, y]);
        self.labels.push(label);
        self.outlier.push(outlier);
    }
}

impl ToyData {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Other(format!("toy data: {m}")));
        if !KINDS.contains(&self.dataset.as_str()) {
            return bad(format!("unknown data set '{}'; expected one of {}", self.dataset, KINDS.join(", ")));
        }
        if !(2..=100_000).contains(&self.points) {
            return bad(format!("points must be 2 to 100000, got {}", self.points));
        }
        if self.outliers > self.points {
            return bad(format!("{} outliers for {} points: at most one per point", self.outliers, self.points));
        }
        if !(self.noise.is_finite() && (0.0..=2.0).contains(&self.noise)) {
            return bad(format!("noise must be between 0 and 2, got {}", self.noise));
        }
        Ok(())
    }

    pub fn generate(&self) -> Result<ToySet> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let jitter = Normal::new(0.0f32, self.noise).map_err(|e| Error::Other(format!("toy data: {e}")))?;
        let mut set = ToySet { xy: Vec::new(), labels: Vec::new(), outlier: Vec::new() };
        let n = self.points;
        match self.dataset.as_str() {
            "outliers" => {
                let centre = |label: u32| if label == 0 { -1.0 } else { 1.0 };
                for i in 0..n {
                    let label = (i % 2) as u32;
                    set.push(centre(label) + jitter.sample(&mut rng), jitter.sample(&mut rng), label, false);
                }
                for k in 0..self.outliers {
                    let label = ((k + 1) % 2) as u32; // placed in the other class's cloud
                    set.push(centre(1 - label) + jitter.sample(&mut rng), jitter.sample(&mut rng), label, true);
                }
            }
            "moons" => {
                for i in 0..n {
                    let label = (i % 2) as u32;
                    let t = std::f32::consts::PI * rng.random::<f32>();
                    let (x, y) = if label == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
                    set.push(1.6 * (x - 0.5) + jitter.sample(&mut rng), 1.6 * (y - 0.25) + jitter.sample(&mut rng), label, false);
                }
                flip_some(&mut set, self.outliers, &mut rng);
            }
            "xor" => {
                for _ in 0..n {
                    let (x, y) = (rng.random_range(-2.5f32..2.5), rng.random_range(-2.5f32..2.5));
                    let label = (x * y > 0.0) as u32;
                    set.push(x + jitter.sample(&mut rng), y + jitter.sample(&mut rng), label, false);
                }
                flip_some(&mut set, self.outliers, &mut rng);
            }
            _ => unreachable!("validated"),
        }
        // Keep every point inside the square the figures show.
        for v in &mut set.xy {
            *v = v.clamp(-0.98 * EXTENT, 0.98 * EXTENT);
        }
        Ok(set)
    }
}

/// Flips the labels of `count` distinct points, chosen at random, and marks them.
fn flip_some(set: &mut ToySet, count: usize, rng: &mut ChaCha8Rng) {
    let chosen = rand::seq::index::sample(rng, set.len(), count);
    for i in chosen.iter() {
        set.labels[i] = 1 - set.labels[i];
        set.outlier[i] = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_set_is_seeded_balanced_inside_the_view_and_marks_its_outliers() {
        for kind in KINDS {
            let d = ToyData { dataset: kind.into(), ..Default::default() };
            let a = d.generate().unwrap();
            assert_eq!(a, d.generate().unwrap(), "{kind}: same seed, same points");
            assert_ne!(a, ToyData { seed: 2, ..d.clone() }.generate().unwrap(), "{kind}: another seed, other points");
            let n = if kind == "outliers" { d.points + d.outliers } else { d.points };
            assert_eq!((a.len(), a.xy.len()), (n, 2 * n));
            assert_eq!(a.outlier.iter().filter(|&&o| o).count(), d.outliers, "{kind}");
            let ones = a.labels.iter().filter(|&&l| l == 1).count();
            assert!(ones > n / 3 && ones < 2 * n / 3, "{kind}: {ones} of {n} in class 1");
            assert!(a.xy.iter().all(|v| v.abs() < EXTENT));
        }
        // The paper-like set's outliers sit in the other class's cloud.
        let a = ToyData::default().generate().unwrap();
        for i in (0..a.len()).filter(|&i| a.outlier[i]) {
            let other_centre = if a.labels[i] == 0 { 1.0 } else { -1.0 };
            assert!((a.xy[2 * i] - other_centre).abs() < 2.5, "outlier {i} at {}", a.xy[2 * i]);
        }
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let e = |d: ToyData| d.generate().unwrap_err().to_string();
        assert!(e(ToyData { dataset: "spiral".into(), ..Default::default() }).contains("unknown data set 'spiral'"));
        assert!(e(ToyData { points: 1, ..Default::default() }).contains("points"));
        assert!(e(ToyData { outliers: 500, ..Default::default() }).contains("outliers"));
        assert!(e(ToyData { noise: f32::NAN, ..Default::default() }).contains("noise"));
    }
}
