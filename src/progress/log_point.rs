//! The numbers of one log point: what the trainer measures at each, writes as one line of
//! `<method>.jsonl` (train::rundir), shows on the progress bar and hands to the browser. Reading logs
//! back, whatever wrote them, is report's (`report::LogLine`).

use serde::{Deserialize, Serialize};

/// One line of `<method>.jsonl` (fractions for accuracies, percent for active units).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogPoint {
    pub iter: u64,
    pub train_ce: f64,
    /// The weight-decay objective in its path-norm form (docs/algorithm.md, what to log for every method).
    pub objective: f64,
    /// The raw F(θ) = train CE + (λ/2)‖θ‖².
    pub objective_l2: f64,
    pub path_norm: f64,
    pub active_units: f64,
    pub train_acc: f64,
    pub val_ce: f64,
    pub val_acc: f64,
    pub test_ce: f64,
    pub test_acc: f64,
    pub lr: f64,
    /// Training steps per second since the previous log point (evaluation excluded).
    pub steps_per_s: f64,
    /// Seconds since this method started (resumed runs continue the count).
    pub wall_s: f64,
}
