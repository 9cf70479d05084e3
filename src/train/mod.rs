//! Training: batch order, checkpoints, and (to come) the loop that runs a method on a model.

pub mod batches;
pub mod checkpoint;
pub mod method;
