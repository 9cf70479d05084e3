//! Looking at trained models: local Lipschitz constants (GPU Jacobians, host eigen-solves), compact export
//! of sparse networks, and reading a model file back into an MLP.

pub mod compact;
pub mod compact_conv;
pub mod eigen;
pub mod jacobian;
pub mod model_file;
