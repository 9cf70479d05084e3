//! Every kernel against its CPU reference (in f64), on random inputs of awkward sizes, on every adapter
//! under test. Outputs are poisoned with NaN before each run, so an element a kernel skips fails.
//! One file per kernel family, named like its `src/ops/` file.

#[path = "../common/mod.rs"]
mod common;

mod conv2d;
mod elementwise;
mod gather;
mod gram;
mod matmul;
mod optim;
mod peak;
mod pool2d;
mod prune;
mod reduce;
mod softmax_xent;
