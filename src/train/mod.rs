//! Training: batch order, methods, metrics, checkpoints, run directories and the loop.

pub mod batches;
pub mod checkpoint;
pub mod config;
pub mod eval;
pub mod method;
pub mod prune;
#[cfg(not(target_arch = "wasm32"))]
pub mod rundir;
#[cfg(not(target_arch = "wasm32"))]
pub mod trainer;
