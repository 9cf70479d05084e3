//! Training: batch order, methods, metrics, checkpoints, run directories and the loop; the 2-D toy job.

pub mod batches;
pub mod checkpoint;
pub mod config;
pub mod eval;
pub mod in_memory;
pub mod method;
pub mod presets;
pub mod prune;
#[cfg(not(target_arch = "wasm32"))]
pub mod rundir;
pub mod toy;
pub mod trainer;
